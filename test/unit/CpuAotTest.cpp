// Ahead-of-time CPU kernels (codegen/halide/HalideAot.h) run through the
// runtime's C ABI (runtime/attn_runtime.h): examples compiled to a .so and a
// manifest, loaded, run on random odd sizes with NaN-poisoned outputs and
// compared with the float64 reference; then every kind of bad argument, bad
// manifest and run-time error, each reported as a status and a message.
#include "codegen/halide/HalideAot.h"
#include "dialect/RuntimeDType.h"
#include "codegen/ref/ReferenceInterpreter.h"
#include "dialect/AttnDialect.h"
#include "dialect/AttnOps.h"
#include "frontend/Frontend.h"
#include "runtime/DType.h"
#include "runtime/Runtime.h"
#include "runtime/attn_runtime.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"

#include "test/unit/RefTensorCompare.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

using namespace mlir;
using namespace mlir::attn;
namespace rt = ::attn::rt;

namespace {

/// A small f32 kernel with a literal dimension, a scalar and a fill: the
/// subject of the bad-argument tests (quick to compile).
const char *kSmallSource = R"(
kernel small(Q: f32[B, P, 8], K: f32[B, M, 8], scale: f32)
    -> (O: f32[B, P, M] = 0) {
  O[b,p,m] = Q[b,p,e] * K[b,m,e] * scale
}
)";

/// Sizes for the examples' symbols: odd where they can be, consistent where
/// the examples tie them together (as HalideCodegenTest).
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

rt::DType dtypeOf(Type t) {
  return toRuntimeDType(t).value_or(rt::DType::f32);
}

size_t numElements(const std::vector<int64_t> &shape) {
  size_t n = 1;
  for (int64_t e : shape)
    n *= static_cast<size_t>(e);
  return n;
}

/// Host memory of one tensor in its dtype.
struct Storage {
  rt::DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  Storage(rt::DType dtype, std::vector<int64_t> shape)
      : dtype(dtype), shape(std::move(shape)),
        bytes(std::max<size_t>(1, numElements(this->shape)) *
              rt::dtypeSize(dtype)) {}
  attn_tensor tensor() {
    return rt::hostTensor(bytes.data(), static_cast<attn_dtype>(dtype), shape);
  }
};

using attn_test::relativeError;
using attn_test::sameValue;

bool isNarrowFloat(Type t) {
  if (auto tensor = dyn_cast<RankedTensorType>(t))
    t = tensor.getElementType();
  return t.isBF16() || t.isF16();
}

double tolerance(func::FuncOp kernel) {
  bool narrow = false;
  for (Type t : kernel.getResultTypes())
    narrow |= isNarrowFloat(t);
  for (Type t : kernel.getArgumentTypes())
    narrow |= isNarrowFloat(t);
  return narrow ? 2e-2 : 1e-5;
}

