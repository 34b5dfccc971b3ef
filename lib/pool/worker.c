/*
 * worker.c - the worker process: waits for a job, claims its blocks, runs
 * the kernel on each, and caches the arrays it attached.
 *
 * A worker is forked by the supervisor (supervisor.c), never by the caller,
 * and dies with it (PR_SET_PDEATHSIG: the supervisor has one thread).  It
 * leaves only through worker_exit(), which flushes stdio first.
 *
 * Publication (seqlock): job_seq is even when the descriptor is valid and
 * odd while the caller rewrites it.  A worker sets its slot's `active` and
 * then re-reads job_seq; the caller makes job_seq odd and then waits for
 * every `active` to drop.  Both use sequentially consistent operations, so
 * one always sees the other (Dekker).
 *
 * Claims (the abort race): before it looks at `abort` and claims a block, a
 * worker sets its `block` to BLOCK_CLAIMING; the caller sets `abort` and
 * then reads every `block`.  So when the caller sees no worker in a block
 * after an abort, every later claim sees the abort: no kernel of an aborted
 * job starts after the caller decided it was over.
 *
 * The end of a block: its entry in the worker's own block log (published
 * by log_len), then the count (`done`), then `block` = BLOCK_NONE.  A
 * caller that sees the count, or no worker in a block, sees every entry and
 * every result.  Only this worker writes its log and its slot, so the
 * bookkeeping shares no cache line with the other workers.
 *
 * Retiring (max_blocks_per_worker): after its last block the worker leaves
 * its job as between blocks (a static share's rest is left in `resume` for
 * the replacement), says RETIRING and exits; the supervisor replaces it.
 *
 * The cache: one entry per (name, id, writability).  Entries used by the
 * running job are pinned and never closed under it (the same array may be
 * passed twice with different open flags).  Whenever it goes to sleep,
 * wakes (at least once a second) and starts a job after sleeping, the
 * worker drops the entries whose segment lost its name, so removed arrays
 * give their memory back; back-to-back jobs pay nothing for it.
 */
#define _GNU_SOURCE
#include "pool.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#define CACHE_SIZE 32

struct cache_entry {
    sharr_array *a;
    unsigned char id[16];
    bool writable;
    uint64_t used;            /* tick of the last job that used it */
};

struct worker {
    const struct pool_conf *c;
    struct pool_shared *sh;
    struct worker_slot *slot;
    int id;
    pid_t parent;
    uint32_t seen;
    struct cache_entry cache[CACHE_SIZE];
    uint64_t tick;            /* jobs started */
    bool slept;               /* slept since the last sweep of the cache */
    double swept;             /* when the cache was last swept */
    sharr_array *arrays[SHARR_JOB_MAX_ARRAYS]; /* this job's, once attached */
    bool attached;
    size_t ran;               /* blocks run, for max_blocks_per_worker */
    bool retiring;
};

void sharr__notify(int evfd)
{
    uint64_t one = 1;
    ssize_t rc;
    do {
        rc = write(evfd, &one, sizeof one);
    } while (rc < 0 && errno == EINTR);
}

void sharr__record_error(struct pool_shared *sh, int code, size_t b,
                         const char *msg)
{
    int32_t zero = 0;
    if (atomic_compare_exchange_strong(&sh->error, &zero, code)) {
        atomic_store(&sh->error_block, b);
        snprintf(sh->errmsg, sizeof sh->errmsg, "%s", msg);
    }
    atomic_store(&sh->abort, 1);
}

void sharr__log_block_error(struct pool_shared *sh, size_t b,
                            const char *msg)
{
    uint64_t idx = atomic_fetch_add(&sh->errlog_next, 1);
    struct errlog_entry *e = &sh->errlog[idx % ERRLOG_SIZE];

    atomic_store(&e->seq, 0);
    e->block = b;
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    atomic_store_explicit(&e->seq, idx + 1, memory_order_release);
}

/* Only stdout and stderr: other FILEs were the caller's at pool creation,
 * and their fds are closed here (their numbers may be reused since). */
static void flush_stdio(void)
{
    fflush(stdout);
    fflush(stderr);
}

