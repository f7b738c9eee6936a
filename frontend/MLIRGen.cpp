// Emission of the attn dialect from checked kernels. Accesses with affine
// indices become einsum inputs with indexing maps; accesses with computed
// indices, and every read in a guard, become tables read by attn.read.
// Size symbols in maps and filters are map symbols; integer params and
// bound sizes fold into them as constants.
#include "frontend/MLIRGen.h"

#include "dialect/AttnOps.h"

#include "mlir/IR/AffineExpr.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IntegerSet.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/DenseMap.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

namespace {

Type elementType(DType t, MLIRContext *ctx) {
  switch (t) {
  case DType::f16:
    return Float16Type::get(ctx);
  case DType::bf16:
    return BFloat16Type::get(ctx);
  case DType::f32:
    return Float32Type::get(ctx);
  case DType::f64:
    return Float64Type::get(ctx);
  case DType::i32:
    return IntegerType::get(ctx, 32);
  case DType::i64:
    return IntegerType::get(ctx, 64);
  case DType::boolean:
    return IntegerType::get(ctx, 1);
  }
  return Float32Type::get(ctx);
}

RankedTensorType tensorType(llvm::ArrayRef<AffineExpr> dims, Type elem) {
  SmallVector<int64_t> shape;
  for (AffineExpr d : dims) {
    auto c = dyn_cast_or_null<AffineConstantExpr>(d);
    shape.push_back(c ? c.getValue() : ShapedType::kDynamic);
  }
  return RankedTensorType::get(shape, elem);
}

ReductionKind reductionKind(std::optional<ReduceKind> k) {
  if (!k)
    return ReductionKind::none;
  switch (*k) {
  case ReduceKind::Sum:
    return ReductionKind::sum;
  case ReduceKind::Max:
    return ReductionKind::max;
  case ReduceKind::Min:
    return ReductionKind::min;
  case ReduceKind::Prod:
    return ReductionKind::prod;
  }
  return ReductionKind::sum;
}

class KernelEmitter {
public:
  KernelEmitter(const KernelInfo &info, const FrontendOptions &options,
                DiagnosticEmitter &diags, OpBuilder &builder)
      : info(info), options(options), diags(diags), b(builder),
        ctx(builder.getContext()) {}

  LogicalResult emit();

private:
  const KernelInfo &info;
  const FrontendOptions &options;
  DiagnosticEmitter &diags;
  OpBuilder &b; // function level
  MLIRContext *ctx;
  func::FuncOp func;
  /// Values defined at function level, by what they compute.
  llvm::DenseMap<unsigned, Value> symbolValues;
  llvm::DenseMap<AffineExpr, Value> sizeValues;
  llvm::DenseMap<unsigned, Value> scalarIndexValues;
  /// The current value of every tensor (argument or einsum result).
  std::vector<Value> tensorValues;
  /// The einsum being filled in: function-level values that its regions
  /// need are created just before it.
  Operation *currentEinsum = nullptr;

  Location loc(SourcePos pos) { return diags.loc(pos); }

  /// Positions function-level emission before the current einsum.
  struct OuterInsertion {
    OpBuilder::InsertionGuard guard;
    OuterInsertion(OpBuilder &b, Operation *einsum) : guard(b) {
      if (einsum)
        b.setInsertionPoint(einsum);
    }
  };

  //===--------------------------------------------------------------------===//
  // Function-level values
  //===--------------------------------------------------------------------===//

  Value symbolValue(unsigned k) {
    if (Value v = symbolValues.lookup(k))
      return v;
    const SymbolSource &s = info.symbols[k];
    Location l = loc(info.ast->pos);
    Value arg = func.getArgument(s.argument);
    OuterInsertion at(b, currentEinsum);
    Value v;
    if (s.fromScalar) {
      v = arith::IndexCastOp::create(b, l, b.getIndexType(), arg);
    } else {
      Value dim = sizeValue(getAffineConstantExpr(s.dim, ctx));
      v = tensor::DimOp::create(b, l, arg, dim);
    }
    symbolValues[k] = v;
    return v;
  }

