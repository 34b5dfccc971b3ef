/*
 * bench_ipc.c - named queues, pipes and locks against what a C or Python
 * programmer would use otherwise, measured in one run between processes:
 *
 *  1. queue throughput, one producer and one consumer process, 64-byte and
 *     4 KiB messages: sharr_queue_put/get one at a time and in batches of
 *     64, against POSIX message queues (mq_send/mq_receive), a pipe (one
 *     write/read per message), and Python's multiprocessing.Queue
 *     (/usr/bin/python3) for context;
 *  2. round trip: ping-pong through two queues (sharr, POSIX mq, a pair of
 *     pipes, Python);
 *  3. locks: uncontended acquire + release of a named Lock and of an
 *     array's lock (against a bare robust pthread mutex), and contended
 *     between two processes.
 * Every figure is the median of several runs, with min-max.  Benchmarks
 * report; they never fail on slowness.  BENCH_QUICK=1 shrinks everything.
 */
#define _GNU_SOURCE
#include "sharr.h"
#include "benchutil.h"

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static int quick;
static char prefix[32];

static void die(const char *what, int err)
{
    fprintf(stderr, "bench: %s: %s (%s)\n", what, sharr_errmsg(),
            sharr_strerror(err));
    exit(1);
}

static const char *nm(const char *label)
{
    static char buf[4][128];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, 128, "%s.%s", prefix, label);
    return b;
}

static void reap(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench: a child process failed (status %d)\n", st);
        exit(1);
    }
}

/* ---- 1. throughput ---- */

enum { BATCH = 64 };

struct tp {
    size_t size, n;
};

/* Consumer: take n messages (in batches if batch > 1). */
static int sharr_consumer(const char *name, struct tp t, int batch)
{
    sharr_queue *q;
    size_t lens[BATCH], got = 0;
    char *buf = malloc(t.size * BATCH);
    if (!buf || sharr_queue_open(name, 0, &q) < 0)
        return 1;
    while (got < t.n) {
        int k = batch > 1
                    ? sharr_queue_get_many(q, buf, t.size * BATCH, lens,
                                           BATCH, -1)
                    : (sharr_queue_get(q, buf, t.size, lens, -1) == 0 ? 1
                                                                      : -1);
        if (k < 0)
            return 2;
        got += (size_t)k;
    }
    sharr_queue_close(q);
    free(buf);
    return 0;
}

static double sharr_throughput(struct tp t, int batch)
{
    const char *name = nm("tp");
    sharr_queue *q;
    const void *msgs[BATCH];
    size_t lens[BATCH];
    char *m = calloc(1, t.size);
    int err;

    if ((err = sharr_queue_create(name, 4 << 20, 4096, NULL, &q)) < 0)
        die("queue create", err);
    for (int i = 0; i < BATCH; i++) {
        msgs[i] = m;
        lens[i] = t.size;
    }
    pid_t pid = fork();
    if (pid == 0)
        _exit(sharr_consumer(name, t, batch));
    double t0 = now();
    for (size_t i = 0; i < t.n;) {
        size_t k = batch > 1 ? (t.n - i < BATCH ? t.n - i : BATCH) : 1;
        int put = sharr_queue_put_many(q, msgs, lens, k, -1);
        if (put < 0)
            die("put", put);
        i += (size_t)put;
    }
    reap(pid);
    double dt = now() - t0;
    sharr_queue_close(q);
    sharr_unlink(name);
    free(m);
    return (double)t.n / dt;
}

