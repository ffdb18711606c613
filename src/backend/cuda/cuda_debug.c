/* cuda_debug.c — KILN_CUDA_NANCHECK (a debugging switch, cuda_exec.c reads it): step-by-step
 * checks of a context's runs, synchronizing after every step.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_debug.h"
#include "core/dtype.h"

void cu_nancheck_begin(const cu_engine *s, const cu_bucket *b, cu_ctx *x) {
    if (x->nancheck == 2) x->nancheck = 1;
    int bi = (int)(b - s->bk);
    x->chk_valid = x->chk && x->chk_bucket == bi && x->chk_n == b->nsteps;
    if (!x->chk_valid) {
        free(x->chk);
        x->chk = calloc(2 * (size_t)b->nsteps + 2, sizeof(double));
        x->chk_n = x->chk ? b->nsteps : 0;
        x->chk_bucket = bi;
    }
    x->chk_report = 1;
    x->runs++;
}

/* KILN_CUDA_NANCHECK=1 (debugging switch, with KILN_CUDA_POISON=1 to find reads of memory no
   step wrote): after each step, count the non-finite values in the real elements of its output
   and name the first step that has any on stderr. */
void cu_nancheck_step(const cu_engine *s, cu_ctx *x, int i, const cu_step *st) {
    const cu_view *v = &st->y;
    if (x->nancheck != 1 || v->space == CU_SP_NONE || v->space == CU_SP_WEIGHTS) return;
    if (st->kind == CU_STEP_OUTPUT) return;
    size_t es = kiln_dtype_size(v->dt), pix = (size_t)v->n * v->h * v->w;
    size_t bytes = pix * (size_t)v->pitch * es;
    unsigned char *h = malloc(bytes ? bytes : 1);
    if (!h || cudaStreamSynchronize(x->s) != cudaSuccess ||
        cudaMemcpy(h, x->base[v->space] + v->off, bytes, cudaMemcpyDeviceToHost) != cudaSuccess) {
        free(h);
        return;
    }
    size_t bad = 0;
    double sum = 0, sabs = 0;
    for (size_t p = 0; p < pix; p++)
        for (int c = v->coff; c < v->coff + v->c; c++) {
            size_t k = p * (size_t)v->pitch + (size_t)c;
            float f;
            if (v->dt == KILN_F32) memcpy(&f, h + 4 * k, 4);
            else if (v->dt == KILN_F16) f = kiln_f16_to_f32(((const uint16_t *)h)[k]);
            else if (v->dt == KILN_BF16) f = kiln_bf16_to_f32(((const uint16_t *)h)[k]);
            else continue;
            if (!isfinite(f)) bad++;
            else sum += f, sabs += fabs(f);
        }
    free(h);
    const kiln_node *n = st->node >= 0 ? &s->dg.g.n[st->node] : NULL;
    /* Same input, same engine: a step whose output changes from one run to the next (beyond
       what nondeterministic reductions explain) keeps state between runs. */
    if (x->chk && i < x->chk_n) {
        double *c = &x->chk[2 * i];
        if (x->chk_valid && !bad && fabs(sum - c[0]) > 1e-4 * (c[1] + 1e-30) && x->chk_report) {
            fprintf(stderr, "kiln: KILN_CUDA_NANCHECK: run %lld step %d (kind %d, node '%s'%s%s%s): "
                    "output sum %.6g, %.6g on the run before\n", (long long)x->runs, i,
                    (int)st->kind, n ? n->name : "-", st->kind == CU_STEP_CONV ? ", " : "",
                    st->kind == CU_STEP_CONV ? s->conv[st->layer].name : "",
                    st->kind == CU_STEP_CONV && s->conv[st->layer].split ? " (split)" : "", sum, c[0]);
            x->chk_report = 0;
        }
        c[0] = sum;
        c[1] = sabs;
    }
    if (!bad) return;
    fprintf(stderr, "kiln: KILN_CUDA_NANCHECK: step %d (kind %d, node '%s' %s%s%s%s): %zu of %zu "
            "output values not finite\n", i, (int)st->kind, n ? n->name : "-",
            n ? kiln_op_name((kiln_op)n->op) : "-", st->kind == CU_STEP_CONV ? ", " : "",
            st->kind == CU_STEP_CONV ? s->conv[st->layer].name : "",
            st->kind == CU_STEP_CONV && s->conv[st->layer].split ? " (split)" : "", bad,
            pix * (size_t)v->c);
    x->nancheck = 2; /* the first one only */
}

