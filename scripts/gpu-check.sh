#!/usr/bin/env bash
# The one script to run on the GPU machine, from the repository root:
#
#   scripts/gpu-check.sh [ARTIFACTS_DIR] [RESULTS_DIR]
#
# needs only cmake, ninja, a C++17 compiler and the CUDA driver (no LLVM,
# MLIR or Halide; PTX is compiled on the build machine and carried). It
#  1. builds the runtime and the harness attn-gpu-run (runtime/ as a CMake
#     project of its own, in build-gpu/), and the runtime's GoogleTests where
#     GoogleTest is installed;
#  2. runs every case (and, 2c, the cases the opt-in flags of
#     gpu-variants/ change, with their bundles): the runtime's hand-written ones (test/Runtime/cuda/
#     cases) and those under ARTIFACTS_DIR (default gpu-artifacts/, made by
#     scripts/gpu-artifacts.sh), each in a process of its own (a kernel that
#     faults cannot spoil the next);
#  3. times the cases of ARTIFACTS_DIR that passed (--time $ATTN_GPU_RUNS,
#     default 50; ATTN_GPU_RUNS=0 skips);
#     the small cases again with --misuse (bad calls refused), and the
#     harness once with a missing driver (every case skipped);
#  4. runs a few small cases, and the out-of-range table cases, under
#     compute-sanitizer (memcheck) if present;
#  4b. runs the GPU JIT check (attn-jit-gpu-check on examples/*.attn: the C++
#     JIT API compiles, runs and checks each kernel, then loads it from the
#     cache) when gpu-jit/ (scripts/gpu-jit-artifacts.sh) is carried;
#  5. runs the GPU benchmark, when there is one (the hook below).
#
# RESULTS_DIR (default $OUT when set, else gpu-results/) receives at most
# these files (the device tool brings back 8):
#   summary.txt    the GPU, what ran, one line per case (also printed last)
#   results.jsonl  one JSON line per case (attn-gpu-run's)
#   timings.jsonl  the same with timings
#   sanitizer.txt  compute-sanitizer's output
#   build.log      the build; tests.txt: the runtime's GoogleTests
#   jit.txt        the GPU JIT check's lines
#   python.txt     the Python package's check on CUDA tensors
# Exit status: 0 when every case passed (a timing case: ran with every
# output written) and the sanitizer found nothing, 1 otherwise, 3 when there
# is no GPU (nothing ran).
set -uo pipefail
cd "$(dirname "$0")/.."

ART=${1:-gpu-artifacts}
RES=${2:-${OUT:-gpu-results}}
# scripts/gpu-pack.sh's one file, unpacked where its directories are absent.
if [ -f gpu-pack/all.tar.xz ] && [ ! -d "$ART" ]; then
  tar xJf gpu-pack/all.tar.xz || { echo "gpu-check: cannot unpack gpu-pack/all.tar.xz"; exit 1; }
fi
RUNS=${ATTN_GPU_RUNS:-50}
mkdir -p "$RES"
SUMMARY="$RES/summary.txt"
: > "$SUMMARY"
: > "$RES/results.jsonl"
: > "$RES/sanitizer.txt"
say() { echo "$*" | tee -a "$SUMMARY"; }

commit=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
[ -f "$ART/COMMIT" ] && commit="$(tr '\n' ' ' < "$ART/COMMIT")(artefacts)"
say "gpu-check: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $commit"
if command -v nvidia-smi >/dev/null; then
  say "$(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv,noheader 2>&1 | head -4)"
else
  say "no nvidia-smi"
fi

# 1. Build (cmake + ninja; no LLVM).
start=$SECONDS
if ! { cmake -G Ninja -S runtime -B build-gpu -DCMAKE_BUILD_TYPE=Release &&
       ninja -C build-gpu; } > "$RES/build.log" 2>&1; then
  tail -30 "$RES/build.log"
  say "gpu-check: the build failed (build.log)"
  exit 1
