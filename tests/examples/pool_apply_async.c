/*
 * pool_apply_async.c - apply_async with a callback and an error_callback,
 * in C:
 *
 *     def howmany_within_range(row, minimum, maximum): ...
 *     results = []
 *     for i, row in enumerate(data):
 *         pool.apply_async(howmany_within_range, args=(i, row, 4, 8),
 *                          callback=results.append,
 *                          error_callback=print)
 *     pool.close(); pool.join()
 *
 * One task per row, each with its own argument record; the callbacks run
 * in this process, in the order tasks finish, while we wait.  Row 3 is
 * made bad on purpose to show the error callback; keep_going lets the
 * other tasks run, as independent apply_async calls do.
 * Build: cc pool_apply_async.c -lsharr
 */
#include <sharr.h>
#include <stdio.h>
#include <stdlib.h>

#define ROWS 8
#define COLS 5

struct task { int row; int minimum, maximum; int values[COLS]; };
struct answer { int row; int count; };

static int howmany_within_range(const sharr_block *b)
{
    const struct task *t = b->task_arg;       /* this task's own record */
    struct answer *a = b->result;
    if (t->minimum > t->maximum)
        return sharr_fail(SHARR_EINVAL, "row %d: minimum %d > maximum %d",
                          t->row, t->minimum, t->maximum);
    a->row = t->row;
    for (int i = 0; i < COLS; i++)
        a->count += t->values[i] >= t->minimum && t->values[i] <= t->maximum;
    return 0;
}

struct collected { struct answer got[ROWS]; int n, errors; };

static int collect_result(size_t task, const void *result, void *ctx)
{
    struct collected *c = ctx;
    (void)task;
    c->got[c->n++] = *(const struct answer *)result;
    return 0;
}

static int print_error(size_t task, int code, const char *detail, void *ctx)
{
    struct collected *c = ctx;
    (void)code;
    c->errors++;
    printf("task %zu failed: %s\n", task, detail);
    return 0;
}

static int by_row(const void *a, const void *b)
{
    return ((const struct answer *)a)->row - ((const struct answer *)b)->row;
}

int main(void)
{
    struct task tasks[ROWS];
    struct collected c = {.n = 0};
    sharr_pool *pool;

    srand(100);
    for (int r = 0; r < ROWS; r++) {
        tasks[r] = (struct task){.row = r, .minimum = 4, .maximum = 8};
        for (int i = 0; i < COLS; i++)
            tasks[r].values[i] = rand() % 10;
    }
    tasks[3].minimum = 9; /* a bad task */
    sharr_job_spec spec = {.kernel = howmany_within_range, .ntasks = ROWS,
                           .task_args = tasks, .task_arg_size = sizeof *tasks,
                           .result_size = sizeof(struct answer),
                           .keep_going = 1, .plain_errors = 1,
                           .callback = collect_result,
                           .error_callback = print_error, .callback_ctx = &c};
    if (sharr_pool_create(NULL, &pool) < 0) {
        fprintf(stderr, "pool: %s\n", sharr_errmsg());
        return 1;
    }
    int err = sharr_pool_run(pool, &spec);       /* close() + join() */
    sharr_pool_destroy(pool);
    qsort(c.got, (size_t)c.n, sizeof *c.got, by_row);
    for (int i = 0; i < c.n; i++)
        printf("row %d: %d values within [4, 8]\n", c.got[i].row,
               c.got[i].count);
    printf("%d results, %d error (the job says: %s)\n", c.n, c.errors,
           sharr_strerror(err));
    return !(c.n == ROWS - 1 && c.errors == 1 && err == SHARR_EINVAL);
}