  /// A kernel-level size expression (over the kernel's symbols) as an
  /// index value.
  Value sizeValue(AffineExpr e) {
    if (Value v = sizeValues.lookup(e))
      return v;
    Value v;
    if (auto c = dyn_cast<AffineConstantExpr>(e)) {
      OuterInsertion at(b, currentEinsum);
      v = arith::ConstantIndexOp::create(b, loc(info.ast->pos), c.getValue());
    } else if (auto s = dyn_cast<AffineSymbolExpr>(e)) {
      v = symbolValue(s.getPosition());
    } else if (auto bin = dyn_cast<AffineBinaryOpExpr>(e)) {
      Value l = sizeValue(bin.getLHS());
      Value r = sizeValue(bin.getRHS());
      OuterInsertion at(b, currentEinsum);
      Location lc = loc(info.ast->pos);
      switch (e.getKind()) {
      case AffineExprKind::Add:
        v = arith::AddIOp::create(b, lc, l, r);
        break;
      case AffineExprKind::Mul:
        v = arith::MulIOp::create(b, lc, l, r);
        break;
      case AffineExprKind::FloorDiv:
        v = arith::FloorDivSIOp::create(b, lc, l, r);
        break;
      case AffineExprKind::CeilDiv:
        v = arith::CeilDivSIOp::create(b, lc, l, r);
        break;
      default: { // Mod: a - floordiv(a, b) * b
        Value q = arith::FloorDivSIOp::create(b, lc, l, r);
        Value m = arith::MulIOp::create(b, lc, q, r);
        v = arith::SubIOp::create(b, lc, l, m);
        break;
      }
      }
    } else {
      // Dimensions never occur in kernel-level sizes.
      OuterInsertion at(b, currentEinsum);
      v = arith::ConstantIndexOp::create(b, loc(info.ast->pos), 0);
    }
    sizeValues[e] = v;
    return v;
  }

  /// The index value of a size symbol named in an expression.
  Value namedSizeValue(const std::string &name) {
    if (auto it = options.binds.find(name); it != options.binds.end())
      return sizeValue(getAffineConstantExpr(it->second, ctx));
    return symbolValue(info.symbolByName.lookup(name));
  }

  /// An integer scalar input as an index value.
  Value scalarIndexValue(const ScalarInfo &s) {
    if (auto it = options.binds.find(s.name); it != options.binds.end())
      return sizeValue(getAffineConstantExpr(it->second, ctx));
    if (Value v = scalarIndexValues.lookup(s.position))
      return v;
    OuterInsertion at(b, currentEinsum);
    Value v = arith::IndexCastOp::create(b, loc(s.pos), b.getIndexType(),
                                         func.getArgument(s.position));
    scalarIndexValues[s.position] = v;
    return v;
  }

  LogicalResult emitStatement(const StatementInfo &si);
};

//===----------------------------------------------------------------------===//
// One statement
//===----------------------------------------------------------------------===//

/// Emits one einsum: its operands and maps, then its regions.
class StatementEmitter {
public:
  StatementEmitter(const KernelInfo &info, const StatementInfo &si,
                   const FrontendOptions &options, DiagnosticEmitter &diags,
                   MLIRContext *ctx)
      : info(info), si(si), options(options), diags(diags), ctx(ctx) {}

  const KernelInfo &info;
  const StatementInfo &si;
  const FrontendOptions &options;
  DiagnosticEmitter &diags;
  MLIRContext *ctx;

  struct Input {
    int tensor;
    SmallVector<AffineExpr> exprs;
  };
  std::vector<Input> inputs;
  llvm::DenseMap<const AccessExprAST *, unsigned> inputOf;
  std::vector<int> tables;
  /// Statement-level map symbols, by source name, and their values.
  llvm::StringMap<unsigned> symbolOf;
  std::vector<std::string> symbolNames;

  AffineExpr symbol(const std::string &name) {
    auto [it, inserted] = symbolOf.try_emplace(name, symbolNames.size());
    if (inserted)
      symbolNames.push_back(name);
    return getAffineSymbolExpr(it->second, ctx);
  }

