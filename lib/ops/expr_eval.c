/*
 * expr_eval.c - the expression engine's public face: compile, type,
 * evaluate on the pool (or in the caller), "OUT = EXPR" by array names
 * with OUT built under a staging name and published only when complete,
 * and copy (astype) of rows into a new array.
 *
 * Jobs: the output (or a reduction's temporary) is the one array split by
 * rows; every input is passed whole, since broadcasting may read any of
 * its rows.  The program travels in the job's argument (workers were
 * forked before it existed).  Element results never depend on the split,
 * and a per-row reduction sums each row whole with sharr_array_stats()'s
 * code, so -j never changes a byte.
 */
#define _GNU_SOURCE
#include "expr.h"
#include "reduce.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Static_assert(sizeof(struct ex_prog) <= SHARR_JOB_ARG_MAX,
               "a program must fit in a job's argument");

/* ---- compile ---- */

void sharr_expr_free(sharr_expr *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->nnames; i++)
        free(e->names[i]);
    free(e->names);
    free(e->nodes);
    free(e->text);
    free(e);
}

int sharr_expr_compile(const char *text, sharr_expr **out)
{
    sharr_expr *e;
    int err;

    *out = NULL;
    if (!text)
        return sharr__fail(SHARR_EINVAL, "expression is NULL");
    if (!(e = calloc(1, sizeof *e)) || !(e->text = strdup(text))) {
        free(e);
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    }
    if ((err = sharr__expr_parse(text, e)) < 0)
        goto fail;
    for (size_t i = 0; i < e->nnames; i++)
        if ((err = sharr_name_check(e->names[i])) < 0) {
            sharr__errmsg_prefix("in '%s': ", text);
            goto fail;
        }
    *out = e;
    return 0;
fail:
    sharr_expr_free(e);
    return err;
}

size_t sharr_expr_nnames(const sharr_expr *e) { return e->nnames; }

const char *sharr_expr_name(const sharr_expr *e, size_t i)
{
    return i < e->nnames ? e->names[i] : NULL;
}

static int bind(const sharr_expr *e, sharr_array *const *arrays,
                struct ex_binding *b)
{
    for (size_t i = 0; i < e->nnames; i++) {
        if (!arrays || !arrays[i])
            return sharr__fail(SHARR_EINVAL, "no array bound to the name '%s'",
                               e->names[i]);
        b[i].dtype = sharr_array_dtype(arrays[i]);
        b[i].ndim = sharr_array_ndim(arrays[i]);
        memset(b[i].shape, 0, sizeof b[i].shape);
        memcpy(b[i].shape, sharr_array_shape(arrays[i]),
               b[i].ndim * sizeof(size_t));
    }
    return 0;
}

static int plan_of(const sharr_expr *e, sharr_array *const *arrays,
                   int out_dt, struct ex_plan **plan)
{
    struct ex_binding *b = calloc(e->nnames + 1, sizeof *b);
    int err;

    *plan = NULL;
    if (!b || !(*plan = malloc(sizeof **plan))) {
        free(b);
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    }
    if ((err = bind(e, arrays, b)) == 0)
        err = sharr__expr_plan(e, b, out_dt, *plan);
    free(b);
    if (err < 0) {
        free(*plan);
        *plan = NULL;
    }
    return err;
}

int sharr_expr_type(const sharr_expr *e, sharr_array *const *arrays,
                    sharr_dtype *dtype, size_t *ndim, size_t *shape)
{
    struct ex_plan *p;
    int err = plan_of(e, arrays, 0, &p);

    if (err < 0)
        return err;
    *dtype = (sharr_dtype)p->out_dt;
    *ndim = p->ndim;
    memcpy(shape, p->shape, p->ndim * sizeof *shape);
    free(p);
    return 0;
}

/* ---- kernels ---- */

static size_t per_row(const struct ex_prog *p)
{
    size_t n = 1;
    for (size_t d = 1; d < p->ndim; d++)
        n *= p->shape[d];
    return n;
}

/* The tile registers, and the spare tile of streamed results. */
static unsigned char *tiles(const struct ex_prog *p)
{
    return malloc((p->nregs + 1) * (size_t)EX_TILE * 16);
}

