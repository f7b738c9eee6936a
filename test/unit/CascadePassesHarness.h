// Shared by the cascade pass tests: compiles an example, draws random
// arguments for given sizes, runs a pass pipeline and interprets the kernel
// before and after it (float64 reference).
#ifndef ATTN_TEST_UNIT_CASCADEPASSESHARNESS_H
#define ATTN_TEST_UNIT_CASCADEPASSESHARNESS_H

#include "codegen/ref/ReferenceInterpreter.h"
#include "dialect/AttnOps.h"
#include "dialect/RuntimeDType.h"
#include "frontend/Frontend.h"
#include "passes/Passes.h"
#include "runtime/DType.h"
#include "test/unit/RefTensorCompare.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace attn_test {

using SizeSet = std::map<std::string, int64_t>;

/// Odd sizes for every size symbol of the examples, queries fewer than keys
/// (H = 4 * KVH for gqa's G = 4, R = P + M - 1 for relative_bias, PB and MB
/// cover P and M in block_sparse's blocks of 16).
inline SizeSet queriesBeforeKeys() {
  return {{"B", 2},  {"H", 4},  {"KVH", 1}, {"P", 37}, {"M", 70},
          {"E", 13}, {"F", 11}, {"R", 106}, {"PS", 5}, {"NB", 3},
          {"NP", 7}, {"PB", 3}, {"MB", 5}};
}

/// The same, with more queries than keys.
inline SizeSet queriesPastKeys() {
  SizeSet s = queriesBeforeKeys();
  s["P"] = 131;
  s["M"] = 37;
  s["R"] = 167;
  s["PB"] = 9;
  s["MB"] = 3;
  return s;
}

inline std::vector<std::string> allExamples() {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto &entry : std::filesystem::directory_iterator(
           std::string(ATTN_SOURCE_DIR) + "/examples", ec))
    if (entry.path().extension() == ".attn")
      files.push_back(entry.path().filename().string());
  std::sort(files.begin(), files.end());
  return files;
}

/// An example compiled by the frontend, with the diagnostics it and the
/// passes reported (remarks included).
struct Compiled {
  std::unique_ptr<mlir::MLIRContext> context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::string diagnostics;
  std::unique_ptr<mlir::ScopedDiagnosticHandler> handler;

  mlir::func::FuncOp kernel() {
    auto funcs = (*module).getOps<mlir::func::FuncOp>();
    return funcs.empty() ? mlir::func::FuncOp() : *funcs.begin();
  }
};

inline std::unique_ptr<Compiled> compileExample(const std::string &file) {
  auto c = std::make_unique<Compiled>();
  mlir::DialectRegistry registry;
  registry.insert<mlir::attn::AttnDialect, mlir::arith::ArithDialect,
                  mlir::math::MathDialect, mlir::tensor::TensorDialect,
                  mlir::func::FuncDialect>();
  c->context = std::make_unique<mlir::MLIRContext>(registry);
  c->context->loadAllAvailableDialects();
  c->handler = std::make_unique<mlir::ScopedDiagnosticHandler>(
      c->context.get(), [d = &c->diagnostics](mlir::Diagnostic &diag) {
        llvm::raw_string_ostream os(*d);
        os << diag.getLocation() << ": " << diag << "\n";
        return mlir::success();
      });
  std::string path = std::string(ATTN_SOURCE_DIR) + "/examples/" + file;
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer) {
    c->diagnostics = "cannot read " + path;
    return c;
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(*buffer), llvm::SMLoc());
  c->module = mlir::attn::translateAttnToMLIR(sourceMgr, c->context.get(), {});
  return c;
}

/// Runs `pipeline` (passes on each func.func) on the module.
inline mlir::LogicalResult runPipeline(Compiled &c,
                                       const std::string &pipeline) {
  static bool registered = (mlir::attn::registerAttnPasses(), true);
  (void)registered;
  mlir::PassManager pm(c.context.get());
  if (mlir::failed(mlir::parsePassPipeline("func.func(" + pipeline + ")", pm)))
    return mlir::failure();
  return pm.run(*c.module);
}

