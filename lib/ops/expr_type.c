/*
 * expr_type.c - an expression's tree, typed against the arrays bound to
 * its names, into programs (struct ex_plan): NumPy's broadcasting, its
 * promotion with Python numbers as weak scalars (NEP 50, as NumPy 1.24
 * with np._set_promotion_state('weak')), its ufuncs' result dtypes, and
 * Python's own arithmetic where two Python numbers meet (folded here).
 * Every error (a shape mismatch, an operator a dtype lacks, a number out
 * of a dtype's range) is found here, before anything runs or is written.
 */
#include "expr.h"

#include <complex.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* A typed value: a Python number (weak) or a dtype with a shape. */
struct tv {
    int weak;                /* 1: a Python number of kind `kind` */
    int kind;
    int64_t ival;
    double re, im;
    int dt;                  /* strong: value dtype */
    size_t ndim;
    size_t shape[SHARR_MAX_NDIM];
    int ins;                 /* strong: instruction, or -1 ... */
    int slot;                /* ... an input slot not loaded yet (>= 0) */
    int is_const;            /* ... or a constant of dt in cval */
    _Alignas(16) unsigned char cval[16];
};

struct ctx {
    const struct sharr_expr *e;
    const struct ex_binding *bind;
    struct ex_plan *plan;
    int prog;                /* the program being built */
    size_t ndim;             /* its result shape (fixed once typed) */
    size_t shape[SHARR_MAX_NDIM];
    int load_cache[EX_MAX_INPUTS][EX_NTYPES];
};

static const char *dt_name(int dt)
{
    return dt == EX_BOOL ? "bool" : sharr_dtype_name((sharr_dtype)dt);
}

static char kind_of(int dt)
{
    return dt == EX_BOOL ? 'b' : sharr_dtype_kind((sharr_dtype)dt);
}

size_t sharr__ex_size(int dt)
{
    return dt == EX_BOOL ? 1 : sharr_dtype_size((sharr_dtype)dt);
}