  /// An affine expression (checked by Sema) over the statement's dims and
  /// symbols; null if it is not one.
  AffineExpr toAffine(const ExprAST &e) {
    switch (e.getKind()) {
    case ExprAST::Kind::Number: {
      const Literal &v = llvm::cast<NumberExprAST>(e).value;
      if (!v.isInteger)
        return nullptr;
      return getAffineConstantExpr(v.intValue, ctx);
    }
    case ExprAST::Kind::Name: {
      auto &n = llvm::cast<NameExprAST>(e);
      switch (n.resolved) {
      case NameKind::Index:
        return getAffineDimExpr(si.dimOf.lookup(n.name), ctx);
      case NameKind::Param: {
        const ParamInfo &p = info.params[info.paramByName.lookup(n.name)];
        if (!p.value.isInteger)
          return nullptr;
        return getAffineConstantExpr(p.value.intValue, ctx);
      }
      case NameKind::SizeSymbol:
      case NameKind::Scalar:
        if (auto it = options.binds.find(n.name); it != options.binds.end())
          return getAffineConstantExpr(it->second, ctx);
        return symbol(n.name);
      case NameKind::Unresolved:
        return nullptr;
      }
      return nullptr;
    }
    case ExprAST::Kind::Unary: {
      auto &u = llvm::cast<UnaryExprAST>(e);
      AffineExpr x = u.op == UnaryOp::Neg ? toAffine(*u.operand) : nullptr;
      return x ? -x : nullptr;
    }
    case ExprAST::Kind::Binary: {
      auto &bin = llvm::cast<BinaryExprAST>(e);
      AffineExpr l = toAffine(*bin.lhs);
      AffineExpr r = toAffine(*bin.rhs);
      if (!l || !r)
        return nullptr;
      switch (bin.op) {
      case BinaryOp::Add:
        return l + r;
      case BinaryOp::Sub:
        return l - r;
      case BinaryOp::Mul:
        if (!l.isSymbolicOrConstant() && !r.isSymbolicOrConstant())
          return nullptr;
        return l * r;
      case BinaryOp::Div:
      case BinaryOp::Mod: {
        if (!r.isSymbolicOrConstant())
          return nullptr;
        if (auto c = dyn_cast<AffineConstantExpr>(r); c && c.getValue() <= 0)
          return nullptr;
        return bin.op == BinaryOp::Div ? l.floorDiv(r) : l % r;
      }
      default:
        return nullptr;
      }
    }
    default:
      return nullptr;
    }
  }

  void addTable(int tensor) {
    if (!llvm::is_contained(tables, tensor))
      tables.push_back(tensor);
  }

  /// Finds the inputs and tables that `e` reads.
  LogicalResult collect(const ExprAST &e, bool inGuard) {
    switch (e.getKind()) {
    case ExprAST::Kind::Access: {
      auto &a = llvm::cast<AccessExprAST>(e);
      if (!inGuard && a.affine) {
        Input in{a.tensor, {}};
        for (const ExprPtr &ie : a.indices) {
          AffineExpr x = toAffine(*ie);
          if (!x)
            return internalError(ie->getPos(), "a non-affine index");
          in.exprs.push_back(x);
        }
        for (auto [i, prev] : llvm::enumerate(inputs))
          if (prev.tensor == in.tensor && prev.exprs == in.exprs) {
            inputOf[&a] = i;
            return success();
          }
        inputOf[&a] = inputs.size();
        inputs.push_back(std::move(in));
        return success();
      }
      addTable(a.tensor);
      for (const ExprPtr &ie : a.indices)
        if (failed(collect(*ie, inGuard)))
          return failure();
      return success();
    }
    case ExprAST::Kind::Call:
      for (const ExprPtr &arg : llvm::cast<CallExprAST>(e).args)
        if (failed(collect(*arg, inGuard)))
          return failure();
      return success();
    case ExprAST::Kind::Unary:
      return collect(*llvm::cast<UnaryExprAST>(e).operand, inGuard);
    case ExprAST::Kind::Binary: {
      auto &bin = llvm::cast<BinaryExprAST>(e);
      if (failed(collect(*bin.lhs, inGuard)))
        return failure();
      return collect(*bin.rhs, inGuard);
    }
    default:
      return success();
    }
  }

  LogicalResult internalError(SourcePos pos, const std::string &what) {
    diags.error(pos) << "internal error: the frontend cannot emit " << what
                     << " that its checks accepted";
    return failure();
  }

  /// The filter's integer sets (before the symbol count is final, as
  /// constraint lists).
  struct Conjunction {
    SmallVector<AffineExpr> constraints;
    SmallVector<bool> eq;
  };
  std::vector<Conjunction> conjunctions;

  LogicalResult buildFilter() {
    for (const std::vector<FilterAtom> &disjunct : si.filter) {
      Conjunction c;
      for (const FilterAtom &atom : disjunct) {
        AffineExpr l = toAffine(*atom.lhs);
        AffineExpr r =
            atom.rhs ? toAffine(*atom.rhs) : getAffineConstantExpr(0, ctx);
        if (!l || !r)
          return internalError(atom.lhs->getPos(), "a non-affine filter");
        AffineExpr one = getAffineConstantExpr(1, ctx);
        switch (atom.op) {
        case BinaryOp::Lt: // l < r: r - l - 1 >= 0
          c.constraints.push_back(r - l - one);
          c.eq.push_back(false);
          break;
        case BinaryOp::Le:
          c.constraints.push_back(r - l);
          c.eq.push_back(false);
          break;
        case BinaryOp::Gt:
          c.constraints.push_back(l - r - one);
          c.eq.push_back(false);
          break;
        case BinaryOp::Ge:
          c.constraints.push_back(l - r);
          c.eq.push_back(false);
          break;
        default: // Eq
          c.constraints.push_back(l - r);
          c.eq.push_back(true);
          break;
        }
      }
      conjunctions.push_back(std::move(c));
    }
    return success();
  }
};

/// Emits the scalar computation of a body or guard region.
class RegionEmitter {
public:
  RegionEmitter(StatementEmitter &se, OpBuilder &rb, Block *block, bool isGuard,
                Type computeType,
                std::function<Value(const std::string &)> namedSize,
                std::function<Value(const ScalarInfo &)> scalarIndex,
                std::function<Value(unsigned)> argument,
                const std::vector<Value> &tensorValues)
      : se(se), rb(rb), block(block), isGuard(isGuard),
        computeType(computeType), namedSize(std::move(namedSize)),
        scalarIndex(std::move(scalarIndex)), argument(std::move(argument)),
        tensorValues(tensorValues) {}

