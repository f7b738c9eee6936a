// The CUDA back end of runtime/attn_runtime.h: loads the PTX a manifest
// names through the CUDA driver API (runtime/CudaDriver.h, dlopened at first
// use), and launches its entry points with the manifest's geometry and
// parameter lists after checking every argument.
//
// Order of work, so that a bad call costs no driver call and a bad artefact
// is named before the driver is needed:
//   load: manifest (Loader.cpp) -> PTX file read, its .target and every
//         launch's .entry signature checked against the manifest -> driver
//         -> context -> compute capability -> module (JIT log on failure);
//   run:  counts, scalars, every tensor (device, dtype, rank, shape, size
//         symbols, contiguity, data) -> geometry and parameters evaluated ->
//         driver: context, module of that context, each pointer (device
//         memory of that GPU, large enough) -> launches on the stream.
#include "runtime/LoaderInternal.h"

#include "runtime/CudaDriver.h"
#include "runtime/DType.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

using namespace attn::rt;
using namespace attn::rt::cuda;

namespace attn::rt {

struct CudaKernel {
  const Driver *driver = nullptr;
  std::string ptx;   // the PTX text, loaded again into each new context
  std::string where; // the PTX file, for messages
  CUcontext loadContext = nullptr;
  CUdevice primaryDevice = -1; // >= 0: its primary context was retained

  struct Module {
    CUmodule module = nullptr;
    CUdevice device = 0;
    std::vector<CUfunction> functions;   // one per launch
    std::vector<int64_t> sharedAllowed;  // dynamic shared bytes set, per launch
    int sharedOptIn = 0;                 // the device's per-block maximum
  };
  std::mutex mutex;
  std::map<CUcontext, Module> modules; // guarded by mutex
};

} // namespace attn::rt

namespace {

/// Makes `context` current for a scope (push/pop) unless it already is.
class ContextScope {
public:
  ContextScope(const Driver &d, CUcontext context) : d(d) {
    CUcontext current = nullptr;
    d.cuCtxGetCurrent(&current);
    if (current != context && d.cuCtxPushCurrent(context) == CUDA_SUCCESS)
      pushed = true;
  }
  ~ContextScope() {
    if (pushed) {
      CUcontext ignored;
      d.cuCtxPopCurrent(&ignored);
    }
  }

private:
  const Driver &d;
  bool pushed = false;
};

//===----------------------------------------------------------------------===//
// The PTX text: .target and entry signatures, read without the driver
//===----------------------------------------------------------------------===//

bool isIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$';
}

/// The ".target sm_90a" of the PTX ("" if none).
std::string ptxTarget(const std::string &ptx) {
  size_t at = ptx.find(".target");
  if (at == std::string::npos)
    return "";
  size_t start = ptx.find_first_not_of(" \t", at + 7);
  if (start == std::string::npos)
    return "";
  size_t end = start;
  while (end < ptx.size() && isIdentChar(ptx[end]))
    ++end;
  return ptx.substr(start, end - start);
}

/// The byte size of each parameter of `.entry name(...)`; false when the PTX
/// has no such entry. A parameter is `.param .TYPE [attributes] NAME` or
/// `.param [.align N] .TYPE NAME[COUNT]` (an array, e.g. a by-value struct).
bool entryParams(const std::string &ptx, const std::string &name,
                 std::vector<size_t> &sizes) {
  size_t at = 0;
  while ((at = ptx.find(".entry", at)) != std::string::npos) {
    at += 6;
    size_t start = ptx.find_first_not_of(" \t\r\n", at);
    if (start == std::string::npos ||
        ptx.compare(start, name.size(), name) != 0 ||
        (start + name.size() < ptx.size() &&
         isIdentChar(ptx[start + name.size()])))
      continue;
    size_t open = ptx.find_first_not_of(" \t\r\n", start + name.size());
    sizes.clear();
    if (open == std::string::npos || ptx[open] != '(')
      return true; // no parameters
    size_t close = ptx.find(')', open);
    std::string list = ptx.substr(open + 1, close - open - 1);
    std::stringstream decls(list);
    std::string decl;
    while (std::getline(decls, decl, ',')) {
      std::stringstream words(decl);
      std::string w;
      size_t elem = 0, count = 1;
      while (words >> w) {
        static const std::pair<const char *, size_t> types[] = {
            {".u64", 8}, {".s64", 8}, {".b64", 8}, {".f64", 8},
            {".u32", 4}, {".s32", 4}, {".b32", 4}, {".f32", 4},
            {".u16", 2}, {".s16", 2}, {".b16", 2}, {".f16", 2},
            {".bf16", 2}, {".u8", 1}, {".s8", 1},  {".b8", 1}};
        for (auto &[t, n] : types)
          if (w == t)
            elem = n;
        size_t bracket = w.find('[');
        if (bracket != std::string::npos && w[0] != '.')
          count = std::strtoull(w.c_str() + bracket + 1, nullptr, 10);
      }
      if (elem)
        sizes.push_back(elem * count);
    }
    return true;
  }
  return false;
}

