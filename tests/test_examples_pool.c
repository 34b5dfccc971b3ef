/*
 * test_examples_pool.c - the classic programs of Python's multiprocessing
 * tutorials, ported to C in tests/examples/ (each a standalone program:
 * cc tests/examples/NAME.c -lsharr), compiled here and run: each main() in
 * a forked child whose stdout and stderr go to files, then checked.
 */
#include "testutil.h"

int example_map_squares(void), example_imap_progress(void),
    example_initializer(void), example_apply_async(void);

#define main example_map_squares
#include "examples/pool_map_squares.c"
#undef main

#define main example_imap_progress
#include "examples/pool_imap_progress.c"
#undef main
#undef BLOCKS
#undef SPAN

#define main example_initializer
#include "examples/pool_initializer.c"
#undef main

#define main example_apply_async
#include "examples/pool_apply_async.c"
#undef main

TestSuite(examples, .init = tu_setup, .fini = tu_cleanup, .timeout = 60);

struct run { int status; char out[8192], err[8192]; };

static void slurp(int fd, char *buf, size_t size)
{
    ssize_t n = pread(fd, buf, size - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
}

/* Run example `m` in a child, its output into r. */
static void run_example(int (*m)(void), struct run *r)
{
    char out[] = "/tmp/sharr-ex-out-XXXXXX", err[] = "/tmp/sharr-ex-err-XXXXXX";
    int fo = mkstemp(out), fe = mkstemp(err);
    cr_assert(fo >= 0 && fe >= 0);
    unlink(out);
    unlink(err);
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    if (child == 0) {
        dup2(fo, 1);
        dup2(fe, 2);
        int rc = m();
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    r->status = tu_reap(child);
    slurp(fo, r->out, sizeof r->out);
    slurp(fe, r->err, sizeof r->err);
    close(fo);
    close(fe);
    cr_assert(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0,
              "status %#x\nstdout:\n%s\nstderr:\n%s", r->status, r->out,
              r->err);
}

Test(examples, pool_map_of_squares_prints_the_results_in_order)
{
    struct run r;
    run_example(example_map_squares, &r);
    cr_assert_str_eq(r.out, "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]\n");
    cr_assert_str_eq(r.err, "");
}

Test(examples, imap_unordered_draws_a_progress_line_and_counts_every_block)
{
    struct run r;
    run_example(example_imap_progress, &r);
    /* pi(100000) = 9592 */
    cr_assert_str_eq(r.out, "9592 primes below 100000\n");
    cr_assert(strstr(r.err, "\rdone   1%") != NULL, "%s", r.err);
    cr_assert(strstr(r.err, "\rdone 100%\n") != NULL, "%s", r.err);
    /* One progress step per block: 100 carriage returns. */
    int steps = 0;
    for (const char *c = r.err; *c; c++)
        steps += *c == '\r';
    cr_assert_eq(steps, 100);
}

Test(examples, an_initializer_sets_up_a_library_in_each_worker)
{
    struct run r;
    run_example(example_initializer, &r);
    cr_assert_str_eq(r.out, "every worker initialized its library: yes\n"
                            "8 draws on 2 workers, all distinct: yes\n");
}

Test(examples, apply_async_collects_results_and_reports_the_bad_task)
{
    struct run r;
    run_example(example_apply_async, &r);
    cr_assert(strstr(r.out, "task 3 failed: row 3: minimum 9 > maximum 8\n")
              != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "row 3:") == strstr(r.out, "row 3: minimum"),
              "row 3 has no result: %s", r.out);
    cr_assert(strstr(r.out, "row 0: ") && strstr(r.out, "row 7: "), "%s",
              r.out);
    cr_assert(strstr(r.out, "7 results, 1 error (the job says: invalid "
                     "argument)\n") != NULL, "%s", r.out);
}
