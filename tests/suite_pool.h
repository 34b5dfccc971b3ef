/*
 * suite_pool.h - the fixture of the test suites that share one pool of 2
 * workers (pool2) and a scratch directory of their own (dir), both made
 * before each test and removed after it:
 *     TestSuite(name, .init = suite_setup, .fini = suite_teardown, ...);
 * suite_dir_setup/_teardown make only the directory (suites that must
 * run without a pool, e.g. under valgrind).
 */
#ifndef SHARR_TESTS_SUITE_POOL_H
#define SHARR_TESTS_SUITE_POOL_H

#include "testutil.h"

static sharr_pool *pool2;
static char dir[64];

static void suite_dir_setup(void)
{
    tu_setup();
    snprintf(dir, sizeof dir, "/tmp/sharr-suite.%d", (int)getpid());
    mkdir(dir, 0700);
}

static void suite_dir_teardown(void)
{
    tu_rmdir(dir);
    tu_cleanup();
}

static void suite_setup(void)
{
    suite_dir_setup();
    pool2 = tu_pool(2);
}

/* A new zero-filled array t.<pid>.LABEL of dtype and shape (asserts). */
static inline sharr_array *suite_make(const char *label, sharr_dtype dt,
                                      size_t ndim, const size_t *shape)
{
    sharr_array *a = NULL;
    cr_assert_eq(sharr_array_create(tu_name(label), dt, ndim, shape, NULL, &a),
                 0, "%s", sharr_errmsg());
    return a;
}

static void suite_teardown(void)
{
    sharr_pool_destroy(pool2);
    pool2 = NULL;
    suite_dir_teardown();
}

#endif
