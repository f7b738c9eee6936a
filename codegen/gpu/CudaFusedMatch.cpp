// Which attn.online ops a fused attention launch computes, and why not: the
// matcher of the shape CudaFusedAttention.h states, and the plan entries
// (manifest size factors, scaled launches) of every match and of its
// epilogue (CudaFusedEpilogue.cpp). Each online op gets a remark saying what
// was fused or the first reason it was not.
#include "codegen/gpu/CudaFusedAttention.h"

#include "dialect/AttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;

bool cuda::isKernelArgument(Value v, func::FuncOp kernel) {
  auto arg = dyn_cast<BlockArgument>(v);
  return arg && arg.getOwner()->getParentOp() == kernel.getOperation();
}

LogicalResult cuda::checkPlainBody(Block &body, std::string &why) {
  for (Operation &op : body)
    if (!isa<YieldOp>(op) &&
        !(op.getNumRegions() == 0 &&
          isa<arith::ArithDialect, math::MathDialect>(op.getDialect()))) {
      why = "a body has '" + op.getName().getStringRef().str() + "'";
      return failure();
    }
  return success();
}

namespace {

bool dependsOn(ArrayRef<AffineExpr> exprs, unsigned d) {
  return llvm::any_of(exprs,
                      [&](AffineExpr x) { return x.isFunctionOfDim(d); });
}

/// The source name of an einsum's dimension d (its `attn.indices`).
std::string indexName(EinsumOp op, unsigned d) {
  if (auto names = op->getAttrOfType<ArrayAttr>(kIndicesAttr))
    if (d < names.size())
      if (auto s = dyn_cast<StringAttr>(names[d]))
        return s.str();
  return "d" + std::to_string(d);
}

/// Builds a FusedAttention for one online op; failure, with `why`, when the
/// IR does not have the shape the launch computes.
class Matcher {
public:
  Matcher(KernelPlan &plan, OnlineOp online) : plan(plan) {
    fa.online = online;
  }
  KernelPlan &plan;
  FusedAttention fa;
  std::string why;

  LogicalResult fail(const std::string &reason) {
    why = reason;
    return failure();
  }

  LogicalResult run();

  LogicalResult plainBody(Block &body) { return checkPlainBody(body, why); }

private:
  AffineExpr symbolOf(Value v) {
    for (auto [i, s] : llvm::enumerate(fa.symbols))
      if (s == v)
        return getAffineSymbolExpr(i, v.getContext());
    fa.symbols.push_back(v);
    return getAffineSymbolExpr(fa.symbols.size() - 1, v.getContext());
  }

  /// `map` (over op's dimensions and symbols) over the canonical ones.
  SmallVector<AffineExpr> compose(AffineMap map, ArrayRef<AffineExpr> dims,
                                  ValueRange symbols) {
    SmallVector<AffineExpr> syms;
    for (Value s : symbols)
      syms.push_back(symbolOf(s));
    SmallVector<AffineExpr> out;
    for (AffineExpr r : map.getResults())
      out.push_back(simplifyAffineExpr(r.replaceDimsAndSymbols(dims, syms),
                                       fa.numCanon(),
                                       FusedAttention::kMaxSymbols));
    return out;
  }

  SmallVector<AffineExpr> inputCoords(EinsumOp op, unsigned i) {
    return compose(op.getInputMap(i), fa.dimsOf[op], op.getSymbols());
  }

  /// The tensors an einsum reads by attn.read, by name.
  std::string tableNames(EinsumOp op) {
    std::string names;
    for (Value t : op.getTables())
      names += (names.empty() ? "" : ", ") + plan.nameOf(t);
    return names;
  }

