// The default pass pipeline of each target (docs/pipeline.md).
#ifndef ATTN_PASSES_PIPELINES_H
#define ATTN_PASSES_PIPELINES_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace mlir::attn {

/// The default pipeline of `target` (`ref`, `cpu`, `cuda[:sm_NN]`) as pass
/// pipeline text for a module (without the outer `builtin.module(...)`), or
/// nothing for an unknown target.
std::optional<std::string> defaultPipeline(llvm::StringRef target);

/// Runs `target`'s default pipeline on `module` (MLIR's pass-manager
/// command-line options apply where they were registered); failure with a
/// diagnostic on an unknown target or a failing pass.
LogicalResult runDefaultPipeline(ModuleOp module, llvm::StringRef target);

} // namespace mlir::attn

#endif
