# onnx.cmake — the ONNX importer's tests: a fixture step writes the small models that
# tests/test_onnx_*.c read (scripts/make_onnx_cases.py, Debian's python3 with the onnx package),
# then each C test reads them from ${CMAKE_BINARY_DIR}/onnx_cases (KILN_BUILD_DIR).
add_test(NAME onnx_cases
         COMMAND ${KILN_PYTHON} ${CMAKE_SOURCE_DIR}/scripts/make_onnx_cases.py
                 ${CMAKE_BINARY_DIR}/onnx_cases)
set_tests_properties(onnx_cases PROPERTIES FIXTURES_SETUP onnx_cases LABELS "unit;asan"
                     TIMEOUT 120)

file(GLOB KILN_ONNX_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/test_onnx_*.c)
foreach(src ${KILN_ONNX_TESTS})
  get_filename_component(name ${src} NAME_WE)
  set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED onnx_cases LABELS "unit;asan")
endforeach()
