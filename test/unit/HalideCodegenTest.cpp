// The CPU code generator (codegen/halide) against the float64 reference
// interpreter: hand-written attn kernels for every construct (contractions,
// affine and union filters, guards, tables, paged gathers, max/min/prod,
// rows with nothing left), random inputs of odd sizes, outputs poisoned with
// NaN by every run; errors (bad arguments, out-of-range reads) reported by
// both; then every example of examples/, compiled by the frontend.
#include "codegen/halide/HalideEmitter.h"
#include "codegen/ref/ReferenceInterpreter.h"
#include "dialect/AttnOps.h"
#include "frontend/Frontend.h"
#include "runtime/DType.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include "test/unit/RefTensorCompare.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <regex>

using namespace mlir;
using namespace mlir::attn;
namespace rt = ::attn::rt;

namespace {

class HalideCodegenTest : public ::testing::Test {
protected:
  HalideCodegenTest() {
    registry.insert<AttnDialect, arith::ArithDialect, math::MathDialect,
                    tensor::TensorDialect, func::FuncDialect>();
    context = std::make_unique<MLIRContext>(registry);
    context->loadAllAvailableDialects();
  }

  func::FuncOp parse(const std::string &source) {
    module = parseSourceString<ModuleOp>(source, context.get());
    if (!module)
      return nullptr;
    auto funcs = module->getOps<func::FuncOp>();
    return funcs.empty() ? nullptr : *funcs.begin();
  }

  /// Compiles and runs on the CPU; fails the test on an error.
  std::vector<RefTensor> runCpu(func::FuncOp kernel,
                                const std::vector<RefArg> &args,
                                const HalideCodegenOptions &options = {}) {
    std::vector<RefTensor> results;
    std::string error;
    EXPECT_TRUE(
        succeeded(runKernelOnCpu(kernel, args, results, error, options)))
        << error;
    return results;
  }

  /// The float64 reference interpreter's results.
  std::vector<RefTensor> reference(func::FuncOp kernel,
                                   const std::vector<RefArg> &args) {
    std::vector<RefTensor> results;
    std::string error;
    EXPECT_TRUE(succeeded(interpretKernel(kernel, args, results, error)))
        << "the reference interpreter failed: " << error;
    return results;
  }

  /// Runs on the CPU and compares every output with the reference; returns
  /// the CPU results.
  std::vector<RefTensor>
  expectMatchesReference(func::FuncOp kernel, const std::vector<RefArg> &args,
                         const HalideCodegenOptions &options = {});

  /// Expects the CPU run to fail with a message containing `expected`, and
  /// the reference to fail too.
  void expectRunError(func::FuncOp kernel, const std::vector<RefArg> &args,
                      const std::string &expected) {
    std::vector<RefTensor> results;
    std::string error;
    EXPECT_TRUE(failed(runKernelOnCpu(kernel, args, results, error)));
    EXPECT_NE(error.find(expected), std::string::npos)
        << "error was: " << error;
    std::string refError;
    EXPECT_TRUE(failed(interpretKernel(kernel, args, results, refError)))
        << "the reference accepts what the CPU kernel rejects: " << error;
  }

  DialectRegistry registry;
  std::unique_ptr<MLIRContext> context;
  OwningOpRef<ModuleOp> module;
  std::mt19937_64 rng{20240607};
};

RefTensor randomTensor(std::vector<int64_t> shape, rt::DType dt,
                       std::mt19937_64 &rng, double lo = -1, double hi = 1) {
  RefTensor t;
  t.shape = shape;
  int64_t n = 1;
  for (int64_t s : shape)
    n *= s;
  std::uniform_real_distribution<double> u(lo, hi);
  for (int64_t i = 0; i < n; ++i)
    t.values.push_back(rt::roundToDType(u(rng), dt));
  return t;
}

RefTensor tensorOf(std::vector<int64_t> shape, std::vector<double> values) {
  RefTensor t;
  t.shape = std::move(shape);
  t.values = std::move(values);
  return t;
}

RefTensor zeros(std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t s : shape)
    n *= s;
  return tensorOf(shape, std::vector<double>(n, 0.0));
}

using attn_test::relativeError;
using attn_test::sameValue;

void expectClose(const RefTensor &got, const RefTensor &want, double tol,
                 const std::string &what) {
  ASSERT_EQ(got.shape, want.shape) << what;
  ASSERT_EQ(got.values.size(), want.values.size()) << what;
  double err = relativeError(got, want);
  EXPECT_TRUE(err <= tol) << what << ": relative error " << err << " > " << tol;
  if (!(err <= tol))
    for (size_t i = 0; i < want.values.size(); ++i)
      if (!sameValue(got.values[i], want.values[i]) &&
          !(std::fabs(got.values[i] - want.values[i]) <=
            tol * std::max(1.0, std::fabs(want.values[i])))) {
        ADD_FAILURE() << what << ": first mismatch at " << i << ": got "
                      << got.values[i] << ", want " << want.values[i];
        break;
      }
}

bool isNarrowFloat(Type t) {
  if (auto tensor = dyn_cast<RankedTensorType>(t))
    t = tensor.getElementType();
  return t.isBF16() || t.isF16();
}

/// The bound on the relative error of output `o`: 2e-2 where 16-bit floats
/// are involved, 1e-5 otherwise (f32 arithmetic against float64).
double tolerance(func::FuncOp kernel, unsigned o) {
  bool narrow = isNarrowFloat(kernel.getResultTypes()[o]);
  for (Type t : kernel.getArgumentTypes())
    narrow |= isNarrowFloat(t);
  return narrow ? 2e-2 : 1e-5;
}

std::string resultName(func::FuncOp kernel, unsigned o) {
  if (auto n = kernel.getResultAttrOfType<StringAttr>(o, kNameAttr))
    return n.str();
  return "result " + std::to_string(o);
}

std::vector<RefTensor>
HalideCodegenTest::expectMatchesReference(func::FuncOp kernel,
                                          const std::vector<RefArg> &args,
                                          const HalideCodegenOptions &options) {
  std::vector<RefTensor> got = runCpu(kernel, args, options);
  std::vector<RefTensor> want = reference(kernel, args);
  EXPECT_EQ(got.size(), kernel.getNumResults());
  EXPECT_EQ(want.size(), kernel.getNumResults());
  if (got.size() != want.size())
    return got;
  for (unsigned o = 0; o < got.size(); ++o)
    expectClose(got[o], want[o], tolerance(kernel, o), resultName(kernel, o));
  return got;
}

std::string replaceAll(std::string s, const std::string &from,
                       const std::string &to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos;
       pos += to.size())
    s.replace(pos, from.size(), to);
  return s;
}

//===----------------------------------------------------------------------===//
// A contraction
//===----------------------------------------------------------------------===//

const char *kMatmul = R"mlir(
func.func @matmul(%a: tensor<?x?xf32> {attn.name = "A", attn.dims = ["P", "E"]},
                  %b: tensor<?x?xf32> {attn.name = "B", attn.dims = ["E", "F"]})
    -> (tensor<?x?xf32> {attn.name = "C", attn.dims = ["P", "F"]})
    attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %P = tensor.dim %a, %c0 : tensor<?x?xf32>
  %E = tensor.dim %a, %c1 : tensor<?x?xf32>
  %F = tensor.dim %b, %c1 : tensor<?x?xf32>
  %c = attn.einsum ins(%a, %b : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%P, %F, %E)
       {indexing_maps = [affine_map<(p, f, e) -> (p, e)>,
                         affine_map<(p, f, e) -> (e, f)>,
                         affine_map<(p, f, e) -> (p, f)>],
        kind = #attn.reduction<sum>} -> tensor<?x?xf32> {
  ^bb0(%x: f32, %y: f32, %p: index, %f: index, %e: index):
    %m = arith.mulf %x, %y : f32
    attn.yield %m : f32
  }
  %o = attn.fill %c, 0.0 : tensor<?x?xf32> -> tensor<?x?xf32>
  return %o : tensor<?x?xf32>
}
)mlir";