fi
HARNESS=build-gpu/attn-gpu-run
say "built the runtime and attn-gpu-run in $((SECONDS - start)) s"
if [ -x build-gpu/unit/CudaRuntimeTests ]; then
  build-gpu/unit/CudaRuntimeTests > "$RES/tests.txt" 2>&1
  say "runtime tests (GoogleTest, rc $?): $(grep -E '^\[  (PASSED|FAILED|SKIPPED) +\] [0-9]+ test' "$RES/tests.txt" | tr '\n' ' ')"
else
  say "runtime tests: not built (no GoogleTest here)"
fi

# 2. Every case, one process each.
cases=()
for root in test/Runtime/cuda/cases "$ART"; do
  [ -d "$root" ] || continue
  while IFS= read -r m; do cases+=("$(dirname "$m")"); done \
    < <(find "$root" -mindepth 2 -maxdepth 2 -name '*.attn.json' | sort)
done
[ -d "$ART" ] || say "no $ART/ (make it with scripts/gpu-artifacts.sh and carry it): the hand-written cases alone"
nodevice=0
failed=0
for c in "${cases[@]}"; do
  timeout 300 "$HARNESS" --json "$RES/results.jsonl" "$c" > /dev/null 2>&1
  rc=$?
  [ $rc -eq 3 ] && nodevice=1
  [ $rc -ne 0 ] && failed=$((failed + 1))
  [ $rc -eq 124 ] && echo "{\"case\": \"$(basename "$c")\", \"status\": \"error\", \"message\": \"timed out after 300 s\"}" >> "$RES/results.jsonl"
done
if [ $nodevice -eq 1 ]; then
  say "gpu-check: no CUDA driver or GPU here: $(head -1 "$RES/results.jsonl")"
  exit 3
fi

# 2b. Bad calls on the real driver: the small cases again with --misuse (null,
#     host and short device pointers, wrong shapes, dtypes, ranks, strides
#     and counts, each refused with a message naming the argument, then the
#     good run passes); and the harness pointed at a missing driver, which
#     must skip every case (exit 3), never pass one.
misuse_failed=0 misuse_cases=0
for c in "${cases[@]}"; do
  case "$c" in *-small) ;; *) continue ;; esac
  misuse_cases=$((misuse_cases + 1))
  out=$(timeout 300 "$HARNESS" --misuse "$c" 2>/dev/null)
  if [ $? -ne 0 ]; then
    misuse_failed=$((misuse_failed + 1))
    say "misuse: $(basename "$c"): $(echo "$out" | python3 -c 'import json, sys; r = json.loads(sys.stdin.readline()); print(r["status"], r.get("misuse", {}).get("not_refused"), r["message"][:200])' 2>&1)"
  fi
done
say "misuse: $misuse_cases small cases, $misuse_failed with a bad call not refused or a failed good run"
[ $misuse_failed -ne 0 ] && failed=$((failed + misuse_failed))
ATTN_CUDA_DRIVER=/nonexistent/libcuda.so.1 "$HARNESS" "${cases[0]}" > /dev/null 2>&1
rc=$?
say "missing driver: harness exit $rc (3 expected: skipped)"
[ $rc -ne 3 ] && failed=$((failed + 1))

