// arith and math ops as Halide expressions (see HalideScalarOps.h).
#include "codegen/halide/HalideScalarOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;
namespace H = Halide;
namespace HI = Halide::Internal;

std::optional<H::Type> mlir::attn::halideValueType(Type type,
                                                   H::Type indexType) {
  if (type.isIndex())
    return indexType;
  if (type.isF16())
    return H::Float(16);
  if (type.isBF16())
    return H::BFloat(16);
  if (type.isF32())
    return H::Float(32);
  if (type.isF64())
    return H::Float(64);
  if (type.isInteger(1))
    return H::Bool();
  if (auto i = dyn_cast<IntegerType>(type)) {
    unsigned w = i.getWidth();
    if (w == 8 || w == 16 || w == 32 || w == 64)
      return H::Int(w);
  }
  return std::nullopt;
}

namespace {

bool isPositiveConstant(const H::Expr &e) {
  const int64_t *c = HI::as_const_int(e);
  return c && *c > 0;
}

H::Expr truncDiv(const H::Expr &a, const H::Expr &b) {
  H::Expr q = halideFloorDiv(a, b);
  H::Expr r = a - q * b;
  // Floor and truncation differ when the quotient is negative and inexact.
  return H::select(r != 0 && ((a < 0) != (b < 0)), q + 1, q);
}

H::Expr unsignedOf(const H::Expr &e) {
  return H::reinterpret(e.type().with_code(H::Type::UInt), e);
}

} // namespace

H::Expr mlir::attn::halideFloorDiv(const H::Expr &a, const H::Expr &b) {
  if (isPositiveConstant(b))
    return a / b;
  H::Expr q = a / b, r = a % b;
  return H::select(b < 0 && r != 0, q - 1, q);
}
H::Expr mlir::attn::halideFloorMod(const H::Expr &a, const H::Expr &b) {
  if (isPositiveConstant(b))
    return a % b;
  return a - halideFloorDiv(a, b) * b;
}

H::Expr mlir::attn::halideConvert(const H::Expr &e, H::Type to) {
  H::Type from = e.type();
  if (from == to)
    return e;
  if (to.is_bool())
    return from.is_bool() ? e : e != HI::make_zero(from);
  if (from.is_bool())
    return H::select(e, HI::make_one(to), HI::make_zero(to));
  if (to.is_float())
    return H::cast(to, e);
  if (from.is_float())
    return H::select(H::is_nan(e), HI::make_zero(to),
                     H::saturating_cast(to, e));
  return H::saturating_cast(to, e);
}