  StatementEmitter &se;
  OpBuilder &rb;
  Block *block;
  bool isGuard;
  Type computeType;
  std::function<Value(const std::string &)> namedSize;
  std::function<Value(const ScalarInfo &)> scalarIndex;
  std::function<Value(unsigned)> argument;
  const std::vector<Value> &tensorValues;

  Location loc(const ExprAST &e) { return se.diags.loc(e.getPos()); }

  Value dimValue(const std::string &name) {
    unsigned d = se.si.dimOf.lookup(name);
    unsigned offset = isGuard ? 0 : se.inputs.size();
    return block->getArgument(offset + d);
  }

  /// Constants of the region, created once (the block is straight-line,
  /// so the first one dominates every later use).
  llvm::DenseMap<Attribute, Value> constants;
  Value constant(TypedAttr attr, Location l) {
    Value &v = constants[attr];
    if (!v)
      v = arith::ConstantOp::create(rb, l, attr);
    return v;
  }
  Value floatConst(double v, Location l) {
    return constant(rb.getFloatAttr(computeType, v), l);
  }
  Value indexConst(int64_t v, Location l) {
    return constant(rb.getIndexAttr(v), l);
  }

  /// Converts a scalar of any supported type to the computation type.
  Value toCompute(Value v, Location l) {
    Type t = v.getType();
    if (t == computeType)
      return v;
    if (auto ft = dyn_cast<FloatType>(t)) {
      auto ct = cast<FloatType>(computeType);
      if (ft.getWidth() < ct.getWidth())
        return arith::ExtFOp::create(rb, l, computeType, v);
      return arith::TruncFOp::create(rb, l, computeType, v);
    }
    if (t.isIndex()) {
      Value i = arith::IndexCastOp::create(rb, l, rb.getI64Type(), v);
      return arith::SIToFPOp::create(rb, l, computeType, i);
    }
    if (t.isInteger(1))
      return arith::UIToFPOp::create(rb, l, computeType, v);
    return arith::SIToFPOp::create(rb, l, computeType, v);
  }

  /// Converts an integer element to an index.
  Value toIndex(Value v, Location l) {
    Type t = v.getType();
    if (t.isIndex())
      return v;
    if (t.isInteger(1))
      v = arith::ExtUIOp::create(rb, l, rb.getI64Type(), v);
    return arith::IndexCastOp::create(rb, l, rb.getIndexType(), v);
  }

  /// The element read by an access, in its own element type.
  Value read(const AccessExprAST &a) {
    if (!isGuard) {
      auto it = se.inputOf.find(&a);
      if (it != se.inputOf.end())
        return block->getArgument(it->second);
    }
    SmallVector<Value> indices;
    for (const ExprPtr &ie : a.indices)
      indices.push_back(emitIndex(*ie));
    Value table = tensorValues[a.tensor];
    Type elem = cast<RankedTensorType>(table.getType()).getElementType();
    return ReadOp::create(rb, loc(a), elem, table, indices);
  }

