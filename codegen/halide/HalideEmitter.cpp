// The CPU code generator's algorithm half, its frame: a kernel's arguments,
// function-level ops, fills and outputs, and buildHalidePipeline. The einsums
// (HalideEinsum.cpp), attn.online (HalideOnline.cpp), regions and reads
// (HalideRegions.cpp) and error checks (HalideErrorChecks.cpp) are lowered
// by the same PipelineBuilder (HalideBuilder.h). No schedule here: see
// HalideSchedule.cpp.
#include "codegen/halide/HalideBuilder.h"
#include "codegen/halide/HalideScalarOps.h"
#include "dialect/RuntimeDType.h"

#include "runtime/DType.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>
#include <numeric>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;
namespace rt = ::attn::rt;

//===----------------------------------------------------------------------===//
// Scalar parameters and types
//===----------------------------------------------------------------------===//

H::Expr HalideScalarParam::expr() const {
  H::Expr e;
  if (f32)
    e = *f32;
  else if (f64)
    e = *f64;
  else if (i32)
    e = *i32;
  else if (i64)
    e = *i64;
  else
    e = *u8;
  if (type.is_bool())
    return e != 0;
  return e.type() == type ? e : H::cast(type, e);
}

void HalideScalarParam::bind(H::ParamMap &map, double value) const {
  if (f32)
    map.set(*f32, static_cast<float>(value));
  else if (f64)
    map.set(*f64, value);
  else if (i32)
    map.set(*i32, static_cast<int32_t>(value));
  else if (i64)
    map.set(*i64, static_cast<int64_t>(value));
  else
    map.set(*u8, static_cast<uint8_t>(value != 0));
}

std::optional<H::Type> mlir::attn::halideStorageType(Type type) {
  if (type.isInteger(1))
    return H::UInt(8);
  if (type.isIndex())
    return std::nullopt;
  return halideValueType(type, H::Int(64));
}

//===----------------------------------------------------------------------===//
// Expression helpers and tensor views
//===----------------------------------------------------------------------===//

H::Expr halide::andE(const H::Expr &a, const H::Expr &b) {
  if (isTrue(a))
    return b;
  if (isTrue(b))
    return a;
  return a && b;
}
H::Expr halide::orE(const H::Expr &a, const H::Expr &b) {
  if (isFalse(a))
    return b;
  if (isFalse(b))
    return a;
  return a || b;
}
H::Expr halide::notE(const H::Expr &a) {
  if (isTrue(a))
    return HI::const_false();
  if (isFalse(a))
    return HI::const_true();
  return !a;
}

// The first nonzero error code of `first` (checked first) and `second`.
H::Expr halide::firstError(const H::Expr &first, const H::Expr &second) {
  if (isFalse(first))
    return second;
  if (isFalse(second))
    return first;
  return H::select(first != 0, first, second);
}

// `code` where `cond` holds, else 0.
H::Expr halide::errorIf(const H::Expr &cond, const H::Expr &code) {
  if (isFalse(cond) || isFalse(code))
    return HI::make_zero(H::Int(32));
  if (isTrue(cond))
    return code;
  return H::select(cond, code, 0);
}

H::Expr halide::negInf(H::Type t) {
  return HI::make_const(t, -std::numeric_limits<double>::infinity());
}
H::Expr halide::posInf(H::Type t) {
  return HI::make_const(t, std::numeric_limits<double>::infinity());
}

// The promise holds wherever the read is reached: an extent of 0 has no
// points to reach it from. Only the upper end is promised: Halide then
// intersects the clamp's bounds with it, and the lower end stays as simple
// as the clamp's.
H::Expr halide::clampToExtent(const H::Expr &c, const H::Expr &extent) {
  return H::unsafe_promise_clamped(H::clamp(c, 0, extent - 1), H::Int(32).min(),
                                   extent - 1);
}
H::Expr halide::boundAboveByExtent(const H::Expr &c, const H::Expr &extent) {
  return H::unsafe_promise_clamped(H::min(c, extent - 1), 0, extent - 1);
}

