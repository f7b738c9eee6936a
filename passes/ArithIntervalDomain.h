// The tile-interval analysis (TileIntervals.h) in index-typed arith ops
// built at the builder's insertion point: for code generators that classify
// tiles at run time from values known only then (the CUDA fused launch).
#ifndef ATTN_PASSES_ARITHINTERVALDOMAIN_H
#define ATTN_PASSES_ARITHINTERVALDOMAIN_H

#include "passes/TileIntervals.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

namespace mlir::attn {

/// Interval ends are `index` values, conditions `i1` values. Divides only by
/// a positive constant (arith's floordivsi/ceildivsi; a symbol's sign is not
/// known when the ops are built).
struct ArithIntervalDomain {
  using Value = mlir::Value;
  using Bool = mlir::Value;
  static constexpr bool dividesBySymbol = false;

  ArithIntervalDomain(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  Value constant(int64_t v) {
    return arith::ConstantIndexOp::create(b, loc, v);
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value min(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }
  Value max(Value x, Value y) { return arith::MaxSIOp::create(b, loc, x, y); }
  bool dividesBy(int64_t k) { return k > 0; }
  std::optional<int64_t> constantValue(Value) { return std::nullopt; }
  Value floorDiv(Value x, Value k) {
    return arith::FloorDivSIOp::create(b, loc, x, k);
  }
  Value ceilDiv(Value x, Value k) {
    return arith::CeilDivSIOp::create(b, loc, x, k);
  }
  Bool boolean(bool v) {
    return arith::ConstantIntOp::create(b, loc, b.getI1Type(), v);
  }
  Bool andB(Bool x, Bool y) { return arith::AndIOp::create(b, loc, x, y); }
  Bool orB(Bool x, Bool y) { return arith::OrIOp::create(b, loc, x, y); }
  Bool isZero(Value x) { return compare(arith::CmpIPredicate::eq, x); }
  Bool isPositive(Value x) { return compare(arith::CmpIPredicate::sgt, x); }
  Bool isNegative(Value x) { return compare(arith::CmpIPredicate::slt, x); }
  Bool isNonNegative(Value x) { return compare(arith::CmpIPredicate::sge, x); }
  Value select(Bool c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }

private:
  Bool compare(arith::CmpIPredicate p, Value x) {
    return arith::CmpIOp::create(b, loc, p, x, constant(0));
  }

  OpBuilder &b;
  Location loc;
};

} // namespace mlir::attn

#endif
