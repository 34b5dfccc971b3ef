/*
 * ring.c - one direction of a queue: a bounded multi-producer,
 * multi-consumer FIFO of variable-length messages in shared memory.
 *
 * Design: a single-producer/single-consumer byte ring whose producer side
 * and consumer side are each serialized by a robust process-shared mutex.
 * A put writes its records past the tail, then commits them with one store
 * of the tail; a get copies records out from the head, then commits with
 * one store of the head.  A process killed at any instruction therefore
 * leaves each message wholly queued or wholly absent, and wholly taken or
 * still at the head; the kernel marks the mutex it held (robust futex
 * list), and the next producer or consumer takes over at once.  The only
 * thing such a successor repairs is the message counter stored next to
 * the commit: a small log (struct sharr__wal) written before the two
 * stores says whether to complete or undo it.
 *
 * Why not lock-free (Vyukov's MPMC ring)?  There, a producer that claims a
 * slot and dies before publishing it stalls every consumer behind it for
 * good, and nothing but a guess about its liveness can skip the slot.  The
 * robust mutex gives an exact, kernel-made death notice, costs ~16 ns
 * uncontended, and with one producer and one consumer each side's mutex
 * stays in its own core's cache.
 *
 * Waiting: a consumer with nothing to take releases its mutex, spins a few
 * microseconds on the tail, then raises the data_waiters flag, looks again
 * at the tail and sleeps on the flag; a producer waiting for space does the
 * same with the head and space_waiters.  Committers wake sleepers only when
 * the flag is up (see sharr__flag_waiting for why on the flag).  Nothing ever waits while holding a side's mutex, so a mutex is held
 * only for a copy, and shutdown never waits for a blocked put.
 *
 * Trust: the ring is read through the private capacity, max_msg and mask
 * of struct sharr__ring; every index and header read from the segment is
 * checked against them, so a scribbled queue gives SHARR_ECORRUPT, never
 * an access outside the segment.
 */
#define _GNU_SOURCE
#include "ipc.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#define ACQ __ATOMIC_ACQUIRE
#define REL __ATOMIC_RELEASE
#define RLX __ATOMIC_RELAXED


static uint64_t rec_size(uint64_t len)
{
    return 8 + ((len + 7) & ~(uint64_t)7);
}

void sharr__ring_view(struct sharr__obj *o, int d, struct sharr__ring *r)
{
    uint64_t ring = o->params.p[2];
    unsigned char *base = o->base + (size_t)d * (SHARR__PAGE + ring);

    r->st = (struct sharr__ring_state *)(void *)base;
    r->data = base + SHARR__PAGE;
    r->mask = ring - 1;
    r->capacity = o->params.p[0];
    r->max_msg = o->params.p[1];
    r->name = o->name;
    r->seen_head = r->seen_tail = 0;
}

int sharr__ring_check(struct sharr__obj *o, int d)
{
    struct sharr__ring r;
    int err;

    sharr__ring_view(o, d, &r);
    if ((err = sharr__mutex_check(r.st->put_lock, false, o->name)) < 0 ||
        (err = sharr__mutex_check(r.st->get_lock, false, o->name)) < 0)
        return err;
    return 0;
}

int sharr__ring_init(unsigned char *state, const struct sharr__params *p,
                     int d)
{
    struct sharr__ring_state *st = (struct sharr__ring_state *)(void *)
        (state + (size_t)d * (SHARR__PAGE + p->p[2]));
    int err;

    if ((err = sharr__mutex_init(st->put_lock, false)) < 0 ||
        (err = sharr__mutex_init(st->get_lock, false)) < 0)
        return sharr__fail_os(err, "initializing a queue's mutexes");
    return 0;
}

/* ---- the commit log ---- */

void (*sharr__ring_test_hook)(int where);

static void hook(int where)
{
    if (__builtin_expect(sharr__ring_test_hook != NULL, 0))
        sharr__ring_test_hook(where);
}