std::string readText(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void writeText(const std::string &path, const std::string &text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

class CpuAotTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    DialectRegistry registry;
    registry.insert<AttnDialect, arith::ArithDialect, math::MathDialect,
                    tensor::TensorDialect, func::FuncDialect>();
    context = new MLIRContext(registry);
    context->loadAllAvailableDialects();
    llvm::SmallString<128> dir;
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("attn-aot-test", dir));
    tempDir = dir.str().str();
  }
  static void TearDownTestSuite() {
    modules.clear();
    delete context;
    context = nullptr;
    llvm::sys::fs::remove_directories(tempDir);
  }

  /// Translates `source` (named `name` in diagnostics); null on error.
  static func::FuncOp translate(const std::string &source,
                                const std::string &name) {
    llvm::SourceMgr sourceMgr;
    sourceMgr.AddNewSourceBuffer(
        llvm::MemoryBuffer::getMemBufferCopy(source, name), llvm::SMLoc());
    std::string diagnostics;
    ScopedDiagnosticHandler handler(context, [&](Diagnostic &d) {
      diagnostics += d.str() + "\n";
      return success();
    });
    OwningOpRef<ModuleOp> m =
        translateAttnToMLIR(sourceMgr, context, FrontendOptions());
    EXPECT_TRUE(bool(m)) << name << ": " << diagnostics;
    if (!m)
      return nullptr;
    auto funcs = m->getOps<func::FuncOp>();
    func::FuncOp k = funcs.empty() ? nullptr : *funcs.begin();
    modules.push_back(std::move(m));
    return k;
  }

  static func::FuncOp example(const std::string &file) {
    std::string path = std::string(ATTN_SOURCE_DIR) + "/examples/" + file;
    return translate(readText(path), path);
  }

  /// Compiles `kernel` to TEMP/NAME.so (or .o); the diagnostics in `error`.
  static FailureOr<CpuArtifact>
  compile(func::FuncOp kernel, std::string &error,
          CpuArtifactKind kind = CpuArtifactKind::SharedObject,
          const std::string &stem = "") {
    std::string name = stem.empty() ? kernel.getSymName().str() : stem;
    std::string path =
        tempDir + "/" + name + (kind == CpuArtifactKind::Object ? ".o" : ".so");
    ScopedDiagnosticHandler handler(context, [&](Diagnostic &d) {
      error += d.str() + "\n";
      return success();
    });
    return compileKernelAheadOfTime(kernel, path, kind);
  }

  /// The shared "small" kernel, compiled once.
  static attn_kernel *small() {
    static attn_kernel *loaded = [] {
      func::FuncOp k = translate(kSmallSource, "small.attn");
      if (!k)
        return static_cast<attn_kernel *>(nullptr);
      std::string error;
      FailureOr<CpuArtifact> a = compile(k, error);
      EXPECT_TRUE(succeeded(a)) << error;
      if (failed(a))
        return static_cast<attn_kernel *>(nullptr);
      smallManifest = a->manifestPath;
      attn_kernel *h = nullptr;
      EXPECT_EQ(attn_load(a->binaryPath.c_str(), &h), ATTN_OK)
          << attn_last_error();
      return h;
    }();
    return loaded;
  }

  /// Random arguments for `kernel` (as HalideCodegenTest's examples).
  std::vector<RefArg> randomArgs(func::FuncOp k) {
    std::vector<RefArg> args;
    for (unsigned i = 0; i < k.getNumArguments(); ++i) {
      Type type = k.getArgument(i).getType();
      auto tensor = dyn_cast<RankedTensorType>(type);
      if (!tensor) {
        args.push_back(RefArg::ofScalar(type.isIntOrIndex() ? 2 : 0.5));
        continue;
      }
      RefTensor t;
      auto dims = k.getArgAttrOfType<ArrayAttr>(i, kDimsAttr);
      for (int64_t d = 0; d < tensor.getRank(); ++d)
        t.shape.push_back(!tensor.isDynamicDim(d)
                              ? tensor.getDimSize(d)
                              : exampleSize(cast<StringAttr>(dims[d]).str()));
      Type elem = tensor.getElementType();
      rt::DType dt = dtypeOf(elem);
      bool integer = dt == rt::DType::i32 || dt == rt::DType::i64 ||
                     dt == rt::DType::boolean;
      std::uniform_real_distribution<double> u(integer ? 0 : -1,
                                               integer ? 4 : 1);
      for (size_t e = 0; e < numElements(t.shape); ++e) {
        double v = u(rng);
        t.values.push_back(dt == rt::DType::boolean ? double(v >= 2)
                           : integer                ? std::floor(v)
                                                    : rt::roundToDType(v, dt));
      }
      args.push_back(RefArg::ofTensor(t));
    }
    return args;
  }

  /// Runs `kernel` (loaded) on `args` through the C ABI: inputs in their
  /// dtypes, outputs shaped from the manifest's dims and poisoned (all bits
  /// set: NaN for floats) first.
  static attn_status runAot(attn_kernel *kernel,
                            const std::vector<RefArg> &args,
                            std::vector<RefTensor> &results) {
    std::vector<Storage> storage;
    storage.reserve(attn_kernel_num_args(kernel));
    std::vector<attn_tensor> tensors;
    std::vector<attn_scalar> scalars;
    std::map<std::string, int64_t> symbols;
    size_t in = 0;
    for (size_t i = 0; i < attn_kernel_num_args(kernel); ++i) {
      attn_arg_info info;
      EXPECT_EQ(attn_kernel_arg_info(kernel, i, &info), ATTN_OK);
      auto dt = static_cast<rt::DType>(info.dtype);
      if (info.is_scalar) {
        double v = args[in++].scalar;
        bool integer = dt == rt::DType::i32 || dt == rt::DType::i64 ||
                       dt == rt::DType::boolean;
        scalars.push_back(
            integer ? rt::intScalar(static_cast<attn_dtype>(dt),
                                    static_cast<int64_t>(v))
                    : rt::floatScalar(static_cast<attn_dtype>(dt), v));
        continue;
      }
      if (!info.is_output) {
        const RefTensor &t = args[in++].tensor;
        for (int d = 0; d < info.rank; ++d)
          symbols[info.dims[d]] = t.shape[d];
        storage.emplace_back(dt, t.shape);
        for (size_t e = 0; e < t.values.size(); ++e)
          rt::storeElement(storage.back().bytes.data(), dt, e, t.values[e]);
      } else {
        std::vector<int64_t> shape;
        for (int d = 0; d < info.rank; ++d) {
          long long lit;
          shape.push_back(StringRef(info.dims[d]).getAsInteger(10, lit)
                              ? symbols.at(info.dims[d])
                              : lit);
        }
        storage.emplace_back(dt, shape);
        std::memset(storage.back().bytes.data(), 0xff,
                    storage.back().bytes.size());
      }
      tensors.push_back(storage.back().tensor());
    }
    attn_status status = attn_run(kernel, tensors.data(), tensors.size(),
                                  scalars.data(), scalars.size());
    results.clear();
    size_t t = 0;
    for (size_t i = 0; i < attn_kernel_num_args(kernel); ++i) {
      attn_arg_info info;
      attn_kernel_arg_info(kernel, i, &info);
      if (info.is_scalar)
        continue;
      const Storage &s = storage[t++];
      if (!info.is_output)
        continue;
      RefTensor r;
      r.shape = s.shape;
      for (size_t e = 0; e < numElements(s.shape); ++e)
        r.values.push_back(rt::loadElement(s.bytes.data(), s.dtype, e));
      results.push_back(std::move(r));
    }
    return status;
  }

  /// Compiles the example, runs it through the runtime and the reference.
  void expectExampleMatches(const std::string &file) {
    SCOPED_TRACE(file);
    func::FuncOp k = example(file);
    ASSERT_TRUE(k);
    std::string error;
    FailureOr<CpuArtifact> a = compile(k, error);
    ASSERT_TRUE(succeeded(a)) << error;
    rt::Kernel kernel;
    rt::Status st = rt::Kernel::load(a->binaryPath, kernel);
    ASSERT_TRUE(st.ok()) << st.message;
    EXPECT_EQ(kernel.name(), k.getSymName().str());
    std::vector<RefArg> args = randomArgs(k);
    std::vector<RefTensor> got, want;
    ASSERT_EQ(runAot(kernel.handle(), args, got), ATTN_OK) << attn_last_error();
    ASSERT_TRUE(succeeded(interpretKernel(k, args, want, error))) << error;
    ASSERT_EQ(got.size(), want.size());
    for (size_t o = 0; o < got.size(); ++o) {
      ASSERT_EQ(got[o].shape, want[o].shape);
      double err = relativeError(got[o], want[o]);
      EXPECT_TRUE(err <= tolerance(k))
          << "output " << o << ": relative error " << err;
    }
  }

  /// Runs "small" with Q [2,7,8], K [2,9,8], O [2,7,9], after `edit` changes
  /// the descriptors; returns the status.
  template <typename Edit>
  attn_status runSmall(Edit edit, size_t numTensors = 3,
                       size_t numScalars = 1) {
    attn_kernel *k = small();
    EXPECT_TRUE(k);
    if (!k)
      return ATTN_ERROR_LOAD;
    Storage q(rt::DType::f32, {2, 7, 8}), kk(rt::DType::f32, {2, 9, 8}),
        o(rt::DType::f32, {2, 7, 9});
    std::vector<attn_tensor> tensors = {q.tensor(), kk.tensor(), o.tensor()};
    std::vector<attn_scalar> scalars = {rt::floatScalar(ATTN_F32, 0.5)};
    edit(tensors, scalars);
    return attn_run(k, tensors.data(), numTensors, scalars.data(), numScalars);
  }

  void expectError(attn_status got, attn_status want,
                   std::vector<std::string> fragments) {
    EXPECT_EQ(got, want) << attn_status_string(got) << ": "
                         << attn_last_error();
    std::string message = attn_last_error();
    for (const std::string &f : fragments)
      EXPECT_NE(message.find(f), std::string::npos)
          << "'" << f << "' not in: " << message;
  }

  static MLIRContext *context;
  static std::string tempDir;
  static std::string smallManifest;
  static std::vector<OwningOpRef<ModuleOp>> modules;
  std::mt19937_64 rng{20240611};
};

