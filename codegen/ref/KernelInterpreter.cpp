// The reference interpreter's walk over one kernel: binding the arguments,
// running the body op by op (scalar ops through the bytecode, tensor ops by
// their runners), and collecting the returned tensors.
#include "codegen/ref/KernelInterpreter.h"
#include "codegen/ref/InterpreterMessages.h"
#include "codegen/ref/ScalarSemantics.h"

#include "dialect/RuntimeDType.h"
#include "runtime/DType.h"

#include "llvm/ADT/TypeSwitch.h"

namespace mlir::attn::ref {

int64_t checkedCount(ArrayRef<int64_t> shape, int64_t limit) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0)
      return -1;
    if (d == 0)
      return 0;
  }
  for (int64_t d : shape) {
    if (n > limit / d)
      return -1;
    n *= d;
  }
  return n;
}

void Tensor::setShape(ArrayRef<int64_t> s) {
  shape.assign(s.begin(), s.end());
  strides.assign(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;)
    strides[i - 1] = strides[i] * s[i];
}

TableView Tensor::view() const {
  TableView t;
  t.values = values.data();
  t.present = present.empty() ? nullptr : present.data();
  t.shape = shape.data();
  t.strides = strides.data();
  t.rank = static_cast<unsigned>(shape.size());
  t.name = name;
  return t;
}

KernelInterpreter::KernelInterpreter(func::FuncOp kernel, std::string &error)
    : kernel(kernel), error(error),
      funcCompiler(funcProgram, nullptr, nullptr,
                   "kernel " + kernel.getSymName().str()) {}

Tensor *KernelInterpreter::tensorOf(Value v) {
  auto it = tensors.find(v);
  return it == tensors.end() ? nullptr : it->second.get();
}

void KernelInterpreter::defineTensor(Value v, std::unique_ptr<Tensor> t) {
  tensors[v] = std::move(t);
}

bool KernelInterpreter::scalarOf(Value v, Slot &out) {
  std::optional<int32_t> slot = funcCompiler.lookup(v);
  if (!slot)
    return false;
  out = funcProgram.slots[*slot];
  return true;
}

LogicalResult KernelInterpreter::fail(const std::string &message) {
  error = message;
  return failure();
}

LogicalResult KernelInterpreter::iterationSpace(
    Operation *op, ValueRange sizeValues, ValueRange symbolValues,
    const std::string &where, SmallVector<int64_t> &sizes,
    SmallVector<int64_t> &symbols, int64_t &numPoints) {
  for (Value v : sizeValues) {
    int64_t n;
    if (failed(indexOf(v, n, op, "size")))
      return failure();
    if (n < 0)
      return fail(where + ": dimension d" + std::to_string(sizes.size()) +
                  " has a negative extent (" + std::to_string(n) + ")");
    sizes.push_back(n);
  }
  for (Value v : symbolValues) {
    int64_t n;
    if (failed(indexOf(v, n, op, "symbol")))
      return failure();
    symbols.push_back(n);
  }
  numPoints = checkedCount(sizes, kMaxPoints);
  if (numPoints < 0)
    return fail(where + ": the iteration space " + listText(sizes) +
                " is too large for the reference interpreter");
  return success();
}

LogicalResult KernelInterpreter::indexOf(Value v, int64_t &out, Operation *user,
                                         const char *what) {
  Slot s;
  if (!intWidth(v.getType()) || !scalarOf(v, s))
    return fail(std::string("the ") + what + " operand of " + opText(user) +
                " is not an index computed by the kernel");
  out = s.i;
  return success();
}

//===----------------------------------------------------------------------===//
// Arguments: their number, scalar versus tensor, rank, static extents, and
// that extents with the same attn.dims symbol agree.
//===----------------------------------------------------------------------===//

LogicalResult KernelInterpreter::bindArguments(ArrayRef<RefArg> args) {
  std::string kname = kernel.getSymName().str();
  unsigned n = kernel.getNumArguments();
  if (args.size() != n) {
    std::string names;
    for (unsigned i = 0; i < n; ++i)
      names += (i ? ", " : "") + argName(kernel, i);
    return fail("kernel " + kname + " takes " + std::to_string(n) +
                " argument" + (n == 1 ? "" : "s") + " (" + names + "), got " +
                std::to_string(args.size()));
  }
  std::map<std::string, SymbolUse> symbols;
  for (unsigned i = 0; i < n; ++i) {
    Type type = kernel.getArgument(i).getType();
    auto tt = dyn_cast<RankedTensorType>(type);
    if (tt && args[i].isScalar)
      return fail("argument " + argName(kernel, i) + " of kernel " + kname +
                  " is a tensor (" + typeText(type) +
                  ") but a scalar was given");
    if (failed(tt ? bindTensor(i, tt, args[i].tensor, symbols)
                  : bindScalar(i, type, args[i])))
      return failure();
  }
  return success();
}

