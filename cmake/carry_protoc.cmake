# carry_protoc.cmake — stands in for protoc-c when KILN_CARRY_DIR is set (see carry.cmake):
#   cmake -DKILN_CARRY_DIR=DIR -P carry_protoc.cmake -- --c_out=OUT -I... onnx/onnx.proto
# writes the carried DIR/gen/onnx/onnx.pb-c.{c,h} to OUT/onnx/ (fresh timestamps, so the build
# sees them as up to date).
set(out "")
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${last})
  if(CMAKE_ARGV${i} MATCHES "^--c_out=(.*)$")
    set(out "${CMAKE_MATCH_1}")
  endif()
endforeach()
if(out STREQUAL "")
  message(FATAL_ERROR "carry_protoc: no --c_out= argument")
endif()
file(MAKE_DIRECTORY "${out}/onnx")
foreach(ext c h)
  file(READ "${KILN_CARRY_DIR}/gen/onnx/onnx.pb-c.${ext}" text)
  file(WRITE "${out}/onnx/onnx.pb-c.${ext}" "${text}")
endforeach()
