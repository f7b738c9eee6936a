// The JIT's on-disk cache: one directory per key holding a kernel's artefact
// files and a manifest (size and SHA-256 of each), published by one atomic
// rename so that no reader ever sees a partial entry (docs/jit.md).
#ifndef ATTN_CODEGEN_JIT_KERNELCACHE_H
#define ATTN_CODEGEN_JIT_KERNELCACHE_H

#include "codegen/jit/JitStatus.h"

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>

namespace mlir::attn {

/// The compile step the cache wraps: write a kernel's artefacts as files into
/// a directory, and load a kernel back from such a directory. The JIT always
/// runs what `load` read from files, cache hit or miss alike.
class ArtefactBuilder {
public:
  virtual ~ArtefactBuilder();
  /// Writes the artefacts into `dir` (exists, empty) as plain files.
  /// Returns JitStatus::writeFailure when a file cannot be written there
  /// (the cache then builds elsewhere, without the cache).
  virtual JitStatus produce(const std::string &dir) = 0;
  /// Loads the kernel from `dir`, whose files match the manifest. Returns
  /// JitStatus::corrupt when the files cannot be read back (the entry is
  /// then removed and produced again), JitStatus::error for anything else.
  virtual JitStatus load(const std::string &dir) = 0;
};

/// How a kernel was obtained.
enum class CacheOutcome {
  /// A valid entry was found and loaded: nothing was compiled.
  Hit,
  /// No entry: compiled and published.
  Miss,
  /// A corrupt entry (bad manifest, size or checksum, or failed to load) was
  /// removed, then compiled and published.
  Recompiled,
  /// The cache was off or unusable (e.g. not writable): compiled only.
  Uncached,
};
const char *cacheOutcomeName(CacheOutcome outcome);

/// Process-wide counters (all caches, all threads).
struct KernelCacheCounters {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t corruptEntries = 0;
  uint64_t writeFailures = 0;
};

class KernelCache {
public:
  /// A cache rooted at `directory` (created on first use).
  explicit KernelCache(std::string directory);

  /// $ATTN_CACHE_DIR, else $XDG_CACHE_HOME/attnc, else $HOME/.cache/attnc;
  /// empty when none of these is set.
  static std::string defaultDirectory();

  const std::string &directory() const { return root; }

  /// How long a compile waits for another process's lock on its key before
  /// compiling without the cache: $ATTN_CACHE_LOCK_TIMEOUT seconds, else 30.
  static double defaultLockTimeout();
  void setLockTimeout(double seconds) { lockTimeoutSeconds = seconds; }
  /// Where the entry of `key` lives once published.
  std::string entryPath(llvm::StringRef key) const;

  /// Loads the entry of `key` through `builder`; when it is missing or
  /// corrupt, produces it (under a per-key flock, so that concurrent
  /// processes normally compile it once), publishes it and loads it. Cache
  /// problems (unwritable directory, a full disk, a failed rename, a lock
  /// held past the lock timeout) never fail the call: the kernel is then
  /// built without the cache (with a warning on stderr).
  JitStatus getOrCreate(llvm::StringRef key, ArtefactBuilder &builder,
                        CacheOutcome &outcome);

  /// Produces into a private temporary directory, loads, removes it.
  static JitStatus buildUncached(ArtefactBuilder &builder);

  static KernelCacheCounters counters();
  static void resetCounters();

private:
  std::string root;
  double lockTimeoutSeconds;
};

/// The lowercase hex SHA-256 of `data`.
std::string sha256Hex(llvm::StringRef data);

} // namespace mlir::attn

#endif
