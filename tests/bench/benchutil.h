/*
 * benchutil.h - what the benchmarks share: a monotonic clock and the
 * median [min-max] of repeated measurements.
 */
#ifndef SHARR_BENCHUTIL_H
#define SHARR_BENCHUTIL_H

#include <stdlib.h>
#include <time.h>

static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A figure: the median of n runs, with the fastest and the slowest. */
struct fig { double med, min, max; };

static inline struct fig summarize(double *t, int n)
{
    struct fig f;
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    f.med = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    f.min = t[0];
    f.max = t[n - 1];
    return f;
}

#endif
