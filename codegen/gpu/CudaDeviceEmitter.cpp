// Device code: one gpu.func per launch, over scf, arith, math and LLVM
// pointer ops (lowered by NvvmPipeline.cpp). Every launch is one thread per
// result point, in a grid-stride loop over the flattened (row-major) points;
// each point follows the reference interpreter (codegen/ref) step by step:
//
//   attn.einsum: a loop nest over the reduced dimensions; at each point the
//     filter, the guard (cloned), the inputs read through their maps
//     (bounds-checked: out of range is a run-time error where every in-range
//     input is present), their presence, the body (cloned; attn.read is a
//     bounds-checked load that makes the point absent when the element is),
//     combined into a register accumulator by the reduction kind; then the
//     value and its presence are stored.
//   attn.online: one launch for the maxima, one per sum, each sum kept
//     relative to its own running maximum and brought to the final one at the
//     end (the interpreter's runOnline, per result point).
//   attn.fill and the outputs: the value, or the fill value where absent,
//     converted to the output's element type.
//
// Accumulators live in allocas of the entry block (promoted to registers by
// LLVM); values the regions capture from the function body are size
// parameters ("i64:EXPR"), scalar inputs (by name) or recomputed from them.
#include "codegen/gpu/CudaEmitter.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;
using namespace mlir::attn::cuda::emit;

namespace mlir::attn::cuda::emit {

/// Affine expressions as index arithmetic: floordiv, ceildiv and mod round
/// toward negative infinity; a zero divisor is replaced by 1 (the
/// interpreter reports it; here it must not be undefined behaviour).
Value emitAffine(DeviceFunction &f, AffineExpr e, ArrayRef<Value> dims,
                 ArrayRef<Value> syms) {
  OpBuilder &b = f.b;
  Location loc = f.loc;
  switch (e.getKind()) {
  case AffineExprKind::Constant:
    return f.cst(cast<AffineConstantExpr>(e).getValue());
  case AffineExprKind::DimId:
    return dims[cast<AffineDimExpr>(e).getPosition()];
  case AffineExprKind::SymbolId:
    return syms[cast<AffineSymbolExpr>(e).getPosition()];
  default:
    break;
  }
  auto bin = cast<AffineBinaryOpExpr>(e);
  Value x = emitAffine(f, bin.getLHS(), dims, syms);
  Value y = emitAffine(f, bin.getRHS(), dims, syms);
  if (e.getKind() == AffineExprKind::Add)
    return f.add(x, y);
  if (e.getKind() == AffineExprKind::Mul)
    return f.mul(x, y);
  if (!isa<AffineConstantExpr>(bin.getRHS()) ||
      cast<AffineConstantExpr>(bin.getRHS()).getValue() == 0)
    y = f.select(f.cmp(arith::CmpIPredicate::eq, y, f.cst(0)), f.cst(1), y);
  if (e.getKind() == AffineExprKind::FloorDiv)
    return arith::FloorDivSIOp::create(b, loc, x, y);
  if (e.getKind() == AffineExprKind::CeilDiv)
    return arith::CeilDivSIOp::create(b, loc, x, y);
  // mod: x - floordiv(x, y) * y
  Value q = arith::FloorDivSIOp::create(b, loc, x, y);
  return arith::SubIOp::create(b, loc, x, f.mul(q, y));
}

/// Whether the point passes the filter (a union of conjunctions); null when
/// there is no filter.
Value emitFilter(DeviceFunction &f, std::optional<ArrayAttr> sets,
                 ArrayRef<Value> dims, ArrayRef<Value> syms) {
  if (!sets)
    return Value();
  Value any;
  for (Attribute a : *sets) {
    IntegerSet set = cast<IntegerSetAttr>(a).getValue();
    Value all;
    for (unsigned c = 0; c < set.getNumConstraints(); ++c) {
      Value v = emitAffine(f, set.getConstraint(c), dims, syms);
      all = f.andI(all, f.cmp(set.isEq(c) ? arith::CmpIPredicate::eq
                                          : arith::CmpIPredicate::sge,
                              v, f.cst(0)));
    }
    if (!all)
      all = arith::ConstantIntOp::create(f.b, f.loc, f.b.getI1Type(), 1);
    any = f.orI(any, all);
  }
  return any ? any
             : arith::ConstantIntOp::create(f.b, f.loc, f.b.getI1Type(), 0);
}

/// A constant of element type t (float: rounded to nearest even).
Value constantOf(OpBuilder &b, Location loc, Type t, double v) {
  if (auto ft = dyn_cast<FloatType>(t))
    return arith::ConstantOp::create(b, loc, FloatAttr::get(ft, v));
  return arith::ConstantIntOp::create(b, loc, t, static_cast<int64_t>(v));
}

/// Converts between element types as attn.fill does (floats round to nearest
/// even; floats to integers truncate and saturate; to bool: v != 0).
Value convert(OpBuilder &b, Location loc, Value v, Type to) {
  Type from = v.getType();
  if (from == to)
    return v;
  auto ff = dyn_cast<FloatType>(from), ft = dyn_cast<FloatType>(to);
  if (ff && ft)
    return ff.getWidth() < ft.getWidth()
               ? arith::ExtFOp::create(b, loc, to, v).getResult()
               : arith::TruncFOp::create(b, loc, to, v).getResult();
  if (ff) {
    if (to.isInteger(1))
      return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, v,
                                   constantOf(b, loc, from, 0.0));
    return arith::FPToSIOp::create(b, loc, to, v);
  }
  if (ft)
    return from.isInteger(1)
               ? arith::UIToFPOp::create(b, loc, to, v).getResult()
               : arith::SIToFPOp::create(b, loc, to, v).getResult();
  if (to.getIntOrFloatBitWidth() > from.getIntOrFloatBitWidth())
    return from.isInteger(1)
               ? arith::ExtUIOp::create(b, loc, to, v).getResult()
               : arith::ExtSIOp::create(b, loc, to, v).getResult();
  if (to.isInteger(1))
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, v,
                                 arith::ConstantIntOp::create(b, loc, from, 0));
  return arith::TruncIOp::create(b, loc, to, v);
}

