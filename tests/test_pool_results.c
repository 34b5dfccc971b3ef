/*
 * test_pool_results.c - what a job gives back, as Python's Pool does: block
 * statuses, results that outlive the next job, sharr_pool_map, per-row
 * layout, imap and imap_unordered (sharr_job_next*), tasks with their own
 * arguments (apply_async, starmap), callbacks and error callbacks, and
 * maxtasksperchild; with their timeouts, errors and hostile cases.
 */
#include "testutil.h"

#include <stdatomic.h>
#include <sys/mman.h>

TestSuite(results, .init = tu_setup, .fini = tu_cleanup, .timeout = 60);

static void no_children_left(void)
{
    int st;
    errno = 0;
    pid_t rc = waitpid(-1, &st, WNOHANG);
    cr_assert(rc == -1 && errno == ECHILD, "a child process is left "
              "(waitpid gave %d)", (int)rc);
}

/* Result of block b: b * b + 1 (never 0, so a zero slot is a block that
 * did not write). */
static int square_kernel(const sharr_block *b)
{
    *(uint64_t *)b->result = (uint64_t)b->index * b->index + 1;
    return 0;
}

/* Sleeps the microseconds of its argument (if any), then as square. */
static int nap_square(const sharr_block *b)
{
    if (b->arg)
        usleep(*(const unsigned *)b->arg);
    return square_kernel(b);
}

/* Fails block `*arg` (an index in the argument) with SHARR_ERANGE. */
static int fail_one(const sharr_block *b)
{
    const size_t *bad = b->arg;
    if (b->index == *bad)
        return sharr_fail(SHARR_ERANGE, "block %zu is bad", b->index);
    usleep(2000);
    return square_kernel(b);
}

static int forever_on_1(const sharr_block *b)
{
    if (b->index == 1)
        for (;;)
            pause();
    return square_kernel(b);
}

static const unsigned nap_1ms = 1000, nap_20ms = 20000;

/* ---- statuses ---- */

Test(results, every_block_has_a_status_and_skipped_ones_are_not_zero_results)
{
    sharr_pool *p = tu_pool(2);
    size_t bad = 3;
    sharr_job_spec spec = {.kernel = fail_one, .rows = 200,
                           .arg = &bad, .arg_size = sizeof bad,
                           .result_size = sizeof(uint64_t),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    sharr_job *job;
    int st;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_job_wait(job, 10), SHARR_ERANGE);
    size_t ok = 0, skipped = 0;
    for (size_t i = 0; i < 200; i++) {
        cr_assert_eq(sharr_job_block_status(job, i, &st), 0);
        uint64_t r = *(const uint64_t *)sharr_job_result(job, i);
        if (i == 3) {
            cr_assert_eq(st, SHARR_ERANGE);
        } else if (st == 0) {
            cr_assert_eq(r, (uint64_t)i * i + 1, "block %zu", i);
            ok++;
        } else {
            cr_assert_eq(st, SHARR_ECANCELED, "block %zu: %d", i, st);
            cr_assert_eq(r, 0);
            skipped++;
        }
    }
    cr_assert_gt(skipped, 100, "%zu skipped", skipped);
    cr_assert_eq(ok + skipped + 1, 200);
    cr_assert_eq(sharr_job_block_status(job, 200, &st), SHARR_EINVAL);
    sharr_job_free(job);
    /* While it runs, a block not over yet says so. */
    spec.kernel = forever_on_1;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    usleep(20000);
    cr_assert_eq(sharr_job_block_status(job, 1, &st), 0);
    cr_assert_eq(st, SHARR_BLOCK_PENDING);
    cr_assert_eq(sharr_job_wait(job, 0.1), SHARR_ETIMEDOUT);
    cr_assert_eq(sharr_job_block_status(job, 1, &st), 0);
    cr_assert_eq(st, SHARR_ETIMEDOUT, "the block a timeout killed: %d", st);
    cr_assert_eq(sharr_job_block_status(job, 0, &st), 0);
    cr_assert_eq(st, 0);
    sharr_job_free(job);
    sharr_pool_destroy(p);
}

static int segv_on_2(const sharr_block *b)
{
    if (b->index == 2) {
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
    }
    return square_kernel(b);
}

Test(results, the_block_a_worker_died_in_says_eworker)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = segv_on_2, .rows = 6,
                           .result_size = sizeof(uint64_t),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    sharr_job *job;
    int st;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    cr_assert_eq(sharr_job_wait(job, 10), SHARR_EWORKER);
    cr_assert_eq(sharr_job_block_status(job, 2, &st), 0);
    cr_assert_eq(st, SHARR_EWORKER);
    sharr_job_free(job);
    /* Inline (pool NULL) jobs have statuses too. */
    size_t bad = 1;
    sharr_job_spec inl = {.kernel = fail_one, .rows = 3, .arg = &bad,
                          .arg_size = sizeof bad,
                          .result_size = sizeof(uint64_t),
                          .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    cr_assert_eq(sharr_pool_submit(NULL, &inl, &job), 0);
    cr_assert_eq(sharr_job_wait(job, 0), SHARR_ERANGE);
    cr_assert_eq(sharr_job_block_status(job, 0, &st), 0);
    cr_assert_eq(st, 0);
    cr_assert_eq(sharr_job_block_status(job, 1, &st), 0);
    cr_assert_eq(st, SHARR_ERANGE);
    cr_assert_eq(sharr_job_block_status(job, 2, &st), 0);
    cr_assert_eq(st, SHARR_ECANCELED);
    sharr_job_free(job);
    sharr_pool_destroy(p);
}

