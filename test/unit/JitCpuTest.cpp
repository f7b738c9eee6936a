// The JIT API (codegen/jit): compile from a string and from a file, for the
// CPU and the reference; cache keys; hits that run neither the frontend nor
// Halide (the cached shared object is loaded through the runtime); corrupt
// entries (the module, the shared object, its manifest) removed and
// recompiled; typed-buffer runs; two processes filling one fresh cache at
// once; the abstract cache with a stand-in artefact. CPU results are checked
// against the float64 reference interpreter on random odd sizes, outputs
// poisoned with NaN first.
#include "codegen/jit/JitCompiler.h"
#include "codegen/jit/KernelCache.h"
#include "runtime/DType.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sys/wait.h>
#include <unistd.h>

using namespace mlir::attn;
namespace fs = llvm::sys::fs;

namespace {

// Softmax attention over f32 (or a dtype substituted for T), with a causal
// mask and a param that scales the scores.
std::string attentionSource(const std::string &dtype = "f32") {
  return "kernel attend(Q: " + dtype + "[P, E], K: " + dtype +
         "[M, E], V: " + dtype +
         "[M, F])\n"
         "    -> (O: f32[P, F] = 0) {\n"
         "  param scale: f32 = 0.5\n"
         "  S[m,p]   = Q[p,e] * K[m,e] * scale where m <= p\n"
         "  GM[p]    = max(m) S[m,p]\n"
         "  SN[m,p]  = exp(S[m,p] - GM[p])\n"
         "  SD[p]    = sum(m) SN[m,p]\n"
         "  SNV[p,f] = sum(m) SN[m,p] * V[m,f]\n"
         "  O[p,f]   = SNV[p,f] / SD[p]\n"
         "}\n";
}

/// A fresh, empty directory, removed with the fixture.
class TempDir {
public:
  TempDir() {
    llvm::SmallString<128> p;
    EXPECT_FALSE(fs::createUniqueDirectory("attn-jit-test", p));
    path = std::string(p);
  }
  ~TempDir() { fs::remove_directories(path, /*IgnoreErrors=*/true); }
  std::string path;
};

/// Random inputs: odd extents per size symbol (the same symbol, the same
/// extent), values in [-1, 1).
std::vector<RefArg> randomInputs(const JitKernel &kernel, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> value(-1, 1);
  std::map<std::string, int64_t> sizes;
  std::vector<RefArg> args;
  for (const JitValueInfo &in : kernel.inputs()) {
    if (in.isScalar) {
      args.push_back(RefArg::ofScalar(value(rng)));
      continue;
    }
    RefTensor t;
    for (const std::string &d : in.dims) {
      auto [it, fresh] = sizes.emplace(d, 0);
      if (fresh)
        it->second = 3 + 2 * static_cast<int64_t>(rng() % 6); // 3 .. 13
      t.shape.push_back(it->second);
    }
    int64_t count = 1;
    for (int64_t e : t.shape)
      count *= e;
    for (int64_t i = 0; i < count; ++i)
      t.values.push_back(value(rng));
    args.push_back(RefArg::ofTensor(std::move(t)));
  }
  return args;
}

/// Runs `kernel` with its outputs poisoned, runs the reference interpreter
/// (the JIT's "ref" target, on the same source and options), and checks the
/// normwise relative error of every output.
void expectMatchesReference(JitKernel &kernel, const std::string &source,
                            JitOptions options, const std::vector<RefArg> &args,
                            double tolerance) {
  options.target = "ref";
  options.useCache = false;
  std::unique_ptr<JitKernel> ref;
  JitStatus status = compileAttnSource(source, options, ref);
  ASSERT_TRUE(status) << status.message();
  std::vector<RefTensor> want;
  status = ref->run(args, want);
  ASSERT_TRUE(status) << status.message();

  std::vector<RefTensor> got(want.size());
  for (size_t o = 0; o < want.size(); ++o) {
    got[o].shape = want[o].shape;
    got[o].values.assign(want[o].values.size(),
                         std::numeric_limits<double>::quiet_NaN());
  }
  status = kernel.run(args, got);
  ASSERT_TRUE(status) << status.message();
  ASSERT_EQ(got.size(), want.size());
  for (size_t o = 0; o < want.size(); ++o) {
    ASSERT_EQ(got[o].shape, want[o].shape);
    ASSERT_EQ(got[o].values.size(), want[o].values.size());
    double diff = 0, scale = 0;
    for (size_t i = 0; i < want[o].values.size(); ++i) {
      ASSERT_FALSE(std::isnan(got[o].values[i]))
          << "output " << o << "[" << i << "] was never written";
      diff = std::max(diff, std::fabs(got[o].values[i] - want[o].values[i]));
      scale = std::max(scale, std::fabs(want[o].values[i]));
    }
    EXPECT_LE(diff, tolerance * std::max(scale, 1e-30))
        << "output " << o << ": max |cpu - ref| " << diff << ", max |ref| "
        << scale;
  }
}

std::string readFile(const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  return buffer ? (*buffer)->getBuffer().str() : std::string();
}

void writeFile(const std::string &path, const std::string &text) {
  std::ofstream os(path, std::ios::binary | std::ios::trunc);
  os << text;
}

std::string entryFile(const JitOptions &options, const JitKernel &kernel,
                      const char *name) {
  return options.cacheDir + "/" + kernel.cacheKey() + "/" + name;
}

/// Replaces a file of a cache entry and its line in the entry's index, so
/// that sizes and checksums match: only loading can tell it is bad.
void replaceIndexed(const std::string &entry, const std::string &name,
                    const std::string &bytes) {
  writeFile(entry + "/" + name, bytes);
  std::string index = readFile(entry + "/manifest");
  size_t at = index.find("file " + name + " ");
  ASSERT_NE(at, std::string::npos) << name;
  size_t eol = index.find('\n', at);
  index.replace(at, eol - at,
                "file " + name + " " + std::to_string(bytes.size()) + " " +
                    sha256Hex(bytes));
  writeFile(entry + "/manifest", index);
}

/// Typed copies of RefArgs (tensors converted to their declared dtypes,
/// row-major), outputs allocated with the kernel's output shapes.
struct TypedArgs {
  std::vector<std::vector<int64_t>> shapes;
  std::vector<std::vector<uint8_t>> data;
  std::vector<attn_tensor> tensors;
  std::vector<attn_scalar> scalars;

