/* cuda_common.c — checked-call recording, device query and signature, library handles. */
#include "backend/cuda/cuda_common.h"

#include <cublasLt.h>
#include <cudnn.h>
#include <stdio.h>
#include <string.h>

/* The status a library error becomes: callers branch on it (a builder skips an UNSUPPORTED
   candidate, the CLI says "no device"), so map the codes that mean something to a caller. */
static kiln_status status_of(kiln_cuda_lib lib, int code) {
    switch (lib) {
    case KILN_LIB_CUDA:
        if (code == cudaErrorMemoryAllocation) return KILN_ERR_NOMEM;
        if (code == cudaErrorNoDevice || code == cudaErrorInsufficientDriver ||
            code == cudaErrorInvalidDevice || code == cudaErrorDevicesUnavailable ||
            code == cudaErrorSystemDriverMismatch || code == cudaErrorCompatNotSupportedOnDevice)
            return KILN_ERR_NO_DEVICE;
        return KILN_ERR_BACKEND;
    case KILN_LIB_CUDNN:
        if (code >= 3000 && code < 4000) return KILN_ERR_UNSUPPORTED; /* CUDNN_STATUS_NOT_SUPPORTED_* */
        if (code == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
            code == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED)
            return KILN_ERR_NOMEM;
        return KILN_ERR_BACKEND;
    case KILN_LIB_CUBLAS:
        if (code == CUBLAS_STATUS_ALLOC_FAILED) return KILN_ERR_NOMEM;
        if (code == CUBLAS_STATUS_NOT_SUPPORTED || code == CUBLAS_STATUS_ARCH_MISMATCH)
            return KILN_ERR_UNSUPPORTED;
        return KILN_ERR_BACKEND;
    }
    return KILN_ERR_BACKEND;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

kiln_status kiln__cuda_fail(kiln_err *e, kiln_cuda_lib lib, int code, const char *stmt,
                            const char *file, int line) {
    kiln_status s = status_of(lib, code);
    switch (lib) {
    case KILN_LIB_CUDA:
        /* Clear a non-sticky error so the next call on this thread starts clean. */
        (void)cudaGetLastError();
        return kiln_err_set(e, s, "%s: %s (%s:%d)", stmt, cudaGetErrorString((cudaError_t)code),
                            base_name(file), line);
    case KILN_LIB_CUDNN: {
        /* cuDNN keeps a detailed reason for the last failure on this thread: the part worth
           reading when a graph is rejected. */
        char why[256] = "";
        cudnnGetLastErrorString(why, sizeof why);
        return kiln_err_set(e, s, "%s: %s%s%s (%s:%d)", stmt,
                            cudnnGetErrorString((cudnnStatus_t)code), why[0] ? ": " : "", why,
                            base_name(file), line);
    }
    case KILN_LIB_CUBLAS:
        return kiln_err_set(e, s, "%s: %s (%s:%d)", stmt,
                            cublasLtGetStatusString((cublasStatus_t)code), base_name(file), line);
    }
    return kiln_err_set(e, s, "%s: error %d (%s:%d)", stmt, code, base_name(file), line);
}

kiln_status kiln_cuda_device_count(int *count, kiln_err *e) {
    *count = 0;
    int n = 0;
    /* With no driver installed the statically linked runtime reports cudaErrorInsufficientDriver
       here; nothing before this call touches the driver. */
    cudaError_t r = cudaGetDeviceCount(&n);
    if (r != cudaSuccess) {
        (void)cudaGetLastError();
        return kiln_err_set(e, KILN_ERR_NO_DEVICE, "no CUDA device: %s", cudaGetErrorString(r));
    }
    if (n <= 0) return kiln_err_set(e, KILN_ERR_NO_DEVICE, "no CUDA device: the driver sees none");
    *count = n;
    return KILN_OK;
}

kiln_status kiln_cuda_device_query(int device, kiln_cuda_device_info *info, kiln_err *e) {
    memset(info, 0, sizeof *info);
    int n = 0;
    KILN_TRY(kiln_cuda_device_count(&n, e));
    if (device < 0 || device >= n)
        return kiln_err_set(e, KILN_ERR_NO_DEVICE, "no CUDA device %d (the driver sees %d)", device,
                            n);
    struct cudaDeviceProp p;
    KILN_CUDA_CHECK(e, cudaGetDeviceProperties(&p, device));
    info->device = device;
    snprintf(info->name, sizeof info->name, "%s", p.name);
    info->cc_major = p.major;
    info->cc_minor = p.minor;
    info->sm_count = p.multiProcessorCount;
    info->total_mem = p.totalGlobalMem;
    info->l2_bytes = (size_t)p.l2CacheSize;
    info->smem_optin = p.sharedMemPerBlockOptin;
    KILN_CUDA_CHECK(e, cudaDriverGetVersion(&info->driver_version));
    KILN_CUDA_CHECK(e, cudaRuntimeGetVersion(&info->runtime_version));
    info->cudnn_version = cudnnGetVersion();
    info->cublaslt_version = cublasLtGetVersion();
    return KILN_OK;
}

int kiln_cuda_device_signature(const kiln_cuda_device_info *info, char *buf, size_t n) {
    return snprintf(buf, n, "%s|sm_%d%d|sms=%d|driver=%d|runtime=%d|cudnn=%zu|cublaslt=%zu",
                    info->name, info->cc_major, info->cc_minor, info->sm_count,
                    info->driver_version, info->runtime_version, info->cudnn_version,
                    info->cublaslt_version);
}

kiln_status kiln_cuda_handles_init(kiln_cuda_handles *h, int device, kiln_err *e) {
    memset(h, 0, sizeof *h);
    h->device = device;
    int n = 0;
    KILN_TRY(kiln_cuda_device_count(&n, e));
    if (device < 0 || device >= n)
        return kiln_err_set(e, KILN_ERR_NO_DEVICE, "no CUDA device %d (the driver sees %d)", device,
                            n);
    KILN_CUDA_CHECK(e, cudaSetDevice(device));
    cudnnHandle_t dnn = NULL;
    KILN_CUDNN_CHECK(e, cudnnCreate(&dnn));
    cublasLtHandle_t lt = NULL;
    cublasStatus_t st = cublasLtCreate(&lt);
    if (st != CUBLAS_STATUS_SUCCESS) {
        cudnnDestroy(dnn);
        return kiln__cuda_fail(e, KILN_LIB_CUBLAS, (int)st, "cublasLtCreate(&lt)", __FILE__,
                               __LINE__);
    }
    h->dnn = dnn;
    h->lt = lt;
    return KILN_OK;
}

void kiln_cuda_handles_release(kiln_cuda_handles *h) {
    if (!h) return;
    if (h->dnn) cudnnDestroy(h->dnn);
    if (h->lt) cublasLtDestroy(h->lt);
    h->dnn = NULL;
    h->lt = NULL;
}

int kiln_cuda_dtype_ok(kiln_dtype t) { return t == KILN_F32 || t == KILN_F16 || t == KILN_BF16; }

const char *kiln_cuda_precision_name(kiln_precision p) {
    switch (p) {
    case KILN_PREC_FP32: return "fp32";
    case KILN_PREC_TF32: return "tf32";
    case KILN_PREC_FP16: return "fp16";
    case KILN_PREC_BF16: return "bf16";
    case KILN_PREC_INT8: return "int8";
    case KILN_PREC_BEST: return "best";
    default: return "unknown";
    }
}
