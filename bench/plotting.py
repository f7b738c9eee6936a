"""What bench/plot_cpu.py and bench/plot_gpu.py share: the command line (a
result JSON, -o PNG), matplotlib without a display, and the PNG written
beside the JSON."""
import argparse
import json
import os
import sys


def start(tool, doc, what):
    """(args, matplotlib, pyplot, the result JSON) for the plotter `tool`
    (its name in messages) whose module docstring is `doc`; `what` says
    which JSON it reads. Exits with a message without matplotlib."""
    ap = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("result", help=what)
    ap.add_argument("-o", "--out", help="the PNG (default: beside the JSON)")
    args = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("%s: needs matplotlib (bench/.venv/bin/pip install "
                 "matplotlib)" % tool)
    return args, matplotlib, plt, json.load(open(args.result))


def save(tool, fig, args):
    """Writes `fig` to -o or beside the result JSON, and says where."""
    out = args.out or os.path.splitext(args.result)[0] + ".png"
    fig.savefig(out, dpi=110)
    print("%s: wrote %s" % (tool, out))
