// FilterTileClassifier against brute force: for every tile of random
// extents, tile sizes and symbol values, a tile called full has every point
// passing the filter and one called empty has none; for one linear
// constraint over tiled dimensions, partial is exact too.
#include "passes/FilterTileClassifier.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <random>

using namespace mlir;
using namespace mlir::attn;

namespace {

/// A 2-D einsum (d0 = m, d1 = p, one symbol) with the given filter sets.
std::string kernelWith(const std::string &filter) {
  return R"(
func.func @k(%x: tensor<?x?xf32>, %m: index, %p: index, %w: index) -> tensor<?x?xf32> {
  %r = attn.einsum ins(%x : tensor<?x?xf32>) sizes(%m, %p) symbols(%w)
       {indexing_maps = [affine_map<(d0, d1)[s0] -> (d0, d1)>,
                         affine_map<(d0, d1)[s0] -> (d0, d1)>],
        kind = #attn.reduction<none>, filter = )" +
         filter + R"(} -> tensor<?x?xf32> {
  ^bb0(%v: f32, %i: index, %j: index):
    attn.yield %v : f32
  }
  return %r : tensor<?x?xf32>
})";
}

struct Fixture : ::testing::Test {
  Fixture() {
    context.loadDialect<AttnDialect, func::FuncDialect, arith::ArithDialect,
                        tensor::TensorDialect>();
  }
  EinsumOp parse(const std::string &filter) {
    module = parseSourceString<ModuleOp>(kernelWith(filter), &context);
    EinsumOp e;
    if (module)
      module->walk([&](EinsumOp op) { e = op; });
    return e;
  }
  MLIRContext context;
  OwningOpRef<ModuleOp> module;
};

/// Whether point (m, p) passes the filter, by constant folding (not the
/// classifier's arithmetic).
bool passes(EinsumOp e, int64_t m, int64_t p, int64_t w) {
  Builder b(e.getContext());
  ArrayAttr filter = *e.getFilter();
  for (Attribute a : filter) {
    IntegerSet set = cast<IntegerSetAttr>(a).getValue();
    bool all = true;
    for (unsigned i = 0; i < set.getNumConstraints() && all; ++i) {
      AffineExpr folded = set.getConstraint(i).replaceDimsAndSymbols(
          {getAffineConstantExpr(m, b.getContext()),
           getAffineConstantExpr(p, b.getContext())},
          {getAffineConstantExpr(w, b.getContext())});
      auto k = dyn_cast<AffineConstantExpr>(folded);
      if (!k)
        return false;
      int64_t v = k.getValue();
      all = set.isEq(i) ? v == 0 : v >= 0;
    }
    if (all)
      return true;
  }
  return false;
}

void checkAgainstBruteForce(EinsumOp e, bool exact, unsigned seed) {
  std::mt19937 rng(seed);
  for (int trial = 0; trial < 30; ++trial) {
    int64_t M = 1 + rng() % 70, P = 1 + rng() % 70, W = rng() % 20;
    int64_t Tm = 1 + rng() % 17, Tp = 1 + rng() % 17;
    FailureOr<FilterTileClassifier> fc =
        FilterTileClassifier::build(e, {Tm, Tp});
    ASSERT_TRUE(succeeded(fc));
    for (int64_t m0 = 0; m0 < M; m0 += Tm)
      for (int64_t p0 = 0; p0 < P; p0 += Tp) {
        TileClass c = fc->classify({m0, p0}, {M, P}, {W});
        int in = 0, out = 0;
        for (int64_t m = m0; m < std::min(m0 + Tm, M); ++m)
          for (int64_t p = p0; p < std::min(p0 + Tp, P); ++p)
            (passes(e, m, p, W) ? in : out)++;
        SCOPED_TRACE("tile m0=" + std::to_string(m0) + " p0=" +
                     std::to_string(p0) + " Tm=" + std::to_string(Tm) +
                     " Tp=" + std::to_string(Tp) + " W=" + std::to_string(W));
        if (c == TileClass::Full)
          EXPECT_EQ(out, 0);
        if (c == TileClass::Empty)
          EXPECT_EQ(in, 0);
        if (exact && c == TileClass::Partial)
          EXPECT_TRUE(in > 0 && out > 0);
      }
  }
}

TEST_F(Fixture, CausalIsExact) {
  EinsumOp e = parse("[affine_set<(d0, d1)[s0] : (d1 - d0 >= 0)>]");
  ASSERT_TRUE(e);
  checkAgainstBruteForce(e, /*exact=*/true, 1);
}

TEST_F(Fixture, CausalTileCounts) {
  EinsumOp e = parse("[affine_set<(d0, d1)[s0] : (d1 - d0 >= 0)>]");
  ASSERT_TRUE(e);
  auto fc = FilterTileClassifier::build(e, {64, 64});
  ASSERT_TRUE(succeeded(fc));
  int counts[3] = {0, 0, 0};
  for (int64_t m0 = 0; m0 < 256; m0 += 64)
    for (int64_t p0 = 0; p0 < 256; p0 += 64)
      counts[static_cast<int>(fc->classify({m0, p0}, {256, 256}, {0}))]++;
  // 4x4 tiles: 6 above the diagonal empty, 4 on it partial, 6 below full.
  EXPECT_EQ(counts[static_cast<int>(TileClass::Empty)], 6);
  EXPECT_EQ(counts[static_cast<int>(TileClass::Partial)], 4);
  EXPECT_EQ(counts[static_cast<int>(TileClass::Full)], 6);
}

TEST_F(Fixture, WindowWithSymbol) {
  EinsumOp e = parse(
      "[affine_set<(d0, d1)[s0] : (d1 - d0 >= 0, s0 - d1 + d0 - 1 >= 0)>]");
  ASSERT_TRUE(e);
  checkAgainstBruteForce(e, /*exact=*/false, 2);
}

TEST_F(Fixture, SinksUnion) {
  EinsumOp e = parse("[affine_set<(d0, d1)[s0] : (-d0 + 3 >= 0, d1 - d0 >= 0)>,"
                     " affine_set<(d0, d1)[s0] : (s0 - d1 + d0 - 1 >= 0, d1 - d0 >= 0)>]");
  ASSERT_TRUE(e);
  checkAgainstBruteForce(e, /*exact=*/false, 3);
}

TEST_F(Fixture, EqualityAndScaledCoefficients) {
  EinsumOp e = parse("[affine_set<(d0, d1)[s0] : (2 * d1 - 3 * d0 + 5 >= 0)>,"
                     " affine_set<(d0, d1)[s0] : (d0 - d1 == 0)>]");
  ASSERT_TRUE(e);
  checkAgainstBruteForce(e, /*exact=*/false, 4);
}

TEST_F(Fixture, SemiAffineFilterIsRefused) {
  EinsumOp e = parse("[affine_set<(d0, d1)[s0] : (d1 floordiv 4 - d0 >= 0)>]");
  ASSERT_TRUE(e);
  EXPECT_TRUE(failed(FilterTileClassifier::build(e, {8, 8})));
}

} // namespace
