// The lexer of the attn language. `#` comments run to the end of the line;
// whitespace (including newlines) only separates tokens.
#include "frontend/Lexer.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdlib>
#include <limits>

using namespace mlir::attn;

std::string mlir::attn::describeKind(TokenKind kind) {
  switch (kind) {
  case TokenKind::eof:
    return "end of file";
  case TokenKind::identifier:
    return "a name";
  case TokenKind::integer:
    return "an integer";
  case TokenKind::floating:
    return "a number";
  case TokenKind::kw_kernel:
    return "'kernel'";
  case TokenKind::kw_param:
    return "'param'";
  case TokenKind::kw_let:
    return "'let'";
  case TokenKind::kw_for:
    return "'for'";
  case TokenKind::kw_in:
    return "'in'";
  case TokenKind::kw_where:
    return "'where'";
  case TokenKind::kw_else:
    return "'else'";
  case TokenKind::kw_and:
    return "'and'";
  case TokenKind::kw_or:
    return "'or'";
  case TokenKind::kw_not:
    return "'not'";
  case TokenKind::kw_inf:
    return "'inf'";
  case TokenKind::lparen:
    return "'('";
  case TokenKind::rparen:
    return "')'";
  case TokenKind::lbracket:
    return "'['";
  case TokenKind::rbracket:
    return "']'";
  case TokenKind::lbrace:
    return "'{'";
  case TokenKind::rbrace:
    return "'}'";
  case TokenKind::comma:
    return "','";
  case TokenKind::colon:
    return "':'";
  case TokenKind::equal:
    return "'='";
  case TokenKind::arrow:
    return "'->'";
  case TokenKind::plus:
    return "'+'";
  case TokenKind::minus:
    return "'-'";
  case TokenKind::star:
    return "'*'";
  case TokenKind::starstar:
    return "'**'";
  case TokenKind::slash:
    return "'/'";
  case TokenKind::percent:
    return "'%'";
  case TokenKind::less:
    return "'<'";
  case TokenKind::lessEqual:
    return "'<='";
  case TokenKind::greater:
    return "'>'";
  case TokenKind::greaterEqual:
    return "'>='";
  case TokenKind::equalEqual:
    return "'=='";
  case TokenKind::notEqual:
    return "'!='";
  case TokenKind::dotdot:
    return "'..'";
  }
  return "a token";
}

std::string mlir::attn::describeToken(const Token &token) {
  switch (token.kind) {
  case TokenKind::identifier:
    return "name '" + token.text.str() + "'";
  case TokenKind::integer:
  case TokenKind::floating:
    return "number '" + token.text.str() + "'";
  default:
    return describeKind(token.kind);
  }
}

namespace {

bool isIdentStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isIdentChar(char c) { return isIdentStart(c) || isDigit(c); }

/// A printable rendering of a stray byte for messages.
std::string showByte(unsigned char c) {
  if (c >= 0x21 && c < 0x7f)
    return std::string("'") + static_cast<char>(c) + "'";
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "byte 0x" << llvm::format_hex_no_prefix(c, 2);
  return s;
}

class Lexer {
public:
  Lexer(llvm::StringRef source) : source(source) {}

  bool run(std::vector<Token> &tokens, LexError &error) {
    while (true) {
      skipSpaceAndComments();
      Token token;
      token.pos = pos;
      if (cur >= source.size()) {
        token.kind = TokenKind::eof;
        token.text = source.substr(source.size());
        tokens.push_back(token);
        return true;
      }
      size_t start = cur;
      if (!lexOne(token, error))
        return false;
      token.text = source.slice(start, cur);
      tokens.push_back(token);
    }
  }

private:
  llvm::StringRef source;
  size_t cur = 0;
  SourcePos pos;

  char peek(size_t ahead = 0) const {
    return cur + ahead < source.size() ? source[cur + ahead] : '\0';
  }
  void advance(size_t n = 1) {
    for (size_t i = 0; i < n && cur < source.size(); ++i) {
      if (source[cur] == '\n') {
        ++pos.line;
        pos.col = 1;
      } else {
        ++pos.col;
      }
      ++cur;
    }
  }

  void skipSpaceAndComments() {
    while (cur < source.size()) {
      char c = source[cur];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
          c == '\v') {
        advance();
      } else if (c == '#') {
        while (cur < source.size() && source[cur] != '\n')
          advance();
      } else {
        return;
      }
    }
  }

  bool fail(LexError &error, SourcePos at, std::string message) {
    error.pos = at;
    error.message = std::move(message);
    return false;
  }