/// Bytes the manifest's parameter takes: device pointers and 64-bit values
/// 8, f32 (also f16/bf16 scalars) and i32 4, bool 1.
size_t paramBytes(const KernelManifest &m, const ManifestParam &p) {
  switch (p.kind) {
  case ManifestParam::Int32:
    return 4;
  case ManifestParam::Int64:
  case ManifestParam::ErrorCode:
  case ManifestParam::Workspace:
    return 8;
  case ManifestParam::Argument:
    break;
  }
  const ManifestArgument &a = m.arguments[p.argument];
  if (!a.isScalar)
    return 8;
  switch (a.dtype) {
  case DType::f64:
  case DType::i64:
    return 8;
  case DType::boolean:
    return 1;
  default:
    return 4;
  }
}

/// Reads the PTX and checks it against the manifest: the target, and each
/// launch's entry with its parameters' count and sizes.
attn_status checkPtx(const attn_kernel &k, const std::string &path,
                     std::string &ptx) {
  const KernelManifest &m = k.manifest;
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return fail(ATTN_ERROR_LOAD, "cannot read the PTX file " + path + " of " +
                                     k.manifestPath + ": " +
                                     std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  ptx = text.str();
  std::string target = ptxTarget(ptx);
  if (target != m.cudaTarget.name())
    return fail(ATTN_ERROR_MANIFEST,
                path + " is PTX for " +
                    (target.empty() ? "no .target" : target) + ", but " +
                    k.manifestPath + " says " + m.target);
  for (const ManifestLaunch &l : m.launches) {
    std::vector<size_t> sizes;
    if (!entryParams(ptx, l.entry, sizes))
      return fail(ATTN_ERROR_MANIFEST, path + " has no entry point " + l.entry +
                                           " (named by " + k.manifestPath +
                                           ")");
    if (sizes.size() != l.params.size())
      return fail(ATTN_ERROR_MANIFEST,
                  "entry " + l.entry + " of " + path + " takes " +
                      std::to_string(sizes.size()) + " parameters, but " +
                      k.manifestPath + " lists " +
                      std::to_string(l.params.size()));
    for (size_t i = 0; i < sizes.size(); ++i) {
      size_t want = paramBytes(m, l.params[i]);
      if (sizes[i] != want)
        return fail(ATTN_ERROR_MANIFEST,
                    "parameter " + std::to_string(i) + " of entry " + l.entry +
                        " in " + path + " is " + std::to_string(sizes[i]) +
                        " bytes, but " + k.manifestPath + " passes \"" +
                        l.params[i].text + "\" (" + std::to_string(want) +
                        " bytes)");
    }
  }
  return ATTN_OK;
}

//===----------------------------------------------------------------------===//
// Modules, one per context
//===----------------------------------------------------------------------===//

/// Loads the PTX into `context` (current) on `device`: compute capability,
/// JIT (its log on failure), every launch's function.
attn_status loadModule(const attn_kernel &k, CudaKernel &c, CUdevice device,
                       CudaKernel::Module &out) {
  const Driver &d = *c.driver;
  const KernelManifest &m = k.manifest;
  int major = 0, minor = 0;
  char name[256] = "?";
  d.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                         device);
  d.cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                         device);
  d.cuDeviceGetName(name, sizeof name, device);
  const CudaTarget &t = m.cudaTarget;
  bool runs = t.archSpecific
                  ? major == t.major && minor == t.minor
                  : major > t.major || (major == t.major && minor >= t.minor);
  if (!runs)
    return fail(ATTN_ERROR_UNSUPPORTED,
                "kernel " + m.kernel + " was compiled for " + m.target +
                    ", which device " + std::to_string(device) + " (" + name +
                    ", sm_" + std::to_string(major) + std::to_string(minor) +
                    ") cannot run" +
                    (t.archSpecific ? " (an sm_XYa target runs on that "
                                      "compute capability alone)"
                                    : ""));
  d.cuDeviceGetAttribute(&out.sharedOptIn,
                         CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                         device);

  char errorLog[8192] = "", infoLog[1024] = "";
  int options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                   CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {errorLog, reinterpret_cast<void *>(sizeof errorLog),
                    infoLog, reinterpret_cast<void *>(sizeof infoLog)};
  CUresult r = d.cuModuleLoadDataEx(&out.module, c.ptx.c_str(), 4, options,
                                    values);
  if (r != CUDA_SUCCESS) {
    std::string log = errorLog;
    while (!log.empty() && (log.back() == '\n' || log.back() == '\0'))
      log.pop_back();
    return fail(ATTN_ERROR_LOAD,
                "the CUDA driver cannot load " + c.where + " on device " +
                    std::to_string(device) + " (" + name + "): " +
                    d.describe(r) + (log.empty() ? "" : ": " + log) +
                    (r == CUDA_ERROR_UNSUPPORTED_PTX_VERSION
                         ? " (the PTX is newer than this driver)"
                         : ""));
  }
  out.device = device;
  for (const ManifestLaunch &l : m.launches) {
    CUfunction f = nullptr;
    r = d.cuModuleGetFunction(&f, out.module, l.entry.c_str());
    if (r != CUDA_SUCCESS) {
      d.cuModuleUnload(out.module);
      return fail(ATTN_ERROR_LOAD, c.where + " has no entry point " + l.entry +
                                       " for the CUDA driver: " +
                                       d.describe(r));
    }
    out.functions.push_back(f);
    out.sharedAllowed.push_back(48 * 1024); // the default limit
  }
  return ATTN_OK;
}

