/*
 * bench_h5.c - HDF5 load and save against their baselines, in one run.
 *
 * Files are in the page cache: the contiguous load on an ordinary file
 * system ($SHARR_BENCH_DIR, default /var/tmp; for context also from
 * tmpfs), the compressed ones on tmpfs, so that the kernel's writeback to
 * disk does not take CPU from the -j 2 runs.
 *  1. contiguous load of 16 x 1,000,000 complex128 (256 MB of random
 *     values) with 1 and 2 workers vs pread of the same file;
 *  2-4. compressed datasets, each with shuffle + gzip 1, gzip 4 and lz4:
 *     the c128 data in 1-row chunks (16 MB) and in 1 MiB chunks, and a
 *     detector stack of u16 frames (256 x 512 x 1024, 256 MB, counts around
 *     a slowly varying mean) in chunks of one frame.  sharr saves and
 *     loads with 1 and 2 workers against h5py (/usr/bin/python3,
 *     tests/bench/h5py_bench.py) writing the same array with the same
 *     filters and chunks, and reading sharr's file with read_direct; the
 *     lz4 save against h5py's shuffle + gzip 1 save, its load against
 *     h5py's through the LZ4 plugin.  MB/s are of the uncompressed data.
 * The lz4 rows come twice: plain, and after the shuffle filter (as the
 * gzip 1 rows), which is how byte-oriented LZ4 suits integer and float
 * data.  Medians with min-max; BENCH_QUICK=1 shrinks the data;
 * BENCH_H5_CASES=34 runs only cases 3 and 4.
 */
#define _GNU_SOURCE
#include "sharr.h"
#include "benchutil.h"

#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int quick;
static char dir[256], shmdir[64];

static void check(int err, const char *what)
{
    if (err < 0) {
        fprintf(stderr, "bench: %s: %s (%s)\n", what, sharr_errmsg(),
                sharr_strerror(err));
        exit(1);
    }
}

static void print_fig(const char *label, struct fig f, double mb)
{
    printf("   %-36s %8.1f ms [%.1f-%.1f]  %6.0f MB/s\n", label, f.med * 1e3,
           f.min * 1e3, f.max * 1e3, mb / f.med);
}

struct half { const char *path; unsigned char *buf; size_t from, to; };

