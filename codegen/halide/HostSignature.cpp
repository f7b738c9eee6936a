// The host's view of a kernel (HostSignature.h): its arguments as the
// runtime's manifest describes them, and its integer size arithmetic
// replayed on the host.
#include "codegen/halide/HostSignature.h"

#include "dialect/AttnDialect.h"
#include "dialect/AttnOps.h"
#include "dialect/RuntimeDType.h"
#include "runtime/DType.h"
#include "runtime/KernelManifest.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/DenseMap.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

using namespace mlir;
using namespace mlir::attn;
namespace rt = ::attn::rt;

namespace {

constexpr int64_t kMaxExtent = std::numeric_limits<int32_t>::max();

int64_t floorDivide(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

std::string shapeText(const int64_t *shape, size_t rank) {
  std::string s = "[";
  for (size_t i = 0; i < rank; ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// Per dimension: the static extent (a literal, or a symbol bound at
/// compile time: `--bind E=4` makes E's dimensions 4), the size symbol, or
/// "?k" (unnamed: not checked by the runtime).
std::vector<std::string> dimNames(ArrayAttr dims, RankedTensorType type) {
  std::vector<std::string> out;
  for (int64_t k = 0; k < type.getRank(); ++k) {
    StringAttr s;
    if (dims && k < static_cast<int64_t>(dims.size()))
      s = dyn_cast<StringAttr>(dims[k]);
    long long literal;
    if (!type.isDynamicDim(k))
      out.push_back(std::to_string(type.getDimSize(k)));
    else if (s && StringRef(s.getValue()).getAsInteger(10, literal))
      out.push_back(s.str());
    else if (s)
      out.push_back(std::to_string(literal));
    else
      out.push_back("?" + std::to_string(k));
  }
  return out;
}

/// Host memory for one buffer, aligned and padded as Halide's own allocator
/// does: generated code may load whole vectors across either end of a buffer.
struct HostStorage {
  static constexpr size_t kAlign = 128;
  struct Free {
    void operator()(uint8_t *p) const {
      ::operator delete[](p, std::align_val_t(kAlign));
    }
  };
  std::unique_ptr<uint8_t[], Free> memory;
  uint8_t *data = nullptr;
  explicit HostStorage(size_t bytes)
      : memory(new (std::align_val_t(kAlign)) uint8_t[bytes + 2 * kAlign]),
        data(memory.get() + kAlign) {}
};

} // namespace

namespace mlir::attn {

/// Builds the size program: the integer values the einsum sizes and the
/// output shapes depend on, back to argument shapes, integer scalars and
/// constants.
class SizeProgramBuilder {
public:
  SizeProgramBuilder(func::FuncOp kernel, HostSignature &sig)
      : kernel(kernel), sizes(sig.sizes) {}

  FailureOr<int> tensorDim(Value t, unsigned k) {
    auto type = cast<RankedTensorType>(t.getType());
    if (!type.isDynamicDim(k))
      return add({HostSignature::SizeExpr::Constant, type.getDimSize(k)});
    if (auto arg = dyn_cast<BlockArgument>(t)) {
      if (arg.getOwner() == &kernel.getBody().front()) {
        HostSignature::SizeExpr e{HostSignature::SizeExpr::ArgDim};
        e.arg = arg.getArgNumber();
        e.dim = k;
        return add(e);
      }
    }
    if (auto e = t.getDefiningOp<EinsumOp>()) {
      auto d = cast<AffineDimExpr>(e.getResultMap().getResult(k));
      return expr(e.getSizes()[d.getPosition()]);
    }
    if (auto f = t.getDefiningOp<FillOp>())
      return tensorDim(f.getInput(), k);
    if (auto s = t.getDefiningOp<ScanOp>())
      return tensorDim(s.getInput(), k);
    if (auto o = t.getDefiningOp<OnlineOp>()) {
      unsigned r = cast<OpResult>(t).getResultNumber();
      AffineMap map = r == 0 ? o.getMaxMap() : o.getSumMap(r - 1);
      auto d = cast<AffineDimExpr>(map.getResult(k));
      return expr(o.getSizes()[d.getPosition()]);
    }
    return failure();
  }

  FailureOr<int> expr(Value v) {
    auto it = memo.find(v);
    if (it != memo.end())
      return it->second;
    FailureOr<int> r = build(v);
    if (succeeded(r))
      memo[v] = *r;
    return r;
  }

private:
  using E = HostSignature::SizeExpr;

  int add(E e) {
    sizes.push_back(e);
    return static_cast<int>(sizes.size() - 1);
  }

  FailureOr<int> build(Value v) {
    if (auto arg = dyn_cast<BlockArgument>(v)) {
      if (arg.getOwner() != &kernel.getBody().front() ||
          !arg.getType().isIntOrIndex())
        return failure();
      E e{E::ScalarArg};
      e.arg = arg.getArgNumber();
      return add(e);
    }
    Operation *op = v.getDefiningOp();
    if (!op)
      return failure();
    if (auto c = dyn_cast<arith::ConstantOp>(op)) {
      if (auto i = dyn_cast<IntegerAttr>(c.getValue()))
        return add({E::Constant, i.getValue().getSExtValue()});
      return failure();
    }
    if (auto d = dyn_cast<tensor::DimOp>(op)) {
      std::optional<int64_t> k = d.getConstantIndex();
      if (!k)
        return failure();
      return tensorDim(d.getSource(), *k);
    }
    if (isa<arith::IndexCastOp, arith::IndexCastUIOp, arith::ExtSIOp,
            arith::ExtUIOp>(op))
      return expr(op->getOperand(0));
    std::optional<E::Kind> kind;
    if (isa<arith::AddIOp>(op))
      kind = E::Add;
    else if (isa<arith::SubIOp>(op))
      kind = E::Sub;
    else if (isa<arith::MulIOp>(op))
      kind = E::Mul;
    else if (isa<arith::FloorDivSIOp>(op))
      kind = E::FloorDiv;
    else if (isa<arith::CeilDivSIOp>(op))
      kind = E::CeilDiv;
    else if (isa<arith::DivSIOp>(op))
      kind = E::DivS;
    else if (isa<arith::RemSIOp>(op))
      kind = E::RemS;
    else if (isa<arith::MaxSIOp>(op))
      kind = E::MaxS;
    else if (isa<arith::MinSIOp>(op))
      kind = E::MinS;
    if (!kind)
      return failure();
    FailureOr<int> l = expr(op->getOperand(0));
    FailureOr<int> r = expr(op->getOperand(1));
    if (failed(l) || failed(r))
      return failure();
    E e{*kind};
    e.lhs = *l;
    e.rhs = *r;
    return add(e);
  }

  func::FuncOp kernel;
  std::vector<E> &sizes;
  llvm::DenseMap<Value, int> memo;
};

} // namespace mlir::attn

FailureOr<HostSignature> HostSignature::build(func::FuncOp kernel) {
  HostSignature sig;
  sig.name = kernel.getSymName().str();
  auto describe = [&](Type type, DictionaryAttr attrs, const std::string &name,
                      bool output) -> LogicalResult {
    rt::ManifestArgument a;
    a.isOutput = output;
    auto tensor = dyn_cast<RankedTensorType>(type);
    a.isScalar = !tensor;
    std::optional<rt::DType> dtype =
        toRuntimeDType(tensor ? tensor.getElementType() : type);
    if (!dtype)
      return kernel.emitError(output ? "result " : "argument ")
             << name << " has a type the CPU target does not support: "
             << type;
    a.dtype = *dtype;
    a.name = name;
    if (auto n = attrs ? attrs.getAs<StringAttr>(kNameAttr) : StringAttr())
      a.name = n.str();
    if (tensor)
      a.dims = dimNames(attrs ? attrs.getAs<ArrayAttr>(kDimsAttr) : ArrayAttr(),
                        tensor);
    sig.args.push_back(std::move(a));
    return success();
  };
  for (unsigned i = 0; i < kernel.getNumArguments(); ++i)
    if (failed(describe(kernel.getArgument(i).getType(),
                        kernel.getArgAttrDict(i), "arg" + std::to_string(i),
                        false)))
      return failure();
  sig.numInputs = sig.args.size();

  SizeProgramBuilder program(kernel, sig);
  for (Operation &op : kernel.getBody().front()) {
    // The sizes of every einsum and attn.online, in order (the emitter
    // reads them in the same order).
    if (isa<EinsumOp, OnlineOp>(&op)) {
      ValueRange opSizes = isa<EinsumOp>(&op) ? cast<EinsumOp>(&op).getSizes()
                                              : cast<OnlineOp>(&op).getSizes();
      for (Value s : opSizes) {
        FailureOr<int> id = program.expr(s);
        if (failed(id))
          return op.emitOpError("has a size that the Halide code generator "
                                "cannot compute before the run");
        sig.einsumSizes.push_back(*id);
      }
    }
    auto r = dyn_cast<func::ReturnOp>(&op);
    if (!r)
      continue;
    for (auto [i, v] : llvm::enumerate(r.getOperands())) {
      auto type = dyn_cast<RankedTensorType>(v.getType());
      if (!type)
        return r.emitOpError("returns a scalar; kernels return tensors");
      std::vector<int> shape;
      for (int64_t k = 0; k < type.getRank(); ++k) {
        FailureOr<int> id = program.tensorDim(v, k);
        if (failed(id))
          return r.emitOpError("returns a tensor whose shape the Halide "
                               "code generator cannot compute");
        shape.push_back(*id);
      }
      sig.outputDims.push_back(shape);
      if (failed(describe(type, kernel.getResultAttrDict(i),
                          "out" + std::to_string(i), true)))
        return failure();
      if (auto fill = v.getDefiningOp<FillOp>())
        sig.args.back().fill = ::attn::rt::fillValueText(fill.getValue().convertToDouble());
    }
  }
  return sig;
}

bool HostSignature::outputShapes(ArrayRef<attn_tensor> tensors,
                                 ArrayRef<attn_scalar> scalars,
                                 std::vector<std::vector<int64_t>> &shapes,
                                 std::string &error) const {
  // Each input's shape or integer value, by argument number.
  std::vector<const int64_t *> argShape(numInputs, nullptr);
  std::vector<int64_t> argValue(numInputs, 0);
  size_t t = 0, s = 0;
  for (size_t i = 0; i < numInputs; ++i) {
    const rt::ManifestArgument &a = args[i];
    if (a.isScalar) {
      if (s < scalars.size()) {
        if (scalars[s].dtype != static_cast<int>(a.dtype)) {
          error = "scalar " + a.name + " must be " + rt::dtypeName(a.dtype);
          return false;
        }
        argValue[i] = scalars[s].value.i;
      }
      ++s;
      continue;
    }
    if (t < tensors.size()) {
      const attn_tensor &x = tensors[t];
      if (x.rank != static_cast<int>(a.dims.size()) ||
          (x.rank > 0 && !x.shape)) {
        error = "argument " + a.name + " must have rank " +
                std::to_string(a.dims.size()) + ", got rank " +
                std::to_string(x.rank);
        return false;
      }
      argShape[i] = x.shape;
    }
    ++t;
  }
  if (tensors.size() < t || scalars.size() != s) {
    error = "kernel " + name + " takes " + std::to_string(t) +
            " tensor inputs and " + std::to_string(s) + " scalars, got " +
            std::to_string(tensors.size()) + " tensors and " +
            std::to_string(scalars.size()) + " scalars";
    return false;
  }

  std::vector<int64_t> v(sizes.size(), 0);
  for (size_t i = 0; i < sizes.size(); ++i) {
    const SizeExpr &e = sizes[i];
    int64_t a = e.lhs >= 0 ? v[e.lhs] : 0;
    int64_t b = e.rhs >= 0 ? v[e.rhs] : 0;
    bool divides = e.kind == SizeExpr::FloorDiv ||
                   e.kind == SizeExpr::CeilDiv || e.kind == SizeExpr::DivS ||
                   e.kind == SizeExpr::RemS;
    if (divides && b == 0) {
      error = "a size of kernel " + name + " divides by zero";
      return false;
    }
    switch (e.kind) {
    case SizeExpr::Constant:
      v[i] = e.value;
      break;
    case SizeExpr::ArgDim:
      v[i] = argShape[e.arg][e.dim];
      break;
    case SizeExpr::ScalarArg:
      v[i] = argValue[e.arg];
      break;
    case SizeExpr::Add:
      v[i] = a + b;
      break;
    case SizeExpr::Sub:
      v[i] = a - b;
      break;
    case SizeExpr::Mul:
      v[i] = a * b;
      break;
    case SizeExpr::FloorDiv:
      v[i] = floorDivide(a, b);
      break;
    case SizeExpr::CeilDiv:
      v[i] = -floorDivide(-a, b);
      break;
    case SizeExpr::DivS:
      v[i] = a / b;
      break;
    case SizeExpr::RemS:
      v[i] = a % b;
      break;
    case SizeExpr::MaxS:
      v[i] = std::max(a, b);
      break;
    case SizeExpr::MinS:
      v[i] = std::min(a, b);
      break;
    }
  }
  for (int id : einsumSizes) {
    if (v[id] < 0 || v[id] > kMaxExtent) {
      error = "an iteration space of kernel " + name + " has extent " +
              std::to_string(v[id]) + " (0 to 2^31-1 expected)";
      return false;
    }
  }
  shapes.clear();
  for (size_t o = 0; o < outputDims.size(); ++o) {
    std::vector<int64_t> shape;
    int64_t count = 1;
    for (int id : outputDims[o]) {
      shape.push_back(v[id]);
      count = std::min(count * std::max<int64_t>(v[id], 0), kMaxExtent + 1);
    }
    if (count > kMaxExtent) {
      error = "output " + args[numInputs + o].name + " of kernel " + name +
              " has too many elements for the CPU target (2^31-1 at most)";
      return false;
    }
    shapes.push_back(std::move(shape));
  }
  return true;
}

bool HostSignature::checkOutputShapes(ArrayRef<attn_tensor> tensors,
                                      ArrayRef<attn_scalar> scalars,
                                      std::string &error) const {
  std::vector<std::vector<int64_t>> want;
  if (!outputShapes(tensors, scalars, want, error))
    return false;
  size_t tensorInputs = 0;
  for (size_t i = 0; i < numInputs; ++i)
    tensorInputs += !args[i].isScalar;
  if (tensors.size() != tensorInputs + want.size())
    return true; // a count the runtime's checks report
  ArrayRef<attn_tensor> outputs = tensors.drop_front(tensorInputs);
  for (size_t o = 0; o < want.size(); ++o) {
    const attn_tensor &x = outputs[o];
    const std::vector<int64_t> &w = want[o];
    if (x.rank == static_cast<int>(w.size()) && (w.empty() || x.shape) &&
        std::equal(w.begin(), w.end(), x.shape))
      continue;
    error = "output " + args[numInputs + o].name + " must have shape " +
            shapeText(w.data(), w.size()) + " for these inputs, got " +
            (x.rank >= 0 && x.shape ? shapeText(x.shape, x.rank)
                                    : "rank " + std::to_string(x.rank));
    return false;
  }
  return true;
}

bool HostSignature::runOnRefArgs(ArrayRef<RefArg> refArgs,
                                 std::vector<RefTensor> &results,
                                 std::string &error, TypedCall call) const {
  if (refArgs.size() != numInputs) {
    error = "kernel " + name + " takes " + std::to_string(numInputs) +
            " arguments, got " + std::to_string(refArgs.size());
    return false;
  }
  std::vector<HostStorage> storage;
  storage.reserve(args.size());
  std::vector<attn_tensor> tensors;
  std::vector<attn_scalar> scalars;
  std::vector<std::vector<int64_t>> shapes; // what `tensors` point to
  shapes.reserve(args.size());
  auto addTensor = [&](const rt::ManifestArgument &a,
                       std::vector<int64_t> shape) {
    size_t count = 1;
    for (int64_t e : shape)
      count *= static_cast<size_t>(e);
    storage.emplace_back(std::max<size_t>(1, count) * rt::dtypeSize(a.dtype));
    shapes.push_back(std::move(shape));
    tensors.push_back({storage.back().data, static_cast<int>(a.dtype),
                       static_cast<int>(shapes.back().size()),
                       shapes.back().data(), nullptr, ATTN_DEVICE_CPU});
    return count;
  };

  for (size_t i = 0; i < numInputs; ++i) {
    const rt::ManifestArgument &a = args[i];
    const RefArg &r = refArgs[i];
    if (a.isScalar != r.isScalar) {
      error = "argument " + a.name + " must be a " +
              (a.isScalar ? "scalar" : "tensor");
      return false;
    }
    if (a.isScalar) {
      attn_scalar s{};
      s.dtype = static_cast<int>(a.dtype);
      if (rt::isFloat(a.dtype))
        s.value.f = r.scalar;
      else
        s.value.i = static_cast<int64_t>(rt::roundToDType(r.scalar, a.dtype));
      scalars.push_back(s);
      continue;
    }
    const RefTensor &t = r.tensor;
    if (t.shape.size() != a.dims.size()) {
      error = "argument " + a.name + " must have rank " +
              std::to_string(a.dims.size()) + ", got shape " +
              shapeText(t.shape.data(), t.shape.size());
      return false;
    }
    int64_t count = 1;
    for (size_t k = 0; k < t.shape.size(); ++k) {
      if (t.shape[k] < 0 || t.shape[k] > kMaxExtent) {
        error = "dimension " + std::to_string(k) + " of " + a.name +
                " has extent " + std::to_string(t.shape[k]) +
                " (the CPU target supports 0 to 2^31-1)";
        return false;
      }
      count *= t.shape[k];
      if (count > kMaxExtent) {
        error = "argument " + a.name +
                " has too many elements for the CPU target (2^31-1 at most)";
        return false;
      }
    }
    if (t.values.size() != static_cast<size_t>(count)) {
      error = "argument " + a.name + " has shape " +
              shapeText(t.shape.data(), t.shape.size()) + " but " +
              std::to_string(t.values.size()) + " values";
      return false;
    }
    addTensor(a, t.shape);
    void *data = tensors.back().data;
    rt::DType dtype = a.dtype;
    for (size_t e = 0; e < t.values.size(); ++e)
      rt::storeElement(data, dtype, e, t.values[e]);
  }

  std::vector<std::vector<int64_t>> outShapes;
  if (!outputShapes(tensors, scalars, outShapes, error))
    return false;
  size_t firstOutput = tensors.size();
  for (size_t o = 0; o < outShapes.size(); ++o) {
    size_t count = addTensor(args[numInputs + o], outShapes[o]);
    // Poisoned (NaN for floats): an element the kernel fails to write shows.
    std::memset(tensors.back().data, 0xff,
                count * rt::dtypeSize(args[numInputs + o].dtype));
  }
  if (!call(tensors, scalars, error))
    return false;

  results.clear();
  for (size_t o = 0; o < outShapes.size(); ++o) {
    RefTensor r;
    r.shape = outShapes[o];
    const void *data = tensors[firstOutput + o].data;
    rt::DType dtype = args[numInputs + o].dtype;
    size_t count = 1;
    for (int64_t e : r.shape)
      count *= static_cast<size_t>(e);
    r.values.resize(count);
    for (size_t e = 0; e < count; ++e)
      r.values[e] = rt::loadElement(data, dtype, e);
    results.push_back(std::move(r));
  }
  return true;
}
