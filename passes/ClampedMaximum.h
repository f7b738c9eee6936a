// A clamp of a maximum folded into the maximum: for a non-decreasing f,
// f(max(m) u) = max(m) f(u), so `GM2 = max(GM, Sink[h])` (gpt-oss sinks, a
// softmax with a floor) becomes a max reduction that attn-one-pass can run.
#ifndef ATTN_PASSES_CLAMPEDMAXIMUM_H
#define ATTN_PASSES_CLAMPEDMAXIMUM_H

#include "dialect/AttnOps.h"
#include "passes/RankAnalysis.h"

#include "mlir/IR/PatternMatch.h"

#include <string>

namespace mlir::attn {

/// Replaces every elementwise einsum `C = f(G)` that reads the maximum
/// `G = max(m) u` at its own points, applies a non-decreasing f (sums and
/// differences with values free of G, max and min with them, products and
/// quotients by positive constants) and is read by an einsum over m, with
/// the maximum `C = max(m) f(u)`; erases `max` when nothing else reads it.
/// The new maxima have C's location (its statement's name).
struct FoldedClamps {
  SmallVector<EinsumOp> maxima; // in place of the clamps
  bool erasedMax = false;       // nothing else read `max`
};
FoldedClamps foldClampsIntoMaximum(RewriterBase &rewriter, EinsumOp max,
                                   RankAnalysis &ranks);

/// Why the maximum `max`, which no sum of its pass reads, still costs a
/// second pass over its rank: a statement outside the pass reads it and an
/// einsum over the rank reads that statement (transitively). Empty if not.
std::string secondPassReason(EinsumOp max, RankAnalysis &ranks);

/// The name of the statement `op` is (or is in), from its location ("SN");
/// else the op's name.
std::string statementName(Operation *op);

} // namespace mlir::attn

#endif
