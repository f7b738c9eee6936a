// Registration of the attn passes.
#include "passes/Passes.h"

void mlir::attn::registerAttnPasses() {}