__attribute__((noreturn)) static void worker_exit(struct worker *w, int st)
{
    flush_stdio();
    for (int i = 0; i < CACHE_SIZE; i++)
        sharr_array_close(w->cache[i].a);
    sharr__child_exit(st);
}

/* ---- the array cache ---- */

static void cache_drop(struct cache_entry *e)
{
    sharr_array_close(e->a);
    memset(e, 0, sizeof *e);
}

/* Close the entries whose segment lost its name (one lstat each): a removed
 * array must not stay pinned in /dev/shm by a worker. */
static void cache_sweep(struct worker *w)
{
    w->swept = sharr__now();
    w->slept = false;
    for (int i = 0; i < CACHE_SIZE; i++) {
        struct cache_entry *e = &w->cache[i];
        if (e->a && sharr__array_unlinked(e->a))
            cache_drop(e);
    }
}

/* The worker's mapping of job array `ja`, opening (or re-opening, when the
 * name now holds another segment) as needed.  One entry per (name,
 * writability); entries already used by this job (used == tick) are never
 * closed, so one array passed twice with different flags stays mapped. */
static int attach(struct worker *w, const struct job_array *ja,
                  sharr_array **out)
{
    struct cache_entry *e = NULL, *victim = NULL;
    bool want_write = !(ja->open_flags & SHARR_OPEN_RDONLY);
    int err;

    for (int i = 0; i < CACHE_SIZE; i++) {
        struct cache_entry *c = &w->cache[i];
        if (c->a && c->writable == want_write &&
            strcmp(sharr_array_name(c->a), ja->name) == 0)
            e = c;
        else if (c->used != w->tick &&
                 (!victim || (victim->a && (!c->a || c->used < victim->used))))
            victim = c; /* the first empty entry, else the least recent */
    }
    /* A cached array reshaped since (through another handle) is reopened:
     * kernels read the shape from the handle they are given. */
    if (e && memcmp(e->id, ja->id, 16) == 0 &&
        !sharr__array_layout_changed(e->a)) {
        e->used = w->tick;
        *out = e->a;
        return 0;
    }
    if (e && e->used != w->tick)
        victim = e;
    /* A job pins at most SHARR_JOB_MAX_ARRAYS < CACHE_SIZE entries. */
    cache_drop(victim);
    if ((err = sharr_array_open(ja->name, ja->open_flags, &victim->a)) < 0)
        return sharr__fail(err, "worker %d cannot attach array '%s': %s",
                           w->id, ja->name, sharr_errmsg());
    sharr_array_id(victim->a, victim->id);
    victim->writable = sharr_array_writable(victim->a) != 0;
    victim->used = w->tick;
    if (memcmp(victim->id, ja->id, 16) != 0 ||
        sharr_array_rows(victim->a) != ja->rows ||
        sharr_array_row_bytes(victim->a) != ja->row_bytes)
        return sharr__fail(SHARR_ENOENT, "array '%s' was removed and created "
                           "again since the caller opened it: the name no "
                           "longer holds the caller's array", ja->name);
    *out = victim->a;
    return 0;
}

/* ---- blocks ---- */

/* Append block b's status to the log of slot `slot` (this worker's; or,
 * from the supervisor, a dead worker's). */
static void log_block(const struct pool_conf *c, int slot,
                      const struct job_desc *d, size_t b, int32_t st)
{
    _Atomic uint64_t *len = &c->sh->slots[slot].log_len;
    uint64_t n = atomic_load_explicit(len, memory_order_relaxed);

    if (!d->track || n >= c->log_cap)
        return;
    c->logs[(size_t)slot * c->log_cap + n] = (struct log_entry){(uint32_t)b,
                                                                st};
    atomic_store_explicit(len, n + 1, memory_order_release);
}

void sharr__log_death(const struct pool_conf *c, int slot, size_t b,
                      int code)
{
    log_block(c, slot, &c->sh->desc, b, code);
}

