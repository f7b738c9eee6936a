// RUN: attn-opt %s --split-input-file --attn-reorder-contractions --mlir-print-local-scope -verify-diagnostics | FileCheck %s

// (Q K^T) V = Q (K^T V): with no function between the two contractions and
// long sequences (P, M) against short features (E, F), summing the keys first
// is cheaper: P*E*M + P*M*F multiply-adds become E*M*F + P*E*F.
// CHECK-LABEL: func.func @plain
// KV[f, e] = sum(m) K[m, e] * V[m, f]
// CHECK:      %[[KV:.*]] = attn.einsum ins(%arg1, %arg2 : tensor<?x?xf32>, tensor<?x?xf32>)
// CHECK-SAME:   indexing_maps = [affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d1, d0)>, affine_map<(d0, d1, d2) -> (d0, d2)>]
// CHECK-SAME:   kind = #attn.reduction<sum>
// CHECK:        arith.mulf
// O[p, f] = sum(e) Q[p, e] * KV[f, e]
// CHECK:      %[[O:.*]] = attn.einsum ins(%arg0, %[[KV]] : tensor<?x?xf32>, tensor<?x?xf32>)
// CHECK-SAME:   indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>]
// CHECK-SAME:   kind = #attn.reduction<sum>
// CHECK:        arith.mulf
// CHECK-NOT:  attn.einsum
// CHECK:      return %[[O]]
func.func @plain(%q: tensor<?x?xf32> {attn.dims = ["P", "E"]}, %k: tensor<?x?xf32> {attn.dims = ["M", "E"]},
                 %v: tensor<?x?xf32> {attn.dims = ["M", "F"]}) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %q, %c0 : tensor<?x?xf32>
  %e = tensor.dim %q, %c1 : tensor<?x?xf32>
  %m = tensor.dim %k, %c0 : tensor<?x?xf32>
  %f = tensor.dim %v, %c1 : tensor<?x?xf32>
  // S[m, p] = sum(e) Q[p, e] * K[m, e]
  // expected-remark @+1 {{reordered the contractions over d2 and d0: cost P*E*M + P*M*F -> E*M*F + P*E*F}}
  %s = attn.einsum ins(%q, %k : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%m, %p, %e)
      {indexing_maps = [affine_map<(m, p, e) -> (p, e)>, affine_map<(m, p, e) -> (m, e)>,
                        affine_map<(m, p, e) -> (m, p)>],
       kind = #attn.reduction<sum>} -> tensor<?x?xf32> {
  ^bb0(%a: f32, %b: f32, %i: index, %j: index, %l: index):
    %r = arith.mulf %a, %b : f32
    attn.yield %r : f32
  }
  // O[p, f] = sum(m) S[m, p] * V[m, f]
  %o = attn.einsum ins(%s, %v : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%p, %f, %m)
      {indexing_maps = [affine_map<(p, f, m) -> (m, p)>, affine_map<(p, f, m) -> (m, f)>,
                        affine_map<(p, f, m) -> (p, f)>],
       kind = #attn.reduction<sum>} -> tensor<?x?xf32> {
  ^bb0(%a: f32, %b: f32, %i: index, %j: index, %l: index):
    %r = arith.mulf %a, %b : f32
    attn.yield %r : f32
  }
  return %o : tensor<?x?xf32>
}

// -----

