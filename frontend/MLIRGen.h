// Emission of checked kernels as the attn dialect, following the kernel
// conventions of docs/dialect.md: one func.func per kernel, one attn.einsum
// per statement, attn.fill for outputs.
#ifndef ATTN_FRONTEND_MLIRGEN_H
#define ATTN_FRONTEND_MLIRGEN_H

#include "frontend/DiagnosticEmitter.h"
#include "frontend/Frontend.h"
#include "frontend/Sema.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <vector>

namespace mlir::attn {

/// Emits every kernel into a new module; reports errors through `diags` and
/// returns null after any (including IR that fails to verify).
OwningOpRef<ModuleOp> emitKernels(const std::vector<KernelInfo> &kernels,
                                  const FrontendOptions &options,
                                  DiagnosticEmitter &diags);

} // namespace mlir::attn

#endif // ATTN_FRONTEND_MLIRGEN_H
