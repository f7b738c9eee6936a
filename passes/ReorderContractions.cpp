// attn-reorder-contractions: reassociates a contraction S with the sums that
// read it as a factor (no non-linearity between them) when the cost model
// says the other order does fewer multiply-adds. Linear attention
//   S[m,p] = sum(e) relu(Q[p,e]) * relu(K[m,e])
//   O[p,f] = sum(m) S[m,p] * V[m,f] / Z[p]
// becomes FQ = relu(Q), FK = relu(K), KV[e,f] = sum(m) FK[m,e] * V[m,f],
// O'[p,f] = sum(e) FQ[p,e] * KV[e,f], O = O' / Z: P*M*E + P*M*F multiply-adds
// become M*E*F + P*E*F.
//
// Derived from the structure: S's body is a product of factors. Those that
// depend on a dimension the consumers reduce form the key side (FK), the
// others the query side (FQ); a side that computes more than reads is
// materialized once as an elementwise einsum. A consumer's body is S times
// other factors: those that depend on its reduced dimensions (V) join the
// key side in the first sum, those constant along every sum (1/Z) move to an
// elementwise step after the second. Sums of products of present terms
// reassociate exactly, absent points included.
//
// With a causal filter `q - k >= 0` on S (k reduced by the consumers), the
// sum over k is split at chunks of `chunk-size` keys: per-chunk sums of the
// key side times V, an exclusive prefix over chunks, read by each query's
// chunk (the inter-chunk part), plus the keys of the query's own chunk with
// k <= q (the intra-chunk part, quadratic in the chunk only).
#include "passes/ContractionCost.h"
#include "passes/ContractionPlan.h"
#include "passes/EinsumBuilder.h"
#include "passes/OnePass.h"
#include "passes/Passes.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNREORDERCONTRACTIONS
#include "passes/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::reorder;

namespace {

//===----------------------------------------------------------------------===//
// The new einsums
//===----------------------------------------------------------------------===//

/// A value emitted into a new body: a numerator or a divisor.
struct Term {
  Value value;
  bool divides;
};

/// An iteration space over some dimensions of a consumer's U (in U's order)
/// and new ones; `slot[u]` is U's dimension u here, or -1.
struct Space {
  SmallVector<Value> sizes;
  SmallVector<std::string> names;
  SmallVector<int> slot;

