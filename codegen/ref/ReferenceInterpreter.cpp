// The float64 reference interpreter of the attn dialect. Each einsum's regions
// are compiled once into a linear program of scalar instructions over slots,
// its maps and filter into affine evaluators, and then every point of the
// iteration space is visited in order: filter, guard, input presence, body.
#include "codegen/ref/ReferenceInterpreter.h"
#include "dialect/RuntimeDType.h"

#include "dialect/AttnOps.h"
#include "runtime/DType.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/IntegerSet.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Tensors larger than this (elements, or points of an iteration space) are
/// refused with an error rather than an allocation failure or an endless run.
constexpr int64_t kMaxElements = int64_t(1) << 31;
constexpr int64_t kMaxPoints = int64_t(1) << 36;

//===----------------------------------------------------------------------===//
// Integer semantics: values of every integer type live in an int64_t,
// sign-extended from their width (so an i1 `true` is -1, as in MLIR); all
// arithmetic wraps, nothing is undefined.
//===----------------------------------------------------------------------===//

int64_t wrapAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) +
                              static_cast<uint64_t>(b));
}
int64_t wrapSub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) -
                              static_cast<uint64_t>(b));
}
int64_t wrapMul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) *
                              static_cast<uint64_t>(b));
}

/// Sign-extends the low `width` bits of `v`.
int64_t signExtend(int64_t v, unsigned width) {
  if (width >= 64)
    return v;
  unsigned shift = 64 - width;
  return static_cast<int64_t>(static_cast<uint64_t>(v) << shift) >> shift;
}
/// The low `width` bits of `v`, as an unsigned number.
uint64_t zeroExtend(int64_t v, unsigned width) {
  if (width >= 64)
    return static_cast<uint64_t>(v);
  return static_cast<uint64_t>(v) & ((uint64_t(1) << width) - 1);
}

/// Signed division rounding toward zero; the caller has excluded b == 0.
int64_t divTrunc(int64_t a, int64_t b) {
  if (b == -1)
    return wrapSub(0, a); // INT64_MIN / -1 wraps instead of trapping
  return a / b;
}
int64_t remTrunc(int64_t a, int64_t b) { return b == -1 ? 0 : a % b; }
int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = divTrunc(a, b);
  return (remTrunc(a, b) != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
int64_t ceilDiv(int64_t a, int64_t b) {
  int64_t q = divTrunc(a, b);
  return (remTrunc(a, b) != 0 && ((a < 0) == (b < 0))) ? q + 1 : q;
}
int64_t floorMod(int64_t a, int64_t b) {
  return wrapSub(a, wrapMul(floorDiv(a, b), b));
}

/// A double as an integer of `width` bits: truncated toward zero, saturated
/// to the signed range, NaN as 0. Width 1 (bool) is v != 0.
int64_t intFromDouble(double v, unsigned width) {
  if (width == 1)
    return v != 0 && !std::isnan(v) ? -1 : 0;
  if (std::isnan(v))
    return 0;
  double t = std::trunc(v);
  double lo = -std::ldexp(1.0, static_cast<int>(width) - 1); // exact
  if (t < lo)
    return static_cast<int64_t>(lo);
  if (t >= -lo)
    return width >= 64 ? std::numeric_limits<int64_t>::max()
                       : (int64_t(1) << (width - 1)) - 1;
  return static_cast<int64_t>(t);
}
/// Like intFromDouble for an unsigned destination (fptoui).
int64_t uintFromDouble(double v, unsigned width) {
  if (std::isnan(v) || v <= 0)
    return 0;
  double t = std::trunc(v);
  double hi = std::ldexp(1.0, static_cast<int>(std::min(width, 64u)));
  if (t >= hi)
    return signExtend(static_cast<int64_t>(~uint64_t(0)), width);
  return signExtend(static_cast<int64_t>(static_cast<uint64_t>(t)), width);
}
/// How an integer element is held in a tensor of doubles: bools as 0 or 1,
/// other integers as their signed value.
double storedFromInt(int64_t v, unsigned width) {
  if (width == 1)
    return v & 1 ? 1.0 : 0.0;
  return static_cast<double>(v);
}

/// The bit width of an integer or index type (index: 64); 0 for others.
unsigned intWidth(Type t) {
  if (t.isIndex())
    return 64;
  if (auto i = dyn_cast<IntegerType>(t))
    return i.getWidth() <= 64 ? i.getWidth() : 0;
  return 0;
}

//===----------------------------------------------------------------------===//
// Messages.
//===----------------------------------------------------------------------===//

std::string opText(Operation *op) {
  return "'" + op->getName().getStringRef().str() + "' at " +
         locationText(op->getLoc());
}

std::string typeText(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  t.print(os);
  return s;
}

std::string listText(ArrayRef<int64_t> v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::string argName(func::FuncOp f, unsigned i) {
  if (auto n = f.getArgAttrOfType<StringAttr>(i, kNameAttr))
    return n.str();
  return "argument #" + std::to_string(i);
}

/// How a tensor value is named in messages: its attn.name as a kernel
/// argument, a name given to its defining op, or the op and its location.
std::string valueName(Value v) {
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    if (auto f = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp()))
      return argName(f, arg.getArgNumber());
    return "block argument #" + std::to_string(arg.getArgNumber());
  }
  Operation *def = v.getDefiningOp();
  if (auto n = def->getAttrOfType<StringAttr>(kNameAttr))
    return n.str();
  if (auto n = dyn_cast<NameLoc>(def->getLoc()))
    return n.getName().str();
  return "the result of " + opText(def);
}

//===----------------------------------------------------------------------===//
// Affine expressions, evaluated by hand: floordiv, ceildiv and mod round
// toward negative infinity (the language's / and %). Symbols are fixed for
// one run of an einsum, so they are folded in when the expression is
// compiled; what is left is usually linear in the dimensions.
//===----------------------------------------------------------------------===//

class AffineEvaluator {
public:
  /// Compiles `e` with symbol i replaced by `symbols[i]`.
  void compile(AffineExpr e, ArrayRef<int64_t> symbols) {
    linear = true;
    constant = 0;
    terms.clear();
    steps.clear();
    llvm::SmallDenseMap<unsigned, int64_t> coeffs;
    if (linearize(e, symbols, constant, coeffs)) {
      for (auto [d, c] : coeffs)
        if (c != 0)
          terms.push_back({d, c});
      llvm::sort(terms);
      return;
    }
    linear = false;
    emit(e, symbols);
    stack.resize(steps.size());
  }

  bool isLinear() const { return linear; }
  /// For a linear expression: its constant and its (dimension, coefficient)
  /// terms.
  int64_t linearConstant() const { return constant; }
  ArrayRef<std::pair<unsigned, int64_t>> linearTerms() const { return terms; }

  /// Whether a linear expression stays within [0, extent) over the whole box
  /// [0, sizes[d]) (which must be non-empty). False when unsure.
  bool staysWithin(ArrayRef<int64_t> sizes, int64_t extent) const {
    if (!linear)
      return false;
    __int128 lo = constant, hi = constant;
    for (auto [d, c] : terms) {
      __int128 far = static_cast<__int128>(c) * (sizes[d] - 1);
      (far < 0 ? lo : hi) += far;
    }
    return lo >= 0 && hi < extent;
  }

  /// The value at `dims`; false on a division by zero.
  bool eval(const int64_t *dims, int64_t &out) const {
    if (linear) {
      int64_t v = constant;
      for (auto [d, c] : terms)
        v = wrapAdd(v, wrapMul(c, dims[d]));
      out = v;
      return true;
    }
    size_t top = 0;
    for (const Step &s : steps) {
      switch (s.kind) {
      case Step::Dim:
        stack[top++] = dims[s.value];
        continue;
      case Step::Const:
        stack[top++] = s.value;
        continue;
      default:
        break;
      }
      int64_t b = stack[--top], a = stack[top - 1];
      int64_t &r = stack[top - 1];
      switch (s.kind) {
      case Step::Add:
        r = wrapAdd(a, b);
        break;
      case Step::Mul:
        r = wrapMul(a, b);
        break;
      case Step::FloorDiv:
        if (b == 0)
          return false;
        r = floorDiv(a, b);
        break;
      case Step::CeilDiv:
        if (b == 0)
          return false;
        r = ceilDiv(a, b);
        break;
      case Step::Mod:
        if (b == 0)
          return false;
        r = floorMod(a, b);
        break;
      default:
        break;
      }
    }
    out = stack[0];
    return true;
  }

private:
  struct Step {
    enum Kind : uint8_t { Dim, Const, Add, Mul, FloorDiv, CeilDiv, Mod } kind;
    int64_t value = 0;
  };
  bool linear = true;
  int64_t constant = 0;
  SmallVector<std::pair<unsigned, int64_t>, 4> terms;
  std::vector<Step> steps;
  mutable std::vector<int64_t> stack;

