// The result of a JIT API call: success, or an error with its message. The
// API never aborts on user input; every failure comes back as one of these.
#ifndef ATTN_CODEGEN_JIT_JITSTATUS_H
#define ATTN_CODEGEN_JIT_JITSTATUS_H

#include <string>
#include <utility>

namespace mlir::attn {

class JitStatus {
public:
  enum class Code {
    Ok,
    /// A user error (bad source, options or arguments) or a compile failure.
    Error,
    /// A cached artefact could not be read back (the cache then removes the
    /// entry and compiles again; callers of the JIT API never see this code).
    CorruptArtefact,
    /// An artefact file could not be written (a full disk, a read-only
    /// folder): the cache then builds without it; callers of the JIT API
    /// see it as Error.
    WriteFailure,
  };

  static JitStatus ok() { return JitStatus(Code::Ok, {}); }
  static JitStatus error(std::string message) {
    return JitStatus(Code::Error, std::move(message));
  }
  static JitStatus corrupt(std::string message) {
    return JitStatus(Code::CorruptArtefact, std::move(message));
  }

  static JitStatus writeFailure(std::string message) {
    return JitStatus(Code::WriteFailure, std::move(message));
  }

  bool isOk() const { return code_ == Code::Ok; }
  explicit operator bool() const { return isOk(); }
  Code code() const { return code_; }
  /// Empty on success.
  const std::string &message() const { return message_; }

private:
  JitStatus(Code code, std::string message)
      : code_(code), message_(std::move(message)) {}
  Code code_;
  std::string message_;
};

} // namespace mlir::attn

#endif
