"""PyTorch's CPU scaled_dot_product_attention on the shapes, element types and
thread counts that attn-bench-cpu measured (read from its JSON); writes one
JSON of timings. Causal masks are is_causal, windows a boolean attn_mask,
grouped-query cases enable_gqa (K and V with H / G heads), bf16 cases bf16
tensors (PyTorch's bf16 CPU SDPA). Each result is checked once against
float64 math on the same input values.

    torch_sdpa.py CASES.json OUT.json [--runs N] [--warmup N]
"""
import argparse
import json
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cases")
    ap.add_argument("out")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F

    with open(args.cases) as f:
        bench = json.load(f)
    out = {
        "torch_version": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "runs": args.runs,
        "warmup": args.warmup,
        "cases": [],
    }
    gen = torch.Generator().manual_seed(0)
    for case in bench["cases"]:
        s = case["shape"]
        B, H, P, M, E, Fd = s["B"], s["H"], s["P"], s["M"], s["E"], s["F"]
        G = s.get("G", 1)
        dtype = {"f32": torch.float32,
                 "bf16": torch.bfloat16}[case.get("dtype", "f32")]
        q = (torch.rand(B, H, P, E, generator=gen) * 2 - 1).to(dtype)
        k = (torch.rand(B, H // G, M, E, generator=gen) * 2 - 1).to(dtype)
        v = (torch.rand(B, H // G, M, Fd, generator=gen) * 2 - 1).to(dtype)
        kwargs = {}
        if G > 1:
            kwargs["enable_gqa"] = True
        p_idx = torch.arange(P).unsqueeze(1)
        m_idx = torch.arange(M).unsqueeze(0)
        if case["mask"] == "causal":
            kwargs["is_causal"] = True
            allowed = m_idx <= p_idx
        elif case["mask"] == "window":
            allowed = (m_idx <= p_idx) & (p_idx - m_idx < case["window"])
            kwargs["attn_mask"] = allowed
        else:
            allowed = torch.ones(P, M, dtype=torch.bool)

        def run():
            return F.scaled_dot_product_attention(q, k, v, **kwargs)

        # Once, against the float64 math so a wrong result cannot hide; one
        # head at a time (query head h reads K and V head h // G).
        got = run()
        diff = scale = 0.0
        for b in range(B):
            for h in range(H):
                s64 = (q[b, h].double() @ k[b, h // G].double().T) / E ** 0.5
                s64 = s64.masked_fill(~allowed, float("-inf"))
                ref = torch.softmax(s64, dim=-1) @ v[b, h // G].double()
                diff = max(diff, (got[b, h].double() - ref).abs().max().item())
                scale = max(scale, ref.abs().max().item())
        err = diff / scale

        per = []
        for t in case["threads"]:
            torch.set_num_threads(t["threads"])
            with torch.inference_mode():
                for _ in range(args.warmup):
                    run()
                times = []
                for _ in range(args.runs):
                    start = time.perf_counter()
                    run()
                    times.append(time.perf_counter() - start)
            per.append({"threads": t["threads"],
                        "time": {"median_s": statistics.median(times),
                                 "min_s": min(times), "max_s": max(times),
                                 "runs_s": times}})
            print(f"torch sdpa {case['variant']:15s} {case['shape_text']:28s} "
                  f"threads={t['threads']} {statistics.median(times) * 1e3:9.2f} ms",
                  file=sys.stderr)
        out["cases"].append({"variant": case["variant"],
                             "shape_text": case["shape_text"],
                             "err_vs_f64": err, "threads": per})
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
