// The examples/ zoo checked end to end: each .attn file is compiled by the
// frontend, run by the float64 reference interpreter, and compared with an
// independent plain-loop implementation of the variant written below (it
// shares no code with the frontend or the interpreter). A last test compiles
// and runs every examples/*.attn file on small random inputs.
#include "test/unit/ExampleKernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using attn::rt::DType;
using attn::rt::roundToDType;
using attn_test::allExamples;
using attn_test::argName;
using attn_test::Compiled;
using attn_test::compileFile;
using attn_test::elementDType;
using attn_test::examplePath;
using attn_test::Sizes;

namespace {

//===----------------------------------------------------------------------===//
// Host tensors of the test (row-major doubles), independent of RefTensor.
//===----------------------------------------------------------------------===//

struct Buf {
  std::vector<int64_t> shape;
  std::vector<double> v;

  Buf() = default;
  explicit Buf(std::vector<int64_t> s) : shape(std::move(s)) {
    v.assign(numElements(), 0.0);
  }
  size_t numElements() const {
    size_t n = 1;
    for (int64_t d : shape)
      n *= static_cast<size_t>(d);
    return n;
  }
  size_t offset(std::initializer_list<int64_t> idx) const {
    if (idx.size() != shape.size()) {
      ADD_FAILURE() << "reference indexes a rank-" << shape.size()
                    << " tensor with " << idx.size() << " indices";
      return 0;
    }
    size_t off = 0, k = 0;
    for (int64_t i : idx) {
      if (i < 0 || i >= shape[k]) {
        ADD_FAILURE() << "reference reads out of range: index " << i
                      << " of dimension " << k << " (size " << shape[k] << ")";
        return 0;
      }
      off = off * shape[k] + i;
      ++k;
    }
    return off;
  }
  template <typename... I> double operator()(I... i) const {
    return v[offset({static_cast<int64_t>(i)...})];
  }
  template <typename... I> double &at(I... i) {
    return v[offset({static_cast<int64_t>(i)...})];
  }
};

/// One kernel input as the test builds it: a tensor or a scalar, with the
/// dtype the example declares (values already rounded to it).
struct Input {
  std::string name;
  DType dtype;
  bool scalar = false;
  double scalarValue = 0;
  Buf data;
};

Input tensorInput(std::string name, DType dt, Buf data) {
  Input in;
  in.name = std::move(name);
  in.dtype = dt;
  in.data = std::move(data);
  return in;
}

Input scalarInput(std::string name, DType dt, double value) {
  Input in;
  in.name = std::move(name);
  in.dtype = dt;
  in.scalar = true;
  in.scalarValue = roundToDType(value, dt);
  return in;
}

/// Uniform random values in [lo, hi), rounded to `dt`.
Buf randomBuf(std::mt19937_64 &rng, std::vector<int64_t> shape, DType dt,
              double lo = -1.0, double hi = 1.0) {
  Buf b(std::move(shape));
  std::uniform_real_distribution<double> dist(lo, hi);
  for (double &x : b.v)
    x = roundToDType(dist(rng), dt);
  return b;
}

Buf intBuf(std::vector<int64_t> shape, std::vector<int64_t> values) {
  Buf b(std::move(shape));
  EXPECT_EQ(values.size(), b.numElements()) << "integer table literal";
  for (size_t i = 0; i < b.v.size() && i < values.size(); ++i)
    b.v[i] = static_cast<double>(values[i]);
  return b;
}

double dot(const Buf &a, std::initializer_list<int64_t> ia, const Buf &b,
           std::initializer_list<int64_t> ib, int64_t n) {
  // a and b are indexed by the given prefix followed by the contracted axis.
  size_t oa = 0, ob = 0;
  {
    std::vector<int64_t> idx(ia);
    idx.push_back(0);
    size_t k = 0;
    for (int64_t i : idx)
      oa = oa * a.shape[k++] + i;
  }
  {
    std::vector<int64_t> idx(ib);
    idx.push_back(0);
    size_t k = 0;
    for (int64_t i : idx)
      ob = ob * b.shape[k++] + i;
  }
  double s = 0;
  for (int64_t e = 0; e < n; ++e)
    s += a.v[oa + e] * b.v[ob + e];
  return s;
}

//===----------------------------------------------------------------------===//
// Independent references.
//===----------------------------------------------------------------------===//

using ScoreFn =
    std::function<double(int64_t b, int64_t h, int64_t p, int64_t m)>;
using MaskFn = std::function<bool(int64_t b, int64_t h, int64_t p, int64_t m)>;
using ValueFn =
    std::function<double(int64_t b, int64_t h, int64_t m, int64_t f)>;

/// Softmax attention with explicit masking, two passes in double:
///   O[b,h,p,f] = sum_{m allowed} exp(s - max) V / sum_{m allowed} exp(s - max)
/// A row with no allowed key is 0 (the output fill). The score is evaluated
/// only at allowed points.
Buf softmaxAttention(int64_t B, int64_t H, int64_t P, int64_t M, int64_t F,
                     const ScoreFn &score, const MaskFn &allowed,
                     const ValueFn &value) {
  Buf out({B, H, P, F});
  std::vector<double> s(M);
  std::vector<char> ok(M);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t p = 0; p < P; ++p) {
        double mx = -std::numeric_limits<double>::infinity();
        bool any = false;
        for (int64_t m = 0; m < M; ++m) {
          ok[m] = allowed(b, h, p, m);
          if (!ok[m])
            continue;
          s[m] = score(b, h, p, m);
          mx = std::max(mx, s[m]);
          any = true;
        }
        if (!any)
          continue;
        double denom = 0;
        for (int64_t m = 0; m < M; ++m)
          if (ok[m])
            denom += std::exp(s[m] - mx);
        for (int64_t f = 0; f < F; ++f) {
          double acc = 0;
          for (int64_t m = 0; m < M; ++m)
            if (ok[m])
              acc += std::exp(s[m] - mx) * value(b, h, m, f);
          out.at(b, h, p, f) = acc / denom;
        }
      }
  return out;
}

bool always(int64_t, int64_t, int64_t, int64_t) { return true; }
bool causalMask(int64_t, int64_t, int64_t p, int64_t m) { return m <= p; }

