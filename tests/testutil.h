/*
 * testutil.h - helpers for the Criterion unit tests.
 *
 * Every segment a test makes is named "t.<pid>.<label>", <pid> being the
 * test's own process (Criterion runs each test in a fresh one), and the
 * suite's .fini removes every "t.<pid>.*" even when the test failed an
 * assertion.  A test that crashes skips .fini; tests/leftovers.sh catches
 * those after the run and fails it.
 */
#ifndef SHARR_TESTUTIL_H
#define SHARR_TESTUTIL_H

#define _GNU_SOURCE
#include "sharr.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t tu_owner;

/* "t.<pid>.<label>" into a static rotating buffer (8 live at once). */
static inline const char *tu_name(const char *label)
{
    static char bufs[8][SHARR_NAME_MAX + 1];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, SHARR_NAME_MAX + 1, "t.%d.%s", (int)tu_owner, label);
    return b;
}

static inline void tu_setup(void)
{
    tu_owner = getpid();
}

/* Before removing a FIFO a test planted in /dev/shm: open it for writing
 * without blocking, which releases any process blocked opening it for
 * reading (an older sharr of a colleague's run, say). */
static inline void tu_unplant(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISFIFO(st.st_mode)) {
        int fd = open(path, O_WRONLY | O_NONBLOCK);
        if (fd >= 0)
            close(fd);
    }
}

/* Remove every segment of this test process. */
static inline void tu_cleanup(void)
{
    char prefix[64];
    DIR *d = opendir("/dev/shm");
    struct dirent *e;

    snprintf(prefix, sizeof prefix, "sharr.t.%d.", (int)tu_owner);
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            char path[512];
            snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
            tu_unplant(path);
            if (unlink(path) < 0 && errno == EISDIR)
                rmdir(path);
        }
    }
    closedir(d);
}

/* "/dev/shm/sharr.<name>" */
static inline const char *tu_path(const char *name)
{
    static char buf[SHARR_NAME_MAX + 32];
    snprintf(buf, sizeof buf, "/dev/shm/sharr.%s", name);
    return buf;
}

/* "DIR/BASE" into a static rotating buffer (4 live at once). */
static inline const char *tu_file(const char *dir, const char *base)
{
    static char buf[4][256];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", dir, base);
    return b;
}

/* rm -rf DIR (a test's scratch directory). */
static inline void tu_rmdir(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    (void)!system(cmd);
}

static inline int tu_exists(const char *name)
{
    struct stat st;
    return stat(tu_path(name), &st) == 0;
}

/* Poll until `name` is gone, up to `seconds`.  1 if it went. */
static inline int tu_wait_gone(const char *name, double seconds)
{
    for (int i = 0; i < (int)(seconds * 100); i++) {
        if (!tu_exists(name))
            return 1;
        usleep(10000);
    }
    return !tu_exists(name);
}

/*
 * Fields of /proc/PID/stat: its state letter ('X' when it is gone; a
 * process may vanish between the open and the read, which then reads
 * nothing), its parent (-1 when gone) and its user+system CPU ticks.
 * Returns 0, or -1 when the process is gone.  Any out pointer may be NULL.
 */
static inline int tu_proc_stat(pid_t pid, char *state, pid_t *ppid,
                               unsigned long long *ticks)
{
    char path[64], buf[1024];
    char st = 'X';
    int pp = -1;
    unsigned long long ut = 0, sy = 0;
    size_t n = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f) {
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    int ok = rp && sscanf(rp + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u "
                                  "%*u %llu %llu", &st, &pp, &ut, &sy) == 4;
    if (!ok) {
        st = 'X';
        pp = -1;
        ut = sy = 0;
    }
    if (state)
        *state = st;
    if (ppid)
        *ppid = pp;
    if (ticks)
        *ticks = ut + sy;
    return ok ? 0 : -1;
}

/* The parent of `pid`, or -1 when it is gone. */
static inline pid_t tu_parent_of(pid_t pid)
{
    pid_t pp;
    tu_proc_stat(pid, NULL, &pp, NULL);
    return pp;
}

/* Not running any more: gone, or a zombie. */
static inline int tu_proc_gone(pid_t pid)
{
    char st;
    tu_proc_stat(pid, &st, NULL, NULL);
    return st == 'X' || st == 'Z';
}

/* waitpid retried on EINTR; returns the status. */
static inline int tu_reap(pid_t pid)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return st;
}

/* Overwrite `n` bytes at `off` of the segment file of `name`. */
static inline void tu_patch(const char *name, off_t off, const void *p,
                            size_t n)
{
    int fd = open(tu_path(name), O_RDWR);
    cr_assert(fd >= 0, "open %s: %s", tu_path(name), strerror(errno));
    cr_assert(pwrite(fd, p, n, off) == (ssize_t)n);
    close(fd);
}

/*
 * sharr_gc() works on all of /dev/shm, and Criterion runs tests in parallel:
 * a test that asserts what its own gc call removed must not race another
 * test's gc.  Such tests hold this lock (an flock on the test binary, so it
 * leaves nothing behind) until they end; it is released when the test
 * process exits.
 */
static inline void tu_gc_serialize(void)
{
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0, "open /proc/self/exe: %s", strerror(errno));
    while (flock(fd, LOCK_EX) < 0)
        cr_assert_eq(errno, EINTR, "flock: %s", strerror(errno));
}

/* A pool of `workers` workers, or the test fails. */
static inline sharr_pool *tu_pool(int workers)
{
    sharr_pool_opts o = {.workers = workers};
    sharr_pool *p = NULL;
    cr_assert_eq(sharr_pool_create(&o, &p), 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_pool_workers(p), workers);
    return p;
}

/* Array tu_name(label) of `rows` rows (of `cols` columns; 0: 1-d). */
static inline sharr_array *tu_rows(const char *label, sharr_dtype dt,
                                   size_t rows, size_t cols)
{
    size_t shape[2] = {rows, cols};
    sharr_array *a = NULL;
    cr_assert_eq(sharr_array_create(tu_name(label), dt, cols ? 2 : 1, shape,
                                    NULL, &a), 0, "%s", sharr_errmsg());
    return a;
}

static inline double tu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#endif /* SHARR_TESTUTIL_H */