  static bool linearize(AffineExpr e, ArrayRef<int64_t> symbols,
                        int64_t &constant,
                        llvm::SmallDenseMap<unsigned, int64_t> &coeffs) {
    switch (e.getKind()) {
    case AffineExprKind::Constant:
      constant = cast<AffineConstantExpr>(e).getValue();
      return true;
    case AffineExprKind::SymbolId:
      constant = symbols[cast<AffineSymbolExpr>(e).getPosition()];
      return true;
    case AffineExprKind::DimId:
      constant = 0;
      coeffs[cast<AffineDimExpr>(e).getPosition()] = 1;
      return true;
    default:
      break;
    }
    auto bin = cast<AffineBinaryOpExpr>(e);
    int64_t lc = 0, rc = 0;
    llvm::SmallDenseMap<unsigned, int64_t> lt, rt;
    if (!linearize(bin.getLHS(), symbols, lc, lt) ||
        !linearize(bin.getRHS(), symbols, rc, rt))
      return false;
    switch (e.getKind()) {
    case AffineExprKind::Add:
      constant = wrapAdd(lc, rc);
      coeffs = std::move(lt);
      for (auto [d, c] : rt)
        coeffs[d] = wrapAdd(coeffs.lookup(d), c);
      return true;
    case AffineExprKind::Mul:
      if (!lt.empty() && !rt.empty())
        return false;
      if (lt.empty()) {
        std::swap(lc, rc);
        std::swap(lt, rt);
      }
      // Now the right-hand side is the constant rc.
      constant = wrapMul(lc, rc);
      coeffs = std::move(lt);
      for (auto &entry : coeffs)
        entry.second = wrapMul(entry.second, rc);
      return true;
    default:
      if (!lt.empty() || !rt.empty() || rc == 0)
        return false; // a division by zero is reported when evaluated
      constant = e.getKind() == AffineExprKind::FloorDiv  ? floorDiv(lc, rc)
                 : e.getKind() == AffineExprKind::CeilDiv ? ceilDiv(lc, rc)
                                                          : floorMod(lc, rc);
      coeffs.clear();
      return true;
    }
  }

  void emit(AffineExpr e, ArrayRef<int64_t> symbols) {
    switch (e.getKind()) {
    case AffineExprKind::Constant:
      steps.push_back({Step::Const, cast<AffineConstantExpr>(e).getValue()});
      return;
    case AffineExprKind::SymbolId:
      steps.push_back(
          {Step::Const, symbols[cast<AffineSymbolExpr>(e).getPosition()]});
      return;
    case AffineExprKind::DimId:
      steps.push_back({Step::Dim, cast<AffineDimExpr>(e).getPosition()});
      return;
    default:
      break;
    }
    auto bin = cast<AffineBinaryOpExpr>(e);
    emit(bin.getLHS(), symbols);
    emit(bin.getRHS(), symbols);
    Step::Kind kind = e.getKind() == AffineExprKind::Add        ? Step::Add
                      : e.getKind() == AffineExprKind::Mul      ? Step::Mul
                      : e.getKind() == AffineExprKind::FloorDiv ? Step::FloorDiv
                      : e.getKind() == AffineExprKind::CeilDiv  ? Step::CeilDiv
                                                                : Step::Mod;
    steps.push_back({kind, 0});
  }
};

//===----------------------------------------------------------------------===//
// Scalar programs: the ops of a region (or the scalar ops of a function
// body), compiled into a linear list of instructions over slots.
//===----------------------------------------------------------------------===//

union Slot {
  double f;
  int64_t i;
};

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

/// A filter (a union of conjunctions of affine constraints), compiled once.
class CompiledFilter {
public:
  CompiledFilter(std::optional<ArrayAttr> sets, ArrayRef<int64_t> symbols) {
    if (!sets)
      return;
    for (Attribute a : *sets) {
      IntegerSet set = cast<IntegerSetAttr>(a).getValue();
      std::vector<Constraint> conj(set.getNumConstraints());
      for (unsigned c = 0; c < set.getNumConstraints(); ++c) {
        conj[c].expr.compile(set.getConstraint(c), symbols);
        conj[c].isEq = set.isEq(c);
      }
      disjuncts.push_back(std::move(conj));
    }
  }
  /// Whether `pt` passes; false with `divByZero` set when a constraint
  /// divides by zero.
  bool contains(const int64_t *pt, bool &divByZero) const {
    divByZero = false;
    if (disjuncts.empty())
      return true;
    for (const std::vector<Constraint> &conj : disjuncts) {
      bool all = true;
      for (const Constraint &c : conj) {
        int64_t v;
        if (!c.expr.eval(pt, v)) {
          divByZero = true;
          return false;
        }
        if (c.isEq ? v != 0 : v < 0) {
          all = false;
          break;
        }
      }
      if (all)
        return true;
    }
    return false;
  }

private:
  struct Constraint {
    AffineEvaluator expr;
    bool isEq;
  };
  std::vector<std::vector<Constraint>> disjuncts;
};