/// Plain scaled dot product Q[b,h,p,:] . K[b,kh,m,:] / sqrt(E).
double scaledDot(const Buf &Q, const Buf &K, int64_t b, int64_t h, int64_t kh,
                 int64_t p, int64_t m) {
  int64_t E = Q.shape.back();
  double s = 0;
  for (int64_t e = 0; e < E; ++e)
    s += Q(b, h, p, e) * K(b, kh, m, e);
  return s / std::sqrt(static_cast<double>(E));
}

//===----------------------------------------------------------------------===//
// Compiling and interpreting an example.
//===----------------------------------------------------------------------===//

mlir::func::FuncOp onlyKernel(mlir::ModuleOp module) {
  mlir::func::FuncOp found;
  int n = 0;
  for (auto f : module.getOps<mlir::func::FuncOp>()) {
    found = f;
    ++n;
  }
  return n == 1 ? found : mlir::func::FuncOp();
}

/// Compiles examples/`file` with `opts` and interprets its one kernel on
/// `inputs` (which must match the declared inputs by name, order and dtype).
/// `outputDTypes` are the declared output dtypes the test expects.
::testing::AssertionResult
runExample(const std::string &file, const mlir::attn::FrontendOptions &opts,
           const std::vector<Input> &inputs,
           const std::vector<DType> &outputDTypes,
           std::vector<mlir::attn::RefTensor> &results) {
  std::unique_ptr<Compiled> c = compileFile(examplePath(file), opts);
  if (!c->module)
    return ::testing::AssertionFailure() << file << " does not compile:\n"
                                         << c->diagnostics;
  mlir::func::FuncOp kernel = onlyKernel(*c->module);
  if (!kernel)
    return ::testing::AssertionFailure()
           << file << ": expected exactly one kernel";
  if (kernel.getNumArguments() != inputs.size())
    return ::testing::AssertionFailure()
           << file << ": kernel has " << kernel.getNumArguments()
           << " arguments, the test gives " << inputs.size();
  std::vector<mlir::attn::RefArg> args;
  for (unsigned i = 0; i < inputs.size(); ++i) {
    const Input &in = inputs[i];
    std::string name = argName(kernel, i);
    if (name != in.name)
      return ::testing::AssertionFailure()
             << file << ": argument " << i << " is named " << name
             << ", the test expects " << in.name;
    auto dt = elementDType(kernel.getArgumentTypes()[i]);
    if (!dt || *dt != in.dtype)
      return ::testing::AssertionFailure()
             << file << ": argument " << name << " has the wrong element type";
    bool isTensor =
        llvm::isa<mlir::RankedTensorType>(kernel.getArgumentTypes()[i]);
    if (isTensor == in.scalar)
      return ::testing::AssertionFailure()
             << file << ": argument " << name << " tensor/scalar mismatch";
    if (in.scalar) {
      args.push_back(mlir::attn::RefArg::ofScalar(in.scalarValue));
    } else {
      mlir::attn::RefTensor t;
      t.shape = in.data.shape;
      t.values = in.data.v;
      args.push_back(mlir::attn::RefArg::ofTensor(std::move(t)));
    }
  }
  if (kernel.getNumResults() != outputDTypes.size())
    return ::testing::AssertionFailure()
           << file << ": kernel has " << kernel.getNumResults()
           << " results, the test expects " << outputDTypes.size();
  for (unsigned i = 0; i < outputDTypes.size(); ++i) {
    auto dt = elementDType(kernel.getResultTypes()[i]);
    if (!dt || *dt != outputDTypes[i])
      return ::testing::AssertionFailure()
             << file << ": result " << i << " has the wrong element type";
  }
  std::string error;
  results.clear();
  if (mlir::failed(mlir::attn::interpretKernel(kernel, args, results, error)))
    return ::testing::AssertionFailure()
           << file << ": the interpreter failed: " << error;
  if (results.size() != outputDTypes.size())
    return ::testing::AssertionFailure()
           << file << ": the interpreter returned " << results.size()
           << " results";
  return ::testing::AssertionSuccess();
}

//===----------------------------------------------------------------------===//
// Comparison.
//===----------------------------------------------------------------------===//

/// The spacing of `dt` values around |x| (x finite): one unit in the last
/// place of a bf16 / f16 number.
double ulpOf(DType dt, double x) {
  int exp2 = 0;
  std::frexp(std::fabs(x), &exp2); // |x| = frac * 2^exp2, frac in [0.5, 1)
  if (dt == DType::bf16)
    return std::ldexp(1.0, std::max(exp2, -125) - 8);
  // f16: 11 significant bits, subnormal spacing 2^-24.
  return std::ldexp(1.0, std::max(exp2 - 11, -24));
}

/// Compares an interpreter output with the double reference. f32/f64:
/// relative error below 1e-6 (relative to the larger of |ref| and a
/// thousandth of the tensor's largest magnitude, so that cancellation near 0
/// does not count). bf16/f16: within one ulp of the reference rounded to the
/// dtype. Never NaN.
::testing::AssertionResult closeTo(const mlir::attn::RefTensor &got,
                                   const Buf &ref, DType dt) {
  if (got.shape != ref.shape) {
    std::ostringstream os;
    os << "shape [";
    for (int64_t d : got.shape)
      os << d << " ";
    os << "] != reference [";
    for (int64_t d : ref.shape)
      os << d << " ";
    os << "]";
    return ::testing::AssertionFailure() << os.str();
  }
  if (got.values.size() != ref.v.size())
    return ::testing::AssertionFailure()
           << "interpreter returned " << got.values.size() << " values for "
           << ref.v.size() << " elements";
  double maxAbs = 0;
  for (double x : ref.v)
    maxAbs = std::max(maxAbs, std::fabs(x));
  size_t bad = 0, firstBad = 0;
  double worst = 0;
  for (size_t i = 0; i < ref.v.size(); ++i) {
    double g = got.values[i], r = ref.v[i];
    bool ok;
    double err;
    if (!std::isfinite(g)) {
      ok = false;
      err = std::numeric_limits<double>::infinity();
    } else if (dt == DType::bf16 || dt == DType::f16) {
      double rr = roundToDType(r, dt);
      double u = ulpOf(dt, std::max(std::fabs(rr), std::fabs(r)));
      err = std::fabs(g - rr) / u; // in ulps
      ok = err <= 1.0;
    } else {
      double scale = std::max({std::fabs(r), 1e-3 * maxAbs, 1e-300});
      err = std::fabs(g - r) / scale;
      ok = err <= 1e-6;
    }
    worst = std::max(worst, err);
    if (!ok && bad++ == 0)
      firstBad = i;
  }
  if (bad == 0)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << ref.v.size() << " elements differ ("
         << attn::rt::dtypeName(dt) << "); first at flat index " << firstBad
         << ": got " << got.values[firstBad] << ", reference "
         << ref.v[firstBad] << "; worst error " << worst
         << (dt == DType::bf16 || dt == DType::f16 ? " ulp" : "");
}

