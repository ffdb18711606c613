# carry.cmake — build where protoc-c, protobuf-c or zlib's development files are missing.
#
# The GPU machine has a compiler, CMake and CUDA but no package registry. scripts/prepare-carry.sh
# (run here, where the packages are installed) fills a git-ignored folder with what the build
# takes from them:
#   gen/onnx/onnx.pb-c.{c,h}   protoc-c's output for the system onnx.proto
#   proto/onnx/onnx.proto      the proto it came from
#   include/protobuf-c/...     protobuf-c's header;  lib/libprotobuf-c.a
#   include/zlib.h, zconf.h    zlib's headers;       lib/libz.a
# Configure with -DKILN_CARRY_DIR=<that folder> and this file points CMakeLists.txt's find_*
# results at it (a find_* whose cache variable is already set does not search again). Without
# KILN_CARRY_DIR nothing changes.
set(KILN_CARRY_DIR "" CACHE PATH "Dependencies prepared by scripts/prepare-carry.sh (empty: use the system's)")

if(KILN_CARRY_DIR)
  get_filename_component(KILN_CARRY_DIR "${KILN_CARRY_DIR}" ABSOLUTE)
  foreach(f gen/onnx/onnx.pb-c.c gen/onnx/onnx.pb-c.h proto/onnx/onnx.proto
            include/protobuf-c/protobuf-c.h lib/libprotobuf-c.a)
    if(NOT EXISTS "${KILN_CARRY_DIR}/${f}")
      message(FATAL_ERROR "KILN_CARRY_DIR=${KILN_CARRY_DIR} lacks ${f}: run scripts/prepare-carry.sh")
    endif()
  endforeach()
  # "protoc-c" replays the carried output: cmake -P carry_protoc.cmake -- <protoc-c arguments>.
  set(PROTOC_C "${CMAKE_COMMAND};-DKILN_CARRY_DIR=${KILN_CARRY_DIR};-P;${CMAKE_CURRENT_LIST_DIR}/carry_protoc.cmake;--"
      CACHE STRING "protoc-c, or its replay from KILN_CARRY_DIR" FORCE)
  set(ONNX_PROTO "${KILN_CARRY_DIR}/proto/onnx/onnx.proto" CACHE FILEPATH "onnx.proto" FORCE)
  set(PROTOBUF_C_INCLUDE "${KILN_CARRY_DIR}/include" CACHE PATH "protobuf-c headers" FORCE)
  set(PROTOBUF_C_STATIC "${KILN_CARRY_DIR}/lib/libprotobuf-c.a" CACHE FILEPATH "libprotobuf-c.a" FORCE)
  # zlib: the system's when it has the headers and the library, the carried copy otherwise.
  find_path(KILN_SYSTEM_ZLIB_H zlib.h)
  find_library(KILN_SYSTEM_ZLIB NAMES z)
  if((NOT KILN_SYSTEM_ZLIB_H OR NOT KILN_SYSTEM_ZLIB) AND EXISTS "${KILN_CARRY_DIR}/lib/libz.a")
    set(ZLIB_INCLUDE_DIR "${KILN_CARRY_DIR}/include" CACHE PATH "zlib headers" FORCE)
    set(ZLIB_LIBRARY "${KILN_CARRY_DIR}/lib/libz.a" CACHE FILEPATH "zlib" FORCE)
  endif()
  message(STATUS "kiln: using prepared dependencies from ${KILN_CARRY_DIR}")
endif()
