// Halide's runtime for a CPU target, compiled once and kept on disk: every
// kernel's shared object links this object instead of compiling the runtime
// into its own (about 0.4-0.6 s of each CPU compile otherwise, half of a small
// kernel's).
#ifndef ATTN_CODEGEN_HALIDE_HALIDERUNTIMECACHE_H
#define ATTN_CODEGEN_HALIDE_HALIDERUNTIMECACHE_H

#include <Halide.h>

#include <optional>
#include <string>

namespace mlir::attn {

/// The path of the object file holding Halide's runtime for `target` (its
/// features; NoRuntime and JIT do not matter), in `cacheDir`/halide-runtime
/// (the JIT's cache directory: KernelCache::defaultDirectory()), compiling
/// it there first if it is not there (written to a temporary file and
/// renamed, so concurrent compilers never see half a file). nullopt, with
/// `why`, when the directory cannot be written: the caller then compiles
/// the runtime into its own object.
std::optional<std::string> cachedHalideRuntime(const Halide::Target &target,
                                               const std::string &cacheDir,
                                               std::string &why);

/// Forgets a cached runtime object that did not link (a damaged file): the
/// next cachedHalideRuntime compiles it again.
void discardHalideRuntime(const std::string &path);

} // namespace mlir::attn

#endif