  TypedArgs(const JitKernel &kernel, const std::vector<RefArg> &args) {
    namespace rt = ::attn::rt;
    shapes.reserve(16);
    data.reserve(16);
    for (size_t i = 0; i < args.size(); ++i) {
      rt::DType dt = *rt::parseDType(kernel.inputs()[i].dtype);
      if (args[i].isScalar) {
        attn_scalar s{};
        s.dtype = static_cast<int>(dt);
        if (rt::isFloat(dt))
          s.value.f = args[i].scalar;
        else
          s.value.i = static_cast<int64_t>(args[i].scalar);
        scalars.push_back(s);
        continue;
      }
      add(dt, args[i].tensor.shape);
      for (size_t e = 0; e < args[i].tensor.values.size(); ++e)
        rt::storeElement(data.back().data(), dt, e, args[i].tensor.values[e]);
    }
    std::vector<std::vector<int64_t>> out;
    JitStatus status = kernel.outputShapes(tensors, scalars, out);
    EXPECT_TRUE(status) << status.message();
    for (size_t o = 0; o < out.size(); ++o)
      add(*rt::parseDType(kernel.outputs()[o].dtype), out[o]);
  }
  void add(::attn::rt::DType dt, const std::vector<int64_t> &shape) {
    size_t n = 1;
    for (int64_t e : shape)
      n *= e;
    shapes.push_back(shape);
    data.emplace_back(std::max<size_t>(n, 1) * ::attn::rt::dtypeSize(dt));
    tensors.push_back({data.back().data(), static_cast<int>(dt),
                       static_cast<int>(shape.size()), shapes.back().data(),
                       nullptr, ATTN_DEVICE_CPU});
  }
  /// Output `o` as a RefTensor of doubles.
  RefTensor output(const JitKernel &kernel, size_t o) const {
    size_t t = tensors.size() - kernel.outputs().size() + o;
    ::attn::rt::DType dt = *::attn::rt::parseDType(kernel.outputs()[o].dtype);
    RefTensor r;
    r.shape = shapes[t];
    size_t n = 1;
    for (int64_t e : r.shape)
      n *= e;
    for (size_t e = 0; e < n; ++e)
      r.values.push_back(::attn::rt::loadElement(data[t].data(), dt, e));
    return r;
  }
};

// --- Compiling ---------------------------------------------------------------

TEST(JitCpu, CompilesFromStringAndMatchesReference) {
  TempDir cache;
  JitOptions options;
  options.cacheDir = cache.path;
  for (const char *dtype : {"f32", "bf16", "f16"}) {
    SCOPED_TRACE(dtype);
    std::string source = attentionSource(dtype);
    std::unique_ptr<JitKernel> kernel;
    JitStatus status = compileAttnSource(source, options, kernel);
    ASSERT_TRUE(status) << status.message();
    EXPECT_EQ(kernel->name(), "attend");
    EXPECT_EQ(kernel->target(), "cpu");
    ASSERT_EQ(kernel->inputs().size(), 3u);
    EXPECT_EQ(kernel->inputs()[0].dtype, dtype);
    EXPECT_EQ(kernel->inputs()[1].dims, (std::vector<std::string>{"M", "E"}));
    ASSERT_EQ(kernel->outputs().size(), 1u);
    EXPECT_EQ(kernel->outputs()[0].name, "O");
    double tolerance = std::string(dtype) == "f32" ? 1e-5 : 2e-2;
    for (unsigned seed : {1u, 2u, 3u})
      expectMatchesReference(*kernel, source, options,
                             randomInputs(*kernel, seed), tolerance);
  }
}

TEST(JitCpu, CompilesFromFileAndMatchesReference) {
  TempDir cache;
  JitOptions options;
  options.cacheDir = cache.path;
  for (const char *name : {"causal", "softcap", "sliding_window", "decode"}) {
    SCOPED_TRACE(name);
    std::string path =
        std::string(ATTN_SOURCE_DIR) + "/examples/" + name + ".attn";
    std::unique_ptr<JitKernel> kernel;
    JitStatus status = compileAttnFile(path, options, kernel);
    ASSERT_TRUE(status) << status.message();
    EXPECT_EQ(kernel->name(), name);
    // f16 / bf16 inputs.
    expectMatchesReference(*kernel, readFile(path), options,
                           randomInputs(*kernel, 7), 2e-2);
  }
}

TEST(JitCpu, ReportsErrorsAsStatus) {
  TempDir cache;
  JitOptions options;
  options.cacheDir = cache.path;
  std::unique_ptr<JitKernel> kernel;

  JitStatus status =
      compileAttnSource("kernel k(Q: f32[P]) -> (O: f32[P] = 0) {\n"
                        "  O[p] = Nope[p]\n}\n",
                        options, kernel, "bad.attn");
  EXPECT_FALSE(status);
  EXPECT_NE(status.message().find("bad.attn:2:"), std::string::npos)
      << status.message();
  EXPECT_FALSE(kernel);

  status = compileAttnFile("/nonexistent/x.attn", options, kernel);
  EXPECT_NE(status.message().find("cannot read"), std::string::npos);

  JitOptions other = options;
  other.target = "gpu-someday";
  status = compileAttnSource(attentionSource(), other, kernel);
  EXPECT_NE(status.message().find("unknown target"), std::string::npos);

  other = options;
  other.halide.target = "not-a-target";
  status = compileAttnSource(attentionSource(), other, kernel);
  EXPECT_NE(status.message().find("Halide target"), std::string::npos);

  other = options;
  other.kernelName = "missing";
  status = compileAttnSource(attentionSource(), other, kernel);
  EXPECT_NE(status.message().find("no kernel named 'missing'"),
            std::string::npos)
      << status.message();

  // Bad arguments to a good kernel.
  status = compileAttnSource(attentionSource(), options, kernel);
  ASSERT_TRUE(status) << status.message();
  std::vector<RefTensor> results;
  std::vector<RefArg> args = randomInputs(*kernel, 1);
  status = kernel->run({args[0], args[1]}, results);
  EXPECT_NE(status.message().find("takes 3 arguments"), std::string::npos);
  std::vector<RefArg> wrong = args;
  wrong[0].tensor.values.pop_back();
  status = kernel->run(wrong, results);
  EXPECT_NE(status.message().find("values"), std::string::npos)
      << status.message();
  wrong = args;
  wrong[1].tensor.shape[1] += 1; // E disagrees with Q's
  wrong[1].tensor.values.resize(wrong[1].tensor.shape[0] *
                                wrong[1].tensor.shape[1]);
  status = kernel->run(wrong, results);
  EXPECT_NE(status.message().find("size symbol E"), std::string::npos)
      << status.message();
  wrong = args;
  wrong[2] = RefArg::ofScalar(1);
  status = kernel->run(wrong, results);
  EXPECT_NE(status.message().find("must be a tensor"), std::string::npos);
}

// --- Keys and the cache
// --------------------------------------------------------

TEST(JitCpu, ParamsBindsAndOptionsChangeTheKey) {
  std::string source = attentionSource();
  JitOptions base;
  std::string k0, k1;
  ASSERT_TRUE(jitCacheKey(source, base, k0));
  ASSERT_TRUE(jitCacheKey(source, base, k1));
  EXPECT_EQ(k0, k1);
  EXPECT_EQ(k0.size(), 64u);

  auto keyWith = [&](auto change) {
    JitOptions o = base;
    change(o);
    std::string k;
    JitStatus status = jitCacheKey(source, o, k);
    EXPECT_TRUE(status) << status.message();
    return k;
  };
  std::set<std::string> keys = {k0};
  keys.insert(keyWith([](JitOptions &o) { o.params["scale"] = "0.25"; }));
  keys.insert(keyWith([](JitOptions &o) { o.binds["E"] = 8; }));
  keys.insert(keyWith([](JitOptions &o) { o.binds["E"] = 16; }));
  keys.insert(keyWith([](JitOptions &o) { o.kernelName = "attend"; }));
  keys.insert(keyWith([](JitOptions &o) { o.target = "ref"; }));
  keys.insert(keyWith([](JitOptions &o) { o.halide.vectorWidth = 4; }));
  keys.insert(keyWith([](JitOptions &o) { o.halide.rowTile = 2; }));
  keys.insert(keyWith([](JitOptions &o) { o.halide.computeRoot = true; }));
  keys.insert(keyWith([](JitOptions &o) { o.halide.strictFloat = false; }));
  EXPECT_EQ(keys.size(), 10u); // the base key and nine changes
  // The cache location and mode are not part of the key.
  EXPECT_EQ(keyWith([](JitOptions &o) { o.cacheDir = "/elsewhere"; }), k0);
  EXPECT_EQ(keyWith([](JitOptions &o) { o.useCache = false; }), k0);
  std::string other;
  ASSERT_TRUE(jitCacheKey(source + " ", base, other));
  EXPECT_NE(other, k0);

  std::string text;
  ASSERT_TRUE(jitCacheKeyText(source, base, text));
  EXPECT_NE(text.find("version "), std::string::npos);
  EXPECT_EQ(text.find("halide.target host"), std::string::npos)
      << "host must be resolved: " << text;

  JitOptions bad = base;
  bad.binds["E"] = 0;
  EXPECT_FALSE(jitCacheKey(source, bad, other));
}

TEST(JitCpu, ParamsAndBindsReachTheKernel) {
  TempDir cache;
  JitOptions options;
  options.cacheDir = cache.path;
  options.params["scale"] = "0.125";
  options.binds["E"] = 5;
  std::string source = attentionSource();
  std::unique_ptr<JitKernel> kernel;
  JitStatus status = compileAttnSource(source, options, kernel);
  ASSERT_TRUE(status) << status.message();
  std::vector<RefArg> args = randomInputs(*kernel, 4);
  // randomInputs picks E itself; force the bound extent.
  for (int i : {0, 1}) {
    RefTensor &t = args[i].tensor;
    t.shape[1] = 5;
    t.values.resize(t.shape[0] * 5, 0.5);
  }
  expectMatchesReference(*kernel, source, options, args, 1e-5);
  args[0].tensor.shape[1] = 1;
  args[0].tensor.values.resize(args[0].tensor.shape[0]);
  std::vector<RefTensor> results;
  EXPECT_FALSE(kernel->run(args, results));
}

TEST(JitCpu, CompilesInParallelOnBackgroundThreads) {
  // Two specializations and a file compiled at once, each on its own
  // thread; the same key twice at once too. Every kernel is right.
  TempDir cache;
  JitOptions options;
  options.cacheDir = cache.path;
  std::string source = attentionSource();
  JitOptions bound = options;
  bound.binds["E"] = 5;
  std::vector<std::future<JitCompileResult>> futures;
  futures.push_back(compileAttnSourceAsync(source, options));
  futures.push_back(compileAttnSourceAsync(source, bound));
  futures.push_back(compileAttnSourceAsync(source, bound));
  futures.push_back(compileAttnFileAsync(
      std::string(ATTN_SOURCE_DIR) + "/examples/causal.attn", options));
  std::vector<JitCompileResult> results;
  for (auto &f : futures)
    results.push_back(f.get());
  for (JitCompileResult &r : results)
    ASSERT_TRUE(r.status) << r.status.message();
  expectMatchesReference(*results[0].kernel, source, options,
                         randomInputs(*results[0].kernel, 11), 1e-5);
  std::vector<RefArg> args = randomInputs(*results[1].kernel, 12);
  for (int i : {0, 1}) {
    RefTensor &t = args[i].tensor;
    t.shape[1] = 5;
    t.values.resize(t.shape[0] * 5, 0.25);
  }
  expectMatchesReference(*results[1].kernel, source, bound, args, 1e-5);
  EXPECT_EQ(results[1].kernel->cacheKey(), results[2].kernel->cacheKey());
  EXPECT_EQ(results[3].kernel->name(), "causal");
  // A failing compile comes back through the future as well.
  JitCompileResult bad = compileAttnSourceAsync("kernel broken(", options).get();
  EXPECT_FALSE(bad.status);
  EXPECT_EQ(bad.kernel, nullptr);
}

TEST(JitCpu, CacheHitSkipsCompilation) {
  TempDir cache;
  JitOptions options;
  options.cacheDir = cache.path;
  std::string source = attentionSource();
  resetJitStats();

  std::unique_ptr<JitKernel> first, second, third;
  ASSERT_TRUE(compileAttnSource(source, options, first));
  EXPECT_EQ(first->cacheOutcome(), CacheOutcome::Miss);
  JitStats s = jitStats();
  EXPECT_EQ(s.frontendRuns, 1u);
  EXPECT_EQ(s.halideCompiles, 1u);
  EXPECT_EQ(s.cache.misses, 1u);
  EXPECT_EQ(s.cache.hits, 0u);
  for (const char *file : {"manifest", "kernel.mlir", "kernel.so",
                           "kernel.attn.json"})
    EXPECT_TRUE(fs::exists(entryFile(options, *first, file))) << file;

  ASSERT_TRUE(compileAttnSource(source, options, second));
  EXPECT_EQ(second->cacheOutcome(), CacheOutcome::Hit);
  s = jitStats();
  EXPECT_EQ(s.frontendRuns, 1u) << "a hit must not run the frontend";
  EXPECT_EQ(s.halideCompiles, 1u) << "a hit must not invoke Halide";
  EXPECT_EQ(s.cache.hits, 1u);
  EXPECT_EQ(second->cacheKey(), first->cacheKey());
  EXPECT_EQ(second->moduleText(), first->moduleText());

  // The same source under another name and as a file hits too (the key is
  // the content).
  TempDir dir;
  writeFile(dir.path + "/a.attn", source);
  ASSERT_TRUE(compileAttnFile(dir.path + "/a.attn", options, third));
  EXPECT_EQ(third->cacheOutcome(), CacheOutcome::Hit);
  EXPECT_EQ(jitStats().frontendRuns, 1u);
  EXPECT_EQ(jitStats().halideCompiles, 1u);

  // Both kernels compute the same thing.
  std::vector<RefArg> args = randomInputs(*first, 9);
  std::vector<RefTensor> a, b;
  ASSERT_TRUE(first->run(args, a));
  ASSERT_TRUE(second->run(args, b));
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(a[0].values, b[0].values);

  // Other params: another entry, compiled.
  options.params["scale"] = "2.0";
  ASSERT_TRUE(compileAttnSource(source, options, third));
  EXPECT_EQ(third->cacheOutcome(), CacheOutcome::Miss);
  EXPECT_NE(third->cacheKey(), first->cacheKey());
  EXPECT_EQ(jitStats().frontendRuns, 2u);
  EXPECT_EQ(jitStats().halideCompiles, 2u);

  // The cache off: compiled every time, nothing written.
  TempDir empty;
  options.cacheDir = empty.path;
  options.useCache = false;
  ASSERT_TRUE(compileAttnSource(source, options, third));
  EXPECT_EQ(third->cacheOutcome(), CacheOutcome::Uncached);
  EXPECT_EQ(jitStats().frontendRuns, 3u);
  EXPECT_EQ(jitStats().halideCompiles, 3u);
  // The kernel outlives its (deleted) temporary files.
  std::vector<RefTensor> c;
  ASSERT_TRUE(third->run(args, c));
  std::error_code ec;
  EXPECT_EQ(fs::directory_iterator(empty.path, ec), fs::directory_iterator());
}

/// A way to damage a cache entry, by name.
struct CacheDamage {
  const char *what;
  std::function<void()> apply;
};

/// Compiles `source` again after a damage: the cache must notice the corrupt
/// entry and recompile, through the frontend once.
void expectRecompiled(const std::string &source, const JitOptions &options,
                      std::unique_ptr<JitKernel> &again) {
  resetJitStats();
  JitStatus status = compileAttnSource(source, options, again);
  ASSERT_TRUE(status) << status.message();
  EXPECT_EQ(again->cacheOutcome(), CacheOutcome::Recompiled);
  EXPECT_EQ(jitStats().cache.corruptEntries, 1u);
  EXPECT_EQ(jitStats().frontendRuns, 1u);
}

TEST(JitCpu, CorruptEntriesAreRecompiled) {
  TempDir cache;
  JitOptions options;
  options.cacheDir = cache.path;
  std::string source = attentionSource();
  std::unique_ptr<JitKernel> kernel;
  ASSERT_TRUE(compileAttnSource(source, options, kernel));
  const std::string module = entryFile(options, *kernel, "kernel.mlir");
  const std::string manifest = entryFile(options, *kernel, "manifest");
  const std::string good = readFile(module);
  ASSERT_FALSE(good.empty());

  std::vector<CacheDamage> damages = {
      {"truncated module",
       [&] { writeFile(module, good.substr(0, good.size() / 2)); }},
      {"garbled module, same size",
       [&] {
         std::string bad = good;
         for (size_t i = 0; i < bad.size(); i += 7)
           bad[i] = '#';
         writeFile(module, bad);
       }},
      {"empty module", [&] { writeFile(module, ""); }},
      {"missing module", [&] { fs::remove(module); }},
      {"truncated manifest",
       [&] {
         std::string m = readFile(manifest);
         writeFile(manifest, m.substr(0, m.size() - 10));
       }},
      {"garbage manifest", [&] { writeFile(manifest, "\x01\x02garbage"); }},
      {"missing manifest", [&] { fs::remove(manifest); }},
      // Checksums that match, but a module that does not parse: the load
      // fails, and that too marks the entry corrupt.
      {"valid manifest, unloadable module",
       [&] {
         replaceIndexed(cache.path + "/" + kernel->cacheKey(), "kernel.mlir",
                        "this is not MLIR");
       }},
  };
  std::vector<RefArg> args = randomInputs(*kernel, 5);
  for (const CacheDamage &d : damages) {
    SCOPED_TRACE(d.what);
    d.apply();
    std::unique_ptr<JitKernel> again;
    expectRecompiled(source, options, again);
    if (::testing::Test::HasFatalFailure())
      return;
    EXPECT_EQ(readFile(module), good) << "the entry was not rewritten";
    expectMatchesReference(*again, source, options, args, 1e-5);
    // And the rewritten entry is a hit again.
    ASSERT_TRUE(compileAttnSource(source, options, again));
    EXPECT_EQ(again->cacheOutcome(), CacheOutcome::Hit);
  }
  // Nothing left behind but the entry and its lock file.
  std::error_code ec;
  int files = 0;
  for (fs::directory_iterator it(cache.path, ec), end; it != end && !ec;
       it.increment(ec))
    ++files;
  EXPECT_EQ(files, 2);
}

TEST(JitCpu, CorruptSharedObjectsAreRecompiled) {
  TempDir cache;
  JitOptions options;
  options.cacheDir = cache.path;
  std::string source = attentionSource();
  std::unique_ptr<JitKernel> kernel;
  ASSERT_TRUE(compileAttnSource(source, options, kernel));
  const std::string entry = cache.path + "/" + kernel->cacheKey();
  const std::string library = entry + "/kernel.so";
  const std::string json = entry + "/kernel.attn.json";
  const std::string goodLibrary = readFile(library), goodJson = readFile(json);
  ASSERT_GT(goodLibrary.size(), 1000u);
  ASSERT_FALSE(goodJson.empty());
  std::vector<RefArg> args = randomInputs(*kernel, 11);
  // `kernel` stays loaded throughout: it runs from its own copy, so damage
  // to the entry never reaches it, and the recompiled entries are really
  // loaded from their new files, not handed back as the library of that
  // path already loaded.

  std::vector<CacheDamage> damages = {
      // Caught by the entry's index (size or checksum) before any dlopen.
      {"truncated library",
       [&] { writeFile(library, goodLibrary.substr(0, 4096)); }},
      {"empty library", [&] { writeFile(library, ""); }},
      {"garbled library, same size",
       [&] {
         std::string bad = goodLibrary;
         for (size_t i = 64; i < bad.size(); i += 997)
           bad[i] ^= 0x5a;
         writeFile(library, bad);
       }},
      {"missing library", [&] { fs::remove(library); }},
      {"truncated kernel manifest",
       [&] { writeFile(json, goodJson.substr(0, goodJson.size() / 2)); }},
      {"missing kernel manifest", [&] { fs::remove(json); }},
      // An index that matches, but files the runtime refuses to load.
      {"indexed library that is not ELF",
       [&] { replaceIndexed(entry, "kernel.so", "not a shared object"); }},
      {"indexed kernel manifest that is not JSON",
       [&] { replaceIndexed(entry, "kernel.attn.json", "{\"format\": "); }},
      {"indexed kernel manifest of another kernel",
       [&] {
         std::string other = goodJson;
         size_t at = other.find("\"kernel\": \"attend\"");
         ASSERT_NE(at, std::string::npos);
         other.replace(at, 18, "\"kernel\": \"attenD\"");
         replaceIndexed(entry, "kernel.attn.json", other);
       }},
  };
  for (const CacheDamage &d : damages) {
    SCOPED_TRACE(d.what);
    d.apply();
    std::unique_ptr<JitKernel> again;
    expectRecompiled(source, options, again);
    if (::testing::Test::HasFatalFailure())
      return;
    EXPECT_EQ(jitStats().halideCompiles, 1u);
    EXPECT_EQ(readFile(json), goodJson) << "the entry was not rewritten";
    // A whole library again (not the damaged file). Not byte-equal to the
    // first: Halide gives a Func name it has seen earlier in the process a
    // suffix ("S$1"), so a recompile in one process differs in its names.
    std::string rewritten = readFile(library);
    EXPECT_EQ(rewritten.substr(0, 4), std::string("\x7f" "ELF"));
    EXPECT_GT(rewritten.size(), goodLibrary.size() / 2);
    expectMatchesReference(*again, source, options, args, 1e-5);
    again.reset();
    // The rewritten entry is a hit again, without Halide.
    resetJitStats();
    ASSERT_TRUE(compileAttnSource(source, options, again));
    EXPECT_EQ(again->cacheOutcome(), CacheOutcome::Hit);
    EXPECT_EQ(jitStats().halideCompiles, 0u);
    EXPECT_EQ(jitStats().frontendRuns, 0u);
    expectMatchesReference(*again, source, options, args, 1e-5);
  }
  expectMatchesReference(*kernel, source, options, args, 1e-5);
}

// --- Typed buffers --------------------------------------------------------------

TEST(JitCpu, TypedRunsMatchReference) {
  TempDir cache;
  JitOptions options;
  options.cacheDir = cache.path;
  for (const char *dtype : {"f32", "bf16"}) {
    SCOPED_TRACE(dtype);
    std::string source = attentionSource(dtype);
    std::unique_ptr<JitKernel> kernel, ref;
    ASSERT_TRUE(compileAttnSource(source, options, kernel));
    JitOptions refOptions = options;
    refOptions.target = "ref";
    ASSERT_TRUE(compileAttnSource(source, refOptions, ref));
    for (unsigned seed : {21u, 22u, 23u}) {
      std::vector<RefArg> args = randomInputs(*kernel, seed);
      TypedArgs typed(*kernel, args);
      std::vector<RefTensor> want;
      ASSERT_TRUE(ref->run(args, want));
      JitStatus status = kernel->run(typed.tensors, typed.scalars);
      ASSERT_TRUE(status) << status.message();
      RefTensor got = typed.output(*kernel, 0);
      ASSERT_EQ(got.shape, want[0].shape);
      double diff = 0, scale = 0;
      for (size_t e = 0; e < want[0].values.size(); ++e) {
        diff = std::max(diff, std::fabs(got.values[e] - want[0].values[e]));
        scale = std::max(scale, std::fabs(want[0].values[e]));
      }
      double tolerance = std::string(dtype) == "f32" ? 1e-5 : 2e-2;
      EXPECT_LE(diff, tolerance * scale) << "max |cpu - ref| " << diff;
    }
  }
}

TEST(JitCpu, TypedRunsTakeStridesAndCheckArguments) {
  TempDir cache;
  JitOptions options;
  options.cacheDir = cache.path;
  std::string source = attentionSource();
  std::unique_ptr<JitKernel> kernel;
  ASSERT_TRUE(compileAttnSource(source, options, kernel));
  std::vector<RefArg> args = randomInputs(*kernel, 31);
  TypedArgs typed(*kernel, args);
  ASSERT_TRUE(kernel->run(typed.tensors, typed.scalars));
  RefTensor dense = typed.output(*kernel, 0);

  // K with padded rows (row stride E + 3): the same result.
  const std::vector<int64_t> &ks = typed.shapes[1];
  int64_t rowStride = ks[1] + 3;
  std::vector<float> padded(ks[0] * rowStride, NAN);
  const float *k = reinterpret_cast<const float *>(typed.data[1].data());
  for (int64_t m = 0; m < ks[0]; ++m)
    std::copy(k + m * ks[1], k + (m + 1) * ks[1], padded.begin() + m * rowStride);
  std::vector<int64_t> strides = {rowStride, 1};
  std::vector<attn_tensor> strided = typed.tensors;
  strided[1].data = padded.data();
  strided[1].strides = strides.data();
  ASSERT_TRUE(kernel->run(strided, typed.scalars));
  EXPECT_EQ(typed.output(*kernel, 0).values, dense.values);

  auto expectError = [&](std::vector<attn_tensor> t, const std::string &what) {
    JitStatus status = kernel->run(t, typed.scalars);
    EXPECT_FALSE(status);
    EXPECT_NE(status.message().find(what), std::string::npos)
        << status.message();
  };
  std::vector<attn_tensor> bad = typed.tensors;
  std::vector<int64_t> wrongShape = typed.shapes[3];
  wrongShape[0] += 1;
  bad[3].shape = wrongShape.data();
  expectError(bad, "output O must have shape");
  bad = typed.tensors;
  bad[0].dtype = ATTN_F16;
  expectError(bad, "argument Q must be f32, got f16");
  bad = typed.tensors;
  bad[1].rank = 3;
  expectError(bad, "must have rank 2");
  bad = typed.tensors;
  bad.pop_back();
  expectError(bad, "tensors");
  std::vector<int64_t> otherE = typed.shapes[1];
  otherE[1] += 2;
  bad = typed.tensors;
  bad[1].shape = otherE.data();
  expectError(bad, "size symbol E");

  // The reference target takes RefArgs only.
  JitOptions refOptions = options;
  refOptions.target = "ref";
  std::unique_ptr<JitKernel> ref;
  ASSERT_TRUE(compileAttnSource(source, refOptions, ref));
  EXPECT_FALSE(ref->run(typed.tensors, typed.scalars));
}

// --- Two processes, one fresh cache
// ----------------------------------------------

// The child half of TwoProcessesShareOneFreshCache: runs only when the parent
// re-executes this binary with ATTN_JIT_TEST_CHILD set to the cache dir
// (DISABLED_: never run on its own, so it is never reported as skipped).
TEST(JitCpuChild, DISABLED_CompileRunAndReport) {
  const char *dir = std::getenv("ATTN_JIT_TEST_CHILD");
  ASSERT_NE(dir, nullptr) << "runs as a child of TwoProcessesShareOneFreshCache";
  JitOptions options;
  options.cacheDir = dir;
  std::string path = std::string(ATTN_SOURCE_DIR) + "/examples/causal.attn";
  std::unique_ptr<JitKernel> kernel;
  JitStatus status = compileAttnFile(path, options, kernel);
  ASSERT_TRUE(status) << status.message();
  expectMatchesReference(*kernel, readFile(path), options,
                         randomInputs(*kernel, ::getpid()), 2e-2);
  std::ofstream(std::string(dir) + ".outcome." + std::to_string(::getpid()))
      << cacheOutcomeName(kernel->cacheOutcome());
}

TEST(JitCpu, TwoProcessesShareOneFreshCache) {
  TempDir root;
  std::string cache = root.path + "/cache"; // does not exist yet
  std::vector<pid_t> children;
  for (int i = 0; i < 2; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // Straight into a fresh image of this binary: nothing of the parent's
      // Halide or MLIR state is inherited.
      ::setenv("ATTN_JIT_TEST_CHILD", cache.c_str(), 1);
      // lit runs GoogleTest binaries in shards: the child must not inherit
      // the parent's shard, or its one test may fall outside it.
      ::unsetenv("GTEST_SHARD_INDEX");
      ::unsetenv("GTEST_TOTAL_SHARDS");
      ::unsetenv("GTEST_OUTPUT");
      std::string log = root.path + "/child" + std::to_string(i) + ".log";
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      const char *argv[] = {"JitCpuTests",
                            "--gtest_filter=JitCpuChild.DISABLED_CompileRunAndReport",
                            "--gtest_also_run_disabled_tests",
                            nullptr};
      ::execv("/proc/self/exe", const_cast<char **>(argv));
      ::_exit(127);
    }
    children.push_back(pid);
  }
  for (size_t i = 0; i < children.size(); ++i) {
    int wstatus = 0;
    ASSERT_EQ(::waitpid(children[i], &wstatus, 0), children[i]);
    EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
        << "child " << i << " failed (status " << wstatus << "):\n"
        << readFile(root.path + "/child" + std::to_string(i) + ".log");
  }
  // One compiled and published, the other waited on the lock and hit.
  std::multiset<std::string> outcomes;
  for (pid_t pid : children)
    outcomes.insert(readFile(cache + ".outcome." + std::to_string(pid)));
  EXPECT_EQ(outcomes, (std::multiset<std::string>{"hit", "miss"}));
  // One entry, one lock file, no temporaries.
  std::error_code ec;
  std::vector<std::string> names;
  for (fs::directory_iterator it(cache, ec), end; it != end && !ec;
       it.increment(ec))
    names.push_back(llvm::sys::path::filename(it->path()).str());
  std::sort(names.begin(), names.end());
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0] + ".lock", names[1]);
}

