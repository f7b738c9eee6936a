# lit configuration for attnc's FileCheck tests.
import os
import shutil
import subprocess
import lit.formats
from lit.llvm import llvm_config

config.name = "attnc"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".attn", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.attn_obj_root, "test")
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "unit", "Inputs",
                   "CMakeLists.txt"]
config.substitutions.append(("%examples", os.path.join(config.attn_src_root, "examples")))
config.substitutions.append(("%attn_src_root", config.attn_src_root))
config.substitutions.append(("%attn_build_root", config.attn_obj_root))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
tool_dirs = [os.path.join(config.attn_obj_root, "tools", "attnc"),
             os.path.join(config.attn_obj_root, "tools", "attn-opt"),
             os.path.join(config.attn_obj_root, "test", "fuzz"),
             config.llvm_tools_dir]
llvm_config.add_tool_substitutions(["attnc", "attn-opt"], tool_dirs)
for d in tool_dirs[:3]:
    llvm_config.with_environment("PATH", d, append_path=True)
if config.attn_have_fuzzer:
    config.available_features.add("libfuzzer")
# Tests of unwritable folders: root ignores file permissions.
if os.geteuid() != 0:
    config.available_features.add("non-root")

# A CUDA GPU on this machine (the JIT's GPU example runs): `REQUIRES: cuda-gpu`.
if shutil.which("nvidia-smi") and subprocess.run(
        ["nvidia-smi", "-L"], capture_output=True).returncode == 0:
    config.available_features.add("cuda-gpu")
jit_cuda_example = os.path.join(config.attn_obj_root, "codegen", "jit",
                                "attn-jit-cuda-example")
if os.path.exists(jit_cuda_example):
    config.available_features.add("jit-cuda-example")
    config.substitutions.append(("%jit_cuda_example", jit_cuda_example))
jit_gpu_check = os.path.join(config.attn_obj_root, "codegen", "jit",
                             "attn-jit-gpu-check")
if os.path.exists(jit_gpu_check):
    config.available_features.add("jit-gpu-check")
    config.substitutions.append(("%jit_gpu_check", jit_gpu_check))

# The package test (test/Package) builds a consumer project.
import shutil
for tool in ("cmake", "pkg-config"):
    if shutil.which(tool):
        config.available_features.add(tool)

# The Python module (python/), where it was built: `REQUIRES: python-attnc`
# runs a test with the build's Python; `REQUIRES: torch` with a Python that
# has torch ($ATTN_TORCH_PYTHON, else bench/.venv's, where bench/cpu.sh
# installed torch from PyPI).
import subprocess
if config.attn_have_python:
    config.available_features.add("python-attnc")
    config.substitutions.append(("%attn_python", config.attn_python))
    torch_python = os.environ.get("ATTN_TORCH_PYTHON") or os.path.join(
        config.attn_src_root, "bench", ".venv", "bin", "python")
    try:
        if os.path.exists(torch_python) and subprocess.run(
                [torch_python, "-c", "import torch, numpy"],
                capture_output=True, timeout=120).returncode == 0:
            config.available_features.add("torch")
            config.substitutions.append(("%torch_python", torch_python))
    except (OSError, subprocess.TimeoutExpired):
        pass

# ptxas (CUDA toolkit), where installed, checks generated PTX: `%if ptxas`.
import shutil
ptxas = shutil.which("ptxas") or (
    "/usr/local/cuda/bin/ptxas" if os.path.exists("/usr/local/cuda/bin/ptxas") else None)
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))

# cuobjdump (CUDA toolkit; $CUOBJDUMP names another copy, e.g. Triton's),
# where installed, disassembles the cubins ptxas makes: `REQUIRES: cuobjdump`.
# Else the copy Triton ships in bench/.venv (bench/cpu.sh installs torch).
import glob
cuobjdump = os.environ.get("CUOBJDUMP") or shutil.which("cuobjdump") or next(
    (c for c in ["/usr/local/cuda/bin/cuobjdump"] + sorted(glob.glob(os.path.join(
        config.attn_src_root, "bench", ".venv", "lib", "python3*", "site-packages",
        "triton", "backends", "nvidia", "bin", "cuobjdump")))
     if os.path.exists(c)), None)
if cuobjdump and os.path.exists(cuobjdump):
    config.available_features.add("cuobjdump")
    config.substitutions.append(("%cuobjdump", cuobjdump))
