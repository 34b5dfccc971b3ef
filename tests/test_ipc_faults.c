/*
 * test_ipc_faults.c - queues and locks whose users are SIGKILLed: at each
 * commit point of a put and a get (exactly, through the ring's test hook),
 * at random moments while others keep going (every message counted), a
 * full queue whose consumer died, and Lock/RLock/Condition holders killed
 * at random.  Each random test runs a bounded time (about a second).
 */
#include "ipcutil.h"
#include "ipc/ipc.h"

TestSuite(faults, .init = tu_setup, .fini = tu_ipc_fini, .timeout = 60);

/* ---- a kill at exactly one point of a put or a get ---- */

static int stop_at;
static struct tu_signal *stop_sig;

/* The hook: at point `stop_at`, tell the parent and wait to be killed. */
static void stop_here(int where)
{
    if (where == stop_at) {
        tu_signal_send(stop_sig, 'H');
        for (;;)
            pause();
    }
}

struct at_arg {
    const char *name;
    int where;
    struct tu_signal sig;
};

static int put_and_stop(void *arg)
{
    struct at_arg *a = arg;
    sharr_queue *q;
    if (sharr_queue_open(a->name, 0, &q) < 0)
        return 1;
    stop_at = a->where;
    stop_sig = &a->sig;
    sharr__ring_test_hook = stop_here;
    sharr_queue_put(q, "killed-put", 10, 5);
    return 2; /* never reached: killed at the hook */
}

static int get_and_stop(void *arg)
{
    struct at_arg *a = arg;
    sharr_queue *q;
    char buf[64];
    size_t len;
    if (sharr_queue_open(a->name, 0, &q) < 0)
        return 1;
    stop_at = a->where;
    stop_sig = &a->sig;
    sharr__ring_test_hook = stop_here;
    sharr_queue_get(q, buf, sizeof buf, &len, 5);
    return 2;
}

/* Run fn in a child that stops at a->where, and SIGKILL it there. */
static void stop_and_kill(struct at_arg *a, int (*fn)(void *))
{
    tu_signal_init(&a->sig);
    pid_t pid = tu_child(fn, a);
    cr_assert_eq(tu_signal_wait(&a->sig, 5), 'H', "the child reached point "
                 "%d", a->where);
    kill(pid, SIGKILL);
    cr_assert_eq(tu_status(pid), 100 + SIGKILL);
}

/* Run fn in a child stopped at point `where`, kill it there, and return
 * the queue's messages and repairs as the next user sees them. */
static void kill_at(const char *label, int (*fn)(void *), int where,
                    size_t *msgs, size_t *unfinished)
{
    struct at_arg a = {tu_name(label), where, {{-1, -1}}};
    sharr_queue *q;
    sharr_info in;
    char buf[64];
    size_t len;

    cr_assert_eq(sharr_queue_open(a.name, 0, &q), 0);
    stop_and_kill(&a, fn);
    /* The next producer and consumer repair; the put side first. */
    cr_assert_eq(sharr_queue_put(q, "after", 5, 1), 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_queue_get(q, buf, sizeof buf, &len, 0), 0, "%s",
                 sharr_errmsg());
    cr_assert_eq(sharr_stat(a.name, &in), 0);
    cr_assert_geq(in.obj.repairs, 1, "%s", in.obj.text);
    *msgs = in.obj.msgs[0];
    *unfinished = in.obj.unfinished;
    sharr_queue_close(q);
    tu_signal_close(&a.sig);
}

Test(faults, a_put_killed_before_its_commit_leaves_nothing_queued)
{
    int points[] = {SHARR__HOOK_PUT_WRITTEN, SHARR__HOOK_PUT_COUNTED};
    for (int i = 0; i < 2; i++) {
        char label[16];
        size_t msgs, unfinished;
        snprintf(label, sizeof label, "p%d", i);
        sharr_queue *q = NULL;
        cr_assert_eq(sharr_queue_create(tu_name(label), 4096, 64, NULL, &q),
                     0);
        kill_at(label, put_and_stop, points[i], &msgs, &unfinished);
        /* Only "after" was put, and it was taken: the killed put is not
         * there, and its count was undone (join does not wait for it). */
        char buf[64];
        size_t len;
        cr_assert_eq(sharr_queue_get(q, buf, sizeof buf, &len, 0),
                     SHARR_EEMPTY);
        cr_assert_eq(msgs, 0, "point %d", points[i]);
        cr_assert_eq(unfinished, 1, "point %d: only 'after' is a task",
                     points[i]);
        sharr_queue_close(q);
    }
}

