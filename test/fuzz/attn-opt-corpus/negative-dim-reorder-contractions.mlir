// tensor.dim with a negative constant index: the contraction cost model read attn.dims[-1] (SIGSEGV in SizeModel::of).
#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#map1 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>
#map2 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#map3 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
#map4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3, d2)>
#map5 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#map6 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4, d2)>
#map7 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4, d3)>
#set = affine_set<(d0, d1, d2, d3, d4) : (-d2 + d3 >= 0)>
module {
  func.func @linear_causal(%arg0: tensor<?x?x?x?xf32> {attn.dims = ["B", "H", "P", "E"], attn.name = "Q"}, %arg1: tensor<?x?x?x?xf32> {attn.dims = ["B", "H", "M", "E"], attn.name = "K"}, %arg2: tensor<?x?x?x?xf32> {attn.dims = ["B", "H", "M", "F"], attn.name = "V"}) -> (tensor<?x?x?x?xf32> {attn.dims = ["B", "H", "P", "F"], attn.name = "O"}) attributes {attn.kernel} {
    %c0 = arith.constant -1 : index
    %dim = tensor.dim %arg0, %c0 : tensor<?x?x?x?xf32>
    %c1 = arith.constant 1 : index
    %dim_0 = tensor.dim %arg0, %c1 : tensor<?x?x?x?xf32>
    %c2 = arith.constant 2 : index
    %dim_1 = tensor.dim %arg0, %c2 : tensor<?x?x?x?xf32>
    %c3 = arith.constant 3 : index
    %dim_2 = tensor.dim %arg0, %c3 : tensor<?x?x?x?xf32>
    %0 = attn.einsum ins(%arg0 : tensor<?x?x?x?xf32>) sizes(%dim, %dim_0, %dim_1, %dim_2) {attn.indices = ["b", "h", "p", "e"], indexing_maps = [#map, #map], kind = #attn.reduction<none>} -> tensor<?x?x?x?xf32> {
    ^bb0(%arg3: f32, %arg4: index, %arg5: index, %arg6: index, %6: index):
      %cst = arith.constant 0.000000e+00 : f32
      %7 = arith.cmpf ogt, %arg3, %cst : f32
      %cst_5 = arith.constant 1.000000e+00 : f32
      %8 = arith.addf %arg3, %cst_5 : f32
      %9 = math.exp %arg3 : f32
      %10 = arith.select %7, %8, %9 : f32
      attn.yield %10 : f32
    }
    %dim_3 = tensor.dim %arg1, %c2 : tensor<?x?x?x?xf32>
    %1 = attn.einsum ins(%arg1 : tensor<?x?x?x?xf32>) sizes(%dim, %dim_0, %dim_3, %dim_2) {attn.indices = ["b", "h", "m", "e"], indexing_maps = [#map, #map], kind = #attn.reduction<none>} -> tensor<?x?x?x?xf32> {
    ^bb0(%arg3: f32, %arg4: index, %arg5: index, %arg6: index, %arg7: index):
      %cst = arith.constant 0.000000e+00 : f32
      %7 = arith.cmpf ogt, %arg3, %cst : f32
      %cst_5 = arith.constant 1.000000e+00 : f32
      %8 = arith.addf %arg3, %cst_5 : f32
      %9 = math.exp %arg3 : f32
      %10 = arith.select %7, %8, %9 : f32
      attn.yield %10 : f32
    }
    %2 = attn.einsum ins(%0, %1 : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) sizes(%dim, %dim_0, %dim_3, %dim_1, %dim_2) {attn.indices = ["b", "h", "m", "p", "e"], filter = [#set], indexing_maps = [#map1, #map2, #map3], kind = #attn.reduction<sum>} -> tensor<?x?x?x?xf32> {
    ^bb0(%arg3: f32, %arg4: f32, %arg5: index, %arg6: index, %arg7: index, %arg8: index, %arg9: index):
      %7 = arith.mulf %arg3, %arg4 : f32
      attn.yield %7 : f32
    }
    %3 = attn.einsum ins(%2 : tensor<?x?x?x?xf32>) sizes(%dim, %dim_0, %dim_1, %dim_3) {attn.indices = ["b", "h", "p", "m"], indexing_maps = [#map4, #map5], kind = #attn.reduction<sum>} -> tensor<?x?x?xf32> {
    ^bb0(%arg3: f32, %arg4: index, %arg5: index, %arg6: index, %arg7: index):
      attn.yield %arg3 : f32
    }
    %dim_4 = tensor.dim %arg2, %c3 : tensor<?x?x?x?xf32>
    %4 = attn.einsum ins(%2, %arg2 : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) sizes(%dim, %dim_0, %dim_1, %dim_4, %dim_3) {attn.indices = ["b", "h", "p", "f", "m"], indexing_maps = [#map6, #map7, #map3], kind = #attn.reduction<sum>} -> tensor<?x?x?x?xf32> {
    ^bb0(%arg3: f32, %arg4: f32, %arg5: index, %arg6: index, %arg7: index, %arg8: index, %arg9: index):
      %7 = arith.mulf %arg3, %arg4 : f32
      attn.yield %7 : f32
    }
    %5 = attn.einsum ins(%4, %3 : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) sizes(%dim, %dim_0, %dim_1, %dim_4) {attn.indices = ["b", "h", "p", "f"], indexing_maps = [#map, #map5, #map], kind = #attn.reduction<none>} -> tensor<?x?x?x?xf32> {
    ^bb0(%arg3: f32, %arg4: f32, %arg5: index, %arg6: index, %arg7: index, %arg8: index):
      %7 = arith.divf %arg3, %arg4 : f32
      attn.yield %7 : f32
    }
    %6 = attn.fill %5, 0.000000e+00 : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
    return %6 : tensor<?x?x?x?xf32>
  }
}

