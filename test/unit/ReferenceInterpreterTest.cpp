// Tests of the float64 reference interpreter: hand-written attn kernels run
// on random inputs of odd sizes and compared with plain loops written here,
// including absent points (filters, guards, propagation, fill) and the
// errors a user can cause (out-of-range reads, inconsistent sizes).
#include "codegen/ref/ReferenceInterpreter.h"
#include "dialect/AttnOps.h"
#include "runtime/DType.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace mlir;
using ::attn::rt::DType;
using ::attn::rt::roundToDType;
using mlir::attn::RefArg;
using mlir::attn::RefTensor;

namespace {

constexpr int64_t B = 2, H = 3, P = 37, M = 41, E = 19, F = 23;

/// Row-major offset of `index` in `shape`.
size_t flat(const std::vector<int64_t> &shape,
            std::initializer_list<int64_t> index) {
  size_t offset = 0, d = 0;
  for (int64_t i : index)
    offset = offset * shape[d++] + i;
  return offset;
}
double at(const RefTensor &t, std::initializer_list<int64_t> index) {
  return t.values[flat(t.shape, index)];
}
double &at(RefTensor &t, std::initializer_list<int64_t> index) {
  return t.values[flat(t.shape, index)];
}

/// |actual - expected| within `rel` of max(1, |expected|).
void expectClose(double actual, double expected, double rel,
                 const std::string &where) {
  double bound = rel * std::max(1.0, std::fabs(expected));
  EXPECT_LE(std::fabs(actual - expected), bound)
      << where << ": got " << actual << ", expected " << expected;
}

class ReferenceInterpreterTest : public ::testing::Test {
protected:
  ReferenceInterpreterTest() {
    DialectRegistry registry;
    registry
        .insert<mlir::attn::AttnDialect, arith::ArithDialect, math::MathDialect,
                tensor::TensorDialect, func::FuncDialect>();
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  /// Parses `source` and returns its function `name` (failing the test on a
  /// parse error, with the diagnostic).
  func::FuncOp parse(const std::string &source, const std::string &name) {
    std::string diagnostics;
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
      diagnostics += d.str() + "\n";
      return success();
    });
    module = parseSourceString<ModuleOp>(source, ParserConfig(&context));
    EXPECT_TRUE(module) << diagnostics;
    if (!module)
      return nullptr;
    auto f = module->lookupSymbol<func::FuncOp>(name);
    EXPECT_TRUE(f) << "no function " << name;
    return f;
  }

  /// Runs `kernel`, expecting success.
  std::vector<RefTensor> run(func::FuncOp kernel, std::vector<RefArg> args) {
    std::vector<RefTensor> results;
    std::string error;
    bool ok =
        succeeded(mlir::attn::interpretKernel(kernel, args, results, error));
    EXPECT_TRUE(ok) << error;
    if (ok)
      for (const RefTensor &r : results)
        EXPECT_TRUE(r.present.empty() ||
                    std::all_of(r.present.begin(), r.present.end(),
                                [](uint8_t p) { return p != 0; }));
    return results;
  }

  /// Runs `kernel`, expecting failure; returns the message.
  std::string runError(func::FuncOp kernel, std::vector<RefArg> args) {
    std::vector<RefTensor> results;
    std::string error;
    EXPECT_TRUE(
        failed(mlir::attn::interpretKernel(kernel, args, results, error)))
        << "expected an error";
    EXPECT_FALSE(error.empty());
    return error;
  }

  /// Random values exact in `dtype`, magnitudes in [lo, hi), random signs
  /// unless `positive`; never zero.
  RefTensor random(std::vector<int64_t> shape, DType dtype = DType::f64,
                   double lo = 0.1, double hi = 1.0, bool positive = false) {
    RefTensor t;
    t.shape = std::move(shape);
    size_t n = 1;
    for (int64_t d : t.shape)
      n *= d;
    std::uniform_real_distribution<double> mag(lo, hi);
    std::bernoulli_distribution negative(0.5);
    for (size_t i = 0; i < n; ++i) {
      double v = mag(rng) * (!positive && negative(rng) ? -1 : 1);
      t.values.push_back(roundToDType(v, dtype));
    }
    return t;
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
  std::mt19937_64 rng{20240611};
};

//===----------------------------------------------------------------------===//
// A contraction over e, four-dimensional, with the result rounded to f32.
//===----------------------------------------------------------------------===//

const char *kScores = R"mlir(
func.func @scores(%Q: tensor<?x?x?x?xf32> {attn.name = "Q", attn.dims = ["B", "H", "P", "E"]},
                  %K: tensor<?x?x?x?xf32> {attn.name = "K", attn.dims = ["B", "H", "M", "E"]})
    -> (tensor<?x?x?x?xf32> {attn.name = "S", attn.dims = ["B", "H", "M", "P"]})
    attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %B = tensor.dim %Q, %c0 : tensor<?x?x?x?xf32>
  %H = tensor.dim %Q, %c1 : tensor<?x?x?x?xf32>
  %P = tensor.dim %Q, %c2 : tensor<?x?x?x?xf32>
  %E = tensor.dim %Q, %c3 : tensor<?x?x?x?xf32>
  %M = tensor.dim %K, %c2 : tensor<?x?x?x?xf32>
  %s = attn.einsum ins(%Q, %K : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>)
       sizes(%B, %H, %M, %P, %E)
       {indexing_maps = [affine_map<(b, h, m, p, e) -> (b, h, p, e)>,
                         affine_map<(b, h, m, p, e) -> (b, h, m, e)>,
                         affine_map<(b, h, m, p, e) -> (b, h, m, p)>],
        kind = #attn.reduction<sum>} -> tensor<?x?x?x?xf64> {
  ^bb0(%q: f32, %k: f32, %b: index, %h: index, %m: index, %p: index, %e: index):
    %x = arith.extf %q : f32 to f64
    %y = arith.extf %k : f32 to f64
    %z = arith.mulf %x, %y : f64
    attn.yield %z : f64
  }
  %o = attn.fill %s, 0.0 : tensor<?x?x?x?xf64> -> tensor<?x?x?x?xf32>
  return %o : tensor<?x?x?x?xf32>
}
)mlir";

TEST_F(ReferenceInterpreterTest, ContractionMatchesLoops) {
  func::FuncOp kernel = parse(kScores, "scores");
  ASSERT_TRUE(kernel);
  RefTensor q = random({B, H, P, E}, DType::f32);
  RefTensor k = random({B, H, M, E}, DType::f32);
  std::vector<RefTensor> out =
      run(kernel, {RefArg::ofTensor(q), RefArg::ofTensor(k)});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].shape, (std::vector<int64_t>{B, H, M, P}));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t m = 0; m < M; ++m)
        for (int64_t p = 0; p < P; ++p) {
          double acc = 0;
          for (int64_t e = 0; e < E; ++e)
            acc += at(q, {b, h, p, e}) * at(k, {b, h, m, e});
          // Rounded to f32 once, on the fill.
          ASSERT_EQ(at(out[0], {b, h, m, p}), roundToDType(acc, DType::f32))
              << b << "," << h << "," << m << "," << p;
        }
}

//===----------------------------------------------------------------------===//
// max, min and prod reductions, over the innermost and the outermost
// dimension, and the scalar functions of the body.
//===----------------------------------------------------------------------===//

