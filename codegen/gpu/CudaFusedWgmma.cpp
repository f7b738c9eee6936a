// The fused attention launch's two products on Hopper warpgroup MMA
// (sm_90a; CudaFusedEmitter.h): the block's 4 warps are one warpgroup of 64
// query rows, K and V tiles sit in 128-byte swizzled shared memory
// (NvvmWgmma.h), and the accumulators have the mma.sync launch's fragment
// layout, so the cascade, the online update and the results are shared.
#include "codegen/gpu/CudaFusedEmitter.h"
#include "codegen/gpu/NvvmOps.h"
#include "codegen/gpu/NvvmWgmma.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;
using namespace mlir::attn::cuda::emit;

/// S = Q K^T over the tile at `kTile`: per 16-column chunk kc of e, one
/// wgmma.m64n<tile>k16 of Q's A fragment (registers) with the K tile
/// (K-major: e is K's contiguous dimension), started 32 bytes further into
/// the swizzled row per chunk, or at the next 64-column block.
SmallVector<nvvm::WgmmaStep> FusedLaunchEmitter::scoreSteps(Value kTile) {
  SmallVector<nvvm::WgmmaStep> steps;
  for (int64_t kc = 0; kc < headDim / 16; ++kc) {
    int64_t col = kc * 16;
    nvvm::WgmmaStep s;
    s.n = tile;
    s.a.assign(qFragments[kc].begin(), qFragments[kc].end());
    s.bDescriptor = nvvm::swizzledDescriptor(
        b, loc,
        nvvm::sharedElementAt(b, loc, fa.elem, kTile,
                              f.cst((col / 64) * tile * 64 + col % 64)));
    steps.push_back(s);
  }
  return steps;
}

/// The scores of the current tile (kTile), waited for.
void FusedLaunchEmitter::computeScoresWgmma() {
  SmallVector<Value> acc(keyBlocks * 4, fconst(0));
  acc = nvvm::wgmmaBatch(b, loc, fa.elem, scoreSteps(kTile), acc);
  scores.assign(keyBlocks, {});
  for (int64_t j = 0; j < keyBlocks; ++j)
    scores[j].assign(acc.begin() + 4 * j, acc.begin() + 4 * j + 4);
}

/// The wgmma steps of key tile `tileIndex`'s scores (from its buffer of
/// the ring), and in `go` whether to run them: not past the end nor on a
/// tile empty for the block (nvvm::wgmmaIssue).
SmallVector<nvvm::WgmmaStep> FusedLaunchEmitter::nextScoreSteps(Value tileIndex,
                                                                Value &go) {
  canon[fa.tileDim] = tileIndex;
  TileClass cls = classifyTile(f, fa, syms, groupBox(tileIndex));
  go = f.andI(f.cmp(arith::CmpIPredicate::ult, tileIndex, numTiles),
              f.notI(cls.empty));
  return scoreSteps(kTileAt(remu(tileIndex, stages)));
}

/// O = O * alpha + P V: per 16-key chunk kc and 64-column block of the
/// output, one wgmma.m64n64k16 of P's A fragment (C fragments of key blocks
/// 2kc and 2kc + 1, packed) with V's rows kc*16.. (MN-major: transposed).
void FusedLaunchEmitter::accumulateWeightedSumWgmma(
    ArrayRef<SmallVector<Value>> probs, const std::array<Value, 2> &alpha) {
  SmallVector<Value> o;
  for (int64_t n = 0; n < outputBlocks; ++n)
    for (int c = 0; c < 4; ++c)
      o.push_back(arith::MulFOp::create(
          b, loc, nvvm::loadF32(b, loc, outputAcc[n][c]), alpha[c >> 1]));
  auto pack = [&](Value x, Value y) {
    return nvvm::packPair(b, loc, fa.elem, x, y);
  };
  SmallVector<nvvm::WgmmaStep> steps;
  for (int64_t kc = 0; kc < tile / 16; ++kc) {
    SmallVector<Value, 4> a = {
        pack(probs[2 * kc][0], probs[2 * kc][1]),
        pack(probs[2 * kc][2], probs[2 * kc][3]),
        pack(probs[2 * kc + 1][0], probs[2 * kc + 1][1]),
        pack(probs[2 * kc + 1][2], probs[2 * kc + 1][3])};
    for (int64_t block = 0; block < headDim / 64; ++block) {
      nvvm::WgmmaStep s;
      s.n = 64;
      s.a = a;
      s.transposeB = true;
      s.first = block * 32;
      s.bDescriptor = nvvm::swizzledDescriptor(
          b, loc,
          nvvm::sharedElementAt(b, loc, fa.elem, vTile,
                                f.cst(block * tile * 64 + kc * 16 * 64)));
      steps.push_back(s);
    }
  }
  o = nvvm::wgmmaBatch(b, loc, fa.elem, steps, o);
  for (int64_t n = 0; n < outputBlocks; ++n)
    for (int c = 0; c < 4; ++c)
      nvvm::store(b, loc, o[4 * n + c], outputAcc[n][c]);
}