struct Instr {
  Opc op;
  uint8_t pred = 0;      // comparison predicate, or the dtype of RoundTo
  uint8_t width = 64;    // integer width of the result
  uint8_t srcWidth = 64; // integer width of the operands
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

enum class RunStatus { ok, absent, error };

double maximumF(double a, double b) {
  if (std::isnan(a) || std::isnan(b))
    return std::numeric_limits<double>::quiet_NaN();
  if (a == b)
    return std::signbit(a) ? b : a;
  return a > b ? a : b;
}
double minimumF(double a, double b) {
  if (std::isnan(a) || std::isnan(b))
    return std::numeric_limits<double>::quiet_NaN();
  if (a == b)
    return std::signbit(a) ? a : b;
  return a < b ? a : b;
}

bool compareF(uint8_t pred, double a, double b) {
  bool unordered = std::isnan(a) || std::isnan(b);
  switch (static_cast<arith::CmpFPredicate>(pred)) {
  case arith::CmpFPredicate::AlwaysFalse:
    return false;
  case arith::CmpFPredicate::OEQ:
    return !unordered && a == b;
  case arith::CmpFPredicate::OGT:
    return !unordered && a > b;
  case arith::CmpFPredicate::OGE:
    return !unordered && a >= b;
  case arith::CmpFPredicate::OLT:
    return !unordered && a < b;
  case arith::CmpFPredicate::OLE:
    return !unordered && a <= b;
  case arith::CmpFPredicate::ONE:
    return !unordered && a != b;
  case arith::CmpFPredicate::ORD:
    return !unordered;
  case arith::CmpFPredicate::UEQ:
    return unordered || a == b;
  case arith::CmpFPredicate::UGT:
    return unordered || a > b;
  case arith::CmpFPredicate::UGE:
    return unordered || a >= b;
  case arith::CmpFPredicate::ULT:
    return unordered || a < b;
  case arith::CmpFPredicate::ULE:
    return unordered || a <= b;
  case arith::CmpFPredicate::UNE:
    return unordered || a != b;
  case arith::CmpFPredicate::UNO:
    return unordered;
  case arith::CmpFPredicate::AlwaysTrue:
    return true;
  }
  return false;
}

bool compareI(uint8_t pred, int64_t a, int64_t b, unsigned width) {
  uint64_t ua = zeroExtend(a, width), ub = zeroExtend(b, width);
  switch (static_cast<arith::CmpIPredicate>(pred)) {
  case arith::CmpIPredicate::eq:
    return a == b;
  case arith::CmpIPredicate::ne:
    return a != b;
  case arith::CmpIPredicate::slt:
    return a < b;
  case arith::CmpIPredicate::sle:
    return a <= b;
  case arith::CmpIPredicate::sgt:
    return a > b;
  case arith::CmpIPredicate::sge:
    return a >= b;
  case arith::CmpIPredicate::ult:
    return ua < ub;
  case arith::CmpIPredicate::ule:
    return ua <= ub;
  case arith::CmpIPredicate::ugt:
    return ua > ub;
  case arith::CmpIPredicate::uge:
    return ua >= ub;
  }
  return false;
}

/// Runs instructions [begin, end) of `p` on `s`. On an error, `error` says
/// what went wrong (the caller adds where).
RunStatus runProgram(const Program &p, Slot *s, size_t begin, size_t end,
                     const TableView *tables, std::string &error) {
  const Instr *code = p.code.data();
  for (size_t pc = begin; pc < end; ++pc) {
    const Instr &in = code[pc];
    Slot &d = s[in.dst];
    double fa = in.a >= 0 ? s[in.a].f : 0;
    int64_t ia = in.a >= 0 ? s[in.a].i : 0;
    switch (in.op) {
    case Opc::AddF:
      d.f = fa + s[in.b].f;
      break;
    case Opc::SubF:
      d.f = fa - s[in.b].f;
      break;
    case Opc::MulF:
      d.f = fa * s[in.b].f;
      break;
    case Opc::DivF:
      d.f = fa / s[in.b].f;
      break;
    case Opc::RemF:
      d.f = std::fmod(fa, s[in.b].f);
      break;
    case Opc::MaximumF:
      d.f = maximumF(fa, s[in.b].f);
      break;
    case Opc::MinimumF:
      d.f = minimumF(fa, s[in.b].f);
      break;
    case Opc::MaxNumF:
      d.f = std::fmax(fa, s[in.b].f);
      break;
    case Opc::MinNumF:
      d.f = std::fmin(fa, s[in.b].f);
      break;
    case Opc::PowF:
      d.f = std::pow(fa, s[in.b].f);
      break;
    case Opc::CopySign:
      d.f = std::copysign(fa, s[in.b].f);
      break;
    case Opc::NegF:
      d.f = -fa;
      break;
    case Opc::Exp:
      d.f = std::exp(fa);
      break;
    case Opc::Exp2:
      d.f = std::exp2(fa);
      break;
    case Opc::Expm1:
      d.f = std::expm1(fa);
      break;
    case Opc::Log:
      d.f = std::log(fa);
      break;
    case Opc::Log1p:
      d.f = std::log1p(fa);
      break;
    case Opc::Log2:
      d.f = std::log2(fa);
      break;
    case Opc::Log10:
      d.f = std::log10(fa);
      break;
    case Opc::Tanh:
      d.f = std::tanh(fa);
      break;
    case Opc::Sqrt:
      d.f = std::sqrt(fa);
      break;
    case Opc::Rsqrt:
      d.f = 1.0 / std::sqrt(fa);
      break;
    case Opc::AbsF:
      d.f = std::fabs(fa);
      break;
    case Opc::Sin:
      d.f = std::sin(fa);
      break;
    case Opc::Cos:
      d.f = std::cos(fa);
      break;
    case Opc::Erf:
      d.f = std::erf(fa);
      break;
    case Opc::Floor:
      d.f = std::floor(fa);
      break;
    case Opc::Ceil:
      d.f = std::ceil(fa);
      break;
    case Opc::Round:
      d.f = std::round(fa);
      break;
    case Opc::RoundEven: {
      double fl = std::floor(fa), rest = fa - fl;
      d.f = (rest > 0.5 || (rest == 0.5 && std::fmod(fl, 2.0) != 0)) ? fl + 1
                                                                     : fl;
      break;
    }
    case Opc::TruncF:
      d.f = std::trunc(fa);
      break;
    case Opc::Fma:
      d.f = std::fma(fa, s[in.b].f, s[in.c].f);
      break;

    case Opc::AddI:
      d.i = signExtend(wrapAdd(ia, s[in.b].i), in.width);
      break;
    case Opc::SubI:
      d.i = signExtend(wrapSub(ia, s[in.b].i), in.width);
      break;
    case Opc::MulI:
      d.i = signExtend(wrapMul(ia, s[in.b].i), in.width);
      break;
    case Opc::DivSI:
    case Opc::RemSI:
    case Opc::FloorDivSI:
    case Opc::CeilDivSI: {
      int64_t b = s[in.b].i;
      if (b == 0) {
        error = "integer division by zero in " + opText(in.origin);
        return RunStatus::error;
      }
      int64_t r = in.op == Opc::DivSI        ? divTrunc(ia, b)
                  : in.op == Opc::RemSI      ? remTrunc(ia, b)
                  : in.op == Opc::FloorDivSI ? floorDiv(ia, b)
                                             : ceilDiv(ia, b);
      d.i = signExtend(r, in.width);
      break;
    }
    case Opc::DivUI:
    case Opc::RemUI:
    case Opc::CeilDivUI: {
      uint64_t a = zeroExtend(ia, in.width),
               b = zeroExtend(s[in.b].i, in.width);
      if (b == 0) {
        error = "integer division by zero in " + opText(in.origin);
        return RunStatus::error;
      }
      uint64_t r = in.op == Opc::DivUI   ? a / b
                   : in.op == Opc::RemUI ? a % b
                                         : a / b + (a % b != 0);
      d.i = signExtend(static_cast<int64_t>(r), in.width);
      break;
    }
    case Opc::MaxSI:
      d.i = std::max(ia, s[in.b].i);
      break;
    case Opc::MinSI:
      d.i = std::min(ia, s[in.b].i);
      break;
    case Opc::MaxUI:
    case Opc::MinUI: {
      uint64_t a = zeroExtend(ia, in.width),
               b = zeroExtend(s[in.b].i, in.width);
      d.i = (in.op == Opc::MaxUI) == (a > b) ? ia : s[in.b].i;
      break;
    }
    case Opc::AndI:
      d.i = ia & s[in.b].i;
      break;
    case Opc::OrI:
      d.i = ia | s[in.b].i;
      break;
    case Opc::XOrI:
      d.i = ia ^ s[in.b].i;
      break;
    case Opc::ShLI:
    case Opc::ShRSI:
    case Opc::ShRUI: {
      uint64_t amount = zeroExtend(s[in.b].i, in.width);
      if (amount >= in.width) {
        d.i = in.op == Opc::ShRSI ? (ia < 0 ? -1 : 0) : 0;
        break;
      }
      int64_t r =
          in.op == Opc::ShLI
              ? static_cast<int64_t>(static_cast<uint64_t>(ia) << amount)
          : in.op == Opc::ShRSI
              ? ia >> amount
              : static_cast<int64_t>(zeroExtend(ia, in.width) >> amount);
      d.i = signExtend(r, in.width);
      break;
    }
    case Opc::AbsI:
      d.i = signExtend(ia < 0 ? wrapSub(0, ia) : ia, in.width);
      break;

    case Opc::CmpF:
      d.i = compareF(in.pred, fa, s[in.b].f) ? -1 : 0;
      break;
    case Opc::CmpI:
      d.i = compareI(in.pred, ia, s[in.b].i, in.srcWidth) ? -1 : 0;
      break;
    case Opc::Select:
      d = s[in.a].i != 0 ? s[in.b] : s[in.c];
      break;

    case Opc::SignExt:
      d.i = signExtend(ia, in.width);
      break;
    case Opc::ZeroExt:
      d.i = signExtend(static_cast<int64_t>(zeroExtend(ia, in.srcWidth)),
                       in.width);
      break;
    case Opc::SIToFP:
      d.f = static_cast<double>(ia);
      break;
    case Opc::UIToFP:
      d.f = static_cast<double>(zeroExtend(ia, in.srcWidth));
      break;
    case Opc::FPToSI:
      d.i = intFromDouble(fa, in.width);
      break;
    case Opc::FPToUI:
      d.i = uintFromDouble(fa, in.width);
      break;
    case Opc::RoundTo:
      d.f =
          ::attn::rt::roundToDType(fa, static_cast<::attn::rt::DType>(in.pred));
      break;
    case Opc::Copy:
      d = s[in.a];
      break;

    case Opc::Read: {
      const TableView &t = tables[in.c];
      const int32_t *idx = p.pool.data() + in.a;
      int64_t offset = 0;
      for (unsigned r = 0; r < t.rank; ++r) {
        int64_t x = s[idx[r]].i;
        if (x < 0 || x >= t.shape[r]) {
          SmallVector<int64_t> index;
          for (unsigned k = 0; k < t.rank; ++k)
            index.push_back(s[idx[k]].i);
          error = "out-of-range read of " + t.name + " at index " +
                  listText(index) + ": dimension " + std::to_string(r) +
                  " has extent " + std::to_string(t.shape[r]) + " (shape " +
                  listText(ArrayRef<int64_t>(t.shape, t.rank)) + "), by " +
                  opText(in.origin);
          return RunStatus::error;
        }
        offset += x * t.strides[r];
      }
      if (t.present && !t.present[offset])
        return RunStatus::absent;
      double v = t.values[offset];
      if (in.width == 0)
        d.f = v;
      else
        d.i = intFromDouble(v, in.width);
      break;
    }
    }
  }
  return RunStatus::ok;
}

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
  int32_t addSlot(Value v, Slot init) {
    int32_t slot = static_cast<int32_t>(program.slots.size());
    program.slots.push_back(init);
    if (v)
      slots[v] = slot;
    return slot;
  }
  std::optional<int32_t> lookup(Value v) const {
    auto it = slots.find(v);
    if (it == slots.end())
      return std::nullopt;
    return it->second;
  }

