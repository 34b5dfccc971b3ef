/*
 * test_empty.c - empty arrays (zero-length axes) through the store, the
 * pool and the operations; sharr_array_reshape(); per-row figures written
 * into arrays (sharr_array_row_stats_into).
 */
#include "suite_pool.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

TestSuite(empty, .init = suite_setup, .fini = suite_teardown, .timeout = 120);

/* The .npy dict text of the segment of `name` up to its closing brace. */
static void header_dict(const char *name, char *buf, size_t size)
{
    int fd = open(tu_path(name), O_RDONLY);
    char h[4096];
    cr_assert(fd >= 0);
    cr_assert_eq(pread(fd, h, sizeof h, 0), (ssize_t)sizeof h);
    close(fd);
    char *end = memchr(h + 10, '}', sizeof h - 10);
    cr_assert(end != NULL);
    snprintf(buf, size, "%.*s", (int)(end + 1 - (h + 10)), h + 10);
}

Test(empty, zero_length_axes_are_created_opened_and_described)
{
    static const size_t shapes[][3] = {{0, 4, 0}, {4, 0, 0}, {0, 0, 0},
                                       {2, 0, 3}};
    static const size_t ndims[] = {2, 2, 1, 3};
    static const size_t rows[] = {0, 4, 0, 2}, row_elems[] = {4, 0, 1, 0};
    static const char *dicts[] = {"(0,4)", "(4,0)", "(0,)", "(2,0,3)"};

    for (int i = 0; i < 4; i++) {
        char label[16], dict[256];
        snprintf(label, sizeof label, "z%d", i);
        sharr_array *a = suite_make(label, SHARR_C64, ndims[i], shapes[i]), *b;
        cr_assert_eq(sharr_array_nbytes(a), 0);
        cr_assert_eq(sharr_array_size(a), 0);
        cr_assert_eq(sharr_array_rows(a), rows[i]);
        cr_assert_eq(sharr_array_row_bytes(a), 8 * row_elems[i], "shape %d",
                     i);
        cr_assert_eq(sharr_array_open(tu_name(label), 0, &b), 0, "%s",
                     sharr_errmsg());
        cr_assert_eq(sharr_array_ndim(b), ndims[i]);
        cr_assert_eq(memcmp(sharr_array_shape(b), shapes[i],
                            ndims[i] * sizeof(size_t)), 0);
        cr_assert_eq(sharr_array_row_bytes(b), 8 * row_elems[i]);
        sharr_info in;
        cr_assert_eq(sharr_stat(tu_name(label), &in), 0, "%s", sharr_errmsg());
        cr_assert_eq(in.segment_size, 8192);
        cr_assert_eq(in.ctl_offset, 4096);
        header_dict(tu_name(label), dict, sizeof dict);
        cr_assert(strstr(dict, dicts[i]) != NULL, "%s", dict);
        sharr_array_close(b);
        sharr_array_close(a);
    }
}

Test(empty, nonzero_axes_must_still_fit_beside_a_zero_one)
{
    size_t huge[] = {0, (size_t)1 << 62, 4};
    sharr_array *a;

    /* NumPy refuses this shape too: the other axes overflow. */
    cr_assert_eq(sharr_array_create(tu_name("h"), SHARR_F64, 3, huge, NULL,
                                    &a), SHARR_EOVERFLOW);
    cr_assert(!tu_exists(tu_name("h")));
}

Test(empty, a_segment_whose_nbytes_disagrees_with_a_zero_axis_is_corrupt)
{
    size_t shape[] = {0, 4};
    sharr_array *a = suite_make("c", SHARR_F64, 2, shape), *b;
    uint64_t eight = 8, one = 1;

    sharr_array_close(a);
    /* nbytes (ctl + 96) claims elements the shape does not have. */
    tu_patch(tu_name("c"), 4096 + 96, &eight, 8);
    cr_assert_eq(sharr_array_open(tu_name("c"), 0, &b), SHARR_ECORRUPT);
    cr_assert(strstr(sharr_errmsg(), "nbytes") != NULL, "%s", sharr_errmsg());
    uint64_t zero = 0;
    tu_patch(tu_name("c"), 4096 + 96, &zero, 8);
    cr_assert_eq(sharr_array_open(tu_name("c"), 0, &b), 0, "%s",
                 sharr_errmsg());
    sharr_array_close(b);
    /* An unused axis (shape[2], ctl + 48) must stay 0. */
    tu_patch(tu_name("c"), 4096 + 48, &one, 8);
    cr_assert_eq(sharr_array_open(tu_name("c"), 0, &b), SHARR_ECORRUPT);
}