const char *kReductions = R"mlir(
func.func @reductions(%X: tensor<?x?xf64> {attn.name = "X", attn.dims = ["P", "M"]})
    -> (tensor<?xf64> {attn.name = "Mx", attn.dims = ["P"]},
        tensor<?xf64> {attn.name = "Mn", attn.dims = ["P"]},
        tensor<?xf64> {attn.name = "Pr", attn.dims = ["P"]},
        tensor<?xf64> {attn.name = "Cm", attn.dims = ["M"]})
    attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %P = tensor.dim %X, %c0 : tensor<?x?xf64>
  %M = tensor.dim %X, %c1 : tensor<?x?xf64>
  %mx = attn.einsum ins(%X : tensor<?x?xf64>) sizes(%P, %M)
       {indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>],
        kind = #attn.reduction<max>} -> tensor<?xf64> {
  ^bb0(%x: f64, %p: index, %m: index):
    attn.yield %x : f64
  }
  %mn = attn.einsum ins(%X : tensor<?x?xf64>) sizes(%P, %M)
       {indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>],
        kind = #attn.reduction<min>} -> tensor<?xf64> {
  ^bb0(%x: f64, %p: index, %m: index):
    attn.yield %x : f64
  }
  %pr = attn.einsum ins(%X : tensor<?x?xf64>) sizes(%P, %M)
       {indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>],
        kind = #attn.reduction<prod>} -> tensor<?xf64> {
  ^bb0(%x: f64, %p: index, %m: index):
    attn.yield %x : f64
  }
  // The column maximum reduces the outer dimension p.
  %cm = attn.einsum ins(%X : tensor<?x?xf64>) sizes(%P, %M)
       {indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (m)>],
        kind = #attn.reduction<max>} -> tensor<?xf64> {
  ^bb0(%x: f64, %p: index, %m: index):
    %n = arith.negf %x : f64
    attn.yield %n : f64
  }
  %a = attn.fill %mx, 0.0 : tensor<?xf64> -> tensor<?xf64>
  %b = attn.fill %mn, 0.0 : tensor<?xf64> -> tensor<?xf64>
  %c = attn.fill %pr, 0.0 : tensor<?xf64> -> tensor<?xf64>
  %d = attn.fill %cm, 0.0 : tensor<?xf64> -> tensor<?xf64>
  return %a, %b, %c, %d : tensor<?xf64>, tensor<?xf64>, tensor<?xf64>, tensor<?xf64>
}
)mlir";

TEST_F(ReferenceInterpreterTest, MaxMinProdReductions) {
  func::FuncOp kernel = parse(kReductions, "reductions");
  ASSERT_TRUE(kernel);
  RefTensor x = random({P, M}, DType::f64, 0.5, 1.5, /*positive=*/true);
  for (double &v : x.values) // mixed signs for max/min, none zero
    if (std::fmod(v * 1000, 3) < 1)
      v = -v;
  std::vector<RefTensor> out = run(kernel, {RefArg::ofTensor(x)});
  ASSERT_EQ(out.size(), 4u);
  for (int64_t p = 0; p < P; ++p) {
    double mx = -INFINITY, mn = INFINITY, pr = 1;
    for (int64_t m = 0; m < M; ++m) {
      mx = std::max(mx, at(x, {p, m}));
      mn = std::min(mn, at(x, {p, m}));
      pr *= at(x, {p, m});
    }
    EXPECT_EQ(out[0].values[p], mx) << p;
    EXPECT_EQ(out[1].values[p], mn) << p;
    expectClose(out[2].values[p], pr, 1e-14, "prod " + std::to_string(p));
  }
  for (int64_t m = 0; m < M; ++m) {
    double cm = -INFINITY;
    for (int64_t p = 0; p < P; ++p)
      cm = std::max(cm, -at(x, {p, m}));
    EXPECT_EQ(out[3].values[m], cm) << m;
  }
}

const char *kScalarFunctions = R"mlir(
func.func @functions(%X: tensor<?x?xf64> {attn.name = "X", attn.dims = ["P", "M"]})
    -> (tensor<?x?xf64> {attn.name = "Y", attn.dims = ["P", "M"]})
    attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %P = tensor.dim %X, %c0 : tensor<?x?xf64>
  %M = tensor.dim %X, %c1 : tensor<?x?xf64>
  %y = attn.einsum ins(%X : tensor<?x?xf64>) sizes(%P, %M)
       {indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p, m)>],
        kind = #attn.reduction<none>} -> tensor<?x?xf64> {
  ^bb0(%x: f64, %p: index, %m: index):
    %zero = arith.constant 0.0 : f64
    %one = arith.constant 1.0 : f64
    %half = arith.constant 0.5 : f64
    %onehalf = arith.constant 1.5 : f64
    // sigmoid(x) = 1 / (1 + exp(-x))
    %nx = arith.negf %x : f64
    %ex = math.exp %nx : f64
    %den = arith.addf %one, %ex : f64
    %sig = arith.divf %one, %den : f64
    // softplus(x) = log1p(exp(x))
    %e2 = math.exp %x : f64
    %sp = math.log1p %e2 : f64
    // select(x > 0, sigmoid, softplus)
    %pos = arith.cmpf ogt, %x, %zero : f64
    %s1 = arith.select %pos, %sig, %sp : f64
    %relu = arith.maximumf %x, %zero : f64
    %ax = math.absf %x : f64
    %rs = math.rsqrt %ax : f64
    %th = math.tanh %x : f64
    %t1 = arith.mulf %th, %rs : f64
    %pw = math.powf %ax, %onehalf : f64
    %lg = math.log %ax : f64
    %sq = math.sqrt %ax : f64
    %mn = arith.minimumf %x, %half : f64
    // (p - m) as a number, and a comparison as 0 or 1
    %pi = arith.index_cast %p : index to i64
    %mi = arith.index_cast %m : index to i64
    %d = arith.subi %pi, %mi : i64
    %df = arith.sitofp %d : i64 to f64
    %lt = arith.cmpf olt, %x, %zero : f64
    %ltf = arith.uitofp %lt : i1 to f64
    %a1 = arith.addf %s1, %relu : f64
    %a2 = arith.addf %a1, %t1 : f64
    %a3 = arith.addf %a2, %pw : f64
    %a4 = arith.addf %a3, %lg : f64
    %a5 = arith.addf %a4, %sq : f64
    %a6 = arith.addf %a5, %mn : f64
    %a7 = arith.mulf %df, %half : f64
    %a8 = arith.addf %a6, %a7 : f64
    %a9 = arith.addf %a8, %ltf : f64
    attn.yield %a9 : f64
  }
  %o = attn.fill %y, 0.0 : tensor<?x?xf64> -> tensor<?x?xf64>
  return %o : tensor<?x?xf64>
}
)mlir";

TEST_F(ReferenceInterpreterTest, ScalarFunctionsOfTheBody) {
  func::FuncOp kernel = parse(kScalarFunctions, "functions");
  ASSERT_TRUE(kernel);
  RefTensor x = random({P, M});
  std::vector<RefTensor> out = run(kernel, {RefArg::ofTensor(x)});
  ASSERT_EQ(out.size(), 1u);
  for (int64_t p = 0; p < P; ++p)
    for (int64_t m = 0; m < M; ++m) {
      double v = at(x, {p, m}), a = std::fabs(v);
      double s1 = v > 0 ? 1 / (1 + std::exp(-v)) : std::log1p(std::exp(v));
      double want = s1 + std::max(v, 0.0) + std::tanh(v) / std::sqrt(a) +
                    std::pow(a, 1.5) + std::log(a) + std::sqrt(a) +
                    std::min(v, 0.5) + (p - m) * 0.5 + (v < 0 ? 1 : 0);
      expectClose(at(out[0], {p, m}), want, 1e-13,
                  std::to_string(p) + "," + std::to_string(m));
    }
}

//===----------------------------------------------------------------------===//
// Integer and conversion semantics of the body, one small elementwise kernel
// per op: widths wrap, unsigned ops see the bits, conversions round once.
//===----------------------------------------------------------------------===//

