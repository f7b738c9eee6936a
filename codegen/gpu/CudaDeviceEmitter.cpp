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
#include "codegen/gpu/CudaPlan.h"

#include "dialect/AttnDialect.h"
#include "dialect/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::cuda;

namespace {

/// One gpu.func under construction: its parameters (added as they are
/// needed, each with its manifest text), a prologue (parameter casts,
/// allocas, recomputed captured values) and the main code.
class DeviceFunction {
public:
  DeviceFunction(KernelPlan &plan, gpu::GPUModuleOp module, StringRef entry,
                 Location loc)
      : plan(plan), loc(loc), ctx(module.getContext()), b(ctx), pro(ctx) {
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    func =
        gpu::GPUFuncOp::create(mb, loc, entry, FunctionType::get(ctx, {}, {}));
    func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), UnitAttr::get(ctx));
    Block &block = func.getBody().front();
    b.setInsertionPointToEnd(&block);
    // Prologue ops go before `anchor`, the main code after it.
    Operation *anchor = arith::ConstantIndexOp::create(b, loc, 0);
    gpu::ReturnOp::create(b, loc);
    pro.setInsertionPoint(anchor);
    b.setInsertionPoint(block.getTerminator());
    launch.entry = entry.str();
  }

  KernelPlan &plan;
  Location loc;
  MLIRContext *ctx;
  gpu::GPUFuncOp func;
  OpBuilder b;   // the main code
  OpBuilder pro; // the prologue
  Launch launch;

  Type ptrType() { return LLVM::LLVMPointerType::get(ctx, 1); }
  Type i64() { return b.getI64Type(); }

  /// The parameter the manifest writes `text`, of `type`.
  Value param(const std::string &text, Type type) {
    auto it = params.find(text);
    if (it != params.end())
      return it->second;
    Value v = func.getBody().front().addArgument(type, loc);
    launch.params.push_back(text);
    params[text] = v;
    return v;
  }

  /// An index value: a constant, or the "i64:EXPR" parameter.
  Value size(const SizeText &s) {
    auto it = sizeValues.find(s.text);
    if (it != sizeValues.end())
      return it->second;
    Value v;
    if (s.value)
      v = arith::ConstantIndexOp::create(pro, loc, *s.value);
    else
      v = arith::IndexCastOp::create(pro, loc, pro.getIndexType(),
                                     param("i64:" + s.text, i64()));
    sizeValues[s.text] = v;
    return v;
  }
  SmallVector<Value> shape(const TensorStorage &s) {
    SmallVector<Value> out;
    for (const SizeText &d : s.shape)
      out.push_back(size(d));
    return out;
  }

  Value errorCode() { return param("error_code", ptrType()); }

  /// The device pointer of a region of the workspace.
  Value workspaceAt(const std::string &offset) {
    auto it = regions.find(offset);
    if (it != regions.end())
      return it->second;
    Value base = param("workspace", ptrType());
    Value byteOffset = arith::IndexCastOp::create(pro, loc, pro.getI64Type(),
                                                  sizeFromText(offset));
    Value p = LLVM::GEPOp::create(pro, loc, ptrType(), pro.getI8Type(), base,
                                  ValueRange{byteOffset});
    regions[offset] = p;
    return p;
  }
  Value sizeFromText(const std::string &text) {
    long long literal;
    SizeText s;
    if (!StringRef(text).getAsInteger(10, literal))
      s = SizeText::constant(literal);
    else
      s.text = text;
    return size(s);
  }
  Value valuesOf(const TensorStorage &s) {
    return s.kind == TensorStorage::Param ? param(s.param, ptrType())
                                          : workspaceAt(s.valueOffset);
  }
  Value presenceOf(const TensorStorage &s) {
    return workspaceAt(s.presenceOffset);
  }

  /// An alloca in the entry block (a register after LLVM's SROA).
  Value alloca(Type t) {
    Value one = LLVM::ConstantOp::create(pro, loc, pro.getI32Type(),
                                         pro.getI32IntegerAttr(1));
    return LLVM::AllocaOp::create(pro, loc, LLVM::LLVMPointerType::get(ctx), t,
                                  one);
  }

  // Arithmetic on the main builder.
  Value cst(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value andI(Value x, Value y) {
    if (!x)
      return y;
    return arith::AndIOp::create(b, loc, x, y);
  }
  Value orI(Value x, Value y) {
    if (!x)
      return y;
    return arith::OrIOp::create(b, loc, x, y);
  }
  Value notI(Value x) {
    Value t = arith::ConstantIntOp::create(b, loc, b.getI1Type(), 1);
    return arith::XOrIOp::create(b, loc, x, t);
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }

  /// Row-major element offset of `index` in a tensor of extents `extents`.
  Value offset(ArrayRef<Value> index, ArrayRef<Value> extents) {
    if (index.empty())
      return cst(0);
    Value o = index[0];
    for (size_t k = 1; k < index.size(); ++k)
      o = add(mul(o, extents[k]), index[k]);
    return o;
  }
  static Type storedType(Type t, MLIRContext *ctx) {
    return t.isInteger(1) ? IntegerType::get(ctx, 8) : t;
  }
  Value elementPtr(Value base, Type t, Value index) {
    Value i = arith::IndexCastOp::create(b, loc, i64(), index);
    return LLVM::GEPOp::create(b, loc, ptrType(), storedType(t, ctx), base,
                               ValueRange{i});
  }
  /// Loads element `index` of type `t` (i1 stored as a byte).
  Value load(Value base, Type t, Value index) {
    Value v = LLVM::LoadOp::create(b, loc, storedType(t, ctx),
                                   elementPtr(base, t, index));
    if (t.isInteger(1))
      v = cmp(arith::CmpIPredicate::ne, v,
              arith::ConstantIntOp::create(b, loc, b.getI8Type(), 0));
    return v;
  }
  void store(Value base, Type t, Value index, Value v) {
    if (t.isInteger(1))
      v = arith::ExtUIOp::create(b, loc, b.getI8Type(), v);
    LLVM::StoreOp::create(b, loc, v, elementPtr(base, t, index));
  }
  Value loadPresence(const TensorStorage &s, Value index) {
    return load(presenceOf(s), b.getI1Type(), index);
  }

  /// Sets the error code to at least `code` (an i32 value).
  void raise(Value code) {
    LLVM::AtomicRMWOp::create(b, loc, LLVM::AtomicBinOp::max, errorCode(), code,
                              LLVM::AtomicOrdering::monotonic);
  }
  Value i32(int v) {
    return arith::ConstantIntOp::create(b, loc, b.getI32Type(), v);
  }

  /// Continues inside `if (cond)`: the main builder moves into its then block.
  void enterIf(Value cond) {
    auto ifOp = scf::IfOp::create(b, loc, cond, /*withElseRegion=*/false);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
  }
  /// `if (cond) { <continue here> } else { raise(code) }`.
  void enterIfElseRaise(Value cond, Value code) {
    auto ifOp = scf::IfOp::create(b, loc, cond, /*withElseRegion=*/true);
    b.setInsertionPoint(ifOp.elseBlock()->getTerminator());
    raise(code);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
  }

  /// The grid-stride loop over [0, count): returns the point index; the main
  /// builder is inside the loop.
  Value beginPointLoop(const SizeText &count) {
    launch.count = count;
    Value n = size(count);
    Type idx = b.getIndexType();
    Value tid = gpu::ThreadIdOp::create(b, loc, idx, gpu::Dimension::x);
    Value bid = gpu::BlockIdOp::create(b, loc, idx, gpu::Dimension::x);
    Value bdim = gpu::BlockDimOp::create(b, loc, idx, gpu::Dimension::x);
    Value gdim = gpu::GridDimOp::create(b, loc, idx, gpu::Dimension::x);
    Value start = add(mul(bid, bdim), tid);
    Value step = mul(gdim, bdim);
    auto loop = scf::ForOp::create(b, loc, start, n, step);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    return loop.getInductionVar();
  }

  /// A loop over [0, n); the main builder moves inside.
  Value beginLoop(Value n) {
    auto loop = scf::ForOp::create(b, loc, cst(0), n, cst(1));
    b.setInsertionPoint(loop.getBody()->getTerminator());
    return loop.getInductionVar();
  }

  /// Splits a row-major point index into coordinates of extents `extents`.
  SmallVector<Value> unflatten(Value lin, ArrayRef<Value> extents) {
    SmallVector<Value> coords(extents.size());
    for (size_t k = extents.size(); k-- > 0;) {
      if (k == 0) {
        coords[k] = lin;
        break;
      }
      coords[k] = arith::RemUIOp::create(b, loc, lin, extents[k]);
      lin = arith::DivUIOp::create(b, loc, lin, extents[k]);
    }
    return coords;
  }

  /// Sets the gpu.func's type from its parameters.
  void finish() {
    SmallVector<Type> types(func.getBody().front().getArgumentTypes());
    func.setFunctionTypeAttr(TypeAttr::get(FunctionType::get(ctx, types, {})));
  }

private:
  llvm::StringMap<Value> params, sizeValues, regions;
};

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

