# CLI behaviour and bad-input handling (tests/cli/test_cli.py), on the normal and the sanitizer
# build alike.
add_test(NAME cli_errors
         COMMAND ${KILN_PYTHON} ${CMAKE_SOURCE_DIR}/tests/cli/test_cli.py $<TARGET_FILE:kiln_cli>
                 ${CMAKE_BINARY_DIR}/cli_work)
set_tests_properties(cli_errors PROPERTIES LABELS "unit;asan" TIMEOUT 600)
