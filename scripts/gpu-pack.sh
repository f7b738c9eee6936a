#!/usr/bin/env bash
# Everything the GPU machine needs from this one, in one compressed file that
# fits the device tool's carry (64 MiB): the checked cases
# (scripts/gpu-artifacts.sh), the benchmark bundles
# (scripts/gpu-bench-artifacts.sh), the static GPU JIT check
# (scripts/gpu-jit-artifacts.sh) and the opt-in flags' bundles
# (scripts/gpu-variants.sh: ATTN_GPU_VARIANTS, checked and timed beside the
# default), packed as gpu-pack/all.tar.xz (about 25 MB; unpacked about
# 90 MB).
#
#   scripts/gpu-pack.sh                 (then carry ["gpu-pack"])
#
# On the GPU machine, scripts/gpu-check.sh unpacks it when the directories
# are not there. ATTNC_FLAGS is passed to both attnc artefact scripts.
# ATTN_GPU_PACK_KEEP_JIT=1 reuses gpu-jit/ when it is there (the static JIT
# build takes minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/gpu-artifacts.sh gpu-artifacts
scripts/gpu-bench-artifacts.sh gpu-bench
[ -f gpu-jit/attn-jit-gpu-check.xz ] && [ -n "${ATTN_GPU_PACK_KEEP_JIT:-}" ] ||
  scripts/gpu-jit-artifacts.sh gpu-jit
scripts/gpu-variants.sh gpu-variants
mkdir -p gpu-pack
tar cf - gpu-artifacts gpu-bench gpu-jit gpu-variants | xz -T0 -6 > gpu-pack/all.tar.xz
echo "gpu-pack: gpu-pack/all.tar.xz ($(du -h gpu-pack/all.tar.xz | cut -f1)): carry [\"gpu-pack\"], run scripts/gpu-check.sh there"
