// attn-time-cpu: times one kernel of a .attn file on the CPU target (frontend,
// an optional MLIR pass pipeline, HalideKernel::compile / run), without the
// OpenBLAS baseline or torch that attn-bench-cpu and bench/cpu.sh need.
//
//   attn-time-cpu FILE.attn --sizes B=1,H=4,P=1024,M=1024,E=64,F=64
//                 [--passes 'func.func(attn-one-pass{tile-size=64})']
//                 [--param W=256] [--halide-threads 1] [--runs 7]
//                 [--warmup 2] [--check]
//
// Prints the median wall and process-CPU time of HalideKernel::run (the
// same call attn-bench-cpu times, RefTensor marshaling included) and, with
// --check, the relative error against the reference interpreter on the
// original (un-rewritten) kernel at the same sizes.
#include "bench/HalideThreads.h"

#include "codegen/halide/HalideEmitter.h"
#include "codegen/ref/ReferenceInterpreter.h"
#include "dialect/AttnOps.h"
#include "frontend/Frontend.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <map>
#include <random>

using namespace mlir;
namespace cl = llvm::cl;

static cl::opt<std::string> inputFile(cl::Positional, cl::Required,
                                      cl::desc("<file.attn>"));
static cl::opt<std::string> sizeList("sizes", cl::Required,
                                     cl::desc("B=1,H=4,P=1024,..."));
static cl::list<std::string> paramList("param",
                                       cl::desc("NAME=VALUE: a kernel param"));
static cl::opt<std::string> passes("passes", cl::init(""),
                                   cl::desc("MLIR pass pipeline to run first"));
static cl::opt<int> threads("halide-threads", cl::init(1),
                           cl::desc("Halide worker threads"));
static cl::opt<int> runs("runs", cl::init(7), cl::desc("Timed runs"));
static cl::opt<int> warmup("warmup", cl::init(2), cl::desc("Untimed runs"));
static cl::opt<bool> check("check", cl::init(false),
                           cl::desc("Compare with the reference interpreter"));
static cl::opt<std::string> target("target", cl::init("host"),
                                   cl::desc("Halide target (host-profile: "
                                            "Halide's profiler)"));
static cl::opt<std::string> loweredPath("lowered", cl::init(""),
                                        cl::desc("Write Halide's loop nest"));

