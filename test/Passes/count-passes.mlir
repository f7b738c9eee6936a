// RUN: attn-opt %s --split-input-file --attn-one-pass --attn-count-passes -verify-diagnostics | FileCheck %s

// attn-count-passes after attn-one-pass: one remark per reduced rank on the
// kernel, `rank m: N passes`, counting the passes over m that the reductions'
// dependencies force. S[p, m] (the scores) is an input here.

// FuseMax's naive cascade: the weights are normalised (A = SN / SD) before
// the weighted sum, which must wait for SD: 3 passes over m (the maximum,
// SD, then O). The one-pass rewrite does not apply and says why.
// CHECK-LABEL: func.func @three_pass
// CHECK-NOT:   attn.online
// expected-remark @+1 {{rank m: 3 passes}}
func.func @three_pass(%s: tensor<?x?xf32>, %v: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %s, %c0 : tensor<?x?xf32>
  %m = tensor.dim %s, %c1 : tensor<?x?xf32>
  %f = tensor.dim %v, %c1 : tensor<?x?xf32>
  // GM[p] = max(m) S[p, m]
  // expected-remark @+1 {{one-pass: not rewritten: a sum over m reads another sum over it (its final value is needed first); divide after the sum instead}}
  %gm = attn.einsum ins(%s : tensor<?x?xf32>) sizes(%p, %m)
      {attn.indices = ["p", "m"], indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>],
       kind = #attn.reduction<max>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  // SN[p, m] = exp(S[p, m] - GM[p])
  %sn = attn.einsum ins(%s, %gm : tensor<?x?xf32>, tensor<?xf32>) sizes(%p, %m)
      {attn.indices = ["p", "m"], indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>,
                        affine_map<(p, m) -> (p, m)>],
       kind = #attn.reduction<none>} -> tensor<?x?xf32> {
  ^bb0(%x: f32, %g: f32, %i: index, %j: index):
    %d = arith.subf %x, %g : f32
    %e = math.exp %d : f32
    attn.yield %e : f32
  }
  // SD[p] = sum(m) SN[p, m]: pass 2
  %sd = attn.einsum ins(%sn : tensor<?x?xf32>) sizes(%p, %m)
      {attn.indices = ["p", "m"], indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>],
       kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  // A[p, m] = SN[p, m] / SD[p]
  %a = attn.einsum ins(%sn, %sd : tensor<?x?xf32>, tensor<?xf32>) sizes(%p, %m)
      {attn.indices = ["p", "m"], indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>,
                        affine_map<(p, m) -> (p, m)>],
       kind = #attn.reduction<none>} -> tensor<?x?xf32> {
  ^bb0(%x: f32, %y: f32, %i: index, %j: index):
    %r = arith.divf %x, %y : f32
    attn.yield %r : f32
  }
  // O[p, f] = sum(m) A[p, m] * V[m, f]: pass 3
  %o = attn.einsum ins(%a, %v : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%p, %f, %m)
      {attn.indices = ["p", "f", "m"], indexing_maps = [affine_map<(p, f, m) -> (p, m)>, affine_map<(p, f, m) -> (m, f)>,
                        affine_map<(p, f, m) -> (p, f)>],
       kind = #attn.reduction<sum>} -> tensor<?x?xf32> {
  ^bb0(%x: f32, %y: f32, %i: index, %j: index, %k: index):
    %r = arith.mulf %x, %y : f32
    attn.yield %r : f32
  }
  return %o : tensor<?x?xf32>
}

// -----