// --- The cache itself, with a stand-in artefact
// ------------------------------------

/// Writes one file holding `payload`; loads it back into `loaded`.
class StandInBuilder : public ArtefactBuilder {
public:
  std::string payload = "stand-in artefact v1";
  int produced = 0, loads = 0;
  std::string loaded;
  bool failProduce = false;

  JitStatus produce(const std::string &dir) override {
    ++produced;
    if (failProduce)
      return JitStatus::error("compile error");
    writeFile(dir + "/artefact.bin", payload);
    writeFile(dir + "/extra.txt", "second file");
    return JitStatus::ok();
  }
  JitStatus load(const std::string &dir) override {
    ++loads;
    loaded = readFile(dir + "/artefact.bin");
    if (loaded.rfind("stand-in", 0) != 0)
      return JitStatus::corrupt("not a stand-in artefact");
    return JitStatus::ok();
  }
};

TEST(JitCpu, KernelCacheWithStandInArtefact) {
  TempDir root;
  KernelCache cache(root.path + "/nested/cache");
  StandInBuilder builder;
  CacheOutcome outcome;
  const std::string key = sha256Hex("some key");

  ASSERT_TRUE(cache.getOrCreate(key, builder, outcome));
  EXPECT_EQ(outcome, CacheOutcome::Miss);
  EXPECT_EQ(builder.produced, 1);
  EXPECT_EQ(builder.loaded, builder.payload);

  ASSERT_TRUE(cache.getOrCreate(key, builder, outcome));
  EXPECT_EQ(outcome, CacheOutcome::Hit);
  EXPECT_EQ(builder.produced, 1);

  // Damage the second file: caught by the manifest, not by the loader.
  writeFile(cache.entryPath(key) + "/extra.txt", "second fil3");
  ASSERT_TRUE(cache.getOrCreate(key, builder, outcome));
  EXPECT_EQ(outcome, CacheOutcome::Recompiled);
  EXPECT_EQ(builder.produced, 2);

  // A producer error is passed through and leaves no entry.
  StandInBuilder failing;
  failing.failProduce = true;
  const std::string other = sha256Hex("other key");
  JitStatus status = cache.getOrCreate(other, failing, outcome);
  EXPECT_FALSE(status);
  EXPECT_EQ(status.message(), "compile error");
  EXPECT_FALSE(fs::exists(cache.entryPath(other)));

  // An artefact that never loads: an error after one retry, never a loop.
  StandInBuilder broken;
  broken.payload = "garbage";
  status = cache.getOrCreate(sha256Hex("broken"), broken, outcome);
  EXPECT_FALSE(status);
  EXPECT_NE(status.message().find("does not load"), std::string::npos)
      << status.message();

  // An unusable cache directory: built without the cache.
  writeFile(root.path + "/file", "x");
  KernelCache unusable(root.path + "/file/cache");
  StandInBuilder plain;
  ASSERT_TRUE(unusable.getOrCreate(key, plain, outcome));
  EXPECT_EQ(outcome, CacheOutcome::Uncached);
  EXPECT_EQ(plain.loaded, plain.payload);
}

