// The launch plan of a kernel and its manifest: where every tensor value
// lives on the device (arguments by name, intermediates in the workspace:
// values and presence bytes, each region aligned to 256 bytes), the size
// expressions of the function body's index values, the run-time errors; and
// the driver compileKernelForCuda: plan, emit (CudaDeviceEmitter.cpp), lower
// (NvvmPipeline.cpp), write the manifest (docs/runtime.md, CUDA manifests).
#include "codegen/gpu/CudaPlan.h"

#include "dialect/AttnDialect.h"
#include "dialect/AttnOps.h"
#include "dialect/RuntimeDType.h"
#include "runtime/DType.h"
#include "runtime/KernelManifest.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdio>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;
namespace rt = ::attn::rt;

//===----------------------------------------------------------------------===//
// Size expressions
//===----------------------------------------------------------------------===//

SizeText SizeText::constant(int64_t v) {
  SizeText s;
  s.text = std::to_string(v);
  s.prec = v < 0 ? 2 : 3; // "-1" parses as a negation: keep it apart
  s.value = v;
  return s;
}

SizeText SizeText::symbol(StringRef name) {
  SizeText s;
  s.text = name.str();
  return s;
}

static std::string wrap(const SizeText &s, bool paren) {
  return paren ? "(" + s.text + ")" : s.text;
}

static int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

SizeText cuda::sizeAdd(const SizeText &a, const SizeText &b) {
  if (a.value && b.value)
    return SizeText::constant(*a.value + *b.value);
  if (a.value == 0)
    return b;
  if (b.value == 0)
    return a;
  return {a.text + " + " + b.text, 1, std::nullopt};
}

SizeText cuda::sizeSub(const SizeText &a, const SizeText &b) {
  if (a.value && b.value)
    return SizeText::constant(*a.value - *b.value);
  if (b.value == 0)
    return a;
  return {a.text + " - " + wrap(b, b.prec < 2), 1, std::nullopt};
}

SizeText cuda::sizeMul(const SizeText &a, const SizeText &b) {
  if (a.value && b.value)
    return SizeText::constant(*a.value * *b.value);
  if (a.value == 1)
    return b;
  if (b.value == 1)
    return a;
  if (a.value == 0 || b.value == 0)
    return SizeText::constant(0);
  return {wrap(a, a.prec < 2) + " * " + wrap(b, b.prec <= 2), 2, std::nullopt};
}

SizeText cuda::sizeBinary(StringRef op, const SizeText &a, const SizeText &b) {
  if (a.value && b.value && *b.value != 0) {
    int64_t x = *a.value, y = *b.value;
    if (op == "/")
      return SizeText::constant(floorDiv(x, y));
    if (op == "%")
      return SizeText::constant(x - floorDiv(x, y) * y);
    if (op == "ceildiv")
      return SizeText::constant(-floorDiv(-x, y));
  }
  if (a.value && b.value && op == "min")
    return SizeText::constant(std::min(*a.value, *b.value));
  if (a.value && b.value && op == "max")
    return SizeText::constant(std::max(*a.value, *b.value));
  if ((op == "/" || op == "ceildiv") && b.value == 1)
    return a;
  if (op == "/" || op == "%")
    return {wrap(a, a.prec < 2) + " " + op.str() + " " + wrap(b, b.prec <= 2),
            2, std::nullopt};
  return {op.str() + "(" + a.text + ", " + b.text + ")", 3, std::nullopt};
}

/// Rounded up to a multiple of 256.
static SizeText align256(const SizeText &bytes) {
  SizeText n = SizeText::constant(256);
  return sizeMul(sizeBinary("ceildiv", bytes, n), n);
}

//===----------------------------------------------------------------------===//
// Messages
//===----------------------------------------------------------------------===//

static std::string argName(func::FuncOp f, unsigned i) {
  if (auto n = f.getArgAttrOfType<StringAttr>(i, kNameAttr))
    return n.str();
  return "arg" + std::to_string(i);
}

static std::string resultName(func::FuncOp f, unsigned i) {
  if (auto n = f.getResultAttrOfType<StringAttr>(i, kNameAttr))
    return n.str();
  return "out" + std::to_string(i);
}