/* Run block b; @return its status (BLOCK_OK or the code). */
static int32_t run_block(struct worker *w, const struct job_desc *d,
                         sharr_array **arrays, size_t b)
{
    sharr_block blk;
    char msg[ERRMSG_SIZE];
    int rc;

    memset(&blk, 0, sizeof blk);
    sharr__block_rows(d, w->c->guided, b, &blk.r0, &blk.r1);
    blk.index = b;
    blk.worker = w->id;
    blk.narrays = d->narrays;
    for (size_t i = 0; i < d->narrays; i++) {
        unsigned char *base = sharr_array_data(arrays[i]);
        blk.array[i] = arrays[i];
        blk.data[i] = d->arrays[i].whole
                          ? base : base + blk.r0 * d->arrays[i].row_bytes;
    }
    blk.arg = d->arg;
    blk.arg_size = d->arg_size;
    blk.result = sharr__result_slot(d, w->c->results, b, blk.r0);
    if (d->task_arg_size) {
        blk.task_arg = w->c->task_args + b * d->task_arg_size;
        blk.task_arg_size = d->task_arg_size;
    }
    sharr__errmsg_clear();
    rc = d->kernel(&blk);
    /* What the kernel printed reaches a redirected stdout before the caller
     * learns that the block is done (__fpending is a load, not a call into
     * the stdio lock). */
    if (__fpending(stdout) || __fpending(stderr))
        flush_stdio();
    if (rc != 0) {
        const char *detail = sharr_errmsg()[0] ? sharr_errmsg()
                                               : sharr_strerror(rc);
        if (d->plain_errors)
            snprintf(msg, sizeof msg, "%s", detail);
        else
            snprintf(msg, sizeof msg, "block %zu (rows %zu..%zu) on worker "
                     "%d: %s", b, blk.r0, blk.r1, w->id, detail);
        rc = rc < 0 ? rc : SHARR_EINVAL;
        if (d->track)
            sharr__log_block_error(w->sh, b, msg);
        if (d->keep_going) {
            int32_t zero = 0;
            if (atomic_compare_exchange_strong(&w->sh->error, &zero, rc)) {
                atomic_store(&w->sh->error_block, b);
                snprintf(w->sh->errmsg, sizeof w->sh->errmsg, "%s", msg);
            }
        } else {
            sharr__record_error(w->sh, rc, b, msg);
        }
    }
    return rc == 0 ? BLOCK_OK : rc;
}

/* Count a finished (or skipped) batch of blocks.  A block that ran is
 * counted while the worker's `block` still names it, so a caller that sees
 * no worker in a block also sees every count.  @return the new done. */
static uint64_t count_blocks(struct worker *w, uint64_t n, bool ran)
{
    if (!ran) /* rare: only an aborted job skips blocks */
        atomic_fetch_add(&w->sh->skipped, n);
    return atomic_fetch_add(&w->sh->done, n) + n;
}

/* Wake a sleeping caller when the job is complete, after every block if it
 * wants progress or callbacks or takes blocks one by one, and after every
 * block of an aborted job (the caller then waits for the last block in
 * progress, not for the count).  Called once `block` is BLOCK_NONE again,
 * so the caller sees what it woke for. */
static void wake_caller(struct worker *w, const struct job_desc *d,
                        uint64_t done)
{
    struct pool_shared *sh = w->sh;
    if ((done >= d->nblocks || d->notify_each || atomic_load(&sh->abort) ||
         atomic_load_explicit(&sh->want_each, memory_order_relaxed)) &&
        atomic_load(&sh->caller_sleeping))
        sharr__notify(w->c->evfd);
}

static void finish_blocks(struct worker *w, const struct job_desc *d,
                          uint64_t n, bool ran)
{
    wake_caller(w, d, count_blocks(w, n, ran));
}

/* The job's arrays, attached at the first block this worker claims (a
 * replacement joining a job that is over never touches them). */
static bool attach_all(struct worker *w, const struct job_desc *d, size_t b)
{
    int err = 0;

    if (w->attached)
        return true;
    for (size_t i = 0; i < d->narrays && err == 0; i++)
        err = attach(w, &d->arrays[i], &w->arrays[i]);
    if (err < 0) {
        if (d->track)
            sharr__log_block_error(w->sh, b, sharr_errmsg());
        log_block(w->c, w->id, d, b, err);
        sharr__record_error(w->sh, err, b, sharr_errmsg());
        return false;
    }
    w->attached = true;
    return true;
}

