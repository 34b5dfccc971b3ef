/*
 * expr_loops.c - the expression engine's inner loops and its interpreter:
 * dtype conversions (NumPy's astype, casting='unsafe', as it behaves on
 * x86-64), NumPy's ufunc formulas per dtype, and sharr__ex_run, which runs
 * a program over one range of elements in tiles of EX_TILE.
 *
 * Operands are (pointer, stride) with stride 0 (a constant, a broadcast
 * run) or 1; a tile register holds EX_TILE elements of up to 16 bytes.
 * Every loop reads an element's operands before it writes its result, so
 * a result may go where an operand of the same index lies (the output
 * array read as an input).  Integer arithmetic is done in unsigned types
 * (it wraps, as NumPy's, without C's undefined signed overflow).  This
 * file is compiled with -ffp-contract=off: no fused multiply-add may
 * change a rounding NumPy does not fuse.
 */
#include "expr.h"

#include <complex.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- conversions ---- */

/* x86-64's truncating conversions (cvttsd2si), which NumPy's casts of
 * NaN, inf and out-of-range floats give: the "integer indefinite" value
 * for what does not fit, unsigned targets through the signed ones. */
static inline int32_t cvt32(double x)
{
    return (x > -2147483649.0 && x < 2147483648.0) ? (int32_t)x : INT32_MIN;
}

static inline int64_t cvt64(double x)
{
    return (x >= -0x1p63 && x < 0x1p63) ? (int64_t)x : INT64_MIN;
}

static inline uint32_t cvtu32(double x)
{
    return x >= 0x1p31 ? (uint32_t)cvt32(x - 0x1p31) ^ 0x80000000u
                       : (uint32_t)cvt32(x);
}

static inline uint64_t cvtu64(double x)
{
    return x >= 0x1p63 ? (uint64_t)cvt64(x - 0x1p63) ^ 0x8000000000000000ull
                       : (uint64_t)cvt64(x);
}

#define F_I8(x) ((int8_t)(uint8_t)(uint32_t)cvt32(x))
#define F_I16(x) ((int16_t)(uint16_t)(uint32_t)cvt32(x))
#define F_I32(x) cvt32(x)
#define F_I64(x) cvt64(x)
#define F_U8(x) ((uint8_t)(uint32_t)cvt32(x))
#define F_U16(x) ((uint16_t)(uint32_t)cvt32(x))
#define F_U32(x) cvtu32(x)
#define F_U64(x) cvtu64(x)
/* Integers to integers: C's conversion, which gcc defines as wrapping. */
#define I_I8(x) ((int8_t)(x))
#define I_I16(x) ((int16_t)(x))
#define I_I32(x) ((int32_t)(x))
#define I_I64(x) ((int64_t)(x))
#define I_U8(x) ((uint8_t)(x))
#define I_U16(x) ((uint16_t)(x))
#define I_U32(x) ((uint32_t)(x))
#define I_U64(x) ((uint64_t)(x))

#define CV(ST, DT, EXPR)                                                     \
    do {                                                                     \
        const ST *s = src;                                                   \
        DT *d = dst;                                                         \
        if (ss) {                                                            \
            for (size_t i = 0; i < n; i++) { ST v = s[i]; d[i] = EXPR; }     \
        } else {                                                             \
            ST v = s[0];                                                     \
            DT t = EXPR;                                                     \
            for (size_t i = 0; i < n; i++) d[i] = t;                         \
        }                                                                    \
    } while (0)

/* A real source into a complex destination of part type PT. */
#define CV_RC(ST, PT)                                                        \
    do {                                                                     \
        const ST *s = src;                                                   \
        PT *d = dst;                                                         \
        for (size_t i = 0; i < n; i++) {                                     \
            d[2 * i] = (PT)s[i * (size_t)ss];                                \
            d[2 * i + 1] = 0;                                                \
        }                                                                    \
    } while (0)