/* An operation a core does faster than memory brings its operands: copies,
 * conversions, + - * (and / of reals), comparisons, bitwise, selections,
 * real sqrt and abs.  Division of integers and complex numbers, powers and
 * transcendental functions are not. */
static bool light(const struct ex_ins *in)
{
    bool cplx = in->dt == SHARR_C64 || in->dt == SHARR_C128;

    switch (in->op) {
    case EX_LOAD: case EX_CONST: case EX_CONVERT: case EX_WHERE:
    case EX_CLIP: case EX_ADD: case EX_SUB: case EX_MUL: case EX_NEG:
    case EX_POS: case EX_INVERT: case EX_REAL: case EX_IMAG: case EX_CONJ:
    case EX_FLOOR: case EX_CEIL: case EX_ROUND: case EX_ISNAN:
    case EX_ISINF: case EX_ISFINITE: case EX_MINIMUM: case EX_MAXIMUM:
        return true;
    case EX_DIV: case EX_SQRT: case EX_ABS:
        return !cplx && (in->dt == SHARR_F32 || in->dt == SHARR_F64 ||
                         in->op == EX_ABS);
    default:
        return in->op >= EX_LT && in->op <= EX_XOR;
    }
}

/* Whether p's results are streamed to memory (non-temporal stores): when
 * the output is 16 MiB or more, twice the last-level cache of a common
 * machine, so it goes to memory anyway, and the program is bound by memory
 * traffic (only light operations), which writing the output without
 * reading it first cuts by a third for z = a*b + a.  Not when the output
 * is also an input, whose lines the program has just read.  Through a
 * tile, streaming costs a copy in cache: about 4% of abs(z), which is
 * bound by its arithmetic.  SHARR_EXPR_STREAM=0 or 1 says never or always
 * (but in place), for tests and measurements. */
static uint8_t streams(const struct ex_prog *p, bool in_place)
{
    const char *env = getenv("SHARR_EXPR_STREAM");
    size_t bytes = sharr__ex_size(p->out_dt) * (p->ndim ? p->shape[0] : 1) *
                   per_row(p);
    bool all_light = true;

    if (in_place || p->reduce) /* a reduced row stays in cache */
        return 0;
    if (env && (strcmp(env, "0") == 0 || strcmp(env, "1") == 0))
        return env[0] == '1';
    for (uint32_t i = 0; i < p->nins; i++)
        all_light &= light(&p->ins[i]);
    return all_light && bytes >= ((size_t)16 << 20);
}

int sharr__expr_streams(const sharr_expr *e, sharr_array *const *arrays)
{
    struct ex_plan *pl;
    int err = plan_of(e, arrays, 0, &pl);

    if (err < 0)
        return err;
    err = streams(&pl->prog[0], false);
    free(pl);
    return err;
}

/* Elements of rows [r0, r1) of p's result into dst (r0's first element). */
static int eval_rows(const struct ex_prog *p, void *const *data, size_t r0,
                     size_t r1, void *dst, struct ex_counts *cnt)
{
    size_t per = per_row(p);
    unsigned char *regs = tiles(p);

    if (!regs)
        return sharr_fail(SHARR_ENOMEM, "out of memory for tiles");
    sharr__ex_run(p, data, r0 * per, (r1 - r0) * per, dst, regs, cnt);
    free(regs);
    return 0;
}

static int eval_kernel(const sharr_block *b)
{
    const struct ex_prog *p = b->arg;

    return eval_rows(p, b->data, b->r0, b->r1, b->data[p->out_slot],
                     b->result);
}

/* The exact 128-bit sum sharr_stats gives in decimal, modulo 2^64. */
static uint64_t exact_sum(const char *s)
{
    unsigned __int128 v = 0;
    bool neg = *s == '-';

    for (s += neg; isdigit((unsigned char)*s); s++)
        v = v * 10 + (unsigned)(*s - '0');
    return (uint64_t)(neg ? -v : v);
}