/* Claim the next block for this worker: `b` for a static share, the next
 * free one otherwise.  Returns false when there is none or the job was
 * aborted; then `block` is BLOCK_NONE again.  See "Claims" above. */
static bool claim(struct worker *w, const struct job_desc *d, uint64_t *b)
{
    struct pool_shared *sh = w->sh;

    atomic_store(&w->slot->block, BLOCK_CLAIMING);
    if (!atomic_load(&sh->abort)) {
        if (!d->claim_static)
            *b = atomic_fetch_add(&sh->next_block, 1);
        if (*b < d->nblocks) {
            /* Release is enough from here on: the caller only needs to see
             * "not BLOCK_NONE", and the counts before a BLOCK_NONE. */
            atomic_store_explicit(&w->slot->block, (int64_t)*b,
                                  memory_order_release);
            if (attach_all(w, d, (size_t)*b))
                return true;
            /* A static share is counted by its loop. */
            uint64_t done = d->claim_static ? 0 : count_blocks(w, 1, false);
            atomic_store(&w->slot->block, BLOCK_NONE);
            wake_caller(w, d, done);
            return false;
        }
    }
    atomic_store(&w->slot->block, BLOCK_NONE);
    return false;
}

/* Run claimed block b, log it, count it, then leave it. */
static void do_block(struct worker *w, const struct job_desc *d, uint64_t b)
{
    log_block(w->c, w->id, d, (size_t)b,
              run_block(w, d, w->arrays, (size_t)b));
    uint64_t done = count_blocks(w, 1, true);
    atomic_store_explicit(&w->slot->block, BLOCK_NONE, memory_order_release);
    wake_caller(w, d, done);
    w->ran++;
    w->retiring = w->c->opts.max_blocks_per_worker &&
                  w->ran >= w->c->opts.max_blocks_per_worker;
}

static void run_static(struct worker *w, const struct job_desc *d,
                       uint64_t job)
{
    size_t n = d->nworkers;
    uint64_t b = (uint64_t)w->id;

    /* A replacement joining a job must not run a share that an earlier
     * incarnation of this slot took (only one incarnation lives at once),
     * except the rest a retired one left. */
    if (atomic_load(&w->slot->claimed_job) == job) {
        if ((b = atomic_exchange(&w->slot->resume, RESUME_NONE)) ==
            RESUME_NONE)
            return;
    } else {
        atomic_store(&w->slot->resume, RESUME_NONE);
        atomic_store(&w->slot->claimed_job, job);
    }
    for (; b < d->nblocks; b += n) {
        if (!claim(w, d, &b)) {
            if (b < d->nblocks)
                finish_blocks(w, d, (d->nblocks - b + n - 1) / n, false);
            return;
        }
        do_block(w, d, b);
        if (w->retiring && b + n < d->nblocks) {
            atomic_store(&w->slot->resume, b + n);
            return;
        }
    }
}

static void run_job(struct worker *w, uint64_t job)
{
    const struct job_desc *d = &w->sh->desc;
    struct pool_shared *sh = w->sh;
    uint64_t b = 0;

    w->tick++;
    w->attached = false;
    /* Removed arrays are let go of at a job's start, at most once a
     * millisecond (an lstat per cached array), and whenever idle. */
    if (w->slept || sharr__now() - w->swept > 1e-3)
        cache_sweep(w);
    if (d->claim_static) {
        run_static(w, d, job);
        return;
    }
    while (!w->retiring && claim(w, d, &b))
        do_block(w, d, b);
    if (w->retiring)
        return; /* the others (and the replacement) take what is left */
    if (atomic_load(&sh->abort)) {
        b = atomic_exchange(&sh->next_block, d->nblocks);
        if (b < d->nblocks)
            finish_blocks(w, d, d->nblocks - b, false);
    }
}

/* Wait until job_seq moves past w->seen to a published (even, non-zero)
 * value; returns it. */
