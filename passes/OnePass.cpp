// attn-one-pass: rewrite the passes over a reduced rank into one pass with a
// running maximum and rescaled sums (FlashAttention's online softmax),
// derived from the algebra of the bodies rather than matched by name.
//
// A group is a max reduction `G = max(m) u` over one rank `m`, the
// elementwise einsums over `m` that read it (transitively), and the sum
// reductions over `m` that read those. The group can run in one pass when
// every sum's body, as a function of the value `g` read from G, has the form
// `h * exp(c * g)` with a constant `c < 0` and `h` free of `g`: a partial sum
// computed against a partial maximum `a` is then corrected to the final
// maximum `b` by the factor `exp(c * (b - a))`. The body is classified by
// walking its SSA values (see `Form`): `g` itself is linear in `g`; sums and
// constant multiples of linear values stay linear; `exp` of a linear value
// is a character `exp(c * g)`; products and quotients of characters and free
// values are characters; `select` keeps a common form. Anything else (tanh
// of the maximum, a comparison with it, a sum that is affine in it) has no
// multiplicative correction and the group is refused with a remark naming
// the op.
//
// The rewrite partitions `m` into tiles, `m = m1 * T + m0` (`tile-size`),
// turns every member into its per-tile form (G into the tile maxima TM[..,
// m1], the sums into partial sums TS[.., m1] relative to TM, elementwise
// members read TM) and combines the tiles with one `attn.online` over `m1`,
// whose results replace G and the sums. The same `attn.online` combines the
// K partial states of a split reduction (attn-split-reduction).
//
// The transform is `matchOnePassGroup` + `rewriteToOnePass`
// (passes/OnePass.h); the pass applies them to every maximum and turns the
// reasons of refusals into remarks.
#include "passes/OnePass.h"
#include "passes/ClampedMaximum.h"
#include "passes/EinsumBuilder.h"
#include "passes/MatchFailureRemarks.h"
#include "passes/Passes.h"
#include "passes/SplitDimension.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/PatternMatch.h"

#include "llvm/Support/Format.h"

#include <optional>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNONEPASS
#include "passes/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// How a value depends on the value `g` of the group's maximum.
struct Form {
  enum Kind { Free, Linear, Character, Bad } kind = Free;
  double coeff = 0;               // Linear: v = f + coeff * g;
                                  // Character: v = f * exp(coeff * g)
  std::optional<double> constant; // Free values that are known constants
  Operation *blocker = nullptr;   // Bad: the op that has no correction

  static Form free() { return {}; }
  static Form linear(double a) {
    return a == 0 ? free() : Form{Linear, a, std::nullopt, nullptr};
  }
  static Form character(double c) {
    return {Character, c, std::nullopt, nullptr};
  }
  static Form bad(Operation *op) { return {Bad, 0, std::nullopt, op}; }
  bool isZero() const { return kind == Free && constant && *constant == 0; }
};

/// Classifies values of the group's bodies.
class Classifier {
public:
  explicit Classifier(const OnePassGroup &group)
      : maxResult(EinsumOp(group.max).getResult()) {
    for (EinsumOp e : group.elementwise)
      producers[e.getResult()] = e;
  }

  Form classify(Value v) {
    auto it = memo.find(v);
    if (it != memo.end())
      return it->second;
    Form f = compute(v);
    memo[v] = f;
    return f;
  }

private:
  Value maxResult;
  llvm::DenseMap<Value, EinsumOp> producers;
  llvm::DenseMap<Value, Form> memo;

