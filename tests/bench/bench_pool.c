/*
 * bench_pool.c - the pool against OpenMP and OpenBLAS, measured in one run.
 *
 *  1. in-place scale by 0.6+0.8i of a 16 x 1,000,000 complex128 array:
 *     serial, OpenMP (2 threads), sharr pool (2 workers), and an in-place
 *     STREAM-like bound (x *= s over the same bytes, OpenMP, 2 threads);
 *  2. dispatch: an empty job (submit + wait) vs an empty omp parallel
 *     region, and the per-block cost of dynamic,1 vs schedule(dynamic,1);
 *  3. gemm 2048 x 2048, c128 and f64: pool (1 BLAS thread per worker) vs
 *     OpenBLAS with 2 threads;
 *  4. pool create + destroy with 2 workers.
 * Sections 2 and 4 also print the floor this machine puts under them, in
 * the same run: two processes handing one CPU back and forth (an empty job
 * of 2 workers and the caller on 2 CPUs needs one such round trip), and
 * fork + exit + wait of this very process (a pool makes three: the
 * supervisor and two workers).
 * Every figure is the median of several runs, with min-max.  Benchmarks
 * report; they never fail on slowness.  BENCH_QUICK=1 shrinks everything.
 */
#define _GNU_SOURCE
#include "sharr.h"
#include "benchutil.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int quick;

/* libgomp's idle threads spin for up to GOMP_SPINCOUNT (300000) rounds after
 * a region, several milliseconds in which they compete with the pool's
 * workers; every OpenMP measurement is followed by this pause. */
static void let_openmp_sleep(void)
{
    usleep(30000);
}

static void die(const char *what, int err)
{
    fprintf(stderr, "bench: %s: %s (%s)\n", what, sharr_errmsg(),
            sharr_strerror(err));
    exit(1);
}

/* The floor of an empty job: two processes pinned to one CPU hand it to
 * each other with sched_yield, as the caller and a worker must when three
 * processes share two CPUs.  @return seconds per round trip. */
static double switch_floor(void)
{
    int n = quick ? 20000 : 200000;
    volatile int *v = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cpu_set_t one, old;
    double t0, t;
    pid_t pid;

    if (v == MAP_FAILED)
        return -1;
    sched_getaffinity(0, sizeof old, &old);
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    sched_setaffinity(0, sizeof one, &one);
    if ((pid = fork()) == 0) {
        for (int i = 0; i < n; i++) {
            while (*v != 2 * i + 1)
                sched_yield();
            *v = 2 * i + 2;
        }
        _exit(0);
    }
    t0 = now();
    for (int i = 0; pid > 0 && i < n; i++) {
        *v = 2 * i + 1;
        while (*v != 2 * i + 2)
            sched_yield();
    }
    t = (now() - t0) / n;
    if (pid > 0)
        waitpid(pid, NULL, 0);
    sched_setaffinity(0, sizeof old, &old);
    munmap((void *)v, 4096);
    return pid > 0 ? t : -1;
}

/* ---- 1. in-place complex scale ---- */

static void scale_serial(double *x, size_t n, double zr, double zi)
{
    for (size_t i = 0; i < n; i++) {
        double a = x[2 * i], b = x[2 * i + 1];
        x[2 * i] = a * zr - b * zi;
        x[2 * i + 1] = a * zi + b * zr;
    }
}

static void scale_omp(double *x, size_t n, double zr, double zi)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        double a = x[2 * i], b = x[2 * i + 1];
        x[2 * i] = a * zr - b * zi;
        x[2 * i + 1] = a * zi + b * zr;
    }
}

static void stream_bound(double *x, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        x[i] *= 0.999999;
}

static void bench_scale(sharr_pool *pool)
{
    size_t rows = 16, cols = quick ? 100000 : 1000000, n = rows * cols;
    size_t shape[2] = {rows, cols};
    char name[64];
    sharr_array *a;
    int err, reps = quick ? 3 : 9;
    double t[4][16];
    double z[2] = {0.6, 0.8}, bytes = 2.0 * (double)n * 16;

    snprintf(name, sizeof name, "tb.%d.scale", (int)getpid());
    if ((err = sharr_array_create(name, SHARR_C128, 2, shape, NULL, &a)) < 0)
        die("create", err);
    sharr_fill_spec f = {.kind = SHARR_FILL_RANDOM, .seed = 1};
    sharr_fill(pool, a, &f, NULL);
    double *x = sharr_array_data(a);
    /* Warm up: every worker maps every page once. */
    sharr_apply(pool, a, SHARR_OP_SCALE, z, NULL, NULL);
    scale_omp(x, n, z[0], z[1]);
    let_openmp_sleep();
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        scale_serial(x, n, z[0], z[1]);
        double t1 = now();
        scale_omp(x, n, z[0], z[1]);
        double t2 = now();
        let_openmp_sleep();
        double t3 = now();
        if ((err = sharr_apply(pool, a, SHARR_OP_SCALE, z, NULL, NULL)) < 0)
            die("apply", err);
        double t4 = now();
        stream_bound(x, 2 * n);
        double t5 = now();
        let_openmp_sleep();
        t[0][r] = t1 - t0;
        t[1][r] = t2 - t1;
        t[2][r] = t4 - t3;
        t[3][r] = t5 - t4;
    }
    const char *label[4] = {"serial", "OpenMP, 2 threads", "sharr pool, 2 workers",
                            "STREAM-like in-place bound"};
    struct fig fg[4];
    printf("1. in-place scale 0.6+0.8i, %zu x %zu complex128 (%.0f MB read "
           "+ written), median of %d [min-max]\n", rows, cols,
           (double)n * 16 / 1e6, reps);
    for (int k = 0; k < 4; k++) {
        fg[k] = summarize(t[k], reps);
        printf("   %-28s %7.2f ms [%6.2f-%6.2f]  %5.2f GB/s\n", label[k],
               fg[k].med * 1e3, fg[k].min * 1e3, fg[k].max * 1e3,
               bytes / fg[k].med / 1e9);
    }
    printf("   ratio pool / OpenMP: %.2fx (target >= 0.95x); pool / serial: "
           "%.2fx; pool / bound: %.2fx\n\n", fg[1].med / fg[2].med,
           fg[0].med / fg[2].med, fg[3].med / fg[2].med);
    sharr_array_close(a);
    sharr_unlink(name);
}