/// An elementwise kernel Y[p] = body(X[p]); the body ends in a yield of %r.
std::string elementwise(const std::string &in, const std::string &out,
                        const std::string &body) {
  std::string tin = "tensor<?x" + in + ">", tout = "tensor<?x" + out + ">";
  return "func.func @k(%X: " + tin +
         " {attn.name = \"X\", attn.dims = [\"P\"]}) -> (" + tout +
         " {attn.name = \"Y\", attn.dims = [\"P\"]}) attributes {attn.kernel} "
         "{\n  %c0 = arith.constant 0 : index\n  %P = tensor.dim %X, %c0 : " +
         tin + "\n  %y = attn.einsum ins(%X : " + tin +
         ") sizes(%P) {indexing_maps = [affine_map<(p) -> (p)>, "
         "affine_map<(p) -> (p)>], kind = #attn.reduction<none>} -> " +
         tout + " {\n  ^bb0(%x: " + in + ", %p: index):\n" + body +
         "\n    attn.yield %r : " + out + "\n  }\n  return %y : " + tout +
         "\n}\n";
}

TEST_F(ReferenceInterpreterTest, IntegerAndConversionSemantics) {
  struct Case {
    const char *in, *out, *body;
    std::function<double(double)> want;
  };
  auto u32 = [](double x) {
    return static_cast<uint32_t>(static_cast<int32_t>(x));
  };
  auto i32 = [](double x) { return static_cast<int32_t>(x); };
  const double nan = std::nan("");
  const std::vector<Case> cases = {
      {"i32", "i32",
       "%c = arith.constant 100000 : i32\n%r = arith.muli %x, %c : i32",
       [&](double x) {
         return static_cast<double>(static_cast<int32_t>(u32(x) * 100000u));
       }},
      {"i32", "i32",
       "%c = arith.constant 7 : i32\n%r = arith.divui %x, %c : i32",
       [&](double x) { return static_cast<double>(u32(x) / 7u); }},
      {"i32", "i32",
       "%c = arith.constant 7 : i32\n%r = arith.remsi %x, %c : i32",
       [&](double x) { return static_cast<double>(i32(x) % 7); }},
      {"i32", "i32",
       "%c = arith.constant 7 : i32\n%r = arith.floordivsi %x, %c : i32",
       [&](double x) { return std::floor(x / 7); }},
      {"i32", "i32",
       "%c = arith.constant 7 : i32\n%r = arith.ceildivsi %x, %c : i32",
       [&](double x) { return std::ceil(x / 7); }},
      {"i32", "i32",
       "%c = arith.constant 3 : i32\n%r = arith.shrui %x, %c : i32",
       [&](double x) { return static_cast<double>(u32(x) >> 3); }},
      {"i32", "i32",
       "%c = arith.constant 3 : i32\n%r = arith.shrsi %x, %c : i32",
       [&](double x) { return std::floor(x / 8); }},
      {"i32", "i32",
       "%c = arith.constant 7 : i32\n%l = arith.cmpi ult, %x, %c : i32\n"
       "%r = arith.extui %l : i1 to i32",
       [&](double x) { return u32(x) < 7u ? 1.0 : 0.0; }},
      {"i32", "i32",
       "%c = arith.constant 7 : i32\n%r = arith.minui %x, %c : i32",
       [&](double x) { return static_cast<double>(std::min(u32(x), 7u)); }},
      {"i32", "i32",
       "%z = arith.constant 0 : i32\n%n = arith.subi %z, %x : i32\n"
       "%l = arith.cmpi slt, %x, %z : i32\n%r = arith.select %l, %n, %x : i32",
       [&](double x) { return std::fabs(x); }},
      {"i32", "i32",
       "%t = arith.trunci %x : i32 to i8\n%r = arith.extsi %t : i8 to i32",
       [&](double x) {
         return static_cast<double>(static_cast<int8_t>(i32(x)));
       }},
      {"i32", "i32",
       "%t = arith.trunci %x : i32 to i8\n%r = arith.extui %t : i8 to i32",
       [&](double x) {
         return static_cast<double>(static_cast<uint8_t>(i32(x)));
       }},
      {"i32", "f64",
       "%t = arith.cmpi eq, %x, %x : i32\n%r = arith.sitofp %t : i1 to f64",
       [&](double) { return -1.0; }}, // i1 true is -1 as a signed number
      {"i32", "f64",
       "%t = arith.cmpi eq, %x, %x : i32\n%r = arith.uitofp %t : i1 to f64",
       [&](double) { return 1.0; }},
      {"i32", "i64",
       "%i = arith.index_cast %x : i32 to index\n%c = arith.constant 5 : "
       "index\n"
       "%m = arith.remui %i, %c : index\n%r = arith.index_cast %m : index to "
       "i64",
       [&](double x) {
         return static_cast<double>(
             static_cast<uint64_t>(static_cast<int64_t>(x)) % 5u);
       }},
      {"f64", "i32",
       "%c = arith.constant 1.0e12 : f64\n%m = arith.mulf %x, %c : f64\n"
       "%r = arith.fptosi %m : f64 to i32",
       [&](double x) { return x > 0 ? 2147483647.0 : -2147483648.0; }},
      {"f64", "f64",
       "%c = arith.constant 3.0 : f64\n%m = arith.divf %x, %c : f64\n"
       "%t = arith.truncf %m : f64 to bf16\n%r = arith.extf %t : bf16 to f64",
       [&](double x) { return roundToDType(x / 3, DType::bf16); }},
      {"f64", "f64",
       "%c = arith.constant 3.0 : f64\n%m = arith.divf %x, %c : f64\n"
       "%t = arith.truncf %m : f64 to f16\n%r = arith.extf %t : f16 to f64",
       [&](double x) { return roundToDType(x / 3, DType::f16); }},
      {"f64", "f64",
       "%z = arith.constant 0.0 : f64\n%n = arith.divf %z, %z : f64\n"
       "%r = arith.maxnumf %x, %n : f64",
       [&](double x) { return x; }},
      {"f64", "f64",
       "%z = arith.constant 0.0 : f64\n%n = arith.divf %z, %z : f64\n"
       "%r = arith.maximumf %x, %n : f64",
       [&](double) { return nan; }},
      {"f64", "f64",
       "%z = arith.constant 0.0 : f64\n%n = arith.divf %z, %z : f64\n"
       "%u = arith.cmpf une, %n, %n : f64\n%o = arith.cmpf oeq, %x, %x : f64\n"
       "%a = arith.andi %u, %o : i1\n%r = arith.uitofp %a : i1 to f64",
       [&](double) { return 1.0; }},
  };
  RefTensor ints;
  ints.shape = {P};
  std::uniform_int_distribution<int> pick(-50000, 50000);
  for (int64_t p = 0; p < P; ++p) {
    int v = pick(rng);
    ints.values.push_back(v == 0 ? 1 : v);
  }
  RefTensor floats = random({P});
  for (const Case &c : cases) {
    SCOPED_TRACE(c.body);
    func::FuncOp kernel = parse(elementwise(c.in, c.out, c.body), "k");
    ASSERT_TRUE(kernel);
    const RefTensor &x = std::string(c.in) == "f64" ? floats : ints;
    std::vector<RefTensor> out = run(kernel, {RefArg::ofTensor(x)});
    ASSERT_EQ(out.size(), 1u);
    for (int64_t p = 0; p < P; ++p) {
      double want = c.want(x.values[p]), got = out[0].values[p];
      if (std::isnan(want))
        EXPECT_TRUE(std::isnan(got)) << "x = " << x.values[p];
      else
        EXPECT_EQ(got, want) << "x = " << x.values[p];
    }
  }
}

//===----------------------------------------------------------------------===//
// A causal softmax whose first rows have no key left (m <= p - 2): absent
// points propagate through the later einsums and come out as fill values.
//===----------------------------------------------------------------------===//

