// A hand-written GPU kernel for the runtime's end-to-end test of run-time
// errors: O[b, n, e] = X[b, I[b, n], e] over X: f32[B, M, E], I: i32[B, N],
// O: f32[B, N, E]; an index outside [0, M) sets the error code to 1 (an
// atomic max) and writes 0. Grid [ceildiv(N*E, 128), B], block [128].
// RUN: mlir-opt %s --pass-pipeline='builtin.module(nvvm-attach-target{chip=sm_90a features=+ptx80 O=3},gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm,reconcile-unrealized-casts),gpu-module-to-binary{format=isa})' | FileCheck %s
// CHECK: .target sm_90a
// CHECK-SAME: .visible .entry attn_gather(
// CHECK-SAME: atom.global.max.s32
// RUN: python3 %S/make-cases.py --ptx gather > %t.ptx
// RUN: diff %t.ptx %S/cases/gather/gather.ptx
// RUN: %if ptxas %{ %ptxas -arch=sm_90a %t.ptx -o %t.cubin %}
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @attn_gather(%x: !llvm.ptr<1>, %idx: !llvm.ptr<1>, %o: !llvm.ptr<1>,
                          %err: !llvm.ptr<1>, %m: i64, %n: i64, %e: i64) kernel {
      %bx = gpu.block_id x
      %by = gpu.block_id y
      %bdim = gpu.block_dim x
      %tx = gpu.thread_id x
      %base = arith.muli %bx, %bdim : index
      %ji = arith.addi %base, %tx : index
      %j = arith.index_cast %ji : index to i64
      %b = arith.index_cast %by : index to i64
      %ne = arith.muli %n, %e : i64
      %ok = arith.cmpi ult, %j, %ne : i64
      scf.if %ok {
        %nn = arith.divui %j, %e : i64
        %ee = arith.remui %j, %e : i64
        %bn = arith.muli %b, %n : i64
        %ii = arith.addi %bn, %nn : i64
        %pi = llvm.getelementptr %idx[%ii] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, i32
        %mi32 = llvm.load %pi : !llvm.ptr<1> -> i32
        %mi = arith.extsi %mi32 : i32 to i64
        %zero = arith.constant 0 : i64
        %lo = arith.cmpi sge, %mi, %zero : i64
        %hi = arith.cmpi slt, %mi, %m : i64
        %inside = arith.andi %lo, %hi : i1
        %oi = arith.addi %bn, %nn : i64
        %oie = arith.muli %oi, %e : i64
        %oidx = arith.addi %oie, %ee : i64
        %po = llvm.getelementptr %o[%oidx] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, f32
        scf.if %inside {
          %bm = arith.muli %b, %m : i64
          %xm = arith.addi %bm, %mi : i64
          %xme = arith.muli %xm, %e : i64
          %xidx = arith.addi %xme, %ee : i64
          %px = llvm.getelementptr %x[%xidx] : (!llvm.ptr<1>, i64) -> !llvm.ptr<1>, f32
          %v = llvm.load %px : !llvm.ptr<1> -> f32
          llvm.store %v, %po : f32, !llvm.ptr<1>
        } else {
          %one = arith.constant 1 : i32
          %old = llvm.atomicrmw max %err, %one monotonic : !llvm.ptr<1>, i32
          %fz = arith.constant 0.0 : f32
          llvm.store %fz, %po : f32, !llvm.ptr<1>
        }
      }
      gpu.return
    }
  }
}
