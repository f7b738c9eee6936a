// attn-split-reduction: partition the reduced rank of an attn.online across
// K parallel workers and combine their partial states (Flash-Decoding,
// Lean Attention; the same rule serves context parallelism).
//
// attn.online is a monoid over its reduced dimension: a running maximum and
// sums relative to it. Splitting the tiles m1 into K contiguous ranges,
// m1 = w * C + j with C = ceil(NT / K), each worker w combines its own range
// (an inner attn.online that keeps w, with a filter for the last worker's
// short range) and one more attn.online over w combines the K partial
// states with the same corrections. K is the `workers` option, or, with
// workers=0, a cost model evaluated at run time on the actual sizes
// (splitForParallelism). The transform is `splitReduction`
// (passes/SplitReduction.h); the pass applies it to every attn.online not
// split yet.
#include "passes/SplitReduction.h"
#include "passes/EinsumBuilder.h"
#include "passes/MatchFailureRemarks.h"
#include "passes/Passes.h"
#include "passes/SplitDimension.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNSPLITREDUCTION
#include "passes/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

//===----------------------------------------------------------------------===//
// Choosing K
//===----------------------------------------------------------------------===//

ControlSplitReductionFn mlir::attn::splitAcrossWorkers(int64_t workers) {
  return [workers](OpBuilder &b,
                   OnlineOp online) -> FailureOr<SplitReductionWorkers> {
    if (workers < 2)
      return failure();
    return SplitReductionWorkers{
        arith::ConstantIndexOp::create(b, online.getLoc(), workers),
        std::to_string(workers) + " workers"};
  };
}

ControlSplitReductionFn mlir::attn::splitForParallelism(int64_t parallelism) {
  return [parallelism](OpBuilder &b,
                       OnlineOp online) -> FailureOr<SplitReductionWorkers> {
    SmallVector<unsigned> reduced = online.getReducedDims();
    if (parallelism < 1 || reduced.size() != 1)
      return failure();
    Location loc = online.getLoc();
    Value numTiles = online.getSizes()[reduced[0]];
    Value rows = arith::ConstantIndexOp::create(b, loc, 1);
    for (AffineExpr e : online.getMaxMap().getResults())
      rows = arith::MulIOp::create(
          b, loc, rows,
          online.getSizes()[cast<AffineDimExpr>(e).getPosition()]);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    Value want = arith::CeilDivSIOp::create(
        b, loc, arith::ConstantIndexOp::create(b, loc, parallelism),
        arith::MaxSIOp::create(b, loc, rows, one));
    Value k = arith::MaxSIOp::create(
        b, loc, one, arith::MinSIOp::create(b, loc, want, numTiles));
    return SplitReductionWorkers{
        k, "ceil(" + std::to_string(parallelism) +
               " / rows) workers (at most one per tile), chosen at run time"};
  };
}

//===----------------------------------------------------------------------===//
// The transform
//===----------------------------------------------------------------------===//

namespace {

/// The names of the inner op's dimensions (attn.indices): the worker index
/// (`<stem>w`, a name no dimension of the kernel has yet) before the split
/// one, whose name it keeps. Names are for people: nothing depends on them.
SmallVector<Attribute> perWorkerNames(OnlineOp o, unsigned r,
                                      StringRef rankName) {
  MLIRContext *ctx = o.getContext();
  StringRef stem = rankName.ends_with("1") ? rankName.drop_back() : rankName;
  Operation *scope = o->getParentOfType<func::FuncOp>();
  std::string worker =
      freshIndexName(scope ? scope : o.getOperation(), (stem + "w").str());
  SmallVector<Attribute> out;
  for (unsigned d = 0; d < o.getNumDims(); ++d) {
    if (d == r)
      out.push_back(StringAttr::get(ctx, worker));
    out.push_back(StringAttr::get(ctx, o.getIndexName(d)));
  }
  return out;
}

} // namespace

