// The C ABI of runtime/attn_runtime.h: reads and checks the manifest, hands
// the kernel to its back end (CpuLoader.cpp or CudaLoader.cpp), and holds the
// argument checks that every target shares.
#include "runtime/LoaderInternal.h"

#include "runtime/DType.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>

using namespace attn::rt;

namespace {

thread_local std::string lastError;

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

void freeKernel(attn_kernel *k) {
  if (k->cpu)
    unloadCpu(k->cpu);
  if (k->cuda)
    unloadCuda(k->cuda);
  delete k;
}

} // namespace

//===----------------------------------------------------------------------===//
// Shared helpers
//===----------------------------------------------------------------------===//

attn_status attn::rt::fail(attn_status status, std::string message) {
  lastError = std::move(message);
  return status;
}

std::string attn::rt::shapeText(const int64_t *shape, int rank) {
  std::string s = "[";
  for (int i = 0; i < rank; ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool attn::rt::endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string attn::rt::directoryOf(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

const char *attn::rt::deviceName(int device) {
  switch (device) {
  case ATTN_DEVICE_CPU:
    return "the CPU";
  case ATTN_DEVICE_CUDA:
    return "a CUDA device";
  default:
    return "an unknown device";
  }
}

attn_status attn::rt::artefactPath(const attn_kernel &k,
                                   const std::string &given,
                                   const std::string &file,
                                   std::string &path) {
  path = file[0] == '/' ? file : directoryOf(k.manifestPath) + file;
  // The manifest names the file; a binary path given by the caller must be
  // that file (a manifest beside a different file is a mismatch).
  if (!endsWith(given, ".json") && directoryOf(given) + file != given &&
      path != given)
    return fail(ATTN_ERROR_MANIFEST,
                k.manifestPath + " describes " + path + ", not " + given);
  return ATTN_OK;
}

attn_status attn::rt::checkScalars(const KernelManifest &m,
                                   const attn_scalar *scalars,
                                   std::vector<std::array<uint8_t, 8>> &storage,
                                   SizeSymbols &symbols) {
  std::string error;
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
    uint8_t *p = storage[s].data();
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
        !symbols.bind(a.name, v.value.i, "scalar " + a.name, error))
      return fail(ATTN_ERROR_INVALID_ARGUMENT, error);
    ++s;
  }
  return ATTN_OK;
}

attn_status attn::rt::checkTensorShape(const ManifestArgument &a,
                                       const attn_tensor &x,
                                       const std::string &what,
                                       const ExtentLimits &limits,
                                       SizeSymbols &symbols, int64_t &count) {
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
  std::string error;
  count = 1;
  for (int k = 0; k < rank; ++k) {
    int64_t extent = x.shape[k];
    std::string where = "dimension " + std::to_string(k) + " of " + a.name;
    if (extent < 0 || extent > limits.maxExtent)
      return fail(ATTN_ERROR_INVALID_ARGUMENT,
                  where + " has extent " + std::to_string(extent) + " (" +
                      limits.target + " supports 0 to " + limits.maxText + ")");
    int64_t literal;
    if (isLiteral(a.dims[k], literal)) {
      if (literal != extent)
        return fail(ATTN_ERROR_INVALID_ARGUMENT,
                    where + " must be " + a.dims[k] + ", got " +
                        std::to_string(extent) + " (shape " +
                        shapeText(x.shape, rank) + ")");
    } else if (a.dims[k][0] != '?' &&
               !symbols.bind(a.dims[k], extent, where, error)) {
      return fail(ATTN_ERROR_INVALID_ARGUMENT, error);
    }
    if (__builtin_mul_overflow(count, extent, &count) ||
        count > limits.maxElements)
      return fail(ATTN_ERROR_INVALID_ARGUMENT,
                  what + " has too many elements for " + limits.target + " (" +
                      limits.maxText + " at most)");
  }
  return ATTN_OK;
}

std::string attn::rt::runErrorMessage(const KernelManifest &m,
                                      const attn_tensor *tensors, int32_t code,
                                      const std::string &targetKernel) {
  if (code <= 0 || static_cast<size_t>(code) > m.errors.size())
    return targetKernel + " reported error code " + std::to_string(code);
  const ManifestRunError &r = m.errors[code - 1];
  std::string message = "kernel " + m.kernel + ": " + r.what;
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
  return message + ", " + r.where;
}

//===----------------------------------------------------------------------===//
// The C ABI
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
  case ATTN_ERROR_NO_DEVICE:
    return "ATTN_ERROR_NO_DEVICE";
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
  std::unique_ptr<attn_kernel, void (*)(attn_kernel *)> k(new attn_kernel,
                                                          freeKernel);
  k->manifestPath = manifestPath;
  std::string error;
  if (!parseKernelManifest(text.str(), manifestPath, k->manifest, error))
    return fail(ATTN_ERROR_MANIFEST, error);
  const KernelManifest &m = k->manifest;
  for (const ManifestArgument &a : m.arguments) {
    std::vector<const char *> dims;
    for (const std::string &d : a.dims)
      dims.push_back(d.c_str());
    k->dimNames.push_back(std::move(dims));
    (a.isScalar ? k->numScalars : k->numTensors)++;
  }
  for (const ManifestRunError &e : m.errors)
    if (e.argument >= static_cast<int>(m.arguments.size()) ||
        (e.argument >= 0 && m.arguments[e.argument].isScalar))
      return fail(ATTN_ERROR_MANIFEST,
                  manifestPath + ": error \"" + e.what + "\" names argument " +
                      std::to_string(e.argument) + ", which is not a tensor");

  attn_status status = m.isCuda() ? loadCuda(*k, given) : loadCpu(*k, given);
  if (status != ATTN_OK)
    return status;
  *kernel = k.release();
  return ATTN_OK;
}

extern "C" void attn_unload(attn_kernel *kernel) {
  if (kernel)
    freeKernel(kernel);
}

extern "C" const char *attn_kernel_name(const attn_kernel *kernel) {
  return kernel ? kernel->manifest.kernel.c_str() : "";
}

extern "C" const char *attn_kernel_target(const attn_kernel *kernel) {
  return kernel ? kernel->manifest.target.c_str() : "";
}

extern "C" int attn_kernel_device(const attn_kernel *kernel) {
  return kernel && kernel->cuda ? ATTN_DEVICE_CUDA : ATTN_DEVICE_CPU;
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

extern "C" attn_status attn_run_stream(attn_kernel *kernel,
                                       const attn_tensor *tensors,
                                       size_t num_tensors,
                                       const attn_scalar *scalars,
                                       size_t num_scalars, void *stream) {
  lastError.clear();
  if (!kernel)
    return fail(ATTN_ERROR_INVALID_ARGUMENT, "attn_run: kernel is NULL");
  const std::string &name = kernel->manifest.kernel;
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
  if (kernel->cuda)
    return runCuda(*kernel, tensors, scalars, stream);
  if (stream)
    return fail(ATTN_ERROR_UNSUPPORTED,
                "kernel " + name +
                    " runs on the CPU and takes no stream: pass NULL");
  return runCpu(*kernel, tensors, scalars);
}

extern "C" attn_status attn_run(attn_kernel *kernel, const attn_tensor *tensors,
                                size_t num_tensors, const attn_scalar *scalars,
                                size_t num_scalars) {
  return attn_run_stream(kernel, tensors, num_tensors, scalars, num_scalars,
                         nullptr);
}
