// Affine presence domains (see HalideDomain.h).
#include "codegen/halide/HalideDomain.h"
#include "codegen/halide/HalideScalarOps.h"

#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/IntegerSet.h"

using namespace mlir;
using namespace mlir::attn;
namespace H = Halide;
namespace HI = Halide::Internal;

namespace {

/// Beyond this many disjuncts a domain is not tracked (the emitter falls
/// back to stored presence flags).
constexpr size_t kMaxDisjuncts = 16;

H::Expr zero() { return H::Expr(0); }

H::Expr scaled(const H::Expr &e, int64_t c) {
  if (c == 1)
    return e;
  return HI::simplify(e * H::Expr(static_cast<int32_t>(c)));
}

/// a * x + b * y for constraints (coefficients and rest).
AffineConstraint combine(int64_t a, const AffineConstraint &x, int64_t b,
                         const AffineConstraint &y) {
  AffineConstraint r;
  r.coeffs.resize(x.coeffs.size());
  for (size_t k = 0; k < x.coeffs.size(); ++k)
    r.coeffs[k] = a * x.coeffs[k] + b * y.coeffs[k];
  r.rest = HI::simplify(scaled(x.rest, a) + scaled(y.rest, b));
  return r;
}

bool allZero(const std::vector<int64_t> &c) {
  return llvm::all_of(c, [](int64_t v) { return v == 0; });
}

bool sameConstraint(const AffineConstraint &a, const AffineConstraint &b) {
  return a.isEq == b.isEq && a.coeffs == b.coeffs && HI::equal(a.rest, b.rest);
}

} // namespace

std::optional<LinearForm> mlir::attn::linearize(AffineExpr e, unsigned numDims,
                                                ArrayRef<H::Expr> syms) {
  LinearForm f;
  f.coeffs.assign(numDims, 0);
  f.rest = zero();
  switch (e.getKind()) {
  case AffineExprKind::Constant:
    f.rest = H::Expr(static_cast<int32_t>(cast<AffineConstantExpr>(e).getValue()));
    return f;
  case AffineExprKind::DimId:
    f.coeffs[cast<AffineDimExpr>(e).getPosition()] = 1;
    return f;
  case AffineExprKind::SymbolId:
    f.rest = syms[cast<AffineSymbolExpr>(e).getPosition()];
    return f;
  default:
    break;
  }
  auto bin = cast<AffineBinaryOpExpr>(e);
  std::optional<LinearForm> l = linearize(bin.getLHS(), numDims, syms);
  std::optional<LinearForm> r = linearize(bin.getRHS(), numDims, syms);
  if (!l || !r)
    return std::nullopt;
  bool lFree = allZero(l->coeffs), rFree = allZero(r->coeffs);
  switch (e.getKind()) {
  case AffineExprKind::Add:
    for (unsigned k = 0; k < numDims; ++k)
      f.coeffs[k] = l->coeffs[k] + r->coeffs[k];
    f.rest = HI::simplify(l->rest + r->rest);
    return f;
  case AffineExprKind::Mul: {
    if (lFree && rFree) {
      f.rest = HI::simplify(l->rest * r->rest);
      return f;
    }
    const LinearForm &var = lFree ? *r : *l, &c = lFree ? *l : *r;
    const int64_t *k = HI::as_const_int(HI::simplify(c.rest));
    if (!(lFree || rFree) || !k)
      return std::nullopt;
    for (unsigned d = 0; d < numDims; ++d)
      f.coeffs[d] = var.coeffs[d] * *k;
    f.rest = scaled(var.rest, *k);
    return f;
  }
  default:
    // floordiv, ceildiv, mod: only of dimension-free operands.
    if (!lFree || !rFree)
      return std::nullopt;
    if (e.getKind() == AffineExprKind::Mod)
      f.rest = halideFloorMod(l->rest, r->rest);
    else if (e.getKind() == AffineExprKind::FloorDiv)
      f.rest = halideFloorDiv(l->rest, r->rest);
    else
      f.rest = -halideFloorDiv(-l->rest, r->rest);
    return f;
  }
}

AffineDomain AffineDomain::everywhere(unsigned rank) {
  AffineDomain d(rank);
  d.disjuncts.emplace_back();
  return d;
}

bool AffineDomain::isEverywhere() const {
  return disjuncts.size() == 1 && disjuncts.front().empty();
}

