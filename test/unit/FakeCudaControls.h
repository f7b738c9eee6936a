// For tests against the stub CUDA driver (FakeCudaDriver.h): the library
// opened from ATTN_FAKE_CUDA_DRIVER (which the including test defines), its
// controls, and "device memory" freed at the end of a test.
#ifndef ATTN_TEST_UNIT_FAKECUDACONTROLS_H
#define ATTN_TEST_UNIT_FAKECUDACONTROLS_H

#include "test/unit/FakeCudaDriver.h"

#include <cstddef>
#include <cstring>
#include <dlfcn.h>
#include <vector>

namespace attn::test {

/// The stub driver (loaded from ATTN_FAKE_CUDA_DRIVER) and its controls.
struct FakeCuda {
  void *handle = nullptr;
  decltype(&fake_cuda_reset) reset;
  decltype(&fake_cuda_calls) calls;
  decltype(&fake_cuda_configure) configure;
  decltype(&fake_cuda_set_kernel_error) setKernelError;
  decltype(&fake_cuda_num_launches) numLaunches;
  decltype(&fake_cuda_launch) launch;
  decltype(&fake_cuda_live_allocations) liveAllocations;
  decltype(&fake_cuda_primary_retains) primaryRetains;
  decltype(&fake_cuda_max_dynamic_shared) maxDynamicShared;
  int (*memAlloc)(unsigned long long *, size_t);
  int (*memFree)(unsigned long long);

  FakeCuda() {
    handle = dlopen(ATTN_FAKE_CUDA_DRIVER, RTLD_NOW | RTLD_LOCAL);
    if (!handle)
      return;
#define FIND(field, name) field = reinterpret_cast<decltype(field)>(dlsym(handle, name))
    FIND(reset, "fake_cuda_reset");
    FIND(calls, "fake_cuda_calls");
    FIND(configure, "fake_cuda_configure");
    FIND(setKernelError, "fake_cuda_set_kernel_error");
    FIND(numLaunches, "fake_cuda_num_launches");
    FIND(launch, "fake_cuda_launch");
    FIND(liveAllocations, "fake_cuda_live_allocations");
    FIND(primaryRetains, "fake_cuda_primary_retains");
    FIND(maxDynamicShared, "fake_cuda_max_dynamic_shared");
    FIND(memAlloc, "cuMemAlloc_v2");
    FIND(memFree, "cuMemFree_v2");
#undef FIND
  }
  /// "Device memory" of `bytes`, freed at the end of the test.
  void *alloc(size_t bytes) {
    unsigned long long p = 0;
    memAlloc(&p, bytes);
    std::memset(reinterpret_cast<void *>(p), 0, bytes);
    owned.push_back(p);
    return reinterpret_cast<void *>(p);
  }
  void freeAll() {
    for (unsigned long long p : owned)
      memFree(p);
    owned.clear();
  }
  std::vector<unsigned long long> owned;
};

} // namespace attn::test

#endif
