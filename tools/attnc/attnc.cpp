// attnc: the attn compiler driver. File in, artefact out; `run` executes a
// kernel on .npy inputs. Exit codes: 0 success, 1 user error, 2 internal.
//
//   attnc FILE.attn --emit=mlir [-o OUT]
//   attnc run FILE.attn --target=ref --in Q=q.npy --in scale=0.5 --out O=o.npy
//   attnc check FILE.attn --sizes B=1,H=2,... --target=cpu
//   attnc inputs FILE.attn --sizes B=1,H=2,... -o DIR   (random inputs)
//   attnc FILE.attn --target=cuda:sm_90a --emit=ptx|bundle -o OUT
#include "codegen/gpu/CudaCodegen.h"
#include "codegen/halide/HalideAot.h"
#include "codegen/halide/HalideEmitter.h"
#include "codegen/jit/CompilerVersion.h"
#include "codegen/jit/KernelCache.h"
#include "codegen/ref/ReferenceInterpreter.h"
#include "dialect/AttnOps.h"
#include "dialect/RuntimeDType.h"
#include "frontend/Frontend.h"
#include "passes/Passes.h"
#include "passes/Pipelines.h"
#include "runtime/DType.h"
#include "runtime/Npy.h"
#include "runtime/Runtime.h"
#include "tools/attnc/CompileProgress.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <csignal>
#include <map>
#include <set>
#include <cstdlib>
#include <random>

using namespace mlir;
namespace cl = llvm::cl;
namespace rt = ::attn::rt;