/* pread bytes [from, to) of the file into buf at the same offsets. */
static void *pread_half(void *p)
{
    struct half *h = p;
    int fd = open(h->path, O_RDONLY);
    for (size_t done = h->from; fd >= 0 && done < h->to;) {
        ssize_t n = pread(fd, h->buf + done, h->to - done, (off_t)done);
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* Read the whole file with pread into buf (and so into the page cache). */
static double pread_file(const char *path, unsigned char *buf, size_t size)
{
    struct half h = {path, buf, 0, size};
    double t0 = now();
    pread_half(&h);
    return now() - t0;
}

/* The machine's own parallel bound: two threads pread a half each. */
static double pread_two(const char *path, unsigned char *buf, size_t size)
{
    struct half h[2] = {{path, buf, 0, size / 2}, {path, buf, size / 2, size}};
    pthread_t t;
    double t0 = now();
    pthread_create(&t, NULL, pread_half, &h[1]);
    pread_half(&h[0]);
    pthread_join(t, NULL);
    return now() - t0;
}

static size_t file_size(const char *path)
{
    int fd = open(path, O_RDONLY);
    off_t n = fd >= 0 ? lseek(fd, 0, SEEK_END) : 0;
    if (fd >= 0)
        close(fd);
    return (size_t)n;
}

static double load_into(sharr_pool *p, const char *file, const char *into)
{
    sharr_load_opts o = {.into = into};
    sharr_array *a;
    double t0 = now();
    check(sharr_h5_load(p, file, "/d", NULL, &o, &a), "load");
    double t = now() - t0;
    sharr_array_close(a);
    return t;
}

/* One file location: pread with 1 and 2 threads, and sharr -j 1 / -j 2. */
static void contiguous_from(sharr_pool *pools[2], sharr_array *src,
                            const char *into, const char *where,
                            const char *label)
{
    char file[320];
    int reps = quick ? 3 : 7;
    double t[4][16];
    double mb = (double)sharr_array_nbytes(src) / 1e6;

    snprintf(file, sizeof file, "%s/contiguous.h5", where);
    check(sharr_h5_save(pools[1], src, file, "/d", NULL), "save");
    size_t size = file_size(file);
    unsigned char *buf = malloc(size);
    if (!buf)
        check(SHARR_ENOMEM, "malloc");
    memset(buf, 1, size);
    pread_file(file, buf, size);
    load_into(pools[0], file, into);
    for (int r = 0; r < reps; r++) {
        t[0][r] = pread_file(file, buf, size);
        t[3][r] = pread_two(file, buf, size);
        t[1][r] = load_into(pools[0], file, into);
        t[2][r] = load_into(pools[1], file, into);
    }
    struct fig f0 = summarize(t[0], reps), f1 = summarize(t[1], reps),
               f2 = summarize(t[2], reps), f3 = summarize(t[3], reps);
    printf("   %s (%s):\n", label, where);
    print_fig("pread into memory, 1 thread", f0, mb);
    print_fig("pread into memory, 2 threads", f3, mb);
    print_fig("sharr load -j 1 (HDF5, 1 process)", f1, mb);
    print_fig("sharr load -j 2", f2, mb);
    printf("   ratio -j 2 / -j 1: %.2fx (target >= 1.5x); -j 2 / pread: "
           "%.2fx; the machine's own 2 / 1 thread pread: %.2fx\n",
           f1.med / f2.med, f0.med / f2.med, f0.med / f3.med);
    free(buf);
    unlink(file);
}

/* The case is a file in the page cache of an ordinary file system;
 * a file on tmpfs is shown too, where the kernel's copy out of tmpfs
 * scales less with a second reader (the pread lines show it). */
static void bench_contiguous(sharr_pool *pools[2], sharr_array *src,
                             const char *into)
{
    printf("1. contiguous load of %.0f MB (file in the page cache), median "
           "of %d [min-max]\n", (double)sharr_array_nbytes(src) / 1e6,
           quick ? 3 : 7);
    contiguous_from(pools, src, into, dir, "file system page cache");
    contiguous_from(pools, src, into, shmdir, "for context, tmpfs");
    printf("\n");
}

/* ---- compressed datasets against h5py ---- */

struct filt { const char *name, *label; int gzip, shuffle, lz4; };

static const struct filt filts[] = {
    {"shuffle+gzip1", "shuffle + gzip 1", 1, 1, 0},
    {"gzip4", "gzip 4", 4, 0, 0},
    {"lz4", "lz4", 0, 0, 1},
    {"shuffle+lz4", "shuffle + lz4", 0, 1, 1},
};

/* h5py's times (seconds) from tests/bench/h5py_bench.py, or 0 runs. */
static int h5py_times(const char *args, double *t, int max)
{
    const char *py = getenv("PYTHON"), *script = getenv("SHARR_BENCH_PY");
    char cmd[1024];
    int n = 0;

    snprintf(cmd, sizeof cmd, "%s %s %s 2>/dev/null", py && *py ? py
             : "/usr/bin/python3", script && *script ? script
             : "tests/bench/h5py_bench.py", args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return 0;
    while (n < max && fscanf(p, "%lf", &t[n]) == 1)
        n++;
    if (pclose(p) != 0)
        return 0;
    return n;
}

static void print_row(const char *label, struct fig f, double mb,
                      double base, double target)
{
    printf("   %-22s %8.1f ms [%.1f-%.1f] %7.0f MB/s", label, f.med * 1e3,
           f.min * 1e3, f.max * 1e3, mb / f.med);
    if (base > 0)
        printf("  %5.2fx h5py%s", base / f.med, target > 0 ? "" : "\n");
    if (base > 0 && target > 0)
        printf(" (target >= %.1fx)\n", target);
    if (base <= 0)
        printf("\n");
}

struct shape_case {
    const char *what;
    sharr_array *src;
    const char *into;
    size_t chunk_ndim, chunk[3];
};

/* One dataset, chunk shape and filter: sharr's saves and loads with 1 and
 * 2 workers, h5py's of the same data and file.  *gzip1_save is h5py's
 * shuffle + gzip 1 save of this case, for the lz4 row's ratio. */
static void bench_filtered(sharr_pool *pools[2], const struct shape_case *c,
                           const struct filt *fl, double *gzip1_save)
{
    char file[320], args[1024], chunks[64];
    int reps = quick ? 1 : 3, hs = 0, hl = 0;
    double t[4][16], hsave[16], hload[16];
    double mb = (double)sharr_array_nbytes(c->src) / 1e6;
    sharr_save_opts so = {.chunk_ndim = c->chunk_ndim, .gzip = fl->gzip,
                          .shuffle = fl->shuffle, .lz4 = fl->lz4};
    size_t stored = 0;

    memcpy(so.chunk, c->chunk, sizeof c->chunk);
    int n = 0;
    for (size_t i = 0; i < sharr_array_ndim(c->src); i++)
        n += snprintf(chunks + n, sizeof chunks - (size_t)n, "%s%zu",
                      i ? "x" : "", i < c->chunk_ndim ? c->chunk[i]
                                     : sharr_array_shape(c->src)[i]);
    /* tmpfs: the figures are about compression in parallel; on a disk
     * file system the kernel's writeback takes CPU from the -j 2 run. */
    snprintf(file, sizeof file, "%s/%s.h5", shmdir, fl->name);
    for (int r = 0; r < reps; r++) {
        for (int j = 0; j < 2; j++) {
            unlink(file); /* a new file each time, nothing to copy */
            double t0 = now();
            check(sharr_h5_save(pools[j], c->src, file, "/d", &so), "save");
            t[j][r] = now() - t0;
        }
        for (int j = 0; j < 2; j++)
            t[2 + j][r] = load_into(pools[j], file, c->into);
    }
    stored = file_size(file);
    snprintf(args, sizeof args, "load %s %d", file, reps);
    hl = h5py_times(args, hload, 16);
    snprintf(file, sizeof file, "%s/%s-h5py.h5", shmdir, fl->name);
    snprintf(args, sizeof args, "save %s %s %s %s %d",
             sharr_array_name(c->src), file, chunks, fl->name, reps);
    if (!fl->lz4)
        hs = h5py_times(args, hsave, 16);
    snprintf(file, sizeof file, "%s/%s.h5", shmdir, fl->name);
    unlink(file);
    struct fig s1 = summarize(t[0], reps), s2 = summarize(t[1], reps),
               l1 = summarize(t[2], reps), l2 = summarize(t[3], reps);
    struct fig hsf = hs ? summarize(hsave, hs) : (struct fig){0, 0, 0},
               hlf = hl ? summarize(hload, hl) : (struct fig){0, 0, 0};
    if (fl->gzip == 1)
        *gzip1_save = hs ? hsf.med : 0;
    printf("   %s: %.0f MB -> %.1f MB (%.2fx smaller), median of %d\n",
           fl->label, mb, (double)stored / 1e6, mb * 1e6 / (double)stored,
           reps);
    if (hs)
        print_row("save h5py", hsf, mb, 0, 0);
    double base = fl->lz4 ? *gzip1_save : hsf.med;
    if (fl->lz4 && base > 0)
        printf("   (lz4 saves against h5py's shuffle + gzip 1 save)\n");
    print_row("save sharr -j 1", s1, mb, base, fl->lz4 ? 0 : 1.8);
    print_row("save sharr -j 2", s2, mb, base, fl->lz4 ? 10 : 3.4);
    if (hl)
        print_row(fl->lz4 ? "load h5py (plugin)" : "load h5py", hlf, mb, 0, 0);
    else
        printf("   load h5py: not run (h5py or its plugin missing)\n");
    print_row("load sharr -j 1", l1, mb, hl ? hlf.med : 0, fl->lz4 ? 0 : 1.8);
    print_row("load sharr -j 2", l2, mb, hl ? hlf.med : 0, fl->lz4 ? 0 : 3.4);
    printf("   -j 2 / -j 1: save %.2fx, load %.2fx\n", s1.med / s2.med,
           l1.med / l2.med);
}

static void bench_case(sharr_pool *pools[2], int k, const struct shape_case *c)
{
    double gzip1 = 0;

    printf("%d. %s, chunks", k, c->what);
    for (size_t i = 0; i < sharr_array_ndim(c->src); i++)
        printf("%s%zu", i ? "x" : " ", i < c->chunk_ndim ? c->chunk[i]
                                       : sharr_array_shape(c->src)[i]);
    printf(" (file on tmpfs; h5py: %s)\n", "read_direct / create_dataset");
    for (size_t f = 0; f < sizeof filts / sizeof *filts; f++)
        bench_filtered(pools, c, &filts[f], &gzip1);
    printf("\n");
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

/* Detector frames: counts around a mean that varies slowly over the
 * frame and from frame to frame, Poisson-like (the normal approximation,
 * fine for means near 100, rounded and clipped at 0). */
static void fill_frames(sharr_array *a)
{
    const size_t *sh = sharr_array_shape(a);
    uint16_t *p = sharr_array_data(a);

    for (size_t f = 0; f < sh[0]; f++)
        for (size_t y = 0; y < sh[1]; y++)
            for (size_t x = 0; x < sh[2]; x += 2) {
                double m = 100 + 30 * sin((double)y / 97 + (double)f / 40) *
                                     cos((double)x / 131);
                double r = sqrt(-2 * log(uniform())), th = 6.283185307 *
                                                             uniform();
                for (size_t k = 0; k < 2 && x + k < sh[2]; k++) {
                    double v = m + sqrt(m) * r * (k ? sin(th) : cos(th));
                    *p++ = (uint16_t)(v < 0 ? 0 : v + 0.5);
                }
            }
}

int main(void)
{
    size_t shape[2];
    sharr_pool *pools[2];
    sharr_array *src, *into;
    char src_name[64], into_name[64];

    quick = getenv("BENCH_QUICK") != NULL;
    shape[0] = 16;
    shape[1] = quick ? 100000 : 1000000;
    for (int j = 0; j < 2; j++) {
        sharr_pool_opts o = {.workers = j + 1};
        check(sharr_pool_create(&o, &pools[j]), "pool");
    }
    /* Files live on an ordinary file system ($SHARR_BENCH_DIR, default
     * /var/tmp) and are read from its page cache, never from the disk. */
    const char *base = getenv("SHARR_BENCH_DIR");
    snprintf(dir, sizeof dir, "%s/sharr-bench.%d", base && *base ? base
             : "/var/tmp", (int)getpid());
    snprintf(shmdir, sizeof shmdir, "/dev/shm/sharr-bench.%d", (int)getpid());
    if (mkdir(dir, 0700) < 0 || mkdir(shmdir, 0700) < 0) {
        fprintf(stderr, "bench: cannot make %s or %s\n", dir, shmdir);
        rmdir(dir);
        return 1;
    }
    snprintf(src_name, sizeof src_name, "tb.%d.src", (int)getpid());
    snprintf(into_name, sizeof into_name, "tb.%d.into", (int)getpid());
    check(sharr_array_create(src_name, SHARR_C128, 2, shape, NULL, &src),
          "create");
    check(sharr_array_create(into_name, SHARR_C128, 2, shape, NULL, &into),
          "create");
    sharr_fill_spec f = {.kind = SHARR_FILL_RANDOM, .seed = 3};
    check(sharr_fill(pools[1], src, &f, NULL), "fill");
    printf("== sharr HDF5 benchmarks (%ld CPUs online)\n\n",
           sysconf(_SC_NPROCESSORS_ONLN));
    const char *cases = getenv("BENCH_H5_CASES");
    if (!cases || !*cases)
        cases = "1234";
    if (strchr(cases, '1'))
        bench_contiguous(pools, src, into_name);
    struct shape_case rows = {"c128 16x1000000 of random values", src,
                              into_name, 1, {1}},
                      mib = {"c128 16x1000000 of random values", src,
                             into_name, 2, {1, 65536}};
    if (quick)
        rows.what = mib.what = "c128 16x100000 of random values";
    if (strchr(cases, '2'))
        bench_case(pools, 2, &rows);
    if (strchr(cases, '3'))
        bench_case(pools, 3, &mib);
    size_t fshape[3] = {quick ? 16 : 256, quick ? 256 : 512,
                        quick ? 512 : 1024};
    sharr_array *frames, *finto;
    char fr_name[64], fi_name[64];
    snprintf(fr_name, sizeof fr_name, "tb.%d.frames", (int)getpid());
    snprintf(fi_name, sizeof fi_name, "tb.%d.finto", (int)getpid());
    check(sharr_array_create(fr_name, SHARR_U16, 3, fshape, NULL, &frames),
          "create");
    check(sharr_array_create(fi_name, SHARR_U16, 3, fshape, NULL, &finto),
          "create");
    fill_frames(frames);
    struct shape_case det = {"detector stack u16 256x512x1024 (counts near "
                             "100)", frames, fi_name, 1, {1}};
    if (quick)
        det.what = "detector stack u16 16x256x512 (counts near 100)";
    if (strchr(cases, '4'))
        bench_case(pools, 4, &det);
    sharr_array_close(frames);
    sharr_array_close(finto);
    sharr_unlink(fr_name);
    sharr_unlink(fi_name);
    sharr_array_close(src);
    sharr_array_close(into);
    sharr_unlink(src_name);
    sharr_unlink(into_name);
    rmdir(dir);
    rmdir(shmdir);
    for (int j = 0; j < 2; j++)
        sharr_pool_destroy(pools[j]);
    return 0;
}
