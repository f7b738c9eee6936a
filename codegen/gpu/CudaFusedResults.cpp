// The results of the fused attention launch (CudaFusedEmitter.h), after the
// key tiles: the inner online op's maxima, sums and weighted sums (with
// presence) where the lane's rows are; or, with one split worker at run
// time (the manifest's attn_single<k>), the output itself: the outer
// combine is then the identity, the epilogue's elementwise einsums run per
// output element on the registers, and the fill converts into the output.
#include "codegen/gpu/CudaFusedEmitter.h"
#include "codegen/gpu/NvvmOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;
using namespace mlir::attn::cuda::emit;

static constexpr double kNegInf = -std::numeric_limits<double>::infinity();

LogicalResult FusedLaunchEmitter::emitResults() {
  reduceRowSums();
  laneInGroupIsFirst = f.cmp(arith::CmpIPredicate::eq, laneInGroup, f.cst(0));
  if (!fa.epilogue) {
    writeInnerResults();
    return success();
  }
  Value single = f.cmp(arith::CmpIPredicate::ne,
                       f.size(SizeText::symbol(fa.epilogue->single)), f.cst(0));
  auto ifOp = scf::IfOp::create(b, loc, single, /*withElse=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
  if (failed(writeOutput()))
    return failure();
  b.setInsertionPoint(ifOp.elseBlock()->getTerminator());
  writeInnerResults();
  return success();
}

/// Each sum over the quad of lanes that holds a row's partial sums.
void FusedLaunchEmitter::reduceRowSums() {
  for (size_t p = 0; p < fa.parts.size(); ++p)
    if (!fa.parts[p].pv)
      for (int i = 0; i < 2; ++i) {
        Value l = nvvm::loadF32(b, loc, runningSums[p][i]);
        l = arith::AddFOp::create(b, loc, l, nvvm::shuffleXor(b, loc, l, 1));
        l = arith::AddFOp::create(b, loc, l, nvvm::shuffleXor(b, loc, l, 2));
        nvvm::store(b, loc, l, runningSums[p][i]);
      }
}

/// Whether the weighted sum's 8-column block n is inside F (a multiple of
/// 8): the variant's columns past it are padding, not stored.
Value FusedLaunchEmitter::columnLive(int64_t n) {
  return f.cmp(arith::CmpIPredicate::ult, f.cst(n * 8), fSize);
}

/// The column that register c of block n stores to: its own inside F; past
/// F, block 0's, whose store it repeats (the same thread and value), so
/// the stores need no branch per block (branches there cost ptxas
/// registers: spills at D = 128). Block 0 itself is stored where F > 0.
Value FusedLaunchEmitter::storedColumn(int64_t n, int c) {
  Value block = n ? f.select(columnLive(n), f.cst(n * 8), f.cst(0)) : f.cst(0);
  return f.add(f.add(block, f.cst(c & 1)), f.mul(laneInGroup, f.cst(2)));
}

/// Stores `v` (0 where absent) and its presence `has` into `result` at the
/// canonical coordinates `map` names, when `when`.
void FusedLaunchEmitter::storeResult(Value result, AffineMap map, Value v,
                                     Value has, Value when) {
  const TensorStorage &st = *plan.storageOf(result);
  SmallVector<Value> index;
  for (AffineExpr e : map.getResults())
    index.push_back(canon[cast<AffineDimExpr>(e).getPosition()]);
  SmallVector<Value> extents = f.shape(st);
  Value at = f.offset(index, extents);
  OpBuilder::InsertionGuard guard(b);
  auto ifOp = scf::IfOp::create(b, loc, when, false);
  b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
  f.store(f.valuesOf(st), st.elementType, at, f.select(has, v, fconst(0)));
  f.store(f.presenceOf(st), b.getI1Type(), at, has);
}

/// The maximum and sums (by the first lane of the row's quad) and the
/// weighted sum (each lane its C registers' columns 2q, 2q + 1).
void FusedLaunchEmitter::writeInnerResults() {
  OnlineOp online = fa.online;
  for (int i = 0; i < 2; ++i) {
    setRow(i);
    Value m = nvvm::loadF32(b, loc, runningMax[i]);
    Value has = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, m,
                                      fconst(kNegInf));
    Value lead = f.andI(rowValid[i], laneInGroupIsFirst);
    storeResult(online.getMax(), online.getMaxMap(), m, has, lead);
    for (auto [p, part] : llvm::enumerate(fa.parts)) {
      Value result = online.getSums()[p];
      AffineMap map = online.getSumMap(p);
      if (!part.pv) {
        storeResult(result, map, nvvm::loadF32(b, loc, runningSums[p][i]), has,
                    lead);
        continue;
      }
      for (int64_t n = 0; n < outputBlocks; ++n)
        for (int c = 2 * i; c < 2 * i + 2; ++c) {
          canon[fa.fDim] = storedColumn(n, c);
          Value v = nvvm::loadF32(b, loc, outputAcc[n][c]);
          if (n)
            v = f.select(columnLive(n), v,
                         nvvm::loadF32(b, loc, outputAcc[0][c]));
          storeResult(result, map, v, has, f.andI(rowValid[i], columnLive(0)));
        }
    }
  }
}

/// The output at each of the lane's weighted-sum elements.
LogicalResult FusedLaunchEmitter::writeOutput() {
  FusedAttention::Epilogue &ep = *fa.epilogue;
  const TensorStorage &outS = plan.output(0);
  double fillValue = ep.fill ? ep.fill.getValue().convertToDouble() : 0.0;
  SmallVector<Value> outExtents = f.shape(outS);
  for (int i = 0; i < 2; ++i) {
    setRow(i);
    Value m = nvvm::loadF32(b, loc, runningMax[i]);
    Value has = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, m,
                                      fconst(kNegInf));
    std::array<Value, 2> firstBlock; // block 0's values, per register
    for (int64_t n = 0; n < outputBlocks; ++n)
      for (int c = 2 * i; c < 2 * i + 2; ++c) {
        canon[fa.fDim] =
            f.add(f.cst(n * 8 + (c & 1)), f.mul(laneInGroup, f.cst(2)));
        DenseMap<Operation *, ValuePresence> epilogueMemo;
        FailureOr<ValuePresence> r =
            evalEpilogue(ep.value, i, n, c, m, has, epilogueMemo);
        if (failed(r))
          return failure();
        Value v = r->first;
        if (r->second)
          v = f.select(r->second, v,
                       constantOf(b, loc, v.getType(), fillValue));
        v = convert(b, loc, v, outS.elementType);
        if (n)
          v = f.select(columnLive(n), v, firstBlock[c & 1]);
        else
          firstBlock[c & 1] = v;
        canon[fa.fDim] = storedColumn(n, c);
        SmallVector<Value> index;
        for (AffineExpr e : ep.outCoords)
          index.push_back(canon[cast<AffineDimExpr>(e).getPosition()]);
        Value at = f.offset(index, outExtents);
        OpBuilder::InsertionGuard guard(b);
        auto ifOp = scf::IfOp::create(
            b, loc, f.andI(rowValid[i], columnLive(0)), false);
        b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
        f.store(f.valuesOf(outS), outS.elementType, at, v);
      }
  }
  return success();
}

/// The value and presence of `v` (the outer combine's results or an
/// epilogue einsum) at the weighted-sum element (row i, block n, register
/// c) whose row maximum is `max` (present: `has`).
FailureOr<ValuePresence> FusedLaunchEmitter::evalEpilogue(
    Value v, int i, int64_t n, int c, Value max, Value has,
    DenseMap<Operation *, ValuePresence> &epilogueMemo) {
  FusedAttention::Epilogue &ep = *fa.epilogue;
  OnlineOp outer = ep.outer;
  if (v == outer.getMax())
    return std::make_pair(max, has);
  for (auto [p, part] : llvm::enumerate(fa.parts))
    if (v == outer.getSums()[p])
      return std::make_pair(
          nvvm::loadF32(b, loc, part.pv ? outputAcc[n][c] : runningSums[p][i]),
          has);
  auto op = v.getDefiningOp<EinsumOp>();
  if (auto it = epilogueMemo.find(op); it != epilogueMemo.end())
    return it->second;
  SmallVector<Value> dims, opSyms = symsOf(op);
  for (AffineExpr d : ep.dimsOf[op])
    dims.push_back(emitAffine(f, d, canon, syms));
  Value present = emitFilter(f, op.getFilter(), dims, opSyms);
  SmallVector<Value> inputs;
  for (unsigned k = 0; k < op.getInputs().size(); ++k) {
    Value in = op.getInputs()[k];
    if (isKernelArgument(in, plan.kernel)) {
      Value live = inDomain(op, dims);
      if (present)
        live = f.andI(live, present);
      FailureOr<Value> lv = loadInput(op, k, dims, opSyms, live);
      if (failed(lv))
        return failure();
      inputs.push_back(*lv);
      continue;
    }
    FailureOr<ValuePresence> iv =
        evalEpilogue(in, i, n, c, max, has, epilogueMemo);
    if (failed(iv))
      return failure();
    inputs.push_back(iv->first);
    if (iv->second)
      present = f.andI(present, iv->second);
  }
  FailureOr<Value> body = cloneBody(op, inputs, dims);
  if (failed(body))
    return failure();
  epilogueMemo[op] = {*body, present};
  return epilogueMemo[op];
}
