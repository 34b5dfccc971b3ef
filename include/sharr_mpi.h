/*
 * sharr_mpi.h - sharr's MPI flavour: arrays distributed by rows over the
 * ranks of an MPI communicator (Open MPI), with parallel HDF5.
 *
 * MODEL.  A distributed array has a global dtype and shape.  Its rows are
 * cut among the *nodes*: the groups of ranks that share memory
 * (MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)), or, when the environment
 * variable SHARR_MPI_RANKS_PER_NODE=k is set, groups of k consecutive
 * ranks of each such group, which then act as separate nodes (so the
 * multi-node paths run on one machine).  Node i is numbered by the lowest
 * world rank among its ranks.  Each node holds its rows in an ordinary
 * node-local sharr array, its *slab*, named "NAME.<i>" (NumPy attaches to
 * /dev/shm/sharr.NAME.<i> as to any sharr array), and a small descriptor,
 * the u64 array "NAME.<i>.meta" (global dtype and shape, node index and
 * count, the slab's rows, the ranks of every node), made last.  The node's
 * rank 0 creates both; the others open them by name.  A node whose share
 * is no rows has a descriptor but no slab.
 *
 * ROW PARTITION, a function of the global row count m and of the ranks of
 * each node only: rows are grouped in units of u = sharr's gemm block rows
 * for m (32..512 rows, about m/4), so every array with m rows is cut the
 * same way (the rows of A and C of a gemm lie on the same ranks).  The P
 * ranks in node order (node 0's ranks by node rank, then node 1's ...)
 * take units [ceil(U*j/P), ceil(U*(j+1)/P)) for j = 0..P-1, U = ceil(m/u); a node's
 * slab is the union of its ranks' rows.  Fewer rows than ranks leave some
 * ranks (and nodes) without rows.  HDF5 loads and saves cut the node's
 * rows again among its ranks, at multiples of the dataset's chunk rows.
 * A later open from a launch with another node count or other ranks per
 * node is refused with SHARR_EINVAL, the detail naming both
 * layouts.
 *
 * DETERMINISM.  Element-wise ops touch each element once; statistics sum
 * the pool's fixed blocks (ops.c) pairwise, gather the blocks' partial
 * sums in block order and combine them in that order on rank 0; axpy makes
 * one BLAS call per fixed block and gemm one per gemm block.  A fixed block
 * that straddles two nodes is computed by the rank that holds its first
 * row, with the other rows sent to it (and written back for axpy).  So the
 * figures and bytes equal single-process sharr's for any rank and node
 * count.
 *
 * EXPRESSIONS.  sharr_dist_eval() types and compiles the expression with
 * the serial engine and runs its program on each rank over the rows of
 * OUT that rank computes, with the pool's own loops.  An operand with the
 * result's ndim and rows is read over those rows (arrays of one row count
 * have one partition, so they are in the node's slab; rows a slab lacks
 * would be received from their owners); any other operand (broadcast
 * along the rows: fewer dims, or 1 row) is replicated whole once per node
 * in a node-shared window.  Per-row reductions (rowsum, rowmean, rowmin,
 * rowmax, rownorm) sum each row whole on the rank that owns it, as the
 * serial engine does, and every rank gets all rows in order.  So OUT's
 * bytes equal single-process `sharr eval`'s for any rank and node count.
 * A new OUT (or, with force, a replacement) is made as sharr_dist_create()
 * makes it, under the staging name "sharr-eval.PID.N.T.OUT", and renamed
 * to OUT on every node (slabs, then descriptors) once every rank is done;
 * on any failure it is removed.  With force the old OUT is removed just
 * before the new one is named.  Integer divisions by zero are summed over
 * the ranks.  A launch killed mid-eval may leave the staging slabs:
 * sharr_dist_unlink() (sharr-mpi rm) of their name removes them.
 *
 * ERRORS.  Every function here is collective over the communicator (but
 * the getters and sharr_dist_close()), and returns the same result on
 * every rank: when a rank fails, all return its code, and sharr_errmsg()
 * gives that rank's detail, prefixed "rank R: " when R is not the caller.
 *
 * FORK.  Nothing here forks (Open MPI advises against fork after
 * MPI_Init): no pool, no temporary arrays.  Link with -lsharr-mpi
 * (pkg-config sharr-mpi), built with mpicc against hdf5-openmpi.
 */
#ifndef SHARR_MPI_H
#define SHARR_MPI_H

#include "sharr.h"

#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sharr_dist sharr_dist;

/* Where the calling rank stands in a distributed array's partition. */
typedef struct sharr_dist_layout {
    int rank, ranks;            /* in the communicator */
    int node, nodes;            /* this rank's node and the node count */
    int node_rank, node_ranks;  /* this rank within its node */
    size_t node_r0, node_r1;    /* global rows of this node's slab */
    size_t r0, r1;              /* global rows this rank computes */
    size_t unit;                /* rows per partition unit */
} sharr_dist_layout;

/* sharr_dist_create() : collectively create the distributed array `name`
 * of `dtype` and global shape[0..ndim) over comm, zero-filled.  Every rank
 * passes the same arguments.  Release with sharr_dist_close().
 * @return 0, SHARR_EINVAL (bad name, shape; ranks disagree), SHARR_EEXIST
 * (a slab or descriptor of `name` exists), or a create error of a node. */
SHARR_API int sharr_dist_create(MPI_Comm comm, const char *name,
                                sharr_dtype dtype, size_t ndim,
                                const size_t *shape, sharr_dist **out);

/* sharr_dist_open() : collectively open the distributed array `name`,
 * checking each node's descriptor against this launch's layout.
 * @return 0, SHARR_ENOENT (no descriptor on some node), SHARR_EINVAL (made
 * by a launch with another layout: the detail names both), SHARR_ECORRUPT
 * (descriptor and slab disagree), or an open error. */
