"""The attn runtime's C ABI (runtime/attn_runtime.h) through ctypes.

No third-party imports: bench/gpu.py passes torch tensors' data_ptr(), and
the self-test below runs a CPU kernel on ctypes buffers.

    lib = AttnRuntime("build-gpu/libattn_runtime.so")
    k = lib.load("gpu-bench/mha-d128-s4k/mha.attn.json")
    k.run({"Q": (ptr, ATTN_BF16, shape), ...}, scalars={}, stream=handle)
    k.unload()

Self-test (no GPU; a CPU kernel made by `attnc --target=cpu --emit=so`):

    python3 bench/attn_ctypes.py LIBATTN_RUNTIME.so KERNEL.so
"""
import ctypes
import os
import sys

# attn_status
ATTN_OK = 0
# attn_dtype
ATTN_F16, ATTN_BF16, ATTN_F32, ATTN_F64, ATTN_I32, ATTN_I64, ATTN_BOOL = range(7)
DTYPE_NAMES = ["f16", "bf16", "f32", "f64", "i32", "i64", "bool"]
# attn_device
ATTN_DEVICE_CPU, ATTN_DEVICE_CUDA = 0, 1


class AttnTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("dtype", ctypes.c_int),
        ("rank", ctypes.c_int),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("device", ctypes.c_int),
    ]


class AttnScalarValue(ctypes.Union):
    _fields_ = [("f", ctypes.c_double), ("i", ctypes.c_int64)]


class AttnScalar(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int), ("value", AttnScalarValue)]


class AttnArgInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("is_output", ctypes.c_int),
        ("is_scalar", ctypes.c_int),
        ("dtype", ctypes.c_int),
        ("rank", ctypes.c_int),
        ("dims", ctypes.POINTER(ctypes.c_char_p)),
        ("fill", ctypes.c_char_p),
    ]


class AttnError(RuntimeError):
    pass


class AttnRuntime:
    """libattn_runtime.so (runtime/CMakeLists.txt: attn_runtime_shared)."""

    def __init__(self, path):
        self.path = path
        lib = ctypes.CDLL(path)
        vp, sz, cint = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
        lib.attn_last_error.restype = ctypes.c_char_p
        lib.attn_last_error.argtypes = []
        lib.attn_status_string.restype = ctypes.c_char_p
        lib.attn_status_string.argtypes = [cint]
        lib.attn_load.restype = cint
        lib.attn_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(vp)]
        lib.attn_unload.restype = None
        lib.attn_unload.argtypes = [vp]
        lib.attn_kernel_name.restype = ctypes.c_char_p
        lib.attn_kernel_name.argtypes = [vp]
        lib.attn_kernel_target.restype = ctypes.c_char_p
        lib.attn_kernel_target.argtypes = [vp]
        lib.attn_kernel_device.restype = cint
        lib.attn_kernel_device.argtypes = [vp]
        for f in ("attn_kernel_num_args", "attn_kernel_num_tensors",
                  "attn_kernel_num_scalars"):
            getattr(lib, f).restype = sz
            getattr(lib, f).argtypes = [vp]
        lib.attn_kernel_arg_info.restype = cint
        lib.attn_kernel_arg_info.argtypes = [vp, sz, ctypes.POINTER(AttnArgInfo)]
        lib.attn_run_stream.restype = cint
        lib.attn_run_stream.argtypes = [vp, ctypes.POINTER(AttnTensor), sz,
                                        ctypes.POINTER(AttnScalar), sz, vp]
        self.lib = lib

    def error(self, status, what):
        name = self.lib.attn_status_string(status).decode()
        msg = (self.lib.attn_last_error() or b"").decode(errors="replace")
        return AttnError("%s: %s: %s" % (what, name, msg))

    def load(self, manifest):
        handle = ctypes.c_void_p()
        st = self.lib.attn_load(os.fsencode(manifest), ctypes.byref(handle))
        if st != ATTN_OK:
            raise self.error(st, "attn_load(%s)" % manifest)
        return Kernel(self, handle)


