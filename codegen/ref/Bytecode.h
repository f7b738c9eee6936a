// The reference interpreter's bytecode: the scalar ops of an einsum's guard
// or body (or of a kernel's body) compiled once into a linear list of
// instructions over slots, and run at every point.
#ifndef ATTN_CODEGEN_REF_BYTECODE_H
#define ATTN_CODEGEN_REF_BYTECODE_H

#include "dialect/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Block.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/DenseMap.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace mlir::attn::ref {

/// A scalar: a double, or an integer of any width (ScalarSemantics.h).
union Slot {
  double f;
  int64_t i;
};

/// The opcodes, in groups that stay contiguous: the evaluator dispatches on
/// the ranges [AddF, Fma] and [AddI, AbsI].
enum class Opc : uint8_t {
  // float -> float
  AddF,
  SubF,
  MulF,
  DivF,
  RemF,
  MaximumF,
  MinimumF,
  MaxNumF,
  MinNumF,
  PowF,
  CopySign,
  NegF,
  Exp,
  Exp2,
  Expm1,
  Log,
  Log1p,
  Log2,
  Log10,
  Tanh,
  Sqrt,
  Rsqrt,
  AbsF,
  Sin,
  Cos,
  Erf,
  Floor,
  Ceil,
  Round,
  RoundEven,
  TruncF,
  Fma,
  // integer -> integer (wrapped to `width`)
  AddI,
  SubI,
  MulI,
  DivSI,
  DivUI,
  RemSI,
  RemUI,
  FloorDivSI,
  CeilDivSI,
  CeilDivUI,
  MaxSI,
  MinSI,
  MaxUI,
  MinUI,
  AndI,
  OrI,
  XOrI,
  ShLI,
  ShRSI,
  ShRUI,
  AbsI,
  // comparisons and selection
  CmpF,
  CmpI,
  Select,
  // conversions
  SignExt, // extsi, trunci, index_cast: sign-extend to `width`
  ZeroExt, // extui, index_castui: zero-extend from `srcWidth`, then wrap
  SIToFP,
  UIToFP,
  FPToSI,
  FPToUI,
  RoundTo, // truncf: round to the dtype in `pred`
  Copy,    // extf and other exact moves
  // tables
  Read,
};

struct Instr {
  Opc op;
  uint8_t pred = 0;      // comparison predicate, or the dtype of RoundTo
  uint8_t width = 64;    // integer width of the result
  uint8_t srcWidth = 64; // integer width of the operands
  // Operand slots; for Read: the indices are pool[a, a + b), c the table.
  int32_t dst = -1, a = -1, b = -1, c = -1;
  Operation *origin = nullptr; // for messages
};

struct Program {
  std::vector<Instr> code;
  std::vector<int32_t> pool;     // operand lists of Read
  std::vector<Slot> slots;       // initial contents: constants, captured values
  int32_t result = -1;           // the slot yielded
  unsigned resultWidth = 0;      // integer width of the yielded value; 0: float
  SmallVector<int32_t> argSlots; // one per block argument
};

/// A tensor as an attn.read sees it.
struct TableView {
  const double *values = nullptr;
  const uint8_t *present = nullptr; // null: all present
  const int64_t *shape = nullptr;
  const int64_t *strides = nullptr;
  unsigned rank = 0;
  std::string name;
};

/// `absent`: an attn.read found an absent element, so the point is absent.
enum class RunStatus { ok, absent, error };

/// Runs instructions [begin, end) of `p` on `s`. On an error, `error` says
/// what went wrong (the caller adds where).
RunStatus runProgram(const Program &p, Slot *s, size_t begin, size_t end,
                     const TableView *tables, std::string &error);

/// Compiles ops into a Program. Values defined outside the compiled block
/// are asked of `outer` (they become constant slots); attn.read tensors of
/// `tableIndex`.
class ProgramCompiler {
public:
  using OuterLookup = std::function<bool(Value, Slot &, std::string &)>;
  using TableLookup = std::function<int(Value)>;

  ProgramCompiler(Program &program, OuterLookup outer, TableLookup tableIndex,
                  std::string context)
      : program(program), outer(std::move(outer)),
        tableIndex(std::move(tableIndex)), context(std::move(context)) {}

  /// A fresh slot holding `init`, bound to `v` when given.
  int32_t addSlot(Value v, Slot init);
  std::optional<int32_t> lookup(Value v) const;

  /// Compiles the whole block: block arguments get the first slots, in
  /// order; attn.yield sets the program's result.
  LogicalResult compileBlock(Block &block, std::string &error);

  /// Compiles one scalar op; fails with an "unsupported op" message for
  /// anything that is not one.
  LogicalResult compileOp(Operation *op, std::string &error);

private:
  Program &program;
  OuterLookup outer;
  TableLookup tableIndex;
  std::string context;
  llvm::DenseMap<Value, int32_t> slots;

  LogicalResult operand(Value v, int32_t &slot, std::string &error);
  LogicalResult compileConstant(arith::ConstantOp op, std::string &error);
  LogicalResult compileRead(ReadOp op, std::string &error);
  LogicalResult compileInstr(Operation *op, std::string &error);
  LogicalResult unsupported(Operation *op, std::string &error);
};

} // namespace mlir::attn::ref

#endif
