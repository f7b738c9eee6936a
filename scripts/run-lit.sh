#!/usr/bin/env bash
# Runs lit over the FileCheck tests and the GoogleTest binaries in one run and
# prints the totals as "N passed, N failed, N skipped". Usage: run-lit.sh BUILD/test
set -uo pipefail
testdir=${1:?usage: run-lit.sh BUILD_DIR/test}
lit=/usr/lib/llvm-22/bin/lit
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$lit" -sv --time-tests "$testdir" "$testdir/unit" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
count() { grep -oE "^ *$1 *: +[0-9]+" "$out" | grep -oE '[0-9]+$' | awk '{s+=$1} END {print s+0}'; }
passed=$(( $(count Passed) + $(count "Expectedly Failed") ))
failed=$(( $(count Failed) + $(count "Unexpectedly Passed") + $(count Unresolved) + $(count "Timed Out") ))
skipped=$(( $(count Skipped) + $(count Unsupported) ))
echo
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then exit 1; fi
exit 0