const char *kCausal = R"mlir(
func.func @causal(%Q: tensor<?x?xf32> {attn.name = "Q", attn.dims = ["P", "E"]},
                  %K: tensor<?x?xf32> {attn.name = "K", attn.dims = ["M", "E"]},
                  %V: tensor<?x?xf32> {attn.name = "V", attn.dims = ["M", "F"]},
                  %scale: f32 {attn.name = "scale"})
    -> (tensor<?x?xf32> {attn.name = "S", attn.dims = ["M", "P"]},
        tensor<?xf32> {attn.name = "GM", attn.dims = ["P"]},
        tensor<?x?xbf16> {attn.name = "O", attn.dims = ["P", "F"]})
    attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %P = tensor.dim %Q, %c0 : tensor<?x?xf32>
  %E = tensor.dim %Q, %c1 : tensor<?x?xf32>
  %M = tensor.dim %K, %c0 : tensor<?x?xf32>
  %F = tensor.dim %V, %c1 : tensor<?x?xf32>
  %s = attn.einsum ins(%Q, %K : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%M, %P, %E)
       {indexing_maps = [affine_map<(m, p, e) -> (p, e)>,
                         affine_map<(m, p, e) -> (m, e)>,
                         affine_map<(m, p, e) -> (m, p)>],
        kind = #attn.reduction<sum>,
        filter = [affine_set<(m, p, e) : (p - m - 2 >= 0)>]} -> tensor<?x?xf32> {
  ^bb0(%q: f32, %k: f32, %m: index, %p: index, %e: index):
    %x = arith.mulf %q, %k : f32
    %y = arith.mulf %x, %scale : f32
    attn.yield %y : f32
  }
  %gm = attn.einsum ins(%s : tensor<?x?xf32>) sizes(%P, %M)
       {indexing_maps = [affine_map<(p, m) -> (m, p)>, affine_map<(p, m) -> (p)>],
        kind = #attn.reduction<max>} -> tensor<?xf32> {
  ^bb0(%v: f32, %p: index, %m: index):
    attn.yield %v : f32
  }
  %sn = attn.einsum ins(%s, %gm : tensor<?x?xf32>, tensor<?xf32>) sizes(%M, %P)
       {indexing_maps = [affine_map<(m, p) -> (m, p)>, affine_map<(m, p) -> (p)>,
                         affine_map<(m, p) -> (m, p)>],
        kind = #attn.reduction<none>} -> tensor<?x?xf32> {
  ^bb0(%v: f32, %g: f32, %m: index, %p: index):
    %d = arith.subf %v, %g : f32
    %x = math.exp %d : f32
    attn.yield %x : f32
  }
  %sd = attn.einsum ins(%sn : tensor<?x?xf32>) sizes(%P, %M)
       {indexing_maps = [affine_map<(p, m) -> (m, p)>, affine_map<(p, m) -> (p)>],
        kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%v: f32, %p: index, %m: index):
    attn.yield %v : f32
  }
  %o = attn.einsum ins(%sn, %V, %sd : tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>)
       sizes(%P, %F, %M)
       {indexing_maps = [affine_map<(p, f, m) -> (m, p)>, affine_map<(p, f, m) -> (m, f)>,
                         affine_map<(p, f, m) -> (p)>, affine_map<(p, f, m) -> (p, f)>],
        kind = #attn.reduction<sum>} -> tensor<?x?xf32> {
  ^bb0(%a: f32, %v: f32, %d: f32, %p: index, %f: index, %m: index):
    %x = arith.mulf %a, %v : f32
    %y = arith.divf %x, %d : f32
    attn.yield %y : f32
  }
  %S = attn.fill %s, 3.25 : tensor<?x?xf32> -> tensor<?x?xf32>
  %GM = attn.fill %gm, -7.5 : tensor<?xf32> -> tensor<?xf32>
  %O = attn.fill %o, -1.0 : tensor<?x?xf32> -> tensor<?x?xbf16>
  return %S, %GM, %O : tensor<?x?xf32>, tensor<?xf32>, tensor<?x?xbf16>
}
)mlir";

TEST_F(ReferenceInterpreterTest, CausalRowsWithNothingLeftAreFilled) {
  func::FuncOp kernel = parse(kCausal, "causal");
  ASSERT_TRUE(kernel);
  RefTensor q = random({P, E}, DType::f32), k = random({M, E}, DType::f32),
            v = random({M, F}, DType::f32);
  double scale = 0.375;
  std::vector<RefTensor> out =
      run(kernel, {RefArg::ofTensor(q), RefArg::ofTensor(k),
                   RefArg::ofTensor(v), RefArg::ofScalar(scale)});
  ASSERT_EQ(out.size(), 3u);
  const RefTensor &S = out[0], &GM = out[1], &O = out[2];

  std::vector<double> s(M * P), gm(P, -INFINITY), sd(P, 0);
  for (int64_t p = 0; p < P; ++p) {
    for (int64_t m = 0; m <= p - 2 && m < M; ++m) {
      double acc = 0;
      for (int64_t e = 0; e < E; ++e)
        acc += at(q, {p, e}) * at(k, {m, e}) * scale;
      s[m * P + p] = acc;
      gm[p] = std::max(gm[p], acc);
    }
    for (int64_t m = 0; m <= p - 2 && m < M; ++m)
      sd[p] += std::exp(s[m * P + p] - gm[p]);
  }
  for (int64_t m = 0; m < M; ++m)
    for (int64_t p = 0; p < P; ++p) {
      double want = m <= p - 2 ? roundToDType(s[m * P + p], DType::f32) : 3.25;
      ASSERT_EQ(at(S, {m, p}), want) << "S " << m << "," << p;
    }
  for (int64_t p = 0; p < P; ++p) {
    // Rows 0 and 1 have no key: absent, then the fill value.
    double want = p < 2 ? -7.5 : roundToDType(gm[p], DType::f32);
    EXPECT_EQ(GM.values[p], want) << "GM " << p;
    for (int64_t f = 0; f < F; ++f) {
      double o = 0;
      for (int64_t m = 0; m <= p - 2 && m < M; ++m)
        o += std::exp(s[m * P + p] - gm[p]) * at(v, {m, f}) / sd[p];
      double got = at(O, {p, f});
      if (p < 2) {
        EXPECT_EQ(got, -1.0) << "O " << p << "," << f;
        continue;
      }
      // The output is bf16: rounded once, from the double (the loops above
      // do the interpreter's operations in its order, so this is exact).
      EXPECT_EQ(got, roundToDType(o, DType::bf16)) << "O " << p << "," << f;
    }
  }
}

TEST_F(ReferenceInterpreterTest, InconsistentSizeSymbolsAndBadArguments) {
  func::FuncOp kernel = parse(kCausal, "causal");
  ASSERT_TRUE(kernel);
  RefTensor q = random({P, E}, DType::f32), k = random({M, E}, DType::f32),
            v = random({M - 1, F}, DType::f32);
  std::string error =
      runError(kernel, {RefArg::ofTensor(q), RefArg::ofTensor(k),
                        RefArg::ofTensor(v), RefArg::ofScalar(1.0)});
  EXPECT_NE(error.find("size symbol M"), std::string::npos) << error;
  EXPECT_NE(error.find("in K"), std::string::npos) << error;
  EXPECT_NE(error.find("in V"), std::string::npos) << error;
  EXPECT_NE(error.find("41"), std::string::npos) << error;
  EXPECT_NE(error.find("40"), std::string::npos) << error;

  // E disagrees between Q and K (dimension 1 of both).
  RefTensor k2 = random({M, E + 2}, DType::f32);
  v = random({M, F}, DType::f32);
  error = runError(kernel, {RefArg::ofTensor(q), RefArg::ofTensor(k2),
                            RefArg::ofTensor(v), RefArg::ofScalar(1.0)});
  EXPECT_NE(error.find("size symbol E"), std::string::npos) << error;
  EXPECT_NE(error.find("in Q"), std::string::npos) << error;

  error = runError(
      kernel, {RefArg::ofTensor(q), RefArg::ofTensor(k), RefArg::ofTensor(v)});
  EXPECT_NE(error.find("takes 4 arguments"), std::string::npos) << error;
  EXPECT_NE(error.find("got 3"), std::string::npos) << error;

  error = runError(kernel, {RefArg::ofTensor(q), RefArg::ofScalar(2.0),
                            RefArg::ofTensor(v), RefArg::ofScalar(1.0)});
  EXPECT_NE(error.find("K"), std::string::npos) << error;
  EXPECT_NE(error.find("scalar was given"), std::string::npos) << error;

  error = runError(kernel, {RefArg::ofTensor(q), RefArg::ofTensor(k),
                            RefArg::ofTensor(v), RefArg::ofTensor(q)});
  EXPECT_NE(error.find("scale"), std::string::npos) << error;
  EXPECT_NE(error.find("tensor was given"), std::string::npos) << error;

  RefTensor flatK = random({M * E}, DType::f32);
  error = runError(kernel, {RefArg::ofTensor(q), RefArg::ofTensor(flatK),
                            RefArg::ofTensor(v), RefArg::ofScalar(1.0)});
  EXPECT_NE(error.find("K has rank 1"), std::string::npos) << error;

  RefTensor shortQ = q;
  shortQ.values.pop_back();
  error = runError(kernel, {RefArg::ofTensor(shortQ), RefArg::ofTensor(k),
                            RefArg::ofTensor(v), RefArg::ofScalar(1.0)});
  EXPECT_NE(error.find("Q has"), std::string::npos) << error;
}

