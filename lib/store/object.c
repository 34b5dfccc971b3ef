/*
 * object.c - named objects other than arrays: queues, pipes, locks,
 * semaphores, events, conditions, barriers.  Their format, creation,
 * validation and state as listings show it; what they do is lib/ipc's.
 *
 * Invariants.  An object is [state | control block], the control block
 * being the arrays' (struct sharr__ctl) with version 2 and a kind, so the
 * guardian, gc and listings treat every kind alike (they read the control
 * block at the end and its id).  It is built as an array is: an unnamed
 * file sized and given its control block (INCOMPLETE magic), linked under
 * a hidden ".new.PID.HEX" name, reserved, mapped, initialized by the
 * kind's init(), its magic stored last after a release fence, then linked
 * to its name (link(2) fails on a taken name, like O_EXCL).  Open copies
 * the control block out with pread and checks every field against fstat
 * before mapping; the parameters used afterwards are that private copy.
 * Fork: a mapping is inherited and stays valid in the child.
 */
#define _GNU_SOURCE /* O_TMPFILE, linkat, struct pthread_mutex internals */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(struct sharr__ring_state) <= SHARR__PAGE,
               "a queue direction's state must fit its page");
_Static_assert(sizeof(struct sharr__lock_state) <= SHARR__PAGE &&
               sizeof(struct sharr__sem_state) <= SHARR__PAGE &&
               sizeof(struct sharr__event_state) <= SHARR__PAGE,
               "sync states fit a page");
_Static_assert(sizeof(struct sharr__params) + SHARR__PARAMS_OFFSET <=
               SHARR__CTL_SIZE, "parameters fit the control block");
_Static_assert(sizeof(struct sharr__party) == 32, "party slot layout");
_Static_assert(sizeof(struct sharr__barrier_state) == 104, "barrier layout");

#define FUTEX_TID_MASK_ 0x3fffffffu
#define FUTEX_OWNER_DIED_ 0x40000000u

static const char *const kind_names[SHARR_NKINDS] = {
    "array", "queue", "pipe", "lock", "rlock", "semaphore", "event",
    "condition", "barrier"};

const char *sharr_kind_name(sharr_kind kind)
{
    return (unsigned)kind < SHARR_NKINDS ? kind_names[kind] : "unknown";
}

const char *sharr__a_kind(sharr_kind kind)
{
    static const char *const with_article[SHARR_NKINDS] = {
        "an array", "a queue", "a pipe", "a lock", "an rlock",
        "a semaphore", "an event", "a condition", "a barrier"};
    return (unsigned)kind < SHARR_NKINDS ? with_article[kind]
                                         : "an object of unknown kind";
}

/* ---- parameters and sizes ---- */

static uint64_t round_pow2(uint64_t v)
{
    uint64_t r = 1;
    while (r < v)
        r <<= 1;
    return r;
}

/* A size of 0: the parameters are invalid (err's detail says why). */
static size_t no_size(int err)
{
    (void)err;
    return 0;
}

static int check_unused(const struct sharr__params *p, int from)
{
    for (int i = from; i < 8; i++)
        if (p->p[i] != 0)
            return sharr__fail(SHARR_EINVAL, "parameter %d = %llu must be 0",
                               i, (unsigned long long)p->p[i]);
    return 0;
}

/* The record a message of len bytes takes in a ring. */
static uint64_t rec_size(uint64_t len)
{
    return 8 + ((len + 7) & ~(uint64_t)7);
}

static size_t queue_size(const struct sharr__params *p, uint64_t dirs)
{
    uint64_t cap = p->p[0], max = p->p[1], ring = p->p[2];

    if (p->p[3] != dirs)
        return no_size(sharr__fail(SHARR_EINVAL, "directions = %llu, "
                                   "expected %llu",
                                   (unsigned long long)p->p[3],
                                   (unsigned long long)dirs));
    if (max > SHARR_QUEUE_MAX_MSG_LIMIT)
        return no_size(sharr__fail(SHARR_EINVAL, "max_msg = %llu exceeds "
                                   "%zu", (unsigned long long)max,
                                   SHARR_QUEUE_MAX_MSG_LIMIT));
    if (cap > SHARR_QUEUE_MAX_CAPACITY || cap < rec_size(max))
        return no_size(sharr__fail(SHARR_EINVAL, "capacity = %llu: it must "
                                   "be at least %llu (one message of max_msg "
                                   "= %llu bytes with its 8-byte header) and "
                                   "at most %zu", (unsigned long long)cap,
                                   (unsigned long long)rec_size(max),
                                   (unsigned long long)max,
                                   SHARR_QUEUE_MAX_CAPACITY));
    if (ring != round_pow2(cap < SHARR__PAGE ? SHARR__PAGE : cap))
        return no_size(sharr__fail(SHARR_EINVAL, "ring = %llu does not match "
                                   "the capacity %llu",
                                   (unsigned long long)ring,
                                   (unsigned long long)cap));
    if (check_unused(p, 4) < 0)
        return 0;
    return (size_t)(dirs * (SHARR__PAGE + ring));
}

