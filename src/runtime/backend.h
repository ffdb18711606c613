/* backend.h — what a backend provides to the engine (ggml_backend_i style: a versioned table of
 * function pointers; entries marked optional may be NULL).
 *
 * The engine owns the optimized graph, the batch profile and the I/O description; a backend
 * turns that into something runnable (engine_prepare: choose tactics, upload weights, compile
 * plans) and runs it per context (own memory, own stream). Nodes a backend does not support are
 * reported by supports() with a reason; the builder then falls back to the CPU reference for
 * them (backends that can mix in CPU segments do so inside engine_prepare).
 */
#ifndef KILN_RUNTIME_BACKEND_H
#define KILN_RUNTIME_BACKEND_H

#include <stddef.h>

#include "core/shape.h"
#include "kiln.h"

#define KILN_BACKEND_IFACE_VERSION 1

typedef struct kiln_backend_i {
    int version;      /* KILN_BACKEND_IFACE_VERSION */
    const char *name; /* "cpu", "cuda" */
    /* 1 when the device is present now. */
    int (*available)(void);
    /* Device signature written to plan files ("cpu x86_64 avx512f", "NVIDIA H100 ... sm_90 ..."). */
    void (*describe)(char *sig, size_t n);
    /* Optional: can node n run here at precision p? If not, a reason goes to why. NULL: all. */
    int (*supports)(const kiln_graph *g, const kiln_node *n, kiln_precision p, char *why,
                    size_t nwhy);
    /* Build per-engine state in e->bstate from e->g (shapes at e->bmax in e->shapes_max). */
    kiln_status (*engine_prepare)(kiln_engine *e, kiln_err *err);
    void (*engine_release)(kiln_engine *e);
    /* Per-context state in c->bstate. */
    kiln_status (*context_create)(kiln_context *c, kiln_err *err);
    void (*context_destroy)(kiln_context *c);
    /* Run on validated host inputs (one view per graph input, in order). */
    kiln_status (*context_run)(kiln_context *c, const kiln_view *inputs, kiln_err *err);
    /* Output i of the last run as a host view owned by the context. */
    kiln_status (*context_output)(kiln_context *c, int i, kiln_view *out, kiln_err *err);

    /* ---- plan files (all optional; src/plan/, docs/plan-format.md) ---- */
    /* Backend-private bytes saved with the engine (e.g. cuDNN execution plans as JSON): a
       malloc'ed buffer the caller frees; *n = 0 writes no section. */
    kiln_status (*plan_write)(kiln_engine *e, void **bytes, size_t *n, kiln_err *err);
    /* On load, after e->g, e->shapes_max and the I/O tables are set and before engine_prepare:
       the bytes plan_write produced (valid only during the call). It may leave state in
       e->bstate for engine_prepare to pick up (engine_release frees it on failure). A loaded
       engine is assembled aside and then moved into the caller's kiln_engine, so backend state
       must not point back at the kiln_engine struct itself. */
    kiln_status (*plan_read)(kiln_engine *e, const void *bytes, size_t n, kiln_err *err);
    /* The tactic chosen for node i (an id and a short name) for the plan's tactic table and
       `kiln inspect`. NULL: every node runs tactic 0, "default". */
    int (*node_tactic)(const kiln_engine *e, int node, char *name, size_t nname);

    /* ---- optional, appended ---- */
    /* Device memory the engine uses with `contexts` execution contexts (weights once, then per
       context: activations, workspace, staging). NULL: a host backend (0). */
    size_t (*device_bytes)(const kiln_engine *e, int contexts);
    /* Run once like context_run, timing every node: node_ms[i] for node i of e->g (0 for nodes
       that did no work). May synchronize after each node; for finding where time goes. */
    kiln_status (*context_profile)(kiln_context *c, const kiln_view *inputs, double *node_ms,
                                   kiln_err *err);
} kiln_backend_i;

/* The table for a backend kind, or NULL when it is not compiled in. */
const kiln_backend_i *kiln_backend_get(kiln_backend_kind b);
extern const kiln_backend_i kiln_backend_cpu;
#ifdef KILN_CUDA_ENGINE
extern const kiln_backend_i kiln_backend_cuda;
#endif

#endif
