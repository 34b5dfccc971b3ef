/*
 * test_queue.c - named queues and pipes: every call, timeout and error,
 * work records, several producers and consumers, and segments that are
 * corrupt, foreign or of another kind.  Kills are in test_ipc_faults.c.
 */
#include "ipcutil.h"

#include <math.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/wait.h>

TestSuite(queue, .init = tu_setup, .fini = tu_ipc_fini, .timeout = 30);

static sharr_queue *mkq(const char *label, size_t cap, size_t max)
{
    sharr_queue *q = NULL;
    cr_assert_eq(sharr_queue_create(tu_name(label), cap, max, NULL, &q), 0,
                 "%s", sharr_errmsg());
    return q;
}

static sharr_queue *openq(const char *label)
{
    sharr_queue *q = NULL;
    cr_assert_eq(sharr_queue_open(tu_name(label), 0, &q), 0, "%s",
                 sharr_errmsg());
    return q;
}

/* ---- create, open, basics ---- */

Test(queue, create_then_open_sees_the_same_queue_and_sizes)
{
    sharr_queue *q = mkq("q", 8192, 100), *r = openq("q");
    char buf[16];
    size_t len = 0;

    cr_assert_eq(sharr_queue_capacity(r), 8192);
    cr_assert_eq(sharr_queue_max_msg(r), 100);
    cr_assert_str_eq(sharr_queue_name(r), tu_name("q"));
    cr_assert_eq(sharr_queue_put(q, "hello", 5, 0), 0);
    cr_assert_eq(sharr_queue_get(r, buf, sizeof buf, &len, 0), 0, "%s",
                 sharr_errmsg());
    cr_assert_eq(len, 5);
    cr_assert_eq(memcmp(buf, "hello", 5), 0);
    sharr_queue_close(q);
    sharr_queue_close(r);
}

Test(queue, defaults_are_one_mebibyte_and_64_kib_messages)
{
    sharr_queue *q = mkq("d", 0, 0);
    cr_assert_eq(sharr_queue_capacity(q), SHARR_QUEUE_CAPACITY);
    cr_assert_eq(sharr_queue_max_msg(q), SHARR_QUEUE_MAX_MSG);
    sharr_queue_close(q);
    q = mkq("d2", 4096, 0);
    cr_assert_leq(8 + sharr_queue_max_msg(q), 4096);
    cr_assert_geq(sharr_queue_max_msg(q), 1024);
    sharr_queue_close(q);
}

Test(queue, messages_come_out_in_order_with_their_lengths_across_wraps)
{
    /* A small ring wraps many times; lengths 0..61 cover every padding. */
    sharr_queue *q = mkq("o", 4096, 64);
    unsigned char msg[64], buf[64];
    size_t len, msgs = 0, bytes = 0;
    int next = 0; /* the round whose message comes out next */

    for (int round = 0; round < 4000; round++) {
        size_t n = (size_t)(round % 62);
        for (size_t i = 0; i < n; i++)
            msg[i] = (unsigned char)(round + i);
        cr_assert_eq(sharr_queue_put(q, msg, n, 0), 0, "%s", sharr_errmsg());
        if (round - next < 20) /* keep some queued: head and tail differ */
            continue;
        cr_assert_eq(sharr_queue_get(q, buf, sizeof buf, &len, 0), 0, "%s",
                     sharr_errmsg());
        cr_assert_eq(len, (size_t)(next % 62));
        for (size_t i = 0; i < len; i++)
            cr_assert_eq(buf[i], (unsigned char)(next + i));
        next++;
    }
    /* What is left comes out in order, then the queue is empty. */
    sharr_queue_count(q, &msgs, &bytes);
    cr_assert_eq(msgs, 4000 - (size_t)next);
    while (sharr_queue_get(q, buf, sizeof buf, &len, 0) == 0)
        cr_assert_eq(len, (size_t)(next++ % 62));
    cr_assert_eq(next, 4000);
    sharr_queue_count(q, &msgs, &bytes);
    cr_assert_eq(msgs + bytes, 0);
    sharr_queue_close(q);
}

Test(queue, every_message_keeps_its_bytes_and_order)
{
    sharr_queue *q = mkq("bytes", 65536, 1000);
    unsigned char msg[1000], buf[1000];
    size_t len;

    for (int i = 0; i < 500; i++) {
        size_t n = (size_t)(i * 37 % 1001);
        memset(msg, i & 0xff, n);
        cr_assert_eq(sharr_queue_put(q, msg, n, -1), 0, "%s", sharr_errmsg());
        cr_assert_eq(sharr_queue_get(q, buf, sizeof buf, &len, -1), 0);
        cr_assert_eq(len, n);
        for (size_t k = 0; k < n; k++)
            cr_assert_eq(buf[k], i & 0xff);
    }
    sharr_queue_close(q);
}

Test(queue, zero_length_messages_and_null_pointers_round_trip)
{
    sharr_queue *q = mkq("z", 4096, 16);
    size_t len = 99;
    cr_assert_eq(sharr_queue_put(q, NULL, 0, 0), 0);
    cr_assert_eq(sharr_queue_get(q, NULL, 0, &len, 0), 0, "%s",
                 sharr_errmsg());
    cr_assert_eq(len, 0);
    cr_assert_eq(sharr_queue_put(q, NULL, 3, 0), SHARR_EINVAL);
    sharr_queue_close(q);
}

/* ---- timeouts: Full, Empty ---- */

Test(queue, get_of_an_empty_queue_is_eempty_at_once_or_after_the_timeout)
{
    sharr_queue *q = mkq("e", 4096, 16);
    char buf[16];
    size_t len;
    double t0 = tu_now();

    cr_assert_eq(sharr_queue_get(q, buf, sizeof buf, &len, 0), SHARR_EEMPTY);
    /* Far below the 0.2 s wait below; the rest is margin for a busy CI. */
    cr_assert_lt(tu_now() - t0, 0.1, "%.3f s", tu_now() - t0);
    cr_assert(strstr(sharr_errmsg(), "is empty"), "%s", sharr_errmsg());
    t0 = tu_now();
    cr_assert_eq(sharr_queue_get(q, buf, sizeof buf, &len, 0.2),
                 SHARR_EEMPTY);
    double took = tu_now() - t0;
    cr_assert(took >= 0.19 && took < 1.0, "waited %.3f s", took);
    cr_assert(strstr(sharr_errmsg(), "timed out"), "%s", sharr_errmsg());
    cr_assert_eq(sharr_queue_get(q, buf, sizeof buf, &len, NAN),
                 SHARR_EINVAL);
    sharr_queue_close(q);
}