// Softmax: exp(S) is not a product with S, so the contractions stay apart.
// CHECK-LABEL: func.func @softmax
// CHECK-COUNT-3: attn.einsum
// CHECK-NOT:     attn.einsum
func.func @softmax(%q: tensor<?x?xf32> {attn.dims = ["P", "E"]}, %k: tensor<?x?xf32> {attn.dims = ["M", "E"]},
                   %v: tensor<?x?xf32> {attn.dims = ["M", "F"]}) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %q, %c0 : tensor<?x?xf32>
  %e = tensor.dim %q, %c1 : tensor<?x?xf32>
  %m = tensor.dim %k, %c0 : tensor<?x?xf32>
  %f = tensor.dim %v, %c1 : tensor<?x?xf32>
  // S[m, p] = sum(e) Q[p, e] * K[m, e]
  // expected-remark @+1 {{not reordered: the contraction over d2 is read through a function that is not a product with it}}
  %s = attn.einsum ins(%q, %k : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%m, %p, %e)
      {indexing_maps = [affine_map<(m, p, e) -> (p, e)>, affine_map<(m, p, e) -> (m, e)>,
                        affine_map<(m, p, e) -> (m, p)>],
       kind = #attn.reduction<sum>} -> tensor<?x?xf32> {
  ^bb0(%a: f32, %b: f32, %i: index, %j: index, %l: index):
    %r = arith.mulf %a, %b : f32
    attn.yield %r : f32
  }
  // X[m, p] = exp(S[m, p])
  %x = attn.einsum ins(%s : tensor<?x?xf32>) sizes(%m, %p)
      {indexing_maps = [affine_map<(m, p) -> (m, p)>, affine_map<(m, p) -> (m, p)>],
       kind = #attn.reduction<none>} -> tensor<?x?xf32> {
  ^bb0(%a: f32, %i: index, %j: index):
    %r = math.exp %a : f32
    attn.yield %r : f32
  }
  // O[p, f] = sum(m) X[m, p] * V[m, f]
  %o = attn.einsum ins(%x, %v : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%p, %f, %m)
      {indexing_maps = [affine_map<(p, f, m) -> (m, p)>, affine_map<(p, f, m) -> (m, f)>,
                        affine_map<(p, f, m) -> (p, f)>],
       kind = #attn.reduction<sum>} -> tensor<?x?xf32> {
  ^bb0(%a: f32, %b: f32, %i: index, %j: index, %l: index):
    %r = arith.mulf %a, %b : f32
    attn.yield %r : f32
  }
  return %o : tensor<?x?xf32>
}

// -----

// Two queries (P = 2, bound at compile time) against long keys: summing the
// keys first would cost E*M*F, more than the 2*E*M + 2*M*F it replaces.
// CHECK-LABEL: func.func @few_queries
// CHECK:      attn.einsum ins(%arg0, %arg1
// CHECK:      attn.einsum ins(%{{.*}}, %arg2
// CHECK-NOT:  attn.einsum
func.func @few_queries(%q: tensor<2x?xf32> {attn.dims = ["P", "E"]}, %k: tensor<?x?xf32> {attn.dims = ["M", "E"]},
                       %v: tensor<?x?xf32> {attn.dims = ["M", "F"]}) -> tensor<2x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = arith.constant 2 : index
  %e = tensor.dim %q, %c1 : tensor<2x?xf32>
  %m = tensor.dim %k, %c0 : tensor<?x?xf32>
  %f = tensor.dim %v, %c1 : tensor<?x?xf32>
  // S[m, p] = sum(e) Q[p, e] * K[m, e]
  // expected-remark @+1 {{not reordered (the contractions over d2 and d0): cost 2*E*M + 2*M*F -> E*M*F + 2*E*F is not cheaper}}
  %s = attn.einsum ins(%q, %k : tensor<2x?xf32>, tensor<?x?xf32>) sizes(%m, %p, %e)
      {indexing_maps = [affine_map<(m, p, e) -> (p, e)>, affine_map<(m, p, e) -> (m, e)>,
                        affine_map<(m, p, e) -> (m, p)>],
       kind = #attn.reduction<sum>} -> tensor<?x2xf32> {
  ^bb0(%a: f32, %b: f32, %i: index, %j: index, %l: index):
    %r = arith.mulf %a, %b : f32
    attn.yield %r : f32
  }
  // O[p, f] = sum(m) S[m, p] * V[m, f]
  %o = attn.einsum ins(%s, %v : tensor<?x2xf32>, tensor<?x?xf32>) sizes(%p, %f, %m)
      {indexing_maps = [affine_map<(p, f, m) -> (m, p)>, affine_map<(p, f, m) -> (m, f)>,
                        affine_map<(p, f, m) -> (p, f)>],
       kind = #attn.reduction<sum>} -> tensor<2x?xf32> {
  ^bb0(%a: f32, %b: f32, %i: index, %j: index, %l: index):
    %r = arith.mulf %a, %b : f32
    attn.yield %r : f32
  }
  return %o : tensor<2x?xf32>
}

