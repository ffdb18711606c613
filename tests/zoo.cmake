# Zoo tests: torchvision's own numbers (parameter counts, MACs, layer counts, state_dict shapes)
# are computed at test time by scripts/zoo_reference.py, never committed; test_zoo reads them.
# Debian's python has torch/torchvision (the pyenv python on PATH does not).
add_test(NAME zoo_reference
         COMMAND ${KILN_PYTHON} ${CMAKE_SOURCE_DIR}/scripts/zoo_reference.py
                 -o ${CMAKE_BINARY_DIR}/zoo_reference.json)
set_tests_properties(zoo_reference PROPERTIES FIXTURES_SETUP zoo_reference TIMEOUT 300
                     LABELS "unit;asan")
if(TEST test_zoo)
  set_tests_properties(test_zoo PROPERTIES FIXTURES_REQUIRED zoo_reference)
endif()
