// Affine maps and filters evaluated by hand for the reference interpreter:
// floordiv, ceildiv and mod round toward negative infinity (the language's
// `/` and `%`), symbols are folded in when an expression is compiled.
#ifndef ATTN_CODEGEN_REF_AFFINEEVALUATOR_H
#define ATTN_CODEGEN_REF_AFFINEEVALUATOR_H

#include "codegen/ref/ScalarSemantics.h"

#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/DenseMap.h"

#include <optional>
#include <utility>
#include <vector>

namespace mlir::attn::ref {

/// Steps `point` to the next point of the iteration space of `sizes`, the
/// last dimension fastest (from the last point back to the origin).
inline void advancePoint(MutableArrayRef<int64_t> point,
                         ArrayRef<int64_t> sizes) {
  for (unsigned d = point.size(); d-- > 0;) {
    if (++point[d] < sizes[d])
      return;
    point[d] = 0;
  }
}

/// One affine expression of the dimensions, compiled once per run of an op
/// (its symbols are fixed then). What is left is usually linear in the
/// dimensions and evaluates as a dot product; otherwise it runs as a small
/// stack program.
class AffineEvaluator {
public:
  /// Compiles `e` with symbol i replaced by `symbols[i]`.
  void compile(AffineExpr e, ArrayRef<int64_t> symbols);

  bool isLinear() const { return linear; }
  /// For a linear expression: its constant and its (dimension, coefficient)
  /// terms.
  int64_t linearConstant() const { return constant; }
  ArrayRef<std::pair<unsigned, int64_t>> linearTerms() const { return terms; }

  /// Whether a linear expression stays within [0, extent) over the whole box
  /// [0, sizes[d]) (which must be non-empty). False when unsure.
  bool staysWithin(ArrayRef<int64_t> sizes, int64_t extent) const;

  /// The value at `dims`; false on a division by zero.
  bool eval(const int64_t *dims, int64_t &out) const {
    if (linear) {
      int64_t v = constant;
      for (auto [d, c] : terms)
        v = wrapAdd(v, wrapMul(c, dims[d]));
      out = v;
      return true;
    }
    return evalSteps(dims, out);
  }

private:
  struct Step {
    enum Kind : uint8_t { Dim, Const, Add, Mul, FloorDiv, CeilDiv, Mod } kind;
    int64_t value = 0;
  };
  bool linear = true;
  int64_t constant = 0;
  SmallVector<std::pair<unsigned, int64_t>, 4> terms;
  std::vector<Step> steps;
  mutable std::vector<int64_t> stack;

  bool evalSteps(const int64_t *dims, int64_t &out) const;
  static bool linearize(AffineExpr e, ArrayRef<int64_t> symbols,
                        int64_t &constant,
                        llvm::SmallDenseMap<unsigned, int64_t> &coeffs);
  void emit(AffineExpr e, ArrayRef<int64_t> symbols);
};

/// A filter (a union of conjunctions of affine constraints), compiled once.
class CompiledFilter {
public:
  /// `sets` holds IntegerSetAttrs; none means every point passes.
  CompiledFilter(std::optional<ArrayAttr> sets, ArrayRef<int64_t> symbols);

  /// Whether `pt` passes; false with `divByZero` set when a constraint
  /// divides by zero.
  bool contains(const int64_t *pt, bool &divByZero) const {
    divByZero = false;
    if (disjuncts.empty())
      return true;
    for (const std::vector<Constraint> &conj : disjuncts) {
      bool all = true;
      for (const Constraint &c : conj) {
        int64_t v;
        if (!c.expr.eval(pt, v)) {
          divByZero = true;
          return false;
        }
        if (c.isEq ? v != 0 : v < 0) {
          all = false;
          break;
        }
      }
      if (all)
        return true;
    }
    return false;
  }

private:
  struct Constraint {
    AffineEvaluator expr;
    bool isEq;
  };
  std::vector<std::vector<Constraint>> disjuncts;
};

} // namespace mlir::attn::ref

#endif
