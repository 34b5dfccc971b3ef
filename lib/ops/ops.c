/*
 * ops.c - the built-in kernels: fill, element-wise ops, axpy, statistics and
 * gemm, each a sharr_kernel run on the pool (or in the caller).
 *
 * Every kernel sees a block of whole rows, i.e. a contiguous run of elements
 * whose first C-order index is r0 * elements-per-row, so results never
 * depend on how the array was split: random values are a function of (seed,
 * index), and reductions and BLAS calls (axpy, gemm) use blocks fixed by the
 * shape.  Complex arithmetic is written out on (re, im) pairs: gcc's `double
 * complex` multiply checks for NaN/Inf and is several times slower; this
 * file is also compiled with -fcx-limited-range for the remaining complex
 * expressions.  Only this file calls CBLAS, through blas.h (OpenBLAS is
 * loaded on first use).
 */
#define _GNU_SOURCE
#include "internal.h"
#include "ops_rows.h"

#include "blas.h"
#include "reduce.h"
#include <complex.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Elements per reduction block when no schedule is given. */
#define STAT_BLOCK_ELEMS 65536

static const sharr_schedule STATIC_EVEN = {SHARR_SCHED_STATIC, 0};

static bool same_array(const sharr_array *x, const sharr_array *y);

static size_t row_elems(const sharr_array *a)
{
    return sharr_array_row_bytes(a) / sharr_dtype_size(sharr_array_dtype(a));
}

/* Blocks of whole rows, about STAT_BLOCK_ELEMS elements each, fixed by the
 * shape: for the reductions, and for BLAS calls, whose rounding depends on
 * where a call starts (OpenBLAS ?axpy fuses the multiply-add in its vector
 * loop but not in the tail), so that any number of workers sees the same
 * calls. */
/* Rows per fixed block for rows of `per` elements; rows of no elements
 * (shape (R, 0, ...)) all go in one block of `rows`. */
static size_t fixed_rows(size_t per, size_t rows)
{
    if (per == 0)
        return rows ? rows : 1;
    return per >= STAT_BLOCK_ELEMS ? 1 : STAT_BLOCK_ELEMS / per;
}

static sharr_schedule fixed_blocks(const sharr_array *a)
{
    sharr_schedule s = {SHARR_SCHED_DYNAMIC,
                        fixed_rows(row_elems(a), sharr_array_rows(a))};
    return s;
}

static int check_writable(const sharr_array *a)
{
    if (!sharr_array_writable(a))
        return sharr__fail(SHARR_EACCES, "array '%s' is open read-only",
                           sharr_array_name(a));
    return 0;
}

/* A job of `kernel` over `arrays` with the schedule and progress of ro (the
 * schedule `dflt` when ro has none). */
static sharr_job_spec make_spec(sharr_kernel kernel, size_t narrays,
                                sharr_array *const *arrays, const void *arg,
                                size_t arg_size, sharr_schedule dflt,
                                const sharr_run_opts *ro)
{
    sharr_job_spec spec = {0};

    spec.kernel = kernel;
    spec.narrays = narrays;
    spec.arrays = arrays;
    spec.arg = arg;
    spec.arg_size = arg_size;
    spec.schedule = ro && ro->schedule.kind ? ro->schedule : dflt;
    if (ro) {
        spec.progress = ro->progress;
        spec.progress_ctx = ro->progress_ctx;
    }
    return spec;
}

/* Run `kernel` over `arrays` (those in `whole` unsplit) to completion. */
static int run(sharr_pool *pool, sharr_kernel kernel, size_t narrays,
               sharr_array *const *arrays, unsigned whole, const void *arg,
               size_t arg_size, sharr_schedule dflt, const sharr_run_opts *ro)
{
    sharr_job_spec spec = make_spec(kernel, narrays, arrays, arg, arg_size,
                                    dflt, ro);
    spec.whole = whole;
    return sharr_pool_run(pool, &spec);
}


/* ---- fill ---- */

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

#define INDEX_LOOP(T, EXPR)                                                  \
    do {                                                                     \
        T *p = dst;                                                          \
        for (size_t i = 0; i < count; i++) {                                 \
            uint64_t k = first + i;                                          \
            p[i] = (EXPR);                                                   \
        }                                                                    \
    } while (0)

#define PAIR_LOOP(T, RE, IM)                                                 \
    do {                                                                     \
        T *p = dst;                                                          \
        for (size_t i = 0; i < count; i++) {                                 \
            uint64_t k = first + i;                                          \
            p[2 * i] = (RE);                                                 \
            p[2 * i + 1] = (IM);                                             \
        }                                                                    \
    } while (0)

/* Element k = k converted to the dtype; integers wrap modulo 2^bits (done in
 * unsigned arithmetic, so no signed overflow is ever evaluated). */
static void fill_range(sharr_dtype dt, void *dst, size_t first, size_t count)
{
    switch (dt) {
    case SHARR_I8: case SHARR_U8: INDEX_LOOP(uint8_t, (uint8_t)k); break;
    case SHARR_I16: case SHARR_U16: INDEX_LOOP(uint16_t, (uint16_t)k); break;
    case SHARR_I32: case SHARR_U32: INDEX_LOOP(uint32_t, (uint32_t)k); break;
    case SHARR_I64: case SHARR_U64: INDEX_LOOP(uint64_t, k); break;
    case SHARR_F32: INDEX_LOOP(float, (float)k); break;
    case SHARR_F64: INDEX_LOOP(double, (double)k); break;
    case SHARR_C64: PAIR_LOOP(float, (float)k, 0.0f); break;
    case SHARR_C128: PAIR_LOOP(double, (double)k, 0.0); break;
    default: break;
    }
}

