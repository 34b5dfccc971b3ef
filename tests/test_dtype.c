/*
 * test_dtype.c - dtype names, sizes, descrs; value parsing and formatting.
 */
#include "testutil.h"

#include <float.h>
#include <math.h>

TestSuite(dtype, .timeout = 10);

Test(dtype, every_dtype_has_name_size_descr_and_kind)
{
    static const struct { sharr_dtype dt; const char *name, *descr;
                          size_t size; char kind; } t[] = {
        {SHARR_I8, "i8", "|i1", 1, 'i'},    {SHARR_I16, "i16", "<i2", 2, 'i'},
        {SHARR_I32, "i32", "<i4", 4, 'i'},  {SHARR_I64, "i64", "<i8", 8, 'i'},
        {SHARR_U8, "u8", "|u1", 1, 'u'},    {SHARR_U16, "u16", "<u2", 2, 'u'},
        {SHARR_U32, "u32", "<u4", 4, 'u'},  {SHARR_U64, "u64", "<u8", 8, 'u'},
        {SHARR_F32, "f32", "<f4", 4, 'f'},  {SHARR_F64, "f64", "<f8", 8, 'f'},
        {SHARR_C64, "c64", "<c8", 8, 'c'},  {SHARR_C128, "c128", "<c16", 16,
                                             'c'}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        sharr_dtype back;
        cr_assert_str_eq(sharr_dtype_name(t[i].dt), t[i].name);
        cr_assert_str_eq(sharr_dtype_descr(t[i].dt), t[i].descr);
        cr_assert_eq(sharr_dtype_size(t[i].dt), t[i].size);
        cr_assert_eq(sharr_dtype_kind(t[i].dt), t[i].kind);
        cr_assert_eq(sharr_dtype_parse(t[i].name, &back), 0);
        cr_assert_eq(back, t[i].dt);
        cr_assert_eq(sharr_dtype_parse(t[i].descr, &back), 0);
        cr_assert_eq(back, t[i].dt);
    }
    cr_assert_eq(sharr_dtype_size((sharr_dtype)0), 0);
    cr_assert_null(sharr_dtype_name((sharr_dtype)13));
    cr_assert_null(sharr_dtype_descr((sharr_dtype)-1));
}

Test(dtype, numpy_names_are_accepted)
{
    static const struct { const char *name; sharr_dtype dt; } cases[] = {
        {"int32", SHARR_I32},       {"float64", SHARR_F64},
        {"complex128", SHARR_C128}, {"complex64", SHARR_C64},
        {"uint8", SHARR_U8},        {"=f4", SHARR_F32}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sharr_dtype dt;
        cr_assert_eq(sharr_dtype_parse(cases[i].name, &dt), 0, "%s",
                     cases[i].name);
        cr_assert_eq(dt, cases[i].dt, "%s", cases[i].name);
    }
}

Test(dtype, unknown_names_fail_with_einval_listing_the_choices)
{
    sharr_dtype dt = SHARR_F64;
    /* Near misses (f16, >f8, I32, f8) get a reason instead: test_names.c.
     * "int" is NumPy's int64. */
    const char *bad[] = {"", "float128", "c256", "bool"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(sharr_dtype_parse(bad[i], &dt), SHARR_EINVAL, "%s",
                     bad[i]);
        cr_assert_eq(dt, SHARR_DTYPE_INVALID);
        cr_assert(strstr(sharr_errmsg(), "c128") != NULL);
    }
    cr_assert_eq(sharr_dtype_parse(NULL, &dt), SHARR_EINVAL);
}

