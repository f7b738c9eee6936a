// The attn cascade passes, declared in Passes.td.
#ifndef ATTN_PASSES_PASSES_H
#define ATTN_PASSES_PASSES_H

#include "dialect/AttnOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::attn {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

/// registerAttnPasses(): registers every attn pass (attn-opt, attnc).
#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

} // namespace mlir::attn

#endif
