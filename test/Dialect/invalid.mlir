// RUN: attn-opt %s --split-input-file --verify-diagnostics

func.func @map_count(%a: tensor<?xf32>, %n: index) -> tensor<?xf32> {
  // expected-error @+1 {{expects one indexing map per input and one for the result (2), got 1}}
  %r = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>], kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index):
    attn.yield %x : f32
  }
  return %r : tensor<?xf32>
}

// -----

func.func @map_dims(%a: tensor<?xf32>, %n: index) -> tensor<?xf32> {
  // expected-error @+1 {{input 0 map has 2 dimensions, but the iteration space has 1}}
  %r = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i, j) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index):
    attn.yield %x : f32
  }
  return %r : tensor<?xf32>
}

// -----

func.func @map_symbols(%a: tensor<?xf32>, %n: index) -> tensor<?xf32> {
  // expected-error @+1 {{input 0 map has 1 symbols, but the op has 0 symbol operands}}
  %r = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i)[s] -> (i floordiv s)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index):
    attn.yield %x : f32
  }
  return %r : tensor<?xf32>
}

// -----

func.func @map_rank(%a: tensor<?x?xf32>, %n: index) -> tensor<?xf32> {
  // expected-error @+1 {{input 0 map has 1 results, but the tensor has rank 2}}
  %r = attn.einsum ins(%a : tensor<?x?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index):
    attn.yield %x : f32
  }
  return %r : tensor<?xf32>
}

// -----

func.func @static_extent(%a: tensor<8xf32>) -> tensor<8xf32> {
  %n = arith.constant 7 : index
  // expected-error @+1 {{result dimension 0 has extent 8, but d0 ranges over 7}}
  %r = attn.einsum ins(%a : tensor<8xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<8xf32> {
  ^bb0(%x: f32, %i: index):
    attn.yield %x : f32
  }
  return %r : tensor<8xf32>
}

// -----

func.func @result_expr(%a: tensor<?xf32>, %n: index) -> tensor<?xf32> {
  // expected-error @+1 {{result map must name dimensions only, got d0 + 1}}
  %r = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i + 1)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index):
    attn.yield %x : f32
  }
  return %r : tensor<?xf32>
}

// -----

func.func @result_twice(%a: tensor<?xf32>, %n: index) -> tensor<?x?xf32> {
  // expected-error @+1 {{result map names d0 twice}}
  %r = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i, i)>],
        kind = #attn.reduction<none>} -> tensor<?x?xf32> {
  ^bb0(%x: f32, %i: index):
    attn.yield %x : f32
  }
  return %r : tensor<?x?xf32>
}

// -----

func.func @kind_none_reduces(%a: tensor<?x?xf32>, %n: index, %m: index) -> tensor<?xf32> {
  // expected-error @+1 {{reduces dimensions not named by the result map but has reduction kind 'none'}}
  %r = attn.einsum ins(%a : tensor<?x?xf32>) sizes(%n, %m)
       {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index, %j: index):
    attn.yield %x : f32
  }
  return %r : tensor<?xf32>
}

// -----

func.func @kind_without_reduction(%a: tensor<?xf32>, %n: index) -> tensor<?xf32> {
  // expected-error @+1 {{has reduction kind 'max' but reduces no dimension}}
  %r = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<max>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index):
    attn.yield %x : f32
  }
  return %r : tensor<?xf32>
}

// -----

func.func @empty_filter(%a: tensor<?xf32>, %n: index) -> tensor<?xf32> {
  // expected-error @+1 {{filter must hold at least one integer set}}
  %r = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>, filter = []} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index):
    attn.yield %x : f32
  }
  return %r : tensor<?xf32>
}

// -----

func.func @filter_dims(%a: tensor<?xf32>, %n: index) -> tensor<?xf32> {
  // expected-error @+1 {{filter set must have 1 dimensions and 0 symbols, got 2 and 0}}
  %r = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>, filter = [affine_set<(i, j) : (i - j >= 0)>]} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index):
    attn.yield %x : f32
  }
  return %r : tensor<?xf32>
}

// -----

func.func @result_element(%a: tensor<?xf32>, %n: index) -> tensor<?xcomplex<f32>> {
  // expected-error @+1 {{result element type must be an integer or a float, got 'complex<f32>'}}
  %r = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xcomplex<f32>> {
  ^bb0(%x: f32, %i: index):
    %c = complex.create %x, %x : complex<f32>
    attn.yield %c : complex<f32>
  }
  return %r : tensor<?xcomplex<f32>>
}

// -----

func.func @body_arity(%a: tensor<?xf32>, %n: index) -> tensor<?xf32> {
  // expected-error @+1 {{body must take one argument per input and one index per dimension (2), got 1}}
  %r = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%x: f32):
    attn.yield %x : f32
  }
  return %r : tensor<?xf32>
}

// -----