std::string KernelPlan::nameOf(Value tensor) const {
  if (const TensorStorage *s = storageOf(tensor))
    return s->name;
  return "a tensor";
}

//===----------------------------------------------------------------------===//
// The plan
//===----------------------------------------------------------------------===//

std::optional<SizeText> KernelPlan::sizeOf(Value v, std::string &why) {
  auto it = sizes.find(v);
  if (it != sizes.end())
    return it->second;
  std::optional<SizeText> result;
  auto operand = [&](unsigned i) {
    return sizeOf(v.getDefiningOp()->getOperand(i), why);
  };
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    if (arg.getOwner()->getParentOp() == kernel.getOperation() &&
        (v.getType().isInteger(32) || v.getType().isInteger(64)))
      result = SizeText::symbol(argName(kernel, arg.getArgNumber()));
    else
      why = "a block argument that is not an integer scalar input";
  } else if (Operation *op = v.getDefiningOp()) {
    if (auto c = dyn_cast<arith::ConstantOp>(op)) {
      if (auto i = dyn_cast<IntegerAttr>(c.getValue()))
        result = SizeText::constant(i.getValue().getSExtValue());
      else
        why = "a non-integer constant";
    } else if (auto dim = dyn_cast<tensor::DimOp>(op)) {
      std::optional<SizeText> index = sizeOf(dim.getIndex(), why);
      const TensorStorage *s = storageOf(dim.getSource());
      if (index && (!index->value || !s || *index->value < 0 ||
                    *index->value >= static_cast<int64_t>(s->shape.size())))
        why = "a tensor.dim of a tensor the code generator does not hold, or "
              "at a non-constant index";
      else if (index)
        result = s->shape[*index->value];
    } else if (isa<arith::IndexCastOp, arith::IndexCastUIOp, arith::ExtSIOp,
                   arith::ExtUIOp, arith::TruncIOp>(op)) {
      result = operand(0);
    } else if (op->getNumOperands() == 2 &&
               isa<arith::AddIOp, arith::SubIOp, arith::MulIOp, arith::DivSIOp,
                   arith::FloorDivSIOp, arith::CeilDivSIOp, arith::RemSIOp,
                   arith::MaxSIOp, arith::MinSIOp>(op)) {
      std::optional<SizeText> a = operand(0), b;
      if (a)
        b = operand(1);
      if (a && b) {
        if (isa<arith::AddIOp>(op))
          result = sizeAdd(*a, *b);
        else if (isa<arith::SubIOp>(op))
          result = sizeSub(*a, *b);
        else if (isa<arith::MulIOp>(op))
          result = sizeMul(*a, *b);
        else if (isa<arith::DivSIOp, arith::FloorDivSIOp>(op))
          result = sizeBinary("/", *a, *b); // sizes are non-negative
        else if (isa<arith::CeilDivSIOp>(op))
          result = sizeBinary("ceildiv", *a, *b);
        else if (isa<arith::RemSIOp>(op))
          result = sizeBinary("%", *a, *b);
        else if (isa<arith::MaxSIOp>(op))
          result = sizeBinary("max", *a, *b);
        else
          result = sizeBinary("min", *a, *b);
      }
    } else {
      why = "'" + op->getName().getStringRef().str() +
            "' has no size expression (supported: tensor.dim, integer "
            "constants and scalar inputs, arith.addi/subi/muli/divsi/"
            "floordivsi/ceildivsi/remsi/maxsi/minsi, casts)";
    }
  }
  if (result)
    sizes[v] = *result;
  return result;
}

const TensorStorage *KernelPlan::storageOf(Value v) const {
  auto it = storage.find(v);
  return it == storage.end() ? nullptr : &it->second;
}

int KernelPlan::addError(RunError e) {
  for (size_t i = 0; i < errors.size(); ++i)
    if (errors[i].what == e.what && errors[i].where == e.where &&
        errors[i].argument == e.argument && errors[i].dimension == e.dimension)
      return static_cast<int>(i) + 1;
  errors.push_back(std::move(e));
  return static_cast<int>(errors.size());
}

