/*
 * target.c - the file a save writes: resolved, locked, written beside it
 * under a temporary name, committed by rename.
 *
 * The target is the real file its path names (symlinks resolved, so a save
 * through a link updates the file it points to); one with several hard links
 * is refused unless forced, as a rename would split them.  An existing
 * target is locked with flock(LOCK_EX), the lock HDF5 itself takes on a file
 * it opens for writing (LOCK_SH for reading): sharr saves wait for each
 * other and for HDF5 programs (bounded), and hold it from the copy to the
 * rename, re-checking after each lock that the path still names the locked
 * inode (a previous saver may have renamed a new file over it).  The lock
 * dies with its holder.  A new target has no inode to lock: its commit never
 * replaces (renameat2 RENAME_NOREPLACE, or link), and the save starts over
 * when the name was taken.  Temporaries get random names, O_EXCL|O_NOFOLLOW,
 * and carry the saver's pid, start time, PID namespace and boot, so that a
 * later save (or sharr_save_gc()) removes those of savers that are gone, and
 * only those it can judge.  A temporary is listed in a table that
 * sharr_save_remove_temps() empties from a signal handler; a forked child
 * never removes its parent's.
 */
#define _GNU_SOURCE
#include "target.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_LOCK_WAIT 5.0   /* seconds */
#define BASE_IN_TEMP 96         /* bytes of the target's name in a temp's */
#define TEMPS_MAX 16
#define LOCKS_MAX 16

/* A failure of the file system: the detail, then strerror's words (these
 * are files, not arrays: "No such file or directory"). */
__attribute__((format(printf, 2, 3)))
static int file_fail(int code, const char *fmt, ...)
{
    char msg[PATH_MAX + 256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sharr__fail(code, "%s: %s", msg, strerror(-code));
}

/* ---- who a saver is ---- */

struct saver {
    long pid;
    unsigned long long start; /* clock ticks since boot; 0: unknown */
    unsigned long long pidns; /* inode of the PID namespace; 0: unknown */
    char boot[9];             /* first 8 hex digits of the boot id */
};

static void self_saver(struct saver *s)
{
    char buf[64];
    ssize_t n;
    int fd;

    memset(s, 0, sizeof *s);
    s->pid = (long)getpid();
    snprintf(s->boot, sizeof s->boot, "00000000");
    /* A /proc of another PID namespace (unshare -p without a new mount)
     * numbers processes differently: then nothing can be judged. */
    n = readlink("/proc/self", buf, sizeof buf - 1);
    if (n <= 0 || (buf[n] = '\0', strtol(buf, NULL, 10) != s->pid))
        return;
    s->start = sharr__proc_start(getpid());
    n = readlink("/proc/self/ns/pid", buf, sizeof buf - 1);
    if (n > 0) {
        buf[n] = '\0';
        if (sscanf(buf, "pid:[%llu]", &s->pidns) != 1)
            s->pidns = 0;
    }
    fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, buf, 8) == 8 && (buf[8] = '\0', true) &&
            strspn(buf, "0123456789abcdef") == 8)
            memcpy(s->boot, buf, 8);
        close(fd);
    }
}

/* Parse ".<base>.sharr-PID-START-PIDNS-BOOT-RANDOM.tmp".  @return 1 if
 * `name` is a temporary of this version. */
static int parse_temp(const char *name, struct saver *s)
{
    const char *p = NULL;
    char rnd[17];
    int used = -1;

    if (name[0] != '.')
        return 0;
    for (const char *q = strstr(name, ".sharr-"); q; q = strstr(q + 1,
                                                               ".sharr-"))
        p = q;
    if (!p || p == name)
        return 0;
    memset(s, 0, sizeof *s);
    if (sscanf(p, ".sharr-%ld-%llu-%llu-%8[0-9a-f]-%16[0-9a-f].tmp%n",
               &s->pid, &s->start, &s->pidns, s->boot, rnd, &used) != 5 ||
        used < 0 || p[used] != '\0' || strlen(s->boot) != 8 ||
        strlen(rnd) != 16)
        return 0;
    return s->pid > 0;
}