//===----------------------------------------------------------------------===//
// Union filters (attention sinks or a window), a reduction over them, and a
// static dimension.
//===----------------------------------------------------------------------===//

const char *kSinks = R"mlir(
func.func @sinks(%X: tensor<?x?xf64> {attn.name = "X", attn.dims = ["M", "P"]},
                 %w: i64 {attn.name = "W"})
    -> (tensor<?x?xf64> {attn.name = "Y", attn.dims = ["M", "P"]},
        tensor<?xf64> {attn.name = "Z", attn.dims = ["P"]})
    attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %M = tensor.dim %X, %c0 : tensor<?x?xf64>
  %P = tensor.dim %X, %c1 : tensor<?x?xf64>
  %W = arith.index_cast %w : i64 to index
  %y = attn.einsum ins(%X : tensor<?x?xf64>) sizes(%M, %P) symbols(%W)
       {indexing_maps = [affine_map<(m, p)[w] -> (m, p)>, affine_map<(m, p)[w] -> (m, p)>],
        kind = #attn.reduction<none>,
        filter = [affine_set<(m, p)[w] : (-m + 3 >= 0)>,
                  affine_set<(m, p)[w] : (p - m >= 0, w - 1 - p + m >= 0)>]}
       -> tensor<?x?xf64> {
  ^bb0(%x: f64, %m: index, %p: index):
    %two = arith.constant 2.0 : f64
    %r = arith.mulf %x, %two : f64
    attn.yield %r : f64
  }
  %z = attn.einsum ins(%X : tensor<?x?xf64>) sizes(%P, %M) symbols(%W)
       {indexing_maps = [affine_map<(p, m)[w] -> (m, p)>, affine_map<(p, m)[w] -> (p)>],
        kind = #attn.reduction<sum>,
        filter = [affine_set<(p, m)[w] : (-m + 3 >= 0)>,
                  affine_set<(p, m)[w] : (p - m >= 0, w - 1 - p + m >= 0)>]}
       -> tensor<?xf64> {
  ^bb0(%x: f64, %p: index, %m: index):
    attn.yield %x : f64
  }
  %Y = attn.fill %y, -1.0 : tensor<?x?xf64> -> tensor<?x?xf64>
  %Z = attn.fill %z, 0.0 : tensor<?xf64> -> tensor<?xf64>
  return %Y, %Z : tensor<?x?xf64>, tensor<?xf64>
}
)mlir";

TEST_F(ReferenceInterpreterTest, UnionFilters) {
  func::FuncOp kernel = parse(kSinks, "sinks");
  ASSERT_TRUE(kernel);
  RefTensor x = random({M, P});
  const int64_t W = 5;
  std::vector<RefTensor> out =
      run(kernel, {RefArg::ofTensor(x), RefArg::ofScalar(W)});
  ASSERT_EQ(out.size(), 2u);
  auto member = [&](int64_t m, int64_t p) {
    return m <= 3 || (p - m >= 0 && p - m < W);
  };
  int64_t inside = 0;
  for (int64_t p = 0; p < P; ++p) {
    double z = 0;
    for (int64_t m = 0; m < M; ++m) {
      double want = member(m, p) ? 2 * at(x, {m, p}) : -1.0;
      ASSERT_EQ(at(out[0], {m, p}), want) << m << "," << p;
      if (member(m, p)) {
        z += at(x, {m, p});
        ++inside;
      }
    }
    EXPECT_EQ(out[1].values[p], z) << p;
  }
  EXPECT_GT(inside, 0);
  EXPECT_LT(inside, M * P);
}

//===----------------------------------------------------------------------===//
// Quasi-affine maps and filters: floordiv, ceildiv and mod by a symbol, of
// negative numbers (floor semantics), and a static dimension.
//===----------------------------------------------------------------------===//

const char *kQuasiAffine = R"mlir(
func.func @quasi(%X: tensor<?x3xf64> {attn.name = "X", attn.dims = ["R", "3"]},
                 %np: i64 {attn.name = "P"}, %nm: i64 {attn.name = "M"},
                 %g: i64 {attn.name = "G"})
    -> (tensor<?x?xf64> {attn.name = "O1", attn.dims = ["M", "P"]},
        tensor<?x?xf64> {attn.name = "O2", attn.dims = ["M", "P"]})
    attributes {attn.kernel} {
  %P = arith.index_cast %np : i64 to index
  %M = arith.index_cast %nm : i64 to index
  %G = arith.index_cast %g : i64 to index
  %o1 = attn.einsum ins(%X : tensor<?x3xf64>) sizes(%M, %P) symbols(%G)
       {indexing_maps = [affine_map<(m, p)[g] -> ((p - m) floordiv g + 20, (p - m) mod g)>,
                         affine_map<(m, p)[g] -> (m, p)>],
        kind = #attn.reduction<none>,
        filter = [affine_set<(m, p)[g] : ((p + m) mod 2 == 0)>]} -> tensor<?x?xf64> {
  ^bb0(%x: f64, %m: index, %p: index):
    attn.yield %x : f64
  }
  %o2 = attn.einsum ins(%X : tensor<?x3xf64>) sizes(%M, %P) symbols(%G)
       {indexing_maps = [affine_map<(m, p)[g] -> ((p - m) ceildiv g + 20, (m - p) mod 3)>,
                         affine_map<(m, p)[g] -> (m, p)>],
        kind = #attn.reduction<none>} -> tensor<?x?xf64> {
  ^bb0(%x: f64, %m: index, %p: index):
    // An index computed in the body: floordivsi and floor modulo of p - m.
    %d = arith.subi %p, %m : index
    %q = arith.floordivsi %d, %G : index
    %t = arith.muli %q, %G : index
    %r = arith.subi %d, %t : index
    %qi = arith.index_cast %q : index to i64
    %ri = arith.index_cast %r : index to i64
    %qf = arith.sitofp %qi : i64 to f64
    %rf = arith.sitofp %ri : i64 to f64
    %c100 = arith.constant 100.0 : f64
    %a = arith.mulf %qf, %c100 : f64
    %b = arith.addf %a, %rf : f64
    %c1000 = arith.constant 1000.0 : f64
    %c = arith.mulf %x, %c1000 : f64
    %s = arith.addf %b, %c : f64
    attn.yield %s : f64
  }
  %O1 = attn.fill %o1, 0.5 : tensor<?x?xf64> -> tensor<?x?xf64>
  %O2 = attn.fill %o2, 0.5 : tensor<?x?xf64> -> tensor<?x?xf64>
  return %O1, %O2 : tensor<?x?xf64>, tensor<?x?xf64>
}
)mlir";

