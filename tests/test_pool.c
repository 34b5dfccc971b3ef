/*
 * test_pool.c - the worker pool: schedules, jobs, results, faults, timeouts,
 * cancellation and process hygiene.
 */
#include "testutil.h"

#include <cblas.h>
#include <poll.h>
#include <sys/syscall.h>

static void no_children_left(void)
{
    /* Every worker was reaped: this test process has no child at all. */
    int st;
    errno = 0;
    pid_t rc = waitpid(-1, &st, WNOHANG);
    cr_assert(rc == -1 && errno == ECHILD, "a child process is left "
              "(waitpid gave %d)", (int)rc);
}

TestSuite(pool, .init = tu_setup, .fini = tu_cleanup, .timeout = 60);

/* ---- every row exactly once ---- */

/* Adds 1 to every element of its rows and records the block in the result. */
struct visit { size_t r0, r1; int worker; };

static int visit_kernel(const sharr_block *b)
{
    uint32_t *x = b->data[0];
    for (size_t r = 0; r < b->r1 - b->r0; r++)
        __atomic_fetch_add(&x[r], 1, __ATOMIC_RELAXED);
    struct visit *v = b->result;
    v->r0 = b->r0;
    v->r1 = b->r1;
    v->worker = b->worker;
    return 0;
}

static void check_once(sharr_pool *p, size_t rows, sharr_schedule s)
{
    sharr_array *a = tu_rows("once", SHARR_U32, rows, 0);
    sharr_job_spec spec = {.kernel = visit_kernel, .narrays = 1,
                           .arrays = &a, .result_size = sizeof(struct visit),
                           .schedule = s};
    sharr_job *job;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_job_wait(job, 10), 0, "%s", sharr_errmsg());
    uint32_t *x = sharr_array_data(a);
    for (size_t r = 0; r < rows; r++)
        cr_assert_eq(x[r], 1, "schedule %d chunk %zu rows %zu: row %zu "
                     "visited %u times", s.kind, s.chunk, rows, r, x[r]);
    /* The blocks tile [0, rows) in order, and the results say so too. */
    size_t next = 0;
    for (size_t i = 0; i < sharr_job_blocks(job); i++) {
        size_t r0, r1;
        const struct visit *v = sharr_job_result(job, i);
        cr_assert_eq(sharr_job_block_rows(job, i, &r0, &r1), 0);
        cr_assert_eq(r0, next);
        cr_assert_gt(r1, r0);
        cr_assert_eq(v->r0, r0);
        cr_assert_eq(v->r1, r1);
        cr_assert(v->worker >= 0 && v->worker < sharr_pool_workers(p));
        if (s.kind == SHARR_SCHED_STATIC && s.chunk)
            cr_assert_eq((size_t)v->worker, i % (size_t)sharr_pool_workers(p),
                         "static chunks are round-robin");
        next = r1;
    }
    cr_assert_eq(next, rows);
    cr_assert_null(sharr_job_result(job, sharr_job_blocks(job)));
    sharr_job_free(job);
    sharr_array_close(a);
    sharr_unlink(tu_name("once"));
}

Test(pool, every_row_is_visited_exactly_once_for_every_schedule)
{
    sharr_pool *p = tu_pool(3);
    size_t rows[] = {1, 2, 3, 7, 100, 1001};
    sharr_sched_kind kinds[] = {SHARR_SCHED_STATIC, SHARR_SCHED_DYNAMIC,
                                SHARR_SCHED_GUIDED, SHARR_SCHED_AUTO};
    size_t chunks[] = {0, 1, 3, 64};
    for (size_t k = 0; k < 4; k++)
        for (size_t c = 0; c < 4; c++)
            for (size_t r = 0; r < 6; r++) {
                if (kinds[k] == SHARR_SCHED_AUTO && chunks[c])
                    continue;
                check_once(p, rows[r], (sharr_schedule){kinds[k], chunks[c]});
            }
    sharr_pool_destroy(p);
    no_children_left();
}

/* Plain index range: marks per-row results. */
static int range_kernel(const sharr_block *b);