Test(queue, put_on_a_full_queue_is_efull_and_puts_nothing)
{
    /* 4096 bytes hold 4096 / (8 + 56) = 64 messages of 56 bytes. */
    sharr_queue *q = mkq("f", 4096, 56);
    char msg[56] = {0};
    size_t msgs;
    int n = 0;

    while (sharr_queue_put(q, msg, sizeof msg, 0) == 0)
        n++;
    cr_assert_eq(n, 64);
    cr_assert_eq(sharr_queue_put(q, msg, sizeof msg, 0), SHARR_EFULL);
    cr_assert(strstr(sharr_errmsg(), "is full"), "%s", sharr_errmsg());
    double t0 = tu_now();
    cr_assert_eq(sharr_queue_put(q, msg, 1, 0.2), SHARR_EFULL);
    double took = tu_now() - t0;
    cr_assert(took >= 0.19 && took < 1.0, "waited %.3f s", took);
    sharr_queue_count(q, &msgs, NULL);
    cr_assert_eq(msgs, 64);
    sharr_queue_close(q);
}

Test(queue, a_message_longer_than_max_msg_is_einval)
{
    sharr_queue *q = mkq("l", 4096, 10);
    char msg[11] = {0};
    cr_assert_eq(sharr_queue_put(q, msg, 11, 0), SHARR_EINVAL);
    cr_assert(strstr(sharr_errmsg(), "at most 10"), "%s", sharr_errmsg());
    cr_assert_eq(sharr_queue_put(q, msg, 10, 0), 0);
    sharr_queue_close(q);
}

Test(queue, get_into_a_small_buffer_is_erange_and_leaves_the_message)
{
    sharr_queue *q = mkq("s", 4096, 100);
    char buf[100];
    size_t len = 0;

    cr_assert_eq(sharr_queue_put(q, "0123456789", 10, 0), 0);
    cr_assert_eq(sharr_queue_get(q, buf, 4, &len, 0), SHARR_ERANGE);
    cr_assert_eq(len, 10, "the length needed is reported");
    cr_assert_eq(sharr_queue_get(q, buf, 10, &len, 0), 0);
    cr_assert_eq(memcmp(buf, "0123456789", 10), 0);
    sharr_queue_close(q);
}

/* ---- batches ---- */

Test(queue, put_many_and_get_many_move_batches_in_order)
{
    sharr_queue *q = mkq("b", 65536, 64);
    char data[100][8];
    const void *msgs[100];
    size_t lens[100], got_lens[100];
    char buf[800];

    for (int i = 0; i < 100; i++) {
        snprintf(data[i], 8, "m%03d", i);
        msgs[i] = data[i];
        lens[i] = strlen(data[i]);
    }
    cr_assert_eq(sharr_queue_put_many(q, msgs, lens, 100, 0), 100);
    /* 30 at most, and only as many as fit in 50 bytes: 12 of 4 bytes. */
    cr_assert_eq(sharr_queue_get_many(q, buf, 50, got_lens, 30, 0), 12);
    cr_assert_eq(memcmp(buf, "m000m001", 8), 0);
    cr_assert_eq(sharr_queue_get_many(q, buf, sizeof buf, got_lens, 30, 0),
                 30);
    cr_assert_eq(memcmp(buf, "m012", 4), 0);
    cr_assert_eq(got_lens[29], 4);
    int n = sharr_queue_get_many(q, buf, sizeof buf, got_lens, 100, 0);
    cr_assert_eq(n, 58);
    cr_assert_eq(memcmp(buf + 57 * 4, "m099", 4), 0);
    cr_assert_eq(sharr_queue_get_many(q, buf, sizeof buf, got_lens, 100, 0),
                 SHARR_EEMPTY);
    sharr_queue_close(q);
}

Test(queue, get_many_takes_what_is_queued_now_not_what_it_saw_last)
{
    sharr_queue *c = mkq("gm", 4096, 64), *prod = openq("gm");
    char buf[64];
    size_t lens[10];

    cr_assert_eq(sharr_queue_put(prod, "A", 1, 0), 0);
    cr_assert_eq(sharr_queue_put(prod, "B", 1, 0), 0);
    cr_assert_eq(sharr_queue_get(c, buf, sizeof buf, lens, 0), 0);
    /* c saw A and B; C and D come after. */
    cr_assert_eq(sharr_queue_put(prod, "C", 1, 0), 0);
    cr_assert_eq(sharr_queue_put(prod, "D", 1, 0), 0);
    cr_assert_eq(sharr_queue_get_many(c, buf, sizeof buf, lens, 10, 0), 3);
    cr_assert_eq(memcmp(buf, "BCD", 3), 0);
    sharr_queue_close(prod);
    sharr_queue_close(c);
}

Test(queue, put_many_on_a_nearly_full_queue_says_how_many_it_put)
{
    sharr_queue *q = mkq("nf", 4096, 56);
    char m[56] = {0};
    const void *msgs[80];
    size_t lens[80];

    for (int i = 0; i < 80; i++) {
        msgs[i] = m;
        lens[i] = sizeof m;
    }
    cr_assert_eq(sharr_queue_put_many(q, msgs, lens, 80, 0), 64);
    cr_assert_eq(sharr_queue_put_many(q, msgs, lens, 80, 0), SHARR_EFULL);
    lens[3] = 57;
    cr_assert_eq(sharr_queue_put_many(q, msgs, lens, 80, 0), SHARR_EINVAL,
                 "a bad length anywhere refuses the whole batch");
    sharr_queue_close(q);
}

/* ---- waiting across processes ---- */

static int put_later(void *arg)
{
    sharr_queue *q;
    usleep(100000);
    if (sharr_queue_open(arg, 0, &q) < 0 || sharr_queue_put(q, "x", 1, 0))
        return 1;
    sharr_queue_close(q);
    return 0;
}

Test(queue, a_blocked_get_wakes_when_another_process_puts)
{
    sharr_queue *q = mkq("w", 4096, 16);
    char buf[16];
    size_t len;
    pid_t pid = tu_child(put_later, (void *)tu_name("w"));
    double t0 = tu_now();

    cr_assert_eq(sharr_queue_get(q, buf, sizeof buf, &len, 5), 0, "%s",
                 sharr_errmsg());
    cr_assert_lt(tu_now() - t0, 2.0);
    cr_assert_eq(buf[0], 'x');
    cr_assert_eq(tu_status(pid), 0);
    sharr_queue_close(q);
}

