#!/usr/bin/env bash
# The main job on an example: set up, build attnc, compile the causal
# attention example, draw random inputs with odd sizes, run the kernel and
# check its output. Today the runnable target is the float64 reference
# interpreter (--target=ref); the CPU target arrives with codegen/halide.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --build build --target attnc -- -j"$(nproc)"
attnc=build/tools/attnc/attnc
ex=examples/causal.attn
work=build/demo
rm -rf "$work" && mkdir -p "$work"
echo "== $ex, as the attn dialect:"
"$attnc" "$ex" --emit=mlir | head -40
echo "   ..."
echo "== random inputs (B=2 H=3 P=37 M=41 E=19 F=23):"
flags=$("$attnc" inputs "$ex" --sizes B=2,H=3,P=37,M=41,E=19,F=23 -o "$work" --seed 7)
echo "   $flags"
echo "== run:"
# shellcheck disable=SC2086
"$attnc" run "$ex" --target=ref --convert $flags --out O="$work/O.npy"
python3 - "$work/O.npy" <<'PY'
import struct, sys, math
path = sys.argv[1]
raw = open(path, "rb").read()
assert raw[:6] == b"\x93NUMPY", "not a .npy file"
hlen = struct.unpack("<H", raw[8:10])[0]
header = raw[10:10 + hlen].decode()
data = raw[10 + hlen:]
fmt = {"<f2": "e", "<f4": "f", "<f8": "d"}[eval(header)["descr"]]
n = len(data) // struct.calcsize(fmt)
vals = struct.unpack("<%d%s" % (n, fmt), data)
bad = [v for v in vals if not math.isfinite(v)]
print("   O.npy:", header.strip(), "|", n, "values, |max| = %.4f" % max(abs(v) for v in vals))
if bad or n == 0:
    sys.exit("demo: the output has non-finite values")
print("== ok: every output finite; rows are convex combinations of V (|O| <= max|V| <= 1):",
      all(abs(v) <= 1.0 + 1e-2 for v in vals))
PY
