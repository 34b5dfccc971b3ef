/*
 * barrier.c - named barriers (Python's Barrier, by name) that break
 * instead of hanging: on a timeout, an abort, or the death of a party.
 *
 * State changes happen under a robust mutex; waiters sleep on `epoch`,
 * which moves on every round completed, break and reset.  Each waiting
 * call holds a party slot whose state the waker sets to PASSED or BROKEN,
 * so a waiter learns exactly how its own round ended, however many rounds
 * others went through meanwhile.  A process that has waited keeps a slot
 * (ATTACHED) until it closes its handle, with its pid, start time and PID
 * namespace; waiters wake up every SLICE to check those against /proc, so
 * a party killed anywhere (between rounds too) breaks the barrier for all
 * within about SLICE, and the last arrival checks the parties of its round
 * before it completes it.  That check is the only periodic wake-up: a round
 * completes by a futex wake.  A holder of the mutex that dies may leave
 * the round half-updated: the next locker breaks the barrier (a reset
 * makes it whole again).
 */
#define _GNU_SOURCE
#include "ipc.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define RLX __ATOMIC_RELAXED
#define SC __ATOMIC_SEQ_CST
#define SLICE 0.1      /* seconds between checks for dead parties */

struct sharr_barrier {
    struct sharr__obj obj;
    struct sharr__barrier_state *st;
    size_t parties, slots;
    uint64_t id;             /* this handle, in its party slot */
    int slot;                /* its ATTACHED slot, -1: none yet */
    pid_t slot_pid;          /* the process that slot is for (fork) */
    uint64_t pidns_ino;
};

static int init_barrier(unsigned char *state, const struct sharr__params *p)
{
    (void)p;
    int err = sharr__mutex_init(state, false);
    return err < 0 ? sharr__fail_os(err, "initializing a barrier") : 0;
}

static int finish_handle(sharr_barrier *b)
{
    struct sharr__origin me;

    b->st = (struct sharr__barrier_state *)(void *)b->obj.base;
    b->parties = (size_t)b->obj.params.p[0];
    b->slots = (size_t)b->obj.params.p[1];
    b->slot = -1;
    sharr__origin_self(&me);
    b->pidns_ino = me.pidns_ino;
    return sharr__random_bytes(&b->id, sizeof b->id);
}