std::pair<H::Expr, H::Expr>
TensorView::load(const std::vector<H::Expr> &coords) const {
  std::vector<H::Expr> args(coords.rbegin(), coords.rend());
  H::Expr value, present = uniformPresent;
  if (domain)
    present = andE(present, domain->contains(coords));
  if (isImage) {
    value = image(args);
  } else {
    H::FuncRef ref = func(args);
    if (numElements == 1) {
      value = ref;
    } else {
      value = ref[0];
      if (presentIndex >= 0)
        present = ref[presentIndex] != 0;
    }
  }
  if (elementType.isInteger(1))
    value = value != 0;
  return {value, present};
}

H::Expr halide::substituteDims(const PresenceExpr &pe,
                               const std::vector<H::Expr> &coords) {
  std::map<std::string, H::Expr> at;
  for (unsigned k = 0; k < pe.dims.size(); ++k)
    at[pe.dims[k]] = coords[k];
  return HI::substitute(at, pe.expr);
}

std::set<std::string> halide::funcsCalled(const H::Expr &e) {
  struct Calls : HI::IRGraphVisitor {
    std::set<std::string> names;
    using HI::IRGraphVisitor::visit;
    void visit(const HI::Call *c) override {
      if (c->call_type == HI::Call::Halide)
        names.insert(c->name);
      HI::IRGraphVisitor::visit(c);
    }
  } calls;
  e.accept(&calls);
  return calls.names;
}

//===----------------------------------------------------------------------===//
// The builder: the kernel, its arguments and function-level ops
//===----------------------------------------------------------------------===//

LogicalResult PipelineBuilder::build() {
  if (kernel.getBody().getBlocks().size() != 1)
    return kernel.emitError("the Halide code generator expects a kernel "
                            "with one block");
  names.reserve("error_code");
  // Arguments first: they keep their names (Halide's own messages then name
  // the tensor, "Input buffer K"), and Funcs avoid them.
  if (failed(addArguments()))
    return failure();
  for (Operation &op : kernel.getBody().front())
    if (failed(visit(&op)))
      return failure();
  buildErrorCheck();
  return success();
}

LogicalResult PipelineBuilder::addArguments() {
  Block &entry = kernel.getBody().front();
  for (BlockArgument arg : entry.getArguments()) {
    unsigned i = arg.getArgNumber();
    HalideArgument a;
    a.type = arg.getType();
    if (auto n = kernel.getArgAttrOfType<StringAttr>(i, kNameAttr))
      a.name = n.str();
    else
      a.name = "arg" + std::to_string(i);
    if (auto dims = kernel.getArgAttrOfType<ArrayAttr>(i, kDimsAttr))
      for (Attribute d : dims)
        if (auto s = dyn_cast<StringAttr>(d))
          a.dims.push_back(s.str());
    std::string hname = names.unique(a.name);
    if (auto tensor = dyn_cast<RankedTensorType>(a.type)) {
      std::optional<H::Type> st = halideStorageType(tensor.getElementType());
      if (!st || !toRuntimeDType(tensor.getElementType()))
        return kernel.emitError("argument ")
               << i << " has element type " << tensor.getElementType()
               << ", which the Halide code generator does not support";
      int rank = tensor.getRank();
      a.image = H::ImageParam(*st, rank, hname);
      TensorView view;
      view.isImage = true;
      view.image = a.image;
      view.elementType = tensor.getElementType();
      view.uniformPresent = HI::const_true();
      view.description = a.name;
      view.argument = i;
      for (int k = 0; k < rank; ++k) {
        HI::Dimension dim = a.image.dim(rank - 1 - k);
        dim.set_min(0);
        if (!tensor.isDynamicDim(k))
          dim.set_extent(static_cast<int>(tensor.getDimSize(k)));
        view.extents.push_back(dim.extent());
      }
      if (rank > 0)
        a.image.dim(0).set_stride(1);
      tensors[arg] = view;
    } else {
      std::optional<H::Type> vt = halideValueType(a.type, H::Int(64));
      if (!vt || !toRuntimeDType(a.type))
        return kernel.emitError("argument ")
               << i << " has type " << a.type
               << ", which the Halide code generator does not support";
      a.isScalar = true;
      HalideScalarParam &s = a.scalar;
      s.type = *vt;
      if (vt->is_float() && vt->bits() <= 32)
        s.f32.emplace(hname);
      else if (vt->is_float())
        s.f64.emplace(hname);
      else if (vt->is_bool())
        s.u8.emplace(hname);
      else if (vt->bits() == 64)
        s.i64.emplace(hname);
      else
        s.i32.emplace(hname);
      scalars[arg] = s.expr();
    }
    p.arguments.push_back(std::move(a));
  }
  return success();
}