static atomic_int calls;

static int count_calls(const sharr_block *b)
{
    (void)b;
    atomic_fetch_add(&calls, 1);
    return sharr_fail(SHARR_EIO, "a kernel ran on an empty job");
}

Test(empty, a_job_over_zero_rows_finishes_at_once_without_calling_its_kernel)
{
    size_t shape[] = {0, 3};
    sharr_array *a = suite_make("j", SHARR_F32, 2, shape);
    sharr_job_spec spec = {0};
    sharr_job *job;

    spec.kernel = count_calls;
    spec.narrays = 1;
    spec.arrays = &a;
    for (int p = 0; p < 2; p++) {
        cr_assert_eq(sharr_pool_submit(p ? pool2 : NULL, &spec, &job), 0,
                     "%s", sharr_errmsg());
        cr_assert_eq(sharr_job_blocks(job), 0);
        cr_assert_eq(sharr_job_wait(job, 0), 0, "%s", sharr_errmsg());
        sharr_job_free(job);
    }
    cr_assert_eq(atomic_load(&calls), 0);
    sharr_array_close(a);
}

Test(empty, fill_apply_axpy_and_gemm_accept_empty_arrays)
{
    size_t s0[] = {0, 5}, s1[] = {3, 0};
    sharr_array *a = suite_make("a", SHARR_F64, 2, s0), *b = suite_make("b", SHARR_F64, 2,
                                                            s1);
    sharr_fill_spec spec;
    double two = 2, one = 1, zero = 0;

    cr_assert_eq(sharr_fill_parse(SHARR_F64, "random:3", &spec), 0);
    for (int p = 0; p < 2; p++) {
        sharr_pool *pool = p ? pool2 : NULL;
        cr_assert_eq(sharr_fill(pool, a, &spec, NULL), 0, "%s", sharr_errmsg());
        cr_assert_eq(sharr_fill(pool, b, &spec, NULL), 0, "%s", sharr_errmsg());
        cr_assert_eq(sharr_apply(pool, a, SHARR_OP_SQRT, NULL, NULL, NULL), 0,
                     "%s", sharr_errmsg());
        cr_assert_eq(sharr_apply(pool, b, SHARR_OP_NORMALIZE_ROWS, NULL, NULL,
                                 NULL), 0, "%s", sharr_errmsg());
        cr_assert_eq(sharr_apply(pool, b, SHARR_OP_SCALE, &two, NULL, NULL),
                     0, "%s", sharr_errmsg());
        cr_assert_eq(sharr_axpy(pool, &two, b, b, NULL), 0, "%s",
                     sharr_errmsg());
    }
    /* (2 x 0) @ (0 x 3) = C scaled by beta: k = 0, as NumPy's matmul. */
    size_t sa[] = {2, 0}, sb[] = {0, 3}, sc[] = {2, 3};
    sharr_array *A = suite_make("A", SHARR_F64, 2, sa), *B = suite_make("B", SHARR_F64, 2,
                                                            sb),
                *C = suite_make("C", SHARR_F64, 2, sc);
    double *c = sharr_array_data(C);
    for (int i = 0; i < 6; i++)
        c[i] = i + 1;
    cr_assert_eq(sharr_gemm(pool2, &one, A, B, &two, C, NULL), 0, "%s",
                 sharr_errmsg());
    for (int i = 0; i < 6; i++)
        cr_assert_eq(c[i], 2.0 * (i + 1), "element %d is %g", i, c[i]);
    cr_assert_eq(sharr_gemm(NULL, &one, A, B, &zero, C, NULL), 0, "%s",
                 sharr_errmsg());
    for (int i = 0; i < 6; i++)
        cr_assert_eq(c[i], 0.0);
    sharr_array_close(A);
    sharr_array_close(B);
    sharr_array_close(C);
    sharr_array_close(a);
    sharr_array_close(b);
}

