# `cmake --install`: the headers, the LLVM-free runtime (libattn_runtime.so,
# usable alone on a machine that only runs kernels), the compiler libraries
# with the JIT (static, over the shared libMLIR/libLLVM/libHalide the build
# used), the tools, a CMake package (find_package(attnc CONFIG) giving
# attnc::runtime and attnc::jit) and a pkg-config file for the runtime.
# docs/install.md says how to use it; test/Package builds a consumer.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ATTN_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR}/attnc)
set(ATTN_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/attnc)
set(ATTN_VERSION ${ATTN_COMPILER_BASE_VERSION})

# Headers, under include/attnc with the source tree's paths (the JIT's
# headers include "runtime/...", "codegen/..."). Only what the public API
# reaches: the runtime's C ABI and C++ wrapper, and the JIT.
install(FILES runtime/attn_runtime.h runtime/Runtime.h runtime/DType.h
              runtime/KernelManifest.h runtime/SizeExpr.h
        DESTINATION ${ATTN_INSTALL_INCLUDEDIR}/runtime COMPONENT runtime)
install(FILES codegen/jit/JitCompiler.h codegen/jit/JitStatus.h
              codegen/jit/KernelCache.h
        DESTINATION ${ATTN_INSTALL_INCLUDEDIR}/codegen/jit COMPONENT jit)
install(FILES codegen/halide/HalideEmitter.h codegen/halide/HostSignature.h
        DESTINATION ${ATTN_INSTALL_INCLUDEDIR}/codegen/halide COMPONENT jit)
install(FILES codegen/ref/ReferenceInterpreter.h
        DESTINATION ${ATTN_INSTALL_INCLUDEDIR}/codegen/ref COMPONENT jit)

# The runtime: shared, no LLVM.
set_target_properties(attn_runtime_shared PROPERTIES EXPORT_NAME runtime)
target_include_directories(attn_runtime_shared INTERFACE
  $<INSTALL_INTERFACE:${ATTN_INSTALL_INCLUDEDIR}>)
install(TARGETS attn_runtime_shared EXPORT attncRuntimeTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime)
install(EXPORT attncRuntimeTargets NAMESPACE attnc::
        DESTINATION ${ATTN_INSTALL_CMAKEDIR} COMPONENT runtime)

# The compiler libraries, in link order; attnc::jit (attncConfig.cmake)
# bundles them with MLIR's and LLVM's include directories.
set(ATTN_COMPILER_LIBRARIES AttnJit AttnHalideCodegen AttnHostSignature
    AttnGpuCodegen AttnRefInterpreter AttnFrontend AttnPasses AttnDialect AttnRuntime)
install(TARGETS ${ATTN_COMPILER_LIBRARIES} EXPORT attncCompilerTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}/attnc COMPONENT jit)
install(EXPORT attncCompilerTargets NAMESPACE attnc::internal::
        DESTINATION ${ATTN_INSTALL_CMAKEDIR} COMPONENT jit)

# The tools find libMLIR/libLLVM where the build found them.
set_target_properties(attnc attn-opt PROPERTIES
  INSTALL_RPATH "${LLVM_LIBRARY_DIR}")
install(TARGETS attnc attn-opt RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        COMPONENT tools)

set(ATTN_MLIR_DIR ${MLIR_DIR})
set(ATTN_HALIDE_LIBRARY ${HALIDE_LIBRARY})
configure_package_config_file(cmake/attncConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/attncConfig.cmake
  INSTALL_DESTINATION ${ATTN_INSTALL_CMAKEDIR})
write_basic_package_version_file(
  ${CMAKE_CURRENT_BINARY_DIR}/attncConfigVersion.cmake
  VERSION ${ATTN_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/attncConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/attncConfigVersion.cmake
        DESTINATION ${ATTN_INSTALL_CMAKEDIR} COMPONENT runtime)

configure_file(cmake/attn_runtime.pc.in
  ${CMAKE_CURRENT_BINARY_DIR}/attn_runtime.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/attn_runtime.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT runtime)