/// The module of the current context `context`, loaded at first use.
attn_status moduleFor(const attn_kernel &k, CudaKernel &c, CUcontext context,
                      CudaKernel::Module *&out) {
  std::lock_guard<std::mutex> lock(c.mutex);
  auto it = c.modules.find(context);
  if (it == c.modules.end()) {
    CUdevice device = 0;
    CUresult r = c.driver->cuCtxGetDevice(&device);
    if (r != CUDA_SUCCESS)
      return fail(ATTN_ERROR_KERNEL, "cannot query the device of the current "
                                     "CUDA context: " +
                                         c.driver->describe(r));
    CudaKernel::Module module;
    if (attn_status s = loadModule(k, c, device, module))
      return s;
    it = c.modules.emplace(context, std::move(module)).first;
  }
  out = &it->second;
  return ATTN_OK;
}

} // namespace

//===----------------------------------------------------------------------===//
// Loading
//===----------------------------------------------------------------------===//

attn_status attn::rt::loadCuda(attn_kernel &k, const std::string &given) {
  const KernelManifest &m = k.manifest;
  std::string path, ptx, error;
  if (attn_status s = artefactPath(k, given, m.ptx, path))
    return s;
  if (attn_status s = checkPtx(k, path, ptx))
    return s;

  const Driver *d = cudaDriver(error);
  if (!d)
    return fail(ATTN_ERROR_NO_DEVICE, "cannot load kernel " + m.kernel +
                                          " for " + m.target + ": " + error);
  k.cuda = new CudaKernel;
  CudaKernel &c = *k.cuda;
  c.driver = d;
  c.ptx = std::move(ptx);
  c.where = path;

  // The current context, or device 0's primary context (as the CUDA
  // runtime and PyTorch use it).
  CUresult r = d->cuCtxGetCurrent(&c.loadContext);
  if (r != CUDA_SUCCESS || !c.loadContext) {
    int count = 0;
    d->cuDeviceGetCount(&count);
    if (count == 0)
      return fail(ATTN_ERROR_NO_DEVICE,
                  "cannot load kernel " + m.kernel + " for " + m.target +
                      ": no CUDA device (the driver sees no GPU)");
    CUdevice device = 0;
    r = d->cuDeviceGet(&device, 0);
    if (r == CUDA_SUCCESS)
      r = d->cuDevicePrimaryCtxRetain(&c.loadContext, device);
    if (r != CUDA_SUCCESS)
      return fail(ATTN_ERROR_NO_DEVICE,
                  "cannot open a context on CUDA device 0: " + d->describe(r));
    c.primaryDevice = device;
  }
  ContextScope scope(*d, c.loadContext);
  CudaKernel::Module *module;
  return moduleFor(k, c, c.loadContext, module);
}

