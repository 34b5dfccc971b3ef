/*
 * deval.c - "OUT = EXPR" over distributed arrays (sharr_dist_eval): the
 * serial engine types and compiles the expression (lib/ops/expr_*.c) and
 * each rank runs its programs over the rows it computes, in its own
 * process, with the pool's loops (sharr__expr_rows).  No second
 * interpreter, so every element equals single-process sharr's.
 *
 * Operands: one that varies along the result's first axis (the result's
 * ndim and rows) is read over this rank's rows, straight from the node's
 * slab when it holds them and otherwise received from the ranks that own
 * them (one MPI_Alltoallv); any other (broadcast along the rows) is
 * replicated whole once per node in a node-shared window.  A per-row
 * reduction (rowsum ...) is computed by the rank owning the row, each row
 * whole as the serial engine does, then gathered to every rank in row
 * order: the figures do not depend on the ranks or nodes.  A new OUT is
 * made under a staging name and published (renamed on every node) only
 * once every rank succeeded; on failure it is removed.  Nothing forks.
 */
#define _GNU_SOURCE
#include "dist.h"
#include "ops/expr.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct deval {
    MPI_Comm comm;
    sharr_expr *e;
    sharr_dist **in;           /* [nnames] */
    int out_input;             /* OUT's index among the names, or -1 */
    sharr_dist *out;           /* the existing OUT, or the staged one */
    bool staged, replace;
    struct ex_plan *pl;
    MPI_Win *win;              /* [nnames] replicas, MPI_WIN_NULL if none */
    const void **whole;        /* [nnames] the replicas' memory */
    unsigned char *temp[EX_MAX_PROGS]; /* the reductions, whole */
    uint64_t zero_div;
};

/* ---- operands ---- */

/* Tests only: SHARR_MPI_EVAL_FETCH=1 makes every rank receive its rows of
 * every operand from their owners, as it would if the operand's slabs
 * did not hold them (partitions never differ today: see sharr_mpi.h). */
static bool fetch_always(void)
{
    const char *s = getenv("SHARR_MPI_EVAL_FETCH");
    return s && strcmp(s, "1") == 0;
}

static size_t overlap(size_t a0, size_t a1, size_t b0, size_t b1,
                      size_t *start)
{
    *start = a0 > b0 ? a0 : b0;
    return (a1 < b1 ? a1 : b1) > *start ? (a1 < b1 ? a1 : b1) - *start : 0;
}

/* Receive rows [a, b) of d into buf from the ranks that own them, for the
 * ranks whose want[3 r + 2] is set (want: every rank's a, b, flag). */
static void exchange(const sharr_dist *d, const uint64_t *want, size_t a,
                     size_t b, unsigned char *buf)
{
    int n = d->nl.size, *c = calloc(4 * (size_t)n, sizeof *c);
    size_t m0 = d->lay.r0, m1 = d->lay.r1, at;
    MPI_Datatype row;
    unsigned char dummy = 0;

    if (!c)
        MPI_Abort(d->nl.comm, 1); /* the others are already waiting */
    for (int q = 0; q < n; q++) {
        size_t p0, p1, rows;
        /* What q wants of this rank's rows (in the slab from node_r0) */
        if (want[3 * q + 2] &&
            (rows = overlap(want[3 * q], want[3 * q + 1], m0, m1, &at))) {
            c[q] = (int)rows;
            c[n + q] = (int)(at - d->lay.node_r0);
        }
        /* and what this rank wants of q's (into buf from row a). */
        sharr__dist_rank_rows(d, d->nl.pos[q], &p0, &p1);
        if (want[3 * d->nl.rank + 2] && (rows = overlap(a, b, p0, p1, &at))) {
            c[2 * n + q] = (int)rows;
            c[3 * n + q] = (int)(at - a);
        }
    }
    MPI_Type_contiguous((int)d->row_bytes, MPI_BYTE, &row);
    MPI_Type_commit(&row);
    MPI_Alltoallv(d->base ? (void *)d->base : &dummy, c, c + n, row,
                  buf ? (void *)buf : &dummy, c + 2 * n, c + 3 * n, row,
                  d->nl.comm);
    MPI_Type_free(&row);
    free(c);
}

