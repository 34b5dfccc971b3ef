/*
 * dist.c - distributed arrays: the nodes of a communicator, the row
 * partition, and collective create/open/unlink of the per-node slabs and
 * their descriptors (see sharr_mpi.h for the model).
 *
 * Invariants: every collective function ends with sharr_mpi_agree(), so
 * all ranks return the same code; only a node's rank 0 creates or removes
 * its slab and descriptor, and the descriptor is made after the slab (a
 * descriptor means a complete node).  Nothing here forks: slabs are never
 * temporary arrays (whose guardian is a forked process).
 */
#define _GNU_SOURCE
#include "dist.h"
#include "ops/ops_rows.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_MAGIC 0x49504d5252414853ull /* "SHARRMPI" little-endian */
#define META_VERSION 1
#define META_FIXED 24   /* u64 fields before the ranks of each node */
#define DIST_NAME_MAX (SHARR_NAME_MAX - 16)
#define NAME_BUF (SHARR_NAME_MAX + 32) /* a name, '.', a node, ".meta" */

enum { M_MAGIC, M_VERSION, M_DTYPE, M_NDIM, M_SHAPE, M_NODE = M_SHAPE + 8,
       M_NODES, M_R0, M_R1, M_UNIT, M_RANKS, M_ID0, M_ID1 };

int sharr_mpi_agree(MPI_Comm comm, int err)
{
    struct { int code; char msg[1536]; } m;
    int rank, mine, first;

    MPI_Comm_rank(comm, &rank);
    mine = err < 0 ? rank : INT_MAX;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    if (first == INT_MAX)
        return 0;
    memset(&m, 0, sizeof m);
    if (rank == first) {
        m.code = err;
        snprintf(m.msg, sizeof m.msg, "%s", sharr_errmsg());
    }
    MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, first, comm);
    if (rank == first)
        return err;
    return sharr__fail(m.code, "rank %d: %s", first, m.msg);
}

/* ---- nodes ---- */

void sharr__nodes_free(struct sharr__nodes *nl)
{
    if (nl->node_comm != MPI_COMM_NULL && nl->node_comm != 0)
        MPI_Comm_free(&nl->node_comm);
    if (nl->comm != MPI_COMM_NULL && nl->comm != 0)
        MPI_Comm_free(&nl->comm);
    free(nl->node_of);
    free(nl->order);
    free(nl->pos);
    free(nl->node_ranks);
    free(nl->node_first);
    memset(nl, 0, sizeof *nl);
    nl->comm = nl->node_comm = MPI_COMM_NULL;
}

/* SHARR_MPI_RANKS_PER_NODE: 0 when unset, -1 when not a count. */
static int ranks_per_node(void)
{
    const char *s = getenv("SHARR_MPI_RANKS_PER_NODE");
    char *end;
    long v;

    if (!s || !*s)
        return 0;
    v = strtol(s, &end, 10);
    return (*end || v < 1 || v > 1000000) ? -1 : (int)v;
}

static int by_node_then_rank(const void *a, const void *b, void *ctx)
{
    const int *key = ctx; /* key[2 * r] node, key[2 * r + 1] node rank */
    int x = *(const int *)a, y = *(const int *)b;

    if (key[2 * x] != key[2 * y])
        return key[2 * x] < key[2 * y] ? -1 : 1;
    return key[2 * x + 1] < key[2 * y + 1] ? -1 : key[2 * x + 1] > key[2 * y + 1];
}