namespace {

/// Float arithmetic, comparisons and select. The expression of `op` (undefined:
/// unsupported), or nothing where `op` is not one of these.
std::optional<H::Expr> floatOp(Operation *op, ArrayRef<H::Expr> in, H::Type t) {
  // Float arithmetic.
  if (isa<arith::AddFOp>(op))
    return in[0] + in[1];
  if (isa<arith::SubFOp>(op))
    return in[0] - in[1];
  if (isa<arith::MulFOp>(op))
    return in[0] * in[1];
  if (isa<arith::DivFOp>(op))
    return in[0] / in[1];
  if (isa<arith::RemFOp>(op))
    return in[0] - in[1] * H::trunc(in[0] / in[1]);
  if (isa<arith::NegFOp>(op))
    return -in[0];
  if (isa<arith::MaximumFOp, arith::MinimumFOp>(op)) {
    // NaN-propagating.
    H::Expr m = isa<arith::MaximumFOp>(op) ? H::max(in[0], in[1])
                                           : H::min(in[0], in[1]);
    return H::select(H::is_nan(in[0]) || H::is_nan(in[1]), in[0] + in[1], m);
  }
  if (isa<arith::MaxNumFOp, arith::MinNumFOp>(op)) {
    H::Expr m =
        isa<arith::MaxNumFOp>(op) ? H::max(in[0], in[1]) : H::min(in[0], in[1]);
    return H::select(H::is_nan(in[0]), in[1],
                     H::select(H::is_nan(in[1]), in[0], m));
  }
  if (auto cmp = dyn_cast<arith::CmpFOp>(op)) {
    H::Expr a = in[0], b = in[1];
    H::Expr unordered = H::is_nan(a) || H::is_nan(b);
    using P = arith::CmpFPredicate;
    switch (cmp.getPredicate()) {
    case P::AlwaysFalse:
      return HI::const_false();
    case P::AlwaysTrue:
      return HI::const_true();
    case P::OEQ:
      return !unordered && a == b;
    case P::OGT:
      return !unordered && a > b;
    case P::OGE:
      return !unordered && a >= b;
    case P::OLT:
      return !unordered && a < b;
    case P::OLE:
      return !unordered && a <= b;
    case P::ONE:
      return !unordered && a != b;
    case P::ORD:
      return !unordered;
    case P::UEQ:
      return unordered || a == b;
    case P::UGT:
      return unordered || a > b;
    case P::UGE:
      return unordered || a >= b;
    case P::ULT:
      return unordered || a < b;
    case P::ULE:
      return unordered || a <= b;
    case P::UNE:
      return unordered || a != b;
    case P::UNO:
      return unordered;
    }
    return H::Expr();
  }
  if (isa<arith::SelectOp>(op))
    return H::select(in[0], in[1], in[2]);

  return std::nullopt;
}

/// Conversions between float, integer and index types. The expression of `op`
/// (undefined: unsupported), or nothing where `op` is not one of these.
std::optional<H::Expr> conversionOp(Operation *op, ArrayRef<H::Expr> in,
                                    H::Type t) {
  // Conversions.
  if (isa<arith::ExtFOp, arith::TruncFOp>(op))
    return H::cast(t, in[0]);
  if (isa<arith::SIToFPOp>(op)) {
    if (in[0].type().is_bool())
      return H::select(in[0], HI::make_const(t, -1.0), HI::make_zero(t));
    return H::cast(t, in[0]);
  }
  if (isa<arith::UIToFPOp>(op)) {
    if (in[0].type().is_bool())
      return H::select(in[0], HI::make_one(t), HI::make_zero(t));
    return H::cast(t, unsignedOf(in[0]));
  }
  if (isa<arith::FPToSIOp, arith::FPToUIOp>(op)) {
    if (t.is_bool())
      return in[0] != HI::make_zero(in[0].type());
    H::Type target = isa<arith::FPToUIOp>(op) ? t.with_code(H::Type::UInt) : t;
    H::Expr v = H::select(H::is_nan(in[0]), HI::make_zero(target),
                          H::saturating_cast(target, in[0]));
    return target == t ? v : H::reinterpret(t, v);
  }
  if (isa<arith::IndexCastOp, arith::ExtSIOp, arith::TruncIOp>(op)) {
    H::Expr v = in[0];
    if (v.type().is_bool())
      return H::select(v, HI::make_const(t, -1), HI::make_zero(t));
    if (t.is_bool())
      return (v & HI::make_one(v.type())) != 0;
    return H::cast(t, v);
  }
  if (isa<arith::IndexCastUIOp, arith::ExtUIOp>(op)) {
    H::Expr v = in[0];
    if (v.type().is_bool())
      return H::select(v, HI::make_one(t), HI::make_zero(t));
    if (t.is_bool())
      return (v & HI::make_one(v.type())) != 0;
    if (t.bits() > v.type().bits())
      return H::cast(t, unsignedOf(v));
    return H::cast(t, v);
  }

  return std::nullopt;
}

/// Integer arithmetic (signless: two's complement) and comparisons. The
/// expression of `op` (undefined: unsupported), or nothing where `op` is not
/// one of these.
std::optional<H::Expr> integerOp(Operation *op, ArrayRef<H::Expr> in,
                                 H::Type t) {
  // Integer arithmetic (signless: two's complement).
  auto boolAsInt = [&](H::Expr e) {
    return e.type().is_bool()
               ? H::select(e, H::Expr(int8_t(-1)), H::Expr(int8_t(0)))
               : e;
  };
  if (isa<arith::AndIOp>(op))
    return t.is_bool() ? (in[0] && in[1]) : (in[0] & in[1]);
  if (isa<arith::OrIOp>(op))
    return t.is_bool() ? (in[0] || in[1]) : (in[0] | in[1]);
  if (isa<arith::XOrIOp>(op))
    return t.is_bool() ? (in[0] != in[1]) : (in[0] ^ in[1]);
  if (t.is_bool() && !isa<arith::CmpIOp>(op))
    return H::Expr();
  if (isa<arith::AddIOp>(op))
    return in[0] + in[1];
  if (isa<arith::SubIOp>(op))
    return in[0] - in[1];
  if (isa<arith::MulIOp>(op))
    return in[0] * in[1];
  if (isa<arith::FloorDivSIOp>(op))
    return halideFloorDiv(in[0], in[1]);
  if (isa<arith::CeilDivSIOp>(op))
    return -halideFloorDiv(-in[0], in[1]);
  if (isa<arith::DivSIOp>(op))
    return truncDiv(in[0], in[1]);
  if (isa<arith::RemSIOp>(op))
    return in[0] - truncDiv(in[0], in[1]) * in[1];
  if (isa<arith::DivUIOp>(op))
    return H::reinterpret(t, unsignedOf(in[0]) / unsignedOf(in[1]));
  if (isa<arith::RemUIOp>(op))
    return H::reinterpret(t, unsignedOf(in[0]) % unsignedOf(in[1]));
  if (isa<arith::MaxSIOp>(op))
    return H::max(in[0], in[1]);
  if (isa<arith::MinSIOp>(op))
    return H::min(in[0], in[1]);
  if (isa<arith::MaxUIOp>(op))
    return H::reinterpret(t, H::max(unsignedOf(in[0]), unsignedOf(in[1])));
  if (isa<arith::MinUIOp>(op))
    return H::reinterpret(t, H::min(unsignedOf(in[0]), unsignedOf(in[1])));
  if (isa<arith::ShLIOp>(op))
    return in[0] << in[1];
  if (isa<arith::ShRSIOp>(op))
    return in[0] >> in[1];
  if (isa<arith::ShRUIOp>(op))
    return H::reinterpret(t, unsignedOf(in[0]) >> unsignedOf(in[1]));
  if (auto cmp = dyn_cast<arith::CmpIOp>(op)) {
    H::Expr a = boolAsInt(in[0]), b = boolAsInt(in[1]);
    using P = arith::CmpIPredicate;
    switch (cmp.getPredicate()) {
    case P::eq:
      return a == b;
    case P::ne:
      return a != b;
    case P::slt:
      return a < b;
    case P::sle:
      return a <= b;
    case P::sgt:
      return a > b;
    case P::sge:
      return a >= b;
    case P::ult:
      return unsignedOf(a) < unsignedOf(b);
    case P::ule:
      return unsignedOf(a) <= unsignedOf(b);
    case P::ugt:
      return unsignedOf(a) > unsignedOf(b);
    case P::uge:
      return unsignedOf(a) >= unsignedOf(b);
    }
    return H::Expr();
  }

  return std::nullopt;
}

/// The math dialect. The expression of `op` (undefined: unsupported), or
/// nothing where `op` is not one of these.
std::optional<H::Expr> mathOp(Operation *op, ArrayRef<H::Expr> in, H::Type t) {
  // Math.
  if (!t.is_float() && isa<math::AbsIOp>(op))
    return H::select(in[0] < 0, -in[0], in[0]);
  if (!t.is_float())
    return H::Expr();
  H::Expr x = in.empty() ? H::Expr() : in[0];
  H::Expr one = HI::make_one(t);
  if (isa<math::ExpOp>(op))
    return H::exp(x);
  if (isa<math::LogOp>(op))
    return H::log(x);
  if (isa<math::TanhOp>(op))
    return H::tanh(x);
  if (isa<math::SqrtOp>(op))
    return H::sqrt(x);
  if (isa<math::RsqrtOp>(op))
    return one / H::sqrt(x);
  if (isa<math::AbsFOp>(op))
    return H::abs(x);
  if (isa<math::PowFOp>(op))
    return H::pow(x, in[1]);
  if (isa<math::Log1pOp>(op)) {
    // log(1 + x) * x / ((1 + x) - 1): exact where 1 + x rounds (Goldberg).
    H::Expr u = one + x;
    return H::strict_float(H::select(
        u == one, x, H::select(H::is_inf(u), u, H::log(u) * x / (u - one))));
  }
  if (isa<math::ExpM1Op>(op)) {
    H::Expr u = H::exp(x);
    return H::strict_float(H::select(
        u == one, x,
        H::select(u - one == -one, -one,
                  H::select(H::is_inf(u), u, (u - one) * x / H::log(u)))));
  }
  if (isa<math::Exp2Op>(op))
    return H::pow(HI::make_const(t, 2.0), x);
  if (isa<math::Log2Op>(op))
    return H::log(x) / HI::make_const(t, std::log(2.0));
  if (isa<math::Log10Op>(op))
    return H::log(x) / HI::make_const(t, std::log(10.0));
  if (isa<math::SinOp>(op))
    return H::sin(x);
  if (isa<math::CosOp>(op))
    return H::cos(x);
  if (isa<math::TanOp>(op))
    return H::tan(x);
  if (isa<math::AtanOp>(op))
    return H::atan(x);
  if (isa<math::Atan2Op>(op))
    return H::atan2(x, in[1]);
  if (isa<math::SinhOp>(op))
    return H::sinh(x);
  if (isa<math::CoshOp>(op))
    return H::cosh(x);
  if (isa<math::FloorOp>(op))
    return H::floor(x);
  if (isa<math::CeilOp>(op))
    return H::ceil(x);
  if (isa<math::TruncOp>(op))
    return H::trunc(x);
  if (isa<math::RoundEvenOp>(op))
    return H::round(x);
  if (isa<math::RoundOp>(op)) {
    // Half away from zero.
    H::Expr tr = H::trunc(x);
    return H::select(H::abs(x - tr) >= HI::make_const(t, 0.5),
                     tr + H::select(x < 0, -one, one), tr);
  }
  if (isa<math::FmaOp>(op))
    return x * in[1] + in[2];
  if (isa<math::ErfOp>(op) && t == H::Float(32))
    return H::erf(x);
  return std::nullopt;
}

} // namespace