  Form compute(Value v) {
    if (auto arg = dyn_cast<BlockArgument>(v)) {
      auto owner = dyn_cast<EinsumOp>(arg.getOwner()->getParentOp());
      if (!owner || arg.getOwner() != &owner.getBody().front() ||
          arg.getArgNumber() >= owner.getInputs().size())
        return Form::free(); // an index value
      Value input = owner.getInputs()[arg.getArgNumber()];
      if (input == maxResult)
        return Form::linear(1);
      auto p = producers.find(input);
      if (p == producers.end())
        return Form::free();
      auto yield = cast<YieldOp>(p->second.getBody().front().getTerminator());
      return classify(yield.getValues()[0]);
    }
    Operation *op = v.getDefiningOp();
    if (auto c = dyn_cast<arith::ConstantOp>(op)) {
      Form f;
      if (auto a = dyn_cast<FloatAttr>(c.getValue()))
        f.constant = a.getValueAsDouble();
      return f;
    }
    SmallVector<Form> in;
    for (Value o : op->getOperands())
      in.push_back(classify(o));
    for (const Form &f : in)
      if (f.kind == Form::Bad)
        return f;
    if (llvm::all_of(in, [](const Form &f) { return f.kind == Form::Free; }))
      return Form::free();

    auto same = [](const Form &a, const Form &b) {
      return a.kind == b.kind && a.coeff == b.coeff;
    };
    if (isa<arith::ExtFOp, arith::TruncFOp>(op))
      return in[0];
    if (isa<arith::NegFOp>(op))
      return in[0].kind == Form::Linear ? Form::linear(-in[0].coeff) : in[0];
    if (isa<arith::AddFOp, arith::SubFOp>(op)) {
      double sign = isa<arith::SubFOp>(op) ? -1 : 1;
      const Form &a = in[0], &b = in[1];
      bool linA = a.kind != Form::Character, linB = b.kind != Form::Character;
      if (linA && linB) // free and linear values: coefficients add
        return Form::linear((a.kind == Form::Linear ? a.coeff : 0) +
                            sign * (b.kind == Form::Linear ? b.coeff : 0));
      // f1 exp(cg) + f2 exp(cg) = (f1 + f2) exp(cg); 0 is any character.
      if (same(a, b) || (a.kind == Form::Character && b.isZero()))
        return a;
      if (b.kind == Form::Character && a.isZero())
        return b;
      return Form::bad(op);
    }
    if (isa<arith::MulFOp>(op)) {
      const Form &a = in[0], &b = in[1];
      if (a.kind == Form::Character && b.kind == Form::Character)
        return Form::character(a.coeff + b.coeff);
      if (a.kind == Form::Character && b.kind == Form::Free)
        return a;
      if (b.kind == Form::Character && a.kind == Form::Free)
        return b;
      if (a.kind == Form::Linear && b.constant)
        return Form::linear(a.coeff * *b.constant);
      if (b.kind == Form::Linear && a.constant)
        return Form::linear(b.coeff * *a.constant);
      return Form::bad(op);
    }
    if (isa<arith::DivFOp>(op)) {
      const Form &a = in[0], &b = in[1];
      if (a.kind == Form::Character && b.kind == Form::Character)
        return Form::character(a.coeff - b.coeff);
      if (a.kind == Form::Character && b.kind == Form::Free)
        return a;
      if (b.kind == Form::Character && a.kind == Form::Free)
        return Form::character(-b.coeff);
      if (a.kind == Form::Linear && b.constant && *b.constant != 0)
        return Form::linear(a.coeff / *b.constant);
      return Form::bad(op);
    }
    if (isa<math::ExpOp>(op) && in[0].kind == Form::Linear)
      return Form::character(in[0].coeff);
    // The factor exp(c * g) is positive: it commutes with abs, and with a
    // maximum or minimum of values that carry it (relu(x) = max(x, 0)).
    if (isa<math::AbsFOp>(op) && in[0].kind == Form::Character)
      return in[0];
    if (isa<arith::MaximumFOp, arith::MinimumFOp, arith::MaxNumFOp,
            arith::MinNumFOp>(op)) {
      const Form &a = in[0], &b = in[1];
      if (a.kind == Form::Character && (same(a, b) || b.isZero()))
        return a;
      if (b.kind == Form::Character && a.isZero())
        return b;
    }
    if (isa<arith::SelectOp>(op) && in[0].kind == Form::Free) {
      const Form &a = in[1], &b = in[2];
      if (same(a, b) || (a.kind == Form::Character && b.isZero()))
        return a;
      if (b.kind == Form::Character && a.isZero())
        return b;
    }
    return Form::bad(op);
  }
};

std::string nameOf(Operation *op) { return op->getName().getStringRef().str(); }

/// The dimension of `e` that is of rank `rank`; -1 if none, -2 if several.
int dimOfRank(EinsumOp e, unsigned rank, RankAnalysis &ranks) {
  int found = -1;
  for (unsigned d = 0; d < e.getNumDims(); ++d)
    if (ranks.rankOf(e, d) == rank)
      found = found == -1 ? static_cast<int>(d) : -2;
  return found;
}

