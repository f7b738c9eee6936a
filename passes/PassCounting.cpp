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
    auto tiled = kernel->getAttrOfType<DictionaryAttr>(kTiledAttr);

    // The ranks that some einsum reduces, in order of first reduction.
    SmallVector<unsigned> reducedRanks;
    auto reducedDims = [](Operation *op) -> SmallVector<unsigned> {
      if (auto e = dyn_cast<EinsumOp>(op))
        return e.getReducedDims();
      if (auto o = dyn_cast<OnlineOp>(op))
        return o.getReducedDims();
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
          if (auto f = dyn_cast<FillOp>(op))
            level[f.getResult()] = levelOf(f.getInput());
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
      // A rank tiled by attn-one-pass is reported under its own name for
      // the tiles (m1: the passes over m) and as "within tiles" for m0.
      std::string name = ranks.name(rank), note;
      if (tiled) {
        for (NamedAttribute t : tiled) {
          auto info = cast<ArrayAttr>(t.getValue());
          std::string rankName = cast<StringAttr>(info[0]).str();
          int64_t size = cast<IntegerAttr>(info[2]).getInt();
          if (t.getName().strref() == name) {
            note = " (tiles " + name + " of " + std::to_string(size) + ")";
            name = rankName;
          } else if (cast<StringAttr>(info[1]).strref() == name) {
            note = " within each tile of " + rankName;
          }
        }
      }
      kernel.emitRemark() << "rank " << name << ": " << passes
                          << (passes == 1 ? " pass" : " passes") << note;
    }
  }
};

} // namespace
