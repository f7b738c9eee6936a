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

def AttnClassifyTiles : Pass<"attn-classify-tiles", "::mlir::func::FuncOp"> {
  let summary = "Derive when a tile of a filtered einsum is full or empty";
  let description = [{
    Filter analysis: the dimensions an einsum's affine filter constrains are
    tiled (`tile-size`); for every constraint, the conditions on the tile
    origins under which it holds on the whole tile (the tile needs no mask)
    and nowhere on it (the tile is skipped) are derived symbolically from
    interval bounds, and reported as a remark on the einsum. Code generators
    evaluate the same classification (FilterTileClassifier) per tile at run
    time. Filters that read tensors (guards) are classified at run time.
  }];
  let options = [
    Option<"tileSize", "tile-size", "int64_t", /*default=*/"64",
           "Tile extent of every dimension the filter constrains">
  ];
}

def AttnOnePass : Pass<"attn-one-pass", "::mlir::func::FuncOp"> {
  let summary = "Rewrite max/exp/sum cascades over a rank into one pass";
  let description = [{
    For every max reduction over one rank `m`, gathers the elementwise
    einsums over `m` that read it and the sums over `m` that read those,
    and checks from the bodies' algebra that each sum is `h * exp(c * max)`
    with a constant `c < 0` (FlashAttention's rescaling:
    `exp(a - c) = exp(a - b) * exp(b - c)`). Then partitions `m` into tiles
    (`m = m1 * tile-size + m0`): per tile, the tile maximum and the partial
    sums relative to it; across tiles, one `attn.online` that keeps a
    running maximum and rescales. Soft-capping, biases, masks, sinks,
    grouped heads all live in the score and pass through. Where a sum has
    no correction (a tanh of the maximum, a sum affine in it), the group is
    left as it is with a remark naming the op that blocks it.
  }];
  let options = [
    Option<"tileSize", "tile-size", "int64_t", /*default=*/"64",
           "Extent of the tiles (m0) of the rewritten rank">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def AttnSplitReduction : Pass<"attn-split-reduction", "::mlir::func::FuncOp"> {
  let summary = "Split the reduced rank of attn.online across parallel workers";
  let description = [{
    Flash-Decoding / Lean Attention, derived from the monoid attn.online:
    the tiles `m1` are split into K contiguous ranges (`m1 = w * C + j`);
    an inner attn.online combines each worker's range and keeps `w`, an
    outer one combines the K partial states with the same corrections.
    K is `workers`, or with `workers=0` a cost model evaluated on the
    run-time sizes: `K = clamp(ceil(parallelism / rows), 1, tiles)` where
    `rows` is the number of independent result rows of the maximum.
  }];
  let options = [
    Option<"workers", "workers", "int64_t", /*default=*/"0",
           "Number of workers K (0: the cost model)">,
    Option<"parallelism", "parallelism", "int64_t", /*default=*/"256",
           "Parallel tasks the cost model aims for (rows x workers)">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

#endif // ATTN_PASSES_TD
