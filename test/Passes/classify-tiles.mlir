// RUN: attn-opt %s --split-input-file --attn-one-pass --attn-classify-tiles -verify-diagnostics | FileCheck %s

// attn-classify-tiles: for an einsum with an affine filter, tiles of 64 along
// the dimensions the filter constrains (origins p0, m0: the tile holds
// p0 <= p < p0 + 64), and for each constraint the condition on the origins
// under which it holds on the whole tile (no mask) and nowhere on it (the
// tile is skipped). S[p, m] (the scores) is an input here.

// Causal, m <= p, tiles of 64 along both: a tile needs no mask when its
// lowest p is at least its highest m (p0 - m0 >= 63, below the diagonal) and
// is skipped when its highest p is below its lowest m (above it).
// CHECK-LABEL: func.func @causal
// CHECK:       attn.einsum {{.*}}filter = [
func.func @causal(%s: tensor<?x?xf32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %s, %c0 : tensor<?x?xf32>
  %m = tensor.dim %s, %c1 : tensor<?x?xf32>
  // R[p] = sum(m) S[p, m] where p - m >= 0
  // expected-remark @+1 {{tiles p:64 x m:64: p - m >= 0 holds on the whole tile when p0 - m0 - 63 >= 0 and nowhere when p0 - m0 + 63 < 0}}
  %r = attn.einsum ins(%s : tensor<?x?xf32>) sizes(%p, %m)
      {attn.indices = ["p", "m"], indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>],
       filter = [affine_set<(p, m) : (p - m >= 0)>],
       kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  return %r : tensor<?xf32>
}

// -----

// A union: the first 4 keys (sinks), or a window of 16 keys up to p. Each
// conjunction is classified on its own, each constraint at its worst corner
// of the tile.
// CHECK-LABEL: func.func @window_or_sink
// CHECK:       attn.einsum {{.*}}filter = [#{{.*}}, #{{.*}}]
func.func @window_or_sink(%s: tensor<?x?xf32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %s, %c0 : tensor<?x?xf32>
  %m = tensor.dim %s, %c1 : tensor<?x?xf32>
  // R[p] = sum(m) S[p, m] where m <= 3 or (m <= p and p - m <= 15)
  // expected-remark @+1 {{tiles p:64 x m:64: -m + 3 >= 0 holds on the whole tile when -m0 - 60 >= 0 and nowhere when -m0 + 3 < 0; or p - m >= 0 holds on the whole tile when p0 - m0 - 63 >= 0 and nowhere when p0 - m0 + 63 < 0, and -p + m + 15 >= 0 holds on the whole tile when -p0 + m0 - 48 >= 0 and nowhere when -p0 + m0 + 78 < 0}}
  %r = attn.einsum ins(%s : tensor<?x?xf32>) sizes(%p, %m)
      {attn.indices = ["p", "m"], indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>],
       filter = [affine_set<(p, m) : (-m + 3 >= 0)>, affine_set<(p, m) : (p - m >= 0, m - p + 15 >= 0)>],
       kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  return %r : tensor<?xf32>
}

// -----

// m mod 4 == 0 is not linear in the tile origins: no tile can be proven full
// or empty, so every tile is masked.
// CHECK-LABEL: func.func @strided
// CHECK:       attn.einsum {{.*}}filter = [#
func.func @strided(%s: tensor<?x?xf32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %s, %c0 : tensor<?x?xf32>
  %m = tensor.dim %s, %c1 : tensor<?x?xf32>
  // R[p] = sum(m) S[p, m] where m mod 4 == 0
  // A modulo is bounded per tile (the shared interval analysis), not as a
  // linear form: no condition on the tile origins, checked per tile.
  // expected-remark @+1 {{tiles m:64: m mod 4 == 0 (checked per tile)}}
  %r = attn.einsum ins(%s : tensor<?x?xf32>) sizes(%p, %m)
      {attn.indices = ["p", "m"], indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>],
       filter = [affine_set<(p, m) : (m mod 4 == 0)>],
       kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  return %r : tensor<?xf32>
}

// -----

