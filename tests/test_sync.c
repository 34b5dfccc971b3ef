/*
 * test_sync.c - named Lock, RLock, Semaphore, BoundedSemaphore, Event,
 * Condition and Barrier: every call, timeout and error, across processes,
 * holders and parties killed, corrupt and foreign segments of each kind.
 */
#include "ipcutil.h"

#include <math.h>
#include <pthread.h>

TestSuite(sync, .init = tu_setup, .fini = tu_ipc_fini, .timeout = 30);

/* ---- Lock ---- */

static sharr_lock *mklock(const char *label, int recursive)
{
    sharr_lock *l = NULL;
    cr_assert_eq(sharr_lock_create(tu_name(label), recursive, NULL, &l), 0,
                 "%s", sharr_errmsg());
    return l;
}

Test(sync, lock_acquire_release_and_misuse)
{
    sharr_lock *l = mklock("l", 0);
    cr_assert_eq(sharr_lock_recursive(l), 0);
    cr_assert_eq(sharr_lock_release(l), SHARR_EPERM);
    cr_assert(strstr(sharr_errmsg(), "does not hold"), "%s", sharr_errmsg());
    cr_assert_eq(sharr_lock_acquire(l, 0), 0);
    cr_assert_eq(sharr_lock_acquire(l, 0), SHARR_EBUSY);
    cr_assert_eq(sharr_lock_acquire(l, 1), SHARR_EBUSY, "never a deadlock");
    cr_assert(strstr(sharr_errmsg(), "not recursive"), "%s", sharr_errmsg());
    cr_assert_eq(sharr_lock_release(l), 0);
    cr_assert_eq(sharr_lock_acquire(l, -1), 0);
    cr_assert_eq(sharr_lock_release(l), 0);
    cr_assert_eq(sharr_lock_acquire(l, NAN), SHARR_EINVAL);
    sharr_lock_close(l);
}

static int hold_lock(void *arg)
{
    struct tu_named *a = arg;
    sharr_lock *l;
    if (sharr_lock_open(a->name, 0, &l) < 0 || sharr_lock_acquire(l, 5) < 0)
        return 1;
    tu_signal_send(&a->sig, 'L');
    pause(); /* until SIGKILL */
    return 0;
}

Test(sync, a_held_lock_times_out_and_a_dead_holder_gives_eownerdead)
{
    struct tu_named a = {tu_name("k"), {{-1, -1}}};
    sharr_lock *l = mklock("k", 0);
    sharr_info in;

    tu_signal_init(&a.sig);
    pid_t pid = tu_child(hold_lock, &a);
    cr_assert_eq(tu_signal_wait(&a.sig, 5), 'L');
    double t0 = tu_now();
    cr_assert_eq(sharr_lock_acquire(l, 0), SHARR_ETIMEDOUT);
    cr_assert_lt(tu_now() - t0, 0.1, "try once does not wait (%.3f s)",
                 tu_now() - t0);
    cr_assert_eq(sharr_lock_acquire(l, 0.15), SHARR_ETIMEDOUT);
    cr_assert_geq(tu_now() - t0, 0.14);
    cr_assert(strstr(sharr_errmsg(), "is held by"), "%s", sharr_errmsg());
    cr_assert_eq(sharr_stat(tu_name("k"), &in), 0);
    cr_assert_eq(in.obj.holder, pid);
    cr_assert(strstr(in.obj.text, "held by"), "%s", in.obj.text);
    kill(pid, SIGKILL);
    tu_reap(pid);
    cr_assert_eq(sharr_stat(tu_name("k"), &in), 0);
    cr_assert_eq(in.obj.holder_died, 1, "%s", in.obj.text);
    cr_assert(strstr(in.obj.text, "died holding it"), "info says so: %s",
              in.obj.text);
    cr_assert_eq(sharr_lock_acquire(l, 5), SHARR_EOWNERDEAD);
    cr_assert(strstr(sharr_errmsg(), "died holding it"), "%s",
              sharr_errmsg());
    cr_assert_eq(sharr_lock_release(l), 0);
    cr_assert_eq(sharr_lock_acquire(l, 0), 0, "consistent again");
    cr_assert_eq(sharr_lock_release(l), 0);
    cr_assert_eq(sharr_stat(tu_name("k"), &in), 0);
    cr_assert_str_eq(in.obj.text, "free");
    tu_signal_close(&a.sig);
    sharr_lock_close(l);
}

static int count_under_lock(void *arg)
{
    const char *name = ((const char **)arg)[0];
    volatile long *counter = ((void **)arg)[1];
    sharr_lock *l;
    if (sharr_lock_open(name, 0, &l) < 0)
        return 1;
    for (int i = 0; i < 3000; i++) {
        if (sharr_lock_acquire(l, 5) != 0)
            return 2;
        long v = *counter; /* a lost update shows without the lock */
        if (i % 64 == 0)
            sched_yield();
        *counter = v + 1;
        sharr_lock_release(l);
    }
    sharr_lock_close(l);
    return 0;
}

Test(sync, a_lock_excludes_other_processes)
{
    sharr_lock *l = mklock("x", 0);
    long *counter = tu_shared(sizeof *counter);
    void *arg[2] = {(void *)tu_name("x"), counter};
    pid_t pids[4];
    for (int i = 0; i < 4; i++)
        pids[i] = tu_child(count_under_lock, arg);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(tu_status(pids[i]), 0);
    cr_assert_eq(*counter, 4 * 3000);
    sharr_lock_close(l);
}

Test(sync, closing_a_handle_releases_the_lock_it_holds)
{
    sharr_lock *l = mklock("cl", 0), *m = NULL;
    cr_assert_eq(sharr_lock_acquire(l, 0), 0);
    sharr_lock_close(l);
    cr_assert_eq(sharr_lock_open(tu_name("cl"), 0, &m), 0);
    cr_assert_eq(sharr_lock_acquire(m, 0), 0);
    sharr_lock_close(m);
}

