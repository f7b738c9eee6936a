// Internal to codegen/gpu: the emitter of one fused attention launch (one
// head-dimension variant of a FusedAttention), in phases:
//   CudaFusedLaunch.cpp   the launch: geometry, Q fragments, running state,
//                         the K/V copy pipeline and the key-tile loop;
//   CudaFusedTile.cpp     one key tile: scores, the cascade and the online
//                         update, the weighted sum;
//   CudaFusedCascade.cpp  the cascade's einsums at one score element;
//   CudaFusedResults.cpp  the results, and the epilogue that writes the
//                         output directly;
//   CudaFusedWgmma.cpp    on sm_90a, the two products on warpgroup MMA.
// The NVVM instructions are in NvvmOps.h (with the mma register layouts),
// the tile classes in CudaTileClasses.h.
#ifndef ATTN_CODEGEN_GPU_CUDAFUSEDEMITTER_H
#define ATTN_CODEGEN_GPU_CUDAFUSEDEMITTER_H

#include "codegen/gpu/CudaEmitter.h"
#include "codegen/gpu/CudaFusedAttention.h"
#include "codegen/gpu/CudaTileClasses.h"
#include "codegen/gpu/NvvmWgmma.h"

#include <array>

namespace mlir::attn::cuda {

/// A value and its presence (null: present).
using ValuePresence = std::pair<Value, Value>;

/// Emits one fused launch into `f` (see the file comment). A block of
/// `warps` warps owns `rowsPerBlock` rows; each warp holds an m16 slice of
/// them in mma fragments (NvvmOps.h): a lane's two rows are `rows[0]`
/// (row g of its warp's slice) and `rows[1]` (row g + 8).
class FusedLaunchEmitter {
public:
  FusedLaunchEmitter(emit::KernelEmitter &ke, FusedAttention &fa,
                     emit::DeviceFunction &f, int64_t headDim);

  /// The whole launch, run when `when` (the manifest's 0-or-1 factor) is 1.
  LogicalResult emit(const SizeText &when);

private:
  emit::KernelEmitter &ke;
  KernelPlan &plan;
  FusedAttention &fa;
  emit::DeviceFunction &f;
  OpBuilder &b;
  Location loc;

  // The launch's shape (compile-time constants).
  const int64_t headDim; // the variant: e's and f's extents at most this
  const int64_t tile;    // keys per tile (m0's extent)
  const unsigned warps;  // per block: 4, or 1 without a query rank
  const int64_t threads; // per block
  const int64_t rowsPerBlock;
  const int64_t smemStride;   // a shared row, in elements: headDim + 8
  const int64_t keyBlocks;    // 8-key column blocks of the scores
  const int64_t outputBlocks; // 8-column blocks of the weighted sum
  const int64_t bufferElems;  // one pipeline buffer: the K tile, the V tile
  const bool wgmma;           // the Hopper launch (CudaFusedWgmma.cpp)
  const bool overlap;         // wgmma, next tile's scores in flight
  const int64_t stages;       // pipeline buffers: 2, 3 with `overlap`
  std::string where;          // the launch, in messages

  // Launch-wide values.
  Value smem;               // dynamic shared memory
  SmallVector<Value> sizes; // the online op's dimensions' extents
  SmallVector<SizeText> sizeTexts;
  SmallVector<Value> syms;  // canonical symbols' values
  SmallVector<Value> canon; // canonical dims' values where emitting
  SizeText blocks;          // the grid
  Value tid, lane, warp;
  Value groupId, laneInGroup; // lane / 4, lane % 4 (mma's g and q)
  Value rowBlock, rowWarp;    // the first row of the block, of the warp
  Value rowGroup; // the first row of the warpgroup (wgmma), else rowBlock
  std::array<Value, 2> rows, rowValid;
  const TensorStorage *qStorage = nullptr, *kStorage = nullptr,
                      *vStorage = nullptr;
  SizeText eExtent;
  Value eSize, fSize; // e's and f's extents: the columns past them are zero
  /// Q's A fragments, per 16-column chunk of e: 4 registers (pairs).
  SmallVector<SmallVector<Value>> qFragments;
  /// Running state (allocas, registers after SROA), per row of the lane:
  /// the maximum, each part's sum, and the weighted sum's accumulators
  /// (per 8-column block, the 4 C registers).
  std::array<Value, 2> runningMax;
  SmallVector<std::array<Value, 2>> runningSums;
  SmallVector<std::array<Value, 4>> outputAcc;
  Value numTiles;
  Value laneInGroupIsFirst; // the lane that writes its row's max and sums
  SmallVector<Value> onlineSyms;

  // The tile being computed.
  Value kTile, vTile;                     // its buffers in shared memory
  SmallVector<SmallVector<Value>> scores; // per key block, 4 C registers
  SmallVector<Value> scoreState; // overlap: the scores waited for, allocas
  Value laneInMatrix, matrixOfLane;       // ldmatrix.x4: lane % 8, lane / 8

