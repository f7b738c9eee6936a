// Ahead-of-time compilation for the CPU: the pipeline the JIT builds (same
// emitter, same schedule), compiled to an object with Halide's runtime in it,
// linked into a shared object by the system compiler driver, and described
// by a JSON manifest for runtime/attn_runtime.h.
#include "codegen/halide/HalideAot.h"
#include "codegen/halide/HalidePipeline.h"
#include "dialect/RuntimeDType.h"

#include "dialect/AttnDialect.h"
#include "dialect/AttnOps.h"
#include "runtime/DType.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdio>

using namespace mlir;
using namespace mlir::attn;
namespace H = Halide;
namespace rt = ::attn::rt;

std::string mlir::attn::manifestPathFor(StringRef binaryPath) {
  llvm::SmallString<256> path(binaryPath);
  llvm::sys::path::replace_extension(path, "");
  return (path + ".attn.json").str();
}

namespace {

std::string jsonString(StringRef s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += c;
      }
    }
  }
  return out + "\"";
}

/// The fill value as the manifest spells it: "nan", "inf", "-inf", or the
/// shortest decimal that reads back exactly.
std::string fillText(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v < 0 ? "-inf" : "inf";
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v)
      break;
  }
  return buf;
}

std::string dimsJson(ArrayAttr dims, RankedTensorType type) {
  std::string out = "[";
  for (int64_t k = 0; k < type.getRank(); ++k) {
    if (k)
      out += ", ";
    StringAttr s;
    if (dims && k < static_cast<int64_t>(dims.size()))
      s = dyn_cast<StringAttr>(dims[k]);
    long long literal;
    if (s && StringRef(s.getValue()).getAsInteger(10, literal))
      out += jsonString(s.getValue()); // a size symbol
    else if (s)
      out += std::to_string(literal);
    else if (!type.isDynamicDim(k))
      out += std::to_string(type.getDimSize(k));
    else
      out += jsonString("?" + std::to_string(k)); // unnamed: unchecked
  }
  return out + "]";
}

std::string manifestJson(func::FuncOp kernel, const HalidePipeline &p,
                         const H::Target &target, StringRef entry,
                         StringRef binaryName, CpuArtifactKind kind,
                         StringRef compilerVersion) {
  std::string j = "{\n";
  j += "  \"format\": \"attn-kernel-manifest\",\n";
  j += "  \"format_version\": 1,\n";
  j += "  \"compiler\": " + jsonString(compilerVersion) + ",\n";
  j += "  \"kernel\": " + jsonString(kernel.getSymName()) + ",\n";
  j += "  \"target\": " + jsonString(target.to_string()) + ",\n";
  j += "  \"entry\": " + jsonString(entry) + ",\n";
  j += std::string("  \"") +
       (kind == CpuArtifactKind::SharedObject ? "library" : "object") +
       "\": " + jsonString(binaryName) + ",\n";
  j += "  \"calling_convention\": \"halide_argv\",\n";
  j += "  \"arguments\": [\n";
  bool first = true;
  auto open = [&](StringRef name, bool output, bool scalar, Type elem) {
    j += first ? "" : ",\n";
    first = false;
    j += "    {\"name\": " + jsonString(name) +
         ", \"role\": " + jsonString(output ? "output" : "input") +
         ", \"kind\": " + jsonString(scalar ? "scalar" : "tensor") +
         ", \"dtype\": " + jsonString(rt::dtypeName(*toRuntimeDType(elem)));
  };
  for (const HalideArgument &a : p.arguments) {
    if (a.isScalar) {
      open(a.name, false, true, a.type);
      j += "}";
      continue;
    }
    auto type = cast<RankedTensorType>(a.type);
    open(a.name, false, false, type.getElementType());
    unsigned i = &a - p.arguments.data();
    j += ", \"dims\": " +
         dimsJson(kernel.getArgAttrOfType<ArrayAttr>(i, kDimsAttr), type) + "}";
  }
  auto ret = cast<func::ReturnOp>(kernel.getBody().front().getTerminator());
  for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
    auto type = cast<RankedTensorType>(v.getType());
    std::string name = "out" + std::to_string(i);
    if (auto n = kernel.getResultAttrOfType<StringAttr>(i, kNameAttr))
      name = n.str();
    open(name, true, false, type.getElementType());
    j += ", \"dims\": " +
         dimsJson(kernel.getResultAttrOfType<ArrayAttr>(i, kDimsAttr), type);
    if (auto fill = v.getDefiningOp<FillOp>())
      j += ", \"fill\": " +
           jsonString(fillText(fill.getValue().convertToDouble()));
    j += "}";
  }
  j += "\n  ],\n";
  // The kernel's last output: a 0-d int32 error code, 0 or 1 + an index here.
  j += "  \"errors\": [";
  for (const HalideRunError &e : p.runErrors) {
    j += &e == &p.runErrors.front() ? "\n" : ",\n";
    j += "    {\"what\": " + jsonString(e.what) +
         ", \"argument\": " + std::to_string(e.argument) +
         ", \"dimension\": " + std::to_string(e.dimension) +
         ", \"where\": " + jsonString(e.where) + "}";
  }
  j += p.runErrors.empty() ? "]\n" : "\n  ]\n";
  return j + "}\n";
}

