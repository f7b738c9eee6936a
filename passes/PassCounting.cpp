// attn-count-passes: how many passes over each reduced rank a cascade needs
// (FuseMax's pass analysis), reported as remarks `rank m: N passes`.
//
// A value's level along a rank R is the number of complete passes over R
// that must finish before the value can be produced. Kernel inputs are at
// level 0. An einsum that reduces R runs its reduction during pass
// 1 + (the highest level among the values it reads), and its result is at
// that level; any other einsum streams: its result is at the highest level
// among the values it reads. The passes over R are the highest pass any
// reduction over R runs in.
#include "passes/Passes.h"
#include "passes/RankAnalysis.h"

#include <map>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNCOUNTPASSES
#include "passes/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

struct CountPasses : public mlir::attn::impl::AttnCountPassesBase<CountPasses> {
  void runOnOperation() override {
    func::FuncOp kernel = getOperation();
    RankAnalysis ranks(kernel);

    // The ranks that some einsum reduces, in order of first reduction.
    SmallVector<unsigned> reducedRanks;
    kernel.walk([&](EinsumOp e) {
      for (unsigned d : e.getReducedDims()) {
        unsigned r = ranks.rankOf(e, d);
        if (!llvm::is_contained(reducedRanks, r))
          reducedRanks.push_back(r);
      }
    });

    for (unsigned rank : reducedRanks) {
      DenseMap<Value, unsigned> level;
      unsigned passes = 0;
      auto levelOf = [&](Value v) { return level.lookup(v); };
      kernel.walk([&](Operation *op) {
        if (auto e = dyn_cast<EinsumOp>(op)) {
          unsigned in = 0;
          for (Value v : e.getInputs())
            in = std::max(in, levelOf(v));
          for (Value v : e.getTables())
            in = std::max(in, levelOf(v));
          bool reduces = llvm::any_of(e.getReducedDims(), [&](unsigned d) {
            return ranks.rankOf(e, d) == rank;
          });
          if (reduces) {
            passes = std::max(passes, in + 1);
            level[e.getResult()] = in + 1;
          } else {
            level[e.getResult()] = in;
          }
        } else if (auto f = dyn_cast<FillOp>(op)) {
          level[f.getResult()] = levelOf(f.getInput());
        }
      });
      kernel.emitRemark() << "rank " << ranks.name(rank) << ": " << passes
                          << (passes == 1 ? " pass" : " passes");
    }
  }
};

} // namespace
