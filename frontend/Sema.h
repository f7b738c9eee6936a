// Semantic checks of a parsed attn file (the KernelChecker): name
// resolution, shapes and index ranges, reductions, single assignment, the
// split of `where` clauses into an affine filter and a guard. It annotates
// the AST and returns what MLIRGen needs to emit each kernel.
#ifndef ATTN_FRONTEND_SEMA_H
#define ATTN_FRONTEND_SEMA_H

#include "frontend/AST.h"
#include "frontend/DiagnosticEmitter.h"
#include "frontend/Frontend.h"
#include "frontend/WhereClause.h"

#include "mlir/IR/AffineExpr.h"
#include "llvm/ADT/StringMap.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir::attn {

/// How many disjuncts an affine filter may have in disjunctive normal form.
constexpr unsigned kMaxFilterDisjuncts = 64;

/// A tensor of a kernel: an input, an output or an intermediate.
struct TensorInfo {
  enum class Role { Input, Output, Intermediate };
  std::string name;
  SourcePos pos;
  Role role = Role::Input;
  /// Inputs and outputs: the declared dtype.
  DType dtype = DType::f32;
  /// Extent of each dimension, over the kernel's size symbols (see
  /// KernelInfo::symbols); a constant when known at compile time.
  std::vector<AffineExpr> dims;
  /// Each dimension as written ("P", "64") or derived ("NB*PS").
  std::vector<std::string> dimTexts;
  /// Inputs: argument number; outputs: result number.
  unsigned position = 0;
  /// Outputs and intermediates: assigned yet, and where.
  bool assigned = false;
  SourcePos assignedPos;
  /// `let` declarations.
  std::optional<DType> letType;
  std::vector<AffineExpr> letDims;
  std::vector<std::string> letDimTexts;
  SourcePos letPos;
  /// Outputs and intermediates, once assigned: the element type of the
  /// einsum result (f32 or f64).
  DType computeType = DType::f32;

  /// The element type seen by a reader of this tensor.
  DType readType() const { return role == Role::Input ? dtype : computeType; }
};

struct ParamInfo {
  std::string name;
  SourcePos pos;
  DType dtype = DType::f32;
  Literal value; // after --param overrides
};

struct ScalarInfo {
  std::string name;
  SourcePos pos;
  DType dtype = DType::f32;
  unsigned position = 0; // argument number
};

/// How an unbound size symbol gets its value at run time.
struct SymbolSource {
  std::string name;
  bool fromScalar = false; // else tensor.dim of an input
  unsigned argument = 0;   // the input argument
  unsigned dim = 0;        // its dimension (tensors)
};

/// One dimension of a statement's iteration space.
struct IterationDim {
  std::string name;
  AffineExpr range;
  std::string rangeText;
};

struct StatementInfo {
  const StatementAST *ast = nullptr;
  int tensor = -1; // the left-hand side
  /// Numbered by first appearance in the statement, left-hand side first.
  std::vector<IterationDim> dims;
  llvm::StringMap<unsigned> dimOf;
  /// nullopt: nothing is reduced (kind none).
  std::optional<ReduceKind> kind;
  /// A scan (`cumsum(t)`): its kind and the left-hand position of `t`; the
  /// statement is then the map of its expression, scanned along `t`.
  std::optional<ReduceKind> scanKind;
  unsigned scanDim = 0;
  /// `else LITERAL`: the value of the left points that receive none.
  std::optional<double> otherwise;
  DType computeType = DType::f32;
  /// The affine part of the where clause, a union of conjunctions (empty:
  /// no filter).
  std::vector<std::vector<FilterAtom>> filter;
  /// The part that reads tensors (empty: no guard).
  std::vector<Conjunct> guard;
};

struct KernelInfo {
  const KernelAST *ast = nullptr;
  std::vector<TensorInfo> tensors; // AccessExprAST::tensor indexes this
  llvm::StringMap<int> tensorByName;
  std::vector<ParamInfo> params;
  llvm::StringMap<unsigned> paramByName;
  std::vector<ScalarInfo> scalars;
  llvm::StringMap<unsigned> scalarByName;
  /// The kernel's unbound size symbols: s<i> in TensorInfo::dims and in
  /// ranges is symbols[i].
  std::vector<SymbolSource> symbols;
  llvm::StringMap<unsigned> symbolByName;
  std::vector<StatementInfo> statements;
  /// Input arguments then outputs, in declared order.
  std::vector<int> inputTensors; // -1 for scalar inputs
  std::vector<int> outputTensors;
};

/// Checks every kernel of `file`; reports errors through `diags` and returns
/// nullopt after any.
std::optional<std::vector<KernelInfo>> checkFile(FileAST &file,
                                                 const FrontendOptions &options,
                                                 DiagnosticEmitter &diags);

} // namespace mlir::attn

#endif // ATTN_FRONTEND_SEMA_H
