// attn.einsum in the reference interpreter: the maps and the filter compiled
// to affine evaluators, the guard and the body to bytecode, then every point
// of the iteration space in order: filter, guard, input presence, body.
#include "codegen/ref/AffineEvaluator.h"
#include "codegen/ref/InterpreterMessages.h"
#include "codegen/ref/KernelInterpreter.h"
#include "codegen/ref/ScalarSemantics.h"

namespace mlir::attn::ref {

void combine(ReductionKind kind, double &acc, double v) {
  switch (kind) {
  case ReductionKind::none:
    acc = v;
    return;
  case ReductionKind::sum:
    acc += v;
    return;
  case ReductionKind::prod:
    acc *= v;
    return;
  case ReductionKind::max:
    acc = maximumF(acc, v);
    return;
  case ReductionKind::min:
    acc = minimumF(acc, v);
    return;
  }
}

namespace {

/// An input of the einsum, read through its map.
struct EinsumInput {
  Tensor *tensor;
  std::vector<AffineEvaluator> index; // one per tensor dimension
  unsigned width;                     // integer width; 0: float
  // When every index is linear and provably in range over the whole
  // iteration space, the element offset is base + sum(coeff * point[d]),
  // with no bounds checks.
  bool inBox = false;
  int64_t flatBase = 0;
  SmallVector<std::pair<unsigned, int64_t>, 6> flatTerms;
};

/// One run of an einsum, its compiled parts and its result.
class EinsumRun {
public:
  EinsumRun(KernelInterpreter &interpreter, EinsumOp op)
      : interpreter(interpreter), op(op),
        where("attn.einsum at " + locationText(op.getLoc())),
        numDims(op.getNumDims()), numInputs(op.getInputs().size()) {}

  LogicalResult run() {
    if (failed(interpreter.iterationSpace(op, op.getSizes(), op.getSymbols(),
                                          where, sizes, symbols, numPoints)) ||
        failed(compileInputs()) || failed(collectTables()) ||
        failed(compileRegions()) || failed(makeResult()) ||
        failed(visitPoints()))
      return failure();
    interpreter.defineTensor(op.getResult(), std::move(out));
    return success();
  }

private:
  KernelInterpreter &interpreter;
  EinsumOp op;
  std::string where;
  unsigned numDims, numInputs;
  // The iteration space and the symbols, fixed for this run.
  SmallVector<int64_t> sizes, symbols;
  int64_t numPoints = 0;
  std::vector<EinsumInput> inputs;
  std::vector<TableView> tables; // for attn.read
  Program guard, body;
  std::unique_ptr<Tensor> out;
  SmallVector<int64_t> resultStride; // the result's offset per dimension
  SmallVector<int64_t> point;        // the point being visited

  LogicalResult compileInputs();
  LogicalResult collectTables();
  LogicalResult compileRegions();
  LogicalResult makeResult();
  LogicalResult visitPoints();
  LogicalResult locateInputs(const int64_t *pt, int64_t *offsets, bool &absent,
                             int &outOfRange);
  LogicalResult outOfRangeRead(unsigned i);