Test(faults, a_put_killed_after_its_commit_leaves_its_message_whole)
{
    sharr_queue *q = NULL;
    char buf[64];
    size_t len, msgs, unfinished;
    cr_assert_eq(sharr_queue_create(tu_name("pc"), 4096, 64, NULL, &q), 0);
    kill_at("pc", put_and_stop, SHARR__HOOK_PUT_COMMITTED, &msgs,
            &unfinished);
    /* The killed put's message came first (the get in kill_at took it);
     * "after" is still queued. */
    cr_assert_eq(msgs, 1);
    cr_assert_eq(unfinished, 2);
    cr_assert_eq(sharr_queue_get(q, buf, sizeof buf, &len, 0), 0);
    cr_assert_eq(len, 5);
    cr_assert_eq(memcmp(buf, "after", 5), 0);
    sharr_queue_close(q);
}

Test(faults, a_get_killed_before_its_commit_leaves_the_message_at_the_head)
{
    int points[] = {SHARR__HOOK_GET_COPIED, SHARR__HOOK_GET_COUNTED};
    for (int i = 0; i < 2; i++) {
        char label[16], buf[64];
        size_t len, msgs, unfinished;
        snprintf(label, sizeof label, "g%d", i);
        sharr_queue *q = NULL;
        cr_assert_eq(sharr_queue_create(tu_name(label), 4096, 64, NULL, &q),
                     0);
        cr_assert_eq(sharr_queue_put(q, "first", 5, 0), 0);
        kill_at(label, get_and_stop, points[i], &msgs, &unfinished);
        /* kill_at's get took "first" again: the killed get took nothing.
         * "after" is left, and the counters agree. */
        cr_assert_eq(msgs, 1, "point %d", points[i]);
        cr_assert_eq(sharr_queue_get(q, buf, sizeof buf, &len, 0), 0);
        cr_assert_eq(memcmp(buf, "after", 5), 0);
        sharr_queue_close(q);
    }
}

Test(faults, a_get_killed_after_its_commit_took_the_message_with_it)
{
    sharr_queue *q = NULL;
    char buf[64];
    size_t len, msgs, unfinished;
    cr_assert_eq(sharr_queue_create(tu_name("gc"), 4096, 64, NULL, &q), 0);
    cr_assert_eq(sharr_queue_put(q, "first", 5, 0), 0);
    cr_assert_eq(sharr_queue_put(q, "second", 6, 0), 0);
    kill_at("gc", get_and_stop, SHARR__HOOK_GET_COMMITTED, &msgs,
            &unfinished);
    /* "first" went with the killed process; kill_at's get took "second". */
    cr_assert_eq(msgs, 1);
    cr_assert_eq(sharr_queue_get(q, buf, sizeof buf, &len, 0), 0);
    cr_assert_eq(memcmp(buf, "after", 5), 0);
    cr_assert_eq(sharr_queue_get(q, buf, sizeof buf, &len, 0), SHARR_EEMPTY);
    sharr_queue_close(q);
}

/* ---- a peer killed between its commit and its wake-up ---- */

/* The exit status (as tu_status) of child pid if it exits within `secs`,
 * else -1 (it is left for tu_ipc_fini). */
static int exits_within(pid_t pid, double secs)
{
    double t0 = tu_now();
    int st;
    while (tu_now() - t0 < secs) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
        usleep(2000);
    }
    return -1;
}

/* Block in a get (10 s), then exit 0 if "hello" came. */
static int get_hello(void *arg)
{
    struct tu_named *a = arg;
    sharr_queue *q;
    char buf[64];
    size_t len = 0;
    if (sharr_queue_open(a->name, 0, &q) < 0)
        return 1;
    tu_signal_send(&a->sig, 'G');
    int rc = sharr_queue_get(q, buf, sizeof buf, &len, 10);
    return rc == 0 && len == 5 && memcmp(buf, "hello", 5) == 0 ? 0 : 3;
}

