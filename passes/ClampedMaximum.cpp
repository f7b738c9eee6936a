// Folding a clamp of a maximum into the maximum, and why a maximum read
// outside its pass costs a second one. A non-decreasing f commutes
// with a maximum over a finite set, f(max(m) u) = max(m) f(u); absent points
// stay absent on both sides (a point where u or a free operand of f is
// absent is skipped by the maximum, and a maximum of nothing is absent). So
// the statement `GM2 = max(GM, c)` between the maximum and the pass that
// reads it becomes a maximum over m itself, and the running maximum of one
// pass is the clamped one.
#include "passes/ClampedMaximum.h"
#include "passes/EinsumBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

/// How a value of a body depends on the value `g` it reads from the maximum.
enum class Monotone { Free, NonDecreasing, Other };

std::optional<double> constantOf(Value v) {
  if (auto c = v.getDefiningOp<arith::ConstantOp>())
    if (auto a = dyn_cast<FloatAttr>(c.getValue()))
      return a.getValueAsDouble();
  return std::nullopt;
}

Monotone classify(Value v, Value g, DenseMap<Value, Monotone> &memo) {
  if (v == g)
    return Monotone::NonDecreasing;
  auto it = memo.find(v);
  if (it != memo.end())
    return it->second;
  Operation *op = v.getDefiningOp();
  if (!op) // another input or an index value
    return Monotone::Free;
  SmallVector<Monotone> in;
  for (Value o : op->getOperands())
    in.push_back(classify(o, g, memo));
  auto is = [&](unsigned i, Monotone m) { return in[i] == m; };
  Monotone result = Monotone::Other;
  if (llvm::all_of(in, [](Monotone m) { return m == Monotone::Free; }))
    result = Monotone::Free;
  else if (llvm::is_contained(in, Monotone::Other))
    result = Monotone::Other;
  else if (isa<arith::ExtFOp, arith::TruncFOp, arith::AddFOp, arith::MaximumFOp,
               arith::MinimumFOp, arith::MaxNumFOp, arith::MinNumFOp>(op))
    result = Monotone::NonDecreasing; // of non-decreasing and free operands
  else if (isa<arith::SubFOp>(op) && is(1, Monotone::Free))
    result = Monotone::NonDecreasing;
  else if (isa<arith::MulFOp>(op)) {
    std::optional<double> c =
        constantOf(op->getOperand(is(0, Monotone::Free) ? 0 : 1));
    if ((is(0, Monotone::Free) || is(1, Monotone::Free)) && c && *c > 0)
      result = Monotone::NonDecreasing;
  } else if (isa<arith::DivFOp>(op) && is(1, Monotone::Free)) {
    std::optional<double> c = constantOf(op->getOperand(1));
    if (c && *c > 0)
      result = Monotone::NonDecreasing;
  }
  memo[v] = result;
  return result;
}

/// The position in `max`'s result of each of `clamp`'s dimensions, when
/// `clamp` reads `max` once, at its own points (a permutation of its
/// dimensions); else empty.
SmallVector<unsigned> pointsOfMaximum(EinsumOp clamp, EinsumOp max,
                                      unsigned &input) {
  SmallVector<unsigned> positions;
  auto reads = llvm::make_filter_range(
      llvm::seq<unsigned>(0, clamp.getInputs().size()),
      [&](unsigned i) { return clamp.getInputs()[i] == max.getResult(); });
  if (llvm::range_size(reads) != 1)
    return {};
  input = *reads.begin();
  AffineMap map = clamp.getInputMap(input);
  if (map.getNumResults() != clamp.getNumDims() || !map.isPermutation())
    return {};
  positions.assign(clamp.getNumDims(), 0);
  for (unsigned k = 0; k < map.getNumResults(); ++k)
    positions[cast<AffineDimExpr>(map.getResult(k)).getPosition()] = k;
  return positions;
}

/// `C = max(m) f(u)` in place of the clamp `C = f(G)`.
EinsumOp foldClamp(RewriterBase &rewriter, EinsumOp max, EinsumOp clamp,
                   unsigned input, ArrayRef<unsigned> positions) {
  auto yieldOf = [](Region &r) {
    return cast<YieldOp>(r.front().getTerminator()).getValues()[0];
  };
  SmallVector<AffineExpr> identity, clampPlace;
  rewriter.setInsertionPoint(clamp);
  EinsumBuilder b(rewriter, clamp.getLoc(), max.getSizes(), indexNames(max));
  for (unsigned d = 0; d < max.getNumDims(); ++d)
    identity.push_back(b.dim(d));
  AffineMap maxResult = max.getResultMap();
  for (unsigned d = 0; d < clamp.getNumDims(); ++d)
    clampPlace.push_back(b.dim(
        cast<AffineDimExpr>(maxResult.getResult(positions[d])).getPosition()));
  if (max.hasFilter())
    for (Attribute a : *max.getFilter()) {
      IntegerSet set = cast<IntegerSetAttr>(a).getValue();
      SmallVector<AffineExpr> exprs;
      for (AffineExpr e : set.getConstraints())
        exprs.push_back(b.placed(max, identity, e));
      b.addFilterConjunction(exprs, set.getEqFlags());
    }
  IRMapping known;
  Value u = b.clone(b.body(), max, yieldOf(max.getBody()), identity, known);
  IRMapping clampKnown;
  clampKnown.map(clamp.getBody().front().getArgument(input), u);
  Value f = b.clone(b.body(), clamp, yieldOf(clamp.getBody()), clampPlace,
                    clampKnown);
  Value guard;
  if (max.hasGuard()) {
    IRMapping guardKnown;
    guard =
        b.clone(b.guard(), max, yieldOf(max.getGuard()), identity, guardKnown);
  }
  SmallVector<unsigned> resultDims;
  for (AffineExpr x : clamp.getResultMap().getResults())
    resultDims.push_back(
        cast<AffineDimExpr>(clampPlace[cast<AffineDimExpr>(x).getPosition()])
            .getPosition());
  Type elem =
      cast<RankedTensorType>(clamp.getResult().getType()).getElementType();
  return b.finish(f, elem, resultDims, ReductionKind::max, guard);
}

} // namespace

