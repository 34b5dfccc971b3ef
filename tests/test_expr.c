/*
 * test_expr.c - the expression engine's C API: parsing and its errors,
 * NumPy's typing (weak Python numbers), evaluation inline and on a pool
 * (identical bytes), broadcasting, integer semantics, per-row reductions
 * against sharr_array_stats(), sharr_eval()'s output handling, sharr_copy.
 * The NumPy differential and random tests are tests/interop/test_eval.py.
 */
#include "suite_pool.h"
#include "ops/expr.h"

#include <math.h>

TestSuite(expr, .init = suite_setup, .fini = suite_teardown, .timeout = 120);

static sharr_array *make(const char *label, sharr_dtype dt, size_t ndim,
                         const size_t *shape, const char *fill)
{
    sharr_array *a = suite_make(label, dt, ndim, shape);
    sharr_fill_spec s;
    if (fill) {
        cr_assert_eq(sharr_fill_parse(dt, fill, &s), 0, "%s", sharr_errmsg());
        cr_assert_eq(sharr_fill(NULL, a, &s, NULL), 0, "%s", sharr_errmsg());
    }
    return a;
}

/* Compile `text` with t.<pid>. names written as $a, $b ... */
static sharr_expr *compile(const char *text)
{
    char buf[1024], pre[64];
    size_t n = 0;
    sharr_expr *e = NULL;

    snprintf(pre, sizeof pre, "'t.%d.", (int)getpid());
    for (const char *p = text; *p && n + 80 < sizeof buf; p++) {
        if (*p == '$') {
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%c'", pre, p[1]);
            p++;
        } else {
            buf[n++] = *p;
        }
    }
    buf[n] = '\0';
    cr_assert_eq(sharr_expr_compile(buf, &e), 0, "%s: %s", buf,
                 sharr_errmsg());
    return e;
}

Test(expr, syntax_error_names_the_column_with_a_caret)
{
    sharr_expr *e = (sharr_expr *)1;
    int err = sharr_expr_compile("a + (b * ", &e);
    cr_assert_eq(err, SHARR_EINVAL);
    cr_assert_null(e);
    cr_assert(strstr(sharr_errmsg(), "syntax error at column 10"), "%s",
              sharr_errmsg());
    cr_assert(strstr(sharr_errmsg(), "\n  a + (b * \n           ^"), "%s",
              sharr_errmsg());
    cr_assert_eq(sharr_expr_compile("a < b < c", &e), SHARR_EINVAL);
    cr_assert(strstr(sharr_errmsg(), "chained"), "%s", sharr_errmsg());
    cr_assert_eq(sharr_expr_compile("sqrt(a, b)", &e), SHARR_EINVAL);
    cr_assert(strstr(sharr_errmsg(), "sqrt takes 1 argument"), "%s",
              sharr_errmsg());
    cr_assert_eq(sharr_expr_compile("'.hidden' + 1", &e), SHARR_EINVAL);
    cr_assert_eq(sharr_expr_compile("99999999999999999999 + a", &e),
                 SHARR_EINVAL);
}

Test(expr, names_are_listed_in_order_of_first_use_quoted_or_bare)
{
    sharr_expr *e;
    cr_assert_eq(sharr_expr_compile("b * 'x.y-1' + b - abs(a) + inf + nan", &e),
                 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_expr_nnames(e), 3);
    cr_assert_str_eq(sharr_expr_name(e, 0), "b");
    cr_assert_str_eq(sharr_expr_name(e, 1), "x.y-1");
    cr_assert_str_eq(sharr_expr_name(e, 2), "a");
    cr_assert_null(sharr_expr_name(e, 3));
    sharr_expr_free(e);
    sharr_expr_free(NULL);
}

