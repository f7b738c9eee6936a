// The GPU JIT end to end, on the GPU machine (issue 16): for each .attn file,
// compile it through the C++ JIT API for the current GPU ("cuda") into an
// empty cache, run it on device memory on a stream with the outputs
// poisoned, compare with the float64 reference interpreter, then compile it
// again (a cache hit: no MLIR), run and compare again. It prints one line per
// kernel with both latencies, measured here.
//
//   attn-jit-gpu-check [--cache DIR] FILE.attn...
//
// Sizes are odd, not multiples of any tile: every size symbol gets the value
// of kSizes (others 257, enough for a table indexed by p - m); tensor inputs
// are uniform in [-1, 1), float scalars in [0.25, 0.75), rounded to their
// element types. Kernels with integer inputs (tables) are reported skipped:
// their values need meaning this generic check cannot give them.
// Exit status: 0 when every kernel passed, 1 when one failed, 3 without a
// GPU (nothing ran).
#include "codegen/jit/JitCompiler.h"
#include "runtime/DType.h"

#include <cuda_runtime.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace mlir::attn;
namespace rt = attn::rt;

namespace {

const std::map<std::string, int64_t> kSizes = {
    {"B", 2}, {"H", 4}, {"KVH", 2}, {"P", 67}, {"M", 131}, {"E", 64},
    {"F", 64}};

int64_t sizeOf(const std::string &dim) {
  if (!dim.empty() && std::isdigit(static_cast<unsigned char>(dim[0])))
    return std::stoll(dim);
  auto it = kSizes.find(dim);
  return it == kSizes.end() ? 257 : it->second;
}

double millisecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - t)
      .count();
}

/// A host tensor in its element type, and the same values as doubles.
struct HostTensor {
  rt::DType dtype;
  std::vector<int64_t> shape;
  std::vector<unsigned char> bytes;
  size_t count() const {
    size_t n = 1;
    for (int64_t e : shape)
      n *= static_cast<size_t>(e);
    return n;
  }
};

/// A device copy of `t` (one byte more, so that an empty tensor has an
/// address); appended to `device`. False when it cannot be made.
bool copyToDevice(const HostTensor &t, std::vector<void *> &device) {
  void *p = nullptr;
  if (cudaMalloc(&p, t.bytes.size() + 1) != cudaSuccess)
    return false;
  device.push_back(p);
  return cudaMemcpy(p, t.bytes.data(), t.bytes.size(),
                    cudaMemcpyHostToDevice) == cudaSuccess;
}

attn_tensor deviceTensor(void *data, const HostTensor &t) {
  return attn_tensor{data, static_cast<attn_dtype>(t.dtype),
                     static_cast<int32_t>(t.shape.size()), t.shape.data(),
                     nullptr, ATTN_DEVICE_CUDA};
}

/// One run of `kernel` on device copies of `inputs`; the outputs, read back,
/// go to `outputs`. Empty string on success, else what failed.
std::string runOnGpu(JitKernel &kernel, const std::vector<HostTensor> &inputs,
                     const std::vector<attn_scalar> &scalars,
                     std::vector<HostTensor> &outputs) {
  std::vector<void *> device;
  auto release = [&] {
    for (void *p : device)
      cudaFree(p);
  };
  std::vector<attn_tensor> tensors;
  for (const HostTensor &t : inputs) {
    if (!copyToDevice(t, device)) {
      release();
      return "cannot allocate or copy an input to the GPU";
    }
    tensors.push_back(deviceTensor(device.back(), t));
  }
  std::vector<std::vector<int64_t>> shapes;
  if (JitStatus s = kernel.outputShapes(tensors, scalars, shapes); !s) {
    release();
    return "output shapes: " + s.message();
  }
  outputs.clear();
  for (size_t i = 0; i < shapes.size(); ++i) {
    HostTensor o;
    o.dtype = *rt::parseDType(kernel.outputs()[i].dtype);
    o.shape = shapes[i];
    o.bytes.assign(o.count() * rt::dtypeSize(o.dtype), 0xff); // NaN
    if (!copyToDevice(o, device)) {
      release();
      return "cannot allocate an output on the GPU";
    }
    outputs.push_back(std::move(o));
  }
  for (size_t i = 0; i < outputs.size(); ++i)
    tensors.push_back(deviceTensor(device[inputs.size() + i], outputs[i]));
  cudaStream_t stream = nullptr;
  cudaStreamCreate(&stream);
  std::string error;
  if (JitStatus s = kernel.run(tensors, scalars, stream); !s)
    error = "run: " + s.message();
  for (size_t i = 0; error.empty() && i < outputs.size(); ++i)
    if (cudaMemcpyAsync(outputs[i].bytes.data(), device[inputs.size() + i],
                        outputs[i].bytes.size(), cudaMemcpyDeviceToHost,
                        stream) != cudaSuccess)
      error = "cannot copy an output back";
  if (error.empty() && cudaStreamSynchronize(stream) != cudaSuccess)
    error = std::string("the kernel failed on the GPU: ") +
            cudaGetErrorString(cudaGetLastError());
  cudaStreamDestroy(stream);
  release();
  return error;
}

