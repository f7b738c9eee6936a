// The parser of the attn language: tokens to an AST by recursive descent.
// It stops at the first syntax error, which it reports as "expected X,
// found Y"; nesting is bounded so that no input exhausts the stack.
#ifndef ATTN_FRONTEND_PARSER_H
#define ATTN_FRONTEND_PARSER_H

#include "frontend/AST.h"
#include "frontend/DiagnosticEmitter.h"

#include <optional>
#include <vector>

namespace mlir::attn {

/// Deepest expression tree accepted (parentheses, operator chains).
constexpr unsigned kMaxExprDepth = 256;

/// Parses a whole file; reports the first error through `diags` and returns
/// nullopt.
std::optional<FileAST> parseFile(const std::vector<Token> &tokens,
                                 DiagnosticEmitter &diags);

} // namespace mlir::attn

#endif // ATTN_FRONTEND_PARSER_H