/* The dtype of `text` over arrays a (dtype da) and b (dtype db). */
static sharr_dtype type_of(const char *text, sharr_dtype da, sharr_dtype db)
{
    size_t sa[1] = {3};
    sharr_array *arr[2] = {make("ta", da, 1, sa, NULL),
                           make("tb", db, 1, sa, NULL)}, *bound[2];
    sharr_expr *e = compile(text);
    sharr_dtype dt = SHARR_DTYPE_INVALID;
    size_t nd, shape[SHARR_MAX_NDIM];
    for (size_t i = 0; i < sharr_expr_nnames(e); i++)
        bound[i] = strstr(sharr_expr_name(e, i), ".a") ? arr[0] : arr[1];
    cr_assert_eq(sharr_expr_type(e, bound, &dt, &nd, shape), 0, "%s: %s",
                 text, sharr_errmsg());
    sharr_expr_free(e);
    for (int i = 0; i < 2; i++) {
        sharr_unlink(sharr_array_name(arr[i]));
        sharr_array_close(arr[i]);
    }
    return dt;
}

Test(expr, dtypes_follow_numpy_with_weak_python_numbers)
{
    cr_assert_eq(type_of("$a * 2.5", SHARR_F32, SHARR_F32), SHARR_F32);
    cr_assert_eq(type_of("$a + 1", SHARR_U8, SHARR_U8), SHARR_U8);
    cr_assert_eq(type_of("$a + 1.5", SHARR_U8, SHARR_U8), SHARR_F64);
    cr_assert_eq(type_of("$a * 1j", SHARR_F32, SHARR_F32), SHARR_C64);
    cr_assert_eq(type_of("$a / 2", SHARR_I8, SHARR_I8), SHARR_F64);
    cr_assert_eq(type_of("$a + $b", SHARR_U8, SHARR_I8), SHARR_I16);
    cr_assert_eq(type_of("$a + $b", SHARR_U64, SHARR_I64), SHARR_F64);
    cr_assert_eq(type_of("$a - $b", SHARR_U16, SHARR_F32), SHARR_F32);
    cr_assert_eq(type_of("$a - $b", SHARR_I32, SHARR_F32), SHARR_F64);
    cr_assert_eq(type_of("abs($a)", SHARR_C64, SHARR_C64), SHARR_F32);
    cr_assert_eq(type_of("sqrt($a)", SHARR_I32, SHARR_I32), SHARR_F64);
    cr_assert_eq(type_of("sqrt($a)", SHARR_I16, SHARR_I16), SHARR_F32);
    cr_assert_eq(type_of("$a < $b", SHARR_F64, SHARR_I8), SHARR_U8);
    cr_assert_eq(type_of("u8($a) + $b", SHARR_C128, SHARR_U8), SHARR_U8);
    cr_assert_eq(type_of("$a + (2 / 4)", SHARR_F32, SHARR_F32), SHARR_F32);
    cr_assert_eq(type_of("rowsum($a)", SHARR_U8, SHARR_U8), SHARR_U64);
    cr_assert_eq(type_of("rownorm($a)", SHARR_C64, SHARR_U8), SHARR_F32);
}

/* sharr_expr_type()'s error for `text` over a (3, 4) f64 and a (5,) u8. */
static int type_error(const char *text)
{
    size_t s1[2] = {3, 4}, s2[1] = {5};
    sharr_array *a = make("ea", SHARR_F64, 2, s1, NULL),
                *b = make("eb", SHARR_U8, 1, s2, NULL), *bound[2];
    sharr_expr *e = compile(text);
    sharr_dtype dt;
    size_t nd, shape[SHARR_MAX_NDIM];
    for (size_t i = 0; i < sharr_expr_nnames(e); i++)
        bound[i] = strstr(sharr_expr_name(e, i), ".a") ? a : b;
    int err = sharr_expr_type(e, bound, &dt, &nd, shape);
    sharr_expr_free(e);
    sharr_array_close(a);
    sharr_array_close(b);
    sharr_unlink(tu_name("ea"));
    sharr_unlink(tu_name("eb"));
    return err;
}

