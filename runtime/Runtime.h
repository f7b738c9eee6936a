// The C++ wrapper of the runtime's C ABI (runtime/attn_runtime.h): a
// move-only kernel handle that unloads itself, errors as status + message,
// tensor descriptors for host and CUDA device memory.
#ifndef ATTN_RUNTIME_RUNTIME_H
#define ATTN_RUNTIME_RUNTIME_H

#include "runtime/attn_runtime.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace attn::rt {

/// The outcome of a runtime call: ATTN_OK, or a code and its message.
struct Status {
  attn_status code = ATTN_OK;
  std::string message;
  bool ok() const { return code == ATTN_OK; }
  explicit operator bool() const { return ok(); }
  static Status fromLast(attn_status code) {
    return {code, code == ATTN_OK ? std::string() : attn_last_error()};
  }
};

/// A descriptor for contiguous host memory (`shape` must outlive the call).
inline attn_tensor hostTensor(void *data, attn_dtype dtype,
                              const std::vector<int64_t> &shape,
                              const std::vector<int64_t> *strides = nullptr) {
  return attn_tensor{data,
                     dtype,
                     static_cast<int>(shape.size()),
                     shape.data(),
                     strides ? strides->data() : nullptr,
                     ATTN_DEVICE_CPU};
}

/// A descriptor for contiguous memory on the current CUDA context's GPU:
/// `data` is a device pointer (a CUdeviceptr or cudaMalloc's pointer).
inline attn_tensor deviceTensor(void *data, attn_dtype dtype,
                                const std::vector<int64_t> &shape) {
  return attn_tensor{data,    dtype, static_cast<int>(shape.size()),
                     shape.data(), nullptr, ATTN_DEVICE_CUDA};
}

inline attn_scalar floatScalar(attn_dtype dtype, double v) {
  attn_scalar s{};
  s.dtype = dtype;
  s.value.f = v;
  return s;
}

inline attn_scalar intScalar(attn_dtype dtype, int64_t v) {
  attn_scalar s{};
  s.dtype = dtype;
  s.value.i = v;
  return s;
}

/// A loaded kernel; empty (no kernel) after a failed load or a move.
class Kernel {
public:
  Kernel() = default;
  Kernel(Kernel &&o) noexcept : k(std::exchange(o.k, nullptr)) {}
  Kernel &operator=(Kernel &&o) noexcept {
    if (this != &o) {
      attn_unload(k);
      k = std::exchange(o.k, nullptr);
    }
    return *this;
  }
  Kernel(const Kernel &) = delete;
  Kernel &operator=(const Kernel &) = delete;
  ~Kernel() { attn_unload(k); }

  /// Loads from a manifest (NAME.attn.json) or its shared object.
  static Status load(const std::string &path, Kernel &out) {
    attn_kernel *handle = nullptr;
    attn_status code = attn_load(path.c_str(), &handle);
    if (code == ATTN_OK)
      out = Kernel(handle);
    return Status::fromLast(code);
  }

  bool valid() const { return k != nullptr; }
  attn_kernel *handle() const { return k; }
  std::string name() const { return attn_kernel_name(k); }
  std::string target() const { return attn_kernel_target(k); }
  /// ATTN_DEVICE_CPU or ATTN_DEVICE_CUDA: where its tensors must live.
  attn_device device() const {
    return static_cast<attn_device>(attn_kernel_device(k));
  }

  /// Every argument (inputs, then outputs), as the manifest declares it.
  std::vector<attn_arg_info> arguments() const {
    std::vector<attn_arg_info> infos(attn_kernel_num_args(k));
    for (size_t i = 0; i < infos.size(); ++i)
      attn_kernel_arg_info(k, i, &infos[i]);
    return infos;
  }

  /// Runs on `tensors` (tensor inputs, then outputs) and `scalars`; a CUDA
  /// kernel on `stream` (a CUstream or cudaStream_t; null: the default
  /// stream), without waiting for it.
  Status run(const std::vector<attn_tensor> &tensors,
             const std::vector<attn_scalar> &scalars = {},
             void *stream = nullptr) {
    return Status::fromLast(attn_run_stream(k, tensors.data(), tensors.size(),
                                            scalars.data(), scalars.size(),
                                            stream));
  }

private:
  explicit Kernel(attn_kernel *k) : k(k) {}
  attn_kernel *k = nullptr;
};

} // namespace attn::rt

#endif
