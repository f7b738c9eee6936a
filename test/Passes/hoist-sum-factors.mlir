// RUN: attn-opt %s --split-input-file --attn-hoist-sum-factors --mlir-print-local-scope -verify-diagnostics | FileCheck %s

// attn-hoist-sum-factors: the factors of a sum's product that do not vary
// along its reduced dimensions leave the sum for an elementwise einsum over
// its result.

// The scores' scale and a per-row factor read from a tensor (S[m, p] =
// sum(e) Q[p, e] * K[m, e] * c * W[p]) leave; the product of Q and K
// stays, with the filter (and the read of W, so that the sum's presence
// does not change).
// CHECK-LABEL: func.func @scale
// CHECK:      %[[S:.*]] = attn.einsum ins(%arg0, %arg1, %arg2 : tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>)
// CHECK-SAME:   filter = [affine_set<(d0, d1, d2) : (d1 - d0 >= 0)>]
// CHECK-SAME:   kind = #attn.reduction<sum>
// CHECK:      ^bb0(%[[Q:.*]]: f32, %[[K:.*]]: f32, %{{.*}}: f32, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index):
// CHECK-NEXT:   %[[QK:.*]] = arith.mulf %[[Q]], %[[K]] : f32
// CHECK-NEXT:   attn.yield %[[QK]] : f32
// CHECK-NEXT: }
// CHECK:      %[[O:.*]] = attn.einsum ins(%[[S]], %arg2 : tensor<?x?xf32>, tensor<?xf32>)
// CHECK-SAME:   indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>]
// CHECK-SAME:   kind = #attn.reduction<none>
// CHECK:      ^bb0(%[[V:.*]]: f32, %[[W:.*]]: f32, %{{.*}}: index, %{{.*}}: index):
// CHECK:        %[[C:.*]] = math.rsqrt
// CHECK-NEXT:   %[[VC:.*]] = arith.mulf %[[V]], %[[C]] : f32
// CHECK-NEXT:   %[[VCW:.*]] = arith.mulf %[[VC]], %[[W]] : f32
// CHECK-NEXT:   attn.yield %[[VCW]] : f32
// CHECK:      return %[[O]]
func.func @scale(%q: tensor<?x?xf32>, %k: tensor<?x?xf32>, %w: tensor<?xf32>) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %q, %c0 : tensor<?x?xf32>
  %e = tensor.dim %q, %c1 : tensor<?x?xf32>
  %m = tensor.dim %k, %c0 : tensor<?x?xf32>
  // expected-remark @+1 {{hoisted the factors that do not vary along the reduced dimensions out of the sum}}
  %s = attn.einsum ins(%q, %k, %w : tensor<?x?xf32>, tensor<?x?xf32>, tensor<?xf32>) sizes(%m, %p, %e)
      {indexing_maps = [affine_map<(m, p, e) -> (p, e)>, affine_map<(m, p, e) -> (m, e)>,
                        affine_map<(m, p, e) -> (p)>, affine_map<(m, p, e) -> (m, p)>],
       kind = #attn.reduction<sum>,
       filter = [affine_set<(m, p, e) : (p - m >= 0)>]} -> tensor<?x?xf32> {
  ^bb0(%a: f32, %b: f32, %wv: f32, %im: index, %ip: index, %ie: index):
    %ab = arith.mulf %a, %b : f32
    %n = arith.index_cast %e : index to i64
    %nf = arith.sitofp %n : i64 to f32
    %r = math.rsqrt %nf : f32
    %abr = arith.mulf %ab, %r : f32
    %abrw = arith.mulf %abr, %wv : f32
    attn.yield %abrw : f32
  }
  return %s : tensor<?x?xf32>
}

// -----

// Nothing to hoist: every factor varies along e (a factor read at e, the
// index e itself), or the sum has no product.
// CHECK-LABEL: func.func @nothing
// CHECK-COUNT-2: attn.einsum
// CHECK-NOT:  attn.einsum
func.func @nothing(%q: tensor<?xf32>, %k: tensor<?xf32>) -> (tensor<f32>, tensor<f32>) {
  %c0 = arith.constant 0 : index
  %e = tensor.dim %q, %c0 : tensor<?xf32>
  %s = attn.einsum ins(%q, %k : tensor<?xf32>, tensor<?xf32>) sizes(%e)
      {indexing_maps = [affine_map<(e) -> (e)>, affine_map<(e) -> (e)>, affine_map<(e) -> ()>],
       kind = #attn.reduction<sum>} -> tensor<f32> {
  ^bb0(%a: f32, %b: f32, %ie: index):
    %i = arith.index_cast %ie : index to i64
    %f = arith.sitofp %i : i64 to f32
    %ab = arith.mulf %a, %b : f32
    %abf = arith.mulf %ab, %f : f32
    attn.yield %abf : f32
  }
  %t = attn.einsum ins(%q : tensor<?xf32>) sizes(%e)
      {indexing_maps = [affine_map<(e) -> (e)>, affine_map<(e) -> ()>],
       kind = #attn.reduction<sum>} -> tensor<f32> {
  ^bb0(%a: f32, %ie: index):
    attn.yield %a : f32
  }
  return %s, %t : tensor<f32>, tensor<f32>
}
