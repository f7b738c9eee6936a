"""Kernels compiled ahead of time, loaded by the runtime alone
(libattn_runtime.so through ctypes; no MLIR, no compiler): a CPU shared
object from `attnc --emit=so`, or a CUDA bundle from `attnc --emit=bundle`,
e.g. on a GPU machine that serves kernels compiled elsewhere.

    k = attnc.load("bundle/mha.attn.json")   # a manifest, .so or .ptx
    o = k(q, k_, v)                           # as attnc.compile's kernels
"""
import ctypes
import hashlib
import os


class _Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int),
                ("rank", ctypes.c_int), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("device", ctypes.c_int)]


class _Scalar(ctypes.Structure):
    class _Value(ctypes.Union):
        _fields_ = [("f", ctypes.c_double), ("i", ctypes.c_int64)]
    _fields_ = [("dtype", ctypes.c_int), ("value", _Value)]


class _ArgInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("is_output", ctypes.c_int),
                ("is_scalar", ctypes.c_int), ("dtype", ctypes.c_int),
                ("rank", ctypes.c_int), ("dims", ctypes.POINTER(ctypes.c_char_p)),
                ("fill", ctypes.c_char_p)]


_NAMES = ["f16", "bf16", "f32", "f64", "i32", "i64", "bool"]
_LIB = []


def _library():
    """libattn_runtime.so: $ATTN_RUNTIME_LIBRARY, else the one beside this
    package (the build and `cmake --install` put it there)."""
    if not _LIB:
        path = os.environ.get("ATTN_RUNTIME_LIBRARY") or os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "libattn_runtime.so")
        lib = ctypes.CDLL(path)
        lib.attn_last_error.restype = ctypes.c_char_p
        lib.attn_kernel_name.restype = ctypes.c_char_p
        lib.attn_kernel_target.restype = ctypes.c_char_p
        lib.attn_kernel_num_args.restype = ctypes.c_size_t
        lib.attn_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
        for f in ("attn_kernel_name", "attn_kernel_target", "attn_kernel_num_args",
                  "attn_unload"):
            getattr(lib, f).argtypes = [ctypes.c_void_p]
        lib.attn_kernel_arg_info.argtypes = [ctypes.c_void_p, ctypes.c_size_t,
                                             ctypes.POINTER(_ArgInfo)]
        lib.attn_run_stream.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Tensor),
                                        ctypes.c_size_t, ctypes.POINTER(_Scalar),
                                        ctypes.c_size_t, ctypes.c_void_p]
        _LIB.append(lib)
    return _LIB[0]


class RuntimeKernel:
    """The interface attnc.Kernel drives (as the JIT's kernels), over the
    runtime's C ABI."""

    def __init__(self, path, error):
        lib = _library()
        handle = ctypes.c_void_p()
        if lib.attn_load(os.fspath(path).encode(), ctypes.byref(handle)) != 0:
            raise error(lib.attn_last_error().decode())
        self._lib, self._handle, self._error = lib, handle, error
        self.name = lib.attn_kernel_name(handle).decode()
        self.target = lib.attn_kernel_target(handle).decode()
        self.cache_key = "aot" + hashlib.sha256(
            os.path.abspath(path).encode()).hexdigest()[:16]
        self.inputs, self.outputs = [], []
        for i in range(lib.attn_kernel_num_args(handle)):
            a = _ArgInfo()
            lib.attn_kernel_arg_info(handle, i, ctypes.byref(a))
            info = {"name": a.name.decode(), "dtype": _NAMES[a.dtype],
                    "dims": [a.dims[d].decode() for d in range(a.rank)],
                    "is_scalar": bool(a.is_scalar)}
            (self.outputs if a.is_output else self.inputs).append(info)

    def __del__(self):
        if getattr(self, "_handle", None):
            self._lib.attn_unload(self._handle)

    def output_shapes(self, tensors, scalars):
        """Each output dimension: a literal, or a size symbol an input binds
        (a tensor's extent, an integer scalar)."""
        symbols, t, s = {}, iter(tensors), iter(scalars)
        for info in self.inputs:
            if info["is_scalar"]:
                dtype, _, value = next(s)
                if info["dtype"] in ("i32", "i64"):
                    symbols.setdefault(info["name"], value)
                continue
            shape = next(t)[2]
            if len(shape) != len(info["dims"]):
                raise self._error("argument %s must have rank %d, got rank %d" % (
                    info["name"], len(info["dims"]), len(shape)))
            for d, e in zip(info["dims"], shape):
                symbols.setdefault(d, e)
        return [[int(d) if d.isdigit() else symbols[d] for d in o["dims"]]
                for o in self.outputs]

    def run(self, tensors, scalars, stream):
        keep = []
        ts = (_Tensor * max(len(tensors), 1))()
        for i, (ptr, dtype, shape, strides, device) in enumerate(tensors):
            sh = (ctypes.c_int64 * max(len(shape), 1))(*shape)
            st = (ctypes.c_int64 * len(strides))(*strides) if strides else None
            keep += [sh, st]
            ts[i] = _Tensor(ptr, dtype, len(shape), sh, st, device)
        ss = (_Scalar * max(len(scalars), 1))()
        for i, (dtype, f, n) in enumerate(scalars):
            ss[i].dtype = dtype
            if dtype in (4, 5, 6):
                ss[i].value.i = n
            else:
                ss[i].value.f = f
        if self._lib.attn_run_stream(self._handle, ts, len(tensors), ss, len(scalars),
                                     ctypes.c_void_p(stream or None)) != 0:
            raise self._error(self._lib.attn_last_error().decode())
