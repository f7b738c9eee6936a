// A hand-written GPU kernel for the runtime's end-to-end test (not a codegen
// output): Z = X + scale * Y over X, Y, Z: f32[N, 4], one thread an element.
// make-cases.py turns it into cases/add_f32/add_f32.ptx; the manifest beside
// it is written by hand as the CUDA code generator would write it.
// RUN: mlir-opt %s --pass-pipeline='builtin.module(nvvm-attach-target{chip=sm_90a features=+ptx80 O=3},gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,reconcile-unrealized-casts),gpu-module-to-binary{format=isa})' | FileCheck %s
// CHECK: .target sm_90a
// CHECK-SAME: .visible .entry attn_add_f32(
// CHECK-SAME: .param .u64 .ptr .global .align 1 attn_add_f32_param_0,
// CHECK-SAME: .param .f32 attn_add_f32_param_3,
// CHECK-SAME: .param .u64 attn_add_f32_param_4
// The checked-in PTX is what this file compiles to, and ptxas accepts it.
// RUN: python3 %S/make-cases.py --ptx add_f32 > %t.ptx
// RUN: diff %t.ptx %S/cases/add_f32/add_f32.ptx
// RUN: %if ptxas %{ %ptxas -arch=sm_90a %t.ptx -o %t.cubin %}
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @attn_add_f32(%x: !llvm.ptr<1>, %y: !llvm.ptr<1>, %z: !llvm.ptr<1>,
                           %scale: f32, %n: i64) kernel {
      %bid = gpu.block_id x
      %bdim = gpu.block_dim x
      %tid = gpu.thread_id x
      %base = arith.muli %bid, %bdim : index
      %ii = arith.addi %base, %tid : index
      %i = arith.index_cast %ii : index to i64
      %c4 = arith.constant 4 : i64
      %total = arith.muli %n, %c4 : i64
      %ok = arith.cmpi ult, %i, %total : i64
      scf.if %ok {
        %px = llvm.getelementptr %x[%i] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, f32
        %py = llvm.getelementptr %y[%i] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, f32
        %pz = llvm.getelementptr %z[%i] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, f32
        %a = llvm.load %px : !llvm.ptr<1> -> f32
        %b = llvm.load %py : !llvm.ptr<1> -> f32
        %sb = arith.mulf %scale, %b : f32
        %c = arith.addf %a, %sb : f32
        llvm.store %c, %pz : f32, !llvm.ptr<1>
      }
      gpu.return
    }
  }
}
