# kiln build / kiln graph and plan files through the CLI (tests/cli/test_build_graph.sh).
add_test(NAME cli_build_graph
         COMMAND /bin/bash ${CMAKE_SOURCE_DIR}/tests/cli/test_build_graph.sh $<TARGET_FILE:kiln_cli>
                 ${CMAKE_BINARY_DIR}/cli_build_graph)
set_tests_properties(cli_build_graph PROPERTIES LABELS "unit;asan" TIMEOUT 600)
