/*
 * supervisor.c - the pool's supervisor: one small single-threaded process,
 * forked by the caller at pool creation (Python's `forkserver` start
 * method), that forks every worker, first or replacement, reaps it, records
 * its death, replaces it, and takes all of them down with the caller.
 *
 * Why: a worker forked from the live caller would inherit whatever the
 * caller holds at that moment (other threads' locks, fds opened since, the
 * host's signal handlers) and would be the caller's child, visible to its
 * wait(-1) or SIGCHLD reaper.  Forked from the supervisor, every worker
 * starts from the caller's memory as it was at pool creation, with only
 * stdin, stdout and stderr open, default signal dispositions (SIGINT
 * ignored), no lock held, and is nobody's child but the supervisor's.
 *
 * Rules: the supervisor signals workers only through pidfds (a reaped pid
 * is never signalled) and reaps each exactly once (waitid(P_PIDFD)).  It
 * watches the caller through a pidfd of the caller's *process* (not a
 * thread) and EOF on the command socket, whose only other end is the
 * caller's (close-on-exec); either means the caller is gone, and it kills
 * every worker and exits.  Workers die with it by PR_SET_PDEATHSIG (the
 * supervisor has one thread, so "thread" and "process" are the same).  A
 * worker's death is recorded in the shared area (the job's error, naming
 * worker, pid, block and signal, *before* the slot is cleared, so a caller
 * that sees the slot free also sees the error) and the caller is woken
 * through the eventfd it polls.
 *
 * One-off processes (process.c) are forked here too, from the same clean
 * state, tracked, signalled and reaped by the same rules; their exit status
 * goes to their slot in the shared area.  They die with the supervisor
 * (PR_SET_PDEATHSIG), and it kills and reaps them when it leaves.
 *
 * Without pidfds (kernels before 5.3, or valgrind 3.19, which does not know
 * pidfd_open) the same guarantees rest on pids of *unreaped children*,
 * which the kernel cannot hand to another process: the supervisor learns
 * of deaths from a signalfd of SIGCHLD and of the caller's from the command
 * socket and a change of its parent; the caller learns of the supervisor's
 * death from a hang-up of the command socket.
 */
#define _GNU_SOURCE
#include "pool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

enum { CMD_KILL = 1, CMD_SHUTDOWN, CMD_TERMINATE, CMD_SPAWN, CMD_SIGNAL };

struct sup_cmd {
    uint32_t op;
    int32_t worker;       /* a worker, or a process slot */
    uint32_t gen;
    uint32_t sig;         /* CMD_SIGNAL; no padding: every byte sent is
                             initialized */
    double grace;
};

struct sup {
    const struct pool_conf *c;
    struct pool_shared *sh;
    int cmd;                              /* the supervisor's end */
    int owner;                            /* pidfd of the caller, or -1 */
    pid_t owner_pid;
    int sigchld;                          /* signalfd without pidfds, or -1 */
    struct sharr__child w[SHARR_POOL_MAX_WORKERS];
    uint32_t killed[SHARR_POOL_MAX_WORKERS]; /* gen + 1 killed on request */
    unsigned start_deaths[SHARR_POOL_MAX_WORKERS]; /* in a row, per slot */
    struct sharr__child p[SHARR_PROCESS_MAX];
    sigset_t host_ignored;                /* SIG_IGN in the caller */
    bool stopping;
};

/* What the supervisor ignores beyond the caller's own SIG_IGN: signals a
 * terminal or a process-group kill sends to the whole job, which are for
 * the caller to handle (the supervisor dies with the caller anyway). */
static const int sup_ignores[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP,
                                  SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2};

/* ---- a child process: its pidfd, or only its pid ---- */

/* Track our new child `pid`.  @return 0 or -errno (not ENOSYS: then only
 * the pid is kept, safe while we have not reaped it). */
static int child_track(pid_t pid, struct sharr__child *c)
{
    c->pid = pid;
    if ((c->pidfd = pidfd_open(pid, 0)) < 0 && errno != ENOSYS)
        return -errno;
    return 0;
}

