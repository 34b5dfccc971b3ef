/*
 * reduce.h - the reduction core of lib/ops (private to lib/ops): the
 * figures of `sharr stat` (count, sum, mean, min, max, 2-norm) of a run of
 * elements, with the one summation every reduction of sharr uses, so that
 * a figure never depends on the number of workers.
 *
 * A run is summed pairwise in double (integers exactly in 128 bits), its
 * squares with overflow- and underflow-safe scaling; runs added one after
 * another into a sharr__totals are combined with Neumaier's compensated
 * sum.  The figures depend only on the elements and on where the runs
 * start and end, never on who computed them: keep the runs fixed (whole
 * rows, or blocks fixed by the shape) and any split of the work among
 * processes gives the same bits.
 *
 * Per-row reductions (sharr stat --per-row, sharr_array_row_stats_into(),
 * and the expression engine's rowsum/rowmean/rowmin/rowmax/rownorm) call
 * sharr__row_stats() on each whole row: one run per row, so a row's
 * figures are identical whatever the blocks, the schedule or -j.
 */
#ifndef SHARR_OPS_REDUCE_H
#define SHARR_OPS_REDUCE_H

#include "internal.h"

#include <stdbool.h>

/* One run's partial figures. */
struct sharr__part {
    double sum[2];
    __int128 isum;           /* integers: exact */
    double scale, ssq;       /* sum |x|^2 = scale^2 * ssq */
    uint64_t count;
    int has_nan;
    int has_minmax;
    unsigned char min[SHARR_MAX_ITEMSIZE], max[SHARR_MAX_ITEMSIZE];
};

/* Runs combined in order (zero it, or sharr__reduce_init, to start). */
struct sharr__totals {
    struct sharr__part p;
    double comp[2];          /* Neumaier compensation of sum[] */
    bool first;
};

/* The figures of n elements of dt at x (n may be 0) into *p. */
void sharr__reduce_part(sharr_dtype dt, const void *x, size_t n,
                        struct sharr__part *p);

void sharr__reduce_init(struct sharr__totals *t);

/* Add run p to t: runs must be added in the same order every time. */
void sharr__reduce_add(struct sharr__totals *t, const struct sharr__part *p,
                       sharr_dtype dt);

/* The finished figures of t into *out (count 0: sum 0, mean, min and max
 * NaN, 2-norm 0). */
void sharr__reduce_done(const struct sharr__totals *t, sharr_dtype dt,
                        sharr_stats *out);

/* The figures of one whole row of n elements of dt at row, bit for bit
 * those of sharr_array_stats(per_row) for that row.  No allocation, no
 * lock: safe in any kernel. */
void sharr__row_stats(sharr_dtype dt, const void *row, size_t n,
                      sharr_stats *out);

#endif
