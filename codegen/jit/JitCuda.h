// Internal to the JIT: the "cuda" target. A cache entry holds the kernel's
// PTX and its manifest (what `attnc --emit=bundle` writes); loading it goes
// through the runtime alone (the driver JITs the PTX for the GPU), so a
// cache hit needs neither MLIR nor the code generator.
#ifndef ATTN_CODEGEN_JIT_JITCUDA_H
#define ATTN_CODEGEN_JIT_JITCUDA_H

#include "codegen/jit/JitCompiler.h"
#include "runtime/Runtime.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace mlir::attn::jit {

/// True for "cuda" and "cuda:<anything>" (checked by resolveCudaTarget).
bool isCudaTarget(llvm::StringRef target);

/// The target a "cuda" entry is compiled for: "cuda:sm_XY[a]" as given, or,
/// for plain "cuda", the architecture of the current context's GPU (device
/// 0 without one), read through the driver; sm_90 becomes sm_90a (wgmma).
JitStatus resolveCudaTarget(llvm::StringRef target, std::string &resolved);

/// Compiles `kernel` (a clone of the verified module's kernel; the cuda
/// default pipeline is run here) for `resolved` and writes its bundle into
/// `dir` as <kernel>.ptx and kernel.attn.json.
JitStatus produceCudaEntry(func::FuncOp kernel, llvm::StringRef resolved,
                           const std::string &dir);

/// Loads the bundle of `dir` through the runtime, checks it is kernel
/// `wantName` (empty: any), and describes its arguments.
JitStatus loadCudaEntry(const std::string &dir, const std::string &wantName,
                        ::attn::rt::Kernel &kernel,
                        std::vector<JitValueInfo> &inputs,
                        std::vector<JitValueInfo> &outputs);

/// The output shapes of a call of `kernel` on these inputs: each output
/// dimension is a literal or a size symbol bound by an input's extent (or
/// an integer scalar of that name).
JitStatus cudaOutputShapes(const ::attn::rt::Kernel &kernel,
                           llvm::ArrayRef<attn_tensor> inputs,
                           llvm::ArrayRef<attn_scalar> scalars,
                           std::vector<std::vector<int64_t>> &shapes);

} // namespace mlir::attn::jit

#endif