FoldedClamps mlir::attn::foldClampsIntoMaximum(RewriterBase &rewriter,
                                               EinsumOp max,
                                               RankAnalysis &ranks) {
  FoldedClamps folded;
  SmallVector<unsigned> reduced = max.getReducedDims();
  if (max.getKind() != ReductionKind::max || reduced.size() != 1)
    return folded;
  unsigned rank = ranks.rankOf(max, reduced[0]);
  auto iteratesRank = [&](Operation *user) {
    auto e = dyn_cast<EinsumOp>(user);
    return e &&
           llvm::any_of(llvm::seq<unsigned>(0, e.getNumDims()),
                        [&](unsigned d) { return ranks.rankOf(e, d) == rank; });
  };
  SmallVector<EinsumOp> clamps;
  for (Operation *user : max.getResult().getUsers())
    if (auto e = dyn_cast<EinsumOp>(user))
      if (!llvm::is_contained(clamps, e))
        clamps.push_back(e);
  for (EinsumOp clamp : clamps) {
    unsigned input = 0;
    SmallVector<unsigned> positions = pointsOfMaximum(clamp, max, input);
    if (positions.empty() || clamp.getKind() != ReductionKind::none ||
        clamp.hasFilter() || clamp.hasGuard() ||
        !llvm::any_of(clamp.getResult().getUsers(), iteratesRank))
      continue;
    DenseMap<Value, Monotone> memo;
    Value g = clamp.getBody().front().getArgument(input);
    Value f =
        cast<YieldOp>(clamp.getBody().front().getTerminator()).getValues()[0];
    if (classify(f, g, memo) != Monotone::NonDecreasing)
      continue;
    EinsumOp folded1 = foldClamp(rewriter, max, clamp, input, positions);
    for (NamedAttribute a : max->getDiscardableAttrs())
      if (!folded1->hasAttr(a.getName()))
        folded1->setAttr(a.getName(), a.getValue());
    rewriter.replaceOp(clamp, folded1.getResult());
    folded.maxima.push_back(folded1);
  }
  if (!folded.maxima.empty() && max.getResult().use_empty()) {
    rewriter.eraseOp(max);
    folded.erasedMax = true;
  }
  return folded;
}

/// The name of the statement `op` is (or is in), from its location ("SN");
/// else the op's name.
std::string mlir::attn::statementName(Operation *op) {
  Operation *statement = op;
  if (auto e = op->getParentOfType<EinsumOp>())
    statement = e;
  if (auto n = dyn_cast<NameLoc>(statement->getLoc()))
    return n.getName().str();
  return statement->getName().getStringRef().str();
}

/// Why a maximum that no sum of its pass reads still costs a second pass
/// over its rank: a statement outside the pass reads it, and an einsum over
/// the rank reads that statement's result (transitively). Empty if none.
std::string mlir::attn::secondPassReason(EinsumOp max, RankAnalysis &ranks) {
  unsigned rank = ranks.rankOf(max, max.getReducedDims()[0]);
  auto iterates = [&](EinsumOp e) {
    return llvm::any_of(llvm::seq<unsigned>(0, e.getNumDims()),
                        [&](unsigned d) { return ranks.rankOf(e, d) == rank; });
  };
  SmallVector<std::pair<Value, EinsumOp>> work; // a value, its reader of max
  for (Operation *user : max.getResult().getUsers())
    if (auto e = dyn_cast<EinsumOp>(user); e && !iterates(e))
      work.push_back({e.getResult(), e});
  llvm::DenseSet<Value> seen;
  while (!work.empty()) {
    auto [v, outside] = work.pop_back_val();
    if (!seen.insert(v).second)
      continue;
    for (Operation *user : v.getUsers()) {
      auto e = dyn_cast<EinsumOp>(user);
      if (!e)
        continue;
      if (iterates(e))
        return statementName(outside) + " reads the maximum along " +
               ranks.name(rank) +
               " outside its pass (not a non-decreasing "
               "clamp of it) and " +
               statementName(e) + " over " + ranks.name(rank) + " reads " +
               statementName(outside) + ": a second pass over " +
               ranks.name(rank);
      work.push_back({e.getResult(), outside});
    }
  }
  return "";
}
