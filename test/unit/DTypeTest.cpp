// Tests of the runtime's element types: rounding of doubles to f16 and bf16
// (nearest even, subnormals, overflow, NaN), integer saturation, bit patterns.
#include "runtime/DType.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

using namespace attn::rt;

namespace {

double p2(int e) { return std::ldexp(1.0, e); }
const double kInf = std::numeric_limits<double>::infinity();

TEST(DTypeTest, NamesAndSizes) {
  for (DType t : {DType::f16, DType::bf16, DType::f32, DType::f64, DType::i32,
                  DType::i64, DType::boolean}) {
    std::optional<DType> back = parseDType(dtypeName(t));
    ASSERT_TRUE(back.has_value()) << dtypeName(t);
    EXPECT_EQ(*back, t);
  }
  EXPECT_FALSE(parseDType("f8").has_value());
  EXPECT_EQ(dtypeSize(DType::bf16), 2u);
  EXPECT_EQ(dtypeSize(DType::boolean), 1u);
  EXPECT_EQ(dtypeSize(DType::i64), 8u);
  EXPECT_TRUE(isFloat(DType::bf16));
  EXPECT_FALSE(isFloat(DType::i32));
}

TEST(DTypeTest, BF16RoundsToNearestEven) {
  // bf16 has 7 fraction bits: the spacing above 1 is 2^-7.
  EXPECT_EQ(roundToDType(1.0, DType::bf16), 1.0);
  EXPECT_EQ(roundToDType(1 + p2(-8), DType::bf16), 1.0); // tie: to even
  EXPECT_EQ(roundToDType(1 + 3 * p2(-8), DType::bf16), 1 + p2(-6));
  EXPECT_EQ(roundToDType(1 + p2(-8) + p2(-20), DType::bf16), 1 + p2(-7));
  // Just above a tie by less than float precision: rounding through float
  // first would land on the tie and go to even (1.0); one rounding goes up.
  EXPECT_EQ(roundToDType(1 + p2(-8) + p2(-30), DType::bf16), 1 + p2(-7));
  EXPECT_EQ(roundToDType(-(1 + p2(-8) + p2(-30)), DType::bf16), -(1 + p2(-7)));
  EXPECT_EQ(roundToDType(1 + p2(-8) - p2(-30), DType::bf16), 1.0);
  EXPECT_EQ(roundToDType(3.14159265358979, DType::bf16), 3.140625);
}

TEST(DTypeTest, BF16SubnormalsOverflowAndSpecials) {
  EXPECT_EQ(roundToDType(p2(-133), DType::bf16), p2(-133)); // min subnormal
  EXPECT_EQ(roundToDType(p2(-134), DType::bf16), 0.0);      // tie: to even
  EXPECT_EQ(roundToDType(p2(-134) * 1.5, DType::bf16), p2(-133));
  EXPECT_EQ(roundToDType(3 * p2(-134), DType::bf16), p2(-132));
  double maxBF16 = 255 * p2(120); // (2 - 2^-7) * 2^127
  EXPECT_EQ(roundToDType(maxBF16, DType::bf16), maxBF16);
  EXPECT_EQ(roundToDType(maxBF16 + p2(119), DType::bf16), kInf); // tie
  EXPECT_EQ(roundToDType(maxBF16 + p2(118), DType::bf16), maxBF16);
  EXPECT_EQ(roundToDType(1e300, DType::bf16), kInf);
  EXPECT_EQ(roundToDType(-kInf, DType::bf16), -kInf);
  EXPECT_TRUE(std::isnan(roundToDType(std::nan(""), DType::bf16)));
  double negZero = roundToDType(-0.0, DType::bf16);
  EXPECT_EQ(negZero, 0.0);
  EXPECT_TRUE(std::signbit(negZero));
  EXPECT_TRUE(std::signbit(roundToDType(-p2(-140), DType::bf16)));
  EXPECT_EQ(floatToBF16Bits(1.0f), 0x3f80);
  EXPECT_EQ(doubleToBF16Bits(kInf), 0x7f80);
  uint16_t nan = doubleToBF16Bits(std::nan(""));
  EXPECT_EQ(nan & 0x7f80, 0x7f80);
  EXPECT_NE(nan & 0x7f, 0);
}

TEST(DTypeTest, HalfRoundsToNearestEven) {
  // f16 has 10 fraction bits: the spacing above 1 is 2^-10.
  EXPECT_EQ(roundToDType(1 + p2(-11), DType::f16), 1.0);
  EXPECT_EQ(roundToDType(1 + 3 * p2(-11), DType::f16), 1 + p2(-9));
  EXPECT_EQ(roundToDType(1 + p2(-11) + p2(-40), DType::f16), 1 + p2(-10));
  EXPECT_EQ(roundToDType(1 + p2(-11) - p2(-40), DType::f16), 1.0);
  EXPECT_EQ(roundToDType(-(1 + 3 * p2(-11)), DType::f16), -(1 + p2(-9)));
  EXPECT_EQ(roundToDType(0.1, DType::f16), 0.0999755859375);
  EXPECT_EQ(doubleToHalfBits(1.0), 0x3c00);
  EXPECT_EQ(doubleToHalfBits(-2.0), 0xc000);
  EXPECT_EQ(doubleToHalfBits(1 + p2(-11) + p2(-40)), 0x3c01);
}

TEST(DTypeTest, HalfSubnormalsOverflowAndSpecials) {
  EXPECT_EQ(roundToDType(p2(-24), DType::f16), p2(-24)); // min subnormal
  EXPECT_EQ(doubleToHalfBits(p2(-24)), 0x0001);
  EXPECT_EQ(roundToDType(p2(-25), DType::f16), 0.0); // tie: to even (0)
  EXPECT_EQ(roundToDType(p2(-25) + p2(-60), DType::f16), p2(-24));
  EXPECT_EQ(roundToDType(3 * p2(-25), DType::f16), p2(-23)); // tie: to 2
  EXPECT_EQ(roundToDType(5 * p2(-25), DType::f16), p2(-23)); // tie: to 2
  EXPECT_EQ(roundToDType(p2(-14) - p2(-25), DType::f16), p2(-14));
  EXPECT_EQ(doubleToHalfBits(p2(-14) - p2(-25)), 0x0400);
  EXPECT_EQ(roundToDType(1023 * p2(-24), DType::f16), 1023 * p2(-24));
  EXPECT_EQ(halfBitsToFloat(0x03ff), static_cast<float>(1023 * p2(-24)));
  EXPECT_EQ(roundToDType(65504.0, DType::f16), 65504.0);
  EXPECT_EQ(roundToDType(65519.99, DType::f16), 65504.0);
  EXPECT_EQ(roundToDType(65520.0, DType::f16), kInf); // tie: to even = inf
  EXPECT_EQ(roundToDType(-65520.0, DType::f16), -kInf);
  EXPECT_EQ(roundToDType(1e10, DType::f16), kInf);
  EXPECT_EQ(doubleToHalfBits(kInf), 0x7c00);
  EXPECT_EQ(doubleToHalfBits(-kInf), 0xfc00);
  EXPECT_TRUE(std::isnan(roundToDType(std::nan(""), DType::f16)));
  uint16_t nan = doubleToHalfBits(std::nan(""));
  EXPECT_EQ(nan & 0x7c00, 0x7c00);
  EXPECT_NE(nan & 0x3ff, 0);
  EXPECT_TRUE(std::signbit(roundToDType(-p2(-30), DType::f16)));
}

// Every finite 16-bit pattern decodes to a value that rounds to itself and
// encodes back to the same pattern.
TEST(DTypeTest, SixteenBitPatternsRoundTrip) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    uint16_t bits = static_cast<uint16_t>(b);
    float h = halfBitsToFloat(bits);
    if (!std::isnan(h)) {
      ASSERT_EQ(roundToDType(h, DType::f16), static_cast<double>(h)) << b;
      ASSERT_EQ(doubleToHalfBits(h), bits) << b;
      ASSERT_EQ(floatToHalfBits(h), bits) << b;
    }
    float bf = bf16BitsToFloat(bits);
    if (!std::isnan(bf)) {
      ASSERT_EQ(roundToDType(bf, DType::bf16), static_cast<double>(bf)) << b;
      ASSERT_EQ(doubleToBF16Bits(bf), bits) << b;
      ASSERT_EQ(floatToBF16Bits(bf), bits) << b;
    }
  }
}