MLIRContext *CpuAotTest::context = nullptr;
std::string CpuAotTest::tempDir;
std::string CpuAotTest::smallManifest;
std::vector<OwningOpRef<ModuleOp>> CpuAotTest::modules;

//===----------------------------------------------------------------------===//
// Compiled examples against the reference
//===----------------------------------------------------------------------===//

TEST_F(CpuAotTest, SmallF32MatchesReference) {
  func::FuncOp k = translate(kSmallSource, "small.attn");
  ASSERT_TRUE(k);
  std::vector<RefArg> args = randomArgs(k);
  std::vector<RefTensor> got, want;
  ASSERT_EQ(runAot(small(), args, got), ATTN_OK) << attn_last_error();
  std::string error;
  ASSERT_TRUE(succeeded(interpretKernel(k, args, want, error))) << error;
  ASSERT_EQ(got.size(), 1u);
  EXPECT_LE(relativeError(got[0], want[0]), 1e-5);
}

TEST_F(CpuAotTest, MhaBf16) { expectExampleMatches("mha.attn"); }
TEST_F(CpuAotTest, CausalF16) { expectExampleMatches("causal.attn"); }
TEST_F(CpuAotTest, AlibiF32) { expectExampleMatches("alibi.attn"); }
TEST_F(CpuAotTest, GqaCausal) { expectExampleMatches("gqa.attn"); }
TEST_F(CpuAotTest, PagedDecode) { expectExampleMatches("paged_decode.attn"); }
TEST_F(CpuAotTest, LinearF32) { expectExampleMatches("linear.attn"); }
TEST_F(CpuAotTest, SigmoidMixed) { expectExampleMatches("sigmoid.attn"); }

