// attn-hoist-sum-factors: takes the factors of a sum's product that do not
// vary along the reduced dimensions out of the sum.
//
// `S[m,p] = sum(e) Q[p,e] * K[m,e] * rsqrt(E)` multiplies every term by the
// scale; as `S0[m,p] = sum(e) Q[p,e] * K[m,e]` and an elementwise
// `S[m,p] = S0[m,p] * rsqrt(E)` each term is one multiply-add (an FMA on the
// CPU) and the scale is applied once per result point. A factor is
// invariant when its computation in the body reads no input through a map
// that names a reduced dimension, no reduced dimension's index and no table;
// the body's product is split along its multiplications (each used once).
// The sum keeps its filter, tables and presence; the elementwise einsum is
// absent exactly where the sum is.
#include "passes/EinsumBuilder.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "llvm/ADT/SmallBitVector.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNHOISTSUMFACTORS
#include "passes/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The leaves of the multiplication tree that `v` is the root of: the
/// operands of single-use arith.mulf ops, recursively.
void productLeaves(Value v, Block &body, SmallVectorImpl<Value> &leaves) {
  auto mul = v.getDefiningOp<arith::MulFOp>();
  if (!mul || mul->getBlock() != &body || !v.hasOneUse()) {
    leaves.push_back(v);
    return;
  }
  productLeaves(mul.getLhs(), body, leaves);
  productLeaves(mul.getRhs(), body, leaves);
}

/// Whether `v` (a value used in `op`'s body) varies along a reduced
/// dimension: its computation reads an input whose map names one, the index
/// of one, or a table.
bool variesAlongReduced(EinsumOp op, Value v,
                        const llvm::SmallBitVector &reduced) {
  Block &body = op.getBody().front();
  unsigned numInputs = op.getInputs().size();
  SmallVector<Value> work{v};
  DenseSet<Value> seen;
  while (!work.empty()) {
    Value x = work.pop_back_val();
    if (!seen.insert(x).second)
      continue;
    if (auto arg = dyn_cast<BlockArgument>(x)) {
      if (arg.getOwner() != &body)
        continue; // defined outside the einsum
      unsigned i = arg.getArgNumber();
      if (i >= numInputs)
        return reduced.test(i - numInputs);
      for (AffineExpr r : op.getInputMap(i).getResults())
        for (unsigned d : reduced.set_bits())
          if (r.isFunctionOfDim(d))
            return true;
      continue;
    }
    Operation *def = x.getDefiningOp();
    if (def->getBlock() != &body)
      continue;
    if (isa<ReadOp>(def) || def->getNumRegions() != 0)
      return true;
    for (Value operand : def->getOperands())
      work.push_back(operand);
  }
  return false;
}

/// Erases the ops of `body` that nothing uses any more (the invariant
/// factors' arith and math ops left behind by the split). An attn.read is
/// kept even unused: its presence and range check are part of the point.
void eraseDeadOps(Block &body) {
  bool changed = true;
  while (changed) {
    changed = false;
    for (Operation &op : llvm::make_early_inc_range(llvm::reverse(body)))
      if (!op.hasTrait<OpTrait::IsTerminator>() && op.use_empty() &&
          !isa<ReadOp>(op) && isPure(&op)) {
        op.erase();
        changed = true;
      }
  }
}

/// Splits `op` if its product has invariant factors; true when it did.
bool hoistFactors(EinsumOp op) {
  if (op.getKind() != ReductionKind::sum || op.hasGuard())
    return false;
  SmallVector<unsigned> reducedDims = op.getReducedDims();
  if (reducedDims.empty())
    return false;
  llvm::SmallBitVector reduced(op.getNumDims());
  for (unsigned d : reducedDims)
    reduced.set(d);
  Block &body = op.getBody().front();
  Operation *yield = body.getTerminator();
  Value root = yield->getOperand(0);
  if (!isa<FloatType>(root.getType()))
    return false;
  SmallVector<Value> leaves, variant, invariant;
  productLeaves(root, body, leaves);
  for (Value leaf : leaves)
    (variesAlongReduced(op, leaf, reduced) ? variant : invariant)
        .push_back(leaf);
  if (variant.empty() || invariant.empty())
    return false;

  // The elementwise einsum over the sum's result dimensions: the sum times
  // the invariant factors, cloned with their reads and indices placed.
  Location loc = op.getLoc();
  OpBuilder builder(op->getContext());
  builder.setInsertionPointAfter(op);
  SmallVector<unsigned> resultDims;
  for (AffineExpr r : op.getResultMap().getResults())
    resultDims.push_back(cast<AffineDimExpr>(r).getPosition());
  SmallVector<Value> sizes;
  SmallVector<std::string> names, sourceNames = indexNames(op);
  for (unsigned d : resultDims) {
    sizes.push_back(op.getSizes()[d]);
    names.push_back(sourceNames[d]);
  }
  EinsumBuilder scaled(builder, loc, sizes, names);
  SmallVector<AffineExpr> place(op.getNumDims(),
                                getAffineConstantExpr(0, op.getContext()));
  SmallVector<AffineExpr> identity;
  for (auto [k, d] : llvm::enumerate(resultDims)) {
    place[d] = scaled.dim(k);
    identity.push_back(scaled.dim(k));
  }
  Value value = scaled.read(op.getResult(), identity);
  IRMapping known;
  OpBuilder at = scaled.at(scaled.body());
  for (Value factor : invariant)
    value = arith::MulFOp::create(
        at, loc, value, scaled.clone(scaled.body(), op, factor, place, known));
  SmallVector<unsigned> all;
  for (unsigned k = 0; k < resultDims.size(); ++k)
    all.push_back(k);
  auto type = cast<RankedTensorType>(op.getResult().getType());
  EinsumOp product =
      scaled.finish(value, type.getElementType(), all, ReductionKind::none);
  product.getResult().setType(type);
  op.getResult().replaceAllUsesExcept(product.getResult(), product);

  // The sum keeps the variant factors only.
  OpBuilder inBody(yield);
  Value terms = variant.front();
  for (Value factor : ArrayRef<Value>(variant).drop_front())
    terms = arith::MulFOp::create(inBody, loc, terms, factor);
  yield->setOperand(0, terms);
  eraseDeadOps(body);
  return true;
}

struct HoistSumFactors
    : public mlir::attn::impl::AttnHoistSumFactorsBase<HoistSumFactors> {
  void runOnOperation() override {
    SmallVector<EinsumOp> sums;
    getOperation().walk([&](EinsumOp op) { sums.push_back(op); });
    for (EinsumOp op : sums)
      if (hoistFactors(op))
        op.emitRemark() << "hoisted the factors that do not vary along the "
                           "reduced dimensions out of the sum";
  }
};

} // namespace
