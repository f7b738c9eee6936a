#!/usr/bin/env bash
# The build-machine half of the GPU JIT check (issue 16): the C++ JIT API
# end to end on the GPU machine, which has no LLVM, MLIR or Halide. Builds
# test/GpuJit/attn-jit-gpu-check against the JIT without Halide (AttnJitGpu)
# with MLIR and LLVM linked statically (a build directory of its own,
# build-static/, configured with -DATTN_STATIC_MLIR=ON), strips it and
# compresses it to fit the device tool's carry:
#
#   scripts/gpu-jit-artifacts.sh [OUT_DIR]       (default gpu-jit)
#
#   gpu-jit/attn-jit-gpu-check.xz   the program (about 15 MB; 67 MB unpacked;
#                                   needs only glibc, libstdc++, zlib, zstd)
#   gpu-jit/COMMIT                  the commit it was built from
#
# scripts/gpu-check.sh unpacks and runs it on examples/*.attn when OUT_DIR is
# carried (device tool: carry ["gpu-jit"]).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-gpu-jit}
BUILD=build-static
die() { echo "gpu-jit-artifacts: $*" >&2; exit 1; }
[ -x /usr/local/cuda/bin/ptxas ] || [ -d /usr/local/cuda/include ] ||
  die "the CUDA toolkit (/usr/local/cuda) is needed for cuda_runtime.h"

if [ ! -f "$BUILD/build.ninja" ]; then
  launcher=()
  command -v ccache > /dev/null &&
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  cmake -G Ninja -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
    -DATTN_STATIC_MLIR=ON -DATTN_BUILD_PYTHON=OFF -DATTN_ENABLE_FUZZER=OFF \
    "${launcher[@]}" > /dev/null || die "cmake failed in $BUILD"
fi
ninja -C "$BUILD" attn-jit-gpu-check || die "the build failed"
program=$BUILD/codegen/jit/attn-jit-gpu-check
missing=$(ldd "$program" | grep -E 'libMLIR|libLLVM|libHalide|not found' || true)
[ -z "$missing" ] || die "$program still needs: $missing"

rm -rf "$OUT"
mkdir -p "$OUT"
strip -o "$OUT/attn-jit-gpu-check" "$program"
xz -T0 -6 "$OUT/attn-jit-gpu-check"
git rev-parse HEAD > "$OUT/COMMIT" 2>/dev/null || echo unknown > "$OUT/COMMIT"
echo "gpu-jit-artifacts: $OUT/attn-jit-gpu-check.xz ($(du -h "$OUT/attn-jit-gpu-check.xz" | cut -f1)), commit $(cut -c1-12 "$OUT/COMMIT")"
