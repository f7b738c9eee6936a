// The JIT cache under faults a user's machine produces: an entry whose
// manifest lost a file's line while the file was truncated, a full disk
// (a file size limit, RLIMIT_FSIZE, so that writes fail with EFBIG as on a
// full disk, unprivileged), and a lock held by a stuck process. None may
// crash the process or hang it; cache trouble never fails a compile.
#include "codegen/jit/JitCompiler.h"
#include "codegen/jit/KernelCache.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

using namespace mlir::attn;
namespace fs = llvm::sys::fs;

namespace {

const char *kSource = "kernel scaled(Q: f32[P, E]) -> (O: f32[P, E]) {\n"
                      "  O[p,e] = Q[p,e] * 2\n"
                      "}\n";

class TempDir {
public:
  TempDir() {
    llvm::SmallString<128> p;
    EXPECT_FALSE(fs::createUniqueDirectory("attn-cache-faults", p));
    path = std::string(p);
  }
  ~TempDir() { fs::remove_directories(path, /*IgnoreErrors=*/true); }
  std::string path;
};

std::string readFile(const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  return buffer ? (*buffer)->getBuffer().str() : std::string();
}

void writeFile(const std::string &path, const std::string &text) {
  std::ofstream os(path, std::ios::binary | std::ios::trunc);
  os << text;
}

/// Makes every write past `bytes` of a file fail with EFBIG, as a full disk
/// fails with ENOSPC (in a death-test child only: it lasts for the process).
void limitFileSize(rlim_t bytes) {
  std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = {bytes, bytes};
  ::setrlimit(RLIMIT_FSIZE, &limit);
}

/// A builder of one small file, "artefact.bin"; optionally failing to write
/// it inside the cache (a full cache disk), but not elsewhere.
class SmallBuilder : public ArtefactBuilder {
public:
  std::string payload = "stand-in artefact";
  std::string failWritesUnder; // a directory prefix
  int produced = 0;
  std::string loaded;

  JitStatus produce(const std::string &dir) override {
    ++produced;
    if (!failWritesUnder.empty() && dir.rfind(failWritesUnder, 0) == 0)
      return JitStatus::writeFailure("cannot write " + dir +
                                     "/artefact.bin: No space left on device");
    writeFile(dir + "/artefact.bin", payload);
    return JitStatus::ok();
  }
  JitStatus load(const std::string &dir) override {
    loaded = readFile(dir + "/artefact.bin");
    return loaded == payload ? JitStatus::ok()
                             : JitStatus::corrupt("not the artefact");
  }
};

// The manifest no longer lists kernel.so and the library is truncated: the
// entry is corrupt (a file the manifest does not list was never checked),
// recompiled, never handed to dlopen.
TEST(KernelCacheFaults, UnlistedTruncatedLibraryIsRecompiled) {
  TempDir cache;
  JitOptions options;
  options.cacheDir = cache.path;
  std::unique_ptr<JitKernel> kernel;
  JitStatus status = compileAttnSource(kSource, options, kernel);
  ASSERT_TRUE(status) << status.message();
  std::string entry = cache.path + "/" + kernel->cacheKey();
  std::string manifest = readFile(entry + "/manifest"), kept;
  for (llvm::StringRef line : llvm::split(manifest, '\n'))
    if (!line.starts_with("file kernel.so ") && !line.empty())
      kept += line.str() + "\n";
  ASSERT_NE(kept, manifest);
  writeFile(entry + "/manifest", kept);
  std::string library = readFile(entry + "/kernel.so");
  writeFile(entry + "/kernel.so", library.substr(0, library.size() / 3));

  std::unique_ptr<JitKernel> again;
  status = compileAttnSource(kSource, options, again);
  ASSERT_TRUE(status) << status.message();
  EXPECT_EQ(again->cacheOutcome(), CacheOutcome::Recompiled);
  // Rebuilt whole (the link is not byte-for-byte reproducible).
  EXPECT_GT(readFile(entry + "/kernel.so").size(), library.size() / 2);
  RefTensor q;
  q.shape = {2, 3};
  q.values = {1, 2, 3, 4, 5, 6};
  std::vector<RefTensor> out;
  status = again->run({RefArg::ofTensor(q)}, out);
  ASSERT_TRUE(status) << status.message();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].values, (std::vector<double>{2, 4, 6, 8, 10, 12}));
}

