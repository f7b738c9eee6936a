// The JIT without its CPU code generator (AttnJitGpu: no Halide, for the
// GPU machine): the "cpu" target is refused with the reason
// (JitCpuBackend.h).
#include "codegen/jit/JitCpuBackend.h"

using namespace mlir;
using namespace mlir::attn;

static constexpr const char *kNoCpu =
    "the cpu target is not available: this JIT was built without the CPU "
    "code generator (AttnJitGpu, no Halide); link attnc::jit for cpu";

JitStatus jit::appendCpuKeyText(const HalideCodegenOptions &, std::string &) {
  return JitStatus::error(kNoCpu);
}

LogicalResult jit::compileCpuLibrary(func::FuncOp kernel, llvm::StringRef,
                                     const HalideCodegenOptions &) {
  return kernel.emitError(kNoCpu);
}

uint64_t jit::cpuCompilations() { return 0; }