// Causal softmax through attn-one-pass first: m is split into tiles m1 of 64
// keys m0 (m = 64 * m1 + m0), one m1 at a time, so only p and m0 are tiled
// (m1:1). The one-pass rewrite adds the bound of the last tile,
// 64 * m1 + m0 < M (s0), which is classified with the causal constraint.
// CHECK-LABEL: func.func @causal_softmax
// CHECK:       attn.online
func.func @causal_softmax(%s: tensor<?x?xf32>, %v: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %s, %c0 : tensor<?x?xf32>
  %m = tensor.dim %s, %c1 : tensor<?x?xf32>
  %f = tensor.dim %v, %c1 : tensor<?x?xf32>
  // GM[p] = max(m) S[p, m] where p - m >= 0: per tile, then the running maximum
  // expected-remark @+2 {{one-pass: rank m in one pass (tiles of 64)}}
  // expected-remark @+1 {{tiles p:64 x m1:1 x m0:64: p - 64*m1 - m0 >= 0 holds on the whole tile when p0 - 64*m10 - m00 - 63 >= 0 and nowhere when p0 - 64*m10 - m00 + 63 < 0, and -64*m1 - m0 + s0 - 1 >= 0 holds on the whole tile when -64*m10 - m00 + s0 - 64 >= 0 and nowhere when -64*m10 - m00 + s0 - 1 < 0}}
  %gm = attn.einsum ins(%s : tensor<?x?xf32>) sizes(%p, %m)
      {attn.indices = ["p", "m"], indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>],
       filter = [affine_set<(p, m) : (p - m >= 0)>],
       kind = #attn.reduction<max>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  // SN[p, m] = exp(S[p, m] - GM[p]) where p - m >= 0, against the tile maximum
  // expected-remark @+1 {{tiles p:64 x m1:1 x m0:64: p - 64*m1 - m0 >= 0 holds on the whole tile when p0 - 64*m10 - m00 - 63 >= 0 and nowhere when p0 - 64*m10 - m00 + 63 < 0, and -64*m1 - m0 + s0 - 1 >= 0 holds on the whole tile when -64*m10 - m00 + s0 - 64 >= 0 and nowhere when -64*m10 - m00 + s0 - 1 < 0}}
  %sn = attn.einsum ins(%s, %gm : tensor<?x?xf32>, tensor<?xf32>) sizes(%p, %m)
      {attn.indices = ["p", "m"], indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>,
                        affine_map<(p, m) -> (p, m)>],
       filter = [affine_set<(p, m) : (p - m >= 0)>],
       kind = #attn.reduction<none>} -> tensor<?x?xf32> {
  ^bb0(%x: f32, %g: f32, %i: index, %j: index):
    %d = arith.subf %x, %g : f32
    %e = math.exp %d : f32
    attn.yield %e : f32
  }
  // SD[p] = sum(m) SN[p, m]: per tile, only the bound of the last tile
  // expected-remark @+1 {{tiles m1:1 x m0:64: -64*m1 - m0 + s0 - 1 >= 0 holds on the whole tile when -64*m10 - m00 + s0 - 64 >= 0 and nowhere when -64*m10 - m00 + s0 - 1 < 0}}
  %sd = attn.einsum ins(%sn : tensor<?x?xf32>) sizes(%p, %m)
      {attn.indices = ["p", "m"], indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>],
       kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  // SNV[p, f] = sum(m) SN[p, m] * V[m, f]: likewise
  // expected-remark @+1 {{tiles m1:1 x m0:64: -64*m1 - m0 + s0 - 1 >= 0 holds on the whole tile when -64*m10 - m00 + s0 - 64 >= 0 and nowhere when -64*m10 - m00 + s0 - 1 < 0}}
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

// A filter that reads a tensor is a guard region: nothing to classify
// statically (the code generators evaluate it per point), no remark.
// CHECK-LABEL: func.func @guard_only
// CHECK:       } guard {
func.func @guard_only(%s: tensor<?x?xf32>, %keep: tensor<?xi32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %s, %c0 : tensor<?x?xf32>
  %m = tensor.dim %s, %c1 : tensor<?x?xf32>
  // R[p] = sum(m) S[p, m] where keep[m] != 0
  %r = attn.einsum ins(%s : tensor<?x?xf32>) tables(%keep : tensor<?xi32>) sizes(%p, %m)
      {attn.indices = ["p", "m"], indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>],
       kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  } guard {
  ^bb0(%i: index, %j: index):
    %k = attn.read %keep[%j] : tensor<?xi32> -> i32
    %zero = arith.constant 0 : i32
    %ne = arith.cmpi ne, %k, %zero : i32
    attn.yield %ne : i1
  }
  return %r : tensor<?xf32>
}