/* Number the nodes by their lowest rank; order the ranks node by node. */
static int number_nodes(struct sharr__nodes *nl, const int *leader,
                        const int *nrank)
{
    int *key = malloc(2 * (size_t)nl->size * sizeof *key);

    if (!key)
        return sharr__fail(SHARR_ENOMEM, "out of memory for %d ranks",
                           nl->size);
    nl->nodes = 0;
    for (int r = 0; r < nl->size; r++) {
        if (leader[r] == r)
            nl->node_of[r] = nl->nodes++; /* leaders come in rank order */
    }
    for (int r = 0; r < nl->size; r++) {
        nl->node_of[r] = nl->node_of[leader[r]];
        key[2 * r] = nl->node_of[r];
        key[2 * r + 1] = nrank[r];
        nl->order[r] = r;
    }
    qsort_r(nl->order, (size_t)nl->size, sizeof *nl->order,
            by_node_then_rank, key);
    free(key);
    nl->node_ranks = calloc((size_t)nl->nodes, sizeof *nl->node_ranks);
    nl->node_first = calloc((size_t)nl->nodes, sizeof *nl->node_first);
    if (!nl->node_ranks || !nl->node_first)
        return sharr__fail(SHARR_ENOMEM, "out of memory for %d nodes",
                           nl->nodes);
    for (int j = nl->size - 1; j >= 0; j--) {
        int r = nl->order[j];
        nl->pos[r] = j;
        nl->node_ranks[nl->node_of[r]]++;
        nl->node_first[nl->node_of[r]] = j;
    }
    nl->node = nl->node_of[nl->rank];
    return 0;
}

int sharr__nodes_make(MPI_Comm comm, struct sharr__nodes *nl)
{
    MPI_Comm shared = MPI_COMM_NULL;
    int k = ranks_per_node(), srank, me[2], *both = NULL, *leader = NULL,
        *nrank = NULL, err = 0;

    memset(nl, 0, sizeof *nl);
    nl->comm = nl->node_comm = MPI_COMM_NULL;
    MPI_Comm_dup(comm, &nl->comm);
    MPI_Comm_rank(nl->comm, &nl->rank);
    MPI_Comm_size(nl->comm, &nl->size);
    MPI_Comm_split_type(nl->comm, MPI_COMM_TYPE_SHARED, nl->rank,
                        MPI_INFO_NULL, &shared);
    MPI_Comm_rank(shared, &srank);
    /* Every rank splits (a collective), each with its own color: a bad
     * value is reported after, by the agreement. */
    MPI_Comm_split(shared, k > 0 ? srank / k : 0, srank, &nl->node_comm);
    MPI_Comm_free(&shared);
    MPI_Comm_rank(nl->node_comm, &nl->node_rank);
    MPI_Comm_size(nl->node_comm, &nl->node_size);
    if (k < 0)
        err = sharr__fail(SHARR_EINVAL, "SHARR_MPI_RANKS_PER_NODE='%s': "
                          "must be a whole number >= 1",
                          getenv("SHARR_MPI_RANKS_PER_NODE"));
    me[0] = nl->rank;
    MPI_Bcast(&me[0], 1, MPI_INT, 0, nl->node_comm); /* the node's leader */
    me[1] = nl->node_rank;
    both = malloc(2 * (size_t)nl->size * sizeof *both);
    leader = malloc((size_t)nl->size * sizeof *leader);
    nrank = malloc((size_t)nl->size * sizeof *nrank);
    nl->node_of = malloc((size_t)nl->size * sizeof *nl->node_of);
    nl->order = malloc((size_t)nl->size * sizeof *nl->order);
    nl->pos = malloc((size_t)nl->size * sizeof *nl->pos);
    if (!both || !leader || !nrank || !nl->node_of || !nl->order || !nl->pos)
        err = sharr__fail(SHARR_ENOMEM, "out of memory for %d ranks",
                          nl->size);
    if ((err = sharr_mpi_agree(nl->comm, err)) < 0)
        goto out;
    MPI_Allgather(me, 2, MPI_INT, both, 2, MPI_INT, nl->comm);
    for (int r = 0; r < nl->size; r++) {
        leader[r] = both[2 * r];
        nrank[r] = both[2 * r + 1];
    }
    err = sharr_mpi_agree(nl->comm, number_nodes(nl, leader, nrank));
out:
    free(both);
    free(leader);
    free(nrank);
    return err;
}

/* ---- the partition ---- */

void sharr__part_rows(const struct sharr__nodes *nl, size_t rows, int j,
                      size_t *r0, size_t *r1)
{
    size_t unit = sharr__gemm_block_rows(rows);
    unsigned __int128 nu = (rows + unit - 1) / unit, p = (unsigned)nl->size;
    /* Rounded up: with fewer units than ranks, the first ranks get one
     * each (rank 0, which prints, always has rows). */
    size_t a = (size_t)((nu * (unsigned)j + p - 1) / p),
           b = (size_t)((nu * (unsigned)(j + 1) + p - 1) / p);

    *r0 = a * unit < rows ? a * unit : rows;
    *r1 = b * unit < rows ? b * unit : rows;
}