/* ---- RLock ---- */

static void *release_from_other_thread(void *arg)
{
    return (void *)(intptr_t)sharr_lock_release(arg);
}

Test(sync, an_rlock_is_taken_again_by_its_holder_and_counted)
{
    sharr_lock *r = mklock("r", 1);
    sharr_info in;
    pthread_t t;
    void *rc;

    cr_assert_eq(sharr_lock_recursive(r), 1);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(sharr_lock_acquire(r, 0), 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_stat(tu_name("r"), &in), 0);
    cr_assert_eq(in.kind, SHARR_KIND_RLOCK);
    cr_assert_eq(in.obj.depth, 3, "%s", in.obj.text);
    pthread_create(&t, NULL, release_from_other_thread, r);
    pthread_join(t, &rc);
    cr_assert_eq((int)(intptr_t)rc, SHARR_EPERM, "only the holder releases");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(sharr_lock_release(r), 0);
    cr_assert_eq(sharr_lock_release(r), SHARR_EPERM);
    sharr_lock_close(r);
}

static int hold_rlock_twice(void *arg)
{
    struct tu_named *a = arg;
    sharr_lock *l;
    if (sharr_lock_open(a->name, 0, &l) < 0 || sharr_lock_acquire(l, 5) ||
        sharr_lock_acquire(l, 5))
        return 1;
    tu_signal_send(&a->sig, 'L');
    pause();
    return 0;
}

Test(sync, an_rlock_held_twice_by_a_killed_process_is_recovered)
{
    struct tu_named a = {tu_name("rk"), {{-1, -1}}};
    sharr_lock *r = mklock("rk", 1);
    tu_signal_init(&a.sig);
    pid_t pid = tu_child(hold_rlock_twice, &a);
    cr_assert_eq(tu_signal_wait(&a.sig, 5), 'L');
    cr_assert_eq(sharr_lock_acquire(r, 0.05), SHARR_ETIMEDOUT);
    kill(pid, SIGKILL);
    tu_reap(pid);
    cr_assert_eq(sharr_lock_acquire(r, 5), SHARR_EOWNERDEAD);
    cr_assert_eq(sharr_lock_release(r), 0, "one level: the dead one's gone");
    cr_assert_eq(sharr_lock_release(r), SHARR_EPERM);
    tu_signal_close(&a.sig);
    sharr_lock_close(r);
}

/* ---- Semaphore ---- */

Test(sync, a_semaphore_counts_and_times_out)
{
    sharr_sem *s = NULL;
    cr_assert_eq(sharr_sem_create(tu_name("s"), 2, 0, NULL, &s), 0);
    cr_assert_eq(sharr_sem_bound(s), 0);
    cr_assert_eq(sharr_sem_acquire(s, 0), 0);
    cr_assert_eq(sharr_sem_acquire(s, 0), 0);
    cr_assert_eq(sharr_sem_value(s), 0);
    cr_assert_eq(sharr_sem_acquire(s, 0), SHARR_ETIMEDOUT);
    double t0 = tu_now();
    cr_assert_eq(sharr_sem_acquire(s, 0.1), SHARR_ETIMEDOUT);
    cr_assert_geq(tu_now() - t0, 0.09);
    cr_assert_eq(sharr_sem_release(s, 5), 0, "unbounded");
    cr_assert_eq(sharr_sem_value(s), 5);
    cr_assert_eq(sharr_sem_release(s, 0), SHARR_EINVAL);
    cr_assert_eq(sharr_sem_release(s, INT32_MAX), SHARR_ERANGE);
    sharr_info in;
    cr_assert_eq(sharr_stat(tu_name("s"), &in), 0);
    cr_assert_str_eq(in.obj.text, "value 5");
    sharr_sem_close(s);
}

Test(sync, a_bounded_semaphore_refuses_a_release_past_its_bound)
{
    sharr_sem *s = NULL, *t = NULL;
    cr_assert_eq(sharr_sem_create(tu_name("b"), 3, 2, NULL, &s),
                 SHARR_EINVAL);
    cr_assert_eq(sharr_sem_create(tu_name("b"), 1, 2, NULL, &s), 0);
    cr_assert_eq(sharr_sem_open(tu_name("b"), 0, &t), 0);
    cr_assert_eq(sharr_sem_bound(t), 2);
    cr_assert_eq(sharr_sem_release(t, 1), 0);
    cr_assert_eq(sharr_sem_release(t, 1), SHARR_ERANGE);
    cr_assert(strstr(sharr_errmsg(), "bound"), "%s", sharr_errmsg());
    cr_assert_eq(sharr_sem_value(s), 2, "the failed release changed nothing");
    sharr_info in;
    cr_assert_eq(sharr_stat(tu_name("b"), &in), 0);
    cr_assert_str_eq(in.obj.text, "value 2 of 2");
    sharr_sem_close(s);
    sharr_sem_close(t);
}

static int release_later(void *arg)
{
    sharr_sem *s;
    usleep(100000);
    if (sharr_sem_open(arg, 0, &s) < 0 || sharr_sem_release(s, 1) < 0)
        return 1;
    sharr_sem_close(s);
    return 0;
}

Test(sync, a_semaphore_wakes_a_waiter_in_another_process)
{
    sharr_sem *s = NULL;
    cr_assert_eq(sharr_sem_create(tu_name("w"), 0, 1, NULL, &s), 0);
    pid_t pid = tu_child(release_later, (void *)tu_name("w"));
    cr_assert_eq(sharr_sem_acquire(s, 5), 0, "%s", sharr_errmsg());
    cr_assert_eq(tu_status(pid), 0);
    sharr_sem_close(s);
}

