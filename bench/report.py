"""Merges attn-bench-cpu's JSON with the PyTorch SDPA timings, prints the
table and writes bench/results/cpu-<date>.json with the machine, commit and
date. Standard library only (runs on the system python3).

    report.py ATTNC.json TORCH.json|- RESULTS_DIR [--torch-note TEXT]
              [--path-file FILE]   (FILE receives the JSON's path)
"""
import argparse
import datetime
import json
import os
import subprocess
import sys


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine():
    info = {"lscpu_model": "", "cores": os.cpu_count(),
            "loadavg": list(os.getloadavg())}
    for line in sh("lscpu").splitlines():
        key, _, value = line.partition(":")
        value = value.strip()
        if key == "Model name":
            info["lscpu_model"] = value
        elif key == "CPU(s)":
            info["cpus"] = int(value)
        elif key == "Core(s) per socket":
            info["cores_per_socket"] = int(value)
        elif key == "Socket(s)":
            info["sockets"] = int(value)
        elif key == "Flags":
            info["avx512f"] = "avx512f" in value.split()
    if "cores_per_socket" in info and "sockets" in info:
        info["cores"] = info["cores_per_socket"] * info["sockets"]
    return info


def git_info(root):
    commit = sh("git", "-C", root, "rev-parse", "HEAD")
    dirty = bool(sh("git", "-C", root, "status", "--porcelain",
                    "--untracked-files=no"))
    return {"commit": commit, "dirty": dirty}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("attnc")
    ap.add_argument("torch")
    ap.add_argument("results_dir")
    ap.add_argument("--torch-note", default="")
    ap.add_argument("--path-file", default="")
    args = ap.parse_args()

    with open(args.attnc) as f:
        attnc = json.load(f)
    torch = None
    if args.torch != "-" and os.path.exists(args.torch):
        with open(args.torch) as f:
            torch = json.load(f)
    torch_note = args.torch_note or ("" if torch else "not run")

    sgemm = {s["threads"]: s["gflops"] for s in attnc["sgemm"]}
    torch_times = {}
    torch_err = {}
    if torch:
        for c in torch["cases"]:
            torch_err[c["variant"]] = c["err_vs_f64"]
            for t in c["threads"]:
                torch_times[(c["variant"], t["threads"])] = t["time"]

    rows = []
    head = (f"{'variant':15s} {'shape':27s} {'thr':>3s}  {'impl':13s} "
            f"{'median ms':>10s} {'min ms':>8s} {'GFLOP/s':>8s} {'of sgemm':>8s} "
            f"{'attnc/impl':>10s}")
    rows.append(head)
    rows.append("-" * len(head))
    medians = {}
    for c in attnc["cases"]:
        flops = c["useful_flops"]
        for t in c["threads"]:
            n = t["threads"]
            impls = [("attnc", t["attnc"]), ("blas-unfused", t["baseline"])]
            # A bf16 case: OpenBLAS has no bf16 attention peer; the f32
            # baseline only checked attnc (untimed).
            notes = {"blas-unfused": "f32 only: checks, untimed",
                     "torch-sdpa": torch_note}
            if (c["variant"], n) in torch_times:
                impls.append(("torch-sdpa", torch_times[(c["variant"], n)]))
            else:
                impls.append(("torch-sdpa", None))
            mine = impls[0][1]["median_s"]
            for i, (name, timing) in enumerate(impls):
                sec = timing["median_s"] if timing else None
                medians[(c["variant"], n, name)] = sec
                lead = (f"{c['variant']:15s} {c['shape_text']:27s} {n:3d}"
                        if i == 0 else " " * 47)
                if sec is None:
                    rows.append(f"{lead}  {name:13s} n/a ({notes[name]})")
                    continue
                gf = flops / sec / 1e9
                ratio = "" if i == 0 else f"{mine / sec:9.2f}x"
                rows.append(f"{lead}  {name:13s} {sec * 1e3:10.2f} "
                            f"{timing['min_s'] * 1e3:8.2f} {gf:8.2f} "
                            f"{100 * gf / sgemm[n]:7.1f}% {ratio:>10s}")
    print("\n".join(rows))

    print("\nmachine ceiling: sgemm " + ", ".join(
        f"{s['threads']} thread{'s' if s['threads'] > 1 else ''}: "
        f"{s['gflops']:.1f} GFLOP/s (n={s['n']})" for s in attnc["sgemm"]))

    print("\ncausal / full time (ideal ~0.5: causal does half the work):")
    summary = {}
    for suffix in ("", "-4k"):
        for n in sorted(sgemm):
            parts = []
            for name in ("attnc", "blas-unfused", "torch-sdpa"):
                full = medians.get(("mha" + suffix, n, name))
                causal = medians.get(("causal" + suffix, n, name))
                if full and causal:
                    summary[f"{name}{suffix}@{n}"] = causal / full
                    parts.append(f"{name} {causal / full:.2f}")
            if parts:
                print(f"  {'causal' + suffix:9s} / {'mha' + suffix:6s} "
                      f"{n} thread{'s' if n > 1 else ' '}: " + ", ".join(parts))

    print("\ncorrectness (max |x - ref| / max |ref|):")
    for c in attnc["cases"]:
        full = max(t["err_vs_baseline"] for t in c["threads"])
        bound = c.get("tolerance", 1e-3)
        line = (f"  {c['variant']:15s} attnc vs blas-unfused {full:.1e} "
                f"(full shape, bound {bound:.0e}); small shape vs float64 "
                f"interpreter: attnc {c['ref_err_attnc']:.1e}, blas "
                f"{c['ref_err_baseline']:.1e}")
        if c["variant"] in torch_err:
            line += f"; torch vs float64 {torch_err[c['variant']]:.1e}"
        print(line)
    print("  all attnc kernels within their bound (f32 1e-3, bf16 1e-2): " +
          ("yes" if attnc["all_correct"] else "NO"))

    print("\nattnc compile (frontend excluded; the timed runs are typed "
          "calls on the baseline's f32 arrays, or their bf16 bits for a "
          "bf16 kernel: no conversion):")
    for c in attnc["cases"]:
        print(f"  {c['variant']:15s} compile {c['compile_s']:.2f} s")

    # Decode is a stream over the KV cache: bandwidth says more than FLOP/s.
    for c in attnc["cases"]:
        if not c["decode"]:
            continue
        s = c["shape"]
        size = 2 if c.get("dtype") == "bf16" else 4
        kv_heads = s.get("KVH", s["H"])
        nbytes = size * s["B"] * (s["H"] * (s["E"] + s["F"]) +
                                  kv_heads * s["M"] * (s["E"] + s["F"]))
        for t in c["threads"]:
            n = t["threads"]
            parts = []
            for name in ("attnc", "blas-unfused", "torch-sdpa"):
                sec = medians.get((c["variant"], n, name))
                if sec:
                    parts.append(f"{name} {nbytes / sec / 1e9:.1f}")
            print(f"\n{c['variant']} {c['shape_text']} ({nbytes / 1e6:.1f} MB "
                  f"of Q, K, V, O), {n} thread{'s' if n > 1 else ''}, GB/s: "
                  + ", ".join(parts) if n == c["threads"][0]["threads"] else
                  f"  {n} threads, GB/s: " + ", ".join(parts))

    now = datetime.datetime.now(datetime.timezone.utc)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    info = machine()
    print(f"\nmachine: {info['lscpu_model']}, {info['cores']} cores, "
          f"load average {info['loadavg'][0]:.2f} (other work on the machine "
          f"skews timings)")
    result = {
        "date": now.isoformat(timespec="seconds"),
        "machine": info,
        "git": git_info(root),
        "attnc": attnc,
        "torch": torch,
        "torch_note": torch_note,
        "causal_over_full": summary,
        "table": rows,
    }
    os.makedirs(args.results_dir, exist_ok=True)
    path = os.path.join(args.results_dir,
                        f"cpu-{now.strftime('%Y-%m-%dT%H%M%SZ')}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(f"results: {os.path.relpath(path, root)}")
    if args.path_file:
        with open(args.path_file, "w") as f:
            f.write(path + "\n")


if __name__ == "__main__":
    sys.exit(main())
