// The JIT API over the kernel cache. What is cached today is the verified
// attn-dialect module (kernel.mlir): a hit skips the frontend; the "cpu"
// target still JIT-compiles the Halide pipeline on load (see docs/jit.md for
// the move to cached shared objects).
#include "codegen/jit/JitCompiler.h"

#include "dialect/AttnOps.h"
#include "dialect/RuntimeDType.h"

#include "frontend/Frontend.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <atomic>
#include <limits>
#include <mutex>
#include <optional>

using namespace mlir;
using namespace mlir::attn;

namespace {

std::atomic<uint64_t> compileCallCount{0}, frontendRunCount{0},
    codegenRunCount{0};

constexpr llvm::StringLiteral kModuleFile = "kernel.mlir";

std::unique_ptr<MLIRContext> makeContext() {
  DialectRegistry registry;
  registry.insert<AttnDialect, arith::ArithDialect, math::MathDialect,
                  tensor::TensorDialect, func::FuncDialect>();
  // One context per kernel; no thread pool of its own.
  auto context =
      std::make_unique<MLIRContext>(registry, MLIRContext::Threading::DISABLED);
  context->loadAllAvailableDialects();
  return context;
}

/// Collects diagnostics as "file:line:col: error: message" lines.
class DiagnosticCollector {
public:
  explicit DiagnosticCollector(MLIRContext *context)
      : handler(context, [this](Diagnostic &diag) {
          llvm::raw_string_ostream os(text);
          Location loc = diag.getLocation();
          if (auto flc = dyn_cast<FileLineColLoc>(loc))
            os << flc.getFilename().getValue() << ":" << flc.getLine() << ":"
               << flc.getColumn() << ": ";
          else if (!isa<UnknownLoc>(loc))
            os << loc << ": ";
          switch (diag.getSeverity()) {
          case DiagnosticSeverity::Error:
            os << "error: ";
            break;
          case DiagnosticSeverity::Warning:
            os << "warning: ";
            break;
          default:
            os << "note: ";
            break;
          }
          os << diag.str() << "\n";
          return success();
        }) {}
  std::string take(llvm::StringRef fallback) {
    std::string t = text.empty() ? fallback.str() : text;
    while (!t.empty() && t.back() == '\n')
      t.pop_back();
    return t;
  }

private:
  std::string text;
  ScopedDiagnosticHandler handler;
};

/// The kernel named `name`, or the only kernel of the module.
func::FuncOp pickKernel(ModuleOp module, const std::string &name,
                        std::string &error) {
  std::vector<func::FuncOp> kernels;
  for (auto f : module.getOps<func::FuncOp>())
    kernels.push_back(f);
  std::string names;
  for (auto f : kernels)
    names += (names.empty() ? "" : ", ") + f.getSymName().str();
  if (!name.empty()) {
    for (auto f : kernels)
      if (f.getSymName() == name)
        return f;
    error = "no kernel named '" + name + "' (the source has: " + names + ")";
    return nullptr;
  }
  if (kernels.size() == 1)
    return kernels.front();
  error = kernels.empty() ? std::string("the source has no kernel")
                          : "the source has several kernels (" + names +
                                "): choose one with JitOptions::kernelName";
  return nullptr;
}

std::optional<std::string> dtypeSpelling(Type t) {
  if (auto r = dyn_cast<RankedTensorType>(t))
    t = r.getElementType();
  if (std::optional<::attn::rt::DType> d = toRuntimeDType(t))
    return std::string(::attn::rt::dtypeName(*d));
  return std::nullopt;
}

std::optional<JitValueInfo> valueInfo(Type type, DictionaryAttr attrs) {
  JitValueInfo info;
  info.isScalar = !isa<RankedTensorType>(type);
  std::optional<std::string> dtype = dtypeSpelling(type);
  if (!dtype || !attrs)
    return std::nullopt;
  info.dtype = *dtype;
  auto name = attrs.getAs<StringAttr>(kNameAttr);
  if (!name)
    return std::nullopt;
  info.name = name.str();
  if (auto tensor = dyn_cast<RankedTensorType>(type)) {
    auto dims = attrs.getAs<ArrayAttr>(kDimsAttr);
    if (!dims || static_cast<int64_t>(dims.size()) != tensor.getRank())
      return std::nullopt;
    for (Attribute d : dims) {
      auto s = dyn_cast<StringAttr>(d);
      if (!s)
        return std::nullopt;
      info.dims.push_back(s.str());
    }
  }
  return info;
}

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

} // namespace

struct JitKernel::Impl {
  std::unique_ptr<MLIRContext> context;
  OwningOpRef<ModuleOp> module;
  func::FuncOp func;
  std::optional<HalideKernel> cpu;
  std::string name, target, key;
  CacheOutcome outcome = CacheOutcome::Uncached;
  std::vector<JitValueInfo> inputs, outputs;
  std::mutex runMutex;

