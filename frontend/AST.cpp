// Small helpers of the AST: dtype names and printing expressions back as
// source text for diagnostics.
#include "frontend/AST.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir::attn;

std::optional<DType> mlir::attn::parseDType(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<DType>>(name)
      .Case("f16", DType::f16)
      .Case("bf16", DType::bf16)
      .Case("f32", DType::f32)
      .Case("f64", DType::f64)
      .Case("i32", DType::i32)
      .Case("i64", DType::i64)
      .Case("bool", DType::boolean)
      .Default(std::nullopt);
}

llvm::StringRef mlir::attn::dtypeName(DType type) {
  switch (type) {
  case DType::f16:
    return "f16";
  case DType::bf16:
    return "bf16";
  case DType::f32:
    return "f32";
  case DType::f64:
    return "f64";
  case DType::i32:
    return "i32";
  case DType::i64:
    return "i64";
  case DType::boolean:
    return "bool";
  }
  return "?";
}

llvm::StringRef mlir::attn::binaryOpSpelling(BinaryOp op) {
  switch (op) {
  case BinaryOp::Add:
    return "+";
  case BinaryOp::Sub:
    return "-";
  case BinaryOp::Mul:
    return "*";
  case BinaryOp::Div:
    return "/";
  case BinaryOp::Mod:
    return "%";
  case BinaryOp::Pow:
    return "**";
  case BinaryOp::Lt:
    return "<";
  case BinaryOp::Le:
    return "<=";
  case BinaryOp::Gt:
    return ">";
  case BinaryOp::Ge:
    return ">=";
  case BinaryOp::Eq:
    return "==";
  case BinaryOp::Ne:
    return "!=";
  case BinaryOp::And:
    return "and";
  case BinaryOp::Or:
    return "or";
  }
  return "?";
}

namespace {

/// Binding strength, as in the parser (higher binds tighter).
int precedence(const ExprAST &e) {
  if (auto *b = llvm::dyn_cast<BinaryExprAST>(&e)) {
    switch (b->op) {
    case BinaryOp::Or:
      return 1;
    case BinaryOp::And:
      return 2;
    case BinaryOp::Lt:
    case BinaryOp::Le:
    case BinaryOp::Gt:
    case BinaryOp::Ge:
    case BinaryOp::Eq:
    case BinaryOp::Ne:
      return 4;
    case BinaryOp::Add:
    case BinaryOp::Sub:
      return 5;
    case BinaryOp::Mul:
    case BinaryOp::Div:
    case BinaryOp::Mod:
      return 6;
    case BinaryOp::Pow:
      return 8;
    }
  }
  if (auto *u = llvm::dyn_cast<UnaryExprAST>(&e))
    return u->op == UnaryOp::Not ? 3 : 7;
  return 9;
}

void print(const ExprAST &e, llvm::raw_ostream &os);

void printOperand(const ExprAST &e, int parent, bool strict,
                  llvm::raw_ostream &os) {
  int p = precedence(e);
  bool parens = strict ? p <= parent : p < parent;
  if (parens)
    os << "(";
  print(e, os);
  if (parens)
    os << ")";
}

void print(const ExprAST &e, llvm::raw_ostream &os) {
  switch (e.getKind()) {
  case ExprAST::Kind::Number: {
    os << llvm::cast<NumberExprAST>(e).spelling;
    return;
  }
  case ExprAST::Kind::Name:
    os << llvm::cast<NameExprAST>(e).name;
    return;
  case ExprAST::Kind::Access: {
    auto &a = llvm::cast<AccessExprAST>(e);
    os << a.name << "[";
    for (size_t i = 0; i < a.indices.size(); ++i) {
      if (i)
        os << ", ";
      print(*a.indices[i], os);
    }
    os << "]";
    return;
  }
  case ExprAST::Kind::Call: {
    auto &c = llvm::cast<CallExprAST>(e);
    os << c.callee << "(";
    for (size_t i = 0; i < c.args.size(); ++i) {
      if (i)
        os << ", ";
      print(*c.args[i], os);
    }
    os << ")";
    return;
  }
  case ExprAST::Kind::Unary: {
    auto &u = llvm::cast<UnaryExprAST>(e);
    os << (u.op == UnaryOp::Neg ? "-" : "not ");
    printOperand(*u.operand, precedence(e), false, os);
    return;
  }
  case ExprAST::Kind::Binary: {
    auto &b = llvm::cast<BinaryExprAST>(e);
    int p = precedence(e);
    bool rightAssoc = b.op == BinaryOp::Pow;
    printOperand(*b.lhs, p, rightAssoc, os);
    os << " " << binaryOpSpelling(b.op) << " ";
    printOperand(*b.rhs, p, !rightAssoc, os);
    return;
  }
  }
}

} // namespace

std::string mlir::attn::exprToString(const ExprAST &e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  print(e, os);
  return s;
}
