// The runtime's CPU path (attn_run over a shared object compiled through the
// JIT) at the edges a careless or hostile caller reaches: extents near
// 2^31 that a kernel's tiles would round past 32 bits, empty axes (checked
// against the float64 reference; an empty reduced axis gives the fill
// value), a bool scalar that is not 0 or 1, and attn_load of a bare file name
// in the working directory.
#include "codegen/jit/JitCompiler.h"
#include "runtime/Runtime.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <unistd.h>
#include <vector>

using namespace mlir::attn;
namespace fs = llvm::sys::fs;

namespace {

// A softmax over a long key axis (the CPU pipeline tiles m by 64).
const char *kDecode =
    "kernel decode(Q: f32[B, E], K: f32[B, M, E], V: f32[B, M, F])\n"
    "    -> (O: f32[B, F] = 7) {\n"
    "  S[b,m]   = Q[b,e] * K[b,m,e]\n"
    "  GM[b]    = max(m) S[b,m]\n"
    "  SN[b,m]  = exp(S[b,m] - GM[b])\n"
    "  SD[b]    = sum(m) SN[b,m]\n"
    "  SNV[b,f] = sum(m) SN[b,m] * V[b,m,f]\n"
    "  O[b,f]   = SNV[b,f] / SD[b]\n"
    "}\n";

// Causal attention: P is a free axis of the output, M a reduced one.
const char *kCausal =
    "kernel causal(Q: f32[B, P, E], K: f32[B, M, E], V: f32[B, M, F])\n"
    "    -> (O: f32[B, P, F] = 3) {\n"
    "  S[b,m,p]   = Q[b,p,e] * K[b,m,e] where m <= p\n"
    "  GM[b,p]    = max(m) S[b,m,p]\n"
    "  SN[b,m,p]  = exp(S[b,m,p] - GM[b,p])\n"
    "  SD[b,p]    = sum(m) SN[b,m,p]\n"
    "  SNV[b,p,f] = sum(m) SN[b,m,p] * V[b,m,f]\n"
    "  O[b,p,f]   = SNV[b,p,f] / SD[b,p]\n"
    "}\n";

const char *kSwitch = "kernel switched(Q: f32[P], on: bool) -> (O: f32[P]) {\n"
                      "  O[p] = Q[p] * on\n"
                      "}\n";

class TempDir {
public:
  TempDir() {
    llvm::SmallString<128> p;
    EXPECT_FALSE(fs::createUniqueDirectory("attn-runtime-edges", p));
    path = std::string(p);
  }
  ~TempDir() { fs::remove_directories(path, /*IgnoreErrors=*/true); }
  std::string path;
};

std::unique_ptr<JitKernel> compile(const char *source, const TempDir &cache,
                                   const std::string &target = "cpu") {
  JitOptions options;
  options.cacheDir = cache.path;
  options.target = target;
  std::unique_ptr<JitKernel> kernel;
  JitStatus status = compileAttnSource(source, options, kernel);
  EXPECT_TRUE(status) << status.message();
  return kernel;
}

attn_tensor hostTensor(float *data, const std::vector<int64_t> &shape,
                       const int64_t *strides = nullptr) {
  return {data, ATTN_F32, static_cast<int>(shape.size()), shape.data(),
          strides, ATTN_DEVICE_CPU};
}

// M just below 2^31: the 64-key tiles round it past 2^31-1 inside the
// kernel (a segfault); the runtime refuses it first, naming the dimension.
TEST(JitRuntimeEdges, ExtentThatTilesPastTwoToThe31IsRefused) {
  TempDir cache;
  std::unique_ptr<JitKernel> kernel = compile(kDecode, cache);
  ASSERT_TRUE(kernel);
  for (int64_t m : {int64_t(2147483585), int64_t(2147483647),
                    int64_t(2147418113)}) {
    SCOPED_TRACE(m);
    std::vector<int64_t> q = {1, 1}, kv = {1, m, 1}, o = {1, 1};
    const int64_t broadcast[] = {0, 0, 1}; // every key the same element
    float qd = 1, kd = 1, vd = 1, od = 0;
    std::vector<attn_tensor> tensors = {
        hostTensor(&qd, q), hostTensor(&kd, kv, broadcast),
        hostTensor(&vd, kv, broadcast), hostTensor(&od, o)};
    JitStatus status = kernel->run(tensors);
    ASSERT_FALSE(status);
    EXPECT_NE(status.message().find("dimension 1 of K has extent " +
                                    std::to_string(m)),
              std::string::npos)
        << status.message();
    EXPECT_NE(status.message().find("2^31-2^16"), std::string::npos)
        << status.message();
  }
}

/// A tensor argument of `shape` holding a repeating pattern in [-0.5, 1].
RefArg patternTensor(std::vector<int64_t> shape) {
  RefTensor t;
  t.shape = shape;
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  for (int64_t i = 0; i < n; ++i)
    t.values.push_back(0.25 * static_cast<double>(i % 7) - 0.5);
  return RefArg::ofTensor(std::move(t));
}

/// Runs `args` on `ref` and on `cpu`: both succeed with one output of the
/// same shape and values; `got` is cpu's.
void expectSameAsReference(JitKernel &cpu, JitKernel &ref,
                           const std::vector<RefArg> &args,
                           std::vector<RefTensor> &got) {
  std::vector<RefTensor> want;
  JitStatus status = ref.run(args, want);
  ASSERT_TRUE(status) << status.message();
  status = cpu.run(args, got);
  ASSERT_TRUE(status) << status.message();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].shape, want[0].shape);
  EXPECT_EQ(got[0].values, want[0].values);
}

