// The default pass pipeline of each target. `ref` runs the cascade as
// written (the reference the others are checked against); the code
// generation targets rewrite it into the one-pass, tiled form.
#include "passes/Pipelines.h"

using namespace mlir::attn;

std::optional<std::string> mlir::attn::defaultPipeline(llvm::StringRef target) {
  if (target == "ref")
    return std::string("func.func(attn-count-passes)");
  // Parallel tasks the split-reduction cost model aims for: a few per core
  // on the CPU; two thread blocks per SM of an H100 (132 SMs).
  std::string parallelism;
  if (target == "cpu")
    parallelism = "16";
  else if (target == "cuda" || target.starts_with("cuda:"))
    parallelism = "264";
  else
    return std::nullopt;
  return "func.func(attn-fuse-elementwise, attn-reorder-contractions, "
         "attn-one-pass{tile-size=64}, "
         "attn-split-reduction{parallelism=" +
         parallelism +
         "}, attn-count-passes, attn-classify-tiles{tile-size=64})";
}
