/* cuda_conv_impl.h — private to cuda_conv_graph.c and cuda_conv_plan.c: the objects behind the
 * handles of cuda_conv.h and the tensor uids the variant pack binds. */
#ifndef KILN_BACKEND_CUDA_CONV_IMPL_H
#define KILN_BACKEND_CUDA_CONV_IMPL_H

#include <cudnn.h>

#include "backend/cuda/cuda_conv.h"

/* Unique ids of the graph's real tensors (virtual ones use 100+). Fixed, because restored plans
   are bound by them. */
enum { KILN__UID_X = 1, KILN__UID_W = 2, KILN__UID_B = 3, KILN__UID_R = 4, KILN__UID_Y = 5 };

struct kiln_cuda_conv_graph {
    int refs;                        /* 1 for the caller + 1 per plan made from it */
    kiln_cuda_conv_desc d;
    cudnnHandle_t dnn;
    cudnnBackendDescriptor_t *owned; /* every descriptor made for this graph, freed together */
    int nowned, capowned;
    cudnnBackendDescriptor_t opgraph;
    cudnnBackendDescriptor_t *cand;  /* usable engine configs, best first (also in owned) */
    char (*cand_name)[96];
    int ncand;
};

struct kiln_cuda_conv_plan {
    kiln_cuda_conv_desc d;
    cudnnBackendDescriptor_t plan;
    kiln_cuda_conv_graph *graph; /* kept alive while the plan lives; NULL when restored */
    size_t workspace;
};

/* Drop one reference; frees the graph at zero. */
void kiln__conv_graph_unref(kiln_cuda_conv_graph *g);

#endif