  /// An integer expression as an index value (floor division and modulo).
  Value emitIndex(const ExprAST &e) {
    Location l = loc(e);
    switch (e.getKind()) {
    case ExprAST::Kind::Number:
      return indexConst(llvm::cast<NumberExprAST>(e).value.intValue, l);
    case ExprAST::Kind::Name: {
      auto &n = llvm::cast<NameExprAST>(e);
      switch (n.resolved) {
      case NameKind::Index:
        return dimValue(n.name);
      case NameKind::SizeSymbol:
        return namedSize(n.name);
      case NameKind::Param:
        return indexConst(
            se.info.params[se.info.paramByName.lookup(n.name)].value.intValue,
            l);
      case NameKind::Scalar:
        return scalarIndex(
            se.info.scalars[se.info.scalarByName.lookup(n.name)]);
      case NameKind::Unresolved:
        break;
      }
      return indexConst(0, l);
    }
    case ExprAST::Kind::Access:
      return toIndex(read(llvm::cast<AccessExprAST>(e)), l);
    case ExprAST::Kind::Unary: {
      Value x = emitIndex(*llvm::cast<UnaryExprAST>(e).operand);
      return arith::SubIOp::create(rb, l, indexConst(0, l), x);
    }
    case ExprAST::Kind::Binary: {
      auto &bin = llvm::cast<BinaryExprAST>(e);
      Value x = emitIndex(*bin.lhs);
      Value y = emitIndex(*bin.rhs);
      switch (bin.op) {
      case BinaryOp::Add:
        return arith::AddIOp::create(rb, l, x, y);
      case BinaryOp::Sub:
        return arith::SubIOp::create(rb, l, x, y);
      case BinaryOp::Mul:
        return arith::MulIOp::create(rb, l, x, y);
      case BinaryOp::Div:
        return arith::FloorDivSIOp::create(rb, l, x, y);
      default: { // Mod: x - floordiv(x, y) * y
        Value q = arith::FloorDivSIOp::create(rb, l, x, y);
        Value m = arith::MulIOp::create(rb, l, q, y);
        return arith::SubIOp::create(rb, l, x, m);
      }
      }
    }
    default:
      return indexConst(0, l);
    }
  }

  static arith::CmpFPredicate floatPredicate(BinaryOp op) {
    switch (op) {
    case BinaryOp::Lt:
      return arith::CmpFPredicate::OLT;
    case BinaryOp::Le:
      return arith::CmpFPredicate::OLE;
    case BinaryOp::Gt:
      return arith::CmpFPredicate::OGT;
    case BinaryOp::Ge:
      return arith::CmpFPredicate::OGE;
    case BinaryOp::Eq:
      return arith::CmpFPredicate::OEQ;
    default:
      return arith::CmpFPredicate::UNE;
    }
  }
  static arith::CmpIPredicate intPredicate(BinaryOp op) {
    switch (op) {
    case BinaryOp::Lt:
      return arith::CmpIPredicate::slt;
    case BinaryOp::Le:
      return arith::CmpIPredicate::sle;
    case BinaryOp::Gt:
      return arith::CmpIPredicate::sgt;
    case BinaryOp::Ge:
      return arith::CmpIPredicate::sge;
    case BinaryOp::Eq:
      return arith::CmpIPredicate::eq;
    default:
      return arith::CmpIPredicate::ne;
    }
  }

  /// A comparison of two values as an i1, in floating point.
  Value compareValues(BinaryOp op, const ExprAST &lhs, const ExprAST *rhs,
                      Location l) {
    Value x = emitValue(lhs);
    Value y = rhs ? emitValue(*rhs) : floatConst(0.0, l);
    return arith::CmpFOp::create(rb, l, floatPredicate(op), x, y);
  }

  /// A condition of a where clause (guard) as an i1.
  Value emitCondition(const ExprAST &e) {
    Location l = loc(e);
    if (auto *u = llvm::dyn_cast<UnaryExprAST>(&e); u && u->op == UnaryOp::Not)
      return negate(emitCondition(*u->operand), l);
    const ExprAST *lhs = &e, *rhs = nullptr;
    BinaryOp op = BinaryOp::Ne;
    if (auto *bin = llvm::dyn_cast<BinaryExprAST>(&e)) {
      if (bin->op == BinaryOp::And || bin->op == BinaryOp::Or) {
        Value x = emitCondition(*bin->lhs);
        Value y = emitCondition(*bin->rhs);
        if (bin->op == BinaryOp::And)
          return arith::AndIOp::create(rb, l, x, y);
        return arith::OrIOp::create(rb, l, x, y);
      }
      if (isComparison(bin->op)) {
        lhs = bin->lhs.get();
        rhs = bin->rhs.get();
        op = bin->op;
      }
    }
    if (lhs->integral && (!rhs || rhs->integral)) {
      Value x = emitIndex(*lhs);
      Value y = rhs ? emitIndex(*rhs) : indexConst(0, l);
      return arith::CmpIOp::create(rb, l, intPredicate(op), x, y);
    }
    return compareValues(op, *lhs, rhs, l);
  }

  Value negate(Value c, Location l) {
    Value one = constant(rb.getBoolAttr(true), l);
    return arith::XOrIOp::create(rb, l, c, one);
  }