void sharr__dist_rank_rows(const sharr_dist *d, int j, size_t *r0,
                           size_t *r1)
{
    sharr__part_rows(&d->nl, d->rows, j, r0, r1);
}

void sharr__dist_node_rows(const sharr_dist *d, int node, size_t *r0,
                           size_t *r1)
{
    size_t x, y;
    int first = d->nl.node_first[node];

    sharr__dist_rank_rows(d, first, r0, &x);
    sharr__dist_rank_rows(d, first + d->nl.node_ranks[node] - 1, &y, r1);
}

int sharr__dist_owner(const sharr_dist *d, size_t r)
{
    for (int j = 0; j < d->nl.size; j++) {
        size_t a, b;
        sharr__dist_rank_rows(d, j, &a, &b);
        if (r >= a && r < b)
            return d->nl.order[j];
    }
    return -1;
}

void sharr__dist_io_rows(const sharr_dist *d, size_t chunk, size_t *a,
                         size_t *b)
{
    size_t n0 = d->lay.node_r0, n1 = d->lay.node_r1, lo, nu, q, nq;

    if (chunk == 0) {
        *a = d->lay.r0;
        *b = d->lay.r1;
        return;
    }
    lo = n0 / chunk;
    nu = n1 > n0 ? (n1 + chunk - 1) / chunk - lo : 0;
    q = (size_t)d->lay.node_rank;
    nq = (size_t)d->lay.node_ranks;
    *a = (lo + nu * q / nq) * chunk;
    *b = (lo + nu * (q + 1) / nq) * chunk;
    *a = *a < n0 ? n0 : (*a > n1 ? n1 : *a);
    *b = *b < n0 ? n0 : (*b > n1 ? n1 : *b);
}

/* Set dtype and shape, and the layout of this rank from them. */
static void set_shape(sharr_dist *d, sharr_dtype dt, size_t ndim,
                      const size_t *shape)
{
    d->dtype = dt;
    d->ndim = ndim;
    memset(d->shape, 0, sizeof d->shape);
    memcpy(d->shape, shape, ndim * sizeof *shape);
    d->rows = ndim ? shape[0] : 1;
    d->row_bytes = sharr_dtype_size(dt);
    for (size_t i = 1; i < ndim; i++)
        d->row_bytes *= shape[i];
    d->lay.rank = d->nl.rank;
    d->lay.ranks = d->nl.size;
    d->lay.node = d->nl.node;
    d->lay.nodes = d->nl.nodes;
    d->lay.node_rank = d->nl.node_rank;
    d->lay.node_ranks = d->nl.node_size;
    d->lay.unit = sharr__gemm_block_rows(d->rows);
    sharr__dist_node_rows(d, d->nl.node, &d->lay.node_r0, &d->lay.node_r1);
    sharr__dist_rank_rows(d, d->nl.pos[d->nl.rank], &d->lay.r0, &d->lay.r1);
}

/* ---- handles ---- */

void sharr_dist_close(sharr_dist *d)
{
    if (!d)
        return;
    sharr_array_close(d->slab);
    sharr__nodes_free(&d->nl);
    free(d);
}

sharr_array *sharr_dist_local(const sharr_dist *d) { return d->slab; }
const sharr_dist_layout *sharr_dist_layout_get(const sharr_dist *d)
{
    return &d->lay;
}
sharr_dtype sharr_dist_dtype(const sharr_dist *d) { return d->dtype; }
size_t sharr_dist_ndim(const sharr_dist *d) { return d->ndim; }
const size_t *sharr_dist_shape(const sharr_dist *d) { return d->shape; }
const char *sharr_dist_name(const sharr_dist *d) { return d->name; }

static void slab_name(const char *name, int node, int meta, char *buf,
                      size_t size)
{
    snprintf(buf, size, "%s.%d%s", name, node, meta ? ".meta" : "");
}

