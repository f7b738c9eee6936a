// The CPU back end of runtime/attn_runtime.h: dlopens the shared object
// the manifest names and runs it: the arguments of a run are checked and
// wrapped as Halide buffers by runtime/CpuCall.h (the checks every target
// shares, ArgumentChecks.h, then the CPU's strides), then the Halide `_argv`
// entry point is called.
#include "runtime/LoaderInternal.h"

#include "runtime/CpuCall.h"

#include <dlfcn.h>

#include <cstring>
#include <string>

using namespace attn::rt;

namespace {

using ArgvEntry = int (*)(void **);
using ErrorHandler = void (*)(void *, const char *);
using SetErrorHandler = ErrorHandler (*)(ErrorHandler);
using ShutdownThreadPool = void (*)();

thread_local std::string halideMessages; // what the kernel's runtime said

void onHalideError(void *, const char *message) {
  if (!halideMessages.empty())
    halideMessages += "; ";
  std::string m = message ? message : "";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' '))
    m.pop_back();
  halideMessages += m;
}

} // namespace

namespace attn::rt {
struct CpuKernel {
  void *library = nullptr;
  ArgvEntry entry = nullptr;
  ShutdownThreadPool shutdown = nullptr;
};
} // namespace attn::rt

//===----------------------------------------------------------------------===//
// Loading
//===----------------------------------------------------------------------===//

attn_status attn::rt::loadCpu(attn_kernel &k, const std::string &given) {
  const KernelManifest &m = k.manifest;
  const std::string &manifestPath = k.manifestPath;
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

  std::string library;
  if (attn_status s = artefactPath(k, given, m.library, library))
    return s;
  dlerror();
  void *handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    return fail(ATTN_ERROR_LOAD, "cannot load the kernel library " + library +
                                     ": " + (why ? why : "dlopen failed"));
  }
  auto entry = reinterpret_cast<ArgvEntry>(dlsym(handle, m.entry.c_str()));
  if (!entry) {
    dlclose(handle);
    return fail(ATTN_ERROR_LOAD, library + " has no entry point " + m.entry +
                                     " (the manifest does not match it)");
  }
  k.cpu = new CpuKernel{handle, entry, nullptr};
  // Errors of the kernel's Halide runtime come to us instead of stderr.
  if (auto set = reinterpret_cast<SetErrorHandler>(
          dlsym(handle, "halide_set_error_handler")))
    set(onHalideError);
  k.cpu->shutdown = reinterpret_cast<ShutdownThreadPool>(
      dlsym(handle, "halide_shutdown_thread_pool"));
  return ATTN_OK;
}

void attn::rt::unloadCpu(CpuKernel *cpu) {
  // Halide's worker threads run code of the library: stop them first.
  if (cpu->shutdown)
    cpu->shutdown();
  if (cpu->library)
    dlclose(cpu->library);
  delete cpu;
}

//===----------------------------------------------------------------------===//
// Running
//===----------------------------------------------------------------------===//

attn_status attn::rt::runCpu(attn_kernel &kernel, const attn_tensor *tensors,
                             const attn_scalar *scalars) {
  const KernelManifest &m = kernel.manifest;
  CpuCall call;
  std::string error;
  if (attn_status status = call.prepare(m, tensors, kernel.numTensors, scalars,
                                        kernel.numScalars, error))
    return fail(status, std::move(error));
  if (call.nothingToCompute)
    return ATTN_OK;
  halideMessages.clear();
  int rc = kernel.cpu->entry(call.argv.data());
  if (rc != 0) {
    std::string message = "the CPU kernel " + m.kernel +
                          " failed (Halide error " + std::to_string(rc) + ")";
    if (!halideMessages.empty())
      message += ": " + CpuCall::describeHalideMessage(m, halideMessages);
    halideMessages.clear();
    return fail(ATTN_ERROR_KERNEL, message);
  }
  if (call.errorCode != 0)
    return fail(ATTN_ERROR_KERNEL, call.errorMessage(m, tensors));
  return ATTN_OK;
}