std::optional<AffineDomain>
AffineDomain::fromIntegerSets(ArrayAttr sets, unsigned numDims,
                              ArrayRef<H::Expr> syms) {
  if (!sets)
    return everywhere(numDims);
  if (sets.size() > kMaxDisjuncts)
    return std::nullopt;
  AffineDomain d(numDims);
  for (Attribute a : sets) {
    IntegerSet set = cast<IntegerSetAttr>(a).getValue();
    Conjunction conj;
    for (unsigned c = 0; c < set.getNumConstraints(); ++c) {
      std::optional<LinearForm> f =
          linearize(set.getConstraint(c), numDims, syms);
      if (!f)
        return std::nullopt;
      conj.push_back({f->coeffs, f->rest, set.isEq(c)});
    }
    d.disjuncts.push_back(std::move(conj));
  }
  d.simplify();
  return d;
}

AffineDomain AffineDomain::pullBack(ArrayRef<LinearForm> coords,
                                    unsigned numDims) const {
  AffineDomain d(numDims);
  for (const Conjunction &conj : disjuncts) {
    Conjunction out;
    for (const AffineConstraint &c : conj) {
      AffineConstraint n;
      n.coeffs.assign(numDims, 0);
      n.rest = c.rest;
      n.isEq = c.isEq;
      for (unsigned k = 0; k < rank; ++k) {
        if (c.coeffs[k] == 0)
          continue;
        for (unsigned j = 0; j < numDims; ++j)
          n.coeffs[j] += c.coeffs[k] * coords[k].coeffs[j];
        n.rest = n.rest + scaled(coords[k].rest, c.coeffs[k]);
      }
      n.rest = HI::simplify(n.rest);
      out.push_back(std::move(n));
    }
    d.disjuncts.push_back(std::move(out));
  }
  d.simplify();
  return d;
}

std::optional<AffineDomain>
AffineDomain::pullBack(AffineMap map, ArrayRef<H::Expr> syms) const {
  unsigned numDims = map.getNumDims();
  if (isEverywhere())
    return everywhere(numDims);
  std::vector<LinearForm> coords;
  for (unsigned k = 0; k < rank; ++k) {
    bool used = llvm::any_of(disjuncts, [&](const Conjunction &conj) {
      return llvm::any_of(conj, [&](const AffineConstraint &c) {
        return c.coeffs[k] != 0;
      });
    });
    std::optional<LinearForm> f =
        used ? linearize(map.getResult(k), numDims, syms)
             : std::optional<LinearForm>(
                   LinearForm{std::vector<int64_t>(numDims, 0), zero()});
    if (!f)
      return std::nullopt;
    coords.push_back(*f);
  }
  return pullBack(coords, numDims);
}

std::optional<AffineDomain>
AffineDomain::intersect(const AffineDomain &other) const {
  if (disjuncts.size() * other.disjuncts.size() > kMaxDisjuncts)
    return std::nullopt;
  AffineDomain d(rank);
  for (const Conjunction &a : disjuncts)
    for (const Conjunction &b : other.disjuncts) {
      Conjunction both = a;
      both.insert(both.end(), b.begin(), b.end());
      d.disjuncts.push_back(std::move(both));
    }
  d.simplify();
  return d;
}

