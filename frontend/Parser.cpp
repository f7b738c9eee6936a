// The parser of the attn language (LANGUAGE.md). Newlines are not tokens:
// a statement ends where its expression cannot continue, and the next item
// of a kernel must start on a new line.
#include "frontend/Parser.h"

#include "llvm/ADT/StringSwitch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

namespace {

class Parser {
public:
  Parser(const std::vector<Token> &tokens, DiagnosticEmitter &diags)
      : tokens(tokens), diags(diags) {}

  std::optional<FileAST> parseFile() {
    FileAST file;
    while (!at(TokenKind::eof)) {
      if (!at(TokenKind::kw_kernel)) {
        expected("'kernel'");
        return std::nullopt;
      }
      KernelAST kernel;
      if (!parseKernel(kernel))
        return std::nullopt;
      file.kernels.push_back(std::move(kernel));
    }
    return file;
  }

private:
  const std::vector<Token> &tokens;
  DiagnosticEmitter &diags;
  size_t cur = 0;
  unsigned nesting = 0;

  //===--------------------------------------------------------------------===//
  // Token helpers
  //===--------------------------------------------------------------------===//

  const Token &tok(size_t ahead = 0) const {
    size_t i = cur + ahead;
    return i < tokens.size() ? tokens[i] : tokens.back();
  }
  const Token &tokAt(size_t i) const {
    return i < tokens.size() ? tokens[i] : tokens.back();
  }
  bool at(TokenKind kind, size_t ahead = 0) const {
    return tok(ahead).kind == kind;
  }
  const Token &consume() {
    const Token &t = tok();
    if (cur + 1 < tokens.size())
      ++cur;
    return t;
  }
  bool consumeIf(TokenKind kind) {
    if (!at(kind))
      return false;
    consume();
    return true;
  }
  /// Reports "expected WHAT, found <current token>".
  bool expected(const std::string &what) {
    diags.error(tok().pos) << "expected " << what << ", found "
                           << describeToken(tok());
    return false;
  }
  bool expect(TokenKind kind, const std::string &context = "") {
    if (consumeIf(kind))
      return true;
    return expected(describeKind(kind) + context);
  }
  bool expectIdentifier(std::string &name, SourcePos &pos,
                        const std::string &what) {
    if (!at(TokenKind::identifier))
      return expected(what);
    pos = tok().pos;
    name = consume().text.str();
    return true;
  }

  /// The previous item must end its line: the next one starts a new line
  /// (or the kernel closes).
  bool expectNewItem() {
    if (at(TokenKind::rbrace) || at(TokenKind::eof) || cur == 0)
      return true;
    if (tok().pos.line > tokens[cur - 1].pos.line)
      return true;
    return expected("the end of the line");
  }

  //===--------------------------------------------------------------------===//
  // Kernels and declarations
  //===--------------------------------------------------------------------===//

  bool parseKernel(KernelAST &kernel) {
    kernel.pos = tok().pos;
    consume(); // kernel
    if (!expectIdentifier(kernel.name, kernel.pos, "a kernel name"))
      return false;
    if (!expect(TokenKind::lparen, " to open the kernel's inputs"))
      return false;
    if (!parseDeclList(kernel.inputs, /*isOutput=*/false))
      return false;
    if (!expect(TokenKind::arrow, " between the inputs and the outputs"))
      return false;
    if (!expect(TokenKind::lparen, " to open the kernel's outputs"))
      return false;
    if (!parseDeclList(kernel.outputs, /*isOutput=*/true))
      return false;
    if (!expect(TokenKind::lbrace, " to open the kernel's body"))
      return false;
    while (!at(TokenKind::rbrace)) {
      if (at(TokenKind::eof))
        return expected("'}' to close kernel '" + kernel.name + "'");
      if (!parseItem(kernel))
        return false;
      if (!expectNewItem())
        return false;
    }
    kernel.closePos = tok().pos;
    consume(); // }
    return true;
  }

