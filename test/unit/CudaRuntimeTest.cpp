// The runtime's CUDA back end (runtime/CudaLoader.cpp), tested without a GPU:
// size expressions and CUDA manifests parsed and rejected clearly; attn_load
// on a machine without a driver; then, against the stub driver
// (FakeCudaDriver.cpp, through ATTN_CUDA_DRIVER), loading, every argument
// check before any driver call, the launch geometry and parameters, error
// codes, workspace and shared memory. The last tests run the hand-written
// PTX cases on a real GPU and are skipped where there is none.
#include "runtime/CudaDriver.h"
#include "runtime/DType.h"
#include "runtime/KernelManifest.h"
#include "runtime/Npy.h"
#include "runtime/Runtime.h"
#include "runtime/SizeExpr.h"
#include "runtime/attn_runtime.h"

#include "test/unit/FakeCudaControls.h"

#include <gtest/gtest.h>

#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>


namespace rt = ::attn::rt;

/// EXPECT_HAS(text, part): `part` occurs in `text` (both shown on failure).
bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}
#define EXPECT_HAS(text, part)                                                 \
  EXPECT_PRED2(contains, std::string(text), std::string(part))

namespace {

const std::string kCases = ATTN_SOURCE_DIR "/test/Runtime/cuda/cases";

//===----------------------------------------------------------------------===//
// Size expressions
//===----------------------------------------------------------------------===//

int64_t eval(const std::string &text, std::map<std::string, int64_t> syms = {}) {
  rt::SizeExpr e;
  std::string error;
  EXPECT_TRUE(rt::SizeExpr::parse(text, e, error)) << error;
  int64_t v = -999;
  EXPECT_TRUE(e.evaluate(
      [&](const std::string &s) -> std::optional<int64_t> {
        auto it = syms.find(s);
        if (it == syms.end())
          return std::nullopt;
        return it->second;
      },
      v, error))
      << error;
  return v;
}

std::string evalError(const std::string &text,
                      std::map<std::string, int64_t> syms = {}) {
  rt::SizeExpr e;
  std::string error;
  if (!rt::SizeExpr::parse(text, e, error))
    return "parse: " + error;
  int64_t v;
  if (e.evaluate(
          [&](const std::string &s) -> std::optional<int64_t> {
            auto it = syms.find(s);
            if (it == syms.end())
              return std::nullopt;
            return it->second;
          },
          v, error))
    return "no error";
  return error;
}

TEST(SizeExpr, Evaluates) {
  EXPECT_EQ(eval("42"), 42);
  EXPECT_EQ(eval("2 + 3 * 4"), 14);
  EXPECT_EQ(eval("(2 + 3) * 4"), 20);
  EXPECT_EQ(eval("10 - 3 - 2"), 5);
  EXPECT_EQ(eval("ceildiv(P, 64)", {{"P", 100}}), 2);
  EXPECT_EQ(eval("ceildiv(P, 64)", {{"P", 128}}), 2);
  EXPECT_EQ(eval("ceildiv(P, 64)", {{"P", 0}}), 0);
  EXPECT_EQ(eval("B * H", {{"B", 3}, {"H", 5}}), 15);
  EXPECT_EQ(eval("min(M, 128) + max(1, P - 200)", {{"M", 77}, {"P", 10}}), 78);
  EXPECT_EQ(eval("-7 / 2"), -4); // floor division
  EXPECT_EQ(eval("-7 % 2"), 1);
  EXPECT_EQ(eval("N_1 * 2", {{"N_1", 4}}), 8);
}

TEST(SizeExpr, Symbols) {
  rt::SizeExpr e;
  std::string error;
  ASSERT_TRUE(rt::SizeExpr::parse("ceildiv(P, 64) * B + P", e, error));
  EXPECT_EQ(e.symbols(), (std::vector<std::string>{"P", "B"}));
  EXPECT_FALSE(e.isConstant());
  EXPECT_EQ(e.text(), "ceildiv(P, 64) * B + P");
  EXPECT_TRUE(rt::SizeExpr::constant(7).isConstant());
  EXPECT_EQ(rt::SizeExpr::constant(7).text(), "7");
}

TEST(SizeExpr, Errors) {
  EXPECT_HAS(evalError("ceildiv(P,"), "parse: expected");
  EXPECT_HAS(evalError("foo(1, 2)"), "unknown function 'foo'");
  EXPECT_HAS(evalError("P $"), "unexpected '$'");
  EXPECT_HAS(evalError("min(1)"), "takes two arguments");
  EXPECT_HAS(evalError(""), "parse:");
  EXPECT_HAS(evalError("99999999999999999999"), "too large");
  EXPECT_HAS(evalError("P + 1"), "size symbol P, which has no value");
  EXPECT_HAS(evalError("P / Z", {{"P", 1}, {"Z", 0}}), "divides by zero");
  EXPECT_HAS(evalError("ceildiv(P, Z)", {{"P", 1}, {"Z", 0}}), "divides by zero");
  EXPECT_HAS(evalError("X * X * X", {{"X", int64_t(1) << 30}}), "overflows 64 bits");
}

//===----------------------------------------------------------------------===//
// CUDA manifests
//===----------------------------------------------------------------------===//

/// A valid CUDA manifest; `launch` and `extra` replace the launch and add
/// top-level fields.
std::string cudaManifest(const std::string &launch = "", const std::string &extra = "",
                         const std::string &target = "cuda:sm_90a") {
  return R"({
  "format": "attn-kernel-manifest",
  "format_version": 1,
  "compiler": "test",
  "kernel": "k",
  "target": ")" + target + R"(",
  "ptx": "k.ptx",
  "calling_convention": "cuda_kernel_params",)" + extra + R"(
  "arguments": [
    {"name": "Q", "role": "input", "kind": "tensor", "dtype": "bf16", "dims": ["B", "H", "P", 64]},
    {"name": "scale", "role": "input", "kind": "scalar", "dtype": "f32"},
    {"name": "W", "role": "input", "kind": "scalar", "dtype": "i32"},
    {"name": "O", "role": "output", "kind": "tensor", "dtype": "bf16", "dims": ["B", "H", "P", 64]}
  ],
  "launches": [
    )" + (launch.empty() ? R"J({"entry": "k_main", "grid": ["ceildiv(P, 64)", "H", "B"], "block": [128, 1, 1], "shared_bytes": "W * 0 + 1024", "params": ["Q", "O", "scale", "i64:P", "i32:W"]})J"
                         : launch) +
         R"(
  ]
})";
}