TEST_F(HalideCodegenTest, Contraction) {
  func::FuncOp k = parse(kMatmul);
  ASSERT_TRUE(k);
  for (auto [P, E, F] : {std::tuple<int64_t, int64_t, int64_t>{7, 13, 5},
                         {1, 1, 1},
                         {33, 17, 19}})
    expectMatchesReference(
        k, {RefArg::ofTensor(randomTensor({P, E}, rt::DType::f32, rng)),
            RefArg::ofTensor(randomTensor({E, F}, rt::DType::f32, rng))});
}

TEST_F(HalideCodegenTest, ScheduleOptionsDoNotChangeResults) {
  func::FuncOp k = parse(kMatmul);
  ASSERT_TRUE(k);
  std::vector<RefArg> args{
      RefArg::ofTensor(randomTensor({11, 9}, rt::DType::f32, rng)),
      RefArg::ofTensor(randomTensor({9, 13}, rt::DType::f32, rng))};
  HalideCodegenOptions narrow, serial, wide;
  narrow.vectorWidth = 4;
  narrow.rowTile = 3;
  serial.vectorWidth = 1;
  serial.rowTile = 1;
  serial.computeRoot = true;
  wide.vectorWidth = 16;
  wide.rowTile = 64;
  wide.strictFloat = false;
  for (const HalideCodegenOptions &o : {narrow, serial, wide})
    expectMatchesReference(k, args, o);
}

TEST_F(HalideCodegenTest, EmptyDimensions) {
  func::FuncOp k = parse(kMatmul);
  ASSERT_TRUE(k);
  // E = 0: every sum is empty, so absent, so the fill (0).
  std::vector<RefTensor> got = expectMatchesReference(
      k, {RefArg::ofTensor(zeros({3, 0})), RefArg::ofTensor(zeros({0, 2}))});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].shape, (std::vector<int64_t>{3, 2}));
  // P = 0: an empty output.
  got = expectMatchesReference(
      k, {RefArg::ofTensor(zeros({0, 3})),
          RefArg::ofTensor(randomTensor({3, 2}, rt::DType::f32, rng))});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].shape, (std::vector<int64_t>{0, 2}));
}

//===----------------------------------------------------------------------===//
// A causal softmax cascade whose first query row has no key left
//===----------------------------------------------------------------------===//

// S[b,m,p] = Q[b,p,e] K[b,m,e] rsqrt(E) where m < p (row p = 0 is empty);
// then max, exp, sum, weighted sum and division. DT is the input type;
// EXT(%x, %x0) widens to f32.
const char *kCausal = R"mlir(
func.func @causal(%q: tensor<?x?x?xDT> {attn.name = "Q", attn.dims = ["B", "P", "E"]},
                  %k: tensor<?x?x?xDT> {attn.name = "K", attn.dims = ["B", "M", "E"]},
                  %v: tensor<?x?x?xDT> {attn.name = "V", attn.dims = ["B", "M", "F"]})
    -> (tensor<?x?x?xDT> {attn.name = "O", attn.dims = ["B", "P", "F"]})
    attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %B = tensor.dim %q, %c0 : tensor<?x?x?xDT>
  %P = tensor.dim %q, %c1 : tensor<?x?x?xDT>
  %E = tensor.dim %q, %c2 : tensor<?x?x?xDT>
  %M = tensor.dim %k, %c1 : tensor<?x?x?xDT>
  %F = tensor.dim %v, %c2 : tensor<?x?x?xDT>
  %Ei = arith.index_cast %E : index to i64
  %Ef = arith.sitofp %Ei : i64 to f32
  %scale = math.rsqrt %Ef : f32
  %s = attn.einsum ins(%q, %k : tensor<?x?x?xDT>, tensor<?x?x?xDT>) sizes(%B, %M, %P, %E)
       {indexing_maps = [affine_map<(b, m, p, e) -> (b, p, e)>,
                         affine_map<(b, m, p, e) -> (b, m, e)>,
                         affine_map<(b, m, p, e) -> (b, m, p)>],
        kind = #attn.reduction<sum>,
        filter = [affine_set<(b, m, p, e) : (p - m - 1 >= 0)>]} -> tensor<?x?x?xf32> {
  ^bb0(%x0: DT, %y0: DT, %b: index, %m: index, %p: index, %e: index):
    EXT(%x, %x0)
    EXT(%y, %y0)
    %z = arith.mulf %x, %y : f32
    %w = arith.mulf %z, %scale : f32
    attn.yield %w : f32
  }
  %gm = attn.einsum ins(%s : tensor<?x?x?xf32>) sizes(%B, %P, %M)
       {indexing_maps = [affine_map<(b, p, m) -> (b, m, p)>,
                         affine_map<(b, p, m) -> (b, p)>],
        kind = #attn.reduction<max>} -> tensor<?x?xf32> {
  ^bb0(%x: f32, %b: index, %p: index, %m: index):
    attn.yield %x : f32
  }
  %sn = attn.einsum ins(%s, %gm : tensor<?x?x?xf32>, tensor<?x?xf32>) sizes(%B, %M, %P)
       {indexing_maps = [affine_map<(b, m, p) -> (b, m, p)>,
                         affine_map<(b, m, p) -> (b, p)>,
                         affine_map<(b, m, p) -> (b, m, p)>],
        kind = #attn.reduction<none>} -> tensor<?x?x?xf32> {
  ^bb0(%x: f32, %g: f32, %b: index, %m: index, %p: index):
    %d = arith.subf %x, %g : f32
    %e = math.exp %d : f32
    attn.yield %e : f32
  }
  %sd = attn.einsum ins(%sn : tensor<?x?x?xf32>) sizes(%B, %P, %M)
       {indexing_maps = [affine_map<(b, p, m) -> (b, m, p)>,
                         affine_map<(b, p, m) -> (b, p)>],
        kind = #attn.reduction<sum>} -> tensor<?x?xf32> {
  ^bb0(%x: f32, %b: index, %p: index, %m: index):
    attn.yield %x : f32
  }
  %snv = attn.einsum ins(%sn, %v : tensor<?x?x?xf32>, tensor<?x?x?xDT>) sizes(%B, %P, %F, %M)
       {indexing_maps = [affine_map<(b, p, f, m) -> (b, m, p)>,
                         affine_map<(b, p, f, m) -> (b, m, f)>,
                         affine_map<(b, p, f, m) -> (b, p, f)>],
        kind = #attn.reduction<sum>} -> tensor<?x?x?xf32> {
  ^bb0(%x: f32, %y0: DT, %b: index, %p: index, %f: index, %m: index):
    EXT(%y, %y0)
    %z = arith.mulf %x, %y : f32
    attn.yield %z : f32
  }
  %o = attn.einsum ins(%snv, %sd : tensor<?x?x?xf32>, tensor<?x?xf32>) sizes(%B, %P, %F)
       {indexing_maps = [affine_map<(b, p, f) -> (b, p, f)>,
                         affine_map<(b, p, f) -> (b, p)>,
                         affine_map<(b, p, f) -> (b, p, f)>],
        kind = #attn.reduction<none>} -> tensor<?x?x?xf32> {
  ^bb0(%x: f32, %y: f32, %b: index, %p: index, %f: index):
    %z = arith.divf %x, %y : f32
    attn.yield %z : f32
  }
  %r = attn.fill %o, 0.25 : tensor<?x?x?xf32> -> tensor<?x?x?xDT>
  return %r : tensor<?x?x?xDT>
}
)mlir";