TEST_F(CpuAotTest, ManifestDescribesArguments) {
  attn_kernel *k = small();
  ASSERT_TRUE(k);
  EXPECT_STREQ(attn_kernel_name(k), "small");
  ASSERT_EQ(attn_kernel_num_args(k), 4u);
  EXPECT_EQ(attn_kernel_num_tensors(k), 3u);
  EXPECT_EQ(attn_kernel_num_scalars(k), 1u);
  attn_arg_info q, s, o;
  ASSERT_EQ(attn_kernel_arg_info(k, 0, &q), ATTN_OK);
  ASSERT_EQ(attn_kernel_arg_info(k, 2, &s), ATTN_OK);
  ASSERT_EQ(attn_kernel_arg_info(k, 3, &o), ATTN_OK);
  EXPECT_STREQ(q.name, "Q");
  EXPECT_EQ(q.rank, 3);
  EXPECT_STREQ(q.dims[0], "B");
  EXPECT_STREQ(q.dims[2], "8");
  EXPECT_EQ(q.dtype, ATTN_F32);
  EXPECT_TRUE(s.is_scalar);
  EXPECT_STREQ(s.name, "scale");
  EXPECT_TRUE(o.is_output);
  EXPECT_STREQ(o.fill, "0");
  EXPECT_STREQ(o.dims[2], "M");
  EXPECT_EQ(attn_kernel_arg_info(k, 4, &o), ATTN_ERROR_INVALID_ARGUMENT);
  std::string manifest = readText(smallManifest);
  EXPECT_NE(manifest.find("\"entry\": \"attn_small_argv\""), std::string::npos);
  EXPECT_NE(manifest.find("\"compiler\""), std::string::npos);
  EXPECT_NE(manifest.find("\"target\": \"x86-64-linux"), std::string::npos)
      << manifest;
}

TEST_F(CpuAotTest, LoadsByManifestPathToo) {
  ASSERT_TRUE(small());
  rt::Kernel k;
  rt::Status st = rt::Kernel::load(smallManifest, k);
  ASSERT_TRUE(st.ok()) << st.message;
  EXPECT_EQ(k.arguments().size(), 4u);
}

TEST_F(CpuAotTest, StridedInputsAndOutputs) {
  func::FuncOp k = translate(kSmallSource, "small.attn");
  ASSERT_TRUE(k);
  std::vector<RefArg> args = randomArgs(k);
  std::vector<RefTensor> want;
  std::string error;
  ASSERT_TRUE(succeeded(interpretKernel(k, args, want, error))) << error;
  // Q with padded rows (row stride 11) and K batch-major reversed (negative
  // stride on B); O written with a padded row stride 12.
  const RefTensor &Q = args[0].tensor, &K = args[1].tensor;
  std::vector<float> q(2 * 7 * 11, NAN), kk(2 * 9 * 8), o(2 * 7 * 12, NAN);
  for (int b = 0; b < 2; ++b)
    for (int p = 0; p < 7; ++p)
      for (int e = 0; e < 8; ++e)
        q[b * 77 + p * 11 + e] = Q.values[(b * 7 + p) * 8 + e];
  for (int b = 0; b < 2; ++b)
    for (int m = 0; m < 9; ++m)
      for (int e = 0; e < 8; ++e)
        kk[(1 - b) * 72 + m * 8 + e] = K.values[(b * 9 + m) * 8 + e];
  std::vector<int64_t> qs = {2, 7, 8}, qst = {77, 11, 1};
  std::vector<int64_t> ks = {2, 9, 8}, kst = {-72, 8, 1};
  std::vector<int64_t> os = {2, 7, 9}, ost = {84, 12, 1};
  std::vector<attn_tensor> tensors = {
      rt::hostTensor(q.data(), ATTN_F32, qs, &qst),
      rt::hostTensor(kk.data() + 72, ATTN_F32, ks, &kst),
      rt::hostTensor(o.data(), ATTN_F32, os, &ost)};
  attn_scalar scale = rt::floatScalar(ATTN_F32, args[2].scalar);
  ASSERT_EQ(attn_run(small(), tensors.data(), 3, &scale, 1), ATTN_OK)
      << attn_last_error();
  RefTensor got;
  got.shape = os;
  for (int b = 0; b < 2; ++b)
    for (int p = 0; p < 7; ++p)
      for (int m = 0; m < 9; ++m)
        got.values.push_back(o[b * 84 + p * 12 + m]);
  EXPECT_LE(relativeError(got, want[0]), 1e-5);
  EXPECT_TRUE(std::isnan(o[9])) << "wrote into the padding";
}

