/*
 * pool.c - the worker pool: forked workers that run kernels over row blocks
 * of shared arrays, in place.
 *
 * Shared state lives in one anonymous MAP_SHARED mapping made before the
 * first fork: the job descriptor, the block counters, one slot per worker,
 * the guided-schedule table and the per-job result space.  No named segment
 * is involved, so a pool can leak nothing in /dev/shm.
 *
 * Publishing a job is a seqlock: job_seq is even when a descriptor is valid
 * and odd while the caller rewrites it.  A worker announces itself (its
 * slot's `active`) and then re-reads job_seq; the caller makes job_seq odd
 * and then waits for every live worker's `active` to drop.  Both sides use
 * sequentially consistent operations, so one of them always sees the other
 * (Dekker), and no worker ever reads a half-written descriptor.
 *
 * Sleeping: workers wait on job_seq with a futex; the caller waits with
 * poll() on an eventfd (written by a worker that finishes the last block
 * while the caller sleeps) and on one pidfd per worker, so a dying worker
 * wakes the caller at once.  Both spin briefly before sleeping.
 *
 * Fork rules: workers never return into the caller's code (they leave
 * through sharr__child_exit), die with the caller (PR_SET_PDEATHSIG plus a
 * check of getppid), ignore SIGINT, and keep OpenBLAS at blas_threads.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* OpenBLAS's own call; pool.c does not include cblas.h (only ops.c does). */
extern void openblas_set_num_threads(int num_threads);

#define GUIDED_MAX 65536          /* blocks of a guided schedule */
#define SPIN_US_DEFAULT 200.0     /* workers, after a job */
#define WAIT_SPIN_US 100.0        /* the caller, before sleeping */
#define DEFAULT_RESULTS ((size_t)1 << 30)
#define ERRMSG_SIZE 1024

enum geometry { GEOM_EVEN, GEOM_CHUNK, GEOM_GUIDED };

struct job_array {
    char name[SHARR_NAME_MAX + 1];
    unsigned char id[16];
    uint32_t dtype;
    uint32_t open_flags;
    uint64_t rows;
    uint64_t row_bytes;
    uint32_t whole;
};

/* Everything a worker needs to run a job; written only between jobs. */
struct job_desc {
    sharr_kernel kernel;
    uint32_t narrays;
    struct job_array arrays[SHARR_JOB_MAX_ARRAYS];
    uint64_t rows;
    uint32_t geometry;      /* enum geometry */
    uint32_t claim_static;  /* 1: worker w runs blocks w, w+N, ... */
    uint64_t chunk;
    uint64_t nblocks;
    uint64_t nworkers;
    uint64_t result_size;
    uint32_t per_row;
    uint32_t notify_each;   /* wake a sleeping caller after every block */
    uint32_t plain_errors;  /* kernel details without block context */
    uint64_t arg_size;
    unsigned char arg[SHARR_JOB_ARG_MAX];
};

enum { W_STARTING, W_READY, W_INIT_FAILED };

struct worker_slot {
    _Atomic uint32_t state;
    _Atomic uint32_t active;          /* inside a job */
    _Atomic int64_t block;            /* running this block, -1 if none */
    int32_t init_error;
    char init_msg[ERRMSG_SIZE];
} __attribute__((aligned(64)));

struct pool_shared {
    _Atomic uint32_t job_seq __attribute__((aligned(64)));
    _Atomic uint32_t sleepers;
    _Atomic uint32_t shutdown;
    _Atomic uint64_t next_block __attribute__((aligned(64)));
    _Atomic uint64_t done __attribute__((aligned(64)));
    _Atomic uint64_t skipped;         /* counted in done, never run */
    _Atomic uint32_t abort;
    _Atomic uint32_t caller_sleeping;
    _Atomic int32_t error __attribute__((aligned(64)));
    _Atomic uint64_t error_block;
    char errmsg[ERRMSG_SIZE];
    struct job_desc desc;
    struct worker_slot slots[SHARR_POOL_MAX_WORKERS];
};

struct sharr_pool {
    struct pool_shared *sh;
    size_t map_size;
    uint64_t *guided;         /* GUIDED_MAX + 1 boundaries, in the mapping */
    unsigned char *results;   /* results_bytes, in the mapping */
    size_t results_bytes;
    int nworkers;
    pid_t pid[SHARR_POOL_MAX_WORKERS];
    int pidfd[SHARR_POOL_MAX_WORKERS];
    int evfd;
    pid_t parent;
    sharr_pool_opts opts;
    double spin_us;
    unsigned yield_every;     /* see spin_step() */
    bool pin;                 /* worker i runs on cpus[i % ncpus] only */
    int ncpus;                /* CPUs this process may run on */
    int cpus[SHARR_POOL_MAX_WORKERS];
    int broken;               /* a worker could not be replaced */
    char broken_msg[ERRMSG_SIZE];
    sharr_job *job;           /* the job not yet freed, if any */
};

struct sharr_job {
    sharr_pool *pool;         /* NULL: ran in the caller */
    struct job_desc geom;     /* geometry fields only (no arg) are used */
    uint64_t *guided;         /* this job's table (pool's or malloc'ed) */
    unsigned char *results;
    size_t results_len;
    bool own_buffers;         /* guided/results malloc'ed (caller mode) */
    bool finished;
    bool canceled;
    size_t ran;
    int status;
    size_t error_block;
    char errmsg[ERRMSG_SIZE];
    size_t done_inline;
    void (*progress)(size_t, size_t, void *);
    void *progress_ctx;
    size_t last_progress;
};

/* ---- small helpers ---- */

