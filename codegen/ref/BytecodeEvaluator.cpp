// The evaluator of the reference interpreter's bytecode (Bytecode.h): one
// instruction at a time over the slots, in double and wrapping int64.
#include "codegen/ref/Bytecode.h"
#include "codegen/ref/InterpreterMessages.h"
#include "codegen/ref/ScalarSemantics.h"

#include "runtime/DType.h"

namespace mlir::attn::ref {
namespace {

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

/// An instruction of the float group [AddF, Fma].
inline double evalFloat(const Instr &in, const Slot *s) {
  double a = s[in.a].f;
  switch (in.op) {
  case Opc::AddF:
    return a + s[in.b].f;
  case Opc::SubF:
    return a - s[in.b].f;
  case Opc::MulF:
    return a * s[in.b].f;
  case Opc::DivF:
    return a / s[in.b].f;
  case Opc::RemF:
    return std::fmod(a, s[in.b].f);
  case Opc::MaximumF:
    return maximumF(a, s[in.b].f);
  case Opc::MinimumF:
    return minimumF(a, s[in.b].f);
  case Opc::MaxNumF:
    return std::fmax(a, s[in.b].f);
  case Opc::MinNumF:
    return std::fmin(a, s[in.b].f);
  case Opc::PowF:
    return std::pow(a, s[in.b].f);
  case Opc::CopySign:
    return std::copysign(a, s[in.b].f);
  case Opc::NegF:
    return -a;
  case Opc::Exp:
    return std::exp(a);
  case Opc::Exp2:
    return std::exp2(a);
  case Opc::Expm1:
    return std::expm1(a);
  case Opc::Log:
    return std::log(a);
  case Opc::Log1p:
    return std::log1p(a);
  case Opc::Log2:
    return std::log2(a);
  case Opc::Log10:
    return std::log10(a);
  case Opc::Tanh:
    return std::tanh(a);
  case Opc::Sqrt:
    return std::sqrt(a);
  case Opc::Rsqrt:
    return 1.0 / std::sqrt(a);
  case Opc::AbsF:
    return std::fabs(a);
  case Opc::Sin:
    return std::sin(a);
  case Opc::Cos:
    return std::cos(a);
  case Opc::Erf:
    return std::erf(a);
  case Opc::Floor:
    return std::floor(a);
  case Opc::Ceil:
    return std::ceil(a);
  case Opc::Round:
    return std::round(a);
  case Opc::RoundEven: {
    double fl = std::floor(a), rest = a - fl;
    return (rest > 0.5 || (rest == 0.5 && std::fmod(fl, 2.0) != 0)) ? fl + 1
                                                                    : fl;
  }
  case Opc::TruncF:
    return std::trunc(a);
  case Opc::Fma:
    return std::fma(a, s[in.b].f, s[in.c].f);
  default:
    return 0; // not a float instruction: runProgram does not call this
  }
}

/// A signed or unsigned division, remainder or ceiling division; false on a
/// division by zero.
inline bool evalDivision(const Instr &in, int64_t a, int64_t b, int64_t &out) {
  if (in.op == Opc::DivUI || in.op == Opc::RemUI || in.op == Opc::CeilDivUI) {
    uint64_t ua = zeroExtend(a, in.width), ub = zeroExtend(b, in.width);
    if (ub == 0)
      return false;
    uint64_t r = in.op == Opc::DivUI   ? ua / ub
                 : in.op == Opc::RemUI ? ua % ub
                                       : ua / ub + (ua % ub != 0);
    out = signExtend(static_cast<int64_t>(r), in.width);
    return true;
  }
  if (b == 0)
    return false;
  int64_t r = in.op == Opc::DivSI        ? divTrunc(a, b)
              : in.op == Opc::RemSI      ? remTrunc(a, b)
              : in.op == Opc::FloorDivSI ? floorDiv(a, b)
                                         : ceilDiv(a, b);
  out = signExtend(r, in.width);
  return true;
}

/// A shift by `b`; shifting out every bit gives 0 (or -1 for a negative
/// value shifted right arithmetically).
inline int64_t evalShift(const Instr &in, int64_t a, int64_t b) {
  uint64_t amount = zeroExtend(b, in.width);
  if (amount >= in.width)
    return in.op == Opc::ShRSI ? (a < 0 ? -1 : 0) : 0;
  int64_t r = in.op == Opc::ShLI
                  ? static_cast<int64_t>(static_cast<uint64_t>(a) << amount)
              : in.op == Opc::ShRSI
                  ? a >> amount
                  : static_cast<int64_t>(zeroExtend(a, in.width) >> amount);
  return signExtend(r, in.width);
}

/// An instruction of the integer group [AddI, AbsI]; false on a division by
/// zero.
inline bool evalInteger(const Instr &in, const Slot *s, int64_t &out) {
  int64_t a = s[in.a].i;
  switch (in.op) {
  case Opc::AddI:
    out = signExtend(wrapAdd(a, s[in.b].i), in.width);
    return true;
  case Opc::SubI:
    out = signExtend(wrapSub(a, s[in.b].i), in.width);
    return true;
  case Opc::MulI:
    out = signExtend(wrapMul(a, s[in.b].i), in.width);
    return true;
  case Opc::DivSI:
  case Opc::RemSI:
  case Opc::FloorDivSI:
  case Opc::CeilDivSI:
  case Opc::DivUI:
  case Opc::RemUI:
  case Opc::CeilDivUI:
    return evalDivision(in, a, s[in.b].i, out);
  case Opc::MaxSI:
    out = std::max(a, s[in.b].i);
    return true;
  case Opc::MinSI:
    out = std::min(a, s[in.b].i);
    return true;
  case Opc::MaxUI:
  case Opc::MinUI: {
    uint64_t ua = zeroExtend(a, in.width), ub = zeroExtend(s[in.b].i, in.width);
    out = (in.op == Opc::MaxUI) == (ua > ub) ? a : s[in.b].i;
    return true;
  }
  case Opc::AndI:
    out = a & s[in.b].i;
    return true;
  case Opc::OrI:
    out = a | s[in.b].i;
    return true;
  case Opc::XOrI:
    out = a ^ s[in.b].i;
    return true;
  case Opc::ShLI:
  case Opc::ShRSI:
  case Opc::ShRUI:
    out = evalShift(in, a, s[in.b].i);
    return true;
  case Opc::AbsI:
    out = signExtend(a < 0 ? wrapSub(0, a) : a, in.width);
    return true;
  default:
    return true; // not an integer instruction: runProgram does not call this
  }
}

/// An attn.read: the element at the index slots of `in`, into `d`.
RunStatus evalRead(const Program &p, const Instr &in, const Slot *s, Slot &d,
                   const TableView *tables, std::string &error) {
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
  return RunStatus::ok;
}

} // namespace

RunStatus runProgram(const Program &p, Slot *s, size_t begin, size_t end,
                     const TableView *tables, std::string &error) {
  const Instr *code = p.code.data();
  for (size_t pc = begin; pc < end; ++pc) {
    const Instr &in = code[pc];
    Slot &d = s[in.dst];
    if (in.op <= Opc::Fma) { // the float group starts the enum
      d.f = evalFloat(in, s);
      continue;
    }
    if (in.op >= Opc::AddI && in.op <= Opc::AbsI) {
      int64_t r;
      if (!evalInteger(in, s, r)) {
        error = "integer division by zero in " + opText(in.origin);
        return RunStatus::error;
      }
      d.i = r;
      continue;
    }
    switch (in.op) {
    case Opc::CmpF:
      d.i = compareF(in.pred, s[in.a].f, s[in.b].f) ? -1 : 0;
      break;
    case Opc::CmpI:
      d.i = compareI(in.pred, s[in.a].i, s[in.b].i, in.srcWidth) ? -1 : 0;
      break;
    case Opc::Select:
      d = s[in.a].i != 0 ? s[in.b] : s[in.c];
      break;
    case Opc::SignExt:
      d.i = signExtend(s[in.a].i, in.width);
      break;
    case Opc::ZeroExt:
      d.i = signExtend(static_cast<int64_t>(zeroExtend(s[in.a].i, in.srcWidth)),
                       in.width);
      break;
    case Opc::SIToFP:
      d.f = static_cast<double>(s[in.a].i);
      break;
    case Opc::UIToFP:
      d.f = static_cast<double>(zeroExtend(s[in.a].i, in.srcWidth));
      break;
    case Opc::FPToSI:
      d.i = intFromDouble(s[in.a].f, in.width);
      break;
    case Opc::FPToUI:
      d.i = uintFromDouble(s[in.a].f, in.width);
      break;
    case Opc::RoundTo:
      d.f = ::attn::rt::roundToDType(s[in.a].f,
                                     static_cast<::attn::rt::DType>(in.pred));
      break;
    case Opc::Copy:
      d = s[in.a];
      break;
    case Opc::Read:
      if (RunStatus status = evalRead(p, in, s, d, tables, error);
          status != RunStatus::ok)
        return status;
      break;
    default:
      break; // the float and integer groups are handled above
    }
  }
  return RunStatus::ok;
}

} // namespace mlir::attn::ref