std::string parseError(const std::string &text) {
  rt::KernelManifest m;
  std::string error;
  if (rt::parseKernelManifest(text, "m.json", m, error))
    return "parsed";
  return error;
}

TEST(CudaManifest, Parses) {
  rt::KernelManifest m;
  std::string error;
  ASSERT_TRUE(rt::parseKernelManifest(
      cudaManifest("", R"( "workspace_bytes": "B * H * 4",)"), "m.json", m,
      error))
      << error;
  EXPECT_TRUE(m.isCuda());
  EXPECT_EQ(m.cudaTarget.major, 9);
  EXPECT_EQ(m.cudaTarget.minor, 0);
  EXPECT_TRUE(m.cudaTarget.archSpecific);
  EXPECT_EQ(m.cudaTarget.name(), "sm_90a");
  EXPECT_EQ(m.ptx, "k.ptx");
  EXPECT_TRUE(m.entry.empty());
  ASSERT_TRUE(m.workspaceBytes);
  EXPECT_EQ(m.workspaceBytes->text(), "B * H * 4");
  ASSERT_EQ(m.launches.size(), 1u);
  const rt::ManifestLaunch &l = m.launches[0];
  EXPECT_EQ(l.entry, "k_main");
  EXPECT_EQ(l.grid[0].text(), "ceildiv(P, 64)");
  EXPECT_EQ(l.grid[2].text(), "B");
  EXPECT_EQ(l.block[0].text(), "128");
  EXPECT_EQ(l.sharedBytes.text(), "W * 0 + 1024");
  ASSERT_EQ(l.params.size(), 5u);
  EXPECT_EQ(l.params[0].kind, rt::ManifestParam::Argument);
  EXPECT_EQ(l.params[0].argument, 0);
  EXPECT_EQ(l.params[1].argument, 3);
  EXPECT_EQ(l.params[2].argument, 1);
  EXPECT_EQ(l.params[3].kind, rt::ManifestParam::Int64);
  EXPECT_EQ(l.params[3].value.text(), "P");
  EXPECT_EQ(l.params[4].kind, rt::ManifestParam::Int32);

  rt::CudaTarget t;
  EXPECT_TRUE(rt::parseCudaTarget("cuda:sm_80", t));
  EXPECT_EQ(t.name(), "sm_80");
  EXPECT_TRUE(rt::parseCudaTarget("cuda:sm_100a", t));
  EXPECT_EQ(t.major, 10);
  EXPECT_EQ(t.name(), "sm_100a");
  EXPECT_FALSE(rt::parseCudaTarget("cuda:sm_9", t));
  EXPECT_FALSE(rt::parseCudaTarget("cuda:gfx90a", t));
  EXPECT_FALSE(rt::parseCudaTarget("cuda", t));
}

TEST(CudaManifest, CpuManifestsStillParse) {
  // As codegen/halide/HalideAot.cpp writes them.
  rt::KernelManifest m;
  std::string error;
  ASSERT_TRUE(rt::parseKernelManifest(R"({
  "format": "attn-kernel-manifest",
  "format_version": 1,
  "compiler": "0.1.0",
  "kernel": "small",
  "target": "x86-64-linux-avx-avx2-f16c-fma-sse41-strict_float",
  "entry": "attn_small_argv",
  "library": "small.so",
  "calling_convention": "halide_argv",
  "arguments": [
    {"name": "Q", "role": "input", "kind": "tensor", "dtype": "f32", "dims": ["B", "P", 8]},
    {"name": "O", "role": "output", "kind": "tensor", "dtype": "f32", "dims": ["B", "P"], "fill": "0"}
  ]
})",
                                      "small.attn.json", m, error))
      << error;
  EXPECT_FALSE(m.isCuda());
  EXPECT_TRUE(m.launches.empty());
  EXPECT_EQ(m.entry, "attn_small_argv");
}

