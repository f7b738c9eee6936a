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
    interval bounds of each linear constraint, and reported as a remark on
    the einsum (a constraint with floordiv, ceildiv or mod is checked per
    tile). The interval analysis is passes/TileIntervals.h, generic over the
    arithmetic: FilterTileClassifier is its int64 instance,
    passes/ArithIntervalDomain.h builds it as arith ops for a classification
    at run time; the code generators (the CUDA fused launch, the Halide
    emitter's range proofs) are to use it in place of their own interval
    code. Filters that read tensors (guards) are classified at run time.
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

def AttnFuseElementwise : Pass<"attn-fuse-elementwise", "::mlir::func::FuncOp"> {
  let summary = "Fold elementwise einsums into their one consumer";
  let description = [{
    Map fusion. An elementwise einsum P (kind none) is folded into the einsum
    C that reads it when:
    - P's result has exactly one use, as an input of C (not a table, not
      read by attn.fill, not a kernel result);
    - C reads it through a map of distinct bare dimensions, and (unless
      `allow-recompute`) that map names every dimension of C, so that
      distinct points of C read distinct points of P and P's body still runs
      at most once per point of P.
    C's body then computes P's body where it read P: P's inputs, tables and
    symbols join C's, P's maps placed in C's dimensions; C's filter becomes
    the intersection with P's (a union of conjunctions, multiplied out) and
    its guard the conjunction with P's, so a point P left absent stays
    absent. Folding repeats to a fixpoint. Also canonicalises: inputs that
    read the same tensor through the same map become one. Results never
    change (the same operations run on the same values at the same points).
    A remark on C names the folded einsum's line. With `allow-recompute`, C
    may iterate dimensions the map lacks (P's body then runs again for each
    of their values, e.g. the feature maps of linear_causal.attn folded into
    the scores); the remark says along which.
  }];
  let options = [
    Option<"allowRecompute", "allow-recompute", "bool", /*default=*/"false",
           "Also fold where the consumer iterates dimensions the producer "
           "lacks (recomputing the producer's body along them)">
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

def AttnReorderContractions : Pass<"attn-reorder-contractions",
                                   "::mlir::func::FuncOp"> {
  let summary = "Reassociate products of contractions by a cost model";
  let description = [{
    A sum S whose body is a product of factors, read by sums C1..Cn as a
    factor of their products (no non-linearity between), is reassociated:
    S's factors split into the key side (those that depend on a dimension
    the consumers reduce) and the query side (the rest); each side that
    computes more than it reads is materialized once as an elementwise
    einsum (FQ = relu(Q), FK = relu(K)). For each consumer C, its factors
    along its sums (V) are summed with the key side first (KV = sum(m) FK V),
    the query side with that next (sum(e) FQ KV), and C's factors constant
    along all sums (1/Z) are applied in an elementwise step. Every consumer
    must reduce the same dimensions of S; S and C have no guard, C no filter.

    With a causal filter `q - k >= 0` on S (k the one dimension the
    consumers reduce), the chunked form: chunks of `chunk-size` keys; per
    chunk sums of the key side times C's factors (filter `k < M`); their
    exclusive prefix over chunks (a sum over key chunks with `kc < qc`
    selected, others adding exact zeros, so every prefix is present); the
    inter-chunk part reads the query's chunk of it; the intra-chunk part
    sums the keys of the query's own chunk with `k <= q` (scores SI over the
    chunk, indices wrapped by `mod M` so that every read is in range); then
    intra + inter times C's remaining factors. The chunk counts are
    `arith.ceildivsi` in the function body. Refused unless every tensor the
    sides and C's factors read is present everywhere or nowhere (the zeros
    would otherwise make a point present that was absent).

    Cost model: the multiply-adds of a sum are its iteration-space volume,
    a polynomial in the size symbols (elementwise steps are not counted).
    The rewrite is made when the estimate after is lower than before, with
    sizes bound at compile time exact, unbound sizes of a kernel tensor's
    innermost dimension (the feature sizes E, F of [.., seq, feature]
    layouts) taken as `short-size`, all other unbound sizes as `long-size`.
    Remarks on S give the costs: `reordered the contractions over e and m:
    cost P*E*M + ... -> ...`, or why not (a non-linear function between the
    contractions, as in softmax; a cost that would not drop).
  }];
  let options = [
    Option<"chunkSize", "chunk-size", "int64_t", /*default=*/"64",
           "Keys per chunk of the causal (chunked) form">,
    Option<"longSize", "long-size", "int64_t", /*default=*/"4096",
           "Estimate of an unbound sequence (or batch) size">,
    Option<"shortSize", "short-size", "int64_t", /*default=*/"64",
           "Estimate of an unbound feature size (a tensor's innermost)">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def AttnExpandScans : Pass<"attn-expand-scans", "::mlir::func::FuncOp"> {
  let summary = "Restate each attn.scan as the filtered reduction it is";
  let description = [{
    `attn.scan` along `t` becomes `result[.., t, ..] = kind(r) input[..,
    r, ..] where r <= t`: an einsum whose points a code generator may
    evaluate independently (O(extent) per point, O(extent^2) per line),
    for targets without a recurrence (the CUDA one-thread-per-point path).
    The CPU target keeps the scan and lowers it as a recurrence (O(extent)
    per line).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def AttnHoistSumFactors : Pass<"attn-hoist-sum-factors", "::mlir::func::FuncOp"> {
  let summary = "Take factors that do not vary along a sum's reduced dimensions out of it";
  let description = [{
    A sum-einsum whose body is a product with factors that read no input
    through a map naming a reduced dimension, no reduced dimension's index
    and no table (the `rsqrt(E)` of `Q K rsqrt(E)`, a per-head scale) is
    split into the sum of the other factors and an elementwise einsum that
    multiplies it by those factors: one multiply-add per term instead of a
    multiply and a multiply-add, the factors applied once per result point.
    Presence, filters and tables stay on the sum. Emits a remark per sum it
    splits.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

#endif // ATTN_PASSES_TD
