// attn.indices with an integer on an attn.online (after attn-one-pass): attn-split-reduction casts it to a string.
#map = affine_map<(d0, d1, d2)[s0] -> (d0, d1 * 64 + d2)>
#map1 = affine_map<(d0, d1, d2)[s0] -> (d0, d1)>
#map2 = affine_map<(d0, d1, d2)[s0] -> (d0, d1, d2)>
#map3 = affine_map<(d0, d1, d2, d3)[s0] -> (d0, d2, d3)>
#map4 = affine_map<(d0, d1, d2, d3)[s0] -> (d2 * 64 + d3, d1)>
#map5 = affine_map<(d0, d1, d2, d3)[s0] -> (d0, d1, d2)>
#map6 = affine_map<(d0, d1, d2) -> (d0, d2)>
#map7 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#map8 = affine_map<(d0, d1, d2) -> (d0)>
#map9 = affine_map<(d0, d1, d2) -> (d0, d1)>
#map10 = affine_map<(d0, d1) -> (d0, d1)>
#map11 = affine_map<(d0, d1) -> (d0)>
#set = affine_set<(d0, d1, d2)[s0] : (-(d1 * 64 + d2) + s0 - 1 >= 0)>
#set1 = affine_set<(d0, d1, d2, d3)[s0] : (-(d2 * 64 + d3) + s0 - 1 >= 0)>
module {
  func.func @softmax(%arg0: tensor<?x?xf32>, %arg1: tensor<?x?xf32>) -> tensor<?x?xf32> attributes {attn.tiled = {m1 = ["m", "m0", 64]}} {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %dim = tensor.dim %arg0, %c0 : tensor<?x?xf32>
    %dim_0 = tensor.dim %arg0, %c1 : tensor<?x?xf32>
    %dim_1 = tensor.dim %arg1, %c1 : tensor<?x?xf32>
    %c64 = arith.constant 64 : index
    %0 = arith.ceildivsi %dim_0, %c64 : index
    %1 = attn.einsum ins(%arg0 : tensor<?x?xf32>) sizes(%dim, %0, %c64) symbols(%dim_0) {attn.indices = ["p", "m1", "m0"], filter = [#set], indexing_maps = [#map, #map1], kind = #attn.reduction<max>} -> tensor<?x?xf32> {
    ^bb0(%arg2: f32, %arg3: index, %arg4: index, %arg5: index):
      attn.yield %arg2 : f32
    }
    %2 = attn.einsum ins(%arg0, %1 : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%dim, %0, %c64) symbols(%dim_0) {attn.indices = ["p", "m1", "m0"], filter = [#set], indexing_maps = [#map, #map1, #map2], kind = #attn.reduction<none>} -> tensor<?x?x64xf32> {
    ^bb0(%arg2: f32, %arg3: f32, %arg4: index, %arg5: index, %arg6: index):
      %6 = arith.subf %arg2, %arg3 : f32
      %7 = math.exp %6 : f32
      attn.yield %7 : f32
    }
    %3 = attn.einsum ins(%2 : tensor<?x?x64xf32>) sizes(%dim, %0, %c64) symbols(%dim_0) {attn.indices = ["p", "m1", "m0"], filter = [#set], indexing_maps = [#map2, #map1], kind = #attn.reduction<sum>} -> tensor<?x?xf32> {
    ^bb0(%arg2: f32, %arg3: index, %arg4: index, %arg5: index):
      attn.yield %arg2 : f32
    }
    %4 = attn.einsum ins(%2, %arg1 : tensor<?x?x64xf32>, tensor<?x?xf32>) sizes(%dim, %dim_1, %0, %c64) symbols(%dim_0) {attn.indices = ["p", "f", "m1", "m0"], filter = [#set1], indexing_maps = [#map3, #map4, #map5], kind = #attn.reduction<sum>} -> tensor<?x?x?xf32> {
    ^bb0(%arg2: f32, %arg3: f32, %arg4: index, %arg5: index, %arg6: index, %arg7: index):
      %6 = arith.mulf %arg2, %arg3 : f32
      attn.yield %6 : f32
    }
    %max, %sums:2 = attn.online ins(%1, %3, %4 : tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?x?xf32>) sizes(%dim, %dim_1, %0) {attn.indices = ["p", "f", 3], indexing_maps = [#map6, #map6, #map7, #map8, #map8, #map9], rescale = [-1.000000e+00, -1.000000e+00]} -> tensor<?xf32>, tensor<?xf32>, tensor<?x?xf32>
    %5 = attn.einsum ins(%sums#1, %sums#0 : tensor<?x?xf32>, tensor<?xf32>) sizes(%dim, %dim_1) {attn.indices = ["p", "f"], indexing_maps = [#map10, #map11, #map10], kind = #attn.reduction<none>} -> tensor<?x?xf32> {
    ^bb0(%arg2: f32, %arg3: f32, %arg4: index, %arg5: index):
      %6 = arith.divf %arg2, %arg3 : f32
      attn.yield %6 : f32
    }
    return %5 : tensor<?x?xf32>
  }
}