Test(pool, static_gives_one_even_block_per_worker)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = range_kernel, .rows = 11,
                           .schedule = {SHARR_SCHED_STATIC, 0}};
    sharr_job *job;
    size_t r0, r1;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    cr_assert_eq(sharr_job_blocks(job), 2);
    sharr_job_block_rows(job, 0, &r0, &r1);
    cr_assert(r0 == 0 && r1 == 6);
    sharr_job_block_rows(job, 1, &r0, &r1);
    cr_assert(r0 == 6 && r1 == 11);
    cr_assert_eq(sharr_job_block_rows(job, 2, &r0, &r1), SHARR_EINVAL);
    cr_assert_eq(sharr_job_wait(job, -1), 0);
    sharr_job_free(job);
    sharr_pool_destroy(p);
}

/* Plain index range: marks per-row results. */
static int range_kernel(const sharr_block *b)
{
    unsigned char *r = b->result;
    if (!r)
        return 0;
    for (size_t i = 0; i < b->r1 - b->r0; i++)
        r[i] += 1;
    return 0;
}

Test(pool, zero_arrays_is_a_plain_index_range_with_per_row_results)
{
    sharr_pool *p = tu_pool(4);
    sharr_job_spec spec = {.kernel = range_kernel, .rows = 10007,
                           .result_size = 1, .per_row_results = 1,
                           .schedule = {SHARR_SCHED_DYNAMIC, 13}};
    sharr_job *job;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_job_wait(job, 10), 0);
    for (size_t i = 0; i < 10007; i++)
        cr_assert_eq(*(const unsigned char *)sharr_job_result(job, i), 1);
    sharr_job_free(job);
    /* rows = 0: nothing to do, finished at once */
    spec.rows = 0;
    cr_assert_eq(sharr_pool_run(p, &spec), 0);
    sharr_pool_destroy(p);
}

Test(pool, more_workers_than_rows_and_one_row)
{
    sharr_pool *p = tu_pool(8);
    check_once(p, 1, (sharr_schedule){SHARR_SCHED_STATIC, 0});
    check_once(p, 3, (sharr_schedule){SHARR_SCHED_GUIDED, 0});
    check_once(p, 5, (sharr_schedule){SHARR_SCHED_DYNAMIC, 2});
    sharr_pool_destroy(p);
}

Test(pool, guided_blocks_shrink_and_respect_the_chunk)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = range_kernel, .rows = 1000,
                           .schedule = {SHARR_SCHED_GUIDED, 10}};
    sharr_job *job;
    size_t prev = SIZE_MAX, r0, r1, n;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    n = sharr_job_blocks(job);
    cr_assert_gt(n, 3);
    for (size_t i = 0; i < n; i++) {
        sharr_job_block_rows(job, i, &r0, &r1);
        cr_assert_leq(r1 - r0, prev);
        if (i + 1 < n)
            cr_assert_geq(r1 - r0, 10);
        prev = r1 - r0;
    }
    sharr_job_block_rows(job, 0, &r0, &r1);
    cr_assert_eq(r1 - r0, 500, "first guided block = ceil(1000 / 2)");
    sharr_job_wait(job, -1);
    sharr_job_free(job);
    sharr_pool_destroy(p);
}

Test(pool, sharr_schedule_environment_overrides_the_default)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = range_kernel, .rows = 100};
    sharr_job *job;
    setenv("SHARR_SCHEDULE", "dynamic,7", 1);
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    cr_assert_eq(sharr_job_blocks(job), 15);
    sharr_job_free(job);
    spec.schedule = (sharr_schedule){SHARR_SCHED_STATIC, 0};
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    cr_assert_eq(sharr_job_blocks(job), 2, "an explicit schedule wins");
    sharr_job_free(job);
    spec.schedule.kind = SHARR_SCHED_DEFAULT;
    setenv("SHARR_SCHEDULE", "sometimes", 1);
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), SHARR_EINVAL);
    cr_assert(strstr(sharr_errmsg(), "SHARR_SCHEDULE") != NULL);
    unsetenv("SHARR_SCHEDULE");
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    cr_assert_eq(sharr_job_blocks(job), 2, "default is static");
    sharr_job_free(job);
    sharr_pool_destroy(p);
}