  Space(const Consumer &c, const Dims &dims) : slot(c.numU(), -1) {
    for (unsigned u : dims.set_bits())
      slot[u] = add(c.sizes[u], c.names[u]);
  }
  unsigned add(Value size, std::string name) {
    sizes.push_back(size);
    names.push_back(std::move(name));
    return sizes.size() - 1;
  }
  /// Where U's dimensions land in `nb` (0 for those not here).
  SmallVector<AffineExpr> place(EinsumBuilder &nb) const {
    SmallVector<AffineExpr> out;
    for (int s : slot)
      out.push_back(s >= 0 ? nb.dim(s)
                           : getAffineConstantExpr(0, nb.dim(0).getContext()));
    return out;
  }
  SmallVector<unsigned> slots(ArrayRef<unsigned> uDims) const {
    SmallVector<unsigned> out;
    for (unsigned u : uDims)
      out.push_back(slot[u]);
    return out;
  }
};

SmallVector<AffineExpr> placeOfS(const Consumer &c, ArrayRef<AffineExpr> u) {
  SmallVector<AffineExpr> out;
  for (unsigned d : c.sInU)
    out.push_back(u[d]);
  return out;
}

SmallVector<AffineExpr> placeOfC(const Consumer &c, ArrayRef<AffineExpr> u) {
  return SmallVector<AffineExpr>(u.take_front(c.op.getNumDims()));
}

void emitFactors(EinsumBuilder &nb, EinsumOp owner, ArrayRef<Factor> factors,
                 ArrayRef<AffineExpr> place, IRMapping &known,
                 SmallVector<Term> &terms) {
  for (const Factor &f : factors)
    terms.push_back(
        {nb.clone(nb.body(), owner, f.value, place, known), f.divides});
}

void emitSide(EinsumBuilder &nb, EinsumOp s, const Side &side,
              ArrayRef<AffineExpr> placeS, IRMapping &known,
              SmallVector<Term> &terms) {
  if (!side.tensor)
    return emitFactors(nb, s, side.factors, placeS, known, terms);
  SmallVector<AffineExpr> access;
  for (unsigned d : side.access)
    access.push_back(placeS[d]);
  terms.push_back({nb.read(side.tensor, access), false});
}

/// The product of `terms` in `nb`'s body (numerators, then divisions).
Value product(EinsumBuilder &nb, ArrayRef<Term> terms, Type elem,
              Location loc) {
  OpBuilder b = nb.at(nb.body());
  Value acc;
  for (const Term &t : terms)
    if (!t.divides)
      acc = acc ? arith::MulFOp::create(b, loc, acc, t.value) : t.value;
  if (!acc)
    acc = arith::ConstantOp::create(b, loc, b.getFloatAttr(elem, 1.0));
  for (const Term &t : terms)
    if (t.divides)
      acc = arith::DivFOp::create(b, loc, acc, t.value);
  return acc;
}

SmallVector<unsigned> iota(unsigned n) {
  SmallVector<unsigned> out;
  for (unsigned i = 0; i < n; ++i)
    out.push_back(i);
  return out;
}

/// Materializes a side that computes (not only reads) as an elementwise
/// einsum over the dimensions it depends on, before S.
void materialize(PatternRewriter &rewriter, EinsumOp s, Side &side) {
  bool computes = llvm::any_of(side.factors, [](const Factor &f) {
    return !isa<BlockArgument>(f.value);
  });
  if (!computes || side.deps.none())
    return;
  SmallVector<unsigned> dims = listOf(side.deps);
  SmallVector<Value> sizes;
  SmallVector<std::string> names, sNames = indexNames(s);
  for (unsigned d : dims) {
    sizes.push_back(s.getSizes()[d]);
    names.push_back(sNames[d]);
  }
  EinsumBuilder nb(rewriter, s.getLoc(), sizes, names);
  SmallVector<AffineExpr> place(s.getNumDims(),
                                getAffineConstantExpr(0, s.getContext()));
  for (auto [i, d] : llvm::enumerate(dims))
    place[d] = nb.dim(i);
  IRMapping known;
  SmallVector<Term> terms;
  emitFactors(nb, s, side.factors, place, known, terms);
  Type elem = cast<RankedTensorType>(s.getResult().getType()).getElementType();
  rewriter.setInsertionPoint(s);
  side.tensor = nb.finish(product(nb, terms, elem, s.getLoc()), elem,
                          iota(dims.size()), ReductionKind::none)
                    .getResult();
  side.access = dims;
  side.factors.clear();
}

/// Gives `value`, the result of an op just built, `type` (C's static shape;
/// EinsumBuilder derives a dynamic one from the sizes), telling `rewriter`.
void keepResultType(RewriterBase &rewriter, Value value, Type type) {
  rewriter.modifyOpInPlace(value.getDefiningOp(), [&] { value.setType(type); });
}

/// C's result: the sum of `parts` (tensors with the U dimensions they are
/// indexed by) times C's factors that are constant along its sums.
Value finalStep(PatternRewriter &rewriter, const Consumer &c,
                ArrayRef<std::pair<Value, SmallVector<unsigned>>> parts) {
  Location loc = c.op.getLoc();
  Space sp(c, Dims(c.numU()));
  for (unsigned u : c.resultDims) // in C's result order
    sp.slot[u] = sp.add(c.sizes[u], c.names[u]);
  EinsumBuilder nb(rewriter, loc, sp.sizes, sp.names);
  SmallVector<AffineExpr> u = sp.place(nb);
  Value sum;
  for (auto &[tensor, dims] : parts) {
    SmallVector<AffineExpr> access;
    for (unsigned d : dims)
      access.push_back(u[d]);
    Value v = nb.read(tensor, access);
    OpBuilder b = nb.at(nb.body());
    sum = sum ? arith::AddFOp::create(b, loc, sum, v) : v;
  }
  SmallVector<Term> terms = {{sum, false}};
  IRMapping known;
  emitFactors(nb, c.op, c.rest, placeOfC(c, u), known, terms);
  auto type = cast<RankedTensorType>(c.op.getResult().getType());
  rewriter.setInsertionPoint(c.op);
  EinsumOp op = nb.finish(product(nb, terms, type.getElementType(), loc),
                          type.getElementType(), iota(c.resultDims.size()),
                          ReductionKind::none);
  return op.getResult();
}

//===----------------------------------------------------------------------===//
// What a reordering costs beyond multiply-adds: the one pass over the keys
//===----------------------------------------------------------------------===//

/// Whether the value `v` of `e`'s body or guard reads one of `tensors`.
bool readsAnyOf(EinsumOp e, Value v, const llvm::DenseSet<Value> &tensors) {
  SmallVector<Value> work{v};
  llvm::DenseSet<Value> seen;
  while (!work.empty()) {
    Value x = work.pop_back_val();
    if (!seen.insert(x).second)
      continue;
    if (auto arg = dyn_cast<BlockArgument>(x)) {
      if (arg.getOwner() == &e.getBody().front() &&
          arg.getArgNumber() < e.getInputs().size() &&
          tensors.count(e.getInputs()[arg.getArgNumber()]))
        return true;
      continue;
    }
    if (tensors.count(x))
      return true;
    Operation *op = x.getDefiningOp();
    if (op && e->isProperAncestor(op))
      llvm::append_range(work, op->getOperands());
  }
  return false;
}

/// The maximum of the one-pass group (attn-one-pass) that S is a sum of, if
/// the reordering would break it: the first new sum reduces C's dimensions
/// over factors that read the maximum or a value computed from it per key,
/// so the pass's exponentials are needed in a reduction that is not along
/// the keys. Null if S is in no group or the group survives.
EinsumOp brokenOnePass(const Plan &plan) {
  auto kernel = plan.s->getParentOfType<func::FuncOp>();
  RankAnalysis ranks(kernel);
  IRRewriter rewriter(plan.s.getContext()); // no listener: reasons unused
  EinsumOp broken;
  kernel.walk([&](EinsumOp max) {
    if (max.getKind() != ReductionKind::max)
      return WalkResult::advance();
    FailureOr<OnePassGroup> group = matchOnePassGroup(rewriter, max, ranks);
    if (failed(group) || !llvm::is_contained(group->sums, plan.s))
      return WalkResult::advance();
    llvm::DenseSet<Value> perKey{max.getResult()};
    for (EinsumOp e : group->elementwise)
      perKey.insert(e.getResult());
    bool breaks = llvm::any_of(plan.key.factors, [&](const Factor &f) {
      return readsAnyOf(plan.s, f.value, perKey);
    });
    for (const Consumer &c : plan.consumers)
      breaks |= llvm::any_of(c.keyed, [&](const Factor &f) {
        return readsAnyOf(c.op, f.value, perKey);
      });
    if (!breaks)
      return WalkResult::advance();
    broken = max;
    return WalkResult::interrupt();
  });
  return broken;
}

/// The einsums a pass over `max`'s rank runs before the maximum: the maximum
/// and, transitively, the producers of its inputs that iterate the rank (the
/// scores' contraction). A second pass recomputes or re-reads them.
SmallVector<EinsumOp> passOverKeys(EinsumOp max) {
  auto kernel = max->getParentOfType<func::FuncOp>();
  RankAnalysis ranks(kernel);
  unsigned rank = ranks.rankOf(max, max.getReducedDims()[0]);
  SmallVector<EinsumOp> pass{max};
  for (unsigned i = 0; i < pass.size(); ++i)
    for (Value in : pass[i].getInputs()) {
      auto e = in.getDefiningOp<EinsumOp>();
      if (!e || llvm::is_contained(pass, e))
        continue;
      for (unsigned d = 0; d < e.getNumDims(); ++d)
        if (ranks.rankOf(e, d) == rank) {
          pass.push_back(e);
          break;
        }
    }
  return pass;
}

//===----------------------------------------------------------------------===//
// The rewrite
//===----------------------------------------------------------------------===//

struct ReorderPattern : public OpRewritePattern<EinsumOp> {
  ReorderPattern(MLIRContext *ctx, int64_t chunk, int64_t longSize,
                 int64_t shortSize)
      : OpRewritePattern(ctx), chunk(chunk), longSize(longSize),
        shortSize(shortSize) {}

