// Compilation of scalar ops (an einsum's guard or body, a kernel's scalar
// ops) into the reference interpreter's bytecode (Bytecode.h).
#include "codegen/ref/Bytecode.h"
#include "codegen/ref/InterpreterMessages.h"
#include "codegen/ref/ScalarSemantics.h"

#include "dialect/RuntimeDType.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::attn::ref {
namespace {

/// The opcode of an op that is one instruction on its operands in order and
/// needs nothing but the integer widths of its types.
std::optional<Opc> plainOpcode(Operation *op) {
  auto is = [](Opc opc) { return [opc](auto) { return std::optional(opc); }; };
  return llvm::TypeSwitch<Operation *, std::optional<Opc>>(op)
      .Case<arith::AddFOp>(is(Opc::AddF))
      .Case<arith::SubFOp>(is(Opc::SubF))
      .Case<arith::MulFOp>(is(Opc::MulF))
      .Case<arith::DivFOp>(is(Opc::DivF))
      .Case<arith::RemFOp>(is(Opc::RemF))
      .Case<arith::MaximumFOp>(is(Opc::MaximumF))
      .Case<arith::MinimumFOp>(is(Opc::MinimumF))
      .Case<arith::MaxNumFOp>(is(Opc::MaxNumF))
      .Case<arith::MinNumFOp>(is(Opc::MinNumF))
      .Case<arith::NegFOp>(is(Opc::NegF))
      .Case<math::PowFOp>(is(Opc::PowF))
      .Case<math::CopySignOp>(is(Opc::CopySign))
      .Case<math::ExpOp>(is(Opc::Exp))
      .Case<math::Exp2Op>(is(Opc::Exp2))
      .Case<math::ExpM1Op>(is(Opc::Expm1))
      .Case<math::LogOp>(is(Opc::Log))
      .Case<math::Log1pOp>(is(Opc::Log1p))
      .Case<math::Log2Op>(is(Opc::Log2))
      .Case<math::Log10Op>(is(Opc::Log10))
      .Case<math::TanhOp>(is(Opc::Tanh))
      .Case<math::SqrtOp>(is(Opc::Sqrt))
      .Case<math::RsqrtOp>(is(Opc::Rsqrt))
      .Case<math::AbsFOp>(is(Opc::AbsF))
      .Case<math::SinOp>(is(Opc::Sin))
      .Case<math::CosOp>(is(Opc::Cos))
      .Case<math::ErfOp>(is(Opc::Erf))
      .Case<math::FloorOp>(is(Opc::Floor))
      .Case<math::CeilOp>(is(Opc::Ceil))
      .Case<math::RoundOp>(is(Opc::Round))
      .Case<math::RoundEvenOp>(is(Opc::RoundEven))
      .Case<math::TruncOp>(is(Opc::TruncF))
      .Case<math::FmaOp>(is(Opc::Fma))
      .Case<arith::AddIOp>(is(Opc::AddI))
      .Case<arith::SubIOp>(is(Opc::SubI))
      .Case<arith::MulIOp>(is(Opc::MulI))
      .Case<arith::DivSIOp>(is(Opc::DivSI))
      .Case<arith::DivUIOp>(is(Opc::DivUI))
      .Case<arith::RemSIOp>(is(Opc::RemSI))
      .Case<arith::RemUIOp>(is(Opc::RemUI))
      .Case<arith::FloorDivSIOp>(is(Opc::FloorDivSI))
      .Case<arith::CeilDivSIOp>(is(Opc::CeilDivSI))
      .Case<arith::CeilDivUIOp>(is(Opc::CeilDivUI))
      .Case<arith::MaxSIOp>(is(Opc::MaxSI))
      .Case<arith::MinSIOp>(is(Opc::MinSI))
      .Case<arith::MaxUIOp>(is(Opc::MaxUI))
      .Case<arith::MinUIOp>(is(Opc::MinUI))
      .Case<arith::AndIOp>(is(Opc::AndI))
      .Case<arith::OrIOp>(is(Opc::OrI))
      .Case<arith::XOrIOp>(is(Opc::XOrI))
      .Case<arith::ShLIOp>(is(Opc::ShLI))
      .Case<arith::ShRSIOp>(is(Opc::ShRSI))
      .Case<arith::ShRUIOp>(is(Opc::ShRUI))
      .Case<math::AbsIOp>(is(Opc::AbsI))
      .Case<arith::SelectOp>(is(Opc::Select))
      .Case<arith::ExtSIOp, arith::TruncIOp, arith::IndexCastOp>(
          is(Opc::SignExt))
      .Case<arith::ExtUIOp, arith::IndexCastUIOp>(is(Opc::ZeroExt))
      .Case<arith::SIToFPOp>(is(Opc::SIToFP))
      .Case<arith::UIToFPOp>(is(Opc::UIToFP))
      .Case<arith::FPToSIOp>(is(Opc::FPToSI))
      .Case<arith::FPToUIOp>(is(Opc::FPToUI))
      .Case<arith::ExtFOp>(is(Opc::Copy))
      .Default(std::nullopt);
}

} // namespace

int32_t ProgramCompiler::addSlot(Value v, Slot init) {
  int32_t slot = static_cast<int32_t>(program.slots.size());
  program.slots.push_back(init);
  if (v)
    slots[v] = slot;
  return slot;
}

