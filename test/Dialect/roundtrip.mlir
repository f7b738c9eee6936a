// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s

// Scores of causal attention: a contraction over e with an affine filter.
// CHECK-LABEL: func.func @scores
// CHECK: attn.einsum ins(%{{.*}}, %{{.*}} : tensor<?x?xbf16>, tensor<?x?xbf16>) sizes(%{{.*}}, %{{.*}}, %{{.*}})
// CHECK-SAME: filter = [#[[SET:.*]]]
// CHECK-SAME: kind = #attn.reduction<sum>
// CHECK: ^bb0(%{{.*}}: bf16, %{{.*}}: bf16, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index):
// CHECK: attn.yield %{{.*}} : f32
func.func @scores(%q: tensor<?x?xbf16>, %k: tensor<?x?xbf16>) -> tensor<?x?xf32>
    attributes {attn.kernel} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %P = tensor.dim %q, %c0 : tensor<?x?xbf16>
  %E = tensor.dim %q, %c1 : tensor<?x?xbf16>
  %M = tensor.dim %k, %c0 : tensor<?x?xbf16>
  %s = attn.einsum ins(%q, %k : tensor<?x?xbf16>, tensor<?x?xbf16>) sizes(%M, %P, %E)
       {indexing_maps = [affine_map<(m, p, e) -> (p, e)>,
                         affine_map<(m, p, e) -> (m, e)>,
                         affine_map<(m, p, e) -> (m, p)>],
        kind = #attn.reduction<sum>,
        filter = [affine_set<(m, p, e) : (p - m >= 0)>]} -> tensor<?x?xf32> {
  ^bb0(%a: bf16, %b: bf16, %m: index, %p: index, %e: index):
    %x = arith.extf %a : bf16 to f32
    %y = arith.extf %b : bf16 to f32
    %z = arith.mulf %x, %y : f32
    attn.yield %z : f32
  }
  return %s : tensor<?x?xf32>
}


// Paged KV: the page number is an input read through a semi-affine map, the
// cache is a table read at computed indices; the guard reads a length table.
// CHECK-LABEL: func.func @paged
// CHECK: attn.einsum ins(%{{.*}} : tensor<?x?xi32>) tables(%{{.*}}, %{{.*}} : tensor<?x?x?xf32>, tensor<?xi32>) sizes(%{{.*}}, %{{.*}}, %{{.*}}) symbols(%{{.*}})
// CHECK: attn.read %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}] : tensor<?x?x?xf32> -> f32
// CHECK: guard
// CHECK: attn.yield %{{.*}} : i1
// CHECK: attn.fill %{{.*}}, 0.000000e+00 : tensor<?x?xf32> -> tensor<?x?xf16>
func.func @paged(%page: tensor<?x?xi32>, %kc: tensor<?x?x?xf32>, %len: tensor<?xi32>,
                 %B: index, %M: index, %E: index, %PS: index) -> tensor<?x?xf16> {
  %r = attn.einsum ins(%page : tensor<?x?xi32>) tables(%kc, %len : tensor<?x?x?xf32>, tensor<?xi32>)
       sizes(%B, %M, %E) symbols(%PS)
       {indexing_maps = [affine_map<(b, m, e)[ps] -> (b, m floordiv ps)>,
                         affine_map<(b, m, e)[ps] -> (b, m)>],
        kind = #attn.reduction<max>} -> tensor<?x?xf32> {
  ^bb0(%pg: i32, %b: index, %m: index, %e: index):
    %i = arith.index_cast %pg : i32 to index
    %q = arith.floordivsi %m, %PS : index
    %t = arith.muli %q, %PS : index
    %o = arith.subi %m, %t : index
    %v = attn.read %kc[%i, %o, %e] : tensor<?x?x?xf32> -> f32
    attn.yield %v : f32
  } guard {
  ^bb0(%b: index, %m: index, %e: index):
    %l = attn.read %len[%b] : tensor<?xi32> -> i32
    %li = arith.index_cast %l : i32 to index
    %c = arith.cmpi slt, %m, %li : index
    attn.yield %c : i1
  }
  %o = attn.fill %r, 0.0 : tensor<?x?xf32> -> tensor<?x?xf16>
  return %o : tensor<?x?xf16>
}


// A union filter (attention sinks or a window) and an elementwise einsum
// with no reduction.
// CHECK-LABEL: func.func @sinks
// CHECK: filter = [#{{.*}}, #{{.*}}]
// CHECK-SAME: kind = #attn.reduction<none>
func.func @sinks(%s: tensor<?x?xf32>, %M: index, %P: index) -> tensor<?x?xf32> {
  %r = attn.einsum ins(%s : tensor<?x?xf32>) sizes(%M, %P)
       {indexing_maps = [affine_map<(m, p) -> (m, p)>, affine_map<(m, p) -> (m, p)>],
        kind = #attn.reduction<none>,
        filter = [affine_set<(m, p) : (-m + 3 >= 0)>,
                  affine_set<(m, p) : (p - m >= 0, -p + m + 15 >= 0)>]} -> tensor<?x?xf32> {
  ^bb0(%x: f32, %m: index, %p: index):
    %e = math.exp %x : f32
    attn.yield %e : f32
  }
  return %r : tensor<?x?xf32>
}

// The combine step of a one-pass cascade: tile maxima TM[p, t], partial sums
// relative to them, reduced over the tiles t.
// CHECK-LABEL: func.func @online
// CHECK: %{{.*}}, %{{.*}}:2 = attn.online ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?x?xf32>) sizes(%{{.*}}, %{{.*}}, %{{.*}}) {indexing_maps = [{{.*}}], rescale = [-1.000000e+00, -2.000000e+00]} -> tensor<?xf32>, tensor<?xf32>, tensor<?x?xf32>
func.func @online(%tm: tensor<?x?xf32>, %tl: tensor<?x?xf32>, %to: tensor<?x?x?xf32>, %p: index, %f: index, %t: index) -> (tensor<?xf32>, tensor<?xf32>, tensor<?x?xf32>) {
  %m, %s:2 = attn.online ins(%tm, %tl, %to : tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?x?xf32>) sizes(%p, %f, %t) {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0)>, affine_map<(d0, d1, d2) -> (d0)>, affine_map<(d0, d1, d2) -> (d0, d1)>], rescale = [-1.0, -2.0]} -> tensor<?xf32>, tensor<?xf32>, tensor<?x?xf32>
  return %m, %s#0, %s#1 : tensor<?xf32>, tensor<?xf32>, tensor<?x?xf32>
}

// CHECK-LABEL: func.func @scan_and_sub_range
// CHECK: attn.scan %{{.*}} {dim = 1 : i64, kind = #attn.reduction<prod>} : tensor<?x?xf32> -> tensor<?x?xf32>
func.func @scan_and_sub_range(%a: tensor<?x?xf32>, %b: tensor<8xf32>) -> (tensor<?x?xf32>, tensor<4xf32>) {
  %r = attn.scan %a {dim = 1 : i64, kind = #attn.reduction<prod>} : tensor<?x?xf32> -> tensor<?x?xf32>
  %n = arith.constant 4 : index
  // The first 4 of 8 elements: an input may be read over part of its extent.
  %s = attn.einsum ins(%b : tensor<8xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<4xf32> {
  ^bb0(%x: f32, %i: index):
    attn.yield %x : f32
  }
  return %r, %s : tensor<?x?xf32>, tensor<4xf32>
}