LogicalResult KernelEmitter::beginOp(DeviceFunction &f, Operation *op,
                                     ValueRange sizeOperands,
                                     ValueRange symbolOperands,
                                     SmallVector<Value> &sizes,
                                     SmallVector<Value> &syms,
                                     SmallVector<SizeText> &symTexts) {
  dimSizes.clear();
  indexBounds.clear();
  if (failed(sizeValues(f, op, sizeOperands, "size", sizes, &dimSizes)))
    return failure();
  return sizeValues(f, op, symbolOperands, "symbol", syms, &symTexts);
}

LogicalResult KernelEmitter::sizeValues(DeviceFunction &f, Operation *op,
                                        ValueRange values, const char *what,
                                        SmallVector<Value> &out,
                                        SmallVector<SizeText> *texts) {
  for (Value v : values) {
    std::string why;
    std::optional<SizeText> s = plan.sizeOf(v, why);
    if (!s)
      return op->emitError()
             << "the CUDA code generator cannot pass " << what << " operand #"
             << out.size() << " to the device: " << why;
    out.push_back(f.size(*s));
    if (texts)
      texts->push_back(*s);
  }
  return success();
}

SmallVector<bool>
KernelEmitter::needsCheck(ArrayRef<std::optional<SizeText>> bounds,
                          ArrayRef<SizeText> extents) {
  SmallVector<bool> check;
  for (size_t k = 0; k < extents.size(); ++k) {
    const std::optional<SizeText> &b = bounds[k];
    bool proved = b && (b->text == extents[k].text ||
                        (b->value && extents[k].value && *b->value >= 0 &&
                         *b->value <= *extents[k].value));
    check.push_back(!proved);
  }
  return check;
}

/// Whether `e` is non-negative wherever dimensions and symbols (sizes) are.
static bool nonNegative(AffineExpr e) {
  switch (e.getKind()) {
  case AffineExprKind::Constant:
    return cast<AffineConstantExpr>(e).getValue() >= 0;
  case AffineExprKind::DimId:
  case AffineExprKind::SymbolId:
    return true;
  case AffineExprKind::Add:
  case AffineExprKind::Mul:
  case AffineExprKind::FloorDiv:
  case AffineExprKind::CeilDiv: {
    auto bin = cast<AffineBinaryOpExpr>(e);
    return nonNegative(bin.getLHS()) && nonNegative(bin.getRHS());
  }
  default:
    return false;
  }
}

