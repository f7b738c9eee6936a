// EinsumBuilder: makes a new attn.einsum out of pieces of other einsums'
// bodies. Inputs, tables and symbols are gathered as computations are cloned
// in, so a rewrite only says where each source dimension lands.
#ifndef ATTN_PASSES_EINSUMBUILDER_H
#define ATTN_PASSES_EINSUMBUILDER_H

#include "dialect/AttnOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

#include <memory>
#include <string>

namespace mlir::attn {

/// The source name of each of `e`'s dimensions (attn.indices), or `d<N>`.
SmallVector<std::string> indexNames(EinsumOp e);

/// `wanted`, or `wanted_N` (the smallest N free) when an op in `scope`
/// already names a dimension `wanted` or `wanted_N`: the names a pass invents
/// (m1, m0, mw) never repeat a user's, so generated code and remarks stay
/// readable (correctness never depends on names).
std::string freshIndexName(Operation *scope, StringRef wanted);

class EinsumBuilder {
public:
  /// An iteration space with one dimension per size, named `names` (the
  /// op's attn.indices; none if empty).
  EinsumBuilder(OpBuilder &builder, Location loc, ValueRange sizes,
                ArrayRef<std::string> names);
  ~EinsumBuilder();

  unsigned numDims() const { return sizes.size(); }
  AffineExpr dim(unsigned d) const;
  /// The symbol standing for the index value `v`, added on first use.
  AffineExpr symbol(Value v);

  Block *body() { return bodyBlock.get(); }
  /// The guard block, created on first use.
  Block *guard();
  /// A builder that appends to `block`.
  OpBuilder at(Block *block);

  /// The body argument holding `tensor` read at `access` (expressions over
  /// this op's dimensions and symbols); one input per tensor and access.
  Value read(Value tensor, ArrayRef<AffineExpr> access);
  /// The value of the index expression `e`, computed in `block`.
  Value index(Block *block, AffineExpr e);

  /// Where a source einsum's dimensions land: `place[d]` is the expression
  /// over this op's dimensions (and symbols) of the source's dimension d.
  /// Rewrites `e`, over the source's dimensions and symbols, to this op's.
  AffineExpr placed(EinsumOp src, ArrayRef<AffineExpr> place, AffineExpr e);
  /// Clones the computation of `v`, a value of `src`'s body or guard, into
  /// `block`. Source inputs become reads at placed maps, source dimensions
  /// placed index values; `known` holds values already cloned (or given).
  Value clone(Block *block, EinsumOp src, Value v, ArrayRef<AffineExpr> place,
              IRMapping &known);

  /// One conjunction of the filter (`exprs[i] >= 0`, or `== 0` where
  /// `isEq[i]`); the filter is the union of the conjunctions added.
  void addFilterConjunction(ArrayRef<AffineExpr> exprs, ArrayRef<bool> isEq);

  /// Creates the op before the builder's insertion point: the body yields
  /// `value`, the guard (if any) yields `guardValue`; the result names
  /// `resultDims` in order, every other dimension is reduced with `kind`.
  EinsumOp finish(Value value, Type elementType, ArrayRef<unsigned> resultDims,
                  ReductionKind kind, Value guardValue = {});

private:
  OpBuilder &builder;
  Location loc;
  SmallVector<Value> sizes;
  SmallVector<std::string> names;
  SmallVector<Value> symbols, tables;
  SmallVector<std::pair<Value, SmallVector<AffineExpr>>> inputs;
  SmallVector<std::pair<SmallVector<AffineExpr>, SmallVector<bool>>> filter;
  std::unique_ptr<Block> bodyBlock, guardBlock;
  SmallVector<Value> bodyDims, guardDims;
  DenseMap<std::pair<Block *, AffineExpr>, Value> indexCache;
};

} // namespace mlir::attn

#endif