SHARR_API int sharr_dist_open(MPI_Comm comm, const char *name,
                              sharr_dist **out);

/* sharr_dist_close() : unmap and free (local, not collective; NULL is
 * fine).  The slabs stay until sharr_dist_unlink(). */
SHARR_API void sharr_dist_close(sharr_dist *d);

/* sharr_dist_unlink() : collectively remove every slab and descriptor of
 * `name` on the nodes of comm, whatever layout made them (each node's rank
 * 0 removes the "NAME.<i>" and "NAME.<i>.meta" objects of its host).
 * @return 0, SHARR_EINVAL (bad name), SHARR_ENOENT (nothing to remove). */
SHARR_API int sharr_dist_unlink(MPI_Comm comm, const char *name);

/* Getters (local).  The local slab is an ordinary sharr_array holding
 * global rows [node_r0, node_r1); NULL on a node without rows. */
SHARR_API sharr_array *sharr_dist_local(const sharr_dist *d);
SHARR_API const sharr_dist_layout *sharr_dist_layout_get(const sharr_dist *d);
SHARR_API sharr_dtype sharr_dist_dtype(const sharr_dist *d);
SHARR_API size_t sharr_dist_ndim(const sharr_dist *d);
SHARR_API const size_t *sharr_dist_shape(const sharr_dist *d); /* global */
SHARR_API const char *sharr_dist_name(const sharr_dist *d);

/* sharr_dist_run() : run `kernel` once on this rank's rows [r0, r1), if it
 * has any: b->r0/r1 are global rows, data[0] points at row r0 in the slab,
 * array[0] is the slab; arg as in a pool job.  Then agree on the result.
 * @return 0 or the first failing rank's code. */
SHARR_API int sharr_dist_run(sharr_dist *d, sharr_kernel kernel,
                             const void *arg, size_t arg_size);

/* sharr_dist_fill() : sharr_fill() of the whole distributed array (element
 * k of range/random is global element k).  @return 0 or an error. */
SHARR_API int sharr_dist_fill(sharr_dist *d, const sharr_fill_spec *spec);

/* sharr_dist_apply() : sharr_apply() of the whole array: same checks and
 * codes (SHARR_EDOM leaves every slab unchanged). */
SHARR_API int sharr_dist_apply(sharr_dist *d, sharr_op op, const void *z1,
                               const void *z2);

/* sharr_dist_axpy() : y += alpha * x for distributed x, y of one dtype and
 * shape, as sharr_axpy().  @return 0, SHARR_EDTYPE, SHARR_ESHAPE, ... */
SHARR_API int sharr_dist_axpy(const void *alpha, sharr_dist *x,
                              sharr_dist *y);

/* sharr_dist_gemm() : C = alpha A @ B + beta C as sharr_gemm(), the rows of
 * A and C distributed, B (k x n) gathered once into a node-shared MPI
 * window on each node.  @return as sharr_gemm(). */
SHARR_API int sharr_dist_gemm(const void *alpha, sharr_dist *a,
                              sharr_dist *b, const void *beta,
                              sharr_dist *c);

/* sharr_dist_stats() : sharr_array_stats() of the whole array (not per
 * row), identical for any rank and node count; every rank gets *out. */
SHARR_API int sharr_dist_stats(sharr_dist *d, sharr_stats *out);

/* sharr_dist_h5_load() : collectively load dataset `dset` of HDF5 `file`
 * (parallel HDF5, collective hyperslab reads of each rank's rows) into a
 * new distributed array `name`.  Types as sharr_h5_load() but float16.
 * @return 0, SHARR_H5_EMPTY (*out NULL), or sharr_h5_load()'s codes. */
SHARR_API int sharr_dist_h5_load(MPI_Comm comm, const char *file,
                                 const char *dset, const char *name,
                                 sharr_dist **out);

/* sharr_dist_h5_save() : collectively save d as dataset `dset` of a new
 * HDF5 file `file` (replacing it only with opts->force), written under a
 * temporary name and renamed.  Only chunk, gzip, shuffle, complex_matlab,
 * force of opts are used (NULL: contiguous).  Filtered datasets use HDF5's
 * collective filtered writes (space allocated early, no conversion).
 * @return 0, SHARR_EEXIST, SHARR_EINVAL, SHARR_EHDF5, or an OS error. */
SHARR_API int sharr_dist_h5_save(sharr_dist *d, const char *file,
                                 const char *dset,
                                 const sharr_save_opts *opts);

typedef struct sharr_dist_eval_opts {
    sharr_dtype dtype;  /* 0: the result's; else OUT's (casting='unsafe') */
    int force;          /* 1: replace an OUT of another dtype or shape */
} sharr_dist_eval_opts;

/* sharr_dist_eval() : collectively run sharr_eval()'s "OUT = EXPR" over
 * distributed arrays by name (see EXPRESSIONS): OUT is written in place if
 * it takes the result, else refused (naming both) unless opts->force; a new
 * OUT is staged and named on every node only once every rank succeeded.
 * opts, res may be NULL; *res is the same on every rank.
 * @return 0, sharr_eval()'s codes, or sharr_dist_open()'s. */
SHARR_API int sharr_dist_eval(MPI_Comm comm, const char *statement,
                              const sharr_dist_eval_opts *opts,
                              sharr_eval_result *res);

/* sharr_mpi_agree() : collectively agree on `err`: every rank gets the
 * code of the lowest rank whose err < 0 (and its detail), else 0. */
SHARR_API int sharr_mpi_agree(MPI_Comm comm, int err);

#ifdef __cplusplus
}
#endif
#endif /* SHARR_MPI_H */
