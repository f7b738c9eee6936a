#!/usr/bin/env python3
"""The GPU benchmark: attnc's CUDA kernels against PyTorch SDPA (flash,
cuDNN, efficient backends) and FlexAttention, one process, the same tensors
for every system, with the machine's ceilings (a bf16 matmul, a device copy)
measured in the same run. See bench/README.md ("GPU").

    python3 bench/gpu.py [--bench-dir gpu-bench] [--lib build-gpu/libattn_runtime.so]
                         [--out FILE_OR_DIR] [--cases a,b] [--quick] [--budget S]
    python3 bench/gpu.py --cases-json      # the cases, for the artefact script
                                           # (no torch needed)

Every system's output is checked against a float32 reference (the softmax
formula, chunked) before it is timed: attnc must be within 2e-2
(max |out - ref| / max |ref|), else it is reported WRONG and not timed;
a peer off by more is timed but flagged and not used as the best peer.
Any exception in one system prints a FAILED row and the run goes on.
"""
import argparse
import datetime
import json
import math
import os
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOL = 2e-2

# The benchmark cases: the .attn file under bench/gpu/, its kernel, the
# shapes, the variant's features. Head dims (E, F) are bound at compile time
# (scripts/gpu-bench-artifacts.sh: --bind E=D --bind F=D). Sizes as in
# /work/shared/bench/peers_gpu.py.
CASES = [
    dict(name="mha-d128-s4k", attn="mha.attn", kernel="mha",
         kind="prefill", B=4, Hq=16, Hkv=16, S=4096, D=128),
    dict(name="causal-d128-s4k", attn="causal.attn", kernel="causal",
         kind="prefill", B=4, Hq=16, Hkv=16, S=4096, D=128, causal=True),
    dict(name="gqa32-8-causal-d128-s8k", attn="gqa_causal.attn",
         kernel="gqa_causal", kind="prefill", B=2, Hq=32, Hkv=8, S=8192,
         D=128, causal=True),
    dict(name="decode-gqa32-8-d128-kv32k", attn="decode_gqa.attn",
         kernel="decode_gqa", kind="decode", B=8, Hq=32, Hkv=8, S=32768,
         D=128),
    dict(name="swa1024-d128-s8k", attn="sliding_window.attn",
         kernel="sliding_window", kind="prefill", B=2, Hq=16, Hkv=16, S=8192,
         D=128, causal=True, window=1024),
    dict(name="alibi-causal-d128-s4k", attn="alibi.attn", kernel="alibi",
         kind="prefill", B=4, Hq=16, Hkv=16, S=4096, D=128, causal=True,
         alibi=True),
    dict(name="softcap30-causal-d128-s4k", attn="softcap.attn",
         kernel="softcap", kind="prefill", B=4, Hq=16, Hkv=16, S=4096, D=128,
         causal=True, softcap=30.0),
    dict(name="mha-d64-s4k", attn="mha.attn", kernel="mha", kind="prefill",
         B=8, Hq=16, Hkv=16, S=4096, D=64),
    # Head dims between attnc's fused variants (32, 64, 96, 128): 80 runs
    # on the 96 variant, the columns past 80 zero (codegen/gpu/README.md).
    dict(name="mha-d80-s4k", attn="mha.attn", kernel="mha", kind="prefill",
         B=8, Hq=16, Hkv=16, S=4096, D=80),
    dict(name="mha-d96-s4k", attn="mha.attn", kernel="mha", kind="prefill",
         B=8, Hq=16, Hkv=16, S=4096, D=96),
    dict(name="decode-mha-d128-kv8k", attn="decode.attn", kernel="decode",
         kind="decode", B=32, Hq=16, Hkv=16, S=8192, D=128),
]
for _c in CASES:
    _c.setdefault("causal", False)
    _c.setdefault("window", None)
    _c.setdefault("alibi", False)
    _c.setdefault("softcap", None)
    _c["binds"] = {"E": _c["D"], "F": _c["D"]}


# The sequence-length sweep (--sweep): MHA and causal, d64 and d128, S from
# 512 to 16k at 16k tokens a batch (B = 16384 / S), 16 heads; attnc runs the
# bundles of the cases above (their sizes are not bound at compile time).
SWEEP_S = [512, 1024, 2048, 4096, 8192, 16384]


