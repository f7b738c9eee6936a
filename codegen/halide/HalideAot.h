// Ahead-of-time compilation for the CPU: a kernel func.func becomes an object
// file or a shared object (the Halide pipeline plus Halide's runtime) and a
// manifest beside it (NAME.attn.json) that runtime/attn_runtime.h loads.
#ifndef ATTN_CODEGEN_HALIDE_HALIDEAOT_H
#define ATTN_CODEGEN_HALIDE_HALIDEAOT_H

#include "codegen/halide/HalideEmitter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir::attn {

/// What compileKernelAheadOfTime writes.
enum class CpuArtifactKind {
  /// An ELF relocatable object (position independent, Halide's runtime
  /// included): link it into a shared object or a program yourself.
  Object,
  /// A shared object, linked from the object with the system C/C++ compiler
  /// driver (`$ATTN_CC`, else `c++`, `cc`, `g++`, `clang++`, `gcc`, `clang`
  /// from PATH, looked up at run time); loadable with attn_load.
  SharedObject,
};

struct CpuAotOptions {
  HalideCodegenOptions codegen;
  /// Recorded in the manifest ("compiler"); attnc and the JIT pass
  /// compilerVersion() (codegen/jit/CompilerVersion.h).
  std::string compilerVersion = "0.1.0";
  /// A shared object links Halide's runtime compiled once per target and
  /// kept under this directory (HalideRuntimeCache.h; attnc and the JIT pass
  /// KernelCache::defaultDirectory()); empty, or not writable: the runtime is
  /// compiled into the kernel's object.
  std::string runtimeCacheDir;
};

/// The files one compilation wrote.
struct CpuArtifact {
  std::string binaryPath;   // the object or the shared object
  std::string manifestPath; // manifestPathFor(binaryPath)
  std::string entryPoint;   // the symbol to call: "attn_<kernel>_argv"
};

/// Compiles `kernel` (docs/dialect.md conventions) ahead of time to
/// `outputPath` (an object or a shared object, per `kind`) and writes the
/// manifest (docs/runtime.md) at manifestPathFor(outputPath). The entry
/// point `attn_<kernel>_argv(void **args)` takes the arguments in kernel
/// order then the outputs then a 0-d int32 error-code buffer (halide buffers
/// for tensors, pointers to values for scalars); it returns Halide's status.
/// Every failure (an unsupported construct, an unknown target, a file that
/// cannot be written, no C compiler driver to link with, a failed link) is
/// reported as an MLIR diagnostic on `kernel`, and no partial file is left.
FailureOr<CpuArtifact>
compileKernelAheadOfTime(func::FuncOp kernel, StringRef outputPath,
                         CpuArtifactKind kind,
                         const CpuAotOptions &options = {});

/// The manifest path for a binary: the path without its last extension plus
/// ".attn.json" ("out/mha.so" -> "out/mha.attn.json").
std::string manifestPathFor(StringRef binaryPath);

} // namespace mlir::attn

#endif