// Softmax with the division deferred: the maximum over m, then the sums of
// exp(S - GM): 2 passes over m. After the one-pass rewrite, one pass over the
// tiles m1 (the running maximum rescales the sums); within each tile the tile
// maximum still comes before the tile's sums.
// CHECK-LABEL: func.func @softmax
// CHECK:       attn.online
// expected-remark @+2 {{rank m: 1 pass (tiles m1 of 64)}}
// expected-remark @+1 {{rank m0: 2 passes within each tile of m}}
func.func @softmax(%s: tensor<?x?xf32>, %v: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %s, %c0 : tensor<?x?xf32>
  %m = tensor.dim %s, %c1 : tensor<?x?xf32>
  %f = tensor.dim %v, %c1 : tensor<?x?xf32>
  // GM[p] = max(m) S[p, m]
  // expected-remark @+1 {{one-pass: rank m in one pass (tiles of 64): a running maximum and 2 rescaled sums (exp(-1 * max), exp(-1 * max))}}
  %gm = attn.einsum ins(%s : tensor<?x?xf32>) sizes(%p, %m)
      {attn.indices = ["p", "m"], indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>],
       kind = #attn.reduction<max>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  // SN[p, m] = exp(S[p, m] - GM[p])
  %sn = attn.einsum ins(%s, %gm : tensor<?x?xf32>, tensor<?xf32>) sizes(%p, %m)
      {attn.indices = ["p", "m"], indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>,
                        affine_map<(p, m) -> (p, m)>],
       kind = #attn.reduction<none>} -> tensor<?x?xf32> {
  ^bb0(%x: f32, %g: f32, %i: index, %j: index):
    %d = arith.subf %x, %g : f32
    %e = math.exp %d : f32
    attn.yield %e : f32
  }
  // SD[p] = sum(m) SN[p, m]
  %sd = attn.einsum ins(%sn : tensor<?x?xf32>) sizes(%p, %m)
      {attn.indices = ["p", "m"], indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>],
       kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  // SNV[p, f] = sum(m) SN[p, m] * V[m, f]
  %snv = attn.einsum ins(%sn, %v : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%p, %f, %m)
      {attn.indices = ["p", "f", "m"], indexing_maps = [affine_map<(p, f, m) -> (p, m)>, affine_map<(p, f, m) -> (m, f)>,
                        affine_map<(p, f, m) -> (p, f)>],
       kind = #attn.reduction<sum>} -> tensor<?x?xf32> {
  ^bb0(%x: f32, %y: f32, %i: index, %j: index, %k: index):
    %r = arith.mulf %x, %y : f32
    attn.yield %r : f32
  }
  // O[p, f] = SNV[p, f] / SD[p]
  %o = attn.einsum ins(%snv, %sd : tensor<?x?xf32>, tensor<?xf32>) sizes(%p, %f)
      {attn.indices = ["p", "f"], indexing_maps = [affine_map<(p, f) -> (p, f)>, affine_map<(p, f) -> (p)>,
                        affine_map<(p, f) -> (p, f)>],
       kind = #attn.reduction<none>} -> tensor<?x?xf32> {
  ^bb0(%x: f32, %y: f32, %i: index, %j: index):
    %r = arith.divf %x, %y : f32
    attn.yield %r : f32
  }
  return %o : tensor<?x?xf32>
}

// -----

// T = sum(m) tanh(S - GM): no factor of the maximum comes out of a tanh, so
// no running maximum can rescale it: 2 passes, and one-pass says why.
// CHECK-LABEL: func.func @no_correction
// CHECK-NOT:   attn.online
// expected-remark @+1 {{rank m: 2 passes}}
func.func @no_correction(%s: tensor<?x?xf32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %s, %c0 : tensor<?x?xf32>
  %m = tensor.dim %s, %c1 : tensor<?x?xf32>
  // GM[p] = max(m) S[p, m]
  // expected-remark @+1 {{one-pass: not rewritten: math.tanh of a value that depends on the maximum has no rescaling correction}}
  %gm = attn.einsum ins(%s : tensor<?x?xf32>) sizes(%p, %m)
      {attn.indices = ["p", "m"], indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>],
       kind = #attn.reduction<max>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  // T[p] = sum(m) tanh(S[p, m] - GM[p])
  %t = attn.einsum ins(%s, %gm : tensor<?x?xf32>, tensor<?xf32>) sizes(%p, %m)
      {attn.indices = ["p", "m"], indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>,
                        affine_map<(p, m) -> (p)>],
       kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%x: f32, %g: f32, %i: index, %j: index):
    %d = arith.subf %x, %g : f32
    %e = math.tanh %d : f32
    attn.yield %e : f32
  }
  return %t : tensor<?xf32>
}

// -----

// Sigmoid attention: O = sum(m) V / (1 + exp(-S)) needs no value that
// depends on another reduction over m: 1 pass, nothing to rewrite.
// CHECK-LABEL: func.func @sigmoid
// CHECK:       attn.einsum {{.*}}kind = #attn.reduction<sum>
// CHECK-NOT:   attn.online
// expected-remark @+1 {{rank m: 1 pass}}
func.func @sigmoid(%s: tensor<?x?xf32>, %v: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %s, %c0 : tensor<?x?xf32>
  %m = tensor.dim %s, %c1 : tensor<?x?xf32>
  %f = tensor.dim %v, %c1 : tensor<?x?xf32>
  %o = attn.einsum ins(%s, %v : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%p, %f, %m)
      {attn.indices = ["p", "f", "m"], indexing_maps = [affine_map<(p, f, m) -> (p, m)>, affine_map<(p, f, m) -> (m, f)>,
                        affine_map<(p, f, m) -> (p, f)>],
       kind = #attn.reduction<sum>} -> tensor<?x?xf32> {
  ^bb0(%x: f32, %y: f32, %i: index, %j: index, %k: index):
    %n = arith.negf %x : f32
    %e = math.exp %n : f32
    %one = arith.constant 1.0 : f32
    %d = arith.addf %one, %e : f32
    %w = arith.divf %y, %d : f32
    attn.yield %w : f32
  }
  return %o : tensor<?x?xf32>
}