int sharr_fail(int code, const char *fmt, ...)
{
    char buf[ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return sharr__fail(code, "%s", buf);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

/* One step of a spin-wait.  A caller waiting on N workers is N+1 spinning
 * processes: with N >= cores, one core holds two of them and the one that
 * is not running (a worker with a block to do, or the caller about to see
 * the job end) waits for the spinner to yield.  So an oversubscribed pool
 * yields at every step (a context switch is ~1 us; a time slice is ms);
 * otherwise every 64th step, to stay polite to the rest of the machine. */
static inline void spin_step(unsigned n, unsigned yield_every)
{
    if (n % yield_every == yield_every - 1)
        sched_yield();
    else
        cpu_relax();
}

static long futex_wait(_Atomic uint32_t *addr, uint32_t val, double secs)
{
    struct timespec ts = {(time_t)secs,
                          (long)((secs - (double)(time_t)secs) * 1e9)};
    return syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT, val,
                   secs >= 0 ? &ts : NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void notify(int evfd)
{
    uint64_t one = 1;
    ssize_t rc;
    do {
        rc = write(evfd, &one, sizeof one);
    } while (rc < 0 && errno == EINTR);
}

static void drain(int evfd)
{
    uint64_t v;
    while (read(evfd, &v, sizeof v) == (ssize_t)sizeof v)
        ;
}

/* ---- schedules and block geometry ---- */

int sharr_schedule_parse(const char *text, sharr_schedule *out)
{
    static const char *names[] = {"", "static", "dynamic", "guided", "auto"};
    const char *comma;
    size_t len;

    memset(out, 0, sizeof *out);
    if (!text)
        return sharr__fail(SHARR_EINVAL, "schedule is NULL");
    comma = strchr(text, ',');
    len = comma ? (size_t)(comma - text) : strlen(text);
    for (int k = SHARR_SCHED_STATIC; k <= SHARR_SCHED_AUTO; k++)
        if (strlen(names[k]) == len && strncmp(text, names[k], len) == 0)
            out->kind = (sharr_sched_kind)k;
    if (out->kind == SHARR_SCHED_DEFAULT)
        return sharr__fail(SHARR_EINVAL, "unknown schedule '%s': use static,"
                           " dynamic, guided or auto, optionally ,CHUNK", text);
    if (comma) {
        char *end;
        unsigned long long c;
        errno = 0;
        c = strtoull(comma + 1, &end, 10);
        if (comma[1] < '0' || comma[1] > '9' || *end || errno || c == 0)
            return sharr__fail(SHARR_EINVAL, "schedule '%s': the chunk must "
                               "be an integer >= 1", text);
        if (out->kind == SHARR_SCHED_AUTO)
            return sharr__fail(SHARR_EINVAL, "schedule 'auto' takes no "
                               "chunk");
        out->chunk = (size_t)c;
    }
    return 0;
}

/* The guided schedule's block boundaries for d's rows, workers and chunk
 * into table (NULL: only count them into d->nblocks).  libgomp's rule: each
 * block is ceil(remaining / workers) rows, but at least the chunk.  The
 * table makes block i the same rows whichever worker claims it. */
static int guided_blocks(struct job_desc *d, uint64_t *table)
{
    size_t b = 0, r = 0, rows = d->rows, n = d->nworkers;

    while (r < rows) {
        size_t rem = rows - r, q = (rem + n - 1) / n;
        if (q < d->chunk)
            q = d->chunk < rem ? d->chunk : rem;
        if (b == GUIDED_MAX)
            return sharr__fail(SHARR_EINVAL, "guided schedule needs more "
                               "than %d blocks; use a larger chunk",
                               GUIDED_MAX);
        if (table)
            table[b] = r;
        b++;
        r += q;
    }
    if (table)
        table[b] = rows;
    d->nblocks = b;
    return 0;
}

/* Fill the geometry fields of d for `rows` rows on `n` workers; `guided`
 * receives a guided schedule's table (NULL: count only). */
static int resolve_schedule(const sharr_schedule *req, size_t rows, size_t n,
                            struct job_desc *d, uint64_t *guided)
{
    sharr_schedule s = *req;

    if (s.kind == SHARR_SCHED_DEFAULT) {
        const char *env = getenv("SHARR_SCHEDULE");
        if (!env || !*env)
            s.kind = SHARR_SCHED_STATIC;
        else if (sharr_schedule_parse(env, &s) < 0)
            return sharr__fail(SHARR_EINVAL, "$SHARR_SCHEDULE: %s",
                               sharr_errmsg());
    }
    d->rows = rows;
    d->nworkers = n;
    d->claim_static = s.kind == SHARR_SCHED_STATIC;
    d->geometry = GEOM_CHUNK;
    d->chunk = s.chunk ? s.chunk : 1;
    if (s.kind == SHARR_SCHED_STATIC && s.chunk == 0) {
        d->geometry = GEOM_EVEN;
        d->nblocks = rows < n ? rows : n;
        return 0;
    }
    if (s.kind == SHARR_SCHED_AUTO)
        d->chunk = rows / (4 * n) ? rows / (4 * n) : 1;
    if (s.kind == SHARR_SCHED_GUIDED) {
        d->geometry = GEOM_GUIDED;
        return guided_blocks(d, guided);
    }
    d->nblocks = rows / d->chunk + (rows % d->chunk != 0);
    return 0;
}

static void block_rows(const struct job_desc *d, const uint64_t *guided,
                       size_t b, size_t *r0, size_t *r1)
{
    switch (d->geometry) {
    case GEOM_EVEN: {
        size_t q = d->rows / d->nblocks, rem = d->rows % d->nblocks;
        *r0 = b * q + (b < rem ? b : rem);
        *r1 = *r0 + q + (b < rem);
        break;
    }
    case GEOM_GUIDED:
        *r0 = guided[b];
        *r1 = guided[b + 1];
        break;
    default:
        *r0 = b * d->chunk;
        *r1 = d->rows - *r0 < d->chunk ? d->rows : *r0 + d->chunk;
        break;
    }
}

static void *result_slot(const struct job_desc *d, unsigned char *results,
                         size_t b, size_t r0)
{
    if (d->result_size == 0)
        return NULL;
    return results + (d->per_row ? r0 : b) * d->result_size;
}

/* ---- the job descriptor from a spec ---- */

static int describe_arrays(const sharr_job_spec *spec, struct job_desc *d,
                           size_t *rows)
{
    bool have_rows = false;

    if (spec->narrays > SHARR_JOB_MAX_ARRAYS)
        return sharr__fail(SHARR_EINVAL, "%zu arrays: a job takes at most %d",
                           spec->narrays, SHARR_JOB_MAX_ARRAYS);
    *rows = spec->rows;
    d->narrays = (uint32_t)spec->narrays;
    for (size_t i = 0; i < spec->narrays; i++) {
        const sharr_array *a = spec->arrays[i];
        struct job_array *ja = &d->arrays[i];
        if (!a)
            return sharr__fail(SHARR_EINVAL, "array %zu is NULL", i);
        snprintf(ja->name, sizeof ja->name, "%s", sharr_array_name(a));
        sharr_array_id(a, ja->id);
        ja->dtype = sharr_array_dtype(a);
        ja->open_flags = sharr__array_open_flags(a);
        ja->rows = sharr_array_rows(a);
        ja->row_bytes = sharr_array_row_bytes(a);
        ja->whole = (spec->whole >> i) & 1u;
        if (ja->whole)
            continue;
        if (have_rows && ja->rows != *rows)
            return sharr__fail(SHARR_ESHAPE, "array '%s' has %zu rows, the "
                               "job's other arrays %zu", ja->name,
                               (size_t)ja->rows, *rows);
        *rows = ja->rows;
        have_rows = true;
    }
    return 0;
}

static int describe(const sharr_job_spec *spec, size_t nworkers,
                    struct job_desc *d, uint64_t *guided, size_t results_max)
{
    size_t rows = 0, need;
    int err;

    if (!spec || !spec->kernel)
        return sharr__fail(SHARR_EINVAL, "the job has no kernel");
    if (spec->arg_size > SHARR_JOB_ARG_MAX || (spec->arg_size && !spec->arg))
        return sharr__fail(SHARR_EINVAL, "argument of %zu bytes: the limit "
                           "is %d; put big inputs in a shared array",
                           spec->arg_size, SHARR_JOB_ARG_MAX);
    memset(d, 0, offsetof(struct job_desc, arrays));
    memset(&d->rows, 0,
           offsetof(struct job_desc, arg) - offsetof(struct job_desc, rows));
    if ((err = describe_arrays(spec, d, &rows)) < 0 ||
        (err = resolve_schedule(&spec->schedule, rows, nworkers, d,
                                guided)) < 0)
        return err;
    d->kernel = spec->kernel;
    d->result_size = spec->result_size;
    d->per_row = spec->per_row_results != 0;
    d->notify_each = spec->progress != NULL;
    d->plain_errors = spec->plain_errors != 0;
    d->arg_size = spec->arg_size;
    if (!sharr__mul_ok(d->per_row ? rows : d->nblocks, d->result_size, &need)
        || need > results_max)
        return sharr__fail(SHARR_EINVAL, "results need %zu bytes; the pool "
                           "reserved %zu (sharr_pool_opts.results_bytes)",
                           need, results_max);
    return 0;
}

/* ---- the worker ---- */

struct cache_entry {
    sharr_array *a;
    unsigned char id[16];
    uint64_t used;
};

#define CACHE_SIZE 32

struct worker {
    struct pool_shared *sh;
    uint64_t *guided;
    unsigned char *results;
    int id;
    int evfd;
    pid_t parent;
    uint32_t seen;
    struct cache_entry cache[CACHE_SIZE];
    uint64_t tick;
    double spin_us;
    unsigned yield_every;
    int pin_cpu;              /* -1: not pinned */
};

__attribute__((noreturn)) static void worker_exit(struct worker *w, int st)
{
    for (int i = 0; i < CACHE_SIZE; i++)
        sharr_array_close(w->cache[i].a);
    sharr__child_exit(st);
}

/* The worker's mapping of job array `ja`, opening (or re-opening, when the
 * name now holds another segment) as needed. */
static int attach(struct worker *w, const struct job_array *ja,
                  sharr_array **out)
{
    struct cache_entry *e = NULL, *victim = &w->cache[0];
    int err;

    for (int i = 0; i < CACHE_SIZE; i++) {
        struct cache_entry *c = &w->cache[i];
        if (c->a && strcmp(sharr_array_name(c->a), ja->name) == 0)
            e = c;
        if (!c->a || (victim->a && c->used < victim->used))
            victim = c;
    }
    bool want_write = !(ja->open_flags & SHARR_OPEN_RDONLY);
    if (e && memcmp(e->id, ja->id, 16) == 0 &&
        want_write == (sharr_array_writable(e->a) != 0)) {
        e->used = ++w->tick;
        *out = e->a;
        return 0;
    }
    if (!e)
        e = victim;
    sharr_array_close(e->a);
    e->a = NULL;
    if ((err = sharr_array_open(ja->name, ja->open_flags, &e->a)) < 0)
        return sharr__fail(err, "worker %d cannot attach array '%s': %s",
                           w->id, ja->name, sharr_errmsg());
    sharr_array_id(e->a, e->id);
    if (memcmp(e->id, ja->id, 16) != 0 || sharr_array_rows(e->a) != ja->rows
        || sharr_array_row_bytes(e->a) != ja->row_bytes)
        return sharr__fail(SHARR_ENOENT, "array '%s' was removed and created "
                           "again since the caller opened it: the name no "
                           "longer holds the caller's array", ja->name);
    e->used = ++w->tick;
    *out = e->a;
    return 0;
}

static void record_error(struct pool_shared *sh, int code, size_t b,
                         const char *msg)
{
    int32_t zero = 0;
    if (atomic_compare_exchange_strong(&sh->error, &zero, code)) {
        atomic_store(&sh->error_block, b);
        snprintf(sh->errmsg, sizeof sh->errmsg, "%s", msg);
    }
    atomic_store(&sh->abort, 1);
}

static void run_block(struct worker *w, const struct job_desc *d,
                      sharr_array **arrays, size_t b)
{
    struct pool_shared *sh = w->sh;
    sharr_block blk;
    char msg[ERRMSG_SIZE];
    int rc;

    memset(&blk, 0, sizeof blk);
    atomic_store_explicit(&w->sh->slots[w->id].block, (int64_t)b,
                          memory_order_relaxed);
    block_rows(d, w->guided, b, &blk.r0, &blk.r1);
    blk.index = b;
    blk.worker = w->id;
    blk.narrays = d->narrays;
    for (size_t i = 0; i < d->narrays; i++) {
        unsigned char *base = sharr_array_data(arrays[i]);
        blk.array[i] = arrays[i];
        blk.data[i] = d->arrays[i].whole ? base
                                          : base + blk.r0 * d->arrays[i].row_bytes;
    }
    blk.arg = d->arg;
    blk.arg_size = d->arg_size;
    blk.result = result_slot(d, w->results, b, blk.r0);
    sharr__errmsg_clear();
    rc = d->kernel(&blk);
    atomic_store_explicit(&sh->slots[w->id].block, -1, memory_order_relaxed);
    if (rc != 0) {
        const char *detail = sharr_errmsg()[0] ? sharr_errmsg()
                                               : sharr_strerror(rc);
        if (d->plain_errors)
            snprintf(msg, sizeof msg, "%s", detail);
        else
            snprintf(msg, sizeof msg, "block %zu (rows %zu..%zu) on worker "
                     "%d: %s", b, blk.r0, blk.r1, w->id, detail);
        record_error(sh, rc < 0 ? rc : SHARR_EINVAL, b, msg);
    }
}

/* Count a finished (or skipped) batch of blocks and wake a sleeping caller
 * when the job is complete, after every block if it wants progress, and
 * after every block of an aborted job. */
static void finish_blocks(struct worker *w, const struct job_desc *d,
                          uint64_t n, bool skipped)
{
    if (skipped)
        atomic_fetch_add(&w->sh->skipped, n);
    uint64_t done = atomic_fetch_add(&w->sh->done, n) + n;
    /* After an abort the caller waits for the last block in progress, not
     * for the count, so every block end may be the one it waits for. */
    if ((done == d->nblocks || d->notify_each || atomic_load(&w->sh->abort))
        && atomic_load(&w->sh->caller_sleeping))
        notify(w->evfd);
}

static void run_job(struct worker *w)
{
    const struct job_desc *d = &w->sh->desc;
    struct pool_shared *sh = w->sh;
    sharr_array *arrays[SHARR_JOB_MAX_ARRAYS];
    int err = 0;

    for (size_t i = 0; i < d->narrays && err == 0; i++)
        err = attach(w, &d->arrays[i], &arrays[i]);
    if (err < 0)
        record_error(sh, err, 0, sharr_errmsg());
    if (d->claim_static) {
        size_t n = d->nworkers;
        for (size_t b = (size_t)w->id; b < d->nblocks; b += n) {
            if (atomic_load(&sh->abort)) {
                finish_blocks(w, d, (d->nblocks - b + n - 1) / n, true);
                break;
            }
            run_block(w, d, arrays, b);
            finish_blocks(w, d, 1, false);
        }
        return;
    }
    for (;;) {
        if (atomic_load(&sh->abort)) {
            uint64_t b = atomic_exchange(&sh->next_block, d->nblocks);
            if (b < d->nblocks)
                finish_blocks(w, d, d->nblocks - b, true);
            return;
        }
        uint64_t b = atomic_fetch_add(&sh->next_block, 1);
        if (b >= d->nblocks)
            return;
        run_block(w, d, arrays, b);
        finish_blocks(w, d, 1, false);
    }
}

/* Wait until job_seq moves past w->seen to an even value; returns it. */
static uint32_t wait_for_job(struct worker *w)
{
    struct pool_shared *sh = w->sh;
    double spin_end = now_s() + w->spin_us * 1e-6;
    unsigned n = 0;

    for (;;) {
        uint32_t v = atomic_load(&sh->job_seq);
        if (v != w->seen && !(v & 1u))
            return v;
        if (++n % 256 != 0 || now_s() < spin_end) {
            spin_step(n, w->yield_every);
            continue;
        }
        atomic_fetch_add(&sh->sleepers, 1);
        if (atomic_load(&sh->job_seq) == v)
            futex_wait(&sh->job_seq, v, 1.0);
        atomic_fetch_sub(&sh->sleepers, 1);
        if (getppid() != w->parent)
            worker_exit(w, 0); /* the caller is gone */
    }
}

__attribute__((noreturn)) static void worker_main(struct worker *w,
                                                  const sharr_pool_opts *o)
{
    struct pool_shared *sh = w->sh;
    struct worker_slot *slot = &sh->slots[w->id];

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != w->parent) /* died before PDEATHSIG was armed */
        worker_exit(w, 0);
    signal(SIGINT, SIG_IGN);
    prctl(PR_SET_NAME, "sharr-worker", 0, 0, 0);
    openblas_set_num_threads(o->blas_threads > 0 ? o->blas_threads : 1);
    if (w->pin_cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((size_t)w->pin_cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    if (o->init) {
        sharr__errmsg_clear();
        int rc = o->init(w->id, o->init_arg);
        if (rc != 0) {
            slot->init_error = rc < 0 ? rc : SHARR_EINVAL;
            snprintf(slot->init_msg, sizeof slot->init_msg, "%s",
                     sharr_errmsg()[0] ? sharr_errmsg() : sharr_strerror(rc));
            atomic_store(&slot->state, W_INIT_FAILED);
            notify(w->evfd);
            worker_exit(w, 1);
        }
    }
    atomic_store(&slot->state, W_READY);
    notify(w->evfd);
    for (;;) {
        uint32_t v = wait_for_job(w);
        atomic_store(&slot->active, 1);
        if (atomic_load(&sh->job_seq) != v) {
            atomic_store(&slot->active, 0); /* a new descriptor is coming */
            continue;
        }
        w->seen = v;
        if (atomic_load(&sh->shutdown))
            worker_exit(w, 0);
        run_job(w);
        atomic_store(&slot->active, 0);
    }
}

/* ---- starting, replacing and reaping workers ---- */

static int reap(pid_t pid, int *status)
{
    pid_t rc;
    do {
        rc = waitpid(pid, status, 0);
    } while (rc < 0 && errno == EINTR);
    return rc < 0 ? -errno : 0;
}

static void describe_death(int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status))
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
    else
        snprintf(buf, size, "ended (status 0x%x)", status);
}

static int fork_worker(sharr_pool *p, int i)
{
    struct worker_slot *slot = &p->sh->slots[i];
    pid_t pid;

    atomic_store(&slot->state, W_STARTING);
    atomic_store(&slot->active, 0);
    atomic_store(&slot->block, -1);
    fflush(NULL); /* a child must not flush the caller's buffers again */
    if ((pid = fork()) < 0)
        return sharr__fail_os(-errno, "fork of worker %d", i);
    if (pid == 0) {
        struct worker w;
        memset(&w, 0, sizeof w);
        w.sh = p->sh;
        w.guided = p->guided;
        w.results = p->results;
        w.id = i;
        w.evfd = p->evfd;
        w.parent = p->parent;
        w.seen = atomic_load(&p->sh->job_seq);
        w.spin_us = p->spin_us;
        w.yield_every = p->yield_every;
        w.pin_cpu = p->pin ? p->cpus[i % p->ncpus] : -1;
        for (int k = 0; k < p->nworkers; k++)
            if (p->pidfd[k] >= 0)
                close(p->pidfd[k]);
        worker_main(&w, &p->opts);
    }
    p->pid[i] = pid;
    p->pidfd[i] = (int)syscall(SYS_pidfd_open, pid, 0);
    if (p->pidfd[i] < 0)
        return sharr__fail_os(-errno, "pidfd_open of worker %d", i);
    return 0;
}

static void kill_and_reap(sharr_pool *p, int i, int *status)
{
    int st = 0;
    if (p->pid[i] > 0) {
        kill(p->pid[i], SIGKILL);
        reap(p->pid[i], &st);
    }
    if (p->pidfd[i] >= 0)
        close(p->pidfd[i]);
    p->pid[i] = -1;
    p->pidfd[i] = -1;
    if (status)
        *status = st;
}

/* Wait until workers [from, to) are ready; on failure the detail says why. */
static int await_ready(sharr_pool *p, int from, int to)
{
    struct pollfd fds[SHARR_POOL_MAX_WORKERS + 1];

    for (;;) {
        int pending = 0, n = 0;
        for (int i = from; i < to; i++) {
            struct worker_slot *slot = &p->sh->slots[i];
            uint32_t st = atomic_load(&slot->state);
            if (st == W_INIT_FAILED)
                return sharr__fail(SHARR_EWORKER, "the initializer of worker "
                                   "%d failed: %s", i, slot->init_msg);
            if (st == W_STARTING) {
                pending++;
                fds[n++] = (struct pollfd){p->pidfd[i], POLLIN, 0};
            }
        }
        if (!pending)
            return 0;
        fds[n++] = (struct pollfd){p->evfd, POLLIN, 0};
        if (poll(fds, (nfds_t)n, 1000) < 0 && errno != EINTR)
            return sharr__fail_os(-errno, "poll");
        drain(p->evfd);
        for (int k = 0; k < n - 1; k++) {
            if (!(fds[k].revents & POLLIN))
                continue;
            for (int i = from; i < to; i++) {
                if (p->pidfd[i] == fds[k].fd &&
                    atomic_load(&p->sh->slots[i].state) == W_STARTING) {
                    char why[128];
                    int st;
                    kill_and_reap(p, i, &st);
                    describe_death(st, why, sizeof why);
                    return sharr__fail(SHARR_EWORKER, "worker %d %s while "
                                       "starting", i, why);
                }
            }
        }
    }
}

/* Worker i died: reap it (its status into *status) and start another. */
static int replace_worker(sharr_pool *p, int i, int *status)
{
    int err;

    kill_and_reap(p, i, status);
    if ((err = fork_worker(p, i)) < 0 || (err = await_ready(p, i, i + 1)) < 0) {
        p->broken = err;
        snprintf(p->broken_msg, sizeof p->broken_msg, "worker %d could not "
                 "be replaced: %s", i, sharr_errmsg());
        kill_and_reap(p, i, NULL);
        return err;
    }
    return 0;
}

static bool worker_dead(const sharr_pool *p, int i)
{
    struct pollfd fd = {p->pidfd[i], POLLIN, 0};
    return p->pidfd[i] < 0 || (poll(&fd, 1, 0) == 1 && (fd.revents & POLLIN));
}

/* The CPUs the caller may run on (taskset, cgroup cpusets), in order. */
static void allowed_cpus(sharr_pool *p)
{
    cpu_set_t set;

    p->ncpus = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE && p->ncpus < SHARR_POOL_MAX_WORKERS;
             c++)
            if (CPU_ISSET(c, &set))
                p->cpus[p->ncpus++] = c;
    if (p->ncpus == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        for (long c = 0; c < n && c < SHARR_POOL_MAX_WORKERS; c++)
            p->cpus[p->ncpus++] = (int)c;
    }
    if (p->ncpus == 0)
        p->cpus[p->ncpus++] = 0;
}

int sharr_pool_create(const sharr_pool_opts *opts, sharr_pool **out)
{
    sharr_pool *p;
    int err = 0;
    const char *spin = getenv("SHARR_SPIN_US");

    *out = NULL;
    if (!(p = calloc(1, sizeof *p)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    p->evfd = -1;
    p->sh = MAP_FAILED;
    for (int i = 0; i < SHARR_POOL_MAX_WORKERS; i++)
        p->pidfd[i] = p->pid[i] = -1;
    if (opts)
        p->opts = *opts;
    allowed_cpus(p);
    /* Clamped so that a refused count never indexes past the tables. */
    p->nworkers = p->opts.workers > 0 ? p->opts.workers : p->ncpus;
    if (p->nworkers > SHARR_POOL_MAX_WORKERS)
        p->nworkers = 0;
    p->results_bytes = p->opts.results_bytes ? p->opts.results_bytes
                                             : DEFAULT_RESULTS;
    p->spin_us = spin && *spin ? atof(spin) : SPIN_US_DEFAULT;
    p->yield_every = p->nworkers >= p->ncpus ? 1 : 64;
    p->pin = p->opts.pin > 0 || (p->opts.pin == 0 && p->nworkers == p->ncpus);
    p->parent = getpid();
    if (p->opts.workers < 0 || p->nworkers == 0 || p->opts.blas_threads < 0) {
        err = sharr__fail(SHARR_EINVAL, "workers = %d, blas_threads = %d: "
                          "workers must be 0..%d and blas_threads >= 0",
                          p->opts.workers, p->opts.blas_threads,
                          SHARR_POOL_MAX_WORKERS);
        goto fail;
    }
    size_t head = (sizeof(struct pool_shared) + 4095) & ~(size_t)4095;
    size_t table = ((GUIDED_MAX + 1) * sizeof(uint64_t) + 4095) &
                   ~(size_t)4095;
    p->map_size = head + table + p->results_bytes;
    p->sh = mmap(NULL, p->map_size, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p->sh == MAP_FAILED) {
        err = sharr__fail_os(-errno, "mmap of %zu bytes for the pool",
                             p->map_size);
        goto fail;
    }
    p->guided = (uint64_t *)(void *)((char *)p->sh + head);
    p->results = (unsigned char *)p->sh + head + table;
    p->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->evfd < 0) {
        err = sharr__fail_os(-errno, "eventfd");
        goto fail;
    }
    for (int i = 0; i < p->nworkers && err == 0; i++)
        err = fork_worker(p, i);
    if (err == 0)
        err = await_ready(p, 0, p->nworkers);
    if (err < 0)
        goto fail;
    *out = p;
    return 0;
fail:
    sharr_pool_terminate(p);
    return err;
}

static void free_pool(sharr_pool *p)
{
    if (p->job) {
        p->job->pool = NULL; /* the handle dies with the pool */
        free(p->job);
    }
    if (p->evfd >= 0)
        close(p->evfd);
    if (p->sh != MAP_FAILED)
        munmap(p->sh, p->map_size);
    free(p);
}

void sharr_pool_terminate(sharr_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nworkers; i++)
        if (p->pid[i] > 0)
            kill(p->pid[i], SIGKILL);
    for (int i = 0; i < p->nworkers; i++)
        kill_and_reap(p, i, NULL);
    free_pool(p);
}

static void publish(sharr_pool *p);

void sharr_pool_destroy(sharr_pool *p)
{
    if (!p)
        return;
    if (p->job && !p->job->finished)
        sharr_job_wait(p->job, -1);
    atomic_store(&p->sh->shutdown, 1);
    publish(p);
    double deadline = now_s() + 5.0;
    for (int i = 0; i < p->nworkers; i++) {
        struct pollfd fd = {p->pidfd[i], POLLIN, 0};
        double left = deadline - now_s();
        if (p->pidfd[i] >= 0)
            poll(&fd, 1, left > 0 ? (int)(left * 1000) + 1 : 0);
        kill_and_reap(p, i, NULL); /* SIGKILL only reaches a laggard */
    }
    free_pool(p);
}

int sharr_pool_workers(const sharr_pool *p)
{
    return p ? p->nworkers : 1;
}

pid_t sharr_pool_worker_pid(const sharr_pool *p, int i)
{
    if (!p || i < 0 || i >= p->nworkers)
        return -1;
    return p->pid[i];
}

/* Replace the workers that died between jobs; one poll() for all of them,
 * since this runs at every submit. */
static int replace_dead_workers(sharr_pool *p)
{
    struct pollfd fds[SHARR_POOL_MAX_WORKERS];
    int err;

    for (int i = 0; i < p->nworkers; i++)
        fds[i] = (struct pollfd){p->pidfd[i], POLLIN, 0};
    if (poll(fds, (nfds_t)p->nworkers, 0) <= 0)
        return 0;
    for (int i = 0; i < p->nworkers; i++)
        if ((fds[i].revents & (POLLIN | POLLHUP)) &&
            (err = replace_worker(p, i, NULL)) < 0)
            return err;
    return 0;
}

/* ---- jobs ---- */

/* Make the descriptor writable: odd seq, then wait until no live worker is
 * inside the previous job.  Dead workers are replaced first. */
static int quiesce(sharr_pool *p)
{
    struct pool_shared *sh = p->sh;
    uint32_t s = atomic_load(&sh->job_seq);

    if (!(s & 1u))
        atomic_store(&sh->job_seq, s + 1);
    for (int i = 0; i < p->nworkers; i++) {
        unsigned n = 0;
        while (atomic_load(&sh->slots[i].active)) {
            if (++n % 1024 == 0 && worker_dead(p, i)) {
                int err = replace_worker(p, i, NULL);
                if (err < 0)
                    return err;
                break;
            }
            spin_step(n, p->yield_every);
        }
    }
    return 0;
}

/* The descriptor is complete: make seq even again and wake sleepers. */
static void publish(sharr_pool *p)
{
    struct pool_shared *sh = p->sh;
    uint32_t s = atomic_load(&sh->job_seq);

    atomic_store(&sh->job_seq, (s | 1u) + 1);
    if (atomic_load(&sh->sleepers) > 0)
        futex_wake_all(&sh->job_seq);
}

/* Run the job in the caller (pool == NULL). */
static int run_inline(sharr_job *job, const sharr_job_spec *spec)
{
    const struct job_desc *d = &job->geom;

    for (size_t b = 0; b < d->nblocks && job->status == 0; b++) {
        sharr_block blk;
        memset(&blk, 0, sizeof blk);
        block_rows(d, job->guided, b, &blk.r0, &blk.r1);
        blk.index = b;
        blk.narrays = spec->narrays;
        for (size_t i = 0; i < spec->narrays; i++) {
            unsigned char *base = sharr_array_data(spec->arrays[i]);
            blk.array[i] = spec->arrays[i];
            blk.data[i] = d->arrays[i].whole
                              ? base : base + blk.r0 * d->arrays[i].row_bytes;
        }
        blk.arg = spec->arg;
        blk.arg_size = spec->arg_size;
        blk.result = result_slot(d, job->results, b, blk.r0);
        sharr__errmsg_clear();
        int rc = spec->kernel(&blk);
        job->done_inline = b + 1;
        if (rc != 0) {
            const char *detail = sharr_errmsg()[0] ? sharr_errmsg()
                                                   : sharr_strerror(rc);
            job->status = rc < 0 ? rc : SHARR_EINVAL;
            job->error_block = b;
            if (d->plain_errors)
                snprintf(job->errmsg, sizeof job->errmsg, "%s", detail);
            else
                snprintf(job->errmsg, sizeof job->errmsg, "block %zu (rows "
                         "%zu..%zu): %s", b, blk.r0, blk.r1, detail);
        }
        if (spec->progress)
            spec->progress(job->done_inline, d->nblocks, spec->progress_ctx);
    }
    job->finished = true;
    return 0;
}

static int submit_inline(const sharr_job_spec *spec, sharr_job *job)
{
    int err;

    job->own_buffers = true;
    if (!(job->guided = malloc((GUIDED_MAX + 1) * sizeof(uint64_t))))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    if ((err = describe(spec, 1, &job->geom, job->guided, SIZE_MAX)) < 0)
        return err;
    job->results_len = (job->geom.per_row ? job->geom.rows
                                          : job->geom.nblocks) *
                       job->geom.result_size;
    if (job->results_len &&
        !(job->results = calloc(1, job->results_len)))
        return sharr__fail(SHARR_ENOMEM, "out of memory for %zu bytes of "
                           "results", job->results_len);
    return run_inline(job, spec);
}

static int submit_pool(sharr_pool *p, const sharr_job_spec *spec,
                       sharr_job *job)
{
    struct pool_shared *sh = p->sh;
    struct job_desc *d = &sh->desc, stage;
    int err;

    if (p->broken)
        return sharr__fail(p->broken, "%s", p->broken_msg);
    if (p->job)
        return sharr__fail(SHARR_EBUSY, "the previous job of this pool was "
                           "not freed (sharr_job_free)");
    if ((err = replace_dead_workers(p)) < 0)
        return sharr__fail(err, "%s", p->broken_msg);
    /* Validate into a private copy first: the shared descriptor is only
     * touched once the workers are out of the previous job. */
    if ((err = describe(spec, (size_t)p->nworkers, &stage, NULL,
                        p->results_bytes)) < 0 ||
        (err = quiesce(p)) < 0)
        return err;
    /* Copy only what workers will read: the fixed fields, the arrays in
     * use and the argument bytes (a job publishes in microseconds). */
    memcpy(d, &stage, offsetof(struct job_desc, arrays));
    memcpy(d->arrays, stage.arrays, stage.narrays * sizeof *stage.arrays);
    memcpy(&d->rows, &stage.rows,
           offsetof(struct job_desc, arg) - offsetof(struct job_desc, rows));
    if (spec->arg_size)
        memcpy(d->arg, spec->arg, spec->arg_size);
    if (d->geometry == GEOM_GUIDED)
        guided_blocks(d, p->guided);
    memcpy(&job->geom, &stage, offsetof(struct job_desc, arg));
    job->guided = p->guided;
    job->results = p->results;
    job->results_len = (d->per_row ? d->rows : d->nblocks) * d->result_size;
    if (job->results_len)
        memset(p->results, 0, job->results_len);
    atomic_store(&sh->next_block, 0);
    atomic_store(&sh->done, 0);
    atomic_store(&sh->skipped, 0);
    atomic_store(&sh->abort, 0);
    atomic_store(&sh->error, 0);
    atomic_store(&sh->error_block, 0);
    sh->errmsg[0] = '\0';
    job->pool = p;
    p->job = job;
    publish(p);
    if (d->nblocks == 0)
        job->finished = true;
    return 0;
}

int sharr_pool_submit(sharr_pool *p, const sharr_job_spec *spec,
                      sharr_job **out)
{
    sharr_job *job;
    int err;

    *out = NULL;
    if (!(job = calloc(1, sizeof *job)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    if (spec) {
        job->progress = spec->progress;
        job->progress_ctx = spec->progress_ctx;
    }
    err = p ? submit_pool(p, spec, job) : submit_inline(spec, job);
    if (err < 0) {
        if (p && p->job == job)
            p->job = NULL;
        job->pool = NULL;
        sharr_job_free(job);
        return err;
    }
    *out = job;
    return 0;
}

/* ---- waiting ---- */

static void report_progress(sharr_job *job, size_t done)
{
    if (job->progress && done != job->last_progress) {
        job->last_progress = done;
        job->progress(done, job->geom.nblocks, job->progress_ctx);
    }
}

static bool complete(const sharr_pool *p, const sharr_job *job)
{
    const struct pool_shared *sh = p->sh;

    if (atomic_load(&sh->done) >= job->geom.nblocks)
        return true;
    if (!atomic_load(&sh->abort))
        return false;
    /* Aborted: done once nobody is inside a block any more.  A worker that
     * has not joined yet will see the abort and skip. */
    for (int i = 0; i < p->nworkers; i++)
        if (atomic_load(&sh->slots[i].active) &&
            atomic_load(&sh->slots[i].block) >= 0)
            return false;
    return true;
}

static void finish(sharr_job *job)
{
    struct pool_shared *sh = job->pool->sh;
    size_t done = atomic_load(&sh->done);
    size_t skipped = atomic_load(&sh->skipped);

    job->ran = done - skipped;
    job->status = atomic_load(&sh->error);
    job->error_block = atomic_load(&sh->error_block);
    snprintf(job->errmsg, sizeof job->errmsg, "%s", sh->errmsg);
    if (job->status == 0 && job->canceled && skipped > 0) {
        job->status = SHARR_ECANCELED;
        snprintf(job->errmsg, sizeof job->errmsg, "the job was cancelled "
                 "after %zu of %zu blocks", job->ran, (size_t)job->geom.nblocks);
    }
    report_progress(job, done < job->geom.nblocks ? done : job->geom.nblocks);
    job->finished = true;
}

/* A worker's pidfd is readable: fail the job, naming worker, block and
 * signal, and replace the worker. */
static void on_death(sharr_pool *p, int i)
{
    struct pool_shared *sh = p->sh;
    int64_t block = atomic_load(&sh->slots[i].block);
    pid_t pid = p->pid[i];
    char why[128], msg[ERRMSG_SIZE];
    int st = 0;

    kill_and_reap(p, i, &st);
    describe_death(st, why, sizeof why);
    if (block >= 0) {
        size_t r0, r1;
        block_rows(&sh->desc, p->guided, (size_t)block, &r0, &r1);
        snprintf(msg, sizeof msg, "worker %d (pid %d) %s in block %lld "
                 "(rows %zu..%zu)", i, (int)pid, why, (long long)block, r0,
                 r1);
    } else {
        snprintf(msg, sizeof msg, "worker %d (pid %d) %s between blocks", i,
                 (int)pid, why);
    }
    record_error(sh, SHARR_EWORKER, block >= 0 ? (size_t)block : 0, msg);
    atomic_store(&sh->slots[i].active, 0);
    replace_worker(p, i, NULL);
}

/* The deadline passed: fail the job and kill the workers stuck in blocks. */
static void on_timeout(sharr_pool *p, double waited)
{
    struct pool_shared *sh = p->sh;
    char msg[ERRMSG_SIZE];
    int len, killed = 0;

    len = snprintf(msg, sizeof msg, "the job timed out after %.3g s; killed "
                   "and replaced", waited);
    for (int i = 0; i < p->nworkers; i++) {
        int64_t b = atomic_load(&sh->slots[i].block);
        if (b < 0 || !atomic_load(&sh->slots[i].active))
            continue;
        if (len > 0 && (size_t)len < sizeof msg)
            len += snprintf(msg + len, sizeof msg - (size_t)len, "%s worker "
                            "%d (block %lld)", killed ? "," : "", i,
                            (long long)b);
        killed++;
        kill(p->pid[i], SIGKILL);
    }
    if (!killed)
        snprintf(msg, sizeof msg, "the job timed out after %.3g s", waited);
    record_error(sh, SHARR_ETIMEDOUT, 0, msg);
    for (int i = 0; i < p->nworkers; i++) {
        if (atomic_load(&sh->slots[i].block) >= 0 && worker_dead(p, i)) {
            kill_and_reap(p, i, NULL);
            atomic_store(&sh->slots[i].active, 0);
            replace_worker(p, i, NULL);
        }
    }
}

/* Sleep until a worker wakes us, one dies, or `secs` pass. */
static void sleep_on_workers(sharr_pool *p, double secs)
{
    struct pollfd fds[SHARR_POOL_MAX_WORKERS + 1];
    int n = 0;

    fds[n++] = (struct pollfd){p->evfd, POLLIN, 0};
    for (int i = 0; i < p->nworkers; i++)
        fds[n++] = (struct pollfd){p->pidfd[i], POLLIN, 0};
    if (poll(fds, (nfds_t)n, secs < 0 ? -1 : (int)(secs * 1000) + 1) <= 0)
        return;
    drain(p->evfd);
    for (int i = 0; i < p->nworkers; i++)
        if (fds[i + 1].fd >= 0 && (fds[i + 1].revents & (POLLIN | POLLHUP)))
            on_death(p, i);
}

/* 1 when the job finished, 0 when `deadline` passed first (deadline < 0:
 * none).  With may_kill, the deadline kills the stuck workers instead. */
static int wait_pool(sharr_job *job, double deadline, bool may_kill)
{
    sharr_pool *p = job->pool;
    struct pool_shared *sh = p->sh;
    double start = now_s(), spin_end = start + WAIT_SPIN_US * 1e-6;
    unsigned n = 0;

    for (;;) {
        report_progress(job, atomic_load(&sh->done));
        if (complete(p, job)) {
            finish(job);
            return 1;
        }
        double t = now_s();
        if (deadline >= 0 && t >= deadline) {
            if (!may_kill)
                return 0;
            on_timeout(p, t - start);
            deadline = t + 0.05; /* look again soon for late stragglers */
            continue;
        }
        if (t < spin_end) {
            spin_step(++n, p->yield_every);
            continue;
        }
        atomic_store(&sh->caller_sleeping, 1);
        if (!complete(p, job)) {
            double secs = job->progress ? 0.25 : 1.0;
            if (deadline >= 0 && deadline - t < secs)
                secs = deadline - t;
            sleep_on_workers(p, secs);
        }
        atomic_store(&sh->caller_sleeping, 0);
    }
}

static int job_status(const sharr_job *job)
{
    if (job->status != 0)
        sharr__fail(job->status, "%s", job->errmsg);
    return job->status;
}

int sharr_job_wait(sharr_job *job, double timeout_s)
{
    if (!job->finished && job->pool)
        wait_pool(job, timeout_s < 0 ? -1.0 : now_s() + timeout_s, true);
    return job_status(job);
}

int sharr_job_poll(sharr_job *job, double timeout_s)
{
    if (job->finished || !job->pool)
        return 1;
    return wait_pool(job, now_s() + (timeout_s > 0 ? timeout_s : 0), false);
}

void sharr_job_progress(const sharr_job *job, size_t *done, size_t *total)
{
    size_t n = job->geom.nblocks;

    *total = n;
    if (job->pool && !job->finished) {
        size_t d = atomic_load(&job->pool->sh->done);
        *done = d < n ? d : n;
    } else {
        *done = job->pool ? (job->finished ? n : 0) : job->done_inline;
    }
}

void sharr_job_cancel(sharr_job *job)
{
    if (job->finished || !job->pool)
        return;
    job->canceled = true;
    atomic_store(&job->pool->sh->abort, 1);
}

int sharr_job_error(const sharr_job *job, size_t *block)
{
    int err = job->status;
    size_t b = job->error_block;

    if (job->pool && !job->finished) {
        err = atomic_load(&job->pool->sh->error);
        b = atomic_load(&job->pool->sh->error_block);
    }
    if (block)
        *block = b;
    return err;
}

size_t sharr_job_blocks(const sharr_job *job)
{
    return job->geom.nblocks;
}

int sharr_job_block_rows(const sharr_job *job, size_t i, size_t *r0,
                         size_t *r1)
{
    if (i >= job->geom.nblocks)
        return sharr__fail(SHARR_EINVAL, "block %zu of %zu", i,
                           (size_t)job->geom.nblocks);
    block_rows(&job->geom, job->guided, i, r0, r1);
    return 0;
}

const void *sharr_job_result(const sharr_job *job, size_t i)
{
    size_t n = job->geom.per_row ? job->geom.rows : job->geom.nblocks;

    if (!job->results || job->geom.result_size == 0 || i >= n)
        return NULL;
    return job->results + i * job->geom.result_size;
}

void sharr_job_free(sharr_job *job)
{
    sharr_pool *p;

    if (!job)
        return;
    p = job->pool;
    if (p && !job->finished) {
        sharr_job_cancel(job);
        wait_pool(job, -1.0, false);
    }
    if (p && p->job == job) {
        p->job = NULL;
        /* Give back the pages of a large result area (shared memory is
         * only freed by MADV_REMOVE). */
        if (job->results_len > ((size_t)1 << 20))
            madvise(p->results, (job->results_len + 4095) & ~(size_t)4095,
                    MADV_REMOVE);
    }
    if (job->own_buffers) {
        free(job->guided);
        free(job->results);
    }
    free(job);
}

int sharr_pool_run(sharr_pool *p, const sharr_job_spec *spec)
{
    sharr_job *job;
    int err;

    if ((err = sharr_pool_submit(p, spec, &job)) < 0)
        return err;
    err = sharr_job_wait(job, -1);
    sharr_job_free(job);
    return err;
}
