/*
 * wait.c - how lib/ipc waits: deadlines on CLOCK_MONOTONIC, a short spin,
 * then a futex in shared memory; and robust process-shared mutexes.
 *
 * Futexes are the shared (not private) kind: the words live in /dev/shm
 * segments mapped at different addresses in different processes, and the
 * kernel keys them by the file page.  FUTEX_WAIT_BITSET takes an absolute
 * CLOCK_MONOTONIC deadline, so a wait interrupted by a signal resumes
 * without drifting.  Mutexes are glibc's robust process-shared ones: the
 * kernel walks a dying thread's robust list and marks every mutex it held
 * (FUTEX_OWNER_DIED), whatever instruction it was killed at, which is what
 * lets the next locker repair instead of hang.
 */
#define _GNU_SOURCE
#include "ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* How long waits spin before they sleep, when spinning is worth it (see
 * worth_spinning): long enough to cover a round trip between two processes
 * on two cores (~1 us) many times over, short enough not to matter when
 * the other side is slow.  (A budget that adapts to past spins was tried
 * and dropped: on a quiet machine one failed spin shrank it and the round
 * trip went from 0.6 to 2-4 us; once both sides sleep, no short spin
 * catches an answer that itself needs a wake-up.) */
#define SPIN_NS 20000

int sharr__deadline(double timeout, struct sharr__deadline *d)
{
    d->forever = d->now = false;
    if (isnan(timeout))
        return sharr__fail(SHARR_EINVAL, "timeout is NaN");
    if (timeout < 0 || isinf(timeout)) {
        d->forever = true;
        return 0;
    }
    if (timeout == 0) {
        d->now = true;
        return 0;
    }
    if (timeout > 1e9)
        timeout = 1e9; /* 30 years: as good as for ever, and no overflow */
    clock_gettime(CLOCK_MONOTONIC, &d->at);
    double whole = floor(timeout);
    d->at.tv_sec += (time_t)whole;
    d->at.tv_nsec += (long)((timeout - whole) * 1e9);
    if (d->at.tv_nsec >= 1000000000L) {
        d->at.tv_sec++;
        d->at.tv_nsec -= 1000000000L;
    }
    return 0;
}

static bool before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec ||
           (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

bool sharr__expired(const struct sharr__deadline *d)
{
    struct timespec t;

    if (d->forever)
        return false;
    if (d->now)
        return true;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return !before(&t, &d->at);
}

struct sharr__deadline sharr__slice(const struct sharr__deadline *d,
                                    double seconds)
{
    struct sharr__deadline s;

    sharr__deadline(seconds, &s);
    if (d->now || (!d->forever && before(&d->at, &s.at)))
        return *d;
    return s;
}

struct sharr__deadline sharr__at_least(const struct sharr__deadline *d,
                                       double seconds)
{
    struct sharr__deadline s;

    sharr__deadline(seconds, &s);
    if (d->forever || (!d->now && before(&s.at, &d->at)))
        return *d;
    return s;
}

int sharr__futex_wait(uint32_t *word, uint32_t val,
                      const struct sharr__deadline *d)
{
    long rc;

    if (d->now)
        return SHARR_ETIMEDOUT;
    rc = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, val,
                 d->forever ? NULL : &d->at, NULL, FUTEX_BITSET_MATCH_ANY);
    if (rc < 0 && errno == ETIMEDOUT)
        return SHARR_ETIMEDOUT;
    return 0; /* woken, EAGAIN (changed already), EINTR: look again */
}

void sharr__futex_wake(uint32_t *word, int n)
{
    syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
}

/* Tasks runnable now, the numerator of /proc/loadavg's fourth field
 * ("0.50 0.40 0.30 3/120 4567"); 0 if it cannot be read.  No stdio, no
 * malloc: callers may be children forked from threaded processes. */
static int runnable_now(void)
{
    char buf[128];
    int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC), fields = 0, n = 0;
    ssize_t len = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;

    if (fd >= 0)
        close(fd);
    for (ssize_t i = 0; i < len && fields < 4; i++) {
        if (buf[i] == ' ')
            fields++;
        else if (fields == 3 && buf[i] >= '0' && buf[i] <= '9')
            n = n * 10 + (buf[i] - '0');
        else if (fields == 3)
            break;
    }
    return n;
}

