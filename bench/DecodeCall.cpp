// attn-bench-decode-call: the cost of one call of a compiled kernel, for the
// decode shape of bench/kernels/decode_f32.attn (B=1, H=4, M=1024, E=F=64,
// f32): the RefTensor interface (values as doubles, converted on every call)
// against typed buffers (no conversion), through the JIT API (the cached
// shared object, run by the runtime) and through HalideKernel (Halide's
// in-process JIT, as `attnc run --target=cpu`). Prints median and minimum
// milliseconds per call. Threads: HALIDE_NUM_THREADS.
//
//   attn-bench-decode-call [--runs N] [--m M]
#include "codegen/halide/HalideEmitter.h"
#include "codegen/jit/JitCompiler.h"
#include "dialect/AttnOps.h"
#include "frontend/Frontend.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <random>
#include <vector>

using namespace mlir::attn;
namespace cl = llvm::cl;

static cl::opt<int> runs("runs", cl::desc("Timed calls"), cl::init(200));
static cl::opt<int> keys("m", cl::desc("Keys (M)"), cl::init(1024));

namespace {

struct Timing {
  double median, min;
};

Timing timeCalls(const std::function<bool()> &call) {
  for (int i = 0; i < 5; ++i)
    call();
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto start = std::chrono::steady_clock::now();
    if (!call()) {
      llvm::errs() << "attn-bench-decode-call: the call failed\n";
      std::exit(1);
    }
    ms.push_back(std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front()};
}

void report(const char *what, Timing t) {
  llvm::outs() << llvm::format("%-44s median %8.4f ms   min %8.4f ms\n", what,
                               t.median, t.min);
}

} // namespace

int main(int argc, char **argv) {
  cl::ParseCommandLineOptions(argc, argv, "decode call overhead\n");
  const int64_t B = 1, H = 4, M = keys, E = 64, F = 64;
  const char *file = ATTN_SOURCE_DIR "/bench/kernels/decode_f32.attn";
  llvm::SmallString<128> cacheDir;
  if (llvm::sys::fs::createUniqueDirectory("attn-decode-call", cacheDir))
    return 1;
  JitOptions options;
  options.cacheDir = std::string(cacheDir);
  std::unique_ptr<JitKernel> kernel;
  auto compileMs = [&] {
    auto start = std::chrono::steady_clock::now();
    JitStatus status = compileAttnFile(file, options, kernel);
    if (!status) {
      llvm::errs() << status.message() << "\n";
      std::exit(1);
    }
    return std::chrono::duration<double, std::milli>(
               std::chrono::steady_clock::now() - start)
        .count();
  };
  double missMs = compileMs(), hitMs = compileMs();
  llvm::outs() << llvm::format("compileAttnFile: miss %.1f ms, hit %.1f ms\n",
                               missMs, hitMs);

  std::mt19937 rng(1);
  std::uniform_real_distribution<float> value(-1, 1);
  std::vector<int64_t> qs = {B, H, E}, ks = {B, H, M, E}, vs = {B, H, M, F},
                       os = {B, H, F};
  auto random = [&](size_t n) {
    std::vector<float> v(n);
    for (float &x : v)
      x = value(rng);
    return v;
  };
  std::vector<float> q = random(B * H * E), k = random(B * H * M * E),
                     v = random(B * H * M * F), o(B * H * F);
  auto refArg = [](const std::vector<float> &data, std::vector<int64_t> shape) {
    RefTensor t;
    t.shape = std::move(shape);
    t.values.assign(data.begin(), data.end());
    return RefArg::ofTensor(std::move(t));
  };
  std::vector<RefArg> args = {refArg(q, qs), refArg(k, ks), refArg(v, vs)};
  std::vector<RefTensor> results;

  llvm::outs() << "decode B=" << B << " H=" << H << " M=" << M << " E=" << E
               << " F=" << F << " f32, " << runs << " calls\n";
  std::vector<attn_tensor> tensors = {
      {q.data(), ATTN_F32, 3, qs.data(), nullptr, ATTN_DEVICE_CPU},
      {k.data(), ATTN_F32, 4, ks.data(), nullptr, ATTN_DEVICE_CPU},
      {v.data(), ATTN_F32, 4, vs.data(), nullptr, ATTN_DEVICE_CPU},
      {o.data(), ATTN_F32, 3, os.data(), nullptr, ATTN_DEVICE_CPU}};
  report("JitKernel::run (RefArg, doubles)",
         timeCalls([&] { return bool(kernel->run(args, results)); }));
  report("JitKernel::run (attn_tensor, typed)",
         timeCalls([&] { return bool(kernel->run(tensors)); }));

  // HalideKernel, as attnc run --target=cpu uses it.
  mlir::DialectRegistry registry;
  registry.insert<AttnDialect, mlir::arith::ArithDialect,
                  mlir::math::MathDialect, mlir::tensor::TensorDialect,
                  mlir::func::FuncDialect>();
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(*llvm::MemoryBuffer::getFile(file)),
                               llvm::SMLoc());
  mlir::OwningOpRef<mlir::ModuleOp> module =
      translateAttnToMLIR(sourceMgr, &context, {});
  if (!module)
    return 1;
  auto start = std::chrono::steady_clock::now();
  mlir::FailureOr<HalideKernel> halide = HalideKernel::compile(
      *module->getOps<mlir::func::FuncOp>().begin(), {});
  if (mlir::failed(halide))
    return 1;
  llvm::outs() << llvm::format(
      "HalideKernel::compile (Halide's JIT): %.1f ms\n",
      std::chrono::duration<double, std::milli>(
          std::chrono::steady_clock::now() - start)
          .count());
  std::string error;
  report("HalideKernel::run (RefArg, doubles)", timeCalls([&] {
           return mlir::succeeded(halide->run(args, results, error));
         }));
  report("HalideKernel::run (attn_tensor, typed)", timeCalls([&] {
           return mlir::succeeded(halide->run(tensors, {}, error));
         }));
  llvm::sys::fs::remove_directories(cacheDir);
  return 0;
}