/// Bytes per element as stored (i1 as one byte).
static int64_t storedBytes(Type t) {
  if (t.isInteger(1))
    return 1;
  return (t.getIntOrFloatBitWidth() + 7) / 8;
}

/// The element types the code generator stores and loads.
static bool storable(Type t) {
  return t.isF16() || t.isBF16() || t.isF32() || t.isF64() || t.isInteger(1) ||
         t.isInteger(8) || t.isInteger(16) || t.isInteger(32) ||
         t.isInteger(64);
}

/// The shape of a tensor argument or result from its attn.dims.
static LogicalResult declaredShape(Operation *anchor, ArrayAttr dims,
                                   RankedTensorType type, StringRef name,
                                   SmallVector<SizeText> &shape) {
  for (int64_t k = 0; k < type.getRank(); ++k) {
    StringAttr s;
    if (dims && k < static_cast<int64_t>(dims.size()))
      s = dyn_cast<StringAttr>(dims[k]);
    long long literal;
    if (s && !s.getValue().getAsInteger(10, literal))
      shape.push_back(SizeText::constant(literal));
    else if (s && !s.getValue().empty() && s.getValue()[0] != '?')
      shape.push_back(SizeText::symbol(s.getValue()));
    else if (!type.isDynamicDim(k))
      shape.push_back(SizeText::constant(type.getDimSize(k)));
    else
      return anchor->emitError()
             << "the CUDA code generator needs a size symbol for dimension "
             << k << " of " << name << " (attn.dims)";
  }
  return success();
}

LogicalResult KernelPlan::placeInWorkspace(Value v, bool withPresence) {
  auto type = cast<RankedTensorType>(v.getType());
  Operation *op = v.getDefiningOp();
  TensorStorage s;
  s.kind = TensorStorage::Workspace;
  s.elementType = type.getElementType();
  if (!storable(s.elementType))
    return op->emitError() << "the CUDA code generator cannot store elements "
                              "of type "
                           << s.elementType;
  std::string why;
  auto dimSize = [&](AffineMap map, ValueRange sizes,
                     SmallVector<SizeText> &shape) -> LogicalResult {
    for (AffineExpr e : map.getResults()) {
      auto d = dyn_cast<AffineDimExpr>(e);
      if (!d)
        return op->emitError() << "a result map names a non-dimension";
      std::optional<SizeText> n = sizeOf(sizes[d.getPosition()], why);
      if (!n)
        return op->emitError() << "the CUDA code generator cannot express "
                                  "the size of dimension d"
                               << d.getPosition() << ": " << why;
      shape.push_back(*n);
    }
    return success();
  };
  if (auto einsum = dyn_cast<EinsumOp>(op)) {
    if (failed(dimSize(einsum.getResultMap(), einsum.getSizes(), s.shape)))
      return failure();
  } else if (auto online = dyn_cast<OnlineOp>(op)) {
    unsigned r = cast<OpResult>(v).getResultNumber();
    AffineMap map = r == 0 ? online.getMaxMap() : online.getSumMap(r - 1);
    if (failed(dimSize(map, online.getSizes(), s.shape)))
      return failure();
  } else if (auto fill = dyn_cast<FillOp>(op)) {
    const TensorStorage *in = storageOf(fill.getInput());
    if (!in)
      return op->emitError() << "attn.fill of a tensor the CUDA code "
                                "generator does not hold";
    s.shape = in->shape;
  }
  std::string resultName;
  if (auto n = op->getAttrOfType<StringAttr>(kNameAttr))
    resultName = n.str();
  s.name = !resultName.empty()
               ? resultName
               : "the result of " + op->getName().getStringRef().str() +
                     " at " + locationText(op->getLoc());
  SizeText count = s.count();
  // The results of an op whose work a fused launch may take over.
  if (auto it = storageScale.find(op); it != storageScale.end())
    count = sizeMul(count, it->second);
  s.valueOffset = workspaceBytes.text;
  workspaceBytes = sizeAdd(
      workspaceBytes,
      align256(sizeMul(count, SizeText::constant(storedBytes(s.elementType)))));
  if (withPresence) {
    s.presenceOffset = workspaceBytes.text;
    workspaceBytes = sizeAdd(workspaceBytes, align256(count));
  }
  storage[v] = std::move(s);
  return success();
}