static double mq_throughput(struct tp t, long depth)
{
    char name[64];
    struct mq_attr a = {.mq_maxmsg = depth, .mq_msgsize = (long)t.size};
    char *m = calloc(1, t.size);

    snprintf(name, sizeof name, "/%s.mq", prefix);
    mq_unlink(name);
    mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &a);
    if (q == (mqd_t)-1) {
        perror("bench: mq_open");
        return 0;
    }
    pid_t pid = fork();
    if (pid == 0) {
        for (size_t i = 0; i < t.n; i++)
            if (mq_receive(q, m, t.size, NULL) < 0)
                _exit(1);
        _exit(0);
    }
    double t0 = now();
    for (size_t i = 0; i < t.n; i++)
        if (mq_send(q, m, t.size, 0) < 0) {
            perror("bench: mq_send");
            exit(1);
        }
    reap(pid);
    double dt = now() - t0;
    mq_close(q);
    mq_unlink(name);
    free(m);
    return (double)t.n / dt;
}

static int read_all(int fd, void *p, size_t n)
{
    unsigned char *c = p;
    while (n > 0) {
        ssize_t got = read(fd, c, n);
        if (got <= 0)
            return -1;
        c += got;
        n -= (size_t)got;
    }
    return 0;
}

static double pipe_throughput(struct tp t)
{
    int fd[2];
    char *m = calloc(1, t.size);

    if (pipe(fd) < 0)
        return 0;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[1]);
        for (size_t i = 0; i < t.n; i++)
            if (read_all(fd[0], m, t.size) < 0)
                _exit(1);
        _exit(0);
    }
    close(fd[0]);
    double t0 = now();
    for (size_t i = 0; i < t.n; i++)
        if (write(fd[1], m, t.size) != (ssize_t)t.size)
            exit(1);
    reap(pid);
    double dt = now() - t0;
    close(fd[1]);
    free(m);
    return (double)t.n / dt;
}

/* Python's multiprocessing, by its own clock; 0 if python3 is missing. */
static double python_figure(const char *script)
{
    char cmd[4096];
    double v = 0;
    FILE *p;

    if (access("/usr/bin/python3", X_OK) != 0)
        return 0;
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c '%s' 2>/dev/null", script);
    if (!(p = popen(cmd, "r")))
        return 0;
    if (fscanf(p, "%lf", &v) != 1)
        v = 0;
    pclose(p);
    return v;
}

static double python_throughput(struct tp t)
{
    char script[2048];
    snprintf(script, sizeof script,
             "import multiprocessing as mp, time\n"
             "def c(q, n):\n"
             "    for _ in range(n): q.get()\n"
             "if __name__ == \"__main__\":\n"
             "    n = %zu; q = mp.Queue(); m = bytes(%zu)\n"
             "    p = mp.Process(target=c, args=(q, n)); p.start()\n"
             "    t = time.perf_counter()\n"
             "    for _ in range(n): q.put(m)\n"
             "    p.join(); print(n / (time.perf_counter() - t))\n",
             t.n / 20 ? t.n / 20 : 1, t.size);
    return python_figure(script);
}

static struct fig best_of(double (*run)(struct tp, int), struct tp t,
                          int arg, int reps)
{
    double v[16];
    for (int r = 0; r < reps; r++)
        v[r] = run(t, arg);
    return summarize(v, reps);
}

static double run_mq(struct tp t, int depth)
{
    return mq_throughput(t, depth);
}

static double run_pipe(struct tp t, int unused)
{
    (void)unused;
    return pipe_throughput(t);
}

/* The deepest POSIX queue this process may make (root: up to 64). */
static long mq_depth(void)
{
    char name[64];
    struct mq_attr a = {.mq_maxmsg = 64, .mq_msgsize = 64};
    snprintf(name, sizeof name, "/%s.probe", prefix);
    mqd_t q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, &a);
    if (q == (mqd_t)-1)
        return 10; /* msg_max, the default limit */
    mq_close(q);
    mq_unlink(name);
    return 64;
}