  /// Parses `decl, ...)` (the '(' is consumed).
  bool parseDeclList(std::vector<TensorDeclAST> &decls, bool isOutput) {
    if (consumeIf(TokenKind::rparen))
      return true;
    while (true) {
      TensorDeclAST decl;
      if (!parseDecl(decl, isOutput))
        return false;
      decls.push_back(std::move(decl));
      if (consumeIf(TokenKind::rparen))
        return true;
      if (!consumeIf(TokenKind::comma))
        return expected(std::string("',' or ')' after ") +
                        (isOutput ? "an output" : "an input"));
    }
  }

  bool parseDType(DType &dtype, SourcePos &pos) {
    pos = tok().pos;
    if (!at(TokenKind::identifier))
      return expected("a dtype (f16, bf16, f32, f64, i32, i64 or bool)");
    std::optional<DType> t = mlir::attn::parseDType(tok().text);
    if (!t) {
      diags.error(pos) << "unknown dtype '" << tok().text
                       << "': expected one of f16, bf16, f32, f64, i32, "
                          "i64, bool";
      return false;
    }
    consume();
    dtype = *t;
    return true;
  }

  /// Parses `DIM, ...]` (the '[' is consumed).
  bool parseDims(std::vector<DimAST> &dims) {
    if (consumeIf(TokenKind::rbracket))
      return true;
    while (true) {
      DimAST dim;
      dim.pos = tok().pos;
      if (at(TokenKind::identifier)) {
        dim.text = consume().text.str();
      } else if (at(TokenKind::integer)) {
        dim.isLiteral = true;
        dim.value = tok().intValue;
        dim.text = consume().text.str();
      } else {
        return expected("a dimension (a size symbol such as 'P' or an "
                        "integer)");
      }
      dims.push_back(std::move(dim));
      if (consumeIf(TokenKind::rbracket))
        return true;
      if (!consumeIf(TokenKind::comma))
        return expected("',' or ']' after a dimension");
    }
  }

  bool parseDecl(TensorDeclAST &decl, bool isOutput) {
    if (!expectIdentifier(decl.name, decl.pos,
                          isOutput ? "an output name" : "an input name"))
      return false;
    if (!expect(TokenKind::colon, " after '" + decl.name + "'"))
      return false;
    if (!parseDType(decl.dtype, decl.dtypePos))
      return false;
    if (consumeIf(TokenKind::lbracket)) {
      if (!parseDims(decl.dims))
        return false;
    } else {
      decl.isScalar = true;
    }
    if (isOutput && at(TokenKind::equal)) {
      consume();
      decl.fillPos = tok().pos;
      Literal fill;
      if (!parseSignedLiteral(fill, "a fill value (a number or 'inf')"))
        return false;
      decl.fill = fill;
    }
    return true;
  }

  /// `[-] (INTEGER | FLOAT | inf)`.
  bool parseSignedLiteral(Literal &value, const std::string &what) {
    bool negative = consumeIf(TokenKind::minus);
    if (at(TokenKind::integer)) {
      value.isInteger = true;
      value.intValue = consume().intValue;
      if (negative)
        value.intValue = -value.intValue; // cannot overflow: >= -INT64_MAX
    } else if (at(TokenKind::floating)) {
      value.isInteger = false;
      value.floatValue = consume().floatValue;
      if (negative)
        value.floatValue = -value.floatValue;
    } else if (at(TokenKind::kw_inf)) {
      consume();
      value.isInteger = false;
      value.floatValue = negative ? -INFINITY : INFINITY;
    } else {
      return expected(what);
    }
    return true;
  }

  //===--------------------------------------------------------------------===//
  // Kernel items
  //===--------------------------------------------------------------------===//

