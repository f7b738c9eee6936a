// The fused attention launch (CudaFusedEmitter.h): a block's geometry, the Q
// fragments, the running state, and the key tiles, software-pipelined: the
// cp.async copies of tile t + 1 into the other shared buffer are in flight
// while tile t computes (CudaFusedTile.cpp); a tile that no filter lets
// contribute is neither copied nor computed.
#include "codegen/gpu/CudaFusedEmitter.h"
#include "codegen/gpu/NvvmOps.h"
#include "codegen/gpu/NvvmWgmma.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;
using namespace mlir::attn::cuda::emit;

LogicalResult KernelEmitter::emitFusedLaunches(OnlineOp online) {
  for (const std::shared_ptr<FusedAttention> &fa : plan.fused)
    if (fa->online == online)
      for (auto &[d, when] : fa->variants)
        if (failed(emitFused(*fa, d, when)))
          return failure();
  return success();
}

LogicalResult KernelEmitter::emitFused(FusedAttention &fa, int64_t headDim,
                                       const SizeText &when) {
  DeviceFunction f(plan, module, entryName("fused" + std::to_string(headDim)),
                   fa.online.getLoc());
  if (failed(FusedLaunchEmitter(*this, fa, f, headDim).emit(when)))
    return failure();
  done(f);
  return success();
}

FusedLaunchEmitter::FusedLaunchEmitter(KernelEmitter &ke, FusedAttention &fa,
                                       DeviceFunction &f, int64_t headDim)
    : ke(ke), plan(ke.plan), fa(fa), f(f), b(f.b), loc(f.loc), headDim(headDim),
      tile(fa.tile),
      warps(fa.pDim >= 0 && !fa.group
                ? 4 * (fa.wgmma && wgmmaFitsHeadDim(headDim) ? fa.warpgroups
                                                              : 1)
                : 1),
      threads(32 * warps), rowsPerBlock(fa.group ? fa.group : 16 * warps),
      // ldmatrix without bank conflicts, 16-byte aligned rows
      smemStride(headDim + 8), keyBlocks(tile / 8), outputBlocks(headDim / 8),
      bufferElems(
          2 * tile *
          (fa.wgmma && wgmmaFitsHeadDim(headDim) ? headDim : smemStride)),
      wgmma(fa.wgmma && wgmmaFitsHeadDim(headDim)),
      overlap(wgmma && fa.wgmmaOverlap && headDim <= fa.overlapMaxHeadDim),
      stages(overlap ? 3 : 2) {
  where = "the fused attention launch of the attn.online at " +
          locationText(fa.online.getLoc());
}

Value FusedLaunchEmitter::divu(Value a, int64_t c) {
  return arith::DivUIOp::create(b, loc, a, f.cst(c)).getResult();
}
Value FusedLaunchEmitter::remu(Value a, int64_t c) {
  return arith::RemUIOp::create(b, loc, a, f.cst(c)).getResult();
}
Value FusedLaunchEmitter::fconst(double v) {
  return nvvm::f32Constant(b, loc, v);
}
void FusedLaunchEmitter::setRow(int i) {
  if (fa.pDim >= 0)
    canon[fa.pDim] = rows[i];
}

LogicalResult FusedLaunchEmitter::emit(const SizeText &when) {
  // Shared memory: two buffers (tile t and the prefetch of tile t + 1),
  // each the K tile then the V tile; overlapped, three (tile t + 1 is read
  // while tile t's V is, and tile t + 2 is copied).
  // The wgmma launch's swizzled tiles start at a multiple of 1024 bytes.
  smem = nvvm::dynamicSharedMemory(f.pro, loc, ke.module);
  if (wgmma)
    smem = nvvm::alignShared1024(f.pro, loc, smem);
  f.launch.sharedBytes = SizeText::constant(
      stages * bufferElems * (fa.elem.getIntOrFloatBitWidth() / 8) +
      (wgmma ? 1024 : 0));
  if (failed(bindSizes()))
    return failure();
  emitGeometry(when);
  loadQFragments();
  initRunningState();
  if (failed(overlap ? emitTileLoopOverlapped() : emitTileLoop()) ||
      failed(emitResults()))
    return failure();
  f.launch.blocks = blocks;
  f.launch.threads = static_cast<unsigned>(threads);
  f.launch.count = blocks;
  return success();
}

