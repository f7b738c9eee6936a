// attn-bench-decode-call: the cost of one call of a compiled kernel, for the
// decode shape of bench/kernels/decode_f32.attn (B=1, H=4, M=1024, E=F=64,
// f32), through the JIT API: the RefTensor interface (values as doubles,
// converted on every call) against typed buffers. Prints median and minimum
// milliseconds per call. Threads: HALIDE_NUM_THREADS.
//
//   attn-bench-decode-call [--runs N] [--m M]
#include "codegen/jit/JitCompiler.h"

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
  llvm::SmallString<128> cacheDir;
  if (llvm::sys::fs::createUniqueDirectory("attn-decode-call", cacheDir))
    return 1;
  JitOptions options;
  options.cacheDir = std::string(cacheDir);
  std::unique_ptr<JitKernel> kernel;
  JitStatus status = compileAttnFile(
      ATTN_SOURCE_DIR "/bench/kernels/decode_f32.attn", options, kernel);
  if (!status) {
    llvm::errs() << status.message() << "\n";
    return 1;
  }

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
  report("JitKernel::run (RefArg, doubles)",
         timeCalls([&] { return bool(kernel->run(args, results)); }));
  llvm::sys::fs::remove_directories(cacheDir);
  return 0;
}
