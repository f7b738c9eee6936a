// Interval bounds of affine expressions over a box, and whether a filter (a
// union of integer sets) holds on the whole box or nowhere on it: one
// analysis for every arithmetic domain (int64 now, IR or Halide values built
// to be evaluated at run time).
#ifndef ATTN_PASSES_TILEINTERVALS_H
#define ATTN_PASSES_TILEINTERVALS_H

#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/IntegerSet.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <optional>

namespace mlir::attn {

/// [lo, hi] of an integer quantity, in a domain's values.
template <typename V> struct Interval { V lo, hi; };

/// Where a filter holds over a box, as two conditions of a domain. Sound:
/// `full` implies every point passes, `empty` that none does; both may be
/// false where the analysis cannot tell.
template <typename B> struct FilterClass { B full, empty; };

// A domain supplies the arithmetic the analysis is written in:
//
//   using Value = ...; using Bool = ...;
//   static constexpr bool dividesBySymbol;
//   Value constant(int64_t); add, mul, min, max (Value, Value) -> Value;
//   bool dividesBy(int64_t k);                // a constant divisor k
//   std::optional<int64_t> constantValue(Value); // a symbol's value, if known
//   Value floorDiv(Value x, Value k), ceilDiv(Value x, Value k);
//   Bool boolean(bool); andB, orB (Bool, Bool) -> Bool;
//   Bool isZero(Value), isPositive(Value), isNegative(Value),
//        isNonNegative(Value);                // comparisons with 0
//   Value select(Bool, Value, Value);         // only if dividesBySymbol
//
// Division (floordiv, ceildiv, mod) is bounded only by a divisor fixed over
// the box: a constant, or a symbol. A constant k (or a symbol whose
// constantValue is known) is used only where dividesBy(k) says the domain
// defines it; floorDiv(x, k) is then floor(x / k), ceilDiv(x, k) ceil(x / k),
// and x mod k lies in [0, k - 1] for k > 0, [k + 1, 0] for k < 0, and is x
// for k = 0 (a domain that divides by 0 defines x floordiv 0 = 0 and keeps
// x == k * (x floordiv k) + x mod k). A symbol of unknown value is a divisor
// only where dividesBySymbol: floorDiv and ceilDiv must then be total with
// those semantics for every sign of k (Halide's x / 0 == 0); the bounds are
// selected by the sign of k at run time.

namespace detail {

template <typename Domain>
using IntervalOf = std::optional<Interval<typename Domain::Value>>;

template <typename Domain>
IntervalOf<Domain>
divisionInterval(AffineBinaryOpExpr e, ArrayRef<IntervalOf<Domain>> dims,
                 ArrayRef<typename Domain::Value> symbols, Domain &d);

} // namespace detail

/// The interval of `e` when its dimension d ranges over `dims[d]` (none or
/// missing: unknown) and its symbol s is `symbols[s]`; none where it cannot
/// be bounded (an unknown dimension, a division by neither a constant nor a
/// symbol, or by a divisor the domain does not define). Exact for a sum of
/// constant multiples of distinct dimensions; otherwise it may be wider.
template <typename Domain>
detail::IntervalOf<Domain>
intervalOf(AffineExpr e, ArrayRef<detail::IntervalOf<Domain>> dims,
           ArrayRef<typename Domain::Value> symbols, Domain &d) {
  using V = typename Domain::Value;
  switch (e.getKind()) {
  case AffineExprKind::Constant: {
    V c = d.constant(cast<AffineConstantExpr>(e).getValue());
    return Interval<V>{c, c};
  }
  case AffineExprKind::DimId: {
    unsigned p = cast<AffineDimExpr>(e).getPosition();
    if (p >= dims.size())
      return std::nullopt;
    return dims[p];
  }
  case AffineExprKind::SymbolId: {
    unsigned p = cast<AffineSymbolExpr>(e).getPosition();
    if (p >= symbols.size())
      return std::nullopt;
    return Interval<V>{symbols[p], symbols[p]};
  }
  case AffineExprKind::Add:
  case AffineExprKind::Mul:
    break;
  default:
    return detail::divisionInterval(cast<AffineBinaryOpExpr>(e), dims, symbols,
                                    d);
  }
  auto bin = cast<AffineBinaryOpExpr>(e);
  detail::IntervalOf<Domain> l = intervalOf(bin.getLHS(), dims, symbols, d);
  if (!l)
    return std::nullopt;
  detail::IntervalOf<Domain> r = intervalOf(bin.getRHS(), dims, symbols, d);
  if (!r)
    return std::nullopt;
  if (e.getKind() == AffineExprKind::Add) {
    V lo = d.add(l->lo, r->lo);
    V hi = d.add(l->hi, r->hi);
    return Interval<V>{lo, hi};
  }
  // A product's extremes are among the products of the ends.
  V p0 = d.mul(l->lo, r->lo), p1 = d.mul(l->lo, r->hi);
  V p2 = d.mul(l->hi, r->lo), p3 = d.mul(l->hi, r->hi);
  V lo01 = d.min(p0, p1), lo23 = d.min(p2, p3);
  V lo = d.min(lo01, lo23);
  V hi01 = d.max(p0, p1), hi23 = d.max(p2, p3);
  V hi = d.max(hi01, hi23);
  return Interval<V>{lo, hi};
}

namespace detail {

/// floordiv, ceildiv and mod by a constant or a symbol (see above).
template <typename Domain>
IntervalOf<Domain>
divisionInterval(AffineBinaryOpExpr e, ArrayRef<IntervalOf<Domain>> dims,
                 ArrayRef<typename Domain::Value> symbols, Domain &d) {
  using V = typename Domain::Value;
  AffineExprKind kind = e.getKind();
  if (kind != AffineExprKind::FloorDiv && kind != AffineExprKind::CeilDiv &&
      kind != AffineExprKind::Mod)
    return std::nullopt;
  std::optional<int64_t> k;
  std::optional<V> symbol;
  if (auto c = dyn_cast<AffineConstantExpr>(e.getRHS())) {
    k = c.getValue();
  } else if (auto s = dyn_cast<AffineSymbolExpr>(e.getRHS())) {
    if (s.getPosition() >= symbols.size())
      return std::nullopt;
    symbol = symbols[s.getPosition()];
    k = d.constantValue(*symbol);
  } else {
    return std::nullopt;
  }
  if (k ? !d.dividesBy(*k) : !Domain::dividesBySymbol)
    return std::nullopt;
  IntervalOf<Domain> x = intervalOf(e.getLHS(), dims, symbols, d);
  if (!x)
    return std::nullopt;
  auto divide = [&](const V &v, const V &by) {
    return kind == AffineExprKind::FloorDiv ? d.floorDiv(v, by)
                                            : d.ceilDiv(v, by);
  };
  if (k) {
    // Floor and ceiling division by a fixed k are monotone in the dividend:
    // nondecreasing for k >= 0, nonincreasing for k < 0.
    if (kind == AffineExprKind::Mod) {
      if (*k > 0)
        return Interval<V>{d.constant(0), d.constant(*k - 1)};
      if (*k < 0)
        return Interval<V>{d.constant(*k + 1), d.constant(0)};
      return x;
    }
    V kv = d.constant(*k);
    V lo = divide(x->lo, kv);
    V hi = divide(x->hi, kv);
    if (*k < 0)
      std::swap(lo, hi);
    return Interval<V>{lo, hi};
  }
  if constexpr (Domain::dividesBySymbol) {
    V kv = *symbol;
    if (kind == AffineExprKind::Mod) {
      auto positive = d.isPositive(kv);
      auto negative = d.isNegative(kv);
      V lo = d.select(positive, d.constant(0),
                      d.select(negative, d.add(kv, d.constant(1)), x->lo));
      V hi = d.select(positive, d.add(kv, d.constant(-1)),
                      d.select(negative, d.constant(0), x->hi));
      return Interval<V>{lo, hi};
    }
    // Monotone either way: the ends map to the ends, in an order k's sign
    // decides.
    V a = divide(x->lo, kv);
    V b = divide(x->hi, kv);
    V lo = d.min(a, b);
    V hi = d.max(a, b);
    return Interval<V>{lo, hi};
  }
  return std::nullopt;
}

} // namespace detail

/// Whether the union of `sets` holds on the whole box (`full`) and nowhere
/// on it (`empty`). A set's dimensions and symbols are first replaced by
/// `dimExprs` and `symExprs` (positions past their ends stay as they are);
/// the results range over `box` and `symbols` (see intervalOf). A constraint
/// `c >= 0` holds everywhere when c's minimum is >= 0, nowhere when its
/// maximum is < 0 (`c == 0`: both ends 0, or the interval misses 0); a set
/// is empty when one constraint is, full when all are; the union full when
/// one set is, empty when all are (no set: empty). A constraint that cannot
/// be bounded makes its set not full. Sound for every domain; exact per
/// constraint where intervalOf is.
template <typename Domain>
FilterClass<typename Domain::Bool>
classifyFilter(ArrayRef<IntegerSet> sets, ArrayRef<AffineExpr> dimExprs,
               ArrayRef<AffineExpr> symExprs,
               ArrayRef<detail::IntervalOf<Domain>> box,
               ArrayRef<typename Domain::Value> symbols, Domain &d) {
  using B = typename Domain::Bool;
  B no = d.boolean(false);
  B anyFull = no;
  B allEmpty = d.boolean(true);
  for (IntegerSet set : sets) {
    B full = d.boolean(true), empty = no;
    for (unsigned c = 0; c < set.getNumConstraints(); ++c) {
      AffineExpr x = set.getConstraint(c);
      if (!dimExprs.empty() || !symExprs.empty())
        x = x.replaceDimsAndSymbols(dimExprs, symExprs);
      detail::IntervalOf<Domain> iv = intervalOf(x, box, symbols, d);
      if (!iv) {
        full = no;
        continue;
      }
      if (set.isEq(c)) {
        B loZero = d.isZero(iv->lo);
        B hiZero = d.isZero(iv->hi);
        full = d.andB(full, d.andB(loZero, hiZero));
        B above = d.isPositive(iv->lo);
        B below = d.isNegative(iv->hi);
        empty = d.orB(empty, d.orB(above, below));
      } else {
        full = d.andB(full, d.isNonNegative(iv->lo));
        empty = d.orB(empty, d.isNegative(iv->hi));
      }
    }
    anyFull = d.orB(anyFull, full);
    allEmpty = d.andB(allEmpty, empty);
  }
  return {anyFull, allEmpty};
}

/// An einsum's `filter` attribute (absent: every point passes) classified
/// over the box, as above.
template <typename Domain>
FilterClass<typename Domain::Bool>
classifyFilter(std::optional<ArrayAttr> filter, ArrayRef<AffineExpr> dimExprs,
               ArrayRef<AffineExpr> symExprs,
               ArrayRef<detail::IntervalOf<Domain>> box,
               ArrayRef<typename Domain::Value> symbols, Domain &d) {
  if (!filter)
    return {d.boolean(true), d.boolean(false)};
  SmallVector<IntegerSet> sets;
  for (Attribute a : *filter)
    sets.push_back(cast<IntegerSetAttr>(a).getValue());
  return classifyFilter(ArrayRef<IntegerSet>(sets), dimExprs, symExprs, box,
                        symbols, d);
}

/// Values known now: plain int64 arithmetic (floor and ceiling division by
/// any nonzero constant; a symbol's value is known).
struct Int64IntervalDomain {
  using Value = int64_t;
  using Bool = bool;
  static constexpr bool dividesBySymbol = false;
  /// Set when an operation overflowed int64: then no answer is a proof
  /// (FilterTileClassifier answers Partial).
  bool overflowed = false;

