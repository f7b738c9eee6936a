// The scalar ops of attn regions and kernel bodies (arith and math, as the
// frontend emits them) as Halide expressions, with MLIR's semantics: floor
// and truncating division for any sign, NaN-propagating minimum/maximum,
// saturating float-to-integer conversion. Internal to codegen/halide.
#ifndef ATTN_CODEGEN_HALIDE_HALIDESCALAROPS_H
#define ATTN_CODEGEN_HALIDE_HALIDESCALAROPS_H

#include "mlir/IR/Operation.h"
#include "mlir/Support/LLVM.h"

#include "Halide.h"

#include <optional>

namespace mlir::attn {

/// The Halide type of a value of MLIR type `type`: i1 is Bool, `index` is
/// `indexType` (Int(32) for sizes and coordinates, Int(64) inside regions).
std::optional<Halide::Type> halideValueType(Type type, Halide::Type indexType);

/// Floor division and modulo (MLIR's floordivsi, affine floordiv and mod)
/// for any sign of the divisor; Halide's own `/` and `%` are Euclidean, the
/// same for positive divisors. Division by zero gives 0 (Halide's
/// definition), never undefined behaviour.
Halide::Expr halideFloorDiv(const Halide::Expr &a, const Halide::Expr &b);
Halide::Expr halideFloorMod(const Halide::Expr &a, const Halide::Expr &b);

/// Converts `e` to `to` as attn.fill and the runtime round: to nearest even
/// for floats; integers truncate toward zero and saturate (NaN gives 0); bool
/// is != 0.
Halide::Expr halideConvert(const Halide::Expr &e, Halide::Type to);

/// The value of `op` (one result) given its operands' values from `lookup`;
/// index values are `indexType`. Reports an unsupported op as a diagnostic
/// at the op.
FailureOr<Halide::Expr>
translateScalarOp(Operation *op, llvm::function_ref<Halide::Expr(Value)> lookup,
                  Halide::Type indexType);

} // namespace mlir::attn

#endif
