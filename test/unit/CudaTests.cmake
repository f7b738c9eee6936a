# The runtime's CUDA tests, which need nothing but the runtime: included by
# test/CMakeLists.txt (the main build) and by runtime/CMakeLists.txt when it
# is built on its own (the GPU machine, where GoogleTest may be installed).
#
# CudaRuntimeTests runs against a stub CUDA driver (FakeCudaDriver.cpp,
# loaded through ATTN_CUDA_DRIVER) on any machine, and against the real
# driver where there is a GPU (skipped elsewhere). It also runs the harness
# attn-gpu-run (runtime/CMakeLists.txt) on the stub driver.
add_library(attn_fake_cuda SHARED ${ATTN_SOURCE_DIR}/test/unit/FakeCudaDriver.cpp)
target_include_directories(attn_fake_cuda PRIVATE ${ATTN_SOURCE_DIR})
set_target_properties(attn_fake_cuda PROPERTIES
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/unit)

add_executable(CudaRuntimeTests ${ATTN_SOURCE_DIR}/test/unit/CudaRuntimeTest.cpp)
target_link_libraries(CudaRuntimeTests PRIVATE AttnRuntime GTest::gtest_main)
add_dependencies(CudaRuntimeTests attn_fake_cuda attn-gpu-run)
target_compile_definitions(CudaRuntimeTests PRIVATE
  ATTN_SOURCE_DIR="${ATTN_SOURCE_DIR}"
  ATTN_FAKE_CUDA_DRIVER="$<TARGET_FILE:attn_fake_cuda>"
  ATTN_GPU_RUN="$<TARGET_FILE:attn-gpu-run>")
# cuda.h, where installed, only to compare runtime/CudaDriver.h's constants.
find_path(ATTN_CUDA_INCLUDE_DIR cuda.h
  HINTS ENV CUDA_HOME ENV CUDA_PATH PATHS /usr/local/cuda
  PATH_SUFFIXES include NO_CACHE)
if(ATTN_CUDA_INCLUDE_DIR)
  target_include_directories(CudaRuntimeTests SYSTEM PRIVATE ${ATTN_CUDA_INCLUDE_DIR})
  target_compile_definitions(CudaRuntimeTests PRIVATE ATTN_HAVE_CUDA_H=1)
endif()
set_target_properties(CudaRuntimeTests PROPERTIES RUNTIME_OUTPUT_DIRECTORY
                      ${CMAKE_CURRENT_BINARY_DIR}/unit)
list(APPEND ATTN_UNIT_TARGETS CudaRuntimeTests attn_fake_cuda)