/* Signal a child we have not reaped, or one whose pidfd we hold. */
static void child_signal(const struct sharr__child *c, int sig)
{
    if (c->pidfd >= 0)
        pidfd_send_signal(c->pidfd, sig, NULL, 0);
    else if (c->pid > 0)
        kill(c->pid, sig); /* unreaped: the pid is still this child's */
}

static void child_kill(const struct sharr__child *c)
{
    child_signal(c, SIGKILL);
}

/* 1 if the child has exited (not reaped yet), without blocking. */
static int child_exited(const struct sharr__child *c)
{
    siginfo_t si;
    if (c->pid <= 0)
        return 0;
    if (c->pidfd >= 0) {
        struct pollfd fd = {c->pidfd, POLLIN, 0};
        return poll(&fd, 1, 0) == 1;
    }
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return errno == ECHILD; /* reaped by someone else: gone too */
    return si.si_pid != 0;
}

/* Reap the child (blocking until it exits) into *si; forget it. */
static void child_reap(struct sharr__child *c, siginfo_t *si)
{
    memset(si, 0, sizeof *si);
    if (c->pid <= 0)
        return;
    /* ECHILD: a SIGCHLD reaper of the host's took it.  waitid on a pidfd
     * can never take the status of another process. */
    while (waitid(c->pidfd >= 0 ? P_PIDFD : P_PID,
                  (id_t)(c->pidfd >= 0 ? c->pidfd : c->pid), si,
                  WEXITED) < 0 && errno == EINTR)
        ;
    if (c->pidfd >= 0)
        close(c->pidfd);
    c->pidfd = -1;
    c->pid = -1;
}

/* ---- the supervisor process ---- */

static void describe_death(const siginfo_t *si, char *buf, size_t size)
{
    if (si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED)
        snprintf(buf, size, "killed by signal %d (%s)", si->si_status,
                 strsignal(si->si_status));
    else
        snprintf(buf, size, "exited with status %d", si->si_status);
}

/* Keep 0, 1, 2 and the fds in keep[] (sorted, n of them, negative ones
 * ignored); close the rest.  Without close_range (Linux < 5.9), walk
 * /proc/self/fd. */
static void close_other_fds(const int *keep, int n)
{
    unsigned from = 3;
    bool ok = true;

    for (int k = 0; k < n; k++) {
        if (keep[k] < 0)
            continue;
        if ((unsigned)keep[k] > from)
            ok = ok && close_range(from, (unsigned)keep[k] - 1, 0) == 0;
        if ((unsigned)keep[k] + 1 > from)
            from = (unsigned)keep[k] + 1;
    }
    ok = ok && close_range(from, ~0u, 0) == 0;
    if (ok)
        return;
    for (int pass = 0; pass < 2; pass++) { /* closing changes the listing */
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        if (!d)
            return;
        while ((e = readdir(d)) != NULL) {
            int fd = atoi(e->d_name), kept = fd <= 2 || fd == dirfd(d);
            for (int k = 0; k < n; k++)
                kept |= fd == keep[k];
            if (e->d_name[0] != '.' && !kept)
                close(fd);
        }
        closedir(d);
    }
}

/* In a child just forked: the signal state of a fresh program.  Only the
 * supervisor ignores sup_ignores; children ignore SIGINT (and what the
 * caller ignored), as the pool's workers always did. */
