/*
 * dtype.c - the element types: names, sizes, NumPy descrs, and conversion of
 * single values to and from text.
 *
 * The dtype numbers are stored in segments and must never change.  All
 * parsing is strict: the whole text must be consumed, and integers are range
 * checked for their width, so a typo never becomes a silent value.
 */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct dtype_desc {
    const char *name;
    const char *descr;
    const char *numpy;  /* NumPy's spelled-out name */
    size_t size;
    char kind;
};

static const struct dtype_desc dtypes[SHARR_NDTYPES + 1] = {
    [SHARR_I8] = {"i8", "|i1", "int8", 1, 'i'},
    [SHARR_I16] = {"i16", "<i2", "int16", 2, 'i'},
    [SHARR_I32] = {"i32", "<i4", "int32", 4, 'i'},
    [SHARR_I64] = {"i64", "<i8", "int64", 8, 'i'},
    [SHARR_U8] = {"u8", "|u1", "uint8", 1, 'u'},
    [SHARR_U16] = {"u16", "<u2", "uint16", 2, 'u'},
    [SHARR_U32] = {"u32", "<u4", "uint32", 4, 'u'},
    [SHARR_U64] = {"u64", "<u8", "uint64", 8, 'u'},
    [SHARR_F32] = {"f32", "<f4", "float32", 4, 'f'},
    [SHARR_F64] = {"f64", "<f8", "float64", 8, 'f'},
    [SHARR_C64] = {"c64", "<c8", "complex64", 8, 'c'},
    [SHARR_C128] = {"c128", "<c16", "complex128", 16, 'c'},
};

static const struct dtype_desc *desc(sharr_dtype dt)
{
    if ((int)dt < SHARR_I8 || (int)dt > SHARR_C128)
        return NULL;
    return &dtypes[dt];
}

size_t sharr_dtype_size(sharr_dtype dt)
{
    const struct dtype_desc *d = desc(dt);
    return d ? d->size : 0;
}

const char *sharr_dtype_name(sharr_dtype dt)
{
    const struct dtype_desc *d = desc(dt);
    return d ? d->name : NULL;
}

const char *sharr_dtype_descr(sharr_dtype dt)
{
    const struct dtype_desc *d = desc(dt);
    return d ? d->descr : NULL;
}

char sharr_dtype_kind(sharr_dtype dt)
{
    const struct dtype_desc *d = desc(dt);
    return d ? d->kind : 0;
}

/* NumPy's other names of the twelve dtypes, as np.dtype() reads them on
 * an LP64 little-endian host (Linux x86-64 and aarch64): Python's types
 * and the C-type names. */
static const struct {
    const char *name;
    sharr_dtype dt;
} aliases[] = {
    {"int", SHARR_I64},       {"float", SHARR_F64},    {"complex", SHARR_C128},
    {"int_", SHARR_I64},      {"uint", SHARR_U64},     {"byte", SHARR_I8},
    {"ubyte", SHARR_U8},      {"short", SHARR_I16},    {"ushort", SHARR_U16},
    {"intc", SHARR_I32},      {"uintc", SHARR_U32},    {"long", SHARR_I64},
    {"ulong", SHARR_U64},     {"longlong", SHARR_I64}, {"ulonglong", SHARR_U64},
    {"intp", SHARR_I64},      {"uintp", SHARR_U64},    {"single", SHARR_F32},
    {"double", SHARR_F64},    {"csingle", SHARR_C64},  {"cdouble", SHARR_C128},
};

#define NALIASES (sizeof aliases / sizeof aliases[0])

/* An exact name: sharr's, NumPy's sized one, an alias, or a typestr with
 * its byte order ('=' and '<' are the same order on a little-endian host;
 * '|' is NumPy's "not applicable" for one-byte types). */
static sharr_dtype lookup(const char *text)
{
    for (int dt = SHARR_I8; dt <= SHARR_C128; dt++) {
        const struct dtype_desc *d = &dtypes[dt];
        bool descr = (text[0] == '=' || text[0] == '<' || text[0] == '|') &&
                     strcmp(text + 1, d->descr + 1) == 0;
        if (strcmp(text, d->name) == 0 || strcmp(text, d->numpy) == 0 || descr)
            return (sharr_dtype)dt;
    }
    for (size_t i = 0; i < NALIASES; i++)
        if (strcmp(text, aliases[i].name) == 0)
            return aliases[i].dt;
    return SHARR_DTYPE_INVALID;
}