/// The online op's extents and the canonical symbols as device values.
LogicalResult FusedLaunchEmitter::bindSizes() {
  OnlineOp online = fa.online;
  if (failed(ke.sizeValues(f, online, online.getSizes(), "size", sizes,
                           &sizeTexts)))
    return failure();
  for (Value s : fa.symbols) {
    std::string why;
    std::optional<SizeText> t = plan.sizeOf(s, why);
    if (!t)
      return online.emitError() << "the CUDA code generator cannot pass a "
                                   "symbol to the device: "
                                << why;
    syms.push_back(f.size(*t));
  }
  canon.assign(fa.numCanon(), Value());
  return success();
}

/// One block per (block dims..., row tile); the lane's rows.
void FusedLaunchEmitter::emitGeometry(const SizeText &when) {
  blocks = when;
  SmallVector<Value> gridExtents;
  for (unsigned d : fa.blockDims) {
    blocks = sizeMul(blocks, sizeTexts[d]);
    gridExtents.push_back(sizes[d]);
  }
  if (fa.pDim >= 0) {
    SizeText rowTiles = sizeBinary("ceildiv", sizeTexts[fa.pDim],
                                   SizeText::constant(rowsPerBlock));
    blocks = sizeMul(blocks, rowTiles);
    gridExtents.push_back(f.size(rowTiles));
  }
  Type idx = b.getIndexType();
  tid = gpu::ThreadIdOp::create(b, loc, idx, gpu::Dimension::x);
  Value bid = gpu::BlockIdOp::create(b, loc, idx, gpu::Dimension::x);
  lane = remu(tid, 32);
  warp = divu(tid, 32);
  groupId = divu(lane, 4);
  laneInGroup = remu(lane, 4);
  SmallVector<Value> blockCoords = gridExtents.empty()
                                       ? SmallVector<Value>()
                                       : f.unflatten(bid, gridExtents);
  for (auto [k, d] : llvm::enumerate(fa.blockDims))
    canon[d] = blockCoords[k];
  Value rowTile = fa.pDim >= 0 ? blockCoords.back() : Value();
  if (rowTile && fa.longestFirst)
    rowTile = f.sub(f.sub(gridExtents.back(), f.cst(1)), rowTile);
  rowBlock = rowTile ? f.mul(rowTile, f.cst(rowsPerBlock)) : f.cst(0);
  rowWarp = f.add(rowBlock, f.mul(warp, f.cst(16)));
  rowGroup = warps > 4 ? f.add(rowBlock, f.mul(divu(warp, 4), f.cst(64)))
                       : rowBlock;
  rows = {f.add(rowWarp, groupId), f.add(rowWarp, f.add(groupId, f.cst(8)))};
  for (int i = 0; i < 2; ++i) {
    rowValid[i] = f.cmp(arith::CmpIPredicate::ult, rows[i],
                        fa.pDim >= 0 ? sizes[fa.pDim] : f.cst(1));
    if (fa.group) // the block's rows are the group's
      rowValid[i] = f.andI(rowValid[i], f.cmp(arith::CmpIPredicate::ult,
                                              f.add(groupId, f.cst(8 * i)),
                                              f.cst(fa.group)));
  }
}