/* Store *msgs then *pos (the commit), logged so a successor can finish or
 * undo it if the caller dies in between.  `where` is the first of the
 * three SHARR__HOOK_* points of this side. */
static void commit(struct sharr__wal *w, uint64_t *pos, uint64_t *msgs,
                   uint64_t new_pos, uint64_t new_msgs, int where)
{
    w->old_pos = *pos;
    w->old_msgs = *msgs;
    w->new_pos = new_pos;
    w->new_msgs = new_msgs;
    hook(where);
    __atomic_store_n(&w->active, 1, REL);
    __atomic_store_n(msgs, new_msgs, REL);
    hook(where + 1);
    __atomic_store_n(pos, new_pos, REL); /* the commit point */
    hook(where + 2);
    __atomic_store_n(&w->active, 0, REL);
}

/* After taking a side's mutex from a dead holder: if it died between the
 * two stores of commit(), complete them (the commit store was made) or
 * undo the first (it was not). */
static void repair(struct sharr__wal *w, uint64_t *pos, uint64_t *msgs,
                   uint64_t *repairs)
{
    if (__atomic_load_n(&w->active, ACQ)) {
        if (__atomic_load_n(pos, RLX) == w->new_pos) {
            __atomic_store_n(msgs, w->new_msgs, REL);
        } else {
            __atomic_store_n(msgs, w->old_msgs, REL);
            __atomic_store_n(pos, w->old_pos, REL);
        }
        __atomic_store_n(&w->active, 0, REL);
    }
    __atomic_store_n(repairs, *repairs + 1, RLX);
}

/* Take the producers' (put) or consumers' mutex (a side's mutex is held
 * only for a copy, never during a wait) by the deadline (NULL: the bound of
 * calls without one); repair after a dead holder.
 * @return 0 or SHARR_ETIMEDOUT, SHARR_EBUSY, SHARR_ECORRUPT. */
static int side_lock(struct sharr__ring *r, bool put,
                     const struct sharr__deadline *d)
{
    struct sharr__ring_state *st = r->st;
    int rc = sharr__internal_lock(put ? st->put_lock : st->get_lock, d);

    if (rc != 1)
        return rc;
    if (put) {
        repair(&st->put_wal, &st->tail, &st->put_msgs, &st->put_repairs);
        /* An undone count may have been all a joiner waited for. */
        sharr__wake_flagged(&st->join_waiters);
    } else {
        repair(&st->get_wal, &st->head, &st->get_msgs, &st->get_repairs);
    }
    return 0;
}

static void side_unlock(struct sharr__ring *r, bool put)
{
    sharr__mutex_unlock(put ? r->st->put_lock : r->st->get_lock);
}

static int corrupt_indices(const struct sharr__ring *r, uint64_t head,
                           uint64_t tail)
{
    return sharr__fail(SHARR_ECORRUPT, "queue '%s' is corrupt: head %llu, "
                       "tail %llu for a capacity of %llu bytes", r->name,
                       (unsigned long long)head, (unsigned long long)tail,
                       (unsigned long long)r->capacity);
}

/* ---- copying ---- */

static void copy_in(struct sharr__ring *r, uint64_t pos, const void *src,
                    size_t n)
{
    size_t off = (size_t)(pos & r->mask), room = (size_t)(r->mask + 1) - off;

    if (n <= room) {
        memcpy(r->data + off, src, n);
    } else {
        memcpy(r->data + off, src, room);
        memcpy(r->data, (const unsigned char *)src + room, n - room);
    }
}

static void copy_out(const struct sharr__ring *r, uint64_t pos, void *dst,
                     size_t n)
{
    size_t off = (size_t)(pos & r->mask), room = (size_t)(r->mask + 1) - off;

    if (n <= room) {
        memcpy(dst, r->data + off, n);
    } else {
        memcpy(dst, r->data + off, room);
        memcpy((unsigned char *)dst + room, r->data, n - room);
    }
}