  /// The dimensions (in U) of the first sum: the key side and C's factors
  /// along its sums; and of the second: the query side and the first's
  /// result, summed over S's reduced dimensions.
  static Dims firstSum(const Plan &p, const Consumer &c) {
    Dims d = c.toU(p.key.deps) | c.reduced;
    for (const Factor &f : c.keyed)
      d |= f.deps;
    return d;
  }
  static Dims secondSum(const Plan &p, const Consumer &c) {
    Dims first = firstSum(p, c);
    return c.toU(p.query.deps) | first.reset(c.reduced) | c.sReduced;
  }

  LogicalResult matchAndRewrite(EinsumOp s,
                                PatternRewriter &rewriter) const override {
    std::string why;
    FailureOr<Plan> analysed = analyse(s, why);
    if (failed(analysed)) {
      if (!why.empty())
        s.emitRemark(why);
      return failure();
    }
    Plan &plan = *analysed;
    auto kernel = s->getParentOfType<func::FuncOp>();
    SizeModel model(kernel, longSize, shortSize);
    auto volume = [&](ValueRange sizes, const Dims &dims) {
      SmallVector<SizePoly> polys;
      for (unsigned u : dims.set_bits())
        polys.push_back(model.of(sizes[u]));
      return model.volume(polys);
    };
    auto all = [](unsigned n) { return Dims(n, true); };

    // Multiply-adds before and after.
    SizePoly before = volume(s.getSizes(), all(s.getNumDims()));
    for (const Consumer &c : plan.consumers)
      before = before + volume(c.op.getSizes(), all(c.op.getNumDims()));
    SizePoly after = SizePoly::constant(0);
    if (plan.causal) {
      SizePoly T = SizePoly::constant(chunk);
      SizePoly keyChunks = model.chunks(model.of(s.getSizes()[plan.k]), chunk);
      after = volume(s.getSizes(), all(s.getNumDims()).reset(plan.k)) * T;
      for (const Consumer &c : plan.consumers) {
        unsigned k = c.sInU[plan.k], q = c.sInU[plan.q];
        SizePoly queryChunks = model.chunks(model.of(c.sizes[q]), chunk);
        Dims outer = firstSum(plan, c).reset(k);
        after = after + volume(c.sizes, outer) * keyChunks * T +
                volume(c.sizes, outer) * queryChunks * keyChunks +
                volume(c.sizes, secondSum(plan, c).set(q)) +
                volume(c.sizes, c.widen(all(c.op.getNumDims())).reset(k)) * T;
      }
    } else {
      for (const Consumer &c : plan.consumers)
        after = after + volume(c.sizes, firstSum(plan, c)) +
                volume(c.sizes, secondSum(plan, c));
    }
    std::string contractions = "the contractions over " + reducedNames(s) +
                               " and " + namesOf(s, plan.keys);
    std::string costs = "cost " + model.str(before) + " -> " + model.str(after);
    // Breaking one pass over the keys costs (at least) one more pass.
    if (EinsumOp max = brokenOnePass(plan)) {
      SizePoly pass = SizePoly::constant(0);
      for (EinsumOp e : passOverKeys(max))
        pass = pass + volume(e.getSizes(), all(e.getNumDims()));
      after = after + pass;
      costs += " + " + model.str(pass) + " (a second pass over " +
               indexNames(max)[max.getReducedDims()[0]] +
               ": the reordering breaks its one pass)";
    }
    if (model.estimate(after) >= model.estimate(before)) {
      s.emitRemark() << "not reordered (" << contractions << "): " << costs
                     << " is not cheaper";
      return failure();
    }
    auto remark = s.emitRemark() << "reordered " << contractions;
    if (plan.causal)
      remark << ", in chunks of " << chunk << " along " << indexNames(s)[plan.k]
             << " for " << indexNames(s)[plan.k]
             << " <= " << indexNames(s)[plan.q];
    remark << ": " << costs;

    materialize(rewriter, s, plan.query);
    materialize(rewriter, s, plan.key);
    if (plan.causal)
      rewriteChunked(rewriter, plan);
    else
      for (const Consumer &c : plan.consumers)
        rewritePlain(rewriter, plan, c);
    rewriter.eraseOp(s);
    return success();
  }