static void bench_throughput(void)
{
    int reps = quick ? 3 : 5;
    long depth = mq_depth();
    struct tp small = {64, quick ? 200000 : 2000000};
    struct tp big = {4096, quick ? 20000 : 200000};

    printf("1. queue throughput, 1 producer + 1 consumer process, million "
           "messages/s, median of %d [min-max]\n", reps);
    for (int s = 0; s < 2; s++) {
        struct tp t = s ? big : small;
        struct fig one = best_of(sharr_throughput, t, 1, reps);
        struct fig many = best_of(sharr_throughput, t, BATCH, reps);
        struct fig mq = best_of(run_mq, t, (int)depth, reps);
        struct fig pp = best_of(run_pipe, t, 0, reps);
        double py = python_throughput(t);
        printf("   %4zu B  sharr single %6.2f [%.2f-%.2f]  batched (%d) "
               "%6.2f [%.2f-%.2f]\n", t.size, one.med / 1e6, one.min / 1e6,
               one.max / 1e6, BATCH, many.med / 1e6, many.min / 1e6,
               many.max / 1e6);
        printf("           POSIX mq (depth %ld) %5.2f [%.2f-%.2f]  pipe %5.2f "
               "[%.2f-%.2f]  Python mp.Queue %s%.3f\n", depth, mq.med / 1e6,
               mq.min / 1e6, mq.max / 1e6, pp.med / 1e6, pp.min / 1e6,
               pp.max / 1e6, py ? "" : "(no python3) ", py / 1e6);
        printf("           ratio single / mq: %.1fx, batched / mq: %.1fx, "
               "single / pipe: %.1fx, single / Python: %.0fx%s\n",
               one.med / mq.med, many.med / mq.med, one.med / pp.med,
               py ? one.med / py : 0.0,
               s ? "" : "  (targets: >= 5 M/s single, >= 5x mq)");
    }
    printf("\n");
}

/* ---- 2. round trip ---- */

/* Per-trip times of the last sharr run, for its median and 99th
 * percentile (a mean hides whether a few trips or all are slow). */
static double *trips;

static double sharr_round_trip(size_t n)
{
    const char *ping = nm("ping"), *pong = nm("pong");
    sharr_queue *a, *b;
    char m[64] = {0};
    size_t len;
    int err;

    if ((err = sharr_queue_create(ping, 65536, 64, NULL, &a)) < 0 ||
        (err = sharr_queue_create(pong, 65536, 64, NULL, &b)) < 0)
        die("queue create", err);
    pid_t pid = fork();
    if (pid == 0) {
        for (size_t i = 0; i < n; i++)
            if (sharr_queue_get(a, m, sizeof m, &len, -1) < 0 ||
                sharr_queue_put(b, m, len, -1) < 0)
                _exit(1);
        _exit(0);
    }
    double t0 = now(), t1 = t0;
    for (size_t i = 0; i < n; i++) {
        if (sharr_queue_put(a, m, 64, -1) < 0 ||
            sharr_queue_get(b, m, sizeof m, &len, -1) < 0)
            die("ping-pong", -1);
        double t2 = now();
        trips[i] = t2 - t1;
        t1 = t2;
    }
    double dt = now() - t0;
    reap(pid);
    sharr_queue_close(a);
    sharr_queue_close(b);
    sharr_unlink(ping);
    sharr_unlink(pong);
    return dt / (double)n;
}

static double mq_round_trip(size_t n)
{
    char na[64], nb[64], m[64] = {0};
    struct mq_attr at = {.mq_maxmsg = 10, .mq_msgsize = 64};

    snprintf(na, sizeof na, "/%s.mqa", prefix);
    snprintf(nb, sizeof nb, "/%s.mqb", prefix);
    mqd_t a = mq_open(na, O_CREAT | O_RDWR, 0600, &at);
    mqd_t b = mq_open(nb, O_CREAT | O_RDWR, 0600, &at);
    if (a == (mqd_t)-1 || b == (mqd_t)-1)
        return 0;
    pid_t pid = fork();
    if (pid == 0) {
        for (size_t i = 0; i < n; i++)
            if (mq_receive(a, m, 64, NULL) < 0 || mq_send(b, m, 64, 0) < 0)
                _exit(1);
        _exit(0);
    }
    double t0 = now();
    for (size_t i = 0; i < n; i++)
        if (mq_send(a, m, 64, 0) < 0 || mq_receive(b, m, 64, NULL) < 0)
            exit(1);
    double dt = now() - t0;
    reap(pid);
    mq_close(a);
    mq_close(b);
    mq_unlink(na);
    mq_unlink(nb);
    return dt / (double)n;
}

