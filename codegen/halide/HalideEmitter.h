// The CPU code generator: a kernel func.func of the attn dialect becomes a
// Halide pipeline (built through Halide's C++ API), JIT-compiled in process
// and run on host tensors. Halide itself stays out of this header.
#ifndef ATTN_CODEGEN_HALIDE_HALIDEEMITTER_H
#define ATTN_CODEGEN_HALIDE_HALIDEEMITTER_H

#include "codegen/halide/HostSignature.h"
#include "codegen/ref/ReferenceInterpreter.h"
#include "runtime/attn_runtime.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Support/LLVM.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir::attn {

/// How the pipeline is scheduled and compiled (what is computed never
/// depends on these).
struct HalideCodegenOptions {
  /// Halide target string ("host", or e.g. "x86-64-linux-avx2").
  std::string target = "host";
  /// Lanes of the vectorized innermost loops; 0 picks the target's natural
  /// vector width for f32.
  int vectorWidth = 0;
  /// Extent of the second-innermost output dimension (the rows) given to one
  /// parallel task; the dimensions outside it are fused into the parallel
  /// loop. Intermediates are computed per task where that is legal. 0 picks
  /// the vector width (intermediates are vectorized along the rows), or for
  /// a kernel with attn.online twice that, reduced to divide the tile size
  /// (the block of query rows that shares each tile of keys).
  int rowTile = 0;
  /// Materialize every intermediate over its whole domain (compute_root)
  /// instead of per output tile.
  bool computeRoot = false;
  /// IEEE float semantics (Halide's strict_float on every definition: no
  /// reassociation, infinities and NaNs kept; a sum's multiply-add is one
  /// FMA). Off lets Halide use fast math,
  /// which assumes no infinity or NaN ever appears.
  bool strictFloat = true;
};

/// A kernel compiled for the CPU. Move-only; `run` may be called many times,
/// from one thread at a time.
class HalideKernel {
public:
  /// Lowers `kernel` (docs/dialect.md conventions) to a Halide pipeline,
  /// schedules it and JIT-compiles it. What the code generator does not
  /// support is reported through MLIR diagnostics at the offending op.
  static FailureOr<HalideKernel> compile(func::FuncOp kernel,
                                         const HalideCodegenOptions &options);

  /// Runs the kernel on the caller's typed buffers, without conversions or
  /// copies: `tensors` the tensor inputs in order, then the outputs
  /// (allocated by the caller with the shapes signature().outputShapes
  /// gives), `scalars` the scalar inputs in order; descriptors as in
  /// runtime/attn_runtime.h (pointer, dtype, shape, strides). Every argument
  /// is checked as attn_run checks it, and the output shapes too. A bad
  /// argument, or a read outside a tensor at a contributing point, returns
  /// failure with `error` naming it.
  LogicalResult run(ArrayRef<attn_tensor> tensors,
                    ArrayRef<attn_scalar> scalars, std::string &error);

  /// Runs the kernel on `args` (one per function argument, in order; tensor
  /// values are converted to the declared element types). `results` receives
  /// one tensor per function result, values widened to double, every element
  /// present. Checks and errors as the typed run, plus value counts. The
  /// conversions cost time: the typed run is the fast path.
  LogicalResult run(ArrayRef<RefArg> args, std::vector<RefTensor> &results,
                    std::string &error);

  /// The kernel's arguments and output-shape computation.
  const HostSignature &signature() const;

  /// Halide's lowered loop nest of the pipeline, as text (for inspection).
  std::string loweredStatement();

  HalideKernel(HalideKernel &&) noexcept;
  HalideKernel &operator=(HalideKernel &&) noexcept;
  ~HalideKernel();

  struct Impl;

private:
  explicit HalideKernel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

/// The number of Halide compilations in this process (JIT and ahead of
/// time): how tests tell that a cached kernel did not invoke Halide.
uint64_t halideCompilations();

/// Compiles and runs in one step, as a tool does for `--target=cpu`: any
/// compile diagnostic is also returned in `error`.
LogicalResult runKernelOnCpu(func::FuncOp kernel, ArrayRef<RefArg> args,
                             std::vector<RefTensor> &results,
                             std::string &error,
                             const HalideCodegenOptions &options = {});

} // namespace mlir::attn

#endif
