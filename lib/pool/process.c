/*
 * process.c - the caller's side of one-off processes (Python's Process):
 * start, join, is_alive, terminate, kill, free.
 *
 * The caller never forks or signals a process itself: it fills a slot of
 * the pool's shared area and asks the supervisor (supervisor.c) to fork it
 * and, later, to signal it; the supervisor reaps it, writes its exit status
 * into the slot and wakes the caller through the pool's eventfd.  Every
 * command names the slot's generation, so one meant for an earlier process
 * of a slot never reaches a later one, and the supervisor signals only a
 * child it has not reaped.  A slot is given back when its process has been
 * reaped and no handle holds it (a handle freed while its process runs
 * leaves the slot to be taken once the supervisor has reaped it).
 */
#define _GNU_SOURCE
#include "pool.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPAWN_WAIT_S 5.0          /* for the supervisor to fork */
#define JOIN_NAP_S 0.05           /* longest sleep between looks */

struct sharr_process {
    sharr_pool *pool;     /* NULL once the pool is gone */
    int slot;
    uint32_t gen;
    pid_t pid;
    bool ended;
    int exitcode;         /* once ended: exit status, or -signal */
    int end_err;          /* once ended: 0, or why the status is unknown */
};

/* Look at the slot: true once the process has ended (*proc updated). */
static bool ended(sharr_process *proc)
{
    const struct proc_slot *slot;

    if (proc->ended || !proc->pool)
        return true;
    slot = &proc->pool->sh->procs[proc->slot];
    if (atomic_load(&slot->state) == P_EXITED) {
        proc->exitcode = atomic_load(&slot->status);
        proc->ended = true;
    } else if (proc->pool->sup_gone) {
        proc->end_err = SHARR_EWORKER;
        proc->ended = true;
    }
    return proc->ended;
}

/* A slot no handle holds and no process uses, or -1. */
static int free_slot(const sharr_pool *p)
{
    for (int i = 0; i < SHARR_PROCESS_MAX; i++) {
        uint32_t st = atomic_load(&p->sh->procs[i].state);
        if (!p->procs[i] && (st == P_FREE || st == P_EXITED || st == P_FAILED))
            return i;
    }
    return -1;
}

/* Wait (bounded) for the supervisor to fork slot i's process. */
static int await_spawn(sharr_pool *p, sharr_process *proc)
{
    struct proc_slot *slot = &p->sh->procs[proc->slot];
    double deadline = sharr__now() + SPAWN_WAIT_S;

    for (;;) {
        uint32_t st = atomic_load(&slot->state);
        if (st == P_RUNNING || st == P_EXITED) { /* it may be over already */
            proc->pid = atomic_load(&slot->spawned_pid);
            return 0;
        }
        if (st == P_FAILED)
            return sharr__fail_os(atomic_load(&slot->status), "fork of a "
                                  "process by the pool's supervisor");
        if (p->sup_gone)
            return sharr__fail(SHARR_EWORKER, "%s", p->sh->broken_msg);
        if (sharr__now() >= deadline) {
            /* If it ever forks it, the kill that follows in the command
             * queue takes the process down again. */
            sharr__sup_signal(&p->sup, proc->slot, proc->gen, SIGKILL);
            return sharr__fail(SHARR_ETIMEDOUT, "the pool's supervisor did "
                               "not fork the process within %g s (stopped?)",
                               SPAWN_WAIT_S);
        }
        sharr__pool_sleep(p, 0.01);
    }
}

