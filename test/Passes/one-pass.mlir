// RUN: attn-opt %s --split-input-file --attn-one-pass=tile-size=16 -verify-diagnostics --mlir-print-local-scope | FileCheck %s

// attn-one-pass on hand-written cascades: S[p, m] is the score, the maximum
// GM[p] = max(m) S, SN = exp(S - GM), the sums SD = sum(m) SN and
// SNV[p, f] = sum(m) SN * V. The keys m are tiled, m = m1 * 16 + m0.

// The tiling is in the maps (m1 * 16 + m0), not recorded on the kernel.
// CHECK-LABEL: func.func @softmax
// CHECK-SAME: attributes {attn.kernel} {
// CHECK: %[[P:.*]] = tensor.dim %arg0, %c0
// CHECK: %[[M:.*]] = tensor.dim %arg0, %c1
// CHECK: %[[F:.*]] = tensor.dim %arg1, %c1
// NT = ceil(M / 16) tiles; M is not known, so the last tile is bounded by m < M.
// CHECK: %[[T:.*]] = arith.constant 16 : index
// CHECK: %[[NT:.*]] = arith.ceildivsi %[[M]], %[[T]] : index
// tileMax[p, m1] = max(m0) S[p, m1 * 16 + m0]
// CHECK: %[[TM:.*]] = attn.einsum ins(%arg0 : tensor<?x?xf32>) sizes(%[[P]], %[[NT]], %[[T]]) symbols(%[[M]])
// CHECK-SAME: attn.indices = ["p", "m1", "m0"]
// CHECK-SAME: filter = [affine_set<(d0, d1, d2)[s0] : (-(d1 * 16 + d2) + s0 - 1 >= 0)>]
// CHECK-SAME: indexing_maps = [affine_map<(d0, d1, d2)[s0] -> (d0, d1 * 16 + d2)>, affine_map<(d0, d1, d2)[s0] -> (d0, d1)>], kind = #attn.reduction<max>} -> tensor<?x?xf32>
// SN[p, m1, m0] = exp(S[p, m1 * 16 + m0] - tileMax[p, m1]): relative to the tile's maximum
// CHECK: %[[SN:.*]] = attn.einsum ins(%arg0, %[[TM]] : tensor<?x?xf32>, tensor<?x?xf32>)
// CHECK-SAME: affine_map<(d0, d1, d2)[s0] -> (d0, d1 * 16 + d2)>, affine_map<(d0, d1, d2)[s0] -> (d0, d1)>, affine_map<(d0, d1, d2)[s0] -> (d0, d1, d2)>], kind = #attn.reduction<none>} -> tensor<?x?x16xf32>
// CHECK: arith.subf
// CHECK: math.exp
// Partial sums per tile: SD'[p, m1] = sum(m0) SN, SNV'[p, f, m1] = sum(m0) SN * V
// CHECK: %[[SD:.*]] = attn.einsum ins(%[[SN]] : tensor<?x?x16xf32>)
// CHECK-SAME: kind = #attn.reduction<sum>} -> tensor<?x?xf32>
// CHECK: %[[SNV:.*]] = attn.einsum ins(%[[SN]], %arg1 : tensor<?x?x16xf32>, tensor<?x?xf32>) sizes(%[[P]], %[[F]], %[[NT]], %[[T]])
// CHECK-SAME: affine_map<(d0, d1, d2, d3)[s0] -> (d2 * 16 + d3, d1)>, affine_map<(d0, d1, d2, d3)[s0] -> (d0, d1, d2)>], kind = #attn.reduction<sum>} -> tensor<?x?x?xf32>
// Across the tiles m1: newMax = max(oldMax, tileMax[p, m1]); each sum is
// rescaled by exp(-1 * (newMax - oldMax)) (its body is h * exp(-1 * GM)).
// CHECK: %[[MAX:.*]], %[[SUMS:.*]]:2 = attn.online ins(%[[TM]], %[[SD]], %[[SNV]] : tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?x?xf32>) sizes(%[[P]], %[[F]], %[[NT]])
// CHECK-SAME: attn.indices = ["p", "f", "m1"]
// CHECK-SAME: rescale = [-1.000000e+00, -1.000000e+00]} -> tensor<?xf32>, tensor<?xf32>, tensor<?x?xf32>
// O = SNV / SD reads the combined sums.
// CHECK: attn.einsum ins(%[[SUMS]]#1, %[[SUMS]]#0
// CHECK-NOT: attn.einsum
// CHECK: return
func.func @softmax(%s: tensor<?x?xf32>, %v: tensor<?x?xf32>) -> tensor<?x?xf32> attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %s, %c0 : tensor<?x?xf32>
  %m = tensor.dim %s, %c1 : tensor<?x?xf32>
  %f = tensor.dim %v, %c1 : tensor<?x?xf32>
  // expected-remark @+1 {{one-pass: rank m in one pass (tiles of 16): a running maximum and 2 rescaled sums (exp(-1 * max), exp(-1 * max))}}
  %gm = attn.einsum ins(%s : tensor<?x?xf32>) sizes(%p, %m) {attn.indices = ["p", "m"], indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], kind = #attn.reduction<max>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  %sn = attn.einsum ins(%s, %gm : tensor<?x?xf32>, tensor<?xf32>) sizes(%p, %m) {attn.indices = ["p", "m"], indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], kind = #attn.reduction<none>} -> tensor<?x?xf32> {
  ^bb0(%x: f32, %g: f32, %i: index, %j: index):
    %d = arith.subf %x, %g : f32
    %e = math.exp %d : f32
    attn.yield %e : f32
  }
  %sd = attn.einsum ins(%sn : tensor<?x?xf32>) sizes(%p, %m) {attn.indices = ["p", "m"], indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  %snv = attn.einsum ins(%sn, %v : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%p, %f, %m) {attn.indices = ["p", "f", "m"], indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], kind = #attn.reduction<sum>} -> tensor<?x?xf32> {
  ^bb0(%x: f32, %y: f32, %i: index, %j: index, %k: index):
    %e = arith.mulf %x, %y : f32
    attn.yield %e : f32
  }
  %o = attn.einsum ins(%snv, %sd : tensor<?x?xf32>, tensor<?xf32>) sizes(%p, %f) {attn.indices = ["p", "f"], indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], kind = #attn.reduction<none>} -> tensor<?x?xf32> {
  ^bb0(%x: f32, %y: f32, %i: index, %j: index):
    %e = arith.divf %x, %y : f32
    attn.yield %e : f32
  }
  return %o : tensor<?x?xf32>
}

