/*
 * guardian.c - removal of temporary arrays when their owner process exits,
 * and the process facts (alive? start time?) the store relies on.
 *
 * One guardian per (creating process, watched process) pair: a grandchild of
 * the creator (double fork, so the creator never has to reap it and a
 * wait(-1) in user code never blocks on it) in its own session (so a Ctrl-C
 * to the job's process group does not kill it before it has cleaned up).  It
 * holds a pidfd of the watched process and the receiving end of a
 * SOCK_SEQPACKET socket on which the creator sends one record (name, id) per
 * temporary array *before* creating it.  When the watched process exits, by
 * any means including SIGKILL, the pidfd becomes readable and the guardian
 * unlinks each registered name whose control block still carries the
 * registered id, so it never removes an array it did not create (the flaw of
 * Python's shared resource tracker, CPython issue 82300), then exits.  It
 * removes only the file it checked (sharr__unlink_checked), and it holds no
 * mapping of any segment: right after the fork it unmaps everything of
 * /dev/shm/sharr.* it inherited, before the creator goes on, so a removed
 * array's memory never stays pinned by a guardian.
 *
 * Process facts: a pid is judged alive or gone only in the PID namespace
 * and boot that numbered it (sharr__owner_alive); anything else is unknown.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { REC_ADD, REC_ADD_ANY, REC_FORGET };

struct record {
    unsigned char id[16];
    unsigned char op;        /* REC_ADD: unlink if the id matches;
                                REC_ADD_ANY: whatever the name holds;
                                REC_FORGET: drop an earlier REC_ADD */
    char name[SHARR_NAME_MAX + 1];
};

struct guardian {
    pid_t creator; /* the process that spawned it: a forked child must not
                      use its parent's guardian */
    pid_t watch;
    int fd;
    bool used;
};

#define MAX_GUARDIANS 4
static struct guardian guardians[MAX_GUARDIANS];
static pthread_mutex_t guardians_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- process facts ---- */

void sharr__child_exit(int status)
{
#ifdef SHARR_COVERAGE
    exit(status);
#else
    _exit(status);
#endif
}

/* Field 3 (state) and field 22 (start time) of /proc/PID/stat. */
static int read_proc_stat(pid_t pid, char *state, uint64_t *start)
{
    char path[64], buf[1024];
    const char *p;
    ssize_t n;
    int fd;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and ')': skip to the last. */
    if (!(p = strrchr(buf, ')')) || p[1] != ' ')
        return -1;
    p += 2;
    *state = *p;
    for (int field = 3; field < 22; field++) {
        if (!(p = strchr(p, ' ')))
            return -1;
        p++;
    }
    *start = strtoull(p, NULL, 10);
    return 0;
}

/* Whether /proc numbers processes as the caller's PID namespace does: a
 * process in a new PID namespace that kept its parent's /proc sees other
 * processes under /proc/PID than kill(PID) reaches. */
static bool proc_is_ours(void)
{
    char buf[32];
    ssize_t n = readlink("/proc/self", buf, sizeof buf - 1);

    if (n <= 0)
        return false;
    buf[n] = '\0';
    return strtol(buf, NULL, 10) == (long)getpid();
}

uint64_t sharr__proc_start(pid_t pid)
{
    char state;
    uint64_t start;

    if (!proc_is_ours())
        return 0;
    return read_proc_stat(pid, &state, &start) == 0 ? start : 0;
}

int sharr__proc_alive(pid_t pid, uint64_t start)
{
    char state;
    uint64_t now;

    if (pid <= 0)
        return 0;
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return 0;
    if (!proc_is_ours() || read_proc_stat(pid, &state, &now) < 0)
        return 1; /* exists (kill said so) but /proc cannot tell us more */
    if (state == 'Z' || state == 'X')
        return 0;
    return start == 0 || now == start;
}

/* The 32 hex digits of /proc/sys/kernel/random/boot_id into id (zeros if
 * it cannot be read). */
static void read_boot_id(unsigned char id[16])
{
    char buf[64];
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    size_t digits = 0;

    memset(id, 0, 16);
    if (fd >= 0)
        close(fd);
    for (ssize_t i = 0; i < n && digits < 32; i++) {
        char c = buf[i];
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                                            : 16;
        if (c == '-')
            continue;
        if (d == 16)
            break;
        id[digits / 2] |= (unsigned char)(digits % 2 ? d : d << 4);
        digits++;
    }
    if (digits != 32)
        memset(id, 0, 16);
}

