// The compiler's version string, part of every JIT cache key: the base
// version and `git describe` of the tree it was built from (CMake writes it on
// every build, see CompilerVersion.cmake).
#ifndef ATTN_CODEGEN_JIT_COMPILERVERSION_H
#define ATTN_CODEGEN_JIT_COMPILERVERSION_H

namespace mlir::attn {

/// "0.1.0+<git describe --always --dirty>[.<hash of the uncommitted diff>]",
/// or just the base version outside a git checkout.
const char *compilerVersion();

} // namespace mlir::attn

#endif