  /// A value expression in the computation type.
  Value emitValue(const ExprAST &e) {
    Location l = loc(e);
    switch (e.getKind()) {
    case ExprAST::Kind::Number:
      return floatConst(llvm::cast<NumberExprAST>(e).value.asDouble(), l);
    case ExprAST::Kind::Name: {
      auto &n = llvm::cast<NameExprAST>(e);
      switch (n.resolved) {
      case NameKind::Index:
        return toCompute(dimValue(n.name), l);
      case NameKind::SizeSymbol:
        return toCompute(namedSize(n.name), l);
      case NameKind::Param:
        return paramValue(se.info.params[se.info.paramByName.lookup(n.name)],
                          l);
      case NameKind::Scalar:
        return toCompute(
            argument(
                se.info.scalars[se.info.scalarByName.lookup(n.name)].position),
            l);
      case NameKind::Unresolved:
        break;
      }
      return floatConst(0.0, l);
    }
    case ExprAST::Kind::Access:
      return toCompute(read(llvm::cast<AccessExprAST>(e)), l);
    case ExprAST::Kind::Call:
      return emitCall(llvm::cast<CallExprAST>(e));
    case ExprAST::Kind::Unary: {
      auto &u = llvm::cast<UnaryExprAST>(e);
      if (auto *n = llvm::dyn_cast<NumberExprAST>(u.operand.get()))
        return floatConst(-n->value.asDouble(), l);
      return arith::NegFOp::create(rb, l, emitValue(*u.operand));
    }
    case ExprAST::Kind::Binary: {
      auto &bin = llvm::cast<BinaryExprAST>(e);
      if (isComparison(bin.op)) {
        Value c = compareValues(bin.op, *bin.lhs, bin.rhs.get(), l);
        return arith::UIToFPOp::create(rb, l, computeType, c);
      }
      Value x = emitValue(*bin.lhs);
      Value y = emitValue(*bin.rhs);
      switch (bin.op) {
      case BinaryOp::Add:
        return arith::AddFOp::create(rb, l, x, y);
      case BinaryOp::Sub:
        return arith::SubFOp::create(rb, l, x, y);
      case BinaryOp::Mul:
        return arith::MulFOp::create(rb, l, x, y);
      case BinaryOp::Div:
        return arith::DivFOp::create(rb, l, x, y);
      case BinaryOp::Pow:
        return math::PowFOp::create(rb, l, x, y);
      default: // rejected by Sema (%, and, or)
        return x;
      }
    }
    }
    return floatConst(0.0, l);
  }

  Value paramValue(const ParamInfo &p, Location l) {
    double v = p.value.asDouble();
    if (p.dtype == DType::f16 || p.dtype == DType::bf16) {
      // The param holds a value of its declared type.
      llvm::APFloat f(v);
      bool lost = false;
      f.convert(cast<FloatType>(elementType(p.dtype, rb.getContext()))
                    .getFloatSemantics(),
                llvm::APFloat::rmNearestTiesToEven, &lost);
      f.convert(llvm::APFloat::IEEEdouble(), llvm::APFloat::rmNearestTiesToEven,
                &lost);
      v = f.convertToDouble();
    } else if (p.dtype == DType::f32) {
      v = static_cast<double>(static_cast<float>(v));
    }
    return floatConst(v, l);
  }

