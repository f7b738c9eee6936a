// The frontend's entry point: lex, parse, check, emit. Every error is a
// diagnostic at file:line:column; the result is null after any.
#include "frontend/Frontend.h"

#include "dialect/AttnOps.h"
#include "frontend/DiagnosticEmitter.h"
#include "frontend/Lexer.h"
#include "frontend/MLIRGen.h"
#include "frontend/Parser.h"
#include "frontend/Sema.h"

using namespace mlir;
using namespace mlir::attn;

OwningOpRef<ModuleOp>
mlir::attn::translateAttnToMLIR(llvm::SourceMgr &sourceMgr,
                                MLIRContext *context,
                                const FrontendOptions &options) {
  context->loadDialect<AttnDialect, arith::ArithDialect, math::MathDialect,
                       tensor::TensorDialect, func::FuncDialect>();
  if (sourceMgr.getNumBuffers() == 0) {
    emitError(UnknownLoc::get(context)) << "no source to compile";
    return nullptr;
  }
  const llvm::MemoryBuffer *buffer =
      sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
  DiagnosticEmitter diags(context, buffer->getBufferIdentifier());

  std::vector<Token> tokens;
  LexError lexError;
  if (!lex(buffer->getBuffer(), tokens, lexError)) {
    diags.error(lexError.pos) << lexError.message;
    return nullptr;
  }
  std::optional<FileAST> file = parseFile(tokens, diags);
  if (!file || diags.failed())
    return nullptr;
  std::optional<std::vector<KernelInfo>> kernels =
      checkFile(*file, options, diags);
  if (!kernels || diags.failed())
    return nullptr;
  OwningOpRef<ModuleOp> module = emitKernels(*kernels, options, diags);
  if (diags.failed())
    return nullptr;
  return module;
}
