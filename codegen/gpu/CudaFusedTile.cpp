// One key tile of the fused attention launch (CudaFusedEmitter.h), after its
// K and V are in shared memory:
//   scores   S = Q K^T on tensor cores (Q fragments x ldmatrix of K rows);
//   cascade  per score element, the cascade's elementwise einsums up to X,
//            the maximum's input (CudaFusedCascade.cpp);
//   online   the row maxima (a quad of lanes holds a row: shuffles), each
//            running sum rescaled by exp(c * (new - old)) plus the tile's
//            part;
//   P V      the weighted sum: O = O * alpha + P V, the probabilities in
//            registers as the A operand, V by ldmatrix.trans.
#include "codegen/gpu/CudaFusedEmitter.h"
#include "codegen/gpu/NvvmOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;
using namespace mlir::attn::cuda::emit;

static constexpr double kNegInf = -std::numeric_limits<double>::infinity();

/// S = Q K^T over the tile: per 8-key block j, the 16 x 8 C fragment
/// (NvvmOps.h). Each ldmatrix.x4 reads keys j*8.. (lane % 8) at columns
/// kc*16 + (lane / 8)*8: matrices 0 and 1 are the B fragment of chunk kc,
/// 2 and 3 of chunk kc + 1.
void FusedLaunchEmitter::computeScores() {
  scores.assign(keyBlocks, {});
  for (int64_t j = 0; j < keyBlocks; ++j)
    scores[j].assign(4, fconst(0));
  laneInMatrix = remu(lane, 8);
  matrixOfLane = divu(lane, 8);
  for (int64_t kc = 0; kc < headDim / 16; kc += 2)
    for (int64_t j = 0; j < keyBlocks; ++j) {
      Value key = f.add(f.cst(j * 8), laneInMatrix);
      Value col = f.add(f.cst(kc * 16), f.mul(matrixOfLane, f.cst(8)));
      SmallVector<Value> r = nvvm::ldmatrixX4(
          b, loc,
          nvvm::sharedElementAt(b, loc, fa.elem, kTile,
                                f.add(f.mul(key, f.cst(smemStride)), col)),
          false);
      scores[j] = nvvm::mmaM16N8K16(b, loc, fa.elem, qFragments[kc],
                                    {r[0], r[1]}, scores[j]);
      scores[j] = nvvm::mmaM16N8K16(b, loc, fa.elem, qFragments[kc + 1],
                                    {r[2], r[3]}, scores[j]);
    }
}

/// The canonical coordinates of C register c of key block j: row g (c < 2)
/// or g + 8, key j*8 + 2q + (c & 1).
void FusedLaunchEmitter::setElement(int64_t keyBlock, int c) {
  setRow(c >> 1);
  canon[fa.m0] =
      f.add(f.cst(keyBlock * 8 + (c & 1)), f.mul(laneInGroup, f.cst(2)));
  acc = scores[keyBlock][c];
}

LogicalResult FusedLaunchEmitter::computeTile(bool withFilters) {
  masked = withFilters;
  SmallVector<std::array<Value, 4>> xValues, xPresent;
  if (failed(evaluateMaxInputs(xValues, xPresent)))
    return failure();
  RowMaxima maxima = updateRowMaxima(xValues, xPresent);
  for (auto [i, part] : llvm::enumerate(fa.parts))
    if (failed(updatePart(i, part, maxima)))
      return failure();
  return success();
}

/// `present` and the filters of `op` (at its dimensions `dims`) and of the
/// online op at the element.
Value FusedLaunchEmitter::filtersAt(Value present, EinsumOp op,
                                    ArrayRef<Value> dims) {
  if (Value flt = emitFilter(f, op.getFilter(), dims, symsOf(op)))
    present = f.andI(present, flt);
  if (Value flt = emitFilter(f, fa.online.getFilter(),
                             ArrayRef<Value>(canon).take_front(fa.numOnline),
                             onlineSyms))
    present = f.andI(present, flt);
  return present;
}

