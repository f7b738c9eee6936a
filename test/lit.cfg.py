# lit configuration for attnc's FileCheck tests.
import os
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

# ptxas (CUDA toolkit), where installed, checks generated PTX: `%if ptxas`.
import shutil
ptxas = shutil.which("ptxas") or (
    "/usr/local/cuda/bin/ptxas" if os.path.exists("/usr/local/cuda/bin/ptxas") else None)
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
