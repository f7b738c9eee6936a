// attn-classify-tiles: reports, for every einsum with an affine filter, when
// a tile of the filtered dimensions is full (no mask needed) or empty
// (skipped), derived by FilterTileClassifier.
#include "passes/FilterTileClassifier.h"
#include "passes/Passes.h"
#include "passes/RankAnalysis.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNCLASSIFYTILES
#include "passes/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

struct ClassifyTiles
    : public mlir::attn::impl::AttnClassifyTilesBase<ClassifyTiles> {
  using AttnClassifyTilesBase::AttnClassifyTilesBase;

  void runOnOperation() override {
    if (tileSize <= 0) {
      getOperation().emitError("attn-classify-tiles: tile-size must be "
                               "positive, got ")
          << static_cast<int64_t>(tileSize);
      return signalPassFailure();
    }
    RankAnalysis ranks(getOperation());
    getOperation().walk([&](EinsumOp e) {
      std::optional<ArrayAttr> filter = e.getFilter();
      if (!filter)
        return;
      unsigned numDims = e.getNumDims();
      // Tile the dimensions the filter constrains.
      SmallVector<int64_t> tiles(numDims, 0);
      for (Attribute a : *filter) {
        IntegerSet set = cast<IntegerSetAttr>(a).getValue();
        for (AffineExpr c : set.getConstraints())
          c.walk([&](AffineExpr x) {
            if (auto d = dyn_cast<AffineDimExpr>(x))
              tiles[d.getPosition()] = tileSize;
          });
      }
      SmallVector<std::string> dims, syms;
      for (unsigned d = 0; d < numDims; ++d)
        dims.push_back(e.getIndexName(d));
      // A rank that attn-one-pass already tiled keeps its tiles: one tile
      // index m1 at a time, the whole tile m0.
      for (unsigned d = 0; d < numDims; ++d) {
        if (!tiles[d])
          continue;
        unsigned rank = ranks.rankOf(e, d);
        if (ranks.tilingOfTile(rank))
          tiles[d] = 1;
        else if (auto tiling = ranks.tilingOfElement(rank))
          if (tiling->size > 0)
            tiles[d] = tiling->size;
      }
      for (unsigned s = 0; s < e.getSymbols().size(); ++s)
        syms.push_back("s" + std::to_string(s));
      FailureOr<FilterTileClassifier> fc = FilterTileClassifier::build(e, tiles);
      if (failed(fc)) {
        e.emitRemark("filter divides by an expression that is neither a "
                     "constant nor a symbol: every tile is partial (masked)");
        return;
      }
      std::string tiling;
      for (unsigned d = 0; d < numDims; ++d)
        if (tiles[d])
          tiling += (tiling.empty() ? "" : " x ") + dims[d] + ":" +
                    std::to_string(tiles[d]);
      e.emitRemark() << "tiles " << tiling << ": " << fc->describe(dims, syms);
    });
  }
};

} // namespace
