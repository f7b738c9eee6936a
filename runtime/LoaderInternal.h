// What the runtime's loaders share (internal, not installed): the kernel
// handle behind the C ABI, the thread's last error, the argument checks that
// every target makes, and the entry points of the two back ends (CPU:
// CpuLoader.cpp, CUDA: CudaLoader.cpp). The C ABI itself is Loader.cpp.
#ifndef ATTN_RUNTIME_LOADERINTERNAL_H
#define ATTN_RUNTIME_LOADERINTERNAL_H

#include "runtime/KernelManifest.h"
#include "runtime/SizeSymbols.h"
#include "runtime/attn_runtime.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace attn::rt {
struct CpuKernel;
struct CudaKernel;
} // namespace attn::rt

struct attn_kernel {
  attn::rt::KernelManifest manifest;
  std::string manifestPath;
  // C views of the manifest for attn_kernel_arg_info.
  std::vector<std::vector<const char *>> dimNames;
  size_t numTensors = 0, numScalars = 0;
  // Exactly one back end is set.
  attn::rt::CpuKernel *cpu = nullptr;
  attn::rt::CudaKernel *cuda = nullptr;
};

namespace attn::rt {

/// Sets the thread's last error (attn_last_error) and returns `status`.
attn_status fail(attn_status status, std::string message);

std::string shapeText(const int64_t *shape, int rank);
bool endsWith(const std::string &s, const std::string &suffix);
/// "dir/x.so" -> "dir/" ("" without a slash).
std::string directoryOf(const std::string &path);
/// "the CPU", "a CUDA device", "an unknown device".
const char *deviceName(int device);
/// A file of the artefact named by the manifest, relative to it; a caller
/// that gave the binary's path (not the manifest's) must have given that
/// file. ATTN_ERROR_MANIFEST otherwise.
attn_status artefactPath(const attn_kernel &k, const std::string &given,
                         const std::string &file, std::string &path);

/// What a target accepts of a tensor's extents.
struct ExtentLimits {
  int64_t maxExtent;   // per dimension
  int64_t maxElements; // per tensor
  std::string maxText; // both, as a message writes them: "2^31-1"
  std::string target;  // "the CPU target"
};

/// Checks the scalar inputs (dtype, i32 range), packs each into 8 bytes of
/// `storage` as the kernel takes it (f16/bf16 as an f32 holding a value of
/// that type, f32, f64, i32, i64, bool one byte) and binds integer scalars
/// to the size symbol of their name.
attn_status checkScalars(const KernelManifest &m, const attn_scalar *scalars,
                         std::vector<std::array<uint8_t, 8>> &storage,
                         SizeSymbols &symbols);

/// Checks one tensor against its declaration: dtype, rank, shape (literal
/// dimensions, size symbols across arguments), extents and element count
/// within `limits`. `what` is "argument Q" or "output O". Sets `count`.
/// Device, strides and data are the back end's to check.
attn_status checkTensorShape(const ManifestArgument &a, const attn_tensor &x,
                             const std::string &what,
                             const ExtentLimits &limits, SizeSymbols &symbols,
                             int64_t &count);

/// The message for error code `code` reported by a run (1 + an index into
/// the manifest's errors), e.g. "kernel k: out-of-range read of Kc:
/// dimension 0 has extent 5 (shape [...]), by ...". `targetKernel` names
/// the kernel in the fallback message ("the CPU kernel k").
std::string runErrorMessage(const KernelManifest &m, const attn_tensor *tensors,
                            int32_t code, const std::string &targetKernel);

// The back ends. load*: the manifest is parsed and the counts set; fill in
// the back end or fail (the caller frees the kernel).
attn_status loadCpu(attn_kernel &k, const std::string &given);
void unloadCpu(CpuKernel *cpu);
attn_status runCpu(attn_kernel &k, const attn_tensor *tensors,
                   const attn_scalar *scalars);
attn_status loadCuda(attn_kernel &k, const std::string &given);
void unloadCuda(CudaKernel *cuda);
attn_status runCuda(attn_kernel &k, const attn_tensor *tensors,
                    const attn_scalar *scalars, void *stream);

} // namespace attn::rt

#endif