// -----

// A scaled exponent, exp(0.5 * (S - GM)) = h * exp(-0.5 * GM): the
// correction is exp(-0.5 * (newMax - oldMax)). M = 64 is 4 whole tiles: a
// constant tile count and no bound on the last tile.

// CHECK-LABEL: func.func @scaled_exponent_whole_tiles
// CHECK: %[[NT:.*]] = arith.constant 4 : index
// CHECK: %[[TM:.*]] = attn.einsum ins(%arg0 : tensor<?x64xf32>) sizes(%{{.*}}, %[[NT]], %c16) {attn.indices = ["p", "m1", "m0"], indexing_maps
// CHECK-SAME: kind = #attn.reduction<max>} -> tensor<?x4xf32>
// CHECK: attn.einsum ins(%arg0, %[[TM]]
// CHECK-SAME: -> tensor<?x4x16xf32>
// CHECK: %[[SD:.*]] = attn.einsum
// CHECK-SAME: kind = #attn.reduction<sum>} -> tensor<?x4xf32>
// CHECK: %[[MAX:.*]], %[[SUM:.*]] = attn.online ins(%[[TM]], %[[SD]] : tensor<?x4xf32>, tensor<?x4xf32>) sizes(%{{.*}}, %[[NT]])
// CHECK-SAME: rescale = [-5.000000e-01]} -> tensor<?xf32>, tensor<?xf32>
// CHECK: return %[[SUM]]
func.func @scaled_exponent_whole_tiles(%s: tensor<?x64xf32>) -> tensor<?xf32> attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %m = arith.constant 64 : index
  %half = arith.constant 0.5 : f32
  %p = tensor.dim %s, %c0 : tensor<?x64xf32>
  // expected-remark @+1 {{one-pass: rank m in one pass (tiles of 16): a running maximum and 1 rescaled sum (exp(-0.5 * max))}}
  %gm = attn.einsum ins(%s : tensor<?x64xf32>) sizes(%p, %m) {attn.indices = ["p", "m"], indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], kind = #attn.reduction<max>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  %sn = attn.einsum ins(%s, %gm : tensor<?x64xf32>, tensor<?xf32>) sizes(%p, %m) {attn.indices = ["p", "m"], indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], kind = #attn.reduction<none>} -> tensor<?x64xf32> {
  ^bb0(%x: f32, %g: f32, %i: index, %j: index):
    %d = arith.subf %x, %g : f32
    %h = arith.mulf %d, %half : f32
    %e = math.exp %h : f32
    attn.yield %e : f32
  }
  %sd = attn.einsum ins(%sn : tensor<?x64xf32>) sizes(%p, %m) {attn.indices = ["p", "m"], indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  return %sd : tensor<?xf32>
}