int64_t floorDivRef(int64_t a, int64_t b) {
  return static_cast<int64_t>(std::floor(static_cast<double>(a) / b));
}
int64_t ceilDivRef(int64_t a, int64_t b) {
  return static_cast<int64_t>(std::ceil(static_cast<double>(a) / b));
}
int64_t floorModRef(int64_t a, int64_t b) { return a - floorDivRef(a, b) * b; }

TEST_F(ReferenceInterpreterTest, QuasiAffineMapsUseFloorSemantics) {
  func::FuncOp kernel = parse(kQuasiAffine, "quasi");
  ASSERT_TRUE(kernel);
  RefTensor x = random({M, 3});
  const int64_t G = 3;
  std::vector<RefTensor> out =
      run(kernel, {RefArg::ofTensor(x), RefArg::ofScalar(P),
                   RefArg::ofScalar(M), RefArg::ofScalar(G)});
  ASSERT_EQ(out.size(), 2u);
  ASSERT_EQ(out[0].shape, (std::vector<int64_t>{M, P}));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t p = 0; p < P; ++p) {
      int64_t d = p - m;
      double o1 = (p + m) % 2 == 0
                      ? at(x, {floorDivRef(d, G) + 20, floorModRef(d, G)})
                      : 0.5;
      ASSERT_EQ(at(out[0], {m, p}), o1) << m << "," << p;
      double o2 = 100.0 * floorDivRef(d, G) + floorModRef(d, G) +
                  1000.0 * at(x, {ceilDivRef(d, G) + 20, floorModRef(-d, 3)});
      ASSERT_EQ(at(out[1], {m, p}), o2) << m << "," << p;
    }

  // The static dimension 3 of X is checked.
  std::string error =
      runError(kernel, {RefArg::ofTensor(random({M, 4})), RefArg::ofScalar(P),
                        RefArg::ofScalar(M), RefArg::ofScalar(G)});
  EXPECT_NE(error.find("X has extent 4 in dimension 1"), std::string::npos)
      << error;
}

//===----------------------------------------------------------------------===//
// A guard that reads a block layout through attn.read.
//===----------------------------------------------------------------------===//

const char *kBlockSparse = R"mlir(
func.func @blocksparse(%Q: tensor<?x?xf64> {attn.name = "Q", attn.dims = ["P", "E"]},
                       %K: tensor<?x?xf64> {attn.name = "K", attn.dims = ["M", "E"]},
                       %L: tensor<?x?xi32> {attn.name = "Layout", attn.dims = ["PB", "MB"]})
    -> (tensor<?x?xf64> {attn.name = "S", attn.dims = ["P", "M"]},
        tensor<?xf64> {attn.name = "R", attn.dims = ["P"]})
    attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %P = tensor.dim %Q, %c0 : tensor<?x?xf64>
  %E = tensor.dim %Q, %c1 : tensor<?x?xf64>
  %M = tensor.dim %K, %c0 : tensor<?x?xf64>
  %s = attn.einsum ins(%Q, %K : tensor<?x?xf64>, tensor<?x?xf64>)
       tables(%L : tensor<?x?xi32>) sizes(%P, %M, %E)
       {indexing_maps = [affine_map<(p, m, e) -> (p, e)>,
                         affine_map<(p, m, e) -> (m, e)>,
                         affine_map<(p, m, e) -> (p, m)>],
        kind = #attn.reduction<sum>} -> tensor<?x?xf64> {
  ^bb0(%q: f64, %k: f64, %p: index, %m: index, %e: index):
    %x = arith.mulf %q, %k : f64
    attn.yield %x : f64
  } guard {
  ^bb0(%p: index, %m: index, %e: index):
    %pb = arith.floordivsi %p, %c4 : index
    %mb = arith.floordivsi %m, %c4 : index
    %l = attn.read %L[%pb, %mb] : tensor<?x?xi32> -> i32
    %z = arith.constant 0 : i32
    %ne = arith.cmpi ne, %l, %z : i32
    attn.yield %ne : i1
  }
  %r = attn.einsum ins(%s : tensor<?x?xf64>) sizes(%P, %M)
       {indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>],
        kind = #attn.reduction<max>} -> tensor<?xf64> {
  ^bb0(%v: f64, %p: index, %m: index):
    attn.yield %v : f64
  }
  %S = attn.fill %s, 2.5 : tensor<?x?xf64> -> tensor<?x?xf64>
  %R = attn.fill %r, -3.0 : tensor<?xf64> -> tensor<?xf64>
  return %S, %R : tensor<?x?xf64>, tensor<?xf64>
}
)mlir";

TEST_F(ReferenceInterpreterTest, GuardReadsALayoutTable) {
  func::FuncOp kernel = parse(kBlockSparse, "blocksparse");
  ASSERT_TRUE(kernel);
  RefTensor q = random({P, E}), k = random({M, E});
  const int64_t PB = (P + 3) / 4, MB = (M + 3) / 4;
  RefTensor layout;
  layout.shape = {PB, MB};
  std::bernoulli_distribution on(0.5);
  for (int64_t i = 0; i < PB * MB; ++i)
    layout.values.push_back(i < MB ? 0 : (on(rng) ? 7 : 0)); // block row 0 off
  std::vector<RefTensor> out =
      run(kernel,
          {RefArg::ofTensor(q), RefArg::ofTensor(k), RefArg::ofTensor(layout)});
  ASSERT_EQ(out.size(), 2u);
  for (int64_t p = 0; p < P; ++p) {
    double r = -INFINITY;
    bool any = false;
    for (int64_t m = 0; m < M; ++m) {
      bool exists = at(layout, {p / 4, m / 4}) != 0;
      double s = 0;
      for (int64_t e = 0; e < E; ++e)
        s += at(q, {p, e}) * at(k, {m, e});
      ASSERT_EQ(at(out[0], {p, m}), exists ? s : 2.5) << p << "," << m;
      if (exists) {
        r = std::max(r, s);
        any = true;
      }
    }
    EXPECT_EQ(out[1].values[p], any ? r : -3.0) << p;
    if (p < 4)
      EXPECT_EQ(out[1].values[p], -3.0);
  }
}

//===----------------------------------------------------------------------===//
// A paged cache: an integer page table read through a quasi-affine map, the
// cache read through attn.read at the computed page, and a length table in
// the guard. Page entries past the length are garbage and must not be read.
//===----------------------------------------------------------------------===//

const char *kPaged = R"mlir(
func.func @paged(%Q: tensor<?x?x?xf64> {attn.name = "Q", attn.dims = ["B", "P", "E"]},
                 %Page: tensor<?x?xi32> {attn.name = "Page", attn.dims = ["B", "NP"]},
                 %Kc: tensor<?x?x?xf64> {attn.name = "Kc", attn.dims = ["NPAGES", "PS", "E"]},
                 %Len: tensor<?xi64> {attn.name = "Len", attn.dims = ["B"]},
                 %ps: i64 {attn.name = "PS"})
    -> (tensor<?x?x?xf64> {attn.name = "S", attn.dims = ["B", "M", "P"]})
    attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %B = tensor.dim %Q, %c0 : tensor<?x?x?xf64>
  %P = tensor.dim %Q, %c1 : tensor<?x?x?xf64>
  %E = tensor.dim %Q, %c2 : tensor<?x?x?xf64>
  %NP = tensor.dim %Page, %c1 : tensor<?x?xi32>
  %PS = arith.index_cast %ps : i64 to index
  %M = arith.muli %NP, %PS : index
  %s = attn.einsum ins(%Q, %Page : tensor<?x?x?xf64>, tensor<?x?xi32>)
       tables(%Kc, %Len : tensor<?x?x?xf64>, tensor<?xi64>)
       sizes(%B, %M, %P, %E) symbols(%PS)
       {indexing_maps = [affine_map<(b, m, p, e)[ps] -> (b, p, e)>,
                         affine_map<(b, m, p, e)[ps] -> (b, m floordiv ps)>,
                         affine_map<(b, m, p, e)[ps] -> (b, m, p)>],
        kind = #attn.reduction<sum>} -> tensor<?x?x?xf64> {
  ^bb0(%q: f64, %pg: i32, %b: index, %m: index, %p: index, %e: index):
    %i = arith.index_cast %pg : i32 to index
    %qq = arith.floordivsi %m, %PS : index
    %t = arith.muli %qq, %PS : index
    %off = arith.subi %m, %t : index
    %k = attn.read %Kc[%i, %off, %e] : tensor<?x?x?xf64> -> f64
    %x = arith.mulf %q, %k : f64
    attn.yield %x : f64
  } guard {
  ^bb0(%b: index, %m: index, %p: index, %e: index):
    %l = attn.read %Len[%b] : tensor<?xi64> -> i64
    %li = arith.index_cast %l : i64 to index
    %c = arith.cmpi slt, %m, %li : index
    attn.yield %c : i1
  }
  %S = attn.fill %s, -2.0 : tensor<?x?x?xf64> -> tensor<?x?x?xf64>
  return %S : tensor<?x?x?xf64>
}
)mlir";