/* The 8-byte header of a record: its length, and the length's complement
 * as a check.  Records start at multiples of 8, so it never wraps. */
static void put_header(struct sharr__ring *r, uint64_t pos, uint32_t len)
{
    uint64_t h = (uint64_t)len | ((uint64_t)(uint32_t)~len << 32);
    memcpy(r->data + (pos & r->mask), &h, 8);
}

/* ---- put ---- */

/* Raise `flag`, then sleep on it unless word moved from v or the queue
 * closed meanwhile.  @return 0 or SHARR_ETIMEDOUT. */
static int sleep_on(struct sharr__ring_state *st, uint32_t *flag,
                    uint32_t *word, uint32_t v,
                    const struct sharr__deadline *d)
{
    int rc;

    sharr__flag_waiting(flag);
    if (__atomic_load_n(word, __ATOMIC_SEQ_CST) != v ||
        __atomic_load_n(&st->closed, __ATOMIC_SEQ_CST))
        return 0;
    __atomic_fetch_add(&st->sleepers, 1, RLX);
    rc = sharr__flag_sleep(flag, d);
    __atomic_fetch_sub(&st->sleepers, 1, RLX);
    return rc;
}

/* Sleep until the head moves from `head` (space may have come), the queue
 * closes, or the deadline. */
static int wait_space(struct sharr__ring *r, uint64_t head,
                      const struct sharr__deadline *d)
{
    struct sharr__ring_state *st = r->st;
    uint32_t *word = sharr__lo32(&st->head), v = (uint32_t)head;

    if (sharr__spin_while(word, v))
        return 0;
    return sleep_on(st, &st->space_waiters, word, v, d);
}

/* Write as many of msgs[k..n) as fit after tail into the ring and commit
 * them; *count of them.  @return 0 or SHARR_ECORRUPT. */
static int put_some(struct sharr__ring *r, const void *const *msgs,
                    const size_t *lens, size_t k, size_t n, size_t *count)
{
    struct sharr__ring_state *st = r->st;
    uint64_t tail = __atomic_load_n(&st->tail, RLX), pos = tail, used;
    size_t i = k;

    used = tail - r->seen_head;
    if (used > r->capacity || rec_size(lens[k]) > r->capacity - used) {
        r->seen_head = __atomic_load_n(&st->head, ACQ);
        if (r->seen_head > tail || tail - r->seen_head > r->capacity)
            return corrupt_indices(r, r->seen_head, tail);
        used = tail - r->seen_head;
    }
    for (; i < n && rec_size(lens[i]) <= r->capacity - (pos - tail) - used;
         i++) {
        put_header(r, pos, (uint32_t)lens[i]);
        if (lens[i])
            copy_in(r, pos + 8, msgs[i], lens[i]);
        pos += rec_size(lens[i]);
    }
    *count = i - k;
    if (i > k) {
        commit(&st->put_wal, &st->tail, &st->put_msgs, pos,
               __atomic_load_n(&st->put_msgs, RLX) + (i - k),
               SHARR__HOOK_PUT_WRITTEN);
        sharr__wake_flagged(&st->data_waiters);
    }
    return 0;
}

static int check_lens(const struct sharr__ring *r, const void *const *msgs,
                      const size_t *lens, size_t n)
{
    if (n > INT_MAX)
        return sharr__fail(SHARR_EINVAL, "%zu messages at once: at most %d",
                           n, INT_MAX);
    for (size_t i = 0; i < n; i++) {
        if (lens[i] > r->max_msg)
            return sharr__fail(SHARR_EINVAL, "message %zu is %zu bytes; "
                               "queue '%s' takes at most %llu (its max_msg)",
                               i, lens[i], r->name,
                               (unsigned long long)r->max_msg);
        if (lens[i] && !msgs[i])
            return sharr__fail(SHARR_EINVAL, "message %zu is NULL with %zu "
                               "bytes", i, lens[i]);
    }
    return 0;
}

