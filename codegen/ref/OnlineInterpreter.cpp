// attn.online in the reference interpreter, evaluated the way a kernel does
// it: one traversal, each sum keeping a running reference and rescaling when
// it grows, then every sum brought to the final maximum.
#include "codegen/ref/AffineEvaluator.h"
#include "codegen/ref/InterpreterMessages.h"
#include "codegen/ref/KernelInterpreter.h"

namespace mlir::attn::ref {
namespace {

/// An accessor: a tensor and the compiled map that reads it.
struct Access {
  Tensor *tensor = nullptr;
  std::vector<AffineEvaluator> index;
  /// The element offset at `pt`; -1 when out of range; -2 on a division by
  /// zero.
  int64_t offset(const int64_t *pt) const {
    int64_t o = 0;
    for (size_t r = 0; r < index.size(); ++r) {
      int64_t x;
      if (!index[r].eval(pt, x))
        return -2;
      if (x < 0 || x >= tensor->shape[r])
        return -1;
      o += x * tensor->strides[r];
    }
    return o;
  }
  bool present(int64_t o) const {
    return tensor->present.empty() || tensor->present[o];
  }
};

/// One run of an attn.online. The result is the definition in AttnOps.td
/// exactly (up to rounding), whatever the traversal order.
class OnlineRun {
public:
  OnlineRun(KernelInterpreter &interpreter, OnlineOp op)
      : interpreter(interpreter), op(op),
        where("attn.online at " + locationText(op.getLoc())),
        numDims(op.getNumDims()), numParts(op.getNumParts()) {}

  LogicalResult run() {
    if (failed(interpreter.iterationSpace(op, op.getSizes(), op.getSymbols(),
                                          where, sizes, symbols, numPoints)) ||
        failed(compileAccesses()) || failed(makeResults()) ||
        failed(visitPoints()))
      return failure();
    rescaleToFinalMax();
    interpreter.defineTensor(op.getMax(), std::move(maxT));
    for (unsigned i = 0; i < numParts; ++i)
      interpreter.defineTensor(op.getSums()[i], std::move(sums[i]));
    return success();
  }

private:
  KernelInterpreter &interpreter;
  OnlineOp op;
  std::string where;
  unsigned numDims, numParts;
  SmallVector<int64_t> sizes, symbols;
  int64_t numPoints = 0;
  Access ref;
  std::vector<Access> parts;
  // The results; element offsets are linear in the point.
  std::unique_ptr<Tensor> maxT;
  SmallVector<int64_t> maxStride;
  std::vector<std::unique_ptr<Tensor>> sums;
  std::vector<SmallVector<int64_t>> sumStride;
  // Each sum point's running reference, in the frame of which it is held.
  std::vector<std::vector<double>> frames;
  std::vector<double> rescale;
  // Each result sums over the reduced dimensions only: a point contributes
  // to it when the dimensions that are neither reduced nor its own are 0.
  std::vector<SmallVector<unsigned>> sumForeign;
  SmallVector<unsigned> maxForeign;
  SmallVector<int64_t> point; // the point being visited

  LogicalResult compileAccess(Value v, AffineMap map, Access &a);
  LogicalResult compileAccesses();
  std::unique_ptr<Tensor> makeResult(Value v, AffineMap map,
                                     SmallVector<int64_t> &stride);
  SmallVector<unsigned> foreignDims(AffineMap map);
  LogicalResult makeResults();
  LogicalResult visitPoints();
  void rescaleToFinalMax();