/// Which coordinates of a read of Q, K or V need a range check: not one
/// that is a canonical dimension or one of the root's with the tensor's
/// extent (in range wherever the point is live: no check, and no error in
/// the manifest).
SmallVector<bool> FusedLaunchEmitter::needsCheck(ArrayRef<AffineExpr> coords,
                                                 const TensorStorage &s) {
  auto extentOf = [&](Value size) {
    std::string why;
    std::optional<SizeText> n = plan.sizeOf(size, why);
    return n ? *n : SizeText::symbol("?");
  };
  auto same = [](const SizeText &x, const SizeText &y) {
    return x.text == y.text || (x.value && y.value && *x.value == *y.value);
  };
  SmallVector<bool> check;
  for (auto [k, c] : llvm::enumerate(coords)) {
    const SizeText &ext = s.shape[k];
    bool proved = false;
    if (auto d = dyn_cast<AffineDimExpr>(c)) {
      unsigned p = d.getPosition();
      proved = p < fa.numOnline ? same(sizeTexts[p], ext)
               : p == fa.e      ? same(eExtent, ext)
                                : same(SizeText::constant(tile), ext);
    }
    for (auto [r, rd] : llvm::enumerate(fa.dimsOf[fa.root]))
      if (rd == c && same(extentOf(fa.root.getSizes()[r]), ext))
        proved = true;
    check.push_back(!proved);
  }
  return check;
}

