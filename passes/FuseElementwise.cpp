// attn-fuse-elementwise: folds an elementwise einsum into its one consumer
// where that duplicates no work, and folds duplicate inputs of an einsum.
//
// The producer P (kind none) must have exactly one use, as an input of one
// einsum C (not a table, not attn.fill, not a kernel result), read through a
// map of distinct bare dimensions. Without allow-recompute, that map must
// name every dimension of C: C's points then read distinct points of P, so
// P's body runs at most once per point of P, as before. C's new body clones
// P's body where it read P; P's inputs and tables join C's (P's maps placed
// in C's dimensions); C's filter becomes the intersection with P's, and
// C's guard the conjunction with P's, so a point P left absent stays absent.
#include "passes/EinsumBuilder.h"
#include "passes/Passes.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "llvm/ADT/SmallBitVector.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNFUSEELEMENTWISE
#include "passes/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

bool namesDistinctDims(AffineMap map) {
  llvm::SmallBitVector seen(map.getNumDims());
  for (AffineExpr e : map.getResults()) {
    auto d = dyn_cast<AffineDimExpr>(e);
    if (!d || seen.test(d.getPosition()))
      return false;
    seen.set(d.getPosition());
  }
  return true;
}

std::string lineOf(Operation *op) {
  if (auto l = op->getLoc()->findInstanceOf<FileLineColLoc>())
    return "line " + std::to_string(l.getLine());
  return "elsewhere";
}

/// The filter of `src` placed in `nb`'s dimensions, as conjunctions; one
/// empty conjunction (every point) when src has none.
SmallVector<std::pair<SmallVector<AffineExpr>, SmallVector<bool>>>
placedFilter(EinsumBuilder &nb, EinsumOp src, ArrayRef<AffineExpr> place) {
  SmallVector<std::pair<SmallVector<AffineExpr>, SmallVector<bool>>> out;
  if (!src.hasFilter())
    return {{}};
  for (Attribute a : *src.getFilter()) {
    IntegerSet set = cast<IntegerSetAttr>(a).getValue();
    auto &conj = out.emplace_back();
    for (unsigned i = 0; i < set.getNumConstraints(); ++i) {
      conj.first.push_back(nb.placed(src, place, set.getConstraint(i)));
      conj.second.push_back(set.isEq(i));
    }
  }
  return out;
}

/// `consumer` rebuilt: with `producer`'s body in place of its input `pos`
/// when `producer` is given; duplicate inputs (same tensor and map) folded.
EinsumOp rebuild(PatternRewriter &rewriter, EinsumOp consumer,
                 EinsumOp producer, unsigned pos) {
  bool named = consumer->hasAttr(kIndicesAttr);
  EinsumBuilder nb(rewriter, consumer.getLoc(), consumer.getSizes(),
                   named ? indexNames(consumer) : SmallVector<std::string>());
  SmallVector<AffineExpr> identity;
  for (unsigned d = 0; d < consumer.getNumDims(); ++d)
    identity.push_back(nb.dim(d));
  // Where the producer's dimensions land: its result position r is read at
  // the consumer's dimension access[r].
  SmallVector<AffineExpr> place;
  if (producer) {
    AffineMap access = consumer.getInputMap(pos);
    AffineMap result = producer.getResultMap();
    place.resize(producer.getNumDims());
    for (unsigned r = 0; r < result.getNumResults(); ++r)
      place[result.getDimPosition(r)] = access.getResult(r);
  }
  // Inputs keep their order, the producer's taking its result's place.
  Block &body = consumer.getBody().front();
  IRMapping known;
  for (unsigned i = 0; i < consumer.getInputs().size(); ++i) {
    if (!producer || i != pos) {
      nb.clone(nb.body(), consumer, body.getArgument(i), identity, known);
      continue;
    }
    Block &inner = producer.getBody().front();
    for (unsigned j = 0; j < producer.getInputs().size(); ++j)
      nb.clone(nb.body(), producer, inner.getArgument(j), place, known);
    known.map(body.getArgument(pos),
              nb.clone(nb.body(), producer,
                       inner.getTerminator()->getOperand(0), place, known));
  }
  Value value = nb.clone(nb.body(), consumer,
                         body.getTerminator()->getOperand(0), identity, known);

  if (consumer.hasFilter() || (producer && producer.hasFilter())) {
    auto ours = placedFilter(nb, consumer, identity);
    decltype(ours) theirs(1); // every point
    if (producer)
      theirs = placedFilter(nb, producer, place);
    for (auto &a : ours)
      for (auto &b : theirs) {
        SmallVector<AffineExpr> exprs(a.first);
        SmallVector<bool> isEq(a.second);
        exprs.append(b.first);
        isEq.append(b.second);
        nb.addFilterConjunction(exprs, isEq);
      }
  }

  // Both guards are evaluated: each ran at these points before.
  Value guard;
  for (auto [src, srcPlace] :
       {std::make_pair(consumer, ArrayRef<AffineExpr>(identity)),
        std::make_pair(producer, ArrayRef<AffineExpr>(place))}) {
    if (!src || !src.hasGuard())
      continue;
    IRMapping guardKnown;
    Value g = nb.clone(nb.guard(), src,
                       src.getGuard().front().getTerminator()->getOperand(0),
                       srcPlace, guardKnown);
    OpBuilder b = nb.at(nb.guard());
    guard = guard ? arith::AndIOp::create(b, consumer.getLoc(), guard, g) : g;
  }

  SmallVector<unsigned> resultDims;
  for (AffineExpr e : consumer.getResultMap().getResults())
    resultDims.push_back(cast<AffineDimExpr>(e).getPosition());
  auto type = cast<RankedTensorType>(consumer.getResult().getType());
  rewriter.setInsertionPoint(consumer);
  EinsumOp fused = nb.finish(value, type.getElementType(), resultDims,
                             consumer.getKind(), guard);
  // Keep the consumer's static shape (finish derives it from the sizes).
  rewriter.modifyOpInPlace(fused, [&] { fused.getResult().setType(type); });
  return fused;
}

