"""Uses the installed Python package: compiles a kernel (argv[1], an f32
softmax attention), runs it on NumPy arrays of odd sizes and compares with
attention computed here in float64. Exit 0 when within 1e-5."""
import sys

import numpy as np

import attnc

print("attnc from " + attnc.__file__)
k = attnc.compile(sys.argv[1], target="cpu", use_cache=False)
rng = np.random.default_rng(5)
q, kk, v = (rng.uniform(-1, 1, s).astype(np.float32)
            for s in ((1, 2, 9, 5), (1, 2, 13, 5), (1, 2, 13, 7)))
o = k(q, kk, v)
s = np.einsum("bhpe,bhme->bhpm", q.astype(np.float64), kk) / np.sqrt(5)
s = np.exp(s - s.max(-1, keepdims=True))
want = np.einsum("bhpm,bhmf->bhpf", s / s.sum(-1, keepdims=True), v)
err = np.abs(o - want).max() / np.abs(want).max()
print("kernel %s on %s: max relative error %.3g" % (k.name, k.target, err))
sys.exit(0 if err < 1e-5 else 1)
