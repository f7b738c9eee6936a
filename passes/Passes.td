// Declarations and options of the attn cascade passes.
#ifndef ATTN_PASSES_TD
#define ATTN_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnCountPasses : Pass<"attn-count-passes", "::mlir::func::FuncOp"> {
  let summary = "Count the passes a cascade makes over each reduced rank";
  let description = [{
    After FuseMax (Nayak et al., MICRO 2024): for every rank that some
    einsum of the kernel reduces, the number of times the cascade must
    traverse its inputs along that rank, given the dependencies between the
    reductions. A reduction over the rank can start only once every value it
    reads is available; a value that depends on a reduction over the rank
    is available only after the pass that computed that reduction. Naive
    softmax with the division before the weighted sum needs 3 passes over
    the keys; with the division deferred, 2; the one-pass rewrite brings it
    to 1. Emits one remark per rank on the kernel: `rank m: 2 passes`.
  }];
}

#endif // ATTN_PASSES_TD
