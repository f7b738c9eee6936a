// attn.scan in the Halide pipeline: a recurrence. The Func holds each element
// of the input, then an update over an RDom walked in order along the scanned
// dimension carries the running value: O(extent) per line.
#include "codegen/halide/HalideBuilder.h"
#include "codegen/halide/HalideScalarOps.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;

namespace {

/// `acc` combined with `value` by `kind` (a scan's kind is never none).
H::Expr combineScan(ReductionKind kind, const H::Expr &acc,
                    const H::Expr &value) {
  switch (kind) {
  case ReductionKind::prod:
    return acc * value;
  case ReductionKind::max:
    return H::max(acc, value);
  case ReductionKind::min:
    return H::min(acc, value);
  case ReductionKind::sum:
  case ReductionKind::none:
    break;
  }
  return acc + value;
}

} // namespace

LogicalResult PipelineBuilder::visitScan(ScanOp op) {
  auto it = tensors.find(op.getInput());
  if (it == tensors.end())
    return op.emitOpError("scans a tensor the Halide code generator does "
                          "not know");
  const TensorView in = it->second;
  Type elementType = op.getType().getElementType();
  std::optional<H::Type> vt = halideValueType(elementType, H::Int(64));
  if (!vt || !vt->is_float())
    return op.emitOpError("scans an element type the Halide code generator "
                          "does not support");
  unsigned rank = in.rank();
  unsigned dim = op.getDim();
  unsigned scanVar = rank - 1 - dim; // Halide order: var 0 is innermost
  std::string name = funcName(op, "_scan", "scan");
  unsigned stageIndex = p.stages.size();

  // The input is read in range only: per-tile stages of the one-pass form
  // may ask for the scan past its extents (padded tiles, masked there).
  std::vector<H::Var> vars;
  std::vector<H::Expr> coords(rank);
  for (unsigned v = 0; v < rank; ++v) {
    vars.push_back(H::Var(name + "_v" + std::to_string(v)));
    unsigned k = rank - 1 - v;
    coords[k] = H::clamp(vars.back(), 0, H::max(in.extents[k] - 1, 0));
  }
  std::vector<H::Expr> pureArgs(vars.begin(), vars.end());
  H::Func f(name);
  auto [first, firstPresent] = in.load(coords);
  f(pureArgs) = H::Tuple(strict(halideConvert(first, *vt)),
                         H::cast(H::UInt(8), firstPresent));

  // t = 1 .. extent-1 in order: f(t) = f(t - 1) combined with input(t).
  H::Expr extent = in.extents[dim];
  H::RDom r(1, H::max(extent - 1, 0), name + "_t");
  std::vector<H::Expr> at = pureArgs, before = pureArgs, atCoords = coords;
  at[scanVar] = r.x;
  before[scanVar] = r.x - 1;
  atCoords[dim] = r.x;
  auto [value, present] = in.load(atCoords);
  value = halideConvert(value, *vt);
  H::FuncRef prev = f(before);
  H::Expr carried = prev[0], carriedPresent = prev[1] != 0;
  H::Expr next = H::select(
      carriedPresent, strict(combineScan(op.getKind(), carried, value)), value);
  if (!isTrue(present))
    next = H::select(present, next, carried);
  f(at) =
      H::Tuple(strict(next), H::cast(H::UInt(8), orE(present, carriedPresent)));

  // The lines are independent: the scheduler sees the other vars only (it
  // vectorizes and parallelizes them), materialized in full.
  HalideStage stage;
  stage.name = name;
  stage.func = f;
  stage.rvars = {r.x};
  stage.mustBeRoot = true;
  std::vector<int> links(rank, -1);
  for (unsigned v = 0; v < rank; ++v) {
    if (v == scanVar)
      continue;
    links[v] = stage.vars.size();
    stage.vars.push_back(vars[v]);
    stage.extents.push_back(in.extents[rank - 1 - v]);
    stage.varRoles.push_back(HalideVarRole());
  }
  p.stages.push_back(stage);
  addUse(in, stageIndex, links);

  TensorView view;
  view.func = f;
  view.stage = stageIndex;
  view.elementType = elementType;
  view.numElements = 2;
  view.presentIndex = 1;
  view.uniformPresent = HI::const_true();
  view.extents = in.extents;
  view.description = "the scan defined at " + locationText(op.getLoc());
  tensors[op.getResult()] = view;
  return success();
}
