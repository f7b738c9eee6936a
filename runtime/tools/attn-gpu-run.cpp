// attn-gpu-run: runs carried CUDA artefacts on the GPU machine and checks
// them, with nothing but the runtime (no LLVM, no MLIR): for each case
// directory
//
//   CASE/<kernel>.attn.json  <kernel>.ptx   the artefact (attnc --emit=bundle)
//   CASE/inputs/<arg>.npy                   every tensor input
//   CASE/scalars.txt                        NAME=VALUE per scalar input
//   CASE/expected/<out>.npy                 reference outputs (float64 ref)
//   CASE/expect_error.txt                   or: the run must fail with this
//   CASE/sizes.txt                          or: B=4,H=16,... to draw inputs
//
// it loads the kernel, copies the inputs to the GPU (converting to the
// declared dtypes: bf16 arrives as f32), fills the outputs with NaN bytes
// (0xff), runs once on a stream of its own, copies back and compares with
// the reference (max |out - ref| / max |ref|; 2e-2 when any tensor is
// f16/bf16, else 1e-5 for f32, 1e-9 for f64; an output element left NaN
// where the reference is not fails). A case with sizes.txt and no inputs/
// (a timing case, too large to carry) draws its inputs as `attnc inputs`
// does (floats uniform in [-1, 1), integers in [0, 4), scalars 1); without
// expected/ it is "ran" when every output element was written. With --time
// N it then times N runs (CUDA events, after --warmup runs, L2 flushed
// before each), reporting median and minimum. One JSON line per case on
// stdout (and appended to --json FILE); a line per case on stderr. With
// --misuse it first makes the bad calls of tools/MisuseChecks.h (null, host
// and short pointers, wrong shapes, dtypes, ranks, strides, counts) and
// fails the case unless each is refused with a message.
//
// Exit: 0 every case passed (or ran, without a reference), 1 a case failed
// or could not run, 2 bad usage,
// 3 no CUDA driver or GPU (nothing ran: the cases are reported "skip").
#include "runtime/CudaDriver.h"
#include "runtime/DType.h"
#include "runtime/KernelManifest.h"
#include "runtime/Npy.h"
#include "runtime/Runtime.h"
#include "runtime/tools/MisuseChecks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace attn::rt;
using namespace attn::rt::cuda;

