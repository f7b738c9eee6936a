// The one definition of ATTN_COMPILER_VERSION, generated at build time.
#include "codegen/jit/CompilerVersion.h"

#include "CompilerVersion.inc"

const char *mlir::attn::compilerVersion() { return ATTN_COMPILER_VERSION; }