/// Q's A fragments (registers for the whole launch): per 16-column chunk
/// kc, {row g cols 2q.., row g+8, row g cols 8+2q.., row g+8} of the
/// chunk, pairs as i32 (NvvmOps.h); zero for rows past the end and for
/// columns past E (a multiple of 8: a pair is wholly in or out).
void FusedLaunchEmitter::loadQFragments() {
  {
    std::string why;
    std::optional<SizeText> n =
        plan.sizeOf(fa.root.getSizes()[fa.root.getReducedDims()[0]], why);
    eExtent = n ? *n : SizeText::symbol("?");
  }
  // Without padded variants, E and F are the variant's (the manifest's
  // factor): the column masks fold away.
  eSize = plan.paddedHeadDims ? f.size(eExtent) : f.cst(headDim);
  fSize = plan.paddedHeadDims ? sizes[fa.fDim] : f.cst(headDim);
  qStorage = plan.storageOf(fa.q);
  kStorage = plan.storageOf(fa.k);
  vStorage = plan.storageOf(fa.v);
  const TensorStorage &qs = *qStorage;
  Value qBase[2], qLive[2];
  Value zeroI32 = nvvm::i32Constant(b, loc, 0);
  for (int i = 0; i < 2; ++i) {
    setRow(i);
    canon[fa.e] = f.cst(0);
    SmallVector<Value> index;
    for (AffineExpr c : fa.qCoords)
      index.push_back(emitAffine(f, c, canon, syms));
    SmallVector<Value> extents = f.shape(qs);
    SmallVector<bool> check = needsCheck(fa.qCoords, qs);
    // Checked at e = E - 1 (the last element a row reads), based at e = 0.
    SmallVector<Value> last(index);
    last.back() =
        f.select(f.cmp(arith::CmpIPredicate::ugt, eSize, f.cst(0)),
                 arith::SubIOp::create(b, loc, eSize, f.cst(1)), f.cst(0));
    auto [ok, code] =
        ke.rangeCheck(f, last, extents, check, qs, "by Q's map in " + where);
    if (ok) {
      Value bad = f.andI(rowValid[i], f.notI(ok));
      auto ifOp = scf::IfOp::create(b, loc, bad, false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
      f.raise(code);
    }
    for (Value &v : index)
      v = ok ? f.select(ok, v, f.cst(0)) : v;
    qBase[i] = f.offset(index, extents);
    qLive[i] = ok ? f.andI(rowValid[i], ok) : rowValid[i];
  }
  Value qPtr = f.valuesOf(qs);
  auto loadPair = [&](Value base, Value off) {
    Value p = f.elementPtr(base, fa.elem, off);
    return LLVM::LoadOp::create(b, loc, b.getI32Type(), p, /*alignment=*/4)
        .getResult();
  };
  // Per 8 columns, one uniform branch: the pairs of both rows where the
  // columns are inside E, zeros past it.
  qFragments.assign(headDim / 16, {});
  Type i32 = b.getI32Type();
  for (int64_t kc = 0; kc < headDim / 16; ++kc)
    for (int h = 0; h < 2; ++h) {
      int64_t col = kc * 16 + h * 8;
      auto ifOp = scf::IfOp::create(
          b, loc, TypeRange{i32, i32},
          f.cmp(arith::CmpIPredicate::ult, f.cst(col), eSize), true);
      {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(ifOp.thenBlock());
        SmallVector<Value> pairs;
        for (int i = 0; i < 2; ++i) {
          Value off =
              f.add(qBase[i], f.add(f.cst(col), f.mul(laneInGroup, f.cst(2))));
          off = f.select(qLive[i], off, f.cst(0));
          pairs.push_back(f.select(qLive[i], loadPair(qPtr, off), zeroI32));
        }
        scf::YieldOp::create(b, loc, pairs);
        b.setInsertionPointToStart(ifOp.elseBlock());
        scf::YieldOp::create(b, loc, ValueRange{zeroI32, zeroI32});
      }
      qFragments[kc].append(ifOp.getResults().begin(), ifOp.getResults().end());
    }
}

/// The running maximum (-inf), sums (0) and weighted-sum accumulators (0).
void FusedLaunchEmitter::initRunningState() {
  double negInf = -std::numeric_limits<double>::infinity();
  runningSums.resize(fa.parts.size());
  for (int i = 0; i < 2; ++i) {
    runningMax[i] = f.alloca(b.getF32Type());
    nvvm::store(b, loc, fconst(negInf), runningMax[i]);
    for (size_t p = 0; p < fa.parts.size(); ++p) {
      runningSums[p][i] = f.alloca(b.getF32Type());
      nvvm::store(b, loc, fconst(0), runningSums[p][i]);
    }
  }
  outputAcc.resize(outputBlocks);
  for (int64_t n = 0; n < outputBlocks; ++n)
    for (int c = 0; c < 4; ++c) {
      outputAcc[n][c] = f.alloca(b.getF32Type());
      nvvm::store(b, loc, fconst(0), outputAcc[n][c]);
    }
}

/// The box of canonical dimensions a key tile spans for `rowCount` rows
/// from `rowLo` (CudaTileClasses.h).
SmallVector<std::optional<DimInterval>>
FusedLaunchEmitter::box(Value tileIndex, Value rowLo, int64_t rowCount) {
  SmallVector<std::optional<DimInterval>> bx(fa.numCanon());
  for (unsigned d : fa.blockDims)
    bx[d] = DimInterval{canon[d], canon[d]};
  bx[fa.tileDim] = DimInterval{tileIndex, tileIndex};
  if (fa.pDim >= 0)
    bx[fa.pDim] = DimInterval{rowLo, f.add(rowLo, f.cst(rowCount - 1))};
  bx[fa.m0] = DimInterval{f.cst(0), f.cst(tile - 1)};
  return bx;
}

/// The box of a key tile for the rows that compute together: the block's
/// (mma.sync), or the warpgroup's 64 (wgmma: a warpgroup issues wgmma
/// together; with two, each skips or unmasks its own tiles).
SmallVector<std::optional<DimInterval>>
FusedLaunchEmitter::groupBox(Value tileIndex) {
  return box(tileIndex, rowGroup, wgmma ? 64 : rowsPerBlock);
}

/// Whether the key row is inside the root's domain (all its dimensions but
/// the rows' and e): past it, K rows are padding (zeros); inside it, a
/// coordinate out of range is the error the reference reports.
Value FusedLaunchEmitter::keyLive() {
  SmallVector<Value> rootDims = dimsOf(fa.root);
  Value live;
  for (auto [d, size] : llvm::enumerate(fa.root.getSizes())) {
    AffineExpr de = fa.dimsOf[fa.root][d];
    if (de.isFunctionOfDim(fa.e) ||
        (fa.pDim >= 0 && de.isFunctionOfDim(fa.pDim)))
      continue;
    std::string why;
    live = f.andI(live, f.cmp(arith::CmpIPredicate::ult, rootDims[d],
                              f.size(*plan.sizeOf(size, why))));
  }
  return live;
}

void FusedLaunchEmitter::raiseIfOutOfRange(
    const TensorStorage &s, ArrayRef<AffineExpr> coords, ArrayRef<Value> index,
    ArrayRef<Value> extents, unsigned colDim, Value colLive, const char *name) {
  SmallVector<bool> check = needsCheck(coords, s);
  auto [inRange, code] =
      ke.rangeCheck(f, index, extents, check, s,
                    std::string("by ") + name + "'s map in " + where);
  // Past E or F the chunk is padding: where a checked coordinate depends on
  // the column, only a live column may raise.
  Value live = keyLive();
  for (auto [k, c] : llvm::enumerate(coords))
    if (live && check[k] && c.isFunctionOfDim(colDim)) {
      live = f.andI(live, colLive);
      break;
    }
  if (inRange && live) {
    auto ifOp = scf::IfOp::create(b, loc, f.andI(live, f.notI(inRange)), false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    f.raise(code);
  }
}

/// A tile of K or V into shared memory at `tileBase`: thread `tid` copies
/// the 16-byte chunks tid, tid + threads, ... (row-major over the tile's
/// rows; `colDim` is the canonical dimension of the row's elements); the
/// chunks past E (K) or F (V) are zero-filled, not read.
void FusedLaunchEmitter::copyTile(const TensorStorage &s,
                                  ArrayRef<AffineExpr> coords, unsigned colDim,
                                  Value tileBase, const char *name) {
  // K and V do not depend on the row within the block (grouped: only on
  // the row's group).
  if (fa.pDim >= 0)
    canon[fa.pDim] = rowBlock;
  int64_t chunksPerRow = headDim / 8;
  SmallVector<Value> extents = f.shape(s);
  Value base = f.valuesOf(s);
  // Stepped: a thread's chunks share a column and are rowStep rows apart,
  // and every coordinate is affine in the tile row m0 with a constant
  // coefficient (and no checked one depends on it): the address of the
  // first chunk, then one step per chunk.
  SmallVector<int64_t> perRow;
  bool linear = true;
  SmallVector<bool> check = needsCheck(coords, s);
  for (auto [k, x] : llvm::enumerate(coords)) {
    AffineExpr next = x.replace(fa.dim(fa.m0), fa.dim(fa.m0) + 1);
    AffineExpr diff = simplifyAffineExpr(next - x, fa.numCanon(),
                                         FusedAttention::kMaxSymbols);
    auto c = dyn_cast<AffineConstantExpr>(diff);
    linear &= c && !(check[k] && c.getValue() != 0);
    perRow.push_back(c ? c.getValue() : 0);
  }
  Value colExtent = colDim == fa.e ? eSize : fSize;
  if (linear)
    copyTileStepped(s, coords, colDim, tileBase, name, extents, base, perRow,
                    colExtent);
  else
    copyTileChunked(s, coords, colDim, tileBase, name, extents, base,
                    colExtent);
}

/// One 16-byte chunk's cp.async (zero-filled unless `ok`), only where
/// `inTile` (null: always), the chunk being inside the tile.
void FusedLaunchEmitter::copyChunkIf(Value inTile, Value dst, Value src,
                                     Value ok) {
  OpBuilder::InsertionGuard guard(b);
  if (inTile)
    f.enterIf(inTile);
  nvvm::copyAsync16(b, loc, dst, src, ok);
}

void FusedLaunchEmitter::copyTileStepped(
    const TensorStorage &s, ArrayRef<AffineExpr> coords, unsigned colDim,
    Value tileBase, const char *name, ArrayRef<Value> extents, Value base,
    ArrayRef<int64_t> perRow, Value colExtent) {
  // rowStep rows of chunks per step; where a row's chunk count does not
  // divide the threads (96 columns), the last threads copy nothing.
  int64_t chunksPerRow = headDim / 8;
  int64_t rowStep = threads / chunksPerRow;
  Value idle =
      rowStep * chunksPerRow < threads
          ? f.cmp(arith::CmpIPredicate::uge, tid, f.cst(rowStep * chunksPerRow))
          : Value();
  Value row0 = divu(tid, chunksPerRow);
  Value col = f.mul(remu(tid, chunksPerRow), f.cst(8));
  canon[fa.m0] = row0;
  canon[colDim] = col;
  SmallVector<Value> index;
  for (AffineExpr x : coords)
    index.push_back(emitAffine(f, x, canon, syms));
  Value colLive = f.cmp(arith::CmpIPredicate::ult, col, colExtent);
  raiseIfOutOfRange(s, coords, index, extents, colDim, colLive, name);
  // Row-major strides; the coordinates fixed across the chunks.
  SmallVector<Value> strides(extents.size());
  Value str = f.cst(1), step = f.cst(0), fixedOk;
  for (size_t k = extents.size(); k-- > 0;) {
    strides[k] = str;
    str = f.mul(str, extents[k]);
    if (perRow[k])
      step = f.add(step, f.mul(strides[k], f.cst(perRow[k] * rowStep)));
    else
      fixedOk = f.andI(fixedOk,
                       f.cmp(arith::CmpIPredicate::ult, index[k], extents[k]));
  }
  fixedOk = fixedOk ? f.andI(fixedOk, colLive) : colLive;
  Value offset0 = f.offset(index, extents);
  for (int64_t c = 0; c * rowStep < tile; ++c) {
    Value ok = fixedOk;
    for (size_t k = 0; k < extents.size(); ++k)
      if (perRow[k])
        ok = f.andI(ok, f.cmp(arith::CmpIPredicate::ult,
                              f.add(index[k], f.cst(perRow[k] * rowStep * c)),
                              extents[k]));
    Value off = f.select(ok, f.add(offset0, f.mul(step, f.cst(c))), f.cst(0));
    Value row = f.add(row0, f.cst(c * rowStep));
    Value inTile = (c + 1) * rowStep > tile
                       ? f.cmp(arith::CmpIPredicate::ult, row, f.cst(tile))
                       : Value();
    if (idle)
      inTile = inTile ? f.andI(inTile, f.notI(idle)) : f.notI(idle);
    copyChunkIf(
        inTile,
        nvvm::sharedElementAt(b, loc, fa.elem, tileBase, tileOffset(row, col)),
        f.elementPtr(base, fa.elem, off), ok);
  }
}

void FusedLaunchEmitter::copyTileChunked(const TensorStorage &s,
                                         ArrayRef<AffineExpr> coords,
                                         unsigned colDim, Value tileBase,
                                         const char *name,
                                         ArrayRef<Value> extents, Value base,
                                         Value colExtent) {
  int64_t chunksPerRow = headDim / 8, total = tile * chunksPerRow;
  for (int64_t c = 0; c * threads < total; ++c) {
    Value chunk = f.add(f.cst(c * threads), tid);
    Value row = divu(chunk, chunksPerRow);
    Value col = f.mul(remu(chunk, chunksPerRow), f.cst(8));
    canon[fa.m0] = row;
    canon[colDim] = col;
    SmallVector<Value> index;
    for (AffineExpr x : coords)
      index.push_back(emitAffine(f, x, canon, syms));
    Value inTile = (c + 1) * threads > total
                       ? f.cmp(arith::CmpIPredicate::ult, chunk, f.cst(total))
                       : Value();
    Value colLive = f.cmp(arith::CmpIPredicate::ult, col, colExtent);
    Value ok;
    for (auto [k, v] : llvm::enumerate(index))
      ok = f.andI(ok, f.cmp(arith::CmpIPredicate::ult, v, extents[k]));
    ok = ok ? f.andI(ok, colLive) : colLive;
    raiseIfOutOfRange(s, coords, index, extents, colDim, colLive, name);
    SmallVector<Value> safe(index);
    for (Value &v : safe)
      v = f.select(ok, v, f.cst(0));
    copyChunkIf(
        inTile,
        nvvm::sharedElementAt(b, loc, fa.elem, tileBase, tileOffset(row, col)),
        f.elementPtr(base, fa.elem, f.offset(safe, extents)), ok);
  }
}

/// The element offset of (row, col) in a K or V tile: padded rows for
/// ldmatrix, or wgmma's swizzled layout (NvvmWgmma.h).
Value FusedLaunchEmitter::tileOffset(Value row, Value col) {
  if (wgmma)
    return nvvm::swizzledOffset(b, loc, row, col, tile);
  return f.add(f.mul(row, f.cst(smemStride)), col);
}

Value FusedLaunchEmitter::kTileAt(Value buffer) {
  return nvvm::sharedElementAt(b, loc, fa.elem, smem,
                               f.mul(buffer, f.cst(bufferElems)));
}
Value FusedLaunchEmitter::vTileAt(Value buffer) {
  return nvvm::sharedElementAt(
      b, loc, fa.elem, smem,
      f.add(f.mul(buffer, f.cst(bufferElems)), f.cst(bufferElems / 2)));
}

/// The copies of key tile `tileIndex` into `buffer` unless the tile is past
/// the end or contributes nothing; one commit group either way (the
/// wait_group counts stay uniform).
void FusedLaunchEmitter::issueTileCopies(Value tileIndex, Value buffer) {
  canon[fa.tileDim] = tileIndex;
  TileClass cls =
      classifyTile(f, fa, syms, box(tileIndex, rowBlock, rowsPerBlock));
  Value go = f.andI(f.cmp(arith::CmpIPredicate::ult, tileIndex, numTiles),
                    f.notI(cls.empty));
  {
    OpBuilder::InsertionGuard guard(b);
    f.enterIf(go);
    copyTile(*kStorage, fa.kCoords, fa.e, kTileAt(buffer), "K");
    copyTile(*vStorage, fa.vCoords, fa.fDim, vTileAt(buffer), "V");
  }
  canon[fa.e] = Value();
  canon[fa.fDim] = Value();
  nvvm::commitCopies(b, loc);
}

/// The loop over key tiles: prefetch tile 0; per tile t, issue t + 1, wait
/// for t, compute it (unless empty for the block), then a barrier so that
/// everyone has read t's buffer before the copies of t + 2 overwrite it.
LogicalResult FusedLaunchEmitter::emitTileLoop() {
  numTiles = sizes[fa.tileDim];
  issueTileCopies(f.cst(0), f.cst(0));
  OpBuilder::InsertPoint afterLoop = b.saveInsertionPoint();
  Value t = f.beginLoop(numTiles);
  Value buf = remu(t, 2);
  issueTileCopies(f.add(t, f.cst(1)),
                  arith::SubIOp::create(b, loc, f.cst(1), buf));
  canon[fa.tileDim] = t;
  nvvm::waitCopies(b, loc, 1);
  if (wgmma) // the tensor cores read what cp.async wrote
    nvvm::fenceAsyncShared(b, loc);
  nvvm::barrier(b, loc);
  Operation *endBarrier = nvvm::barrier(b, loc);
  b.setInsertionPoint(endBarrier);
  TileClass blockClass = classifyTile(f, fa, syms, groupBox(t));
  f.enterIf(f.notI(blockClass.empty));
  kTile = kTileAt(buf);
  vTile = vTileAt(buf);
  if (wgmma)
    computeScoresWgmma();
  else
    computeScores();
  // The cascade, the online update and P V: without filters on tiles full
  // for this warp's rows (the block's: a warpgroup issues wgmma together),
  // with every filter elsewhere.
  TileClass warpClass =
      wgmma
          ? classifyTile(f, fa, syms, groupBox(t))
          : classifyTile(f, fa, syms,
                         box(t, rowWarp, std::min<int64_t>(16, rowsPerBlock)));
  if (failed(computeTileByClass(warpClass.full)))
    return failure();
  b.restoreInsertionPoint(afterLoop);
  return success();
}

/// The cascade, the online update and P V of the tile whose scores are
/// `scores`: without filters where `full`, with every filter elsewhere.
LogicalResult FusedLaunchEmitter::computeTileByClass(Value full) {
  auto ifFull = scf::IfOp::create(b, loc, full, /*withElse=*/true);
  for (Value sym : fa.online.getSymbols()) {
    std::string why;
    onlineSyms.push_back(f.size(*plan.sizeOf(sym, why)));
  }
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifFull.thenBlock()->getTerminator());
    if (failed(computeTile(false)))
      return failure();
    b.setInsertionPoint(ifFull.elseBlock()->getTerminator());
    if (failed(computeTile(true)))
      return failure();
  }
  return success();
}