  JitStatus checkArguments(llvm::ArrayRef<RefArg> args) const;
};

namespace {

/// Frontend to verified module text (produce); module text to a runnable
/// kernel (load).
class ModuleArtefactBuilder : public ArtefactBuilder {
public:
  ModuleArtefactBuilder(llvm::StringRef source, llvm::StringRef bufferName,
                        const JitOptions &options)
      : source(source), bufferName(bufferName), options(options) {}

  JitStatus produce(const std::string &dir) override {
    ++frontendRunCount;
    std::unique_ptr<MLIRContext> context = makeContext();
    llvm::SourceMgr sourceMgr;
    sourceMgr.AddNewSourceBuffer(
        llvm::MemoryBuffer::getMemBufferCopy(source, bufferName),
        llvm::SMLoc());
    std::string diagnostics;
    OwningOpRef<ModuleOp> module;
    {
      llvm::raw_string_ostream os(diagnostics);
      SourceMgrDiagnosticHandler handler(sourceMgr, context.get(), os);
      FrontendOptions frontend;
      frontend.params = options.params;
      frontend.binds = options.binds;
      module = translateAttnToMLIR(sourceMgr, context.get(), frontend);
      if (module && failed(verify(*module)))
        return JitStatus::error("internal error: the frontend emitted IR "
                                "that does not verify:\n" +
                                diagnostics);
    }
    if (!module)
      return JitStatus::error(diagnostics.empty()
                                  ? "the frontend failed on " + bufferName.str()
                                  : diagnostics);
    std::string error;
    if (!pickKernel(*module, options.kernelName, error))
      return JitStatus::error(error);
    llvm::SmallString<256> file(dir);
    llvm::sys::path::append(file, kModuleFile);
    std::error_code ec;
    llvm::raw_fd_ostream os(file, ec);
    if (ec)
      return JitStatus::error("cannot write " + file.str().str() + ": " +
                              ec.message());
    // Locations kept, so that code generation errors name source lines.
    module->print(os, OpPrintingFlags().enableDebugInfo());
    os << "\n";
    os.close();
    if (os.has_error())
      return JitStatus::error("cannot write " + file.str().str());
    return JitStatus::ok();
  }

  JitStatus load(const std::string &dir) override {
    auto impl = std::make_unique<JitKernel::Impl>();
    impl->context = makeContext();
    impl->target = options.target;
    llvm::SmallString<256> file(dir);
    llvm::sys::path::append(file, kModuleFile);
    {
      DiagnosticCollector diags(impl->context.get());
      impl->module = parseSourceFile<ModuleOp>(file, impl->context.get());
      if (!impl->module || failed(verify(*impl->module)))
        return JitStatus::corrupt(
            diags.take("cannot parse " + file.str().str()));
    }
    std::string error;
    impl->func = pickKernel(*impl->module, options.kernelName, error);
    if (!impl->func)
      return JitStatus::corrupt(error);
    impl->name = impl->func.getSymName().str();
    for (unsigned i = 0; i < impl->func.getNumArguments(); ++i) {
      auto info = valueInfo(impl->func.getArgument(i).getType(),
                            impl->func.getArgAttrDict(i));
      if (!info)
        return JitStatus::corrupt("argument " + std::to_string(i) +
                                  " lacks the kernel conventions");
      impl->inputs.push_back(*info);
    }
    for (unsigned i = 0; i < impl->func.getNumResults(); ++i) {
      auto info = valueInfo(impl->func.getResultTypes()[i],
                            impl->func.getResultAttrDict(i));
      if (!info)
        return JitStatus::corrupt("result " + std::to_string(i) +
                                  " lacks the kernel conventions");
      impl->outputs.push_back(*info);
    }
    if (options.target == "cpu") {
      ++codegenRunCount;
      DiagnosticCollector diags(impl->context.get());
      FailureOr<HalideKernel> cpu =
          HalideKernel::compile(impl->func, options.halide);
      if (failed(cpu))
        return JitStatus::error(diags.take(
            "the CPU code generator failed on kernel " + impl->name));
      impl->cpu.emplace(std::move(*cpu));
    }
    loaded = std::move(impl);
    return JitStatus::ok();
  }

  std::unique_ptr<JitKernel::Impl> loaded;

private:
  llvm::StringRef source, bufferName;
  const JitOptions &options;
};

} // namespace

