/*
 * pool.c - the caller's side of the worker pool: create and destroy, submit
 * a job, wait for it (bounded), poll, cancel, read its results.
 *
 * The caller never forks a worker and never signals one: the supervisor
 * (supervisor.c) does both; the caller asks it to kill stuck workers and is
 * told of deaths through the shared area and the eventfd it polls, beside
 * the supervisor's pidfd.  A pool belongs to the process that created it:
 * in a forked child every call that would touch the workers or the shared
 * state fails with SHARR_EINVAL, and destroy/terminate free only the
 * child's own memory.
 *
 * The end of a job: all blocks counted done, or, after an abort, no worker
 * inside a block (block != BLOCK_NONE, see worker.c for why that is safe).
 * A worker that dies inside a block holds `block` until the supervisor has
 * recorded the job's error, so a job never ends without its failure.
 *
 * A job uses the pool's shared areas (results, block logs) until the
 * next submit or the pool's end; then, if its handle is still held, it gets
 * private copies (results.c), so a finished job never holds up the pool.
 * Callbacks and taking blocks one by one (sharr_job_next*) run inside the
 * caller's waits, which also watch for those blocks.
 */
#define _GNU_SOURCE
#include "pool.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#define SPIN_US_DEFAULT 200.0     /* workers, after a job */
#define WAIT_SPIN_US 100.0        /* the caller, before sleeping */
#define DEFAULT_RESULTS ((size_t)1 << 30)
#define DEFAULT_TASK_BYTES ((size_t)64 << 20)
#define DESTROY_GRACE_S 5.0       /* for workers to leave by themselves */
#define QUIESCE_S 10.0            /* for workers to leave a finished job */

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

static void drain(int evfd)
{
    uint64_t v;
    while (read(evfd, &v, sizeof v) == (ssize_t)sizeof v)
        ;
}

/* This process's pid, without a system call per job: kept in a page that
 * every fork, however made (fork, _Fork, clone without CLONE_VM), gives
 * the child zeroed (MADV_WIPEONFORK), so a child asks getpid() again.
 * Without that page (a kernel before 4.14): getpid() every time. */
static _Atomic pid_t *self_page;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

static void map_self_page(void)
{
    void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (page == MAP_FAILED)
        return;
    if (madvise(page, 4096, MADV_WIPEONFORK) < 0) {
        munmap(page, 4096);
        return;
    }
    self_page = page;
}

static pid_t self(void)
{
    pid_t pid;

    pthread_once(&self_once, map_self_page);
    if (!self_page)
        return getpid();
    if ((pid = atomic_load_explicit(self_page, memory_order_relaxed)) == 0) {
        pid = getpid();
        atomic_store_explicit(self_page, pid, memory_order_relaxed);
    }
    return pid;
}

static bool foreign(const sharr_pool *p)
{
    return self() != p->owner;
}

static int foreign_fail(const sharr_pool *p)
{
    return sharr__fail(SHARR_EINVAL, "this pool belongs to process %d, not "
                       "to %d (a forked child cannot use its parent's pool)",
                       (int)p->owner, (int)getpid());
}

bool sharr__pool_foreign(const sharr_pool *p)
{
    return foreign(p);
}

int sharr__pool_foreign_fail(const sharr_pool *p)
{
    return foreign_fail(p);
}

/* The supervisor is gone (it died, or was abandoned): its workers died
 * with it, so every job fails and the pool is broken. */
static void on_sup_gone(sharr_pool *p)
{
    char msg[ERRMSG_SIZE];

    if (p->sup_gone)
        return;
    p->sup_gone = true;
    snprintf(msg, sizeof msg, "the pool's supervisor (pid %d) died; its "
             "workers died with it", (int)p->sup.proc.pid);
    sharr__record_error(p->sh, SHARR_EWORKER, 0, msg);
    if (!atomic_load(&p->sh->broken)) {
        snprintf(p->sh->broken_msg, sizeof p->sh->broken_msg, "%s", msg);
        atomic_store(&p->sh->broken, SHARR_EWORKER);
    }
}

/* Sleep until a worker or the supervisor wakes us, or `secs` pass (< 0:
 * forever; 0: just look).  Notices the supervisor's death. */
static void sleep_on_pool(sharr_pool *p, double secs)
{
    struct pollfd fds[2] = {{p->conf.evfd, POLLIN, 0}, {-1, 0, 0}};
    int ms = secs < 0 ? -1 : secs == 0 ? 0 : (int)(secs * 1000) + 1;

    fds[1].fd = sharr__sup_waitfd(&p->sup, &fds[1].events);
    if (poll(fds, 2, ms) <= 0)
        return;
    drain(p->conf.evfd);
    if (fds[1].revents)
        on_sup_gone(p);
}

void sharr__pool_sleep(sharr_pool *p, double secs)
{
    sleep_on_pool(p, secs);
}

/* ---- creating and destroying ---- */

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

