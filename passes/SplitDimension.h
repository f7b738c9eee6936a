// Splitting one iteration dimension into two (`m = m1 * T + m0` into tiles,
// `m1 = w * C + j` across workers): the filter of the split op, bounded to
// the original extent. Shared by attn-one-pass and attn-split-reduction.
#ifndef ATTN_PASSES_SPLITDIMENSION_H
#define ATTN_PASSES_SPLITDIMENSION_H

#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/IntegerSet.h"

#include <optional>

namespace mlir::attn {

/// The filter `sets` of an attn.einsum or attn.online (none if absent)
/// restated after a dimension split: every old dimension and symbol becomes
/// its expression in `dimRepl` / `symRepl`, over `numDims` dimensions and
/// `numSymbols` symbols, and every set is intersected with
/// `lastTileBound >= 0`, which keeps the points of the last, short tile (or
/// worker range) inside the original extent. Without a filter the result is
/// the bound alone. A null bound adds nothing; no sets then means no filter.
SmallVector<IntegerSet> splitFilter(std::optional<ArrayAttr> sets,
                                    ArrayRef<AffineExpr> dimRepl,
                                    ArrayRef<AffineExpr> symRepl,
                                    unsigned numDims, unsigned numSymbols,
                                    AffineExpr lastTileBound);

} // namespace mlir::attn

#endif