// -----

// Causal (m <= p): the chunked form, chunks of 64 keys. With mc, qc the key
// and query chunks and mi a key within a chunk:
// CHECK-LABEL: func.func @causal
// CHECK-DAG:  %[[P:.*]] = tensor.dim %arg0, %c0
// CHECK-DAG:  %[[M:.*]] = tensor.dim %arg1, %c0
// CHECK:      %[[C64:.*]] = arith.constant 64 : index
// CHECK:      %[[MC:.*]] = arith.ceildivsi %[[M]], %[[C64]] : index
// SI[mi, p] = sum(e) Q[p, e] * K[(p floordiv 64) * 64 + mi, e], mi + chunk start < M and <= p
// CHECK:      %[[SI:.*]] = attn.einsum ins(%arg0, %arg1 : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%[[C64]], %[[P]], %{{.*}}) symbols(%[[M]])
// CHECK-SAME:   -> tensor<64x?xf32>
// CHECK:      %[[QC:.*]] = arith.ceildivsi %[[P]], %[[C64]] : index
// KVc[f, mc, e] = sum(mi) K[mc * 64 + mi, e] * V[mc * 64 + mi, f], keys < M
// CHECK:      %[[KVC:.*]] = attn.einsum ins(%arg1, %arg2 : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%{{.*}}, %[[MC]], %{{.*}}, %[[C64]]) symbols(%[[M]])
// CHECK-SAME:   kind = #attn.reduction<sum>} -> tensor<?x?x?xf32>
// The exclusive prefix over key chunks: KVp[f, qc, e] = sum(mc) (mc < qc ? KVc[f, mc, e] : 0)
// CHECK:      %[[KVP:.*]] = attn.einsum ins(%[[KVC]] : tensor<?x?x?xf32>) sizes(%{{.*}}, %[[QC]], %{{.*}}, %[[MC]])
// CHECK:        arith.cmpi slt
// CHECK:        arith.select
// inter[p, f] = sum(e) Q[p, e] * KVp[f, p floordiv 64, e]
// CHECK:      %[[INTER:.*]] = attn.einsum ins(%arg0, %[[KVP]] : tensor<?x?xf32>, tensor<?x?x?xf32>)
// CHECK-SAME:   affine_map<(d0, d1, d2) -> (d1, d0 floordiv 64, d2)>
// intra[p, f] = sum(mi) SI[mi, p] * V[key, f] where key = (p floordiv 64) * 64 + mi < M and key <= p
// CHECK:      %[[INTRA:.*]] = attn.einsum ins(%[[SI]], %arg2 : tensor<64x?xf32>, tensor<?x?xf32>)
// CHECK:        arith.cmpi slt, %{{.*}}, %[[M]]
// CHECK:        arith.cmpi sle
// CHECK:        arith.select
// O[p, f] = intra[p, f] + inter[p, f]
// CHECK:      %[[O:.*]] = attn.einsum ins(%[[INTER]], %[[INTRA]] : tensor<?x?xf32>, tensor<?x?xf32>)
// CHECK-SAME:   kind = #attn.reduction<none>
// CHECK:        arith.addf
// CHECK:      return %[[O]]
func.func @causal(%q: tensor<?x?xf32> {attn.dims = ["P", "E"]}, %k: tensor<?x?xf32> {attn.dims = ["M", "E"]},
                  %v: tensor<?x?xf32> {attn.dims = ["M", "F"]}) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %q, %c0 : tensor<?x?xf32>
  %e = tensor.dim %q, %c1 : tensor<?x?xf32>
  %m = tensor.dim %k, %c0 : tensor<?x?xf32>
  %f = tensor.dim %v, %c1 : tensor<?x?xf32>
  // S[m, p] = sum(e) Q[p, e] * K[m, e] where m <= p
  // expected-remark @+1 {{reordered the contractions over d2 and d0, in chunks of 64 along d0 for d0 <= d1: cost P*E*M + P*M*F -> 64*P*E + 64*E*ceil(M/64)*F + ceil(P/64)*E*ceil(M/64)*F + P*E*F + 64*P*F}}
  %s = attn.einsum ins(%q, %k : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%m, %p, %e)
      {indexing_maps = [affine_map<(m, p, e) -> (p, e)>, affine_map<(m, p, e) -> (m, e)>,
                        affine_map<(m, p, e) -> (m, p)>],
       filter = [affine_set<(m, p, e) : (p - m >= 0)>],
       kind = #attn.reduction<sum>} -> tensor<?x?xf32> {
  ^bb0(%a: f32, %b: f32, %i: index, %j: index, %l: index):
    %r = arith.mulf %a, %b : f32
    attn.yield %r : f32
  }
  // O[p, f] = sum(m) S[m, p] * V[m, f]
  %o = attn.einsum ins(%s, %v : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%p, %f, %m)
      {indexing_maps = [affine_map<(p, f, m) -> (m, p)>, affine_map<(p, f, m) -> (m, f)>,
                        affine_map<(p, f, m) -> (p, f)>],
       kind = #attn.reduction<sum>} -> tensor<?x?xf32> {
  ^bb0(%a: f32, %b: f32, %i: index, %j: index, %l: index):
    %r = arith.mulf %a, %b : f32
    attn.yield %r : f32
  }
  return %o : tensor<?x?xf32>
}

