// fuzz_onnx.c — libFuzzer target for the ONNX importer (kiln_onnx_import_memory).
//
// Not part of the default build (it needs clang's libFuzzer). Build it from the repository root
// after any configure has generated the protobuf-c code (BUILD below is that build folder):
//
//   BUILD=build
//   clang-14 -g -O1 -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
//       -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude -Isrc -I$BUILD/gen \
//       tests/fuzz/fuzz_onnx.c src/onnx/*.c src/core/graph.c src/core/op.c src/core/dtype.c \
//       src/core/err.c $BUILD/gen/onnx/onnx.pb-c.c -l:libprotobuf-c.a -lm -o fuzz_onnx
//
// Seed it with the models the tests use and run it:
//
//   /usr/bin/python3 scripts/make_onnx_cases.py /tmp/onnx_cases
//   mkdir -p corpus && cp /tmp/onnx_cases/*.onnx /tmp/onnx_cases/ext/*.onnx corpus/
//   KILN_FUZZ_BASE_DIR=/tmp/onnx_cases/ext ./fuzz_onnx -dict=tests/fuzz/onnx.dict \
//       -max_len=20000 -rss_limit_mb=2048 -timeout=10 -max_total_time=300 corpus
//
// KILN_FUZZ_BASE_DIR is where external data is looked up (the ext/ folder of the cases lets the
// fuzzer reach the external-data reader); unset, a folder that does not exist is used.
//
// Beyond "no crash, no leak, no undefined behaviour", each input checks the importer's
// contract: failure leaves no graph and a one-line message with the returned status; success
// gives a graph that validates.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/graph.h"
#include "onnx/onnx_import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *dir = getenv("KILN_FUZZ_BASE_DIR");
    kiln_graph *g = NULL;
    kiln_err e;
    kiln_err_clear(&e);
    kiln_status s = kiln_onnx_import_memory(data, size, dir ? dir : "/nonexistent-kiln-fuzz", &g,
                                            &e);
    if (s == KILN_OK) {
        kiln_err ve;
        if (!g || kiln_graph_validate(g, &ve) != KILN_OK) __builtin_trap();
        kiln_graph_destroy(g);
    } else if (g || e.status != s || !e.msg[0] || strchr(e.msg, '\n')) {
        __builtin_trap();
    }
    return 0;
}