static double wallNow() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}
static double cpuNow() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv) {
  cl::ParseCommandLineOptions(argc, argv, "time one attnc CPU kernel\n");
  std::map<std::string, int64_t> sizes;
  for (llvm::StringRef kv : llvm::split(sizeList.getValue(), ',')) {
    auto [k, v] = kv.split('=');
    int64_t n;
    if (v.trim().getAsInteger(10, n)) {
      llvm::errs() << "attn-time-cpu: bad --sizes entry '" << kv << "'\n";
      return 1;
    }
    sizes[k.trim().str()] = n;
  }

  DialectRegistry registry;
  registry.insert<mlir::attn::AttnDialect, arith::ArithDialect, math::MathDialect,
                  tensor::TensorDialect, func::FuncDialect>();
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  context.printOpOnDiagnostic(false);
  auto buffer = llvm::MemoryBuffer::getFile(inputFile);
  if (!buffer) {
    llvm::errs() << "attn-time-cpu: cannot read " << inputFile << "\n";
    return 1;
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(*buffer), llvm::SMLoc());
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  mlir::attn::FrontendOptions frontendOptions;
  for (const std::string &kv : paramList) {
    auto [k, v] = llvm::StringRef(kv).split('=');
    frontendOptions.params[k.str()] = v.str();
  }
  OwningOpRef<ModuleOp> module =
      mlir::attn::translateAttnToMLIR(sourceMgr, &context, frontendOptions);
  if (!module)
    return 1;
  OwningOpRef<ModuleOp> original = module->clone();
  if (!passes.empty()) {
    // The passes' remarks are not this tool's output.
    ScopedDiagnosticHandler quiet(&context, [](Diagnostic &d) {
      return success(d.getSeverity() == DiagnosticSeverity::Remark);
    });
    mlir::attn::registerAttnPasses();
    PassManager pm(module->getContext());
    if (failed(parsePassPipeline(passes, pm, llvm::errs())) ||
        failed(pm.run(*module)))
      return 1;
  }
  auto kernel = *module->getOps<func::FuncOp>().begin();
  auto reference = *original->getOps<func::FuncOp>().begin();

  // Random inputs in [-1, 1) with the extents of --sizes.
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> dist(-1, 1);
  std::vector<mlir::attn::RefArg> args;
  for (unsigned i = 0; i < kernel.getNumArguments(); ++i) {
    auto type = dyn_cast<RankedTensorType>(kernel.getArgumentTypes()[i]);
    auto dims = kernel.getArgAttrOfType<ArrayAttr>(i, mlir::attn::kDimsAttr);
    if (!type || !dims) {
      llvm::errs() << "attn-time-cpu: argument " << i << " is not a tensor\n";
      return 1;
    }
    mlir::attn::RefTensor t;
    for (Attribute d : dims) {
      std::string sym = cast<StringAttr>(d).str();
      long long lit;
      if (!llvm::StringRef(sym).getAsInteger(10, lit))
        t.shape.push_back(lit);
      else if (sizes.count(sym))
        t.shape.push_back(sizes[sym]);
      else {
        llvm::errs() << "attn-time-cpu: no size for " << sym << "\n";
        return 1;
      }
    }
    int64_t n = 1;
    for (int64_t s : t.shape)
      n *= s;
    t.values.resize(n);
    for (double &v : t.values)
      v = static_cast<float>(dist(rng));
    args.push_back(mlir::attn::RefArg::ofTensor(std::move(t)));
  }

  if (::attn::bench::setHalideThreads(threads) < 0) {
    llvm::errs() << "attn-time-cpu: cannot set Halide's thread count\n";
    return 1;
  }
  double compileStart = wallNow();
  mlir::attn::HalideCodegenOptions options;
  options.target = target;
  FailureOr<mlir::attn::HalideKernel> compiled =
      mlir::attn::HalideKernel::compile(kernel, options);
  if (failed(compiled))
    return 1;
  double compileSeconds = wallNow() - compileStart;
  if (!loweredPath.empty()) {
    std::error_code ec;
    llvm::raw_fd_ostream os(loweredPath, ec);
    os << compiled->loweredStatement();
  }

  std::vector<mlir::attn::RefTensor> results;
  std::string error;
  std::vector<double> wall, cpu;
  for (int i = 0; i < warmup + runs; ++i) {
    double w = wallNow(), c = cpuNow();
    if (failed(compiled->run(args, results, error))) {
      llvm::errs() << "attn-time-cpu: " << error << "\n";
      return 1;
    }
    if (i >= warmup) {
      wall.push_back(wallNow() - w);
      cpu.push_back(cpuNow() - c);
    }
  }
  llvm::outs() << llvm::format(
      "%s: compile %.2f s, run median %.2f ms wall, %.2f ms cpu (min %.2f / "
      "%.2f)\n",
      kernel.getSymName().str().c_str(), compileSeconds, median(wall) * 1e3,
      median(cpu) * 1e3, *std::min_element(wall.begin(), wall.end()) * 1e3,
      *std::min_element(cpu.begin(), cpu.end()) * 1e3);

  if (check) {
    std::vector<mlir::attn::RefTensor> want;
    if (failed(mlir::attn::interpretKernel(reference, args, want, error))) {
      llvm::errs() << "attn-time-cpu: reference: " << error << "\n";
      return 1;
    }
    for (size_t o = 0; o < want.size(); ++o) {
      double num = 0, den = 0;
      for (size_t e = 0; e < want[o].values.size(); ++e) {
        num = std::max(num, std::fabs(results[o].values[e] - want[o].values[e]));
        den = std::max(den, std::fabs(want[o].values[e]));
      }
      llvm::outs() << llvm::format("output %zu: relative error %.3g\n", o,
                                   den > 0 ? num / den : num);
    }
  }
  return 0;
}