/* Why `text` is not a dtype, when it is close to one. */
static int refuse(const char *text)
{
    for (int dt = SHARR_I8; dt <= SHARR_C128; dt++) {
        const struct dtype_desc *d = &dtypes[dt];
        if (strcmp(text, d->descr + 1) == 0) /* "f8": a bare typestr */
            return sharr__fail(SHARR_EINVAL, "unknown dtype '%s': write "
                               "NumPy's typestr with its byte order, '%c%s' "
                               "(%s), or %s; sharr's own names count bits "
                               "(i8 is int8), typestrs count bytes", text,
                               d->descr[0], text, d->numpy, d->name);
        if (text[0] == '>' && strcmp(text + 1, d->descr + 1) == 0)
            return sharr__fail(SHARR_EINVAL, "unknown dtype '%s': arrays "
                               "are little-endian, write %s ('<%s'); loads "
                               "convert big-endian files", text, d->name,
                               d->descr + 1);
        if (strcasecmp(text, d->name) == 0 || strcasecmp(text, d->numpy) == 0)
            return sharr__fail(SHARR_EINVAL, "unknown dtype '%s': names are "
                               "lower case, as in NumPy: did you mean '%s'?",
                               text, strcasecmp(text, d->name) == 0
                                         ? d->name : d->numpy);
    }
    for (size_t i = 0; i < NALIASES; i++)
        if (strcasecmp(text, aliases[i].name) == 0)
            return sharr__fail(SHARR_EINVAL, "unknown dtype '%s': names are "
                               "lower case, as in NumPy: did you mean '%s'?",
                               text, aliases[i].name);
    if (strcmp(text, "f16") == 0 || strcmp(text, "float16") == 0 ||
        strcmp(text, "half") == 0 || strcmp(text, "<f2") == 0)
        return sharr__fail(SHARR_EINVAL, "unknown dtype '%s': sharr has no "
                           "2-byte float (HDF5 and .npy float16 data loads "
                           "as f32)", text);
    return sharr__fail(SHARR_EINVAL,
                       "unknown dtype '%s': use one of i8 i16 i32 i64 u8 u16 "
                       "u32 u64 f32 f64 c64 c128, NumPy's names (int32, "
                       "float64, complex128, int, float, complex, double, "
                       "single ...) or a typestr with its byte order ('<f8', "
                       "'|u1')", text);
}

int sharr_dtype_parse(const char *text, sharr_dtype *out)
{
    *out = SHARR_DTYPE_INVALID;
    if (text == NULL)
        return sharr__fail(SHARR_EINVAL, "dtype is NULL");
    if ((*out = lookup(text)) != SHARR_DTYPE_INVALID)
        return 0;
    return refuse(text);
}

/* ---- parsing values ---- */

/* Copy `text` without surrounding blanks into buf; false if it is too long
 * or empty. */
static bool trimmed(const char *text, char *buf, size_t size)
{
    size_t n;

    while (isspace((unsigned char)*text))
        text++;
    n = strlen(text);
    while (n > 0 && isspace((unsigned char)text[n - 1]))
        n--;
    if (n == 0 || n >= size)
        return false;
    memcpy(buf, text, n);
    buf[n] = '\0';
    return true;
}

uint64_t sharr__int_load(sharr_dtype dt, const void *elem)
{
    switch (dt) {
#define LOAD(D, T) case D: { T v; memcpy(&v, elem, sizeof v);                 \
        return (uint64_t)v; }
    LOAD(SHARR_I8, int8_t) LOAD(SHARR_I16, int16_t) LOAD(SHARR_I32, int32_t)
    LOAD(SHARR_I64, int64_t) LOAD(SHARR_U8, uint8_t) LOAD(SHARR_U16, uint16_t)
    LOAD(SHARR_U32, uint32_t) LOAD(SHARR_U64, uint64_t)
#undef LOAD
    default: return 0;
    }
}

void sharr__int_store(size_t size, uint64_t v, void *elem)
{
    switch (size) {
    case 1: { uint8_t w = (uint8_t)v; memcpy(elem, &w, 1); break; }
    case 2: { uint16_t w = (uint16_t)v; memcpy(elem, &w, 2); break; }
    case 4: { uint32_t w = (uint32_t)v; memcpy(elem, &w, 4); break; }
    default: memcpy(elem, &v, 8); break;
    }
}