FailureOr<H::Expr>
mlir::attn::translateScalarOp(Operation *op,
                              llvm::function_ref<H::Expr(Value)> lookup,
                              H::Type indexType) {
  auto unsupported = [&]() -> FailureOr<H::Expr> {
    op->emitOpError("is not supported by the Halide code generator");
    return failure();
  };
  if (op->getNumResults() != 1)
    return unsupported();
  Type resultType = op->getResult(0).getType();
  std::optional<H::Type> rt = halideValueType(resultType, indexType);
  if (!rt)
    return unsupported();
  SmallVector<H::Expr> in;
  for (Value v : op->getOperands()) {
    H::Expr e = lookup(v);
    if (!e.defined()) {
      op->emitOpError("uses a value the Halide code generator cannot "
                      "see here");
      return failure();
    }
    // Index values computed at function level are Int(32); inside a region
    // index arithmetic is Int(64).
    if (v.getType().isIndex() && e.type() != indexType)
      e = H::cast(indexType, e);
    in.push_back(e);
  }
  H::Type t = *rt;

  if (auto c = dyn_cast<arith::ConstantOp>(op)) {
    if (auto f = dyn_cast<FloatAttr>(c.getValue()))
      return HI::make_const(t, f.getValueAsDouble());
    if (auto i = dyn_cast<IntegerAttr>(c.getValue())) {
      if (t.is_bool())
        return i.getValue().isZero() ? HI::const_false() : HI::const_true();
      return HI::make_const(t, i.getValue().getSExtValue());
    }
    return unsupported();
  }

  for (auto group : {floatOp, conversionOp, integerOp, mathOp})
    if (std::optional<H::Expr> e = group(op, in, t))
      return e->defined() ? FailureOr<H::Expr>(*e) : unsupported();
  return unsupported();
}