/* Element k draws counter k (real) or counters 2k and 2k+1 (complex). */
static void fill_random(sharr_dtype dt, uint64_t seed, void *dst,
                        size_t first, size_t count)
{
    switch (dt) {
    case SHARR_I8: case SHARR_U8:
        INDEX_LOOP(uint8_t, (uint8_t)mix64(seed, k)); break;
    case SHARR_I16: case SHARR_U16:
        INDEX_LOOP(uint16_t, (uint16_t)mix64(seed, k)); break;
    case SHARR_I32: case SHARR_U32:
        INDEX_LOOP(uint32_t, (uint32_t)mix64(seed, k)); break;
    case SHARR_I64: case SHARR_U64:
        INDEX_LOOP(uint64_t, mix64(seed, k)); break;
    case SHARR_F32: INDEX_LOOP(float, unit_float(mix64(seed, k))); break;
    case SHARR_F64: INDEX_LOOP(double, unit_double(mix64(seed, k))); break;
    case SHARR_C64:
        PAIR_LOOP(float, unit_float(mix64(seed, 2 * k)),
                  unit_float(mix64(seed, 2 * k + 1)));
        break;
    case SHARR_C128:
        PAIR_LOOP(double, unit_double(mix64(seed, 2 * k)),
                  unit_double(mix64(seed, 2 * k + 1)));
        break;
    default: break;
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

static int fill_kernel(const sharr_block *b)
{
    const sharr_fill_spec *spec = b->arg;
    size_t per_row = row_elems(b->array[0]);

    sharr__fill_elements(sharr_array_dtype(b->array[0]), spec, b->data[0],
                         b->r0 * per_row, (b->r1 - b->r0) * per_row);
    return 0;
}

int sharr_fill(sharr_pool *pool, sharr_array *a, const sharr_fill_spec *spec,
               const sharr_run_opts *ro)
{
    int err;

    if ((err = check_writable(a)) < 0)
        return err;
    return run(pool, fill_kernel, 1, &a, 0, spec, sizeof *spec, STATIC_EVEN,
               ro);
}

/* ---- element-wise operations ---- */

static const char *const op_names[] = {
    [SHARR_OP_SCALE] = "scale", [SHARR_OP_ADD] = "add",
    [SHARR_OP_CONJ] = "conj", [SHARR_OP_ABS] = "abs",
    [SHARR_OP_SQUARE] = "square", [SHARR_OP_SQRT] = "sqrt",
    [SHARR_OP_EXP] = "exp", [SHARR_OP_LOG] = "log",
    [SHARR_OP_CLIP] = "clip", [SHARR_OP_NORMALIZE_ROWS] = "normalize-rows"};

int sharr_op_parse(const char *name, sharr_op *op, int *nargs)
{
    for (int k = SHARR_OP_SCALE; k <= SHARR_OP_NORMALIZE_ROWS; k++) {
        if (name && strcmp(name, op_names[k]) == 0) {
            *op = (sharr_op)k;
            *nargs = k == SHARR_OP_CLIP ? 2
                     : (k == SHARR_OP_SCALE || k == SHARR_OP_ADD) ? 1 : 0;
            return 0;
        }
    }
    return sharr__fail(SHARR_EINVAL, "unknown operation '%s': use scale, add,"
                       " conj, abs, square, sqrt, exp, log, clip or "
                       "normalize-rows", name ? name : "(null)");
}

const char *sharr_op_name(sharr_op op)
{
    if ((int)op < SHARR_OP_SCALE || (int)op > SHARR_OP_NORMALIZE_ROWS)
        return NULL;
    return op_names[op];
}

struct apply_arg {
    int op;
    unsigned char z1[SHARR_MAX_ITEMSIZE];
    unsigned char z2[SHARR_MAX_ITEMSIZE];
};

/* Integers: U the unsigned type of the width, W the type the arithmetic is
 * done in (at least unsigned int, so nothing promotes to signed int), C the
 * type comparisons use (signed or unsigned), NEG(v) whether v is negative.
 * Everything wraps mod 2^bits. */
#define IS_NEG8(v) ((int8_t)(v) < 0)
#define IS_NEG16(v) ((int16_t)(v) < 0)
#define IS_NEG32(v) ((int32_t)(v) < 0)
#define IS_NEG64(v) ((int64_t)(v) < 0)
#define NEVER_NEG(v) ((void)(v), 0)
#define INT_OPS(NAME, U, W, C, NEG)                                          \
    static void NAME(int op, void *p, size_t n, const void *z1,              \
                     const void *z2)                                         \
    {                                                                        \
        U *x = p, z = 0;                                                     \
        C lo = 0, hi = 0;                                                    \
        if (z1) memcpy(&z, z1, sizeof z);                                    \
        if (z1) memcpy(&lo, z1, sizeof lo);                                  \
        if (z2) memcpy(&hi, z2, sizeof hi);                                  \
        switch (op) {                                                        \
        case SHARR_OP_SCALE:                                                 \
            for (size_t i = 0; i < n; i++) x[i] = (U)((W)x[i] * (W)z);       \
            break;                                                           \
        case SHARR_OP_ADD:                                                   \
            for (size_t i = 0; i < n; i++) x[i] = (U)((W)x[i] + (W)z);       \
            break;                                                           \
        case SHARR_OP_SQUARE:                                                \
            for (size_t i = 0; i < n; i++) x[i] = (U)((W)x[i] * (W)x[i]);    \
            break;                                                           \
        case SHARR_OP_ABS:                                                   \
            for (size_t i = 0; i < n; i++)                                   \
                if (NEG(x[i])) x[i] = (U)(0u - (W)x[i]);                     \
            break;                                                           \
        case SHARR_OP_CLIP:                                                  \
            for (size_t i = 0; i < n; i++) {                                 \
                C v = (C)x[i];                                               \
                x[i] = (U)(v < lo ? lo : (v > hi ? hi : v));                 \
            }                                                                \
            break;                                                           \
        default:                                                             \
            break;                                                           \
        }                                                                    \
    }

INT_OPS(ops_i8, uint8_t, unsigned, int8_t, IS_NEG8)
INT_OPS(ops_i16, uint16_t, unsigned, int16_t, IS_NEG16)
INT_OPS(ops_i32, uint32_t, uint32_t, int32_t, IS_NEG32)
INT_OPS(ops_i64, uint64_t, uint64_t, int64_t, IS_NEG64)
INT_OPS(ops_u8, uint8_t, unsigned, uint8_t, NEVER_NEG)
INT_OPS(ops_u16, uint16_t, unsigned, uint16_t, NEVER_NEG)
INT_OPS(ops_u32, uint32_t, uint32_t, uint32_t, NEVER_NEG)
INT_OPS(ops_u64, uint64_t, uint64_t, uint64_t, NEVER_NEG)

#define FLOAT_OPS(NAME, F, SQRT, EXP, LOG, FABS)                             \
    static void NAME(int op, void *p, size_t n, const void *z1,              \
                     const void *z2)                                         \
    {                                                                        \
        F *x = p, z = 0, hi = 0;                                             \
        if (z1) memcpy(&z, z1, sizeof z);                                    \
        if (z2) memcpy(&hi, z2, sizeof hi);                                  \
        switch (op) {                                                        \
        case SHARR_OP_SCALE: for (size_t i = 0; i < n; i++) x[i] *= z; break;\
        case SHARR_OP_ADD: for (size_t i = 0; i < n; i++) x[i] += z; break;  \
        case SHARR_OP_SQUARE:                                                \
            for (size_t i = 0; i < n; i++) x[i] *= x[i];                     \
            break;                                                           \
        case SHARR_OP_ABS: for (size_t i = 0; i < n; i++) x[i] = FABS(x[i]); \
            break;                                                           \
        case SHARR_OP_SQRT: for (size_t i = 0; i < n; i++) x[i] = SQRT(x[i]);\
            break;                                                           \
        case SHARR_OP_EXP: for (size_t i = 0; i < n; i++) x[i] = EXP(x[i]);  \
            break;                                                           \
        case SHARR_OP_LOG: for (size_t i = 0; i < n; i++) x[i] = LOG(x[i]);  \
            break;                                                           \
        case SHARR_OP_CLIP: /* z is lo: NumPy's min(max(x, lo), hi), so   \
                               a bound equal to x wins (max(-0, 0) is +0);  \
                               NaN stays */                                 \
            for (size_t i = 0; i < n; i++) {                                 \
                F v = x[i] > z ? x[i] : z;                                   \
                v = v < hi ? v : hi;                                         \
                x[i] = isnan(x[i]) ? x[i] : v;                               \
            }                                                                \
            break;                                                           \
        default:                                                             \
            break;                                                           \
        }                                                                    \
    }

FLOAT_OPS(ops_f32, float, sqrtf, expf, logf, fabsf)
FLOAT_OPS(ops_f64, double, sqrt, exp, log, fabs)

/* Complex: F the part type, CT the C99 complex type used only for the
 * library functions (csqrt, cexp, clog keep their special-value rules). */
#define COMPLEX_OPS(NAME, F, CT, CSQRT, CEXP, CLOG, HYPOT)                   \
    static void NAME(int op, void *p, size_t n, const void *z1,              \
                     const void *z2)                                         \
    {                                                                        \
        F *x = p, z[2] = {0, 0};                                             \
        (void)z2;                                                            \
        if (z1) memcpy(z, z1, sizeof z);                                     \
        switch (op) {                                                        \
        case SHARR_OP_SCALE:                                                 \
            for (size_t i = 0; i < n; i++) {                                 \
                F a = x[2 * i], b = x[2 * i + 1];                            \
                x[2 * i] = a * z[0] - b * z[1];                              \
                x[2 * i + 1] = a * z[1] + b * z[0];                          \
            }                                                                \
            break;                                                           \
        case SHARR_OP_ADD:                                                   \
            for (size_t i = 0; i < n; i++) {                                 \
                x[2 * i] += z[0];                                            \
                x[2 * i + 1] += z[1];                                        \
            }                                                                \
            break;                                                           \
        case SHARR_OP_CONJ:                                                  \
            for (size_t i = 0; i < n; i++) x[2 * i + 1] = -x[2 * i + 1];     \
            break;                                                           \
        case SHARR_OP_ABS:                                                   \
            for (size_t i = 0; i < n; i++) {                                 \
                x[2 * i] = HYPOT(x[2 * i], x[2 * i + 1]);                    \
                x[2 * i + 1] = 0;                                            \
            }                                                                \
            break;                                                           \
        case SHARR_OP_SQUARE:                                                \
            for (size_t i = 0; i < n; i++) {                                 \
                F a = x[2 * i], b = x[2 * i + 1];                            \
                /* a*b + b*a as NumPy, not (2*a)*b: 2*a may overflow where   \
                 * a*b does not, and inf * 0 is nan. */                      \
                x[2 * i] = a * a - b * b;                                    \
                x[2 * i + 1] = a * b + b * a;                                \
            }                                                                \
            break;                                                           \
        case SHARR_OP_SQRT:                                                  \
        case SHARR_OP_EXP:                                                   \
        case SHARR_OP_LOG:                                                   \
            for (size_t i = 0; i < n; i++) {                                 \
                CT v;                                                        \
                memcpy(&v, x + 2 * i, sizeof v);                             \
                v = op == SHARR_OP_SQRT ? CSQRT(v)                           \
                    : op == SHARR_OP_EXP ? CEXP(v) : CLOG(v);                \
                memcpy(x + 2 * i, &v, sizeof v);                             \
            }                                                                \
            break;                                                           \
        default:                                                             \
            break;                                                           \
        }                                                                    \
    }

COMPLEX_OPS(ops_c64, float, float complex, csqrtf, cexpf, clogf, hypotf)
COMPLEX_OPS(ops_c128, double, double complex, csqrt, cexp, clog, hypot)

typedef void (*elem_ops)(int, void *, size_t, const void *, const void *);

static const elem_ops ops_table[SHARR_NDTYPES + 1] = {
    [SHARR_I8] = ops_i8, [SHARR_I16] = ops_i16, [SHARR_I32] = ops_i32,
    [SHARR_I64] = ops_i64, [SHARR_U8] = ops_u8, [SHARR_U16] = ops_u16,
    [SHARR_U32] = ops_u32, [SHARR_U64] = ops_u64, [SHARR_F32] = ops_f32,
    [SHARR_F64] = ops_f64, [SHARR_C64] = ops_c64, [SHARR_C128] = ops_c128};

/* Sum of |x|^2 over n elements as (scale, ssq), |x|^2 summed = scale^2*ssq.
 * The plain sum is tried first; only when it overflows, underflows (every
 * square may be lost below the smallest double: 0 is not proof of a zero
 * row) or meets a NaN is the row read again.  Then a NaN makes the sum NaN
 * (NumPy's norm), an infinity makes it inf, and otherwise every element is
 * scaled by the power of two 2^(1-e) of the largest magnitude, exactly, so
 * that no square underflows or overflows (math.hypot's answer). */
#define SSQ(NAME, F, PARTS)                                                  \
    static void NAME(const F *x, size_t n, double *scale, double *ssq)       \
    {                                                                        \
        double q = 0, amax = 0;                                              \
        bool nan = false;                                                    \
        int e;                                                               \
        for (size_t i = 0; i < n * PARTS; i++)                               \
            q += (double)x[i] * (double)x[i];                                \
        if (isfinite(q) && q > 0x1p-900) {                                   \
            *scale = 1;                                                      \
            *ssq = q;                                                        \
            return;                                                          \
        }                                                                    \
        for (size_t i = 0; i < n * PARTS; i++) {                             \
            double v = fabs((double)x[i]);                                   \
            nan |= v != v;                                                   \
            amax = v > amax ? v : amax;                                      \
        }                                                                    \
        *scale = 1;                                                          \
        *ssq = nan ? NAN : 0;                                                \
        if (nan || amax == 0)                                                \
            return;                                                          \
        if (isinf(amax)) {                                                   \
            *scale = INFINITY;                                               \
            *ssq = 1;                                                        \
            return;                                                          \
        }                                                                    \
        frexp(amax, &e); /* amax < 2^e, so each |x| * 2^(1-e) < 2 */         \
        q = 0;                                                               \
        for (size_t i = 0; i < n * PARTS; i++) {                             \
            double v = ldexp((double)x[i], 1 - e);                           \
            q += v * v;                                                      \
        }                                                                    \
        *scale = ldexp(1, e - 1);                                            \
        *ssq = q;                                                            \
    }

SSQ(ssq_f32, float, 1)
SSQ(ssq_f64, double, 1)
SSQ(ssq_c64, float, 2)
SSQ(ssq_c128, double, 2)

static double row_norm(sharr_dtype dt, const void *row, size_t n)
{
    double scale = 1, ssq = 0;
    switch (dt) {
    case SHARR_F32: ssq_f32(row, n, &scale, &ssq); break;
    case SHARR_F64: ssq_f64(row, n, &scale, &ssq); break;
    case SHARR_C64: ssq_c64(row, n, &scale, &ssq); break;
    default: ssq_c128(row, n, &scale, &ssq); break;
    }
    return scale * sqrt(ssq);
}

/* Divide each row by its 2-norm; a zero row stays zero, a row with a NaN
 * becomes NaN (as NumPy's x / norm(x)). */
static void normalize_rows(const sharr_block *b)
{
    sharr_dtype dt = sharr_array_dtype(b->array[0]);
    size_t n = row_elems(b->array[0]), rb = sharr_array_row_bytes(b->array[0]);
    bool single = dt == SHARR_F32 || dt == SHARR_C64;
    size_t parts = sharr_dtype_kind(dt) == 'c' ? 2 : 1;

    for (size_t r = b->r0; r < b->r1; r++) {
        unsigned char *row = (unsigned char *)b->data[0] + (r - b->r0) * rb;
        double norm = row_norm(dt, row, n);
        if (norm == 0)
            continue;
        for (size_t i = 0; i < n * parts; i++) {
            if (single)
                ((float *)(void *)row)[i] =
                    (float)(((float *)(void *)row)[i] / norm);
            else
                ((double *)(void *)row)[i] /= norm;
        }
    }
}

static int apply_kernel(const sharr_block *b)
{
    const struct apply_arg *arg = b->arg;
    sharr_dtype dt = sharr_array_dtype(b->array[0]);

    if (arg->op == SHARR_OP_NORMALIZE_ROWS) {
        normalize_rows(b);
        return 0;
    }
    ops_table[dt](arg->op, b->data[0], (b->r1 - b->r0) * row_elems(b->array[0]),
                  arg->z1, arg->z2);
    return 0;
}

/* Is `op` meaningful for dtype `dt`? */
static int check_op(sharr_op op, sharr_dtype dt, const char *name)
{
    char kind = sharr_dtype_kind(dt);
    const char *need = NULL;

    switch (op) {
    case SHARR_OP_CONJ:
        if (kind != 'c')
            need = "a complex array (conj of a real array would do nothing)";
        break;
    case SHARR_OP_SQRT: case SHARR_OP_EXP: case SHARR_OP_LOG:
    case SHARR_OP_NORMALIZE_ROWS:
        if (kind != 'f' && kind != 'c')
            need = "a float or complex array (the result is not an integer)";
        break;
    case SHARR_OP_CLIP:
        if (kind == 'c')
            need = "a real array (complex numbers are not ordered)";
        break;
    default:
        break;
    }
    if (need)
        return sharr__fail(SHARR_EDTYPE, "%s needs %s; '%s' is %s",
                           sharr_op_name(op), need, name, sharr_dtype_name(dt));
    return 0;
}

static int check_clip(sharr_dtype dt, const void *lo, const void *hi)
{
    char a[64], b[64];
    bool bad;

    switch (dt) {
    case SHARR_F32: { float l, h; memcpy(&l, lo, 4); memcpy(&h, hi, 4);
        bad = !(l <= h); break; }
    case SHARR_F64: { double l, h; memcpy(&l, lo, 8); memcpy(&h, hi, 8);
        bad = !(l <= h); break; }
    default: {
        /* Integers: compare through the signed or unsigned 64-bit value. */
        size_t sz = sharr_dtype_size(dt);
        unsigned char l8[8] = {0}, h8[8] = {0};
        memcpy(l8, lo, sz);
        memcpy(h8, hi, sz);
        if (sharr_dtype_kind(dt) == 'i') {
            int64_t l = 0, h = 0;
            int shift = (int)(64 - 8 * sz);
            memcpy(&l, l8, 8);
            memcpy(&h, h8, 8);
            l = (int64_t)((uint64_t)l << shift) >> shift;
            h = (int64_t)((uint64_t)h << shift) >> shift;
            bad = l > h;
        } else {
            uint64_t l, h;
            memcpy(&l, l8, 8);
            memcpy(&h, h8, 8);
            bad = l > h;
        }
        break;
    }
    }
    if (!bad)
        return 0;
    sharr_value_format(dt, lo, a, sizeof a);
    sharr_value_format(dt, hi, b, sizeof b);
    return sharr__fail(SHARR_EINVAL, "clip needs LO <= HI (and no NaN), not "
                       "%s %s", a, b);
}

/* Domain scan for sqrt/log of real floats: the result slot receives
 * 1 + the first negative element's index in the block, or 0. */
static int negative_kernel(const sharr_block *b)
{
    sharr_dtype dt = sharr_array_dtype(b->array[0]);
    size_t n = (b->r1 - b->r0) * row_elems(b->array[0]);
    uint64_t *first = b->result;

    for (size_t i = 0; i < n; i++) {
        double v = dt == SHARR_F32 ? ((const float *)b->data[0])[i]
                                   : ((const double *)b->data[0])[i];
        if (v < 0) {
            *first = 1 + i;
            break;
        }
    }
    return 0;
}

static int check_domain(sharr_pool *pool, sharr_array *a, sharr_op op,
                        const sharr_run_opts *ro)
{
    sharr_job_spec spec = make_spec(negative_kernel, 1, &a, NULL, 0,
                                    STATIC_EVEN, ro);
    sharr_job *job;
    int err;

    spec.result_size = sizeof(uint64_t);
    spec.progress = NULL; /* the bar belongs to the op itself */
    if ((err = sharr_pool_submit(pool, &spec, &job)) < 0)
        return err;
    if ((err = sharr_job_wait(job, -1)) == 0) {
        for (size_t i = 0; i < sharr_job_blocks(job); i++) {
            const uint64_t *first = sharr_job_result(job, i);
            size_t r0, r1, per_row = row_elems(a), k;
            char val[64];
            if (*first == 0)
                continue;
            sharr_job_block_rows(job, i, &r0, &r1);
            k = r0 * per_row + (size_t)(*first - 1);
            sharr_value_format(sharr_array_dtype(a),
                               (const char *)sharr_array_data(a) +
                                   k * sharr_dtype_size(sharr_array_dtype(a)),
                               val, sizeof val);
            err = sharr__fail(SHARR_EDOM, "%s of a negative number: element "
                              "%zu (row %zu) of '%s' is %s; the array is "
                              "unchanged (use a complex dtype for complex "
                              "results)", sharr_op_name(op), k, k / per_row,
                              sharr_array_name(a), val);
            break;
        }
    }
    sharr_job_free(job);
    return err;
}

int sharr_apply(sharr_pool *pool, sharr_array *a, sharr_op op, const void *z1,
                const void *z2, const sharr_run_opts *ro)
{
    struct apply_arg arg;
    size_t size;
    int err, scan;

    /* The checks and the kernel's argument, as lib/mpi builds them. */
    if ((err = sharr__apply_arg(a, op, z1, z2, &arg, &size, &scan)) < 0 ||
        (scan && (err = check_domain(pool, a, arg.op, ro)) < 0))
        return err;
    return run(pool, apply_kernel, 1, &a, 0, &arg, size, STATIC_EVEN, ro);
}

/* ---- axpy ---- */

/* BLAS takes int counts: walk long blocks in pieces. */
#define BLAS_PIECE ((size_t)1 << 30)

static int axpy_kernel(const sharr_block *b)
{
    sharr_dtype dt = sharr_array_dtype(b->array[1]);
    size_t n = (b->r1 - b->r0) * row_elems(b->array[1]);
    const unsigned char *alpha = b->arg;
    unsigned char *x = b->data[0], *y = b->data[1];
    size_t item = sharr_dtype_size(dt);

    for (size_t off = 0; off < n; off += BLAS_PIECE) {
        size_t k = n - off < BLAS_PIECE ? n - off : BLAS_PIECE;
        void *xp = x + off * item, *yp = y + off * item;
        switch (dt) {
        case SHARR_F32: { float a; memcpy(&a, alpha, 4);
            cblas_saxpy((int)k, a, xp, 1, yp, 1); break; }
        case SHARR_F64: { double a; memcpy(&a, alpha, 8);
            cblas_daxpy((int)k, a, xp, 1, yp, 1); break; }
        case SHARR_C64: cblas_caxpy((int)k, alpha, xp, 1, yp, 1); break;
        case SHARR_C128: cblas_zaxpy((int)k, alpha, xp, 1, yp, 1); break;
        default: {
            /* y += alpha * x with wrapping, via the integer op table would
             * need a temporary; write it out per width instead. */
            uint64_t a = 0;
            memcpy(&a, alpha, item);
            for (size_t i = 0; i < k; i++) {
                uint64_t xv = 0, yv = 0;
                memcpy(&xv, (unsigned char *)xp + i * item, item);
                memcpy(&yv, (unsigned char *)yp + i * item, item);
                yv += a * xv; /* the low `item` bytes are the wrapped sum */
                memcpy((unsigned char *)yp + i * item, &yv, item);
            }
            break;
        }
        }
    }
    return 0;
}

static int same_shape(const sharr_array *x, const sharr_array *y)
{
    if (sharr_array_ndim(x) != sharr_array_ndim(y) ||
        memcmp(sharr_array_shape(x), sharr_array_shape(y),
               sharr_array_ndim(x) * sizeof(size_t)) != 0)
        return sharr__fail(SHARR_ESHAPE, "'%s' and '%s' have different "
                           "shapes", sharr_array_name(x), sharr_array_name(y));
    return 0;
}

static int same_dtype(const sharr_array *x, const sharr_array *y)
{
    if (sharr_array_dtype(x) != sharr_array_dtype(y))
        return sharr__fail(SHARR_EDTYPE, "'%s' is %s but '%s' is %s",
                           sharr_array_name(x),
                           sharr_dtype_name(sharr_array_dtype(x)),
                           sharr_array_name(y),
                           sharr_dtype_name(sharr_array_dtype(y)));
    return 0;
}

int sharr_axpy(sharr_pool *pool, const void *alpha, const sharr_array *x,
               sharr_array *y, const sharr_run_opts *ro)
{
    sharr_array *arrays[2] = {(sharr_array *)x, y};
    unsigned char a[SHARR_MAX_ITEMSIZE] = {0};
    int err;

    if ((err = check_writable(y)) < 0 || (err = same_dtype(x, y)) < 0 ||
        (err = same_shape(x, y)) < 0)
        return err;
    if (!alpha)
        return sharr__fail(SHARR_EINVAL, "axpy needs alpha");
    if (sharr_dtype_kind(sharr_array_dtype(y)) != 'i' &&   /* BLAS for */
        sharr_dtype_kind(sharr_array_dtype(y)) != 'u' &&   /* f and c  */
        (err = sharr__blas_load()) < 0)
        return err;
    memcpy(a, alpha, sharr_dtype_size(sharr_array_dtype(y)));
    return run(pool, axpy_kernel, 2, arrays, 0, a, sizeof a, fixed_blocks(y),
               ro);
}

/* ---- statistics ---- */


/* Pairwise sum of n values (or n pairs when P = 2) at x, accumulating in
 * double: 8-way unrolled leaves of up to 128, halves above (NumPy's scheme),
 * so the rounding error grows with log n, not n. */
#define PAIRWISE(NAME, F, P)                                                 \
    static void NAME(const F *x, size_t n, double *s)                        \
    {                                                                        \
        if (n <= 128) {                                                      \
            double acc[P][8] = {{0}};                                        \
            size_t i = 0;                                                    \
            for (; i + 8 <= n; i += 8)                                       \
                for (int j = 0; j < 8; j++)                                  \
                    for (int q = 0; q < P; q++)                              \
                        acc[q][j] += (double)x[(i + (size_t)j) * P + q];     \
            for (int q = 0; q < P; q++) {                                    \
                double t = ((acc[q][0] + acc[q][1]) + (acc[q][2] + acc[q][3]))\
                         + ((acc[q][4] + acc[q][5]) + (acc[q][6] + acc[q][7]));\
                for (size_t k = i; k < n; k++)                               \
                    t += (double)x[k * P + q];                               \
                s[q] = t;                                                    \
            }                                                                \
            return;                                                          \
        }                                                                    \
        size_t h = (n / 2) & ~(size_t)7;                                     \
        double a[2] = {0, 0}, b[2] = {0, 0};                                 \
        NAME(x, h, a);                                                       \
        NAME(x + h * P, n - h, b);                                           \
        for (int q = 0; q < P; q++)                                          \
            s[q] = a[q] + b[q];                                              \
    }

PAIRWISE(pw_f32, float, 1)
PAIRWISE(pw_f64, double, 1)
PAIRWISE(pw_c64, float, 2)
PAIRWISE(pw_c128, double, 2)

/* Exact integer sum and min/max for one integer width. */
#define INT_PART(NAME, T)                                                    \
    static void NAME(const T *x, size_t n, struct sharr__part *p)        \
    {                                                                        \
        T mn = x[0], mx = x[0];                                              \
        __int128 s = 0;                                                      \
        double q = 0;                                                        \
        for (size_t i = 0; i < n; i++) {                                     \
            s += x[i];                                                       \
            q += (double)x[i] * (double)x[i];                                \
            mn = x[i] < mn ? x[i] : mn;                                      \
            mx = x[i] > mx ? x[i] : mx;                                      \
        }                                                                    \
        p->isum = s;                                                         \
        p->scale = 1;                                                        \
        p->ssq = q;                                                          \
        memcpy(p->min, &mn, sizeof mn);                                      \
        memcpy(p->max, &mx, sizeof mx);                                      \
        p->has_minmax = 1;                                                   \
    }

INT_PART(part_i8, int8_t)
INT_PART(part_i16, int16_t)
INT_PART(part_i32, int32_t)
INT_PART(part_i64, int64_t)
INT_PART(part_u8, uint8_t)
INT_PART(part_u16, uint16_t)
INT_PART(part_u32, uint32_t)
INT_PART(part_u64, uint64_t)

#define FLOAT_MINMAX(NAME, F)                                                \
    static void NAME(const F *x, size_t n, struct sharr__part *p)        \
    {                                                                        \
        F mn = x[0], mx = x[0];                                              \
        for (size_t i = 0; i < n; i++) {                                     \
            if (x[i] != x[i]) {                                              \
                p->has_nan = 1;                                              \
                return;                                                      \
            }                                                                \
            mn = x[i] < mn ? x[i] : mn;                                      \
            mx = x[i] > mx ? x[i] : mx;                                      \
        }                                                                    \
        memcpy(p->min, &mn, sizeof mn);                                      \
        memcpy(p->max, &mx, sizeof mx);                                      \
        p->has_minmax = 1;                                                   \
    }

FLOAT_MINMAX(minmax_f32, float)
FLOAT_MINMAX(minmax_f64, double)

static void complex_nan(const void *x, size_t n, bool single,
                        struct sharr__part *p)
{
    for (size_t i = 0; i < 2 * n; i++) {
        double v = single ? ((const float *)x)[i] : ((const double *)x)[i];
        if (v != v) {
            p->has_nan = 1;
            return;
        }
    }
}

void sharr__reduce_part(sharr_dtype dt, const void *x, size_t n,
                        struct sharr__part *p)
{
    memset(p, 0, sizeof *p);
    p->count = n;
    if (n == 0) { /* an empty block or row: sum 0, no min/max, norm 0 */
        p->scale = 1;
        return;
    }
    switch (dt) {
    case SHARR_I8: part_i8(x, n, p); break;
    case SHARR_I16: part_i16(x, n, p); break;
    case SHARR_I32: part_i32(x, n, p); break;
    case SHARR_I64: part_i64(x, n, p); break;
    case SHARR_U8: part_u8(x, n, p); break;
    case SHARR_U16: part_u16(x, n, p); break;
    case SHARR_U32: part_u32(x, n, p); break;
    case SHARR_U64: part_u64(x, n, p); break;
    case SHARR_F32:
        pw_f32(x, n, p->sum); ssq_f32(x, n, &p->scale, &p->ssq);
        minmax_f32(x, n, p); break;
    case SHARR_F64:
        pw_f64(x, n, p->sum); ssq_f64(x, n, &p->scale, &p->ssq);
        minmax_f64(x, n, p); break;
    case SHARR_C64:
        pw_c64(x, n, p->sum); ssq_c64(x, n, &p->scale, &p->ssq);
        complex_nan(x, n, true, p); break;
    default:
        pw_c128(x, n, p->sum); ssq_c128(x, n, &p->scale, &p->ssq);
        complex_nan(x, n, false, p); break;
    }
}

/* Per block: one part; per row: one part per row. */
static int stats_kernel(const sharr_block *b)
{
    const int *per_row = b->arg;
    const sharr_array *a = b->array[0];
    sharr_dtype dt = sharr_array_dtype(a);
    size_t n = row_elems(a), rb = sharr_array_row_bytes(a);
    struct sharr__part *out = b->result;

    if (!*per_row) {
        sharr__reduce_part(dt, b->data[0], (b->r1 - b->r0) * n, out);
        return 0;
    }
    for (size_t r = 0; r < b->r1 - b->r0; r++)
        sharr__reduce_part(dt, (const unsigned char *)b->data[0] + r * rb, n,
                           &out[r]);
    return 0;
}

/* Combining parts in order: Neumaier's compensated sum of the block sums,
 * exact integer sums, scaled sums of squares, min/max by the dtype's order. */

/* An element of a real dtype as a double (exact but for 64-bit integers
 * beyond 2^53); NAN for complex. */
static double elem_double(sharr_dtype dt, const void *e)
{
    switch (sharr_dtype_kind(dt)) {
    case 'i': return (double)(int64_t)sharr__int_load(dt, e);
    case 'u': return (double)sharr__int_load(dt, e);
    case 'f': {
        if (dt == SHARR_F32) {
            float v;
            memcpy(&v, e, sizeof v);
            return v;
        }
        double v;
        memcpy(&v, e, sizeof v);
        return v;
    }
    default: return NAN;
    }
}

/* a < b for elements of a real dtype, exact for 64-bit integers too. */
static bool elem_less(sharr_dtype dt, const void *a, const void *b)
{
    switch (sharr_dtype_kind(dt)) {
    case 'i': return (int64_t)sharr__int_load(dt, a) <
                     (int64_t)sharr__int_load(dt, b);
    case 'u': return sharr__int_load(dt, a) < sharr__int_load(dt, b);
    case 'f': return elem_double(dt, a) < elem_double(dt, b);
    default: return false;
    }
}

/* Add the sum of squares ps^2 * pq into *scale^2 * *ssq: NaN wins, then
 * infinity; a zero sum (a part of zeros, or nothing yet) takes no part
 * in the scaling; else both go to the larger scale, and a sum grown past 2^900
 * moves into the scale (by a power of two, exactly) before it can overflow.
 * Scales are 1 or powers of two, so the ratios are exact. */
static void ssq_add(double *scale, double *ssq, double ps, double pq)
{
    int e;

    if (isnan(*ssq) || isnan(pq)) {
        *scale = 1;
        *ssq = NAN;
        return;
    }
    if (isinf(*scale) || isinf(ps)) {
        *scale = INFINITY;
        *ssq = 1;
        return;
    }
    if (pq == 0)
        return; /* an all-zero part adds nothing, whatever its scale */
    if (*ssq == 0) {
        /* Nothing yet (or only zeros): take the part as it is, so that a
         * part of tiny values is not pushed down to the scale 1 of an
         * empty start and underflow there. */
        *scale = ps;
        *ssq = pq;
    } else if (ps > *scale) {
        double r = *scale / ps;
        *ssq = pq + *ssq * r * r;
        *scale = ps;
    } else if (ps > 0) {
        double r = ps / *scale;
        *ssq += pq * r * r;
    }
    if (*ssq > 0x1p900) {
        frexp(*ssq, &e); /* then ssq lands in [2, 8): the scale overflows
                            only when the norm does */
        *ssq = ldexp(*ssq, -2 * (e / 2 - 1));
        *scale = ldexp(*scale, e / 2 - 1);
    }
}

void sharr__reduce_add(struct sharr__totals *t, const struct sharr__part *p,
                       sharr_dtype dt)
{
    struct sharr__part *a = &t->p;
    size_t item = sharr_dtype_size(dt);

    for (int q = 0; q < 2; q++) {
        double s = a->sum[q] + p->sum[q];
        /* An infinite (or NaN) sum is the answer as it stands: its
         * compensation would be inf - inf, and would turn inf into nan. */
        if (isfinite(s))
            t->comp[q] += fabs(a->sum[q]) >= fabs(p->sum[q])
                              ? (a->sum[q] - s) + p->sum[q]
                              : (p->sum[q] - s) + a->sum[q];
        a->sum[q] = s;
    }
    a->isum += p->isum;
    a->count += p->count;
    a->has_nan |= p->has_nan;
    ssq_add(&a->scale, &a->ssq, p->scale, p->ssq);
    if (p->has_minmax) {
        if (!a->has_minmax || elem_less(dt, p->min, a->min))
            memcpy(a->min, p->min, item);
        if (!a->has_minmax || elem_less(dt, a->max, p->max))
            memcpy(a->max, p->max, item);
        a->has_minmax = 1;
    }
}

/* v in decimal into buf (at least 41 bytes: 39 digits, sign, NUL). */
static void int128_text(__int128 v, char *buf)
{
    char rev[40];
    int n = 0, k = 0;
    /* Digits of the magnitude, taken from the negative side so that the
     * most negative value needs no negation. */
    __int128 w = v < 0 ? v : -v;

    do {
        rev[n++] = (char)('0' - (int)(w % 10));
        w /= 10;
    } while (w != 0);
    if (v < 0)
        buf[k++] = '-';
    while (n > 0)
        buf[k++] = rev[--n];
    buf[k] = '\0';
}

void sharr__reduce_done(const struct sharr__totals *t, sharr_dtype dt,
                        sharr_stats *s)
{
    const struct sharr__part *p = &t->p;
    char kind = sharr_dtype_kind(dt);

    memset(s, 0, sizeof *s);
    s->count = p->count;
    if (kind == 'i' || kind == 'u') {
        s->sum[0] = (double)p->isum;
        int128_text(p->isum, s->sum_exact);
        s->mean[0] = (double)((long double)p->isum / (long double)p->count);
    } else {
        for (int q = 0; q < 2; q++) {
            s->sum[q] = isfinite(p->sum[q]) ? p->sum[q] + t->comp[q]
                                            : p->sum[q];
            s->mean[q] = s->sum[q] / (double)p->count;
        }
    }
    s->norm2 = p->scale * sqrt(p->ssq);
    s->has_nan = p->has_nan;
    s->min = s->max = NAN;
    if (kind != 'c' && !p->has_nan && p->has_minmax) {
        memcpy(s->min_value, p->min, sizeof s->min_value);
        memcpy(s->max_value, p->max, sizeof s->max_value);
        s->min = elem_double(dt, p->min);
        s->max = elem_double(dt, p->max);
    }
}

int sharr_array_stats(sharr_pool *pool, const sharr_array *a, int per_row,
                      sharr_stats *out, const sharr_run_opts *ro)
{
    sharr_array *arr = (sharr_array *)a;
    sharr_dtype dt = sharr_array_dtype(a);
    /* Blocks fixed by the shape, so -j never changes the summation order. */
    sharr_job_spec spec = make_spec(stats_kernel, 1, &arr, &per_row,
                                    sizeof per_row, fixed_blocks(a), ro);
    sharr_job *job;
    int err;

    spec.result_size = sizeof(struct sharr__part);
    spec.per_row_results = per_row != 0;
    if ((err = sharr_pool_submit(pool, &spec, &job)) < 0)
        return err;
    if ((err = sharr_job_wait(job, -1)) == 0) {
        size_t n = per_row ? sharr_array_rows(a) : sharr_job_blocks(job);
        struct sharr__totals t;
        memset(&t, 0, sizeof t);
        for (size_t i = 0; i < n; i++) {
            const struct sharr__part *p = sharr_job_result(job, i);
            if (per_row) {
                memset(&t, 0, sizeof t);
                sharr__reduce_add(&t, p, dt);
                sharr__reduce_done(&t, dt, &out[i]);
            } else {
                sharr__reduce_add(&t, p, dt);
            }
        }
        if (!per_row)
            sharr__reduce_done(&t, dt, out);
    }
    sharr_job_free(job);
    return err;
}

void sharr__reduce_init(struct sharr__totals *t)
{
    memset(t, 0, sizeof *t);
}

void sharr__row_stats(sharr_dtype dt, const void *row, size_t n,
                      sharr_stats *out)
{
    struct sharr__part p;
    struct sharr__totals t;

    sharr__reduce_part(dt, row, n, &p);
    sharr__reduce_init(&t);
    sharr__reduce_add(&t, &p, dt);
    sharr__reduce_done(&t, dt, out);
}

/* ---- per-row figures into arrays ---- */

static const char *const figure_names[SHARR_NFIGURES] = {
    [SHARR_FIG_COUNT] = "count", [SHARR_FIG_SUM] = "sum",
    [SHARR_FIG_MEAN] = "mean", [SHARR_FIG_MIN] = "min",
    [SHARR_FIG_MAX] = "max", [SHARR_FIG_NORM2] = "norm2"};

const char *sharr_figure_name(sharr_figure f)
{
    return (unsigned)f < SHARR_NFIGURES ? figure_names[f] : NULL;
}

int sharr_figure_parse(const char *name, sharr_figure *out)
{
    for (int f = 0; f < SHARR_NFIGURES; f++)
        if (name && strcmp(name, figure_names[f]) == 0) {
            *out = (sharr_figure)f;
            return 0;
        }
    return sharr__fail(SHARR_EINVAL, "unknown figure '%s': count, sum, mean, "
                       "min, max or norm2", name ? name : "(null)");
}

sharr_dtype sharr_figure_dtype(sharr_dtype dt, sharr_figure f)
{
    bool cx = sharr_dtype_kind(dt) == 'c';

    if (sharr_dtype_size(dt) == 0 || (unsigned)f >= SHARR_NFIGURES)
        return SHARR_DTYPE_INVALID;
    switch (f) {
    case SHARR_FIG_COUNT: return SHARR_U64;
    case SHARR_FIG_SUM: case SHARR_FIG_MEAN: return cx ? SHARR_C128
                                                       : SHARR_F64;
    case SHARR_FIG_MIN: case SHARR_FIG_MAX:
        return cx ? SHARR_DTYPE_INVALID : SHARR_F64;
    default: return SHARR_F64;
    }
}

/* Which figure each output array (job array 1..) holds. */
struct into_arg {
    int nout;
    int fig[SHARR_NFIGURES];
};

static void store_figure(const sharr_stats *s, int fig, bool cx, void *dst)
{
    uint64_t count = s->count;
    const double *v;

    switch (fig) {
    case SHARR_FIG_COUNT: memcpy(dst, &count, sizeof count); return;
    case SHARR_FIG_SUM: v = s->sum; break;
    case SHARR_FIG_MEAN: v = s->mean; break;
    case SHARR_FIG_MIN: v = &s->min; break;
    case SHARR_FIG_MAX: v = &s->max; break;
    default: v = &s->norm2; break;
    }
    memcpy(dst, v, (cx && (fig == SHARR_FIG_SUM || fig == SHARR_FIG_MEAN))
                       ? 2 * sizeof *v : sizeof *v);
}

/* Each row whole through sharr__row_stats(): one run per row, so the
 * figures do not depend on the blocks, the schedule or the workers. */
static int into_kernel(const sharr_block *b)
{
    const struct into_arg *arg = b->arg;
    const sharr_array *a = b->array[0];
    sharr_dtype dt = sharr_array_dtype(a);
    size_t n = row_elems(a), rb = sharr_array_row_bytes(a);
    bool cx = sharr_dtype_kind(dt) == 'c';
    sharr_stats s;

    for (size_t r = 0; r < b->r1 - b->r0; r++) {
        sharr__row_stats(dt, (const unsigned char *)b->data[0] + r * rb, n,
                         &s);
        for (int k = 0; k < arg->nout; k++) {
            size_t w = sharr_array_row_bytes(b->array[1 + k]);
            store_figure(&s, arg->fig[k], cx,
                         (unsigned char *)b->data[1 + k] + r * w);
        }
    }
    return 0;
}

static int check_into(const sharr_array *a, sharr_figure f,
                      const sharr_array *o, sharr_array *const *into)
{
    sharr_dtype want = sharr_figure_dtype(sharr_array_dtype(a), f);
    const char *name = sharr_array_name(o);

    if (want == SHARR_DTYPE_INVALID)
        return sharr__fail(SHARR_EDTYPE, "a %s array has no %s per row "
                           "(complex numbers are not ordered)",
                           sharr_dtype_name(sharr_array_dtype(a)),
                           sharr_figure_name(f));
    if (sharr_array_dtype(o) != want)
        return sharr__fail(SHARR_EDTYPE, "array '%s' for the %s per row is "
                           "%s; it must be %s", name, sharr_figure_name(f),
                           sharr_dtype_name(sharr_array_dtype(o)),
                           sharr_dtype_name(want));
    if (sharr_array_ndim(o) != 1 ||
        sharr_array_shape(o)[0] != sharr_array_rows(a))
        return sharr__fail(SHARR_ESHAPE, "array '%s' for the %s per row must "
                           "have shape (%zu,): one element per row of '%s'",
                           name, sharr_figure_name(f), sharr_array_rows(a),
                           sharr_array_name(a));
    if (!sharr_array_writable(o))
        return check_writable(o);
    for (int g = 0; g < SHARR_NFIGURES; g++)
        if (g != (int)f && into[g] && same_array(into[g], o))
            return sharr__fail(SHARR_EINVAL, "array '%s' is given for both "
                               "%s and %s", name, sharr_figure_name(f),
                               sharr_figure_name((sharr_figure)g));
    if (same_array(a, o))
        return sharr__fail(SHARR_EINVAL, "array '%s' cannot receive its own "
                           "figures", name);
    return 0;
}

int sharr_array_row_stats_into(sharr_pool *pool, const sharr_array *a,
                               sharr_array *const into[SHARR_NFIGURES],
                               const sharr_run_opts *ro)
{
    sharr_array *arrays[1 + SHARR_NFIGURES] = {(sharr_array *)a};
    struct into_arg arg;
    int err;

    memset(&arg, 0, sizeof arg);
    for (int f = 0; f < SHARR_NFIGURES; f++) {
        if (!into[f])
            continue;
        if ((err = check_into(a, (sharr_figure)f, into[f], into)) < 0)
            return err;
        arg.fig[arg.nout] = f;
        arrays[1 + arg.nout++] = into[f];
    }
    if (arg.nout == 0)
        return sharr__fail(SHARR_EINVAL, "no array to receive a figure");
    return run(pool, into_kernel, 1 + (size_t)arg.nout, arrays, 0, &arg,
               sizeof arg, STATIC_EVEN, ro);
}

/* ---- gemm ---- */

struct gemm_arg {
    int dtype;
    int n, k;
    unsigned char alpha[SHARR_MAX_ITEMSIZE], beta[SHARR_MAX_ITEMSIZE];
};

/* Rows of A and C per ?gemm call: a function of m only.  OpenBLAS takes
 * different paths (kernels for the edge tiles, small-matrix code) for
 * different row counts, and those round differently, so each call must get
 * the same rows whatever the number of workers.  At least 4 blocks for the
 * workers where m allows, of 32 to 512 rows: each call packs all of B again
 * (one packing per call, where OpenBLAS's threads share one), which on the
 * test machine made 16 blocks of 128 rows of a 2048^2 c128 product 0.80x
 * OpenBLAS's two threads, 8 of 256 0.94x and 4 of 512 0.96-1.00x. */
static size_t gemm_block_rows(size_t m)
{
    size_t g = (m + 3) / 4;
    return g < 32 ? 32 : (g > 512 ? 512 : g);
}

static void gemm_rows(const struct gemm_arg *g, int m, const void *A,
                      const void *B, void *C)
{
    /* BLAS wants leading dimensions >= 1 even when k or n is 0 (an empty
     * array); k = 0 then gives C = beta * C, as NumPy's matmul does. */
    int lk = g->k > 0 ? g->k : 1, ln = g->n > 0 ? g->n : 1;

    if (g->n == 0)
        return; /* C has no elements */
    switch (g->dtype) {
    case SHARR_F32: { float al, be; memcpy(&al, g->alpha, 4);
        memcpy(&be, g->beta, 4);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, g->n, g->k,
                    al, A, lk, B, ln, be, C, ln); break; }
    case SHARR_F64: { double al, be; memcpy(&al, g->alpha, 8);
        memcpy(&be, g->beta, 8);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, g->n, g->k,
                    al, A, lk, B, ln, be, C, ln); break; }
    case SHARR_C64:
        cblas_cgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, g->n, g->k,
                    g->alpha, A, lk, B, ln, g->beta, C, ln); break;
    default:
        cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, g->n, g->k,
                    g->alpha, A, lk, B, ln, g->beta, C, ln); break;
    }
}

