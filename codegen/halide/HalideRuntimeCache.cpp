// Halide's runtime compiled once per CPU target and kept on disk
// (HalideRuntimeCache.h).
#include "codegen/halide/HalideRuntimeCache.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"

#include <mutex>

using namespace mlir;
namespace H = Halide;
namespace fs = llvm::sys::fs;

namespace {

/// $ATTN_CACHE_DIR, else $XDG_CACHE_HOME/attnc, else $HOME/.cache/attnc (the
/// JIT's cache directory), with halide-runtime/ appended; "" without any.
std::string runtimeDirectory() {
  using llvm::sys::Process;
  std::string root;
  if (auto dir = Process::GetEnv("ATTN_CACHE_DIR"); dir && !dir->empty())
    root = *dir;
  else if (auto xdg = Process::GetEnv("XDG_CACHE_HOME"); xdg && !xdg->empty())
    root = *xdg + "/attnc";
  else if (auto home = Process::GetEnv("HOME"); home && !home->empty())
    root = *home + "/.cache/attnc";
  return root.empty() ? root : root + "/halide-runtime";
}

std::mutex compileMutex; // one runtime compile at a time in a process

} // namespace

std::optional<std::string>
mlir::attn::cachedHalideRuntime(const H::Target &target, std::string &why) {
  std::string dir = runtimeDirectory();
  if (dir.empty()) {
    why = "no cache directory ($ATTN_CACHE_DIR, $XDG_CACHE_HOME or $HOME)";
    return std::nullopt;
  }
  H::Target t = target.without_feature(H::Target::NoRuntime)
                    .without_feature(H::Target::JIT);
  // The file is named by Halide's version (the one this project builds
  // with: Debian's libhalide14) and the target's features.
  std::string path = dir + "/halide14-" + t.to_string() + ".o";
  std::lock_guard<std::mutex> lock(compileMutex);
  uint64_t size = 0;
  if (!fs::file_size(path, size) && size > 0)
    return path;
  if (std::error_code ec = fs::create_directories(dir)) {
    why = "cannot create " + dir + ": " + ec.message();
    return std::nullopt;
  }
  llvm::SmallString<256> temp;
  fs::createUniquePath(path + ".tmp-%%%%%%.o", temp, /*MakeAbsolute=*/false);
  try {
    H::compile_standalone_runtime(std::string(temp), t);
  } catch (const H::Error &e) {
    fs::remove(temp);
    why = std::string("Halide could not compile its runtime: ") + e.what();
    return std::nullopt;
  }
  if (fs::file_size(temp, size) || size == 0 || fs::rename(temp, path)) {
    fs::remove(temp);
    why = "cannot write " + path;
    return std::nullopt;
  }
  return path;
}

void mlir::attn::discardHalideRuntime(const std::string &path) {
  std::lock_guard<std::mutex> lock(compileMutex);
  fs::remove(path);
}