TEST(CudaManifest, RejectsBadOnesClearly) {
  auto launch = [](const std::string &fields) {
    return R"({"entry": "k_main", )" + fields + "}";
  };
  const std::string ok = R"("grid": [1], "block": [32], "params": [])";
  struct Case {
    std::string text, message;
  } cases[] = {
      {cudaManifest("", "", "cuda:gfx90a"),
       "m.json: the manifest has target \"cuda:gfx90a\"; a CUDA target is "
       "written cuda:sm_XY or cuda:sm_XYa"},
      {[] {
         std::string s = cudaManifest();
         s.replace(s.find(R"("ptx": "k.ptx",)"), 15, "");
         return s;
       }(),
       "the manifest has no \"ptx\""},
      {[] {
         std::string s = cudaManifest();
         s.replace(s.find("cuda_kernel_params"), 18, "halide_argv");
         return s;
       }(),
       "a CUDA manifest uses \"cuda_kernel_params\""},
      {[] {
         std::string s = cudaManifest();
         size_t at = s.find(R"("launches")");
         return s.substr(0, at) + R"("launches": []})";
       }(),
       "has no \"launches\" array"},
      {cudaManifest(launch(R"("grid": [1, 1, 1, 1], "block": [32], "params": [])")),
       "launch 0 (k_main) has no \"grid\" array of 1 to 3 entries"},
      {cudaManifest(launch(R"("grid": ["ceildiv(P,"], "block": [32], "params": [])")),
       "launch 0 (k_main) grid dimension 0 is not a size expression"},
      {cudaManifest(launch(R"("grid": ["S"], "block": [32], "params": [])")),
       "launch 0 (k_main) grid dimension 0 \"S\" uses size symbol S, which no "
       "argument binds"},
      {cudaManifest(launch(R"("grid": [1], "block": [-1], "params": [])")),
       "block dimension 0 is not a non-negative integer"},
      {cudaManifest(launch(R"("grid": [1], "block": [true], "params": [])")),
       "block dimension 0 is neither an integer nor a size expression"},
      {cudaManifest(launch(R"("grid": [1], "block": [32], "shared_bytes": "Z", "params": [])")),
       "shared_bytes \"Z\" uses size symbol Z"},
      {cudaManifest(launch(R"("grid": [1], "block": [32])")),
       "launch 0 (k_main) has no \"params\" array"},
      {cudaManifest(launch(R"("grid": [1], "block": [32], "params": ["K"])")),
       "launch 0 (k_main) param 0 \"K\" names no argument"},
      {cudaManifest(launch(R"("grid": [1], "block": [32], "params": ["workspace"])")),
       "is \"workspace\" but the manifest has no \"workspace_bytes\""},
      {cudaManifest(launch(R"("grid": [1], "block": [32], "params": ["i64:"])")),
       "param 0 \"i64:\" is not a size expression"},
      {cudaManifest(launch(R"("grid": [1], "block": [32], "params": ["i32:scale"])")),
       "uses size symbol scale, which no argument binds"},
      {cudaManifest(launch(R"("grid": [1], "block": [32], "params": [3])")),
       "param 0 is not a string"},
      {cudaManifest(R"({"grid": [1], "block": [32], "params": []})"),
       "launch 0 has no \"entry\""},
      {cudaManifest(launch(ok), R"J( "workspace_bytes": "nope(1)",)J"),
       "field \"workspace_bytes\" is not a size expression"},
      // Named sizes: identifiers, each once, over bound or earlier names.
      {cudaManifest(launch(ok), R"J( "sizes": {"a": 1},)J"),
       "field \"sizes\" is not an array"},
      {cudaManifest(launch(ok), R"J( "sizes": [{"name": "2x", "value": 1}],)J"),
       "size definition 0 has the name \"2x\", which is not an identifier"},
      {cudaManifest(launch(ok), R"J( "sizes": [{"name": "a"}],)J"),
       "size definition 0 (a) has no \"value\""},
      {cudaManifest(launch(ok),
                    R"J( "sizes": [{"name": "a", "value": "b + 1"}, {"name": "b", "value": 2}],)J"),
       "size definition 0 (a) \"b + 1\" uses size symbol b, which no argument binds"},
      {cudaManifest(launch(ok),
                    R"J( "sizes": [{"name": "a", "value": 1}, {"name": "a", "value": 2}],)J"),
       "size definition 1 (a) defines a twice"},
      {cudaManifest(launch(ok), R"J( "sizes": [{"name": "P", "value": 1}],)J"),
       "size definition 0 (P) defines P, a size symbol that argument Q already "
       "binds"},
      {cudaManifest(launch(R"("grid": ["c"], "block": [32], "params": [])"),
                    R"J( "sizes": [{"name": "a", "value": 1}],)J"),
       "uses size symbol c, which no argument binds"},
  };
  for (const Case &c : cases)
    EXPECT_HAS(parseError(c.text), c.message) << c.text;
  // The integer scalar W binds the symbol W.
  EXPECT_EQ(parseError(cudaManifest(launch(
                R"("grid": ["W"], "block": [32], "params": ["i32:W + 1"])"))),
            "parsed");
  // Named sizes may use the arguments' symbols and earlier names, and the
  // geometry, parameters and workspace may use them.
  EXPECT_EQ(parseError(cudaManifest(
                launch(R"("grid": ["big * P"], "block": [32], "params": ["i64:big", "workspace"])"),
                R"J( "sizes": [{"name": "small", "value": "1 - min(1, max(0, P - 64))"}, {"name": "big", "value": "1 - small"}], "workspace_bytes": "small * P * 4",)J")),
            "parsed");
}

//===----------------------------------------------------------------------===//
// Loading without a driver
//===----------------------------------------------------------------------===//

/// A temporary directory with files, removed at the end of the test.
class TempDir {
public:
  TempDir() {
    char tmpl[] = "/tmp/attn-cuda-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string write(const std::string &name, const std::string &text) const {
    std::ofstream(path + "/" + name) << text;
    return path + "/" + name;
  }
  std::string path;
};

/// PTX text with the entries `k_main(...)` as the runtime reads them.
std::string ptxWith(const std::string &entries, const std::string &target = "sm_90a") {
  return "//\n.version 8.0\n.target " + target + "\n.address_size 64\n\n" +
         entries;
}

const std::string kMainEntry =
    ".visible .entry k_main(\n\t.param .u64 .ptr .global .align 1 p0,\n"
    "\t.param .u64 .ptr .global .align 1 p1,\n\t.param .f32 p2,\n"
    "\t.param .u64 p3,\n\t.param .u32 p4\n)\n{\n\tret;\n}\n";

attn_status load(const std::string &path, attn_kernel **k) {
  *k = nullptr;
  return attn_load(path.c_str(), k);
}

class NoDriver : public ::testing::Test {
protected:
  void SetUp() override {
    setenv("ATTN_CUDA_DRIVER", "/nonexistent/libcuda.so.1", 1);
  }
  void TearDown() override { unsetenv("ATTN_CUDA_DRIVER"); }
};

TEST(CudaLoad, NoDriverOnThisMachine) {
  unsetenv("ATTN_CUDA_DRIVER");
  if (void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
    dlclose(h);
    GTEST_SKIP() << "a CUDA driver is installed here";
  }
  attn_kernel *k;
  EXPECT_EQ(load(kCases + "/add_f32/add_f32.attn.json", &k),
            ATTN_ERROR_NO_DEVICE);
  EXPECT_EQ(k, nullptr);
  EXPECT_STREQ(attn_last_error(), "cannot load kernel add_f32 for cuda:sm_90a: "
                                  "no CUDA driver (libcuda.so.1 not found)");
  EXPECT_STREQ(attn_status_string(ATTN_ERROR_NO_DEVICE), "ATTN_ERROR_NO_DEVICE");
}

TEST_F(NoDriver, ReportedCleanly) {
  attn_kernel *k;
  EXPECT_EQ(load(kCases + "/add_f32/add_f32.ptx", &k), ATTN_ERROR_NO_DEVICE);
  EXPECT_HAS(attn_last_error(), "no CUDA driver (/nonexistent/libcuda.so.1 from "
                        "ATTN_CUDA_DRIVER not found: ");
}

TEST_F(NoDriver, ArtefactCheckedBeforeTheDriver) {
  TempDir dir;
  attn_kernel *k;
  // A bad manifest is that, driver or not.
  dir.write("bad.attn.json", cudaManifest("", "", "cuda:sm_9x"));
  EXPECT_EQ(load(dir.path + "/bad.attn.json", &k), ATTN_ERROR_MANIFEST);
  EXPECT_HAS(attn_last_error(), "has target \"cuda:sm_9x\"");
  // No PTX file.
  std::string m = dir.write("k.attn.json", cudaManifest());
  EXPECT_EQ(load(m, &k), ATTN_ERROR_LOAD);
  EXPECT_HAS(attn_last_error(), "cannot read the PTX file " + dir.path + "/k.ptx of " + m);
  // PTX for another target.
  dir.write("k.ptx", ptxWith(kMainEntry, "sm_80"));
  EXPECT_EQ(load(m, &k), ATTN_ERROR_MANIFEST);
  EXPECT_HAS(attn_last_error(), dir.path + "/k.ptx is PTX for sm_80, but " + m +
                        " says cuda:sm_90a");
  // No such entry.
  dir.write("k.ptx", ptxWith(".visible .entry k_other(\n)\n{\n}\n"));
  EXPECT_EQ(load(m, &k), ATTN_ERROR_MANIFEST);
  EXPECT_HAS(attn_last_error(), "k.ptx has no entry point k_main");
  // Parameters that do not match the manifest's list.
  dir.write("k.ptx", ptxWith(".visible .entry k_main(\n\t.param .u64 p0\n)\n"));
  EXPECT_EQ(load(m, &k), ATTN_ERROR_MANIFEST);
  EXPECT_HAS(attn_last_error(), "entry k_main of " + dir.path +
                        "/k.ptx takes 1 parameters, but " + m + " lists 5");
  std::string wrong = kMainEntry;
  wrong.replace(wrong.find(".f32"), 4, ".f64");
  dir.write("k.ptx", ptxWith(wrong));
  EXPECT_EQ(load(m, &k), ATTN_ERROR_MANIFEST);
  EXPECT_HAS(attn_last_error(), "parameter 2 of entry k_main in " + dir.path +
                        "/k.ptx is 8 bytes, but " + m +
                        " passes \"scale\" (4 bytes)");
  // A binary path that is not the manifest's.
  dir.write("k.ptx", ptxWith(kMainEntry));
  dir.write("other.ptx", ptxWith(kMainEntry));
  std::string copy = dir.write("other.attn.json", cudaManifest());
  EXPECT_EQ(load(dir.path + "/other.ptx", &k), ATTN_ERROR_MANIFEST);
  EXPECT_HAS(attn_last_error(), "describes " + dir.path +
                                           "/k.ptx, not " + dir.path +
                                           "/other.ptx");
  // All well: only now the missing driver.
  EXPECT_EQ(load(m, &k), ATTN_ERROR_NO_DEVICE);
}

//===----------------------------------------------------------------------===//
// Against the stub driver
//===----------------------------------------------------------------------===//

using Fake = attn::test::FakeCuda;

class FakeDriver : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_NE(fake.handle, nullptr) << dlerror();
    setenv("ATTN_CUDA_DRIVER", ATTN_FAKE_CUDA_DRIVER, 1);
    fake.reset();
  }
  void TearDown() override {
    fake.freeAll();
    unsetenv("ATTN_CUDA_DRIVER");
  }
  static Fake fake;
};
Fake FakeDriver::fake;

