// The control interface of the stub CUDA driver (FakeCudaDriver.cpp), a
// shared library that exports the driver entry points runtime/CudaDriver.h
// looks up, so that the runtime's CUDA loader can be tested end to end on a
// machine without a GPU (ATTN_CUDA_DRIVER=path/to/libattn_fake_cuda.so).
//
// "Device memory" is host memory the stub allocates and tracks; a "module"
// is the PTX text, whose `.entry NAME(` signatures give the functions and
// their parameter counts; a launch runs nothing: it is recorded (geometry,
// stream, every parameter's first 8 bytes) for the test to read.
#ifndef ATTN_TEST_UNIT_FAKECUDADRIVER_H
#define ATTN_TEST_UNIT_FAKECUDADRIVER_H

#include <cstdint>

extern "C" {

struct FakeLaunch {
  char entry[64];
  unsigned grid[3], block[3], shared;
  void *stream;
  int numParams;
  uint64_t params[16]; // the first 8 bytes behind each kernelParams pointer
};

/// Forgets launches and counts (not allocations or modules) and sets the
/// device back to one sm_90 GPU.
void fake_cuda_reset();
/// Driver calls made since the last reset (controls not counted).
int fake_cuda_calls();
/// The device: what cuInit returns, the compute capability, the count.
void fake_cuda_configure(int initResult, int major, int minor, int devices);
/// The next launches write `code` (int32) to the device pointer passed as
/// parameter `param` (the error code), as a kernel reporting an error.
void fake_cuda_set_kernel_error(int param, int code);
int fake_cuda_num_launches();
const FakeLaunch *fake_cuda_launch(int index);
/// Allocations alive, and primary-context retains not yet released.
int fake_cuda_live_allocations();
int fake_cuda_primary_retains();
/// The last value given to cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES).
int fake_cuda_max_dynamic_shared();
}

#endif
