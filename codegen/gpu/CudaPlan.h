// Internal to codegen/gpu: the launch plan of one kernel (where every tensor
// lives on the device, the size expressions of index values, the run-time
// errors, the launches) shared by the plan/manifest code (CudaLaunchPlan.cpp),
// the device-code emitter (CudaDeviceEmitter.cpp) and the NVVM pipeline
// (NvvmPipeline.cpp).
#ifndef ATTN_CODEGEN_GPU_CUDAPLAN_H
#define ATTN_CODEGEN_GPU_CUDAPLAN_H

#include "codegen/gpu/CudaCodegen.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlir::attn::cuda {

/// A size expression (runtime/SizeExpr.h grammar) with its precedence, so
/// that compositions print without redundant parentheses, and its value
/// when it is a constant.
struct SizeText {
  std::string text;
  int prec = 3; // 1: + -, 2: * / %, 3: an atom or a call
  std::optional<int64_t> value;

  static SizeText constant(int64_t v);
  static SizeText symbol(StringRef name);
};
SizeText sizeAdd(const SizeText &a, const SizeText &b);
SizeText sizeSub(const SizeText &a, const SizeText &b);
SizeText sizeMul(const SizeText &a, const SizeText &b);
/// op: "/" (floor), "%" (floor modulo), "ceildiv", "min", "max".
SizeText sizeBinary(StringRef op, const SizeText &a, const SizeText &b);

/// Where a tensor value of the kernel lives on the device (row-major).
struct TensorStorage {
  enum Kind { Param, Workspace } kind = Param;
  /// Param: the argument's name (its device pointer is a launch parameter).
  std::string param;
  /// Workspace: byte offsets (size expressions) of the values and of the
  /// presence bytes (one per element; empty when present everywhere).
  std::string valueOffset, presenceOffset;
  /// The element type as the tensor is typed (i1 is stored as one byte).
  Type elementType;
  SmallVector<SizeText> shape;
  std::string name;  // in messages
  int argument = -1; // the manifest argument it is, or -1
  bool hasPresence() const { return !presenceOffset.empty(); }
  /// The number of elements (the product of the extents).
  SizeText count() const {
    SizeText n = SizeText::constant(1);
    for (const SizeText &d : shape)
      n = sizeMul(n, d);
    return n;
  }
};

/// A run-time error a kernel reports through the error code (1 + index).
struct RunError {
  std::string what;
  int argument = -1, dimension = -1;
  std::string where;
};

/// One launch of the manifest.
struct Launch {
  std::string entry;
  SizeText count; // points; one thread per point, grid-stride
  std::vector<std::string> params;
  /// A launch with its own geometry (the fused attention launch): blocks
  /// and threads per block; a zero block count launches nothing.
  std::optional<SizeText> blocks;
  unsigned threads = 0;
  /// Dynamic shared memory per block (bytes), when the launch uses it.
  std::optional<SizeText> sharedBytes;
};

struct FusedAttention; // CudaFusedAttention.h

/// One kernel's plan. build() assigns storage and the workspace layout; the
/// emitter asks it for size expressions, storage and error codes.
class KernelPlan {
public:
  explicit KernelPlan(func::FuncOp kernel) : kernel(kernel) {}

  /// Sizes, storage, workspace layout; diagnostics on failure.
  LogicalResult build();

  /// The size expression of an index or integer value of the function body
  /// (tensor.dim, constants, integer scalar inputs and the arith integer ops
  /// on them); nullopt with `why` when it has none.
  std::optional<SizeText> sizeOf(Value v, std::string &why);
  /// The storage of a tensor value of the function body; null if none.
  const TensorStorage *storageOf(Value v) const;
  /// The storage the output `i` is written to.
  const TensorStorage &output(unsigned i) const { return outputs[i]; }
  unsigned numOutputs() const { return outputs.size(); }

  /// Registers an error; returns its code (1 + index).
  int addError(RunError e);
  /// How a tensor is named in messages, and the argument it is (or -1).
  std::string nameOf(Value tensor) const;

  /// The manifest text, for these launches.
  std::string manifest(const std::vector<Launch> &launches,
                       const CudaCodegenOptions &options);

  func::FuncOp kernel;
  std::vector<RunError> errors;

  /// Whether to look for fused attention launches (off for device code that
  /// runs elsewhere than on a GPU: test/unit/GpuCodegenTest.cpp).
  bool fuse = true;
  /// Why a fused launch may not be the wgmma one (sm_90a), or empty when it
  /// may (CudaCodegenOptions::wgmma and the chip).
  std::string noWgmma = "the target is not sm_90a";
  /// The wgmma launch overlaps the next tile's scores with this tile's
  /// softmax (CudaCodegenOptions::wgmmaOverlap).
  bool wgmmaOverlap = false;
  /// Warpgroups per block of the wgmma launch
  /// (CudaCodegenOptions::wgmmaWarpgroups).
  unsigned wgmmaWarpgroups = 1;
  /// Row blocks last rows first under a row mask
  /// (CudaCodegenOptions::longestFirst).
  bool longestFirst = false;
  /// Head-dimension variants 32..128 with padding
  /// (CudaCodegenOptions::paddedHeadDims).
  bool paddedHeadDims = false;
  /// The attn.online ops that a fused launch computes; for the ops whose
  /// work a fused launch may take over, the run-time factor (0 or 1) that
  /// scales their launches (`launchScale`) and their results' workspace
  /// (`storageScale`).
  std::vector<std::shared_ptr<FusedAttention>> fused;
  llvm::DenseMap<Operation *, SizeText> launchScale, storageScale;
  /// Named size expressions the manifest defines ("sizes"), in order.
  std::vector<std::pair<std::string, SizeText>> definitions;
  SizeText workspaceBytes = SizeText::constant(0);

private:
  llvm::DenseMap<Value, SizeText> sizes;
  llvm::DenseMap<Value, TensorStorage> storage;
  std::vector<TensorStorage> outputs;

  LogicalResult placeInWorkspace(Value v, bool withPresence);
};

/// Finds what fused attention launches compute (CudaFusedMatch.cpp):
/// fills plan.fused, plan.launchScale and plan.storageScale. build() calls it
/// once the arguments have storage, before it lays out the workspace.
void planFusedAttention(KernelPlan &plan);

/// Emits one gpu.func per launch of the kernel's body into `gpuModule`, in
/// order, and appends the launches. Diagnostics on failure.
LogicalResult emitDeviceKernels(KernelPlan &plan, gpu::GPUModuleOp gpuModule,
                                const CudaCodegenOptions &options,
                                std::vector<Launch> &launches);

/// Runs the NVVM pipeline on `module` (one gpu.module) in process and returns
/// the PTX; failure with `error` saying why.
FailureOr<std::string> lowerToPtx(ModuleOp module,
                                  const CudaCodegenOptions &options,
                                  std::string &error);

} // namespace mlir::attn::cuda

#endif
