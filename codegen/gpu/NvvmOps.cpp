// The NVVM instructions of the fused attention launch (NvvmOps.h).
#include "codegen/gpu/NvvmOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

#include <array>

using namespace mlir;

namespace mlir::attn::cuda::nvvm {

Value i32Constant(OpBuilder &b, Location loc, int v) {
  return arith::ConstantIntOp::create(b, loc, b.getI32Type(), v);
}

Value f32Constant(OpBuilder &b, Location loc, double v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}

Value shuffleXor(OpBuilder &b, Location loc, Value v, int laneMask) {
  Value all = i32Constant(b, loc, -1);
  return NVVM::ShflOp::create(
      b, loc, b.getF32Type(), all, v, i32Constant(b, loc, laneMask),
      i32Constant(b, loc, 31), NVVM::ShflKind::bfly, UnitAttr());
}

Value maximumNaN(OpBuilder &b, Location loc, Value x, Value y) {
  return LLVM::MaximumOp::create(b, loc, x, y);
}

Value packPair(OpBuilder &b, Location loc, Type elem, Value x, Value y) {
  auto pairType = VectorType::get({2}, elem);
  Value lo = arith::TruncFOp::create(b, loc, elem, x);
  Value hi = arith::TruncFOp::create(b, loc, elem, y);
  Value pair = LLVM::PoisonOp::create(b, loc, pairType);
  pair = LLVM::InsertElementOp::create(
      b, loc, pair, lo,
      LLVM::ConstantOp::create(b, loc, b.getI32Type(), b.getI32IntegerAttr(0)));
  pair = LLVM::InsertElementOp::create(
      b, loc, pair, hi,
      LLVM::ConstantOp::create(b, loc, b.getI32Type(), b.getI32IntegerAttr(1)));
  return LLVM::BitcastOp::create(b, loc, b.getI32Type(), pair);
}

SmallVector<Value> mmaM16N8K16(OpBuilder &b, Location loc, Type elem,
                               ArrayRef<Value> a, ArrayRef<Value> bRegs,
                               ArrayRef<Value> c) {
  Type f32 = b.getF32Type();
  auto resultType =
      LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
  NVVM::MMATypes type =
      elem.isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
  SmallVector<Value> aRegs(a), bRegsTyped(bRegs);
  if (elem.isF16()) {
    // f16 operands are <2 x half> registers.
    auto pairType = VectorType::get({2}, elem);
    for (Value &x : aRegs)
      x = LLVM::BitcastOp::create(b, loc, pairType, x);
    for (Value &x : bRegsTyped)
      x = LLVM::BitcastOp::create(b, loc, pairType, x);
  }
  auto op = NVVM::MmaOp::create(
      b, loc, resultType, aRegs, bRegsTyped, c, {16, 8, 16}, std::nullopt,
      std::nullopt, std::array<NVVM::MMATypes, 2>{type, type},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  SmallVector<Value> d;
  for (int64_t i = 0; i < 4; ++i)
    d.push_back(LLVM::ExtractValueOp::create(b, loc, op.getResult(), i));
  return d;
}

SmallVector<Value> ldmatrixX4(OpBuilder &b, Location loc, Value rowAddress,
                              bool transpose) {
  MLIRContext *ctx = b.getContext();
  Type i32 = b.getI32Type();
  auto resultType = LLVM::LLVMStructType::getLiteral(ctx, {i32, i32, i32, i32});
  auto op = NVVM::LdMatrixOp::create(
      b, loc, resultType, rowAddress, b.getI32IntegerAttr(4),
      NVVM::MMALayoutAttr::get(ctx, transpose ? NVVM::MMALayout::col
                                              : NVVM::MMALayout::row),
      NVVM::LdStMatrixShapeAttr::get(ctx, 8, 8),
      NVVM::LdStMatrixEltTypeAttr::get(ctx, NVVM::LdStMatrixEltType::B16));
  SmallVector<Value> regs;
  for (int64_t i = 0; i < 4; ++i)
    regs.push_back(LLVM::ExtractValueOp::create(b, loc, op.getResult(), i));
  return regs;
}

Value dynamicSharedMemory(OpBuilder &at, Location loc, Operation *gpuModule) {
  MLIRContext *ctx = at.getContext();
  const char *name = "attn_dynamic_smem";
  auto module = cast<gpu::GPUModuleOp>(gpuModule);
  if (!module.lookupSymbol(name)) {
    OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
    auto arrayType = LLVM::LLVMArrayType::get(IntegerType::get(ctx, 8), 0);
    LLVM::GlobalOp::create(mb, loc, arrayType, /*isConstant=*/false,
                           LLVM::Linkage::External, name, Attribute(),
                           /*alignment=*/16, /*addrSpace=*/3);
  }
  return LLVM::AddressOfOp::create(at, loc, LLVM::LLVMPointerType::get(ctx, 3),
                                   name);
}

Value sharedElementAt(OpBuilder &b, Location loc, Type elem, Value base,
                      Value elemIndex) {
  Value i = arith::IndexCastOp::create(b, loc, b.getI64Type(), elemIndex);
  return LLVM::GEPOp::create(b, loc,
                             LLVM::LLVMPointerType::get(b.getContext(), 3),
                             elem, base, ValueRange{i});
}

void copyAsync16(OpBuilder &b, Location loc, Value dst, Value src, Value copy) {
  Value bytes = arith::SelectOp::create(b, loc, copy, i32Constant(b, loc, 16),
                                        i32Constant(b, loc, 0));
  NVVM::CpAsyncOp::create(b, loc, dst, src, b.getI32IntegerAttr(16),
                          NVVM::LoadCacheModifierKindAttr::get(
                              b.getContext(), NVVM::LoadCacheModifierKind::CG),
                          bytes);
}

void commitCopies(OpBuilder &b, Location loc) {
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
}

void waitCopies(OpBuilder &b, Location loc, int pending) {
  NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(pending));
}

Operation *barrier(OpBuilder &b, Location loc) {
  return NVVM::Barrier0Op::create(b, loc);
}

Value loadF32(OpBuilder &b, Location loc, Value ptr) {
  return LLVM::LoadOp::create(b, loc, b.getF32Type(), ptr);
}

void store(OpBuilder &b, Location loc, Value v, Value ptr) {
  LLVM::StoreOp::create(b, loc, v, ptr);
}

} // namespace mlir::attn::cuda::nvvm
