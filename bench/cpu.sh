#!/usr/bin/env bash
# The CPU benchmark in one command: builds attn-bench-cpu, times attnc's CPU
# kernels against the unfused OpenBLAS baseline and PyTorch's CPU SDPA at 1
# and 2 threads, prints the table and writes bench/results/cpu-<date>.json,
# and beside it a bar chart (cpu-<date>.png, bench/plot_cpu.py) when
# bench/.venv has matplotlib.
#
#   bench/cpu.sh [--quick] [--runs N] [--warmup N] [--thread-counts 1,2]
#                [--cases decode,mha]   (default: every case)
#
# ATTN_BENCH_BUILD_DIR picks the build folder (default build/, as configured
# by scripts/setup.sh). Installs what is missing: Debian's libopenblas-dev,
# and torch + numpy from PyPI into bench/.venv (if that fails, the table says
# so and the rest still runs).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=11 WARMUP=2 THREADS=1,2 QUICK=() CASES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=(--quick) ;;
    --runs) RUNS="$2"; shift ;;
    --warmup) WARMUP="$2"; shift ;;
    --thread-counts) THREADS="$2"; shift ;;
    --cases) CASES=(--cases "$2"); shift ;;
    *) echo "usage: bench/cpu.sh [--quick] [--runs N] [--warmup N] [--thread-counts 1,2] [--cases LIST]" >&2
       exit 1 ;;
  esac
  shift
done

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
apt_install() {
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    --no-install-recommends "$@" >/dev/null
}
installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

phase() { echo "bench: $1 ($((SECONDS - PHASE_START)) s)"; PHASE_START=$SECONDS; }
PHASE_START=$SECONDS

scripts/setup.sh
if ! installed libopenblas-dev; then
  echo "bench: installing libopenblas-dev"
  apt_install libopenblas-dev
fi

BUILD="${ATTN_BENCH_BUILD_DIR:-build}"
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -G Ninja -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
# Re-run CMake so that bench/ is configured with OpenBLAS now present.
cmake "$BUILD" >/dev/null
cmake --build "$BUILD" --target attn-bench-cpu -j "$(nproc)"
phase "built $BUILD/bench/attn-bench-cpu"

# PyTorch (large: a few GB with its CUDA wheels); optional.
TORCH_NOTE=""
VENV_PY=bench/.venv/bin/python
if ! "$VENV_PY" -c "import torch, numpy" 2>/dev/null; then
  echo "bench: installing torch and numpy into bench/.venv (log: bench/.venv/install.log)"
  if ! python3 -c "import ensurepip" 2>/dev/null && ! installed python3-venv; then
    apt_install python3-venv || true
  fi
  mkdir -p bench/.venv
  if ! { python3 -m venv bench/.venv &&
         bench/.venv/bin/pip install torch numpy; } >bench/.venv/install.log 2>&1; then
    TORCH_NOTE="torch could not be installed"
    echo "bench: $TORCH_NOTE (see bench/.venv/install.log); going on without it"
  fi
  phase "torch install"
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
status=0
"$BUILD/bench/attn-bench-cpu" --json "$WORK/attnc.json" --runs "$RUNS" \
  --warmup "$WARMUP" --thread-counts "$THREADS" "${QUICK[@]}" "${CASES[@]}" || status=$?
if [ ! -f "$WORK/attnc.json" ]; then
  echo "bench: attn-bench-cpu failed (exit $status)" >&2
  exit 1
fi
phase "attnc, blas and sgemm measured"
TORCH_JSON=-
if [ -z "$TORCH_NOTE" ]; then
  if "$VENV_PY" bench/torch_sdpa.py "$WORK/attnc.json" "$WORK/torch.json" \
       --runs "$RUNS" --warmup "$WARMUP"; then
    TORCH_JSON="$WORK/torch.json"
  else
    TORCH_NOTE="torch run failed"
  fi
  phase "torch sdpa measured"
fi
echo
python3 bench/report.py "$WORK/attnc.json" "$TORCH_JSON" bench/results \
  --torch-note "$TORCH_NOTE" --path-file "$WORK/result-path"
RESULT="$(cat "$WORK/result-path")"
if "$VENV_PY" -c "import matplotlib" 2>/dev/null; then
  "$VENV_PY" bench/plot_cpu.py "$RESULT" ||
    echo "bench: the bar chart failed (the JSON is kept)"
else
  echo "bench: no matplotlib in bench/.venv: skipped the bar chart" \
       "(bench/.venv/bin/pip install matplotlib; then bench/plot_cpu.py $RESULT)"
fi
# 3: an attnc kernel disagreed with the baseline (the table shows which).
exit "$status"