// -----

// A causal filter m <= p and M = 40, not a multiple of 16: every filter set
// is restated over (m1, m0) and intersected with the bound of the last,
// short tile, m1 * 16 + m0 <= 39.

// CHECK-LABEL: func.func @causal_short_last_tile
// CHECK: %[[NT:.*]] = arith.constant 3 : index
// CHECK: attn.einsum ins(%arg0 : tensor<?x40xf32>) sizes(%{{.*}}, %[[NT]], %c16)
// CHECK-SAME: filter = [affine_set<(d0, d1, d2) : (d0 - (d1 * 16 + d2) >= 0, -(d1 * 16 + d2) + 39 >= 0)>]
// CHECK-SAME: kind = #attn.reduction<max>
// CHECK: attn.einsum
// CHECK-SAME: filter = [affine_set<(d0, d1, d2) : (d0 - (d1 * 16 + d2) >= 0, -(d1 * 16 + d2) + 39 >= 0)>]
// CHECK-SAME: kind = #attn.reduction<none>
// The sum had no filter: the bound alone.
// CHECK: attn.einsum
// CHECK-SAME: filter = [affine_set<(d0, d1, d2) : (-(d1 * 16 + d2) + 39 >= 0)>]
// CHECK-SAME: kind = #attn.reduction<sum>
// CHECK: attn.online
func.func @causal_short_last_tile(%s: tensor<?x40xf32>) -> tensor<?xf32> attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %m = arith.constant 40 : index
  %p = tensor.dim %s, %c0 : tensor<?x40xf32>
  // expected-remark @+1 {{one-pass: rank m in one pass (tiles of 16)}}
  %gm = attn.einsum ins(%s : tensor<?x40xf32>) sizes(%p, %m) {attn.indices = ["p", "m"], filter = [affine_set<(d0, d1) : (d0 - d1 >= 0)>], indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], kind = #attn.reduction<max>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  %sn = attn.einsum ins(%s, %gm : tensor<?x40xf32>, tensor<?xf32>) sizes(%p, %m) {attn.indices = ["p", "m"], filter = [affine_set<(d0, d1) : (d0 - d1 >= 0)>], indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], kind = #attn.reduction<none>} -> tensor<?x40xf32> {
  ^bb0(%x: f32, %g: f32, %i: index, %j: index):
    %d = arith.subf %x, %g : f32
    %e = math.exp %d : f32
    attn.yield %e : f32
  }
  %sd = attn.einsum ins(%sn : tensor<?x40xf32>) sizes(%p, %m) {attn.indices = ["p", "m"], indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  return %sd : tensor<?xf32>
}