/* Spinning helps only when the other side runs at the same time: on more
 * than one CPU, and only while no more tasks are runnable than there are
 * CPUs (else the spinner holds a CPU the process it waits for, or another,
 * needs, and sleeping at once, as POSIX mq and pipes do, is faster).  The
 * count is read again at most every RECHECK_NS; races between threads only
 * read it twice. */
#define RECHECK_NS 10000000L

static bool worth_spinning(void)
{
    static int affinity, online, crowded;
    static long checked_s, checked_ns;
    struct timespec t;
    long since;

    if (__atomic_load_n(&affinity, __ATOMIC_RELAXED) == 0) {
        cpu_set_t set;
        int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                            : 1;
        __atomic_store_n(&online, (int)sysconf(_SC_NPROCESSORS_ONLN),
                         __ATOMIC_RELAXED);
        __atomic_store_n(&affinity, n, __ATOMIC_RELAXED);
    }
    if (__atomic_load_n(&affinity, __ATOMIC_RELAXED) < 2)
        return false;
    clock_gettime(CLOCK_MONOTONIC, &t);
    since = (t.tv_sec - __atomic_load_n(&checked_s, __ATOMIC_RELAXED)) *
                1000000000L +
            (t.tv_nsec - __atomic_load_n(&checked_ns, __ATOMIC_RELAXED));
    if (since < 0 || since > RECHECK_NS) {
        int run = runnable_now();
        __atomic_store_n(&crowded, run > __atomic_load_n(&online,
                                                         __ATOMIC_RELAXED),
                         __ATOMIC_RELAXED);
        __atomic_store_n(&checked_s, t.tv_sec, __ATOMIC_RELAXED);
        __atomic_store_n(&checked_ns, t.tv_nsec, __ATOMIC_RELAXED);
    }
    return !__atomic_load_n(&crowded, __ATOMIC_RELAXED);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

bool sharr__spin_while(const uint32_t *word, uint32_t val)
{
    struct timespec t0, t;

    if (!worth_spinning())
        return false;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != val)
                return true;
            cpu_relax();
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) >
            SPIN_NS)
            return false;
    }
}

/* ---- robust mutexes ---- */

_Static_assert(sizeof(pthread_mutex_t) <= 64, "a mutex fits its 64 bytes");

int sharr__mutex_init(void *m, bool recursive)
{
    pthread_mutexattr_t attr;
    int rc;

    if ((rc = pthread_mutexattr_init(&attr)) != 0)
        return -rc;
    rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (rc == 0)
        rc = pthread_mutexattr_settype(&attr, recursive
                                                  ? PTHREAD_MUTEX_RECURSIVE
                                                  : PTHREAD_MUTEX_ERRORCHECK);
    if (rc == 0)
        rc = pthread_mutex_init((pthread_mutex_t *)m, &attr);
    pthread_mutexattr_destroy(&attr);
    return -rc;
}

int sharr__mutex_check(const void *m, bool recursive, const char *name)
{
    pthread_mutex_t fresh;
    int want;

    /* The type word glibc keeps in a mutex (robust, shared, recursive or
     * error-checking) is set by init and never changes: if it is not what
     * init writes, the bytes are not our mutex, and glibc must not be
     * handed them. */
    if (sharr__mutex_init(&fresh, recursive) < 0)
        return sharr__fail(SHARR_ENOMEM, "initializing a mutex");
    want = fresh.__data.__kind;
    pthread_mutex_destroy(&fresh);
    if (((const pthread_mutex_t *)m)->__data.__kind != want)
        return sharr__fail(SHARR_ECORRUPT, "'%s' is corrupt: a mutex in it "
                           "is not one (type word 0x%x, expected 0x%x)",
                           name, ((const pthread_mutex_t *)m)->__data.__kind,
                           want);
    return 0;
}

