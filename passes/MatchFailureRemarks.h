// A rewriter listener that turns the reasons a transform gives through
// `notifyMatchFailure` into remarks: how the attn passes say what they left
// unchanged and why.
#ifndef ATTN_PASSES_MATCHFAILUREREMARKS_H
#define ATTN_PASSES_MATCHFAILUREREMARKS_H

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/PatternMatch.h"

#include <string>

namespace mlir::attn {

class MatchFailureRemarks : public RewriterBase::Listener {
public:
  /// Remarks read `<prefix><reason>`.
  explicit MatchFailureRemarks(StringRef prefix) : prefix(prefix.str()) {}

  /// The op the transform is applied to next. Remarks at its location are
  /// emitted on it (as `Operation::emitRemark` does: with the op attached
  /// where the context prints ops on diagnostics).
  void setSubject(Operation *op) { subject = op; }

  void
  notifyMatchFailure(Location loc,
                     function_ref<void(Diagnostic &)> reasonCallback) override {
    Diagnostic reason(loc, DiagnosticSeverity::Remark);
    reasonCallback(reason);
    InFlightDiagnostic remark = subject && subject->getLoc() == loc
                                    ? subject->emitRemark()
                                    : emitRemark(loc);
    remark << prefix << reason.str();
  }

private:
  std::string prefix;
  Operation *subject = nullptr;
};

} // namespace mlir::attn

#endif