/* ---- results outlive the next job ---- */

Test(results, a_finished_job_never_blocks_the_pool_and_keeps_its_results)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = square_kernel, .rows = 50,
                           .result_size = sizeof(uint64_t),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    sharr_job *jobs[5];
    for (int k = 0; k < 5; k++) {
        cr_assert_eq(sharr_pool_submit(p, &spec, &jobs[k]), 0, "job %d: %s",
                     k, sharr_errmsg());
        cr_assert_eq(sharr_job_wait(jobs[k], 10), 0);
        spec.rows += 10;
    }
    /* Even a job never waited for: the next submit finds it over. */
    sharr_job *unwaited, *next;
    cr_assert_eq(sharr_pool_submit(p, &spec, &unwaited), 0);
    usleep(50000);
    cr_assert_eq(sharr_pool_submit(p, &spec, &next), 0, "%s",
                 sharr_errmsg());
    cr_assert_eq(sharr_job_wait(next, 10), 0);
    cr_assert_eq(sharr_job_wait(unwaited, 0), 0);
    /* ... and the pool's own operations run meanwhile. */
    sharr_array *a = tu_rows("outlive", SHARR_F64, 100, 0);
    sharr_fill_spec f = {.kind = SHARR_FILL_RANGE};
    cr_assert_eq(sharr_fill(p, a, &f, NULL), 0, "%s", sharr_errmsg());
    for (int k = 0; k < 5; k++) {
        cr_assert_eq(sharr_job_blocks(jobs[k]), 50 + 10 * (size_t)k);
        for (size_t i = 0; i < sharr_job_blocks(jobs[k]); i++) {
            int st;
            cr_assert_eq(*(const uint64_t *)sharr_job_result(jobs[k], i),
                         i * i + 1, "job %d block %zu", k, i);
            cr_assert_eq(sharr_job_block_status(jobs[k], i, &st), 0);
            cr_assert_eq(st, 0);
        }
        sharr_job_free(jobs[k]);
    }
    cr_assert_eq(*(const uint64_t *)sharr_job_result(unwaited, 99),
                 99 * 99 + 1);
    sharr_job_free(unwaited);
    sharr_job_free(next);
    sharr_array_close(a);
    sharr_pool_destroy(p);
}

Test(results, a_running_job_still_holds_the_pool_with_ebusy)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec slow = {.kernel = nap_square, .rows = 4,
                           .arg = &nap_20ms, .arg_size = sizeof nap_20ms,
                           .result_size = sizeof(uint64_t)};
    sharr_job *job, *other = NULL;
    cr_assert_eq(sharr_pool_submit(p, &slow, &job), 0);
    cr_assert_eq(sharr_pool_submit(p, &slow, &other), SHARR_EBUSY);
    cr_assert_null(other);
    cr_assert(strstr(sharr_errmsg(), "still running") != NULL, "%s",
              sharr_errmsg());
    cr_assert_eq(sharr_job_wait(job, 10), 0);
    cr_assert_eq(sharr_pool_submit(p, &slow, &other), 0);
    sharr_job_free(other);
    sharr_job_free(job);
    sharr_pool_destroy(p);
}