  LogicalResult assign(EinsumOp op, ArrayRef<AffineExpr> coords,
                       std::optional<unsigned> reduced);
  LogicalResult walkRoot(EinsumOp op, ArrayRef<AffineExpr> coords);
  LogicalResult checkRootBody(EinsumOp op);
  LogicalResult walk(Value t, ArrayRef<AffineExpr> coords, bool xChain);
  LogicalResult matchRef(ArrayRef<AffineExpr> ids);
  LogicalResult matchPart(unsigned i, ArrayRef<AffineExpr> ids,
                          ArrayRef<unsigned> rowDims);
  LogicalResult matchWeightedSum(EinsumOp op, ArrayRef<unsigned> sumDims,
                                 ArrayRef<unsigned> rowDims);
  void chooseRows(ArrayRef<unsigned> rowDims);
  LogicalResult checkLayout();
};

/// Assigns op's dimensions from the coordinates of its result (and the
/// canonical `reduced` for its one reduced dimension, if any).
LogicalResult Matcher::assign(EinsumOp op, ArrayRef<AffineExpr> coords,
                              std::optional<unsigned> reduced) {
  SmallVector<AffineExpr> dims(op.getNumDims());
  for (auto [k, r] : llvm::enumerate(op.getResultMap().getResults()))
    dims[cast<AffineDimExpr>(r).getPosition()] = coords[k];
  SmallVector<unsigned> red = op.getReducedDims();
  if (red.size() != (reduced ? 1u : 0u))
    return fail("an einsum reduces " + std::to_string(red.size()) +
                " dimensions where the launch needs " +
                (reduced ? "one" : "none"));
  if (reduced)
    dims[red[0]] = fa.dim(*reduced);
  if (op.hasGuard())
    return fail("an einsum has a guard (a where clause that reads a tensor)");
  if (!op.getTables().empty())
    return fail("an einsum reads tables (" + tableNames(op) +
                ", at computed coordinates)");
  auto it = fa.dimsOf.find(op);
  if (it != fa.dimsOf.end())
    return it->second == dims
               ? success()
               : fail("an einsum is read at two sets of coordinates");
  fa.dimsOf[op] = dims;
  return success();
}

/// The root: sum over e of extf(Q) * extf(K) times factors.
LogicalResult Matcher::walkRoot(EinsumOp op, ArrayRef<AffineExpr> coords) {
  if (fa.root && fa.root != op)
    return fail("two contractions feed the scores");
  if (failed(assign(op, coords, fa.e)))
    return failure();
  fa.root = op;
  Value q = op.getInputs()[0], k = op.getInputs()[1];
  if (!isKernelArgument(q, plan.kernel) || !isKernelArgument(k, plan.kernel))
    return fail("the contraction's operands are not kernel arguments");
  Type et = cast<RankedTensorType>(q.getType()).getElementType();
  Type kt = cast<RankedTensorType>(k.getType()).getElementType();
  if (!(et.isBF16() || et.isF16()) || kt != et) {
    std::string types;
    llvm::raw_string_ostream os(types);
    os << plan.nameOf(q) << ": " << et << ", " << plan.nameOf(k) << ": " << kt;
    return fail("the contraction's operands (" + types +
                ") are not both bf16 or both f16");
  }
  fa.elem = et;
  if (failed(checkRootBody(op)))
    return failure();
  fa.q = q;
  fa.k = k;
  fa.qCoords = inputCoords(op, 0);
  fa.kCoords = inputCoords(op, 1);
  return success();
}

/// The product of the two extended operands, then only multiplications by
/// values that depend on neither (fa.product).
LogicalResult Matcher::checkRootBody(EinsumOp op) {
  Block &body = op.getBody().front();
  if (failed(plainBody(body)))
    return failure();
  Value a = body.getArgument(0), b = body.getArgument(1);
  auto isExt = [&](Value x, Value of) {
    auto ext = x.getDefiningOp<arith::ExtFOp>();
    return ext && ext.getIn() == of && ext->hasOneUse();
  };
  Operation *product = nullptr;
  for (Operation &o : body)
    if (auto mul = dyn_cast<arith::MulFOp>(o))
      if ((isExt(mul.getLhs(), a) && isExt(mul.getRhs(), b)) ||
          (isExt(mul.getLhs(), b) && isExt(mul.getRhs(), a)))
        product = mul;
  if (!product || !a.hasOneUse() || !b.hasOneUse())
    return fail("the contraction's body is not extf(Q) * extf(K) times a "
                "factor");
  Value cur = product->getResult(0);
  while (true) {
    if (!cur.hasOneUse())
      return fail("the contraction's product has several uses");
    Operation *user = *cur.getUsers().begin();
    if (isa<YieldOp>(user))
      break;
    auto mul = dyn_cast<arith::MulFOp>(user);
    if (!mul)
      return fail("the contraction's product is not only scaled");
    cur = mul.getResult();
  }
  unsigned eArg = op.getInputs().size() + op.getReducedDims()[0];
  if (!body.getArgument(eArg).use_empty())
    return fail("the contraction's body reads the contracted index");
  fa.product = product;
  return success();
}

/// Walks the tensor read at canonical `coords`.
LogicalResult Matcher::walk(Value t, ArrayRef<AffineExpr> coords, bool xChain) {
  if (t == fa.online.getRef()) {
    SmallVector<AffineExpr> refCoords =
        compose(fa.online.getRefMap(), fa.onlineDims(), fa.online.getSymbols());
    if (refCoords != SmallVector<AffineExpr>(coords))
      return fail("the running maximum is read at other coordinates");
    return success();
  }
  if (isKernelArgument(t, plan.kernel))
    return success();
  auto op = t.getDefiningOp<EinsumOp>();
  if (!op)
    return fail("a tensor is not computed by an einsum");
  if (xChain)
    fa.xChain.insert(op);
  if (op.getKind() == ReductionKind::sum && op.getInputs().size() == 2)
    return walkRoot(op, coords);
  if (op.getKind() == ReductionKind::sum && op.getInputs().size() > 2 &&
      op.getReducedDims().size() == 1) {
    // A factor read from a tensor inside the contraction statement
    // (`Q * K * rsqrt(E) * Scale[h]`): the launch contracts two tensors.
    std::string extra;
    for (Value in : op.getInputs().drop_front(2))
      extra += (extra.empty() ? "" : ", ") + plan.nameOf(in);
    return fail("the contraction over " +
                indexName(op, op.getReducedDims()[0]) + " also reads " + extra +
                " (the launch's contraction reads only " +
                plan.nameOf(op.getInputs()[0]) + " and " +
                plan.nameOf(op.getInputs()[1]) + ": write what uses " + extra +
                " as its own statement)");
  }
  if (op.getKind() != ReductionKind::none)
    return fail("a reduction other than the contraction feeds the scores");
  if (failed(assign(op, coords, std::nullopt)) ||
      failed(plainBody(op.getBody().front())))
    return failure();
  for (unsigned i = 0; i < op.getInputs().size(); ++i)
    if (failed(walk(op.getInputs()[i], inputCoords(op, i), xChain)))
      return failure();
  return success();
}

/// The ref: a max over the tile element m0 of X.
LogicalResult Matcher::matchRef(ArrayRef<AffineExpr> ids) {
  OnlineOp online = fa.online;
  auto refOp = online.getRef().getDefiningOp<EinsumOp>();
  if (!refOp || refOp.getKind() != ReductionKind::max ||
      refOp.getInputs().size() != 1)
    return fail("the running maximum's ref is not a max-einsum of one "
                "tensor");
  SmallVector<AffineExpr> refCoords =
      compose(online.getRefMap(), ids, online.getSymbols());
  if (failed(assign(refOp, refCoords, fa.m0)))
    return failure();
  std::optional<int64_t> tile =
      getConstantIntValue(refOp.getSizes()[refOp.getReducedDims()[0]]);
  if (!tile || *tile % 16 != 0 || *tile < 16 || *tile > 128)
    return fail("the tile extent is not a constant multiple of 16 up to "
                "128");
  fa.tile = *tile;
  Block &refBody = refOp.getBody().front();
  if (!isa<YieldOp>(refBody.front()) ||
      refBody.front().getOperand(0) != refBody.getArgument(0))
    return fail("the max-einsum's body is not its input");
  fa.refOp = refOp;
  if (failed(walk(refOp.getInputs()[0], inputCoords(refOp, 0), true)))
    return failure();
  if (!fa.root)
    return fail("no contraction computes the scores");
  return success();
}

/// Part i: a sum over m0 of one tensor over the rows, or the weighted sum.
LogicalResult Matcher::matchPart(unsigned i, ArrayRef<AffineExpr> ids,
                                 ArrayRef<unsigned> rowDims) {
  OnlineOp online = fa.online;
  auto op = online.getParts()[i].getDefiningOp<EinsumOp>();
  if (!op || op.getKind() != ReductionKind::sum)
    return fail("a part is not a sum-einsum");
  SmallVector<AffineExpr> coords =
      compose(online.getPartMap(i), ids, online.getSymbols());
  if (failed(assign(op, coords, fa.m0)))
    return failure();
  if (getConstantIntValue(op.getSizes()[op.getReducedDims()[0]]) != fa.tile)
    return fail("a part's tile extent differs");
  FusedAttention::Part part;
  part.op = op;
  part.rescale = cast<FloatAttr>(online.getRescale()[i]).getValueAsDouble();
  if (failed(plainBody(op.getBody().front())))
    return failure();
  SmallVector<unsigned> sumDims;
  for (AffineExpr r : online.getSumMap(i).getResults())
    sumDims.push_back(cast<AffineDimExpr>(r).getPosition());
  if (op.getInputs().size() == 2) {
    if (failed(matchWeightedSum(op, sumDims, rowDims)))
      return failure();
    part.pv = true;
  } else if (op.getInputs().size() != 1 || sumDims != rowDims) {
    return fail("a part is neither a sum of one tensor over the rows nor "
                "a weighted sum");
  }
  if (failed(walk(op.getInputs()[0], inputCoords(op, 0), false)))
    return failure();
  fa.parts.push_back(part);
  return success();
}

/// E * extf(V): the weighted sum; f is its one result dimension that the
/// maximum does not have.
LogicalResult Matcher::matchWeightedSum(EinsumOp op, ArrayRef<unsigned> sumDims,
                                        ArrayRef<unsigned> rowDims) {
  Block &body = op.getBody().front();
  Value vArg = body.getArgument(1), eArg = body.getArgument(0);
  auto mul = dyn_cast<arith::MulFOp>(body.front().getNextNode());
  auto ext = dyn_cast<arith::ExtFOp>(&body.front());
  if (fa.v || !ext || ext.getIn() != vArg || !mul ||
      !((mul.getLhs() == eArg && mul.getRhs() == ext) ||
        (mul.getRhs() == eArg && mul.getLhs() == ext)) ||
      !isa<YieldOp>(mul->getNextNode()) ||
      mul->getNextNode()->getOperand(0) != mul.getResult())
    return fail("a part of two tensors is not E * extf(V)");
  Value v = op.getInputs()[1];
  if (!isKernelArgument(v, plan.kernel) ||
      cast<RankedTensorType>(v.getType()).getElementType() != fa.elem)
    return fail("V is not a kernel argument of the scores' type");
  SmallVector<unsigned> extra;
  for (unsigned d : sumDims)
    if (!llvm::is_contained(rowDims, d))
      extra.push_back(d);
  if (extra.size() != 1)
    return fail("the weighted sum has no single extra dimension");
  fa.fDim = extra[0];
  fa.v = v;
  fa.vCoords = inputCoords(op, 1);
  return success();
}

/// The MMA rows (fa.pDim, fa.group) and the block's other dimensions.
void Matcher::chooseRows(ArrayRef<unsigned> rowDims) {
  // A result dimension Q depends on and K and V do not (the innermost such
  // of Q's coordinates).
  for (AffineExpr c : fa.qCoords)
    for (unsigned d : rowDims)
      if (c == fa.dim(d) && !dependsOn(fa.kCoords, d) &&
          !dependsOn(fa.vCoords, d))
        fa.pDim = d;
  // Grouped heads (GQA/MQA decode): without such a dimension, one that K
  // and V read only as `d floordiv G` (G a constant, 2..16) packs the G
  // rows that share K and V into one block: each K/V tile is read once
  // per group.
  if (fa.pDim < 0)
    for (AffineExpr c : fa.qCoords)
      for (unsigned d : rowDims) {
        if (c != fa.dim(d))
          continue;
        std::optional<int64_t> group;
        bool ok = true;
        for (AffineExpr x : llvm::concat<AffineExpr>(fa.kCoords, fa.vCoords)) {
          if (!x.isFunctionOfDim(d))
            continue;
          auto bin = dyn_cast<AffineBinaryOpExpr>(x);
          auto k = bin ? dyn_cast<AffineConstantExpr>(bin.getRHS())
                       : AffineConstantExpr();
          if (!bin || x.getKind() != AffineExprKind::FloorDiv ||
              bin.getLHS() != fa.dim(d) || !k || k.getValue() < 2 ||
              k.getValue() > 16 || (group && *group != k.getValue())) {
            ok = false;
            continue;
          }
          group = k.getValue();
        }
        if (ok && group) {
          fa.pDim = d;
          fa.group = *group;
        }
      }
  for (unsigned d : rowDims)
    if (static_cast<int>(d) != fa.pDim)
      fa.blockDims.push_back(d);
}

/// What the launch's data layout needs of the coordinates and filters.
LogicalResult Matcher::checkLayout() {
  if (dependsOn(fa.qCoords, fa.m0) || dependsOn(fa.qCoords, fa.tileDim))
    return fail("Q depends on the key tile");
  for (auto &[op, dims] : fa.dimsOf) {
    auto einsum = cast<EinsumOp>(op);
    std::optional<ArrayAttr> filter = einsum.getFilter();
    if (!filter)
      continue;
    for (Attribute a : *filter) {
      IntegerSet set = cast<IntegerSetAttr>(a).getValue();
      for (AffineExpr c : set.getConstraints())
        for (unsigned d = 0; d < einsum.getNumDims(); ++d)
          if (c.isFunctionOfDim(d) &&
              (dims[d].isFunctionOfDim(fa.e) ||
               (fa.fDim >= 0 && dims[d].isFunctionOfDim(fa.fDim))))
            return fail("a filter constrains the contracted or output "
                        "dimension");
    }
  }
  // One probability per key: only the weighted sum depends on f.
  for (auto &[op, dims] : fa.dimsOf) {
    Operation *covered = op; // a structured binding is not captured
    bool weightedSum = llvm::any_of(fa.parts, [&](FusedAttention::Part &p) {
      return p.pv && p.op.getOperation() == covered;
    });
    if (!weightedSum && dependsOn(dims, fa.fDim))
      return fail("an einsum other than the weighted sum depends on f");
  }
  if (fa.symbols.size() > FusedAttention::kMaxSymbols)
    return fail("too many symbols");
  // Every covered value is read only by covered ops or the online op.
  for (auto &[op, dims] : fa.dimsOf)
    for (Operation *user : op->getUsers())
      if (user != fa.online.getOperation() && !fa.dimsOf.count(user))
        return fail("an intermediate is also read elsewhere");
  if (std::optional<ArrayAttr> filter = fa.online.getFilter())
    for (Attribute a : *filter)
      for (AffineExpr c : cast<IntegerSetAttr>(a).getValue().getConstraints())
        if (fa.fDim >= 0 && c.isFunctionOfDim(fa.fDim))
          return fail("the online filter constrains f");
  return success();
}

LogicalResult Matcher::run() {
  OnlineOp online = fa.online;
  fa.numOnline = online.getNumDims();
  fa.m0 = fa.numOnline;
  fa.e = fa.numOnline + 1;
  SmallVector<unsigned> reduced = online.getReducedDims();
  if (reduced.size() != 1)
    return fail("the online op reduces several dimensions");
  fa.tileDim = reduced[0];
  // Result dimensions: the maximum's, and one more for a weighted sum.
  SmallVector<unsigned> rowDims;
  for (AffineExpr r : online.getMaxMap().getResults())
    rowDims.push_back(cast<AffineDimExpr>(r).getPosition());
  SmallVector<AffineExpr> ids = fa.onlineDims();
  if (failed(matchRef(ids)))
    return failure();
  for (unsigned i = 0; i < online.getNumParts(); ++i)
    if (failed(matchPart(i, ids, rowDims)))
      return failure();
  if (!fa.v)
    return fail("no part is a weighted sum E * extf(V)");
  if (rowDims.size() + 2 != fa.numOnline)
    return fail("the online op has dimensions beyond rows, f and tiles");
  // Coordinates: e only as Q's and K's last, f only as V's last; K and V
  // do not depend on the query rank; no filter on e or f.
  auto lastIs = [&](ArrayRef<AffineExpr> c, unsigned d) {
    return !c.empty() && c.back() == fa.dim(d) && !dependsOn(c.drop_back(), d);
  };
  if (!lastIs(fa.qCoords, fa.e) || !lastIs(fa.kCoords, fa.e) ||
      !lastIs(fa.vCoords, fa.fDim) || dependsOn(fa.vCoords, fa.e) ||
      dependsOn(fa.qCoords, fa.fDim) || dependsOn(fa.kCoords, fa.fDim))
    return fail("Q, K or V are not contiguous along the contracted or "
                "output dimension");
  chooseRows(rowDims);
  return checkLayout();
}

/// 1 when a == b, else 0 (a, b >= 0).
SizeText sizeEq(const SizeText &a, int64_t b) {
  SizeText bt = SizeText::constant(b);
  return sizeSub(SizeText::constant(1),
                 sizeBinary("min", SizeText::constant(1),
                            sizeBinary("max", sizeSub(a, bt), sizeSub(bt, a))));
}
/// 1 when a is a multiple of n, else 0 (a >= 0).
SizeText sizeMultipleOf(const SizeText &a, int64_t n) {
  return sizeSub(SizeText::constant(1),
                 sizeBinary("min", SizeText::constant(1),
                            sizeBinary("%", a, SizeText::constant(n))));
}

/// 1 when a > b, else 0.
SizeText sizeAbove(const SizeText &a, int64_t b) {
  return sizeBinary("min", SizeText::constant(1),
                    sizeBinary("max", SizeText::constant(0),
                               sizeSub(a, SizeText::constant(b))));
}

/// The variant of head dimension d runs the sizes whose wider head
/// dimension `widest` is at most d and above the next smaller variant's.
SizeText variantFits(const SizeText &widest, int64_t d) {
  int64_t below = 0;
  for (int64_t other : kHeadDims)
    if (other < d)
      below = std::max(below, other);
  SizeText fits = sizeSub(SizeText::constant(1), sizeAbove(widest, d));
  return below ? sizeMul(sizeAbove(widest, below), fits) : fits;
}

/// Adds the manifest's factors of a matched launch (attn_aligned<k>,
/// attn_fused<k>_<D>, attn_naive<k>) and scales what it replaces; failure,
/// with `why`, where no variant can run (the head dimension or a row's
/// alignment is a constant that fits none).
LogicalResult planVariants(KernelPlan &plan, FusedAttention &fa,
                           std::string &why) {
  OnlineOp online = fa.online;
  // The head dimensions: e's extent and f's, the wider one picks the
  // variant; the innermost extents of Q, K and V multiples of 8 (16-byte
  // rows for cp.async).
  std::optional<SizeText> eSize =
      plan.sizeOf(fa.root.getSizes()[fa.root.getReducedDims()[0]], why);
  std::optional<SizeText> fSize = plan.sizeOf(online.getSizes()[fa.fDim], why);
  const TensorStorage *qs = plan.storageOf(fa.q);
  const TensorStorage *ks = plan.storageOf(fa.k);
  const TensorStorage *vs = plan.storageOf(fa.v);
  if (!eSize || !fSize)
    return failure();
  if (!qs || !ks || !vs) {
    why = "Q, K or V has no storage";
    return failure();
  }
  SizeText aligned = sizeMul(sizeMul(sizeMultipleOf(qs->shape.back(), 8),
                                     sizeMultipleOf(ks->shape.back(), 8)),
                             sizeMultipleOf(vs->shape.back(), 8));
  SizeText widest = sizeBinary("max", *eSize, *fSize);
  // Without the padded variants (CudaCodegenOptions::paddedHeadDims), 64
  // and 128 only, each for exactly its head dimension.
  ArrayRef<int64_t> dims(kHeadDims);
  if (!plan.paddedHeadDims)
    dims = dims.take_front(2);
  auto fits = [&](int64_t d) {
    return plan.paddedHeadDims ? variantFits(widest, d)
                             : sizeMul(sizeEq(*eSize, d), sizeEq(*fSize, d));
  };
  if (llvm::all_of(dims, [&](int64_t d) {
        return sizeMul(fits(d), aligned).value == 0;
      })) {
    why = "the head dimension is " + eSize->text + " (contracted) and " +
          fSize->text +
          (plan.paddedHeadDims
               ? " (weighted); the launch runs head dimensions up to 128 "
                 "(256 would not fit the registers: codegen/gpu/README.md), "
                 "with rows of a multiple of 8 elements (16 bytes)"
               : " (weighted); the launch has variants for 64 and 128, with "
                 "rows of a multiple of 8 elements");
    return failure();
  }
  // Named in the manifest ("sizes"): attn_fused<k>_<D> is 1 when the
  // variant runs, attn_naive<k> when none does.
  std::string k = std::to_string(plan.fused.size());
  plan.definitions.push_back({"attn_aligned" + k, aligned});
  SizeText any = SizeText::constant(0);
  for (int64_t d : dims) {
    // A padded variant that constant sizes rule out has no launch.
    if (plan.paddedHeadDims && fits(d).value == 0)
      continue;
    std::string name = "attn_fused" + k + "_" + std::to_string(d);
    plan.definitions.push_back(
        {name, sizeMul(fits(d), SizeText::symbol("attn_aligned" + k))});
    fa.variants.push_back({d, SizeText::symbol(name)});
    any = sizeAdd(any, SizeText::symbol(name));
  }
  plan.definitions.push_back(
      {"attn_naive" + k, sizeSub(SizeText::constant(1), any)});
  SizeText naive = SizeText::symbol("attn_naive" + k);
  for (auto &[covered, dims] : fa.dimsOf) {
    plan.launchScale[covered] = naive;
    plan.storageScale[covered] = naive;
  }
  plan.launchScale[online] = naive;
  return success();
}

/// With one split worker the launch also writes the output: the outer
/// combine, the epilogue and the fill then do not run (attn_single<k>).
void planEpilogue(KernelPlan &plan, FusedAttention &fa) {
  OnlineOp online = fa.online;
  FusedAttention::Epilogue &ep = *fa.epilogue;
  std::string k = std::to_string(plan.fused.size());
  SizeText any = SizeText::constant(0);
  for (auto &[d, when] : fa.variants)
    any = sizeAdd(any, when);
  std::string why;
  ep.single = "attn_single" + k;
  plan.definitions.push_back(
      {ep.single,
       sizeMul(any,
               sizeEq(*plan.sizeOf(online.getSizes()[ep.splitDim], why), 1))});
  SizeText rest = sizeSub(SizeText::constant(1), SizeText::symbol(ep.single));
  plan.storageScale[online] = rest;
  plan.launchScale[ep.outer] = rest;
  plan.storageScale[ep.outer] = rest;
  for (auto &[op, dims] : ep.dimsOf) {
    plan.launchScale[op] = rest;
    plan.storageScale[op] = rest;
  }
  if (ep.fill) {
    plan.launchScale[ep.fill] = rest;
    plan.storageScale[ep.fill] = rest;
  }
  plan.launchScale[plan.kernel.getBody().front().getTerminator()] = rest;
}

/// Whether `online` combines the split workers of another online op (its
/// ref is that op's maxima): the fused launch is the inner op's.
bool combinesWorkers(OnlineOp online) {
  return online.getRef().getDefiningOp<OnlineOp>() != nullptr;
}

} // namespace