void attn::rt::unloadCuda(CudaKernel *c) {
  const Driver &d = *c->driver;
  for (auto &[context, module] : c->modules) {
    // The context may be gone already (a program tearing down): ignore errors.
    if (d.cuCtxPushCurrent(context) != CUDA_SUCCESS)
      continue;
    d.cuModuleUnload(module.module);
    CUcontext ignored;
    d.cuCtxPopCurrent(&ignored);
  }
  if (c->primaryDevice >= 0)
    d.cuDevicePrimaryCtxRelease(c->primaryDevice);
  delete c;
}

//===----------------------------------------------------------------------===//
// Running
//===----------------------------------------------------------------------===//

namespace {

/// One launch, evaluated for a call.
struct LaunchPlan {
  unsigned grid[3], block[3], shared;
  bool empty; // a zero grid dimension: nothing to do
  std::vector<std::array<uint8_t, 8>> storage;
  std::vector<void *> params;
  int errorCodeParam = -1, workspaceParam = -1; // filled after allocation
};

std::string dims3(const unsigned v[3]) {
  return "[" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + ", " +
         std::to_string(v[2]) + "]";
}

/// Frees stream-ordered allocations at the end of a run.
struct Scratch {
  const Driver &d;
  CUstream stream;
  CUdeviceptr errorCode = 0, workspace = 0;
  ~Scratch() {
    if (errorCode)
      d.cuMemFreeAsync(errorCode, stream);
    if (workspace)
      d.cuMemFreeAsync(workspace, stream);
  }
};

} // namespace

