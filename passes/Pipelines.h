// The default pass pipeline of each target (docs/pipeline.md).
#ifndef ATTN_PASSES_PIPELINES_H
#define ATTN_PASSES_PIPELINES_H

#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace mlir::attn {

/// The default pipeline of `target` (`ref`, `cpu`, `cuda[:sm_NN]`) as pass
/// pipeline text for a module (without the outer `builtin.module(...)`), or
/// nothing for an unknown target.
std::optional<std::string> defaultPipeline(llvm::StringRef target);

} // namespace mlir::attn

#endif
