#!/usr/bin/env python3
"""Draws a CPU benchmark result (bench/results/cpu-DATE.json, from
bench/cpu.sh) as a bar chart next to the JSON: per case, attnc's median time
over each peer's (the unfused OpenBLAS baseline, PyTorch SDPA), one panel per
thread count, a line at 1.0 (below it attnc is faster); under each case name,
attnc's rate as a share of the sgemm rate at that thread count.

    bench/.venv/bin/python bench/plot_cpu.py bench/results/cpu-DATE.json
                                             [-o PNG]      (needs matplotlib)
"""
import sys

import plotting

PEERS = [("baseline", "blas-unfused (OpenBLAS f32)"),
         ("torch", "torch SDPA (the case's dtype)")]


def ratios(doc):
    """{threads: [(variant, attnc share of sgemm, {peer: ratio or None})]},
    {threads: sgemm GFLOP/s}"""
    sgemm = {s["threads"]: s["gflops"] for s in doc["attnc"]["sgemm"]}
    torch = {}
    for c in (doc.get("torch") or {}).get("cases", []):
        for t in c["threads"]:
            torch[(c["variant"], t["threads"])] = t["time"]["median_s"]
    panels = {}
    for c in doc["attnc"]["cases"]:
        for t in c["threads"]:
            n = t["threads"]
            mine = t["attnc"]["median_s"]
            peer_s = {"baseline": (t["baseline"] or {}).get("median_s"),
                      "torch": torch.get((c["variant"], n))}
            share = c["useful_flops"] / mine / 1e9 / sgemm[n]
            panels.setdefault(n, []).append(
                (c["variant"], share,
                 {k: (mine / s if s else None) for k, s in peer_s.items()}))
    return panels, sgemm


def main():
    args, matplotlib, plt, doc = plotting.start(
        "plot_cpu.py", __doc__, "a bench/cpu.sh result JSON")
    panels, sgemm = ratios(doc)
    if not panels:
        sys.exit("plot_cpu.py: no timed cases in %s" % args.result)
    threads = sorted(panels)
    ncases = max(len(rows) for rows in panels.values())
    fig, axes = plt.subplots(len(threads), 1, squeeze=False,
                             figsize=(max(7.0, 1.15 * ncases + 2), 3.6 *
                                      len(threads)))
    width = 0.8 / len(PEERS)
    for ax, n in zip(axes[:, 0], threads):
        rows = panels[n]
        all_ratios = [r for _, _, peers in rows for r in peers.values() if r]
        for i, (key, label) in enumerate(PEERS):
            xs = [j + (i - (len(PEERS) - 1) / 2) * width
                  for j in range(len(rows))]
            values = [peers[key] for _, _, peers in rows]
            # Bars start at 1.0: up, attnc slower; down, attnc faster.
            timed = [(x, v) for x, v in zip(xs, values) if v]
            ax.bar([x for x, _ in timed], [v - 1 for _, v in timed], width,
                   bottom=1, label=label)
            for x, v in timed:
                ax.annotate("%.2f" % v, (x, v), ha="center",
                            va="bottom" if v >= 1 else "top", fontsize=7)
            for x, v in zip(xs, values):
                if not v:  # no such peer (bf16: no timed BLAS peer)
                    ax.annotate("n/a", (x, 1.0), ha="center", va="bottom",
                                fontsize=7, color="gray")
        ax.axhline(1.0, color="black", linewidth=1)
        ax.set_yscale("log", base=2)
        top = max(all_ratios + [1.0]) * 1.5
        bottom = min(all_ratios + [1.0]) / 1.5
        ax.set_ylim(bottom, top)
        ax.yaxis.set_major_formatter(
            matplotlib.ticker.FuncFormatter(lambda y, _: "%g" % y))
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(["%s\n%.0f%% of sgemm" % (v, 100 * share)
                            for v, share, _ in rows], fontsize=8)
        ax.set_ylabel("attnc time / peer time\n(below 1: attnc faster)")
        # The sgemm rate shows whether the cores were free (on a shared
        # machine, 2 threads may run no faster than 1).
        ax.set_title("%d thread%s (sgemm %.0f GFLOP/s)" % (
            n, "s" if n > 1 else "", sgemm[n]), fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    machine = doc.get("machine", {})
    load = machine.get("loadavg", [0])[0]
    commit = doc.get("git", {}).get("commit", "")[:9]
    fig.suptitle("attnc CPU kernels vs peers, one run: %s, %s cores, load "
                 "%.1f, %s %s" % (machine.get("lscpu_model", "?"),
                                  machine.get("cores", "?"), load, commit,
                                  doc.get("date", "")), fontsize=9)
    fig.tight_layout()
    plotting.save("plot_cpu.py", fig, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
