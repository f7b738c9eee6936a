// The on-disk kernel cache: lock-free hits (entries are immutable once
// renamed into place), flock-serialized misses, manifests that catch
// truncated or garbled files.
#include "codegen/jit/KernelCache.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <random>
#include <set>
#include <sys/file.h>
#include <unistd.h>
#include <vector>

using namespace mlir;
using namespace mlir::attn;
namespace fs = llvm::sys::fs;
namespace path = llvm::sys::path;

namespace {

std::atomic<uint64_t> hitCount{0}, missCount{0}, corruptCount{0},
    writeFailureCount{0};

constexpr llvm::StringLiteral kManifestName = "manifest";
constexpr llvm::StringLiteral kManifestMagic = "attn-kernel-cache 1";

/// A name no other process or thread picks: pid, a counter and a random word.
std::string uniqueSuffix() {
  static std::atomic<uint64_t> counter{0};
  static thread_local std::mt19937_64 rng(
      std::random_device{}() ^
      static_cast<uint64_t>(
          std::chrono::steady_clock::now().time_since_epoch().count()));
  return std::to_string(::getpid()) + "." + std::to_string(counter++) + "." +
         llvm::utohexstr(rng(), /*LowerCase=*/true);
}

/// Holds an exclusive flock on a lock file for its lifetime, waiting at
/// most `timeout` seconds for another holder (a stuck process must not hang
/// every compile of its key). After a second of waiting it says on stderr
/// what it waits for. held() is false when the lock was not taken: no lock
/// file, no flock, or the wait timed out (timedOut()).
class FileLock {
public:
  FileLock(const std::string &file, double timeout) {
    fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      return;
    using Clock = std::chrono::steady_clock;
    const Clock::time_point start = Clock::now();
    bool announced = false;
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) {
        release();
        return;
      }
      double waited =
          std::chrono::duration<double>(Clock::now() - start).count();
      if (waited >= timeout) {
        llvm::errs() << "attnc: warning: gave up waiting after "
                     << llvm::format("%.1f", waited) << " s for the kernel cache lock " << file
                     << " (another process holds it): compiling without "
                        "the cache\n";
        timedOut_ = true;
        release();
        return;
      }
      if (!announced && waited >= 1.0) {
        llvm::errs() << "attnc: waiting up to "
                     << llvm::format("%.1f", timeout) << " s for the kernel cache lock " << file
                     << " (another process is compiling this kernel)\n";
        announced = true;
      }
      ::usleep(20000);
    }
    held_ = true;
  }
  ~FileLock() {
    if (held_)
      ::flock(fd, LOCK_UN);
    release();
  }
  FileLock(const FileLock &) = delete;
  FileLock &operator=(const FileLock &) = delete;
  bool timedOut() const { return timedOut_; }

private:
  void release() {
    if (fd >= 0)
      ::close(fd);
    fd = -1;
  }
  int fd = -1;
  bool held_ = false, timedOut_ = false;
};

/// A published entry, as its manifest describes it.
struct EntryState {
  enum Kind { Missing, Corrupt, Valid } kind = Missing;
  /// Unique per publication, so a retry can tell a new entry from the one
  /// that failed to load.
  std::string nonce;
  std::string reason;
};

bool isPlainFileName(llvm::StringRef name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of("/\\ \n") == llvm::StringRef::npos &&
         name != kManifestName;
}