/* Block in a put on a full queue (10 s), then exit 0 if it went in. */
static int put_into_full(void *arg)
{
    struct tu_named *a = arg;
    sharr_queue *q;
    if (sharr_queue_open(a->name, 0, &q) < 0)
        return 1;
    tu_signal_send(&a->sig, 'P');
    return sharr_queue_put(q, "hello", 5, 10) == 0 ? 0 : 3;
}

static void die_at_commit(int where)
{
    if (where == stop_at)
        raise(SIGKILL);
}

/* A child that puts (or gets) and is SIGKILLed right after its commit
 * store, before it wakes anyone. */
static void commit_then_die(const char *name, bool put)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        sharr_queue *q;
        char buf[64];
        size_t len;
        if (sharr_queue_open(name, 0, &q) < 0)
            _exit(1);
        stop_at = put ? SHARR__HOOK_PUT_COMMITTED : SHARR__HOOK_GET_COMMITTED;
        sharr__ring_test_hook = die_at_commit;
        if (put)
            sharr_queue_put(q, "hello", 5, 1);
        else
            sharr_queue_get(q, buf, sizeof buf, &len, 1);
        _exit(2);
    }
    cr_assert_eq(tu_status(pid), 100 + SIGKILL);
}

/* A get (or, on a full queue, a put) asleep; a peer's put (get) commits
 * and is killed before its wake-up call: the sleeper must go on long
 * before its own 10 s run out. */
static void sleeper_after_a_peer_killed_at_its_commit(const char *label,
                                                      bool sleeper_gets)
{
    struct tu_named a = {tu_name(label), {{-1, -1}}};
    sharr_queue *q = NULL;
    char m[56] = {0};
    cr_assert_eq(sharr_queue_create(a.name, 4096, 56, NULL, &q), 0);
    while (!sleeper_gets && sharr_queue_put(q, m, sizeof m, 0) == 0)
        ;
    tu_signal_init(&a.sig);
    pid_t pid = tu_child(sleeper_gets ? get_hello : put_into_full, &a);
    cr_assert_eq(tu_signal_wait(&a.sig, 5), sleeper_gets ? 'G' : 'P');
    usleep(100000); /* asleep in the kernel by now */
    commit_then_die(a.name, sleeper_gets);
    cr_assert_eq(exits_within(pid, 3), 0, "the %s never saw what a killed "
                 "peer committed", sleeper_gets ? "get" : "put");
    tu_signal_close(&a.sig);
    sharr_queue_close(q);
}

Test(faults, a_put_killed_before_its_wakeup_still_reaches_a_sleeping_get)
{
    sleeper_after_a_peer_killed_at_its_commit("lw", true);
}

Test(faults, a_get_killed_before_its_wakeup_still_frees_a_sleeping_put)
{
    sleeper_after_a_peer_killed_at_its_commit("ls", false);
}

Test(faults, a_put_killed_before_its_commit_is_no_task_for_join_or_count)
{
    /* No other producer comes to repair: count, stat and join must still
     * see nothing queued. */
    sharr_queue *q = NULL;
    sharr_info in;
    char buf[64];
    size_t len, msgs = 9;
    struct at_arg a = {tu_name("jp"), SHARR__HOOK_PUT_COUNTED, {{-1, -1}}};
    cr_assert_eq(sharr_queue_create(a.name, 4096, 64, NULL, &q), 0);
    stop_and_kill(&a, put_and_stop);
    cr_assert_eq(sharr_queue_get(q, buf, sizeof buf, &len, 0), SHARR_EEMPTY);
    sharr_queue_count(q, &msgs, NULL);
    cr_assert_eq(msgs, 0);
    cr_assert_eq(sharr_stat(a.name, &in), 0);
    cr_assert_eq(in.obj.msgs[0], 0, "%s", in.obj.text);
    cr_assert_eq(in.obj.unfinished, 0, "%s", in.obj.text);
    double t0 = tu_now();
    cr_assert_eq(sharr_queue_join(q, 2), 0, "%s", sharr_errmsg());
    cr_assert_lt(tu_now() - t0, 1.0);
    cr_assert_eq(sharr_queue_task_done(q, 1), SHARR_ERANGE,
                 "the dead put is no task to mark done");
    tu_signal_close(&a.sig);
    sharr_queue_close(q);
}

