// Affine maps and filters evaluated by hand for the reference interpreter:
// compilation to a linear form or a stack program, and the stack program's
// evaluation.
#include "codegen/ref/AffineEvaluator.h"

#include "mlir/IR/IntegerSet.h"

namespace mlir::attn::ref {

void AffineEvaluator::compile(AffineExpr e, ArrayRef<int64_t> symbols) {
  linear = true;
  constant = 0;
  terms.clear();
  steps.clear();
  llvm::SmallDenseMap<unsigned, int64_t> coeffs;
  if (linearize(e, symbols, constant, coeffs)) {
    for (auto [d, c] : coeffs)
      if (c != 0)
        terms.push_back({d, c});
    llvm::sort(terms);
    return;
  }
  linear = false;
  emit(e, symbols);
  stack.resize(steps.size());
}

bool AffineEvaluator::staysWithin(ArrayRef<int64_t> sizes,
                                  int64_t extent) const {
  if (!linear)
    return false;
  __int128 lo = constant, hi = constant;
  for (auto [d, c] : terms) {
    __int128 far = static_cast<__int128>(c) * (sizes[d] - 1);
    (far < 0 ? lo : hi) += far;
  }
  return lo >= 0 && hi < extent;
}

bool AffineEvaluator::evalSteps(const int64_t *dims, int64_t &out) const {
  size_t top = 0;
  for (const Step &s : steps) {
    switch (s.kind) {
    case Step::Dim:
      stack[top++] = dims[s.value];
      continue;
    case Step::Const:
      stack[top++] = s.value;
      continue;
    default:
      break;
    }
    int64_t b = stack[--top], a = stack[top - 1];
    int64_t &r = stack[top - 1];
    switch (s.kind) {
    case Step::Add:
      r = wrapAdd(a, b);
      break;
    case Step::Mul:
      r = wrapMul(a, b);
      break;
    case Step::FloorDiv:
      if (b == 0)
        return false;
      r = floorDiv(a, b);
      break;
    case Step::CeilDiv:
      if (b == 0)
        return false;
      r = ceilDiv(a, b);
      break;
    case Step::Mod:
      if (b == 0)
        return false;
      r = floorMod(a, b);
      break;
    default:
      break;
    }
  }
  out = stack[0];
  return true;
}

/// Folds `e` into constant + sum(coeffs[d] * d) when it is linear in the
/// dimensions once the symbols are known; false otherwise.
bool AffineEvaluator::linearize(
    AffineExpr e, ArrayRef<int64_t> symbols, int64_t &constant,
    llvm::SmallDenseMap<unsigned, int64_t> &coeffs) {
  switch (e.getKind()) {
  case AffineExprKind::Constant:
    constant = cast<AffineConstantExpr>(e).getValue();
    return true;
  case AffineExprKind::SymbolId:
    constant = symbols[cast<AffineSymbolExpr>(e).getPosition()];
    return true;
  case AffineExprKind::DimId:
    constant = 0;
    coeffs[cast<AffineDimExpr>(e).getPosition()] = 1;
    return true;
  default:
    break;
  }
  auto bin = cast<AffineBinaryOpExpr>(e);
  int64_t lc = 0, rc = 0;
  llvm::SmallDenseMap<unsigned, int64_t> lt, rt;
  if (!linearize(bin.getLHS(), symbols, lc, lt) ||
      !linearize(bin.getRHS(), symbols, rc, rt))
    return false;
  switch (e.getKind()) {
  case AffineExprKind::Add:
    constant = wrapAdd(lc, rc);
    coeffs = std::move(lt);
    for (auto [d, c] : rt)
      coeffs[d] = wrapAdd(coeffs.lookup(d), c);
    return true;
  case AffineExprKind::Mul:
    if (!lt.empty() && !rt.empty())
      return false;
    if (lt.empty()) {
      std::swap(lc, rc);
      std::swap(lt, rt);
    }
    // Now the right-hand side is the constant rc.
    constant = wrapMul(lc, rc);
    coeffs = std::move(lt);
    for (auto &entry : coeffs)
      entry.second = wrapMul(entry.second, rc);
    return true;
  default:
    if (!lt.empty() || !rt.empty() || rc == 0)
      return false; // a division by zero is reported when evaluated
    constant = e.getKind() == AffineExprKind::FloorDiv  ? floorDiv(lc, rc)
               : e.getKind() == AffineExprKind::CeilDiv ? ceilDiv(lc, rc)
                                                        : floorMod(lc, rc);
    coeffs.clear();
    return true;
  }
}

/// Appends the stack program of `e` (operands first) to `steps`.
void AffineEvaluator::emit(AffineExpr e, ArrayRef<int64_t> symbols) {
  switch (e.getKind()) {
  case AffineExprKind::Constant:
    steps.push_back({Step::Const, cast<AffineConstantExpr>(e).getValue()});
    return;
  case AffineExprKind::SymbolId:
    steps.push_back(
        {Step::Const, symbols[cast<AffineSymbolExpr>(e).getPosition()]});
    return;
  case AffineExprKind::DimId:
    steps.push_back({Step::Dim, cast<AffineDimExpr>(e).getPosition()});
    return;
  default:
    break;
  }
  auto bin = cast<AffineBinaryOpExpr>(e);
  emit(bin.getLHS(), symbols);
  emit(bin.getRHS(), symbols);
  Step::Kind kind = e.getKind() == AffineExprKind::Add        ? Step::Add
                    : e.getKind() == AffineExprKind::Mul      ? Step::Mul
                    : e.getKind() == AffineExprKind::FloorDiv ? Step::FloorDiv
                    : e.getKind() == AffineExprKind::CeilDiv  ? Step::CeilDiv
                                                              : Step::Mod;
  steps.push_back({kind, 0});
}

CompiledFilter::CompiledFilter(std::optional<ArrayAttr> sets,
                               ArrayRef<int64_t> symbols) {
  if (!sets)
    return;
  for (Attribute a : *sets) {
    IntegerSet set = cast<IntegerSetAttr>(a).getValue();
    std::vector<Constraint> conj(set.getNumConstraints());
    for (unsigned c = 0; c < set.getNumConstraints(); ++c) {
      conj[c].expr.compile(set.getConstraint(c), symbols);
      conj[c].isEq = set.isEq(c);
    }
    disjuncts.push_back(std::move(conj));
  }
}

} // namespace mlir::attn::ref