TEST_F(CpuAotTest, ConcurrentRuns) {
  func::FuncOp k = translate(kSmallSource, "small.attn");
  ASSERT_TRUE(k);
  std::vector<RefArg> args = randomArgs(k);
  std::vector<RefTensor> want;
  std::string error;
  ASSERT_TRUE(succeeded(interpretKernel(k, args, want, error))) << error;
  std::vector<double> errs(4, 1);
  std::vector<attn_status> codes(4, ATTN_OK);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::vector<RefTensor> got;
      codes[t] = runAot(small(), args, got);
      if (codes[t] == ATTN_OK)
        errs[t] = relativeError(got[0], want[0]);
    });
  for (std::thread &t : threads)
    t.join();
  for (int t = 0; t < 4; ++t) {
    EXPECT_EQ(codes[t], ATTN_OK);
    EXPECT_LE(errs[t], 1e-5);
  }
}

//===----------------------------------------------------------------------===//
// Compilation outputs and failures
//===----------------------------------------------------------------------===//

TEST_F(CpuAotTest, ObjectFileWithManifest) {
  func::FuncOp k = translate(kSmallSource, "small.attn");
  ASSERT_TRUE(k);
  std::string error;
  FailureOr<CpuArtifact> a =
      compile(k, error, CpuArtifactKind::Object, "small_obj");
  ASSERT_TRUE(succeeded(a)) << error;
  EXPECT_TRUE(llvm::sys::fs::exists(a->binaryPath));
  EXPECT_EQ(a->manifestPath, tempDir + "/small_obj.attn.json");
  std::string manifest = readText(a->manifestPath);
  EXPECT_NE(manifest.find("\"object\": \"small_obj.o\""), std::string::npos);
  // The object holds the entry point and Halide's runtime: it links alone.
  std::string so = tempDir + "/small_obj_linked.so";
  std::string cmd = "c++ -shared -o " + so + " " + a->binaryPath +
                    " -lpthread -ldl 2>/dev/null";
  if (std::system(cmd.c_str()) == 0) {
    EXPECT_TRUE(llvm::sys::fs::exists(so));
  }
  attn_kernel *h = nullptr;
  expectError(attn_load(a->manifestPath.c_str(), &h), ATTN_ERROR_LOAD,
              {"describes the object file", "small_obj.o"});
  EXPECT_EQ(h, nullptr);
}

/// Sets an environment variable for one scope.
struct ScopedEnv {
  std::string name, saved;
  bool had;
  ScopedEnv(const char *name, const char *value) : name(name) {
    const char *old = std::getenv(name);
    had = old != nullptr;
    saved = old ? old : "";
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (had)
      setenv(name.c_str(), saved.c_str(), 1);
    else
      unsetenv(name.c_str());
  }
};