/* One ?gemm call per fixed block of rows (the default schedule hands out
 * exactly those blocks; another schedule's blocks are cut at them). */
static int gemm_kernel(const sharr_block *b)
{
    const struct gemm_arg *g = b->arg;
    size_t item = sharr_dtype_size((sharr_dtype)g->dtype), r = b->r0;
    size_t rows = sharr_array_rows(b->array[0]);
    size_t step = gemm_block_rows(rows);

    while (r < b->r1) {
        size_t end = (r / step + 1) * step;
        if (end > b->r1)
            end = b->r1;
        gemm_rows(g, (int)(end - r),
                  (const unsigned char *)b->data[0] +
                      (r - b->r0) * (size_t)g->k * item,
                  b->data[1],
                  (unsigned char *)b->data[2] +
                      (r - b->r0) * (size_t)g->n * item);
        r = end;
    }
    return 0;
}

static bool same_array(const sharr_array *x, const sharr_array *y)
{
    unsigned char a[16], b[16];
    sharr_array_id(x, a);
    sharr_array_id(y, b);
    return memcmp(a, b, 16) == 0;
}

static int check_gemm(const sharr_array *a, const sharr_array *b,
                      const sharr_array *c)
{
    sharr_dtype dt = sharr_array_dtype(c);
    const size_t *sa = sharr_array_shape(a), *sb = sharr_array_shape(b),
                 *sc = sharr_array_shape(c);
    int err;

    if ((err = check_writable(c)) < 0 || (err = same_dtype(a, c)) < 0 ||
        (err = same_dtype(b, c)) < 0)
        return err;
    if (sharr_dtype_kind(dt) != 'f' && sharr_dtype_kind(dt) != 'c')
        return sharr__fail(SHARR_EDTYPE, "gemm needs f32, f64, c64 or c128 "
                           "arrays, not %s", sharr_dtype_name(dt));
    if (sharr_array_ndim(a) != 2 || sharr_array_ndim(b) != 2 ||
        sharr_array_ndim(c) != 2)
        return sharr__fail(SHARR_ESHAPE, "gemm needs 2-d arrays");
    if (sa[1] != sb[0] || sc[0] != sa[0] || sc[1] != sb[1])
        return sharr__fail(SHARR_ESHAPE, "gemm shapes do not match: A is "
                           "%zux%zu, B %zux%zu, C %zux%zu (need m x k, k x n, "
                           "m x n)", sa[0], sa[1], sb[0], sb[1], sc[0], sc[1]);
    if (sa[0] > INT_MAX || sa[1] > INT_MAX || sb[1] > INT_MAX)
        return sharr__fail(SHARR_EINVAL, "gemm dimensions must be below 2^31");
    if (same_array(a, c) || same_array(b, c))
        return sharr__fail(SHARR_EINVAL, "gemm cannot write C in place of A "
                           "or B");
    return 0;
}