/* d's rows and row bytes fit the int counts of MPI's messages. */
static int fits_messages(const sharr_dist *d)
{
    if (d->rows > INT_MAX || d->row_bytes > INT_MAX)
        return sharr__fail(SHARR_EINVAL, "'%s' is too large for sharr-mpi's "
                           "messages (%zu rows of %zu bytes)", d->name,
                           d->rows, d->row_bytes);
    return 0;
}

/* Rows [a, b) of d at *at: in the node's slab, or received into *buf. */
static int rows_of(const sharr_dist *d, size_t a, size_t b, void **at,
                   unsigned char **buf)
{
    int need = b > a && (fetch_always() || a < d->lay.node_r0 ||
                         b > d->lay.node_r1), any, err = 0;
    uint64_t mine[3] = {a, b, (uint64_t)need}, *want = NULL;

    MPI_Allreduce(&need, &any, 1, MPI_INT, MPI_MAX, d->nl.comm);
    if (any) {
        err = fits_messages(d);
        want = malloc(3 * (size_t)d->nl.size * sizeof *want);
        if ((need && !(*buf = malloc((b - a) * d->row_bytes))) ||
            (!want && err == 0))
            err = sharr__fail(SHARR_ENOMEM, "out of memory for %zu rows of "
                              "'%s'", b - a, d->name);
        if ((err = sharr_mpi_agree(d->nl.comm, err)) == 0) {
            MPI_Allgather(mine, 3, MPI_UINT64_T, want, 3, MPI_UINT64_T,
                          d->nl.comm);
            exchange(d, want, a, b, *buf);
        }
        free(want);
    }
    if (err == 0 && b > a)
        *at = need ? (void *)*buf
                   : d->base + (a - d->lay.node_r0) * d->row_bytes;
    return err;
}

/* The whole of input i, replicated once per node (kept for later
 * programs). */
static int whole_of(struct deval *s, size_t i, void **at)
{
    sharr_dist *d = s->in[i];
    int err = 0;

    if (!s->whole[i]) {
        if ((err = fits_messages(d)) == 0)
            err = sharr__dist_replicate(d, &s->win[i], &s->whole[i]);
        if ((err = sharr_mpi_agree(s->comm, err)) < 0)
            return err;
    }
    *at = (void *)s->whole[i];
    return 0;
}

/* ---- programs ---- */

/* Rows [*a, *b) of program k's result this rank computes: OUT's own rows
 * for the main program, the partition of its rows for a reduction. */
static void rows_of_prog(const struct deval *s, int k, size_t *a, size_t *b)
{
    const struct ex_prog *p = &s->pl->prog[k];

    if (k == 0) {
        *a = s->out->lay.r0;
        *b = s->out->lay.r1;
        return;
    }
    sharr__part_rows(&s->out->nl, p->shape[0], s->out->nl.pos[s->out->nl.rank],
                     a, b);
}

/* Whether an operand of ndim dims and `rows` rows varies along program
 * p's first axis (else it is broadcast there: stride 0). */
static bool by_rows(const struct ex_prog *p, size_t ndim, size_t rows)
{
    return p->ndim > 0 && ndim == p->ndim && rows == p->shape[0];
}

/* Point data[] at program k's inputs for rows [a, b).  Collective: every
 * rank takes the same path for each slot. */
