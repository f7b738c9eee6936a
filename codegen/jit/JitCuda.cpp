// The JIT's "cuda" target (JitCuda.h): compile to a PTX bundle in the cache
// entry, load it through the runtime.
#include "codegen/jit/JitCuda.h"

#include "codegen/gpu/CudaCodegen.h"
#include "codegen/jit/CompilerVersion.h"
#include "passes/Pipelines.h"
#include "runtime/CudaDriver.h"
#include "runtime/DType.h"

#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <map>

using namespace mlir;
using namespace mlir::attn;

namespace {

constexpr llvm::StringLiteral kManifestFile = "kernel.attn.json";

std::string pathIn(llvm::StringRef dir, llvm::StringRef name) {
  llvm::SmallString<256> file(dir);
  llvm::sys::path::append(file, name);
  return std::string(file);
}

/// Writes `text` to `path`; a failure is a write failure (the cache then
/// builds elsewhere).
JitStatus writeFile(const std::string &path, llvm::StringRef text) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (!ec) {
    os << text;
    os.close();
    ec = os.error();
    os.clear_error(); // else the destructor aborts the process
  }
  if (ec)
    return JitStatus::writeFailure("cannot write " + path + ": " +
                                   ec.message());
  return JitStatus::ok();
}

} // namespace

bool jit::isCudaTarget(llvm::StringRef target) {
  return target == "cuda" || target.starts_with("cuda:");
}

JitStatus jit::resolveCudaTarget(llvm::StringRef target,
                                 std::string &resolved) {
  if (target != "cuda") {
    if (!cudaChipOfTarget(target))
      return JitStatus::error("unknown target '" + target.str() +
                              "' (available: cpu, ref, cuda, cuda:sm_XY[a])");
    resolved = target.str();
    return JitStatus::ok();
  }
  namespace cu = ::attn::rt::cuda;
  std::string error;
  const cu::Driver *d = cu::cudaDriver(error);
  if (!d)
    return JitStatus::error("target cuda: cannot read the GPU's architecture "
                            "(" + error + "); name it, e.g. cuda:sm_90a");
  cu::CUdevice device = 0;
  if (d->cuCtxGetDevice(&device) != cu::CUDA_SUCCESS)
    device = 0; // no current context: device 0
  int major = 0, minor = 0;
  if (d->cuDeviceGetAttribute(&major,
                              cu::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                              device) != cu::CUDA_SUCCESS ||
      d->cuDeviceGetAttribute(&minor,
                              cu::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                              device) != cu::CUDA_SUCCESS)
    return JitStatus::error("target cuda: cannot read the compute capability "
                            "of device " + std::to_string(device));
  resolved = "cuda:sm_" + std::to_string(major) + std::to_string(minor) +
             (major == 9 && minor == 0 ? "a" : "");
  return JitStatus::ok();
}

JitStatus jit::produceCudaEntry(func::FuncOp kernel, llvm::StringRef resolved,
                                const std::string &dir) {
  ModuleOp module = kernel->getParentOfType<ModuleOp>();
  std::string name = kernel.getSymName().str();
  if (failed(runDefaultPipeline(module, "cuda")))
    return JitStatus::error("the cuda pipeline failed on kernel " + name);
  CudaCodegenOptions options;
  options.chip = *cudaChipOfTarget(resolved);
  options.compilerVersion = compilerVersion();
  FailureOr<CudaArtifact> artifact =
      compileKernelForCuda(module.lookupSymbol<func::FuncOp>(name), options);
  if (failed(artifact))
    return JitStatus::error("the CUDA code generator failed on kernel " + name);
  // The manifest names its PTX "<kernel>.ptx", beside it.
  if (JitStatus s = writeFile(pathIn(dir, name + ".ptx"), artifact->ptx); !s)
    return s;
  return writeFile(pathIn(dir, kManifestFile), artifact->manifest);
}

JitStatus jit::loadCudaEntry(const std::string &dir,
                             const std::string &wantName,
                             ::attn::rt::Kernel &kernel,
                             std::vector<JitValueInfo> &inputs,
                             std::vector<JitValueInfo> &outputs) {
  std::string manifest = pathIn(dir, kManifestFile);
  ::attn::rt::Status st = ::attn::rt::Kernel::load(manifest, kernel);
  if (!st) {
    // No driver or GPU, or a device that cannot run the target: the entry
    // is sound, the machine is not.
    if (st.code == ATTN_ERROR_NO_DEVICE || st.code == ATTN_ERROR_UNSUPPORTED)
      return JitStatus::error(st.message);
    return JitStatus::corrupt(st.message);
  }
  if (!wantName.empty() && kernel.name() != wantName)
    return JitStatus::corrupt(manifest + " holds kernel " + kernel.name() +
                              ", not " + wantName);
  for (const attn_arg_info &a : kernel.arguments()) {
    JitValueInfo info;
    info.name = a.name;
    info.isScalar = a.is_scalar;
    info.dtype = ::attn::rt::dtypeName(static_cast<::attn::rt::DType>(a.dtype));
    for (int d = 0; d < a.rank; ++d)
      info.dims.push_back(a.dims[d]);
    (a.is_output ? outputs : inputs).push_back(std::move(info));
  }
  return JitStatus::ok();
}

JitStatus jit::cudaOutputShapes(const ::attn::rt::Kernel &kernel,
                                llvm::ArrayRef<attn_tensor> inputs,
                                llvm::ArrayRef<attn_scalar> scalars,
                                std::vector<std::vector<int64_t>> &shapes) {
  std::map<std::string, int64_t> symbols;
  size_t tensor = 0, scalar = 0;
  shapes.clear();
  for (const attn_arg_info &a : kernel.arguments()) {
    if (a.is_scalar) {
      if (scalar >= scalars.size())
        return JitStatus::error("kernel " + kernel.name() + ": no value for "
                                "scalar " + a.name);
      const attn_scalar &s = scalars[scalar++];
      if (s.dtype == ATTN_I32 || s.dtype == ATTN_I64)
        symbols.emplace(a.name, s.value.i);
      continue;
    }
    if (!a.is_output) {
      if (tensor >= inputs.size())
        return JitStatus::error("kernel " + kernel.name() + ": no tensor for "
                                "input " + a.name);
      const attn_tensor &t = inputs[tensor++];
      if (t.rank != a.rank || (t.rank > 0 && !t.shape))
        return JitStatus::error("input " + std::string(a.name) +
                                " must have rank " + std::to_string(a.rank));
      for (int d = 0; d < a.rank; ++d)
        symbols.emplace(a.dims[d], t.shape[d]);
      continue;
    }
    std::vector<int64_t> shape;
    for (int d = 0; d < a.rank; ++d) {
      llvm::StringRef dim = a.dims[d];
      int64_t value = 0;
      if (!dim.getAsInteger(10, value)) {
        shape.push_back(value);
        continue;
      }
      auto it = symbols.find(dim.str());
      if (it == symbols.end())
        return JitStatus::error("output " + std::string(a.name) +
                                ": no input gives its size " + dim.str());
      shape.push_back(it->second);
    }
    shapes.push_back(std::move(shape));
  }
  return JitStatus::ok();
}