Test(expr, type_errors_say_what_and_where)
{
    cr_assert_eq(type_error("$a + $b"), SHARR_ESHAPE);
    cr_assert(strstr(sharr_errmsg(), "(3, 4) and (5,)"), "%s", sharr_errmsg());
    cr_assert_eq(type_error("$a & 1"), SHARR_EDTYPE);
    cr_assert(strstr(sharr_errmsg(), "'&' is not defined for f64"), "%s",
              sharr_errmsg());
    cr_assert_eq(type_error("$b + 300"), SHARR_ERANGE);
    cr_assert_eq(type_error("$b - -1"), SHARR_ERANGE);
    cr_assert_eq(type_error("floor(c64($a))"), SHARR_EDTYPE);
    cr_assert_eq(type_error("$b + 1 // 0"), SHARR_EINVAL);
    cr_assert_eq(type_error("($a < 1) + ($a < 2)"), SHARR_EDTYPE);
}

/* x = range over (rows, cols) f64, v = range over (cols,) f32. */
static void check_pool_equals_inline(const char *text, size_t rows,
                                     size_t cols)
{
    size_t s2[2] = {rows, cols}, s1[1] = {cols};
    sharr_array *x = make("x", SHARR_F64, 2, s2, "random:3"),
                *v = make("v", SHARR_F32, 1, s1, "random:4"), *bound[2];
    sharr_expr *e = compile(text);
    sharr_dtype dt;
    size_t nd, shape[SHARR_MAX_NDIM];
    uint64_t zd;
    for (size_t i = 0; i < sharr_expr_nnames(e); i++)
        bound[i] = strstr(sharr_expr_name(e, i), ".x") ? x : v;
    cr_assert_eq(sharr_expr_type(e, bound, &dt, &nd, shape), 0, "%s",
                 sharr_errmsg());
    sharr_array *o1 = make("o1", dt, nd, shape, NULL),
                *o2 = make("o2", dt, nd, shape, NULL);
    sharr_run_opts ro = {{SHARR_SCHED_DYNAMIC, 3}, NULL, NULL};
    cr_assert_eq(sharr_expr_eval(NULL, e, bound, o1, NULL, &zd), 0, "%s",
                 sharr_errmsg());
    cr_assert_eq(sharr_expr_eval(pool2, e, bound, o2, &ro, &zd), 0, "%s",
                 sharr_errmsg());
    cr_assert_eq(memcmp(sharr_array_data(o1), sharr_array_data(o2),
                        sharr_array_nbytes(o1)), 0, "%s: -j differs", text);
    sharr_expr_free(e);
    sharr_array *all[4] = {x, v, o1, o2};
    for (int i = 0; i < 4; i++) {
        sharr_unlink(sharr_array_name(all[i]));
        sharr_array_close(all[i]);
    }
}

Test(expr, a_pool_gives_the_bytes_of_inline_evaluation)
{
    check_pool_equals_inline("sin($x) * $v + sqrt(abs($x)) ** 1.5", 97, 1500);
    check_pool_equals_inline("rowsum($x * $v) / rownorm($x)", 97, 1500);
    check_pool_equals_inline("rowmean(exp($x * 1j))", 33, 7000);
    check_pool_equals_inline("where($x > 0.5, $v, -$x) // 0.25 % 3", 1, 1);
}

Test(expr, broadcasts_rows_columns_and_scalars)
{
    size_t s2[2] = {3, 4}, sr[1] = {4}, sc[2] = {3, 1};
    sharr_array *m = make("m", SHARR_I32, 2, s2, "range"),
                *r = make("r", SHARR_I32, 1, sr, "range"),
                *c = make("c", SHARR_I32, 2, sc, "range"),
                *s = make("s", SHARR_I32, 0, NULL, "7"),
                *o = make("o", SHARR_I32, 2, s2, NULL);
    sharr_array *bound[4];
    sharr_expr *e = compile("$m * 1000 + $r * 100 + $c * 10 + $s");
    for (size_t i = 0; i < 4; i++) {
        const char *n = sharr_expr_name(e, i);
        char k = n[strlen(n) - 1];
        bound[i] = k == 'm' ? m : k == 'r' ? r : k == 'c' ? c : s;
    }
    cr_assert_eq(sharr_expr_eval(pool2, e, bound, o, NULL, NULL), 0, "%s",
                 sharr_errmsg());
    const int32_t *out = sharr_array_data(o);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            cr_assert_eq(out[i * 4 + j], (i * 4 + j) * 1000 + j * 100 +
                         i * 10 + 7, "[%d, %d] = %d", i, j, out[i * 4 + j]);
    sharr_expr_free(e);
}

