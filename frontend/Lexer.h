// The lexer of the attn language: source bytes to tokens, with line and
// column (1-based) for diagnostics. It never reads past the buffer's end.
#ifndef ATTN_FRONTEND_LEXER_H
#define ATTN_FRONTEND_LEXER_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::attn {

/// A position in the source: 1-based line and column (in bytes).
struct SourcePos {
  unsigned line = 1;
  unsigned col = 1;
};

enum class TokenKind {
  eof,
  identifier,
  integer,  // 42
  floating, // 1.5, 2e-3
  // Keywords.
  kw_kernel,
  kw_param,
  kw_let,
  kw_for,
  kw_in,
  kw_where,
  kw_else,
  kw_and,
  kw_or,
  kw_not,
  kw_inf,
  // Punctuation.
  lparen,
  rparen,
  lbracket,
  rbracket,
  lbrace,
  rbrace,
  comma,
  colon,
  equal,        // =
  arrow,        // ->
  plus,         // +
  minus,        // -
  star,         // *
  starstar,     // **
  slash,        // /
  percent,      // %
  less,         // <
  lessEqual,    // <=
  greater,      // >
  greaterEqual, // >=
  equalEqual,   // ==
  notEqual,     // !=
  dotdot,       // ..
};

struct Token {
  TokenKind kind = TokenKind::eof;
  llvm::StringRef text; // the spelling, a view into the source buffer
  SourcePos pos;
  int64_t intValue = 0;  // for integer
  double floatValue = 0; // for floating
};

/// How a token kind is named in messages ("'('", "an identifier").
std::string describeKind(TokenKind kind);
/// How a token is named in messages ("identifier 'foo'", "'('", "end of
/// file").
std::string describeToken(const Token &token);

/// A lexical error: where, and what.
struct LexError {
  SourcePos pos;
  std::string message;
};

/// Splits `source` into tokens ending in one eof token. Returns false and
/// fills `error` at the first lexical error.
bool lex(llvm::StringRef source, std::vector<Token> &tokens, LexError &error);

} // namespace mlir::attn

#endif // ATTN_FRONTEND_LEXER_H
