// The fused attention launch: one gpu.func that computes an inner
// attn.online (the tiled one-pass form that attn-one-pass and
// attn-split-reduction derive) together with every einsum that feeds it, in
// the structure of FlashAttention-2:
//
//   a block of 4 warps owns 64 query rows (16 per warp; 1 warp when the
//   kernel has no query rank, as in decode) of one point of the other result
//   dimensions (batch, head, split worker); it walks the key tiles of its
//   range; per tile, K and V stream into shared memory through cp.async; the
//   scores are an mma.sync m16n8k16 contraction (bf16 or f16, f32
//   accumulation) of the Q fragments held in registers with K (ldmatrix);
//   each score element then runs the cascade's own elementwise bodies
//   (cloned: scale, soft-cap, bias, ...) and filters; the running maximum
//   and sums stay in registers, rescaled by exp(c * (new - old)) with the
//   online op's `rescale` c; the weighted sum is a second mma.sync of the
//   probabilities (converted in registers) with V (ldmatrix.trans). Tiles
//   that the filters leave empty are skipped (no copy, no math) and tiles
//   they leave full run without per-element filters, both decided per tile
//   by interval arithmetic on the filters' affine constraints.
//
// Nothing is matched by name. The launch applies where the IR has this
// shape (planFusedAttention checks it, else the one-thread-per-point
// launches compute everything):
//   - the online op reduces one dimension, the tile index t; its ref is a
//     max-einsum over one more dimension m0 (a constant tile extent T) of a
//     tensor X; each part is a sum-einsum over m0 either of one tensor
//     (sums such as the softmax denominator, any elementwise body) or of the
//     form `E * extf(V)` with V a kernel argument whose last coordinate is
//     the part's extra result dimension f (at most one such part);
//   - X and the parts' operands are computed by elementwise einsums (kind
//     none, no guard, no tables) from kernel arguments, the online's ref
//     (the running maximum is substituted for it: the parts scale by
//     exp(c * (M - ref)) by the online op's contract) and one contraction
//     (the root): sum over e of `extf(Q) * extf(K)` times values that do not
//     depend on Q or K, Q and K kernel arguments of bf16 or f16 whose last
//     coordinate is e;
//   - every einsum is read at one set of coordinates; K and V do not depend
//     on the query rank.
// Canonical dimensions: the online op's dimensions, then m0, then e; each
// covered einsum's dimensions are affine in them (composed through the
// maps), which is what the launch evaluates.
//
// Variants: the head dimension (e's extent and f's) is a compile-time
// constant of the launch (64 or 128: the Q fragments and the output
// accumulators are registers). The manifest launches the variant that fits
// the sizes and the one-thread-per-point launches otherwise (a zero block
// count launches nothing; their workspace is scaled by the same factor).
#include "codegen/gpu/CudaEmitter.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "llvm/ADT/MapVector.h"
#include <functional>
#include "llvm/Support/Process.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;
using namespace mlir::attn::cuda::emit;

namespace mlir::attn::cuda {

/// What one fused launch computes (see the file comment).
struct FusedAttention {
  static constexpr unsigned kMaxSymbols = 32;

  OnlineOp online;
  unsigned numOnline = 0; // canonical dims [0, numOnline): the online's
  unsigned tileDim = 0;   // the online's reduced dimension
  int fDim = -1;          // the PV part's extra result dimension
  int pDim = -1;          // the MMA rows' dimension, or -1 (one row)
  int64_t group = 0;      // > 0: K and V read pDim as pDim floordiv group
                          // (grouped heads); a block packs `group` rows
  SmallVector<unsigned> blockDims; // the other result dimensions
  unsigned m0 = 0, e = 0;          // canonical positions
  int64_t tile = 0;
  SmallVector<Value> symbols; // canonical symbols

  /// Every covered einsum: its dimensions over the canonical ones.
  llvm::MapVector<Operation *, SmallVector<AffineExpr>> dimsOf;
  /// The einsums whose filters decide that a tile contributes nothing:
  /// those that compute X (X's presence gates every contribution).
  llvm::SetVector<Operation *> xChain;

  EinsumOp refOp;
  struct Part {
    EinsumOp op;
    bool pv = false;
    double rescale = -1;
  };
  SmallVector<Part> parts;
  EinsumOp root;
  Operation *product = nullptr; // mulf(extf(Q), extf(K)) in the root body
  Value q, k, v;
  SmallVector<AffineExpr> qCoords, kCoords, vCoords;
  Type elem;

  SmallVector<std::pair<int64_t, SizeText>> variants;

  /// The epilogue, when the launch can also finish the kernel (one split
  /// worker at run time): the outer online op that combines the workers,
  /// the elementwise einsums from its results to the one output, and the
  /// fill into it. `single` names the 0-or-1 factor "this launch runs and
  /// there is one worker".
  struct Epilogue {
    OnlineOp outer;
    int splitDim = -1; // the canonical dim the outer op reduces
    SmallVector<AffineExpr> outerDims; // the outer op's dims, canonical
    llvm::MapVector<Operation *, SmallVector<AffineExpr>> dimsOf;
    Value value;            // what the output receives (before the fill)
    FillOp fill;            // or null
    SmallVector<AffineExpr> outCoords;
    std::string single;
  };
  std::optional<Epilogue> epilogue;

  AffineExpr dim(unsigned d) {
    return getAffineDimExpr(d, online.getContext());
  }
  unsigned numCanon() const { return numOnline + 2; }
};

} // namespace mlir::attn::cuda

namespace {

bool isKernelArgument(Value v, func::FuncOp kernel) {
  auto arg = dyn_cast<BlockArgument>(v);
  return arg && arg.getOwner()->getParentOp() == kernel.getOperation();
}

bool dependsOn(ArrayRef<AffineExpr> exprs, unsigned d) {
  return llvm::any_of(exprs, [&](AffineExpr x) {
    return x.isFunctionOfDim(d);
  });
}

/// Builds a FusedAttention for one online op; failure (with `why`, for the
/// debug log) when the IR does not have the shape the launch computes.
class Matcher {
public:
  Matcher(KernelPlan &plan, OnlineOp online) : plan(plan) {
    fa.online = online;
  }
  KernelPlan &plan;
  FusedAttention fa;
  std::string why;

  LogicalResult fail(const std::string &w) {
    why = w;
    return failure();
  }

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
      out.push_back(simplifyAffineExpr(
          r.replaceDimsAndSymbols(dims, syms), fa.numCanon(),
          FusedAttention::kMaxSymbols));
    return out;
  }

  /// Assigns op's dimensions from the coordinates of its result (and the
  /// canonical `reduced` for its one reduced dimension, if any).
  LogicalResult assign(EinsumOp op, ArrayRef<AffineExpr> coords,
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
    if (op.hasGuard() || !op.getTables().empty())
      return fail("an einsum has a guard or reads tables");
    auto it = fa.dimsOf.find(op);
    if (it != fa.dimsOf.end())
      return it->second == dims ? success()
                                : fail("an einsum is read at two sets of "
                                       "coordinates");
    fa.dimsOf[op] = dims;
    return success();
  }

  SmallVector<AffineExpr> inputCoords(EinsumOp op, unsigned i) {
    return compose(op.getInputMap(i), fa.dimsOf[op], op.getSymbols());
  }

  /// Whether a body is plain arith/math (cloned per element).
  LogicalResult plainBody(Block &body) {
    for (Operation &op : body)
      if (!isa<YieldOp>(op) &&
          !(op.getNumRegions() == 0 &&
            isa<arith::ArithDialect, math::MathDialect>(op.getDialect())))
        return fail("a body has '" + op.getName().getStringRef().str() + "'");
    return success();
  }

  LogicalResult walkRoot(EinsumOp op, ArrayRef<AffineExpr> coords) {
    if (fa.root && fa.root != op)
      return fail("two contractions feed the scores");
    if (failed(assign(op, coords, fa.e)))
      return failure();
    fa.root = op;
    Value q = op.getInputs()[0], k = op.getInputs()[1];
    if (!isKernelArgument(q, plan.kernel) || !isKernelArgument(k, plan.kernel))
      return fail("the contraction's operands are not kernel arguments");
    Type et = cast<RankedTensorType>(q.getType()).getElementType();
    if (!(et.isBF16() || et.isF16()) ||
        cast<RankedTensorType>(k.getType()).getElementType() != et)
      return fail("the contraction's operands are not both bf16 or both f16");
    fa.elem = et;
    Block &body = op.getBody().front();
    if (failed(plainBody(body)))
      return failure();
    Value a = body.getArgument(0), b = body.getArgument(1);
    // The product of the two extended operands, then only multiplications by
    // values that depend on neither.
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
    fa.q = q;
    fa.k = k;
    fa.qCoords = inputCoords(op, 0);
    fa.kCoords = inputCoords(op, 1);
    return success();
  }

