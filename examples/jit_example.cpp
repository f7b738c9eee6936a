// The JIT API in one page (docs/jit.md): compile examples/causal.attn for the
// CPU, run it on random inputs of odd sizes, run the reference interpreter on
// the same inputs, and print the largest relative error.
//
//   attn-jit-example [FILE.attn] [--seed N]
//
// The cache directory is ATTN_CACHE_DIR (or the XDG default). Exit status 0
// when the error is within tolerance (2e-2 with f16/bf16 inputs, else 1e-5).
#include "codegen/jit/JitCompiler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>

using namespace mlir::attn;

int main(int argc, char **argv) {
  std::string file = ATTN_SOURCE_DIR "/examples/causal.attn";
  unsigned seed = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seed" && i + 1 < argc)
      seed = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    else
      file = a;
  }

  JitOptions options; // target "cpu", default Halide options, default cache
  std::unique_ptr<JitKernel> cpu, ref;
  JitStatus status = compileAttnFile(file, options, cpu);
  if (!status) {
    std::fprintf(stderr, "attn-jit-example: %s\n", status.message().c_str());
    return 1;
  }
  options.target = "ref";
  status = compileAttnFile(file, options, ref);
  if (!status) {
    std::fprintf(stderr, "attn-jit-example: %s\n", status.message().c_str());
    return 1;
  }

  // Random odd sizes per size symbol; random values in [-1, 1).
  std::mt19937 rng(seed);
  std::map<std::string, int64_t> sizes;
  std::vector<RefArg> args;
  double tolerance = 1e-5;
  for (const JitValueInfo &in : cpu->inputs()) {
    if (in.dtype == "f16" || in.dtype == "bf16")
      tolerance = 2e-2;
    std::uniform_real_distribution<double> value(-1, 1);
    if (in.isScalar) {
      args.push_back(RefArg::ofScalar(value(rng)));
      continue;
    }
    RefTensor t;
    for (const std::string &d : in.dims) {
      char *end = nullptr;
      long long literal = std::strtoll(d.c_str(), &end, 10);
      if (end && *end == '\0' && !d.empty()) {
        t.shape.push_back(literal);
        continue;
      }
      auto [it, fresh] = sizes.emplace(d, 0);
      if (fresh)
        it->second = 1 + 2 * static_cast<int64_t>(rng() % 5); // 1, 3, ..., 9
      t.shape.push_back(it->second);
    }
    int64_t count = 1;
    for (int64_t e : t.shape)
      count *= e;
    for (int64_t i = 0; i < count; ++i)
      t.values.push_back(value(rng));
    args.push_back(RefArg::ofTensor(std::move(t)));
  }

  std::vector<RefTensor> got, want;
  if (!(status = cpu->run(args, got)) || !(status = ref->run(args, want))) {
    std::fprintf(stderr, "attn-jit-example: %s\n", status.message().c_str());
    return 1;
  }
  double worst = 0;
  for (size_t o = 0; o < want.size(); ++o) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < want[o].values.size(); ++i) {
      diff = std::max(diff, std::fabs(got[o].values[i] - want[o].values[i]));
      scale = std::max(scale, std::fabs(want[o].values[i]));
    }
    double rel = scale > 0 ? diff / scale : diff;
    if (std::isnan(rel))
      rel = INFINITY;
    worst = std::max(worst, rel);
  }
  std::printf("kernel %s: cache %s (key %.16s...), sizes", cpu->name().c_str(),
              cacheOutcomeName(cpu->cacheOutcome()), cpu->cacheKey().c_str());
  for (const auto &[sym, n] : sizes)
    std::printf(" %s=%lld", sym.c_str(), static_cast<long long>(n));
  std::printf("\nmax relative error vs reference: %.3g (tolerance %.0e)\n",
              worst, tolerance);
  return worst <= tolerance ? 0 : 1;
}
