// RUN: attn-opt %s --split-input-file --attn-split-reduction=workers=4 -verify-diagnostics --mlir-print-local-scope | FileCheck %s
// RUN: attn-opt %s --split-input-file --attn-split-reduction=parallelism=128 -verify-diagnostics --mlir-print-local-scope | FileCheck %s --check-prefix=MODEL

// attn-split-reduction on hand-written attn.online ops: the tile maxima
// TM[h, m1] and partial sums TS[h, m1], TV[h, f, m1] of a decode step (one
// query per head h) are combined over the NT tiles m1. K workers take
// contiguous ranges of C = ceil(NT / K) tiles: m1 = w * C + j.

// CHECK-LABEL: func.func @decode
// CHECK: %[[H:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[NT:.*]] = tensor.dim %arg0, %c1
// CHECK: %[[F:.*]] = tensor.dim %arg2, %c1
// K = 4 workers of C = ceil(NT / 4) tiles each.
// CHECK: %[[K:.*]] = arith.constant 4 : index
// CHECK: %[[C:.*]] = arith.ceildivsi %[[NT]], %[[K]] : index
// Per worker w: M_w[h] = max(j) TM[h, w * C + j], the sums rescaled to it;
// the last worker's range stops at NT (w * C + j <= NT - 1).
// CHECK: %[[WM:.*]], %[[WS:.*]]:2 = attn.online ins(%arg0, %arg1, %arg2 : tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?x?xf32>) sizes(%[[H]], %[[F]], %[[K]], %[[C]]) symbols(%[[C]], %[[NT]])
// CHECK-SAME: attn.indices = ["h", "f", "mw", "m1"], attn.split
// CHECK-SAME: filter = [affine_set<(d0, d1, d2, d3)[s0, s1] : (-(d2 * s0 + d3) + s1 - 1 >= 0)>]
// CHECK-SAME: indexing_maps = [affine_map<(d0, d1, d2, d3)[s0, s1] -> (d0, d2 * s0 + d3)>, affine_map<(d0, d1, d2, d3)[s0, s1] -> (d0, d2 * s0 + d3)>, affine_map<(d0, d1, d2, d3)[s0, s1] -> (d0, d1, d2 * s0 + d3)>, affine_map<(d0, d1, d2, d3)[s0, s1] -> (d0, d2)>, affine_map<(d0, d1, d2, d3)[s0, s1] -> (d0, d2)>, affine_map<(d0, d1, d2, d3)[s0, s1] -> (d0, d1, d2)>]
// CHECK-SAME: rescale = [-1.000000e+00, -1.000000e+00]} -> tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x?x4xf32>
// Across workers, the same monoid: M[h] = max(w) M_w[h], each partial sum
// rescaled by exp(-1 * (M - M_w)).
// CHECK: %[[M:.*]], %[[S:.*]]:2 = attn.online ins(%[[WM]], %[[WS]]#0, %[[WS]]#1 : tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x?x4xf32>) sizes(%[[H]], %[[F]], %[[K]])
// CHECK-SAME: attn.indices = ["h", "f", "mw"], attn.split
// CHECK-SAME: rescale = [-1.000000e+00, -1.000000e+00]} -> tensor<?xf32>, tensor<?xf32>, tensor<?x?xf32>
// CHECK: return %[[S]]#0, %[[S]]#1

// The cost model, at run time: rows = H, K = max(1, min(ceil(128 / max(rows, 1)), NT)).
// MODEL-LABEL: func.func @decode
// MODEL: %[[H:.*]] = tensor.dim %arg0, %c0
// MODEL: %[[NT:.*]] = tensor.dim %arg0, %c1
// MODEL: %[[ROWS:.*]] = arith.muli %{{.*}}, %[[H]] : index
// MODEL: %[[ONE:.*]] = arith.constant 1 : index
// MODEL: %[[R:.*]] = arith.maxsi %[[ROWS]], %[[ONE]] : index
// MODEL: %[[WANT:.*]] = arith.ceildivsi %c128, %[[R]] : index
// MODEL: %[[MIN:.*]] = arith.minsi %[[WANT]], %[[NT]] : index
// MODEL: %[[K:.*]] = arith.maxsi %[[ONE]], %[[MIN]] : index
// MODEL: %[[C:.*]] = arith.ceildivsi %[[NT]], %[[K]] : index
// MODEL: attn.online {{.*}} sizes(%{{.*}}, %{{.*}}, %[[K]], %[[C]]) symbols(%[[C]], %[[NT]])
// MODEL-SAME: -> tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?x?xf32>
// MODEL: attn.online {{.*}} sizes(%{{.*}}, %{{.*}}, %[[K]])
func.func @decode(%tm: tensor<?x?xf32>, %ts: tensor<?x?xf32>, %tv: tensor<?x?x?xf32>) -> (tensor<?xf32>, tensor<?x?xf32>) attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %h = tensor.dim %tm, %c0 : tensor<?x?xf32>
  %nt = tensor.dim %tm, %c1 : tensor<?x?xf32>
  %f = tensor.dim %tv, %c1 : tensor<?x?x?xf32>
  // expected-remark @+1 {{split-reduction: rank m1 across}}
  %max, %sums:2 = attn.online ins(%tm, %ts, %tv : tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?x?xf32>) sizes(%h, %f, %nt) {attn.indices = ["h", "f", "m1"], indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0)>, affine_map<(d0, d1, d2) -> (d0)>, affine_map<(d0, d1, d2) -> (d0, d1)>], rescale = [-1.0, -1.0]} -> tensor<?xf32>, tensor<?xf32>, tensor<?x?xf32>
  return %sums#0, %sums#1 : tensor<?xf32>, tensor<?x?xf32>
}