/* ---- Event ---- */

static int set_later(void *arg)
{
    sharr_event *e;
    usleep(100000);
    if (sharr_event_open(arg, 0, &e) < 0)
        return 1;
    sharr_event_set(e);
    sharr_event_close(e);
    return 0;
}

static int wait_event(void *arg)
{
    sharr_event *e;
    if (sharr_event_open(arg, 0, &e) < 0)
        return 1;
    int err = sharr_event_wait(e, 5);
    sharr_event_close(e);
    return err == 0 ? 0 : 2;
}

Test(sync, an_event_is_set_cleared_and_wakes_every_waiter)
{
    sharr_event *e = NULL;
    cr_assert_eq(sharr_event_create(tu_name("e"), NULL, &e), 0);
    cr_assert_eq(sharr_event_is_set(e), 0);
    cr_assert_eq(sharr_event_wait(e, 0), SHARR_ETIMEDOUT);
    cr_assert_eq(sharr_event_wait(e, 0.05), SHARR_ETIMEDOUT);
    pid_t w[3];
    for (int i = 0; i < 3; i++)
        w[i] = tu_child(wait_event, (void *)tu_name("e"));
    pid_t setter = tu_child(set_later, (void *)tu_name("e"));
    cr_assert_eq(sharr_event_wait(e, 5), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tu_status(w[i]), 0, "waiter %d", i);
    cr_assert_eq(tu_status(setter), 0);
    cr_assert_eq(sharr_event_is_set(e), 1);
    sharr_info in;
    cr_assert_eq(sharr_stat(tu_name("e"), &in), 0);
    cr_assert_str_eq(in.obj.text, "set");
    sharr_event_clear(e);
    cr_assert_eq(sharr_event_is_set(e), 0);
    cr_assert_eq(sharr_event_wait(e, 0), SHARR_ETIMEDOUT);
    sharr_event_close(e);
}

/* ---- Condition ---- */

struct cond_shared {
    int ready, served, woken;
};

static int cond_waiter(void *arg)
{
    const char *name = ((const char **)arg)[0];
    struct cond_shared *sh = ((void **)arg)[1];
    sharr_cond *c;
    if (sharr_cond_open(name, 0, &c) < 0 || sharr_cond_acquire(c, 5) < 0)
        return 1;
    sh->ready++;
    sharr_cond_notify_all(c); /* the parent waits for everyone ready */
    while (!sh->served)
        if (sharr_cond_wait(c, 5) < 0)
            return 2;
    sh->woken++;
    sharr_cond_release(c);
    sharr_cond_close(c);
    return 0;
}

static int served(void *ctx)
{
    return ((struct cond_shared *)ctx)->ready >= 3;
}

Test(sync, a_condition_waits_notifies_and_notifies_all)
{
    sharr_cond *c = NULL;
    struct cond_shared *sh = tu_shared(sizeof *sh);
    void *arg[2] = {(void *)tu_name("c"), sh};
    pid_t w[3];

    cr_assert_eq(sharr_cond_create(tu_name("c"), NULL, &c), 0);
    cr_assert_eq(sharr_cond_wait(c, 0), SHARR_EPERM);
    cr_assert_eq(sharr_cond_notify(c, 1), SHARR_EPERM);
    cr_assert_eq(sharr_cond_notify_all(c), SHARR_EPERM);
    for (int i = 0; i < 3; i++)
        w[i] = tu_child(cond_waiter, arg);
    cr_assert_eq(sharr_cond_acquire(c, 5), 0);
    /* wait_for: released while waiting, so the waiters can come in. */
    cr_assert_eq(sharr_cond_wait_for(c, served, sh, 5), 0, "%s",
                 sharr_errmsg());
    sh->served = 1;
    cr_assert_eq(sharr_cond_notify(c, 1), 0);
    cr_assert_eq(sharr_cond_notify_all(c), 0);
    cr_assert_eq(sharr_cond_release(c), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tu_status(w[i]), 0, "waiter %d", i);
    cr_assert_eq(sh->woken, 3);
    /* A timed-out wait still holds the lock when it returns. */
    cr_assert_eq(sharr_cond_acquire(c, 0), 0);
    double t0 = tu_now();
    cr_assert_eq(sharr_cond_wait(c, 0.1), SHARR_ETIMEDOUT);
    cr_assert_geq(tu_now() - t0, 0.09);
    cr_assert_eq(sharr_cond_wait_for(c, served, sh, 0), 0);
    sh->ready = 0;
    cr_assert_eq(sharr_cond_wait_for(c, served, sh, 0.05), SHARR_ETIMEDOUT);
    cr_assert_eq(sharr_cond_release(c), 0, "held after the timeouts");
    sharr_cond_close(c);
}

static int hold_cond(void *arg)
{
    struct tu_named *a = arg;
    sharr_cond *c;
    if (sharr_cond_open(a->name, 0, &c) < 0 || sharr_cond_acquire(c, 5) < 0)
        return 1;
    tu_signal_send(&a->sig, 'L');
    pause();
    return 0;
}

static int wait_cond_forever(void *arg)
{
    struct tu_named *a = arg;
    sharr_cond *c;
    if (sharr_cond_open(a->name, 0, &c) < 0 || sharr_cond_acquire(c, 5) < 0)
        return 1;
    tu_signal_send(&a->sig, 'W');
    sharr_cond_wait(c, -1);
    return 0;
}