/* Party slots of a barrier of n parties: room for each to reopen it once
 * while its old handle is still registered, and some spare. */
static uint64_t party_slots(uint64_t parties)
{
    return 2 * parties + 16;
}

static size_t barrier_size(const struct sharr__params *p)
{
    uint64_t n = p->p[0], bytes;

    if (n < 1 || n > SHARR_BARRIER_MAX_PARTIES)
        return no_size(sharr__fail(SHARR_EINVAL, "parties = %llu: a barrier "
                                   "has 1..%d", (unsigned long long)n,
                                   SHARR_BARRIER_MAX_PARTIES));
    if (p->p[1] != party_slots(n))
        return no_size(sharr__fail(SHARR_EINVAL, "party slots = %llu, "
                                   "expected %llu",
                                   (unsigned long long)p->p[1],
                                   (unsigned long long)party_slots(n)));
    if (check_unused(p, 2) < 0)
        return 0;
    bytes = sizeof(struct sharr__barrier_state) +
            p->p[1] * sizeof(struct sharr__party);
    return (size_t)((bytes + SHARR__PAGE - 1) & ~(uint64_t)(SHARR__PAGE - 1));
}

size_t sharr__obj_state_size(sharr_kind kind, const struct sharr__params *p)
{
    switch (kind) {
    case SHARR_KIND_QUEUE:
        return queue_size(p, 1);
    case SHARR_KIND_PIPE:
        return queue_size(p, 2);
    case SHARR_KIND_LOCK: case SHARR_KIND_RLOCK: case SHARR_KIND_EVENT:
    case SHARR_KIND_CONDITION:
        return check_unused(p, 0) < 0 ? 0 : SHARR__PAGE;
    case SHARR_KIND_SEMAPHORE:
        if (p->p[0] > INT32_MAX || p->p[1] > INT32_MAX ||
            (p->p[0] && p->p[1] > p->p[0]))
            return no_size(sharr__fail(SHARR_EINVAL, "semaphore value %llu "
                                       "and bound %llu: the value may not "
                                       "exceed the bound, nor either 2^31 - "
                                       "1", (unsigned long long)p->p[1],
                                       (unsigned long long)p->p[0]));
        return check_unused(p, 2) < 0 ? 0 : SHARR__PAGE;
    case SHARR_KIND_BARRIER:
        return barrier_size(p);
    default:
        return no_size(sharr__fail(SHARR_EINVAL, "kind = %u is not a kind of "
                                   "named object", (unsigned)kind));
    }
}

/* ---- validation of a private copy of the control block ---- */

static int ctl_fields(const struct sharr__ctl *ctl, size_t size)
{
    if (ctl->ctl_size != SHARR__CTL_SIZE)
        return sharr__fail(SHARR_ECORRUPT, "ctl_size = %u, expected %u",
                           ctl->ctl_size, SHARR__CTL_SIZE);
    if (ctl->kind == SHARR_KIND_ARRAY || ctl->kind >= SHARR_NKINDS)
        return sharr__fail(SHARR_ECORRUPT, "kind = %u is not a kind of "
                           "named object", ctl->kind);
    if (ctl->dtype != 0 || ctl->ndim != 0)
        return sharr__fail(SHARR_ECORRUPT, "dtype = %u, ndim = %u: both must "
                           "be 0 for %s", ctl->dtype, ctl->ndim,
                           sharr__a_kind(ctl->kind));
    for (size_t i = 0; i < SHARR_MAX_NDIM; i++)
        if (ctl->shape[i] != 0)
            return sharr__fail(SHARR_ECORRUPT, "shape[%zu] = %llu must be 0 "
                               "for %s", i,
                               (unsigned long long)ctl->shape[i],
                               sharr__a_kind(ctl->kind));
    if (ctl->flags & ~SHARR_CREATE_TEMP)
        return sharr__fail(SHARR_ECORRUPT, "flags = 0x%x has unknown bits",
                           ctl->flags);
    if (ctl->data_offset != 0)
        return sharr__fail(SHARR_ECORRUPT, "data_offset = %llu must be 0 "
                           "for %s", (unsigned long long)ctl->data_offset,
                           sharr__a_kind(ctl->kind));
    if (size < 2 * SHARR__PAGE || size % SHARR__PAGE != 0)
        return sharr__fail(SHARR_ECORRUPT, "segment is %zu bytes: not a "
                           "multiple of %u of at least %u (truncated?)", size,
                           SHARR__PAGE, 2 * SHARR__PAGE);
    return 0;
}

