// One call of a CPU kernel's Halide `_argv` entry point over the caller's
// memory: every argument checked against the kernel's manifest (the checks
// of attn_run, docs/runtime.md: those every target makes through
// ArgumentChecks.h, then the CPU's strides and data), then Halide buffer
// descriptors built around the caller's pointers, without copying. Shared by
// the runtime's CPU back end (CpuLoader.cpp) and the code generator's
// in-process kernels (codegen/halide). Plain C++17.
#ifndef ATTN_RUNTIME_CPUCALL_H
#define ATTN_RUNTIME_CPUCALL_H

#include "runtime/KernelManifest.h"
#include "runtime/attn_runtime.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace attn::rt {

// Halide's buffer ABI (HalideRuntime.h, Halide 14), copied so that the
// runtime does not depend on Halide: a stable C layout.
struct HalideDimension {
  int32_t min, extent, stride;
  uint32_t flags;
};
struct HalideType {
  uint8_t code; // 0 int, 1 uint, 2 float, 3 handle, 4 bfloat
  uint8_t bits;
  uint16_t lanes;
};
struct HalideBuffer {
  uint64_t device;
  const void *device_interface;
  uint8_t *host;
  uint64_t flags;
  HalideType type;
  int32_t dimensions;
  HalideDimension *dim;
  void *padding;
};
static_assert(sizeof(HalideBuffer) == 56, "halide_buffer_t layout");

/// The arguments of one call. Not copyable: the pointers point into it.
class CpuCall {
public:
  CpuCall() = default;
  CpuCall(const CpuCall &) = delete;
  CpuCall &operator=(const CpuCall &) = delete;

  /// Checks `tensors` (tensor inputs, then outputs) and `scalars` against
  /// `m` and builds the call. ATTN_OK, or the failing check's status with
  /// `error` naming the argument.
  attn_status prepare(const KernelManifest &m, const attn_tensor *tensors,
                      size_t numTensors, const attn_scalar *scalars,
                      size_t numScalars, std::string &error);

  /// The message of a nonzero error code (after the call), naming the error
  /// of the manifest and the shape of the tensor it concerns.
  std::string errorMessage(const KernelManifest &m,
                           const attn_tensor *tensors) const;

  /// A message of Halide's (its runtime's or its JIT's) in the kernel's
  /// terms: "Input buffer K" becomes "input K", "Output buffer O_out"
  /// (the Func of output O) "output O".
  static std::string describeHalideMessage(const KernelManifest &m,
                                           std::string message);

  /// One per tensor argument (inputs, then outputs), then the 0-d int32
  /// error code (host: &errorCode).
  std::vector<HalideBuffer> buffers;
  /// The `_argv` array: per argument (inputs in order, then outputs) its
  /// buffer or a pointer to the scalar's value as declared, then the error
  /// code's buffer.
  std::vector<void *> argv;
  /// Set by the kernel: 0, or 1 + an index into the manifest's errors.
  int32_t errorCode = 0;
  /// After prepare: every output has zero elements, so the call has nothing
  /// to write and the kernel need not run (callers skip it).
  bool nothingToCompute = false;

  /// The largest extent of a dimension on the CPU target: 2^31-2^16, so
  /// that an extent rounded up to the kernel's tiles still fits 32 bits.
  static constexpr int64_t kMaxCpuExtent = 2147483647 - 65535;

private:
  std::vector<std::vector<HalideDimension>> dims;
  std::vector<std::array<uint8_t, 8>> scalarStorage;
};

} // namespace attn::rt

#endif
