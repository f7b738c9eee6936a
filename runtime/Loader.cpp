// The C ABI of runtime/attn_runtime.h: reads and checks the manifest, hands
// the kernel to its back end (CpuLoader.cpp or CudaLoader.cpp). The argument
// checks that every target shares are ArgumentChecks.cpp.
#include "runtime/LoaderInternal.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

using namespace attn::rt;

namespace {

thread_local std::string lastError;

/// "dir/mha.so" -> "dir/mha.attn.json" (as codegen's manifestPathFor).
std::string manifestPathFor(const std::string &binary) {
  size_t slash = binary.rfind('/');
  size_t dot = binary.rfind('.');
  std::string stem = (dot != std::string::npos &&
                      (slash == std::string::npos || dot > slash) &&
                      dot != (slash == std::string::npos ? 0 : slash + 1))
                         ? binary.substr(0, dot)
                         : binary;
  return stem + ".attn.json";
}

void freeKernel(attn_kernel *k) {
  if (k->cpu)
    unloadCpu(k->cpu);
  if (k->cuda)
    unloadCuda(k->cuda);
  delete k;
}

} // namespace

//===----------------------------------------------------------------------===//
// Shared helpers
//===----------------------------------------------------------------------===//

attn_status attn::rt::fail(attn_status status, std::string message) {
  lastError = std::move(message);
  return status;
}

