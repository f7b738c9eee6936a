// The CUDA code generator (codegen/gpu), on a machine without a GPU:
// - every example compiles to PTX and a manifest that the runtime's reader
//   accepts and that the CUDA loader (on the stub driver) checks against the
//   PTX: target, entries, parameter counts and sizes;
// - the device code itself, before the NVVM lowering, is run on the CPU: each
//   gpu.func becomes a host function (one thread, one block: the grid-stride
//   loops visit every point), JIT-compiled, and the manifest's launches are
//   replayed in order with its parameters, workspace and error code exactly as
//   the runtime passes them; the outputs must match the float64 reference
//   interpreter as the GPU harness requires;
// - unsupported constructs are clear diagnostics.
#include "ExampleKernels.h"

#include "codegen/gpu/CudaCodegen.h"
#include "passes/Passes.h"
#include "passes/Pipelines.h"
#include "runtime/KernelManifest.h"
#include "runtime/Runtime.h"
#include "runtime/attn_runtime.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/TargetSelect.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

using namespace mlir;
namespace rt = ::attn::rt;

namespace {

const attn_test::Sizes kSmall = {
    {"B", 2},  {"H", 4},  {"KVH", 1}, {"P", 13}, {"M", 11}, {"E", 8}, {"F", 6},
    {"R", 23}, {"PS", 4}, {"NB", 3},  {"NP", 7}, {"PB", 1}, {"MB", 1}};
const attn_test::Sizes kTile = {{"B", 1},   {"H", 4},   {"KVH", 1}, {"P", 130},
                                {"M", 200}, {"E", 64},  {"F", 64},  {"R", 329},
                                {"PS", 16}, {"NB", 13}, {"NP", 20}, {"PB", 9},
                                {"MB", 13}};

/// Compiles an example and runs the cuda default pipeline on it.
std::unique_ptr<attn_test::Compiled> compileForCuda(const std::string &file) {
  mlir::attn::registerAttnPasses();
  auto c = attn_test::compileFile(attn_test::examplePath(file));
  if (!c->module)
    return c;
  PassManager pm(c->context.get(), ModuleOp::getOperationName());
  std::string error;
  llvm::raw_string_ostream os(error);
  if (failed(parsePassPipeline(*mlir::attn::defaultPipeline("cuda:sm_90a"), pm,
                               os)) ||
      failed(pm.run(*c->module))) {
    c->diagnostics += "pipeline failed: " + error;
    c->module = nullptr;
  }
  return c;
}

func::FuncOp onlyKernel(ModuleOp m) {
  func::FuncOp k;
  for (auto f : m.getOps<func::FuncOp>())
    k = f;
  return k;
}

std::string readFile(const std::string &path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/attn-gpucg-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

TEST(GpuCodegen, EveryExampleCompilesToPtxTheRuntimeLoads) {
  TempDir dir;
  for (const std::string &file : attn_test::allExamples()) {
    SCOPED_TRACE(file);
    auto c = compileForCuda(file);
    ASSERT_TRUE(c->module) << c->diagnostics;
    func::FuncOp kernel = onlyKernel(*c->module);
    mlir::attn::CudaCodegenOptions options;
    FailureOr<mlir::attn::CudaArtifact> a =
        mlir::attn::compileKernelForCuda(kernel, options);
    ASSERT_TRUE(succeeded(a)) << c->diagnostics;
    EXPECT_NE(a->ptx.find(".target sm_90a"), std::string::npos);
    rt::KernelManifest m;
    std::string error;
    ASSERT_TRUE(rt::parseKernelManifest(a->manifest, file, m, error)) << error;
    EXPECT_EQ(m.target, "cuda:sm_90a");
    EXPECT_FALSE(m.launches.empty());
    for (const rt::ManifestLaunch &l : m.launches)
      EXPECT_NE(a->ptx.find(".entry " + l.entry + "("), std::string::npos)
          << l.entry;
    ASSERT_TRUE(succeeded(mlir::attn::writeCudaBundle(kernel, *a, dir.path)));
    // The loader checks the PTX against the manifest (target, every entry,
    // its parameters' count and sizes) before it needs a driver; the stub
    // driver lets it finish.
    setenv("ATTN_CUDA_DRIVER", ATTN_FAKE_CUDA_DRIVER, 1);
    attn_kernel *k = nullptr;
    std::string path = dir.path + "/" + a->kernelName + ".attn.json";
    EXPECT_EQ(attn_load(path.c_str(), &k), ATTN_OK) << attn_last_error();
    if (k)
      attn_unload(k);
    unsetenv("ATTN_CUDA_DRIVER");
  }
}

// The fused launch's padded head-dimension variants (--cuda-any-head-dim,
// codegen/gpu/README.md): for
// any E and F, exactly one of the manifest's factors attn_fused0_<D> and
// attn_naive0 is 1: the smallest variant D of 32, 64, 96, 128 at least
// max(E, F) where E and F are multiples of 8 (16-byte rows), else naive.
TEST(GpuCodegen, HeadDimensionFactorsPickOneVariant) {
  auto c = compileForCuda("mha.attn");
  ASSERT_TRUE(c->module) << c->diagnostics;
  mlir::attn::CudaCodegenOptions options;
  options.paddedHeadDims = true; // attnc --cuda-any-head-dim
  FailureOr<mlir::attn::CudaArtifact> a =
      mlir::attn::compileKernelForCuda(onlyKernel(*c->module), options);
  ASSERT_TRUE(succeeded(a)) << c->diagnostics;
  rt::KernelManifest m;
  std::string error;
  ASSERT_TRUE(rt::parseKernelManifest(a->manifest, "mha", m, error)) << error;
  const int64_t variants[] = {32, 64, 96, 128};
  for (int64_t e : {0,  8,  16,  24,  32,  36,  40,  56,  64,  72, 80,
                    88, 96, 100, 104, 112, 120, 128, 136, 192, 256})
    for (int64_t f : {8, 32, 48, 64, 80, 96, 128, 130, 256}) {
      SCOPED_TRACE("E=" + std::to_string(e) + " F=" + std::to_string(f));
      std::map<std::string, int64_t> values = {{"B", 1},  {"H", 2}, {"P", 100},
                                               {"M", 70}, {"E", e}, {"F", f}};
      auto lookup = [&](const std::string &n) -> std::optional<int64_t> {
        auto it = values.find(n);
        if (it == values.end())
          return std::nullopt;
        return it->second;
      };
      for (const auto &[name, expr] : m.definitions) {
        int64_t v = 0;
        ASSERT_TRUE(expr.evaluate(lookup, v, error)) << name << ": " << error;
        values[name] = v;
      }
      std::string expected = "attn_naive0";
      int64_t widest = std::max(e, f);
      if (e % 8 == 0 && f % 8 == 0)
        for (int64_t d : variants)
          if (widest <= d) {
            expected = "attn_fused0_" + std::to_string(d);
            break;
          }
      int ones = 0;
      for (const auto &[name, expr] : m.definitions)
        if (name.rfind("attn_fused0_", 0) == 0 || name == "attn_naive0") {
          EXPECT_EQ(values[name], name == expected ? 1 : 0) << name;
          ones += values[name] == 1;
        }
      EXPECT_EQ(ones, 1);
    }
}

TEST(GpuCodegen, Sm80) {
  auto c = compileForCuda("mha.attn");
  ASSERT_TRUE(c->module) << c->diagnostics;
  mlir::attn::CudaCodegenOptions options;
  options.chip = "sm_80";
  FailureOr<mlir::attn::CudaArtifact> a =
      mlir::attn::compileKernelForCuda(onlyKernel(*c->module), options);
  ASSERT_TRUE(succeeded(a)) << c->diagnostics;
  EXPECT_NE(a->ptx.find(".target sm_80"), std::string::npos);
  EXPECT_NE(a->manifest.find("\"target\": \"cuda:sm_80\""), std::string::npos);
  EXPECT_EQ(mlir::attn::cudaChipOfTarget("cuda:sm_80"), "sm_80");
  EXPECT_EQ(mlir::attn::cudaChipOfTarget("cuda"), "sm_90a");
  EXPECT_EQ(mlir::attn::cudaChipOfTarget("cuda:sm_9x"), std::nullopt);
}

//===----------------------------------------------------------------------===//
// The device code on the CPU
//===----------------------------------------------------------------------===//

/// The gpu.funcs of the device module as host functions: gpu.thread_id and
/// gpu.block_id are 0, gpu.block_dim and gpu.grid_dim 1 (one thread does
/// every point), then lowered to LLVM for the execution engine.
LogicalResult hostModule(ModuleOp device, OwningOpRef<ModuleOp> &host,
                         std::string &error) {
  MLIRContext *ctx = device.getContext();
  host = ModuleOp::create(device.getLoc());
  OpBuilder b(ctx);
  for (auto gm : device.getOps<gpu::GPUModuleOp>())
    for (auto gf : llvm::make_early_inc_range(gm.getOps<gpu::GPUFuncOp>())) {
      b.setInsertionPointToEnd(host->getBody());
      auto f = func::FuncOp::create(b, gf.getLoc(), gf.getName(),
                                    gf.getFunctionType());
      f.getBody().takeBody(gf.getBody());
      SmallVector<Operation *> gpuOps;
      f.walk([&](Operation *op) {
        if (isa<gpu::GPUDialect>(op->getDialect()))
          gpuOps.push_back(op);
      });
      for (Operation *op : gpuOps) {
        b.setInsertionPoint(op);
        if (isa<gpu::ReturnOp>(op)) {
          func::ReturnOp::create(b, op->getLoc());
        } else if (isa<gpu::ThreadIdOp, gpu::BlockIdOp>(op)) {
          op->getResult(0).replaceAllUsesWith(
              arith::ConstantIndexOp::create(b, op->getLoc(), 0));
        } else if (isa<gpu::BlockDimOp, gpu::GridDimOp>(op)) {
          op->getResult(0).replaceAllUsesWith(
              arith::ConstantIndexOp::create(b, op->getLoc(), 1));
        } else {
          error = "unexpected " + op->getName().getStringRef().str();
          return failure();
        }
        op->erase();
      }
    }
  PassManager pm(ctx, ModuleOp::getOperationName());
  pm.addPass(createSCFToControlFlowPass());
  pm.addNestedPass<func::FuncOp>(arith::createArithExpandOpsPass());
  // LLVM intrinsics where there are (rsqrt has no libm function), libm for
  // the rest (tanh).
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  std::string diagnostics;
  ScopedDiagnosticHandler handler(ctx, [&](Diagnostic &d) {
    diagnostics += d.str() + "\n";
    return success();
  });
  if (failed(pm.run(*host))) {
    error = "host lowering failed: " + diagnostics;
    return failure();
  }
  return success();
}

/// A tensor in memory as the runtime holds it: its dtype, row-major.
struct Buffer {
  rt::DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

/// Runs the kernel's manifest on the host functions; the outputs come back
/// as doubles. Returns "" or what went wrong.
std::string runOnHost(mlir::ExecutionEngine &engine,
                      const rt::KernelManifest &m,
                      const std::vector<mlir::attn::RefArg> &args,
                      std::vector<mlir::attn::RefTensor> &outputs,
                      int32_t &errorCode) {
  std::map<std::string, int64_t> symbols;
  std::vector<Buffer> buffers(m.arguments.size());
  std::vector<double> scalars(m.arguments.size());
  // Inputs, then outputs with shapes from their dims.
  for (size_t i = 0; i < m.arguments.size(); ++i) {
    const rt::ManifestArgument &a = m.arguments[i];
    if (a.isScalar) {
      scalars[i] = args[i].scalar;
      if (!rt::isFloat(a.dtype))
        symbols[a.name] = static_cast<int64_t>(args[i].scalar);
      continue;
    }
    Buffer &buf = buffers[i];
    buf.dtype = a.dtype;
    if (!a.isOutput) {
      buf.shape = args[i].tensor.shape;
      for (size_t k = 0; k < a.dims.size(); ++k)
        if (!std::isdigit(static_cast<unsigned char>(a.dims[k][0])))
          symbols[a.dims[k]] = buf.shape[k];
    }
  }
  for (size_t i = 0; i < m.arguments.size(); ++i) {
    const rt::ManifestArgument &a = m.arguments[i];
    Buffer &buf = buffers[i];
    if (!a.isOutput)
      continue;
    for (const std::string &d : a.dims) {
      if (std::isdigit(static_cast<unsigned char>(d[0])))
        buf.shape.push_back(std::stoll(d));
      else if (symbols.count(d))
        buf.shape.push_back(symbols[d]);
      else
        return "output " + a.name + ": unbound symbol " + d;
    }
  }
  for (size_t i = 0; i < m.arguments.size(); ++i) {
    if (m.arguments[i].isScalar)
      continue;
    Buffer &buf = buffers[i];
    size_t n = 1;
    for (int64_t d : buf.shape)
      n *= d;
    buf.bytes.resize(n * rt::dtypeSize(buf.dtype));
    if (m.arguments[i].isOutput) {
      std::memset(buf.bytes.data(), 0xff, buf.bytes.size()); // NaN bytes
    } else {
      for (size_t k = 0; k < n; ++k)
        rt::storeElement(buf.bytes.data(), buf.dtype, k,
                         args[i].tensor.values[k]);
    }
  }
  auto lookup = [&](const std::string &s) -> std::optional<int64_t> {
    auto it = symbols.find(s);
    if (it == symbols.end())
      return std::nullopt;
    return it->second;
  };
  std::string error;
  int64_t workspaceBytes = 0;
  if (m.workspaceBytes &&
      !m.workspaceBytes->evaluate(lookup, workspaceBytes, error))
    return "workspace_bytes: " + error;
  // Uninitialised workspace: garbage a kernel must not depend on.
  std::vector<uint8_t> workspace(workspaceBytes + 1, 0xa5);
  errorCode = 0;
  for (const rt::ManifestLaunch &l : m.launches) {
    std::vector<uint64_t> slots(l.params.size(), 0);
    std::vector<void *> packed;
    for (size_t k = 0; k < l.params.size(); ++k) {
      const rt::ManifestParam &p = l.params[k];
      void *ptr = nullptr;
      switch (p.kind) {
      case rt::ManifestParam::Int64:
      case rt::ManifestParam::Int32: {
        int64_t v;
        if (!p.value.evaluate(lookup, v, error))
          return l.entry + " param " + p.text + ": " + error;
        if (p.kind == rt::ManifestParam::Int32) {
          int32_t w = static_cast<int32_t>(v);
          std::memcpy(&slots[k], &w, 4);
        } else {
          std::memcpy(&slots[k], &v, 8);
        }
        break;
      }
      case rt::ManifestParam::ErrorCode:
        ptr = &errorCode;
        std::memcpy(&slots[k], &ptr, 8);
        break;
      case rt::ManifestParam::Workspace:
        ptr = workspace.data();
        std::memcpy(&slots[k], &ptr, 8);
        break;
      case rt::ManifestParam::Argument: {
        const rt::ManifestArgument &a = m.arguments[p.argument];
        if (!a.isScalar) {
          ptr = buffers[p.argument].bytes.data();
          std::memcpy(&slots[k], &ptr, 8);
        } else if (a.dtype == rt::DType::f64) {
          double v = scalars[p.argument];
          std::memcpy(&slots[k], &v, 8);
        } else if (rt::isFloat(a.dtype)) {
          float v = static_cast<float>(scalars[p.argument]);
          std::memcpy(&slots[k], &v, 4);
        } else if (a.dtype == rt::DType::i64) {
          int64_t v = static_cast<int64_t>(scalars[p.argument]);
          std::memcpy(&slots[k], &v, 8);
        } else if (a.dtype == rt::DType::boolean) {
          uint8_t v = scalars[p.argument] != 0;
          std::memcpy(&slots[k], &v, 1);
        } else {
          int32_t v = static_cast<int32_t>(scalars[p.argument]);
          std::memcpy(&slots[k], &v, 4);
        }
        break;
      }
      }
    }
    for (uint64_t &s : slots)
      packed.push_back(&s);
    if (llvm::Error e = engine.invokePacked(l.entry, packed))
      return l.entry + ": " + llvm::toString(std::move(e));
  }
  outputs.clear();
  for (size_t i = 0; i < m.arguments.size(); ++i) {
    if (!m.arguments[i].isOutput)
      continue;
    const Buffer &buf = buffers[i];
    mlir::attn::RefTensor t;
    t.shape = buf.shape;
    size_t n = buf.bytes.size() / rt::dtypeSize(buf.dtype);
    for (size_t k = 0; k < n; ++k)
      t.values.push_back(rt::loadElement(buf.bytes.data(), buf.dtype, k));
    outputs.push_back(std::move(t));
  }
  return "";
}

/// max |a - e| / max |e|, NaN where a is NaN and e is not.
double relativeError(const mlir::attn::RefTensor &a,
                     const mlir::attn::RefTensor &e) {
  double maxRef = 0, maxErr = 0;
  for (size_t k = 0; k < e.values.size(); ++k) {
    maxRef = std::max(maxRef, std::fabs(e.values[k]));
    double d = std::fabs(a.values[k] - e.values[k]);
    if (std::isnan(d) && !(std::isnan(a.values[k]) && std::isnan(e.values[k])))
      return NAN;
    if (!std::isnan(d))
      maxErr = std::max(maxErr, d);
  }
  return maxRef > 0 ? maxErr / maxRef : maxErr;
}

class DeviceCodeOnCpu : public ::testing::TestWithParam<std::string> {
protected:
  static void SetUpTestSuite() {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  }
};

/// An example compiled for CUDA, its device code JIT-compiled for the host.
struct HostKernel {
  std::unique_ptr<attn_test::Compiled> reference, compiled;
  rt::KernelManifest manifest;
  std::unique_ptr<mlir::ExecutionEngine> engine;
  func::FuncOp referenceKernel() { return onlyKernel(*reference->module); }

  /// "" or what failed.
  std::string make(const std::string &file) {
    // The reference runs the cascade as written.
    reference = attn_test::compileFile(attn_test::examplePath(file));
    if (!reference->module)
      return reference->diagnostics;
    compiled = compileForCuda(file);
    if (!compiled->module)
      return compiled->diagnostics;
    // The fused attention launches use tensor-core and shared-memory
    // instructions that only a GPU runs; the replay checks the others.
    mlir::attn::CudaCodegenOptions options;
    options.fuse = false;
    FailureOr<mlir::attn::CudaDeviceModule> device =
        mlir::attn::buildCudaDeviceModule(onlyKernel(*compiled->module),
                                          options);
    if (failed(device))
      return "buildCudaDeviceModule failed: " + compiled->diagnostics;
    std::string error;
    if (!rt::parseKernelManifest(device->manifest, file, manifest, error))
      return error;
    OwningOpRef<ModuleOp> host;
    if (failed(hostModule(*device->module, host, error)))
      return error;
    registerBuiltinDialectTranslation(*host->getContext());
    registerLLVMDialectTranslation(*host->getContext());
    mlir::ExecutionEngineOptions engineOptions;
    auto transformer = mlir::makeOptimizingTransformer(2, 0, nullptr);
    engineOptions.transformer = transformer;
    auto created = mlir::ExecutionEngine::create(*host, engineOptions);
    if (!created)
      return llvm::toString(created.takeError());
    engine = std::move(*created);
    return "";
  }
};

TEST_P(DeviceCodeOnCpu, MatchesTheReference) {
  const std::string file = GetParam();
  HostKernel hk;
  ASSERT_EQ(hk.make(file), "");
  const rt::KernelManifest &m = hk.manifest;
  std::string error;
  bool half = false;
  for (const rt::ManifestArgument &a : m.arguments)
    half |= a.dtype == rt::DType::bf16 || a.dtype == rt::DType::f16;
  double bound = half ? 2e-2 : 1e-5;
  int seed = 1;
  for (const attn_test::Sizes *sizes : {&kSmall, &kTile}) {
    SCOPED_TRACE(sizes == &kSmall ? "small sizes" : "tile sizes");
    std::mt19937_64 rng(seed++);
    std::vector<mlir::attn::RefArg> args;
    std::string why =
        attn_test::randomArgs(hk.referenceKernel(), *sizes, rng, args);
    ASSERT_EQ(why, "");
    std::vector<mlir::attn::RefTensor> expected, actual;
    ASSERT_TRUE(succeeded(mlir::attn::interpretKernel(hk.referenceKernel(),
                                                      args, expected, error)))
        << error;
    int32_t code = 0;
    std::string ran = runOnHost(*hk.engine, m, args, actual, code);
    ASSERT_EQ(ran, "");
    EXPECT_EQ(code, 0) << (code > 0 && code <= int(m.errors.size())
                               ? m.errors[code - 1].what + " " +
                                     m.errors[code - 1].where
                               : std::string("?"));
    ASSERT_EQ(actual.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      ASSERT_EQ(actual[i].shape, expected[i].shape);
      double rel = relativeError(actual[i], expected[i]);
      EXPECT_LE(rel, bound) << "output " << i << " relative error " << rel;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Examples, DeviceCodeOnCpu,
                         ::testing::ValuesIn(attn_test::allExamples()),
                         [](const ::testing::TestParamInfo<std::string> &info) {
                           std::string name =
                               info.param.substr(0, info.param.size() - 5);
                           for (char &ch : name)
                             if (!std::isalnum(static_cast<unsigned char>(ch)))
                               ch = '_';
                           return name;
                         });

TEST_F(DeviceCodeOnCpu, OutOfRangeReadsSetTheErrorCode) {
  HostKernel hk;
  ASSERT_EQ(hk.make("paged_decode.attn"), "");
  std::mt19937_64 rng(7);
  std::vector<mlir::attn::RefArg> args;
  ASSERT_EQ(attn_test::randomArgs(hk.referenceKernel(), kSmall, rng, args), "");
  // Page (argument 3) names a page past the pool (NP = 7) for every token.
  for (double &v : args[3].tensor.values)
    v = 7;
  std::vector<mlir::attn::RefTensor> expected, actual;
  std::string error;
  ASSERT_TRUE(failed(mlir::attn::interpretKernel(hk.referenceKernel(), args,
                                                 expected, error)));
  EXPECT_NE(error.find("out-of-range read of Kc"), std::string::npos) << error;
  int32_t code = 0;
  ASSERT_EQ(runOnHost(*hk.engine, hk.manifest, args, actual, code), "");
  ASSERT_GT(code, 0);
  ASSERT_LE(code, static_cast<int>(hk.manifest.errors.size()));
  const rt::ManifestRunError &e = hk.manifest.errors[code - 1];
  EXPECT_TRUE(e.what == "out-of-range read of Kc" ||
              e.what == "out-of-range read of Vc")
      << e.what;
  EXPECT_EQ(e.dimension, 0);
  EXPECT_NE(e.where.find("by attn.read in the attn.einsum at"),
            std::string::npos);
  // In range again: no error.
  for (double &v : args[3].tensor.values)
    v = 6;
  ASSERT_EQ(runOnHost(*hk.engine, hk.manifest, args, actual, code), "");
  EXPECT_EQ(code, 0);
}

//===----------------------------------------------------------------------===//
// Diagnostics
//===----------------------------------------------------------------------===//

TEST(GpuCodegen, UnsupportedOpsAreNamed) {
  MLIRContext context;
  DialectRegistry registry;
  registry
      .insert<mlir::attn::AttnDialect, arith::ArithDialect, math::MathDialect,
              tensor::TensorDialect, func::FuncDialect>();
  context.appendDialectRegistry(registry);
  context.loadAllAvailableDialects();
  const char *text = R"mlir(
    func.func @k(%x: tensor<?xf32> {attn.dims = ["N"], attn.name = "X"})
        -> (tensor<?xf32> {attn.dims = ["N"], attn.name = "Y"})
        attributes {attn.kernel} {
      %c0 = arith.constant 0 : index
      %n = tensor.dim %x, %c0 : tensor<?xf32>
      %e = tensor.empty(%n) : tensor<?xf32>
      %y = attn.einsum ins(%x : tensor<?xf32>) sizes(%n)
             {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
              kind = #attn.reduction<none>} -> tensor<?xf32> {
      ^bb0(%v: f32, %i: index):
        attn.yield %v : f32
      }
      %o = attn.fill %y, 0.0 : tensor<?xf32> -> tensor<?xf32>
      return %o : tensor<?xf32>
    })mlir";
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, &context);
  ASSERT_TRUE(module);
  std::string diagnostics;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    diagnostics += d.str() + "\n";
    return success();
  });
  FailureOr<mlir::attn::CudaArtifact> a =
      mlir::attn::compileKernelForCuda(onlyKernel(*module), {});
  EXPECT_TRUE(failed(a));
  EXPECT_NE(
      diagnostics.find("does not support 'tensor.empty' in a kernel body"),
      std::string::npos)
      << diagnostics;
}

} // namespace