LogicalResult PipelineBuilder::visit(Operation *op) {
  if (auto e = dyn_cast<EinsumOp>(op))
    return visitEinsum(e);
  if (auto o = dyn_cast<OnlineOp>(op))
    return visitOnline(o);
  if (auto f = dyn_cast<FillOp>(op))
    return visitFill(f);
  if (auto s = dyn_cast<ScanOp>(op))
    return visitScan(s);
  if (auto r = dyn_cast<func::ReturnOp>(op))
    return visitReturn(r);
  if (auto d = dyn_cast<tensor::DimOp>(op)) {
    std::optional<int64_t> k = d.getConstantIndex();
    auto it = tensors.find(d.getSource());
    if (!k || it == tensors.end() || *k < 0 ||
        *k >= static_cast<int64_t>(it->second.rank()))
      return op->emitOpError("needs a constant dimension of a known "
                             "tensor in the Halide code generator");
    scalars[d.getResult()] = it->second.extents[*k];
    return success();
  }
  if (op->getNumResults() != 1 || isa<ShapedType>(op->getResult(0).getType()))
    return op->emitOpError("is not supported by the Halide code generator");
  FailureOr<H::Expr> e = translateScalarOp(
      op, [&](Value v) { return scalars.lookup(v); }, H::Int(32));
  if (failed(e))
    return failure();
  scalars[op->getResult(0)] = *e;
  return success();
}

H::Expr PipelineBuilder::strict(const H::Expr &e) const {
  return p.strictFloat && e.type().is_float() ? H::strict_float(e) : e;
}
std::vector<H::Expr> PipelineBuilder::strict(std::vector<H::Expr> es) const {
  for (H::Expr &e : es)
    e = strict(e);
  return es;
}

H::Expr PipelineBuilder::accumulate(const H::Expr &acc,
                                    const H::Expr &value) const {
  if (const auto *m = value.as<HI::Mul>(); m && p.strictFloat)
    return acc + strict(m->a) * strict(m->b);
  return acc + strict(value);
}

bool PipelineBuilder::readsStage(const H::Expr &e) const {
  std::set<std::string> names = funcsCalled(e);
  return llvm::any_of(p.stages, [&](const HalideStage &s) {
    return names.count(s.func.name());
  });
}

std::optional<std::string> PipelineBuilder::tensorDimKey(Value t, unsigned k) {
  auto type = cast<RankedTensorType>(t.getType());
  if (!type.isDynamicDim(k))
    return "#" + std::to_string(type.getDimSize(k));
  if (auto arg = dyn_cast<BlockArgument>(t)) {
    if (arg.getOwner() != &kernel.getBody().front())
      return std::nullopt;
    const HalideArgument &a = p.arguments[arg.getArgNumber()];
    if (k < a.dims.size()) {
      long long lit;
      if (!StringRef(a.dims[k]).getAsInteger(10, lit))
        return "#" + std::to_string(lit);
      return "$" + a.dims[k];
    }
    return "@" + std::to_string(arg.getArgNumber()) + "." + std::to_string(k);
  }
  if (auto e = t.getDefiningOp<EinsumOp>()) {
    auto d = cast<AffineDimExpr>(e.getResultMap().getResult(k));
    return sizeKey(e.getSizes()[d.getPosition()]);
  }
  if (auto f = t.getDefiningOp<FillOp>())
    return tensorDimKey(f.getInput(), k);
  if (auto s = t.getDefiningOp<ScanOp>())
    return tensorDimKey(s.getInput(), k);
  if (auto o = t.getDefiningOp<OnlineOp>()) {
    unsigned r = cast<OpResult>(t).getResultNumber();
    AffineMap map = r == 0 ? o.getMaxMap() : o.getSumMap(r - 1);
    auto d = cast<AffineDimExpr>(map.getResult(k));
    return sizeKey(o.getSizes()[d.getPosition()]);
  }
  return std::nullopt;
}

