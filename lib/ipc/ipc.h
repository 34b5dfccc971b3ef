/*
 * ipc.h - what the files of lib/ipc share: deadlines, futex waits, robust
 * mutexes, and the ring of messages that queues and pipes are made of.
 * Private; never installed.  wait.c < ring.c < queue.c, pipe.c; sync.c
 * uses wait.c only.
 */
#ifndef SHARR_IPC_H
#define SHARR_IPC_H

#include "internal.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* ---- deadlines and waiting (wait.c) ---- */

/* When a wait ends: never (forever), at once (now), or at `at`. */
struct sharr__deadline {
    bool forever, now;
    struct timespec at;      /* CLOCK_MONOTONIC */
};

/* The deadline `timeout` seconds from now (< 0 or INFINITY: forever; 0:
 * at once).  @return 0 or SHARR_EINVAL (NaN). */
int sharr__deadline(double timeout, struct sharr__deadline *d);

/* true once the deadline has passed (at once: always). */
bool sharr__expired(const struct sharr__deadline *d);

/* The earlier of d and `seconds` from now, as a deadline (for waits that
 * wake up now and then to check something). */
struct sharr__deadline sharr__slice(const struct sharr__deadline *d,
                                    double seconds);

/* The later of d and `seconds` from now. */
struct sharr__deadline sharr__at_least(const struct sharr__deadline *d,
                                       double seconds);

/* Sleep on the shared futex `word` while it holds `val`, until woken or the
 * deadline.  Returns early on a signal or a spurious wake-up: callers check
 * their condition again.  @return 0 or SHARR_ETIMEDOUT. */
int sharr__futex_wait(uint32_t *word, uint32_t val,
                      const struct sharr__deadline *d);

/* Wake up to n sleepers on `word` (INT32_MAX: all). */
void sharr__futex_wake(uint32_t *word, int n);

/* Spin for a few microseconds while *word == val (on machines with more
 * than one CPU); true if it changed meanwhile. */
bool sharr__spin_while(const uint32_t *word, uint32_t val);

/* The low 32 bits of a 64-bit counter, as a futex word (little-endian:
 * sharr refuses to build for big-endian hosts). */
static inline uint32_t *sharr__lo32(uint64_t *v)
{
    return (uint32_t *)(void *)v;
}

/* A waiter flag: raised by a process about to sleep, which then checks its
 * condition again and sleeps on the flag itself while it stays raised;
 * the first waker after a store lowers it and wakes all.  Sleeping on the
 * flag, not on the data word, is what keeps a late waker harmless: one
 * that lowers the flag of a waiter that already saw its store (and so was
 * about to sleep) makes that waiter look again instead of sleeping through
 * every later store.  A waiter killed asleep leaves the flag raised: the
 * next waker lowers it, and nothing is lost but one wake-up call. */
static inline void sharr__flag_waiting(uint32_t *flag)
{
    __atomic_store_n(flag, 1, __ATOMIC_SEQ_CST);
}

/* A sleeper looks at its condition again at least this often: a process
 * killed between its store and its wake-up call (or any lost wake-up)
 * costs the others at most this long, never a sleep until their timeout
 * (for ever without one). */
#define SHARR__WAKE_SLICE 0.1

/* Sleep while the flag stays raised, for at most SHARR__WAKE_SLICE (or
 * until the deadline).  @return 0 (look again) or SHARR_ETIMEDOUT (the
 * deadline passed). */
static inline int sharr__flag_sleep(uint32_t *flag,
                                    const struct sharr__deadline *d)
{
    struct sharr__deadline s = sharr__slice(d, SHARR__WAKE_SLICE);
    int rc = sharr__futex_wait(flag, 1, &s);

    return rc == SHARR_ETIMEDOUT && !sharr__expired(d) ? 0 : rc;
}

/* After a store the waiters wait for: wake them if any announced itself. */
static inline void sharr__wake_flagged(uint32_t *flag)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(flag, __ATOMIC_RELAXED) &&
        __atomic_exchange_n(flag, 0, __ATOMIC_SEQ_CST))
        sharr__futex_wake(flag, INT32_MAX);
}

/* ---- robust process-shared mutexes (wait.c) ---- */

/* Initialize the 64-byte mutex at m: robust, process-shared, error-checking
 * (or recursive).  @return 0 or -errno. */
int sharr__mutex_init(void *m, bool recursive);

/* 0 if the mutex at m (of a segment just opened) has the type word init
 * gives it, else SHARR_ECORRUPT naming the object `name`. */
int sharr__mutex_check(const void *m, bool recursive, const char *name);

/* Take the mutex by the deadline.  @return 0, 1 (the previous holder died
 * holding it: it is made consistent and held), SHARR_ETIMEDOUT,
 * SHARR_EBUSY (held by this thread already, error-checking mutex), or
 * SHARR_ECORRUPT (not recoverable). */