/* Integers: decimal, or hex with 0x; never octal (a leading 0 is decimal). */
static int parse_int(sharr_dtype dt, const char *s, void *elem)
{
    size_t size = sharr_dtype_size(dt);
    bool neg = s[0] == '-';
    const char *digits = (s[0] == '-' || s[0] == '+') ? s + 1 : s;
    int base = (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X'))
                   ? 16 : 10;
    char *end;
    unsigned long long mag;

    if (!isxdigit((unsigned char)digits[0]))
        return sharr__fail(SHARR_EINVAL, "'%s' is not an integer", s);
    errno = 0;
    mag = strtoull(digits, &end, base);
    if (*end != '\0')
        return sharr__fail(SHARR_EINVAL, "'%s' is not an integer%s", s,
                           strpbrk(s, ".eE") ? " (the dtype is an integer "
                                               "type)" : "");
    if (errno == ERANGE)
        goto range;
    if (sharr_dtype_kind(dt) == 'u') {
        unsigned long long max = size == 8 ? ULLONG_MAX
                                           : (1ULL << (8 * size)) - 1;
        if (neg && mag != 0)
            goto range;
        if (mag > max)
            goto range;
        sharr__int_store(size, mag, elem);
        return 0;
    }
    /* Signed: the magnitude may reach 2^(bits-1) only when negative. */
    unsigned long long lim = 1ULL << (8 * size - 1);
    if (mag > (neg ? lim : lim - 1))
        goto range;
    sharr__int_store(size, neg ? 0 - mag : mag, elem);
    return 0;
range:
    return sharr__fail(SHARR_ERANGE, "%s is out of range for %s", s,
                       sharr_dtype_name(dt));
}

/* One real number with strtod, or strtof when `single`; *end points after
 * it.  Single precision is rounded once, from the text: strtod then a cast
 * would round twice (some texts would land on the wrong float) and would
 * refuse texts above FLT_MAX that round down to it, such as the
 * "3.4028235e+38" printed for FLT_MAX.  Overflow (a finite text that
 * rounds to inf) is an error; underflow to a tiny or zero value is
 * accepted. */
static int parse_real(const char *s, bool single, double *v, char **end)
{
    errno = 0;
    *v = single ? strtof(s, end) : strtod(s, end);
    if (*end == s)
        return SHARR_EINVAL;
    if (errno == ERANGE && isinf(*v))
        return SHARR_ERANGE;
    return 0;
}

static int store_float(sharr_dtype dt, double re, double im, void *elem)
{
    if (dt == SHARR_F32 || dt == SHARR_C64) {
        float f[2] = {(float)re, (float)im}; /* exact: parsed as floats */
        memcpy(elem, f, dt == SHARR_F32 ? 4 : 8);
    } else {
        double d[2] = {re, im};
        memcpy(elem, d, dt == SHARR_F64 ? 8 : 16);
    }
    return 0;
}

static bool is_imag_unit(char c)
{
    return c == 'j' || c == 'i' || c == 'J' || c == 'I';
}

/* Complex: "a", "bj", "j", "a+bj", "a-j", optionally inside parentheses. */
static int parse_complex(const char *s, bool single, double *re, double *im)
{
    char buf[128];
    char *p, *end;
    size_t n = strlen(s);
    double a, b;
    int err;

    if (s[0] == '(' && n >= 2 && s[n - 1] == ')') {
        if (n - 2 >= sizeof buf)
            return SHARR_EINVAL;
        memcpy(buf, s + 1, n - 2);
        buf[n - 2] = '\0';
    } else {
        if (n >= sizeof buf)
            return SHARR_EINVAL;
        memcpy(buf, s, n + 1);
    }
    p = buf;
    *re = *im = 0.0;
    /* A bare unit with an optional sign: "j", "-j". */
    if ((p[0] == '+' || p[0] == '-') && is_imag_unit(p[1]) && !p[2]) {
        *im = p[0] == '-' ? -1.0 : 1.0;
        return 0;
    }
    if (is_imag_unit(p[0]) && p[1] == '\0') {
        *im = 1.0;
        return 0;
    }
    if ((err = parse_real(p, single, &a, &end)) < 0)
        return err;
    if (*end == '\0') {
        *re = a;
        return 0;
    }
    if (is_imag_unit(*end) && end[1] == '\0') {
        *im = a;
        return 0;
    }
    if (*end != '+' && *end != '-')
        return SHARR_EINVAL;
    *re = a;
    p = end;
    if (is_imag_unit(p[1]) && p[2] == '\0') {
        *im = p[0] == '-' ? -1.0 : 1.0;
        return 0;
    }
    if ((err = parse_real(p, single, &b, &end)) < 0)
        return err;
    if (!is_imag_unit(*end) || end[1] != '\0')
        return SHARR_EINVAL;
    *im = b;
    return 0;
}

int sharr_value_parse(sharr_dtype dt, const char *text, void *elem)
{
    char s[128];
    char kind = sharr_dtype_kind(dt);
    double re = 0.0, im = 0.0;
    char *end;
    int err;

    if (kind == 0)
        return sharr__fail(SHARR_EINVAL, "invalid dtype %d", (int)dt);
    if (text == NULL || !trimmed(text, s, sizeof s))
        return sharr__fail(SHARR_EINVAL, "'%s' is not a number",
                           text ? text : "(null)");
    if (kind == 'i' || kind == 'u')
        return parse_int(dt, s, elem);
    if (kind == 'f') {
        err = parse_real(s, dt == SHARR_F32, &re, &end);
        if (err == 0 && *end != '\0')
            err = SHARR_EINVAL;
        if (err == SHARR_EINVAL)
            return sharr__fail(err, "'%s' is not a real number%s", s,
                               strpbrk(s, "jJiI") && !strpbrk(s, "nN")
                                   ? " (the dtype is real, not complex)"
                                   : "");
    } else {
        err = parse_complex(s, dt == SHARR_C64, &re, &im);
        if (err == SHARR_EINVAL)
            return sharr__fail(err, "'%s' is not a complex number "
                               "(write 1.5, -2j, 0.6+0.8j or 0.6+0.8i)", s);
    }
    if (err == SHARR_ERANGE)
        return sharr__fail(err, "%s is out of range for %s", s,
                           sharr_dtype_name(dt));
    return store_float(dt, re, im, elem);
}

/* ---- formatting values ---- */

static bool reads_back(const char *text, double v, bool single)
{
    return single ? strtof(text, NULL) == (float)v : strtod(text, NULL) == v;
}

/* The shortest decimal that reads back to v > 0 (finite; a float when
 * `single`): its digits as the integer *m with *ndig digits, the first of
 * weight 10^*e10.  For each count of digits from 1 up, the nearest decimal
 * of that length is tried (printf rounds correctly), then its neighbour on
 * the other side of v: at a power of two the values reading back to v reach
 * only half as far below v as above, so the nearest may miss where the
 * neighbour does not.  The nearest wins when both read back, as in Python
 * and NumPy.  17 digits (9 for a float) always read back. */
static void shortest_digits(double v, bool single, uint64_t *m, int *ndig,
                            int *e10)
{
    int maxd = single ? 9 : 17, p, x = 0;
    uint64_t p10 = 1, d = 0; /* p10 = 10^(p-1), the least p-digit number */

    for (p = 1; p <= maxd; p++, p10 *= 10) {
        char tmp[48];
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        d = 0;
        for (const char *c = tmp; *c != 'e'; c++)
            if (*c != '.')
                d = 10 * d + (uint64_t)(*c - '0');
        x = (int)strtol(strchr(tmp, 'e') + 1, NULL, 10);
        if (reads_back(tmp, v, single))
            break;
        if ((single ? strtof(tmp, NULL) : strtod(tmp, NULL)) < v) {
            if (++d == 10 * p10) {      /* 9.99e5 + 1 unit = 1.00e6 */
                d = p10;
                x++;
            }
        } else if (d-- == p10) {        /* 1.00e6 - 1 unit = 9.99e5 */
            d = 10 * p10 - 1;
            x--;
        }
        snprintf(tmp, sizeof tmp, "%llue%d", (unsigned long long)d,
                 x - (p - 1));
        if (reads_back(tmp, v, single))
            break;
    }
    while (d % 10 == 0 && p > 1) {
        d /= 10;
        p--;
    }
    *m = d;
    *ndig = p;
    *e10 = x;
}

/* The shortest text that reads back to v, in NumPy's repr form (since
 * NumPy 2.3): positional for 1e-4 <= |v| < 1e16, or below 1e6 for a float
 * (past 2^24 a float's positional digits would pose as an exact integer:
 * float 1e15 is 999999986991104), scientific otherwise ("1e+16",
 * "2.5e-05"); ".0" is left off integral values ("10"), as sharr always
 * has. */
static void format_real(double v, bool single, char *buf, size_t size)
{
    char dig[24], out[64];
    double a = fabs(v);
    uint64_t m;
    int n, e;
    size_t len = 0;

    if (isnan(v) || isinf(v) || v == 0) {
        snprintf(buf, size, "%s", isnan(v) ? "nan" : isinf(v)
                 ? (v < 0 ? "-inf" : "inf") : (signbit(v) ? "-0" : "0"));
        return;
    }
    shortest_digits(a, single, &m, &n, &e);
    snprintf(dig, sizeof dig, "%llu", (unsigned long long)m);
    if (signbit(v))
        out[len++] = '-';
    if (a >= 1e-4 && a < (single ? 1e6 : 1e16)) {
        /* At most 16 places before the point, or "0.000" and 17 digits. */
        if (e < 0) {
            out[len++] = '0';
            out[len++] = '.';
            for (int k = 0; k < -e - 1; k++)
                out[len++] = '0';
        }
        for (int k = 0; k < n || k <= e; k++) {
            if (k == e + 1 && e >= 0)
                out[len++] = '.';
            out[len++] = k < n ? dig[k] : '0';
        }
        out[len] = '\0';
    } else {
        snprintf(out + len, sizeof out - len, "%c%s%se%c%02d", dig[0],
                 n > 1 ? "." : "", dig + 1, e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    snprintf(buf, size, "%s", out);
}

int sharr_value_format(sharr_dtype dt, const void *elem, char *buf,
                       size_t size)
{
    char tmp[160], re[64], im[64];
    int n;

    switch (dt) {
    case SHARR_I8: case SHARR_I16: case SHARR_I32: case SHARR_I64:
        n = snprintf(tmp, sizeof tmp, "%lld",
                     (long long)(int64_t)sharr__int_load(dt, elem));
        break;
    case SHARR_U8: case SHARR_U16: case SHARR_U32: case SHARR_U64:
        n = snprintf(tmp, sizeof tmp, "%llu",
                     (unsigned long long)sharr__int_load(dt, elem));
        break;
    case SHARR_F32: { float v; memcpy(&v, elem, 4);
        format_real(v, true, tmp, sizeof tmp); n = (int)strlen(tmp); break; }
    case SHARR_F64: { double v; memcpy(&v, elem, 8);
        format_real(v, false, tmp, sizeof tmp); n = (int)strlen(tmp); break; }
    case SHARR_C64:
    case SHARR_C128: {
        double v[2];
        if (dt == SHARR_C64) {
            float f[2];
            memcpy(f, elem, 8);
            v[0] = f[0];
            v[1] = f[1];
        } else {
            memcpy(v, elem, 16);
        }
        format_real(v[0], dt == SHARR_C64, re, sizeof re);
        format_real(v[1], dt == SHARR_C64, im, sizeof im);
        /* The sign of the imaginary part is the joint: "1-2j", "1+nanj". */
        n = snprintf(tmp, sizeof tmp, "%s%s%sj", re,
                     im[0] == '-' ? "" : "+", im);
        break;
    }
    default:
        return sharr__fail(SHARR_EINVAL, "invalid dtype %d", (int)dt);
    }
    if (n < 0 || (size_t)n >= size) {
        if (size > 0)
            buf[0] = '\0';
        return sharr__fail(SHARR_ERANGE, "buffer of %zu bytes is too small "
                           "for the value", size);
    }
    memcpy(buf, tmp, (size_t)n + 1);
    return n;
}

/* IEEE half to single, exactly: subnormals, infinities, and NaNs with their
 * payload kept in the top mantissa bits (as NumPy does), so converting back
 * to half gives the same bits. */
float sharr__half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f,
             man = h & 0x3ff, bits;
    float f;

    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp == 0) {
        f = (float)man * 0x1p-24f; /* zero or subnormal: man * 2^-24 */
        return sign ? -f : f;
    } else {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    }
    memcpy(&f, &bits, 4);
    return f;
}

void sharr__widen_halves(void *buf, size_t count)
{
    /* The halves sit in the upper half of the float space; widening in
     * ascending order never overwrites a half not yet read. */
    const uint16_t *half = (const uint16_t *)(void *)((char *)buf + 2 * count);
    float *out = buf;

    for (size_t i = 0; i < count; i++)
        out[i] = sharr__half_to_float(half[i]);
}