static void child_signals(const struct sup *s)
{
    sigset_t none;

    for (size_t k = 0; k < sizeof sup_ignores / sizeof *sup_ignores; k++)
        if (sup_ignores[k] != SIGINT &&
            !sigismember(&s->host_ignored, sup_ignores[k]))
            signal(sup_ignores[k], SIG_DFL);
    sigemptyset(&none);       /* SIGCHLD is blocked without pidfds */
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static int fork_worker(struct sup *s, int i, uint32_t seen)
{
    struct worker_slot *slot = &s->sh->slots[i];
    pid_t self = getpid(), pid;
    int err;

    atomic_store(&slot->pid, -1);
    atomic_store(&slot->block, BLOCK_NONE);
    atomic_store(&slot->active, 0);
    atomic_store(&slot->state, W_STARTING);
    atomic_fetch_add(&slot->gen, 1);
    if ((pid = fork()) < 0)
        return -errno;
    if (pid == 0) {
        int keep[] = {s->c->evfd};
        child_signals(s);
        close_other_fds(keep, 1);
        sharr__worker_main(s->c, i, seen, self);
    }
    if ((err = child_track(pid, &s->w[i])) < 0) {
        siginfo_t si;
        child_kill(&s->w[i]);
        child_reap(&s->w[i], &si);
        return err;
    }
    atomic_store(&slot->pid, pid);
    return 0;
}

static void set_broken(struct sup *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_broken(struct sup *s, int code, const char *fmt, ...)
{
    va_list ap;
    if (atomic_load(&s->sh->broken))
        return;
    va_start(ap, fmt);
    vsnprintf(s->sh->broken_msg, sizeof s->sh->broken_msg, fmt, ap);
    va_end(ap);
    atomic_store(&s->sh->broken, code);
}

/* The worker of slot i died in `block`: that block's status says so
 * (unless the worker had logged it already: the first entry wins), with
 * the detail.  Written before the replacement is forked, so the slot's
 * log still has one writer. */
static void block_died(struct sup *s, int i, int64_t block, const char *msg)
{
    const struct job_desc *d = &s->sh->desc;
    int code = s->killed[i] == atomic_load(&s->sh->slots[i].gen) + 1
                   ? SHARR_ETIMEDOUT : SHARR_EWORKER;

    if (!d->track || block < 0 || (uint64_t)block >= d->nblocks)
        return;
    sharr__log_block_error(s->sh, (size_t)block, msg);
    sharr__log_death(s->c, i, (size_t)block, code);
}

/* How many times in a row a slot's worker may die while starting (killed
 * from outside, say, while replacements come often: max_blocks_per_worker)
 * before the pool is broken: one that always dies (its initializer
 * crashes) must not make the supervisor fork forever. */
#define START_RETRIES 3

/* Worker i died: record it, free its slot, replace it when it had been
 * ready or retired, or died while starting fewer than START_RETRIES times
 * in a row. */
static void on_death(struct sup *s, int i)
{
    struct worker_slot *slot = &s->sh->slots[i];
    pid_t pid = s->w[i].pid;
    siginfo_t si;
    char why[128], msg[ERRMSG_SIZE];
    int64_t block = atomic_load(&slot->block);
    uint32_t state = atomic_load(&slot->state);
    bool retired = state == W_RETIRING;
    bool retry = state == W_STARTING && s->start_deaths[i] < START_RETRIES;

    atomic_store(&slot->pid, -1); /* before the pid can be reused */
    child_reap(&s->w[i], &si);
    describe_death(&si, why, sizeof why);
    if (block >= 0) {
        size_t r0, r1;
        sharr__block_rows(&s->sh->desc, s->c->guided, (size_t)block, &r0,
                          &r1);
        snprintf(msg, sizeof msg, "worker %d (pid %d) %s in block %lld "
                 "(rows %zu..%zu)", i, (int)pid, why, (long long)block, r0,
                 r1);
    } else {
        snprintf(msg, sizeof msg, "worker %d (pid %d) %s %s", i, (int)pid,
                 why, state == W_READY ? "between blocks" : "while starting");
    }
    if (block >= 0)
        block_died(s, i, block, msg);
    if (atomic_load(&slot->active) && !retired)
        sharr__record_error(s->sh, SHARR_EWORKER,
                            block >= 0 ? (size_t)block : 0, msg);
    /* Workers leave by themselves on the shutdown flag of a destroy. */
    s->stopping = s->stopping || atomic_load(&s->sh->shutdown);
    if (state == W_INIT_FAILED)
        set_broken(s, SHARR_EWORKER, "the initializer of worker %d failed: "
                   "%s", i, slot->init_msg);
    else if (state != W_READY && !retired && !retry && !s->stopping)
        set_broken(s, SHARR_EWORKER, "%s", msg);
    s->start_deaths[i] = state == W_STARTING ? s->start_deaths[i] + 1 : 0;
    /* The error is in place: now the slot may look free to the caller. */
    atomic_store(&slot->block, BLOCK_NONE);
    atomic_store(&slot->active, 0);
    atomic_store(&slot->state, W_EMPTY);
    if ((state == W_READY || retired || retry) && !s->stopping &&
        !atomic_load(&s->sh->broken)) {
        int err = fork_worker(s, i, JOIN_ANY);
        if (err < 0) {
            atomic_store(&slot->state, W_EMPTY);
            set_broken(s, SHARR_EWORKER, "worker %d could not be replaced: "
                       "fork: %s", i, strerror(-err));
        }
    }
    sharr__notify(s->c->evfd);
}

static void kill_all(struct sup *s)
{
    for (int i = 0; i < s->c->nworkers; i++)
        child_kill(&s->w[i]);
}

/* ---- one-off processes ---- */

/* In the child of process slot i: a fresh program's state, then fn. */
__attribute__((noreturn)) static void process_main(struct sup *s, int i,
                                                   pid_t parent)
{
    const struct proc_slot *slot = &s->sh->procs[i];
    unsigned char arg[SHARR_PROCESS_ARG_MAX];
    sharr_process_fn fn = slot->fn;
    size_t n = slot->arg_size <= sizeof arg ? slot->arg_size : 0;
    int rc;

    int keep[] = {s->c->evfd};

    child_signals(s);
    close_other_fds(keep, 1);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) /* died before PDEATHSIG was armed */
        sharr__child_exit(1);
    prctl(PR_SET_NAME, "sharr-process", 0, 0, 0);
    memcpy(arg, slot->arg, n);
    /* RUNNING only now: a SIGTERM sent before the dispositions were reset
     * would have been discarded (the supervisor ignores it). */
    atomic_store(&s->sh->procs[i].spawned_pid, getpid());
    atomic_store(&s->sh->procs[i].state, P_RUNNING);
    sharr__notify(s->c->evfd);
    close(s->c->evfd);
    /* The pool's shared area is none of its business. */
    munmap(s->c->sh, s->c->map_size);
    rc = fn(arg, n);
    fflush(stdout);
    fflush(stderr);
    sharr__child_exit(rc >= 0 && rc <= 255 ? rc : 1);
}

static void spawn_process(struct sup *s, int i, uint32_t gen)
{
    struct proc_slot *slot = &s->sh->procs[i];
    pid_t self = getpid(), pid;
    int err = 0;

    if (atomic_load(&slot->state) != P_SPAWN ||
        atomic_load(&slot->gen) != gen || s->p[i].pid > 0)
        return;
    if ((pid = fork()) == 0)
        process_main(s, i, self);
    if (pid < 0 || (err = child_track(pid, &s->p[i])) < 0) {
        err = pid < 0 ? -errno : err;
        if (pid > 0) {
            siginfo_t si;
            child_kill(&s->p[i]);
            child_reap(&s->p[i], &si);
        }
        atomic_store(&slot->status, err);
        atomic_store(&slot->state, P_FAILED);
    } else {
        /* The child says RUNNING itself, once its signals are reset. */
        atomic_store(&slot->spawned_pid, pid);
        atomic_store(&slot->pid, pid);
    }
    sharr__notify(s->c->evfd);
}

/* Process i ended: reap it, record how. */
static void on_process_end(struct sup *s, int i)
{
    struct proc_slot *slot = &s->sh->procs[i];
    siginfo_t si;

    child_reap(&s->p[i], &si);
    atomic_store(&slot->status, si.si_code == CLD_EXITED ? si.si_status
                                                          : -si.si_status);
    atomic_store(&slot->pid, -1);
    atomic_store(&slot->state, P_EXITED);
    sharr__notify(s->c->evfd);
}

static void kill_processes(struct sup *s)
{
    for (int i = 0; i < SHARR_PROCESS_MAX; i++)
        if (s->p[i].pid > 0) {
            child_kill(&s->p[i]);
            on_process_end(s, i); /* a SIGKILL is never ignored */
        }
}

/* Leave: kill the workers still there (after `grace` seconds for them to
 * leave by themselves), reap every one, exit. */
__attribute__((noreturn)) static void sup_exit(struct sup *s, double grace)
{
    double deadline = sharr__now() + grace;
    bool killed = grace <= 0;

    s->stopping = true;
    kill_processes(s);
    if (killed)
        kill_all(s);
    for (int i = 0; i < s->c->nworkers; i++) {
        while (s->w[i].pid > 0) {
            double left = deadline - sharr__now();
            siginfo_t si;
            if (!killed && left <= 0) {
                kill_all(s);
                killed = true;
            }
            if (killed || child_exited(&s->w[i])) {
                child_reap(&s->w[i], &si); /* a SIGKILL is never ignored */
                continue;
            }
            struct pollfd fd = {s->w[i].pidfd >= 0 ? s->w[i].pidfd
                                                   : s->sigchld, POLLIN, 0};
            int ms = (int)(left * 1000) + 1;
            if (poll(&fd, 1, ms < 50 ? ms : 50) > 0 && fd.fd == s->sigchld) {
                struct signalfd_siginfo ssi;
                (void)!read(s->sigchld, &ssi, sizeof ssi);
            }
        }
    }
    sharr__notify(s->c->evfd);
    sharr__child_exit(0);
}

static void on_command(struct sup *s)
{
    struct sup_cmd m;
    ssize_t n = recv(s->cmd, &m, sizeof m, 0);

    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
        sup_exit(s, 0); /* the caller is gone */
    if (n != (ssize_t)sizeof m)
        return;
    if (m.op == CMD_KILL) {
        if (m.worker >= 0 && m.worker < s->c->nworkers &&
            atomic_load(&s->sh->slots[m.worker].gen) == m.gen) {
            s->killed[m.worker] = m.gen + 1;
            child_kill(&s->w[m.worker]);
        }
        atomic_fetch_add(&s->sh->kills_done, 1); /* carried out or moot */
    }
    else if (m.op == CMD_SPAWN && m.worker >= 0 &&
             m.worker < SHARR_PROCESS_MAX)
        spawn_process(s, m.worker, m.gen);
    else if (m.op == CMD_SIGNAL && m.worker >= 0 &&
             m.worker < SHARR_PROCESS_MAX && s->p[m.worker].pid > 0 &&
             atomic_load(&s->sh->procs[m.worker].gen) == m.gen &&
             m.sig > 0 && m.sig < (uint32_t)NSIG)
        child_signal(&s->p[m.worker], (int)m.sig);
    else if (m.op == CMD_SHUTDOWN)
        sup_exit(s, m.grace);
    else if (m.op == CMD_TERMINATE)
        sup_exit(s, 0);
}

/* The caller's state that a worker must not inherit: signal handlers and
 * mask, fds, guardians of temporary arrays (mappings of array segments go
 * after the first forks: sup_main, sharr__worker_main). */
static void clean_slate(struct sup *s)
{
    sigset_t none;
    int keep[3] = {s->owner, s->cmd, s->c->evfd}; /* -1 sorts first */

    /* Signals are blocked since before the fork (sharr__sup_start), so no
     * handler of the caller's runs here before it is reset.  As at exec:
     * handled signals go back to the default, ignored ones stay ignored,
     * but for SIGCHLD: ignored (or SA_NOCLDWAIT), the kernel reaps the
     * children itself and no exit status is left to wait for, here or in
     * a process that runs system(). */
    sigemptyset(&s->host_ignored);
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction old;
        if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &old))
            continue; /* glibc's internal signals say EINVAL */
        if (old.sa_handler == SIG_IGN && sig != SIGCHLD)
            sigaddset(&s->host_ignored, sig);
        else if (old.sa_handler != SIG_DFL || sig == SIGCHLD)
            signal(sig, SIG_DFL);
    }
    for (size_t k = 0; k < sizeof sup_ignores / sizeof *sup_ignores; k++)
        signal(sup_ignores[k], SIG_IGN);
    sigemptyset(&none);
    if (s->owner < 0) {
        /* No pidfds: deaths of workers come as SIGCHLD on a signalfd. */
        sigaddset(&none, SIGCHLD);
        s->sigchld = signalfd(-1, &none, SFD_CLOEXEC | SFD_NONBLOCK);
        keep[0] = s->sigchld;
    }
    sigprocmask(SIG_SETMASK, &none, NULL);
    prctl(PR_SET_NAME, "sharr-pool", 0, 0, 0);
    sharr__guardian_drop_inherited();
    for (int a = 0; a < 3; a++)
        for (int b = a + 1; b < 3; b++)
            if (keep[b] < keep[a]) {
                int t = keep[a];
                keep[a] = keep[b];
                keep[b] = t;
            }
    close_other_fds(keep, 3);
}

