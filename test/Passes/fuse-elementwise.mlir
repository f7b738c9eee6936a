// RUN: attn-opt %s --attn-fuse-elementwise --split-input-file -verify-diagnostics | FileCheck %s

// The producer's filter joins each conjunction of the consumer's (a union of
// two), placed in the consumer's dimensions (P's i, j are R's d1, d0); its
// guard, which reads a table, becomes the fused op's guard.
// CHECK-DAG: #[[$UNION0:.*]] = affine_set<(d0, d1) : (-d0 + 3 >= 0, -d0 + d1 >= 0)>
// CHECK-DAG: #[[$UNION1:.*]] = affine_set<(d0, d1) : (d0 - d1 - 2 >= 0, -d0 + d1 >= 0)>
// CHECK-LABEL: func.func @filter_and_guard
// CHECK:      attn.einsum ins(%arg0 : tensor<?x?xf32>) tables(%arg1 : tensor<?xi32>)
// CHECK-SAME:   filter = [#[[$UNION0]], #[[$UNION1]]]
// CHECK-SAME:   kind = #attn.reduction<sum>
// CHECK:      ^bb0(%[[X:.*]]: f32, %{{.*}}: index, %{{.*}}: index):
// CHECK:        %[[R:.*]] = arith.mulf %[[X]], %{{.*}} : f32
// CHECK:        attn.yield %[[R]] : f32
// CHECK:      } guard {
// CHECK:      ^bb0(%[[J:.*]]: index, %{{.*}}: index):
// CHECK:        attn.read %arg1[%[[J]]]
// CHECK-NOT:  attn.einsum
func.func @filter_and_guard(%x: tensor<?x?xf32>, %lay: tensor<?xi32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = tensor.dim %x, %c0 : tensor<?x?xf32>
  %k = tensor.dim %x, %c1 : tensor<?x?xf32>
  // P[i, j] = 3 * x[i, j] where i >= j and lay[j] != 0
  %p = attn.einsum ins(%x : tensor<?x?xf32>) tables(%lay : tensor<?xi32>) sizes(%n, %k)
      {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
       kind = #attn.reduction<none>, filter = [affine_set<(d0, d1) : (d0 - d1 >= 0)>]}
      -> tensor<?x?xf32> {
  ^bb0(%v: f32, %i: index, %j: index):
    %three = arith.constant 3.0 : f32
    %r = arith.mulf %v, %three : f32
    attn.yield %r : f32
  } guard {
  ^bb0(%i: index, %j: index):
    %l = attn.read %lay[%j] : tensor<?xi32> -> i32
    %zero = arith.constant 0 : i32
    %ne = arith.cmpi ne, %l, %zero : i32
    attn.yield %ne : i1
  }
  // R[j] = sum(i) P[i, j] where j <= 3 or j - i >= 2
  // expected-remark @+1 {{fused the elementwise einsum of line 25}}
  %r = attn.einsum ins(%p : tensor<?x?xf32>) sizes(%k, %n)
      {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>, affine_map<(d0, d1) -> (d0)>],
       kind = #attn.reduction<sum>,
       filter = [affine_set<(d0, d1) : (-d0 + 3 >= 0)>, affine_set<(d0, d1) : (d0 - d1 - 2 >= 0)>]}
      -> tensor<?xf32> {
  ^bb0(%v: f32, %j: index, %i: index):
    attn.yield %v : f32
  }
  return %r : tensor<?xf32>
}

// -----

// Inputs that read the same tensor through the same map become one.
// CHECK-LABEL: func.func @duplicate_inputs
// CHECK:      attn.einsum ins(%arg0, %arg0 : tensor<?xf32>, tensor<?xf32>)
// CHECK-SAME:   indexing_maps = [#{{.*}}, #{{.*}}, #{{.*}}]
// CHECK:      ^bb0(%[[A:.*]]: f32, %[[B:.*]]: f32, %{{.*}}: index, %{{.*}}: index):
// CHECK:        arith.mulf %[[A]], %[[A]]
// CHECK:        arith.mulf %{{.*}}, %[[B]]
func.func @duplicate_inputs(%x: tensor<?xf32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?xf32>
  %r = attn.einsum ins(%x, %x, %x : tensor<?xf32>, tensor<?xf32>, tensor<?xf32>) sizes(%n, %n)
      {indexing_maps = [affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d1)>,
                        affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>],
       kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%a: f32, %b: f32, %c: f32, %i: index, %j: index):
    %ac = arith.mulf %a, %c : f32
    %r = arith.mulf %ac, %b : f32
    attn.yield %r : f32
  }
  return %r : tensor<?xf32>
}

// -----

// Not folded: the consumer reads the producer through a computed map (h / 2
// reads each point twice), as a table, or through two inputs.
// CHECK-LABEL: func.func @not_folded
// CHECK-COUNT-6: attn.einsum
func.func @not_folded(%x: tensor<?xf32>) -> (tensor<?xf32>, tensor<?xf32>, tensor<?xf32>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?xf32>
  %p = attn.einsum ins(%x : tensor<?xf32>) sizes(%n)
      {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
       kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%v: f32, %h: index):
    %e = math.exp %v : f32
    attn.yield %e : f32
  }
  %half = attn.einsum ins(%p : tensor<?xf32>) sizes(%n)
      {indexing_maps = [affine_map<(d0) -> (d0 floordiv 2)>, affine_map<(d0) -> (d0)>],
       kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%v: f32, %h: index):
    attn.yield %v : f32
  }
  %q = attn.einsum ins(%x : tensor<?xf32>) sizes(%n)
      {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
       kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%v: f32, %h: index):
    %e = math.exp %v : f32
    attn.yield %e : f32
  }
  %gather = attn.einsum tables(%q : tensor<?xf32>) sizes(%n)
      {indexing_maps = [affine_map<(d0) -> (d0)>], kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%h: index):
    %v = attn.read %q[%h] : tensor<?xf32> -> f32
    attn.yield %v : f32
  }
  %s = attn.einsum ins(%x : tensor<?xf32>) sizes(%n)
      {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
       kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%v: f32, %h: index):
    %e = math.exp %v : f32
    attn.yield %e : f32
  }
  %twice = attn.einsum ins(%s, %s : tensor<?xf32>, tensor<?xf32>) sizes(%n, %n)
      {indexing_maps = [affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d1)>,
                        affine_map<(d0, d1) -> (d0)>],
       kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%a: f32, %b: f32, %h: index, %k: index):
    %r = arith.mulf %a, %b : f32
    attn.yield %r : f32
  }
  return %half, %gather, %twice : tensor<?xf32>, tensor<?xf32>, tensor<?xf32>
}