/* Check the version-2 control block *ctl with parameters *p against the
 * real size.  @return 0 or SHARR_ECORRUPT naming the field. */
static int validate(const struct sharr__ctl *ctl,
                    const struct sharr__params *p, size_t size)
{
    size_t state;
    int err;

    if (memcmp(ctl->magic, SHARR__MAGIC_INCOMPLETE, 8) == 0)
        return sharr__fail(SHARR_ECORRUPT, "segment is incomplete: its "
                           "creation did not finish");
    if (memcmp(ctl->magic, SHARR__MAGIC, 8) != 0)
        return sharr__fail(SHARR_ECORRUPT, "no sharr magic in the control "
                           "block: truncated, or not a sharr object");
    if (ctl->version != SHARR__OBJ_VERSION)
        return sharr__fail(SHARR_ECORRUPT, "layout version %u %s",
                           ctl->version, ctl->version > SHARR__OBJ_VERSION
                               ? "is newer than this library's (2): upgrade "
                                 "sharr to open it" : "is invalid");
    if ((err = ctl_fields(ctl, size)) < 0)
        return err;
    if ((state = sharr__obj_state_size((sharr_kind)ctl->kind, p)) == 0)
        return sharr__fail(SHARR_ECORRUPT, "%s: %s", sharr__a_kind(ctl->kind),
                           sharr_errmsg());
    if (ctl->nbytes != state || ctl->ctl_offset != state)
        return sharr__fail(SHARR_ECORRUPT, "nbytes = %llu, ctl_offset = %llu: "
                           "%s with these parameters has %zu bytes of state",
                           (unsigned long long)ctl->nbytes,
                           (unsigned long long)ctl->ctl_offset,
                           sharr__a_kind(ctl->kind), state);
    if (ctl->total_size != size || size != state + SHARR__CTL_SIZE)
        return sharr__fail(SHARR_ECORRUPT, "segment is %zu bytes, its "
                           "control block says %llu and its state needs %zu",
                           size, (unsigned long long)ctl->total_size,
                           state + SHARR__CTL_SIZE);
    return 0;
}

/* Read the control block and parameters of the segment open on fd (of
 * `size` bytes). */
static int read_ctl(int fd, size_t size, struct sharr__ctl *ctl,
                    struct sharr__params *p)
{
    int err;

    if (size < 2 * SHARR__PAGE || size % SHARR__PAGE != 0)
        return sharr__fail(SHARR_ECORRUPT, "segment is %zu bytes: not a "
                           "multiple of %u of at least %u (truncated?)", size,
                           SHARR__PAGE, 2 * SHARR__PAGE);
    if ((err = sharr__pread_all(fd, ctl, sizeof *ctl,
                                (off_t)(size - SHARR__CTL_SIZE))) < 0 ||
        (err = sharr__pread_all(fd, p, sizeof *p,
                                (off_t)(size - SHARR__CTL_SIZE +
                                        SHARR__PARAMS_OFFSET))) < 0)
        return err;
    return 0;
}

/* ---- creation ---- */

static void entry_name(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, SHARR__PREFIX "%s", name);
}

static void entry_path(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, SHARR__SHM_DIR "/" SHARR__PREFIX "%s", name);
}

int sharr__taken(const char *name, sharr_kind want)
{
    sharr_info in;
    int st = sharr_stat(name, &in);

    if (st == 0)
        return sharr__fail(SHARR_EEXIST, "'%s' already exists: it is %s%s",
                           name, sharr__a_kind(in.kind),
                           in.kind == want ? "" : ", not a new one");
    return sharr__fail(SHARR_EEXIST, "'%s' already exists (not a valid sharr "
                       "object: sharr rm removes it)", name);
}