/// The wgmma loop with the scores of tile t + 1 on the tensor cores while
/// tile t's cascade and online update run on the CUDA cores (FA3's
/// intra-warpgroup overlap), on a ring of 3 buffers. Before the loop, tile
/// 0's copies and scores (waited for) and tile 1's copies. Per tile t:
///   wait for tile t + 1's copies, fence (the tensor cores read them),
///     barrier: every thread is also past the wgmma waits of tile t - 1, the
///     last reads of buffer (t + 2) % 3;
///   the copies of tile t + 2 into it;
///   S of tile t + 1 issued and committed, not waited for (predicated off
///     past the end or on a tile empty for the block);
///   tile t (full, partial or skipped) from the scores kept in the previous
///     iteration; its P V waits for every group, S of t + 1 included;
///   wgmma.wait_group 0 on S of t + 1 (in every case, so no tile leaves a
///     wgmma in flight), which become the kept scores: between the issue and
///     this wait nothing reads or writes their registers.
LogicalResult FusedLaunchEmitter::emitTileLoopOverlapped() {
  numTiles = sizes[fa.tileDim];
  unsigned n = keyBlocks * 4;
  for (unsigned i = 0; i < n; ++i)
    scoreState.push_back(f.alloca(b.getF32Type()));
  auto keep = [&](ArrayRef<Value> s) {
    for (auto [v, slot] : llvm::zip_equal(s, scoreState))
      nvvm::store(b, loc, v, slot);
  };
  auto awaitCopies = [&] {
    nvvm::waitCopies(b, loc, 0);
    nvvm::fenceAsyncShared(b, loc);
    nvvm::barrier(b, loc);
  };
  auto issueScores = [&](Value index) {
    Value go;
    SmallVector<nvvm::WgmmaStep> steps = nextScoreSteps(index, go);
    return nvvm::wgmmaIssue(b, loc, fa.elem, steps, n, go);
  };
  issueTileCopies(f.cst(0), f.cst(0));
  awaitCopies();
  issueTileCopies(f.cst(1), f.cst(1));
  keep(nvvm::wgmmaWait(b, loc, issueScores(f.cst(0)), 0));
  OpBuilder::InsertPoint afterLoop = b.saveInsertionPoint();
  Value t = f.beginLoop(numTiles);
  awaitCopies();
  Value ahead = f.add(t, f.cst(2));
  issueTileCopies(ahead, remu(ahead, stages));
  SmallVector<Value> next = issueScores(f.add(t, f.cst(1)));
  canon[fa.tileDim] = t;
  {
    OpBuilder::InsertionGuard guard(b);
    TileClass blockClass = classifyTile(f, fa, syms, groupBox(t));
    f.enterIf(f.notI(blockClass.empty));
    Value buf = remu(t, stages);
    kTile = kTileAt(buf);
    vTile = vTileAt(buf);
    scores.assign(keyBlocks, {});
    for (unsigned i = 0; i < n; ++i)
      scores[i / 4].push_back(nvvm::loadF32(b, loc, scoreState[i]));
    if (failed(computeTileByClass(blockClass.full)))
      return failure();
  }
  keep(nvvm::wgmmaWait(b, loc, next, 0));
  b.restoreInsertionPoint(afterLoop);
  return success();
}
