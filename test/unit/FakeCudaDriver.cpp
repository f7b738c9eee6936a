// A stub of libcuda.so.1 for the runtime's tests (see FakeCudaDriver.h):
// just enough of the driver API, with the ABI names runtime/CudaDriver.cpp
// looks up, plus controls for the test.
#include "test/unit/FakeCudaDriver.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace {

using CUresult = int;
using CUdeviceptr = unsigned long long;

struct Function {
  std::string name;
  int numParams;
};

struct State {
  std::mutex mutex;
  int calls = 0;
  int initResult = 0, major = 9, minor = 0, devices = 1;
  int errorParam = -1, errorCode = 0;
  int retains = 0;
  int maxDynamicShared = 0;
  std::vector<FakeLaunch> launches;
  std::map<CUdeviceptr, size_t> allocations; // start -> bytes
  std::map<void *, std::string> modules;     // handle -> PTX
  std::vector<std::unique_ptr<Function>> functions;
};

State &state() {
  static State s;
  return s;
}

int context = 1; // the one context: its address is the handle
thread_local std::vector<void *> current;

/// Counts a driver call.
State &call() {
  State &s = state();
  ++s.calls;
  return s;
}

/// The parameter count of `.entry name(...)` in `ptx`, or -1.
int entryParams(const std::string &ptx, const std::string &name) {
  size_t at = ptx.find(".entry " + name + "(");
  if (at == std::string::npos)
    return -1;
  size_t close = ptx.find(')', at);
  int count = 0;
  for (size_t p = ptx.find(".param", at); p < close;
       p = ptx.find(".param", p + 1))
    ++count;
  return count;
}

/// Runs two of the hand-written test kernels (test/Runtime/cuda/*.mlir) on
/// the host, so that the harness can be tested end to end without a GPU.
void emulate(const FakeLaunch &l) {
  auto ptr = [&](int i) { return reinterpret_cast<void *>(l.params[i]); };
  if (std::strcmp(l.entry, "attn_add_f32") == 0) {
    auto *x = static_cast<float *>(ptr(0)), *y = static_cast<float *>(ptr(1)),
         *z = static_cast<float *>(ptr(2));
    float scale;
    std::memcpy(&scale, &l.params[3], 4);
    for (uint64_t i = 0; i < l.params[4] * 4; ++i)
      z[i] = x[i] + scale * y[i];
  } else if (std::strcmp(l.entry, "attn_gather") == 0) {
    auto *x = static_cast<float *>(ptr(0)), *o = static_cast<float *>(ptr(2));
    auto *idx = static_cast<int32_t *>(ptr(1)), *err = static_cast<int32_t *>(ptr(3));
    int64_t m = l.params[4], n = l.params[5], e = l.params[6];
    for (int64_t b = 0; b < l.grid[1]; ++b)
      for (int64_t j = 0; j < n * e; ++j) {
        int64_t i = idx[b * n + j / e];
        bool inside = i >= 0 && i < m;
        if (!inside && *err < 1)
          *err = 1;
        o[(b * n) * e + j] = inside ? x[(b * m + i) * e + j % e] : 0.0f;
      }
  }
}

} // namespace

