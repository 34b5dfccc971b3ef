/*
 * bench_expr.c - sharr's expression engine against numexpr, NumPy and a
 * hand-written OpenMP loop of the same expression, measured in one run,
 * on 16 x 1,000,000 elements with 2 workers (2 threads):
 *
 *  1. c128        z = a*b + a
 *  2. f64         y = 2*x*y + sqrt(x)        (in place)
 *  3. c128 -> f64 m = abs(z)
 *  4. u16 -> f32  f = (frames - dark) * 1.7  (dark an f32 (C,) row vector)
 *
 * sharr evaluates a compiled expression (sharr_expr_eval) into an existing
 * output on a pool of 2 workers; OpenMP runs the loop with 2 threads over
 * the same arrays; numexpr (2 threads, out=) and NumPy run in a Python
 * part (bench_expr.py, $PYTHON or /usr/bin/python3) on the same segments.
 * Figures are medians of several runs with min-max, in ms, and the
 * ratios of the targets: numexpr / sharr (>= 1.3) and sharr / OpenMP
 * (<= 1.15).  Benchmarks report; they never fail on slowness.
 * BENCH_QUICK=1 shrinks everything; BENCH_EXPR_CASES=24 runs cases 2 and 4
 * only.
 */
#define _GNU_SOURCE
#include "sharr.h"
#include "benchutil.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int quick, reps;
static size_t R = 16, C = 1000000;
static char pfx[64];

static void die(const char *what, int err)
{
    fprintf(stderr, "bench: %s: %s (%s)\n", what, sharr_errmsg(),
            sharr_strerror(err));
    exit(1);
}

static sharr_array *make(const char *label, sharr_dtype dt, size_t ndim,
                         const size_t *shape, const char *fill)
{
    char name[128];
    sharr_array *a;
    sharr_fill_spec s;
    int err;

    snprintf(name, sizeof name, "%s%s", pfx, label);
    if ((err = sharr_array_create(name, dt, ndim, shape, NULL, &a)) < 0)
        die(name, err);
    if ((err = sharr_fill_parse(dt, fill, &s)) < 0 ||
        (err = sharr_fill(NULL, a, &s, NULL)) < 0)
        die("fill", err);
    return a;
}

/* ---- the OpenMP loops ---- */

static void omp_case(int k, sharr_array **v)
{
    size_t n = R * C;
    switch (k) {
    case 0: {
        const double *a = sharr_array_data(v[0]), *b = sharr_array_data(v[1]);
        double *z = sharr_array_data(v[2]);
#pragma omp parallel for schedule(static) num_threads(2)
        for (size_t i = 0; i < n; i++) {
            double ar = a[2 * i], ai = a[2 * i + 1];
            double br = b[2 * i], bi = b[2 * i + 1];
            z[2 * i] = ar * br - ai * bi + ar;
            z[2 * i + 1] = ar * bi + ai * br + ai;
        }
        break;
    }
    case 1: {
        const double *x = sharr_array_data(v[0]);
        double *y = sharr_array_data(v[1]);
#pragma omp parallel for schedule(static) num_threads(2)
        for (size_t i = 0; i < n; i++)
            y[i] = 2 * x[i] * y[i] + sqrt(x[i]);
        break;
    }
    case 2: {
        const double *z = sharr_array_data(v[0]);
        double *m = sharr_array_data(v[1]);
#pragma omp parallel for schedule(static) num_threads(2)
        for (size_t i = 0; i < n; i++)
            m[i] = sqrt(z[2 * i] * z[2 * i] + z[2 * i + 1] * z[2 * i + 1]);
        break;
    }
    default: {
        const uint16_t *fr = sharr_array_data(v[0]);
        const float *dark = sharr_array_data(v[1]);
        float *f = sharr_array_data(v[2]);
#pragma omp parallel for schedule(static) num_threads(2)
        for (size_t r = 0; r < R; r++)
            for (size_t c = 0; c < C; c++)
                f[r * C + c] = ((float)fr[r * C + c] - dark[c]) * 1.7f;
        break;
    }
    }
}

struct bcase {
    const char *title, *expr, *np_expr;
    int narr;
};

static const struct bcase cases[4] = {
    {"c128 z = a*b + a", "'@a' * '@b' + '@a'", "a*b + a", 3},
    {"f64 y = 2*x*y + sqrt(x)", "2 * '@x' * '@y' + sqrt('@x')",
     "2*x*y + sqrt(x)", 2},
    {"c128->f64 m = abs(z)", "abs('@z')", "abs(z)", 2},
    {"u16->f32 f = (frames - dark) * 1.7", "('@frames' - '@dark') * 1.7",
     "(frames - dark) * 1.7", 3},
};

/* '@' in an expression stands for the names' prefix. */
/* The arrays of case k: inputs, then the output (last). */
static void arrays_of(int k, sharr_array **v)
{
    size_t s2[2] = {R, C}, s1[1] = {C};
    switch (k) {
    case 0:
        v[0] = make("a", SHARR_C128, 2, s2, "random:1");
        v[1] = make("b", SHARR_C128, 2, s2, "random:2");
        v[2] = make("z", SHARR_C128, 2, s2, "zeros");
        break;
    case 1:
        v[0] = make("x", SHARR_F64, 2, s2, "random:3");
        v[1] = make("y", SHARR_F64, 2, s2, "random:4");
        break;
    case 2:
        v[0] = make("z", SHARR_C128, 2, s2, "random:5");
        v[1] = make("m", SHARR_F64, 2, s2, "zeros");
        break;
    default:
        v[0] = make("frames", SHARR_U16, 2, s2, "random:6");
        v[1] = make("dark", SHARR_F32, 1, s1, "random:7");
        v[2] = make("f", SHARR_F32, 2, s2, "zeros");
        break;
    }
}

