"""Python overhead per call (issue 17): a tiny kernel (mha_f32 at
B=H=P=M=E=F=1) called through attnc.Kernel on NumPy arrays and on torch
tensors (argument checks, output allocation, descriptors) against the same
run through the extension's typed run on prepared descriptors (what the C
API does: attn_run on the runtime). Prints microseconds per call, median of
repeated timings.

    PYTHONPATH=build/python python3 bench/python_overhead.py
"""
import os
import statistics
import sys
import timeit

import numpy as np

import attnc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
k = attnc.compile(os.path.join(ROOT, "bench", "kernels", "mha_f32.attn"))
q, kk, v = (np.ones((1, 1, 1, 1), np.float32) for _ in range(3))
o = np.empty((1, 1, 1, 1), np.float32)
descs = [(a.ctypes.data, 2, [1, 1, 1, 1], [], 0) for a in (q, kk, v, o)]


def per_call_us(f, number=2000):
    return statistics.median(timeit.repeat(f, number=number, repeat=7)) / number * 1e6


rows = [("typed run on prepared descriptors (~ the C API + binding)",
         per_call_us(lambda: k._jit.run(descs, [], 0))),
        ("attnc.Kernel on NumPy arrays", per_call_us(lambda: k(q, kk, v)))]
try:
    import torch
    tq, tk, tv = (torch.ones(1, 1, 1, 1) for _ in range(3))
    rows.append(("attnc.Kernel on torch tensors", per_call_us(lambda: k(tq, tk, tv))))
    op = k.as_torch_op()
    rows.append(("torch.ops.attnc (custom op, eager)", per_call_us(lambda: op(tq, tk, tv))))
except ImportError:
    pass
for what, us in rows:
    print("%-58s %8.1f us" % (what, us))