  /// KV = sum over C's reduced dimensions of the key side times C's factors
  /// along them; O' = sum over S's reduced dimensions of the query side
  /// times KV; then C's remaining factors.
  void rewritePlain(PatternRewriter &rewriter, const Plan &plan,
                    const Consumer &c) const {
    Location loc = c.op.getLoc();
    Type elem =
        cast<RankedTensorType>(c.op.getResult().getType()).getElementType();
    Dims first = firstSum(plan, c), second = secondSum(plan, c);
    SmallVector<unsigned> firstOut = listOf(Dims(first).reset(c.reduced));

    Space s1(c, first);
    EinsumBuilder b1(rewriter, loc, s1.sizes, s1.names);
    SmallVector<AffineExpr> u1 = s1.place(b1);
    IRMapping known1;
    SmallVector<Term> terms1;
    emitSide(b1, plan.s, plan.key, placeOfS(c, u1), known1, terms1);
    emitFactors(b1, c.op, c.keyed, placeOfC(c, u1), known1, terms1);
    rewriter.setInsertionPoint(c.op);
    Value kv = b1.finish(product(b1, terms1, elem, loc), elem,
                         s1.slots(firstOut), ReductionKind::sum)
                   .getResult();

    Space s2(c, second);
    EinsumBuilder b2(rewriter, loc, s2.sizes, s2.names);
    SmallVector<AffineExpr> u2 = s2.place(b2);
    IRMapping known2;
    SmallVector<Term> terms2;
    emitSide(b2, plan.s, plan.query, placeOfS(c, u2), known2, terms2);
    SmallVector<AffineExpr> kvAccess;
    for (unsigned u : firstOut)
      kvAccess.push_back(u2[u]);
    terms2.push_back({b2.read(kv, kvAccess), false});
    Dims secondOut = Dims(second).reset(c.sReduced), kept(c.numU());
    for (unsigned u : c.resultDims)
      kept.set(u);
    bool last = c.rest.empty() && secondOut == kept;
    SmallVector<unsigned> outDims =
        last ? SmallVector<unsigned>(c.resultDims) : listOf(secondOut);
    rewriter.setInsertionPoint(c.op);
    Value out = b2.finish(product(b2, terms2, elem, loc), elem,
                          s2.slots(outDims), ReductionKind::sum)
                    .getResult();
    if (!last)
      out = finalStep(rewriter, c, {{out, outDims}});
    keepResultType(rewriter, out, c.op.getResult().getType());
    rewriter.replaceOp(c.op, out);
  }

