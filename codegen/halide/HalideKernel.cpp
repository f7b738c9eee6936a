// A kernel compiled for the CPU: the Halide pipeline JIT-compiled once, then
// run on host tensors. Arguments are checked before every run (count, kind,
// rank, size symbols); sizes and output shapes are computed on the host from
// a copy of the kernel's size arithmetic, so a kernel outlives its module.
#include "codegen/halide/HalidePipeline.h"
#include "dialect/RuntimeDType.h"
#include "runtime/SizeSymbols.h"

#include "dialect/AttnOps.h"
#include "runtime/DType.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>

using namespace mlir;
using namespace mlir::attn;
namespace H = Halide;
namespace HI = Halide::Internal;
namespace rt = ::attn::rt;

namespace {

/// Integer size arithmetic of the kernel, replayed on the host.
struct HostExpr {
  enum Kind {
    Constant,
    ArgDim,
    ScalarArg,
    Add,
    Sub,
    Mul,
    FloorDiv,
    CeilDiv,
    DivS,
    RemS,
    MaxS,
    MinS
  } kind;
  int64_t value = 0;         // Constant
  unsigned arg = 0, dim = 0; // ArgDim, ScalarArg
  int lhs = -1, rhs = -1;
};

int64_t floorDivide(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

} // namespace

struct HalideKernel::Impl {
  HalidePipeline pipeline;
  H::Pipeline halide;
  H::Target target;
  std::string kernelName;

  std::vector<HostExpr> sizes;  // the host size program
  std::vector<int> einsumSizes; // every einsum size (checked >= 0)
  std::vector<std::vector<int>> outputShapes;

  /// Builds the host expression of an index value of the kernel body.
  FailureOr<int> hostExpr(Value v, func::FuncOp kernel,
                          llvm::DenseMap<Value, int> &memo);
  FailureOr<int> tensorDim(Value t, unsigned k, func::FuncOp kernel,
                           llvm::DenseMap<Value, int> &memo);
  LogicalResult buildHostSizes(func::FuncOp kernel);
  bool evaluate(const std::vector<double> &scalars,
                const std::vector<std::vector<int64_t>> &shapes,
                std::vector<int64_t> &values, std::string &error) const;

  LogicalResult checkArguments(ArrayRef<RefArg> args, std::string &error);
};

FailureOr<int> HalideKernel::Impl::tensorDim(Value t, unsigned k,
                                             func::FuncOp kernel,
                                             llvm::DenseMap<Value, int> &memo) {
  auto type = cast<RankedTensorType>(t.getType());
  if (!type.isDynamicDim(k)) {
    sizes.push_back({HostExpr::Constant, type.getDimSize(k)});
    return static_cast<int>(sizes.size() - 1);
  }
  if (auto arg = dyn_cast<BlockArgument>(t)) {
    if (arg.getOwner() == &kernel.getBody().front()) {
      HostExpr e{HostExpr::ArgDim};
      e.arg = arg.getArgNumber();
      e.dim = k;
      sizes.push_back(e);
      return static_cast<int>(sizes.size() - 1);
    }
  }
  if (auto e = t.getDefiningOp<EinsumOp>()) {
    auto d = cast<AffineDimExpr>(e.getResultMap().getResult(k));
    return hostExpr(e.getSizes()[d.getPosition()], kernel, memo);
  }
  if (auto f = t.getDefiningOp<FillOp>())
    return tensorDim(f.getInput(), k, kernel, memo);
  if (auto o = t.getDefiningOp<OnlineOp>()) {
    unsigned r = cast<OpResult>(t).getResultNumber();
    AffineMap map = r == 0 ? o.getMaxMap() : o.getSumMap(r - 1);
    auto d = cast<AffineDimExpr>(map.getResult(k));
    return hostExpr(o.getSizes()[d.getPosition()], kernel, memo);
  }
  return failure();
}

FailureOr<int> HalideKernel::Impl::hostExpr(Value v, func::FuncOp kernel,
                                            llvm::DenseMap<Value, int> &memo) {
  auto it = memo.find(v);
  if (it != memo.end())
    return it->second;
  auto add = [&](HostExpr e) {
    sizes.push_back(e);
    memo[v] = sizes.size() - 1;
    return static_cast<int>(sizes.size() - 1);
  };
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    if (arg.getOwner() != &kernel.getBody().front() ||
        !arg.getType().isIntOrIndex())
      return failure();
    HostExpr e{HostExpr::ScalarArg};
    e.arg = arg.getArgNumber();
    return add(e);
  }
  Operation *op = v.getDefiningOp();
  if (!op)
    return failure();
  if (auto c = dyn_cast<arith::ConstantOp>(op)) {
    if (auto i = dyn_cast<IntegerAttr>(c.getValue()))
      return add({HostExpr::Constant, i.getValue().getSExtValue()});
    return failure();
  }
  if (auto d = dyn_cast<tensor::DimOp>(op)) {
    std::optional<int64_t> k = d.getConstantIndex();
    if (!k)
      return failure();
    FailureOr<int> r = tensorDim(d.getSource(), *k, kernel, memo);
    if (succeeded(r))
      memo[v] = *r;
    return r;
  }
  if (isa<arith::IndexCastOp, arith::IndexCastUIOp, arith::ExtSIOp,
          arith::ExtUIOp>(op)) {
    FailureOr<int> r = hostExpr(op->getOperand(0), kernel, memo);
    if (succeeded(r))
      memo[v] = *r;
    return r;
  }
  std::optional<HostExpr::Kind> kind;
  if (isa<arith::AddIOp>(op))
    kind = HostExpr::Add;
  else if (isa<arith::SubIOp>(op))
    kind = HostExpr::Sub;
  else if (isa<arith::MulIOp>(op))
    kind = HostExpr::Mul;
  else if (isa<arith::FloorDivSIOp>(op))
    kind = HostExpr::FloorDiv;
  else if (isa<arith::CeilDivSIOp>(op))
    kind = HostExpr::CeilDiv;
  else if (isa<arith::DivSIOp>(op))
    kind = HostExpr::DivS;
  else if (isa<arith::RemSIOp>(op))
    kind = HostExpr::RemS;
  else if (isa<arith::MaxSIOp>(op))
    kind = HostExpr::MaxS;
  else if (isa<arith::MinSIOp>(op))
    kind = HostExpr::MinS;
  if (!kind)
    return failure();
  FailureOr<int> l = hostExpr(op->getOperand(0), kernel, memo);
  FailureOr<int> r = hostExpr(op->getOperand(1), kernel, memo);
  if (failed(l) || failed(r))
    return failure();
  HostExpr e{*kind};
  e.lhs = *l;
  e.rhs = *r;
  return add(e);
}