  /// Compiles the whole block: block arguments get the first slots, in
  /// order; attn.yield sets the program's result.
  LogicalResult compileBlock(Block &block, std::string &error) {
    for (BlockArgument arg : block.getArguments()) {
      if (!arg.getType().isIntOrIndexOrFloat() ||
          (!isa<FloatType>(arg.getType()) && intWidth(arg.getType()) == 0)) {
        error = "unsupported block argument type " + typeText(arg.getType()) +
                " in " + context;
        return failure();
      }
      program.argSlots.push_back(addSlot(arg, Slot{0.0}));
    }
    for (Operation &op : block) {
      if (auto yield = dyn_cast<YieldOp>(op)) {
        if (yield.getValues().size() != 1) {
          error = "attn.yield must yield one value, at " + locationText(op.getLoc());
          return failure();
        }
        Value v = yield.getValues()[0];
        int32_t slot;
        if (failed(operand(v, slot, error)))
          return failure();
        program.result = slot;
        program.resultWidth = intWidth(v.getType());
        return success();
      }
      if (failed(compileOp(&op, error)))
        return failure();
    }
    error = "the block of " + context + " does not end in attn.yield";
    return failure();
  }

  /// Compiles one scalar op; fails with an "unsupported op" message for
  /// anything that is not one.
  LogicalResult compileOp(Operation *op, std::string &error);

private:
  Program &program;
  OuterLookup outer;
  TableLookup tableIndex;
  std::string context;
  llvm::DenseMap<Value, int32_t> slots;

  LogicalResult operand(Value v, int32_t &slot, std::string &error) {
    if (auto s = lookup(v)) {
      slot = *s;
      return success();
    }
    Slot value{0.0};
    if (!outer || !outer(v, value, error)) {
      if (error.empty())
        error = "a value used in " + context + " is not available";
      return failure();
    }
    slot = addSlot(v, value);
    return success();
  }

  LogicalResult unsupported(Operation *op, std::string &error) {
    error = "unsupported op " + opText(op) + " in " + context +
            " (the reference interpreter supports the ops listed in "
            "docs/dialect.md)";
    return failure();
  }
};

/// Scalar ops with one opcode each, by name.
std::optional<Opc> simpleOpcode(StringRef name) {
  return llvm::StringSwitch<std::optional<Opc>>(name)
      .Case("arith.addf", Opc::AddF)
      .Case("arith.subf", Opc::SubF)
      .Case("arith.mulf", Opc::MulF)
      .Case("arith.divf", Opc::DivF)
      .Case("arith.remf", Opc::RemF)
      .Case("arith.maximumf", Opc::MaximumF)
      .Case("arith.minimumf", Opc::MinimumF)
      .Case("arith.maxnumf", Opc::MaxNumF)
      .Case("arith.minnumf", Opc::MinNumF)
      .Case("arith.negf", Opc::NegF)
      .Case("math.powf", Opc::PowF)
      .Case("math.copysign", Opc::CopySign)
      .Case("math.exp", Opc::Exp)
      .Case("math.exp2", Opc::Exp2)
      .Case("math.expm1", Opc::Expm1)
      .Case("math.log", Opc::Log)
      .Case("math.log1p", Opc::Log1p)
      .Case("math.log2", Opc::Log2)
      .Case("math.log10", Opc::Log10)
      .Case("math.tanh", Opc::Tanh)
      .Case("math.sqrt", Opc::Sqrt)
      .Case("math.rsqrt", Opc::Rsqrt)
      .Case("math.absf", Opc::AbsF)
      .Case("math.sin", Opc::Sin)
      .Case("math.cos", Opc::Cos)
      .Case("math.erf", Opc::Erf)
      .Case("math.floor", Opc::Floor)
      .Case("math.ceil", Opc::Ceil)
      .Case("math.round", Opc::Round)
      .Case("math.roundeven", Opc::RoundEven)
      .Case("math.trunc", Opc::TruncF)
      .Case("math.fma", Opc::Fma)
      .Case("arith.addi", Opc::AddI)
      .Case("arith.subi", Opc::SubI)
      .Case("arith.muli", Opc::MulI)
      .Case("arith.divsi", Opc::DivSI)
      .Case("arith.divui", Opc::DivUI)
      .Case("arith.remsi", Opc::RemSI)
      .Case("arith.remui", Opc::RemUI)
      .Case("arith.floordivsi", Opc::FloorDivSI)
      .Case("arith.ceildivsi", Opc::CeilDivSI)
      .Case("arith.ceildivui", Opc::CeilDivUI)
      .Case("arith.maxsi", Opc::MaxSI)
      .Case("arith.minsi", Opc::MinSI)
      .Case("arith.maxui", Opc::MaxUI)
      .Case("arith.minui", Opc::MinUI)
      .Case("arith.andi", Opc::AndI)
      .Case("arith.ori", Opc::OrI)
      .Case("arith.xori", Opc::XOrI)
      .Case("arith.shli", Opc::ShLI)
      .Case("arith.shrsi", Opc::ShRSI)
      .Case("arith.shrui", Opc::ShRUI)
      .Case("math.absi", Opc::AbsI)
      .Case("arith.extsi", Opc::SignExt)
      .Case("arith.trunci", Opc::SignExt)
      .Case("arith.index_cast", Opc::SignExt)
      .Case("arith.extui", Opc::ZeroExt)
      .Case("arith.index_castui", Opc::ZeroExt)
      .Case("arith.sitofp", Opc::SIToFP)
      .Case("arith.uitofp", Opc::UIToFP)
      .Case("arith.fptosi", Opc::FPToSI)
      .Case("arith.fptoui", Opc::FPToUI)
      .Case("arith.extf", Opc::Copy)
      .Case("arith.truncf", Opc::RoundTo)
      .Default(std::nullopt);
}


LogicalResult ProgramCompiler::compileOp(Operation *op, std::string &error) {
  if (op->getNumRegions() != 0 || op->getNumResults() != 1)
    return unsupported(op, error);
  Value result = op->getResult(0);
  Type resultType = result.getType();
  bool resultIsFloat = isa<FloatType>(resultType);
  if (!resultIsFloat && intWidth(resultType) == 0)
    return unsupported(op, error);
  for (Value v : op->getOperands())
    if (!isa<FloatType>(v.getType()) && intWidth(v.getType()) == 0 &&
        !isa<ReadOp>(op))
      return unsupported(op, error);

  if (auto c = dyn_cast<arith::ConstantOp>(op)) {
    Slot value{0.0};
    if (auto f = dyn_cast<FloatAttr>(c.getValue()))
      value.f = f.getValueAsDouble();
    else if (auto i = dyn_cast<IntegerAttr>(c.getValue()))
      value.i = signExtend(i.getValue().getSExtValue(), intWidth(resultType));
    else
      return unsupported(op, error);
    addSlot(result, value);
    return success();
  }

  Instr in;
  in.origin = op;
  in.width = static_cast<uint8_t>(intWidth(resultType));
  SmallVector<int32_t, 3> args;
  if (auto read = dyn_cast<ReadOp>(op)) {
    int table = tableIndex ? tableIndex(read.getTensor()) : -1;
    if (table < 0) {
      error = "attn.read at " + locationText(op->getLoc()) +
              " reads a tensor that is not a table of the enclosing einsum";
      return failure();
    }
    for (Value v : read.getIndices()) {
      int32_t slot;
      if (failed(operand(v, slot, error)))
        return failure();
      args.push_back(slot);
    }
    in.op = Opc::Read;
    in.a = static_cast<int32_t>(program.pool.size());
    in.b = static_cast<int32_t>(args.size());
    in.c = table;
    program.pool.insert(program.pool.end(), args.begin(), args.end());
    in.dst = addSlot(result, Slot{0.0});
    program.code.push_back(in);
    return success();
  }

  for (Value v : op->getOperands()) {
    int32_t slot;
    if (failed(operand(v, slot, error)))
      return failure();
    args.push_back(slot);
  }
  if (!args.empty())
    in.srcWidth = static_cast<uint8_t>(
        intWidth(op->getOperand(isa<arith::SelectOp>(op) ? 1 : 0).getType()));

  if (auto cmp = dyn_cast<arith::CmpFOp>(op)) {
    in.op = Opc::CmpF;
    in.pred = static_cast<uint8_t>(cmp.getPredicate());
  } else if (auto cmp = dyn_cast<arith::CmpIOp>(op)) {
    in.op = Opc::CmpI;
    in.pred = static_cast<uint8_t>(cmp.getPredicate());
  } else if (isa<arith::SelectOp>(op)) {
    in.op = Opc::Select;
  } else if (std::optional<Opc> opc =
                 simpleOpcode(op->getName().getStringRef())) {
    in.op = *opc;
    if (in.op == Opc::RoundTo) {
      std::optional<::attn::rt::DType> dt = toRuntimeDType(resultType);
      if (!dt)
        return unsupported(op, error);
      in.pred = static_cast<uint8_t>(*dt);
    }
  } else {
    return unsupported(op, error);
  }
  if (args.size() > 3)
    return unsupported(op, error);
  in.a = args.size() > 0 ? args[0] : -1;
  in.b = args.size() > 1 ? args[1] : -1;
  in.c = args.size() > 2 ? args[2] : -1;
  in.dst = addSlot(result, Slot{0.0});
  program.code.push_back(in);
  return success();
}