/* A sleeping locker looks at the lock again at least this often.  glibc
 * wakes one waiter when a robust mutex is released, and the kernel one when
 * its holder dies; if that one is killed before it takes the lock, the
 * wake-up is lost and the others would sleep until their timeout (for
 * ever without one): glibc does not look at the lock again when a timed
 * wait ends.  A slice bounds what a lost wake-up costs; a hand-off is
 * still a futex wake. */
#define LOCK_SLICE 0.1

/* Whether the lock names a holder thread that does not exist, and that the
 * kernel did not mark dead: no release or wake-up will ever come.  A
 * holder that exits or execs has its robust list walked by the kernel,
 * which sets OWNER_DIED, so only bytes that sharr did not write (or a
 * holder in another PID namespace, whose thread ids are not ours) look
 * like this.  The word is read again after the check: a holder that
 * released and exited in between is not an orphan. */
static bool orphaned(const void *m, pid_t *tid)
{
    bool died;
    uint32_t word;

    *tid = sharr__mutex_holder(m, &died);
    if (*tid == 0 || died || kill(*tid, 0) == 0 || errno != ESRCH)
        return false;
    memcpy(&word, m, sizeof word);
    return (pid_t)(word & FUTEX_TID_MASK) == *tid;
}

int sharr__mutex_lock(void *m, const struct sharr__deadline *d)
{
    pthread_mutex_t *mx = m;
    pid_t tid;
    int rc;

    /* Uncontended: one trylock, no clock read. */
    rc = pthread_mutex_trylock(mx);
    if (rc == EBUSY && !d->now) {
        for (;;) {
            struct sharr__deadline s = sharr__slice(d, LOCK_SLICE);
            rc = pthread_mutex_clocklock(mx, CLOCK_MONOTONIC, &s.at);
            if (rc != ETIMEDOUT || sharr__expired(d))
                break;
            if (orphaned(m, &tid))
                return sharr__fail(SHARR_ECORRUPT, "a lock is held by "
                                   "thread %d, which does not exist and "
                                   "was not marked dead: the object was "
                                   "written by something other than sharr "
                                   "(or by another PID namespace); remove "
                                   "it and create it again", (int)tid);
        }
    }
    switch (rc) {
    case 0:
        return 0;
    case EOWNERDEAD:
        /* The holder died: the lock is ours; whatever it protected is the
         * caller's to judge or repair. */
        pthread_mutex_consistent(mx);
        return 1;
    case EBUSY: /* trylock: an error-checking mutex says EBUSY to its owner */
        return sharr__mutex_mine(m) ? SHARR_EBUSY : SHARR_ETIMEDOUT;
    case ETIMEDOUT:
        return SHARR_ETIMEDOUT;
    case EDEADLK:
        return SHARR_EBUSY;
    case ENOTRECOVERABLE:
        return sharr__fail(SHARR_ECORRUPT, "the lock is not recoverable "
                           "(released after its holder died without being "
                           "repaired): remove the object and create it "
                           "again");
    default:
        return sharr__fail(SHARR_ECORRUPT, "locking: %s", strerror(rc));
    }
}

int sharr__internal_lock(void *m, const struct sharr__deadline *d)
{
    struct sharr__deadline now = {.now = true}, by;
    int rc = sharr__mutex_lock(m, &now);

    if (rc != SHARR_ETIMEDOUT) /* busy: only now read the clock */
        return rc;
    if (d)
        by = sharr__at_least(d, SHARR__LOCK_GRACE);
    else
        sharr__deadline(SHARR__LOCK_BOUND, &by);
    rc = sharr__mutex_lock(m, &by);
    if (rc == SHARR_ETIMEDOUT) {
        bool died;
        return sharr__fail(SHARR_ETIMEDOUT, "an internal lock was held by "
                           "thread %d all the time (stopped inside a call?)",
                           (int)sharr__mutex_holder(m, &died));
    }
    return rc;
}

int sharr__mutex_unlock(void *m)
{
    return pthread_mutex_unlock((pthread_mutex_t *)m) == 0 ? 0 : SHARR_EPERM;
}

bool sharr__mutex_mine(const void *m)
{
    bool died;
    return sharr__mutex_holder(m, &died) == (pid_t)syscall(SYS_gettid);
}