std::optional<AffineDomain>
AffineDomain::eliminate(unsigned d, const H::Expr &extent) const {
  AffineDomain out(rank - 1);
  for (Conjunction conj : disjuncts) {
    // The range of d.
    AffineConstraint lo, hi;
    lo.coeffs.assign(rank, 0);
    lo.coeffs[d] = 1;
    lo.rest = zero();
    hi.coeffs.assign(rank, 0);
    hi.coeffs[d] = -1;
    hi.rest = HI::simplify(extent - 1);
    conj.push_back(lo);
    conj.push_back(hi);
    // An equality with a unit coefficient on d substitutes for it.
    auto eq = llvm::find_if(conj, [&](const AffineConstraint &c) {
      return c.isEq && c.coeffs[d] != 0;
    });
    if (eq != conj.end()) {
      if (std::abs(eq->coeffs[d]) != 1)
        return std::nullopt;
      AffineConstraint e = *eq;
      conj.erase(eq);
      for (AffineConstraint &c : conj)
        if (c.coeffs[d] != 0) {
          bool isEq = c.isEq;
          c = combine(1, c, -c.coeffs[d] * e.coeffs[d], e);
          c.isEq = isEq;
        }
    }
    Conjunction rest, lower, upper;
    for (AffineConstraint &c : conj) {
      if (c.coeffs[d] == 0)
        rest.push_back(c);
      else if (c.isEq)
        return std::nullopt;
      else
        (c.coeffs[d] > 0 ? lower : upper).push_back(c);
    }
    bool unitLower = llvm::all_of(
        lower, [&](const AffineConstraint &c) { return c.coeffs[d] == 1; });
    bool unitUpper = llvm::all_of(
        upper, [&](const AffineConstraint &c) { return c.coeffs[d] == -1; });
    if (!unitLower && !unitUpper)
      return std::nullopt;
    for (const AffineConstraint &l : lower)
      for (const AffineConstraint &u : upper)
        rest.push_back(combine(-u.coeffs[d], l, l.coeffs[d], u));
    for (AffineConstraint &c : rest)
      c.coeffs.erase(c.coeffs.begin() + d);
    out.disjuncts.push_back(std::move(rest));
  }
  out.simplify();
  return out;
}

AffineDomain AffineDomain::select(ArrayRef<unsigned> keep) const {
  AffineDomain d(keep.size());
  for (const Conjunction &conj : disjuncts) {
    Conjunction out;
    for (const AffineConstraint &c : conj) {
      AffineConstraint n = c;
      n.coeffs.clear();
      for (unsigned k : keep)
        n.coeffs.push_back(c.coeffs[k]);
      out.push_back(std::move(n));
    }
    d.disjuncts.push_back(std::move(out));
  }
  return d;
}

void AffineDomain::simplify() {
  std::vector<Conjunction> kept;
  for (Conjunction &conj : disjuncts) {
    Conjunction out;
    bool empty = false;
    for (AffineConstraint &c : conj) {
      c.rest = HI::simplify(c.rest);
      const int64_t *k = HI::as_const_int(c.rest);
      bool nonNegative =
          llvm::all_of(c.coeffs, [](int64_t v) { return v >= 0; });
      if (allZero(c.coeffs) && k) {
        if (c.isEq ? *k != 0 : *k < 0)
          empty = true;
        continue;
      }
      // Coordinates are never negative.
      if (!c.isEq && nonNegative && k && *k >= 0)
        continue;
      if (llvm::none_of(out, [&](const AffineConstraint &o) {
            return sameConstraint(o, c);
          }))
        out.push_back(c);
    }
    if (empty)
      continue;
    if (out.empty()) { // everywhere
      kept.assign(1, Conjunction());
      break;
    }
    kept.push_back(std::move(out));
  }
  disjuncts = std::move(kept);
}

namespace {
H::Expr holds(const AffineConstraint &c, ArrayRef<H::Expr> coords) {
  H::Expr sum = c.rest;
  for (size_t k = 0; k < c.coeffs.size(); ++k)
    if (c.coeffs[k] != 0)
      sum = sum + scaled(coords[k], c.coeffs[k]);
  return c.isEq ? (sum == 0) : (sum >= 0);
}
H::Expr andAll(const std::vector<H::Expr> &es) {
  H::Expr r = HI::const_true();
  for (const H::Expr &e : es)
    r = HI::is_const_one(r) ? e : (r && e);
  return r;
}
} // namespace

H::Expr AffineDomain::contains(ArrayRef<H::Expr> coords) const {
  H::Expr any = HI::const_false();
  for (const Conjunction &conj : disjuncts) {
    std::vector<H::Expr> terms;
    for (const AffineConstraint &c : conj)
      terms.push_back(holds(c, coords));
    H::Expr all = andAll(terms);
    if (HI::is_const_one(all))
      return all;
    any = HI::is_const_zero(any) ? all : (any || all);
  }
  return any;
}

H::Expr AffineDomain::containsIf(
    ArrayRef<H::Expr> coords,
    llvm::function_ref<bool(const AffineConstraint &)> keep) const {
  assert(isConjunction() && "containsIf needs a conjunction");
  std::vector<H::Expr> terms;
  for (const AffineConstraint &c : disjuncts.front())
    if (keep(c))
      terms.push_back(holds(c, coords));
  return andAll(terms);
}