/// The add_f32 case: X, Y: f32[N, 4], scale: f32 -> Z: f32[N, 4].
struct AddCall {
  std::vector<int64_t> shape;
  std::vector<attn_tensor> tensors;
  std::vector<attn_scalar> scalars;
  AddCall(Fake &fake, int64_t n) : shape{n, 4} {
    for (int i = 0; i < 3; ++i)
      tensors.push_back(rt::deviceTensor(n ? fake.alloc(n * 16) : nullptr,
                                         ATTN_F32, shape));
    scalars.push_back(rt::floatScalar(ATTN_F32, 0.5));
  }
};

TEST_F(FakeDriver, LoadsAndLaunches) {
  rt::Kernel k;
  rt::Status st = rt::Kernel::load(kCases + "/add_f32/add_f32.attn.json", k);
  ASSERT_TRUE(st) << st.message;
  EXPECT_EQ(k.device(), ATTN_DEVICE_CUDA);
  EXPECT_EQ(k.target(), "cuda:sm_90a");
  std::vector<attn_arg_info> args = k.arguments();
  ASSERT_EQ(args.size(), 4u);
  EXPECT_STREQ(args[3].name, "Z");
  EXPECT_TRUE(args[3].is_output);
  EXPECT_STREQ(args[3].dims[0], "N");
  // No context was current: device 0's primary context, held while loaded.
  EXPECT_EQ(fake.primaryRetains(), 1);

  AddCall call(fake, 1001);
  void *stream = reinterpret_cast<void *>(0x5700);
  st = k.run(call.tensors, call.scalars, stream);
  ASSERT_TRUE(st) << st.message;
  ASSERT_EQ(fake.numLaunches(), 1);
  const FakeLaunch &l = *fake.launch(0);
  EXPECT_STREQ(l.entry, "attn_add_f32");
  EXPECT_EQ(l.grid[0], 32u); // ceildiv(1001 * 4, 128)
  EXPECT_EQ(l.grid[1], 1u);
  EXPECT_EQ(l.grid[2], 1u);
  EXPECT_EQ(l.block[0], 128u);
  EXPECT_EQ(l.block[1], 1u);
  EXPECT_EQ(l.shared, 0u);
  EXPECT_EQ(l.stream, stream);
  ASSERT_EQ(l.numParams, 5);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(l.params[i], reinterpret_cast<uint64_t>(call.tensors[i].data));
  float scale;
  std::memcpy(&scale, &l.params[3], 4);
  EXPECT_EQ(scale, 0.5f);
  EXPECT_EQ(l.params[4], 1001u);

  // The default stream; the C ABI gives the same.
  ASSERT_EQ(attn_run(k.handle(), call.tensors.data(), 3, call.scalars.data(), 1),
            ATTN_OK)
      << attn_last_error();
  EXPECT_EQ(fake.launch(1)->stream, nullptr);

  k = rt::Kernel();
  EXPECT_EQ(fake.primaryRetains(), 0);
}

