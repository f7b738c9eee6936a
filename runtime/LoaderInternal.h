// What the runtime's loaders share (internal, not installed): the kernel
// handle behind the C ABI, the thread's last error, and the entry points of
// the two back ends (CPU: CpuLoader.cpp, CUDA: CudaLoader.cpp). The C ABI
// itself is Loader.cpp; the argument checks that every target makes are
// ArgumentChecks.h (also used by CpuCall, outside the loaders).
#ifndef ATTN_RUNTIME_LOADERINTERNAL_H
#define ATTN_RUNTIME_LOADERINTERNAL_H

#include "runtime/ArgumentChecks.h"
#include "runtime/KernelManifest.h"
#include "runtime/attn_runtime.h"

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

bool endsWith(const std::string &s, const std::string &suffix);
/// "dir/x.so" -> "dir/" ("" without a slash).
std::string directoryOf(const std::string &path);
/// A file of the artefact named by the manifest, relative to it; a caller
/// that gave the binary's path (not the manifest's) must have given that
/// file. ATTN_ERROR_MANIFEST otherwise.
attn_status artefactPath(const attn_kernel &k, const std::string &given,
                         const std::string &file, std::string &path);

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