Test(pool, schedule_parse_accepts_openmp_words_and_refuses_others)
{
    sharr_schedule s;
    cr_assert_eq(sharr_schedule_parse("dynamic,4", &s), 0);
    cr_assert(s.kind == SHARR_SCHED_DYNAMIC && s.chunk == 4);
    cr_assert_eq(sharr_schedule_parse("static", &s), 0);
    cr_assert(s.kind == SHARR_SCHED_STATIC && s.chunk == 0);
    cr_assert_eq(sharr_schedule_parse("guided,1", &s), 0);
    cr_assert_eq(sharr_schedule_parse("auto", &s), 0);
    const char *bad[] = {"", "fast", "dynamic,", "dynamic,0", "dynamic,-1",
                         "auto,4", "static,4x", "dynamic,4,5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(sharr_schedule_parse(bad[i], &s), SHARR_EINVAL, "'%s'",
                     bad[i]);
}

/* ---- several arrays, arrays made later, re-created names ---- */

static int add_kernel(const sharr_block *b)
{
    const double *x = b->data[0], *y = b->data[1];
    double *z = b->data[2];
    size_t n = (b->r1 - b->r0) * 4;
    for (size_t i = 0; i < n; i++)
        z[i] = x[i] + y[i];
    return 0;
}

static void fill_range(sharr_array *a)
{
    sharr_fill_spec f = {.kind = SHARR_FILL_RANGE};
    cr_assert_eq(sharr_fill(NULL, a, &f, NULL), 0);
}

Test(pool, multi_array_kernel_on_arrays_created_after_the_pool)
{
    sharr_pool *p = tu_pool(2);
    sharr_array *abc[3] = {tu_rows("x", SHARR_F64, 50, 4),
                           tu_rows("y", SHARR_F64, 50, 4),
                           tu_rows("z", SHARR_F64, 50, 4)};
    fill_range(abc[0]);
    fill_range(abc[1]);
    sharr_job_spec spec = {.kernel = add_kernel, .narrays = 3,
                           .arrays = abc,
                           .schedule = {SHARR_SCHED_DYNAMIC, 3}};
    cr_assert_eq(sharr_pool_run(p, &spec), 0, "%s", sharr_errmsg());
    const double *z = sharr_array_data(abc[2]);
    for (size_t i = 0; i < 200; i++)
        cr_assert_eq(z[i], 2.0 * i);
    for (int i = 0; i < 3; i++)
        sharr_array_close(abc[i]);
    sharr_pool_destroy(p);
}

Test(pool, split_arrays_must_share_their_row_count)
{
    sharr_pool *p = tu_pool(2);
    sharr_array *ab[2] = {tu_rows("r1", SHARR_F64, 10, 4),
                          tu_rows("r2", SHARR_F64, 11, 4)};
    sharr_job_spec spec = {.kernel = add_kernel, .narrays = 2, .arrays = ab};
    sharr_job *job;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), SHARR_ESHAPE);
    cr_assert_null(job);
    /* Passed whole, the second array's rows do not matter. */
    spec.whole = 1u << 1;
    spec.kernel = range_kernel;
    cr_assert_eq(sharr_pool_run(p, &spec), 0, "%s", sharr_errmsg());
    sharr_array_close(ab[0]);
    sharr_array_close(ab[1]);
    sharr_pool_destroy(p);
}

static int read_first_kernel(const sharr_block *b)
{
    *(double *)b->result = *(const double *)b->data[0];
    return 0;
}

static double first_seen_by_workers(sharr_pool *p, sharr_array *a)
{
    sharr_job_spec spec = {.kernel = read_first_kernel, .narrays = 1,
                           .arrays = &a, .result_size = sizeof(double),
                           .schedule = {SHARR_SCHED_STATIC, 1}};
    sharr_job *job;
    double v;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    cr_assert_eq(sharr_job_wait(job, 10), 0, "%s", sharr_errmsg());
    v = *(const double *)sharr_job_result(job, 0);
    sharr_job_free(job);
    return v;
}