static double pipe_round_trip(size_t n)
{
    int ab[2], ba[2];
    char m[64] = {0};

    if (pipe(ab) < 0 || pipe(ba) < 0)
        return 0;
    pid_t pid = fork();
    if (pid == 0) {
        for (size_t i = 0; i < n; i++)
            if (read_all(ab[0], m, 64) < 0 || write(ba[1], m, 64) != 64)
                _exit(1);
        _exit(0);
    }
    double t0 = now();
    for (size_t i = 0; i < n; i++)
        if (write(ab[1], m, 64) != 64 || read_all(ba[0], m, 64) < 0)
            exit(1);
    double dt = now() - t0;
    reap(pid);
    for (int i = 0; i < 2; i++) {
        close(ab[i]);
        close(ba[i]);
    }
    return dt / (double)n;
}

static double python_round_trip(size_t n)
{
    char script[2048];
    snprintf(script, sizeof script,
             "import multiprocessing as mp, time\n"
             "def c(a, b, n):\n"
             "    for _ in range(n): b.put(a.get())\n"
             "if __name__ == \"__main__\":\n"
             "    n = %zu; a = mp.Queue(); b = mp.Queue(); m = bytes(64)\n"
             "    p = mp.Process(target=c, args=(a, b, n)); p.start()\n"
             "    t = time.perf_counter()\n"
             "    for _ in range(n): a.put(m); b.get()\n"
             "    print((time.perf_counter() - t) / n); p.join()\n", n);
    return python_figure(script);
}

static void bench_round_trip(void)
{
    int reps = quick ? 3 : 5;
    size_t n = quick ? 20000 : 200000;
    double t[4][16];

    if (!(trips = malloc(n * sizeof *trips)))
        die("malloc", SHARR_ENOMEM);
    for (int r = 0; r < reps; r++) {
        t[0][r] = sharr_round_trip(n);
        t[1][r] = mq_round_trip(n / 4);
        t[2][r] = pipe_round_trip(n / 4);
    }
    double py = python_round_trip(n / 50);
    struct fig s = summarize(t[0], reps), m = summarize(t[1], reps);
    struct fig p = summarize(t[2], reps);
    printf("2. round trip, ping-pong of 64 B through two queues, mean us, "
           "median of %d [min-max]\n", reps);
    printf("   sharr %6.2f [%.2f-%.2f]  POSIX mq %6.2f [%.2f-%.2f]  pipes "
           "%6.2f [%.2f-%.2f]  Python mp.Queue %s%.1f\n", s.med * 1e6,
           s.min * 1e6, s.max * 1e6, m.med * 1e6, m.min * 1e6, m.max * 1e6,
           p.med * 1e6, p.min * 1e6, p.max * 1e6, py ? "" : "(no python3) ",
           py * 1e6);
    qsort(trips, n, sizeof *trips, cmp_double);
    printf("   sharr, each trip of the last run: median %.2f us, 99th "
           "percentile %.2f us\n", trips[n / 2] * 1e6,
           trips[n - n / 100 - 1] * 1e6);
    printf("   ratio mq / sharr: %.1fx, pipes / sharr: %.1fx, Python / "
           "sharr: %.0fx (target sharr <= 2 us; means, so a busy machine "
           "shows in them)\n\n", m.med / s.med, p.med / s.med,
           py ? py / s.med : 0.0);
    free(trips);
}

/* ---- 3. locks ---- */

static double uncontended_lock(sharr_lock *l, size_t n)
{
    double t0 = now();
    for (size_t i = 0; i < n; i++) {
        sharr_lock_acquire(l, -1);
        sharr_lock_release(l);
    }
    return (now() - t0) / (double)n;
}

