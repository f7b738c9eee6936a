// Internal to codegen/gpu: the Hopper (sm_90a) instructions of the wgmma
// attention launch: warpgroup MMA with A from registers and B from shared
// memory through a matrix descriptor, the async-proxy fence, and the
// 128-byte swizzled shared layout the descriptors read.
//
// wgmma.m64nNk16 with f32 accumulators, per warp w of the warpgroup (PTX
// ISA, "Register Fragments and Shared Memory Matrix Layouts" of wgmma): rows
// 16w..16w+15; accumulator register 4j + c holds row g + 8 (c / 2), column
// 8j + 2q + (c % 2) (g = lane / 4, q = lane % 4), i.e. the stacked C
// fragments of mma.m16n8 (NvvmOps.h), one per 8-column block j; the A
// registers (16 x 16 per warp, 4 x i32 of pairs) are mma.m16n8k16's A
// fragment. So the FA2 launch's fragment code serves both launches.
//
// Shared layout (128-byte swizzle): a tile of R rows x C 16-bit columns is
// C / 64 column blocks of R x 128 bytes; within a block, row r's 16-byte
// chunk k sits at chunk k ^ (r % 8). Eight rows (1024 bytes, the swizzle
// atom) are the stride between core-matrix rows; atoms are 1024-aligned.
#ifndef ATTN_CODEGEN_GPU_NVVMWGMMA_H
#define ATTN_CODEGEN_GPU_NVVMWGMMA_H

#include "mlir/IR/Builders.h"

namespace mlir::attn::cuda::nvvm {

/// The element offset of (row, col) in a swizzled tile of `rows` rows
/// (layout above); row and col are index values, col a multiple of 8.
Value swizzledOffset(OpBuilder &b, Location loc, Value row, Value col,
                     int64_t rows);

/// `ptr` (shared) rounded up to a multiple of 1024 bytes.
Value alignShared1024(OpBuilder &b, Location loc, Value ptr);

/// The matrix descriptor (i64) of a 128-byte swizzled operand starting at
/// the shared address `ptr`: both byte offsets 1024 (the 8-row atom; the
/// instructions below never span two column blocks).
Value swizzledDescriptor(OpBuilder &b, Location loc, Value ptr);

/// One wgmma.mma_async of a batch: m64nNk16, A from 4 i32 registers, B by
/// descriptor (`transposeB`: B is MN-major), accumulating into
/// `accumulators[first, first + N/2)`.
struct WgmmaStep {
  int64_t n = 0;
  SmallVector<Value, 4> a;
  Value bDescriptor;
  bool transposeB = false;
  unsigned first = 0;
};

/// Runs `steps` as one warpgroup-synchronous sequence (wgmma.fence, the
/// steps, commit, wait 0) in one inline-PTX block, operands of `elem` (bf16
/// or f16), f32 accumulators; returns the updated accumulators. Every thread
/// of the warpgroup must execute it.
SmallVector<Value> wgmmaBatch(OpBuilder &b, Location loc, Type elem,
                              ArrayRef<WgmmaStep> steps,
                              ArrayRef<Value> accumulators);

/// Starts `steps` on the tensor cores when `go` (i1, the same in every
/// thread of the warpgroup) and commits them as one wgmma group, waiting
/// for nothing: returns the `n` accumulators (the first step overwrites
/// them: scale-d 0), in flight until a wgmmaWait. Without `go` the group is
/// empty and the accumulators are undefined. Between the two, nothing may read
/// or write them (the PTX ISA's wgmma register rules).
SmallVector<Value> wgmmaIssue(OpBuilder &b, Location loc, Type elem,
                              ArrayRef<WgmmaStep> steps, unsigned n, Value go);

/// wgmma.wait_group `pending`: the accumulators of every group but the
/// `pending` newest are complete; returns `accumulators` (tied through the
/// wait, so no use of them comes before it).
SmallVector<Value> wgmmaWait(OpBuilder &b, Location loc,
                             ArrayRef<Value> accumulators, unsigned pending);

/// fence.proxy.async.shared::cta: this thread's shared-memory writes are
/// visible to the tensor cores' (async proxy) reads after the next barrier.
void fenceAsyncShared(OpBuilder &b, Location loc);

} // namespace mlir::attn::cuda::nvvm

#endif
