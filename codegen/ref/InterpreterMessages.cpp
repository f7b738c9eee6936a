// How the reference interpreter names ops, types, values and points in its
// error messages.
#include "codegen/ref/InterpreterMessages.h"

#include "dialect/AttnDialect.h"

#include "llvm/Support/raw_ostream.h"

namespace mlir::attn::ref {

std::string opText(Operation *op) {
  return "'" + op->getName().getStringRef().str() + "' at " +
         locationText(op->getLoc());
}

std::string typeText(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  t.print(os);
  return s;
}

std::string listText(ArrayRef<int64_t> v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::string pointText(ArrayRef<int64_t> point) {
  std::string s = "(";
  for (size_t i = 0; i < point.size(); ++i)
    s += (i ? ", d" : "d") + std::to_string(i) + "=" + std::to_string(point[i]);
  return s + ")";
}

std::string argName(func::FuncOp f, unsigned i) {
  if (auto n = f.getArgAttrOfType<StringAttr>(i, kNameAttr))
    return n.str();
  return "argument #" + std::to_string(i);
}

std::string valueName(Value v) {
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    if (auto f = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp()))
      return argName(f, arg.getArgNumber());
    return "block argument #" + std::to_string(arg.getArgNumber());
  }
  Operation *def = v.getDefiningOp();
  if (auto n = def->getAttrOfType<StringAttr>(kNameAttr))
    return n.str();
  if (auto n = dyn_cast<NameLoc>(def->getLoc()))
    return n.getName().str();
  return "the result of " + opText(def);
}

} // namespace mlir::attn::ref
