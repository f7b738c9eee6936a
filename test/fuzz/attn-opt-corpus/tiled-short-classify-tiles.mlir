// attn.tiled whose entry has one element: attn-classify-tiles and attn-count-passes (RankAnalysis) read info[1] and info[2].
func.func @causal(%s: tensor<?x?xf32>) -> tensor<?xf32> attributes {attn.tiled = {q = ["m"]}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %s, %c0 : tensor<?x?xf32>
  %m = tensor.dim %s, %c1 : tensor<?x?xf32>
  %r = attn.einsum ins(%s : tensor<?x?xf32>) sizes(%p, %m)
      {attn.indices = ["p", "m"], indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>],
       filter = [affine_set<(p, m) : (p - m >= 0)>],
       kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  return %r : tensor<?xf32>
}
