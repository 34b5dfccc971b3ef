/*
 * pool_map_squares.c - Python's first Pool example, in C:
 *
 *     from multiprocessing import Pool
 *     def f(x):
 *         return x * x
 *     with Pool(5) as p:
 *         print(p.map(f, range(10)))
 *
 * A job over the plain index range [0, 10), one index per block (dynamic,1,
 * Pool.map's chunksize 1), with one result slot per block; sharr_pool_map
 * copies the results into our buffer.  Build: cc pool_map_squares.c -lsharr
 */
#include <sharr.h>
#include <stdio.h>

static int square(const sharr_block *b)
{
    long x = (long)b->index;          /* block i is x = i */
    *(long *)b->result = x * x;       /* this block's own result slot */
    return 0;
}

int main(void)
{
    sharr_pool_opts opts = {.workers = 5};
    sharr_pool *pool;
    long squares[10];
    sharr_job_spec map = {.kernel = square, .rows = 10,
                          .result_size = sizeof(long),
                          .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    int err;

    if ((err = sharr_pool_create(&opts, &pool)) < 0) {
        fprintf(stderr, "pool: %s\n", sharr_errmsg());
        return 1;
    }
    err = sharr_pool_map(pool, &map, squares, sizeof squares);
    sharr_pool_destroy(pool);
    if (err < 0) {
        fprintf(stderr, "map: %s\n", sharr_errmsg());
        return 1;
    }
    printf("[");
    for (int i = 0; i < 10; i++)
        printf("%s%ld", i ? ", " : "", squares[i]);
    printf("]\n");
    return 0;
}