void sharr__origin_self(struct sharr__origin *o)
{
    struct stat st;

    memset(o, 0, sizeof *o);
    /* stat follows the magic link to the namespace's nsfs inode. */
    if (stat("/proc/self/ns/pid", &st) == 0) {
        o->pidns_dev = (uint64_t)st.st_dev;
        o->pidns_ino = (uint64_t)st.st_ino;
    }
    read_boot_id(o->boot_id);
}

static bool origin_known(const struct sharr__origin *o)
{
    static const unsigned char none[16];
    return o->pidns_ino != 0 && memcmp(o->boot_id, none, sizeof none) != 0;
}

int sharr__owner_alive(pid_t pid, uint64_t start,
                       const struct sharr__origin *o)
{
    struct sharr__origin me;

    sharr__origin_self(&me);
    /* A pid means nothing outside its namespace and boot: there, judging
     * it would remove the arrays of live processes of other containers. */
    if (pid <= 0 || !origin_known(o) || !origin_known(&me) ||
        o->pidns_dev != me.pidns_dev || o->pidns_ino != me.pidns_ino ||
        memcmp(o->boot_id, me.boot_id, sizeof me.boot_id) != 0)
        return SHARR__UNKNOWN;
    return sharr__proc_alive(pid, start);
}

/* ---- the guardian process ---- */

/* Unlink sharr.NAME if it holds the segment whose control block carries
 * `id` (or, for a name unique to its creator, in any case).  The segment
 * is opened without blocking or following links, and only the file that
 * was checked is removed, never one that took the name since. */
static void remove_if_ours(const struct record *r)
{
    char entry[SHARR_NAME_MAX + 16];
    struct sharr__ctl ctl;
    struct stat st;
    int fd;

    snprintf(entry, sizeof entry, SHARR__PREFIX "%s", r->name);
    if (r->op == REC_ADD_ANY) {
        char path[SHARR_NAME_MAX + 32];
        snprintf(path, sizeof path, SHARR__SHM_DIR "/%s", entry);
        unlink(path);
        return;
    }
    if ((fd = sharr__shm_open(entry, O_RDONLY, 0, &st)) < 0)
        return;
    if (st.st_size >= 2 * SHARR__PAGE && st.st_size % SHARR__PAGE == 0 &&
        sharr__pread_all(fd, &ctl, sizeof ctl,
                         st.st_size - SHARR__CTL_SIZE) == 0 &&
        memcmp(ctl.id, r->id, sizeof ctl.id) == 0)
        sharr__unlink_checked(entry, &st);
    close(fd);
}

/* Receive every queued record; returns 0 at end of stream, 1 otherwise. */
static int receive(int sock, struct record **list, size_t *n, size_t *cap,
                   int flags)
{
    for (;;) {
        struct record r;
        ssize_t got = recv(sock, &r, sizeof r, flags);
        if (got == 0)
            return 0;
        if (got < 0)
            return errno == EINTR ? 1 : (errno == EAGAIN ? 1 : 0);
        if (got != (ssize_t)sizeof r)
            continue;
        r.name[SHARR_NAME_MAX] = '\0';
        if (r.op == REC_FORGET) {
            static const unsigned char none[16];
            bool any = memcmp(r.id, none, sizeof none) == 0;
            for (size_t i = *n; i-- > 0;)
                if (strcmp((*list)[i].name, r.name) == 0 &&
                    (any ? (*list)[i].op == REC_ADD_ANY
                         : memcmp((*list)[i].id, r.id, sizeof r.id) == 0))
                    (*list)[i] = (*list)[--*n];
            flags |= MSG_DONTWAIT;
            continue;
        }
        if (*n == *cap) {
            size_t c = *cap ? 2 * *cap : 16;
            struct record *bigger = realloc(*list, c * sizeof **list);
            if (!bigger)
                continue; /* cannot happen in practice; drop, do not die */
            *list = bigger;
            *cap = c;
        }
        (*list)[(*n)++] = r;
        flags |= MSG_DONTWAIT;
    }
}

