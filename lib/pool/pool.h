/*
 * pool.h - private to lib/pool/: the shared control area of a pool, the job
 * descriptor, the worker slots, and the calls between the pool's files.
 *
 * Files and their order (each uses only those before it):
 *   sched.c       schedules, block geometry, the job descriptor from a spec
 *   worker.c      the worker process: waiting for jobs, claiming blocks,
 *                 the array cache
 *   supervisor.c  the supervisor process (fork server): forks, reaps and
 *                 replaces workers, records their deaths, takes them down
 *                 with the caller; and the caller's channel to it
 *   results.c     the caller's bookkeeping of finished blocks: statuses
 *                 and completion order drained from the workers' logs,
 *                 error details, callbacks, copies that outlive the
 *                 pool's areas
 *   pool.c        the caller's side: create/destroy, submit, wait, results,
 *                 taking results one by one (imap)
 *   process.c     the caller's side of one-off processes (Process)
 *
 * Every process of a pool (caller, supervisor, workers) shares one anonymous
 * MAP_SHARED mapping made by the caller before the supervisor is forked:
 * struct pool_shared, then the guided-schedule table, the result area, one
 * block log per worker and the task arguments.
 */
#ifndef SHARR_POOL_POOL_H
#define SHARR_POOL_POOL_H

#include "internal.h"

#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define GUIDED_MAX 65536          /* blocks of a guided schedule */
#define ERRMSG_SIZE 1024
#define TRACK_MAX ((size_t)1 << 24) /* blocks whose status is kept */
#define LOG_TOTAL ((size_t)1 << 25) /* log entries of all workers */
#define ERRLOG_SIZE 64            /* failed blocks whose detail is kept */
#define ERRLOG_MSG 256

/* A block's status: 0 until it finished, then BLOCK_OK, or the negative
 * code it failed with. */
#define BLOCK_OK 1

/* What a worker's block log says, one entry per block it finished, in
 * order, written only by that worker (or, for the block it died in, by the
 * supervisor before it forks the replacement): no cache line is shared
 * between workers.  Published by the slot's log_len before the block is
 * counted done. */
struct log_entry {
    uint32_t block;
    int32_t status;
};

/* A worker's `block`: the block it runs, or one of these. */
#define BLOCK_NONE ((int64_t)-1)
#define BLOCK_CLAIMING ((int64_t)-2) /* between its abort check and a claim */

/* job_seq values: 0 is "nothing published yet" (publish() skips it when
 * the counter wraps); a replacement worker starts with `seen` = JOIN_ANY
 * (odd, so never a published value) and joins the job in progress, if
 * any. */
#define JOIN_ANY 1u

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
    uint32_t track;         /* blocks are logged (see struct log_entry) */
    uint32_t keep_going;    /* a kernel error does not abort the job */
    uint64_t task_arg_size; /* a task job: bytes of each task's record */
    uint64_t arg_size;
    unsigned char arg[SHARR_JOB_ARG_MAX];
};

/* A slot's state, written by its worker (READY, INIT_FAILED, RETIRING)
 * and by the supervisor (STARTING at each fork, EMPTY when it gives the
 * slot up).  RETIRING: the worker ran its max_blocks_per_worker blocks, left
 * its job and exits; the supervisor replaces it, and it is no failure. */
enum { W_EMPTY, W_STARTING, W_READY, W_INIT_FAILED, W_RETIRING };

struct worker_slot {
    _Atomic uint32_t state;
    _Atomic uint32_t active;          /* inside a job (see pool.c) */
    _Atomic int64_t block;            /* a block, BLOCK_NONE or _CLAIMING */
    _Atomic uint64_t claimed_job;     /* job whose static share was taken */
    _Atomic uint64_t resume;          /* of that share, the block a retired
                                         incarnation left for the next one
                                         (RESUME_NONE: nothing left) */
    _Atomic uint64_t log_len;         /* entries of this job's block log */
    _Atomic int32_t pid;              /* -1 while there is no live worker */
    _Atomic uint32_t gen;             /* incarnation, +1 at each fork */
    char init_msg[ERRMSG_SIZE];
} __attribute__((aligned(64)));

#define RESUME_NONE UINT64_MAX

