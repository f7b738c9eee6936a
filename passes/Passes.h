// The attn cascade passes (declared in Passes.td as they land).
#ifndef ATTN_PASSES_PASSES_H
#define ATTN_PASSES_PASSES_H

namespace mlir::attn {
/// Registers every attn pass with the global pass registry (attn-opt, attnc).
void registerAttnPasses();
} // namespace mlir::attn

#endif