TEST_F(CpuAotTest, NoLinkerIsADiagnostic) {
  func::FuncOp k = translate(kSmallSource, "small.attn");
  ASSERT_TRUE(k);
  {
    ScopedEnv cc("ATTN_CC", nullptr);
    ScopedEnv path("PATH", (tempDir + "/no-such-bin").c_str());
    std::string error;
    FailureOr<CpuArtifact> a =
        compile(k, error, CpuArtifactKind::SharedObject, "small_nolinker");
    EXPECT_TRUE(failed(a));
    EXPECT_NE(error.find("no C/C++ compiler driver found"), std::string::npos)
        << error;
  }
  {
    ScopedEnv cc("ATTN_CC", "/nonexistent/attn-cc");
    std::string error;
    FailureOr<CpuArtifact> a =
        compile(k, error, CpuArtifactKind::SharedObject, "small_nolinker");
    EXPECT_TRUE(failed(a));
    EXPECT_NE(error.find("ATTN_CC=/nonexistent/attn-cc is not an executable"),
              std::string::npos)
        << error;
  }
  {
    // A driver that fails: its output is in the diagnostic.
    ScopedEnv cc("ATTN_CC", "false");
    std::string error;
    EXPECT_TRUE(failed(
        compile(k, error, CpuArtifactKind::SharedObject, "small_nolinker")));
    EXPECT_NE(error.find("linking the shared object with"), std::string::npos)
        << error;
  }
  // Nothing partial is left behind.
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(tempDir, ec), end; it != end && !ec;
       it.increment(ec))
    EXPECT_EQ(llvm::sys::path::filename(it->path()).find("small_nolinker"),
              StringRef::npos)
        << it->path();
}

/// A manifest that lies about a literal (says K's last dimension is a
/// symbol): the runtime's checks pass, Halide's own checks in the kernel
/// catch it, and the message comes back through the installed error handler
/// (nothing printed, nothing aborted).
TEST_F(CpuAotTest, HalideRuntimeErrorsComeBackAsStatus) {
  ASSERT_TRUE(small());
  std::string text = readText(smallManifest);
  const std::string truth = "\"dims\": [\"B\", \"M\", 8]";
  size_t at = text.find(truth);
  ASSERT_NE(at, std::string::npos) << text;
  text.replace(at, truth.size(), "\"dims\": [\"B\", \"M\", \"E\"]");
  std::string path = tempDir + "/small_lying.attn.json";
  writeText(path, text);
  rt::Kernel k;
  rt::Status st = rt::Kernel::load(path, k);
  ASSERT_TRUE(st.ok()) << st.message;
  Storage q(rt::DType::f32, {2, 7, 8}), kk(rt::DType::f32, {2, 9, 7}),
      o(rt::DType::f32, {2, 7, 9});
  st = k.run({q.tensor(), kk.tensor(), o.tensor()},
             {rt::floatScalar(ATTN_F32, 1.0)});
  EXPECT_EQ(st.code, ATTN_ERROR_KERNEL);
  EXPECT_NE(st.message.find("the CPU kernel small failed (Halide error"),
            std::string::npos)
      << st.message;
  // Halide's buffer named as the tensor (was "Input buffer in_1").
  EXPECT_NE(st.message.find("input K"), std::string::npos) << st.message;
}

TEST_F(CpuAotTest, UnknownTargetIsADiagnostic) {
  func::FuncOp k = translate(kSmallSource, "small.attn");
  ASSERT_TRUE(k);
  std::string error;
  CpuAotOptions options;
  options.codegen.target = "not-a-target";
  ScopedDiagnosticHandler handler(context, [&](Diagnostic &d) {
    error += d.str();
    return success();
  });
  EXPECT_TRUE(failed(compileKernelAheadOfTime(
      k, tempDir + "/bad_target.so", CpuArtifactKind::SharedObject, options)));
  EXPECT_NE(error.find("unknown Halide target"), std::string::npos) << error;
}

//===----------------------------------------------------------------------===//
// Bad arguments: one test per kind, each a status and a message
//===----------------------------------------------------------------------===//

using Tensors = std::vector<attn_tensor>;
using Scalars = std::vector<attn_scalar>;

TEST_F(CpuAotTest, GoodCallSucceeds) {
  EXPECT_EQ(runSmall([](Tensors &, Scalars &) {}), ATTN_OK)
      << attn_last_error();
}

TEST_F(CpuAotTest, WrongArgumentCount) {
  expectError(runSmall([](Tensors &, Scalars &) {}, 2, 1),
              ATTN_ERROR_INVALID_ARGUMENT,
              {"kernel small takes 3 tensors and 1 scalars, got 2 tensors"});
  expectError(runSmall([](Tensors &, Scalars &) {}, 3, 0),
              ATTN_ERROR_INVALID_ARGUMENT, {"got 3 tensors and 0 scalars"});
}

TEST_F(CpuAotTest, WrongDtype) {
  expectError(runSmall([](Tensors &t, Scalars &) { t[1].dtype = ATTN_BF16; }),
              ATTN_ERROR_INVALID_ARGUMENT,
              {"argument K must be f32, got bf16"});
  expectError(runSmall([](Tensors &t, Scalars &) { t[2].dtype = 42; }),
              ATTN_ERROR_INVALID_ARGUMENT, {"output O has unknown dtype 42"});
  expectError(runSmall([](Tensors &, Scalars &s) { s[0].dtype = ATTN_F64; }),
              ATTN_ERROR_INVALID_ARGUMENT,
              {"scalar scale must be f32, got f64"});
}