Test(empty, stats_of_no_elements_are_count_0_sum_0_and_nan_for_every_dtype)
{
    size_t s0[] = {0, 4}, s1[] = {3, 0};

    for (int dt = SHARR_I8; dt <= SHARR_C128; dt++) {
        char label[16];
        bool cx = sharr_dtype_kind((sharr_dtype)dt) == 'c';
        snprintf(label, sizeof label, "s%d", dt);
        sharr_array *a = suite_make(label, (sharr_dtype)dt, 2, dt % 2 ? s0 : s1);
        sharr_stats st[3];
        memset(st, 0x5a, sizeof st);
        cr_assert_eq(sharr_array_stats(dt % 3 ? pool2 : NULL, a, 0, st, NULL),
                     0, "%s", sharr_errmsg());
        cr_assert_eq(st[0].count, 0);
        cr_assert(st[0].sum[0] == 0 && st[0].sum[1] == 0, "dtype %d", dt);
        cr_assert(isnan(st[0].mean[0]) && (!cx || isnan(st[0].mean[1])));
        cr_assert(isnan(st[0].min) && isnan(st[0].max));
        cr_assert_eq(st[0].norm2, 0);
        cr_assert_eq(st[0].has_nan, 0);
        if (sharr_dtype_kind((sharr_dtype)dt) != 'f' && !cx)
            cr_assert_str_eq(st[0].sum_exact, "0");
        if (dt % 2 == 0) { /* 3 rows of none */
            cr_assert_eq(sharr_array_stats(pool2, a, 1, st, NULL), 0, "%s",
                         sharr_errmsg());
            for (int r = 0; r < 3; r++)
                cr_assert(st[r].count == 0 && st[r].sum[0] == 0 &&
                          isnan(st[r].mean[0]) && isnan(st[r].min) &&
                          st[r].norm2 == 0, "dtype %d row %d", dt, r);
        }
        sharr_array_close(a);
    }
}

/* ---- reshape ---- */

Test(empty, reshape_keeps_the_bytes_and_rewrites_header_and_control_block)
{
    size_t s[] = {4, 6}, t[] = {2, 3, 4}, u[] = {24};
    sharr_array *a = suite_make("r", SHARR_I32, 2, s), *b;
    int32_t *x = sharr_array_data(a);
    char dict[256];

    for (int i = 0; i < 24; i++)
        x[i] = i * 7 - 3;
    cr_assert_eq(sharr_array_reshape(a, 3, t, 0), 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_array_ndim(a), 3);
    cr_assert_eq(sharr_array_rows(a), 2);
    cr_assert_eq(sharr_array_row_bytes(a), 12 * 4);
    header_dict(tu_name("r"), dict, sizeof dict);
    cr_assert(strstr(dict, "'shape': (2,3,4)") != NULL, "%s", dict);
    cr_assert_eq(sharr_array_open(tu_name("r"), 0, &b), 0, "%s",
                 sharr_errmsg());
    cr_assert_eq(memcmp(sharr_array_shape(b), t, sizeof t), 0);
    const int32_t *y = sharr_array_data(b);
    for (int i = 0; i < 24; i++)
        cr_assert_eq(y[i], i * 7 - 3);
    sharr_array_close(b);
    cr_assert_eq(sharr_array_reshape(a, 1, u, 0), 0, "%s", sharr_errmsg());
    header_dict(tu_name("r"), dict, sizeof dict);
    cr_assert(strstr(dict, "'shape': (24,)") != NULL, "%s", dict);
    sharr_array_close(a);
}

Test(empty, reshape_to_another_element_count_fails_naming_both_shapes)
{
    size_t s[] = {4, 6}, t[] = {5, 5}, z[] = {0, 6}, e[] = {3, 0, 2};
    sharr_array *a = suite_make("n", SHARR_F64, 2, s), *z0 = suite_make("e", SHARR_F64, 2,
                                                            z);

    cr_assert_eq(sharr_array_reshape(a, 2, t, 0), SHARR_ESHAPE);
    cr_assert(strstr(sharr_errmsg(), "4x6") && strstr(sharr_errmsg(), "5x5") &&
              strstr(sharr_errmsg(), "24 elements") &&
              strstr(sharr_errmsg(), "25 elements"), "%s", sharr_errmsg());
    cr_assert_eq(sharr_array_ndim(a), 2);
    cr_assert_eq(sharr_array_reshape(a, 9, t, 0), SHARR_EINVAL);
    cr_assert_eq(sharr_array_reshape(a, 2, t, 0x10), SHARR_EINVAL);
    cr_assert_eq(sharr_array_reshape(a, 2, z, 0), SHARR_ESHAPE);
    /* Any empty shape takes any other. */
    cr_assert_eq(sharr_array_reshape(z0, 3, e, 0), 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_array_rows(z0), 3);
    sharr_array_close(z0);
    sharr_array_close(a);
}