static int bind_inputs(struct deval *s, int k, size_t a, size_t b,
                       void **data, unsigned char **bufs)
{
    const struct ex_prog *p = &s->pl->prog[k];
    const struct ex_slots *src = &s->pl->src[k];
    int err = 0;

    for (size_t i = 0; i < src->n && err == 0; i++) {
        int from = src->src[i];
        if (from < 0) { /* a reduction's result: every rank has it all */
            int t = -1 - from;
            data[i] = s->temp[t];
            if (by_rows(p, 1, s->pl->temp_rows[t]))
                data[i] = s->temp[t] + a * sharr__ex_size(s->pl->temp_dt[t]);
        } else if (by_rows(p, s->in[from]->ndim, s->in[from]->rows)) {
            err = rows_of(s->in[from], a, b, &data[i], &bufs[i]);
        } else {
            err = whole_of(s, (size_t)from, &data[i]);
        }
    }
    return err;
}

/* Every rank gets the whole of reduction k, in row order. */
static int gather_temp(struct deval *s, int k)
{
    size_t rows = s->pl->temp_rows[k], tsz = sharr__ex_size(s->pl->temp_dt[k]);
    int n = s->out->nl.size, *c = malloc(2 * (size_t)n * sizeof *c), err = 0;

    if (!c)
        err = sharr__fail(SHARR_ENOMEM, "out of memory");
    if ((err = sharr_mpi_agree(s->comm, err)) == 0) {
        for (int r = 0; r < n; r++) {
            size_t a, b;
            sharr__part_rows(&s->out->nl, rows, s->out->nl.pos[r], &a, &b);
            c[r] = (int)((b - a) * tsz);
            c[n + r] = (int)(a * tsz);
        }
        MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_BYTE, s->temp[k], c, c + n,
                       MPI_BYTE, s->comm);
    }
    free(c);
    return err;
}

static int run_prog(struct deval *s, int k)
{
    const struct ex_prog *p = &s->pl->prog[k];
    void *data[SHARR_JOB_MAX_ARRAYS] = {0}, *dst = NULL;
    unsigned char *bufs[SHARR_JOB_MAX_ARRAYS] = {0};
    size_t a, b;
    int err;

    rows_of_prog(s, k, &a, &b);
    if ((err = bind_inputs(s, k, a, b, data, bufs)) == 0) {
        if (k > 0)
            dst = s->temp[k] + a * sharr__ex_size(s->pl->temp_dt[k]);
        else if (b > a)
            dst = s->out->base + (a - s->out->lay.node_r0) * s->out->row_bytes;
        err = sharr__expr_rows(p, a, b, k > 0 ? s->pl->temp_dt[k] : 0, data,
                               dst, &s->zero_div);
        err = sharr_mpi_agree(s->comm, err);
    }
    for (size_t i = 0; i < SHARR_JOB_MAX_ARRAYS; i++)
        free(bufs[i]);
    if (err == 0 && k > 0)
        err = gather_temp(s, k);
    return err;
}

/* The reductions (the deepest first), then the main program. */
static int run_all(struct deval *s)
{
    int err = 0;

    for (int k = 1; k < s->pl->nprog && err == 0; k++) {
        size_t bytes = s->pl->temp_rows[k] * sharr__ex_size(s->pl->temp_dt[k]);
        if (bytes > INT_MAX)
            err = sharr__fail(SHARR_EINVAL, "a per-row reduction of %zu rows "
                              "is too large for sharr-mpi's messages",
                              s->pl->temp_rows[k]);
        else if (!(s->temp[k] = malloc(bytes)))
            err = sharr__fail(SHARR_ENOMEM, "out of memory for a per-row "
                              "reduction of %zu rows", s->pl->temp_rows[k]);
    }
    if ((err = sharr_mpi_agree(s->comm, err)) < 0)
        return err;
    for (int k = s->pl->nprog - 1; k >= 1 && err == 0; k--)
        err = run_prog(s, k);
    if (err == 0)
        err = run_prog(s, 0);
    if (err == 0)
        MPI_Allreduce(MPI_IN_PLACE, &s->zero_div, 1, MPI_UINT64_T, MPI_SUM,
                      s->comm);
    return err;
}

/* ---- the statement ---- */

