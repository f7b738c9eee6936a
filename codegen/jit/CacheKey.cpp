// The JIT cache key: every input that can change the compiled kernel, in one
// canonical text, hashed. Halide target strings are canonicalized ("host"
// becomes the actual host's features) so that a cache shared between
// machines never hands one a kernel built for another.
#include "codegen/jit/CompilerVersion.h"
#include "codegen/jit/JitCompiler.h"
#include "codegen/jit/JitCpuBackend.h"
#include "codegen/jit/JitCuda.h"

using namespace mlir;
using namespace mlir::attn;

JitStatus mlir::attn::jitCacheKeyText(llvm::StringRef source,
                                      const JitOptions &options,
                                      std::string &text) {
  std::string target = options.target;
  if (jit::isCudaTarget(target)) {
    // The GPU's architecture when the target names none.
    if (JitStatus status = jit::resolveCudaTarget(options.target, target);
        !status)
      return status;
  } else if (target != "cpu" && target != "ref") {
    return JitStatus::error("unknown target '" + target +
                            "' (available: cpu, ref, cuda, cuda:sm_XY[a])");
  }
  text = "attn-jit-key 2\n"; // 2: "cpu" entries hold a shared object
  text += "version " + std::string(compilerVersion()) + "\n";
  text += "target " + target + "\n";
  text += "kernel " + options.kernelName + "\n";
  for (const auto &[name, value] : options.params)
    text += "param " + name + "=" + value + "\n";
  for (const auto &[name, value] : options.binds) {
    if (value <= 0)
      return JitStatus::error("bind " + name + "=" + std::to_string(value) +
                              ": a bound size must be a positive integer");
    text += "bind " + name + "=" + std::to_string(value) + "\n";
  }
  if (options.target == "cpu")
    if (JitStatus status = jit::appendCpuKeyText(options.halide, text); !status)
      return status;
  text += "source " + std::to_string(source.size()) + "\n";
  text += source.str();
  return JitStatus::ok();
}

JitStatus mlir::attn::jitCacheKey(llvm::StringRef source,
                                  const JitOptions &options, std::string &key) {
  std::string text;
  JitStatus status = jitCacheKeyText(source, options, text);
  if (status)
    key = sha256Hex(text);
  return status;
}
