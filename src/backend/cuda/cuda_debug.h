/* cuda_debug.h — debugging aids of the CUDA engine's runs (docs/cuda-backend.md lists the
 * switches). */
#ifndef KILN_CUDA_DEBUG_H
#define KILN_CUDA_DEBUG_H

#include "backend/cuda/cuda_engine.h"

/* KILN_CUDA_NANCHECK=1: call before a run's steps, then after each step i (synchronizes). */
void cu_nancheck_begin(const cu_engine *s, const cu_bucket *b, cu_ctx *x);
void cu_nancheck_step(const cu_engine *s, cu_ctx *x, int i, const cu_step *st);

#endif