Test(empty, reshape_refuses_other_open_handles_unless_forced)
{
    size_t s[] = {4, 6}, t[] = {6, 4};
    sharr_array *a = suite_make("b", SHARR_U8, 2, s), *b, *ro;

    cr_assert_eq(sharr_array_open(tu_name("b"), 0, &b), 0);
    cr_assert_eq(sharr_array_reshape(a, 2, t, 0), SHARR_EBUSY);
    cr_assert(strstr(sharr_errmsg(), "1 other open handle") != NULL, "%s",
              sharr_errmsg());
    cr_assert_eq(sharr_array_shape(a)[0], 4);
    cr_assert_eq(sharr_array_open(tu_name("b"), SHARR_OPEN_RDONLY, &ro), 0);
    cr_assert_eq(sharr_array_reshape(ro, 2, t, SHARR_RESHAPE_FORCE),
                 SHARR_EACCES);
    sharr_array_close(ro);
    cr_assert_eq(sharr_array_reshape(a, 2, t, SHARR_RESHAPE_FORCE), 0, "%s",
                 sharr_errmsg());
    cr_assert_eq(sharr_array_shape(b)[0], 4); /* its copy is stale */
    sharr_array_close(b);
    cr_assert_eq(sharr_array_reshape(a, 2, s, 0), 0, "%s", sharr_errmsg());
    /* The lock held by the handle itself is no obstacle. */
    cr_assert_eq(sharr_array_lock(a), 0);
    cr_assert_eq(sharr_array_reshape(a, 2, t, 0), 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_array_unlock(a), 0);
    sharr_array_close(a);
}

/* Fails unless the worker's handle has the caller's shape. */
static int shape_is(const sharr_block *b)
{
    const size_t *want = b->arg;
    const size_t *have = sharr_array_shape(b->array[0]);
    if (have[0] != want[0] || have[1] != want[1])
        return sharr_fail(SHARR_ESHAPE, "worker sees %zux%zu", have[0],
                          have[1]);
    return 0;
}

Test(empty, pool_workers_reopen_an_array_reshaped_since_they_cached_it)
{
    size_t s[] = {4, 6}, t[] = {6, 4};
    sharr_array *a = suite_make("w", SHARR_F32, 2, s);
    sharr_job_spec spec = {0};

    spec.kernel = shape_is;
    spec.narrays = 1;
    spec.arrays = &a;
    spec.arg = s;
    spec.arg_size = sizeof s;
    cr_assert_eq(sharr_pool_run(pool2, &spec), 0, "%s", sharr_errmsg());
    /* The workers' cached handles count: forced. */
    cr_assert_eq(sharr_array_reshape(a, 2, t, 0), SHARR_EBUSY);
    cr_assert_eq(sharr_array_reshape(a, 2, t, SHARR_RESHAPE_FORCE), 0, "%s",
                 sharr_errmsg());
    spec.arg = t;
    cr_assert_eq(sharr_pool_run(pool2, &spec), 0, "%s", sharr_errmsg());
    sharr_array_close(a);
}

/* ---- per-row figures into arrays ---- */

static sharr_array *figure_array(const char *label, const sharr_array *a,
                                 sharr_figure f)
{
    size_t rows = sharr_array_rows(a);
    sharr_dtype dt = sharr_figure_dtype(sharr_array_dtype(a), f);
    cr_assert_neq(dt, SHARR_DTYPE_INVALID);
    return suite_make(label, dt, 1, &rows);
}