Test(pool, a_name_removed_and_created_again_is_detected_by_its_id)
{
    sharr_pool *p = tu_pool(1);
    const char *n = tu_name("re");
    sharr_array *a = tu_rows("re", SHARR_F64, 1, 0);
    *(double *)sharr_array_data(a) = 1.0;
    cr_assert_eq(first_seen_by_workers(p, a), 1.0);   /* worker caches it */

    /* The name now means a new array: a worker holding the old mapping in
     * its cache must notice (by the id) and attach the new one. */
    cr_assert_eq(sharr_unlink(n), 0);
    sharr_array *b = tu_rows("re", SHARR_F64, 1, 0);
    *(double *)sharr_array_data(b) = 2.0;
    cr_assert_eq(first_seen_by_workers(p, b), 2.0);
    /* The caller's old handle no longer matches what the name holds: an
     * error, never the wrong memory. */
    sharr_job_spec spec = {.kernel = read_first_kernel, .narrays = 1,
                           .arrays = &a, .result_size = sizeof(double)};
    cr_assert_eq(sharr_pool_run(p, &spec), SHARR_ENOENT);
    cr_assert(strstr(sharr_errmsg(), "created again") != NULL, "%s",
              sharr_errmsg());
    sharr_array_close(a);
    sharr_array_close(b);
    sharr_pool_destroy(p);
}

/* ---- kernel errors, results, progress ---- */

static int fail_on_3(const sharr_block *b)
{
    if (b->index == 3)
        return sharr_fail(SHARR_ERANGE, "value too big in row %zu", b->r0);
    return 0;
}

Test(pool, kernel_error_is_reported_with_its_block)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = fail_on_3, .rows = 10,
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    sharr_job *job;
    size_t block;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    cr_assert_eq(sharr_job_wait(job, 10), SHARR_ERANGE);
    cr_assert(strstr(sharr_errmsg(), "block 3") != NULL, "%s", sharr_errmsg());
    cr_assert(strstr(sharr_errmsg(), "value too big in row 3") != NULL);
    cr_assert_eq(sharr_job_error(job, &block), SHARR_ERANGE);
    cr_assert_eq(block, 3);
    cr_assert_eq(sharr_job_wait(job, 10), SHARR_ERANGE, "waiting again");
    sharr_job_free(job);
    /* The pool is fine afterwards. */
    spec.kernel = range_kernel;
    cr_assert_eq(sharr_pool_run(p, &spec), 0);
    /* Same in the caller. */
    spec.kernel = fail_on_3;
    cr_assert_eq(sharr_pool_run(NULL, &spec), SHARR_ERANGE);
    cr_assert(strstr(sharr_errmsg(), "block 3") != NULL);
    sharr_pool_destroy(p);
}

static int worker_kernel(const sharr_block *b)
{
    *(int *)b->result = b->worker + 1;
    return 0;
}

static size_t progress_calls, progress_last, progress_total;

static void on_progress(size_t done, size_t total, void *ctx)
{
    cr_assert_eq(ctx, &progress_calls);
    cr_assert_geq(done, progress_last, "progress never goes back");
    progress_calls++;
    progress_last = done;
    progress_total = total;
}

/* Sleeps the microseconds its argument holds; marks its result slot, if
 * the job has results, to show that the block ran. */
static int nap_kernel(const sharr_block *b)
{
    usleep(*(const unsigned *)b->arg);
    if (b->result)
        *(int *)b->result = 1;
    return 0;
}

static const unsigned nap_2ms = 2000, nap_5ms = 5000, nap_20ms = 20000;

Test(pool, progress_callback_runs_in_the_caller_up_to_the_total)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = nap_kernel, .rows = 40,
                           .arg = &nap_2ms, .arg_size = sizeof nap_2ms,
                           .schedule = {SHARR_SCHED_DYNAMIC, 1},
                           .progress = on_progress,
                           .progress_ctx = &progress_calls};
    cr_assert_eq(sharr_pool_run(p, &spec), 0);
    cr_assert_gt(progress_calls, 3);
    cr_assert_eq(progress_last, 40);
    cr_assert_eq(progress_total, 40);
    sharr_pool_destroy(p);
}

