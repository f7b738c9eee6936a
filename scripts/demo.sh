#!/usr/bin/env bash
# The main job on an example: set up, build attnc, compile the causal
# attention example for the CPU (Halide), run it on random inputs with odd
# sizes, and check it against the float64 reference interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --build build --target attnc -- -j"$(nproc)"
attnc=build/tools/attnc/attnc
ex=examples/causal.attn
sizes=B=2,H=3,P=37,M=41,E=19,F=23
echo "== $ex: passes over each rank (attnc --target=cpu --emit=mlir --remarks)"
"$attnc" "$ex" --target=cpu --emit=mlir --remarks -o /dev/null 2>&1 | grep remark
echo "== compile for the CPU, run on random inputs ($sizes), check against the reference:"
"$attnc" check "$ex" --target=cpu --sizes "$sizes"
echo "== the same through .npy files: attnc inputs, then attnc run --target=cpu"
work=build/demo
rm -rf "$work" && mkdir -p "$work"
flags=$("$attnc" inputs "$ex" --sizes "$sizes" -o "$work" --seed 7)
# shellcheck disable=SC2086
"$attnc" run "$ex" --target=cpu $flags --out O="$work/O.npy"
echo "   wrote $work/O.npy"