/* Leave the caller's session and descriptors; *sock and *pidfd are moved
 * above the standard descriptors, which may be among them when the caller
 * runs with stdin closed. */
static void detach_from_caller(int *sock, int *pidfd)
{
    int s = fcntl(*sock, F_DUPFD, 10);
    int p = *pidfd >= 0 ? fcntl(*pidfd, F_DUPFD, s + 1) : -1;
    int null;

    setsid();
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_NAME, "sharr-guardian", 0, 0, 0);
    /* Hold no descriptor of the caller's: a pipe it shares with a shell
     * would otherwise stay open until the guardian exits. */
    close_range(0, (unsigned)s - 1, 0);
    if (p >= 0 && p > s + 1)
        close_range((unsigned)s + 1, (unsigned)p - 1, 0);
    close_range((unsigned)(p >= 0 ? p : s) + 1, ~0u, 0);
    if ((null = open("/dev/null", O_RDWR)) == 0) {
        dup2(null, 1);
        dup2(null, 2);
    }
    *sock = s;
    *pidfd = p;
}

__attribute__((noreturn)) static void guardian_main(int sock, int pidfd,
                                                    pid_t watch,
                                                    uint64_t start)
{
    struct record *list = NULL;
    size_t n = 0, cap = 0;

    detach_from_caller(&sock, &pidfd);
    /* Hold no mapping of the caller's arrays (nor of its hidden builds):
     * the guardian lives as long as the caller, and a mapping would keep a
     * removed array's memory out of /dev/shm all that time.  Then say so:
     * the creator waits for it, so that memory it frees from now on comes
     * back at once. */
    sharr__unmap_segments();
    (void)!send(sock, "r", 1, MSG_NOSIGNAL);
    for (;;) {
        struct pollfd p[2] = {{sock, POLLIN, 0}, {pidfd, POLLIN, 0}};
        /* Without a pidfd (old kernel), look every half second. */
        int rc = poll(p, 2, pidfd >= 0 ? -1 : 500);
        if (rc < 0 && errno != EINTR)
            break;
        if (p[0].revents & (POLLIN | POLLHUP)) {
            if (!receive(sock, &list, &n, &cap, 0))
                sock = -1; /* writer gone (exec or exit): wait for pidfd */
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
            break;
        if (pidfd < 0 && !sharr__proc_alive(watch, start))
            break;
    }
    if (sock >= 0)
        receive(sock, &list, &n, &cap, MSG_DONTWAIT);
    for (size_t i = 0; i < n; i++)
        remove_if_ours(&list[i]);
    sharr__child_exit(0);
}

static int reap(pid_t pid)
{
    int status;
    pid_t rc;

    do {
        rc = waitpid(pid, &status, 0);
    } while (rc < 0 && errno == EINTR);
    /* ECHILD: a SIGCHLD handler of the caller's, or SIG_IGN, reaped it. */
    if (rc < 0)
        return errno == ECHILD ? 0 : -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Wait (at most 10 s) for the new guardian's "ready": it has dropped the
 * mappings it inherited. */
static int wait_ready(int sock)
{
    struct pollfd p = {sock, POLLIN, 0};
    char c;
    int rc;

    do {
        rc = poll(&p, 1, 10000);
    } while (rc < 0 && errno == EINTR);
    if (rc == 1 && recv(sock, &c, 1, MSG_DONTWAIT) == 1)
        return 0;
    return sharr__fail(SHARR_ENOMEM, "the guardian of temporary arrays did "
                       "not start (%s)", rc == 0 ? "no answer in 10 s"
                                                 : "it died");
}

static int spawn(pid_t watch, int *out)
{
    int sv[2] = {-1, -1}, pidfd, err;
    uint64_t start = sharr__proc_start(watch);
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return sharr__fail_os(-errno, "guardian socketpair");
    pidfd = (int)syscall(SYS_pidfd_open, watch, 0);
    if (pidfd < 0 && errno != ENOSYS) {
        err = sharr__fail_os(-errno, "pidfd_open(%d)", (int)watch);
        goto fail;
    }
    /* A parent that died before pidfd_open leaves us re-parented: the pid may
     * already name another process. */
    if (watch != getpid() && getppid() != watch) {
        err = sharr__fail(SHARR_EINVAL, "owner process %d is gone",
                          (int)watch);
        goto fail;
    }
    if ((pid = fork()) < 0) {
        err = sharr__fail_os(-errno, "fork of the guardian");
        goto fail;
    }
    if (pid == 0) {
        pid_t g = fork();
        if (g == 0) {
            close(sv[1]);
            guardian_main(sv[0], pidfd, watch, start);
        }
        sharr__child_exit(g < 0 ? 1 : 0);
    }
    if (reap(pid) < 0) {
        err = sharr__fail(SHARR_ENOMEM, "could not start the guardian of "
                          "temporary arrays (fork failed)");
        goto fail;
    }
    close(sv[0]);
    sv[0] = -1;
    if ((err = wait_ready(sv[1])) < 0)
        goto fail;
    if (pidfd >= 0)
        close(pidfd);
    *out = sv[1];
    return 0;
fail:
    if (sv[0] >= 0)
        close(sv[0]);
    close(sv[1]);
    if (pidfd >= 0)
        close(pidfd);
    return err;
}

/* Close our connection to a guardian and free its slot. */
static void forget(struct guardian *g)
{
    close(g->fd);
    g->used = false;
}

/* The live guardian of (this process, watch), spawning it if needed. */
static int guardian_fd(pid_t watch, bool respawn, int *fd)
{
    pid_t self = getpid();
    struct guardian *slot = NULL;
    int err;

    for (int i = 0; i < MAX_GUARDIANS; i++) {
        struct guardian *g = &guardians[i];
        if (g->used && g->creator != self)
            forget(g); /* inherited from the parent across fork */
        if (g->used && g->watch == watch) {
            if (!respawn) {
                *fd = g->fd;
                return 0;
            }
            forget(g);
        }
        if (!g->used && !slot)
            slot = g;
    }
    if (!slot)
        return sharr__fail(SHARR_EINVAL, "too many distinct owner processes "
                           "for temporary arrays");
    if ((err = spawn(watch, &slot->fd)) < 0)
        return err;
    slot->used = true;
    slot->creator = self;
    slot->watch = watch;
    *fd = slot->fd;
    return 0;
}

/* No lock: called in a freshly forked single-threaded child, where another
 * thread of the parent may have held guardians_lock at the fork. */
void sharr__guardian_drop_inherited(void)
{
    for (int i = 0; i < MAX_GUARDIANS; i++)
        if (guardians[i].used)
            forget(&guardians[i]);
    pthread_mutex_init(&guardians_lock, NULL);
}

/* Send one record (name, id or none, op) to the guardian of `watch`. */
static int send_record(pid_t watch, const char *name,
                       const unsigned char *id, unsigned char op)
{
    struct record r;
    int fd = -1, err = 0;

    if (watch != getpid() && watch != getppid())
        return sharr__fail(SHARR_EINVAL, "the owner of a temporary array "
                           "must be the caller (%d) or its parent (%d), not "
                           "%d", (int)getpid(), (int)getppid(), (int)watch);
    memset(&r, 0, sizeof r);
    if (id)
        memcpy(r.id, id, sizeof r.id);
    r.op = op;
    snprintf(r.name, sizeof r.name, "%s", name);
    pthread_mutex_lock(&guardians_lock);
    for (int attempt = 0; attempt < 2; attempt++) {
        if ((err = guardian_fd(watch, attempt > 0, &fd)) < 0)
            break;
        if (send(fd, &r, sizeof r, MSG_NOSIGNAL) == (ssize_t)sizeof r) {
            err = 0;
            break;
        }
        /* The guardian was killed: start a new one and send again. */
        err = sharr__fail_os(-errno, "sending to the guardian");
    }
    pthread_mutex_unlock(&guardians_lock);
    return err;
}

int sharr__guardian_register(pid_t watch, const char *name,
                             const unsigned char id[16])
{
    return send_record(watch, name, id, id ? REC_ADD : REC_ADD_ANY);
}

int sharr__guardian_forget(pid_t watch, const char *name,
                           const unsigned char id[16])
{
    return send_record(watch, name, id, REC_FORGET);
}
