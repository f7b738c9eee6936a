// The kernels attn-reorder-contractions rewrites still compile and run on
// the CPU (codegen/halide): linear and causal linear attention, reordered
// (the chunked form for the causal one), against the float64 reference.
#include "codegen/halide/HalideEmitter.h"
#include "test/unit/CascadePassesHarness.h"

#include <gtest/gtest.h>

using namespace attn_test;

namespace {

void expectRunsOnCpu(const std::string &file, const std::string &pipeline,
                     const Sizes &sizes) {
  std::unique_ptr<Compiled> c = compileExample(file);
  ASSERT_TRUE(c->module) << c->diagnostics;
  std::string original = printed(*c->module);
  ASSERT_TRUE(mlir::succeeded(runPipeline(*c, pipeline))) << c->diagnostics;
  ASSERT_NE(printed(*c->module), original) << "the pass did not apply";
  std::mt19937_64 rng(7);
  std::vector<mlir::attn::RefArg> args;
  std::string error = randomArgs(c->kernel(), sizes, rng, args);
  ASSERT_TRUE(error.empty()) << error;
  std::vector<mlir::attn::RefTensor> want, got;
  ASSERT_TRUE(mlir::succeeded(
      mlir::attn::interpretKernel(c->kernel(), args, want, error)))
      << error;
  ASSERT_TRUE(mlir::succeeded(
      mlir::attn::runKernelOnCpu(c->kernel(), args, got, error)))
      << error << "\n"
      << c->diagnostics << printed(*c->module);
  ASSERT_EQ(got.size(), want.size());
  for (size_t r = 0; r < got.size(); ++r)
    EXPECT_LE(relativeError(got[r], want[r]), 1e-4) << "output " << r;
}

TEST(CascadePassesCpu, ReorderedLinearAttentionRuns) {
  expectRunsOnCpu("linear.attn", "attn-reorder-contractions",
                  queriesBeforeKeys());
}

TEST(CascadePassesCpu, ChunkedCausalLinearAttentionRuns) {
  expectRunsOnCpu("linear_causal.attn",
                  "attn-reorder-contractions{chunk-size=16}",
                  queriesBeforeKeys());
  expectRunsOnCpu("linear_causal.attn", "attn-reorder-contractions",
                  queriesPastKeys());
}

} // namespace