std::optional<std::string> PipelineBuilder::sizeKey(Value v) {
  if (auto c = v.getDefiningOp<arith::ConstantOp>())
    if (auto i = dyn_cast<IntegerAttr>(c.getValue()))
      return "#" + std::to_string(i.getInt());
  if (auto d = v.getDefiningOp<tensor::DimOp>())
    if (std::optional<int64_t> k = d.getConstantIndex())
      return tensorDimKey(d.getSource(), *k);
  // A size read from a scalar argument is equal only to itself.
  if (auto c = v.getDefiningOp<arith::IndexCastOp>())
    if (auto arg = dyn_cast<BlockArgument>(c.getIn()))
      if (arg.getOwner() == &kernel.getBody().front())
        return "%" + std::to_string(arg.getArgNumber());
  // Any other size (the tile count ceildiv(M, T)) is equal to itself.
  if (v.getDefiningOp() && v.getParentBlock() == &kernel.getBody().front())
    return "=" +
           std::to_string(reinterpret_cast<uintptr_t>(v.getAsOpaquePointer()));
  return std::nullopt;
}

bool PipelineBuilder::provablyInRange(Operation *op, unsigned d, Value tensor,
                                      unsigned k) {
  Value size = isa<EinsumOp>(op) ? cast<EinsumOp>(op).getSizes()[d]
                                 : cast<OnlineOp>(op).getSizes()[d];
  std::optional<std::string> a = sizeKey(size), b = tensorDimKey(tensor, k);
  return a && b && *a == *b;
}

std::string PipelineBuilder::funcName(Operation *op, const std::string &suffix,
                                      const std::string &fallback) {
  std::string name = statementName(op);
  return names.unique(name.empty() ? fallback : name + suffix);
}

std::string PipelineBuilder::resultName(unsigned i) {
  auto n = kernel.getResultAttrOfType<StringAttr>(i, kNameAttr);
  return (n ? n.str() : "result" + std::to_string(i)) + "_out";
}

HalideVarRole PipelineBuilder::varRole(Operation *op, unsigned d) {
  HalideVarRole role;
  role.rank = roles.rankOf(op, d);
  role.tileIndex = roles.isTileIndex(role.rank);
  role.tiledSize = roles.tiledSize(role.rank);
  role.padded = roles.isPadded(role.rank);
  return role;
}

FailureOr<TensorView> PipelineBuilder::makeFilled(const TensorView &in,
                                                  Type elementType, double fill,
                                                  Operation *op,
                                                  const std::string &name) {
  std::optional<H::Type> vt = halideValueType(elementType, H::Int(64));
  std::optional<H::Type> st = halideStorageType(elementType);
  std::optional<rt::DType> dt = toRuntimeDType(elementType);
  if (!vt || !st || !dt) {
    op->emitOpError("has an element type the Halide code generator does "
                    "not support");
    return failure();
  }
  unsigned stageIndex = p.stages.size();
  unsigned rank = in.rank();
  std::vector<H::Var> vars;
  std::vector<H::Expr> coords(rank);
  for (unsigned v = 0; v < rank; ++v) {
    vars.push_back(H::Var(name + "_v" + std::to_string(v)));
    coords[rank - 1 - v] = vars.back();
  }
  auto [value, present] = in.load(coords);
  double rounded = rt::roundToDType(fill, *dt);
  H::Expr fillValue =
      vt->is_bool()
          ? H::Expr(rounded != 0 ? HI::const_true() : HI::const_false())
      : vt->is_float() ? HI::make_const(*vt, rounded)
                       : HI::make_const(*vt, static_cast<int64_t>(rounded));
  H::Expr out = halideConvert(value, *vt);
  if (!isTrue(present))
    out = H::select(present, out, fillValue);
  if (vt->is_bool())
    out = H::cast(H::UInt(8), out);

  HalideStage stage;
  stage.name = name;
  stage.func = H::Func(name);
  stage.vars = vars;
  stage.elementwise = true;
  stage.func(std::vector<H::Expr>(vars.begin(), vars.end())) = strict(out);
  p.stages.push_back(stage);
  std::vector<int> links(rank);
  for (unsigned v = 0; v < rank; ++v)
    links[v] = v;
  addUse(in, stageIndex, links);

  TensorView view;
  view.func = p.stages[stageIndex].func;
  view.stage = stageIndex;
  view.elementType = elementType;
  view.uniformPresent = HI::const_true();
  view.extents = in.extents;
  view.description =
      "the filled tensor defined at " + locationText(op->getLoc());
  return view;
}

