/*
 * bench_imap.c - imap (issue 8, benchmark 4): the per-block cost of taking
 * a job's results one by one while it runs (sharr_job_next, in block order,
 * and sharr_job_next_unordered, in completion order) against waiting for
 * the whole job (sharr_job_wait), measured in one run on one pool of 2
 * workers, dynamic,1:
 *
 *   a. empty blocks: the whole cost of a block, bookkeeping included;
 *   b. blocks of about 20 us of arithmetic: what taking them one by one
 *      adds to a block that does some work (the difference per block).
 *
 * Every figure is the median of several runs, with min-max.  Benchmarks
 * report; they never fail on slowness.  BENCH_QUICK=1 shrinks everything.
 */
#define _GNU_SOURCE
#include "sharr.h"
#include "benchutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int quick;

static void die(const char *what, int err)
{
    fprintf(stderr, "bench: %s: %s (%s)\n", what, sharr_errmsg(),
            sharr_strerror(err));
    exit(1);
}

static int empty_kernel(const sharr_block *b)
{
    *(uint64_t *)b->result = b->index;
    return 0;
}

/* About `arg` microseconds of arithmetic (calibrated below). */
static uint64_t spins_per_us;

static int work_kernel(const sharr_block *b)
{
    uint64_t x = b->index, n = spins_per_us * *(const unsigned *)b->arg;
    for (uint64_t i = 0; i < n; i++)
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    *(uint64_t *)b->result = x;
    return 0;
}

static void calibrate(void)
{
    static volatile uint64_t sink;
    unsigned us_asked = 1000;
    uint64_t slot;
    sharr_block b = {.arg = &us_asked, .result = &slot};
    spins_per_us = 1000;
    double t0 = now();
    for (int i = 0; i < 10; i++) {
        b.index = (size_t)i;
        work_kernel(&b);
        sink += slot; /* keeps the loop */
    }
    double us = (now() - t0) * 1e6 / 10; /* for 1000 * 1000 rounds */
    spins_per_us = (uint64_t)(1e6 / us);
    if (spins_per_us == 0)
        spins_per_us = 1;
}

enum how { WAIT, NEXT, NEXT_UNORDERED };

/* Seconds per block of one job taken `how`. */
static double run(sharr_pool *pool, const sharr_job_spec *spec, enum how how)
{
    sharr_job *job;
    size_t b, n = 0;
    uint64_t sum = 0;
    int err, rc;
    double t0 = now();

    if ((err = sharr_pool_submit(pool, spec, &job)) < 0)
        die("submit", err);
    if (how == WAIT) {
        if ((err = sharr_job_wait(job, -1)) < 0)
            die("wait", err);
        n = sharr_job_blocks(job);
    } else {
        while ((rc = how == NEXT
                         ? sharr_job_next(job, &b, -1)
                         : sharr_job_next_unordered(job, &b, -1)) == 1) {
            sum += *(const uint64_t *)sharr_job_result(job, b);
            n++;
        }
        if (rc < 0)
            die("next", rc);
    }
    double t = now() - t0;
    if (n != sharr_job_blocks(job))
        die("a block is missing", SHARR_EINVAL);
    sharr_job_free(job);
    (void)sum;
    return t / (double)n;
}

static void bench(sharr_pool *pool, const char *title, size_t blocks,
                  const unsigned *us)
{
    int reps = quick ? 3 : 7;
    double t[3][16];
    sharr_job_spec spec = {.kernel = us ? work_kernel : empty_kernel,
                           .rows = blocks, .arg = us,
                           .arg_size = us ? sizeof *us : 0,
                           .result_size = sizeof(uint64_t),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    struct fig f[3];
    const char *label[3] = {"wait for the whole job", "sharr_job_next",
                            "sharr_job_next_unordered"};

    run(pool, &spec, WAIT); /* warm up */
    for (int r = 0; r < reps; r++)
        for (int h = 0; h < 3; h++) /* interleaved: the same conditions */
            t[h][r] = run(pool, &spec, (enum how)h);
    printf("   %s, %zu blocks, median of %d [min-max]\n", title, blocks,
           reps);
    for (int h = 0; h < 3; h++) {
        f[h] = summarize(t[h], reps);
        printf("     %-26s %8.3f us per block [%.3f-%.3f]\n", label[h],
               f[h].med * 1e6, f[h].min * 1e6, f[h].max * 1e6);
    }
    printf("     ratio next / wait: %.2fx, next_unordered / wait: %.2fx; "
           "added per block: %+.3f us, %+.3f us\n", f[1].med / f[0].med,
           f[2].med / f[0].med, (f[1].med - f[0].med) * 1e6,
           (f[2].med - f[0].med) * 1e6);
}

int main(void)
{
    sharr_pool_opts o = {.workers = 2};
    sharr_pool *pool;
    const unsigned work_us = 20;
    int err;

    quick = getenv("BENCH_QUICK") != NULL;
    calibrate();
    if ((err = sharr_pool_create(&o, &pool)) < 0)
        die("pool create", err);
    printf("== sharr imap benchmark (issue 8, figure 4), 2 workers, "
           "dynamic,1 (%ld CPUs online)\n\n", sysconf(_SC_NPROCESSORS_ONLN));
    printf("4. imap: taking block results one by one vs waiting for the "
           "whole job\n");
    bench(pool, "a. empty blocks", quick ? 20000 : 200000, NULL);
    bench(pool, "b. blocks of ~20 us", quick ? 500 : 5000, &work_us);
    sharr_pool_destroy(pool);
    return 0;
}