/// The compiler driver used to link: $ATTN_CC (a path or a name on PATH),
/// else the first of the usual names on PATH; `error` says what is missing.
std::optional<std::string> findLinker(std::string &error) {
  if (std::optional<std::string> env = llvm::sys::Process::GetEnv("ATTN_CC");
      env && !env->empty()) {
    if (StringRef(*env).contains('/')) {
      if (llvm::sys::fs::can_execute(*env))
        return *env;
    } else if (auto found = llvm::sys::findProgramByName(*env)) {
      return *found;
    }
    error = "ATTN_CC=" + *env + " is not an executable program";
    return std::nullopt;
  }
  for (const char *name : {"c++", "cc", "g++", "clang++", "gcc", "clang"})
    if (auto found = llvm::sys::findProgramByName(name))
      return *found;
  error = "no C/C++ compiler driver found (c++, cc, g++, clang++, gcc or "
          "clang on PATH, or ATTN_CC)";
  return std::nullopt;
}

LogicalResult writeFile(func::FuncOp kernel, StringRef path,
                        StringRef contents) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (!ec) {
    os << contents;
    os.close();
    ec = os.error();
  }
  if (ec)
    return kernel.emitError("cannot write ") << path << ": " << ec.message();
  return success();
}

std::string tempPathBeside(StringRef path, StringRef suffix) {
  llvm::SmallString<256> model(path);
  model += ".tmp-%%%%%%";
  model += suffix;
  llvm::SmallString<256> out;
  llvm::sys::fs::createUniquePath(model, out, /*MakeAbsolute=*/false);
  return out.str().str();
}

} // namespace

