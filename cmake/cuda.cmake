# The CUDA backend: built where nvcc is found (KILN_CUDA=AUTO), or forced ON/OFF.
# Builds for sm_90 (H100/H200) plus PTX so newer GPUs can JIT it.
set(KILN_HAVE_CUDA OFF)
if(NOT KILN_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(KILN_HAVE_CUDA ON)
  elseif(KILN_CUDA STREQUAL "ON")
    message(FATAL_ERROR "KILN_CUDA=ON but no CUDA compiler was found")
  endif()
endif()

file(GLOB KILN_CUDA_SOURCES CONFIGURE_DEPENDS
     ${CMAKE_SOURCE_DIR}/src/backend/cuda/*.c ${CMAKE_SOURCE_DIR}/src/backend/cuda/*.cu)
if(KILN_HAVE_CUDA AND KILN_CUDA_SOURCES)
  # Set before enable_language: CMake checks every target (C-only ones too) for architectures.
  set(CMAKE_CUDA_ARCHITECTURES 90-real 90-virtual)
  set(CMAKE_CUDA_STANDARD 17)
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  # cuDNN's header lives in the toolkit's include dir on some machines and in the multiarch dir
  # on others: search, never hard-code. KILN_CUDNN_ROOT picks another installation (one with
  # include/ and lib/, e.g. the nvidia-cudnn wheel PyTorch uses) instead of the system's.
  set(KILN_CUDNN_ROOT "" CACHE PATH "cuDNN installation to use instead of the system's (include/, lib/)")
  if(KILN_CUDNN_ROOT)
    find_path(CUDNN_INCLUDE cudnn.h PATHS ${KILN_CUDNN_ROOT}/include NO_DEFAULT_PATH)
    find_library(CUDNN_LIB NAMES cudnn libcudnn.so.9 PATHS ${KILN_CUDNN_ROOT}/lib ${KILN_CUDNN_ROOT}/lib64
                 NO_DEFAULT_PATH)
  endif()
  find_path(CUDNN_INCLUDE cudnn.h
            HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/include/x86_64-linux-gnu /usr/include
                  /usr/local/cuda/include)
  # The plain libcudnn.so link comes with the dev package; fall back to the runtime's soname.
  find_library(CUDNN_LIB NAMES cudnn libcudnn.so.9
               HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/lib/x86_64-linux-gnu /usr/local/cuda/lib64)
  if(NOT CUDNN_INCLUDE OR NOT CUDNN_LIB)
    message(WARNING "cuDNN not found (header: ${CUDNN_INCLUDE}, library: ${CUDNN_LIB}); CUDA backend off")
    set(KILN_HAVE_CUDA OFF)
  endif()
endif()

if(KILN_HAVE_CUDA AND KILN_CUDA_SOURCES)
  message(STATUS "kiln: CUDA backend ON (cuDNN ${CUDNN_INCLUDE}, ${CUDNN_LIB})")
  add_library(kiln_cuda STATIC ${KILN_CUDA_SOURCES})
  # Public: the backend's headers (src/backend/cuda/cuda_*.h) include cuda_runtime_api.h, and
  # tests include them.
  target_include_directories(kiln_cuda PUBLIC ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src
                             ${CUDNN_INCLUDE} ${CUDAToolkit_INCLUDE_DIRS})
  target_compile_options(kiln_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-lineinfo --expt-relaxed-constexpr
                         -Xcompiler=-Wall,-Wextra,-Wno-unused-parameter>)
  set_target_properties(kiln_cuda PROPERTIES CUDA_SEPARABLE_COMPILATION OFF POSITION_INDEPENDENT_CODE ON)
  # kiln (core: kiln_err_set) and kiln_cuda need each other; CMake repeats the two static libraries
  # on the link line.
  target_link_libraries(kiln_cuda PUBLIC CUDA::cudart_static CUDA::cublasLt ${CUDNN_LIB} kiln)
  target_link_libraries(kiln PUBLIC kiln_cuda)
  # Targets made before enable_language(CUDA) got no architectures; everything linking kiln needs
  # them set because kiln now carries CUDA objects.
  set_target_properties(kiln kiln_cuda PROPERTIES CUDA_ARCHITECTURES "90-real;90-virtual")
  target_compile_definitions(kiln PUBLIC KILN_HAVE_CUDA=1)
  # The engine-level backend (src/backend/cuda/cuda_backend.c): config.c registers
  # &kiln_backend_cuda under this switch.
  if(EXISTS ${CMAKE_SOURCE_DIR}/src/backend/cuda/cuda_backend.c)
    target_compile_definitions(kiln PUBLIC KILN_CUDA_ENGINE=1)
  endif()
  target_compile_definitions(kiln_cuda PUBLIC KILN_HAVE_CUDA=1)
else()
  message(STATUS "kiln: CUDA backend OFF")
endif()
