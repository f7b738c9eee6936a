// The NVVM pipeline, in process: a module of one gpu.module (gpu.funcs over
// scf, arith, math and llvm pointer ops) is lowered to the NVVM and LLVM
// dialects, translated to LLVM IR, linked with libdevice (math functions)
// and compiled by LLVM's NVPTX back end to PTX text:
//
//   convert-scf-to-cf, nvvm-attach-target{chip features},
//   gpu.module(arith-expand, convert-gpu-to-nvvm), reconcile-unrealized-casts,
//   gpu-module-to-binary{format=isa}
//
// The PTX is the object string of the resulting gpu.binary op.
#include "codegen/gpu/CudaPlan.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"

#include <mutex>

extern "C" {
void LLVMInitializeNVPTXTargetInfo();
void LLVMInitializeNVPTXTarget();
void LLVMInitializeNVPTXTargetMC();
void LLVMInitializeNVPTXAsmPrinter();
}

using namespace mlir;

void mlir::attn::registerCudaCodegenDialects(DialectRegistry &registry) {
  registry.insert<gpu::GPUDialect, NVVM::NVVMDialect, LLVM::LLVMDialect,
                  scf::SCFDialect, cf::ControlFlowDialect, arith::ArithDialect,
                  math::MathDialect, func::FuncDialect>();
  // The ConvertToLLVM interfaces that convert-gpu-to-nvvm uses for arith,
  // cf, math, ..., and the NVVM target attribute's serializer.
  registerAllExtensions(registry);
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
}

/// The CUDA toolkit whose libdevice (nvvm/libdevice/libdevice.10.bc) the
/// math functions link with: $CUDA_HOME, $CUDA_PATH, $CUDA_ROOT, then
/// /usr/local/cuda; "" when none has it. (MLIR's own search depends on the
/// environment, so the path is always passed explicitly.)
static std::string cudaToolkitPath() {
  for (const char *var : {"CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"})
    if (std::optional<std::string> v = llvm::sys::Process::GetEnv(var))
      if (llvm::sys::fs::exists(*v + "/nvvm/libdevice/libdevice.10.bc"))
        return *v;
  if (llvm::sys::fs::exists("/usr/local/cuda/nvvm/libdevice/libdevice.10.bc"))
    return "/usr/local/cuda";
  return "";
}

FailureOr<std::string>
mlir::attn::cuda::lowerToPtx(ModuleOp module, const CudaCodegenOptions &options,
                             std::string &error) {
  static std::once_flag initialized;
  std::call_once(initialized, [] {
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
  });

  MLIRContext *context = module.getContext();
  std::string diagnostics;
  ScopedDiagnosticHandler handler(context, [&](Diagnostic &d) {
    if (d.getSeverity() == DiagnosticSeverity::Error) {
      llvm::raw_string_ostream os(diagnostics);
      os << (diagnostics.empty() ? "" : "; ") << d.str();
    }
    return success();
  });

  PassManager pm(context, ModuleOp::getOperationName());
  pm.addPass(createSCFToControlFlowPass());
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.features;
  target.optLevel = 3;
  pm.addPass(createGpuNVVMAttachTarget(target));
  OpPassManager &gpuPm = pm.nest<gpu::GPUModuleOp>();
  gpuPm.addPass(arith::createArithExpandOpsPass());
  gpuPm.addPass(createConvertGpuOpsToNVVMOps());
  pm.addPass(createReconcileUnrealizedCastsPass());
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa";
  binary.toolkitPath = cudaToolkitPath();
  pm.addPass(createGpuModuleToBinaryPass(binary));
  if (failed(pm.run(module))) {
    error = "the NVVM pipeline failed" +
            (diagnostics.empty() ? std::string() : ": " + diagnostics);
    return failure();
  }
  for (auto binaryOp : module.getOps<gpu::BinaryOp>())
    for (Attribute a : binaryOp.getObjects())
      if (auto object = dyn_cast<gpu::ObjectAttr>(a)) {
        std::string ptx = object.getObject().str();
        // A math function left external: libdevice was not linked.
        size_t at = ptx.find(".extern .func");
        if (at != std::string::npos) {
          size_t name = ptx.find("__nv_", at);
          error = "the PTX calls " +
                  (name == std::string::npos
                       ? std::string("an external function")
                       : ptx.substr(name, ptx.find_first_of(" (\n", name) -
                                              name)) +
                  " from libdevice, which was not found (set CUDA_HOME to a "
                  "CUDA toolkit with nvvm/libdevice/libdevice.10.bc)";
          return failure();
        }
        return ptx;
      }
  error = "the NVVM pipeline produced no PTX";
  return failure();
}
