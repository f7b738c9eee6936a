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
#include "passes/Passes.h"
#include "passes/RankAnalysis.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

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
  double coeff = 0;                // Linear: v = f + coeff * g;
                                   // Character: v = f * exp(coeff * g)
  std::optional<double> constant;  // Free values that are known constants
  Operation *blocker = nullptr;    // Bad: the op that has no correction

  static Form free() { return {}; }
  static Form linear(double a) {
    return a == 0 ? free() : Form{Linear, a, std::nullopt, nullptr};
  }
  static Form character(double c) { return {Character, c, std::nullopt, nullptr}; }
  static Form bad(Operation *op) { return {Bad, 0, std::nullopt, op}; }
  bool isZero() const { return kind == Free && constant && *constant == 0; }
};

struct Group {
  EinsumOp max;
  unsigned maxDim = 0;                 // the reduced dimension of `max`
  SmallVector<EinsumOp> elementwise;   // in program order
  SmallVector<EinsumOp> sums;          // in program order
  SmallVector<double> rescale;         // per sum
  llvm::DenseMap<Operation *, unsigned> rankDim; // member -> its dim of m
};

/// Classifies values of the group's bodies.
class Classifier {
public:
  Classifier(Group &group) : group(group) {
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
  Group &group;
  llvm::DenseMap<Value, EinsumOp> producers;
  llvm::DenseMap<Value, Form> memo;

  Form compute(Value v) {
    if (auto arg = dyn_cast<BlockArgument>(v)) {
      auto owner = dyn_cast<EinsumOp>(arg.getOwner()->getParentOp());
      if (!owner || arg.getOwner() != &owner.getBody().front() ||
          arg.getArgNumber() >= owner.getInputs().size())
        return Form::free(); // an index value
      Value input = owner.getInputs()[arg.getArgNumber()];
      if (input == group.max.getResult())
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

std::string nameOf(Operation *op) {
  return op->getName().getStringRef().str();
}

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
    for (EinsumOp max : maxima) {
      RankAnalysis ranks(getOperation());
      Group group;
      std::string why;
      if (failed(collect(max, ranks, group, why))) {
        max.emitRemark() << "one-pass: not rewritten: " << why;
        continue;
      }
      if (group.sums.empty())
        continue; // a plain maximum: nothing reads it during a pass
      rewrite(group, ranks);
    }
  }

  /// Finds the group of `max` and checks that it can run in one pass.
  LogicalResult collect(EinsumOp max, RankAnalysis &ranks, Group &group,
                        std::string &why);
  void rewrite(Group &group, RankAnalysis &ranks);
};

/// The dimension of `e` that is of rank `rank`; -1 if none, -2 if several.
int dimOfRank(EinsumOp e, unsigned rank, RankAnalysis &ranks) {
  int found = -1;
  for (unsigned d = 0; d < e.getNumDims(); ++d)
    if (ranks.rankOf(e, d) == rank)
      found = found == -1 ? static_cast<int>(d) : -2;
  return found;
}

LogicalResult OnePass::collect(EinsumOp max, RankAnalysis &ranks, Group &group,
                               std::string &why) {
  SmallVector<unsigned> reduced = max.getReducedDims();
  if (reduced.size() != 1) {
    why = "the maximum reduces several dimensions";
    return failure();
  }
  group.max = max;
  group.maxDim = reduced[0];
  unsigned rank = ranks.rankOf(max, group.maxDim);
  std::string rankName = ranks.name(rank);
  group.rankDim[max] = group.maxDim;

  // Walk the readers of the maximum and of the elementwise members.
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
        why = "a value computed from the maximum along " + rankName +
              " is used by " + nameOf(user);
        return failure();
      }
      if (llvm::is_contained(e.getTables(), v)) {
        why = "a value computed from the maximum is read as a table";
        return failure();
      }
      int d = dimOfRank(e, rank, ranks);
      if (d == -2) {
        why = "an einsum iterates rank " + rankName + " twice";
        return failure();
      }
      if (d == -1) {
        if (isMax)
          continue; // outside the pass: reads the final maximum
        why = "a value computed from the maximum along " + rankName +
              " is read by an einsum that does not iterate " + rankName;
        return failure();
      }
      // Reads of group values must be bare dimensions, so that every member
      // sees the maximum of its own result point.
      for (auto [i, in] : llvm::enumerate(e.getInputs()))
        if (in == v && !llvm::all_of(e.getInputMap(i).getResults(),
                                     [](AffineExpr x) {
                                       return isa<AffineDimExpr>(x);
                                     })) {
          why = "a value of the pass is read through a computed index";
          return failure();
        }
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
        why = "a reduction with kind '" +
              stringifyReductionKind(e.getKind()).str() +
              "' reads the maximum along " + rankName;
        return failure();
      }
    }
  }
  auto before = [](EinsumOp a, EinsumOp b) {
    return a->isBeforeInBlock(b);
  };
  llvm::sort(group.elementwise, before);
  llvm::sort(group.sums, before);

  // The algebra: every sum must be h * exp(c * g) with c < 0.
  Classifier classifier(group);
  for (EinsumOp sum : group.sums) {
    if (sum.hasGuard()) {
      for (Operation &op : sum.getGuard().front())
        for (Value o : op.getOperands())
          if (classifier.classify(o).kind != Form::Free) {
            why = "a guard depends on the maximum";
            return failure();
          }
    }
    auto yield = cast<YieldOp>(sum.getBody().front().getTerminator());
    Form f = classifier.classify(yield.getValues()[0]);
    switch (f.kind) {
    case Form::Bad:
      why = nameOf(f.blocker) + " of a value that depends on the maximum has "
                                "no rescaling correction";
      return failure();
    case Form::Free:
      why = "a sum reads the pass but does not depend on the maximum";
      return failure();
    case Form::Linear:
      why = "a sum is affine in the maximum, not exponential: no "
            "multiplicative correction";
      return failure();
    case Form::Character:
      if (f.coeff >= 0) {
        why = "a sum grows with the maximum (exp(" + std::to_string(f.coeff) +
              " * max)): no bounded correction";
        return failure();
      }
      group.rescale.push_back(f.coeff);
    }
    // The correction uses the maximum at the sum's result point.
    for (AffineExpr x : max.getResultMap().getResults()) {
      unsigned r = ranks.rankOf(max, cast<AffineDimExpr>(x).getPosition());
      int d = dimOfRank(sum, r, ranks);
      if (d < 0 || !llvm::is_contained(
                       llvm::map_range(sum.getResultMap().getResults(),
                                       [](AffineExpr y) {
                                         return cast<AffineDimExpr>(y)
                                             .getPosition();
                                       }),
                       static_cast<unsigned>(d))) {
        why = "a sum's result does not keep every dimension of the maximum";
        return failure();
      }
    }
  }
  // A member that reads a sum of the same pass needs that sum's final
  // value: the sums cannot all run in one traversal.
  llvm::DenseSet<Value> sumResults;
  for (EinsumOp sum : group.sums)
    sumResults.insert(sum.getResult());
  SmallVector<EinsumOp> members(group.elementwise);
  members.append(group.sums);
  for (EinsumOp e : members)
    for (Value in : llvm::concat<Value>(e.getInputs(), e.getTables()))
      if (sumResults.count(in)) {
        why = "a sum over " + rankName +
              " reads another sum over it (its final value is needed "
              "first); divide after the sum instead";
        return failure();
      }

  // The combined results replace the maximum and the sums: their users must
  // come after the last sum, where the combine step goes.
  if (!group.sums.empty()) {
    Operation *last = group.sums.back();
    llvm::DenseSet<Operation *> members;
    members.insert(max);
    for (EinsumOp e : group.elementwise)
      members.insert(e);
    for (EinsumOp e : group.sums)
      members.insert(e);
    for (Operation *m : members)
      for (Operation *user : m->getResult(0).getUsers())
        if (!members.count(user) && user->isBeforeInBlock(last)) {
          why = "a result of the pass is used before its last sum";
          return failure();
        }
  }
  return success();
}