Test(sync, a_condition_survives_a_killed_holder_and_a_killed_waiter)
{
    struct tu_named a = {tu_name("ck"), {{-1, -1}}};
    sharr_cond *c = NULL;
    cr_assert_eq(sharr_cond_create(tu_name("ck"), NULL, &c), 0);
    tu_signal_init(&a.sig);
    /* A waiter killed asleep leaves nothing that blocks a notify. */
    pid_t w = tu_child(wait_cond_forever, &a);
    cr_assert_eq(tu_signal_wait(&a.sig, 5), 'W');
    cr_assert_eq(sharr_cond_acquire(c, 5), 0, "the waiter released it");
    kill(w, SIGKILL);
    tu_reap(w);
    cr_assert_eq(sharr_cond_notify_all(c), 0);
    cr_assert_eq(sharr_cond_notify(c, 1), 0);
    cr_assert_eq(sharr_cond_release(c), 0);
    /* A holder killed: the next acquire recovers. */
    pid_t h = tu_child(hold_cond, &a);
    cr_assert_eq(tu_signal_wait(&a.sig, 5), 'L');
    kill(h, SIGKILL);
    tu_reap(h);
    cr_assert_eq(sharr_cond_acquire(c, 5), SHARR_EOWNERDEAD);
    cr_assert_eq(sharr_cond_wait(c, 0.01), SHARR_ETIMEDOUT);
    cr_assert_eq(sharr_cond_release(c), 0);
    tu_signal_close(&a.sig);
    sharr_cond_close(c);
}

/* Wait once (1.5 s); exit 0 if notified, 2 if timed out. */
static int cond_wait_once(void *arg)
{
    sharr_cond *c;
    if (sharr_cond_open(arg, 0, &c) < 0 || sharr_cond_acquire(c, 5) < 0)
        return 1;
    int rc = sharr_cond_wait(c, 1.5);
    sharr_cond_release(c);
    return rc == 0 ? 0 : rc == SHARR_ETIMEDOUT ? 2 : 3;
}

Test(sync, notify_n_wakes_n_sleeping_waiters_and_no_more)
{
    sharr_cond *c = NULL;
    sharr_info in;
    pid_t w[4];
    int woken = 0, timed_out = 0;
    cr_assert_eq(sharr_cond_create(tu_name("cn"), NULL, &c), 0);
    for (int i = 0; i < 4; i++)
        w[i] = tu_child(cond_wait_once, (void *)tu_name("cn"));
    for (int i = 0; i < 300; i++) {
        cr_assert_eq(sharr_stat(tu_name("cn"), &in), 0);
        if (in.obj.waiters == 4)
            break;
        usleep(10000);
    }
    cr_assert_eq(in.obj.waiters, 4, "%s", in.obj.text);
    usleep(200000); /* all asleep in the kernel */
    cr_assert_eq(sharr_cond_acquire(c, 5), 0);
    cr_assert_eq(sharr_cond_notify(c, 1), 0);
    cr_assert_eq(sharr_cond_notify(c, 1), 0);
    cr_assert_eq(sharr_cond_release(c), 0);
    for (int i = 0; i < 4; i++) {
        int st = tu_status(w[i]);
        woken += st == 0;
        timed_out += st == 2;
    }
    cr_assert_eq(woken, 2, "two notify(1) woke %d waiters", woken);
    cr_assert_eq(timed_out, 2);
    sharr_cond_close(c);
}

/* ---- Barrier ---- */

static sharr_barrier *mkbarrier(const char *label, size_t parties)
{
    sharr_barrier *b = NULL;
    cr_assert_eq(sharr_barrier_create(tu_name(label), parties, NULL, &b), 0,
                 "%s", sharr_errmsg());
    return b;
}

struct rounds {
    int index_seen[20][4]; /* round r: how often each index came */
};

static int barrier_rounds(void *arg)
{
    const char *name = ((const char **)arg)[0];
    struct rounds *r = ((void **)arg)[1];
    sharr_barrier *b;
    if (sharr_barrier_open(name, 0, &b) < 0)
        return 1;
    for (int round = 0; round < 20; round++) {
        int idx = sharr_barrier_wait(b, 10);
        if (idx < 0 || idx > 3)
            return 2;
        __atomic_fetch_add(&r->index_seen[round][idx], 1, __ATOMIC_RELAXED);
    }
    sharr_barrier_close(b);
    return 0;
}

Test(sync, a_barrier_releases_each_round_with_distinct_indices)
{
    sharr_barrier *b = mkbarrier("b", 4);
    struct rounds *r = tu_shared(sizeof *r);
    void *arg[2] = {(void *)tu_name("b"), r};
    pid_t pids[3];

    cr_assert_eq(sharr_barrier_parties(b), 4);
    for (int i = 0; i < 3; i++)
        pids[i] = tu_child(barrier_rounds, arg);
    for (int round = 0; round < 20; round++) {
        int idx = sharr_barrier_wait(b, 10);
        cr_assert(idx >= 0 && idx < 4, "round %d: %d (%s)", round, idx,
                  sharr_errmsg());
        __atomic_fetch_add(&r->index_seen[round][idx], 1, __ATOMIC_RELAXED);
    }
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tu_status(pids[i]), 0);
    for (int round = 0; round < 20; round++)
        for (int i = 0; i < 4; i++)
            cr_assert_eq(r->index_seen[round][i], 1, "round %d index %d",
                         round, i);
    sharr_info in;
    cr_assert_eq(sharr_stat(tu_name("b"), &in), 0);
    cr_assert_str_eq(in.obj.text, "0 of 4 waiting, 20 rounds done");
    sharr_barrier_close(b);
}

static int barrier_wait_once(void *arg)
{
    sharr_barrier *b;
    if (sharr_barrier_open(arg, 0, &b) < 0)
        return 99;
    int rc = sharr_barrier_wait(b, 10);
    sharr_barrier_close(b);
    return rc == SHARR_EBROKEN ? 0 : rc == SHARR_ETIMEDOUT ? 1 : 2;
}