TEST_F(FakeDriver, EveryArgumentCheckedBeforeAnyDriverCall) {
  rt::Kernel k;
  ASSERT_TRUE(rt::Kernel::load(kCases + "/add_f32/add_f32.attn.json", k));
  AddCall good(fake, 7);
  std::vector<int64_t> rank1 = {28}, wide = {7, 5}, other = {8, 4};
  std::vector<int64_t> strides = {8, 1};
  struct Case {
    std::function<void(AddCall &)> change;
    attn_status status;
    std::string message;
  } cases[] = {
      {[](AddCall &c) { c.tensors[0].device = ATTN_DEVICE_CPU; },
       ATTN_ERROR_UNSUPPORTED,
       "argument X is on the CPU (device 0), but kernel add_f32 runs on a CUDA "
       "device: pass device memory (ATTN_DEVICE_CUDA)"},
      {[](AddCall &c) { c.tensors[2].device = 7; }, ATTN_ERROR_UNSUPPORTED,
       "output Z is on an unknown device (device 7)"},
      {[](AddCall &c) { c.tensors[1].dtype = ATTN_BF16; },
       ATTN_ERROR_INVALID_ARGUMENT, "argument Y must be f32, got bf16"},
      {[&](AddCall &c) {
         c.tensors[0].rank = 1;
         c.tensors[0].shape = rank1.data();
       },
       ATTN_ERROR_INVALID_ARGUMENT, "argument X must have rank 2, got rank 1"},
      {[&](AddCall &c) { c.tensors[0].shape = wide.data(); },
       ATTN_ERROR_INVALID_ARGUMENT,
       "dimension 1 of X must be 4, got 5 (shape [7, 5])"},
      {[&](AddCall &c) { c.tensors[2].shape = other.data(); },
       ATTN_ERROR_INVALID_ARGUMENT,
       "dimension 0 of Z is 8, but size symbol N is 7 (dimension 0 of X)"},
      {[&](AddCall &c) { c.tensors[1].strides = strides.data(); },
       ATTN_ERROR_UNSUPPORTED,
       "argument Y has strides [8, 1] for shape [7, 4]; the CUDA target needs "
       "contiguous row-major tensors: copy it first"},
      {[](AddCall &c) { c.tensors[2].data = nullptr; },
       ATTN_ERROR_INVALID_ARGUMENT, "output Z has NULL data (shape [7, 4])"},
      {[](AddCall &c) { c.scalars[0].dtype = ATTN_F64; },
       ATTN_ERROR_INVALID_ARGUMENT, "scalar scale must be f32, got f64"},
      {[](AddCall &c) { c.tensors.pop_back(); }, ATTN_ERROR_INVALID_ARGUMENT,
       "kernel add_f32 takes 3 tensors and 1 scalars, got 2 tensors and 1 "
       "scalars"},
  };
  for (const Case &c : cases) {
    AddCall call = good;
    c.change(call);
    fake.reset();
    rt::Status st = k.run(call.tensors, call.scalars);
    EXPECT_EQ(st.code, c.status) << c.message;
    EXPECT_HAS(st.message, c.message);
    EXPECT_EQ(fake.calls(), 0) << "driver called for: " << c.message;
  }
  // Strides equal to the contiguous ones are fine.
  std::vector<int64_t> dense = {4, 1};
  AddCall call = good;
  call.tensors[0].strides = dense.data();
  EXPECT_TRUE(k.run(call.tensors, call.scalars));
}

TEST_F(FakeDriver, PointersCheckedWithTheDriver) {
  rt::Kernel k;
  ASSERT_TRUE(rt::Kernel::load(kCases + "/add_f32/add_f32.attn.json", k));
  AddCall call(fake, 7);
  std::vector<float> host(28);
  call.tensors[1].data = host.data();
  rt::Status st = k.run(call.tensors, call.scalars);
  EXPECT_EQ(st.code, ATTN_ERROR_INVALID_ARGUMENT);
  EXPECT_HAS(st.message, "argument Y (" +
                        std::to_string(reinterpret_cast<uintptr_t>(host.data())) +
                        ") is not memory the CUDA driver knows");
  // An allocation one element short, or a pointer into its middle.
  call.tensors[1] = rt::deviceTensor(fake.alloc(7 * 16 - 4), ATTN_F32, call.shape);
  st = k.run(call.tensors, call.scalars);
  EXPECT_HAS(st.message, "argument Y needs 112 bytes (shape [7, 4]) "
                                    "from its pointer, but its allocation has "
                                    "108 bytes left");
  call.tensors[1].data = static_cast<char *>(fake.alloc(7 * 16)) + 4;
  st = k.run(call.tensors, call.scalars);
  EXPECT_HAS(st.message, "its allocation has 108 bytes left");
  EXPECT_EQ(fake.numLaunches(), 0);
}

TEST_F(FakeDriver, EmptyTensorsLaunchNothing) {
  rt::Kernel k;
  ASSERT_TRUE(rt::Kernel::load(kCases + "/add_f32/add_f32.attn.json", k));
  AddCall call(fake, 0);
  rt::Status st = k.run(call.tensors, call.scalars);
  EXPECT_TRUE(st) << st.message;
  EXPECT_EQ(fake.numLaunches(), 0);
}

TEST_F(FakeDriver, ErrorCodeOfTheKernel) {
  rt::Kernel k;
  ASSERT_TRUE(rt::Kernel::load(kCases + "/gather/gather.attn.json", k));
  std::vector<int64_t> xs = {2, 50, 33}, is = {2, 77}, os = {2, 77, 33};
  std::vector<attn_tensor> t = {
      rt::deviceTensor(fake.alloc(2 * 50 * 33 * 4), ATTN_F32, xs),
      rt::deviceTensor(fake.alloc(2 * 77 * 4), ATTN_I32, is),
      rt::deviceTensor(fake.alloc(2 * 77 * 33 * 4), ATTN_F32, os)};
  int live = fake.liveAllocations();
  ASSERT_TRUE(k.run(t));
  const FakeLaunch &l = *fake.launch(0);
  EXPECT_EQ(l.grid[0], 20u); // ceildiv(77 * 33, 128)
  EXPECT_EQ(l.grid[1], 2u);
  EXPECT_NE(l.params[3], 0u); // the error code's device word
  EXPECT_EQ(l.params[4], 50u);
  EXPECT_EQ(l.params[5], 77u);
  EXPECT_EQ(l.params[6], 33u);
  EXPECT_EQ(fake.liveAllocations(), live);

  fake.setKernelError(3, 1);
  rt::Status st = k.run(t);
  EXPECT_EQ(st.code, ATTN_ERROR_KERNEL);
  EXPECT_EQ(st.message,
            "kernel gather: out-of-range read of X: dimension 1 has extent 50 "
            "(shape [2, 50, 33]), by the gather test kernel "
            "(test/Runtime/cuda/gather.mlir)");
  fake.setKernelError(3, 9);
  st = k.run(t);
  EXPECT_EQ(st.message, "the CUDA kernel gather reported error code 9");
  EXPECT_EQ(fake.liveAllocations(), live);
}

