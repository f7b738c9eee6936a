// attn-one-pass and attn.online checked numerically: every example runs in
// the float64 reference interpreter before and after the rewrite, on random
// inputs with odd sizes and tiles that do not divide them, and the outputs
// agree. The interpreter evaluates attn.online online (running maximum,
// rescaling), so this checks the derived algorithm, not only the IR.
#include "ExampleKernels.h"
#include "RefTensorCompare.h"

#include "passes/Passes.h"

#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include <gtest/gtest.h>

#include <fstream>

using namespace attn_test;

namespace {

const Sizes &testSizes() {
  // M = 37 and R = P + M - 1; paged: NB * PS = 36; block_sparse covers P and
  // M in blocks of 16.
  static const Sizes sizes = {{"B", 2},  {"H", 4},  {"KVH", 1}, {"P", 13},
                              {"M", 37}, {"E", 8},  {"F", 6},   {"R", 49},
                              {"PS", 4}, {"NB", 9}, {"NP", 7},  {"PB", 1},
                              {"MB", 3}};
  return sizes;
}

/// Returns outputs before attn.fill rounds them to their declared dtype, so
/// that the comparison sees the f32 values of the cascade.
void returnUnfilled(mlir::func::FuncOp kernel) {
  auto ret = llvm::cast<mlir::func::ReturnOp>(
      kernel.getBody().front().getTerminator());
  for (mlir::OpOperand &o : ret->getOpOperands())
    if (auto fill = o.get().getDefiningOp<mlir::attn::FillOp>())
      o.set(fill.getInput());
  kernel.setFunctionType(mlir::FunctionType::get(
      kernel.getContext(), kernel.getArgumentTypes(), ret.getOperandTypes()));
}

int countOps(mlir::ModuleOp module, llvm::StringRef name) {
  int n = 0;
  module.walk([&](mlir::Operation *op) {
    n += op->getName().getStringRef() == name;
  });
  return n;
}

bool hasMaxReduction(mlir::ModuleOp module) {
  bool found = false;
  module.walk([&](mlir::attn::EinsumOp e) {
    found |= e.getKind() == mlir::attn::ReductionKind::max;
  });
  return found;
}

mlir::LogicalResult runPipeline(mlir::ModuleOp module,
                                const std::string &pipeline) {
  mlir::PassManager pm(module->getName());
  if (mlir::failed(mlir::parsePassPipeline(pipeline, pm, llvm::errs())))
    return mlir::failure();
  return pm.run(module);
}

TEST(OnePass, EveryExampleKeepsItsResults) {
  mlir::attn::registerAttnPasses();
  std::mt19937_64 rng(7);
  int rewritten = 0;
  for (const std::string &file : allExamples()) {
    SCOPED_TRACE(file);
    std::unique_ptr<Compiled> c = compileFile(examplePath(file));
    ASSERT_TRUE(c->module) << c->diagnostics;
    bool softmaxFamily = hasMaxReduction(*c->module);
    for (auto kernel : c->module->getOps<mlir::func::FuncOp>())
      returnUnfilled(kernel);
    mlir::func::FuncOp kernel =
        *c->module->getOps<mlir::func::FuncOp>().begin();
    std::vector<mlir::attn::RefArg> args;
    ASSERT_EQ(randomArgs(kernel, testSizes(), rng, args), "");
    std::vector<mlir::attn::RefTensor> want;
    std::string error;
    ASSERT_TRUE(mlir::succeeded(
        mlir::attn::interpretKernel(kernel, args, want, error)))
        << error;

    // One pass with tiles that do (not) divide M = 37 (after hoisting the
    // sums' invariant factors), then split
    // reductions with a fixed K and with the run-time cost model.
    for (std::string pipeline :
         {"attn-one-pass{tile-size=1}", "attn-one-pass{tile-size=7}",
          "attn-one-pass{tile-size=16}", "attn-one-pass{tile-size=64}",
          // The CPU pipeline's order: the scale out of the score's sum.
          "attn-hoist-sum-factors,attn-one-pass{tile-size=7}",
          "attn-one-pass{tile-size=4},attn-split-reduction{workers=3}",
          "attn-one-pass{tile-size=2},attn-split-reduction{workers=5}",
          "attn-one-pass{tile-size=4},attn-split-reduction{parallelism=1000}"}) {
      SCOPED_TRACE(pipeline);
      mlir::OwningOpRef<mlir::ModuleOp> copy = c->module->clone();
      std::string diagnostics;
      mlir::ScopedDiagnosticHandler handler(
          c->context.get(), [&](mlir::Diagnostic &d) {
            if (d.getSeverity() == mlir::DiagnosticSeverity::Error)
              diagnostics += d.str() + "\n";
            return mlir::success();
          });
      ASSERT_TRUE(
          mlir::succeeded(runPipeline(*copy, "func.func(" + pipeline + ")")))
          << diagnostics;
      int onlines = countOps(*copy, "attn.online");
      // Every softmax-family example is rewritten; the others are not.
      EXPECT_EQ(onlines > 0, softmaxFamily);
      EXPECT_EQ(countOps(*copy, "attn.einsum") > 0, true);
      rewritten += onlines > 0;
      mlir::func::FuncOp after =
          *copy->getOps<mlir::func::FuncOp>().begin();
      std::vector<mlir::attn::RefTensor> got;
      ASSERT_TRUE(mlir::succeeded(
          mlir::attn::interpretKernel(after, args, got, error)))
          << error;
      ASSERT_EQ(got.size(), want.size());
      for (size_t r = 0; r < want.size(); ++r) {
        ASSERT_EQ(got[r].shape, want[r].shape);
        // Both are f32-rounded results of float64 evaluation.
        EXPECT_LE(relativeError(got[r], want[r]), 1e-6) << "output " << r;
      }
    }
  }
  EXPECT_GE(rewritten, 7 * 15);
}

/// Parses `source` (one kernel) and runs attn-one-pass on it, returning the
/// remarks.
std::string remarksFor(const std::string &source) {
  mlir::attn::registerAttnPasses();
  std::string path = ::testing::TempDir() + "one_pass_case.attn";
  {
    std::ofstream out(path);
    out << source;
  }
  std::unique_ptr<Compiled> c = compileFile(path);
  EXPECT_TRUE(c->module) << c->diagnostics;
  if (!c->module)
    return "";
  std::string remarks;
  mlir::ScopedDiagnosticHandler handler(
      c->context.get(), [&](mlir::Diagnostic &d) {
        remarks += d.str() + "\n";
        return mlir::success();
      });
  EXPECT_TRUE(mlir::succeeded(
      runPipeline(*c->module, "func.func(attn-one-pass)")));
  EXPECT_TRUE(mlir::succeeded(mlir::verify(*c->module)));
  return remarks;
}

TEST(OnePass, RefusesWhereNoCorrectionExists) {
  // A tanh of the shifted score: tanh(s - max) does not factor.
  std::string r = remarksFor(R"(
kernel k(Q: f32[P, E], K: f32[M, E], V: f32[M, F]) -> (O: f32[P, F]) {
  S[m,p]  = Q[p,e] * K[m,e]
  GM[p]   = max(m) S[m,p]
  SN[m,p] = tanh(S[m,p] - GM[p])
  SD[p]   = sum(m) SN[m,p]
  O[p,f]  = sum(m) SN[m,p] * V[m,f] / SD[p]
})");
  EXPECT_NE(r.find("not rewritten: math.tanh"), std::string::npos) << r;
  // A sum that grows with the maximum.
  r = remarksFor(R"(
kernel k(Q: f32[P, E], K: f32[M, E]) -> (O: f32[P]) {
  S[m,p]  = Q[p,e] * K[m,e]
  GM[p]   = max(m) S[m,p]
  O[p]    = sum(m) exp(S[m,p] + GM[p])
})");
  EXPECT_NE(r.find("no bounded correction"), std::string::npos) << r;
  // Affine in the maximum.
  r = remarksFor(R"(
kernel k(Q: f32[P, E], K: f32[M, E]) -> (O: f32[P]) {
  S[m,p]  = Q[p,e] * K[m,e]
  GM[p]   = max(m) S[m,p]
  O[p]    = sum(m) S[m,p] - GM[p]
})");
  EXPECT_NE(r.find("affine in the maximum"), std::string::npos) << r;
}

TEST(OnePass, DerivesScaledExponents) {
  // exp(2 * (s - max)) rescales by exp(-2 * (new - old)); a division by
  // exp(max) is exp(-max).
  std::string r = remarksFor(R"(
kernel k(Q: f32[P, E], K: f32[M, E], V: f32[M, F]) -> (O: f32[P, F]) {
  S[m,p]  = Q[p,e] * K[m,e]
  GM[p]   = max(m) S[m,p]
  A[p]    = sum(m) exp(2 * (S[m,p] - GM[p]))
  B[p,f]  = sum(m) exp(S[m,p]) / exp(GM[p]) * V[m,f]
  O[p,f]  = B[p,f] / A[p]
})");
  EXPECT_NE(r.find("exp(-2 * max), exp(-1 * max)"), std::string::npos) << r;
}

} // namespace