/// Whether a filter of the covered einsums or the online op relates the
/// keys to the query rows (a causal, window or sink mask; not the key
/// range's bounds, of the tiling or the split workers), which the overlap
/// cannot afford at head dim 128 (FusedAttention::overlapMaxHeadDim).
static bool masksRows(FusedAttention &fa) {
  if (fa.pDim < 0)
    return false;
  auto masks = [&](std::optional<ArrayAttr> filter, ArrayRef<AffineExpr> dims) {
    if (!filter)
      return false;
    for (Attribute a : *filter)
      for (AffineExpr c : cast<IntegerSetAttr>(a).getValue().getConstraints())
        for (auto [d, x] : llvm::enumerate(dims))
          if (c.isFunctionOfDim(d) && x.isFunctionOfDim(fa.pDim))
            return true;
    return false;
  };
  SmallVector<AffineExpr> onlineDims;
  for (unsigned d = 0; d < fa.numOnline; ++d)
    onlineDims.push_back(fa.dim(d));
  if (masks(fa.online.getFilter(), onlineDims))
    return true;
  for (auto &entry : fa.dimsOf)
    if (masks(cast<EinsumOp>(entry.first).getFilter(), entry.second))
      return true;
  return false;
}

/// The head dimensions of fa's variants that `pick` accepts, ascending:
/// "32, 96".
static std::string headDimList(const FusedAttention &fa,
                               function_ref<bool(int64_t)> pick) {
  SmallVector<int64_t> dims;
  for (const auto &variant : fa.variants)
    if (pick(variant.first))
      dims.push_back(variant.first);
  llvm::sort(dims);
  std::string text;
  for (int64_t d : dims)
    text += (text.empty() ? "" : ", ") + std::to_string(d);
  return text;
}

