// Placeholder until the interpreter lands.
#include "codegen/ref/ReferenceInterpreter.h"
mlir::LogicalResult mlir::attn::interpretKernel(func::FuncOp, ArrayRef<RefArg>,
                                                std::vector<RefTensor> &,
                                                std::string &error) {
  error = "the reference interpreter is not built yet";
  return mlir::failure();
}
