// Opens the CUDA driver with dlopen and fills the entry-point table of
// runtime/CudaDriver.h. Nothing here links against CUDA.
#include "runtime/CudaDriver.h"

#include <dlfcn.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>

using namespace attn::rt::cuda;

namespace {

/// One driver per path; `driver` null when it failed, with `error`.
struct Opened {
  std::unique_ptr<Driver> driver;
  std::string error;
};

/// Looks `symbol` (or `fallback`) up; the first one missing is reported.
template <typename F>
void find(void *handle, F &fn, const char *symbol, const char *fallback,
          std::string &missing) {
  fn = reinterpret_cast<F>(dlsym(handle, symbol));
  if (!fn && fallback)
    fn = reinterpret_cast<F>(dlsym(handle, fallback));
  if (!fn && missing.empty())
    missing = symbol;
}

Opened open(const std::string &path, bool fromEnvironment) {
  Opened o;
  dlerror();
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    o.error = fromEnvironment
                  ? "no CUDA driver (" + path + " from ATTN_CUDA_DRIVER not "
                        "found: " + (why ? why : "dlopen failed") + ")"
                  : "no CUDA driver (libcuda.so.1 not found)";
    return o;
  }
  auto d = std::make_unique<Driver>();
  d->path = path;
  d->handle = handle;
  // The ABI symbol names: cuda.h maps e.g. cuMemAlloc to cuMemAlloc_v2.
  std::string missing;
#define ATTN_CUDA_SYMBOL(member, abi, fallback)                                \
  find(handle, d->member, abi, fallback, missing);
#include "runtime/CudaDriverSymbols.def"
#undef ATTN_CUDA_SYMBOL
  if (!missing.empty()) {
    o.error = "the CUDA driver " + path + " has no " + missing +
              " (a driver for CUDA 11.2 or newer is needed)";
    dlclose(handle);
    return o;
  }
  CUresult r = d->cuInit(0);
  if (r != CUDA_SUCCESS) {
    o.error = (r == CUDA_ERROR_NO_DEVICE ? "no CUDA device (cuInit: "
                                         : "the CUDA driver failed to "
                                           "initialise (cuInit: ") +
              d->describe(r) + ")";
    dlclose(handle);
    return o;
  }
  o.driver = std::move(d);
  return o;
}

} // namespace

std::string Driver::describe(CUresult result) const {
  const char *name = nullptr, *text = nullptr;
  if (cuGetErrorName(result, &name) != CUDA_SUCCESS || !name)
    return "CUDA error " + std::to_string(result);
  std::string s = name;
  if (cuGetErrorString(result, &text) == CUDA_SUCCESS && text)
    s += std::string(" (") + text + ")";
  return s;
}

const Driver *attn::rt::cuda::cudaDriver(std::string &error) {
  static std::mutex mutex;
  static std::map<std::string, Opened> opened; // never closed
  const char *env = std::getenv("ATTN_CUDA_DRIVER");
  std::string path = env && *env ? env : "libcuda.so.1";
  std::lock_guard<std::mutex> lock(mutex);
  auto it = opened.find(path);
  if (it == opened.end())
    it = opened.emplace(path, open(path, env && *env)).first;
  if (!it->second.driver)
    error = it->second.error;
  return it->second.driver.get();
}
