// The replay driver of a fuzz target (built with ATTN_FUZZ_REPLAY): runs
// the target's seeds, then random mutations of them (byte flips, inserted
// and deleted bytes, splices of two seeds), for -runs=N inputs or
// -seconds=S, whichever comes first. A crash or a broken invariant aborts
// (the target checks its own invariants); otherwise it prints one line.
#ifndef ATTN_TEST_FUZZ_FUZZREPLAYMAIN_H
#define ATTN_TEST_FUZZ_FUZZREPLAYMAIN_H

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

inline int runFuzzReplay(int argc, char **argv, const char *tool,
                         const std::vector<std::string> &seeds) {
  long runs = 100000;
  double seconds = 10;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("-runs=", 0) == 0)
      runs = std::atol(a.c_str() + 6);
    else if (a.rfind("-seconds=", 0) == 0)
      seconds = std::atof(a.c_str() + 9);
    else {
      std::fprintf(stderr, "%s: unknown argument '%s' (-runs=N, -seconds=S)\n",
                   tool, a.c_str());
      return 2;
    }
  }
  auto run = [](const std::string &s) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(s.data()),
                           s.size());
  };
  for (const std::string &s : seeds)
    run(s);
  std::mt19937 rng(12345);
  auto start = std::chrono::steady_clock::now();
  long done = 0;
  for (; done < runs; ++done) {
    if ((done & 1023) == 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                .count() > seconds)
      break;
    std::string s = seeds[rng() % seeds.size()];
    int edits = 1 + rng() % 8;
    for (int e = 0; e < edits; ++e) {
      size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
      switch (rng() % 6) {
      case 0: // flip bits
        if (at < s.size())
          s[at] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 1: // an interesting byte
        if (at < s.size()) {
          const char bytes[] = {0, 1, 2, 0x7f, '\xff', '\x80', '9', ',', ')'};
          s[at] = bytes[rng() % sizeof(bytes)];
        }
        break;
      case 2: // insert bytes
        s.insert(at, std::string(1 + rng() % 4, static_cast<char>(rng())));
        break;
      case 3: // delete bytes
        if (at < s.size())
          s.erase(at, 1 + rng() % 8);
        break;
      case 4: { // splice another seed
        const std::string &o = seeds[rng() % seeds.size()];
        size_t from = o.empty() ? 0 : rng() % o.size();
        s = s.substr(0, at) + o.substr(from);
        break;
      }
      default: // an interesting 64-bit little-endian integer
        if (at + 8 <= s.size()) {
          const uint64_t values[] = {0,          1,          0x7fffffffull,
                                     0x80000000ull, 0xffffffffull,
                                     0x7fffffffffffffffull,
                                     0x8000000000000000ull, ~0ull};
          uint64_t v = values[rng() % 8];
          for (int b = 0; b < 8; ++b)
            s[at + b] = static_cast<char>(v >> (8 * b));
        }
        break;
      }
    }
    run(s);
  }
  std::printf("%s: %zu seeds and %ld mutations, no failure\n", tool,
              seeds.size(), done);
  return 0;
}

#endif