Test(results, pool_map_fills_the_callers_buffer)
{
    sharr_pool *p = tu_pool(2);
    uint64_t out[100];
    sharr_job_spec spec = {.kernel = square_kernel, .rows = 100,
                           .result_size = sizeof(uint64_t),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    memset(out, 0xff, sizeof out);
    cr_assert_eq(sharr_pool_map(p, &spec, out, sizeof out), 0, "%s",
                 sharr_errmsg());
    for (size_t i = 0; i < 100; i++)
        cr_assert_eq(out[i], i * i + 1);
    /* Too small a buffer: refused before anything runs. */
    cr_assert_eq(sharr_pool_map(p, &spec, out, sizeof out - 1), SHARR_EINVAL);
    cr_assert(strstr(sharr_errmsg(), "800") != NULL, "%s", sharr_errmsg());
    /* The same in the caller. */
    memset(out, 0, sizeof out);
    cr_assert_eq(sharr_pool_map(NULL, &spec, out, sizeof out), 0);
    cr_assert_eq(out[99], 99 * 99 + 1);
    sharr_pool_destroy(p);
}

/* Per-row results: row r's slot is b->result + (r - r0) * result_size. */
static int per_row_kernel(const sharr_block *b)
{
    uint32_t *slot = b->result;
    for (size_t r = b->r0; r < b->r1; r++)
        slot[r - b->r0] = (uint32_t)(r * 3);
    return 0;
}

Test(results, per_row_results_are_contiguous_from_row_r0)
{
    sharr_pool *p = tu_pool(3);
    uint32_t out[1000];
    sharr_job_spec spec = {.kernel = per_row_kernel, .rows = 1000,
                           .result_size = sizeof(uint32_t),
                           .per_row_results = 1,
                           .schedule = {SHARR_SCHED_GUIDED, 7}};
    cr_assert_eq(sharr_pool_map(p, &spec, out, sizeof out), 0);
    for (size_t r = 0; r < 1000; r++)
        cr_assert_eq(out[r], r * 3, "row %zu", r);
    sharr_pool_destroy(p);
}

/* ---- imap, in block order ---- */

/* Block b sleeps in proportion to (nblocks - b): late blocks finish first. */
static int reverse_nap(const sharr_block *b)
{
    usleep((unsigned)(20 - b->index) * 1000);
    return square_kernel(b);
}

Test(results, next_gives_every_block_in_block_order_while_the_job_runs)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = reverse_nap, .rows = 20,
                           .result_size = sizeof(uint64_t),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    sharr_job *job;
    size_t b, expect = 0, done, total;
    int rc;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    while ((rc = sharr_job_next(job, &b, 10)) == 1) {
        cr_assert_eq(b, expect++);
        cr_assert_eq(*(const uint64_t *)sharr_job_result(job, b), b * b + 1);
        if (b == 0) {
            sharr_job_progress(job, &done, &total);
            cr_assert_lt(done, total, "block 0 came only at the job's end");
        }
    }
    cr_assert_eq(rc, 0, "%d: %s", rc, sharr_errmsg());
    cr_assert_eq(expect, 20);
    cr_assert_eq(sharr_job_next(job, &b, 0), 0, "again: still the end");
    cr_assert_eq(sharr_job_wait(job, 0), 0);
    /* The other order on the same job is refused. */
    cr_assert_eq(sharr_job_next_unordered(job, &b, 0), SHARR_EINVAL);
    cr_assert_eq(b, SIZE_MAX);
    sharr_job_free(job);
    sharr_pool_destroy(p);
}

Test(results, next_times_out_without_cancelling_the_job)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = forever_on_1, .rows = 4,
                           .result_size = sizeof(uint64_t),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    sharr_job *job;
    size_t b;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    cr_assert_eq(sharr_job_next(job, &b, 5), 1);
    cr_assert_eq(b, 0);
    double t0 = tu_now();
    cr_assert_eq(sharr_job_next(job, &b, 0.2), SHARR_ETIMEDOUT);
    double took = tu_now() - t0;
    cr_assert(took >= 0.19 && took < 1.0, "next(0.2) took %.3f s", took);
    cr_assert_eq(b, SIZE_MAX);
    cr_assert_eq(sharr_job_next(job, &b, 0), SHARR_ETIMEDOUT, "just look");
    cr_assert_eq(sharr_job_poll(job, 0), 0, "next never cancels");
    /* The stuck block ends with the wait's timeout; next goes on. */
    cr_assert_eq(sharr_job_wait(job, 0.05), SHARR_ETIMEDOUT);
    cr_assert_eq(sharr_job_next(job, &b, 0), SHARR_ETIMEDOUT);
    cr_assert_eq(b, 1, "block 1 was killed by the timeout");
    int rc;
    size_t seen = 2;
    while ((rc = sharr_job_next(job, &b, 0)) != 0) {
        cr_assert_eq(b, seen++);
        cr_assert(rc == 1 || rc == SHARR_ECANCELED, "%d", rc);
    }
    cr_assert_eq(seen, 4);
    sharr_job_free(job);
    sharr_pool_destroy(p);
}

