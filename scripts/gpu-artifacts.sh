#!/usr/bin/env bash
# The build-machine half of the GPU check: makes the cases that
# scripts/gpu-check.sh runs on the GPU machine, one directory each,
#
#   gpu-artifacts/<example>-<sizes>/
#     <kernel>.attn.json <kernel>.ptx   attnc FILE --target=cuda:sm_90a --emit=bundle -o DIR
#     inputs/<arg>.npy scalars.txt      attnc inputs FILE --sizes ... -o DIR/inputs
#     expected/<out>.npy                attnc run FILE --target=ref (float64 reference)
#   gpu-artifacts/<example>-bench/      timing only: bundle + sizes.txt (the
#                                       harness draws the inputs there)
#
# for every kernel of every examples/*.attn and of the kernels below that the
# examples lack (KERNEL_FILES: the scans), at four checked size sets
# (small: odd sizes, every edge; tile: several tiles of 64 with partial ones,
# head dimension 64; wide: head dimension 128; empty: no keys, M = 0) and
# one timing size set; and for HEADDIM_EXAMPLES, head dimensions the fused
# launch pads to its variants (d32, d72, d80: E = F; ef, fe: E != F). The
# directory is ignored by git: carry it to the GPU machine (device tool:
# carry ["gpu-artifacts"]; < 64 MiB).
#
#   scripts/gpu-artifacts.sh [OUT_DIR]       (default gpu-artifacts)
#   ATTN_GPU_EXAMPLES="mha causal"  (only these examples; default all)
#   ATTN_GPU_SETS="d80 ef"          (only these size sets; default all)
#   ATTNC=path/to/attnc  (default build/tools/attnc/attnc)
#   ATTN_GPU_TARGET=cuda:sm_90a
#   ATTNC_FLAGS="--cuda-wgmma=false"  (more attnc flags for the bundles, e.g. --cuda-wgmma=false for the mma.sync launch)
#
# A kernel attnc cannot compile for CUDA stops the script, saying which.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-gpu-artifacts}
ATTNC=${ATTNC:-build/tools/attnc/attnc}
TARGET=${ATTN_GPU_TARGET:-cuda:sm_90a}
ATTNC_FLAGS=${ATTNC_FLAGS:-}   # more code generation flags, e.g. --cuda-wgmma=false, --cuda-wgmma-overlap

# Sizes per symbol (consistent with the examples: H = 4 * KVH for gqa's
# G = 4, R = P + M - 1 for relative_bias, PB and MB cover P and M in
# block_sparse's blocks of 16, Page/Len tables drawn in [0, 4) by `attnc
# inputs` stay inside NP pages and NB * PS positions).
# N is the scans' one sequence length (queries and keys), T their scanned
# axis.
SIZES_small="B=2,H=4,KVH=1,P=13,M=11,N=13,T=9,E=8,F=6,R=23,PS=4,NB=3,NP=7,PB=1,MB=1"
SIZES_tile="B=1,H=4,KVH=1,P=130,M=200,N=130,T=131,E=64,F=64,R=329,PS=16,NB=13,NP=20,PB=9,MB=13"
# head dimension 128 (the fused launch's other variant), odd P and M
SIZES_wide="B=1,H=2,KVH=1,P=77,M=150,N=77,T=77,E=128,F=128,R=226,PS=16,NB=10,NP=16,PB=5,MB=10"
SIZES_bench="B=4,H=16,KVH=4,P=2048,M=2048,N=2048,T=2048,E=128,F=128,R=4095,PS=64,NB=32,NP=128,PB=128,MB=128"
# no keys (M = 0): every output point is absent and takes the fill value
SIZES_empty="B=2,H=4,KVH=1,P=13,M=0,N=0,T=0,E=64,F=64,R=12,PS=4,NB=3,NP=7,PB=1,MB=1"
# Head dimensions between the fused launch's variants (32, 64, 96, 128),
# the columns past E and F zero-filled and not stored: 32 (a variant), 72
# (an odd multiple of 8, on 96), 80 (on 96), and E != F both ways, with
# partial query and key tiles. Only for these examples (mha, a causal mask,
# a window mask).
HEADDIM_EXAMPLES="mha causal sliding_window"
SIZES_d32="B=2,H=4,KVH=1,P=67,M=45,N=67,T=67,E=32,F=32,R=111,PS=4,NB=12,NP=16,PB=5,MB=3"
SIZES_d72="B=1,H=4,KVH=1,P=130,M=200,N=130,T=131,E=72,F=72,R=329,PS=16,NB=13,NP=20,PB=9,MB=13"
SIZES_d80="B=1,H=2,KVH=1,P=77,M=150,N=77,T=77,E=80,F=80,R=226,PS=16,NB=10,NP=16,PB=5,MB=10"
SIZES_ef="B=1,H=2,KVH=1,P=77,M=150,N=77,T=77,E=80,F=48,R=226,PS=16,NB=10,NP=16,PB=5,MB=10"
SIZES_fe="B=1,H=2,KVH=1,P=77,M=150,N=77,T=77,E=40,F=72,R=226,PS=16,NB=10,NP=16,PB=5,MB=10"
# Kernels beyond examples/: the scans (cumulative sums and products, FoX,
# stick-breaking).
KERNEL_FILES="test/Tools/Inputs/scans.attn"

