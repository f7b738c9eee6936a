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

/// An elementwise producer folded into a consumer: the edge it is read
/// through, and where its dimensions land in the rebuilt op.
struct Folded {
  EinsumOp producer;
  EinsumOp reader; // the consumer or another folded producer
  unsigned pos;    // the input of `reader` that is `producer`
  SmallVector<AffineExpr> place;
};

/// `consumer` rebuilt with the bodies of `folded` (a tree of producers
/// under it, parents before children) in place of the inputs that read
/// them; duplicate inputs (same tensor and map) folded. Each producer's body
/// is cloned once, so a chain of n statements rebuilds in time linear in n.
EinsumOp rebuild(PatternRewriter &rewriter, EinsumOp consumer,
                 MutableArrayRef<Folded> folded) {
  bool named = consumer->hasAttr(kIndicesAttr);
  EinsumBuilder nb(rewriter, consumer.getLoc(), consumer.getSizes(),
                   named ? indexNames(consumer) : SmallVector<std::string>());
  SmallVector<AffineExpr> identity;
  for (unsigned d = 0; d < consumer.getNumDims(); ++d)
    identity.push_back(nb.dim(d));
  // Where each producer's dimensions land: its result position r is read at
  // its reader's dimension access[r], placed where the reader's land.
  DenseMap<Operation *, unsigned> indexOf;
  auto placeOf = [&](EinsumOp e) -> ArrayRef<AffineExpr> {
    return e == consumer ? ArrayRef<AffineExpr>(identity)
                         : ArrayRef<AffineExpr>(folded[indexOf[e]].place);
  };
  for (auto [i, f] : llvm::enumerate(folded)) {
    indexOf[f.producer] = i;
    AffineMap access = f.reader.getInputMap(f.pos);
    AffineMap result = f.producer.getResultMap();
    ArrayRef<AffineExpr> readerPlace = placeOf(f.reader);
    f.place.assign(f.producer.getNumDims(), AffineExpr());
    for (unsigned r = 0; r < result.getNumResults(); ++r)
      f.place[result.getDimPosition(r)] = readerPlace[access.getDimPosition(r)];
  }
  // Inputs keep their order, a producer's taking its result's place: a
  // post-order walk (explicit, a chain may be long) clones each producer's
  // inputs, then its body where its reader read it.
  IRMapping known;
  struct Frame {
    EinsumOp op;
    unsigned next;
  };
  SmallVector<Frame> stack{{consumer, 0}};
  while (!stack.empty()) {
    Frame &top = stack.back();
    EinsumOp op = top.op;
    Block &body = op.getBody().front();
    if (top.next < op.getInputs().size()) {
      unsigned i = top.next++;
      auto p = op.getInputs()[i].getDefiningOp<EinsumOp>();
      auto it = p ? indexOf.find(p) : indexOf.end();
      if (it != indexOf.end() && folded[it->second].reader == op &&
          folded[it->second].pos == i)
        stack.push_back({p, 0});
      else
        nb.clone(nb.body(), op, body.getArgument(i), placeOf(op), known);
      continue;
    }
    stack.pop_back();
    if (op == consumer)
      break;
    Folded &f = folded[indexOf[op]];
    known.map(f.reader.getBody().front().getArgument(f.pos),
              nb.clone(nb.body(), op, body.getTerminator()->getOperand(0),
                       f.place, known));
  }
  Block &body = consumer.getBody().front();
  Value value = nb.clone(nb.body(), consumer,
                         body.getTerminator()->getOperand(0), identity, known);

  // The filter: the intersection of all, multiplied out.
  SmallVector<std::pair<EinsumOp, ArrayRef<AffineExpr>>> sources{
      {consumer, identity}};
  for (const Folded &f : folded)
    sources.push_back({f.producer, f.place});
  if (llvm::any_of(sources, [](auto &s) { return s.first.hasFilter(); })) {
    auto all = placedFilter(nb, consumer, identity);
    for (auto &src : MutableArrayRef(sources).drop_front()) {
      if (!src.first.hasFilter())
        continue;
      decltype(all) product;
      for (auto &a : all)
        for (auto &b : placedFilter(nb, src.first, src.second)) {
          auto &conj = product.emplace_back(a);
          conj.first.append(b.first);
          conj.second.append(b.second);
        }
      all = std::move(product);
    }
    for (auto &conj : all)
      nb.addFilterConjunction(conj.first, conj.second);
  }

  // Every guard is evaluated: each ran at these points before.
  Value guard;
  for (auto &src : sources) {
    if (!src.first.hasGuard())
      continue;
    IRMapping guardKnown;
    Value g =
        nb.clone(nb.guard(), src.first,
                 src.first.getGuard().front().getTerminator()->getOperand(0),
                 src.second, guardKnown);
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

/// The einsum `producer` folds into and the input it is read at: an
/// elementwise einsum with one use, as an input read at distinct bare
/// dimensions that (unless `allowRecompute`) name every dimension of the
/// reader.
EinsumOp foldsInto(EinsumOp producer, bool allowRecompute, unsigned &pos) {
  if (producer.getKind() != ReductionKind::none ||
      !producer.getResult().hasOneUse())
    return {};
  OpOperand &use = *producer.getResult().use_begin();
  auto consumer = dyn_cast<EinsumOp>(use.getOwner());
  pos = use.getOperandNumber();
  if (!consumer || pos >= consumer.getInputs().size())
    return {};
  AffineMap access = consumer.getInputMap(pos);
  if (!namesDistinctDims(access))
    return {};
  if (!allowRecompute && access.getNumResults() != consumer.getNumDims())
    return {};
  return consumer;
}

/// Folds the tree of elementwise producers under an einsum (that does not
/// itself fold into another) into it, in one rebuild.
struct FuseIntoConsumer : public OpRewritePattern<EinsumOp> {
  FuseIntoConsumer(MLIRContext *ctx, bool allowRecompute)
      : OpRewritePattern(ctx), allowRecompute(allowRecompute) {}

  LogicalResult matchAndRewrite(EinsumOp consumer,
                                PatternRewriter &rewriter) const override {
    unsigned pos = 0;
    if (foldsInto(consumer, allowRecompute, pos))
      return failure(); // its own consumer takes it with its producers
    SmallVector<Folded> folded;
    auto collect = [&](EinsumOp reader) {
      for (Value in : reader.getInputs()) {
        auto p = in.getDefiningOp<EinsumOp>();
        if (p && foldsInto(p, allowRecompute, pos) == reader)
          folded.push_back({p, reader, pos, {}});
      }
    };
    collect(consumer);
    for (unsigned i = 0; i < folded.size(); ++i)
      collect(folded[i].producer);
    if (folded.empty())
      return failure();

    EinsumOp fused = rebuild(rewriter, consumer, folded);
    // Dimensions of the consumer a producer's placement does not name: its
    // body runs again for each of their values.
    SmallVector<std::string> names = indexNames(consumer);
    for (const Folded &f : folded) {
      llvm::SmallBitVector named(consumer.getNumDims());
      for (AffineExpr x : f.place)
        if (auto d = dyn_cast<AffineDimExpr>(x))
          named.set(d.getPosition());
      std::string again;
      for (unsigned d = 0; d < consumer.getNumDims(); ++d)
        if (!named.test(d))
          again += (again.empty() ? "" : ", ") + names[d];
      auto remark = fused.emitRemark()
                    << "fused the elementwise einsum of " << lineOf(f.producer);
      if (!again.empty())
        remark << ", recomputed along " << again;
    }
    rewriter.replaceOp(consumer, fused.getResult());
    for (const Folded &f : llvm::reverse(folded))
      rewriter.eraseOp(f.producer);
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
    rewriter.replaceOp(op, rebuild(rewriter, op, {}).getResult());
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
