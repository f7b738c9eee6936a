// The C ABI of runtime/attn_runtime.h for CPU kernels: reads the manifest,
// dlopens the shared object, checks every argument of a run against the
// manifest, and calls the Halide `_argv` entry point with buffers it builds.
#include "runtime/SizeSymbols.h"
#include "runtime/attn_runtime.h"

#include "runtime/DType.h"
#include "runtime/KernelManifest.h"

#include <dlfcn.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
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

std::string shapeText(const int64_t *shape, int rank) {
  std::string s = "[";
  for (int i = 0; i < rank; ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
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

const char *deviceName(int device) {
  switch (device) {
  case ATTN_DEVICE_CPU:
    return "the CPU";
  case ATTN_DEVICE_CUDA:
    return "a CUDA device";
  default:
    return "an unknown device";
  }
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

namespace {

bool isLiteral(const std::string &dim, int64_t &value) {
  if (dim.empty() || dim.size() > 18)
    return false;
  value = 0;
  for (char c : dim) {
    if (c < '0' || c > '9')
      return false;
    value = value * 10 + (c - '0');
  }
  return true;
}

const char *dtypeText(int dtype) {
  if (dtype < 0 || dtype > static_cast<int>(DType::boolean))
    return nullptr;
  return dtypeName(static_cast<DType>(dtype));
}

/// Everything one call needs, built by the checks.
struct CallFrame {
  std::vector<HalideBuffer> buffers;
  std::vector<std::vector<HalideDimension>> dims;
  std::vector<std::array<uint8_t, 8>> scalarStorage;
  std::vector<void *> argv;
};

} // namespace

extern "C" attn_status attn_run(attn_kernel *kernel, const attn_tensor *tensors,
                                size_t num_tensors, const attn_scalar *scalars,
                                size_t num_scalars) {
  lastError.clear();
  if (!kernel)
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_run: kernel is NULL");
  const KernelManifest &m = kernel->manifest;
  const std::string &name = m.kernel;
  if (num_tensors != kernel->numTensors || num_scalars != kernel->numScalars)
    return fail(ATTN_ERROR_INVALID_ARGUMENT,
                "kernel " + name + " takes " +
                    std::to_string(kernel->numTensors) + " tensors and " +
                    std::to_string(kernel->numScalars) + " scalars, got " +
                    std::to_string(num_tensors) + " tensors and " +
                    std::to_string(num_scalars) + " scalars");
  if ((num_tensors && !tensors) || (num_scalars && !scalars))
    return fail(ATTN_ERROR_INVALID_ARGUMENT,
                "attn_run: the tensor or scalar array of kernel " + name +
                    " is NULL");

  SizeSymbols symbols;
  std::string error;
  auto bind = [&](const std::string &sym, int64_t value,
                  const std::string &where) {
    return symbols.bind(sym, value, where, error);
  };

  CallFrame frame;
  frame.buffers.resize(num_tensors + 1); // + the error code
  frame.dims.resize(num_tensors + 1);
  frame.scalarStorage.resize(num_scalars);

  // Scalars first: an integer scalar named like a size symbol binds it.
  size_t s = 0;
  for (const ManifestArgument &a : m.arguments) {
    if (!a.isScalar)
      continue;
    const attn_scalar &v = scalars[s];
    const char *given = dtypeText(v.dtype);
    if (!given)
      return fail(ATTN_ERROR_INVALID_ARGUMENT, "scalar " + a.name +
                                                   " has unknown dtype " +
                                                   std::to_string(v.dtype));
    if (static_cast<DType>(v.dtype) != a.dtype)
      return fail(ATTN_ERROR_INVALID_ARGUMENT,
                  "scalar " + a.name + " must be " + dtypeName(a.dtype) +
                      ", got " + given);
    uint8_t *p = frame.scalarStorage[s].data();
    switch (a.dtype) {
    case DType::f16:
    case DType::bf16: {
      // Passed as f32 holding a value of the declared type (as the JIT).
      float f = static_cast<float>(roundToDType(v.value.f, a.dtype));
      std::memcpy(p, &f, 4);
      break;
    }
    case DType::f32: {
      float f = static_cast<float>(v.value.f);
      std::memcpy(p, &f, 4);
      break;
    }
    case DType::f64:
      std::memcpy(p, &v.value.f, 8);
      break;
    case DType::i32: {
      if (v.value.i < std::numeric_limits<int32_t>::min() ||
          v.value.i > std::numeric_limits<int32_t>::max())
        return fail(ATTN_ERROR_INVALID_ARGUMENT, "scalar " + a.name + " is " +
                                                     std::to_string(v.value.i) +
                                                     ", which is not an i32");
      int32_t i = static_cast<int32_t>(v.value.i);
      std::memcpy(p, &i, 4);
      break;
    }
    case DType::i64:
      std::memcpy(p, &v.value.i, 8);
      break;
    case DType::boolean:
      p[0] = v.value.i != 0;
      break;
    }
    if ((a.dtype == DType::i32 || a.dtype == DType::i64) &&
        !bind(a.name, v.value.i, "scalar " + a.name))
      return fail(ATTN_ERROR_INVALID_ARGUMENT, error);
    ++s;
  }

  size_t t = 0;
  s = 0;
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
    const char *given = dtypeText(x.dtype);
    if (!given)
      return fail(ATTN_ERROR_INVALID_ARGUMENT,
                  what + " has unknown dtype " + std::to_string(x.dtype));
    if (static_cast<DType>(x.dtype) != a.dtype)
      return fail(ATTN_ERROR_INVALID_ARGUMENT,
                  what + " must be " + dtypeName(a.dtype) + ", got " + given);
    int rank = static_cast<int>(a.dims.size());
    if (x.rank != rank)
      return fail(ATTN_ERROR_INVALID_ARGUMENT,
                  what + " must have rank " + std::to_string(rank) +
                      ", got rank " + std::to_string(x.rank));
    if (rank > 0 && !x.shape)
      return fail(ATTN_ERROR_INVALID_ARGUMENT, what + " has a NULL shape");
    int64_t count = 1;
    for (int k = 0; k < rank; ++k) {
      int64_t extent = x.shape[k];
      std::string where = "dimension " + std::to_string(k) + " of " + a.name;
      if (extent < 0 || extent > std::numeric_limits<int32_t>::max())
        return fail(ATTN_ERROR_INVALID_ARGUMENT,
                    where + " has extent " + std::to_string(extent) +
                        " (the CPU target supports 0 to 2^31-1)");
      int64_t literal;
      if (isLiteral(a.dims[k], literal)) {
        if (literal != extent)
          return fail(ATTN_ERROR_INVALID_ARGUMENT,
                      where + " must be " + a.dims[k] + ", got " +
                          std::to_string(extent) + " (shape " +
                          shapeText(x.shape, rank) + ")");
      } else if (a.dims[k][0] != '?' && !bind(a.dims[k], extent, where)) {
        return fail(ATTN_ERROR_INVALID_ARGUMENT, error);
      }
      count *= extent;
      if (count > std::numeric_limits<int32_t>::max())
        return fail(ATTN_ERROR_INVALID_ARGUMENT,
                    what + " has too many elements for the CPU target "
                           "(2^31-1 at most)");
    }
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
  int rc = kernel->entry(frame.argv.data());
  if (rc != 0) {
    std::string message = "the CPU kernel " + name + " failed (Halide error " +
                          std::to_string(rc) + ")";
    if (!halideMessages.empty())
      message += ": " + halideMessages;
    halideMessages.clear();
    return fail(ATTN_ERROR_KERNEL, message);
  }
  if (errorCode > 0 && static_cast<size_t>(errorCode) <= m.errors.size()) {
    const ManifestRunError &r = m.errors[errorCode - 1];
    std::string message = "kernel " + name + ": " + r.what;
    if (r.argument >= 0 && r.dimension >= 0) {
      // The argument's tensor index: count the tensors before it.
      size_t ti = 0;
      for (int i = 0; i < r.argument; ++i)
        ti += !m.arguments[i].isScalar;
      const attn_tensor &x = tensors[ti];
      if (r.dimension < x.rank)
        message += ": dimension " + std::to_string(r.dimension) +
                   " has extent " + std::to_string(x.shape[r.dimension]) +
                   " (shape " + shapeText(x.shape, x.rank) + ")";
    } else if (r.dimension >= 0) {
      message += " (dimension " + std::to_string(r.dimension) + ")";
    }
    message += ", " + r.where;
    return fail(ATTN_ERROR_KERNEL, message);
  }
  if (errorCode != 0)
    return fail(ATTN_ERROR_KERNEL, "the CPU kernel " + name +
                                       " reported error code " +
                                       std::to_string(errorCode));
  return ATTN_OK;
}