/// Every element of rows [b, h, p, :] with `p` in `rows` is exactly the fill
/// value 0 (not NaN).
::testing::AssertionResult rowsAreFill(const mlir::attn::RefTensor &got,
                                       const std::vector<int64_t> &rows) {
  int64_t B = got.shape[0], H = got.shape[1], P = got.shape[2],
          F = got.shape[3];
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t p : rows)
        for (int64_t f = 0; f < F; ++f) {
          double g = got.values[((b * H + h) * P + p) * F + f];
          if (g != 0.0 || std::isnan(g))
            return ::testing::AssertionFailure()
                   << "masked row [" << b << ", " << h << ", " << p
                   << "] holds " << g << " at f = " << f << ", expected 0";
        }
  return ::testing::AssertionSuccess();
}

mlir::attn::FrontendOptions
withParams(std::map<std::string, std::string> params) {
  mlir::attn::FrontendOptions o;
  o.params = std::move(params);
  return o;
}

// The odd sizes used by most cases.
constexpr int64_t kB = 2, kH = 3, kP = 37, kM = 41, kE = 19, kF = 23;

//===----------------------------------------------------------------------===//
// Softmax attention and its masks.
//===----------------------------------------------------------------------===//

TEST(ExamplesReference, MultiHead) {
  std::mt19937_64 rng(101);
  DType bf = DType::bf16;
  // Sizes from the inputs, then E and F bound at compile time (--bind).
  mlir::attn::FrontendOptions bound;
  bound.binds = {{"E", kE}, {"F", kF}};
  for (const mlir::attn::FrontendOptions &opts :
       {mlir::attn::FrontendOptions(), bound}) {
    Buf Q = randomBuf(rng, {kB, kH, kP, kE}, bf, -2, 2);
    Buf K = randomBuf(rng, {kB, kH, kM, kE}, bf, -2, 2);
    Buf V = randomBuf(rng, {kB, kH, kM, kF}, bf);
    std::vector<mlir::attn::RefTensor> out;
    ASSERT_TRUE(runExample("mha.attn", opts,
                           {tensorInput("Q", bf, Q), tensorInput("K", bf, K),
                            tensorInput("V", bf, V)},
                           {bf}, out));
    Buf ref = softmaxAttention(
        kB, kH, kP, kM, kF,
        [&](auto b, auto h, auto p, auto m) {
          return scaledDot(Q, K, b, h, h, p, m);
        },
        always, [&](auto b, auto h, auto m, auto f) { return V(b, h, m, f); });
    EXPECT_TRUE(closeTo(out[0], ref, bf)) << opts.binds.size() << " binds";
  }
}

TEST(ExamplesReference, Causal) {
  std::mt19937_64 rng(102);
  DType hf = DType::f16;
  // More queries than keys as well as fewer.
  for (auto [P, M] : {std::pair<int64_t, int64_t>{kP, kM}, {43, 29}}) {
    Buf Q = randomBuf(rng, {kB, kH, P, kE}, hf, -2, 2);
    Buf K = randomBuf(rng, {kB, kH, M, kE}, hf, -2, 2);
    Buf V = randomBuf(rng, {kB, kH, M, kF}, hf);
    std::vector<mlir::attn::RefTensor> out;
    ASSERT_TRUE(runExample("causal.attn", {},
                           {tensorInput("Q", hf, Q), tensorInput("K", hf, K),
                            tensorInput("V", hf, V)},
                           {hf}, out));
    Buf ref = softmaxAttention(
        kB, kH, P, M, kF,
        [&](auto b, auto h, auto p, auto m) {
          return scaledDot(Q, K, b, h, h, p, m);
        },
        causalMask,
        [&](auto b, auto h, auto m, auto f) { return V(b, h, m, f); });
    EXPECT_TRUE(closeTo(out[0], ref, hf)) << "P=" << P << " M=" << M;
  }
}

TEST(ExamplesReference, GroupedQuery) {
  std::mt19937_64 rng(103);
  DType bf = DType::bf16;
  // The default G = 4, then G overridden to 3.
  struct Case {
    int64_t G, KVH;
    std::map<std::string, std::string> params;
  };
  for (const Case &c : {Case{4, 2, {}}, Case{3, 3, {{"G", "3"}}}}) {
    int64_t H = c.G * c.KVH;
    Buf Q = randomBuf(rng, {kB, H, kP, kE}, bf, -2, 2);
    Buf K = randomBuf(rng, {kB, c.KVH, kM, kE}, bf, -2, 2);
    Buf V = randomBuf(rng, {kB, c.KVH, kM, kF}, bf);
    std::vector<mlir::attn::RefTensor> out;
    ASSERT_TRUE(runExample("gqa.attn", withParams(c.params),
                           {tensorInput("Q", bf, Q), tensorInput("K", bf, K),
                            tensorInput("V", bf, V)},
                           {bf}, out));
    int64_t G = c.G;
    Buf ref = softmaxAttention(
        kB, H, kP, kM, kF,
        [&](auto b, auto h, auto p, auto m) {
          return scaledDot(Q, K, b, h, h / G, p, m);
        },
        causalMask,
        [&](auto b, auto h, auto m, auto f) { return V(b, h / G, m, f); });
    EXPECT_TRUE(closeTo(out[0], ref, bf)) << "G=" << G;
  }
}

