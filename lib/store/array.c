/*
 * array.c - the store: named shared-memory segments holding one array each.
 *
 * Invariants.  A segment is [npy header | elements | control block] (see
 * sharr.h).  It is built under a hidden unique name: sized, its control
 * block written with the INCOMPLETE magic, its memory reserved, the final
 * magic stored last (after a release fence); only then is it linked to its
 * array name (link(2) fails on a taken name, like O_EXCL).  So no process
 * ever sees a half-made segment under an array name.  Nothing read from a segment is trusted:
 * open copies the control block and header out with pread, checks every field
 * with overflow-checked arithmetic against fstat, and maps only afterwards.
 * Every /dev/shm entry is opened through sharr__shm_open (no blocking, no
 * symlink, regular files only).  gc removes a segment only if its owner is
 * surely gone in the PID namespace and boot it records, and only if the
 * name still holds the file it checked.
 * Fork: a handle's mapping is inherited and stays valid in the child.
 */
#define _GNU_SOURCE /* O_NOFOLLOW, syscall wrappers used by getrandom */
#include "internal.h"

#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(pthread_mutex_t) <= 64, "mutex must fit the ctl slot");
_Static_assert(sizeof(struct sharr__ctl) <= SHARR__CTL_SIZE, "ctl too big");
_Static_assert(sizeof(size_t) == 8, "sharr needs a 64-bit size_t");
/* Layout version 1: the origin took reserved bytes, nothing moved. */
_Static_assert(offsetof(struct sharr__ctl, origin) == 184 &&
               offsetof(struct sharr__ctl, lock) == 256 &&
               sizeof(struct sharr__ctl) == 320, "ctl layout changed");

#define NPY_MAGIC "\x93NUMPY"
#define NPY_PREAMBLE 10u /* magic (6), version (2), header length (2) */

struct sharr_array {
    unsigned char *base;    /* whole segment, MAP_FAILED when unmapped */
    size_t size;            /* segment bytes */
    struct sharr__ctl *ctl; /* inside base */
    bool ctl_writable;      /* false: read-only fd, no lock or attach count */
    bool writable;          /* elements mapped PROT_WRITE */
    bool locked;            /* this handle holds the mutex */
    unsigned open_flags;    /* SHARR_OPEN_* given to open, 0 if created */
    pid_t temp_owner;       /* created temporary here, bound to this pid */
    dev_t dev;              /* the segment's file, to tell whether its name */
    ino_t ino;              /* still holds it (sharr__array_unlinked) */
    sharr_info info;        /* validated private copy of the layout */
    size_t rows, row_bytes;
};

/* ---- names ---- */

int sharr_name_check(const char *name)
{
    size_t n;

    if (name == NULL)
        return sharr__fail(SHARR_EINVAL, "array name is NULL");
    n = strlen(name);
    if (n == 0)
        return sharr__fail(SHARR_EINVAL, "array name is empty");
    if (n > SHARR_NAME_MAX)
        return sharr__fail(SHARR_EINVAL, "array name is %zu characters; "
                           "the limit is %d", n, SHARR_NAME_MAX);
    if (name[0] == '.')
        return sharr__fail(SHARR_EINVAL, "array name '%s' starts with '.'",
                           name);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok)
            return sharr__fail(SHARR_EINVAL, "array name '%.*s' has a "
                               "character outside [A-Za-z0-9._-] at "
                               "position %zu", (int)(n > 64 ? 64 : n), name,
                               i);
    }
    return 0;
}

void sharr__shm_name(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "/" SHARR__PREFIX "%s", name);
}

static void set_path(sharr_info *info, const char *name)
{
    snprintf(info->name, sizeof info->name, "%s", name);
    snprintf(info->path, sizeof info->path, SHARR__SHM_DIR "/" SHARR__PREFIX
             "%s", name);
}

static void shm_path(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, SHARR__SHM_DIR "/" SHARR__PREFIX "%s", name);
}

int sharr__random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return sharr__fail_os(-errno, "getrandom");
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

/* ---- the .npy header and layout arithmetic ---- */

int sharr__npy_header(sharr_dtype dt, size_t ndim, const size_t *shape,
                      unsigned char *header)
{
    char dict[SHARR_DATA_OFFSET];
    size_t len, hlen = SHARR_DATA_OFFSET - NPY_PREAMBLE;
    int n;

    n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': "
                 "False, 'shape': (", sharr_dtype_descr(dt));
    for (size_t i = 0; i < ndim && n > 0 && (size_t)n < sizeof dict; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%zu%s", shape[i],
                      (ndim == 1 || i + 1 < ndim) ? "," : "");
    if (n > 0 && (size_t)n < sizeof dict)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    if (n < 0 || (size_t)n >= hlen)
        return sharr__fail(SHARR_EINVAL, "npy header does not fit");
    len = (size_t)n;
    /* NumPy writes "(2, 3)"; we write "(2,3)", which NumPy reads the same and
     * which keeps the dict short.  Pad with spaces, end with '\n'. */
    memcpy(header, NPY_MAGIC, 6);
    header[6] = 1;
    header[7] = 0;
    header[8] = (unsigned char)(hlen & 0xff);
    header[9] = (unsigned char)(hlen >> 8);
    memcpy(header + NPY_PREAMBLE, dict, len);
    memset(header + NPY_PREAMBLE + len, ' ', hlen - len - 1);
    header[SHARR_DATA_OFFSET - 1] = '\n';
    return 0;
}

void sharr__shape_text(size_t ndim, const size_t *shape, char *buf,
                       size_t size)
{
    size_t len = 0;

    snprintf(buf, size, ndim ? "" : "()");
    for (size_t i = 0; i < ndim && len < size; i++) {
        int n = snprintf(buf + len, size - len, "%s%zu", i ? "x" : "",
                         shape[i]);
        if (n < 0)
            break;
        len += (size_t)n;
    }
}

/* nbytes and the segment size for dtype/shape, overflow-checked.  A
 * zero-length axis makes nbytes 0, but the product of the other axes (times
 * the item size) must still fit in 63 bits, as NumPy requires: row sizes
 * and offsets derived from any subset of the axes then never overflow, and
 * (0, 2^63, 4) is refused as it is by NumPy. */
static int layout_size(sharr_dtype dt, size_t ndim, const size_t *shape,
                       size_t *nbytes, size_t *total)
{
    size_t n = sharr_dtype_size(dt), padded;
    bool empty = false;

    for (size_t i = 0; i < ndim; i++) {
        if (shape[i] == 0)
            empty = true;
        else if (!sharr__mul_ok(n, shape[i], &n) || n > (size_t)INT64_MAX)
            goto overflow;
    }
    if (empty)
        n = 0;
    if (!sharr__add_ok(n, SHARR__PAGE - 1, &padded))
        goto overflow;
    padded &= ~(size_t)(SHARR__PAGE - 1);
    if (!sharr__add_ok(padded, SHARR_DATA_OFFSET + SHARR__CTL_SIZE, total) ||
        *total > (size_t)INT64_MAX)
        goto overflow;
    *nbytes = n;
    return 0;
overflow:
    return sharr__fail(SHARR_EOVERFLOW, "the array's byte size overflows "
                       "(%zu dimensions of %s)", ndim, sharr_dtype_name(dt));
}

/* Zero-length axes are allowed anywhere (NumPy's empty arrays); the
 * element count is then 0 and the data area takes no page. */
static int check_shape(sharr_dtype dt, size_t ndim, const size_t *shape)
{
    if (sharr_dtype_size(dt) == 0)
        return sharr__fail(SHARR_EINVAL, "invalid dtype %d", (int)dt);
    if (ndim > SHARR_MAX_NDIM)
        return sharr__fail(SHARR_EINVAL, "ndim = %zu: the limit is %d", ndim,
                           SHARR_MAX_NDIM);
    if (ndim > 0 && shape == NULL)
        return sharr__fail(SHARR_EINVAL, "shape is NULL with ndim = %zu",
                           ndim);
    return 0;
}

/* ---- validation of a segment's private copies ---- */

/* sharr__validate(), and *header_only (if not NULL) true when what
 * disagreed is what a reshape rewrites: the .npy header, or the shape's
 * axes against nbytes (a reshape stores them one by one, so a read in
 * between sees 6x6 on its way from 4x6 to 6x4). */