Test(pool, results_are_per_block_and_poll_does_not_cancel)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = worker_kernel, .rows = 2,
                           .result_size = sizeof(int),
                           .schedule = {SHARR_SCHED_STATIC, 0}};
    sharr_job *job;
    size_t done, total;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    /* A second submit is SHARR_EBUSY only while this one runs (see
     * test_pool_results.c). */
    while (!sharr_job_poll(job, 0.01))
        ;
    sharr_job_progress(job, &done, &total);
    cr_assert(done == 2 && total == 2);
    cr_assert_eq(sharr_job_wait(job, 0), 0);
    cr_assert_eq(*(const int *)sharr_job_result(job, 0), 1);
    cr_assert_eq(*(const int *)sharr_job_result(job, 1), 2);
    sharr_job_free(job);
    sharr_pool_destroy(p);
}

Test(pool, bad_specs_are_einval)
{
    sharr_pool *p = tu_pool(1);
    static char big[SHARR_JOB_ARG_MAX + 1];
    sharr_job_spec spec = {.kernel = range_kernel, .rows = 10};
    sharr_job *job;
    sharr_array *many[SHARR_JOB_MAX_ARRAYS + 1] = {0};
    spec.arg = big;
    spec.arg_size = sizeof big;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), SHARR_EINVAL);
    cr_assert(strstr(sharr_errmsg(), "4096") != NULL);
    spec.arg_size = 0;
    spec.kernel = NULL;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), SHARR_EINVAL);
    spec.kernel = range_kernel;
    spec.narrays = SHARR_JOB_MAX_ARRAYS + 1;
    spec.arrays = many;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), SHARR_EINVAL);
    spec.narrays = 0;
    spec.rows = (size_t)1 << 40;
    spec.result_size = 8;
    spec.per_row_results = 1;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), SHARR_EINVAL);
    cr_assert(strstr(sharr_errmsg(), "reserved") != NULL);
    /* After refused submits the pool still runs jobs. */
    spec.rows = 10;
    spec.result_size = 0;
    cr_assert_eq(sharr_pool_run(p, &spec), 0, "%s", sharr_errmsg());
    sharr_pool_destroy(p);
    sharr_pool_opts bad = {.workers = SHARR_POOL_MAX_WORKERS + 1};
    cr_assert_eq(sharr_pool_create(&bad, &p), SHARR_EINVAL);
    cr_assert_null(p);
}

Test(pool, null_pool_runs_in_the_caller_with_the_same_blocks)
{
    sharr_job_spec spec = {.kernel = worker_kernel, .rows = 10,
                           .result_size = sizeof(int),
                           .schedule = {SHARR_SCHED_DYNAMIC, 3}};
    sharr_job *job;
    size_t done, total;
    cr_assert_eq(sharr_pool_submit(NULL, &spec, &job), 0);
    cr_assert_eq(sharr_job_blocks(job), 4);
    sharr_job_progress(job, &done, &total);
    cr_assert(done == 4 && total == 4);
    cr_assert_eq(sharr_job_poll(job, 0), 1);
    cr_assert_eq(sharr_job_wait(job, 0), 0);
    cr_assert_eq(*(const int *)sharr_job_result(job, 3), 1);
    sharr_job_free(job);
    cr_assert_eq(sharr_pool_workers(NULL), 1);
}

/* ---- initializer, BLAS threads, sleeping ---- */

static int init_marks(int id, void *arg)
{
    sharr_array *a;
    if (sharr_array_open(arg, 0, &a) < 0)
        return -1;
    ((int32_t *)sharr_array_data(a))[id] = 100 + id;
    sharr_array_close(a);
    return 0;
}

Test(pool, initializer_runs_once_in_each_worker)
{
    sharr_array *a = tu_rows("init", SHARR_I32, 4, 0);
    sharr_pool_opts o = {.workers = 3, .init = init_marks,
                         .init_arg = (void *)tu_name("init")};
    sharr_pool *p;
    cr_assert_eq(sharr_pool_create(&o, &p), 0, "%s", sharr_errmsg());
    const int32_t *x = sharr_array_data(a);
    cr_assert(x[0] == 100 && x[1] == 101 && x[2] == 102 && x[3] == 0);
    sharr_pool_destroy(p);
    sharr_array_close(a);
    no_children_left();
}