TEST(ExamplesReference, MultiQuery) {
  std::mt19937_64 rng(104);
  DType f32 = DType::f32;
  Buf Q = randomBuf(rng, {kB, kH, kP, kE}, f32, -2, 2);
  Buf K = randomBuf(rng, {kB, kM, kE}, f32, -2, 2);
  Buf V = randomBuf(rng, {kB, kM, kF}, f32);
  std::vector<mlir::attn::RefTensor> out;
  ASSERT_TRUE(runExample("mqa.attn", {},
                         {tensorInput("Q", f32, Q), tensorInput("K", f32, K),
                          tensorInput("V", f32, V)},
                         {f32}, out));
  Buf ref = softmaxAttention(
      kB, kH, kP, kM, kF,
      [&](auto b, auto h, auto p, auto m) {
        double s = 0;
        for (int64_t e = 0; e < kE; ++e)
          s += Q(b, h, p, e) * K(b, m, e);
        return s / std::sqrt(double(kE));
      },
      always, [&](auto b, auto, auto m, auto f) { return V(b, m, f); });
  EXPECT_TRUE(closeTo(out[0], ref, f32));
}

TEST(ExamplesReference, SlidingWindow) {
  std::mt19937_64 rng(105);
  DType bf = DType::bf16;
  struct Case {
    int64_t P, M, W;
    std::map<std::string, std::string> params;
  };
  // The default W = 16; then W = 5 with P > M + W - 1, so that the query rows
  // p >= M + W - 1 have no key left and must hold the fill value.
  for (const Case &c : {Case{kP, kM, 16, {}}, Case{53, 29, 5, {{"W", "5"}}}}) {
    Buf Q = randomBuf(rng, {kB, kH, c.P, kE}, bf, -2, 2);
    Buf K = randomBuf(rng, {kB, kH, c.M, kE}, bf, -2, 2);
    Buf V = randomBuf(rng, {kB, kH, c.M, kF}, bf);
    std::vector<mlir::attn::RefTensor> out;
    ASSERT_TRUE(runExample("sliding_window.attn", withParams(c.params),
                           {tensorInput("Q", bf, Q), tensorInput("K", bf, K),
                            tensorInput("V", bf, V)},
                           {bf}, out));
    int64_t W = c.W;
    Buf ref = softmaxAttention(
        kB, kH, c.P, c.M, kF,
        [&](auto b, auto h, auto p, auto m) {
          return scaledDot(Q, K, b, h, h, p, m);
        },
        [&](auto, auto, int64_t p, int64_t m) { return m <= p && p - m < W; },
        [&](auto b, auto h, auto m, auto f) { return V(b, h, m, f); });
    EXPECT_TRUE(closeTo(out[0], ref, bf)) << "W=" << W;
    std::vector<int64_t> empty;
    for (int64_t p = c.M + W - 1; p < c.P; ++p)
      empty.push_back(p);
    if (c.P == 53)
      EXPECT_EQ(empty.size(), 20u);
    EXPECT_TRUE(rowsAreFill(out[0], empty));
  }
}

TEST(ExamplesReference, SinksAndWindow) {
  std::mt19937_64 rng(106);
  DType hf = DType::f16;
  struct Case {
    int64_t sinks, W;
    std::map<std::string, std::string> params;
  };
  for (const Case &c :
       {Case{4, 16, {}}, Case{3, 5, {{"SINKS", "3"}, {"W", "5"}}}}) {
    Buf Q = randomBuf(rng, {kB, kH, kP, kE}, hf, -2, 2);
    Buf K = randomBuf(rng, {kB, kH, kM, kE}, hf, -2, 2);
    Buf V = randomBuf(rng, {kB, kH, kM, kF}, hf);
    std::vector<mlir::attn::RefTensor> out;
    ASSERT_TRUE(runExample("sinks.attn", withParams(c.params),
                           {tensorInput("Q", hf, Q), tensorInput("K", hf, K),
                            tensorInput("V", hf, V)},
                           {hf}, out));
    int64_t S = c.sinks, W = c.W;
    Buf ref = softmaxAttention(
        kB, kH, kP, kM, kF,
        [&](auto b, auto h, auto p, auto m) {
          return scaledDot(Q, K, b, h, h, p, m);
        },
        [&](auto, auto, int64_t p, int64_t m) {
          return m <= p && (m < S || p - m < W);
        },
        [&](auto b, auto h, auto m, auto f) { return V(b, h, m, f); });
    EXPECT_TRUE(closeTo(out[0], ref, hf)) << "SINKS=" << S << " W=" << W;
  }
}

TEST(ExamplesReference, ALiBi) {
  std::mt19937_64 rng(107);
  DType f32 = DType::f32;
  int64_t H = 4;
  Buf Q = randomBuf(rng, {kB, H, kP, kE}, f32, -2, 2);
  Buf K = randomBuf(rng, {kB, H, kM, kE}, f32, -2, 2);
  Buf V = randomBuf(rng, {kB, H, kM, kF}, f32);
  Buf slope({H}); // the paper's geometric slopes 2^(-8(h+1)/H)
  for (int64_t h = 0; h < H; ++h)
    slope.at(h) = roundToDType(std::pow(2.0, -8.0 * (h + 1) / H), f32);
  std::vector<mlir::attn::RefTensor> out;
  ASSERT_TRUE(
      runExample("alibi.attn", {},
                 {tensorInput("Q", f32, Q), tensorInput("K", f32, K),
                  tensorInput("V", f32, V), tensorInput("Slope", f32, slope)},
                 {f32}, out));
  Buf ref = softmaxAttention(
      kB, H, kP, kM, kF,
      [&](auto b, auto h, auto p, auto m) {
        return scaledDot(Q, K, b, h, h, p, m) +
               slope(h) * static_cast<double>(m - p);
      },
      causalMask,
      [&](auto b, auto h, auto m, auto f) { return V(b, h, m, f); });
  EXPECT_TRUE(closeTo(out[0], ref, f32));
}

TEST(ExamplesReference, SoftCap) {
  std::mt19937_64 rng(108);
  DType bf = DType::bf16;
  // The default cap 30, and cap 1.5, where tanh bends the logits strongly.
  for (auto [cap, params] :
       {std::pair<double, std::map<std::string, std::string>>{30.0, {}},
        {1.5, {{"cap", "1.5"}}}}) {
    Buf Q = randomBuf(rng, {kB, kH, kP, kE}, bf, -2, 2);
    Buf K = randomBuf(rng, {kB, kH, kM, kE}, bf, -2, 2);
    Buf V = randomBuf(rng, {kB, kH, kM, kF}, bf);
    std::vector<mlir::attn::RefTensor> out;
    ASSERT_TRUE(runExample("softcap.attn", withParams(params),
                           {tensorInput("Q", bf, Q), tensorInput("K", bf, K),
                            tensorInput("V", bf, V)},
                           {bf}, out));
    double capv = cap;
    Buf ref = softmaxAttention(
        kB, kH, kP, kM, kF,
        [&](auto b, auto h, auto p, auto m) {
          return capv * std::tanh(scaledDot(Q, K, b, h, h, p, m) / capv);
        },
        causalMask,
        [&](auto b, auto h, auto m, auto f) { return V(b, h, m, f); });
    EXPECT_TRUE(closeTo(out[0], ref, bf)) << "cap=" << cap;
  }
}