std::string causalKernel(const std::string &dt) {
  std::string s = replaceAll(kCausal, "DT", dt);
  size_t pos;
  while ((pos = s.find("EXT(")) != std::string::npos) {
    size_t comma = s.find(',', pos), close = s.find(')', pos);
    std::string dst = s.substr(pos + 4, comma - pos - 4);
    std::string src = s.substr(comma + 2, close - comma - 2);
    std::string line =
        dt == "f32" ? dst + " = arith.maximumf " + src + ", " + src + " : f32"
                    : dst + " = arith.extf " + src + " : " + dt + " to f32";
    s.replace(pos, close - pos + 1, line);
  }
  return s;
}

class CausalTest : public HalideCodegenTest {
protected:
  void run(const std::string &dtName, rt::DType dt,
           const HalideCodegenOptions &options = {}) {
    func::FuncOp k = parse(causalKernel(dtName));
    ASSERT_TRUE(k);
    for (auto [B, P, M, E, F] :
         {std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>{3, 9, 11, 5,
                                                                  7},
          {1, 1, 1, 1, 1},
          {2, 17, 13, 3, 9}}) {
      std::vector<RefTensor> got = expectMatchesReference(
          k,
          {RefArg::ofTensor(randomTensor({B, P, E}, dt, rng, -2, 2)),
           RefArg::ofTensor(randomTensor({B, M, E}, dt, rng, -2, 2)),
           RefArg::ofTensor(randomTensor({B, M, F}, dt, rng))},
          options);
      ASSERT_EQ(got.size(), 1u);
      // The first query row sees no key: it is absent and takes the fill.
      for (int64_t b = 0; b < B; ++b)
        for (int64_t f = 0; f < F; ++f)
          EXPECT_EQ(got[0].values[(b * P) * F + f], 0.25);
    }
  }
};

TEST_F(CausalTest, F32) { run("f32", rt::DType::f32); }
TEST_F(CausalTest, BF16) { run("bf16", rt::DType::bf16); }
TEST_F(CausalTest, F16) { run("f16", rt::DType::f16); }
TEST_F(CausalTest, ComputeRoot) {
  HalideCodegenOptions o;
  o.computeRoot = true;
  run("f32", rt::DType::f32, o);
}
TEST_F(CausalTest, OddTiles) {
  HalideCodegenOptions o;
  o.vectorWidth = 3;
  o.rowTile = 5;
  run("f32", rt::DType::f32, o);
}

TEST_F(HalideCodegenTest, CascadeIsComputedPerTile) {
  func::FuncOp k = parse(causalKernel("bf16"));
  ASSERT_TRUE(k);
  FailureOr<HalideKernel> compiled = HalideKernel::compile(k, {});
  ASSERT_TRUE(succeeded(compiled));
  std::string stmt = compiled->loweredStatement();
  // Everything happens inside the output's parallel loop: the scores (the
  // first einsum; this IR names no statement) are produced there, per tile,
  // not before it.
  // (Halide adds $N to a name it has seen before in the process.)
  std::regex produce(R"(produce einsum(\$\d+)? \{)");
  std::smatch scores;
  size_t parallel = stmt.find("halide_do_par_for");
  ASSERT_NE(parallel, std::string::npos) << stmt;
  ASSERT_TRUE(std::regex_search(stmt, scores, produce)) << stmt;
  EXPECT_FALSE(std::regex_search(stmt.substr(parallel), produce)) << stmt;
}

//===----------------------------------------------------------------------===//
// max, min, prod, f64, and a count whose body ignores the reduced index
//===----------------------------------------------------------------------===//

const char *kReductions = R"mlir(
func.func @reductions(%x: tensor<?x?xf32> {attn.name = "X", attn.dims = ["P", "E"]},
                      %y: tensor<?x?xf64> {attn.name = "Y", attn.dims = ["P", "E"]})
    -> (tensor<?xf32> {attn.name = "MX", attn.dims = ["P"]},
        tensor<?xf32> {attn.name = "MN", attn.dims = ["P"]},
        tensor<?xf64> {attn.name = "PR", attn.dims = ["P"]},
        tensor<?xf32> {attn.name = "CNT", attn.dims = ["P"]})
    attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %P = tensor.dim %x, %c0 : tensor<?x?xf32>
  %E = tensor.dim %x, %c1 : tensor<?x?xf32>
  // MX[p] = max(e) X[p, e] where e >= p: rows p >= E are absent.
  %mx = attn.einsum ins(%x : tensor<?x?xf32>) sizes(%P, %E)
       {indexing_maps = [affine_map<(p, e) -> (p, e)>, affine_map<(p, e) -> (p)>],
        kind = #attn.reduction<max>,
        filter = [affine_set<(p, e) : (e - p >= 0)>]} -> tensor<?xf32> {
  ^bb0(%v: f32, %p: index, %e: index):
    attn.yield %v : f32
  }
  %mn = attn.einsum ins(%x : tensor<?x?xf32>) sizes(%P, %E)
       {indexing_maps = [affine_map<(p, e) -> (p, e)>, affine_map<(p, e) -> (p)>],
        kind = #attn.reduction<min>} -> tensor<?xf32> {
  ^bb0(%v: f32, %p: index, %e: index):
    %w = arith.negf %v : f32
    attn.yield %w : f32
  }
  %pr = attn.einsum ins(%y : tensor<?x?xf64>) sizes(%P, %E)
       {indexing_maps = [affine_map<(p, e) -> (p, e)>, affine_map<(p, e) -> (p)>],
        kind = #attn.reduction<prod>} -> tensor<?xf64> {
  ^bb0(%v: f64, %p: index, %e: index):
    attn.yield %v : f64
  }
  %cnt = attn.einsum sizes(%P, %E)
       {indexing_maps = [affine_map<(p, e) -> (p)>],
        kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%p: index, %e: index):
    %one = arith.constant 1.0 : f32
    attn.yield %one : f32
  }
  %o1 = attn.fill %mx, -1.0 : tensor<?xf32> -> tensor<?xf32>
  %o2 = attn.fill %mn, 0.0 : tensor<?xf32> -> tensor<?xf32>
  %o3 = attn.fill %pr, 0.0 : tensor<?xf64> -> tensor<?xf64>
  %o4 = attn.fill %cnt, 0.0 : tensor<?xf32> -> tensor<?xf32>
  return %o1, %o2, %o3, %o4 : tensor<?xf32>, tensor<?xf32>, tensor<?xf64>, tensor<?xf32>
}
)mlir";