Test(faults, a_get_killed_before_its_commit_still_counts_the_message)
{
    sharr_queue *q = NULL;
    sharr_info in;
    size_t msgs = 9;
    struct at_arg a = {tu_name("gk"), SHARR__HOOK_GET_COUNTED, {{-1, -1}}};
    cr_assert_eq(sharr_queue_create(a.name, 4096, 64, NULL, &q), 0);
    cr_assert_eq(sharr_queue_put(q, "first", 5, 0), 0);
    stop_and_kill(&a, get_and_stop);
    sharr_queue_count(q, &msgs, NULL);
    cr_assert_eq(msgs, 1, "\"first\" is still queued");
    cr_assert_eq(sharr_stat(a.name, &in), 0);
    cr_assert_eq(in.obj.msgs[0], 1, "%s", in.obj.text);
    tu_signal_close(&a.sig);
    sharr_queue_close(q);
}

/* ---- a full queue whose consumer died ---- */

static int block_in_get(void *arg)
{
    struct tu_named *a = arg;
    sharr_queue *q;
    char buf[64];
    size_t len;
    if (sharr_queue_open(a->name, 0, &q) < 0)
        return 1;
    tu_signal_send(&a->sig, 'G');
    sharr_queue_get(q, buf, sizeof buf, &len, -1);
    return 2;
}

Test(faults, a_full_queue_with_a_dead_consumer_times_puts_out_cleanly)
{
    struct tu_named a = {tu_name("full"), {{-1, -1}}};
    sharr_queue *q = NULL;
    char m[56] = {0}, buf[64];
    size_t len, msgs;
    int n = 0;

    cr_assert_eq(sharr_queue_create(a.name, 4096, 56, NULL, &q), 0);
    tu_signal_init(&a.sig);
    pid_t pid = tu_child(block_in_get, &a);
    cr_assert_eq(tu_signal_wait(&a.sig, 5), 'G');
    usleep(100000); /* asleep in the kernel by now */
    kill(pid, SIGKILL);
    tu_reap(pid);
    while (sharr_queue_put(q, m, sizeof m, 0) == 0)
        n++;
    cr_assert_eq(n, 64);
    double t0 = tu_now();
    cr_assert_eq(sharr_queue_put(q, m, sizeof m, 0.3), SHARR_EFULL);
    double took = tu_now() - t0;
    cr_assert(took >= 0.29 && took < 1.5, "put took %.3f s", took);
    /* And the queue is whole: a new consumer drains all 64. */
    for (int i = 0; i < 64; i++)
        cr_assert_eq(sharr_queue_get(q, buf, sizeof buf, &len, 0), 0);
    sharr_queue_count(q, &msgs, NULL);
    cr_assert_eq(msgs, 0);
    tu_signal_close(&a.sig);
    sharr_queue_close(q);
}

/* ---- producers and consumers killed at random ---- */

enum {
    MAXINC = 256,          /* producer incarnations over a test */
    MAXSEQ = 1 << 15,      /* messages one incarnation puts at most */
    PUT_BATCH = 8,         /* largest put_many */
    GET_BATCH = 8,         /* largest get_many */
    NPROD = 2, NCONS = 2
};

struct census {
    int next_inc;
    int stop;
    uint32_t acked[MAXINC];          /* puts returned, per incarnation */
    int corrupt, out_of_order, failed;
    unsigned char got[MAXINC][MAXSEQ]; /* times each message was taken */
};

struct role {
    const char *name;
    struct census *c;
    int inc; /* producer: its incarnation; consumer: a number for its mode */
};

static size_t msg_len(uint32_t seq)
{
    return 8 + seq * 7 % 57;
}

static unsigned char pattern(uint32_t inc, uint32_t seq, size_t k)
{
    return (unsigned char)(inc * 131 + seq * 17 + k);
}