int sharr__mutex_lock(void *m, const struct sharr__deadline *d);

/* An object's internal mutex is held only for a few instructions, never
 * during a wait.  A call that may not wait (timeout 0) still waits this long
 * for a busy one rather than report "full", "empty" or "busy" for an object
 * that is only being used; calls without a timeout (close, reset, abort)
 * wait at most SHARR__LOCK_BOUND: a holder that keeps it longer is stopped
 * inside a call, or the bytes are not sharr's. */
#define SHARR__LOCK_GRACE 0.05
#define SHARR__LOCK_BOUND 1.0

/* Take an internal mutex: at once if it is free (no clock read), else by
 * the later of d and SHARR__LOCK_GRACE from now (d NULL: by
 * SHARR__LOCK_BOUND).  @return as sharr__mutex_lock(). */
int sharr__internal_lock(void *m, const struct sharr__deadline *d);

/* Release.  @return 0 or SHARR_EPERM (not held by this thread). */
int sharr__mutex_unlock(void *m);

/* true if the calling thread holds the robust mutex m. */
bool sharr__mutex_mine(const void *m);

/* ---- rings of messages (ring.c) ---- */

/* A process's view of one direction (struct sharr__ring_state + its ring):
 * what it reads from the segment is bounded by these private values. */
struct sharr__ring {
    struct sharr__ring_state *st;
    unsigned char *data;     /* ring bytes */
    uint64_t mask;           /* ring bytes - 1 */
    uint64_t capacity;       /* bytes of records queued at most */
    uint64_t max_msg;
    const char *name;        /* for messages: the object's name */
    /* Seen last (never ahead of the real values): read under the side's
     * mutex only, so threads sharing a handle do not race on them. */
    uint64_t seen_head;      /* producers */
    uint64_t seen_tail;      /* consumers */
};

/* Parameters of a queue (dirs 1) or pipe (dirs 2) of `capacity` bytes and
 * messages up to `max_msg` (0: defaults, see sharr.h) (queue.c). */
void sharr__queue_params(size_t capacity, size_t max_msg, int dirs,
                         struct sharr__params *p);

/* Direction d of the object o (a queue or a pipe). */
void sharr__ring_view(struct sharr__obj *o, int d, struct sharr__ring *r);

/* Check direction d's two mutexes in an object just opened.
 * @return 0 or SHARR_ECORRUPT. */
int sharr__ring_check(struct sharr__obj *o, int d);

/* Prepare direction d's state in a new object (its two mutexes). */
int sharr__ring_init(unsigned char *state, const struct sharr__params *p,
                     int d);

/* Put msgs[0..n) (lengths lens) as sharr_queue_put_many() says.
 * @return how many were put, or an error if none was. */
int sharr__ring_put(struct sharr__ring *r, const void *const *msgs,
                    const size_t *lens, size_t n, double timeout);

/* Take up to n messages into buf[0..size) as sharr_queue_get_many() says;
 * on SHARR_ERANGE lens[0] is the length of the first message, which stays
 * queued, or with drop_long is taken off the queue (and not copied).
 * @return how many were taken (>= 1) or an error. */
int sharr__ring_get(struct sharr__ring *r, void *buf, size_t size,
                    size_t *lens, size_t n, double timeout, bool drop_long);

/* Wait until a message is queued.  @return 1, 0 (none in time),
 * SHARR_ECLOSED (closed and empty), SHARR_ECORRUPT. */
int sharr__ring_poll(struct sharr__ring *r, double timeout);

/* Close the direction (puts fail; gets drain, then SHARR_ECLOSED). */
int sharr__ring_shutdown(struct sharr__ring *r);

/* Messages and bytes queued now. */
void sharr__ring_count(const struct sharr__ring *r, size_t *msgs,
                       size_t *bytes);

/* JoinableQueue's task_done and join. */
int sharr__ring_task_done(struct sharr__ring *r, size_t n);
int sharr__ring_join(struct sharr__ring *r, double timeout);

/* Tests only: when set, called at these points of every put and get, to
 * kill the caller exactly there. */
enum {
    SHARR__HOOK_PUT_WRITTEN,    /* records written, nothing committed */
    SHARR__HOOK_PUT_COUNTED,    /* message count stored, tail not yet */
    SHARR__HOOK_PUT_COMMITTED,  /* tail stored (committed), log still on */
    SHARR__HOOK_GET_COPIED,     /* records copied out, nothing committed */
    SHARR__HOOK_GET_COUNTED,
    SHARR__HOOK_GET_COMMITTED
};
extern void (*sharr__ring_test_hook)(int where);

#endif /* SHARR_IPC_H */
