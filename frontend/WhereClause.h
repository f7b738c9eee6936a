// A `where` clause as an affine filter and a guard: its top-level
// conjunction is split into the conjuncts that read no tensor (the filter,
// turned into disjunctive normal form with `not` pushed into comparisons)
// and those that read tensors (the guard, kept as written).
#ifndef ATTN_FRONTEND_WHERECLAUSE_H
#define ATTN_FRONTEND_WHERECLAUSE_H

#include "frontend/AST.h"

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/ArrayRef.h"

#include <optional>
#include <vector>

namespace mlir::attn {

/// One comparison of an affine filter, negation already pushed in:
/// `lhs op rhs` with op one of Lt Le Gt Ge Eq; a null rhs means 0.
struct FilterAtom {
  const ExprAST *lhs = nullptr;
  const ExprAST *rhs = nullptr;
  BinaryOp op = BinaryOp::Ge;
};

/// One conjunct of a condition: `expr`, negated or not.
struct Conjunct {
  const ExprAST *expr = nullptr;
  bool negated = false;
};

/// Whether `e` combines conditions (and, or, not).
bool isLogical(const ExprAST &e);

/// Splits `cond` into its top-level conjuncts (through `and`, and through
/// `not` over `or`), in source order.
void splitConjuncts(const ExprAST *cond, std::vector<Conjunct> &out);

/// The conjunction of `conjuncts` in disjunctive normal form; nullopt when
/// it has more than `maxDisjuncts` disjuncts.
std::optional<std::vector<std::vector<FilterAtom>>>
toDisjunctiveNormalForm(ArrayRef<Conjunct> conjuncts, unsigned maxDisjuncts);

} // namespace mlir::attn

#endif // ATTN_FRONTEND_WHERECLAUSE_H
