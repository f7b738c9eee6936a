// The first GPU code generator: an attn kernel (after the cuda default
// pipeline, docs/pipeline.md) becomes PTX plus a CUDA manifest
// (docs/runtime.md) that the runtime loads. One launch per op of the kernel
// body; see codegen/gpu/README.md for what each launch computes.
#ifndef ATTN_CODEGEN_GPU_CUDACODEGEN_H
#define ATTN_CODEGEN_GPU_CUDACODEGEN_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LLVM.h"

#include <optional>
#include <string>

namespace mlir::attn {

struct CudaCodegenOptions {
  /// The GPU architecture: "sm_90a", "sm_80", ...
  std::string chip = "sm_90a";
  /// LLVM NVPTX features (the PTX ISA version).
  std::string features = "+ptx80";
  /// Threads per block of the one-thread-per-point launches.
  unsigned blockSize = 256;
  /// Fused attention launches (tensor cores, shared memory) where the
  /// kernel has the tiled one-pass form; off only for device code replayed
  /// elsewhere than on a GPU.
  bool fuse = true;
  /// On sm_90a, the fused launch on warpgroup MMA (wgmma) where a block is
  /// one warpgroup; otherwise, and on other chips, the mma.sync launch.
  /// Checked on an H100 (gpu-check, bench/results/gpu-2026-12-07T2311Z.json:
  /// 1.1-1.4x the mma.sync launch on prefill); false gives the mma.sync
  /// launch on sm_90a too (attnc --cuda-wgmma=false).
  bool wgmma = true;
  /// The wgmma launch with the next key tile's scores in flight on the
  /// tensor cores while this tile's cascade and softmax run (FA3's
  /// intra-warpgroup overlap; 3 shared K/V buffers). Off by default: not yet
  /// run on a GPU (attnc --cuda-wgmma-overlap).
  bool wgmmaOverlap = false;
  /// Warpgroups per block of the wgmma launch (1 or 2): with 2, a block
  /// owns 128 query rows and its two warpgroups share each K/V tile in
  /// shared memory (half the copies per row, as FlashAttention-3's two
  /// consumer warpgroups), each deciding its own tiles' classes
  /// (attnc --cuda-wgmma-warpgroups=2).
  unsigned wgmmaWarpgroups = 1;
  /// Where a filter relates the keys to the query rows (causal: the last
  /// rows see the most key tiles), the fused launch's row blocks run last
  /// rows first, so the longest blocks do not start at the grid's end
  /// (attnc --cuda-longest-first). Off by default: not yet run on a GPU.
  bool longestFirst = false;
  /// The fused launch for any head dimension up to 128: variants 32, 64,
  /// 96 and 128, each running E and F up to it (K and V columns past them
  /// zero-filled in shared memory, Q's fragments zero, the output columns
  /// past F not stored); 32 and 96 on mma.sync. Off by default: not yet
  /// run on a GPU, and it adds the column masks to the 64 and 128 variants
  /// (attnc --cuda-any-head-dim).
  bool paddedHeadDims = false;
  /// Recorded in the manifest ("compiler").
  std::string compilerVersion = "0.1.0";
};

/// What one kernel compiles to: the PTX text and the manifest (JSON) that
/// names it "<kernel>.ptx".
struct CudaArtifact {
  std::string kernelName;
  std::string ptx;
  std::string manifest;
};

/// "cuda" -> sm_90a, "cuda:sm_90a" -> sm_90a, "cuda:sm_80" -> sm_80; nullopt
/// for anything else.
std::optional<std::string> cudaChipOfTarget(StringRef target);

/// The dialects, interfaces and translations the code generator builds and
/// lowers with (gpu, nvvm, llvm, scf, cf, ...). compileKernelForCuda adds them
/// to the kernel's context itself; call this to do it up front.
void registerCudaCodegenDialects(DialectRegistry &registry);

/// Compiles `kernel` (docs/dialect.md conventions; normally after the cuda
/// default pipeline) for options.chip. A construct the code generator does
/// not support is an error diagnostic on the op that uses it, and failure.
FailureOr<CudaArtifact> compileKernelForCuda(func::FuncOp kernel,
                                             const CudaCodegenOptions &options);

/// The device code before lowering (a module holding one gpu.module of
/// gpu.funcs over scf, arith, math and llvm pointer ops) and the manifest:
/// what compileKernelForCuda lowers to PTX. For tests that run the device
/// code elsewhere (test/unit/GpuCodegenTest.cpp runs it on the CPU).
struct CudaDeviceModule {
  OwningOpRef<ModuleOp> module;
  std::string manifest;
};
FailureOr<CudaDeviceModule>
buildCudaDeviceModule(func::FuncOp kernel, const CudaCodegenOptions &options);

/// Writes DIR/<kernel>.ptx and DIR/<kernel>.attn.json (creating DIR);
/// failure with an error diagnostic on `kernel` when it cannot.
LogicalResult writeCudaBundle(func::FuncOp kernel, const CudaArtifact &artifact,
                              StringRef dir);

} // namespace mlir::attn

#endif
