// NumPy .npy files: reading and writing C-order arrays of the attn dtypes.
// Plain C++17 (no LLVM), so that the runtime can carry it alone.
#ifndef ATTN_RUNTIME_NPY_H
#define ATTN_RUNTIME_NPY_H

#include "runtime/DType.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace attn::rt {

/// One array: its element type, its shape, and its elements as raw bytes in
/// C (row-major) order, in the layout of `dtype` (`dtypeSize(dtype)` bytes
/// each, little-endian; bf16 and f16 as their 16-bit patterns, bool as one
/// byte 0 or 1), readable with loadElement/storeElement.
struct NpyArray {
  DType dtype = DType::f32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
  /// On read: the dtype as the file spells it ('<f4', '|u1', ...).
  std::string fileDescr;

  /// The product of the shape (1 for a 0-d array).
  size_t numElements() const;
};

/// Reads the .npy file at `path` (format versions 1.0, 2.0 and 3.0).
///
/// Supported dtypes: '<f2' (f16), '<f4' (f32), '<f8' (f64), '<i4' (i32),
/// '<i8' (i64), '|b1' (bool), and '|u1' / '|i1', which are widened exactly to
/// i32 (the attn language has no 8-bit integers; `fileDescr` keeps the
/// original). NumPy has no bfloat16: bf16 data comes only from f32 or f64
/// files, converted by the caller (roundToDType / storeElement).
///
/// Returns false with `error` naming the file and the problem for anything
/// else: an unreadable file, a bad magic string or version, a truncated or
/// malformed header, a big-endian or unsupported dtype ('>f4', '<c8', ...),
/// Fortran order (only C order is supported), or data that does not match
/// the shape. Never crashes on a malformed file.
bool readNpy(const std::string &path, NpyArray &out, std::string &error);

/// Like readNpy, from the bytes of a file held in memory; `name` is used in
/// error messages in place of the file name.
bool parseNpy(const uint8_t *bytes, size_t size, const std::string &name,
              NpyArray &out, std::string &error);

/// Writes `array` to `path` as a version 1.0 file (2.0 when the header does
/// not fit 1.0), C order. bf16 arrays are written as '<f4' (exactly: every
/// bf16 value is an f32 value), since NumPy has no bfloat16. Returns false
/// with `error` naming the file when it cannot be written or when the data
/// size does not match the shape.
bool writeNpy(const std::string &path, const NpyArray &array,
              std::string &error);

/// The bytes writeNpy would write (same rules); false with `error` when the
/// data size does not match the shape.
bool serializeNpy(const NpyArray &array, std::vector<uint8_t> &bytes,
                  std::string &error);

} // namespace attn::rt

#endif