Test(empty, row_stats_into_equal_per_row_stats_bit_for_bit_for_any_split)
{
    size_t s[] = {37, 3, 101};
    static const sharr_dtype dts[] = {SHARR_I16, SHARR_U64, SHARR_F32,
                                      SHARR_F64, SHARR_C128};
    sharr_schedule dyn = {SHARR_SCHED_DYNAMIC, 5};
    sharr_run_opts ro = {.schedule = dyn};

    for (size_t d = 0; d < sizeof dts / sizeof *dts; d++) {
        char label[16];
        bool cx = sharr_dtype_kind(dts[d]) == 'c';
        snprintf(label, sizeof label, "x%zu", d);
        sharr_array *a = suite_make(label, dts[d], 3, s);
        sharr_fill_spec spec;
        cr_assert_eq(sharr_fill_parse(dts[d], "random:9", &spec), 0);
        cr_assert_eq(sharr_fill(NULL, a, &spec, NULL), 0);
        if (sharr_dtype_kind(dts[d]) == 'f') /* a NaN row */
            memset((char *)sharr_array_data(a) + 5 * sharr_array_row_bytes(a),
                   0xff, sharr_dtype_size(dts[d]));
        sharr_stats want[37];
        cr_assert_eq(sharr_array_stats(NULL, a, 1, want, NULL), 0, "%s",
                     sharr_errmsg());
        sharr_array *into[SHARR_NFIGURES] = {0};
        for (int f = 0; f < SHARR_NFIGURES; f++) {
            if (cx && (f == SHARR_FIG_MIN || f == SHARR_FIG_MAX))
                continue;
            snprintf(label, sizeof label, "x%zu.%d", d, f);
            into[f] = figure_array(label, a, (sharr_figure)f);
        }
        for (int run = 0; run < 3; run++) {
            sharr_pool *pool = run ? pool2 : NULL;
            cr_assert_eq(sharr_array_row_stats_into(pool, a, into,
                                                    run == 2 ? &ro : NULL),
                         0, "%s", sharr_errmsg());
            const uint64_t *cnt = sharr_array_data(into[SHARR_FIG_COUNT]);
            const double *sum = sharr_array_data(into[SHARR_FIG_SUM]),
                         *mean = sharr_array_data(into[SHARR_FIG_MEAN]),
                         *nrm = sharr_array_data(into[SHARR_FIG_NORM2]);
            for (size_t r = 0; r < 37; r++) {
                int k = cx ? 2 : 1;
                cr_assert_eq(cnt[r], 303);
                cr_assert_eq(memcmp(&sum[r * k], want[r].sum, k * 8), 0,
                             "dtype %d row %zu run %d", dts[d], r, run);
                cr_assert_eq(memcmp(&mean[r * k], want[r].mean, k * 8), 0);
                cr_assert_eq(memcmp(&nrm[r], &want[r].norm2, 8), 0);
                if (!cx) {
                    const double *mn = sharr_array_data(into[SHARR_FIG_MIN]),
                                 *mx = sharr_array_data(into[SHARR_FIG_MAX]);
                    cr_assert_eq(memcmp(&mn[r], &want[r].min, 8), 0);
                    cr_assert_eq(memcmp(&mx[r], &want[r].max, 8), 0);
                }
            }
        }
        for (int f = 0; f < SHARR_NFIGURES; f++)
            sharr_array_close(into[f]);
        sharr_array_close(a);
    }
}

Test(empty, row_stats_into_refuses_wrong_outputs_with_clear_errors)
{
    size_t s[] = {4, 3}, four = 4, five = 5;
    sharr_array *a = suite_make("q", SHARR_C64, 2, s);
    sharr_array *f32 = suite_make("q32", SHARR_F32, 1, &four),
                *c5 = suite_make("q5", SHARR_C128, 1, &five),
                *c4 = suite_make("q4", SHARR_C128, 1, &four),
                *m4 = suite_make("m4", SHARR_F64, 1, &four);
    sharr_array *into[SHARR_NFIGURES] = {0};

    cr_assert_eq(sharr_array_row_stats_into(pool2, a, into, NULL),
                 SHARR_EINVAL);
    into[SHARR_FIG_SUM] = f32;
    cr_assert_eq(sharr_array_row_stats_into(pool2, a, into, NULL),
                 SHARR_EDTYPE);
    cr_assert(strstr(sharr_errmsg(), "it must be c128") != NULL, "%s",
              sharr_errmsg());
    into[SHARR_FIG_SUM] = c5;
    cr_assert_eq(sharr_array_row_stats_into(pool2, a, into, NULL),
                 SHARR_ESHAPE);
    cr_assert(strstr(sharr_errmsg(), "shape (4,)") != NULL, "%s",
              sharr_errmsg());
    into[SHARR_FIG_SUM] = c4;
    into[SHARR_FIG_MEAN] = c4;
    cr_assert_eq(sharr_array_row_stats_into(pool2, a, into, NULL),
                 SHARR_EINVAL);
    into[SHARR_FIG_MEAN] = NULL;
    into[SHARR_FIG_MIN] = m4;
    cr_assert_eq(sharr_array_row_stats_into(pool2, a, into, NULL),
                 SHARR_EDTYPE);
    cr_assert(strstr(sharr_errmsg(), "not ordered") != NULL, "%s",
              sharr_errmsg());
    into[SHARR_FIG_MIN] = NULL;
    cr_assert_eq(sharr_array_row_stats_into(pool2, a, into, NULL), 0, "%s",
                 sharr_errmsg());
    sharr_figure f;
    cr_assert_eq(sharr_figure_parse("norm2", &f), 0);
    cr_assert_eq(f, SHARR_FIG_NORM2);
    cr_assert_str_eq(sharr_figure_name(SHARR_FIG_MEAN), "mean");
    cr_assert_eq(sharr_figure_parse("median", &f), SHARR_EINVAL);
    sharr_array_close(f32);
    sharr_array_close(c5);
    sharr_array_close(c4);
    sharr_array_close(m4);
    sharr_array_close(a);
}