static int init_fails_on_1(int id, void *arg)
{
    (void)arg;
    return id == 1 ? sharr_fail(SHARR_EIO, "no GPU for worker %d", id) : 0;
}

Test(pool, failing_initializer_fails_create_and_reaps_everything)
{
    sharr_pool_opts o = {.workers = 3, .init = init_fails_on_1};
    sharr_pool *p = (sharr_pool *)1;
    cr_assert_eq(sharr_pool_create(&o, &p), SHARR_EWORKER);
    cr_assert_null(p);
    cr_assert(strstr(sharr_errmsg(), "worker 1") != NULL, "%s", sharr_errmsg());
    cr_assert(strstr(sharr_errmsg(), "no GPU for worker 1") != NULL);
    no_children_left();
}

/* The threads of the calling process, from /proc/self/status. */
static int process_threads(void)
{
    char line[256];
    int n = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Threads:", 8) == 0)
            n = atoi(line + 8);
    fclose(f);
    return n;
}

/* Result: {BLAS thread count, threads of the worker after a dgemm large
 * enough for OpenBLAS to split}. */
static int blas_kernel(const sharr_block *b)
{
    enum { N = 256 };
    static double a[N * N], c[N * N];
    int *r = b->result;
    for (int i = 0; i < N * N; i++)
        a[i] = (double)(i % 7);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0, a,
                N, a, N, 0.0, c, N);
    r[0] = openblas_get_num_threads();
    r[1] = process_threads();
    return c[N + 1] == 0 ? SHARR_EIO : 0;
}

Test(pool, workers_run_openblas_with_the_asked_thread_count)
{
    sharr_pool_opts o = {.workers = 2};
    sharr_pool *p;
    sharr_job_spec spec = {.kernel = blas_kernel, .rows = 2,
                           .result_size = 2 * sizeof(int)};
    sharr_job *job;
    const int *r;
    cr_assert_eq(sharr_pool_create(&o, &p), 0);
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    cr_assert_eq(sharr_job_wait(job, 10), 0, "%s", sharr_errmsg());
    r = sharr_job_result(job, 0);
    cr_assert_eq(r[0], 1);
    /* One BLAS thread: no idle OpenBLAS server thread beside the worker. */
    cr_assert_eq(r[1], 1, "a worker has %d threads", r[1]);
    sharr_job_free(job);
    sharr_pool_destroy(p);
    o.blas_threads = 2;
    cr_assert_eq(sharr_pool_create(&o, &p), 0);
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    cr_assert_eq(sharr_job_wait(job, 10), 0, "%s", sharr_errmsg());
    r = sharr_job_result(job, 1);
    cr_assert_eq(r[0], 2);
    cr_assert_geq(r[1], 2, "a worker has %d threads", r[1]);
    sharr_job_free(job);
    sharr_pool_destroy(p);
}

Test(pool, idle_workers_sleep_instead_of_spinning)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = range_kernel, .rows = 2};
    cr_assert_eq(sharr_pool_run(p, &spec), 0);
    usleep(100000); /* past the spin */
    unsigned long long before;
    cr_assert_eq(tu_proc_stat(sharr_pool_worker_pid(p, 0), NULL, NULL, &before), 0);
    usleep(500000);
    unsigned long long after;
    cr_assert_eq(tu_proc_stat(sharr_pool_worker_pid(p, 0), NULL, NULL, &after), 0);
    cr_assert_leq(after - before, 2, "an idle worker used %llu ticks in 0.5 s",
                  after - before);
    sharr_pool_destroy(p);
}

/* ---- faults ---- */

static int segv_on_2(const sharr_block *b)
{
    if (b->index == 2) {
        signal(SIGSEGV, SIG_DFL); /* no sanitizer report, just the signal */
        raise(SIGSEGV);
    }
    return 0;
}