FailureOr<SplitReductionResult>
mlir::attn::splitReduction(RewriterBase &rewriter, OnlineOp o,
                           const ControlSplitReductionFn &control) {
  SmallVector<unsigned> reduced = o.getReducedDims();
  if (reduced.size() != 1)
    return rewriter.notifyMatchFailure(o, "it reduces several dimensions");
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(o);
  FailureOr<SplitReductionWorkers> workers = control(rewriter, o);
  if (failed(workers))
    return rewriter.notifyMatchFailure(o, "the control function declined");
  MLIRContext *ctx = o.getContext();
  Location loc = o.getLoc();
  unsigned r = reduced[0];
  unsigned n = o.getNumDims();
  Value numTiles = o.getSizes()[r];
  Value k = workers->count;
  Value chunk = arith::CeilDivSIOp::create(rewriter, loc, numTiles, k);

  // Inner: dims d < r as before, then w (at r), j (at r + 1), the rest
  // shifted by one. Symbols: the old ones, C, NT.
  unsigned numSyms = o.getSymbols().size();
  SmallVector<Value> symbols(o.getSymbols());
  symbols.push_back(chunk);
  symbols.push_back(numTiles);
  AffineExpr w = getAffineDimExpr(r, ctx), j = getAffineDimExpr(r + 1, ctx);
  AffineExpr c = getAffineSymbolExpr(numSyms, ctx);
  AffineExpr nt = getAffineSymbolExpr(numSyms + 1, ctx);
  SmallVector<AffineExpr> dimRepl, symRepl;
  for (unsigned d = 0; d < n; ++d)
    dimRepl.push_back(d == r ? w * c + j
                             : getAffineDimExpr(d < r ? d : d + 1, ctx));
  for (unsigned s = 0; s < numSyms; ++s)
    symRepl.push_back(getAffineSymbolExpr(s, ctx));
  auto subst = [&](AffineMap map) {
    return map.replaceDimsAndSymbols(dimRepl, symRepl, n + 1, numSyms + 2);
  };
  auto withW = [&](AffineMap map) {
    SmallVector<AffineExpr> rs(subst(map).getResults());
    rs.push_back(w);
    return AffineMap::get(n + 1, numSyms + 2, rs, ctx);
  };
  SmallVector<AffineMap> innerMaps{subst(o.getRefMap())};
  for (unsigned i = 0; i < o.getNumParts(); ++i)
    innerMaps.push_back(subst(o.getPartMap(i)));
  innerMaps.push_back(withW(o.getMaxMap()));
  for (unsigned i = 0; i < o.getNumParts(); ++i)
    innerMaps.push_back(withW(o.getSumMap(i)));
  SmallVector<IntegerSet> filter =
      splitFilter(o.getFilter(), dimRepl, symRepl, n + 1, numSyms + 2,
                  nt - 1 - (w * c + j));
  SmallVector<Value> innerSizes(o.getSizes());
  innerSizes[r] = chunk;
  innerSizes.insert(innerSizes.begin() + r, k);
  std::optional<int64_t> kC = getConstantIntValue(k);
  auto appendW = [&](Type t) -> Type {
    auto rt = cast<RankedTensorType>(t);
    SmallVector<int64_t> shape(rt.getShape());
    shape.push_back(kC ? *kC : ShapedType::kDynamic);
    return RankedTensorType::get(shape, rt.getElementType());
  };
  SmallVector<Type> innerSumTypes;
  for (Value v : o.getSums())
    innerSumTypes.push_back(appendW(v.getType()));
  SmallVector<double> rescale;
  for (Attribute a : o.getRescale())
    rescale.push_back(cast<FloatAttr>(a).getValueAsDouble());

  std::string rankName = o.getIndexName(r);
  SmallVector<Attribute> innerNames = perWorkerNames(o, r, rankName);
  auto inner = OnlineOp::create(
      rewriter, loc, appendW(o.getMax().getType()), innerSumTypes, o.getRef(),
      o.getParts(), innerSizes, symbols, innerMaps, rescale, filter);
  // attn.indices and attn.split (the split ops are not split again).
  inner->setAttr(kIndicesAttr, rewriter.getArrayAttr(innerNames));
  inner->setAttr(kSplitAttr, rewriter.getUnitAttr());

  // Outer: the dims of `o` with r now the worker index w.
  auto toW = [&](AffineMap map, bool append) {
    SmallVector<AffineExpr> rs(map.getResults());
    if (append)
      rs.push_back(getAffineDimExpr(r, ctx));
    return AffineMap::get(n, 0, rs, ctx);
  };
  SmallVector<AffineMap> outerMaps{toW(o.getMaxMap(), true)};
  for (unsigned i = 0; i < o.getNumParts(); ++i)
    outerMaps.push_back(toW(o.getSumMap(i), true));
  outerMaps.push_back(toW(o.getMaxMap(), false));
  for (unsigned i = 0; i < o.getNumParts(); ++i)
    outerMaps.push_back(toW(o.getSumMap(i), false));
  SmallVector<Value> outerSizes(o.getSizes());
  outerSizes[r] = k;
  SmallVector<Attribute> outerNames(innerNames);
  outerNames.erase(outerNames.begin() + r + 1);
  auto outer = OnlineOp::create(rewriter, loc, o.getMax().getType(),
                                o.getSums().getTypes(), inner.getMax(),
                                inner.getSums(), outerSizes,
                                /*symbols=*/ValueRange{}, outerMaps, rescale);
  // attn.indices and attn.split.
  outer->setAttr(kIndicesAttr, rewriter.getArrayAttr(outerNames));
  outer->setAttr(kSplitAttr, rewriter.getUnitAttr());
  rewriter.replaceOp(o, outer->getResults());
  return SplitReductionResult{inner, outer, rankName, workers->description};
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

namespace {

struct SplitReduction
    : public mlir::attn::impl::AttnSplitReductionBase<SplitReduction> {
  using AttnSplitReductionBase::AttnSplitReductionBase;

  void runOnOperation() override {
    if (workers < 0 || parallelism < 1) {
      getOperation().emitError("attn-split-reduction: workers must be >= 0 "
                               "and parallelism >= 1");
      return signalPassFailure();
    }
    SmallVector<OnlineOp> onlines;
    getOperation().walk([&](OnlineOp o) {
      if (!o->hasAttr(kSplitAttr)) // attn.split: made by this pass
        onlines.push_back(o);
    });
    // workers=1: the option says never split; there is nothing to report.
    if (workers == 1)
      return;
    ControlSplitReductionFn control = workers > 0
                                          ? splitAcrossWorkers(workers)
                                          : splitForParallelism(parallelism);
    MatchFailureRemarks remarks("split-reduction: not split: ");
    IRRewriter rewriter(&getContext(), &remarks);
    for (OnlineOp o : onlines) {
      remarks.setSubject(o);
      FailureOr<SplitReductionResult> split =
          splitReduction(rewriter, o, control);
      if (succeeded(split))
        split->combine.emitRemark()
            << "split-reduction: rank " << split->rankName << " across "
            << split->description << ", combined by a second attn.online";
    }
  }
};

} // namespace
