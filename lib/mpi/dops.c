/*
 * dops.c - the built-in operations on distributed arrays: fill, apply,
 * axpy, gemm and statistics, running ops.c's own kernels (ops_rows.h) on
 * each rank's rows, so that bytes and figures equal the fork pool's.
 *
 * Reductions and axpy work on the pool's fixed blocks of S rows: a rank
 * computes the blocks whose first row it holds.  A block that runs past
 * its node's last row gets the missing rows from the next nodes' rank 0
 * (and axpy sends the updated rows of y back): see for_blocks().  Within a
 * node the ranks share the slab, so nothing is sent between them.
 * Nothing here forks; OpenBLAS runs on one thread per rank.
 */
#define _GNU_SOURCE
#include "dist.h"
#include "ops/ops_rows.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define TAG_HALO 7100   /* + array index: rows sent to a block's owner */
#define TAG_BACK 7200   /* + array index: rows written back */

typedef int (*block_fn)(void *ctx, size_t b0, size_t b1,
                        unsigned char *const *rows);

static bool node_has_rows(const sharr_dist *d, int node, size_t *r0,
                          size_t *r1)
{
    sharr__dist_node_rows(d, node, r0, r1);
    return *r1 > *r0;
}

/* The halo of block [b0, b1) owned here, past this node's rows: receive
 * the other nodes' rows into bufs (tag TAG_HALO), or with `back` send
 * them back (TAG_BACK) for the arrays in `written`. */
static void halo(sharr_dist *const *v, int n, unsigned written, size_t b0,
                 size_t b1, unsigned char **bufs, bool back)
{
    const sharr_dist *d = v[0];

    for (int node = d->nl.node + 1; node < d->nl.nodes; node++) {
        size_t m0, m1;
        int from;
        if (!node_has_rows(d, node, &m0, &m1) || m0 < d->lay.node_r1)
            continue;
        if (m0 >= b1)
            break;
        from = d->nl.order[d->nl.node_first[node]];
        m1 = m1 < b1 ? m1 : b1;
        for (int i = 0; i < n; i++) {
            void *at = bufs[i] + (m0 - b0) * v[i]->row_bytes;
            int bytes = (int)((m1 - m0) * v[i]->row_bytes);
            if (!back)
                MPI_Recv(at, bytes, MPI_BYTE, from, TAG_HALO + i, d->nl.comm,
                         MPI_STATUS_IGNORE);
            else if (written & (1u << i))
                MPI_Send(at, bytes, MPI_BYTE, from, TAG_BACK + i, d->nl.comm);
        }
    }
}

/* fn on block [b0, b1), gathering rows past this node's end. */
static int straddling(sharr_dist *const *v, int n, unsigned written,
                      size_t b0, size_t b1, block_fn fn, void *ctx)
{
    const sharr_dist *d = v[0];
    unsigned char *bufs[SHARR_JOB_MAX_ARRAYS] = {0};
    size_t here = d->lay.node_r1 - b0, off = b0 - d->lay.node_r0;
    int err = 0;

    for (int i = 0; i < n; i++) {
        if (!(bufs[i] = malloc((b1 - b0) * v[i]->row_bytes)))
            err = sharr__fail(SHARR_ENOMEM, "out of memory for a block of "
                              "%zu rows", b1 - b0);
    }
    if (err == 0) {
        for (int i = 0; i < n; i++)
            memcpy(bufs[i], v[i]->base + off * v[i]->row_bytes,
                   here * v[i]->row_bytes);
        halo(v, n, written, b0, b1, bufs, false);
        err = fn(ctx, b0, b1, bufs);
        for (int i = 0; i < n; i++)
            if (written & (1u << i))
                memcpy(v[i]->base + off * v[i]->row_bytes, bufs[i],
                       here * v[i]->row_bytes);
        halo(v, n, written, b0, b1, bufs, true);
    }
    for (int i = 0; i < n; i++)
        free(bufs[i]);
    return err;
}

/* Run fn on every fixed block of S rows whose first row this rank holds,
 * in order, over arrays v[0..n) of one row count (so one partition).
 * Every rank must call it (the halo is point to point).  A memory failure
 * of a block's owner would leave its senders waiting: the job then fails
 * by MPI's own abort, as any rank death does. */
