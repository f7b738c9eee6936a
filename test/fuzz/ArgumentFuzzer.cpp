// The runtime's argument checks as a fuzz target: bytes decode into one CPU
// call (each tensor's dtype, rank, shape, strides, data and device, each
// scalar's dtype and value) of a fixed kernel manifest, checked by
// CpuCall::prepare (the checks of attn_run); or, with the first byte's low
// bits 3, into a manifest text for the manifest parser. Nothing may crash,
// and an accepted call must describe its tensors exactly, within the CPU
// target's limits. Built as a replay driver (attn-argument-replay,
// FuzzReplayMain.h) and, where clang++ is present, with libFuzzer.
#include "runtime/CpuCall.h"
#include "runtime/KernelManifest.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace rt = attn::rt;

namespace {

const char *kManifest = R"({
  "format": "attn-kernel-manifest", "format_version": 1,
  "compiler": "fuzz", "kernel": "decode", "target": "host",
  "entry": "attn_decode_argv", "library": "decode.so",
  "calling_convention": "halide_argv",
  "arguments": [
    {"name": "Q", "role": "input", "kind": "tensor", "dtype": "f32", "dims": ["B", "H", "E"]},
    {"name": "K", "role": "input", "kind": "tensor", "dtype": "bf16", "dims": ["B", "H", "M", "E"]},
    {"name": "n", "role": "input", "kind": "scalar", "dtype": "i32"},
    {"name": "M", "role": "input", "kind": "scalar", "dtype": "i64"},
    {"name": "on", "role": "input", "kind": "scalar", "dtype": "bool"},
    {"name": "V", "role": "input", "kind": "tensor", "dtype": "f16", "dims": ["B", "H", "M", "64"]},
    {"name": "O", "role": "output", "kind": "tensor", "dtype": "f32", "dims": ["B", "H", "64"], "fill": "0"}
  ],
  "errors": []
})";

[[noreturn]] void broken(const char *what) {
  std::fprintf(stderr, "argument fuzz: invariant broken: %s\n", what);
  std::abort();
}

const rt::KernelManifest &manifest() {
  static rt::KernelManifest m = [] {
    rt::KernelManifest parsed;
    std::string error;
    if (!rt::parseKernelManifest(kManifest, "fuzz.attn.json", parsed, error)) {
      std::fprintf(stderr, "argument fuzz: the seed manifest: %s\n",
                   error.c_str());
      std::abort();
    }
    return parsed;
  }();
  return m;
}

