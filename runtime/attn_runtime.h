/* The attn runtime's C ABI: load a compiled kernel (a CPU shared object or a
 * CUDA PTX file, and its manifest NAME.attn.json), describe its arguments,
 * and run it on tensor descriptors, every argument checked first. See
 * docs/runtime.md. */
#ifndef ATTN_RUNTIME_ATTN_RUNTIME_H
#define ATTN_RUNTIME_ATTN_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status of every call. Nothing in the runtime aborts on bad input: a
 * failure returns one of these, and attn_last_error() says what happened. */
typedef enum attn_status {
  ATTN_OK = 0,
  ATTN_ERROR_INVALID_ARGUMENT = 1, /* a bad argument to attn_run (or NULL) */
  ATTN_ERROR_LOAD = 2,       /* the manifest or the shared object is missing */
  ATTN_ERROR_MANIFEST = 3,   /* the manifest is malformed or unsupported */
  ATTN_ERROR_KERNEL = 4,     /* the kernel failed while running (an
                                out-of-range data-dependent read, ...) */
  ATTN_ERROR_UNSUPPORTED = 5, /* valid but not supported (a device, strides) */
  ATTN_ERROR_NO_DEVICE = 6    /* a CUDA kernel, but no CUDA driver or no GPU
                                 on this machine */
} attn_status;

/* Element types (the language's f16 bf16 f32 f64 i32 i64 bool). Data is
 * little-endian; f16 and bf16 as 16-bit patterns; bool one byte, 0 or 1. */
typedef enum attn_dtype {
  ATTN_F16 = 0,
  ATTN_BF16 = 1,
  ATTN_F32 = 2,
  ATTN_F64 = 3,
  ATTN_I32 = 4,
  ATTN_I64 = 5,
  ATTN_BOOL = 6
} attn_dtype;

typedef enum attn_device {
  ATTN_DEVICE_CPU = 0,
  ATTN_DEVICE_CUDA = 1
} attn_device;

/* A tensor argument. The descriptor and the shape/strides arrays need only
 * live for the call; `data` is read (inputs) or written (outputs) during it
 * (for a CUDA kernel: by the work the call enqueues on its stream).
 * strides are in elements, one per dimension (NULL: contiguous, row-major).
 * CPU: the last dimension's stride must be 1 (or its extent <= 1); outputs
 * may not have a 0 stride on a dimension of extent > 1; extents and strides
 * must fit in int32. CUDA: `data` is a device pointer (CUdeviceptr) of the
 * GPU of the current context, and the tensor must be contiguous row-major
 * (strides NULL or equal to those). */
typedef struct attn_tensor {
  void *data;
  int dtype; /* attn_dtype */
  int rank;
  const int64_t *shape;
  const int64_t *strides;
  int device; /* attn_device: the kernel's (ATTN_DEVICE_CPU or _CUDA) */
} attn_tensor;

/* A scalar argument: `f` for f16/bf16/f32/f64, `i` for i32/i64/bool.
 * dtype must be the declared one. */
typedef struct attn_scalar {
  int dtype; /* attn_dtype */
  union {
    double f;
    int64_t i;
  } value;
} attn_scalar;

/* One argument of a loaded kernel, as its manifest declares it. Pointers
 * stay valid until attn_unload. */
typedef struct attn_arg_info {
  const char *name;
  int is_output; /* outputs follow the inputs */
  int is_scalar;
  int dtype; /* attn_dtype */
  int rank;  /* 0 for scalars */
  /* Per dimension: the size symbol ("B") or the decimal literal ("64"). */
  const char *const *dims;
  /* Outputs: the value absent points get, as written in the manifest
   * ("0", "-inf", "nan"); NULL when none. */
  const char *fill;
} attn_arg_info;

typedef struct attn_kernel attn_kernel; /* opaque */

/* The message of the last failing call on this thread ("" if none). Valid
 * until the next runtime call on this thread. */
const char *attn_last_error(void);
/* "ATTN_OK", "ATTN_ERROR_INVALID_ARGUMENT", ... */
const char *attn_status_string(attn_status status);

/* Loads a kernel from its manifest (NAME.attn.json) or from its binary
 * (NAME.so or NAME.ptx, the manifest beside it). `*kernel` is set on
 * success. A CUDA kernel opens the CUDA driver (libcuda.so.1, dlopened at
 * first use) and loads its PTX into the current context (or device 0's
 * primary context when the thread has none); without a driver or a GPU this
 * is ATTN_ERROR_NO_DEVICE. */
attn_status attn_load(const char *path, attn_kernel **kernel);
/* Frees the kernel and unloads its shared object. NULL is ignored. Do not
 * unload a kernel while it runs. */
void attn_unload(attn_kernel *kernel);

const char *attn_kernel_name(const attn_kernel *kernel);
/* The target it was compiled for (a Halide target string on the CPU,
 * "cuda:sm_90a" and the like for CUDA). */
const char *attn_kernel_target(const attn_kernel *kernel);
/* Where its tensors live: ATTN_DEVICE_CPU or ATTN_DEVICE_CUDA. */
int attn_kernel_device(const attn_kernel *kernel);
/* All arguments: inputs (tensors and scalars) in order, then outputs. */
size_t attn_kernel_num_args(const attn_kernel *kernel);
size_t attn_kernel_num_tensors(const attn_kernel *kernel);
size_t attn_kernel_num_scalars(const attn_kernel *kernel);
attn_status attn_kernel_arg_info(const attn_kernel *kernel, size_t index,
                                 attn_arg_info *info);

/* Runs the kernel. `tensors`: every tensor argument in argument order (the
 * tensor inputs, then the outputs, which the caller allocates with the
 * declared shapes); `scalars`: every scalar input in order. Checks first:
 * the counts, each dtype, rank, shape against declared literals, size
 * symbols consistent across arguments (and with integer scalars of the same
 * name), strides, NULL data, the device (for CUDA also that each pointer is
 * device memory of the context's GPU, large enough for the tensor). CPU:
 * outputs are written only on ATTN_OK (on ATTN_ERROR_KERNEL they may be
 * partly written). CUDA: the launches are enqueued on the default stream
 * and the call returns without waiting, unless the kernel reports
 * data-dependent errors (the manifest's "errors"): then it waits for the
 * stream to read the error code. Several threads may run the same kernel at
 * once. */
attn_status attn_run(attn_kernel *kernel, const attn_tensor *tensors,
                     size_t num_tensors, const attn_scalar *scalars,
                     size_t num_scalars);

/* attn_run on a CUDA stream (a CUstream / cudaStream_t; NULL: the default
 * stream). A CPU kernel takes no stream: non-NULL is ATTN_ERROR_UNSUPPORTED. */
attn_status attn_run_stream(attn_kernel *kernel, const attn_tensor *tensors,
                            size_t num_tensors, const attn_scalar *scalars,
                            size_t num_scalars, void *stream);

#ifdef __cplusplus
}
#endif

#endif