LogicalResult PipelineBuilder::visitFill(FillOp op) {
  auto it = tensors.find(op.getInput());
  if (it == tensors.end())
    return op.emitOpError("fills a tensor the Halide code generator does "
                          "not know");
  const TensorView &in = it->second;
  std::string name =
      (in.isImage ? in.image.name() : in.func.name()) + "_filled";
  for (OpOperand &use : op.getResult().getUses())
    if (isa<func::ReturnOp>(use.getOwner()))
      name = resultName(use.getOperandNumber());
  FailureOr<TensorView> v = makeFilled(
      in, cast<RankedTensorType>(op.getResult().getType()).getElementType(),
      op.getValue().convertToDouble(), op, names.unique(name));
  if (failed(v))
    return failure();
  tensors[op.getResult()] = *v;
  return success();
}

LogicalResult PipelineBuilder::visitReturn(func::ReturnOp op) {
  for (auto [i, value] : llvm::enumerate(op.getOperands())) {
    auto type = dyn_cast<RankedTensorType>(value.getType());
    auto it = tensors.find(value);
    if (!type || it == tensors.end())
      return op.emitOpError("returns a value that is not a tensor the "
                            "Halide code generator knows");
    TensorView view = it->second;
    // An output is a fill stage of its own; a result that is not one (an
    // unfilled einsum, an argument, a value returned twice) gets one, with
    // the default fill 0.
    bool ownStage = value.getDefiningOp<FillOp>() && view.stage >= 0 &&
                    p.stages[view.stage].output < 0;
    if (!ownStage) {
      FailureOr<TensorView> filled = makeFilled(
          view, type.getElementType(), 0.0, op, names.unique(resultName(i)));
      if (failed(filled))
        return failure();
      view = *filled;
    }
    HalideOutput out;
    out.func = view.func;
    out.elementType = type.getElementType();
    out.storageType = *halideStorageType(type.getElementType());
    out.stage = view.stage;
    p.stages[view.stage].output = p.outputs.size();
    H::OutputImageParam buffer = out.func.output_buffer();
    for (unsigned v = 0; v < view.rank(); ++v)
      buffer.dim(v).set_min(0);
    if (view.rank() > 0)
      buffer.dim(0).set_stride(1);
    p.outputs.push_back(out);
  }
  return success();
}

LogicalResult
mlir::attn::buildHalidePipeline(func::FuncOp kernel, HalidePipeline &pipeline,
                                const HalideCodegenOptions &options,
                                const H::Target &target) {
  int width = options.vectorWidth > 0
                  ? options.vectorWidth
                  : target.natural_vector_size(H::Float(32));
  pipeline.vectorWidth = std::max(1, width);
  pipeline.strictFloat = options.strictFloat;
  bool online = !kernel.getBody().getOps<OnlineOp>().empty();
  pipeline.rowTile = options.rowTile > 0
                         ? options.rowTile
                         : pipeline.vectorWidth * (online ? 2 : 1);
  DimensionRoles roles(kernel);
  // A block of rows divides a tile: the rows of a block that see a tile
  // start at the block (per-tile regions are whole blocks).
  for (int64_t t : roles.tileSizes())
    if (t > 0 && options.rowTile <= 0)
      pipeline.rowTile = std::gcd<int64_t>(pipeline.rowTile, t);
  try {
    PipelineBuilder builder(kernel, pipeline, roles, pipeline.rowTile);
    return builder.build();
  } catch (const H::Error &e) {
    return kernel.emitError("Halide rejected the pipeline: ") << e.what();
  }
}
