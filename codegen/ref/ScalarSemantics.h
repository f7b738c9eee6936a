// How the reference interpreter computes with scalars: integers of every width
// held sign-extended in an int64_t with wrapping arithmetic, the language's
// division rules, integer <-> double conversions, and maximumf/minimumf.
#ifndef ATTN_CODEGEN_REF_SCALARSEMANTICS_H
#define ATTN_CODEGEN_REF_SCALARSEMANTICS_H

#include "mlir/IR/BuiltinTypes.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace mlir::attn::ref {

//===----------------------------------------------------------------------===//
// Integers: values of every integer type live in an int64_t, sign-extended
// from their width (so an i1 `true` is -1, as in MLIR); all arithmetic wraps,
// nothing is undefined.
//===----------------------------------------------------------------------===//

inline int64_t wrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) +
                              static_cast<uint64_t>(b));
}
inline int64_t wrapSub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) -
                              static_cast<uint64_t>(b));
}
inline int64_t wrapMul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) *
                              static_cast<uint64_t>(b));
}

/// Sign-extends the low `width` bits of `v`.
inline int64_t signExtend(int64_t v, unsigned width) {
  if (width >= 64)
    return v;
  unsigned shift = 64 - width;
  return static_cast<int64_t>(static_cast<uint64_t>(v) << shift) >> shift;
}
/// The low `width` bits of `v`, as an unsigned number.
inline uint64_t zeroExtend(int64_t v, unsigned width) {
  if (width >= 64)
    return static_cast<uint64_t>(v);
  return static_cast<uint64_t>(v) & ((uint64_t(1) << width) - 1);
}

/// Signed division rounding toward zero; the caller has excluded b == 0.
inline int64_t divTrunc(int64_t a, int64_t b) {
  if (b == -1)
    return wrapSub(0, a); // INT64_MIN / -1 wraps instead of trapping
  return a / b;
}
inline int64_t remTrunc(int64_t a, int64_t b) { return b == -1 ? 0 : a % b; }
/// The language's `/` on integers: rounds toward negative infinity.
inline int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = divTrunc(a, b);
  return (remTrunc(a, b) != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
inline int64_t ceilDiv(int64_t a, int64_t b) {
  int64_t q = divTrunc(a, b);
  return (remTrunc(a, b) != 0 && ((a < 0) == (b < 0))) ? q + 1 : q;
}
/// The language's `%` on integers: the sign of the divisor.
inline int64_t floorMod(int64_t a, int64_t b) {
  return wrapSub(a, wrapMul(floorDiv(a, b), b));
}

/// A double as an integer of `width` bits: truncated toward zero, saturated
/// to the signed range, NaN as 0. Width 1 (bool) is v != 0.
inline int64_t intFromDouble(double v, unsigned width) {
  if (width == 1)
    return v != 0 && !std::isnan(v) ? -1 : 0;
  if (std::isnan(v))
    return 0;
  double t = std::trunc(v);
  double lo = -std::ldexp(1.0, static_cast<int>(width) - 1); // exact
  if (t < lo)
    return static_cast<int64_t>(lo);
  if (t >= -lo)
    return width >= 64 ? std::numeric_limits<int64_t>::max()
                       : (int64_t(1) << (width - 1)) - 1;
  return static_cast<int64_t>(t);
}
/// Like intFromDouble for an unsigned destination (fptoui).
inline int64_t uintFromDouble(double v, unsigned width) {
  if (std::isnan(v) || v <= 0)
    return 0;
  double t = std::trunc(v);
  double hi = std::ldexp(1.0, static_cast<int>(std::min(width, 64u)));
  if (t >= hi)
    return signExtend(static_cast<int64_t>(~uint64_t(0)), width);
  return signExtend(static_cast<int64_t>(static_cast<uint64_t>(t)), width);
}
/// How an integer element is held in a tensor of doubles: bools as 0 or 1,
/// other integers as their signed value.
inline double storedFromInt(int64_t v, unsigned width) {
  if (width == 1)
    return v & 1 ? 1.0 : 0.0;
  return static_cast<double>(v);
}

/// The bit width of an integer or index type (index: 64); 0 for others.
inline unsigned intWidth(Type t) {
  if (t.isIndex())
    return 64;
  if (auto i = dyn_cast<IntegerType>(t))
    return i.getWidth() <= 64 ? i.getWidth() : 0;
  return 0;
}

/// Whether the interpreter holds values of type `t` as scalars: floats, and
/// integers or indices of at most 64 bits.
inline bool isScalarType(Type t) {
  return t.isIntOrIndexOrFloat() && (isa<FloatType>(t) || intWidth(t) != 0);
}

//===----------------------------------------------------------------------===//
// Floats: arith.maximumf and arith.minimumf (also the max and min
// reductions) propagate NaN and order -0 below +0.
//===----------------------------------------------------------------------===//

inline double maximumF(double a, double b) {
  if (std::isnan(a) || std::isnan(b))
    return std::numeric_limits<double>::quiet_NaN();
  if (a == b)
    return std::signbit(a) ? b : a;
  return a > b ? a : b;
}
inline double minimumF(double a, double b) {
  if (std::isnan(a) || std::isnan(b))
    return std::numeric_limits<double>::quiet_NaN();
  if (a == b)
    return std::signbit(a) ? a : b;
  return a < b ? a : b;
}

} // namespace mlir::attn::ref

#endif