int sharr_process_start(sharr_pool *p, sharr_process_fn fn, const void *arg,
                        size_t arg_size, sharr_process **out)
{
    sharr_process *proc;
    struct proc_slot *slot;
    int i, err;

    *out = NULL;
    if (!p)
        return sharr__fail(SHARR_EINVAL, "pool is NULL: a process is forked "
                           "by a pool's supervisor, never by the caller");
    if (sharr__pool_foreign(p))
        return sharr__pool_foreign_fail(p);
    if (!fn || arg_size > SHARR_PROCESS_ARG_MAX || (arg_size && !arg))
        return sharr__fail(SHARR_EINVAL, "process function %s, argument of "
                           "%zu bytes (at most %d)", fn ? "set" : "NULL",
                           arg_size, SHARR_PROCESS_ARG_MAX);
    sharr__pool_sleep(p, 0); /* notice a dead supervisor */
    if (p->sup_gone)
        return sharr__fail(SHARR_EWORKER, "%s", p->sh->broken_msg);
    if ((i = free_slot(p)) < 0)
        return sharr__fail(SHARR_EBUSY, "%d processes of this pool are "
                           "alive or not freed: the most at once",
                           SHARR_PROCESS_MAX);
    if (!(proc = calloc(1, sizeof *proc)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    slot = &p->sh->procs[i];
    slot->fn = fn;
    slot->arg_size = arg_size;
    if (arg_size)
        memcpy(slot->arg, arg, arg_size);
    atomic_store(&slot->pid, -1);
    atomic_store(&slot->spawned_pid, -1);
    atomic_store(&slot->status, 0);
    proc->pool = p;
    proc->slot = i;
    proc->pid = -1;
    proc->gen = atomic_load(&slot->gen) + 1;
    atomic_store(&slot->gen, proc->gen);
    atomic_store(&slot->state, P_SPAWN); /* last: the slot is complete */
    p->procs[i] = proc;
    if (sharr__sup_spawn(&p->sup, i, proc->gen) < 0)
        err = sharr__fail(SHARR_ETIMEDOUT, "the pool's supervisor does not "
                          "take commands (stopped?)");
    else
        err = await_spawn(p, proc);
    if (err < 0) {
        uint32_t st = atomic_load(&slot->state);
        if (st == P_FAILED || (st == P_SPAWN && p->sup_gone))
            atomic_store(&slot->state, P_FREE);
        p->procs[i] = NULL;
        free(proc);
        return err;
    }
    *out = proc;
    return 0;
}

int sharr_process_join(sharr_process *proc, double timeout_s, int *exitcode)
{
    double deadline = timeout_s < 0 ? -1.0 : sharr__now() + timeout_s;
    sharr_pool *p = proc->pool;

    if (isnan(timeout_s))
        return sharr__fail(SHARR_EINVAL, "timeout is NaN");
    if (p && sharr__pool_foreign(p))
        return sharr__pool_foreign_fail(p);
    while (!ended(proc)) {
        double t = sharr__now(), nap = JOIN_NAP_S;
        if (deadline >= 0 && t >= deadline) {
            sharr__pool_sleep(p, 0); /* a dead supervisor ends it */
            if (ended(proc))
                break;
            return sharr__fail(SHARR_ETIMEDOUT, "process %d still runs "
                               "after %g s", (int)proc->pid, timeout_s);
        }
        if (deadline >= 0 && deadline - t < nap)
            nap = deadline - t;
        sharr__pool_sleep(p, nap);
    }
    if (proc->end_err == SHARR_EINVAL)
        return sharr__fail(SHARR_EINVAL, "process %d belongs to another "
                           "process's pool", (int)proc->pid);
    if (proc->end_err)
        return sharr__fail(proc->end_err, "the supervisor of process %d "
                           "died: the process died with it, its status is "
                           "unknown", (int)proc->pid);
    if (exitcode)
        *exitcode = proc->exitcode;
    return 0;
}

int sharr_process_is_alive(sharr_process *proc)
{
    if (proc->pool && !proc->ended && !sharr__pool_foreign(proc->pool))
        sharr__pool_sleep(proc->pool, 0);
    if (proc->pool && sharr__pool_foreign(proc->pool))
        return 0;
    return !ended(proc);
}

static int send_signal(sharr_process *proc, int sig)
{
    if (proc->pool && sharr__pool_foreign(proc->pool))
        return sharr__pool_foreign_fail(proc->pool);
    if (ended(proc))
        return 0;
    if (sharr__sup_signal(&proc->pool->sup, proc->slot, proc->gen, sig) < 0)
        return sharr__fail(SHARR_EBUSY, "the pool's supervisor does not take "
                           "commands (stopped?)");
    return 0;
}

int sharr_process_terminate(sharr_process *proc)
{
    return send_signal(proc, SIGTERM);
}

int sharr_process_kill(sharr_process *proc)
{
    return send_signal(proc, SIGKILL);
}

pid_t sharr_process_pid(const sharr_process *proc)
{
    return proc->pid;
}

void sharr_process_free(sharr_process *proc)
{
    sharr_pool *p;

    if (!proc)
        return;
    p = proc->pool;
    if (p && !sharr__pool_foreign(p)) {
        if (!ended(proc))
            sharr__sup_signal(&p->sup, proc->slot, proc->gen, SIGKILL);
        else if (atomic_load(&p->sh->procs[proc->slot].state) == P_EXITED)
            atomic_store(&p->sh->procs[proc->slot].state, P_FREE);
        p->procs[proc->slot] = NULL;
    } else if (p) {
        p->procs[proc->slot] = NULL; /* the child's copy of the pool */
    }
    free(proc);
}

void sharr__detach_processes(sharr_pool *p, bool ours)
{
    for (int i = 0; i < SHARR_PROCESS_MAX; i++) {
        sharr_process *proc = p->procs[i];
        if (!proc)
            continue;
        if (ours && !ended(proc)) {
            /* The supervisor was killed before it could reap it. */
            proc->ended = true;
            proc->end_err = SHARR_EWORKER;
        } else if (!ours && !proc->ended) {
            proc->ended = true;
            proc->end_err = SHARR_EINVAL;
        }
        proc->pool = NULL;
        p->procs[i] = NULL;
    }
}