/* Without a pidfd of the caller: it is gone when our parent changed. */
static void check_owner(struct sup *s)
{
    if (s->owner < 0 && getppid() != s->owner_pid)
        sup_exit(s, 0);
}

__attribute__((noreturn)) static void sup_main(const struct pool_conf *c,
                                               int cmd, int owner,
                                               pid_t owner_pid)
{
    struct sup s;
    struct pollfd fds[SHARR_POOL_MAX_WORKERS + SHARR_PROCESS_MAX + 3];

    memset(&s, 0, sizeof s);
    s.c = c;
    s.sh = c->sh;
    s.cmd = cmd;
    s.owner = owner;
    s.owner_pid = owner_pid;
    s.sigchld = -1;
    for (int i = 0; i < SHARR_POOL_MAX_WORKERS; i++)
        s.w[i].pid = s.w[i].pidfd = -1;
    for (int i = 0; i < SHARR_PROCESS_MAX; i++)
        s.p[i].pid = s.p[i].pidfd = -1;
    clean_slate(&s);
    check_owner(&s);
    for (int i = 0; i < c->nworkers; i++) {
        int err = fork_worker(&s, i, 0);
        if (err < 0) {
            set_broken(&s, SHARR_EWORKER, "fork of worker %d: %s", i,
                       strerror(-err));
            sharr__notify(c->evfd);
            break;
        }
    }
    /* Segments the caller had mapped: let go of them, once the first
     * workers are on their way (reading /proc/self/maps costs ~70 us);
     * replacements come from a supervisor without them. */
    sharr__unmap_segments();
    for (;;) {
        int n = 0;
        fds[n++] = (struct pollfd){s.owner, POLLIN, 0};
        fds[n++] = (struct pollfd){cmd, POLLIN, 0};
        fds[n++] = (struct pollfd){s.sigchld, POLLIN, 0};
        for (int i = 0; i < c->nworkers; i++)
            fds[n++] = (struct pollfd){s.w[i].pidfd, POLLIN, 0};
        for (int i = 0; i < SHARR_PROCESS_MAX; i++)
            fds[n++] = (struct pollfd){s.p[i].pidfd, POLLIN, 0};
        if (poll(fds, (nfds_t)n, s.owner >= 0 ? -1 : 1000) < 0)
            continue;
        check_owner(&s);
        if (fds[0].revents)
            sup_exit(&s, 0); /* the caller's process exited */
        if (fds[1].revents)
            on_command(&s);
        if (fds[2].revents) {
            struct signalfd_siginfo ssi;
            while (read(s.sigchld, &ssi, sizeof ssi) > 0)
                ;
        }
        for (int i = 0; i < c->nworkers; i++)
            if (s.w[i].pidfd >= 0 ? fds[i + 3].revents != 0
                                  : child_exited(&s.w[i]))
                on_death(&s, i);
        for (int i = 0; i < SHARR_PROCESS_MAX; i++)
            if (s.p[i].pid > 0 &&
                (s.p[i].pidfd >= 0 ? fds[c->nworkers + 3 + i].revents != 0
                                   : child_exited(&s.p[i])))
                on_process_end(&s, i);
    }
}

