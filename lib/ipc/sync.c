/*
 * sync.c - named Lock, RLock, Semaphore, BoundedSemaphore, Event and
 * Condition, process-shared, every wait with a timeout (barrier.c has the
 * Barrier).
 *
 * Lock, RLock and Condition's lock are glibc's robust process-shared
 * mutexes (error-checking; recursive for RLock): the kernel marks one its
 * holder died holding, the next locker gets it with EOWNERDEAD and makes
 * it consistent, so nothing ever deadlocks on a dead holder.  Semaphores
 * and events are a 32-bit word changed by compare-and-swap and slept on as
 * a futex; they have no owner, so a death leaves nothing to repair (and a
 * semaphore a dead process acquired stays taken, as in Python).  A
 * Condition sleeps on a sequence word that every notify bumps, not on a
 * pthread condition variable: glibc's can hang its signalers for good if a
 * waiter is killed inside pthread_cond_wait (the group switch waits for
 * the dead waiter's reference), while a killed sequence-word waiter leaves
 * nothing behind.  The price is that a wait may return without its own
 * notify (documented; wait_for loops on the predicate).
 */
#define _GNU_SOURCE
#include "ipc.h"

#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RLX __ATOMIC_RELAXED
#define SC __ATOMIC_SEQ_CST

struct sharr_lock {
    struct sharr__obj obj;
    struct sharr__lock_state *st;
};

struct sharr_cond {
    struct sharr__obj obj;
    struct sharr__lock_state *st;
};

struct sharr_sem {
    struct sharr__obj obj;
    struct sharr__sem_state *st;
    uint32_t bound;
};

struct sharr_event {
    struct sharr__obj obj;
    struct sharr__event_state *st;
};

/* ---- creating and opening, for every kind of this file ---- */

static const struct sharr__params no_params;

static int init_lock(unsigned char *state, const struct sharr__params *p)
{
    (void)p;
    int err = sharr__mutex_init(state, false);
    return err < 0 ? sharr__fail_os(err, "initializing a mutex") : 0;
}

static int init_rlock(unsigned char *state, const struct sharr__params *p)
{
    (void)p;
    int err = sharr__mutex_init(state, true);
    return err < 0 ? sharr__fail_os(err, "initializing a mutex") : 0;
}

static int init_sem(unsigned char *state, const struct sharr__params *p)
{
    ((struct sharr__sem_state *)(void *)state)->value = (uint32_t)p->p[1];
    return 0;
}

/* Allocate a handle of `size` bytes whose first member is a struct
 * sharr__obj, and create or open its object. */