/// max |got - want| / max |want| over every output; infinity on a NaN (a
/// poisoned element left unwritten) or a shape mismatch.
double relativeError(const std::vector<HostTensor> &got,
                     const std::vector<RefTensor> &want) {
  if (got.size() != want.size())
    return INFINITY;
  double diff = 0, scale = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].shape != want[i].shape)
      return INFINITY;
    for (size_t e = 0; e < got[i].count(); ++e) {
      double g = rt::loadElement(got[i].bytes.data(), got[i].dtype, e);
      double w = want[i].values[e];
      diff = std::max(diff, std::isnan(g) ? INFINITY : std::fabs(g - w));
      scale = std::max(scale, std::fabs(w));
    }
  }
  return scale > 0 ? diff / scale : diff;
}

enum class Outcome { Pass, Fail, Skip };

Outcome checkFile(const std::string &file, const std::string &cacheDir,
                  std::mt19937 &rng) {
  auto say = [&](const char *verdict, const std::string &what) {
    std::printf("%s %s: %s\n", verdict, file.c_str(), what.c_str());
    std::fflush(stdout);
  };
  JitOptions options;
  options.target = "cuda";
  options.cacheDir = cacheDir;
  std::unique_ptr<JitKernel> cold, cached, ref;
  auto t0 = std::chrono::steady_clock::now();
  if (JitStatus s = compileAttnFile(file, options, cold); !s)
    return say("FAIL", "compile: " + s.message()), Outcome::Fail;
  double coldMs = millisecondsSince(t0);

  // Inputs, from the declared signature; outputs of the reference.
  double tolerance = 1e-5;
  std::vector<HostTensor> inputs;
  std::vector<attn_scalar> scalars;
  std::vector<RefArg> refArgs;
  std::uniform_real_distribution<double> value(-1, 1), scalarValue(0.25, 0.75);
  for (const JitValueInfo &in : cold->inputs()) {
    std::optional<rt::DType> dtype = rt::parseDType(in.dtype);
    if (!dtype || !rt::isFloat(*dtype))
      return say("SKIP", "input " + in.name + " is " + in.dtype +
                             " (this check makes float inputs only)"),
             Outcome::Skip;
    if (in.isScalar) {
      double v = rt::roundToDType(scalarValue(rng), *dtype);
      scalars.push_back(attn_scalar{static_cast<int>(*dtype), {v}});
      refArgs.push_back(RefArg::ofScalar(v));
      continue;
    }
    if (*dtype == rt::DType::f16 || *dtype == rt::DType::bf16)
      tolerance = 2e-2;
    HostTensor t;
    t.dtype = *dtype;
    for (const std::string &d : in.dims)
      t.shape.push_back(sizeOf(d));
    t.bytes.resize(t.count() * rt::dtypeSize(t.dtype));
    RefTensor r;
    r.shape = t.shape;
    for (size_t e = 0; e < t.count(); ++e) {
      rt::storeElement(t.bytes.data(), t.dtype, e, value(rng));
      r.values.push_back(rt::loadElement(t.bytes.data(), t.dtype, e));
    }
    inputs.push_back(std::move(t));
    refArgs.push_back(RefArg::ofTensor(std::move(r)));
  }
  for (const JitValueInfo &out : cold->outputs())
    if (out.dtype == "f16" || out.dtype == "bf16")
      tolerance = 2e-2;
  JitOptions refOptions;
  refOptions.target = "ref";
  refOptions.useCache = false;
  std::vector<RefTensor> want;
  if (JitStatus s = compileAttnFile(file, refOptions, ref); !s)
    return say("FAIL", "reference: " + s.message()), Outcome::Fail;
  if (JitStatus s = ref->run(refArgs, want); !s)
    return say("FAIL", "reference run: " + s.message()), Outcome::Fail;

  std::vector<HostTensor> got;
  if (std::string e = runOnGpu(*cold, inputs, scalars, got); !e.empty())
    return say("FAIL", "first run: " + e), Outcome::Fail;
  double coldError = relativeError(got, want);

  auto t1 = std::chrono::steady_clock::now();
  if (JitStatus s = compileAttnFile(file, options, cached); !s)
    return say("FAIL", "second compile: " + s.message()), Outcome::Fail;
  double cachedMs = millisecondsSince(t1);
  if (std::string e = runOnGpu(*cached, inputs, scalars, got); !e.empty())
    return say("FAIL", "run from the cache: " + e), Outcome::Fail;
  double cachedError = relativeError(got, want);

  char line[512];
  std::snprintf(line, sizeof line,
                "kernel %s on %s: cold compile %.1f ms (cache %s), cached "
                "load %.2f ms (cache %s); max relative error %.3g then %.3g "
                "(bound %g)",
                cold->name().c_str(), cold->target().c_str(), coldMs,
                cacheOutcomeName(cold->cacheOutcome()), cachedMs,
                cacheOutcomeName(cached->cacheOutcome()), coldError,
                cachedError, tolerance);
  bool ok = coldError <= tolerance && cachedError <= tolerance &&
            cached->cacheOutcome() == CacheOutcome::Hit;
  say(ok ? "PASS" : "FAIL",
      std::string(line) +
          (cached->cacheOutcome() == CacheOutcome::Hit
               ? ""
               : "; the second compile was not a cache hit"));
  return ok ? Outcome::Pass : Outcome::Fail;
}

} // namespace