/* ---- 2. dispatch ---- */

static int empty_kernel(const sharr_block *b)
{
    (void)b;
    return 0;
}

/* For context: with one worker the caller and its worker have a core each,
 * as OpenMP's two threads do; with two workers on two cores the waiting
 * caller is a third process and shares a core with a worker. */
static void bench_dispatch_one_worker(double omp_region)
{
    sharr_pool_opts o = {.workers = 1};
    sharr_job_spec empty = {.kernel = empty_kernel, .rows = 1};
    int reps = quick ? 3 : 7, jobs = quick ? 2000 : 20000;
    double t[16];
    sharr_pool *p;

    if (sharr_pool_create(&o, &p) < 0)
        die("pool create", -1);
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        for (int j = 0; j < jobs; j++)
            sharr_pool_run(p, &empty);
        t[r] = (now() - t0) / jobs;
    }
    sharr_pool_destroy(p);
    struct fig f = summarize(t, reps);
    printf("   (context) empty job, 1 worker %6.2f us [%.2f-%.2f]: %.2fx the "
           "omp region\n\n", f.med * 1e6, f.min * 1e6, f.max * 1e6,
           f.med / omp_region);
}

static void bench_dispatch(sharr_pool *pool)
{
    int reps = quick ? 3 : 7, jobs = quick ? 2000 : 20000;
    size_t blocks = quick ? 20000 : 200000;
    double t[4][16];
    sharr_job_spec empty = {.kernel = empty_kernel, .rows = 2,
                            .schedule = {SHARR_SCHED_STATIC, 0}};
    sharr_job_spec dyn = {.kernel = empty_kernel, .rows = blocks,
                          .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    volatile int sink = 0;

    for (int r = 0; r < reps; r++) {
        double t0 = now();
        for (int j = 0; j < jobs; j++)
            sharr_pool_run(pool, &empty);
        double t1 = now();
        sharr_pool_run(pool, &dyn);
        double t2 = now();
        double t3 = now();
        for (int j = 0; j < jobs; j++) {
#pragma omp parallel
            {
                sink += 0;
            }
        }
        double t4 = now();
#pragma omp parallel for schedule(dynamic, 1)
        for (size_t i = 0; i < blocks; i++)
            sink += 0;
        double t5 = now();
        let_openmp_sleep();
        t[0][r] = (t1 - t0) / jobs;
        t[1][r] = (t2 - t1) / (double)blocks;
        t[2][r] = (t4 - t3) / jobs;
        t[3][r] = (t5 - t4) / (double)blocks;
    }
    struct fig e = summarize(t[0], reps), b = summarize(t[1], reps);
    struct fig oe = summarize(t[2], reps), ob = summarize(t[3], reps);
    printf("2. dispatch, 2 workers / 2 threads, median of %d [min-max]\n",
           reps);
    printf("   empty job (submit + wait)     %7.2f us [%.2f-%.2f]\n",
           e.med * 1e6, e.min * 1e6, e.max * 1e6);
    printf("   empty omp parallel region     %7.2f us [%.2f-%.2f]\n",
           oe.med * 1e6, oe.min * 1e6, oe.max * 1e6);
    printf("   per block, dynamic,1          %7.3f us [%.3f-%.3f]\n",
           b.med * 1e6, b.min * 1e6, b.max * 1e6);
    printf("   per iteration, omp dynamic,1  %7.3f us [%.3f-%.3f]\n",
           ob.med * 1e6, ob.min * 1e6, ob.max * 1e6);
    printf("   ratio empty job / omp region: %.2fx (target <= 3x); "
           "dynamic,1 block / omp iteration: %.2fx\n", e.med / oe.med,
           b.med / ob.med);
    double fl = switch_floor();
    printf("   floor: two processes trading one CPU (sched_yield round "
           "trip) %.2f us;\n   empty job %.2f us (target <= 3 us) = "
           "%.2fx the floor\n", fl * 1e6, e.med * 1e6, e.med / fl);
    bench_dispatch_one_worker(oe.med);
}

/* ---- 3. gemm ---- */

static void bench_gemm_one(sharr_pool *pool, sharr_dtype dt)
{
    size_t n = quick ? 512 : 2048, shape[2] = {n, n};
    int reps = quick ? 2 : 5;
    sharr_array *m[3];
    char name[3][64];
    double t[2][16];
    unsigned char one[16] = {0}, zero[16] = {0};
    double flops = (dt == SHARR_C128 ? 8.0 : 2.0) * (double)n * n * n;
    int err;

    sharr_value_parse(dt, "1", one);
    for (int i = 0; i < 3; i++) {
        sharr_fill_spec f = {.kind = SHARR_FILL_RANDOM, .seed = (uint64_t)i};
        snprintf(name[i], sizeof name[i], "tb.%d.g%d", (int)getpid(), i);
        if ((err = sharr_array_create(name[i], dt, 2, shape, NULL, &m[i])) < 0)
            die("create", err);
        sharr_fill(pool, m[i], &f, NULL);
    }
    sharr_gemm(pool, one, m[0], m[1], zero, m[2], NULL); /* warm up */
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        if ((err = sharr_gemm(pool, one, m[0], m[1], zero, m[2], NULL)) < 0)
            die("gemm", err);
        double t1 = now();
        openblas_set_num_threads(2);
        if (dt == SHARR_C128)
            cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n,
                        (int)n, (int)n, one, sharr_array_data(m[0]), (int)n,
                        sharr_array_data(m[1]), (int)n, zero,
                        sharr_array_data(m[2]), (int)n);
        else
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n,
                        (int)n, (int)n, 1.0, sharr_array_data(m[0]), (int)n,
                        sharr_array_data(m[1]), (int)n, 0.0,
                        sharr_array_data(m[2]), (int)n);
        double t2 = now();
        usleep(20000);
        t[0][r] = t1 - t0;
        t[1][r] = t2 - t1;
    }
    struct fig p = summarize(t[0], reps), o = summarize(t[1], reps);
    printf("   %-5s pool 2x1 thread %7.1f ms [%.1f-%.1f] %5.1f GFLOP/s | "
           "OpenBLAS 2 threads %7.1f ms [%.1f-%.1f] %5.1f GFLOP/s | "
           "ratio %.2fx\n", sharr_dtype_name(dt), p.med * 1e3, p.min * 1e3,
           p.max * 1e3, flops / p.med / 1e9, o.med * 1e3, o.min * 1e3,
           o.max * 1e3, flops / o.med / 1e9, o.med / p.med);
    for (int i = 0; i < 3; i++) {
        sharr_array_close(m[i]);
        sharr_unlink(name[i]);
    }
}