// -----

// A plain maximum: no sum reads it during a pass, nothing to rewrite.

// CHECK-LABEL: func.func @plain_maximum
// CHECK: kind = #attn.reduction<max>
// CHECK-NOT: attn.online
func.func @plain_maximum(%s: tensor<?x?xf32>) -> tensor<?xf32> attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %s, %c0 : tensor<?x?xf32>
  %m = tensor.dim %s, %c1 : tensor<?x?xf32>
  %gm = attn.einsum ins(%s : tensor<?x?xf32>) sizes(%p, %m) {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], kind = #attn.reduction<max>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  return %gm : tensor<?xf32>
}

// -----

// exp(tanh(S - GM)) is no h * exp(c * GM): a partial sum against a partial
// maximum has no correction factor.

// CHECK-LABEL: func.func @tanh_of_the_maximum
// CHECK: math.tanh
// CHECK-NOT: attn.online
func.func @tanh_of_the_maximum(%s: tensor<?x?xf32>) -> tensor<?xf32> attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %s, %c0 : tensor<?x?xf32>
  %m = tensor.dim %s, %c1 : tensor<?x?xf32>
  // expected-remark @+1 {{one-pass: not rewritten: math.tanh of a value that depends on the maximum has no rescaling correction}}
  %gm = attn.einsum ins(%s : tensor<?x?xf32>) sizes(%p, %m) {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], kind = #attn.reduction<max>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  %sn = attn.einsum ins(%s, %gm : tensor<?x?xf32>, tensor<?xf32>) sizes(%p, %m) {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], kind = #attn.reduction<none>} -> tensor<?x?xf32> {
  ^bb0(%x: f32, %g: f32, %i: index, %j: index):
    %d = arith.subf %x, %g : f32
    %t = math.tanh %d : f32
    %e = math.exp %t : f32
    attn.yield %e : f32
  }
  %sd = attn.einsum ins(%sn : tensor<?x?xf32>) sizes(%p, %m) {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  return %sd : tensor<?xf32>
}

// -----

// sum(m) (S - GM) is affine in GM: its partial sums differ by an added
// term, not a factor.

// CHECK-LABEL: func.func @sum_affine_in_the_maximum
// CHECK-NOT: attn.online
func.func @sum_affine_in_the_maximum(%s: tensor<?x?xf32>) -> tensor<?xf32> attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %s, %c0 : tensor<?x?xf32>
  %m = tensor.dim %s, %c1 : tensor<?x?xf32>
  // expected-remark @+1 {{one-pass: not rewritten: a sum is affine in the maximum, not exponential: no multiplicative correction}}
  %gm = attn.einsum ins(%s : tensor<?x?xf32>) sizes(%p, %m) {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], kind = #attn.reduction<max>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  %sd = attn.einsum ins(%s, %gm : tensor<?x?xf32>, tensor<?xf32>) sizes(%p, %m) {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>], kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%x: f32, %g: f32, %i: index, %j: index):
    %d = arith.subf %x, %g : f32
    attn.yield %d : f32
  }
  return %sd : tensor<?xf32>
}

// -----

// exp(GM - S) grows with the maximum: the correction exp(newMax - oldMax)
// is unbounded.