Test(results, next_reports_a_failed_block_then_goes_on)
{
    sharr_pool *p = tu_pool(2);
    size_t bad = 5, b;
    sharr_job_spec spec = {.kernel = fail_one, .rows = 30, .arg = &bad,
                           .arg_size = sizeof bad, .keep_going = 1,
                           .result_size = sizeof(uint64_t),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    sharr_job *job;
    int rc, ok = 0;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    for (size_t i = 0; (rc = sharr_job_next(job, &b, 10)) != 0; i++) {
        cr_assert_eq(b, i);
        if (i == 5) {
            cr_assert_eq(rc, SHARR_ERANGE);
            cr_assert(strstr(sharr_errmsg(), "block 5 is bad") != NULL, "%s",
                      sharr_errmsg());
        } else {
            cr_assert_eq(rc, 1, "block %zu: %d %s", i, rc, sharr_errmsg());
            ok++;
        }
    }
    cr_assert_eq(ok, 29, "keep_going: every other block ran");
    cr_assert_eq(sharr_job_wait(job, 0), SHARR_ERANGE, "the job's status "
                 "is still its first error");
    sharr_job_free(job);
    sharr_pool_destroy(p);
}

/* ---- imap_unordered ---- */

static int slow_first(const sharr_block *b)
{
    usleep(b->index == 0 ? 150000 : 1000);
    return square_kernel(b);
}

Test(results, next_unordered_gives_blocks_as_they_finish_each_once)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = slow_first, .rows = 20,
                           .result_size = sizeof(uint64_t),
                           .schedule = {SHARR_SCHED_STATIC, 0}};
    sharr_job *job;
    size_t b, order[20], n = 0;
    unsigned char seen[20] = {0};
    int rc;
    /* Two static blocks, one per worker: the second is over first. */
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    while ((rc = sharr_job_next_unordered(job, &b, 10)) == 1) {
        cr_assert_lt(b, sharr_job_blocks(job));
        cr_assert_eq(seen[b]++, 0, "block %zu given twice", b);
        order[n++] = b;
    }
    cr_assert_eq(rc, 0, "%s", sharr_errmsg());
    cr_assert_eq(n, 2);
    cr_assert_eq(order[0], 1, "the short block finishes first");
    sharr_job_free(job);

    /* Many blocks: every one exactly once, with its result. */
    spec.kernel = nap_square;
    spec.arg = &nap_1ms;
    spec.arg_size = sizeof nap_1ms;
    spec.rows = 300;
    spec.schedule = (sharr_schedule){SHARR_SCHED_DYNAMIC, 1};
    unsigned char seen2[300] = {0};
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    n = 0;
    while ((rc = sharr_job_next_unordered(job, &b, 10)) == 1) {
        cr_assert_eq(seen2[b]++, 0, "block %zu given twice", b);
        cr_assert_eq(*(const uint64_t *)sharr_job_result(job, b), b * b + 1);
        n++;
    }
    cr_assert_eq(rc, 0);
    cr_assert_eq(n, 300);
    sharr_job_free(job);
    sharr_pool_destroy(p);
}

Test(results, a_worker_killed_while_imap_is_consumed)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = nap_square, .rows = 400,
                           .arg = &nap_1ms, .arg_size = sizeof nap_1ms,
                           .result_size = sizeof(uint64_t),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    for (int order = 0; order < 2; order++) {
        sharr_job *job;
        size_t b, ok = 0, failed = 0, n = 0;
        unsigned char seen[400] = {0};
        int rc, worker_err = 0;
        cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0, "%s",
                     sharr_errmsg());
        for (;;) {
            rc = order ? sharr_job_next_unordered(job, &b, 10)
                       : sharr_job_next(job, &b, 10);
            if (rc == 0)
                break;
            cr_assert_neq(b, SIZE_MAX, "the call failed: %d %s", rc,
                          sharr_errmsg());
            cr_assert_eq(seen[b]++, 0, "block %zu given twice", b);
            if (++n == 20)
                kill(sharr_pool_worker_pid(p, 1), SIGKILL);
            if (rc == 1) {
                cr_assert_eq(*(const uint64_t *)sharr_job_result(job, b),
                             b * b + 1);
                ok++;
            } else {
                cr_assert(rc == SHARR_EWORKER || rc == SHARR_ECANCELED,
                          "%d", rc);
                worker_err += rc == SHARR_EWORKER;
                failed++;
            }
        }
        cr_assert_eq(ok + failed, 400, "every block was given once");
        cr_assert_gt(failed, 0);
        cr_assert_leq(worker_err, 1);
        cr_assert_eq(sharr_job_wait(job, 0), SHARR_EWORKER, "%s",
                     sharr_errmsg());
        /* The statuses say the same as next did. */
        for (size_t i = 0; i < 400; i++) {
            int st;
            sharr_job_block_status(job, i, &st);
            cr_assert(st == 0 || st == SHARR_EWORKER || st == SHARR_ECANCELED);
        }
        sharr_job_free(job);
        usleep(20000);
    }
    sharr_job_spec quick = {.kernel = square_kernel, .rows = 10,
                            .result_size = sizeof(uint64_t)};
    cr_assert_eq(sharr_pool_run(p, &quick), 0, "the pool recovers: %s",
                 sharr_errmsg());
    sharr_pool_destroy(p);
    no_children_left();
}

static size_t progress_seen;

static void count_progress(size_t done, size_t total, void *ctx)
{
    (void)ctx;
    cr_assert_leq(done, total);
    progress_seen = done;
}

Test(results, next_keeps_the_progress_callback_and_works_after_the_pool)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = nap_square, .rows = 30,
                           .arg = &nap_1ms, .arg_size = sizeof nap_1ms,
                           .result_size = sizeof(uint64_t),
                           .progress = count_progress,
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    sharr_job *job;
    size_t b, n = 0;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    cr_assert_eq(sharr_job_next(job, &b, 10), 1);
    n++;
    while (n < 10 && sharr_job_next(job, &b, 10) == 1)
        n++;
    sharr_pool_destroy(p); /* drains the job; the handle keeps the rest */
    cr_assert_eq(progress_seen, 30);
    while (sharr_job_next(job, &b, 0) == 1) {
        cr_assert_eq(*(const uint64_t *)sharr_job_result(job, b), b * b + 1);
        n++;
    }
    cr_assert_eq(n, 30);
    sharr_job_free(job);
}

