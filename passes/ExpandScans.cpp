// attn-expand-scans: restates every attn.scan as the filtered reduction that
// defines it, result[.., t, ..] = kind(r) input[.., r, ..] where r <= t, for
// code generators that evaluate each point on its own (the CUDA
// one-thread-per-point path: a loop of at most `extent` steps per point).
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNEXPANDSCANS
#include "passes/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The source name of dimension `k` of `t`: its index on the left of the
/// statement that defined it, else d<k>.
std::string dimName(Value t, unsigned k) {
  if (auto e = t.getDefiningOp<EinsumOp>())
    if (auto d = dyn_cast<AffineDimExpr>(e.getResultMap().getResult(k)))
      return e.getIndexName(d.getPosition());
  return "d" + std::to_string(k);
}

/// The einsum equal to `op`: its dimensions are the tensor's, then `r`, the
/// position summed up to the scanned one.
EinsumOp expandScan(ScanOp op, OpBuilder &b) {
  Location loc = op.getLoc();
  RankedTensorType type = op.getType();
  unsigned rank = type.getRank(), dim = op.getDim(), numDims = rank + 1;
  MLIRContext *ctx = op.getContext();
  b.setInsertionPoint(op);
  SmallVector<Value> sizes;
  for (unsigned k = 0; k < rank; ++k)
    sizes.push_back(
        type.isDynamicDim(k)
            ? tensor::DimOp::create(b, loc, op.getInput(), k).getResult()
            : arith::ConstantIndexOp::create(b, loc, type.getDimSize(k))
                  .getResult());
  sizes.push_back(sizes[dim]);
  AffineExpr r = getAffineDimExpr(rank, ctx);
  SmallVector<AffineExpr> inputExprs, resultExprs;
  for (unsigned k = 0; k < rank; ++k) {
    resultExprs.push_back(getAffineDimExpr(k, ctx));
    inputExprs.push_back(k == dim ? r : getAffineDimExpr(k, ctx));
  }
  SmallVector<AffineMap> maps{AffineMap::get(numDims, 0, inputExprs, ctx),
                              AffineMap::get(numDims, 0, resultExprs, ctx)};
  // r <= t, as t - r >= 0.
  IntegerSet prefix =
      IntegerSet::get(numDims, 0, {getAffineDimExpr(dim, ctx) - r}, {false});
  auto einsum =
      EinsumOp::create(b, loc, type, ValueRange{op.getInput()}, ValueRange{},
                       sizes, ValueRange{}, maps, op.getKind(), {prefix});
  Block *body = einsum.createBodyBlock(/*withGuard=*/false);
  OpBuilder bodyBuilder = OpBuilder::atBlockEnd(body);
  YieldOp::create(bodyBuilder, loc, ValueRange{body->getArgument(0)});
  SmallVector<std::string> names;
  for (unsigned k = 0; k < rank; ++k)
    names.push_back(dimName(op.getInput(), k));
  names.push_back(names[dim] + "_prefix");
  setIndexNames(einsum, names);
  return einsum;
}

struct ExpandScans : public mlir::attn::impl::AttnExpandScansBase<ExpandScans> {
  void runOnOperation() override {
    SmallVector<ScanOp> scans;
    getOperation().walk([&](ScanOp op) { scans.push_back(op); });
    OpBuilder b(&getContext());
    for (ScanOp op : scans) {
      EinsumOp einsum = expandScan(op, b);
      op.getResult().replaceAllUsesWith(einsum.getResult());
      op.erase();
    }
  }
};

} // namespace
