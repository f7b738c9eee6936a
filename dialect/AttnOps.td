// The ops of the attn dialect: einsum, its terminator, indirect reads, fill,
// online combines and scans.
#ifndef ATTN_OPS_TD
#define ATTN_OPS_TD

include "dialect/AttnDialect.td"
include "dialect/AttnInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"

def Attn_IntegerSetArrayAttr : TypedArrayAttrBase<
    IntegerSetAttr, "array of integer sets">;

def Attn_EinsumOp : Attn_Op<"einsum", [AttrSizedOperandSegments,
    RecursiveMemoryEffects, SingleBlockImplicitTerminator<"YieldOp">,
    Attn_IterationSpaceOpInterface]> {
  let summary = "one extended Einsum: map, filter, reduce";
  let description = [{
    The iteration space has one dimension per `sizes` operand, dimension `i`
    ranging over `[0, sizes[i])`. `indexing_maps` holds one affine map per
    input and one for the result, over those dimensions and over `symbols`
    (maps may be semi-affine: `d0 floordiv s0`). The result map is a
    projection: each of its results is a distinct dimension; the dimensions
    it does not name are reduced with `kind` (`none` exactly when no
    dimension is reduced).

    A point exists when it satisfies the `filter` (a union of integer sets:
    the point must lie in at least one of them; no filter means every point)
    and, if the `guard` region is not empty, when the guard yields true.
    At an existing point whose inputs are all present, the body runs with
    the input elements (in operand order) followed by the index value of
    every dimension, and yields the value to combine. Result points that
    receive no value are absent.

    `tables` are tensors read inside the regions by `attn.read` with
    computed (data-dependent) indices: paged caches, block layouts.
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$inputs,
                       Variadic<AnyRankedTensor>:$tables,
                       Variadic<Index>:$sizes,
                       Variadic<Index>:$symbols,
                       AffineMapArrayAttr:$indexing_maps,
                       Attn_ReductionKindAttr:$kind,
                       OptionalAttr<Attn_IntegerSetArrayAttr>:$filter);
  let results = (outs AnyRankedTensor:$result);
  let regions = (region SizedRegion<1>:$body, AnyRegion:$guard);
  let assemblyFormat = [{
    (`ins` `(` $inputs^ `:` type($inputs) `)`)?
    (`tables` `(` $tables^ `:` type($tables) `)`)?
    `sizes` `(` $sizes `)`
    (`symbols` `(` $symbols^ `)`)?
    attr-dict `->` type($result) $body (`guard` $guard^)?
  }];
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
  let skipDefaultBuilders = 1;
  let builders = [
    OpBuilder<(ins "Type":$resultType, "ValueRange":$inputs,
                   "ValueRange":$tables, "ValueRange":$sizes,
                   "ValueRange":$symbols, "ArrayRef<AffineMap>":$maps,
                   "ReductionKind":$kind, "ArrayRef<IntegerSet>":$filter)>
  ];
  let extraClassDeclaration = [{
    unsigned getNumDims() { return getSizes().size(); }
    /// The inputs, then the result (IterationSpaceOpInterface).
    SmallVector<Value> getIndexedTensors();
    AffineMap getInputMap(unsigned i);
    AffineMap getResultMap();
    bool hasFilter() { return getFilter().has_value(); }
    bool hasGuard() { return !getGuard().empty(); }
    /// Creates the body block (and the guard block when `withGuard`), with
    /// their arguments, and returns the body block.
    Block *createBodyBlock(bool withGuard);
  }];
}

def Attn_YieldOp : Attn_Op<"yield", [Pure, Terminator, ReturnLike,
    ParentOneOf<["EinsumOp"]>]> {
  let summary = "the value of an einsum point (body) or its existence (guard)";
  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = "attr-dict ($values^ `:` type($values))?";
  let builders = [OpBuilder<(ins), [{ /* nothing */ }]>];
  let hasVerifier = 1;
}

def Attn_ReadOp : Attn_Op<"read", [Pure]> {
  let summary = "read a table element at computed indices";
  let description = [{
    Inside an einsum's body or guard: reads `tensor[indices]`, where the
    tensor is one of the einsum's `tables`. An index outside the tensor is a
    run-time error; reading an absent element makes the point absent.
  }];
  let arguments = (ins AnyRankedTensor:$tensor, Variadic<Index>:$indices);
  let results = (outs AnyType:$value);
  let assemblyFormat =
      "$tensor `[` $indices `]` attr-dict `:` type($tensor) `->` type($value)";
  let hasVerifier = 1;
}

def Attn_FillOp : Attn_Op<"fill", [Pure]> {
  let summary = "give absent points a value and convert the element type";
  let description = [{
    The result holds `input` where it is present and `value` where it is
    absent, converted to the result's element type (round to nearest even
    for floats). Outputs of a kernel are written through it.
  }];
  let arguments = (ins AnyRankedTensor:$input, F64Attr:$value);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat =
      "$input `,` $value attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Attn_OnlineOp : Attn_Op<"online", [AttrSizedOperandSegments, Pure,
    Attn_IterationSpaceOpInterface]> {
  let summary = "combine partial reductions that are relative to a running maximum";
  let description = [{
    The combine step of the one-pass rewrite and of split reductions: a
    reduction whose state is a reference value (a running maximum) and sums
    expressed relative to it. The first input `ref` holds partial maxima;
    every other input `part_i` holds a partial sum that was computed
    relative to the `ref` value at the same point (`sum h * exp(c_i * ref)`
    for the partial's own `ref`). With `R` the dimensions that no result
    map names (the reduced ones) and `x`, `y` the others:

      M[x]      = max over R of ref[x, R]
      O_i[x, y] = sum over R of part_i[x, y, R] * exp(c_i * (M[x] - ref[x, R]))

    where `c_i` is `rescale[i]` (negative: -1 for softmax's exp(s - max)).
    Only points where `ref` (and, for O_i, `part_i`) is present contribute;
    a result point with no contribution is absent. The definition is exact
    mathematics; implementations evaluate it online, keeping a running
    maximum and rescaling the running sums by exp(c_i * (new - old)) when it
    grows, so one traversal of R suffices and partial states combine in any
    order (the operation is a monoid: FlashAttention's online softmax,
    Flash-Decoding's combine).

    Maps are as in `attn.einsum`: one per input, then one per result, over
    the `sizes` dimensions and the `symbols`. An optional `filter` (a union
    of integer sets, as on `attn.einsum`) drops points: a point outside it
    contributes nothing (split reductions use it for the last worker's
    range). Result maps name dimensions
    only; the first result's map names the dimensions `ref` depends on
    besides `R`, and every other result map names those too.
  }];
  let arguments = (ins AnyRankedTensor:$ref,
                       Variadic<AnyRankedTensor>:$parts,
                       Variadic<Index>:$sizes,
                       Variadic<Index>:$symbols,
                       AffineMapArrayAttr:$indexing_maps,
                       F64ArrayAttr:$rescale,
                       OptionalAttr<Attn_IntegerSetArrayAttr>:$filter);
  let results = (outs AnyRankedTensor:$max, Variadic<AnyRankedTensor>:$sums);
  let assemblyFormat = [{
    `ins` `(` $ref `,` $parts `:` type($ref) `,` type($parts) `)`
    `sizes` `(` $sizes `)`
    (`symbols` `(` $symbols^ `)`)?
    attr-dict `->` type($max) `,` type($sums)
  }];
  let hasVerifier = 1;
  let builders = [
    // Maps: ref, parts, then max and sums. An empty filter means no filter.
    OpBuilder<(ins "Type":$maxType, "TypeRange":$sumTypes, "Value":$ref,
                   "ValueRange":$parts, "ValueRange":$sizes,
                   "ValueRange":$symbols, "ArrayRef<AffineMap>":$maps,
                   "ArrayRef<double>":$rescale,
                   CArg<"ArrayRef<IntegerSet>", "{}">:$filter)>
  ];
  let extraClassDeclaration = [{
    unsigned getNumDims() { return getSizes().size(); }
    unsigned getNumParts() { return getParts().size(); }
    /// ref, the parts, max, the sums (IterationSpaceOpInterface).
    SmallVector<Value> getIndexedTensors();
    AffineMap getRefMap();
    AffineMap getPartMap(unsigned i);
    AffineMap getMaxMap();
    AffineMap getSumMap(unsigned i);
  }];
}

def Attn_ScanOp : Attn_Op<"scan", [Pure]> {
  let summary = "inclusive cumulative reduction along one dimension";
  let description = [{
    The result at a point `x` holds the combination, with `kind`, of the
    input's present elements at the points that agree with `x` in every
    dimension but `dim` and lie at or before `x` along `dim`:

      result[.., t, ..] = kind over t' <= t of input[.., t', ..]

    A point whose prefix holds no present element is absent. The result is
    exact mathematics; implementations walk `dim` in order and carry the
    running value (O(extent) per line), or evaluate the definition as a
    filtered reduction (O(extent) per point).
  }];
  let arguments = (ins AnyRankedTensor:$input, I64Attr:$dim,
                       Attn_ReductionKindAttr:$kind);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat =
      "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

#endif // ATTN_OPS_TD
