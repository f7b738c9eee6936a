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
// workers=0, a cost model evaluated at run time on the actual sizes:
// enough workers that (rows x workers) reaches `parallelism` parallel tasks,
// never more than the number of tiles: K = clamp(ceil(parallelism / rows),
// 1, NT), where rows is the number of independent result rows (B * H * P).
// Decode (one query per head) splits; long prefill (many rows) keeps K = 1.
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNSPLITREDUCTION
#include "passes/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

std::optional<int64_t> constantOf(Value v) {
  if (auto c = v.getDefiningOp<arith::ConstantIndexOp>())
    return c.value();
  return std::nullopt;
}

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
      if (!o->hasAttr(kSplitAttr))
        onlines.push_back(o);
    });
    for (OnlineOp o : onlines)
      split(o);
  }

  void split(OnlineOp o);
};

void SplitReduction::split(OnlineOp o) {
  SmallVector<unsigned> reduced = o.getReducedDims();
  if (reduced.size() != 1) {
    o.emitRemark("split-reduction: not split: it reduces several dimensions");
    return;
  }
  if (workers == 1)
    return;
  MLIRContext *ctx = o.getContext();
  Location loc = o.getLoc();
  unsigned r = reduced[0];
  unsigned n = o.getNumDims();
  OpBuilder b(o);
  Value numTiles = o.getSizes()[r];

  // K: the option, or the cost model on the run-time sizes.
  Value k;
  std::string how;
  if (workers > 0) {
    k = arith::ConstantIndexOp::create(b, loc, workers);
    how = std::to_string(workers) + " workers";
  } else {
    Value rows = arith::ConstantIndexOp::create(b, loc, 1);
    for (AffineExpr e : o.getMaxMap().getResults())
      rows = arith::MulIOp::create(
          b, loc, rows, o.getSizes()[cast<AffineDimExpr>(e).getPosition()]);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    Value want = arith::CeilDivSIOp::create(
        b, loc, arith::ConstantIndexOp::create(b, loc, parallelism),
        arith::MaxSIOp::create(b, loc, rows, one));
    k = arith::MaxSIOp::create(
        b, loc, one, arith::MinSIOp::create(b, loc, want, numTiles));
    how = "ceil(" + std::to_string(parallelism) +
          " / rows) workers (at most one per tile), chosen at run time";
  }
  Value chunk = arith::CeilDivSIOp::create(b, loc, numTiles, k);

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
    SmallVector<AffineExpr> rs;
    for (AffineExpr e : subst(map).getResults())
      rs.push_back(e);
    rs.push_back(w);
    return AffineMap::get(n + 1, numSyms + 2, rs, ctx);
  };
  SmallVector<AffineMap> innerMaps{subst(o.getRefMap())};
  for (unsigned i = 0; i < o.getNumParts(); ++i)
    innerMaps.push_back(subst(o.getPartMap(i)));
  innerMaps.push_back(withW(o.getMaxMap()));
  for (unsigned i = 0; i < o.getNumParts(); ++i)
    innerMaps.push_back(withW(o.getSumMap(i)));
  SmallVector<IntegerSet> filter;
  AffineExpr bound = nt - 1 - (w * c + j);
  if (std::optional<ArrayAttr> sets = o.getFilter()) {
    for (Attribute a : *sets) {
      IntegerSet set = cast<IntegerSetAttr>(a).getValue();
      SmallVector<AffineExpr> cs;
      SmallVector<bool> eq;
      for (unsigned i = 0; i < set.getNumConstraints(); ++i) {
        cs.push_back(
            set.getConstraint(i).replaceDimsAndSymbols(dimRepl, symRepl));
        eq.push_back(set.isEq(i));
      }
      cs.push_back(bound);
      eq.push_back(false);
      filter.push_back(IntegerSet::get(n + 1, numSyms + 2, cs, eq));
    }
  } else {
    filter.push_back(IntegerSet::get(n + 1, numSyms + 2, {bound}, {false}));
  }
  SmallVector<Value> innerSizes(o.getSizes());
  innerSizes[r] = chunk;
  innerSizes.insert(innerSizes.begin() + r, k);
  std::optional<int64_t> kC = constantOf(k);
  auto appendW = [&](Type t) {
    auto rt = cast<RankedTensorType>(t);
    SmallVector<int64_t> shape(rt.getShape());
    shape.push_back(kC ? *kC : ShapedType::kDynamic);
    return RankedTensorType::get(shape, rt.getElementType());
  };
  SmallVector<Type> innerTypes;
  for (Value v : o.getResults())
    innerTypes.push_back(appendW(v.getType()));

  auto names = o->getAttrOfType<ArrayAttr>(kIndicesAttr);
  std::string base = names && r < names.size()
                         ? cast<StringAttr>(names[r]).str()
                         : "d" + std::to_string(r);
  auto buildOnline = [&](Value ref, ValueRange parts, ValueRange sizes,
                         ValueRange syms, ArrayRef<AffineMap> maps,
                         ArrayRef<IntegerSet> sets, TypeRange types,
                         ArrayRef<Attribute> dimNames) {
    OperationState state(loc, OnlineOp::getOperationName());
    state.addOperands(ref);
    state.addOperands(parts);
    state.addOperands(sizes);
    state.addOperands(syms);
    state.addAttribute(OnlineOp::getOperandSegmentSizesAttrName(state.name),
                       b.getDenseI32ArrayAttr(
                           {1, static_cast<int32_t>(parts.size()),
                            static_cast<int32_t>(sizes.size()),
                            static_cast<int32_t>(syms.size())}));
    state.addAttribute(OnlineOp::getIndexingMapsAttrName(state.name),
                       b.getAffineMapArrayAttr(maps));
    state.addAttribute(OnlineOp::getRescaleAttrName(state.name),
                       o.getRescale());
    if (!sets.empty()) {
      SmallVector<Attribute> fs;
      for (IntegerSet s : sets)
        fs.push_back(IntegerSetAttr::get(s));
      state.addAttribute(OnlineOp::getFilterAttrName(state.name),
                         b.getArrayAttr(fs));
    }
    state.addAttribute(kIndicesAttr, b.getArrayAttr(dimNames));
    state.addAttribute(kSplitAttr, b.getUnitAttr());
    state.addTypes(types);
    return cast<OnlineOp>(b.create(state));
  };
  SmallVector<Attribute> innerNames;
  for (unsigned d = 0; d < n; ++d) {
    Attribute name = names && d < names.size()
                         ? names[d]
                         : StringAttr::get(ctx, "d" + std::to_string(d));
    if (d == r) {
      StringRef stem = StringRef(base).ends_with("1")
                           ? StringRef(base).drop_back()
                           : StringRef(base);
      innerNames.push_back(StringAttr::get(ctx, stem + "w"));
      innerNames.push_back(name);
    } else {
      innerNames.push_back(name);
    }
  }
  OnlineOp inner = buildOnline(o.getRef(), o.getParts(), innerSizes, symbols,
                               innerMaps, filter, innerTypes, innerNames);

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
  OnlineOp outer = buildOnline(inner.getMax(), inner.getSums(), outerSizes,
                               {}, outerMaps, {}, o.getResultTypes(),
                               outerNames);
  o->replaceAllUsesWith(outer->getResults());
  outer.emitRemark() << "split-reduction: rank " << base << " across " << how
                     << ", combined by a second attn.online";
  o->erase();
}

} // namespace
