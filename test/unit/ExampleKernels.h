// Loading the examples/ kernels and drawing random inputs for them, shared by
// the tests that run every example (reference, passes, code generators).
#ifndef ATTN_TEST_UNIT_EXAMPLEKERNELS_H
#define ATTN_TEST_UNIT_EXAMPLEKERNELS_H

#include "codegen/ref/ReferenceInterpreter.h"
#include "dialect/AttnOps.h"
#include "dialect/RuntimeDType.h"
#include "frontend/Frontend.h"
#include "runtime/DType.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace attn_test {

inline std::string examplePath(const std::string &file) {
  return std::string(ATTN_SOURCE_DIR) + "/examples/" + file;
}

/// The file names of examples/*.attn, sorted.
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

/// The runtime dtype of `type`'s element type (of `type` itself for a
/// scalar), if it is one the language has.
inline std::optional<::attn::rt::DType> elementDType(mlir::Type type) {
  if (auto tensorType = llvm::dyn_cast<mlir::RankedTensorType>(type))
    return mlir::attn::toRuntimeDType(tensorType.getElementType());
  return mlir::attn::toRuntimeDType(type);
}

/// The attn.name of argument `i` of `kernel`, or "<unnamed>".
inline std::string argName(mlir::func::FuncOp kernel, unsigned i) {
  if (auto a =
          kernel.getArgAttrOfType<mlir::StringAttr>(i, mlir::attn::kNameAttr))
    return a.str();
  return "<unnamed>";
}

/// A compiled module with its own context and the diagnostics it produced.
/// With `handler` set (compileFile's keepDiagnostics), the diagnostics of
/// later work on the module (passes, remarks included) are collected too.
struct Compiled {
  std::unique_ptr<mlir::MLIRContext> context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  std::string diagnostics;
  // Last: destroyed before the context it is registered with.
  std::unique_ptr<mlir::ScopedDiagnosticHandler> handler;

  /// The first kernel of the module, or null.
  mlir::func::FuncOp kernel() {
    auto funcs = (*module).getOps<mlir::func::FuncOp>();
    return funcs.empty() ? mlir::func::FuncOp() : *funcs.begin();
  }
};

/// Compiles the .attn file at `path`. The frontend's diagnostics go to
/// `diagnostics`; with `keepDiagnostics`, so do all later ones.
inline std::unique_ptr<Compiled>
compileFile(const std::string &path,
            const mlir::attn::FrontendOptions &opts = {},
            bool keepDiagnostics = false) {
  auto c = std::make_unique<Compiled>();
  mlir::DialectRegistry registry;
  registry.insert<mlir::attn::AttnDialect, mlir::arith::ArithDialect,
                  mlir::math::MathDialect, mlir::tensor::TensorDialect,
                  mlir::func::FuncDialect>();
  c->context = std::make_unique<mlir::MLIRContext>(registry);
  c->context->loadAllAvailableDialects();
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer) {
    c->diagnostics = "cannot read " + path;
    return c;
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(*buffer), llvm::SMLoc());
  auto handler = std::make_unique<mlir::ScopedDiagnosticHandler>(
      c->context.get(), [d = &c->diagnostics](mlir::Diagnostic &diag) {
        llvm::raw_string_ostream os(*d);
        os << diag.getLocation() << ": " << diag << "\n";
        return mlir::success();
      });
  c->module =
      mlir::attn::translateAttnToMLIR(sourceMgr, c->context.get(), opts);
  if (keepDiagnostics)
    c->handler = std::move(handler);
  return c;
}

using Sizes = std::map<std::string, int64_t>;

/// Valid contents for the integer tables of the examples, by input name
/// (page numbers, lengths, block layouts, prefix lengths); false for an
/// integer input it does not know.
inline bool fillIntegerTable(const std::string &name, const Sizes &s,
                             std::mt19937_64 &rng, std::vector<double> &values) {
  auto uniformInt = [&](int64_t lo, int64_t hi) { // inclusive
    return static_cast<double>(
        std::uniform_int_distribution<int64_t>(lo, hi)(rng));
  };
  auto size = [&](const char *sym) {
    auto it = s.find(sym);
    return it == s.end() ? int64_t(1) : it->second;
  };
  if (name == "Page") {
    for (double &v : values)
      v = uniformInt(0, size("NP") - 1);
  } else if (name == "Len") {
    for (double &v : values)
      v = uniformInt(0, size("NB") * size("PS"));
  } else if (name == "Layout") {
    for (double &v : values)
      v = uniformInt(0, 3) != 0;
  } else if (name == "Prefix") {
    for (double &v : values)
      v = uniformInt(0, size("M"));
  } else {
    return false;
  }
  return true;
}

/// Random arguments for `kernel` with the extents of `sizes`: floats uniform
/// in [-1, 1) rounded to their dtype, float scalars in [0.1, 1), integer
/// tables from fillIntegerTable. Returns an empty string or the reason it
/// could not.
inline std::string randomArgs(mlir::func::FuncOp kernel, const Sizes &sizes,
                              std::mt19937_64 &rng,
                              std::vector<mlir::attn::RefArg> &args) {
  namespace rt = ::attn::rt;
  args.clear();
  for (unsigned i = 0; i < kernel.getNumArguments(); ++i) {
    std::string name = argName(kernel, i);
    mlir::Type type = kernel.getArgumentTypes()[i];
    auto tensorType = llvm::dyn_cast<mlir::RankedTensorType>(type);
    auto dt = elementDType(type);
    if (!dt)
      return name + " has an element type outside the language";
    if (!tensorType) {
      double v = rt::isFloat(*dt)
                     ? std::uniform_real_distribution<double>(0.1, 1)(rng)
                     : 1.0;
      args.push_back(mlir::attn::RefArg::ofScalar(rt::roundToDType(v, *dt)));
      continue;
    }
    auto dims =
        kernel.getArgAttrOfType<mlir::ArrayAttr>(i, mlir::attn::kDimsAttr);
    if (!dims || dims.size() != size_t(tensorType.getRank()))
      return name + " lacks attn.dims";
    mlir::attn::RefTensor t;
    for (mlir::Attribute d : dims) {
      std::string sym = llvm::cast<mlir::StringAttr>(d).str();
      if (!sym.empty() && std::isdigit(static_cast<unsigned char>(sym[0])))
        t.shape.push_back(std::stoll(sym));
      else if (sizes.count(sym))
        t.shape.push_back(sizes.at(sym));
      else
        return "no size for symbol " + sym + " of " + name;
    }
    size_t n = 1;
    for (int64_t d : t.shape)
      n *= d;
    t.values.resize(n);
    if (rt::isFloat(*dt)) {
      std::uniform_real_distribution<double> dist(-1, 1);
      for (double &v : t.values)
        v = rt::roundToDType(dist(rng), *dt);
    } else if (!fillIntegerTable(name, sizes, rng, t.values)) {
      return "no generator for the integer input " + name;
    }
    args.push_back(mlir::attn::RefArg::ofTensor(std::move(t)));
  }
  return "";
}

} // namespace attn_test

#endif
