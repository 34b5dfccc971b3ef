/*
 * ops_rows.h - private to lib/: ops.c's kernels and its statistics combine,
 * for callers that cut the rows themselves (lib/mpi, where MPI ranks take
 * the place of the pool's workers).  The caller builds each sharr_block
 * (r0/r1 are global rows; data[] point at row r0 of each array) and calls
 * the kernel in its own process: nothing here forks.  Using these keeps the
 * MPI flavour's results bit-identical to the pool's: same kernels, same
 * fixed blocks, same combine order.  Never installed.
 */
#ifndef SHARR_OPS_ROWS_H
#define SHARR_OPS_ROWS_H

#include "internal.h"

/* Rows per fixed block of the reductions and of axpy's BLAS calls for an
 * array of `row_elems` elements per row (the pool's default blocks). */
SHARR_PRIVATE size_t sharr__stat_block_rows(size_t row_elems);

/* Rows of A and C per ?gemm call for a product with m rows. */
SHARR_PRIVATE size_t sharr__gemm_block_rows(size_t m);

/* Bytes of one block's partial statistics (a multiple of 16). */
SHARR_PRIVATE size_t sharr__stat_part_size(void);

/* The partial statistics of n elements of dtype dt at x into *part. */
SHARR_PRIVATE void sharr__stat_part(sharr_dtype dt, const void *x, size_t n,
                                    void *part);

/* Combine nparts partial statistics, in their order, into *out, exactly
 * as sharr_array_stats() combines its blocks. */
SHARR_PRIVATE void sharr__stat_combine(sharr_dtype dt, const void *parts,
                                       size_t nparts, sharr_stats *out);

/* The kernels: fill (arg: sharr_fill_spec), apply (arg: from
 * sharr__apply_arg), axpy (arg: alpha, SHARR_MAX_ITEMSIZE bytes; array 0
 * is x, 1 is y). */
SHARR_PRIVATE int sharr__fill_block(const sharr_block *b);
SHARR_PRIVATE int sharr__apply_block(const sharr_block *b);
SHARR_PRIVATE int sharr__axpy_block(const sharr_block *b);

/* Check op and its values for array a as sharr_apply() does and write the
 * kernel's argument to arg (at most SHARR__APPLY_ARG_MAX bytes), its size
 * to *size.  *scan is set when the op needs the domain scan (sqrt, log of
 * a real float array).  @return 0 or the error sharr_apply() gives. */
#define SHARR__APPLY_ARG_MAX 64
SHARR_PRIVATE int sharr__apply_arg(const sharr_array *a, sharr_op op,
                                   const void *z1, const void *z2, void *arg,
                                   size_t *size, int *scan);

/* One OpenBLAS ?gemm call: C (m x n) = alpha A (m x k) B (k x n) + beta C,
 * row-major, for dtype dt (f32, f64, c64, c128). */
SHARR_PRIVATE void sharr__gemm_call(sharr_dtype dt, const void *alpha,
                                    const void *beta, int m, int n, int k,
                                    const void *A, const void *B, void *C);

/* Load OpenBLAS (lib/ops/blas.c), on one thread per process (as in the
 * pool's workers), before the first sharr__gemm_call() or float axpy
 * block.  @return 0 or SHARR_ENOENT. */
SHARR_PRIVATE int sharr__ops_blas_load(void);

#endif
