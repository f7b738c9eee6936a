// A hand-written GPU kernel for the runtime's end-to-end test: Z = X + scale
// * Y over bf16 X, Y, Z of shape [R, C] (f32 arithmetic), a 2-D grid of
// 16x16 blocks, with R and C passed as i32 parameters.
// RUN: mlir-opt %s --pass-pipeline='builtin.module(nvvm-attach-target{chip=sm_90a features=+ptx80 O=3},gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,reconcile-unrealized-casts),gpu-module-to-binary{format=isa})' | FileCheck %s
// CHECK: .target sm_90a
// CHECK-SAME: .visible .entry attn_add_bf16(
// CHECK-SAME: cvt.rn.bf16.f32
// RUN: python3 %S/make-cases.py --ptx add_bf16 > %t.ptx
// RUN: diff %t.ptx %S/cases/add_bf16/add_bf16.ptx
// RUN: %if ptxas %{ %ptxas -arch=sm_90a %t.ptx -o %t.cubin %}
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @attn_add_bf16(%x: !llvm.ptr<1>, %y: !llvm.ptr<1>, %z: !llvm.ptr<1>,
                            %scale: f32, %rows: i32, %cols: i32) kernel {
      %bx = gpu.block_id x
      %by = gpu.block_id y
      %tx = gpu.thread_id x
      %ty = gpu.thread_id y
      %c16 = arith.constant 16 : index
      %cb = arith.muli %bx, %c16 : index
      %ci = arith.addi %cb, %tx : index
      %rb = arith.muli %by, %c16 : index
      %ri = arith.addi %rb, %ty : index
      %col = arith.index_cast %ci : index to i64
      %row = arith.index_cast %ri : index to i64
      %r64 = arith.extui %rows : i32 to i64
      %c64 = arith.extui %cols : i32 to i64
      %okc = arith.cmpi ult, %col, %c64 : i64
      %okr = arith.cmpi ult, %row, %r64 : i64
      %ok = arith.andi %okc, %okr : i1
      scf.if %ok {
        %rowoff = arith.muli %row, %c64 : i64
        %i = arith.addi %rowoff, %col : i64
        %px = llvm.getelementptr %x[%i] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, bf16
        %py = llvm.getelementptr %y[%i] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, bf16
        %pz = llvm.getelementptr %z[%i] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, bf16
        %a = llvm.load %px : !llvm.ptr<1> -> bf16
        %b = llvm.load %py : !llvm.ptr<1> -> bf16
        %af = arith.extf %a : bf16 to f32
        %bf = arith.extf %b : bf16 to f32
        %sb = arith.mulf %scale, %bf : f32
        %c = arith.addf %af, %sb : f32
        %cz = arith.truncf %c : f32 to bf16
        llvm.store %cz, %pz : bf16, !llvm.ptr<1>
      }
      gpu.return
    }
  }
}