static int for_blocks(sharr_dist *const *v, int n, unsigned written,
                      size_t S, block_fn fn, void *ctx)
{
    const sharr_dist *d = v[0];
    size_t n0 = d->lay.node_r0, n1 = d->lay.node_r1, send_rows = 0;
    MPI_Request req[SHARR_JOB_MAX_ARRAYS];
    int nreq = 0, to = -1, err = 0;

    /* Rows at this node's start that belong to a block begun before. */
    if (d->nl.node_rank == 0 && n1 > n0 && n0 % S != 0) {
        size_t end = n0 / S * S + S;
        send_rows = (end < n1 ? end : n1) - n0;
        to = sharr__dist_owner(d, n0 / S * S);
        for (int i = 0; i < n; i++)
            MPI_Isend(v[i]->base, (int)(send_rows * v[i]->row_bytes),
                      MPI_BYTE, to, TAG_HALO + i, d->nl.comm, &req[nreq++]);
    }
    for (size_t b0 = (d->lay.r0 + S - 1) / S * S; b0 < d->lay.r1; b0 += S) {
        size_t b1 = b0 + S < d->rows ? b0 + S : d->rows;
        unsigned char *rows[SHARR_JOB_MAX_ARRAYS];
        int e;
        if (b1 > n1) {
            e = straddling(v, n, written, b0, b1, fn, ctx);
        } else {
            for (int i = 0; i < n; i++)
                rows[i] = v[i]->base + (b0 - n0) * v[i]->row_bytes;
            e = fn(ctx, b0, b1, rows);
        }
        if (err == 0)
            err = e;
    }
    if (nreq)
        MPI_Waitall(nreq, req, MPI_STATUSES_IGNORE);
    for (int i = 0; to >= 0 && i < n; i++)
        if (written & (1u << i))
            MPI_Recv(v[i]->base, (int)(send_rows * v[i]->row_bytes),
                     MPI_BYTE, to, TAG_BACK + i, d->nl.comm,
                     MPI_STATUS_IGNORE);
    return err;
}

static size_t row_elems(const sharr_dist *d)
{
    return d->row_bytes / sharr_dtype_size(d->dtype);
}

/* Blocks of S rows that start in rows [r0, r1). */
static size_t blocks_in(size_t r0, size_t r1, size_t S)
{
    size_t first = (r0 + S - 1) / S, end = (r1 + S - 1) / S;
    return r1 > r0 && end > first ? end - first : 0;
}

static int check_blocks(const sharr_dist *d, size_t S)
{
    if (S * d->row_bytes > INT_MAX)
        return sharr__fail(SHARR_EINVAL, "rows of %zu bytes are too long "
                           "for sharr-mpi's messages", d->row_bytes);
    return 0;
}

/* ---- fill, apply ---- */

int sharr_dist_fill(sharr_dist *d, const sharr_fill_spec *spec)
{
    if (!spec)
        return sharr_mpi_agree(d->nl.comm, sharr__fail(SHARR_EINVAL,
                                                       "fill spec is NULL"));
    return sharr_dist_run(d, sharr__fill_block, spec, sizeof *spec);
}

/* 1 + the global index of the first negative element of this rank's rows
 * of a real float array, or 0. */
static uint64_t first_negative(const sharr_dist *d)
{
    size_t n = (d->lay.r1 - d->lay.r0) * row_elems(d);
    const unsigned char *p = d->base + (d->lay.r0 - d->lay.node_r0) *
                                           d->row_bytes;

    for (size_t i = 0; i < n; i++) {
        double v;
        if (d->dtype == SHARR_F32) {
            float f;
            memcpy(&f, p + 4 * i, 4);
            v = f;
        } else {
            memcpy(&v, p + 8 * i, 8);
        }
        if (v < 0)
            return 1 + d->lay.r0 * row_elems(d) + i;
    }
    return 0;
}

static int check_domain(sharr_dist *d, sharr_op op)
{
    uint64_t mine = d->lay.r1 > d->lay.r0 ? first_negative(d) : 0, k;
    int err = 0;

    mine = mine ? mine : UINT64_MAX;
    MPI_Allreduce(&mine, &k, 1, MPI_UINT64_T, MPI_MIN, d->nl.comm);
    if (k != UINT64_MAX && mine == k) { /* this rank holds it */
        size_t e = (size_t)(k - 1), per = row_elems(d);
        char val[64];
        sharr_value_format(d->dtype, d->base + (e - d->lay.node_r0 * per) *
                                                   sharr_dtype_size(d->dtype),
                           val, sizeof val);
        err = sharr__fail(SHARR_EDOM, "%s of a negative number: element %zu "
                          "(row %zu) of '%s' is %s; the array is unchanged "
                          "(use a complex dtype for complex results)",
                          sharr_op_name(op), e, e / per, d->name, val);
    }
    return sharr_mpi_agree(d->nl.comm, err);
}

int sharr_dist_apply(sharr_dist *d, sharr_op op, const void *z1,
                     const void *z2)
{
    unsigned char arg[SHARR__APPLY_ARG_MAX];
    size_t size = 0;
    int err = 0, scan = 0;

    /* Ranks of a node without rows have no slab to check against; the
     * others' checks speak for them (the agreement spreads the error). */
    if (d->slab)
        err = sharr__apply_arg(d->slab, op, z1, z2, arg, &size, &scan);
    if ((err = sharr_mpi_agree(d->nl.comm, err)) < 0)
        return err;
    MPI_Allreduce(MPI_IN_PLACE, &scan, 1, MPI_INT, MPI_MAX, d->nl.comm);
    if (scan && (err = check_domain(d, op)) < 0)
        return err;
    return sharr_dist_run(d, sharr__apply_block, arg, size);
}