/// Folds an elementwise producer into its one consumer.
struct FuseIntoConsumer : public OpRewritePattern<EinsumOp> {
  FuseIntoConsumer(MLIRContext *ctx, bool allowRecompute)
      : OpRewritePattern(ctx), allowRecompute(allowRecompute) {}

  LogicalResult matchAndRewrite(EinsumOp producer,
                                PatternRewriter &rewriter) const override {
    if (producer.getKind() != ReductionKind::none ||
        !producer.getResult().hasOneUse())
      return failure();
    OpOperand &use = *producer.getResult().use_begin();
    auto consumer = dyn_cast<EinsumOp>(use.getOwner());
    unsigned pos = use.getOperandNumber();
    if (!consumer || pos >= consumer.getInputs().size())
      return failure();
    AffineMap access = consumer.getInputMap(pos);
    if (!namesDistinctDims(access))
      return failure();
    // Dimensions of the consumer the access does not name: the producer's
    // body would run again for each of their values.
    std::string again;
    SmallVector<std::string> names = indexNames(consumer);
    for (unsigned d = 0; d < consumer.getNumDims(); ++d)
      if (!access.isFunctionOfDim(d))
        again += (again.empty() ? "" : ", ") + names[d];
    if (!again.empty() && !allowRecompute)
      return failure();

    std::string from = lineOf(producer);
    EinsumOp fused = rebuild(rewriter, consumer, producer, pos);
    auto remark = fused.emitRemark()
                  << "fused the elementwise einsum of " << from;
    if (!again.empty())
      remark << ", recomputed along " << again;
    rewriter.replaceOp(consumer, fused.getResult());
    rewriter.eraseOp(producer);
    return success();
  }

  bool allowRecompute;
};

/// Folds inputs that read the same tensor through the same map.
struct DropDuplicateInputs : public OpRewritePattern<EinsumOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(EinsumOp op,
                                PatternRewriter &rewriter) const override {
    auto inputs = op.getInputs();
    bool duplicate = false;
    for (unsigned i = 0; i < inputs.size() && !duplicate; ++i)
      for (unsigned j = 0; j < i && !duplicate; ++j)
        duplicate =
            inputs[i] == inputs[j] && op.getInputMap(i) == op.getInputMap(j);
    if (!duplicate)
      return failure();
    rewriter.replaceOp(op, rebuild(rewriter, op, nullptr, 0).getResult());
    return success();
  }
};

struct FuseElementwise
    : public mlir::attn::impl::AttnFuseElementwiseBase<FuseElementwise> {
  using AttnFuseElementwiseBase::AttnFuseElementwiseBase;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseIntoConsumer>(&getContext(), allowRecompute);
    patterns.add<DropDuplicateInputs>(&getContext());
    GreedyRewriteConfig config;
    config.enableFolding(false)
        .enableConstantCSE(false)
        .setRegionSimplificationLevel(GreedySimplifyRegionLevel::Disabled)
        .setMaxIterations(GreedyRewriteConfig::kNoLimit);
    if (failed(
            applyPatternsGreedily(getOperation(), std::move(patterns), config)))
      signalPassFailure();
  }
};

} // namespace