/* Options into p->conf and p; @return 0 or SHARR_EINVAL. */
static int configure(sharr_pool *p, const sharr_pool_opts *opts)
{
    struct pool_conf *c = &p->conf;
    const char *spin = getenv("SHARR_SPIN_US");
    char *end = NULL;
    bool pin;

    if (opts)
        c->opts = *opts;
    allowed_cpus(p);
    p->nworkers = c->opts.workers > 0 ? c->opts.workers
                  : c->opts.workers == SHARR_POOL_NO_WORKERS ? 0 : p->ncpus;
    if (c->opts.workers < SHARR_POOL_NO_WORKERS ||
        p->nworkers > SHARR_POOL_MAX_WORKERS ||
        c->opts.blas_threads < 0)
        return sharr__fail(SHARR_EINVAL, "workers = %d, blas_threads = %d: "
                           "workers must be 0..%d (or "
                           "SHARR_POOL_NO_WORKERS) and blas_threads >= 0",
                           c->opts.workers, c->opts.blas_threads,
                           SHARR_POOL_MAX_WORKERS);
    c->nworkers = p->nworkers;
    c->spin_us = SPIN_US_DEFAULT;
    if (spin && *spin) {
        double v = strtod(spin, &end);
        if (*end || !(v >= 0 && v <= 1e7))
            return sharr__fail(SHARR_EINVAL, "$SHARR_SPIN_US = '%s': a number "
                               "of microseconds from 0 to 1e7", spin);
        c->spin_us = v;
    }
    c->yield_every = p->nworkers >= p->ncpus ? 1 : 64;
    pin = c->opts.pin > 0 || (c->opts.pin == 0 && p->nworkers == p->ncpus);
    for (int i = 0; i < p->nworkers; i++)
        c->pin_cpu[i] = pin ? p->cpus[i % p->ncpus] : -1;
    p->results_bytes = c->opts.results_bytes ? c->opts.results_bytes
                                             : DEFAULT_RESULTS;
    c->task_bytes = c->opts.task_bytes ? c->opts.task_bytes
                                       : DEFAULT_TASK_BYTES;
    return 0;
}

static size_t page_up(size_t n)
{
    return (n + 4095) & ~(size_t)4095;
}

/* The shared area: control block, guided table, results, block logs,
 * task records (overflow-checked: a huge results_bytes or task_bytes must
 * fail here, not wrap to a small mapping).  Each worker's log holds
 * log_cap entries: up to TRACK_MAX + 1, fewer past 2 workers (LOG_TOTAL). */
static int map_shared(sharr_pool *p)
{
    size_t head = page_up(sizeof(struct pool_shared));
    size_t table = page_up((GUIDED_MAX + 1) * sizeof(uint64_t));
    size_t n = p->nworkers ? (size_t)p->nworkers : 1, logs, res, tasks,
           at_logs, at_tasks;

    p->conf.log_cap = LOG_TOTAL / n < TRACK_MAX + 1 ? LOG_TOTAL / n
                                                    : TRACK_MAX + 1;
    /* A pool without workers runs no job: no logs. */
    logs = p->nworkers ? page_up(n * p->conf.log_cap *
                                 sizeof(struct log_entry)) : 0;
    if (!sharr__add_ok(p->results_bytes, 4095, &res) ||
        !sharr__add_ok(p->conf.task_bytes, 4095, &tasks) ||
        !sharr__add_ok(head + table, res & ~(size_t)4095, &at_logs) ||
        !sharr__add_ok(at_logs, logs, &at_tasks) ||
        !sharr__add_ok(at_tasks, tasks & ~(size_t)4095, &p->map_size) ||
        p->map_size > (SIZE_MAX >> 2))
        return sharr__fail(SHARR_EINVAL, "results_bytes = %zu, task_bytes = "
                           "%zu: too large for the address space",
                           p->results_bytes, p->conf.task_bytes);
    p->sh = mmap(NULL, p->map_size, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p->sh == MAP_FAILED)
        return sharr__fail_os(-errno, "mmap of %zu bytes for the pool",
                              p->map_size);
    p->conf.sh = p->sh;
    p->conf.map_size = p->map_size;
    p->conf.guided = (uint64_t *)(void *)((char *)p->sh + head);
    p->conf.results = (unsigned char *)p->sh + head + table;
    p->conf.logs = (struct log_entry *)(void *)((char *)p->sh + at_logs);
    p->conf.task_args = (unsigned char *)p->sh + at_tasks;
    return 0;
}

/* Wait until every worker is ready; on failure the detail says why. */
static int await_ready(sharr_pool *p)
{
    for (;;) {
        int pending = 0;
        if (atomic_load(&p->sh->broken))
            return sharr__fail(atomic_load(&p->sh->broken), "%s",
                               p->sh->broken_msg);
        for (int i = 0; i < p->nworkers; i++) {
            const struct worker_slot *slot = &p->sh->slots[i];
            uint32_t st = atomic_load(&slot->state);
            if (st == W_INIT_FAILED)
                return sharr__fail(SHARR_EWORKER, "the initializer of worker "
                                   "%d failed: %s", i, slot->init_msg);
            pending += st != W_READY;
        }
        if (!pending)
            return 0;
        if (p->sup_gone)
            return sharr__fail(SHARR_EWORKER, "%s", p->sh->broken_msg);
        sleep_on_pool(p, 1.0);
    }
}