Test(expr, integer_division_by_zero_gives_zero_and_is_counted)
{
    size_t n[1] = {6};
    sharr_array *a = make("a", SHARR_I16, 1, n, "range"),
                *o = make("o", SHARR_I16, 1, n, NULL), *bound[1] = {a};
    sharr_expr *e = compile("($a - 3) // ($a % 2) + $a % ($a - $a)");
    uint64_t zd = 0;
    cr_assert_eq(sharr_expr_eval(pool2, e, bound, o, NULL, &zd), 0, "%s",
                 sharr_errmsg());
    cr_assert_eq(zd, 3 + 6);
    const int16_t *out = sharr_array_data(o);
    int16_t want[6] = {0, -2, 0, 0, 0, 2};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(out[i], want[i], "[%d] = %d", i, out[i]);
    sharr_expr_free(e);
    /* Wrap-around and negative powers: 1 / (x ** n) truncated. */
    e = compile("i8($a * 50) + (($a - 2) ** -1) * 100");
    cr_assert_eq(sharr_expr_eval(NULL, e, bound, o, NULL, &zd), 0, "%s",
                 sharr_errmsg());
    cr_assert_eq(zd, 1);
    int16_t want2[6] = {0 + 0, 50 - 100, (int8_t)100 + 0, (int8_t)150 + 100,
                        (int8_t)200 + 0, (int8_t)250 + 0};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(out[i], want2[i], "[%d] = %d, not %d", i, out[i],
                     want2[i]);
    sharr_expr_free(e);
}

Test(expr, an_output_of_another_shape_is_refused_before_anything_is_written)
{
    size_t s2[2] = {3, 4}, s1[1] = {4};
    sharr_array *a = make("a", SHARR_F64, 2, s2, "ones"),
                *o = make("o", SHARR_F64, 1, s1, "7"), *bound[1] = {a};
    sharr_expr *e = compile("$a + 1");
    cr_assert_eq(sharr_expr_eval(pool2, e, bound, o, NULL, NULL),
                 SHARR_ESHAPE);
    cr_assert(strstr(sharr_errmsg(), "(4,)") && strstr(sharr_errmsg(),
                                                        "(3, 4)"),
              "%s", sharr_errmsg());
    for (int i = 0; i < 4; i++)
        cr_assert_eq(((double *)sharr_array_data(o))[i], 7.0);
    /* The output may be an input (not broadcast): in place. */
    bound[0] = a;
    cr_assert_eq(sharr_expr_eval(pool2, e, bound, a, NULL, NULL), 0, "%s",
                 sharr_errmsg());
    for (int i = 0; i < 12; i++)
        cr_assert_eq(((double *)sharr_array_data(a))[i], 2.0);
    sharr_expr_free(e);
}

Test(expr, per_row_reductions_are_the_figures_of_stat_per_row)
{
    size_t s3[3] = {9, 70, 30};
    sharr_array *x = make("x", SHARR_F32, 3, s3, "random:7"), *bound[1] = {x};
    sharr_stats st[9];
    const char *ops[4] = {"rowsum", "rowmean", "rownorm", "rowmax"};
    cr_assert_eq(sharr_array_stats(NULL, x, 1, st, NULL), 0);
    for (int k = 0; k < 4; k++) {
        char text[64];
        size_t r[1] = {9};
        snprintf(text, sizeof text, "%s($x)", ops[k]);
        sharr_expr *e = compile(text);
        sharr_array *o = make(ops[k], SHARR_F64, 1, r, NULL);
        cr_assert_eq(sharr_expr_eval(pool2, e, bound, o, NULL, NULL), 0, "%s",
                     sharr_errmsg());
        const double *out = sharr_array_data(o);
        for (int i = 0; i < 9; i++) {
            /* The row's figure, rounded to f32 (the dtype of the result),
             * then widened into the f64 output. */
            double want = k == 0 ? st[i].sum[0] : k == 1 ? st[i].mean[0]
                          : k == 2 ? st[i].norm2 : st[i].max;
            cr_assert_eq(out[i], (double)(float)want, "%s row %d: %.9g %.9g",
                         ops[k], i, out[i], want);
        }
        sharr_expr_free(e);
    }
}

