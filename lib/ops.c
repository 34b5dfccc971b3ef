/*
 * ops.c - built-in element kernels: fill (zeros, value, range, random).
 *
 * Every kernel works on a range of elements given by its first C-order
 * element index and a count, so the same code serves a whole array in the
 * caller and a row block in a worker, and results never depend on how the
 * array was split: random values come from a counter-based generator
 * (splitmix64 of the seed and the element index), not from a stream.
 */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"

#include <string.h>

/* splitmix64 of the n-th counter value: the n-th output of a splitmix64
 * stream seeded with `seed`, computed without walking the stream. */
static inline uint64_t mix64(uint64_t seed, uint64_t n)
{
    uint64_t z = seed + (n + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 (double) or 24 (float) random bits. */
static inline double unit_double(uint64_t r)
{
    return (double)(r >> 11) * 0x1.0p-53;
}

static inline float unit_float(uint64_t r)
{
    return (float)(r >> 40) * 0x1.0p-24f;
}

/* Repeat the `size`-byte element at `elem` count times into dst. */
static void fill_value(unsigned char *dst, const void *elem, size_t size,
                       size_t count)
{
    size_t total = size * count, done;

    if (total == 0)
        return;
    memcpy(dst, elem, size);
    /* Doubling copies: log2(count) memcpy calls of growing length. */
    for (done = size; done < total;) {
        size_t n = done < total - done ? done : total - done;
        memcpy(dst + done, dst, n);
        done += n;
    }
}

#define RANGE_LOOP(T, EXPR)                                                  \
    do {                                                                     \
        T *p = dst;                                                          \
        for (size_t i = 0; i < count; i++) {                                 \
            uint64_t k = first + i;                                          \
            p[i] = (EXPR);                                                   \
        }                                                                    \
    } while (0)

/* Element k = k converted to the dtype; integers wrap modulo 2^bits (done in
 * unsigned arithmetic, so no signed overflow is ever evaluated). */
static void fill_range(sharr_dtype dt, void *dst, size_t first, size_t count)
{
    switch (dt) {
    case SHARR_I8: case SHARR_U8: RANGE_LOOP(uint8_t, (uint8_t)k); break;
    case SHARR_I16: case SHARR_U16: RANGE_LOOP(uint16_t, (uint16_t)k); break;
    case SHARR_I32: case SHARR_U32: RANGE_LOOP(uint32_t, (uint32_t)k); break;
    case SHARR_I64: case SHARR_U64: RANGE_LOOP(uint64_t, k); break;
    case SHARR_F32: RANGE_LOOP(float, (float)k); break;
    case SHARR_F64: RANGE_LOOP(double, (double)k); break;
    case SHARR_C64: {
        float *p = dst;
        for (size_t i = 0; i < count; i++) {
            p[2 * i] = (float)(first + i);
            p[2 * i + 1] = 0.0f;
        }
        break;
    }
    case SHARR_C128: {
        double *p = dst;
        for (size_t i = 0; i < count; i++) {
            p[2 * i] = (double)(first + i);
            p[2 * i + 1] = 0.0;
        }
        break;
    }
    default:
        break;
    }
}

/* Element k draws counter k (real) or counters 2k and 2k+1 (complex). */
static void fill_random(sharr_dtype dt, uint64_t seed, void *dst,
                        size_t first, size_t count)
{
    switch (dt) {
    case SHARR_I8: case SHARR_U8:
        RANGE_LOOP(uint8_t, (uint8_t)mix64(seed, k)); break;
    case SHARR_I16: case SHARR_U16:
        RANGE_LOOP(uint16_t, (uint16_t)mix64(seed, k)); break;
    case SHARR_I32: case SHARR_U32:
        RANGE_LOOP(uint32_t, (uint32_t)mix64(seed, k)); break;
    case SHARR_I64: case SHARR_U64:
        RANGE_LOOP(uint64_t, mix64(seed, k)); break;
    case SHARR_F32: RANGE_LOOP(float, unit_float(mix64(seed, k))); break;
    case SHARR_F64: RANGE_LOOP(double, unit_double(mix64(seed, k))); break;
    case SHARR_C64: {
        float *p = dst;
        for (size_t i = 0; i < count; i++) {
            uint64_t k = first + i;
            p[2 * i] = unit_float(mix64(seed, 2 * k));
            p[2 * i + 1] = unit_float(mix64(seed, 2 * k + 1));
        }
        break;
    }
    case SHARR_C128: {
        double *p = dst;
        for (size_t i = 0; i < count; i++) {
            uint64_t k = first + i;
            p[2 * i] = unit_double(mix64(seed, 2 * k));
            p[2 * i + 1] = unit_double(mix64(seed, 2 * k + 1));
        }
        break;
    }
    default:
        break;
    }
}

void sharr__fill_elements(sharr_dtype dt, const sharr_fill_spec *spec,
                          void *dst, size_t first, size_t count)
{
    switch (spec->kind) {
    case SHARR_FILL_VALUE:
        fill_value(dst, spec->value, sharr_dtype_size(dt), count);
        break;
    case SHARR_FILL_RANGE:
        fill_range(dt, dst, first, count);
        break;
    case SHARR_FILL_RANDOM:
        fill_random(dt, spec->seed, dst, first, count);
        break;
    }
}

int sharr_fill_parse(sharr_dtype dt, const char *text, sharr_fill_spec *out)
{
    memset(out, 0, sizeof *out);
    if (sharr_dtype_size(dt) == 0)
        return sharr__fail(SHARR_EINVAL, "invalid dtype %d", (int)dt);
    if (text == NULL)
        return sharr__fail(SHARR_EINVAL, "fill is NULL");
    if (strcmp(text, "zeros") == 0 || strcmp(text, "zero") == 0) {
        out->kind = SHARR_FILL_VALUE;
        return 0;
    }
    if (strcmp(text, "ones") == 0 || strcmp(text, "one") == 0) {
        out->kind = SHARR_FILL_VALUE;
        return sharr_value_parse(dt, "1", out->value);
    }
    if (strcmp(text, "range") == 0) {
        out->kind = SHARR_FILL_RANGE;
        return 0;
    }
    if (strncmp(text, "random", 6) == 0 &&
        (text[6] == '\0' || text[6] == ':')) {
        uint64_t seed = 0;
        out->kind = SHARR_FILL_RANDOM;
        if (text[6] == ':' &&
            sharr_value_parse(SHARR_U64, text + 7, &seed) < 0)
            return sharr__fail(SHARR_EINVAL, "random:SEED needs a seed in "
                               "0..2^64-1, not '%s'", text + 7);
        out->seed = seed;
        return 0;
    }
    out->kind = SHARR_FILL_VALUE;
    return sharr_value_parse(dt, text, out->value);
}

int sharr_array_fill(sharr_array *a, const sharr_fill_spec *spec)
{
    if (!sharr_array_writable(a))
        return sharr__fail(SHARR_EACCES, "array '%s' is open read-only",
                           sharr_array_name(a));
    sharr__fill_elements(sharr_array_dtype(a), spec, sharr_array_data(a), 0,
                         sharr_array_size(a));
    return 0;
}