/// The constant value of an index, if known.
std::optional<int64_t> constantOf(Value v) {
  if (auto c = v.getDefiningOp<arith::ConstantIndexOp>())
    return c.value();
  return std::nullopt;
}

void OnePass::rewrite(Group &group, RankAnalysis &ranks) {
  EinsumOp max = group.max;
  MLIRContext *ctx = max.getContext();
  OpBuilder b(max);
  Location loc = max.getLoc();
  int64_t tile = tileSize;
  Value extent = max.getSizes()[group.maxDim];
  Value tileV = b.create<arith::ConstantIndexOp>(loc, tile);
  std::optional<int64_t> extentC = constantOf(extent);
  Value numTiles;
  if (extentC)
    numTiles = b.create<arith::ConstantIndexOp>(loc, (*extentC + tile - 1) /
                                                         tile);
  else
    numTiles = b.create<arith::CeilDivSIOp>(loc, extent, tileV);
  int64_t numTilesStatic =
      extentC ? (*extentC + tile - 1) / tile : ShapedType::kDynamic;

  // New values of the members, by old result.
  llvm::DenseMap<Value, Value> replaced;
  llvm::DenseSet<Value> elementwiseResults;
  for (EinsumOp e : group.elementwise)
    elementwiseResults.insert(e.getResult());

  auto appendDim = [&](RankedTensorType t) {
    SmallVector<int64_t> shape(t.getShape());
    shape.push_back(numTilesStatic);
    return RankedTensorType::get(shape, t.getElementType());
  };

  // The per-tile form of one member.
  auto split = [&](EinsumOp e) -> EinsumOp {
    unsigned md = group.rankDim.lookup(e);
    unsigned n = e.getNumDims();
    Value m = e.getSizes()[md];
    std::optional<int64_t> mC = constantOf(m);
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
    for (auto [i, in] : llvm::enumerate(e.getInputs())) {
      AffineMap map = e.getInputMap(i);
      if (in == max.getResult()) {
        inputs.push_back(replaced.lookup(in));
        maps.push_back(withM1(subst(map)));
      } else if (elementwiseResults.count(in)) {
        inputs.push_back(replaced.lookup(in));
        maps.push_back(splitBare(map));
      } else {
        inputs.push_back(in);
        maps.push_back(subst(map));
      }
    }
    Type resultType;
    auto oldType = cast<RankedTensorType>(e.getResult().getType());
    if (e.getKind() == ReductionKind::none) {
      maps.push_back(splitBare(e.getResultMap()));
      unsigned pos = 0;
      for (AffineExpr x : e.getResultMap().getResults()) {
        if (cast<AffineDimExpr>(x).getPosition() == md)
          break;
        ++pos;
      }
      SmallVector<int64_t> shape(oldType.getShape());
      shape[pos] = tile;
      shape.insert(shape.begin() + pos, numTilesStatic);
      resultType = RankedTensorType::get(shape, oldType.getElementType());
    } else {
      maps.push_back(withM1(subst(e.getResultMap())));
      resultType = appendDim(oldType);
    }
    // Filter: every old set, each with the bound of the last tile.
    SmallVector<IntegerSet> filter;
    AffineExpr bound;
    if (needBound)
      bound = (mC ? getAffineConstantExpr(*mC, ctx)
                  : getAffineSymbolExpr(symPos, ctx)) -
              1 - (m1 * tile + m0);
    auto addBound = [&](SmallVector<AffineExpr> cs, SmallVector<bool> eq) {
      if (needBound) {
        cs.push_back(bound);
        eq.push_back(false);
      }
      if (!cs.empty())
        filter.push_back(IntegerSet::get(n + 1, numSyms, cs, eq));
    };
    if (std::optional<ArrayAttr> sets = e.getFilter()) {
      for (Attribute a : *sets) {
        IntegerSet set = cast<IntegerSetAttr>(a).getValue();
        SmallVector<AffineExpr> cs;
        SmallVector<bool> eq;
        for (unsigned c = 0; c < set.getNumConstraints(); ++c) {
          cs.push_back(set.getConstraint(c).replaceDimsAndSymbols(dimRepl,
                                                                  symRepl));
          eq.push_back(set.isEq(c));
        }
        addBound(cs, eq);
      }
    } else {
      addBound({}, {});
    }
    SmallVector<Value> sizes(e.getSizes());
    sizes[md] = tileV;
    sizes.insert(sizes.begin() + md, numTiles);

    OpBuilder eb(e);
    auto ne = eb.create<EinsumOp>(e.getLoc(), resultType, inputs,
                                  e.getTables(), sizes, symbols, maps,
                                  e.getKind(), filter);
    for (NamedAttribute a : e->getDiscardableAttrs())
      ne->setAttr(a.getName(), a.getValue());
    if (auto names = e->getAttrOfType<ArrayAttr>(kIndicesAttr)) {
      SmallVector<Attribute> nn(names.begin(), names.end());
      std::string base = md < nn.size() && isa<StringAttr>(nn[md])
                             ? cast<StringAttr>(nn[md]).str()
                             : "d" + std::to_string(md);
      nn[md] = StringAttr::get(ctx, base + "0");
      nn.insert(nn.begin() + md, StringAttr::get(ctx, base + "1"));
      ne->setAttr(kIndicesAttr, ArrayAttr::get(ctx, nn));
    }
    // Regions: the old index of m is m1 * T + m0.
    auto moveRegion = [&](Region &from, Region &to, unsigned firstDim) {
      if (from.empty())
        return;
      to.takeBody(from);
      Block &block = to.front();
      BlockArgument oldM = block.getArgument(firstDim + md);
      BlockArgument argM0 =
          block.insertArgument(firstDim + md + 1, IndexType::get(ctx),
                               e.getLoc());
      if (oldM.use_empty())
        return;
      OpBuilder rb(&block, block.begin());
      Value t = rb.create<arith::ConstantIndexOp>(e.getLoc(), tile);
      Value mul = rb.create<arith::MulIOp>(e.getLoc(), oldM, t);
      Value idx = rb.create<arith::AddIOp>(e.getLoc(), mul, argM0);
      oldM.replaceAllUsesExcept(idx, mul.getDefiningOp());
    };
    moveRegion(e.getBody(), ne.getBody(), e.getInputs().size());
    moveRegion(e.getGuard(), ne.getGuard(), 0);
    // Block argument types follow the (unchanged) inputs.
    replaced[e.getResult()] = ne.getResult();
    return ne;
  };

  EinsumOp tileMax = split(max);
  // Members in program order so that operands are rewritten first.
  SmallVector<EinsumOp> order(group.elementwise);
  order.append(group.sums);
  llvm::sort(order, [](EinsumOp a, EinsumOp c) { return a->isBeforeInBlock(c); });
  llvm::DenseMap<Operation *, EinsumOp> partial;
  for (EinsumOp e : order)
    partial[e] = split(e);

  // The combine step over m1: dims are the max's result dims, then the
  // sums' other result dims (by rank), then m1.
  SmallVector<unsigned> dimRanks;
  SmallVector<Value> dimSizes;
  SmallVector<Attribute> dimNames;
  auto indexName = [&](EinsumOp e, unsigned d) -> Attribute {
    auto names = e->getAttrOfType<ArrayAttr>(kIndicesAttr);
    if (names && d < names.size())
      return names[d];
    return StringAttr::get(ctx, "d" + std::to_string(d));
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
  SmallVector<unsigned> maxDims = resultDims(max);
  SmallVector<SmallVector<unsigned>> sumDims;
  for (EinsumOp s : group.sums)
    sumDims.push_back(resultDims(s));
  unsigned numDims = dimRanks.size() + 1;
  unsigned m1 = numDims - 1;
  dimSizes.push_back(numTiles);
  auto names = max->getAttrOfType<ArrayAttr>(kIndicesAttr);
  std::string base = names && group.maxDim < names.size()
                         ? cast<StringAttr>(names[group.maxDim]).str()
                         : "d" + std::to_string(group.maxDim);
  dimNames.push_back(StringAttr::get(ctx, base + "1"));
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
  for (auto [k, s] : llvm::enumerate(group.sums)) {
    maps.push_back(mapOf(sumDims[k], true));
    parts.push_back(partial[s].getResult());
    sumTypes.push_back(s.getResult().getType());
  }
  maps.push_back(mapOf(maxDims, false));
  for (auto [k, s] : llvm::enumerate(group.sums))
    maps.push_back(mapOf(sumDims[k], false));

  OpBuilder ob(group.sums.back());
  ob.setInsertionPointAfter(partial[group.sums.back()]);
  SmallVector<Attribute> rescale;
  for (double c : group.rescale)
    rescale.push_back(ob.getF64FloatAttr(c));
  OperationState state(max.getLoc(), OnlineOp::getOperationName());
  state.addOperands(tileMax.getResult());
  state.addOperands(parts);
  state.addOperands(dimSizes);
  state.addAttribute(OnlineOp::getOperandSegmentSizesAttrName(state.name),
                     ob.getDenseI32ArrayAttr(
                         {1, static_cast<int32_t>(parts.size()),
                          static_cast<int32_t>(dimSizes.size()), 0}));
  state.addAttribute(OnlineOp::getIndexingMapsAttrName(state.name),
                     ob.getAffineMapArrayAttr(maps));
  state.addAttribute(OnlineOp::getRescaleAttrName(state.name),
                     ob.getArrayAttr(rescale));
  state.addAttribute(kIndicesAttr, ob.getArrayAttr(dimNames));
  state.addTypes(max.getResult().getType());
  state.addTypes(sumTypes);
  auto online = cast<OnlineOp>(ob.create(state));

  // The combined results replace the old ones; the old members go.
  max.getResult().replaceUsesWithIf(online.getMax(), [&](OpOperand &use) {
    return !partial.count(use.getOwner()) && use.getOwner() != tileMax;
  });
  for (auto [k, s] : llvm::enumerate(group.sums))
    s.getResult().replaceAllUsesWith(online.getSums()[k]);
  for (EinsumOp e : llvm::reverse(order))
    e->erase();
  max->erase();

  std::string sums;
  llvm::raw_string_ostream os(sums);
  for (auto [k, c] : llvm::enumerate(group.rescale))
    os << (k ? ", " : "") << "exp(" << llvm::format("%g", c) << " * max)";
  online.emitRemark() << "one-pass: rank " << base
                      << " in one pass (tiles of " << tile << "): a running "
                      << "maximum and " << group.sums.size()
                      << " rescaled sum" << (group.sums.size() == 1 ? "" : "s")
                      << " (" << sums << ")";
}

} // namespace
