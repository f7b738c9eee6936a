// The argument checks of a CPU kernel call and the Halide buffers over the
// caller's memory (runtime/CpuCall.h).
#include "runtime/CpuCall.h"

#include "runtime/SizeSymbols.h"

#include <cstring>
#include <limits>

using namespace attn::rt;

namespace {

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

std::string shapeText(const int64_t *shape, int rank) {
  std::string s = "[";
  for (int i = 0; i < rank; ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
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

} // namespace

attn_status CpuCall::prepare(const KernelManifest &m,
                             const attn_tensor *tensors, size_t numTensors,
                             const attn_scalar *scalars, size_t numScalars,
                             std::string &error) {
  const std::string &name = m.kernel;
  size_t wantTensors = 0, wantScalars = 0;
  for (const ManifestArgument &a : m.arguments)
    (a.isScalar ? wantScalars : wantTensors)++;
  if (numTensors != wantTensors || numScalars != wantScalars) {
    error = "kernel " + name + " takes " + std::to_string(wantTensors) +
            " tensors and " + std::to_string(wantScalars) + " scalars, got " +
            std::to_string(numTensors) + " tensors and " +
            std::to_string(numScalars) + " scalars";
    return ATTN_ERROR_INVALID_ARGUMENT;
  }
  if ((numTensors && !tensors) || (numScalars && !scalars)) {
    error = "attn_run: the tensor or scalar array of kernel " + name +
            " is NULL";
    return ATTN_ERROR_INVALID_ARGUMENT;
  }

  SizeSymbols symbols;
  auto fail = [&](attn_status status, std::string message) {
    error = std::move(message);
    return status;
  };
  buffers.assign(numTensors + 1, HalideBuffer{}); // + the error code
  dims.assign(numTensors + 1, {});
  scalarStorage.assign(numScalars, {});
  argv.clear();

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
    uint8_t *p = scalarStorage[s].data();
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
      return ATTN_ERROR_INVALID_ARGUMENT;
    ++s;
  }

  size_t t = 0;
  s = 0;
  for (const ManifestArgument &a : m.arguments) {
    if (a.isScalar) {
      argv.push_back(scalarStorage[s++].data());
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
      } else if (a.dims[k][0] != '?' &&
                 !symbols.bind(a.dims[k], extent, where, error)) {
        return ATTN_ERROR_INVALID_ARGUMENT;
      }
      count *= extent;
      if (count > std::numeric_limits<int32_t>::max())
        return fail(ATTN_ERROR_INVALID_ARGUMENT,
                    what + " has too many elements for the CPU target "
                           "(2^31-1 at most)");
    }
    // Strides, in elements; Halide's dimension 0 is the last one.
    std::vector<HalideDimension> &d = dims[t];
    d.resize(rank);
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
      d[rank - 1 - k] = {0, static_cast<int32_t>(extent),
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
    HalideBuffer &b = buffers[t];
    b.host = static_cast<uint8_t *>(data);
    b.type = halideType(a.dtype);
    b.dimensions = rank;
    b.dim = d.data();
    argv.push_back(&b);
    ++t;
  }

  errorCode = 0;
  HalideBuffer &e = buffers[numTensors];
  e.host = reinterpret_cast<uint8_t *>(&errorCode);
  e.type = {0, 32, 1};
  e.dimensions = 0;
  e.dim = nullptr;
  argv.push_back(&e);
  return ATTN_OK;
}

std::string CpuCall::errorMessage(const KernelManifest &m,
                                  const attn_tensor *tensors) const {
  const std::string &name = m.kernel;
  if (errorCode <= 0 || static_cast<size_t>(errorCode) > m.errors.size())
    return "the CPU kernel " + name + " reported error code " +
           std::to_string(errorCode);
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
  return message + ", " + r.where;
}