static int full(const struct sharr__ring *r, const struct sharr__deadline *d)
{
    return sharr__fail(SHARR_EFULL, "queue '%s' is full%s", r->name,
                       d->now ? "" : " (timed out waiting for space)");
}

int sharr__ring_put(struct sharr__ring *r, const void *const *msgs,
                    const size_t *lens, size_t n, double timeout)
{
    struct sharr__ring_state *st = r->st;
    struct sharr__deadline d;
    size_t k = 0, count = 0;
    bool expired = false;
    int err;

    if ((err = sharr__deadline(timeout, &d)) < 0 ||
        (err = check_lens(r, msgs, lens, n)) < 0)
        return err;
    if ((err = side_lock(r, true, &d)) < 0)
        return err == SHARR_ETIMEDOUT ? full(r, &d) : err;
    while (k < n) {
        if (__atomic_load_n(&st->closed, ACQ)) {
            err = sharr__fail(SHARR_ECLOSED, "queue '%s' is closed", r->name);
            break;
        }
        if ((err = put_some(r, msgs, lens, k, n, &count)) < 0)
            break;
        k += count;
        if (count > 0 || k == n)
            continue;
        if (expired || d.now) {
            err = full(r, &d);
            break;
        }
        uint64_t head = r->seen_head;
        side_unlock(r, true);
        expired = wait_space(r, head, &d) == SHARR_ETIMEDOUT;
        if ((err = side_lock(r, true, &d)) < 0)
            return k ? (int)k : err == SHARR_ETIMEDOUT ? full(r, &d) : err;
    }
    side_unlock(r, true);
    return k ? (int)k : err;
}

/* ---- get ---- */

/* Sleep until the tail moves from `tail`, the queue closes, or the
 * deadline. */
static int wait_data(struct sharr__ring *r, uint64_t tail,
                     const struct sharr__deadline *d)
{
    struct sharr__ring_state *st = r->st;
    uint32_t *word = sharr__lo32(&st->tail), v = (uint32_t)tail;

    if (sharr__spin_while(word, v))
        return 0;
    return sleep_on(st, &st->data_waiters, word, v, d);
}

/* The tail as committed now, checked against head.  @return 0 or
 * SHARR_ECORRUPT. */
static int load_tail(struct sharr__ring *r, uint64_t head, uint64_t *tail)
{
    *tail = __atomic_load_n(&r->st->tail, ACQ);
    if (*tail < head || *tail - head > r->capacity)
        return corrupt_indices(r, head, *tail);
    return 0;
}

/* Copy out the records from head up to n of them, as many as fit in
 * buf[0..size); *pos is where the next record starts.
 * @return how many, SHARR_ERANGE (the first does not fit: lens[0] says its
 * length, *pos is past it) or SHARR_ECORRUPT. */
static int take(struct sharr__ring *r, uint64_t head, void *buf, size_t size,
                size_t *lens, size_t n, uint64_t *pos)
{
    unsigned char *out = buf;
    size_t used = 0, cnt = 0;
    uint64_t p = head, h, tail;
    bool fresh = n == 1;

    for (;;) {
        if (cnt == n)
            break;
        if (p >= r->seen_tail) {
            /* A batch takes what is queued now, not only what this handle
             * saw last: read the tail again, once. */
            if (fresh || load_tail(r, head, &tail) < 0 ||
                tail <= r->seen_tail)
                break;
            r->seen_tail = tail;
            fresh = true;
        }
        memcpy(&h, r->data + (p & r->mask), 8);
        uint32_t len = (uint32_t)h;
        if ((uint32_t)(h >> 32) != (uint32_t)~len || len > r->max_msg ||
            rec_size(len) > r->seen_tail - p)
            return sharr__fail(SHARR_ECORRUPT, "queue '%s' is corrupt: the "
                               "message at byte %llu has a bad header",
                               r->name, (unsigned long long)p);
        if (len > size - used) {
            if (cnt > 0)
                break;
            lens[0] = len;
            *pos = p + rec_size(len);
            return sharr__fail(SHARR_ERANGE, "the next message of queue "
                               "'%s' is %u bytes; the buffer has %zu", r->name,
                               len, size);
        }
        if (len)
            copy_out(r, p + 8, out + used, len);
        lens[cnt++] = len;
        used += len;
        p += rec_size(len);
    }
    *pos = p;
    return (int)cnt;
}