Test(expr, rowmin_and_rowmax_of_booleans_are_booleans)
{
    size_t s2[2] = {4, 3}, r[1] = {4};
    sharr_array *x = make("x", SHARR_I32, 2, s2, "range"), *bound[1] = {x};
    sharr_expr *e = compile("rowmin($x > 3) + 2 * rowmax($x > 3)");
    sharr_array *o = make("o", SHARR_I32, 1, r, NULL);
    const int32_t want[4] = {0, 2, 3, 3}; /* rows 0..2, 3..5, 6..8, 9..11 */
    sharr_dtype dt;
    size_t nd, sh[SHARR_MAX_NDIM];

    cr_assert_eq(sharr_expr_type(e, bound, &dt, &nd, sh), 0, "%s",
                 sharr_errmsg());
    cr_assert_eq(dt, SHARR_I64); /* bool + 2 * bool: NumPy's int64 */
    cr_assert_eq(sharr_expr_eval(pool2, e, bound, o, NULL, NULL), 0, "%s",
                 sharr_errmsg());
    for (int i = 0; i < 4; i++)
        cr_assert_eq(((const int32_t *)sharr_array_data(o))[i], want[i],
                     "row %d", i);
    sharr_expr_free(e);
}

Test(expr, eval_statement_creates_out_whole_or_not_at_all)
{
    size_t s[1] = {5};
    sharr_array *a = make("a", SHARR_U16, 1, s, "range");
    sharr_array_close(a);
    char stmt[256];
    sharr_eval_result res;
    sharr_array *o;

    snprintf(stmt, sizeof stmt, "'%s' = ('%s' - 1) * 1.5", tu_name("out"),
             tu_name("a"));
    cr_assert_eq(sharr_eval(pool2, stmt, NULL, &res), 0, "%s", sharr_errmsg());
    cr_assert_eq(res.created, 1);
    cr_assert_eq(res.dtype, SHARR_F64);
    cr_assert_eq(sharr_array_open(tu_name("out"), 0, &o), 0);
    /* u16 - 1 stays u16, as in NumPy (NEP 50): 0 - 1 wraps. */
    cr_assert_eq(((double *)sharr_array_data(o))[0], 65535 * 1.5);
    cr_assert_eq(((double *)sharr_array_data(o))[4], 4.5);
    sharr_array_close(o);
    /* A mismatch names both and writes nothing; force replaces. */
    sharr_eval_opts opts = {0};
    opts.dtype = SHARR_F32;
    cr_assert_eq(sharr_eval(pool2, stmt, &opts, &res), SHARR_EDTYPE);
    cr_assert(strstr(sharr_errmsg(), "f64 (5,)") && strstr(sharr_errmsg(),
                                                            "f32 (5,)"),
              "%s", sharr_errmsg());
    opts.force = 1;
    cr_assert_eq(sharr_eval(pool2, stmt, &opts, &res), 0, "%s", sharr_errmsg());
    sharr_info info;
    cr_assert_eq(sharr_stat(tu_name("out"), &info), 0);
    cr_assert_eq(info.dtype, SHARR_F32);
    cr_assert_eq(info.flags & SHARR_CREATE_TEMP, 0u);
    /* A failing statement leaves no array and no staging name behind. */
    snprintf(stmt, sizeof stmt, "'%s' = '%s' & 1.5", tu_name("bad"),
             tu_name("a"));
    cr_assert_eq(sharr_eval(pool2, stmt, NULL, &res), SHARR_EDTYPE);
    cr_assert_eq(sharr_stat(tu_name("bad"), &info), SHARR_ENOENT);
    sharr_info *list;
    size_t n;
    char mine[64];
    snprintf(mine, sizeof mine, "sharr-eval.%d.", (int)getpid());
    cr_assert_eq(sharr_list(&list, &n), 0);
    for (size_t i = 0; i < n; i++)
        cr_assert(strncmp(list[i].name, mine, strlen(mine)) != 0, "%s left",
                  list[i].name);
    sharr_list_free(list);
    cr_assert_eq(sharr_eval(pool2, "x = = 1", NULL, &res), SHARR_EINVAL);
    cr_assert_eq(sharr_eval(pool2, "no statement", NULL, &res), SHARR_EINVAL);
}