SmallVector<std::optional<SizeText>>
KernelEmitter::mapBounds(AffineMap map, std::optional<ArrayAttr> filter,
                         ArrayRef<SizeText> symbols) {
  SmallVector<std::optional<SizeText>> bounds;
  for (AffineExpr e : map.getResults()) {
    if (auto d = dyn_cast<AffineDimExpr>(e)) {
      bounds.push_back(dimSizes[d.getPosition()]);
      continue;
    }
    std::optional<SizeText> bound;
    if (filter && !filter->empty() && nonNegative(e)) {
      // A bound B (a symbol or a constant) such that every disjunct has a
      // constraint c >= 0 with c + e + 1 == B, i.e. e <= B - 1.
      std::optional<AffineExpr> common;
      for (Attribute a : *filter) {
        IntegerSet set = cast<IntegerSetAttr>(a).getValue();
        std::optional<AffineExpr> found;
        for (unsigned c = 0; c < set.getNumConstraints() && !found; ++c) {
          if (set.isEq(c))
            continue;
          AffineExpr sum =
              simplifyAffineExpr(set.getConstraint(c) + e + 1, set.getNumDims(),
                                 set.getNumSymbols());
          if (isa<AffineSymbolExpr, AffineConstantExpr>(sum) &&
              (!common || *common == sum))
            found = sum;
        }
        if (!found) {
          common.reset();
          break;
        }
        common = found;
      }
      if (common) {
        if (auto sym = dyn_cast<AffineSymbolExpr>(*common))
          bound = symbols[sym.getPosition()];
        else
          bound =
              SizeText::constant(cast<AffineConstantExpr>(*common).getValue());
      }
    }
    bounds.push_back(bound);
  }
  return bounds;
}

std::pair<Value, Value>
KernelEmitter::rangeCheck(DeviceFunction &f, ArrayRef<Value> index,
                          ArrayRef<Value> extents, ArrayRef<bool> check,
                          const TensorStorage &s, const std::string &where) {
  Value ok, code;
  for (size_t k = index.size(); k-- > 0;) {
    if (!check[k])
      continue;
    int c = plan.addError({"out-of-range read of " + s.name, s.argument,
                           static_cast<int>(k), where});
    Value inK = f.cmp(arith::CmpIPredicate::ult, index[k], extents[k]);
    ok = f.andI(ok, inK);
    code = code ? f.select(inK, code, f.i32(c)) : f.i32(c);
  }
  return {ok, code};
}

/// A value a region uses from the function body, made available on the
/// device (in the prologue): a size parameter, a scalar input parameter, or
/// its defining arith/math op recomputed from those.
FailureOr<Value> KernelEmitter::captured(DeviceFunction &f, Value v,
                                         IRMapping &map, Operation *user) {
  if (Value m = map.lookupOrNull(v))
    return m;
  Type t = v.getType();
  OpBuilder &pro = f.pro;
  Value result;
  auto arg = dyn_cast<BlockArgument>(v);
  bool kernelArg = arg && arg.getOwner()->getParentOp() == plan.kernel;
  if (t.isIntOrIndex()) {
    std::string why;
    if (std::optional<SizeText> s = plan.sizeOf(v, why)) {
      result = f.size(*s);
      if (!t.isIndex())
        result = arith::IndexCastOp::create(pro, f.loc, t, result);
    }
  }
  if (!result && kernelArg && !isa<TensorType>(t)) {
    // A scalar input, passed by name as the manifest says (docs/runtime.md).
    std::string name =
        plan.kernel.getArgAttrOfType<StringAttr>(arg.getArgNumber(), kNameAttr)
            ? plan.kernel
                  .getArgAttrOfType<StringAttr>(arg.getArgNumber(), kNameAttr)
                  .str()
            : "arg" + std::to_string(arg.getArgNumber());
    Type passed = t;
    if (t.isF16() || t.isBF16())
      passed = pro.getF32Type();
    else if (t.isInteger(1))
      passed = pro.getI8Type();
    result = f.param(name, passed);
    if (passed != t)
      result = convert(pro, f.loc, result, t);
  }
  if (!result && !arg) {
    Operation *def = v.getDefiningOp();
    bool pure = def->getNumRegions() == 0 && def->getNumResults() == 1 &&
                isa<arith::ArithDialect, math::MathDialect>(def->getDialect());
    if (pure) {
      for (Value operand : def->getOperands())
        if (failed(captured(f, operand, map, user)))
          return failure();
      pro.clone(*def, map);
      return map.lookup(v);
    }
  }
  if (!result)
    return user->emitError()
           << "the CUDA code generator cannot pass a value defined outside the "
              "region ("
           << (arg ? std::string("a block argument")
                   : "'" + v.getDefiningOp()->getName().getStringRef().str() +
                         "'")
           << ") to the device";
  map.map(v, result);
  return result;
}