static int check_name(const char *name)
{
    int err;

    if ((err = sharr_name_check(name)) < 0)
        return err;
    if (strlen(name) > DIST_NAME_MAX)
        return sharr__fail(SHARR_EINVAL, "a distributed array's name has "
                           "at most %d characters (its slabs add a node "
                           "number): '%s' has %zu", DIST_NAME_MAX, name,
                           strlen(name));
    return 0;
}

static int check_shape(sharr_dtype dt, size_t ndim, const size_t *shape)
{
    size_t n = sharr_dtype_size(dt);

    if (n == 0)
        return sharr__fail(SHARR_EINVAL, "invalid dtype %d", (int)dt);
    if (ndim > SHARR_MAX_NDIM)
        return sharr__fail(SHARR_EINVAL, "ndim %zu: at most %d", ndim,
                           SHARR_MAX_NDIM);
    for (size_t i = 0; i < ndim; i++) {
        if (shape[i] == 0)
            return sharr__fail(SHARR_EINVAL, "shape[%zu] = 0: every "
                               "dimension must be >= 1", i);
        if (n > SIZE_MAX / shape[i])
            return sharr__fail(SHARR_EOVERFLOW, "the array's byte size "
                               "overflows");
        n *= shape[i];
    }
    return 0;
}

/* Whether this rank's dtype and shape differ from rank 0's (collective
 * over d->nl.comm). */
static bool differs_from_rank0(const sharr_dist *d)
{
    uint64_t mine[2 + SHARR_MAX_NDIM] = {0}, root[2 + SHARR_MAX_NDIM];

    mine[0] = (uint64_t)d->dtype;
    mine[1] = d->ndim;
    for (size_t i = 0; i < d->ndim; i++)
        mine[2 + i] = d->shape[i];
    memcpy(root, mine, sizeof root);
    MPI_Bcast(root, 2 + SHARR_MAX_NDIM, MPI_UINT64_T, 0, d->nl.comm);
    return memcmp(root, mine, sizeof root) != 0;
}

/* 0 if every rank passed rank 0's dtype and shape. */
static int same_args(sharr_dist *d)
{
    if (differs_from_rank0(d))
        return sharr__fail(SHARR_EINVAL, "rank %d passed another dtype or "
                           "shape than rank 0 for '%s'", d->nl.rank, d->name);
    return 0;
}

static void fill_meta(const sharr_dist *d, uint64_t *m)
{
    unsigned char id[16] = {0};

    memset(m, 0, (META_FIXED + (size_t)d->nl.nodes) * sizeof *m);
    m[M_MAGIC] = META_MAGIC;
    m[M_VERSION] = META_VERSION;
    m[M_DTYPE] = (uint64_t)d->dtype;
    m[M_NDIM] = d->ndim;
    for (size_t i = 0; i < d->ndim; i++)
        m[M_SHAPE + i] = d->shape[i];
    m[M_NODE] = (uint64_t)d->nl.node;
    m[M_NODES] = (uint64_t)d->nl.nodes;
    m[M_R0] = d->lay.node_r0;
    m[M_R1] = d->lay.node_r1;
    m[M_UNIT] = d->lay.unit;
    m[M_RANKS] = (uint64_t)d->nl.size;
    if (d->slab)
        sharr_array_id(d->slab, id);
    memcpy(&m[M_ID0], id, 16);
    for (int i = 0; i < d->nl.nodes; i++)
        m[META_FIXED + i] = (uint64_t)d->nl.node_ranks[i];
}

/* The slab's shape: the node's rows, then the global trailing dims. */
static void slab_shape(const sharr_dist *d, size_t *shape)
{
    memcpy(shape, d->shape, sizeof d->shape);
    if (d->ndim)
        shape[0] = d->lay.node_r1 - d->lay.node_r0;
}

/* Node rank 0: create the slab (if the node has rows), then the
 * descriptor.  On failure nothing of this node is left. */