/* 1 if the saver of a temporary is certainly gone: it ran in this boot
 * and PID namespace (else its pid means nothing here) and is not alive. */
static int saver_gone(const struct saver *self, const struct saver *s)
{
    if (self->pidns == 0 || strcmp(self->boot, "00000000") == 0 ||
        s->pidns != self->pidns || strcmp(s->boot, self->boot) != 0 ||
        s->pid > INT32_MAX)
        return 0;
    return !sharr__proc_alive((pid_t)s->pid, s->start);
}

/* ---- temporaries a signal handler may remove ---- */

static struct {
    int state;               /* 0 free, 1 being filled, 2 listed */
    pid_t pid;               /* the saver: a forked child skips it */
    char path[PATH_MAX];
} temps[TEMPS_MAX];

static int temps_add(const char *path)
{
    for (int i = 0; i < TEMPS_MAX; i++) {
        int free_state = 0;
        if (__atomic_compare_exchange_n(&temps[i].state, &free_state, 1,
                                        false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            temps[i].pid = getpid();
            snprintf(temps[i].path, sizeof temps[i].path, "%s", path);
            __atomic_store_n(&temps[i].state, 2, __ATOMIC_RELEASE);
            return i;
        }
    }
    return -1; /* full: the save still removes it, only a signal cannot */
}

static void temps_drop(int *slot)
{
    if (*slot >= 0)
        __atomic_store_n(&temps[*slot].state, 0, __ATOMIC_RELEASE);
    *slot = -1;
}

/* Only unlink() and getpid(): async-signal-safe. */
void sharr_save_remove_temps(void)
{
    pid_t self = getpid();

    for (int i = 0; i < TEMPS_MAX; i++)
        if (__atomic_load_n(&temps[i].state, __ATOMIC_ACQUIRE) == 2 &&
            temps[i].pid == self)
            unlink(temps[i].path);
}

/* ---- locks that a fork must not take along ---- */

/* A forked child (a guardian, a user's child) shares our open file and so
 * our flock: the lock would outlive this process's close() for as long as
 * the child lives.  The child drops its copies at once (pthread_atfork). */
static int locks[LOCKS_MAX]; /* fd + 1 of each lock held; 0: free */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void drop_locks_in_child(void)
{
    for (int i = 0; i < LOCKS_MAX; i++) {
        int v = __atomic_exchange_n(&locks[i], 0, __ATOMIC_ACQ_REL);
        if (v > 0)
            close(v - 1);
    }
}

static void install_atfork(void)
{
    pthread_atfork(NULL, NULL, drop_locks_in_child);
}

static void locks_add(int fd)
{
    pthread_once(&atfork_once, install_atfork);
    for (int i = 0; i < LOCKS_MAX; i++) {
        int free_slot = 0;
        if (__atomic_compare_exchange_n(&locks[i], &free_slot, fd + 1, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return;
    }
}

static void locks_drop(int fd)
{
    for (int i = 0; i < LOCKS_MAX; i++) {
        int mine = fd + 1;
        if (__atomic_compare_exchange_n(&locks[i], &mine, 0, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return;
    }
}

/* ---- removal of temporaries of savers that are gone ---- */

int sharr_save_gc(const char *dir, int dry_run,
                  void (*removed)(const char *path, void *ctx), void *ctx)
{
    struct saver self, s;
    struct dirent *e;
    struct stat st;
    char path[PATH_MAX];
    DIR *d;
    int n = 0;

    if (!(d = opendir(dir)))
        return file_fail(-errno, "%s", dir);
    self_saver(&self);
    while ((e = readdir(d)) != NULL) {
        /* Only our own regular files: a link or another user's file is
         * never what a saver of ours left. */
        if (!parse_temp(e->d_name, &s) || !saver_gone(&self, &s) ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISREG(st.st_mode) || st.st_uid != geteuid())
            continue;
        if (!dry_run && unlinkat(dirfd(d), e->d_name, 0) < 0)
            continue;
        n++;
        if (removed) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            removed(path, ctx);
        }
    }
    closedir(d);
    return n;
}

/* ---- resolving the target ---- */

static int split_path(struct sharr__target *t)
{
    char *slash = strrchr(t->path, '/');
    size_t n = (size_t)(slash - t->path);

    snprintf(t->dir, sizeof t->dir, "%.*s", (int)(n ? n : 1), t->path);
    return 0;
}

static int resolve_new(struct sharr__target *t, const char *file)
{
    const char *slash = strrchr(file, '/');
    char dir[PATH_MAX];

    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - file + 1) : 1,
             slash ? file : ".");
    if (!realpath(dir, t->dir))
        return file_fail(-errno, "%s", dir);
    if ((size_t)snprintf(t->path, sizeof t->path, "%s/%s",
                         strcmp(t->dir, "/") ? t->dir : "",
                         slash ? slash + 1 : file) >= sizeof t->path)
        return sharr__fail(SHARR_EINVAL, "%s: path too long", file);
    t->exists = false;
    return 0;
}

/* The real file `file` names, or where a new one goes. */
static int resolve(struct sharr__target *t, const char *file)
{
    struct stat st;
    size_t len = file ? strlen(file) : 0;

    if (len == 0 || file[len - 1] == '/')
        return sharr__fail(SHARR_EINVAL, "'%s' is not a file name",
                           file ? file : "");
    if (lstat(file, &st) < 0) {
        if (errno != ENOENT)
            return file_fail(-errno, "%s", file);
        return resolve_new(t, file);
    }
    if (!realpath(file, t->path))
        return S_ISLNK(st.st_mode) && errno == ENOENT
                   ? sharr__fail(SHARR_ENOENT, "%s is a symbolic link to a "
                                 "missing file: a save writes into the file "
                                 "a link points to; create it or remove the "
                                 "link", file)
                   : file_fail(-errno, "%s", file);
    if (stat(t->path, &t->st) < 0)
        return file_fail(-errno, "%s", t->path);
    if (!S_ISREG(t->st.st_mode))
        return sharr__fail(SHARR_EINVAL, "%s is not a regular file", file);
    t->exists = true;
    return split_path(t);
}

/* ---- the lock ---- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_seconds(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* opts->lock_wait, else $SHARR_LOCK_WAIT (seconds, "inf" for ever), else
 * the default; negative: do not wait. */
static double lock_wait(const sharr_save_opts *o)
{
    const char *env = getenv("SHARR_LOCK_WAIT");
    char *end;
    double w;

    if (o->lock_wait != 0)
        return o->lock_wait;
    if (!env || !*env)
        return DEFAULT_LOCK_WAIT;
    w = strtod(env, &end);
    return *end || isnan(w) ? DEFAULT_LOCK_WAIT : w;
}

static int busy(const struct sharr__target *t, int fd, double waited)
{
    /* A shared lock is what HDF5 readers hold; if we can get one, no
     * writer holds the file. */
    bool readers = flock(fd, LOCK_SH | LOCK_NB) == 0;

    if (readers)
        flock(fd, LOCK_UN);
    return sharr__fail(SHARR_EBUSY, "another process has %s open for %s "
                       "(HDF5 file lock)%s; waited %.1f s (--wait, "
                       "SHARR_LOCK_WAIT)", t->path,
                       readers ? "reading" : "writing",
                       readers ? ", and a save must not replace a file that "
                       "is open" : "", waited);
}

/* Wait for flock(LOCK_EX) on fd until `deadline`. */
static int wait_lock(const struct sharr__target *t, int fd,
                     const sharr_save_opts *o, double start, double wait)
{
    double nap = 1e-3;
    bool told = false;

    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK)
            return file_fail(-errno, "locking %s", t->path);
        double left = start + wait - now_seconds();
        if (left <= 0)
            return busy(t, fd, now_seconds() - start);
        if (!told && o->waiting)
            o->waiting(t->path, wait, o->waiting_ctx);
        told = true;
        sleep_seconds(nap < left ? nap : left);
        nap = nap * 2 > 0.05 ? 0.05 : nap * 2;
    }
}