Test(empty, row_stats_into_of_empty_rows_and_of_no_rows)
{
    size_t s[] = {3, 0}, z[] = {0, 7};
    sharr_array *a = suite_make("e", SHARR_I64, 2, s), *b = suite_make("f", SHARR_F64, 2,
                                                           z);
    sharr_array *into[SHARR_NFIGURES] = {0}, *none[SHARR_NFIGURES] = {0};

    into[SHARR_FIG_MEAN] = figure_array("em", a, SHARR_FIG_MEAN);
    into[SHARR_FIG_COUNT] = figure_array("ec", a, SHARR_FIG_COUNT);
    into[SHARR_FIG_MAX] = figure_array("ex", a, SHARR_FIG_MAX);
    cr_assert_eq(sharr_array_row_stats_into(pool2, a, into, NULL), 0, "%s",
                 sharr_errmsg());
    const double *mean = sharr_array_data(into[SHARR_FIG_MEAN]),
                 *mx = sharr_array_data(into[SHARR_FIG_MAX]);
    const uint64_t *cnt = sharr_array_data(into[SHARR_FIG_COUNT]);
    for (int r = 0; r < 3; r++)
        cr_assert(isnan(mean[r]) && isnan(mx[r]) && cnt[r] == 0, "row %d", r);
    none[SHARR_FIG_SUM] = figure_array("fs", b, SHARR_FIG_SUM);
    cr_assert_eq(sharr_array_size(none[SHARR_FIG_SUM]), 0);
    cr_assert_eq(sharr_array_row_stats_into(pool2, b, none, NULL), 0, "%s",
                 sharr_errmsg());
    for (int f = 0; f < SHARR_NFIGURES; f++) {
        sharr_array_close(into[f]);
        sharr_array_close(none[f]);
    }
    sharr_array_close(a);
    sharr_array_close(b);
}

/* ---- an open while a reshape is writing ---- */

struct reshaper {
    sharr_array *a;
    atomic_int done;
    int err;
};

static void *reshape_often(void *p)
{
    struct reshaper *r = p;
    size_t s[2][2] = {{4, 6}, {6, 4}};
    struct timespec pause = {0, 20000};

    for (int i = 0; i < 1500 && r->err == 0; i++) {
        r->err = sharr_array_reshape(r->a, 2, s[i % 2], SHARR_RESHAPE_FORCE);
        nanosleep(&pause, NULL);
    }
    atomic_store(&r->done, 1);
    return NULL;
}

Test(empty, opens_during_reshapes_see_one_shape_or_the_other_never_corrupt,
     .timeout = 60)
{
    size_t s[] = {6, 4};
    struct reshaper r = {.a = suite_make("race", SHARR_I16, 2, s)};
    pthread_t t;
    size_t opens = 0;

    cr_assert_eq(pthread_create(&t, NULL, reshape_often, &r), 0);
    while (!atomic_load(&r.done)) {
        sharr_array *b;
        sharr_info in;
        int err = sharr_array_open(tu_name("race"), SHARR_OPEN_RDONLY, &b);
        cr_assert_eq(err, 0, "open %zu: %s", opens, sharr_errmsg());
        const size_t *sh = sharr_array_shape(b);
        cr_assert((sh[0] == 4 && sh[1] == 6) || (sh[0] == 6 && sh[1] == 4));
        sharr_array_close(b);
        cr_assert_eq(sharr_stat(tu_name("race"), &in), 0, "%s",
                     sharr_errmsg());
        opens++;
    }
    pthread_join(t, NULL);
    cr_assert_eq(r.err, 0, "%s", sharr_errmsg());
    cr_assert_gt(opens, 0);
    sharr_array_close(r.a);
}