  void rewriteChunked(PatternRewriter &rewriter, Plan &plan) const {
    EinsumOp s = plan.s;
    Location loc = s.getLoc();
    MLIRContext *ctx = s.getContext();
    Type elem =
        cast<RankedTensorType>(s.getResult().getType()).getElementType();
    Value keySize = s.getSizes()[plan.k];
    rewriter.setInsertionPoint(s);
    Value T = arith::ConstantIndexOp::create(rewriter, loc, chunk);
    Value keyChunks = arith::CeilDivSIOp::create(rewriter, loc, keySize, T);
    AffineExpr t = getAffineConstantExpr(chunk, ctx);
    SmallVector<std::string> sNames = indexNames(s);

    // SI[.., q, i] = sum(e) query * key at k = chunk(q) * T + i (wrapped
    // into range; the consumers keep only k <= q, k < M).
    SmallVector<Value> siSizes(s.getSizes());
    SmallVector<std::string> siNames(sNames);
    siSizes[plan.k] = T;
    siNames[plan.k] += "i";
    EinsumBuilder bi(rewriter, loc, siSizes, siNames);
    AffineExpr keys = bi.symbol(keySize);
    SmallVector<AffineExpr> place;
    for (unsigned d = 0; d < s.getNumDims(); ++d)
      place.push_back(bi.dim(d));
    place[plan.k] = (bi.dim(plan.q).floorDiv(t) * t + bi.dim(plan.k)) % keys;
    IRMapping knownI;
    SmallVector<Term> termsI;
    emitSide(bi, s, plan.query, place, knownI, termsI);
    emitSide(bi, s, plan.key, place, knownI, termsI);
    bi.addFilterConjunction({keys - 1}, {false});
    SmallVector<unsigned> sOut;
    for (AffineExpr r : s.getResultMap().getResults())
      sOut.push_back(cast<AffineDimExpr>(r).getPosition());
    rewriter.setInsertionPoint(s);
    Value intraScores = bi.finish(product(bi, termsI, elem, loc), elem, sOut,
                                  ReductionKind::sum)
                            .getResult();

    for (const Consumer &c : plan.consumers)
      rewriteChunkedConsumer(rewriter, plan, c, T, keyChunks, intraScores);
  }