  LogicalResult failAt(const std::string &what, const char *region = "") {
    return interpreter.fail(what + ", in " + region + where +
                            " at iteration point " + pointText(point));
  }
};

LogicalResult EinsumRun::compileInputs() {
  inputs.resize(numInputs);
  for (unsigned i = 0; i < numInputs; ++i) {
    Value v = op.getInputs()[i];
    EinsumInput &in = inputs[i];
    in.tensor = interpreter.tensorOf(v);
    if (!in.tensor)
      return interpreter.fail(where + ": input " + std::to_string(i) +
                              " is not a tensor the interpreter holds");
    AffineMap map = op.getInputMap(i);
    if (map.getNumResults() != in.tensor->shape.size())
      return interpreter.fail(where + ": the map of input " +
                              std::to_string(i) +
                              " does not match the rank of " + in.tensor->name);
    in.index.resize(map.getNumResults());
    for (unsigned r = 0; r < map.getNumResults(); ++r)
      in.index[r].compile(map.getResult(r), symbols);
    in.width = intWidth(cast<RankedTensorType>(v.getType()).getElementType());
    in.inBox = numPoints > 0;
    for (unsigned r = 0; r < map.getNumResults() && in.inBox; ++r)
      in.inBox = in.index[r].staysWithin(sizes, in.tensor->shape[r]);
    if (!in.inBox)
      continue;
    SmallVector<int64_t, 6> coeff(numDims, 0);
    for (unsigned r = 0; r < map.getNumResults(); ++r) {
      int64_t stride = in.tensor->strides[r];
      in.flatBase =
          wrapAdd(in.flatBase, wrapMul(in.index[r].linearConstant(), stride));
      for (auto [d, c] : in.index[r].linearTerms())
        coeff[d] = wrapAdd(coeff[d], wrapMul(c, stride));
    }
    for (unsigned d = 0; d < numDims; ++d)
      if (coeff[d] != 0)
        in.flatTerms.push_back({d, coeff[d]});
  }
  return success();
}

LogicalResult EinsumRun::collectTables() {
  for (Value v : op.getTables()) {
    Tensor *t = interpreter.tensorOf(v);
    if (!t)
      return interpreter.fail(
          where + ": a table is not a tensor the interpreter holds");
    tables.push_back(t->view());
  }
  return success();
}

/// The guard and the body, compiled once; values from outside the regions
/// are the kernel's scalars.
LogicalResult EinsumRun::compileRegions() {
  auto tableIndex = [&](Value v) -> int {
    for (auto [i, t] : llvm::enumerate(op.getTables()))
      if (t == v)
        return static_cast<int>(i);
    return -1;
  };
  auto outer = [&](Value v, Slot &s, std::string &message) {
    if (interpreter.scalarOf(v, s))
      return true;
    message = where + " uses " +
              (isa<TensorType>(v.getType())
                   ? "the tensor " + valueName(v) +
                         " in a region other than through attn.read"
                   : "a value the interpreter did not compute (" +
                         valueName(v) + ")");
    return false;
  };
  std::string &error = interpreter.errorText();
  if (op.hasGuard()) {
    ProgramCompiler compiler(guard, outer, tableIndex, "the guard of " + where);
    if (failed(compiler.compileBlock(op.getGuard().front(), error)))
      return failure();
    if (guard.argSlots.size() != numDims)
      return interpreter.fail(where +
                              ": the guard must take one index per dimension");
  }
  ProgramCompiler compiler(body, outer, tableIndex, "the body of " + where);
  if (failed(compiler.compileBlock(op.getBody().front(), error)))
    return failure();
  if (body.argSlots.size() != numInputs + numDims)
    return interpreter.fail(where + ": the body must take one argument per "
                                    "input and one index per dimension");
  return success();
}

/// The result, every element absent, and its offset per dimension.
LogicalResult EinsumRun::makeResult() {
  auto resultType = cast<RankedTensorType>(op.getResult().getType());
  SmallVector<unsigned> resultDims;
  SmallVector<int64_t> resultShape;
  for (AffineExpr e : op.getResultMap().getResults()) {
    auto d = dyn_cast<AffineDimExpr>(e);
    if (!d)
      return interpreter.fail(where +
                              ": the result map must name dimensions only");
    resultDims.push_back(d.getPosition());
    resultShape.push_back(sizes[d.getPosition()]);
  }
  for (int64_t d = 0; d < resultType.getRank(); ++d)
    if (!resultType.isDynamicDim(d) &&
        resultType.getDimSize(d) != resultShape[d])
      return interpreter.fail(
          where + ": the result has extent " + std::to_string(resultShape[d]) +
          " in dimension " + std::to_string(d) + " but its type " +
          typeText(resultType) + " requires " +
          std::to_string(resultType.getDimSize(d)));
  int64_t resultCount = checkedCount(resultShape, kMaxElements);
  if (resultCount < 0)
    return interpreter.fail(where + ": the result " + listText(resultShape) +
                            " is too large for the reference interpreter");
  out = std::make_unique<Tensor>();
  out->setShape(resultShape);
  out->name = valueName(op.getResult());
  out->values.assign(resultCount, 0.0);
  out->present.assign(resultCount, 0);
  resultStride.assign(numDims, 0);
  for (auto [k, d] : llvm::enumerate(resultDims))
    resultStride[d] += out->strides[k];
  return success();
}

/// The element offset of every input at `pt`. `absent` when an input
/// element that is in range is absent; otherwise `outOfRange` is the first
/// input whose map leaves its tensor (-1: none). Fails on a division by zero.
LogicalResult EinsumRun::locateInputs(const int64_t *pt, int64_t *offsets,
                                      bool &absent, int &outOfRange) {
  absent = false;
  outOfRange = -1;
  for (unsigned i = 0; i < numInputs && !absent; ++i) {
    const EinsumInput &in = inputs[i];
    const Tensor &t = *in.tensor;
    if (in.inBox) {
      int64_t offset = in.flatBase;
      for (auto [d, c] : in.flatTerms)
        offset = wrapAdd(offset, wrapMul(c, pt[d]));
      if (!t.present.empty() && !t.present[offset])
        absent = true;
      offsets[i] = offset;
      continue;
    }
    int64_t offset = 0;
    bool inRange = true;
    for (size_t r = 0; r < in.index.size(); ++r) {
      int64_t x;
      if (!in.index[r].eval(pt, x))
        return failAt("division by zero in the map of input " +
                      std::to_string(i));
      if (x < 0 || x >= t.shape[r]) {
        inRange = false;
        break;
      }
      offset += x * t.strides[r];
    }
    if (!inRange) {
      if (outOfRange < 0)
        outOfRange = static_cast<int>(i);
      continue;
    }
    if (!t.present.empty() && !t.present[offset])
      absent = true;
    offsets[i] = offset;
  }
  return success();
}

LogicalResult EinsumRun::outOfRangeRead(unsigned i) {
  const EinsumInput &in = inputs[i];
  SmallVector<int64_t> index;
  int64_t badDim = -1;
  for (size_t r = 0; r < in.index.size(); ++r) {
    int64_t x = 0;
    in.index[r].eval(point.data(), x);
    index.push_back(x);
    if (badDim < 0 && (x < 0 || x >= in.tensor->shape[r]))
      badDim = static_cast<int64_t>(r);
  }
  return failAt("out-of-range read of " + in.tensor->name + " at index " +
                listText(index) + ": dimension " + std::to_string(badDim) +
                " has extent " + std::to_string(in.tensor->shape[badDim]) +
                " (shape " + listText(in.tensor->shape) +
                "), through the map of input " + std::to_string(i));
}

/// Visits every point: filter, guard, inputs, body; a point that survives
/// them all is combined into the result.
LogicalResult EinsumRun::visitPoints() {
  CompiledFilter filter(op.getFilter(), symbols);
  bool hasGuard = op.hasGuard();
  ReductionKind kind = op.getKind();
  point.assign(numDims, 0);
  std::vector<Slot> guardSlots = guard.slots, bodySlots = body.slots;
  std::vector<int64_t> offsets(numInputs);
  std::string message;
  for (int64_t visited = 0; visited < numPoints; ++visited) {
    if (visited != 0)
      advancePoint(point, sizes);
    const int64_t *pt = point.data();

    bool divByZero;
    if (!filter.contains(pt, divByZero)) {
      if (divByZero)
        return failAt("division by zero in the filter");
      continue;
    }

    if (hasGuard) {
      for (unsigned d = 0; d < numDims; ++d)
        guardSlots[guard.argSlots[d]].i = pt[d];
      RunStatus status = runProgram(guard, guardSlots.data(), 0,
                                    guard.code.size(), tables.data(), message);
      if (status == RunStatus::error)
        return failAt(message, "the guard of ");
      if (status == RunStatus::absent || guardSlots[guard.result].i == 0)
        continue;
    }

    bool absent;
    int outOfRange;
    if (failed(locateInputs(pt, offsets.data(), absent, outOfRange)))
      return failure();
    if (absent)
      continue;
    if (outOfRange >= 0)
      return outOfRangeRead(outOfRange);

    for (unsigned i = 0; i < numInputs; ++i) {
      double v = inputs[i].tensor->values[offsets[i]];
      Slot &s = bodySlots[body.argSlots[i]];
      if (inputs[i].width == 0)
        s.f = v;
      else
        s.i = intFromDouble(v, inputs[i].width);
    }
    for (unsigned d = 0; d < numDims; ++d)
      bodySlots[body.argSlots[numInputs + d]].i = pt[d];
    RunStatus status = runProgram(body, bodySlots.data(), 0, body.code.size(),
                                  tables.data(), message);
    if (status == RunStatus::error)
      return failAt(message, "the body of ");
    if (status == RunStatus::absent)
      continue;
    const Slot &r = bodySlots[body.result];
    double v = body.resultWidth ? storedFromInt(r.i, body.resultWidth) : r.f;

    int64_t o = 0;
    for (unsigned d = 0; d < numDims; ++d)
      o += pt[d] * resultStride[d];
    if (!out->present[o]) {
      out->present[o] = 1;
      out->values[o] = v;
    } else {
      combine(kind, out->values[o], v);
    }
  }
  return success();
}

} // namespace

LogicalResult runEinsum(KernelInterpreter &interpreter, EinsumOp op) {
  return EinsumRun(interpreter, op).run();
}

} // namespace mlir::attn::ref