// CHECK-LABEL: func.func @sum_grows_with_the_maximum
// CHECK-NOT: attn.online
func.func @sum_grows_with_the_maximum(%s: tensor<?x?xf32>) -> tensor<?xf32> attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %s, %c0 : tensor<?x?xf32>
  %m = tensor.dim %s, %c1 : tensor<?x?xf32>
  // expected-remark @+1 {{one-pass: not rewritten: a sum grows with the maximum (exp(1.000000 * max)): no bounded correction}}
  %gm = attn.einsum ins(%s : tensor<?x?xf32>) sizes(%p, %m) {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], kind = #attn.reduction<max>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  %sd = attn.einsum ins(%s, %gm : tensor<?x?xf32>, tensor<?xf32>) sizes(%p, %m) {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>], kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%x: f32, %g: f32, %i: index, %j: index):
    %d = arith.subf %g, %x : f32
    %e = math.exp %d : f32
    attn.yield %e : f32
  }
  return %sd : tensor<?xf32>
}

// -----

// O = sum(m) SN * V / SD divides inside the sum: it needs SD's final value
// before its own pass, so the two sums cannot share one traversal.

// CHECK-LABEL: func.func @sum_reads_another_sum
// CHECK-NOT: attn.online
func.func @sum_reads_another_sum(%s: tensor<?x?xf32>, %v: tensor<?xf32>) -> tensor<?xf32> attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %s, %c0 : tensor<?x?xf32>
  %m = tensor.dim %s, %c1 : tensor<?x?xf32>
  // expected-remark @+1 {{one-pass: not rewritten: a sum over m reads another sum over it (its final value is needed first); divide after the sum instead}}
  %gm = attn.einsum ins(%s : tensor<?x?xf32>) sizes(%p, %m) {attn.indices = ["p", "m"], indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], kind = #attn.reduction<max>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  %sn = attn.einsum ins(%s, %gm : tensor<?x?xf32>, tensor<?xf32>) sizes(%p, %m) {attn.indices = ["p", "m"], indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], kind = #attn.reduction<none>} -> tensor<?x?xf32> {
  ^bb0(%x: f32, %g: f32, %i: index, %j: index):
    %d = arith.subf %x, %g : f32
    %e = math.exp %d : f32
    attn.yield %e : f32
  }
  %sd = attn.einsum ins(%sn : tensor<?x?xf32>) sizes(%p, %m) {attn.indices = ["p", "m"], indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  %o = attn.einsum ins(%sn, %v, %sd : tensor<?x?xf32>, tensor<?xf32>, tensor<?xf32>) sizes(%p, %m) {attn.indices = ["p", "m"], indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0)>], kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%x: f32, %y: f32, %z: f32, %i: index, %j: index):
    %n = arith.mulf %x, %y : f32
    %q = arith.divf %n, %z : f32
    attn.yield %q : f32
  }
  return %o : tensor<?xf32>
}

// -----

// SN itself is a kernel result: its values relative to the final maximum
// are needed, which the tiles do not compute.

// CHECK-LABEL: func.func @exponentials_returned
// CHECK-NOT: attn.online
func.func @exponentials_returned(%s: tensor<?x?xf32>) -> (tensor<?x?xf32>, tensor<?xf32>) attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %s, %c0 : tensor<?x?xf32>
  %m = tensor.dim %s, %c1 : tensor<?x?xf32>
  // expected-remark @+1 {{one-pass: not rewritten: a value computed from the maximum along m is used by func.return}}
  %gm = attn.einsum ins(%s : tensor<?x?xf32>) sizes(%p, %m) {attn.indices = ["p", "m"], indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], kind = #attn.reduction<max>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  %sn = attn.einsum ins(%s, %gm : tensor<?x?xf32>, tensor<?xf32>) sizes(%p, %m) {attn.indices = ["p", "m"], indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], kind = #attn.reduction<none>} -> tensor<?x?xf32> {
  ^bb0(%x: f32, %g: f32, %i: index, %j: index):
    %d = arith.subf %x, %g : f32
    %e = math.exp %d : f32
    attn.yield %e : f32
  }
  %sd = attn.einsum ins(%sn : tensor<?x?xf32>) sizes(%p, %m) {attn.indices = ["p", "m"], indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  return %sn, %sd : tensor<?x?xf32>, tensor<?xf32>
}
