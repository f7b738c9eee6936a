// Split reduction of attn.online as a library transform (attn-split-reduction
// is a thin wrapper): the reduced dimension is partitioned across K workers,
// each combining its own range, and a second attn.online combines their
// partial states (Flash-Decoding, Lean Attention).
#ifndef ATTN_PASSES_SPLITREDUCTION_H
#define ATTN_PASSES_SPLITREDUCTION_H

#include "dialect/AttnOps.h"

#include "mlir/IR/PatternMatch.h"

#include <functional>
#include <string>

namespace mlir::attn {

/// The number of workers K, an index value computed before the op that is
/// split (a constant, or an expression of the run-time sizes), and how it
/// was chosen, in words (`4 workers`), for remarks.
struct SplitReductionWorkers {
  Value count;
  std::string description;
};

/// Chooses the workers for `online`, creating any ops it needs with
/// `builder`, whose insertion point is just before `online`. Failure leaves
/// the op unsplit.
using ControlSplitReductionFn = std::function<FailureOr<SplitReductionWorkers>(
    OpBuilder &builder, OnlineOp online)>;

/// K = `workers` (at least 2), a constant.
ControlSplitReductionFn splitAcrossWorkers(int64_t workers);

/// The default cost model, evaluated at run time on the actual sizes: enough
/// workers that (rows x workers) reaches `parallelism` parallel tasks, never
/// more than one per tile: K = clamp(ceil(parallelism / rows), 1, tiles),
/// where rows is the number of independent result rows of the maximum.
/// Decode (one query per head) splits; long prefill keeps K = 1.
ControlSplitReductionFn splitForParallelism(int64_t parallelism = 256);

struct SplitReductionResult {
  OnlineOp perWorker;      // keeps the worker index w: each worker's range
  OnlineOp combine;        // combines the K partial states; replaced the op
  std::string rankName;    // the name of the split dimension (`m1`)
  std::string description; // how K was chosen (from the control)
};

/// Splits the one reduced dimension `r` of `online` into K contiguous ranges
/// of C = ceil(R / K) (`r = w * C + j`), K chosen by `control`: an inner
/// attn.online keeps the worker index w (with a filter for the last
/// worker's short range) and an outer one combines the K partial states
/// with the same corrections; the outer one replaces `online`. Both are
/// marked attn.split. Fails through `rewriter.notifyMatchFailure`, changing
/// nothing, when `online` reduces several dimensions or `control` declines.
FailureOr<SplitReductionResult>
splitReduction(RewriterBase &rewriter, OnlineOp online,
               const ControlSplitReductionFn &control = splitForParallelism());

} // namespace mlir::attn

#endif