static int validate(const struct sharr__ctl *ctl, const unsigned char *header,
                    size_t size, sharr_info *info, bool *header_only)
{
    size_t shape[SHARR_MAX_NDIM] = {0};
    size_t nbytes, total;
    unsigned char expect[SHARR_DATA_OFFSET];
    sharr_dtype dt = (sharr_dtype)ctl->dtype;

    if (memcmp(ctl->magic, SHARR__MAGIC_INCOMPLETE, 8) == 0)
        return sharr__fail(SHARR_ECORRUPT, "segment is incomplete: its "
                           "creation did not finish");
    if (memcmp(ctl->magic, SHARR__MAGIC, 8) != 0)
        return sharr__fail(SHARR_ECORRUPT, "no sharr magic in the control "
                           "block: truncated, or not a sharr array");
    if (ctl->version != SHARR_LAYOUT_VERSION)
        return sharr__fail(SHARR_ECORRUPT, "layout version %u %s", ctl->version,
                           ctl->version > SHARR_LAYOUT_VERSION
                               ? "is newer than this library's (1): upgrade "
                                 "sharr to open it"
                               : "is invalid");
    if (ctl->ctl_size != SHARR__CTL_SIZE)
        return sharr__fail(SHARR_ECORRUPT, "ctl_size = %u, expected %u",
                           ctl->ctl_size, SHARR__CTL_SIZE);
    if (ctl->kind != SHARR_KIND_ARRAY)
        return sharr__fail(SHARR_ECORRUPT, "kind = %u in a version-1 "
                           "control block (arrays only)", ctl->kind);
    if (sharr_dtype_size(dt) == 0)
        return sharr__fail(SHARR_ECORRUPT, "dtype = %u is not a dtype",
                           ctl->dtype);
    if (ctl->ndim > SHARR_MAX_NDIM)
        return sharr__fail(SHARR_ECORRUPT, "ndim = %u exceeds %d", ctl->ndim,
                           SHARR_MAX_NDIM);
    for (size_t i = 0; i < SHARR_MAX_NDIM; i++) {
        /* A used axis may be 0 (an empty array); unused ones must be. */
        if (i >= ctl->ndim && ctl->shape[i] != 0)
            return sharr__fail(SHARR_ECORRUPT, "shape[%zu] = %llu is invalid",
                               i, (unsigned long long)ctl->shape[i]);
        shape[i] = (size_t)ctl->shape[i];
    }
    if (ctl->flags & ~SHARR_CREATE_TEMP)
        return sharr__fail(SHARR_ECORRUPT, "flags = 0x%x has unknown bits",
                           ctl->flags);
    if (layout_size(dt, ctl->ndim, shape, &nbytes, &total) < 0)
        return sharr__fail(SHARR_ECORRUPT, "shape overflows the byte size");
    if (ctl->nbytes != nbytes) {
        if (header_only)
            *header_only = true;
        return sharr__fail(SHARR_ECORRUPT, "nbytes = %llu, the shape needs %zu",
                           (unsigned long long)ctl->nbytes, nbytes);
    }
    if (ctl->data_offset != SHARR_DATA_OFFSET)
        return sharr__fail(SHARR_ECORRUPT, "data_offset = %llu, expected %d",
                           (unsigned long long)ctl->data_offset,
                           SHARR_DATA_OFFSET);
    if (ctl->ctl_offset != total - SHARR__CTL_SIZE)
        return sharr__fail(SHARR_ECORRUPT, "ctl_offset = %llu, expected %zu",
                           (unsigned long long)ctl->ctl_offset,
                           total - SHARR__CTL_SIZE);
    if (ctl->total_size != total || size != total)
        return sharr__fail(SHARR_ECORRUPT, "segment is %zu bytes, its "
                           "control block says %llu and its shape needs %zu",
                           size, (unsigned long long)ctl->total_size, total);
    if (sharr__npy_header(dt, ctl->ndim, shape, expect) < 0 ||
        memcmp(expect, header, sizeof expect) != 0) {
        if (header_only)
            *header_only = true;
        return sharr__fail(SHARR_ECORRUPT, "the .npy header does not match "
                           "the control block");
    }
    info->dtype = dt;
    info->ndim = ctl->ndim;
    memcpy(info->shape, shape, sizeof shape);
    info->nbytes = nbytes;
    info->data_offset = SHARR_DATA_OFFSET;
    info->ctl_offset = total - SHARR__CTL_SIZE;
    info->segment_size = total;
    info->flags = ctl->flags;
    info->creator = (pid_t)ctl->creator_pid;
    info->creator_alive = sharr__owner_alive((pid_t)ctl->creator_pid,
                                             ctl->creator_start,
                                             &ctl->origin);
    info->created_sec = ctl->created_sec;
    info->attached = ctl->attach_count;
    memcpy(info->id, ctl->id, sizeof info->id);
    return 0;
}

int sharr__pread_all(int fd, void *buf, size_t n, off_t off)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t got = pread(fd, p, n, off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return sharr__fail_os(-errno, "reading");
        if (got == 0)
            return sharr__fail(SHARR_ECORRUPT, "the file ends %zu bytes "
                               "early (truncated while read?)", n);
        p += got;
        n -= (size_t)got;
        off += got;
    }
    return 0;
}

int sharr__validate(const struct sharr__ctl *ctl, const unsigned char *header,
                    size_t size, sharr_info *info)
{
    return validate(ctl, header, size, info, NULL);
}

/* Reads of a segment whose header (or shape) disagrees with the rest of a
 * valid control block, 50 us apart, before it is called corrupt. */
#define RESHAPE_READS 4

/* Read and validate the segment open on fd, whose fstat is *st; fills *info
 * (except its name).  sharr_array_reshape() writes the control block's
 * shape and then the header, under the array's lock but with no lock an
 * open could take: read between the two, they disagree for a moment, so
 * that case is read again a few times before it is called corrupt. */
static int read_segment(int fd, const struct stat *st, struct sharr__ctl *ctl,
                        sharr_info *info)
{
    unsigned char header[SHARR_DATA_OFFSET];
    size_t size;
    int err;

    info->uid = st->st_uid;
    info->mode = st->st_mode & 07777;
    info->segment_size = size = (size_t)st->st_size;
    if (!S_ISREG(st->st_mode))
        return sharr__fail(SHARR_ECORRUPT, "%s, not a shared-memory "
                           "segment", sharr__file_kind(st->st_mode));
    if (size < SHARR_DATA_OFFSET + SHARR__CTL_SIZE)
        return sharr__fail(SHARR_ECORRUPT, "segment is %zu bytes; a sharr "
                           "array has at least %u", size,
                           SHARR_DATA_OFFSET + SHARR__CTL_SIZE);
    if (size % SHARR__PAGE != 0)
        return sharr__fail(SHARR_ECORRUPT, "segment size %zu is not a "
                           "multiple of %u (truncated?)", size, SHARR__PAGE);
    for (int attempt = 1;; attempt++) {
        struct timespec pause = {0, 50000};
        bool header_only = false;
        if ((err = sharr__pread_all(fd, ctl, sizeof *ctl,
                                    (off_t)(size - SHARR__CTL_SIZE))) < 0)
            return err;
        if (ctl->version == SHARR__OBJ_VERSION &&
            ctl->kind != SHARR_KIND_ARRAY)
            return sharr__obj_read(fd, st, ctl, info); /* a queue, a lock */
        if ((err = sharr__pread_all(fd, header, sizeof header, 0)) < 0)
            return err;
        err = validate(ctl, header, size, info, &header_only);
        if (!header_only || attempt == RESHAPE_READS)
            return err;
        nanosleep(&pause, NULL);
    }
}

/* Open /dev/shm/sharr.NAME without blocking or following a link, refusing
 * anything but a regular file (sharr__shm_open), with details that name
 * the array; *st receives its fstat. */
static int open_fd(const char *name, int oflag, mode_t mode, struct stat *st)
{
    char entry[SHARR_NAME_MAX + 16];
    int fd;

    snprintf(entry, sizeof entry, SHARR__PREFIX "%s", name);
    fd = sharr__shm_open(entry, oflag, mode, st);
    if (fd == SHARR_ENOENT)
        return sharr__fail(fd, "no array named '%s'", name);
    if (fd == SHARR_EEXIST)
        return sharr__taken(name, SHARR_KIND_ARRAY);
    if (fd == SHARR_ECORRUPT)
        sharr__errmsg_prefix("array '%s'", name);
    else if (fd < 0)
        return sharr__fail_os(fd, "cannot open array '%s'", name);
    return fd;
}

static void explain_unknown(const struct sharr__origin *o, sharr_info *info);

