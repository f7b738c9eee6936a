// A kernel compiled for the CPU: the Halide pipeline JIT-compiled once, then
// run on the caller's typed buffers (checked as the runtime checks them,
// runtime/CpuCall.h), or on RefTensors converted to and from those buffers.
// Output shapes come from the host signature (HostSignature.h), so a kernel
// outlives its module.
#include "codegen/halide/HalidePipeline.h"
#include "runtime/CpuCall.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

#include <atomic>

using namespace mlir;
using namespace mlir::attn;
namespace H = Halide;
namespace rt = ::attn::rt;

namespace {
std::atomic<uint64_t> halideCompileCount{0};
} // namespace

uint64_t mlir::attn::halideCompilations() { return halideCompileCount; }
void mlir::attn::countHalideCompilation() { ++halideCompileCount; }

struct HalideKernel::Impl {
  HalidePipeline pipeline;
  H::Pipeline halide;
  H::Target target;
  HostSignature signature;
  /// What the runtime's checks and error messages need.
  rt::KernelManifest manifest;
};

rt::KernelManifest mlir::attn::describeCpuKernel(const HostSignature &sig,
                                                 const HalidePipeline &p) {
  rt::KernelManifest m;
  m.formatVersion = 1;
  m.kernel = sig.kernelName();
  m.callingConvention = "halide_argv";
  m.arguments = sig.arguments();
  for (const HalideRunError &e : p.runErrors)
    m.errors.push_back({e.what, e.argument, e.dimension, e.where});
  return m;
}

//===----------------------------------------------------------------------===//
// HalideKernel
//===----------------------------------------------------------------------===//

HalideKernel::HalideKernel(std::unique_ptr<Impl> impl)
    : impl(std::move(impl)) {}
HalideKernel::HalideKernel(HalideKernel &&) noexcept = default;
HalideKernel &HalideKernel::operator=(HalideKernel &&) noexcept = default;
HalideKernel::~HalideKernel() = default;

const HostSignature &HalideKernel::signature() const {
  return impl->signature;
}

FailureOr<H::Target>
mlir::attn::resolveHalideTarget(func::FuncOp kernel,
                                const HalideCodegenOptions &options) {
  H::Target target;
  if (options.target == "host") {
    // Halide 14 reports Sapphire Rapids for any CPU with AVX512-BF16 and
    // VNNI (AMD Zen 4 too), then emits AVX512-FP16 code that such CPUs
    // cannot run (SIGILL): keep that feature for explicit target strings.
    target =
        H::get_host_target().without_feature(H::Target::AVX512_SapphireRapids);
  } else if (H::Target::validate_target_string(options.target)) {
    target = H::Target(options.target);
  } else {
    return kernel.emitError("unknown Halide target '") << options.target << "'";
  }
  return target;
}

FailureOr<HalideKernel>
HalideKernel::compile(func::FuncOp kernel,
                      const HalideCodegenOptions &options) {
  FailureOr<HostSignature> signature = HostSignature::build(kernel);
  if (failed(signature))
    return failure();
  auto impl = std::make_unique<Impl>();
  impl->signature = std::move(*signature);
  FailureOr<H::Target> target = resolveHalideTarget(kernel, options);
  if (failed(target))
    return failure();
  impl->target = *target;
  if (failed(buildHalidePipeline(kernel, impl->pipeline, options, *target)))
    return failure();
  impl->manifest = describeCpuKernel(impl->signature, impl->pipeline);
  try {
    scheduleHalidePipeline(impl->pipeline, options, impl->target);
    std::vector<H::Func> outputs;
    for (const HalideOutput &out : impl->pipeline.outputs)
      outputs.push_back(out.func);
    if (impl->pipeline.errorCode.defined())
      outputs.push_back(impl->pipeline.errorCode);
    impl->halide = H::Pipeline(outputs);
    countHalideCompilation();
    impl->halide.compile_jit(impl->target);
  } catch (const H::Error &e) {
    kernel.emitError("Halide could not compile the kernel: ") << e.what();
    return failure();
  }
  return HalideKernel(std::move(impl));
}

