/* test_cuda_engine_onnx.c — torchvision models exported to ONNX (scripts/export_torchvision.py),
 * CUDA engine against the CPU reference backend on the same random input, FP32 (rel L2 <= 1e-4)
 * and FP16 (<= 2e-2), batches 1 and 3. These models bring what the zoo lacks: hard swish and
 * squeeze-excitation (MobileNetV3), SiLU (EfficientNet), channel shuffle and channel slices
 * (ShuffleNetV2), ceil-mode pools and concats (SqueezeNet), grouped convolutions (ResNeXt,
 * RegNet).
 *
 * Fixtures: KILN_CUDA_ONNX_DIR (MODEL/opset17.onnx under it), else <build>/fixtures/torchvision;
 * models that are not there are skipped (the test skips when none is).
 * KILN_CUDA_ONNX_PRECISIONS=fp16 limits the precisions.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_test.h"
#include "runtime/engine.h"

static char tcache[1024];

static kiln_engine *build(const kiln_model *m, kiln_backend_kind b, kiln_precision p) {
    kiln_builder_config *cfg = kiln_builder_config_create();
    kiln_builder_config_set_backend(cfg, b);
    kiln_builder_config_set_precision(cfg, p);
    kiln_builder_config_set_batch_range(cfg, 1, 1, 3);
    if (b == KILN_BACKEND_CUDA) {
        kiln_builder_config_set_timing_cache(cfg, tcache);
        cfg->max_tactics = 1;
    }
    kiln_engine *e = kiln_engine_create();
    kiln_status st = kiln_engine_build(e, m, cfg);
    kiln_builder_config_destroy(cfg);
    if (st != KILN_OK) {
        CHECK(0, "build %s %s: %s", kiln_backend_name(b), kiln_precision_name(p), kiln_engine_errmsg(e));
        kiln_engine_destroy(e);
        return NULL;
    }
    return e;
}

static float *run(kiln_engine *e, const float *x, int64_t batch, int64_t *n) {
    kiln_context *c = NULL;
    if (kiln_context_create(e, &c) != KILN_OK) return NULL;
    kiln_io_info io;
    kiln_engine_io(e, 1, 0, &io);
    kiln_buffer in = {.dtype = KILN_F32, .ndim = io.ndim, .data = (void *)x};
    for (int d = 0; d < io.ndim; d++) in.dims[d] = d == 0 ? batch : io.dims[d];
    float *r = NULL;
    kiln_buffer out;
    if (kiln_context_run(c, 1, &in) == KILN_OK && kiln_context_output(c, 0, &out) == KILN_OK) {
        *n = 1;
        for (int d = 0; d < out.ndim; d++) *n *= out.dims[d];
        r = malloc(sizeof(float) * (size_t)*n);
        memcpy(r, out.data, sizeof(float) * (size_t)*n);
    } else {
        CHECK(0, "run batch %lld: %s", (long long)batch, kiln_context_errmsg(c));
    }
    kiln_context_destroy(c);
    return r;
}

int main(void) {
    CUDA_TEST_REQUIRE_DEVICE();
#ifndef KILN_CUDA_ENGINE
    return test_skip("the CUDA engine is not compiled in");
#else
    test_build_path("cuda_engine_tests.tcache", tcache, sizeof tcache);
    char dir[1024];
    const char *env = getenv("KILN_CUDA_ONNX_DIR");
    if (env) snprintf(dir, sizeof dir, "%s", env);
    else test_build_path("fixtures/torchvision", dir, sizeof dir);
    static const char *models[] = {"squeezenet1_1", "shufflenet_v2_x1_0", "mobilenet_v3_large",
                                   "efficientnet_b0", "regnet_y_400mf", "mnasnet1_0",
                                   "mobilenet_v2", "googlenet", "resnext50_32x4d", "inception_v3"};
    int found = 0;
    kiln_rng rng;
    kiln_rng_seed(&rng, test_seed());
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s/opset17.onnx", dir, models[i]);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fclose(f);
        found++;
        kiln_model *m = kiln_model_create();
        if (kiln_model_load(m, path) != KILN_OK) {
            CHECK(0, "%s: %s", path, kiln_model_errmsg(m));
            kiln_model_destroy(m);
            continue;
        }
        kiln_io_info io;
        kiln_model_io(m, 1, 0, &io);
        int64_t item = 1;
        for (int d = 1; d < io.ndim; d++) item *= io.dims[d];
        float *x = malloc(sizeof(float) * (size_t)(3 * item));
        test_fill_uniform(&rng, x, 3 * item, -1, 1);
        kiln_engine *ref = build(m, KILN_BACKEND_CPU, KILN_PREC_FP32);
        float *want[4] = {0};
        int64_t nw[4] = {0};
        for (int b = 1; b <= 3 && ref; b += 2) want[b] = run(ref, x, b, &nw[b]);
        static const kiln_precision precs[] = {KILN_PREC_FP32, KILN_PREC_FP16};
        for (int p = 0; p < 2; p++) {
            const char *only = getenv("KILN_CUDA_ONNX_PRECISIONS");
            if (only && *only && !strstr(only, kiln_precision_name(precs[p]))) continue;
            double t0 = cuda_test_now();
            kiln_engine *e = build(m, KILN_BACKEND_CUDA, precs[p]);
            double secs = cuda_test_now() - t0;
            for (int b = 1; b <= 3 && e; b += 2) {
                int64_t n = 0;
                float *got = run(e, x, b, &n);
                if (!got || !want[b]) {
                    free(got);
                    continue;
                }
                double err = n == nw[b] ? test_rel_l2(got, want[b], n) : INFINITY;
                double tol = precs[p] == KILN_PREC_FP32 ? 1e-4 : 2e-2;
                CHECK(err <= tol, "%s %s batch %d: rel L2 %.3g > %.0e", models[i],
                      kiln_precision_name(precs[p]), b, err, tol);
                printf("onnx %-20s %-5s batch %d: rel L2 %.2e  (build %.1f s)\n", models[i],
                       kiln_precision_name(precs[p]), b, err, secs);
                free(got);
            }
            kiln_engine_destroy(e);
        }
        for (int b = 0; b < 4; b++) free(want[b]);
        kiln_engine_destroy(ref);
        free(x);
        kiln_model_destroy(m);
    }
    if (!found) return test_skip("no ONNX fixtures (set KILN_CUDA_ONNX_DIR)");
    return test_done();
#endif
}