Test(expr, copy_converts_rows_as_numpy_astype)
{
    size_t s[2] = {4, 3};
    sharr_array *a = make("a", SHARR_F64, 2, s, "range"), *o;
    double *x = sharr_array_data(a);
    x[3] = NAN;
    x[4] = INFINITY;
    x[5] = -1.0;
    cr_assert_eq(sharr_copy(pool2, a, 1, 3, tu_name("c"), SHARR_U8, NULL,
                            NULL), 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_array_open(tu_name("c"), 0, &o), 0);
    cr_assert_eq(sharr_array_shape(o)[0], 2);
    const uint8_t *c = sharr_array_data(o);
    uint8_t want[6] = {0, 0, 255, 6, 7, 8};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(c[i], want[i], "[%d] = %d", i, c[i]);
    sharr_array_close(o);
    cr_assert_eq(sharr_copy(pool2, a, 0, 0, tu_name("c"), SHARR_U8, NULL,
                            NULL), SHARR_EEXIST);
    cr_assert_eq(sharr_copy(NULL, a, 0, 0, tu_name("d"), SHARR_I64, NULL,
                            NULL), 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_array_open(tu_name("d"), 0, &o), 0);
    cr_assert_eq(((int64_t *)sharr_array_data(o))[3], INT64_MIN);
    cr_assert_eq(((int64_t *)sharr_array_data(o))[11], 11);
    sharr_array_close(o);
}

/* Bind each name of e ('t.PID.k') to arr[k - 'a']. */
static void eval_into(const char *text, sharr_array **arr, sharr_array *out)
{
    sharr_expr *e = compile(text);
    sharr_array *bound[8];
    for (size_t i = 0; i < sharr_expr_nnames(e); i++) {
        const char *n = sharr_expr_name(e, i);
        bound[i] = arr[n[strlen(n) - 1] - 'a'];
    }
    cr_assert_eq(sharr_expr_eval(pool2, e, bound, out, NULL, NULL), 0,
                 "%s: %s", text, sharr_errmsg());
    sharr_expr_free(e);
}

/* The first of n floats (wide: doubles) of x and y that differ in their
 * bits, NaNs of any payload alike (the compiler may swap the operands of
 * + and *, which picks the other NaN's payload on x86); n if none. */
static size_t first_difference(const void *x, const void *y, size_t n,
                               bool wide)
{
    for (size_t i = 0; i < n; i++) {
        if (wide) {
            double u = ((const double *)x)[i], v = ((const double *)y)[i];
            if (!(isnan(u) && isnan(v)) && memcmp(&u, &v, 8) != 0)
                return i;
        } else {
            float u = ((const float *)x)[i], v = ((const float *)y)[i];
            if (!(isnan(u) && isnan(v)) && memcmp(&u, &v, 4) != 0)
                return i;
        }
    }
    return n;
}

/* Two arithmetic operations in a row run as one loop (expr_loops.c, "fused
 * pairs"); the bytes must be those of the two run apart (two statements),
 * for every pair of + - * /, either side, a constant in any place, on
 * values with inf, nan (of several payloads), -0, subnormals and huge
 * ones. */
