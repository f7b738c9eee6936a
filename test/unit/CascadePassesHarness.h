// Shared by the cascade pass tests: compiles an example, draws random
// arguments for given sizes, runs a pass pipeline and interprets the kernel
// before and after it (float64 reference).
#ifndef ATTN_TEST_UNIT_CASCADEPASSESHARNESS_H
#define ATTN_TEST_UNIT_CASCADEPASSESHARNESS_H

#include "passes/Passes.h"
#include "test/unit/ExampleKernels.h"
#include "test/unit/RefTensorCompare.h"

#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include <memory>
#include <random>
#include <string>
#include <vector>

namespace attn_test {

/// Odd sizes for every size symbol of the examples, queries fewer than keys
/// (H = 4 * KVH for gqa's G = 4, R = P + M - 1 for relative_bias, PB and MB
/// cover P and M in block_sparse's blocks of 16).
inline Sizes queriesBeforeKeys() {
  return {{"B", 2},  {"H", 4},  {"KVH", 1}, {"P", 37}, {"M", 70},
          {"E", 13}, {"F", 11}, {"R", 106}, {"PS", 5}, {"NB", 3},
          {"NP", 7}, {"PB", 3}, {"MB", 5}};
}

/// The same, with more queries than keys.
inline Sizes queriesPastKeys() {
  Sizes s = queriesBeforeKeys();
  s["P"] = 131;
  s["M"] = 37;
  s["R"] = 167;
  s["PB"] = 9;
  s["MB"] = 3;
  return s;
}

/// Compiles examples/`file`, keeping the diagnostics of the passes too.
inline std::unique_ptr<Compiled> compileExample(const std::string &file) {
  return compileFile(examplePath(file), {}, /*keepDiagnostics=*/true);
}

/// Runs `pipeline` (passes on each func.func) on the module.
inline mlir::LogicalResult runPipeline(Compiled &c,
                                       const std::string &pipeline) {
  static bool registered = (mlir::attn::registerAttnPasses(), true);
  (void)registered;
  mlir::PassManager pm(c.context.get());
  if (mlir::failed(mlir::parsePassPipeline("func.func(" + pipeline + ")", pm)))
    return mlir::failure();
  return pm.run(*c.module);
}

inline std::string printed(mlir::ModuleOp module) {
  std::string s;
  llvm::raw_string_ostream os(s);
  module.print(os);
  return s;
}

/// The outputs of an example before and after a pipeline.
struct Outcome {
  bool ok = false;
  std::string error;
  std::vector<mlir::attn::RefTensor> before, after;
  bool changed = false;
};

inline Outcome runBeforeAndAfter(const std::string &file,
                                 const std::string &pipeline,
                                 const Sizes &sizes, uint64_t seed) {
  Outcome o;
  std::unique_ptr<Compiled> c = compileExample(file);
  if (!c->module || !c->kernel()) {
    o.error = file + " does not compile:\n" + c->diagnostics;
    return o;
  }
  std::mt19937_64 rng(seed);
  std::vector<mlir::attn::RefArg> args;
  o.error = randomArgs(c->kernel(), sizes, rng, args);
  if (!o.error.empty())
    return o;
  if (mlir::failed(
          mlir::attn::interpretKernel(c->kernel(), args, o.before, o.error)))
    return o;
  std::string original = printed(*c->module);
  if (mlir::failed(runPipeline(*c, pipeline)) ||
      mlir::failed(mlir::verify(*c->module))) {
    o.error = "the pipeline failed:\n" + c->diagnostics;
    return o;
  }
  o.changed = printed(*c->module) != original;
  if (mlir::failed(
          mlir::attn::interpretKernel(c->kernel(), args, o.after, o.error))) {
    o.error += "\nafter:\n" + printed(*c->module);
    return o;
  }
  o.ok = o.before.size() == o.after.size();
  return o;
}

} // namespace attn_test

#endif