TEST(JitCpu, DefaultCacheDirectoryFollowsTheEnvironment) {
  const char *saved[3] = {std::getenv("ATTN_CACHE_DIR"),
                          std::getenv("XDG_CACHE_HOME"), std::getenv("HOME")};
  std::string keep[3];
  for (int i = 0; i < 3; ++i)
    keep[i] = saved[i] ? saved[i] : "";
  ::setenv("ATTN_CACHE_DIR", "/a/b", 1);
  ::setenv("XDG_CACHE_HOME", "/x", 1);
  ::setenv("HOME", "/h", 1);
  EXPECT_EQ(KernelCache::defaultDirectory(), "/a/b");
  ::unsetenv("ATTN_CACHE_DIR");
  EXPECT_EQ(KernelCache::defaultDirectory(), "/x/attnc");
  ::unsetenv("XDG_CACHE_HOME");
  EXPECT_EQ(KernelCache::defaultDirectory(), "/h/.cache/attnc");
  const char *names[3] = {"ATTN_CACHE_DIR", "XDG_CACHE_HOME", "HOME"};
  for (int i = 0; i < 3; ++i) {
    if (saved[i])
      ::setenv(names[i], keep[i].c_str(), 1);
    else
      ::unsetenv(names[i]);
  }
}

} // namespace