/// Random arguments for `kernel` at `sizes`: floats in [-1, 1) rounded to
/// their dtype, and valid contents for the integer tables of the examples.
inline bool randomArgs(mlir::func::FuncOp kernel, const SizeSet &sizes,
                       std::mt19937_64 &rng,
                       std::vector<mlir::attn::RefArg> &args,
                       std::string &error) {
  auto uniformInt = [&](int64_t lo, int64_t hi) { // inclusive
    return static_cast<double>(
        std::uniform_int_distribution<int64_t>(lo, hi)(rng));
  };
  for (unsigned i = 0; i < kernel.getNumArguments(); ++i) {
    mlir::Type type = kernel.getArgumentTypes()[i];
    auto tensorType = llvm::dyn_cast<mlir::RankedTensorType>(type);
    auto dt = mlir::attn::toRuntimeDType(
        tensorType ? tensorType.getElementType() : type);
    auto name =
        kernel.getArgAttrOfType<mlir::StringAttr>(i, mlir::attn::kNameAttr);
    if (!dt || !name) {
      error = "argument " + std::to_string(i) + " has no dtype or name";
      return false;
    }
    if (!tensorType) {
      double v = std::uniform_real_distribution<double>(0.1, 1)(rng);
      args.push_back(
          mlir::attn::RefArg::ofScalar(::attn::rt::roundToDType(v, *dt)));
      continue;
    }
    mlir::attn::RefTensor t;
    auto dims =
        kernel.getArgAttrOfType<mlir::ArrayAttr>(i, mlir::attn::kDimsAttr);
    for (mlir::Attribute d : dims) {
      std::string sym = llvm::cast<mlir::StringAttr>(d).str();
      if (std::isdigit(static_cast<unsigned char>(sym[0])))
        t.shape.push_back(std::stoll(sym));
      else if (sizes.count(sym))
        t.shape.push_back(sizes.at(sym));
      else {
        error = "no size for symbol " + sym;
        return false;
      }
    }
    size_t n = 1;
    for (int64_t s : t.shape)
      n *= s;
    t.values.resize(n);
    std::string table = name.str();
    for (double &v : t.values) {
      if (::attn::rt::isFloat(*dt))
        v = ::attn::rt::roundToDType(
            std::uniform_real_distribution<double>(-1, 1)(rng), *dt);
      else if (table == "Page")
        v = uniformInt(0, sizes.at("NP") - 1);
      else if (table == "Len")
        v = uniformInt(0, sizes.at("NB") * sizes.at("PS"));
      else if (table == "Layout")
        v = uniformInt(0, 3) != 0;
      else if (table == "Prefix")
        v = uniformInt(0, sizes.at("M"));
      else {
        error = "no generator for the integer input " + table;
        return false;
      }
    }
    args.push_back(mlir::attn::RefArg::ofTensor(std::move(t)));
  }
  return true;
}

inline std::string printed(mlir::ModuleOp module) {
  std::string s;
  llvm::raw_string_ostream os(s);
  module.print(os);
  return s;
}

/// The outputs of an example before and after a pipeline.
struct Outcome {
  bool ok = false;
  std::string error;
  std::vector<mlir::attn::RefTensor> before, after;
  bool changed = false;
};

inline Outcome runBeforeAndAfter(const std::string &file,
                                 const std::string &pipeline,
                                 const SizeSet &sizes, uint64_t seed) {
  Outcome o;
  std::unique_ptr<Compiled> c = compileExample(file);
  if (!c->module || !c->kernel()) {
    o.error = file + " does not compile:\n" + c->diagnostics;
    return o;
  }
  std::mt19937_64 rng(seed);
  std::vector<mlir::attn::RefArg> args;
  if (!randomArgs(c->kernel(), sizes, rng, args, o.error))
    return o;
  if (mlir::failed(
          mlir::attn::interpretKernel(c->kernel(), args, o.before, o.error)))
    return o;
  std::string original = printed(*c->module);
  if (mlir::failed(runPipeline(*c, pipeline)) ||
      mlir::failed(mlir::verify(*c->module))) {
    o.error = "the pipeline failed:\n" + c->diagnostics;
    return o;
  }
  o.changed = printed(*c->module) != original;
  if (mlir::failed(
          mlir::attn::interpretKernel(c->kernel(), args, o.after, o.error))) {
    o.error += "\nafter:\n" + printed(*c->module);
    return o;
  }
  o.ok = o.before.size() == o.after.size();
  return o;
}

} // namespace attn_test

#endif