static int make(size_t size, const char *name, sharr_kind kind,
                const struct sharr__params *p,
                int (*init)(unsigned char *, const struct sharr__params *),
                const sharr_create_opts *opts, unsigned kinds, unsigned flags,
                void **out)
{
    struct sharr__obj *o;
    int err;

    *out = NULL;
    if (!(o = calloc(1, size)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    err = kinds ? sharr__obj_open(name, kinds, flags, o)
                : sharr__obj_create(name, kind, p, init, opts, o);
    /* The kinds of this file with a mutex keep it first in their state. */
    if (err == 0 && kinds && o->kind != SHARR_KIND_SEMAPHORE &&
        o->kind != SHARR_KIND_EVENT)
        err = sharr__mutex_check(o->base, o->kind == SHARR_KIND_RLOCK,
                                 o->name);
    if (err < 0) {
        sharr__obj_close(o);
        free(o);
        return err;
    }
    *out = o;
    return 0;
}

/* ---- locks ---- */

/* Take the mutex of lock-like object o with a timeout, with the messages
 * of sharr_lock_acquire(). */
static int acquire(struct sharr__obj *o, struct sharr__lock_state *st,
                   double timeout)
{
    struct sharr__deadline d;
    bool died;
    int rc;

    if ((rc = sharr__deadline(timeout, &d)) < 0)
        return rc;
    /* Try first: the uncontended path costs one trylock, and only a
     * waiter counts itself in `sleepers`. */
    rc = sharr__mutex_lock(st->mutex, &(struct sharr__deadline){.now = true});
    if (rc == SHARR_ETIMEDOUT && !d.now) {
        __atomic_fetch_add(&st->sleepers, 1, RLX);
        rc = sharr__mutex_lock(st->mutex, &d);
        __atomic_fetch_sub(&st->sleepers, 1, RLX);
    }
    if (rc == 1) {
        __atomic_fetch_add(&st->recoveries, 1, RLX);
        return sharr__fail(SHARR_EOWNERDEAD, "the previous holder of %s '%s' "
                           "died holding it; it is yours now, but what it "
                           "protected may be half-updated",
                           sharr_kind_name(o->kind), o->name);
    }
    if (rc == SHARR_ETIMEDOUT)
        return sharr__fail(rc, "%s '%s' is held by %d%s",
                           sharr_kind_name(o->kind), o->name,
                           (int)sharr__mutex_holder(st->mutex, &died),
                           d.now ? "" : " (timed out)");
    if (rc == SHARR_EBUSY)
        return sharr__fail(rc, "this thread holds %s '%s' already (a lock is "
                           "not recursive: an rlock is)",
                           sharr_kind_name(o->kind), o->name);
    return rc;
}

static int release(struct sharr__obj *o, struct sharr__lock_state *st)
{
    if (sharr__mutex_unlock(st->mutex) < 0)
        return sharr__fail(SHARR_EPERM, "the calling thread does not hold %s "
                           "'%s'", sharr_kind_name(o->kind), o->name);
    return 0;
}

/* Release everything the calling thread holds of st (an rlock: every
 * level), before the mapping goes. */
static void release_all(struct sharr__lock_state *st)
{
    for (int i = 0; i < 1 << 20 && sharr__mutex_mine(st->mutex); i++)
        sharr__mutex_unlock(st->mutex);
}

int sharr_lock_create(const char *name, int recursive,
                      const sharr_create_opts *opts, sharr_lock **out)
{
    int err = make(sizeof **out, name,
                   recursive ? SHARR_KIND_RLOCK : SHARR_KIND_LOCK, &no_params,
                   recursive ? init_rlock : init_lock, opts, 0, 0,
                   (void **)out);
    if (err == 0)
        (*out)->st = (void *)(*out)->obj.base;
    return err;
}

int sharr_lock_open(const char *name, unsigned flags, sharr_lock **out)
{
    int err = make(sizeof **out, name, 0, NULL, NULL, NULL,
                   1u << SHARR_KIND_LOCK | 1u << SHARR_KIND_RLOCK, flags,
                   (void **)out);
    if (err == 0)
        (*out)->st = (void *)(*out)->obj.base;
    return err;
}

void sharr_lock_close(sharr_lock *l)
{
    if (!l)
        return;
    release_all(l->st);
    sharr__obj_close(&l->obj);
    free(l);
}

int sharr_lock_acquire(sharr_lock *l, double timeout)
{
    return acquire(&l->obj, l->st, timeout);
}

int sharr_lock_release(sharr_lock *l)
{
    return release(&l->obj, l->st);
}

int sharr_lock_recursive(const sharr_lock *l)
{
    return l->obj.kind == SHARR_KIND_RLOCK;
}

/* ---- semaphores ---- */

int sharr_sem_create(const char *name, unsigned value, unsigned bound,
                     const sharr_create_opts *opts, sharr_sem **out)
{
    struct sharr__params p = {{bound, value}};
    int err;

    *out = NULL;
    if (value > INT32_MAX || bound > INT32_MAX || (bound && value > bound))
        return sharr__fail(SHARR_EINVAL, "semaphore value %u, bound %u: the "
                           "value may not exceed the bound, nor either "
                           "2^31 - 1", value, bound);
    err = make(sizeof **out, name, SHARR_KIND_SEMAPHORE, &p, init_sem, opts,
               0, 0, (void **)out);
    if (err == 0) {
        (*out)->st = (void *)(*out)->obj.base;
        (*out)->bound = bound;
    }
    return err;
}

int sharr_sem_open(const char *name, unsigned flags, sharr_sem **out)
{
    int err = make(sizeof **out, name, 0, NULL, NULL, NULL,
                   1u << SHARR_KIND_SEMAPHORE, flags, (void **)out);
    if (err == 0) {
        (*out)->st = (void *)(*out)->obj.base;
        (*out)->bound = (uint32_t)(*out)->obj.params.p[0];
    }
    return err;
}

void sharr_sem_close(sharr_sem *s)
{
    if (!s)
        return;
    sharr__obj_close(&s->obj);
    free(s);
}

int sharr_sem_acquire(sharr_sem *s, double timeout)
{
    struct sharr__sem_state *st = s->st;
    struct sharr__deadline d;
    bool expired = false;
    int err;

    if ((err = sharr__deadline(timeout, &d)) < 0)
        return err;
    for (;;) {
        uint32_t v = __atomic_load_n(&st->value, __ATOMIC_ACQUIRE);
        while (v > 0 && v <= INT32_MAX)
            if (__atomic_compare_exchange_n(&st->value, &v, v - 1, false, SC,
                                            RLX))
                return 0;
        if (v > INT32_MAX)
            return sharr__fail(SHARR_ECORRUPT, "semaphore '%s' is corrupt: "
                               "value %u", s->obj.name, v);
        if (expired || d.now)
            return sharr__fail(SHARR_ETIMEDOUT, "semaphore '%s' is 0%s",
                               s->obj.name, d.now ? "" : " (timed out)");
        if (sharr__spin_while(&st->value, 0))
            continue;
        sharr__flag_waiting(&st->waiters);
        if (__atomic_load_n(&st->value, SC) != 0)
            continue;
        __atomic_fetch_add(&st->sleepers, 1, RLX);
        expired = sharr__flag_sleep(&st->waiters, &d) == SHARR_ETIMEDOUT;
        __atomic_fetch_sub(&st->sleepers, 1, RLX);
    }
}

int sharr_sem_release(sharr_sem *s, unsigned n)
{
    struct sharr__sem_state *st = s->st;
    uint32_t v = __atomic_load_n(&st->value, RLX);
    uint32_t limit = s->bound ? s->bound : INT32_MAX;

    if (n == 0)
        return sharr__fail(SHARR_EINVAL, "release of 0 on semaphore '%s'",
                           s->obj.name);
    do {
        if (v > limit || n > limit - v)
            return sharr__fail(SHARR_ERANGE, "semaphore '%s' is %u: releasing "
                               "%u would pass its %s %u", s->obj.name, v, n,
                               s->bound ? "bound" : "limit", limit);
    } while (!__atomic_compare_exchange_n(&st->value, &v, v + n, false, SC,
                                          RLX));
    sharr__wake_flagged(&st->waiters);
    return 0;
}

unsigned sharr_sem_value(const sharr_sem *s)
{
    return __atomic_load_n(&s->st->value, __ATOMIC_ACQUIRE);
}

unsigned sharr_sem_bound(const sharr_sem *s)
{
    return s->bound;
}

/* ---- events ---- */

int sharr_event_create(const char *name, const sharr_create_opts *opts,
                       sharr_event **out)
{
    int err = make(sizeof **out, name, SHARR_KIND_EVENT, &no_params, NULL,
                   opts, 0, 0, (void **)out);
    if (err == 0)
        (*out)->st = (void *)(*out)->obj.base;
    return err;
}

int sharr_event_open(const char *name, unsigned flags, sharr_event **out)
{
    int err = make(sizeof **out, name, 0, NULL, NULL, NULL,
                   1u << SHARR_KIND_EVENT, flags, (void **)out);
    if (err == 0)
        (*out)->st = (void *)(*out)->obj.base;
    return err;
}

void sharr_event_close(sharr_event *e)
{
    if (!e)
        return;
    sharr__obj_close(&e->obj);
    free(e);
}

void sharr_event_set(sharr_event *e)
{
    __atomic_store_n(&e->st->set, 1, SC);
    sharr__wake_flagged(&e->st->waiters);
}

void sharr_event_clear(sharr_event *e)
{
    __atomic_store_n(&e->st->set, 0, SC);
}

int sharr_event_is_set(const sharr_event *e)
{
    return __atomic_load_n(&e->st->set, __ATOMIC_ACQUIRE) != 0;
}

int sharr_event_wait(sharr_event *e, double timeout)
{
    struct sharr__event_state *st = e->st;
    struct sharr__deadline d;
    bool expired = false;
    int err;

    if ((err = sharr__deadline(timeout, &d)) < 0)
        return err;
    for (;;) {
        if (__atomic_load_n(&st->set, __ATOMIC_ACQUIRE))
            return 0;
        if (expired || d.now)
            return sharr__fail(SHARR_ETIMEDOUT, "event '%s' is not set%s",
                               e->obj.name, d.now ? "" : " (timed out)");
        if (sharr__spin_while(&st->set, 0))
            continue;
        sharr__flag_waiting(&st->waiters);
        if (__atomic_load_n(&st->set, SC))
            continue;
        __atomic_fetch_add(&st->sleepers, 1, RLX);
        expired = sharr__flag_sleep(&st->waiters, &d) == SHARR_ETIMEDOUT;
        __atomic_fetch_sub(&st->sleepers, 1, RLX);
    }
}

/* ---- conditions ---- */

int sharr_cond_create(const char *name, const sharr_create_opts *opts,
                      sharr_cond **out)
{
    int err = make(sizeof **out, name, SHARR_KIND_CONDITION, &no_params,
                   init_lock, opts, 0, 0, (void **)out);
    if (err == 0)
        (*out)->st = (void *)(*out)->obj.base;
    return err;
}

int sharr_cond_open(const char *name, unsigned flags, sharr_cond **out)
{
    int err = make(sizeof **out, name, 0, NULL, NULL, NULL,
                   1u << SHARR_KIND_CONDITION, flags, (void **)out);
    if (err == 0)
        (*out)->st = (void *)(*out)->obj.base;
    return err;
}

void sharr_cond_close(sharr_cond *c)
{
    if (!c)
        return;
    release_all(c->st);
    sharr__obj_close(&c->obj);
    free(c);
}

int sharr_cond_acquire(sharr_cond *c, double timeout)
{
    return acquire(&c->obj, c->st, timeout);
}

int sharr_cond_release(sharr_cond *c)
{
    return release(&c->obj, c->st);
}

static int not_held(const sharr_cond *c, const char *what)
{
    return sharr__fail(SHARR_EPERM, "%s on condition '%s' without holding "
                       "its lock", what, c->obj.name);
}

/* wait() until the deadline d. */
static int wait_until(sharr_cond *c, const struct sharr__deadline *d)
{
    struct sharr__lock_state *st = c->st;
    struct sharr__deadline forever = {.forever = true};
    uint32_t seq;
    int rc, relock;

    if (!sharr__mutex_mine(st->mutex))
        return not_held(c, "wait");
    /* Announce and read the sequence while holding the lock: a notifier
     * takes the lock first, so its bump comes after, and the futex sees
     * it whether or not this thread is asleep yet. */
    __atomic_store_n(&st->waiters, 1, SC);
    seq = __atomic_load_n(&st->seq, SC);
    __atomic_fetch_add(&st->sleepers, 1, RLX);
    sharr__mutex_unlock(st->mutex);
    /* One sleep, not slices: a waiter that a notify(n) did not choose
     * must sleep on, and one out of the futex between two slices could miss
     * the wake-up meant for it.  A notifier bumps and wakes in one system
     * call (bump_and_wake), so it is never killed between the two. */
    rc = sharr__futex_wait(&st->seq, seq, d);
    __atomic_fetch_sub(&st->sleepers, 1, RLX);
    relock = sharr__mutex_lock(st->mutex, &forever);
    if (relock == 1) {
        __atomic_fetch_add(&st->recoveries, 1, RLX);
        return sharr__fail(SHARR_EOWNERDEAD, "while waiting on condition "
                           "'%s', a holder of its lock died holding it; the "
                           "lock is held again, but what it protected may "
                           "be half-updated", c->obj.name);
    }
    if (relock < 0)
        return relock;
    if (rc == SHARR_ETIMEDOUT) /* a notify for others is none of ours */
        return sharr__fail(SHARR_ETIMEDOUT, "no notify on condition '%s' in "
                           "time", c->obj.name);
    return 0;
}

int sharr_cond_wait(sharr_cond *c, double timeout)
{
    struct sharr__deadline d;
    int err = sharr__deadline(timeout, &d);

    if (err < 0)
        return err;
    if (d.now) /* nothing can notify while we hold the lock */
        return sharr__mutex_mine(c->st->mutex)
                   ? sharr__fail(SHARR_ETIMEDOUT, "no notify on condition "
                                 "'%s' (timeout 0)", c->obj.name)
                   : not_held(c, "wait");
    return wait_until(c, &d);
}

int sharr_cond_wait_for(sharr_cond *c, int (*pred)(void *ctx), void *ctx,
                        double timeout)
{
    struct sharr__deadline d;
    int err = sharr__deadline(timeout, &d);

    if (err < 0)
        return err;
    if (!sharr__mutex_mine(c->st->mutex))
        return not_held(c, "wait_for");
    for (;;) {
        if (pred(ctx))
            return 0;
        if (sharr__expired(&d))
            return sharr__fail(SHARR_ETIMEDOUT, "the predicate on condition "
                               "'%s' is still false (timed out)",
                               c->obj.name);
        err = wait_until(c, &d);
        if (err < 0 && err != SHARR_ETIMEDOUT)
            return err;
    }
}

/* Add 1 to the sequence word and wake up to n of its sleepers, in one
 * futex call (FUTEX_WAKE_OP: the kernel does both before a SIGKILL can
 * land between them); with nobody waiting, only the bump. */
static void bump_and_wake(uint32_t *seq, bool waiting, int n)
{
    /* When the comparison holds for the old value, the kernel wakes at
     * least one more sleeper of the second word (here the same word): it
     * holds only for 0xffffffff (cmparg 0xfff is -1), so one notify in 2^32
     * may wake one waiter more, a spurious wake-up. */
    if (waiting && syscall(SYS_futex, seq, FUTEX_WAKE_OP, n, (unsigned long)0,
                           seq, FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_EQ,
                                         0xfff)) >= 0)
        return;
    __atomic_fetch_add(seq, 1, SC);
    if (waiting) /* no FUTEX_WAKE_OP here: the two steps */
        sharr__futex_wake(seq, n);
}

int sharr_cond_notify(sharr_cond *c, unsigned n)
{
    struct sharr__lock_state *st = c->st;

    if (!sharr__mutex_mine(st->mutex))
        return not_held(c, "notify");
    if (n == 0)
        return 0;
    /* Waiters announce themselves under the lock we hold: the flag is
     * exact here.  Left set, since others may still sleep. */
    bump_and_wake(&st->seq, __atomic_load_n(&st->waiters, SC),
                  n > INT32_MAX ? INT32_MAX : (int)n);
    return 0;
}

int sharr_cond_notify_all(sharr_cond *c)
{
    struct sharr__lock_state *st = c->st;

    if (!sharr__mutex_mine(st->mutex))
        return not_held(c, "notify_all");
    bump_and_wake(&st->seq, __atomic_exchange_n(&st->waiters, 0, SC),
                  INT32_MAX);
    return 0;
}
