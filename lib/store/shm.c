/*
 * shm.c - the entries of /dev/shm: opening them without trusting what they
 * are, removing exactly the file that was checked, and unmapping them all in
 * forked helpers.
 *
 * Invariants.  Nothing under /dev/shm is trusted: every entry is opened with
 * O_NONBLOCK|O_NOFOLLOW|O_NOCTTY (a planted FIFO cannot block, a symlink
 * cannot redirect, a tty cannot become ours) and refused unless it is a
 * regular file.  A removal decided on a check (gc, the guardian) goes
 * through a private rename, so it removes the file that was checked or
 * nothing.  Fork: nothing here keeps state; sharr__unmap_segments() uses
 * only system calls, for children of multi-threaded processes.
 */
#define _GNU_SOURCE /* renameat2, RENAME_NOREPLACE, O_NOFOLLOW */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PATH_BUF (sizeof SHARR__SHM_DIR + SHARR_NAME_MAX + 64)

void (*sharr__unlink_test_hook)(const char *entry);

static void entry_path(const char *entry, char *buf, size_t size)
{
    snprintf(buf, size, SHARR__SHM_DIR "/%s", entry);
}

const char *sharr__file_kind(unsigned mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFIFO: return "a FIFO";
    case S_IFLNK: return "a symbolic link";
    case S_IFDIR: return "a directory";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFSOCK: return "a socket";
    default: return "not a regular file";
    }
}

static int not_regular(const char *path, unsigned mode)
{
    return sharr__fail(SHARR_ECORRUPT, "%s is %s, not a shared-memory "
                       "segment", path, sharr__file_kind(mode));
}

int sharr__shm_open(const char *entry, int oflag, mode_t mode,
                    struct stat *st)
{
    char path[PATH_BUF];
    struct stat l;
    int fd;

    entry_path(entry, path, sizeof path);
    /* lstat first so that a device or FIFO is not even opened (opening some
     * devices acts); the fstat below closes the race with a swap. */
    if (!(oflag & O_CREAT) && lstat(path, &l) == 0 && !S_ISREG(l.st_mode))
        return not_regular(path, l.st_mode);
    fd = open(path, oflag | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC,
              mode);
    if (fd < 0) {
        int err = -errno;
        if (err != SHARR_ENOENT && err != SHARR_EEXIST &&
            lstat(path, &l) == 0 && !S_ISREG(l.st_mode))
            return not_regular(path, l.st_mode);
        return sharr__fail_os(err, "%s", path);
    }
    if (fstat(fd, st) < 0) {
        int err = -errno;
        close(fd);
        return sharr__fail_os(err, "fstat %s", path);
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return not_regular(path, st->st_mode);
    }
    return fd;
}

/* Put the file at `hidden` back at `path` after finding it is not the one
 * that was checked. */
static int put_back(const char *entry, const char *path, const char *hidden)
{
    if (renameat2(AT_FDCWD, hidden, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return sharr__fail(SHARR_EBUSY, "%s holds another segment since it "
                           "was checked: left in place", entry);
    return sharr__fail(SHARR_EBUSY, "%s was replaced by another segment "
                       "after it was checked, and it could not be put back "
                       "(%s): that segment is now %s", entry, strerror(errno),
                       hidden);
}

int sharr__unlink_checked(const char *entry, const struct stat *checked)
{
    char path[PATH_BUF], hidden[PATH_BUF];
    unsigned char r[8];
    struct stat now;
    int err;

    if (sharr__unlink_test_hook)
        sharr__unlink_test_hook(entry);
    if ((err = sharr__random_bytes(r, sizeof r)) < 0)
        return err;
    entry_path(entry, path, sizeof path);
    /* ".rm." after the prefix: not an array name, so nothing lists or opens
     * it; gc judges a leftover one (its remover killed) by its contents. */
    snprintf(hidden, sizeof hidden, SHARR__SHM_DIR "/" SHARR__PREFIX
             ".rm.%d.%02x%02x%02x%02x%02x%02x%02x%02x", (int)getpid(), r[0],
             r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
    if (renameat2(AT_FDCWD, path, AT_FDCWD, hidden, RENAME_NOREPLACE) < 0) {
        err = -errno;
        if (err == SHARR_ENOENT)
            return sharr__fail(err, "%s is gone already", entry);
        return sharr__fail_os(err, "renaming %s to remove it", entry);
    }
    if (lstat(hidden, &now) < 0)
        return sharr__fail_os(-errno, "lstat %s", hidden);
    if (now.st_dev != checked->st_dev || now.st_ino != checked->st_ino)
        return put_back(entry, path, hidden);
    if (unlink(hidden) < 0)
        return sharr__fail_os(-errno, "unlink %s", hidden);
    return 0;
}

/* ---- unmapping in forked helpers ---- */

struct range {
    uintptr_t lo, hi;
};

static const char *parse_hex(const char *p, uintptr_t *v)
{
    *v = 0;
    for (;; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (*p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else
            return p;
        *v = *v * 16 + d;
    }
}

/* One line of /proc/self/maps ("lo-hi perms offset dev inode   path"):
 * true, with its range, if it maps a /dev/shm/sharr.* object. */
static bool sharr_mapping(const char *line, struct range *r)
{
    static const char want[] = SHARR__SHM_DIR "/" SHARR__PREFIX;
    const char *p = parse_hex(line, &r->lo);

    if (*p != '-')
        return false;
    p = parse_hex(p + 1, &r->hi);
    for (int field = 0; field < 4; field++) { /* perms offset dev inode */
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++;
    }
    while (*p == ' ')
        p++;
    return r->hi > r->lo && strncmp(p, want, sizeof want - 1) == 0;
}

/* Collect up to `max` sharr mappings from the maps file open on fd; *more
 * says there were more than that. */
static int collect(int fd, struct range *r, int max, bool *more)
{
    char buf[8192];
    size_t len = 0;
    bool overlong = false;
    int n = 0;

    *more = false;
    for (;;) {
        ssize_t got = read(fd, buf + len, sizeof buf - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return got < 0 ? -errno : n;
        len += (size_t)got;
        buf[len] = '\0';
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            struct range one;
            *nl = '\0';
            if (!overlong && sharr_mapping(line, &one)) {
                if (n < max)
                    r[n++] = one;
                else
                    *more = true;
            }
            overlong = false;
            line = nl + 1;
        }
        len = (size_t)(buf + len - line);
        memmove(buf, line, len);
        if (len == sizeof buf - 1) { /* a line longer than a path can be */
            overlong = true;
            len = 0;
        }
    }
}

int sharr__unmap_segments(void)
{
    int total = 0;

    /* Unmapping changes the file being read: collect a batch, close, unmap,
     * and read again while a batch was full. */
    for (int pass = 0; pass < 1024; pass++) {
        struct range r[64];
        bool more;
        int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC), n;
        if (fd < 0)
            return -errno;
        n = collect(fd, r, 64, &more);
        close(fd);
        if (n < 0)
            return n;
        for (int i = 0; i < n; i++)
            munmap((void *)r[i].lo, r[i].hi - r[i].lo);
        total += n;
        if (!more || n == 0)
            break;
    }
    return total;
}
