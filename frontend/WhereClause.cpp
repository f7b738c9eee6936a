// Conjunct splitting and conversion to disjunctive normal form for `where`
// clauses. Negation is pushed into comparisons (not (a < b) is a >= b);
// `!=` becomes two disjuncts (a < b or a > b); a bare value v means v != 0.
#include "frontend/WhereClause.h"

using namespace mlir;
using namespace mlir::attn;

bool mlir::attn::isLogical(const ExprAST &e) {
  if (auto *b = llvm::dyn_cast<BinaryExprAST>(&e))
    return isLogical(b->op);
  if (auto *u = llvm::dyn_cast<UnaryExprAST>(&e))
    return u->op == UnaryOp::Not;
  return false;
}

static void split(const ExprAST *e, bool negated, std::vector<Conjunct> &out) {
  if (auto *b = llvm::dyn_cast<BinaryExprAST>(e)) {
    // a and b; not (a or b) = not a and not b.
    if ((b->op == BinaryOp::And && !negated) ||
        (b->op == BinaryOp::Or && negated)) {
      split(b->lhs.get(), negated, out);
      split(b->rhs.get(), negated, out);
      return;
    }
  }
  if (auto *u = llvm::dyn_cast<UnaryExprAST>(e)) {
    if (u->op == UnaryOp::Not) {
      split(u->operand.get(), !negated, out);
      return;
    }
  }
  out.push_back({e, negated});
}

void mlir::attn::splitConjuncts(const ExprAST *cond,
                                std::vector<Conjunct> &out) {
  split(cond, /*negated=*/false, out);
}

namespace {

using DNF = std::vector<std::vector<FilterAtom>>;

BinaryOp negateComparison(BinaryOp op) {
  switch (op) {
  case BinaryOp::Lt:
    return BinaryOp::Ge;
  case BinaryOp::Le:
    return BinaryOp::Gt;
  case BinaryOp::Gt:
    return BinaryOp::Le;
  case BinaryOp::Ge:
    return BinaryOp::Lt;
  case BinaryOp::Eq:
    return BinaryOp::Ne;
  case BinaryOp::Ne:
    return BinaryOp::Eq;
  default:
    return op;
  }
}

/// The DNF of a comparison (or of `v != 0`).
DNF comparison(const ExprAST *lhs, const ExprAST *rhs, BinaryOp op) {
  if (op == BinaryOp::Ne)
    return {{{lhs, rhs, BinaryOp::Lt}}, {{lhs, rhs, BinaryOp::Gt}}};
  return {{{lhs, rhs, op}}};
}

/// A or B.
std::optional<DNF> unite(DNF a, DNF b, unsigned cap) {
  if (a.size() + b.size() > cap)
    return std::nullopt;
  for (auto &c : b)
    a.push_back(std::move(c));
  return a;
}

/// A and B, distributed.
std::optional<DNF> intersect(const DNF &a, const DNF &b, unsigned cap) {
  if (a.size() * b.size() > cap)
    return std::nullopt;
  DNF out;
  for (const auto &x : a)
    for (const auto &y : b) {
      std::vector<FilterAtom> both = x;
      both.insert(both.end(), y.begin(), y.end());
      out.push_back(std::move(both));
    }
  return out;
}

std::optional<DNF> toDNF(const ExprAST *e, bool negated, unsigned cap) {
  if (auto *u = llvm::dyn_cast<UnaryExprAST>(e))
    if (u->op == UnaryOp::Not)
      return toDNF(u->operand.get(), !negated, cap);
  if (auto *b = llvm::dyn_cast<BinaryExprAST>(e)) {
    if (isLogical(b->op)) {
      std::optional<DNF> l = toDNF(b->lhs.get(), negated, cap);
      if (!l)
        return std::nullopt;
      std::optional<DNF> r = toDNF(b->rhs.get(), negated, cap);
      if (!r)
        return std::nullopt;
      bool conjunction = (b->op == BinaryOp::And) != negated;
      return conjunction ? intersect(*l, *r, cap)
                         : unite(std::move(*l), std::move(*r), cap);
    }
    if (isComparison(b->op)) {
      BinaryOp op = negated ? negateComparison(b->op) : b->op;
      DNF d = comparison(b->lhs.get(), b->rhs.get(), op);
      if (d.size() > cap)
        return std::nullopt;
      return d;
    }
  }
  DNF d = comparison(e, nullptr, negated ? BinaryOp::Eq : BinaryOp::Ne);
  if (d.size() > cap)
    return std::nullopt;
  return d;
}

} // namespace

std::optional<DNF>
mlir::attn::toDisjunctiveNormalForm(ArrayRef<Conjunct> conjuncts,
                                    unsigned maxDisjuncts) {
  DNF result = {{}}; // true
  for (const Conjunct &c : conjuncts) {
    std::optional<DNF> d = toDNF(c.expr, c.negated, maxDisjuncts);
    if (!d)
      return std::nullopt;
    std::optional<DNF> both = intersect(result, *d, maxDisjuncts);
    if (!both)
      return std::nullopt;
    result = std::move(*both);
  }
  return result;
}