// -----

// A filtered combine (tiles past a prefix P of kept tiles dropped,
// m1 <= P - 1): the set is restated in w * C + j and intersected with the
// last worker's bound.

// CHECK-LABEL: func.func @filtered
// CHECK: attn.online
// CHECK-SAME: filter = [affine_set<(d0, d1, d2)[s0, s1, s2] : (-(d1 * s1 + d2) + s0 - 1 >= 0, -(d1 * s1 + d2) + s2 - 1 >= 0)>]
// CHECK: attn.online
// CHECK-NOT: filter
// CHECK: return
func.func @filtered(%tm: tensor<?x?xf32>, %ts: tensor<?x?xf32>, %kept: index) -> tensor<?xf32> attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %h = tensor.dim %tm, %c0 : tensor<?x?xf32>
  %nt = tensor.dim %tm, %c1 : tensor<?x?xf32>
  // expected-remark @+1 {{split-reduction: rank m1 across}}
  %max, %sum = attn.online ins(%tm, %ts : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%h, %nt) symbols(%kept) {attn.indices = ["h", "m1"], filter = [affine_set<(d0, d1)[s0] : (s0 - d1 - 1 >= 0)>], indexing_maps = [affine_map<(d0, d1)[s0] -> (d0, d1)>, affine_map<(d0, d1)[s0] -> (d0, d1)>, affine_map<(d0, d1)[s0] -> (d0)>, affine_map<(d0, d1)[s0] -> (d0)>], rescale = [-1.0]} -> tensor<?xf32>, tensor<?xf32>
  return %sum : tensor<?xf32>
}

// -----

// The combine steps this pass made (attn.split) are not split again.

// CHECK-LABEL: func.func @already_split
// CHECK-COUNT-1: attn.online
// CHECK-NOT: attn.online
func.func @already_split(%tm: tensor<?x?xf32>, %ts: tensor<?x?xf32>) -> tensor<?xf32> attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %h = tensor.dim %tm, %c0 : tensor<?x?xf32>
  %k = tensor.dim %tm, %c1 : tensor<?x?xf32>
  %max, %sum = attn.online ins(%tm, %ts : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%h, %k) {attn.indices = ["h", "mw"], attn.split, indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>], rescale = [-1.0]} -> tensor<?xf32>, tensor<?xf32>
  return %sum : tensor<?xf32>
}

// -----

// Two reduced dimensions (heads folded into the combine): which one the
// workers would share is not defined.

// CHECK-LABEL: func.func @two_reduced_dimensions
// CHECK-COUNT-1: attn.online
// CHECK-NOT: attn.online
func.func @two_reduced_dimensions(%tm: tensor<?x?x?xf32>, %ts: tensor<?x?x?xf32>) -> tensor<?xf32> attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %b = tensor.dim %tm, %c0 : tensor<?x?x?xf32>
  %h = tensor.dim %tm, %c1 : tensor<?x?x?xf32>
  %nt = tensor.dim %tm, %c2 : tensor<?x?x?xf32>
  // expected-remark @+1 {{split-reduction: not split: it reduces several dimensions}}
  %max, %sum = attn.online ins(%tm, %ts : tensor<?x?x?xf32>, tensor<?x?x?xf32>) sizes(%b, %h, %nt) {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0)>, affine_map<(d0, d1, d2) -> (d0)>], rescale = [-1.0]} -> tensor<?xf32>, tensor<?xf32>
  return %sum : tensor<?xf32>
}
