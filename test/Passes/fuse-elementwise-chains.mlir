// RUN: attn-opt %s --split-input-file --attn-fuse-elementwise --mlir-print-local-scope -verify-diagnostics | FileCheck %s

// attn-fuse-elementwise: chains of elementwise einsums fold into their one
// consumer; a producer whose body would run more than once per point, or that
// two einsums read, stays.

// A chain folds to a fixpoint: B = exp(A) into C, then A = relu(X) into the
// result, one einsum that computes sum(i) 2 * exp(relu(X[i])). Each fold is
// a remark on the consumer naming the producer's line.
// CHECK-LABEL: func.func @chain
// CHECK:      %[[C:.*]] = attn.einsum ins(%arg0 : tensor<?xf32>)
// CHECK-SAME:   kind = #attn.reduction<sum>
// CHECK:      ^bb0(%[[X:.*]]: f32, %{{.*}}: index):
// relu(X[i])
// CHECK:        %[[A:.*]] = arith.maximumf %[[X]], %{{.*}} : f32
// exp(A[i])
// CHECK-NEXT:   %[[B:.*]] = math.exp %[[A]] : f32
// 2 * B[i]
// CHECK:        %[[R:.*]] = arith.mulf %[[B]], %{{.*}} : f32
// CHECK-NEXT:   attn.yield %[[R]] : f32
// CHECK-NOT:  attn.einsum
// CHECK:      return %[[C]]
func.func @chain(%x: tensor<?xf32>) -> tensor<f32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?xf32>
  // A[i] = relu(X[i])
  %a = attn.einsum ins(%x : tensor<?xf32>) sizes(%n)
      {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
       kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%v: f32, %i: index):
    %zero = arith.constant 0.0 : f32
    %r = arith.maximumf %v, %zero : f32
    attn.yield %r : f32
  }
  // B[i] = exp(A[i])
  %b = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
      {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
       kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%v: f32, %i: index):
    %r = math.exp %v : f32
    attn.yield %r : f32
  }
  // C = sum(i) 2 * B[i]
  // expected-remark @+2 {{fused the elementwise einsum of line 27}}
  // expected-remark @+1 {{fused the elementwise einsum of line 36}}
  %c = attn.einsum ins(%b : tensor<?xf32>) sizes(%n)
      {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> ()>],
       kind = #attn.reduction<sum>} -> tensor<f32> {
  ^bb0(%v: f32, %i: index):
    %two = arith.constant 2.0 : f32
    %r = arith.mulf %v, %two : f32
    attn.yield %r : f32
  }
  return %c : tensor<f32>
}

// -----

// C iterates j, which its read of P does not name: folding would run exp
// once per (i, j) instead of once per i, so P stays (see
// fuse-elementwise-recompute.mlir for allow-recompute).
// CHECK-LABEL: func.func @broadcast
// CHECK:      %[[P:.*]] = attn.einsum ins(%arg0 : tensor<?xf32>)
// CHECK:        math.exp
// CHECK:      attn.einsum ins(%[[P]], %arg1 : tensor<?xf32>, tensor<?x?xf32>)
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
  %c = attn.einsum ins(%p, %y : tensor<?xf32>, tensor<?x?xf32>) sizes(%n, %k)
      {indexing_maps = [affine_map<(i, j) -> (i)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (j)>],
       kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%u: f32, %v: f32, %i: index, %j: index):
    %r = arith.mulf %u, %v : f32
    attn.yield %r : f32
  }
  return %c : tensor<?xf32>
}

// -----

// P has two consumers: folding it into both would compute exp twice.
// CHECK-LABEL: func.func @two_uses
// CHECK:      %[[P:.*]] = attn.einsum ins(%arg0 : tensor<?xf32>)
// CHECK:      attn.einsum ins(%[[P]] : tensor<?xf32>)
// CHECK:      attn.einsum ins(%[[P]] : tensor<?xf32>)
func.func @two_uses(%x: tensor<?xf32>) -> (tensor<f32>, tensor<f32>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?xf32>
  // P[i] = exp(X[i])
  %p = attn.einsum ins(%x : tensor<?xf32>) sizes(%n)
      {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
       kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%v: f32, %i: index):
    %r = math.exp %v : f32
    attn.yield %r : f32
  }
  // S = sum(i) P[i]
  %s = attn.einsum ins(%p : tensor<?xf32>) sizes(%n)
      {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> ()>],
       kind = #attn.reduction<sum>} -> tensor<f32> {
  ^bb0(%v: f32, %i: index):
    attn.yield %v : f32
  }
  // M = max(i) P[i]
  %m = attn.einsum ins(%p : tensor<?xf32>) sizes(%n)
      {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> ()>],
       kind = #attn.reduction<max>} -> tensor<f32> {
  ^bb0(%v: f32, %i: index):
    attn.yield %v : f32
  }
  return %s, %m : tensor<f32>, tensor<f32>
}
