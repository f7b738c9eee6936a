// The JIT on the GPU in one page (docs/jit.md): compile examples/mha.attn for
// the current GPU ("cuda": its architecture is read through the driver), run
// it on device memory from the CUDA runtime on a stream of the caller's,
// and compare with the reference interpreter on the same inputs.
//
//   attn-jit-cuda-example [FILE.attn]     (a kernel with bf16 Q, K, V -> O)
//
// Exit status 0 when the largest relative error is within 2e-2 (bf16), 1
// otherwise, 3 without a GPU.
#include "codegen/jit/JitCompiler.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace mlir::attn;

namespace {

uint16_t toBf16(float f) { // round to nearest even
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return static_cast<uint16_t>((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

float fromBf16(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

int fail(const std::string &what) {
  std::fprintf(stderr, "attn-jit-cuda-example: %s\n", what.c_str());
  return 1;
}

} // namespace

int main(int argc, char **argv) {
  std::string file = argc > 1 ? argv[1] : ATTN_SOURCE_DIR "/examples/mha.attn";
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "attn-jit-cuda-example: no GPU here: skipped\n");
    return 3;
  }
  cudaSetDevice(0);
  cudaFree(nullptr); // the runtime's context, which the kernel will use

  JitOptions options;
  options.target = "cuda";
  std::unique_ptr<JitKernel> gpu, ref;
  if (JitStatus s = compileAttnFile(file, options, gpu); !s)
    return fail(s.message());
  options.target = "ref";
  if (JitStatus s = compileAttnFile(file, options, ref); !s)
    return fail(s.message());

  // Q [B,H,P,E], K [B,H,M,E], V [B,H,M,F] at odd sizes; values in [-1, 1),
  // rounded to bf16 so that both targets see the same numbers.
  const int64_t B = 2, H = 3, P = 131, M = 197, E = 64, F = 64;
  std::vector<std::vector<int64_t>> shapes = {
      {B, H, P, E}, {B, H, M, E}, {B, H, M, F}, {B, H, P, F}};
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> value(-1, 1);
  std::vector<RefArg> args;
  std::vector<void *> device;
  std::vector<attn_tensor> tensors;
  for (size_t i = 0; i < shapes.size(); ++i) {
    size_t n = 1;
    for (int64_t e : shapes[i])
      n *= e;
    std::vector<uint16_t> host(n, 0xffff); // outputs poisoned (NaN)
    RefTensor t;
    t.shape = shapes[i];
    if (i < 3)
      for (size_t e = 0; e < n; ++e) {
        host[e] = toBf16(value(rng));
        t.values.push_back(fromBf16(host[e]));
      }
    void *p = nullptr;
    if (cudaMalloc(&p, n * 2) != cudaSuccess ||
        cudaMemcpy(p, host.data(), n * 2, cudaMemcpyHostToDevice) != cudaSuccess)
      return fail("cannot allocate or copy to the GPU");
    device.push_back(p);
    tensors.push_back(attn_tensor{p, ATTN_BF16, 4, shapes[i].data(), nullptr,
                                  ATTN_DEVICE_CUDA});
    if (i < 3)
      args.push_back(RefArg::ofTensor(std::move(t)));
  }

  cudaStream_t stream;
  cudaStreamCreate(&stream);
  if (JitStatus s = gpu->run(tensors, {}, stream); !s) // enqueued
    return fail(s.message());
  std::vector<uint16_t> out(B * H * P * F);
  cudaMemcpyAsync(out.data(), device[3], out.size() * 2, cudaMemcpyDeviceToHost,
                  stream);
  if (cudaStreamSynchronize(stream) != cudaSuccess)
    return fail("the kernel failed on the GPU");

  std::vector<RefTensor> want;
  if (JitStatus s = ref->run(args, want); !s)
    return fail(s.message());
  double diff = 0, scale = 0;
  for (size_t e = 0; e < out.size(); ++e) {
    double got = fromBf16(out[e]), w = want[0].values[e];
    diff = std::max(diff, std::isnan(got) ? INFINITY : std::fabs(got - w));
    scale = std::max(scale, std::fabs(w));
  }
  std::printf("kernel %s on %s: cache %s; max relative error vs reference "
              "%.3g\n",
              gpu->name().c_str(), gpu->target().c_str(),
              cacheOutcomeName(gpu->cacheOutcome()), diff / scale);
  for (void *p : device)
    cudaFree(p);
  cudaStreamDestroy(stream);
  return diff / scale <= 2e-2 ? 0 : 1;
}