namespace {

enum ExitCode { kOk = 0, kUserError = 1, kInternalError = 2 };

cl::OptionCategory attncCategory("attnc options");

cl::opt<std::string> inputFile(cl::Positional, cl::desc("<file.attn>"),
                               cl::Required, cl::cat(attncCategory));
cl::opt<std::string> emit("emit",
                          cl::desc("What to emit: mlir (after the target's "
                                   "default pipeline); with --target=cpu: "
                                   "halide (Halide's lowered statement), obj "
                                   "or so (with a manifest NAME.attn.json "
                                   "beside it, for the runtime); with "
                                   "--target=cuda:sm_XY: ptx, or bundle (a "
                                   "directory of KERNEL.ptx and "
                                   "KERNEL.attn.json per kernel)"),
                          cl::init("mlir"), cl::cat(attncCategory));
cl::opt<std::string> target("target",
                            cl::desc("Target: ref (the float64 reference "
                                     "interpreter), cpu (Halide) or "
                                     "cuda:sm_90a / cuda:sm_80 (PTX)"),
                            cl::init("ref"), cl::cat(attncCategory));
cl::opt<std::string> outputFile("o", cl::desc("Output file (or directory for "
                                              "`inputs`)"),
                                cl::value_desc("path"), cl::init("-"),
                                cl::cat(attncCategory));
cl::opt<std::string> kernelName("kernel",
                                cl::desc("The kernel to run or emit (default: "
                                         "the only one in the file)"),
                                cl::cat(attncCategory));
cl::list<std::string> params("param", cl::desc("Override a param: NAME=VALUE"),
                             cl::cat(attncCategory));
cl::list<std::string> binds("bind",
                            cl::desc("Fix a size symbol at compile time: "
                                     "SYM=N"),
                            cl::cat(attncCategory));
cl::list<std::string> ins("in",
                          cl::desc("run: an input, NAME=FILE.npy or NAME=NUMBER"),
                          cl::cat(attncCategory));
cl::list<std::string> outs("out", cl::desc("run: write an output, NAME=FILE.npy"),
                           cl::cat(attncCategory));
cl::opt<bool> convert("convert",
                      cl::desc("run: round inputs to their declared dtypes "
                               "instead of requiring the exact dtype"),
                      cl::cat(attncCategory));
cl::opt<std::string> sizes("sizes",
                           cl::desc("inputs: size of every symbol, "
                                    "B=1,H=2,P=37,..."),
                           cl::cat(attncCategory));
cl::opt<unsigned> seed("seed", cl::desc("inputs: random seed"), cl::init(1),
                       cl::cat(attncCategory));
cl::opt<bool> remarks("remarks",
                      cl::desc("Print the passes' remarks (e.g. `rank m: 1 "
                               "pass`) on stderr"),
                      cl::cat(attncCategory));
cl::opt<bool> cudaWgmma(
    "cuda-wgmma",
    cl::desc("cuda:sm_90a: the fused attention launch on warpgroup MMA "
             "(wgmma) where it applies (default; --cuda-wgmma=false: the "
             "mma.sync launch)"),
    cl::init(true), cl::cat(attncCategory));
cl::opt<bool> cudaWgmmaOverlap(
    "cuda-wgmma-overlap",
    cl::desc("cuda:sm_90a: in the wgmma launch, issue the next key tile's "
             "scores before this tile's softmax (FA3's intra-warpgroup "
             "overlap; off by default: not yet run on a GPU)"),
    cl::init(false), cl::cat(attncCategory));
cl::opt<unsigned> cudaWgmmaWarpgroups(
    "cuda-wgmma-warpgroups",
    cl::desc("cuda:sm_90a: warpgroups per block of the wgmma launch, 1 or 2 "
             "(2: 128 query rows a block share each K/V tile)"),
    cl::init(1), cl::cat(attncCategory));
cl::opt<bool> cudaLongestFirst(
    "cuda-longest-first",
    cl::desc("cuda: under a mask relating keys to query rows (causal), run "
             "the fused launch's last row blocks (the longest) first "
             "(off by default: not yet run on a GPU)"),
    cl::init(false), cl::cat(attncCategory));
cl::opt<bool> cudaAnyHeadDim(
    "cuda-any-head-dim",
    cl::desc("cuda: the fused attention launch for any head dimension up to "
             "128 (variants 32, 64, 96, 128, padded; off by default: not yet "
             "run on a GPU)"),
    cl::init(false), cl::cat(attncCategory));
cl::opt<bool> printPipeline("print-pipeline",
                            cl::desc("Print the target's default pass "
                                     "pipeline and exit"),
                            cl::cat(attncCategory));
cl::opt<bool> quiet("quiet",
                    cl::desc("No progress line on stderr for long compiles"),
                    cl::cat(attncCategory));
cl::opt<bool> progress("progress",
                       cl::desc("A progress line on stderr for compiles "
                                "longer than a second even when stderr is "
                                "not a terminal (where it is, the default)"),
                       cl::cat(attncCategory));
cl::opt<int> progressAfterMs(
    "progress-after-ms",
    cl::desc("Print the progress line once a compile takes this long"),
    cl::init(1000), cl::Hidden, cl::cat(attncCategory));
cl::opt<bool> verifyDiagnostics(
    "verify-diagnostics",
    cl::desc("Check `expected-error` annotations in the source (lit tests)"),
    cl::cat(attncCategory));

/// A user error, reported as "attnc: error: ..." and exit code 1.
int userError(const llvm::Twine &message) {
  llvm::errs() << "attnc: error: " << message << "\n";
  return kUserError;
}

/// Splits "NAME=VALUE"; false when there is no '=' or no name.
bool splitAssignment(StringRef text, std::string &name, std::string &value) {
  auto [n, v] = text.split('=');
  if (n.empty() || n.size() == text.size())
    return false;
  name = n.trim().str();
  value = v.trim().str();
  return true;
}

/// Parses the whole of `text` as a number.
bool parseNumber(const std::string &text, double &value) {
  if (text.empty())
    return false;
  if (text == "inf" || text == "+inf" || text == "-inf") {
    value = text[0] == '-' ? -INFINITY : INFINITY;
    return true;
  }
  char *end = nullptr;
  value = std::strtod(text.c_str(), &end);
  return end && *end == '\0' && !std::isnan(value);
}

/// The range of integer dtype `dtype` as text when `v` lies outside it.
std::optional<std::string> integerRange(rt::DType dtype, double v) {
  switch (dtype) {
  case rt::DType::i32:
    if (v < -2147483648.0 || v > 2147483647.0)
      return std::string("-2147483648 to 2147483647");
    return std::nullopt;
  case rt::DType::i64:
    // Doubles past 2^63 do not convert; 2^63 itself is one of them.
    if (v < -9223372036854775808.0 || v >= 9223372036854775808.0)
      return std::string("-2^63 to 2^63-1");
    return std::nullopt;
  case rt::DType::boolean:
    if (v != 0 && v != 1)
      return std::string("0 or 1");
    return std::nullopt;
  default:
    return std::nullopt;
  }
}

std::optional<rt::DType> dtypeOf(Type t) {
  return mlir::attn::toRuntimeDType(t);
}

std::string argName(func::FuncOp f, unsigned i) {
  if (auto n = f.getArgAttrOfType<StringAttr>(i, mlir::attn::kNameAttr))
    return n.str();
  return "arg" + std::to_string(i);
}
std::string resultName(func::FuncOp f, unsigned i) {
  if (auto n = f.getResultAttrOfType<StringAttr>(i, mlir::attn::kNameAttr))
    return n.str();
  return "result" + std::to_string(i);
}
SmallVector<std::string> dimSymbols(ArrayAttr dims) {
  SmallVector<std::string> out;
  if (dims)
    for (Attribute a : dims)
      out.push_back(cast<StringAttr>(a).str());
  return out;
}

/// How a declared tensor looks in messages: bf16[B, H, P, E].
std::string describe(Type type, ArrayAttr dims) {
  std::string s;
  llvm::raw_string_ostream os(s);
  if (auto t = dyn_cast<RankedTensorType>(type)) {
    auto dt = dtypeOf(t.getElementType());
    os << (dt ? rt::dtypeName(*dt) : "?") << "[";
    SmallVector<std::string> syms = dimSymbols(dims);
    for (int64_t i = 0; i < t.getRank(); ++i) {
      if (i) os << ", ";
      if (i < static_cast<int64_t>(syms.size())) os << syms[i];
      else os << "?";
    }
    os << "]";
  } else {
    auto dt = dtypeOf(type);
    os << (dt ? rt::dtypeName(*dt) : "?");
  }
  return s;
}

/// `a` with its elements rounded to `dtype` (bf16 and f16 as bit patterns).
rt::NpyArray convertArray(const rt::NpyArray &a, rt::DType dtype) {
  rt::NpyArray out;
  out.dtype = dtype;
  out.shape = a.shape;
  size_t n = a.numElements();
  out.data.resize(n * rt::dtypeSize(dtype));
  for (size_t k = 0; k < n; ++k)
    rt::storeElement(out.data.data(), dtype, k,
                     rt::loadElement(a.data.data(), a.dtype, k));
  return out;
}

/// An array as the reference interpreter takes it (doubles).
mlir::attn::RefArg refArgOf(const rt::NpyArray &a) {
  mlir::attn::RefTensor t;
  t.shape = a.shape;
  size_t n = a.numElements();
  t.values.resize(n);
  for (size_t k = 0; k < n; ++k)
    t.values[k] = rt::loadElement(a.data.data(), a.dtype, k);
  return mlir::attn::RefArg::ofTensor(std::move(t));
}

/// Compiles the file into a module. Diagnostics go to stderr (or are verified
/// against expected-* annotations). Returns null after errors.
OwningOpRef<ModuleOp> compile(MLIRContext &context, llvm::SourceMgr &sourceMgr,
                              int &exitCode) {
  mlir::attn::FrontendOptions options;
  for (const std::string &p : params) {
    std::string n, v;
    if (!splitAssignment(p, n, v)) {
      exitCode = userError("--param expects NAME=VALUE, got '" + p + "'");
      return nullptr;
    }
    options.params[n] = v;
  }
  for (const std::string &b : binds) {
    std::string n, v;
    long long value = 0;
    if (!splitAssignment(b, n, v) || StringRef(v).getAsInteger(10, value) ||
        value <= 0) {
      exitCode = userError("--bind expects SYM=N with N a positive integer, "
                           "got '" + b + "'");
      return nullptr;
    }
    options.binds[n] = value;
  }
  exitCode = kUserError;
  return mlir::attn::translateAttnToMLIR(sourceMgr, &context, options);
}

/// The kernel named by --kernel, or the only kernel of the module.
func::FuncOp pickKernel(ModuleOp module, int &exitCode) {
  SmallVector<func::FuncOp> kernels;
  for (auto f : module.getOps<func::FuncOp>())
    kernels.push_back(f);
  if (!kernelName.empty()) {
    for (auto f : kernels)
      if (f.getSymName() == kernelName)
        return f;
    std::string names;
    for (auto f : kernels)
      names += (names.empty() ? "" : ", ") + f.getSymName().str();
    exitCode = userError("no kernel named '" + kernelName + "' (the file has: " +
                         names + ")");
    return nullptr;
  }
  if (kernels.size() == 1)
    return kernels.front();
  std::string names;
  for (auto f : kernels)
    names += (names.empty() ? "" : ", ") + f.getSymName().str();
  exitCode = userError(kernels.empty() ? std::string("the file has no kernel")
                                       : "the file has several kernels (" +
                                             names + "): choose one with "
                                                     "--kernel NAME");
  return nullptr;
}

/// The target's default pass pipeline on the module, as text (docs/pipeline.md).
std::string defaultPipeline() {
  return mlir::attn::defaultPipeline(target).value_or(
      *mlir::attn::defaultPipeline("ref"));
}

/// Runs the target's default pipeline (MLIR's pass-manager flags apply).
LogicalResult runPipeline(ModuleOp module) {
  PassManager pm(module->getName());
  if (failed(parsePassPipeline(defaultPipeline(), pm, llvm::errs())))
    return failure();
  if (failed(applyPassManagerCLOptions(pm)))
    return failure();
  return pm.run(module);
}

bool isCudaTarget() { return StringRef(target).starts_with("cuda"); }

bool knownTarget(int &exitCode, bool forEmit = false) {
  if (target == "ref" || target == "cpu")
    return true;
  if (isCudaTarget()) {
    if (!mlir::attn::cudaChipOfTarget(target)) {
      exitCode = userError("unknown CUDA target --target=" + target +
                           " (written cuda:sm_XY or cuda:sm_XYa, e.g. "
                           "cuda:sm_90a or cuda:sm_80)");
      return false;
    }
    if (forEmit)
      return true;
    exitCode = userError("--target=" + target +
                         " compiles (--emit=ptx or --emit=bundle) but does "
                         "not run here: run the bundle with the runtime on a "
                         "GPU machine (docs/runtime.md)");
    return false;
  }
  exitCode = userError("unknown --target=" + target +
                       " (available: ref, cpu, cuda:sm_90a, cuda:sm_80)");
  return false;
}

/// `kernel` after the cpu target's default pipeline, in a copy of its module
/// (the original stays the cascade as written: `check` interprets it). The
/// copy is never erased: it lives until attnc exits (erasing it after the
/// context is gone would crash).
FailureOr<func::FuncOp> loweredForCpu(func::FuncOp kernel) {
  ModuleOp copy = kernel->getParentOfType<ModuleOp>().clone();
  if (failed(mlir::attn::runDefaultPipeline(copy, "cpu")))
    return failure();
  auto lowered = copy.lookupSymbol<func::FuncOp>(kernel.getSymName());
  if (!lowered)
    return failure();
  return lowered;
}

/// "attnc: compiling KERNEL for TARGET ..." once a compile takes longer than
/// --progress-after-ms: where stderr is a terminal or under --progress, and
/// never under --quiet (a log or a test reading stderr sees no line that
/// depends on the machine's speed).
std::unique_ptr<attnc::CompileProgress> progressOf(func::FuncOp kernel) {
  bool show = !quiet && (progress || llvm::errs().is_displayed());
  return std::make_unique<attnc::CompileProgress>(
      (kernel.getSymName() + " for " + target).str(),
      std::chrono::milliseconds(show ? int(progressAfterMs) : -1));
}

/// Compiles `kernel` for the CPU target after its default pipeline
/// (diagnostics already reported).
FailureOr<mlir::attn::HalideKernel> compileForCpu(func::FuncOp kernel) {
  auto progress = progressOf(kernel);
  FailureOr<func::FuncOp> lowered = loweredForCpu(kernel);
  FailureOr<mlir::attn::HalideKernel> compiled =
      succeeded(lowered) ? mlir::attn::HalideKernel::compile(*lowered, {})
                         : FailureOr<mlir::attn::HalideKernel>(failure());
  if (failed(compiled))
    llvm::errs() << "attnc: error: the CPU code generator could not compile "
                 << kernel.getSymName() << "\n";
  return compiled;
}

/// Runs `kernel` on `args` (doubles) for the chosen target.
int execute(func::FuncOp kernel, ArrayRef<mlir::attn::RefArg> args,
            std::vector<mlir::attn::RefTensor> &results) {
  std::string error;
  if (target == "ref") {
    if (failed(mlir::attn::interpretKernel(kernel, args, results, error)))
      return userError(error);
    return kOk;
  }
  FailureOr<mlir::attn::HalideKernel> compiled = compileForCpu(kernel);
  if (failed(compiled))
    return kInternalError;
  if (failed(compiled->run(args, results, error)))
    return userError(error);
  return kOk;
}

/// --target=cuda:...: --emit=ptx (one kernel) or --emit=bundle (every
/// kernel, or --kernel's), after the target's default pipeline.
int emitCuda(ModuleOp module) {
  int exitCode = kOk;
  if (emit != "ptx" && emit != "bundle")
    return userError("--emit=" + emit + " is not available for --target=" +
                     target + " (available: mlir, ptx, bundle)");
  if (emit == "bundle" && outputFile == "-")
    return userError("--emit=bundle writes a directory: give it with -o DIR");
  SmallVector<func::FuncOp> kernels;
  if (emit == "ptx" || !kernelName.empty()) {
    func::FuncOp kernel = pickKernel(module, exitCode);
    if (!kernel)
      return exitCode;
    kernels.push_back(kernel);
  } else {
    for (auto f : module.getOps<func::FuncOp>())
      kernels.push_back(f);
  }
  if (failed(runPipeline(module)))
    return kInternalError;
  mlir::attn::CudaCodegenOptions options;
  options.chip = *mlir::attn::cudaChipOfTarget(target);
  options.wgmma = cudaWgmma;
  options.wgmmaOverlap = cudaWgmmaOverlap;
  if (cudaWgmmaWarpgroups != 1 && cudaWgmmaWarpgroups != 2) {
    llvm::errs() << "attnc: --cuda-wgmma-warpgroups must be 1 or 2, not "
                 << cudaWgmmaWarpgroups << "\n";
    return kUserError;
  }
  options.wgmmaWarpgroups = cudaWgmmaWarpgroups;
  options.longestFirst = cudaLongestFirst;
  options.paddedHeadDims = cudaAnyHeadDim;
  options.compilerVersion = mlir::attn::compilerVersion();
  for (func::FuncOp kernel : kernels) {
    auto progress = progressOf(kernel);
    // Unsupported constructs were reported as diagnostics on the op.
    FailureOr<mlir::attn::CudaArtifact> artifact =
        mlir::attn::compileKernelForCuda(kernel, options);
    if (failed(artifact))
      return kUserError;
    if (emit == "bundle") {
      if (failed(mlir::attn::writeCudaBundle(kernel, *artifact, outputFile)))
        return kUserError;
      continue;
    }
    std::string error;
    auto output = openOutputFile(outputFile, &error);
    if (!output)
      return userError("cannot write '" + outputFile + "': " + error);
    output->os() << artifact->ptx;
    output->keep();
  }
  return kOk;
}

int emitModule(ModuleOp module) {
  int exitCode = kOk;
  if (!knownTarget(exitCode, /*forEmit=*/true))
    return exitCode;
  if (isCudaTarget() && emit != "mlir")
    return emitCuda(module);
  if (emit == "halide" && target == "cpu") {
    func::FuncOp kernel = pickKernel(module, exitCode);
    if (!kernel)
      return exitCode;
    FailureOr<mlir::attn::HalideKernel> compiled = compileForCpu(kernel);
    if (failed(compiled))
      return kInternalError;
    std::string error;
    auto output = openOutputFile(outputFile, &error);
    if (!output)
      return userError("cannot write '" + outputFile + "': " + error);
    output->os() << compiled->loweredStatement();
    output->keep();
    return kOk;
  }
  if ((emit == "obj" || emit == "so") && target == "cpu") {
    func::FuncOp kernel = pickKernel(module, exitCode);
    if (!kernel)
      return exitCode;
    if (outputFile == "-")
      return userError("--emit=" + emit + " writes a file: give it with -o "
                       "PATH (the manifest goes beside it)");
    mlir::attn::CpuAotOptions options;
    options.compilerVersion = mlir::attn::compilerVersion();
    options.runtimeCacheDir = mlir::attn::KernelCache::defaultDirectory();
    auto progress = progressOf(kernel);
    FailureOr<func::FuncOp> lowered = loweredForCpu(kernel);
    if (failed(lowered))
      return kInternalError;
    FailureOr<mlir::attn::CpuArtifact> artifact =
        mlir::attn::compileKernelAheadOfTime(
            *lowered, outputFile,
            emit == "so" ? mlir::attn::CpuArtifactKind::SharedObject
                         : mlir::attn::CpuArtifactKind::Object,
            options);
    // The reasons (no linker, an unwritable path, ...) were reported as
    // diagnostics on the kernel.
    return failed(artifact) ? kUserError : kOk;
  }
  if (emit != "mlir")
    return userError("--emit=" + emit + " is not available for --target=" +
                     target + " (available: mlir" +
                     (target == "cpu" ? ", halide, obj, so" : "") + ")");
  // --kernel X: only that kernel (the others are erased before the
  // pipeline runs, so their remarks do not show either).
  if (!kernelName.empty()) {
    func::FuncOp kernel = pickKernel(module, exitCode);
    if (!kernel)
      return exitCode;
    for (func::FuncOp f :
         llvm::make_early_inc_range(module.getOps<func::FuncOp>()))
      if (f != kernel)
        f.erase();
  }
  if (failed(runPipeline(module)))
    return kInternalError;
  std::string error;
  auto output = openOutputFile(outputFile, &error);
  if (!output)
    return userError("cannot write '" + outputFile + "': " + error);
  module.print(output->os());
  output->os() << "\n";
  output->keep();
  return kOk;
}

/// Reads one tensor input for `run` into `array`, in its declared dtype
/// (converted with --convert), checking dtype and rank.
int loadTensorInput(func::FuncOp kernel, unsigned i, const std::string &path,
                    rt::NpyArray &array) {
  auto type = cast<RankedTensorType>(kernel.getArgument(i).getType());
  auto declared = dtypeOf(type.getElementType());
  std::string name = argName(kernel, i);
  auto dims = kernel.getArgAttrOfType<ArrayAttr>(i, mlir::attn::kDimsAttr);
  std::string error;
  if (!rt::readNpy(path, array, error))
    return userError("input " + name + ": " + error);
  if (array.dtype != *declared && !convert) {
    std::string hint =
        *declared == rt::DType::bf16
            ? " (bf16 has no NumPy dtype: give f32 data and pass --convert)"
            : " (pass --convert to round it to " +
                  std::string(rt::dtypeName(*declared)) + ")";
    return userError("input " + name + " is declared " +
                     describe(type, dims) + " but '" + path + "' holds " +
                     rt::dtypeName(array.dtype) + " data" + hint);
  }
  if (static_cast<int64_t>(array.shape.size()) != type.getRank()) {
    return userError("input " + name + " is declared " + describe(type, dims) +
                     " (rank " + std::to_string(type.getRank()) + ") but '" +
                     path + "' has rank " + std::to_string(array.shape.size()));
  }
  if (array.dtype != *declared)
    array = convertArray(array, *declared);
  return kOk;
}

/// The typed buffers of the CPU target: the tensors (inputs, then outputs)
/// and the scalars of one run, over `arrays`.
struct TypedCall {
  std::vector<attn_tensor> tensors;
  std::vector<attn_scalar> scalars;
  void addTensor(rt::NpyArray &a) {
    tensors.push_back({a.data.data(), static_cast<int>(a.dtype),
                       static_cast<int>(a.shape.size()), a.shape.data(),
                       nullptr, ATTN_DEVICE_CPU});
  }
};

int runKernel(ModuleOp module) {
  int exitCode = kOk;
  if (!knownTarget(exitCode))
    return exitCode;
  func::FuncOp kernel = pickKernel(module, exitCode);
  if (!kernel)
    return exitCode;

  std::map<std::string, std::string> given;
  for (const std::string &in : ins) {
    std::string n, v;
    if (!splitAssignment(in, n, v))
      return userError("--in expects NAME=FILE.npy or NAME=NUMBER, got '" +
                       in + "'");
    if (!given.emplace(n, v).second)
      return userError("input " + n + " is given twice");
  }
  // Inputs in their declared dtypes; the CPU target runs on them directly,
  // the reference interpreter on doubles.
  std::vector<mlir::attn::RefArg> args;
  std::vector<rt::NpyArray> arrays; // tensor inputs, then outputs
  arrays.reserve(kernel.getNumArguments() + kernel.getNumResults());
  TypedCall typed;
  unsigned numArgs = kernel.getNumArguments();
  std::set<std::string> known;
  for (unsigned i = 0; i < numArgs; ++i) {
    std::string name = argName(kernel, i);
    known.insert(name);
    Type type = kernel.getArgument(i).getType();
    auto dims = kernel.getArgAttrOfType<ArrayAttr>(i, mlir::attn::kDimsAttr);
    auto it = given.find(name);
    if (it == given.end())
      return userError("missing input " + name + " (" + describe(type, dims) +
                       "): give --in " + name +
                       (isa<RankedTensorType>(type) ? "=FILE.npy" : "=NUMBER"));
    mlir::attn::RefArg arg;
    if (isa<RankedTensorType>(type)) {
      arrays.emplace_back();
      if (int rc = loadTensorInput(kernel, i, it->second, arrays.back()))
        return rc;
      typed.addTensor(arrays.back());
      if (target == "ref")
        arg = refArgOf(arrays.back());
    } else {
      double v;
      if (!parseNumber(it->second, v))
        return userError("scalar input " + name + " expects a number, got '" +
                         it->second + "'");
      auto dt = dtypeOf(type);
      // An integer written out is taken exactly (a double rounds 2^63-1).
      long long exact = 0;
      bool isExact = !StringRef(it->second).getAsInteger(10, exact);
      if (dt && !rt::isFloat(*dt) && isExact) {
        if (std::optional<std::string> range =
                integerRange(*dt, static_cast<double>(exact));
            range && (*dt != rt::DType::i64))
          return userError("scalar input " + name + " is declared " +
                           rt::dtypeName(*dt) + " but " + it->second +
                           " does not fit (" + *range + ")");
      } else if (dt && !rt::isFloat(*dt)) {
        if (!std::isfinite(v) || v != std::trunc(v))
          return userError("scalar input " + name + " is declared " +
                           rt::dtypeName(*dt) + " but '" + it->second +
                           "' is not an integer");
        if (std::optional<std::string> range = integerRange(*dt, v))
          return userError("scalar input " + name + " is declared " +
                           rt::dtypeName(*dt) + " but " + it->second +
                           " does not fit (" + *range + ")");
      }
      v = dt ? rt::roundToDType(v, *dt) : v;
      arg = mlir::attn::RefArg::ofScalar(v);
      if (dt)
        typed.scalars.push_back(rt::isFloat(*dt)
                                    ? rt::floatScalar(static_cast<attn_dtype>(*dt), v)
                                    : rt::intScalar(static_cast<attn_dtype>(*dt),
                                                    isExact ? exact
                                                            : static_cast<int64_t>(v)));
    }
    args.push_back(std::move(arg));
  }
  for (auto &[n, v] : given)
    if (!known.count(n))
      return userError("kernel " + kernel.getSymName().str() +
                       " has no input named '" + n + "'");

  std::map<std::string, std::string> wanted;
  for (const std::string &out : outs) {
    std::string n, v;
    if (!splitAssignment(out, n, v))
      return userError("--out expects NAME=FILE.npy, got '" + out + "'");
    wanted[n] = v;
  }
  std::set<std::string> resultNames;
  for (unsigned i = 0; i < kernel.getNumResults(); ++i)
    resultNames.insert(resultName(kernel, i));
  for (auto &[n, v] : wanted)
    if (!resultNames.count(n))
      return userError("kernel " + kernel.getSymName().str() +
                       " has no output named '" + n + "'");

  // Outputs: the CPU target writes into typed arrays of the declared dtypes;
  // the reference's doubles are stored as such.
  std::string error;
  size_t firstOutput = arrays.size();
  if (target == "cpu") {
    FailureOr<mlir::attn::HalideKernel> compiled = compileForCpu(kernel);
    if (failed(compiled))
      return kInternalError;
    std::vector<std::vector<int64_t>> shapes;
    if (!compiled->signature().outputShapes(typed.tensors, typed.scalars,
                                            shapes, error))
      return userError(error);
    for (unsigned i = 0; i < kernel.getNumResults(); ++i) {
      auto type = cast<RankedTensorType>(kernel.getResultTypes()[i]);
      rt::NpyArray &a = arrays.emplace_back();
      a.dtype = *dtypeOf(type.getElementType());
      a.shape = shapes[i];
      a.data.resize(a.numElements() * rt::dtypeSize(a.dtype));
      typed.addTensor(a);
    }
    if (failed(compiled->run(typed.tensors, typed.scalars, error)))
      return userError(error);
  } else {
    std::vector<mlir::attn::RefTensor> results;
    if (int rc = execute(kernel, args, results))
      return rc;
    for (unsigned i = 0; i < kernel.getNumResults(); ++i) {
      auto type = cast<RankedTensorType>(kernel.getResultTypes()[i]);
      rt::NpyArray &a = arrays.emplace_back();
      a.dtype = *dtypeOf(type.getElementType());
      if (a.dtype == rt::DType::bf16)
        a.dtype = rt::DType::f32; // as written (exact)
      a.shape = results[i].shape;
      a.data.resize(a.numElements() * rt::dtypeSize(a.dtype));
      for (size_t k = 0; k < results[i].values.size(); ++k)
        rt::storeElement(a.data.data(), a.dtype, k, results[i].values[k]);
    }
  }

  for (unsigned i = 0; i < kernel.getNumResults(); ++i) {
    std::string name = resultName(kernel, i);
    rt::NpyArray &a = arrays[firstOutput + i];
    auto it = wanted.find(name);
    if (it == wanted.end()) {
      llvm::errs() << "attnc: " << name << ": shape [";
      for (size_t k = 0; k < a.shape.size(); ++k)
        llvm::errs() << (k ? ", " : "") << a.shape[k];
      llvm::errs() << "] computed (not written: give --out " << name
                   << "=FILE.npy)\n";
      continue;
    }
    // bf16 has no NumPy dtype: it is written as f32 (exact).
    if (a.dtype == rt::DType::bf16)
      a = convertArray(a, rt::DType::f32);
    if (!rt::writeNpy(it->second, a, error))
      return userError("output " + name + ": " + error);
  }
  return kOk;
}

/// Parses "B=1,H=2,P=37".
bool parseSizes(const std::string &text, std::map<std::string, int64_t> &out,
                std::string &error) {
  SmallVector<StringRef> parts;
  StringRef(text).split(parts, ',', -1, false);
  for (StringRef part : parts) {
    std::string n, v;
    long long value;
    if (!splitAssignment(part, n, v) || StringRef(v).getAsInteger(10, value) ||
        value < 0) {
      error = "--sizes expects SYM=N,... with N >= 0, got '" + part.str() + "'";
      return false;
    }
    out[n] = value;
  }
  return true;
}

/// The most memory random inputs may take, all tensors together (each
/// element in its dtype and as the reference's double).
constexpr uint64_t kMaxInputBytes = uint64_t(16) << 30;

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// Draws random inputs for `kernel` with the sizes of --sizes: floats
/// uniform in [-1, 1) (rounded to the declared dtype), integers uniform in
/// [0, 4), scalars 1. `arrays` receives each tensor as it would be written
/// to a .npy file (bf16 as f32), in argument order.
int drawInputs(func::FuncOp kernel, std::vector<mlir::attn::RefArg> &args,
               std::vector<std::pair<std::string, rt::NpyArray>> &arrays) {
  std::map<std::string, int64_t> symbols;
  std::string error;
  if (sizes.empty())
    return userError("give the size of every symbol with --sizes "
                     "B=1,H=2,...");
  if (!parseSizes(sizes, symbols, error))
    return userError(error);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  uint64_t totalBytes = 0;
  for (unsigned i = 0; i < kernel.getNumArguments(); ++i) {
    std::string name = argName(kernel, i);
    auto type = dyn_cast<RankedTensorType>(kernel.getArgument(i).getType());
    if (!type) {
      args.push_back(mlir::attn::RefArg::ofScalar(1.0));
      continue;
    }
    auto dims = kernel.getArgAttrOfType<ArrayAttr>(i, mlir::attn::kDimsAttr);
    SmallVector<std::string> syms = dimSymbols(dims);
    rt::NpyArray array;
    auto dt = *dtypeOf(type.getElementType());
    array.dtype = dt == rt::DType::bf16 ? rt::DType::f32 : dt;
    for (int64_t d = 0; d < type.getRank(); ++d) {
      std::string sym = d < static_cast<int64_t>(syms.size()) ? syms[d] : "";
      long long lit;
      if (!StringRef(sym).getAsInteger(10, lit)) {
        array.shape.push_back(lit);
        continue;
      }
      auto it = symbols.find(sym);
      if (it == symbols.end())
        return userError("no size for symbol " + sym + " (input " + name +
                         "): add " + sym + "=N to --sizes");
      array.shape.push_back(it->second);
    }
    // Counted with overflow checks before anything is allocated: the array
    // and the reference's doubles.
    uint64_t n = 1, bytes = 0;
    for (int64_t extent : array.shape)
      if (__builtin_mul_overflow(n, static_cast<uint64_t>(extent), &n))
        n = UINT64_MAX;
    uint64_t perElement = rt::dtypeSize(array.dtype) + sizeof(double);
    if (__builtin_mul_overflow(n, perElement, &bytes) ||
        __builtin_add_overflow(totalBytes, bytes, &totalBytes) ||
        totalBytes > kMaxInputBytes)
      return userError(
          "input " + name + " (" + describe(type, dims) + ", shape " +
          shapeText(array.shape) + ") needs " +
          (n == UINT64_MAX || bytes / perElement != n
               ? std::string("more than 2^64 bytes")
               : std::to_string(bytes) + " bytes") +
          ", past the " + std::to_string(kMaxInputBytes >> 30) +
          " GiB that random inputs may take in all: choose smaller --sizes");
    array.data.resize(n * rt::dtypeSize(array.dtype));
    mlir::attn::RefTensor t;
    t.shape = array.shape;
    t.values.resize(n);
    for (size_t k = 0; k < n; ++k) {
      double v = rt::isFloat(dt) ? uniform(rng)
                                 : std::floor((uniform(rng) + 1) * 2);
      t.values[k] = rt::roundToDType(v, dt);
      rt::storeElement(array.data.data(), array.dtype, k, t.values[k]);
    }
    args.push_back(mlir::attn::RefArg::ofTensor(std::move(t)));
    arrays.emplace_back(name, std::move(array));
  }
  return kOk;
}

/// `attnc inputs`: writes random inputs (drawInputs), one NAME.npy per
/// tensor input, into the directory given by -o, and prints the matching
/// --in flags.
int writeRandomInputs(ModuleOp module) {
  int exitCode = kOk;
  func::FuncOp kernel = pickKernel(module, exitCode);
  if (!kernel)
    return exitCode;
  if (outputFile == "-")
    return userError("inputs: give the output directory with -o DIR");
  std::vector<mlir::attn::RefArg> args;
  std::vector<std::pair<std::string, rt::NpyArray>> arrays;
  if (int rc = drawInputs(kernel, args, arrays))
    return rc;
  if (auto ec = llvm::sys::fs::create_directories(outputFile))
    return userError("cannot create directory '" + outputFile +
                     "': " + ec.message());
  std::string flags, error;
  size_t next = 0;
  for (unsigned i = 0; i < kernel.getNumArguments(); ++i) {
    std::string name = argName(kernel, i);
    if (args[i].isScalar) {
      flags += " --in " + name + "=1";
      continue;
    }
    std::string path = outputFile + "/" + name + ".npy";
    if (!rt::writeNpy(path, arrays[next++].second, error))
      return userError(error);
    flags += " --in " + name + "=" + path;
  }
  llvm::outs() << flags.substr(1) << (flags.empty() ? "" : "\n");
  return kOk;
}

/// The relative-error bound of `check`: 2e-2 when any input or output is a
/// 16-bit float, 1e-5 for f32, 1e-9 when everything is f64.
double errorBound(func::FuncOp kernel) {
  bool half = false, single = false;
  auto look = [&](Type t) {
    if (auto tt = dyn_cast<RankedTensorType>(t))
      t = tt.getElementType();
    half |= t.isF16() || t.isBF16();
    single |= t.isF32();
  };
  for (Type t : kernel.getArgumentTypes())
    look(t);
  for (Type t : kernel.getResultTypes())
    look(t);
  return half ? 2e-2 : single ? 1e-5 : 1e-9;
}

/// `attnc check`: random inputs, the kernel on the target and the float64
/// reference interpreter, the relative error of every output (max |x - ref|
/// over max |ref|); exit 1 past the dtype's bound.
int checkKernel(ModuleOp module) {
  int exitCode = kOk;
  if (!knownTarget(exitCode))
    return exitCode;
  func::FuncOp kernel = pickKernel(module, exitCode);
  if (!kernel)
    return exitCode;
  std::vector<mlir::attn::RefArg> args;
  std::vector<std::pair<std::string, rt::NpyArray>> arrays;
  if (int rc = drawInputs(kernel, args, arrays))
    return rc;
  std::vector<mlir::attn::RefTensor> expected, actual;
  std::string error;
  if (failed(mlir::attn::interpretKernel(kernel, args, expected, error)))
    return userError("reference: " + error);
  if (int rc = execute(kernel, args, actual))
    return rc;
  double bound = errorBound(kernel);
  bool ok = true;
  for (unsigned i = 0; i < expected.size(); ++i) {
    const auto &e = expected[i];
    const auto &a = actual[i];
    std::string name = resultName(kernel, i);
    if (a.shape != e.shape || a.values.size() != e.values.size()) {
      llvm::outs() << name << ": shape differs from the reference\n";
      ok = false;
      continue;
    }
    double maxRef = 0, maxErr = 0;
    bool finite = true;
    for (size_t k = 0; k < e.values.size(); ++k) {
      maxRef = std::max(maxRef, std::fabs(e.values[k]));
      double d = std::fabs(a.values[k] - e.values[k]);
      if (std::isnan(d) && !(std::isnan(a.values[k]) && std::isnan(e.values[k])))
        finite = false;
      else if (!std::isnan(d))
        maxErr = std::max(maxErr, d);
    }
    double rel = maxRef > 0 ? maxErr / maxRef : maxErr;
    bool pass = finite && rel <= bound;
    ok &= pass;
    llvm::outs() << llvm::format("%s: %zu elements, relative error %.3g "
                                 "(bound %.0e) %s\n",
                                 name.c_str(), e.values.size(), rel, bound,
                                 pass ? "ok" : (finite ? "FAIL" : "FAIL (NaN)"));
  }
  llvm::outs() << (ok ? "check: ok" : "check: FAILED") << " (" << target
               << " against the float64 reference)\n";
  return ok ? kOk : kUserError;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  // A file past the size limit (ulimit -f) is a write error to report with
  // the file's name, not a crash.
  std::signal(SIGXFSZ, SIG_IGN);
  // Subcommands: `attnc run ...`, `attnc inputs ...`; otherwise compile.
  std::string mode = "compile";
  std::vector<char *> args(argv, argv + argc);
  if (argc > 1 && (StringRef(argv[1]) == "run" || StringRef(argv[1]) == "inputs" ||
                   StringRef(argv[1]) == "check")) {
    mode = argv[1];
    args.erase(args.begin() + 1);
  }
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  mlir::attn::registerAttnPasses();
  cl::ParseCommandLineOptions(
      static_cast<int>(args.size()), args.data(),
      "attnc: the attn compiler\n\n"
      "  attnc FILE.attn --emit=mlir [-o OUT]\n"
      "  attnc run FILE.attn --target=ref --in NAME=FILE.npy|NUMBER ... "
      "--out NAME=FILE.npy\n"
      "  attnc check FILE.attn --sizes B=1,H=2,... [--target=cpu]\n"
      "  attnc inputs FILE.attn --sizes B=1,H=2,... -o DIR\n");
  if (printPipeline) {
    if (!mlir::attn::defaultPipeline(target))
      return userError("unknown --target=" + target +
                       " (available: ref, cpu, cuda:sm_90a)");
    llvm::outs() << "builtin.module(" << defaultPipeline() << ")\n";
    return kOk;
  }
  if (mode == "compile" && (!ins.empty() || !outs.empty()))
    return userError("--in and --out belong to `attnc run`");

  DialectRegistry registry;
  registry.insert<mlir::attn::AttnDialect, arith::ArithDialect, math::MathDialect,
                  tensor::TensorDialect, func::FuncDialect>();
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  // Diagnostics point into the .attn source; the IR dump would bury them.
  context.printOpOnDiagnostic(false);

  std::string error;
  auto file = openInputFile(inputFile, &error);
  if (!file)
    return userError("cannot read '" + inputFile + "': " + error);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());

  int exitCode = kOk;
  if (verifyDiagnostics) {
    SourceMgrDiagnosticVerifierHandler handler(sourceMgr, &context);
    OwningOpRef<ModuleOp> module = compile(context, sourceMgr, exitCode);
    if (module && failed(verify(*module)))
      return kInternalError;
    return failed(handler.verify()) ? kUserError : kOk;
  }
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  // Remarks (pass counts, ...) are shown only with --remarks.
  ScopedDiagnosticHandler remarkFilter(&context, [](Diagnostic &d) {
    return success(d.getSeverity() == DiagnosticSeverity::Remark && !remarks);
  });
  OwningOpRef<ModuleOp> module = compile(context, sourceMgr, exitCode);
  if (!module)
    return exitCode;
  if (failed(verify(*module))) {
    llvm::errs() << "attnc: internal error: the frontend emitted IR that does "
                    "not verify\n";
    return kInternalError;
  }
  if (mode == "run")
    return runKernel(*module);
  if (mode == "inputs")
    return writeRandomInputs(*module);
  if (mode == "check")
    return checkKernel(*module);
  return emitModule(*module);
}