static int make_node(sharr_dist *d)
{
    char sname[NAME_BUF], mname[NAME_BUF];
    size_t shape[SHARR_MAX_NDIM], mlen = META_FIXED + (size_t)d->nl.nodes;
    sharr_array *meta = NULL;
    int err;

    slab_name(d->name, d->nl.node, 0, sname, sizeof sname);
    slab_name(d->name, d->nl.node, 1, mname, sizeof mname);
    slab_shape(d, shape);
    if (d->lay.node_r1 > d->lay.node_r0 &&
        (err = sharr_array_create(sname, d->dtype, d->ndim, shape, NULL,
                                  &d->slab)) < 0)
        return err;
    if ((err = sharr_array_create(mname, SHARR_U64, 1, &mlen, NULL,
                                  &meta)) < 0)
        goto fail;
    fill_meta(d, sharr_array_data(meta));
    sharr_array_close(meta);
    return 0;
fail:
    if (d->slab) {
        sharr_array_close(d->slab);
        d->slab = NULL;
        sharr_unlink(sname);
    }
    return err;
}

static void unmake_node(sharr_dist *d)
{
    char buf[NAME_BUF];

    slab_name(d->name, d->nl.node, 1, buf, sizeof buf);
    sharr_unlink(buf);
    if (d->slab) {
        slab_name(d->name, d->nl.node, 0, buf, sizeof buf);
        sharr_unlink(buf);
    }
}

/* Other ranks of the node: open the slab their rank 0 made or checked. */
static int open_slab(sharr_dist *d)
{
    char sname[NAME_BUF];
    int err;

    if (d->lay.node_r1 == d->lay.node_r0)
        return 0;
    if (!d->slab) {
        slab_name(d->name, d->nl.node, 0, sname, sizeof sname);
        if ((err = sharr_array_open(sname, 0, &d->slab)) < 0)
            return err;
    }
    d->base = sharr_array_data(d->slab);
    return 0;
}

int sharr_dist_create(MPI_Comm comm, const char *name, sharr_dtype dtype,
                      size_t ndim, const size_t *shape, sharr_dist **out)
{
    sharr_dist *d = calloc(1, sizeof *d);
    int err, made = 0;

    *out = NULL;
    if (!d)
        return sharr_mpi_agree(comm, sharr__fail(SHARR_ENOMEM, "out of "
                                                 "memory"));
    if ((err = sharr__nodes_make(comm, &d->nl)) < 0)
        goto fail;
    err = check_name(name);
    if (err == 0 && (err = check_shape(dtype, ndim, shape)) == 0) {
        snprintf(d->name, sizeof d->name, "%s", name);
        set_shape(d, dtype, ndim, shape);
    }
    if ((err = sharr_mpi_agree(d->nl.comm, err)) < 0 ||
        (err = sharr_mpi_agree(d->nl.comm, same_args(d))) < 0)
        goto fail;
    if (d->nl.node_rank == 0) {
        err = make_node(d);
        made = err == 0;
    }
    if ((err = sharr_mpi_agree(d->nl.comm, err)) < 0 ||
        (err = sharr_mpi_agree(d->nl.comm, open_slab(d))) < 0)
        goto fail;
    *out = d;
    return 0;
fail:
    if (made)
        unmake_node(d);
    sharr_dist_close(d);
    return err;
}

/* ---- staged arrays: publish or remove ---- */

int sharr__dist_publish(sharr_dist *d, const char *name)
{
    char from[2][NAME_BUF], to[2][NAME_BUF];
    int err = check_name(name), moved = 0;

    for (int meta = 0; meta < 2; meta++) {
        slab_name(d->name, d->nl.node, meta, from[meta], sizeof from[meta]);
        slab_name(name, d->nl.node, meta, to[meta], sizeof to[meta]);
    }
    if ((err = sharr_mpi_agree(d->nl.comm, err)) < 0)
        return err;
    /* The slabs first, the descriptors after: a descriptor under `name`
     * means every node's slab is there. */
    for (int meta = 0; meta < 2 && err == 0; meta++) {
        if (d->nl.node_rank == 0 && (meta || d->slab) &&
            (err = sharr__rename(from[meta], to[meta])) == 0)
            moved |= 1 << meta;
        err = sharr_mpi_agree(d->nl.comm, err);
    }
    for (int meta = 1; err < 0 && meta >= 0; meta--)
        if (moved & (1 << meta))
            sharr__rename(to[meta], from[meta]); /* ours: best effort */
    if (err == 0)
        snprintf(d->name, sizeof d->name, "%s", name);
    return err;
}

