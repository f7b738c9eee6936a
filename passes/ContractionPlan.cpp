// The analysis of attn-reorder-contractions (see ContractionPlan.h): which
// factors of a contraction's body go to which side of the reordered sums, and
// whether its consumers and filter allow the reordering.
#include "passes/ContractionPlan.h"
#include "passes/EinsumBuilder.h"

#include "mlir/IR/AffineExprVisitor.h"

namespace mlir::attn::reorder {

SmallVector<unsigned> listOf(const Dims &dims) {
  SmallVector<unsigned> out;
  for (unsigned d : dims.set_bits())
    out.push_back(d);
  return out;
}

//===----------------------------------------------------------------------===//
// Bodies as products
//===----------------------------------------------------------------------===//

static Dims dependence(EinsumOp e, Value v, DenseMap<Value, Dims> &memo) {
  if (auto it = memo.find(v); it != memo.end())
    return it->second;
  Dims deps(e.getNumDims());
  Block &body = e.getBody().front();
  unsigned numInputs = e.getInputs().size();
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    if (arg.getOwner() == &body && arg.getArgNumber() < numInputs)
      e.getInputMap(arg.getArgNumber()).walkExprs([&](AffineExpr x) {
        if (auto d = dyn_cast<AffineDimExpr>(x))
          deps.set(d.getPosition());
      });
    else if (arg.getOwner() == &body)
      deps.set(arg.getArgNumber() - numInputs);
  } else if (e->isProperAncestor(v.getDefiningOp())) {
    for (Value operand : v.getDefiningOp()->getOperands())
      deps |= dependence(e, operand, memo);
  }
  return memo[v] = deps;
}

static void splitProduct(EinsumOp e, Value v, bool divides,
                         DenseMap<Value, Dims> &memo,
                         SmallVector<Factor> &out) {
  Operation *def = v.getDefiningOp();
  if (def && e->isProperAncestor(def)) {
    if (auto mul = dyn_cast<arith::MulFOp>(def)) {
      splitProduct(e, mul.getLhs(), divides, memo, out);
      splitProduct(e, mul.getRhs(), divides, memo, out);
      return;
    }
    if (auto div = dyn_cast<arith::DivFOp>(def)) {
      splitProduct(e, div.getLhs(), divides, memo, out);
      splitProduct(e, div.getRhs(), !divides, memo, out);
      return;
    }
  }
  out.push_back({v, divides, dependence(e, v, memo)});
}

/// The factors of `e`'s body: its yielded value split at mulf and divf.
SmallVector<Factor> factorsOf(EinsumOp e) {
  DenseMap<Value, Dims> memo;
  SmallVector<Factor> out;
  splitProduct(e, e.getBody().front().getTerminator()->getOperand(0), false,
               memo, out);
  return out;
}

/// A value whose points are all present or all absent: a kernel argument,
/// a filled tensor, or an einsum without filter, guard or tables over such
/// values.
static bool uniformlyPresent(Value v) {
  if (isa<BlockArgument>(v) || v.getDefiningOp<FillOp>())
    return true;
  auto e = v.getDefiningOp<EinsumOp>();
  return e && !e.hasFilter() && !e.hasGuard() && e.getTables().empty() &&
         llvm::all_of(e.getInputs(), uniformlyPresent);
}

//===----------------------------------------------------------------------===//
// The plan: S, its consumers, the two sides of S's product
//===----------------------------------------------------------------------===//

/// The names of the dimensions `dims` of `e`, joined.
std::string namesOf(EinsumOp e, const Dims &dims) {
  SmallVector<std::string> names = indexNames(e);
  std::string out;
  for (unsigned d : dims.set_bits())
    out += (out.empty() ? "" : ", ") + names[d];
  return out;
}

/// The names of the dimensions `e` reduces.
std::string reducedNames(EinsumOp e) {
  Dims dims(e.getNumDims());
  for (unsigned d : e.getReducedDims())
    dims.set(d);
  return namesOf(e, dims);
}

/// Whether `map` names distinct dimensions only.
static bool namesDistinctDims(AffineMap map) {
  Dims seen(map.getNumDims());
  for (AffineExpr e : map.getResults()) {
    auto d = dyn_cast<AffineDimExpr>(e);
    if (!d || seen.test(d.getPosition()))
      return false;
    seen.set(d.getPosition());
  }
  return true;
}

/// Reads S's filter as `q - k >= 0`, k the one dimension the consumers
/// reduce, q one they keep.
static bool readCausalFilter(Plan &plan) {
  ArrayAttr filter = *plan.s.getFilter();
  if (filter.size() != 1 || plan.keys.count() != 1)
    return false;
  IntegerSet set = cast<IntegerSetAttr>(filter[0]).getValue();
  if (set.getNumConstraints() != 1 || set.isEq(0))
    return false;
  SimpleAffineExprFlattener flat(set.getNumDims(), set.getNumSymbols());
  if (failed(flat.walkPostOrder(set.getConstraint(0))) || flat.numLocals)
    return false;
  ArrayRef<int64_t> c = flat.operandExprStack.back();
  plan.k = plan.keys.find_first();
  SmallVector<unsigned> kept;
  for (AffineExpr r : plan.s.getResultMap().getResults())
    kept.push_back(cast<AffineDimExpr>(r).getPosition());
  for (unsigned q : kept) {
    SmallVector<int64_t> want(c.size(), 0);
    want[q] = 1;
    want[plan.k] = -1;
    if (q != plan.k && ArrayRef<int64_t>(want) == c) {
      plan.q = q;
      return true;
    }
  }
  return false;
}