/* The detail of a failed block (a ring of the latest ERRLOG_SIZE), for
 * sharr_job_next() and error callbacks.  seq is idx + 1 once written, 0
 * while being written. */
struct errlog_entry {
    _Atomic uint64_t seq;
    uint64_t block;
    char msg[ERRLOG_MSG];
};

/* A one-off process (process.c): the caller fills fn and arg and sets
 * SPAWN; the supervisor forks it (or says FAILED, -errno in `status`), the
 * child says RUNNING once its signal dispositions are reset, and the
 * supervisor reaps it (EXITED, `status` = exit status or -signal).  The
 * caller gives the slot back (FREE) once it is EXITED or FAILED. */
enum { P_FREE, P_SPAWN, P_RUNNING, P_EXITED, P_FAILED };

struct proc_slot {
    _Atomic uint32_t state;
    _Atomic uint32_t gen;             /* +1 at each spawn: commands name it */
    _Atomic int32_t pid;              /* -1 once reaped */
    _Atomic int32_t spawned_pid;      /* the pid it had */
    _Atomic int32_t status;
    sharr_process_fn fn;
    uint64_t arg_size;
    unsigned char arg[SHARR_PROCESS_ARG_MAX];
};

struct pool_shared {
    _Atomic uint32_t job_seq __attribute__((aligned(64)));
    _Atomic uint32_t sleepers;
    _Atomic uint32_t shutdown;
    _Atomic uint64_t next_block __attribute__((aligned(64)));
    _Atomic uint64_t done __attribute__((aligned(64)));
    _Atomic uint64_t skipped;         /* counted in done, never run; added
                                         before done (see finish()) */
    uint64_t job_no;                  /* the published job's number, from 1;
                                         never wraps (unlike job_seq) */
    _Atomic uint32_t abort;
    _Atomic uint32_t caller_sleeping;
    _Atomic uint32_t want_each;       /* the caller takes blocks one by one:
                                         wake it after each */
    _Atomic int32_t error __attribute__((aligned(64)));
    _Atomic uint64_t error_block;
    char errmsg[ERRMSG_SIZE];
    _Atomic int32_t broken;           /* a worker cannot be (re)started */
    char broken_msg[ERRMSG_SIZE];
    _Atomic uint64_t kills_sent;      /* kill commands the caller sent */
    _Atomic uint64_t kills_done;      /* ... the supervisor carried out */
    _Atomic uint64_t errlog_next;
    struct errlog_entry errlog[ERRLOG_SIZE];
    struct job_desc desc;
    struct worker_slot slots[SHARR_POOL_MAX_WORKERS];
    struct proc_slot procs[SHARR_PROCESS_MAX];
};

/* What the supervisor and each worker need to know; a copy is made before
 * the supervisor is forked and never changes. */
struct pool_conf {
    struct pool_shared *sh;
    uint64_t *guided;         /* GUIDED_MAX + 1 boundaries, in the mapping */
    unsigned char *results;   /* in the mapping */
    struct log_entry *logs;   /* log_cap entries per worker, in the mapping */
    size_t log_cap;
    unsigned char *task_args; /* in the mapping */
    size_t task_bytes;
    size_t map_size;          /* of the whole mapping */
    int nworkers;
    int evfd;                 /* wakes the caller (workers, supervisor) */
    double spin_us;           /* workers spin this long after a job */
    unsigned yield_every;     /* see spin_step() */
    int pin_cpu[SHARR_POOL_MAX_WORKERS]; /* -1: not pinned */
    sharr_pool_opts opts;
};

/* ---- small helpers shared by the pool's processes ---- */

static inline double sharr__now(void)
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

static inline long futex_wait(_Atomic uint32_t *addr, uint32_t val,
                              double secs)
{
    struct timespec ts = {(time_t)secs,
                          (long)((secs - (double)(time_t)secs) * 1e9)};
    return syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT, val,
                   secs >= 0 ? &ts : NULL, NULL, 0);
}