int sharr_gemm(sharr_pool *pool, const void *alpha, const sharr_array *a,
               const sharr_array *b, const void *beta, sharr_array *c,
               const sharr_run_opts *ro)
{
    sharr_array *arrays[3] = {(sharr_array *)a, (sharr_array *)b, c};
    struct gemm_arg g;
    size_t item = sharr_dtype_size(sharr_array_dtype(c));
    int err;

    if ((err = check_gemm(a, b, c)) < 0)
        return err;
    if (!alpha || !beta)
        return sharr__fail(SHARR_EINVAL, "gemm needs alpha and beta");
    if ((err = sharr__blas_load()) < 0)
        return err;
    memset(&g, 0, sizeof g);
    g.dtype = sharr_array_dtype(c);
    g.k = (int)sharr_array_shape(a)[1];
    g.n = (int)sharr_array_shape(b)[1];
    memcpy(g.alpha, alpha, item);
    memcpy(g.beta, beta, item);
    sharr_schedule fixed = {SHARR_SCHED_DYNAMIC,
                            gemm_block_rows(sharr_array_rows(a))};
    return run(pool, gemm_kernel, 3, arrays, 1u << 1, &g, sizeof g, fixed,
               ro);
}

/* ---- for callers that cut the rows themselves (ops_rows.h, lib/mpi) ---- */