/* Real sources: P is I (integer rules) or F (float rules). */
#define FROM_REAL(NAME, ST, P)                                               \
    static void NAME(const void *src, int ss, int ddt, void *dst, size_t n)  \
    {                                                                        \
        switch (ddt) {                                                       \
        case SHARR_I8: CV(ST, int8_t, P##_I8(v)); break;                     \
        case SHARR_I16: CV(ST, int16_t, P##_I16(v)); break;                  \
        case SHARR_I32: CV(ST, int32_t, P##_I32(v)); break;                  \
        case SHARR_I64: CV(ST, int64_t, P##_I64(v)); break;                  \
        case SHARR_U8: CV(ST, uint8_t, P##_U8(v)); break;                    \
        case SHARR_U16: CV(ST, uint16_t, P##_U16(v)); break;                 \
        case SHARR_U32: CV(ST, uint32_t, P##_U32(v)); break;                 \
        case SHARR_U64: CV(ST, uint64_t, P##_U64(v)); break;                 \
        case SHARR_F32: CV(ST, float, (float)v); break;                      \
        case SHARR_F64: CV(ST, double, (double)v); break;                    \
        case SHARR_C64: CV_RC(ST, float); break;                             \
        case SHARR_C128: CV_RC(ST, double); break;                           \
        default: CV(ST, uint8_t, (uint8_t)(v != 0)); break;                  \
        }                                                                    \
    }

FROM_REAL(from_i8, int8_t, I)
FROM_REAL(from_i16, int16_t, I)
FROM_REAL(from_i32, int32_t, I)
FROM_REAL(from_i64, int64_t, I)
FROM_REAL(from_u8, uint8_t, I)
FROM_REAL(from_u16, uint16_t, I)
FROM_REAL(from_u32, uint32_t, I)
FROM_REAL(from_u64, uint64_t, I)
FROM_REAL(from_f32, float, F)
FROM_REAL(from_f64, double, F)

/* Complex sources: the real part, as NumPy (with a ComplexWarning). */
#define CV_CR(PT, DT, EXPR)                                                  \
    do {                                                                     \
        const PT *s = src;                                                   \
        DT *d = dst;                                                         \
        for (size_t i = 0; i < n; i++) {                                     \
            PT v = s[2 * i * (size_t)ss];                                    \
            d[i] = EXPR;                                                     \
        }                                                                    \
    } while (0)

#define CV_CC(PT, DPT)                                                       \
    do {                                                                     \
        const PT *s = src;                                                   \
        DPT *d = dst;                                                        \
        for (size_t i = 0; i < n; i++) {                                     \
            size_t k = 2 * i * (size_t)ss;                                   \
            d[2 * i] = (DPT)s[k];                                            \
            d[2 * i + 1] = (DPT)s[k + 1];                                    \
        }                                                                    \
    } while (0)

#define FROM_COMPLEX(NAME, PT)                                               \
    static void NAME(const void *src, int ss, int ddt, void *dst, size_t n)  \
    {                                                                        \
        switch (ddt) {                                                       \
        case SHARR_I8: CV_CR(PT, int8_t, F_I8(v)); break;                    \
        case SHARR_I16: CV_CR(PT, int16_t, F_I16(v)); break;                 \
        case SHARR_I32: CV_CR(PT, int32_t, F_I32(v)); break;                 \
        case SHARR_I64: CV_CR(PT, int64_t, F_I64(v)); break;                 \
        case SHARR_U8: CV_CR(PT, uint8_t, F_U8(v)); break;                   \
        case SHARR_U16: CV_CR(PT, uint16_t, F_U16(v)); break;                \
        case SHARR_U32: CV_CR(PT, uint32_t, F_U32(v)); break;                \
        case SHARR_U64: CV_CR(PT, uint64_t, F_U64(v)); break;                \
        case SHARR_F32: CV_CR(PT, float, (float)v); break;                   \
        case SHARR_F64: CV_CR(PT, double, (double)v); break;                 \
        case SHARR_C64: CV_CC(PT, float); break;                             \
        case SHARR_C128: CV_CC(PT, double); break;                           \
        default: {                                                           \
            const PT *s = src;                                               \
            uint8_t *d = dst;                                                \
            for (size_t i = 0; i < n; i++) {                                 \
                size_t k = 2 * i * (size_t)ss;                               \
                d[i] = s[k] != 0 || s[k + 1] != 0;                           \
            }                                                                \
            break;                                                           \
        }                                                                    \
        }                                                                    \
    }

FROM_COMPLEX(from_c64, float)
FROM_COMPLEX(from_c128, double)

void sharr__ex_convert(int sdt, const void *src, int ss, int ddt, void *dst,
                       size_t n)
{
    if (sdt == ddt && ss) {
        memmove(dst, src, n * sharr__ex_size(sdt));
        return;
    }
    switch (sdt) {
    case SHARR_I8: from_i8(src, ss, ddt, dst, n); break;
    case SHARR_I16: from_i16(src, ss, ddt, dst, n); break;
    case SHARR_I32: from_i32(src, ss, ddt, dst, n); break;
    case SHARR_I64: from_i64(src, ss, ddt, dst, n); break;
    case SHARR_U8: case EX_BOOL: from_u8(src, ss, ddt, dst, n); break;
    case SHARR_U16: from_u16(src, ss, ddt, dst, n); break;
    case SHARR_U32: from_u32(src, ss, ddt, dst, n); break;
    case SHARR_U64: from_u64(src, ss, ddt, dst, n); break;
    case SHARR_F32: from_f32(src, ss, ddt, dst, n); break;
    case SHARR_F64: from_f64(src, ss, ddt, dst, n); break;
    case SHARR_C64: from_c64(src, ss, ddt, dst, n); break;
    default: from_c128(src, ss, ddt, dst, n); break;
    }
}

/* ---- loops ---- */

/* r[i] = EXPR(u, v) over operands x (stride sa) and y (stride sb): four
 * variants so that the common cases vectorize. */
#define BIN(T, RT, EXPR)                                                     \
    do {                                                                     \
        const T *x = a, *y = b;                                              \
        RT *r = res;                                                         \
        if (sa && sb) {                                                      \
            for (size_t i = 0; i < n; i++) {                                 \
                T u = x[i], v = y[i]; r[i] = (RT)(EXPR);                     \
            }                                                                \
        } else if (sa) {                                                     \
            T v = y[0];                                                      \
            for (size_t i = 0; i < n; i++) { T u = x[i]; r[i] = (RT)(EXPR); }\
        } else if (sb) {                                                     \
            T u = x[0];                                                      \
            for (size_t i = 0; i < n; i++) { T v = y[i]; r[i] = (RT)(EXPR); }\
        } else {                                                             \
            T u = x[0], v = y[0];                                            \
            RT t = (RT)(EXPR);                                               \
            for (size_t i = 0; i < n; i++) r[i] = t;                         \
        }                                                                    \
    } while (0)

/* The same where EXPR counts something (every element is evaluated). */
#define BIN_EACH(T, RT, EXPR)                                                \
    do {                                                                     \
        const T *x = a, *y = b;                                              \
        RT *r = res;                                                         \
        for (size_t i = 0; i < n; i++) {                                     \
            T u = x[i * (size_t)sa], v = y[i * (size_t)sb];                  \
            r[i] = (RT)(EXPR);                                               \
        }                                                                    \
    } while (0)

#define UN(T, RT, EXPR)                                                      \
    do {                                                                     \
        const T *x = a;                                                      \
        RT *r = res;                                                         \
        if (sa) {                                                            \
            for (size_t i = 0; i < n; i++) { T u = x[i]; r[i] = (RT)(EXPR); }\
        } else {                                                             \
            T u = x[0];                                                      \
            RT t = (RT)(EXPR);                                               \
            for (size_t i = 0; i < n; i++) r[i] = t;                         \
        }                                                                    \
    } while (0)

typedef void (*bin_fn)(int op, const void *a, int sa, const void *b, int sb,
                       void *res, size_t n, struct ex_counts *cnt);
typedef void (*un_fn)(int op, const void *a, int sa, void *res, size_t n);

/* Integers.  U: the unsigned type of the width; W: the type arithmetic is
 * done in (at least unsigned int, so that nothing promotes to int). */
#define INT_LOOPS(SUF, T, U, W, MIN)                                         \
    static inline T fdiv_##SUF(T u, T v, struct ex_counts *cnt)              \
    {                                                                        \
        if (v == 0) { cnt->zero_div++; return 0; }                           \
        if (MIN != 0 && u == (T)MIN && v == (T)-1) return u;                 \
        T q = (T)(u / v);                                                    \
        if (((u > 0) != (v > 0)) && (T)(W)((W)q * (W)v) != u && u != 0)      \
            q = (T)((W)q - 1u);                                              \
        return q;                                                            \
    }                                                                        \
    static inline T mod_##SUF(T u, T v, struct ex_counts *cnt)               \
    {                                                                        \
        if (v == 0) { cnt->zero_div++; return 0; }                           \
        if (MIN != 0 && u == (T)MIN && v == (T)-1) return 0;                 \
        T m = (T)(u % v);                                                    \
        if (m != 0 && ((m < 0) != (v < 0))) m = (T)((W)m + (W)v);            \
        return m;                                                            \
    }                                                                        \
    static inline T pow_##SUF(T u, T v, struct ex_counts *cnt)               \
    {                                                                        \
        W base = (W)u, out;                                                  \
        if (v < 0) { /* 1 / u**-v truncated: only 1 and -1 survive */        \
            if (u == 0) { cnt->zero_div++; return 0; }                       \
            if (u == 1) return 1;                                            \
            if (MIN != 0 && u == (T)-1) return (T)(((W)v & 1u) ? (W)u : 1u); \
            return 0;                                                        \
        }                                                                    \
        if (v == 0 || u == 1) return 1;                                      \
        U e = (U)v;                                                          \
        out = (e & 1u) ? base : 1u;                                          \
        e = (U)(e >> 1);                                                     \
        while (e > 0) {                                                      \
            base = (W)(U)(base * base);                                      \
            if (e & 1u) out = (W)(U)(out * base);                            \
            e = (U)(e >> 1);                                                 \
        }                                                                    \
        return (T)(U)out;                                                    \
    }                                                                        \
    static void bin_##SUF(int op, const void *a, int sa, const void *b,      \
                          int sb, void *res, size_t n, struct ex_counts *cnt)\
    {                                                                        \
        switch (op) {                                                        \
        case EX_ADD: BIN(T, T, (U)((W)u + (W)v)); break;                     \
        case EX_SUB: BIN(T, T, (U)((W)u - (W)v)); break;                     \
        case EX_MUL: BIN(T, T, (U)((W)u * (W)v)); break;                     \
        case EX_FLOORDIV: BIN_EACH(T, T, fdiv_##SUF(u, v, cnt)); break;      \
        case EX_MOD: BIN_EACH(T, T, mod_##SUF(u, v, cnt)); break;            \
        case EX_POW: BIN_EACH(T, T, pow_##SUF(u, v, cnt)); break;            \
        case EX_LT: BIN(T, uint8_t, u < v); break;                           \
        case EX_LE: BIN(T, uint8_t, u <= v); break;                          \
        case EX_GT: BIN(T, uint8_t, u > v); break;                           \
        case EX_GE: BIN(T, uint8_t, u >= v); break;                          \
        case EX_EQ: BIN(T, uint8_t, u == v); break;                          \
        case EX_NE: BIN(T, uint8_t, u != v); break;                          \
        case EX_AND: BIN(T, T, u & v); break;                                \
        case EX_OR: BIN(T, T, u | v); break;                                 \
        case EX_XOR: BIN(T, T, u ^ v); break;                                \
        case EX_MINIMUM: BIN(T, T, u <= v ? u : v); break;                   \
        case EX_MAXIMUM: BIN(T, T, u >= v ? u : v); break;                   \
        default: break;                                                      \
        }                                                                    \
    }                                                                        \
    static void un_##SUF(int op, const void *a, int sa, void *res, size_t n) \
    {                                                                        \
        switch (op) {                                                        \
        case EX_NEG: UN(T, T, (U)(0u - (W)u)); break;                        \
        case EX_INVERT: UN(T, T, (U)~(W)u); break;                           \
        case EX_ABS: UN(T, T, u < 0 ? (U)(0u - (W)u) : (U)u); break;         \
        case EX_IMAG: UN(T, T, 0 * u); break;                                \
        case EX_ISNAN: case EX_ISINF: UN(T, uint8_t, 0 * u); break;          \
        case EX_ISFINITE: UN(T, uint8_t, 1 + 0 * u); break;                  \
        default: UN(T, T, u); break; /* real, conj, round */                 \
        }                                                                    \
    }

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wbool-compare"
#endif
INT_LOOPS(i8, int8_t, uint8_t, unsigned, INT8_MIN)
INT_LOOPS(i16, int16_t, uint16_t, unsigned, INT16_MIN)
INT_LOOPS(i32, int32_t, uint32_t, uint32_t, INT32_MIN)
INT_LOOPS(i64, int64_t, uint64_t, uint64_t, INT64_MIN)
INT_LOOPS(u8, uint8_t, uint8_t, unsigned, 0)
INT_LOOPS(u16, uint16_t, uint16_t, unsigned, 0)
INT_LOOPS(u32, uint32_t, uint32_t, uint32_t, 0)
INT_LOOPS(u64, uint64_t, uint64_t, uint64_t, 0)
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/* Booleans: u8 0/1, but ~ is "not". */
static void un_bool(int op, const void *a, int sa, void *res, size_t n)
{
    if (op == EX_INVERT)
        UN(uint8_t, uint8_t, u ^ 1u);
    else
        un_u8(op, a, sa, res, n);
}

/* NumPy's npy_divmod: Python's floor division and modulo for floats. */
#define FLOAT_DIVMOD(SUF, F, S)                                              \
    static inline F divmod_##SUF(F a, F b, F *mod)                           \
    {                                                                        \
        F m = fmod##S(a, b), div, fl;                                        \
        if (!b) { *mod = m; return a / b; }                                  \
        div = (a - m) / b;                                                   \
        if (m) {                                                             \
            if ((b < 0) != (m < 0)) { m += b; div -= 1; }                    \
        } else {                                                             \
            m = copysign##S(0, b);                                           \
        }                                                                    \
        if (div) {                                                           \
            fl = floor##S(div);                                              \
            if (div - fl > (F)0.5) fl += 1;                                  \
        } else {                                                             \
            fl = copysign##S(0, a / b);                                      \
        }                                                                    \
        *mod = m;                                                            \
        return fl;                                                           \
    }                                                                        \
    static inline F floordiv_##SUF(F a, F b)                                 \
    {                                                                        \
        F m;                                                                 \
        if (!b) return a / b;                                                \
        return divmod_##SUF(a, b, &m);                                       \
    }                                                                        \
    static inline F remainder_##SUF(F a, F b)                                \
    {                                                                        \
        F m;                                                                 \
        if (!b) return fmod##S(a, b);                                        \
        divmod_##SUF(a, b, &m);                                              \
        return m;                                                            \
    }

FLOAT_DIVMOD(f32, float, f)
FLOAT_DIVMOD(f64, double, )

/* NumPy's minimum and maximum: NaN wins; of 0 and -0, the second. */
#define FMIN(u, v) (isnan(u) ? (u) : isnan(v) ? (v) : ((u) < (v) ? (u) : (v)))
#define FMAX(u, v) (isnan(u) ? (u) : isnan(v) ? (v) : ((u) > (v) ? (u) : (v)))

#define FLOAT_LOOPS(SUF, F, S)                                               \
    static void bin_##SUF(int op, const void *a, int sa, const void *b,      \
                          int sb, void *res, size_t n, struct ex_counts *cnt)\
    {                                                                        \
        (void)cnt;                                                           \
        switch (op) {                                                        \
        case EX_ADD: BIN(F, F, u + v); break;                                \
        case EX_SUB: BIN(F, F, u - v); break;                                \
        case EX_MUL: BIN(F, F, u * v); break;                                \
        case EX_DIV: BIN(F, F, u / v); break;                                \
        case EX_FLOORDIV: BIN(F, F, floordiv_##SUF(u, v)); break;            \
        case EX_MOD: BIN(F, F, remainder_##SUF(u, v)); break;                \
        case EX_POW: BIN(F, F, pow##S(u, v)); break;                         \
        case EX_LT: BIN(F, uint8_t, u < v); break;                           \
        case EX_LE: BIN(F, uint8_t, u <= v); break;                          \
        case EX_GT: BIN(F, uint8_t, u > v); break;                           \
        case EX_GE: BIN(F, uint8_t, u >= v); break;                          \
        case EX_EQ: BIN(F, uint8_t, u == v); break;                          \
        case EX_NE: BIN(F, uint8_t, u != v); break;                          \
        case EX_MINIMUM: BIN(F, F, FMIN(u, v)); break;                       \
        case EX_MAXIMUM: BIN(F, F, FMAX(u, v)); break;                       \
        case EX_ARCTAN2: BIN(F, F, atan2##S(u, v)); break;                   \
        default: break;                                                      \
        }                                                                    \
    }                                                                        \
    static void un_##SUF(int op, const void *a, int sa, void *res, size_t n) \
    {                                                                        \
        switch (op) {                                                        \
        case EX_NEG: UN(F, F, -u); break;                                    \
        case EX_ABS: UN(F, F, fabs##S(u)); break;                            \
        case EX_IMAG: UN(F, F, (F)0 * (u == u)); break;                  \
        case EX_ANGLE: UN(F, F, atan2##S((F)0, u)); break;                   \
        case EX_SQRT: UN(F, F, sqrt##S(u)); break;                           \
        case EX_EXP: UN(F, F, exp##S(u)); break;                             \
        case EX_EXPM1: UN(F, F, expm1##S(u)); break;                         \
        case EX_LOG: UN(F, F, log##S(u)); break;                             \
        case EX_LOG1P: UN(F, F, log1p##S(u)); break;                         \
        case EX_LOG10: UN(F, F, log10##S(u)); break;                         \
        case EX_SIN: UN(F, F, sin##S(u)); break;                             \
        case EX_COS: UN(F, F, cos##S(u)); break;                             \
        case EX_TAN: UN(F, F, tan##S(u)); break;                             \
        case EX_ARCSIN: UN(F, F, asin##S(u)); break;                         \
        case EX_ARCCOS: UN(F, F, acos##S(u)); break;                         \
        case EX_ARCTAN: UN(F, F, atan##S(u)); break;                         \
        case EX_SINH: UN(F, F, sinh##S(u)); break;                           \
        case EX_COSH: UN(F, F, cosh##S(u)); break;                           \
        case EX_TANH: UN(F, F, tanh##S(u)); break;                           \
        case EX_FLOOR: UN(F, F, floor##S(u)); break;                         \
        case EX_CEIL: UN(F, F, ceil##S(u)); break;                           \
        case EX_ROUND: UN(F, F, rint##S(u)); break;                          \
        case EX_ISNAN: UN(F, uint8_t, isnan(u) != 0); break;                 \
        case EX_ISINF: UN(F, uint8_t, isinf(u) != 0); break;                 \
        case EX_ISFINITE: UN(F, uint8_t, isfinite(u) != 0); break;           \
        default: UN(F, F, u); break; /* real, conj */                        \
        }                                                                    \
    }

FLOAT_LOOPS(f32, float, f)
FLOAT_LOOPS(f64, double, )

/* Complex: (re, im) pairs of F; CT, the C99 type, only for the library
 * functions (csqrt, cexp, clog, csin ... keep C99's special values, which
 * NumPy uses too). */
#define CBIN(F, BODY)                                                        \
    do {                                                                     \
        const F *x = a, *y = b;                                              \
        F *r = res;                                                          \
        size_t ia = 2 * (size_t)sa, ib = 2 * (size_t)sb;                     \
        for (size_t i = 0; i < n; i++) {                                     \
            F ar = x[i * ia], ai = x[i * ia + 1];                            \
            F br = y[i * ib], bi = y[i * ib + 1];                            \
            F rr, ri;                                                        \
            BODY;                                                            \
            r[2 * i] = rr;                                                   \
            r[2 * i + 1] = ri;                                               \
        }                                                                    \
    } while (0)

#define CCMP(F, EXPR)                                                        \
    do {                                                                     \
        const F *x = a, *y = b;                                              \
        uint8_t *r = res;                                                    \
        size_t ia = 2 * (size_t)sa, ib = 2 * (size_t)sb;                     \
        for (size_t i = 0; i < n; i++) {                                     \
            F ar = x[i * ia], ai = x[i * ia + 1];                            \
            F br = y[i * ib], bi = y[i * ib + 1];                            \
            r[i] = (uint8_t)(EXPR);                                          \
        }                                                                    \
    } while (0)

/* The complex loops with both strides 1 or one of them 0, spelled out for
 * the operations that run at memory speed. */
#define CFAST(F, RR, RI)                                                     \
    do {                                                                     \
        if (sa && sb) {                                                      \
            const F *x = a, *y = b;                                          \
            F *r = res;                                                      \
            for (size_t i = 0; i < n; i++) {                                 \
                F ar = x[2 * i], ai = x[2 * i + 1];                          \
                F br = y[2 * i], bi = y[2 * i + 1];                          \
                r[2 * i] = RR; r[2 * i + 1] = RI;                            \
            }                                                                \
        } else {                                                             \
            CBIN(F, rr = RR; ri = RI);                                       \
        }                                                                    \
    } while (0)

/* NumPy's lexicographic order of complex numbers (CLT, CLE ... in its
 * loops), and its complex minimum/maximum: a NaN part in the first operand
 * wins, else the first if it compares so, else the second. */
#define CORD(S, OP) ((ar S br && !isnan(ai) && !isnan(bi)) ||               \
                     (ar == br && ai OP bi))
#define CORD_LE ((ar < br && !isnan(ai) && !isnan(bi)) || (ar == br && ai <= bi))
#define CORD_GE ((ar > br && !isnan(ai) && !isnan(bi)) || (ar == br && ai >= bi))
#define CPICK(C)                                                             \
    do {                                                                     \
        if (isnan(ar) || isnan(ai) || C) { rr = ar; ri = ai; }               \
        else { rr = br; ri = bi; }                                           \
    } while (0)

#define COMPLEX_LOOPS(SUF, F, CT, S, MK)                                      \
    /* |z|: sqrt(re^2 + im^2) where no square can overflow or underflow   \
     * (within an ulp or two of hypot, as NumPy's own SIMD hypot is),      \
     * hypot elsewhere. */                                                 \
    static inline F cabs_##SUF(F u, F w)                                     \
    {                                                                        \
        F m = fabs##S(u) > fabs##S(w) ? fabs##S(u) : fabs##S(w);             \
        if (m > (F)CABS_LO && m < (F)CABS_HI)                                \
            return sqrt##S(u * u + w * w);                                   \
        return hypot##S(u, w);                                               \
    }                                                                        \
    static inline void cdiv_##SUF(F ar, F ai, F br, F bi, F *rr, F *ri)      \
    {                                                                        \
        F abr = fabs##S(br), abi = fabs##S(bi);                              \
        if (abr >= abi) {                                                    \
            if (abr == 0 && abi == 0) {                                      \
                *rr = ar / abr;                                              \
                *ri = ai / abr;                                              \
            } else {                                                         \
                F rat = bi / br, scl = (F)1.0 / (br + bi * rat);             \
                *rr = (ar + ai * rat) * scl;                                 \
                *ri = (ai - ar * rat) * scl;                                 \
            }                                                                \
        } else {                                                             \
            F rat = br / bi, scl = (F)1.0 / (bi + br * rat);                 \
            *rr = (ar * rat + ai) * scl;                                     \
            *ri = (ai * rat - ar) * scl;                                     \
        }                                                                    \
    }                                                                        \
    /* NumPy's npy_cpow: small integer powers by repeated multiplication. */   \
    static void cpow_##SUF(F ar, F ai, F br, F bi, F *rr, F *ri)             \
    {                                                                        \
        long k;                                                              \
        if (br == 0 && bi == 0) { *rr = 1; *ri = 0; return; }                \
        if (ar == 0 && ai == 0) {                                            \
            if (br > 0 && bi == 0) { *rr = 0; *ri = 0; }                     \
            else { *rr = NAN; *ri = NAN; }                                   \
            return;                                                          \
        }                                                                    \
        if (bi == 0 && br > -100 && br < 100 && (k = (long)br) == br) {      \
            F pr = ar, pi = ai, qr = 1, qi = 0, t;                           \
            long m = k < 0 ? -k : k, mask = 1;                               \
            if (k == 1) { *rr = ar; *ri = ai; return; }                      \
            if (k == 2 || k == 3) {                                          \
                qr = ar * ar - ai * ai; qi = ar * ai + ai * ar;              \
                if (k == 3) { t = ar * qr - ai * qi;                         \
                    qi = ar * qi + ai * qr; qr = t; }                        \
                *rr = qr; *ri = qi; return;                                  \
            }                                                                \
            for (;;) {                                                       \
                if (m & mask) { t = qr * pr - qi * pi;                       \
                    qi = qr * pi + qi * pr; qr = t; }                        \
                mask <<= 1;                                                  \
                if (m < mask || mask <= 0) break;                            \
                t = pr * pr - pi * pi; pi = pr * pi + pi * pr; pr = t;       \
            }                                                                \
            if (br < 0)                                                      \
                cdiv_##SUF(1, 0, qr, qi, rr, ri);                            \
            else { *rr = qr; *ri = qi; }                                     \
            return;                                                          \
        }                                                                    \
        CT z = cpow##S(MK(ar, ai), MK(br, bi));                  \
        *rr = creal##S(z); *ri = cimag##S(z);                                \
    }                                                                        \
    static void bin_##SUF(int op, const void *a, int sa, const void *b,      \
                          int sb, void *res, size_t n, struct ex_counts *cnt)\
    {                                                                        \
        (void)cnt;                                                           \
        switch (op) {                                                        \
        case EX_ADD: CFAST(F, ar + br, ai + bi); break;                      \
        case EX_SUB: CFAST(F, ar - br, ai - bi); break;                      \
        case EX_MUL: CFAST(F, ar * br - ai * bi, ar * bi + ai * br); break;  \
        case EX_DIV: CBIN(F, cdiv_##SUF(ar, ai, br, bi, &rr, &ri)); break;   \
        case EX_POW: CBIN(F, cpow_##SUF(ar, ai, br, bi, &rr, &ri)); break;   \
        case EX_EQ: CCMP(F, ar == br && ai == bi); break;                    \
        case EX_NE: CCMP(F, ar != br || ai != bi); break;                    \
        case EX_LT: CCMP(F, CORD(<, <)); break;                                 \
        case EX_LE: CCMP(F, CORD(<, <=)); break;                                \
        case EX_GT: CCMP(F, CORD(>, >)); break;                                 \
        case EX_GE: CCMP(F, CORD(>, >=)); break;                                \
        case EX_MINIMUM: CBIN(F, CPICK(CORD_LE));  break;                    \
        case EX_MAXIMUM: CBIN(F, CPICK(CORD_GE));  break;                    \
        default: break;                                                      \
        }                                                                    \
    }                                                                        \
    static void un_##SUF(int op, const void *a, int sa, void *res, size_t n) \
    {                                                                        \
        const F *x = a;                                                      \
        F *r = res;                                                          \
        uint8_t *q = res;                                                    \
        size_t ia = 2 * (size_t)sa;                                          \
        if (op == EX_ABS && sa) { /* the one at memory speed */              \
            for (size_t i = 0; i < n; i++)                                   \
                r[i] = cabs_##SUF(x[2 * i], x[2 * i + 1]);                   \
            return;                                                          \
        }                                                                    \
        for (size_t i = 0; i < n; i++) {                                     \
            F u = x[i * ia], w = x[i * ia + 1], rr = 0, ri = 0;              \
            CT z = MK(u, w);                                           \
            switch (op) {                                                    \
            case EX_NEG: rr = -u; ri = -w; break;                            \
            case EX_CONJ: rr = u; ri = -w; break;                            \
            case EX_ABS: r[i] = cabs_##SUF(u, w); continue;                  \
            case EX_REAL: r[i] = u; continue;                                \
            case EX_IMAG: r[i] = w; continue;                                \
            case EX_ANGLE: r[i] = atan2##S(w, u); continue;                  \
            case EX_ISNAN: q[i] = isnan(u) || isnan(w); continue;            \
            case EX_ISINF: q[i] = isinf(u) || isinf(w); continue;            \
            case EX_ISFINITE: q[i] = isfinite(u) && isfinite(w); continue;   \
            case EX_ROUND: rr = rint##S(u); ri = rint##S(w); break;          \
            case EX_EXPM1: {                                                 \
                F h = sin##S(w / 2);                                         \
                rr = expm1##S(u) * cos##S(w) - 2 * h * h;                    \
                ri = exp##S(u) * sin##S(w);                                  \
                break;                                                       \
            }                                                                \
            case EX_LOG1P: {                                                 \
                F l = hypot##S(u + 1, w);                                    \
                ri = atan2##S(w, u + 1);                                     \
                rr = log##S(l);                                              \
                break;                                                       \
            }                                                                \
            default: {                                                       \
                switch (op) {                                                \
                case EX_SQRT: z = csqrt##S(z); break;                        \
                case EX_EXP: z = cexp##S(z); break;                          \
                case EX_LOG: case EX_LOG10: z = clog##S(z); break;           \
                case EX_SIN: z = csin##S(z); break;                          \
                case EX_COS: z = ccos##S(z); break;                          \
                case EX_TAN: z = ctan##S(z); break;                          \
                case EX_ARCSIN: z = casin##S(z); break;                      \
                case EX_ARCCOS: z = cacos##S(z); break;                      \
                case EX_ARCTAN: z = catan##S(z); break;                      \
                case EX_SINH: z = csinh##S(z); break;                        \
                case EX_COSH: z = ccosh##S(z); break;                        \
                case EX_TANH: z = ctanh##S(z); break;                        \
                default: break;                                              \
                }                                                            \
                rr = creal##S(z);                                            \
                ri = cimag##S(z);                                            \
                if (op == EX_LOG10) {                                        \
                    rr *= (F)0.434294481903251827651128918916605082;         \
                    ri *= (F)0.434294481903251827651128918916605082;         \
                }                                                            \
            }                                                                \
            }                                                                \
            r[2 * i] = rr;                                                   \
            r[2 * i + 1] = ri;                                               \
        }                                                                    \
    }

#define CABS_LO 0x1p-60
#define CABS_HI 0x1p60
COMPLEX_LOOPS(c64, float, float complex, f, CMPLXF)
#undef CABS_LO
#undef CABS_HI
#define CABS_LO 0x1p-500
#define CABS_HI 0x1p500
COMPLEX_LOOPS(c128, double, double complex, , CMPLX)

static const bin_fn bin_table[EX_NTYPES] = {
    [SHARR_I8] = bin_i8, [SHARR_I16] = bin_i16, [SHARR_I32] = bin_i32,
    [SHARR_I64] = bin_i64, [SHARR_U8] = bin_u8, [SHARR_U16] = bin_u16,
    [SHARR_U32] = bin_u32, [SHARR_U64] = bin_u64, [SHARR_F32] = bin_f32,
    [SHARR_F64] = bin_f64, [SHARR_C64] = bin_c64, [SHARR_C128] = bin_c128,
    [EX_BOOL] = bin_u8};

static const un_fn un_table[EX_NTYPES] = {
    [SHARR_I8] = un_i8, [SHARR_I16] = un_i16, [SHARR_I32] = un_i32,
    [SHARR_I64] = un_i64, [SHARR_U8] = un_u8, [SHARR_U16] = un_u16,
    [SHARR_U32] = un_u32, [SHARR_U64] = un_u64, [SHARR_F32] = un_f32,
    [SHARR_F64] = un_f64, [SHARR_C64] = un_c64, [SHARR_C128] = un_c128,
    [EX_BOOL] = un_bool};

/* ---- fused pairs ----
 * Two arithmetic instructions in a row in one float or complex dtype,
 * where the second is the only reader of the first: r = OP2(OP1(x, y), z)
 * (ZF 0) or OP2(z, OP1(x, y)) (ZF 1) in one loop, instead of a loop that
 * writes a tile register and one that reads it back.  At memory speed the
 * two loops alternate between streams where one loop overlaps them:
 * c128 a*b + a took 1.3x as long in two.  The same operations on the same
 * values in the same order: the bytes of the unfused loops, but for the
 * payload of a NaN made of two NaNs (the compiler may swap the operands
 * of + and * in either loop, and x86 keeps the first one's).  Operands
 * have the strides sharr__ex_run gives them (constants 0, the rest 1);
 * the compiler (expr_type.c, fuse) pairs only the operations of these
 * loops, and only where at most one of x, y, z is a constant, so
 * four stride patterns (SA, SB, SC literal: the constant one hoisted and
 * the loop vectorized) cover every fused pair. */
#define R_ADD(u, v) ((u) + (v))
#define R_SUB(u, v) ((u) - (v))
#define R_MUL(u, v) ((u) * (v))
#define R_DIV(u, v) ((u) / (v))
#define C_ADD(ar, ai, br, bi, rr, ri) (rr = (ar) + (br), ri = (ai) + (bi))
#define C_SUB(ar, ai, br, bi, rr, ri) (rr = (ar) - (br), ri = (ai) - (bi))
#define C_MUL(ar, ai, br, bi, rr, ri)                                        \
    (rr = (ar) * (br) - (ai) * (bi), ri = (ar) * (bi) + (ai) * (br))

#define RFUSE(F, OP1, OP2, ZF, SA, SB, SC)                                   \
    for (size_t k = 0; k < n; k++) {                                         \
        F t = OP1(x[k * SA], y[k * SB]), w = z[k * SC];                      \
        r[k] = ZF ? OP2(w, t) : OP2(t, w);                                   \
    }

#define CFUSE(F, OP1, OP2, ZF, SA, SB, SC)                                   \
    for (size_t k = 0; k < n; k++) {                                         \
        F tr, ti, rr, ri, wr = z[2 * k * SC], wi = z[2 * k * SC + 1];        \
        OP1(x[2 * k * SA], x[2 * k * SA + 1], y[2 * k * SB],                 \
            y[2 * k * SB + 1], tr, ti);                                      \
        if (ZF)                                                              \
            OP2(wr, wi, tr, ti, rr, ri);                                     \
        else                                                                 \
            OP2(tr, ti, wr, wi, rr, ri);                                     \
        r[2 * k] = rr;                                                       \
        r[2 * k + 1] = ri;                                                   \
    }

/* The four stride patterns of one (OP1, OP2, ZF). */
#define FUSE_STRIDES(L, F, OP1, OP2, ZF)                                     \
    do {                                                                     \
        if (sa && sb && sc) L(F, OP1, OP2, ZF, 1, 1, 1)                      \
        else if (sa && sb) L(F, OP1, OP2, ZF, 1, 1, 0)                       \
        else if (sb) L(F, OP1, OP2, ZF, 0, 1, 1)                             \
        else L(F, OP1, OP2, ZF, 1, 0, 1)                                     \
    } while (0)

#define FUSE_CASE(L, F, O1, OP1, O2, OP2)                                    \
    case O1 * 64 + O2 * 2: FUSE_STRIDES(L, F, OP1, OP2, 0); break;           \
    case O1 * 64 + O2 * 2 + 1: FUSE_STRIDES(L, F, OP1, OP2, 1); break;

#define FUSE_ROW(L, F, P, O1, OP1)                                           \
    FUSE_CASE(L, F, O1, OP1, EX_ADD, P##_ADD)                                \
    FUSE_CASE(L, F, O1, OP1, EX_SUB, P##_SUB)                                \
    FUSE_CASE(L, F, O1, OP1, EX_MUL, P##_MUL)

typedef void (*fuse_fn)(int op1, int op2, int zf, const void *a, int sa,
                        const void *b, int sb, const void *c, int sc,
                        void *res, size_t n);

#define FUSE_FN(SUF, F, CASES)                                               \
    static void fuse_##SUF(int op1, int op2, int zf, const void *a, int sa,  \
                           const void *b, int sb, const void *c, int sc,     \
                           void *res, size_t n)                              \
    {                                                                        \
        const F *x = a, *y = b, *z = c;                                      \
        F *r = res;                                                          \
        switch (op1 * 64 + op2 * 2 + zf) {                                   \
        CASES                                                                \
        default: break;                                                      \
        }                                                                    \
    }

/* Real: + - * / on either side; complex: + - * (their / is Smith's). */
#define REAL_CASES(F)                                                        \
    FUSE_ROW(RFUSE, F, R, EX_ADD, R_ADD)                                     \
    FUSE_CASE(RFUSE, F, EX_ADD, R_ADD, EX_DIV, R_DIV)                        \
    FUSE_ROW(RFUSE, F, R, EX_SUB, R_SUB)                                     \
    FUSE_CASE(RFUSE, F, EX_SUB, R_SUB, EX_DIV, R_DIV)                        \
    FUSE_ROW(RFUSE, F, R, EX_MUL, R_MUL)                                     \
    FUSE_CASE(RFUSE, F, EX_MUL, R_MUL, EX_DIV, R_DIV)                        \
    FUSE_ROW(RFUSE, F, R, EX_DIV, R_DIV)                                     \
    FUSE_CASE(RFUSE, F, EX_DIV, R_DIV, EX_DIV, R_DIV)
#define COMPLEX_CASES(F)                                                     \
    FUSE_ROW(CFUSE, F, C, EX_ADD, C_ADD)                                     \
    FUSE_ROW(CFUSE, F, C, EX_SUB, C_SUB)                                     \
    FUSE_ROW(CFUSE, F, C, EX_MUL, C_MUL)

FUSE_FN(f32, float, REAL_CASES(float))
FUSE_FN(f64, double, REAL_CASES(double))
FUSE_FN(c64, float, COMPLEX_CASES(float))
FUSE_FN(c128, double, COMPLEX_CASES(double))

static const fuse_fn fuse_table[EX_NTYPES] = {
    [SHARR_F32] = fuse_f32, [SHARR_F64] = fuse_f64, [SHARR_C64] = fuse_c64,
    [SHARR_C128] = fuse_c128};

/* where(c, x, y) by element size. */
static void where_loop(size_t size, const uint8_t *c, int sc, const void *x,
                       int sx, const void *y, int sy, void *res, size_t n)
{
    const unsigned char *px = x, *py = y;
    unsigned char *r = res;

    for (size_t i = 0; i < n; i++)
        memcpy(r + i * size, c[i * (size_t)sc] ? px + i * size * (size_t)sx
                                               : py + i * size * (size_t)sy,
               size);
}

#define CLIP_INT(T)                                                          \
    do {                                                                     \
        const T *x = a, *lo = b, *hi = c;                                    \
        T *r = res;                                                          \
        for (size_t i = 0; i < n; i++) {                                     \
            T u = x[i * (size_t)sa], l = lo[i * (size_t)sb],                 \
              h = hi[i * (size_t)sc];                                        \
            u = u >= l ? u : l;                                              \
            r[i] = u <= h ? u : h;                                           \
        }                                                                    \
    } while (0)

/* NumPy's clip for floats: _NPY_MIN(_NPY_MAX(x, lo), hi), NaN first. */
#define CLIP_FLOAT(T)                                                        \
    do {                                                                     \
        const T *x = a, *lo = b, *hi = c;                                    \
        T *r = res;                                                          \
        for (size_t i = 0; i < n; i++) {                                     \
            T u = x[i * (size_t)sa], l = lo[i * (size_t)sb],                 \
              h = hi[i * (size_t)sc];                                        \
            u = isnan(u) ? u : (u > l ? u : l);                              \
            r[i] = isnan(u) ? u : (u < h ? u : h);                           \
        }                                                                    \
    } while (0)

/* Complex clip in NumPy's lexicographic order (a NaN part wins). */
#define CLIP_COMPLEX(F)                                                      \
    do {                                                                     \
        const F *x = a, *lo = b, *hi = c;                                    \
        F *r = res;                                                          \
        for (size_t i = 0; i < n; i++) {                                     \
            F ar = x[2 * i * (size_t)sa], ai = x[2 * i * (size_t)sa + 1];    \
            F br = lo[2 * i * (size_t)sb], bi = lo[2 * i * (size_t)sb + 1];  \
            F rr, ri;                                                        \
            CPICK(CORD_GE);                                                  \
            ar = rr; ai = ri;                                                \
            br = hi[2 * i * (size_t)sc]; bi = hi[2 * i * (size_t)sc + 1];    \
            CPICK(CORD_LE);                                                  \
            r[2 * i] = rr;                                                   \
            r[2 * i + 1] = ri;                                               \
        }                                                                    \
    } while (0)

static void clip_loop(int dt, const void *a, int sa, const void *b, int sb,
                      const void *c, int sc, void *res, size_t n)
{
    switch (dt) {
    case SHARR_I8: CLIP_INT(int8_t); break;
    case SHARR_I16: CLIP_INT(int16_t); break;
    case SHARR_I32: CLIP_INT(int32_t); break;
    case SHARR_I64: CLIP_INT(int64_t); break;
    case SHARR_U8: case EX_BOOL: CLIP_INT(uint8_t); break;
    case SHARR_U16: CLIP_INT(uint16_t); break;
    case SHARR_U32: CLIP_INT(uint32_t); break;
    case SHARR_U64: CLIP_INT(uint64_t); break;
    case SHARR_F32: CLIP_FLOAT(float); break;
    case SHARR_F64: CLIP_FLOAT(double); break;
    case SHARR_C64: CLIP_COMPLEX(float); break;
    default: CLIP_COMPLEX(double); break;
    }
}

/* ---- the interpreter ---- */

/* Gather elements [e0, e0 + n) of the result's C order from input `in`
 * into dst as dtype dt: runs along the last axis, each with the input's
 * stride there (0 or 1). */
static void gather(const struct ex_prog *p, const struct ex_input *in,
                   const unsigned char *base, size_t e0, size_t n, int dt,
                   unsigned char *dst)
{
    size_t nd = p->ndim, idx[SHARR_MAX_NDIM], isz = sharr__ex_size(in->dtype),
           osz = sharr__ex_size(dt), last = nd ? p->shape[nd - 1] : 1;
    size_t rest = e0;

    if (nd == 0) {
        sharr__ex_convert(in->dtype, base, 0, dt, dst, n);
        return;
    }
    for (size_t d = nd; d-- > 0;) {
        idx[d] = rest % p->shape[d];
        rest /= p->shape[d];
    }
    while (n > 0) {
        int64_t off = 0;
        for (size_t d = 0; d < nd; d++)
            off += (int64_t)idx[d] * in->stride[d];
        size_t run = last - idx[nd - 1];
        if (run > n)
            run = n;
        sharr__ex_convert(in->dtype, base + (size_t)off * isz,
                          in->stride[nd - 1] != 0, dt, dst, run);
        dst += run * osz;
        n -= run;
        /* The next run starts at the next row of the last axis. */
        idx[nd - 1] += run;
        for (size_t d = nd - 1; d > 0 && idx[d] == p->shape[d]; d--) {
            idx[d] = 0;
            idx[d - 1]++;
        }
    }
}

struct operand {
    const void *ptr;
    int stride;
};

/* bytes from src to dst with non-temporal stores where dst is 16-byte
 * aligned: the lines go to memory without being read first. */
static void stream_copy(unsigned char *dst, const unsigned char *src,
                        size_t bytes)
{
#ifdef __SSE2__
    size_t head = (16 - ((uintptr_t)dst & 15)) & 15, i;
    if (head > bytes)
        head = bytes;
    memcpy(dst, src, head);
    for (i = head; i + 16 <= bytes; i += 16)
        _mm_stream_si128((__m128i *)(void *)(dst + i),
                         _mm_loadu_si128((const __m128i *)(const void *)
                                         (src + i)));
    memcpy(dst + i, src + i, bytes - i);
#else
    memcpy(dst, src, bytes);
#endif
}

void sharr__ex_run(const struct ex_prog *p, void *const *data, size_t e0,
                   size_t total, void *dst, unsigned char *regs,
                   struct ex_counts *cnt)
{
    const bool stream = p->stream;
    struct operand v[256]; /* 255: no operand */
    size_t osz = sharr__ex_size(p->out_dt);
    /* A program without registers (one loop from the inputs straight into
     * the output: abs(z), a*b + a fused) keeps nothing in cache between
     * tiles: it runs over the whole range at once, unless its results are
     * streamed through a tile. */
    size_t tile = p->nregs || stream ? EX_TILE : total;
    unsigned char *spare = regs + (size_t)p->nregs * EX_TILE * 16;

    for (size_t t0 = 0; t0 < total; t0 += tile) {
        size_t n = total - t0 < tile ? total - t0 : tile;
        size_t e = e0 + t0;
        unsigned char *out = (unsigned char *)dst + t0 * osz;
        for (uint32_t i = 0; i < p->nins; i++) {
            const struct ex_ins *in = &p->ins[i];
            unsigned char *r = in->reg == 254
                                   ? stream ? spare : out
                                   : in->reg == 255
                                         ? NULL
                                         : regs + (size_t)in->reg * EX_TILE * 16;
            const struct operand *a = &v[in->a], *b = &v[in->b],
                                 *c = &v[in->c];
            if (in->with == 255)
                continue; /* computed by the instruction that reads it */
            if (in->with) {
                uint32_t j = in->with - 1u;
                const struct ex_ins *f = &p->ins[j];
                const struct operand *z = in->a == j ? b : a;
                fuse_table[in->dt](f->op, in->op, in->b == j,
                                   v[f->a].ptr, v[f->a].stride, v[f->b].ptr,
                                   v[f->b].stride, z->ptr, z->stride, r, n);
                if (r == spare && stream)
                    stream_copy(out, r, n * osz);
                v[i].ptr = r;
                v[i].stride = 1;
                continue;
            }
            switch (in->op) {
            case EX_CONST:
                v[i].ptr = p->cst[in->aux];
                v[i].stride = 0;
                continue;
            case EX_LOAD: {
                const struct ex_input *x = &p->in[in->aux];
                const unsigned char *base = data[x->slot];
                if (!r) { /* the input itself, at this tile */
                    v[i].ptr = base + e * sharr__ex_size(x->dtype);
                    v[i].stride = 1;
                    continue;
                }
                if (x->full)
                    sharr__ex_convert(x->dtype,
                                      base + e * sharr__ex_size(x->dtype), 1,
                                      in->dt, r, n);
                else
                    gather(p, x, base, e, n, in->dt, r);
                break;
            }
            case EX_CONVERT:
                sharr__ex_convert(in->aux, a->ptr, a->stride, in->dt, r, n);
                break;
            case EX_WHERE:
                where_loop(sharr__ex_size(in->dt), a->ptr, a->stride, b->ptr,
                           b->stride, c->ptr, c->stride, r, n);
                break;
            case EX_CLIP:
                clip_loop(in->dt, a->ptr, a->stride, b->ptr, b->stride,
                          c->ptr, c->stride, r, n);
                break;
            default:
                if (EX_IS_BINARY(in->op))
                    bin_table[in->dt](in->op, a->ptr, a->stride, b->ptr,
                                      b->stride, r, n, cnt);
                else
                    un_table[in->dt](in->op, a->ptr, a->stride, r, n);
                break;
            }
            if (r == spare && stream)
                stream_copy(out, r, n * osz);
            v[i].ptr = r;
            v[i].stride = 1;
        }
    }
#ifdef __SSE2__
    if (stream)
        _mm_sfence(); /* the streamed stores are done before the job is */
#endif
}