FailureOr<CpuArtifact>
mlir::attn::compileKernelAheadOfTime(func::FuncOp kernel, StringRef outputPath,
                                     CpuArtifactKind kind,
                                     const CpuAotOptions &options) {
  FailureOr<H::Target> target = resolveHalideTarget(kernel, options.codegen);
  if (failed(target))
    return failure();
  HalidePipeline pipeline;
  if (failed(buildHalidePipeline(kernel, pipeline, options.codegen, *target)))
    return failure();
  // Bounds and buffer checks are what turns a bad call into an error code;
  // the runtime checks arguments first, these are the second line.
  H::Target aotTarget = target->without_feature(H::Target::NoAsserts)
                            .without_feature(H::Target::NoRuntime)
                            .without_feature(H::Target::JIT);

  CpuArtifact artifact;
  std::string function = "attn_" + kernel.getSymName().str();
  artifact.entryPoint = function + "_argv";
  artifact.binaryPath = outputPath.str();
  artifact.manifestPath = manifestPathFor(outputPath);

  std::string objectPath = tempPathBeside(outputPath, ".o");
  auto cleanup = [&](const std::string &p) { llvm::sys::fs::remove(p); };
  try {
    scheduleHalidePipeline(pipeline, options.codegen, aotTarget);
    std::vector<H::Func> outputs;
    for (const HalideOutput &out : pipeline.outputs)
      outputs.push_back(out.func);
    // Always an error-code output, so the calling convention is uniform.
    if (pipeline.errorCode.defined()) {
      outputs.push_back(pipeline.errorCode);
    } else {
      H::Func code("error_code");
      code() = 0;
      outputs.push_back(code);
    }
    std::vector<H::Argument> args;
    for (const HalideArgument &a : pipeline.arguments) {
      if (!a.isScalar) {
        args.push_back(a.image);
        continue;
      }
      const HalideScalarParam &s = a.scalar;
      if (s.f32)
        args.push_back(*s.f32);
      else if (s.f64)
        args.push_back(*s.f64);
      else if (s.i32)
        args.push_back(*s.i32);
      else if (s.i64)
        args.push_back(*s.i64);
      else
        args.push_back(*s.u8);
    }
    H::Pipeline(outputs).compile_to_object(objectPath, args, function,
                                           aotTarget);
  } catch (const H::Error &e) {
    cleanup(objectPath);
    kernel.emitError("Halide could not compile the kernel: ") << e.what();
    return failure();
  }

  if (kind == CpuArtifactKind::Object) {
    if (std::error_code ec = llvm::sys::fs::rename(objectPath, outputPath)) {
      cleanup(objectPath);
      return kernel.emitError("cannot write ")
             << outputPath << ": " << ec.message();
    }
  } else {
    std::string missing;
    std::optional<std::string> linker = findLinker(missing);
    if (!linker) {
      cleanup(objectPath);
      return kernel.emitError("cannot link a shared object: ")
             << missing << "; --emit=obj writes the object alone";
    }
    std::string soTemp = tempPathBeside(outputPath, ".so");
    std::string logPath = tempPathBeside(outputPath, ".log");
    // -Bsymbolic: the .so calls its own Halide runtime even when the process
    // holds another one (libHalide, or a second kernel).
    std::vector<StringRef> argv = {*linker,     "-shared",  "-o",
                                   soTemp,      objectPath, "-Wl,-Bsymbolic",
                                   "-lpthread", "-ldl",     "-lm"};
    std::optional<StringRef> redirects[] = {std::nullopt, StringRef(logPath),
                                            StringRef(logPath)};
    std::string execError;
    int rc = llvm::sys::ExecuteAndWait(*linker, argv, std::nullopt, redirects,
                                       0, 0, &execError);
    cleanup(objectPath);
    if (rc != 0) {
      std::string log;
      if (auto buf = llvm::MemoryBuffer::getFile(logPath))
        log = (*buf)->getBuffer().trim().str();
      cleanup(logPath);
      cleanup(soTemp);
      return kernel.emitError("linking the shared object with ")
             << *linker << " failed"
             << (execError.empty() ? "" : ": " + execError)
             << (log.empty() ? "" : ":\n" + log);
    }
    cleanup(logPath);
    if (std::error_code ec = llvm::sys::fs::rename(soTemp, outputPath)) {
      cleanup(soTemp);
      return kernel.emitError("cannot write ")
             << outputPath << ": " << ec.message();
    }
  }

  std::string manifest = manifestJson(
      kernel, pipeline, aotTarget, artifact.entryPoint,
      llvm::sys::path::filename(outputPath), kind, options.compilerVersion);
  if (failed(writeFile(kernel, artifact.manifestPath, manifest))) {
    cleanup(artifact.binaryPath);
    return failure();
  }
  return artifact;
}