static int node_fail(const struct ctx *c, int node, int code, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

static int node_fail(const struct ctx *c, int node, int code, const char *fmt,
                     ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sharr__fail(code, "%s (column %d of '%s')", msg,
                       c->e->nodes[node].col + 1, c->e->text);
}

/* ---- promotion ---- */

static int bits(int dt) { return 8 * (int)sharr__ex_size(dt); }

/* NumPy's can_cast(from, to, 'safe') among sharr's dtypes and bool. */
static bool safe(int from, int to)
{
    char kf = kind_of(from), kt = kind_of(to);
    int bf = bits(from), bt = bits(to);

    if (from == to || kf == 'b')
        return true;
    switch (kf) {
    case 'i':
        if (kt == 'i') return bt >= bf;
        if (kt == 'f') return bf <= 16 ? true : bt == 64;
        if (kt == 'c') return bf <= 16 ? true : bt == 128;
        return false;
    case 'u':
        if (kt == 'u') return bt >= bf;
        if (kt == 'i') return bt > bf;
        if (kt == 'f') return bf <= 16 ? true : bt == 64;
        if (kt == 'c') return bf <= 16 ? true : bt == 128;
        return false;
    case 'f':
        if (kt == 'f') return bt >= bf;
        if (kt == 'c') return bt >= 2 * bf;
        return false;
    default:
        return kt == 'c' && bt >= bf;
    }
}

/* The first dtype in NumPy's type order both cast to safely. */
static int promote(int a, int b)
{
    static const int order[] = {EX_BOOL, SHARR_I8, SHARR_U8, SHARR_I16,
                                SHARR_U16, SHARR_I32, SHARR_U32, SHARR_I64,
                                SHARR_U64, SHARR_F32, SHARR_F64, SHARR_C64,
                                SHARR_C128};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (safe(a, order[i]) && safe(b, order[i]))
            return order[i];
    return SHARR_C128;
}

static int kind_rank(int dt)
{
    switch (kind_of(dt)) {
    case 'b': return K_BOOL;
    case 'i': case 'u': return K_INT;
    case 'f': return K_FLOAT;
    default: return K_COMPLEX;
    }
}

/* A strong dtype meeting a Python number of kind k (NEP 50). */
static int with_weak(int dt, int k)
{
    int r = kind_rank(dt);
    if (k <= r)
        return dt;
    if (k == K_INT)
        return SHARR_I64;
    if (k == K_FLOAT)
        return SHARR_F64;
    return dt == SHARR_F32 ? SHARR_C64 : SHARR_C128;
}

static int default_dt(int k)
{
    return k == K_INT ? SHARR_I64 : k == K_FLOAT ? SHARR_F64 : SHARR_C128;
}

/* The common dtype of n values; -1 when all are Python numbers. */
static int common(const struct tv *v, int n)
{
    int dt = -1, k = -1;
    for (int i = 0; i < n; i++) {
        if (v[i].weak)
            k = v[i].kind > k ? v[i].kind : k;
        else
            dt = dt < 0 ? v[i].dt : promote(dt, v[i].dt);
    }
    if (dt < 0)
        return -1;
    return k >= 0 ? with_weak(dt, k) : dt;
}

/* Float functions of integers: NumPy's first loop all inputs cast to
 * safely (e, f, d); sharr has no float16, so f32 stands in for it. */
static int floatify(int dt)
{
    switch (kind_of(dt)) {
    case 'b': return SHARR_F32;
    case 'i': case 'u': return bits(dt) <= 16 ? SHARR_F32 : SHARR_F64;
    default: return dt;
    }
}

static int part_dt(int dt)
{
    return dt == SHARR_C64 ? SHARR_F32 : dt == SHARR_C128 ? SHARR_F64 : dt;
}

/* ---- shapes ---- */

static void shape_text(const struct tv *v, char *buf, size_t size)
{
    size_t n = 0;
    n += (size_t)snprintf(buf, size, "(");
    for (size_t i = 0; i < v->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%zu", i ? ", " : "",
                              v->shape[i]);
    if (n < size)
        snprintf(buf + n, size - n, v->ndim == 1 ? ",)" : ")");
}

static int broadcast(const struct ctx *c, int node, struct tv *r,
                     const struct tv *v, int n)
{
    r->ndim = 0;
    for (int i = 0; i < n; i++) {
        if (v[i].weak)
            continue;
        size_t nd = v[i].ndim > r->ndim ? v[i].ndim : r->ndim;
        size_t out[SHARR_MAX_NDIM];
        for (size_t k = 0; k < nd; k++) {
            size_t a = k < nd - r->ndim ? 1 : r->shape[k - (nd - r->ndim)];
            size_t b = k < nd - v[i].ndim ? 1
                                          : v[i].shape[k - (nd - v[i].ndim)];
            if (a != b && a != 1 && b != 1) {
                char sa[200], sb[200];
                shape_text(r, sa, sizeof sa);
                shape_text(&v[i], sb, sizeof sb);
                return node_fail(c, node, SHARR_ESHAPE, "shapes %s and %s do "
                                 "not broadcast together", sa, sb);
            }
            out[k] = a == 1 ? b : a;
        }
        r->ndim = nd;
        memcpy(r->shape, out, nd * sizeof *out);
    }
    return 0;
}

/* ---- emitting instructions ---- */

static struct ex_prog *P(struct ctx *c) { return &c->plan->prog[c->prog]; }

static int emit(struct ctx *c, int node, int op, int dt, int rdt, int a,
                int b, int cc, int aux)
{
    struct ex_prog *p = P(c);
    if (p->nins >= EX_MAX_INS)
        return node_fail(c, node, SHARR_EINVAL, "expression too large "
                         "(more than %s%s operations)", "200", "");
    struct ex_ins *in = &p->ins[p->nins];
    in->op = (uint8_t)op;
    in->dt = (uint8_t)dt;
    in->rdt = (uint8_t)rdt;
    in->reg = 255;
    in->a = (uint8_t)(a < 0 ? 255 : a);
    in->b = (uint8_t)(b < 0 ? 255 : b);
    in->c = (uint8_t)(cc < 0 ? 255 : cc);
    in->aux = (uint8_t)aux;
    in->with = 0;
    return (int)p->nins++;
}

static int emit_const(struct ctx *c, int node, int dt, const void *val)
{
    struct ex_prog *p = P(c);
    size_t sz = sharr__ex_size(dt);
    uint32_t k;

    for (k = 0; k < p->nins; k++) /* the same constant once */
        if (p->ins[k].op == EX_CONST && p->ins[k].dt == dt &&
            memcmp(p->cst[p->ins[k].aux], val, sz) == 0)
            return (int)k;
    for (k = 0; k < EX_MAX_CONST; k++) {
        bool used = false;
        for (uint32_t i = 0; i < p->nins; i++)
            used |= p->ins[i].op == EX_CONST && p->ins[i].aux == k;
        if (!used)
            break;
    }
    if (k == EX_MAX_CONST)
        return node_fail(c, node, SHARR_EINVAL, "expression has too many "
                         "constants (the limit is %s)%s", "40", "");
    memset(p->cst[k], 0, 16);
    memcpy(p->cst[k], val, sz);
    return emit(c, node, EX_CONST, dt, dt, -1, -1, -1, (int)k);
}

/* A Python number as one element of dt: implicitly (range-checked, as
 * NEP 50 raises OverflowError) or as a cast (unsafe: wraps). */
static int weak_value(const struct ctx *c, int node, const struct tv *v,
                      int dt, bool cast, unsigned char *out)
{
    char k = kind_of(dt);

    if (v->kind == K_INT) {
        if (!cast && (k == 'i' || k == 'u')) {
            int b = bits(dt);
            bool ok = k == 'i' ? (b == 64 || (v->ival >= -(INT64_C(1) << (b - 1))
                                  && v->ival < (INT64_C(1) << (b - 1))))
                               : (v->ival >= 0 &&
                                  (b == 64 || v->ival < (INT64_C(1) << b)));
            if (!ok) {
                char num[32];
                snprintf(num, sizeof num, "%lld", (long long)v->ival);
                return node_fail(c, node, SHARR_ERANGE, "the number %s is out "
                                 "of the range of %s (as in NumPy, a Python "
                                 "number takes the array's dtype: cast the "
                                 "array first)", num, dt_name(dt));
            }
        }
        sharr__ex_convert(SHARR_I64, &v->ival, 0, dt, out, 1);
    } else if (v->kind == K_FLOAT) {
        sharr__ex_convert(SHARR_F64, &v->re, 0, dt, out, 1);
    } else {
        double z[2] = {v->re, v->im};
        sharr__ex_convert(SHARR_C128, z, 0, dt, out, 1);
    }
    return 0;
}

static int load(struct ctx *c, int node, int slot, int dt)
{
    int *cached = &c->load_cache[slot][dt];
    if (*cached >= 0)
        return *cached;
    return *cached = emit(c, node, EX_LOAD, dt, dt, -1, -1, -1, slot);
}

/* The instruction giving v as dtype dt (a cast when `cast`). */
static int as_dt(struct ctx *c, int node, const struct tv *v, int dt,
                 bool cast)
{
    _Alignas(16) unsigned char val[16];
    int err;

    if (v->weak) {
        if ((err = weak_value(c, node, v, dt, cast, val)) < 0)
            return err;
        return emit_const(c, node, dt, val);
    }
    if (v->is_const) {
        sharr__ex_convert(v->dt, v->cval, 0, dt, val, 1);
        return emit_const(c, node, dt, val);
    }
    if (v->ins < 0)
        return load(c, node, v->slot, dt);
    if (v->dt == dt)
        return v->ins;
    return emit(c, node, EX_CONVERT, dt, dt, v->ins, -1, -1, v->dt);
}

/* ---- Python's arithmetic on two Python numbers ---- */

static int fold_fail(const struct ctx *c, int node, const char *why)
{
    return node_fail(c, node, SHARR_EINVAL, "%s%s", why,
                     " (between two numbers, computed as Python does)");
}

static int fold_int(const struct ctx *c, int node, int op, int64_t a,
                    int64_t b, struct tv *r)
{
    int64_t v = 0;
    bool ovf = false;

    r->kind = K_INT;
    switch (op) {
    case EX_ADD: ovf = __builtin_add_overflow(a, b, &v); break;
    case EX_SUB: ovf = __builtin_sub_overflow(a, b, &v); break;
    case EX_MUL: ovf = __builtin_mul_overflow(a, b, &v); break;
    case EX_AND: v = a & b; break;
    case EX_OR: v = a | b; break;
    case EX_XOR: v = a ^ b; break;
    case EX_FLOORDIV: case EX_MOD:
        if (b == 0)
            return fold_fail(c, node, "integer division by zero");
        if (a == INT64_MIN && b == -1) { ovf = op == EX_FLOORDIV; v = 0;
            if (!ovf) break; }
        if (ovf) break;
        v = op == EX_FLOORDIV ? a / b : a % b;
        if ((a % b != 0) && ((a < 0) != (b < 0)))
            v = op == EX_FLOORDIV ? v - 1 : v + b;
        break;
    case EX_DIV:
        if (b == 0)
            return fold_fail(c, node, "division by zero");
        r->kind = K_FLOAT;
        r->re = (double)a / (double)b;
        return 0;
    case EX_POW:
        if (b < 0) {
            if (a == 0)
                return fold_fail(c, node, "0 to a negative power");
            r->kind = K_FLOAT;
            r->re = pow((double)a, (double)b);
            return 0;
        }
        v = 1;
        for (int64_t i = 0; i < b && !ovf; i++)
            ovf = __builtin_mul_overflow(v, a, &v);
        if (a == 0 || a == 1) { v = b == 0 ? 1 : a; ovf = false; }
        if (a == -1) { v = (b & 1) ? -1 : 1; ovf = false; }
        break;
    default:
        return fold_fail(c, node, "this operator needs an array operand");
    }
    if (ovf)
        return fold_fail(c, node, "integer overflow beyond 64 bits");
    r->ival = v;
    return 0;
}

/* Python's _Py_c_quot. */
static void py_cquot(double ar, double ai, double br, double bi, struct tv *r)
{
    double abr = fabs(br), abi = fabs(bi), ratio, denom;

    if (abr >= abi) {
        ratio = bi / br;
        denom = br + bi * ratio;
        r->re = (ar + ai * ratio) / denom;
        r->im = (ai - ar * ratio) / denom;
    } else {
        ratio = br / bi;
        denom = br * ratio + bi;
        r->re = (ar * ratio + ai) / denom;
        r->im = (ai * ratio - ar) / denom;
    }
}

static int fold(const struct ctx *c, int node, int op, const struct tv *x,
                const struct tv *y, struct tv *r)
{
    int k = x->kind > y->kind ? x->kind : y->kind;
    double a = x->kind == K_INT ? (double)x->ival : x->re;
    double b = y->kind == K_INT ? (double)y->ival : y->re;

    memset(r, 0, sizeof *r);
    r->weak = 1;
    r->ins = -1;
    if (k == K_INT)
        return fold_int(c, node, op, x->ival, y->ival, r);
    r->kind = k;
    if (k == K_FLOAT) {
        switch (op) {
        case EX_ADD: r->re = a + b; return 0;
        case EX_SUB: r->re = a - b; return 0;
        case EX_MUL: r->re = a * b; return 0;
        case EX_DIV:
            if (b == 0) return fold_fail(c, node, "float division by zero");
            r->re = a / b; return 0;
        case EX_FLOORDIV: case EX_MOD: {
            if (b == 0) return fold_fail(c, node, "float modulo by zero");
            double m = fmod(a, b), d = (a - m) / b;
            if (m != 0 && ((b < 0) != (m < 0))) { m += b; d -= 1; }
            if (m == 0) m = copysign(0, b);
            if (d != 0) { double f = floor(d); d = d - f > 0.5 ? f + 1 : f; }
            else d = copysign(0, a / b);
            r->re = op == EX_MOD ? m : d;
            return 0;
        }
        case EX_POW:
            if (a == 0 && b < 0)
                return fold_fail(c, node, "0.0 to a negative power");
            if (a < 0 && b != floor(b))
                return fold_fail(c, node, "a negative number to a fractional "
                                 "power is complex: write it as complex");
            r->re = pow(a, b);
            return 0;
        default:
            return fold_fail(c, node, "this operator needs an array operand "
                             "or integers");
        }
    }
    double xr = x->kind == K_COMPLEX ? x->re : a, xi = x->kind == K_COMPLEX ? x->im : 0;
    double yr = y->kind == K_COMPLEX ? y->re : b, yi = y->kind == K_COMPLEX ? y->im : 0;
    if (op == EX_DIV || (op == EX_POW && yi == 0 && yr == floor(yr) &&
                         fabs(yr) <= 100)) {
        if (op == EX_DIV && yr == 0 && yi == 0)
            return fold_fail(c, node, "complex division by zero");
        if (op == EX_DIV)
            return py_cquot(xr, xi, yr, yi, r), 0;
        /* Python's c_powi: repeated squaring, then 1 / it if negative. */
        double pr = xr, pi = xi, qr = 1, qi = 0, t;
        long m = (long)fabs(yr);
        for (long mask = 1; mask > 0 && m >= mask; mask <<= 1) {
            if (m & mask) { t = qr * pr - qi * pi; qi = qr * pi + qi * pr; qr = t; }
            t = pr * pr - pi * pi; pi = pr * pi + pi * pr; pr = t;
        }
        if (yr < 0) {
            if (qr == 0 && qi == 0)
                return fold_fail(c, node, "0 to a negative power");
            return py_cquot(1, 0, qr, qi, r), 0;
        }
        r->re = qr;
        r->im = qi;
        return 0;
    }
    double complex za = x->kind == K_COMPLEX ? CMPLX(x->re, x->im) : a;
    double complex zb = y->kind == K_COMPLEX ? CMPLX(y->re, y->im) : b;
    double complex z;
    switch (op) {
    case EX_ADD: z = za + zb; break;
    case EX_SUB: z = za - zb; break;
    case EX_MUL: z = CMPLX(creal(za) * creal(zb) - cimag(za) * cimag(zb),
                           creal(za) * cimag(zb) + cimag(za) * creal(zb));
        break;
    case EX_DIV:
        if (zb == 0) return fold_fail(c, node, "complex division by zero");
        z = za / zb; break;
    case EX_POW: z = cpow(za, zb); break;
    default:
        return fold_fail(c, node, "this operator is not defined for complex "
                         "numbers");
    }
    r->re = creal(z);
    r->im = cimag(z);
    return 0;
}

/* ---- typing a node ---- */

static int type_node(struct ctx *c, int node, struct tv *r);

static void strong(struct tv *r, int dt, int ins)
{
    r->weak = 0;
    r->dt = dt;
    r->ins = ins;
    r->slot = -1;
    r->is_const = 0;
}

static int need(const struct ctx *c, int node, bool ok, const char *what,
                int dt)
{
    if (ok)
        return 0;
    return node_fail(c, node, SHARR_EDTYPE, "%s is not defined for %s", what,
                     dt_name(dt));
}

static const char *op_text(int op)
{
    static const char *t[] = {
        [EX_ADD] = "'+'", [EX_SUB] = "'-'", [EX_MUL] = "'*'",
        [EX_DIV] = "'/'", [EX_FLOORDIV] = "'//'", [EX_MOD] = "'%'",
        [EX_POW] = "'**'", [EX_LT] = "'<'", [EX_LE] = "'<='",
        [EX_GT] = "'>'", [EX_GE] = "'>='", [EX_EQ] = "'=='",
        [EX_NE] = "'!='", [EX_AND] = "'&'", [EX_OR] = "'|'",
        [EX_XOR] = "'^'", [EX_MINIMUM] = "minimum", [EX_MAXIMUM] = "maximum",
        [EX_ARCTAN2] = "arctan2", [EX_NEG] = "unary '-'", [EX_INVERT] = "'~'",
        [EX_ABS] = "abs", [EX_ANGLE] = "angle", [EX_SQRT] = "sqrt",
        [EX_EXP] = "exp", [EX_EXPM1] = "expm1", [EX_LOG] = "log",
        [EX_LOG1P] = "log1p", [EX_LOG10] = "log10", [EX_SIN] = "sin",
        [EX_COS] = "cos", [EX_TAN] = "tan", [EX_ARCSIN] = "arcsin",
        [EX_ARCCOS] = "arccos", [EX_ARCTAN] = "arctan", [EX_SINH] = "sinh",
        [EX_COSH] = "cosh", [EX_TANH] = "tanh", [EX_FLOOR] = "floor",
        [EX_CEIL] = "ceil", [EX_ROUND] = "round", [EX_CLIP] = "clip",
        [EX_ROWMIN] = "rowmin", [EX_ROWMAX] = "rowmax"};
    return op < (int)(sizeof t / sizeof t[0]) && t[op] ? t[op] : "this";
}

/* The dtype a binary operator computes in and gives. */
static int binary_types(const struct ctx *c, int node, int op, int d,
                        int *rdt)
{
    char k = kind_of(d);
    int err;

    *rdt = d;
    switch (op) {
    case EX_ADD: case EX_SUB: case EX_MUL: case EX_POW:
        if (k == 'b')
            return node_fail(c, node, SHARR_EDTYPE, "%s on booleans is not "
                             "supported: cast first, e.g. u8(a < b)%s",
                             op_text(op), "");
        return d;
    case EX_DIV:
        if (k == 'b' || k == 'i' || k == 'u')
            d = SHARR_F64;
        *rdt = d;
        return d;
    case EX_FLOORDIV: case EX_MOD:
        if ((err = need(c, node, k != 'c' && k != 'b', op_text(op), d)) < 0)
            return err;
        return d;
    case EX_LT: case EX_LE: case EX_GT: case EX_GE:
        *rdt = EX_BOOL;
        return d;
    case EX_EQ: case EX_NE:
        *rdt = EX_BOOL;
        return d;
    case EX_AND: case EX_OR: case EX_XOR:
        if ((err = need(c, node, k == 'b' || k == 'i' || k == 'u',
                        op_text(op), d)) < 0)
            return err;
        return d;
    case EX_MINIMUM: case EX_MAXIMUM:
        return d;
    default: /* arctan2 */
        if ((err = need(c, node, k != 'c', op_text(op), d)) < 0)
            return err;
        *rdt = d = floatify(d);
        return d;
    }
}

/* NumPy's array ** Python number (fast_scalar_power): for a float or
 * complex array, ** 0.5 is sqrt, ** 1 the array itself and, for a float
 * one, ** -1 is 1 / x; ** 2 is the square of any array.  They differ from
 * pow: (-inf) ** 0.5 is nan, (-0.0) ** 0.5 is -0.0, a complex sqrt is
 * csqrt's, (-0-0j) ** 1 keeps its signs, 1 / x and x * x are rounded once.  (Complex ** -1 is NumPy's
 * reciprocal, whose results at infinities sharr does not copy.)
 * @return 1 (emitted into *r), 0 (not such a power), or an error. */
static int numpy_fast_power(struct ctx *c, int node, const struct tv *v,
                            int d, struct tv *r)
{
    char k = v[0].weak ? 0 : kind_of(v[0].dt);
    double e = v[1].kind == K_INT ? (double)v[1].ival : v[1].re;
    /* ** 2 is square for every array: x * x where it computes in floats
     * (pow is not always rounded as the product); integers are exact. */
    bool square = k && e == 2 && kind_of(d) == 'f';
    int a, one;

    if (!v[1].weak || v[1].kind == K_COMPLEX ||
        !(square || ((k == 'f' || k == 'c') &&
                     (e == 0.5 || e == 1 || (e == -1 && k == 'f')))))
        return 0;
    if ((a = as_dt(c, node, &v[0], d, false)) < 0)
        return a;
    if (e == 1) {
        strong(r, d, a);
        return 1;
    }
    if (square) {
        a = emit(c, node, EX_MUL, d, d, a, a, -1, 0);
    } else if (e == 0.5) {
        a = emit(c, node, EX_SQRT, d, d, a, -1, -1, 0);
    } else {
        struct tv unit = {.weak = true, .kind = K_FLOAT, .re = 1.0};
        if ((one = as_dt(c, node, &unit, d, false)) < 0)
            return one;
        a = emit(c, node, EX_DIV, d, d, one, a, -1, 0);
    }
    if (a < 0)
        return a;
    strong(r, d, a);
    return 1;
}

static int type_binary(struct ctx *c, int node, const struct ex_node *n,
                       struct tv *r)
{
    struct tv v[2];
    int err, d, rdt, a, b;

    if ((err = type_node(c, n->arg[0], &v[0])) < 0 ||
        (err = type_node(c, n->arg[1], &v[1])) < 0)
        return err;
    if (v[0].weak && v[1].weak && n->op != EX_MINIMUM &&
        n->op != EX_MAXIMUM && n->op != EX_ARCTAN2) {
        if (n->op >= EX_LT && n->op <= EX_NE)
            return node_fail(c, node, SHARR_EINVAL, "a comparison of two "
                             "numbers is not an array%s%s", "", "");
        return fold(c, node, n->op, &v[0], &v[1], r);
    }
    if ((err = broadcast(c, node, r, v, 2)) < 0)
        return err;
    if (n->op == EX_ARCTAN2) {
        /* NumPy's first loop (e, f, d) every input casts to safely. */
        struct tv f[2] = {v[0], v[1]};
        for (int i = 0; i < 2; i++)
            if (!f[i].weak)
                f[i].dt = floatify(f[i].dt);
        d = common(f, 2);
    } else {
        d = common(v, 2);
    }
    if (d < 0)
        d = default_dt(v[0].kind > v[1].kind ? v[0].kind : v[1].kind);
    if ((d = binary_types(c, node, n->op, d, &rdt)) < 0)
        return d;
    if (n->op == EX_POW && (err = numpy_fast_power(c, node, v, d, r)) != 0)
        return err < 0 ? err : 0;
    if ((a = as_dt(c, node, &v[0], d, false)) < 0 ||
        (b = as_dt(c, node, &v[1], d, false)) < 0)
        return a < 0 ? a : b;
    if ((a = emit(c, node, n->op, d, rdt, a, b, -1, 0)) < 0)
        return a;
    strong(r, rdt, a);
    return 0;
}

/* The dtype a unary operation computes in and gives; d its operand's. */
static int unary_types(const struct ctx *c, int node, int op, int d,
                       int *rdt)
{
    char k = kind_of(d);
    int err;

    *rdt = d;
    switch (op) {
    case EX_NEG:
        if ((err = need(c, node, k != 'b', op_text(op), d)) < 0) return err;
        return d;
    case EX_INVERT:
        if ((err = need(c, node, k == 'b' || k == 'i' || k == 'u',
                        op_text(op), d)) < 0)
            return err;
        return d;
    case EX_ABS: case EX_REAL: case EX_IMAG:
        *rdt = part_dt(d);
        return d;
    case EX_CONJ:
        return d;
    case EX_ANGLE:
        d = floatify(d);
        *rdt = part_dt(d);
        return d;
    case EX_FLOOR: case EX_CEIL:
        if ((err = need(c, node, k != 'c', op_text(op), d)) < 0) return err;
        *rdt = d = floatify(d);
        return d;
    case EX_ROUND:
        return d;
    case EX_ISNAN: case EX_ISINF: case EX_ISFINITE:
        *rdt = EX_BOOL;
        return d;
    default: /* sqrt ... tanh */
        *rdt = d = floatify(d);
        return d;
    }
}

static int type_unary(struct ctx *c, int node, const struct ex_node *n,
                      struct tv *r)
{
    struct tv v;
    int err, d, rdt, a;

    if ((err = type_node(c, n->arg[0], &v)) < 0)
        return err;
    if (n->op == EX_POS)
        return *r = v, 0;
    if (v.weak && (n->op == EX_NEG || n->op == EX_INVERT)) {
        if (n->op == EX_INVERT && v.kind != K_INT)
            return node_fail(c, node, SHARR_EDTYPE, "'~' needs an integer%s%s",
                             "", "");
        *r = v;
        if (n->op == EX_INVERT)
            r->ival = ~v.ival;
        else if (v.kind == K_INT && v.ival == INT64_MIN)
            return fold_fail(c, node, "integer overflow beyond 64 bits");
        else if (v.kind == K_INT)
            r->ival = -v.ival;
        else {
            r->re = -v.re;
            r->im = -v.im;
        }
        return 0;
    }
    d = v.weak ? default_dt(v.kind) : v.dt;
    if ((d = unary_types(c, node, n->op, d, &rdt)) < 0)
        return d;
    if ((a = as_dt(c, node, &v, d, false)) < 0)
        return a;
    if ((a = emit(c, node, n->op, d, rdt, a, -1, -1, 0)) < 0)
        return a;
    r->ndim = v.weak ? 0 : v.ndim;
    memcpy(r->shape, v.shape, sizeof r->shape);
    strong(r, rdt, a);
    return 0;
}

static int type_ternary(struct ctx *c, int node, const struct ex_node *n,
                        struct tv *r)
{
    struct tv v[3];
    int err, d, ins[3];

    for (int i = 0; i < 3; i++)
        if ((err = type_node(c, n->arg[i], &v[i])) < 0)
            return err;
    if ((err = broadcast(c, node, r, v, 3)) < 0)
        return err;
    if (n->op == EX_WHERE) {
        /* np.where is no ufunc: it makes arrays of Python numbers first,
         * so they count with NumPy's default dtypes (strong). */
        for (int i = 1; i < 3; i++)
            if (v[i].weak) {
                _Alignas(16) unsigned char val[16];
                int dd = default_dt(v[i].kind);
                if ((err = weak_value(c, node, &v[i], dd, false, val)) < 0)
                    return err;
                memcpy(v[i].cval, val, 16);
                v[i].weak = 0;
                v[i].is_const = 1;
                v[i].dt = dd;
                v[i].ndim = 0;
            }
        d = common(v + 1, 2);
        if (v[0].weak)
            return node_fail(c, node, SHARR_EINVAL, "where needs an array "
                             "condition%s%s", "", "");
        if ((ins[0] = as_dt(c, node, &v[0], EX_BOOL, true)) < 0)
            return ins[0];
    } else {
        d = common(v, 3);
        if (d < 0)
            d = default_dt(K_FLOAT);
        if ((ins[0] = as_dt(c, node, &v[0], d, false)) < 0)
            return ins[0];
    }
    for (int i = 1; i < 3; i++)
        if ((ins[i] = as_dt(c, node, &v[i], d, false)) < 0)
            return ins[i];
    if ((ins[0] = emit(c, node, n->op, d, d, ins[0], ins[1], ins[2], 0)) < 0)
        return ins[0];
    strong(r, d, ins[0]);
    return 0;
}

static int reduce_dt(int op, int d)
{
    char k = kind_of(d);
    switch (op) {
    case EX_ROWSUM:
        return k == 'u' ? SHARR_U64 : (k == 'i' || k == 'b') ? SHARR_I64 : d;
    case EX_ROWMEAN:
        return (k == 'u' || k == 'i' || k == 'b') ? SHARR_F64 : d;
    case EX_ROWNORM:
        return (k == 'u' || k == 'i' || k == 'b') ? SHARR_F64 : part_dt(d);
    default:
        return d;
    }
}

/* A per-row reduction: its operand becomes a program of its own that
 * writes the reduced rows into a temporary array, an input of this one. */
static int type_reduce(struct ctx *c, int node, const struct ex_node *n,
                       struct tv *r)
{
    struct ctx sub = *c;
    struct ex_plan *pl = c->plan;
    struct tv v;
    int err, k, last;

    if (pl->nprog + 1 >= EX_MAX_PROGS)
        return node_fail(c, node, SHARR_EINVAL, "too many per-row reductions "
                         "(the limit is %s)%s", "6", "");
    k = pl->nprog++;
    memset(&pl->prog[k], 0, sizeof pl->prog[k]);
    memset(&pl->src[k], 0, sizeof pl->src[k]);
    sub.prog = k;
    memset(sub.load_cache, -1, sizeof sub.load_cache);
    if ((err = type_node(&sub, n->arg[0], &v)) < 0)
        return err;
    if (v.weak || v.ndim == 0)
        return node_fail(c, node, SHARR_ESHAPE, "%s needs an array of at least"
                         " one dimension%s", op_text(n->op) , "");
    if ((n->op == EX_ROWMIN || n->op == EX_ROWMAX) &&
        (err = need(c, node, kind_of(v.dt) != 'c', op_text(n->op), v.dt)) < 0)
        return err;
    /* A boolean row is summed as u8 0/1. */
    int row_dt = v.dt == EX_BOOL ? SHARR_U8 : v.dt;
    if ((last = as_dt(&sub, node, &v, row_dt, false)) < 0)
        return last;
    pl->last[k] = last;
    struct ex_prog *p = &pl->prog[k];
    p->reduce = (uint8_t)n->op;
    p->out_dt = (uint8_t)row_dt;
    p->ndim = (uint8_t)v.ndim;
    for (size_t i = 0; i < v.ndim; i++)
        p->shape[i] = v.shape[i];
    pl->temp_dt[k] = reduce_dt(n->op, v.dt);
    pl->temp_rows[k] = v.shape[0];
    /* The temporary is an input of the program being built. */
    struct ex_slots *s = &pl->src[c->prog];
    if (s->n >= EX_MAX_INPUTS)
        return node_fail(c, node, SHARR_EINVAL, "expression reads more than "
                         "%s arrays%s", "7", "");
    s->src[s->n] = -1 - k;
    strong(r, pl->temp_dt[k], -1);
    r->slot = (int)s->n++;
    r->ndim = 1;
    r->shape[0] = v.shape[0];
    return 0;
}

static int type_name(struct ctx *c, const struct ex_node *n, struct tv *r)
{
    const struct ex_binding *b = &c->bind[n->name];
    struct ex_slots *s = &c->plan->src[c->prog];
    size_t i;

    for (i = 0; i < s->n; i++)
        if (s->src[i] == n->name)
            break;
    if (i == s->n) {
        if (s->n >= EX_MAX_INPUTS)
            return sharr__fail(SHARR_EINVAL, "expression reads more than %d "
                               "arrays", EX_MAX_INPUTS);
        s->src[s->n++] = n->name;
    }
    strong(r, b->dtype, -1);
    r->slot = (int)i;
    r->ndim = b->ndim;
    memcpy(r->shape, b->shape, sizeof r->shape);
    return 0;
}

static int type_node(struct ctx *c, int node, struct tv *r)
{
    const struct ex_node *n = &c->e->nodes[node];
    int err, a;

    memset(r, 0, sizeof *r);
    r->ins = r->slot = -1;
    switch (n->kind) {
    case N_NUM:
        r->weak = 1;
        r->kind = n->numkind;
        r->ival = n->ival;
        r->re = n->re;
        r->im = n->im;
        return 0;
    case N_NAME:
        return type_name(c, n, r);
    default:
        break;
    }
    if (n->op == EX_CAST) {
        struct tv v;
        if ((err = type_node(c, n->arg[0], &v)) < 0)
            return err;
        if ((a = as_dt(c, node, &v, n->cast_dt, true)) < 0)
            return a;
        r->ndim = v.weak ? 0 : v.ndim;
        memcpy(r->shape, v.shape, sizeof r->shape);
        strong(r, n->cast_dt, a);
        return 0;
    }
    if (EX_IS_REDUCE(n->op))
        return type_reduce(c, node, n, r);
    if (EX_IS_BINARY(n->op))
        return type_binary(c, node, n, r);
    if (EX_IS_UNARY(n->op))
        return type_unary(c, node, n, r);
    return type_ternary(c, node, n, r);
}

/* ---- registers ---- */

static bool needs_reg(const struct ex_prog *p, const struct ex_ins *in)
{
    if (in->op == EX_CONST || in->with == 255)
        return false;
    if (in->op == EX_LOAD)
        return !(p->in[in->aux].full && p->in[in->aux].dtype == in->dt);
    return in->reg != 254; /* 254: writes the destination */
}

/* The operations expr_loops.c's fused loops have: + - * / of f32 and f64,
 * + - * of c64 and c128. */
static bool fusable(const struct ex_ins *in)
{
    bool real = in->dt == SHARR_F32 || in->dt == SHARR_F64,
         cplx = in->dt == SHARR_C64 || in->dt == SHARR_C128;
    return in->rdt == in->dt && in->op >= EX_ADD &&
           in->op <= (real ? EX_DIV : cplx ? EX_MUL : 0);
}

/* Fused pairs (expr_loops.c): instruction j also computes its operand i
 * when both are fusable in one dtype, j is i's only reader, at most one
 * of i's operands and j's other one is a constant, and only constants
 * and inputs read in place lie between them (they write no register, so
 * i's operands are still there when j runs).  uses: readers of each
 * instruction. */
static void fuse(struct ex_prog *p, const uint8_t *uses)
{
    for (uint32_t i = 0; i + 1 < p->nins; i++) {
        struct ex_ins *f = &p->ins[i];
        uint32_t j = i + 1;
        if (f->with || !fusable(f) || f->reg == 254 || uses[i] != 1)
            continue;
        while (j < p->nins && !needs_reg(p, &p->ins[j]) &&
               p->ins[j].reg != 254)
            j++;
        if (j == p->nins)
            continue;
        struct ex_ins *g = &p->ins[j];
        if (!fusable(g) || f->dt != g->dt || (g->a == i) == (g->b == i))
            continue;
        uint8_t z = g->a == i ? g->b : g->a;
        if ((p->ins[f->a].op == EX_CONST) + (p->ins[f->b].op == EX_CONST) +
                (p->ins[z].op == EX_CONST) > 1)
            continue;
        g->with = (uint8_t)(i + 1);
        f->with = 255;
    }
}

/* Linear scan: a register is taken by an instruction's result and freed
 * after the last instruction that reads it (never reused by that one's
 * result: conversions of wider elements in place would overwrite what
 * they still read). */
static int allocate(struct ex_prog *p)
{
    int last[EX_MAX_INS], owner[EX_MAX_REGS];
    uint8_t uses[EX_MAX_INS] = {0};

    for (uint32_t i = 0; i < p->nins; i++)
        last[i] = (int)i;
    for (uint32_t i = 0; i < p->nins; i++) {
        const uint8_t *ops[3] = {&p->ins[i].a, &p->ins[i].b, &p->ins[i].c};
        for (int k = 0; k < 3; k++)
            if (*ops[k] != 255 && p->ins[i].op != EX_LOAD &&
                p->ins[i].op != EX_CONST) {
                last[*ops[k]] = (int)i;
                uses[*ops[k]]++;
            }
    }
    fuse(p, uses);
    /* A fused-away instruction's operands are read by its reader. */
    for (uint32_t j = 0; j < p->nins; j++)
        if (p->ins[j].with && p->ins[j].with != 255) {
            const struct ex_ins *f = &p->ins[p->ins[j].with - 1];
            last[f->a] = last[f->a] > (int)j ? last[f->a] : (int)j;
            last[f->b] = last[f->b] > (int)j ? last[f->b] : (int)j;
        }
    for (int r = 0; r < EX_MAX_REGS; r++)
        owner[r] = -1;
    p->nregs = 0;
    for (uint32_t i = 0; i < p->nins; i++) {
        struct ex_ins *in = &p->ins[i];
        if (needs_reg(p, in)) {
            int r = 0;
            while (r < EX_MAX_REGS && owner[r] >= 0)
                r++;
            if (r == EX_MAX_REGS)
                return sharr__fail(SHARR_EINVAL, "expression too large: it "
                                   "needs more than %d intermediate tiles",
                                   EX_MAX_REGS);
            owner[r] = (int)i;
            in->reg = (uint8_t)r;
            if ((uint32_t)r + 1 > p->nregs)
                p->nregs = (uint32_t)r + 1;
        } else if (in->reg != 254) {
            in->reg = 255;
        }
        for (int r = 0; r < EX_MAX_REGS; r++)
            if (owner[r] >= 0 && last[owner[r]] <= (int)i &&
                owner[r] != (int)i)
                owner[r] = -1;
    }
    return 0;
}

/* The inputs' strides against the program's result shape. */
static void set_inputs(struct ex_prog *p, const struct ex_plan *pl, int k,
                       const struct ex_binding *bind)
{
    const struct ex_slots *s = &pl->src[k];

    p->nin = (uint32_t)s->n;
    for (size_t i = 0; i < s->n; i++) {
        struct ex_input *in = &p->in[i];
        size_t nd, sh[SHARR_MAX_NDIM];
        int64_t st = 1;
        if (s->src[i] >= 0) {
            nd = bind[s->src[i]].ndim;
            memcpy(sh, bind[s->src[i]].shape, sizeof sh);
            in->dtype = (uint8_t)bind[s->src[i]].dtype;
        } else {
            nd = 1;
            sh[0] = pl->temp_rows[-1 - s->src[i]];
            in->dtype = (uint8_t)pl->temp_dt[-1 - s->src[i]];
        }
        in->slot = (uint8_t)i;
        in->full = nd == p->ndim &&
                   memcmp(sh, p->shape, nd * sizeof(size_t)) == 0;
        memset(in->stride, 0, sizeof in->stride);
        for (size_t d = p->ndim; d-- > 0;) {
            size_t id = d + nd - p->ndim; /* the input's axis, if any */
            if (d + nd < p->ndim)
                break;
            if (sh[id] != 1)
                in->stride[d] = st;
            st *= (int64_t)sh[id];
        }
    }
}

/* Finish program k: the last instruction writes the destination, in
 * dtype out_dt, directly when it computes that dtype. */
static int finish(struct ctx *c, int k, int last, int out_dt, int node)
{
    struct ex_prog *p = &c->plan->prog[k];
    struct ex_ins *in = &p->ins[last];
    int save = c->prog;

    c->prog = k;
    if (last != (int)p->nins - 1 || in->op == EX_LOAD || in->op == EX_CONST ||
        in->rdt != out_dt) {
        if ((last = emit(c, node, EX_CONVERT, out_dt, out_dt, last, -1, -1,
                         in->rdt)) < 0)
            return last;
    }
    c->prog = save;
    p->ins[last].reg = 254;
    p->out_dt = (uint8_t)out_dt;
    p->out_slot = (uint8_t)c->plan->src[k].n; /* after the inputs */
    set_inputs(p, c->plan, k, c->bind);
    return allocate(p);
}

int sharr__expr_plan(const struct sharr_expr *e, const struct ex_binding *bind,
                     int out_dt, struct ex_plan *plan)
{
    struct ctx c;
    struct tv v;
    int err, last, main;

    memset(plan, 0, sizeof *plan);
    memset(&c, 0, sizeof c);
    c.e = e;
    c.bind = bind;
    c.plan = plan;
    memset(c.load_cache, -1, sizeof c.load_cache);
    /* Program 0 is the main one; reductions take the next ones. */
    plan->nprog = 1;
    c.prog = main = 0;
    if ((err = type_node(&c, e->root, &v)) < 0)
        return err;
    plan->result_dt = v.weak ? default_dt(v.kind) : v.dt;
    plan->ndim = v.weak ? 0 : v.ndim;
    memcpy(plan->shape, v.shape, sizeof plan->shape);
    if (out_dt <= 0)
        out_dt = plan->result_dt == EX_BOOL ? SHARR_U8 : plan->result_dt;
    plan->out_dt = out_dt;
    if ((last = as_dt(&c, e->root, &v, plan->result_dt, false)) < 0)
        return last;
    struct ex_prog *p = &plan->prog[main];
    p->ndim = (uint8_t)plan->ndim;
    memcpy(p->shape, plan->shape, sizeof p->shape);
    for (int k = 1; k < plan->nprog; k++) {
        struct ex_prog *q = &plan->prog[k];
        if ((err = finish(&c, k, plan->last[k], q->out_dt, e->root)) < 0)
            return err;
    }
    return finish(&c, main, last, out_dt, e->root);
}
