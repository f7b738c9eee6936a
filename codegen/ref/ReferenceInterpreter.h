// The float64 reference interpreter of the attn dialect (LANGUAGE.md exactly,
// absent points included). Every compiled kernel is checked against it.
#ifndef ATTN_CODEGEN_REF_REFERENCEINTERPRETER_H
#define ATTN_CODEGEN_REF_REFERENCEINTERPRETER_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Support/LLVM.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::attn {

/// A host tensor for the reference: row-major, values widened to double.
struct RefTensor {
  std::vector<int64_t> shape;
  std::vector<double> values;
  /// One flag per element; empty means every element is present.
  std::vector<uint8_t> present;
};

/// One kernel argument: a tensor, or a scalar input.
struct RefArg {
  bool isScalar = false;
  double scalar = 0;
  RefTensor tensor;
  static RefArg ofScalar(double v) { RefArg a; a.isScalar = true; a.scalar = v; return a; }
  static RefArg ofTensor(RefTensor t) { RefArg a; a.tensor = std::move(t); return a; }
};

/// Runs `kernel` (docs/dialect.md conventions) on `args`, one per function
/// argument in order, in float64. Outputs come back rounded to their declared
/// element types, every element present. On a user error (a shape that does
/// not match, inconsistent size symbols, an out-of-range read, an
/// unsupported op) returns failure with `error` naming it.
LogicalResult interpretKernel(func::FuncOp kernel, ArrayRef<RefArg> args,
                              std::vector<RefTensor> &results,
                              std::string &error);

} // namespace mlir::attn

#endif