TEST_F(HalideCodegenTest, MaxMinProdReductions) {
  func::FuncOp k = parse(kReductions);
  ASSERT_TRUE(k);
  for (auto [P, E] : {std::pair<int64_t, int64_t>{9, 5}, {3, 7}, {1, 1}}) {
    std::vector<RefTensor> got = expectMatchesReference(
        k, {RefArg::ofTensor(randomTensor({P, E}, rt::DType::f32, rng)),
            RefArg::ofTensor(
                randomTensor({P, E}, rt::DType::f64, rng, 0.5, 1.5))});
    ASSERT_EQ(got.size(), 4u);
    for (int64_t p = E; p < P; ++p)
      EXPECT_EQ(got[0].values[p], -1.0) << "absent row " << p;
    for (int64_t p = 0; p < P; ++p)
      EXPECT_EQ(got[3].values[p], double(E)) << "count of row " << p;
  }
}

//===----------------------------------------------------------------------===//
// A union filter with a symbol (sinks or a sliding window of W)
//===----------------------------------------------------------------------===//

const char *kUnion = R"mlir(
func.func @sinks(%x: tensor<?x?xf32> {attn.name = "X", attn.dims = ["M", "P"]},
                 %w: i64 {attn.name = "W"})
    -> (tensor<?xf32> {attn.name = "R", attn.dims = ["P"]},
        tensor<?x?xf32> {attn.name = "EX", attn.dims = ["M", "P"]})
    attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %M = tensor.dim %x, %c0 : tensor<?x?xf32>
  %P = tensor.dim %x, %c1 : tensor<?x?xf32>
  %W = arith.index_cast %w : i64 to index
  // m < 2 or (m <= p and p - m < W)
  %r = attn.einsum ins(%x : tensor<?x?xf32>) sizes(%P, %M) symbols(%W)
       {indexing_maps = [affine_map<(p, m)[w] -> (m, p)>, affine_map<(p, m)[w] -> (p)>],
        kind = #attn.reduction<sum>,
        filter = [affine_set<(p, m)[w] : (1 - m >= 0)>,
                  affine_set<(p, m)[w] : (p - m >= 0, w - 1 - p + m >= 0)>]} -> tensor<?xf32> {
  ^bb0(%v: f32, %p: index, %m: index):
    attn.yield %v : f32
  }
  %e = attn.einsum ins(%x : tensor<?x?xf32>) sizes(%M, %P) symbols(%W)
       {indexing_maps = [affine_map<(m, p)[w] -> (m, p)>, affine_map<(m, p)[w] -> (m, p)>],
        kind = #attn.reduction<none>,
        filter = [affine_set<(m, p)[w] : (1 - m >= 0)>,
                  affine_set<(m, p)[w] : (p - m >= 0, w - 1 - p + m >= 0)>]} -> tensor<?x?xf32> {
  ^bb0(%v: f32, %m: index, %p: index):
    %y = math.exp %v : f32
    attn.yield %y : f32
  }
  %o1 = attn.fill %r, 0.0 : tensor<?xf32> -> tensor<?xf32>
  %o2 = attn.fill %e, -5.0 : tensor<?x?xf32> -> tensor<?x?xf32>
  return %o1, %o2 : tensor<?xf32>, tensor<?x?xf32>
}
)mlir";

TEST_F(HalideCodegenTest, UnionFilter) {
  func::FuncOp k = parse(kUnion);
  ASSERT_TRUE(k);
  for (auto [M, P, W] : {std::tuple<int64_t, int64_t, int64_t>{11, 9, 3},
                         {5, 13, 1},
                         {1, 1, 7}}) {
    std::vector<RefTensor> got = expectMatchesReference(
        k, {RefArg::ofTensor(randomTensor({M, P}, rt::DType::f32, rng)),
            RefArg::ofScalar(double(W))});
    ASSERT_EQ(got.size(), 2u);
    for (int64_t m = 2; m < M; ++m) // above the diagonal: outside the filter
      for (int64_t p = 0; p < std::min(m, P); ++p)
        EXPECT_EQ(got[1].values[m * P + p], -5.0);
  }
}

//===----------------------------------------------------------------------===//
// A guard that reads a table; index values as numbers
//===----------------------------------------------------------------------===//

const char *kGuard = R"mlir(
func.func @guarded(%x: tensor<?x?xf32> {attn.name = "X", attn.dims = ["B", "M"]},
                   %len: tensor<?xi32> {attn.name = "Len", attn.dims = ["B"]})
    -> (tensor<?xf32> {attn.name = "S", attn.dims = ["B"]})
    attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %B = tensor.dim %x, %c0 : tensor<?x?xf32>
  %M = tensor.dim %x, %c1 : tensor<?x?xf32>
  // S[b] = sum(m) X[b, m] * m where m < Len[b]
  %s = attn.einsum ins(%x : tensor<?x?xf32>) tables(%len : tensor<?xi32>) sizes(%B, %M)
       {indexing_maps = [affine_map<(b, m) -> (b, m)>, affine_map<(b, m) -> (b)>],
        kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%v: f32, %b: index, %m: index):
    %mi = arith.index_cast %m : index to i64
    %mf = arith.sitofp %mi : i64 to f32
    %y = arith.mulf %v, %mf : f32
    attn.yield %y : f32
  } guard {
  ^bb0(%b: index, %m: index):
    %l = attn.read %len[%b] : tensor<?xi32> -> i32
    %li = arith.index_cast %l : i32 to index
    %c = arith.cmpi slt, %m, %li : index
    attn.yield %c : i1
  }
  %o = attn.fill %s, -2.0 : tensor<?xf32> -> tensor<?xf32>
  return %o : tensor<?xf32>
}
)mlir";

TEST_F(HalideCodegenTest, GuardReadsTable) {
  func::FuncOp k = parse(kGuard);
  ASSERT_TRUE(k);
  std::vector<RefTensor> got = expectMatchesReference(
      k, {RefArg::ofTensor(randomTensor({5, 13}, rt::DType::f32, rng)),
          RefArg::ofTensor(tensorOf({5}, {3, 0, 13, 20, -4}))});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].values[1], -2.0);
  EXPECT_EQ(got[0].values[4], -2.0);
}

//===----------------------------------------------------------------------===//
// A paged gather: a page table read through a semi-affine map, the cache a
// table read at data-dependent indices, a length guard
//===----------------------------------------------------------------------===//

const char *kPaged = R"mlir(
func.func @paged(%q: tensor<?x?xf32> {attn.name = "Q", attn.dims = ["B", "E"]},
                 %kc: tensor<?x?x?xbf16> {attn.name = "Kc", attn.dims = ["NP", "PS", "E"]},
                 %page: tensor<?x?xi32> {attn.name = "Page", attn.dims = ["B", "NB"]},
                 %len: tensor<?xi32> {attn.name = "Len", attn.dims = ["B"]})
    -> (tensor<?x?xf32> {attn.name = "S", attn.dims = ["B", "M"]})
    attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %B = tensor.dim %q, %c0 : tensor<?x?xf32>
  %E = tensor.dim %q, %c1 : tensor<?x?xf32>
  %PS = tensor.dim %kc, %c1 : tensor<?x?x?xbf16>
  %NB = tensor.dim %page, %c1 : tensor<?x?xi32>
  %M = arith.muli %NB, %PS : index
  // S[b, m] = sum(e) Q[b, e] * Kc[Page[b, m / PS], m % PS, e] where m < Len[b]
  %s = attn.einsum ins(%q, %page : tensor<?x?xf32>, tensor<?x?xi32>)
       tables(%kc, %len : tensor<?x?x?xbf16>, tensor<?xi32>)
       sizes(%B, %M, %E) symbols(%PS)
       {indexing_maps = [affine_map<(b, m, e)[ps] -> (b, e)>,
                         affine_map<(b, m, e)[ps] -> (b, m floordiv ps)>,
                         affine_map<(b, m, e)[ps] -> (b, m)>],
        kind = #attn.reduction<sum>} -> tensor<?x?xf32> {
  ^bb0(%qv: f32, %pg: i32, %b: index, %m: index, %e: index):
    %i = arith.index_cast %pg : i32 to index
    %d = arith.floordivsi %m, %PS : index
    %t = arith.muli %d, %PS : index
    %o = arith.subi %m, %t : index
    %kv = attn.read %kc[%i, %o, %e] : tensor<?x?x?xbf16> -> bf16
    %kf = arith.extf %kv : bf16 to f32
    %z = arith.mulf %qv, %kf : f32
    attn.yield %z : f32
  } guard {
  ^bb0(%b: index, %m: index, %e: index):
    %l = attn.read %len[%b] : tensor<?xi32> -> i32
    %li = arith.index_cast %l : i32 to index
    %c = arith.cmpi slt, %m, %li : index
    attn.yield %c : i1
  }
  %r = attn.fill %s, 0.0 : tensor<?x?xf32> -> tensor<?x?xf32>
  return %r : tensor<?x?xf32>
}
)mlir";