/// Clones the ops of a region block at the main builder; attn.read becomes
/// a checked load (the builder moves into the branch where it succeeded);
/// `yielded` receives the attn.yield operand.
LogicalResult KernelEmitter::cloneRegion(DeviceFunction &f, Block &block,
                                         IRMapping &map, Operation *owner,
                                         Value &yielded) {
  for (Operation &op : block) {
    if (auto yield = dyn_cast<YieldOp>(op)) {
      if (yield.getValues().size() != 1)
        return op.emitError() << "attn.yield must yield one value";
      FailureOr<Value> v = captured(f, yield.getValues()[0], map, &op);
      if (failed(v))
        return failure();
      yielded = *v;
      return success();
    }
    if (auto read = dyn_cast<ReadOp>(op)) {
      if (failed(emitRead(f, read, map, owner)))
        return failure();
      continue;
    }
    bool supported =
        op.getNumRegions() == 0 && op.getNumResults() == 1 &&
        isa<arith::ArithDialect, math::MathDialect>(op.getDialect());
    if (!supported)
      return op.emitError() << "the CUDA code generator does not support '"
                            << op.getName() << "' in a region";
    for (Value operand : op.getOperands())
      if (failed(captured(f, operand, map, &op)))
        return failure();
    f.b.clone(op, map);
  }
  return owner->emitError() << "a region does not end in attn.yield";
}

LogicalResult KernelEmitter::emitRead(DeviceFunction &f, ReadOp read,
                                      IRMapping &map, Operation *owner) {
  const TensorStorage *s = plan.storageOf(read.getTensor());
  if (!s)
    return read.emitError() << "attn.read of a tensor the CUDA code generator "
                               "does not hold";
  SmallVector<Value> index;
  for (Value v : read.getIndices()) {
    FailureOr<Value> m = captured(f, v, map, read);
    if (failed(m))
      return failure();
    index.push_back(*m);
  }
  SmallVector<Value> extents = f.shape(*s);
  SmallVector<std::optional<SizeText>> bounds;
  for (Value v : read.getIndices()) {
    auto it = indexBounds.find(v);
    bounds.push_back(it == indexBounds.end()
                         ? std::nullopt
                         : std::optional<SizeText>(it->second));
  }
  auto [ok, code] = rangeCheck(
      f, index, extents, needsCheck(bounds, s->shape), *s,
      "by attn.read in the " + owner->getName().getStringRef().str() + " at " +
          locationText(owner->getLoc()));
  if (ok)
    f.enterIfElseRaise(ok, code);
  Value at = f.offset(index, extents);
  if (s->hasPresence())
    f.enterIf(f.loadPresence(*s, at));
  Value v = f.load(f.valuesOf(*s), s->elementType, at);
  if (v.getType() != read.getType())
    return read.emitError() << "attn.read of " << s->elementType
                            << " elements as " << read.getType();
  map.map(read.getResult(), v);
  return success();
}

/// The combination of a contribution into an accumulator.
Value combineValues(DeviceFunction &f, ReductionKind kind, Value acc, Value v) {
  OpBuilder &b = f.b;
  Location loc = f.loc;
  bool isFloat = isa<FloatType>(v.getType());
  switch (kind) {
  case ReductionKind::none:
    return v;
  case ReductionKind::sum:
    return isFloat ? arith::AddFOp::create(b, loc, acc, v).getResult()
                   : arith::AddIOp::create(b, loc, acc, v).getResult();
  case ReductionKind::prod:
    return isFloat ? arith::MulFOp::create(b, loc, acc, v).getResult()
                   : arith::MulIOp::create(b, loc, acc, v).getResult();
  case ReductionKind::max:
    return isFloat ? arith::MaximumFOp::create(b, loc, acc, v).getResult()
                   : arith::MaxSIOp::create(b, loc, acc, v).getResult();
  case ReductionKind::min:
    return isFloat ? arith::MinimumFOp::create(b, loc, acc, v).getResult()
                   : arith::MinSIOp::create(b, loc, acc, v).getResult();
  }
  return v;
}

