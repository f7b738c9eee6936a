// Placeholder until the frontend lands.
#include "frontend/Frontend.h"
mlir::OwningOpRef<mlir::ModuleOp>
mlir::attn::translateAttnToMLIR(llvm::SourceMgr &, MLIRContext *,
                                const FrontendOptions &) {
  return nullptr;
}
