// The abstract syntax tree of an attn file: kernels, their declarations and
// statements, and expressions. Expression nodes carry a few facts that Sema
// fills in (what a name refers to, which tensor an access reads) so that
// MLIRGen needs no second name lookup.
#ifndef ATTN_FRONTEND_AST_H
#define ATTN_FRONTEND_AST_H

#include "frontend/Lexer.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Casting.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace mlir::attn {

enum class DType { f16, bf16, f32, f64, i32, i64, boolean };

std::optional<DType> parseDType(llvm::StringRef name);
llvm::StringRef dtypeName(DType type);
inline bool isFloatDType(DType t) {
  return t == DType::f16 || t == DType::bf16 || t == DType::f32 ||
         t == DType::f64;
}

/// A number as written: an integer, or a float (`inf` is a float).
struct Literal {
  bool isInteger = true;
  int64_t intValue = 0;
  double floatValue = 0;
  double asDouble() const {
    return isInteger ? static_cast<double>(intValue) : floatValue;
  }
};

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

class ExprAST {
public:
  enum class Kind { Number, Name, Access, Call, Unary, Binary };

  ExprAST(Kind kind, SourcePos pos) : kind(kind), pos(pos) {}
  virtual ~ExprAST() = default;

  Kind getKind() const { return kind; }
  SourcePos getPos() const { return pos; }
  /// Height of the tree below (a leaf is 1); bounded by the parser.
  unsigned depth = 1;

  // Facts filled in by Sema.
  /// An integer expression: indices, size symbols, integer params, scalars
  /// and tensor elements, integer literals, combined by + - * / %.
  bool integral = false;
  /// Reads a tensor or a float scalar input somewhere below.
  bool readsData = false;
  /// Mentions an index somewhere below (outside nested accesses' own
  /// indices, which are always computed separately).
  bool mentionsIndex = false;

private:
  Kind kind;
  SourcePos pos;
};

using ExprPtr = std::unique_ptr<ExprAST>;

class NumberExprAST : public ExprAST {
public:
  NumberExprAST(SourcePos pos, Literal value, std::string spelling)
      : ExprAST(Kind::Number, pos), value(value),
        spelling(std::move(spelling)) {}
  Literal value;
  std::string spelling; // as written
  static bool classof(const ExprAST *e) { return e->getKind() == Kind::Number; }
};

/// What a bare name in an expression refers to (set by Sema).
enum class NameKind { Unresolved, Index, SizeSymbol, Param, Scalar };

class NameExprAST : public ExprAST {
public:
  NameExprAST(SourcePos pos, std::string name)
      : ExprAST(Kind::Name, pos), name(std::move(name)) {}
  std::string name;
  NameKind resolved = NameKind::Unresolved;
  static bool classof(const ExprAST *e) { return e->getKind() == Kind::Name; }
};

/// T[i, j, ...]: a read of a tensor element.
class AccessExprAST : public ExprAST {
public:
  AccessExprAST(SourcePos pos, std::string name, std::vector<ExprPtr> indices)
      : ExprAST(Kind::Access, pos), name(std::move(name)),
        indices(std::move(indices)) {}
  std::string name;
  std::vector<ExprPtr> indices;
  /// Sema: the tensor's number in the kernel's tensor table.
  int tensor = -1;
  /// Sema: every index is an affine expression (no tensor read in it).
  bool affine = false;
  static bool classof(const ExprAST *e) { return e->getKind() == Kind::Access; }
};

class CallExprAST : public ExprAST {
public:
  CallExprAST(SourcePos pos, std::string callee, std::vector<ExprPtr> args)
      : ExprAST(Kind::Call, pos), callee(std::move(callee)),
        args(std::move(args)) {}
  std::string callee;
  std::vector<ExprPtr> args;
  static bool classof(const ExprAST *e) { return e->getKind() == Kind::Call; }
};

enum class UnaryOp { Neg, Not };

class UnaryExprAST : public ExprAST {
public:
  UnaryExprAST(SourcePos pos, UnaryOp op, ExprPtr operand)
      : ExprAST(Kind::Unary, pos), op(op), operand(std::move(operand)) {
    depth = this->operand->depth + 1;
  }
  UnaryOp op;
  ExprPtr operand;
  static bool classof(const ExprAST *e) { return e->getKind() == Kind::Unary; }
};

