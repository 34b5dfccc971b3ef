/*
 * test_error.c - the per-thread failure detail: recording, context prefixes
 * and replacement, including arguments that point into the detail itself.
 */
#include "testutil.h"
#include "internal.h"

TestSuite(error, .timeout = 30);

Test(error, fail_with_the_detail_itself_as_argument_gives_clean_text)
{
    sharr__fail(SHARR_EINVAL, "unknown schedule '%s': use static", "fastest");
    cr_assert_eq(sharr__fail(SHARR_EINVAL, "$SHARR_SCHEDULE: %s",
                             sharr_errmsg()), SHARR_EINVAL);
    cr_assert_str_eq(sharr_errmsg(),
                     "$SHARR_SCHEDULE: unknown schedule 'fastest': use static");
}

Test(error, fail_with_the_detail_twice_as_argument_gives_clean_text)
{
    sharr__fail(SHARR_EIO, "abc");
    sharr__fail(SHARR_EIO, "%s-%s-%.2s", sharr_errmsg(), sharr_errmsg(),
                sharr_errmsg() + 1);
    cr_assert_str_eq(sharr_errmsg(), "abc-abc-bc");
}

Test(error, fail_os_with_the_detail_as_argument_gives_clean_text)
{
    sharr__fail(SHARR_ENOENT, "no array named 'x'");
    cr_assert_eq(sharr__fail_os(SHARR_EACCES, "opening (%s)", sharr_errmsg()),
                 SHARR_EACCES);
    cr_assert_str_eq(sharr_errmsg(), "opening (no array named 'x'): "
                     "permission denied");
}

Test(error, prefix_with_the_detail_as_argument_gives_clean_text)
{
    sharr__fail(SHARR_ECORRUPT, "bad magic");
    sharr__errmsg_prefix("array '%s'", sharr_errmsg());
    cr_assert_str_eq(sharr_errmsg(), "array 'bad magic': bad magic");
    sharr__errmsg_prefix("load");
    cr_assert_str_eq(sharr_errmsg(), "load: array 'bad magic': bad magic");
}

Test(error, replace_with_parts_of_the_detail_as_arguments_gives_clean_text)
{
    sharr__fail(SHARR_EIO, "tmp.x failed at tmp.x");
    char from[8];
    snprintf(from, sizeof from, "%.5s", sharr_errmsg());
    sharr__errmsg_replace(from, sharr_errmsg() + 6); /* "failed at tmp.x" */
    cr_assert_str_eq(sharr_errmsg(), "failed at tmp.x failed at failed at "
                     "tmp.x");
}

Test(error, a_long_detail_is_truncated_not_overflowed)
{
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    sharr__fail(SHARR_EIO, "%s", big);
    sharr__fail(SHARR_EIO, "%s%s", sharr_errmsg(), sharr_errmsg());
    cr_assert_eq(strlen(sharr_errmsg()), 1023);
    sharr__errmsg_prefix("%s", sharr_errmsg());
    cr_assert_eq(strlen(sharr_errmsg()), 1023);
    sharr__fail_os(SHARR_EIO, "%s", sharr_errmsg());
    cr_assert_eq(strlen(sharr_errmsg()), 1023);
}

static int nothing(const sharr_block *b)
{
    (void)b;
    return 0;
}

Test(error, schedule_from_the_environment_fails_with_a_clean_message)
{
    /* The symptom of issue 7: a job with the default schedule and a bad
     * $SHARR_SCHEDULE formatted the detail into itself. */
    static const char want[] = "$SHARR_SCHEDULE: unknown schedule 'fastest':"
                               " use static, dynamic, guided or auto, "
                               "optionally ,CHUNK";
    sharr_job_spec spec = {.kernel = nothing, .rows = 8};

    setenv("SHARR_SCHEDULE", "fastest", 1);
    cr_assert_eq(sharr_pool_run(NULL, &spec), SHARR_EINVAL);
    cr_assert_str_eq(sharr_errmsg(), want);
}