  // The score element being evaluated (CudaFusedCascade.cpp).
  Value acc;                  // the root's accumulator element
  Value refValue, refPresent; // the running maximum stands for the ref
  bool masked = true;         // apply the filters
  DenseMap<Operation *, ValuePresence> memo;

  // Helpers.
  Value divu(Value a, int64_t c);
  Value remu(Value a, int64_t c);
  Value fconst(double v);
  void setRow(int i);

  // CudaFusedLaunch.cpp
  LogicalResult bindSizes();
  void emitGeometry(const SizeText &when);
  SmallVector<bool> needsCheck(ArrayRef<AffineExpr> coords,
                               const TensorStorage &s);
  void loadQFragments();
  void initRunningState();
  SmallVector<std::optional<DimInterval>> groupBox(Value tileIndex);
  SmallVector<std::optional<DimInterval>> box(Value tileIndex, Value rowLo,
                                              int64_t rowCount);
  Value keyLive();
  void raiseIfOutOfRange(const TensorStorage &s, ArrayRef<AffineExpr> coords,
                         ArrayRef<Value> index, ArrayRef<Value> extents,
                         unsigned colDim, Value colLive, const char *name);
  void copyTile(const TensorStorage &s, ArrayRef<AffineExpr> coords,
                unsigned colDim, Value tileBase, const char *name);
  void copyTileStepped(const TensorStorage &s, ArrayRef<AffineExpr> coords,
                       unsigned colDim, Value tileBase, const char *name,
                       ArrayRef<Value> extents, Value base,
                       ArrayRef<int64_t> perRow, Value colExtent);
  void copyTileChunked(const TensorStorage &s, ArrayRef<AffineExpr> coords,
                       unsigned colDim, Value tileBase, const char *name,
                       ArrayRef<Value> extents, Value base, Value colExtent);
  void copyChunkIf(Value inTile, Value dst, Value src, Value ok);
  Value tileOffset(Value row, Value col);
  Value kTileAt(Value buffer);
  Value vTileAt(Value buffer);
  void issueTileCopies(Value tileIndex, Value buffer);
  LogicalResult emitTileLoop();
  LogicalResult emitTileLoopOverlapped();
  LogicalResult computeTileByClass(Value full);

  // CudaFusedTile.cpp
  void computeScores();
  void setElement(int64_t keyBlock, int c);
  LogicalResult computeTile(bool masked);
  LogicalResult evaluateMaxInputs(SmallVector<std::array<Value, 4>> &values,
                                  SmallVector<std::array<Value, 4>> &present);
  Value filtersAt(Value present, EinsumOp op, ArrayRef<Value> dims);
  /// Per row of the lane: the running maximum after and before the tile,
  /// and whether any element counted (-inf: none yet).
  struct RowMaxima {
    std::array<Value, 2> newMax, oldMax, seen;
    Value ninf;
  };
  RowMaxima updateRowMaxima(ArrayRef<std::array<Value, 4>> values,
                            ArrayRef<std::array<Value, 4>> present);
  std::array<Value, 2> rescaleFactors(const FusedAttention::Part &part,
                                      const RowMaxima &maxima);
  LogicalResult updatePart(unsigned index, const FusedAttention::Part &part,
                           const RowMaxima &maxima);
  void accumulateWeightedSum(ArrayRef<SmallVector<Value>> probs,
                             const std::array<Value, 2> &alpha);

  // CudaFusedWgmma.cpp (the same fragment layouts, NvvmWgmma.h)
  SmallVector<nvvm::WgmmaStep> scoreSteps(Value kTile);
  void computeScoresWgmma();
  SmallVector<nvvm::WgmmaStep> nextScoreSteps(Value tileIndex, Value &go);
  void accumulateWeightedSumWgmma(ArrayRef<SmallVector<Value>> probs,
                                  const std::array<Value, 2> &alpha);

  // CudaFusedCascade.cpp
  SmallVector<Value> dimsOf(Operation *op);
  SmallVector<Value> symsOf(EinsumOp op);
  Value inDomain(EinsumOp op, ArrayRef<Value> dims);
  FailureOr<Value> loadArgument(Value t, ArrayRef<Value> index,
                                ArrayRef<bool> check, Value live,
                                const std::string &where);
  FailureOr<Value> loadInput(EinsumOp op, unsigned i, ArrayRef<Value> dims,
                             ArrayRef<Value> opSyms, Value live);
  FailureOr<Value> cloneBody(EinsumOp op, ArrayRef<Value> inputs,
                             ArrayRef<Value> dims);
  FailureOr<ValuePresence> eval(Value t);

  // CudaFusedResults.cpp
  LogicalResult emitResults();
  void reduceRowSums();
  Value columnLive(int64_t n);
  Value storedColumn(int64_t n, int c);
  void storeResult(Value result, AffineMap map, Value v, Value has, Value when);
  void writeInnerResults();
  LogicalResult writeOutput();
  FailureOr<ValuePresence>
  evalEpilogue(Value v, int i, int64_t n, int c, Value max, Value has,
               DenseMap<Operation *, ValuePresence> &epilogueMemo);
};

} // namespace mlir::attn::cuda

#endif
