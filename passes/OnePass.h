// The one-pass rewrite as a library transform (attn-one-pass is a thin
// wrapper): a max reduction over one rank, the elementwise einsums that read
// it and the sums that read those become per-tile einsums combined by one
// attn.online over the tiles (FlashAttention's online softmax).
#ifndef ATTN_PASSES_ONEPASS_H
#define ATTN_PASSES_ONEPASS_H

#include "dialect/AttnOps.h"
#include "passes/RankAnalysis.h"

#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/DenseMap.h"

#include <string>

namespace mlir::attn {

/// The einsums that one pass over a rank `m` computes: the maximum
/// `G = max(m) u`, the elementwise einsums over `m` that read it
/// (transitively), and the sums over `m` that read those, each of the form
/// `h * exp(c * G)` with a constant `c < 0`.
struct OnePassGroup {
  EinsumOp max;
  unsigned maxDim = 0;                           // the dimension `max` reduces
  SmallVector<EinsumOp> elementwise;             // in program order
  SmallVector<EinsumOp> sums;                    // in program order
  SmallVector<double> rescale;                   // per sum: its exponent `c`
  llvm::DenseMap<Operation *, unsigned> rankDim; // member -> its dim of `m`
};

/// Finds the group of the max reduction `max` and checks from the algebra of
/// the bodies that it can run in one pass. On failure, the reason (the op
/// that has no rescaling correction, a reader the pass cannot serve, ...)
/// goes to `rewriter.notifyMatchFailure`; nothing is changed. A group with
/// no sums (a plain maximum) matches: nothing reads it during a pass.
FailureOr<OnePassGroup> matchOnePassGroup(RewriterBase &rewriter, EinsumOp max,
                                          RankAnalysis &ranks);

struct OnePassOptions {
  /// The extent T of the tiles: `m = m1 * T + m0`.
  int64_t tileSize = 64;
};

struct OnePassResult {
  EinsumOp tileMax;              // TM[.., m1]: the maximum of each tile
  SmallVector<EinsumOp> members; // the elementwise members and partial sums
                                 // per tile, in program order
  OnlineOp online;               // combines the tiles over m1; its results
                                 // replaced the maximum and the sums
  std::string rankName;          // the name of the tiled rank (`m`)
};

/// Rewrites `group` (from matchOnePassGroup, on the IR as it is now):
/// partitions its rank into tiles, turns every member into its per-tile
/// form and combines the tiles with one attn.online placed after the last
/// partial sum, whose results replace the maximum and the sums; the old
/// members are erased and the kernel records the tiling (attn.tiled).
/// Fails through `rewriter.notifyMatchFailure`, changing nothing, for a
/// group without sums or a tile size below 1.
FailureOr<OnePassResult> rewriteToOnePass(RewriterBase &rewriter,
                                          const OnePassGroup &group,
                                          RankAnalysis &ranks,
                                          const OnePassOptions &options = {});

/// Both steps on the max reduction `max` of a kernel (a func.func).
FailureOr<OnePassResult> rewriteToOnePass(RewriterBase &rewriter, EinsumOp max,
                                          const OnePassOptions &options = {});

} // namespace mlir::attn

#endif