class PagedTest : public HalideCodegenTest {
protected:
  // B = 3 sequences of NB = 3 pages of PS = 4 tokens; NP = 7 pages; E = 5.
  std::vector<RefArg> args(std::vector<double> page, std::vector<double> len) {
    return {RefArg::ofTensor(randomTensor({3, 5}, rt::DType::f32, rng)),
            RefArg::ofTensor(randomTensor({7, 4, 5}, rt::DType::bf16, rng)),
            RefArg::ofTensor(tensorOf({3, 3}, std::move(page))),
            RefArg::ofTensor(tensorOf({3}, std::move(len)))};
  }
};

TEST_F(PagedTest, Gather) {
  func::FuncOp k = parse(kPaged);
  ASSERT_TRUE(k);
  // Sequence 1 is empty; pages past a sequence's end hold garbage (99, -1),
  // never read.
  expectMatchesReference(k, args({6, 2, 99, -1, 5, 3, 0, 4, 1}, {7, 0, 12}));
}

TEST_F(PagedTest, OutOfRangePageIsAnError) {
  func::FuncOp k = parse(kPaged);
  ASSERT_TRUE(k);
  // Page[0, 1] = 7 is read (token 5 < Len[0] = 7): there is no page 7.
  expectRunError(k, args({6, 7, 1, 0, 5, 3, 0, 4, 1}, {7, 1, 12}),
                 "out-of-range read of Kc: dimension 0 has extent 7");
  // Negative, too.
  expectRunError(k, args({6, 2, 1, 0, 5, 3, 0, -1, 1}, {7, 1, 12}),
                 "out-of-range read of Kc: dimension 0 has extent 7");
  // The same entry where the guard excludes it (Len[0] = 4) is never read.
  expectMatchesReference(k, args({6, 7, 1, 0, 5, 3, 0, 4, 1}, {4, 1, 12}));
}

//===----------------------------------------------------------------------===//
// Affine reads that may leave a tensor: checked only where the point exists
//===----------------------------------------------------------------------===//

// SB[m, p] = X[m, p] + Bias[p - m + OFF] where m <= p (OFF a symbol),
// GH[h, p] = Y[h floordiv G, p] * Hs[h] (grouped heads, G a scalar argument)
// and T[i] = Z[i mod 4, i floordiv 4].
const char *kAffine = R"mlir(
func.func @affine(%x: tensor<?x?xf32> {attn.name = "X", attn.dims = ["M", "P"]},
                  %bias: tensor<?xf32> {attn.name = "Bias", attn.dims = ["R"]},
                  %off: i64 {attn.name = "OFF"},
                  %y: tensor<?x?xf32> {attn.name = "Y", attn.dims = ["KVH", "P"]},
                  %g: i64 {attn.name = "G"},
                  %h: tensor<?xf32> {attn.name = "Hs", attn.dims = ["H"]},
                  %z: tensor<4x?xf32> {attn.name = "Z", attn.dims = ["4", "N"]})
    -> (tensor<?x?xf32> {attn.name = "SB", attn.dims = ["M", "P"]},
        tensor<?x?xf32> {attn.name = "GH", attn.dims = ["H", "P"]},
        tensor<?xf32> {attn.name = "T", attn.dims = ["I"]})
    attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %M = tensor.dim %x, %c0 : tensor<?x?xf32>
  %P = tensor.dim %x, %c1 : tensor<?x?xf32>
  %H = tensor.dim %h, %c0 : tensor<?xf32>
  %N = tensor.dim %z, %c1 : tensor<4x?xf32>
  %I = arith.muli %N, %c4 : index
  %OFF = arith.index_cast %off : i64 to index
  %G = arith.index_cast %g : i64 to index
  %sb = attn.einsum ins(%x, %bias : tensor<?x?xf32>, tensor<?xf32>) sizes(%M, %P) symbols(%OFF)
       {indexing_maps = [affine_map<(m, p)[o] -> (m, p)>,
                         affine_map<(m, p)[o] -> (p - m + o)>,
                         affine_map<(m, p)[o] -> (m, p)>],
        kind = #attn.reduction<none>,
        filter = [affine_set<(m, p)[o] : (p - m >= 0)>]} -> tensor<?x?xf32> {
  ^bb0(%a: f32, %b: f32, %m: index, %p: index):
    %s = arith.addf %a, %b : f32
    attn.yield %s : f32
  }
  %gh = attn.einsum ins(%y, %h : tensor<?x?xf32>, tensor<?xf32>) sizes(%H, %P) symbols(%G)
       {indexing_maps = [affine_map<(h, p)[g] -> (h floordiv g, p)>,
                         affine_map<(h, p)[g] -> (h)>,
                         affine_map<(h, p)[g] -> (h, p)>],
        kind = #attn.reduction<none>} -> tensor<?x?xf32> {
  ^bb0(%a: f32, %b: f32, %hh: index, %p: index):
    %s = arith.mulf %a, %b : f32
    attn.yield %s : f32
  }
  %t = attn.einsum ins(%z : tensor<4x?xf32>) sizes(%I)
       {indexing_maps = [affine_map<(i) -> (i mod 4, i floordiv 4)>,
                         affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%a: f32, %i: index):
    attn.yield %a : f32
  }
  %o1 = attn.fill %sb, 0.0 : tensor<?x?xf32> -> tensor<?x?xf32>
  %o2 = attn.fill %gh, 0.0 : tensor<?x?xf32> -> tensor<?x?xf32>
  %o3 = attn.fill %t, 0.0 : tensor<?xf32> -> tensor<?xf32>
  return %o1, %o2, %o3 : tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>
}
)mlir";

class AffineTest : public HalideCodegenTest {
protected:
  std::vector<RefArg> args(int64_t M, int64_t P, int64_t R, int64_t OFF,
                           int64_t KVH, int64_t G, int64_t H, int64_t N) {
    return {RefArg::ofTensor(randomTensor({M, P}, rt::DType::f32, rng)),
            RefArg::ofTensor(randomTensor({R}, rt::DType::f32, rng)),
            RefArg::ofScalar(double(OFF)),
            RefArg::ofTensor(randomTensor({KVH, P}, rt::DType::f32, rng)),
            RefArg::ofScalar(double(G)),
            RefArg::ofTensor(randomTensor({H}, rt::DType::f32, rng)),
            RefArg::ofTensor(randomTensor({4, N}, rt::DType::f32, rng))};
  }
};

