// Tile classes of the fused attention launch (CudaTileClasses.h): interval
// arithmetic on the filters' affine constraints, emitted as device code.
#include "codegen/gpu/CudaTileClasses.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;
using namespace mlir::attn::cuda::emit;

namespace {

Value boolConstant(DeviceFunction &f, bool v) {
  return arith::ConstantIntOp::create(f.b, f.loc, f.b.getI1Type(), v);
}

/// The interval of an affine expression over intervals of the canonical
/// dimensions (symbols are sizes: exact); none when unknown.
std::optional<DimInterval>
intervalOf(DeviceFunction &f, AffineExpr x, ArrayRef<Value> symbols,
           ArrayRef<std::optional<DimInterval>> dims) {
  OpBuilder &b = f.b;
  Location loc = f.loc;
  switch (x.getKind()) {
  case AffineExprKind::Constant: {
    Value c = f.cst(cast<AffineConstantExpr>(x).getValue());
    return DimInterval{c, c};
  }
  case AffineExprKind::DimId:
    return dims[cast<AffineDimExpr>(x).getPosition()];
  case AffineExprKind::SymbolId: {
    Value s = symbols[cast<AffineSymbolExpr>(x).getPosition()];
    return DimInterval{s, s};
  }
  default:
    break;
  }
  auto bin = cast<AffineBinaryOpExpr>(x);
  std::optional<DimInterval> l = intervalOf(f, bin.getLHS(), symbols, dims);
  if (!l)
    return std::nullopt;
  if (x.getKind() == AffineExprKind::Add) {
    std::optional<DimInterval> r = intervalOf(f, bin.getRHS(), symbols, dims);
    if (!r)
      return std::nullopt;
    return DimInterval{f.add(l->lo, r->lo), f.add(l->hi, r->hi)};
  }
  auto k = dyn_cast<AffineConstantExpr>(bin.getRHS());
  if (x.getKind() == AffineExprKind::Mul) {
    std::optional<DimInterval> r = intervalOf(f, bin.getRHS(), symbols, dims);
    if (!r)
      return std::nullopt;
    Value ll = f.mul(l->lo, r->lo), lh = f.mul(l->lo, r->hi),
          hl = f.mul(l->hi, r->lo), hh = f.mul(l->hi, r->hi);
    auto min = [&](Value u, Value v) {
      return arith::MinSIOp::create(b, loc, u, v).getResult();
    };
    auto max = [&](Value u, Value v) {
      return arith::MaxSIOp::create(b, loc, u, v).getResult();
    };
    return DimInterval{min(min(ll, lh), min(hl, hh)),
                       max(max(ll, lh), max(hl, hh))};
  }
  if (!k || k.getValue() <= 0)
    return std::nullopt;
  Value divisor = f.cst(k.getValue());
  switch (x.getKind()) {
  case AffineExprKind::FloorDiv:
    return DimInterval{arith::FloorDivSIOp::create(b, loc, l->lo, divisor),
                       arith::FloorDivSIOp::create(b, loc, l->hi, divisor)};
  case AffineExprKind::CeilDiv:
    return DimInterval{arith::CeilDivSIOp::create(b, loc, l->lo, divisor),
                       arith::CeilDivSIOp::create(b, loc, l->hi, divisor)};
  case AffineExprKind::Mod:
    return DimInterval{f.cst(0), f.cst(k.getValue() - 1)};
  default:
    return std::nullopt;
  }
}

/// Whether the filter (a union of conjunctions over an op's dimensions
/// `dims`, canonical) holds on the whole box (`full`) and on none of it
/// (`empty`); false where it cannot tell.
TileClass classifyFilter(DeviceFunction &f, const FusedAttention &fa,
                         ArrayRef<Value> symbols,
                         std::optional<ArrayAttr> filter,
                         ArrayRef<AffineExpr> dims, ValueRange opSymbols,
                         ArrayRef<std::optional<DimInterval>> box) {
  Value falseV = boolConstant(f, false);
  if (!filter)
    return {boolConstant(f, true), falseV};
  // The op's symbols as canonical ones.
  SmallVector<AffineExpr> symExprs;
  for (Value s : opSymbols)
    for (auto [i, c] : llvm::enumerate(fa.symbols))
      if (c == s) {
        symExprs.push_back(getAffineSymbolExpr(i, f.ctx));
        break;
      }
  Value anyFull = falseV, allEmpty = boolConstant(f, true);
  for (Attribute a : *filter) {
    IntegerSet set = cast<IntegerSetAttr>(a).getValue();
    Value conjFull = boolConstant(f, true), conjEmpty = falseV;
    for (unsigned c = 0; c < set.getNumConstraints(); ++c) {
      AffineExpr x = set.getConstraint(c).replaceDimsAndSymbols(dims, symExprs);
      std::optional<DimInterval> iv = intervalOf(f, x, symbols, box);
      if (!iv) {
        conjFull = falseV;
        continue;
      }
      Value zero = f.cst(0);
      if (set.isEq(c)) {
        conjFull = f.andI(
            conjFull, f.andI(f.cmp(arith::CmpIPredicate::eq, iv->lo, zero),
                             f.cmp(arith::CmpIPredicate::eq, iv->hi, zero)));
        conjEmpty = f.orI(
            conjEmpty, f.orI(f.cmp(arith::CmpIPredicate::sgt, iv->lo, zero),
                             f.cmp(arith::CmpIPredicate::slt, iv->hi, zero)));
      } else {
        conjFull =
            f.andI(conjFull, f.cmp(arith::CmpIPredicate::sge, iv->lo, zero));
        conjEmpty =
            f.orI(conjEmpty, f.cmp(arith::CmpIPredicate::slt, iv->hi, zero));
      }
    }
    anyFull = f.orI(anyFull, conjFull);
    allEmpty = f.andI(allEmpty, conjEmpty);
  }
  return {anyFull, allEmpty};
}

} // namespace

TileClass cuda::classifyTile(DeviceFunction &f, const FusedAttention &fa,
                             ArrayRef<Value> symbols,
                             ArrayRef<std::optional<DimInterval>> box) {
  Value full = boolConstant(f, true);
  Value empty = boolConstant(f, false);
  EinsumOp refOp = fa.refOp;
  for (auto &[op, dims] : fa.dimsOf) {
    auto einsum = cast<EinsumOp>(op);
    TileClass c = classifyFilter(f, fa, symbols, einsum.getFilter(), dims,
                                 einsum.getSymbols(), box);
    full = f.andI(full, c.full);
    if (fa.xChain.contains(op) || op == refOp.getOperation())
      empty = f.orI(empty, c.empty);
  }
  OnlineOp online = fa.online;
  TileClass c = classifyFilter(f, fa, symbols, online.getFilter(),
                               fa.onlineDims(), online.getSymbols(), box);
  return {f.andI(full, c.full), f.orI(empty, c.empty)};
}