// A manifest that cannot be written (the disk filled up after the
// artefact): the kernel is loaded from its staging copy, uncached.
TEST(KernelCacheFaults, ManifestWriteFailureBuildsUncached) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  TempDir root;
  EXPECT_EXIT(
      {
        limitFileSize(64); // the artefact fits, the manifest does not
        KernelCache cache(root.path + "/cache");
        SmallBuilder builder;
        CacheOutcome outcome;
        JitStatus status = cache.getOrCreate(sha256Hex("k"), builder, outcome);
        std::exit(status && outcome == CacheOutcome::Uncached &&
                          builder.loaded == builder.payload
                      ? 0
                      : 3);
      },
      ::testing::ExitedWithCode(0), "");
}

// An artefact that cannot be written into the cache: compiled without it,
// with a warning, not an error.
TEST(KernelCacheFaults, ArtefactWriteFailureBuildsUncached) {
  TempDir root;
  KernelCache cache(root.path + "/cache");
  SmallBuilder builder;
  builder.failWritesUnder = root.path;
  CacheOutcome outcome;
  KernelCache::resetCounters();
  ::testing::internal::CaptureStderr();
  JitStatus status = cache.getOrCreate(sha256Hex("k"), builder, outcome);
  std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(status) << status.message();
  EXPECT_EQ(outcome, CacheOutcome::Uncached);
  EXPECT_EQ(builder.produced, 2);
  EXPECT_EQ(builder.loaded, builder.payload);
  EXPECT_EQ(KernelCache::counters().writeFailures, 1u);
  EXPECT_NE(err.find("compiling without the cache"), std::string::npos) << err;
  EXPECT_NE(err.find("No space left on device"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(cache.entryPath(sha256Hex("k"))));
}

// A real compile on a "full disk" everywhere (the cache and the temporary
// directory): an error that names the file, never an abort.
TEST(KernelCacheFaults, FullDiskIsAnErrorNotACrash) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  TempDir cache;
  EXPECT_EXIT(
      {
        limitFileSize(1024); // smaller than kernel.mlir
        JitOptions options;
        options.cacheDir = cache.path;
        std::unique_ptr<JitKernel> kernel;
        JitStatus status = compileAttnSource(kSource, options, kernel);
        bool named =
            status.message().find("cannot write ") != std::string::npos &&
            status.message().find("kernel.mlir") != std::string::npos;
        std::exit(!status && named ? 0 : 3);
      },
      ::testing::ExitedWithCode(0), "");
}

// Another process holds the key's lock and is stuck: the compile waits
// about the lock timeout, says what it waits for, and builds uncached.
TEST(KernelCacheFaults, StuckLockHolderIsWaitedForBriefly) {
  TempDir root;
  KernelCache cache(root.path);
  cache.setLockTimeout(1.5);
  const std::string key = sha256Hex("locked");
  int fd = ::open((cache.entryPath(key) + ".lock").c_str(),
                  O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);
  SmallBuilder builder;
  CacheOutcome outcome;
  auto start = std::chrono::steady_clock::now();
  ::testing::internal::CaptureStderr();
  JitStatus status = cache.getOrCreate(key, builder, outcome);
  std::string err = ::testing::internal::GetCapturedStderr();
  double waited = std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  ::close(fd);
  ASSERT_TRUE(status) << status.message();
  EXPECT_EQ(outcome, CacheOutcome::Uncached);
  EXPECT_EQ(builder.loaded, builder.payload);
  EXPECT_GE(waited, 1.4);
  EXPECT_LT(waited, 10.0);
  EXPECT_NE(err.find("waiting up to 1.5 s for the kernel cache lock"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("compiling without the cache"), std::string::npos)
      << err;
  // Once the holder is gone, the key is cached as usual.
  ASSERT_TRUE(cache.getOrCreate(key, builder, outcome));
  EXPECT_EQ(outcome, CacheOutcome::Miss);
}

TEST(KernelCacheFaults, LockTimeoutFollowsTheEnvironment) {
  ::setenv("ATTN_CACHE_LOCK_TIMEOUT", "0.25", 1);
  EXPECT_DOUBLE_EQ(KernelCache::defaultLockTimeout(), 0.25);
  ::setenv("ATTN_CACHE_LOCK_TIMEOUT", "soon", 1);
  ::testing::internal::CaptureStderr();
  EXPECT_DOUBLE_EQ(KernelCache::defaultLockTimeout(), 30.0);
  EXPECT_NE(::testing::internal::GetCapturedStderr().find(
                "ignoring ATTN_CACHE_LOCK_TIMEOUT"),
            std::string::npos);
  ::unsetenv("ATTN_CACHE_LOCK_TIMEOUT");
  EXPECT_DOUBLE_EQ(KernelCache::defaultLockTimeout(), 30.0);
}

} // namespace
