/*
 * queue.c - named queues (Python's Queue and JoinableQueue, by name): one
 * ring (ring.c) in a named object of kind "queue", and the fixed record
 * that carries a unit of array work.
 *
 * What a killed put or get means, why a dead producer or consumer never
 * blocks the others, and why a robust mutex rather than a lock-free ring:
 * see ring.c's opening comment and sharr.h.  A handle may be shared by
 * threads (what it caches is touched only under a side's mutex).
 */
#define _GNU_SOURCE
#include "ipc.h"

#include <stdlib.h>
#include <string.h>

struct sharr_queue {
    struct sharr__obj obj;
    struct sharr__ring ring;
};

static uint64_t round_pow2(uint64_t v)
{
    uint64_t r = 1;
    while (r < v)
        r <<= 1;
    return r;
}

void sharr__queue_params(size_t capacity, size_t max_msg, int dirs,
                         struct sharr__params *p)
{
    memset(p, 0, sizeof *p);
    if (max_msg == 0)
        max_msg = capacity && capacity < 2 * SHARR_QUEUE_MAX_MSG
                      ? (capacity >= 16 ? capacity / 2 - 8 : 0)
                      : SHARR_QUEUE_MAX_MSG;
    if (capacity == 0)
        capacity = SHARR_QUEUE_CAPACITY > 8 + max_msg ? SHARR_QUEUE_CAPACITY
                                                      : 2 * (8 + max_msg);
    p->p[0] = capacity;
    p->p[1] = max_msg;
    p->p[2] = round_pow2(capacity < SHARR__PAGE ? SHARR__PAGE : capacity);
    p->p[3] = (uint64_t)dirs;
}

static int init_queue(unsigned char *state, const struct sharr__params *p)
{
    return sharr__ring_init(state, p, 0);
}