LogicalResult HalideKernel::run(ArrayRef<attn_tensor> tensors,
                                ArrayRef<attn_scalar> scalars,
                                std::string &error) {
  Impl &k = *impl;
  rt::CpuCall call;
  if (call.prepare(k.manifest, tensors.data(), tensors.size(), scalars.data(),
                   scalars.size(), error) != ATTN_OK ||
      !k.signature.checkOutputShapes(tensors, scalars, error))
    return failure();
  if (call.nothingToCompute) // every output is empty (P = 0, B = 0)
    return success();

  // Halide buffers over the caller's memory, as the runtime builds them.
  H::ParamMap params;
  std::vector<H::Buffer<>> outputs;
  size_t s = 0;
  for (size_t i = 0; i < k.manifest.arguments.size(); ++i) {
    const rt::ManifestArgument &a = k.manifest.arguments[i];
    if (a.isScalar) {
      const attn_scalar &v = scalars[s++];
      double value = rt::isFloat(a.dtype) ? rt::roundToDType(v.value.f, a.dtype)
                                          : static_cast<double>(v.value.i);
      k.pipeline.arguments[i].scalar.bind(params, value);
      continue;
    }
    H::Buffer<> buffer(*static_cast<halide_buffer_t *>(call.argv[i]));
    if (a.isOutput)
      outputs.push_back(buffer);
    else
      params.set(k.pipeline.arguments[i].image, buffer);
  }
  if (k.pipeline.errorCode.defined())
    outputs.push_back(
        H::Buffer<>(*static_cast<halide_buffer_t *>(call.argv.back())));

  try {
    k.halide.realize(H::Realization(outputs), k.target, params);
  } catch (const H::Error &e) {
    error = "the CPU kernel " + k.manifest.kernel + " failed: " +
            rt::CpuCall::describeHalideMessage(k.manifest, e.what());
    return failure();
  }
  if (call.errorCode != 0) {
    error = call.errorMessage(k.manifest, tensors.data());
    return failure();
  }
  return success();
}

LogicalResult HalideKernel::run(ArrayRef<RefArg> args,
                                std::vector<RefTensor> &results,
                                std::string &error) {
  return success(impl->signature.runOnRefArgs(
      args, results, error,
      [&](ArrayRef<attn_tensor> tensors, ArrayRef<attn_scalar> scalars,
          std::string &e) { return succeeded(run(tensors, scalars, e)); }));
}

std::string HalideKernel::loweredStatement() {
  llvm::SmallString<128> path;
  if (llvm::sys::fs::createTemporaryFile("attn-halide", "stmt", path))
    return "";
  try {
    impl->halide.compile_to_lowered_stmt(path.str().str(),
                                         impl->halide.infer_arguments(),
                                         H::Text, impl->target);
  } catch (const H::Error &e) {
    llvm::sys::fs::remove(path);
    return std::string("error: ") + e.what();
  }
  std::string text;
  if (auto buffer = llvm::MemoryBuffer::getFile(path))
    text = (*buffer)->getBuffer().str();
  llvm::sys::fs::remove(path);
  return text;
}

LogicalResult mlir::attn::runKernelOnCpu(func::FuncOp kernel,
                                         ArrayRef<RefArg> args,
                                         std::vector<RefTensor> &results,
                                         std::string &error,
                                         const HalideCodegenOptions &options) {
  std::string diagnostics;
  FailureOr<HalideKernel> compiled = [&] {
    ScopedDiagnosticHandler handler(kernel.getContext(), [&](Diagnostic &d) {
      if (d.getSeverity() != DiagnosticSeverity::Error)
        return success();
      std::string loc;
      if (auto file = d.getLocation()->findInstanceOf<FileLineColLoc>())
        loc = file.getFilename().str() + ":" + std::to_string(file.getLine()) +
              ":" + std::to_string(file.getColumn()) + ": ";
      diagnostics += (diagnostics.empty() ? "" : "\n") + loc + d.str();
      return success();
    });
    return HalideKernel::compile(kernel, options);
  }();
  if (failed(compiled)) {
    error = diagnostics.empty() ? "the CPU code generator failed" : diagnostics;
    return failure();
  }
  return compiled->run(args, results, error);
}
