#!/usr/bin/env bash
# Checks that the project's C++ sources also compile with clang (the build
# uses g++): runs `clang++ -fsyntax-only` over every project source in
# BUILD_DIR/compile_commands.json, with the flags of its real compile command.
# Usage: scripts/clang-syntax-check.sh [BUILD_DIR] [FOLDER...]
#   FOLDERs or files (relative to the source root, e.g. passes dialect)
#   restrict the check; default: every project source. CLANGXX picks the compiler.
# Exit status 1, with clang's errors, if any file fails.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
clangxx=${CLANGXX:-clang++}
db="$build/compile_commands.json"
if [[ ! -f "$db" ]]; then
  echo "clang-syntax-check: no $db (configure $build first)" >&2
  exit 2
fi
python3 - "$db" "$clangxx" "$PWD" "$@" <<'PY'
import json, os, shlex, subprocess, sys
from concurrent.futures import ThreadPoolExecutor

db, clangxx, root, folders = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
build = os.path.dirname(os.path.abspath(db))

def wanted(path):
    rel = os.path.relpath(path, root)
    if rel.startswith("..") or os.path.abspath(path).startswith(build + os.sep):
        return False  # outside the project, or generated
    return not folders or any(rel == f or rel.startswith(f.rstrip("/") + "/")
                              for f in folders)

def command(entry):
    args = entry.get("arguments") or shlex.split(entry["command"])
    out, skip = [clangxx], False
    for a in args[1:]:
        if skip:
            skip = False
        elif a == "-o":
            skip = True
        elif a != "-c" and not a.endswith(".cpp") and not a.startswith("-W"):
            out.append(a)
    return out + ["-fsyntax-only", entry["file"]]

entries = [e for e in json.load(open(db)) if wanted(e["file"])]
def check(entry):
    r = subprocess.run(command(entry), cwd=entry["directory"],
                       capture_output=True, text=True)
    return entry["file"], r.returncode, r.stderr
failed = 0
with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
    for path, rc, err in pool.map(check, entries):
        if rc != 0:
            failed += 1
            sys.stderr.write(err)
        print(("FAIL " if rc else "ok   ") + os.path.relpath(path, root))
print(f"clang-syntax-check: {len(entries) - failed} ok, {failed} failed")
sys.exit(1 if failed else 0)
PY
