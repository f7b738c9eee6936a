// The runtime dtype (runtime/DType.h) of an MLIR element type, for the code
// that moves tensors between the compiler and the runtime.
#ifndef ATTN_DIALECT_RUNTIMEDTYPE_H
#define ATTN_DIALECT_RUNTIMEDTYPE_H

#include "runtime/DType.h"

#include "mlir/IR/Types.h"

#include <optional>

namespace mlir::attn {

/// f16 bf16 f32 f64 i32 i64, and i1 as bool; nullopt for any other type.
inline std::optional<::attn::rt::DType> toRuntimeDType(Type t) {
  using ::attn::rt::DType;
  if (t.isF16())
    return DType::f16;
  if (t.isBF16())
    return DType::bf16;
  if (t.isF32())
    return DType::f32;
  if (t.isF64())
    return DType::f64;
  if (t.isInteger(1))
    return DType::boolean;
  if (t.isInteger(32))
    return DType::i32;
  if (t.isInteger(64))
    return DType::i64;
  return std::nullopt;
}

} // namespace mlir::attn

#endif
