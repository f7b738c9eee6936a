// The JIT API over the kernel cache. An entry holds the verified
// attn-dialect module (kernel.mlir) and, for "cpu", the kernel compiled ahead
// of time by Halide (kernel.so and its manifest kernel.attn.json): a hit
// parses the module and dlopens the shared object through the runtime, so it
// runs neither the frontend nor Halide (docs/jit.md). For "cuda" the entry
// holds the PTX bundle (JitCuda.h), and a hit does not touch MLIR at all.
#include "codegen/jit/JitCompiler.h"
#include "passes/Pipelines.h"

#include "codegen/jit/JitCpuBackend.h"
#include "codegen/jit/JitCuda.h"

#include "dialect/AttnOps.h"
#include "dialect/RuntimeDType.h"
#include "runtime/Runtime.h"

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
    halideBaseline{0};

constexpr llvm::StringLiteral kModuleFile = "kernel.mlir";
/// "cpu": the shared object and its manifest (manifestPathFor).
constexpr llvm::StringLiteral kLibraryFile = "kernel.so";
constexpr llvm::StringLiteral kLibraryManifestFile = "kernel.attn.json";

std::string pathIn(llvm::StringRef dir, llvm::StringRef name) {
  llvm::SmallString<256> file(dir);
  llvm::sys::path::append(file, name);
  return std::string(file);
}

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
          if (auto flc = loc->findInstanceOf<FileLineColLoc>())
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
  /// "cpu": the arguments and output shapes, and the cache entry's shared
  /// object loaded through the runtime.
  std::optional<HostSignature> signature;
  ::attn::rt::Kernel cpu;
  /// "cuda": the bundle loaded through the runtime, and the module's text
  /// (not parsed: a cache hit needs no MLIR).
  ::attn::rt::Kernel gpu;
  std::string moduleFileText;
  std::string name, target, key;
  CacheOutcome outcome = CacheOutcome::Uncached;
  std::vector<JitValueInfo> inputs, outputs;
  std::mutex refMutex; // "ref": one interpreter run at a time

  JitStatus checkArguments(llvm::ArrayRef<RefArg> args) const;
  JitStatus loadLibrary(const std::string &dir);
};

/// Loads the shared object of a cache entry and checks that its manifest
/// describes the kernel of the module beside it. The library is loaded from
/// a private copy (deleted once mapped): a cache entry changed in place
/// later never reaches a loaded kernel (a truncated mapping would fault),
/// and a recompiled entry is never mistaken for a library of the same path
/// that is still loaded (dlopen matches by path). Where the copy cannot be
/// made or loaded (a temporary directory mounted noexec), the entry's own
/// file is loaded.
JitStatus JitKernel::Impl::loadLibrary(const std::string &dir) {
  std::string library = pathIn(dir, kLibraryFile);
  ::attn::rt::Status st;
  llvm::SmallString<128> copy;
  if (!llvm::sys::fs::createUniqueDirectory("attn-kernel", copy)) {
    if (!llvm::sys::fs::copy_file(library, pathIn(copy, kLibraryFile)) &&
        !llvm::sys::fs::copy_file(pathIn(dir, kLibraryManifestFile),
                                  pathIn(copy, kLibraryManifestFile)))
      st = ::attn::rt::Kernel::load(pathIn(copy, kLibraryFile), cpu);
    llvm::sys::fs::remove_directories(copy, /*IgnoreErrors=*/true);
  }
  if (!cpu.valid())
    st = ::attn::rt::Kernel::load(library, cpu);
  if (!st)
    return JitStatus::corrupt(st.message);
  std::vector<attn_arg_info> got = cpu.arguments();
  const std::vector<::attn::rt::ManifestArgument> &want =
      signature->arguments();
  bool same = cpu.name() == name && got.size() == want.size();
  for (size_t i = 0; same && i < got.size(); ++i)
    same = got[i].name == want[i].name &&
           bool(got[i].is_output) == want[i].isOutput &&
           bool(got[i].is_scalar) == want[i].isScalar &&
           got[i].dtype == static_cast<int>(want[i].dtype) &&
           got[i].rank == static_cast<int>(want[i].dims.size());
  if (!same)
    return JitStatus::corrupt(library + " does not match kernel " + name +
                              " of " + std::string(kModuleFile));
  return JitStatus::ok();
}

