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

#endif // ATTN_PASSES_TD
