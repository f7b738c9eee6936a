// RUN: attn-opt %s --split-input-file --verify-diagnostics
// The dialect's discardable attributes (AttnDialect.td) are verified: passes
// may read them without checking their shape again.

// attn.indices names every iteration dimension with a string.
func.func @indices_integers(%a: tensor<?xf32>, %n: index) -> tensor<?xf32> {
  // expected-error @+1 {{'attn.indices' must be an array of strings}}
  %r = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
       {attn.indices = [1], indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index):
    attn.yield %x : f32
  }
  return %r : tensor<?xf32>
}

// -----

func.func @indices_too_few(%a: tensor<?x?xf32>, %n: index) -> tensor<?xf32> {
  // expected-error @+1 {{'attn.indices' has 1 names for 2 dimensions}}
  %r = attn.einsum ins(%a : tensor<?x?xf32>) sizes(%n, %n)
       {attn.indices = ["p"], indexing_maps = [affine_map<(p, m) -> (p, m)>, affine_map<(p, m) -> (p)>],
        kind = #attn.reduction<sum>} -> tensor<?xf32> {
  ^bb0(%x: f32, %p: index, %m: index):
    attn.yield %x : f32
  }
  return %r : tensor<?xf32>
}

// -----

func.func @indices_not_a_space(%a: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{'attn.indices' belongs on attn.einsum or attn.online}}
  %r = attn.fill %a, 0.0 {attn.indices = ["i"]} : tensor<?xf32> -> tensor<?xf32>
  return %r : tensor<?xf32>
}

// -----

func.func @split_on_einsum(%a: tensor<?xf32>, %n: index) -> tensor<?xf32> {
  // expected-error @+1 {{'attn.split' must be a unit attribute on attn.online}}
  %r = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
       {attn.split, indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index):
    attn.yield %x : f32
  }
  return %r : tensor<?xf32>
}

// -----

// The kernel-level tiling record of earlier versions is gone: tiling is
// read from the maps (m1 * T + m0), so an unknown attn attribute is an error.
// expected-error @+1 {{has an unknown attn attribute 'attn.tiled'}}
func.func @tiled_record(%a: tensor<?xf32>) -> tensor<?xf32> attributes {attn.kernel, attn.tiled = {m1 = ["m", "m0", 64]}} {
  return %a : tensor<?xf32>
}

// -----

// expected-error @+1 {{'attn.kernel' must be a unit attribute on a func.func}}
func.func @kernel_value(%a: tensor<?xf32>) -> tensor<?xf32> attributes {attn.kernel = 1 : i32} {
  return %a : tensor<?xf32>
}

// -----

// expected-error @+1 {{argument attribute: 'attn.dims' has 1 names for 2 dimensions}}
func.func @dims_count(%a: tensor<?x?xf32> {attn.name = "Q", attn.dims = ["P"]}) -> tensor<?x?xf32> {
  return %a : tensor<?x?xf32>
}

// -----

// expected-error @+1 {{result attribute: 'attn.name' must be a string}}
func.func @result_name(%a: tensor<?xf32>) -> (tensor<?xf32> {attn.name = 3 : i32}) {
  return %a : tensor<?xf32>
}
