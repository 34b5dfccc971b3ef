/*
 * pool_imap_progress.c - imap_unordered with a progress line, in C:
 *
 *     with Pool() as pool:
 *         for i, n in enumerate(pool.imap_unordered(count_primes, ranges), 1):
 *             total += n
 *             sys.stderr.write('\rdone {0:.0%}'.format(i / len(ranges)))
 *
 * Each block counts the primes of its 1000 numbers; the caller takes the
 * blocks as they finish (sharr_job_next_unordered) and draws the progress
 * line on stderr while the others still run.  Build: cc ... -lsharr
 */
#include <sharr.h>
#include <stdint.h>
#include <stdio.h>

#define BLOCKS 100
#define SPAN 1000

static int is_prime(uint64_t n)
{
    if (n < 2)
        return 0;
    for (uint64_t d = 2; d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

static int count_primes(const sharr_block *b)
{
    uint64_t n = 0;
    for (uint64_t x = b->index * SPAN; x < (b->index + 1) * SPAN; x++)
        n += (uint64_t)is_prime(x);
    *(uint64_t *)b->result = n;
    return 0;
}

int main(void)
{
    sharr_pool *pool;
    sharr_job *job;
    sharr_job_spec spec = {.kernel = count_primes, .rows = BLOCKS,
                           .result_size = sizeof(uint64_t),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    uint64_t total = 0;
    size_t block, taken = 0;
    int rc;

    if (sharr_pool_create(NULL, &pool) < 0 ||
        sharr_pool_submit(pool, &spec, &job) < 0) {
        fprintf(stderr, "pool: %s\n", sharr_errmsg());
        return 1;
    }
    /* 1: a block is over; 0: all were taken; < 0: this block failed. */
    while ((rc = sharr_job_next_unordered(job, &block, -1)) == 1) {
        total += *(const uint64_t *)sharr_job_result(job, block);
        fprintf(stderr, "\rdone %3zu%%", ++taken * 100 / BLOCKS);
    }
    fprintf(stderr, "\n");
    if (rc < 0)
        fprintf(stderr, "block %zu: %s\n", block, sharr_errmsg());
    sharr_job_free(job);
    sharr_pool_destroy(pool);
    printf("%llu primes below %d\n", (unsigned long long)total,
           BLOCKS * SPAN);
    return rc < 0;
}