TEST(ExamplesReference, RelativeBias) {
  std::mt19937_64 rng(109);
  DType f32 = DType::f32;
  int64_t R = kP + kM - 1;
  Buf Q = randomBuf(rng, {kB, kH, kP, kE}, f32, -2, 2);
  Buf K = randomBuf(rng, {kB, kH, kM, kE}, f32, -2, 2);
  Buf V = randomBuf(rng, {kB, kH, kM, kF}, f32);
  Buf bias = randomBuf(rng, {kH, R}, f32, -3, 3);
  std::vector<mlir::attn::RefTensor> out;
  ASSERT_TRUE(
      runExample("relative_bias.attn", {},
                 {tensorInput("Q", f32, Q), tensorInput("K", f32, K),
                  tensorInput("V", f32, V), tensorInput("Bias", f32, bias)},
                 {f32}, out));
  Buf ref = softmaxAttention(
      kB, kH, kP, kM, kF,
      [&](auto b, auto h, auto p, auto m) {
        return scaledDot(Q, K, b, h, h, p, m) + bias(h, p - m + kM - 1);
      },
      always, [&](auto b, auto h, auto m, auto f) { return V(b, h, m, f); });
  EXPECT_TRUE(closeTo(out[0], ref, f32));
}

TEST(ExamplesReference, BlockSparse) {
  std::mt19937_64 rng(110);
  DType hf = DType::f16;
  struct Case {
    int64_t BS, PB, MB;
    std::vector<int64_t> layout;
    std::map<std::string, std::string> params;
  };
  // BS = 16 (default): 3x3 blocks, query block 1 (p in 16..31) all zero.
  // BS = 8: 5x6 blocks, query blocks 0 and 3 all zero; the last key block is
  // partial (m = 40 only).
  std::vector<Case> cases = {
      {16, 3, 3, {1, 0, 1, /**/ 0, 0, 0, /**/ 1, 1, 0}, {}},
      {8,
       5,
       6,
       {0,      0, 0, 0, 0, 0, /**/ 1, 1, 0, 0, 1, 0, /**/ 0, 1, 1, 0, 0, 1,
        /**/ 0, 0, 0, 0, 0, 0, /**/ 1, 0, 0, 1, 1, 1},
       {{"BS", "8"}}}};
  for (const Case &c : cases) {
    Buf Q = randomBuf(rng, {kB, kH, kP, kE}, hf, -2, 2);
    Buf K = randomBuf(rng, {kB, kH, kM, kE}, hf, -2, 2);
    Buf V = randomBuf(rng, {kB, kH, kM, kF}, hf);
    Buf layout = intBuf({c.PB, c.MB}, c.layout);
    std::vector<mlir::attn::RefTensor> out;
    ASSERT_TRUE(runExample("block_sparse.attn", withParams(c.params),
                           {tensorInput("Q", hf, Q), tensorInput("K", hf, K),
                            tensorInput("V", hf, V),
                            tensorInput("Layout", DType::i32, layout)},
                           {hf}, out));
    int64_t BS = c.BS;
    Buf ref = softmaxAttention(
        kB, kH, kP, kM, kF,
        [&](auto b, auto h, auto p, auto m) {
          return scaledDot(Q, K, b, h, h, p, m);
        },
        [&](auto, auto, int64_t p, int64_t m) {
          return layout(p / BS, m / BS) != 0;
        },
        [&](auto b, auto h, auto m, auto f) { return V(b, h, m, f); });
    EXPECT_TRUE(closeTo(out[0], ref, hf)) << "BS=" << BS;
    std::vector<int64_t> empty;
    for (int64_t p = 0; p < kP; ++p) {
      bool any = false;
      for (int64_t j = 0; j < c.MB; ++j)
        any |= layout(p / BS, j) != 0;
      if (!any)
        empty.push_back(p);
    }
    EXPECT_EQ(empty.size(), 16u); // one all-zero 16-row block, or two of 8
    EXPECT_TRUE(rowsAreFill(out[0], empty)) << "BS=" << BS;
  }
}

TEST(ExamplesReference, PrefixLM) {
  std::mt19937_64 rng(111);
  DType bf = DType::bf16;
  int64_t B = 4;
  Buf Q = randomBuf(rng, {B, kH, kP, kE}, bf, -2, 2);
  Buf K = randomBuf(rng, {B, kH, kM, kE}, bf, -2, 2);
  Buf V = randomBuf(rng, {B, kH, kM, kF}, bf);
  Buf prefix = intBuf({B}, {0, 13, kM, 39});
  std::vector<mlir::attn::RefTensor> out;
  ASSERT_TRUE(runExample("prefix_lm.attn", {},
                         {tensorInput("Q", bf, Q), tensorInput("K", bf, K),
                          tensorInput("V", bf, V),
                          tensorInput("Prefix", DType::i32, prefix)},
                         {bf}, out));
  Buf ref = softmaxAttention(
      B, kH, kP, kM, kF,
      [&](auto b, auto h, auto p, auto m) {
        return scaledDot(Q, K, b, h, h, p, m);
      },
      [&](int64_t b, auto, int64_t p, int64_t m) {
        return m <= p || m < prefix(b);
      },
      [&](auto b, auto h, auto m, auto f) { return V(b, h, m, f); });
  EXPECT_TRUE(closeTo(out[0], ref, bf));
}