/// Analyses S and its consumers; `why` says why not where a remark helps.
FailureOr<Plan> analyse(EinsumOp s, std::string &why) {
  Type elem = cast<RankedTensorType>(s.getResult().getType()).getElementType();
  if (s.getKind() != ReductionKind::sum || s.hasGuard() ||
      !isa<FloatType>(elem) || s.getResult().use_empty())
    return failure();
  Plan plan;
  plan.s = s;
  SmallVector<Factor> sFactors = factorsOf(s);
  unsigned numS = s.getNumDims();
  plan.keys = Dims(numS);
  SmallVector<unsigned> sReduced = s.getReducedDims();
  SmallVector<std::string> sNames = indexNames(s);
  AffineMap sResult = s.getResultMap();

  for (OpOperand &use : s.getResult().getUses()) {
    auto c = dyn_cast<EinsumOp>(use.getOwner());
    if (!c || use.getOperandNumber() >= c.getInputs().size() ||
        llvm::any_of(plan.consumers,
                     [&](const Consumer &o) { return o.op == c; }))
      return failure();
    unsigned pos = use.getOperandNumber();
    BlockArgument arg = c.getBody().front().getArgument(pos);
    SmallVector<Factor> cFactors = factorsOf(c);
    auto *self = llvm::find_if(cFactors,
                               [&](const Factor &f) { return f.value == arg; });
    if (!arg.hasOneUse() || self == cFactors.end() || self->divides) {
      // Worth a remark where that function sits between S and a reduction
      // (the exp of softmax), not where it ends the cascade (a division).
      if (!arg.use_empty() && c.getKind() == ReductionKind::none &&
          llvm::any_of(c.getResult().getUsers(), [](Operation *u) {
            auto next = dyn_cast<EinsumOp>(u);
            return next && next.getKind() != ReductionKind::none;
          }))
        why = "not reordered: the contraction over " + reducedNames(s) +
              " is read through a function that is not a product with it";
      return failure();
    }
    if (c.getKind() != ReductionKind::sum || c.hasGuard() || c.hasFilter() ||
        cast<RankedTensorType>(c.getResult().getType()).getElementType() !=
            elem ||
        !namesDistinctDims(c.getInputMap(pos)))
      return failure();

    Consumer con;
    con.op = c;
    con.pos = pos;
    con.sizes.assign(c.getSizes().begin(), c.getSizes().end());
    con.names = indexNames(c);
    con.sInU.assign(numS, 0);
    AffineMap access = c.getInputMap(pos);
    for (unsigned r = 0; r < sResult.getNumResults(); ++r)
      con.sInU[sResult.getDimPosition(r)] = access.getDimPosition(r);
    for (unsigned d : sReduced) {
      con.sInU[d] = con.sizes.size();
      con.sizes.push_back(s.getSizes()[d]);
      con.names.push_back(sNames[d]);
    }
    con.reduced = Dims(con.numU());
    for (unsigned d : c.getReducedDims())
      con.reduced.set(d);
    con.sReduced = Dims(con.numU());
    for (unsigned d : sReduced)
      con.sReduced.set(con.sInU[d]);
    for (AffineExpr r : c.getResultMap().getResults())
      con.resultDims.push_back(cast<AffineDimExpr>(r).getPosition());
    for (Factor &f : cFactors) {
      if (f.value == arg)
        continue;
      f.deps = con.widen(f.deps);
      ((f.deps & con.reduced).any() ? con.keyed : con.rest).push_back(f);
    }
    Dims keys(numS);
    for (AffineExpr r : sResult.getResults()) {
      unsigned d = cast<AffineDimExpr>(r).getPosition();
      if (con.reduced.test(con.sInU[d]))
        keys.set(d);
    }
    if (keys.none() || (!plan.consumers.empty() && keys != plan.keys))
      return failure();
    plan.keys = keys;
    plan.consumers.push_back(std::move(con));
  }

  plan.query.deps = plan.key.deps = Dims(numS);
  for (Factor &f : sFactors) {
    if (f.value.getType() != elem)
      return failure();
    Side &side = (f.deps & plan.keys).any() ? plan.key : plan.query;
    side.deps |= f.deps;
    side.factors.push_back(f);
  }
  for (const Consumer &c : plan.consumers)
    for (const Factor &f : llvm::concat<const Factor>(c.keyed, c.rest))
      if (f.value.getType() != elem)
        return failure();

  if (!s.hasFilter())
    return plan;
  // The chunked form: every sum reduces exactly k, and nothing but the query
  // side depends on q; every tensor read is present everywhere or nowhere
  // (the chunked sums add exact zeros where the filter skipped a point).
  std::string notReordered = "not reordered (the contractions over " +
                             reducedNames(s) + " and " + namesOf(s, plan.keys) +
                             "): ";
  if (!readCausalFilter(plan)) {
    why = notReordered + "the filter is not one constraint k <= q, k summed "
                         "by the consumers and q kept";
    return failure();
  }
  bool crossed = plan.key.deps.test(plan.q);
  bool uniform =
      s.getTables().empty() && llvm::all_of(s.getInputs(), uniformlyPresent);
  for (const Consumer &c : plan.consumers) {
    if (c.reduced.count() != 1 || !c.reduced.test(c.sInU[plan.k]))
      return failure();
    for (const Factor &f : c.keyed)
      crossed |= f.deps.test(c.sInU[plan.q]);
    uniform &= c.op.getTables().empty();
    for (auto [i, in] : llvm::enumerate(c.op.getInputs()))
      uniform &= i == c.pos || uniformlyPresent(in);
  }
  SmallVector<std::string> names = indexNames(s);
  if (crossed)
    why = notReordered + "a factor depends on both " + names[plan.k] + " and " +
          names[plan.q];
  else if (!uniform)
    why = notReordered + "a tensor read may be absent at some points";
  if (!why.empty())
    return failure();
  plan.causal = true;
  return plan;
}

} // namespace mlir::attn::reorder