LogicalResult HalideKernel::Impl::buildHostSizes(func::FuncOp kernel) {
  llvm::DenseMap<Value, int> memo;
  for (Operation &op : kernel.getBody().front()) {
    if (isa<EinsumOp, OnlineOp>(&op)) {
      ValueRange opSizes = isa<EinsumOp>(&op) ? cast<EinsumOp>(&op).getSizes()
                                              : cast<OnlineOp>(&op).getSizes();
      for (Value s : opSizes) {
        FailureOr<int> id = hostExpr(s, kernel, memo);
        if (failed(id))
          return op.emitOpError("has a size that the Halide code generator "
                                "cannot compute before the run");
        einsumSizes.push_back(*id);
      }
    }
    if (auto r = dyn_cast<func::ReturnOp>(&op)) {
      for (Value v : r.getOperands()) {
        auto type = cast<RankedTensorType>(v.getType());
        std::vector<int> shape;
        for (int64_t k = 0; k < type.getRank(); ++k) {
          FailureOr<int> id = tensorDim(v, k, kernel, memo);
          if (failed(id))
            return r.emitOpError("returns a tensor whose shape the Halide "
                                 "code generator cannot compute");
          shape.push_back(*id);
        }
        outputShapes.push_back(shape);
      }
    }
  }
  return success();
}

bool HalideKernel::Impl::evaluate(
    const std::vector<double> &scalars,
    const std::vector<std::vector<int64_t>> &shapes,
    std::vector<int64_t> &values, std::string &error) const {
  values.assign(sizes.size(), 0);
  for (size_t i = 0; i < sizes.size(); ++i) {
    const HostExpr &e = sizes[i];
    int64_t a = e.lhs >= 0 ? values[e.lhs] : 0;
    int64_t b = e.rhs >= 0 ? values[e.rhs] : 0;
    bool divides = e.kind == HostExpr::FloorDiv ||
                   e.kind == HostExpr::CeilDiv || e.kind == HostExpr::DivS ||
                   e.kind == HostExpr::RemS;
    if (divides && b == 0) {
      error = "a size of kernel " + kernelName + " divides by zero";
      return false;
    }
    int64_t r = 0;
    switch (e.kind) {
    case HostExpr::Constant:
      r = e.value;
      break;
    case HostExpr::ArgDim:
      r = shapes[e.arg][e.dim];
      break;
    case HostExpr::ScalarArg:
      r = static_cast<int64_t>(scalars[e.arg]);
      break;
    case HostExpr::Add:
      r = a + b;
      break;
    case HostExpr::Sub:
      r = a - b;
      break;
    case HostExpr::Mul:
      r = a * b;
      break;
    case HostExpr::FloorDiv:
      r = floorDivide(a, b);
      break;
    case HostExpr::CeilDiv:
      r = -floorDivide(-a, b);
      break;
    case HostExpr::DivS:
      r = a / b;
      break;
    case HostExpr::RemS:
      r = a % b;
      break;
    case HostExpr::MaxS:
      r = std::max(a, b);
      break;
    case HostExpr::MinS:
      r = std::min(a, b);
      break;
    }
    values[i] = r;
  }
  return true;
}