int sharr_stat(const char *name, sharr_info *info)
{
    struct sharr__ctl ctl;
    struct stat st;
    int fd, err;

    memset(info, 0, sizeof *info);
    if ((err = sharr_name_check(name)) < 0)
        return err;
    set_path(info, name);
    if ((fd = open_fd(name, O_RDONLY, 0, &st)) < 0) {
        snprintf(info->detail, sizeof info->detail, "%s", sharr_errmsg());
        return fd;
    }
    err = read_segment(fd, &st, &ctl, info);
    close(fd);
    if (err < 0)
        sharr__errmsg_prefix("array '%s'", name);
    if (err < 0) {
        snprintf(info->detail, sizeof info->detail, "%s", sharr_errmsg());
    } else if (info->creator_alive == SHARR__UNKNOWN) {
        explain_unknown(&ctl.origin, info);
    }
    return err;
}

/* ---- create ---- */

/* n bytes in the largest binary unit that keeps it >= 1, with three
 * significant digits: "0 B", "192 B", "1.5 KiB", "7.28 TiB". */
static void human_bytes(unsigned long long n, char *buf, size_t size)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB",
                                 "EiB"};
    double v = (double)n;
    int u = 0;

    while (v >= 1024 && u < 6) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%llu B", n);
    else
        snprintf(buf, size, v < 1000 ? "%.3g %s" : "%.0f %s", v, unit[u]);
}

static int check_space(size_t total)
{
    struct statvfs vfs;
    unsigned long long avail;
    char need[32], have[32];

    if (statvfs(SHARR__SHM_DIR, &vfs) < 0)
        return 0; /* posix_fallocate below still catches a full tmpfs */
    avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
    human_bytes(total, need, sizeof need);
    human_bytes(avail, have, sizeof have);
    if (total > avail)
        return sharr__fail(SHARR_ENOSPC,
                           "needs %zu bytes (%s) but " SHARR__SHM_DIR
                           " has %llu bytes (%s) free: remove arrays "
                           "(sharr rm, sharr gc) or enlarge " SHARR__SHM_DIR
                           " (Docker: --shm-size; or mount -o remount,size=)",
                           total, need, avail, have);
    return 0;
}

static void init_ctl(struct sharr__ctl *ctl, sharr_dtype dt, size_t ndim,
                     const size_t *shape, size_t nbytes, size_t total,
                     unsigned flags, pid_t owner, const unsigned char id[16])
{
    struct timespec now;

    memset(ctl, 0, sizeof *ctl);
    memcpy(ctl->magic, SHARR__MAGIC_INCOMPLETE, 8);
    ctl->version = SHARR_LAYOUT_VERSION;
    ctl->ctl_size = SHARR__CTL_SIZE;
    ctl->dtype = (uint32_t)dt;
    ctl->ndim = (uint32_t)ndim;
    ctl->flags = flags;
    for (size_t i = 0; i < ndim; i++)
        ctl->shape[i] = shape[i];
    ctl->nbytes = nbytes;
    ctl->data_offset = SHARR_DATA_OFFSET;
    ctl->ctl_offset = total - SHARR__CTL_SIZE;
    ctl->total_size = total;
    ctl->creator_pid = owner;
    ctl->creator_start = sharr__proc_start(owner);
    sharr__origin_self(&ctl->origin);
    clock_gettime(CLOCK_REALTIME, &now);
    ctl->created_sec = now.tv_sec;
    ctl->created_nsec = now.tv_nsec;
    memcpy(ctl->id, id, 16);
}

