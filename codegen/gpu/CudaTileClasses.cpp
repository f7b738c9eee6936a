// Tile classes of the fused attention launch (CudaTileClasses.h): the shared
// tile-interval analysis over the filters, emitted as device arithmetic.
#include "codegen/gpu/CudaTileClasses.h"
#include "passes/ArithIntervalDomain.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;
using namespace mlir::attn::cuda::emit;

namespace {

Value boolConstant(DeviceFunction &f, bool v) {
  return arith::ConstantIntOp::create(f.b, f.loc, f.b.getI1Type(), v);
}

/// Whether the filter (a union of conjunctions over an op's dimensions
/// `dims`, canonical) holds on the whole box (`full`) and on none of it
/// (`empty`); false where it cannot tell.
TileClass classifyOpFilter(DeviceFunction &f, const FusedAttention &fa,
                         ArrayRef<Value> symbols,
                         std::optional<ArrayAttr> filter,
                         ArrayRef<AffineExpr> dims, ValueRange opSymbols,
                         ArrayRef<std::optional<DimInterval>> box) {
  if (!filter)
    return {boolConstant(f, true), boolConstant(f, false)};
  // The op's symbols as canonical ones.
  SmallVector<AffineExpr> symExprs;
  for (Value s : opSymbols)
    for (auto [i, c] : llvm::enumerate(fa.symbols))
      if (c == s) {
        symExprs.push_back(getAffineSymbolExpr(i, f.ctx));
        break;
      }
  ArithIntervalDomain domain(f.b, f.loc);
  FilterClass<Value> c =
      mlir::attn::classifyFilter(filter, dims, symExprs, box, symbols, domain);
  return {c.full, c.empty};
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
    TileClass c = classifyOpFilter(f, fa, symbols, einsum.getFilter(), dims,
                                 einsum.getSymbols(), box);
    full = f.andI(full, c.full);
    if (fa.xChain.contains(op) || op == refOp.getOperation())
      empty = f.orI(empty, c.empty);
  }
  OnlineOp online = fa.online;
  TileClass c = classifyOpFilter(f, fa, symbols, online.getFilter(),
                               fa.onlineDims(), online.getSymbols(), box);
  return {f.andI(full, c.full), f.orI(empty, c.empty)};
}
