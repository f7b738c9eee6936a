// The C ABI of runtime/attn_runtime.h for CPU kernels: reads the manifest,
// dlopens the shared object, checks every argument of a run against the
// manifest and calls the Halide `_argv` entry point (runtime/CpuCall.h).
#include "runtime/attn_runtime.h"

#include "runtime/CpuCall.h"
#include "runtime/KernelManifest.h"

#include <dlfcn.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

using namespace attn::rt;

namespace {

using ArgvEntry = int (*)(void **);
using ErrorHandler = void (*)(void *, const char *);
using SetErrorHandler = ErrorHandler (*)(ErrorHandler);
using ShutdownThreadPool = void (*)();

thread_local std::string lastError;
thread_local std::string halideMessages; // what the kernel's runtime said

attn_status fail(attn_status status, std::string message) {
  lastError = std::move(message);
  return status;
}

void onHalideError(void *, const char *message) {
  if (!halideMessages.empty())
    halideMessages += "; ";
  std::string m = message ? message : "";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' '))
    m.pop_back();
  halideMessages += m;
}

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string directoryOf(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

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

} // namespace

struct attn_kernel {
  KernelManifest manifest;
  std::string manifestPath;
  void *library = nullptr;
  ArgvEntry entry = nullptr;
  ShutdownThreadPool shutdown = nullptr;
  // C views of the manifest for attn_kernel_arg_info.
  std::vector<std::vector<const char *>> dimNames;
  size_t numTensors = 0, numScalars = 0;
};

//===----------------------------------------------------------------------===//
// Loading
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
  std::string manifestPath =
      endsWith(given, ".json") ? given : manifestPathFor(given);

  std::ifstream in(manifestPath, std::ios::binary);
  if (!in)
    return fail(ATTN_ERROR_LOAD, "cannot read the kernel manifest " +
                                     manifestPath + ": " +
                                     std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  auto k = std::make_unique<attn_kernel>();
  k->manifestPath = manifestPath;
  std::string error;
  if (!parseKernelManifest(text.str(), manifestPath, k->manifest, error))
    return fail(ATTN_ERROR_MANIFEST, error);
  KernelManifest &m = k->manifest;
  if (m.callingConvention != "halide_argv")
    return fail(ATTN_ERROR_MANIFEST, manifestPath +
                                         ": unsupported calling convention \"" +
                                         m.callingConvention + "\"");
  if (m.library.empty())
    return fail(ATTN_ERROR_LOAD,
                manifestPath + " describes the object file " + m.object +
                    ", not a shared object: link it with `c++ -shared` (or "
                    "compile with --emit=so) and load the result");
#if defined(__x86_64__)
  const char *arch = "x86-64-";
#elif defined(__aarch64__)
  const char *arch = "arm-64-";
#else
  const char *arch = "";
#endif
  if (m.target.compare(0, std::strlen(arch), arch) != 0)
    return fail(ATTN_ERROR_UNSUPPORTED, manifestPath + ": kernel " + m.kernel +
                                            " was compiled for target " +
                                            m.target +
                                            ", which this machine cannot run");

  std::string library =
      m.library[0] == '/' ? m.library : directoryOf(manifestPath) + m.library;
  // The manifest names the library; a .so path given by the caller must be
  // that library (a manifest beside a different file is a mismatch).
  if (!endsWith(given, ".json") && directoryOf(given) + m.library != given &&
      library != given)
    return fail(ATTN_ERROR_MANIFEST,
                manifestPath + " describes " + library + ", not " + given);
  dlerror();
  k->library = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!k->library) {
    const char *why = dlerror();
    return fail(ATTN_ERROR_LOAD, "cannot load the kernel library " + library +
                                     ": " + (why ? why : "dlopen failed"));
  }
  k->entry = reinterpret_cast<ArgvEntry>(dlsym(k->library, m.entry.c_str()));
  if (!k->entry) {
    dlclose(k->library);
    return fail(ATTN_ERROR_LOAD, library + " has no entry point " + m.entry +
                                     " (the manifest does not match it)");
  }
  // Errors of the kernel's Halide runtime come to us instead of stderr.
  if (auto set = reinterpret_cast<SetErrorHandler>(
          dlsym(k->library, "halide_set_error_handler")))
    set(onHalideError);
  k->shutdown = reinterpret_cast<ShutdownThreadPool>(
      dlsym(k->library, "halide_shutdown_thread_pool"));

  for (const ManifestArgument &a : m.arguments) {
    std::vector<const char *> dims;
    for (const std::string &d : a.dims)
      dims.push_back(d.c_str());
    k->dimNames.push_back(std::move(dims));
    (a.isScalar ? k->numScalars : k->numTensors)++;
  }
  for (const ManifestRunError &e : m.errors)
    if (e.argument >= static_cast<int>(m.arguments.size()) ||
        (e.argument >= 0 && m.arguments[e.argument].isScalar)) {
      std::string message = manifestPath + ": error \"" + e.what +
                            "\" names argument " + std::to_string(e.argument) +
                            ", which is not a tensor";
      if (k->shutdown)
        k->shutdown();
      dlclose(k->library);
      return fail(ATTN_ERROR_MANIFEST, message);
    }
  *kernel = k.release();
  return ATTN_OK;
}

extern "C" void attn_unload(attn_kernel *kernel) {
  if (!kernel)
    return;
  // Halide's worker threads run code of the library: stop them first.
  if (kernel->shutdown)
    kernel->shutdown();
  if (kernel->library)
    dlclose(kernel->library);
  delete kernel;
}

extern "C" const char *attn_kernel_name(const attn_kernel *kernel) {
  return kernel ? kernel->manifest.kernel.c_str() : "";
}

extern "C" const char *attn_kernel_target(const attn_kernel *kernel) {
  return kernel ? kernel->manifest.target.c_str() : "";
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

//===----------------------------------------------------------------------===//
// Running
//===----------------------------------------------------------------------===//

extern "C" attn_status attn_run(attn_kernel *kernel, const attn_tensor *tensors,
                                size_t num_tensors, const attn_scalar *scalars,
                                size_t num_scalars) {
  lastError.clear();
  if (!kernel)
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_run: kernel is NULL");
  const KernelManifest &m = kernel->manifest;
  CpuCall call;
  std::string error;
  if (attn_status status = call.prepare(m, tensors, num_tensors, scalars,
                                        num_scalars, error);
      status != ATTN_OK)
    return fail(status, std::move(error));
  halideMessages.clear();
  int rc = kernel->entry(call.argv.data());
  if (rc != 0) {
    std::string message = "the CPU kernel " + m.kernel +
                          " failed (Halide error " + std::to_string(rc) + ")";
    if (!halideMessages.empty())
      message += ": " + halideMessages;
    halideMessages.clear();
    return fail(ATTN_ERROR_KERNEL, message);
  }
  if (call.errorCode != 0)
    return fail(ATTN_ERROR_KERNEL, call.errorMessage(m, tensors));
  return ATTN_OK;
}
