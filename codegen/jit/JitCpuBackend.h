// The JIT's CPU code generator behind one seam: the Halide half of a "cpu"
// compile (JitCpuBackend.cpp). The JIT built without Halide (AttnJitGpu, the
// one carried to the GPU machine) links JitCpuBackendAbsent.cpp instead,
// which refuses the "cpu" target with a message saying why.
#ifndef ATTN_CODEGEN_JIT_JITCPUBACKEND_H
#define ATTN_CODEGEN_JIT_JITCPUBACKEND_H

#include "codegen/jit/JitCompiler.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace mlir::attn::jit {

/// Appends the "cpu" code generation options to the cache key text, the
/// Halide target canonicalized ("host" becomes the host's features). Fails
/// on a target string Halide does not accept, or in a JIT without the CPU
/// code generator.
JitStatus appendCpuKeyText(const HalideCodegenOptions &options,
                           std::string &text);

/// Compiles `kernel` (already through the cpu pipeline) ahead of time to the
/// shared object `library` and its manifest. Diagnostics go to the kernel's
/// context.
LogicalResult compileCpuLibrary(func::FuncOp kernel, llvm::StringRef library,
                                const HalideCodegenOptions &options);

/// Halide compilations in this process (0 without the CPU code generator).
uint64_t cpuCompilations();

} // namespace mlir::attn::jit

#endif