static int produce(void *arg)
{
    struct role *r = arg;
    unsigned char m[PUT_BATCH][64];
    const void *msgs[PUT_BATCH];
    size_t lens[PUT_BATCH];
    uint32_t seq = 0, inc = (uint32_t)r->inc;
    sharr_queue *q;

    if (sharr_queue_open(r->name, 0, &q) < 0)
        return 10;
    while (!__atomic_load_n(&r->c->stop, __ATOMIC_ACQUIRE) &&
           seq + PUT_BATCH <= MAXSEQ) {
        size_t n = inc % 2 ? 1 + seq % PUT_BATCH : 1;
        for (size_t i = 0; i < n; i++) {
            uint32_t s = seq + (uint32_t)i;
            memcpy(m[i], &inc, 4);
            memcpy(m[i] + 4, &s, 4);
            lens[i] = msg_len(s);
            for (size_t k = 8; k < lens[i]; k++)
                m[i][k] = pattern(inc, s, k);
            msgs[i] = m[i];
        }
        int put = sharr_queue_put_many(q, msgs, lens, n, 5);
        if (put < 0)
            return put == SHARR_ECLOSED ? 0 : 11;
        seq += (uint32_t)put;
        __atomic_store_n(&r->c->acked[inc], seq, __ATOMIC_RELEASE);
    }
    return 0;
}

static void check_one(struct census *c, const unsigned char *m, size_t len,
                      uint32_t *last)
{
    uint32_t inc, seq;
    memcpy(&inc, m, 4);
    memcpy(&seq, m + 4, 4);
    if (len < 8 || inc >= MAXINC || seq >= MAXSEQ || len != msg_len(seq)) {
        __atomic_fetch_add(&c->corrupt, 1, __ATOMIC_RELAXED);
        return;
    }
    for (size_t k = 8; k < len; k++)
        if (m[k] != pattern(inc, seq, k)) {
            __atomic_fetch_add(&c->corrupt, 1, __ATOMIC_RELAXED);
            return;
        }
    /* One consumer sees one producer's messages in order. */
    if (last[inc] != UINT32_MAX && seq <= last[inc])
        __atomic_fetch_add(&c->out_of_order, 1, __ATOMIC_RELAXED);
    last[inc] = seq;
    __atomic_fetch_add(&c->got[inc][seq], 1, __ATOMIC_RELAXED);
}

static int consume(void *arg)
{
    struct role *r = arg;
    static uint32_t last[MAXINC];
    unsigned char buf[GET_BATCH * 64];
    size_t lens[GET_BATCH];
    sharr_queue *q;
    int n;

    memset(last, 0xff, sizeof last);
    if (sharr_queue_open(r->name, 0, &q) < 0)
        return 10;
    for (;;) {
        n = sharr_queue_get_many(q, buf, sizeof buf, lens,
                                 r->inc % 2 ? GET_BATCH : 1, 5);
        if (n < 0)
            return n == SHARR_ECLOSED ? 0 : 11;
        size_t off = 0;
        for (int i = 0; i < n; i++) {
            check_one(r->c, buf + off, lens[i], last);
            off += lens[i];
        }
    }
}

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

struct crowd {
    struct role prod[NPROD], cons[NCONS];
    pid_t pprod[NPROD], pcons[NCONS];
    int cons_kills, prod_kills, next_cons;
};

static void spawn_producer(struct crowd *w, struct census *c, int i)
{
    cr_assert_lt(c->next_inc, MAXINC);
    w->prod[i].inc = c->next_inc++;
    w->pprod[i] = tu_child(produce, &w->prod[i]);
}

static void spawn_consumer(struct crowd *w, int i)
{
    w->cons[i].inc = w->next_cons++;
    w->pcons[i] = tu_child(consume, &w->cons[i]);
}

/* Kill a random producer or consumer every few milliseconds for `secs`,
 * replacing each at once. */
static void kill_at_random(struct crowd *w, struct census *c, double secs,
                           unsigned seed)
{
    double end = tu_now() + secs;
    while (tu_now() < end) {
        usleep(1000 + rnd(&seed) % 8000);
        unsigned who = rnd(&seed) % (NPROD + NCONS);
        pid_t *pid = who < NPROD ? &w->pprod[who] : &w->pcons[who - NPROD];
        kill(*pid, SIGKILL);
        int st = tu_status(*pid);
        cr_assert(st == 100 + SIGKILL || st == 0, "a %s died with %d "
                  "before its kill (seed %u)", who < NPROD ? "producer"
                  : "consumer", st, seed);
        if (who < NPROD) {
            w->prod_kills++;
            spawn_producer(w, c, (int)who);
        } else {
            w->cons_kills++;
            spawn_consumer(w, (int)(who - NPROD));
        }
    }
}