  /// Walks the tensor read at canonical `coords`.
  LogicalResult walk(Value t, ArrayRef<AffineExpr> coords, bool xChain) {
    if (t == fa.online.getRef()) {
      SmallVector<AffineExpr> refCoords;
      SmallVector<AffineExpr> ids;
      for (unsigned d = 0; d < fa.numOnline; ++d)
        ids.push_back(fa.dim(d));
      refCoords = compose(fa.online.getRefMap(), ids, fa.online.getSymbols());
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

  LogicalResult run() {
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
    SmallVector<AffineExpr> ids;
    for (unsigned d = 0; d < fa.numOnline; ++d)
      ids.push_back(fa.dim(d));

    // The ref: a max over the tile element of X.
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

    for (unsigned i = 0; i < online.getNumParts(); ++i) {
      auto op = online.getParts()[i].getDefiningOp<EinsumOp>();
      if (!op || op.getKind() != ReductionKind::sum)
        return fail("a part is not a sum-einsum");
      SmallVector<AffineExpr> coords =
          compose(online.getPartMap(i), ids, online.getSymbols());
      if (failed(assign(op, coords, fa.m0)))
        return failure();
      if (getConstantIntValue(op.getSizes()[op.getReducedDims()[0]]) !=
          fa.tile)
        return fail("a part's tile extent differs");
      FusedAttention::Part part;
      part.op = op;
      part.rescale = cast<FloatAttr>(online.getRescale()[i]).getValueAsDouble();
      Block &body = op.getBody().front();
      if (failed(plainBody(body)))
        return failure();
      SmallVector<unsigned> sumDims;
      for (AffineExpr r : online.getSumMap(i).getResults())
        sumDims.push_back(cast<AffineDimExpr>(r).getPosition());
      if (op.getInputs().size() == 2) {
        // E * extf(V): the weighted sum.
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
        // f: the one result dimension the maximum does not have.
        SmallVector<unsigned> extra;
        for (unsigned d : sumDims)
          if (!llvm::is_contained(rowDims, d))
            extra.push_back(d);
        if (extra.size() != 1)
          return fail("the weighted sum has no single extra dimension");
        fa.fDim = extra[0];
        fa.v = v;
        fa.vCoords = inputCoords(op, 1);
        part.pv = true;
      } else if (op.getInputs().size() != 1 || sumDims != rowDims) {
        return fail("a part is neither a sum of one tensor over the rows nor "
                    "a weighted sum");
      }
      if (failed(walk(op.getInputs()[0], inputCoords(op, 0), false)))
        return failure();
      fa.parts.push_back(part);
    }
    if (!fa.v)
      return fail("no part is a weighted sum E * extf(V)");
    if (rowDims.size() + 2 != fa.numOnline)
      return fail("the online op has dimensions beyond rows, f and tiles");

    // Coordinates: e only as Q's and K's last, f only as V's last; K and V
    // do not depend on the query rank; no filter on e or f.
    auto lastIs = [&](ArrayRef<AffineExpr> c, unsigned d) {
      return !c.empty() && c.back() == fa.dim(d) &&
             !dependsOn(c.drop_back(), d);
    };
    if (!lastIs(fa.qCoords, fa.e) || !lastIs(fa.kCoords, fa.e) ||
        !lastIs(fa.vCoords, fa.fDim) || dependsOn(fa.vCoords, fa.e) ||
        dependsOn(fa.qCoords, fa.fDim) || dependsOn(fa.kCoords, fa.fDim))
      return fail("Q, K or V are not contiguous along the contracted or "
                  "output dimension");
    // The MMA rows: a result dimension Q depends on and K and V do not (the
    // innermost such of Q's coordinates).
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
      bool weightedSum = llvm::any_of(fa.parts, [&](FusedAttention::Part &p) {
        return p.pv && p.op.getOperation() == op;
      });
      if (!weightedSum && dependsOn(dims, fa.fDim))
        return fail("an einsum other than the weighted sum depends on f");
    }
    if (fa.symbols.size() > FusedAttention::kMaxSymbols)
      return fail("too many symbols");

    // Every covered value is read only by covered ops or the online op.
    for (auto &[op, dims] : fa.dimsOf)
      for (Operation *user : op->getUsers())
        if (user != online.getOperation() && !fa.dimsOf.count(user))
          return fail("an intermediate is also read elsewhere");
    if (std::optional<ArrayAttr> filter = online.getFilter())
      for (Attribute a : *filter)
        for (AffineExpr c : cast<IntegerSetAttr>(a).getValue().getConstraints())
          if (fa.fDim >= 0 && c.isFunctionOfDim(fa.fDim))
            return fail("the online filter constrains f");
    return success();
  }
};

/// The epilogue (FusedAttention::Epilogue) after a matched inner online op;
/// failure (with `why`) when the kernel's end has another shape.
LogicalResult matchEpilogue(Matcher &m) {
  FusedAttention &fa = m.fa;
  OnlineOp inner = fa.online;
  FusedAttention::Epilogue ep;
  // The outer combine: ref = the inner maxima, parts = the inner sums.
  for (Operation *user : inner.getMax().getUsers())
    if (auto o = dyn_cast<OnlineOp>(user))
      if (o.getRef() == inner.getMax())
        ep.outer = o;
  OnlineOp outer = ep.outer;
  if (!outer || outer.getNumParts() != inner.getNumParts() ||
      outer.getFilter() || outer.getReducedDims().size() != 1)
    return m.fail("no outer combine of one dimension after the launch");
  for (unsigned i = 0; i < inner.getNumParts(); ++i)
    if (outer.getParts()[i] != inner.getSums()[i] ||
        outer.getRescale()[i] != inner.getRescale()[i])
      return m.fail("the outer combine does not take the sums in order");
  // Its dimensions from the coordinates it reads the inner results at.
  ep.outerDims.assign(outer.getNumDims(), AffineExpr());
  auto unify = [&](AffineMap outerMap, AffineMap innerMap) -> LogicalResult {
    for (auto [o, i] : llvm::zip(outerMap.getResults(), innerMap.getResults())) {
      auto od = dyn_cast<AffineDimExpr>(o);
      if (!od || outerMap.getNumSymbols())
        return m.fail("the outer combine reads through a non-projection");
      AffineExpr c = fa.dim(cast<AffineDimExpr>(i).getPosition());
      AffineExpr &slot = ep.outerDims[od.getPosition()];
      if (slot && slot != c)
        return m.fail("the outer combine's dimensions are inconsistent");
      slot = c;
    }
    return success();
  };
  if (failed(unify(outer.getRefMap(), inner.getMaxMap())))
    return failure();
  for (unsigned i = 0; i < inner.getNumParts(); ++i)
    if (failed(unify(outer.getPartMap(i), inner.getSumMap(i))))
      return failure();
  if (llvm::any_of(ep.outerDims, [](AffineExpr x) { return !x; }))
    return m.fail("a dimension of the outer combine is not read");
  ep.splitDim = cast<AffineDimExpr>(ep.outerDims[outer.getReducedDims()[0]])
                    .getPosition();
  // The one output: a fill of an elementwise chain from the outer results.
  auto ret = cast<func::ReturnOp>(m.plan.kernel.getBody().front().getTerminator());
  if (ret.getNumOperands() != 1)
    return m.fail("the kernel has several outputs");
  ep.value = ret.getOperand(0);
  if ((ep.fill = ep.value.getDefiningOp<FillOp>()))
    ep.value = ep.fill.getInput();
  std::function<LogicalResult(Value, SmallVector<AffineExpr> &)> walk =
      [&](Value v, SmallVector<AffineExpr> &coords) -> LogicalResult {
    for (unsigned r = 0; r < outer.getNumResults(); ++r)
      if (v == outer->getResult(r)) {
        AffineMap map = r == 0 ? outer.getMaxMap() : outer.getSumMap(r - 1);
        for (AffineExpr x : map.getResults())
          coords.push_back(ep.outerDims[cast<AffineDimExpr>(x).getPosition()]);
        return success();
      }
    auto op = v.getDefiningOp<EinsumOp>();
    if (!op || op.getKind() != ReductionKind::none || op.hasGuard() ||
        !op.getTables().empty() || failed(m.plainBody(op.getBody().front())))
      return m.fail("the epilogue is not elementwise einsums");
    if (!ep.dimsOf.count(op)) {
      SmallVector<AffineExpr> dims(op.getNumDims());
      for (unsigned i = 0; i < op.getInputs().size(); ++i) {
        Value in = op.getInputs()[i];
        if (isKernelArgument(in, m.plan.kernel))
          continue;
        SmallVector<AffineExpr> inCoords;
        if (failed(walk(in, inCoords)))
          return failure();
        AffineMap map = op.getInputMap(i);
        for (auto [x, c] : llvm::zip(map.getResults(), inCoords)) {
          auto d = dyn_cast<AffineDimExpr>(x);
          if (!d)
            return m.fail("the epilogue reads through a non-projection");
          AffineExpr &slot = dims[d.getPosition()];
          if (slot && slot != c)
            return m.fail("the epilogue's dimensions are inconsistent");
          slot = c;
        }
      }
      if (llvm::any_of(dims, [](AffineExpr x) { return !x; }))
        return m.fail("an epilogue dimension is not read");
      ep.dimsOf[op] = dims;
    }
    for (AffineExpr x : op.getResultMap().getResults())
      coords.push_back(ep.dimsOf[op][cast<AffineDimExpr>(x).getPosition()]);
    return success();
  };
  if (failed(walk(ep.value, ep.outCoords)))
    return failure();
  // Every output element is one block's row and column: its coordinates
  // are the block dims (but the split), the rows' and f.
  SmallVector<unsigned> need(fa.blockDims);
  llvm::erase(need, static_cast<unsigned>(ep.splitDim));
  if (fa.pDim >= 0)
    need.push_back(fa.pDim);
  for (AffineExpr c : ep.outCoords) {
    auto d = dyn_cast<AffineDimExpr>(c);
    if (!d || static_cast<int>(d.getPosition()) == ep.splitDim ||
        !(llvm::is_contained(need, d.getPosition()) ||
          static_cast<int>(d.getPosition()) == fa.fDim))
      return m.fail("an output coordinate is not a row, block or f index");
    llvm::erase(need, d.getPosition());
  }
  if (!need.empty())
    return m.fail("the output does not name every row dimension");
  for (auto &[op, dims] : ep.dimsOf)
    for (Operation *user : op->getUsers())
      if (!ep.dimsOf.count(user) && user != ep.fill.getOperation() &&
          !isa<func::ReturnOp>(user))
        return m.fail("an epilogue value is also read elsewhere");
  fa.epilogue = std::move(ep);
  return success();
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

} // namespace

void cuda::planFusedAttention(KernelPlan &plan) {
  bool debug = llvm::sys::Process::GetEnv("ATTN_CUDA_DEBUG_FUSE").has_value();
  for (Operation &op : plan.kernel.getBody().front()) {
    auto online = dyn_cast<OnlineOp>(op);
    if (!online)
      continue;
    Matcher m(plan, online);
    if (failed(m.run())) {
      if (debug)
        llvm::errs() << "attnc: no fused launch for the attn.online at "
                     << locationText(online.getLoc()) << ": " << m.why << "\n";
      continue;
    }
    FusedAttention *fa = &m.fa;
    // The head dimension: e's extent and f's; the innermost extents of Q,
    // K and V multiples of 8 (16-byte rows for cp.async).
    std::string why;
    std::optional<SizeText> eSize =
        plan.sizeOf(fa->root.getSizes()[fa->root.getReducedDims()[0]], why);
    std::optional<SizeText> fSize =
        plan.sizeOf(online.getSizes()[fa->fDim], why);
    const TensorStorage *qs = plan.storageOf(fa->q);
    const TensorStorage *ks = plan.storageOf(fa->k);
    const TensorStorage *vs = plan.storageOf(fa->v);
    if (!eSize || !fSize || !qs || !ks || !vs)
      continue;
    SizeText aligned = sizeMul(sizeMul(sizeMultipleOf(qs->shape.back(), 8),
                                       sizeMultipleOf(ks->shape.back(), 8)),
                               sizeMultipleOf(vs->shape.back(), 8));
    // Named in the manifest ("sizes"): attn_fused<k>_<D> is 1 when the
    // variant runs, attn_naive<k> when none does.
    std::string k = std::to_string(plan.fused.size());
    plan.definitions.push_back({"attn_aligned" + k, aligned});
    SizeText any = SizeText::constant(0);
    for (int64_t d : {64, 128}) {
      std::string name = "attn_fused" + k + "_" + std::to_string(d);
      plan.definitions.push_back(
          {name, sizeMul(sizeMul(sizeEq(*eSize, d), sizeEq(*fSize, d)),
                         SizeText::symbol("attn_aligned" + k))});
      fa->variants.push_back({d, SizeText::symbol(name)});
      any = sizeAdd(any, SizeText::symbol(name));
    }
    plan.definitions.push_back(
        {"attn_naive" + k, sizeSub(SizeText::constant(1), any)});
    SizeText naive = SizeText::symbol("attn_naive" + k);
    for (auto &[covered, dims] : fa->dimsOf) {
      plan.launchScale[covered] = naive;
      plan.storageScale[covered] = naive;
    }
    plan.launchScale[online] = naive;
    if (failed(matchEpilogue(m))) {
      if (debug)
        llvm::errs() << "attnc: the fused launch for the attn.online at "
                     << locationText(online.getLoc())
                     << " does not finish the kernel: " << m.why << "\n";
    } else {
      // With one split worker the launch also writes the output: the outer
      // combine, the epilogue and the fill then do not run.
      FusedAttention::Epilogue &ep = *m.fa.epilogue;
      ep.single = "attn_single" + k;
      plan.definitions.push_back(
          {ep.single,
           sizeMul(any, sizeEq(*plan.sizeOf(online.getSizes()[ep.splitDim],
                                             why),
                               1))});
      SizeText rest = sizeSub(SizeText::constant(1),
                              SizeText::symbol(ep.single));
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
    plan.fused.push_back(std::make_shared<FusedAttention>(std::move(m.fa)));
  }
}

//===----------------------------------------------------------------------===//
// Emission
//===----------------------------------------------------------------------===//

namespace {

/// Index interval [lo, hi] of an affine expression over intervals of the
/// canonical dimensions (symbols are sizes: exact); null when unknown.
struct Interval {
  Value lo, hi;
};

class FusedEmitter {
public:
  FusedEmitter(KernelEmitter &ke, FusedAttention &fa, DeviceFunction &f,
               int64_t headDim)
      : ke(ke), fa(fa), f(f), b(f.b), loc(f.loc), D(headDim) {}

  KernelEmitter &ke;
  FusedAttention &fa;
  DeviceFunction &f;
  OpBuilder &b;
  Location loc;
  int64_t D;

  SmallVector<Value> syms; // canonical symbols' values
  SmallVector<Value> canon; // canonical dims' values at the current element

  // Per element.
  Value acc;                    // the root's accumulator element
  Value refValue, refPresent;   // the running maximum stands for the ref
  bool masked = true;
  DenseMap<Operation *, std::pair<Value, Value>> memo;

  Type f32() { return b.getF32Type(); }
  Type i32() { return b.getI32Type(); }
  Value fconst(double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value i32c(int v) { return arith::ConstantIntOp::create(b, loc, i32(), v); }
  Value trueV() {
    return arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1);
  }

  SmallVector<Value> dimsOf(Operation *op) {
    SmallVector<Value> out;
    for (AffineExpr x : fa.dimsOf[op])
      out.push_back(emitAffine(f, x, canon, syms));
    return out;
  }
  SmallVector<Value> symsOf(EinsumOp op) {
    SmallVector<Value> out;
    for (Value s : op.getSymbols()) {
      std::string why;
      out.push_back(f.size(*ke.plan.sizeOf(s, why)));
    }
    return out;
  }

  /// Inside the op's iteration domain (0 <= d < size for every dimension).
  Value inDomain(EinsumOp op, ArrayRef<Value> dims) {
    Value all;
    for (auto [d, size] : llvm::enumerate(op.getSizes())) {
      std::string why;
      Value n = f.size(*ke.plan.sizeOf(size, why));
      all = f.andI(all, f.cmp(arith::CmpIPredicate::ult, dims[d], n));
    }
    return all;
  }

  /// A kernel argument's element at `coords` (canonical): range-checked
  /// where the reading op's point exists (`live`), clamped otherwise.
  FailureOr<Value> loadArgument(Value t, ArrayRef<Value> index,
                                ArrayRef<bool> check, Value live,
                                const std::string &where) {
    const TensorStorage *s = ke.plan.storageOf(t);
    SmallVector<Value> extents = f.shape(*s);
    auto [ok, code] = ke.rangeCheck(f, index, extents, check, *s, where);
    SmallVector<Value> safe(index);
    if (ok) {
      Value bad = f.notI(ok);
      if (live)
        bad = f.andI(bad, live);
      auto ifOp = scf::IfOp::create(b, loc, bad, false);
      {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
        f.raise(code);
      }
      for (Value &x : safe)
        x = f.select(ok, x, f.cst(0));
    }
    return f.load(f.valuesOf(*s), s->elementType, f.offset(safe, extents));
  }

  /// Input `i` of `op`, a kernel argument, at the op's point `dims`: a bare
  /// dimension whose extent is the tensor's needs no check; the others are
  /// checked where the point is `live`.
  FailureOr<Value> loadInput(EinsumOp op, unsigned i, ArrayRef<Value> dims,
                             ArrayRef<Value> opSyms, Value live) {
    Value in = op.getInputs()[i];
    const TensorStorage *st = ke.plan.storageOf(in);
    SmallVector<Value> index;
    SmallVector<bool> check;
    for (auto [k, x] : llvm::enumerate(op.getInputMap(i).getResults())) {
      index.push_back(emitAffine(f, x, dims, opSyms));
      bool proved = false;
      if (auto d = dyn_cast<AffineDimExpr>(x)) {
        std::string why;
        std::optional<SizeText> n =
            ke.plan.sizeOf(op.getSizes()[d.getPosition()], why);
        proved = n && n->text == st->shape[k].text;
      }
      check.push_back(!proved);
    }
    return loadArgument(in, index, check, live,
                        "through the map of input " + std::to_string(i) +
                            " of the attn.einsum at " + locationText(op.getLoc()));
  }

  /// Clones a plain body with its inputs and index arguments; the root's
  /// product is replaced by the accumulator.
  FailureOr<Value> cloneBody(EinsumOp op, ArrayRef<Value> inputs,
                             ArrayRef<Value> dims) {
    Block &body = op.getBody().front();
    IRMapping map;
    unsigned n = op.getInputs().size();
    for (unsigned i = 0; i < n; ++i)
      if (inputs[i])
        map.map(body.getArgument(i), inputs[i]);
    for (unsigned d = 0; d < op.getNumDims(); ++d)
      if (dims[d])
        map.map(body.getArgument(n + d), dims[d]);
    for (Operation &o : body) {
      if (auto y = dyn_cast<YieldOp>(o)) {
        FailureOr<Value> v = ke.captured(f, y.getValues()[0], map, &o);
        return v;
      }
      if (&o == fa.product) {
        map.map(o.getResult(0), acc);
        continue;
      }
      if (op == fa.root && isa<arith::ExtFOp>(o) &&
          isa<BlockArgument>(o.getOperand(0)))
        continue; // the operands of the product
      for (Value operand : o.getOperands())
        if (failed(ke.captured(f, operand, map, &o)))
          return failure();
      if (auto exp = dyn_cast<math::ExpOp>(o); exp && exp.getType().isF32()) {
        // exp(x) as ex2(x * log2(e)): two instructions instead of
        // libdevice's accurate expf (relative error ~1e-6 here, far below
        // the bf16/f16 bound of the launch's results).
        Value scaled = arith::MulFOp::create(
            b, loc, map.lookup(exp.getOperand()), fconst(M_LOG2E));
        map.map(exp.getResult(), math::Exp2Op::create(b, loc, scaled));
        continue;
      }
      b.clone(o, map);
    }
    return op.emitError() << "a region does not end in attn.yield";
  }

  /// The value and presence (null: present) of `t` at the element.
  FailureOr<std::pair<Value, Value>> eval(Value t) {
    if (t == fa.online.getRef())
      return std::make_pair(refValue, refPresent);
    auto op = t.getDefiningOp<EinsumOp>();
    auto it = memo.find(op);
    if (it != memo.end())
      return it->second;
    SmallVector<Value> dims = dimsOf(op);
    SmallVector<Value> opSyms = symsOf(op);
    Value present;
    if (masked)
      present = emitFilter(f, op.getFilter(), dims, opSyms);
    SmallVector<Value> inputs;
    if (op != fa.root) {
      Value live;
      for (unsigned i = 0; i < op.getInputs().size(); ++i) {
        Value in = op.getInputs()[i];
        if (isKernelArgument(in, ke.plan.kernel)) {
          if (!live) {
            live = inDomain(op, dims);
            if (Value flt = emitFilter(f, op.getFilter(), dims, opSyms))
              live = f.andI(live, flt);
          }
          FailureOr<Value> v = loadInput(op, i, dims, opSyms, live);
          if (failed(v))
            return failure();
          inputs.push_back(*v);
          continue;
        }
        FailureOr<std::pair<Value, Value>> v = eval(in);
        if (failed(v))
          return failure();
        inputs.push_back(v->first);
        if (masked && v->second)
          present = f.andI(present, v->second);
      }
    }
    FailureOr<Value> value = cloneBody(op, inputs, dims);
    if (failed(value))
      return failure();
    memo[op] = {*value, present};
    return memo[op];
  }

  //===--------------------------------------------------------------------===//
  // Tile classification by intervals.

  std::optional<Interval> interval(AffineExpr x,
                                   ArrayRef<std::optional<Interval>> dims) {
    switch (x.getKind()) {
    case AffineExprKind::Constant: {
      Value c = f.cst(cast<AffineConstantExpr>(x).getValue());
      return Interval{c, c};
    }
    case AffineExprKind::DimId:
      return dims[cast<AffineDimExpr>(x).getPosition()];
    case AffineExprKind::SymbolId: {
      Value s = syms[cast<AffineSymbolExpr>(x).getPosition()];
      return Interval{s, s};
    }
    default:
      break;
    }
    auto bin = cast<AffineBinaryOpExpr>(x);
    std::optional<Interval> l = interval(bin.getLHS(), dims);
    if (!l)
      return std::nullopt;
    if (x.getKind() == AffineExprKind::Add) {
      std::optional<Interval> r = interval(bin.getRHS(), dims);
      if (!r)
        return std::nullopt;
      return Interval{f.add(l->lo, r->lo), f.add(l->hi, r->hi)};
    }
    auto k = dyn_cast<AffineConstantExpr>(bin.getRHS());
    if (x.getKind() == AffineExprKind::Mul) {
      std::optional<Interval> r = interval(bin.getRHS(), dims);
      if (!r)
        return std::nullopt;
      Value a = f.mul(l->lo, r->lo), bb = f.mul(l->lo, r->hi),
            c = f.mul(l->hi, r->lo), d = f.mul(l->hi, r->hi);
      auto mn = [&](Value x, Value y) {
        return arith::MinSIOp::create(b, loc, x, y).getResult();
      };
      auto mx = [&](Value x, Value y) {
        return arith::MaxSIOp::create(b, loc, x, y).getResult();
      };
      return Interval{mn(mn(a, bb), mn(c, d)), mx(mx(a, bb), mx(c, d))};
    }
    if (!k || k.getValue() <= 0)
      return std::nullopt;
    Value kv = f.cst(k.getValue());
    switch (x.getKind()) {
    case AffineExprKind::FloorDiv:
      return Interval{arith::FloorDivSIOp::create(b, loc, l->lo, kv),
                      arith::FloorDivSIOp::create(b, loc, l->hi, kv)};
    case AffineExprKind::CeilDiv:
      return Interval{arith::CeilDivSIOp::create(b, loc, l->lo, kv),
                      arith::CeilDivSIOp::create(b, loc, l->hi, kv)};
    case AffineExprKind::Mod:
      return Interval{f.cst(0), f.cst(k.getValue() - 1)};
    default:
      return std::nullopt;
    }
  }

  /// Whether the filter holds on the whole box (`full`) and on none of it
  /// (`empty`); null where it cannot tell (false).
  void classify(std::optional<ArrayAttr> filter, ArrayRef<AffineExpr> dims,
                ValueRange opSymbols, ArrayRef<std::optional<Interval>> box,
                Value &full, Value &empty) {
    Value falseV = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 0);
    if (!filter) {
      full = trueV();
      empty = falseV;
      return;
    }
    SmallVector<AffineExpr> symExprs;
    for (Value s : opSymbols)
      for (auto [i, c] : llvm::enumerate(fa.symbols))
        if (c == s) {
          symExprs.push_back(getAffineSymbolExpr(i, b.getContext()));
          break;
        }
    Value anyFull = falseV, allEmpty = trueV();
    for (Attribute a : *filter) {
      IntegerSet set = cast<IntegerSetAttr>(a).getValue();
      Value conjFull = trueV(), conjEmpty = falseV;
      for (unsigned c = 0; c < set.getNumConstraints(); ++c) {
        AffineExpr x = set.getConstraint(c).replaceDimsAndSymbols(dims,
                                                                  symExprs);
        std::optional<Interval> iv = interval(x, box);
        if (!iv) {
          conjFull = falseV;
          continue;
        }
        Value zero = f.cst(0);
        if (set.isEq(c)) {
          conjFull = f.andI(conjFull,
                            f.andI(f.cmp(arith::CmpIPredicate::eq, iv->lo, zero),
                                   f.cmp(arith::CmpIPredicate::eq, iv->hi, zero)));
          conjEmpty =
              f.orI(conjEmpty,
                    f.orI(f.cmp(arith::CmpIPredicate::sgt, iv->lo, zero),
                          f.cmp(arith::CmpIPredicate::slt, iv->hi, zero)));
        } else {
          conjFull =
              f.andI(conjFull, f.cmp(arith::CmpIPredicate::sge, iv->lo, zero));
          conjEmpty =
              f.orI(conjEmpty, f.cmp(arith::CmpIPredicate::slt, iv->hi, zero));
        }
      }
      anyFull = f.orI(anyFull, conjFull);
      allEmpty = f.andI(allEmpty, conjEmpty);
    }
    full = anyFull;
    empty = allEmpty;
  }

  /// (full, empty) of the tile over the box: full when every filter of the
  /// launch holds everywhere, empty when a filter that X's presence needs
  /// (or the online op's) holds nowhere.
  std::pair<Value, Value> classifyTile(ArrayRef<std::optional<Interval>> box) {
    Value full = trueV();
    Value empty = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 0);
    for (auto &[op, dims] : fa.dimsOf) {
      auto einsum = cast<EinsumOp>(op);
      Value fl, em;
      classify(einsum.getFilter(), dims, einsum.getSymbols(), box, fl, em);
      full = f.andI(full, fl);
      if (fa.xChain.contains(op) || op == fa.refOp.getOperation())
        empty = f.orI(empty, em);
    }
    SmallVector<AffineExpr> ids;
    for (unsigned d = 0; d < fa.numOnline; ++d)
      ids.push_back(fa.dim(d));
    Value fl, em;
    classify(fa.online.getFilter(), ids, fa.online.getSymbols(), box, fl, em);
    return {f.andI(full, fl), f.orI(empty, em)};
  }

  //===--------------------------------------------------------------------===//
  // NVVM helpers.

  Value shflXor(Value v, int lanes) {
    Value mask = i32c(-1);
    return NVVM::ShflOp::create(b, loc, f32(), mask, v, i32c(lanes), i32c(31),
                                NVVM::ShflKind::bfly, UnitAttr());
  }
  /// max with NaN propagation (arith.maximumf's semantics) as one
  /// `max.NaN.f32` (llvm.maximum; arith-expand would make it four
  /// instructions).
  Value maxF(Value x, Value y) {
    return LLVM::MaximumOp::create(b, loc, x, y);
  }
  /// Two f32 values as a packed pair of the element type (low: x).
  Value pack(Value x, Value y) {
    auto vt = VectorType::get({2}, fa.elem);
    Value lo = arith::TruncFOp::create(b, loc, fa.elem, x);
    Value hi = arith::TruncFOp::create(b, loc, fa.elem, y);
    Value vec = LLVM::PoisonOp::create(b, loc, vt);
    vec = LLVM::InsertElementOp::create(b, loc, vec, lo,
                                        LLVM::ConstantOp::create(
                                            b, loc, i32(), b.getI32IntegerAttr(0)));
    vec = LLVM::InsertElementOp::create(b, loc, vec, hi,
                                        LLVM::ConstantOp::create(
                                            b, loc, i32(), b.getI32IntegerAttr(1)));
    return LLVM::BitcastOp::create(b, loc, i32(), vec);
  }
  /// d = a * b + c, m16n8k16 (a: 4 x i32, b: 2 x i32, c: 4 x f32).
  SmallVector<Value> mma(ArrayRef<Value> a, ArrayRef<Value> bReg,
                         ArrayRef<Value> c) {
    auto st = LLVM::LLVMStructType::getLiteral(
        b.getContext(), {f32(), f32(), f32(), f32()});
    NVVM::MMATypes t =
        fa.elem.isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
    SmallVector<Value> aa(a), bb(bReg);
    if (fa.elem.isF16()) {
      // f16 operands are <2 x half> registers.
      auto vt = VectorType::get({2}, fa.elem);
      for (Value &x : aa)
        x = LLVM::BitcastOp::create(b, loc, vt, x);
      for (Value &x : bb)
        x = LLVM::BitcastOp::create(b, loc, vt, x);
    }
    auto op = NVVM::MmaOp::create(
        b, loc, st, aa, bb, c, {16, 8, 16}, std::nullopt, std::nullopt,
        std::array<NVVM::MMATypes, 2>{t, t},
        std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                       NVVM::MMALayout::col});
    SmallVector<Value> out;
    for (int64_t i = 0; i < 4; ++i)
      out.push_back(LLVM::ExtractValueOp::create(b, loc, op.getResult(), i));
    return out;
  }
  SmallVector<Value> ldmatrix(Value ptr, bool trans) {
    auto st = LLVM::LLVMStructType::getLiteral(
        b.getContext(), {i32(), i32(), i32(), i32()});
    auto op = NVVM::LdMatrixOp::create(
        b, loc, st, ptr, b.getI32IntegerAttr(4),
        NVVM::MMALayoutAttr::get(b.getContext(), trans ? NVVM::MMALayout::col
                                                       : NVVM::MMALayout::row),
        NVVM::LdStMatrixShapeAttr::get(b.getContext(), 8, 8),
        NVVM::LdStMatrixEltTypeAttr::get(b.getContext(),
                                         NVVM::LdStMatrixEltType::B16));
    SmallVector<Value> out;
    for (int64_t i = 0; i < 4; ++i)
      out.push_back(LLVM::ExtractValueOp::create(b, loc, op.getResult(), i));
    return out;
  }
  Value sharedAt(Value base, Value elemIndex) {
    Value i = arith::IndexCastOp::create(b, loc, b.getI64Type(), elemIndex);
    return LLVM::GEPOp::create(b, loc,
                               LLVM::LLVMPointerType::get(b.getContext(), 3),
                               fa.elem, base, ValueRange{i});
  }
  Value loadF(Value ptr) { return LLVM::LoadOp::create(b, loc, f32(), ptr); }
  void storeV(Value v, Value ptr) { LLVM::StoreOp::create(b, loc, v, ptr); }
};

} // namespace

