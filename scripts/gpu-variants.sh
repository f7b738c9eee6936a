#!/usr/bin/env bash
# Opt-in code generation flags, checked and timed on the GPU beside the
# default in one run: for each LABEL=FLAGS of ATTN_GPU_VARIANTS (separated
# by ';'), this builds
#   gpu-variants/LABEL/FLAGS                 the flags
#   gpu-variants/LABEL/bundles/K.attn.json, K.ptx
#       every kernel K of examples/*.attn and of gpu-artifacts.sh's extra
#       kernels, compiled with FLAGS (scripts/gpu-check.sh reruns each
#       checked case of gpu-artifacts/ whose PTX these change, on the same
#       inputs and expected outputs, and sanitizes the first)
#   gpu-variants/LABEL/bench/                scripts/gpu-bench-artifacts.sh
#       with FLAGS (gpu-check.sh's benchmark times them as attnc-LABEL)
#
#   scripts/gpu-variants.sh [OUT_DIR]        (default gpu-variants)
#   ATTN_GPU_VARIANTS="overlap=--cuda-wgmma-overlap;wg2=--cuda-wgmma-warpgroups=2"
#
# scripts/gpu-pack.sh runs it (with the default list below) and packs the
# result.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-gpu-variants}
ATTNC=${ATTNC:-build/tools/attnc/attnc}
TARGET=${ATTN_GPU_TARGET:-cuda:sm_90a}
VARIANTS=${ATTN_GPU_VARIANTS-"overlap=--cuda-wgmma-overlap;wg2=--cuda-wgmma-warpgroups=2;wg2overlap=--cuda-wgmma-warpgroups=2 --cuda-wgmma-overlap;longest=--cuda-longest-first;anyhead=--cuda-any-head-dim"}
KERNEL_FILES="examples/*.attn test/Tools/Inputs/scans.attn"
die() { echo "gpu-variants: $*" >&2; exit 1; }
[ -x "$ATTNC" ] || die "no attnc at $ATTNC (build it: ninja -C build attnc, or set ATTNC)"

rm -rf "$OUT"
mkdir -p "$OUT"
IFS=';' read -r -a specs <<< "$VARIANTS"
for spec in "${specs[@]}"; do
  [ -n "$spec" ] || continue
  label=${spec%%=*}
  flags=${spec#*=}
  [ "$label" != "$spec" ] && [[ "$label" =~ ^[A-Za-z0-9_-]+$ ]] ||
    die "ATTN_GPU_VARIANTS wants LABEL=FLAGS;..., got '$spec'"
  dir="$OUT/$label"
  mkdir -p "$dir/bundles"
  echo "$flags" > "$dir/FLAGS"
  tmp=$(mktemp -d)
  # shellcheck disable=SC2086 # KERNEL_FILES and flags: several words
  for file in $KERNEL_FILES; do
    rm -rf "${tmp:?}"/*
    "$ATTNC" "$file" --target="$TARGET" $flags --emit=bundle -o "$tmp" ||
      die "attnc $file $flags failed"
    for m in "$tmp"/*.attn.json; do
      k=$(basename "$m" .attn.json)
      [ -e "$dir/bundles/$k.attn.json" ] && die "two kernels named $k"
      cp "$m" "$tmp/$k.ptx" "$dir/bundles/"
    done
  done
  rm -rf "$tmp"
  ATTNC_FLAGS="$flags" scripts/gpu-bench-artifacts.sh "$dir/bench" > "$dir/bench.log" 2>&1 ||
    die "gpu-bench-artifacts.sh with $flags failed ($dir/bench.log)"
  echo "gpu-variants: $label ($flags): $(ls "$dir/bundles" | grep -c '\.ptx$') kernels, $(tail -1 "$dir/bench.log")"
done
