// Halide's runtime compiled once per CPU target and kept on disk
// (HalideRuntimeCache.h).
#include "codegen/halide/HalideRuntimeCache.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <mutex>

using namespace mlir;
namespace H = Halide;
namespace fs = llvm::sys::fs;

namespace {

std::mutex compileMutex; // one runtime compile at a time in a process

} // namespace

std::optional<std::string>
mlir::attn::cachedHalideRuntime(const H::Target &target,
                                const std::string &cacheDir, std::string &why) {
  if (cacheDir.empty()) {
    why = "no cache directory";
    return std::nullopt;
  }
  std::string dir = cacheDir + "/halide-runtime";
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
