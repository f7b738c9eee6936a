// Ahead-of-time compilation for the CPU: the pipeline the JIT builds (same
// emitter, same schedule), compiled to an object (with Halide's runtime in
// it for --emit=obj) or linked into a shared object with the runtime compiled
// once per target (HalideRuntimeCache.h) by the system compiler driver, and
// described by a JSON manifest for runtime/attn_runtime.h.
#include "codegen/halide/HalideAot.h"
#include "codegen/halide/HalidePipeline.h"
#include "codegen/halide/HalideRuntimeCache.h"

#include "runtime/DType.h"
#include "runtime/KernelManifest.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

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

std::string jsonString(StringRef s) { return rt::jsonQuote(s.str()); }

/// A dimension as the manifest spells it: a literal as a number, a size
/// symbol (or "?k") as a string.
std::string dimJson(const std::string &d) {
  long long literal;
  return StringRef(d).getAsInteger(10, literal) ? jsonString(d) : d;
}

std::string manifestJson(const rt::KernelManifest &m, CpuArtifactKind kind,
                         StringRef binaryName) {
  std::string j = "{\n";
  j += "  \"format\": \"attn-kernel-manifest\",\n";
  j += "  \"format_version\": " + std::to_string(m.formatVersion) + ",\n";
  j += "  \"compiler\": " + jsonString(m.compiler) + ",\n";
  j += "  \"kernel\": " + jsonString(m.kernel) + ",\n";
  j += "  \"target\": " + jsonString(m.target) + ",\n";
  j += "  \"entry\": " + jsonString(m.entry) + ",\n";
  j += std::string("  \"") +
       (kind == CpuArtifactKind::SharedObject ? "library" : "object") +
       "\": " + jsonString(binaryName) + ",\n";
  j += "  \"calling_convention\": " + jsonString(m.callingConvention) + ",\n";
  j += "  \"arguments\": [\n";
  for (const rt::ManifestArgument &a : m.arguments) {
    j += &a == &m.arguments.front() ? "" : ",\n";
    j += "    {\"name\": " + jsonString(a.name) +
         ", \"role\": " + jsonString(a.isOutput ? "output" : "input") +
         ", \"kind\": " + jsonString(a.isScalar ? "scalar" : "tensor") +
         ", \"dtype\": " + jsonString(rt::dtypeName(a.dtype));
    if (!a.isScalar) {
      j += ", \"dims\": [";
      for (const std::string &d : a.dims)
        j += (&d == &a.dims.front() ? "" : ", ") + dimJson(d);
      j += "]";
    }
    if (a.fill)
      j += ", \"fill\": " + jsonString(*a.fill);
    j += "}";
  }
  j += "\n  ],\n";
  // The kernel's last output: a 0-d int32 error code, 0 or 1 + an index here.
  j += "  \"errors\": [";
  for (const rt::ManifestRunError &e : m.errors) {
    j += &e == &m.errors.front() ? "\n" : ",\n";
    j += "    {\"what\": " + jsonString(e.what) +
         ", \"argument\": " + std::to_string(e.argument) +
         ", \"dimension\": " + std::to_string(e.dimension) +
         ", \"where\": " + jsonString(e.where) + "}";
  }
  j += m.errors.empty() ? "]\n" : "\n  ]\n";
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
    os.clear_error(); // else the destructor aborts (a full disk)
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
  FailureOr<HostSignature> signature = HostSignature::build(kernel);
  if (failed(signature))
    return failure();
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
  // A shared object links Halide's runtime compiled once per target
  // (HalideRuntimeCache.h) rather than compiling it again; an object file
  // (--emit=obj) stands alone and keeps its own, as does a shared object
  // where no cache directory can be written.
  std::optional<std::string> runtimeObject;
  if (kind == CpuArtifactKind::SharedObject &&
      !options.runtimeCacheDir.empty()) {
    std::string why;
    runtimeObject = cachedHalideRuntime(aotTarget, options.runtimeCacheDir, why);
  }
  H::Target kernelTarget =
      runtimeObject ? aotTarget.with_feature(H::Target::NoRuntime) : aotTarget;

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
    countHalideCompilation();
    // Compiled in memory and written here: Halide's own file output aborts
    // on a full disk and fails internally on a read-only folder.
    H::Buffer<uint8_t> object =
        H::Pipeline(outputs)
            .compile_to_module(args, function, kernelTarget)
            .compile_to_buffer();
    if (failed(writeFile(kernel, objectPath,
                         StringRef(reinterpret_cast<const char *>(
                                       object.data()),
                                   object.size_in_bytes())))) {
      cleanup(objectPath);
      return failure();
    }
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
    auto link = [&](std::string &execError) {
      std::vector<StringRef> argv = {*linker, "-shared", "-o", soTemp,
                                     objectPath};
      if (runtimeObject)
        argv.push_back(*runtimeObject);
      for (StringRef flag : {"-Wl,-Bsymbolic", "-lpthread", "-ldl", "-lm"})
        argv.push_back(flag);
      std::optional<StringRef> redirects[] = {
          std::nullopt, StringRef(logPath), StringRef(logPath)};
      return llvm::sys::ExecuteAndWait(*linker, argv, std::nullopt, redirects,
                                       0, 0, &execError);
    };
    std::string execError;
    int rc = link(execError);
    if (rc != 0 && runtimeObject) {
      // A damaged runtime in the cache: compiled again, linked once more.
      discardHalideRuntime(*runtimeObject);
      std::string why;
      runtimeObject =
          cachedHalideRuntime(aotTarget, options.runtimeCacheDir, why);
      if (runtimeObject)
        rc = link(execError);
    }
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

  rt::KernelManifest m = describeCpuKernel(*signature, pipeline);
  m.compiler = options.compilerVersion;
  m.target = aotTarget.to_string();
  m.entry = artifact.entryPoint;
  std::string manifest =
      manifestJson(m, kind, llvm::sys::path::filename(outputPath));
  if (failed(writeFile(kernel, artifact.manifestPath, manifest))) {
    cleanup(artifact.binaryPath);
    return failure();
  }
  return artifact;
}
