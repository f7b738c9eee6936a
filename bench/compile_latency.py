"""Compile latency per example (issue 16): the JIT's cold compile (empty
cache) and cached load (a hit), for the cpu target and for cuda:sm_90a, and
where a cold compile's time goes. Writes a JSON file and prints a table.

    PYTHONPATH=build/python build/pyenv/bin/python bench/compile_latency.py \
        [--out bench/results/compile-<date>.json] [examples/*.attn]

Without a GPU the cuda kernels load on the runtime's stub driver
(ATTN_CUDA_DRIVER=build/test/unit/libattn_fake_cuda.so): the time is then
attnc's alone; the real driver's PTX-to-SASS step (cached by the driver
after its first run) comes on top on a GPU machine.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(f):
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def phases(attnc, path, target, emit):
    """attnc's own breakdown (--mlir-timing covers the pass pipeline; the
    code generator's phases are timed around it)."""
    out = tempfile.mktemp()
    r = subprocess.run([attnc, path, "--target=" + target, "--emit=" + emit,
                        "-o", out, "--mlir-timing"], capture_output=True,
                       text=True)
    total = re.search(r"Total Execution Time: ([0-9.]+)", r.stderr)
    for f in (out, out.replace(".so", ".attn.json")):
        if os.path.isdir(f):
            import shutil
            shutil.rmtree(f, ignore_errors=True)
        elif os.path.exists(f):
            os.remove(f)
    return float(total.group(1)) if total else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*")
    ap.add_argument("--out")
    ap.add_argument("--attnc", default=os.path.join(ROOT, "build", "tools", "attnc", "attnc"))
    args = ap.parse_args()
    files = args.files or sorted(glob.glob(os.path.join(ROOT, "examples", "*.attn")))
    fake = os.path.join(ROOT, "build", "test", "unit", "libattn_fake_cuda.so")
    gpu = subprocess.run(["nvidia-smi"], capture_output=True).returncode == 0 \
        if os.path.exists("/usr/bin/nvidia-smi") else False
    if not gpu and os.path.exists(fake):
        os.environ["ATTN_CUDA_DRIVER"] = fake
    import attnc
    rows = []
    for path in files:
        name = os.path.basename(path)[:-5]
        text = open(path).read()
        kernels = re.findall(r"^kernel\s+(\w+)", text, re.M)
        for kernel in kernels:
            row = {"example": name, "kernel": kernel}
            for target in ("cpu", "cuda:sm_90a"):
                cache = tempfile.mkdtemp(prefix="attnc-latency-")
                try:
                    cold = timed(lambda: attnc.compile(path, target=target, kernel=kernel,
                                                       cache_dir=cache))
                    hit = timed(lambda: attnc.compile(path, target=target, kernel=kernel,
                                                      cache_dir=cache))
                    row[target] = {"cold_s": round(cold, 3), "cached_s": round(hit, 4)}
                except attnc.Error as e:
                    row[target] = {"error": str(e).splitlines()[0][:200]}
                subprocess.run(["rm", "-rf", cache])
            row["passes_s"] = phases(args.attnc, path, "cpu", "mlir") if len(kernels) == 1 else None
            rows.append(row)
            c, g = row["cpu"], row["cuda:sm_90a"]
            print("%-22s %-16s cpu cold %6s s  cached %7s s   cuda cold %6s s  cached %7s s" % (
                name, kernel, c.get("cold_s", "err"), c.get("cached_s", "err"),
                g.get("cold_s", "err"), g.get("cached_s", "err")), flush=True)
    result = {"when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": "%s, %d cores" % (platform.processor() or platform.machine(), os.cpu_count()),
              "cuda_driver": "GPU" if gpu else "stub (no GPU: attnc's time only)",
              "rows": rows}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
        print("wrote " + args.out)


if __name__ == "__main__":
    main()