JitStatus JitKernel::Impl::checkArguments(llvm::ArrayRef<RefArg> args) const {
  if (args.size() != inputs.size())
    return JitStatus::error("kernel " + name + " takes " +
                            std::to_string(inputs.size()) + " arguments, got " +
                            std::to_string(args.size()));
  for (size_t i = 0; i < args.size(); ++i) {
    const JitValueInfo &formal = inputs[i];
    const RefArg &a = args[i];
    if (formal.isScalar != a.isScalar)
      return JitStatus::error("argument " + formal.name + " must be a " +
                              (formal.isScalar ? "scalar" : "tensor"));
    if (a.isScalar)
      continue;
    const RefTensor &t = a.tensor;
    if (t.shape.size() != formal.dims.size())
      return JitStatus::error("argument " + formal.name + " must have rank " +
                              std::to_string(formal.dims.size()) +
                              ", got shape " + shapeText(t.shape));
    uint64_t count = 1;
    for (int64_t extent : t.shape) {
      if (extent < 0)
        return JitStatus::error(
            "argument " + formal.name +
            " has a negative extent: " + shapeText(t.shape));
      if (extent != 0 && count > std::numeric_limits<uint64_t>::max() / extent)
        return JitStatus::error(
            "argument " + formal.name +
            " has too many elements: " + shapeText(t.shape));
      count *= static_cast<uint64_t>(extent);
    }
    if (t.values.size() != count)
      return JitStatus::error("argument " + formal.name + " has shape " +
                              shapeText(t.shape) + " but " +
                              std::to_string(t.values.size()) + " values");
    if (!t.present.empty() && t.present.size() != count)
      return JitStatus::error("argument " + formal.name + " has " +
                              std::to_string(t.present.size()) +
                              " presence flags for " + std::to_string(count) +
                              " values");
  }
  return JitStatus::ok();
}

JitKernel::JitKernel(std::unique_ptr<Impl> impl) : impl(std::move(impl)) {}
JitKernel::~JitKernel() = default;

JitStatus JitKernel::run(llvm::ArrayRef<RefArg> args,
                         std::vector<RefTensor> &results) {
  std::lock_guard<std::mutex> guard(impl->runMutex);
  if (JitStatus status = impl->checkArguments(args); !status)
    return status;
  std::string error;
  std::vector<RefTensor> out;
  LogicalResult ok = impl->cpu ? impl->cpu->run(args, out, error)
                               : interpretKernel(impl->func, args, out, error);
  if (failed(ok))
    return JitStatus::error(error.empty() ? "kernel " + impl->name + " failed"
                                          : error);
  results = std::move(out);
  return JitStatus::ok();
}

const std::string &JitKernel::name() const { return impl->name; }
const std::string &JitKernel::target() const { return impl->target; }
const std::vector<JitValueInfo> &JitKernel::inputs() const {
  return impl->inputs;
}
const std::vector<JitValueInfo> &JitKernel::outputs() const {
  return impl->outputs;
}
const std::string &JitKernel::cacheKey() const { return impl->key; }
CacheOutcome JitKernel::cacheOutcome() const { return impl->outcome; }
std::string JitKernel::moduleText() const {
  std::string text;
  llvm::raw_string_ostream os(text);
  impl->module->print(os);
  return text;
}

JitStatus mlir::attn::compileAttnSource(llvm::StringRef source,
                                        const JitOptions &options,
                                        std::unique_ptr<JitKernel> &kernel,
                                        llvm::StringRef bufferName) {
  ++compileCallCount;
  std::string key;
  if (JitStatus status = jitCacheKey(source, options, key); !status)
    return status;
  ModuleArtefactBuilder builder(source, bufferName, options);
  CacheOutcome outcome = CacheOutcome::Uncached;
  JitStatus status = JitStatus::ok();
  if (options.useCache) {
    KernelCache cache(options.cacheDir.empty() ? KernelCache::defaultDirectory()
                                               : options.cacheDir);
    status = cache.getOrCreate(key, builder, outcome);
  } else {
    status = KernelCache::buildUncached(builder);
  }
  if (!status)
    return status;
  builder.loaded->key = key;
  builder.loaded->outcome = outcome;
  kernel = std::make_unique<JitKernel>(std::move(builder.loaded));
  return JitStatus::ok();
}

JitStatus mlir::attn::compileAttnFile(llvm::StringRef path,
                                      const JitOptions &options,
                                      std::unique_ptr<JitKernel> &kernel) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return JitStatus::error("cannot read '" + path.str() +
                            "': " + buffer.getError().message());
  return compileAttnSource((*buffer)->getBuffer(), options, kernel, path);
}

JitStats mlir::attn::jitStats() {
  JitStats s;
  s.compileCalls = compileCallCount;
  s.frontendRuns = frontendRunCount;
  s.codegenRuns = codegenRunCount;
  s.cache = KernelCache::counters();
  return s;
}

void mlir::attn::resetJitStats() {
  compileCallCount = frontendRunCount = codegenRunCount = 0;
  KernelCache::resetCounters();
}