namespace {

struct Options {
  std::vector<std::string> cases;
  std::string json;
  int timeRuns = 0, warmup = 10, device = 0;
  bool flushL2 = true, misuse = false;
  double tolerance = -1;
};

std::string number(double v) {
  if (std::isnan(v) || std::isinf(v))
    return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

/// The one report line of a case, built field by field.
struct Report {
  std::string fields;
  void add(const std::string &key, const std::string &jsonValue) {
    fields += (fields.empty() ? "" : ", ") + jsonQuote(key) + ": " + jsonValue;
  }
  std::string line() const { return "{" + fields + "}"; }
};

bool readText(const std::string &path, std::string &out) {
  std::ifstream in(path);
  if (!in)
    return false;
  std::stringstream s;
  s << in.rdbuf();
  out = s.str();
  return true;
}

std::vector<std::string> listDir(const std::string &dir) {
  std::vector<std::string> names;
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *e = readdir(d))
      names.push_back(e->d_name);
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

/// Device memory freed at scope exit.
struct DeviceBuffer {
  const Driver *d = nullptr;
  CUdeviceptr ptr = 0;
  size_t bytes = 0;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer(DeviceBuffer &&o) noexcept : d(o.d), ptr(o.ptr), bytes(o.bytes) {
    o.ptr = 0;
  }
  ~DeviceBuffer() {
    if (ptr)
      d->cuMemFree(ptr);
  }
};

struct Case {
  const Options &opt;
  const Driver &d;
  CUstream stream;
  std::string dir, name;
  Report report;
  std::string status = "error", message;

  bool check(CUresult r, const char *what) {
    if (r == CUDA_SUCCESS)
      return true;
    message = std::string(what) + ": " + d.describe(r);
    return false;
  }

  bool alloc(DeviceBuffer &b, size_t bytes) {
    b.d = &d;
    b.bytes = bytes;
    return bytes == 0 || check(d.cuMemAlloc(&b.ptr, bytes), "cuMemAlloc");
  }

  void run();
};

double boundFor(const std::vector<attn_arg_info> &args) {
  bool half = false, single = false;
  for (const attn_arg_info &a : args) {
    half |= a.dtype == ATTN_F16 || a.dtype == ATTN_BF16;
    single |= a.dtype == ATTN_F32;
  }
  return half ? 2e-2 : single ? 1e-5 : 1e-9;
}

void Case::run() {
  // The manifest: the one *.attn.json of the directory.
  std::string manifest;
  for (const std::string &f : listDir(dir))
    if (f.size() > 10 && f.compare(f.size() - 10, 10, ".attn.json") == 0) {
      if (!manifest.empty()) {
        message = "more than one manifest (*.attn.json) in " + dir;
        return;
      }
      manifest = dir + "/" + f;
    }
  if (manifest.empty()) {
    message = "no manifest (*.attn.json) in " + dir;
    return;
  }
  Kernel k;
  Status st = Kernel::load(manifest, k);
  if (!st) {
    message = std::string(attn_status_string(st.code)) + ": " + st.message;
    return;
  }
  report.add("kernel", jsonQuote(k.name()));
  report.add("target", jsonQuote(k.target()));
  if (k.device() != ATTN_DEVICE_CUDA) {
    message = "kernel " + k.name() + " is not a CUDA kernel (" + k.target() + ")";
    return;
  }
  std::vector<attn_arg_info> args = k.arguments();

  // Scalars (NAME=VALUE lines) and sizes (SYM=N, by commas or lines).
  auto assignments = [](const std::string &text) {
    std::map<std::string, std::string> out;
    std::string item;
    std::stringstream in(text);
    while (in >> item) {
      std::stringstream parts(item);
      std::string one;
      while (std::getline(parts, one, ',')) {
        size_t eq = one.find('=');
        if (eq != std::string::npos)
          out[one.substr(0, eq)] = one.substr(eq + 1);
      }
    }
    return out;
  };
  std::string text;
  std::map<std::string, std::string> scalarText, sizeText;
  if (readText(dir + "/scalars.txt", text))
    scalarText = assignments(text);
  bool draw = readText(dir + "/sizes.txt", text);
  if (draw)
    sizeText = assignments(text);
  std::map<std::string, int64_t> symbols;
  for (auto &[sym, v] : sizeText)
    symbols[sym] = std::strtoll(v.c_str(), nullptr, 10);
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  auto declaredShape = [&](const attn_arg_info &a, std::vector<int64_t> &shape) {
    for (int d = 0; d < a.rank; ++d) {
      const char *dim = a.dims[d];
      auto it = symbols.find(dim);
      if (it != symbols.end())
        shape.push_back(it->second);
      else if (*dim >= '0' && *dim <= '9')
        shape.push_back(std::strtoll(dim, nullptr, 10));
      else
        return std::string(dim);
    }
    return std::string();
  };

  // Inputs to the GPU, outputs allocated and poisoned.
  std::vector<std::vector<int64_t>> shapes(args.size());
  std::vector<DeviceBuffer> buffers(args.size());
  std::vector<NpyArray> expected(args.size());
  std::vector<bool> haveExpected(args.size());
  std::vector<attn_tensor> tensors;
  std::vector<attn_scalar> scalars;
  std::string error;
  for (size_t i = 0; i < args.size(); ++i) {
    const attn_arg_info &a = args[i];
    DType dt = static_cast<DType>(a.dtype);
    if (a.is_scalar) {
      std::string value;
      if (scalarText.count(a.name))
        value = scalarText[a.name];
      else if (sizeText.count(a.name))
        value = sizeText[a.name];
      else if (draw)
        value = "1"; // as `attnc inputs`
      else {
        message = "no value for scalar " + std::string(a.name) + " in " + dir +
                  "/scalars.txt";
        return;
      }
      double v = std::strtod(value.c_str(), nullptr);
      attn_scalar s = isFloat(dt) ? floatScalar(static_cast<attn_dtype>(a.dtype), v)
                                  : intScalar(static_cast<attn_dtype>(a.dtype),
                                              static_cast<int64_t>(v));
      if (!isFloat(dt))
        symbols[a.name] = static_cast<int64_t>(v);
      scalars.push_back(s);
      continue;
    }
    NpyArray host;
    std::string path = dir + "/inputs/" + a.name + ".npy";
    if (!a.is_output && (!draw || readText(path, text))) {
      if (!readNpy(path, host, error)) {
        message = "input " + std::string(a.name) + ": " + error;
        return;
      }
      shapes[i] = host.shape;
      for (int d = 0; d < a.rank && d < static_cast<int>(host.shape.size()); ++d)
        symbols.emplace(a.dims[d], host.shape[d]);
    } else if (!a.is_output) {
      // Drawn, as `attnc inputs` draws them.
      std::string unbound = declaredShape(a, shapes[i]);
      if (!unbound.empty()) {
        message = "input " + std::string(a.name) + ": sizes.txt gives no " +
                  unbound;
        return;
      }
      host.dtype = DType::f64;
      host.shape = shapes[i];
      host.data.resize(host.numElements() * 8);
      for (size_t e = 0; e < host.numElements(); ++e) {
        double u = uniform(rng);
        storeElement(host.data.data(), DType::f64, e,
                     isFloat(dt) ? u : std::floor((u + 1) * 2));
      }
    } else if (readNpy(dir + "/expected/" + a.name + ".npy", expected[i],
                       error)) {
      shapes[i] = expected[i].shape;
      haveExpected[i] = true;
    } else {
      // No reference (a case that must fail, a timing case): as declared.
      std::string unbound = declaredShape(a, shapes[i]);
      if (!unbound.empty()) {
        message = "output " + std::string(a.name) + ": no expected/" +
                  a.name + ".npy and no input binds " + unbound;
        return;
      }
    }
    size_t n = 1;
    for (int64_t e : shapes[i])
      n *= static_cast<size_t>(e);
    size_t bytes = n * dtypeSize(dt);
    if (!alloc(buffers[i], bytes))
      return;
    if (!a.is_output) {
      // Convert to the declared dtype (exact for what `attnc inputs` writes).
      std::vector<uint8_t> data(bytes);
      size_t have = std::min(n, host.numElements());
      for (size_t e = 0; e < have; ++e)
        storeElement(data.data(), dt, e,
                     loadElement(host.data.data(), host.dtype, e));
      if (bytes && !check(d.cuMemcpyHtoD(buffers[i].ptr, data.data(), bytes),
                          "cuMemcpyHtoD"))
        return;
    } else if (bytes &&
               !check(d.cuMemsetD8(buffers[i].ptr, 0xff, bytes), "cuMemsetD8")) {
      return;
    }
    attn_tensor t{reinterpret_cast<void *>(buffers[i].ptr),
                  a.dtype,
                  static_cast<int>(shapes[i].size()),
                  shapes[i].data(),
                  nullptr,
                  ATTN_DEVICE_CUDA};
    tensors.push_back(t);
  }

  // --misuse: every bad call refused before the good one runs.
  if (opt.misuse) {
    size_t tried = 0;
    std::vector<std::string> bad =
        misuse::checkMisuse(k, d, stream, tensors, scalars, tried);
    std::string list;
    for (const std::string &b : bad)
      list += (list.empty() ? "" : ", ") + jsonQuote(b);
    report.add("misuse", "{\"tried\": " + std::to_string(tried) +
                             ", \"not_refused\": [" + list + "]}");
    if (!bad.empty()) {
      status = "fail";
      message = "misuse not refused: " + bad.front();
      return;
    }
  }

  // One checked run.
  std::string expectError;
  bool mustFail = readText(dir + "/expect_error.txt", expectError);
  while (!expectError.empty() &&
         (expectError.back() == '\n' || expectError.back() == '\r'))
    expectError.pop_back();
  st = k.run(tensors, scalars, stream);
  CUresult sync = d.cuStreamSynchronize(stream);
  if (mustFail) {
    bool ok = !st && st.message.find(expectError) != std::string::npos;
    status = ok ? "pass" : "fail";
    message = st ? "the run succeeded, but it must fail with \"" + expectError +
                       "\""
                 : std::string(attn_status_string(st.code)) + ": " + st.message;
    return;
  }
  if (!st) {
    message = std::string(attn_status_string(st.code)) + ": " + st.message;
    return;
  }
  if (!check(sync, "the kernel failed on the GPU (cuStreamSynchronize)"))
    return;

  double bound = opt.tolerance > 0 ? opt.tolerance : boundFor(args);
  bool allPass = true, checked = true;
  std::string outputs;
  for (size_t i = 0; i < args.size(); ++i) {
    const attn_arg_info &a = args[i];
    if (!a.is_output)
      continue;
    DType dt = static_cast<DType>(a.dtype);
    size_t n = buffers[i].bytes / dtypeSize(dt);
    std::vector<uint8_t> host(buffers[i].bytes);
    if (!host.empty() &&
        !check(d.cuMemcpyDtoH(host.data(), buffers[i].ptr, host.size()),
               "cuMemcpyDtoH"))
      return;
    bool reference = haveExpected[i];
    if (reference && expected[i].shape != shapes[i]) {
      message = "expected/" + std::string(a.name) +
                ".npy does not have the output's shape";
      return;
    }
    double maxRef = 0, maxErr = 0;
    size_t unwritten = 0, wrong = 0;
    for (size_t e = 0; e < n; ++e) {
      double x = loadElement(host.data(), dt, e);
      if (!reference) {
        unwritten += std::isnan(x);
        continue;
      }
      double r = loadElement(expected[i].data.data(), expected[i].dtype, e);
      if (std::isnan(r)) {
        wrong += !std::isnan(x);
        continue;
      }
      maxRef = std::max(maxRef, std::fabs(r));
      if (std::isnan(x))
        ++unwritten;
      else
        maxErr = std::max(maxErr, std::fabs(x - r));
    }
    double rel = maxRef > 0 ? maxErr / maxRef : maxErr;
    bool pass = unwritten == 0 && wrong == 0 && rel <= bound;
    allPass &= pass;
    checked &= reference;
    outputs += std::string(outputs.empty() ? "" : ", ") + "{\"name\": " +
               jsonQuote(a.name) + ", \"elements\": " + std::to_string(n) +
               ", \"rel_err\": " + (reference ? number(rel) : "null") +
               ", \"bound\": " + number(bound) +
               ", \"nan\": " + std::to_string(unwritten) +
               ", \"pass\": " + (pass ? "true" : "false") + "}";
    message += std::string(message.empty() ? "" : "; ") + a.name +
               (reference ? ": relative error " + number(rel) + " (bound " +
                                number(bound) + ")"
                          : ": no reference") +
               (unwritten ? ", " + std::to_string(unwritten) + " NaN" : "") +
               (wrong ? ", " + std::to_string(wrong) +
                            " not NaN where the reference is"
                      : "");
  }
  report.add("outputs", "[" + outputs + "]");
  status = !allPass ? "fail" : checked ? "pass" : "ran";
  if (opt.timeRuns <= 0 || !allPass)
    return;

  // Timing: events around each run; a 256 MiB memset before each both
  // flushes the L2 and keeps the GPU busy while the run is checked and
  // enqueued, so the host's work stays out of the measured time.
  DeviceBuffer flush;
  size_t flushBytes = opt.flushL2 ? size_t(256) << 20 : 0;
  if (!alloc(flush, flushBytes))
    return;
  CUevent start, stop;
  if (!check(d.cuEventCreate(&start, 0), "cuEventCreate") ||
      !check(d.cuEventCreate(&stop, 0), "cuEventCreate"))
    return;
  std::vector<float> times;
  for (int r = 0; r < opt.warmup + opt.timeRuns; ++r) {
    if (flushBytes)
      d.cuMemsetD32Async(flush.ptr, r, flushBytes / 4, stream);
    d.cuEventRecord(start, stream);
    st = k.run(tensors, scalars, stream);
    d.cuEventRecord(stop, stream);
    if (!st || !check(d.cuEventSynchronize(stop), "timed run")) {
      if (!st)
        message = "timed run: " + st.message;
      status = "error";
      break;
    }
    float ms = 0;
    d.cuEventElapsedTime(&ms, start, stop);
    if (r >= opt.warmup)
      times.push_back(ms);
  }
  d.cuEventDestroy(start);
  d.cuEventDestroy(stop);
  if (times.empty())
    return;
  std::sort(times.begin(), times.end());
  double mean = 0;
  for (float t : times)
    mean += t / times.size();
  report.add("timing", "{\"runs\": " + std::to_string(times.size()) +
                           ", \"warmup\": " + std::to_string(opt.warmup) +
                           ", \"median_ms\": " +
                           number(times[times.size() / 2]) +
                           ", \"min_ms\": " + number(times.front()) +
                           ", \"mean_ms\": " + number(mean) +
                           ", \"flush_l2\": " +
                           (opt.flushL2 ? "true" : "false") + "}");
  message += "; median " + number(times[times.size() / 2]) + " ms";
}

int usage(const char *why) {
  std::fprintf(stderr,
               "attn-gpu-run: %s\n"
               "usage: attn-gpu-run [--json FILE] [--time N] [--warmup N] "
               "[--no-flush] [--tolerance X] [--device N] [--misuse] CASE_DIR...\n",
               why);
  return 2;
}

} // namespace

int main(int argc, char **argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char *flag) -> const char * {
      if (i + 1 >= argc) {
        usage((std::string(flag) + " needs a value").c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--json")
      opt.json = value("--json");
    else if (a == "--time")
      opt.timeRuns = std::atoi(value("--time"));
    else if (a == "--warmup")
      opt.warmup = std::atoi(value("--warmup"));
    else if (a == "--no-flush")
      opt.flushL2 = false;
    else if (a == "--tolerance")
      opt.tolerance = std::atof(value("--tolerance"));
    else if (a == "--device")
      opt.device = std::atoi(value("--device"));
    else if (a == "--misuse")
      opt.misuse = true;
    else if (a == "-h" || a == "--help")
      return usage("runs CUDA artefacts and checks them"), 0;
    else if (!a.empty() && a[0] == '-')
      return usage(("unknown option " + a).c_str());
    else
      opt.cases.push_back(a);
  }
  if (opt.cases.empty())
    return usage("give at least one case directory");

  std::FILE *json = nullptr;
  if (!opt.json.empty() && !(json = std::fopen(opt.json.c_str(), "a"))) {
    std::fprintf(stderr, "attn-gpu-run: cannot write %s\n", opt.json.c_str());
    return 2;
  }
  auto emit = [&](const std::string &line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    if (json) {
      std::fprintf(json, "%s\n", line.c_str());
      std::fflush(json);
    }
  };

  // The driver and a context on the chosen GPU, current on this thread.
  std::string error, deviceText;
  const Driver *d = cudaDriver(error);
  CUcontext context = nullptr;
  CUdevice device = 0;
  CUstream stream = nullptr;
  if (d) {
    CUresult r = d->cuDeviceGet(&device, opt.device);
    if (r == CUDA_SUCCESS)
      r = d->cuDevicePrimaryCtxRetain(&context, device);
    if (r == CUDA_SUCCESS)
      r = d->cuCtxSetCurrent(context);
    if (r == CUDA_SUCCESS)
      r = d->cuStreamCreate(&stream, 0);
    if (r != CUDA_SUCCESS) {
      error = "cannot use CUDA device " + std::to_string(opt.device) + ": " +
              d->describe(r);
      d = nullptr;
    } else {
      char name[256] = "?";
      int major = 0, minor = 0;
      d->cuDeviceGetName(name, sizeof name, device);
      d->cuDeviceGetAttribute(
          &major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
      d->cuDeviceGetAttribute(
          &minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
      deviceText = std::string(name) + " (sm_" + std::to_string(major) +
                   std::to_string(minor) + ")";
    }
  }

  int failed = 0;
  for (const std::string &dir : opt.cases) {
    std::string name = dir;
    while (name.size() > 1 && name.back() == '/')
      name.pop_back();
    name = name.substr(name.rfind('/') + 1);
    Report report;
    std::string status = "skip", message = error;
    report.add("case", jsonQuote(name));
    if (d) {
      report.add("device", jsonQuote(deviceText));
      Case c{opt, *d, stream, dir, name, {}, "error", ""};
      c.run();
      if (!c.report.fields.empty())
        report.fields += ", " + c.report.fields;
      status = c.status;
      message = c.message;
    }
    report.add("status", jsonQuote(status));
    report.add("message", jsonQuote(message));
    emit(report.line());
    std::fprintf(stderr, "%-24s %-5s %s\n", name.c_str(), status.c_str(),
                 message.c_str());
    failed += status != "pass" && status != "ran";
  }
  if (stream)
    d->cuStreamDestroy(stream);
  if (json)
    std::fclose(json);
  if (!d)
    return 3;
  return failed ? 1 : 0;
}