  bool parseItem(KernelAST &kernel) {
    switch (tok().kind) {
    case TokenKind::kw_param: {
      ParamAST param;
      consume();
      if (!expectIdentifier(param.name, param.pos, "a param name"))
        return false;
      if (!expect(TokenKind::colon, " after '" + param.name + "'"))
        return false;
      if (!parseDType(param.dtype, param.dtypePos))
        return false;
      if (!expect(TokenKind::equal, " and the param's default value"))
        return false;
      param.valuePos = tok().pos;
      if (!parseSignedLiteral(param.value, "a number for the param's value"))
        return false;
      kernel.items.emplace_back(std::move(param));
      return true;
    }
    case TokenKind::kw_let: {
      LetAST let;
      consume();
      if (!expectIdentifier(let.name, let.pos, "a tensor name after 'let'"))
        return false;
      if (!expect(TokenKind::colon, " after '" + let.name + "'"))
        return false;
      if (!parseDType(let.dtype, let.dtypePos))
        return false;
      if (consumeIf(TokenKind::lbracket)) {
        let.hasDims = true;
        if (!parseDims(let.dims))
          return false;
      }
      kernel.items.emplace_back(std::move(let));
      return true;
    }
    case TokenKind::kw_for: {
      ForAST loop;
      consume();
      if (!expectIdentifier(loop.index, loop.pos, "an index after 'for'"))
        return false;
      if (!expect(TokenKind::kw_in, " after 'for " + loop.index + "'"))
        return false;
      loop.lower = parseExpr();
      if (!loop.lower)
        return false;
      if (!expect(TokenKind::dotdot,
                  " in the range 'for " + loop.index + " in 0..N'"))
        return false;
      loop.upper = parseExpr();
      if (!loop.upper)
        return false;
      kernel.items.emplace_back(std::move(loop));
      return true;
    }
    case TokenKind::identifier: {
      StatementAST stmt;
      if (!parseStatement(stmt))
        return false;
      kernel.items.emplace_back(std::move(stmt));
      return true;
    }
    default:
      return expected("a statement, 'param', 'let', 'for' or '}'");
    }
  }

  /// Whether the tokens from `i` on begin a kernel item or close the kernel:
  /// `NAME [ ... ] =`, `param`, `let`, `for`, `}`.
  bool isItemStart(size_t i) const {
    switch (tokAt(i).kind) {
    case TokenKind::kw_param:
    case TokenKind::kw_let:
    case TokenKind::kw_for:
    case TokenKind::rbrace:
    case TokenKind::eof:
      return true;
    case TokenKind::identifier:
      break;
    default:
      return false;
    }
    if (tokAt(i + 1).kind != TokenKind::lbracket)
      return false;
    int depth = 0;
    for (size_t j = i + 1; j < tokens.size(); ++j) {
      TokenKind k = tokens[j].kind;
      if (k == TokenKind::lbracket || k == TokenKind::lparen)
        ++depth;
      else if (k == TokenKind::rbracket || k == TokenKind::rparen)
        --depth;
      else if (k == TokenKind::eof || k == TokenKind::lbrace ||
               k == TokenKind::rbrace)
        return false;
      if (depth == 0)
        return tokAt(j + 1).kind == TokenKind::equal;
    }
    return false;
  }

  static bool startsOperand(TokenKind k) {
    return k == TokenKind::identifier || k == TokenKind::integer ||
           k == TokenKind::floating || k == TokenKind::kw_inf ||
           k == TokenKind::lparen;
  }

  static std::optional<ReduceKind> reduceKind(llvm::StringRef name) {
    return llvm::StringSwitch<std::optional<ReduceKind>>(name)
        .Case("sum", ReduceKind::Sum)
        .Case("max", ReduceKind::Max)
        .Case("min", ReduceKind::Min)
        .Case("prod", ReduceKind::Prod)
        .Default(std::nullopt);
  }

  /// `cumsum` and its kin: the scan of a reduction kind.
  static std::optional<ReduceKind> scanKind(llvm::StringRef name) {
    if (!name.consume_front("cum"))
      return std::nullopt;
    return reduceKind(name);
  }