Test(dtype, integers_parse_within_their_width_and_refuse_outside)
{
    int8_t i8;
    uint8_t u8;
    int64_t i64;
    uint64_t u64;
    cr_assert_eq(sharr_value_parse(SHARR_I8, "127", &i8), 0);
    cr_assert_eq(i8, 127);
    cr_assert_eq(sharr_value_parse(SHARR_I8, "-128", &i8), 0);
    cr_assert_eq(i8, -128);
    cr_assert_eq(sharr_value_parse(SHARR_I8, "128", &i8), SHARR_ERANGE);
    cr_assert_eq(sharr_value_parse(SHARR_I8, "-129", &i8), SHARR_ERANGE);
    cr_assert_eq(sharr_value_parse(SHARR_U8, "255", &u8), 0);
    cr_assert_eq(u8, 255);
    cr_assert_eq(sharr_value_parse(SHARR_U8, "256", &u8), SHARR_ERANGE);
    cr_assert_eq(sharr_value_parse(SHARR_U8, "-1", &u8), SHARR_ERANGE);
    cr_assert_eq(sharr_value_parse(SHARR_U8, "0x1f", &u8), 0);
    cr_assert_eq(u8, 31);
    cr_assert_eq(sharr_value_parse(SHARR_U8, "010", &u8), 0);
    cr_assert_eq(u8, 10, "a leading zero is decimal, not octal");
    cr_assert_eq(sharr_value_parse(SHARR_I64, "-9223372036854775808", &i64),
                 0);
    cr_assert_eq(i64, INT64_MIN);
    cr_assert_eq(sharr_value_parse(SHARR_I64, "9223372036854775808", &i64),
                 SHARR_ERANGE);
    cr_assert_eq(sharr_value_parse(SHARR_U64, "18446744073709551615", &u64),
                 0);
    cr_assert_eq(u64, UINT64_MAX);
    cr_assert_eq(sharr_value_parse(SHARR_U64, "18446744073709551616", &u64),
                 SHARR_ERANGE);
    cr_assert_eq(sharr_value_parse(SHARR_I32, " 42 ", &i64), 0);
    const char *bad[] = {"1.5", "1e3", "abc", "", "--1", "1-", "0x", "2j"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(sharr_value_parse(SHARR_I32, bad[i], &i64), SHARR_EINVAL,
                     "'%s'", bad[i]);
}

Test(dtype, reals_parse_with_inf_nan_and_range_checks)
{
    double d;
    float f;
    cr_assert_eq(sharr_value_parse(SHARR_F64, "-2.5e-3", &d), 0);
    cr_assert_eq(d, -2.5e-3);
    cr_assert_eq(sharr_value_parse(SHARR_F64, "inf", &d), 0);
    cr_assert(isinf(d) && d > 0);
    cr_assert_eq(sharr_value_parse(SHARR_F64, "-nan", &d), 0);
    cr_assert(isnan(d));
    cr_assert_eq(sharr_value_parse(SHARR_F64, "1e400", &d), SHARR_ERANGE);
    cr_assert_eq(sharr_value_parse(SHARR_F32, "1e39", &f), SHARR_ERANGE);
    cr_assert_eq(sharr_value_parse(SHARR_F32, "3.5", &f), 0);
    cr_assert_eq(f, 3.5f);
    cr_assert_eq(sharr_value_parse(SHARR_F64, "1e-320", &d), 0, "subnormal");
    cr_assert_eq(sharr_value_parse(SHARR_F64, "1+2j", &d), SHARR_EINVAL);
    cr_assert(strstr(sharr_errmsg(), "not complex") != NULL, "%s",
              sharr_errmsg());
    cr_assert_eq(sharr_value_parse(SHARR_F64, "1.5x", &d), SHARR_EINVAL);
    cr_assert_eq(sharr_value_parse(SHARR_F64, NULL, &d), SHARR_EINVAL);
}

static void complex_is(const char *text, double re, double im)
{
    double z[2] = {NAN, NAN};
    float w[2];
    cr_assert_eq(sharr_value_parse(SHARR_C128, text, z), 0, "'%s': %s", text,
                 sharr_errmsg());
    cr_assert(z[0] == re && z[1] == im, "'%s' gave %g%+gj", text, z[0], z[1]);
    cr_assert_eq(sharr_value_parse(SHARR_C64, text, w), 0);
    cr_assert(w[0] == (float)re && w[1] == (float)im);
}

Test(dtype, complex_values_parse_in_every_documented_form)
{
    complex_is("1.5", 1.5, 0);
    complex_is("-2j", 0, -2);
    complex_is("0.6+0.8i", 0.6, 0.8);
    complex_is("0.6+0.8j", 0.6, 0.8);
    complex_is("0.6-0.8j", 0.6, -0.8);
    complex_is("-1-2i", -1, -2);
    complex_is("(1+2j)", 1, 2);
    complex_is("j", 0, 1);
    complex_is("-j", 0, -1);
    complex_is("3+j", 3, 1);
    complex_is("1e-3-1e+3j", 1e-3, -1e3);
    complex_is(" 2J ", 0, 2);
    double z[2];
    const char *bad[] = {"1+2", "1+2k", "2jj", "1+2j+3", "", "(1+2j", "abc",
                         "1 + 2j"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(sharr_value_parse(SHARR_C128, bad[i], z), SHARR_EINVAL,
                     "'%s'", bad[i]);
    cr_assert_eq(sharr_value_parse(SHARR_C64, "1e39+1j", z), SHARR_ERANGE);
}

Test(dtype, formatted_values_read_back_exactly)
{
    char buf[128];
    uint64_t state = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17;
        double d, back;
        memcpy(&d, &state, 8);
        if (!isfinite(d))
            continue;
        cr_assert_gt(sharr_value_format(SHARR_F64, &d, buf, sizeof buf), 0);
        cr_assert_eq(sharr_value_parse(SHARR_F64, buf, &back), 0, "%s", buf);
        cr_assert(back == d, "%.17g printed as %s", d, buf);
        float f = (float)(d / 1e300), fb;
        if (!isfinite(f))
            continue;
        sharr_value_format(SHARR_F32, &f, buf, sizeof buf);
        cr_assert_eq(sharr_value_parse(SHARR_F32, buf, &fb), 0);
        cr_assert(fb == f, "%.9g printed as %s", f, buf);
    }
}

Test(dtype, values_format_like_numpy)
{
    char buf[128];
    double z[2] = {0.6, -0.8}, d = 10.0, big = 1e20, nan = NAN;
    int8_t i8 = -128;
    uint64_t u = UINT64_MAX;
    float zf[2] = {0.1f, 0.2f};
    sharr_value_format(SHARR_C128, z, buf, sizeof buf);
    cr_assert_str_eq(buf, "0.6-0.8j");
    z[1] = 0.8;
    sharr_value_format(SHARR_C128, z, buf, sizeof buf);
    cr_assert_str_eq(buf, "0.6+0.8j");
    sharr_value_format(SHARR_C64, zf, buf, sizeof buf);
    cr_assert_str_eq(buf, "0.1+0.2j");
    sharr_value_format(SHARR_F64, &d, buf, sizeof buf);
    cr_assert_str_eq(buf, "10");
    sharr_value_format(SHARR_F64, &big, buf, sizeof buf);
    cr_assert_str_eq(buf, "1e+20");
    sharr_value_format(SHARR_F64, &nan, buf, sizeof buf);
    cr_assert_str_eq(buf, "nan");
    sharr_value_format(SHARR_I8, &i8, buf, sizeof buf);
    cr_assert_str_eq(buf, "-128");
    sharr_value_format(SHARR_U64, &u, buf, sizeof buf);
    cr_assert_str_eq(buf, "18446744073709551615");
    cr_assert_eq(sharr_value_format(SHARR_U64, &u, buf, 5), SHARR_ERANGE);
    cr_assert_str_eq(buf, "");
}

Test(dtype, the_largest_float_reads_back_from_its_printed_text)
{
    float f, z[2];
    char buf[64];
    float max = FLT_MAX;
    sharr_value_format(SHARR_F32, &max, buf, sizeof buf);
    cr_assert_str_eq(buf, "3.4028235e+38");
    cr_assert_eq(sharr_value_parse(SHARR_F32, buf, &f), 0, "%s",
                 sharr_errmsg());
    cr_assert_eq(f, FLT_MAX);
    cr_assert_eq(sharr_value_parse(SHARR_C64, "-3.4028235e+38+3.4028235e+38j",
                                   z), 0, "%s", sharr_errmsg());
    cr_assert(z[0] == -FLT_MAX && z[1] == FLT_MAX);
    /* Rounded once, from the text: through a double this would tie to
     * 1.0f; the text is just above the midpoint of 1 and the next float. */
    cr_assert_eq(sharr_value_parse(SHARR_F32, "1.0000000596046447753906250001",
                                   &f), 0);
    cr_assert_eq(f, nextafterf(1.0f, 2.0f));
    cr_assert_eq(sharr_value_parse(SHARR_F32, "3.4028236e38", &f),
                 SHARR_ERANGE, "beyond FLT_MAX's rounding range");
}

static const char *fmt64(double d)
{
    static char buf[64];
    sharr_value_format(SHARR_F64, &d, buf, sizeof buf);
    return buf;
}

static const char *fmt32(float f)
{
    static char buf[64];
    sharr_value_format(SHARR_F32, &f, buf, sizeof buf);
    return buf;
}

Test(dtype, floats_print_the_fewest_digits_in_numpys_layout)
{
    cr_assert_str_eq(fmt32(1e15f), "1e+15");
    cr_assert_str_eq(fmt32(1e16f), "1e+16");
    cr_assert_str_eq(fmt32(999999.94f), "999999.94");
    cr_assert_str_eq(fmt32(1e6f), "1e+06", "NumPy 2.3's float32 cutoff");
    cr_assert_str_eq(fmt64(1e15), "1000000000000000");
    cr_assert_str_eq(fmt32(1e-4f), "1e-04", "NumPy compares 1e-4 as double");
    cr_assert_str_eq(fmt32(0.1f), "0.1");
    cr_assert_str_eq(fmt64(2.110545508431221e16), "2.110545508431221e+16");
    cr_assert_str_eq(fmt64(9007199254740992.0), "9007199254740992");
    cr_assert_str_eq(fmt64(1e-4), "0.0001");
    cr_assert_str_eq(fmt64(2.5e-5), "2.5e-05");
    cr_assert_str_eq(fmt64(-0.0), "-0");
    cr_assert_str_eq(fmt64(5e-324), "5e-324");
    cr_assert_str_eq(fmt64(1234.5), "1234.5");
    /* 2^-1017: the nearest 16-digit decimal misses, the one above fits. */
    cr_assert_str_eq(fmt64(0x1p-1017), "7.120236347223045e-307");
}