/* ---- tasks with their own arguments (apply_async, starmap) ---- */

struct pair { int64_t a, b; };

static int add_task(const sharr_block *b)
{
    const struct pair *t = b->task_arg;
    cr_assert_eq(b->task_arg_size, sizeof *t);
    cr_assert_eq(b->r1, b->r0 + 1);
    *(int64_t *)b->result = t->a + t->b + *(const int64_t *)b->arg;
    return 0;
}

Test(results, tasks_get_their_own_records_and_result_slots)
{
    sharr_pool *p = tu_pool(3);
    enum { N = 1000 };
    static struct pair args[N];
    static int64_t out[N];
    int64_t bias = 7;
    for (int i = 0; i < N; i++)
        args[i] = (struct pair){i, 2 * i};
    sharr_job_spec spec = {.kernel = add_task, .ntasks = N,
                           .task_args = args, .task_arg_size = sizeof *args,
                           .arg = &bias, .arg_size = sizeof bias,
                           .result_size = sizeof(int64_t)};
    cr_assert_eq(sharr_pool_map(p, &spec, out, sizeof out), 0, "%s",
                 sharr_errmsg());
    for (int i = 0; i < N; i++)
        cr_assert_eq(out[i], 3 * i + 7, "task %d", i);
    /* Inline too, and static,1. */
    memset(out, 0, sizeof out);
    spec.schedule.kind = SHARR_SCHED_STATIC;
    cr_assert_eq(sharr_pool_map(NULL, &spec, out, sizeof out), 0);
    cr_assert_eq(out[N - 1], 3 * (N - 1) + 7);
    cr_assert_eq(sharr_pool_map(p, &spec, out, sizeof out), 0);
    cr_assert_eq(out[N - 1], 3 * (N - 1) + 7);
    sharr_pool_destroy(p);
}

Test(results, bad_task_specs_are_einval)
{
    sharr_pool_opts o = {.workers = 1, .task_bytes = 4096};
    sharr_pool *p;
    static char big[SHARR_TASK_ARG_MAX + 1];
    sharr_job *job;
    cr_assert_eq(sharr_pool_create(&o, &p), 0);
    sharr_job_spec spec = {.kernel = add_task, .ntasks = 2, .task_args = big,
                           .task_arg_size = sizeof big};
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), SHARR_EINVAL);
    cr_assert(strstr(sharr_errmsg(), "4096") != NULL, "%s", sharr_errmsg());
    spec.task_arg_size = 16;
    spec.task_args = NULL;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), SHARR_EINVAL);
    spec.task_args = big;
    spec.ntasks = 257; /* 4112 bytes > task_bytes */
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), SHARR_EINVAL);
    cr_assert(strstr(sharr_errmsg(), "task_bytes") != NULL, "%s",
              sharr_errmsg());
    spec.ntasks = 2;
    spec.rows = 5;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), SHARR_EINVAL);
    spec.rows = 0;
    spec.schedule = (sharr_schedule){SHARR_SCHED_DYNAMIC, 4};
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), SHARR_EINVAL);
    sharr_pool_destroy(p);
}

/* ---- callbacks ---- */

struct cb_log {
    size_t ok, failed, cancelled;
    unsigned char seen[256];
    int fail_at;          /* the callback of this block fails; -1: none */
    int last_code;
    char last_detail[256];
};

static int on_done(size_t block, const void *result, void *ctx)
{
    struct cb_log *l = ctx;
    cr_assert_eq(l->seen[block]++, 0, "block %zu called back twice", block);
    cr_assert_eq(*(const uint64_t *)result, block * block + 1);
    l->ok++;
    if ((int)block == l->fail_at)
        return sharr_fail(SHARR_EDOM, "the callback refuses block %zu",
                          block);
    return 0;
}

static int on_error(size_t block, int code, const char *detail, void *ctx)
{
    struct cb_log *l = ctx;
    cr_assert_eq(l->seen[block]++, 0, "block %zu called back twice", block);
    l->last_code = code;
    snprintf(l->last_detail, sizeof l->last_detail, "%s", detail);
    if (code == SHARR_ECANCELED)
        l->cancelled++;
    else
        l->failed++;
    return 0;
}