/* One row's reduction `op` into the element at dst (dtype tdt). */
static void reduce_row(int op, int dt, int tdt, const void *row, size_t n,
                       void *dst)
{
    sharr_stats st;
    double v[2];

    sharr__row_stats((sharr_dtype)dt, row, n, &st);
    switch (op) {
    case EX_ROWSUM:
        if (st.sum_exact[0]) {
            uint64_t s = exact_sum(st.sum_exact);
            memcpy(dst, &s, 8);
            return;
        }
        v[0] = st.sum[0];
        v[1] = st.sum[1];
        break;
    case EX_ROWMEAN:
        v[0] = st.mean[0];
        v[1] = st.mean[1];
        break;
    case EX_ROWNORM:
        v[0] = st.norm2;
        v[1] = 0;
        break;
    default: /* rowmin, rowmax: exact elements of the dtype */
        if (st.has_nan) {
            v[0] = NAN;
            v[1] = 0;
            break;
        }
        memcpy(dst, op == EX_ROWMIN ? st.min_value : st.max_value,
               sharr__ex_size(tdt));
        return;
    }
    sharr__ex_convert(SHARR_C128, v, 0, tdt, dst, 1);
}

/* The reduction of rows [r0, r1) of p's value into dst, r1 - r0 elements
 * of dtype tdt. */
static int reduce_rows(const struct ex_prog *p, void *const *data, size_t r0,
                       size_t r1, int tdt, void *dst, struct ex_counts *cnt)
{
    size_t per = per_row(p), isz = sharr__ex_size(p->out_dt);
    size_t tsz = sharr__ex_size(tdt);
    unsigned char *regs = tiles(p), *row = malloc(per * isz + 16);
    int err = 0;

    if (!regs || !row) {
        err = sharr_fail(SHARR_ENOMEM, "out of memory for a row of %zu "
                         "elements", per);
        goto done;
    }
    for (size_t r = r0; r < r1; r++) {
        sharr__ex_run(p, data, r * per, per, row, regs, cnt);
        reduce_row(p->reduce, p->out_dt, tdt, row, per,
                   (unsigned char *)dst + (r - r0) * tsz);
    }
done:
    free(regs);
    free(row);
    return err;
}

static int reduce_kernel(const sharr_block *b)
{
    const struct ex_prog *p = b->arg;

    return reduce_rows(p, b->data, b->r0, b->r1,
                       sharr_array_dtype(b->array[p->out_slot]),
                       b->data[p->out_slot], b->result);
}