  Value constant(int64_t v) { return v; }
  Value add(Value x, Value y) {
    int64_t r;
    overflowed |= llvm::AddOverflow(x, y, r);
    return r;
  }
  Value mul(Value x, Value y) {
    int64_t r;
    overflowed |= llvm::MulOverflow(x, y, r);
    return r;
  }
  Value min(Value x, Value y) { return std::min(x, y); }
  Value max(Value x, Value y) { return std::max(x, y); }
  bool dividesBy(int64_t k) { return k != 0; }
  std::optional<int64_t> constantValue(Value k) { return k; }
  Value floorDiv(Value x, Value k) {
    if (x == std::numeric_limits<int64_t>::min() && k == -1) {
      overflowed = true;
      return x;
    }
    return llvm::divideFloorSigned(x, k);
  }
  Value ceilDiv(Value x, Value k) {
    if (x == std::numeric_limits<int64_t>::min() && k == -1) {
      overflowed = true;
      return x;
    }
    return llvm::divideCeilSigned(x, k);
  }
  Bool boolean(bool v) { return v; }
  Bool andB(Bool x, Bool y) { return x && y; }
  Bool orB(Bool x, Bool y) { return x || y; }
  Bool isZero(Value x) { return x == 0; }
  Bool isPositive(Value x) { return x > 0; }
  Bool isNegative(Value x) { return x < 0; }
  Bool isNonNegative(Value x) { return x >= 0; }
};

} // namespace mlir::attn

#endif
