/*
 * test_ops.c - the built-in kernels, checked against plain serial
 * references.
 */
#include "testutil.h"

#include <complex.h>
#include <math.h>

TestSuite(ops, .init = tu_setup, .fini = tu_cleanup, .timeout = 60);

static sharr_array *make(const char *label, sharr_dtype dt, size_t ndim,
                         const size_t *shape)
{
    sharr_array *a = NULL;
    cr_assert_eq(sharr_array_create(tu_name(label), dt, ndim, shape, NULL, &a),
                 0, "%s", sharr_errmsg());
    return a;
}

static void fill(sharr_array *a, const char *how)
{
    sharr_fill_spec s;
    cr_assert_eq(sharr_fill_parse(sharr_array_dtype(a), how, &s), 0, "%s: %s",
                 how, sharr_errmsg());
    cr_assert_eq(sharr_array_fill(a, &s), 0, "%s", sharr_errmsg());
}

Test(ops, fill_value_sets_every_element_of_every_dtype)
{
    size_t shape[] = {7, 5};
    for (int dt = SHARR_I8; dt <= SHARR_C128; dt++) {
        char label[16];
        unsigned char want[16] = {0};
        snprintf(label, sizeof label, "v%d", dt);
        sharr_array *a = make(label, (sharr_dtype)dt, 2, shape);
        const char *v = sharr_dtype_kind((sharr_dtype)dt) == 'c' ? "3-4j" : "3";
        fill(a, v);
        cr_assert_eq(sharr_value_parse((sharr_dtype)dt, v, want), 0);
        size_t item = sharr_dtype_size((sharr_dtype)dt);
        for (size_t i = 0; i < 35; i++)
            cr_assert_eq(memcmp((char *)sharr_array_data(a) + i * item, want,
                                item), 0, "dtype %d element %zu", dt, i);
        fill(a, "zeros");
        for (size_t i = 0; i < 35 * item; i++)
            cr_assert_eq(((unsigned char *)sharr_array_data(a))[i], 0);
        fill(a, "ones");
        cr_assert_eq(sharr_value_parse((sharr_dtype)dt, "1", want), 0);
        cr_assert_eq(memcmp((char *)sharr_array_data(a) + 34 * item, want,
                            item), 0);
        sharr_array_close(a);
    }
}

Test(ops, fill_range_is_the_c_order_index_and_integers_wrap)
{
    size_t shape[] = {3, 100};
    sharr_array *a = make("r8", SHARR_I8, 2, shape);
    sharr_array *c = make("rc", SHARR_C64, 2, shape);
    sharr_array *u = make("ru", SHARR_U16, 2, shape);
    fill(a, "range");
    fill(c, "range");
    fill(u, "range");
    int8_t *p = sharr_array_data(a);
    float *z = sharr_array_data(c);
    uint16_t *q = sharr_array_data(u);
    for (int k = 0; k < 300; k++) {
        cr_assert_eq(p[k], (int8_t)(uint8_t)k, "element %d", k);
        cr_assert_eq(z[2 * k], (float)k);
        cr_assert_eq(z[2 * k + 1], 0.0f);
        cr_assert_eq(q[k], k);
    }
    cr_assert_eq(p[200], -56);
    sharr_array_close(a);
    sharr_array_close(c);
    sharr_array_close(u);
}

Test(ops, fill_random_is_reproducible_in_range_and_seed_dependent)
{
    size_t shape[] = {50, 40};
    sharr_array *a = make("ra", SHARR_F64, 2, shape);
    sharr_array *b = make("rb", SHARR_F64, 2, shape);
    sharr_array *z = make("rz", SHARR_C128, 2, shape);
    fill(a, "random:42");
    fill(b, "random:42");
    cr_assert_eq(memcmp(sharr_array_data(a), sharr_array_data(b), 2000 * 8),
                 0);
    fill(b, "random:43");
    cr_assert_neq(memcmp(sharr_array_data(a), sharr_array_data(b), 2000 * 8),
                  0);
    double *p = sharr_array_data(a), mean = 0;
    for (int i = 0; i < 2000; i++) {
        cr_assert(p[i] >= 0.0 && p[i] < 1.0);
        mean += p[i] / 2000;
    }
    cr_assert(fabs(mean - 0.5) < 0.05, "mean %g", mean);
    fill(z, "random:42");
    double *q = sharr_array_data(z);
    cr_assert(q[0] != q[1], "real and imaginary parts are independent");
    sharr_array_close(a);
    sharr_array_close(b);
    sharr_array_close(z);
}

Test(ops, fill_spec_errors_are_einval_or_erange)
{
    sharr_fill_spec s;
    cr_assert_eq(sharr_fill_parse(SHARR_U8, "300", &s), SHARR_ERANGE);
    cr_assert_eq(sharr_fill_parse(SHARR_F64, "1+2j", &s), SHARR_EINVAL);
    cr_assert_eq(sharr_fill_parse(SHARR_F64, "random:x", &s), SHARR_EINVAL);
    cr_assert_eq(sharr_fill_parse(SHARR_F64, "random:-1", &s), SHARR_EINVAL);
    cr_assert_eq(sharr_fill_parse(SHARR_F64, "randomly", &s), SHARR_EINVAL);
    cr_assert_eq(sharr_fill_parse(SHARR_F64, "", &s), SHARR_EINVAL);
    cr_assert_eq(sharr_fill_parse((sharr_dtype)0, "1", &s), SHARR_EINVAL);
    cr_assert_eq(sharr_fill_parse(SHARR_F64, "random", &s), 0);
    cr_assert_eq(s.kind, SHARR_FILL_RANDOM);
    cr_assert_eq(s.seed, 0);
}