TEST(ExamplesReference, Cosine) {
  std::mt19937_64 rng(112);
  DType f32 = DType::f32;
  int64_t H = 4;
  Buf Q = randomBuf(rng, {kB, H, kP, kE}, f32);
  Buf K = randomBuf(rng, {kB, H, kM, kE}, f32);
  Buf V = randomBuf(rng, {kB, H, kM, kF}, f32);
  // One temperature below the 0.01 clamp.
  Buf tau({H});
  tau.v = {roundToDType(0.07, f32), roundToDType(0.004, f32),
           roundToDType(0.5, f32), roundToDType(0.2, f32)};
  std::vector<mlir::attn::RefTensor> out;
  ASSERT_TRUE(
      runExample("cosine.attn", {},
                 {tensorInput("Q", f32, Q), tensorInput("K", f32, K),
                  tensorInput("V", f32, V), tensorInput("Tau", f32, tau)},
                 {f32}, out));
  // 0.01 is a literal of the f32 computation.
  double floorTau = roundToDType(0.01, f32);
  Buf ref = softmaxAttention(
      kB, H, kP, kM, kF,
      [&](auto b, auto h, auto p, auto m) {
        double qk = 0, qq = 0, kk = 0;
        for (int64_t e = 0; e < kE; ++e) {
          qk += Q(b, h, p, e) * K(b, h, m, e);
          qq += Q(b, h, p, e) * Q(b, h, p, e);
          kk += K(b, h, m, e) * K(b, h, m, e);
        }
        return qk / std::sqrt(qq * kk) / std::max(tau(h), floorTau);
      },
      always, [&](auto b, auto h, auto m, auto f) { return V(b, h, m, f); });
  EXPECT_TRUE(closeTo(out[0], ref, f32));
}

TEST(ExamplesReference, Differential) {
  std::mt19937_64 rng(113);
  DType bf = DType::bf16;
  Buf Q1 = randomBuf(rng, {kB, kH, kP, kE}, bf, -2, 2);
  Buf Q2 = randomBuf(rng, {kB, kH, kP, kE}, bf, -2, 2);
  Buf K1 = randomBuf(rng, {kB, kH, kM, kE}, bf, -2, 2);
  Buf K2 = randomBuf(rng, {kB, kH, kM, kE}, bf, -2, 2);
  Buf V = randomBuf(rng, {kB, kH, kM, kF}, bf);
  Input lam = scalarInput("lam", DType::f32, 0.8);
  std::vector<mlir::attn::RefTensor> out;
  ASSERT_TRUE(runExample("differential.attn", {},
                         {tensorInput("Q1", bf, Q1), tensorInput("Q2", bf, Q2),
                          tensorInput("K1", bf, K1), tensorInput("K2", bf, K2),
                          tensorInput("V", bf, V), lam},
                         {DType::f32}, out));
  auto value = [&](auto b, auto h, auto m, auto f) { return V(b, h, m, f); };
  Buf a1 = softmaxAttention(
      kB, kH, kP, kM, kF,
      [&](auto b, auto h, auto p, auto m) {
        return scaledDot(Q1, K1, b, h, h, p, m);
      },
      causalMask, value);
  Buf a2 = softmaxAttention(
      kB, kH, kP, kM, kF,
      [&](auto b, auto h, auto p, auto m) {
        return scaledDot(Q2, K2, b, h, h, p, m);
      },
      causalMask, value);
  Buf ref = a1;
  for (size_t i = 0; i < ref.v.size(); ++i)
    ref.v[i] = a1.v[i] - lam.scalarValue * a2.v[i];
  EXPECT_TRUE(closeTo(out[0], ref, DType::f32));
}

//===----------------------------------------------------------------------===//
// Decode: one query per sequence, contiguous and paged caches.
//===----------------------------------------------------------------------===//

TEST(ExamplesReference, Decode) {
  std::mt19937_64 rng(114);
  DType bf = DType::bf16;
  int64_t M = 301;
  Buf Q = randomBuf(rng, {kB, kH, kE}, bf, -2, 2);
  Buf K = randomBuf(rng, {kB, kH, M, kE}, bf, -2, 2);
  Buf V = randomBuf(rng, {kB, kH, M, kF}, bf);
  std::vector<mlir::attn::RefTensor> out;
  ASSERT_TRUE(runExample("decode.attn", {},
                         {tensorInput("Q", bf, Q), tensorInput("K", bf, K),
                          tensorInput("V", bf, V)},
                         {bf}, out));
  Buf ref4 = softmaxAttention(
      kB, kH, 1, M, kF,
      [&](auto b, auto h, auto, auto m) {
        double s = 0;
        for (int64_t e = 0; e < kE; ++e)
          s += Q(b, h, e) * K(b, h, m, e);
        return s / std::sqrt(double(kE));
      },
      always, [&](auto b, auto h, auto m, auto f) { return V(b, h, m, f); });
  Buf ref({kB, kH, kF});
  ref.v = ref4.v; // [B, H, 1, F] and [B, H, F] share the layout
  EXPECT_TRUE(closeTo(out[0], ref, bf));
}

TEST(ExamplesReference, PagedDecode) {
  std::mt19937_64 rng(115);
  DType bf = DType::bf16;
  const int64_t B = 4, H = kH, PS = 5, NB = 9;
  // Per-sequence lengths: full, empty, partial last page, short.
  const std::vector<int64_t> len = {NB * PS, 0, 17, 3};
  int64_t pagesUsed = 0;
  for (int64_t l : len)
    pagesUsed += (l + PS - 1) / PS;
  const int64_t NP = pagesUsed + 2; // a pool with some free pages
  // Pages in shuffled order; entries past a sequence's last page are junk
  // (negative or far out of the pool): the kernel must never read them.
  std::vector<int64_t> pool(NP);
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), rng);
  Buf page({B, NB});
  int64_t next = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < NB; ++j)
      page.at(b, j) = j < (len[b] + PS - 1) / PS
                          ? static_cast<double>(pool[next++])
                          : (j % 2 ? -1.0 : 1000003.0);
  Buf lenBuf = intBuf({B}, len);
  Buf Q = randomBuf(rng, {B, H, kE}, bf, -2, 2);
  Buf Kc = randomBuf(rng, {NP, H, PS, kE}, bf, -2, 2);
  Buf Vc = randomBuf(rng, {NP, H, PS, kF}, bf);
  std::vector<mlir::attn::RefTensor> out;
  ASSERT_TRUE(runExample("paged_decode.attn", {},
                         {tensorInput("Q", bf, Q), tensorInput("Kc", bf, Kc),
                          tensorInput("Vc", bf, Vc),
                          tensorInput("Page", DType::i32, page),
                          tensorInput("Len", DType::i32, lenBuf)},
                         {bf}, out));
  // Gather each sequence's tokens explicitly, then plain softmax attention.
  Buf ref({B, H, kF});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      int64_t L = len[b];
      std::vector<double> s(L);
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t m = 0; m < L; ++m) {
        int64_t pg = static_cast<int64_t>(page(b, m / PS));
        double d = 0;
        for (int64_t e = 0; e < kE; ++e)
          d += Q(b, h, e) * Kc(pg, h, m % PS, e);
        s[m] = d / std::sqrt(double(kE));
        mx = std::max(mx, s[m]);
      }
      if (L == 0)
        continue; // no token: the fill value 0
      double denom = 0;
      for (int64_t m = 0; m < L; ++m)
        denom += std::exp(s[m] - mx);
      for (int64_t f = 0; f < kF; ++f) {
        double acc = 0;
        for (int64_t m = 0; m < L; ++m) {
          int64_t pg = static_cast<int64_t>(page(b, m / PS));
          acc += std::exp(s[m] - mx) * Vc(pg, h, m % PS, f);
        }
        ref.at(b, h, f) = acc / denom;
      }
    }
  EXPECT_TRUE(closeTo(out[0], ref, bf));
  for (int64_t h = 0; h < H; ++h)
    for (int64_t f = 0; f < kF; ++f) {
      double g = out[0].values[(1 * H + h) * kF + f];
      EXPECT_TRUE(g == 0.0 && !std::isnan(g))
          << "sequence of length 0, head " << h << ", f " << f << ": " << g;
    }
}