/* 0 if this rank passed rank 0's statement (NULL fails everywhere). */
static int same_statement(MPI_Comm comm, const char *st)
{
    long len = st ? (long)strlen(st) : -1, root = len;
    int rank;
    bool differs;
    char *buf = NULL;

    MPI_Comm_rank(comm, &rank);
    MPI_Bcast(&root, 1, MPI_LONG, 0, comm);
    if (root < 0)
        return sharr__fail(SHARR_EINVAL, "statement is NULL");
    if (root >= INT_MAX)
        return sharr__fail(SHARR_EINVAL, "a statement of %ld bytes is too "
                           "long", root);
    /* Every rank joins the broadcast of the bytes, whatever its length. */
    if (!(buf = malloc((size_t)root + 1)))
        MPI_Abort(comm, 1); /* no way to agree without them */
    if (rank == 0)
        memcpy(buf, st, (size_t)root);
    MPI_Bcast(buf, (int)root, MPI_CHAR, 0, comm);
    differs = len != root || memcmp(buf, st, (size_t)root) != 0;
    free(buf);
    if (differs)
        return sharr__fail(SHARR_EINVAL, "rank %d passed another statement "
                           "than rank 0", rank);
    return 0;
}

static int open_inputs(struct deval *s, const char *out_name)
{
    size_t n = s->e->nnames;
    int err = 0;

    s->in = calloc(n + 1, sizeof *s->in);
    s->win = malloc((n + 1) * sizeof *s->win);
    s->whole = calloc(n + 1, sizeof *s->whole);
    if (!s->in || !s->win || !s->whole)
        err = sharr__fail(SHARR_ENOMEM, "out of memory");
    for (size_t i = 0; s->win && i < n; i++)
        s->win[i] = MPI_WIN_NULL;
    if ((err = sharr_mpi_agree(s->comm, err)) < 0)
        return err;
    for (size_t i = 0; i < n; i++) {
        if ((err = sharr_dist_open(s->comm, s->e->names[i], &s->in[i])) < 0)
            return err == SHARR_ENOENT
                       ? sharr__fail(err, "unknown name '%s': no such array",
                                     s->e->names[i])
                       : err;
        if (strcmp(s->e->names[i], out_name) == 0)
            s->out_input = (int)i;
    }
    return 0;
}

static int plan(struct deval *s, const sharr_dist_eval_opts *o)
{
    struct ex_binding *b = calloc(s->e->nnames + 1, sizeof *b);
    int err = 0, dt = o ? (int)o->dtype : 0;

    if (dt && !sharr_dtype_size((sharr_dtype)dt))
        err = sharr__fail(SHARR_EINVAL, "invalid output dtype %d", dt);
    if (err == 0 && (!b || !(s->pl = malloc(sizeof *s->pl))))
        err = sharr__fail(SHARR_ENOMEM, "out of memory");
    for (size_t i = 0; err == 0 && i < s->e->nnames; i++) {
        b[i].dtype = (int)s->in[i]->dtype;
        b[i].ndim = s->in[i]->ndim;
        memcpy(b[i].shape, s->in[i]->shape, sizeof b[i].shape);
    }
    if (err == 0)
        err = sharr__expr_plan(s->e, b, dt, s->pl);
    free(b);
    return sharr_mpi_agree(s->comm, err);
}

/* OUT as it stands: written in place when it takes the result, else
 * refused or (force) replaced once the new one is complete. */
static int check_out(struct deval *s, const char *name, bool force,
                     bool *existing)
{
    sharr_dist *o = s->out_input >= 0 ? s->in[s->out_input] : NULL;
    int err = 0;

    *existing = false;
    if (!o && (err = sharr_dist_open(s->comm, name, &o)) == SHARR_ENOENT)
        return 0;
    if (err < 0)
        return err;
    if ((err = sharr__eval_mismatch(name, o->dtype, o->ndim, o->shape,
                                    s->pl)) == 0 || !force) {
        s->out = o; /* closed at the end unless it is an input */
        *existing = err == 0;
        return err;
    }
    if (s->out_input < 0)
        sharr_dist_close(o);
    s->replace = true;
    return 0;
}