func.func @body_element(%a: tensor<?xf32>, %n: index) -> tensor<?xf32> {
  // expected-error @+1 {{body argument 0 must have the element type of input 0 ('f32'), got 'f16'}}
  %r = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%x: f16, %i: index):
    %y = arith.extf %x : f16 to f32
    attn.yield %y : f32
  }
  return %r : tensor<?xf32>
}

// -----

func.func @body_index(%a: tensor<?xf32>, %n: index) -> tensor<?xf32> {
  // expected-error @+1 {{body argument 1 (dimension 0) must be an index}}
  %r = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: i64):
    attn.yield %x : f32
  }
  return %r : tensor<?xf32>
}

// -----

func.func @yield_type(%a: tensor<?xf32>, %n: index) -> tensor<?xf64> {
  %r = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf64> {
  ^bb0(%x: f32, %i: index):
    // expected-error @+1 {{in the body must yield one value of the result element type 'f64'}}
    attn.yield %x : f32
  }
  return %r : tensor<?xf64>
}

// -----

func.func @yield_count(%a: tensor<?xf32>, %n: index) -> tensor<?xf32> {
  %r = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index):
    // expected-error @+1 {{must yield exactly one value, got 2}}
    attn.yield %x, %x : f32, f32
  }
  return %r : tensor<?xf32>
}

// -----

func.func @guard_args(%a: tensor<?xf32>, %n: index) -> tensor<?xf32> {
  // expected-error @+1 {{guard must take one index per dimension (1)}}
  %r = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index):
    attn.yield %x : f32
  } guard {
  ^bb0(%i: index, %j: index):
    %t = arith.constant true
    attn.yield %t : i1
  }
  return %r : tensor<?xf32>
}

// -----

func.func @guard_yield(%a: tensor<?xf32>, %n: index) -> tensor<?xf32> {
  // expected-error @+1 {{guard must end in attn.yield of one i1}}
  %r = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index):
    attn.yield %x : f32
  } guard {
  ^bb0(%i: index):
    attn.yield %i : index
  }
  return %r : tensor<?xf32>
}

// -----

func.func @read_rank(%a: tensor<?xf32>, %t: tensor<?x?xf32>, %n: index) -> tensor<?xf32> {
  %r = attn.einsum ins(%a : tensor<?xf32>) tables(%t : tensor<?x?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index):
    // expected-error @+1 {{has 1 indices for a tensor of rank 2}}
    %v = attn.read %t[%i] : tensor<?x?xf32> -> f32
    attn.yield %v : f32
  }
  return %r : tensor<?xf32>
}

// -----

func.func @read_type(%a: tensor<?xf32>, %t: tensor<?xf32>, %n: index) -> tensor<?xf32> {
  %r = attn.einsum ins(%a : tensor<?xf32>) tables(%t : tensor<?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index):
    // expected-error @+1 {{result type 'f64' must be the element type 'f32'}}
    %v = attn.read %t[%i] : tensor<?xf32> -> f64
    %w = arith.truncf %v : f64 to f32
    attn.yield %w : f32
  }
  return %r : tensor<?xf32>
}

// -----

func.func @read_outside(%t: tensor<?xf32>, %i: index) -> f32 {
  // expected-error @+1 {{must be inside an attn.einsum}}
  %v = attn.read %t[%i] : tensor<?xf32> -> f32
  return %v : f32
}

// -----