Test(results, every_block_gets_exactly_one_callback_in_the_caller)
{
    sharr_pool *p = tu_pool(2);
    struct cb_log log = {.fail_at = -1};
    size_t bad = 17;
    sharr_job_spec spec = {.kernel = fail_one, .rows = 200, .arg = &bad,
                           .arg_size = sizeof bad,
                           .result_size = sizeof(uint64_t),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1},
                           .callback = on_done, .error_callback = on_error,
                           .callback_ctx = &log};
    cr_assert_eq(sharr_pool_run(p, &spec), SHARR_ERANGE);
    cr_assert_eq(log.failed, 1);
    cr_assert_eq(log.ok + log.failed + log.cancelled, 200);
    cr_assert_gt(log.cancelled, 0);
    cr_assert_eq(log.last_code, SHARR_ECANCELED, "skipped blocks come last");
    cr_assert(strstr(log.last_detail, "did not run") != NULL, "%s",
              log.last_detail);
    /* keep_going: each failure its own error callback with its detail. */
    memset(&log, 0, sizeof log);
    log.fail_at = -1;
    spec.keep_going = 1;
    cr_assert_eq(sharr_pool_run(p, &spec), SHARR_ERANGE);
    cr_assert_eq(log.ok, 199);
    cr_assert_eq(log.failed, 1);
    cr_assert_eq(log.last_code, SHARR_ERANGE);
    cr_assert(strstr(log.last_detail, "block 17 is bad") != NULL, "%s",
              log.last_detail);
    /* Inline: the same calls. */
    memset(&log, 0, sizeof log);
    log.fail_at = -1;
    cr_assert_eq(sharr_pool_run(NULL, &spec), SHARR_ERANGE);
    cr_assert_eq(log.ok, 199);
    cr_assert_eq(log.failed, 1);
    sharr_pool_destroy(p);
}

Test(results, a_failing_callback_stops_the_callbacks_and_fails_the_job)
{
    sharr_pool *p = tu_pool(2);
    struct cb_log log = {.fail_at = 3};
    sharr_job_spec spec = {.kernel = nap_square, .rows = 200,
                           .arg = &nap_1ms, .arg_size = sizeof nap_1ms,
                           .result_size = sizeof(uint64_t),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1},
                           .callback = on_done, .error_callback = on_error,
                           .callback_ctx = &log};
    sharr_job *job;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    cr_assert_eq(sharr_job_wait(job, 10), SHARR_EDOM);
    cr_assert(strstr(sharr_errmsg(), "callback of block 3 failed") != NULL &&
              strstr(sharr_errmsg(), "refuses block 3") != NULL, "%s",
              sharr_errmsg());
    size_t calls = log.ok + log.failed + log.cancelled;
    cr_assert_lt(calls, 200, "no callback after the failing one");
    cr_assert_eq(log.seen[3], 1);
    int st, skipped = 0;
    for (size_t i = 0; i < 200; i++) {
        sharr_job_block_status(job, i, &st);
        skipped += st == SHARR_ECANCELED;
    }
    cr_assert_gt(skipped, 0, "the rest of the job was cancelled");
    sharr_job_free(job);
    cr_assert_eq(sharr_pool_run(p, &(sharr_job_spec){.kernel = square_kernel,
                 .rows = 4, .result_size = 8}), 0, "the pool goes on");
    sharr_pool_destroy(p);
}

static int error_cb_fails(size_t block, int code, const char *detail,
                          void *ctx)
{
    (void)detail;
    (*(int *)ctx)++;
    return sharr_fail(code, "the error callback of block %zu gives up",
                      block);
}

Test(results, a_failing_error_callback_fails_the_job_with_its_code)
{
    sharr_pool *p = tu_pool(2);
    size_t bad = 0;
    int calls = 0;
    sharr_job_spec spec = {.kernel = fail_one, .rows = 50, .arg = &bad,
                           .arg_size = sizeof bad, .keep_going = 1,
                           .result_size = sizeof(uint64_t),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1},
                           .error_callback = error_cb_fails,
                           .callback_ctx = &calls};
    /* The kernel's error came first: the job keeps it, the callbacks stop
     * and the rest is cancelled. */
    cr_assert_eq(sharr_pool_run(p, &spec), SHARR_ERANGE);
    cr_assert_eq(calls, 1);
    sharr_pool_destroy(p);
}

struct reenter { sharr_job *job; sharr_pool *pool; int wait_rc, next_rc,
                 submit_rc; };

static int reentering_callback(size_t block, const void *result, void *ctx)
{
    struct reenter *r = ctx;
    sharr_job *other;
    size_t b;
    (void)result;
    if (block == 0 || !r->wait_rc) {
        r->wait_rc = sharr_job_wait(r->job, 0);
        r->next_rc = sharr_job_next(r->job, &b, 0);
        r->submit_rc = sharr_pool_submit(r->pool, &(sharr_job_spec){
            .kernel = square_kernel, .rows = 1}, &other);
    }
    sharr_job_cancel(r->job); /* allowed */
    return 0;
}

Test(results, a_callback_cannot_wait_on_its_own_job_but_may_cancel_it)
{
    sharr_pool *p = tu_pool(2);
    struct reenter r = {.pool = p};
    sharr_job_spec spec = {.kernel = nap_square, .rows = 100,
                           .arg = &nap_1ms, .arg_size = sizeof nap_1ms,
                           .result_size = sizeof(uint64_t),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1},
                           .callback = reentering_callback,
                           .callback_ctx = &r};
    cr_assert_eq(sharr_pool_submit(p, &spec, &r.job), 0);
    cr_assert_eq(sharr_job_wait(r.job, 10), SHARR_ECANCELED);
    cr_assert_eq(r.wait_rc, SHARR_EBUSY);
    cr_assert_eq(r.next_rc, SHARR_EBUSY);
    cr_assert_eq(r.submit_rc, SHARR_EBUSY);
    sharr_job_free(r.job);
    sharr_pool_destroy(p);
}