Test(sync, a_barrier_wait_that_times_out_breaks_it_for_everyone)
{
    sharr_barrier *b = mkbarrier("t", 3);
    pid_t other = tu_child(barrier_wait_once, (void *)tu_name("t"));
    usleep(50000);
    double t0 = tu_now();
    cr_assert_eq(sharr_barrier_wait(b, 0.2), SHARR_ETIMEDOUT);
    cr_assert_geq(tu_now() - t0, 0.19);
    cr_assert(strstr(sharr_errmsg(), "of 3 parties came in time"), "%s",
              sharr_errmsg());
    cr_assert_eq(tu_status(other), 0, "the other waiter got EBROKEN");
    cr_assert_eq(sharr_barrier_broken(b), 1);
    cr_assert_eq(sharr_barrier_wait(b, 1), SHARR_EBROKEN,
                 "broken until reset");
    cr_assert(strstr(sharr_errmsg(), "timed out"), "%s", sharr_errmsg());
    cr_assert_eq(sharr_barrier_reset(b), 0);
    cr_assert_eq(sharr_barrier_broken(b), 0);
    cr_assert_eq(sharr_barrier_waiting(b), 0);
    sharr_barrier_close(b);
}

Test(sync, abort_and_reset_break_the_waiters)
{
    sharr_barrier *b = mkbarrier("a", 3);
    pid_t w1 = tu_child(barrier_wait_once, (void *)tu_name("a"));
    pid_t w2 = tu_child(barrier_wait_once, (void *)tu_name("a"));
    for (int i = 0; i < 200 && sharr_barrier_waiting(b) < 2; i++)
        usleep(10000);
    cr_assert_eq(sharr_barrier_waiting(b), 2);
    cr_assert_eq(sharr_barrier_abort(b), 0);
    cr_assert_eq(tu_status(w1), 0);
    cr_assert_eq(tu_status(w2), 0);
    cr_assert_eq(sharr_barrier_wait(b, 0), SHARR_EBROKEN);
    cr_assert(strstr(sharr_errmsg(), "aborted"), "%s", sharr_errmsg());
    cr_assert_eq(sharr_barrier_reset(b), 0);
    w1 = tu_child(barrier_wait_once, (void *)tu_name("a"));
    for (int i = 0; i < 200 && sharr_barrier_waiting(b) < 1; i++)
        usleep(10000);
    cr_assert_eq(sharr_barrier_reset(b), 0, "reset with a waiter breaks it");
    cr_assert_eq(tu_status(w1), 0);
    cr_assert_eq(sharr_barrier_broken(b), 0, "and leaves the barrier whole");
    sharr_barrier_close(b);
}

static int barrier_party_then_sleep(void *arg)
{
    struct tu_named *a = arg;
    sharr_barrier *b;
    if (sharr_barrier_open(a->name, 0, &b) < 0 ||
        sharr_barrier_wait(b, 10) < 0)
        return 1;
    tu_signal_send(&a->sig, 'P'); /* a party now, "computing" */
    pause();
    return 0;
}

Test(sync, a_party_killed_between_rounds_breaks_the_barrier_quickly)
{
    struct tu_named a = {tu_name("d"), {{-1, -1}}};
    sharr_barrier *b = mkbarrier("d", 2);
    tu_signal_init(&a.sig);
    pid_t pid = tu_child(barrier_party_then_sleep, &a);
    cr_assert_geq(sharr_barrier_wait(b, 5), 0, "%s", sharr_errmsg());
    cr_assert_eq(tu_signal_wait(&a.sig, 5), 'P');
    kill(pid, SIGKILL);
    tu_reap(pid);
    double t0 = tu_now();
    cr_assert_eq(sharr_barrier_wait(b, 10), SHARR_EBROKEN);
    cr_assert_lt(tu_now() - t0, 1.0, "broken within about 0.1 s");
    cr_assert(strstr(sharr_errmsg(), "died"), "%s", sharr_errmsg());
    sharr_info in;
    cr_assert_eq(sharr_stat(tu_name("d"), &in), 0);
    cr_assert(strstr(in.obj.text, "a party died"), "%s", in.obj.text);
    cr_assert_eq(sharr_barrier_reset(b), 0);
    cr_assert_eq(sharr_barrier_wait(b, 0.05), SHARR_ETIMEDOUT,
                 "the dead party is forgotten: no other break");
    tu_signal_close(&a.sig);
    sharr_barrier_close(b);
}

static int barrier_wait_forever(void *arg)
{
    struct tu_named *a = arg;
    sharr_barrier *b;
    if (sharr_barrier_open(a->name, 0, &b) < 0)
        return 1;
    tu_signal_send(&a->sig, 'W');
    sharr_barrier_wait(b, -1);
    return 0;
}

/* A barrier of `parties` (named a->name) with one party that came to wait
 * and was SIGKILLed there (and reaped). */
static sharr_barrier *a_party_killed_waiting(struct tu_named *a,
                                            const char *label, size_t parties)
{
    sharr_barrier *b = mkbarrier(label, parties);
    tu_signal_init(&a->sig);
    pid_t pid = tu_child(barrier_wait_forever, a);
    cr_assert_eq(tu_signal_wait(&a->sig, 5), 'W');
    for (int i = 0; i < 200 && sharr_barrier_waiting(b) < 1; i++)
        usleep(10000);
    cr_assert_eq(sharr_barrier_waiting(b), 1);
    kill(pid, SIGKILL);
    tu_reap(pid);
    return b;
}

