// The JIT's "cuda" target on the stub CUDA driver (FakeCudaDriver.h; no GPU
// needed): compile to a cached PTX bundle, load it through the runtime, run
// on "device" memory, hit the cache without the frontend, take the target
// from the GPU, and refuse what must be refused. (The GPU machine has no
// MLIR: the kernels themselves are checked there through bundles.)
#include "codegen/jit/JitCompiler.h"
#include "runtime/Runtime.h"
#include "test/unit/FakeCudaControls.h"

#include "llvm/Support/FileSystem.h"

#include <gtest/gtest.h>

#include <cstdlib>

using namespace mlir::attn;
namespace fs = llvm::sys::fs;
namespace rt = ::attn::rt;

namespace {

const std::string kMha = std::string(ATTN_SOURCE_DIR) + "/examples/mha.attn";

#define EXPECT_HAS(text, part)                                                 \
  EXPECT_NE(std::string(text).find(part), std::string::npos)                  \
      << "'" << (text) << "' lacks '" << (part) << "'"

class CudaJit : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_NE(fake.handle, nullptr) << dlerror();
    setenv("ATTN_CUDA_DRIVER", ATTN_FAKE_CUDA_DRIVER, 1);
    fake.reset();
    llvm::SmallString<128> p;
    ASSERT_FALSE(fs::createUniqueDirectory("attn-jit-gpu-test", p));
    cache = std::string(p);
    options.target = "cuda:sm_90a";
    options.cacheDir = cache;
  }
  void TearDown() override {
    fake.freeAll();
    unsetenv("ATTN_CUDA_DRIVER");
    fs::remove_directories(cache, /*IgnoreErrors=*/true);
  }
  /// mha's tensors at B=1, H=2, P=67, M=131, E=F=64 (bf16), in "device"
  /// memory: Q, K, V, then O.
  std::vector<attn_tensor> mhaTensors() {
    for (const std::vector<int64_t> &s : shapes) {
      size_t n = 2;
      for (int64_t e : s)
        n *= e;
      tensors.push_back(rt::deviceTensor(fake.alloc(n), ATTN_BF16, s));
    }
    return tensors;
  }
  static attn::test::FakeCuda fake;
  std::string cache;
  JitOptions options;
  std::vector<std::vector<int64_t>> shapes = {
      {1, 2, 67, 64}, {1, 2, 131, 64}, {1, 2, 131, 64}, {1, 2, 67, 64}};
  std::vector<attn_tensor> tensors;
};
attn::test::FakeCuda CudaJit::fake;

TEST_F(CudaJit, CompilesLoadsAndRunsThenHitsTheCache) {
  resetJitStats();
  std::unique_ptr<JitKernel> k;
  JitStatus st = compileAttnFile(kMha, options, k);
  ASSERT_TRUE(st) << st.message();
  EXPECT_EQ(k->target(), "cuda:sm_90a");
  EXPECT_EQ(k->cacheOutcome(), CacheOutcome::Miss);
  ASSERT_EQ(k->inputs().size(), 3u);
  EXPECT_EQ(k->inputs()[1].name, "K");
  EXPECT_EQ(k->outputs()[0].dims, (std::vector<std::string>{"B", "H", "P", "F"}));
  EXPECT_EQ(k->outputs()[0].dtype, "bf16");
  EXPECT_HAS(k->moduleText(), "attn.einsum");

  std::vector<attn_tensor> t = mhaTensors();
  std::vector<std::vector<int64_t>> out;
  ASSERT_TRUE(k->outputShapes(llvm::ArrayRef(t).take_front(3), {}, out));
  EXPECT_EQ(out, (std::vector<std::vector<int64_t>>{{1, 2, 67, 64}}));
  int stream = 0; // the stub takes any stream handle
  st = k->run(t, {}, &stream);
  EXPECT_TRUE(st) << st.message();
  EXPECT_GT(fake.numLaunches(), 0);

  // Again: the entry loads through the runtime, no frontend or codegen.
  uint64_t frontend = jitStats().frontendRuns;
  std::unique_ptr<JitKernel> again;
  ASSERT_TRUE(compileAttnFile(kMha, options, again));
  EXPECT_EQ(again->cacheOutcome(), CacheOutcome::Hit);
  EXPECT_EQ(jitStats().frontendRuns, frontend);
  EXPECT_EQ(again->moduleText(), k->moduleText());
  EXPECT_TRUE(again->run(t));
}

TEST_F(CudaJit, TargetFromTheGpusArchitecture) {
  options.target = "cuda";
  std::string key90, key80;
  fake.configure(0, 9, 0, 1);
  ASSERT_TRUE(jitCacheKey("kernel k() -> () {}", options, key90));
  std::unique_ptr<JitKernel> k;
  JitStatus st = compileAttnFile(kMha, options, k);
  ASSERT_TRUE(st) << st.message();
  EXPECT_EQ(k->target(), "cuda:sm_90a");
  fake.configure(0, 8, 0, 1);
  ASSERT_TRUE(jitCacheKey("kernel k() -> () {}", options, key80));
  EXPECT_NE(key90, key80); // the architecture is part of the key
  st = compileAttnFile(kMha, options, k);
  ASSERT_TRUE(st) << st.message();
  EXPECT_EQ(k->target(), "cuda:sm_80");
  EXPECT_EQ(k->cacheOutcome(), CacheOutcome::Miss);
}

TEST_F(CudaJit, BadCallsAreRefused) {
  std::unique_ptr<JitKernel> k;
  ASSERT_TRUE(compileAttnFile(kMha, options, k));
  std::vector<attn_tensor> t = mhaTensors();
  std::vector<int64_t> wrong = {1, 2, 66, 64};
  t[3].shape = wrong.data();
  JitStatus st = k->run(t);
  EXPECT_HAS(st.message(), "output O must have shape [1, 2, 67, 64], got "
                           "[1, 2, 66, 64]");
  t = tensors;
  std::vector<uint16_t> host(2 * 67 * 64);
  t[0].data = host.data();
  st = k->run(t);
  EXPECT_HAS(st.message(), "is not memory the CUDA driver knows");
  t = tensors;
  t.pop_back();
  EXPECT_FALSE(k->run(t));
  std::vector<RefTensor> results;
  st = k->run(llvm::ArrayRef<RefArg>{}, results);
  EXPECT_HAS(st.message(), "it runs on device pointers");
  EXPECT_EQ(fake.numLaunches(), 0);

  // A GPU that cannot run the target: a clear error, the entry kept.
  fake.configure(0, 8, 0, 1);
  st = compileAttnFile(kMha, options, k);
  EXPECT_HAS(st.message(), "cannot run");
  fake.configure(0, 9, 0, 1);
  ASSERT_TRUE(compileAttnFile(kMha, options, k));
  EXPECT_EQ(k->cacheOutcome(), CacheOutcome::Hit);

  options.target = "cuda:sm_9x";
  EXPECT_HAS(compileAttnFile(kMha, options, k).message(),
             "unknown target 'cuda:sm_9x'");
}

TEST_F(CudaJit, NoDriver) {
  setenv("ATTN_CUDA_DRIVER", "/nonexistent/libcuda.so.1", 1);
  std::unique_ptr<JitKernel> k;
  JitStatus st = compileAttnFile(kMha, options, k);
  EXPECT_FALSE(st);
  EXPECT_HAS(st.message(), "no CUDA driver");
  options.target = "cuda";
  st = compileAttnFile(kMha, options, k);
  EXPECT_HAS(st.message(), "cannot read the GPU's architecture");
  EXPECT_HAS(st.message(), "name it, e.g. cuda:sm_90a");
}

} // namespace
