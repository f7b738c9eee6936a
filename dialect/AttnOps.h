// The ops of the attn dialect: declarations generated from AttnOps.td.
#ifndef ATTN_DIALECT_ATTNOPS_H
#define ATTN_DIALECT_ATTNOPS_H

#include "dialect/AttnDialect.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/IntegerSet.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::attn {
class IterationSpaceOpInterface;
namespace detail {
/// The default implementations of IterationSpaceOpInterface's methods.
SmallVector<unsigned> reducedDims(IterationSpaceOpInterface op);
std::string indexName(Operation *op, unsigned dim);
} // namespace detail
} // namespace mlir::attn

#include "dialect/AttnInterfaces.h.inc"

#define GET_OP_CLASSES
#include "dialect/AttnOps.h.inc"

#endif