//===----------------------------------------------------------------------===//
// The interpreter of one kernel.
//===----------------------------------------------------------------------===//

/// A tensor value of the kernel: row-major doubles with presence flags.
struct Tensor {
  std::vector<int64_t> shape, strides;
  std::vector<double> values;
  std::vector<uint8_t> present; // empty: every element present
  std::string name;

  void setShape(ArrayRef<int64_t> s) {
    shape.assign(s.begin(), s.end());
    strides.assign(s.size(), 1);
    for (size_t i = s.size(); i-- > 1;)
      strides[i - 1] = strides[i] * s[i];
  }
  TableView view() const {
    TableView t;
    t.values = values.data();
    t.present = present.empty() ? nullptr : present.data();
    t.shape = shape.data();
    t.strides = strides.data();
    t.rank = static_cast<unsigned>(shape.size());
    t.name = name;
    return t;
  }
};

/// numElements of `shape`, or -1 past kMaxElements.
int64_t checkedCount(ArrayRef<int64_t> shape, int64_t limit) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0)
      return -1;
    if (d == 0)
      return 0;
  }
  for (int64_t d : shape) {
    if (n > limit / d)
      return -1;
    n *= d;
  }
  return n;
}

class KernelInterpreter {
public:
  KernelInterpreter(func::FuncOp kernel, std::string &error)
      : kernel(kernel), error(error),
        funcCompiler(funcProgram, nullptr, nullptr,
                     "kernel " + kernel.getSymName().str()) {}

  LogicalResult run(ArrayRef<RefArg> args, std::vector<RefTensor> &results);

private:
  func::FuncOp kernel;
  std::string &error;
  /// Scalars of the function body live in the slots of one program that
  /// grows op by op and is executed as it grows.
  Program funcProgram;
  ProgramCompiler funcCompiler;
  llvm::DenseMap<Value, std::unique_ptr<Tensor>> tensors;

  LogicalResult fail(const std::string &message) {
    error = message;
    return failure();
  }
  LogicalResult bindArguments(ArrayRef<RefArg> args);
  LogicalResult runEinsum(EinsumOp op);
  LogicalResult runFill(FillOp op);
  LogicalResult runOnline(OnlineOp op);
  LogicalResult runDim(tensor::DimOp op);
  LogicalResult runScalarOp(Operation *op);
  LogicalResult collectResults(func::ReturnOp op,
                               std::vector<RefTensor> &results);

  Tensor *tensorOf(Value v) {
    auto it = tensors.find(v);
    return it == tensors.end() ? nullptr : it->second.get();
  }
  bool scalarOf(Value v, Slot &out) {
    std::optional<int32_t> slot = funcCompiler.lookup(v);
    if (!slot)
      return false;
    out = funcProgram.slots[*slot];
    return true;
  }
  /// The extents of an op's iteration space and its symbols, with the
  /// number of points; fails on a negative extent or too many points.
  LogicalResult iterationSpace(Operation *op, ValueRange sizeValues,
                               ValueRange symbolValues, const std::string &where,
                               SmallVector<int64_t> &sizes,
                               SmallVector<int64_t> &symbols,
                               int64_t &numPoints) {
    for (Value v : sizeValues) {
      int64_t n;
      if (failed(indexOf(v, n, op, "size")))
        return failure();
      if (n < 0)
        return fail(where + ": dimension d" + std::to_string(sizes.size()) +
                    " has a negative extent (" + std::to_string(n) + ")");
      sizes.push_back(n);
    }
    for (Value v : symbolValues) {
      int64_t n;
      if (failed(indexOf(v, n, op, "symbol")))
        return failure();
      symbols.push_back(n);
    }
    numPoints = checkedCount(sizes, kMaxPoints);
    if (numPoints < 0)
      return fail(where + ": the iteration space " + listText(sizes) +
                  " is too large for the reference interpreter");
    return success();
  }
  /// The integer value of `v`, an operand of `user` described by `what`.
  LogicalResult indexOf(Value v, int64_t &out, Operation *user,
                        const char *what) {
    Slot s;
    if (!intWidth(v.getType()) || !scalarOf(v, s))
      return fail(std::string("the ") + what + " operand of " + opText(user) +
                  " is not an index computed by the kernel");
    out = s.i;
    return success();
  }
};

LogicalResult KernelInterpreter::bindArguments(ArrayRef<RefArg> args) {
  std::string kname = kernel.getSymName().str();
  unsigned n = kernel.getNumArguments();
  if (args.size() != n) {
    std::string names;
    for (unsigned i = 0; i < n; ++i)
      names += (i ? ", " : "") + argName(kernel, i);
    return fail("kernel " + kname + " takes " + std::to_string(n) +
                " argument" + (n == 1 ? "" : "s") + " (" + names + "), got " +
                std::to_string(args.size()));
  }
  struct SymbolUse {
    int64_t extent;
    std::string arg;
    int64_t dim;
  };
  std::map<std::string, SymbolUse> symbols;
  for (unsigned i = 0; i < n; ++i) {
    BlockArgument value = kernel.getArgument(i);
    Type type = value.getType();
    std::string name = argName(kernel, i);
    const RefArg &arg = args[i];
    if (auto tt = dyn_cast<RankedTensorType>(type)) {
      if (arg.isScalar)
        return fail("argument " + name + " of kernel " + kname +
                    " is a tensor (" + typeText(type) +
                    ") but a scalar was given");
      const RefTensor &t = arg.tensor;
      if (static_cast<int64_t>(t.shape.size()) != tt.getRank())
        return fail("argument " + name + " has rank " +
                    std::to_string(t.shape.size()) + " (shape " +
                    listText(t.shape) + ") but kernel " + kname +
                    " expects rank " + std::to_string(tt.getRank()) + " (" +
                    typeText(type) + ")");
      for (int64_t d = 0; d < tt.getRank(); ++d) {
        if (t.shape[d] < 0)
          return fail("argument " + name +
                      " has a negative extent in "
                      "dimension " +
                      std::to_string(d));
        if (!tt.isDynamicDim(d) && tt.getDimSize(d) != t.shape[d])
          return fail("argument " + name + " has extent " +
                      std::to_string(t.shape[d]) + " in dimension " +
                      std::to_string(d) + " but its type " + typeText(type) +
                      " requires " + std::to_string(tt.getDimSize(d)));
      }
      int64_t count = checkedCount(t.shape, kMaxElements);
      if (count < 0)
        return fail("argument " + name + " is too large (shape " +
                    listText(t.shape) + ")");
      if (static_cast<int64_t>(t.values.size()) != count)
        return fail("argument " + name + " has " +
                    std::to_string(t.values.size()) + " values but its shape " +
                    listText(t.shape) + " has " + std::to_string(count) +
                    " elements");
      if (!t.present.empty() && t.present.size() != t.values.size())
        return fail("argument " + name + " has " +
                    std::to_string(t.present.size()) + " presence flags for " +
                    std::to_string(count) + " elements");
      if (auto dims = kernel.getArgAttrOfType<ArrayAttr>(i, kDimsAttr)) {
        if (static_cast<int64_t>(dims.size()) != tt.getRank())
          return fail("argument " + name + " has " +
                      std::to_string(dims.size()) +
                      " attn.dims entries for "
                      "rank " +
                      std::to_string(tt.getRank()));
        for (int64_t d = 0; d < tt.getRank(); ++d) {
          auto sym = dyn_cast<StringAttr>(dims[d]);
          if (!sym)
            return fail("argument " + name +
                        " has a non-string attn.dims "
                        "entry");
          long long literal;
          if (!sym.getValue().getAsInteger(10, literal)) {
            if (literal != t.shape[d])
              return fail("argument " + name + " has extent " +
                          std::to_string(t.shape[d]) + " in dimension " +
                          std::to_string(d) + " but is declared " +
                          std::to_string(literal));
            continue;
          }
          auto [it, inserted] =
              symbols.emplace(sym.str(), SymbolUse{t.shape[d], name, d});
          if (!inserted && it->second.extent != t.shape[d])
            return fail("size symbol " + sym.str() + " is " +
                        std::to_string(it->second.extent) + " in " +
                        it->second.arg + " (dimension " +
                        std::to_string(it->second.dim) + ") but " +
                        std::to_string(t.shape[d]) + " in " + name +
                        " (dimension " + std::to_string(d) + ")");
        }
      }
      auto tensor = std::make_unique<Tensor>();
      tensor->setShape(t.shape);
      tensor->values = t.values;
      tensor->present = t.present;
      tensor->name = name;
      tensors[value] = std::move(tensor);
      continue;
    }
    if (!type.isIntOrIndexOrFloat() ||
        (!isa<FloatType>(type) && intWidth(type) == 0))
      return fail("argument " + name + " of kernel " + kname +
                  " has an unsupported type " + typeText(type));
    if (!arg.isScalar)
      return fail("argument " + name + " of kernel " + kname +
                  " is a scalar (" + typeText(type) +
                  ") but a tensor was given");
    Slot s{0.0};
    if (isa<FloatType>(type))
      s.f = arg.scalar;
    else
      s.i = intFromDouble(arg.scalar, intWidth(type));
    funcCompiler.addSlot(value, s);
  }
  return success();
}