/* ---- axpy ---- */

static int same_layout(const sharr_dist *x, const sharr_dist *y)
{
    if (x->dtype != y->dtype)
        return sharr__fail(SHARR_EDTYPE, "'%s' is %s but '%s' is %s",
                           x->name, sharr_dtype_name(x->dtype), y->name,
                           sharr_dtype_name(y->dtype));
    if (x->ndim != y->ndim ||
        memcmp(x->shape, y->shape, x->ndim * sizeof *x->shape) != 0)
        return sharr__fail(SHARR_ESHAPE, "'%s' and '%s' have different "
                           "shapes", x->name, y->name);
    return 0;
}

struct axpy_ctx {
    sharr_dist *x, *y;
    unsigned char alpha[SHARR_MAX_ITEMSIZE];
};

static int axpy_fn(void *ctx, size_t b0, size_t b1, unsigned char *const *rows)
{
    struct axpy_ctx *c = ctx;
    sharr_block b;

    memset(&b, 0, sizeof b);
    b.r0 = b0;
    b.r1 = b1;
    b.narrays = 2;
    b.data[0] = rows[0];
    b.data[1] = rows[1];
    b.array[0] = c->x->slab;
    b.array[1] = c->y->slab;
    b.arg = c->alpha;
    b.arg_size = sizeof c->alpha;
    return sharr__axpy_block(&b);
}

int sharr_dist_axpy(const void *alpha, sharr_dist *x, sharr_dist *y)
{
    struct axpy_ctx c = {x, y, {0}};
    sharr_dist *v[2] = {x, y};
    size_t S = sharr__stat_block_rows(row_elems(y));
    char kind = sharr_dtype_kind(y->dtype);
    int err;

    if ((err = same_layout(x, y)) == 0 && !alpha)
        err = sharr__fail(SHARR_EINVAL, "axpy needs alpha");
    if (err == 0 && y->slab && !sharr_array_writable(y->slab))
        err = sharr__fail(SHARR_EACCES, "array '%s' is open read-only",
                          y->name);
    if (err == 0)
        err = check_blocks(y, S);
    if (err == 0 && kind != 'i' && kind != 'u')
        err = sharr__ops_blas_load();
    if ((err = sharr_mpi_agree(y->nl.comm, err)) < 0)
        return err;
    memcpy(c.alpha, alpha, sharr_dtype_size(y->dtype));
    return sharr_mpi_agree(y->nl.comm,
                           for_blocks(v, 2, 2u, S, axpy_fn, &c));
}

/* ---- statistics ---- */

struct stat_ctx {
    sharr_dist *d;
    unsigned char *parts;
    size_t next, part;
};

static int stat_fn(void *ctx, size_t b0, size_t b1, unsigned char *const *rows)
{
    struct stat_ctx *c = ctx;

    sharr__stat_part(c->d->dtype, rows[0], (b1 - b0) * row_elems(c->d),
                     c->parts + c->next++ * c->part);
    return 0;
}

/* Rank 0 gathers every block's part, in block order. */
static int gather_parts(sharr_dist *d, size_t S, const struct stat_ctx *c,
                        unsigned char *all)
{
    int *counts = NULL, *displs = NULL, err = 0;

    if (d->nl.rank == 0) {
        counts = calloc((size_t)d->nl.size, sizeof *counts);
        displs = calloc((size_t)d->nl.size, sizeof *displs);
        if (!counts || !displs)
            err = sharr__fail(SHARR_ENOMEM, "out of memory");
        for (int r = 0; err == 0 && r < d->nl.size; r++) {
            size_t r0, r1;
            sharr__dist_rank_rows(d, d->nl.pos[r], &r0, &r1);
            counts[r] = (int)(blocks_in(r0, r1, S) * c->part);
            displs[r] = (int)((r0 + S - 1) / S * c->part);
        }
    }
    if ((err = sharr_mpi_agree(d->nl.comm, err)) == 0)
        MPI_Gatherv(c->parts, (int)(c->next * c->part), MPI_BYTE, all, counts,
                    displs, MPI_BYTE, 0, d->nl.comm);
    free(counts);
    free(displs);
    return err;
}

