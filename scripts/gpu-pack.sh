#!/usr/bin/env bash
# Everything the GPU machine needs from this one, in one compressed file that
# fits the device tool's carry (64 MiB): the checked cases
# (scripts/gpu-artifacts.sh), the benchmark bundles
# (scripts/gpu-bench-artifacts.sh) and the static GPU JIT check
# (scripts/gpu-jit-artifacts.sh), packed as gpu-pack/all.tar.xz (about
# 25 MB; unpacked about 75 MB).
#
#   scripts/gpu-pack.sh                 (then carry ["gpu-pack"])
#
# On the GPU machine, scripts/gpu-check.sh unpacks it when the directories
# are not there. ATTNC_FLAGS is passed to both attnc artefact scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/gpu-artifacts.sh gpu-artifacts
scripts/gpu-bench-artifacts.sh gpu-bench
scripts/gpu-jit-artifacts.sh gpu-jit
mkdir -p gpu-pack
tar cf - gpu-artifacts gpu-bench gpu-jit | xz -T0 -6 > gpu-pack/all.tar.xz
echo "gpu-pack: gpu-pack/all.tar.xz ($(du -h gpu-pack/all.tar.xz | cut -f1)): carry [\"gpu-pack\"], run scripts/gpu-check.sh there"
