/* cuda_common.h — the CUDA backend's base: checked library calls, the device, library handles.
 *
 * Checked calls
 *   Every CUDA runtime, cuDNN and cuBLASLt call in the backend is wrapped in KILN_CHECK (through
 *   its three spellings below). A failure records "statement: library error (file:line)" in the
 *   kiln_err and returns a kiln_status from the enclosing function (which must return
 *   kiln_status): KILN_ERR_NOMEM for allocation failures, KILN_ERR_NO_DEVICE when there is no
 *   usable device or driver, KILN_ERR_UNSUPPORTED when cuDNN/cuBLASLt reject a configuration,
 *   KILN_ERR_BACKEND otherwise. The backend never prints, exits or aborts.
 *
 *       kiln_status f(kiln_err *e) {
 *           KILN_CUDA_CHECK(e, cudaMemsetAsync(p, 0, n, s));
 *           my_kernel<<<g, b, 0, s>>>(...);
 *           KILN_CUDA_CHECK(e, cudaGetLastError());   // after every launch
 *           return KILN_OK;
 *       }
 *
 * Device
 *   kiln_cuda_device_count() is the one probe for "is there a GPU": it returns KILN_ERR_NO_DEVICE
 *   (never crashes) when the driver is missing, too old, or sees no device. kiln_cuda_device_query()
 *   fills kiln_cuda_device_info, and kiln_cuda_device_signature() turns it into the string that
 *   plan files and timing caches are keyed by (GPU name, compute capability, SM count, driver,
 *   runtime, cuDNN and cuBLASLt versions): a plan built under another signature must not load.
 *
 * Handles
 *   kiln_cuda_handles holds one cuDNN and one cuBLASLt handle for a device. Handles are not
 *   thread-safe: each execution context (stream) that runs concurrently with others owns one.
 */
#ifndef KILN_BACKEND_CUDA_COMMON_H
#define KILN_BACKEND_CUDA_COMMON_H

#include <cuda_runtime_api.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "core/err.h"

/* Which library returned the status being checked (selects how the code is named). */
typedef enum kiln_cuda_lib { KILN_LIB_CUDA = 0, KILN_LIB_CUDNN = 1, KILN_LIB_CUBLAS = 2 } kiln_cuda_lib;

/* Records the failure of `stmt` (returned `code` from `lib`) in e and returns its kiln_status. */
kiln_status kiln__cuda_fail(kiln_err *e, kiln_cuda_lib lib, int code, const char *stmt,
                            const char *file, int line);

/* All three libraries use 0 for success (cudaSuccess, CUDNN_STATUS_SUCCESS,
   CUBLAS_STATUS_SUCCESS), so one macro checks them all. */
#define KILN_CHECK(e, lib, stmt)                                                                 \
    do {                                                                                         \
        int kiln__code = (int)(stmt);                                                            \
        if (kiln__code != 0)                                                                     \
            return kiln__cuda_fail((e), (lib), kiln__code, #stmt, __FILE__, __LINE__);           \
    } while (0)
#define KILN_CUDA_CHECK(e, stmt) KILN_CHECK(e, KILN_LIB_CUDA, stmt)
#define KILN_CUDNN_CHECK(e, stmt) KILN_CHECK(e, KILN_LIB_CUDNN, stmt)
#define KILN_CUBLAS_CHECK(e, stmt) KILN_CHECK(e, KILN_LIB_CUBLAS, stmt)

/* ---- device ------------------------------------------------------------------------------ */

typedef struct kiln_cuda_device_info {
    int device;                 /* ordinal */
    char name[256];             /* "NVIDIA H100 80GB HBM3" */
    int cc_major, cc_minor;     /* compute capability: 9.0 on Hopper */
    int sm_count;               /* multiprocessors */
    size_t total_mem;           /* bytes of device memory */
    size_t l2_bytes;            /* L2 cache size */
    size_t smem_optin;          /* largest dynamic shared memory a block may opt in to */
    int driver_version;         /* CUDA version the driver supports, 13000 = 13.0 */
    int runtime_version;        /* CUDA runtime linked in */
    size_t cudnn_version;       /* cuDNN loaded at run time, 91900 = 9.19.0 */
    size_t cublaslt_version;    /* cuBLASLt loaded at run time, 130100 = 13.1.0 */
} kiln_cuda_device_info;

/* Number of CUDA devices in *count; KILN_ERR_NO_DEVICE (with the driver's reason) when the driver
   is missing or sees none. */
kiln_status kiln_cuda_device_count(int *count, kiln_err *e);
/* Properties and library versions of device `device` (also checks that it exists). */
kiln_status kiln_cuda_device_query(int device, kiln_cuda_device_info *info, kiln_err *e);
/* "NVIDIA H100 80GB HBM3|sm_90|sms=132|driver=13000|runtime=13000|cudnn=91900|cublaslt=130100"
   into buf (truncated to n); returns the full length like snprintf. */
int kiln_cuda_device_signature(const kiln_cuda_device_info *info, char *buf, size_t n);

/* ---- library handles --------------------------------------------------------------------- */

struct cudnnContext;    /* cudnnHandle_t */
struct cublasLtContext; /* cublasLtHandle_t */

typedef struct kiln_cuda_handles {
    int device;
    struct cudnnContext *dnn;   /* cuDNN handle; its stream is set by each call that runs work */
    struct cublasLtContext *lt; /* cuBLASLt handle (stream-less: the stream goes to each matmul) */
} kiln_cuda_handles;

/* Make `device` current on this thread and create both handles. On failure nothing is left
   allocated. */
kiln_status kiln_cuda_handles_init(kiln_cuda_handles *h, int device, kiln_err *e);
/* Destroy both handles (safe on a zeroed or already released struct). */
void kiln_cuda_handles_release(kiln_cuda_handles *h);

/* ---- element types ----------------------------------------------------------------------- */

/* 1 for the storage types the CUDA kernels take: KILN_F32, KILN_F16, KILN_BF16. */
int kiln_cuda_dtype_ok(kiln_dtype t);
/* "fp32", "tf32", "fp16", "bf16", ... for messages and signatures (the backend's own copy, so it
   does not depend on the runtime's). */
const char *kiln_cuda_precision_name(kiln_precision p);

#ifdef __cplusplus
}
#endif

#endif
