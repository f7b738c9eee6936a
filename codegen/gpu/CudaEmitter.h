// Internal to codegen/gpu: the device-code builder (one gpu.func under
// construction) and the per-kernel emitter, shared by the one-thread-per-point
// launches (CudaDeviceEmitter.cpp) and the fused attention launch
// (CudaFusedEmitter.h).
#ifndef ATTN_CODEGEN_GPU_CUDAEMITTER_H
#define ATTN_CODEGEN_GPU_CUDAEMITTER_H

#include "codegen/gpu/CudaPlan.h"

#include "dialect/AttnDialect.h"
#include "dialect/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::attn::cuda::emit {

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
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
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

/// Affine expressions as index arithmetic (floordiv, ceildiv and mod round
/// toward negative infinity; a zero divisor is replaced by 1).
Value emitAffine(DeviceFunction &f, AffineExpr e, ArrayRef<Value> dims,
                 ArrayRef<Value> syms);
/// Whether the point passes the filter (a union of conjunctions); null when
/// there is no filter.
Value emitFilter(DeviceFunction &f, std::optional<ArrayAttr> sets,
                 ArrayRef<Value> dims, ArrayRef<Value> syms);
/// A constant of element type t (float: rounded to nearest even).
Value constantOf(OpBuilder &b, Location loc, Type t, double v);
/// Converts between element types as attn.fill does.
Value convert(OpBuilder &b, Location loc, Value v, Type to);

/// Emits the launches of one kernel.
class KernelEmitter {
public:
  KernelEmitter(KernelPlan &plan, gpu::GPUModuleOp module,
                const CudaCodegenOptions &options,
                std::vector<Launch> &launches)
      : plan(plan), module(module), options(options), launches(launches) {}

  LogicalResult run();

public:
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
    if (current)
      if (auto it = plan.launchScale.find(current);
          it != plan.launchScale.end())
        f.launch.count = sizeMul(f.launch.count, it->second);
    launches.push_back(f.launch);
  }
  /// The op whose launches are being emitted.
  Operation *current = nullptr;

  /// The fused attention launch of `fa` for head dimension `headDim`, run
  /// when `when` (0 or 1) is 1 (CudaFusedLaunch.cpp).
  LogicalResult emitFused(cuda::FusedAttention &fa, int64_t headDim,
                          const SizeText &when);
  /// The fused launches (one per head-dimension variant) that compute
  /// `online`, if plan.fused has it.
  LogicalResult emitFusedLaunches(OnlineOp online);

  /// Starts the launch of `op`: its dimensions' extents (also into
  /// dimSizes; indexBounds cleared) and its symbols, as device values and
  /// size texts.
  LogicalResult beginOp(DeviceFunction &f, Operation *op,
                        ValueRange sizeOperands, ValueRange symbolOperands,
                        SmallVector<Value> &sizes, SmallVector<Value> &syms,
                        SmallVector<SizeText> &symTexts);
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

} // namespace mlir::attn::cuda::emit

#endif
