// The tile-interval analysis and FilterTileClassifier against brute force:
// for every tile of random filters, extents, tile sizes and symbol values, a
// tile called full has every point passing the filter and one called empty
// has none; linear filters get the previous linear classifier's answers.
#include "passes/FilterTileClassifier.h"
#include "passes/ArithIntervalDomain.h"
#include "passes/TileIntervals.h"

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
        SCOPED_TRACE("tile m0=" + std::to_string(m0) +
                     " p0=" + std::to_string(p0) + " Tm=" + std::to_string(Tm) +
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
  EinsumOp e = parse(
      "[affine_set<(d0, d1)[s0] : (-d0 + 3 >= 0, d1 - d0 >= 0)>,"
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

TEST_F(Fixture, DivisionByConstantIsClassified) {
  EinsumOp e = parse("[affine_set<(d0, d1)[s0] : (d1 floordiv 4 - d0 >= 0)>,"
                     " affine_set<(d0, d1)[s0] : (d0 mod 8 - 3 == 0)>]");
  ASSERT_TRUE(e);
  checkAgainstBruteForce(e, /*exact=*/false, 5);
  auto fc = FilterTileClassifier::build(e, {8, 8});
  ASSERT_TRUE(succeeded(fc));
  // Rows 0..7, columns 32..39: p floordiv 4 >= 8 > m everywhere.
  EXPECT_EQ(fc->classify({0, 32}, {64, 64}, {0}), TileClass::Full);
  // Rows 40..47, columns 0..7: p floordiv 4 <= 1 < m, and m mod 8 ranges
  // over [0, 7] (the interval cannot exclude 3): partial.
  EXPECT_EQ(fc->classify({40, 0}, {64, 64}, {0}), TileClass::Partial);
  EXPECT_EQ(fc->describe({"m", "p"}, {"w"}),
            "(p floordiv 4) + (m * -1) >= 0 (checked per tile); or "
            "(m mod 8) + -3 == 0 (checked per tile)");
}

TEST_F(Fixture, DivisionByAnExpressionIsRefused) {
  EinsumOp e =
      parse("[affine_set<(d0, d1)[s0] : (d1 floordiv (s0 + 1) - d0 >= 0)>]");
  ASSERT_TRUE(e);
  EXPECT_TRUE(failed(FilterTileClassifier::build(e, {8, 8})));
}

//===----------------------------------------------------------------------===//
// Brute force over random filters, with divisions.

/// Floor and ceiling division and modulo by their definitions (k != 0).
int64_t floorOf(int64_t x, int64_t k) {
  int64_t q = x / k;
  return q * k != x && (x < 0) != (k < 0) ? q - 1 : q;
}
int64_t ceilOf(int64_t x, int64_t k) { return -floorOf(-x, k); }
int64_t modOf(int64_t x, int64_t k) { return x - k * floorOf(x, k); }

/// `e` at a point; none on a division by 0.
std::optional<int64_t> evaluate(AffineExpr e, ArrayRef<int64_t> dims,
                                ArrayRef<int64_t> syms) {
  if (auto d = dyn_cast<AffineDimExpr>(e))
    return dims[d.getPosition()];
  if (auto s = dyn_cast<AffineSymbolExpr>(e))
    return syms[s.getPosition()];
  if (auto k = dyn_cast<AffineConstantExpr>(e))
    return k.getValue();
  auto bin = cast<AffineBinaryOpExpr>(e);
  std::optional<int64_t> l = evaluate(bin.getLHS(), dims, syms);
  std::optional<int64_t> r = evaluate(bin.getRHS(), dims, syms);
  if (!l || !r)
    return std::nullopt;
  switch (e.getKind()) {
  case AffineExprKind::Add:
    return *l + *r;
  case AffineExprKind::Mul:
    return *l * *r;
  default:
    break;
  }
  if (*r == 0)
    return std::nullopt;
  switch (e.getKind()) {
  case AffineExprKind::FloorDiv:
    return floorOf(*l, *r);
  case AffineExprKind::CeilDiv:
    return ceilOf(*l, *r);
  default:
    return modOf(*l, *r);
  }
}

/// Whether the point passes the union of `sets`.
bool passes(ArrayRef<IntegerSet> sets, ArrayRef<int64_t> dims,
            ArrayRef<int64_t> syms) {
  return llvm::any_of(sets, [&](IntegerSet set) {
    for (unsigned i = 0; i < set.getNumConstraints(); ++i) {
      std::optional<int64_t> v = evaluate(set.getConstraint(i), dims, syms);
      if (!v || (set.isEq(i) ? *v != 0 : *v < 0))
        return false;
    }
    return true;
  });
}

/// Random filters over (d0, d1)[s0]: linear constraints, optionally with a
/// floordiv, ceildiv or mod by a constant of either sign or by s0.
struct RandomFilters {
  std::mt19937 rng;
  MLIRContext *ctx;
  bool divisions;
  bool negativeOrSymbolDivisor = false;

  int64_t pick(int64_t lo, int64_t hi) { return lo + rng() % (hi - lo + 1); }
  AffineExpr d(unsigned i) { return getAffineDimExpr(i, ctx); }
  AffineExpr linear() {
    return d(0) * pick(-3, 3) + d(1) * pick(-3, 3) +
           getAffineSymbolExpr(0, ctx) * pick(-1, 1) + pick(-20, 20);
  }
  AffineExpr divisor() {
    int64_t k = pick(1, 6);
    if (rng() % 3 == 0) {
      negativeOrSymbolDivisor = true;
      k = -k;
    }
    return getAffineConstantExpr(k, ctx);
  }
  AffineExpr constraint() {
    if (!divisions)
      return linear();
    int64_t scale = pick(-2, 2);
    switch (rng() % 6) {
    case 0:
      return linear();
    case 1:
      return linear() + linear().floorDiv(divisor()) * scale;
    case 2:
      return linear() + linear().ceilDiv(divisor()) * scale;
    case 3:
      return linear() + (linear() % divisor()) * scale;
    case 4:
      return (d(0) * pick(1, 3) + d(1)).floorDiv(divisor()) - d(0);
    default:
      negativeOrSymbolDivisor = true;
      AffineExpr s0 = getAffineSymbolExpr(0, ctx);
      return rng() % 2 ? linear() + linear().floorDiv(s0) * scale
                       : linear() + (linear() % s0) * scale;
    }
  }
  SmallVector<IntegerSet> filter() {
    negativeOrSymbolDivisor = false;
    SmallVector<IntegerSet> sets;
    for (int64_t n = pick(1, 2); n > 0; --n) {
      SmallVector<AffineExpr> cs;
      SmallVector<bool> eqs;
      for (int64_t c = pick(1, 3); c > 0; --c) {
        cs.push_back(constraint());
        eqs.push_back(rng() % 5 == 0);
      }
      sets.push_back(IntegerSet::get(2, 1, cs, eqs));
    }
    return sets;
  }
};

/// The arith domain's ops built into a block, evaluated by folding.
struct ArithEvaluator {
  explicit ArithEvaluator(MLIRContext *ctx) : b(ctx) {
    b.setInsertionPointToStart(&block);
  }
  ~ArithEvaluator() { clear(); }
  void clear() {
    while (!block.empty())
      block.back().erase();
    known.clear();
  }
  /// Folds every op built so far; the value of `v` (integers or i1).
  int64_t valueOf(Value v) {
    for (Operation &op : block) {
      if (op.getNumResults() != 1 || known.count(op.getResult(0)))
        continue;
      SmallVector<Attribute> operands;
      for (Value o : op.getOperands())
        operands.push_back(known.lookup(o));
      SmallVector<OpFoldResult> folded;
      if (failed(op.fold(operands, folded)) || folded.size() != 1)
        continue;
      known[op.getResult(0)] = isa<Attribute>(folded[0])
                                   ? cast<Attribute>(folded[0])
                                   : known.lookup(cast<Value>(folded[0]));
    }
    auto a = dyn_cast_or_null<IntegerAttr>(known.lookup(v));
    EXPECT_TRUE(a) << "not folded";
    if (!a)
      return 0;
    return a.getType().isInteger(1) ? !a.getValue().isZero()
                                    : a.getValue().getSExtValue();
  }
  OpBuilder b;
  Block block;
  DenseMap<Value, Attribute> known;
};

TEST_F(Fixture, RandomFiltersAreSoundInEveryDomain) {
  RandomFilters gen{std::mt19937(7), &context, /*divisions=*/true};
  ArithEvaluator arith(&context);
  ArithIntervalDomain arithDomain(arith.b, UnknownLoc::get(&context));
  int classified[3] = {0, 0, 0};
  for (int trial = 0; trial < 150; ++trial) {
    SmallVector<IntegerSet> sets = gen.filter();
    bool sameAsArith = !gen.negativeOrSymbolDivisor;
    EinsumOp e = parse("[affine_set<(d0, d1)[s0] : (d0 >= 0)>]");
    ASSERT_TRUE(e);
    SmallVector<Attribute> attrs;
    for (IntegerSet s : sets)
      attrs.push_back(IntegerSetAttr::get(s));
    e.setFilterAttr(ArrayAttr::get(&context, attrs));
    int64_t M = gen.pick(1, 40), P = gen.pick(1, 40);
    int64_t W = gen.pick(-6, 19);
    W = W ? W : 20; // divisions by s0: never by 0
    int64_t Tm = gen.pick(1, 12), Tp = gen.pick(1, 12);
    FailureOr<FilterTileClassifier> fc =
        FilterTileClassifier::build(e, {Tm, Tp});
    ASSERT_TRUE(succeeded(fc));
    for (int64_t m0 = 0; m0 < M; m0 += Tm)
      for (int64_t p0 = 0; p0 < P; p0 += Tp) {
        int64_t m1 = std::min(m0 + Tm, M) - 1, p1 = std::min(p0 + Tp, P) - 1;
        int in = 0, out = 0;
        for (int64_t m = m0; m <= m1; ++m)
          for (int64_t p = p0; p <= p1; ++p)
            (passes(sets, {m, p}, {W}) ? in : out)++;
        TileClass c = fc->classify({m0, p0}, {M, P}, {W});
        classified[static_cast<int>(c)]++;
        // The same box in arith ops, folded.
        arith.clear();
        auto cst = [&](int64_t v) { return arithDomain.constant(v); };
        SmallVector<std::optional<Interval<Value>>> box = {
            Interval<Value>{cst(m0), cst(m1)},
            Interval<Value>{cst(p0), cst(p1)}};
        SmallVector<Value> syms = {cst(W)};
        FilterClass<Value> ac = classifyFilter(ArrayRef<IntegerSet>(sets), {},
                                               {}, box, syms, arithDomain);
        bool arithFull = arith.valueOf(ac.full);
        bool arithEmpty = arith.valueOf(ac.empty);
        SCOPED_TRACE("trial " + std::to_string(trial) +
                     " tile m0=" + std::to_string(m0) +
                     " p0=" + std::to_string(p0) + " Tm=" + std::to_string(Tm) +
                     " Tp=" + std::to_string(Tp) + " W=" + std::to_string(W));
        if (c == TileClass::Full || arithFull)
          EXPECT_EQ(out, 0);
        if (c == TileClass::Empty || arithEmpty)
          EXPECT_EQ(in, 0);
        if (sameAsArith) {
          EXPECT_EQ(arithFull, c == TileClass::Full);
          EXPECT_EQ(arithEmpty, c == TileClass::Empty);
        }
      }
  }
  // The filters are not all trivial: every class occurs.
  EXPECT_GT(classified[static_cast<int>(TileClass::Full)], 0);
  EXPECT_GT(classified[static_cast<int>(TileClass::Empty)], 0);
  EXPECT_GT(classified[static_cast<int>(TileClass::Partial)], 0);
}

/// The classifier before the tile-interval analysis (linear forms only),
/// kept as the reference: the class of the box [lo, hi] under linear
/// constraints `dims . x + sym * s + constant >= 0 (== 0)`.
struct LinearConstraint {
  int64_t dims[2], sym, constant;
  bool isEq;
};
TileClass previousClassify(ArrayRef<SmallVector<LinearConstraint>> filter,
                           const int64_t lo[2], const int64_t hi[2],
                           int64_t s) {
  auto constraintClass = [&](const LinearConstraint &c) {
    int64_t mn = c.constant + c.sym * s, mx = mn;
    for (unsigned d = 0; d < 2; ++d) {
      int64_t k = c.dims[d];
      mn += k * (k > 0 ? lo[d] : hi[d]);
      mx += k * (k > 0 ? hi[d] : lo[d]);
    }
    if (c.isEq)
      return mn == 0 && mx == 0   ? TileClass::Full
             : (mn > 0 || mx < 0) ? TileClass::Empty
                                  : TileClass::Partial;
    return mn >= 0  ? TileClass::Full
           : mx < 0 ? TileClass::Empty
                    : TileClass::Partial;
  };
  bool anyFull = false, allEmpty = true;
  for (const auto &conj : filter) {
    TileClass cc = TileClass::Full;
    for (const LinearConstraint &c : conj) {
      TileClass k = constraintClass(c);
      if (k == TileClass::Empty) {
        cc = TileClass::Empty;
        break;
      }
      if (k == TileClass::Partial)
        cc = TileClass::Partial;
    }
    anyFull |= cc == TileClass::Full;
    allEmpty &= cc == TileClass::Empty;
  }
  return anyFull    ? TileClass::Full
         : allEmpty ? TileClass::Empty
                    : TileClass::Partial;
}

TEST_F(Fixture, LinearFiltersKeepThePreviousAnswers) {
  std::mt19937 rng(11);
  auto pick = [&](int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(rng() % (hi - lo + 1));
  };
  AffineExpr d0 = getAffineDimExpr(0, &context);
  AffineExpr d1 = getAffineDimExpr(1, &context);
  AffineExpr s0 = getAffineSymbolExpr(0, &context);
  for (int trial = 0; trial < 200; ++trial) {
    SmallVector<SmallVector<LinearConstraint>> reference;
    SmallVector<Attribute> attrs;
    for (int64_t n = pick(1, 2); n > 0; --n) {
      SmallVector<LinearConstraint> conj;
      SmallVector<AffineExpr> exprs;
      SmallVector<bool> eqs;
      for (int64_t k = pick(1, 3); k > 0; --k) {
        LinearConstraint c{{pick(-4, 4), pick(-4, 4)},
                           pick(-2, 2),
                           pick(-40, 40),
                           rng() % 5 == 0};
        // Written with d0 twice: the classifier must combine the terms.
        int64_t split = pick(-2, 2);
        exprs.push_back(d0 * split + d1 * c.dims[1] + s0 * c.sym + c.constant +
                        d0 * (c.dims[0] - split));
        eqs.push_back(c.isEq);
        conj.push_back(c);
      }
      reference.push_back(conj);
      attrs.push_back(IntegerSetAttr::get(IntegerSet::get(2, 1, exprs, eqs)));
    }
    EinsumOp e = parse("[affine_set<(d0, d1)[s0] : (d0 >= 0)>]");
    ASSERT_TRUE(e);
    e.setFilterAttr(ArrayAttr::get(&context, attrs));
    int64_t M = pick(1, 60), P = pick(1, 60), W = pick(-10, 30);
    int64_t Tm = pick(1, 16), Tp = pick(1, 16);
    FailureOr<FilterTileClassifier> fc =
        FilterTileClassifier::build(e, {Tm, Tp});
    ASSERT_TRUE(succeeded(fc));
    for (int64_t m0 = 0; m0 < M; m0 += Tm)
      for (int64_t p0 = 0; p0 < P; p0 += Tp) {
        int64_t lo[2] = {m0, p0};
        int64_t hi[2] = {std::min(m0 + Tm, M) - 1, std::min(p0 + Tp, P) - 1};
        EXPECT_EQ(fc->classify({m0, p0}, {M, P}, {W}),
                  previousClassify(reference, lo, hi, W))
            << "trial " << trial << " m0=" << m0 << " p0=" << p0;
      }
  }
}

/// Whether `e` divides by a symbol or a constant <= 0 (after MLIR's
/// simplification: `x floordiv -1` is `x * -1`).
bool dividesByNonPositiveOrSymbol(AffineExpr e) {
  bool found = false;
  e.walk([&](AffineExpr x) {
    auto bin = dyn_cast<AffineBinaryOpExpr>(x);
    if (!bin || x.getKind() == AffineExprKind::Add ||
        x.getKind() == AffineExprKind::Mul)
      return;
    auto k = dyn_cast<AffineConstantExpr>(bin.getRHS());
    found |= !k || k.getValue() <= 0;
  });
  return found;
}

TEST(TileIntervals, DivisionsMatchBruteForce) {
  MLIRContext context;
  context.loadDialect<arith::ArithDialect>();
  std::mt19937 rng(13);
  AffineExpr d0 = getAffineDimExpr(0, &context);
  AffineExpr d1 = getAffineDimExpr(1, &context);
  AffineExpr s0 = getAffineSymbolExpr(0, &context);
  Int64IntervalDomain int64;
  ArithEvaluator arith(&context);
  ArithIntervalDomain arithDomain(arith.b, UnknownLoc::get(&context));
  for (int64_t k = -7; k <= 7; ++k) {
    if (!k)
      continue;
    for (int trial = 0; trial < 20; ++trial) {
      int64_t lo0 = static_cast<int64_t>(rng() % 61) - 30;
      int64_t hi0 = lo0 + static_cast<int64_t>(rng() % 25);
      int64_t lo1 = static_cast<int64_t>(rng() % 21) - 10;
      int64_t hi1 = lo1 + static_cast<int64_t>(rng() % 5);
      // By the constant k, and by the symbol s0 = k.
      for (AffineExpr by : {getAffineConstantExpr(k, &context), s0})
        for (AffineExpr x : {d0, d0 * 3 + d1 * -2 + 5})
          for (AffineExprKind kind :
               {AffineExprKind::FloorDiv, AffineExprKind::CeilDiv,
                AffineExprKind::Mod}) {
            AffineExpr e = getAffineBinaryOpExpr(kind, x, by);
            SmallVector<std::optional<Interval<int64_t>>> box = {
                Interval<int64_t>{lo0, hi0}, Interval<int64_t>{lo1, hi1}};
            SmallVector<int64_t> syms = {k};
            std::optional<Interval<int64_t>> iv =
                intervalOf(e, box, syms, int64);
            SCOPED_TRACE("k=" + std::to_string(k) + " box [" +
                         std::to_string(lo0) + ", " + std::to_string(hi0) +
                         "] x [" + std::to_string(lo1) + ", " +
                         std::to_string(hi1) + "]");
            ASSERT_TRUE(iv);
            int64_t mn = INT64_MAX, mx = INT64_MIN;
            for (int64_t a = lo0; a <= hi0; ++a)
              for (int64_t b = lo1; b <= hi1; ++b) {
                int64_t v = *evaluate(e, {a, b}, syms);
                mn = std::min(mn, v);
                mx = std::max(mx, v);
              }
            EXPECT_LE(iv->lo, mn);
            EXPECT_GE(iv->hi, mx);
            // Division of an exact interval by a fixed value is exact.
            if (kind != AffineExprKind::Mod) {
              EXPECT_EQ(iv->lo, mn);
              EXPECT_EQ(iv->hi, mx);
            }
            // The arith domain: the same for a positive constant, nothing
            // for a negative one or a symbol.
            arith.clear();
            SmallVector<std::optional<Interval<Value>>> abox = {
                Interval<Value>{arithDomain.constant(lo0),
                                arithDomain.constant(hi0)},
                Interval<Value>{arithDomain.constant(lo1),
                                arithDomain.constant(hi1)}};
            SmallVector<Value> asyms = {arithDomain.constant(k)};
            std::optional<Interval<Value>> aiv =
                intervalOf(e, abox, asyms, arithDomain);
            ASSERT_EQ(aiv.has_value(), !dividesByNonPositiveOrSymbol(e));
            if (aiv) {
              EXPECT_EQ(arith.valueOf(aiv->lo), iv->lo);
              EXPECT_EQ(arith.valueOf(aiv->hi), iv->hi);
            }
          }
    }
  }
}

} // namespace