LogicalResult KernelPlan::build() {
  if (kernel.isExternal() || !kernel.getBody().hasOneBlock())
    return kernel.emitError()
           << "the CUDA code generator needs a kernel body of one block";
  for (unsigned i = 0; i < kernel.getNumArguments(); ++i) {
    Type t = kernel.getArgument(i).getType();
    auto tt = dyn_cast<RankedTensorType>(t);
    if (!tt) {
      if (!toRuntimeDType(t))
        return kernel.emitError() << "scalar input " << argName(kernel, i)
                                  << " has the unsupported type " << t;
      continue;
    }
    TensorStorage s;
    s.param = s.name = argName(kernel, i);
    s.elementType = tt.getElementType();
    s.argument = static_cast<int>(i);
    if (!toRuntimeDType(s.elementType))
      return kernel.emitError()
             << "input " << s.name << " has the unsupported element type "
             << s.elementType;
    if (failed(declaredShape(kernel,
                             kernel.getArgAttrOfType<ArrayAttr>(i, kDimsAttr),
                             tt, s.name, s.shape)))
      return failure();
    storage[kernel.getArgument(i)] = std::move(s);
  }
  for (unsigned i = 0; i < kernel.getNumResults(); ++i) {
    auto tt = dyn_cast<RankedTensorType>(kernel.getResultTypes()[i]);
    if (!tt || !toRuntimeDType(tt.getElementType()))
      return kernel.emitError() << "output " << resultName(kernel, i)
                                << " is not a tensor of a supported type";
    TensorStorage s;
    s.param = s.name = resultName(kernel, i);
    s.elementType = tt.getElementType();
    s.argument = static_cast<int>(kernel.getNumArguments() + i);
    if (failed(declaredShape(
            kernel, kernel.getResultAttrOfType<ArrayAttr>(i, kDimsAttr), tt,
            s.name, s.shape)))
      return failure();
    outputs.push_back(std::move(s));
  }
  if (fuse)
    planFusedAttention(*this);
  for (Operation &op : kernel.getBody().front()) {
    if (isa<EinsumOp>(op)) {
      if (failed(placeInWorkspace(op.getResult(0), /*withPresence=*/true)))
        return failure();
    } else if (isa<OnlineOp>(op)) {
      for (Value r : op.getResults())
        if (failed(placeInWorkspace(r, /*withPresence=*/true)))
          return failure();
    } else if (auto fill = dyn_cast<FillOp>(op)) {
      bool readLater = llvm::any_of(fill->getUsers(), [](Operation *u) {
        return !isa<func::ReturnOp>(u);
      });
      if (readLater && failed(placeInWorkspace(fill.getResult(), false)))
        return failure();
    }
  }
  return success();
}

//===----------------------------------------------------------------------===//
// The manifest
//===----------------------------------------------------------------------===//

static std::string jsonString(StringRef s) { return rt::jsonQuote(s.str()); }

static std::string sizeJson(const SizeText &s) {
  if (s.value && *s.value >= 0)
    return std::to_string(*s.value);
  return jsonString(s.text);
}