enum class BinaryOp {
  Add,
  Sub,
  Mul,
  Div,
  Mod,
  Pow,
  Lt,
  Le,
  Gt,
  Ge,
  Eq,
  Ne,
  And,
  Or
};

inline bool isComparison(BinaryOp op) {
  return op == BinaryOp::Lt || op == BinaryOp::Le || op == BinaryOp::Gt ||
         op == BinaryOp::Ge || op == BinaryOp::Eq || op == BinaryOp::Ne;
}
inline bool isLogical(BinaryOp op) {
  return op == BinaryOp::And || op == BinaryOp::Or;
}
llvm::StringRef binaryOpSpelling(BinaryOp op);

class BinaryExprAST : public ExprAST {
public:
  BinaryExprAST(SourcePos pos, BinaryOp op, ExprPtr lhs, ExprPtr rhs)
      : ExprAST(Kind::Binary, pos), op(op), lhs(std::move(lhs)),
        rhs(std::move(rhs)) {
    depth = std::max(this->lhs->depth, this->rhs->depth) + 1;
  }
  BinaryOp op;
  ExprPtr lhs, rhs;
  static bool classof(const ExprAST *e) { return e->getKind() == Kind::Binary; }
};

/// Source text of an expression, for messages ("p - m + 1").
std::string exprToString(const ExprAST &e);

//===----------------------------------------------------------------------===//
// Declarations and statements
//===----------------------------------------------------------------------===//

/// One dimension of a declared shape: a size symbol or an integer literal.
struct DimAST {
  std::string text;
  bool isLiteral = false;
  int64_t value = 0;
  SourcePos pos;
};

/// `NAME: DTYPE[DIM, ...] [= FILL]` in a kernel's signature.
struct TensorDeclAST {
  std::string name;
  SourcePos pos;
  DType dtype = DType::f32;
  SourcePos dtypePos;
  bool isScalar = false; // no [...]
  std::vector<DimAST> dims;
  std::optional<Literal> fill; // outputs only
  SourcePos fillPos;
};

/// `param NAME: DTYPE = LITERAL`.
struct ParamAST {
  std::string name;
  SourcePos pos;
  DType dtype = DType::f32;
  SourcePos dtypePos;
  Literal value;
  SourcePos valuePos;
};

/// `let NAME: DTYPE[DIM, ...]`: the element type of an intermediate.
struct LetAST {
  std::string name;
  SourcePos pos;
  DType dtype = DType::f32;
  SourcePos dtypePos;
  bool hasDims = false;
  std::vector<DimAST> dims;
};

/// `for INDEX in LOWER..UPPER`.
struct ForAST {
  std::string index;
  SourcePos pos;
  ExprPtr lower, upper;
};

enum class ReduceKind { Sum, Max, Min, Prod };

struct IndexRefAST {
  std::string name;
  SourcePos pos;
};

/// `sum(m, n)` before a statement's expression, or a scan `cumsum(t)`.
struct ReduceAST {
  ReduceKind kind = ReduceKind::Sum;
  /// `cumsum`, `cumprod`, `cummax`, `cummin`: an inclusive prefix
  /// reduction along one index of the left-hand side.
  bool scan = false;
  std::string spelling;
  SourcePos pos;
  std::vector<IndexRefAST> indices;
};

/// `T[i, ...] = [REDUCE] EXPR [where COND] [else LITERAL]`.
struct StatementAST {
  std::string name;
  SourcePos pos;
  std::vector<ExprPtr> lhs;
  std::optional<ReduceAST> reduce;
  ExprPtr rhs;
  ExprPtr where; // null when absent
  SourcePos wherePos;
  /// `else LITERAL`: the value of left points that receive none.
  std::optional<Literal> otherwise;
  SourcePos otherwisePos;
};

using KernelItemAST = std::variant<ParamAST, LetAST, ForAST, StatementAST>;

struct KernelAST {
  std::string name;
  SourcePos pos;
  std::vector<TensorDeclAST> inputs;
  std::vector<TensorDeclAST> outputs;
  std::vector<KernelItemAST> items;
  SourcePos closePos; // the closing '}'
};

struct FileAST {
  std::vector<KernelAST> kernels;
};

} // namespace mlir::attn

#endif // ATTN_FRONTEND_AST_H