std::optional<int32_t> ProgramCompiler::lookup(Value v) const {
  auto it = slots.find(v);
  if (it == slots.end())
    return std::nullopt;
  return it->second;
}

LogicalResult ProgramCompiler::compileBlock(Block &block, std::string &error) {
  for (BlockArgument arg : block.getArguments()) {
    if (!isScalarType(arg.getType())) {
      error = "unsupported block argument type " + typeText(arg.getType()) +
              " in " + context;
      return failure();
    }
    program.argSlots.push_back(addSlot(arg, Slot{0.0}));
  }
  for (Operation &op : block) {
    if (auto yield = dyn_cast<YieldOp>(op)) {
      if (yield.getValues().size() != 1) {
        error =
            "attn.yield must yield one value, at " + locationText(op.getLoc());
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

LogicalResult ProgramCompiler::compileOp(Operation *op, std::string &error) {
  if (op->getNumRegions() != 0 || op->getNumResults() != 1 ||
      !isScalarType(op->getResult(0).getType()))
    return unsupported(op, error);
  if (!isa<ReadOp>(op) && !llvm::all_of(op->getOperandTypes(), isScalarType))
    return unsupported(op, error);
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](arith::ConstantOp c) { return compileConstant(c, error); })
      .Case([&](ReadOp read) { return compileRead(read, error); })
      .Default([&](Operation *other) { return compileInstr(other, error); });
}

LogicalResult ProgramCompiler::compileConstant(arith::ConstantOp op,
                                               std::string &error) {
  Slot value{0.0};
  if (auto f = dyn_cast<FloatAttr>(op.getValue()))
    value.f = f.getValueAsDouble();
  else if (auto i = dyn_cast<IntegerAttr>(op.getValue()))
    value.i = signExtend(i.getValue().getSExtValue(), intWidth(op.getType()));
  else
    return unsupported(op, error);
  addSlot(op.getResult(), value);
  return success();
}

LogicalResult ProgramCompiler::compileRead(ReadOp op, std::string &error) {
  int table = tableIndex ? tableIndex(op.getTensor()) : -1;
  if (table < 0) {
    error = "attn.read at " + locationText(op.getLoc()) +
            " reads a tensor that is not a table of the enclosing einsum";
    return failure();
  }
  SmallVector<int32_t, 4> indices;
  for (Value v : op.getIndices()) {
    int32_t slot;
    if (failed(operand(v, slot, error)))
      return failure();
    indices.push_back(slot);
  }
  Instr in;
  in.op = Opc::Read;
  in.origin = op;
  in.width = static_cast<uint8_t>(intWidth(op->getResult(0).getType()));
  in.a = static_cast<int32_t>(program.pool.size());
  in.b = static_cast<int32_t>(indices.size());
  in.c = table;
  program.pool.insert(program.pool.end(), indices.begin(), indices.end());
  in.dst = addSlot(op->getResult(0), Slot{0.0});
  program.code.push_back(in);
  return success();
}

/// An op that is one instruction on its (at most three) operands.
LogicalResult ProgramCompiler::compileInstr(Operation *op, std::string &error) {
  Instr in;
  in.origin = op;
  Value result = op->getResult(0);
  in.width = static_cast<uint8_t>(intWidth(result.getType()));
  SmallVector<int32_t, 3> args;
  for (Value v : op->getOperands()) {
    int32_t slot;
    if (failed(operand(v, slot, error)))
      return failure();
    args.push_back(slot);
  }
  if (!args.empty())
    in.srcWidth = static_cast<uint8_t>(
        intWidth(op->getOperand(isa<arith::SelectOp>(op) ? 1 : 0).getType()));

  bool known = llvm::TypeSwitch<Operation *, bool>(op)
                   .Case([&](arith::CmpFOp cmp) {
                     in.op = Opc::CmpF;
                     in.pred = static_cast<uint8_t>(cmp.getPredicate());
                     return true;
                   })
                   .Case([&](arith::CmpIOp cmp) {
                     in.op = Opc::CmpI;
                     in.pred = static_cast<uint8_t>(cmp.getPredicate());
                     return true;
                   })
                   .Case([&](arith::TruncFOp truncf) {
                     std::optional<::attn::rt::DType> dt =
                         toRuntimeDType(truncf.getType());
                     in.op = Opc::RoundTo;
                     in.pred = dt ? static_cast<uint8_t>(*dt) : 0;
                     return dt.has_value();
                   })
                   .Default([&](Operation *other) {
                     std::optional<Opc> opc = plainOpcode(other);
                     if (opc)
                       in.op = *opc;
                     return opc.has_value();
                   });
  if (!known || args.size() > 3)
    return unsupported(op, error);
  in.a = args.size() > 0 ? args[0] : -1;
  in.b = args.size() > 1 ? args[1] : -1;
  in.c = args.size() > 2 ? args[2] : -1;
  in.dst = addSlot(result, Slot{0.0});
  program.code.push_back(in);
  return success();
}

LogicalResult ProgramCompiler::operand(Value v, int32_t &slot,
                                       std::string &error) {
  if (std::optional<int32_t> s = lookup(v)) {
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

LogicalResult ProgramCompiler::unsupported(Operation *op, std::string &error) {
  error = "unsupported op " + opText(op) + " in " + context +
          " (the reference interpreter supports the ops listed in "
          "docs/dialect.md)";
  return failure();
}

} // namespace mlir::attn::ref
