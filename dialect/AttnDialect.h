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
/// The discardable attributes declared in AttnDialect.td (verified by the
/// dialect): their names.
constexpr llvm::StringLiteral kKernelAttr =
    AttnDialect::KernelAttrHelper::getNameStr(); // marks a kernel function
constexpr llvm::StringLiteral kIndicesAttr =
    AttnDialect::IndicesAttrHelper::getNameStr(); // dimension source names
constexpr llvm::StringLiteral kSplitAttr =
    AttnDialect::SplitAttrHelper::getNameStr(); // online op made by a split
constexpr llvm::StringLiteral kNameAttr =
    AttnDialect::NameAttrHelper::getNameStr(); // argument/result source name
constexpr llvm::StringLiteral kDimsAttr =
    AttnDialect::DimsAttrHelper::getNameStr(); // size symbol per dimension

/// Records `names` as the source names of `op`'s iteration dimensions
/// (attn.indices); nothing when `names` is empty.
void setIndexNames(Operation *op, ArrayRef<std::string> names);

/// "file:line:col" of a location (through names, fusions and call sites),
/// else the location as MLIR prints it: how messages name a place in the
/// .attn source.
std::string locationText(Location loc);
} // namespace mlir::attn

#endif
