/*
 * bench_h5.c - HDF5 load and save against their baselines, in one run.
 *
 * On a 16 x 1,000,000 complex128 dataset (256 MB of random values, so
 * gzip has real work) whose file is in the page cache of an ordinary file
 * system ($SHARR_BENCH_DIR, default /var/tmp; for context the contiguous
 * load also from tmpfs; the chunked files on tmpfs, so that the kernel's
 * writeback to disk does not take CPU from the -j 2 runs):
 *  1. contiguous load with 1 and 2 workers vs reading the same file with
 *     pread into memory in one process;
 *  2. chunked (1 row per chunk) shuffle + gzip 1 and gzip 4: save and load
 *     with 1 and 2 workers.
 * Loads go into an existing array (its creation is not what is measured).
 * Medians with min-max; BENCH_QUICK=1 shrinks the data.
 */
#define _GNU_SOURCE
#include "sharr.h"
#include "benchutil.h"

#include <fcntl.h>
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

static void bench_chunked(sharr_pool *pools[2], sharr_array *src,
                          const char *into, int level)
{
    char file[320];
    int reps = quick ? 2 : 3;
    double t[4][16];
    double mb = (double)sharr_array_nbytes(src) / 1e6;
    sharr_save_opts so = {.chunk_ndim = 1, .chunk = {1}, .gzip = level,
                          .shuffle = level == 1};

    /* tmpfs: the figures are about compression in parallel; on a disk
     * file system the kernel's writeback takes CPU from the -j 2 run. */
    snprintf(file, sizeof file, "%s/chunked%d.h5", shmdir, level);
    for (int r = 0; r < reps; r++) {
        for (int j = 0; j < 2; j++) {
            unlink(file); /* a new file each time, nothing to copy */
            double t0 = now();
            check(sharr_h5_save(pools[j], src, file, "/d", &so), "save");
            t[j][r] = now() - t0;
        }
        for (int j = 0; j < 2; j++)
            t[2 + j][r] = load_into(pools[j], file, into);
    }
    struct fig s1 = summarize(t[0], reps), s2 = summarize(t[1], reps),
               l1 = summarize(t[2], reps), l2 = summarize(t[3], reps);
    printf("2. chunked, 1 row per chunk, %sgzip %d (%.0f MB -> %.0f MB, "
           "file on tmpfs), median of %d [min-max]\n",
           level == 1 ? "shuffle + " : "", level, mb,
           (double)file_size(file) / 1e6, reps);
    print_fig("save -j 1", s1, mb);
    print_fig("save -j 2", s2, mb);
    print_fig("load -j 1", l1, mb);
    print_fig("load -j 2", l2, mb);
    printf("   ratio -j 2 / -j 1: save %.2fx, load %.2fx (target >= 1.8x)\n\n",
           s1.med / s2.med, l1.med / l2.med);
    unlink(file);
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
    bench_contiguous(pools, src, into_name);
    bench_chunked(pools, src, into_name, 1);
    bench_chunked(pools, src, into_name, 4);
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