static int get_later(void *arg)
{
    sharr_queue *q;
    char buf[64];
    size_t len;
    usleep(100000);
    if (sharr_queue_open(arg, 0, &q) < 0 ||
        sharr_queue_get(q, buf, sizeof buf, &len, 0))
        return 1;
    sharr_queue_close(q);
    return 0;
}

Test(queue, a_blocked_put_wakes_when_another_process_makes_room)
{
    sharr_queue *q = mkq("wp", 4096, 56);
    char m[56] = {0};
    while (sharr_queue_put(q, m, sizeof m, 0) == 0)
        ;
    pid_t pid = tu_child(get_later, (void *)tu_name("wp"));
    cr_assert_eq(sharr_queue_put(q, m, sizeof m, 5), 0, "%s",
                 sharr_errmsg());
    cr_assert_eq(tu_status(pid), 0);
    sharr_queue_close(q);
}

/* ---- shutdown ---- */

static int get_until_closed(void *arg)
{
    sharr_queue *q;
    char buf[16];
    size_t len;
    int n = 0, err;
    if (sharr_queue_open(arg, 0, &q) < 0)
        return 99;
    while ((err = sharr_queue_get(q, buf, sizeof buf, &len, 10)) == 0)
        n++;
    sharr_queue_close(q);
    return err == SHARR_ECLOSED ? n : 98;
}

Test(queue, shutdown_lets_consumers_drain_then_says_end_of_stream)
{
    sharr_queue *q = mkq("c", 4096, 16);
    pid_t c1 = tu_child(get_until_closed, (void *)tu_name("c"));
    pid_t c2 = tu_child(get_until_closed, (void *)tu_name("c"));

    for (int i = 0; i < 10; i++)
        cr_assert_eq(sharr_queue_put(q, "m", 1, 0), 0);
    cr_assert_eq(sharr_queue_shutdown(q), 0);
    cr_assert_eq(sharr_queue_shutdown(q), 0, "twice is fine");
    cr_assert_eq(sharr_queue_closed(q), 1);
    cr_assert_eq(sharr_queue_put(q, "m", 1, 0), SHARR_ECLOSED);
    cr_assert(strstr(sharr_errmsg(), "closed"), "%s", sharr_errmsg());
    int a = tu_status(c1), b = tu_status(c2);
    cr_assert(a < 98 && b < 98, "consumers ended with %d and %d", a, b);
    cr_assert_eq(a + b, 10, "the consumers took %d + %d messages", a, b);
    sharr_queue_close(q);
}

static int put_until_closed(void *arg)
{
    sharr_queue *q;
    char m[56] = {0};
    int err;
    if (sharr_queue_open(arg, 0, &q) < 0)
        return 99;
    while ((err = sharr_queue_put(q, m, sizeof m, 10)) == 0)
        ;
    sharr_queue_close(q);
    return err == SHARR_ECLOSED ? 0 : 98;
}

Test(queue, shutdown_wakes_a_producer_blocked_on_a_full_queue)
{
    sharr_queue *q = mkq("cp", 4096, 56);
    pid_t pid = tu_child(put_until_closed, (void *)tu_name("cp"));
    usleep(200000);
    double t0 = tu_now();
    cr_assert_eq(sharr_queue_shutdown(q), 0);
    cr_assert_eq(tu_status(pid), 0);
    cr_assert_lt(tu_now() - t0, 2.0);
    sharr_queue_close(q);
}

/* ---- JoinableQueue ---- */

Test(queue, join_waits_for_task_done_of_every_message)
{
    sharr_queue *q = mkq("j", 4096, 16);
    char buf[16];
    size_t len;

    cr_assert_eq(sharr_queue_join(q, 0), 0, "nothing put: nothing to wait");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(sharr_queue_put(q, "t", 1, 0), 0);
    cr_assert_eq(sharr_queue_join(q, 0.1), SHARR_ETIMEDOUT);
    cr_assert(strstr(sharr_errmsg(), "3 messages not done"), "%s",
              sharr_errmsg());
    for (int i = 0; i < 3; i++)
        cr_assert_eq(sharr_queue_get(q, buf, sizeof buf, &len, 0), 0);
    cr_assert_eq(sharr_queue_task_done(q, 2), 0);
    cr_assert_eq(sharr_queue_join(q, 0), SHARR_ETIMEDOUT);
    cr_assert_eq(sharr_queue_task_done(q, 2), SHARR_ERANGE,
                 "more than were put");
    cr_assert_eq(sharr_queue_task_done(q, 1), 0);
    cr_assert_eq(sharr_queue_join(q, 0), 0);
    cr_assert_eq(sharr_queue_task_done(q, 1), SHARR_ERANGE);
    sharr_queue_close(q);
}

static int take_and_mark_done(void *arg)
{
    sharr_queue *q;
    char buf[16];
    size_t len;
    if (sharr_queue_open(arg, 0, &q) < 0)
        return 99;
    for (int i = 0; i < 5; i++) {
        if (sharr_queue_get(q, buf, sizeof buf, &len, 5) < 0)
            return 98;
        usleep(20000);
        if (sharr_queue_task_done(q, 1) < 0)
            return 97;
    }
    sharr_queue_close(q);
    return 0;
}

Test(queue, join_wakes_when_another_process_marks_the_last_task_done)
{
    sharr_queue *q = mkq("jw", 4096, 16);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(sharr_queue_put(q, "t", 1, 0), 0);
    pid_t pid = tu_child(take_and_mark_done, (void *)tu_name("jw"));
    cr_assert_eq(sharr_queue_join(q, 5), 0, "%s", sharr_errmsg());
    cr_assert_eq(tu_status(pid), 0);
    sharr_queue_close(q);
}

/* ---- work records ---- */