TEST_F(FakeDriver, LaunchesWorkspaceAndSharedMemory) {
  TempDir dir;
  const std::string launches =
      R"J({"entry": "k_main", "grid": ["ceildiv(P, 64)", "H", "B"], "block": [128], "shared_bytes": "W * 1000", "params": ["Q", "workspace", "i32:P"]},
    {"entry": "k_combine", "grid": ["B * H"], "block": [32, 2], "params": ["workspace", "O"]})J";
  std::string m = dir.write("k.attn.json",
                            cudaManifest(launches, R"( "workspace_bytes": "B * H * P * 4",)"));
  dir.write("k.ptx",
            ptxWith(".visible .entry k_main(\n\t.param .u64 a,\n\t.param .u64 "
                    "b,\n\t.param .u32 c\n)\n{\n}\n.visible .entry "
                    "k_combine(\n\t.param .u64 a,\n\t.param .u64 b\n)\n{\n}\n"));
  rt::Kernel k;
  rt::Status st = rt::Kernel::load(m, k);
  ASSERT_TRUE(st) << st.message;
  std::vector<int64_t> shape = {2, 3, 100, 64};
  size_t bytes = 2 * 3 * 100 * 64 * 2;
  std::vector<attn_tensor> t = {
      rt::deviceTensor(fake.alloc(bytes), ATTN_BF16, shape),
      rt::deviceTensor(fake.alloc(bytes), ATTN_BF16, shape)};
  int live = fake.liveAllocations();
  std::vector<attn_scalar> s = {rt::floatScalar(ATTN_F32, 1.0),
                                rt::intScalar(ATTN_I32, 64)};
  st = k.run(t, s);
  ASSERT_TRUE(st) << st.message;
  ASSERT_EQ(fake.numLaunches(), 2);
  const FakeLaunch &a = *fake.launch(0), &b = *fake.launch(1);
  EXPECT_STREQ(a.entry, "k_main");
  EXPECT_EQ(a.grid[0], 2u);
  EXPECT_EQ(a.grid[1], 3u);
  EXPECT_EQ(a.grid[2], 2u);
  EXPECT_EQ(a.shared, 64000u);
  EXPECT_EQ(fake.maxDynamicShared(), 64000); // beyond 48 KiB: allowed first
  EXPECT_NE(a.params[1], 0u);
  EXPECT_EQ(static_cast<uint32_t>(a.params[2]), 100u);
  EXPECT_STREQ(b.entry, "k_combine");
  EXPECT_EQ(b.grid[0], 6u);
  EXPECT_EQ(b.block[1], 2u);
  EXPECT_EQ(b.params[0], a.params[1]); // the same workspace
  EXPECT_EQ(b.params[1], reinterpret_cast<uint64_t>(t[1].data));
  EXPECT_EQ(fake.liveAllocations(), live); // the workspace was freed

  // More shared memory than the GPU has.
  s[1] = rt::intScalar(ATTN_I32, 300);
  st = k.run(t, s);
  EXPECT_EQ(st.code, ATTN_ERROR_UNSUPPORTED);
  EXPECT_HAS(st.message, "launch 0 (k_main) needs 300000 bytes of "
                                    "shared memory; device 0 allows 232448 per "
                                    "block");
  // A grid beyond CUDA's limits.
  s[1] = rt::intScalar(ATTN_I32, 1);
  std::vector<int64_t> big = {2, 70000, 1, 64};
  std::vector<attn_tensor> t2 = {
      rt::deviceTensor(fake.alloc(2 * 70000 * 64 * 2), ATTN_BF16, big),
      rt::deviceTensor(fake.alloc(2 * 70000 * 64 * 2), ATTN_BF16, big)};
  fake.reset();
  st = k.run(t2, s);
  EXPECT_EQ(st.code, ATTN_ERROR_UNSUPPORTED);
  EXPECT_HAS(st.message, "kernel k: launch 0 (k_main) needs grid "
                                    "[1, 70000, 2], block [128, 1, 1]");
  EXPECT_EQ(fake.calls(), 0);
}

// A 0-or-1 named size selects which launch runs (a zero grid launches
// nothing), as the CUDA code generator's fused attention launch does.
TEST_F(FakeDriver, NamedSizesSelectLaunches) {
  TempDir dir;
  const std::string launches =
      R"J({"entry": "k_main", "grid": ["fits * ceildiv(P, 64)"], "block": [128], "params": ["Q", "i64:fits"]},
    {"entry": "k_combine", "grid": ["other * P"], "block": [32], "params": ["workspace", "O"]})J";
  std::string m = dir.write(
      "k.attn.json",
      cudaManifest(launches,
                   R"J( "sizes": [{"name": "fits", "value": "1 - min(1, max(0, P - 64))"}, {"name": "other", "value": "1 - fits"}], "workspace_bytes": "other * P * 4 + 4",)J"));
  dir.write("k.ptx",
            ptxWith(".visible .entry k_main(\n\t.param .u64 a,\n\t.param .u64 "
                    "b\n)\n{\n}\n.visible .entry "
                    "k_combine(\n\t.param .u64 a,\n\t.param .u64 b\n)\n{\n}\n"));
  rt::Kernel k;
  rt::Status st = rt::Kernel::load(m, k);
  ASSERT_TRUE(st) << st.message;
  std::vector<attn_scalar> s = {rt::floatScalar(ATTN_F32, 1.0),
                                rt::intScalar(ATTN_I32, 1)};
  for (int64_t p : {50, 100}) {
    std::vector<int64_t> shape = {1, 1, p, 64};
    size_t bytes = p * 64 * 2;
    std::vector<attn_tensor> t = {
        rt::deviceTensor(fake.alloc(bytes), ATTN_BF16, shape),
        rt::deviceTensor(fake.alloc(bytes), ATTN_BF16, shape)};
    fake.reset();
    st = k.run(t, s);
    ASSERT_TRUE(st) << st.message;
    ASSERT_EQ(fake.numLaunches(), 1) << "P = " << p;
    const FakeLaunch &l = *fake.launch(0);
    if (p <= 64) {
      EXPECT_STREQ(l.entry, "k_main");
      EXPECT_EQ(l.params[1], 1u); // "i64:fits"
    } else {
      EXPECT_STREQ(l.entry, "k_combine");
      EXPECT_EQ(l.grid[0], 100u);
    }
  }
}

TEST_F(FakeDriver, DeviceMustRunTheTarget) {
  fake.configure(0, 8, 0, 1);
  attn_kernel *k;
  EXPECT_EQ(load(kCases + "/add_f32/add_f32.attn.json", &k),
            ATTN_ERROR_UNSUPPORTED);
  EXPECT_STREQ(attn_last_error(),
               "kernel add_f32 was compiled for cuda:sm_90a, which device 0 "
               "(Fake GPU, sm_80) cannot run (an sm_XYa target runs on that "
               "compute capability alone)");
  EXPECT_EQ(fake.primaryRetains(), 0);
  fake.configure(0, 10, 0, 1);
  EXPECT_EQ(load(kCases + "/add_f32/add_f32.attn.json", &k),
            ATTN_ERROR_UNSUPPORTED);
  // Without the "a", newer devices run it.
  TempDir dir;
  std::string m = dir.write("k.attn.json", cudaManifest("", "", "cuda:sm_80"));
  dir.write("k.ptx", ptxWith(kMainEntry, "sm_80"));
  ASSERT_EQ(load(m, &k), ATTN_OK) << attn_last_error();
  attn_unload(k);
  // No GPU at all.
  fake.configure(0, 9, 0, 0);
  EXPECT_EQ(load(m, &k), ATTN_ERROR_NO_DEVICE);
  EXPECT_HAS(attn_last_error(), "no CUDA device (the driver sees no GPU)");
}