Test(pool, segfault_in_a_kernel_fails_the_job_fast_and_the_worker_is_replaced)
{
    sharr_pool *p = tu_pool(2);
    pid_t before[2] = {sharr_pool_worker_pid(p, 0), sharr_pool_worker_pid(p, 1)};
    sharr_job_spec spec = {.kernel = segv_on_2, .rows = 6,
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    double t0 = tu_now();
    cr_assert_eq(sharr_pool_run(p, &spec), SHARR_EWORKER);
    cr_assert_lt(tu_now() - t0, 1.0);
    cr_assert(strstr(sharr_errmsg(), "block 2") != NULL, "%s", sharr_errmsg());
    cr_assert(strstr(sharr_errmsg(), "signal 11") != NULL, "%s",
              sharr_errmsg());
    cr_assert(strstr(sharr_errmsg(), "worker ") != NULL);
    int replaced = (sharr_pool_worker_pid(p, 0) != before[0]) +
                   (sharr_pool_worker_pid(p, 1) != before[1]);
    cr_assert_eq(replaced, 1);
    spec.kernel = range_kernel;
    cr_assert_eq(sharr_pool_run(p, &spec), 0, "the next job succeeds");
    sharr_pool_destroy(p);
    no_children_left();
}

Test(pool, sigkill_of_a_worker_mid_job_gives_eworker_within_a_second)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = nap_kernel, .rows = 400,
                           .arg = &nap_20ms, .arg_size = sizeof nap_20ms,
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    sharr_job *job;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    usleep(50000);
    pid_t victim = sharr_pool_worker_pid(p, 1);
    double t0 = tu_now();
    kill(victim, SIGKILL);
    cr_assert_eq(sharr_job_wait(job, -1), SHARR_EWORKER);
    cr_assert_lt(tu_now() - t0, 1.0);
    cr_assert(strstr(sharr_errmsg(), "worker 1") != NULL, "%s",
              sharr_errmsg());
    cr_assert(strstr(sharr_errmsg(), "signal 9") != NULL, "%s",
              sharr_errmsg());
    sharr_job_free(job);
    cr_assert_neq(sharr_pool_worker_pid(p, 1), victim);
    spec.kernel = range_kernel;
    cr_assert_eq(sharr_pool_run(p, &spec), 0, "the next job succeeds");
    sharr_pool_destroy(p);
    no_children_left();
}

Test(pool, idle_worker_killed_between_jobs_is_replaced_at_next_submit)
{
    sharr_pool *p = tu_pool(2);
    pid_t victim = sharr_pool_worker_pid(p, 0);
    kill(victim, SIGKILL);
    usleep(50000);
    sharr_job_spec spec = {.kernel = range_kernel, .rows = 100};
    cr_assert_eq(sharr_pool_run(p, &spec), 0, "%s", sharr_errmsg());
    cr_assert_neq(sharr_pool_worker_pid(p, 0), victim);
    sharr_pool_destroy(p);
    no_children_left();
}

static int forever_on_0(const sharr_block *b)
{
    if (b->index == 0)
        for (;;)
            pause();
    return 0;
}

Test(pool, timeout_kills_the_stuck_worker_and_the_pool_recovers)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = forever_on_0, .rows = 4,
                           .schedule = {SHARR_SCHED_STATIC, 1}};
    sharr_job *job;
    pid_t stuck = sharr_pool_worker_pid(p, 0);
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    double t0 = tu_now();
    cr_assert_eq(sharr_job_wait(job, 0.3), SHARR_ETIMEDOUT);
    double took = tu_now() - t0;
    cr_assert(took >= 0.29 && took < 1.5, "timed out after %g s", took);
    cr_assert(strstr(sharr_errmsg(), "worker 0 (block 0)") != NULL, "%s",
              sharr_errmsg());
    sharr_job_free(job);
    cr_assert_neq(sharr_pool_worker_pid(p, 0), stuck);
    cr_assert_eq(kill(stuck, 0), -1, "the stuck worker is gone");
    spec.kernel = range_kernel;
    cr_assert_eq(sharr_pool_run(p, &spec), 0, "the next job succeeds");
    sharr_pool_destroy(p);
    no_children_left();
}