class PagedCache {
public:
  static constexpr int64_t PS = 4, NP = 11, NPAGES = 30, Mp = PS * NP;
  RefTensor q, page, kc, len;

  PagedCache(std::mt19937_64 &rng,
             const std::function<RefTensor(std::vector<int64_t>)> &random) {
    q = random({B, P, E});
    kc = random({NPAGES, PS, E});
    len.shape = {B};
    len.values = {41, 13};
    page.shape = {B, NP};
    std::uniform_int_distribution<int> pick(0, NPAGES - 1);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < NP; ++j) {
        bool used = j * PS < len.values[b];
        // Pages past the length hold garbage: far out of range.
        page.values.push_back(used ? pick(rng) : 1000000 + j);
      }
  }
  std::vector<RefArg> args() const {
    return {RefArg::ofTensor(q), RefArg::ofTensor(page), RefArg::ofTensor(kc),
            RefArg::ofTensor(len), RefArg::ofScalar(PS)};
  }
};

TEST_F(ReferenceInterpreterTest, IndirectGatherThroughAPageTable) {
  func::FuncOp kernel = parse(kPaged, "paged");
  ASSERT_TRUE(kernel);
  PagedCache cache(rng, [&](std::vector<int64_t> s) { return random(s); });
  std::vector<RefTensor> out = run(kernel, cache.args());
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].shape, (std::vector<int64_t>{B, PagedCache::Mp, P}));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t m = 0; m < PagedCache::Mp; ++m)
      for (int64_t p = 0; p < P; ++p) {
        double want = -2.0;
        if (m < cache.len.values[b]) {
          int64_t pg =
              static_cast<int64_t>(at(cache.page, {b, m / PagedCache::PS}));
          want = 0;
          for (int64_t e = 0; e < E; ++e)
            want += at(cache.q, {b, p, e}) *
                    at(cache.kc, {pg, m % PagedCache::PS, e});
        }
        ASSERT_EQ(at(out[0], {b, m, p}), want) << b << "," << m << "," << p;
      }
}

TEST_F(ReferenceInterpreterTest, OutOfRangeReadsAreNamedErrors) {
  func::FuncOp kernel = parse(kPaged, "paged");
  ASSERT_TRUE(kernel);
  PagedCache cache(rng, [&](std::vector<int64_t> s) { return random(s); });
  // A page inside the length points one past the cache.
  at(cache.page, {1, 2}) = PagedCache::NPAGES;
  std::string error = runError(kernel, cache.args());
  EXPECT_NE(error.find("out-of-range read of Kc"), std::string::npos) << error;
  EXPECT_NE(error.find("[30, "), std::string::npos) << error;
  EXPECT_NE(error.find("extent 30"), std::string::npos) << error;
  EXPECT_NE(error.find("attn.read"), std::string::npos) << error;
  // A negative page too.
  at(cache.page, {1, 2}) = -1;
  error = runError(kernel, cache.args());
  EXPECT_NE(error.find("Kc at index [-1, "), std::string::npos) << error;
}

//===----------------------------------------------------------------------===//
// Reads through a map past the end; the same read under a filter that
// excludes it; nothing evaluated at excluded points.
//===----------------------------------------------------------------------===//

const char *kShift = R"mlir(
func.func @shift(%X: tensor<?xf64> {attn.name = "X", attn.dims = ["P"]})
    -> (tensor<?xf64> {attn.name = "Y", attn.dims = ["P"]}) attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %P = tensor.dim %X, %c0 : tensor<?xf64>
  %y = attn.einsum ins(%X : tensor<?xf64>) sizes(%P)
       {indexing_maps = [affine_map<(p) -> (p + 1)>, affine_map<(p) -> (p)>],
        kind = #attn.reduction<none>} -> tensor<?xf64> {
  ^bb0(%x: f64, %p: index):
    attn.yield %x : f64
  }
  %Y = attn.fill %y, 0.0 : tensor<?xf64> -> tensor<?xf64>
  return %Y : tensor<?xf64>
}

func.func @shift_filtered(%X: tensor<?xf64> {attn.name = "X", attn.dims = ["P"]},
                          %T: tensor<?xf64> {attn.name = "T", attn.dims = ["P"]})
    -> (tensor<?xf64> {attn.name = "Y", attn.dims = ["P"]}) attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %P = tensor.dim %X, %c0 : tensor<?xf64>
  // Point p = 0 is filtered out: the guard, the map read X[p - 1], the table
  // read T[p - 1] and the division by p would all fail there.
  %y = attn.einsum ins(%X : tensor<?xf64>) tables(%T : tensor<?xf64>) sizes(%P)
       {indexing_maps = [affine_map<(p) -> (p - 1)>, affine_map<(p) -> (p)>],
        kind = #attn.reduction<none>,
        filter = [affine_set<(p) : (p - 1 >= 0)>]} -> tensor<?xf64> {
  ^bb0(%x: f64, %p: index):
    %c7 = arith.constant 7 : index
    %d = arith.divsi %c7, %p : index
    %di = arith.index_cast %d : index to i64
    %df = arith.sitofp %di : i64 to f64
    %c1 = arith.constant 1 : index
    %pm = arith.subi %p, %c1 : index
    %t = attn.read %T[%pm] : tensor<?xf64> -> f64
    %a = arith.addf %x, %df : f64
    %r = arith.addf %a, %t : f64
    attn.yield %r : f64
  } guard {
  ^bb0(%p: index):
    %c1 = arith.constant 1 : index
    %pm = arith.subi %p, %c1 : index
    %t = attn.read %T[%pm] : tensor<?xf64> -> f64
    %z = arith.constant 0.0 : f64
    %ok = arith.cmpf une, %t, %z : f64
    attn.yield %ok : i1
  }
  %Y = attn.fill %y, 9.0 : tensor<?xf64> -> tensor<?xf64>
  return %Y : tensor<?xf64>
}

func.func @shift_unfiltered(%X: tensor<?xf64> {attn.name = "X", attn.dims = ["P"]},
                            %T: tensor<?xf64> {attn.name = "T", attn.dims = ["P"]})
    -> (tensor<?xf64> {attn.name = "Y", attn.dims = ["P"]}) attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %P = tensor.dim %X, %c0 : tensor<?xf64>
  %y = attn.einsum ins(%X : tensor<?xf64>) tables(%T : tensor<?xf64>) sizes(%P)
       {indexing_maps = [affine_map<(p) -> (p)>, affine_map<(p) -> (p)>],
        kind = #attn.reduction<none>} -> tensor<?xf64> {
  ^bb0(%x: f64, %p: index):
    attn.yield %x : f64
  } guard {
  ^bb0(%p: index):
    %c1 = arith.constant 1 : index
    %pm = arith.subi %p, %c1 : index
    %t = attn.read %T[%pm] : tensor<?xf64> -> f64
    %z = arith.constant 0.0 : f64
    %ok = arith.cmpf une, %t, %z : f64
    attn.yield %ok : i1
  }
  %Y = attn.fill %y, 9.0 : tensor<?xf64> -> tensor<?xf64>
  return %Y : tensor<?xf64>
}
)mlir";

