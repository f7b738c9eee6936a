// The manifest of a compiled kernel (NAME.attn.json, docs/runtime.md) and
// its reader: a tiny JSON parser for exactly what the manifest holds.
// Plain C++17 (no LLVM), internal to the runtime.
#ifndef ATTN_RUNTIME_KERNELMANIFEST_H
#define ATTN_RUNTIME_KERNELMANIFEST_H

#include "runtime/DType.h"

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

struct KernelManifest {
  int formatVersion = 0;
  std::string compiler, kernel, target, entry;
  std::string library; // the shared object, relative to the manifest
  std::string object;  // or the object file (not loadable)
  std::string callingConvention;
  std::vector<ManifestArgument> arguments; // inputs in order, then outputs
  std::vector<ManifestRunError> errors;
};

/// Parses manifest `text`; false with `error` (naming `name`, the file) on
/// malformed JSON, a missing or mistyped field, an unknown dtype, or an
/// unsupported format version.
bool parseKernelManifest(const std::string &text, const std::string &name,
                         KernelManifest &out, std::string &error);

} // namespace attn::rt

#endif
