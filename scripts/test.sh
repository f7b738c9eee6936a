#!/usr/bin/env bash
# The test command: set up, build, and run every test (lit + GoogleTest + the
# bounded fuzz run). Ends with one summary line: "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
scripts/setup.sh
scripts/build.sh
echo "test: built in $(( $(date +%s) - start )) s"
exec scripts/run-lit.sh build/test
