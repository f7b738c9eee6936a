// The attn-opt fuzz target: IR text that parses and verifies must go through
// each attn pass alone and each target's default pipeline with diagnostics at
// most; never a crash, a hang, a sanitizer report, a pass that leaves IR that
// does not verify, or one that fails without an error. Built with libFuzzer
// (and IrMutator's structure-aware edits) when clang is present, and always as
// a replay driver (main below, ATTN_FUZZ_REPLAY): seed files and mutations.
#include "IrMutator.h"
#include "dialect/AttnOps.h"
#include "passes/Passes.h"
#include "passes/Pipelines.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

mlir::MLIRContext &fuzzContext() {
  static mlir::MLIRContext *context = [] {
    mlir::DialectRegistry registry;
    registry.insert<mlir::attn::AttnDialect, mlir::arith::ArithDialect,
                    mlir::math::MathDialect, mlir::tensor::TensorDialect,
                    mlir::func::FuncDialect, mlir::affine::AffineDialect,
                    mlir::scf::SCFDialect>();
    auto *c = new mlir::MLIRContext(registry);
    c->loadAllAvailableDialects();
    c->disableMultithreading();
    mlir::attn::registerAttnPasses();
    return c;
  }();
  return *context;
}

/// What runs on every module that verifies: each pass alone (with the
/// options the default pipelines use, and a few others), then the default
/// pipelines of the code generation targets.
struct Run {
  std::string pipeline;
  bool alone; // one pass: its output must verify
};

const std::vector<Run> &runs() {
  static const std::vector<Run> list = [] {
    std::vector<Run> r;
    for (const char *pass :
         {"attn-one-pass", "attn-one-pass{tile-size=1}", "attn-split-reduction",
          "attn-split-reduction{workers=3}", "attn-classify-tiles",
          "attn-classify-tiles{tile-size=5}", "attn-count-passes",
          "attn-fuse-elementwise", "attn-fuse-elementwise{allow-recompute=1}",
          "attn-reorder-contractions",
          "attn-reorder-contractions{chunk-size=3}"})
      r.push_back({std::string("func.func(") + pass + ")", true});
    for (const char *target : {"cpu", "cuda"})
      r.push_back({*mlir::attn::defaultPipeline(target), false});
    return r;
  }();
  return list;
}

[[noreturn]] void fail(const std::string &pipeline, const char *what) {
  std::fprintf(stderr, "fuzz: %s: %s\n", pipeline.c_str(), what);
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlir::MLIRContext &context = fuzzContext();
  // Triage: ATTN_FUZZ_VERBOSE=1 prints each diagnostic and each pipeline as
  // it starts; ATTN_FUZZ_ONLY=TEXT runs only the pipelines that contain TEXT.
  static const bool verbose = std::getenv("ATTN_FUZZ_VERBOSE") != nullptr;
  static const char *only = std::getenv("ATTN_FUZZ_ONLY");
  unsigned errors = 0;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    errors += d.getSeverity() == mlir::DiagnosticSeverity::Error;
    if (verbose)
      llvm::errs() << "fuzz: diagnostic: " << d << "\n";
    return mlir::success();
  });
  // MLIR's lexer reads the buffer up to a terminating NUL: parse a copy
  // that has one (libFuzzer's data does not).
  const std::string source(reinterpret_cast<const char *>(data), size);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(
          source, mlir::ParserConfig(&context), "fuzz.mlir");
  if (!module)
    return 0; // does not parse or does not verify: the parser said why
  for (const Run &run : runs()) {
    if (only && run.pipeline.find(only) == std::string::npos)
      continue;
    mlir::OwningOpRef<mlir::ModuleOp> copy = module->clone();
    mlir::PassManager pm(&context);
    pm.enableVerifier(!run.alone);
    if (mlir::failed(mlir::parsePassPipeline(run.pipeline, pm)))
      fail(run.pipeline, "the pipeline does not parse");
    if (verbose)
      llvm::errs() << "fuzz: running " << run.pipeline << "\n";
    unsigned before = errors;
    if (mlir::failed(pm.run(*copy))) {
      if (errors == before)
        fail(run.pipeline, "failed without an error diagnostic");
      continue;
    }
    if (run.alone && mlir::failed(mlir::verify(*copy)))
      fail(run.pipeline, "succeeded, but its output does not verify");
  }
  return 0;
}

#ifndef ATTN_FUZZ_REPLAY
// libFuzzer: half the mutations are IrMutator's edits of the text, half
// libFuzzer's own byte-level ones.
extern "C" size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t maxSize);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size,
                                          size_t maxSize, unsigned seed) {
  std::mt19937_64 rng(seed);
  if (rng() % 2)
    return LLVMFuzzerMutate(data, size, maxSize);
  std::string ir(reinterpret_cast<const char *>(data), size);
  attn::fuzz::mutateIr(ir, rng);
  if (ir.size() > maxSize)
    return LLVMFuzzerMutate(data, size, maxSize);
  std::copy(ir.begin(), ir.end(), data);
  return ir.size();
}
#else
#include "llvm/Support/Signals.h"

#include <fstream>
#include <sstream>
#include <unistd.h>

// Usage: attn-opt-replay [-mutations=N] [-seed=S] [-timeout=SECONDS]
//                        [-last-input=PATH] FILE...
// Runs every file, then N mutations (IrMutator's edits) of them. Each input
// must finish within the timeout (SIGALRM ends the run otherwise); with
// -last-input, each input is written to PATH before it runs, so that the
// one that crashed is left there.
int main(int argc, char **argv) {
  llvm::sys::PrintStackTraceOnErrorSignal(argv[0]);
  long mutations = 0;
  unsigned long seed = 12345;
  unsigned timeout = 20;
  std::string lastInput;
  std::vector<std::string> seeds;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char *flag) -> const char * {
      size_t n = std::string(flag).size();
      return a.compare(0, n, flag) == 0 ? a.c_str() + n : nullptr;
    };
    if (const char *v = value("-mutations=")) {
      mutations = std::atol(v);
    } else if (const char *v = value("-seed=")) {
      seed = std::strtoul(v, nullptr, 10);
    } else if (const char *v = value("-timeout=")) {
      timeout = std::atoi(v);
    } else if (const char *v = value("-last-input=")) {
      lastInput = v;
    } else {
      std::ifstream in(a, std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "replay: cannot read '%s'\n", a.c_str());
        return 1;
      }
      std::stringstream ss;
      ss << in.rdbuf();
      seeds.push_back(ss.str());
    }
  }
  if (seeds.empty()) {
    std::fprintf(stderr, "replay: no seed files\n");
    return 1;
  }
  auto runOne = [&](const std::string &s) {
    if (!lastInput.empty())
      std::ofstream(lastInput, std::ios::binary) << s;
    alarm(timeout);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(s.data()),
                           s.size());
    alarm(0);
  };
  for (const std::string &s : seeds)
    runOne(s);
  std::mt19937_64 rng(seed);
  for (long n = 0; n < mutations; ++n) {
    std::string s = seeds[rng() % seeds.size()];
    attn::fuzz::mutateIr(s, rng);
    runOne(s);
  }
  std::printf("replay: %zu inputs and %ld mutations, no failure\n",
              seeds.size(), mutations);
  return 0;
}
#endif