Test(expr, fused_pairs_give_the_bytes_of_the_operations_run_apart)
{
    static const sharr_dtype dts[4] = {SHARR_F32, SHARR_F64, SHARR_C64,
                                       SHARR_C128};
    static const char ops[4] = {'+', '-', '*', '/'};
    const size_t n = 1500, shape[1] = {n};
    int checked = 0;

    for (int d = 0; d < 4; d++) {
        sharr_dtype dt = dts[d];
        sharr_array *arr[26] = {0};
        arr['x' - 'a'] = make("x", dt, 1, shape, "random:5");
        arr['y' - 'a'] = make("y", dt, 1, shape, "random:6");
        arr['z' - 'a'] = make("z", dt, 1, shape, "random:7");
        arr['t' - 'a'] = make("t", dt, 1, shape, NULL);
        sharr_array *o1 = make("o", dt, 1, shape, NULL),
                    *o2 = make("p", dt, 1, shape, NULL);
        bool wide = dt == SHARR_F64 || dt == SHARR_C128;
        size_t parts = dt == SHARR_C64 || dt == SHARR_C128 ? 2 : 1;
        const double special[] = {INFINITY, -INFINITY, NAN, -0.0, 0.0,
                                  1e-310, 1e-40, 1e308, 3e38, -1.0};
        for (int k = 0; k < 3; k++) {
            unsigned char *p = sharr_array_data(arr["xyz"[k] - 'a']);
            for (size_t i = 0; i < 200 * parts; i++) {
                double v = special[(i * 7 + (size_t)k * 3) % 10];
                if (wide) {
                    uint64_t bits;
                    memcpy(&bits, &v, 8);
                    if (isnan(v))
                        bits |= (uint64_t)(i + 1 + (size_t)k) << 20;
                    memcpy(p + i * 8, &bits, 8);
                } else {
                    float f = (float)v;
                    uint32_t bits;
                    memcpy(&bits, &f, 4);
                    if (isnan(f))
                        bits |= (uint32_t)(i + 1 + (size_t)k) << 4;
                    memcpy(p + i * 4, &bits, 4);
                }
            }
        }
        for (int o1i = 0; o1i < 4; o1i++)
            for (int o2i = 0; o2i < 4; o2i++)
                for (int side = 0; side < 2; side++)
                    for (int cst = 0; cst < 4; cst++) {
                        /* cst: 0 none, 1..3: x, y or z is 1.5 */
                        const char *x = cst == 1 ? "1.5" : "$x",
                                   *y = cst == 2 ? "1.5" : "$y",
                                   *z = cst == 3 ? "1.5" : "$z";
                        char both[128], first[64], second[64];
                        snprintf(first, sizeof first, "%s %c %s", x,
                                 ops[o1i], y);
                        if (side)
                            snprintf(both, sizeof both, "%s %c (%s)", z,
                                     ops[o2i], first);
                        else
                            snprintf(both, sizeof both, "(%s) %c %s", first,
                                     ops[o2i], z);
                        if (side)
                            snprintf(second, sizeof second, "%s %c $t", z,
                                     ops[o2i]);
                        else
                            snprintf(second, sizeof second, "$t %c %s",
                                     ops[o2i], z);
                        eval_into(both, arr, o1);
                        eval_into(first, arr, arr['t' - 'a']);
                        eval_into(second, arr, o2);
                        size_t at = first_difference(
                            sharr_array_data(o1), sharr_array_data(o2),
                            n * parts, wide);
                        cr_assert_eq(at, n * parts, "%s: %s differs from %s "
                                     "then %s at element %zu",
                                     sharr_dtype_name(dt), both, first,
                                     second, at / parts);
                        checked++;
                    }
        for (int k = 0; k < 26; k++)
            if (arr[k]) {
                sharr_unlink(sharr_array_name(arr[k]));
                sharr_array_close(arr[k]);
            }
        sharr_unlink(sharr_array_name(o1));
        sharr_unlink(sharr_array_name(o2));
        sharr_array_close(o1);
        sharr_array_close(o2);
    }
    cr_assert_eq(checked, 4 * 4 * 4 * 2 * 4);
}

/* Results streamed with non-temporal stores (outputs of 16 MiB and more)
 * are the bytes of ordinary stores: forced on small arrays, with a pool
 * whose blocks of 3 rows of 1499 elements start at every alignment, for
 * outputs of 1 to 16 bytes per element, fused pairs, single operations
 * and programs with tile registers. */
