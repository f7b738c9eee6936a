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
///
/// How it reads the semantics (LANGUAGE.md, "Absent points"):
/// - Each einsum point is tried in order: the filter (affine, evaluated with
///   floor division), then the guard, then the presence of every input
///   element read through a map, then the body. Nothing later is evaluated
///   once a step says the point does not exist, so garbage indices at such
///   points are never read or bounds-checked.
/// - An input map that leaves its tensor is an error only at a point that
///   would otherwise contribute (the filter and guard pass and the inputs
///   that are in range are present); an attn.read that leaves its table is an
///   error when it is executed. An attn.read of an absent element makes the
///   point absent.
/// - Arithmetic is in double whatever the element types (index and integer
///   math in int64, wrapping at each type's width, integer division by zero
///   an error); arith.truncf is the one place that rounds, to its result
///   type; fptosi/fptoui saturate. attn.fill rounds to its result type
///   (attn::rt::roundToDType). A returned value that still has absent points
///   (not written through attn.fill) gets 0 there.
/// - Arguments are checked first: their number, scalar versus tensor, rank,
///   static extents, and that extents with the same attn.dims symbol agree.
LogicalResult interpretKernel(func::FuncOp kernel, ArrayRef<RefArg> args,
                              std::vector<RefTensor> &results,
                              std::string &error);

} // namespace mlir::attn

#endif
