// Turns source positions into MLIR locations (file:line:column) and reports
// frontend errors there through the context's diagnostic engine.
#ifndef ATTN_FRONTEND_DIAGNOSTICEMITTER_H
#define ATTN_FRONTEND_DIAGNOSTICEMITTER_H

#include "frontend/Lexer.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/MLIRContext.h"

namespace mlir::attn {

class DiagnosticEmitter {
public:
  DiagnosticEmitter(MLIRContext *context, llvm::StringRef file)
      : context(context), file(StringAttr::get(context, file)) {}

  Location loc(SourcePos pos) const {
    return FileLineColLoc::get(file, pos.line, pos.col);
  }
  /// Reports an error at `pos`; stream the message into the result.
  InFlightDiagnostic error(SourcePos pos) {
    hadError = true;
    return mlir::emitError(loc(pos));
  }
  bool failed() const { return hadError; }
  MLIRContext *getContext() const { return context; }

private:
  MLIRContext *context;
  StringAttr file;
  bool hadError = false;
};

} // namespace mlir::attn

#endif // ATTN_FRONTEND_DIAGNOSTICEMITTER_H