// Midpoints between neighbouring halfs go to the even neighbour, and a hair
// above or below goes to the nearer one.
TEST(DTypeTest, HalfMidpointsBetweenNeighbours) {
  for (uint16_t b = 0; b < 0x7bff; b += 7) {
    double lo = halfBitsToFloat(b), hi = halfBitsToFloat(b + 1);
    double mid = (lo + hi) / 2; // exact in double
    double even = (b & 1) ? hi : lo;
    ASSERT_EQ(roundToDType(mid, DType::f16), even) << b;
    double eps = (hi - lo) * p2(-20);
    ASSERT_EQ(roundToDType(mid + eps, DType::f16), hi) << b;
    ASSERT_EQ(roundToDType(mid - eps, DType::f16), lo) << b;
  }
}

TEST(DTypeTest, F32AndIntegers) {
  EXPECT_EQ(roundToDType(0.1, DType::f32), static_cast<double>(0.1f));
  EXPECT_EQ(roundToDType(1e39, DType::f32), kInf);
  EXPECT_EQ(roundToDType(2.5, DType::f64), 2.5);
  EXPECT_EQ(roundToDType(-3.7, DType::i32), -3.0);
  EXPECT_EQ(roundToDType(3.7, DType::i32), 3.0);
  EXPECT_EQ(roundToDType(3e9, DType::i32), 2147483647.0);
  EXPECT_EQ(roundToDType(-3e9, DType::i32), -2147483648.0);
  EXPECT_EQ(roundToDType(std::nan(""), DType::i32), 0.0);
  EXPECT_EQ(roundToDType(kInf, DType::i64), p2(63)); // INT64_MAX, as a double
  EXPECT_EQ(roundToDType(2.0, DType::boolean), 1.0);
  EXPECT_EQ(roundToDType(0.0, DType::boolean), 0.0);

  int64_t i64 = 0;
  storeElement(&i64, DType::i64, 0, p2(63)); // not representable: saturates
  EXPECT_EQ(i64, std::numeric_limits<int64_t>::max());
  storeElement(&i64, DType::i64, 0, 1e19);
  EXPECT_EQ(i64, std::numeric_limits<int64_t>::max());
  storeElement(&i64, DType::i64, 0, -1e19);
  EXPECT_EQ(i64, std::numeric_limits<int64_t>::min());
  storeElement(&i64, DType::i64, 0, -p2(63));
  EXPECT_EQ(i64, std::numeric_limits<int64_t>::min());
  storeElement(&i64, DType::i64, 0, -12345.9);
  EXPECT_EQ(i64, -12345);
  int32_t i32 = 0;
  storeElement(&i32, DType::i32, 0, p2(31));
  EXPECT_EQ(i32, std::numeric_limits<int32_t>::max());
  storeElement(&i32, DType::i32, 0, std::nan(""));
  EXPECT_EQ(i32, 0);
}

TEST(DTypeTest, LoadStoreEveryType) {
  const double values[] = {0.75, -3.0, 1.0};
  for (DType t : {DType::f16, DType::bf16, DType::f32, DType::f64, DType::i32,
                  DType::i64, DType::boolean}) {
    unsigned char buffer[3 * 8];
    std::memset(buffer, 0xab, sizeof(buffer));
    for (size_t i = 0; i < 3; ++i)
      storeElement(buffer, t, i, values[i]);
    for (size_t i = 0; i < 3; ++i)
      EXPECT_EQ(loadElement(buffer, t, i), roundToDType(values[i], t))
          << dtypeName(t) << " element " << i;
  }
  // Stores round once, straight from the double.
  uint16_t h;
  storeElement(&h, DType::bf16, 0, 1 + p2(-8) + p2(-30));
  EXPECT_EQ(bf16BitsToFloat(h), 1 + p2(-7));
}

} // namespace
