// What the CPU emitter reads from the IR besides the ops' semantics: the names
// its Funcs take (a statement's result name) and the roles of iteration
// dimensions in the one-pass form, derived from the IR's structure.
#ifndef ATTN_CODEGEN_HALIDE_HALIDESTRUCTURE_H
#define ATTN_CODEGEN_HALIDE_HALIDESTRUCTURE_H

#include "dialect/AttnOps.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallVector.h"

#include <map>
#include <set>
#include <string>

namespace mlir::attn::halide {

/// The name of the value `op` defines, as the frontend recorded it (the
/// statement's result, "S", a NameLoc on the op's location), or "".
std::string statementName(Operation *op);

/// Unique, valid Halide Func names: [A-Za-z0-9_], starting with a letter, not
/// of the form of Halide's own temporaries (a lowercase letter and digits).
class FuncNames {
public:
  /// Marks `name` as taken (argument images, the error code).
  void reserve(const std::string &name) { used.insert(name); }
  /// `base` made valid, with a suffix "_2", "_3", ... where it is taken.
  std::string unique(const std::string &base);

private:
  std::set<std::string> used;
};

/// The roles of iteration dimensions in the one-pass form, from structure,
/// never from index names: dimensions are classes ("ranks") linked through
/// bare accesses (a map coordinate that is one dimension); an attn.online's
/// reduced dimensions are the tile indices (m1), the reduced dimensions of
/// its `ref` (the tile maximum) the tile elements (m0, of a constant size T),
/// and a tensor dimension read through a coordinate that involves a tile
/// index the tiled rank (m).
class DimensionRoles {
public:
  explicit DimensionRoles(func::FuncOp kernel);

  /// The rank of dimension `d` of `op` (an attn.einsum or attn.online).
  int rankOf(Operation *op, unsigned d);
  /// The tile index (m1) of a tiling.
  bool isTileIndex(int rank) const { return tileIndices.count(rank); }
  /// The tile size where `rank` is a tiled rank (m) or a tile element (m0),
  /// else 0.
  int64_t tiledSize(int rank) const;
  /// Where per-tile stages may read past the extent: a tiled rank, a tile
  /// element, or a result dimension of an attn.online (its rows, and the
  /// values' dimension of its sums: register blocks of P V round it up).
  bool isPadded(int rank) const;
  /// The dimensions of arguments read along a tiled rank (keys, values), in
  /// the coordinates that do not involve it.
  bool isKeySide(int rank) const { return keySide.count(rank); }
  /// The tile sizes of the kernel's tilings.
  const SmallVector<int64_t> &tileSizes() const { return sizes; }

private:
  int slot(const void *owner, int pos);
  int find(int x);
  void unite(int a, int b);
  int tensorRank(Value tensor, unsigned pos) {
    return find(slot(tensor.getAsOpaquePointer(), -1 - static_cast<int>(pos)));
  }
  void link(Operation *op, Value tensor, AffineMap map);

  llvm::DenseMap<std::pair<const void *, int>, int> slots;
  SmallVector<int> parent;
  std::set<int> tileIndices, rows, values, keySide;
  std::map<int, int64_t> tiled; // tiled ranks and tile elements: T
  SmallVector<int64_t> sizes;
};

} // namespace mlir::attn::halide

#endif