  void rewriteChunkedConsumer(PatternRewriter &rewriter, const Plan &plan,
                              const Consumer &c, Value T, Value keyChunks,
                              Value intraScores) const {
    Location loc = c.op.getLoc();
    MLIRContext *ctx = loc.getContext();
    Type elem =
        cast<RankedTensorType>(c.op.getResult().getType()).getElementType();
    unsigned k = c.sInU[plan.k], q = c.sInU[plan.q];
    Value keySize = plan.s.getSizes()[plan.k];
    AffineExpr t = getAffineConstantExpr(chunk, ctx);
    Dims first = firstSum(plan, c);
    SmallVector<unsigned> outer = listOf(first);
    rewriter.setInsertionPoint(c.op);
    Value queryChunks =
        arith::CeilDivSIOp::create(rewriter, loc, c.sizes[q], T);

    // KC[.., kc, ..] = sum over the keys of chunk kc of key side * factors.
    Space s1(c, first);
    unsigned kc = s1.slot[k];
    s1.sizes[kc] = keyChunks;
    s1.names[kc] = c.names[k] + "c";
    unsigned ki = s1.add(T, c.names[k] + "i");
    EinsumBuilder b1(rewriter, loc, s1.sizes, s1.names);
    SmallVector<AffineExpr> u1 = s1.place(b1);
    u1[k] = b1.dim(kc) * t + b1.dim(ki);
    IRMapping known1;
    SmallVector<Term> terms1;
    emitSide(b1, plan.s, plan.key, placeOfS(c, u1), known1, terms1);
    emitFactors(b1, c.op, c.keyed, placeOfC(c, u1), known1, terms1);
    b1.addFilterConjunction({b1.symbol(keySize) - 1 - u1[k]}, {false});
    rewriter.setInsertionPoint(c.op);
    SmallVector<unsigned> chunkOut = s1.slots(outer);
    Value chunkSums = b1.finish(product(b1, terms1, elem, loc), elem, chunkOut,
                                ReductionKind::sum)
                          .getResult();

    // PC[.., qc, ..] = sum over kc < qc of KC[.., kc, ..] (exclusive
    // prefix; the zeros keep chunk 0 present).
    Space s2(c, first);
    s2.sizes[s2.slot[k]] = queryChunks;
    s2.names[s2.slot[k]] = c.names[q] + "c";
    unsigned kc2 = s2.add(keyChunks, c.names[k] + "c");
    EinsumBuilder b2(rewriter, loc, s2.sizes, s2.names);
    SmallVector<AffineExpr> access2;
    for (unsigned u : outer)
      access2.push_back(u == k ? b2.dim(kc2) : b2.dim(s2.slot[u]));
    Value chunkSum = b2.read(chunkSums, access2);
    OpBuilder body2 = b2.at(b2.body());
    Value earlier = arith::CmpIOp::create(
        body2, loc, arith::CmpIPredicate::slt, b2.index(b2.body(), b2.dim(kc2)),
        b2.index(b2.body(), b2.dim(s2.slot[k])));
    Value zero2 =
        arith::ConstantOp::create(body2, loc, body2.getFloatAttr(elem, 0.0));
    Value prefixValue =
        arith::SelectOp::create(body2, loc, earlier, chunkSum, zero2);
    rewriter.setInsertionPoint(c.op);
    Value prefix =
        b2.finish(prefixValue, elem, s2.slots(outer), ReductionKind::sum)
            .getResult();

    // Inter-chunk part: sum(e) query side * PC at the query's chunk.
    Dims third = secondSum(plan, c).set(q);
    Space s3(c, third);
    EinsumBuilder b3(rewriter, loc, s3.sizes, s3.names);
    SmallVector<AffineExpr> u3 = s3.place(b3);
    IRMapping known3;
    SmallVector<Term> terms3;
    emitSide(b3, plan.s, plan.query, placeOfS(c, u3), known3, terms3);
    SmallVector<AffineExpr> access3;
    for (unsigned u : outer)
      access3.push_back(u == k ? u3[q].floorDiv(t) : u3[u]);
    terms3.push_back({b3.read(prefix, access3), false});
    SmallVector<unsigned> interOut = listOf(Dims(third).reset(c.sReduced));
    rewriter.setInsertionPoint(c.op);
    Value inter = b3.finish(product(b3, terms3, elem, loc), elem,
                            s3.slots(interOut), ReductionKind::sum)
                      .getResult();

    // Intra-chunk part: the keys k = chunk(q) * T + i of the query's own
    // chunk with k <= q and k < M, through SI.
    Space s4(c, c.widen(Dims(c.op.getNumDims(), true)));
    s4.sizes[s4.slot[k]] = T;
    s4.names[s4.slot[k]] = c.names[k] + "i";
    EinsumBuilder b4(rewriter, loc, s4.sizes, s4.names);
    SmallVector<AffineExpr> u4 = s4.place(b4);
    AffineExpr keys = b4.symbol(keySize);
    AffineExpr key = u4[q].floorDiv(t) * t + b4.dim(s4.slot[k]);
    SmallVector<AffineExpr> scoreAccess;
    for (AffineExpr r : plan.s.getResultMap().getResults()) {
      unsigned d = cast<AffineDimExpr>(r).getPosition();
      scoreAccess.push_back(d == plan.k ? b4.dim(s4.slot[k]) : u4[c.sInU[d]]);
    }
    SmallVector<Term> terms4 = {{b4.read(intraScores, scoreAccess), false}};
    u4[k] = key % keys;
    IRMapping known4;
    emitFactors(b4, c.op, c.keyed, placeOfC(c, u4), known4, terms4);
    Value value4 = product(b4, terms4, elem, loc);
    OpBuilder body4 = b4.at(b4.body());
    Value keyIndex = b4.index(b4.body(), key);
    Value visible = arith::AndIOp::create(
        body4, loc,
        arith::CmpIOp::create(body4, loc, arith::CmpIPredicate::sle, keyIndex,
                              b4.index(b4.body(), u4[q])),
        arith::CmpIOp::create(body4, loc, arith::CmpIPredicate::slt, keyIndex,
                              keySize));
    Value zero4 =
        arith::ConstantOp::create(body4, loc, body4.getFloatAttr(elem, 0.0));
    value4 = arith::SelectOp::create(body4, loc, visible, value4, zero4);
    b4.addFilterConjunction({keys - 1}, {false});
    rewriter.setInsertionPoint(c.op);
    Value intra =
        b4.finish(value4, elem, s4.slots(c.resultDims), ReductionKind::sum)
            .getResult();

    Value out = finalStep(
        rewriter, c,
        {{inter, interOut}, {intra, SmallVector<unsigned>(c.resultDims)}});
    keepResultType(rewriter, out, c.op.getResult().getType());
    rewriter.replaceOp(c.op, out);
  }

  int64_t chunk, longSize, shortSize;
};

struct ReorderContractions
    : public mlir::attn::impl::AttnReorderContractionsBase<
          ReorderContractions> {
  using AttnReorderContractionsBase::AttnReorderContractionsBase;

  void runOnOperation() override {
    if (chunkSize <= 0 || longSize <= 0 || shortSize <= 0) {
      getOperation().emitError("attn-reorder-contractions: chunk-size, "
                               "long-size and short-size must be positive");
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    patterns.add<ReorderPattern>(&getContext(), chunkSize, longSize, shortSize);
    // Each contraction is decided once, on the cascade as written.
    GreedyRewriteConfig config;
    config.enableFolding(false)
        .enableConstantCSE(false)
        .setRegionSimplificationLevel(GreedySimplifyRegionLevel::Disabled)
        .setStrictness(GreedyRewriteStrictness::ExistingOps)
        .setMaxIterations(1);
    (void)applyPatternsGreedily(getOperation(), std::move(patterns), config);
  }
};

} // namespace
