/* test_cuda_common.c — device probe (including "no device" without crashing), device query and
 * signature, handles, checked-call messages, the arena, pinned memory, the event timer.
 *
 * The no-device path is checked on every machine: where there is no GPU directly, and on the GPU
 * machine by running this program again with CUDA_VISIBLE_DEVICES set empty. */
#include <stdio.h>
#include <string.h>

#include "backend/cuda/cuda_mem.h"
#include "backend/cuda/cuda_timing.h"
#include "cuda_test.h"

/* kiln_cuda_device_count and everything that needs a device must say KILN_ERR_NO_DEVICE. */
static int check_no_device(void) {
    int n = -1;
    kiln_err e = {0};
    kiln_status s = kiln_cuda_device_count(&n, &e);
    CHECK(s == KILN_ERR_NO_DEVICE, "device_count -> %s (%s)", kiln_status_str(s), e.msg);
    CHECK(n == 0, "count %d without a device", n);
    CHECK(strstr(e.msg, "no CUDA device") != NULL, "message: '%s'", e.msg);
    kiln_cuda_device_info info;
    s = kiln_cuda_device_query(0, &info, &e);
    CHECK(s == KILN_ERR_NO_DEVICE, "device_query -> %s", kiln_status_str(s));
    kiln_cuda_handles h;
    s = kiln_cuda_handles_init(&h, 0, &e);
    CHECK(s == KILN_ERR_NO_DEVICE, "handles_init -> %s", kiln_status_str(s));
    CHECK(h.dnn == NULL && h.lt == NULL, "no handles left behind");
    kiln_cuda_handles_release(&h);
    return s == KILN_ERR_NO_DEVICE;
}

static kiln_status failing_call(kiln_err *e) {
    KILN_CUDA_CHECK(e, cudaSetDevice(1 << 20));
    return KILN_OK;
}