def sweep_cases():
    cases = []
    for causal in (False, True):
        for D in (64, 128):
            for S in SWEEP_S:
                kind = "causal" if causal else "mha"
                cases.append(dict(
                    name="sweep-%s-d%d-s%d" % (kind, D, S), attn=kind + ".attn",
                    kernel=kind, kind="prefill", B=max(1, 16384 // S), Hq=16,
                    Hkv=16, S=S, D=D, causal=causal, window=None, alibi=False,
                    softcap=None, binds={"E": D, "F": D},
                    bundle=("causal-d128-s4k" if causal else
                            "mha-d%d-s4k" % D)))
    return cases


def bundle_dir(bench_dir, c):
    """The attnc bundle of case c: its own, or the one a sweep case reuses."""
    return os.path.join(bench_dir, c.get("bundle", c["name"]))


def quick(case):
    """--quick: the same case at small sizes (a smoke test)."""
    c = dict(case)
    c["S"] = 4096 if c["kind"] == "decode" else 2048 if c["window"] else 1024
    c["B"] = min(c["B"], 2)
    return c    # the window stays: the bundles have it built in


def shape_str(c):
    g = "" if c["Hq"] == c["Hkv"] else ":%d" % c["Hkv"]
    if c["kind"] == "decode":
        return "B%d H%d%s Skv%d d%d" % (c["B"], c["Hq"], g, c["S"], c["D"])
    extra = " W%d" % c["window"] if c["window"] else ""
    return "B%d H%d%s S%d d%d%s" % (c["B"], c["Hq"], g, c["S"], c["D"], extra)


def pairs(c):
    """(query, key) pairs the mask keeps, per batch and head."""
    S = c["S"]
    if c["kind"] == "decode":
        return S
    if c["window"]:
        W = min(c["window"], S)
        return W * S - W * (W - 1) // 2
    if c["causal"]:
        return S * (S + 1) // 2
    return S * S


def work(c):
    """(amount, unit): useful FLOPs (4 * B * H * pairs * D) for prefill, bytes
    moved (K, V, Q, O in bf16) for decode."""
    if c["kind"] == "decode":
        kv = 2 * c["B"] * c["Hkv"] * c["S"] * c["D"] * 2
        qo = 2 * c["B"] * c["Hq"] * c["D"] * 2
        return kv + qo, "GB/s"
    return 4 * c["B"] * c["Hq"] * pairs(c) * c["D"], "TFLOP/s"


def rate(amount, unit, ms):
    return amount / ms / (1e9 if unit == "TFLOP/s" else 1e6)


# ---------------------------------------------------------------------------
# Everything below needs torch and a GPU.

torch = F = None


def import_torch():
    global torch, F
    import torch as _torch
    import torch.nn.functional as _F
    torch, F = _torch, _F


class Timer:
    """Median of CUDA-event-timed runs, the L2 flushed (a 256 MiB memset)
    before each, after a warm-up; run counts from a first estimate, like
    triton.testing.do_bench."""

    def __init__(self, warmup_ms, rep_ms):
        self.warmup_ms, self.rep_ms = warmup_ms, rep_ms
        self.flush = torch.empty(256 << 20, dtype=torch.int8, device="cuda")

    def __call__(self, fn):
        fn()
        torch.cuda.synchronize()
        est_s = torch.cuda.Event(enable_timing=True)
        est_e = torch.cuda.Event(enable_timing=True)
        est_s.record()
        for _ in range(3):
            self.flush.zero_()
            fn()
        est_e.record()
        torch.cuda.synchronize()
        est = max(est_s.elapsed_time(est_e) / 3, 1e-3)
        n_warm = max(1, int(self.warmup_ms / est))
        n_rep = max(5, min(1000, int(self.rep_ms / est)))
        for _ in range(n_warm):
            fn()
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(n_rep)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(n_rep)]
        for i in range(n_rep):
            self.flush.zero_()
            starts[i].record()
            fn()
            ends[i].record()
        torch.cuda.synchronize()
        t = sorted(s.elapsed_time(e) for s, e in zip(starts, ends))
        return dict(median_ms=t[len(t) // 2], min_ms=t[0], runs=n_rep)


def ceilings(timer):
    out = {}
    try:
        n = 8192
        a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        c = torch.empty(n, n, device="cuda", dtype=torch.bfloat16)
        t = timer(lambda: torch.matmul(a, b, out=c))
        out["matmul_bf16"] = dict(shape=[n, n, n], **t,
                                  tflops=2 * n ** 3 / t["median_ms"] / 1e9)
        del a, b, c
    except Exception as e:
        out["matmul_bf16"] = dict(error="%s: %s" % (type(e).__name__, e))
    try:
        nbytes = 1 << 30
        x = torch.empty(nbytes, dtype=torch.uint8, device="cuda").random_(0, 255)
        y = torch.empty_like(x)
        t = timer(lambda: y.copy_(x))
        # read + write
        out["copy_d2d"] = dict(bytes=nbytes, **t,
                               gbs=2 * nbytes / t["median_ms"] / 1e6)
        del x, y
    except Exception as e:
        out["copy_d2d"] = dict(error="%s: %s" % (type(e).__name__, e))
    torch.cuda.empty_cache()
    return out


def make_inputs(c, seed=0):
    g = torch.Generator(device="cuda")
    g.manual_seed(seed)
    B, Hq, Hkv, S, D = c["B"], c["Hq"], c["Hkv"], c["S"], c["D"]
    Sq = 1 if c["kind"] == "decode" else S
    bf = torch.bfloat16
    q = torch.randn(B, Hq, Sq, D, device="cuda", dtype=bf, generator=g)
    k = torch.randn(B, Hkv, S, D, device="cuda", dtype=bf, generator=g)
    v = torch.randn(B, Hkv, S, D, device="cuda", dtype=bf, generator=g)
    slopes = None
    if c["alibi"]:
        slopes = torch.tensor([2.0 ** (-8.0 * (h + 1) / Hq) for h in range(Hq)],
                              device="cuda", dtype=torch.float32)
    return q, k, v, slopes


def reference(c, q, k, v, slopes):
    """float32 attention with the case's mask and score modification, in
    chunks of heads (scores <= 1 GiB at a time). [B, Hq, Sq, D] float32."""
    B, Hq, Sq, D = q.shape
    Hkv, Skv = k.shape[1], k.shape[2]
    G = Hq // Hkv
    out = torch.empty(B, Hq, Sq, D, device="cuda", dtype=torch.float32)
    hc = max(1, min(Hq, (1 << 28) // (Sq * Skv)))
    qpos = torch.arange(Sq, device="cuda")
    kpos = torch.arange(Skv, device="cuda")
    keep = None
    if c["kind"] == "prefill" and (c["causal"] or c["window"]):
        keep = kpos[None, :] <= qpos[:, None]
        if c["window"]:
            keep &= (qpos[:, None] - kpos[None, :]) < c["window"]
    dist = (kpos[None, :] - qpos[:, None]).float() if c["alibi"] else None
    prev = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        for b in range(B):
            for h0 in range(0, Hq, hc):
                h1 = min(Hq, h0 + hc)
                kv_idx = torch.arange(h0, h1, device="cuda") // G
                qs = q[b, h0:h1].float()
                ks = k[b].index_select(0, kv_idx).float()
                vs = v[b].index_select(0, kv_idx).float()
                s = torch.matmul(qs, ks.transpose(-1, -2)) * (1.0 / math.sqrt(D))
                if c["softcap"]:
                    s = c["softcap"] * torch.tanh(s / c["softcap"])
                if c["alibi"]:
                    s = s + slopes[h0:h1, None, None] * dist[None]
                if keep is not None:
                    s = s.masked_fill(~keep[None], float("-inf"))
                out[b, h0:h1] = torch.matmul(torch.softmax(s, dim=-1), vs)
                del s
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev
    return out


def rel_error(out, ref):
    """max |out - ref| / max |ref| (inf when out has NaN or inf)."""
    out = out.float().reshape(ref.shape)
    if not torch.isfinite(out).all():
        return float("inf")
    return ((out - ref).abs().max() / ref.abs().max().clamp_min(1e-30)).item()


def refusal_reason(exc, caught):
    msgs = []
    for w in caught:
        m = " ".join(str(w.message).split())
        if m and m not in msgs:
            msgs.append(m)
    text = "; ".join(msgs) if msgs else "%s: %s" % (type(exc).__name__, exc)
    return " ".join(text.split())[:300]


def sdpa_systems(c, q, k, v, slopes):
    """[(system, fn or None, why not)] for each SDPA backend."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    backends = [("sdpa-flash", SDPBackend.FLASH_ATTENTION),
                ("sdpa-cudnn", SDPBackend.CUDNN_ATTENTION),
                ("sdpa-efficient", SDPBackend.EFFICIENT_ATTENTION)]
    if c["softcap"]:
        return [(n, None, "SDPA has no logit soft-capping (no score "
                          "modification)") for n, _ in backends]
    gqa = c["Hq"] != c["Hkv"]
    mask, causal, suffix = None, False, ""
    S = c["S"]
    if c["kind"] == "prefill" and (c["window"] or c["alibi"]):
        # No native form: a dense mask, what a user without flex would pass.
        i = torch.arange(S, device="cuda")
        keep = i[None, :] <= i[:, None]
        if c["window"]:
            keep &= (i[:, None] - i[None, :]) < c["window"]
        if c["alibi"]:
            bias = slopes[:, None, None] * (i[None, :] - i[:, None]).float()[None]
            bias = bias.masked_fill(~keep[None], float("-inf"))
            mask = bias.to(torch.bfloat16)[None]          # [1, H, S, S]
            suffix = "+bias"
        else:
            mask = keep[None, None]                        # [1, 1, S, S] bool
            suffix = "+mask"
    elif c["kind"] == "prefill":
        causal = c["causal"]
    out = []
    for name, be in backends:
        def fn(be=be):
            with sdpa_kernel([be]):
                return F.scaled_dot_product_attention(
                    q, k, v, attn_mask=mask, is_causal=causal, enable_gqa=gqa)
        out.append((name + suffix, fn, None))
    return out


_flex = None


def flex_system(c, q, k, v, slopes):
    global _flex
    from torch.nn.attention.flex_attention import (create_block_mask,
                                                   flex_attention)
    import torch._dynamo as dynamo
    # A fresh compile per case (each has its own score/mask functions).
    dynamo.reset()
    for knob in ("cache_size_limit", "recompile_limit",
                 "accumulated_cache_size_limit", "accumulated_recompile_limit"):
        if hasattr(dynamo.config, knob):
            try:
                setattr(dynamo.config, knob, max(64, getattr(dynamo.config, knob)))
            except Exception:
                pass
    if _flex is None:
        _flex = torch.compile(flex_attention, dynamic=False)
    gqa = c["Hq"] != c["Hkv"]
    score_mod = None
    if c["alibi"] or c["softcap"]:
        alibi, cap = c["alibi"], c["softcap"]

        def score_mod(score, b, h, qi, ki):
            if alibi:
                score = score + slopes[h] * (ki - qi)
            if cap:
                score = cap * torch.tanh(score / cap)
            return score
        if alibi and cap:
            raise ValueError("the order of ALiBi and soft-cap is not defined here")
    block_mask = None
    if c["kind"] == "prefill" and (c["causal"] or c["window"]):
        window = c["window"]

        def mask_mod(b, h, qi, ki):
            m = qi >= ki
            if window:
                m = m & (qi - ki < window)
            return m
        block_mask = create_block_mask(mask_mod, B=None, H=None, Q_LEN=c["S"],
                                       KV_LEN=c["S"], device="cuda")

    def fn():
        return _flex(q, k, v, score_mod=score_mod, block_mask=block_mask,
                     enable_gqa=gqa)
    return fn


class AttncRunner:
    """A bundle of gpu-bench/<case>/ through the runtime's C ABI (ctypes)."""

    def __init__(self, rt, c, bundle_dir):
        import attn_ctypes as ac
        self.ac = ac
        manifests = sorted(f for f in os.listdir(bundle_dir)
                           if f.endswith(".attn.json"))
        if not manifests:
            raise RuntimeError("no *.attn.json in %s" % bundle_dir)
        name = c["kernel"] + ".attn.json"
        self.manifest = os.path.join(bundle_dir, name if name in manifests
                                     else manifests[0])
        self.kernel = rt.load(self.manifest)
        try:
            self.compiler = json.load(open(self.manifest)).get("compiler")
        except Exception:
            self.compiler = None

    def prepare(self, c, q, k, v, slopes):
        ac = self.ac
        B, Hq, D = c["B"], c["Hq"], c["D"]
        if c["kind"] == "decode":
            qa = q.view(B, Hq, D)       # the kernel's Q has no query axis
            out = torch.full((B, Hq, D), float("nan"), device="cuda",
                             dtype=torch.bfloat16)
        else:
            qa = q
            out = torch.full(q.shape, float("nan"), device="cuda",
                             dtype=torch.bfloat16)
        dt = {torch.bfloat16: ac.ATTN_BF16, torch.float16: ac.ATTN_F16,
              torch.float32: ac.ATTN_F32}
        named = {"Q": qa, "K": k, "V": v, "O": out}
        if slopes is not None:
            named["Slope"] = slopes
        tensors = {}
        for a in self.kernel.args:
            if a["is_scalar"]:
                continue
            t = named.get(a["name"])
            if t is None:
                raise RuntimeError("bench/gpu.py has no tensor for argument %s "
                                   "of %s" % (a["name"], self.kernel.describe()))
            assert t.is_contiguous()
            tensors[a["name"]] = (t.data_ptr(), dt[t.dtype], list(t.shape))
        self.out = out
        self.prepared = self.kernel.prepare(tensors, {}, ac.ATTN_DEVICE_CUDA)

    def __call__(self):
        self.kernel.launch(self.prepared, torch.cuda.current_stream().cuda_stream)
        return self.out

    def close(self):
        self.kernel.unload()


# ---------------------------------------------------------------------------

def machine_info():
    import torch as t
    info = dict(gpu=t.cuda.get_device_name(0), torch=t.__version__,
                cuda_runtime=t.version.cuda, python=sys.version.split()[0])
    p = t.cuda.get_device_properties(0)
    info["sm_count"] = p.multi_processor_count
    info["memory_gib"] = round(p.total_memory / 2 ** 30, 1)
    info["capability"] = "%d.%d" % (p.major, p.minor)
    try:
        import triton
        info["triton"] = triton.__version__
    except Exception:
        pass
    try:
        import ctypes
        cu = ctypes.CDLL("libcuda.so.1")
        ver = ctypes.c_int()
        if cu.cuDriverGetVersion(ctypes.byref(ver)) == 0:
            info["cuda_driver_api"] = "%d.%d" % (ver.value // 1000,
                                                  ver.value % 1000 // 10)
    except Exception:
        pass
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,clocks.sm,"
                            "clocks.max.sm,power.limit", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=20)
        line = r.stdout.strip().splitlines()[0]
        drv, sm, smmax, power = [x.strip() for x in line.split(",")][:4]
        info.update(driver=drv, clock_sm=sm, clock_sm_max=smmax,
                    power_limit=power)
    except Exception:
        pass
    return info


def provenance(bench_dir):
    meta = {}
    path = os.path.join(bench_dir, "bench.json")
    if os.path.exists(path):
        try:
            meta = json.load(open(path))
        except Exception as e:
            meta = dict(error="unreadable %s: %s" % (path, e))
    commit = meta.get("commit")
    if not commit:
        try:
            commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"],
                                    capture_output=True, text=True,
                                    timeout=10).stdout.strip() or None
        except Exception:
            commit = None
    return meta, commit or "unknown"


class Report:
    COLS = "%-27s %-24s %-22s %9s %9s %-8s %8s %8s %8s  %s"

    def __init__(self, path, header):
        self.path, self.header, self.rows = path, header, []
        print(self.COLS % ("variant", "shape", "system", "ms", "rate", "unit",
                           "rel err", "vs best", "of ceil", "note"), flush=True)

    def add(self, row):
        self.rows.append(row)
        f = lambda x, fmt: (fmt % x) if isinstance(x, (int, float)) else "-"
        status = row["status"]
        note = row.get("note", "")
        if status != "ok":
            note = status + (": " + note if note else "")
        print(self.COLS % (row["variant"], row["shape"], row["system"],
                           f(row.get("ms"), "%.4f"), f(row.get("rate"), "%.1f"),
                           row.get("unit", "") if row.get("ms") else "",
                           f(row.get("rel_err"), "%.1e"),
                           f(row.get("vs_best_peer"), "%.2fx"),
                           f(row.get("of_ceiling"), "%.1f%%"),
                           note[:200]), flush=True)
        self.write()

    def write(self):
        doc = dict(self.header, rows=self.rows)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(doc, fh, indent=1)
        os.replace(tmp, self.path)


def preflight(args, cases, bench_dir):
    """Runs each attnc bundle of bench_dir once at its benchmark shape in
    child processes (`--preflight-child`), so that a kernel that faults (a
    sticky CUDA error) cannot stop the main run. Returns {case name: why it
    is excluded}."""
    bad = {}
    todo = [c["name"] for c in cases if os.path.isdir(bundle_dir(bench_dir, c))]
    while todo:
        cmd = [sys.executable, os.path.abspath(__file__), "--preflight-child",
               "--bench-dir", bench_dir, "--lib", args.lib,
               "--cases", ",".join(todo)] + (["--quick"] if args.quick else []) + (
                   ["--sweep"] if args.sweep else [])
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            lines, rc = r.stdout.splitlines(), r.returncode
            tail = (r.stderr.strip().splitlines() or [""])[-1]
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            lines, rc, tail = out.splitlines(), -1, "timed out after 300 s"
        done, current = set(), None
        for line in lines:
            if line.startswith("BEGIN "):
                current = line[6:]
            elif line.startswith("END "):
                name, _, status = line[4:].partition(" ")
                done.add(name)
                current = None
                if status.startswith("fault"):
                    bad[name] = "the kernel faulted in a pre-flight run: " + status
        if current is not None:
            bad[current] = ("the pre-flight process died running it (rc %s): %s"
                            % (rc, tail))
            done.add(current)
        if not done:       # the child failed before any case: give up on it
            print("preflight: the child process failed (rc %s): %s" % (rc, tail))
            break
        todo = [n for n in todo if n not in done]
    return bad


def preflight_child(args, cases):
    import attn_ctypes as ac
    import_torch()
    rt = ac.AttnRuntime(args.lib)
    torch.zeros(1, device="cuda")
    torch.cuda.synchronize()
    for c in cases:
        d = bundle_dir(args.bench_dir, c)
        if not os.path.isdir(d):
            continue
        print("BEGIN " + c["name"], flush=True)
        status = "ok"
        q = k = v = slopes = None
        try:
            q, k, v, slopes = make_inputs(c)
            runner = AttncRunner(rt, c, d)
            runner.prepare(c, q, k, v, slopes)
            runner()
            torch.cuda.synchronize()
            runner.close()
        except Exception as e:
            msg = " ".join(str(e).split())[:300]
            try:
                torch.cuda.synchronize()
                torch.zeros(1, device="cuda").item()
                status = "error " + msg      # reported again by the main run
            except Exception:
                status = "fault " + msg
        print("END %s %s" % (c["name"], status), flush=True)
        if status.startswith("fault"):
            sys.exit(5)                      # the context is gone: restart
        del q, k, v, slopes
        torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench-dir", default=os.path.join(ROOT, "gpu-bench"),
                    help="attnc's bundles (scripts/gpu-bench-artifacts.sh)")
    ap.add_argument("--lib", default=os.path.join(ROOT, "build-gpu",
                                                  "libattn_runtime.so"),
                    help="the runtime as a shared library")
    ap.add_argument("--out", default=os.environ.get("OUT") or
                    os.path.join(HERE, "results"),
                    help="the JSON file, or a directory for gpu-<date>.json")
    ap.add_argument("--also", action="append", default=[], metavar="LABEL=DIR",
                    help="another set of attnc bundles, timed in the same run "
                    "as system attnc-LABEL (e.g. wgmma=gpu-bench-wgmma)")
    ap.add_argument("--cases", default="", help="comma-separated case names")
    ap.add_argument("--systems", default="",
                    help="comma-separated prefixes (sdpa,flex,attnc)")
    ap.add_argument("--quick", action="store_true", help="small shapes")
    ap.add_argument("--sweep", action="store_true",
                    help="the sequence-length sweep (MHA and causal, d64 and "
                    "d128, S 512..16k) instead of the cases; "
                    "bench/plot_gpu.py draws it")
    ap.add_argument("--budget", type=float, default=0,
                    help="seconds; cases that would start later are skipped")
    ap.add_argument("--warmup-ms", type=float, default=25)
    ap.add_argument("--rep-ms", type=float, default=100)
    ap.add_argument("--no-preflight", action="store_true")
    ap.add_argument("--cases-json", action="store_true",
                    help="print the cases as JSON and exit (no torch)")
    ap.add_argument("--preflight-child", action="store_true",
                    help=argparse.SUPPRESS)
    args = ap.parse_args()

    known = sweep_cases() if args.sweep else CASES
    cases = known
    if args.cases:
        want = args.cases.split(",")
        unknown = [w for w in want if w not in [c["name"] for c in known]]
        if unknown:
            sys.exit("unknown case(s) %s; known: %s" % (
                ", ".join(unknown), ", ".join(c["name"] for c in known)))
        cases = [c for c in known if c["name"] in want]
    if args.quick:
        cases = [quick(c) for c in cases]
    if args.cases_json:
        print(json.dumps([dict(c, shape=shape_str(c)) for c in cases], indent=1))
        return 0
    sys.path.insert(0, HERE)
    if args.preflight_child:
        preflight_child(args, cases)
        return 0

    t_start = time.time()
    try:
        import_torch()
    except ImportError as e:
        print("gpu.py: needs torch (and triton for FlexAttention): %s" % e)
        return 2
    if not torch.cuda.is_available():
        print("gpu.py: no CUDA device visible to torch: nothing to measure")
        return 3
    systems = [s for s in args.systems.split(",") if s]
    want = lambda name: not systems or any(name.startswith(s) for s in systems)

    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    out = args.out
    if not out.endswith(".json"):
        os.makedirs(out, exist_ok=True)
        out = os.path.join(out, "gpu-%s.json" % date)
    else:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)

    meta, commit = provenance(args.bench_dir)
    # The attnc bundle sets: (system name, directory, their bench.json).
    attnc_sets = [("attnc", args.bench_dir, meta)]
    for spec in args.also:
        label, eq, d = spec.partition("=")
        if not eq or not label or not d:
            sys.exit("--also wants LABEL=DIR, got %r" % spec)
        attnc_sets.append(("attnc-" + label, d, provenance(d)[0]))
    info = machine_info()
    print("gpu.py: %s (%s, driver %s), torch %s, commit %s" % (
        info["gpu"], info.get("capability"), info.get("driver", "?"),
        info["torch"], commit[:12]), flush=True)

    # attnc: the runtime library, and which bundles run safely.
    rt, rt_error, excluded = None, None, {}
    if want("attnc"):
        import attn_ctypes as ac
        try:
            rt = ac.AttnRuntime(args.lib)
        except OSError as e:
            rt_error = "cannot load the runtime %s: %s" % (args.lib, e)
        for system, d, _ in attnc_sets:
            if rt and not args.no_preflight and os.path.isdir(d):
                excluded[system] = preflight(args, cases, d)

    timer = Timer(args.warmup_ms, args.rep_ms)
    print("ceilings ...", flush=True)
    ceil = ceilings(timer)
    mm = ceil["matmul_bf16"].get("tflops")
    bw = ceil["copy_d2d"].get("gbs")
    print("ceilings: bf16 matmul 8192^3 %s TFLOP/s, device copy %s GB/s" % (
        "%.0f" % mm if mm else ceil["matmul_bf16"].get("error"),
        "%.0f" % bw if bw else ceil["copy_d2d"].get("error")), flush=True)

    header = dict(
        benchmark="attnc GPU benchmark (bench/gpu.py)", date=date,
        commit=commit, dirty=meta.get("dirty"), artifacts=dict(
            dir=args.bench_dir, made=meta.get("date"),
            attnc=meta.get("attnc_version"), target=meta.get("target"),
            compile_errors={n: e.get("error") for n, e in
                            meta.get("cases", {}).items() if e.get("error")}
            if isinstance(meta.get("cases"), dict) else None,
            also={system: dict(dir=d, made=m.get("date"), flags=m.get("flags"))
                  for system, d, m in attnc_sets[1:]}),
        machine=info, ceilings=ceil, tolerance=TOL, quick=args.quick,
        timing=dict(method="CUDA events, median, L2 flushed (256 MiB memset) "
                    "before each run", warmup_ms=args.warmup_ms,
                    rep_ms=args.rep_ms),
        cases=[dict(c, shape=shape_str(c)) for c in cases])
    rep = Report(out, header)

    for c in cases:
        base = dict(variant=c["name"], shape=shape_str(c))
        if args.budget and time.time() - t_start > args.budget:
            rep.add(dict(base, system="*", status="SKIPPED",
                         note="past the time budget (%.0f s)" % args.budget))
            continue
        amount, unit = work(c)
        ceiling = mm if unit == "TFLOP/s" else bw
        q = k = v = slopes = ref = None
        try:
            q, k, v, slopes = make_inputs(c)
            ref = reference(c, q, k, v, slopes)
        except Exception as e:
            rep.add(dict(base, system="*", status="FAILED",
                         note="inputs/reference: %s: %s" % (type(e).__name__, e)))
            q = k = v = slopes = ref = None
            torch.cuda.empty_cache()
            continue
        peers = []      # (median ms, system) of correct peers

        def measure(system, fn, is_attnc=False):
            row = dict(base, system=system, unit=unit)
            try:
                import warnings
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    try:
                        o = fn()
                        torch.cuda.synchronize()
                    except Exception as e:
                        if system.startswith("sdpa") and "No available kernel" in str(e):
                            rep.add(dict(row, status="SKIPPED",
                                         note="refused: " + refusal_reason(e, caught)))
                            return
                        raise
                err = rel_error(o, ref)
                row["rel_err"] = err if math.isfinite(err) else None
                del o
                if not err < TOL:
                    if is_attnc:
                        rep.add(dict(row, status="WRONG",
                                     note="rel err %.3g >= %g: not timed" % (err, TOL)))
                        return
                    row["note"] = "rel err %.3g >= %g: not a best peer" % (err, TOL)
                t = timer(fn)
                row.update(status="ok", ms=t["median_ms"], min_ms=t["min_ms"],
                           runs=t["runs"], rate=rate(amount, unit, t["median_ms"]))
                if ceiling:
                    row["of_ceiling"] = 100.0 * row["rate"] / ceiling
                if is_attnc and peers:
                    best_ms, best = min(peers)
                    row["vs_best_peer"] = t["median_ms"] / best_ms
                    row["best_peer"] = best
                if not is_attnc and err < TOL:
                    peers.append((t["median_ms"], system))
                rep.add(row)
            except Exception as e:
                msg = " ".join(("%s: %s" % (type(e).__name__, e)).split())
                rep.add(dict(row, status="FAILED", note=msg[:400]))
                if os.environ.get("ATTN_GPU_BENCH_TRACE"):
                    traceback.print_exc()
                try:
                    torch.cuda.synchronize()
                except Exception as e2:
                    raise SystemExit("gpu.py: the CUDA context is broken after "
                                     "%s on %s (%s): stopping" % (system, c["name"], e2))

        if want("sdpa"):
            try:
                for name, fn, why in sdpa_systems(c, q, k, v, slopes):
                    if fn is None:
                        rep.add(dict(base, system=name, status="SKIPPED", note=why))
                    else:
                        measure(name, fn)
            except Exception as e:
                rep.add(dict(base, system="sdpa", status="FAILED",
                             note="%s: %s" % (type(e).__name__, e)))
        if want("flex"):
            try:
                fn = flex_system(c, q, k, v, slopes)
                measure("flex", fn)
            except Exception as e:
                rep.add(dict(base, system="flex", status="FAILED",
                             note=" ".join(("%s: %s" % (type(e).__name__, e)).split())[:400]))
        def measure_attnc(system, bench_dir, set_meta):
            bundle = bundle_dir(bench_dir, c)
            cerr = None
            if isinstance(set_meta.get("cases"), dict):
                cerr = (set_meta["cases"].get(c.get("bundle", c["name"])) or
                        {}).get("error")
            if rt is None:
                rep.add(dict(base, system=system, status="FAILED", note=rt_error))
            elif c["name"] in excluded.get(system, {}):
                rep.add(dict(base, system=system, status="FAILED",
                             note=excluded[system][c["name"]]))
            elif not os.path.isdir(bundle):
                rep.add(dict(base, system=system, status="FAILED",
                             note=("not compiled: " + cerr) if cerr else
                             "no bundle %s (scripts/gpu-bench-artifacts.sh)" % bundle))
            else:
                runner = None
                try:
                    runner = AttncRunner(rt, c, bundle)
                    runner.prepare(c, q, k, v, slopes)
                    base["attnc"] = dict(manifest=runner.manifest,
                                         compiler=runner.compiler,
                                         kernel=runner.kernel.describe())
                    measure(system, runner, is_attnc=True)
                except Exception as e:
                    rep.add(dict(base, system=system, status="FAILED",
                                 note=" ".join(str(e).split())[:400]))
                finally:
                    base.pop("attnc", None)
                    if runner is not None:
                        runner.close()
        for system, bench_dir, set_meta in attnc_sets:
            if want(system):
                measure_attnc(system, bench_dir, set_meta)
        q = k = v = slopes = ref = None
        torch.cuda.empty_cache()

    ok = sum(1 for r in rep.rows if r["status"] == "ok")
    attnc_ok = sum(1 for r in rep.rows if r["system"] == "attnc" and r["status"] == "ok")
    print("gpu.py: %d rows timed (attnc: %d of %d cases), %.0f s; results in %s" % (
        ok, attnc_ok, len(cases), time.time() - t_start, out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