// Empty free axes: nothing to write, and no error (the reference returns
// empty outputs too).
TEST(JitRuntimeEdges, EmptyOutputsMatchTheReference) {
  TempDir cache;
  std::unique_ptr<JitKernel> cpu = compile(kCausal, cache);
  std::unique_ptr<JitKernel> ref = compile(kCausal, cache, "ref");
  ASSERT_TRUE(cpu && ref);
  struct Sizes {
    int64_t b, p, m;
  };
  for (Sizes s : {Sizes{2, 0, 5}, Sizes{0, 3, 5}, Sizes{0, 0, 0}}) {
    SCOPED_TRACE("B=" + std::to_string(s.b) + " P=" + std::to_string(s.p) +
                 " M=" + std::to_string(s.m));
    const int64_t e = 4, f = 3;
    std::vector<RefArg> args = {patternTensor({s.b, s.p, e}),
                                patternTensor({s.b, s.m, e}),
                                patternTensor({s.b, s.m, f})};
    std::vector<RefTensor> got;
    ASSERT_NO_FATAL_FAILURE(expectSameAsReference(*cpu, *ref, args, got));
  }
}

// An empty reduced axis (M = 0): every reduction over the keys has nothing
// left, so every output point is absent and takes the output's fill value,
// as on the reference. The empty K and V are also passed with NULL data
// through the typed run (an empty tensor needs none).
TEST(JitRuntimeEdges, EmptyReducedAxisGivesTheFillValue) {
  TempDir cache;
  for (const char *source : {kDecode, kCausal}) {
    std::unique_ptr<JitKernel> cpu = compile(source, cache);
    std::unique_ptr<JitKernel> ref = compile(source, cache, "ref");
    ASSERT_TRUE(cpu && ref);
    bool causal = source == kCausal;
    double fill = causal ? 3 : 7;
    const int64_t b = 2, p = 67, m = 0, e = 5, f = 3;
    std::vector<RefArg> args =
        causal ? std::vector<RefArg>{patternTensor({b, p, e}),
                                     patternTensor({b, m, e}),
                                     patternTensor({b, m, f})}
               : std::vector<RefArg>{patternTensor({b, e}),
                                     patternTensor({b, m, e}),
                                     patternTensor({b, m, f})};
    std::vector<RefTensor> got;
    ASSERT_NO_FATAL_FAILURE(expectSameAsReference(*cpu, *ref, args, got));
    ASSERT_FALSE(got[0].values.empty());
    for (double v : got[0].values)
      EXPECT_EQ(v, fill);

    // Typed buffers, the empty ones without data, the output poisoned.
    std::vector<int64_t> q = causal ? std::vector<int64_t>{b, p, e}
                                    : std::vector<int64_t>{b, e};
    std::vector<int64_t> k = {b, m, e}, v = {b, m, f};
    std::vector<int64_t> o = causal ? std::vector<int64_t>{b, p, f}
                                    : std::vector<int64_t>{b, f};
    std::vector<float> qd(causal ? b * p * e : b * e, 0.5f);
    std::vector<float> od(causal ? b * p * f : b * f, std::nanf(""));
    std::vector<attn_tensor> tensors = {
        hostTensor(qd.data(), q), hostTensor(nullptr, k),
        hostTensor(nullptr, v), hostTensor(od.data(), o)};
    JitStatus status = cpu->run(tensors);
    ASSERT_TRUE(status) << status.message();
    for (float x : od)
      EXPECT_EQ(x, static_cast<float>(fill));
  }
}

TEST(JitRuntimeEdges, BoolScalarMustBeZeroOrOne) {
  TempDir cache;
  std::unique_ptr<JitKernel> kernel = compile(kSwitch, cache);
  ASSERT_TRUE(kernel);
  std::vector<int64_t> shape = {2};
  float q[2] = {1, 2}, o[2] = {0, 0};
  std::vector<attn_tensor> tensors = {hostTensor(q, shape),
                                      hostTensor(o, shape)};
  attn_scalar on{ATTN_BOOL, {}};
  on.value.i = 1;
  ASSERT_TRUE(kernel->run(tensors, {on}));
  EXPECT_EQ(o[1], 2.0f);
  on.value.i = 2;
  JitStatus status = kernel->run(tensors, {on});
  ASSERT_FALSE(status);
  EXPECT_NE(status.message().find("scalar on is 2, which is not a bool"),
            std::string::npos)
      << status.message();
}

// attn_load("kernel.so") from the kernel's own directory: the working
// directory's file, not a search of the system's library paths.
TEST(JitRuntimeEdges, LoadsABareFileNameFromTheWorkingDirectory) {
  TempDir cache;
  std::unique_ptr<JitKernel> kernel = compile(kSwitch, cache);
  ASSERT_TRUE(kernel);
  std::string entry = cache.path + "/" + kernel->cacheKey();
  char saved[4096];
  ASSERT_TRUE(::getcwd(saved, sizeof(saved)));
  ASSERT_EQ(::chdir(entry.c_str()), 0);
  attn_kernel *loaded = nullptr;
  attn_status status = attn_load("kernel.so", &loaded);
  std::string error = attn_last_error();
  attn_kernel *byManifest = nullptr;
  attn_status status2 = attn_load("kernel.attn.json", &byManifest);
  ASSERT_EQ(::chdir(saved), 0);
  EXPECT_EQ(status, ATTN_OK) << error;
  EXPECT_EQ(status2, ATTN_OK) << attn_last_error();
  if (loaded)
    EXPECT_STREQ(attn_kernel_name(loaded), "switched");
  attn_unload(loaded);
  attn_unload(byManifest);
}

} // namespace
