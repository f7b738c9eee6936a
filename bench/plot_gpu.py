#!/usr/bin/env python3
"""Draws the sequence-length sweep of a bench/gpu.py --sweep result: TFLOP/s
against sequence length, one panel per (MHA or causal, head dim), one line
per system (attnc and its peers, all from the same run), next to the JSON.

    bench/.venv/bin/python bench/plot_gpu.py bench/results/gpu-sweep-DATE.json
                                             [-o PNG]      (needs matplotlib)
"""
import re
import sys

import plotting


def main():
    args, _, plt, doc = plotting.start("plot_gpu.py", __doc__,
                                       "a bench/gpu.py --sweep JSON file")
    # (kind, D) -> system -> [(S, TFLOP/s)]
    series = {}
    for r in doc["rows"]:
        m = re.match(r"sweep-(mha|causal)-d(\d+)-s(\d+)$", r["variant"])
        if not m or r.get("status") != "ok" or not r.get("rate"):
            continue
        if r.get("note", "").startswith("rel err"):  # a wrong peer
            continue
        key = (m.group(1), int(m.group(2)))
        series.setdefault(key, {}).setdefault(r["system"], []).append(
            (int(m.group(3)), r["rate"]))
    if not series:
        sys.exit("plot_gpu.py: no timed sweep rows in %s (run bench/gpu.py "
                 "--sweep)" % args.result)
    panels = sorted(series)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8),
                             squeeze=False)
    for ax, (kind, D) in zip(axes[0], panels):
        for system, points in sorted(series[(kind, D)].items()):
            points.sort()
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                    linewidth=2.2 if system.startswith("attnc") else 1.2,
                    label=system)
        ax.set_xscale("log", base=2)
        ax.set_title("%s, head dim %d" % ("causal" if kind == "causal" else
                                          "MHA", D))
        ax.set_xlabel("sequence length (B = 16k / S, 16 heads, bf16)")
        ax.set_ylabel("TFLOP/s")
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)
    axes[0][0].legend(fontsize=8)
    machine = doc.get("machine", {})
    fig.suptitle("attnc vs peers, one run: %s, %s" % (
        machine.get("gpu", "?"), doc.get("date", "")), fontsize=10)
    fig.tight_layout()
    plotting.save("plot_gpu.py", fig, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
