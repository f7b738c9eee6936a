// Filter analysis: classifies tiles of an einsum's iteration space as full
// (every point passes the affine filter), empty (none does) or partial, so
// code generators skip empty tiles and drop the mask on full ones.
#ifndef ATTN_PASSES_FILTERTILECLASSIFIER_H
#define ATTN_PASSES_FILTERTILECLASSIFIER_H

#include "dialect/AttnOps.h"

#include <string>

namespace mlir::attn {

enum class TileClass { Empty, Partial, Full };
const char *tileClassName(TileClass c);

class FilterTileClassifier {
public:
  /// One affine constraint `sum(dims * d) + sum(syms * s) + constant >= 0`
  /// (or `== 0`).
  struct Constraint {
    SmallVector<int64_t> dims, syms;
    int64_t constant = 0;
    bool isEq = false;
  };

  /// Reads `einsum`'s filter (a union of conjunctions). `tileSizes` has one
  /// entry per dimension: the tile extent, or 0 where the dimension is not
  /// tiled (a tile then spans its whole range). Fails when a constraint is
  /// not linear (semi-affine filters stay partial; the caller keeps masks).
  static FailureOr<FilterTileClassifier> build(EinsumOp einsum,
                                               ArrayRef<int64_t> tileSizes);

  /// The class of the tile whose tiled dimensions start at `origins` (other
  /// entries ignored), given every dimension's extent and the symbols'
  /// values. Sound: Full and Empty are proofs; Partial may be conservative.
  /// A guard (data-dependent filter) can only make a tile Empty or Partial.
  TileClass classify(ArrayRef<int64_t> origins, ArrayRef<int64_t> extents,
                     ArrayRef<int64_t> symbols) const;

  /// The conditions on the tile origins, as text: for every constraint,
  /// when it holds on the whole tile and when on none of it.
  std::string describe(ArrayRef<std::string> dimNames,
                       ArrayRef<std::string> symNames) const;

  bool hasFilter() const { return !conjunctions.empty(); }

private:
  SmallVector<SmallVector<Constraint>> conjunctions;
  SmallVector<int64_t> tiles;
  bool guarded = false;
};

} // namespace mlir::attn

#endif