/* Every message taken at most once; every acknowledged one taken unless a
 * killed consumer took it (at most a batch per consumer killed); nothing
 * beyond what an incarnation can have committed. */
static void audit(const struct census *c, const struct crowd *w,
                  unsigned seed)
{
    long lost = 0, total = 0;
    for (int inc = 0; inc < c->next_inc; inc++) {
        uint32_t acked = c->acked[inc];
        for (uint32_t s = 0; s < MAXSEQ; s++) {
            unsigned g = c->got[inc][s];
            cr_assert_leq(g, 1, "message %u of producer %d taken %u times "
                          "(seed %u)", s, inc, g, seed);
            cr_assert(g == 0 || s < acked + PUT_BATCH, "message %u of "
                      "producer %d came but only %u were put (seed %u)", s,
                      inc, acked, seed);
            if (s < acked && g == 0)
                lost++;
            total += g;
        }
    }
    cr_assert_eq(c->corrupt, 0, "seed %u", seed);
    cr_assert_eq(c->out_of_order, 0, "seed %u", seed);
    cr_assert_leq(lost, (long)w->cons_kills * GET_BATCH, "%ld messages lost "
                  "with %d consumers killed (seed %u)", lost, w->cons_kills,
                  seed);
    cr_log_info("random kills: %d producers, %d consumers killed; %ld "
                "messages taken, %ld taken by killed consumers", w->prod_kills,
                w->cons_kills, total, lost);
}

Test(faults, producers_and_consumers_killed_at_random_lose_and_repeat_nothing)
{
    const char *name = tu_name("rk");
    struct census *c = tu_shared(sizeof *c);
    struct crowd w;
    sharr_queue *q = NULL;
    unsigned seed = (unsigned)getpid() * 2654435761u;

    memset(&w, 0, sizeof w);
    /* Small: the ring wraps and fills, so puts wait for space too. */
    cr_assert_eq(sharr_queue_create(name, 2048, 64, NULL, &q), 0);
    for (int i = 0; i < NPROD; i++) {
        w.prod[i] = (struct role){name, c, 0};
        spawn_producer(&w, c, i);
    }
    for (int i = 0; i < NCONS; i++) {
        w.cons[i] = (struct role){name, c, 0};
        spawn_consumer(&w, i);
    }
    kill_at_random(&w, c, 1.5, seed);
    __atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < NPROD; i++)
        cr_assert_eq(tu_status(w.pprod[i]), 0, "a producer was stuck or "
                     "failed (seed %u)", seed);
    cr_assert_eq(sharr_queue_shutdown(q), 0);
    for (int i = 0; i < NCONS; i++)
        cr_assert_eq(tu_status(w.pcons[i]), 0, "a consumer was stuck or "
                     "failed (seed %u)", seed);
    audit(c, &w, seed);
    sharr_info in;
    cr_assert_eq(sharr_stat(name, &in), 0);
    cr_assert_eq(in.obj.msgs[0] + in.obj.bytes[0], 0, "%s", in.obj.text);
    cr_log_info("queue after the kills: %s; %zu repairs", in.obj.text,
                in.obj.repairs);
    munmap(c, sizeof *c);
    sharr_queue_close(q);
}

/* ---- lock holders killed at random ---- */

struct guarded {
    long a, b;       /* a == b whenever the lock is free and whole */
    long repairs, ops;
    int stop;
};

struct locker {
    const char *name;
    struct guarded *g;
    sharr_kind kind;
};

static int take(const struct locker *l, void *h)
{
    switch (l->kind) {
    case SHARR_KIND_RLOCK: {
        int rc = sharr_lock_acquire(h, 5);
        if (rc < 0 && rc != SHARR_EOWNERDEAD)
            return rc;
        int again = sharr_lock_acquire(h, 5); /* nested */
        return again < 0 ? again : rc;
    }
    case SHARR_KIND_CONDITION:
        return sharr_cond_acquire(h, 5);
    default:
        return sharr_lock_acquire(h, 5);
    }
}