/* A new OUT under a staging name (rank 0's pid and clock), zero-filled. */
static int stage(struct deval *s, const char *name)
{
    static unsigned serial;
    char stage_name[SHARR_NAME_MAX + 1];
    struct timespec ts;
    int rank, err;

    MPI_Comm_rank(s->comm, &rank);
    if (rank == 0) {
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(stage_name, sizeof stage_name, "sharr-eval.%d.%u.%lx.%.150s",
                 (int)getpid(), serial++, (unsigned long)ts.tv_nsec, name);
    }
    MPI_Bcast(stage_name, (int)sizeof stage_name, MPI_CHAR, 0, s->comm);
    if ((err = sharr_dist_create(s->comm, stage_name,
                                 (sharr_dtype)s->pl->out_dt, s->pl->ndim,
                                 s->pl->shape, &s->out)) == 0)
        s->staged = true;
    return err;
}

/* Name the staged OUT `name` on every node (first removing an old OUT
 * that force replaces). */
static int publish(struct deval *s, const char *name)
{
    int err = 0;

    if (s->replace && (err = sharr_dist_unlink(s->comm, name)) == SHARR_ENOENT)
        err = 0;
    if (err == 0 && (err = sharr__dist_publish(s->out, name)) == 0)
        s->staged = false;
    return err;
}

static void end(struct deval *s, int err)
{
    size_t n = s->e ? s->e->nnames : 0;

    for (size_t i = 0; s->win && i < n; i++)
        if (s->win[i] != MPI_WIN_NULL)
            MPI_Win_free(&s->win[i]);
    for (int k = 0; k < EX_MAX_PROGS; k++)
        free(s->temp[k]);
    if (s->staged && err < 0)
        sharr__dist_unmake(s->out);
    if (s->out && (s->out_input < 0 || s->out != s->in[s->out_input]))
        sharr_dist_close(s->out);
    for (size_t i = 0; s->in && i < n; i++)
        sharr_dist_close(s->in[i]);
    free(s->in);
    free(s->win);
    free(s->whole);
    free(s->pl);
    sharr_expr_free(s->e);
}

static void fill_result(const struct deval *s, const char *name,
                        bool existing, sharr_eval_result *res)
{
    snprintf(res->out, sizeof res->out, "%s", name);
    res->created = !existing;
    res->dtype = (sharr_dtype)s->pl->out_dt;
    res->ndim = s->pl->ndim;
    memcpy(res->shape, s->pl->shape, sizeof res->shape);
    res->zero_divisions = s->zero_div;
}

int sharr_dist_eval(MPI_Comm comm, const char *statement,
                    const sharr_dist_eval_opts *o, sharr_eval_result *res)
{
    struct deval s = {0};
    char name[SHARR_NAME_MAX + 1];
    const char *text = NULL;
    bool existing = false;
    int err;

    s.comm = comm;
    s.out_input = -1;
    if (res)
        memset(res, 0, sizeof *res);
    if ((err = same_statement(comm, statement)) == 0 &&
        (err = sharr__eval_split(statement, name, sizeof name, &text)) == 0)
        err = sharr_expr_compile(text, &s.e);
    if ((err = sharr_mpi_agree(comm, err)) < 0 ||
        (err = open_inputs(&s, name)) < 0 || (err = plan(&s, o)) < 0 ||
        (err = check_out(&s, name, o && o->force, &existing)) < 0)
        goto done;
    if ((!existing && (err = stage(&s, name)) < 0) ||
        (err = run_all(&s)) < 0 ||
        (!existing && (err = publish(&s, name)) < 0))
        goto done;
    if (res)
        fill_result(&s, name, existing, res);
done:
    end(&s, err);
    return err;
}
