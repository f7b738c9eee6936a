// attn-bench-cpu: times attnc's CPU kernels (bench/kernels/*.attn and the
// bf16 examples/mha.attn, through the frontend and HalideKernel) against the
// unfused OpenBLAS baseline at several thread counts, measures the machine's
// sgemm rate, checks every kernel's output, and writes the measurements as
// JSON for bench/report.py.
//
//   attn-bench-cpu --json OUT.json [--runs N] [--warmup N]
//                  [--thread-counts 1,2] [--quick] [--lowered DIR]
//                  [--cases mha,causal]
#include "bench/HalideThreads.h"
#include "bench/UnfusedAttention.h"

#include "codegen/halide/HalideEmitter.h"
#include "codegen/ref/ReferenceInterpreter.h"
#include "dialect/AttnOps.h"
#include "frontend/Frontend.h"
#include "passes/Pipelines.h"
#include "runtime/DType.h"
#include "runtime/Runtime.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace mlir;
namespace cl = llvm::cl;
namespace json = llvm::json;
using ::attn::bench::AttentionMask;
using ::attn::bench::AttentionShape;
using ::attn::rt::DType;

static cl::opt<std::string> jsonPath("json", cl::desc("Write results here"),
                                     cl::Required);
static cl::opt<int> runs("runs", cl::desc("Timed runs per measurement"),
                         cl::init(7));
static cl::opt<int> warmups("warmup", cl::desc("Untimed runs first"),
                            cl::init(2));
static cl::opt<std::string> threadList("thread-counts",
                                       cl::desc("Thread counts, e.g. 1,2"),
                                       cl::init("1,2"));
static cl::opt<int> sgemmSize("sgemm-n", cl::desc("Square sgemm size"),
                              cl::init(2048));
static cl::opt<std::string>
    loweredDir("lowered",
               cl::desc("Write each kernel's Halide loop nest to DIR"),
               cl::init(""));
static cl::opt<std::string>
    onlyCases("cases",
              cl::desc("Comma-separated variants to run (default: all)"),
              cl::init(""));
static cl::opt<bool> quick("quick", cl::desc("Small shapes (a smoke test)"),
                           cl::init(false));

