// How the reference interpreter names ops, types, values and points in its
// error messages.
#ifndef ATTN_CODEGEN_REF_INTERPRETERMESSAGES_H
#define ATTN_CODEGEN_REF_INTERPRETERMESSAGES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <cstdint>
#include <string>

namespace mlir::attn::ref {

/// "'arith.divsi' at file:line:col".
std::string opText(Operation *op);
std::string typeText(Type t);
/// "[1, 2, 3]".
std::string listText(ArrayRef<int64_t> v);
/// "(d0=1, d1=2)": a point of an iteration space.
std::string pointText(ArrayRef<int64_t> point);
/// The attn.name of argument `i` of `f`, or "argument #i".
std::string argName(func::FuncOp f, unsigned i);
/// How a tensor value is named in messages: its attn.name as a kernel
/// argument, a name given to its defining op, or the op and its location.
std::string valueName(Value v);

} // namespace mlir::attn::ref

#endif