//===----------------------------------------------------------------------===//
// Matching: the group and the algebra of its sums
//===----------------------------------------------------------------------===//

/// Walks the readers of the maximum and of the elementwise members into
/// `group`; the reason on failure.
LogicalResult collectMembers(RewriterBase &rewriter, EinsumOp max,
                             RankAnalysis &ranks, OnePassGroup &group) {
  unsigned rank = ranks.rankOf(max, group.maxDim);
  std::string rankName = ranks.name(rank);
  SmallVector<Value> work{max.getResult()};
  llvm::DenseSet<Operation *> seen;
  while (!work.empty()) {
    Value v = work.pop_back_val();
    bool isMax = v == max.getResult();
    for (Operation *user : v.getUsers()) {
      auto e = dyn_cast<EinsumOp>(user);
      if (!e) {
        if (isMax)
          continue; // reads the final maximum
        return rewriter.notifyMatchFailure(
            max, "a value computed from the maximum along " + rankName +
                     " is used by " + nameOf(user));
      }
      if (llvm::is_contained(e.getTables(), v))
        return rewriter.notifyMatchFailure(
            max, "a value computed from the maximum is read as a table");
      int d = dimOfRank(e, rank, ranks);
      if (d == -2)
        return rewriter.notifyMatchFailure(max, "an einsum iterates rank " +
                                                    rankName + " twice");
      if (d == -1) {
        if (isMax)
          continue; // outside the pass: reads the final maximum
        return rewriter.notifyMatchFailure(
            max, "a value computed from the maximum along " + rankName +
                     " is read by " + statementName(e) +
                     ", which does not iterate " + rankName);
      }
      // Reads of group values must be bare dimensions, so that every member
      // sees the maximum of its own result point.
      for (unsigned i = 0; i < e.getInputs().size(); ++i)
        if (e.getInputs()[i] == v &&
            !llvm::all_of(e.getInputMap(i).getResults(),
                          [](AffineExpr x) { return isa<AffineDimExpr>(x); }))
          return rewriter.notifyMatchFailure(
              max, "a value of the pass is read through a computed index");
      if (!seen.insert(e).second)
        continue;
      group.rankDim[e] = d;
      SmallVector<unsigned> red = e.getReducedDims();
      if (e.getKind() == ReductionKind::none) {
        group.elementwise.push_back(e);
        work.push_back(e.getResult());
      } else if (e.getKind() == ReductionKind::sum && red.size() == 1 &&
                 red[0] == static_cast<unsigned>(d)) {
        group.sums.push_back(e);
      } else {
        return rewriter.notifyMatchFailure(
            max, "a reduction with kind '" +
                     stringifyReductionKind(e.getKind()).str() +
                     "' reads the maximum along " + rankName + " (" +
                     statementName(e) + ")");
      }
    }
  }
  auto before = [](EinsumOp a, EinsumOp b) { return a->isBeforeInBlock(b); };
  llvm::sort(group.elementwise, before);
  llvm::sort(group.sums, before);
  return success();
}

/// Checks that every sum is `h * exp(c * g)` with `c < 0` and keeps every
/// dimension of the maximum, recording `c` in `group.rescale`.
LogicalResult checkCorrections(RewriterBase &rewriter, OnePassGroup &group,
                               RankAnalysis &ranks) {
  EinsumOp max = group.max;
  Classifier classifier(group);
  for (EinsumOp sum : group.sums) {
    if (sum.hasGuard()) {
      for (Operation &op : sum.getGuard().front())
        for (Value o : op.getOperands())
          if (classifier.classify(o).kind != Form::Free)
            return rewriter.notifyMatchFailure(
                max, "a guard depends on the maximum");
    }
    auto yield = cast<YieldOp>(sum.getBody().front().getTerminator());
    Form f = classifier.classify(yield.getValues()[0]);
    switch (f.kind) {
    case Form::Bad:
      return rewriter.notifyMatchFailure(
          max, nameOf(f.blocker) +
                   " of a value that depends on the maximum "
                   "has no rescaling correction (in " +
                   statementName(f.blocker) + ")");
    case Form::Free:
      return rewriter.notifyMatchFailure(
          max, "a sum reads the pass but does not depend on the maximum");
    case Form::Linear:
      return rewriter.notifyMatchFailure(
          max, "a sum is affine in the maximum, not exponential: no "
               "multiplicative correction");
    case Form::Character:
      if (f.coeff >= 0)
        return rewriter.notifyMatchFailure(
            max, "a sum grows with the maximum (exp(" +
                     std::to_string(f.coeff) +
                     " * max)): no bounded correction");
      group.rescale.push_back(f.coeff);
    }
    // The correction uses the maximum at the sum's result point.
    SmallVector<unsigned> sumResultDims;
    for (AffineExpr y : sum.getResultMap().getResults())
      sumResultDims.push_back(cast<AffineDimExpr>(y).getPosition());
    for (AffineExpr x : max.getResultMap().getResults()) {
      unsigned r = ranks.rankOf(max, cast<AffineDimExpr>(x).getPosition());
      int d = dimOfRank(sum, r, ranks);
      if (d < 0 || !llvm::is_contained(sumResultDims, static_cast<unsigned>(d)))
        return rewriter.notifyMatchFailure(
            max, "a sum's result does not keep every dimension of the "
                 "maximum");
    }
  }
  return success();
}

