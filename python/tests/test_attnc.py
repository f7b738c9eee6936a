"""attnc's Python module against references computed here in float64, on
odd sizes (not multiples of a tile), outputs allocated by the module.
NumPy always; torch (CPU, and CUDA where there is a GPU and the JIT can reach
it) when importable; the torch.library op under torch.compile.

    PYTHONPATH=<build>/python python3 python/tests/test_attnc.py -v
"""
import math
import os
import tempfile
import unittest

import numpy as np

import attnc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MHA_F32 = os.path.join(ROOT, "bench", "kernels", "mha_f32.attn")
MHA_BF16 = os.path.join(ROOT, "examples", "mha.attn")
CACHE = tempfile.mkdtemp(prefix="attnc-python-test-")

try:
    import torch
except ImportError:
    torch = None


def attention(q, k, v, causal=False):
    """Softmax attention in float64: q [B,H,P,E], k [B,H,M,E], v [B,H,M,F]."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    s = np.einsum("bhpe,bhme->bhpm", q, k) / math.sqrt(q.shape[-1])
    if causal:
        p, m = s.shape[-2:]
        s = np.where(np.arange(m)[None, :] <= np.arange(p)[:, None], s, -np.inf)
    s = np.exp(s - s.max(-1, keepdims=True))
    return np.einsum("bhpm,bhmf->bhpf", s / s.sum(-1, keepdims=True), v)


def rel_err(got, want):
    got = np.asarray(got, dtype=np.float64)
    return np.abs(got - want).max() / np.abs(want).max()


class NumPy(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(7)
        self.q = rng.uniform(-1, 1, (1, 3, 67, 19)).astype(np.float32)
        self.k = rng.uniform(-1, 1, (1, 3, 131, 19)).astype(np.float32)
        self.v = rng.uniform(-1, 1, (1, 3, 131, 23)).astype(np.float32)

    def test_cpu_matches_float64(self):
        mha = attnc.compile(MHA_F32, target="cpu", cache_dir=CACHE)
        self.assertEqual(mha.name, "mha")
        self.assertEqual([i["name"] for i in mha.inputs], ["Q", "K", "V"])
        self.assertEqual(mha.output_shapes(self.q, self.k, self.v), [(1, 3, 67, 23)])
        o = mha(self.q, self.k, self.v)
        self.assertEqual(o.shape, (1, 3, 67, 23))
        self.assertEqual(o.dtype, np.float32)
        self.assertLess(rel_err(o, attention(self.q, self.k, self.v)), 1e-5)

    def test_strided_input_is_read_in_place(self):
        # A view with padded rows (last dimension contiguous): no copy needed.
        mha = attnc.compile(MHA_F32, target="cpu", cache_dir=CACHE)
        padded = np.zeros((1, 3, 131, 40), np.float32)
        padded[..., :19] = self.k
        o = mha(self.q, padded[..., :19], self.v)
        self.assertLess(rel_err(o, attention(self.q, self.k, self.v)), 1e-5)

    def test_source_text_params_and_errors(self):
        with open(MHA_F32) as f:
            source = f.read()
        mha = attnc.compile(source, target="cpu", cache_dir=CACHE)
        self.assertEqual(mha.name, "mha")
        with self.assertRaisesRegex(attnc.Error, "takes 3 arguments"):
            mha(self.q, self.k)
        with self.assertRaisesRegex(attnc.Error, "argument K"):
            mha(self.q, self.k[0], self.v)          # wrong rank
        with self.assertRaisesRegex(attnc.Error, "argument Q"):
            mha(self.q.astype(np.float64), self.k, self.v)  # wrong dtype
        with self.assertRaisesRegex(attnc.Error, "size symbol E"):
            mha(self.q, self.k[..., :5], self.v)     # E disagrees
        with self.assertRaisesRegex(attnc.Error, "must be a torch tensor or a NumPy array"):
            mha(self.q, self.k, [1, 2])
        with self.assertRaisesRegex(attnc.Error, r"<source>:1:\d+: error"):
            attnc.compile("kernel broken(", target="cpu", cache_dir=CACHE)
        with self.assertRaisesRegex(attnc.Error, "unknown target 'tpu'"):
            attnc.compile(MHA_F32, target="tpu", cache_dir=CACHE)

    def test_load_ahead_of_time_kernel_through_the_runtime(self):
        # attnc --emit=so here; attnc.load needs only libattn_runtime.so.
        import subprocess
        attnc_tool = os.environ.get("ATTNC", "attnc")
        out = os.path.join(CACHE, "mha_f32.so")
        subprocess.run([attnc_tool, MHA_F32, "--target=cpu", "--emit=so", "-o", out],
                       check=True)
        k = attnc.load(out)
        self.assertEqual(k.name, "mha")
        self.assertEqual([i["dims"] for i in k.inputs][0], ["B", "H", "P", "E"])
        o = k(self.q, self.k, self.v)
        self.assertEqual(o.shape, (1, 3, 67, 23))
        self.assertLess(rel_err(o, attention(self.q, self.k, self.v)), 1e-5)
        with self.assertRaisesRegex(attnc.Error, "argument K"):
            k(self.q, self.k[0], self.v)
        with self.assertRaisesRegex(attnc.Error, "size symbol E"):
            k(self.q, self.k[..., :5], self.v)
        with self.assertRaisesRegex(attnc.Error, "no-such"):
            attnc.load(os.path.join(CACHE, "no-such.so"))

    def test_runtime_only_install(self):
        # The package without its JIT extension (a GPU serving machine has
        # no MLIR): import works, attnc.load works, attnc.compile says why not.
        import shutil
        import subprocess
        import sys
        src = os.path.dirname(attnc.__file__)
        pkg = os.path.join(tempfile.mkdtemp(prefix="attnc-runtime-only-"), "attnc")
        os.makedirs(pkg)
        for f in ("__init__.py", "runtime.py", "torch_op.py", "libattn_runtime.so"):
            shutil.copy(os.path.join(src, f), pkg)
        out = os.path.join(CACHE, "mha_f32_ro.so")
        subprocess.run([os.environ.get("ATTNC", "attnc"), MHA_F32, "--target=cpu",
                        "--emit=so", "-o", out], check=True)
        script = (
            "import attnc, numpy as np\n"
            "k = attnc.load(%r)\n"
            "x = np.ones((1, 1, 3, 2), np.float32)\n"
            "print(k(x, x, x).shape)\n"
            "try:\n    attnc.compile('kernel k() -> () {}')\n"
            "except attnc.Error as e:\n    print('compile:', e)\n" % out)
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env=dict(os.environ, PYTHONPATH=os.path.dirname(pkg)))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("(1, 1, 3, 2)", r.stdout)
        self.assertIn("compile: this attnc has no JIT", r.stdout)

    def test_cache_hit(self):
        a = attnc.compile(MHA_F32, target="cpu", cache_dir=CACHE)
        b = attnc.compile(MHA_F32, target="cpu", cache_dir=CACHE)
        self.assertEqual(a.cache_key, b.cache_key)
        self.assertEqual(b._jit.cache_outcome, "hit")


@unittest.skipIf(torch is None, "torch is not installed")
class Torch(unittest.TestCase):
    def setUp(self):
        g = torch.Generator().manual_seed(3)
        self.q = torch.rand(2, 3, 37, 64, generator=g, dtype=torch.float32) * 2 - 1
        self.k = torch.rand(2, 3, 53, 64, generator=g, dtype=torch.float32) * 2 - 1
        self.v = torch.rand(2, 3, 53, 64, generator=g, dtype=torch.float32) * 2 - 1

    def test_bf16_on_cpu_matches_sdpa(self):
        mha = attnc.compile(MHA_BF16, target="cpu", cache_dir=CACHE)
        q, k, v = (x.to(torch.bfloat16) for x in (self.q, self.k, self.v))
        o = mha(q, k, v)
        self.assertEqual(o.dtype, torch.bfloat16)
        self.assertEqual(o.device.type, "cpu")
        want = attention(q.float().numpy(), k.float().numpy(), v.float().numpy())
        self.assertLess(rel_err(o.float().numpy(), want), 2e-2)
        sdpa = torch.nn.functional.scaled_dot_product_attention(q.float(), k.float(), v.float())
        self.assertLess(rel_err(o.float().numpy(), sdpa.double().numpy()), 2e-2)

    def test_f32_outputs_and_errors(self):
        mha = attnc.compile(MHA_F32, target="cpu", cache_dir=CACHE)
        o = mha(self.q, self.k, self.v)
        want = attention(self.q.numpy(), self.k.numpy(), self.v.numpy())
        self.assertLess(rel_err(o.numpy(), want), 1e-5)
        # A transposed view (last dimension not contiguous) is refused, not
        # silently copied.
        with self.assertRaisesRegex(attnc.Error, "argument K"):
            mha(self.q, self.k.transpose(2, 3).contiguous().transpose(2, 3), self.v)
        with self.assertRaisesRegex(attnc.Error, "argument Q"):
            mha(self.q.double(), self.k, self.v)

    def test_custom_op_under_torch_compile(self):
        mha = attnc.compile(MHA_F32, target="cpu", cache_dir=CACHE)
        op = mha.as_torch_op()
        self.assertIs(op, mha.as_torch_op())

        def f(q, k, v):
            return op(q * 0.5, k, v) + 1

        explain = torch._dynamo.explain(f)(self.q, self.k, self.v)
        self.assertEqual(explain.graph_break_count, 0)
        self.assertEqual(explain.graph_count, 1)
        compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
        got = compiled(self.q, self.k, self.v)
        want = attention(self.q.numpy() * 0.5, self.k.numpy(), self.v.numpy()) + 1
        self.assertLess(rel_err(got.numpy(), want), 1e-5)
        # The fake implementation gives shapes without running the kernel.
        from torch._subclasses.fake_tensor import FakeTensorMode
        with FakeTensorMode():
            fq, fk, fv = (torch.empty(x.shape) for x in (self.q, self.k, self.v))
            self.assertEqual(tuple(op(fq, fk, fv).shape), (2, 3, 37, 64))

    @unittest.skipIf(torch is None or not torch.cuda.is_available(), "no CUDA GPU")
    def test_cuda_matches_sdpa(self):
        mha = attnc.compile(MHA_BF16, target="cuda", cache_dir=CACHE)
        q, k, v = (x.to("cuda", torch.bfloat16) for x in (self.q, self.k, self.v))
        o = mha(q, k, v)
        torch.cuda.synchronize()
        sdpa = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        self.assertLess(rel_err(o.float().cpu().numpy(), sdpa.double().cpu().numpy()), 2e-2)


if __name__ == "__main__":
    unittest.main()