/* sharr and OpenMP runs alternate, so that a drift of the machine (another
 * process, the page cache) weighs on both figures alike. */
static void time_pair(sharr_pool *pool, int k, sharr_array **v,
                      struct fig *s, struct fig *o)
{
    char text[256];
    double ts[32], to[32];
    sharr_expr *e;
    sharr_array *bound[4];
    int err;

    size_t n = 0;
    for (const char *p = cases[k].expr; *p && n + 64 < sizeof text; p++)
        n += *p == '@' ? (size_t)snprintf(text + n, sizeof text - n, "%s", pfx)
                       : (text[n] = *p, 1);
    text[n] = '\0';
    if ((err = sharr_expr_compile(text, &e)) < 0)
        die("compile", err);
    /* Bind by name: the inputs are v[0..], in the order the names come. */
    for (size_t i = 0; i < sharr_expr_nnames(e); i++)
        for (int j = 0; j < cases[k].narr; j++)
            if (strcmp(sharr_expr_name(e, i), sharr_array_name(v[j])) == 0)
                bound[i] = v[j];
    sharr_array *out = v[cases[k].narr - 1];
    for (int r = 0; r < reps + 1; r++) {
        double t0 = now();
        if ((err = sharr_expr_eval(pool, e, bound, out, NULL, NULL)) < 0)
            die("eval", err);
        double t1 = now();
        usleep(30000); /* the pool's workers stop spinning before OpenMP */
        double t2 = now();
        omp_case(k, v);
        double t3 = now();
        usleep(30000); /* and libgomp's threads sleep before sharr runs */
        if (r > 0) { /* the first runs map the arrays in the workers */
            ts[r - 1] = t1 - t0;
            to[r - 1] = t3 - t2;
        }
    }
    sharr_expr_free(e);
    *s = summarize(ts, reps);
    *o = summarize(to, reps);
}

/* numexpr and NumPy in bench_expr.py: "ne MED MIN MAX np MED MIN MAX". */
static int time_python(int k, struct fig *ne, struct fig *np)
{
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    const char *dir = getenv("SHARR_BENCH_SRC") ? getenv("SHARR_BENCH_SRC")
                                                : "tests/bench";
    char cmd[1024], line[512];
    FILE *f;
    int ok = 0;

    snprintf(cmd, sizeof cmd, "%s %s/bench_expr.py %d %s %d", py, dir, k, pfx,
             reps);
    if (!(f = popen(cmd, "r")))
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "ne %lf %lf %lf np %lf %lf %lf", &ne->med, &ne->min,
                   &ne->max, &np->med, &np->min, &np->max) == 6)
            ok = 1;
    return pclose(f) == 0 && ok;
}

static void put(const char *who, struct fig f)
{
    printf("  %-8s %8.1f ms  [%.1f-%.1f]\n", who, f.med * 1e3, f.min * 1e3,
           f.max * 1e3);
}

int main(void)
{
    sharr_pool_opts po = {.workers = 2};
    sharr_pool *pool;
    int err;

    quick = getenv("BENCH_QUICK") != NULL;
    reps = quick ? 3 : 9;
    if (quick)
        C = 100000;
    snprintf(pfx, sizeof pfx, "tb.%d.", (int)getpid());
    if ((err = sharr_pool_create(&po, &pool)) < 0)
        die("pool", err);
    printf("bench_expr: %zu x %zu elements, 2 workers / 2 threads, median "
           "of %d runs [min-max]%s\n", R, C, reps, quick ? " (BENCH_QUICK)"
                                                         : "");
    const char *only = getenv("BENCH_EXPR_CASES"); /* e.g. "24" */
    for (int k = 0; k < 4; k++) {
        sharr_array *v[4] = {0};
        if (only && !strchr(only, '1' + k))
            continue;
        struct fig s, o, ne, np;
        arrays_of(k, v);
        printf("%d. %s\n", k + 1, cases[k].title);
        time_pair(pool, k, v, &s, &o);
        put("sharr", s);
        put("OpenMP", o);
        int have_py = time_python(k, &ne, &np);
        if (have_py) {
            put("numexpr", ne);
            put("NumPy", np);
        }
        printf("  numexpr/sharr %.2fx (target >= 1.3)  sharr/OpenMP %.2fx "
               "(target <= 1.15)%s\n", have_py ? ne.med / s.med : NAN,
               s.med / o.med, have_py ? "" : "  (no numexpr: make deps)");
        if (have_py)
            printf("  NumPy/sharr %.2fx\n", np.med / s.med);
        for (int i = 0; i < cases[k].narr; i++) {
            sharr_unlink(sharr_array_name(v[i]));
            sharr_array_close(v[i]);
        }
    }
    sharr_pool_destroy(pool);
    return 0;
}
