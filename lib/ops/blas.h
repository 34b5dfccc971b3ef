/*
 * blas.h - private to lib/ops/: the CBLAS functions ops.c calls, through
 * OpenBLAS loaded on first use (blas.c) rather than linked.  Linking it
 * would make every program that uses libsharr, and every `sharr ls`, pay
 * OpenBLAS's start-up (CPU detection, buffers, a thread per core: about
 * 2 ms) whether or not it ever multiplies a matrix.  Include this instead
 * of <cblas.h>: each cblas_* name below becomes a call through the table of
 * the loaded library, so ops.c keeps the plain CBLAS calls.  A CBLAS call
 * not listed here fails the link of libsharr.so (-z defs): add it here.
 */
#ifndef SHARR_OPS_BLAS_H
#define SHARR_OPS_BLAS_H

#include "internal.h"

#include <cblas.h>

struct sharr__blas {
    __typeof__(cblas_saxpy) *saxpy;
    __typeof__(cblas_daxpy) *daxpy;
    __typeof__(cblas_caxpy) *caxpy;
    __typeof__(cblas_zaxpy) *zaxpy;
    __typeof__(cblas_sgemm) *sgemm;
    __typeof__(cblas_dgemm) *dgemm;
    __typeof__(cblas_cgemm) *cgemm;
    __typeof__(cblas_zgemm) *zgemm;
};

/* Load OpenBLAS (SHARR_BLAS_SONAME, "libopenblas.so.0") into this process,
 * once; in a pool worker, then give it the thread count the worker asked
 * for.  Public functions call it in the caller before a job whose kernels
 * need BLAS, so that a missing library is an error and not a dead worker.
 * @return 0 or SHARR_ENOENT (the detail has dlerror()'s text). */
int sharr__blas_load(void);

/* The loaded functions (loading them if needed).  Kernels call it through
 * the macros below; it aborts if the library cannot be loaded here after
 * the caller's sharr__blas_load() succeeded (the pool reports the worker's
 * death), which only a library removed meanwhile can cause. */
const struct sharr__blas *sharr__blas(void);

#define cblas_saxpy (sharr__blas()->saxpy)
#define cblas_daxpy (sharr__blas()->daxpy)
#define cblas_caxpy (sharr__blas()->caxpy)
#define cblas_zaxpy (sharr__blas()->zaxpy)
#define cblas_sgemm (sharr__blas()->sgemm)
#define cblas_dgemm (sharr__blas()->dgemm)
#define cblas_cgemm (sharr__blas()->cgemm)
#define cblas_zgemm (sharr__blas()->zgemm)

#endif /* SHARR_OPS_BLAS_H */