attn_status attn::rt::runCuda(attn_kernel &kernel, const attn_tensor *tensors,
                              const attn_scalar *scalars, void *streamHandle) {
  const KernelManifest &m = kernel.manifest;
  const std::string &name = m.kernel;
  CudaKernel &c = *kernel.cuda;
  const Driver &d = *c.driver;
  CUstream stream = static_cast<CUstream>(streamHandle);
  static const ExtentLimits limits{int64_t(1) << 48, int64_t(1) << 48, "2^48",
                                   "the CUDA target"};

  // 1. Every argument, with no driver call.
  SizeSymbols symbols;
  std::string error;
  std::vector<std::array<uint8_t, 8>> scalarStorage(kernel.numScalars);
  if (attn_status s = checkScalars(m, scalars, scalarStorage, symbols, error))
    return fail(s, std::move(error));
  std::vector<int> tensorOf(m.arguments.size(), -1), scalarOf = tensorOf;
  std::vector<int64_t> bytes(kernel.numTensors);
  size_t t = 0, sc = 0;
  for (size_t i = 0; i < m.arguments.size(); ++i) {
    const ManifestArgument &a = m.arguments[i];
    if (a.isScalar) {
      scalarOf[i] = static_cast<int>(sc++);
      continue;
    }
    tensorOf[i] = static_cast<int>(t);
    const attn_tensor &x = tensors[t];
    std::string what = (a.isOutput ? "output " : "argument ") + a.name;
    if (attn_status s =
            checkTensorDevice(x, ATTN_DEVICE_CUDA, what, name, error))
      return fail(s, std::move(error));
    int64_t count;
    if (attn_status s =
            checkTensorShape(a, x, what, limits, symbols, count, error))
      return fail(s, std::move(error));
    if (x.strides) {
      int64_t dense = 1;
      for (int k = x.rank - 1; k >= 0; --k) {
        if (x.shape[k] > 1 && x.strides[k] != dense)
          return fail(ATTN_ERROR_UNSUPPORTED,
                      what + " has strides " + shapeText(x.strides, x.rank) +
                          " for shape " + shapeText(x.shape, x.rank) +
                          "; the CUDA target needs contiguous row-major "
                          "tensors: copy it first");
        dense *= x.shape[k];
      }
    }
    if (!x.data && count > 0)
      return fail(ATTN_ERROR_INVALID_ARGUMENT,
                  what + " has NULL data (shape " +
                      shapeText(x.shape, x.rank) + ")");
    bytes[t] = count * static_cast<int64_t>(dtypeSize(a.dtype));
    ++t;
  }

  // 2. Geometry, workspace and parameters from the bound size symbols.
  auto lookup = [&](const std::string &s) { return symbols.lookup(s); };
  auto evaluate = [&](const SizeExpr &e, const std::string &what,
                      int64_t &v) -> attn_status {
    if (!e.evaluate(lookup, v, error))
      return fail(ATTN_ERROR_INVALID_ARGUMENT,
                  "kernel " + name + ": " + what + " " + error);
    return ATTN_OK;
  };
  for (const auto &[defName, value] : m.definitions) {
    int64_t v;
    if (attn_status s = evaluate(value, "size " + defName, v))
      return s;
    if (!symbols.bind(defName, v, "the manifest's size " + defName, error))
      return fail(ATTN_ERROR_INVALID_ARGUMENT, "kernel " + name + ": " + error);
  }
  int64_t workspaceBytes = 0;
  if (m.workspaceBytes) {
    if (attn_status s =
            evaluate(*m.workspaceBytes, "workspace_bytes", workspaceBytes))
      return s;
    if (workspaceBytes < 0)
      return fail(ATTN_ERROR_INVALID_ARGUMENT,
                  "kernel " + name + ": workspace_bytes \"" +
                      m.workspaceBytes->text() + "\" is " +
                      std::to_string(workspaceBytes));
  }
  bool wantErrorCode = false;
  std::vector<LaunchPlan> plans(m.launches.size());
  for (size_t li = 0; li < m.launches.size(); ++li) {
    const ManifestLaunch &l = m.launches[li];
    LaunchPlan &p = plans[li];
    std::string where = "launch " + std::to_string(li) + " (" + l.entry + ")";
    int64_t g[3], b[3], shared;
    for (int k = 0; k < 3; ++k) {
      if (attn_status s = evaluate(l.grid[k], where + " grid", g[k]))
        return s;
      if (attn_status s = evaluate(l.block[k], where + " block", b[k]))
        return s;
    }
    if (attn_status s = evaluate(l.sharedBytes, where + " shared_bytes", shared))
      return s;
    static const int64_t gridMax[3] = {(int64_t(1) << 31) - 1, 65535, 65535};
    static const int64_t blockMax[3] = {1024, 1024, 64};
    bool fits = shared >= 0 && shared <= INT32_MAX &&
                b[0] * b[1] * b[2] <= 1024;
    for (int k = 0; k < 3; ++k)
      fits &= g[k] >= 0 && g[k] <= gridMax[k] && b[k] >= 1 &&
              b[k] <= blockMax[k];
    auto text = [](const int64_t v[3]) {
      return "[" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + ", " +
             std::to_string(v[2]) + "]";
    };
    if (!fits)
      return fail(ATTN_ERROR_UNSUPPORTED,
                  "kernel " + name + ": " + where + " needs grid " + text(g) +
                      ", block " + text(b) + " and " + std::to_string(shared) +
                      " bytes of shared memory, beyond what CUDA launches "
                      "(grid up to [2^31-1, 65535, 65535], block up to "
                      "[1024, 1024, 64] and 1024 threads)");
    for (int k = 0; k < 3; ++k) {
      p.grid[k] = static_cast<unsigned>(g[k]);
      p.block[k] = static_cast<unsigned>(b[k]);
    }
    p.shared = static_cast<unsigned>(shared);
    p.empty = g[0] == 0 || g[1] == 0 || g[2] == 0;
    p.storage.resize(l.params.size());
    for (size_t pi = 0; pi < l.params.size(); ++pi) {
      const ManifestParam &param = l.params[pi];
      uint8_t *slot = p.storage[pi].data();
      switch (param.kind) {
      case ManifestParam::Argument:
        if (tensorOf[param.argument] >= 0) {
          CUdeviceptr ptr = reinterpret_cast<CUdeviceptr>(
              tensors[tensorOf[param.argument]].data);
          std::memcpy(slot, &ptr, 8);
        } else {
          std::memcpy(slot, scalarStorage[scalarOf[param.argument]].data(), 8);
        }
        break;
      case ManifestParam::Int64:
      case ManifestParam::Int32: {
        int64_t v;
        if (attn_status s = evaluate(param.value, where + " parameter", v))
          return s;
        if (param.kind == ManifestParam::Int32) {
          if (v < INT32_MIN || v > INT32_MAX)
            return fail(ATTN_ERROR_UNSUPPORTED,
                        "kernel " + name + ": " + where + " parameter \"" +
                            param.text + "\" is " + std::to_string(v) +
                            ", beyond the kernel's 32-bit parameter");
          int32_t v32 = static_cast<int32_t>(v);
          std::memcpy(slot, &v32, 4);
        } else {
          std::memcpy(slot, &v, 8);
        }
        break;
      }
      case ManifestParam::ErrorCode:
        p.errorCodeParam = static_cast<int>(pi);
        wantErrorCode = true;
        break;
      case ManifestParam::Workspace:
        p.workspaceParam = static_cast<int>(pi);
        break;
      }
    }
  }

  // 3. The driver: context, module, pointers, launches.
  CUcontext context = nullptr;
  d.cuCtxGetCurrent(&context);
  if (!context)
    context = c.loadContext;
  ContextScope scope(d, context);
  CudaKernel::Module *module;
  if (attn_status s = moduleFor(kernel, c, context, module))
    return s;

  t = 0;
  for (const ManifestArgument &a : m.arguments) {
    if (a.isScalar)
      continue;
    const attn_tensor &x = tensors[t];
    int64_t need = bytes[t++];
    if (need == 0)
      continue;
    std::string what = (a.isOutput ? "output " : "argument ") + a.name;
    CUdeviceptr ptr = reinterpret_cast<CUdeviceptr>(x.data);
    unsigned memoryType = 0;
    int ordinal = -1;
    CUdeviceptr start = 0;
    size_t size = 0;
    int attributes[] = {CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
                        CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL,
                        CU_POINTER_ATTRIBUTE_RANGE_START_ADDR,
                        CU_POINTER_ATTRIBUTE_RANGE_SIZE};
    void *values[] = {&memoryType, &ordinal, &start, &size};
    CUresult r = d.cuPointerGetAttributes(4, attributes, values, ptr);
    if (r != CUDA_SUCCESS || memoryType == 0)
      return fail(ATTN_ERROR_INVALID_ARGUMENT,
                  what + " (" + std::to_string(ptr) +
                      ") is not memory the CUDA driver knows: pass device "
                      "memory (cuMemAlloc, cudaMalloc, a torch CUDA tensor)");
    if (memoryType != CU_MEMORYTYPE_DEVICE &&
        memoryType != CU_MEMORYTYPE_UNIFIED)
      return fail(ATTN_ERROR_INVALID_ARGUMENT,
                  what + " is host memory (CUDA memory type " +
                      std::to_string(memoryType) + "): pass device memory");
    if (memoryType == CU_MEMORYTYPE_DEVICE && ordinal != module->device)
      return fail(ATTN_ERROR_INVALID_ARGUMENT,
                  what + " is on CUDA device " + std::to_string(ordinal) +
                      ", but the current context is on device " +
                      std::to_string(module->device));
    if (size > 0 && (ptr < start || ptr - start > size ||
                     static_cast<uint64_t>(need) > size - (ptr - start)))
      return fail(ATTN_ERROR_INVALID_ARGUMENT,
                  what + " needs " + std::to_string(need) + " bytes (shape " +
                      shapeText(x.shape, x.rank) + ") from its pointer, but " +
                      "its allocation has " +
                      std::to_string(size - (ptr - start)) + " bytes left");
  }

  // Dynamic shared memory beyond 48 KiB must be allowed per function.
  for (size_t li = 0; li < plans.size(); ++li) {
    const LaunchPlan &p = plans[li];
    std::lock_guard<std::mutex> lock(c.mutex);
    if (p.empty || p.shared <= module->sharedAllowed[li])
      continue;
    if (module->sharedOptIn > 0 && p.shared > unsigned(module->sharedOptIn))
      return fail(ATTN_ERROR_UNSUPPORTED,
                  "kernel " + name + ": launch " + std::to_string(li) + " (" +
                      m.launches[li].entry + ") needs " +
                      std::to_string(p.shared) +
                      " bytes of shared memory; device " +
                      std::to_string(module->device) + " allows " +
                      std::to_string(module->sharedOptIn) + " per block");
    CUresult r = d.cuFuncSetAttribute(
        module->functions[li], CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
        static_cast<int>(p.shared));
    if (r != CUDA_SUCCESS)
      return fail(ATTN_ERROR_KERNEL, "kernel " + name + ": cannot allow " +
                                         std::to_string(p.shared) +
                                         " bytes of shared memory for " +
                                         m.launches[li].entry + ": " +
                                         d.describe(r));
    module->sharedAllowed[li] = p.shared;
  }

  Scratch scratch{d, stream};
  auto driverError = [&](const char *call, CUresult r) {
    return fail(ATTN_ERROR_KERNEL,
                "kernel " + name + ": " + call + " failed: " + d.describe(r));
  };
  if (wantErrorCode) {
    if (CUresult r = d.cuMemAllocAsync(&scratch.errorCode, 4, stream))
      return driverError("cuMemAllocAsync (error code)", r);
    if (CUresult r = d.cuMemsetD32Async(scratch.errorCode, 0, 1, stream))
      return driverError("cuMemsetD32Async (error code)", r);
  }
  if (workspaceBytes > 0)
    if (CUresult r = d.cuMemAllocAsync(&scratch.workspace,
                                       static_cast<size_t>(workspaceBytes),
                                       stream))
      return driverError("cuMemAllocAsync (workspace)", r);

  for (size_t li = 0; li < plans.size(); ++li) {
    LaunchPlan &p = plans[li];
    if (p.empty)
      continue;
    if (p.errorCodeParam >= 0)
      std::memcpy(p.storage[p.errorCodeParam].data(), &scratch.errorCode, 8);
    if (p.workspaceParam >= 0)
      std::memcpy(p.storage[p.workspaceParam].data(), &scratch.workspace, 8);
    p.params.clear();
    for (auto &slot : p.storage)
      p.params.push_back(slot.data());
    CUresult r = d.cuLaunchKernel(
        module->functions[li], p.grid[0], p.grid[1], p.grid[2], p.block[0],
        p.block[1], p.block[2], p.shared, stream,
        p.params.empty() ? nullptr : p.params.data(), nullptr);
    if (r != CUDA_SUCCESS)
      return fail(ATTN_ERROR_KERNEL,
                  "kernel " + name + ": launch " + std::to_string(li) + " (" +
                      m.launches[li].entry + ", grid " + dims3(p.grid) +
                      ", block " + dims3(p.block) + ", " +
                      std::to_string(p.shared) +
                      " bytes of shared memory) failed: " + d.describe(r));
  }

  if (wantErrorCode) {
    int32_t code = 0;
    if (CUresult r =
            d.cuMemcpyDtoHAsync(&code, scratch.errorCode, 4, stream))
      return driverError("cuMemcpyDtoHAsync (error code)", r);
    if (CUresult r = d.cuStreamSynchronize(stream))
      return driverError("cuStreamSynchronize", r);
    if (code != 0)
      return fail(ATTN_ERROR_KERNEL, runErrorMessage(m, tensors, code,
                                                     "the CUDA kernel " + name));
  }
  return ATTN_OK;
}
