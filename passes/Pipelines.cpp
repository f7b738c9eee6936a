// The default pass pipeline of each target. `ref` runs the cascade as
// written (the reference the others are checked against); the code
// generation targets rewrite it into the one-pass, tiled form.
#include "passes/Pipelines.h"
#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir::attn;

std::optional<std::string> mlir::attn::defaultPipeline(llvm::StringRef target) {
  if (target == "ref")
    return std::string("func.func(attn-count-passes)");
  std::string rewrites = "attn-fuse-elementwise, attn-reorder-contractions, "
                         "attn-one-pass{tile-size=64}, ";
  std::string analyses = "attn-count-passes, attn-classify-tiles{tile-size=64}";
  // The CPU's fused schedule (codegen/halide) handles one attn.online per
  // tiled rank; split reductions (nested attn.online) are not scheduled
  // there yet, so the CPU pipeline does not split.
  // On the CPU, the factors of a score's sum that do not vary along e
  // (the scale) leave the sum: each term is then one FMA. (The CUDA fused
  // launch already applies them once per score, after the MMA.)
  if (target == "cpu")
    return "func.func(attn-fuse-elementwise, attn-reorder-contractions, "
           "attn-hoist-sum-factors, attn-one-pass{tile-size=64}, " +
           analyses + ")";
  // The split-reduction cost model aims for rows x workers >= 8448: 16
  // single-warp blocks on each of the 132 SMs of an H100/H200 when the
  // fused launch packs 4 grouped heads into a block (decode: one query row
  // per (batch, head)); prefill has that many rows and does not split.
  if (target == "cuda" || target.starts_with("cuda:"))
    return "func.func(attn-expand-scans, " + rewrites +
           "attn-split-reduction{parallelism=8448}, " + analyses + ")";
  return std::nullopt;
}

mlir::LogicalResult mlir::attn::runDefaultPipeline(ModuleOp module,
                                                   llvm::StringRef target) {
  std::optional<std::string> text = defaultPipeline(target);
  if (!text)
    return module.emitError("no default pipeline for target '") << target
                                                                 << "'";
  registerAttnPasses();
  PassManager pm(module->getName());
  std::string error;
  llvm::raw_string_ostream os(error);
  if (failed(parsePassPipeline(*text, pm, os)))
    return module.emitError("bad default pipeline: ") << error;
  (void)applyPassManagerCLOptions(pm);
  return pm.run(module);
}