Test(results, callbacks_of_a_job_freed_unwaited_are_not_called)
{
    sharr_pool *p = tu_pool(2);
    struct cb_log log = {.fail_at = -1};
    sharr_job_spec spec = {.kernel = nap_square, .rows = 20,
                           .arg = &nap_1ms, .arg_size = sizeof nap_1ms,
                           .result_size = sizeof(uint64_t),
                           .callback = on_done, .error_callback = on_error,
                           .callback_ctx = &log};
    sharr_job *job;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    sharr_job_free(job);
    cr_assert_eq(log.ok + log.failed + log.cancelled, 0);
    sharr_pool_destroy(p);
}

/* ---- maxtasksperchild ---- */

static int pid_kernel(const sharr_block *b)
{
    *(int32_t *)b->result = (int32_t)getpid();
    usleep(500);
    return 0;
}

static int count_pids(const int32_t *pids, size_t n, size_t max_each)
{
    int distinct = 0;
    for (size_t i = 0; i < n; i++) {
        size_t same = 0, first = 1;
        for (size_t j = 0; j < n; j++) {
            same += pids[j] == pids[i];
            if (j < i && pids[j] == pids[i])
                first = 0;
        }
        cr_assert_leq(same, max_each, "pid %d ran %zu blocks", pids[i],
                      same);
        distinct += (int)first;
    }
    return distinct;
}