LogicalResult
KernelInterpreter::bindTensor(unsigned i, RankedTensorType type,
                              const RefTensor &t,
                              std::map<std::string, SymbolUse> &symbols) {
  std::string name = argName(kernel, i);
  if (static_cast<int64_t>(t.shape.size()) != type.getRank())
    return fail("argument " + name + " has rank " +
                std::to_string(t.shape.size()) + " (shape " +
                listText(t.shape) + ") but kernel " +
                kernel.getSymName().str() + " expects rank " +
                std::to_string(type.getRank()) + " (" + typeText(type) + ")");
  for (int64_t d = 0; d < type.getRank(); ++d) {
    if (t.shape[d] < 0)
      return fail("argument " + name + " has a negative extent in dimension " +
                  std::to_string(d));
    if (!type.isDynamicDim(d) && type.getDimSize(d) != t.shape[d])
      return fail("argument " + name + " has extent " +
                  std::to_string(t.shape[d]) + " in dimension " +
                  std::to_string(d) + " but its type " + typeText(type) +
                  " requires " + std::to_string(type.getDimSize(d)));
  }
  int64_t count = checkedCount(t.shape, kMaxElements);
  if (count < 0)
    return fail("argument " + name + " is too large (shape " +
                listText(t.shape) + ")");
  if (static_cast<int64_t>(t.values.size()) != count)
    return fail("argument " + name + " has " + std::to_string(t.values.size()) +
                " values but its shape " + listText(t.shape) + " has " +
                std::to_string(count) + " elements");
  if (!t.present.empty() && t.present.size() != t.values.size())
    return fail("argument " + name + " has " +
                std::to_string(t.present.size()) + " presence flags for " +
                std::to_string(count) + " elements");
  if (failed(checkDimsSymbols(i, type, t, symbols)))
    return failure();
  auto tensor = std::make_unique<Tensor>();
  tensor->setShape(t.shape);
  tensor->values = t.values;
  tensor->present = t.present;
  tensor->name = name;
  defineTensor(kernel.getArgument(i), std::move(tensor));
  return success();
}

/// The attn.dims of argument `i`, if any: a literal must be the extent, a
/// symbol the same extent wherever it appears.
LogicalResult
KernelInterpreter::checkDimsSymbols(unsigned i, RankedTensorType type,
                                    const RefTensor &t,
                                    std::map<std::string, SymbolUse> &symbols) {
  auto dims = kernel.getArgAttrOfType<ArrayAttr>(i, kDimsAttr);
  if (!dims)
    return success();
  std::string name = argName(kernel, i);
  if (static_cast<int64_t>(dims.size()) != type.getRank())
    return fail("argument " + name + " has " + std::to_string(dims.size()) +
                " attn.dims entries for rank " +
                std::to_string(type.getRank()));
  for (int64_t d = 0; d < type.getRank(); ++d) {
    auto sym = dyn_cast<StringAttr>(dims[d]);
    if (!sym)
      return fail("argument " + name + " has a non-string attn.dims entry");
    long long literal;
    if (!sym.getValue().getAsInteger(10, literal)) {
      if (literal != t.shape[d])
        return fail("argument " + name + " has extent " +
                    std::to_string(t.shape[d]) + " in dimension " +
                    std::to_string(d) + " but is declared " +
                    std::to_string(literal));
      continue;
    }
    auto inserted = symbols.emplace(sym.str(), SymbolUse{t.shape[d], name, d});
    const SymbolUse &first = inserted.first->second;
    if (!inserted.second && first.extent != t.shape[d])
      return fail("size symbol " + sym.str() + " is " +
                  std::to_string(first.extent) + " in " + first.arg +
                  " (dimension " + std::to_string(first.dim) + ") but " +
                  std::to_string(t.shape[d]) + " in " + name + " (dimension " +
                  std::to_string(d) + ")");
  }
  return success();
}

LogicalResult KernelInterpreter::bindScalar(unsigned i, Type type,
                                            const RefArg &arg) {
  std::string kname = kernel.getSymName().str();
  std::string name = argName(kernel, i);
  if (!isScalarType(type))
    return fail("argument " + name + " of kernel " + kname +
                " has an unsupported type " + typeText(type));
  if (!arg.isScalar)
    return fail("argument " + name + " of kernel " + kname + " is a scalar (" +
                typeText(type) + ") but a tensor was given");
  Slot s{0.0};
  if (isa<FloatType>(type))
    s.f = arg.scalar;
  else
    s.i = intFromDouble(arg.scalar, intWidth(type));
  funcCompiler.addSlot(kernel.getArgument(i), s);
  return success();
}

//===----------------------------------------------------------------------===//
// The ops of the kernel's body.
//===----------------------------------------------------------------------===//

