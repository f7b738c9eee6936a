// Where the elements of a tensor are present, as a union of conjunctions of
// affine constraints over its coordinates (an integer set whose constant
// parts are Halide expressions of sizes and symbols). The emitter propagates
// it from filters through einsums and attn.online instead of storing a
// presence flag per element, so that presence costs no memory and becomes
// loop bounds (reduction domains' where-clauses) rather than selects.
// Internal to codegen/halide.
#ifndef ATTN_CODEGEN_HALIDE_HALIDEDOMAIN_H
#define ATTN_CODEGEN_HALIDE_HALIDEDOMAIN_H

#include "mlir/IR/AffineMap.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/Support/LLVM.h"

#include "Halide.h"

#include <optional>
#include <vector>

namespace mlir::attn {

/// sum_k coeffs[k] * x_k + rest >= 0 (== 0 when `isEq`), with x_k the
/// coordinates and `rest` an Int(32) expression free of them.
struct AffineConstraint {
  std::vector<int64_t> coeffs;
  Halide::Expr rest;
  bool isEq = false;
};

/// A linear form of coordinates: sum_k coeffs[k] * x_k + rest.
struct LinearForm {
  std::vector<int64_t> coeffs;
  Halide::Expr rest;
};

/// `e` (over `numDims` dimensions and the symbols whose values are `syms`) as
/// a linear form of the dimensions, or nothing when a dimension appears in a
/// product of non-constants, a division or a modulo.
std::optional<LinearForm> linearize(AffineExpr e, unsigned numDims,
                                    ArrayRef<Halide::Expr> syms);

class AffineDomain {
public:
  using Conjunction = std::vector<AffineConstraint>;

  /// Every point of a space of `rank` coordinates.
  static AffineDomain everywhere(unsigned rank);

  /// The points of an op's iteration space (`numDims` dimensions) that pass
  /// its filter (a union of integer sets); nothing when a constraint is not
  /// affine in the dimensions or there are too many disjuncts.
  static std::optional<AffineDomain>
  fromIntegerSets(ArrayAttr sets, unsigned numDims,
                  ArrayRef<Halide::Expr> syms);

  unsigned getRank() const { return rank; }
  const std::vector<Conjunction> &getDisjuncts() const { return disjuncts; }
  bool isEverywhere() const;
  bool isConjunction() const { return disjuncts.size() == 1; }

  /// The points x of `map`'s domain (its dimensions) whose image map(x), a
  /// point of this domain's space, lies in this domain.
  std::optional<AffineDomain> pullBack(AffineMap map,
                                       ArrayRef<Halide::Expr> syms) const;
  /// The same through coordinates given as linear forms of `numDims` new
  /// dimensions.
  AffineDomain pullBack(ArrayRef<LinearForm> coords, unsigned numDims) const;

  /// Both (nothing past a bound on the number of disjuncts).
  std::optional<AffineDomain> intersect(const AffineDomain &other) const;

  /// Eliminates coordinate `d`, which ranges over [0, extent): the points of
  /// the other coordinates for which some integer value of `d` lies in the
  /// domain. Fourier-Motzkin, exact over the integers when every lower
  /// bound of `d` or every upper bound has a unit coefficient (true for
  /// tiles, m = m1 * T + m0, and for the usual filters); nothing otherwise.
  std::optional<AffineDomain> eliminate(unsigned d,
                                        const Halide::Expr &extent) const;

  /// Keeps coordinates `keep` (in that order); the others must be unused.
  AffineDomain select(ArrayRef<unsigned> keep) const;

  /// Membership of the point `coords` (Int(32) expressions), as a Bool.
  Halide::Expr contains(ArrayRef<Halide::Expr> coords) const;
  /// For a conjunction: membership tested on the constraints `keep` selects.
  Halide::Expr
  containsIf(ArrayRef<Halide::Expr> coords,
             llvm::function_ref<bool(const AffineConstraint &)> keep) const;

private:
  explicit AffineDomain(unsigned rank) : rank(rank) {}
  /// Drops constraints that always hold and disjuncts that never do.
  void simplify();

  unsigned rank = 0;
  std::vector<Conjunction> disjuncts;
};

} // namespace mlir::attn

#endif
