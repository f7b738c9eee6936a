// attn.scan in the reference interpreter: every line along the scanned
// dimension walked in order, the running value carried from point to point.
#include "codegen/ref/InterpreterMessages.h"
#include "codegen/ref/KernelInterpreter.h"

namespace mlir::attn::ref {

LogicalResult runScan(KernelInterpreter &interpreter, ScanOp op) {
  Tensor *in = interpreter.tensorOf(op.getInput());
  if (!in)
    return interpreter.fail("attn.scan at " + locationText(op.getLoc()) +
                            " reads a tensor the interpreter does not hold");
  auto out = std::make_unique<Tensor>();
  out->setShape(in->shape);
  out->name = valueName(op.getResult());
  out->values.assign(in->values.size(), 0.0);
  out->present.assign(in->values.size(), 0);
  int64_t dim = op.getDim();
  int64_t extent = in->shape[dim], stride = in->strides[dim];
  ReductionKind kind = op.getKind();
  // A line starts at every element whose coordinate along `dim` is 0.
  for (size_t start = 0; start < in->values.size(); ++start) {
    if ((static_cast<int64_t>(start) / stride) % extent != 0)
      continue;
    bool carried = false;
    double acc = 0;
    for (int64_t t = 0; t < extent; ++t) {
      size_t k = start + t * stride;
      if (in->present.empty() || in->present[k]) {
        if (carried)
          combine(kind, acc, in->values[k]);
        else
          acc = in->values[k];
        carried = true;
      }
      out->values[k] = acc;
      out->present[k] = carried;
    }
  }
  interpreter.defineTensor(op.getResult(), std::move(out));
  return success();
}

} // namespace mlir::attn::ref