class Kernel:
    """A loaded kernel; run() takes tensors and scalars by argument name."""

    def __init__(self, rt, handle):
        self.rt, self.handle = rt, handle
        lib = rt.lib
        self.name = lib.attn_kernel_name(handle).decode()
        self.target = lib.attn_kernel_target(handle).decode()
        self.device = lib.attn_kernel_device(handle)
        self.args = []
        for i in range(lib.attn_kernel_num_args(handle)):
            info = AttnArgInfo()
            st = lib.attn_kernel_arg_info(handle, i, ctypes.byref(info))
            if st != ATTN_OK:
                raise rt.error(st, "attn_kernel_arg_info(%d)" % i)
            self.args.append(dict(
                name=info.name.decode(), is_output=bool(info.is_output),
                is_scalar=bool(info.is_scalar), dtype=info.dtype,
                rank=info.rank,
                dims=[info.dims[d].decode() for d in range(info.rank)],
                fill=info.fill.decode() if info.fill else None))

    def describe(self):
        return "%s(%s) for %s" % (self.name, ", ".join(
            "%s%s: %s[%s]" % ("-> " if a["is_output"] else "", a["name"],
                              DTYPE_NAMES[a["dtype"]], ", ".join(a["dims"]))
            for a in self.args), self.target)

    def prepare(self, tensors, scalars=None, device=ATTN_DEVICE_CUDA):
        """Builds the descriptor arrays once. `tensors`: name -> (data
        pointer as int, attn dtype, shape); `scalars`: name -> number.
        Returns an object for launch() (it keeps the arrays alive)."""
        scalars = scalars or {}
        tlist, slist, keep = [], [], []
        for a in self.args:
            if a["is_scalar"]:
                if a["name"] not in scalars:
                    raise AttnError("no value for scalar %s of kernel %s" %
                                    (a["name"], self.name))
                s = AttnScalar()
                s.dtype = a["dtype"]
                if a["dtype"] in (ATTN_F16, ATTN_BF16, ATTN_F32, ATTN_F64):
                    s.value.f = float(scalars[a["name"]])
                else:
                    s.value.i = int(scalars[a["name"]])
                slist.append(s)
                continue
            if a["name"] not in tensors:
                raise AttnError("no tensor for argument %s of kernel %s (%s)" %
                                (a["name"], self.name, self.describe()))
            ptr, dtype, shape = tensors[a["name"]]
            shp = (ctypes.c_int64 * max(1, len(shape)))(*shape)
            keep.append(shp)
            t = AttnTensor()
            t.data = ctypes.c_void_p(int(ptr))
            t.dtype = dtype
            t.rank = len(shape)
            t.shape = ctypes.cast(shp, ctypes.POINTER(ctypes.c_int64))
            t.strides = None
            t.device = device
            tlist.append(t)
        tarr = (AttnTensor * max(1, len(tlist)))(*tlist)
        sarr = (AttnScalar * max(1, len(slist)))(*slist)
        return (tarr, len(tlist), sarr, len(slist), keep)

    def launch(self, prepared, stream=None):
        """attn_run_stream on `stream` (an int CUstream handle; 0 or None:
        the default stream; a CPU kernel takes None). Raises AttnError."""
        tarr, nt, sarr, ns, _ = prepared
        st = self.rt.lib.attn_run_stream(
            self.handle, tarr, nt, sarr, ns,
            ctypes.c_void_p(stream) if stream else None)
        if st != ATTN_OK:
            raise self.rt.error(st, "attn_run_stream(%s)" % self.name)

    def unload(self):
        if self.handle:
            self.rt.lib.attn_unload(self.handle)
            self.handle = None


def _selftest(libpath, kernel_path):
    """Runs an f32 mha kernel (B, H, P, E / M, F) on the CPU through ctypes
    and compares with a plain-Python softmax attention."""
    import math
    import random
    rt = AttnRuntime(libpath)
    k = rt.load(kernel_path)
    print("loaded", k.describe(), "device", k.device)
    B, H, P, M, E, F = 1, 2, 5, 7, 4, 3
    random.seed(0)
    def buf(n):
        return (ctypes.c_float * n)(*[random.uniform(-1, 1) for _ in range(n)])
    q, kk, v = buf(B * H * P * E), buf(B * H * M * E), buf(B * H * M * F)
    o = (ctypes.c_float * (B * H * P * F))()
    addr = ctypes.addressof
    prep = k.prepare({"Q": (addr(q), ATTN_F32, [B, H, P, E]),
                      "K": (addr(kk), ATTN_F32, [B, H, M, E]),
                      "V": (addr(v), ATTN_F32, [B, H, M, F]),
                      "O": (addr(o), ATTN_F32, [B, H, P, F])},
                     device=ATTN_DEVICE_CPU)
    k.launch(prep, None)
    err = 0.0
    for b in range(B):
        for h in range(H):
            for p in range(P):
                s = [sum(q[((b * H + h) * P + p) * E + e] *
                         kk[((b * H + h) * M + m) * E + e] for e in range(E)) /
                     math.sqrt(E) for m in range(M)]
                mx = max(s)
                w = [math.exp(x - mx) for x in s]
                den = sum(w)
                for f in range(F):
                    ref = sum(w[m] * v[((b * H + h) * M + m) * F + f]
                              for m in range(M)) / den
                    err = max(err, abs(ref - o[((b * H + h) * P + p) * F + f]))
    # A wrong count is refused with a message, not a crash.
    try:
        k.launch((prep[0], 3, prep[2], 0, prep[4]), None)
        print("FAIL: a run with 3 tensors was accepted")
        return 1
    except AttnError as e:
        print("refused as expected:", e)
    k.unload()
    print("max abs error %.3g: %s" % (err, "ok" if err < 1e-5 else "FAIL"))
    return 0 if err < 1e-5 else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(_selftest(sys.argv[1], sys.argv[2]))