static void bench_gemm(sharr_pool *pool)
{
    printf("3. gemm %d x %d, median of %d [min-max] (target pool >= 0.9x "
           "OpenBLAS)\n", quick ? 512 : 2048, quick ? 512 : 2048,
           quick ? 2 : 5);
    bench_gemm_one(pool, SHARR_C128);
    bench_gemm_one(pool, SHARR_F64);
    printf("\n");
}

/* ---- 4. create + destroy ---- */

static void bench_create(void)
{
    int reps = quick ? 5 : 25;
    double t[64];
    sharr_pool_opts o = {.workers = 2};

    for (int r = 0; r < reps; r++) {
        sharr_pool *p;
        double t0 = now();
        int err = sharr_pool_create(&o, &p);
        if (err < 0)
            die("pool create", err);
        sharr_pool_destroy(p);
        t[r] = now() - t0;
    }
    struct fig f = summarize(t, reps);
    printf("4. pool create + destroy, 2 workers: %.2f ms [%.2f-%.2f], median "
           "of %d (target <= 1 ms)\n", f.med * 1e3, f.min * 1e3,
           f.max * 1e3, reps);
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        if (pid > 0)
            waitpid(pid, NULL, 0);
        t[r] = now() - t0;
    }
    struct fig k = summarize(t, reps);
    printf("   floor: fork + exit + wait of this process %.2f ms [%.2f-%.2f]"
           "; the pool makes 3:\n   %.2f ms, so create + destroy = %.2fx "
           "three of them\n", k.med * 1e3, k.min * 1e3, k.max * 1e3,
           3 * k.med * 1e3, f.med / (3 * k.med));
}

int main(void)
{
    sharr_pool_opts o = {.workers = 2};
    sharr_pool *pool;
    int err;

    quick = getenv("BENCH_QUICK") != NULL;
    omp_set_num_threads(2);
    openblas_set_num_threads(2);
    if ((err = sharr_pool_create(&o, &pool)) < 0)
        die("pool create", err);
    printf("== sharr pool benchmarks (%ld CPUs online)\n\n",
           sysconf(_SC_NPROCESSORS_ONLN));
    bench_scale(pool);
    bench_dispatch(pool);
    bench_gemm(pool);
    sharr_pool_destroy(pool);
    bench_create();
    return 0;
}