/// Checks that the group's results can be replaced where the combine step
/// goes: no member reads a sum, nothing uses a result before the last sum.
LogicalResult checkOrder(RewriterBase &rewriter, const OnePassGroup &group,
                         const std::string &rankName) {
  // A member that reads a sum of the same pass needs that sum's final
  // value: the sums cannot all run in one traversal.
  llvm::DenseSet<Value> sumResults;
  for (EinsumOp sum : group.sums)
    sumResults.insert(sum.getResult());
  SmallVector<EinsumOp> members(group.elementwise);
  members.append(group.sums);
  for (EinsumOp e : members)
    for (Value in : llvm::concat<Value>(e.getInputs(), e.getTables()))
      if (sumResults.count(in))
        return rewriter.notifyMatchFailure(
            group.max, "a sum over " + rankName +
                           " reads another sum over it (its final value is "
                           "needed first); divide after the sum instead");
  if (group.sums.empty())
    return success();
  Operation *last = group.sums.back();
  llvm::DenseSet<Operation *> all;
  all.insert(group.max);
  all.insert(members.begin(), members.end());
  for (Operation *m : all)
    for (Operation *user : m->getResult(0).getUsers())
      if (!all.count(user) && user->isBeforeInBlock(last))
        return rewriter.notifyMatchFailure(
            group.max, "a result of the pass is used before its last sum");
  return success();
}

} // namespace

FailureOr<OnePassGroup> mlir::attn::matchOnePassGroup(RewriterBase &rewriter,
                                                      EinsumOp max,
                                                      RankAnalysis &ranks) {
  if (max.getKind() != ReductionKind::max)
    return rewriter.notifyMatchFailure(max, "not a max reduction");
  SmallVector<unsigned> reduced = max.getReducedDims();
  if (reduced.size() != 1)
    return rewriter.notifyMatchFailure(
        max, "the maximum reduces several dimensions");
  OnePassGroup group;
  group.max = max;
  group.maxDim = reduced[0];
  group.rankDim[max] = group.maxDim;
  std::string rankName = ranks.name(ranks.rankOf(max, group.maxDim));
  if (failed(collectMembers(rewriter, max, ranks, group)) ||
      failed(checkCorrections(rewriter, group, ranks)) ||
      failed(checkOrder(rewriter, group, rankName)))
    return failure();
  return group;
}

//===----------------------------------------------------------------------===//
// Rewriting: the members per tile, the combine step over the tiles
//===----------------------------------------------------------------------===//

namespace {

/// Turns the members of a group into their per-tile form, in program order
/// (so that the operands of a member are tiled before it): dimension `m`
/// becomes (m1, m0) with `m = m1 * T + m0`; the maximum and the sums keep
/// m1 as a new last result dimension, elementwise members split `m` in
/// place.
class GroupTiler {
public:
  /// The names of the tile index and the element within a tile.
  struct Names {
    std::string tile, element;
  };

  GroupTiler(RewriterBase &rewriter, const OnePassGroup &group, int64_t tile,
             Value tileValue, Value numTiles, Names names)
      : rewriter(rewriter), group(group), ctx(rewriter.getContext()),
        maxResult(EinsumOp(group.max).getResult()), tile(tile),
        tileValue(tileValue), numTiles(numTiles), names(std::move(names)) {
    std::optional<int64_t> n = getConstantIntValue(numTiles);
    numTilesStatic = n ? *n : ShapedType::kDynamic;
  }