int sharr_dist_stats(sharr_dist *d, sharr_stats *out)
{
    size_t S = sharr__stat_block_rows(row_elems(d));
    size_t nblocks = (d->rows + S - 1) / S;
    struct stat_ctx c = {d, NULL, 0, sharr__stat_part_size()};
    unsigned char *all = NULL;
    int err = check_blocks(d, S);

    if (nblocks * c.part > INT_MAX && err == 0)
        err = sharr__fail(SHARR_EINVAL, "%zu blocks of statistics are too "
                          "many for one gather", nblocks);
    c.parts = malloc((blocks_in(d->lay.r0, d->lay.r1, S) + 1) * c.part);
    if (d->nl.rank == 0)
        all = malloc(nblocks * c.part);
    if (err == 0 && (!c.parts || (d->nl.rank == 0 && !all)))
        err = sharr__fail(SHARR_ENOMEM, "out of memory for %zu blocks of "
                          "statistics", nblocks);
    if ((err = sharr_mpi_agree(d->nl.comm, err)) < 0)
        goto out;
    if ((err = sharr_mpi_agree(d->nl.comm, for_blocks(&d, 1, 0, S, stat_fn,
                                                      &c))) < 0 ||
        (err = gather_parts(d, S, &c, all)) < 0)
        goto out;
    if (d->nl.rank == 0)
        sharr__stat_combine(d->dtype, all, nblocks, out);
    MPI_Bcast(out, (int)sizeof *out, MPI_BYTE, 0, d->nl.comm);
out:
    free(c.parts);
    free(all);
    return err;
}

/* ---- gemm ---- */

static int check_gemm(const sharr_dist *a, const sharr_dist *b,
                      const sharr_dist *c, const void *alpha,
                      const void *beta)
{
    char kind = sharr_dtype_kind(c->dtype);

    if (a->dtype != c->dtype || b->dtype != c->dtype)
        return sharr__fail(SHARR_EDTYPE, "gemm needs arrays of one dtype: "
                           "'%s' %s, '%s' %s, '%s' %s", a->name,
                           sharr_dtype_name(a->dtype), b->name,
                           sharr_dtype_name(b->dtype), c->name,
                           sharr_dtype_name(c->dtype));
    if (kind != 'f' && kind != 'c')
        return sharr__fail(SHARR_EDTYPE, "gemm needs f32, f64, c64 or c128 "
                           "arrays, not %s", sharr_dtype_name(c->dtype));
    if (a->ndim != 2 || b->ndim != 2 || c->ndim != 2)
        return sharr__fail(SHARR_ESHAPE, "gemm needs 2-d arrays");
    if (a->shape[1] != b->shape[0] || c->shape[0] != a->shape[0] ||
        c->shape[1] != b->shape[1])
        return sharr__fail(SHARR_ESHAPE, "gemm shapes do not match: A is "
                           "%zux%zu, B %zux%zu, C %zux%zu (need m x k, k x n, "
                           "m x n)", a->shape[0], a->shape[1], b->shape[0],
                           b->shape[1], c->shape[0], c->shape[1]);
    if (a->shape[0] > INT_MAX || a->shape[1] > INT_MAX ||
        b->shape[1] > INT_MAX || b->row_bytes > INT_MAX)
        return sharr__fail(SHARR_EINVAL, "gemm dimensions must be below 2^31");
    if (strcmp(a->name, c->name) == 0 || strcmp(b->name, c->name) == 0)
        return sharr__fail(SHARR_EINVAL, "gemm cannot write C in place of A "
                           "or B");
    if (!alpha || !beta)
        return sharr__fail(SHARR_EINVAL, "gemm needs alpha and beta");
    if (c->slab && !sharr_array_writable(c->slab))
        return sharr__fail(SHARR_EACCES, "array '%s' is open read-only",
                           c->name);
    return sharr__ops_blas_load();
}

int sharr_dist_gemm(const void *alpha, sharr_dist *a, sharr_dist *b,
                    const void *beta, sharr_dist *c)
{
    MPI_Win win = MPI_WIN_NULL;
    const void *full = NULL;
    size_t step;
    int err;

    if ((err = sharr_mpi_agree(c->nl.comm,
                               check_gemm(a, b, c, alpha, beta))) < 0)
        return err;
    if ((err = sharr_mpi_agree(c->nl.comm,
                               sharr__dist_replicate(b, &win, &full))) < 0)
        goto out;
    /* A and C have m rows, so one partition: this rank's rows of both are
     * here, in whole gemm blocks (the partition's unit). */
    step = sharr__gemm_block_rows(c->rows);
    for (size_t r = c->lay.r0; r < c->lay.r1; r += step) {
        size_t end = r + step < c->lay.r1 ? r + step : c->lay.r1;
        size_t off = r - c->lay.node_r0;
        sharr__gemm_call(c->dtype, alpha, beta, (int)(end - r),
                         (int)c->shape[1], (int)a->shape[1],
                         a->base + off * a->row_bytes, full,
                         c->base + off * c->row_bytes);
    }
    err = sharr_mpi_agree(c->nl.comm, 0);
out:
    MPI_Win_free(&win);
    return err;
}