std::string KernelPlan::manifest(const std::vector<Launch> &launches,
                                 const CudaCodegenOptions &options) {
  std::string j = "{\n";
  j += "  \"format\": \"attn-kernel-manifest\",\n";
  j += "  \"format_version\": 1,\n";
  j += "  \"compiler\": " + jsonString(options.compilerVersion) + ",\n";
  j += "  \"kernel\": " + jsonString(kernel.getSymName()) + ",\n";
  j += "  \"target\": " + jsonString("cuda:" + options.chip) + ",\n";
  j += "  \"ptx\": " + jsonString(kernel.getSymName().str() + ".ptx") + ",\n";
  j += "  \"calling_convention\": \"cuda_kernel_params\",\n";
  j += "  \"arguments\": [\n";
  auto dimsJson = [](const TensorStorage &s) {
    std::string out = "[";
    for (size_t k = 0; k < s.shape.size(); ++k)
      out += (k ? ", " : "") + sizeJson(s.shape[k]);
    return out + "]";
  };
  auto ret = cast<func::ReturnOp>(kernel.getBody().front().getTerminator());
  for (unsigned i = 0; i < kernel.getNumArguments(); ++i) {
    Type t = kernel.getArgument(i).getType();
    j += i ? ",\n" : "";
    j += "    {\"name\": " + jsonString(argName(kernel, i)) +
         ", \"role\": \"input\"";
    if (const TensorStorage *s = storageOf(kernel.getArgument(i)))
      j += ", \"kind\": \"tensor\", \"dtype\": " +
           jsonString(rt::dtypeName(*toRuntimeDType(s->elementType))) +
           ", \"dims\": " + dimsJson(*s) + "}";
    else
      j += ", \"kind\": \"scalar\", \"dtype\": " +
           jsonString(rt::dtypeName(*toRuntimeDType(t))) + "}";
  }
  for (unsigned i = 0; i < outputs.size(); ++i) {
    const TensorStorage &s = outputs[i];
    j += (i || kernel.getNumArguments()) ? ",\n" : "";
    double fill = 0;
    if (auto f = ret.getOperand(i).getDefiningOp<FillOp>())
      fill = f.getValue().convertToDouble();
    j += "    {\"name\": " + jsonString(s.name) +
         ", \"role\": \"output\", \"kind\": \"tensor\", \"dtype\": " +
         jsonString(rt::dtypeName(*toRuntimeDType(s.elementType))) +
         ", \"dims\": " + dimsJson(s) +
         ", \"fill\": " + jsonString(rt::fillValueText(fill)) + "}";
  }
  j += "\n  ],\n";
  if (!definitions.empty()) {
    j += "  \"sizes\": [";
    for (size_t i = 0; i < definitions.size(); ++i)
      j += std::string(i ? ",\n" : "\n") + "    {\"name\": " +
           jsonString(definitions[i].first) +
           ", \"value\": " + sizeJson(definitions[i].second) + "}";
    j += "\n  ],\n";
  }
  if (!workspaceBytes.value || *workspaceBytes.value != 0)
    j += "  \"workspace_bytes\": " + sizeJson(workspaceBytes) + ",\n";
  j += "  \"launches\": [";
  for (size_t i = 0; i < launches.size(); ++i) {
    const Launch &l = launches[i];
    SizeText block = SizeText::constant(l.threads ? l.threads
                                                  : options.blockSize);
    SizeText grid =
        l.blocks ? *l.blocks
                 : sizeBinary("min", sizeBinary("ceildiv", l.count, block),
                              SizeText::constant(65536));
    j += i ? ",\n" : "\n";
    j += "    {\"entry\": " + jsonString(l.entry) + ", \"grid\": [" +
         sizeJson(grid) + "], \"block\": [" + sizeJson(block) + "]";
    if (l.sharedBytes)
      j += ", \"shared_bytes\": " + sizeJson(*l.sharedBytes);
    j += ",\n     \"params\": [";
    for (size_t k = 0; k < l.params.size(); ++k)
      j += (k ? ", " : "") + jsonString(l.params[k]);
    j += "]}";
  }
  j += "\n  ],\n";
  j += "  \"errors\": [";
  for (size_t i = 0; i < errors.size(); ++i) {
    const RunError &e = errors[i];
    j += i ? ",\n" : "\n";
    j += "    {\"what\": " + jsonString(e.what) +
         ", \"argument\": " + std::to_string(e.argument) +
         ", \"dimension\": " + std::to_string(e.dimension) +
         ", \"where\": " + jsonString(e.where) + "}";
  }
  j += errors.empty() ? "]\n" : "\n  ]\n";
  return j + "}\n";
}

//===----------------------------------------------------------------------===//
// The driver
//===----------------------------------------------------------------------===//