  EinsumOp tileMember(EinsumOp e);

private:
  /// The index of `m` in a moved region is `m1 * T + m0`.
  void moveRegion(Region &from, Region &to, unsigned firstDim, unsigned md,
                  Location loc);

  RewriterBase &rewriter;
  const OnePassGroup &group;
  MLIRContext *ctx;
  Value maxResult;
  int64_t tile;
  Value tileValue, numTiles;
  int64_t numTilesStatic;
  Names names;
  llvm::DenseMap<Value, Value> replaced; // old member result -> tiled one
};

EinsumOp GroupTiler::tileMember(EinsumOp e) {
  unsigned md = group.rankDim.lookup(e);
  unsigned n = e.getNumDims();
  Value m = e.getSizes()[md];
  std::optional<int64_t> mC = getConstantIntValue(m);
  // Symbols: the old ones, plus the extent when it bounds the last tile.
  SmallVector<Value> symbols(e.getSymbols());
  bool needBound = !mC || *mC % tile != 0;
  int symPos = -1;
  if (needBound && !mC) {
    auto it = llvm::find(symbols, m);
    symPos = it - symbols.begin();
    if (it == symbols.end())
      symbols.push_back(m);
  }
  unsigned numSyms = symbols.size();
  // Old dims -> new exprs.
  SmallVector<AffineExpr> dimRepl, symRepl;
  auto newDim = [&](unsigned d) {
    return getAffineDimExpr(d < md ? d : d + 1, ctx);
  };
  AffineExpr m1 = getAffineDimExpr(md, ctx), m0 = getAffineDimExpr(md + 1, ctx);
  for (unsigned d = 0; d < n; ++d)
    dimRepl.push_back(d == md ? m1 * tile + m0 : newDim(d));
  for (unsigned s = 0; s < e.getSymbols().size(); ++s)
    symRepl.push_back(getAffineSymbolExpr(s, ctx));
  auto subst = [&](AffineMap map) {
    return map.replaceDimsAndSymbols(dimRepl, symRepl, n + 1, numSyms);
  };
  // Bare-dimension reads of group values: m becomes (m1, m0).
  auto splitBare = [&](AffineMap map) {
    SmallVector<AffineExpr> r;
    for (AffineExpr x : map.getResults()) {
      unsigned d = cast<AffineDimExpr>(x).getPosition();
      if (d == md) {
        r.push_back(m1);
        r.push_back(m0);
      } else {
        r.push_back(newDim(d));
      }
    }
    return AffineMap::get(n + 1, numSyms, r, ctx);
  };
  auto withM1 = [&](AffineMap map) {
    SmallVector<AffineExpr> r(map.getResults());
    r.push_back(m1);
    return AffineMap::get(n + 1, numSyms, r, ctx);
  };

  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  for (unsigned i = 0; i < e.getInputs().size(); ++i) {
    Value in = e.getInputs()[i];
    AffineMap map = e.getInputMap(i);
    if (in == maxResult) {
      inputs.push_back(replaced.lookup(in));
      maps.push_back(withM1(subst(map)));
    } else if (replaced.count(in)) { // an elementwise member
      inputs.push_back(replaced.lookup(in));
      maps.push_back(splitBare(map));
    } else {
      inputs.push_back(in);
      maps.push_back(subst(map));
    }
  }
  auto oldType = cast<RankedTensorType>(e.getResult().getType());
  SmallVector<int64_t> shape(oldType.getShape());
  if (e.getKind() == ReductionKind::none) {
    maps.push_back(splitBare(e.getResultMap()));
    unsigned pos = 0;
    for (AffineExpr x : e.getResultMap().getResults()) {
      if (cast<AffineDimExpr>(x).getPosition() == md)
        break;
      ++pos;
    }
    shape[pos] = tile;
    shape.insert(shape.begin() + pos, numTilesStatic);
  } else {
    maps.push_back(withM1(subst(e.getResultMap())));
    shape.push_back(numTilesStatic);
  }
  Type resultType = RankedTensorType::get(shape, oldType.getElementType());
  // Every old filter set, each with the bound of the last tile.
  AffineExpr bound;
  if (needBound)
    bound = (mC ? getAffineConstantExpr(*mC, ctx)
                : getAffineSymbolExpr(symPos, ctx)) -
            1 - (m1 * tile + m0);
  SmallVector<IntegerSet> filter =
      splitFilter(e.getFilter(), dimRepl, symRepl, n + 1, numSyms, bound);
  SmallVector<Value> sizes(e.getSizes());
  sizes[md] = tileValue;
  sizes.insert(sizes.begin() + md, numTiles);

  rewriter.setInsertionPoint(e);
  auto tiled =
      EinsumOp::create(rewriter, e.getLoc(), resultType, inputs, e.getTables(),
                       sizes, symbols, maps, e.getKind(), filter);
  for (NamedAttribute a : e->getDiscardableAttrs())
    tiled->setAttr(a.getName(), a.getValue());
  // attn.indices: m becomes the tile index and the element (m1, m0).
  if (e->hasAttr(kIndicesAttr)) {
    SmallVector<std::string> dimNames = indexNames(e);
    dimNames[md] = names.element;
    dimNames.insert(dimNames.begin() + md, names.tile);
    setIndexNames(tiled, dimNames);
  }
  // Block argument types follow the (unchanged) inputs.
  moveRegion(e.getBody(), tiled.getBody(), e.getInputs().size(), md,
             e.getLoc());
  moveRegion(e.getGuard(), tiled.getGuard(), 0, md, e.getLoc());
  replaced[e.getResult()] = tiled.getResult();
  return tiled;
}

void GroupTiler::moveRegion(Region &from, Region &to, unsigned firstDim,
                            unsigned md, Location loc) {
  if (from.empty())
    return;
  rewriter.inlineRegionBefore(from, to, to.end());
  Block &block = to.front();
  BlockArgument oldM = block.getArgument(firstDim + md);
  BlockArgument argM0 =
      block.insertArgument(firstDim + md + 1, IndexType::get(ctx), loc);
  if (oldM.use_empty())
    return;
  rewriter.setInsertionPointToStart(&block);
  Value t = arith::ConstantIndexOp::create(rewriter, loc, tile);
  auto mul = arith::MulIOp::create(rewriter, loc, oldM, t);
  Value idx = arith::AddIOp::create(rewriter, loc, mul, argM0);
  rewriter.replaceAllUsesExcept(oldM, idx, mul);
}

/// The combine step over m1, after the last partial sum: its dimensions are
/// the maximum's result dimensions, then the sums' other result dimensions
/// (by rank), then m1.
OnlineOp combineTiles(RewriterBase &rewriter, const OnePassGroup &group,
                      RankAnalysis &ranks, EinsumOp tileMax,
                      ArrayRef<EinsumOp> partialSums, Value numTiles,
                      StringRef tileName) {
  MLIRContext *ctx = rewriter.getContext();
  SmallVector<unsigned> dimRanks;
  SmallVector<Value> dimSizes;
  SmallVector<Attribute> dimNames;
  auto indexName = [&](EinsumOp e, unsigned d) -> Attribute {
    return StringAttr::get(ctx, e.getIndexName(d));
  };
  auto dimFor = [&](EinsumOp e, unsigned d) {
    unsigned r = ranks.rankOf(e, d);
    auto it = llvm::find(dimRanks, r);
    if (it != dimRanks.end())
      return static_cast<unsigned>(it - dimRanks.begin());
    dimRanks.push_back(r);
    dimSizes.push_back(e.getSizes()[d]);
    dimNames.push_back(indexName(e, d));
    return static_cast<unsigned>(dimRanks.size() - 1);
  };
  auto resultDims = [&](EinsumOp e) {
    SmallVector<unsigned> ds;
    for (AffineExpr x : e.getResultMap().getResults())
      ds.push_back(dimFor(e, cast<AffineDimExpr>(x).getPosition()));
    return ds;
  };
  EinsumOp max = group.max;
  SmallVector<unsigned> maxDims = resultDims(max);
  SmallVector<SmallVector<unsigned>> sumDims;
  for (EinsumOp s : group.sums)
    sumDims.push_back(resultDims(s));
  unsigned numDims = dimRanks.size() + 1;
  unsigned m1 = numDims - 1;
  dimSizes.push_back(numTiles);
  dimNames.push_back(StringAttr::get(ctx, tileName));
  auto mapOf = [&](ArrayRef<unsigned> ds, bool tiled) {
    SmallVector<AffineExpr> r;
    for (unsigned d : ds)
      r.push_back(getAffineDimExpr(d, ctx));
    if (tiled)
      r.push_back(getAffineDimExpr(m1, ctx));
    return AffineMap::get(numDims, 0, r, ctx);
  };
  SmallVector<AffineMap> maps{mapOf(maxDims, true)};
  SmallVector<Value> parts;
  SmallVector<Type> sumTypes;
  for (unsigned k = 0; k < group.sums.size(); ++k) {
    maps.push_back(mapOf(sumDims[k], true));
    parts.push_back(EinsumOp(partialSums[k]).getResult());
    sumTypes.push_back(EinsumOp(group.sums[k]).getResult().getType());
  }
  maps.push_back(mapOf(maxDims, false));
  for (unsigned k = 0; k < group.sums.size(); ++k)
    maps.push_back(mapOf(sumDims[k], false));

  rewriter.setInsertionPointAfter(partialSums.back());
  auto online =
      OnlineOp::create(rewriter, max.getLoc(), max.getResult().getType(),
                       sumTypes, tileMax.getResult(), parts, dimSizes,
                       /*symbols=*/ValueRange{}, maps, group.rescale);
  // attn.indices: the names of the combine step's dimensions.
  online->setAttr(kIndicesAttr, rewriter.getArrayAttr(dimNames));
  return online;
}

} // namespace

