// The Hopper instructions of the wgmma attention launch (NvvmWgmma.h).
#include "codegen/gpu/NvvmWgmma.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

#include <string>

using namespace mlir;

namespace mlir::attn::cuda::nvvm {

static Value indexConstant(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

Value swizzledOffset(OpBuilder &b, Location loc, Value row, Value col,
                     int64_t rows) {
  auto c = [&](int64_t v) { return indexConstant(b, loc, v); };
  Value block = arith::DivUIOp::create(b, loc, col, c(64));
  Value chunk = arith::DivUIOp::create(
      b, loc, arith::RemUIOp::create(b, loc, col, c(64)), c(8));
  Value swizzled = arith::XOrIOp::create(
      b, loc, chunk, arith::RemUIOp::create(b, loc, row, c(8)));
  Value off = arith::MulIOp::create(b, loc, block, c(rows * 64));
  off = arith::AddIOp::create(b, loc, off,
                              arith::MulIOp::create(b, loc, row, c(64)));
  return arith::AddIOp::create(b, loc, off,
                               arith::MulIOp::create(b, loc, swizzled, c(8)));
}

static Value sharedAddress(OpBuilder &b, Location loc, Value ptr) {
  return LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), ptr);
}

static Value i64Constant(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI64Type(), v);
}

Value alignShared1024(OpBuilder &b, Location loc, Value ptr) {
  Value addr = sharedAddress(b, loc, ptr);
  addr = arith::AddIOp::create(b, loc, addr, i64Constant(b, loc, 1023));
  addr =
      arith::AndIOp::create(b, loc, addr, i64Constant(b, loc, ~int64_t(1023)));
  return LLVM::IntToPtrOp::create(
      b, loc, LLVM::LLVMPointerType::get(b.getContext(), 3), addr);
}

Value swizzledDescriptor(OpBuilder &b, Location loc, Value ptr) {
  // Bits 0-13: address >> 4; 16-29: leading byte offset >> 4; 32-45:
  // stride byte offset >> 4; 62-63: swizzle mode (1: 128 bytes).
  constexpr int64_t atom = 1024;
  int64_t fixed =
      ((atom >> 4) << 16) | ((atom >> 4) << 32) | (int64_t(1) << 62);
  Value addr = sharedAddress(b, loc, ptr);
  Value field = arith::ShRUIOp::create(
      b, loc, arith::AndIOp::create(b, loc, addr, i64Constant(b, loc, 0x3FFFF)),
      i64Constant(b, loc, 4));
  return arith::OrIOp::create(b, loc, field, i64Constant(b, loc, fixed));
}

/// The text, constraints and operands of a wgmma inline-PTX block.
struct WgmmaAsm {
  std::string ptx, constraints;
  SmallVector<Value> operands;
  unsigned next = 0; // the next operand's number
};

/// The steps (A registers, B descriptors as operands), accumulating into
/// outputs $0.. (scale-d: the predicate p; the first step's `first` if
/// given, so that it overwrites them).
static void appendSteps(WgmmaAsm &w, Type elem, ArrayRef<WgmmaStep> steps,
                        const std::string &first = "p") {
  std::string type = elem.isBF16() ? "bf16" : "f16";
  for (const WgmmaStep &s : steps) {
    std::string scaleD = &s == &steps.front() ? first : "p";
    w.ptx += "wgmma.mma_async.sync.aligned.m64n" + std::to_string(s.n) +
             "k16.f32." + type + "." + type + " {";
    for (int64_t i = 0; i < s.n / 2; ++i)
      w.ptx += (i ? ", $" : "$") + std::to_string(s.first + i);
    w.ptx += "}, {";
    for (unsigned i = 0; i < 4; ++i) {
      w.ptx += (i ? ", $" : "$") + std::to_string(w.next++);
      w.constraints += ",r";
      w.operands.push_back(s.a[i]);
    }
    w.ptx += "}, $" + std::to_string(w.next++) + ", " + scaleD + ", 1, 1, " +
             (s.transposeB ? "1" : "0") + ";\n";
    w.constraints += ",l";
    w.operands.push_back(s.bDescriptor);
  }
}