func.func @read_not_table(%a: tensor<?xf32>, %t: tensor<?xf32>, %n: index) -> tensor<?xf32> {
  %r = attn.einsum ins(%a : tensor<?xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<?xf32> {
  ^bb0(%x: f32, %i: index):
    // expected-error @+1 {{reads a tensor that is not one of the enclosing einsum's tables}}
    %v = attn.read %t[%i] : tensor<?xf32> -> f32
    attn.yield %v : f32
  }
  return %r : tensor<?xf32>
}

// -----

func.func @fill_rank(%a: tensor<?xf32>) -> tensor<?x?xf16> {
  // expected-error @+1 {{result rank 2 differs from input rank 1}}
  %r = attn.fill %a, 0.0 : tensor<?xf32> -> tensor<?x?xf16>
  return %r : tensor<?x?xf16>
}

// -----

func.func @fill_extent(%a: tensor<4xf32>) -> tensor<5xf16> {
  // expected-error @+1 {{dimension 0 has extent 4 in and 5 out}}
  %r = attn.fill %a, 0.0 : tensor<4xf32> -> tensor<5xf16>
  return %r : tensor<5xf16>
}

// -----

func.func @fill_element(%a: tensor<4xf32>) -> tensor<4xindex> {
  // expected-error @+1 {{result element type must be an integer or a float}}
  %r = attn.fill %a, 0.0 : tensor<4xf32> -> tensor<4xindex>
  return %r : tensor<4xindex>
}

// -----

func.func @yield_outside() {
  // expected-error @+1 {{expects parent op 'attn.einsum'}}
  attn.yield
}

// -----

#r2 = affine_map<(d0, d1) -> (d0, d1)>
#r1 = affine_map<(d0, d1) -> (d0)>
func.func @online_rescale_sign(%m: tensor<?x?xf32>, %s: tensor<?x?xf32>, %n: index, %t: index) {
  // expected-error @+1 {{rescale exponents must be negative}}
  %a, %b = attn.online ins(%m, %s : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%n, %t) {indexing_maps = [#r2, #r2, #r1, #r1], rescale = [1.0]} -> tensor<?xf32>, tensor<?xf32>
  return
}

// -----

#r2 = affine_map<(d0, d1) -> (d0, d1)>
#r1 = affine_map<(d0, d1) -> (d0)>
func.func @online_map_count(%m: tensor<?x?xf32>, %s: tensor<?x?xf32>, %n: index, %t: index) {
  // expected-error @+1 {{expects one indexing map per input and per result (4), got 3}}
  %a, %b = attn.online ins(%m, %s : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%n, %t) {indexing_maps = [#r2, #r2, #r1], rescale = [-1.0]} -> tensor<?xf32>, tensor<?xf32>
  return
}

// -----

#r2 = affine_map<(d0, d1) -> (d0, d1)>
#r1 = affine_map<(d0, d1) -> (d0)>
#r0 = affine_map<(d0, d1) -> ()>
func.func @online_sum_keeps_max_dims(%m: tensor<?x?xf32>, %s: tensor<?x?xf32>, %n: index, %t: index) {
  // expected-error @+1 {{sum 0 map must name every dimension the max map names}}
  %a, %b = attn.online ins(%m, %s : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%n, %t) {indexing_maps = [#r2, #r2, #r1, #r0], rescale = [-1.0]} -> tensor<?xf32>, tensor<f32>
  return
}

// -----

#r2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @online_reduces_nothing(%m: tensor<?x?xf32>, %s: tensor<?x?xf32>, %n: index, %t: index) {
  // expected-error @+1 {{reduces no dimension}}
  %a, %b = attn.online ins(%m, %s : tensor<?x?xf32>, tensor<?x?xf32>) sizes(%n, %t) {indexing_maps = [#r2, #r2, #r2, #r2], rescale = [-1.0]} -> tensor<?x?xf32>, tensor<?x?xf32>
  return
}

// -----

#r3 = affine_map<(d0, d1, d2) -> (d0, d2)>
#s3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#m3 = affine_map<(d0, d1, d2) -> (d0)>
#o3 = affine_map<(d0, d1, d2) -> (d0, d1)>
#bad = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @online_ref_foreign_dim(%m: tensor<?x?x?xf32>, %s: tensor<?x?x?xf32>, %n: index, %f: index, %t: index) {
  // expected-error @+1 {{ref map uses d1, which is neither reduced nor named by the max map}}
  %a, %b = attn.online ins(%m, %s : tensor<?x?x?xf32>, tensor<?x?x?xf32>) sizes(%n, %f, %t) {indexing_maps = [#bad, #s3, #m3, #o3], rescale = [-1.0]} -> tensor<?xf32>, tensor<?x?xf32>
  return
}

// -----

// An input may be read over part of a static extent, never past it.
func.func @static_extent_past_input(%a: tensor<8xf32>) -> tensor<9xf32> {
  %n = arith.constant 9 : index
  // expected-error @+1 {{input 0 dimension 0 has extent 8, but d0 ranges over 9}}
  %r = attn.einsum ins(%a : tensor<8xf32>) sizes(%n)
       {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
        kind = #attn.reduction<none>} -> tensor<9xf32> {
  ^bb0(%x: f32, %i: index):
    attn.yield %x : f32
  }
  return %r : tensor<9xf32>
}

// -----

func.func @scan_dim(%a: tensor<?x?xf32>) -> tensor<?x?xf32> {
  // expected-error @+1 {{dim 2 is not a dimension of a rank 2 tensor}}
  %r = attn.scan %a {dim = 2 : i64, kind = #attn.reduction<sum>} : tensor<?x?xf32> -> tensor<?x?xf32>
  return %r : tensor<?x?xf32>
}

// -----

func.func @scan_kind(%a: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{kind must be sum, max, min or prod}}
  %r = attn.scan %a {dim = 0 : i64, kind = #attn.reduction<none>} : tensor<?xf32> -> tensor<?xf32>
  return %r : tensor<?xf32>
}

// -----

func.func @scan_type(%a: tensor<?xf32>) -> tensor<?xf64> {
  // expected-error @+1 {{result type 'tensor<?xf64>' must equal the input type 'tensor<?xf32>'}}
  %r = attn.scan %a {dim = 0 : i64, kind = #attn.reduction<sum>} : tensor<?xf32> -> tensor<?xf64>
  return %r : tensor<?xf64>
}

// -----

func.func @scan_int(%a: tensor<?xi32>) -> tensor<?xi32> {
  // expected-error @+1 {{input must have a float element type}}
  %r = attn.scan %a {dim = 0 : i64, kind = #attn.reduction<sum>} : tensor<?xi32> -> tensor<?xi32>
  return %r : tensor<?xi32>
}