LogicalResult KernelInterpreter::runScalarOp(Operation *op) {
  size_t begin = funcProgram.code.size();
  if (failed(funcCompiler.compileOp(op, error)))
    return failure();
  std::string message;
  if (runProgram(funcProgram, funcProgram.slots.data(), begin,
                 funcProgram.code.size(), nullptr, message) != RunStatus::ok)
    return fail(message);
  return success();
}

LogicalResult KernelInterpreter::runDim(tensor::DimOp op) {
  Tensor *t = tensorOf(op.getSource());
  if (!t)
    return fail("tensor.dim at " + locationText(op.getLoc()) +
                " reads a tensor the interpreter does not hold");
  int64_t index;
  if (failed(indexOf(op.getIndex(), index, op, "index")))
    return failure();
  if (index < 0 || index >= static_cast<int64_t>(t->shape.size()))
    return fail("tensor.dim at " + locationText(op.getLoc()) +
                " asks for dimension " + std::to_string(index) + " of " +
                t->name + ", which has rank " +
                std::to_string(t->shape.size()));
  Slot s;
  s.i = t->shape[index];
  funcCompiler.addSlot(op.getResult(), s);
  return success();
}

LogicalResult KernelInterpreter::runFill(FillOp op) {
  Tensor *in = tensorOf(op.getInput());
  if (!in)
    return fail("attn.fill at " + locationText(op.getLoc()) +
                " reads a tensor the interpreter does not hold");
  auto type = cast<RankedTensorType>(op.getResult().getType());
  std::optional<::attn::rt::DType> dt = toRuntimeDType(type.getElementType());
  if (!dt)
    return fail("attn.fill at " + locationText(op.getLoc()) +
                " converts to the unsupported element type " +
                typeText(type.getElementType()));
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (!type.isDynamicDim(d) && type.getDimSize(d) != in->shape[d])
      return fail("attn.fill at " + locationText(op.getLoc()) + ": " + in->name +
                  " has extent " + std::to_string(in->shape[d]) +
                  " in dimension " + std::to_string(d) +
                  " but the result "
                  "type " +
                  typeText(type) + " requires " +
                  std::to_string(type.getDimSize(d)));
  double fill = op.getValue().convertToDouble();
  auto out = std::make_unique<Tensor>();
  out->setShape(in->shape);
  out->name = valueName(op.getResult());
  out->values.resize(in->values.size());
  for (size_t k = 0; k < in->values.size(); ++k) {
    double v = in->present.empty() || in->present[k] ? in->values[k] : fill;
    out->values[k] = ::attn::rt::roundToDType(v, *dt);
  }
  tensors[op.getResult()] = std::move(out);
  return success();
}

/// One contribution combined into an accumulator.
void combine(ReductionKind kind, double &acc, double v) {
  switch (kind) {
  case ReductionKind::none:
    acc = v;
    return;
  case ReductionKind::sum:
    acc += v;
    return;
  case ReductionKind::prod:
    acc *= v;
    return;
  case ReductionKind::max:
    acc = maximumF(acc, v);
    return;
  case ReductionKind::min:
    acc = minimumF(acc, v);
    return;
  }
}

std::string pointText(ArrayRef<int64_t> point) {
  std::string s = "(";
  for (size_t i = 0; i < point.size(); ++i)
    s += (i ? ", d" : "d") + std::to_string(i) + "=" + std::to_string(point[i]);
  return s + ")";
}