static int check_space(size_t total)
{
    struct statvfs vfs;
    unsigned long long avail;

    if (statvfs(SHARR__SHM_DIR, &vfs) < 0)
        return 0; /* posix_fallocate still catches a full tmpfs */
    avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
    if (total > avail)
        return sharr__fail(SHARR_ENOSPC, "needs %zu bytes but "
                           SHARR__SHM_DIR " has %llu bytes free: remove "
                           "objects (sharr rm, sharr gc) or enlarge "
                           SHARR__SHM_DIR " (Docker: --shm-size)", total,
                           avail);
    return 0;
}

static void init_ctl(struct sharr__ctl *ctl, sharr_kind kind, size_t state,
                     unsigned flags, pid_t owner, const unsigned char id[16])
{
    struct timespec now;

    memset(ctl, 0, sizeof *ctl);
    memcpy(ctl->magic, SHARR__MAGIC_INCOMPLETE, 8);
    ctl->version = SHARR__OBJ_VERSION;
    ctl->ctl_size = SHARR__CTL_SIZE;
    ctl->kind = (uint32_t)kind;
    ctl->flags = flags;
    ctl->nbytes = state;
    ctl->ctl_offset = state;
    ctl->total_size = state + SHARR__CTL_SIZE;
    ctl->creator_pid = owner;
    ctl->creator_start = sharr__proc_start(owner);
    sharr__origin_self(&ctl->origin);
    clock_gettime(CLOCK_REALTIME, &now);
    ctl->created_sec = now.tv_sec;
    ctl->created_nsec = now.tv_nsec;
    memcpy(ctl->id, id, 16);
}

/* Size the new file on fd, write its control block (INCOMPLETE) and
 * parameters with pwrite (a full tmpfs: ENOSPC, never SIGBUS). */
static int prepare_file(int fd, const struct sharr__ctl *ctl,
                        const struct sharr__params *p, size_t size)
{
    off_t at = (off_t)(size - SHARR__CTL_SIZE);

    if (ftruncate(fd, (off_t)size) < 0)
        return sharr__fail_os(-errno, "ftruncate to %zu bytes", size);
    if (pwrite(fd, ctl, sizeof *ctl, at) != (ssize_t)sizeof *ctl ||
        pwrite(fd, p, sizeof *p, at + SHARR__PARAMS_OFFSET) !=
            (ssize_t)sizeof *p)
        return sharr__fail_os(errno ? -errno : SHARR_ENOSPC,
                              "writing the control block");
    return 0;
}

/* Make the hidden build file `hidden` (".new.PID.HEX"), its control block
 * in place before the name appears (an unnamed O_TMPFILE linked to it), so
 * a creator killed at any moment leaves nothing or a hidden name gc can
 * judge by its builder.  @return the fd, or an error (no hidden name). */