bool attn::rt::endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string attn::rt::directoryOf(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

attn_status attn::rt::artefactPath(const attn_kernel &k,
                                   const std::string &given,
                                   const std::string &file,
                                   std::string &path) {
  path = file[0] == '/' ? file : directoryOf(k.manifestPath) + file;
  // The manifest names the file; a binary path given by the caller must be
  // that file (a manifest beside a different file is a mismatch).
  if (!endsWith(given, ".json") && directoryOf(given) + file != given &&
      path != given)
    return fail(ATTN_ERROR_MANIFEST,
                k.manifestPath + " describes " + path + ", not " + given);
  return ATTN_OK;
}

//===----------------------------------------------------------------------===//
// The C ABI
//===----------------------------------------------------------------------===//

extern "C" const char *attn_last_error(void) { return lastError.c_str(); }

extern "C" const char *attn_status_string(attn_status status) {
  switch (status) {
  case ATTN_OK:
    return "ATTN_OK";
  case ATTN_ERROR_INVALID_ARGUMENT:
    return "ATTN_ERROR_INVALID_ARGUMENT";
  case ATTN_ERROR_LOAD:
    return "ATTN_ERROR_LOAD";
  case ATTN_ERROR_MANIFEST:
    return "ATTN_ERROR_MANIFEST";
  case ATTN_ERROR_KERNEL:
    return "ATTN_ERROR_KERNEL";
  case ATTN_ERROR_UNSUPPORTED:
    return "ATTN_ERROR_UNSUPPORTED";
  case ATTN_ERROR_NO_DEVICE:
    return "ATTN_ERROR_NO_DEVICE";
  }
  return "ATTN_ERROR_UNKNOWN";
}

extern "C" attn_status attn_load(const char *path, attn_kernel **kernel) {
  lastError.clear();
  if (!kernel)
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_load: kernel is NULL");
  *kernel = nullptr;
  if (!path || !*path)
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_load: path is empty");
  std::string given = path;
  // dlopen searches the system's library paths for a name without a slash:
  // a kernel named so is the one in the working directory.
  if (given.find('/') == std::string::npos)
    given = "./" + given;
  std::string manifestPath =
      endsWith(given, ".json") ? given : manifestPathFor(given);

  std::ifstream in(manifestPath, std::ios::binary);
  if (!in)
    return fail(ATTN_ERROR_LOAD, "cannot read the kernel manifest " +
                                     manifestPath + ": " +
                                     std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  std::unique_ptr<attn_kernel, void (*)(attn_kernel *)> k(new attn_kernel,
                                                          freeKernel);
  k->manifestPath = manifestPath;
  std::string error;
  if (!parseKernelManifest(text.str(), manifestPath, k->manifest, error))
    return fail(ATTN_ERROR_MANIFEST, error);
  const KernelManifest &m = k->manifest;
  for (const ManifestArgument &a : m.arguments) {
    std::vector<const char *> dims;
    for (const std::string &d : a.dims)
      dims.push_back(d.c_str());
    k->dimNames.push_back(std::move(dims));
    (a.isScalar ? k->numScalars : k->numTensors)++;
  }
  for (const ManifestRunError &e : m.errors)
    if (e.argument >= static_cast<int>(m.arguments.size()) ||
        (e.argument >= 0 && m.arguments[e.argument].isScalar))
      return fail(ATTN_ERROR_MANIFEST,
                  manifestPath + ": error \"" + e.what + "\" names argument " +
                      std::to_string(e.argument) + ", which is not a tensor");

  attn_status status = m.isCuda() ? loadCuda(*k, given) : loadCpu(*k, given);
  if (status != ATTN_OK)
    return status;
  *kernel = k.release();
  return ATTN_OK;
}

extern "C" void attn_unload(attn_kernel *kernel) {
  if (kernel)
    freeKernel(kernel);
}

extern "C" const char *attn_kernel_name(const attn_kernel *kernel) {
  return kernel ? kernel->manifest.kernel.c_str() : "";
}

extern "C" const char *attn_kernel_target(const attn_kernel *kernel) {
  return kernel ? kernel->manifest.target.c_str() : "";
}

extern "C" int attn_kernel_device(const attn_kernel *kernel) {
  return kernel && kernel->cuda ? ATTN_DEVICE_CUDA : ATTN_DEVICE_CPU;
}

extern "C" size_t attn_kernel_num_args(const attn_kernel *kernel) {
  return kernel ? kernel->manifest.arguments.size() : 0;
}

extern "C" size_t attn_kernel_num_tensors(const attn_kernel *kernel) {
  return kernel ? kernel->numTensors : 0;
}

extern "C" size_t attn_kernel_num_scalars(const attn_kernel *kernel) {
  return kernel ? kernel->numScalars : 0;
}

extern "C" attn_status attn_kernel_arg_info(const attn_kernel *kernel,
                                            size_t index, attn_arg_info *info) {
  if (!kernel || !info)
    return fail(ATTN_ERROR_INVALID_ARGUMENT,
                "attn_kernel_arg_info: kernel or info is NULL");
  if (index >= kernel->manifest.arguments.size())
    return fail(ATTN_ERROR_INVALID_ARGUMENT,
                "kernel " + kernel->manifest.kernel + " has " +
                    std::to_string(kernel->manifest.arguments.size()) +
                    " arguments, asked for argument " + std::to_string(index));
  const ManifestArgument &a = kernel->manifest.arguments[index];
  info->name = a.name.c_str();
  info->is_output = a.isOutput;
  info->is_scalar = a.isScalar;
  info->dtype = static_cast<int>(a.dtype);
  info->rank = static_cast<int>(a.dims.size());
  info->dims = kernel->dimNames[index].data();
  info->fill = a.fill ? a.fill->c_str() : nullptr;
  return ATTN_OK;
}

extern "C" attn_status attn_run_stream(attn_kernel *kernel,
                                       const attn_tensor *tensors,
                                       size_t num_tensors,
                                       const attn_scalar *scalars,
                                       size_t num_scalars, void *stream) {
  lastError.clear();
  if (!kernel)
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_run: kernel is NULL");
  const std::string &name = kernel->manifest.kernel;
  std::string error;
  if (attn_status status =
          checkArgumentCounts(kernel->manifest, tensors, num_tensors, scalars,
                              num_scalars, error))
    return fail(status, std::move(error));
  if (kernel->cuda)
    return runCuda(*kernel, tensors, scalars, stream);
  if (stream)
    return fail(ATTN_ERROR_UNSUPPORTED,
                "kernel " + name +
                    " runs on the CPU and takes no stream: pass NULL");
  return runCpu(*kernel, tensors, scalars);
}

extern "C" attn_status attn_run(attn_kernel *kernel, const attn_tensor *tensors,
                                size_t num_tensors, const attn_scalar *scalars,
                                size_t num_scalars) {
  return attn_run_stream(kernel, tensors, num_tensors, scalars, num_scalars,
                         nullptr);
}
