#!/usr/bin/env bash
# The GPU benchmark, on the GPU machine, from anywhere:
#
#   bench/gpu.sh [--out DIR] [--bench-dir DIR] [--harness PATH] [--artifacts DIR]
#                [-- extra bench/gpu.py flags, e.g. --quick or --cases a,b]
#
# scripts/gpu-check.sh calls it as its last step (its hook) with
# --harness build-gpu/attn-gpu-run --artifacts gpu-artifacts --out $RES.
# It builds the runtime as a shared library (build-gpu/libattn_runtime.so,
# the directory of --harness; runtime/CMakeLists.txt) when it is not there,
# then runs bench/gpu.py once: attnc's bundles from gpu-bench/ (made on the
# build machine by scripts/gpu-bench-artifacts.sh and carried) against
# PyTorch SDPA and FlexAttention. The table goes to stdout; the results to
# one file, DIR/gpu-bench.json (DIR: --out, else $OUT, else bench/results/
# as gpu-<date>.json).
#
#   ATTN_GPU_BENCH_DIR      the bundles (default gpu-bench)
#   ATTN_GPU_BENCH_BUDGET   seconds after which no new case starts (default
#                           420; 0: none), so that the run ends inside the
#                           device tool's 10 minutes
#   ATTN_GPU_BENCH_ARGS     more bench/gpu.py flags
#
# Exit status: bench/gpu.py's (0 when it ran, whatever the rows say; 3 no
# GPU), 1 when the runtime cannot be built.
set -uo pipefail
cd "$(dirname "$0")/.."

OUTDIR=${OUT:-}
BENCH_DIR=${ATTN_GPU_BENCH_DIR:-gpu-bench}
BUILD=build-gpu
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUTDIR=$2; shift 2 ;;
    --bench-dir) BENCH_DIR=$2; shift 2 ;;
    --harness) BUILD=$(dirname "$2"); shift 2 ;;
    --artifacts) shift 2 ;;      # gpu-check.sh's checked cases: not used here
    --) shift; EXTRA+=("$@"); break ;;
    *) EXTRA+=("$1"); shift ;;
  esac
done

echo "== GPU benchmark (bench/gpu.sh): bundles from $BENCH_DIR"
LIB=$BUILD/libattn_runtime.so
if [ ! -f "$LIB" ]; then
  echo "building $LIB (runtime/CMakeLists.txt, target attn_runtime_shared)"
  log=$(mktemp)
  if ! { cmake -G Ninja -S runtime -B "$BUILD" -DCMAKE_BUILD_TYPE=Release &&
         ninja -C "$BUILD" attn_runtime_shared; } > "$log" 2>&1; then
    tail -30 "$log"
    echo "bench/gpu.sh: could not build the runtime library $LIB"
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
fi
if [ ! -d "$BENCH_DIR" ]; then
  echo "no $BENCH_DIR/ (make it on the build machine with scripts/gpu-bench-artifacts.sh and carry it): attnc rows will say so; the peers are still timed"
fi

if [ -n "$OUTDIR" ]; then
  mkdir -p "$OUTDIR"
  DEST=$OUTDIR/gpu-bench.json
else
  DEST=bench/results     # gpu.py names the file gpu-<date>.json
fi
read -r -a MORE <<< "${ATTN_GPU_BENCH_ARGS:-}"
python3 bench/gpu.py --bench-dir "$BENCH_DIR" --lib "$LIB" --out "$DEST" \
  --budget "${ATTN_GPU_BENCH_BUDGET:-420}" "${MORE[@]}" "${EXTRA[@]}"