int main(int argc, char **argv) {
  std::string cacheDir;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--cache" && i + 1 < argc)
      cacheDir = argv[++i];
    else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "usage: attn-jit-gpu-check [--cache DIR] "
                           "FILE.attn...\n");
      return 2;
    } else
      files.push_back(a);
  }
  if (files.empty()) {
    std::fprintf(stderr, "attn-jit-gpu-check: no .attn file given\n");
    return 2;
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("attn-jit-gpu-check: no GPU here: skipped %zu kernels\n",
                files.size());
    return 3;
  }
  cudaSetDevice(0);
  cudaFree(nullptr); // the runtime API's context, which the kernels use
  if (cacheDir.empty()) {
    char pattern[] = "/tmp/attn-jit-gpu-check-XXXXXX";
    if (!mkdtemp(pattern)) {
      std::fprintf(stderr, "attn-jit-gpu-check: cannot make a cache "
                           "directory under /tmp\n");
      return 1;
    }
    cacheDir = pattern;
  }
  std::mt19937 rng(2026);
  int passed = 0, failed = 0, skipped = 0;
  for (const std::string &file : files) {
    Outcome o = checkFile(file, cacheDir, rng);
    (o == Outcome::Pass ? passed : o == Outcome::Fail ? failed : skipped)++;
  }
  std::printf("attn-jit-gpu-check: %d passed, %d failed, %d skipped (cache "
              "%s)\n",
              passed, failed, skipped, cacheDir.c_str());
  return failed ? 1 : 0;
}
