// Ranks of a cascade: the classes of iteration dimensions and tensor
// dimensions that are the same axis (the keys `m`, the queries `p`, ...),
// linked through the maps alone, never through index names.
#ifndef ATTN_PASSES_RANKANALYSIS_H
#define ATTN_PASSES_RANKANALYSIS_H

#include "dialect/AttnOps.h"
#include "llvm/ADT/DenseMap.h"

#include <optional>
#include <string>

namespace mlir::attn {

class RankAnalysis {
public:
  /// A rank read in tiles: a map result `t * size + e` where the extent of
  /// dimension `e` is `size` (a constant, or the value the symbol stands
  /// for). `t` is the tile index, `e` the element within the tile.
  struct Tiling {
    unsigned base;    // the rank that is tiled (m)
    unsigned tile;    // the rank of the tile index (m1)
    unsigned element; // the rank of the element within a tile (m0)
    int64_t size;     // the tile size; 0 when known only at run time
  };

  explicit RankAnalysis(func::FuncOp kernel);

  /// The rank of dimension `dim` of the iteration space of `op` (an
  /// attn.einsum or attn.online).
  unsigned rankOf(Operation *op, unsigned dim);
  /// The rank's name, for messages: the `attn.indices` name of the first
  /// dimension of the rank, else `d<N>`. Two ranks may share a name.
  const std::string &name(unsigned rank) const { return names[rank]; }
  unsigned numRanks() const { return names.size(); }

  /// The tiling whose tile index is `rank`, if `rank` is one.
  std::optional<Tiling> tilingOfTile(unsigned rank) const;
  /// The tiling whose in-tile element is `rank`, if `rank` is one.
  std::optional<Tiling> tilingOfElement(unsigned rank) const;
  /// Every tiling, each once.
  ArrayRef<Tiling> tilings() const { return tilingList; }

private:
  unsigned slot(const void *owner, unsigned pos);
  unsigned find(unsigned x);
  bool unite(unsigned a, unsigned b);
  void linkBareAccesses(IterationSpaceOpInterface op);
  void linkTiledAccesses(IterationSpaceOpInterface op);
  bool closeTilings();

  llvm::DenseMap<std::pair<const void *, unsigned>, unsigned> slots;
  SmallVector<unsigned> parent;
  llvm::DenseMap<unsigned, unsigned> rankOfRoot;
  SmallVector<std::string> names;

  /// Tiled reads seen, by slot: the tensor dimension's slot, the tile and
  /// element dimensions' slots, and the tile size (a constant, or the value
  /// of the symbol).
  struct TiledRead {
    unsigned tensorDim, tile, element;
    int64_t constantSize;
    Value symbolicSize;
  };
  SmallVector<TiledRead> tiledReads;
  SmallVector<Tiling> tilingList;
};

} // namespace mlir::attn

#endif