static double uncontended_array(sharr_array *a, size_t n)
{
    double t0 = now();
    for (size_t i = 0; i < n; i++) {
        sharr_array_lock(a);
        sharr_array_unlock(a);
    }
    return (now() - t0) / (double)n;
}

static double uncontended_pthread(pthread_mutex_t *m, size_t n)
{
    double t0 = now();
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(m);
        pthread_mutex_unlock(m);
    }
    return (now() - t0) / (double)n;
}

/* Two processes take the lock n times each, adding to a shared counter;
 * returns the time per acquire + release. */
static double contended_lock(const char *name, size_t n)
{
    volatile long *counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t pids[2];
    double t0 = now();

    for (int p = 0; p < 2; p++) {
        if ((pids[p] = fork()) == 0) {
            sharr_lock *l;
            if (sharr_lock_open(name, 0, &l) < 0)
                _exit(1);
            for (size_t i = 0; i < n; i++) {
                if (sharr_lock_acquire(l, -1) < 0)
                    _exit(2);
                (*counter)++;
                sharr_lock_release(l);
            }
            _exit(0);
        }
    }
    for (int p = 0; p < 2; p++)
        reap(pids[p]);
    double dt = now() - t0;
    if (*counter != (long)(2 * n))
        fprintf(stderr, "bench: the lock lost updates (%ld)\n", *counter);
    munmap((void *)counter, 4096);
    return dt / (double)(2 * n);
}

static void bench_locks(void)
{
    int reps = quick ? 3 : 7;
    size_t n = quick ? 1000000 : 10000000, nc = quick ? 200000 : 2000000;
    pthread_mutexattr_t attr;
    pthread_mutex_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sharr_lock *l;
    sharr_array *a;
    double t[4][16];
    int err;

    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(m, &attr);
    if ((err = sharr_lock_create(nm("lock"), 0, NULL, &l)) < 0 ||
        (err = sharr_array_create(nm("larr"), SHARR_U8, 0, NULL, NULL, &a)) <
            0)
        die("lock create", err);
    for (int r = 0; r < reps; r++) {
        t[0][r] = uncontended_lock(l, n);
        t[1][r] = uncontended_array(a, n);
        t[2][r] = uncontended_pthread(m, n);
        t[3][r] = contended_lock(nm("lock"), nc);
    }
    struct fig f[4];
    for (int k = 0; k < 4; k++)
        f[k] = summarize(t[k], reps);
    printf("3. locks, acquire + release, ns, median of %d [min-max]\n", reps);
    printf("   uncontended: sharr Lock %5.1f [%.1f-%.1f]  array lock %5.1f "
           "[%.1f-%.1f]  bare robust pthread mutex %5.1f [%.1f-%.1f]\n",
           f[0].med * 1e9, f[0].min * 1e9, f[0].max * 1e9, f[1].med * 1e9,
           f[1].min * 1e9, f[1].max * 1e9, f[2].med * 1e9, f[2].min * 1e9,
           f[2].max * 1e9);
    printf("   contended, 2 processes: sharr Lock %.1f [%.1f-%.1f] per "
           "acquire + release (%.1f M/s in all)\n", f[3].med * 1e9,
           f[3].min * 1e9, f[3].max * 1e9, 1e-6 / f[3].med);
    printf("   ratio sharr Lock / bare mutex: %.2fx (target <= 50 ns "
           "uncontended)\n", f[0].med / f[2].med);
    sharr_lock_close(l);
    sharr_array_close(a);
    sharr_unlink(nm("lock"));
    sharr_unlink(nm("larr"));
    munmap(m, 4096);
}

int main(void)
{
    quick = getenv("BENCH_QUICK") != NULL;
    snprintf(prefix, sizeof prefix, "tb.%d", (int)getpid());
    printf("== sharr queue and lock benchmarks (%ld CPUs online; Python: "
           "/usr/bin/python3)\n\n", sysconf(_SC_NPROCESSORS_ONLN));
    bench_throughput();
    bench_round_trip();
    bench_locks();
    return 0;
}