Test(queue, work_records_round_trip_every_field)
{
    sharr_queue *q = mkq("wk", 65536, 0);
    sharr_work w = {.row_start = 3, .row_end = 17, .tag = -5,
                    .i = {1, -2, INT64_MAX, INT64_MIN},
                    .d = {0.5, -1e300, INFINITY, 0}}, r;
    snprintf(w.array, sizeof w.array, "%s", tu_name("frames"));
    cr_assert_eq(sharr_queue_put_work(q, &w, 0), 0, "%s", sharr_errmsg());
    memset(&r, 0xff, sizeof r);
    cr_assert_eq(sharr_queue_get_work(q, &r, 0), 0, "%s", sharr_errmsg());
    cr_assert_str_eq(r.array, w.array);
    cr_assert_eq(r.row_start, 3);
    cr_assert_eq(r.row_end, 17);
    cr_assert_eq(r.tag, -5);
    cr_assert_eq(memcmp(r.i, w.i, sizeof w.i), 0);
    cr_assert_eq(memcmp(r.d, w.d, sizeof w.d), 0);
    /* A sentinel: no array. */
    sharr_work stop = {.tag = -1};
    cr_assert_eq(sharr_queue_put_work(q, &stop, 0), 0);
    cr_assert_eq(sharr_queue_get_work(q, &r, 0), 0);
    cr_assert_str_eq(r.array, "");
    cr_assert_eq(r.tag, -1);
    sharr_queue_close(q);
}

Test(queue, bad_work_records_are_refused_and_other_messages_consumed)
{
    sharr_queue *q = mkq("bw", 65536, 0);
    sharr_work w = {.row_start = 5, .row_end = 4}, r;
    cr_assert_eq(sharr_queue_put_work(q, &w, 0), SHARR_EINVAL);
    w.row_end = 9;
    snprintf(w.array, sizeof w.array, "bad/name");
    cr_assert_eq(sharr_queue_put_work(q, &w, 0), SHARR_EINVAL);
    cr_assert_eq(sharr_queue_put(q, "not a work item", 15, 0), 0);
    char big[1000] = "SHW1";
    cr_assert_eq(sharr_queue_put(q, big, sizeof big, 0), 0);
    cr_assert_eq(sharr_queue_get_work(q, &r, 0), SHARR_EINVAL);
    cr_assert(strstr(sharr_errmsg(), "not a work item"), "%s",
              sharr_errmsg());
    cr_assert_eq(sharr_queue_get_work(q, &r, 0), SHARR_EINVAL);
    cr_assert_eq(sharr_queue_get_work(q, &r, 0), SHARR_EEMPTY,
                 "both bad messages were consumed");
    sharr_queue *tiny = mkq("tiny", 4096, 100);
    memset(&w, 0, sizeof w);
    cr_assert_eq(sharr_queue_put_work(tiny, &w, 0), SHARR_EINVAL);
    sharr_queue_close(tiny);
    sharr_queue_close(q);
}

/* ---- many producers and consumers ---- */

enum { PRODUCERS = 3, CONSUMERS = 3, PER_PRODUCER = 20000 };

struct tally {
    int count[PRODUCERS][PER_PRODUCER];
    int out_of_order, corrupt;
};

struct mp_arg {
    const char *name;
    int id;
    struct tally *t;
};

static int mp_produce(void *arg)
{
    struct mp_arg *a = arg;
    sharr_queue *q;
    unsigned char m[40];
    if (sharr_queue_open(a->name, 0, &q) < 0)
        return 99;
    for (int i = 0; i < PER_PRODUCER; i++) {
        size_t len = 8 + (size_t)(i % 32);
        memcpy(m, &a->id, 4);
        memcpy(m + 4, &i, 4);
        for (size_t k = 8; k < len; k++)
            m[k] = (unsigned char)(a->id * 31 + i + k);
        if (sharr_queue_put(q, m, len, 10) < 0)
            return 98;
    }
    sharr_queue_close(q);
    return 0;
}

static int mp_consume(void *arg)
{
    struct mp_arg *a = arg;
    sharr_queue *q;
    unsigned char buf[64 * 40];
    size_t lens[64];
    int last[PRODUCERS] = {-1, -1, -1}, n, err = 0;
    if (sharr_queue_open(a->name, 0, &q) < 0)
        return 99;
    while ((n = sharr_queue_get_many(q, buf, sizeof buf, lens, 1 + a->id * 20,
                                     10)) > 0) {
        size_t off = 0;
        for (int j = 0; j < n; j++) {
            int id, i;
            memcpy(&id, buf + off, 4);
            memcpy(&i, buf + off + 4, 4);
            if (id < 0 || id >= PRODUCERS || i < 0 || i >= PER_PRODUCER ||
                lens[j] != 8 + (size_t)(i % 32)) {
                __atomic_fetch_add(&a->t->corrupt, 1, __ATOMIC_RELAXED);
                off += lens[j];
                continue;
            }
            for (size_t k = 8; k < lens[j]; k++)
                if (buf[off + k] != (unsigned char)(id * 31 + i + k))
                    __atomic_fetch_add(&a->t->corrupt, 1, __ATOMIC_RELAXED);
            if (i <= last[id]) /* one producer's messages stay in order */
                __atomic_fetch_add(&a->t->out_of_order, 1, __ATOMIC_RELAXED);
            last[id] = i;
            __atomic_fetch_add(&a->t->count[id][i], 1, __ATOMIC_RELAXED);
            off += lens[j];
        }
    }
    err = n;
    sharr_queue_close(q);
    return err == SHARR_ECLOSED ? 0 : 98;
}