TEST_F(AffineTest, InRange) {
  func::FuncOp k = parse(kAffine);
  ASSERT_TRUE(k);
  // p - m ranges over [0, P - 1] inside the filter: R = P + OFF suffices
  // although p - m + OFF < 0 outside it.
  expectMatchesReference(k, args(7, 9, 9, 0, 3, 3, 9, 5));
  expectMatchesReference(k, args(5, 3, 5, 2, 1, 4, 3, 1));
}

TEST_F(AffineTest, OutOfRange) {
  func::FuncOp k = parse(kAffine);
  ASSERT_TRUE(k);
  expectRunError(k, args(7, 9, 8, 0, 3, 3, 9, 5),
                 "out-of-range read of Bias: dimension 0 has extent 8");
  expectRunError(k, args(7, 9, 9, -1, 3, 3, 9, 5),
                 "out-of-range read of Bias: dimension 0 has extent 9");
  expectRunError(k, args(7, 9, 9, 0, 2, 3, 9, 5),
                 "out-of-range read of Y: dimension 0 has extent 2");
}

//===----------------------------------------------------------------------===//
// Presence through tables and integers: a bool mask read by a guard, an
// intermediate read as a table (absent rows stay absent), an i32 reduction,
// a rank-0 result, a result returned unfilled and one returned twice.
//===----------------------------------------------------------------------===//

const char *kMisc = R"mlir(
func.func @misc(%x: tensor<?x?xf32> {attn.name = "X", attn.dims = ["P", "M"]},
                %mask: tensor<?x?xi1> {attn.name = "Mask", attn.dims = ["P", "M"]},
                %s: f32 {attn.name = "s"})
    -> (tensor<?xf32> {attn.name = "T", attn.dims = ["P"]},
        tensor<f32> {attn.name = "TOT", attn.dims = []},
        tensor<?xi32> {attn.name = "IDX", attn.dims = ["P"]},
        tensor<?xbf16> {attn.name = "G", attn.dims = ["P"]},
        tensor<?x?xf32> {attn.name = "A", attn.dims = ["P", "M"]},
        tensor<?xf32> {attn.name = "T2", attn.dims = ["P"]})
    attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %P = tensor.dim %x, %c0 : tensor<?x?xf32>
  %M = tensor.dim %x, %c1 : tensor<?x?xf32>
  // A[p, m] = X[p, m] * s where Mask[p, m]
  %a = attn.einsum ins(%x : tensor<?x?xf32>) tables(%mask : tensor<?x?xi1>) sizes(%P, %M)
       {indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p, m)>],
        kind = #attn.reduction<none>} -> tensor<?x?xf32> {
  ^bb0(%v: f32, %p: index, %m: index):
    %y = arith.mulf %v, %s : f32
    attn.yield %y : f32
  } guard {
  ^bb0(%p: index, %m: index):
    %b = attn.read %mask[%p, %m] : tensor<?x?xi1> -> i1
    attn.yield %b : i1
  }
  // T[p] = sum(m) A[p, m]: absent where a row of the mask is all false.
  %t = attn.einsum ins(%a : tensor<?x?xf32>) sizes(%P, %M)
       {indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>],
        kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%v: f32, %p: index, %m: index):
    attn.yield %v : f32
  }
  // TOT = sum(p) T[p]
  %tot = attn.einsum ins(%t : tensor<?xf32>) sizes(%P)
       {indexing_maps = [affine_map<(p) -> (p)>, affine_map<(p) -> ()>],
        kind = #attn.reduction<sum>} -> tensor<f32> {
  ^bb0(%v: f32, %p: index):
    attn.yield %v : f32
  }
  // IDX[p] = max(m) m where A[p, m] is present
  %idx = attn.einsum ins(%a : tensor<?x?xf32>) sizes(%P, %M)
       {indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>],
        kind = #attn.reduction<max>} -> tensor<?xi32> {
  ^bb0(%v: f32, %p: index, %m: index):
    %i = arith.index_cast %m : index to i32
    attn.yield %i : i32
  }
  // G[p] = T[P - 1 - p] * 2, T read as a table.
  %g = attn.einsum tables(%t : tensor<?xf32>) sizes(%P)
       {indexing_maps = [affine_map<(p) -> (p)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%p: index):
    %one = arith.constant 1 : index
    %last = arith.subi %P, %one : index
    %q = arith.subi %last, %p : index
    %v = attn.read %t[%q] : tensor<?xf32> -> f32
    %two = arith.constant 2.0 : f32
    %w = arith.mulf %v, %two : f32
    attn.yield %w : f32
  }
  %o1 = attn.fill %t, 0.5 : tensor<?xf32> -> tensor<?xf32>
  %o2 = attn.fill %tot, 0.0 : tensor<f32> -> tensor<f32>
  %o3 = attn.fill %idx, -1.0 : tensor<?xi32> -> tensor<?xi32>
  %o4 = attn.fill %g, 7.0 : tensor<?xf32> -> tensor<?xbf16>
  return %o1, %o2, %o3, %o4, %a, %o1 : tensor<?xf32>, tensor<f32>, tensor<?xi32>, tensor<?xbf16>, tensor<?x?xf32>, tensor<?xf32>
}
)mlir";

TEST_F(HalideCodegenTest, PresenceThroughTablesAndIntegers) {
  func::FuncOp k = parse(kMisc);
  ASSERT_TRUE(k);
  int64_t P = 7, M = 9;
  RefTensor mask = randomTensor({P, M}, rt::DType::f64, rng, 0, 1);
  for (double &v : mask.values)
    v = v < 0.6;
  for (int64_t m = 0; m < M; ++m) // rows 2 and 5 are empty
    mask.values[2 * M + m] = mask.values[5 * M + m] = 0;
  std::vector<RefTensor> got = expectMatchesReference(
      k, {RefArg::ofTensor(randomTensor({P, M}, rt::DType::f32, rng)),
          RefArg::ofTensor(mask), RefArg::ofScalar(1.5)});
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[0].values[2], 0.5);
  EXPECT_EQ(got[2].values[5], -1.0);
  EXPECT_EQ(got[3].values[P - 1 - 2], 7.0);
}

//===----------------------------------------------------------------------===//
// Conversions at the kernel boundary: an i1 result, a float filled into i32
// (truncation, saturation), f32 into f16, an input returned as it is.
//===----------------------------------------------------------------------===//

