// fuzz_npy.c — libFuzzer target for the .npy parser (kiln_npy_parse), which reads --input files
// and npy: datasets.
//
// Not part of the default build (it needs clang's libFuzzer). From the repository root:
//
//   clang-14 -g -O1 -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
//       -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude -Isrc \
//       tests/fuzz/fuzz_npy.c src/io/npy.c src/core/dtype.c src/core/err.c -lm -o fuzz_npy
//   mkdir -p npy_corpus && /usr/bin/python3 -c "import numpy as np; \
//       [np.save(f'npy_corpus/{t}.npy', (np.arange(6) % 2).astype(t).reshape(2, 3)) \
//        for t in ('f4', 'f2', 'f8', 'i1', 'u1', 'i4', 'i8', '?')]"
//   ./fuzz_npy -max_len=4096 -max_total_time=120 npy_corpus
#include <stddef.h>
#include <stdint.h>

#include "io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kiln_npy a;
    kiln_err e;
    if (kiln_npy_parse(data, size, "fuzz.npy", &a, &e) == KILN_OK) {
        /* Touch every byte the parser claims to hold. */
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < a.nbytes; i++) sink ^= ((const uint8_t *)a.data)[i];
        (void)sink;
        kiln_npy_free(&a);
    }
    return 0;
}