static int open_target(const struct sharr__target *t)
{
    int flags = O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
    int fd = open(t->path, O_RDWR | flags);

    /* A file we may not write can still be replaced by rename. */
    if (fd < 0 && (errno == EACCES || errno == EROFS || errno == ETXTBSY))
        fd = open(t->path, O_RDONLY | flags);
    return fd < 0 ? -errno : fd;
}

/* Lock the inode the path names, until the path still names it after the
 * lock; t->exists becomes false if the file went away. */
static int lock_target(struct sharr__target *t, const sharr_save_opts *o)
{
    double start = now_seconds(), wait = lock_wait(o);
    struct stat named;
    int fd, err;

    for (int round = 0; round < 10000; round++) {
        if ((fd = open_target(t)) == -ENOENT) {
            t->exists = false;
            return 0;
        }
        if (fd < 0)
            return errno = -fd, file_fail(-errno, "%s", t->path);
        locks_add(fd); /* before the lock: no fork may take it along */
        if ((err = wait_lock(t, fd, o, start, wait)) < 0) {
            locks_drop(fd);
            close(fd);
            return err;
        }
        t->lock_fd = fd;
        if (fstat(fd, &t->st) == 0 && stat(t->path, &named) == 0 &&
            named.st_dev == t->st.st_dev && named.st_ino == t->st.st_ino)
            return S_ISREG(t->st.st_mode)
                       ? 0 : sharr__fail(SHARR_EINVAL, "%s is not a regular"
                                         " file", t->path);
        t->lock_fd = -1;
        locks_drop(fd);
        close(fd); /* renamed over while we waited: lock the new file */
    }
    return sharr__fail(SHARR_EBUSY, "%s keeps being replaced", t->path);
}