TEST_F(CpuAotTest, WrongRank) {
  expectError(runSmall([](Tensors &t, Scalars &) { t[0].rank = 2; }),
              ATTN_ERROR_INVALID_ARGUMENT,
              {"argument Q must have rank 3, got rank 2"});
}

TEST_F(CpuAotTest, ShapeAgainstLiteral) {
  static const int64_t shape[] = {2, 7, 7};
  expectError(runSmall([](Tensors &t, Scalars &) { t[0].shape = shape; }),
              ATTN_ERROR_INVALID_ARGUMENT,
              {"dimension 2 of Q must be 8, got 7"});
}

TEST_F(CpuAotTest, InconsistentSizeSymbol) {
  static const int64_t kshape[] = {3, 9, 8};
  expectError(
      runSmall([](Tensors &t, Scalars &) { t[1].shape = kshape; }),
      ATTN_ERROR_INVALID_ARGUMENT,
      {"dimension 0 of K is 3", "size symbol B is 2", "dimension 0 of Q"});
  // An output that disagrees with the inputs is caught the same way.
  static const int64_t oshape[] = {2, 7, 10};
  expectError(
      runSmall([](Tensors &t, Scalars &) { t[2].shape = oshape; }),
      ATTN_ERROR_INVALID_ARGUMENT,
      {"dimension 2 of O is 10", "size symbol M is 9", "dimension 1 of K"});
  static const int64_t negative[] = {2, -1, 8};
  expectError(runSmall([](Tensors &t, Scalars &) { t[0].shape = negative; }),
              ATTN_ERROR_INVALID_ARGUMENT, {"dimension 1 of Q has extent -1"});
}

TEST_F(CpuAotTest, UnsupportedStrides) {
  static const int64_t inner[] = {112, 16, 2};
  expectError(
      runSmall([](Tensors &t, Scalars &) { t[0].strides = inner; }),
      ATTN_ERROR_UNSUPPORTED,
      {"argument Q has stride 2 in its last dimension (2)", "contiguous"});
  static const int64_t overlap[] = {63, 0, 1};
  expectError(runSmall([](Tensors &t, Scalars &) { t[2].strides = overlap; }),
              ATTN_ERROR_UNSUPPORTED,
              {"output O has stride 0 in dimension 1", "overlap"});
  static const int64_t huge[] = {int64_t(1) << 40, 8, 1};
  expectError(runSmall([](Tensors &t, Scalars &) { t[0].strides = huge; }),
              ATTN_ERROR_UNSUPPORTED, {"stride 1099511627776 in dimension 0"});
}

TEST_F(CpuAotTest, NullData) {
  expectError(runSmall([](Tensors &t, Scalars &) { t[1].data = nullptr; }),
              ATTN_ERROR_INVALID_ARGUMENT,
              {"argument K has NULL data (shape [2, 9, 8])"});
  expectError(runSmall([](Tensors &t, Scalars &) { t[0].shape = nullptr; }),
              ATTN_ERROR_INVALID_ARGUMENT, {"argument Q has a NULL shape"});
  expectError(attn_run(small(), nullptr, 3, nullptr, 1),
              ATTN_ERROR_INVALID_ARGUMENT, {"is NULL"});
  expectError(attn_run(nullptr, nullptr, 0, nullptr, 0),
              ATTN_ERROR_INVALID_ARGUMENT, {"kernel is NULL"});
}

TEST_F(CpuAotTest, WrongDevice) {
  expectError(
      runSmall([](Tensors &t, Scalars &) { t[0].device = ATTN_DEVICE_CUDA; }),
      ATTN_ERROR_UNSUPPORTED,
      {"argument Q is on a CUDA device", "runs on the CPU"});
}

TEST_F(CpuAotTest, NoStreamOnTheCpu) {
  ASSERT_TRUE(small());
  EXPECT_EQ(attn_kernel_device(small()), ATTN_DEVICE_CPU);
  Storage q(rt::DType::f32, {2, 7, 8}), kk(rt::DType::f32, {2, 9, 8}),
      o(rt::DType::f32, {2, 7, 9});
  std::vector<attn_tensor> t = {q.tensor(), kk.tensor(), o.tensor()};
  attn_scalar scale = rt::floatScalar(ATTN_F32, 0.5);
  int stream;
  expectError(attn_run_stream(small(), t.data(), 3, &scale, 1, &stream),
              ATTN_ERROR_UNSUPPORTED,
              {"kernel small runs on the CPU and takes no stream: pass NULL"});
  EXPECT_EQ(attn_run_stream(small(), t.data(), 3, &scale, 1, nullptr), ATTN_OK)
      << attn_last_error();
}