/// X (the maximum's input) at every element, and whether the ref counts it
/// (null without filters).
LogicalResult FusedLaunchEmitter::evaluateMaxInputs(
    SmallVector<std::array<Value, 4>> &values,
    SmallVector<std::array<Value, 4>> &present) {
  values.resize(keyBlocks);
  present.resize(keyBlocks);
  Value refInput = fa.refOp.getInputs()[0];
  for (int64_t j = 0; j < keyBlocks; ++j)
    for (int c = 0; c < 4; ++c) {
      setElement(j, c);
      memo.clear();
      refValue = Value();
      refPresent = Value();
      FailureOr<ValuePresence> v = eval(refInput);
      if (failed(v))
        return failure();
      values[j][c] = v->first;
      present[j][c] = Value();
      if (masked) {
        SmallVector<Value> dims = dimsOf(fa.refOp);
        present[j][c] = filtersAt(v->second, fa.refOp, dims);
      }
    }
  return success();
}

/// The tile's row maxima (over the quad of lanes that holds a row) into the
/// running maxima.
FusedLaunchEmitter::RowMaxima
FusedLaunchEmitter::updateRowMaxima(ArrayRef<std::array<Value, 4>> values,
                                    ArrayRef<std::array<Value, 4>> present) {
  RowMaxima r;
  Value ninf = fconst(kNegInf);
  for (int i = 0; i < 2; ++i) {
    Value m = ninf;
    for (int64_t j = 0; j < keyBlocks; ++j)
      for (int c = 2 * i; c < 2 * i + 2; ++c)
        m = nvvm::maximumNaN(b, loc, m,
                             present[j][c]
                                 ? f.select(present[j][c], values[j][c], ninf)
                                 : values[j][c]);
    m = nvvm::maximumNaN(b, loc, m, nvvm::shuffleXor(b, loc, m, 1));
    m = nvvm::maximumNaN(b, loc, m, nvvm::shuffleXor(b, loc, m, 2));
    r.seen[i] =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, m, ninf);
    r.oldMax[i] = nvvm::loadF32(b, loc, runningMax[i]);
    r.newMax[i] = nvvm::maximumNaN(b, loc, r.oldMax[i], m);
    nvvm::store(b, loc, r.newMax[i], runningMax[i]);
  }
  r.ninf = ninf;
  return r;
}

/// exp(c * (new - old)) per row, 1 while the maximum is still -inf.
std::array<Value, 2>
FusedLaunchEmitter::rescaleFactors(const FusedAttention::Part &part,
                                   const RowMaxima &maxima) {
  std::array<Value, 2> alpha;
  for (int i = 0; i < 2; ++i) {
    Value d = arith::SubFOp::create(b, loc, maxima.newMax[i], maxima.oldMax[i]);
    Value ex = math::ExpOp::create(
        b, loc, arith::MulFOp::create(b, loc, fconst(part.rescale), d));
    Value stuck = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                        maxima.newMax[i], maxima.ninf);
    alpha[i] = f.select(stuck, fconst(1), ex);
  }
  return alpha;
}