int sharr__target_open(struct sharr__target *t, const char *file,
                       const sharr_save_opts *o, unsigned flags)
{
    int err;

    memset(t, 0, sizeof *t);
    t->lock_fd = -1;
    t->slot = -1;
    if ((err = resolve(t, file)) < 0)
        return err;
    (void)sharr_save_gc(t->dir, 0, NULL, NULL);
    if (t->exists && (flags & SHARR__TARGET_LOCK) &&
        (err = lock_target(t, o)) < 0)
        return err;
    if (t->exists && t->st.st_nlink > 1 && !o->force_hardlinks &&
        !(flags & SHARR__TARGET_LINKS_OK))
        return sharr__fail(SHARR_EPERM, "%s has %ju hard links: a save "
                           "replaces the file under this name only, and the "
                           "other names would keep the old content; set "
                           "sharr_save_opts.force_hardlinks to do that%s",
                           file, (uintmax_t)t->st.st_nlink,
                           flags & SHARR__TARGET_LOCK
                               ? ", or sharr_save_opts.append to write into "
                                 "the file all the names share" : "");
    return 0;
}

/* ---- the temporary ---- */

static int temp_name(struct sharr__target *t)
{
    const char *base = t->path + strlen(t->dir) + (strcmp(t->dir, "/") != 0);
    struct saver s;
    uint64_t rnd;
    int err, n;

    if ((err = sharr__random_bytes(&rnd, sizeof rnd)) < 0)
        return err;
    self_saver(&s);
    n = snprintf(t->tmp, sizeof t->tmp, "%s/.%.*s.sharr-%ld-%llu-%llu-%s-"
                 "%016llx.tmp", strcmp(t->dir, "/") ? t->dir : "",
                 BASE_IN_TEMP, base, s.pid, s.start, s.pidns, s.boot,
                 (unsigned long long)rnd);
    if (n < 0 || (size_t)n >= sizeof t->tmp) {
        t->tmp[0] = '\0';
        return sharr__fail(SHARR_EINVAL, "%s: path too long", t->path);
    }
    return 0;
}