extern "C" {

//===----------------------------------------------------------------------===//
// Controls
//===----------------------------------------------------------------------===//

void fake_cuda_reset() {
  State &s = state();
  s.calls = 0;
  s.launches.clear();
  s.initResult = 0;
  s.major = 9;
  s.minor = 0;
  s.devices = 1;
  s.errorParam = -1;
  s.errorCode = 0;
  s.maxDynamicShared = 0;
}
int fake_cuda_calls() { return state().calls; }
void fake_cuda_configure(int initResult, int major, int minor, int devices) {
  State &s = state();
  s.initResult = initResult;
  s.major = major;
  s.minor = minor;
  s.devices = devices;
}
void fake_cuda_set_kernel_error(int param, int code) {
  state().errorParam = param;
  state().errorCode = code;
}
int fake_cuda_num_launches() {
  return static_cast<int>(state().launches.size());
}
const FakeLaunch *fake_cuda_launch(int index) {
  return &state().launches.at(index);
}
int fake_cuda_live_allocations() {
  return static_cast<int>(state().allocations.size());
}
int fake_cuda_primary_retains() { return state().retains; }
int fake_cuda_max_dynamic_shared() { return state().maxDynamicShared; }

//===----------------------------------------------------------------------===//
// The driver API
//===----------------------------------------------------------------------===//

CUresult cuInit(unsigned) { return call().initResult; }
CUresult cuDriverGetVersion(int *v) {
  call();
  *v = 13000;
  return 0;
}
CUresult cuGetErrorName(CUresult e, const char **name) {
  switch (e) {
  case 0:
    *name = "CUDA_SUCCESS";
    return 0;
  case 1:
    *name = "CUDA_ERROR_INVALID_VALUE";
    return 0;
  case 100:
    *name = "CUDA_ERROR_NO_DEVICE";
    return 0;
  case 218:
    *name = "CUDA_ERROR_INVALID_PTX";
    return 0;
  case 500:
    *name = "CUDA_ERROR_NOT_FOUND";
    return 0;
  }
  *name = nullptr;
  return 1;
}
CUresult cuGetErrorString(CUresult e, const char **text) {
  *text = e == 100 ? "no CUDA-capable device is detected" : "fake error";
  return 0;
}
CUresult cuDeviceGet(int *device, int ordinal) {
  State &s = call();
  if (ordinal >= s.devices)
    return 101; // CUDA_ERROR_INVALID_DEVICE
  *device = ordinal;
  return 0;
}
CUresult cuDeviceGetCount(int *count) {
  *count = call().devices;
  return 0;
}
CUresult cuDeviceGetAttribute(int *value, int attribute, int) {
  State &s = call();
  *value = attribute == 75   ? s.major
           : attribute == 76 ? s.minor
           : attribute == 97 ? 227 * 1024
                             : 0;
  return 0;
}
CUresult cuDeviceGetName(char *name, int length, int) {
  call();
  std::strncpy(name, "Fake GPU", length);
  return 0;
}
CUresult cuDevicePrimaryCtxRetain(void **ctx, int) {
  ++call().retains;
  *ctx = &context;
  return 0;
}
CUresult cuDevicePrimaryCtxRelease_v2(int) {
  --call().retains;
  return 0;
}
CUresult cuCtxGetCurrent(void **ctx) {
  call();
  *ctx = current.empty() ? nullptr : current.back();
  return 0;
}
CUresult cuCtxSetCurrent(void *ctx) {
  call();
  if (!current.empty())
    current.pop_back();
  if (ctx)
    current.push_back(ctx);
  return 0;
}
CUresult cuCtxPushCurrent_v2(void *ctx) {
  call();
  current.push_back(ctx);
  return 0;
}
CUresult cuCtxPopCurrent_v2(void **ctx) {
  call();
  if (current.empty())
    return 201; // CUDA_ERROR_INVALID_CONTEXT
  if (ctx)
    *ctx = current.back();
  current.pop_back();
  return 0;
}
CUresult cuCtxGetDevice(int *device) {
  call();
  if (current.empty())
    return 201;
  *device = 0;
  return 0;
}
CUresult cuCtxSynchronize() { return call(), 0; }

CUresult cuModuleLoadDataEx(void **module, const void *image, unsigned n,
                            int *options, void **values) {
  State &s = call();
  if (current.empty())
    return 201;
  std::string ptx = static_cast<const char *>(image);
  if (ptx.find("FAKE_JIT_ERROR") != std::string::npos) {
    for (unsigned i = 0; i < n; ++i)
      if (options[i] == 5) // CU_JIT_ERROR_LOG_BUFFER
        std::strcpy(static_cast<char *>(values[i]),
                    "ptxas fatal   : fake JIT error\n");
    return 218;
  }
  void *handle = std::malloc(1);
  s.modules[handle] = ptx;
  *module = handle;
  return 0;
}
CUresult cuModuleUnload(void *module) {
  State &s = call();
  s.modules.erase(module);
  std::free(module);
  return 0;
}
CUresult cuModuleGetFunction(void **function, void *module, const char *name) {
  State &s = call();
  auto it = s.modules.find(module);
  if (it == s.modules.end())
    return 400; // CUDA_ERROR_INVALID_HANDLE
  int params = entryParams(it->second, name);
  if (params < 0)
    return 500; // CUDA_ERROR_NOT_FOUND
  s.functions.push_back(std::make_unique<Function>(Function{name, params}));
  *function = s.functions.back().get();
  return 0;
}
CUresult cuFuncSetAttribute(void *, int attribute, int value) {
  State &s = call();
  if (attribute == 8)
    s.maxDynamicShared = value;
  return 0;
}
CUresult cuLaunchKernel(void *function, unsigned gx, unsigned gy, unsigned gz,
                        unsigned bx, unsigned by, unsigned bz, unsigned shared,
                        void *stream, void **params, void **) {
  State &s = call();
  if (current.empty())
    return 201;
  auto *f = static_cast<Function *>(function);
  FakeLaunch l{};
  std::strncpy(l.entry, f->name.c_str(), sizeof l.entry - 1);
  unsigned g[3] = {gx, gy, gz}, b[3] = {bx, by, bz};
  std::memcpy(l.grid, g, sizeof g);
  std::memcpy(l.block, b, sizeof b);
  l.shared = shared;
  l.stream = stream;
  l.numParams = f->numParams;
  for (int i = 0; i < f->numParams && i < 16; ++i)
    std::memcpy(&l.params[i], params[i], 8); // the runtime's slots are 8 bytes
  emulate(l);
  if (s.errorParam >= 0 && s.errorParam < f->numParams) {
    int32_t code = s.errorCode;
    std::memcpy(reinterpret_cast<void *>(l.params[s.errorParam]), &code, 4);
  }
  s.launches.push_back(l);
  return 0;
}
CUresult cuPointerGetAttributes(unsigned n, int *attributes, void **data,
                                CUdeviceptr ptr) {
  State &s = call();
  auto it = s.allocations.upper_bound(ptr);
  bool known = it != s.allocations.begin() &&
               ptr < std::prev(it)->first + std::prev(it)->second;
  for (unsigned i = 0; i < n; ++i) {
    switch (attributes[i]) {
    case 2: // MEMORY_TYPE
      *static_cast<unsigned *>(data[i]) = known ? 2 : 0;
      break;
    case 9: // DEVICE_ORDINAL
      *static_cast<int *>(data[i]) = known ? 0 : -1;
      break;
    case 11: // RANGE_START_ADDR
      *static_cast<CUdeviceptr *>(data[i]) = known ? std::prev(it)->first : 0;
      break;
    case 12: // RANGE_SIZE
      *static_cast<size_t *>(data[i]) = known ? std::prev(it)->second : 0;
      break;
    }
  }
  return 0;
}
CUresult cuMemAlloc_v2(CUdeviceptr *ptr, size_t bytes) {
  State &s = call();
  void *p = std::malloc(bytes ? bytes : 1);
  *ptr = reinterpret_cast<CUdeviceptr>(p);
  s.allocations[*ptr] = bytes;
  return 0;
}
CUresult cuMemFree_v2(CUdeviceptr ptr) {
  State &s = call();
  if (!s.allocations.erase(ptr))
    return 1;
  std::free(reinterpret_cast<void *>(ptr));
  return 0;
}
CUresult cuMemAllocAsync(CUdeviceptr *ptr, size_t bytes, void *) {
  --state().calls;
  return cuMemAlloc_v2(ptr, bytes);
}
CUresult cuMemFreeAsync(CUdeviceptr ptr, void *) {
  --state().calls;
  return cuMemFree_v2(ptr);
}
CUresult cuMemcpyHtoD_v2(CUdeviceptr to, const void *from, size_t bytes) {
  call();
  std::memcpy(reinterpret_cast<void *>(to), from, bytes);
  return 0;
}
CUresult cuMemcpyDtoH_v2(void *to, CUdeviceptr from, size_t bytes) {
  call();
  std::memcpy(to, reinterpret_cast<void *>(from), bytes);
  return 0;
}
CUresult cuMemcpyDtoHAsync_v2(void *to, CUdeviceptr from, size_t bytes,
                              void *) {
  --state().calls;
  return cuMemcpyDtoH_v2(to, from, bytes);
}
CUresult cuMemsetD8_v2(CUdeviceptr to, unsigned char value, size_t count) {
  call();
  std::memset(reinterpret_cast<void *>(to), value, count);
  return 0;
}
CUresult cuMemsetD32Async(CUdeviceptr to, unsigned value, size_t count,
                          void *) {
  call();
  auto *p = reinterpret_cast<unsigned *>(to);
  for (size_t i = 0; i < count; ++i)
    p[i] = value;
  return 0;
}
CUresult cuStreamCreate(void **stream, unsigned) {
  call();
  *stream = std::malloc(1);
  return 0;
}
CUresult cuStreamDestroy_v2(void *stream) {
  call();
  std::free(stream);
  return 0;
}
CUresult cuStreamSynchronize(void *) { return call(), 0; }
CUresult cuEventCreate(void **event, unsigned) {
  call();
  *event = new double(0);
  return 0;
}
CUresult cuEventDestroy_v2(void *event) {
  call();
  delete static_cast<double *>(event);
  return 0;
}
CUresult cuEventRecord(void *event, void *) {
  call();
  *static_cast<double *>(event) =
      std::chrono::duration<double, std::milli>(
          std::chrono::steady_clock::now().time_since_epoch())
          .count();
  return 0;
}
CUresult cuEventSynchronize(void *) { return call(), 0; }
CUresult cuEventElapsedTime(float *ms, void *start, void *end) {
  call();
  *ms = static_cast<float>(*static_cast<double *>(end) -
                           *static_cast<double *>(start));
  return 0;
}

} // extern "C"
