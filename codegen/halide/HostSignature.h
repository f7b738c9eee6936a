// What the host needs to call a compiled kernel, read once from its
// func.func (no Halide): every argument as the runtime's manifest describes
// it, and the kernel's integer size arithmetic, replayed on the host to give
// the output shapes of a call. Used by the in-process HalideKernel and by the
// JIT's kernels loaded through the runtime; outlives the module.
#ifndef ATTN_CODEGEN_HALIDE_HOSTSIGNATURE_H
#define ATTN_CODEGEN_HALIDE_HOSTSIGNATURE_H

#include "codegen/ref/ReferenceInterpreter.h"
#include "runtime/KernelManifest.h"
#include "runtime/attn_runtime.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <string>
#include <vector>

namespace mlir::attn {

class HostSignature {
public:
  /// Reads `kernel` (docs/dialect.md conventions). A size the host cannot
  /// compute before a run is reported as a diagnostic on its op.
  static FailureOr<HostSignature> build(func::FuncOp kernel);

  const std::string &kernelName() const { return name; }
  /// The inputs in order, then the outputs, as in the runtime's manifest
  /// (name, dtype, size symbols or literals, fill).
  const std::vector<::attn::rt::ManifestArgument> &arguments() const {
    return args;
  }

  /// The output shapes of a call on these inputs: `tensors` the tensor inputs
  /// in order (entries after them are ignored), `scalars` the scalar inputs.
  /// Checks what it reads (counts, ranks) and that every iteration space fits
  /// the CPU target (0 to 2^31-1 per dimension and output).
  bool outputShapes(ArrayRef<attn_tensor> tensors,
                    ArrayRef<attn_scalar> scalars,
                    std::vector<std::vector<int64_t>> &shapes,
                    std::string &error) const;
  /// outputShapes, and the outputs at the end of `tensors` must have them.
  bool checkOutputShapes(ArrayRef<attn_tensor> tensors,
                         ArrayRef<attn_scalar> scalars,
                         std::string &error) const;

  /// A typed call: tensor inputs then outputs (caller-allocated), scalars.
  using TypedCall = llvm::function_ref<bool(
      ArrayRef<attn_tensor>, ArrayRef<attn_scalar>, std::string &error)>;
  /// Runs `call` on RefArgs (one per input): checks their kinds, ranks and
  /// value counts, converts the values to the declared types, allocates the
  /// outputs (poisoned, so an element never written shows as NaN), and
  /// converts the results back to doubles.
  bool runOnRefArgs(ArrayRef<RefArg> refArgs, std::vector<RefTensor> &results,
                    std::string &error, TypedCall call) const;

private:
  friend class SizeProgramBuilder;
  /// The host's replay of one integer size computation of the kernel.
  struct SizeExpr {
    enum Kind {
      Constant,
      ArgDim,
      ScalarArg,
      Add,
      Sub,
      Mul,
      FloorDiv,
      CeilDiv,
      DivS,
      RemS,
      MaxS,
      MinS
    } kind;
    int64_t value = 0;         // Constant
    unsigned arg = 0, dim = 0; // ArgDim, ScalarArg
    int lhs = -1, rhs = -1;
  };
  std::string name;
  std::vector<::attn::rt::ManifestArgument> args;
  size_t numInputs = 0;
  std::vector<SizeExpr> sizes;  // in evaluation order
  std::vector<int> einsumSizes; // every einsum extent (checked)
  std::vector<std::vector<int>> outputDims;
};

} // namespace mlir::attn

#endif
