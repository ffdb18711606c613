# kiln_cpu_gemm_bench (bench/cpu_gemm_bench.c): GFLOP/s of the CPU GEMM engine and of ResNet-50's
# convolution layers, and the resulting ResNet-50 estimate. A benchmark, not a test: it is built
# with the tests and run by hand (`build/tests/kiln_cpu_gemm_bench [threads]`).
add_executable(kiln_cpu_gemm_bench ${CMAKE_SOURCE_DIR}/bench/cpu_gemm_bench.c)
target_include_directories(kiln_cpu_gemm_bench PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(kiln_cpu_gemm_bench PRIVATE kiln)
