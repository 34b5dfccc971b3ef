/*
 * test_blas.c - OpenBLAS is loaded on first use, not linked: with a
 * library that cannot be loaded (this file builds lib/ops/blas.c with a
 * name that does not exist), gemm and float axpy fail cleanly with
 * SHARR_ENOENT in the caller and leave C untouched, while integer axpy,
 * which needs no BLAS, still works.
 */
#define SHARR_BLAS_SONAME "libsharr-test-no-such-blas.so.0"
#include "../lib/ops/blas.c"

#include "testutil.h"

TestSuite(blas, .init = tu_setup, .fini = tu_cleanup, .timeout = 30);

static sharr_array *make(const char *label, sharr_dtype dt, size_t r,
                         size_t c)
{
    size_t shape[2] = {r, c};
    sharr_array *a;
    cr_assert_eq(sharr_array_create(tu_name(label), dt, 2, shape, NULL, &a),
                 0, "%s", sharr_errmsg());
    return a;
}

Test(blas, gemm_without_a_loadable_openblas_fails_with_enoent)
{
    sharr_array *a = make("a", SHARR_F64, 2, 2);
    sharr_array *c = make("c", SHARR_F64, 2, 2);
    double one = 1, zero = 0, *cd = sharr_array_data(c);
    cd[0] = 5;
    cr_assert_eq(sharr_gemm(NULL, &one, a, a, &zero, c, NULL), SHARR_ENOENT);
    cr_assert(strstr(sharr_errmsg(), "cannot load OpenBLAS") &&
              strstr(sharr_errmsg(), "libsharr-test-no-such-blas"), "%s",
              sharr_errmsg());
    cr_assert_eq(cd[0], 5, "C was not touched");
    sharr_array_close(a);
    sharr_array_close(c);
}

Test(blas, float_axpy_needs_openblas_and_integer_axpy_does_not)
{
    sharr_array *x = make("x", SHARR_F32, 2, 3);
    sharr_array *y = make("y", SHARR_F32, 2, 3);
    sharr_array *i = make("i", SHARR_I32, 2, 3);
    sharr_array *j = make("j", SHARR_I32, 2, 3);
    float two = 2;
    int32_t three = 3;
    ((int32_t *)sharr_array_data(i))[4] = 7;
    cr_assert_eq(sharr_axpy(NULL, &two, x, y, NULL), SHARR_ENOENT);
    cr_assert_eq(sharr_axpy(NULL, &three, i, j, NULL), 0, "%s",
                 sharr_errmsg());
    cr_assert_eq(((int32_t *)sharr_array_data(j))[4], 21);
    sharr_array_close(x);
    sharr_array_close(y);
    sharr_array_close(i);
    sharr_array_close(j);
}