/* ---- the caller's side ---- */

int sharr__sup_start(const struct pool_conf *c, struct sharr__sup *s)
{
    int sv[2] = {-1, -1}, self = -1, err;
    pid_t caller = getpid(), pid;
    sigset_t all, old;

    s->proc.pid = -1;
    s->proc.pidfd = s->cmd = -1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return sharr__fail_os(-errno, "socketpair for the pool supervisor");
    /* A pidfd of this process (not thread): readable when it exits. */
    if ((self = pidfd_open(caller, 0)) < 0 && errno != ENOSYS) {
        err = sharr__fail_os(-errno, "pidfd_open of the caller");
        goto fail;
    }
    /* A child must not write the caller's buffered output again.  Only
     * stdout and stderr: fflush(NULL) would wait for the lock of a stream
     * another thread is reading (stdin), and workers flush only these. */
    fflush(stdout);
    fflush(stderr);
    /* Blocked across the fork, so that no handler of ours runs in the
     * supervisor before it has reset them. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = fork();
    if (pid == 0) {
        close(sv[1]);
        sup_main(c, sv[0], self, caller);
    }
    err = -errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        err = sharr__fail_os(err, "fork of the pool supervisor");
        goto fail;
    }
    close(sv[0]);
    if (self >= 0)
        close(self);
    s->cmd = sv[1];
    if ((err = child_track(pid, &s->proc)) < 0) {
        siginfo_t si;
        child_kill(&s->proc);
        child_reap(&s->proc, &si);
        close(s->cmd);
        s->cmd = -1;
        return sharr__fail_os(err, "pidfd_open of the pool supervisor");
    }
    return 0;
fail:
    close(sv[0]);
    close(sv[1]);
    if (self >= 0)
        close(self);
    return err;
}

/* The caller's end is non-blocking: a supervisor that does not read (it
 * is stopped) makes this fail with EAGAIN instead of blocking the caller. */
static int send_cmd(const struct sharr__sup *s, const struct sup_cmd *m)
{
    ssize_t rc;
    do {
        rc = send(s->cmd, m, sizeof *m, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (rc < 0 && errno == EINTR);
    return rc == (ssize_t)sizeof *m ? 0 : -1;
}

int sharr__sup_kill(const struct sharr__sup *s, int i, uint32_t gen)
{
    struct sup_cmd m = {CMD_KILL, i, gen, 0, 0};
    return send_cmd(s, &m);
}

int sharr__sup_spawn(const struct sharr__sup *s, int i, uint32_t gen)
{
    struct sup_cmd m = {CMD_SPAWN, i, gen, 0, 0};
    return send_cmd(s, &m);
}

int sharr__sup_signal(const struct sharr__sup *s, int i, uint32_t gen,
                      int sig)
{
    struct sup_cmd m = {CMD_SIGNAL, i, gen, (uint32_t)sig, 0};
    return send_cmd(s, &m);
}

void sharr__sup_abandon(struct sharr__sup *s)
{
    child_kill(&s->proc);
}

int sharr__sup_waitfd(const struct sharr__sup *s, short *events)
{
    /* The supervisor's end of the socket is in no other process (workers
     * close it), so its hang-up is the supervisor's death. */
    *events = s->proc.pidfd >= 0 ? POLLIN : POLLHUP;
    return s->proc.pidfd >= 0 ? s->proc.pidfd : s->cmd;
}

void sharr__sup_stop(struct sharr__sup *s, bool graceful, double grace)
{
    struct sup_cmd m = {graceful ? CMD_SHUTDOWN : CMD_TERMINATE, -1, 0, 0,
                        graceful ? grace : 0};
    struct pollfd fd;
    siginfo_t si;

    if (s->proc.pid <= 0)
        return;
    fd.fd = sharr__sup_waitfd(s, &fd.events);
    /* It reaps its workers before it exits: wait for that, bounded. */
    if ((send_cmd(s, &m) < 0 ||
         poll(&fd, 1, (int)((graceful ? grace : 0) * 1000) + 2000) <= 0) &&
        (s->proc.pidfd >= 0 || !child_exited(&s->proc)))
        child_kill(&s->proc);
    child_reap(&s->proc, &si);
    close(s->cmd);
    s->cmd = -1;
}