static inline void futex_wake_all(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Add one to an eventfd (never blocks: the counter cannot reach its max). */
void sharr__notify(int evfd);

/* Record the job's first error (later ones are dropped) and abort it. */
void sharr__record_error(struct pool_shared *sh, int code, size_t b,
                         const char *msg);

/* Log the death of worker `slot` in block b (code) in its block log. */
void sharr__log_death(const struct pool_conf *c, int slot, size_t b,
                      int code);

/* Keep the detail of failed block b in the error log (sh->errlog). */
void sharr__log_block_error(struct pool_shared *sh, size_t b,
                            const char *msg);

/* ---- sched.c ---- */

/* Fill *d (all but the argument bytes) from a spec for `nworkers` workers;
 * `guided` receives a guided schedule's table (NULL: count only); the
 * results and task records must fit in results_max and task_max bytes;
 * blocks are logged for jobs of at most track_max blocks.
 * @return 0, SHARR_EINVAL or SHARR_ESHAPE with the detail set. */
int sharr__describe(const sharr_job_spec *spec, size_t nworkers,
                    struct job_desc *d, uint64_t *guided, size_t results_max,
                    size_t task_max, size_t track_max);

/* Recompute a guided schedule's table for d into table. */
int sharr__guided_blocks(struct job_desc *d, uint64_t *table);

/* Rows [*r0, *r1) of block b of d. */
void sharr__block_rows(const struct job_desc *d, const uint64_t *guided,
                       size_t b, size_t *r0, size_t *r1);

/* Block b's (or row r0's) result slot in `results`, NULL without results. */
void *sharr__result_slot(const struct job_desc *d, unsigned char *results,
                         size_t b, size_t r0);

/* ---- worker.c ---- */

/* The body of worker `id`, forked by the supervisor `parent`; never
 * returns.  `seen`: the job_seq value it must not run (JOIN_ANY for a
 * replacement). */
__attribute__((noreturn)) void sharr__worker_main(const struct pool_conf *c,
                                                  int id, uint32_t seen,
                                                  pid_t parent);

/* ---- supervisor.c ---- */

/* A child process: its pidfd when the kernel gives one, else -1 and only
 * the pid (safe to signal and wait for while we have not reaped it). */
struct sharr__child {
    pid_t pid;
    int pidfd;
};

struct sharr__sup {
    struct sharr__child proc; /* the supervisor */
    int cmd;                  /* the caller's end of the command socket */
};

/* Fork the supervisor, which forks the workers.  On failure *s is unset
 * (pids -1, fds -1).  @return 0 or -errno of the failing call. */
int sharr__sup_start(const struct pool_conf *c, struct sharr__sup *s);

/* Ask the supervisor to SIGKILL worker i if it is still incarnation gen
 * (it then adds one to kills_done).  @return 0, or -1 when the command
 * could not be sent (the supervisor does not read: stopped?). */
int sharr__sup_kill(const struct sharr__sup *s, int i, uint32_t gen);

/* Ask the supervisor to fork process slot i (incarnation gen), or to send
 * it signal `sig`.  @return 0, or -1 when the command could not be sent. */
int sharr__sup_spawn(const struct sharr__sup *s, int i, uint32_t gen);
int sharr__sup_signal(const struct sharr__sup *s, int i, uint32_t gen,
                      int sig);

/* SIGKILL the supervisor itself (its workers die with it). */
void sharr__sup_abandon(struct sharr__sup *s);

/* The fd (and poll events) that tell the caller the supervisor died. */
int sharr__sup_waitfd(const struct sharr__sup *s, short *events);

/* Stop: graceful (workers leave on the shutdown flag, laggards are killed
 * after `grace` seconds) or not (kill every worker now).  Waits until the
 * supervisor has reaped every worker and exited, at most grace + 2 s, then
 * kills it; reaps it.  Closes the command socket; the pidfd stays for
 * free_pool. */
void sharr__sup_stop(struct sharr__sup *s, bool graceful, double grace);

/* ---- the caller's side (results.c, pool.c, process.c) ---- */

struct sharr_pool {
    struct pool_shared *sh;
    size_t map_size;
    struct pool_conf conf;    /* what the supervisor and workers got */
    size_t results_bytes;
    int nworkers;
    pid_t owner;              /* the process that created the pool */
    struct sharr__sup sup;
    bool sup_gone;            /* the supervisor died: the pool is broken */
    int ncpus;                /* CPUs this process may run on */
    int cpus[SHARR_POOL_MAX_WORKERS];
    sharr_job *job;           /* the job using the shared areas, if any */
    bool in_callback;         /* a callback of that job is running */
    uint32_t kill_sent[SHARR_POOL_MAX_WORKERS]; /* gen + 1 already asked */
    sharr_process *procs[SHARR_PROCESS_MAX];    /* handle of each slot */
};

/* One way of going through a job's finished blocks, each exactly once:
 * first in the order the caller learnt they finished (job->order); then,
 * once the job is over, the blocks that never finished (skipped), in block
 * order. */
struct reader {
    size_t pos;               /* next position in job->order */
    size_t sweep;             /* next block of the sweep */
};

enum { NEXT_NONE, NEXT_ORDERED, NEXT_UNORDERED };

struct sharr_job {
    sharr_pool *pool;         /* NULL: ran in the caller, or detached */
    struct job_desc geom;     /* geometry fields only (no arg) are used */
    uint64_t *guided;         /* this job's table (pool's or malloc'ed) */
    unsigned char *results;
    size_t results_len;
    /* Block statuses and their order, drained from the workers' logs
     * (caller-private, made on first use; results.c) */
    bool tracked;             /* kept for this job */
    int32_t *bstatus;         /* per block: 0, BLOCK_OK or a code */
    uint32_t *order;          /* blocks in the order they were drained */
    size_t order_len;
    uint64_t *consumed;       /* per worker: log entries drained */
    struct errlog_entry *errlog; /* the pool's, or a private copy */
    bool own_buffers;         /* guided/results/errlog malloc'ed */
    bool inline_run;          /* ran in the caller (pool == NULL) */
    bool finished;
    bool canceled;
    size_t ran;
    int status;
    size_t error_block;
    char errmsg[ERRMSG_SIZE];
    size_t done_inline;
    size_t inline_errors;     /* failures logged by an inline run */
    void (*progress)(size_t, size_t, void *);
    void *progress_ctx;
    size_t last_progress;
    /* Taking blocks one by one (sharr_job_next*) */
    int next_mode;
    size_t next_block;        /* in block order */
    struct reader next_reader;/* in completion order */
    /* Callbacks */
    int (*callback)(size_t, const void *, void *);
    int (*error_callback)(size_t, int, const char *, void *);
    void *callback_ctx;
    struct reader cb_reader;
    bool cb_stopped;          /* a callback failed: no more are called */
    bool in_callback;         /* one of them is running */
};

/* results.c */

/* The caller-private status arrays; false when out of memory (then the
 * job's statuses are not kept). */
bool sharr__job_private(sharr_job *job);

/* Read what the workers logged since the last call (an attached job). */
void sharr__drain(sharr_job *job);

/* Block b finished with status st (BLOCK_OK or a code): note it, once. */
void sharr__note_block(sharr_job *job, size_t b, int32_t st);

/* The status of block b as sharr_job_block_status() reports it. */
int sharr__block_status(const sharr_job *job, size_t b);

/* The next block for reader r: 1 and *b, 0 when none is there yet, -1
 * when every block was given. */
int sharr__reader_next(sharr_job *job, struct reader *r, size_t *b);

/* The detail of block b's failure `code` into buf. */
void sharr__block_detail(const sharr_job *job, size_t b, int code,
                         char *buf, size_t size);

/* Run the callbacks of the blocks finished since the last call (and, once
 * the job is over, of every block left).  A failing callback stops them
 * and fails the job: through `sh` while it runs (NULL: it is over). */
void sharr__run_callbacks(sharr_job *job, struct pool_shared *sh);

/* Private copies of what the job reads in the pool's areas, so the handle
 * outlives them (the next job, or the pool); drain its logs first.  On
 * memory shortage the missing parts read as absent (no results). */
void sharr__job_copy_out(sharr_job *job);


/* pool.c, for process.c */
void sharr__pool_sleep(sharr_pool *p, double secs);
bool sharr__pool_foreign(const sharr_pool *p);
int sharr__pool_foreign_fail(const sharr_pool *p);

/* process.c, for pool.c: the pool goes away; keep each handle's status
 * (ours: read it from the shared area; else, in a forked child, do not
 * touch it). */
void sharr__detach_processes(sharr_pool *p, bool ours);

#endif /* SHARR_POOL_POOL_H */