  LogicalResult badAccess(const Access &a, int64_t code) {
    return interpreter.fail(where +
                            (code == -2
                                 ? ": division by zero in a map"
                                 : ": out-of-range read of " + a.tensor->name) +
                            " at iteration point " + pointText(point));
  }
  static bool atOrigin(const int64_t *pt, ArrayRef<unsigned> dims) {
    return llvm::all_of(dims, [&](unsigned d) { return pt[d] == 0; });
  }
};

LogicalResult OnlineRun::compileAccess(Value v, AffineMap map, Access &a) {
  a.tensor = interpreter.tensorOf(v);
  if (!a.tensor || map.getNumResults() != a.tensor->shape.size())
    return interpreter.fail(where +
                            ": an input is not a tensor the "
                            "interpreter holds with the rank of its map");
  a.index.resize(map.getNumResults());
  for (unsigned r = 0; r < map.getNumResults(); ++r)
    a.index[r].compile(map.getResult(r), symbols);
  return success();
}

LogicalResult OnlineRun::compileAccesses() {
  if (failed(compileAccess(op.getRef(), op.getRefMap(), ref)))
    return failure();
  parts.resize(numParts);
  for (unsigned i = 0; i < numParts; ++i)
    if (failed(compileAccess(op.getParts()[i], op.getPartMap(i), parts[i])))
      return failure();
  return success();
}

/// A result with the extents of the dimensions `map` names, every element
/// absent; null when too large. `stride` gets its offset per dimension.
std::unique_ptr<Tensor> OnlineRun::makeResult(Value v, AffineMap map,
                                              SmallVector<int64_t> &stride) {
  SmallVector<int64_t> shape;
  for (AffineExpr e : map.getResults())
    shape.push_back(sizes[cast<AffineDimExpr>(e).getPosition()]);
  auto t = std::make_unique<Tensor>();
  t->setShape(shape);
  t->name = valueName(v);
  int64_t n = checkedCount(shape, kMaxElements);
  if (n < 0)
    return std::unique_ptr<Tensor>();
  t->values.assign(n, 0.0);
  t->present.assign(n, 0);
  stride.assign(numDims, 0);
  for (auto [k, e] : llvm::enumerate(map.getResults()))
    stride[cast<AffineDimExpr>(e).getPosition()] += t->strides[k];
  return t;
}

/// The dimensions that are neither reduced nor named by `map`.
SmallVector<unsigned> OnlineRun::foreignDims(AffineMap map) {
  SmallVector<unsigned> reducedDims = op.getReducedDims();
  SmallVector<unsigned> foreign;
  for (unsigned d = 0; d < numDims; ++d)
    if (!llvm::is_contained(reducedDims, d) &&
        !llvm::any_of(map.getResults(), [&](AffineExpr e) {
          return cast<AffineDimExpr>(e).getPosition() == d;
        }))
      foreign.push_back(d);
  return foreign;
}

LogicalResult OnlineRun::makeResults() {
  maxT = makeResult(op.getMax(), op.getMaxMap(), maxStride);
  sumStride.resize(numParts);
  frames.resize(numParts);
  for (unsigned i = 0; i < numParts; ++i) {
    sums.push_back(makeResult(op.getSums()[i], op.getSumMap(i), sumStride[i]));
    if (!sums.back())
      return interpreter.fail(where +
                              ": a result is too large for the interpreter");
    frames[i].assign(sums[i]->values.size(), 0.0);
    rescale.push_back(cast<FloatAttr>(op.getRescale()[i]).getValueAsDouble());
  }
  if (!maxT)
    return interpreter.fail(where +
                            ": a result is too large for the interpreter");
  for (unsigned i = 0; i < numParts; ++i)
    sumForeign.push_back(foreignDims(op.getSumMap(i)));
  maxForeign = foreignDims(op.getMaxMap());
  return success();
}

/// The traversal: the running max, and each sum rescaled to the larger of
/// its running reference and the point's reference before adding to it.
LogicalResult OnlineRun::visitPoints() {
  CompiledFilter filter(op.getFilter(), symbols);
  point.assign(numDims, 0);
  for (int64_t visited = 0; visited < numPoints; ++visited) {
    if (visited != 0)
      advancePoint(point, sizes);
    const int64_t *pt = point.data();
    bool divByZero;
    if (!filter.contains(pt, divByZero)) {
      if (divByZero)
        return interpreter.fail(where +
                                ": division by zero in the filter at "
                                "iteration point " +
                                pointText(point));
      continue;
    }
    int64_t ro = ref.offset(pt);
    if (ro < 0)
      return badAccess(ref, ro);
    if (!ref.present(ro))
      continue;
    double r = ref.tensor->values[ro];
    int64_t mo = 0;
    for (unsigned d = 0; d < numDims; ++d)
      mo += pt[d] * maxStride[d];
    if (atOrigin(pt, maxForeign)) {
      if (!maxT->present[mo] || r > maxT->values[mo])
        maxT->values[mo] = r;
      maxT->present[mo] = 1;
    }
    for (unsigned i = 0; i < numParts; ++i) {
      if (!atOrigin(pt, sumForeign[i]))
        continue;
      int64_t po = parts[i].offset(pt);
      if (po < 0)
        return badAccess(parts[i], po);
      if (!parts[i].present(po))
        continue;
      double v = parts[i].tensor->values[po];
      int64_t so = 0;
      for (unsigned d = 0; d < numDims; ++d)
        so += pt[d] * sumStride[i][d];
      Tensor &sum = *sums[i];
      double &frame = frames[i][so];
      if (!sum.present[so]) {
        sum.present[so] = 1;
        sum.values[so] = v;
        frame = r;
        continue;
      }
      double next = std::max(frame, r);
      sum.values[so] = sum.values[so] * std::exp(rescale[i] * (next - frame)) +
                       v * std::exp(rescale[i] * (next - r));
      frame = next;
    }
  }
  return success();
}

/// Brings every sum to the final maximum of its point.
void OnlineRun::rescaleToFinalMax() {
  for (unsigned i = 0; i < numParts; ++i) {
    Tensor &sum = *sums[i];
    SmallVector<int64_t> at(numDims, 0);
    // The max point of a sum point: walk the sum's own indices.
    AffineMap sumMap = op.getSumMap(i), maxMap = op.getMaxMap();
    for (size_t k = 0; k < sum.values.size(); ++k) {
      if (!sum.present[k])
        continue;
      int64_t rest = static_cast<int64_t>(k);
      for (auto [j, e] : llvm::enumerate(sumMap.getResults())) {
        at[cast<AffineDimExpr>(e).getPosition()] = rest / sum.strides[j];
        rest %= sum.strides[j];
      }
      int64_t mo = 0;
      for (AffineExpr e : maxMap.getResults()) {
        unsigned d = cast<AffineDimExpr>(e).getPosition();
        mo += at[d] * maxStride[d];
      }
      sum.values[k] *= std::exp(rescale[i] * (maxT->values[mo] - frames[i][k]));
    }
  }
}

} // namespace

LogicalResult runOnline(KernelInterpreter &interpreter, OnlineOp op) {
  return OnlineRun(interpreter, op).run();
}

} // namespace mlir::attn::ref