std::optional<std::string> mlir::attn::cudaChipOfTarget(StringRef target) {
  if (target == "cuda")
    return std::string("sm_90a");
  if (!target.consume_front("cuda:sm_"))
    return std::nullopt;
  StringRef digits = target;
  if (digits.ends_with("a"))
    digits = digits.drop_back();
  if (digits.size() < 2 || digits.size() > 3 ||
      !llvm::all_of(digits, [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return "sm_" + target.str();
}

FailureOr<CudaDeviceModule>
mlir::attn::buildCudaDeviceModule(func::FuncOp kernel,
                                  const CudaCodegenOptions &options) {
  MLIRContext *context = kernel.getContext();
  {
    DialectRegistry registry;
    registerCudaCodegenDialects(registry);
    context->appendDialectRegistry(registry);
    context->loadDialect<gpu::GPUDialect, NVVM::NVVMDialect, LLVM::LLVMDialect,
                         scf::SCFDialect, arith::ArithDialect,
                         math::MathDialect>();
  }
  KernelPlan plan(kernel);
  plan.fuse = options.fuse;
  plan.noWgmma = options.chip != "sm_90a"
                     ? "the target is " + options.chip + ", not sm_90a"
                 : !options.wgmma
                     ? std::string("the wgmma launch is turned off (--cuda-wgmma=false)")
                     : std::string();
  plan.wgmmaOverlap = options.wgmmaOverlap;
  plan.wgmmaWarpgroups = options.wgmmaWarpgroups;
  plan.longestFirst = options.longestFirst;
  plan.paddedHeadDims = options.paddedHeadDims;
  if (failed(plan.build()))
    return failure();

  Location loc = kernel.getLoc();
  CudaDeviceModule result;
  result.module = ModuleOp::create(loc);
  (*result.module)
      ->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                UnitAttr::get(context));
  OpBuilder b = OpBuilder::atBlockEnd(result.module->getBody());
  auto gpuModule =
      gpu::GPUModuleOp::create(b, loc, kernel.getSymName().str() + "_kernels");
  std::vector<Launch> launches;
  if (failed(emitDeviceKernels(plan, gpuModule, options, launches)))
    return failure();
  if (launches.empty())
    return kernel.emitError() << "the CUDA code generator found nothing to "
                                 "launch in kernel "
                              << kernel.getSymName();
  {
    std::string diagnostic;
    ScopedDiagnosticHandler handler(context, [&](Diagnostic &d) {
      if (diagnostic.empty())
        diagnostic = d.str();
      return success();
    });
    if (failed(verify(*result.module)))
      return kernel.emitError()
             << "internal error: the CUDA code generator built device code "
                "that does not verify: "
             << diagnostic;
  }
  result.manifest = plan.manifest(launches, options);
  return result;
}

FailureOr<CudaArtifact>
mlir::attn::compileKernelForCuda(func::FuncOp kernel,
                                 const CudaCodegenOptions &options) {
  FailureOr<CudaDeviceModule> device = buildCudaDeviceModule(kernel, options);
  if (failed(device))
    return failure();
  if (std::optional<std::string> dump =
          llvm::sys::Process::GetEnv("ATTN_CUDA_DUMP_MLIR");
      dump && *dump == "1")
    device->module->print(llvm::errs());
  std::string error;
  FailureOr<std::string> ptx =
      cuda::lowerToPtx(*device->module, options, error);
  if (failed(ptx))
    return kernel.emitError() << "CUDA code generation for kernel "
                              << kernel.getSymName() << " failed: " << error;
  CudaArtifact artifact;
  artifact.kernelName = kernel.getSymName().str();
  artifact.ptx = std::move(*ptx);
  artifact.manifest = std::move(device->manifest);
  return artifact;
}

LogicalResult mlir::attn::writeCudaBundle(func::FuncOp kernel,
                                          const CudaArtifact &artifact,
                                          StringRef dir) {
  if (std::error_code ec = llvm::sys::fs::create_directories(dir))
    return kernel.emitError()
           << "cannot create directory '" << dir << "': " << ec.message();
  for (auto [ext, text] :
       {std::pair<const char *, const std::string *>{".ptx", &artifact.ptx},
        {".attn.json", &artifact.manifest}}) {
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, artifact.kernelName + ext);
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    if (!ec) {
      os << *text;
      os.close();
      ec = os.error();
      os.clear_error(); // else the destructor aborts (a full disk)
    }
    if (ec)
      return kernel.emitError()
             << "cannot write '" << path << "': " << ec.message();
  }
  return success();
}