Test(expr, streamed_results_are_the_bytes_of_ordinary_stores)
{
    static const char *texts[] = {
        "$x * $x + $x",  "abs($x)",           "u8($x * 100)",
        "$x > $v",       "f32($x) - $v",      "c64($x) * $v",
        "i16($x * 1000) // 7", "sqrt(abs($x)) * exp(-$x) + $v",
        "c128($x) * 1j + $x", "where($x > 0.5, $x, $v)"};
    size_t s2[2] = {97, 1499}, s1[1] = {1499};
    sharr_array *x = make("x", SHARR_F64, 2, s2, "random:3"),
                *v = make("v", SHARR_F32, 1, s1, "random:4");
    sharr_run_opts ro = {{SHARR_SCHED_DYNAMIC, 3}, NULL, NULL};

    for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) {
        sharr_expr *e = compile(texts[t]);
        sharr_array *bound[2], *o[2];
        sharr_dtype dt;
        size_t nd, shape[SHARR_MAX_NDIM];
        for (size_t i = 0; i < sharr_expr_nnames(e); i++)
            bound[i] = strstr(sharr_expr_name(e, i), ".x") ? x : v;
        cr_assert_eq(sharr_expr_type(e, bound, &dt, &nd, shape), 0, "%s",
                     sharr_errmsg());
        for (int k = 0; k < 2; k++) {
            o[k] = make(k ? "o1" : "o0", dt, nd, shape, NULL);
            memset(sharr_array_data(o[k]), 0x5a, sharr_array_nbytes(o[k]));
            setenv("SHARR_EXPR_STREAM", k ? "1" : "0", 1);
            cr_assert_eq(sharr_expr_eval(k ? pool2 : NULL, e, bound, o[k],
                                         k ? &ro : NULL, NULL),
                         0, "%s", sharr_errmsg());
        }
        unsetenv("SHARR_EXPR_STREAM");
        cr_assert_eq(memcmp(sharr_array_data(o[0]), sharr_array_data(o[1]),
                            sharr_array_nbytes(o[0])), 0,
                     "%s: streamed results differ", texts[t]);
        for (int k = 0; k < 2; k++) {
            sharr_unlink(sharr_array_name(o[k]));
            sharr_array_close(o[k]);
        }
        sharr_expr_free(e);
    }
    sharr_unlink(sharr_array_name(x));
    sharr_unlink(sharr_array_name(v));
    sharr_array_close(x);
    sharr_array_close(v);
}

/* Which programs stream: outputs of 16 MiB and more of light operations
 * only (here a (512, 4096) f64 result of a row and a column), unless
 * SHARR_EXPR_STREAM says otherwise. */
Test(expr, large_outputs_of_light_programs_are_streamed)
{
    static const struct { const char *text; int want; } cases[] = {
        {"$r + $c", 1},        {"$r * $c + $r", 1},   {"-$r * $c", 1},
        {"where($r > $c, $r, 1.5)", 1}, {"c128($r) * $c", 1},
        {"sqrt($r) / $c", 1},  {"exp($r + $c)", 0},   {"$r ** $c", 0},
        {"abs(c128($r) + $c)", 0}, {"f32($r + $c)", 0}, {"$r", 0}};
    size_t sr[1] = {4096}, sc[2] = {512, 1};
    sharr_array *r = make("r", SHARR_F64, 1, sr, "random:1"),
                *c = make("c", SHARR_F64, 2, sc, "random:2");

    for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
        sharr_expr *e = compile(cases[t].text);
        sharr_array *bound[2];
        for (size_t i = 0; i < sharr_expr_nnames(e); i++)
            bound[i] = strstr(sharr_expr_name(e, i), ".r") ? r : c;
        cr_assert_eq(sharr__expr_streams(e, bound), cases[t].want, "%s",
                     cases[t].text);
        setenv("SHARR_EXPR_STREAM", cases[t].want ? "0" : "1", 1);
        cr_assert_eq(sharr__expr_streams(e, bound), !cases[t].want,
                     "%s with SHARR_EXPR_STREAM", cases[t].text);
        unsetenv("SHARR_EXPR_STREAM");
        sharr_expr_free(e);
    }
    sharr_unlink(sharr_array_name(r));
    sharr_unlink(sharr_array_name(c));
    sharr_array_close(r);
    sharr_array_close(c);
}
