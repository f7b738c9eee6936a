// The attn language frontend: source text in, attn dialect module out.
#ifndef ATTN_FRONTEND_FRONTEND_H
#define ATTN_FRONTEND_FRONTEND_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/SourceMgr.h"

#include <cstdint>
#include <map>
#include <string>

namespace mlir::attn {

struct FrontendOptions {
  /// --param NAME=VALUE overrides (the value as written: "4", "30.0").
  std::map<std::string, std::string> params;
  /// --bind SYM=N: size symbols fixed at compile time.
  std::map<std::string, int64_t> binds;
};

/// Parses the main buffer of `sourceMgr` and emits one func.func per kernel
/// (docs/dialect.md, "Kernel conventions"). Errors are reported through the
/// context's diagnostic engine with FileLineColLoc locations
/// (file:line:column); returns null after any error. Never aborts on input.
OwningOpRef<ModuleOp> translateAttnToMLIR(llvm::SourceMgr &sourceMgr,
                                          MLIRContext *context,
                                          const FrontendOptions &options);

} // namespace mlir::attn

#endif