FailureOr<OnePassResult>
mlir::attn::rewriteToOnePass(RewriterBase &rewriter, const OnePassGroup &group,
                             RankAnalysis &ranks,
                             const OnePassOptions &options) {
  EinsumOp max = group.max;
  if (options.tileSize < 1)
    return rewriter.notifyMatchFailure(max, "the tile size must be positive");
  if (group.sums.empty())
    return rewriter.notifyMatchFailure(
        max, "no sum reads the maximum: a plain maximum needs no pass");
  auto kernel = max->getParentOfType<func::FuncOp>();
  if (!kernel)
    return rewriter.notifyMatchFailure(max, "not in a kernel function");
  OpBuilder::InsertionGuard guard(rewriter);
  Location loc = max.getLoc();
  int64_t tile = options.tileSize;
  rewriter.setInsertionPoint(max);
  Value extent = max.getSizes()[group.maxDim];
  Value tileValue = arith::ConstantIndexOp::create(rewriter, loc, tile);
  std::optional<int64_t> extentC = getConstantIntValue(extent);
  Value numTiles =
      extentC ? arith::ConstantIndexOp::create(rewriter, loc,
                                               (*extentC + tile - 1) / tile)
                    .getResult()
              : arith::CeilDivSIOp::create(rewriter, loc, extent, tileValue)
                    .getResult();

  // Names for people (nothing depends on them): the tiles of m are m1, m0,
  // as an earlier group tiling m by the same size named them, else names no
  // dimension of the kernel has yet.
  std::string rankName = max.getIndexName(group.maxDim);
  GroupTiler::Names names{freshIndexName(kernel, rankName + "1"),
                          freshIndexName(kernel, rankName + "0")};
  unsigned rank = ranks.rankOf(max, group.maxDim);
  for (const RankAnalysis::Tiling &t : ranks.tilings())
    if (t.base == rank && t.size == tile)
      names = {ranks.name(t.tile), ranks.name(t.element)};

  OnePassResult result;
  result.rankName = rankName;
  GroupTiler tiler(rewriter, group, tile, tileValue, numTiles, names);
  result.tileMax = tiler.tileMember(max);
  // Members in program order so that operands are rewritten first.
  SmallVector<EinsumOp> order(group.elementwise);
  order.append(group.sums);
  llvm::sort(order,
             [](EinsumOp a, EinsumOp c) { return a->isBeforeInBlock(c); });
  llvm::DenseMap<Operation *, EinsumOp> tiled;
  for (EinsumOp e : order) {
    tiled[e] = tiler.tileMember(e);
    result.members.push_back(tiled[e]);
  }
  SmallVector<EinsumOp> partialSums;
  for (EinsumOp s : group.sums)
    partialSums.push_back(tiled[s]);
  result.online = combineTiles(rewriter, group, ranks, result.tileMax,
                               partialSums, numTiles, names.tile);

  // The combined results replace the old ones; the old members go.
  rewriter.replaceUsesWithIf(
      max.getResult(), result.online.getMax(), [&](OpOperand &use) {
        return !tiled.count(use.getOwner()) && use.getOwner() != result.tileMax;
      });
  for (unsigned k = 0; k < group.sums.size(); ++k)
    rewriter.replaceAllUsesWith(EinsumOp(group.sums[k]).getResult(),
                                result.online.getSums()[k]);
  for (EinsumOp e : llvm::reverse(order))
    rewriter.eraseOp(e);
  rewriter.eraseOp(max);
  return result;
}