/// Emits the launches of one kernel.
class KernelEmitter {
public:
  KernelEmitter(KernelPlan &plan, gpu::GPUModuleOp module,
                const CudaCodegenOptions &options,
                std::vector<Launch> &launches)
      : plan(plan), module(module), options(options), launches(launches) {}

  LogicalResult run();

private:
  KernelPlan &plan;
  gpu::GPUModuleOp module;
  const CudaCodegenOptions &options;
  std::vector<Launch> &launches;

  std::string entryName(StringRef what) {
    return "attn_" + plan.kernel.getSymName().str() + "_" +
           std::to_string(launches.size()) + "_" + what.str();
  }
  void done(DeviceFunction &f) {
    f.finish();
    launches.push_back(f.launch);
  }

  LogicalResult sizeValues(DeviceFunction &f, Operation *op, ValueRange values,
                           const char *what, SmallVector<Value> &out,
                           SmallVector<SizeText> *texts = nullptr);

  /// Extents of the iteration dimensions of the op being emitted, and the
  /// region block arguments that are dimension indices (index value ->
  /// extent): what proves a read in range.
  SmallVector<SizeText> dimSizes;
  llvm::DenseMap<Value, SizeText> indexBounds;

  /// Which coordinates of a read are not provably in range: `bounds[k]` is
  /// the range [0, bound) of coordinate k when known.
  static SmallVector<bool> needsCheck(ArrayRef<std::optional<SizeText>> bounds,
                                      ArrayRef<SizeText> extents);
  /// The bounds of a map's coordinates: a bare dimension's extent, or the
  /// bound `x < S` that every disjunct of the filter states for a coordinate
  /// `x` that cannot be negative (`m1 * 64 + m0 < M` after tiling).
  SmallVector<std::optional<SizeText>>
  mapBounds(AffineMap map, std::optional<ArrayAttr> filter,
            ArrayRef<SizeText> symbols);
  /// Emits the range check of a read (what the error names, which
  /// coordinates need it): the in-range flag (null when provably in range)
  /// and the error code of the first coordinate out of range.
  std::pair<Value, Value> rangeCheck(DeviceFunction &f, ArrayRef<Value> index,
                                     ArrayRef<Value> extents,
                                     ArrayRef<bool> check,
                                     const TensorStorage &s,
                                     const std::string &where);
  FailureOr<Value> captured(DeviceFunction &f, Value v, IRMapping &map,
                            Operation *user);
  LogicalResult cloneRegion(DeviceFunction &f, Block &block, IRMapping &map,
                            Operation *owner, Value &yielded);
  LogicalResult emitRead(DeviceFunction &f, ReadOp read, IRMapping &map,
                         Operation *owner);
  LogicalResult emitEinsum(EinsumOp op);
  LogicalResult emitOnline(OnlineOp op, unsigned result);
  LogicalResult emitFill(Operation *origin, const TensorStorage &src,
                         const TensorStorage &dst, double fill);
};

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
          locText(owner->getLoc()));
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
  std::string where = "the attn.einsum at " + locText(op.getLoc());

  SmallVector<Value> sizes, syms;
  SmallVector<SizeText> symTexts;
  dimSizes.clear();
  indexBounds.clear();
  if (failed(sizeValues(f, op, op.getSizes(), "size", sizes, &dimSizes)) ||
      failed(sizeValues(f, op, op.getSymbols(), "symbol", syms, &symTexts)))
    return failure();
  SizeText count = SizeText::constant(1);
  for (const SizeText &d : out.shape)
    count = sizeMul(count, d);
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
  std::string where = "the attn.online at " + locText(op.getLoc());
  SmallVector<Value> sizes, syms;
  SmallVector<SizeText> symTexts;
  dimSizes.clear();
  indexBounds.clear();
  if (failed(sizeValues(f, op, op.getSizes(), "size", sizes, &dimSizes)) ||
      failed(sizeValues(f, op, op.getSymbols(), "symbol", syms, &symTexts)))
    return failure();
  SizeText count = SizeText::constant(1);
  for (const SizeText &d : out.shape)
    count = sizeMul(count, d);

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
  SizeText count = SizeText::constant(1);
  for (const SizeText &d : src.shape)
    count = sizeMul(count, d);
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
    if (auto einsum = dyn_cast<EinsumOp>(op)) {
      if (failed(emitEinsum(einsum)))
        return failure();
    } else if (auto online = dyn_cast<OnlineOp>(op)) {
      for (unsigned r = 0; r < op.getNumResults(); ++r)
        if (failed(emitOnline(online, r)))
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

} // namespace

LogicalResult cuda::emitDeviceKernels(KernelPlan &plan,
                                      gpu::GPUModuleOp gpuModule,
                                      const CudaCodegenOptions &options,
                                      std::vector<Launch> &launches) {
  return KernelEmitter(plan, gpuModule, options, launches).run();
}
