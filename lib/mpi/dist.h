/*
 * dist.h - private to lib/mpi/: the distributed array handle, the launch's
 * node layout and the partition (dist.c), used by dops.c, dh5.c and
 * deval.c here.
 * Nothing in lib/mpi forks.
 */
#ifndef SHARR_MPI_DIST_H
#define SHARR_MPI_DIST_H

#include "internal.h"
#include "sharr_mpi.h"

/* The nodes of a communicator (dist.c, layout_make). */
struct sharr__nodes {
    MPI_Comm comm;          /* a dup of the caller's */
    MPI_Comm node_comm;     /* the ranks of this rank's node */
    int rank, size;
    int node, nodes, node_rank, node_size;
    int *node_of;           /* [size] node of each rank */
    int *order;             /* [size] partition position j -> rank */
    int *pos;               /* [size] rank -> position j */
    int *node_ranks;        /* [nodes] ranks of each node */
    int *node_first;        /* [nodes] position j of each node's rank 0 */
};

struct sharr_dist {
    char name[SHARR_NAME_MAX + 1];
    sharr_dtype dtype;
    size_t ndim;
    size_t shape[SHARR_MAX_NDIM];
    size_t rows, row_bytes;
    struct sharr__nodes nl;
    sharr_dist_layout lay;
    sharr_array *slab;      /* NULL on a node without rows */
    unsigned char *base;    /* slab data, row node_r0 (NULL if none) */
};

/* Rows [*r0, *r1) of partition position j of any array of `rows` rows
 * over the nodes nl (what sharr_mpi.h's ROW PARTITION says). */
void sharr__part_rows(const struct sharr__nodes *nl, size_t rows, int j,
                      size_t *r0, size_t *r1);
/* Rows [*r0, *r1) of partition position j, and of node i. */
void sharr__dist_rank_rows(const sharr_dist *d, int j, size_t *r0,
                           size_t *r1);
void sharr__dist_node_rows(const sharr_dist *d, int node, size_t *r0,
                           size_t *r1);
/* The rank (in comm) whose rows hold global row r (r < rows). */
int sharr__dist_owner(const sharr_dist *d, size_t r);
/* Rows [*a, *b) this rank reads or writes in an HDF5 transfer whose
 * dataset has chunk rows `chunk` (0: not chunked). */
void sharr__dist_io_rows(const sharr_dist *d, size_t chunk, size_t *a,
                         size_t *b);
/* All of b's rows, once per node, in a node-shared MPI window *win (free
 * it with MPI_Win_free, collective over b's node): the nodes' rank 0
 * gather them from every node's slab; *full is the window's memory on
 * this rank.  Collective.  @return 0 or SHARR_ENOMEM (agreed by the
 * caller). */
int sharr__dist_replicate(sharr_dist *b, MPI_Win *win, const void **full);
/* Collectively give the distributed array d, made by sharr_dist_create()
 * under a staging name, the name `name`: every node's slab, then every
 * descriptor, renamed (never over an existing object).  On failure every
 * part is renamed back: d stays whole under its staging name.
 * @return 0, SHARR_EINVAL (name), SHARR_EEXIST, or -errno (agreed). */
int sharr__dist_publish(sharr_dist *d, const char *name);
/* Called on every rank: the node's rank 0 removes its slab and descriptor
 * of d (a staged array given up).  Not collective; NULL is fine. */
void sharr__dist_unmake(sharr_dist *d);
/* Make the node layout of comm (collective). */
int sharr__nodes_make(MPI_Comm comm, struct sharr__nodes *nl);
void sharr__nodes_free(struct sharr__nodes *nl);

#endif