LogicalResult KernelInterpreter::runEinsum(EinsumOp op) {
  std::string where = "attn.einsum at " + locationText(op.getLoc());
  unsigned numDims = op.getNumDims();
  unsigned numInputs = op.getInputs().size();

  // The iteration space and the symbols, fixed for this run.
  SmallVector<int64_t> sizes, symbols;
  int64_t numPoints;
  if (failed(iterationSpace(op, op.getSizes(), op.getSymbols(), where, sizes,
                            symbols, numPoints)))
    return failure();

  // Inputs, read through their maps.
  struct Input {
    Tensor *tensor;
    std::vector<AffineEvaluator> index; // one per tensor dimension
    unsigned width;                     // integer width; 0: float
    // When every index is linear and provably in range over the whole
    // iteration space, the element offset is base + sum(coeff * point[d]),
    // with no bounds checks.
    bool inBox = false;
    int64_t flatBase = 0;
    SmallVector<std::pair<unsigned, int64_t>, 6> flatTerms;
  };
  std::vector<Input> inputs(numInputs);
  for (unsigned i = 0; i < numInputs; ++i) {
    Value v = op.getInputs()[i];
    Input &in = inputs[i];
    in.tensor = tensorOf(v);
    if (!in.tensor)
      return fail(where + ": input " + std::to_string(i) +
                  " is not a tensor the interpreter holds");
    AffineMap map = op.getInputMap(i);
    if (map.getNumResults() != in.tensor->shape.size())
      return fail(where + ": the map of input " + std::to_string(i) +
                  " does not match the rank of " + in.tensor->name);
    in.index.resize(map.getNumResults());
    for (unsigned r = 0; r < map.getNumResults(); ++r)
      in.index[r].compile(map.getResult(r), symbols);
    in.width = intWidth(cast<RankedTensorType>(v.getType()).getElementType());
    in.inBox = numPoints > 0;
    for (unsigned r = 0; r < map.getNumResults() && in.inBox; ++r)
      in.inBox = in.index[r].staysWithin(sizes, in.tensor->shape[r]);
    if (in.inBox) {
      SmallVector<int64_t, 6> coeff(numDims, 0);
      for (unsigned r = 0; r < map.getNumResults(); ++r) {
        int64_t stride = in.tensor->strides[r];
        in.flatBase =
            wrapAdd(in.flatBase, wrapMul(in.index[r].linearConstant(), stride));
        for (auto [d, c] : in.index[r].linearTerms())
          coeff[d] = wrapAdd(coeff[d], wrapMul(c, stride));
      }
      for (unsigned d = 0; d < numDims; ++d)
        if (coeff[d] != 0)
          in.flatTerms.push_back({d, coeff[d]});
    }
  }

  // Tables, for attn.read.
  std::vector<TableView> tables;
  for (Value v : op.getTables()) {
    Tensor *t = tensorOf(v);
    if (!t)
      return fail(where + ": a table is not a tensor the interpreter holds");
    tables.push_back(t->view());
  }
  auto tableIndex = [&](Value v) -> int {
    for (auto [i, t] : llvm::enumerate(op.getTables()))
      if (t == v)
        return static_cast<int>(i);
    return -1;
  };
  auto outer = [&](Value v, Slot &s, std::string &message) {
    if (scalarOf(v, s))
      return true;
    message = where + " uses " +
              (isa<TensorType>(v.getType())
                   ? "the tensor " + valueName(v) +
                         " in a region other than through attn.read"
                   : "a value the interpreter did not compute (" +
                         valueName(v) + ")");
    return false;
  };

  // The filter: a union of conjunctions of affine constraints.
  CompiledFilter filter(op.getFilter(), symbols);

  // The regions, compiled once.
  Program guard, body;
  bool hasGuard = op.hasGuard();
  if (hasGuard) {
    ProgramCompiler compiler(guard, outer, tableIndex, "the guard of " + where);
    if (failed(compiler.compileBlock(op.getGuard().front(), error)))
      return failure();
    if (guard.argSlots.size() != numDims)
      return fail(where + ": the guard must take one index per dimension");
  }
  {
    ProgramCompiler compiler(body, outer, tableIndex, "the body of " + where);
    if (failed(compiler.compileBlock(op.getBody().front(), error)))
      return failure();
    if (body.argSlots.size() != numInputs + numDims)
      return fail(where + ": the body must take one argument per input and "
                          "one index per dimension");
  }

  // The result and its accumulators.
  auto resultType = cast<RankedTensorType>(op.getResult().getType());
  AffineMap resultMap = op.getResultMap();
  SmallVector<unsigned> resultDims;
  SmallVector<int64_t> resultShape;
  for (AffineExpr e : resultMap.getResults()) {
    auto d = dyn_cast<AffineDimExpr>(e);
    if (!d)
      return fail(where + ": the result map must name dimensions only");
    resultDims.push_back(d.getPosition());
    resultShape.push_back(sizes[d.getPosition()]);
  }
  for (int64_t d = 0; d < resultType.getRank(); ++d)
    if (!resultType.isDynamicDim(d) &&
        resultType.getDimSize(d) != resultShape[d])
      return fail(where + ": the result has extent " +
                  std::to_string(resultShape[d]) + " in dimension " +
                  std::to_string(d) + " but its type " + typeText(resultType) +
                  " requires " + std::to_string(resultType.getDimSize(d)));
  int64_t resultCount = checkedCount(resultShape, kMaxElements);
  if (resultCount < 0)
    return fail(where + ": the result " + listText(resultShape) +
                " is too large for the reference interpreter");
  auto out = std::make_unique<Tensor>();
  out->setShape(resultShape);
  out->name = valueName(op.getResult());
  out->values.assign(resultCount, 0.0);
  out->present.assign(resultCount, 0);
  SmallVector<int64_t> resultStride(numDims, 0);
  for (auto [k, d] : llvm::enumerate(resultDims))
    resultStride[d] += out->strides[k];
  ReductionKind kind = op.getKind();

  // Visit every point: filter, guard, inputs, body.
  SmallVector<int64_t> point(numDims, 0);
  std::vector<Slot> guardSlots = guard.slots, bodySlots = body.slots;
  std::vector<int64_t> offsets(numInputs);
  std::string message;
  auto failAt = [&](const std::string &what, const char *region = "") {
    return fail(what + ", in " + region + where + " at iteration point " +
                pointText(point));
  };
  for (int64_t visited = 0; visited < numPoints; ++visited) {
    if (visited != 0) { // the next point, the last dimension fastest
      for (unsigned d = numDims; d-- > 0;) {
        if (++point[d] < sizes[d])
          break;
        point[d] = 0;
      }
    }
    const int64_t *pt = point.data();

    bool divByZero;
    if (!filter.contains(pt, divByZero)) {
      if (divByZero)
        return failAt("division by zero in the filter");
      continue;
    }

    if (hasGuard) {
      for (unsigned d = 0; d < numDims; ++d)
        guardSlots[guard.argSlots[d]].i = pt[d];
      RunStatus status = runProgram(guard, guardSlots.data(), 0,
                                    guard.code.size(), tables.data(), message);
      if (status == RunStatus::error)
        return failAt(message, "the guard of ");
      if (status == RunStatus::absent || guardSlots[guard.result].i == 0)
        continue;
    }

    bool absent = false;
    int outOfRange = -1;
    for (unsigned i = 0; i < numInputs && !absent; ++i) {
      const Input &in = inputs[i];
      const Tensor &t = *in.tensor;
      if (in.inBox) {
        int64_t offset = in.flatBase;
        for (auto [d, c] : in.flatTerms)
          offset = wrapAdd(offset, wrapMul(c, pt[d]));
        if (!t.present.empty() && !t.present[offset])
          absent = true;
        offsets[i] = offset;
        continue;
      }
      int64_t offset = 0;
      bool inRange = true;
      for (size_t r = 0; r < in.index.size(); ++r) {
        int64_t x;
        if (!in.index[r].eval(pt, x))
          return failAt("division by zero in the map of input " +
                        std::to_string(i));
        if (x < 0 || x >= t.shape[r]) {
          inRange = false;
          break;
        }
        offset += x * t.strides[r];
      }
      if (!inRange) {
        if (outOfRange < 0)
          outOfRange = static_cast<int>(i);
        continue;
      }
      if (!t.present.empty() && !t.present[offset])
        absent = true;
      offsets[i] = offset;
    }
    if (absent)
      continue;
    if (outOfRange >= 0) {
      const Input &in = inputs[outOfRange];
      SmallVector<int64_t> index;
      int64_t badDim = -1;
      for (size_t r = 0; r < in.index.size(); ++r) {
        int64_t x = 0;
        in.index[r].eval(pt, x);
        index.push_back(x);
        if (badDim < 0 && (x < 0 || x >= in.tensor->shape[r]))
          badDim = static_cast<int64_t>(r);
      }
      return failAt("out-of-range read of " + in.tensor->name + " at index " +
                    listText(index) + ": dimension " + std::to_string(badDim) +
                    " has extent " + std::to_string(in.tensor->shape[badDim]) +
                    " (shape " + listText(in.tensor->shape) +
                    "), through the map of input " +
                    std::to_string(outOfRange));
    }

    for (unsigned i = 0; i < numInputs; ++i) {
      double v = inputs[i].tensor->values[offsets[i]];
      Slot &s = bodySlots[body.argSlots[i]];
      if (inputs[i].width == 0)
        s.f = v;
      else
        s.i = intFromDouble(v, inputs[i].width);
    }
    for (unsigned d = 0; d < numDims; ++d)
      bodySlots[body.argSlots[numInputs + d]].i = pt[d];
    RunStatus status = runProgram(body, bodySlots.data(), 0, body.code.size(),
                                  tables.data(), message);
    if (status == RunStatus::error)
      return failAt(message, "the body of ");
    if (status == RunStatus::absent)
      continue;
    const Slot &r = bodySlots[body.result];
    double v = body.resultWidth ? storedFromInt(r.i, body.resultWidth) : r.f;

    int64_t o = 0;
    for (unsigned d = 0; d < numDims; ++d)
      o += pt[d] * resultStride[d];
    if (!out->present[o]) {
      out->present[o] = 1;
      out->values[o] = v;
    } else {
      combine(kind, out->values[o], v);
    }
  }
  tensors[op.getResult()] = std::move(out);
  return success();
}