/// Checks the manifest and every file it lists (presence, size, SHA-256).
EntryState inspect(const std::string &entry, llvm::StringRef key) {
  EntryState state;
  if (!fs::exists(entry))
    return state;
  state.kind = EntryState::Corrupt;
  std::set<std::string> listed;
  llvm::SmallString<256> manifestPath(entry);
  path::append(manifestPath, kManifestName);
  auto manifest = llvm::MemoryBuffer::getFile(manifestPath, /*IsText=*/false,
                                              /*RequiresNullTerminator=*/false);
  if (!manifest) {
    state.reason = "no readable manifest";
    return state;
  }
  llvm::SmallVector<llvm::StringRef> lines;
  (*manifest)->getBuffer().split(lines, '\n', -1, /*KeepEmpty=*/false);
  if (lines.size() < 4 || lines.front() != kManifestMagic ||
      lines.back() != "end") {
    state.reason = "malformed or truncated manifest";
    return state;
  }
  for (size_t i = 1; i + 1 < lines.size(); ++i) {
    llvm::SmallVector<llvm::StringRef> words;
    lines[i].split(words, ' ', -1, /*KeepEmpty=*/false);
    if (words.size() == 2 && words[0] == "key") {
      if (words[1] != key) {
        state.reason = "manifest names another key";
        return state;
      }
      continue;
    }
    if (words.size() == 2 && words[0] == "nonce") {
      state.nonce = words[1].str();
      continue;
    }
    uint64_t size = 0;
    if (words.size() != 4 || words[0] != "file" || !isPlainFileName(words[1]) ||
        words[2].getAsInteger(10, size)) {
      state.reason = "malformed manifest line '" + lines[i].str() + "'";
      return state;
    }
    llvm::SmallString<256> file(entry);
    path::append(file, words[1]);
    auto data = llvm::MemoryBuffer::getFile(file, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
    if (!data) {
      state.reason = "missing file " + words[1].str();
      return state;
    }
    if ((*data)->getBufferSize() != size) {
      state.reason = "file " + words[1].str() + " has " +
                     std::to_string((*data)->getBufferSize()) +
                     " bytes, the manifest says " + std::to_string(size);
      return state;
    }
    if (sha256Hex((*data)->getBuffer()) != words[3]) {
      state.reason = "file " + words[1].str() + " fails its checksum";
      return state;
    }
    listed.insert(words[1].str());
  }
  if (state.nonce.empty()) {
    state.reason = "manifest has no nonce";
    return state;
  }
  // A file the manifest does not list was never checked: the entry is not
  // one this cache published (or its manifest lost a line).
  std::error_code ec;
  for (fs::directory_iterator it(entry, ec), end; it != end && !ec;
       it.increment(ec)) {
    std::string name = path::filename(it->path()).str();
    if (name != kManifestName && !listed.count(name)) {
      state.reason = "file " + name + " is not in the manifest";
      return state;
    }
  }
  if (ec) {
    state.reason = "cannot list the entry: " + ec.message();
    return state;
  }
  state.kind = EntryState::Valid;
  return state;
}

/// Writes the manifest of the files in `dir` (every regular file there).
bool writeManifest(const std::string &dir, llvm::StringRef key) {
  std::string text = kManifestMagic.str() + "\nkey " + key.str() + "\nnonce " +
                     uniqueSuffix() + "\n";
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec))
    names.push_back(path::filename(it->path()).str());
  if (ec)
    return false;
  std::sort(names.begin(), names.end());
  for (const std::string &name : names) {
    if (!isPlainFileName(name))
      return false;
    llvm::SmallString<256> file(dir);
    path::append(file, name);
    auto data = llvm::MemoryBuffer::getFile(file, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
    if (!data)
      return false;
    text += "file " + name + " " + std::to_string((*data)->getBufferSize()) +
            " " + sha256Hex((*data)->getBuffer()) + "\n";
  }
  text += "end\n";
  llvm::SmallString<256> manifestPath(dir);
  path::append(manifestPath, kManifestName);
  llvm::raw_fd_ostream os(manifestPath, ec);
  if (ec)
    return false;
  os << text;
  os.close();
  // Cleared, else the stream's destructor aborts the process (a full disk).
  bool failed = os.has_error();
  os.clear_error();
  return !failed;
}

/// Moves `entry` out of the way atomically, then deletes it.
void discard(const std::string &entry) {
  std::string trash = entry + ".trash." + uniqueSuffix();
  if (!fs::rename(entry, trash))
    fs::remove_directories(trash, /*IgnoreErrors=*/true);
  else
    fs::remove_directories(entry, /*IgnoreErrors=*/true);
}

} // namespace

ArtefactBuilder::~ArtefactBuilder() = default;

const char *mlir::attn::cacheOutcomeName(CacheOutcome outcome) {
  switch (outcome) {
  case CacheOutcome::Hit:
    return "hit";
  case CacheOutcome::Miss:
    return "miss";
  case CacheOutcome::Recompiled:
    return "recompiled";
  case CacheOutcome::Uncached:
    return "uncached";
  }
  return "?";
}

std::string mlir::attn::sha256Hex(llvm::StringRef data) {
  auto digest = llvm::SHA256::hash(llvm::arrayRefFromStringRef(data));
  return llvm::toHex(digest, /*LowerCase=*/true);
}

KernelCache::KernelCache(std::string directory)
    : root(std::move(directory)), lockTimeoutSeconds(defaultLockTimeout()) {}

double KernelCache::defaultLockTimeout() {
  if (const char *v = std::getenv("ATTN_CACHE_LOCK_TIMEOUT")) {
    char *end = nullptr;
    double seconds = std::strtod(v, &end);
    if (end != v && *end == '\0' && seconds >= 0 && seconds < 1e9)
      return seconds;
    llvm::errs() << "attnc: warning: ignoring ATTN_CACHE_LOCK_TIMEOUT='" << v
                 << "' (expected seconds, a number >= 0)\n";
  }
  // Long enough for a large kernel compiled on a loaded machine, so that
  // concurrent compilers of one key still compile it once.
  return 30.0;
}