  Value emitCall(const CallExprAST &c) {
    Location l = loc(c);
    const std::string &f = c.callee;
    if (f == "select") {
      const ExprAST &cond = *c.args[0];
      Value i1;
      if (auto *bin = llvm::dyn_cast<BinaryExprAST>(&cond);
          bin && isComparison(bin->op))
        i1 = compareValues(bin->op, *bin->lhs, bin->rhs.get(), l);
      else
        i1 = compareValues(BinaryOp::Ne, cond, nullptr, l);
      Value x = emitValue(*c.args[1]);
      Value y = emitValue(*c.args[2]);
      return arith::SelectOp::create(rb, l, i1, x, y);
    }
    if (f == "min" || f == "max") {
      Value x = emitValue(*c.args[0]);
      Value y = emitValue(*c.args[1]);
      if (f == "min")
        return arith::MinimumFOp::create(rb, l, x, y);
      return arith::MaximumFOp::create(rb, l, x, y);
    }
    Value x = emitValue(*c.args[0]);
    if (f == "exp")
      return math::ExpOp::create(rb, l, x);
    if (f == "log")
      return math::LogOp::create(rb, l, x);
    if (f == "tanh")
      return math::TanhOp::create(rb, l, x);
    if (f == "sqrt")
      return math::SqrtOp::create(rb, l, x);
    if (f == "rsqrt")
      return math::RsqrtOp::create(rb, l, x);
    if (f == "abs")
      return math::AbsFOp::create(rb, l, x);
    if (f == "relu")
      return arith::MaximumFOp::create(rb, l, x, floatConst(0.0, l));
    if (f == "softplus")
      return math::Log1pOp::create(rb, l, math::ExpOp::create(rb, l, x));
    // sigmoid(x) = 1 / (1 + exp(-x))
    Value one = floatConst(1.0, l);
    Value e = math::ExpOp::create(rb, l, arith::NegFOp::create(rb, l, x));
    return arith::DivFOp::create(rb, l, one,
                                 arith::AddFOp::create(rb, l, one, e));
  }
};

LogicalResult KernelEmitter::emitStatement(const StatementInfo &si) {
  StatementEmitter se(info, si, options, diags, ctx);
  const StatementAST &ast = *si.ast;
  Location l = loc(ast.pos);
  if (failed(se.collect(*ast.rhs, /*inGuard=*/false)))
    return failure();
  for (const Conjunct &c : si.guard)
    if (failed(se.collect(*c.expr, /*inGuard=*/true)))
      return failure();
  if (failed(se.buildFilter()))
    return failure();

  unsigned numDims = si.dims.size();
  unsigned numLhs = ast.lhs.size();
  unsigned numSyms = se.symbolNames.size();

  SmallVector<Value> inputs, tables, sizes, symbols;
  SmallVector<AffineMap> maps;
  for (const StatementEmitter::Input &in : se.inputs) {
    inputs.push_back(tensorValues[in.tensor]);
    SmallVector<AffineExpr> exprs;
    for (AffineExpr e : in.exprs)
      exprs.push_back(simplifyAffineExpr(e, numDims, numSyms));
    maps.push_back(AffineMap::get(numDims, numSyms, exprs, ctx));
  }
  SmallVector<AffineExpr> resultExprs;
  for (unsigned i = 0; i < numLhs; ++i)
    resultExprs.push_back(getAffineDimExpr(i, ctx));
  maps.push_back(AffineMap::get(numDims, numSyms, resultExprs, ctx));
  for (int t : se.tables)
    tables.push_back(tensorValues[t]);
  for (const IterationDim &d : si.dims)
    sizes.push_back(sizeValue(d.range));
  for (const std::string &name : se.symbolNames) {
    if (auto it = info.scalarByName.find(name);
        it != info.scalarByName.end() && !info.symbolByName.count(name))
      symbols.push_back(scalarIndexValue(info.scalars[it->second]));
    else
      symbols.push_back(namedSizeValue(name));
  }
  SmallVector<IntegerSet> filter;
  for (const StatementEmitter::Conjunction &c : se.conjunctions) {
    SmallVector<AffineExpr> constraints;
    for (AffineExpr e : c.constraints)
      constraints.push_back(simplifyAffineExpr(e, numDims, numSyms));
    filter.push_back(IntegerSet::get(numDims, numSyms, constraints, c.eq));
  }

  Type computeType = elementType(si.computeType, ctx);
  SmallVector<AffineExpr> resultDims;
  for (unsigned i = 0; i < numLhs; ++i)
    resultDims.push_back(si.dims[i].range);
  RankedTensorType resultType = tensorType(resultDims, computeType);
  // Named by the statement's result ("S"): code generators name what they
  // build after it (locationText and diagnostics show the file position).
  Location named =
      NameLoc::get(b.getStringAttr(info.tensors[si.tensor].name), l);
  auto einsum = EinsumOp::create(b, named, resultType, inputs, tables, sizes,
                                 symbols, maps, reductionKind(si.kind), filter);
  // The source index names, for remarks ("rank m: 1 pass") and people.
  SmallVector<Attribute> indexNames;
  for (const IterationDim &d : si.dims)
    indexNames.push_back(b.getStringAttr(d.name));
  einsum->setAttr(kIndicesAttr, b.getArrayAttr(indexNames));
  currentEinsum = einsum;
  Block *body = einsum.createBodyBlock(!si.guard.empty());

  auto namedSize = [this](const std::string &name) {
    return namedSizeValue(name);
  };
  auto scalarIndex = [this](const ScalarInfo &s) {
    return scalarIndexValue(s);
  };
  auto argument = [this](unsigned i) -> Value { return func.getArgument(i); };
  {
    OpBuilder rb = OpBuilder::atBlockEnd(body);
    RegionEmitter re(se, rb, body, /*isGuard=*/false, computeType, namedSize,
                     scalarIndex, argument, tensorValues);
    Value v = re.emitValue(*ast.rhs);
    YieldOp::create(rb, l, ValueRange{v});
  }
  if (!si.guard.empty()) {
    Block *guard = &einsum.getGuard().front();
    OpBuilder rb = OpBuilder::atBlockEnd(guard);
    RegionEmitter re(se, rb, guard, /*isGuard=*/true, computeType, namedSize,
                     scalarIndex, argument, tensorValues);
    Value all;
    for (const Conjunct &c : si.guard) {
      Location cl = diags.loc(c.expr->getPos());
      Value v = re.emitCondition(*c.expr);
      if (c.negated)
        v = re.negate(v, cl);
      all = all ? arith::AndIOp::create(rb, cl, all, v).getResult() : v;
    }
    YieldOp::create(rb, l, ValueRange{all});
  }
  currentEinsum = nullptr;
  Value result = einsum.getResult();
  // `cumsum(t) EXPR`: the einsum maps EXPR, attn.scan runs along t.
  if (si.scanKind)
    result = ScanOp::create(
        b, named, resultType, result, b.getI64IntegerAttr(si.scanDim),
        ReductionKindAttr::get(ctx, reductionKind(si.scanKind)));
  // `else V`: the points that received nothing hold V.
  if (si.otherwise)
    result = FillOp::create(b, named, resultType, result,
                            b.getF64FloatAttr(*si.otherwise));
  tensorValues[si.tensor] = result;
  return success();
}

LogicalResult KernelEmitter::emit() {
  const KernelAST &k = *info.ast;
  Location l = loc(k.pos);
  SmallVector<Type> argTypes, resultTypes;
  for (auto [i, decl] : llvm::enumerate(k.inputs)) {
    Type elem = elementType(decl.dtype, ctx);
    if (decl.isScalar)
      argTypes.push_back(elem);
    else
      argTypes.push_back(
          tensorType(info.tensors[info.inputTensors[i]].dims, elem));
  }
  for (auto [i, decl] : llvm::enumerate(k.outputs))
    resultTypes.push_back(tensorType(info.tensors[info.outputTensors[i]].dims,
                                     elementType(decl.dtype, ctx)));
  func = func::FuncOp::create(b, l, k.name,
                              b.getFunctionType(argTypes, resultTypes));
  func->setAttr(kKernelAttr, UnitAttr::get(ctx));
  auto dimsAttr = [&](const TensorInfo &t) {
    SmallVector<Attribute> texts;
    for (const std::string &s : t.dimTexts)
      texts.push_back(StringAttr::get(ctx, s));
    return ArrayAttr::get(ctx, texts);
  };
  for (auto [i, decl] : llvm::enumerate(k.inputs)) {
    func.setArgAttr(i, kNameAttr, StringAttr::get(ctx, decl.name));
    if (!decl.isScalar)
      func.setArgAttr(i, kDimsAttr,
                      dimsAttr(info.tensors[info.inputTensors[i]]));
  }
  for (auto [i, decl] : llvm::enumerate(k.outputs)) {
    func.setResultAttr(i, kNameAttr, StringAttr::get(ctx, decl.name));
    func.setResultAttr(i, kDimsAttr,
                       dimsAttr(info.tensors[info.outputTensors[i]]));
  }

  OpBuilder::InsertionGuard guard(b);
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  tensorValues.assign(info.tensors.size(), Value());
  for (auto [i, t] : llvm::enumerate(info.inputTensors))
    if (t >= 0)
      tensorValues[t] = func.getArgument(i);

  SmallVector<Value> results(k.outputs.size());
  for (const StatementInfo &si : info.statements) {
    if (failed(emitStatement(si)))
      return failure();
    const TensorInfo &t = info.tensors[si.tensor];
    if (t.role != TensorInfo::Role::Output)
      continue;
    const TensorDeclAST &decl = k.outputs[t.position];
    double fill = decl.fill ? decl.fill->asDouble() : 0.0;
    Location sl = loc(si.ast->pos);
    Type outType = tensorType(t.dims, elementType(decl.dtype, ctx));
    results[t.position] = FillOp::create(
        b, sl, outType, tensorValues[si.tensor], b.getF64FloatAttr(fill));
  }
  func::ReturnOp::create(b, loc(k.closePos), results);
  return success();
}

} // namespace

OwningOpRef<ModuleOp>
mlir::attn::emitKernels(const std::vector<KernelInfo> &kernels,
                        const FrontendOptions &options,
                        DiagnosticEmitter &diags) {
  MLIRContext *ctx = diags.getContext();
  OwningOpRef<ModuleOp> module = ModuleOp::create(diags.loc(SourcePos{1, 1}));
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(module->getBody());
  for (const KernelInfo &k : kernels)
    if (failed(KernelEmitter(k, options, diags, b).emit()))
      return nullptr;
  if (failed(verify(*module))) {
    diags.error(SourcePos{1, 1})
        << "internal error: the frontend emitted IR that does not verify "
           "(see the errors above)";
    return nullptr;
  }
  return module;
}