static uint32_t wait_for_job(struct worker *w)
{
    struct pool_shared *sh = w->sh;
    /* No spinning before the first job: a pool just made is often waited
     * on by a caller that is still starting the other workers. */
    double spin_end = w->tick ? sharr__now() + w->c->spin_us * 1e-6 : 0;
    unsigned n = 0;
    bool slept = false;

    for (;;) {
        uint32_t v = atomic_load(&sh->job_seq);
        if (v != w->seen && v != 0 && !(v & 1u))
            return v;
        /* Spin after a job only: woken without one (the timeout), sweep and
         * sleep again at once.  The clock is read before each yield (and
         * every 256 pauses): on a busy machine one sched_yield can take
         * milliseconds, and a fixed count of them could take seconds. */
        if (!slept) {
            ++n;
            bool yields = n % w->c->yield_every == w->c->yield_every - 1;
            if ((!yields && n % 256 != 0) || sharr__now() < spin_end) {
                spin_step(n, w->c->yield_every);
                continue;
            }
        }
        /* Idle: give back the memory of arrays removed meanwhile, now and
         * at each wake-up (at least once a second), so no job is slowed. */
        cache_sweep(w);
        w->slept = true; /* sweep again at the next job: time passed */
        atomic_fetch_add(&sh->sleepers, 1);
        if (atomic_load(&sh->job_seq) == v)
            futex_wait(&sh->job_seq, v, 1.0);
        atomic_fetch_sub(&sh->sleepers, 1);
        if (getppid() != w->parent)
            worker_exit(w, 0); /* the supervisor is gone */
        slept = true;
    }
}

static void set_up(struct worker *w)
{
    const sharr_pool_opts *o = &w->c->opts;
    int cpu = w->c->pin_cpu[w->id];

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != w->parent) /* died before PDEATHSIG was armed */
        worker_exit(w, 0);
    prctl(PR_SET_NAME, "sharr-worker", 0, 0, 0);
    sharr__blas_threads_set(o->blas_threads > 0 ? o->blas_threads : 1);
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((size_t)cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    if (o->init) {
        sharr__errmsg_clear();
        int rc = o->init(w->id, o->init_arg);
        if (rc != 0) {
            snprintf(w->slot->init_msg, sizeof w->slot->init_msg, "%s",
                     sharr_errmsg()[0] ? sharr_errmsg() : sharr_strerror(rc));
            atomic_store(&w->slot->state, W_INIT_FAILED);
            sharr__notify(w->c->evfd);
            worker_exit(w, 1);
        }
        /* An initializer that changed uid or gid cleared PDEATHSIG. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != w->parent)
            worker_exit(w, 0);
    }
}

void sharr__worker_main(const struct pool_conf *c, int id, uint32_t seen,
                        pid_t parent)
{
    struct worker w;

    memset(&w, 0, sizeof w);
    w.c = c;
    w.sh = c->sh;
    w.slot = &c->sh->slots[id];
    w.id = id;
    w.parent = parent; /* not getppid(): it may have died already */
    w.seen = seen;
    /* Before READY: the caller may read the pid as soon as it sees READY,
     * and the supervisor stores it only when fork() returns there. */
    atomic_store(&w.slot->pid, getpid());
    set_up(&w);
    atomic_store(&w.slot->state, W_READY);
    sharr__notify(c->evfd);
    /* The caller's segment mappings, if the supervisor still had them when
     * it forked us; after READY, so that creating the pool does not wait
     * for it, and before any job maps an array of its own. */
    sharr__unmap_segments();
    for (;;) {
        uint32_t v = wait_for_job(&w);
        atomic_store(&w.slot->active, 1);
        if (atomic_load(&w.sh->job_seq) != v) {
            atomic_store(&w.slot->active, 0); /* a new descriptor is coming */
            continue;
        }
        w.seen = v;
        if (atomic_load(&w.sh->shutdown))
            worker_exit(&w, 0);
        run_job(&w, w.sh->job_no);
        if (__fpending(stdout) || __fpending(stderr))
            flush_stdio();
        if (w.retiring) {
            /* RETIRING before leaving the job: the supervisor must never
             * see this exit as a death inside a job. */
            atomic_store(&w.slot->state, W_RETIRING);
            atomic_store(&w.slot->active, 0);
            worker_exit(&w, 0);
        }
        atomic_store(&w.slot->active, 0);
    }
}
