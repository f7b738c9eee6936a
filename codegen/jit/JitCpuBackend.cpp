// The JIT's CPU code generator: Halide, ahead of time, to a shared object
// (JitCpuBackend.h).
#include "codegen/jit/JitCpuBackend.h"

#include "codegen/halide/HalideAot.h"
#include "codegen/jit/CompilerVersion.h"
#include "codegen/jit/KernelCache.h"

#include <Halide.h>

using namespace mlir;
using namespace mlir::attn;

JitStatus jit::appendCpuKeyText(const HalideCodegenOptions &h,
                                std::string &text) {
  if (!Halide::Target::validate_target_string(h.target))
    return JitStatus::error("'" + h.target + "' is not a Halide target string");
  text += "halide.target " + Halide::Target(h.target).to_string() + "\n";
  text += "halide.vectorWidth " + std::to_string(h.vectorWidth) + "\n";
  text += "halide.rowTile " + std::to_string(h.rowTile) + "\n";
  text += "halide.computeRoot " + std::to_string(h.computeRoot) + "\n";
  text += "halide.strictFloat " + std::to_string(h.strictFloat) + "\n";
  return JitStatus::ok();
}

LogicalResult jit::compileCpuLibrary(func::FuncOp kernel,
                                     llvm::StringRef library,
                                     const HalideCodegenOptions &options) {
  CpuAotOptions aot;
  aot.codegen = options;
  aot.compilerVersion = compilerVersion();
  aot.runtimeCacheDir = KernelCache::defaultDirectory();
  return compileKernelAheadOfTime(kernel, library,
                                  CpuArtifactKind::SharedObject, aot);
}

uint64_t jit::cpuCompilations() { return halideCompilations(); }
