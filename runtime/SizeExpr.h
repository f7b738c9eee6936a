// Integer expressions over size symbols, as a CUDA manifest writes launch
// geometry and size parameters: "ceildiv(P, 64)", "B * H", "min(M, 128)".
// Parsed once when the manifest is read, evaluated per run with the symbols
// that the arguments bind. Plain C++17 (no LLVM), internal to the runtime.
#ifndef ATTN_RUNTIME_SIZEEXPR_H
#define ATTN_RUNTIME_SIZEEXPR_H

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace attn::rt {

/// Grammar (whitespace ignored):
///   expr   := term (('+' | '-') term)*
///   term   := factor (('*' | '/' | '%') factor)*
///   factor := INTEGER | SYMBOL | '(' expr ')' | '-' factor
///           | ('ceildiv' | 'min' | 'max') '(' expr ',' expr ')'
/// SYMBOL is an identifier ([A-Za-z_][A-Za-z0-9_]*). `/` and `%` round
/// toward negative infinity; ceildiv(a, b) = -floor(-a / b). Arithmetic is
/// 64-bit and checked: overflow and division by zero are errors.
class SizeExpr {
public:
  /// The constant 0.
  SizeExpr() { nodes.push_back({Node::Const, 0, "", -1, -1}); }
  static SizeExpr constant(int64_t value);

  /// Parses `text`; false with `error` saying where it is wrong.
  static bool parse(const std::string &text, SizeExpr &out,
                    std::string &error);

  /// The text it was parsed from (the decimal value for a constant).
  const std::string &text() const { return source; }
  /// The size symbols it reads, each once, in order of appearance.
  std::vector<std::string> symbols() const;
  /// True when it reads no symbol.
  bool isConstant() const { return symbols().empty(); }

  using Lookup = std::function<std::optional<int64_t>(const std::string &)>;
  /// Evaluates with the symbols' values from `lookup`; false with `error`
  /// on an unbound symbol, a division by zero or an overflow.
  bool evaluate(const Lookup &lookup, int64_t &out, std::string &error) const;

private:
  struct Node {
    enum Op { Const, Sym, Neg, Add, Sub, Mul, Div, Mod, CeilDiv, Min, Max } op;
    int64_t value;
    std::string symbol;
    int lhs, rhs;
  };
  std::vector<Node> nodes; // the root is the last node
  std::string source = "0";

  friend class SizeExprParser;
  bool eval(int node, const Lookup &lookup, int64_t &out,
            std::string &error) const;
};

} // namespace attn::rt

#endif