/* With the consumers' mutex: 1 if records are there (seen_tail > head), 0
 * if the queue is empty, SHARR_ECLOSED if it is empty and closed. */
static int available(struct sharr__ring *r, uint64_t head)
{
    uint64_t tail;
    int err;

    if (r->seen_tail > head)
        return 1;
    if ((err = load_tail(r, head, &tail)) < 0)
        return err;
    r->seen_tail = tail;
    if (tail > head)
        return 1;
    if (!__atomic_load_n(&r->st->closed, ACQ))
        return 0;
    /* Closed under the producers' mutex after their last commit: the tail
     * read after it is final. */
    if ((err = load_tail(r, head, &tail)) < 0)
        return err;
    r->seen_tail = tail;
    return tail > head ? 1 : sharr__fail(SHARR_ECLOSED, "queue '%s' is "
                                         "closed and empty", r->name);
}

static int empty(const struct sharr__ring *r, const struct sharr__deadline *d)
{
    return sharr__fail(SHARR_EEMPTY, "queue '%s' is empty%s", r->name,
                       d->now ? "" : " (timed out waiting for a message)");
}

int sharr__ring_get(struct sharr__ring *r, void *buf, size_t size,
                    size_t *lens, size_t n, double timeout, bool drop_long)
{
    struct sharr__ring_state *st = r->st;
    struct sharr__deadline d;
    bool expired = false;
    uint64_t head, pos = 0;
    int err, got;

    if ((err = sharr__deadline(timeout, &d)) < 0)
        return err;
    if (n == 0 || n > INT_MAX || (size && !buf))
        return sharr__fail(SHARR_EINVAL, "get of %zu messages into a %s "
                           "buffer", n, buf ? "valid" : "NULL");
    if ((err = side_lock(r, false, &d)) < 0)
        return err == SHARR_ETIMEDOUT ? empty(r, &d) : err;
    for (;;) {
        head = __atomic_load_n(&st->head, RLX);
        if ((got = available(r, head)) < 0)
            break;
        if (got == 1) {
            got = take(r, head, buf, size, lens, n, &pos);
            if (got > 0 || (got == SHARR_ERANGE && drop_long)) {
                /* A message too long is dropped by the get that found it
                 * so: under the same mutex, so no other is taken instead. */
                commit(&st->get_wal, &st->head, &st->get_msgs, pos,
                       __atomic_load_n(&st->get_msgs, RLX) +
                           (got > 0 ? (uint64_t)got : 1),
                       SHARR__HOOK_GET_COPIED);
                sharr__wake_flagged(&st->space_waiters);
            }
            break;
        }
        if (expired || d.now) {
            got = empty(r, &d);
            break;
        }
        side_unlock(r, false);
        /* Empty: the tail is `head`; sleep until it moves. */
        expired = wait_data(r, head, &d) == SHARR_ETIMEDOUT;
        if ((err = side_lock(r, false, &d)) < 0)
            return err == SHARR_ETIMEDOUT ? empty(r, &d) : err;
    }
    side_unlock(r, false);
    return got;
}

/* ---- poll, shutdown, counts, join ---- */