const char *kConversions = R"mlir(
func.func @conversions(%x: tensor<?xf32> {attn.name = "X", attn.dims = ["N"]})
    -> (tensor<?xi1> {attn.name = "POS", attn.dims = ["N"]},
        tensor<?xi32> {attn.name = "I", attn.dims = ["N"]},
        tensor<?xf16> {attn.name = "H", attn.dims = ["N"]},
        tensor<?xf32> {attn.name = "X2", attn.dims = ["N"]})
    attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %N = tensor.dim %x, %c0 : tensor<?xf32>
  // POS[i] = X[i] > 0 where i < 5
  %pos = attn.einsum ins(%x : tensor<?xf32>) sizes(%N)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>,
        filter = [affine_set<(i) : (4 - i >= 0)>]} -> tensor<?xi1> {
  ^bb0(%v: f32, %i: index):
    %zero = arith.constant 0.0 : f32
    %b = arith.cmpf ogt, %v, %zero : f32
    attn.yield %b : i1
  }
  // I[i] = X[i] * 3e9 (beyond i32 for |X| > 0.72) where i >= 2
  %big = attn.einsum ins(%x : tensor<?xf32>) sizes(%N)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>,
        filter = [affine_set<(i) : (i - 2 >= 0)>]} -> tensor<?xf32> {
  ^bb0(%v: f32, %i: index):
    %c = arith.constant 3.0e9 : f32
    %y = arith.mulf %v, %c : f32
    attn.yield %y : f32
  }
  %o1 = attn.fill %pos, 1.0 : tensor<?xi1> -> tensor<?xi1>
  %o2 = attn.fill %big, -3.0 : tensor<?xf32> -> tensor<?xi32>
  %o3 = attn.fill %big, 70000.0 : tensor<?xf32> -> tensor<?xf16>
  return %o1, %o2, %o3, %x : tensor<?xi1>, tensor<?xi32>, tensor<?xf16>, tensor<?xf32>
}
)mlir";

TEST_F(HalideCodegenTest, ConversionsAtTheBoundary) {
  func::FuncOp k = parse(kConversions);
  ASSERT_TRUE(k);
  std::vector<RefTensor> got = expectMatchesReference(
      k, {RefArg::ofTensor(randomTensor({13}, rt::DType::f32, rng))});
  ASSERT_EQ(got.size(), 4u);
  for (int64_t i = 5; i < 13; ++i)
    EXPECT_EQ(got[0].values[i], 1.0);
  EXPECT_EQ(got[1].values[0], -3.0);
  EXPECT_EQ(got[2].values[1], INFINITY); // 70000 overflows f16
}

//===----------------------------------------------------------------------===//
// Integer division by zero inside a region
//===----------------------------------------------------------------------===//

const char *kDivide = R"mlir(
func.func @divide(%x: tensor<?xf32> {attn.name = "X", attn.dims = ["N"]},
                  %d: i64 {attn.name = "d"})
    -> (tensor<?xf32> {attn.name = "Y", attn.dims = ["N"]})
    attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %N = tensor.dim %x, %c0 : tensor<?xf32>
  // Y[i] = X[i] + i / d
  %y = attn.einsum ins(%x : tensor<?xf32>) sizes(%N)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%v: f32, %i: index):
    %di = arith.index_cast %d : i64 to index
    %q = arith.floordivsi %i, %di : index
    %qi = arith.index_cast %q : index to i64
    %qf = arith.sitofp %qi : i64 to f32
    %r = arith.addf %v, %qf : f32
    attn.yield %r : f32
  }
  %o = attn.fill %y, 0.0 : tensor<?xf32> -> tensor<?xf32>
  return %o : tensor<?xf32>
}
)mlir";

TEST_F(HalideCodegenTest, IntegerDivisionByZeroIsAnError) {
  func::FuncOp k = parse(kDivide);
  ASSERT_TRUE(k);
  RefTensor x = randomTensor({11}, rt::DType::f32, rng);
  expectMatchesReference(k, {RefArg::ofTensor(x), RefArg::ofScalar(3)});
  expectMatchesReference(k, {RefArg::ofTensor(x), RefArg::ofScalar(-4)});
  expectRunError(k, {RefArg::ofTensor(x), RefArg::ofScalar(0)},
                 "integer division by zero");
}

//===----------------------------------------------------------------------===//
// Scalar functions and integer arithmetic, one elementwise einsum each
//===----------------------------------------------------------------------===//

/// Body lines computing %r (f32) from %x in [-2, 2], %z in [0.1, 3] and the
/// index %i (negative operands for the integer divisions).
const std::vector<std::pair<const char *, const char *>> kScalarBodies = {
    {"exp", "%r = math.exp %x : f32"},
    {"log", "%r = math.log %z : f32"},
    {"tanh", "%r = math.tanh %x : f32"},
    {"sqrt", "%r = math.sqrt %z : f32"},
    {"rsqrt", "%r = math.rsqrt %z : f32"},
    {"abs", "%r = math.absf %x : f32"},
    {"pow_int", "%c = arith.constant 3.0 : f32\n"
                "%r = math.powf %x, %c : f32"},
    {"pow", "%r = math.powf %z, %x : f32"},
    {"softplus", "%e = math.exp %x : f32\n%r = math.log1p %e : f32"},
    {"log1p_small", "%c = arith.constant 1.0e-6 : f32\n"
                    "%y = arith.mulf %x, %c : f32\n%r = math.log1p %y : f32"},
    {"sigmoid",
     "%n = arith.negf %x : f32\n%e = math.exp %n : f32\n"
     "%one = arith.constant 1.0 : f32\n"
     "%d = arith.addf %one, %e : f32\n%r = arith.divf %one, %d : f32"},
    {"relu", "%c = arith.constant 0.0 : f32\n%r = arith.maximumf %x, %c : f32"},
    {"min", "%r = arith.minimumf %x, %z : f32"},
    {"select", "%c = arith.constant 0.0 : f32\n"
               "%b = arith.cmpf ogt, %x, %c : f32\n"
               "%r = arith.select %b, %x, %z : f32"},
    {"compare", "%b = arith.cmpf olt, %x, %z : f32\n"
                "%r = arith.uitofp %b : i1 to f32"},
    {"fptosi", "%c = arith.constant 3.0 : f32\n%y = arith.mulf %x, %c : f32\n"
               "%k = arith.fptosi %y : f32 to i32\n"
               "%r = arith.sitofp %k : i32 to f32"},
    {"truncf", "%h = arith.truncf %x : f32 to bf16\n"
               "%r = arith.extf %h : bf16 to f32"},
    {"index_div",
     "%c5 = arith.constant 5 : index\n%c3 = arith.constant -3 : index\n"
     "%a = arith.subi %i, %c5 : index\n"
     "%q = arith.divsi %a, %c3 : index\n"
     "%m = arith.remsi %a, %c3 : index\n"
     "%f = arith.floordivsi %a, %c3 : index\n"
     "%s1 = arith.muli %q, %c5 : index\n"
     "%s2 = arith.addi %s1, %m : index\n"
     "%s3 = arith.muli %f, %c3 : index\n"
     "%s4 = arith.addi %s2, %s3 : index\n"
     "%k = arith.index_cast %s4 : index to i64\n"
     "%r = arith.sitofp %k : i64 to f32"},
    {"int_compare", "%c5 = arith.constant 5 : index\n"
                    "%b = arith.cmpi sle, %i, %c5 : index\n"
                    "%e = arith.extui %b : i1 to i32\n"
                    "%t = arith.trunci %e : i32 to i1\n"
                    "%r = arith.uitofp %t : i1 to f32"},
};

std::string scalarKernel(const char *name, const char *body) {
  std::string lines;
  for (StringRef line : llvm::split(StringRef(body), "\n"))
    lines += "    " + line.str() + "\n";
  return std::string(R"mlir(
func.func @)mlir") +
         name + R"mlir((
    %xs: tensor<?xf32> {attn.name = "X", attn.dims = ["N"]},
    %zs: tensor<?xf32> {attn.name = "Z", attn.dims = ["N"]})
    -> (tensor<?xf32> {attn.name = "Y", attn.dims = ["N"]})
    attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %N = tensor.dim %xs, %c0 : tensor<?xf32>
  %y = attn.einsum ins(%xs, %zs : tensor<?xf32>, tensor<?xf32>) sizes(%N)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>,
                         affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%x: f32, %z: f32, %i: index):
)mlir" + lines +
         R"mlir(    attn.yield %r : f32
  }
  %o = attn.fill %y, 0.0 : tensor<?xf32> -> tensor<?xf32>
  return %o : tensor<?xf32>
}
)mlir";
}

