"""attnc's Python package on a GPU machine that has torch and the runtime but
no compiler (no MLIR): kernels compiled on the build machine
(scripts/gpu-artifacts.sh bundles) are loaded with attnc.load and called on
CUDA tensors. Run by scripts/gpu-check.sh (step 4c):

    python3 python/tests/gpu_runtime_check.py ARTIFACTS_DIR LIBATTN_RUNTIME_SO

It checks, printing one line each and exiting 1 when any fails (3 when
there is no CUDA device, 2 when torch is missing):
  - mha (bf16) on CUDA tensors at odd sizes against SDPA computed in
    float64, output poisoned first (attnc allocates it: torch.empty, then
    the kernel must write every element); on a side stream too;
  - a wrong device (CPU tensors for a CUDA kernel) and a wrong dtype are
    refused with the runtime's message;
  - the kernel as a torch.library op inside torch.compile(fullgraph=True):
    no graph break, same result;
  - the time per call of a tiny kernel through Python against the runtime's
    C function called directly through ctypes (the Python overhead).
"""
import os
import shutil
import sys
import tempfile
import time


def main():
    art, lib = sys.argv[1], sys.argv[2]
    try:
        import torch
    except ImportError:
        print("python-gpu: SKIP no torch")
        return 2
    if not torch.cuda.is_available():
        print("python-gpu: SKIP no CUDA device")
        return 3
    # The package as a serving machine installs it: the pure-Python files
    # and the runtime library, no JIT extension.
    here = os.path.dirname(os.path.abspath(__file__))
    pkg = os.path.join(tempfile.mkdtemp(prefix="attnc-gpu-"), "attnc")
    os.makedirs(pkg)
    for f in ("__init__.py", "runtime.py", "torch_op.py"):
        shutil.copy(os.path.join(here, "..", "attnc", f), pkg)
    shutil.copy(lib, os.path.join(pkg, "libattn_runtime.so"))
    sys.path.insert(0, os.path.dirname(pkg))
    import attnc

    failures = []

    def check(name, ok, detail=""):
        print("python-gpu: %s %s %s" % ("PASS" if ok else "FAIL", name, detail))
        if not ok:
            failures.append(name)

    def sdpa64(q, k, v):
        q, k, v = (x.double().cpu() for x in (q, k, v))
        s = torch.einsum("bhpe,bhme->bhpm", q, k) / q.shape[-1] ** 0.5
        return torch.einsum("bhpm,bhmf->bhpf", torch.softmax(s, -1), v)

    def rel_err(got, want):
        return ((got.double().cpu() - want).abs().max() /
                want.abs().max().clamp_min(1e-30)).item()

    mha = attnc.load(os.path.join(art, "mha-tile", "mha.attn.json"))
    check("load", mha.target.startswith("cuda"), "target " + mha.target)
    torch.manual_seed(7)
    # Odd sizes: 67 query rows, 131 keys (neither a multiple of a tile).
    q, k, v = (torch.randn(2, 3, n, 64, device="cuda", dtype=torch.bfloat16)
               for n in (67, 131, 131))
    # Poison what the caching allocator will hand out next: NaNs in a block
    # of the output's size, freed just before the call.
    torch.full((2, 3, 67, 64), float("nan"), device="cuda", dtype=torch.bfloat16)
    o = mha(q, k, v)
    torch.cuda.synchronize()
    want = sdpa64(q, k, v)
    err = rel_err(o, want)
    check("mha bf16 vs float64", o.shape == (2, 3, 67, 64) and err < 2e-2,
          "shape %s rel err %.2e" % (tuple(o.shape), err))
    sdpa = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    check("mha vs torch SDPA (bf16)", rel_err(o, sdpa.double().cpu()) < 2e-2,
          "rel err %.2e" % rel_err(o, sdpa.double().cpu()))

    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        o2 = mha(q, k, v)
    side.synchronize()
    check("mha on a side stream", rel_err(o2, want) < 2e-2)

    for what, args, msg in (
            ("CPU tensors for a CUDA kernel", (q.cpu(), k.cpu(), v.cpu()), "argument Q"),
            ("f32 tensors for a bf16 kernel", (q.float(), k, v), "argument Q")):
        try:
            mha(*args)
            check("refuses " + what, False, "no error")
        except attnc.Error as e:
            check("refuses " + what, msg in str(e), str(e)[:120])

    op = mha.as_torch_op()

    def f(q, k, v):
        return op(q * 2, k, v) + 1

    explain = torch._dynamo.explain(f)(q, k, v)
    check("torch.compile: no graph break", explain.graph_break_count == 0,
          "%d breaks, %d graphs" % (explain.graph_break_count, explain.graph_count))
    got = torch.compile(f, fullgraph=True)(q, k, v)
    want2 = sdpa64(q * 2, k, v) + 1
    check("torch.compile result", rel_err(got, want2) < 2e-2,
          "rel err %.2e" % rel_err(got, want2))

    # Python overhead: a tiny kernel, per call through attnc's Kernel (shape
    # checks, output allocation, stream) against the C entry point through
    # ctypes with prebuilt descriptors and a preallocated output.
    tq, tk, tv = (torch.randn(1, 1, 16, 64, device="cuda", dtype=torch.bfloat16)
                  for _ in range(3))
    to = torch.empty_like(tq)
    n = 2000
    for _ in range(50):
        mha(tq, tk, tv)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        mha(tq, tk, tv)
    torch.cuda.synchronize()
    py_us = (time.perf_counter() - t0) / n * 1e6
    kernel = mha._jit
    descs = [attnc._tensor_desc(i["name"], t)[0]
             for i, t in zip(kernel.inputs + kernel.outputs, (tq, tk, tv, to))]
    stream = torch.cuda.current_stream().cuda_stream
    for _ in range(50):
        kernel.run(descs, [], stream)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        kernel.run(descs, [], stream)
    torch.cuda.synchronize()
    c_us = (time.perf_counter() - t0) / n * 1e6
    print("python-gpu: overhead: tiny mha (1x1x16x64) %.1f us per call through "
          "attnc.Kernel, %.1f us through the C entry point (ctypes, prebuilt "
          "arguments): %.1f us of Python" % (py_us, c_us, py_us - c_us))
    print("python-gpu: %d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
