/*
 * h5ordered.c - the HDF5 file driver of appends: the bytes a file already
 * had change last, all together.
 *
 * HDF5 has no journal: it updates a file in place (superblock, the heap and
 * B-tree of the group that gets a link, status flags) in whatever order its
 * metadata cache flushes, so an append killed between two writes can leave a
 * group naming an object not yet written, a superblock whose end-of-file
 * address hides it, or a file flagged "open for writing".  This driver does
 * POSIX I/O on an fd the kernel opened and checked, writes everything beyond
 * the file's old end at once, and keeps every write below it in memory
 * (reads see them) until the file is closed.  Then, after the new bytes
 * (and fsync with sync), it writes the superblock (its larger end address
 * is harmless alone), then the other old bytes' new values with one pwrite
 * from the first changed byte to the last (gaps rewritten as they are) when
 * that spans at most 64 KiB, as it does when the group's metadata sits
 * together; else one write each, in an order where what is named comes
 * before what names it (heap data, heap headers, B-tree nodes, symbol-table
 * leaves).  A kill before that phase leaves every old byte as it was.  The
 * phase is made by a process of its own (commit()), so a kill of the saver
 * does not cut it short; one of that process too during it can still tear
 * a group (at a page boundary of the one write, or between the writes):
 * documented in sharr.h.  In a pool worker the final writes are handed to
 * the caller instead (an area of a segment it maps, h5ordered.h), whose
 * committer holds the target's lock until they end.  An append that fails
 * discards its in-place writes and the file gets its old size back.  One
 * process, one thread: a worker's kernel (or a caller without pool) uses
 * it for one H5Fopen..H5Fclose.
 */
#define _GNU_SOURCE
#include "h5ordered.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXADDR (((haddr_t)1 << (8 * sizeof(off_t) - 1)) - 1)
#define SPAN_MAX ((haddr_t)64 << 10)  /* bytes of the one final write */

struct ordered_fa {
    int fd;
    int sync;
    void *area;              /* final writes go here (see h5ordered.h) */
    size_t cap;
};

/* A write below the old end of the file, kept until the close. */
struct patch {
    haddr_t addr;
    size_t size;
    int rank;                /* the order class of the final writes */
    size_t seq;              /* write order within a class */
    unsigned char *buf;
};

typedef struct {
    H5FD_t pub;              /* first: HDF5 sees this */
    int fd;                  /* H5Fget_vfd_handle() points here */
    haddr_t eoa, eof, old_eof;
    dev_t dev;
    ino_t ino;
    struct patch *p;
    size_t n, cap, seq;
    bool sync, discard;
    void *area;              /* the final writes go there, if set */
    size_t area_cap;
} ordered_t;

/* ---- I/O ---- */