TEST_F(ReferenceInterpreterTest, OutOfRangeThroughAMap) {
  func::FuncOp kernel = parse(kShift, "shift");
  ASSERT_TRUE(kernel);
  std::string error = runError(kernel, {RefArg::ofTensor(random({P}))});
  EXPECT_NE(error.find("out-of-range read of X at index [37]"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("extent 37"), std::string::npos) << error;
  EXPECT_NE(error.find("d0=36"), std::string::npos) << error;
}

TEST_F(ReferenceInterpreterTest, NothingIsEvaluatedOutsideTheFilter) {
  func::FuncOp kernel = parse(kShift, "shift_filtered");
  ASSERT_TRUE(kernel);
  RefTensor x = random({P}), t = random({P});
  std::vector<RefTensor> out =
      run(kernel, {RefArg::ofTensor(x), RefArg::ofTensor(t)});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].values[0], 9.0);
  for (int64_t p = 1; p < P; ++p)
    EXPECT_EQ(out[0].values[p], x.values[p - 1] + 7 / p + t.values[p - 1]) << p;

  // Without the filter, the guard's read at p = 0 is an error, named.
  func::FuncOp unfiltered = parse(kShift, "shift_unfiltered");
  ASSERT_TRUE(unfiltered);
  std::string error =
      runError(unfiltered, {RefArg::ofTensor(x), RefArg::ofTensor(t)});
  EXPECT_NE(error.find("out-of-range read of T at index [-1]"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("guard"), std::string::npos) << error;
}

//===----------------------------------------------------------------------===//
// Absent elements of an input (a tensor with presence flags, or an earlier
// result) make a point vanish before anything is read through them.
//===----------------------------------------------------------------------===//

const char *kGatherAbsent = R"mlir(
func.func @gather(%I: tensor<?xi32> {attn.name = "I", attn.dims = ["P"]},
                  %T: tensor<?xf64> {attn.name = "T", attn.dims = ["N"]})
    -> (tensor<?xf64> {attn.name = "Y", attn.dims = ["P"]},
        tensor<f64> {attn.name = "Z", attn.dims = []}) attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %P = tensor.dim %I, %c0 : tensor<?xi32>
  // The index, doubled, exists only at even p.
  %j = attn.einsum ins(%I : tensor<?xi32>) sizes(%P)
       {indexing_maps = [affine_map<(p) -> (p)>, affine_map<(p) -> (p)>],
        kind = #attn.reduction<none>,
        filter = [affine_set<(p) : (p mod 2 == 0)>]} -> tensor<?xi64> {
  ^bb0(%i: i32, %p: index):
    %w = arith.extsi %i : i32 to i64
    %two = arith.constant 2 : i64
    %d = arith.muli %w, %two : i64
    attn.yield %d : i64
  }
  %y = attn.einsum ins(%j : tensor<?xi64>) tables(%T : tensor<?xf64>) sizes(%P)
       {indexing_maps = [affine_map<(p) -> (p)>, affine_map<(p) -> (p)>],
        kind = #attn.reduction<none>} -> tensor<?xf64> {
  ^bb0(%k: i64, %p: index):
    %ki = arith.index_cast %k : i64 to index
    %v = attn.read %T[%ki] : tensor<?xf64> -> f64
    attn.yield %v : f64
  }
  // A zero-dimensional result: the product of what exists.
  %z = attn.einsum ins(%y : tensor<?xf64>) sizes(%P)
       {indexing_maps = [affine_map<(p) -> (p)>, affine_map<(p) -> ()>],
        kind = #attn.reduction<prod>} -> tensor<f64> {
  ^bb0(%v: f64, %p: index):
    attn.yield %v : f64
  }
  %Y = attn.fill %y, 4.0 : tensor<?xf64> -> tensor<?xf64>
  %Z = attn.fill %z, 0.0 : tensor<f64> -> tensor<f64>
  return %Y, %Z : tensor<?xf64>, tensor<f64>
}
)mlir";

TEST_F(ReferenceInterpreterTest, AbsentIndicesAreNeverUsed) {
  func::FuncOp kernel = parse(kGatherAbsent, "gather");
  ASSERT_TRUE(kernel);
  const int64_t N = 2 * P + 1;
  RefTensor idx, t = random({N});
  idx.shape = {P};
  std::uniform_int_distribution<int> pick(0, P - 1);
  for (int64_t p = 0; p < P; ++p)
    idx.values.push_back(p % 2 == 0 ? pick(rng) : -123456); // garbage at odd p
  // An input with its own presence flags: absent at p = 4 (index garbage).
  idx.present.assign(P, 1);
  idx.present[4] = 0;
  idx.values[4] = 1e9;
  std::vector<RefTensor> out =
      run(kernel, {RefArg::ofTensor(idx), RefArg::ofTensor(t)});
  ASSERT_EQ(out.size(), 2u);
  double prod = 1;
  for (int64_t p = 0; p < P; ++p) {
    bool exists = p % 2 == 0 && p != 4;
    double want =
        exists ? t.values[2 * static_cast<int64_t>(idx.values[p])] : 4.0;
    EXPECT_EQ(out[0].values[p], want) << p;
    if (exists)
      prod *= want;
  }
  ASSERT_EQ(out[1].shape, std::vector<int64_t>{});
  ASSERT_EQ(out[1].values.size(), 1u);
  expectClose(out[1].values[0], prod, 1e-14, "Z");
}

//===----------------------------------------------------------------------===//
// Unsupported ops are named.
//===----------------------------------------------------------------------===//

TEST_F(ReferenceInterpreterTest, UnsupportedOpsAreNamed) {
  const char *source = R"mlir(
func.func @atan(%X: tensor<?xf64> {attn.name = "X", attn.dims = ["P"]})
    -> (tensor<?xf64> {attn.name = "Y", attn.dims = ["P"]}) attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %P = tensor.dim %X, %c0 : tensor<?xf64>
  %y = attn.einsum ins(%X : tensor<?xf64>) sizes(%P)
       {indexing_maps = [affine_map<(p) -> (p)>, affine_map<(p) -> (p)>],
        kind = #attn.reduction<none>} -> tensor<?xf64> {
  ^bb0(%x: f64, %p: index):
    %a = math.atan %x : f64
    attn.yield %a : f64
  }
  %Y = attn.fill %y, 0.0 : tensor<?xf64> -> tensor<?xf64>
  return %Y : tensor<?xf64>
}

func.func @empty(%X: tensor<?xf64> {attn.name = "X", attn.dims = ["P"]})
    -> (tensor<?xf64> {attn.name = "Y", attn.dims = ["P"]}) attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %P = tensor.dim %X, %c0 : tensor<?xf64>
  %e = tensor.empty(%P) : tensor<?xf64>
  return %e : tensor<?xf64>
}
)mlir";
  func::FuncOp atan = parse(source, "atan");
  ASSERT_TRUE(atan);
  std::string error = runError(atan, {RefArg::ofTensor(random({P}))});
  EXPECT_NE(error.find("unsupported op 'math.atan'"), std::string::npos)
      << error;
  func::FuncOp empty = module->lookupSymbol<func::FuncOp>("empty");
  ASSERT_TRUE(empty);
  error = runError(empty, {RefArg::ofTensor(random({P}))});
  EXPECT_NE(error.find("unsupported op 'tensor.empty'"), std::string::npos)
      << error;
}

} // namespace