static void give(const struct locker *l, void *h)
{
    if (l->kind == SHARR_KIND_CONDITION) {
        sharr_cond_notify_all(h);
        sharr_cond_release(h);
        return;
    }
    if (l->kind == SHARR_KIND_RLOCK)
        sharr_lock_release(h);
    sharr_lock_release(h);
}

static int lock_worker(void *arg)
{
    const struct locker *l = arg;
    struct guarded *g = l->g;
    void *h = NULL;
    int err = l->kind == SHARR_KIND_CONDITION
                  ? sharr_cond_open(l->name, 0, (sharr_cond **)&h)
                  : sharr_lock_open(l->name, 0, (sharr_lock **)&h);
    if (err < 0)
        return 10;
    while (!__atomic_load_n(&g->stop, __ATOMIC_ACQUIRE)) {
        int rc = take(l, h);
        if (rc == SHARR_EOWNERDEAD && g->a != g->b) {
            g->b = g->a; /* what the dead holder left half-done */
            g->repairs++;
        } else if (rc < 0 && rc != SHARR_EOWNERDEAD) {
            return 11; /* a timeout: somebody was stuck */
        }
        if (g->a != g->b)
            return 12; /* the lock did not exclude */
        g->a++;
        for (volatile int i = 0; i < 200; i++)
            ;
        g->b++;
        g->ops++;
        /* A condition's holder also waits now and then (and is killed in
         * its wait): the lock is released and retaken inside. */
        if (l->kind == SHARR_KIND_CONDITION && g->ops % 16 == 0) {
            rc = sharr_cond_wait(h, 0.001);
            if (rc < 0 && rc != SHARR_ETIMEDOUT && rc != SHARR_EOWNERDEAD)
                return 13;
            if (rc == SHARR_EOWNERDEAD && g->a != g->b) {
                g->b = g->a;
                g->repairs++;
            }
        }
        give(l, h);
    }
    return 0;
}

static void holders_killed_at_random(sharr_kind kind, const char *label)
{
    struct guarded *g = tu_shared(sizeof *g);
    struct locker l = {tu_name(label), g, kind};
    pid_t pids[3];
    unsigned seed = (unsigned)getpid() * 40503u + (unsigned)kind;
    int kills = 0;
    void *h = NULL;

    if (kind == SHARR_KIND_CONDITION)
        cr_assert_eq(sharr_cond_create(l.name, NULL, (sharr_cond **)&h), 0);
    else
        cr_assert_eq(sharr_lock_create(l.name, kind == SHARR_KIND_RLOCK,
                                       NULL, (sharr_lock **)&h), 0);
    for (int i = 0; i < 3; i++)
        pids[i] = tu_child(lock_worker, &l);
    double end = tu_now() + 0.8;
    while (tu_now() < end) {
        usleep(500 + rnd(&seed) % 4000);
        int i = (int)(rnd(&seed) % 3);
        kill(pids[i], SIGKILL);
        int st = tu_status(pids[i]);
        cr_assert(st == 100 + SIGKILL, "a %s worker ended with %d before "
                  "its kill (seed %u)", sharr_kind_name(kind), st, seed);
        kills++;
        pids[i] = tu_child(lock_worker, &l);
    }
    __atomic_store_n(&g->stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tu_status(pids[i]), 0, "a %s worker was stuck or saw "
                     "no exclusion (seed %u)", sharr_kind_name(kind), seed);
    cr_assert_eq(g->a, g->b, "the last repair was not made");
    cr_assert_gt(g->ops, 100, "the workers made progress");
    cr_log_info("%s: %d holders killed, %ld ops, %ld half-done updates "
                "repaired", sharr_kind_name(kind), kills, g->ops, g->repairs);
    if (kind == SHARR_KIND_CONDITION)
        sharr_cond_close(h);
    else
        sharr_lock_close(h);
    munmap(g, sizeof *g);
}

Test(faults, lock_holders_killed_at_random_never_stop_the_others)
{
    holders_killed_at_random(SHARR_KIND_LOCK, "lk");
}

Test(faults, rlock_holders_killed_at_random_never_stop_the_others)
{
    holders_killed_at_random(SHARR_KIND_RLOCK, "rl");
}

Test(faults, condition_holders_and_waiters_killed_at_random_never_hang)
{
    holders_killed_at_random(SHARR_KIND_CONDITION, "cd");
}