static kiln_status memset_work(void *ctx, cudaStream_t s, kiln_err *e) {
    void **p = ctx;
    KILN_CUDA_CHECK(e, cudaMemsetAsync(p[0], 1, 64u << 20, s));
    return KILN_OK;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "--expect-no-device") == 0) {
        /* Child run (CUDA_VISIBLE_DEVICES=""): the GPU is hidden from this process. */
        check_no_device();
        printf("child: no-device path %s\n", test_failed ? "FAILED" : "ok");
        return test_done();
    }

    int n = 0;
    kiln_err e = {0};
    if (kiln_cuda_device_count(&n, &e) != KILN_OK) {
        /* No GPU here: the probe must have said so cleanly, and so must everything else. */
        printf("%s\n", e.msg);
        check_no_device();
        if (test_failed) return test_done();
        printf("no-device path: %d checks passed\n", test_passed);
        return test_skip("no CUDA device");
    }

    /* The same binary with the GPU hidden. */
    char cmd[4096], out[4096];
    snprintf(cmd, sizeof cmd, "CUDA_VISIBLE_DEVICES= '%s' --expect-no-device", argv[0]);
    int rc = test_run(cmd, out, sizeof out);
    CHECK(rc == 0, "hidden-GPU child exited %d: %s", rc, out);
    CHECK(strstr(out, "child: no-device path ok") != NULL, "child said: %s", out);

    kiln_cuda_device_info info;
    CHECK_KILN(kiln_cuda_device_query(0, &info, &e), &e);
    char sig[512];
    kiln_cuda_device_signature(&info, sig, sizeof sig);
    printf("device: %s\nsignature: %s\nmemory %.1f GiB, L2 %zu MiB, smem opt-in %zu KiB\n", info.name,
           sig, (double)info.total_mem / (1 << 30), info.l2_bytes >> 20, info.smem_optin >> 10);
    CHECK(info.sm_count > 0 && info.cc_major >= 5, "sm %d, cc %d.%d", info.sm_count, info.cc_major,
          info.cc_minor);
    CHECK(info.cudnn_version >= 90000, "cuDNN %zu", info.cudnn_version);
    CHECK(info.cublaslt_version > 0, "cuBLASLt %zu", info.cublaslt_version);
    CHECK(strstr(sig, info.name) == sig, "signature starts with the name");
    kiln_cuda_device_info again;
    CHECK_KILN(kiln_cuda_device_query(0, &again, &e), &e);
    char sig2[512];
    kiln_cuda_device_signature(&again, sig2, sizeof sig2);
    CHECK(strcmp(sig, sig2) == 0, "signature is stable");
    CHECK(kiln_cuda_device_query(n, &again, &e) == KILN_ERR_NO_DEVICE, "device %d does not exist", n);

    kiln_cuda_handles h;
    CHECK_KILN(kiln_cuda_handles_init(&h, 0, &e), &e);
    CHECK(h.dnn != NULL && h.lt != NULL, "handles made");
    kiln_cuda_handles_release(&h);
    kiln_cuda_handles_release(&h); /* twice is harmless */

    /* A failing call names the statement, the error and where. */
    kiln_status s = failing_call(&e);
    CHECK(s == KILN_ERR_NO_DEVICE, "cudaSetDevice(huge) -> %s", kiln_status_str(s));
    CHECK(strstr(e.msg, "cudaSetDevice(1 << 20)") && strstr(e.msg, "test_cuda_common.c:"),
          "message: '%s'", e.msg);
    CUDA_CHECK_RT(cudaGetLastError()); /* and leaves no error behind */

    /* Arena: offsets before the allocation, pointers after. */
    kiln_cuda_arena a;
    kiln_cuda_arena_init(&a);
    size_t o1 = kiln_cuda_arena_reserve(&a, 1000), o2 = kiln_cuda_arena_reserve(&a, 3),
           o3 = kiln_cuda_arena_reserve(&a, 1 << 20);
    CHECK(o1 == 0 && o2 == 1024 && o3 == 1280, "offsets %zu %zu %zu", o1, o2, o3);
    CHECK(kiln_cuda_arena_ptr(&a, o1) == NULL, "no pointer before commit");
    CHECK_KILN(kiln_cuda_arena_commit(&a, &e), &e);
    char *p3 = kiln_cuda_arena_ptr(&a, o3);
    CHECK(p3 && ((uintptr_t)p3 % KILN_CUDA_ALIGN) == 0, "aligned pointer");
    CHECK(kiln_cuda_arena_ptr(&a, a.capacity) == NULL, "past the end");
    CUDA_CHECK_RT(cudaMemset(p3, 7, 1 << 20));
    unsigned char last = 0;
    CUDA_CHECK_RT(cudaMemcpy(&last, p3 + (1 << 20) - 1, 1, cudaMemcpyDeviceToHost));
    CHECK(last == 7, "arena memory usable");
    CHECK(kiln_cuda_arena_reserve(&a, (size_t)1 << 30) == (size_t)-1, "no growth after commit");
    kiln_cuda_arena_release(&a);

    /* Pinned host memory round trip. */
    void *pin = NULL;
    CHECK_KILN(kiln_cuda_host_alloc(&pin, 1 << 20, &e), &e);
    if (pin) {
        memset(pin, 3, 1 << 20);
        void *d = cuda_test_upload(pin, 1 << 20);
        memset(pin, 0, 1 << 20);
        cuda_test_download(pin, d, 1 << 20);
        CHECK(((unsigned char *)pin)[12345] == 3, "pinned round trip");
        cudaFree(d);
        kiln_cuda_host_free(pin);
    }

    /* Timer: 64 MiB memset, median of 20. */
    void *buf = NULL;
    CUDA_CHECK_RT(cudaMalloc(&buf, 64u << 20));
    float ms = 0;
    CHECK_KILN(kiln_cuda_time(memset_work, &buf, 0, 2, 20, &ms, &e), &e);
    printf("64 MiB memset: %.4f ms (%.0f GB/s)\n", ms, 64.0 * 1048576 / (ms * 1e6));
    CHECK(ms > 0 && ms < 100, "plausible time %g ms", ms);
    CHECK(kiln_cuda_time(memset_work, &buf, 0, 0, 0, &ms, &e) == KILN_ERR_INVALID_ARG, "iters 0");
    cudaFree(buf);
    return test_done();
}
