// The CPU back end of runtime/attn_runtime.h: dlopens the shared object
// the manifest names, checks every argument of a run (LoaderInternal.h's
// shared checks, then the CPU's strides), and calls the Halide `_argv`
// entry point with buffers it builds.
#include "runtime/LoaderInternal.h"

#include "runtime/DType.h"

#include <dlfcn.h>

#include <array>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

using namespace attn::rt;

namespace {

//===----------------------------------------------------------------------===//
// Halide's buffer ABI (HalideRuntime.h, Halide 14), copied so that the
// runtime does not depend on Halide: a stable C layout.
//===----------------------------------------------------------------------===//

struct HalideDimension {
  int32_t min, extent, stride;
  uint32_t flags;
};
struct HalideType {
  uint8_t code; // 0 int, 1 uint, 2 float, 3 handle, 4 bfloat
  uint8_t bits;
  uint16_t lanes;
};
struct HalideBuffer {
  uint64_t device;
  const void *device_interface;
  uint8_t *host;
  uint64_t flags;
  HalideType type;
  int32_t dimensions;
  HalideDimension *dim;
  void *padding;
};
static_assert(sizeof(HalideBuffer) == 56, "halide_buffer_t layout");

using ArgvEntry = int (*)(void **);
using ErrorHandler = void (*)(void *, const char *);
using SetErrorHandler = ErrorHandler (*)(ErrorHandler);
using ShutdownThreadPool = void (*)();

HalideType halideType(DType t) {
  switch (t) {
  case DType::f16:
    return {2, 16, 1};
  case DType::bf16:
    return {4, 16, 1};
  case DType::f32:
    return {2, 32, 1};
  case DType::f64:
    return {2, 64, 1};
  case DType::i32:
    return {0, 32, 1};
  case DType::i64:
    return {0, 64, 1};
  case DType::boolean:
    return {1, 8, 1};
  }
  return {0, 0, 0};
}

thread_local std::string halideMessages; // what the kernel's runtime said

void onHalideError(void *, const char *message) {
  if (!halideMessages.empty())
    halideMessages += "; ";
  std::string m = message ? message : "";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' '))
    m.pop_back();
  halideMessages += m;
}

/// Everything one call needs, built by the checks.
struct CallFrame {
  std::vector<HalideBuffer> buffers;
  std::vector<std::vector<HalideDimension>> dims;
  std::vector<std::array<uint8_t, 8>> scalarStorage;
  std::vector<void *> argv;
};

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
  const std::string &name = m.kernel;
  size_t num_tensors = kernel.numTensors, num_scalars = kernel.numScalars;
  static const ExtentLimits limits{std::numeric_limits<int32_t>::max(),
                                   std::numeric_limits<int32_t>::max(),
                                   "2^31-1", "the CPU target"};

  SizeSymbols symbols;
  CallFrame frame;
  frame.buffers.resize(num_tensors + 1); // + the error code
  frame.dims.resize(num_tensors + 1);
  frame.scalarStorage.resize(num_scalars);

  // Scalars first: an integer scalar named like a size symbol binds it.
  if (attn_status st = checkScalars(m, scalars, frame.scalarStorage, symbols))
    return st;

  size_t t = 0, s = 0;
  for (const ManifestArgument &a : m.arguments) {
    if (a.isScalar) {
      frame.argv.push_back(frame.scalarStorage[s++].data());
      continue;
    }
    const attn_tensor &x = tensors[t];
    std::string what = (a.isOutput ? "output " : "argument ") + a.name;
    if (x.device != ATTN_DEVICE_CPU)
      return fail(ATTN_ERROR_UNSUPPORTED,
                  what + " is on " + deviceName(x.device) + " (device " +
                      std::to_string(x.device) + "), but kernel " + name +
                      " runs on the CPU: pass host memory (ATTN_DEVICE_CPU)");
    int64_t count;
    if (attn_status st = checkTensorShape(a, x, what, limits, symbols, count))
      return st;
    int rank = x.rank;
    // Strides, in elements; Halide's dimension 0 is the last one.
    std::vector<HalideDimension> &dims = frame.dims[t];
    dims.resize(rank);
    int64_t dense = 1;
    int64_t lowest = 0, highest = 0; // element offsets reached
    for (int k = rank - 1; k >= 0; --k) {
      int64_t extent = x.shape[k];
      int64_t stride = x.strides ? x.strides[k] : dense;
      dense *= extent;
      if (k == rank - 1 && stride != 1 && extent > 1)
        return fail(ATTN_ERROR_UNSUPPORTED,
                    what + " has stride " + std::to_string(stride) +
                        " in its last dimension (" + std::to_string(k) +
                        "); the CPU target needs it contiguous (stride 1): "
                        "copy the tensor first");
      if (stride < std::numeric_limits<int32_t>::min() ||
          stride > std::numeric_limits<int32_t>::max())
        return fail(ATTN_ERROR_UNSUPPORTED,
                    what + " has stride " + std::to_string(stride) +
                        " in dimension " + std::to_string(k) +
                        ", beyond the CPU target's 32-bit strides");
      if (a.isOutput && stride == 0 && extent > 1)
        return fail(ATTN_ERROR_UNSUPPORTED,
                    "output " + a.name + " has stride 0 in dimension " +
                        std::to_string(k) +
                        ": its elements would overlap (outputs need distinct "
                        "elements)");
      if (extent > 0) {
        int64_t reach = stride * (extent - 1);
        (reach < 0 ? lowest : highest) += reach;
      }
      if (k == rank - 1 && extent <= 1)
        stride = 1; // Halide requires 1 here whatever the extent
      dims[rank - 1 - k] = {0, static_cast<int32_t>(extent),
                            static_cast<int32_t>(stride), 0};
    }
    if (count > 0 && (highest - lowest) > std::numeric_limits<int32_t>::max())
      return fail(ATTN_ERROR_UNSUPPORTED,
                  what + " spans more than 2^31-1 elements with its strides");
    static uint8_t empty[64];
    void *data = x.data;
    if (!data) {
      if (count > 0)
        return fail(ATTN_ERROR_INVALID_ARGUMENT,
                    what + " has NULL data (shape " + shapeText(x.shape, rank) +
                        ")");
      // Halide reads a NULL host pointer as a bounds query: never pass one.
      data = empty;
    }
    HalideBuffer &b = frame.buffers[t];
    b = HalideBuffer{};
    b.host = static_cast<uint8_t *>(data);
    b.type = halideType(a.dtype);
    b.dimensions = rank;
    b.dim = dims.data();
    frame.argv.push_back(&b);
    ++t;
  }

  int32_t errorCode = 0;
  HalideBuffer &e = frame.buffers[num_tensors];
  e = HalideBuffer{};
  e.host = reinterpret_cast<uint8_t *>(&errorCode);
  e.type = {0, 32, 1};
  e.dimensions = 0;
  e.dim = nullptr;
  frame.argv.push_back(&e);

  halideMessages.clear();
  int rc = kernel.cpu->entry(frame.argv.data());
  if (rc != 0) {
    std::string message = "the CPU kernel " + name + " failed (Halide error " +
                          std::to_string(rc) + ")";
    if (!halideMessages.empty())
      message += ": " + halideMessages;
    halideMessages.clear();
    return fail(ATTN_ERROR_KERNEL, message);
  }
  if (errorCode != 0)
    return fail(ATTN_ERROR_KERNEL, runErrorMessage(m, tensors, errorCode,
                                                   "the CPU kernel " + name));
  return ATTN_OK;
}