std::string KernelCache::defaultDirectory() {
  auto env = [](const char *name) -> std::string {
    const char *v = std::getenv(name);
    return v ? std::string(v) : std::string();
  };
  if (std::string dir = env("ATTN_CACHE_DIR"); !dir.empty())
    return dir;
  if (std::string dir = env("XDG_CACHE_HOME"); !dir.empty())
    return dir + "/attnc";
  if (std::string dir = env("HOME"); !dir.empty())
    return dir + "/.cache/attnc";
  return {};
}

std::string KernelCache::entryPath(llvm::StringRef key) const {
  llvm::SmallString<256> p(root);
  path::append(p, key);
  return std::string(p);
}

KernelCacheCounters KernelCache::counters() {
  KernelCacheCounters c;
  c.hits = hitCount;
  c.misses = missCount;
  c.corruptEntries = corruptCount;
  c.writeFailures = writeFailureCount;
  return c;
}

void KernelCache::resetCounters() {
  hitCount = missCount = corruptCount = writeFailureCount = 0;
}

JitStatus KernelCache::buildUncached(ArtefactBuilder &builder) {
  llvm::SmallString<256> dir;
  if (std::error_code ec = fs::createUniqueDirectory("attn-jit", dir))
    return JitStatus::error("cannot create a temporary directory: " +
                            ec.message());
  JitStatus status = builder.produce(std::string(dir));
  if (status)
    status = builder.load(std::string(dir));
  fs::remove_directories(dir, /*IgnoreErrors=*/true);
  if (status.code() == JitStatus::Code::WriteFailure)
    return JitStatus::error(status.message());
  if (status.code() == JitStatus::Code::CorruptArtefact)
    return JitStatus::error("internal error: a freshly built kernel does not "
                            "load: " +
                            status.message());
  return status;
}

JitStatus KernelCache::getOrCreate(llvm::StringRef key,
                                   ArtefactBuilder &builder,
                                   CacheOutcome &outcome) {
  outcome = CacheOutcome::Uncached;
  if (root.empty() || fs::create_directories(root))
    return buildUncached(builder);
  const std::string entry = entryPath(key);
  bool removedCorrupt = false;
  std::string failedNonce; // the entry that verified but failed to load

  // Fast path, no lock: a published entry never changes.
  EntryState state = inspect(entry, key);
  if (state.kind == EntryState::Valid) {
    JitStatus status = builder.load(entry);
    if (status.code() != JitStatus::Code::CorruptArtefact) {
      if (status) {
        ++hitCount;
        outcome = CacheOutcome::Hit;
      }
      return status;
    }
    failedNonce = state.nonce;
  }

  for (int attempt = 0; attempt < 2; ++attempt) {
    bool published = false;
    std::string staging;
    {
      FileLock lock(entry + ".lock", lockTimeoutSeconds);
      if (lock.timedOut()) {
        ++writeFailureCount;
        return buildUncached(builder);
      }
      // Another process may have published (or replaced) it meanwhile.
      state = inspect(entry, key);
      bool fresh =
          state.kind == EntryState::Valid && state.nonce != failedNonce;
      if (!fresh) {
        if (state.kind != EntryState::Missing) {
          ++corruptCount;
          removedCorrupt = true;
          discard(entry);
        }
        staging = entry + ".tmp." + uniqueSuffix();
        if (fs::create_directory(staging, /*IgnoreExisting=*/false)) {
          ++writeFailureCount;
          return buildUncached(builder);
        }
        JitStatus status = builder.produce(staging);
        if (!status) {
          fs::remove_directories(staging, /*IgnoreErrors=*/true);
          if (status.code() != JitStatus::Code::WriteFailure)
            return status;
          // Cache trouble (e.g. a full disk) never fails a compile.
          ++writeFailureCount;
          llvm::errs() << "attnc: warning: cannot write the kernel cache "
                          "entry ("
                       << status.message()
                       << "): compiling without the cache\n";
          return buildUncached(builder);
        }
        published = writeManifest(staging, key) && !fs::rename(staging, entry);
        if (!published)
          ++writeFailureCount;
      }
    }
    // Load outside the lock: the entry is immutable from here on.
    const std::string &from = published || staging.empty() ? entry : staging;
    JitStatus status = builder.load(from);
    if (!published && !staging.empty())
      fs::remove_directories(staging, /*IgnoreErrors=*/true);
    if (status.code() != JitStatus::Code::CorruptArtefact) {
      if (status) {
        if (staging.empty()) {
          ++hitCount; // someone else compiled it while we waited
          outcome = CacheOutcome::Hit;
        } else {
          ++missCount;
          outcome = !published       ? CacheOutcome::Uncached
                    : removedCorrupt ? CacheOutcome::Recompiled
                                     : CacheOutcome::Miss;
        }
      }
      return status;
    }
    if (!staging.empty())
      return JitStatus::error("internal error: a freshly built kernel does "
                              "not load: " +
                              status.message());
    failedNonce = state.nonce;
  }
  return JitStatus::error("the cache entry " + entry +
                          " keeps failing to load");
}
