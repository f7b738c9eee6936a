// RUN: attn-opt %s --split-input-file --attn-expand-scans | FileCheck %s

// attn-expand-scans: an attn.scan along t is the reduction that defines it,
//   C[x, t] = kind(r) X[x, r] where r <= t,
// one einsum whose points are independent (the CUDA one-thread-per-point
// path loops over r <= t for each point).

// C[h, t] = cumsum(t) X[h, t]
// CHECK-DAG: #[[IN:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[OUT:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// r <= t, as t - r >= 0
// CHECK-DAG: #[[PREFIX:.*]] = affine_set<(d0, d1, d2) : (d1 - d2 >= 0)>
// CHECK-LABEL: func.func @cumsum
// CHECK-SAME: (%[[X:.*]]: tensor<?x?xf32>)
// CHECK-DAG: %[[H:.*]] = tensor.dim %[[X]], %c0
// CHECK-DAG: %[[T:.*]] = tensor.dim %[[X]], %c1
// CHECK:     %[[C:.*]] = attn.einsum ins(%[[X]] : tensor<?x?xf32>) sizes(%[[H]], %[[T]], %[[T]])
// CHECK-SAME:  attn.indices = ["d0", "d1", "d1_prefix"], filter = [#[[PREFIX]]], indexing_maps = [#[[IN]], #[[OUT]]], kind = #attn.reduction<sum>
// CHECK-NEXT: ^bb0(%[[V:.*]]: f32, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index):
// CHECK-NEXT:   attn.yield %[[V]] : f32
// CHECK-NOT: attn.scan
// CHECK:     return %[[C]]
func.func @cumsum(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %c = attn.scan %x {dim = 1 : i64, kind = #attn.reduction<sum>} : tensor<?x?xf32> -> tensor<?x?xf32>
  return %c : tensor<?x?xf32>
}

// -----

// A static extent is a constant size; the kind carries over.
// CHECK-DAG: #[[PREFIX0:.*]] = affine_set<(d0, d1, d2) : (d0 - d2 >= 0)>
// CHECK-LABEL: func.func @cummax_static
// CHECK: %[[C8:.*]] = arith.constant 8 : index
// CHECK: %[[C3:.*]] = arith.constant 3 : index
// CHECK: attn.einsum ins(%{{.*}} : tensor<8x3xf64>) sizes(%[[C8]], %[[C3]], %[[C8]])
// CHECK-SAME: filter = [#[[PREFIX0]]]
// CHECK-SAME: kind = #attn.reduction<max>
func.func @cummax_static(%x: tensor<8x3xf64>) -> tensor<8x3xf64> {
  %c = attn.scan %x {dim = 0 : i64, kind = #attn.reduction<max>} : tensor<8x3xf64> -> tensor<8x3xf64>
  return %c : tensor<8x3xf64>
}
