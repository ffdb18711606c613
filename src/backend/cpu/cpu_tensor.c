/* The CPU backend's elementwise and tensor-manipulation kernels: the lookup table and the
 * helpers every family shares (parallel ranges, copies, dtype checks). */
#include "backend/cpu/cpu_tensor.h"

#include <string.h>

#include "core/dtype.h"

kiln_cpu_kernel kiln_cpu_tensor_lookup(kiln_op op) {
    switch (op) {
    case KILN_OP_RELU:
    case KILN_OP_LEAKY_RELU:
    case KILN_OP_CLIP:
    case KILN_OP_SIGMOID:
    case KILN_OP_HARD_SIGMOID:
    case KILN_OP_HARD_SWISH:
    case KILN_OP_TANH:
    case KILN_OP_ERF:
    case KILN_OP_EXP:
    case KILN_OP_LOG:
    case KILN_OP_NEG:
    case KILN_OP_ABS:
    case KILN_OP_SQRT:
    case KILN_OP_RECIPROCAL:
    case KILN_OP_FLOOR:
    case KILN_OP_CEIL: return kiln__cpu_unary;
    case KILN_OP_PRELU:
    case KILN_OP_ADD:
    case KILN_OP_SUB:
    case KILN_OP_MUL:
    case KILN_OP_DIV:
    case KILN_OP_POW:
    case KILN_OP_EQUAL: return kiln__cpu_binary;
    case KILN_OP_MIN:
    case KILN_OP_MAX: return kiln__cpu_variadic;
    case KILN_OP_WHERE: return kiln__cpu_where;
    case KILN_OP_CAST: return kiln__cpu_cast;
    case KILN_OP_RESHAPE:
    case KILN_OP_FLATTEN:
    case KILN_OP_SQUEEZE:
    case KILN_OP_UNSQUEEZE:
    case KILN_OP_IDENTITY: return kiln__cpu_copy_op;
    case KILN_OP_DROPOUT: return kiln__cpu_dropout;
    case KILN_OP_EXPAND: return kiln__cpu_expand;
    case KILN_OP_SHAPE: return kiln__cpu_shape;
    case KILN_OP_CONSTANT_OF_SHAPE: return kiln__cpu_constant_of_shape;
    case KILN_OP_TRANSPOSE: return kiln__cpu_transpose;
    case KILN_OP_CONCAT: return kiln__cpu_concat;
    case KILN_OP_SPLIT: return kiln__cpu_split;
    case KILN_OP_GATHER: return kiln__cpu_gather;
    case KILN_OP_SLICE: return kiln__cpu_slice;
    case KILN_OP_PAD: return kiln__cpu_pad;
    case KILN_OP_REDUCE_MEAN:
    case KILN_OP_REDUCE_SUM:
    case KILN_OP_REDUCE_MAX:
    case KILN_OP_REDUCE_MIN: return kiln__cpu_reduce;
    default: return NULL;
    }
}

typedef struct {
    kiln__cpu_range_fn fn;
    void *arg;
    int64_t n, chunk;
} par_ctx;

static void par_task(void *v, int64_t i, int thread) {
    (void)thread;
    const par_ctx *p = v;
    int64_t b = i * p->chunk, e = b + p->chunk;
    p->fn(p->arg, b, e < p->n ? e : p->n);
}

void kiln__cpu_parallel(kiln_cpu *cpu, int64_t n, int64_t grain, kiln__cpu_range_fn fn,
                        void *arg) {
    if (n <= 0) return;
    kiln_pool *pool = kiln_cpu_pool(cpu);
    int threads = kiln_pool_size(pool);
    if (grain < 1) grain = 1;
    if (threads <= 1 || n < 2 * grain) {
        fn(arg, 0, n);
        return;
    }
    /* A few tasks per thread balance uneven progress. Long chunks (elements, not rows or
       blocks) are rounded to multiples of 64 so that chunk borders do not split cache lines. */
    int64_t tasks = n / grain;
    if (tasks > 4 * (int64_t)threads) tasks = 4 * (int64_t)threads;
    int64_t chunk = (n + tasks - 1) / tasks;
    if (chunk >= 4096) chunk = (chunk + 63) & ~(int64_t)63;
    par_ctx c = {fn, arg, n, chunk};
    kiln_pool_for(pool, (n + chunk - 1) / chunk, par_task, &c);
}

typedef struct {
    char *dst;
    const char *src;
} copy_ctx;

static void copy_range(void *arg, int64_t b, int64_t e) {
    copy_ctx *c = arg;
    memcpy(c->dst + b, c->src + b, (size_t)(e - b));
}

void kiln__cpu_copy(kiln_cpu *cpu, void *dst, const void *src, size_t bytes) {
    if (dst == src || bytes == 0) return;
    copy_ctx c = {dst, src};
    kiln__cpu_parallel(cpu, (int64_t)bytes, (int64_t)1 << 20, copy_range, &c);
}

kiln_status kiln__cpu_check_dtype(const kiln_node *n, kiln_dtype t, int allow_int, kiln_err *e) {
    int ok = kiln_dtype_size(t) > 0 && t != KILN_F8E4M3 && (allow_int || kiln_dtype_is_float(t));
    if (ok) return KILN_OK;
    return kiln_err_set(e, KILN_ERR_UNSUPPORTED, "node '%s': the CPU %s kernel does not take %s",
                        n->name ? n->name : "?", kiln_op_name(n->op), kiln_dtype_name(t));
}
