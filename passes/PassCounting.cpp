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

/// How a reduced rank is reported: a tile index m1 of a rank m tiled by T
/// under m ("rank m: 1 pass (tiles m1 of 64)"), the workers that split the
/// tiles of m1 as their own rank ("rank mw: 1 pass (workers over the tiles
/// m1)"), the elements m0 of the tiles of m as "within each tile of m", and
/// the elements of a split (the tiles one worker visits) as the tiles m1.
static void describeRank(RankAnalysis &ranks, unsigned rank, std::string &name,
                         std::string &note) {
  auto sizeText = [](int64_t size) {
    return size ? std::to_string(size) : std::string("a run-time size");
  };
  name = ranks.name(rank);
  if (auto tiling = ranks.tilingOfElement(rank)) {
    if (auto outer = ranks.tilingOfTile(tiling->base)) {
      name = ranks.name(outer->base);
      note = " (tiles " + ranks.name(tiling->base) + " of " +
             sizeText(outer->size) + ")";
      return;
    }
    note = " within each tile of " + ranks.name(tiling->base);
    return;
  }
  if (auto tiling = ranks.tilingOfTile(rank)) {
    if (ranks.tilingOfTile(tiling->base)) {
      note = " (workers over the tiles " + ranks.name(tiling->base) + ")";
      return;
    }
    name = ranks.name(tiling->base);
    note = " (tiles " + ranks.name(rank) + " of " + sizeText(tiling->size) +
           ")";
  }
}

struct CountPasses : public mlir::attn::impl::AttnCountPassesBase<CountPasses> {
  void runOnOperation() override {
    func::FuncOp kernel = getOperation();
    RankAnalysis ranks(kernel);

    // The ranks that some einsum reduces, in order of first reduction.
    SmallVector<unsigned> reducedRanks;
    auto reducedDims = [](Operation *op) -> SmallVector<unsigned> {
      if (auto space = dyn_cast<IterationSpaceOpInterface>(op))
        return space.getReducedDims();
      return {};
    };
    kernel.walk([&](Operation *op) {
      for (unsigned d : reducedDims(op)) {
        unsigned r = ranks.rankOf(op, d);
        if (!llvm::is_contained(reducedRanks, r))
          reducedRanks.push_back(r);
      }
    });

    for (unsigned rank : reducedRanks) {
      DenseMap<Value, unsigned> level;
      unsigned passes = 0;
      auto levelOf = [&](Value v) { return level.lookup(v); };
      kernel.walk([&](Operation *op) {
        if (!isa<EinsumOp, OnlineOp>(op)) {
          // A fill, or a scan (its own O(extent) stage before the passes
          // that read it), makes its result available with its input.
          if (isa<FillOp, ScanOp>(op))
            level[op->getResult(0)] = levelOf(op->getOperand(0));
          return;
        }
        unsigned in = 0;
        for (Value v : op->getOperands())
          if (isa<TensorType>(v.getType()))
            in = std::max(in, levelOf(v));
        bool reduces = llvm::any_of(reducedDims(op), [&](unsigned d) {
          return ranks.rankOf(op, d) == rank;
        });
        if (reduces)
          passes = std::max(passes, in + 1);
        for (Value r : op->getResults())
          level[r] = reduces ? in + 1 : in;
      });
      std::string name, note;
      describeRank(ranks, rank, name, note);
      kernel.emitRemark() << "rank " << name << ": " << passes
                          << (passes == 1 ? " pass" : " passes") << note;
    }
  }
};

} // namespace