/// Which launch runs the variants: wgmma, mma.sync and why not wgmma, or
/// both (a variant whose swizzled tiles would end in a partial block).
static std::string launchRemark(const FusedAttention &fa,
                                const std::string &noWgmma) {
  if (!fa.wgmma)
    return "on mma.sync, not wgmma: " + noWgmma;
  std::string on = headDimList(fa, wgmmaFitsHeadDim);
  std::string off =
      headDimList(fa, [](int64_t d) { return !wgmmaFitsHeadDim(d); });
  std::string text;
  if (!on.empty())
    text = (fa.warpgroups == 1
                ? std::string("on wgmma (sm_90a: one warpgroup, K and V in "
                              "128-byte swizzled shared memory)")
                : "on wgmma (sm_90a: " + std::to_string(fa.warpgroups) +
                      " warpgroups, " + std::to_string(64 * fa.warpgroups) +
                      " query rows a block sharing each K and V tile in "
                      "128-byte swizzled shared memory)") +
           (off.empty() ? std::string() : " for head dims " + on + ", ");
  if (!off.empty())
    text += "on mma.sync for head dims " + off +
            " (their swizzled tiles would end in a partial 64-column block)";
  return text;
}

void cuda::planFusedAttention(KernelPlan &plan) {
  bool anyOnline = false;
  for (Operation &op : plan.kernel.getBody().front()) {
    auto online = dyn_cast<OnlineOp>(op);
    if (!online)
      continue;
    anyOnline = true;
    if (combinesWorkers(online))
      continue;
    Matcher m(plan, online);
    std::string why;
    if (failed(m.run())) {
      online.emitRemark() << "not fused: " << m.why;
      continue;
    }
    if (failed(planVariants(plan, m.fa, why))) {
      online.emitRemark() << "not fused: " << why;
      continue;
    }
    InFlightDiagnostic remark = online.emitRemark();
    std::string headDims = headDimList(m.fa, [](int64_t) { return true; });
    remark << "fused attention launch: "
           << (plan.paddedHeadDims
                   ? "head dim variants " + headDims +
                         " (each runs E and F up to it); "
                   : "head dims " + headDims + "; ")
           << (m.fa.pDim < 0 ? std::string("1 row")
               : m.fa.group  ? std::to_string(m.fa.group) + " grouped heads"
                             : std::string("64 query rows"))
           << " a block; key tiles of " << m.fa.tile;
    std::string noWgmma = plan.noWgmma;
    if (noWgmma.empty() && (m.fa.pDim < 0 || m.fa.group))
      noWgmma = "a block is not a warpgroup of 64 query rows";
    m.fa.wgmma = noWgmma.empty();
    m.fa.wgmmaOverlap = m.fa.wgmma && plan.wgmmaOverlap;
    m.fa.warpgroups = m.fa.wgmma ? plan.wgmmaWarpgroups : 1;
    bool filtered = masksRows(m.fa);
    m.fa.overlapMaxHeadDim = filtered ? 64 : 128;
    m.fa.longestFirst = filtered && plan.longestFirst;
    remark << "; " << launchRemark(m.fa, noWgmma);
    if (m.fa.wgmmaOverlap) {
      remark << "; overlapped (the next key tile's Q K^T on the tensor cores "
                "while this tile's softmax runs; 3 K/V buffers)";
      if (filtered)
        remark << " at head dim 64, not 128 (with a mask on the query rows, "
                  "a second set of scores does not fit the registers)";
    }
    if (succeeded(matchFusedEpilogue(plan, m.fa, why))) {
      planEpilogue(plan, m.fa);
      remark << "; with one split worker it also writes the output";
    } else {
      remark << "; the output is written by separate launches: " << why;
    }
    if (m.fa.longestFirst)
      remark << "; row blocks run last rows first (a mask relates the keys "
                "to the query rows: the last have the most key tiles)";
    plan.fused.push_back(std::make_shared<FusedAttention>(std::move(m.fa)));
  }
  if (!anyOnline)
    plan.kernel.emitRemark()
        << "not fused: the kernel has no attn.online (no softmax, or the "
           "one-pass rewrite did not apply: see its remarks)";
}