static int init_lock(struct sharr__ctl *ctl)
{
    pthread_mutexattr_t attr;
    int rc;

    if ((rc = pthread_mutexattr_init(&attr)) != 0)
        return sharr__fail_os(-rc, "pthread_mutexattr_init");
    rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (rc == 0)
        rc = pthread_mutex_init((pthread_mutex_t *)(void *)ctl->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    return rc ? sharr__fail_os(-rc, "initializing the array's mutex") : 0;
}

int sharr__check_create_opts(const sharr_create_opts *o, const char *what)
{
    if (o->flags & ~SHARR_CREATE_TEMP)
        return sharr__fail(SHARR_EINVAL, "unknown create flags 0x%x",
                           o->flags);
    if (o->mode & ~0777u)
        return sharr__fail(SHARR_EINVAL, "mode %o: only permission bits "
                           "(0..0777) are allowed", o->mode);
    if (o->owner != 0 && !(o->flags & SHARR_CREATE_TEMP))
        return sharr__fail(SHARR_EINVAL, "an owner process is only "
                           "meaningful for a temporary %s", what);
    return 0;
}

static int check_create_args(const char *name, sharr_dtype dt, size_t ndim,
                             const size_t *shape, const sharr_create_opts *o)
{
    int err;

    if ((err = sharr_name_check(name)) < 0 ||
        (err = check_shape(dt, ndim, shape)) < 0)
        return err;
    return sharr__check_create_opts(o, "array");
}

/* Size the new file on fd and write its control block (INCOMPLETE magic).
 * pwrite, not a mapping: a full tmpfs makes it fail with ENOSPC instead of
 * raising SIGBUS. */
static int prepare_file(int fd, const struct sharr__ctl *ctl, size_t size)
{
    ssize_t wrote;

    if (ftruncate(fd, (off_t)size) < 0)
        return sharr__fail_os(-errno, "ftruncate to %zu bytes", size);
    wrote = pwrite(fd, ctl, sizeof *ctl, (off_t)(size - SHARR__CTL_SIZE));
    if (wrote != (ssize_t)sizeof *ctl)
        return sharr__fail_os(wrote < 0 ? -errno : SHARR_ENOSPC,
                              "writing the control block");
    return 0;
}

/* Open the hidden build by its name and close tmp, the unnamed file just
 * linked there: a mapping then shows "/dev/shm/sharr..new.*" in
 * /proc/PID/maps (an O_TMPFILE one shows "/dev/shm/#INODE"), which is how
 * sharr__unmap_segments() finds it in forked helpers.
 * @return the fd, or an error (the hidden name is removed). */
static int reopen_hidden(int tmp, const char *hidden)
{
    char entry[SHARR_NAME_MAX + 16], path[SHARR_NAME_MAX + 32];
    struct stat was, st;
    int fd = -1, err = 0;

    snprintf(entry, sizeof entry, SHARR__PREFIX "%s", hidden);
    if (fstat(tmp, &was) < 0)
        err = sharr__fail_os(-errno, "fstat");
    else if ((fd = sharr__shm_open(entry, O_RDWR, 0, &st)) < 0)
        err = fd;
    else if (st.st_dev != was.st_dev || st.st_ino != was.st_ino)
        err = sharr__fail(SHARR_EBUSY, "the hidden build %s was replaced",
                          entry);
    close(tmp);
    if (err == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    shm_path(hidden, path, sizeof path);
    unlink(path);
    return err;
}

/* Make the hidden build file `hidden` of a, with its control block already
 * in place when the name appears: built unnamed (O_TMPFILE) and linked to
 * the name after, so that a creator killed at any moment leaves either
 * nothing or a hidden name whose control block says who built it, in which
 * PID namespace and boot (gc judges it by that).  Without O_TMPFILE or
 * /proc, the name is created first and the control block written at once.
 * @return the fd (the hidden name exists), or an error (it does not). */
static int create_hidden(const sharr_array *a, const char *hidden,
                         const sharr_create_opts *o, pid_t owner,
                         const unsigned char id[16])
{
    const sharr_info *in = &a->info;
    char path[SHARR_NAME_MAX + 32], self[64];
    struct sharr__ctl ctl;
    struct stat st;
    int fd, err;

    init_ctl(&ctl, in->dtype, in->ndim, in->shape, in->nbytes, a->size,
             o->flags, owner, id);
    shm_path(hidden, path, sizeof path);
    fd = open(SHARR__SHM_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) {
        if ((err = prepare_file(fd, &ctl, a->size)) < 0) {
            close(fd);
            return err;
        }
        snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
            return reopen_hidden(fd, hidden);
        close(fd); /* no /proc: the plain way below */
    }
    if ((fd = open_fd(hidden, O_RDWR | O_CREAT | O_EXCL, 0600, &st)) < 0)
        return fd;
    if ((err = prepare_file(fd, &ctl, a->size)) < 0) {
        unlink(path);
        close(fd);
        return err;
    }
    return fd;
}

/* Set the mode of, reserve, map and initialize the hidden build segment on
 * fd (the mode only now: the hidden name is reopened read-write first). */
/* The error of a reservation of `bytes` that found /dev/shm full. */
static int full_error(size_t bytes)
{
    check_space(SIZE_MAX / 2); /* records free space in the detail */
    return sharr__fail(SHARR_ENOSPC, "reserving %zu bytes in "
                       SHARR__SHM_DIR " failed: it is full; remove "
                       "arrays (sharr rm, sharr gc) or enlarge it "
                       "(Docker: --shm-size)", bytes);
}

static int build_segment(sharr_array *a, int fd, unsigned mode, bool reserve)
{
    sharr_info *in = &a->info;
    struct stat st;
    int rc = 0;

    if (fchmod(fd, mode ? mode : 0600) < 0)
        return sharr__fail_os(-errno, "fchmod");
    if (fstat(fd, &st) < 0)
        return sharr__fail_os(-errno, "fstat");
    a->dev = st.st_dev;
    a->ino = st.st_ino;
    if (reserve)
        rc = posix_fallocate(fd, 0, (off_t)a->size);
    if (rc == ENOSPC)
        return full_error(a->size);
    if (rc != 0 && rc != EOPNOTSUPP)
        return sharr__fail_os(-rc, "posix_fallocate of %zu bytes", a->size);
    a->base = mmap(NULL, a->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (a->base == MAP_FAILED)
        return sharr__fail_os(-errno, "mmap of %zu bytes", a->size);
    a->ctl = (struct sharr__ctl *)(void *)(a->base + a->size -
                                           SHARR__CTL_SIZE);
    if ((rc = sharr__npy_header(in->dtype, in->ndim, in->shape, a->base)) < 0 ||
        (rc = init_lock(a->ctl)) < 0)
        return rc;
    a->ctl->attach_count = 1;
    /* Everything above must be visible before the magic says "complete". */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(a->ctl->magic, SHARR__MAGIC, 8);
    return 0;
}

static void fill_derived(sharr_array *a)
{
    sharr_info *in = &a->info;
    size_t item = sharr_dtype_size(in->dtype);

    /* Computed from the axes, not nbytes / rows: an array of 0 rows still
     * has rows of prod(shape[1:]) elements.  layout_size() bounded the
     * product of the nonzero axes, so this cannot overflow. */
    a->rows = in->ndim ? in->shape[0] : 1;
    a->row_bytes = item;
    for (size_t i = 1; i < in->ndim; i++)
        a->row_bytes *= in->shape[i];
}

/* The hidden name a segment is built under: ".new.<pid>.<hex>".  A leading
 * '.' is not a valid array name, so nothing opens or lists it by accident,
 * and the pid lets `sharr gc` remove one whose builder died. */
static void hidden_name(const unsigned char id[16], char *buf, size_t size)
{
    snprintf(buf, size, ".new.%d.%02x%02x%02x%02x%02x%02x%02x%02x",
             (int)getpid(), id[0], id[1], id[2], id[3], id[4], id[5], id[6],
             id[7]);
}


int sharr__explain_create_failure(int err, const char *what,
                                  const char *name, const char *hidden)
{
    if (err == SHARR_EACCES || err == SHARR_EPERM)
        return sharr__fail_os(err, "cannot create %s '%s': you may not "
                              "create files in " SHARR__SHM_DIR, what, name);
    if (err == -EROFS || err == SHARR_ENOENT)
        return sharr__fail_os(err, "cannot create %s '%s' in "
                              SHARR__SHM_DIR, what, name);
    sharr__errmsg_replace(hidden, name);
    return err;
}

/* Give the complete segment its name.  link(2) fails when the name is
 * taken, so the check is as atomic as O_EXCL was; then the hidden name
 * goes. */
static int publish_name(const char *hidden, const char *name)
{
    char from[SHARR_NAME_MAX + 32], to[SHARR_NAME_MAX + 32];
    int err = 0;

    shm_path(hidden, from, sizeof from);
    shm_path(name, to, sizeof to);
    if (link(from, to) < 0)
        err = errno == EEXIST
                  ? sharr__taken(name, SHARR_KIND_ARRAY)
                  : sharr__fail_os(-errno, "cannot name array '%s'", name);
    unlink(from);
    return err;
}

static int check_free_name(const char *name)
{
    char path[SHARR_NAME_MAX + 32];
    struct stat st;

    shm_path(name, path, sizeof path);
    if (lstat(path, &st) == 0)
        return sharr__taken(name, SHARR_KIND_ARRAY);
    return 0;
}

/* Register a temporary array, and its hidden build name, with the guardian
 * before either exists: a crash at any later point still gets both
 * removed (the hidden name unconditionally: it is unique to this build). */
static int guard_temporary(pid_t owner, const char *name, const char *hidden,
                           const unsigned char id[16])
{
    int err = sharr__guardian_register(owner, name, id);
    return err < 0 ? err : sharr__guardian_register(owner, hidden, NULL);
}

/* The segment is built under a hidden name and only linked to `name` once
 * every byte is in place: no process can ever see a half-made segment
 * under an array name, and a creator killed midway leaves only the hidden
 * name (removed by its guardian, or by sharr gc). */
static int create(const char *name, sharr_dtype dtype, size_t ndim,
                  const size_t *shape, const sharr_create_opts *opts,
                  bool reserve, sharr_array **out)
{
    static const sharr_create_opts defaults = {0, 0, 0};
    const sharr_create_opts *o = opts ? opts : &defaults;
    unsigned char id[16];
    char hidden[64];
    pid_t owner = o->owner ? o->owner : getpid();
    sharr_array *a = NULL;
    int fd = -1, err;
    bool built = false;

    *out = NULL;
    if ((err = check_create_args(name, dtype, ndim, shape, o)) < 0)
        return err;
    if (!(a = calloc(1, sizeof *a)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    a->base = MAP_FAILED;
    set_path(&a->info, name);
    a->info.dtype = dtype;
    a->info.ndim = ndim;
    for (size_t i = 0; i < ndim; i++)
        a->info.shape[i] = shape[i];
    if ((err = layout_size(dtype, ndim, shape, &a->info.nbytes, &a->size)) < 0 ||
        (err = check_free_name(name)) < 0 ||
        (err = check_space(a->size)) < 0 ||
        (err = sharr__random_bytes(id, sizeof id)) < 0)
        goto fail;
    hidden_name(id, hidden, sizeof hidden);
    if ((o->flags & SHARR_CREATE_TEMP) &&
        (err = guard_temporary(owner, name, hidden, id)) < 0)
        goto fail;
    if ((fd = create_hidden(a, hidden, o, owner, id)) < 0) {
        err = sharr__explain_create_failure(fd, "array", name, hidden);
        fd = -1;
        goto fail;
    }
    built = true;
    if ((err = build_segment(a, fd, o->mode, reserve)) < 0)
        goto fail;
    built = false; /* publish_name removes the hidden name either way */
    if ((err = publish_name(hidden, name)) < 0)
        goto fail;
    /* The hidden name is gone: the guardian need not remember it (a long
     * life of loads would otherwise grow its list). */
    if (o->flags & SHARR_CREATE_TEMP)
        sharr__guardian_forget(owner, hidden, NULL);
    close(fd);
    a->info.segment_size = a->size;
    a->info.ctl_offset = a->size - SHARR__CTL_SIZE;
    a->info.data_offset = SHARR_DATA_OFFSET;
    a->info.flags = o->flags;
    memcpy(a->info.id, id, 16);
    a->ctl_writable = a->writable = true;
    a->temp_owner = (o->flags & SHARR_CREATE_TEMP) ? owner : 0;
    fill_derived(a);
    *out = a;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    if (built) { /* the hidden name is unique to this build */
        char path[SHARR_NAME_MAX + 32];
        shm_path(hidden, path, sizeof path);
        unlink(path);
    }
    sharr_array_close(a);
    return err;
}

int sharr_array_create(const char *name, sharr_dtype dtype, size_t ndim,
                       const size_t *shape, const sharr_create_opts *opts,
                       sharr_array **out)
{
    return create(name, dtype, ndim, shape, opts, true, out);
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* Does the kernel populate mappings for writing (an empty range tells)? */
static bool can_populate(void)
{
    static int known; /* 0 unknown, 1 yes, -1 no */
    static _Alignas(4096) char page[4096];

    if (!known)
        known = madvise(page, 0, MADV_POPULATE_WRITE) == 0 ? 1 : -1;
    return known > 0;
}

int sharr__array_create_unreserved(const char *name, sharr_dtype dtype,
                                   size_t ndim, const size_t *shape,
                                   const sharr_create_opts *opts,
                                   sharr_array **out)
{
    return create(name, dtype, ndim, shape, opts, !can_populate(), out);
}

int sharr__array_populate(const sharr_array *a, size_t r0, size_t r1)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t lo, hi;

    if (!a->writable || r1 <= r0 || !can_populate())
        return 0;
    lo = (uintptr_t)sharr_array_data(a) + r0 * a->row_bytes;
    hi = (uintptr_t)sharr_array_data(a) + r1 * a->row_bytes;
    lo &= ~(uintptr_t)(page - 1);
    hi = (hi + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1);
    while (madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) < 0) {
        if (errno == EINTR || errno == EAGAIN)
            continue;
        /* EFAULT: a page could not be had (tmpfs full); ENOMEM: memory. */
        if (errno == EFAULT || errno == ENOMEM)
            return full_error(hi - lo);
        return sharr__fail_os(-errno, "madvise(MADV_POPULATE_WRITE) of "
                              "%zu bytes", (size_t)(hi - lo));
    }
    return 0;
}

/* ---- open / close ---- */

static int map_segment(sharr_array *a, int fd, unsigned flags)
{
    int prot = a->ctl_writable ? PROT_READ | PROT_WRITE : PROT_READ;
    long page = sysconf(_SC_PAGESIZE);

    a->base = mmap(NULL, a->size, prot, MAP_SHARED, fd, 0);
    if (a->base == MAP_FAILED)
        return sharr__fail_os(-errno, "mmap of %zu bytes", a->size);
    a->ctl = (struct sharr__ctl *)(void *)(a->base + a->info.ctl_offset);
    a->writable = a->ctl_writable && !(flags & SHARR_OPEN_RDONLY);
    if (a->ctl_writable && (flags & SHARR_OPEN_RDONLY)) {
        /* Header and elements read-only, control block (lock) writable. */
        /* With pages larger than the 4096-byte layout unit the boundary
         * may fall inside a page: then everything is read-only. */
        bool split = page > 0 && a->info.ctl_offset % (size_t)page == 0;
        size_t len = split ? a->info.ctl_offset : a->size;
        if (mprotect(a->base, len, PROT_READ) < 0)
            return sharr__fail_os(-errno, "mprotect");
        a->ctl_writable = split;
    }
    return 0;
}

int sharr_array_open(const char *name, unsigned flags, sharr_array **out)
{
    struct sharr__ctl ctl;
    struct stat st;
    sharr_array *a = NULL;
    int fd = -1, err;

    *out = NULL;
    if ((err = sharr_name_check(name)) < 0)
        return err;
    if (flags & ~(SHARR_OPEN_RDONLY | SHARR_OPEN_FOREIGN))
        return sharr__fail(SHARR_EINVAL, "unknown open flags 0x%x", flags);
    if (!(a = calloc(1, sizeof *a)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    a->base = MAP_FAILED;
    set_path(&a->info, name);
    a->ctl_writable = true;
    fd = open_fd(name, O_RDWR, 0, &st);
    if (fd == SHARR_EACCES && (flags & SHARR_OPEN_RDONLY)) {
        a->ctl_writable = false; /* readable only: no lock, no attach count */
        fd = open_fd(name, O_RDONLY, 0, &st);
    }
    if ((err = fd) < 0)
        goto fail;
    a->dev = st.st_dev;
    a->ino = st.st_ino;
    if ((err = read_segment(fd, &st, &ctl, &a->info)) < 0) {
        sharr__errmsg_prefix("array '%s'", name);
        goto fail;
    }
    if (a->info.kind != SHARR_KIND_ARRAY) {
        err = sharr__fail(SHARR_EKIND, "'%s' is %s, not an array", name,
                          sharr__a_kind(a->info.kind));
        goto fail;
    }
    if (a->info.uid != geteuid() && !(flags & SHARR_OPEN_FOREIGN)) {
        err = sharr__fail(SHARR_EFOREIGN, "array '%s' is owned by uid %u, "
                          "not by you (uid %u): open it with "
                          "SHARR_OPEN_FOREIGN to trust it", name,
                          (unsigned)a->info.uid, (unsigned)geteuid());
        goto fail;
    }
    a->size = a->info.segment_size;
    a->open_flags = flags;
    if ((err = map_segment(a, fd, flags)) < 0)
        goto fail;
    close(fd);
    if (a->ctl_writable)
        __atomic_fetch_add(&a->ctl->attach_count, 1, __ATOMIC_RELAXED);
    fill_derived(a);
    *out = a;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    sharr_array_close(a);
    return err;
}

void sharr_array_close(sharr_array *a)
{
    if (a == NULL)
        return;
    if (a->base != MAP_FAILED) {
        if (a->locked)
            pthread_mutex_unlock((pthread_mutex_t *)(void *)a->ctl->lock);
        if (a->ctl_writable && a->ctl)
            __atomic_fetch_sub(&a->ctl->attach_count, 1, __ATOMIC_RELAXED);
        munmap(a->base, a->size);
    }
    free(a);
}

int sharr_unlink(const char *name)
{
    char shm[SHARR_NAME_MAX + 16];
    int err;

    if ((err = sharr_name_check(name)) < 0)
        return err;
    sharr__shm_name(name, shm, sizeof shm);
    if (shm_unlink(shm) < 0) {
        err = -errno;
        if (err == SHARR_ENOENT)
            return sharr__fail(err, "no array named '%s'", name);
        return sharr__fail_os(err, "cannot remove array '%s'", name);
    }
    return 0;
}

/* ---- getters ---- */

void *sharr_array_data(const sharr_array *a)
{
    return a->base + SHARR_DATA_OFFSET;
}

sharr_dtype sharr_array_dtype(const sharr_array *a) { return a->info.dtype; }
size_t sharr_array_ndim(const sharr_array *a) { return a->info.ndim; }
const size_t *sharr_array_shape(const sharr_array *a) { return a->info.shape; }
size_t sharr_array_rows(const sharr_array *a) { return a->rows; }
size_t sharr_array_row_bytes(const sharr_array *a) { return a->row_bytes; }
size_t sharr_array_nbytes(const sharr_array *a) { return a->info.nbytes; }
const char *sharr_array_name(const sharr_array *a) { return a->info.name; }
int sharr_array_writable(const sharr_array *a) { return a->writable; }

size_t sharr_array_size(const sharr_array *a)
{
    return a->info.nbytes / sharr_dtype_size(a->info.dtype);
}

unsigned sharr__array_open_flags(const sharr_array *a)
{
    return a->open_flags;
}

bool sharr__array_unlinked(const sharr_array *a)
{
    char path[SHARR_NAME_MAX + 32];
    struct stat st;

    shm_path(a->info.name, path, sizeof path);
    /* lstat: a symlink planted under the name is not the segment either. */
    if (lstat(path, &st) < 0)
        return errno == ENOENT || errno == ENOTDIR;
    return st.st_dev != a->dev || st.st_ino != a->ino;
}

bool sharr__array_layout_changed(const sharr_array *a)
{
    const struct sharr__ctl *c = a->ctl;

    if (__atomic_load_n(&c->ndim, __ATOMIC_RELAXED) != a->info.ndim)
        return true;
    for (size_t i = 0; i < a->info.ndim; i++)
        if (__atomic_load_n(&c->shape[i], __ATOMIC_RELAXED) !=
            a->info.shape[i])
            return true;
    return false;
}

/* ---- reshape ---- */

static int reshape_check(const sharr_array *a, size_t ndim,
                         const size_t *shape, unsigned char *header)
{
    sharr_dtype dt = a->info.dtype;
    size_t nbytes, total;
    char was[SHARR_MAX_NDIM * 21 + 1], want[SHARR_MAX_NDIM * 21 + 1];
    int err;

    if (!a->writable || !a->ctl_writable)
        return sharr__fail(SHARR_EACCES, "array '%s' is open read-only: a "
                           "reshape needs write access", a->info.name);
    if ((err = check_shape(dt, ndim, shape)) < 0 ||
        (err = layout_size(dt, ndim, shape, &nbytes, &total)) < 0)
        return err;
    if (nbytes != a->info.nbytes) {
        sharr__shape_text(a->info.ndim, a->info.shape, was, sizeof was);
        sharr__shape_text(ndim, shape, want, sizeof want);
        return sharr__fail(SHARR_ESHAPE, "cannot reshape array '%s' of %zu "
                           "elements (shape %s) into shape %s (%zu elements)",
                           a->info.name, a->info.nbytes / sharr_dtype_size(dt),
                           was, want, nbytes / sharr_dtype_size(dt));
    }
    /* The dict always fits (8 axes of 20 digits are far below its 4086
     * bytes), but the header is regenerated and checked, never assumed. */
    return sharr__npy_header(dt, ndim, shape, header);
}

/* Same element count, so the same nbytes and segment size: only the
 * control block's ndim/shape and the .npy header change, under the lock.
 * Another handle keeps its private copy of the old shape (its mapping
 * stays valid: no byte moves), which is why other handles are refused. */
int sharr_array_reshape(sharr_array *a, size_t ndim, const size_t *shape,
                        unsigned flags)
{
    unsigned char header[SHARR_DATA_OFFSET];
    bool took = false;
    uint32_t count, others;
    int err;

    if (flags & ~(SHARR_RESHAPE_FORCE | SHARR_RESHAPE_LOCK_HELD))
        return sharr__fail(SHARR_EINVAL, "unknown reshape flags 0x%x", flags);
    if ((err = reshape_check(a, ndim, shape, header)) < 0)
        return err;
    if (!a->locked && !(flags & SHARR_RESHAPE_LOCK_HELD)) {
        /* A dead holder does not matter here: no element is touched. */
        if ((err = sharr_array_lock(a)) < 0 && err != SHARR_EOWNERDEAD)
            return err;
        took = true;
    }
    /* This handle is one of them (it has a writable control block). */
    count = __atomic_load_n(&a->ctl->attach_count, __ATOMIC_RELAXED);
    others = count > 1 ? count - 1 : 0;
    if (others > 0 && !(flags & SHARR_RESHAPE_FORCE)) {
        err = sharr__fail(SHARR_EBUSY, "array '%s' has %u other open handle%s"
                          " (its attach count), whose shape would go stale: "
                          "close them first (a pool's workers keep theirs "
                          "until the pool is destroyed), or pass "
                          "SHARR_RESHAPE_FORCE (a killed process's handle "
                          "stays counted)",
                          a->info.name, others, others == 1 ? "" : "s");
        goto done;
    }
    __atomic_store_n(&a->ctl->ndim, (uint32_t)ndim, __ATOMIC_RELAXED);
    for (size_t i = 0; i < SHARR_MAX_NDIM; i++)
        __atomic_store_n(&a->ctl->shape[i], i < ndim ? shape[i] : 0,
                         __ATOMIC_RELAXED);
    memcpy(a->base, header, sizeof header);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    a->info.ndim = ndim;
    memset(a->info.shape, 0, sizeof a->info.shape);
    for (size_t i = 0; i < ndim; i++)
        a->info.shape[i] = shape[i];
    fill_derived(a);
    err = 0;
done:
    if (took)
        sharr_array_unlock(a);
    return err;
}

void sharr_array_id(const sharr_array *a, unsigned char id[16])
{
    memcpy(id, a->info.id, 16);
}

sharr_create_opts sharr__staged_create(const sharr_create_opts *asked,
                                       bool *keep)
{
    sharr_create_opts o = *asked;

    *keep = !(o.flags & SHARR_CREATE_TEMP);
    if (*keep) {
        o.flags |= SHARR_CREATE_TEMP;
        o.owner = 0;
    }
    return o;
}

int sharr_array_keep(sharr_array *a)
{
    int err;

    if (!a->temp_owner)
        return sharr__fail(SHARR_EPERM, "array '%s' was not created "
                           "temporary by this handle", a->info.name);
    /* The flag first: killed between the two steps, the guardian still
     * removes the array, and a half-kept array never outlives its owner. */
    __atomic_fetch_and(&a->ctl->flags, ~SHARR_CREATE_TEMP, __ATOMIC_SEQ_CST);
    if ((err = sharr__guardian_forget(a->temp_owner, a->info.name,
                                      a->info.id)) < 0) {
        __atomic_fetch_or(&a->ctl->flags, SHARR_CREATE_TEMP, __ATOMIC_SEQ_CST);
        return err;
    }
    a->info.flags &= ~SHARR_CREATE_TEMP;
    a->temp_owner = 0;
    return 0;
}

int sharr__pick_rows(size_t rows, size_t start, size_t end, size_t *r0,
                     size_t *r1)
{
    *r0 = start;
    *r1 = end ? end : rows;
    if (rows == 0 && start == 0 && end == 0)
        return 0; /* all of an array with no rows: rows 0..0 */
    if (*r1 > rows || *r0 >= *r1)
        return sharr__fail(SHARR_EINVAL, "rows %zu..%zu are not a non-empty "
                           "range of the %zu rows", start, *r1, rows);
    return 0;
}

/* "4x3" */
static void shape_text(size_t ndim, const size_t *shape, char *buf,
                       size_t size)
{
    int n = snprintf(buf, size, "%s", ndim ? "" : "scalar");
    for (size_t i = 0; i < ndim && n >= 0 && (size_t)n < size; i++)
        n += snprintf(buf + n, size - (size_t)n, "%s%zu", i ? "x" : "",
                      shape[i]);
}

int sharr__open_into(const char *into, sharr_dtype dt, size_t ndim,
                     const size_t *shape, const size_t *at, sharr_array **out)
{
    int err = sharr_array_open(into, 0, out);
    char have[SHARR_MAX_NDIM * 21 + 8], want[SHARR_MAX_NDIM * 21 + 8];

    if (err < 0)
        return err;
    const size_t *got = sharr_array_shape(*out);
    size_t gnd = sharr_array_ndim(*out);
    shape_text(gnd, got, have, sizeof have);
    shape_text(ndim, shape, want, sizeof want);
    if (sharr_array_dtype(*out) != dt)
        err = sharr__fail(SHARR_EDTYPE, "array '%s' is %s; the data loads as "
                          "%s", into, sharr_dtype_name(sharr_array_dtype(*out)),
                          sharr_dtype_name(dt));
    else if (!at && (gnd != ndim || memcmp(got, shape, ndim * sizeof *shape)))
        err = sharr__fail(SHARR_ESHAPE, "array '%s' has the shape %s; the "
                          "rows loaded have the shape %s", into, have, want);
    else if (at && (gnd != ndim || ndim == 0 ||
                    memcmp(got + 1, shape + 1, (ndim - 1) * sizeof *shape)))
        err = sharr__fail(SHARR_ESHAPE, "array '%s' has the shape %s; rows "
                          "of the shape %s need the same dimensions after "
                          "the first", into, have, want);
    else if (at && (*at > got[0] || shape[0] > got[0] - *at))
        err = sharr__fail(SHARR_ESHAPE, "array '%s' has %zu rows: the %zu "
                          "rows loaded do not fit at row %zu", into, got[0],
                          shape[0], *at);
    if (err < 0) {
        sharr_array_close(*out);
        *out = NULL;
    }
    return err;
}

/* ---- the robust lock ---- */

/* Lock m by the absolute CLOCK_MONOTONIC `at` (NULL: for ever), sleeping
 * at most 100 ms at a time: glibc wakes one waiter on a release (the
 * kernel one on a holder's death), and if that one is killed before it
 * takes the lock the others are never woken; glibc does not look at the
 * lock again when a timed wait ends, so each slice does.
 * @return what pthread_mutex_clocklock returns. */
static int lock_by(pthread_mutex_t *m, const struct timespec *at)
{
    for (;;) {
        struct timespec slice;
        int rc;

        clock_gettime(CLOCK_MONOTONIC, &slice);
        slice.tv_nsec += 100000000L;
        if (slice.tv_nsec >= 1000000000L) {
            slice.tv_sec++;
            slice.tv_nsec -= 1000000000L;
        }
        bool last = at && (at->tv_sec < slice.tv_sec ||
                           (at->tv_sec == slice.tv_sec &&
                            at->tv_nsec <= slice.tv_nsec));
        rc = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, last ? at : &slice);
        if (rc != ETIMEDOUT || last)
            return rc;
    }
}

/* The lock is busy: true if the calling thread holds it, through another
 * handle of this array.  The mutex is not error-checking, so taking it
 * again would wait for ever: that is SHARR_EBUSY instead. */
static bool held_by_caller(const sharr_array *a)
{
    bool died;

    return sharr__mutex_holder(a->ctl->lock, &died) ==
           (pid_t)syscall(SYS_gettid);
}

static int fail_held_by_caller(const sharr_array *a)
{
    return sharr__fail(SHARR_EBUSY, "this thread already holds the lock of "
                       "'%s' through another handle", a->info.name);
}

int sharr_array_lock(sharr_array *a)
{
    pthread_mutex_t *m;
    int rc;

    if (!a->ctl_writable)
        return sharr__fail(SHARR_EACCES, "array '%s' was opened without write "
                           "access to the segment: it cannot be locked",
                           a->info.name);
    if (a->locked)
        return sharr__fail(SHARR_EBUSY, "this handle already holds the lock "
                           "of '%s'", a->info.name);
    m = (pthread_mutex_t *)(void *)a->ctl->lock;
    rc = pthread_mutex_trylock(m); /* uncontended: no clock read */
    if (rc == EBUSY && held_by_caller(a))
        return fail_held_by_caller(a);
    while (rc == EBUSY || rc == EINTR)
        rc = lock_by(m, NULL);
    if (rc == EOWNERDEAD) {
        pthread_mutex_consistent(m);
        a->locked = true;
        return sharr__fail(SHARR_EOWNERDEAD, "the previous holder of the lock "
                           "of '%s' died while holding it; the data may be "
                           "half-updated", a->info.name);
    }
    if (rc != 0)
        return sharr__fail(rc == ENOTRECOVERABLE ? SHARR_ECORRUPT : -rc,
                           "locking '%s': %s", a->info.name, strerror(rc));
    a->locked = true;
    return 0;
}

int sharr_array_lock_timed(sharr_array *a, double timeout)
{
    pthread_mutex_t *m;
    struct timespec at;
    int rc;

    if (timeout < 0 || isinf(timeout))
        return sharr_array_lock(a);
    if (isnan(timeout))
        return sharr__fail(SHARR_EINVAL, "timeout is NaN");
    if (!a->ctl_writable || a->locked)
        return sharr_array_lock(a); /* the same refusals */
    m = (pthread_mutex_t *)(void *)a->ctl->lock;
    rc = pthread_mutex_trylock(m);
    if (rc == EBUSY && held_by_caller(a))
        return fail_held_by_caller(a);
    if (rc == EBUSY && timeout > 0) {
        clock_gettime(CLOCK_MONOTONIC, &at);
        timeout = timeout > 1e9 ? 1e9 : timeout;
        at.tv_sec += (time_t)timeout;
        at.tv_nsec += (long)((timeout - (double)(time_t)timeout) * 1e9);
        if (at.tv_nsec >= 1000000000L) {
            at.tv_sec++;
            at.tv_nsec -= 1000000000L;
        }
        rc = lock_by(m, &at);
    }
    if (rc == EBUSY || rc == ETIMEDOUT)
        return sharr__fail(SHARR_ETIMEDOUT, "the lock of '%s' is held by "
                           "another process%s", a->info.name,
                           timeout ? " (timed out)" : "");
    if (rc == EOWNERDEAD) {
        pthread_mutex_consistent(m);
        a->locked = true;
        return sharr__fail(SHARR_EOWNERDEAD, "the previous holder of the lock "
                           "of '%s' died while holding it; the data may be "
                           "half-updated", a->info.name);
    }
    if (rc != 0)
        return sharr__fail(rc == ENOTRECOVERABLE ? SHARR_ECORRUPT : -rc,
                           "locking '%s': %s", a->info.name, strerror(rc));
    a->locked = true;
    return 0;
}

int sharr_array_unlock(sharr_array *a)
{
    if (!a->locked)
        return sharr__fail(SHARR_EPERM, "this handle does not hold the lock "
                           "of '%s'", a->info.name);
    /* The mutex knows its holder: the thread that locked it through this
     * handle, not another thread using the handle, nor a forked child's
     * copy of it (which must not free the parent's critical section). */
    if (pthread_mutex_unlock((pthread_mutex_t *)(void *)a->ctl->lock) != 0)
        return sharr__fail(SHARR_EPERM, "this thread does not hold the lock "
                           "of '%s' (thread %d does)", a->info.name,
                           (int)sharr_array_lock_holder(a, NULL));
    a->locked = false;
    return 0;
}

pid_t sharr_array_lock_holder(const sharr_array *a, int *died)
{
    bool d;
    pid_t tid = sharr__mutex_holder(a->ctl->lock, &d);

    if (died)
        *died = d;
    return tid;
}

/* ---- listing and garbage collection ---- */

static int cmp_info(const void *x, const void *y)
{
    return strcmp(((const sharr_info *)x)->name,
                  ((const sharr_info *)y)->name);
}

static bool incomplete(const struct sharr__ctl *ctl)
{
    return memcmp(ctl->magic, SHARR__MAGIC_INCOMPLETE, 8) == 0;
}

/* Why the owner of a segment whose control block records `o` cannot be
 * judged by this process. */
static const char *unknown_why(const struct sharr__origin *o)
{
    static const unsigned char none[16];
    struct sharr__origin me;

    sharr__origin_self(&me);
    if (o->pidns_ino == 0 || memcmp(o->boot_id, none, 16) == 0)
        return "the segment does not record its owner's PID namespace and "
               "boot (made by an older sharr, or without /proc)";
    if (me.pidns_ino == 0 || memcmp(me.boot_id, none, 16) == 0)
        return "this process cannot read its own PID namespace or boot id "
               "(is /proc mounted?)";
    if (memcmp(o->boot_id, me.boot_id, 16) != 0)
        return "created in another boot";
    return "created in another PID namespace (another container?)";
}

/* Say in info->detail why its owner (recorded as `o`) cannot be judged. */
static void explain_unknown(const struct sharr__origin *o, sharr_info *info)
{
    snprintf(info->detail, sizeof info->detail, "%s", unknown_why(o));
}

/* Judge the owner `pid` of a segment (origin `o`) into info. */
static void judge(const struct sharr__origin *o, pid_t pid, uint64_t start,
                  sharr_info *info)
{
    info->creator = pid;
    info->creator_alive = sharr__owner_alive(pid, start, o);
    if (info->creator_alive == SHARR__UNKNOWN)
        explain_unknown(o, info);
}

/* Fill info's status and detail for an entry that could not be opened,
 * and its owner and mode from lstat (what gc needs to leave it alone). */
static void not_opened(const char *entry, int err, sharr_info *info)
{
    char path[SHARR_NAME_MAX + 32];
    struct stat l;

    info->status = err;
    snprintf(info->detail, sizeof info->detail, "%s", sharr_errmsg());
    snprintf(path, sizeof path, SHARR__SHM_DIR "/%s", entry);
    if (lstat(path, &l) == 0) {
        info->uid = l.st_uid;
        info->mode = l.st_mode & 07777;
    }
}

/* Open, validate and judge the segment at SHARR__SHM_DIR/ENTRY into *info
 * (name and path set by the caller), *ctl (zero if unread) and *st (st_ino
 * 0 if it could not be opened).  Never blocks, never follows a link. */
static void inspect(const char *entry, sharr_info *info,
                    struct sharr__ctl *ctl, struct stat *st)
{
    int fd, err;

    memset(ctl, 0, sizeof *ctl);
    if ((fd = sharr__shm_open(entry, O_RDONLY, 0, st)) < 0) {
        memset(st, 0, sizeof *st);
        not_opened(entry, fd, info);
        return;
    }
    err = read_segment(fd, st, ctl, info);
    close(fd);
    info->status = err;
    if (err < 0)
        snprintf(info->detail, sizeof info->detail, "%s", sharr_errmsg());
    if (err < 0 && incomplete(ctl))
        judge(&ctl->origin, (pid_t)ctl->creator_pid, ctl->creator_start,
              info);
    else if (err == 0 && info->creator_alive == SHARR__UNKNOWN)
        explain_unknown(&ctl->origin, info);
}

/* inspect() for a hidden build ".new.<pid>.<hex>": judged by its builder,
 * the pid in the name, in the PID namespace and boot its control block
 * records (written before the name appeared; see create_hidden). */
static void inspect_build(const char *entry, sharr_info *info,
                          struct sharr__ctl *ctl, struct stat *st)
{
    pid_t builder = (pid_t)strtol(entry + sizeof SHARR__PREFIX ".new." - 1,
                                  NULL, 10);
    int fd;

    memset(ctl, 0, sizeof *ctl);
    if ((fd = sharr__shm_open(entry, O_RDONLY, 0, st)) < 0) {
        memset(st, 0, sizeof *st);
        not_opened(entry, fd, info);
        return;
    }
    info->uid = st->st_uid;
    info->mode = st->st_mode & 07777;
    if (st->st_size >= 2 * SHARR__PAGE && st->st_size % SHARR__PAGE == 0 &&
        sharr__pread_all(fd, ctl, sizeof *ctl,
                         st->st_size - SHARR__CTL_SIZE) == 0 &&
        (incomplete(ctl) || memcmp(ctl->magic, SHARR__MAGIC, 8) == 0))
        judge(&ctl->origin, builder, (pid_t)ctl->creator_pid == builder
                                         ? ctl->creator_start : 0, info);
    else
        judge(&(const struct sharr__origin){0}, builder, 0, info);
    close(fd);
}

/* Fill *info for a listed name; a segment that fails validation keeps what
 * fstat says and, for a half-made one, its creator from the control block. */
static void list_one(const char *name, sharr_info *info)
{
    char entry[SHARR_NAME_MAX + 16];
    struct sharr__ctl ctl;
    struct stat st;

    memset(info, 0, sizeof *info);
    set_path(info, name);
    snprintf(entry, sizeof entry, SHARR__PREFIX "%s", name);
    inspect(entry, info, &ctl, &st);
}

int sharr_list(sharr_info **out, size_t *count)
{
    size_t n = 0, cap = 0;
    sharr_info *list = NULL;
    struct dirent *e;
    DIR *dir;
    int err = 0;

    *out = NULL;
    *count = 0;
    if (!(dir = opendir(SHARR__SHM_DIR)))
        return sharr__fail_os(-errno, "opendir " SHARR__SHM_DIR);
    while ((e = readdir(dir)) != NULL) {
        const char *name = e->d_name + strlen(SHARR__PREFIX);
        if (strncmp(e->d_name, SHARR__PREFIX, strlen(SHARR__PREFIX)) != 0 ||
            sharr_name_check(name) < 0)
            continue;
        if (n == cap) {
            sharr_info *bigger;
            cap = cap ? 2 * cap : 16;
            if (!(bigger = realloc(list, cap * sizeof *list))) {
                err = sharr__fail(SHARR_ENOMEM, "out of memory");
                break;
            }
            list = bigger;
        }
        list_one(name, &list[n++]);
    }
    closedir(dir);
    if (err < 0) {
        free(list);
        return err;
    }
    if (n > 0)
        qsort(list, n, sizeof *list, cmp_info);
    *out = list;
    *count = n;
    return 0;
}

void sharr_list_free(sharr_info *list)
{
    free(list);
}

typedef void (*report_fn)(const char *, sharr_gc_event, const char *, void *);

/* gc of one entry "sharr.X": an array name, a hidden build (".new.") or a
 * removal interrupted after its rename (".rm.", judged by its contents).
 * Removes it if it is this user's, a temporary array or a half-made one,
 * and its owner is surely gone; only the file checked is ever removed.
 * @return 1 if removed (or, dry, would be), else 0. */
static int gc_one(const char *entry, int dry_run, report_fn report,
                  void *ctx)
{
    const char *shown = entry + strlen(SHARR__PREFIX);
    bool build = strncmp(shown, ".new.", 5) == 0, half;
    struct sharr__ctl ctl;
    struct stat st;
    sharr_info in;
    int err;

    memset(&in, 0, sizeof in);
    if (build)
        inspect_build(entry, &in, &ctl, &st);
    else
        inspect(entry, &in, &ctl, &st);
    half = in.status == SHARR_ECORRUPT && incomplete(&ctl);
    if (in.uid != geteuid() || in.status == SHARR_ENOENT)
        return 0; /* never another user's; or removed meanwhile */
    if (st.st_ino == 0 || (in.status != 0 && !half)) {
        if (report)
            report(shown, SHARR_GC_INVALID, in.detail, ctx);
        return 0;
    }
    if (!(build || half || (in.flags & SHARR_CREATE_TEMP)) ||
        in.creator_alive == 1)
        return 0;
    if (in.creator_alive == SHARR__UNKNOWN) {
        if (report)
            report(shown, SHARR_GC_UNKNOWN, in.detail, ctx);
        return 0;
    }
    if (!dry_run && (err = sharr__unlink_checked(entry, &st)) < 0) {
        if (err == SHARR_EBUSY && report)
            report(shown, SHARR_GC_REPLACED, sharr_errmsg(), ctx);
        return 0; /* SHARR_ENOENT: somebody else removed it first */
    }
    if (report)
        report(shown, SHARR_GC_REMOVED, "", ctx);
    return 1;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The entries gc looks at, sorted, read before any is renamed or removed
 * (an entry renamed during readdir may be seen twice or not at all). */
static int gc_entries(char ***out, size_t *count)
{
    size_t n = 0, cap = 0, plen = strlen(SHARR__PREFIX);
    char **list = NULL;
    struct dirent *e;
    DIR *dir;

    if (!(dir = opendir(SHARR__SHM_DIR)))
        return sharr__fail_os(-errno, "opendir " SHARR__SHM_DIR);
    while ((e = readdir(dir)) != NULL) {
        const char *rest = e->d_name + plen;
        if (strncmp(e->d_name, SHARR__PREFIX, plen) != 0 ||
            (strncmp(rest, ".new.", 5) != 0 && strncmp(rest, ".rm.", 4) != 0 &&
             sharr_name_check(rest) < 0))
            continue;
        if (n == cap) {
            char **bigger = realloc(list, (cap = cap ? 2 * cap : 16) *
                                              sizeof *list);
            if (!bigger)
                break;
            list = bigger;
        }
        if (!(list[n] = strdup(e->d_name)))
            break;
        n++;
    }
    closedir(dir);
    if (e != NULL) {
        while (n > 0)
            free(list[--n]);
        free(list);
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    }
    if (n > 0)
        qsort(list, n, sizeof *list, cmp_str);
    *out = list;
    *count = n;
    return 0;
}

int sharr_gc_report(int dry_run, report_fn report, void *ctx)
{
    char **entries = NULL;
    size_t n = 0;
    int err, count = 0;

    if ((err = gc_entries(&entries, &n)) < 0)
        return err;
    for (size_t i = 0; i < n; i++) {
        count += gc_one(entries[i], dry_run, report, ctx);
        free(entries[i]);
    }
    free(entries);
    return count;
}

struct removed_only {
    void (*removed)(const char *, void *);
    void *ctx;
};

static void tell_removed(const char *name, sharr_gc_event ev,
                         const char *detail, void *ctx)
{
    const struct removed_only *r = ctx;

    (void)detail;
    if (ev == SHARR_GC_REMOVED && r->removed)
        r->removed(name, r->ctx);
}

int sharr_gc(int dry_run, void (*removed)(const char *, void *), void *ctx)
{
    struct removed_only r = {removed, ctx};
    return sharr_gc_report(dry_run, tell_removed, &r);
}

/* ---- publishing a staged array ---- */

/* The guardian learns the new name before it exists (a kill right after
 * the link still removes it: it is registered with this segment's id, so
 * no other array of that name is ever touched) and forgets the staging
 * name only once it is gone. */
int sharr__rename(const char *from, const char *to)
{
    char a[SHARR_NAME_MAX + 32], b[SHARR_NAME_MAX + 32];
    int err;

    if ((err = sharr_name_check(from)) < 0 ||
        (err = sharr_name_check(to)) < 0)
        return err;
    shm_path(from, a, sizeof a);
    shm_path(to, b, sizeof b);
    /* link(2) never replaces: an array that appeared under `to` stays. */
    if (link(a, b) < 0)
        return errno == EEXIST
                   ? sharr__taken(to, SHARR_KIND_ARRAY)
                   : sharr__fail_os(-errno, "cannot rename array '%s' to "
                                    "'%s'", from, to);
    unlink(a);
    return 0;
}

int sharr__array_publish(sharr_array *a, const char *name, bool replace)
{
    char from[SHARR_NAME_MAX + 32], to[SHARR_NAME_MAX + 32];
    char old[SHARR_NAME_MAX + 1];
    int err;

    if (!a->temp_owner)
        return sharr__fail(SHARR_EPERM, "array '%s' was not created "
                           "temporary by this handle", a->info.name);
    if ((err = sharr_name_check(name)) < 0)
        return err;
    if ((err = sharr__guardian_register(a->temp_owner, name, a->info.id)) < 0)
        return err;
    shm_path(a->info.name, from, sizeof from);
    shm_path(name, to, sizeof to);
    if (replace ? rename(from, to) < 0 : link(from, to) < 0) {
        err = errno == EEXIST
                  ? sharr__taken(name, SHARR_KIND_ARRAY)
                  : sharr__fail_os(-errno, "cannot name array '%s'", name);
        sharr__guardian_forget(a->temp_owner, name, a->info.id);
        return err;
    }
    if (!replace)
        unlink(from);
    snprintf(old, sizeof old, "%s", a->info.name);
    set_path(&a->info, name);
    sharr__guardian_forget(a->temp_owner, old, a->info.id);
    return 0;
}