static int pread_full(int fd, unsigned char *buf, size_t size, haddr_t addr,
                      haddr_t eof)
{
    size_t have = addr >= eof ? 0 : (size_t)(eof - addr) < size
                                        ? (size_t)(eof - addr) : size;

    for (size_t done = 0; done < have;) {
        ssize_t n = pread(fd, buf + done, have - done, (off_t)(addr + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                break;
            return -1;
        }
        done += (size_t)n;
    }
    memset(buf + have, 0, size - have); /* past the end: zeros, as sec2 */
    return 0;
}

/* pwrite of all `size` bytes by the system call itself: no glibc wrapper,
 * whose cancellation handling would act on the parent thread in the
 * committer (which shares its memory and TLS). */
static int pwrite_full(int fd, const unsigned char *buf, size_t size,
                       haddr_t addr)
{
    for (size_t done = 0; done < size;) {
        long n = syscall(SYS_pwrite64, fd, buf + done, size - done,
                         (off_t)(addr + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

/* ---- patches ---- */

/* Named before naming: the superblock (end-of-file address, flags) first,
 * then raw data, global heaps, object headers, local heap data, heap
 * headers, B-tree nodes, symbol-table leaves, anything else. */
static int rank_of(H5FD_mem_t type, const unsigned char *buf, size_t size)
{
    bool sig = size >= 4;

    switch (type) {
    case H5FD_MEM_SUPER: return 0;
    case H5FD_MEM_DRAW: return 1;
    case H5FD_MEM_GHEAP: return 2;
    case H5FD_MEM_OHDR: return 3;
    case H5FD_MEM_LHEAP: return sig && memcmp(buf, "HEAP", 4) == 0 ? 5 : 4;
    case H5FD_MEM_BTREE: return sig && memcmp(buf, "SNOD", 4) == 0 ? 7 : 6;
    default: return 8;
    }
}

/* Copy the bytes of [a, a + size) that fall in patch q into it. */
static void overlay(const struct patch *q, haddr_t a, size_t size,
                    const unsigned char *from, unsigned char *to_q)
{
    haddr_t lo = a > q->addr ? a : q->addr;
    haddr_t hi = a + size < q->addr + q->size ? a + size : q->addr + q->size;

    if (lo < hi)
        memcpy(to_q + (lo - q->addr), from + (lo - a), (size_t)(hi - lo));
}

/* Every patch keeps the latest bytes of its range, so the patches agree
 * where they overlap and may be applied in any order. */
static int patch_add(ordered_t *f, H5FD_mem_t type, haddr_t addr, size_t size,
                     const unsigned char *buf)
{
    bool same = false;

    for (size_t i = 0; i < f->n; i++) {
        overlay(&f->p[i], addr, size, buf, f->p[i].buf);
        same |= f->p[i].addr == addr && f->p[i].size == size;
    }
    if (same)
        return 0;
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 16;
        struct patch *p = realloc(f->p, cap * sizeof *p);
        if (!p)
            return -1;
        f->p = p;
        f->cap = cap;
    }
    struct patch *q = &f->p[f->n];
    if (!(q->buf = malloc(size)))
        return -1;
    memcpy(q->buf, buf, size);
    q->addr = addr;
    q->size = size;
    q->rank = rank_of(type, buf, size);
    q->seq = f->seq++;
    f->n++;
    return 0;
}

static int by_rank(const void *a, const void *b)
{
    const struct patch *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* One write of the final phase. */
struct final_write {
    const unsigned char *buf;
    size_t size;
    haddr_t addr;
};

struct commit {
    int fd;
    bool sync;
    const struct final_write *w;
    size_t n;
};


/* The final writes, in order, then fdatasync with sync.  Runs in the
 * committer (below): system calls only, no allocation, no stdio, no
 * cancellation point.  Its own process group (a kill of the saver's group
 * spares it), only the target's fd, a name of its own.
 * @return its exit status: 0, or the errno of the failing call. */
static int committer(void *arg)
{
    const struct commit *c = arg;

    syscall(SYS_setpgid, 0, 0);
    syscall(SYS_prctl, PR_SET_NAME, "sharr-commit", 0, 0, 0);
    if (c->fd > 0)
        syscall(SYS_close_range, 0, c->fd - 1, 0);
    syscall(SYS_close_range, c->fd + 1, ~0u, 0);
    for (size_t i = 0; i < c->n; i++)
        if (pwrite_full(c->fd, c->w[i].buf, c->w[i].size, c->w[i].addr) < 0)
            return errno ? errno : EIO;
    if (c->sync && syscall(SYS_fdatasync, c->fd) < 0)
        return errno ? errno : EIO;
    return 0;
}

/* Make the final writes in a process of their own that shares our memory
 * (CLONE_VM | CLONE_VFORK: we wait for it), with every signal blocked, so
 * that a kill of the saver once they began does not cut them short: the
 * kernel stops a write at a page boundary when its writer gets a fatal
 * signal, which would tear the group.  It holds its own copy of `fd`, so a
 * lock on it (the target's, taken by the caller) lasts until it ends.
 * Killed, we leave; the committer finishes its few writes and init (or the
 * nearest subreaper) reaps it.  Its exit signal is 0: a host's wait(-1) or
 * SIGCHLD reaper never sees it while we live.  Its outcome is its exit
 * status.  Where clone is refused (seccomp, no pids left), the writes are
 * made here.  On kernels before 5.16 a core-dumping signal of ours kills it
 * too (it shares our memory).
 * @return 0, or -1 with errno (EINTR: the committer was killed; the detail
 * says by which signal). */
static int commit(int fd, bool sync, const struct final_write *w, size_t n)
{
    enum { STACK = 64 << 10 };
    struct commit c = {fd, sync, w, n};
    char *stack = malloc(STACK);
    sigset_t all, old;
    pid_t pid = -1;
    int st = 0, cancel, rc;

    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    if (stack) {
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pid = clone(committer, stack + STACK, CLONE_VM | CLONE_VFORK, &c);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (pid > 0) {
        while ((rc = (int)waitpid(pid, &st, __WALL)) < 0 && errno == EINTR)
            ;
        if (rc < 0)
            st = 0; /* reaped by someone else: the writes were made */
        if (WIFSIGNALED(st)) {
            sharr__fail(SHARR_EIO, "the final writes of the append were "
                        "killed by signal %d: the receiving group may be "
                        "torn", WTERMSIG(st));
            rc = EINTR;
        }
        else
            rc = WEXITSTATUS(st);
    }
    else
        rc = committer(&c);
    free(stack);
    pthread_setcancelstate(cancel, NULL);
    errno = rc;
    return rc ? -1 : 0;
}

/* ---- the final writes handed to the caller (h5ordered.h) ---- */

#define AREA_MAGIC 0x3174697277726873ull /* "shrwrit1" */

struct area_head {
    uint64_t magic;
    uint64_t n;              /* writes that follow, each an area_write */
};

struct area_write {
    uint64_t addr;
    uint64_t size;           /* then the bytes, padded to 8 */
};

static size_t padded(uint64_t size)
{
    return (size_t)((size + 7) & ~(uint64_t)7);
}

/* Lay w[0..n) out in area; -1 (area untouched) if they do not fit. */
static int export_writes(void *area, size_t cap, const struct final_write *w,
                         size_t n)
{
    unsigned char *p = area;
    size_t need = sizeof(struct area_head);

    for (size_t i = 0; i < n; i++) {
        if (w[i].size > cap || need > cap - sizeof(struct area_write) ||
            padded(w[i].size) > cap - need - sizeof(struct area_write))
            return -1;
        need += sizeof(struct area_write) + padded(w[i].size);
    }
    size_t at = sizeof(struct area_head);
    for (size_t i = 0; i < n; i++) {
        struct area_write h = {w[i].addr, w[i].size};
        memcpy(p + at, &h, sizeof h);
        memcpy(p + at + sizeof h, w[i].buf, w[i].size);
        at += sizeof h + padded(w[i].size);
    }
    struct area_head head = {AREA_MAGIC, n};
    memcpy(p, &head, sizeof head);
    return 0;
}

int sharr__h5_ordered_replay(int fd, bool sync, void *area, size_t cap)
{
    unsigned char *p = area;
    struct area_head head;
    struct final_write *w = NULL;
    size_t at = sizeof head;
    int err = -1;

    if (cap < sizeof head)
        return 0;
    memcpy(&head, p, sizeof head);
    if (head.magic != AREA_MAGIC || head.n == 0)
        return 0;
    /* The area is the caller's own segment, but bounded anyway. */
    if (head.n > cap / sizeof(struct area_write) ||
        !(w = calloc(head.n, sizeof *w))) {
        errno = head.n > cap / sizeof(struct area_write) ? EINVAL : ENOMEM;
        goto done;
    }
    for (uint64_t i = 0; i < head.n; i++) {
        struct area_write h;
        if (cap - at < sizeof h) {
            errno = EINVAL;
            goto done;
        }
        memcpy(&h, p + at, sizeof h);
        at += sizeof h;
        if (h.size > cap - at || padded(h.size) > cap - at ||
            h.addr > MAXADDR || h.size > MAXADDR - h.addr) {
            errno = EINVAL;
            goto done;
        }
        w[i] = (struct final_write){p + at, (size_t)h.size, h.addr};
        at += padded(h.size);
    }
    err = commit(fd, sync, w, head.n);
done:
    free(w);
    memset(p, 0, sizeof head);
    return err;
}

/* The final phase: new bytes durable first (with sync); then the
 * superblock (a larger end-of-allocation address is harmless alone); then
 * the other old bytes' new values in one write from the first changed byte
 * to the last (gaps rewritten with what they hold; the patches agree where
 * they overlap) if that spans at most SPAN_MAX, else one write each in rank
 * order.  commit() makes the writes. */
static int apply(ordered_t *f)
{
    haddr_t lo = HADDR_UNDEF, hi = 0;
    struct final_write *w = NULL;
    unsigned char *span = NULL;
    size_t i = 0, nw = 0;
    int err = -1;

    if (f->sync && fdatasync(f->fd) < 0)
        return -1;
    if (!f->n)
        return 0;
    qsort(f->p, f->n, sizeof *f->p, by_rank);
    if (!(w = malloc(f->n * sizeof *w)))
        return -1;
    for (; i < f->n && f->p[i].rank == 0; i++)
        w[nw++] = (struct final_write){f->p[i].buf, f->p[i].size,
                                       f->p[i].addr};
    for (size_t j = i; j < f->n; j++) {
        lo = f->p[j].addr < lo ? f->p[j].addr : lo;
        hi = f->p[j].addr + f->p[j].size > hi ? f->p[j].addr + f->p[j].size
                                             : hi;
    }
    if (i < f->n && hi - lo <= SPAN_MAX) {
        size_t size = (size_t)(hi - lo);
        if (!(span = malloc(size)) ||
            pread_full(f->fd, span, size, lo, f->eof) < 0)
            goto done;
        struct patch all = {lo, size, 0, 0, span};
        for (size_t j = i; j < f->n; j++)
            overlay(&all, f->p[j].addr, f->p[j].size, f->p[j].buf, span);
        w[nw++] = (struct final_write){span, size, lo};
    }
    else
        for (; i < f->n; i++)
            w[nw++] = (struct final_write){f->p[i].buf, f->p[i].size,
                                           f->p[i].addr};
    err = f->area && export_writes(f->area, f->area_cap, w, nw) == 0
              ? 0 : commit(f->fd, f->sync, w, nw);
done:
    free(span);
    free(w);
    return err;
}

/* ---- the driver's callbacks ---- */

static H5FD_t *drv_open(const char *name, unsigned flags, hid_t fapl,
                        haddr_t maxaddr)
{
    const struct ordered_fa *fa = H5Pget_driver_info(fapl);
    struct stat st;
    ordered_t *f;

    (void)name;
    (void)maxaddr;
    if (!fa || !(flags & H5F_ACC_RDWR) ||
        (flags & (H5F_ACC_TRUNC | H5F_ACC_EXCL)) || !(f = calloc(1, sizeof *f)))
        return NULL;
    if ((f->fd = fcntl(fa->fd, F_DUPFD_CLOEXEC, 0)) < 0 ||
        fstat(f->fd, &st) < 0) {
        if (f->fd >= 0)
            close(f->fd);
        free(f);
        return NULL;
    }
    f->eof = f->old_eof = (haddr_t)st.st_size;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->sync = fa->sync != 0;
    f->area = fa->area;
    f->area_cap = fa->cap;
    return &f->pub;
}

/* The outcome of this thread's last close (sharr__h5_ordered_closed). */
static _Thread_local int close_errno;

/* Always "closed" to HDF5: a failed close would leave it a half-destroyed
 * file that crashes its own shutdown.  The failure is kept instead. */
static herr_t drv_close(H5FD_t *file)
{
    ordered_t *f = (ordered_t *)file;
    int err = f->discard ? ftruncate(f->fd, (off_t)f->old_eof) : apply(f);

    close_errno = err < 0 ? (errno ? errno : EIO) : 0;
    for (size_t i = 0; i < f->n; i++)
        free(f->p[i].buf);
    free(f->p);
    if (close(f->fd) < 0 && !close_errno)
        close_errno = errno;
    free(f);
    return 0;
}

int sharr__h5_ordered_closed(void)
{
    int e = close_errno;
    close_errno = 0;
    return e;
}

static int drv_cmp(const H5FD_t *a, const H5FD_t *b)
{
    const ordered_t *x = (const ordered_t *)a, *y = (const ordered_t *)b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static herr_t drv_query(const H5FD_t *file, unsigned long *flags)
{
    (void)file;
    /* Not ACCUMULATE_METADATA: each write must keep its memory type. */
    *flags = H5FD_FEAT_AGGREGATE_METADATA | H5FD_FEAT_DATA_SIEVE |
             H5FD_FEAT_AGGREGATE_SMALLDATA | H5FD_FEAT_POSIX_COMPAT_HANDLE;
    return 0;
}

static haddr_t drv_get_eoa(const H5FD_t *file, H5FD_mem_t type)
{
    (void)type;
    return ((const ordered_t *)file)->eoa;
}

static herr_t drv_set_eoa(H5FD_t *file, H5FD_mem_t type, haddr_t addr)
{
    (void)type;
    ((ordered_t *)file)->eoa = addr;
    return 0;
}

static haddr_t drv_get_eof(const H5FD_t *file, H5FD_mem_t type)
{
    (void)type;
    return ((const ordered_t *)file)->eof;
}

static herr_t drv_get_handle(H5FD_t *file, hid_t fapl, void **handle)
{
    (void)fapl;
    *handle = &((ordered_t *)file)->fd;
    return 0;
}

static herr_t drv_read(H5FD_t *file, H5FD_mem_t type, hid_t dxpl,
                       haddr_t addr, size_t size, void *buf)
{
    ordered_t *f = (ordered_t *)file;

    (void)type;
    (void)dxpl;
    if (addr > MAXADDR || size > MAXADDR - addr || addr + size > f->eoa ||
        pread_full(f->fd, buf, size, addr, f->eof) < 0)
        return -1;
    for (size_t i = 0; i < f->n; i++) {
        const struct patch *q = &f->p[i];
        struct patch view = {addr, size, 0, 0, buf};
        overlay(&view, q->addr, q->size, q->buf, buf);
    }
    return 0;
}

static herr_t drv_write(H5FD_t *file, H5FD_mem_t type, hid_t dxpl,
                        haddr_t addr, size_t size, const void *buf)
{
    ordered_t *f = (ordered_t *)file;
    const unsigned char *b = buf;
    size_t below;

    (void)dxpl;
    if (addr > MAXADDR || size > MAXADDR - addr || addr + size > f->eoa)
        return -1;
    below = addr >= f->old_eof ? 0
            : (size_t)(f->old_eof - addr) < size ? (size_t)(f->old_eof - addr)
                                                 : size;
    if (below && patch_add(f, type, addr, below, b) < 0)
        return -1;
    if (below < size &&
        pwrite_full(f->fd, b + below, size - below, addr + below) < 0)
        return -1;
    if (addr + size > f->eof)
        f->eof = addr + size;
    return 0;
}

/* The file ends at the end-of-allocation address, but never shrinks below
 * its old size: HDF5 may have freed space at its end, but the old bytes
 * stay until the final phase, and a kill may come first (HDF5 is content
 * with a file longer than it needs). */
static herr_t drv_truncate(H5FD_t *file, hid_t dxpl, hbool_t closing)
{
    ordered_t *f = (ordered_t *)file;
    haddr_t to = f->eoa > f->old_eof ? f->eoa : f->old_eof;

    (void)dxpl;
    (void)closing;
    if (to != f->eof) {
        if (ftruncate(f->fd, (off_t)to) < 0)
            return -1;
        f->eof = to;
    }
    return 0;
}

static const H5FD_class_t ordered_class = {
    .name = "sharr-ordered",
    .maxaddr = MAXADDR,
    .fc_degree = H5F_CLOSE_WEAK,
    .fapl_size = sizeof(struct ordered_fa),
    .open = drv_open,
    .close = drv_close,
    .cmp = drv_cmp,
    .query = drv_query,
    .get_eoa = drv_get_eoa,
    .set_eoa = drv_set_eoa,
    .get_eof = drv_get_eof,
    .get_handle = drv_get_handle,
    .read = drv_read,
    .write = drv_write,
    .truncate = drv_truncate,
    .fl_map = H5FD_FLMAP_DICHOTOMY,
};

/* ---- for h5save.c ---- */

static hid_t driver_id = -1;

hid_t sharr__h5_ordered_fapl(int fd, bool sync, void *area, size_t cap)
{
    struct ordered_fa fa = {fd, sync, area, cap};
    hid_t fapl;

    if (driver_id < 0 || H5Iis_valid(driver_id) <= 0)
        driver_id = H5FDregister(&ordered_class);
    if (driver_id < 0 || (fapl = H5Pcreate(H5P_FILE_ACCESS)) < 0)
        return -1;
    if (H5Pset_driver(fapl, driver_id, &fa) < 0 ||
        H5Pset_file_locking(fapl, 0, 1) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

void sharr__h5_ordered_discard(hid_t file)
{
    hid_t fapl = H5Fget_access_plist(file);
    bool ours = fapl >= 0 && driver_id >= 0 && H5Pget_driver(fapl) == driver_id;
    void *handle = NULL;

    if (fapl >= 0)
        H5Pclose(fapl);
    if (ours && H5Fget_vfd_handle(file, H5P_DEFAULT, &handle) >= 0 && handle)
        ((ordered_t *)((char *)handle - offsetof(ordered_t, fd)))->discard =
            true;
}