LogicalResult KernelEmitter::emitEinsum(EinsumOp op) {
  DeviceFunction f(plan, module, entryName("einsum"), op.getLoc());
  const TensorStorage &out = *plan.storageOf(op.getResult());
  Type resultType = out.elementType;
  std::string where = "the attn.einsum at " + locationText(op.getLoc());

  SmallVector<Value> sizes, syms;
  SmallVector<SizeText> symTexts;
  if (failed(beginOp(f, op, op.getSizes(), op.getSymbols(), sizes, syms,
                     symTexts)))
    return failure();
  SizeText count = out.count();
  for (unsigned d = 0; d < op.getNumDims(); ++d) {
    indexBounds[op.getBody().front().getArgument(op.getInputs().size() + d)] =
        dimSizes[d];
    if (op.hasGuard())
      indexBounds[op.getGuard().front().getArgument(d)] = dimSizes[d];
  }

  Value acc = f.alloca(resultType), present = f.alloca(f.b.getI1Type());
  Value lin = f.beginPointLoop(count);
  SmallVector<Value> point(op.getNumDims());
  SmallVector<Value> resultExtents;
  SmallVector<unsigned> resultDims;
  for (AffineExpr e : op.getResultMap().getResults()) {
    unsigned d = cast<AffineDimExpr>(e).getPosition();
    resultDims.push_back(d);
    resultExtents.push_back(sizes[d]);
  }
  SmallVector<Value> coords = f.unflatten(lin, resultExtents);
  for (auto [k, d] : llvm::enumerate(resultDims))
    point[d] = coords[k];
  Value zero = constantOf(f.b, f.loc, resultType, 0.0);
  Value falseV = arith::ConstantIntOp::create(f.b, f.loc, f.b.getI1Type(), 0);
  Value trueV = arith::ConstantIntOp::create(f.b, f.loc, f.b.getI1Type(), 1);
  LLVM::StoreOp::create(f.b, f.loc, zero, acc);
  LLVM::StoreOp::create(f.b, f.loc, falseV, present);

  OpBuilder::InsertPoint afterLoops = f.b.saveInsertionPoint();
  for (unsigned d : op.getReducedDims())
    point[d] = f.beginLoop(sizes[d]);

  // One point: filter, guard, inputs, body, combine.
  if (Value pass = emitFilter(f, op.getFilter(), point, syms))
    f.enterIf(pass);
  IRMapping map;
  if (op.hasGuard()) {
    Block &guard = op.getGuard().front();
    for (auto [i, arg] : llvm::enumerate(guard.getArguments()))
      map.map(arg, point[i]);
    Value exists;
    if (failed(cloneRegion(f, guard, map, op, exists)))
      return failure();
    f.enterIf(exists);
  }
  unsigned numInputs = op.getInputs().size();
  SmallVector<Value> offsets, inRanges, inputCodes;
  SmallVector<const TensorStorage *> inputs;
  Value allPresent, anyOut;
  for (unsigned i = 0; i < numInputs; ++i) {
    const TensorStorage *s = plan.storageOf(op.getInputs()[i]);
    if (!s)
      return op.emitError() << "input " << i
                            << " is a tensor the CUDA code generator does not "
                               "hold";
    inputs.push_back(s);
    AffineMap map = op.getInputMap(i);
    SmallVector<Value> index;
    for (AffineExpr e : map.getResults())
      index.push_back(emitAffine(f, e, point, syms));
    SmallVector<Value> extents = f.shape(*s);
    auto [ok, inputCode] = rangeCheck(
        f, index, extents,
        needsCheck(mapBounds(map, op.getFilter(), symTexts), s->shape), *s,
        "through the map of input " + std::to_string(i) + " of " + where);
    inRanges.push_back(ok);
    inputCodes.push_back(inputCode);
    offsets.push_back(f.offset(index, extents));
    if (ok)
      anyOut = f.orI(anyOut, f.notI(ok));
    if (s->hasPresence()) {
      Value at = offsets.back();
      auto load = [&](OpBuilder &tb, Location l) {
        OpBuilder::InsertionGuard g(f.b);
        f.b.setInsertionPoint(tb.getInsertionBlock(), tb.getInsertionPoint());
        scf::YieldOp::create(f.b, l, f.loadPresence(*s, at));
      };
      Value present;
      if (ok) {
        auto ifOp = scf::IfOp::create(
            f.b, f.loc, ok, load, [&](OpBuilder &eb, Location l) {
              Value t = arith::ConstantIntOp::create(eb, l, eb.getI1Type(), 1);
              scf::YieldOp::create(eb, l, t);
            });
        present = ifOp.getResult(0);
      } else {
        present = f.loadPresence(*s, at);
      }
      allPresent = f.andI(allPresent, present);
    }
  }
  // The first input out of range names the error (as in the interpreter).
  Value code;
  for (unsigned i = numInputs; i-- > 0;)
    if (inputCodes[i])
      code = code ? f.select(f.notI(inRanges[i]), inputCodes[i], code)
                  : inputCodes[i];
  if (allPresent)
    f.enterIf(allPresent);
  if (anyOut && code)
    f.enterIfElseRaise(f.notI(anyOut), code);

  Block &body = op.getBody().front();
  for (unsigned i = 0; i < numInputs; ++i)
    map.map(body.getArgument(i),
            f.load(f.valuesOf(*inputs[i]), inputs[i]->elementType, offsets[i]));
  for (unsigned d = 0; d < op.getNumDims(); ++d)
    map.map(body.getArgument(numInputs + d), point[d]);
  Value v;
  if (failed(cloneRegion(f, body, map, op, v)))
    return failure();
  if (v.getType() != resultType)
    return op.emitError() << "the body yields " << v.getType()
                          << " for a result of " << resultType;
  Value was = LLVM::LoadOp::create(f.b, f.loc, f.b.getI1Type(), present);
  Value old = LLVM::LoadOp::create(f.b, f.loc, resultType, acc);
  Value next = f.select(was, combineValues(f, op.getKind(), old, v), v);
  LLVM::StoreOp::create(f.b, f.loc, next, acc);
  LLVM::StoreOp::create(f.b, f.loc, trueV, present);

  f.b.restoreInsertionPoint(afterLoops);
  Value has = LLVM::LoadOp::create(f.b, f.loc, f.b.getI1Type(), present);
  Value value = LLVM::LoadOp::create(f.b, f.loc, resultType, acc);
  f.store(f.valuesOf(out), resultType, lin, f.select(has, value, zero));
  f.store(f.presenceOf(out), f.b.getI1Type(), lin, has);
  done(f);
  return success();
}