LogicalResult KernelEmitter::emitFusedLaunches(OnlineOp online) {
  for (const std::shared_ptr<FusedAttention> &fa : plan.fused)
    if (fa->online == online)
      for (auto &[d, when] : fa->variants)
        if (failed(emitFused(*fa, d, when)))
          return failure();
  return success();
}

LogicalResult KernelEmitter::emitFused(FusedAttention &fa, int64_t D,
                                       const SizeText &when) {
  OnlineOp online = fa.online;
  DeviceFunction f(plan, module, entryName("fused" + std::to_string(D)),
                   online.getLoc());
  FusedEmitter x(*this, fa, f, D);
  OpBuilder &b = f.b;
  Location loc = f.loc;
  MLIRContext *ctx = b.getContext();
  const int64_t T = fa.tile;
  const unsigned warps = fa.pDim >= 0 && !fa.group ? 4 : 1;
  const int64_t threads = 32 * warps,
                rowsPerBlock = fa.group ? fa.group : 16 * warps;
  const int64_t stride = D + 8; // shared row (elements): ldmatrix without
                                // bank conflicts, 16-byte aligned rows
  const int64_t nTilesN = T / 8, nOut = D / 8;
  std::string where = "the fused attention launch of the attn.online at " +
                      locationText(online.getLoc());

  // Shared memory (dynamic, one extern symbol per module): two buffers
  // (tile t and the prefetch of tile t + 1), each the K tile then the V tile.
  const int64_t bufElems = 2 * T * stride;
  const char *smemName = "attn_dynamic_smem";
  if (!module.lookupSymbol(smemName)) {
    OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
    auto arrayType = LLVM::LLVMArrayType::get(IntegerType::get(ctx, 8), 0);
    LLVM::GlobalOp::create(mb, loc, arrayType, /*isConstant=*/false,
                           LLVM::Linkage::External, smemName, Attribute(),
                           /*alignment=*/16, /*addrSpace=*/3);
  }
  auto shared = LLVM::LLVMPointerType::get(ctx, 3);
  Value smem = LLVM::AddressOfOp::create(f.pro, loc, shared, smemName);
  f.launch.sharedBytes =
      SizeText::constant(2 * bufElems * (fa.elem.getIntOrFloatBitWidth() / 8));

  // Sizes and canonical symbols.
  SmallVector<Value> sizes;
  SmallVector<SizeText> sizeTexts;
  if (failed(sizeValues(f, online, online.getSizes(), "size", sizes,
                        &sizeTexts)))
    return failure();
  for (Value s : fa.symbols) {
    std::string why;
    std::optional<SizeText> t = plan.sizeOf(s, why);
    if (!t)
      return online.emitError() << "the CUDA code generator cannot pass a "
                                   "symbol to the device: "
                                << why;
    x.syms.push_back(f.size(*t));
  }
  x.canon.assign(fa.numCanon(), Value());

  // Geometry: one block per (block dims..., query tile).
  SizeText blocks = when;
  SmallVector<Value> gridExtents;
  for (unsigned d : fa.blockDims) {
    blocks = sizeMul(blocks, sizeTexts[d]);
    gridExtents.push_back(sizes[d]);
  }
  if (fa.pDim >= 0) {
    SizeText pTiles = sizeBinary("ceildiv", sizeTexts[fa.pDim],
                                 SizeText::constant(rowsPerBlock));
    blocks = sizeMul(blocks, pTiles);
    gridExtents.push_back(f.size(pTiles));
  }
  Type idx = b.getIndexType();
  Value tid = gpu::ThreadIdOp::create(b, loc, idx, gpu::Dimension::x);
  Value bid = gpu::BlockIdOp::create(b, loc, idx, gpu::Dimension::x);
  auto divu = [&](Value a, int64_t c) {
    return arith::DivUIOp::create(b, loc, a, f.cst(c)).getResult();
  };
  auto remu = [&](Value a, int64_t c) {
    return arith::RemUIOp::create(b, loc, a, f.cst(c)).getResult();
  };
  Value lane = remu(tid, 32), warp = divu(tid, 32);
  Value g = divu(lane, 4), t4 = remu(lane, 4);
  SmallVector<Value> blockCoords =
      gridExtents.empty() ? SmallVector<Value>() : f.unflatten(bid, gridExtents);
  for (auto [k, d] : llvm::enumerate(fa.blockDims))
    x.canon[d] = blockCoords[k];
  Value rowBlock = fa.pDim >= 0 ? f.mul(blockCoords.back(), f.cst(rowsPerBlock))
                                : f.cst(0);
  Value rowWarp = f.add(rowBlock, f.mul(warp, f.cst(16)));
  Value rows[2] = {f.add(rowWarp, g), f.add(rowWarp, f.add(g, f.cst(8)))};
  Value rowValid[2];
  for (int i = 0; i < 2; ++i) {
    rowValid[i] = f.cmp(arith::CmpIPredicate::ult, rows[i],
                        fa.pDim >= 0 ? sizes[fa.pDim] : f.cst(1));
    if (fa.group) // the block's rows are the group's
      rowValid[i] = f.andI(rowValid[i],
                           f.cmp(arith::CmpIPredicate::ult,
                                 f.add(g, f.cst(8 * i)), f.cst(fa.group)));
  }
  auto setRow = [&](int i) {
    if (fa.pDim >= 0)
      x.canon[fa.pDim] = rows[i];
  };

  // A coordinate that is a canonical dimension or one of the root's, with
  // the tensor's extent, is in range wherever the point is live: no check
  // (and no error in the manifest) for it.
  auto extentOf = [&](Value size) {
    std::string why;
    std::optional<SizeText> n = plan.sizeOf(size, why);
    return n ? *n : SizeText::symbol("?");
  };
  auto same = [](const SizeText &a, const SizeText &b) {
    return a.text == b.text || (a.value && b.value && *a.value == *b.value);
  };
  SizeText eExtent = extentOf(fa.root.getSizes()[fa.root.getReducedDims()[0]]);
  auto needCheck = [&](ArrayRef<AffineExpr> coords, const TensorStorage &s) {
    SmallVector<bool> check;
    for (auto [k, c] : llvm::enumerate(coords)) {
      const SizeText &ext = s.shape[k];
      bool proved = false;
      if (auto d = dyn_cast<AffineDimExpr>(c)) {
        unsigned p = d.getPosition();
        proved = p < fa.numOnline ? same(sizeTexts[p], ext)
                 : p == fa.e      ? same(eExtent, ext)
                                  : same(SizeText::constant(T), ext);
      }
      for (auto [r, rd] : llvm::enumerate(fa.dimsOf[fa.root]))
        if (rd == c && same(extentOf(fa.root.getSizes()[r]), ext))
          proved = true;
      check.push_back(!proved);
    }
    return check;
  };

  // Q fragments (registers for the whole launch): a[kc] = {row g cols
  // 2t4.., row g+8, row g cols 8+2t4.., row g+8}, pairs as i32.
  const TensorStorage *qs = plan.storageOf(fa.q);
  const TensorStorage *ks = plan.storageOf(fa.k);
  const TensorStorage *vs = plan.storageOf(fa.v);
  Value qBase[2], qLive[2];
  Value zeroI32 = x.i32c(0);
  for (int i = 0; i < 2; ++i) {
    setRow(i);
    x.canon[fa.e] = f.cst(0);
    SmallVector<Value> index;
    for (AffineExpr c : fa.qCoords)
      index.push_back(emitAffine(f, c, x.canon, x.syms));
    SmallVector<Value> extents = f.shape(*qs);
    SmallVector<bool> check = needCheck(fa.qCoords, *qs);
    // Checked at e = D - 1 (the last element a row reads), based at e = 0.
    SmallVector<Value> last(index);
    last.back() = f.cst(D - 1);
    auto [ok, code] = rangeCheck(f, last, extents, check, *qs,
                                 "by Q's map in " + where);
    if (ok) {
      Value bad = f.andI(rowValid[i], f.notI(ok));
      auto ifOp = scf::IfOp::create(b, loc, bad, false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
      f.raise(code);
    }
    for (Value &v : index)
      v = ok ? f.select(ok, v, f.cst(0)) : v;
    qBase[i] = f.offset(index, extents);
    qLive[i] = ok ? f.andI(rowValid[i], ok) : rowValid[i];
  }
  Value qPtr = f.valuesOf(*qs);
  auto loadPair = [&](Value base, Value off) {
    Value p = f.elementPtr(base, fa.elem, off);
    return LLVM::LoadOp::create(b, loc, x.i32(), p, /*alignment=*/4)
        .getResult();
  };
  SmallVector<SmallVector<Value>> qa(D / 16);
  for (int64_t kc = 0; kc < D / 16; ++kc)
    for (int h = 0; h < 2; ++h)
      for (int i = 0; i < 2; ++i) {
        Value off = f.add(qBase[i], f.add(f.cst(kc * 16 + h * 8),
                                          f.mul(t4, f.cst(2))));
        off = f.select(qLive[i], off, f.cst(0));
        qa[kc].push_back(f.select(qLive[i], loadPair(qPtr, off), zeroI32));
      }

  // Running state.
  double negInf = -std::numeric_limits<double>::infinity();
  Value runMax[2], runSum[8][2], out[16][4];
  if (fa.parts.size() > 8 || nOut > 16)
    return online.emitError() << "internal: too many parts or outputs";
  for (int i = 0; i < 2; ++i) {
    runMax[i] = f.alloca(x.f32());
    x.storeV(x.fconst(negInf), runMax[i]);
    for (size_t p = 0; p < fa.parts.size(); ++p) {
      runSum[p][i] = f.alloca(x.f32());
      x.storeV(x.fconst(0), runSum[p][i]);
    }
  }
  for (int64_t n = 0; n < nOut; ++n)
    for (int c = 0; c < 4; ++c) {
      out[n][c] = f.alloca(x.f32());
      x.storeV(x.fconst(0), out[n][c]);
    }

  // The root's dimensions that K's rows need in range (all but the query
  // rank and e): where a K coordinate out of range is an error, not padding.
  // The key tiles, software-pipelined: the copies of tile t + 1 (into the
  // other buffer) are in flight while tile t computes. A tile that no
  // filter lets contribute is neither copied nor computed.
  auto box = [&](Value tile, Value rowLo, int64_t rowCount) {
    SmallVector<std::optional<Interval>> bx(fa.numCanon());
    for (unsigned d : fa.blockDims)
      bx[d] = Interval{x.canon[d], x.canon[d]};
    bx[fa.tileDim] = Interval{tile, tile};
    if (fa.pDim >= 0)
      bx[fa.pDim] = Interval{rowLo, f.add(rowLo, f.cst(rowCount - 1))};
    bx[fa.m0] = Interval{f.cst(0), f.cst(T - 1)};
    return bx;
  };
  // The K rows past the root's domain are padding (zeros); inside it a
  // coordinate out of range is the error the reference reports.
  auto keyLive = [&]() {
    SmallVector<Value> rootDims = x.dimsOf(fa.root);
    Value live;
    for (auto [d, size] : llvm::enumerate(fa.root.getSizes())) {
      AffineExpr de = fa.dimsOf[fa.root][d];
      if (de.isFunctionOfDim(fa.e) ||
          (fa.pDim >= 0 && de.isFunctionOfDim(fa.pDim)))
        continue;
      std::string why;
      live = f.andI(live, f.cmp(arith::CmpIPredicate::ult, rootDims[d],
                                f.size(*plan.sizeOf(size, why))));
    }
    return live;
  };
  auto raiseIfOut = [&](const TensorStorage &s, ArrayRef<AffineExpr> coords,
                        ArrayRef<Value> index, ArrayRef<Value> extents,
                        const char *name) {
    SmallVector<bool> check = needCheck(coords, s);
    auto [inRange, code] =
        rangeCheck(f, index, extents, check, s,
                   std::string("by ") + name + "'s map in " + where);
    Value live = keyLive();
    if (inRange && live) {
      auto ifOp =
          scf::IfOp::create(b, loc, f.andI(live, f.notI(inRange)), false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
      f.raise(code);
    }
  };
  auto copyAsync = [&](Value dst, Value src, Value ok) {
    Value bytes = arith::SelectOp::create(b, loc, ok, x.i32c(16), x.i32c(0));
    NVVM::CpAsyncOp::create(
        b, loc, dst, src, b.getI32IntegerAttr(16),
        NVVM::LoadCacheModifierKindAttr::get(ctx,
                                             NVVM::LoadCacheModifierKind::CG),
        bytes);
  };
  // A tile of K or V into shared memory: thread `tid` copies the 16-byte
  // chunks tid, tid + threads, ... (row-major over the tile's T rows).
  auto copyTile = [&](const TensorStorage &s, ArrayRef<AffineExpr> coords,
                      unsigned colDim, Value tileBase, const char *name) {
    // K and V do not depend on the row within the block (grouped: only on
    // the row's group).
    if (fa.pDim >= 0)
      x.canon[fa.pDim] = rowBlock;
    int64_t chunksPerRow = D / 8, total = T * chunksPerRow;
    SmallVector<Value> extents = f.shape(s);
    Value base = f.valuesOf(s);
    // Fast path: a thread's chunks share a column and are rowStep rows
    // apart, and every coordinate is affine in the tile row m0 with a
    // constant coefficient (and no checked one depends on it): the
    // addresses of the first chunk, then one step per chunk.
    SmallVector<int64_t> perRow;
    bool linear = threads % chunksPerRow == 0;
    SmallVector<bool> check = needCheck(coords, s);
    for (auto [k, e] : llvm::enumerate(coords)) {
      AffineExpr next = e.replace(fa.dim(fa.m0), fa.dim(fa.m0) + 1);
      AffineExpr diff = simplifyAffineExpr(next - e, fa.numCanon(),
                                           FusedAttention::kMaxSymbols);
      auto c = dyn_cast<AffineConstantExpr>(diff);
      linear &= c && !(check[k] && c.getValue() != 0);
      perRow.push_back(c ? c.getValue() : 0);
    }
    if (linear) {
      int64_t rowStep = threads / chunksPerRow;
      Value row0 = divu(tid, chunksPerRow);
      Value col = f.mul(remu(tid, chunksPerRow), f.cst(8));
      x.canon[fa.m0] = row0;
      x.canon[colDim] = col;
      SmallVector<Value> index;
      for (AffineExpr e : coords)
        index.push_back(emitAffine(f, e, x.canon, x.syms));
      raiseIfOut(s, coords, index, extents, name);
      // Row-major strides; the coordinates fixed across the chunks.
      SmallVector<Value> strides(extents.size());
      Value str = f.cst(1), step = f.cst(0), fixedOk;
      for (size_t k = extents.size(); k-- > 0;) {
        strides[k] = str;
        str = f.mul(str, extents[k]);
        if (perRow[k])
          step = f.add(step, f.mul(strides[k], f.cst(perRow[k] * rowStep)));
        else
          fixedOk = f.andI(fixedOk, f.cmp(arith::CmpIPredicate::ult, index[k],
                                          extents[k]));
      }
      Value offset0 = f.offset(index, extents);
      for (int64_t c = 0; c < total / threads; ++c) {
        Value ok = fixedOk;
        for (size_t k = 0; k < extents.size(); ++k)
          if (perRow[k])
            ok = f.andI(ok, f.cmp(arith::CmpIPredicate::ult,
                                  f.add(index[k], f.cst(perRow[k] * rowStep * c)),
                                  extents[k]));
        if (!ok)
          ok = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1);
        Value off = f.select(ok, f.add(offset0, f.mul(step, f.cst(c))),
                             f.cst(0));
        Value row = f.add(row0, f.cst(c * rowStep));
        copyAsync(x.sharedAt(tileBase, f.add(f.mul(row, f.cst(stride)), col)),
                  f.elementPtr(base, fa.elem, off), ok);
      }
      return;
    }
    for (int64_t c = 0; c < total / threads; ++c) {
      Value chunk = f.add(f.cst(c * threads), tid);
      Value row = divu(chunk, chunksPerRow);
      Value col = f.mul(remu(chunk, chunksPerRow), f.cst(8));
      x.canon[fa.m0] = row;
      x.canon[colDim] = col;
      SmallVector<Value> index;
      for (AffineExpr e : coords)
        index.push_back(emitAffine(f, e, x.canon, x.syms));
      Value ok;
      for (auto [k, v] : llvm::enumerate(index))
        ok = f.andI(ok, f.cmp(arith::CmpIPredicate::ult, v, extents[k]));
      raiseIfOut(s, coords, index, extents, name);
      SmallVector<Value> safe(index);
      for (Value &v : safe)
        v = f.select(ok, v, f.cst(0));
      copyAsync(x.sharedAt(tileBase, f.add(f.mul(row, f.cst(stride)), col)),
                f.elementPtr(base, fa.elem, f.offset(safe, extents)), ok);
    }
  };
  Value nTiles = sizes[fa.tileDim];
  auto kAt = [&](Value buf) {
    return x.sharedAt(smem, f.mul(buf, f.cst(bufElems)));
  };
  auto vAt = [&](Value buf) {
    return x.sharedAt(smem, f.add(f.mul(buf, f.cst(bufElems)),
                                  f.cst(T * stride)));
  };
  auto issue = [&](Value u, Value buf) {
    x.canon[fa.tileDim] = u;
    auto [uFull, uEmpty] = x.classifyTile(box(u, rowBlock, rowsPerBlock));
    (void)uFull;
    Value go = f.andI(f.cmp(arith::CmpIPredicate::ult, u, nTiles),
                      f.notI(uEmpty));
    {
      OpBuilder::InsertionGuard guard(b);
      f.enterIf(go);
      copyTile(*ks, fa.kCoords, fa.e, kAt(buf), "K");
      copyTile(*vs, fa.vCoords, fa.fDim, vAt(buf), "V");
    }
    x.canon[fa.e] = Value();
    x.canon[fa.fDim] = Value();
    // One group per tile, empty or not: wait_group counts stay uniform.
    NVVM::CpAsyncCommitGroupOp::create(b, loc);
  };
  issue(f.cst(0), f.cst(0));
  OpBuilder::InsertPoint afterLoop = b.saveInsertionPoint();
  Value t = f.beginLoop(nTiles);
  Value buf = remu(t, 2);
  issue(f.add(t, f.cst(1)), arith::SubIOp::create(b, loc, f.cst(1), buf));
  x.canon[fa.tileDim] = t;
  NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(1));
  NVVM::Barrier0Op::create(b, loc);
  // The tile's work goes before this barrier: everyone has read tile t's
  // buffer before the copies of tile t + 2 overwrite it.
  auto endBarrier = NVVM::Barrier0Op::create(b, loc);
  b.setInsertionPoint(endBarrier);
  auto [blockFull, blockEmpty] = x.classifyTile(box(t, rowBlock, rowsPerBlock));
  (void)blockFull;
  f.enterIf(f.notI(blockEmpty));
  Value kTile = kAt(buf), vTile = vAt(buf);

  // Scores: S = Q K^T over the tile (ldmatrix of K rows).
  SmallVector<SmallVector<Value>> s(nTilesN);
  for (int64_t j = 0; j < nTilesN; ++j)
    s[j].assign(4, x.fconst(0));
  Value lane8 = remu(lane, 8), quarter = divu(lane, 8);
  for (int64_t kc = 0; kc < D / 16; kc += 2)
    for (int64_t j = 0; j < nTilesN; ++j) {
      Value key = f.add(f.cst(j * 8), lane8);
      Value col = f.add(f.cst(kc * 16), f.mul(quarter, f.cst(8)));
      SmallVector<Value> r = x.ldmatrix(
          x.sharedAt(kTile, f.add(f.mul(key, f.cst(stride)), col)), false);
      s[j] = x.mma(qa[kc], {r[0], r[1]}, s[j]);
      s[j] = x.mma(qa[kc + 1], {r[2], r[3]}, s[j]);
    }

  // The elementwise cascade, the online update and P V: unmasked on tiles
  // full for this warp's rows, with every filter elsewhere.
  auto [warpFull, warpEmpty] =
      x.classifyTile(box(t, rowWarp, std::min<int64_t>(16, rowsPerBlock)));
  (void)warpEmpty;
  auto ifFull = scf::IfOp::create(b, loc, warpFull, /*withElse=*/true);
  Value refX = fa.refOp.getInputs()[0];
  SmallVector<Value> onlineSyms;
  for (Value sym : online.getSymbols()) {
    std::string why;
    onlineSyms.push_back(f.size(*plan.sizeOf(sym, why)));
  }
  auto setElement = [&](int64_t j, int c) {
    setRow(c >> 1);
    x.canon[fa.m0] =
        f.add(f.cst(j * 8 + (c & 1)), f.mul(t4, f.cst(2)));
    x.acc = s[j][c];
  };
  auto tileBody = [&](bool masked) -> LogicalResult {
    x.masked = masked;
    // X and whether the ref counts it.
    Value xv[16][4], xp[16][4];
    for (int64_t j = 0; j < nTilesN; ++j)
      for (int c = 0; c < 4; ++c) {
        setElement(j, c);
        x.memo.clear();
        x.refValue = Value();
        x.refPresent = Value();
        FailureOr<std::pair<Value, Value>> v = x.eval(refX);
        if (failed(v))
          return failure();
        xv[j][c] = v->first;
        xp[j][c] = Value();
        if (masked) {
          SmallVector<Value> dims = x.dimsOf(fa.refOp);
          Value p = v->second;
          if (Value flt = emitFilter(f, fa.refOp.getFilter(), dims,
                                     x.symsOf(fa.refOp)))
            p = f.andI(p, flt);
          if (Value flt = emitFilter(
                  f, online.getFilter(),
                  ArrayRef<Value>(x.canon).take_front(fa.numOnline),
                  onlineSyms))
            p = f.andI(p, flt);
          xp[j][c] = p;
        }
      }
    // The tile's row maxima (a quad of lanes holds a row).
    Value newMax[2], oldMax[2], seen[2];
    Value ninf = x.fconst(negInf);
    for (int i = 0; i < 2; ++i) {
      Value m = ninf;
      for (int64_t j = 0; j < nTilesN; ++j)
        for (int c = 2 * i; c < 2 * i + 2; ++c)
          m = x.maxF(m, xp[j][c] ? f.select(xp[j][c], xv[j][c], ninf)
                                 : xv[j][c]);
      m = x.maxF(m, x.shflXor(m, 1));
      m = x.maxF(m, x.shflXor(m, 2));
      seen[i] = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, m,
                                      ninf);
      oldMax[i] = x.loadF(runMax[i]);
      newMax[i] = x.maxF(oldMax[i], m);
      x.storeV(newMax[i], runMax[i]);
    }
    // Per part: rescale the running sum, add the tile's part.
    SmallVector<SmallVector<Value>> probs(nTilesN); // P elements (pv part)
    for (auto [pi, part] : llvm::enumerate(fa.parts)) {
      Value alpha[2];
      for (int i = 0; i < 2; ++i) {
        Value d = arith::SubFOp::create(b, loc, newMax[i], oldMax[i]);
        Value ex = math::ExpOp::create(
            b, loc,
            arith::MulFOp::create(b, loc, x.fconst(part.rescale), d));
        Value stuck = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                            newMax[i], ninf);
        alpha[i] = f.select(stuck, x.fconst(1), ex);
      }
      Value rowPart[2] = {x.fconst(0), x.fconst(0)};
      for (int64_t j = 0; j < nTilesN; ++j) {
        if (part.pv)
          probs[j].assign(4, Value());
        for (int c = 0; c < 4; ++c) {
          setElement(j, c);
          x.memo.clear();
          x.refValue = newMax[c >> 1];
          x.refPresent = masked ? seen[c >> 1] : Value();
          FailureOr<std::pair<Value, Value>> ev =
              x.eval(part.op.getInputs()[0]);
          if (failed(ev))
            return failure();
          SmallVector<Value> dims = x.dimsOf(part.op);
          Value present;
          if (masked) {
            present = ev->second;
            if (Value flt = emitFilter(f, part.op.getFilter(), dims,
                                       x.symsOf(part.op)))
              present = f.andI(present, flt);
            if (Value flt = emitFilter(
                    f, online.getFilter(),
                    ArrayRef<Value>(x.canon).take_front(fa.numOnline),
                    onlineSyms))
              present = f.andI(present, flt);
          }
          Value val = ev->first;
          if (!part.pv) {
            FailureOr<Value> body = x.cloneBody(part.op, {val}, dims);
            if (failed(body))
              return failure();
            val = *body;
          }
          if (present)
            val = f.select(present, val, x.fconst(0));
          if (part.pv)
            probs[j][c] = val;
          else
            rowPart[c >> 1] = arith::AddFOp::create(b, loc, rowPart[c >> 1],
                                                    val);
        }
      }
      if (!part.pv) {
        for (int i = 0; i < 2; ++i) {
          Value l = x.loadF(runSum[pi][i]);
          l = arith::AddFOp::create(
              b, loc, arith::MulFOp::create(b, loc, l, alpha[i]), rowPart[i]);
          x.storeV(l, runSum[pi][i]);
        }
        continue;
      }
      // O = O * alpha + P V.
      SmallVector<SmallVector<Value>> o(nOut);
      for (int64_t n = 0; n < nOut; ++n)
        for (int c = 0; c < 4; ++c)
          o[n].push_back(arith::MulFOp::create(b, loc, x.loadF(out[n][c]),
                                               alpha[c >> 1]));
      for (int64_t kc = 0; kc < T / 16; ++kc) {
        SmallVector<Value> a = {
            x.pack(probs[2 * kc][0], probs[2 * kc][1]),
            x.pack(probs[2 * kc][2], probs[2 * kc][3]),
            x.pack(probs[2 * kc + 1][0], probs[2 * kc + 1][1]),
            x.pack(probs[2 * kc + 1][2], probs[2 * kc + 1][3])};
        for (int64_t np = 0; np < D / 16; ++np) {
          Value key = f.add(f.cst(kc * 16),
                            f.add(f.mul(remu(quarter, 2), f.cst(8)), lane8));
          Value col = f.add(f.cst(np * 16), f.mul(divu(quarter, 2), f.cst(8)));
          SmallVector<Value> r = x.ldmatrix(
              x.sharedAt(vTile, f.add(f.mul(key, f.cst(stride)), col)), true);
          o[2 * np] = x.mma(a, {r[0], r[1]}, o[2 * np]);
          o[2 * np + 1] = x.mma(a, {r[2], r[3]}, o[2 * np + 1]);
        }
      }
      for (int64_t n = 0; n < nOut; ++n)
        for (int c = 0; c < 4; ++c)
          x.storeV(o[n][c], out[n][c]);
    }
    return success();
  };
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifFull.thenBlock()->getTerminator());
    if (failed(tileBody(false)))
      return failure();
    b.setInsertionPoint(ifFull.elseBlock()->getTerminator());
    if (failed(tileBody(true)))
      return failure();
  }
  b.restoreInsertionPoint(afterLoop);

  // The results: the maximum, each sum (a quad of lanes holds a row's
  // partial sums) and the weighted sum, where the row is.
  for (size_t p = 0; p < fa.parts.size(); ++p)
    if (!fa.parts[p].pv)
      for (int i = 0; i < 2; ++i) {
        Value l = x.loadF(runSum[p][i]);
        l = arith::AddFOp::create(b, loc, l, x.shflXor(l, 1));
        l = arith::AddFOp::create(b, loc, l, x.shflXor(l, 2));
        x.storeV(l, runSum[p][i]);
      }
  Value firstOfQuad = f.cmp(arith::CmpIPredicate::eq, t4, f.cst(0));
  auto store = [&](Value result, AffineMap map, Value v, Value has,
                   Value when) {
    const TensorStorage &st = *plan.storageOf(result);
    SmallVector<Value> index;
    for (AffineExpr e : map.getResults())
      index.push_back(x.canon[cast<AffineDimExpr>(e).getPosition()]);
    SmallVector<Value> extents = f.shape(st);
    Value at = f.offset(index, extents);
    OpBuilder::InsertionGuard guard(b);
    auto ifOp = scf::IfOp::create(b, loc, when, false);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    f.store(f.valuesOf(st), st.elementType, at,
            f.select(has, v, x.fconst(0)));
    f.store(f.presenceOf(st), b.getI1Type(), at, has);
  };
  auto writeInner = [&]() {
    for (int i = 0; i < 2; ++i) {
      setRow(i);
      Value m = x.loadF(runMax[i]);
      Value has = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, m,
                                        x.fconst(negInf));
      Value lead = f.andI(rowValid[i], firstOfQuad);
      store(online.getMax(), online.getMaxMap(), m, has, lead);
      for (auto [p, part] : llvm::enumerate(fa.parts)) {
        Value result = online.getSums()[p];
        AffineMap map = online.getSumMap(p);
        if (!part.pv) {
          store(result, map, x.loadF(runSum[p][i]), has, lead);
          continue;
        }
        for (int64_t n = 0; n < nOut; ++n)
          for (int c = 2 * i; c < 2 * i + 2; ++c) {
            x.canon[fa.fDim] =
                f.add(f.cst(n * 8 + (c & 1)), f.mul(t4, f.cst(2)));
            store(result, map, x.loadF(out[n][c]), has, rowValid[i]);
          }
      }
    }
  };

  // The epilogue (one split worker): the outer combine is the identity, the
  // elementwise einsums after it run per output element on the registers,
  // and the fill converts into the output.
  auto writeOutput = [&]() -> LogicalResult {
    FusedAttention::Epilogue &ep = *fa.epilogue;
    const TensorStorage &outS = plan.output(0);
    double fillValue = ep.fill ? ep.fill.getValue().convertToDouble() : 0.0;
    SmallVector<Value> outExtents = f.shape(outS);
    for (int i = 0; i < 2; ++i) {
      setRow(i);
      Value m = x.loadF(runMax[i]);
      Value has = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, m,
                                        x.fconst(negInf));
      for (int64_t n = 0; n < nOut; ++n)
        for (int c = 2 * i; c < 2 * i + 2; ++c) {
          x.canon[fa.fDim] =
              f.add(f.cst(n * 8 + (c & 1)), f.mul(t4, f.cst(2)));
          DenseMap<Operation *, std::pair<Value, Value>> memo;
          std::function<FailureOr<std::pair<Value, Value>>(Value)> evalEpi =
              [&](Value v) -> FailureOr<std::pair<Value, Value>> {
            OnlineOp outer = ep.outer;
            if (v == outer.getMax())
              return std::make_pair(m, has);
            for (auto [p, part] : llvm::enumerate(fa.parts))
              if (v == outer.getSums()[p])
                return std::make_pair(
                    x.loadF(part.pv ? out[n][c] : runSum[p][i]), has);
            auto op = v.getDefiningOp<EinsumOp>();
            if (auto it = memo.find(op); it != memo.end())
              return it->second;
            SmallVector<Value> dims, opSyms = x.symsOf(op);
            for (AffineExpr d : ep.dimsOf[op])
              dims.push_back(emitAffine(f, d, x.canon, x.syms));
            Value present = emitFilter(f, op.getFilter(), dims, opSyms);
            SmallVector<Value> inputs;
            for (unsigned k = 0; k < op.getInputs().size(); ++k) {
              Value in = op.getInputs()[k];
              if (isKernelArgument(in, plan.kernel)) {
                Value live = x.inDomain(op, dims);
                if (present)
                  live = f.andI(live, present);
                FailureOr<Value> lv = x.loadInput(op, k, dims, opSyms, live);
                if (failed(lv))
                  return failure();
                inputs.push_back(*lv);
                continue;
              }
              FailureOr<std::pair<Value, Value>> iv = evalEpi(in);
              if (failed(iv))
                return failure();
              inputs.push_back(iv->first);
              if (iv->second)
                present = f.andI(present, iv->second);
            }
            FailureOr<Value> body = x.cloneBody(op, inputs, dims);
            if (failed(body))
              return failure();
            memo[op] = {*body, present};
            return memo[op];
          };
          FailureOr<std::pair<Value, Value>> r = evalEpi(ep.value);
          if (failed(r))
            return failure();
          Value v = r->first;
          if (r->second)
            v = f.select(r->second, v,
                         constantOf(b, loc, v.getType(), fillValue));
          v = convert(b, loc, v, outS.elementType);
          SmallVector<Value> index;
          for (AffineExpr e : ep.outCoords)
            index.push_back(x.canon[cast<AffineDimExpr>(e).getPosition()]);
          Value at = f.offset(index, outExtents);
          OpBuilder::InsertionGuard guard(b);
          auto ifOp = scf::IfOp::create(b, loc, rowValid[i], false);
          b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
          f.store(f.valuesOf(outS), outS.elementType, at, v);
        }
    }
    return success();
  };
  if (!fa.epilogue) {
    writeInner();
  } else {
    Value single =
        f.cmp(arith::CmpIPredicate::ne,
              f.size(SizeText::symbol(fa.epilogue->single)), f.cst(0));
    auto ifOp = scf::IfOp::create(b, loc, single, /*withElse=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    if (failed(writeOutput()))
      return failure();
    b.setInsertionPoint(ifOp.elseBlock()->getTerminator());
    writeInner();
  }

  f.launch.blocks = blocks;
  f.launch.threads = static_cast<unsigned>(threads);
  f.launch.count = blocks;
  done(f);
  return success();
}
