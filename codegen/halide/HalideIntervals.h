// Affine expressions as Halide expressions, and what is decided over a box of
// iteration points: the range of an affine expression (the read-range proof)
// and the run-time tile classes of an attn.online.
#ifndef ATTN_CODEGEN_HALIDE_HALIDEINTERVALS_H
#define ATTN_CODEGEN_HALIDE_HALIDEINTERVALS_H

#include "dialect/AttnOps.h"
#include "passes/TileIntervals.h"

#include "mlir/IR/AffineExpr.h"

#include "Halide.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::attn::halide {

/// `e` over `dims` and `syms` (Int(32) expressions); an error on `op` where
/// it has no translation (a constant outside 32 bits).
FailureOr<Halide::Expr> translateAffine(AffineExpr e,
                                        ArrayRef<Halide::Expr> dims,
                                        ArrayRef<Halide::Expr> syms,
                                        Operation *op);

/// A range [lo, hi] of Int(64) expressions, evaluated at run time.
using Interval64 = Interval<Halide::Expr>;

/// The range of affine `e` over the box where every dimension d ranges over
/// [0, sizes[d] - 1]; nothing where it cannot be bounded (a division or
/// modulo by a dimension).
std::optional<Interval64> boxInterval(AffineExpr e,
                                      ArrayRef<Halide::Expr> sizes,
                                      ArrayRef<Halide::Expr> syms);

/// Presence as an expression that reads no stage (only arguments): `expr`
/// over the variables named `dims` (one per tensor dimension, tensor order).
struct PresenceExpr {
  Halide::Expr expr;
  std::vector<std::string> dims;
};

/// Whether one iteration point of a reduction einsum contributes: `presence`
/// over the op's dimensions (reduced ones included), its sizes, its reduced
/// dimensions and the op dimension of each result dimension.
struct PointPresence {
  PresenceExpr presence;
  SmallVector<Halide::Expr> sizes;
  SmallVector<unsigned> reduced;
  SmallVector<unsigned> resultDims;
};

/// The run-time tile classes of an attn.online: `func` over the block of
/// rows, the tiles and the dimensions the presence reads is 1 where some
/// point of the block's rows and the tile's elements contributes, else 0.
/// `dims`: its dimensions, outermost last (the online's dimension, and
/// whether it stands for the block of rows).
struct TileClasses {
  Halide::Func func;
  std::vector<std::pair<unsigned, bool>> dims;
};

/// The tile classes of `op` (named `name`), whose `ref` contributes where
/// `ref` says: blocks of `blockRows` rows of dimension `q` (or none: -1),
/// tiles `reduced`; nothing where there is no such expression.
std::optional<TileClasses>
buildTileClasses(OnlineOp op, const PointPresence &ref, int q, int blockRows,
                 ArrayRef<unsigned> reduced, ArrayRef<Halide::Expr> sizes,
                 ArrayRef<Halide::Expr> syms, const std::string &name);

} // namespace mlir::attn::halide

#endif