Test(pool, cancel_skips_blocks_not_yet_started)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = nap_kernel, .rows = 200,
                           .arg = &nap_5ms, .arg_size = sizeof nap_5ms,
                           .result_size = sizeof(int),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    sharr_job *job;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    usleep(50000);
    sharr_job_cancel(job);
    cr_assert_eq(sharr_job_wait(job, 10), SHARR_ECANCELED);
    int ran = 0;
    for (size_t i = 0; i < 200; i++)
        ran += *(const int *)sharr_job_result(job, i);
    cr_assert(ran > 0 && ran < 100, "%d blocks ran", ran);
    sharr_job_free(job);
    /* Freeing a running job cancels and waits for it. */
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    sharr_job_free(job);
    spec.kernel = range_kernel;
    cr_assert_eq(sharr_pool_run(p, &spec), 0);
    sharr_pool_destroy(p);
}

Test(pool, destroy_with_a_job_in_flight_drains_and_reaps)
{
    sharr_pool *p = tu_pool(2);
    pid_t w0 = sharr_pool_worker_pid(p, 0), w1 = sharr_pool_worker_pid(p, 1);
    sharr_job_spec spec = {.kernel = nap_kernel, .rows = 40,
                           .arg = &nap_5ms, .arg_size = sizeof nap_5ms,
                           .result_size = sizeof(int),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    sharr_job *job;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    double t0 = tu_now();
    sharr_pool_destroy(p); /* the job handle goes with the pool */
    cr_assert_lt(tu_now() - t0, 5.0);
    cr_assert_eq(kill(w0, 0), -1);
    cr_assert_eq(kill(w1, 0), -1);
    no_children_left();
}

Test(pool, terminate_kills_at_once)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = forever_on_0, .rows = 2};
    sharr_job *job;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    double t0 = tu_now();
    sharr_pool_terminate(p);
    cr_assert_lt(tu_now() - t0, 1.0);
    no_children_left();
}

Test(pool, workers_die_when_the_parent_is_sigkilled)
{
    int fds[2];
    pid_t workers[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t parent = fork();
    if (parent == 0) {
        sharr_pool_opts o = {.workers = 2};
        sharr_pool *p;
        if (sharr_pool_create(&o, &p) < 0)
            _exit(1);
        pid_t w[2] = {sharr_pool_worker_pid(p, 0), sharr_pool_worker_pid(p, 1)};
        (void)!write(fds[1], w, sizeof w);
        pause();
        _exit(0);
    }
    cr_assert_eq(read(fds[0], workers, sizeof workers),
                 (ssize_t)sizeof workers);
    kill(parent, SIGKILL);
    tu_reap(parent);
    double t0 = tu_now();
    for (int i = 0; i < 2; i++) {
        /* Gone, or a zombie waiting for init: either way not running. */
        for (;;) {
            char state;
            tu_proc_stat(workers[i], &state, NULL, NULL);
            if (state == 'X' || state == 'Z')
                break;
            cr_assert_lt(tu_now() - t0, 2.0, "worker %d outlived its parent",
                         (int)workers[i]);
            usleep(10000);
        }
    }
    close(fds[0]);
    close(fds[1]);
}

Test(pool, many_small_jobs_in_a_row)
{
    sharr_pool *p = tu_pool(2);
    sharr_array *a = tu_rows("many", SHARR_U32, 64, 0);
    sharr_job_spec spec = {.kernel = visit_kernel, .narrays = 1,
                           .arrays = &a, .result_size = sizeof(struct visit),
                           .schedule = {SHARR_SCHED_DYNAMIC, 5}};
    for (int i = 0; i < 3000; i++)
        cr_assert_eq(sharr_pool_run(p, &spec), 0, "job %d: %s", i,
                     sharr_errmsg());
    const uint32_t *x = sharr_array_data(a);
    for (size_t r = 0; r < 64; r++)
        cr_assert_eq(x[r], 3000);
    sharr_array_close(a);
    sharr_pool_destroy(p);
}