void sharr__dist_unmake(sharr_dist *d)
{
    if (d && d->nl.node_rank == 0)
        unmake_node(d);
}

/* ---- open ---- */

static void ranks_text(const uint64_t *ranks, size_t nodes, char *buf,
                       size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < nodes && len + 24 < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%llu",
                                i ? "+" : "", (unsigned long long)ranks[i]);
    if (nodes > 0 && len + 24 >= size)
        snprintf(buf + len, size - len, "...");
}

/* The layout a descriptor records against this launch's. */
static int check_layout(const sharr_dist *d, const uint64_t *m, size_t len)
{
    uint64_t here[1024] = {0};
    char was[256], now[256];
    size_t nodes = (size_t)m[M_NODES], n = (size_t)d->nl.nodes;
    bool same = nodes == n && m[M_RANKS] == (uint64_t)d->nl.size;

    for (size_t i = 0; i < n && i < 1024; i++)
        here[i] = (uint64_t)d->nl.node_ranks[i];
    if (nodes > len - META_FIXED)
        return sharr__fail(SHARR_ECORRUPT, "descriptor '%s.%d.meta' names "
                           "%zu nodes but holds %zu", d->name, d->nl.node,
                           nodes, len - META_FIXED);
    for (size_t i = 0; same && i < n; i++)
        same = m[META_FIXED + i] == here[i];
    if (same)
        return 0;
    ranks_text(m + META_FIXED, nodes, was, sizeof was);
    ranks_text(here, n < 1024 ? n : 1024, now, sizeof now);
    return sharr__fail(SHARR_EINVAL, "array '%s' was laid out over %zu "
                       "node%s of %s ranks (%llu in all); this launch has "
                       "%zu node%s of %s ranks (%d in all): run it with the "
                       "same layout (mpirun -np, SHARR_MPI_RANKS_PER_NODE), "
                       "or save it and load it again", d->name, nodes,
                       nodes == 1 ? "" : "s", was,
                       (unsigned long long)m[M_RANKS], n, n == 1 ? "" : "s",
                       now, d->nl.size);
}

/* Node rank 0: read and check the descriptor into m (META_FIXED + nodes
 * u64), then open and check the slab. */
static int read_node(sharr_dist *d, uint64_t *m)
{
    char mname[NAME_BUF], sname[NAME_BUF];
    size_t want = META_FIXED + (size_t)d->nl.nodes, len, shape[8], ndim;
    sharr_array *meta = NULL;
    unsigned char id[16];
    int err;

    slab_name(d->name, d->nl.node, 1, mname, sizeof mname);
    slab_name(d->name, d->nl.node, 0, sname, sizeof sname);
    if ((err = sharr_array_open(mname, SHARR_OPEN_RDONLY, &meta)) < 0) {
        if (err == SHARR_ENOENT)
            return sharr__fail(err, "no array '%s' on node %d of %d (no "
                               "descriptor '%s'), or it was made by a launch "
                               "with another layout", d->name, d->nl.node,
                               d->nl.nodes, mname);
        return err;
    }
    len = sharr_array_size(meta);
    if (sharr_array_dtype(meta) != SHARR_U64 || len < META_FIXED ||
        ((const uint64_t *)sharr_array_data(meta))[M_MAGIC] != META_MAGIC ||
        ((const uint64_t *)sharr_array_data(meta))[M_VERSION] !=
            META_VERSION) {
        err = sharr__fail(SHARR_ECORRUPT, "'%s' is not a sharr-mpi "
                          "descriptor", mname);
        goto out;
    }
    if ((err = check_layout(d, sharr_array_data(meta), len)) < 0)
        goto out;
    memset(m, 0, want * sizeof *m);
    memcpy(m, sharr_array_data(meta), (len < want ? len : want) * sizeof *m);
    ndim = (size_t)m[M_NDIM];
    for (size_t i = 0; i < ndim && i < 8; i++)
        shape[i] = (size_t)m[M_SHAPE + i];
    if (m[M_NODE] != (uint64_t)d->nl.node ||
        (err = check_shape((sharr_dtype)m[M_DTYPE], ndim, shape)) < 0) {
        err = sharr__fail(SHARR_ECORRUPT, "descriptor '%s' does not "
                          "describe node %d of a valid array", mname,
                          d->nl.node);
        goto out;
    }
    set_shape(d, (sharr_dtype)m[M_DTYPE], ndim, shape);
    if (m[M_R0] != d->lay.node_r0 || m[M_R1] != d->lay.node_r1) {
        err = sharr__fail(SHARR_ECORRUPT, "descriptor '%s' says rows "
                          "%llu..%llu, the partition %zu..%zu", mname,
                          (unsigned long long)m[M_R0],
                          (unsigned long long)m[M_R1], d->lay.node_r0,
                          d->lay.node_r1);
        goto out;
    }
    if (d->lay.node_r1 > d->lay.node_r0) {
        if ((err = sharr_array_open(sname, 0, &d->slab)) < 0)
            goto out;
        sharr_array_id(d->slab, id);
        slab_shape(d, shape);
        if (memcmp(id, &m[M_ID0], 16) != 0 ||
            sharr_array_dtype(d->slab) != d->dtype ||
            sharr_array_ndim(d->slab) != d->ndim ||
            memcmp(sharr_array_shape(d->slab), shape,
                   d->ndim * sizeof *shape) != 0)
            err = sharr__fail(SHARR_ECORRUPT, "slab '%s' is not the one "
                              "its descriptor '%s' describes", sname, mname);
    }
out:
    sharr_array_close(meta);
    return err;
}