// -----

// A consumer with a filter (or a guard, or a reduction other than sum) is
// not a contraction the rewrite can reorder: left as it is, without a remark.
// CHECK-LABEL: func.func @filtered_consumer
// CHECK-COUNT-2: attn.einsum
// CHECK-NOT:     attn.einsum
func.func @filtered_consumer(%q: tensor<?x?xf32> {attn.dims = ["P", "E"]}, %k: tensor<?x?xf32> {attn.dims = ["M", "E"]},
                             %v: tensor<?x?xf32> {attn.dims = ["M", "F"]}) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %q, %c0 : tensor<?x?xf32>
  %e = tensor.dim %q, %c1 : tensor<?x?xf32>
  %m = tensor.dim %k, %c0 : tensor<?x?xf32>
  %f = tensor.dim %v, %c1 : tensor<?x?xf32>
  %s = attn.einsum ins(%q, %k : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%m, %p, %e)
      {indexing_maps = [affine_map<(m, p, e) -> (p, e)>, affine_map<(m, p, e) -> (m, e)>,
                        affine_map<(m, p, e) -> (m, p)>],
       kind = #attn.reduction<sum>} -> tensor<?x?xf32> {
  ^bb0(%a: f32, %b: f32, %i: index, %j: index, %l: index):
    %r = arith.mulf %a, %b : f32
    attn.yield %r : f32
  }
  // O[p, f] = sum(m) S[m, p] * V[m, f] where m <= p
  %o = attn.einsum ins(%s, %v : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%p, %f, %m)
      {indexing_maps = [affine_map<(p, f, m) -> (m, p)>, affine_map<(p, f, m) -> (m, f)>,
                        affine_map<(p, f, m) -> (p, f)>],
       filter = [affine_set<(p, f, m) : (p - m >= 0)>],
       kind = #attn.reduction<sum>} -> tensor<?x?xf32> {
  ^bb0(%a: f32, %b: f32, %i: index, %j: index, %l: index):
    %r = arith.mulf %a, %b : f32
    attn.yield %r : f32
  }
  return %o : tensor<?x?xf32>
}
