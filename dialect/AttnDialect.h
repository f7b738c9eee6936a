// The attn dialect: declarations generated from AttnDialect.td.
#ifndef ATTN_DIALECT_ATTNDIALECT_H
#define ATTN_DIALECT_ATTNDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dialect.h"

#include "dialect/AttnDialect.h.inc"
#include "dialect/AttnEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialect/AttnAttrs.h.inc"

namespace mlir::attn {
/// Argument and result attributes of a kernel function.
constexpr llvm::StringLiteral kNameAttr = "attn.name";   // source name
constexpr llvm::StringLiteral kDimsAttr = "attn.dims";   // size symbol per dim
constexpr llvm::StringLiteral kKernelAttr = "attn.kernel"; // marks a kernel
/// On an einsum: the source name of each iteration dimension (optional).
constexpr llvm::StringLiteral kIndicesAttr = "attn.indices";
/// On a kernel, set by attn-one-pass: for every rank it tiled, the outer
/// (tile) index name -> [the rank's name, the inner index name, tile size],
/// e.g. {m1 = ["m", "m0", 64]}.
constexpr llvm::StringLiteral kTiledAttr = "attn.tiled";
/// On the attn.online ops made by attn-split-reduction (not split again).
constexpr llvm::StringLiteral kSplitAttr = "attn.split";

/// "file:line:col" of a location (through names, fusions and call sites),
/// else the location as MLIR prints it: how messages name a place in the
/// .attn source.
std::string locationText(Location loc);
} // namespace mlir::attn

#endif