# 2c. The opt-in flags (scripts/gpu-variants.sh, gpu-variants/LABEL/): every
#     checked case whose kernel's PTX they change, again with their bundle
#     (same inputs, same expected outputs), and racecheck and synccheck on
#     the first such fused case. A failure counts as any other.
VAR=${ATTN_GPU_VARIANTS_DIR:-gpu-variants}
for vdir in "$VAR"/*/; do
  [ -d "$vdir/bundles" ] || continue
  label=$(basename "$vdir")
  vpass=0 vfail=0 first=""
  for c in "${cases[@]}"; do
    case "$c" in "$ART"/*) ;; *) continue ;; esac
    [ -d "$c/expected" ] || [ -f "$c/expect_error.txt" ] || continue
    m=$(ls "$c"/*.attn.json 2>/dev/null | head -1)
    k=$(basename "$m" .attn.json)
    [ -f "$vdir/bundles/$k.ptx" ] && ! cmp -s "$vdir/bundles/$k.ptx" "$c/$k.ptx" || continue
    vc="build-gpu/variants/$(basename "$c")@$label"
    rm -rf "$vc" && mkdir -p "$(dirname "$vc")" && cp -r "$c" "$vc" &&
      cp "$vdir/bundles/$k.attn.json" "$vdir/bundles/$k.ptx" "$vc/"
    if timeout 300 "$HARNESS" --json "$RES/results.jsonl" "$vc" > /dev/null 2>&1; then
      vpass=$((vpass + 1))
      case "$c" in *-tile|*-wide) [ -z "$first" ] && first=$vc ;; esac
    else
      vfail=$((vfail + 1))
      say "variant $label ($(cat "$vdir/FLAGS")): $(basename "$c") FAILED"
    fi
  done
  say "variant $label ($(cat "$vdir/FLAGS")): $vpass cases passed, $vfail failed (the cases whose PTX it changes)"
  failed=$((failed + vfail))
  if [ -n "$first" ] && command -v compute-sanitizer >/dev/null; then
    for tool in racecheck synccheck; do
      echo "== $tool $first" >> "$RES/sanitizer.txt"
      timeout 300 compute-sanitizer --tool $tool --error-exitcode 9 "$HARNESS" "$first" >> "$RES/sanitizer.txt" 2>&1
      rc=$?
      say "variant $label: compute-sanitizer $tool on $(basename "$first"): $([ $rc -eq 0 ] && echo clean || echo "rc $rc (sanitizer.txt)")"
      [ $rc -eq 9 ] && failed=$((failed + 1))
    done
  fi
done

# 3. Timing of the carried cases that passed (or ran).
if [ "$RUNS" -gt 0 ] && [ -d "$ART" ]; then
  : > "$RES/timings.jsonl"
  for c in "${cases[@]}"; do
    case "$c" in "$ART"/*) ;; *) continue ;; esac
    grep -q "\"case\": \"$(basename "$c")\".*\"status\": \"\(pass\|ran\)\"" "$RES/results.jsonl" || continue
    timeout 300 "$HARNESS" --time "$RUNS" --warmup 10 --json "$RES/timings.jsonl" "$c" > /dev/null 2>&1
  done
fi

# 4. compute-sanitizer (memcheck) on the three smallest cases and on a few
#    that run the fused attention launch (shared memory, tensor cores:
#    ATTN_GPU_SANITIZE names them); racecheck (shared-memory hazards) and
#    synccheck (barriers) on the first of those.
sanitizer_failed=0
FUSED_CASES=${ATTN_GPU_SANITIZE:-mha-tile causal-wide decode-tile gqa-gqa_causal-tile}
if command -v compute-sanitizer >/dev/null; then
  fused=()
  for n in $FUSED_CASES; do [ -d "$ART/$n" ] && fused+=("$ART/$n"); done
  # sanitize TOOL CASE: runs the case under compute-sanitizer's TOOL.
  sanitize() {
    echo "== $1 $2" >> "$RES/sanitizer.txt"
    timeout 300 compute-sanitizer --tool "$1" --error-exitcode 9 "$HARNESS" "$2" >> "$RES/sanitizer.txt" 2>&1
    local rc=$?
    if [ $rc -eq 9 ]; then
      sanitizer_failed=1
      say "compute-sanitizer $1: errors in $2 (sanitizer.txt)"
    elif [ $rc -ne 0 ]; then
      say "compute-sanitizer $1: $2 ended with $rc (the tool may not run here; sanitizer.txt)"
    else
      say "compute-sanitizer $1: $2 clean"
    fi
  }
  [ ${#fused[@]} -gt 0 ] && sanitize racecheck "${fused[0]}"
  [ ${#fused[@]} -gt 0 ] && sanitize synccheck "${fused[0]}"
  for c in $(for c in "${cases[@]}"; do [ -f "$c/expect_error.txt" ] || echo "$(du -sk "$c" | cut -f1) $c"; done | sort -n | head -3 | cut -d' ' -f2) "${fused[@]}"; do
    sanitize memcheck "$c"
  done
  # The table faults (out-of-range page tables and the like) under memcheck:
  # a refused read must not be an out-of-bounds access first.
  for c in "${cases[@]}"; do
    case "$c" in *-far-*|*-neg-*) sanitize memcheck "$c" ;; esac
  done
else
  say "compute-sanitizer: not installed"
fi

# 4b. The C++ JIT API on this GPU: a static program (no LLVM needed here).
JIT=${ATTN_GPU_JIT:-gpu-jit}
if [ -f "$JIT/attn-jit-gpu-check.xz" ]; then
  xz -dc "$JIT/attn-jit-gpu-check.xz" > build-gpu/attn-jit-gpu-check &&
    chmod +x build-gpu/attn-jit-gpu-check
  timeout 300 build-gpu/attn-jit-gpu-check examples/*.attn > "$RES/jit.txt" 2>&1
  rc=$?
  say "GPU JIT check (rc $rc): $(tail -1 "$RES/jit.txt")"
  grep -E '^(FAIL|SKIP)' "$RES/jit.txt" | cut -c1-300 | while read -r line; do say "  $line"; done
  [ $rc -ne 0 ] && failed=$((failed + 1))
else
  say "GPU JIT check: skipped (no $JIT/: scripts/gpu-jit-artifacts.sh makes it)"
fi

# 4c. attnc's Python package without its JIT (as a serving machine installs
#     it: the .py files and libattn_runtime.so) on CUDA tensors, when torch
#     is here: attnc.load of a carried bundle, against SDPA, under
#     torch.compile, and its per-call overhead.
if [ -f build-gpu/libattn_runtime.so ] && [ -d "$ART/mha-tile" ]; then
  timeout 600 python3 python/tests/gpu_runtime_check.py "$ART" build-gpu/libattn_runtime.so > "$RES/python.txt" 2>&1
  rc=$?
  say "Python package on CUDA tensors (rc $rc): $(grep -c PASS "$RES/python.txt") passed"
  grep -E '^python-gpu: (FAIL|SKIP|overhead)' "$RES/python.txt" | cut -c1-300 | while read -r line; do say "  $line"; done
  [ $rc -eq 1 ] && failed=$((failed + 1))
  [ $rc -ne 0 ] && [ $rc -ne 1 ] && tail -5 "$RES/python.txt" | while read -r line; do say "  $line"; done
else
  say "Python package: skipped (no build-gpu/libattn_runtime.so or $ART/mha-tile)"
fi

# 5. ---- GPU benchmark hook --------------------------------------------------
# When bench/gpu.sh exists (attnc's CUDA kernels against PyTorch SDPA and
# FlexAttention at the sizes of /work/shared/bench/peers_gpu.py, the same
# table as bench/cpu.sh), it runs here and writes its one file to $RES.
# ATTN_GPU_BENCH=0 skips it.
if [ -x bench/gpu.sh ] && [ "${ATTN_GPU_BENCH:-1}" = 1 ]; then
  also=""
  for vdir in "$VAR"/*/; do
    [ -f "$vdir/bench/bench.json" ] && also="$also --also $(basename "$vdir")=${vdir%/}/bench"
  done
  ATTN_GPU_BENCH_ARGS="${ATTN_GPU_BENCH_ARGS:-}$also" \
    bench/gpu.sh --harness "$HARNESS" --artifacts "$ART" --out "$RES" 2>&1 | tee -a "$SUMMARY"
else
  say "benchmark: skipped (ATTN_GPU_BENCH=0, or no bench/gpu.sh)"
fi
# ---------------------------------------------------------------------------

# The table: one line per case.
python3 - "$RES/results.jsonl" "$RES/timings.jsonl" <<'EOF' | tee -a "$SUMMARY"
import json, os, sys
times = {}
if os.path.exists(sys.argv[2]):
    for line in open(sys.argv[2]):
        r = json.loads(line)
        if "timing" in r:
            times[r["case"]] = r["timing"]["median_ms"]
counts = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    counts[r["status"]] = counts.get(r["status"], 0) + 1
    t = "%10.4f ms" % times[r["case"]] if r["case"] in times else " " * 13
    print("%-32s %-5s %s %s" % (r["case"], r["status"], t, r.get("message", "")[:110]))
print("cases: " + ", ".join("%d %s" % (n, s) for s, n in sorted(counts.items())))
EOF

if [ $failed -ne 0 ] || [ $sanitizer_failed -ne 0 ]; then
  say "gpu-check: FAILED ($failed cases not passed)"
  exit 1
fi
say "gpu-check: ok"