/* Every node's descriptor says node 0's dtype and shape. */
static int same_as_node0(sharr_dist *d)
{
    if (differs_from_rank0(d))
        return sharr__fail(SHARR_ECORRUPT, "the slabs of '%s' disagree: "
                           "node %d's descriptor gives another dtype or "
                           "shape than node 0's", d->name, d->nl.node);
    return 0;
}

int sharr_dist_open(MPI_Comm comm, const char *name, sharr_dist **out)
{
    sharr_dist *d = calloc(1, sizeof *d);
    uint64_t *m = NULL;
    size_t shape[SHARR_MAX_NDIM];
    int err;

    *out = NULL;
    if (!d)
        return sharr_mpi_agree(comm, sharr__fail(SHARR_ENOMEM, "out of "
                                                 "memory"));
    if ((err = sharr__nodes_make(comm, &d->nl)) < 0)
        goto fail;
    err = check_name(name);
    snprintf(d->name, sizeof d->name, "%s", name);
    m = calloc(META_FIXED + (size_t)d->nl.nodes, sizeof *m);
    if (!m && err == 0)
        err = sharr__fail(SHARR_ENOMEM, "out of memory");
    if (err == 0 && d->nl.node_rank == 0)
        err = read_node(d, m);
    if ((err = sharr_mpi_agree(d->nl.comm, err)) < 0)
        goto fail;
    MPI_Bcast(m, META_FIXED, MPI_UINT64_T, 0, d->nl.node_comm);
    for (size_t i = 0; i < (size_t)m[M_NDIM]; i++)
        shape[i] = (size_t)m[M_SHAPE + i];
    set_shape(d, (sharr_dtype)m[M_DTYPE], (size_t)m[M_NDIM], shape);
    if ((err = sharr_mpi_agree(d->nl.comm, same_as_node0(d))) < 0 ||
        (err = sharr_mpi_agree(d->nl.comm, open_slab(d))) < 0)
        goto fail;
    free(m);
    *out = d;
    return 0;
fail:
    free(m);
    sharr_dist_close(d);
    return err;
}

/* ---- unlink ---- */

/* Is `s` "NAME.<digits>" or "NAME.<digits>.meta"? */
static bool is_part(const char *s, const char *name)
{
    size_t n = strlen(name);
    const char *p;

    if (strncmp(s, name, n) != 0 || s[n] != '.')
        return false;
    p = s + n + 1;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9')
        p++;
    return *p == '\0' || strcmp(p, ".meta") == 0;
}

