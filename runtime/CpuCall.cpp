// The argument checks of a CPU kernel call and the Halide buffers over the
// caller's memory (runtime/CpuCall.h). The checks every target makes are
// ArgumentChecks.h; the CPU's own (device, strides, data) are here.
#include "runtime/CpuCall.h"

#include "runtime/ArgumentChecks.h"
#include "runtime/SizeSymbols.h"

#include <cctype>
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

} // namespace

attn_status CpuCall::prepare(const KernelManifest &m,
                             const attn_tensor *tensors, size_t numTensors,
                             const attn_scalar *scalars, size_t numScalars,
                             std::string &error) {
  const std::string &name = m.kernel;
  if (attn_status status = checkArgumentCounts(m, tensors, numTensors, scalars,
                                               numScalars, error))
    return status;

  // Halide indexes in 32 bits, and a kernel rounds an extent up to its
  // tiles (64 keys, vectors, rows, split-reduction workers) in those bits:
  // an extent within 2^16 of 2^31 overflows there (a segfault).
  static const ExtentLimits limits{kMaxCpuExtent,
                                   std::numeric_limits<int32_t>::max(),
                                   "2^31-2^16 per dimension, 2^31-1 elements",
                                   "the CPU target"};
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
  if (attn_status status =
          checkScalars(m, scalars, scalarStorage, symbols, error))
    return status;

  size_t t = 0, s = 0;
  for (const ManifestArgument &a : m.arguments) {
    if (a.isScalar) {
      argv.push_back(scalarStorage[s++].data());
      continue;
    }
    const attn_tensor &x = tensors[t];
    std::string what = (a.isOutput ? "output " : "argument ") + a.name;
    if (attn_status status =
            checkTensorDevice(x, ATTN_DEVICE_CPU, what, name, error))
      return status;
    int64_t count;
    if (attn_status status =
            checkTensorShape(a, x, what, limits, symbols, count, error))
      return status;
    int rank = x.rank;
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
      if (a.isOutput && stride == 0 && extent > 1 && count > 0)
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

  // Nothing to write when every output is empty: the kernel is not called
  // (an empty output may still have inputs with extents it never reads).
  nothingToCompute = true;
  t = 0;
  for (const ManifestArgument &a : m.arguments)
    if (!a.isScalar) {
      const attn_tensor &x = tensors[t++];
      if (!a.isOutput)
        continue;
      bool empty = false;
      for (int k = 0; k < x.rank; ++k)
        empty |= x.shape[k] == 0;
      nothingToCompute &= empty;
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
  return runErrorMessage(m, tensors, errorCode, "the CPU kernel " + m.kernel);
}

std::string CpuCall::describeHalideMessage(const KernelManifest &m,
                                           std::string message) {
  auto replaceAll = [&](const std::string &from, const std::string &to) {
    for (size_t at = message.find(from); at != std::string::npos;
         at = message.find(from, at + to.size())) {
      // Whole names only: "Input buffer K" is not "Input buffer Kc".
      size_t end = at + from.size();
      if (end < message.size() &&
          (std::isalnum(static_cast<unsigned char>(message[end])) ||
           message[end] == '_')) {
        at += 1;
        continue;
      }
      message.replace(at, from.size(), to);
    }
  };
  for (const ManifestArgument &a : m.arguments) {
    if (a.isScalar)
      continue;
    if (a.isOutput)
      replaceAll("Output buffer " + a.name + "_out", "output " + a.name);
    else
      replaceAll("Input buffer " + a.name, "input " + a.name);
  }
  return message;
}