Test(queue, many_producers_and_consumers_deliver_each_message_once,
     .timeout = 60)
{
    const char *name = tu_name("mp");
    sharr_queue *q = mkq("mp", 8192, 64);
    struct tally *t = tu_shared(sizeof *t);
    struct mp_arg args[PRODUCERS + CONSUMERS];
    pid_t pids[PRODUCERS + CONSUMERS];

    for (int i = 0; i < PRODUCERS + CONSUMERS; i++) {
        args[i] = (struct mp_arg){name, i % PRODUCERS, t};
        if (i >= PRODUCERS)
            args[i].id = i - PRODUCERS;
        pids[i] = tu_child(i < PRODUCERS ? mp_produce : mp_consume, &args[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        cr_assert_eq(tu_status(pids[i]), 0, "producer %d", i);
    cr_assert_eq(sharr_queue_shutdown(q), 0);
    for (int i = PRODUCERS; i < PRODUCERS + CONSUMERS; i++)
        cr_assert_eq(tu_status(pids[i]), 0, "consumer %d", i - PRODUCERS);
    cr_assert_eq(t->corrupt, 0);
    cr_assert_eq(t->out_of_order, 0);
    for (int p = 0; p < PRODUCERS; p++)
        for (int i = 0; i < PER_PRODUCER; i++)
            cr_assert_eq(t->count[p][i], 1, "message %d of producer %d came "
                         "%d times", i, p, t->count[p][i]);
    munmap(t, sizeof *t);
    sharr_queue_close(q);
}

/* Threads of one process share one handle. */
struct th_arg {
    sharr_queue *q;
    int sum, err;
};

static void *th_get(void *arg)
{
    struct th_arg *a = arg;
    int v, err;
    size_t len;
    while ((err = sharr_queue_get(a->q, &v, sizeof v, &len, 5)) == 0)
        a->sum += v;
    a->err = err;
    return NULL;
}

Test(queue, threads_may_share_one_handle)
{
    sharr_queue *q = mkq("th", 4096, 8);
    struct th_arg a[4];
    pthread_t t[4];
    int expect = 0;

    for (int i = 0; i < 4; i++) {
        a[i] = (struct th_arg){q, 0, 0};
        pthread_create(&t[i], NULL, th_get, &a[i]);
    }
    for (int v = 1; v <= 20000; v++) {
        cr_assert_eq(sharr_queue_put(q, &v, sizeof v, 5), 0);
        expect += v;
    }
    sharr_queue_shutdown(q);
    int sum = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(a[i].err, SHARR_ECLOSED);
        sum += a[i].sum;
    }
    cr_assert_eq(sum, expect);
    sharr_queue_close(q);
}

/* get_work takes a message too long for a work item off the queue with
 * the same get that found it too long: with several consumers, a second
 * get would take (and throw away) whatever came next. */
struct gw_arg {
    sharr_queue *q;
    long good, bad, other;
};

static void *th_get_work(void *arg)
{
    struct gw_arg *a = arg;
    sharr_work w;
    int err;
    while ((err = sharr_queue_get_work(a->q, &w, 5)) != SHARR_ECLOSED) {
        if (err == 0 && w.tag == (int64_t)w.row_start)
            a->good++;
        else if (err == SHARR_EINVAL &&
                 strstr(sharr_errmsg(), "(400 bytes) is not a work item"))
            a->bad++;
        else
            a->other++;
    }
    return NULL;
}

Test(queue, get_work_with_many_consumers_drops_only_the_long_messages)
{
    enum { PAIRS = 40000, THREADS = 3 };
    sharr_queue *q = mkq("gw", 1 << 16, 1024);
    struct gw_arg a[THREADS];
    pthread_t t[THREADS];
    char junk[400];
    long good = 0, bad = 0, other = 0;

    memset(junk, 'j', sizeof junk);
    for (int i = 0; i < THREADS; i++) {
        a[i] = (struct gw_arg){q, 0, 0, 0};
        pthread_create(&t[i], NULL, th_get_work, &a[i]);
    }
    for (long i = 0; i < PAIRS; i++) {
        sharr_work w = {.array = "x", .row_start = (size_t)i,
                        .row_end = (size_t)i + 1, .tag = i};
        cr_assert_eq(sharr_queue_put(q, junk, sizeof junk, 5), 0);
        cr_assert_eq(sharr_queue_put_work(q, &w, 5), 0);
    }
    sharr_queue_shutdown(q);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        good += a[i].good;
        bad += a[i].bad;
        other += a[i].other;
    }
    cr_assert_eq(other, 0);
    cr_assert_eq(bad, PAIRS, "%ld long messages reported, %d put", bad,
                 (int)PAIRS);
    cr_assert_eq(good, PAIRS, "%ld work items taken of %d put: the rest "
                 "were thrown away", good, (int)PAIRS);
    sharr_queue_close(q);
}

/* ---- names, kinds, modes, owners ---- */

Test(queue, create_refuses_bad_names_sizes_and_taken_names)
{
    sharr_queue *q = NULL;
    cr_assert_eq(sharr_queue_create(".x", 0, 0, NULL, &q), SHARR_EINVAL);
    cr_assert_eq(sharr_queue_create(tu_name("s"), 100, 100, NULL, &q),
                 SHARR_EINVAL);
    cr_assert(strstr(sharr_errmsg(), "at least 112"), "%s", sharr_errmsg());
    cr_assert_eq(sharr_queue_create(tu_name("s"), (size_t)1 << 41, 0, NULL,
                                    &q), SHARR_EINVAL);
    cr_assert_eq(sharr_queue_create(tu_name("s"), 0, (size_t)1 << 31, NULL,
                                    &q), SHARR_EINVAL);
    cr_assert_null(q);
    sharr_create_opts bad = {.flags = 0x80};
    cr_assert_eq(sharr_queue_create(tu_name("s"), 0, 0, &bad, &q),
                 SHARR_EINVAL);
    sharr_queue_close(mkq("taken", 0, 0));
    cr_assert_eq(sharr_queue_create(tu_name("taken"), 0, 0, NULL, &q),
                 SHARR_EEXIST);
    cr_assert(strstr(sharr_errmsg(), "it is a queue"), "%s", sharr_errmsg());
    sharr_array_close(tu_rows("arr", SHARR_F64, 4, 0));
    cr_assert_eq(sharr_queue_create(tu_name("arr"), 0, 0, NULL, &q),
                 SHARR_EEXIST);
    cr_assert(strstr(sharr_errmsg(), "it is an array"), "%s", sharr_errmsg());
}

Test(queue, opening_another_kind_names_both_kinds)
{
    sharr_queue *q = NULL;
    sharr_array *a = NULL;
    sharr_lock *l = NULL;

    sharr_array_close(tu_rows("arr", SHARR_F64, 4, 0));
    cr_assert_eq(sharr_queue_open(tu_name("arr"), 0, &q), SHARR_EKIND);
    cr_assert(strstr(sharr_errmsg(), "is an array, not a queue"), "%s",
              sharr_errmsg());
    sharr_queue_close(mkq("q", 0, 0));
    cr_assert_eq(sharr_array_open(tu_name("q"), 0, &a), SHARR_EKIND);
    cr_assert(strstr(sharr_errmsg(), "is a queue, not an array"), "%s",
              sharr_errmsg());
    cr_assert_eq(sharr_lock_open(tu_name("q"), 0, &l), SHARR_EKIND);
    cr_assert(strstr(sharr_errmsg(), "is a queue, not a lock"), "%s",
              sharr_errmsg());
    sharr_pipe *p = NULL;
    cr_assert_eq(sharr_pipe_open(tu_name("q"), 0, 0, &p), SHARR_EKIND);
    cr_assert_eq(sharr_queue_open(tu_name("none"), 0, &q), SHARR_ENOENT);
    cr_assert(strstr(sharr_errmsg(), "no object named"), "%s",
              sharr_errmsg());
    cr_assert_eq(sharr_queue_open(tu_name("q"), SHARR_OPEN_RDONLY, &q),
                 SHARR_EINVAL);
    cr_assert(q == NULL && a == NULL && l == NULL && p == NULL);
}

Test(queue, default_mode_is_0600_whatever_the_umask_and_mode_is_applied)
{
    struct stat st;
    mode_t old = umask(0);
    sharr_queue *q = mkq("m", 0, 0);
    sharr_create_opts o = {.mode = 0640};
    umask(old);
    cr_assert_eq(stat(tu_path(tu_name("m")), &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    sharr_queue_close(q);
    cr_assert_eq(sharr_queue_create(tu_name("m2"), 0, 0, &o, &q), 0);
    cr_assert_eq(stat(tu_path(tu_name("m2")), &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0640);
    sharr_queue_close(q);
}

Test(queue, a_queue_of_another_user_is_refused_unless_asked)
{
    sharr_queue *q = NULL;
    if (geteuid() != 0)
        cr_skip_test("needs root to chown a segment to another user");
    sharr_queue_close(mkq("f", 0, 0));
    cr_assert_eq(chown(tu_path(tu_name("f")), 65534, 65534), 0);
    cr_assert_eq(sharr_queue_open(tu_name("f"), 0, &q), SHARR_EFOREIGN);
    cr_assert(strstr(sharr_errmsg(), "65534"), "%s", sharr_errmsg());
    cr_assert_eq(sharr_queue_open(tu_name("f"), SHARR_OPEN_FOREIGN, &q), 0);
    sharr_queue_close(q);
}

/* ---- stat, list, unlink, temporary queues ---- */

Test(queue, stat_and_list_show_the_kind_and_depth)
{
    sharr_queue *q = mkq("st", 8192, 100);
    sharr_info in, *list;
    size_t n;
    bool seen = false;

    for (int i = 0; i < 3; i++)
        sharr_queue_put(q, "abc", 3, 0);
    cr_assert_eq(sharr_stat(tu_name("st"), &in), 0, "%s", sharr_errmsg());
    cr_assert_eq(in.kind, SHARR_KIND_QUEUE);
    cr_assert_eq(in.obj.msgs[0], 3);
    cr_assert_eq(in.obj.bytes[0], 3 * 16);
    cr_assert_eq(in.obj.capacity, 8192);
    cr_assert_eq(in.obj.max_msg, 100);
    cr_assert_eq(in.obj.unfinished, 3);
    cr_assert_eq(in.creator, getpid());
    cr_assert_str_eq(in.obj.text, "3 messages (48 B of 8 KiB), 3 unfinished");
    sharr_queue_shutdown(q);
    cr_assert_eq(sharr_stat(tu_name("st"), &in), 0);
    cr_assert(strstr(in.obj.text, "closed"), "%s", in.obj.text);
    cr_assert_eq(sharr_list(&list, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].name, tu_name("st")) == 0) {
            seen = true;
            cr_assert_eq(list[i].status, 0);
            cr_assert_eq(list[i].kind, SHARR_KIND_QUEUE);
        }
    sharr_list_free(list);
    cr_assert(seen);
    sharr_queue_close(q);
    cr_assert_eq(sharr_unlink(tu_name("st")), 0);
    cr_assert(!tu_exists(tu_name("st")));
}

static int make_temp_queue_and_wait(void *arg)
{
    sharr_create_opts o = {.flags = SHARR_CREATE_TEMP};
    sharr_queue *q;
    if (sharr_queue_create(arg, 0, 0, &o, &q) < 0)
        return 1;
    pause();
    return 0;
}

Test(queue, a_temporary_queue_is_removed_when_its_creator_is_killed)
{
    const char *n = tu_name("tmp");
    pid_t pid = tu_child(make_temp_queue_and_wait, (void *)n);
    for (int i = 0; i < 200 && !tu_exists(n); i++)
        usleep(10000);
    cr_assert(tu_exists(n));
    sharr_info in;
    cr_assert_eq(sharr_stat(n, &in), 0);
    cr_assert(in.flags & SHARR_CREATE_TEMP);
    kill(pid, SIGKILL);
    tu_reap(pid);
    cr_assert(tu_wait_gone(n, 5.0), "the temporary queue outlived its owner");
}

Test(queue, gc_removes_a_temporary_queue_whose_owner_is_gone)
{
    const char *n = tu_name("gct");
    sharr_queue *q = mkq("gct", 0, 0);
    uint32_t temp = SHARR_CREATE_TEMP;
    int64_t dead;
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    tu_reap(pid);
    dead = pid;
    tu_gc_serialize();
    off_t ctl = tu_ctl_offset(n);
    tu_patch(n, ctl + offsetof(struct sharr__ctl, creator_pid), &dead, 8);
    tu_patch(n, ctl + offsetof(struct sharr__ctl, flags), &temp, 4);
    sharr_queue_close(q);
    cr_assert_geq(sharr_gc(0, NULL, NULL), 1);
    cr_assert(!tu_exists(n));
}

/* ---- corrupt segments ---- */

static void expect_corrupt(const char *label, const char *what)
{
    sharr_queue *q = NULL;
    sharr_info in;
    int err = sharr_queue_open(tu_name(label), 0, &q);
    cr_assert_eq(err, SHARR_ECORRUPT, "%s: open gave %d (%s)", label, err,
                 sharr_errmsg());
    cr_assert(strstr(sharr_errmsg(), what), "%s: '%s' not in '%s'", label,
              what, sharr_errmsg());
    cr_assert_null(q);
    cr_assert_eq(sharr_stat(tu_name(label), &in), SHARR_ECORRUPT);
}

static void patch_ctl(const char *label, size_t off, const void *p, size_t n,
                      const char *what)
{
    sharr_queue_close(mkq(label, 8192, 100));
    tu_patch(tu_name(label), tu_ctl_offset(tu_name(label)) + (off_t)off, p,
             n);
    expect_corrupt(label, what);
}

Test(queue, corrupt_control_block_fields_are_refused_by_name)
{
    uint32_t v3 = 3, k99 = 99, one = 1;
    uint64_t big = 1u << 20, odd = 12345;
    patch_ctl("c1", 0, "XXXXXXXX", 8, "magic");
    patch_ctl("c2", 0, "SHARRnew", 8, "incomplete");
    patch_ctl("c3", offsetof(struct sharr__ctl, version), &v3, 4, "newer");
    patch_ctl("c4", offsetof(struct sharr__ctl, kind), &k99, 4, "kind");
    patch_ctl("c5", offsetof(struct sharr__ctl, dtype), &one, 4, "dtype");
    patch_ctl("c6", offsetof(struct sharr__ctl, nbytes), &odd, 8, "nbytes");
    patch_ctl("c7", offsetof(struct sharr__ctl, total_size), &odd, 8,
              "bytes");
    patch_ctl("c8", SHARR__PARAMS_OFFSET, &big, 8, "ring");      /* cap */
    patch_ctl("c9", SHARR__PARAMS_OFFSET + 8, &big, 8, "capacity");
    patch_ctl("c10", SHARR__PARAMS_OFFSET + 16, &big, 8, "ring");
    patch_ctl("c11", SHARR__PARAMS_OFFSET + 24, &v3, 4, "directions");
    patch_ctl("c12", SHARR__PARAMS_OFFSET + 40, &one, 4, "must be 0");
    patch_ctl("c13", offsetof(struct sharr__ctl, flags), &k99, 4, "flags");
    /* Another kind's parameters in a queue's place. */
    patch_ctl("c14", offsetof(struct sharr__ctl, kind), &v3, 4, "lock");
}

Test(queue, truncated_extended_and_random_segments_are_refused)
{
    const char *n = tu_name("t");
    sharr_queue_close(mkq("t", 8192, 100));
    cr_assert_eq(truncate(tu_path(n), 4096 * 2), 0);
    expect_corrupt("t", "truncated");
    cr_assert_eq(truncate(tu_path(n), 4096 * 2 + 100), 0);
    expect_corrupt("t", "multiple");
    cr_assert_eq(truncate(tu_path(n), 100), 0);
    expect_corrupt("t", "multiple");
    int fd = open(tu_path(tu_name("r")), O_CREAT | O_WRONLY, 0600);
    char junk[16384];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 7919 + 13);
    cr_assert_eq(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    expect_corrupt("r", "magic");
}

Test(queue, a_queue_scribbled_while_open_gives_ecorrupt_not_a_crash)
{
    sharr_queue *q = mkq("live", 4096, 100);
    char buf[128];
    size_t len;
    uint64_t far = 1ull << 50, garbage = 0x1234567812345678ull;

    cr_assert_eq(sharr_queue_put(q, "abc", 3, 0), 0);
    /* The header of the first message. */
    tu_patch(tu_name("live"), 4096, &garbage, 8);
    cr_assert_eq(sharr_queue_get(q, buf, sizeof buf, &len, 0),
                 SHARR_ECORRUPT);
    cr_assert(strstr(sharr_errmsg(), "bad header"), "%s", sharr_errmsg());
    /* The tail, far beyond the head. */
    tu_patch(tu_name("live"), offsetof(struct sharr__ring_state, tail), &far,
             8);
    cr_assert_eq(sharr_queue_get(q, buf, sizeof buf, &len, 0),
                 SHARR_ECORRUPT);
    cr_assert_eq(sharr_queue_put(q, "abc", 3, 0), SHARR_ECORRUPT);
    sharr_info in;
    cr_assert_eq(sharr_stat(tu_name("live"), &in), 0, "stat still reads it");
    sharr_queue_close(q);
}

/* ---- pipes ---- */

static int pipe_echo(void *arg)
{
    sharr_pipe *p;
    char buf[64];
    size_t len;
    int err;
    if (sharr_pipe_open(arg, 1, 0, &p) < 0)
        return 99;
    while ((err = sharr_pipe_recv(p, buf, sizeof buf, &len, 5)) == 0) {
        buf[0] = (char)(buf[0] + 1);
        if (sharr_pipe_send(p, buf, len, 5) < 0)
            return 98;
    }
    sharr_pipe_close(p);
    return err == SHARR_ECLOSED ? 0 : 97;
}

Test(queue, a_pipe_carries_messages_both_ways)
{
    sharr_pipe *p = NULL;
    char buf[64];
    size_t len;

    cr_assert_eq(sharr_pipe_create(tu_name("p"), 8192, 64, NULL, &p), 0, "%s",
                 sharr_errmsg());
    cr_assert_eq(sharr_pipe_end(p), 0);
    pid_t pid = tu_child(pipe_echo, (void *)tu_name("p"));
    for (int i = 0; i < 1000; i++) {
        char m[2] = {(char)('a' + i % 20), 0};
        cr_assert_eq(sharr_pipe_send(p, m, 2, 5), 0, "%s", sharr_errmsg());
        cr_assert_eq(sharr_pipe_recv(p, buf, sizeof buf, &len, 5), 0, "%s",
                     sharr_errmsg());
        cr_assert_eq(len, 2);
        cr_assert_eq(buf[0], 'a' + i % 20 + 1);
    }
    cr_assert_eq(sharr_pipe_shutdown(p), 0);
    cr_assert_eq(tu_status(pid), 0);
    sharr_info in;
    cr_assert_eq(sharr_stat(tu_name("p"), &in), 0);
    cr_assert_eq(in.kind, SHARR_KIND_PIPE);
    cr_assert(strstr(in.obj.text, "0->1: 0 messages") &&
              strstr(in.obj.text, "closed"), "%s", in.obj.text);
    sharr_pipe_close(p);
}

Test(queue, pipe_poll_waits_for_a_message_without_taking_it)
{
    sharr_pipe *a = NULL, *b = NULL;
    char buf[8];
    size_t len;

    cr_assert_eq(sharr_pipe_create(tu_name("pp"), 0, 0, NULL, &a), 0);
    cr_assert_eq(sharr_pipe_open(tu_name("pp"), 1, 0, &b), 0);
    cr_assert_eq(sharr_pipe_end(b), 1);
    cr_assert_eq(sharr_pipe_poll(b, 0), 0);
    double t0 = tu_now();
    cr_assert_eq(sharr_pipe_poll(b, 0.1), 0);
    cr_assert_geq(tu_now() - t0, 0.09);
    cr_assert_eq(sharr_pipe_send(a, "hi", 2, 0), 0);
    cr_assert_eq(sharr_pipe_poll(b, 0), 1);
    cr_assert_eq(sharr_pipe_poll(b, 0), 1, "poll does not take it");
    cr_assert_eq(sharr_pipe_poll(a, 0), 0, "nothing came the other way");
    cr_assert_eq(sharr_pipe_recv(b, buf, sizeof buf, &len, 0), 0);
    cr_assert_eq(sharr_pipe_recv(a, buf, sizeof buf, &len, 0), SHARR_EEMPTY);
    cr_assert_eq(sharr_pipe_shutdown(a), 0);
    cr_assert_eq(sharr_pipe_poll(b, 1), SHARR_ECLOSED);
    cr_assert_eq(sharr_pipe_recv(b, buf, sizeof buf, &len, 1), SHARR_ECLOSED);
    cr_assert_eq(sharr_pipe_send(b, "back", 4, 0), 0, "the other way is open");
    cr_assert_eq(sharr_pipe_send(a, "x", 1, 0), SHARR_ECLOSED);
    sharr_pipe *c = NULL;
    cr_assert_eq(sharr_pipe_open(tu_name("pp"), 2, 0, &c), SHARR_EINVAL);
    sharr_pipe_close(a);
    sharr_pipe_close(b);
}

/* ---- creations killed at any moment ---- */

/* Hidden build names of this test's pid family: ".new.<pid>." */
static int hidden_left(pid_t pid)
{
    char prefix[64];
    DIR *d = opendir("/dev/shm");
    struct dirent *e;
    int n = 0;

    snprintf(prefix, sizeof prefix, "sharr..new.%d.", (int)pid);
    while (d && (e = readdir(d)) != NULL)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

Test(queue, a_create_killed_at_any_moment_never_leaves_a_named_half_queue)
{
    unsigned seed = 4242;
    int made = 0;

    tu_gc_serialize();
    for (int round = 0; round < 30; round++) {
        const char *n = tu_name("kill");
        int temp = round % 2;
        pid_t pid = fork();
        if (pid == 0) {
            sharr_create_opts o = {.flags = temp ? SHARR_CREATE_TEMP : 0};
            sharr_queue *q;
            /* 16 MiB: reserving it takes long enough to be hit too. */
            sharr_queue_create(n, 16 << 20, 0, &o, &q);
            pause();
            _exit(0);
        }
        usleep(rand_r(&seed) % 6000);
        kill(pid, SIGKILL);
        tu_reap(pid);
        sharr_queue *q = NULL;
        int err = sharr_queue_open(n, 0, &q);
        cr_assert(err == 0 || err == SHARR_ENOENT, "round %d: %s", round,
                  sharr_errmsg());
        made += err == 0;
        sharr_queue_close(q);
        if (temp) {
            cr_assert(tu_wait_gone(n, 5.0), "round %d: a temporary queue "
                      "outlived its killed creator", round);
            for (int i = 0; i < 500 && hidden_left(pid); i++)
                usleep(10000);
            cr_assert_eq(hidden_left(pid), 0, "round %d: the guardian left "
                         "the hidden build", round);
        } else {
            sharr_unlink(n);
        }
        sharr_gc(0, NULL, NULL); /* removes a non-temporary hidden build */
        cr_assert_eq(hidden_left(pid), 0, "round %d", round);
    }
    cr_log_info("creations killed: %d of 30 had finished", made);
}

/* ---- no wake-up is lost (timeouts of -1: nothing heals a lost one) ---- */

struct lost {
    const char *name;
    uint64_t got, put;   /* progress, written by the children */
    int stop;
};

static int lost_put(void *arg)
{
    struct lost *l = arg;
    sharr_queue *q;
    uint64_t i = 0;
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a hung test takes it along */
    if (sharr_queue_open(l->name, 0, &q) < 0)
        return 99;
    while (!__atomic_load_n(&l->stop, __ATOMIC_RELAXED)) {
        if (sharr_queue_put(q, &i, sizeof i, -1) < 0)
            return 98;
        __atomic_store_n(&l->put, ++i, __ATOMIC_RELAXED);
    }
    return sharr_queue_put(q, "", 0, -1) < 0 ? 97 : 0; /* the end */
}

static int lost_get(void *arg)
{
    struct lost *l = arg;
    sharr_queue *q;
    uint64_t m, want = 0;
    size_t len;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (sharr_queue_open(l->name, 0, &q) < 0)
        return 99;
    for (;;) {
        if (sharr_queue_get(q, &m, sizeof m, &len, -1) < 0)
            return 98;
        if (len == 0)
            return 0;
        if (m != want++)
            return 97;
        __atomic_store_n(&l->got, want, __ATOMIC_RELAXED);
    }
}

static int lost_hog(void *arg)
{
    struct lost *l = arg;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    while (!__atomic_load_n(&l->stop, __ATOMIC_RELAXED))
        ;
    return 0;
}

/* A small queue between two processes, two busy processes beside them so
 * that both are preempted at every point: a waker late after its store
 * once took the flag of a waiter that had already seen that store, and
 * the waiter slept through every later put, the producer on a full queue
 * (seen as a hang of make bench).  Progress must never stop for 3 s. */
Test(queue, no_wake_up_is_lost_when_both_sides_are_preempted, .timeout = 60)
{
    struct lost *l = tu_shared(sizeof *l);
    sharr_queue *q = mkq("lost", 4096, 64);
    l->name = tu_name("lost");
    pid_t kids[4] = {tu_child(lost_hog, l), tu_child(lost_hog, l),
                     tu_child(lost_get, l), tu_child(lost_put, l)};
    int status[4] = {-1, -1, -1, -1}, running = 4;
    double t0 = tu_now(), moved = t0;
    uint64_t last = 0;
    bool stalled = false;
    /* 4 s of traffic, then the end message; progress is watched until
     * every child is gone, the end included. */
    while (running > 0 && !stalled) {
        usleep(50000);
        if (tu_now() - t0 > 4.0)
            __atomic_store_n(&l->stop, 1, __ATOMIC_RELAXED);
        uint64_t g = __atomic_load_n(&l->got, __ATOMIC_RELAXED);
        if (g != last) {
            last = g;
            moved = tu_now();
        }
        stalled = tu_now() - moved > 3.0;
        for (int i = 0; i < 4; i++) {
            int st;
            if (status[i] < 0 && waitpid(kids[i], &st, WNOHANG) == kids[i]) {
                status[i] = WIFEXITED(st) ? WEXITSTATUS(st) : 100;
                running--;
            }
        }
    }
    __atomic_store_n(&l->stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 4; i++)
        if (status[i] < 0) {
            kill(kids[i], SIGKILL);
            status[i] = tu_status(kids[i]);
        }
    cr_assert(!stalled, "no progress for 3 s after %llu messages (put %llu): "
              "a wake-up was lost", (unsigned long long)last,
              (unsigned long long)l->put);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(status[i], 0, "child %d exited %d", i, status[i]);
    cr_assert_gt(last, 1000);
    sharr_queue_close(q);
}