/// Reads the input front to back; zeros past its end.
class Reader {
public:
  Reader(const uint8_t *data, size_t size) : data(data), size(size) {}
  uint8_t byte() { return at < size ? data[at++] : 0; }
  int64_t int64() {
    uint64_t v = 0;
    for (int b = 0; b < 8; ++b)
      v |= static_cast<uint64_t>(byte()) << (8 * b);
    return static_cast<int64_t>(v);
  }
  /// Mostly small extents (so that calls get far), sometimes any value.
  int64_t extent() {
    uint8_t kind = byte();
    return kind < 200 ? kind % 9 : int64();
  }

private:
  const uint8_t *data;
  size_t size, at = 0;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 0 && (data[0] & 3) == 3) {
    rt::KernelManifest m;
    std::string error;
    std::string text(reinterpret_cast<const char *>(data) + 1, size - 1);
    if (!rt::parseKernelManifest(text, "fuzz.attn.json", m, error) &&
        error.empty())
      broken("a refused manifest without a message");
    return 0;
  }
  const rt::KernelManifest &m = manifest();
  Reader in(data, size);
  static uint8_t storage[4096];
  constexpr size_t kTensors = 4, kScalars = 3;
  int64_t shapes[kTensors][6], strides[kTensors][6];
  attn_tensor tensors[kTensors];
  const int wantRank[kTensors] = {3, 4, 4, 3};
  const int wantDtype[kTensors] = {ATTN_F32, ATTN_BF16, ATTN_F16, ATTN_F32};
  for (size_t t = 0; t < kTensors; ++t) {
    uint8_t flags = in.byte();
    attn_tensor &x = tensors[t];
    x.dtype = flags & 1 ? in.byte() % 9 - 1 : wantDtype[t];
    x.rank = flags & 2 ? in.byte() % 7 : wantRank[t];
    for (int k = 0; k < 6; ++k)
      shapes[t][k] = in.extent();
    x.shape = flags & 4 ? nullptr : shapes[t];
    bool strided = flags & 8;
    for (int k = 0; k < 6; ++k)
      strides[t][k] = in.byte() < 128 ? in.extent() : -in.extent();
    x.strides = strided ? strides[t] : nullptr;
    x.data = flags & 16 ? nullptr : storage;
    x.device = flags & 32 ? in.byte() % 3 - 1 : ATTN_DEVICE_CPU;
  }
  attn_scalar scalars[kScalars];
  const int scalarDtype[kScalars] = {ATTN_I32, ATTN_I64, ATTN_BOOL};
  for (size_t s = 0; s < kScalars; ++s) {
    uint8_t flags = in.byte();
    scalars[s].dtype = flags & 1 ? in.byte() % 9 - 1 : scalarDtype[s];
    scalars[s].value.i = flags & 2 ? in.int64() : in.extent();
  }
  size_t numTensors = kTensors, numScalars = kScalars;
  uint8_t counts = in.byte();
  if (counts & 1)
    numTensors = counts % 6;
  if (counts & 2)
    numScalars = (counts >> 2) % 5;

  rt::CpuCall call;
  std::string error;
  attn_status status =
      call.prepare(m, tensors, numTensors, scalars, numScalars, error);
  if (status != ATTN_OK) {
    if (error.empty())
      broken("a refused call without a message");
    return 0;
  }
  // Accepted: every tensor described exactly, within the CPU's limits.
  if (numTensors != kTensors || call.buffers.size() != kTensors + 1 ||
      call.argv.size() != kTensors + kScalars + 1)
    broken("an accepted call with the wrong number of arguments");
  for (size_t t = 0; t < kTensors; ++t) {
    const attn_tensor &x = tensors[t];
    const rt::HalideBuffer &b = call.buffers[t];
    if (b.dimensions != x.rank || !b.host)
      broken("a buffer of another rank, or a NULL host pointer");
    int64_t count = 1;
    for (int k = 0; k < x.rank; ++k) {
      int64_t extent = x.shape[k];
      if (extent < 0 || extent > rt::CpuCall::kMaxCpuExtent ||
          b.dim[x.rank - 1 - k].extent != extent)
        broken("an extent out of range or not passed through");
      count *= extent;
    }
    if (count > 0 && x.data == nullptr)
      broken("NULL data accepted for a tensor with elements");
  }
  return 0;
}

#ifdef ATTN_FUZZ_REPLAY
#include "FuzzReplayMain.h"

int main(int argc, char **argv) {
  // Seeds: a valid call (B=1, H=2, M=3, E=4), one with strides, a manifest.
  auto call = [](bool strided) {
    std::string s;
    const int64_t shapes[4][4] = {
        {1, 2, 4}, {1, 2, 3, 4}, {1, 2, 3, 64}, {1, 2, 64}};
    for (int t = 0; t < 4; ++t) {
      s += static_cast<char>(strided && t == 1 ? 8 : 0);
      for (int k = 0; k < 6; ++k)
        s += static_cast<char>(k < 4 ? shapes[t][k] : 0);
      for (int k = 0; k < 6; ++k) {
        s += static_cast<char>(0);
        s += static_cast<char>(k == 3 ? 1 : 0);
      }
    }
    s += std::string("\x00\x05\x00\x03\x00\x01\x00", 7); // n=5, M=3, on=1
    s += static_cast<char>(0);
    return s;
  };
  std::vector<std::string> seeds = {call(false), call(true),
                                    std::string("\x03") + kManifest};
  return runFuzzReplay(argc, argv, "argument replay", seeds);
}
#endif