/// The inline-PTX op of `w` with `n` f32 results, and its results.
static SmallVector<Value> emitAsm(OpBuilder &b, Location loc, WgmmaAsm &w,
                                  unsigned n) {
  SmallVector<Type> types(n, b.getF32Type());
  auto resultType = LLVM::LLVMStructType::getLiteral(b.getContext(), types);
  auto op = LLVM::InlineAsmOp::create(
      b, loc, resultType, w.operands, w.ptx, w.constraints,
      /*has_side_effects=*/true, /*is_align_stack=*/false,
      LLVM::tailcallkind::TailCallKind::None,
      LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT),
      ArrayAttr());
  SmallVector<Value> d;
  for (unsigned i = 0; i < n; ++i)
    d.push_back(LLVM::ExtractValueOp::create(b, loc, op.getRes(), i));
  return d;
}

static Value constantI32(OpBuilder &b, Location loc, int32_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI32Type(), v).getResult();
}

SmallVector<Value> wgmmaBatch(OpBuilder &b, Location loc, Type elem,
                              ArrayRef<WgmmaStep> steps,
                              ArrayRef<Value> accumulators) {
  unsigned n = accumulators.size();
  WgmmaAsm w;
  for (unsigned i = 0; i < n; ++i)
    w.constraints += "=f,";
  for (unsigned i = 0; i < n; ++i) {
    w.constraints += std::to_string(i) + ",";
    w.operands.push_back(accumulators[i]);
  }
  w.next = 2 * n;
  w.ptx += "{\n.reg .pred p;\n";
  w.ptx += "setp.ne.b32 p, $" + std::to_string(w.next++) + ", 0;\n";
  w.constraints += "r";
  w.operands.push_back(constantI32(b, loc, 1));
  w.ptx += "wgmma.fence.sync.aligned;\n";
  appendSteps(w, elem, steps);
  w.ptx += "wgmma.commit_group.sync.aligned;\n";
  w.ptx += "wgmma.wait_group.sync.aligned 0;\n}";
  return emitAsm(b, loc, w, n);
}

SmallVector<Value> wgmmaIssue(OpBuilder &b, Location loc, Type elem,
                              ArrayRef<WgmmaStep> steps, unsigned n, Value go) {
  WgmmaAsm w;
  for (unsigned i = 0; i < n; ++i)
    w.constraints += "=f,";
  w.next = n;
  std::string pNum = std::to_string(w.next++);
  std::string goNum = std::to_string(w.next++);
  w.constraints += "r,r";
  w.operands.push_back(constantI32(b, loc, 1));
  w.operands.push_back(arith::ExtUIOp::create(b, loc, b.getI32Type(), go));
  // One uniform branch around the steps (${:uid}: a label unique to this
  // asm block); the commit either way (an empty group without them).
  std::string skip = "$$wgmma_skip_${:uid}";
  w.ptx += "{\n.reg .pred p, zero, skip;\n";
  w.ptx += "setp.ne.b32 p, $" + pNum + ", 0;\n";
  w.ptx += "setp.eq.b32 zero, $" + pNum + ", 0;\n";
  w.ptx += "setp.eq.b32 skip, $" + goNum + ", 0;\n";
  w.ptx += "wgmma.fence.sync.aligned;\n";
  w.ptx += "@skip bra.uni " + skip + ";\n";
  appendSteps(w, elem, steps, "zero");
  w.ptx += skip + ":\n";
  w.ptx += "wgmma.commit_group.sync.aligned;\n}";
  return emitAsm(b, loc, w, n);
}

SmallVector<Value> wgmmaWait(OpBuilder &b, Location loc,
                             ArrayRef<Value> accumulators, unsigned pending) {
  unsigned n = accumulators.size();
  WgmmaAsm w;
  for (unsigned i = 0; i < n; ++i)
    w.constraints += "=f,";
  for (unsigned i = 0; i < n; ++i) {
    w.constraints += std::to_string(i) + (i + 1 < n ? "," : "");
    w.operands.push_back(accumulators[i]);
  }
  w.ptx = "wgmma.wait_group.sync.aligned " + std::to_string(pending) + ";";
  return emitAsm(b, loc, w, n);
}

void fenceAsyncShared(OpBuilder &b, Location loc) {
  MLIRContext *ctx = b.getContext();
  NVVM::FenceProxyOp::create(
      b, loc, NVVM::ProxyKindAttr::get(ctx, NVVM::ProxyKind::async_shared),
      NVVM::SharedSpaceAttr::get(ctx, NVVM::SharedSpace::shared_cta));
}

} // namespace mlir::attn::cuda::nvvm