TEST_F(FakeDriver, JitErrorsCarryTheLog) {
  TempDir dir;
  std::string m = dir.write("k.attn.json", cudaManifest());
  dir.write("k.ptx", ptxWith(kMainEntry + "// FAKE_JIT_ERROR\n"));
  attn_kernel *k;
  EXPECT_EQ(load(m, &k), ATTN_ERROR_LOAD);
  EXPECT_HAS(attn_last_error(), "the CUDA driver cannot load " + dir.path +
                        "/k.ptx on device 0 (Fake GPU): CUDA_ERROR_INVALID_PTX "
                        "(fake error): ptxas fatal   : fake JIT error");
  EXPECT_EQ(fake.primaryRetains(), 0);
}

TEST_F(FakeDriver, CurrentContextIsUsed) {
  // A context made current by the caller (as PyTorch's) is used, not retained.
  using Ctx = int (*)(void **);
  auto retain = reinterpret_cast<int (*)(void **, int)>(
      dlsym(fake.handle, "cuDevicePrimaryCtxRetain"));
  auto release = reinterpret_cast<int (*)(int)>(
      dlsym(fake.handle, "cuDevicePrimaryCtxRelease_v2"));
  auto push = reinterpret_cast<int (*)(void *)>(
      dlsym(fake.handle, "cuCtxPushCurrent_v2"));
  auto pop = reinterpret_cast<Ctx>(dlsym(fake.handle, "cuCtxPopCurrent_v2"));
  void *ctx;
  retain(&ctx, 0);
  push(ctx);
  {
    rt::Kernel k;
    ASSERT_TRUE(rt::Kernel::load(kCases + "/add_f32/add_f32.attn.json", k));
    EXPECT_EQ(fake.primaryRetains(), 1); // ours alone
    AddCall call(fake, 3);
    EXPECT_TRUE(k.run(call.tensors, call.scalars));
  }
  void *popped;
  EXPECT_EQ(pop(&popped), 0);
  EXPECT_EQ(popped, ctx); // the runtime left the thread's context alone
  release(0);
}

TEST_F(FakeDriver, Harness) {
  // attn-gpu-run over the hand-written cases; the stub driver runs
  // attn_add_f32 and attn_gather on the host (not attn_add_bf16).
  TempDir dir;
  std::string json = dir.path + "/results.jsonl";
  std::string command = std::string(ATTN_GPU_RUN) + " --time 3 --warmup 1 " +
                        "--no-flush --json " + json + " " + kCases +
                        "/add_f32 " + kCases + "/gather " + kCases +
                        "/gather_oob " + kCases + "/add_bf16 > /dev/null 2>&1";
  EXPECT_EQ(WEXITSTATUS(std::system(command.c_str())), 1); // add_bf16 fails
  std::ifstream in(json);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_HAS(lines[0], R"J("case": "add_f32", "device": "Fake GPU (sm_90)")J");
  EXPECT_HAS(lines[0], R"J({"name": "Z", "elements": 4004, "rel_err": 0, )J"
                       R"J("bound": 1e-05, "nan": 0, "pass": true})J");
  EXPECT_HAS(lines[0], R"J("timing": {"runs": 3, "warmup": 1, "median_ms": )J");
  EXPECT_HAS(lines[0], R"J("status": "pass")J");
  EXPECT_HAS(lines[1], R"J("case": "gather")J");
  EXPECT_HAS(lines[1], R"J("status": "pass")J");
  EXPECT_HAS(lines[2], R"J("status": "pass", "message": "ATTN_ERROR_KERNEL: )J"
                       R"J(kernel gather: out-of-range read of X: dimension 1 )J"
                       R"J(has extent 50)J");
  // Unwritten outputs stay NaN (the poison) and fail the case.
  EXPECT_HAS(lines[3], R"J("nan": 11100, "pass": false)J");
  EXPECT_HAS(lines[3], R"J("status": "fail")J");
  // Without a driver, every case is skipped (exit 3), never passed.
  setenv("ATTN_CUDA_DRIVER", "/nonexistent/libcuda.so.1", 1);
  command = std::string(ATTN_GPU_RUN) + " " + kCases + "/add_f32 > " +
            dir.path + "/skip.jsonl 2>/dev/null";
  EXPECT_EQ(WEXITSTATUS(std::system(command.c_str())), 3);
  std::ifstream skip(dir.path + "/skip.jsonl");
  std::string line;
  std::getline(skip, line);
  EXPECT_HAS(line, R"J("status": "skip", "message": "no CUDA driver)J");
}

TEST_F(FakeDriver, HarnessMisuse) {
  // attn-gpu-run --misuse: each bad call (null/host/short pointers, shapes,
  // dtypes, ranks, strides, counts) refused with a message, then the good
  // run still passes. gpu-check.sh runs the same on the real GPU.
  TempDir dir;
  std::string json = dir.path + "/misuse.jsonl";
  std::string command = std::string(ATTN_GPU_RUN) + " --misuse --json " +
                        json + " " + kCases + "/add_f32 " + kCases +
                        "/gather > /dev/null 2>&1";
  EXPECT_EQ(WEXITSTATUS(std::system(command.c_str())), 0);
  std::ifstream in(json);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  ASSERT_EQ(lines.size(), 2u);
  for (const std::string &line : lines) {
    EXPECT_HAS(line, R"J("misuse": {"tried": 27, "not_refused": []})J");
    EXPECT_HAS(line, R"J("status": "pass")J");
  }
}

//===----------------------------------------------------------------------===//
// A real GPU (skipped without one)
//===----------------------------------------------------------------------===//