/* Node rank 0: remove every part of `name` in this host's /dev/shm. */
static int unlink_local(const char *name, int *removed)
{
    sharr_info *list = NULL;
    size_t count = 0;
    int err;

    if ((err = sharr_list(&list, &count)) < 0)
        return err;
    for (size_t i = 0; i < count; i++) {
        if (!is_part(list[i].name, name))
            continue;
        err = sharr_unlink(list[i].name);
        if (err == 0)
            (*removed)++;
        else if (err != SHARR_ENOENT) /* another node of this host won */
            break;
        err = 0;
    }
    sharr_list_free(list);
    return err;
}

int sharr_dist_unlink(MPI_Comm comm, const char *name)
{
    struct sharr__nodes nl;
    int err, removed = 0, total = 0;

    if ((err = sharr__nodes_make(comm, &nl)) < 0)
        return err;
    err = check_name(name);
    if (err == 0 && nl.node_rank == 0)
        err = unlink_local(name, &removed);
    MPI_Allreduce(&removed, &total, 1, MPI_INT, MPI_SUM, nl.comm);
    if (err == 0 && total == 0 && nl.rank == 0)
        err = sharr__fail(SHARR_ENOENT, "no slab of '%s' on any node", name);
    err = sharr_mpi_agree(nl.comm, err);
    sharr__nodes_free(&nl);
    return err;
}

/* ---- replicas ---- */

int sharr__dist_replicate(sharr_dist *b, MPI_Win *win, const void **full)
{
    MPI_Aint size = (MPI_Aint)(b->rows * b->row_bytes), got;
    MPI_Comm leaders;
    MPI_Datatype row;
    int unit, *counts = NULL, *displs = NULL, err = 0;
    void *base;

    MPI_Win_allocate_shared(b->nl.node_rank == 0 ? size : 0, 1,
                            MPI_INFO_NULL, b->nl.node_comm, &base, win);
    MPI_Win_shared_query(*win, 0, &got, &unit, &base);
    *full = base;
    MPI_Comm_split(b->nl.comm, b->nl.node_rank == 0 ? 0 : MPI_UNDEFINED,
                   b->nl.rank, &leaders);
    if (leaders != MPI_COMM_NULL) {
        /* Leaders rank in world order: their rank is their node. */
        counts = malloc((size_t)b->nl.nodes * sizeof *counts);
        displs = malloc((size_t)b->nl.nodes * sizeof *displs);
        if (!counts || !displs) {
            err = sharr__fail(SHARR_ENOMEM, "out of memory");
        } else {
            for (int i = 0; i < b->nl.nodes; i++) {
                size_t r0, r1;
                sharr__dist_node_rows(b, i, &r0, &r1);
                counts[i] = (int)(r1 - r0);
                displs[i] = (int)r0;
            }
            MPI_Type_contiguous((int)b->row_bytes, MPI_BYTE, &row);
            MPI_Type_commit(&row);
            MPI_Allgatherv(b->base ? (void *)b->base : base,
                           counts[b->nl.node], row, base, counts, displs,
                           row, leaders);
            MPI_Type_free(&row);
        }
        MPI_Comm_free(&leaders);
    }
    free(counts);
    free(displs);
    MPI_Barrier(b->nl.node_comm); /* complete before any rank reads it */
    return err;
}

/* ---- kernels over this rank's rows ---- */

int sharr_dist_run(sharr_dist *d, sharr_kernel kernel, const void *arg,
                   size_t arg_size)
{
    sharr_block b;
    int err = 0;

    if (d->lay.r1 > d->lay.r0) {
        memset(&b, 0, sizeof b);
        b.r0 = d->lay.r0;
        b.r1 = d->lay.r1;
        b.worker = d->nl.rank;
        b.narrays = 1;
        b.data[0] = d->base + (d->lay.r0 - d->lay.node_r0) * d->row_bytes;
        b.array[0] = d->slab;
        b.arg = arg;
        b.arg_size = arg_size;
        err = kernel(&b);
        if (err < 0 && !sharr_errmsg()[0])
            err = sharr__fail(err, "kernel failed on rows %zu..%zu", b.r0,
                              b.r1);
    }
    return sharr_mpi_agree(d->nl.comm, err);
}
