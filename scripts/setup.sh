#!/usr/bin/env bash
# Installs what attnc needs on Debian 12 (idempotent: installs only what is
# missing) and configures the build in build/. Needs root for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
          libhalide14-0-dev libgtest-dev cmake ninja-build g++ clang
          libclang-rt-14-dev python3 python3-dev python3-venv pkg-config)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# The Python module's build needs nanobind, its tests NumPy: from PyPI into
# build/pyenv. Without them (no network) the module is not built and its
# tests report unsupported.
python=()
if [ ! -x build/pyenv/bin/python ] ||
   ! build/pyenv/bin/python -c "import nanobind, numpy" 2>/dev/null; then
  mkdir -p build
  if ! { python3 -m venv build/pyenv &&
         build/pyenv/bin/pip install -q nanobind numpy; } > build/pyenv.log 2>&1; then
    echo "setup: cannot install nanobind and numpy from PyPI (build/pyenv.log): no Python module"
  fi
fi
build/pyenv/bin/python -c "import nanobind, numpy" 2>/dev/null &&
  python=(-DPython_EXECUTABLE="$PWD/build/pyenv/bin/python")

if [ ! -f build/build.ninja ]; then
  # ccache, where installed, makes rebuilds of a fresh clone cheap.
  launcher=()
  if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  fi
  cmake -G Ninja -S . -B build -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" "${python[@]}" >/dev/null
fi
echo "setup: done"