TEST_F(HalideCodegenTest, ScalarFunctions) {
  for (auto [name, body] : kScalarBodies) {
    SCOPED_TRACE(name);
    func::FuncOp k = parse(scalarKernel(name, body));
    ASSERT_TRUE(k);
    expectMatchesReference(
        k, {RefArg::ofTensor(randomTensor({37}, rt::DType::f32, rng, -2, 2)),
            RefArg::ofTensor(randomTensor({37}, rt::DType::f32, rng, 0.1, 3))});
  }
}

//===----------------------------------------------------------------------===//
// Argument checks and unsupported IR
//===----------------------------------------------------------------------===//

TEST_F(HalideCodegenTest, BadArguments) {
  func::FuncOp k = parse(causalKernel("f32"));
  ASSERT_TRUE(k);
  RefTensor q = randomTensor({2, 5, 3}, rt::DType::f32, rng);
  RefTensor kk = randomTensor({2, 7, 4}, rt::DType::f32, rng);
  RefTensor v = randomTensor({2, 7, 3}, rt::DType::f32, rng);
  expectRunError(
      k, {RefArg::ofTensor(q), RefArg::ofTensor(kk), RefArg::ofTensor(v)},
      "size symbol E");
  expectRunError(k, {RefArg::ofTensor(q), RefArg::ofTensor(v)},
                 "takes 3 arguments");
  expectRunError(k,
                 {RefArg::ofTensor(q), RefArg::ofTensor(zeros({7, 3})),
                  RefArg::ofTensor(v)},
                 "must have rank 3");
  expectRunError(
      k, {RefArg::ofTensor(q), RefArg::ofScalar(1), RefArg::ofTensor(v)},
      "must be a tensor");
}

TEST_F(HalideCodegenTest, UnsupportedOpIsADiagnostic) {
  func::FuncOp k = parse(R"mlir(
func.func @cbrt(%x: tensor<?xf32> {attn.name = "X", attn.dims = ["N"]})
    -> (tensor<?xf32> {attn.name = "Y", attn.dims = ["N"]}) attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %N = tensor.dim %x, %c0 : tensor<?xf32>
  %y = attn.einsum ins(%x : tensor<?xf32>) sizes(%N)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%v: f32, %i: index):
    %c = math.cbrt %v : f32
    attn.yield %c : f32
  }
  %o = attn.fill %y, 0.0 : tensor<?xf32> -> tensor<?xf32>
  return %o : tensor<?xf32>
}
)mlir");
  ASSERT_TRUE(k);
  std::vector<RefTensor> results;
  std::string error;
  EXPECT_TRUE(failed(
      runKernelOnCpu(k, {RefArg::ofTensor(zeros({3}))}, results, error)));
  EXPECT_NE(error.find("'math.cbrt' op is not supported by the Halide code "
                       "generator"),
            std::string::npos)
      << error;
}

//===----------------------------------------------------------------------===//
// Every example, compiled from source, against the interpreter
//===----------------------------------------------------------------------===//

/// Sizes for the examples' symbols: odd where they can be, consistent where
/// the examples tie symbols together (R = P + M - 1 for relative positions,
/// Layout blocks of 16, a KV cache of NP pages of PS tokens).
int64_t exampleSize(const std::string &sym) {
  static const std::map<std::string, int64_t> sizes = {
      {"B", 2},  {"H", 3},  {"KVH", 1}, {"P", 7},  {"M", 9},
      {"E", 5},  {"F", 3},  {"R", 15},  {"NP", 5}, {"PS", 4},
      {"NB", 3}, {"PB", 1}, {"MB", 1},  {"N", 5}};
  auto it = sizes.find(sym);
  if (it != sizes.end())
    return it->second;
  long long lit;
  if (!StringRef(sym).getAsInteger(10, lit))
    return lit;
  return 3;
}

TEST_F(HalideCodegenTest, Examples) {
  std::error_code ec;
  std::string dir = std::string(ATTN_SOURCE_DIR) + "/examples";
  std::vector<std::string> files;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec))
    if (StringRef(it->path()).ends_with(".attn"))
      files.push_back(it->path());
  std::sort(files.begin(), files.end());
  if (files.empty())
    GTEST_SKIP() << "no examples in " << dir;
  unsigned compared = 0;
  for (const std::string &path : files) {
    SCOPED_TRACE(path);
    auto buffer = llvm::MemoryBuffer::getFile(path);
    ASSERT_TRUE(bool(buffer));
    llvm::SourceMgr sourceMgr;
    sourceMgr.AddNewSourceBuffer(std::move(*buffer), llvm::SMLoc());
    std::string diagnostics;
    OwningOpRef<ModuleOp> m;
    {
      ScopedDiagnosticHandler handler(context.get(), [&](Diagnostic &d) {
        diagnostics += d.str() + "\n";
        return success();
      });
      m = translateAttnToMLIR(sourceMgr, context.get(), FrontendOptions());
    }
    if (!m) {
      if (diagnostics.empty())
        GTEST_SKIP() << "the frontend is not built yet";
      ADD_FAILURE() << "frontend errors:\n" << diagnostics;
      continue;
    }
    for (func::FuncOp k : m->getOps<func::FuncOp>()) {
      SCOPED_TRACE(k.getSymName().str());
      std::vector<RefArg> args;
      for (unsigned i = 0; i < k.getNumArguments(); ++i) {
        Type type = k.getArgument(i).getType();
        auto tensor = dyn_cast<RankedTensorType>(type);
        if (!tensor) {
          args.push_back(RefArg::ofScalar(type.isIntOrIndex() ? 2 : 0.5));
          continue;
        }
        std::vector<int64_t> shape;
        auto dims = k.getArgAttrOfType<ArrayAttr>(i, kDimsAttr);
        for (int64_t d = 0; d < tensor.getRank(); ++d)
          shape.push_back(
              !tensor.isDynamicDim(d)
                  ? tensor.getDimSize(d)
                  : exampleSize(dims && d < int64_t(dims.size())
                                    ? cast<StringAttr>(dims[d]).str()
                                    : ""));
        Type elem = tensor.getElementType();
        if (elem.isInteger(1) || elem.isInteger(32) || elem.isInteger(64)) {
          // Small integers: page numbers, lengths, layout flags.
          RefTensor t = randomTensor(shape, rt::DType::f64, rng, 0, 4);
          for (double &v : t.values)
            v = elem.isInteger(1) ? double(v >= 2) : std::floor(v);
          args.push_back(RefArg::ofTensor(t));
          continue;
        }
        rt::DType dt = elem.isBF16()  ? rt::DType::bf16
                       : elem.isF16() ? rt::DType::f16
                       : elem.isF64() ? rt::DType::f64
                                      : rt::DType::f32;
        args.push_back(RefArg::ofTensor(randomTensor(shape, dt, rng)));
      }
      expectMatchesReference(k, args);
      ++compared;
    }
  }
  EXPECT_GT(compared, 0u);
}

} // namespace