static int create_hidden(const char *hidden, const struct sharr__ctl *ctl,
                         const struct sharr__params *p, size_t size)
{
    char path[SHARR_NAME_MAX + 32], entry[SHARR_NAME_MAX + 16], self[64];
    struct stat st, was;
    int fd, tmp, err;

    entry_path(hidden, path, sizeof path);
    entry_name(hidden, entry, sizeof entry);
    tmp = open(SHARR__SHM_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (tmp >= 0) {
        snprintf(self, sizeof self, "/proc/self/fd/%d", tmp);
        if ((err = prepare_file(tmp, ctl, p, size)) < 0 ||
            fstat(tmp, &was) < 0 ||
            linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0) {
            close(tmp);
            if (err < 0)
                return err;
            tmp = -1; /* no /proc: the plain way below */
        }
    }
    if (tmp >= 0) {
        /* Reopen by name, so mappings show the name in /proc/PID/maps
         * (how sharr__unmap_segments() finds them in forked helpers). */
        close(tmp);
        fd = sharr__shm_open(entry, O_RDWR, 0, &st);
        if (fd >= 0 && (st.st_dev != was.st_dev || st.st_ino != was.st_ino)) {
            close(fd);
            fd = sharr__fail(SHARR_EBUSY, "the hidden build %s was replaced",
                             entry);
        }
        if (fd < 0)
            unlink(path);
        return fd;
    }
    if ((fd = sharr__shm_open(entry, O_RDWR | O_CREAT | O_EXCL, 0600,
                              &st)) < 0)
        return fd;
    if ((err = prepare_file(fd, ctl, p, size)) < 0) {
        unlink(path);
        close(fd);
        return err;
    }
    return fd;
}

/* Reserve, map and initialize the hidden build on fd, magic last. */
static int build(struct sharr__obj *o, int fd, unsigned mode,
                 int (*init)(unsigned char *, const struct sharr__params *))
{
    int rc;

    if (fchmod(fd, mode ? mode : 0600) < 0)
        return sharr__fail_os(-errno, "fchmod");
    rc = posix_fallocate(fd, 0, (off_t)o->size);
    if (rc == ENOSPC)
        return sharr__fail(SHARR_ENOSPC, "reserving %zu bytes in "
                           SHARR__SHM_DIR " failed: it is full; remove "
                           "objects (sharr rm, sharr gc) or enlarge it "
                           "(Docker: --shm-size)", o->size);
    if (rc != 0 && rc != EOPNOTSUPP)
        return sharr__fail_os(-rc, "posix_fallocate of %zu bytes", o->size);
    o->base = mmap(NULL, o->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (o->base == MAP_FAILED)
        return sharr__fail_os(-errno, "mmap of %zu bytes", o->size);
    o->ctl = (struct sharr__ctl *)(void *)(o->base + o->state_size);
    if (init && (rc = init(o->base, &o->params)) < 0)
        return rc;
    o->ctl->attach_count = 1;
    /* Everything above must be visible before the magic says "complete". */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(o->ctl->magic, SHARR__MAGIC, 8);
    return 0;
}

/* Link the complete build to its name (fails on a taken name), then drop
 * the hidden name either way. */
static int publish(const char *hidden, const char *name, sharr_kind kind)
{
    char from[SHARR_NAME_MAX + 32], to[SHARR_NAME_MAX + 32];
    int err = 0;

    entry_path(hidden, from, sizeof from);
    entry_path(name, to, sizeof to);
    if (link(from, to) < 0)
        err = errno == EEXIST ? sharr__taken(name, kind)
                              : sharr__fail_os(-errno, "cannot name %s '%s'",
                                               sharr_kind_name(kind), name);
    unlink(from);
    return err;
}

/* Everything of a creation after the checks: the hidden build, published.
 * On failure the hidden name is gone and o may hold a mapping. */
static int make(struct sharr__obj *o, const sharr_create_opts *opts,
                const char *hidden, const unsigned char id[16], pid_t owner,
                int (*init)(unsigned char *, const struct sharr__params *))
{
    struct sharr__ctl ctl;
    char path[SHARR_NAME_MAX + 32];
    int fd, err;

    init_ctl(&ctl, o->kind, o->state_size, opts->flags, owner, id);
    if ((fd = create_hidden(hidden, &ctl, &o->params, o->size)) < 0)
        return sharr__explain_create_failure(fd, sharr_kind_name(o->kind),
                                             o->name, hidden);
    if ((err = build(o, fd, opts->mode, init)) < 0) {
        close(fd);
        entry_path(hidden, path, sizeof path);
        unlink(path);
        return err;
    }
    close(fd);
    return publish(hidden, o->name, o->kind);
}

int sharr__obj_create(const char *name, sharr_kind kind,
                      const struct sharr__params *p,
                      int (*init)(unsigned char *,
                                  const struct sharr__params *),
                      const sharr_create_opts *opts, struct sharr__obj *o)
{
    static const sharr_create_opts defaults = {0, 0, 0};
    const sharr_create_opts *op = opts ? opts : &defaults;
    pid_t owner = op->owner ? op->owner : getpid();
    char path[SHARR_NAME_MAX + 32], hidden[64];
    unsigned char id[16];
    struct stat st;
    int err;

    memset(o, 0, sizeof *o);
    o->base = MAP_FAILED;
    if ((err = sharr_name_check(name)) < 0 || (err = sharr__check_create_opts(op, "object")) < 0)
        return err;
    snprintf(o->name, sizeof o->name, "%s", name);
    o->kind = kind;
    o->params = *p;
    if ((o->state_size = sharr__obj_state_size(kind, p)) == 0)
        return SHARR_EINVAL;
    o->size = o->state_size + SHARR__CTL_SIZE;
    entry_path(name, path, sizeof path);
    if (lstat(path, &st) == 0)
        return sharr__taken(name, kind);
    if ((err = check_space(o->size)) < 0 ||
        (err = sharr__random_bytes(id, sizeof id)) < 0)
        return err;
    snprintf(hidden, sizeof hidden, ".new.%d.%02x%02x%02x%02x%02x%02x%02x"
             "%02x", (int)getpid(), id[0], id[1], id[2], id[3], id[4], id[5],
             id[6], id[7]);
    /* Registered before anything exists: a crash at any later point still
     * gets both names removed (the hidden one whatever it holds). */
    if ((op->flags & SHARR_CREATE_TEMP) &&
        ((err = sharr__guardian_register(owner, name, id)) < 0 ||
         (err = sharr__guardian_register(owner, hidden, NULL)) < 0))
        return err;
    if ((err = make(o, op, hidden, id, owner, init)) < 0) {
        sharr__obj_close(o);
        return err;
    }
    if (op->flags & SHARR_CREATE_TEMP)
        sharr__guardian_forget(owner, hidden, NULL);
    return 0;
}

/* ---- open ---- */

/* EKIND for `name` holding `have` where one of `kinds` was wanted:
 * "'x' is a queue, not a lock or an rlock". */
static int wrong_kind(const char *name, sharr_kind have, unsigned kinds)
{
    char want[128] = "";
    size_t len = 0;

    for (unsigned k = 1; k < SHARR_NKINDS && len < sizeof want; k++)
        if (kinds & (1u << k))
            len += (size_t)snprintf(want + len, sizeof want - len, "%s%s",
                                    len ? " or " : "",
                                    sharr__a_kind((sharr_kind)k));
    return sharr__fail(SHARR_EKIND, "'%s' is %s, not %s", name,
                       sharr__a_kind(have), want);
}

/* Open `name` read-write and validate it into *ctl, *p. */
static int open_checked(const char *name, unsigned kinds,
                        struct sharr__ctl *ctl, struct sharr__params *p,
                        struct stat *st)
{
    char entry[SHARR_NAME_MAX + 16];
    int fd, err;

    entry_name(name, entry, sizeof entry);
    if ((fd = sharr__shm_open(entry, O_RDWR, 0, st)) < 0) {
        if (fd == SHARR_ENOENT)
            return sharr__fail(fd, "no object named '%s'", name);
        if (fd == SHARR_ECORRUPT)
            sharr__errmsg_prefix("'%s'", name);
        else
            sharr__fail_os(fd, "cannot open '%s'", name);
        return fd;
    }
    err = read_ctl(fd, (size_t)st->st_size, ctl, p);
    if (err == 0 && ctl->version == SHARR_LAYOUT_VERSION &&
        ctl->kind == SHARR_KIND_ARRAY &&
        memcmp(ctl->magic, SHARR__MAGIC, 8) == 0)
        err = wrong_kind(name, SHARR_KIND_ARRAY, kinds);
    else if (err == 0 && (err = validate(ctl, p, (size_t)st->st_size)) < 0)
        sharr__errmsg_prefix("'%s'", name);
    else if (err == 0 && !(kinds & (1u << ctl->kind)))
        err = wrong_kind(name, (sharr_kind)ctl->kind, kinds);
    if (err < 0) {
        close(fd);
        return err;
    }
    return fd;
}

int sharr__obj_open(const char *name, unsigned kinds, unsigned flags,
                    struct sharr__obj *o)
{
    struct sharr__ctl ctl;
    struct stat st;
    int fd, err;

    memset(o, 0, sizeof *o);
    o->base = MAP_FAILED;
    if ((err = sharr_name_check(name)) < 0)
        return err;
    if (flags & ~SHARR_OPEN_FOREIGN)
        return sharr__fail(SHARR_EINVAL, "unknown open flags 0x%x for a "
                           "named object (only SHARR_OPEN_FOREIGN)", flags);
    if ((fd = open_checked(name, kinds, &ctl, &o->params, &st)) < 0)
        return fd;
    if (st.st_uid != geteuid() && !(flags & SHARR_OPEN_FOREIGN)) {
        close(fd);
        return sharr__fail(SHARR_EFOREIGN, "'%s' is owned by uid %u, not by "
                           "you (uid %u): open it with SHARR_OPEN_FOREIGN to "
                           "trust it", name, (unsigned)st.st_uid,
                           (unsigned)geteuid());
    }
    snprintf(o->name, sizeof o->name, "%s", name);
    o->kind = (sharr_kind)ctl.kind;
    o->size = (size_t)st.st_size;
    o->state_size = o->size - SHARR__CTL_SIZE;
    o->base = mmap(NULL, o->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    err = o->base == MAP_FAILED ? -errno : 0;
    close(fd);
    if (err < 0)
        return sharr__fail_os(err, "mmap of '%s' (%zu bytes)", name,
                              o->size);
    o->ctl = (struct sharr__ctl *)(void *)(o->base + o->state_size);
    __atomic_fetch_add(&o->ctl->attach_count, 1, __ATOMIC_RELAXED);
    return 0;
}

void sharr__obj_close(struct sharr__obj *o)
{
    if (o == NULL || o->base == MAP_FAILED || o->base == NULL)
        return;
    if (o->ctl)
        __atomic_fetch_sub(&o->ctl->attach_count, 1, __ATOMIC_RELAXED);
    munmap(o->base, o->size);
    o->base = MAP_FAILED;
}

/* ---- state, as listings show it ---- */

pid_t sharr__mutex_holder(const void *mutex, bool *died)
{
    uint32_t word;

    /* The futex word of a robust mutex holds its owner's thread id and the
     * kernel's OWNER_DIED bit: that much is kernel ABI (robust futexes).
     * glibc keeps it in the first int of pthread_mutex_t. */
    memcpy(&word, mutex, sizeof word);
    *died = (word & FUTEX_OWNER_DIED_) != 0;
    return (pid_t)(word & FUTEX_TID_MASK_);
}

static void say(sharr_obj_state *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void say(sharr_obj_state *s, const char *fmt, ...)
{
    size_t len = strlen(s->text);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->text + len, sizeof s->text - len, fmt, ap);
    va_end(ap);
}

static void human(uint64_t n, char *buf, size_t size)
{
    if (n >= 1048576 && n % 1048576 == 0)
        snprintf(buf, size, "%llu MiB", (unsigned long long)(n >> 20));
    else if (n >= 1024 && n % 1024 == 0)
        snprintf(buf, size, "%llu KiB", (unsigned long long)(n >> 10));
    else
        snprintf(buf, size, "%llu B", (unsigned long long)n);
}

/* One direction's numbers from a copy of its state page. */
static void ring_numbers(const struct sharr__ring_state *r, uint64_t cap,
                         sharr_obj_state *s, int d)
{
    uint64_t bytes = r->tail - r->head;
    uint64_t put = sharr__ring_settled(&r->put_wal, &r->tail, &r->put_msgs);
    uint64_t got = sharr__ring_settled(&r->get_wal, &r->head, &r->get_msgs);

    s->msgs[d] = (size_t)(put >= got ? put - got : 0);
    s->bytes[d] = (size_t)(r->tail >= r->head && bytes <= cap ? bytes : 0);
    s->closed[d] = r->closed != 0;
    s->repairs += (size_t)(r->put_repairs + r->get_repairs);
    s->waiters += r->sleepers;
    if (d == 0 && put >= r->done)
        s->unfinished = (size_t)(put - r->done);
}

static void queue_state(const unsigned char *st, const struct sharr__params *p,
                        int dirs, sharr_obj_state *s)
{
    char cap[32], used[32];

    s->capacity = (size_t)p->p[0];
    s->max_msg = (size_t)p->p[1];
    human(p->p[0], cap, sizeof cap);
    for (int d = 0; d < dirs; d++) {
        /* read_state() put each direction's page after the other. */
        const struct sharr__ring_state *r = (const void *)
            (st + (size_t)d * SHARR__PAGE);
        ring_numbers(r, p->p[0], s, d);
        human(s->bytes[d], used, sizeof used);
        say(s, "%s%zu message%s (%s of %s)%s", d ? "; 1->0: " :
            dirs == 2 ? "0->1: " : "", s->msgs[d], s->msgs[d] == 1 ? "" : "s",
            used, cap, s->closed[d] ? ", closed" : "");
    }
    if (dirs == 1 && s->unfinished)
        say(s, ", %zu unfinished", s->unfinished);
}

static void lock_state(const struct sharr__lock_state *l, sharr_kind kind,
                       sharr_obj_state *s)
{
    bool died;

    s->holder = sharr__mutex_holder(l->mutex, &died);
    s->holder_died = died;
    s->waiters = l->sleepers;
    if (kind == SHARR_KIND_RLOCK && s->holder)
        s->depth = ((const pthread_mutex_t *)(const void *)l->mutex)
                       ->__data.__count;
    if (!s->holder)
        /* The kernel clears the thread id when it marks the holder dead. */
        say(s, "%s", died ? "free: its last holder died holding it (the "
                            "next locker recovers it)" : "free");
    else
        say(s, "held by %d%s", (int)s->holder,
            died ? ", who died holding it (the next locker recovers it)" : "");
    if (kind == SHARR_KIND_RLOCK && s->holder && !died)
        say(s, " (%u deep)", s->depth);
    if (kind == SHARR_KIND_CONDITION && l->sleepers)
        say(s, ", %u waiting", l->sleepers);
}

static void barrier_state(const struct sharr__barrier_state *b,
                          const struct sharr__params *p, sharr_obj_state *s)
{
    static const char *const why[] = {"", "aborted", "a wait timed out",
                                      "a party died", "reset",
                                      "repaired after a death"};
    bool died;

    s->parties = (size_t)p->p[0];
    s->waiting = b->count <= p->p[0] ? b->count : 0;
    s->broken = b->broken != 0;
    s->waiters = b->sleepers;
    s->holder = sharr__mutex_holder(b->mutex, &died);
    s->holder_died = died;
    say(s, "%zu of %zu waiting, %llu round%s done", s->waiting, s->parties,
        (unsigned long long)b->rounds, b->rounds == 1 ? "" : "s");
    if (b->broken == SHARR__BROKEN_DEATH && b->broken_pid)
        say(s, ", broken (a party died: pid %d)", (int)b->broken_pid);
    else if (b->broken)
        say(s, ", broken (%s)", b->broken < 6 ? why[b->broken] : "?");
}

static void fill_state(sharr_kind kind, const unsigned char *st,
                       const struct sharr__params *p, sharr_obj_state *s)
{
    memset(s, 0, sizeof *s);
    switch (kind) {
    case SHARR_KIND_QUEUE: queue_state(st, p, 1, s); break;
    case SHARR_KIND_PIPE: queue_state(st, p, 2, s); break;
    case SHARR_KIND_LOCK: case SHARR_KIND_RLOCK: case SHARR_KIND_CONDITION:
        lock_state((const void *)st, kind, s);
        break;
    case SHARR_KIND_SEMAPHORE: {
        const struct sharr__sem_state *m = (const void *)st;
        s->value = m->value;
        s->bound = (size_t)p->p[0];
        s->waiters = m->sleepers;
        say(s, s->bound ? "value %zu of %zu" : "value %zu", s->value,
            s->bound);
        if (m->sleepers)
            say(s, ", %u waiting", m->sleepers);
        break;
    }
    case SHARR_KIND_EVENT: {
        const struct sharr__event_state *e = (const void *)st;
        s->is_set = e->set != 0;
        s->waiters = e->sleepers;
        say(s, "%s", s->is_set ? "set" : "clear");
        if (e->sleepers)
            say(s, ", %u waiting", e->sleepers);
        break;
    }
    case SHARR_KIND_BARRIER:
        barrier_state((const void *)st, p, s);
        break;
    default:
        break;
    }
}

/* Copy what fill_state() reads of the state: each direction's page of a
 * queue, the first page of anything else. */
static int read_state(int fd, sharr_kind kind, const struct sharr__params *p,
                      unsigned char *buf)
{
    int err, dirs = kind == SHARR_KIND_PIPE ? 2 : 1;

    for (int d = 0; d < dirs; d++) {
        off_t at = (off_t)((uint64_t)d * (SHARR__PAGE + p->p[2]));
        if (kind != SHARR_KIND_QUEUE && kind != SHARR_KIND_PIPE)
            at = 0;
        if ((err = sharr__pread_all(fd, buf + d * SHARR__PAGE, SHARR__PAGE,
                                    at)) < 0)
            return err;
    }
    return 0;
}

int sharr__obj_read(int fd, const struct stat *st,
                    const struct sharr__ctl *ctl, sharr_info *info)
{
    unsigned char *buf;
    struct sharr__params p;
    size_t size = (size_t)st->st_size;
    int err;

    if ((err = sharr__pread_all(fd, &p, sizeof p,
                                (off_t)(size - SHARR__CTL_SIZE +
                                        SHARR__PARAMS_OFFSET))) < 0 ||
        (err = validate(ctl, &p, size)) < 0)
        return err;
    info->kind = (sharr_kind)ctl->kind;
    info->dtype = SHARR_DTYPE_INVALID;
    info->ndim = 0;
    info->nbytes = (size_t)ctl->nbytes;
    info->data_offset = 0;
    info->ctl_offset = (size_t)ctl->ctl_offset;
    info->segment_size = size;
    info->flags = ctl->flags;
    info->creator = (pid_t)ctl->creator_pid;
    info->creator_alive = sharr__owner_alive((pid_t)ctl->creator_pid,
                                             ctl->creator_start,
                                             &ctl->origin);
    info->created_sec = ctl->created_sec;
    info->attached = ctl->attach_count;
    memcpy(info->id, ctl->id, sizeof info->id);
    if (!(buf = calloc(2, SHARR__PAGE)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    /* The barrier's header and the first slots are within its first page. */
    if ((err = read_state(fd, info->kind, &p, buf)) == 0)
        fill_state(info->kind, buf, &p, &info->obj);
    free(buf);
    return err;
}
