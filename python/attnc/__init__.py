"""attnc from Python: compile an attention variant written in the attn
language and call it on torch tensors (CPU or CUDA) or NumPy arrays, without
copies. See docs/python.md.

    import attnc, torch
    mha = attnc.compile("examples/mha.attn", target="cpu")
    o = mha(q, k, v)                      # torch tensors in, torch tensor out
    op = mha.as_torch_op()                # a torch.library op with a fake
    torch.compile(lambda q, k, v: op(q, k, v))(q, k, v)   # no graph break
"""
import os

try:
    # The JIT (links MLIR): absent where only the runtime was installed.
    from ._attnc import Error
    from ._attnc import compile as _compile
except ImportError as e:
    _compile, _jit_missing = None, str(e)

    class Error(RuntimeError):
        """An attnc error (the runtime's message)."""

__all__ = ["compile", "load", "Kernel", "Error"]

# runtime/attn_runtime.h's attn_dtype and attn_device.
_DTYPES = {"f16": 0, "bf16": 1, "f32": 2, "f64": 3, "i32": 4, "i64": 5, "bool": 6}
_CPU, _CUDA = 0, 1


def compile(source_or_path, target="cpu", params=None, binds=None, kernel=None,
            cache_dir=None, use_cache=True):
    """Compiles a kernel (the source text, or a path to a .attn file) for
    `target` ("cpu", "ref", "cuda" or "cuda:sm_90a" and the like) through the
    JIT's on-disk cache. `params` overrides params (NAME -> value), `binds`
    fixes size symbols at compile time (NAME -> int), `kernel` picks one
    kernel of a file that has several. Raises attnc.Error with the
    compiler's diagnostics (file:line:col: error: ...)."""
    if _compile is None:
        raise Error("this attnc has no JIT (" + _jit_missing + "): load "
                    "kernels compiled elsewhere with attnc.load")
    source, name = source_or_path, "<source>"
    if "{" not in source_or_path and os.path.exists(source_or_path):
        name = os.fspath(source_or_path)
        with open(name) as f:
            source = f.read()
    params = {k: str(v) for k, v in (params or {}).items()}
    binds = {k: int(v) for k, v in (binds or {}).items()}
    return Kernel(_compile(source, name, target, params, binds, kernel or "",
                           cache_dir or "", use_cache))


def load(path):
    """A kernel compiled ahead of time (`attnc --emit=so` for the CPU,
    `attnc --emit=bundle` for CUDA): its manifest NAME.attn.json, or its
    .so/.ptx beside it, loaded by the runtime alone (no compiler needed).
    Called like attnc.compile's kernels."""
    from .runtime import RuntimeKernel
    return Kernel(RuntimeKernel(path, Error))


def _torch():
    import sys
    return sys.modules.get("torch")


class Kernel:
    """A compiled kernel: call it with one argument per declared input
    (tensors, then scalars where the kernel declares them) and get its
    output (or a tuple of outputs). Tensors stay where they are: torch
    tensors (CPU for "cpu", CUDA for "cuda"; the current CUDA stream is
    used) or NumPy arrays (CPU). Every argument is checked first, with the
    same messages as the C++ API."""

    def __init__(self, jit):
        self._jit = jit
        self.name = jit.name
        self.target = jit.target
        self.inputs = jit.inputs
        self.outputs = jit.outputs
        self.cache_key = jit.cache_key
        self._op = None
        self._shapes = {}

    def __repr__(self):
        return "attnc.Kernel(%s, target=%s)" % (self.name, self.target)

    # -- arguments ---------------------------------------------------------
    def _describe(self, args):
        if len(args) != len(self.inputs):
            raise Error("kernel %s takes %d arguments (%s), got %d" % (
                self.name, len(self.inputs),
                ", ".join(i["name"] for i in self.inputs), len(args)))
        tensors, scalars, kind = [], [], None
        for info, a in zip(self.inputs, args):
            if info["is_scalar"]:
                code = _DTYPES[info["dtype"]]
                scalars.append((code, float(a), int(a)
                                if info["dtype"] in ("i32", "i64", "bool") else 0))
                continue
            desc, k = _tensor_desc(info["name"], a)
            if kind is not None and k != kind:
                raise Error("argument %s is a %s tensor, the others are %s" % (
                    info["name"], k, kind))
            kind = k
            tensors.append(desc)
        return tensors, scalars, kind

    def output_shapes(self, *args):
        tensors, scalars, _ = self._describe(args)
        return [tuple(s) for s in self._jit.output_shapes(tensors, scalars)]

    def __call__(self, *args):
        if self.target == "ref":
            raise Error("kernel %s has target ref: call it through the C++ API "
                        "or compile it for cpu" % self.name)
        tensors, scalars, kind = self._describe(args)
        # Output shapes are a function of the input shapes and scalars.
        key = (tuple(tuple(t[2]) for t in tensors), tuple(scalars))
        shapes = self._shapes.get(key)
        if shapes is None:
            shapes = self._jit.output_shapes(tensors, scalars)
            if len(self._shapes) < 64:
                self._shapes[key] = shapes
        first = next(a for a, i in zip(args, self.inputs) if not i["is_scalar"])
        outs = [_empty_like_kind(kind, first, shape, info["dtype"])
                for shape, info in zip(shapes, self.outputs)]
        descs = tensors + [_tensor_desc(info["name"], o)[0]
                           for info, o in zip(self.outputs, outs)]
        stream = 0
        if kind == "torch" and first.is_cuda:
            stream = _torch().cuda.current_stream(first.device).cuda_stream
        self._jit.run(descs, scalars, stream)
        return outs[0] if len(outs) == 1 else tuple(outs)

    # -- torch.library -----------------------------------------------------
    def as_torch_op(self):
        """This kernel as a torch.library custom op `attnc::<name>_<key>`
        (CPU and CUDA implementations, and a fake one for torch.compile that
        computes the output shapes from the size symbols), returned as a
        callable: torch.ops.attnc.<name>_<key>."""
        if self._op is not None:
            return self._op
        from . import torch_op
        self._op = torch_op.register(self)
        return self._op


