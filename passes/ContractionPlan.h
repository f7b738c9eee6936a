// The analysis of attn-reorder-contractions: einsum bodies as products of
// factors, and the plan that splits a contraction S's product into the side
// its consumers sum over and the side they keep.
#ifndef ATTN_PASSES_CONTRACTIONPLAN_H
#define ATTN_PASSES_CONTRACTIONPLAN_H

#include "dialect/AttnOps.h"

#include "llvm/ADT/SmallBitVector.h"

#include <string>

namespace mlir::attn::reorder {

using Dims = llvm::SmallBitVector;

/// The set dimensions of `dims`, in order.
SmallVector<unsigned> listOf(const Dims &dims);

//===----------------------------------------------------------------------===//
// Bodies as products
//===----------------------------------------------------------------------===//

/// A factor of an einsum body written as a product.
struct Factor {
  Value value;          // a value of the body
  bool divides = false; // a divisor
  Dims deps;            // the dimensions it depends on
};

/// The factors of `e`'s body: its yielded value split at mulf and divf.
SmallVector<Factor> factorsOf(EinsumOp e);

//===----------------------------------------------------------------------===//
// The plan: S, its consumers, the two sides of S's product
//===----------------------------------------------------------------------===//

/// One side of S's product: factors of S's body, or, once materialized, a
/// tensor read at `access` (dimensions of S).
struct Side {
  SmallVector<Factor> factors;
  Dims deps;
  Value tensor;
  SmallVector<unsigned> access;
};

/// A consumer C of S, in the space U: C's dimensions, then S's reduced ones.
struct Consumer {
  mutable EinsumOp op;              // a handle: its accessors are not const
  unsigned pos;                     // the input that reads S
  SmallVector<unsigned> sInU;       // S's dimension -> U
  SmallVector<Value> sizes;         // of U
  SmallVector<std::string> names;   // of U
  Dims reduced, sReduced;           // C's and S's reduced dimensions, in U
  SmallVector<Factor> keyed, rest;  // C's other factors: along its sums or not
  SmallVector<unsigned> resultDims; // C's result, in U

  unsigned numU() const { return sizes.size(); }
  Dims toU(const Dims &sDims) const {
    Dims u(numU());
    for (unsigned d : sDims.set_bits())
      u.set(sInU[d]);
    return u;
  }
  Dims widen(const Dims &cDims) const {
    Dims u = cDims;
    u.resize(numU());
    return u;
  }
};

struct Plan {
  mutable EinsumOp s;
  SmallVector<Consumer, 2> consumers;
  Dims keys; // S's dimensions the consumers reduce
  Side query, key;
  bool causal = false;
  unsigned q = 0, k = 0; // the filter q - k >= 0, in S's dimensions
};

/// The names of the dimensions `dims` of `e`, joined.
std::string namesOf(EinsumOp e, const Dims &dims);

/// The names of the dimensions `e` reduces.
std::string reducedNames(EinsumOp e);

/// Analyses S and its consumers; `why` says why not where a remark helps.
FailureOr<Plan> analyse(EinsumOp s, std::string &why);

} // namespace mlir::attn::reorder

#endif // ATTN_PASSES_CONTRACTIONPLAN_H
