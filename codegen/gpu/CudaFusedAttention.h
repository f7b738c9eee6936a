// Internal to codegen/gpu: what one fused attention launch computes, as the
// matcher (CudaFusedMatch.cpp) finds it in the IR and the emitter
// (CudaFusedLaunch.cpp and the files it names) reads it.
//
// The launch computes an inner attn.online (the tiled one-pass form that
// attn-one-pass and attn-split-reduction derive) together with every einsum
// that feeds it, in the structure of FlashAttention-2. Nothing is matched by
// name; the launch applies where the IR has this shape:
//   - the online op reduces one dimension, the tile index t; its ref is a
//     max-einsum over one more dimension m0 (a constant tile extent T) of a
//     tensor X; each part is a sum-einsum over m0 either of one tensor
//     (sums such as the softmax denominator, any elementwise body) or of the
//     form `E * extf(V)` with V a kernel argument whose last coordinate is
//     the part's extra result dimension f (at most one such part);
//   - X and the parts' operands are computed by elementwise einsums (kind
//     none, no guard, no tables) from kernel arguments, the online's ref
//     (the running maximum is substituted for it: the parts scale by
//     exp(c * (M - ref)) by the online op's contract) and one contraction
//     (the root): sum over e of `extf(Q) * extf(K)` times values that do not
//     depend on Q or K, Q and K kernel arguments of bf16 or f16 whose last
//     coordinate is e;
//   - every einsum is read at one set of coordinates; K and V do not depend
//     on the query rank.
// Canonical dimensions: the online op's dimensions, then m0, then e; each
// covered einsum's dimensions are affine in them (composed through the
// maps), which is what the launch evaluates.
#ifndef ATTN_CODEGEN_GPU_CUDAFUSEDATTENTION_H
#define ATTN_CODEGEN_GPU_CUDAFUSEDATTENTION_H

#include "codegen/gpu/CudaPlan.h"

#include "dialect/AttnOps.h"

#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"

#include <optional>
#include <string>

namespace mlir::attn::cuda {

/// What one fused launch computes (see the file comment).
struct FusedAttention {
  static constexpr unsigned kMaxSymbols = 32;

  OnlineOp online;
  unsigned numOnline = 0; // canonical dims [0, numOnline): the online's
  unsigned tileDim = 0;   // the online's reduced dimension
  int fDim = -1;          // the PV part's extra result dimension
  int pDim = -1;          // the MMA rows' dimension, or -1 (one row)
  int64_t group = 0;      // > 0: K and V read pDim as pDim floordiv group
                          // (grouped heads); a block packs `group` rows
  SmallVector<unsigned> blockDims; // the other result dimensions
  unsigned m0 = 0, e = 0;          // canonical positions
  int64_t tile = 0;
  /// The Hopper launch (NvvmWgmma.h: wgmma, swizzled shared tiles) rather
  /// than the mma.sync one: sm_90a, and a block is one warpgroup.
  bool wgmma = false;
  /// On wgmma, the scores of key tile t + 1 are in flight while tile t's
  /// cascade runs (CudaFusedLaunch.cpp: emitTileLoopOverlapped).
  bool wgmmaOverlap = false;
  /// On wgmma, warpgroups per block (1 or 2: 64 or 128 query rows sharing
  /// each K/V tile).
  int64_t warpgroups = 1;
  /// The row blocks run last rows first (a filter relates the keys to the
  /// query rows, so later rows have more key tiles).
  bool longestFirst = false;
  /// The overlap's largest head dimension (CudaFusedMatch.cpp): 128, or 64
  /// where a filter relates the keys to the query rows (a causal, window or
  /// sink mask). The second set of scores (32 registers a thread) on top of Q's
  /// fragments (D / 4) and the weighted sum's accumulators (D / 2) leaves
  /// such a cascade (masks, presence) too few of the 255 at D = 128 (ptxas
  /// spills), so that variant stays serial.
  int64_t overlapMaxHeadDim = 0;
  SmallVector<Value> symbols; // canonical symbols

  /// Every covered einsum: its dimensions over the canonical ones.
  llvm::MapVector<Operation *, SmallVector<AffineExpr>> dimsOf;
  /// The einsums whose filters decide that a tile contributes nothing:
  /// those that compute X (X's presence gates every contribution).
  llvm::SetVector<Operation *> xChain;

  EinsumOp refOp;
  struct Part {
    EinsumOp op;
    bool pv = false;
    double rescale = -1;
  };
  SmallVector<Part> parts;
  EinsumOp root;
  Operation *product = nullptr; // mulf(extf(Q), extf(K)) in the root body
  Value q, k, v;
  SmallVector<AffineExpr> qCoords, kCoords, vCoords;
  Type elem;

  /// Per head-dimension variant D (kHeadDims): the manifest's 0-or-1
  /// factor "this variant runs" (E and F at most D, above the next smaller
  /// variant's, rows of a multiple of 8 elements).
  SmallVector<std::pair<int64_t, SizeText>> variants;

  /// The epilogue, when the launch can also finish the kernel (one split
  /// worker at run time): the outer online op that combines the workers,
  /// the elementwise einsums from its results to the one output, and the
  /// fill into it. `single` names the 0-or-1 factor "this launch runs and
  /// there is one worker".
  struct Epilogue {
    OnlineOp outer;
    int splitDim = -1;                 // the canonical dim the outer op reduces
    SmallVector<AffineExpr> outerDims; // the outer op's dims, canonical
    llvm::MapVector<Operation *, SmallVector<AffineExpr>> dimsOf;
    Value value; // what the output receives (before the fill)
    FillOp fill; // or null
    SmallVector<AffineExpr> outCoords;
    std::string single;
  };
  std::optional<Epilogue> epilogue;

  AffineExpr dim(unsigned d) const {
    OnlineOp op = online; // Op accessors are not const
    return getAffineDimExpr(d, op.getContext());
  }
  /// The online op's dimensions as canonical expressions d0, d1, ...
  SmallVector<AffineExpr> onlineDims() const {
    SmallVector<AffineExpr> ids;
    for (unsigned d = 0; d < numOnline; ++d)
      ids.push_back(dim(d));
    return ids;
  }
  unsigned numCanon() const { return numOnline + 2; }
};

/// The head dimensions D a fused launch has variants for: each runs any
/// contracted (E) and weighted (F) head dimension up to D, the columns past
/// them zero in shared memory and in Q's fragments, not stored. Multiples of
/// 32: mma.sync's K fragments are read two 16-column chunks at a time
/// (ldmatrix.x4).
inline constexpr int64_t kHeadDims[] = {64, 128, 32, 96};

/// Whether the variant of head dimension `d` runs on wgmma where the launch
/// does (FusedAttention::wgmma): the swizzled K and V tiles are blocks of 64
/// columns (128 bytes) and P V is one m64n64k16 per block; 32 and 96 run on
/// mma.sync (their last block would need the 64-byte swizzle).
inline bool wgmmaFitsHeadDim(int64_t d) { return d % 64 == 0; }

/// Whether `v` is an argument of `kernel` (a tensor the launch reads from
/// global memory).
bool isKernelArgument(Value v, func::FuncOp kernel);
/// Whether a body is plain arith/math (cloned per element); failure with
/// `why` naming the first other op.
LogicalResult checkPlainBody(Block &body, std::string &why);
/// Matches the epilogue after fa's online op into fa.epilogue
/// (CudaFusedEpilogue.cpp); failure with `why` when the kernel ends otherwise.
LogicalResult matchFusedEpilogue(KernelPlan &plan, FusedAttention &fa,
                                 std::string &why);

} // namespace mlir::attn::cuda

#endif