FailureOr<OnePassResult>
mlir::attn::rewriteToOnePass(RewriterBase &rewriter, EinsumOp max,
                             const OnePassOptions &options) {
  auto kernel = max->getParentOfType<func::FuncOp>();
  if (!kernel)
    return rewriter.notifyMatchFailure(max, "not in a kernel function");
  RankAnalysis ranks(kernel);
  FailureOr<OnePassGroup> group = matchOnePassGroup(rewriter, max, ranks);
  if (failed(group))
    return failure();
  return rewriteToOnePass(rewriter, *group, ranks, options);
}

//===----------------------------------------------------------------------===//
// The pass
//===----------------------------------------------------------------------===//

namespace {

struct OnePass : public mlir::attn::impl::AttnOnePassBase<OnePass> {
  using AttnOnePassBase::AttnOnePassBase;

  void runOnOperation() override {
    if (tileSize < 1) {
      getOperation().emitError("attn-one-pass: tile-size must be positive");
      return signalPassFailure();
    }
    SmallVector<EinsumOp> maxima;
    getOperation().walk([&](EinsumOp e) {
      if (e.getKind() == ReductionKind::max)
        maxima.push_back(e);
    });
    MatchFailureRemarks remarks("one-pass: not rewritten: ");
    IRRewriter rewriter(&getContext(), &remarks);
    // A clamp of a maximum, GM2 = max(GM, c), is itself a maximum.
    for (unsigned i = 0; i < maxima.size(); ++i) {
      RankAnalysis ranks(getOperation());
      EinsumOp max = maxima[i];
      std::string rankName = ranks.name(ranks.rankOf(
          max, max.getReducedDims().empty() ? 0 : max.getReducedDims()[0]));
      std::string maxName = statementName(max);
      FoldedClamps folded = foldClampsIntoMaximum(rewriter, max, ranks);
      if (folded.maxima.empty())
        continue;
      if (folded.erasedMax)
        maxima[i] = folded.maxima.front();
      else
        maxima.push_back(folded.maxima.front());
      for (unsigned k = 1; k < folded.maxima.size(); ++k)
        maxima.push_back(folded.maxima[k]);
      for (EinsumOp f : folded.maxima)
        f.emitRemark() << "one-pass: " << statementName(f) << ", a clamp of "
                       << maxName << " that does not decrease, is the maximum "
                       << "along " << rankName << " of the clamped values";
    }
    for (EinsumOp max : maxima) {
      remarks.setSubject(max);
      RankAnalysis ranks(getOperation());
      FailureOr<OnePassGroup> group = matchOnePassGroup(rewriter, max, ranks);
      if (failed(group))
        continue;
      if (group->sums.empty()) { // nothing reads it during a pass
        std::string why = secondPassReason(max, ranks);
        if (!why.empty())
          max.emitRemark() << "one-pass: not rewritten: " << why;
        continue;
      }
      int64_t tile = tileSize;
      FailureOr<OnePassResult> result =
          rewriteToOnePass(rewriter, *group, ranks, {tile});
      if (failed(result))
        continue;
      std::string sums;
      llvm::raw_string_ostream os(sums);
      for (unsigned k = 0; k < group->rescale.size(); ++k)
        os << (k ? ", " : "") << "exp(" << llvm::format("%g", group->rescale[k])
           << " * max)";
      size_t n = group->sums.size();
      result->online.emitRemark()
          << "one-pass: rank " << result->rankName << " in one pass (tiles of "
          << tile << "): a running maximum and " << n << " rescaled sum"
          << (n == 1 ? "" : "s") << " (" << sums << ")";
    }
  }
};

} // namespace
