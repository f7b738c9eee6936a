#!/usr/bin/env bash
# The build-machine half of the GPU benchmark: compiles the benchmark
# kernels (bench/gpu/*.attn) for CUDA, one bundle per benchmark case,
#
#   gpu-bench/<case>/<kernel>.attn.json <kernel>.ptx
#       attnc bench/gpu/FILE --target=cuda:sm_90a --emit=bundle -o DIR
#             (with ATTN_GPU_BENCH_BIND=1: --bind E=D --bind F=D)
#   gpu-bench/bench.json   the cases and shapes (bench/gpu.py --cases-json),
#                          the commit, dirty flag, date, attnc's version and,
#                          per case, the compile error when there was one
#
# The cases are bench/gpu.py's (python3 bench/gpu.py --cases-json; no torch
# needed). gpu-bench/ is ignored by git: carry it to the GPU machine with the
# runtime's sources (device tool: carry ["gpu-bench"]); bench/gpu.sh runs
# the benchmark there.
#
#   scripts/gpu-bench-artifacts.sh [OUT_DIR]     (default gpu-bench)
#   ATTNC=path/to/attnc            (default build/tools/attnc/attnc)
#   ATTN_GPU_TARGET=cuda:sm_90a
#   ATTN_GPU_BENCH_BIND=1          compile with --bind E=D --bind F=D (default:
#                                  head dims dynamic; the fused launch has
#                                  variants for 32, 64, 96 and 128)
#
# Exit status: 0 when at least one case compiled (the others are listed,
# and bench/gpu.py reports them as "not compiled"); 1 when none did: until
# attnc has a CUDA emitter this stops at the first case, saying so.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-gpu-bench}
ATTNC=${ATTNC:-build/tools/attnc/attnc}
TARGET=${ATTN_GPU_TARGET:-cuda:sm_90a}
ATTNC_FLAGS=${ATTNC_FLAGS:-}   # more code generation flags, e.g. --cuda-wgmma=false, --cuda-wgmma-overlap
BIND=${ATTN_GPU_BENCH_BIND:-0}

die() { echo "gpu-bench-artifacts: $*" >&2; exit 1; }
[ -x "$ATTNC" ] || die "no attnc at $ATTNC (build it: ninja -C build attnc, or set ATTNC)"
command -v python3 >/dev/null || die "python3 is needed (bench/gpu.py --cases-json)"

cases_json=$(python3 bench/gpu.py --cases-json) || die "bench/gpu.py --cases-json failed"
# One line per case: NAME FILE BINDS(E=128,F=128)
case_lines=$(python3 -c '
import json, sys
for c in json.loads(sys.argv[1]):
    print(c["name"], c["attn"], ",".join("%s=%d" % kv for kv in sorted(c["binds"].items())))
' "$cases_json")

rm -rf "$OUT"
mkdir -p "$OUT"
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
compiled=0
total=0
while read -r name file binds; do
  total=$((total + 1))
  dir="$OUT/$name"
  mkdir -p "$dir"
  flags=()
  if [ "$BIND" = 1 ]; then
    for b in ${binds//,/ }; do flags+=(--bind "$b"); done
  fi
  # shellcheck disable=SC2086 # ATTNC_FLAGS: several flags (e.g. --cuda-wgmma)
  if ! msg=$("$ATTNC" "bench/gpu/$file" --target="$TARGET" $ATTNC_FLAGS --emit=bundle -o "$dir" "${flags[@]}" 2>&1); then
    rm -rf "$dir"
    if [ $compiled -eq 0 ] && echo "$msg" | grep -q "is not available yet"; then
      die "attnc cannot emit a CUDA bundle yet:
  $ATTNC bench/gpu/$file --target=$TARGET --emit=bundle -o $dir ${flags[*]}
  said: $msg
(the CUDA code generator is not there yet: no bundles; bench/gpu.sh still
times the peers and reports attnc as not compiled)"
    fi
    echo "gpu-bench-artifacts: $name: attnc failed: $msg" >&2
    printf '%s\t%s\n' "$name" "$(echo "$msg" | tr '\n\t' '  ')" >> "$errors"
    continue
  fi
  manifests=("$dir"/*.attn.json)
  if [ ! -e "${manifests[0]}" ]; then
    rm -rf "$dir"
    printf '%s\t%s\n' "$name" "attnc wrote no manifest (*.attn.json)" >> "$errors"
    echo "gpu-bench-artifacts: $name: attnc wrote no manifest into $dir" >&2
    continue
  fi
  kernel=$(basename "${manifests[0]}" .attn.json)
  if [ ! -e "$dir/$kernel.ptx" ]; then
    rm -rf "$dir"
    printf '%s\t%s\n' "$name" "attnc wrote $kernel.attn.json but no $kernel.ptx" >> "$errors"
    echo "gpu-bench-artifacts: $name: no $kernel.ptx beside the manifest" >&2
    continue
  fi
  compiled=$((compiled + 1))
  echo "gpu-bench-artifacts: $name: $(cd "$dir" && ls | tr '\n' ' ')"
done <<< "$case_lines"

commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
dirty=false
[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && dirty=true
# attnc's version: the manifests' "compiler" field.
version=$(python3 -c 'import glob, json, sys
for m in sorted(glob.glob(sys.argv[1] + "/*/*.attn.json")):
    print(json.load(open(m)).get("compiler", "")); break' "$OUT" 2>/dev/null || true)
python3 - "$OUT/bench.json" "$cases_json" "$errors" "$commit" "$dirty" \
  "$TARGET" "$version" "$BIND" "$ATTNC_FLAGS" <<'EOF'
import datetime, json, sys
path, cases, errfile, commit, dirty, target, version, bind, flags = sys.argv[1:]
errors = dict(l.rstrip("\n").split("\t", 1) for l in open(errfile) if "\t" in l)
doc = dict(commit=commit, dirty=dirty == "true", target=target,
           attnc_version=version or None, bound_head_dims=bind == "1",
           flags=flags.split(),
           date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           cases={c["name"]: dict(c, error=errors.get(c["name"]))
                  for c in json.loads(cases)})
json.dump(doc, open(path, "w"), indent=1)
EOF
echo "gpu-bench-artifacts: $compiled of $total cases compiled into $OUT ($(du -sh "$OUT" | cut -f1)), commit ${commit:0:12}$([ "$dirty" = true ] && echo ' (dirty)')"
[ $compiled -gt 0 ] || die "no case compiled"
