# kiln_cuda_bench (bench/cuda_engine_bench.c): build time, device time (CUDA graph replay), end to
# end and multi-stream throughput, device memory and per-layer times of a CUDA engine. A
# benchmark, not a test: scripts/gpu-bench.sh runs it. Built only with the CUDA engine.
if(TARGET kiln_cuda AND EXISTS ${CMAKE_SOURCE_DIR}/src/backend/cuda/cuda_backend.c)
  add_executable(kiln_cuda_bench ${CMAKE_SOURCE_DIR}/bench/cuda_engine_bench.c)
  target_include_directories(kiln_cuda_bench PRIVATE ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(kiln_cuda_bench PRIVATE kiln)
endif()
