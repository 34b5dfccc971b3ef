/*
 * pool_initializer.c - an initializer that initializes a library in each
 * worker, in C:
 *
 *     def init_worker():
 *         numpy.random.seed()       # or: connect, load a model, set up a GPU
 *     with Pool(2, initializer=init_worker) as pool:
 *         pool.map(draw, range(8))
 *
 * Forked workers start as copies of the caller: a library initialized once
 * before the fork hands every worker the same state (the classic bug: every
 * worker draws the same "random" numbers).  The pool's initializer runs in
 * each worker, first or replacement, before its first block.  Here the
 * "library" is a tiny random generator whose state must be per process.
 * Build: cc pool_initializer.c -lsharr
 */
#include <sharr.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

/* ---- a library with process-wide state ---- */
static struct {
    int ready;
    uint64_t state;
} rng;

static void rng_init(uint64_t seed)
{
    rng.state = seed * 0x9E3779B97F4A7C15ull + 1;
    rng.ready = 1;
}

static uint64_t rng_next(void)   /* xorshift64 */
{
    rng.state ^= rng.state << 13;
    rng.state ^= rng.state >> 7;
    rng.state ^= rng.state << 17;
    return rng.state;
}

/* ---- the pool ---- */

static int init_worker(int worker_id, void *arg)
{
    (void)arg;
    rng_init((uint64_t)getpid() << 8 | (uint64_t)worker_id);
    return 0;
}

struct draw { int worker; int ready; uint64_t value; };

static int draw(const sharr_block *b)
{
    struct draw *d = b->result;
    d->worker = b->worker;
    d->ready = rng.ready;
    d->value = rng_next();
    return 0;
}

int main(void)
{
    sharr_pool_opts opts = {.workers = 2, .init = init_worker};
    sharr_job_spec spec = {.kernel = draw, .rows = 8,
                           .result_size = sizeof(struct draw),
                           .schedule = {SHARR_SCHED_STATIC, 1}};
    struct draw d[8];
    sharr_pool *pool;
    int initialized = 1, distinct = 1;

    if (sharr_pool_create(&opts, &pool) < 0 ||
        sharr_pool_map(pool, &spec, d, sizeof d) < 0) {
        fprintf(stderr, "pool: %s\n", sharr_errmsg());
        return 1;
    }
    sharr_pool_destroy(pool);
    for (int i = 0; i < 8; i++) {
        initialized &= d[i].ready;
        for (int j = 0; j < i; j++)
            distinct &= d[i].value != d[j].value;
    }
    printf("every worker initialized its library: %s\n",
           initialized ? "yes" : "no");
    printf("8 draws on 2 workers, all distinct: %s\n",
           distinct ? "yes" : "no");
    return !(initialized && distinct);
}
