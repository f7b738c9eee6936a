// The argument checks that every target makes, in one place (internal, not
// installed): argument counts, scalars (dtype, i32 range, packing, size
// symbols), a tensor's device, dtype, rank, shape and extents, and the
// message of an error code a kernel reports. Used by the C ABI (Loader.cpp),
// the CUDA back end (CudaLoader.cpp) and CpuCall (the CPU back end and the
// code generator's in-process HalideKernel), so all of them check with the
// same code and messages. They report through `error` and touch no global
// state (the loaders put `error` into attn_last_error). Plain C++17.
#ifndef ATTN_RUNTIME_ARGUMENTCHECKS_H
#define ATTN_RUNTIME_ARGUMENTCHECKS_H

#include "runtime/KernelManifest.h"
#include "runtime/SizeSymbols.h"
#include "runtime/attn_runtime.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace attn::rt {

std::string shapeText(const int64_t *shape, int rank);
/// "the CPU", "a CUDA device", "an unknown device".
const char *deviceName(int device);

/// What a target accepts of a tensor's extents.
struct ExtentLimits {
  int64_t maxExtent;   // per dimension
  int64_t maxElements; // per tensor
  std::string maxText; // both, as a message writes them: "2^31-1"
  std::string target;  // "the CPU target"
};

/// The numbers of tensors and scalars `m` takes, and non-NULL arrays where
/// any are taken.
attn_status checkArgumentCounts(const KernelManifest &m,
                                const attn_tensor *tensors, size_t numTensors,
                                const attn_scalar *scalars, size_t numScalars,
                                std::string &error);

/// Checks the scalar inputs (dtype, i32 range), packs each into 8 bytes of
/// `storage` (one per scalar) as the kernel takes it (f16/bf16 as an f32
/// holding a value of that type, f32, f64, i32, i64, bool one byte) and
/// binds integer scalars to the size symbol of their name.
attn_status checkScalars(const KernelManifest &m, const attn_scalar *scalars,
                         std::vector<std::array<uint8_t, 8>> &storage,
                         SizeSymbols &symbols, std::string &error);

/// A tensor must be on `device` (ATTN_DEVICE_CPU or ATTN_DEVICE_CUDA), the
/// device kernel `kernel` runs on. `what` is "argument Q" or "output O".
attn_status checkTensorDevice(const attn_tensor &x, int device,
                              const std::string &what,
                              const std::string &kernel, std::string &error);

/// Checks one tensor against its declaration: dtype, rank, shape (literal
/// dimensions, size symbols across arguments), extents and element count
/// within `limits`. `what` is "argument Q" or "output O". Sets `count`.
/// Device, strides and data are the back end's to check.
attn_status checkTensorShape(const ManifestArgument &a, const attn_tensor &x,
                             const std::string &what,
                             const ExtentLimits &limits, SizeSymbols &symbols,
                             int64_t &count, std::string &error);

/// The message for error code `code` reported by a run (1 + an index into
/// the manifest's errors), e.g. "kernel k: out-of-range read of Kc:
/// dimension 0 has extent 5 (shape [...]), by ...". `targetKernel` names
/// the kernel in the fallback message ("the CPU kernel k").
std::string runErrorMessage(const KernelManifest &m, const attn_tensor *tensors,
                            int32_t code, const std::string &targetKernel);

} // namespace attn::rt

#endif
