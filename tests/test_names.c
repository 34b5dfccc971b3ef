/*
 * test_names.c - the dtype names sharr_dtype_parse() accepts (NumPy's,
 * spelled as NumPy spells them) and the ones it refuses with a reason.
 */
#include "testutil.h"

TestSuite(names, .timeout = 10);

Test(names, numpy_names_parse_to_the_dtype_numpy_gives_them_on_lp64)
{
    static const struct { const char *text; sharr_dtype dt; } t[] = {
        {"int", SHARR_I64},      {"float", SHARR_F64},
        {"complex", SHARR_C128}, {"int_", SHARR_I64},
        {"uint", SHARR_U64},     {"byte", SHARR_I8},
        {"ubyte", SHARR_U8},     {"short", SHARR_I16},
        {"ushort", SHARR_U16},   {"intc", SHARR_I32},
        {"uintc", SHARR_U32},    {"long", SHARR_I64},
        {"ulong", SHARR_U64},    {"longlong", SHARR_I64},
        {"ulonglong", SHARR_U64}, {"intp", SHARR_I64},
        {"uintp", SHARR_U64},    {"single", SHARR_F32},
        {"double", SHARR_F64},   {"csingle", SHARR_C64},
        {"cdouble", SHARR_C128}, {"int8", SHARR_I8},
        {"uint64", SHARR_U64},   {"float32", SHARR_F32},
        {"complex64", SHARR_C64}, {"=f8", SHARR_F64},
        {"<c16", SHARR_C128},    {"|u1", SHARR_U8},
        {"<i8", SHARR_I64},      {"i8", SHARR_I8},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        sharr_dtype dt;
        cr_assert_eq(sharr_dtype_parse(t[i].text, &dt), 0, "%s: %s",
                     t[i].text, sharr_errmsg());
        cr_assert_eq(dt, t[i].dt, "%s", t[i].text);
    }
}

Test(names, refusals_say_why)
{
    static const struct { const char *text, *why; } t[] = {
        {"F32", "did you mean 'f32'?"},
        {"Float64", "did you mean 'float64'?"},
        {"INT", "did you mean 'int'?"},
        {"f8", "'<f8' (float64), or f64"},
        {"i4", "'<i4' (int32), or i32"},
        {">f8", "little-endian"},
        {"f16", "no 2-byte float"},
        {"float16", "no 2-byte float"},
        {"bool", "use one of i8"},
        {"", "use one of i8"},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        sharr_dtype dt;
        cr_assert_eq(sharr_dtype_parse(t[i].text, &dt), SHARR_EINVAL, "%s",
                     t[i].text);
        cr_assert_eq(dt, SHARR_DTYPE_INVALID);
        cr_assert(strstr(sharr_errmsg(), t[i].why), "%s: %s", t[i].text,
                  sharr_errmsg());
    }
}