//===----------------------------------------------------------------------===//
// Argument checks
//===----------------------------------------------------------------------===//

static std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

LogicalResult HalideKernel::Impl::checkArguments(ArrayRef<RefArg> args,
                                                 std::string &error) {
  const std::vector<HalideArgument> &formal = pipeline.arguments;
  if (args.size() != formal.size()) {
    error = "kernel " + kernelName + " takes " + std::to_string(formal.size()) +
            " arguments, got " + std::to_string(args.size());
    return failure();
  }
  ::attn::rt::SizeSymbols symbols;
  auto bindSymbol = [&](const std::string &sym, int64_t value,
                        const std::string &where) {
    return symbols.bind(sym, value, where, error);
  };
  for (size_t i = 0; i < formal.size(); ++i) {
    const HalideArgument &f = formal[i];
    const RefArg &a = args[i];
    if (f.isScalar != a.isScalar) {
      error = "argument " + f.name + " must be a " +
              (f.isScalar ? "scalar" : "tensor");
      return failure();
    }
    if (f.isScalar)
      continue;
    auto type = cast<RankedTensorType>(f.type);
    const RefTensor &t = a.tensor;
    if (static_cast<int64_t>(t.shape.size()) != type.getRank()) {
      error = "argument " + f.name + " must have rank " +
              std::to_string(type.getRank()) + ", got shape " +
              shapeText(t.shape);
      return failure();
    }
    int64_t count = 1;
    for (int64_t k = 0; k < type.getRank(); ++k) {
      int64_t extent = t.shape[k];
      std::string where = "dimension " + std::to_string(k) + " of " + f.name;
      if (extent < 0 || extent > std::numeric_limits<int32_t>::max()) {
        error = where + " has extent " + std::to_string(extent) +
                " (the CPU target supports 0 to 2^31-1)";
        return failure();
      }
      if (!type.isDynamicDim(k) && type.getDimSize(k) != extent) {
        error = where + " must be " + std::to_string(type.getDimSize(k)) +
                ", got " + std::to_string(extent);
        return failure();
      }
      if (k < static_cast<int64_t>(f.dims.size())) {
        long long lit;
        if (!StringRef(f.dims[k]).getAsInteger(10, lit)) {
          if (lit != extent) {
            error = where + " must be " + f.dims[k] + ", got " +
                    std::to_string(extent);
            return failure();
          }
        } else if (!bindSymbol(f.dims[k], extent, where)) {
          return failure();
        }
      }
      count *= extent;
    }
    if (count > std::numeric_limits<int32_t>::max()) {
      error = "argument " + f.name +
              " has too many elements for the CPU "
              "target (2^31-1 at most)";
      return failure();
    }
    if (static_cast<int64_t>(t.values.size()) != count) {
      error = "argument " + f.name + " has shape " + shapeText(t.shape) +
              " but " + std::to_string(t.values.size()) + " values";
      return failure();
    }
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Host buffers
//===----------------------------------------------------------------------===//

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

/// A dense Halide buffer (dimension 0 = the last tensor dimension) over
/// memory owned by `storage`. Never without a host pointer, even when empty:
/// Halide takes a buffer with no host pointer for a bounds query and then
/// runs nothing.
static H::Buffer<> hostBuffer(H::Type type, const std::vector<int64_t> &shape,
                              std::vector<HostStorage> &storage) {
  size_t count = 1;
  for (int64_t e : shape)
    count *= static_cast<size_t>(e);
  storage.emplace_back(std::max<size_t>(1, count) * type.bytes());
  std::vector<int> sizes(shape.rbegin(), shape.rend());
  return H::Buffer<>(type, storage.back().data, sizes);
}

static size_t numElements(const std::vector<int64_t> &shape) {
  size_t count = 1;
  for (int64_t e : shape)
    count *= static_cast<size_t>(e);
  return count;
}

//===----------------------------------------------------------------------===//
// HalideKernel
//===----------------------------------------------------------------------===//

HalideKernel::HalideKernel(std::unique_ptr<Impl> impl)
    : impl(std::move(impl)) {}
HalideKernel::HalideKernel(HalideKernel &&) noexcept = default;
HalideKernel &HalideKernel::operator=(HalideKernel &&) noexcept = default;
HalideKernel::~HalideKernel() = default;

FailureOr<H::Target>
mlir::attn::resolveHalideTarget(func::FuncOp kernel,
                                const HalideCodegenOptions &options) {
  H::Target target;
  if (options.target == "host") {
    // Halide 14 reports Sapphire Rapids for any CPU with AVX512-BF16 and
    // VNNI (AMD Zen 4 too), then emits AVX512-FP16 code that such CPUs
    // cannot run (SIGILL): keep that feature for explicit target strings.
    target =
        H::get_host_target().without_feature(H::Target::AVX512_SapphireRapids);
  } else if (H::Target::validate_target_string(options.target)) {
    target = H::Target(options.target);
  } else {
    return kernel.emitError("unknown Halide target '") << options.target << "'";
  }
  return target;
}

FailureOr<HalideKernel>
HalideKernel::compile(func::FuncOp kernel,
                      const HalideCodegenOptions &options) {
  auto impl = std::make_unique<Impl>();
  impl->kernelName = kernel.getSymName().str();
  FailureOr<H::Target> target = resolveHalideTarget(kernel, options);
  if (failed(target))
    return failure();
  impl->target = *target;
  if (failed(buildHalidePipeline(kernel, impl->pipeline, options, *target)) ||
      failed(impl->buildHostSizes(kernel)))
    return failure();
  try {
    scheduleHalidePipeline(impl->pipeline, options, impl->target);
    std::vector<H::Func> outputs;
    for (const HalideOutput &out : impl->pipeline.outputs)
      outputs.push_back(out.func);
    if (impl->pipeline.errorCode.defined())
      outputs.push_back(impl->pipeline.errorCode);
    impl->halide = H::Pipeline(outputs);
    impl->halide.compile_jit(impl->target);
  } catch (const H::Error &e) {
    kernel.emitError("Halide could not compile the kernel: ") << e.what();
    return failure();
  }
  return HalideKernel(std::move(impl));
}

LogicalResult HalideKernel::run(ArrayRef<RefArg> args,
                                std::vector<RefTensor> &results,
                                std::string &error) {
  Impl &k = *impl;
  HalidePipeline &p = k.pipeline;
  if (failed(k.checkArguments(args, error)))
    return failure();

  std::vector<double> scalars(args.size(), 0);
  std::vector<std::vector<int64_t>> shapes(args.size());
  for (size_t i = 0; i < args.size(); ++i) {
    // Scalars as their declared type holds them (integers truncated).
    if (p.arguments[i].isScalar)
      scalars[i] =
          rt::roundToDType(args[i].scalar, *toRuntimeDType(p.arguments[i].type));
    shapes[i] = args[i].tensor.shape;
  }
  std::vector<int64_t> values;
  if (!k.evaluate(scalars, shapes, values, error))
    return failure();
  for (int id : k.einsumSizes) {
    if (values[id] < 0 || values[id] > std::numeric_limits<int32_t>::max()) {
      error = "an iteration space of kernel " + k.kernelName + " has extent " +
              std::to_string(values[id]) + " (0 to 2^31-1 expected)";
      return failure();
    }
  }

  H::ParamMap params;
  std::vector<HostStorage> storage;
  std::vector<H::Buffer<>> inputs;
  inputs.reserve(args.size());
  for (size_t i = 0; i < args.size(); ++i) {
    const HalideArgument &f = p.arguments[i];
    if (f.isScalar) {
      f.scalar.bind(params, scalars[i]);
      continue;
    }
    Type elem = cast<RankedTensorType>(f.type).getElementType();
    rt::DType dt = *toRuntimeDType(elem);
    const RefTensor &t = args[i].tensor;
    H::Buffer<> buf = hostBuffer(*halideStorageType(elem), t.shape, storage);
    void *data = buf.data();
    for (size_t e = 0; e < t.values.size(); ++e)
      rt::storeElement(data, dt, e, t.values[e]);
    inputs.push_back(buf);
    params.set(f.image, inputs.back());
  }

  std::vector<H::Buffer<>> buffers;
  std::vector<std::vector<int64_t>> outputShapes;
  for (size_t o = 0; o < p.outputs.size(); ++o) {
    std::vector<int64_t> shape;
    for (int id : k.outputShapes[o])
      shape.push_back(values[id]);
    if (numElements(shape) > size_t(std::numeric_limits<int32_t>::max())) {
      error = "output " + std::to_string(o) + " of kernel " + k.kernelName +
              " has too many elements for the CPU target (2^31-1 at most)";
      return failure();
    }
    buffers.push_back(hostBuffer(p.outputs[o].storageType, shape, storage));
    outputShapes.push_back(shape);
  }
  if (p.errorCode.defined())
    buffers.push_back(hostBuffer(H::Int(32), {}, storage));
  // Poisoned (NaN for floats): an element the pipeline fails to write shows.
  for (H::Buffer<> &b : buffers)
    std::memset(b.data(), 0xff, b.size_in_bytes());
  if (p.errorCode.defined())
    *static_cast<int32_t *>(buffers.back().data()) = 0;

  try {
    H::Realization realization(buffers);
    k.halide.realize(std::move(realization), k.target, params);
  } catch (const H::Error &e) {
    error = "the CPU kernel " + k.kernelName + " failed: " + e.what();
    return failure();
  }

  if (p.errorCode.defined()) {
    int32_t code = *static_cast<int32_t *>(buffers.back().data());
    if (code > 0 && static_cast<size_t>(code) <= p.runErrors.size()) {
      const HalideRunError &e = p.runErrors[code - 1];
      error = "kernel " + k.kernelName + ": " + e.what;
      if (e.argument >= 0 && e.dimension >= 0) {
        const std::vector<int64_t> &shape = args[e.argument].tensor.shape;
        error += ": dimension " + std::to_string(e.dimension) + " has extent " +
                 std::to_string(shape[e.dimension]) + " (shape " +
                 shapeText(shape) + ")";
      } else if (e.dimension >= 0) {
        error += " (dimension " + std::to_string(e.dimension) + ")";
      }
      error += ", " + e.where;
      return failure();
    }
    if (code != 0) {
      error = "the CPU kernel " + k.kernelName + " reported error code " +
              std::to_string(code);
      return failure();
    }
  }

  results.clear();
  for (size_t o = 0; o < p.outputs.size(); ++o) {
    RefTensor t;
    t.shape = outputShapes[o];
    rt::DType dt = *toRuntimeDType(p.outputs[o].elementType);
    const H::Buffer<> &buf = buffers[o];
    size_t n = numElements(t.shape);
    t.values.resize(n);
    for (size_t e = 0; e < n; ++e)
      t.values[e] = rt::loadElement(buf.data(), dt, e);
    results.push_back(std::move(t));
  }
  return success();
}

std::string HalideKernel::loweredStatement() {
  llvm::SmallString<128> path;
  if (llvm::sys::fs::createTemporaryFile("attn-halide", "stmt", path))
    return "";
  try {
    impl->halide.compile_to_lowered_stmt(path.str().str(),
                                         impl->halide.infer_arguments(),
                                         H::Text, impl->target);
  } catch (const H::Error &e) {
    llvm::sys::fs::remove(path);
    return std::string("error: ") + e.what();
  }
  std::string text;
  if (auto buffer = llvm::MemoryBuffer::getFile(path))
    text = (*buffer)->getBuffer().str();
  llvm::sys::fs::remove(path);
  return text;
}

LogicalResult mlir::attn::runKernelOnCpu(func::FuncOp kernel,
                                         ArrayRef<RefArg> args,
                                         std::vector<RefTensor> &results,
                                         std::string &error,
                                         const HalideCodegenOptions &options) {
  std::string diagnostics;
  FailureOr<HalideKernel> compiled = [&] {
    ScopedDiagnosticHandler handler(kernel.getContext(), [&](Diagnostic &d) {
      if (d.getSeverity() != DiagnosticSeverity::Error)
        return success();
      std::string loc;
      if (auto file = dyn_cast<FileLineColLoc>(d.getLocation()))
        loc = file.getFilename().str() + ":" + std::to_string(file.getLine()) +
              ":" + std::to_string(file.getColumn()) + ": ";
      diagnostics += (diagnostics.empty() ? "" : "\n") + loc + d.str();
      return success();
    });
    return HalideKernel::compile(kernel, options);
  }();
  if (failed(compiled)) {
    error = diagnostics.empty() ? "the CPU code generator failed" : diagnostics;
    return failure();
  }
  return compiled->run(args, results, error);
}
