// The reference interpreter's walk over one kernel: its tensors (row-major
// doubles with presence flags), its scalars, and the op runners that
// einsum, online, scan, fill and dim ops are executed by.
#ifndef ATTN_CODEGEN_REF_KERNELINTERPRETER_H
#define ATTN_CODEGEN_REF_KERNELINTERPRETER_H

#include "codegen/ref/Bytecode.h"
#include "codegen/ref/ReferenceInterpreter.h"

#include "dialect/AttnOps.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <map>
#include <memory>

namespace mlir::attn::ref {

/// Tensors larger than this (elements, or points of an iteration space) are
/// refused with an error rather than an allocation failure or an endless run.
constexpr int64_t kMaxElements = int64_t(1) << 31;
constexpr int64_t kMaxPoints = int64_t(1) << 36;

/// The number of elements of `shape`, or -1 past `limit`.
int64_t checkedCount(ArrayRef<int64_t> shape, int64_t limit);

/// A tensor value of the kernel: row-major doubles with presence flags.
struct Tensor {
  std::vector<int64_t> shape, strides;
  std::vector<double> values;
  std::vector<uint8_t> present; // empty: every element present
  std::string name;

  void setShape(ArrayRef<int64_t> s);
  /// How an attn.read sees this tensor (valid while it lives unchanged).
  TableView view() const;
};

class KernelInterpreter {
public:
  KernelInterpreter(func::FuncOp kernel, std::string &error);

  /// Binds `args` to the kernel's arguments and runs its body op by op.
  LogicalResult run(ArrayRef<RefArg> args, std::vector<RefTensor> &results);

  // What the op runners (runEinsum, runOnline) use.

  /// The tensor computed for `v`; null if none is held.
  Tensor *tensorOf(Value v);
  void defineTensor(Value v, std::unique_ptr<Tensor> t);
  /// The scalar computed for `v`; false if none is held.
  bool scalarOf(Value v, Slot &out);
  /// Fails with `message` as the run's error.
  LogicalResult fail(const std::string &message);
  /// The run's error text, for callees that report into it directly.
  std::string &errorText() { return error; }
  /// The extents of an op's iteration space and its symbols, with the
  /// number of points; fails on a negative extent or too many points.
  LogicalResult
  iterationSpace(Operation *op, ValueRange sizeValues, ValueRange symbolValues,
                 const std::string &where, SmallVector<int64_t> &sizes,
                 SmallVector<int64_t> &symbols, int64_t &numPoints);

private:
  /// Where a size symbol of attn.dims was first bound.
  struct SymbolUse {
    int64_t extent;
    std::string arg;
    int64_t dim;
  };

  func::FuncOp kernel;
  std::string &error;
  /// Scalars of the function body live in the slots of one program that
  /// grows op by op and is executed as it grows.
  Program funcProgram;
  ProgramCompiler funcCompiler;
  llvm::DenseMap<Value, std::unique_ptr<Tensor>> tensors;

  LogicalResult bindArguments(ArrayRef<RefArg> args);
  LogicalResult bindTensor(unsigned i, RankedTensorType type,
                           const RefTensor &t,
                           std::map<std::string, SymbolUse> &symbols);
  LogicalResult checkDimsSymbols(unsigned i, RankedTensorType type,
                                 const RefTensor &t,
                                 std::map<std::string, SymbolUse> &symbols);
  LogicalResult bindScalar(unsigned i, Type type, const RefArg &arg);
  LogicalResult runFill(FillOp op);
  LogicalResult runDim(tensor::DimOp op);
  LogicalResult runScalarOp(Operation *op);
  LogicalResult collectResults(func::ReturnOp op,
                               std::vector<RefTensor> &results);
  /// The integer value of `v`, an operand of `user` described by `what`.
  LogicalResult indexOf(Value v, int64_t &out, Operation *user,
                        const char *what);
};

/// One contribution `v` combined into an accumulator (EinsumInterpreter.cpp).
void combine(ReductionKind kind, double &acc, double v);

/// Runs an attn.scan (ScanInterpreter.cpp): each line along the scanned
/// dimension in order, carrying the running value.
LogicalResult runScan(KernelInterpreter &interpreter, ScanOp op);

/// Runs an attn.einsum (EinsumInterpreter.cpp): every point of its
/// iteration space in order, filter, guard, input presence, then the body.
LogicalResult runEinsum(KernelInterpreter &interpreter, EinsumOp op);

/// Runs an attn.online (OnlineInterpreter.cpp) the way a kernel does it, in
/// one traversal with running references.
LogicalResult runOnline(KernelInterpreter &interpreter, OnlineOp op);

} // namespace mlir::attn::ref

#endif
