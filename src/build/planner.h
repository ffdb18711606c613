/* planner.h — the activation memory planner: every activation gets an offset in one arena.
 *
 * Planned once per engine, at its largest batch (every tensor only shrinks at a smaller batch,
 * so the same offsets serve every batch of the profile). Steps:
 *   1. lifetimes: a tensor lives from the node that writes it to the last node that reads it
 *      (graph outputs to the end of the run);
 *   2. shared storage: a tensor may live in another one's storage (its "root"):
 *      - views: Reshape/Flatten/Squeeze/Unsqueeze/Identity outputs are their input's bytes (the
 *        node is skipped); at batch 1 the outputs of a channel Split are slices of its input;
 *      - concat in place: inputs the optimizer marked (kiln_tensor.alias) are slices of the
 *        Concat's output, written item by item by their producers;
 *      - in place: an elementwise op may write over an input that dies at that node;
 *   3. offsets: storage groups (a root and everything living in it) are placed greedily, largest
 *      first, each into the best-fitting gap among the groups whose lifetimes overlap it.
 * kiln_memplan_check proves the result: no two tensors that are live at the same time share
 * bytes unless one is a view of the other or an in-place pair. Tests and debug builds run it.
 *
 * Example usage (a backend's engine_prepare):
 *
 *     kiln_memplan p;
 *     KILN_TRY(kiln_memplan_build(e->g, &e->shapes_max, 0, &p, err));
 *     // per context: arena = aligned_alloc(64, p.arena_bytes)
 *     // tensor t at batch n: kiln_memplan_item(&p, t, ...) / kiln_memplan_data(...)
 *     kiln_memplan_free(&p);
 */
#ifndef KILN_BUILD_PLANNER_H
#define KILN_BUILD_PLANNER_H

#include <stddef.h>
#include <stdint.h>

#include "core/graph.h"
#include "core/shape.h"

/* What a backend does for a node under the plan. */
typedef enum kiln_memplan_mode {
    KILN_MEMPLAN_RUN = 0,         /* run the node as usual */
    KILN_MEMPLAN_SKIP = 1,        /* nothing to do: its outputs are views of its input, or a
                                     Concat whose inputs are all written in place */
    KILN_MEMPLAN_PER_ITEM = 2,    /* an output is a slice of a Concat's buffer: run the node
                                     once per batch item (or with strided output descriptors) */
    KILN_MEMPLAN_CONCAT_REST = 3, /* a Concat: copy only the inputs that are not in place */
} kiln_memplan_mode;

typedef struct kiln_memplan {
    int n_t, n_n;
    size_t arena_bytes;       /* the arena (peak activation memory) */
    size_t lower_bound_bytes; /* max over nodes of the bytes of storage live at once */
    size_t naive_bytes;       /* one buffer per activation: the memory before planning */
    /* per tensor */
    int *root;                /* tensor whose storage it lives in (itself when it owns it);
                                 -1: not in the arena (input, constant, value known at build) */
    int64_t *offset;          /* bytes from the arena start to the root's storage (roots) */
    size_t *bytes;            /* planned size (64-byte multiple; roots: the group's size) */
    int64_t *item_offset;     /* slices: elements from the start of each batch item of root */
    unsigned char *slice;     /* 1: item n lies at root item n + item_offset (a channel slice,
                                 items numel(root)/batch elements apart); 0: starts at root */
    int *first, *last;        /* lifetime: the node writing it .. the last node reading it
                                 (n_n for graph outputs) */
    /* per node */
    unsigned char *mode;      /* kiln_memplan_mode */
    int *inplace_input;       /* input index written over in place, or -1 */
} kiln_memplan;

/* Plan g's activations for shapes s (normally at the largest batch). no_reuse = 1 gives every
   activation its own storage (the unplanned baseline, for comparisons and tests). */
kiln_status kiln_memplan_build(const kiln_graph *g, const kiln_shapes *s, int no_reuse,
                               kiln_memplan *p, kiln_err *e);
void kiln_memplan_free(kiln_memplan *p);
/* Prove no two simultaneously live tensors overlap except as views or in-place pairs, every
   tensor fits its root and every root the arena. The message names the two tensors. */
kiln_status kiln_memplan_check(const kiln_graph *g, const kiln_shapes *s, const kiln_memplan *p,
                               kiln_err *e);

/* Where tensor t (shape `shape` at the batch being run) starts in an arena at `arena`; for a
   slice, that is its first batch item, and item_stride (bytes, else 0) separates its items. */
void *kiln_memplan_data(const kiln_memplan *p, const kiln_shapes *s, int t, void *arena,
                        size_t *item_stride);

/* Memory figures of an engine at one batch size (what `kiln inspect` prints). */
typedef struct kiln_memplan_stats {
    int64_t batch;
    size_t weight_bytes;      /* constants */
    size_t arena_bytes;       /* peak activation memory, planned */
    size_t lower_bound_bytes; /* the most activation bytes live at once */
    size_t naive_bytes;       /* activation memory without planning */
    int n_nodes;
    int n_views;              /* tensors that are another one's bytes (Reshape-like) */
    int n_inplace;            /* tensors written over a dying input */
    int n_slices;             /* concat-in-place slices and batch-1 Split pieces */
} kiln_memplan_stats;

/* Plan e's graph at `batch` (0: the engine's largest) and report. */
kiln_status kiln_memplan_stats_get(const kiln_engine *e, int64_t batch, kiln_memplan_stats *st,
                                   kiln_err *err);
/* Bytes of every constant of g. */
size_t kiln_graph_weight_bytes(const kiln_graph *g);

#endif
