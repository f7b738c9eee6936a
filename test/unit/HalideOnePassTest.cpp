// The CPU code generator on the one-pass form (attn-one-pass, attn.online):
// every example, rewritten with tiles of 16 and 64 on odd sizes (P = 37,
// M = 70: a last tile that is partial, query blocks that do not divide P),
// compiled with Halide and run with poisoned outputs, matches the float64
// reference interpreter run on the ORIGINAL kernel. Examples the pass does
// not rewrite still compile and match. The fused schedule is checked on the
// loop nest: the scores are produced inside the loop over the tiles.
#include "ExampleKernels.h"
#include "RefTensorCompare.h"

#include "codegen/halide/HalideEmitter.h"
#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include <gtest/gtest.h>

#include <regex>

using namespace attn_test;
using namespace mlir;
using namespace mlir::attn;

namespace {

const Sizes &testSizes() {
  // R = P + M - 1 (relative positions); paged: NB * PS >= Len; block_sparse:
  // Layout covers P and M in blocks of 16; gqa: H = 4 * KVH.
  static const Sizes sizes = {{"B", 2},  {"H", 4},  {"KVH", 1}, {"P", 37},
                              {"M", 70}, {"E", 8},  {"F", 6},   {"R", 106},
                              {"PS", 5}, {"NB", 14}, {"NP", 9},  {"PB", 3},
                              {"MB", 5}};
  return sizes;
}

bool isNarrowFloat(Type t) {
  if (auto tensor = dyn_cast<RankedTensorType>(t))
    t = tensor.getElementType();
  return t.isBF16() || t.isF16();
}

/// 2e-2 where 16-bit floats are involved, 1e-5 otherwise.
double tolerance(func::FuncOp kernel, unsigned o) {
  bool narrow = isNarrowFloat(kernel.getResultTypes()[o]);
  for (Type t : kernel.getArgumentTypes())
    narrow |= isNarrowFloat(t);
  return narrow ? 2e-2 : 1e-5;
}

LogicalResult onePass(ModuleOp module, int tile) {
  PassManager pm(module.getContext());
  if (failed(parsePassPipeline("func.func(attn-one-pass{tile-size=" +
                                   std::to_string(tile) + "})",
                               pm, llvm::errs())))
    return failure();
  return pm.run(module);
}

int countOnline(ModuleOp module) {
  int n = 0;
  module.walk([&](OnlineOp) { ++n; });
  return n;
}

/// Remarks of the pass are expected; errors are kept for the message.
struct QuietRemarks {
  QuietRemarks(MLIRContext *context, std::string &errors)
      : handler(context, [&errors](Diagnostic &d) {
          if (d.getSeverity() == DiagnosticSeverity::Error)
            errors += d.str() + "\n";
          return success();
        }) {}
  ScopedDiagnosticHandler handler;
};

TEST(HalideOnePass, EveryExampleMatchesTheOriginalKernel) {
  registerAttnPasses();
  std::mt19937_64 rng(11);
  int rewritten = 0, compared = 0;
  for (const std::string &file : allExamples()) {
    SCOPED_TRACE(file);
    std::unique_ptr<Compiled> c = compileFile(examplePath(file));
    ASSERT_TRUE(c->module) << c->diagnostics;
    c->context->printOpOnDiagnostic(false);
    func::FuncOp original = *c->module->getOps<func::FuncOp>().begin();
    std::vector<RefArg> args;
    ASSERT_EQ(randomArgs(original, testSizes(), rng, args), "");
    std::vector<RefTensor> want;
    std::string error;
    ASSERT_TRUE(succeeded(interpretKernel(original, args, want, error)))
        << error;

    for (int tile : {16, 64}) {
      SCOPED_TRACE("tile-size=" + std::to_string(tile));
      OwningOpRef<ModuleOp> copy = c->module->clone();
      std::string errors;
      QuietRemarks quiet(c->context.get(), errors);
      if (failed(onePass(*copy, tile))) {
        ADD_FAILURE() << errors;
        continue;
      }
      rewritten += countOnline(*copy) > 0;
      func::FuncOp kernel = *copy->getOps<func::FuncOp>().begin();
      std::vector<RefTensor> got;
      // runKernelOnCpu poisons the outputs (NaN) before the run.
      if (failed(runKernelOnCpu(kernel, args, got, error))) {
        ADD_FAILURE() << error.substr(0, 2000) << errors;
        continue;
      }
      ASSERT_EQ(got.size(), want.size());
      for (size_t o = 0; o < want.size(); ++o) {
        ASSERT_EQ(got[o].shape, want[o].shape);
        double err = relativeError(got[o], want[o]);
        EXPECT_LE(err, tolerance(original, o)) << "output " << o;
      }
      ++compared;
    }
  }
  // Every softmax-family example is rewritten (OnePassTest checks which).
  EXPECT_GE(rewritten, 2 * 14);
  EXPECT_EQ(compared, 2 * static_cast<int>(allExamples().size()));
}

/// The lowered loop nest of `file` after attn-one-pass with tiles of `tile`.
std::string loweredOnePass(const std::string &file, int tile) {
  registerAttnPasses();
  std::unique_ptr<Compiled> c = compileFile(examplePath(file));
  EXPECT_TRUE(c->module) << c->diagnostics;
  if (!c->module)
    return "";
  std::string errors;
  QuietRemarks quiet(c->context.get(), errors);
  EXPECT_TRUE(succeeded(onePass(*c->module, tile))) << errors;
  func::FuncOp kernel = *c->module->getOps<func::FuncOp>().begin();
  FailureOr<HalideKernel> compiled = HalideKernel::compile(kernel, {});
  EXPECT_TRUE(succeeded(compiled)) << errors;
  return succeeded(compiled) ? compiled->loweredStatement() : "";
}

TEST(HalideOnePass, ScoresAreComputedPerTile) {
  for (const char *file : {"mha.attn", "causal.attn", "sliding_window.attn"}) {
    SCOPED_TRACE(file);
    std::string stmt = loweredOnePass(file, 64);
    // The online state's update loops over the tiles (its RDom over m1);
    // the scores (the first einsum, the statement S) are produced inside
    // that loop, not before it: no queries x keys tensor is ever allocated.
    // The state is named after the running maximum GM (GM_online).
    // (Halide adds $N to a name it has seen before in the process.)
    std::smatch tiles, scores;
    ASSERT_TRUE(std::regex_search(
        stmt, tiles,
        std::regex(R"(for \(GM_online(\$\d+)?\.s1\.GM_online_r\$x)")))
        << stmt;
    ASSERT_TRUE(
        std::regex_search(stmt, scores, std::regex(R"(produce S(\$\d+)? \{)")))
        << stmt;
    EXPECT_GT(scores.position(0), tiles.position(0)) << stmt;
    // Presence is affine here: no per-element presence flag is stored
    // (a second tuple element, NAME.1 or NAME$k.1) for any einsum (the
    // online state's second element is a sum).
    EXPECT_FALSE(std::regex_search(
        stmt,
        std::regex(R"((^|[^\w$.])(?!GM_online\b)[A-Za-z]\w*(\$\d+)?\.1\[)")))
        << stmt;
  }
}

// block_sparse: the filter reads a tensor, so tiles are classified at run
// time (a Func over blocks of query rows x tiles of keys, read by the tile
// loop's where-clause). A layout that is mostly zero (rows of blocks with no
// entry at all, whose outputs are 0) skips most tiles and still matches the
// reference, on odd sizes with tiles of 16 and 64 keys.
TEST(HalideOnePass, BlockSparseMostlyEmptyLayout) {
  registerAttnPasses();
  std::mt19937_64 rng(5);
  Sizes sizes = {{"B", 2}, {"H", 3}, {"P", 77}, {"M", 133},
                 {"E", 8}, {"F", 6}, {"PB", 5}, {"MB", 9}};
  std::unique_ptr<Compiled> c = compileFile(examplePath("block_sparse.attn"));
  ASSERT_TRUE(c->module) << c->diagnostics;
  c->context->printOpOnDiagnostic(false);
  func::FuncOp original = *c->module->getOps<func::FuncOp>().begin();
  for (int trial = 0; trial < 3; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    std::vector<RefArg> args;
    ASSERT_EQ(randomArgs(original, sizes, rng, args), "");
    // About one block in eight set; block row 1 empty, block row 0 not.
    int layout = -1;
    for (unsigned i = 0; i < original.getNumArguments(); ++i)
      if (argName(original, i) == "Layout")
        layout = i;
    ASSERT_GE(layout, 0);
    std::vector<double> &l = args[layout].tensor.values;
    int set = 0;
    for (size_t i = 0; i < l.size(); ++i) {
      int64_t row = i / 9;
      l[i] = row != 1 && std::uniform_int_distribution<int>(0, 7)(rng) == 0;
      set += l[i] != 0;
    }
    l[std::uniform_int_distribution<int>(0, 8)(rng)] = 1;
    ASSERT_LT(set + 1, static_cast<int>(l.size()) / 3);
    std::vector<RefTensor> want;
    std::string error;
    ASSERT_TRUE(succeeded(interpretKernel(original, args, want, error)))
        << error;
    for (int tile : {16, 64}) {
      SCOPED_TRACE("tile-size=" + std::to_string(tile));
      OwningOpRef<ModuleOp> copy = c->module->clone();
      std::string errors;
      QuietRemarks quiet(c->context.get(), errors);
      ASSERT_TRUE(succeeded(onePass(*copy, tile))) << errors;
      func::FuncOp kernel = *copy->getOps<func::FuncOp>().begin();
      if (trial == 0) {
        FailureOr<HalideKernel> compiled = HalideKernel::compile(kernel, {});
        ASSERT_TRUE(succeeded(compiled)) << errors;
        // The class is computed and read by the tile loop's where-clause.
        const std::string stmt = compiled->loweredStatement();
        EXPECT_TRUE(std::regex_search(
            stmt,
            std::regex(
                R"(if \(GM_online_tile_class(\$\d+)?\[.*GM_online_r\$x.*\] != \(uint8\)0\))")))
            << stmt.substr(0, 3000);
      }
      std::vector<RefTensor> got;
      ASSERT_TRUE(succeeded(runKernelOnCpu(kernel, args, got, error)))
          << error.substr(0, 2000);
      ASSERT_EQ(got.size(), want.size());
      EXPECT_LE(relativeError(got[0], want[0]), 2e-2);
      // Rows of the empty block row (p in [16, 32)) are 0.
      const RefTensor &o = got[0];
      int64_t P = o.shape[2], F = o.shape[3];
      for (int64_t bh = 0; bh < o.shape[0] * o.shape[1]; ++bh)
        for (int64_t p = 16; p < 32; ++p)
          for (int64_t f = 0; f < F; ++f)
            ASSERT_EQ(o.values[(bh * P + p) * F + f], 0.0);
    }
  }
}

} // namespace
