// The float64 reference interpreter's entry point: the kernel is verified,
// then run by a KernelInterpreter (KernelInterpreter.h). README.md lists the
// other parts.
#include "codegen/ref/ReferenceInterpreter.h"
#include "codegen/ref/KernelInterpreter.h"

#include "dialect/AttnDialect.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"

using namespace mlir;

LogicalResult mlir::attn::interpretKernel(func::FuncOp kernel,
                                          ArrayRef<RefArg> args,
                                          std::vector<RefTensor> &results,
                                          std::string &error) {
  if (!kernel) {
    error = "no kernel to interpret";
    return failure();
  }
  // The interpreter relies on the verifiers' guarantees (map arities, block
  // signatures); check them first and report the first diagnostic.
  {
    std::string diagnostic;
    ScopedDiagnosticHandler handler(kernel.getContext(), [&](Diagnostic &d) {
      if (diagnostic.empty())
        diagnostic = locationText(d.getLocation()) + ": " + d.str();
      return success();
    });
    if (failed(mlir::verify(kernel))) {
      error = "kernel " + kernel.getSymName().str() +
              " does not verify: " + diagnostic;
      return failure();
    }
  }
  if (kernel.getBody().getBlocks().size() > 1) {
    error = "kernel " + kernel.getSymName().str() +
            " has more than one block (control flow is not supported)";
    return failure();
  }
  ref::KernelInterpreter interpreter(kernel, error);
  return interpreter.run(args, results);
}
