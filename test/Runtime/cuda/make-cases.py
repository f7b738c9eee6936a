#!/usr/bin/env python3
"""Makes the runtime's hand-written CUDA test cases under cases/ (checked in):
compiles each *.mlir here to PTX with mlir-opt (MLIR's GPU/NVVM path, sm_90a),
writes the manifest that the CUDA code generator would write for it, random
inputs and the expected outputs (.npy, no NumPy needed), in the layout that
runtime/tools/attn-gpu-run and scripts/gpu-check.sh read:

  cases/<case>/<kernel>.attn.json  <kernel>.ptx  inputs/<arg>.npy
               scalars.txt (NAME=VALUE lines)  expected/<out>.npy
               expect_error.txt (a case that must fail with this message)

Usage: make-cases.py            regenerate every case (needs mlir-opt)
       make-cases.py --ptx K    print the PTX of K.mlir (the lit tests diff it)
"""
import json
import os
import random
import re
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MLIR_OPT = os.environ.get("MLIR_OPT", "/usr/lib/llvm-22/bin/mlir-opt")
PIPELINE = ("builtin.module(nvvm-attach-target{chip=sm_90a features=+ptx80 O=3},"
            "gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,"
            "reconcile-unrealized-casts),gpu-module-to-binary{format=isa})")


def ptx(kernel):
    """The PTX of KERNEL.mlir: the assembly string of its gpu.binary."""
    out = subprocess.run([MLIR_OPT, os.path.join(HERE, kernel + ".mlir"),
                          "--pass-pipeline=" + PIPELINE],
                         check=True, capture_output=True, text=True).stdout
    m = re.search(r'assembly = "((?:[^"\\]|\\.)*)"', out)
    if not m:
        sys.exit("make-cases.py: no assembly in mlir-opt's output for " + kernel)
    # MLIR escapes non-printable bytes, '"' and '\' as \XX (hex).
    return re.sub(r"\\([0-9A-Fa-f]{2})", lambda h: chr(int(h.group(1), 16)),
                  m.group(1))


def write_npy(path, descr, shape, values):
    fmt = {"<f4": "f", "<i4": "i"}[descr]
    dims = ", ".join("%d" % d for d in shape) + ("," if len(shape) == 1 else "")
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, dims)
    pad = 64 - (10 + len(header) + 1) % 64
    header += " " * pad + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)))
        f.write(header.encode("latin1"))
        f.write(struct.pack("<%d%s" % (len(values), fmt), *values))


def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def manifest(kernel, arguments, launches, errors=None):
    m = {
        "format": "attn-kernel-manifest",
        "format_version": 1,
        "compiler": "hand-written test case (test/Runtime/cuda/make-cases.py)",
        "kernel": kernel,
        "target": "cuda:sm_90a",
        "ptx": kernel + ".ptx",
        "calling_convention": "cuda_kernel_params",
        "arguments": arguments,
        "launches": launches,
    }
    if errors:
        m["errors"] = errors
    # One field a line, one argument / launch / error a line (as HalideAot).
    lines = []
    for key, value in m.items():
        if isinstance(value, list):
            items = ",\n".join("    " + json.dumps(v) for v in value)
            lines.append('  "%s": [\n%s\n  ]' % (key, items))
        else:
            lines.append('  "%s": %s' % (key, json.dumps(value)))
    return "{\n" + ",\n".join(lines) + "\n}\n"


def tensor(name, dtype, dims, output=False):
    return {"name": name, "role": "output" if output else "input",
            "kind": "tensor", "dtype": dtype, "dims": dims}


def scalar(name, dtype):
    return {"name": name, "role": "input", "kind": "scalar", "dtype": dtype}