static int new_handle(sharr_queue **out)
{
    if (!(*out = calloc(1, sizeof **out)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    return 0;
}

int sharr_queue_create(const char *name, size_t capacity, size_t max_msg,
                       const sharr_create_opts *opts, sharr_queue **out)
{
    struct sharr__params p;
    sharr_queue *q;
    int err;

    *out = NULL;
    if (capacity > SHARR_QUEUE_MAX_CAPACITY ||
        max_msg > SHARR_QUEUE_MAX_MSG_LIMIT)
        return sharr__fail(SHARR_EINVAL, "capacity %zu or max_msg %zu too "
                           "large (limits: %zu and %zu bytes)", capacity,
                           max_msg, SHARR_QUEUE_MAX_CAPACITY,
                           SHARR_QUEUE_MAX_MSG_LIMIT);
    if ((err = new_handle(&q)) < 0)
        return err;
    sharr__queue_params(capacity, max_msg, 1, &p);
    if ((err = sharr__obj_create(name, SHARR_KIND_QUEUE, &p, init_queue,
                                 opts, &q->obj)) < 0) {
        free(q);
        return err;
    }
    sharr__ring_view(&q->obj, 0, &q->ring);
    *out = q;
    return 0;
}

int sharr_queue_open(const char *name, unsigned flags, sharr_queue **out)
{
    sharr_queue *q;
    int err;

    *out = NULL;
    if ((err = new_handle(&q)) < 0)
        return err;
    if ((err = sharr__obj_open(name, 1u << SHARR_KIND_QUEUE, flags,
                               &q->obj)) < 0 ||
        (err = sharr__ring_check(&q->obj, 0)) < 0) {
        sharr__obj_close(&q->obj);
        free(q);
        return err;
    }
    sharr__ring_view(&q->obj, 0, &q->ring);
    *out = q;
    return 0;
}

void sharr_queue_close(sharr_queue *q)
{
    if (!q)
        return;
    sharr__obj_close(&q->obj);
    free(q);
}

int sharr_queue_put(sharr_queue *q, const void *msg, size_t len,
                    double timeout)
{
    int n = sharr__ring_put(&q->ring, &msg, &len, 1, timeout);
    return n < 0 ? n : 0;
}

int sharr_queue_put_many(sharr_queue *q, const void *const *msgs,
                         const size_t *lens, size_t n, double timeout)
{
    return sharr__ring_put(&q->ring, msgs, lens, n, timeout);
}

int sharr_queue_get(sharr_queue *q, void *buf, size_t size, size_t *len,
                    double timeout)
{
    int n = sharr__ring_get(&q->ring, buf, size, len, 1, timeout, false);
    return n < 0 ? n : 0;
}

int sharr_queue_get_many(sharr_queue *q, void *buf, size_t size,
                         size_t *lens, size_t n, double timeout)
{
    return sharr__ring_get(&q->ring, buf, size, lens, n, timeout, false);
}

int sharr_queue_shutdown(sharr_queue *q)
{
    return sharr__ring_shutdown(&q->ring);
}

int sharr_queue_task_done(sharr_queue *q, size_t n)
{
    return sharr__ring_task_done(&q->ring, n);
}

int sharr_queue_join(sharr_queue *q, double timeout)
{
    return sharr__ring_join(&q->ring, timeout);
}

int sharr_queue_count(const sharr_queue *q, size_t *msgs, size_t *bytes)
{
    sharr__ring_count(&q->ring, msgs, bytes);
    return 0;
}

int sharr_queue_closed(const sharr_queue *q)
{
    return __atomic_load_n(&q->ring.st->closed, __ATOMIC_ACQUIRE) != 0;
}

size_t sharr_queue_capacity(const sharr_queue *q)
{
    return (size_t)q->ring.capacity;
}

size_t sharr_queue_max_msg(const sharr_queue *q)
{
    return (size_t)q->ring.max_msg;
}

const char *sharr_queue_name(const sharr_queue *q)
{
    return q->obj.name;
}

/* ---- work records ---- */

#define WORK_MAGIC "SHW1"
#define WORK_FIXED 96 /* bytes before the name */

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Encode *w into rec (WORK_FIXED + SHARR_NAME_MAX bytes); its length. */
static size_t encode(const sharr_work *w, size_t name_len, unsigned char *rec)
{
    uint64_t bits;

    memcpy(rec, WORK_MAGIC, 4);
    rec[4] = (unsigned char)name_len;
    rec[5] = (unsigned char)(name_len >> 8);
    rec[6] = rec[7] = 0;
    put_u64(rec + 8, w->row_start);
    put_u64(rec + 16, w->row_end);
    put_u64(rec + 24, (uint64_t)w->tag);
    for (int i = 0; i < 4; i++) {
        put_u64(rec + 32 + 8 * i, (uint64_t)w->i[i]);
        memcpy(&bits, &w->d[i], 8);
        put_u64(rec + 64 + 8 * i, bits);
    }
    memcpy(rec + WORK_FIXED, w->array, name_len);
    return WORK_FIXED + name_len;
}

int sharr_queue_put_work(sharr_queue *q, const sharr_work *w, double timeout)
{
    unsigned char rec[WORK_FIXED + SHARR_NAME_MAX];
    size_t name_len = strnlen(w->array, sizeof w->array);
    int err;

    if (name_len > SHARR_NAME_MAX)
        return sharr__fail(SHARR_EINVAL, "work item: the array name is not "
                           "NUL-terminated");
    if (name_len && (err = sharr_name_check(w->array)) < 0)
        return err;
    if (w->row_start > w->row_end)
        return sharr__fail(SHARR_EINVAL, "work item: rows %zu..%zu are "
                           "reversed", w->row_start, w->row_end);
    if (q->ring.max_msg < sizeof rec)
        return sharr__fail(SHARR_EINVAL, "queue '%s' takes messages of at "
                           "most %llu bytes; work items need %zu",
                           q->obj.name, (unsigned long long)q->ring.max_msg,
                           sizeof rec);
    return sharr_queue_put(q, rec, encode(w, name_len, rec), timeout);
}

/* Decode rec[0..len) into *w.  @return 0 or SHARR_EINVAL. */
static int decode(const unsigned char *rec, size_t len, sharr_work *w)
{
    size_t name_len;
    uint64_t bits;

    if (len < WORK_FIXED || memcmp(rec, WORK_MAGIC, 4) != 0)
        return sharr__fail(SHARR_EINVAL, "the message taken (%zu bytes) is "
                           "not a work item", len);
    name_len = (size_t)rec[4] | (size_t)rec[5] << 8;
    if (rec[6] || rec[7] || name_len > SHARR_NAME_MAX ||
        len != WORK_FIXED + name_len)
        return sharr__fail(SHARR_EINVAL, "the message taken is a malformed "
                           "work item (%zu bytes, name of %zu)", len,
                           name_len);
    memset(w, 0, sizeof *w);
    memcpy(w->array, rec + WORK_FIXED, name_len);
    w->row_start = (size_t)get_u64(rec + 8);
    w->row_end = (size_t)get_u64(rec + 16);
    w->tag = (int64_t)get_u64(rec + 24);
    for (int i = 0; i < 4; i++) {
        w->i[i] = (int64_t)get_u64(rec + 32 + 8 * i);
        bits = get_u64(rec + 64 + 8 * i);
        memcpy(&w->d[i], &bits, 8);
    }
    if ((name_len && sharr_name_check(w->array) < 0) ||
        w->row_start > w->row_end)
        return sharr__fail(SHARR_EINVAL, "the message taken is a work item "
                           "with a bad array name or rows");
    return 0;
}

int sharr_queue_get_work(sharr_queue *q, sharr_work *w, double timeout)
{
    unsigned char rec[WORK_FIXED + SHARR_NAME_MAX];
    size_t len = 0;
    /* A message too long for a work item is taken off the queue all the
     * same (by this get: another consumer's next message is not touched),
     * so that one bad message cannot stop the consumers. */
    int err = sharr__ring_get(&q->ring, rec, sizeof rec, &len, 1, timeout,
                              true);

    if (err == SHARR_ERANGE)
        return sharr__fail(SHARR_EINVAL, "the message taken (%zu bytes) is "
                           "not a work item", len);
    return err < 0 ? err : decode(rec, len, w);
}
