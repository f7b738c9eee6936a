// Registration of the attn dialect, its attributes and ops.
#include "dialect/AttnDialect.h"
#include "dialect/AttnOps.h"

#include "mlir/Interfaces/FunctionInterfaces.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::attn;

#include "dialect/AttnDialect.cpp.inc"
#include "dialect/AttnEnums.cpp.inc"
#define GET_ATTRDEF_CLASSES
#include "dialect/AttnAttrs.cpp.inc"

void AttnDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialect/AttnAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "dialect/AttnOps.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// The dialect's discardable attributes
//===----------------------------------------------------------------------===//

static bool isArrayOfStrings(Attribute attr) {
  auto names = dyn_cast<ArrayAttr>(attr);
  return names &&
         llvm::all_of(names, [](Attribute a) { return isa<StringAttr>(a); });
}

/// An array of `count` strings, else an error naming `what`.
static LogicalResult verifyNameArray(function_ref<InFlightDiagnostic()> error,
                                     Attribute attr, StringRef what,
                                     int64_t count) {
  if (!isArrayOfStrings(attr))
    return error() << "'" << what << "' must be an array of strings";
  auto names = cast<ArrayAttr>(attr);
  if (static_cast<int64_t>(names.size()) != count)
    return error() << "'" << what << "' has " << names.size()
                   << " names for " << count << " dimensions";
  return success();
}

LogicalResult AttnDialect::verifyOperationAttribute(Operation *op,
                                                    NamedAttribute attr) {
  StringRef name = attr.getName().strref();
  auto error = [&]() { return op->emitOpError(); };
  if (name == kKernelAttr) {
    if (!isa<func::FuncOp>(op) || !isa<UnitAttr>(attr.getValue()))
      return error() << "'" << name << "' must be a unit attribute on a "
                     << "func.func";
    return success();
  }
  if (name == kIndicesAttr) {
    // The count is checked by the op's verifier (after its operands are).
    if (!isa<IterationSpaceOpInterface>(op))
      return error() << "'" << name << "' belongs on attn.einsum or "
                     << "attn.online";
    if (!isArrayOfStrings(attr.getValue()))
      return error() << "'" << name << "' must be an array of strings";
    return success();
  }
  if (name == kSplitAttr) {
    if (!isa<OnlineOp>(op) || !isa<UnitAttr>(attr.getValue()))
      return error() << "'" << name << "' must be a unit attribute on "
                     << "attn.online";
    return success();
  }
  if (name == kNameAttr || name == kDimsAttr)
    return error() << "'" << name << "' belongs on a kernel's arguments and "
                   << "results";
  return error() << "has an unknown attn attribute '" << name << "'";
}

/// attn.name and attn.dims on the argument or result of type `type`.
static LogicalResult verifyValueAttribute(Operation *op, Type type,
                                          NamedAttribute attr,
                                          StringRef which) {
  StringRef name = attr.getName().strref();
  auto error = [&]() {
    return op->emitOpError() << which << " attribute: ";
  };
  if (name == kNameAttr) {
    if (!isa<StringAttr>(attr.getValue()))
      return error() << "'" << name << "' must be a string";
    return success();
  }
  if (name == kDimsAttr) {
    auto tensor = dyn_cast<RankedTensorType>(type);
    return verifyNameArray(error, attr.getValue(), name,
                           tensor ? tensor.getRank() : 0);
  }
  return error() << "unknown attn attribute '" << name << "'";
}

LogicalResult AttnDialect::verifyRegionArgAttribute(Operation *op,
                                                    unsigned regionIndex,
                                                    unsigned argIndex,
                                                    NamedAttribute attr) {
  Region &region = op->getRegion(regionIndex);
  Type type = region.empty() || argIndex >= region.getNumArguments()
                  ? Type()
                  : region.getArgument(argIndex).getType();
  if (!type)
    if (auto fn = dyn_cast<FunctionOpInterface>(op))
      if (argIndex < fn.getNumArguments())
        type = fn.getArgumentTypes()[argIndex];
  return verifyValueAttribute(op, type, attr, "argument");
}

LogicalResult AttnDialect::verifyRegionResultAttribute(Operation *op,
                                                       unsigned regionIndex,
                                                       unsigned resultIndex,
                                                       NamedAttribute attr) {
  Type type;
  if (auto fn = dyn_cast<FunctionOpInterface>(op))
    if (resultIndex < fn.getNumResults())
      type = fn.getResultTypes()[resultIndex];
  return verifyValueAttribute(op, type, attr, "result");
}

std::string mlir::attn::locationText(Location loc) {
  if (auto f = dyn_cast<FileLineColLoc>(loc))
    return f.getFilename().str() + ":" + std::to_string(f.getLine()) + ":" +
           std::to_string(f.getColumn());
  if (auto n = dyn_cast<NameLoc>(loc))
    return locationText(n.getChildLoc());
  if (auto fused = dyn_cast<FusedLoc>(loc))
    if (!fused.getLocations().empty())
      return locationText(fused.getLocations().front());
  if (auto c = dyn_cast<CallSiteLoc>(loc))
    return locationText(c.getCallee());
  std::string s;
  llvm::raw_string_ostream os(s);
  loc.print(os);
  return s;
}
