// The manifest of a compiled kernel (NAME.attn.json, docs/runtime.md) and
// its reader: a tiny JSON parser for exactly what the manifest holds.
// Plain C++17 (no LLVM), internal to the runtime.
#ifndef ATTN_RUNTIME_KERNELMANIFEST_H
#define ATTN_RUNTIME_KERNELMANIFEST_H

#include "runtime/DType.h"
#include "runtime/SizeExpr.h"

#include <optional>
#include <string>
#include <vector>

namespace attn::rt {

struct ManifestArgument {
  std::string name;
  bool isOutput = false;
  bool isScalar = false;
  DType dtype = DType::f32;
  /// Per dimension: a size symbol ("B") or a decimal literal ("64").
  std::vector<std::string> dims;
  /// Outputs: the fill value as written ("0", "-inf"), when there is one.
  std::optional<std::string> fill;
};

/// A run-time error the kernel reports through its error-code output
/// (code = 1 + its index).
struct ManifestRunError {
  std::string what;
  int argument = -1; // the input whose shape the message shows, or -1
  int dimension = -1;
  std::string where;
};

/// One parameter of a CUDA kernel launch, as the manifest writes it.
struct ManifestParam {
  enum Kind {
    Argument,  // "Q": a tensor's device pointer, or a scalar's value
    Int64,     // "i64:EXPR": a size expression as a 64-bit integer
    Int32,     // "i32:EXPR": the same, as a 32-bit integer
    ErrorCode, // "error_code": device pointer to the int32 error code
    Workspace  // "workspace": device pointer to the scratch buffer
  } kind = Argument;
  std::string text;     // as written
  int argument = -1;    // Argument: index into KernelManifest::arguments
  SizeExpr value;       // Int64, Int32
};

/// One kernel launch of a CUDA artefact: entry point, geometry (size
/// expressions), dynamic shared memory and the parameter list.
struct ManifestLaunch {
  std::string entry;
  SizeExpr grid[3], block[3];
  SizeExpr sharedBytes;
  std::vector<ManifestParam> params;
};

/// A target "cuda:sm_90a": compute capability 9.0, arch-specific ("a":
/// runs on 9.0 alone; without it, on 9.0 and newer).
struct CudaTarget {
  int major = 0, minor = 0;
  bool archSpecific = false;
  /// "sm_90a"
  std::string name() const;
};

struct KernelManifest {
  int formatVersion = 0;
  std::string compiler, kernel, target, entry;
  std::string library; // the shared object, relative to the manifest
  std::string object;  // or the object file (not loadable)
  std::string callingConvention;
  std::vector<ManifestArgument> arguments; // inputs in order, then outputs
  std::vector<ManifestRunError> errors;

  // CUDA artefacts (target "cuda:sm_XY[a]"):
  std::string ptx;                      // the PTX file, relative to the manifest
  CudaTarget cudaTarget;                // parsed from `target`
  std::vector<ManifestLaunch> launches; // run in order on one stream
  std::optional<SizeExpr> workspaceBytes;
  /// "sizes": named size expressions, evaluated in order once the
  /// arguments bind their symbols; later expressions may use them (e.g. a
  /// 0-or-1 factor that selects which launches run).
  std::vector<std::pair<std::string, SizeExpr>> definitions;

  bool isCuda() const { return target.compare(0, 5, "cuda:") == 0; }
};

/// Parses "cuda:sm_90a" (also sm_80, sm_100a, ...); false for anything else.
bool parseCudaTarget(const std::string &target, CudaTarget &out);

/// Parses manifest `text`; false with `error` (naming `name`, the file) on
/// malformed JSON, a missing or mistyped field, an unknown dtype, or an
/// unsupported format version; for a CUDA manifest also on a bad target,
/// launch, size expression, parameter, or a size symbol that no argument
/// binds.
bool parseKernelManifest(const std::string &text, const std::string &name,
                         KernelManifest &out, std::string &error);

/// `s` as a JSON string literal (quotes, backslashes and control
/// characters escaped), for the writers of manifests and results.
std::string jsonQuote(const std::string &s);

/// An output's fill value as manifests spell it: "nan", "inf", "-inf", or
/// the shortest decimal that reads back exactly.
std::string fillValueText(double v);

} // namespace attn::rt

#endif