TEST_F(CpuAotTest, CorruptManifest) {
  ASSERT_TRUE(small());
  std::string text = readText(smallManifest);
  std::string dir = tempDir + "/";
  attn_kernel *h = nullptr;

  writeText(dir + "corrupt.attn.json", text.substr(0, text.size() / 2));
  expectError(attn_load((dir + "corrupt.attn.json").c_str(), &h),
              ATTN_ERROR_MANIFEST, {"corrupt.attn.json", "malformed manifest"});

  std::string noEntry = text;
  size_t at = noEntry.find("\"entry\"");
  noEntry.replace(at, 7, "\"entri\"");
  writeText(dir + "noentry.attn.json", noEntry);
  expectError(attn_load((dir + "noentry.attn.json").c_str(), &h),
              ATTN_ERROR_MANIFEST, {"has no \"entry\""});

  std::string badDtype = text;
  at = badDtype.find("\"dtype\": \"f32\"");
  badDtype.replace(at, 14, "\"dtype\": \"f8\"");
  writeText(dir + "baddtype.attn.json", badDtype);
  expectError(attn_load((dir + "baddtype.attn.json").c_str(), &h),
              ATTN_ERROR_MANIFEST, {"argument 0 (Q) has unknown dtype \"f8\""});

  std::string wrongSymbol = text;
  at = wrongSymbol.find("attn_small_argv");
  wrongSymbol.replace(at, 15, "attn_other_argv");
  writeText(dir + "wrongsym.attn.json", wrongSymbol);
  expectError(attn_load((dir + "wrongsym.attn.json").c_str(), &h),
              ATTN_ERROR_LOAD, {"no entry point attn_other_argv"});
  EXPECT_EQ(h, nullptr);
}

TEST_F(CpuAotTest, MissingManifest) {
  attn_kernel *h = nullptr;
  std::string path = tempDir + "/absent.so";
  expectError(attn_load(path.c_str(), &h), ATTN_ERROR_LOAD,
              {"cannot read the kernel manifest", "absent.attn.json"});
  expectError(attn_load(nullptr, &h), ATTN_ERROR_INVALID_ARGUMENT,
              {"path is empty"});
}

TEST_F(CpuAotTest, MissingSharedObject) {
  ASSERT_TRUE(small());
  std::string dir = tempDir + "/elsewhere";
  llvm::sys::fs::create_directories(dir);
  writeText(dir + "/small.attn.json", readText(smallManifest));
  attn_kernel *h = nullptr;
  expectError(attn_load((dir + "/small.attn.json").c_str(), &h),
              ATTN_ERROR_LOAD,
              {"cannot load the kernel library", dir + "/small.so"});
  // Not a shared object at all.
  writeText(dir + "/small.so", "not an ELF file");
  expectError(attn_load((dir + "/small.so").c_str(), &h), ATTN_ERROR_LOAD,
              {"cannot load the kernel library"});
}

TEST_F(CpuAotTest, OutOfRangePageIsAnError) {
  func::FuncOp k = example("paged_decode.attn");
  ASSERT_TRUE(k);
  std::string error;
  FailureOr<CpuArtifact> a = compile(k, error);
  ASSERT_TRUE(succeeded(a)) << error;
  rt::Kernel kernel;
  rt::Status st = rt::Kernel::load(a->binaryPath, kernel);
  ASSERT_TRUE(st.ok()) << st.message;
  std::vector<RefArg> args = randomArgs(k);
  // Page[1, 1] = NP + 3 = 8, read where Len[1] covers every token.
  RefTensor &page = args[3].tensor, &len = args[4].tensor;
  page.values[1 * 3 + 1] = 8;
  len.values[1] = 12;
  std::vector<RefTensor> got, want;
  // The same message as the JIT path's.
  std::string jitError;
  EXPECT_TRUE(failed(runKernelOnCpu(k, args, want, jitError)));
  expectError(runAot(kernel.handle(), args, got), ATTN_ERROR_KERNEL,
              {"kernel paged_decode: out-of-range read of ",
               "c: dimension 0 has extent 5 (shape [5, 3, 4,",
               "paged_decode.attn:"});
  EXPECT_EQ(std::string(attn_last_error()), jitError);
  std::string refError;
  EXPECT_TRUE(failed(interpretKernel(k, args, want, refError)));
  // The kernel stays usable.
  page.values[1 * 3 + 1] = 0;
  EXPECT_EQ(runAot(kernel.handle(), args, got), ATTN_OK) << attn_last_error();
}

} // namespace