LogicalResult KernelInterpreter::runScalarOp(Operation *op) {
  size_t begin = funcProgram.code.size();
  if (failed(funcCompiler.compileOp(op, error)))
    return failure();
  std::string message;
  if (runProgram(funcProgram, funcProgram.slots.data(), begin,
                 funcProgram.code.size(), nullptr, message) != RunStatus::ok)
    return fail(message);
  return success();
}

LogicalResult KernelInterpreter::runDim(tensor::DimOp op) {
  Tensor *t = tensorOf(op.getSource());
  if (!t)
    return fail("tensor.dim at " + locationText(op.getLoc()) +
                " reads a tensor the interpreter does not hold");
  int64_t index;
  if (failed(indexOf(op.getIndex(), index, op, "index")))
    return failure();
  if (index < 0 || index >= static_cast<int64_t>(t->shape.size()))
    return fail("tensor.dim at " + locationText(op.getLoc()) +
                " asks for dimension " + std::to_string(index) + " of " +
                t->name + ", which has rank " +
                std::to_string(t->shape.size()));
  Slot s;
  s.i = t->shape[index];
  funcCompiler.addSlot(op.getResult(), s);
  return success();
}

LogicalResult KernelInterpreter::runFill(FillOp op) {
  Tensor *in = tensorOf(op.getInput());
  if (!in)
    return fail("attn.fill at " + locationText(op.getLoc()) +
                " reads a tensor the interpreter does not hold");
  auto type = cast<RankedTensorType>(op.getResult().getType());
  std::optional<::attn::rt::DType> dt = toRuntimeDType(type.getElementType());
  if (!dt)
    return fail("attn.fill at " + locationText(op.getLoc()) +
                " converts to the unsupported element type " +
                typeText(type.getElementType()));
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (!type.isDynamicDim(d) && type.getDimSize(d) != in->shape[d])
      return fail("attn.fill at " + locationText(op.getLoc()) + ": " +
                  in->name + " has extent " + std::to_string(in->shape[d]) +
                  " in dimension " + std::to_string(d) +
                  " but the result type " + typeText(type) + " requires " +
                  std::to_string(type.getDimSize(d)));
  double fill = op.getValue().convertToDouble();
  auto out = std::make_unique<Tensor>();
  out->setShape(in->shape);
  out->name = valueName(op.getResult());
  out->values.resize(in->values.size());
  for (size_t k = 0; k < in->values.size(); ++k) {
    double v = in->present.empty() || in->present[k] ? in->values[k] : fill;
    out->values[k] = ::attn::rt::roundToDType(v, *dt);
  }
  defineTensor(op.getResult(), std::move(out));
  return success();
}

LogicalResult
KernelInterpreter::collectResults(func::ReturnOp op,
                                  std::vector<RefTensor> &results) {
  results.clear();
  for (auto [i, v] : llvm::enumerate(op.getOperands())) {
    Tensor *t = tensorOf(v);
    auto type = dyn_cast<RankedTensorType>(v.getType());
    std::optional<::attn::rt::DType> dt =
        type ? toRuntimeDType(type.getElementType()) : std::nullopt;
    if (!t || !dt)
      return fail("result " + std::to_string(i) + " of kernel " +
                  kernel.getSymName().str() +
                  " is not a tensor of a supported element type (" +
                  typeText(v.getType()) + ")");
    // Outputs are normally written through attn.fill; anything still absent
    // takes the default fill value, 0.
    RefTensor r;
    r.shape = t->shape;
    r.values.resize(t->values.size());
    for (size_t k = 0; k < t->values.size(); ++k)
      r.values[k] = ::attn::rt::roundToDType(
          t->present.empty() || t->present[k] ? t->values[k] : 0.0, *dt);
    results.push_back(std::move(r));
  }
  return success();
}

LogicalResult KernelInterpreter::run(ArrayRef<RefArg> args,
                                     std::vector<RefTensor> &results) {
  if (kernel.isExternal())
    return fail("kernel " + kernel.getSymName().str() + " has no body");
  if (failed(bindArguments(args)))
    return failure();
  for (Operation &op : kernel.getBody().front()) {
    if (auto ret = dyn_cast<func::ReturnOp>(op))
      return collectResults(ret, results);
    LogicalResult ran =
        llvm::TypeSwitch<Operation *, LogicalResult>(&op)
            .Case([&](EinsumOp einsum) { return runEinsum(*this, einsum); })
            .Case([&](OnlineOp online) { return runOnline(*this, online); })
            .Case([&](ScanOp scan) { return runScan(*this, scan); })
            .Case([&](FillOp fill) { return runFill(fill); })
            .Case([&](tensor::DimOp dim) { return runDim(dim); })
            .Default([&](Operation *scalar) { return runScalarOp(scalar); });
    if (failed(ran))
      return failure();
  }
  return fail("kernel " + kernel.getSymName().str() +
              " does not end in func.return");
}

} // namespace mlir::attn::ref