namespace {

/// produce: the frontend, then the verified module as text and, for "cpu",
/// Halide's ahead-of-time compilation to a shared object and its manifest.
/// load: the module parsed back and, for "cpu", the shared object loaded
/// through the runtime (no Halide).
class KernelArtefactBuilder : public ArtefactBuilder {
public:
  KernelArtefactBuilder(llvm::StringRef source, llvm::StringRef bufferName,
                        const JitOptions &options, std::string cudaTarget)
      : source(source), bufferName(bufferName), options(options),
        cudaTarget(std::move(cudaTarget)) {}

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
    func::FuncOp kernel = pickKernel(*module, options.kernelName, error);
    if (!kernel)
      return JitStatus::error(error);
    std::string file = pathIn(dir, kModuleFile);
    std::error_code ec;
    llvm::raw_fd_ostream os(file, ec);
    if (ec)
      return JitStatus::writeFailure("cannot write " + file + ": " +
                                     ec.message());
    // Locations kept, so that code generation errors name source lines.
    module->print(os, OpPrintingFlags().enableDebugInfo());
    os << "\n";
    os.close();
    // Cleared, else the stream's destructor aborts the process.
    ec = os.error();
    os.clear_error();
    if (ec)
      return JitStatus::writeFailure("cannot write " + file + ": " +
                                     ec.message());
    if (!cudaTarget.empty()) {
      DiagnosticCollector diags(context.get());
      OwningOpRef<ModuleOp> lowered = module->clone();
      JitStatus status = jit::produceCudaEntry(
          lowered->lookupSymbol<func::FuncOp>(kernel.getSymName()), cudaTarget,
          dir);
      if (status.code() == JitStatus::Code::Error)
        return JitStatus::error(diags.take(status.message()));
      return status;
    }
    if (options.target == "cpu") {
      DiagnosticCollector diags(context.get());
      // The library is compiled from the kernel after the cpu pipeline
      // (the one-pass rewrite, ...); the cached module stays the cascade
      // as written, which is what describes the arguments.
      OwningOpRef<ModuleOp> lowered = module->clone();
      auto loweredKernel =
          lowered->lookupSymbol<func::FuncOp>(kernel.getSymName());
      if (failed(runDefaultPipeline(*lowered, "cpu")) || !loweredKernel ||
          failed(jit::compileCpuLibrary(
              loweredKernel, pathIn(dir, kLibraryFile), options.halide))) {
        std::string message = diags.take(
            "the CPU code generator failed on kernel " +
            kernel.getSymName().str());
        // The code generator names the file it could not write: a file of
        // `dir` is the directory's trouble (a full disk), not the kernel's.
        if (llvm::StringRef(message).contains("cannot write " + dir))
          return JitStatus::writeFailure(message);
        return JitStatus::error(message);
      }
    }
    return JitStatus::ok();
  }

  JitStatus load(const std::string &dir) override {
    if (!cudaTarget.empty())
      return loadCuda(dir);
    auto impl = std::make_unique<JitKernel::Impl>();
    impl->context = makeContext();
    impl->target = options.target;
    std::string file = pathIn(dir, kModuleFile);
    {
      DiagnosticCollector diags(impl->context.get());
      impl->module = parseSourceFile<ModuleOp>(file, impl->context.get());
      if (!impl->module || failed(verify(*impl->module)))
        return JitStatus::corrupt(diags.take("cannot parse " + file));
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
      DiagnosticCollector diags(impl->context.get());
      FailureOr<HostSignature> signature = HostSignature::build(impl->func);
      if (failed(signature))
        return JitStatus::error(diags.take(
            "the CPU code generator failed on kernel " + impl->name));
      impl->signature = std::move(*signature);
      if (JitStatus status = impl->loadLibrary(dir); !status)
        return status;
    }
    loaded = std::move(impl);
    return JitStatus::ok();
  }

  std::unique_ptr<JitKernel::Impl> loaded;

private:
  /// "cuda": the bundle through the runtime and the module as text.
  JitStatus loadCuda(const std::string &dir) {
    auto impl = std::make_unique<JitKernel::Impl>();
    impl->target = cudaTarget;
    std::string file = pathIn(dir, kModuleFile);
    auto text = llvm::MemoryBuffer::getFile(file, /*IsText=*/true);
    if (!text)
      return JitStatus::corrupt("cannot read " + file);
    impl->moduleFileText = (*text)->getBuffer().str();
    if (JitStatus status =
            jit::loadCudaEntry(dir, options.kernelName, impl->gpu,
                               impl->inputs, impl->outputs);
        !status)
      return status;
    impl->name = impl->gpu.name();
    loaded = std::move(impl);
    return JitStatus::ok();
  }

  llvm::StringRef source, bufferName;
  const JitOptions &options;
  /// The resolved "cuda:sm_XY[a]" target; empty for "cpu" and "ref".
  std::string cudaTarget;
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
  if (impl->gpu.valid())
    return JitStatus::error("kernel " + impl->name + " has target " +
                            impl->target +
                            ": it runs on device pointers (the typed run)");
  std::string error;
  std::vector<RefTensor> out;
  bool ok;
  if (impl->signature) {
    attn_kernel *k = impl->cpu.handle();
    ok = impl->signature->runOnRefArgs(
        args, out, error,
        [&](llvm::ArrayRef<attn_tensor> t, llvm::ArrayRef<attn_scalar> s,
            std::string &e) {
          if (attn_run(k, t.data(), t.size(), s.data(), s.size()) == ATTN_OK)
            return true;
          e = attn_last_error();
          return false;
        });
  } else {
    std::lock_guard<std::mutex> guard(impl->refMutex);
    if (JitStatus status = impl->checkArguments(args); !status)
      return status;
    ok = succeeded(interpretKernel(impl->func, args, out, error));
  }
  if (!ok)
    return JitStatus::error(error.empty() ? "kernel " + impl->name + " failed"
                                          : error);
  results = std::move(out);
  return JitStatus::ok();
}

