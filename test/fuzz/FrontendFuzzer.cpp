// The frontend fuzz target: any byte string must give diagnostics or a module
// that verifies; never a crash, a hang or a sanitizer report. Built with
// libFuzzer when clang is present, and always as a replay driver (main below,
// compiled with ATTN_FUZZ_REPLAY) that runs seed files and mutations of them.
#include "dialect/AttnOps.h"
#include "frontend/Frontend.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

static mlir::MLIRContext &fuzzContext() {
  static mlir::MLIRContext *context = [] {
    mlir::DialectRegistry registry;
    registry.insert<mlir::attn::AttnDialect, mlir::arith::ArithDialect,
                    mlir::math::MathDialect, mlir::tensor::TensorDialect,
                    mlir::func::FuncDialect>();
    auto *c = new mlir::MLIRContext(registry);
    c->loadAllAvailableDialects();
    return c;
  }();
  return *context;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlir::MLIRContext &context = fuzzContext();
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(
          llvm::StringRef(reinterpret_cast<const char *>(data), size),
          "fuzz.attn"),
      llvm::SMLoc());
  bool sawError = false;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    if (d.getSeverity() == mlir::DiagnosticSeverity::Error)
      sawError = true;
    return mlir::success();
  });
  mlir::attn::FrontendOptions options;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::attn::translateAttnToMLIR(sourceMgr, &context, options);
  if (module && sawError) {
    std::fprintf(stderr, "fuzz: a module came back together with errors\n");
    std::abort();
  }
  if (!module && !sawError) {
    std::fprintf(stderr, "fuzz: no module and no diagnostic\n");
    std::abort();
  }
  if (module && mlir::failed(mlir::verify(*module))) {
    std::fprintf(stderr, "fuzz: the emitted module does not verify\n");
    std::abort();
  }
  return 0;
}

#ifdef ATTN_FUZZ_REPLAY
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

// Usage: attn-frontend-replay [-mutations=N] FILE...
// Runs every file, then N random mutations (byte flips, insertions,
// deletions, splices of two seeds, token duplication) of them.
int main(int argc, char **argv) {
  long mutations = 0;
  std::vector<std::string> seeds;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("-mutations=", 0) == 0) {
      mutations = std::atol(a.c_str() + 11);
      continue;
    }
    std::ifstream in(a, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "replay: cannot read '%s'\n", a.c_str());
      return 1;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    seeds.push_back(ss.str());
  }
  if (seeds.empty()) {
    std::fprintf(stderr, "replay: no seed files\n");
    return 1;
  }
  for (const std::string &s : seeds)
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(s.data()),
                           s.size());
  std::mt19937 rng(12345);
  const char alphabet[] = "[](){}=,:+-*/%<>!#.\n 0123456789abcdefmpqxyzBHPMEW"
                          "where sum max kernel param for in and or not inf";
  for (long n = 0; n < mutations; ++n) {
    std::string s = seeds[rng() % seeds.size()];
    int edits = 1 + rng() % 4;
    for (int e = 0; e < edits; ++e) {
      size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
      switch (rng() % 5) {
      case 0: // flip a byte
        if (!s.empty()) s[pos % s.size()] = static_cast<char>(rng() % 256);
        break;
      case 1: // insert a character that the language uses
        s.insert(pos, 1, alphabet[rng() % (sizeof(alphabet) - 1)]);
        break;
      case 2: // delete a span
        if (!s.empty()) s.erase(pos % s.size(), 1 + rng() % 8);
        break;
      case 3: { // splice in a span of another seed
        const std::string &o = seeds[rng() % seeds.size()];
        if (!o.empty()) {
          size_t from = rng() % o.size();
          s.insert(pos, o.substr(from, 1 + rng() % 40));
        }
        break;
      }
      case 4: // duplicate a span
        if (!s.empty()) {
          size_t from = pos % s.size();
          s.insert(from, s.substr(from, 1 + rng() % 16));
        }
        break;
      }
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(s.data()),
                           s.size());
  }
  std::printf("replay: %zu seeds and %ld mutations, no failure\n",
              seeds.size(), mutations);
  return 0;
}
#endif