int sharr__ring_poll(struct sharr__ring *r, double timeout)
{
    struct sharr__ring_state *st = r->st;
    struct sharr__deadline d;
    bool expired = false;
    int err;

    if ((err = sharr__deadline(timeout, &d)) < 0)
        return err;
    for (;;) {
        uint64_t head = __atomic_load_n(&st->head, ACQ), tail;
        if ((err = load_tail(r, head, &tail)) < 0)
            return err;
        if (tail > head)
            return 1;
        if (__atomic_load_n(&st->closed, ACQ)) {
            if ((err = load_tail(r, head, &tail)) < 0)
                return err;
            return tail > head ? 1 : sharr__fail(SHARR_ECLOSED, "'%s' is "
                                                 "closed and empty", r->name);
        }
        if (expired || d.now)
            return 0;
        expired = wait_data(r, tail, &d) == SHARR_ETIMEDOUT;
    }
}

int sharr__ring_shutdown(struct sharr__ring *r)
{
    struct sharr__ring_state *st = r->st;
    int err;

    /* Under the producers' mutex: no put commits after it, so a consumer
     * that sees `closed` sees every message there will ever be. */
    if ((err = side_lock(r, true, NULL)) < 0)
        return err;
    __atomic_store_n(&st->closed, 1, __ATOMIC_SEQ_CST);
    side_unlock(r, true);
    sharr__wake_flagged(&st->data_waiters);
    sharr__wake_flagged(&st->space_waiters);
    return 0;
}

void sharr__ring_count(const struct sharr__ring *r, size_t *msgs,
                       size_t *bytes)
{
    const struct sharr__ring_state *st = r->st;
    uint64_t got = sharr__ring_settled(&st->get_wal, &st->head, &st->get_msgs);
    uint64_t put = sharr__ring_settled(&st->put_wal, &st->tail, &st->put_msgs);
    uint64_t head = __atomic_load_n(&st->head, ACQ);
    uint64_t tail = __atomic_load_n(&st->tail, ACQ);

    if (msgs)
        *msgs = put >= got ? (size_t)(put - got) : 0;
    if (bytes)
        *bytes = tail >= head && tail - head <= r->capacity
                     ? (size_t)(tail - head) : 0;
}

int sharr__ring_task_done(struct sharr__ring *r, size_t n)
{
    struct sharr__ring_state *st = r->st;
    uint64_t done = __atomic_load_n(&st->done, RLX), put;

    do {
        put = sharr__ring_settled(&st->put_wal, &st->tail, &st->put_msgs);
        if (n > put || done > put - n)
            return sharr__fail(SHARR_ERANGE, "task_done(%zu) on queue '%s': "
                               "only %llu of the %llu messages put are not "
                               "done yet", n, r->name,
                               (unsigned long long)(put >= done ? put - done
                                                                : 0),
                               (unsigned long long)put);
    } while (!__atomic_compare_exchange_n(&st->done, &done, done + n, false,
                                          __ATOMIC_SEQ_CST, RLX));
    if (done + n >= put)
        sharr__wake_flagged(&st->join_waiters);
    return 0;
}

int sharr__ring_join(struct sharr__ring *r, double timeout)
{
    struct sharr__ring_state *st = r->st;
    struct sharr__deadline d;
    int err;

    if ((err = sharr__deadline(timeout, &d)) < 0)
        return err;
    for (;;) {
        sharr__flag_waiting(&st->join_waiters);
        uint64_t done = __atomic_load_n(&st->done, __ATOMIC_SEQ_CST);
        uint64_t put = sharr__ring_settled(&st->put_wal, &st->tail,
                                           &st->put_msgs);
        if (done >= put)
            return 0;
        if (sharr__expired(&d))
            return sharr__fail(SHARR_ETIMEDOUT, "queue '%s': %llu messages "
                               "not done yet", r->name,
                               (unsigned long long)(put - done));
        __atomic_fetch_add(&st->sleepers, 1, RLX);
        sharr__flag_sleep(&st->join_waiters, &d);
        __atomic_fetch_sub(&st->sleepers, 1, RLX);
    }
}