  /// Whether the right-hand side starts with `REDUCE(i, ...)` followed by
  /// the expression: `sum`/`prod` always do; `max(a, b)` and `min(a, b)`
  /// are functions unless an operand follows the ')' on the same statement.
  bool startsWithReduce() const {
    if (!at(TokenKind::identifier) || !at(TokenKind::lparen, 1))
      return false;
    if (scanKind(tok().text))
      return true;
    std::optional<ReduceKind> kind = reduceKind(tok().text);
    if (!kind)
      return false;
    size_t i = cur + 2;
    while (true) {
      if (tokAt(i).kind != TokenKind::identifier)
        return false;
      ++i;
      if (tokAt(i).kind == TokenKind::rparen)
        break;
      if (tokAt(i).kind != TokenKind::comma)
        return false;
      ++i;
    }
    if (*kind == ReduceKind::Sum || *kind == ReduceKind::Prod)
      return true;
    return startsOperand(tokAt(i + 1).kind) && !isItemStart(i + 1);
  }

  bool parseStatement(StatementAST &stmt) {
    stmt.pos = tok().pos;
    stmt.name = consume().text.str();
    if (!expect(TokenKind::lbracket, " after '" + stmt.name +
                                         "' (a statement is 'T[i, ...] = "
                                         "EXPR')"))
      return false;
    if (!consumeIf(TokenKind::rbracket)) {
      while (true) {
        ExprPtr e = parseExpr();
        if (!e)
          return false;
        stmt.lhs.push_back(std::move(e));
        if (consumeIf(TokenKind::rbracket))
          break;
        if (!consumeIf(TokenKind::comma))
          return expected("',' or ']' after an index");
      }
    }
    if (!expect(TokenKind::equal, " after '" + stmt.name + "[...]'"))
      return false;
    if (startsWithReduce()) {
      ReduceAST reduce;
      reduce.pos = tok().pos;
      reduce.spelling = tok().text.str();
      reduce.scan = scanKind(reduce.spelling).has_value();
      reduce.kind =
          reduce.scan ? *scanKind(consume().text) : *reduceKind(consume().text);
      consume(); // (
      while (true) {
        IndexRefAST index;
        index.pos = tok().pos;
        if (!at(TokenKind::identifier))
          return expected("an index in '" + reduce.spelling + "(...)'");
        index.name = consume().text.str();
        reduce.indices.push_back(std::move(index));
        if (consumeIf(TokenKind::rparen))
          break;
        if (!consumeIf(TokenKind::comma))
          return expected("',' or ')' after an index in '" + reduce.spelling +
                          "(...)'");
      }
      stmt.reduce = std::move(reduce);
    }
    stmt.rhs = parseExpr();
    if (!stmt.rhs)
      return false;
    if (at(TokenKind::kw_where)) {
      stmt.wherePos = consume().pos;
      stmt.where = parseExpr();
      if (!stmt.where)
        return false;
    }
    if (at(TokenKind::kw_else)) {
      stmt.otherwisePos = consume().pos;
      Literal value;
      if (!parseSignedLiteral(value, "a value after 'else' (a number or "
                                     "'inf')"))
        return false;
      stmt.otherwise = value;
    }
    return true;
  }

  //===--------------------------------------------------------------------===//
  // Expressions
  //===--------------------------------------------------------------------===//

  /// Bounds the parser's recursion.
  struct NestingGuard {
    unsigned &n;
    explicit NestingGuard(unsigned &n) : n(n) { ++n; }
    ~NestingGuard() { --n; }
  };
  bool tooDeep() {
    if (nesting <= kMaxExprDepth)
      return false;
    diags.error(tok().pos) << "expression is nested too deeply (more than "
                           << kMaxExprDepth << " levels)";
    return true;
  }
  /// Checks the height of a freshly built node.
  ExprPtr checked(ExprPtr e) {
    if (e->depth <= kMaxExprDepth)
      return e;
    diags.error(e->getPos())
        << "expression is nested too deeply (more than " << kMaxExprDepth
        << " levels): split it into several statements";
    return nullptr;
  }
  ExprPtr binary(SourcePos pos, BinaryOp op, ExprPtr lhs, ExprPtr rhs) {
    return checked(std::make_unique<BinaryExprAST>(pos, op, std::move(lhs),
                                                   std::move(rhs)));
  }

