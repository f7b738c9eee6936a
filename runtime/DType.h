// Element types of attn tensors as the runtime sees them (no LLVM, no MLIR),
// and rounding of float64 values to each of them.
#ifndef ATTN_RUNTIME_DTYPE_H
#define ATTN_RUNTIME_DTYPE_H

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace attn::rt {

enum class DType { f16, bf16, f32, f64, i32, i64, boolean };

/// The language's spelling: "f16", "bf16", "f32", "f64", "i32", "i64", "bool".
const char *dtypeName(DType t);
/// Parses the language's spelling; nullopt for anything else.
std::optional<DType> parseDType(const std::string &name);
/// Bytes per element in memory (bf16 and f16: 2, bool: 1).
size_t dtypeSize(DType t);
bool isFloat(DType t);

/// Rounds `v` to the nearest value of `t` (round to nearest even for floats,
/// saturating to infinity; integers truncate toward zero and saturate; bool
/// is v != 0). NaN stays NaN for floats.
double roundToDType(double v, DType t);

/// Rounds a double straight to the nearest half (f16) or bfloat16 value, as a
/// double (one rounding, ties to even; subnormals kept; overflow to infinity).
double roundToHalf(double v);
double roundToBF16(double v);

/// IEEE half and bfloat16 bit patterns (round to nearest even). The double
/// versions round once, straight from the double.
uint16_t doubleToHalfBits(double v);
uint16_t doubleToBF16Bits(double v);
uint16_t floatToHalfBits(float f);
float halfBitsToFloat(uint16_t h);
uint16_t floatToBF16Bits(float f);
float bf16BitsToFloat(uint16_t b);

/// Reads element `i` of a buffer of type `t` as a double; writes likewise
/// (rounding to `t`).
double loadElement(const void *data, DType t, size_t i);
void storeElement(void *data, DType t, size_t i, double v);

} // namespace attn::rt

#endif
