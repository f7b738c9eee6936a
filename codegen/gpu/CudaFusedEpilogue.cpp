// The epilogue of a fused attention launch: where the kernel ends with the
// outer online op that combines the split workers, elementwise einsums of its
// results and a fill into the one output, the launch can write that output
// itself when there is one worker (CudaFusedAttention.h, `Epilogue`).
#include "codegen/gpu/CudaFusedAttention.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;

namespace {

/// The epilogue (FusedAttention::Epilogue) after a matched inner online op;
/// failure (with `why`) when the kernel's end has another shape.
class EpilogueMatcher {
public:
  EpilogueMatcher(KernelPlan &plan, FusedAttention &fa, std::string &why)
      : plan(plan), fa(fa), why(why) {}

  LogicalResult run() {
    if (failed(matchOuterCombine()) || failed(matchOutput()))
      return failure();
    fa.epilogue = std::move(ep);
    return success();
  }

private:
  KernelPlan &plan;
  FusedAttention &fa;
  std::string &why;
  FusedAttention::Epilogue ep;

  LogicalResult fail(const std::string &reason) {
    why = reason;
    return failure();
  }

  LogicalResult matchOuterCombine();
  LogicalResult unify(AffineMap outerMap, AffineMap innerMap);
  LogicalResult matchOutput();
  LogicalResult walk(Value v, SmallVector<AffineExpr> &coords);
  LogicalResult assignFromInputs(EinsumOp op);
};

/// The outer combine: ref = the inner maxima, parts = the inner sums; its
/// dimensions from the coordinates it reads the inner results at.
LogicalResult EpilogueMatcher::matchOuterCombine() {
  OnlineOp inner = fa.online;
  for (Operation *user : inner.getMax().getUsers())
    if (auto o = dyn_cast<OnlineOp>(user))
      if (o.getRef() == inner.getMax())
        ep.outer = o;
  OnlineOp outer = ep.outer;
  if (!outer || outer.getNumParts() != inner.getNumParts() ||
      outer.getFilter() || outer.getReducedDims().size() != 1)
    return fail("no outer combine of one dimension after the launch");
  for (unsigned i = 0; i < inner.getNumParts(); ++i)
    if (outer.getParts()[i] != inner.getSums()[i] ||
        outer.getRescale()[i] != inner.getRescale()[i])
      return fail("the outer combine does not take the sums in order");
  ep.outerDims.assign(outer.getNumDims(), AffineExpr());
  if (failed(unify(outer.getRefMap(), inner.getMaxMap())))
    return failure();
  for (unsigned i = 0; i < inner.getNumParts(); ++i)
    if (failed(unify(outer.getPartMap(i), inner.getSumMap(i))))
      return failure();
  if (llvm::any_of(ep.outerDims, [](AffineExpr x) { return !x; }))
    return fail("a dimension of the outer combine is not read");
  ep.splitDim = cast<AffineDimExpr>(ep.outerDims[outer.getReducedDims()[0]])
                    .getPosition();
  return success();
}

LogicalResult EpilogueMatcher::unify(AffineMap outerMap, AffineMap innerMap) {
  for (auto [o, i] : llvm::zip(outerMap.getResults(), innerMap.getResults())) {
    auto od = dyn_cast<AffineDimExpr>(o);
    if (!od || outerMap.getNumSymbols())
      return fail("the outer combine reads through a non-projection");
    AffineExpr c = fa.dim(cast<AffineDimExpr>(i).getPosition());
    AffineExpr &slot = ep.outerDims[od.getPosition()];
    if (slot && slot != c)
      return fail("the outer combine's dimensions are inconsistent");
    slot = c;
  }
  return success();
}

/// The one output: a fill of an elementwise chain from the outer results,
/// each output element one block's row and column.
LogicalResult EpilogueMatcher::matchOutput() {
  auto ret =
      cast<func::ReturnOp>(plan.kernel.getBody().front().getTerminator());
  if (ret.getNumOperands() != 1)
    return fail("the kernel has several outputs");
  ep.value = ret.getOperand(0);
  if ((ep.fill = ep.value.getDefiningOp<FillOp>()))
    ep.value = ep.fill.getInput();
  if (failed(walk(ep.value, ep.outCoords)))
    return failure();
  // Its coordinates are the block dims (but the split), the rows' and f.
  SmallVector<unsigned> need(fa.blockDims);
  llvm::erase(need, static_cast<unsigned>(ep.splitDim));
  if (fa.pDim >= 0)
    need.push_back(fa.pDim);
  for (AffineExpr c : ep.outCoords) {
    auto d = dyn_cast<AffineDimExpr>(c);
    if (!d || static_cast<int>(d.getPosition()) == ep.splitDim ||
        !(llvm::is_contained(need, d.getPosition()) ||
          static_cast<int>(d.getPosition()) == fa.fDim))
      return fail("an output coordinate is not a row, block or f index");
    llvm::erase(need, d.getPosition());
  }
  if (!need.empty())
    return fail("the output does not name every row dimension");
  for (auto &[op, dims] : ep.dimsOf)
    for (Operation *user : op->getUsers())
      if (!ep.dimsOf.count(user) && user != ep.fill.getOperation() &&
          !isa<func::ReturnOp>(user))
        return fail("an epilogue value is also read elsewhere");
  return success();
}

/// The canonical coordinates `v` is computed at (appended to `coords`).
LogicalResult EpilogueMatcher::walk(Value v, SmallVector<AffineExpr> &coords) {
  OnlineOp outer = ep.outer;
  for (unsigned r = 0; r < outer.getNumResults(); ++r)
    if (v == outer->getResult(r)) {
      AffineMap map = r == 0 ? outer.getMaxMap() : outer.getSumMap(r - 1);
      for (AffineExpr x : map.getResults())
        coords.push_back(ep.outerDims[cast<AffineDimExpr>(x).getPosition()]);
      return success();
    }
  auto op = v.getDefiningOp<EinsumOp>();
  if (!op || op.getKind() != ReductionKind::none || op.hasGuard() ||
      !op.getTables().empty() ||
      failed(checkPlainBody(op.getBody().front(), why)))
    return fail("the epilogue is not elementwise einsums");
  if (!ep.dimsOf.count(op) && failed(assignFromInputs(op)))
    return failure();
  for (AffineExpr x : op.getResultMap().getResults())
    coords.push_back(ep.dimsOf[op][cast<AffineDimExpr>(x).getPosition()]);
  return success();
}

/// An epilogue einsum's dimensions from the coordinates of its inputs.
LogicalResult EpilogueMatcher::assignFromInputs(EinsumOp op) {
  SmallVector<AffineExpr> dims(op.getNumDims());
  for (unsigned i = 0; i < op.getInputs().size(); ++i) {
    Value in = op.getInputs()[i];
    if (isKernelArgument(in, plan.kernel))
      continue;
    SmallVector<AffineExpr> inCoords;
    if (failed(walk(in, inCoords)))
      return failure();
    AffineMap map = op.getInputMap(i);
    for (auto [x, c] : llvm::zip(map.getResults(), inCoords)) {
      auto d = dyn_cast<AffineDimExpr>(x);
      if (!d)
        return fail("the epilogue reads through a non-projection");
      AffineExpr &slot = dims[d.getPosition()];
      if (slot && slot != c)
        return fail("the epilogue's dimensions are inconsistent");
      slot = c;
    }
  }
  if (llvm::any_of(dims, [](AffineExpr x) { return !x; }))
    return fail("an epilogue dimension is not read");
  ep.dimsOf[op] = dims;
  return success();
}

} // namespace

LogicalResult cuda::matchFusedEpilogue(KernelPlan &plan, FusedAttention &fa,
                                       std::string &why) {
  return EpilogueMatcher(plan, fa, why).run();
}
