// Filter analysis: classifies tiles of an einsum's iteration space as full
// (every point passes the affine filter), empty (none does) or partial, so
// code generators skip empty tiles and drop the mask on full ones. The
// int64 instance of the tile-interval analysis (TileIntervals.h).
#ifndef ATTN_PASSES_FILTERTILECLASSIFIER_H
#define ATTN_PASSES_FILTERTILECLASSIFIER_H

#include "dialect/AttnOps.h"

#include <string>

namespace mlir::attn {

enum class TileClass { Empty, Partial, Full };
const char *tileClassName(TileClass c);

class FilterTileClassifier {
public:
  /// Reads `einsum`'s filter (a union of conjunctions). `tileSizes` has one
  /// entry per dimension: the tile extent, or 0 where the dimension is not
  /// tiled (a tile then spans its whole range). Fails when a constraint
  /// cannot be bounded over a tile (a division by an expression that is
  /// neither a constant nor a symbol, or by 0); the caller keeps masks.
  static FailureOr<FilterTileClassifier> build(EinsumOp einsum,
                                               ArrayRef<int64_t> tileSizes);

  /// The class of the tile whose tiled dimensions start at `origins` (other
  /// entries ignored), given every dimension's extent and the symbols'
  /// values. Sound: Full and Empty are proofs; Partial may be conservative
  /// (it is exact for one linear constraint). A guard (data-dependent
  /// filter) can only make a tile Empty or Partial.
  TileClass classify(ArrayRef<int64_t> origins, ArrayRef<int64_t> extents,
                     ArrayRef<int64_t> symbols) const;

  /// The conditions on the tile origins, as text: for every linear
  /// constraint, when it holds on the whole tile and when on none of it.
  std::string describe(ArrayRef<std::string> dimNames,
                       ArrayRef<std::string> symNames) const;

  bool hasFilter() const { return filtered; }

private:
  /// A linear constraint `sum(dims * d) + sum(syms * s) + constant >= 0`
  /// (or `== 0`).
  struct LinearForm {
    SmallVector<int64_t> dims, syms;
    int64_t constant = 0;
  };

  /// The filter's sets; a linear constraint is rewritten as its linear form
  /// (each dimension once: its interval over a box is exact).
  SmallVector<IntegerSet> sets;
  /// Per set and constraint, its linear form; none where it is not linear.
  SmallVector<SmallVector<std::optional<LinearForm>>> linear;
  SmallVector<int64_t> tiles;
  bool filtered = false;
  bool guarded = false;
};

} // namespace mlir::attn

#endif