Test(sync, a_party_killed_while_waiting_breaks_the_barrier)
{
    struct tu_named a = {tu_name("dw"), {{-1, -1}}};
    sharr_barrier *b = a_party_killed_waiting(&a, "dw", 3);
    cr_assert_eq(sharr_barrier_wait(b, 10), SHARR_EBROKEN);
    tu_signal_close(&a.sig);
    sharr_barrier_close(b);
}

Test(sync, the_last_arrival_after_a_waiting_party_was_killed_is_broken)
{
    /* The dead party had arrived: its arrival must not complete the round
     * for the living, asleep or not when it died. */
    struct tu_named a = {tu_name("dl"), {{-1, -1}}};
    sharr_barrier *b = a_party_killed_waiting(&a, "dl", 2);
    cr_assert_eq(sharr_barrier_wait(b, 2), SHARR_EBROKEN);
    cr_assert(strstr(sharr_errmsg(), "died"), "%s", sharr_errmsg());
    cr_assert_eq(sharr_barrier_broken(b), 1);
    cr_assert_eq(sharr_barrier_reset(b), 0);
    cr_assert_eq(sharr_barrier_wait(b, 0.05), SHARR_ETIMEDOUT,
                 "the dead party is forgotten after a reset");
    tu_signal_close(&a.sig);
    sharr_barrier_close(b);
}

Test(sync, a_barrier_of_one_passes_at_once_and_bad_sizes_are_refused)
{
    sharr_barrier *b = mkbarrier("one", 1), *c = NULL;
    for (int i = 0; i < 3; i++)
        cr_assert_eq(sharr_barrier_wait(b, 0), 0);
    cr_assert_eq(sharr_barrier_create(tu_name("z"), 0, NULL, &c),
                 SHARR_EINVAL);
    cr_assert_eq(sharr_barrier_create(tu_name("z"), 4097, NULL, &c),
                 SHARR_EINVAL);
    sharr_barrier_close(b);
}

/* ---- kinds, owners, corrupt segments of every kind ---- */

static void make_kind(sharr_kind k, const char *name)
{
    int err = 0;
    switch (k) {
    case SHARR_KIND_LOCK: case SHARR_KIND_RLOCK: {
        sharr_lock *l;
        err = sharr_lock_create(name, k == SHARR_KIND_RLOCK, NULL, &l);
        sharr_lock_close(l);
        break;
    }
    case SHARR_KIND_SEMAPHORE: {
        sharr_sem *s;
        err = sharr_sem_create(name, 1, 3, NULL, &s);
        sharr_sem_close(s);
        break;
    }
    case SHARR_KIND_EVENT: {
        sharr_event *e;
        err = sharr_event_create(name, NULL, &e);
        sharr_event_close(e);
        break;
    }
    case SHARR_KIND_CONDITION: {
        sharr_cond *c;
        err = sharr_cond_create(name, NULL, &c);
        sharr_cond_close(c);
        break;
    }
    case SHARR_KIND_BARRIER: {
        sharr_barrier *b;
        err = sharr_barrier_create(name, 3, NULL, &b);
        sharr_barrier_close(b);
        break;
    }
    case SHARR_KIND_QUEUE: {
        sharr_queue *q;
        err = sharr_queue_create(name, 0, 0, NULL, &q);
        sharr_queue_close(q);
        break;
    }
    case SHARR_KIND_PIPE: {
        sharr_pipe *p;
        err = sharr_pipe_create(name, 0, 0, NULL, &p);
        sharr_pipe_close(p);
        break;
    }
    default:
        cr_assert_fail("no such kind");
    }
    cr_assert_eq(err, 0, "%s: %s", sharr_kind_name(k), sharr_errmsg());
}

/* Open `name` as kind k (through its own open function). */
static int open_kind(sharr_kind k, const char *name, unsigned flags)
{
    int err = SHARR_EINVAL;
    void *h = NULL;
    switch (k) {
    case SHARR_KIND_LOCK: case SHARR_KIND_RLOCK:
        err = sharr_lock_open(name, flags, (sharr_lock **)&h);
        sharr_lock_close(h);
        break;
    case SHARR_KIND_SEMAPHORE:
        err = sharr_sem_open(name, flags, (sharr_sem **)&h);
        sharr_sem_close(h);
        break;
    case SHARR_KIND_EVENT:
        err = sharr_event_open(name, flags, (sharr_event **)&h);
        sharr_event_close(h);
        break;
    case SHARR_KIND_CONDITION:
        err = sharr_cond_open(name, flags, (sharr_cond **)&h);
        sharr_cond_close(h);
        break;
    case SHARR_KIND_BARRIER:
        err = sharr_barrier_open(name, flags, (sharr_barrier **)&h);
        sharr_barrier_close(h);
        break;
    case SHARR_KIND_QUEUE:
        err = sharr_queue_open(name, flags, (sharr_queue **)&h);
        sharr_queue_close(h);
        break;
    case SHARR_KIND_PIPE:
        err = sharr_pipe_open(name, 1, flags, (sharr_pipe **)&h);
        sharr_pipe_close(h);
        break;
    default:
        break;
    }
    return err;
}

