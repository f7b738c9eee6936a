// The JIT API: compile a .attn source for a target ("cpu": Halide, "ref": the
// float64 interpreter, "cuda": PTX run by the runtime on the GPU) into a
// callable kernel, through an on-disk cache keyed by source, options, target
// (the GPU's architecture) and compiler version (docs/jit.md).
#ifndef ATTN_CODEGEN_JIT_JITCOMPILER_H
#define ATTN_CODEGEN_JIT_JITCOMPILER_H

#include "codegen/halide/HalideEmitter.h"
#include "codegen/jit/JitStatus.h"
#include "codegen/jit/KernelCache.h"
#include "codegen/ref/ReferenceInterpreter.h"
#include "runtime/attn_runtime.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mlir::attn {

struct JitOptions {
  /// "cpu" (the Halide code generator), "ref" (the reference interpreter),
  /// "cuda:sm_XY[a]" (PTX for that GPU architecture, loaded through the
  /// runtime; the driver compiles it for the GPU) or "cuda" (the
  /// architecture of the current context's GPU, device 0 without one).
  std::string target = "cpu";
  /// --param NAME=VALUE overrides, the value as written ("4", "30.0").
  std::map<std::string, std::string> params;
  /// --bind SYM=N: size symbols fixed at compile time (N > 0).
  std::map<std::string, int64_t> binds;
  /// The kernel to compile; empty picks the only kernel of the source.
  std::string kernelName;
  /// Code generation options of the "cpu" target (ignored, and not part of
  /// the key, for "ref"). "host" is resolved to the actual host target.
  HalideCodegenOptions halide;
  /// false: compile without reading or writing the cache.
  bool useCache = true;
  /// The cache directory; empty uses KernelCache::defaultDirectory().
  std::string cacheDir;
};

/// One kernel argument or result as declared in the source.
struct JitValueInfo {
  std::string name;
  bool isScalar = false;
  /// The element type in the language's spelling ("f16", "bf16", "f32", ...).
  std::string dtype;
  /// The size symbol or decimal literal of each dimension ("B", "64").
  std::vector<std::string> dims;
};

/// A compiled kernel. Not copyable; `run` may be called from several threads
/// at once ("cpu" runs go to the runtime, which allows that; "ref" runs are
/// serialized).
class JitKernel {
public:
  /// Runs on host tensors: `args` one per declared input in order (tensors
  /// row-major, values as doubles, converted to the declared element types;
  /// scalars as RefArg::ofScalar). `results` is replaced by one tensor per
  /// output. Every argument is checked first (count, scalar or tensor, rank,
  /// value count, extents against their size symbols and binds); a bad one,
  /// or a read outside a tensor at a contributing point, is an error. The
  /// conversions cost time: on "cpu" the typed run is the fast path.
  JitStatus run(llvm::ArrayRef<RefArg> args, std::vector<RefTensor> &results);

  /// "cpu" and "cuda": runs on the caller's typed buffers, without
  /// conversions or copies, through the runtime's attn_run_stream
  /// (runtime/attn_runtime.h); for "cuda" the buffers are device pointers
  /// of the current context's GPU and the work is enqueued on `stream` (a
  /// CUstream / cudaStream_t; null: the default stream) without waiting;
  /// "cpu" takes no stream.
  /// `tensors` the tensor inputs in order, then the outputs (allocated by the
  /// caller with the shapes outputShapes gives), `scalars` the scalar inputs
  /// in order. Checked as attn_run checks (dtype, rank, size symbols,
  /// strides, device, ...), and the output shapes too.
  JitStatus run(llvm::ArrayRef<attn_tensor> tensors,
                llvm::ArrayRef<attn_scalar> scalars = {},
                void *stream = nullptr);
  /// "cpu" and "cuda": the output shapes of a typed run on these inputs (the
  /// tensor inputs, then the scalar inputs).
  JitStatus outputShapes(llvm::ArrayRef<attn_tensor> inputs,
                         llvm::ArrayRef<attn_scalar> scalars,
                         std::vector<std::vector<int64_t>> &shapes) const;

  const std::string &name() const;
  const std::string &target() const;
  const std::vector<JitValueInfo> &inputs() const;
  const std::vector<JitValueInfo> &outputs() const;
  /// The hex key of the kernel's cache entry (computed with the cache off too).
  const std::string &cacheKey() const;
  CacheOutcome cacheOutcome() const;
  /// The verified attn-dialect module the kernel was loaded from.
  std::string moduleText() const;

  ~JitKernel();
  struct Impl;
  explicit JitKernel(std::unique_ptr<Impl> impl);

private:
  std::unique_ptr<Impl> impl;
};

/// Compiles `source` (diagnostics name it `bufferName`). On success `kernel`
/// holds the kernel; on failure the status carries every diagnostic as
/// "name:line:col: error: ..." lines.
JitStatus compileAttnSource(llvm::StringRef source, const JitOptions &options,
                            std::unique_ptr<JitKernel> &kernel,
                            llvm::StringRef bufferName = "<source>");
/// Reads and compiles the file at `path`.
JitStatus compileAttnFile(llvm::StringRef path, const JitOptions &options,
                          std::unique_ptr<JitKernel> &kernel);

/// A compile's outcome, for the asynchronous forms below.
struct JitCompileResult {
  JitStatus status = JitStatus::ok();
  std::unique_ptr<JitKernel> kernel; // set when status is ok
};
/// compileAttnSource / compileAttnFile on a thread of their own: the
/// future's value is the status and the kernel. Several compiles may run at
/// once (each has its own MLIR context and Halide pipeline), e.g. the
/// specializations a caller will need, one per core; two of the same cache
/// key wait for one another through the cache's lock.
std::future<JitCompileResult>
compileAttnSourceAsync(std::string source, JitOptions options,
                       std::string bufferName = "<source>");
std::future<JitCompileResult> compileAttnFileAsync(std::string path,
                                                   JitOptions options);

/// The cache key of (source, options, target, compiler version): the hex
/// SHA-256 of jitCacheKeyText. Fails on an unknown target or a Halide target
/// string Halide does not accept.
JitStatus jitCacheKey(llvm::StringRef source, const JitOptions &options,
                      std::string &key);
/// The canonical text that is hashed (for inspection and tests).
JitStatus jitCacheKeyText(llvm::StringRef source, const JitOptions &options,
                          std::string &text);

/// Process-wide counters since the last resetJitStats. A cache hit runs
/// neither the frontend nor Halide, and writes no entry.
struct JitStats {
  uint64_t compileCalls = 0;
  uint64_t frontendRuns = 0;
  /// Halide compilations in the process (halideCompilations(): the JIT's,
  /// and any other code's, such as a direct HalideKernel::compile).
  uint64_t halideCompiles = 0;
  KernelCacheCounters cache;
};
JitStats jitStats();
void resetJitStats();

} // namespace mlir::attn

#endif