  bool lexOne(Token &token, LexError &error) {
    SourcePos at = pos;
    char c = peek();
    if (isIdentStart(c)) {
      size_t start = cur;
      while (isIdentChar(peek()))
        advance();
      llvm::StringRef word = source.slice(start, cur);
      token.kind = llvm::StringSwitch<TokenKind>(word)
                       .Case("kernel", TokenKind::kw_kernel)
                       .Case("param", TokenKind::kw_param)
                       .Case("let", TokenKind::kw_let)
                       .Case("for", TokenKind::kw_for)
                       .Case("in", TokenKind::kw_in)
                       .Case("where", TokenKind::kw_where)
                       .Case("else", TokenKind::kw_else)
                       .Case("and", TokenKind::kw_and)
                       .Case("or", TokenKind::kw_or)
                       .Case("not", TokenKind::kw_not)
                       .Case("inf", TokenKind::kw_inf)
                       .Default(TokenKind::identifier);
      return true;
    }
    if (isDigit(c) || (c == '.' && isDigit(peek(1))))
      return lexNumber(token, error);

    auto single = [&](TokenKind kind) {
      token.kind = kind;
      advance();
      return true;
    };
    auto twoChar = [&](char second, TokenKind two, TokenKind one) {
      token.kind = peek(1) == second ? two : one;
      advance(peek(1) == second ? 2 : 1);
      return true;
    };
    switch (c) {
    case '(':
      return single(TokenKind::lparen);
    case ')':
      return single(TokenKind::rparen);
    case '[':
      return single(TokenKind::lbracket);
    case ']':
      return single(TokenKind::rbracket);
    case '{':
      return single(TokenKind::lbrace);
    case '}':
      return single(TokenKind::rbrace);
    case ',':
      return single(TokenKind::comma);
    case ':':
      return single(TokenKind::colon);
    case '+':
      return single(TokenKind::plus);
    case '/':
      return single(TokenKind::slash);
    case '%':
      return single(TokenKind::percent);
    case '-':
      return twoChar('>', TokenKind::arrow, TokenKind::minus);
    case '*':
      return twoChar('*', TokenKind::starstar, TokenKind::star);
    case '<':
      return twoChar('=', TokenKind::lessEqual, TokenKind::less);
    case '>':
      return twoChar('=', TokenKind::greaterEqual, TokenKind::greater);
    case '=':
      return twoChar('=', TokenKind::equalEqual, TokenKind::equal);
    case '!':
      if (peek(1) == '=') {
        token.kind = TokenKind::notEqual;
        advance(2);
        return true;
      }
      return fail(error, at,
                  "unexpected character '!': expected '!=' (for "
                  "logical negation write 'not')");
    case '.':
      if (peek(1) == '.') {
        token.kind = TokenKind::dotdot;
        advance(2);
        return true;
      }
      return fail(error, at,
                  "unexpected character '.': expected '..' (a "
                  "range) or a number");
    case '&':
      return fail(error, at,
                  "unexpected character '&': expected an operator "
                  "(for a conjunction write 'and')");
    case '|':
      return fail(error, at,
                  "unexpected character '|': expected an operator "
                  "(for a disjunction write 'or')");
    default:
      return fail(error, at,
                  "unexpected character " +
                      showByte(static_cast<unsigned char>(c)) +
                      ": expected a name, a number, an operator or "
                      "punctuation");
    }
  }

  bool lexNumber(Token &token, LexError &error) {
    SourcePos at = pos;
    size_t start = cur;
    bool isFloat = false;
    while (isDigit(peek()))
      advance();
    // A '.' starts a fraction unless it begins '..' (a range: 0..N).
    if (peek() == '.' && peek(1) != '.') {
      isFloat = true;
      advance();
      while (isDigit(peek()))
        advance();
    }
    if (peek() == 'e' || peek() == 'E') {
      size_t digitsAt = (peek(1) == '+' || peek(1) == '-') ? 2 : 1;
      if (isDigit(peek(digitsAt))) {
        isFloat = true;
        advance(digitsAt);
        while (isDigit(peek()))
          advance();
      }
    }
    if (isIdentChar(peek()) || (peek() == '.' && peek(1) != '.')) {
      while (isIdentChar(peek()) || peek() == '.')
        advance();
      return fail(error, at,
                  "invalid number '" + source.slice(start, cur).str() +
                      "': expected digits, an optional fraction and an "
                      "optional exponent (e.g. 12, 0.5, 1e-3)");
    }
    llvm::StringRef text = source.slice(start, cur);
    if (!isFloat) {
      uint64_t value = 0;
      if (text.getAsInteger(10, value) ||
          value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return fail(error, at,
                    "integer literal '" + text.str() +
                        "' is too large: expected at most "
                        "9223372036854775807");
      token.kind = TokenKind::integer;
      token.intValue = static_cast<int64_t>(value);
      return true;
    }
    std::string copy = text.str();
    char *end = nullptr;
    double value = std::strtod(copy.c_str(), &end);
    if (!end || *end != '\0' || !std::isfinite(value))
      return fail(error, at,
                  "number '" + text.str() +
                      "' is out of range: expected a finite double (use "
                      "'inf' for infinity)");
    token.kind = TokenKind::floating;
    token.floatValue = value;
    return true;
  }
};

} // namespace

bool mlir::attn::lex(llvm::StringRef source, std::vector<Token> &tokens,
                     LexError &error) {
  tokens.clear();
  return Lexer(source).run(tokens, error);
}