/// Part `index`: the tile's values at every element, then the running sum
/// rescaled plus the row's part, or the weighted sum's update.
LogicalResult FusedLaunchEmitter::updatePart(unsigned index,
                                             const FusedAttention::Part &part,
                                             const RowMaxima &maxima) {
  EinsumOp partOp = part.op; // Op accessors are not const
  std::array<Value, 2> alpha = rescaleFactors(part, maxima);
  SmallVector<SmallVector<Value>> probs(keyBlocks); // P (the weighted sum)
  Value rowPart[2] = {fconst(0), fconst(0)};
  for (int64_t j = 0; j < keyBlocks; ++j) {
    if (part.pv)
      probs[j].assign(4, Value());
    for (int c = 0; c < 4; ++c) {
      setElement(j, c);
      memo.clear();
      refValue = maxima.newMax[c >> 1];
      refPresent = masked ? maxima.seen[c >> 1] : Value();
      FailureOr<ValuePresence> ev = eval(partOp.getInputs()[0]);
      if (failed(ev))
        return failure();
      SmallVector<Value> dims = dimsOf(partOp);
      Value present;
      if (masked)
        present = filtersAt(ev->second, partOp, dims);
      Value val = ev->first;
      if (!part.pv) {
        FailureOr<Value> body = cloneBody(partOp, {val}, dims);
        if (failed(body))
          return failure();
        val = *body;
      }
      if (present)
        val = f.select(present, val, fconst(0));
      if (part.pv)
        probs[j][c] = val;
      else
        rowPart[c >> 1] = arith::AddFOp::create(b, loc, rowPart[c >> 1], val);
    }
  }
  if (part.pv) {
    if (wgmma)
      accumulateWeightedSumWgmma(probs, alpha);
    else
      accumulateWeightedSum(probs, alpha);
    return success();
  }
  for (int i = 0; i < 2; ++i) {
    Value l = nvvm::loadF32(b, loc, runningSums[index][i]);
    l = arith::AddFOp::create(
        b, loc, arith::MulFOp::create(b, loc, l, alpha[i]), rowPart[i]);
    nvvm::store(b, loc, l, runningSums[index][i]);
  }
  return success();
}

/// O = O * alpha + P V. P's C fragments of key blocks 2kc and 2kc + 1,
/// packed to pairs, are the A fragment of key chunk kc (NvvmOps.h); each
/// ldmatrix.x4.trans reads V rows kc*16 + ((lane / 8) % 2)*8 + lane % 8 at
/// columns np*16 + ((lane / 8) / 2)*8: matrices 0 and 1 are the B fragment
/// of output block 2np, 2 and 3 of 2np + 1.
void FusedLaunchEmitter::accumulateWeightedSum(
    ArrayRef<SmallVector<Value>> probs, const std::array<Value, 2> &alpha) {
  SmallVector<SmallVector<Value>> o(outputBlocks);
  for (int64_t n = 0; n < outputBlocks; ++n)
    for (int c = 0; c < 4; ++c)
      o[n].push_back(arith::MulFOp::create(
          b, loc, nvvm::loadF32(b, loc, outputAcc[n][c]), alpha[c >> 1]));
  auto pack = [&](Value x, Value y) {
    return nvvm::packPair(b, loc, fa.elem, x, y);
  };
  for (int64_t kc = 0; kc < tile / 16; ++kc) {
    SmallVector<Value> a = {pack(probs[2 * kc][0], probs[2 * kc][1]),
                            pack(probs[2 * kc][2], probs[2 * kc][3]),
                            pack(probs[2 * kc + 1][0], probs[2 * kc + 1][1]),
                            pack(probs[2 * kc + 1][2], probs[2 * kc + 1][3])};
    for (int64_t np = 0; np < headDim / 16; ++np) {
      Value key =
          f.add(f.cst(kc * 16),
                f.add(f.mul(remu(matrixOfLane, 2), f.cst(8)), laneInMatrix));
      Value col = f.add(f.cst(np * 16), f.mul(divu(matrixOfLane, 2), f.cst(8)));
      SmallVector<Value> r = nvvm::ldmatrixX4(
          b, loc,
          nvvm::sharedElementAt(b, loc, fa.elem, vTile,
                                f.add(f.mul(key, f.cst(smemStride)), col)),
          true);
      o[2 * np] =
          nvvm::mmaM16N8K16(b, loc, fa.elem, a, {r[0], r[1]}, o[2 * np]);
      o[2 * np + 1] =
          nvvm::mmaM16N8K16(b, loc, fa.elem, a, {r[2], r[3]}, o[2 * np + 1]);
    }
  }
  for (int64_t n = 0; n < outputBlocks; ++n)
    for (int c = 0; c < 4; ++c)
      nvvm::store(b, loc, o[n][c], outputAcc[n][c]);
}
