// Element types: names, sizes and rounding. Bit-exact conversions for the two
// 16-bit float formats, written out so the runtime needs no compiler support.
#include "runtime/DType.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace attn::rt {

const char *dtypeName(DType t) {
  switch (t) {
  case DType::f16: return "f16";
  case DType::bf16: return "bf16";
  case DType::f32: return "f32";
  case DType::f64: return "f64";
  case DType::i32: return "i32";
  case DType::i64: return "i64";
  case DType::boolean: return "bool";
  }
  return "?";
}

std::optional<DType> parseDType(const std::string &name) {
  for (DType t : {DType::f16, DType::bf16, DType::f32, DType::f64, DType::i32,
                  DType::i64, DType::boolean})
    if (name == dtypeName(t))
      return t;
  return std::nullopt;
}

size_t dtypeSize(DType t) {
  switch (t) {
  case DType::f16:
  case DType::bf16: return 2;
  case DType::f32:
  case DType::i32: return 4;
  case DType::f64:
  case DType::i64: return 8;
  case DType::boolean: return 1;
  }
  return 0;
}

bool isFloat(DType t) {
  return t == DType::f16 || t == DType::bf16 || t == DType::f32 ||
         t == DType::f64;
}

static uint32_t floatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
static float bitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t floatToBF16Bits(float f) {
  uint32_t u = floatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) // NaN: keep it quiet and a NaN
    return static_cast<uint16_t>((u >> 16) | 0x40);
  uint32_t lsb = (u >> 16) & 1u;
  u += 0x7fffu + lsb;
  return static_cast<uint16_t>(u >> 16);
}

float bf16BitsToFloat(uint16_t b) { return bitsFloat(uint32_t(b) << 16); }

uint16_t floatToHalfBits(float f) {
  uint32_t u = floatBits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t absu = u & 0x7fffffffu;
  if (absu > 0x7f800000u) // NaN
    return static_cast<uint16_t>(sign | 0x7e00u);
  if (absu >= 0x477ff000u) // rounds to >= 65520: infinity
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (absu < 0x38800000u) { // below the smallest normal half: subnormal
    // value = absf * 2^24 in units of the smallest subnormal, rounded even.
    float absf = bitsFloat(absu);
    float scaled = absf * 16777216.0f; // exact: a power of two
    float r = std::nearbyint(scaled);  // default mode: nearest even
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(r));
  }
  uint32_t exp = ((absu >> 23) - 127 + 15) << 10;
  uint32_t mant = absu & 0x7fffffu;
  uint32_t half = exp | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u)))
    ++half; // may carry into the exponent, which is the right answer
  return static_cast<uint16_t>(sign | half);
}

float halfBitsToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 31)
    return bitsFloat(sign | 0x7f800000u | (mant << 13));
  return bitsFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

/// Truncates toward zero and saturates to I's range; NaN gives 0. The bounds
/// are compared as doubles that are exact powers of two (INT64_MAX is not a
/// double: 2^63 would overflow the cast), so every cast here is defined.
template <typename I> static I saturatingCast(double v) {
  if (std::isnan(v))
    return 0;
  double t = std::trunc(v);
  // -2^(bits-1) and 2^(bits-1), both exact doubles.
  double lo = static_cast<double>(std::numeric_limits<I>::min());
  double hiExclusive = -lo;
  if (t < lo)
    return std::numeric_limits<I>::min();
  if (t >= hiExclusive)
    return std::numeric_limits<I>::max();
  return static_cast<I>(t);
}

template <typename I> static double saturateInt(double v) {
  return static_cast<double>(saturatingCast<I>(v));
}

/// Rounds a finite or infinite double to the nearest value of a binary float
/// format with `fracBits` fraction bits, minimum normal exponent `minExp` and
/// largest finite value `maxFinite` (round to nearest, ties to even; past the
/// largest finite value to infinity). Done in one step from the double: going
/// through float first would round twice and break ties the wrong way.
static double roundToFormat(double v, int fracBits, int minExp,
                            double maxFinite) {
  if (std::isnan(v) || std::isinf(v) || v == 0)
    return v;
  double a = std::fabs(v);
  int e = std::ilogb(a);
  if (e < minExp)
    e = minExp; // subnormal: the spacing stays that of the smallest normal
  double ulp = std::ldexp(1.0, e - fracBits);
  double q = a / ulp; // exact: a power-of-two scaling of a double
  double fl = std::floor(q);
  double rest = q - fl; // exact
  if (rest > 0.5 || (rest == 0.5 && std::fmod(fl, 2.0) != 0))
    fl += 1;
  double r = fl * ulp;
  if (r > maxFinite)
    r = std::numeric_limits<double>::infinity();
  return std::copysign(r, v);
}

double roundToHalf(double v) { return roundToFormat(v, 10, -14, 65504.0); }

double roundToBF16(double v) {
  return roundToFormat(v, 7, -126, std::ldexp(255.0, 120));
}

uint16_t doubleToHalfBits(double v) {
  // The rounded value is exactly a half, hence exactly a float.
  return floatToHalfBits(static_cast<float>(roundToHalf(v)));
}

uint16_t doubleToBF16Bits(double v) {
  return floatToBF16Bits(static_cast<float>(roundToBF16(v)));
}

double roundToDType(double v, DType t) {
  switch (t) {
  case DType::f64: return v;
  case DType::f32: return static_cast<double>(static_cast<float>(v));
  case DType::bf16: return roundToBF16(v);
  case DType::f16: return roundToHalf(v);
  case DType::i32: return saturateInt<int32_t>(v);
  case DType::i64: return saturateInt<int64_t>(v);
  case DType::boolean: return v != 0 ? 1.0 : 0.0;
  }
  return v;
}

double loadElement(const void *data, DType t, size_t i) {
  switch (t) {
  case DType::f16: return halfBitsToFloat(static_cast<const uint16_t *>(data)[i]);
  case DType::bf16: return bf16BitsToFloat(static_cast<const uint16_t *>(data)[i]);
  case DType::f32: return static_cast<const float *>(data)[i];
  case DType::f64: return static_cast<const double *>(data)[i];
  case DType::i32: return static_cast<const int32_t *>(data)[i];
  case DType::i64: return static_cast<double>(static_cast<const int64_t *>(data)[i]);
  case DType::boolean: return static_cast<const uint8_t *>(data)[i] ? 1.0 : 0.0;
  }
  return 0;
}

void storeElement(void *data, DType t, size_t i, double v) {
  switch (t) {
  case DType::f16:
    static_cast<uint16_t *>(data)[i] = doubleToHalfBits(v);
    return;
  case DType::bf16:
    static_cast<uint16_t *>(data)[i] = doubleToBF16Bits(v);
    return;
  case DType::f32: static_cast<float *>(data)[i] = static_cast<float>(v); return;
  case DType::f64: static_cast<double *>(data)[i] = v; return;
  case DType::i32:
    static_cast<int32_t *>(data)[i] = saturatingCast<int32_t>(v);
    return;
  case DType::i64:
    static_cast<int64_t *>(data)[i] = saturatingCast<int64_t>(v);
    return;
  case DType::boolean: static_cast<uint8_t *>(data)[i] = v != 0; return;
  }
}

} // namespace attn::rt
