// The .npy reader fuzz target: any bytes give an error or an array whose
// data matches its shape and dtype, and that writes back and reads back the
// same. Built as a replay driver (attn-npy-replay, seeds and mutations,
// FuzzReplayMain.h) and, where clang++ is present, with libFuzzer.
#include "runtime/DType.h"
#include "runtime/Npy.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace rt = attn::rt;

namespace {

[[noreturn]] void broken(const char *what) {
  std::fprintf(stderr, "npy fuzz: invariant broken: %s\n", what);
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rt::NpyArray array;
  std::string error;
  if (!rt::parseNpy(data, size, "fuzz.npy", array, error)) {
    if (error.empty())
      broken("a refusal without a message");
    return 0;
  }
  uint64_t count = 1;
  for (int64_t d : array.shape) {
    if (d < 0)
      broken("a negative extent");
    if (__builtin_mul_overflow(count, static_cast<uint64_t>(d), &count))
      broken("an element count past 2^64");
  }
  if (count != array.numElements() ||
      array.data.size() != count * rt::dtypeSize(array.dtype))
    broken("data that does not match the shape");
  std::vector<uint8_t> bytes;
  if (!rt::serializeNpy(array, bytes, error))
    broken("an array read that cannot be written");
  rt::NpyArray again;
  if (!rt::parseNpy(bytes.data(), bytes.size(), "again.npy", again, error) ||
      again.shape != array.shape || again.data != array.data)
    broken("an array that does not read back the same");
  return 0;
}

#ifdef ATTN_FUZZ_REPLAY
#include "FuzzReplayMain.h"

int main(int argc, char **argv) {
  std::vector<std::string> seeds;
  auto add = [&](rt::DType dtype, std::vector<int64_t> shape) {
    rt::NpyArray a;
    a.dtype = dtype;
    a.shape = shape;
    a.data.resize(a.numElements() * rt::dtypeSize(dtype));
    for (size_t i = 0; i < a.data.size(); ++i)
      a.data[i] = static_cast<uint8_t>(i * 37);
    if (dtype == rt::DType::boolean)
      for (uint8_t &b : a.data)
        b &= 1;
    std::vector<uint8_t> bytes;
    std::string error;
    if (!rt::serializeNpy(a, bytes, error)) {
      std::fprintf(stderr, "npy replay: cannot make a seed: %s\n",
                   error.c_str());
      std::exit(1);
    }
    seeds.emplace_back(bytes.begin(), bytes.end());
  };
  add(rt::DType::f32, {2, 3});
  add(rt::DType::f16, {4});
  add(rt::DType::f64, {});
  add(rt::DType::i32, {1, 0, 5});
  add(rt::DType::i64, {3, 1});
  add(rt::DType::boolean, {2, 2, 2});
  add(rt::DType::f32, std::vector<int64_t>(40, 1)); // a long header
  return runFuzzReplay(argc, argv, "npy replay", seeds);
}
#endif