LogicalResult KernelEmitter::emitOnline(OnlineOp op, unsigned result) {
  bool isMax = result == 0;
  DeviceFunction f(
      plan, module,
      entryName(isMax ? "max" : "sum" + std::to_string(result - 1)),
      op.getLoc());
  Value resultValue = op->getResult(result);
  const TensorStorage &out = *plan.storageOf(resultValue);
  Type type = out.elementType;
  if (!isa<FloatType>(type))
    return op.emitError() << "the CUDA code generator needs float results of "
                             "attn.online";
  std::string where = "the attn.online at " + locationText(op.getLoc());
  SmallVector<Value> sizes, syms;
  SmallVector<SizeText> symTexts;
  if (failed(beginOp(f, op, op.getSizes(), op.getSymbols(), sizes, syms,
                     symTexts)))
    return failure();
  SizeText count = out.count();

  AffineMap resultMap = isMax ? op.getMaxMap() : op.getSumMap(result - 1);
  SmallVector<unsigned> reduced = op.getReducedDims();
  Value acc = f.alloca(type), present = f.alloca(f.b.getI1Type()),
        frame = f.alloca(type);
  Value lin = f.beginPointLoop(count);
  SmallVector<Value> point(op.getNumDims()), resultExtents;
  SmallVector<unsigned> named;
  for (AffineExpr e : resultMap.getResults()) {
    named.push_back(cast<AffineDimExpr>(e).getPosition());
    resultExtents.push_back(sizes[named.back()]);
  }
  SmallVector<Value> coords = f.unflatten(lin, resultExtents);
  for (auto [k, d] : llvm::enumerate(named))
    point[d] = coords[k];
  // Dimensions neither reduced nor named: the interpreter visits them at 0.
  Value live;
  for (unsigned d = 0; d < op.getNumDims(); ++d)
    if (!point[d] && !llvm::is_contained(reduced, d)) {
      point[d] = f.cst(0);
      live = f.andI(live, f.cmp(arith::CmpIPredicate::sgt, sizes[d], f.cst(0)));
    }
  Value zero = constantOf(f.b, f.loc, type, 0.0);
  Value falseV = arith::ConstantIntOp::create(f.b, f.loc, f.b.getI1Type(), 0);
  Value trueV = arith::ConstantIntOp::create(f.b, f.loc, f.b.getI1Type(), 1);
  LLVM::StoreOp::create(f.b, f.loc, zero, acc);
  LLVM::StoreOp::create(f.b, f.loc, zero, frame);
  LLVM::StoreOp::create(f.b, f.loc, falseV, present);

  OpBuilder::InsertPoint afterLoops = f.b.saveInsertionPoint();
  if (live)
    f.enterIf(live);
  for (unsigned d : reduced)
    point[d] = f.beginLoop(sizes[d]);
  if (Value pass = emitFilter(f, op.getFilter(), point, syms))
    f.enterIf(pass);

  // Reads `tensor` through `map` at the point: range check (an error),
  // presence; the builder continues where the element is there.
  auto read = [&](Value tensor, AffineMap map, unsigned input) -> Value {
    const TensorStorage *s = plan.storageOf(tensor);
    SmallVector<Value> index;
    for (AffineExpr e : map.getResults())
      index.push_back(emitAffine(f, e, point, syms));
    SmallVector<Value> extents = f.shape(*s);
    auto [ok, code] = rangeCheck(
        f, index, extents,
        needsCheck(mapBounds(map, op.getFilter(), symTexts), s->shape), *s,
        "through the map of input " + std::to_string(input) + " of " + where);
    if (ok)
      f.enterIfElseRaise(ok, code);
    Value at = f.offset(index, extents);
    if (s->hasPresence())
      f.enterIf(f.loadPresence(*s, at));
    return convert(f.b, f.loc, f.load(f.valuesOf(*s), s->elementType, at),
                   type);
  };
  for (Value t : op.getOperands().take_front(1 + op.getNumParts()))
    if (!plan.storageOf(t) || !isa<FloatType>(plan.storageOf(t)->elementType))
      return op.emitError() << "an input of attn.online is not a float tensor "
                               "the CUDA code generator holds";
  Value r = read(op.getRef(), op.getRefMap(), 0);
  Value was = LLVM::LoadOp::create(f.b, f.loc, f.b.getI1Type(), present);
  Value old = LLVM::LoadOp::create(f.b, f.loc, type, acc);
  if (isMax) {
    // The interpreter's `!present || r > max`.
    Value greater =
        arith::CmpFOp::create(f.b, f.loc, arith::CmpFPredicate::OGT, r, old);
    LLVM::StoreOp::create(f.b, f.loc,
                          f.select(f.orI(f.notI(was), greater), r, old), acc);
  } else {
    unsigned i = result - 1;
    Value v = read(op.getParts()[i], op.getPartMap(i), i + 1);
    double c = cast<FloatAttr>(op.getRescale()[i]).getValueAsDouble();
    Value cv = constantOf(f.b, f.loc, type, c);
    Value oldFrame = LLVM::LoadOp::create(f.b, f.loc, type, frame);
    // next = max(frame, r) as std::max does: frame unless frame < r.
    Value less = arith::CmpFOp::create(f.b, f.loc, arith::CmpFPredicate::OLT,
                                       oldFrame, r);
    Value nextFrame = f.select(less, r, oldFrame);
    auto scale = [&](Value from) {
      Value d = arith::SubFOp::create(f.b, f.loc, nextFrame, from);
      return math::ExpOp::create(f.b, f.loc,
                                 arith::MulFOp::create(f.b, f.loc, cv, d));
    };
    Value sum = arith::AddFOp::create(
        f.b, f.loc, arith::MulFOp::create(f.b, f.loc, old, scale(oldFrame)),
        arith::MulFOp::create(f.b, f.loc, v, scale(r)));
    LLVM::StoreOp::create(f.b, f.loc, f.select(was, sum, v), acc);
    LLVM::StoreOp::create(f.b, f.loc, f.select(was, nextFrame, r), frame);
  }
  LLVM::StoreOp::create(f.b, f.loc, trueV, present);

  f.b.restoreInsertionPoint(afterLoops);
  Value has = LLVM::LoadOp::create(f.b, f.loc, f.b.getI1Type(), present);
  Value value = LLVM::LoadOp::create(f.b, f.loc, type, acc);
  if (!isMax) {
    // Bring the sum to the final maximum (0 where the maximum is absent, as
    // in the interpreter).
    const TensorStorage &maxS = *plan.storageOf(op.getMax());
    SmallVector<Value> maxIndex, maxExtents = f.shape(maxS);
    for (AffineExpr e : op.getMaxMap().getResults())
      maxIndex.push_back(point[cast<AffineDimExpr>(e).getPosition()]);
    Value at = f.offset(maxIndex, maxExtents);
    Value m = convert(f.b, f.loc,
                      f.load(f.valuesOf(maxS), maxS.elementType, at), type);
    Value fr = LLVM::LoadOp::create(f.b, f.loc, type, frame);
    double c = cast<FloatAttr>(op.getRescale()[result - 1]).getValueAsDouble();
    Value d = arith::SubFOp::create(f.b, f.loc, m, fr);
    Value e = math::ExpOp::create(
        f.b, f.loc,
        arith::MulFOp::create(f.b, f.loc, constantOf(f.b, f.loc, type, c), d));
    value = arith::MulFOp::create(f.b, f.loc, value, e);
  }
  f.store(f.valuesOf(out), type, lin, f.select(has, value, zero));
  f.store(f.presenceOf(out), f.b.getI1Type(), lin, has);
  done(f);
  return success();
}