def write_case(case, kernel, text, inputs, expected, scalars=None, error=None):
    d = os.path.join(HERE, "cases", case)
    os.makedirs(os.path.join(d, "inputs"), exist_ok=True)
    with open(os.path.join(d, kernel + ".ptx"), "w") as f:
        f.write(ptx(kernel))
    with open(os.path.join(d, kernel + ".attn.json"), "w") as f:
        f.write(text)
    for name, (descr, shape, values) in inputs.items():
        write_npy(os.path.join(d, "inputs", name + ".npy"), descr, shape, values)
    if expected:
        os.makedirs(os.path.join(d, "expected"), exist_ok=True)
        for name, (descr, shape, values) in expected.items():
            write_npy(os.path.join(d, "expected", name + ".npy"), descr, shape,
                      values)
    if scalars:
        with open(os.path.join(d, "scalars.txt"), "w") as f:
            f.writelines("%s=%s\n" % kv for kv in scalars.items())
    if error:
        with open(os.path.join(d, "expect_error.txt"), "w") as f:
            f.write(error + "\n")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--ptx":
        sys.stdout.write(ptx(sys.argv[2]))
        return
    rng = random.Random(20240601)
    # Values k/64, |k| < 64: exact in bf16 and f32.
    draw = lambda n: [rng.randrange(-64, 64) / 64 for _ in range(n)]

    # add_f32: Z = X + scale * Y, [N, 4], N odd (the last block is partial).
    n, scale = 1001, 0.5
    x, y = draw(n * 4), draw(n * 4)
    write_case(
        "add_f32", "add_f32",
        manifest("add_f32",
                 [tensor("X", "f32", ["N", 4]), tensor("Y", "f32", ["N", 4]),
                  scalar("scale", "f32"), tensor("Z", "f32", ["N", 4], True)],
                 [{"entry": "attn_add_f32", "grid": ["ceildiv(N * 4, 128)"],
                   "block": [128], "shared_bytes": 0,
                   "params": ["X", "Y", "Z", "scale", "i64:N"]}]),
        {"X": ("<f4", [n, 4], x), "Y": ("<f4", [n, 4], y)},
        {"Z": ("<f4", [n, 4], [f32(a + scale * b) for a, b in zip(x, y)])},
        {"scale": scale})

    # add_bf16: the same in bf16 on a 2-D grid, sizes as i32 parameters.
    r, c, scale = 37, 300, -1.25
    x, y = draw(r * c), draw(r * c)
    write_case(
        "add_bf16", "add_bf16",
        manifest("add_bf16",
                 [tensor("X", "bf16", ["R", "C"]), tensor("Y", "bf16", ["R", "C"]),
                  scalar("scale", "f32"), tensor("Z", "bf16", ["R", "C"], True)],
                 [{"entry": "attn_add_bf16",
                   "grid": ["ceildiv(C, 16)", "ceildiv(R, 16)", 1],
                   "block": [16, 16, 1],
                   "params": ["X", "Y", "Z", "scale", "i32:R", "i32:C"]}]),
        {"X": ("<f4", [r, c], x), "Y": ("<f4", [r, c], y)},
        {"Z": ("<f4", [r, c], [f32(a + scale * b) for a, b in zip(x, y)])},
        {"scale": scale})

    # gather: O[b, n, e] = X[b, I[b, n], e], with the error code for an index
    # out of range; gather_oob has one, and must fail with the message.
    b, m, e, n = 2, 50, 33, 77
    x = draw(b * m * e)
    idx = [rng.randrange(0, m) for _ in range(b * n)]
    text = manifest(
        "gather",
        [tensor("X", "f32", ["B", "M", "E"]), tensor("I", "i32", ["B", "N"]),
         tensor("O", "f32", ["B", "N", "E"], True)],
        [{"entry": "attn_gather", "grid": ["ceildiv(N * E, 128)", "B"],
          "block": [128],
          "params": ["X", "I", "O", "error_code", "i64:M", "i64:N", "i64:E"]}],
        [{"what": "out-of-range read of X", "argument": 0, "dimension": 1,
          "where": "by the gather test kernel (test/Runtime/cuda/gather.mlir)"}])
    out = [x[(bb * m + idx[bb * n + nn]) * e + ee]
           for bb in range(b) for nn in range(n) for ee in range(e)]
    write_case("gather", "gather", text,
               {"X": ("<f4", [b, m, e], x), "I": ("<i4", [b, n], idx)},
               {"O": ("<f4", [b, n, e], out)})
    bad = list(idx)
    bad[n + 5] = m
    write_case("gather_oob", "gather", text,
               {"X": ("<f4", [b, m, e], x), "I": ("<i4", [b, n], bad)}, None,
               error="out-of-range read of X: dimension 1 has extent 50")


if __name__ == "__main__":
    main()