Test(sync, every_kind_opens_as_itself_and_only_as_itself)
{
    for (int k = 1; k < SHARR_NKINDS; k++) {
        char label[32];
        snprintf(label, sizeof label, "k%d", k);
        const char *n = tu_name(label);
        make_kind((sharr_kind)k, n);
        sharr_info in;
        cr_assert_eq(sharr_stat(n, &in), 0, "%s", sharr_errmsg());
        cr_assert_eq(in.kind, (sharr_kind)k);
        cr_assert_neq(in.obj.text[0], '\0');
        for (int j = 1; j < SHARR_NKINDS; j++) {
            int err = open_kind((sharr_kind)j, n, 0);
            bool same = j == k || (j <= SHARR_KIND_RLOCK &&
                                   k <= SHARR_KIND_RLOCK &&
                                   j >= SHARR_KIND_LOCK &&
                                   k >= SHARR_KIND_LOCK);
            cr_assert_eq(err, same ? 0 : SHARR_EKIND, "%s opened as %s: %d "
                         "(%s)", sharr_kind_name((sharr_kind)k),
                         sharr_kind_name((sharr_kind)j), err, sharr_errmsg());
            if (!same)
                cr_assert(strstr(sharr_errmsg(),
                                 sharr_kind_name((sharr_kind)k)) &&
                          strstr(sharr_errmsg(),
                                 sharr_kind_name((sharr_kind)j)),
                          "%s", sharr_errmsg());
        }
        sharr_array *a = NULL;
        cr_assert_eq(sharr_array_open(n, 0, &a), SHARR_EKIND);
        cr_assert_eq(sharr_unlink(n), 0);
    }
}

Test(sync, corrupt_and_foreign_segments_of_every_kind_are_refused)
{
    uint32_t v9 = 9, one = 1;
    uint64_t junk = 77;
    for (int k = 1; k < SHARR_NKINDS; k++) {
        char label[32];
        snprintf(label, sizeof label, "cv%d", k);
        const char *n = tu_name(label);
        make_kind((sharr_kind)k, n);
        off_t ctl = tu_ctl_offset(n);
        tu_patch(n, ctl + offsetof(struct sharr__ctl, version), &v9, 4);
        cr_assert_eq(open_kind((sharr_kind)k, n, 0), SHARR_ECORRUPT);
        cr_assert(strstr(sharr_errmsg(), "newer"), "%s", sharr_errmsg());
        cr_assert_eq(sharr_unlink(n), 0);

        snprintf(label, sizeof label, "cp%d", k);
        n = tu_name(label);
        make_kind((sharr_kind)k, n);
        ctl = tu_ctl_offset(n);
        tu_patch(n, ctl + SHARR__PARAMS_OFFSET + 56, &junk, 8);
        cr_assert_eq(open_kind((sharr_kind)k, n, 0), SHARR_ECORRUPT);
        sharr_info in;
        cr_assert_eq(sharr_stat(n, &in), SHARR_ECORRUPT);
        cr_assert_eq(sharr_unlink(n), 0);

        snprintf(label, sizeof label, "ct%d", k);
        n = tu_name(label);
        make_kind((sharr_kind)k, n);
        ctl = tu_ctl_offset(n);
        cr_assert_eq(truncate(tu_path(n), ctl), 0);
        cr_assert_eq(open_kind((sharr_kind)k, n, 0), SHARR_ECORRUPT);
        cr_assert_eq(sharr_unlink(n), 0);

        snprintf(label, sizeof label, "cd%d", k);
        n = tu_name(label);
        make_kind((sharr_kind)k, n);
        ctl = tu_ctl_offset(n);
        tu_patch(n, ctl + offsetof(struct sharr__ctl, ndim), &one, 4);
        cr_assert_eq(open_kind((sharr_kind)k, n, 0), SHARR_ECORRUPT);
        cr_assert(strstr(sharr_errmsg(), "must be 0"), "%s", sharr_errmsg());
        cr_assert_eq(sharr_unlink(n), 0);

        if (geteuid() != 0)
            continue;
        snprintf(label, sizeof label, "cf%d", k);
        n = tu_name(label);
        make_kind((sharr_kind)k, n);
        cr_assert_eq(chown(tu_path(n), 65534, 65534), 0);
        cr_assert_eq(open_kind((sharr_kind)k, n, 0), SHARR_EFOREIGN);
        cr_assert_eq(open_kind((sharr_kind)k, n, SHARR_OPEN_FOREIGN), 0);
        cr_assert_eq(sharr_unlink(n), 0);
    }
}

Test(sync, a_corrupt_semaphore_value_is_ecorrupt_not_a_hang)
{
    sharr_sem *s = NULL;
    uint32_t bad = 0x90000000u;
    cr_assert_eq(sharr_sem_create(tu_name("cs"), 0, 0, NULL, &s), 0);
    tu_patch(tu_name("cs"), 0, &bad, 4);
    cr_assert_eq(sharr_sem_acquire(s, 1), SHARR_ECORRUPT);
    cr_assert_eq(sharr_sem_release(s, 1), SHARR_ERANGE);
    sharr_sem_close(s);
}

/* ---- a wake-up lost to a killed waiter ---- */

static int wait_for_lock(void *arg)
{
    struct tu_named *a = arg;
    sharr_lock *l;
    sharr_array *arr;
    double t0;
    int rc;

    tu_signal_send(&a->sig, 'W');
    t0 = tu_now();
    if (sharr_lock_open(a->name, 0, &l) == 0) {
        rc = sharr_lock_acquire(l, 10);
    } else if (sharr_array_open(a->name, 0, &arr) == 0) {
        rc = sharr_array_lock_timed(arr, 10);
    } else {
        return 99;
    }
    /* 0 (or EOWNERDEAD) soon: the lock was seen free without a wake-up. */
    return rc >= 0 || rc == SHARR_EOWNERDEAD ? (tu_now() - t0 < 3 ? 0 : 2)
                                             : 3;
}

static int hold_array_lock(void *arg)
{
    struct tu_named *a = arg;
    sharr_array *arr;
    if (sharr_array_open(a->name, 0, &arr) < 0 || sharr_array_lock(arr) < 0)
        return 1;
    tu_signal_send(&a->sig, 'L');
    pause();
    return 0;
}

/* H holds the lock at byte `word` of `name`; W sleeps on it; the word is
 * then made "free" with no wake-up, as a release whose woken waiter was
 * killed leaves it.  W must notice within a slice (0.1 s). */