LogicalResult KernelEmitter::emitFill(Operation *origin,
                                      const TensorStorage &src,
                                      const TensorStorage &dst, double fill) {
  DeviceFunction f(plan, module, entryName("fill"), origin->getLoc());
  SizeText count = src.count();
  Value lin = f.beginPointLoop(count);
  Value v = f.load(f.valuesOf(src), src.elementType, lin);
  if (src.hasPresence())
    v = f.select(f.loadPresence(src, lin), v,
                 constantOf(f.b, f.loc, src.elementType, fill));
  if (isa<FloatType>(src.elementType) && !isa<FloatType>(dst.elementType) &&
      !dst.elementType.isInteger(1)) {
    // Saturating truncation with NaN as 0 (attn::rt::roundToDType).
    Value isNan =
        arith::CmpFOp::create(f.b, f.loc, arith::CmpFPredicate::UNO, v, v);
    v = f.select(isNan, constantOf(f.b, f.loc, src.elementType, 0.0), v);
  }
  f.store(f.valuesOf(dst), dst.elementType, lin,
          convert(f.b, f.loc, v, dst.elementType));
  done(f);
  return success();
}

LogicalResult KernelEmitter::run() {
  func::FuncOp kernel = plan.kernel;
  for (Operation &op : kernel.getBody().front()) {
    current = &op;
    if (auto einsum = dyn_cast<EinsumOp>(op)) {
      if (failed(emitEinsum(einsum)))
        return failure();
    } else if (auto online = dyn_cast<OnlineOp>(op)) {
      for (unsigned r = 0; r < op.getNumResults(); ++r)
        if (failed(emitOnline(online, r)))
          return failure();
      if (failed(emitFusedLaunches(online)))
        return failure();
    } else if (auto fill = dyn_cast<FillOp>(op)) {
      const TensorStorage *src = plan.storageOf(fill.getInput());
      if (!src)
        return op.emitError() << "attn.fill of a tensor the CUDA code "
                                 "generator does not hold";
      double value = fill.getValue().convertToDouble();
      if (const TensorStorage *ws = plan.storageOf(fill.getResult()))
        if (failed(emitFill(&op, *src, *ws, value)))
          return failure();
      auto ret = cast<func::ReturnOp>(kernel.getBody().front().getTerminator());
      for (auto [i, v] : llvm::enumerate(ret.getOperands()))
        if (v == fill.getResult() &&
            failed(emitFill(&op, *src, plan.output(i), value)))
          return failure();
    } else if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      // Outputs not written through attn.fill: 0 where absent.
      for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
        if (v.getDefiningOp<FillOp>())
          continue;
        const TensorStorage *src = plan.storageOf(v);
        if (!src)
          return op.emitError() << "output " << i
                                << " is not a tensor the "
                                   "CUDA code generator "
                                   "holds";
        if (failed(emitFill(&op, *src, plan.output(i), 0.0)))
          return failure();
      }
    } else if (isa<tensor::DimOp>(op) ||
               (op.getNumRegions() == 0 &&
                isa<arith::ArithDialect, math::MathDialect>(op.getDialect()))) {
      // Scalars: size expressions, or recomputed where a region uses them.
      continue;
    } else {
      return op.emitError() << "the CUDA code generator does not support '"
                            << op.getName() << "' in a kernel body";
    }
  }
  return success();
}

} // namespace mlir::attn::cuda::emit

LogicalResult cuda::emitDeviceKernels(KernelPlan &plan,
                                      gpu::GPUModuleOp gpuModule,
                                      const CudaCodegenOptions &options,
                                      std::vector<Launch> &launches) {
  return emit::KernelEmitter(plan, gpuModule, options, launches).run();
}