namespace {

/// One benchmarked kernel: its source, its mask (for the baseline and the
/// FLOP count), its shape and element type.
struct BenchCase {
  std::string variant; // table name
  std::string file;    // relative to the source root
  AttentionMask mask;
  AttentionShape shape;
  bool decode = false; // Q is [B, H, E] (no query axis)
  std::map<std::string, std::string> params;
  /// Element type of Q, K, V and O: f32, or bf16 (the kernel accumulates in
  /// f32; the f32 baseline then only checks it and is not timed).
  DType dtype = DType::f32;
};

/// The largest error (max |x - ref| / max |ref|) an attnc kernel may show
/// against the f32 baseline: f32 sums in another order, or a bf16 output
/// (8 bits of mantissa: 2^-9 relative rounding, plus the inputs' rounding
/// inside the kernel's conversions).
double tolerance(const BenchCase &c) {
  return c.dtype == DType::bf16 ? 1e-2 : 1e-3;
}

struct Timing {
  double median = 0, min = 0, max = 0;
  /// Process CPU time over wall time across the timed runs: about the number
  /// of cores kept busy (shows whether a thread count took effect).
  double cpuPerWall = 0;
  std::vector<double> all;
};

double cpuNow() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

double now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

/// Median (and spread) of `runs` calls of `body` after `warmups` calls.
Timing timeRuns(const std::function<void()> &body) {
  for (int i = 0; i < warmups; ++i)
    body();
  Timing t;
  double cpuStart = cpuNow(), wall = 0;
  for (int i = 0; i < std::max(1, runs.getValue()); ++i) {
    double start = now();
    body();
    t.all.push_back(now() - start);
    wall += t.all.back();
  }
  t.cpuPerWall = wall > 0 ? (cpuNow() - cpuStart) / wall : 0;
  std::vector<double> sorted = t.all;
  std::sort(sorted.begin(), sorted.end());
  size_t n = sorted.size();
  t.median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  t.min = sorted.front();
  t.max = sorted.back();
  return t;
}

json::Value toJson(const Timing &t) {
  json::Array all;
  for (double s : t.all)
    all.push_back(s);
  return json::Object{{"median_s", t.median},
                      {"min_s", t.min},
                      {"max_s", t.max},
                      {"cpu_per_wall", t.cpuPerWall},
                      {"runs_s", std::move(all)}};
}

std::vector<float> randomValues(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

mlir::attn::RefArg refArg(const std::vector<float> &values,
                          std::vector<int64_t> shape) {
  mlir::attn::RefTensor t;
  t.shape = std::move(shape);
  t.values.assign(values.begin(), values.end());
  return mlir::attn::RefArg::ofTensor(std::move(t));
}

/// max |a - b| / max |b|: one number per tensor, not blown up by outputs
/// near zero.
template <typename A, typename B>
double relativeError(const A &a, const B &b) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    double x = i < a.size() ? double(a[i]) : NAN;
    diff = std::max(diff, std::fabs(x - double(b[i])));
    if (std::isnan(x))
      diff = INFINITY;
    scale = std::max(scale, std::fabs(double(b[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

std::string shapeText(const BenchCase &c) {
  const AttentionShape &s = c.shape;
  std::string text = "B" + std::to_string(s.B) + " H" + std::to_string(s.H);
  if (s.G > 1)
    text += " KV" + std::to_string(s.kvHeads());
  text += " P" + std::to_string(s.P) + " M" + std::to_string(s.M) + " E" +
          std::to_string(s.E);
  if (c.mask.kind == AttentionMask::Window)
    text += " W" + std::to_string(c.mask.window);
  if (c.dtype != DType::f32)
    text += std::string(" ") + ::attn::rt::dtypeName(c.dtype);
  return text;
}

/// The inputs of one case, as f32 arrays (the baseline; attnc's timed typed
/// call of an f32 kernel), bf16 bit patterns of the same values (a bf16
/// kernel's call) and RefArgs (attnc against the reference interpreter).
struct CaseInputs {
  std::vector<float> q, k, v;
  std::vector<uint16_t> qBits, kBits, vBits; // bf16 cases only
  std::vector<std::vector<int64_t>> shapes;  // Q, K, V, O
  std::vector<mlir::attn::RefArg> args;

  /// attnc's typed call over the inputs and `o` (f32 values, or bf16 bit
  /// patterns for a bf16 kernel), without conversion.
  std::vector<attn_tensor> tensors(DType dtype, void *o) {
    bool bf16 = dtype == DType::bf16;
    void *data[] = {bf16 ? (void *)qBits.data() : q.data(),
                    bf16 ? (void *)kBits.data() : k.data(),
                    bf16 ? (void *)vBits.data() : v.data(), o};
    std::vector<attn_tensor> t;
    for (size_t i = 0; i < 4; ++i)
      t.push_back(::attn::rt::hostTensor(data[i], bf16 ? ATTN_BF16 : ATTN_F32,
                                         shapes[i]));
    return t;
  }
};

/// Rounds `values` to bf16 in place and returns their bit patterns.
std::vector<uint16_t> roundToBF16(std::vector<float> &values) {
  std::vector<uint16_t> bits(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    bits[i] = ::attn::rt::floatToBF16Bits(values[i]);
    values[i] = ::attn::rt::bf16BitsToFloat(bits[i]);
  }
  return bits;
}

CaseInputs makeInputs(const BenchCase &c, const AttentionShape &s,
                      uint32_t seed) {
  CaseInputs in;
  int64_t kvHeads = s.kvHeads();
  in.q = randomValues(s.B * s.H * s.P * s.E, seed);
  in.k = randomValues(s.B * kvHeads * s.M * s.E, seed + 1);
  in.v = randomValues(s.B * kvHeads * s.M * s.F, seed + 2);
  if (c.dtype == DType::bf16) {
    in.qBits = roundToBF16(in.q);
    in.kBits = roundToBF16(in.k);
    in.vBits = roundToBF16(in.v);
  }
  std::vector<int64_t> qShape = {s.B, s.H, s.P, s.E},
                       oShape = {s.B, s.H, s.P, s.F};
  if (c.decode) {
    qShape = {s.B, s.H, s.E};
    oShape = {s.B, s.H, s.F};
  }
  in.shapes = {
      qShape, {s.B, kvHeads, s.M, s.E}, {s.B, kvHeads, s.M, s.F}, oShape};
  for (size_t i = 0; i < 3; ++i)
    in.args.push_back(refArg(i == 0 ? in.q : i == 1 ? in.k : in.v,
                             in.shapes[i]));
  return in;
}

std::vector<BenchCase> benchCases() {
  // Modest for a 2-core machine: the whole run stays within minutes (the 4k
  // cases take under a second a run at one thread).
  int64_t n = quick ? 256 : 1024, decodeM = quick ? 1024 : 4096;
  int64_t longN = quick ? 512 : 4096, longDecodeM = quick ? 4096 : 32768;
  int64_t gqaN = quick ? 256 : 1024;
  AttentionShape prefill{1, 4, n, n, 64, 64};
  AttentionShape decode{1, 4, 1, decodeM, 64, 64};
  AttentionShape prefillLong{1, 4, longN, longN, 128, 128};
  AttentionShape decodeLong{1, 4, 1, longDecodeM, 64, 64};
  AttentionShape gqa{1, 32, gqaN, gqaN, 128, 128, /*G=*/4};
  AttentionShape odd{1, 4, 521, 521, 72, 72};
  AttentionMask full, causal{AttentionMask::Causal, 0};
  int64_t window = quick ? 64 : 256;
  const std::string k = "bench/kernels/";
  std::vector<BenchCase> cases;
  cases.push_back({"mha", k + "mha_f32.attn", full, prefill, false, {}});
  cases.push_back(
      {"causal", k + "causal_f32.attn", causal, prefill, false, {}});
  cases.push_back({"sliding_window",
                   k + "sliding_window_f32.attn",
                   {AttentionMask::Window, window},
                   prefill,
                   false,
                   {{"W", std::to_string(window)}}});
  cases.push_back({"decode", k + "decode_f32.attn", full, decode, true, {}});
  cases.push_back({"mha-4k", k + "mha_f32.attn", full, prefillLong, false, {}});
  cases.push_back(
      {"causal-4k", k + "causal_f32.attn", causal, prefillLong, false, {}});
  cases.push_back({"gqa32-8-causal",
                   k + "gqa_causal_f32.attn",
                   causal,
                   gqa,
                   false,
                   {{"G", std::to_string(gqa.G)}}});
  // The example itself: bf16 Q, K, V and O, f32 scores and sums.
  cases.push_back(
      {"mha-bf16", "examples/mha.attn", full, prefill, false, {}, DType::bf16});
  cases.push_back(
      {"decode-32k", k + "decode_f32.attn", full, decodeLong, true, {}});
  cases.push_back({"mha-odd", k + "mha_f32.attn", full, odd, false, {}});
  return cases;
}

/// Parses the case's file and returns its only kernel (null on error,
/// diagnostics on stderr).
func::FuncOp loadKernel(MLIRContext &context, const BenchCase &c,
                        OwningOpRef<ModuleOp> &module) {
  std::string path = std::string(ATTN_SOURCE_DIR) + "/" + c.file;
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer) {
    llvm::errs() << "attn-bench-cpu: cannot read " << path << "\n";
    return nullptr;
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(*buffer), llvm::SMLoc());
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  mlir::attn::FrontendOptions options;
  options.params = c.params;
  module = mlir::attn::translateAttnToMLIR(sourceMgr, &context, options);
  if (!module)
    return nullptr;
  auto kernels = module->getOps<func::FuncOp>();
  if (std::distance(kernels.begin(), kernels.end()) != 1) {
    llvm::errs() << "attn-bench-cpu: " << path << " must hold one kernel\n";
    return nullptr;
  }
  return *kernels.begin();
}

} // namespace

int main(int argc, char **argv) {
  cl::ParseCommandLineOptions(argc, argv, "attnc CPU benchmark\n");
  std::vector<int> threadCounts;
  for (llvm::StringRef t : llvm::split(threadList.getValue(), ',')) {
    int n = 0;
    if (t.trim().getAsInteger(10, n) || n < 1) {
      llvm::errs() << "attn-bench-cpu: bad --thread-counts entry '" << t
                   << "'\n";
      return 1;
    }
    threadCounts.push_back(n);
  }

  llvm::SmallVector<StringRef> only;
  StringRef(onlyCases).split(only, ',', -1, /*KeepEmpty=*/false);
  std::vector<BenchCase> allCases = benchCases();
  for (StringRef name : only) {
    if (llvm::none_of(allCases,
                      [&](const BenchCase &c) { return c.variant == name; })) {
      llvm::errs() << "attn-bench-cpu: unknown case '" << name
                   << "' in --cases; the cases:";
      for (const BenchCase &c : allCases)
        llvm::errs() << " " << c.variant;
      llvm::errs() << "\n";
      return 1;
    }
  }

  DialectRegistry registry;
  registry.insert<mlir::attn::AttnDialect, arith::ArithDialect,
                  math::MathDialect, tensor::TensorDialect,
                  func::FuncDialect>();
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  context.printOpOnDiagnostic(false);

  json::Object out;
  out["tool"] = "attn-bench-cpu";
  out["runs"] = runs.getValue();
  out["warmup"] = warmups.getValue();
  out["quick"] = quick.getValue();
  out["openblas_config"] = ::attn::bench::blasConfig();
  out["hardware_threads"] = int64_t(std::thread::hardware_concurrency());

  // The machine's ceiling: a large square sgemm at each thread count.
  json::Array sgemm;
  {
    int n = quick ? 1024 : sgemmSize.getValue();
    std::vector<float> a = randomValues(size_t(n) * n, 1),
                       b = randomValues(size_t(n) * n, 2), c(size_t(n) * n);
    for (int threads : threadCounts) {
      ::attn::bench::setBlasThreads(threads);
      Timing t = timeRuns(
          [&] { ::attn::bench::squareSgemm(n, a.data(), b.data(), c.data()); });
      double gflops = 2.0 * n * n * double(n) / t.median / 1e9;
      llvm::errs() << llvm::format("sgemm n=%d threads=%d: %.1f GFLOP/s\n", n,
                                   threads, gflops);
      sgemm.push_back(json::Object{{"n", n},
                                   {"threads", threads},
                                   {"gflops", gflops},
                                   {"time", toJson(t)}});
    }
  }
  out["sgemm"] = std::move(sgemm);

  // Halide's pool can grow but not shrink once its workers exist
  // (halide_set_num_threads lowers the target, yet every created worker
  // still steals work): thread counts run in increasing order, every case at
  // one count before the next, starting from the smallest before any
  // kernel runs.
  std::sort(threadCounts.begin(), threadCounts.end());
  if (::attn::bench::setHalideThreads(threadCounts.front()) < 0) {
    llvm::errs() << "attn-bench-cpu: cannot set Halide's thread count\n";
    return 1;
  }

  struct CaseState {
    BenchCase c;
    OwningOpRef<ModuleOp> module;
    std::unique_ptr<mlir::attn::HalideKernel> kernel;
    CaseInputs in;
    json::Object entry;
    json::Array perThreads;
  };
  std::vector<CaseState> states;
  std::string error;
  for (const BenchCase &c : allCases) {
    if (!only.empty() && !llvm::is_contained(only, StringRef(c.variant)))
      continue;
    states.push_back(CaseState{c, nullptr, nullptr, {}, {}, {}});
    CaseState &st = states.back();
    func::FuncOp kernelOp = loadKernel(context, c, st.module);
    if (!kernelOp)
      return 1;
    double compileStart = now();
    // attnc's cpu target: the default pipeline (one-pass rewrite, ...),
    // then Halide.
    if (failed(mlir::attn::runDefaultPipeline(*st.module, "cpu"))) {
      llvm::errs() << "attn-bench-cpu: the cpu pipeline failed on " << c.file
                   << "\n";
      return 1;
    }
    kernelOp = st.module->lookupSymbol<func::FuncOp>(kernelOp.getSymName());
    FailureOr<mlir::attn::HalideKernel> kernel =
        mlir::attn::HalideKernel::compile(kernelOp, {});
    double compileSeconds = now() - compileStart;
    if (failed(kernel)) {
      llvm::errs() << "attn-bench-cpu: " << c.file << " did not compile\n";
      return 1;
    }
    st.kernel = std::make_unique<mlir::attn::HalideKernel>(std::move(*kernel));
    if (!loweredDir.empty()) {
      std::error_code ec;
      llvm::raw_fd_ostream stmt(loweredDir + "/" + c.variant + ".stmt", ec);
      if (!ec)
        stmt << st.kernel->loweredStatement();
    }
    const AttentionShape &s = c.shape;
    st.entry = json::Object{
        {"variant", c.variant},
        {"file", c.file},
        {"dtype", ::attn::rt::dtypeName(c.dtype)},
        {"tolerance", tolerance(c)},
        {"shape_text", shapeText(c)},
        {"shape", json::Object{{"B", s.B},
                               {"H", s.H},
                               {"P", s.P},
                               {"M", s.M},
                               {"E", s.E},
                               {"F", s.F},
                               {"G", s.G},
                               {"KVH", s.kvHeads()}}},
        {"decode", c.decode},
        {"mask", c.mask.kind == AttentionMask::None     ? "none"
                 : c.mask.kind == AttentionMask::Causal ? "causal"
                                                        : "window"},
        {"window", c.mask.window},
        {"compile_s", compileSeconds}};
    int64_t pairs = c.mask.pairs(s.P, s.M);
    st.entry["useful_flops"] = 2.0 * s.B * s.H * pairs * (s.E + s.F);
    st.entry["pairs"] = pairs;

    // Correctness, small shape: attnc and the baseline against the float64
    // reference interpreter.
    {
      AttentionShape small = s;
      small.P = c.decode ? 1 : std::min<int64_t>(s.P, 83);
      small.M = std::min<int64_t>(s.M, c.decode ? 509 : 83);
      CaseInputs in = makeInputs(c, small, 7);
      std::vector<mlir::attn::RefTensor> reference, compiled;
      if (failed(mlir::attn::interpretKernel(kernelOp, in.args, reference,
                                             error)) ||
          failed(st.kernel->run(in.args, compiled, error))) {
        llvm::errs() << "attn-bench-cpu: " << c.variant << ": " << error
                     << "\n";
        return 1;
      }
      std::vector<float> o(small.B * small.H * small.P * small.F), scores;
      ::attn::bench::setBlasThreads(1);
      ::attn::bench::unfusedAttention(small, c.mask, in.q.data(), in.k.data(),
                                      in.v.data(), o.data(), scores, 1);
      st.entry["ref_err_attnc"] =
          relativeError(compiled[0].values, reference[0].values);
      st.entry["ref_err_baseline"] = relativeError(o, reference[0].values);
    }
    st.in = makeInputs(c, s, 42);
  }

  bool allCorrect = true;
  for (int threads : threadCounts) {
    ::attn::bench::setBlasThreads(threads);
    if (::attn::bench::setHalideThreads(threads) < 0) {
      llvm::errs() << "attn-bench-cpu: cannot set Halide's thread count\n";
      return 1;
    }
    for (CaseState &st : states) {
      const BenchCase &c = st.c;
      const AttentionShape &s = c.shape;
      std::vector<float> baselineOut(s.B * s.H * s.P * s.F), scores;
      std::vector<float> attncOut(baselineOut.size());
      std::vector<uint16_t> attncBits; // a bf16 kernel's output
      bool bf16 = c.dtype == DType::bf16;
      if (bf16)
        attncBits.resize(attncOut.size());
      std::vector<attn_tensor> tensors = st.in.tensors(
          c.dtype, bf16 ? (void *)attncBits.data() : attncOut.data());
      auto runBaseline = [&] {
        ::attn::bench::unfusedAttention(s, c.mask, st.in.q.data(),
                                        st.in.k.data(), st.in.v.data(),
                                        baselineOut.data(), scores, threads);
      };
      // A bf16 kernel has no bf16 BLAS peer: the f32 baseline on the same
      // (bf16) values runs once, as the check, untimed.
      std::optional<Timing> baseline;
      if (bf16)
        runBaseline();
      else
        baseline = timeRuns(runBaseline);
      bool ok = true;
      Timing attnc = timeRuns([&] {
        if (failed(st.kernel->run(tensors, {}, error)))
          ok = false;
      });
      for (size_t i = 0; i < attncBits.size(); ++i)
        attncOut[i] = ::attn::rt::bf16BitsToFloat(attncBits[i]);
      if (!ok) {
        llvm::errs() << "attn-bench-cpu: " << c.variant << ": " << error
                     << "\n";
        return 1;
      }
      if (attnc.cpuPerWall > threads + 0.3)
        llvm::errs() << "attn-bench-cpu: warning: attnc kept "
                     << llvm::format("%.2f", attnc.cpuPerWall)
                     << " cores busy at threads=" << threads << "\n";
      double err = relativeError(attncOut, baselineOut);
      if (!(err < tolerance(c)))
        allCorrect = false;
      llvm::errs() << llvm::format(
          "%-15s %-28s threads=%d attnc %9.2f ms (cpu/wall %.2f)  ",
          c.variant.c_str(), shapeText(c).c_str(), threads, attnc.median * 1e3,
          attnc.cpuPerWall);
      if (baseline)
        llvm::errs() << llvm::format("baseline %9.2f ms (cpu/wall %.2f)  ",
                                     baseline->median * 1e3,
                                     baseline->cpuPerWall);
      else
        llvm::errs() << "baseline untimed (f32 check)  ";
      llvm::errs() << llvm::format("err %.2e\n", err);
      st.perThreads.push_back(json::Object{
          {"threads", threads},
          {"attnc", toJson(attnc)},
          {"baseline", baseline ? toJson(*baseline) : json::Value(nullptr)},
          {"err_vs_baseline", err}});
    }
  }
  json::Array results;
  for (CaseState &st : states) {
    st.entry["threads"] = std::move(st.perThreads);
    results.push_back(std::move(st.entry));
  }
  out["cases"] = std::move(results);
  out["all_correct"] = allCorrect;

  std::error_code ec;
  llvm::raw_fd_ostream file(jsonPath, ec);
  if (ec) {
    llvm::errs() << "attn-bench-cpu: cannot write " << jsonPath << ": "
                 << ec.message() << "\n";
    return 1;
  }
  file << llvm::formatv("{0:2}", json::Value(std::move(out))) << "\n";
  return allCorrect ? 0 : 3;
}
