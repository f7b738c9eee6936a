#!/usr/bin/env bash
# Builds attnc, attn-opt and the tests in build/ (run scripts/setup.sh first).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build --target check-deps -- -j"$(nproc)"