JitStatus JitKernel::run(llvm::ArrayRef<attn_tensor> tensors,
                         llvm::ArrayRef<attn_scalar> scalars, void *stream) {
  if (impl->gpu.valid()) {
    std::vector<std::vector<int64_t>> shapes;
    size_t numOutputs = impl->outputs.size();
    if (tensors.size() >= numOutputs) {
      JitStatus status = jit::cudaOutputShapes(
          impl->gpu, tensors.drop_back(numOutputs), scalars, shapes);
      for (size_t o = 0; status && o < numOutputs; ++o) {
        const attn_tensor &t = tensors[tensors.size() - numOutputs + o];
        if (t.shape && t.rank == static_cast<int>(shapes[o].size()) &&
            !std::equal(shapes[o].begin(), shapes[o].end(), t.shape))
          return JitStatus::error(
              "output " + impl->outputs[o].name + " must have shape " +
              shapeText(shapes[o]) + ", got " +
              shapeText(std::vector<int64_t>(t.shape, t.shape + t.rank)));
      }
    }
    if (attn_run_stream(impl->gpu.handle(), tensors.data(), tensors.size(),
                        scalars.data(), scalars.size(), stream) != ATTN_OK)
      return JitStatus::error(attn_last_error());
    return JitStatus::ok();
  }
  if (stream)
    return JitStatus::error("kernel " + impl->name + " has target " +
                            impl->target + ": it takes no stream");
  if (!impl->signature)
    return JitStatus::error("kernel " + impl->name + " has target " +
                            impl->target +
                            ": typed buffers are for the cpu target");
  std::string error;
  if (!impl->signature->checkOutputShapes(tensors, scalars, error))
    return JitStatus::error(error);
  if (attn_run(impl->cpu.handle(), tensors.data(), tensors.size(),
               scalars.data(), scalars.size()) != ATTN_OK)
    return JitStatus::error(attn_last_error());
  return JitStatus::ok();
}

JitStatus
JitKernel::outputShapes(llvm::ArrayRef<attn_tensor> inputs,
                        llvm::ArrayRef<attn_scalar> scalars,
                        std::vector<std::vector<int64_t>> &shapes) const {
  if (impl->gpu.valid())
    return jit::cudaOutputShapes(impl->gpu, inputs, scalars, shapes);
  if (!impl->signature)
    return JitStatus::error("kernel " + impl->name + " has target " +
                            impl->target +
                            ": output shapes are for the cpu target");
  std::string error;
  if (!impl->signature->outputShapes(inputs, scalars, shapes, error))
    return JitStatus::error(error);
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
  if (!impl->module)
    return impl->moduleFileText;
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
  // Plain "cuda" is resolved once, through the driver; the key is then
  // computed on the resolved target (the same text jitCacheKey would give).
  std::string cudaTarget;
  JitOptions keyed = options;
  if (jit::isCudaTarget(options.target)) {
    if (JitStatus status = jit::resolveCudaTarget(options.target, cudaTarget);
        !status)
      return status;
    keyed.target = cudaTarget;
  }
  std::string key;
  if (JitStatus status = jitCacheKey(source, keyed, key); !status)
    return status;
  KernelArtefactBuilder builder(source, bufferName, options, cudaTarget);
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

std::future<JitCompileResult>
mlir::attn::compileAttnSourceAsync(std::string source, JitOptions options,
                                   std::string bufferName) {
  return std::async(std::launch::async, [source = std::move(source),
                                         options = std::move(options),
                                         bufferName = std::move(bufferName)] {
    JitCompileResult r;
    r.status = compileAttnSource(source, options, r.kernel, bufferName);
    return r;
  });
}

std::future<JitCompileResult>
mlir::attn::compileAttnFileAsync(std::string path, JitOptions options) {
  return std::async(std::launch::async, [path = std::move(path),
                                         options = std::move(options)] {
    JitCompileResult r;
    r.status = compileAttnFile(path, options, r.kernel);
    return r;
  });
}

JitStats mlir::attn::jitStats() {
  JitStats s;
  s.compileCalls = compileCallCount;
  s.frontendRuns = frontendRunCount;
  s.halideCompiles = jit::cpuCompilations() - halideBaseline;
  s.cache = KernelCache::counters();
  return s;
}

void mlir::attn::resetJitStats() {
  compileCallCount = frontendRunCount = 0;
  halideBaseline = jit::cpuCompilations();
  KernelCache::resetCounters();
}