int sharr_barrier_create(const char *name, size_t parties,
                         const sharr_create_opts *opts, sharr_barrier **out)
{
    struct sharr__params p = {{parties, 2 * (uint64_t)parties + 16}};
    sharr_barrier *b;
    int err;

    *out = NULL;
    if (parties < 1 || parties > SHARR_BARRIER_MAX_PARTIES)
        return sharr__fail(SHARR_EINVAL, "parties = %zu: a barrier has "
                           "1..%d", parties, SHARR_BARRIER_MAX_PARTIES);
    if (!(b = calloc(1, sizeof *b)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    if ((err = sharr__obj_create(name, SHARR_KIND_BARRIER, &p, init_barrier,
                                 opts, &b->obj)) < 0 ||
        (err = finish_handle(b)) < 0) {
        sharr_barrier_close(b);
        return err;
    }
    *out = b;
    return 0;
}

int sharr_barrier_open(const char *name, unsigned flags, sharr_barrier **out)
{
    sharr_barrier *b;
    int err;

    *out = NULL;
    if (!(b = calloc(1, sizeof *b)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    if ((err = sharr__obj_open(name, 1u << SHARR_KIND_BARRIER, flags,
                               &b->obj)) < 0 ||
        (err = sharr__mutex_check(b->obj.base, false, name)) < 0 ||
        (err = finish_handle(b)) < 0) {
        sharr_barrier_close(b);
        return err;
    }
    *out = b;
    return 0;
}

/* ---- under the mutex ---- */

/* Break the round: every waiting party is told, later waits fail until a
 * reset. */
static void break_all(sharr_barrier *b, uint32_t why, pid_t pid)
{
    struct sharr__barrier_state *st = b->st;

    st->broken = why;
    st->broken_pid = pid;
    for (size_t i = 0; i < b->slots; i++)
        if (st->party[i].state == SHARR__PARTY_WAITING)
            st->party[i].state = SHARR__PARTY_BROKEN;
    st->count = 0;
    __atomic_fetch_add(&st->epoch, 1, SC);
    sharr__futex_wake(&st->epoch, INT32_MAX);
}

/* Take the barrier's internal mutex by the deadline d (NULL: the bound of
 * calls without a timeout); a dead holder breaks the barrier. */
static int lock(sharr_barrier *b, const struct sharr__deadline *d)
{
    int rc = sharr__internal_lock(b->st->mutex, d);

    if (rc == 1) {
        /* Its holder died: the round may be half-updated. */
        b->st->recoveries++;
        break_all(b, SHARR__BROKEN_REPAIR, 0);
        return 0;
    }
    return rc;
}

static void unlock(sharr_barrier *b)
{
    sharr__mutex_unlock(b->st->mutex);
}

static bool slot_is_mine(const sharr_barrier *b, size_t i)
{
    const struct sharr__party *p = &b->st->party[i];
    return p->pid == (int32_t)getpid() && p->handle == b->id;
}

static int claim_slot(sharr_barrier *b)
{
    struct sharr__barrier_state *st = b->st;
    pid_t self = getpid();

    for (size_t i = 0; i < b->slots; i++) {
        struct sharr__party *p = &st->party[i];
        if (p->pid != 0)
            continue;
        p->pid = (int32_t)self;
        p->start = sharr__proc_start(self);
        p->pidns_ino = b->pidns_ino;
        p->handle = b->id;
        p->state = SHARR__PARTY_ATTACHED;
        return (int)i;
    }
    return -1; /* no slot free: this party is counted, not watched */
}

/* The slot this wait uses: the handle's own when it is free, else one of
 * its own for the call (another thread waits through the handle), or -1. */
static int wait_slot(sharr_barrier *b, bool *temporary)
{
    *temporary = false;
    if (b->slot >= 0 && (b->slot_pid != getpid() ||
                         !slot_is_mine(b, (size_t)b->slot)))
        b->slot = -1; /* forked, or forgotten by a reset */
    if (b->slot < 0) {
        b->slot = claim_slot(b);
        b->slot_pid = getpid();
        return b->slot;
    }
    if (b->st->party[b->slot].state == SHARR__PARTY_ATTACHED)
        return b->slot;
    *temporary = true;
    return claim_slot(b);
}

static void free_slot(sharr_barrier *b, int i)
{
    memset(&b->st->party[i], 0, sizeof b->st->party[i]);
}

/* A party (slot) of this PID namespace that is surely gone, or -1; with
 * `waiting`, only among those waiting in this round. */
static int dead_party(const sharr_barrier *b, bool waiting)
{
    for (size_t i = 0; i < b->slots; i++) {
        const struct sharr__party *p = &b->st->party[i];
        if (waiting && p->state != SHARR__PARTY_WAITING)
            continue;
        if (p->pid > 0 && p->pidns_ino == b->pidns_ino &&
            p->pidns_ino != 0 && !sharr__proc_alive(p->pid, p->start))
            return (int)i;
    }
    return -1;
}

static int broken(const sharr_barrier *b)
{
    static const char *const why[] = {
        "", "it was aborted", "a wait on it timed out", "a party died",
        "it was reset", "a process died updating it"};
    const struct sharr__barrier_state *st = b->st;
    uint32_t w = st->broken;

    if (w == SHARR__BROKEN_DEATH && st->broken_pid)
        return sharr__fail(SHARR_EBROKEN, "barrier '%s' is broken: party "
                           "pid %d died", b->obj.name, (int)st->broken_pid);
    return sharr__fail(SHARR_EBROKEN, "barrier '%s' is broken: %s%s",
                       b->obj.name, w < 6 ? why[w] : "?",
                       w == SHARR__BROKEN_RESET ? "" :
                       " (sharr_barrier_reset() makes it whole)");
}

/* The last arrival: release every waiter. */
static void complete(sharr_barrier *b)
{
    struct sharr__barrier_state *st = b->st;

    for (size_t i = 0; i < b->slots; i++)
        if (st->party[i].state == SHARR__PARTY_WAITING)
            st->party[i].state = SHARR__PARTY_PASSED;
    st->count = 0;
    st->rounds++;
    __atomic_fetch_add(&st->epoch, 1, SC);
    sharr__futex_wake(&st->epoch, INT32_MAX);
}

/* If a party (waiting only: of this round) is dead, forget it and break
 * the barrier for all.  @return whether it did. */
static bool break_if_dead(sharr_barrier *b, bool waiting)
{
    int dead = dead_party(b, waiting);
    pid_t pid;

    if (dead < 0)
        return false;
    pid = b->st->party[dead].pid;
    free_slot(b, dead);
    break_all(b, SHARR__BROKEN_DEATH, pid);
    return true;
}

/* Sleep in slices until slot s is told how the round ended.  Called with
 * the mutex; returns with it, unless taking it again failed (*held false).
 * @return 0 (passed), SHARR_EBROKEN, SHARR_ETIMEDOUT, or lock()'s error. */
static int await(sharr_barrier *b, int s, uint64_t round,
                 const struct sharr__deadline *d, bool *held)
{
    struct sharr__barrier_state *st = b->st;

    for (;;) {
        uint32_t state = s >= 0 ? st->party[s].state : 0;
        if (state == SHARR__PARTY_PASSED ||
            (s < 0 && st->rounds != round && !st->broken))
            return 0;
        if (state == SHARR__PARTY_BROKEN || (s < 0 && st->broken))
            return broken(b);
        if (break_if_dead(b, false))
            continue;
        if (sharr__expired(d)) {
            uint32_t came = st->count;
            break_all(b, SHARR__BROKEN_TIMEOUT, 0);
            return sharr__fail(SHARR_ETIMEDOUT, "barrier '%s': only %u of "
                               "%zu parties came in time; it is broken now",
                               b->obj.name, came, b->parties);
        }
        uint32_t epoch = __atomic_load_n(&st->epoch, SC);
        struct sharr__deadline slice = sharr__slice(d, SLICE);
        st->sleepers++;
        unlock(b);
        sharr__futex_wait(&st->epoch, epoch, &slice);
        int rc = lock(b, NULL);
        if (rc < 0) {
            *held = false;
            return rc;
        }
        st->sleepers--;
    }
}

int sharr_barrier_wait(sharr_barrier *b, double timeout)
{
    struct sharr__barrier_state *st = b->st;
    struct sharr__deadline d;
    bool temporary, held = true;
    int err, s, idx;

    if ((err = sharr__deadline(timeout, &d)) < 0 || (err = lock(b, &d)) < 0)
        return err;
    if (st->broken) {
        err = broken(b);
        unlock(b);
        return err;
    }
    s = wait_slot(b, &temporary);
    if (st->count >= b->parties) /* a scribbled count */
        st->count = 0;
    idx = (int)st->count++;
    /* The last arrival: a party that arrived and died since must not count
     * (the sleepers check in slices; this arrival may come first). */
    if (st->count == b->parties && break_if_dead(b, true)) {
        err = broken(b);
        if (s >= 0 && temporary)
            free_slot(b, s);
        unlock(b);
        return err;
    }
    if (st->count == b->parties) {
        complete(b);
        if (s >= 0 && temporary)
            free_slot(b, s);
        unlock(b);
        return idx;
    }
    if (s >= 0)
        st->party[s].state = SHARR__PARTY_WAITING;
    err = await(b, s, st->rounds, &d, &held);
    if (!held)
        return err;
    if (s >= 0 && slot_is_mine(b, (size_t)s)) {
        if (temporary)
            free_slot(b, s);
        else
            st->party[s].state = SHARR__PARTY_ATTACHED;
    }
    unlock(b);
    return err < 0 ? err : idx;
}

int sharr_barrier_abort(sharr_barrier *b)
{
    int err = lock(b, NULL);

    if (err < 0)
        return err;
    break_all(b, SHARR__BROKEN_ABORT, 0);
    unlock(b);
    return 0;
}

int sharr_barrier_reset(sharr_barrier *b)
{
    struct sharr__barrier_state *st = b->st;
    int err = lock(b, NULL), dead;

    if (err < 0)
        return err;
    if (st->count > 0 || st->broken)
        break_all(b, SHARR__BROKEN_RESET, 0);
    while ((dead = dead_party(b, false)) >= 0)
        free_slot(b, dead);
    st->broken = 0;
    st->broken_pid = 0;
    __atomic_fetch_add(&st->epoch, 1, SC);
    unlock(b);
    return 0;
}

void sharr_barrier_close(sharr_barrier *b)
{
    if (!b)
        return;
    if (b->obj.base != MAP_FAILED && b->obj.base && b->st && b->slot >= 0 &&
        b->slot_pid == getpid() && lock(b, NULL) == 0) {
        if (slot_is_mine(b, (size_t)b->slot) &&
            b->st->party[b->slot].state == SHARR__PARTY_ATTACHED)
            free_slot(b, b->slot);
        unlock(b);
    }
    sharr__obj_close(&b->obj);
    free(b);
}

size_t sharr_barrier_parties(const sharr_barrier *b)
{
    return b->parties;
}

size_t sharr_barrier_waiting(const sharr_barrier *b)
{
    uint32_t n = __atomic_load_n(&b->st->count, __ATOMIC_ACQUIRE);
    return n <= b->parties ? n : 0;
}

int sharr_barrier_broken(const sharr_barrier *b)
{
    return __atomic_load_n(&b->st->broken, __ATOMIC_ACQUIRE) != 0;
}