def _tensor_desc(name, a):
    """(pointer, dtype, shape, strides, device) of a torch tensor or a NumPy
    array, and which it is."""
    torch = _torch()
    if torch is not None and isinstance(a, torch.Tensor):
        code = _TORCH_DTYPES().get(a.dtype)
        if code is None:
            raise Error("argument %s has dtype %s, which attnc has no "
                        "element type for" % (name, a.dtype))
        device = a.device.type
        if device not in ("cpu", "cuda"):
            raise Error("argument %s is on %s: attnc runs on cpu and cuda "
                        "tensors" % (name, a.device))
        strides = [] if a.is_contiguous() else list(a.stride())
        return (a.data_ptr(), code, list(a.shape), strides,
                _CUDA if device == "cuda" else _CPU), "torch"
    codes = _numpy_codes()
    if codes is not None and isinstance(a, codes[0]):
        code = codes[1].get(a.dtype)
        if code is None:
            raise Error("argument %s has NumPy dtype %s, which attnc has no "
                        "element type for" % (name, a.dtype))
        if a.flags.c_contiguous:
            strides = []
        else:
            size = a.itemsize
            if any(s % size for s in a.strides):
                raise Error("argument %s has strides that are not whole "
                            "elements" % name)
            strides = [s // size for s in a.strides]
        return (a.ctypes.data, code, list(a.shape), strides, _CPU), "numpy"
    raise Error("argument %s must be a torch tensor or a NumPy array, not %s"
                % (name, type(a).__name__))


_NUMPY = []


def _numpy_codes():
    """(numpy.ndarray, {dtype: attn_dtype}), or None without NumPy."""
    if not _NUMPY:
        try:
            import numpy as np
            _NUMPY.append((np.ndarray, {
                np.dtype("float16"): 0, np.dtype("float32"): 2,
                np.dtype("float64"): 3, np.dtype("int32"): 4,
                np.dtype("int64"): 5, np.dtype("bool"): 6}))
        except ImportError:
            _NUMPY.append(None)
    return _NUMPY[0]


_TORCH_CODES = {}


def _TORCH_DTYPES():
    if not _TORCH_CODES:
        torch = _torch()
        _TORCH_CODES.update({torch.float16: 0, torch.bfloat16: 1,
                             torch.float32: 2, torch.float64: 3,
                             torch.int32: 4, torch.int64: 5, torch.bool: 6})
    return _TORCH_CODES


def _empty_like_kind(kind, first, shape, dtype):
    if kind == "torch":
        torch = _torch()
        inverse = {v: k for k, v in _TORCH_DTYPES().items()}
        return torch.empty(tuple(shape), dtype=inverse[_DTYPES[dtype]],
                           device=first.device)
    import numpy as np
    if dtype == "bf16":
        raise Error("output has dtype bf16, which NumPy lacks: call the "
                    "kernel with torch tensors")
    return np.empty(tuple(shape), dtype={"f16": np.float16, "f32": np.float32,
                                          "f64": np.float64, "i32": np.int32,
                                          "i64": np.int64, "bool": np.bool_}[dtype])