die() { echo "gpu-artifacts: $*" >&2; exit 1; }
[ -x "$ATTNC" ] || die "no attnc at $ATTNC (build it: ninja -C build attnc, or set ATTNC)"
command -v python3 >/dev/null || die "python3 is needed to read the manifests"

# A manifest's outputs, one name a line.
outputs_of() {
  python3 -c 'import json, sys
for a in json.load(open(sys.argv[1]))["arguments"]:
    if a["role"] == "output": print(a["name"])' "$1"
}

# table_faults FILE KERNEL CASE_DIR: for each integer tensor input of the
# case (a page table, a layout, lengths), cases <CASE_DIR>-far-<arg> and
# <CASE_DIR>-neg-<arg> with every element of it set to 1000000 and to -7. Where the reference refuses that (an
# out-of-range read through the table), the GPU run must fail naming the
# tensor read (expect_error.txt); where it does not (a length, a mask), its
# outputs are the reference again.
table_faults() {
  local file=$1 kernel=$2 dir=$3 arg far flags o msg value
  for value in 1000000 -7; do
  for arg in $(python3 -c 'import json, sys
for a in json.load(open(sys.argv[1]))["arguments"]:
    if a["role"] == "input" and a["kind"] == "tensor" and a["dtype"] in ("i32", "i64"):
        print(a["name"])' "$dir/$kernel.attn.json"); do
    far="$dir-far-$arg"
    [ "$value" -lt 0 ] && far="$dir-neg-$arg"
    rm -rf "$far" && cp -r "$dir" "$far" && rm -rf "$far/expected"
    python3 - "$far/inputs/$arg.npy" "$value" <<'PY' || die "cannot rewrite $far/inputs/$arg.npy"
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
v1 = b[6] == 1
start = (10 if v1 else 12) + struct.unpack("<H" if v1 else "<I", b[8:10] if v1 else b[8:12])[0]
code = "<i" if "<i4" in b[:start].decode("latin1") else "<q"
n = struct.calcsize(code)
for o in range(start, len(b), n):
    b[o:o + n] = struct.pack(code, int(sys.argv[2]))
open(sys.argv[1], "wb").write(b)
PY
    flags=()
    for f in "$far"/inputs/*.npy; do flags+=(--in "$(basename "$f" .npy)=$f"); done
    while IFS= read -r line; do [ -n "$line" ] && flags+=("$line"); done < "$far/scalars.txt"
    mkdir -p "$far/expected"
    o=()
    for out in $(outputs_of "$far/$kernel.attn.json"); do o+=(--out "$out=$far/expected/$out.npy"); done
    if ! msg=$("$ATTNC" run "$file" --kernel "$kernel" --target=ref --convert "${flags[@]}" "${o[@]}" 2>&1); then
      rm -rf "$far/expected"
      msg=$(echo "$msg" | grep -o 'out-of-range read of [A-Za-z0-9_]*' | head -1)
      [ -n "$msg" ] || die "the reference refused $far for another reason than a table read"
      echo "$msg" > "$far/expect_error.txt"
    fi
    count=$((count + 1))
  done
  done
}

rm -rf "$OUT"
mkdir -p "$OUT"
# The commit the artefacts were made from (.git may not travel with them).
git rev-parse --short HEAD > "$OUT/COMMIT" 2>/dev/null || echo '?' > "$OUT/COMMIT"
git diff --quiet HEAD 2>/dev/null || echo "dirty" >> "$OUT/COMMIT"
bundle=$(mktemp -d)
trap 'rm -rf "$bundle"' EXIT
count=0
# shellcheck disable=SC2086 # KERNEL_FILES: several paths
for file in examples/*.attn $KERNEL_FILES; do
  example=$(basename "$file" .attn)
  if [ -n "${ATTN_GPU_EXAMPLES:-}" ] && [[ " $ATTN_GPU_EXAMPLES " != *" $example "* ]]; then
    continue
  fi
  sets="small tile wide empty bench"
  [[ " $HEADDIM_EXAMPLES " == *" $example "* ]] && sets="$sets d32 d72 d80 ef fe"
  rm -rf "$bundle"/*
  # shellcheck disable=SC2086 # ATTNC_FLAGS: several flags (e.g. --cuda-wgmma)
  if ! msg=$("$ATTNC" "$file" --target="$TARGET" $ATTNC_FLAGS --emit=bundle -o "$bundle" 2>&1); then
    die "attnc cannot emit a CUDA bundle for $file yet:
  $ATTNC $file --target=$TARGET --emit=bundle -o DIR
  said: $msg
(the CUDA code generator is not there yet: nothing to carry to the GPU; the
runtime's own hand-written cases in test/Runtime/cuda/cases still run there)"
  fi
  for manifest in "$bundle"/*.attn.json; do
    [ -e "$manifest" ] || die "attnc wrote no manifest (*.attn.json) for $file into $bundle"
    kernel=$(basename "$manifest" .attn.json)
    [ -e "$bundle/$kernel.ptx" ] || die "attnc wrote $manifest but no $kernel.ptx"
    for set in $sets; do
      if [ -n "${ATTN_GPU_SETS:-}" ] && [[ " $ATTN_GPU_SETS " != *" $set "* ]]; then
        continue
      fi
      sizes_var="SIZES_$set"
      sizes=${!sizes_var}
      case_dir="$OUT/$example-$kernel-$set"
      [ "$example" = "$kernel" ] && case_dir="$OUT/$example-$set"
      mkdir -p "$case_dir"
      cp "$manifest" "$bundle/$kernel.ptx" "$case_dir/"
      if [ "$set" = bench ]; then
        echo "$sizes" > "$case_dir/sizes.txt"
        continue
      fi
      # Random inputs; `attnc inputs` prints the --in flags (scalars as =1).
      flags=$("$ATTNC" inputs "$file" --kernel "$kernel" --sizes "$sizes" \
              -o "$case_dir/inputs") || die "attnc inputs failed for $file ($set)"
      : > "$case_dir/scalars.txt"
      for flag in $flags; do
        case "$flag" in
          --in) ;;
          *.npy) ;;
          *=*) echo "$flag" >> "$case_dir/scalars.txt" ;;
        esac
      done
      # The float64 reference interpreter's outputs (bf16 written as f32).
      mkdir -p "$case_dir/expected"
      out_flags=()
      for o in $(outputs_of "$manifest"); do
        out_flags+=(--out "$o=$case_dir/expected/$o.npy")
      done
      "$ATTNC" run "$file" --kernel "$kernel" --target=ref --convert $flags \
        "${out_flags[@]}" || die "the reference run failed for $file ($set)"
      count=$((count + 1))
      [ "$set" = small ] && table_faults "$file" "$kernel" "$case_dir"
    done
  done
done
echo "gpu-artifacts: $count checked cases (and timing cases) in $OUT ($(du -sh "$OUT" | cut -f1))"
