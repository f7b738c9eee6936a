// The argument checks every target makes (runtime/ArgumentChecks.h).
#include "runtime/ArgumentChecks.h"

#include "runtime/DType.h"

#include <cstring>
#include <limits>

using namespace attn::rt;

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

attn_status failWith(std::string &error, attn_status status,
                     std::string message) {
  error = std::move(message);
  return status;
}

} // namespace

std::string attn::rt::shapeText(const int64_t *shape, int rank) {
  std::string s = "[";
  for (int i = 0; i < rank; ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
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

attn_status attn::rt::checkArgumentCounts(const KernelManifest &m,
                                          const attn_tensor *tensors,
                                          size_t numTensors,
                                          const attn_scalar *scalars,
                                          size_t numScalars,
                                          std::string &error) {
  size_t wantTensors = 0, wantScalars = 0;
  for (const ManifestArgument &a : m.arguments)
    (a.isScalar ? wantScalars : wantTensors)++;
  if (numTensors != wantTensors || numScalars != wantScalars)
    return failWith(error, ATTN_ERROR_INVALID_ARGUMENT,
                    "kernel " + m.kernel + " takes " +
                        std::to_string(wantTensors) + " tensors and " +
                        std::to_string(wantScalars) + " scalars, got " +
                        std::to_string(numTensors) + " tensors and " +
                        std::to_string(numScalars) + " scalars");
  if ((numTensors && !tensors) || (numScalars && !scalars))
    return failWith(error, ATTN_ERROR_INVALID_ARGUMENT,
                    "attn_run: the tensor or scalar array of kernel " +
                        m.kernel + " is NULL");
  return ATTN_OK;
}

attn_status attn::rt::checkScalars(const KernelManifest &m,
                                   const attn_scalar *scalars,
                                   std::vector<std::array<uint8_t, 8>> &storage,
                                   SizeSymbols &symbols, std::string &error) {
  size_t s = 0;
  for (const ManifestArgument &a : m.arguments) {
    if (!a.isScalar)
      continue;
    const attn_scalar &v = scalars[s];
    const char *given = dtypeText(v.dtype);
    if (!given)
      return failWith(error, ATTN_ERROR_INVALID_ARGUMENT,
                      "scalar " + a.name + " has unknown dtype " +
                          std::to_string(v.dtype));
    if (static_cast<DType>(v.dtype) != a.dtype)
      return failWith(error, ATTN_ERROR_INVALID_ARGUMENT,
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
        return failWith(error, ATTN_ERROR_INVALID_ARGUMENT,
                        "scalar " + a.name + " is " +
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
      if (v.value.i != 0 && v.value.i != 1)
        return failWith(error, ATTN_ERROR_INVALID_ARGUMENT,
                        "scalar " + a.name + " is " +
                            std::to_string(v.value.i) +
                            ", which is not a bool (0 or 1)");
      p[0] = v.value.i != 0;
      break;
    }
    if ((a.dtype == DType::i32 || a.dtype == DType::i64) &&
        !symbols.bind(a.name, v.value.i, "scalar " + a.name, error))
      return ATTN_ERROR_INVALID_ARGUMENT;
    ++s;
  }
  return ATTN_OK;
}

attn_status attn::rt::checkTensorDevice(const attn_tensor &x, int device,
                                        const std::string &what,
                                        const std::string &kernel,
                                        std::string &error) {
  if (x.device == device)
    return ATTN_OK;
  return failWith(error, ATTN_ERROR_UNSUPPORTED,
                  what + " is on " + deviceName(x.device) + " (device " +
                      std::to_string(x.device) + "), but kernel " + kernel +
                      " runs on " + deviceName(device) +
                      (device == ATTN_DEVICE_CPU
                           ? ": pass host memory (ATTN_DEVICE_CPU)"
                           : ": pass device memory (ATTN_DEVICE_CUDA)"));
}

attn_status attn::rt::checkTensorShape(const ManifestArgument &a,
                                       const attn_tensor &x,
                                       const std::string &what,
                                       const ExtentLimits &limits,
                                       SizeSymbols &symbols, int64_t &count,
                                       std::string &error) {
  const char *given = dtypeText(x.dtype);
  if (!given)
    return failWith(error, ATTN_ERROR_INVALID_ARGUMENT,
                    what + " has unknown dtype " + std::to_string(x.dtype));
  if (static_cast<DType>(x.dtype) != a.dtype)
    return failWith(error, ATTN_ERROR_INVALID_ARGUMENT,
                    what + " must be " + dtypeName(a.dtype) + ", got " +
                        given);
  int rank = static_cast<int>(a.dims.size());
  if (x.rank != rank)
    return failWith(error, ATTN_ERROR_INVALID_ARGUMENT,
                    what + " must have rank " + std::to_string(rank) +
                        ", got rank " + std::to_string(x.rank));
  if (rank > 0 && !x.shape)
    return failWith(error, ATTN_ERROR_INVALID_ARGUMENT,
                    what + " has a NULL shape");
  count = 1;
  for (int k = 0; k < rank; ++k) {
    int64_t extent = x.shape[k];
    std::string where = "dimension " + std::to_string(k) + " of " + a.name;
    if (extent < 0 || extent > limits.maxExtent)
      return failWith(error, ATTN_ERROR_INVALID_ARGUMENT,
                      where + " has extent " + std::to_string(extent) + " (" +
                          limits.target + " supports 0 to " + limits.maxText +
                          ")");
    int64_t literal;
    if (isLiteral(a.dims[k], literal)) {
      if (literal != extent)
        return failWith(error, ATTN_ERROR_INVALID_ARGUMENT,
                        where + " must be " + a.dims[k] + ", got " +
                            std::to_string(extent) + " (shape " +
                            shapeText(x.shape, rank) + ")");
    } else if (a.dims[k][0] != '?' &&
               !symbols.bind(a.dims[k], extent, where, error)) {
      return ATTN_ERROR_INVALID_ARGUMENT;
    }
    if (__builtin_mul_overflow(count, extent, &count) ||
        count > limits.maxElements)
      return failWith(error, ATTN_ERROR_INVALID_ARGUMENT,
                      what + " has too many elements for " + limits.target +
                          " (" + limits.maxText + " at most)");
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
