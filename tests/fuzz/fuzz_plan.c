// fuzz_plan.c — libFuzzer target for the engine-file reader (kiln_engine_load).
//
// Checksums catch random corruption before any parsing, so this target recomputes every CRC of
// the mutated input first (when its header and section table are readable): the fuzzer then
// reaches the section parsers with crafted, well-checksummed contents, the case checksums
// cannot catch.
//
// Not part of the default build (it needs clang's libFuzzer). From the repository root, with
// any configured build folder (BUILD) for the generated protobuf-c code:
//
//   BUILD=build
//   clang-14 -g -O1 -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
//       -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude -Isrc -I$BUILD/gen \
//       tests/fuzz/fuzz_plan.c $(ls src/*/*.c src/backend/cpu/*.c | grep -v /cuda/) \
//       $BUILD/gen/onnx/onnx.pb-c.c -l:libprotobuf-c.a -lz -lm -lpthread -o fuzz_plan
//
// Seed it with small plans and run it:
//
//   mkdir -p plan_corpus
//   build/kiln build zoo:mobilenet_v2 -o plan_corpus/mb.plan --quiet
//   build/kiln build zoo:googlenet -o plan_corpus/g.plan --quiet
//   ./fuzz_plan -max_len=40000000 -rss_limit_mb=4096 -timeout=20 -max_total_time=300 plan_corpus
//
// Each input checks the reader's contract: a failed load leaves a one-line message; a
// successful one gives an engine whose graph validates.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "plan/plan_format.h"
#include "runtime/engine.h"

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }
static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void fix_checksums(uint8_t *f, size_t n) {
    if (n < KILN_PLAN_HEADER_BYTES) return;
    uint32_t ns = le32(f + KILN_PLAN_H_N_SECTIONS);
    if (ns > KILN_PLAN_MAX_SECTIONS || 64 + (size_t)ns * 32 > n) return;
    uint8_t *t = f + 64;
    for (uint32_t i = 0; i < ns; i++) {
        uint8_t *e = t + 32 * i;
        uint64_t o = le64(e + 8), s = le64(e + 16);
        if (o <= n && s <= n - o) put32(e + 24, (uint32_t)crc32(0, f + o, (uInt)s));
    }
    put32(f + KILN_PLAN_H_TABLE_CRC, (uint32_t)crc32(0, t, 32 * ns));
    put32(f + KILN_PLAN_H_HEADER_CRC, (uint32_t)crc32(0, f, KILN_PLAN_H_HEADER_CRC));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *f = malloc(size ? size : 1);
    if (!f) return 0;
    memcpy(f, data, size);
    fix_checksums(f, size);
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_plan_%d.plan", (int)getpid());
    FILE *o = fopen(path, "wb");
    if (o) {
        fwrite(f, 1, size, o);
        fclose(o);
        kiln_engine *e = kiln_engine_create();
        if (kiln_engine_load(e, path) == KILN_OK) {
            kiln_err err;
            if (kiln_graph_validate(e->g, &err) != KILN_OK) abort();
        } else if (strchr(kiln_engine_errmsg(e), '\n') || !kiln_engine_errmsg(e)[0]) {
            abort();
        }
        kiln_engine_destroy(e);
        remove(path);
    }
    free(f);
    return 0;
}
