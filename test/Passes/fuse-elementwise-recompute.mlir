// RUN: attn-opt %s --split-input-file --attn-fuse-elementwise=allow-recompute=1 --mlir-print-local-scope -verify-diagnostics | FileCheck %s

// attn-fuse-elementwise with allow-recompute: a producer also folds where its
// consumer iterates dimensions the read does not name.

// With allow-recompute, P = exp(X) folds into C although C iterates j, which
// its read of P does not name: exp then runs once per (i, j). The remark says
// along which dimension.
// CHECK-LABEL: func.func @broadcast
// CHECK:      %[[C:.*]] = attn.einsum ins(%arg0, %arg1 : tensor<?xf32>, tensor<?x?xf32>)
// CHECK-SAME:   indexing_maps = [affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>]
// CHECK-SAME:   kind = #attn.reduction<sum>
// CHECK:      ^bb0(%[[X:.*]]: f32, %[[Y:.*]]: f32, %{{.*}}: index, %{{.*}}: index):
// CHECK:        %[[P:.*]] = math.exp %[[X]] : f32
// CHECK:        arith.mulf %[[P]], %[[Y]] : f32
// CHECK-NOT:  attn.einsum
// CHECK:      return %[[C]]
func.func @broadcast(%x: tensor<?xf32>, %y: tensor<?x?xf32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = tensor.dim %y, %c0 : tensor<?x?xf32>
  %k = tensor.dim %y, %c1 : tensor<?x?xf32>
  // P[i] = exp(X[i])
  %p = attn.einsum ins(%x : tensor<?xf32>) sizes(%n)
      {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
       kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%v: f32, %i: index):
    %r = math.exp %v : f32
    attn.yield %r : f32
  }
  // C[j] = sum(i) P[i] * Y[i, j]
  // expected-remark @+1 {{fused the elementwise einsum of line 24, recomputed along d1}}
  %c = attn.einsum ins(%p, %y : tensor<?xf32>, tensor<?x?xf32>) sizes(%n, %k)
      {indexing_maps = [affine_map<(i, j) -> (i)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>],
       kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%u: f32, %v: f32, %i: index, %j: index):
    %r = arith.mulf %u, %v : f32
    attn.yield %r : f32
  }
  return %c : tensor<?xf32>
}