  ExprPtr parseExpr() {
    NestingGuard guard(nesting);
    if (tooDeep())
      return nullptr;
    return parseOr();
  }

  ExprPtr parseOr() {
    ExprPtr lhs = parseAnd();
    while (lhs && at(TokenKind::kw_or)) {
      SourcePos pos = consume().pos;
      ExprPtr rhs = parseAnd();
      if (!rhs)
        return nullptr;
      lhs = binary(pos, BinaryOp::Or, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }

  ExprPtr parseAnd() {
    ExprPtr lhs = parseNot();
    while (lhs && at(TokenKind::kw_and)) {
      SourcePos pos = consume().pos;
      ExprPtr rhs = parseNot();
      if (!rhs)
        return nullptr;
      lhs = binary(pos, BinaryOp::And, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }

  ExprPtr parseNot() {
    if (!at(TokenKind::kw_not))
      return parseComparison();
    NestingGuard guard(nesting);
    if (tooDeep())
      return nullptr;
    SourcePos pos = consume().pos;
    ExprPtr operand = parseNot();
    if (!operand)
      return nullptr;
    return checked(
        std::make_unique<UnaryExprAST>(pos, UnaryOp::Not, std::move(operand)));
  }

  static std::optional<BinaryOp> comparisonOp(TokenKind k) {
    switch (k) {
    case TokenKind::less:
      return BinaryOp::Lt;
    case TokenKind::lessEqual:
      return BinaryOp::Le;
    case TokenKind::greater:
      return BinaryOp::Gt;
    case TokenKind::greaterEqual:
      return BinaryOp::Ge;
    case TokenKind::equalEqual:
      return BinaryOp::Eq;
    case TokenKind::notEqual:
      return BinaryOp::Ne;
    default:
      return std::nullopt;
    }
  }

  ExprPtr parseComparison() {
    ExprPtr lhs = parseAdditive();
    if (!lhs)
      return nullptr;
    std::optional<BinaryOp> op = comparisonOp(tok().kind);
    if (!op)
      return lhs;
    SourcePos pos = consume().pos;
    ExprPtr rhs = parseAdditive();
    if (!rhs)
      return nullptr;
    if (comparisonOp(tok().kind)) {
      diags.error(tok().pos)
          << "expected 'and', 'or' or the end of the comparison, found "
          << describeToken(tok())
          << " (comparisons do not chain: write 'a < b and b < c')";
      return nullptr;
    }
    return binary(pos, *op, std::move(lhs), std::move(rhs));
  }

  ExprPtr parseAdditive() {
    ExprPtr lhs = parseMultiplicative();
    while (lhs && (at(TokenKind::plus) || at(TokenKind::minus))) {
      BinaryOp op = at(TokenKind::plus) ? BinaryOp::Add : BinaryOp::Sub;
      SourcePos pos = consume().pos;
      ExprPtr rhs = parseMultiplicative();
      if (!rhs)
        return nullptr;
      lhs = binary(pos, op, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }

  ExprPtr parseMultiplicative() {
    ExprPtr lhs = parseUnary();
    while (lhs && (at(TokenKind::star) || at(TokenKind::slash) ||
                   at(TokenKind::percent))) {
      BinaryOp op = at(TokenKind::star)    ? BinaryOp::Mul
                    : at(TokenKind::slash) ? BinaryOp::Div
                                           : BinaryOp::Mod;
      SourcePos pos = consume().pos;
      ExprPtr rhs = parseUnary();
      if (!rhs)
        return nullptr;
      lhs = binary(pos, op, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }

  ExprPtr parseUnary() {
    if (!at(TokenKind::minus))
      return parsePower();
    NestingGuard guard(nesting);
    if (tooDeep())
      return nullptr;
    SourcePos pos = consume().pos;
    ExprPtr operand = parseUnary();
    if (!operand)
      return nullptr;
    return checked(
        std::make_unique<UnaryExprAST>(pos, UnaryOp::Neg, std::move(operand)));
  }

  ExprPtr parsePower() {
    ExprPtr base = parsePrimary();
    if (!base || !at(TokenKind::starstar))
      return base;
    NestingGuard guard(nesting);
    if (tooDeep())
      return nullptr;
    SourcePos pos = consume().pos;
    ExprPtr exponent = parseUnary(); // right-associative: 2 ** -x ** 2
    if (!exponent)
      return nullptr;
    return binary(pos, BinaryOp::Pow, std::move(base), std::move(exponent));
  }

  /// Parses `expr, ...` up to `close` (the opener is consumed).
  bool parseList(std::vector<ExprPtr> &list, TokenKind close,
                 const std::string &what) {
    if (consumeIf(close))
      return true;
    while (true) {
      ExprPtr e = parseExpr();
      if (!e)
        return false;
      list.push_back(std::move(e));
      if (consumeIf(close))
        return true;
      if (!consumeIf(TokenKind::comma))
        return expected("',' or " + describeKind(close) + " after " + what);
    }
  }

  ExprPtr parsePrimary() {
    const Token &t = tok();
    SourcePos pos = t.pos;
    switch (t.kind) {
    case TokenKind::integer: {
      Literal v;
      v.isInteger = true;
      v.intValue = t.intValue;
      return std::make_unique<NumberExprAST>(pos, v, consume().text.str());
    }
    case TokenKind::floating: {
      Literal v;
      v.isInteger = false;
      v.floatValue = t.floatValue;
      return std::make_unique<NumberExprAST>(pos, v, consume().text.str());
    }
    case TokenKind::kw_inf: {
      consume();
      Literal v;
      v.isInteger = false;
      v.floatValue = INFINITY;
      return std::make_unique<NumberExprAST>(pos, v, "inf");
    }
    case TokenKind::lparen: {
      consume();
      ExprPtr e = parseExpr();
      if (!e)
        return nullptr;
      if (!expect(TokenKind::rparen, " to close '('"))
        return nullptr;
      return e;
    }
    case TokenKind::identifier:
      break;
    default:
      expected("an expression");
      return nullptr;
    }
    std::string name = consume().text.str();
    if (consumeIf(TokenKind::lparen)) {
      std::vector<ExprPtr> args;
      if (!parseList(args, TokenKind::rparen, "an argument"))
        return nullptr;
      if (reduceKind(name) && startsOperand(tok().kind) && !isItemStart(cur)) {
        diags.error(pos) << "expected an operator after '" << name
                         << "(...)', found " << describeToken(tok())
                         << " (a reduction '" << name
                         << "(i, ...) EXPR' lists indices and must begin the "
                            "right-hand side)";
        return nullptr;
      }
      auto call = std::make_unique<CallExprAST>(pos, name, std::move(args));
      unsigned depth = 0;
      for (const ExprPtr &a : call->args)
        depth = std::max(depth, a->depth);
      call->depth = depth + 1;
      return checked(std::move(call));
    }
    if (consumeIf(TokenKind::lbracket)) {
      std::vector<ExprPtr> indices;
      if (!parseList(indices, TokenKind::rbracket, "an index"))
        return nullptr;
      auto access =
          std::make_unique<AccessExprAST>(pos, name, std::move(indices));
      unsigned depth = 0;
      for (const ExprPtr &a : access->indices)
        depth = std::max(depth, a->depth);
      access->depth = depth + 1;
      return checked(std::move(access));
    }
    return std::make_unique<NameExprAST>(pos, name);
  }
};

} // namespace

std::optional<FileAST> mlir::attn::parseFile(const std::vector<Token> &tokens,
                                             DiagnosticEmitter &diags) {
  if (tokens.empty())
    return FileAST();
  return Parser(tokens, diags).parseFile();
}