int sharr_pool_create(const sharr_pool_opts *opts, sharr_pool **out)
{
    sharr_pool *p;
    int err;

    *out = NULL;
    if (!(p = calloc(1, sizeof *p)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    p->conf.evfd = -1;
    p->sh = MAP_FAILED;
    p->sup.proc.pid = -1;
    p->sup.proc.pidfd = p->sup.cmd = -1;
    p->owner = self();
    if ((err = configure(p, opts)) < 0 || (err = map_shared(p)) < 0)
        goto fail;
    if ((p->conf.evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        err = sharr__fail_os(-errno, "eventfd");
        goto fail;
    }
    if ((err = sharr__sup_start(&p->conf, &p->sup)) < 0)
        goto fail;
    /* Pools created later, and the caller's own forks, do not inherit this
     * area (a forked child never touches it: see foreign()). */
    madvise(p->sh, p->map_size, MADV_DONTFORK);
    if ((err = await_ready(p)) < 0)
        goto fail;
    *out = p;
    return 0;
fail:
    sharr_pool_terminate(p);
    return err;
}

/* The job gives the pool's areas up (the pool goes away, or the next job
 * needs them) while its handle is still held: keep what the handle needs.
 * `why`: what happened to the pool, for a job that had not finished. */
static void detach_job(sharr_pool *p, const char *why)
{
    sharr_job *job = p->job;

    if (!job)
        return;
    sharr__drain(job); /* while the logs are there */
    p->job = NULL;
    job->pool = NULL;
    if (!job->finished) {
        size_t done = atomic_load(&p->sh->done);
        (void)done;
        job->finished = true;
        job->status = SHARR_ECANCELED;
        snprintf(job->errmsg, sizeof job->errmsg, "the pool was %s before "
                 "the job finished", why);
    }
    sharr__job_copy_out(job);
}

static void free_pool(sharr_pool *p)
{
    if (p->sup.proc.pidfd >= 0)
        close(p->sup.proc.pidfd);
    if (p->sup.cmd >= 0)
        close(p->sup.cmd);
    if (p->conf.evfd >= 0)
        close(p->conf.evfd);
    if (p->sh != MAP_FAILED)
        munmap(p->sh, p->map_size);
    free(p);
}

/* In a forked child: only the child's copies (fds, mapping, memory) go. */
static void free_foreign(sharr_pool *p)
{
    if (p->job) {
        p->job->pool = NULL;
        p->job->finished = true;
        p->job->status = SHARR_EINVAL;
        snprintf(p->job->errmsg, sizeof p->job->errmsg, "the job belongs to "
                 "process %d", (int)p->owner);
        p->job->results = NULL;
        p->job->results_len = 0;
        p->job->guided = NULL;
        p->job->tracked = false; /* its logs are the parent's */
        p->job->errlog = NULL;
        p->job->geom.nblocks = 0;
    }
    sharr__detach_processes(p, false);
    free_pool(p);
}

void sharr_pool_terminate(sharr_pool *p)
{
    if (!p)
        return;
    if (foreign(p)) {
        free_foreign(p);
        return;
    }
    sharr__sup_stop(&p->sup, false, 0);
    detach_job(p, "terminated");
    sharr__detach_processes(p, true);
    free_pool(p);
}

static void publish(sharr_pool *p);

void sharr_pool_destroy(sharr_pool *p)
{
    if (!p)
        return;
    if (foreign(p)) {
        free_foreign(p);
        return;
    }
    if (p->job && !p->job->finished && !p->in_callback)
        sharr_job_wait(p->job, -1);
    detach_job(p, "destroyed");
    atomic_store(&p->sh->shutdown, 1);
    publish(p);
    sharr__sup_stop(&p->sup, true, DESTROY_GRACE_S);
    sharr__detach_processes(p, true);
    free_pool(p);
}

int sharr_pool_workers(const sharr_pool *p)
{
    return p ? p->nworkers : 1;
}

pid_t sharr_pool_worker_pid(const sharr_pool *p, int i)
{
    if (!p || i < 0 || i >= p->nworkers || foreign(p))
        return -1;
    const struct worker_slot *slot = &p->sh->slots[i];
    pid_t pid = atomic_load(&slot->pid);
    return atomic_load(&slot->state) == W_EMPTY || pid <= 0 ? -1 : pid;
}

/* ---- jobs ---- */

/* Have the supervisor kill incarnation `gen` of worker i, once; abandon a
 * supervisor that does not take the command (its workers die with it). */
static void ask_kill(sharr_pool *p, int i, uint32_t gen)
{
    if (p->kill_sent[i] == gen + 1)
        return;
    p->kill_sent[i] = gen + 1;
    atomic_fetch_add(&p->sh->kills_sent, 1);
    if (sharr__sup_kill(&p->sup, i, gen) < 0) {
        sharr__sup_abandon(&p->sup);
        on_sup_gone(p);
    }
}

/* Make the descriptor writable: odd seq, then wait until no worker is
 * inside the previous job and every kill asked for it was carried out (so
 * none lands in the next job).  Bounded: a worker that stays inside after
 * QUIESCE_S (stopped?) is killed, and if even that is not confirmed within
 * 2 s more, the submit fails with SHARR_ETIMEDOUT. */
static int quiesce(sharr_pool *p)
{
    struct pool_shared *sh = p->sh;
    uint32_t s = atomic_load(&sh->job_seq);
    double deadline = 0;
    bool killed = false;

    if (!(s & 1u))
        atomic_store(&sh->job_seq, s + 1);
    for (unsigned n = 0; !p->sup_gone; n++) {
        int busy = -1;
        for (int i = 0; i < p->nworkers && busy < 0; i++)
            if (atomic_load(&sh->slots[i].active))
                busy = i;
        if (busy < 0 && atomic_load(&sh->kills_done) >=
                            atomic_load(&sh->kills_sent))
            return 0;
        if (n < 4096) {
            spin_step(n, p->conf.yield_every);
            continue;
        }
        double t = sharr__now();
        if (deadline == 0)
            deadline = t + QUIESCE_S;
        if (t >= deadline && busy >= 0 && !killed) {
            for (int i = 0; i < p->nworkers; i++)
                if (atomic_load(&sh->slots[i].active))
                    ask_kill(p, i, atomic_load(&sh->slots[i].gen));
            killed = true;
            deadline = t + 2.0;
        } else if (t >= deadline) {
            return sharr__fail(SHARR_ETIMEDOUT, "worker %d did not leave "
                               "the previous job within %g s (stopped?)",
                               busy >= 0 ? busy : 0, QUIESCE_S);
        }
        sleep_on_pool(p, 0.001);
    }
    return 0;
}

/* The descriptor is complete: make seq even again and wake sleepers. */
static void publish(sharr_pool *p)
{
    struct pool_shared *sh = p->sh;
    uint32_t s = atomic_load(&sh->job_seq);

    uint32_t next = (s | 1u) + 1;

    /* 0 means "nothing published" to a worker: skip it when seq wraps. */
    atomic_store(&sh->job_seq, next ? next : 2);
    if (atomic_load(&sh->sleepers) > 0)
        futex_wake_all(&sh->job_seq);
}

/* Block b of an inline job failed with rc: its status, its detail, and
 * the job's first error. */
static void inline_failed(sharr_job *job, const sharr_block *blk, int rc)
{
    const struct job_desc *d = &job->geom;
    const char *detail = sharr_errmsg()[0] ? sharr_errmsg()
                                           : sharr_strerror(rc);
    char msg[ERRMSG_SIZE];
    size_t b = blk->index;

    rc = rc < 0 ? rc : SHARR_EINVAL;
    if (d->plain_errors)
        snprintf(msg, sizeof msg, "%s", detail);
    else
        snprintf(msg, sizeof msg, "block %zu (rows %zu..%zu): %s", b,
                 blk->r0, blk->r1, detail);
    if (job->tracked) {
        struct errlog_entry *e = &job->errlog[job->inline_errors %
                                              ERRLOG_SIZE];
        e->block = b;
        snprintf(e->msg, sizeof e->msg, "%.*s", (int)sizeof e->msg - 1, msg);
        atomic_store(&e->seq, ++job->inline_errors);
        sharr__note_block(job, b, rc);
    }
    if (job->status == 0) {
        job->status = rc;
        job->error_block = b;
        snprintf(job->errmsg, sizeof job->errmsg, "%s", msg);
    }
}

/* Run the job in the caller (pool == NULL). */
static int run_inline(sharr_job *job, const sharr_job_spec *spec)
{
    const struct job_desc *d = &job->geom;
    const unsigned char *tasks = spec->task_args;

    for (size_t b = 0; b < d->nblocks && (job->status == 0 || d->keep_going);
         b++) {
        sharr_block blk;
        memset(&blk, 0, sizeof blk);
        sharr__block_rows(d, job->guided, b, &blk.r0, &blk.r1);
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
        blk.result = sharr__result_slot(d, job->results, b, blk.r0);
        if (d->task_arg_size) {
            blk.task_arg = tasks + b * d->task_arg_size;
            blk.task_arg_size = d->task_arg_size;
        }
        sharr__errmsg_clear();
        int rc = spec->kernel(&blk);
        job->done_inline = b + 1;
        if (rc != 0)
            inline_failed(job, &blk, rc);
        else if (job->tracked)
            sharr__note_block(job, b, BLOCK_OK);
        if (spec->progress)
            spec->progress(job->done_inline, d->nblocks, spec->progress_ctx);
    }
    job->ran = job->done_inline;
    job->finished = true;
    return 0;
}

static int submit_inline(const sharr_job_spec *spec, sharr_job *job)
{
    size_t n;
    int err;

    job->own_buffers = true;
    job->inline_run = true;
    if (!(job->guided = malloc((GUIDED_MAX + 1) * sizeof(uint64_t))))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    if ((err = sharr__describe(spec, 1, &job->geom, job->guided,
                               SIZE_MAX, SIZE_MAX, TRACK_MAX)) < 0)
        return err;
    n = job->geom.nblocks;
    job->results_len = (job->geom.per_row ? job->geom.rows : n) *
                       job->geom.result_size;
    if (job->results_len &&
        !(job->results = calloc(1, job->results_len)))
        return sharr__fail(SHARR_ENOMEM, "out of memory for %zu bytes of "
                           "results", job->results_len);
    job->tracked = job->geom.track;
    if (job->tracked &&
        (!sharr__job_private(job) ||
         !(job->errlog = calloc(ERRLOG_SIZE, sizeof *job->errlog))))
        return sharr__fail(SHARR_ENOMEM, "out of memory for the statuses "
                           "of %zu blocks", n);
    return run_inline(job, spec);
}

static bool complete(const sharr_pool *p, const sharr_job *job);
static void finish(sharr_job *job);

/* The previous job gives the shared areas up if it is over (it keeps
 * copies); one still running holds the pool.  @return 0 or SHARR_EBUSY. */
static int release_previous(sharr_pool *p)
{
    sharr_job *prev = p->job;

    if (p->in_callback)
        return sharr__fail(SHARR_EBUSY, "a callback of this pool's job is "
                           "running: submit after it returned");
    if (!prev)
        return 0;
    if (!prev->finished && complete(p, prev))
        finish(prev);
    if (!prev->finished)
        return sharr__fail(SHARR_EBUSY, "the previous job of this pool is "
                           "still running (wait for it, or cancel it)");
    detach_job(p, NULL);
    return 0;
}

/* The task records into the shared area, empty block logs, a new error
 * log: the per-job state beside the descriptor. */
static void reset_job_areas(sharr_pool *p, const sharr_job_spec *spec,
                            sharr_job *job)
{
    struct pool_shared *sh = p->sh;
    const struct job_desc *d = &sh->desc;
    size_t n = d->nblocks;

    if (d->task_arg_size)
        memcpy(p->conf.task_args, spec->task_args, n * d->task_arg_size);
    for (int i = 0; i < p->nworkers; i++)
        atomic_store_explicit(&sh->slots[i].log_len, 0, memory_order_relaxed);
    job->tracked = d->track;
    job->errlog = sh->errlog;
    if (atomic_load(&sh->errlog_next)) {
        for (int i = 0; i < ERRLOG_SIZE; i++)
            atomic_store(&sh->errlog[i].seq, 0);
        atomic_store(&sh->errlog_next, 0);
    }
    atomic_store(&sh->want_each, 0);
}

static int submit_pool(sharr_pool *p, const sharr_job_spec *spec,
                       sharr_job *job)
{
    struct pool_shared *sh = p->sh;
    struct job_desc *d = &sh->desc, stage;
    int err;

    if (foreign(p))
        return foreign_fail(p);
    if ((err = atomic_load(&sh->broken)) < 0)
        return sharr__fail(err, "%s", sh->broken_msg);
    if (p->nworkers == 0)
        return sharr__fail(SHARR_EINVAL, "this pool has no workers (made "
                           "with SHARR_POOL_NO_WORKERS, for processes)");
    if ((err = release_previous(p)) < 0)
        return err;
    /* Validate into a private copy first: the shared descriptor is only
     * touched once the workers are out of the previous job. */
    if ((err = sharr__describe(spec, (size_t)p->nworkers, &stage, NULL,
                               p->results_bytes, p->conf.task_bytes,
                               p->conf.log_cap - 1)) < 0 ||
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
        sharr__guided_blocks(d, p->conf.guided);
    memcpy(&job->geom, &stage, offsetof(struct job_desc, arg));
    job->guided = p->conf.guided;
    job->results = p->conf.results;
    job->results_len = (d->per_row ? d->rows : d->nblocks) * d->result_size;
    if (job->results_len)
        memset(p->conf.results, 0, job->results_len);
    reset_job_areas(p, spec, job);
    atomic_store(&sh->next_block, 0);
    atomic_store(&sh->done, 0);
    atomic_store(&sh->skipped, 0);
    sh->job_no++;
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
        job->callback = spec->callback;
        job->error_callback = spec->error_callback;
        job->callback_ctx = spec->callback_ctx;
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

    if (atomic_load(&sh->done) >= job->geom.nblocks || p->sup_gone)
        return true;
    if (!atomic_load(&sh->abort))
        return false;
    /* Aborted: over once no worker is inside a block or claiming one; a
     * claim that starts later sees the abort (worker.c, "Claims"). */
    for (int i = 0; i < p->nworkers; i++)
        if (atomic_load(&sh->slots[i].block) != BLOCK_NONE)
            return false;
    return true;
}

static void finish(sharr_job *job)
{
    struct pool_shared *sh = job->pool->sh;
    /* done, then skipped: a worker adds a skip to skipped first, so `ran`
     * is never overstated (a block that ran is counted before its worker
     * leaves it, so every one is in done here). */
    size_t done = atomic_load(&sh->done);
    size_t skipped = atomic_load(&sh->skipped);

    job->ran = done > skipped ? done - skipped : 0;
    job->status = atomic_load(&sh->error);
    job->error_block = atomic_load(&sh->error_block);
    job->errmsg[0] = '\0';
    if (job->status != 0)
        snprintf(job->errmsg, sizeof job->errmsg, "%s", sh->errmsg);
    if (job->status == 0 && job->canceled && job->ran < job->geom.nblocks) {
        job->status = SHARR_ECANCELED;
        snprintf(job->errmsg, sizeof job->errmsg, "the job was cancelled "
                 "after %zu of %zu blocks", job->ran, (size_t)job->geom.nblocks);
    }
    report_progress(job, done < job->geom.nblocks ? done : job->geom.nblocks);
    job->finished = true;
}

/* Worker i must die for the job to end: inside one of its blocks (or
 * claiming one), or, for a static schedule, ready but never joined
 * (stopped?) while its share is still to run. */
static bool stuck(const sharr_pool *p, int i, int64_t *block)
{
    const struct worker_slot *slot = &p->sh->slots[i];

    *block = atomic_load(&slot->block);
    if (*block != BLOCK_NONE)
        return true;
    return p->sh->desc.claim_static && (size_t)i < p->sh->desc.nblocks &&
           atomic_load(&slot->state) == W_READY &&
           !atomic_load(&slot->active) &&
           atomic_load(&slot->claimed_job) != p->sh->job_no;
}

/* The deadline passed: fail the job and have the supervisor kill the
 * workers that hold it up (they are replaced in the background).  Each
 * incarnation is asked once; a supervisor that does not take the command
 * is abandoned (killed, and its workers with it). */
static void on_timeout(sharr_pool *p, double waited)
{
    struct pool_shared *sh = p->sh;
    char msg[ERRMSG_SIZE];
    int len, killed = 0, victim[SHARR_POOL_MAX_WORKERS];
    uint32_t gen[SHARR_POOL_MAX_WORKERS];

    len = snprintf(msg, sizeof msg, "the job timed out after %.3g s; killed "
                   "and replaced", waited);
    /* Abort first: a worker not yet in a block then never enters one. */
    atomic_store(&sh->abort, 1);
    for (int i = 0; i < p->nworkers; i++) {
        /* gen before block: a kill meant for this incarnation never
         * reaches its replacement. */
        uint32_t g = atomic_load(&sh->slots[i].gen);
        int64_t b;
        if (!stuck(p, i, &b))
            continue;
        if (len > 0 && (size_t)len < sizeof msg)
            len += snprintf(msg + len, sizeof msg - (size_t)len, "%s worker "
                            "%d (%s %lld)", killed ? "," : "", i,
                            b >= 0 ? "block" : "not started, block",
                            (long long)(b >= 0 ? b : i));
        gen[killed] = g;
        victim[killed++] = i;
    }
    if (!killed)
        snprintf(msg, sizeof msg, "the job timed out after %.3g s", waited);
    /* The timeout is the job's error, not the deaths it causes: record it
     * before any kill is asked for. */
    sharr__record_error(sh, SHARR_ETIMEDOUT, 0, msg);
    for (int k = 0; k < killed; k++)
        ask_kill(p, victim[k], gen[k]);
}

/* 1 when the job finished, 2 when ready(job) (may be NULL) became true, 0
 * when `deadline` passed first (deadline < 0: none).  With may_kill, the
 * deadline kills the stuck workers instead and the wait goes on, briefly,
 * until they are dead.  Runs the callbacks of blocks as they finish. */
static int wait_pool(sharr_job *job, double deadline, bool may_kill,
                     bool (*ready)(sharr_job *))
{
    sharr_pool *p = job->pool;
    struct pool_shared *sh = p->sh;
    double start = sharr__now(), spin_end = start + WAIT_SPIN_US * 1e-6;
    double give_up = -1; /* after a timeout: when to abandon the supervisor */
    unsigned n = 0;

    for (;;) {
        int broken = atomic_load(&sh->broken);
        /* A worker that cannot be replaced leaves its share undone. */
        if (broken && !atomic_load(&sh->abort))
            sharr__record_error(sh, broken, 0, sh->broken_msg);
        report_progress(job, atomic_load(&sh->done));
        sharr__run_callbacks(job, sh);
        if (ready && ready(job))
            return 2;
        if (complete(p, job)) {
            finish(job);
            sharr__run_callbacks(job, NULL);
            return 1;
        }
        double t = sharr__now();
        if (deadline >= 0 && t >= deadline) {
            if (!may_kill) {
                sleep_on_pool(p, 0); /* a dead supervisor ends the job */
                if (!p->sup_gone)
                    return 0;
                continue;
            }
            if (give_up < 0)
                give_up = t + 1.0;
            if (t >= give_up) {
                /* The kills were not carried out within a second: the
                 * supervisor does not run (stopped?).  Killing it kills
                 * every worker, so nothing of the job runs afterwards. */
                sharr__sup_abandon(&p->sup);
                on_sup_gone(p);
                continue;
            }
            on_timeout(p, t - start);
            deadline = t + 0.05; /* look again soon for late claimers */
            continue;
        }
        if (t < spin_end) {
            spin_step(++n, p->conf.yield_every);
            continue;
        }
        atomic_store(&sh->caller_sleeping, 1);
        if (!complete(p, job) && !(ready && ready(job))) {
            /* Taking blocks one by one, the first wake-up of a job may be
             * missed (a worker had not seen want_each yet): look again
             * soon. */
            double secs = ready ? 0.02 : job->progress ? 0.25 : 1.0;
            if (deadline >= 0 && deadline - t < secs)
                secs = deadline - t;
            sleep_on_pool(p, secs);
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

static int not_tracked(const sharr_job *job)
{
    return sharr__fail(SHARR_EINVAL, "%zu blocks: statuses are kept for jobs "
                       "of at most %zu blocks (fewer with more than 2 "
                       "workers: %zu / workers), memory permitting",
                       (size_t)job->geom.nblocks, TRACK_MAX, LOG_TOTAL);
}

static int in_callback_fail(void)
{
    return sharr__fail(SHARR_EBUSY, "called from a callback of the same job"
                       " (callbacks run inside the waits)");
}

int sharr_job_wait(sharr_job *job, double timeout_s)
{
    if (job->in_callback)
        return in_callback_fail();
    if (job->pool && foreign(job->pool)) {
        if (!job->finished)
            return foreign_fail(job->pool);
        return job_status(job); /* the parent's areas are not ours */
    }
    if (!job->finished && job->pool)
        wait_pool(job, timeout_s < 0 ? -1.0 : sharr__now() + timeout_s, true,
                  NULL);
    sharr__run_callbacks(job, NULL);
    return job_status(job);
}

int sharr_job_poll(sharr_job *job, double timeout_s)
{
    if (job->in_callback)
        return in_callback_fail();
    if (job->pool && foreign(job->pool))
        return job->finished ? 1 : foreign_fail(job->pool);
    if (job->finished || !job->pool) {
        sharr__run_callbacks(job, NULL);
        return 1;
    }
    return wait_pool(job, sharr__now() + (timeout_s > 0 ? timeout_s : 0),
                     false, NULL);
}

/* ---- taking blocks one by one (imap, imap_unordered) ---- */

/* The next block of the job's mode is over (looking at the logs only if
 * what was drained does not say so). */
static bool next_ready(sharr_job *job)
{
    for (int look = 0; look < 2; look++) {
        if (job->next_mode == NEXT_ORDERED
                ? job->next_block < job->geom.nblocks &&
                      job->bstatus[job->next_block] != 0
                : job->next_reader.pos < job->order_len)
            return true;
        if (look == 0)
            sharr__drain(job);
    }
    return false;
}

/* The next block of the job's mode: 1 and *b, 0 none yet, -1 all given. */
static int take(sharr_job *job, size_t *b)
{
    if (job->next_mode == NEXT_UNORDERED)
        return sharr__reader_next(job, &job->next_reader, b);
    if (job->next_block >= job->geom.nblocks)
        return -1;
    if (!next_ready(job) && !job->finished)
        return 0;
    *b = job->next_block++;
    return 1;
}

static int next_block(sharr_job *job, int mode, size_t *block,
                      double timeout_s)
{
    double deadline = timeout_s < 0 ? -1.0 : sharr__now() + timeout_s;
    size_t b;

    *block = SIZE_MAX;
    if (job->in_callback)
        return in_callback_fail();
    if (job->next_mode != NEXT_NONE && job->next_mode != mode)
        return sharr__fail(SHARR_EINVAL, "this job's blocks are taken in %s "
                           "order already", mode == NEXT_ORDERED
                           ? "completion" : "block");
    if (job->pool && foreign(job->pool))
        return foreign_fail(job->pool);
    if (!sharr__job_private(job))
        return not_tracked(job);
    job->next_mode = mode;
    for (;;) {
        if (job->pool && !job->finished) {
            if (job->progress)
                report_progress(job, atomic_load(&job->pool->sh->done));
            sharr__run_callbacks(job, job->pool->sh);
        }
        int got = take(job, &b);
        if (got > 0) {
            char detail[ERRMSG_SIZE];
            int st = sharr__block_status(job, b);
            *block = b;
            if (st == 0)
                return 1;
            sharr__block_detail(job, b, st, detail, sizeof detail);
            return sharr__fail(st, "%s", detail);
        }
        if (got < 0)
            return 0;
        /* Not there yet: the job runs in the pool (an inline one is over,
         * and so is a detached one). */
        atomic_store(&job->pool->sh->want_each, 1);
        if (wait_pool(job, deadline, false, next_ready) == 0)
            return sharr__fail(SHARR_ETIMEDOUT, "no block of the job was "
                               "over within %g s", timeout_s);
    }
}

int sharr_job_next(sharr_job *job, size_t *block, double timeout_s)
{
    return next_block(job, NEXT_ORDERED, block, timeout_s);
}

int sharr_job_next_unordered(sharr_job *job, size_t *block, double timeout_s)
{
    return next_block(job, NEXT_UNORDERED, block, timeout_s);
}

void sharr_job_progress(const sharr_job *job, size_t *done, size_t *total)
{
    size_t n = job->geom.nblocks;

    *total = n;
    if (job->pool && !job->finished) {
        size_t d = foreign(job->pool) ? 0 : atomic_load(&job->pool->sh->done);
        *done = d < n ? d : n;
    } else {
        *done = job->inline_run ? job->done_inline : job->ran;
    }
}

void sharr_job_cancel(sharr_job *job)
{
    if (job->finished || !job->pool || foreign(job->pool))
        return;
    job->canceled = true;
    atomic_store(&job->pool->sh->abort, 1);
}

int sharr_job_error(const sharr_job *job, size_t *block)
{
    int err = job->status;
    size_t b = job->error_block;

    if (job->pool && !job->finished && !foreign(job->pool)) {
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
    sharr__block_rows(&job->geom, job->guided, i, r0, r1);
    return 0;
}

int sharr_job_block_status(sharr_job *job, size_t i, int *status)
{
    *status = SHARR_BLOCK_PENDING;
    if (i >= job->geom.nblocks)
        return sharr__fail(SHARR_EINVAL, "block %zu of %zu", i,
                           (size_t)job->geom.nblocks);
    if (job->pool && foreign(job->pool))
        return foreign_fail(job->pool);
    if (!sharr__job_private(job))
        return not_tracked(job);
    sharr__drain(job);
    *status = sharr__block_status(job, i);
    return 0;
}

const void *sharr_job_result(const sharr_job *job, size_t i)
{
    size_t n = job->geom.per_row ? job->geom.rows : job->geom.nblocks;

    if (!job->results || job->geom.result_size == 0 || i >= n ||
        (i + 1) * job->geom.result_size > job->results_len)
        return NULL;
    return job->results + i * job->geom.result_size;
}

void sharr_job_free(sharr_job *job)
{
    sharr_pool *p;

    if (!job)
        return;
    p = job->pool;
    if (p && foreign(p)) {
        /* The parent's job: nothing of it is ours to touch but our copy. */
        if (p->job == job)
            p->job = NULL;
        free(job);
        return;
    }
    if (p && !job->finished) {
        sharr_job_cancel(job);
        job->cb_stopped = true; /* freeing: no callback is wanted */
        wait_pool(job, -1.0, false, NULL);
    }
    if (p && p->job == job) {
        p->job = NULL;
        /* Give back the pages of a large result area (shared memory is
         * only freed by MADV_REMOVE). */
        if (job->results_len > ((size_t)1 << 20))
            madvise(p->conf.results, page_up(job->results_len), MADV_REMOVE);

    }
    if (job->own_buffers) {
        free(job->guided);
        free(job->results);
        free(job->errlog);
    }
    free(job->bstatus);
    free(job->order);
    free(job->consumed);
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

int sharr_pool_map(sharr_pool *p, const sharr_job_spec *spec, void *out,
                   size_t out_size)
{
    struct job_desc d;
    size_t need = 0;
    sharr_job *job;
    int err;

    /* The size first, before anything runs (the descriptor of a guided
     * schedule only counts its blocks here). */
    if ((err = sharr__describe(spec, p && p->nworkers ? (size_t)p->nworkers
                                                      : 1,
                               &d, NULL, SIZE_MAX, SIZE_MAX, SIZE_MAX)) < 0)
        return err;
    need = (d.per_row ? d.rows : d.nblocks) * d.result_size;
    if (out_size < need || (need && !out))
        return sharr__fail(SHARR_EINVAL, "the results need %zu bytes; out "
                           "has %zu", need, out ? out_size : 0);
    if ((err = sharr_pool_submit(p, spec, &job)) < 0)
        return err;
    err = sharr_job_wait(job, -1);
    if (need && job->results)
        memcpy(out, job->results, need);
    else if (need)
        memset(out, 0, need);
    sharr_job_free(job);
    return err;
}