/// Runs a hand-written case on the GPU and compares with its expected .npy.
void runOnGpu(const std::string &name, const std::string &output, const std::vector<attn_scalar> &scalars,
              attn_status want, const std::string &message = "") {
  unsetenv("ATTN_CUDA_DRIVER");
  std::string dir = kCases + "/" + name;
  std::string manifest = dir;
  for (const char *k : {"add_f32", "add_bf16", "gather"})
    if (name.compare(0, std::strlen(k), k) == 0)
      manifest += std::string("/") + k + ".attn.json";
  std::string error;
  const rt::cuda::Driver *driver = rt::cuda::cudaDriver(error);
  if (!driver)
    GTEST_SKIP() << error;
  const rt::cuda::Driver &d = *driver;
  // Device 0's primary context, current on this thread (as the CUDA runtime
  // would make it): the test allocates in it and the kernel runs in it.
  rt::cuda::CUdevice gpu = 0;
  rt::cuda::CUcontext context = nullptr;
  ASSERT_EQ(d.cuDeviceGet(&gpu, 0), 0);
  ASSERT_EQ(d.cuDevicePrimaryCtxRetain(&context, gpu), 0);
  ASSERT_EQ(d.cuCtxSetCurrent(context), 0);
  rt::Kernel k;
  rt::Status st = rt::Kernel::load(manifest, k);
  ASSERT_TRUE(st) << st.message;
  std::vector<attn_arg_info> args = k.arguments();
  std::vector<rt::NpyArray> host;
  std::vector<unsigned long long> device;
  std::vector<attn_tensor> tensors;
  rt::NpyArray expected;
  bool haveExpected =
      rt::readNpy(dir + "/expected/" + output + ".npy", expected, error);
  for (const attn_arg_info &a : args) {
    if (a.is_scalar)
      continue;
    rt::NpyArray array;
    rt::DType dt = static_cast<rt::DType>(a.dtype);
    if (!a.is_output) {
      ASSERT_TRUE(rt::readNpy(dir + "/inputs/" + a.name + ".npy", array, error))
          << error;
    } else {
      array.shape = haveExpected ? expected.shape : host[0].shape;
      if (!haveExpected) // gather: O[B, N, E] from X[B, M, E] and I[B, N]
        array.shape = {host[0].shape[0], host[1].shape[1], host[0].shape[2]};
    }
    size_t n = 1;
    for (int64_t e : array.shape)
      n *= e;
    std::vector<uint8_t> data(n * rt::dtypeSize(dt), 0xff);
    if (!a.is_output)
      for (size_t e = 0; e < n; ++e)
        rt::storeElement(data.data(), dt, e,
                         rt::loadElement(array.data.data(), array.dtype, e));
    unsigned long long p = 0;
    ASSERT_EQ(d.cuMemAlloc(&p, data.size()), 0);
    ASSERT_EQ(d.cuMemcpyHtoD(p, data.data(), data.size()), 0);
    device.push_back(p);
    host.push_back(std::move(array));
    tensors.push_back(attn_tensor{reinterpret_cast<void *>(p), a.dtype,
                                  static_cast<int>(host.back().shape.size()),
                                  host.back().shape.data(), nullptr,
                                  ATTN_DEVICE_CUDA});
  }
  st = k.run(tensors, scalars);
  EXPECT_EQ(d.cuCtxSynchronize(), 0);
  EXPECT_EQ(st.code, want) << st.message;
  EXPECT_HAS(st.message, message);
  if (st && haveExpected) {
    const attn_arg_info &o = args.back();
    rt::DType dt = static_cast<rt::DType>(o.dtype);
    std::vector<uint8_t> out(expected.numElements() * rt::dtypeSize(dt));
    ASSERT_EQ(d.cuMemcpyDtoH(out.data(), device.back(), out.size()), 0);
    double maxErr = 0, maxRef = 0;
    for (size_t e = 0; e < expected.numElements(); ++e) {
      double x = rt::loadElement(out.data(), dt, e);
      double r = rt::loadElement(expected.data.data(), expected.dtype, e);
      ASSERT_FALSE(std::isnan(x)) << "element " << e << " not written";
      maxErr = std::max(maxErr, std::fabs(x - r));
      maxRef = std::max(maxRef, std::fabs(r));
    }
    EXPECT_LE(maxErr / maxRef, dt == rt::DType::bf16 ? 2e-2 : 1e-5);
  }
  for (unsigned long long p : device)
    d.cuMemFree(p);
  k = rt::Kernel();
  d.cuCtxSetCurrent(nullptr);
  d.cuDevicePrimaryCtxRelease(gpu);
}

TEST(CudaGpu, AddF32) {
  runOnGpu("add_f32", "Z", {rt::floatScalar(ATTN_F32, 0.5)}, ATTN_OK);
}
TEST(CudaGpu, AddBF16) {
  runOnGpu("add_bf16", "Z", {rt::floatScalar(ATTN_F32, -1.25)},
           ATTN_OK);
}
TEST(CudaGpu, Gather) { runOnGpu("gather", "O", {}, ATTN_OK); }
TEST(CudaGpu, GatherOutOfRange) {
  runOnGpu("gather_oob", "O", {}, ATTN_ERROR_KERNEL,
           "out-of-range read of X: dimension 1 has extent 50");
}

} // namespace

//===----------------------------------------------------------------------===//
// cuda.h, where installed: CudaDriver.h's constants and symbol names
//===----------------------------------------------------------------------===//

#ifdef ATTN_HAVE_CUDA_H
// Last in the file: cuda.h's macros rename cuMemAlloc and the like.
#include <cuda.h>

namespace {

TEST(CudaDriver, MatchesCudaH) {
  namespace c = ::attn::rt::cuda;
  static_assert(sizeof(c::CUdeviceptr) == sizeof(::CUdeviceptr), "");
#define ATTN_SAME(name) static_assert(int(c::name) == int(::name), #name);
  ATTN_SAME(CUDA_ERROR_NO_DEVICE)
  ATTN_SAME(CUDA_ERROR_INVALID_PTX)
  ATTN_SAME(CUDA_ERROR_UNSUPPORTED_PTX_VERSION)
  ATTN_SAME(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
  ATTN_SAME(CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)
  ATTN_SAME(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
  ATTN_SAME(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)
  ATTN_SAME(CU_POINTER_ATTRIBUTE_MEMORY_TYPE)
  ATTN_SAME(CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL)
  ATTN_SAME(CU_POINTER_ATTRIBUTE_RANGE_START_ADDR)
  ATTN_SAME(CU_POINTER_ATTRIBUTE_RANGE_SIZE)
  ATTN_SAME(CU_MEMORYTYPE_DEVICE)
  ATTN_SAME(CU_MEMORYTYPE_UNIFIED)
  ATTN_SAME(CU_JIT_ERROR_LOG_BUFFER)
  ATTN_SAME(CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES)
#undef ATTN_SAME
  // The ABI names are what cuda.h maps the API names to.
#define ATTN_STRING(x) #x
#define ATTN_EXPANDED(x) ATTN_STRING(x)
#define ATTN_CUDA_SYMBOL(member, abi, fallback)                                \
  EXPECT_STREQ(ATTN_EXPANDED(member), abi);
#include "runtime/CudaDriverSymbols.def"
#undef ATTN_CUDA_SYMBOL
}
} // namespace

#endif