static int copy_into(const struct sharr__target *t, int out)
{
    off_t in_off = 0, out_off = 0;

    for (off_t left = t->st.st_size; left > 0;) {
        ssize_t n = copy_file_range(t->lock_fd, &in_off, out, &out_off,
                                    (size_t)left, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return file_fail(n < 0 ? -errno : SHARR_EIO, "copying %s",
                                  t->path);
        left -= n;
    }
    return 0;
}

int sharr__target_temp(struct sharr__target *t, bool copy, int *fd_out)
{
    struct stat st;
    int fd, err;

    if ((err = temp_name(t)) < 0)
        return err;
    /* Listed first, so that no signal can come between the creation and
     * the listing; the name is random, so it is nobody else's. */
    t->slot = temps_add(t->tmp);
    fd = open(t->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              t->exists ? 0600 : 0666);
    if (fd < 0) {
        err = file_fail(-errno, "cannot create a temporary file in %s (a "
                        "save writes beside its target)", t->dir);
        temps_drop(&t->slot);
        t->tmp[0] = '\0'; /* not ours: never unlink it */
        return err;
    }
    if (t->exists) {
        /* As the target was; only root may give a file away, and a
         * group we are not in is refused: keep ours then. */
        if (fchown(fd, t->st.st_uid, t->st.st_gid) < 0 &&
            fchown(fd, (uid_t)-1, t->st.st_gid) < 0)
            errno = 0;
        fchmod(fd, t->st.st_mode & 07777);
    }
    if ((copy && t->exists && t->lock_fd >= 0 &&
         (err = copy_into(t, fd)) < 0) ||
        (fstat(fd, &st) < 0 && (err = file_fail(-errno, "%s",
                                                     t->tmp)) < 0)) {
        close(fd);
        return err;
    }
    t->tmp_dev = st.st_dev;
    t->tmp_ino = st.st_ino;
    if (fd_out)
        *fd_out = fd;
    else
        close(fd);
    return 0;
}

/* ---- commit and close ---- */

static int sync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC), err = 0;

    if (fd < 0 || fsync(fd) < 0)
        err = file_fail(-errno, "syncing %s", path);
    if (fd >= 0)
        close(fd);
    return err;
}

/* rename() that fails with EEXIST rather than replace; link() where the
 * file system has no RENAME_NOREPLACE. */
static int rename_new(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return -errno;
    if (link(from, to) < 0)
        return -errno;
    unlink(from);
    return 0;
}

int sharr__target_commit(struct sharr__target *t, bool sync, bool replace)
{
    int err;

    if (sync && (err = sync_path(t->tmp, O_RDONLY | O_NOFOLLOW)) < 0)
        return err;
    if (replace)
        err = rename(t->tmp, t->path) < 0 ? -errno : 0;
    else
        err = rename_new(t->tmp, t->path);
    if (err == -EEXIST && !replace)
        return SHARR__TARGET_TAKEN;
    if (err < 0)
        return file_fail(err, "renaming %s to %s", t->tmp, t->path);
    t->tmp[0] = '\0';
    temps_drop(&t->slot);
    if (sync && (err = sync_path(t->dir, O_RDONLY | O_DIRECTORY)) < 0)
        return err;
    return 0;
}

void sharr__target_close(struct sharr__target *t)
{
    int saved = errno;

    if (t->tmp[0])
        unlink(t->tmp);
    t->tmp[0] = '\0';
    temps_drop(&t->slot);
    /* After the unlink: nobody may lock the target while our temporary
     * of it still exists. */
    if (t->lock_fd >= 0) {
        locks_drop(t->lock_fd);
        close(t->lock_fd);
    }
    t->lock_fd = -1;
    errno = saved;
}