size_t sharr__stat_block_rows(size_t row_elems)
{
    /* Rows of no elements: one block, however many rows there are. */
    return fixed_rows(row_elems, (size_t)1 << 40);
}

size_t sharr__gemm_block_rows(size_t m) { return gemm_block_rows(m); }

size_t sharr__stat_part_size(void) { return sizeof(struct sharr__part); }

void sharr__stat_part(sharr_dtype dt, const void *x, size_t n, void *part)
{
    sharr__reduce_part(dt, x, n, part);
}

void sharr__stat_combine(sharr_dtype dt, const void *parts, size_t nparts,
                         sharr_stats *out)
{
    struct sharr__totals t;

    sharr__reduce_init(&t);
    for (size_t i = 0; i < nparts; i++)
        sharr__reduce_add(&t, (const struct sharr__part *)parts + i, dt);
    sharr__reduce_done(&t, dt, out);
}

int sharr__fill_block(const sharr_block *b) { return fill_kernel(b); }
int sharr__apply_block(const sharr_block *b) { return apply_kernel(b); }
int sharr__axpy_block(const sharr_block *b) { return axpy_kernel(b); }

int sharr__apply_arg(const sharr_array *a, sharr_op op, const void *z1,
                     const void *z2, void *out, size_t *size, int *scan)
{
    sharr_dtype dt = sharr_array_dtype(a);
    size_t item = sharr_dtype_size(dt);
    struct apply_arg arg;
    int err, nargs;

    _Static_assert(sizeof arg <= SHARR__APPLY_ARG_MAX, "apply_arg grew");
    if (!sharr_op_name(op))
        return sharr__fail(SHARR_EINVAL, "invalid operation %d", (int)op);
    sharr_op_parse(sharr_op_name(op), &op, &nargs);
    if ((err = check_writable(a)) < 0 ||
        (err = check_op(op, dt, sharr_array_name(a))) < 0)
        return err;
    if ((nargs >= 1 && !z1) || (nargs == 2 && !z2))
        return sharr__fail(SHARR_EINVAL, "%s needs %d value%s",
                           sharr_op_name(op), nargs, nargs > 1 ? "s" : "");
    memset(&arg, 0, sizeof arg);
    arg.op = op;
    if (nargs >= 1)
        memcpy(arg.z1, z1, item);
    if (nargs == 2) {
        memcpy(arg.z2, z2, item);
        if ((err = check_clip(dt, z1, z2)) < 0)
            return err;
    }
    *scan = (op == SHARR_OP_SQRT || op == SHARR_OP_LOG) &&
            sharr_dtype_kind(dt) == 'f';
    memcpy(out, &arg, sizeof arg);
    *size = sizeof arg;
    return 0;
}

void sharr__gemm_call(sharr_dtype dt, const void *alpha, const void *beta,
                      int m, int n, int k, const void *A, const void *B,
                      void *C)
{
    struct gemm_arg g;
    size_t item = sharr_dtype_size(dt);

    memset(&g, 0, sizeof g);
    g.dtype = dt;
    g.n = n;
    g.k = k;
    memcpy(g.alpha, alpha, item);
    memcpy(g.beta, beta, item);
    gemm_rows(&g, m, A, B, C);
}

int sharr__ops_blas_load(void)
{
    sharr__blas_threads_set(1);
    return sharr__blas_load();
}