//===----------------------------------------------------------------------===//
// Attention without a softmax.
//===----------------------------------------------------------------------===//

TEST(ExamplesReference, Sigmoid) {
  std::mt19937_64 rng(116);
  DType bf = DType::bf16;
  for (auto [bias, params] :
       {std::pair<double, std::map<std::string, std::string>>{-5.0, {}},
        {-1.25, {{"bias", "-1.25"}}}}) {
    Buf Q = randomBuf(rng, {kB, kH, kP, kE}, bf, -2, 2);
    Buf K = randomBuf(rng, {kB, kH, kM, kE}, bf, -2, 2);
    Buf V = randomBuf(rng, {kB, kH, kM, kF}, bf);
    std::vector<mlir::attn::RefTensor> out;
    ASSERT_TRUE(runExample("sigmoid.attn", withParams(params),
                           {tensorInput("Q", bf, Q), tensorInput("K", bf, K),
                            tensorInput("V", bf, V)},
                           {DType::f32}, out));
    Buf ref({kB, kH, kP, kF});
    for (int64_t b = 0; b < kB; ++b)
      for (int64_t h = 0; h < kH; ++h)
        for (int64_t p = 0; p < kP; ++p)
          for (int64_t f = 0; f < kF; ++f) {
            double acc = 0;
            for (int64_t m = 0; m < kM; ++m) {
              double x = scaledDot(Q, K, b, h, h, p, m) + bias;
              acc += V(b, h, m, f) / (1.0 + std::exp(-x));
            }
            ref.at(b, h, p, f) = acc;
          }
    EXPECT_TRUE(closeTo(out[0], ref, DType::f32)) << "bias=" << bias;
  }
}

TEST(ExamplesReference, ReLU) {
  std::mt19937_64 rng(117);
  DType f32 = DType::f32;
  Buf Q = randomBuf(rng, {kB, kH, kP, kE}, f32, -2, 2);
  Buf K = randomBuf(rng, {kB, kH, kM, kE}, f32, -2, 2);
  Buf V = randomBuf(rng, {kB, kH, kM, kF}, f32);
  std::vector<mlir::attn::RefTensor> out;
  ASSERT_TRUE(runExample("relu.attn", {},
                         {tensorInput("Q", f32, Q), tensorInput("K", f32, K),
                          tensorInput("V", f32, V)},
                         {f32}, out));
  Buf ref({kB, kH, kP, kF});
  for (int64_t b = 0; b < kB; ++b)
    for (int64_t h = 0; h < kH; ++h)
      for (int64_t p = 0; p < kP; ++p)
        for (int64_t f = 0; f < kF; ++f) {
          double acc = 0;
          for (int64_t m = 0; m < kM; ++m) {
            double s = scaledDot(Q, K, b, h, h, p, m);
            acc += (s > 0 ? s : 0.0) / kM * V(b, h, m, f);
          }
          ref.at(b, h, p, f) = acc;
        }
  EXPECT_TRUE(closeTo(out[0], ref, f32));
}

TEST(ExamplesReference, Linear) {
  std::mt19937_64 rng(118);
  DType f32 = DType::f32;
  Buf Q = randomBuf(rng, {kP, kE}, f32);
  Buf K = randomBuf(rng, {kM, kE}, f32);
  Buf V = randomBuf(rng, {kM, kF}, f32);
  std::vector<mlir::attn::RefTensor> out;
  ASSERT_TRUE(runExample("linear.attn", {},
                         {tensorInput("Q", f32, Q), tensorInput("K", f32, K),
                          tensorInput("V", f32, V)},
                         {f32}, out));
  auto relu = [](double x) { return x > 0 ? x : 0.0; };
  Buf ref({kP, kF});
  for (int64_t p = 0; p < kP; ++p) {
    std::vector<double> s(kM, 0.0);
    double z = 0;
    for (int64_t m = 0; m < kM; ++m) {
      for (int64_t e = 0; e < kE; ++e)
        s[m] += relu(Q(p, e)) * relu(K(m, e));
      z += s[m];
    }
    ASSERT_GT(z, 0.0) << "pick another seed: row " << p << " has Z = 0";
    for (int64_t f = 0; f < kF; ++f) {
      double acc = 0;
      for (int64_t m = 0; m < kM; ++m)
        acc += s[m] * V(m, f);
      ref.at(p, f) = acc / z;
    }
  }
  EXPECT_TRUE(closeTo(out[0], ref, f32));
}