int sharr__expr_rows(const struct ex_prog *p, size_t r0, size_t r1,
                     int temp_dt, void *const *data, void *dst,
                     uint64_t *zero_div)
{
    struct ex_counts cnt = {0};
    struct ex_prog *q;
    int err;

    if (r1 <= r0)
        return 0;
    if (!(q = malloc(sizeof *q)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    /* The same program over a result of r1 - r0 rows: inputs that vary
     * along the first axis point at their row r0 and are read from their
     * row 0 on; the others have stride 0 there, so any row reads alike. */
    *q = *p;
    if (q->ndim)
        q->shape[0] = r1 - r0;
    bool in_place = false;
    for (uint32_t i = 0; i < q->nin; i++)
        in_place |= data[q->in[i].slot] == dst;
    q->stream = streams(q, in_place);
    err = q->reduce ? reduce_rows(q, data, 0, r1 - r0, temp_dt, dst, &cnt)
                    : eval_rows(q, data, 0, r1 - r0, dst, &cnt);
    free(q);
    *zero_div += cnt.zero_div;
    return err;
}

static int run_prog(sharr_pool *pool, const struct ex_prog *p,
                    sharr_kernel kernel, sharr_array **arrays, size_t narrays,
                    const sharr_run_opts *ro, uint64_t *zero_div)
{
    sharr_job_spec spec = {0};
    sharr_job *job;
    int err;

    spec.kernel = kernel;
    spec.narrays = narrays;
    spec.arrays = arrays;
    spec.whole = ((1u << narrays) - 1) & ~(1u << p->out_slot);
    spec.arg = p;
    spec.arg_size = sizeof *p;
    spec.result_size = sizeof(struct ex_counts);
    if (ro) {
        spec.schedule = ro->schedule;
        spec.progress = ro->progress;
        spec.progress_ctx = ro->progress_ctx;
    }
    if ((err = sharr_pool_submit(pool, &spec, &job)) < 0)
        return err;
    if ((err = sharr_job_wait(job, -1)) == 0)
        for (size_t i = 0; i < sharr_job_blocks(job); i++) {
            const struct ex_counts *c = sharr_job_result(job, i);
            if (c)
                *zero_div += c->zero_div;
        }
    sharr_job_free(job);
    return err;
}

/* ---- evaluation ---- */

static bool same_segment(const sharr_array *x, const sharr_array *y)
{
    unsigned char a[16], b[16];
    sharr_array_id(x, a);
    sharr_array_id(y, b);
    return memcmp(a, b, 16) == 0;
}

static void shape_str(size_t nd, const size_t *sh, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "(");
    for (size_t i = 0; i < nd && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%zu", i ? ", " : "",
                              sh[i]);
    if (n < size)
        snprintf(buf + n, size - n, nd == 1 ? ",)" : ")");
}

/* Out must take the result as it is: same shape, writable, and read as an
 * input only where it is not broadcast (element i read for element i). */
static int check_out(const struct ex_plan *pl, const sharr_expr *e,
                     sharr_array *const *arrays, const sharr_array *out)
{
    char a[200], b[200];

    if (!sharr_array_writable(out))
        return sharr__fail(SHARR_EACCES, "array '%s' is open read-only",
                           sharr_array_name(out));
    if (sharr_array_ndim(out) != pl->ndim ||
        memcmp(sharr_array_shape(out), pl->shape, pl->ndim * sizeof(size_t))) {
        shape_str(sharr_array_ndim(out), sharr_array_shape(out), a, sizeof a);
        shape_str(pl->ndim, pl->shape, b, sizeof b);
        return sharr__fail(SHARR_ESHAPE, "'%s' has shape %s but the result "
                           "has shape %s", sharr_array_name(out), a, b);
    }
    for (size_t i = 0; i < e->nnames; i++) {
        if (!same_segment(arrays[i], out))
            continue;
        if (sharr_array_ndim(arrays[i]) != pl->ndim ||
            memcmp(sharr_array_shape(arrays[i]), pl->shape,
                   pl->ndim * sizeof(size_t)))
            return sharr__fail(SHARR_EINVAL, "'%s' is both the output and a "
                               "broadcast input: elements would be read after "
                               "they were overwritten", e->names[i]);
    }
    return 0;
}

/* Temporary arrays of the reductions: temporary, removed at the end. */
static int make_temps(const struct ex_plan *pl, sharr_array **temps)
{
    static unsigned serial;
    sharr_create_opts o = {SHARR_CREATE_TEMP, 0, 0};
    char name[96];
    unsigned char rnd[4];
    int err;

    for (int k = 1; k < pl->nprog; k++) {
        size_t rows = pl->temp_rows[k];
        /* rowmin/rowmax of booleans are booleans: stored as u8 0/1. */
        int dt = pl->temp_dt[k] == EX_BOOL ? SHARR_U8 : pl->temp_dt[k];
        sharr__random_bytes(rnd, sizeof rnd);
        snprintf(name, sizeof name, "sharr-eval.%d.%u.%02x%02x%02x%02x.%d",
                 (int)getpid(), serial++, rnd[0], rnd[1], rnd[2], rnd[3], k);
        if ((err = sharr_array_create(name, (sharr_dtype)dt, 1, &rows, &o,
                                      &temps[k])) < 0)
            return err;
    }
    return 0;
}

static void drop_temps(const struct ex_plan *pl, sharr_array **temps)
{
    for (int k = 1; k < pl->nprog; k++) {
        if (!temps[k])
            continue;
        sharr_unlink(sharr_array_name(temps[k]));
        sharr_array_close(temps[k]);
    }
}

/* The arrays of program k: its inputs, then what it writes. */
static void arrays_of(const struct ex_plan *pl, int k,
                      sharr_array *const *arrays, sharr_array **temps,
                      sharr_array *out, sharr_array **list, size_t *n)
{
    const struct ex_slots *s = &pl->src[k];
    for (size_t i = 0; i < s->n; i++)
        list[i] = s->src[i] >= 0 ? arrays[s->src[i]] : temps[-1 - s->src[i]];
    list[s->n] = out;
    *n = s->n + 1;
}

int sharr_expr_eval(sharr_pool *pool, const sharr_expr *e,
                    sharr_array *const *arrays, sharr_array *out,
                    const sharr_run_opts *ro, uint64_t *zero_div)
{
    sharr_array *temps[EX_MAX_PROGS] = {0}, *list[SHARR_JOB_MAX_ARRAYS];
    struct ex_plan *pl;
    uint64_t zd = 0;
    size_t n;
    int err;

    if (zero_div)
        *zero_div = 0;
    if ((err = plan_of(e, arrays, sharr_array_dtype(out), &pl)) < 0)
        return err;
    if ((err = check_out(pl, e, arrays, out)) < 0 ||
        (err = make_temps(pl, temps)) < 0)
        goto done;
    /* Reductions first, the deepest (made last) first. */
    for (int k = pl->nprog - 1; k >= 1 && err == 0; k--) {
        arrays_of(pl, k, arrays, temps, temps[k], list, &n);
        err = run_prog(pool, &pl->prog[k], reduce_kernel, list, n, NULL, &zd);
    }
    if (err == 0) {
        arrays_of(pl, 0, arrays, temps, out, list, &n);
        bool in_place = false;
        for (size_t i = 0; i + 1 < n; i++)
            in_place |= same_segment(list[i], out);
        pl->prog[0].stream = streams(&pl->prog[0], in_place);
        err = run_prog(pool, &pl->prog[0], eval_kernel, list, n, ro, &zd);
    }
    if (zero_div)
        *zero_div = zd;
done:
    drop_temps(pl, temps);
    free(pl);
    return err;
}

/* ---- OUT = EXPR by names ---- */

int sharr__eval_split(const char *s, char *out, size_t size,
                      const char **expr)
{
    const char *p = s, *start;
    size_t n;

    while (isspace((unsigned char)*p))
        p++;
    if (*p == '\'' || *p == '"') {
        char q = *p++;
        start = p;
        while (*p && *p != q)
            p++;
        n = (size_t)(p - start);
        if (*p)
            p++;
    } else {
        start = p;
        while (isalnum((unsigned char)*p) || *p == '_' || *p == '.' ||
               *p == '-')
            p++;
        n = (size_t)(p - start);
    }
    while (isspace((unsigned char)*p))
        p++;
    if (n == 0 || *p != '=' || p[1] == '=')
        return sharr__fail(SHARR_EINVAL, "expected 'OUT = EXPR', not '%s'", s);
    if (n >= size)
        return sharr__fail(SHARR_EINVAL, "output name of %zu characters: the "
                           "limit is %d", n, SHARR_NAME_MAX);
    memcpy(out, start, n);
    out[n] = '\0';
    for (p++; isspace((unsigned char)*p); p++)
        ;
    *expr = p;
    return sharr_name_check(out);
}

struct session {
    sharr_expr *e;
    sharr_array **in;
    sharr_array *out;        /* the existing OUT, or the staged new one */
    int out_input;           /* index of OUT among the names, or -1 */
    bool staged;
};

static void end_session(struct session *s, int err)
{
    if (s->in)
        for (size_t i = 0; i < s->e->nnames; i++)
            if ((int)i != s->out_input)
                sharr_array_close(s->in[i]);
    if (s->out && s->staged && err < 0)
        sharr_unlink(sharr_array_name(s->out));
    sharr_array_close(s->out);
    free(s->in);
    sharr_expr_free(s->e);
}

static int open_inputs(struct session *s, const char *out_name,
                       unsigned flags)
{
    int err;

    if (!(s->in = calloc(s->e->nnames + 1, sizeof *s->in)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    s->out_input = -1;
    for (size_t i = 0; i < s->e->nnames; i++) {
        bool is_out = strcmp(s->e->names[i], out_name) == 0;
        if ((err = sharr_array_open(s->e->names[i],
                                    flags | (is_out ? 0u : SHARR_OPEN_RDONLY),
                                    &s->in[i])) < 0) {
            if (err == SHARR_ENOENT)
                return sharr__fail(err, "unknown name '%s': no such array",
                                   s->e->names[i]);
            return err;
        }
        if (is_out)
            s->out_input = (int)i;
    }
    return 0;
}

int sharr__eval_mismatch(const char *name, sharr_dtype dt, size_t ndim,
                         const size_t *shape, const struct ex_plan *pl)
{
    char a[200], b[200];

    if ((int)dt == pl->out_dt && ndim == pl->ndim &&
        memcmp(shape, pl->shape, ndim * sizeof *shape) == 0)
        return 0;
    shape_str(ndim, shape, a, sizeof a);
    shape_str(pl->ndim, pl->shape, b, sizeof b);
    return sharr__fail((int)dt != pl->out_dt ? SHARR_EDTYPE : SHARR_ESHAPE,
                       "'%s' exists as %s %s but the result is %s %s: remove "
                       "it, or set sharr_eval_opts.force to replace it", name,
                       sharr_dtype_name(dt), a,
                       sharr_dtype_name((sharr_dtype)pl->out_dt), b);
}

/* OUT as it stands: kept when it takes the result, else refused or (force)
 * replaced.  *existing tells whether to write into it. */
static int check_existing(struct session *s, const char *name,
                          const struct ex_plan *pl, bool force,
                          bool *existing)
{
    sharr_array *o = s->out_input >= 0 ? s->in[s->out_input] : NULL;
    int err = 0;

    *existing = false;
    if (!o && (err = sharr_array_open(name, 0, &o)) == SHARR_ENOENT)
        return 0;
    if (err < 0)
        return err;
    s->out = o;
    if ((err = sharr__eval_mismatch(name, sharr_array_dtype(o),
                                    sharr_array_ndim(o), sharr_array_shape(o),
                                    pl)) == 0)
        return *existing = true, 0;
    if (force) {
        if (s->out_input < 0)
            sharr_array_close(o);
        s->out = NULL;
        return 0;
    }
    if (s->out_input >= 0)
        s->out = NULL;
    return err;
}

/* A new OUT `out` under a staging name, temporary until published; a
 * failure names out, not the staging name. */
static int stage(struct session *s, const struct ex_plan *pl,
                 const sharr_eval_opts *o, const char *out)
{
    static unsigned serial;
    sharr_create_opts c = o ? o->create : (sharr_create_opts){0, 0, 0};
    unsigned char rnd[4];
    char name[96];

    if (!(c.flags & SHARR_CREATE_TEMP))
        c.owner = 0;
    c.flags |= SHARR_CREATE_TEMP;
    sharr__random_bytes(rnd, sizeof rnd);
    snprintf(name, sizeof name, "sharr-eval.%d.%u.%02x%02x%02x%02x.out",
             (int)getpid(), serial++, rnd[0], rnd[1], rnd[2], rnd[3]);
    s->staged = true;
    int err = sharr_array_create(name, (sharr_dtype)pl->out_dt, pl->ndim,
                                 pl->shape, &c, &s->out);
    if (err < 0)
        sharr__errmsg_replace(name, out);
    return err;
}

int sharr_eval(sharr_pool *pool, const char *statement,
               const sharr_eval_opts *o, sharr_eval_result *res)
{
    struct session s = {0};
    struct ex_plan *pl = NULL;
    char name[SHARR_NAME_MAX + 1];
    const char *text = NULL;
    bool existing;
    int err;

    s.out_input = -1;
    if (res)
        memset(res, 0, sizeof *res);
    if (!statement)
        return sharr__fail(SHARR_EINVAL, "statement is NULL");
    if ((err = sharr__eval_split(statement, name, sizeof name, &text)) < 0 ||
        (err = sharr_expr_compile(text, &s.e)) < 0 ||
        (err = open_inputs(&s, name, o ? o->open_flags : 0)) < 0 ||
        (err = plan_of(s.e, s.in, o && o->dtype ? (int)o->dtype : 0, &pl)) < 0 ||
        (err = check_existing(&s, name, pl, o && o->force, &existing)) < 0)
        goto done;
    if (!existing && (err = stage(&s, pl, o, name)) < 0)
        goto done;
    if ((err = sharr_expr_eval(pool, s.e, s.in, s.out, o ? &o->run : NULL,
                               res ? &res->zero_divisions : NULL)) < 0)
        goto done;
    if (!existing) {
        bool keep = !(o && (o->create.flags & SHARR_CREATE_TEMP));
        if ((err = sharr__array_publish(s.out, name, o && o->force)) < 0 ||
            (keep && (err = sharr_array_keep(s.out)) < 0))
            goto done;
        s.staged = false;
    }
    if (res) {
        snprintf(res->out, sizeof res->out, "%s", name);
        res->created = !existing;
        res->dtype = (sharr_dtype)pl->out_dt;
        res->ndim = pl->ndim;
        memcpy(res->shape, pl->shape, sizeof res->shape);
    }
done:
    if (err < 0 && s.staged && s.out && strcmp(sharr_array_name(s.out), name) == 0) {
        /* Published but not kept: the name is ours to take back. */
        sharr_unlink(name);
        s.staged = false;
    }
    end_session(&s, err);
    free(pl);
    return err;
}

/* ---- copy ---- */

struct copy_arg {
    uint64_t row0, per;
    int sdt, ddt;
};

static int copy_kernel(const sharr_block *b)
{
    const struct copy_arg *c = b->arg;
    size_t ss = sharr__ex_size(c->sdt);
    const unsigned char *src = (const unsigned char *)b->data[0] +
                               (c->row0 + b->r0) * c->per * ss;

    sharr__ex_convert(c->sdt, src, 1, c->ddt, b->data[1],
                      (b->r1 - b->r0) * c->per);
    return 0;
}

int sharr_copy(sharr_pool *pool, const sharr_array *src, size_t row_start,
               size_t row_end, const char *dst, sharr_dtype dtype,
               const sharr_create_opts *co, const sharr_run_opts *ro)
{
    sharr_create_opts c = co ? *co : (sharr_create_opts){0, 0, 0};
    size_t shape[SHARR_MAX_NDIM], nd = sharr_array_ndim(src), r0, r1;
    struct copy_arg arg;
    sharr_array *arrays[2] = {(sharr_array *)src, NULL};
    char stage_name[96];
    unsigned char rnd[4];
    bool keep = !(c.flags & SHARR_CREATE_TEMP);
    int err;

    if ((err = sharr_name_check(dst)) < 0)
        return err;
    if (dtype == SHARR_DTYPE_INVALID)
        dtype = sharr_array_dtype(src);
    if (!sharr_dtype_size(dtype))
        return sharr__fail(SHARR_EINVAL, "invalid dtype %d", (int)dtype);
    if ((err = sharr__pick_rows(sharr_array_rows(src), row_start, row_end,
                                &r0, &r1)) < 0)
        return err;
    if ((nd == 0 && r1 - r0 != 1))
        return sharr__fail(SHARR_EINVAL, "a scalar has one row");
    memcpy(shape, sharr_array_shape(src), nd * sizeof *shape);
    if (nd > 0)
        shape[0] = r1 - r0;
    if (keep)
        c.owner = 0;
    c.flags |= SHARR_CREATE_TEMP;
    sharr__random_bytes(rnd, sizeof rnd);
    snprintf(stage_name, sizeof stage_name, "sharr-copy.%d.%02x%02x%02x%02x",
             (int)getpid(), rnd[0], rnd[1], rnd[2], rnd[3]);
    if ((err = sharr_array_create(stage_name, dtype, nd, shape, &c,
                                  &arrays[1])) < 0)
        return err;
    memset(&arg, 0, sizeof arg);
    arg.row0 = r0;
    arg.per = sharr_array_row_bytes(src) /
              sharr_dtype_size(sharr_array_dtype(src));
    arg.sdt = sharr_array_dtype(src);
    arg.ddt = dtype;
    sharr_job_spec spec = {0};
    spec.kernel = copy_kernel;
    spec.narrays = 2;
    spec.arrays = arrays;
    spec.whole = 1u;
    spec.arg = &arg;
    spec.arg_size = sizeof arg;
    if (ro) {
        spec.schedule = ro->schedule;
        spec.progress = ro->progress;
        spec.progress_ctx = ro->progress_ctx;
    }
    if ((err = sharr_pool_run(pool, &spec)) < 0 ||
        (err = sharr__array_publish(arrays[1], dst, false)) < 0)
        goto fail;
    if (keep && (err = sharr_array_keep(arrays[1])) < 0) {
        sharr_unlink(dst);
        goto done;
    }
    goto done;
fail:
    sharr_unlink(sharr_array_name(arrays[1]));
done:
    sharr_array_close(arrays[1]);
    return err;
}