/// attn.online, evaluated the way a kernel does it: one traversal of the
/// iteration space, each sum keeping a running reference (the largest `ref`
/// it has seen) and rescaling when the reference grows; at the end each sum
/// is brought to the final maximum. The result is the definition in
/// AttnOps.td exactly (up to rounding), whatever the traversal order.
LogicalResult KernelInterpreter::runOnline(OnlineOp op) {
  std::string where = "attn.online at " + locationText(op.getLoc());
  unsigned numDims = op.getNumDims();
  unsigned numParts = op.getNumParts();
  SmallVector<int64_t> sizes, symbols;
  int64_t numPoints;
  if (failed(iterationSpace(op, op.getSizes(), op.getSymbols(), where, sizes,
                            symbols, numPoints)))
    return failure();

  // An accessor: a tensor and the compiled map that reads it.
  struct Access {
    Tensor *tensor = nullptr;
    std::vector<AffineEvaluator> index;
    // The element offset at `pt`; -1 when out of range; -2 on a division by
    // zero.
    int64_t offset(const int64_t *pt) const {
      int64_t o = 0;
      for (size_t r = 0; r < index.size(); ++r) {
        int64_t x;
        if (!index[r].eval(pt, x))
          return -2;
        if (x < 0 || x >= tensor->shape[r])
          return -1;
        o += x * tensor->strides[r];
      }
      return o;
    }
    bool present(int64_t o) const {
      return tensor->present.empty() || tensor->present[o];
    }
  };
  auto access = [&](Value v, AffineMap map, Access &a) -> LogicalResult {
    a.tensor = tensorOf(v);
    if (!a.tensor || map.getNumResults() != a.tensor->shape.size())
      return fail(where + ": an input is not a tensor the interpreter holds "
                          "with the rank of its map");
    a.index.resize(map.getNumResults());
    for (unsigned r = 0; r < map.getNumResults(); ++r)
      a.index[r].compile(map.getResult(r), symbols);
    return success();
  };
  Access ref;
  std::vector<Access> parts(numParts);
  if (failed(access(op.getRef(), op.getRefMap(), ref)))
    return failure();
  for (unsigned i = 0; i < numParts; ++i)
    if (failed(access(op.getParts()[i], op.getPartMap(i), parts[i])))
      return failure();

  // The results: element offsets are linear in the point.
  auto makeResult = [&](Value v, AffineMap map, SmallVector<int64_t> &stride) {
    SmallVector<int64_t> shape;
    for (AffineExpr e : map.getResults())
      shape.push_back(sizes[cast<AffineDimExpr>(e).getPosition()]);
    auto t = std::make_unique<Tensor>();
    t->setShape(shape);
    t->name = valueName(v);
    int64_t n = checkedCount(shape, kMaxElements);
    if (n < 0)
      return std::unique_ptr<Tensor>();
    t->values.assign(n, 0.0);
    t->present.assign(n, 0);
    stride.assign(numDims, 0);
    for (auto [k, e] : llvm::enumerate(map.getResults()))
      stride[cast<AffineDimExpr>(e).getPosition()] += t->strides[k];
    return t;
  };
  SmallVector<int64_t> maxStride;
  std::unique_ptr<Tensor> maxT = makeResult(op.getMax(), op.getMaxMap(),
                                            maxStride);
  std::vector<SmallVector<int64_t>> sumStride(numParts);
  std::vector<std::unique_ptr<Tensor>> sums;
  // Each sum point's running reference, in the frame of which it is held.
  std::vector<std::vector<double>> frames(numParts);
  std::vector<double> rescale;
  for (unsigned i = 0; i < numParts; ++i) {
    sums.push_back(makeResult(op.getSums()[i], op.getSumMap(i), sumStride[i]));
    if (!sums.back())
      return fail(where + ": a result is too large for the interpreter");
    frames[i].assign(sums[i]->values.size(), 0.0);
    rescale.push_back(cast<FloatAttr>(op.getRescale()[i]).getValueAsDouble());
  }
  if (!maxT)
    return fail(where + ": a result is too large for the interpreter");

  auto outOfRange = [&](const Access &a, int64_t code,
                        ArrayRef<int64_t> point) {
    return fail(where + (code == -2 ? ": division by zero in a map"
                                    : ": out-of-range read of " +
                                          a.tensor->name) +
                " at iteration point " + pointText(point));
  };
  // Each result sums over the reduced dimensions only: a point contributes
  // to it when the dimensions that are neither reduced nor its own are 0.
  SmallVector<unsigned> reducedDims = op.getReducedDims();
  auto foreignDims = [&](AffineMap map) {
    SmallVector<unsigned> foreign;
    for (unsigned d = 0; d < numDims; ++d)
      if (!llvm::is_contained(reducedDims, d) &&
          !llvm::any_of(map.getResults(), [&](AffineExpr e) {
            return cast<AffineDimExpr>(e).getPosition() == d;
          }))
        foreign.push_back(d);
    return foreign;
  };
  std::vector<SmallVector<unsigned>> sumForeign;
  for (unsigned i = 0; i < numParts; ++i)
    sumForeign.push_back(foreignDims(op.getSumMap(i)));
  SmallVector<unsigned> maxForeign = foreignDims(op.getMaxMap());
  auto atOrigin = [](const int64_t *pt, ArrayRef<unsigned> dims) {
    return llvm::all_of(dims, [&](unsigned d) { return pt[d] == 0; });
  };

  CompiledFilter filter(op.getFilter(), symbols);

  SmallVector<int64_t> point(numDims, 0);
  for (int64_t visited = 0; visited < numPoints; ++visited) {
    if (visited != 0)
      for (unsigned d = numDims; d-- > 0;) {
        if (++point[d] < sizes[d])
          break;
        point[d] = 0;
      }
    const int64_t *pt = point.data();
    bool divByZero;
    if (!filter.contains(pt, divByZero)) {
      if (divByZero)
        return fail(where + ": division by zero in the filter at iteration "
                            "point " + pointText(point));
      continue;
    }
    int64_t ro = ref.offset(pt);
    if (ro < 0)
      return outOfRange(ref, ro, point);
    if (!ref.present(ro))
      continue;
    double r = ref.tensor->values[ro];
    int64_t mo = 0;
    for (unsigned d = 0; d < numDims; ++d)
      mo += pt[d] * maxStride[d];
    if (atOrigin(pt, maxForeign)) {
      if (!maxT->present[mo] || r > maxT->values[mo])
        maxT->values[mo] = r;
      maxT->present[mo] = 1;
    }
    for (unsigned i = 0; i < numParts; ++i) {
      if (!atOrigin(pt, sumForeign[i]))
        continue;
      int64_t po = parts[i].offset(pt);
      if (po < 0)
        return outOfRange(parts[i], po, point);
      if (!parts[i].present(po))
        continue;
      double v = parts[i].tensor->values[po];
      int64_t so = 0;
      for (unsigned d = 0; d < numDims; ++d)
        so += pt[d] * sumStride[i][d];
      Tensor &sum = *sums[i];
      double &frame = frames[i][so];
      if (!sum.present[so]) {
        sum.present[so] = 1;
        sum.values[so] = v;
        frame = r;
        continue;
      }
      double next = std::max(frame, r);
      sum.values[so] = sum.values[so] * std::exp(rescale[i] * (next - frame)) +
                       v * std::exp(rescale[i] * (next - r));
      frame = next;
    }
  }
  // Bring every sum to the final maximum of its point.
  for (unsigned i = 0; i < numParts; ++i) {
    Tensor &sum = *sums[i];
    SmallVector<int64_t> at(numDims, 0);
    // The max point of a sum point: walk the sum's own indices.
    AffineMap sumMap = op.getSumMap(i), maxMap = op.getMaxMap();
    for (size_t k = 0; k < sum.values.size(); ++k) {
      if (!sum.present[k])
        continue;
      int64_t rest = static_cast<int64_t>(k);
      for (auto [j, e] : llvm::enumerate(sumMap.getResults())) {
        at[cast<AffineDimExpr>(e).getPosition()] = rest / sum.strides[j];
        rest %= sum.strides[j];
      }
      int64_t mo = 0;
      for (AffineExpr e : maxMap.getResults()) {
        unsigned d = cast<AffineDimExpr>(e).getPosition();
        mo += at[d] * maxStride[d];
      }
      sum.values[k] *= std::exp(rescale[i] * (maxT->values[mo] - frames[i][k]));
    }
  }
  tensors[op.getMax()] = std::move(maxT);
  for (unsigned i = 0; i < numParts; ++i)
    tensors[op.getSums()[i]] = std::move(sums[i]);
  return success();
}

LogicalResult
KernelInterpreter::collectResults(func::ReturnOp op,
                                  std::vector<RefTensor> &results) {
  results.clear();
  for (auto [i, v] : llvm::enumerate(op.getOperands())) {
    Tensor *t = tensorOf(v);
    auto type = dyn_cast<RankedTensorType>(v.getType());
    std::optional<::attn::rt::DType> dt =
        type ? toRuntimeDType(type.getElementType()) : std::nullopt;
    if (!t || !dt)
      return fail("result " + std::to_string(i) + " of kernel " +
                  kernel.getSymName().str() +
                  " is not a tensor of a "
                  "supported element type (" +
                  typeText(v.getType()) + ")");
    // Outputs are normally written through attn.fill; anything still absent
    // takes the default fill value, 0.
    RefTensor r;
    r.shape = t->shape;
    r.values.resize(t->values.size());
    for (size_t k = 0; k < t->values.size(); ++k)
      r.values[k] = ::attn::rt::roundToDType(
          t->present.empty() || t->present[k] ? t->values[k] : 0.0, *dt);
    results.push_back(std::move(r));
  }
  return success();
}

LogicalResult KernelInterpreter::run(ArrayRef<RefArg> args,
                                     std::vector<RefTensor> &results) {
  if (kernel.isExternal())
    return fail("kernel " + kernel.getSymName().str() + " has no body");
  if (failed(bindArguments(args)))
    return failure();
  Block &entry = kernel.getBody().front();
  for (Operation &op : entry) {
    LogicalResult ok = success();
    if (auto einsum = dyn_cast<EinsumOp>(op))
      ok = runEinsum(einsum);
    else if (auto fill = dyn_cast<FillOp>(op))
      ok = runFill(fill);
    else if (auto online = dyn_cast<OnlineOp>(op))
      ok = runOnline(online);
    else if (auto dim = dyn_cast<tensor::DimOp>(op))
      ok = runDim(dim);
    else if (auto ret = dyn_cast<func::ReturnOp>(op))
      return collectResults(ret, results);
    else
      ok = runScalarOp(&op);
    if (failed(ok))
      return failure();
  }
  return fail("kernel " + kernel.getSymName().str() +
              " does not end in func.return");
}

} // namespace

LogicalResult mlir::attn::interpretKernel(func::FuncOp kernel,
                                          ArrayRef<RefArg> args,
                                          std::vector<RefTensor> &results,
                                          std::string &error) {
  if (!kernel) {
    error = "no kernel to interpret";
    return failure();
  }
  // The interpreter relies on the verifiers' guarantees (map arities, block
  // signatures); check them first and report the first diagnostic.
  {
    std::string diagnostic;
    ScopedDiagnosticHandler handler(kernel.getContext(), [&](Diagnostic &d) {
      if (diagnostic.empty())
        diagnostic = locationText(d.getLocation()) + ": " + d.str();
      return success();
    });
    if (failed(mlir::verify(kernel))) {
      error = "kernel " + kernel.getSymName().str() +
              " does not verify: " + diagnostic;
      return failure();
    }
  }
  if (kernel.getBody().getBlocks().size() > 1) {
    error = "kernel " + kernel.getSymName().str() +
            " has more than one block (control flow is not supported)";
    return failure();
  }
  KernelInterpreter interpreter(kernel, error);
  return interpreter.run(args, results);
}
