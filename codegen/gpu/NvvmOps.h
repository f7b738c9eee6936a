// Internal to codegen/gpu: the NVVM instructions of the fused attention
// launch (tensor-core mma.sync and ldmatrix, warp shuffles, max.NaN, bf16/f16
// packing, shared-memory addressing, cp.async), each one builder call.
//
// The register layouts of mma.sync.m16n8k16 with 16-bit operands and f32
// accumulators (PTX ISA, "Matrix Fragments for mma.m16n8k16"), per lane of
// the warp, with g = lane / 4 (the group) and q = lane % 4 (its lane in the
// group); each A and B register is an i32 holding two consecutive elements:
//
//   A (16 x 16, row-major)          B (16 x 8, column-major: K^T, V)
//            cols 0..7  cols 8..15           col g
//   row g    a0[2q..]   a2[8+2q..]     rows 2q, 2q+1      b0
//   row g+8  a1[2q..]   a3[8+2q..]     rows 8+2q, 8+2q+1  b1
//
//   C, D (16 x 8, f32)
//            cols 2q, 2q+1
//   row g    c0, c1
//   row g+8  c2, c3
//
// So a row of C is held by the 4 lanes of a group (its maxima and sums
// reduce over shuffles with lane masks 1 and 2), and two horizontally
// adjacent C tiles, packed to 16-bit pairs, are an A fragment (the
// probabilities as the weighted sum's left operand: no shared memory).
//
// ldmatrix.x4 loads four 8 x 8 matrices of 16-bit elements: lanes 8i..8i+7
// give the row addresses of matrix i, and register i of every lane holds
// matrix i's row lane / 4, elements 2 (lane % 4) and +1: the B fragment
// layout (with .trans, of the transposed matrix).
#ifndef ATTN_CODEGEN_GPU_NVVMOPS_H
#define ATTN_CODEGEN_GPU_NVVMOPS_H

#include "mlir/IR/Builders.h"

namespace mlir::attn::cuda::nvvm {

/// An i32 constant.
Value i32Constant(OpBuilder &b, Location loc, int v);
/// An f32 constant.
Value f32Constant(OpBuilder &b, Location loc, double v);

/// `shfl.sync.bfly.b32` of an f32 across all 32 lanes: v of lane ^ laneMask.
Value shuffleXor(OpBuilder &b, Location loc, Value v, int laneMask);
/// max with NaN propagation (arith.maximumf's semantics) as one
/// `max.NaN.f32` (llvm.maximum; arith-expand would make it four
/// instructions).
Value maximumNaN(OpBuilder &b, Location loc, Value x, Value y);
/// Two f32 values as a packed pair of the 16-bit type `elem` (low: x), an
/// i32: one register of an A fragment.
Value packPair(OpBuilder &b, Location loc, Type elem, Value x, Value y);
/// d = a * b + c, mma.sync m16n8k16, row.col, operands of `elem` (bf16 or
/// f16): a 4 x i32, b 2 x i32, c 4 x f32; returns d's 4 f32 values.
SmallVector<Value> mmaM16N8K16(OpBuilder &b, Location loc, Type elem,
                               ArrayRef<Value> a, ArrayRef<Value> bRegs,
                               ArrayRef<Value> c);
/// ldmatrix.sync.aligned.m8n8.x4(.trans).b16 from this lane's row address:
/// four i32 registers.
SmallVector<Value> ldmatrixX4(OpBuilder &b, Location loc, Value rowAddress,
                              bool transpose);

/// The shared memory of a gpu.module's launches: one external array in
/// address space 3 (dynamic shared memory, sized at launch), declared once
/// per module; returns its address, built with `at`.
Value dynamicSharedMemory(OpBuilder &at, Location loc, Operation *gpuModule);
/// The address of element `elemIndex` (an index) of type `elem` from a
/// shared-memory pointer.
Value sharedElementAt(OpBuilder &b, Location loc, Type elem, Value base,
                      Value elemIndex);
/// cp.async.cg.shared.global of 16 bytes from `src` to `dst`; when `copy`
/// is false, zero-fills the 16 bytes instead (source size 0).
void copyAsync16(OpBuilder &b, Location loc, Value dst, Value src, Value copy);
/// cp.async.commit_group: the copies issued since the last commit form a
/// group.
void commitCopies(OpBuilder &b, Location loc);
/// cp.async.wait_group n: at most `pending` groups are still in flight.
void waitCopies(OpBuilder &b, Location loc, int pending);
/// bar.sync 0.
Operation *barrier(OpBuilder &b, Location loc);

/// An f32 load and a store through an LLVM pointer (the launch's register
/// allocas).
Value loadF32(OpBuilder &b, Location loc, Value ptr);
void store(OpBuilder &b, Location loc, Value v, Value ptr);

} // namespace mlir::attn::cuda::nvvm

#endif
