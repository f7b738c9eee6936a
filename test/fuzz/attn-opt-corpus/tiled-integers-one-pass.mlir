// attn.tiled whose entry is not [name, name, size]: attn-one-pass (OnePass.cpp, reading the tiled ranks) and attn-count-passes cast its elements.
func.func @softmax(%s: tensor<?x?xf32>, %v: tensor<?x?xf32>) -> tensor<?x?xf32> attributes {attn.tiled = {m = [1, 2, 3]}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %p = tensor.dim %s, %c0 : tensor<?x?xf32>
  %m = tensor.dim %s, %c1 : tensor<?x?xf32>
  %f = tensor.dim %v, %c1 : tensor<?x?xf32>
  // GM[p] = max(m) S[p, m]
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