TEST(ExamplesReference, LinearCausal) {
  std::mt19937_64 rng(119);
  DType f32 = DType::f32;
  Buf Q = randomBuf(rng, {kB, kH, kP, kE}, f32, -2, 2);
  Buf K = randomBuf(rng, {kB, kH, kM, kE}, f32, -2, 2);
  Buf V = randomBuf(rng, {kB, kH, kM, kF}, f32);
  std::vector<mlir::attn::RefTensor> out;
  ASSERT_TRUE(runExample("linear_causal.attn", {},
                         {tensorInput("Q", f32, Q), tensorInput("K", f32, K),
                          tensorInput("V", f32, V)},
                         {f32}, out));
  auto phi = [](double x) { return x > 0 ? x + 1.0 : std::exp(x); }; // elu+1
  Buf ref({kB, kH, kP, kF});
  for (int64_t b = 0; b < kB; ++b)
    for (int64_t h = 0; h < kH; ++h)
      for (int64_t p = 0; p < kP; ++p) {
        std::vector<double> s(kM, 0.0);
        double z = 0;
        for (int64_t m = 0; m <= p && m < kM; ++m) {
          for (int64_t e = 0; e < kE; ++e)
            s[m] += phi(Q(b, h, p, e)) * phi(K(b, h, m, e));
          z += s[m];
        }
        for (int64_t f = 0; f < kF; ++f) {
          double acc = 0;
          for (int64_t m = 0; m <= p && m < kM; ++m)
            acc += s[m] * V(b, h, m, f);
          ref.at(b, h, p, f) = acc / z;
        }
      }
  EXPECT_TRUE(closeTo(out[0], ref, f32));
}

TEST(ExamplesReference, Retention) {
  std::mt19937_64 rng(120);
  DType f32 = DType::f32;
  for (auto [gamma, params] :
       {std::pair<double, std::map<std::string, std::string>>{0.96875, {}},
        {0.75, {{"gamma", "0.75"}}}}) {
    Buf Q = randomBuf(rng, {kB, kH, kP, kE}, f32);
    Buf K = randomBuf(rng, {kB, kH, kM, kE}, f32);
    Buf V = randomBuf(rng, {kB, kH, kM, kF}, f32);
    std::vector<mlir::attn::RefTensor> out;
    ASSERT_TRUE(runExample("retention.attn", withParams(params),
                           {tensorInput("Q", f32, Q), tensorInput("K", f32, K),
                            tensorInput("V", f32, V)},
                           {f32}, out));
    Buf ref({kB, kH, kP, kF});
    for (int64_t b = 0; b < kB; ++b)
      for (int64_t h = 0; h < kH; ++h)
        for (int64_t p = 0; p < kP; ++p)
          for (int64_t f = 0; f < kF; ++f) {
            double acc = 0;
            for (int64_t m = 0; m <= p && m < kM; ++m) {
              double qk = 0;
              for (int64_t e = 0; e < kE; ++e)
                qk += Q(b, h, p, e) * K(b, h, m, e);
              acc += qk * std::pow(gamma, double(p - m)) * V(b, h, m, f);
            }
            ref.at(b, h, p, f) = acc;
          }
    EXPECT_TRUE(closeTo(out[0], ref, f32)) << "gamma=" << gamma;
  }
}

//===----------------------------------------------------------------------===//
// Every example compiles and runs on small random inputs.
//===----------------------------------------------------------------------===//

TEST(ExamplesReference, ZooHasTheRequiredVariants) {
  std::vector<std::string> files = allExamples();
  EXPECT_GE(files.size(), 17u);
  for (const char *required :
       {"mha.attn", "causal.attn", "gqa.attn", "mqa.attn",
        "sliding_window.attn", "sinks.attn", "alibi.attn", "softcap.attn",
        "relative_bias.attn", "sigmoid.attn", "relu.attn", "linear.attn",
        "linear_causal.attn", "retention.attn", "decode.attn",
        "paged_decode.attn", "block_sparse.attn", "differential.attn"})
    EXPECT_TRUE(std::find(files.begin(), files.end(), required) != files.end())
        << "missing examples/" << required;
  // Each file opens with a comment naming the variant and its source.
  for (const std::string &f : files) {
    std::ifstream in(examplePath(f));
    std::string first;
    std::getline(in, first);
    EXPECT_TRUE(!first.empty() && first[0] == '#')
        << f << " must start with a '#' comment naming the variant";
  }
}

// Small sizes per symbol; integer tables derived from them by
// fillIntegerTable (ExampleKernels.h). H = 4 * KVH for
// gqa's default G = 4; R = P + M - 1 for relative_bias; PB, MB cover P, M in
// blocks of block_sparse's default BS = 16.
const Sizes &smallSizes() {
  static const Sizes sizes = {
      {"B", 2},  {"H", 4},  {"KVH", 1}, {"P", 13}, {"M", 11},
      {"E", 8},  {"F", 6},  {"R", 23},  {"PS", 4}, {"NB", 3},
      {"NP", 7}, {"PB", 1}, {"MB", 1}};
  return sizes;
}

TEST(ExamplesReference, EveryExampleCompilesAndRuns) {
  std::vector<std::string> files = allExamples();
  ASSERT_FALSE(files.empty());
  std::mt19937_64 rng(2024);
  for (const std::string &file : files) {
    SCOPED_TRACE(file);
    std::unique_ptr<Compiled> c = compileFile(examplePath(file), {});
    if (!c->module) {
      ADD_FAILURE() << file << " does not compile:\n" << c->diagnostics;
      continue;
    }
    int kernels = 0;
    for (auto kernel : c->module->getOps<mlir::func::FuncOp>()) {
      ++kernels;
      std::string kname = kernel.getSymName().str();
      std::vector<mlir::attn::RefArg> args;
      std::string argError =
          attn_test::randomArgs(kernel, smallSizes(), rng, args);
      if (!argError.empty()) {
        ADD_FAILURE() << kname << ": " << argError;
        continue;
      }
      std::vector<mlir::attn::RefTensor> results;
      std::string error;
      if (mlir::failed(
              mlir::attn::interpretKernel(kernel, args, results, error))) {
        ADD_FAILURE() << kname << ": the interpreter failed: " << error;
        continue;
      }
      EXPECT_EQ(results.size(), kernel.getNumResults()) << kname;
      for (size_t r = 0; r < results.size(); ++r) {
        size_t n = 1;
        for (int64_t d : results[r].shape)
          n *= d;
        EXPECT_EQ(results[r].values.size(), n) << kname << " result " << r;
        EXPECT_GT(n, 0u) << kname << " result " << r;
        size_t nonFinite = 0;
        for (double v : results[r].values)
          nonFinite += !std::isfinite(v);
        EXPECT_EQ(nonFinite, 0u)
            << kname << " result " << r << " has non-finite values";
      }
    }
    EXPECT_GE(kernels, 1) << file << " holds no kernel";
  }
}

} // namespace