static void lost_wake_up(const char *name, off_t word, int (*hold)(void *))
{
    struct tu_named h = {name, {{-1, -1}}}, w = {name, {{-1, -1}}};
    uint32_t zero = 0;

    tu_signal_init(&h.sig);
    tu_signal_init(&w.sig);
    pid_t holder = tu_child(hold, &h);
    cr_assert_eq(tu_signal_wait(&h.sig, 5), 'L');
    pid_t waiter = tu_child(wait_for_lock, &w);
    cr_assert_eq(tu_signal_wait(&w.sig, 5), 'W');
    usleep(300000); /* asleep in the futex by now */
    tu_patch(name, word, &zero, 4);
    double t0 = tu_now();
    int st = tu_status(waiter);
    cr_assert_eq(st, 0, "the waiter ended with %d after %.2f s", st,
                 tu_now() - t0);
    cr_assert_lt(tu_now() - t0, 2.0);
    kill(holder, SIGKILL);
    tu_reap(holder);
    tu_signal_close(&h.sig);
    tu_signal_close(&w.sig);
}

Test(sync, a_lock_waiter_whose_wake_up_was_lost_takes_it_within_a_slice)
{
    sharr_lock_close(mklock("lw", 0));
    /* The mutex's futex word opens the lock's state. */
    lost_wake_up(tu_name("lw"), 0, hold_lock);
}

Test(sync, an_array_lock_waiter_whose_wake_up_was_lost_takes_it_too)
{
    const char *n = tu_name("aw");
    sharr_array_close(tu_rows("aw", SHARR_F64, 4, 0));
    lost_wake_up(n, tu_ctl_offset(n) + offsetof(struct sharr__ctl, lock),
                 hold_array_lock);
}

/* ---- a lock word that names no live holder, or one that never lets go ---- */

static int exit_now(void *arg)
{
    (void)arg;
    return 0;
}

/* A thread id that no process has: a child's, once it is reaped. */
static uint32_t gone_tid(void)
{
    pid_t pid = tu_child(exit_now, NULL);
    cr_assert_eq(tu_status(pid), 0);
    cr_assert(kill(pid, 0) < 0 && errno == ESRCH);
    return (uint32_t)pid;
}

Test(sync, a_lock_held_by_a_thread_that_does_not_exist_is_ecorrupt_not_a_hang)
{
    sharr_lock *l = mklock("gl", 0);
    sharr_barrier *b = NULL;
    sharr_queue *q = NULL;
    uint32_t word = gone_tid();
    double t0;

    /* The futex word of each object's (first) mutex opens its state. */
    cr_assert_eq(sharr_barrier_create(tu_name("gb"), 2, NULL, &b), 0);
    cr_assert_eq(sharr_queue_create(tu_name("gq"), 4096, 0, NULL, &q), 0);
    tu_patch(tu_name("gl"), 0, &word, 4);
    tu_patch(tu_name("gb"), 0, &word, 4);
    tu_patch(tu_name("gq"), 0, &word, 4);

    t0 = tu_now();
    cr_assert_eq(sharr_lock_acquire(l, -1), SHARR_ECORRUPT);
    cr_assert(strstr(sharr_errmsg(), "does not exist"), "%s", sharr_errmsg());
    cr_assert_eq(sharr_barrier_wait(b, -1), SHARR_ECORRUPT);
    cr_assert_eq(sharr_barrier_reset(b), SHARR_ECORRUPT);
    cr_assert_eq(sharr_queue_shutdown(q), SHARR_ECORRUPT);
    cr_assert_lt(tu_now() - t0, 2.0, "%.2f s", tu_now() - t0);
    sharr_lock_close(l);
    sharr_barrier_close(b);
    sharr_queue_close(q);
}

Test(sync, an_internal_lock_that_is_never_released_bounds_every_call)
{
    sharr_barrier *b = NULL;
    sharr_queue *q = NULL;
    uint32_t word = (uint32_t)getppid(); /* alive, and never lets go */
    char buf[8];
    size_t len;
    double t0;

    cr_assert_eq(sharr_barrier_create(tu_name("sb"), 2, NULL, &b), 0);
    cr_assert_eq(sharr_queue_create(tu_name("sq"), 4096, 0, NULL, &q), 0);
    cr_assert_eq(sharr_queue_put(q, "m", 1, 0), 0);
    tu_patch(tu_name("sb"), 0, &word, 4);
    tu_patch(tu_name("sq"), 0, &word, 4);

    /* Timeout 0 waits the grace (50 ms) for an internal lock; calls
     * without a timeout wait their bound (1 s); none waits for ever. */
    t0 = tu_now();
    cr_assert_eq(sharr_barrier_wait(b, 0), SHARR_ETIMEDOUT);
    cr_assert_eq(sharr_queue_put(q, "m", 1, 0), SHARR_EFULL);
    cr_assert_lt(tu_now() - t0, 0.5, "%.2f s", tu_now() - t0);
    cr_assert_eq(sharr_queue_get(q, buf, sizeof buf, &len, 0), 0,
                 "the consumers' side is not the one stuck");
    t0 = tu_now();
    cr_assert_eq(sharr_barrier_abort(b), SHARR_ETIMEDOUT);
    cr_assert_eq(sharr_queue_shutdown(q), SHARR_ETIMEDOUT);
    cr_assert(strstr(sharr_errmsg(), "held by thread"), "%s", sharr_errmsg());
    cr_assert_gt(tu_now() - t0, 1.5);
    cr_assert_lt(tu_now() - t0, 4.0, "%.2f s", tu_now() - t0);
    sharr_barrier_close(b); /* bounded too */
    sharr_queue_close(q);
}