Test(results, maxtasksperchild_replaces_workers_while_jobs_run)
{
    sharr_pool_opts o = {.workers = 2, .max_blocks_per_worker = 3};
    sharr_pool *p;
    int32_t pids[60];
    cr_assert_eq(sharr_pool_create(&o, &p), 0, "%s", sharr_errmsg());
    pid_t first = sharr_pool_worker_pid(p, 0);
    sharr_job_spec spec = {.kernel = pid_kernel, .rows = 60,
                           .result_size = sizeof(int32_t),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    cr_assert_eq(sharr_pool_map(p, &spec, pids, sizeof pids), 0, "%s",
                 sharr_errmsg());
    cr_assert_geq(count_pids(pids, 60, 3), 20, "60 blocks at 3 per worker");
    for (int i = 0; i < 60; i++)
        cr_assert_neq(pids[i], (int32_t)getpid());
    /* Static shares too: a replacement resumes its slot's share. */
    spec.schedule = (sharr_schedule){SHARR_SCHED_STATIC, 1};
    cr_assert_eq(sharr_pool_map(p, &spec, pids, sizeof pids), 0, "%s",
                 sharr_errmsg());
    cr_assert_geq(count_pids(pids, 60, 3), 20);
    spec.schedule = (sharr_schedule){SHARR_SCHED_STATIC, 0};
    cr_assert_eq(sharr_pool_map(p, &spec, pids, 2 * sizeof *pids), 0);
    /* Every replacement came from the supervisor. */
    cr_assert_neq(sharr_pool_worker_pid(p, 0), first);
    for (int i = 0; i < 10; i++) {
        pid_t w = sharr_pool_worker_pid(p, i % 2);
        errno = 0;
        if (w > 0)
            cr_assert(waitpid(w, NULL, WNOHANG) == -1 && errno == ECHILD);
    }
    sharr_pool_destroy(p);
    no_children_left();
}

static int init_counts(int id, void *arg)
{
    (void)id;
    atomic_fetch_add((atomic_int *)arg, 1);
    return 0;
}

Test(results, maxtasksperchild_runs_the_initializer_in_each_replacement)
{
    atomic_int *inits = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sharr_pool_opts o = {.workers = 2, .max_blocks_per_worker = 5,
                         .init = init_counts, .init_arg = inits};
    sharr_pool *p;
    cr_assert_eq(sharr_pool_create(&o, &p), 0);
    sharr_job_spec spec = {.kernel = square_kernel, .rows = 40,
                           .result_size = sizeof(uint64_t),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    for (int k = 0; k < 5; k++)
        cr_assert_eq(sharr_pool_run(p, &spec), 0, "%s", sharr_errmsg());
    /* 200 blocks at 5 per worker: 40 workers, the first 2 included. */
    double t0 = tu_now();
    while (atomic_load(inits) < 40 && tu_now() - t0 < 5)
        usleep(1000);
    cr_assert_geq(atomic_load(inits), 40, "%d initializers ran",
                  atomic_load(inits));
    sharr_pool_destroy(p);
    munmap(inits, 4096);
    no_children_left();
}

Test(results, a_forked_child_cannot_read_its_parents_job_areas)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = square_kernel, .rows = 8,
                           .result_size = sizeof(uint64_t),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    sharr_job *job;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    cr_assert_eq(sharr_job_wait(job, 10), 0);
    pid_t child = fork();
    if (child == 0) {
        size_t b;
        int st;
        /* The pool's areas are not mapped in a forked child: refused,
         * never a crash. */
        int bad = sharr_job_next(job, &b, 0) != SHARR_EINVAL ||
                  sharr_job_block_status(job, 0, &st) != SHARR_EINVAL ||
                  sharr_job_wait(job, 0) != 0 || sharr_job_poll(job, 0) != 1;
        _exit(bad);
    }
    int st = tu_reap(child);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
    size_t b;
    cr_assert_eq(sharr_job_next(job, &b, 0), 1, "the parent still can");
    sharr_job_free(job);
    sharr_pool_destroy(p);
}

Test(results, maxtasksperchild_with_a_worker_killed_and_a_timeout)
{
    sharr_pool_opts o = {.workers = 2, .max_blocks_per_worker = 2};
    sharr_pool *p;
    cr_assert_eq(sharr_pool_create(&o, &p), 0);
    sharr_job_spec spec = {.kernel = nap_square, .rows = 100,
                           .arg = &nap_1ms, .arg_size = sizeof nap_1ms,
                           .result_size = sizeof(uint64_t),
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    sharr_job *job;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    usleep(20000);
    pid_t victim;
    double t0 = tu_now();
    while ((victim = sharr_pool_worker_pid(p, 0)) <= 0 &&
           tu_now() - t0 < 2)
        usleep(100); /* between incarnations */
    kill(victim, SIGKILL);
    int err = sharr_job_wait(job, 10);
    cr_assert(err == SHARR_EWORKER || err == 0, "%d: %s", err,
              sharr_errmsg());
    sharr_job_free(job);
    /* A stuck block with retiring workers: the timeout still ends it. */
    sharr_job_spec stuck = {.kernel = forever_on_1, .rows = 6,
                            .result_size = sizeof(uint64_t),
                            .schedule = {SHARR_SCHED_STATIC, 1}};
    cr_assert_eq(sharr_pool_submit(p, &stuck, &job), 0);
    cr_assert_eq(sharr_job_wait(job, 0.2), SHARR_ETIMEDOUT);
    sharr_job_free(job);
    for (int k = 0; k < 5; k++)
        cr_assert_eq(sharr_pool_run(p, &spec), 0, "job %d: %s", k,
                     sharr_errmsg());
    sharr_pool_destroy(p);
    no_children_left();
}

static atomic_int *starts;

static int slow_later_init(int id, void *arg)
{
    (void)id;
    if (atomic_fetch_add(starts, 1) >= 2)
        usleep(*(const unsigned *)arg);
    return 0;
}

static int crashing_later_init(int id, void *arg)
{
    (void)id;
    (void)arg;
    if (atomic_fetch_add(starts, 1) >= 2) {
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
    }
    return 0;
}

Test(results, a_replacement_killed_while_starting_is_retried_a_few_times)
{
    static const unsigned nap = 300000;
    starts = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sharr_pool_opts o = {.workers = 2, .init = slow_later_init,
                         .init_arg = (void *)&nap};
    sharr_pool *p;
    cr_assert_eq(sharr_pool_create(&o, &p), 0);
    pid_t first = sharr_pool_worker_pid(p, 0);
    kill(first, SIGKILL);
    double t0 = tu_now();
    pid_t starting;
    while ((starting = sharr_pool_worker_pid(p, 0)) <= 0 || starting == first)
        cr_assert_lt(tu_now() - t0, 3.0, "no replacement");
    usleep(50000); /* inside its slow initializer */
    kill(starting, SIGKILL);
    sharr_job_spec spec = {.kernel = square_kernel, .rows = 8,
                           .result_size = sizeof(uint64_t)};
    cr_assert_eq(sharr_pool_run(p, &spec), 0, "%s", sharr_errmsg());
    sharr_pool_destroy(p);

    /* An initializer that always crashes: a few tries, then broken. */
    atomic_store(starts, 0);
    o.init = crashing_later_init;
    cr_assert_eq(sharr_pool_create(&o, &p), 0);
    kill(sharr_pool_worker_pid(p, 0), SIGKILL);
    int err = 0;
    t0 = tu_now();
    while (err == 0 || err == SHARR_ETIMEDOUT) {
        err = sharr_pool_run(p, &spec);
        cr_assert_lt(tu_now() - t0, 10.0, "never broken");
        usleep(10000);
    }
    cr_assert_eq(err, SHARR_EWORKER, "%s", sharr_errmsg());
    cr_assert(strstr(sharr_errmsg(), "while starting") != NULL, "%s",
              sharr_errmsg());
    cr_assert_leq(atomic_load(starts), 2 + 4, "%d starts",
                  atomic_load(starts));
    sharr_pool_destroy(p);
    munmap(starts, 4096);
    no_children_left();
}
