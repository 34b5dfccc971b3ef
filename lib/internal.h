/*
 * internal.h - private declarations shared by the library's modules.
 * Never installed.  Layers (folders of lib/): core (errors, dtypes) < store
 * (arrays, named objects, guardian) < ipc (queues, locks ...), pool < ops,
 * io (HDF5, .npy).
 */
#ifndef SHARR_INTERNAL_H
#define SHARR_INTERNAL_H

#include "sharr.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "sharr stores native little-endian elements; big-endian hosts are unsupported"
#endif

/* ---- errors (error.c) ---- */

/* Record the detail of a failure for sharr_errmsg() and return `code`. */
int sharr__fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record `code` with the errno text of -code appended to a printf detail. */
int sharr__fail_os(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Replace every `from` in the detail by `to` (e.g. a temporary file name
 * by the name the user gave). */
void sharr__errmsg_replace(const char *from, const char *to);

/* Forget the detail (before running a kernel, to tell whether it set one). */
void sharr__errmsg_clear(void);

/* Prefix the current detail with "<prefix>: " (for context while unwinding). */
void sharr__errmsg_prefix(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* ---- overflow-checked arithmetic ---- */

static inline bool sharr__mul_ok(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

static inline bool sharr__add_ok(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* ---- the segment (array.c) ---- */

#define SHARR__PAGE 4096u
#define SHARR__CTL_SIZE 4096u
#define SHARR__SHM_DIR "/dev/shm"
#define SHARR__PREFIX "sharr."

/* The magic says "complete"; a creator writes INCOMPLETE first and MAGIC
 * last, after every other byte of the segment is in place. */
#define SHARR__MAGIC "SHARRv1\0"
#define SHARR__MAGIC_INCOMPLETE "SHARRnew"

/* Where a pid means something: the PID namespace (st_dev and st_ino of
 * /proc/self/ns/pid) and the boot (/proc/sys/kernel/random/boot_id as 16
 * bytes).  Fixed-width, stored in the control block; all zero: unknown (a
 * segment made before it was recorded, or no /proc). */
struct sharr__origin {
    uint64_t pidns_dev;
    uint64_t pidns_ino;
    unsigned char boot_id[16];
};

/* The binary control block at ctl_offset.  Fixed-width little-endian fields;
 * the layout is part of the on-segment format (layout version 1). */
struct sharr__ctl {
    char magic[8];
    uint32_t version;
    uint32_t ctl_size;
    uint32_t dtype;
    uint32_t ndim;
    uint32_t flags;
    uint32_t kind;            /* sharr_kind: 0 (array) in version-1 blocks,
                                 another kind in version-2 blocks (named
                                 objects, object.c); was reserved */
    uint64_t shape[SHARR_MAX_NDIM];
    uint64_t nbytes;
    uint64_t data_offset;
    uint64_t ctl_offset;
    uint64_t total_size;
    int64_t creator_pid;
    uint64_t creator_start;   /* start time of creator_pid, clock ticks */
    int64_t created_sec;
    int64_t created_nsec;
    unsigned char id[16];
    uint32_t attach_count;    /* advisory: a killed process never decrements */
    uint32_t reserved1;
    struct sharr__origin origin; /* where creator_pid is numbered (was the
                                    first 32 reserved bytes: zero in older
                                    segments) */
    unsigned char reserved2[32];
    unsigned char lock[64] __attribute__((aligned(64))); /* pthread_mutex_t */
};

/* Validate a segment's control block and header copied out of it.  `ctl` and
 * `header` (SHARR_DATA_OFFSET bytes) are private copies; `size` is the real
 * size from fstat.  On success fills the shape fields of *info.
 * @return 0 or SHARR_ECORRUPT with the field named in the detail. */
int sharr__validate(const struct sharr__ctl *ctl, const unsigned char *header,
                    size_t size, sharr_info *info);

/* Write the .npy v1.0 header for dtype/shape into header[SHARR_DATA_OFFSET].
 * @return 0 or SHARR_EINVAL when the dict does not fit (it always fits for
 * valid shapes: 8 dims of 20 digits is far below 4086 bytes). */
int sharr__npy_header(sharr_dtype dt, size_t ndim, const size_t *shape,
                      unsigned char *header);

/* "/sharr.NAME" (for shm_open) into buf of at least SHARR_NAME_MAX + 8. */
void sharr__shm_name(const char *name, char *buf, size_t size);

/* Check the flags, mode and owner of sharr_create_opts for a new `what`
 * ("array", "object").  @return 0 or SHARR_EINVAL with the reason. */
int sharr__check_create_opts(const sharr_create_opts *o, const char *what);

/* The SHARR_OPEN_* flags a handle was opened with (0 for a created one), so
 * that pool workers attach the same way. */
unsigned sharr__array_open_flags(const sharr_array *a);

/* pread exactly n bytes at off (retrying short reads and EINTR).
 * @return 0, -errno, or SHARR_ECORRUPT if the file ends first. */
int sharr__pread_all(int fd, void *buf, size_t n, off_t off);

/* Rows [*r0, *r1) of `rows` from a start and an end (0: to the end).
 * An array of 0 rows with start = end = 0 gives 0..0 (all of it).
 * @return 0 or SHARR_EINVAL when the range is empty or too long. */
int sharr__pick_rows(size_t rows, size_t start, size_t end, size_t *r0,
                     size_t *r1);

/* Open the existing array `into` for a load of dtype/shape.
 * @return 0, an open error, SHARR_EDTYPE or SHARR_ESHAPE (*out NULL). */
int sharr__open_into(const char *into, sharr_dtype dt, size_t ndim,
                     const size_t *shape, const size_t *at, sharr_array **out);

/* Create options for an array that must appear all or nothing: temporary
 * (bound to the caller) while it is filled, unless the user asked for a
 * temporary array anyway.  *keep says whether to sharr_array_keep() it on
 * success. */
sharr_create_opts sharr__staged_create(const sharr_create_opts *asked,
                                       bool *keep);

/* sharr_array_create() without reserving the memory now (posix_fallocate
 * in the caller, one process zeroing every page): the writers reserve
 * their rows with sharr__array_populate() first, in parallel.  Reserves
 * as sharr_array_create() where the kernel cannot populate (before 5.14). */
int sharr__array_create_unreserved(const char *name, sharr_dtype dtype,
                                   size_t ndim, const size_t *shape,
                                   const sharr_create_opts *opts,
                                   sharr_array **out);

/* Allocate and map for writing the pages of rows [r0, r1) of `a` (one
 * madvise(MADV_POPULATE_WRITE)), so that the writes to them never SIGBUS.
 * A no-op where the kernel lacks it (the array was then reserved) and on
 * read-only handles.  @return 0, SHARR_ENOSPC (/dev/shm full), -errno. */
int sharr__array_populate(const sharr_array *a, size_t r0, size_t r1);

/* true when the segment `a` maps no longer has its name: the name is gone
 * or now holds another segment (st_dev/st_ino recorded at open/create
 * against an lstat of /dev/shm/sharr.NAME).  false when it cannot tell (e.g.
 * EACCES).  Pool workers use it to drop cached mappings of removed arrays. */
bool sharr__array_unlinked(const sharr_array *a);

/* Does the segment's control block now hold another ndim/shape than the
 * handle's private copy (a sharr_array_reshape() through another handle)?
 * The pool's workers reopen a cached array that changed. */
bool sharr__array_layout_changed(const sharr_array *a);

/* "2x3", "0x4" or "()" for error details, into buf (always terminated). */
void sharr__shape_text(size_t ndim, const size_t *shape, char *buf,
                       size_t size);

/* ---- /dev/shm entries (shm.c) ---- */

/* Open SHARR__SHM_DIR/ENTRY (ENTRY is a directory entry name such as
 * "sharr.NAME" or "sharr..new.PID.HEX") with `oflag` plus O_NONBLOCK,
 * O_NOFOLLOW, O_NOCTTY and O_CLOEXEC, so that nothing planted there (a FIFO,
 * a symlink, a device) can block, redirect or act on the open.  Anything but
 * a regular file is refused (without opening it when lstat sees it first).
 * *st receives the fstat of the open file.
 * @return the fd, -errno of open (detail: "PATH: <strerror>"), or
 * SHARR_ECORRUPT (detail: "PATH is a FIFO, not a shared-memory segment"). */
int sharr__shm_open(const char *entry, int oflag, mode_t mode,
                    struct stat *st);

/* "a FIFO", "a symbolic link", "a directory" ... for a non-regular st_mode. */
const char *sharr__file_kind(unsigned mode);

/* Remove SHARR__SHM_DIR/ENTRY only if it still is the file `checked` (its
 * st_dev/st_ino): the entry is renamed to a hidden unique name
 * (RENAME_NOREPLACE), compared there, and unlinked if it is the same file,
 * else renamed back.  So a segment that took the name after the caller's
 * check is never removed.
 * @return 0 removed, SHARR_ENOENT (gone already), SHARR_EBUSY (the name holds
 * another file now: left in place; the detail says where if it could not be
 * put back), or -errno. */
int sharr__unlink_checked(const char *entry, const struct stat *checked);

/* Tests only: when set, called by gc and the guardian between the check of
 * ENTRY and its removal (to replace the segment there on purpose). */
extern void (*sharr__unlink_test_hook)(const char *entry);

/* Unmap every mapping of a /dev/shm/sharr.* object in the calling process,
 * found in /proc/self/maps; for freshly forked helper processes (guardian,
 * pool supervisor) that must not pin segments.  Uses no malloc and no stdio
 * (safe in a child forked from a multi-threaded process).
 * @return the number of mappings removed, or -errno if /proc/self/maps
 * cannot be read. */
int sharr__unmap_segments(void);

/* ---- named objects other than arrays (object.c) ----
 *
 * Segment: [ state (nbytes = ctl_offset bytes, a multiple of 4096, at least
 * 4096) | control block (4096) ].  The control block is struct sharr__ctl
 * with version SHARR__OBJ_VERSION, kind != 0, dtype 0, ndim 0, shape 0,
 * data_offset 0, and at byte SHARR__PARAMS_OFFSET the kind's parameters,
 * fixed at creation.  Arrays keep writing version 1, which older libraries
 * open; older libraries refuse version 2 as "newer: upgrade".  The store
 * knows every kind's format (to validate it and to show its state); lib/ipc
 * implements what the objects do.  The structures below are the format:
 * fixed-width, little-endian, 64-byte robust mutexes (pthread_mutex_t).
 */
#define SHARR__OBJ_VERSION 2u
#define SHARR__PARAMS_OFFSET 512u
#define SHARR__LINE 128 /* keeps words of different writers apart */

/* Parameters: queue/pipe: p[0] capacity, p[1] max_msg, p[2] ring bytes (a
 * power of two >= capacity and 4096), p[3] directions (1 or 2); semaphore:
 * p[0] bound (0: none), p[1] initial value; barrier: p[0] parties, p[1]
 * party slots.  Unused entries are 0. */
struct sharr__params {
    uint64_t p[8];
};

/* A commit log: what the holder of a side's mutex is about to store, so
 * that the next holder after its death completes or undoes it. */
struct sharr__wal {
    uint64_t active;     /* 1 while the two stores below are under way */
    uint64_t old_pos, old_msgs, new_pos, new_msgs;
};

/* One direction of a queue: this 4096-byte page, then p[2] bytes of ring.
 * A message is an 8-byte header (len | ~len << 32) then len bytes, padded
 * to 8, at ring offset pos % ring bytes (wrapping). */
struct sharr__ring_state {
    /* producers only */
    unsigned char put_lock[64] __attribute__((aligned(SHARR__LINE)));
    struct sharr__wal put_wal;
    uint64_t put_repairs;
    /* written by producers: tail is the commit point of puts; its low 32
     * bits are the futex consumers sleep on */
    uint64_t tail __attribute__((aligned(SHARR__LINE)));
    uint64_t put_msgs;   /* messages ever put (counted before the commit) */
    /* consumers only */
    unsigned char get_lock[64] __attribute__((aligned(SHARR__LINE)));
    struct sharr__wal get_wal;
    uint64_t get_repairs;
    /* written by consumers: head commits gets; its low half is the futex
     * of producers waiting for space */
    uint64_t head __attribute__((aligned(SHARR__LINE)));
    uint64_t get_msgs;   /* messages ever taken */
    /* written rarely */
    uint32_t closed __attribute__((aligned(SHARR__LINE)));
    uint32_t data_waiters;  /* 1: a consumer may sleep (on this flag) */
    uint32_t space_waiters; /* 1: a producer may sleep (on this flag) */
    uint32_t join_waiters;  /* 1: a joiner may sleep (on this flag) */
    uint32_t sleepers;      /* advisory count for `sharr info` */
    /* task_done calls; low half: the joiners' futex */
    uint64_t done __attribute__((aligned(SHARR__LINE)));
};

/* A side's message count (put_msgs with the tail, get_msgs with the head)
 * as its last commit leaves it, for readers that do not take the side's
 * mutex (counts, join, task_done, sharr_stat): while the log is active,
 * the count stored first is true only once the commit store is made; a
 * holder killed before that leaves the old count true (and the next holder
 * stores it back).  A reader racing a live commit sees it before or after,
 * never a message that does not exist. */
static inline uint64_t sharr__ring_settled(const struct sharr__wal *w,
                                           const uint64_t *pos,
                                           const uint64_t *msgs)
{
    uint64_t m = __atomic_load_n(msgs, __ATOMIC_ACQUIRE);

    if (__atomic_load_n(&w->active, __ATOMIC_ACQUIRE) &&
        __atomic_load_n(pos, __ATOMIC_ACQUIRE) !=
            __atomic_load_n(&w->new_pos, __ATOMIC_RELAXED))
        return __atomic_load_n(&w->old_msgs, __ATOMIC_RELAXED);
    return m;
}

/* Lock and RLock; Condition adds its sequence word (the waiters' futex). */
struct sharr__lock_state {
    unsigned char mutex[64];
    uint64_t recoveries;     /* acquires that found the holder dead */
    uint32_t seq;            /* condition: bumped by every notify */
    uint32_t waiters;        /* condition: 1 while someone may sleep */
    uint32_t sleepers;       /* advisory count for `sharr info` */
};

/* Semaphore: the value is the futex. */
struct sharr__sem_state {
    uint32_t value;
    uint32_t waiters;        /* 1 while someone may sleep (on this flag) */
    uint32_t sleepers;
};

/* Event: the flag is the futex. */
struct sharr__event_state {
    uint32_t set;
    uint32_t waiters;
    uint32_t sleepers;
};

/* A barrier party: a process that waited through a handle still open. */
struct sharr__party {
    int32_t pid;             /* 0: free slot */
    uint32_t state;          /* SHARR__PARTY_* */
    uint64_t start;          /* start time of pid (clock ticks), 0: unknown */
    uint64_t pidns_ino;      /* its PID namespace (liveness judged only in
                                the same one) */
    uint64_t handle;         /* which handle of that process */
};
enum { SHARR__PARTY_ATTACHED = 1, SHARR__PARTY_WAITING, SHARR__PARTY_PASSED,
       SHARR__PARTY_BROKEN };

/* Barrier: all but `epoch` change under the robust mutex; epoch (the
 * waiters' futex) moves on every round completed, break and reset. */
struct sharr__barrier_state {
    unsigned char mutex[64];
    uint32_t epoch;
    uint32_t count;          /* parties waiting in this round */
    uint32_t broken;         /* 0, or SHARR__BROKEN_* why */
    int32_t broken_pid;      /* the party whose death broke it */
    uint64_t rounds;         /* rounds completed */
    uint64_t recoveries;
    uint32_t sleepers;
    uint32_t reserved;
    struct sharr__party party[]; /* p[1] slots */
};
enum { SHARR__BROKEN_ABORT = 1, SHARR__BROKEN_TIMEOUT, SHARR__BROKEN_DEATH,
       SHARR__BROKEN_RESET, SHARR__BROKEN_REPAIR };

/* The bytes of state a kind needs with parameters *p, or 0 if *p is not
 * valid for that kind (the detail says why). */
size_t sharr__obj_state_size(sharr_kind kind, const struct sharr__params *p);

/* A process's mapping of a named object. */
struct sharr__obj {
    unsigned char *base;     /* the segment; MAP_FAILED when unmapped */
    size_t size;             /* segment bytes */
    size_t state_size;       /* bytes before the control block */
    struct sharr__ctl *ctl;  /* inside base */
    struct sharr__params params; /* validated private copy: use this, never
                                    the shared one */
    sharr_kind kind;
    char name[SHARR_NAME_MAX + 1];
};

/* Create the object `name` of `kind` with parameters *p: its state is
 * zero, then init(state, p, ctx) prepares it (mutexes ...) before the name
 * appears.  opts may be NULL.  On failure nothing is left behind.
 * @return 0 or an error as sharr_array_create(). */
int sharr__obj_create(const char *name, sharr_kind kind,
                      const struct sharr__params *p,
                      int (*init)(unsigned char *state,
                                  const struct sharr__params *p),
                      const sharr_create_opts *opts, struct sharr__obj *o);

/* Open and map the object `name`, whose kind must be in `kinds` (a bit
 * mask of 1u << kind).  @return 0, SHARR_EKIND (the detail names both
 * kinds), or an error as sharr_array_open(). */
int sharr__obj_open(const char *name, unsigned kinds, unsigned flags,
                    struct sharr__obj *o);

/* Unmap (o may be half-built: base MAP_FAILED). */
void sharr__obj_close(struct sharr__obj *o);

/* sharr_stat() of an object: its control block is *ctl (already read from
 * fd, whose fstat is *st); validates it and fills *info with the kind's
 * state.  @return 0 or SHARR_ECORRUPT. */
int sharr__obj_read(int fd, const struct stat *st,
                    const struct sharr__ctl *ctl, sharr_info *info);

/* "an array", "a queue", "an event" ... for messages. */
const char *sharr__a_kind(sharr_kind kind);

/* SHARR_EEXIST for a new object `name` of kind `want`, saying what holds
 * the name ("'x' already exists: it is a queue, not a new one"). */
int sharr__taken(const char *name, sharr_kind want);

/* The thread id in a robust mutex's futex word (0: free), and whether its
 * holder died holding it (the kernel's FUTEX_OWNER_DIED bit). */
pid_t sharr__mutex_holder(const void *mutex, bool *died);

/* A failure `err` to create the hidden build `hidden` of the `what`
 * ("array", "queue" ...) `name`, reported for that name: the hidden name
 * means nothing to the caller, the reason (a read-only or unwritable
 * /dev/shm) does.  @return err. */
int sharr__explain_create_failure(int err, const char *what,
                                  const char *name, const char *hidden);

/* ---- processes (guardian.c) ---- */

/* The caller's origin (PID namespace and boot); zero fields it cannot read. */
void sharr__origin_self(struct sharr__origin *o);

/* Liveness of owner `pid` (started at `start`, 0: not known) numbered in
 * the PID namespace and boot `o`: 1 alive, 0 gone, or SHARR__UNKNOWN when
 * it cannot be judged here (another namespace or boot, or `o` or the
 * caller's origin unknown).  Never 0 unless the owner is surely gone. */
#define SHARR__UNKNOWN (-1)
int sharr__owner_alive(pid_t pid, uint64_t start,
                       const struct sharr__origin *o);

/* The start time of `pid` in clock ticks since boot (field 22 of
 * /proc/PID/stat), or 0 if it cannot be read (or /proc is not the caller's
 * PID namespace's, where /proc/PID names another process). */
uint64_t sharr__proc_start(pid_t pid);

/* 1 if `pid` is alive and, when `start` is not 0, started at `start` (the
 * start is not compared when /proc belongs to another PID namespace).
 * Judges `pid` in the caller's PID namespace: see sharr__owner_alive(). */
int sharr__proc_alive(pid_t pid, uint64_t start);

/* Ask the guardian of process `watch` (the caller or its parent) to unlink
 * shm object `name` with control-block id `id` once `watch` exits; with id
 * NULL, whatever the name holds (for names unique to the caller).  Call
 * before the segment exists, so no crash can leave it unregistered.
 * @return 0, SHARR_EINVAL (watch is neither the caller nor its parent), or
 * the failure to start the guardian. */
int sharr__guardian_register(pid_t watch, const char *name,
                             const unsigned char id[16]);

/* ---- conversions (dtype.c) ---- */

/* An integer element as 64 bits, sign- or zero-extended by dt's kind (read
 * it as int64_t for 'i' dtypes); 0 for a dtype that is not an integer. */
uint64_t sharr__int_load(sharr_dtype dt, const void *elem);

/* The low `size` bytes (1, 2, 4 or 8) of v into elem: two's complement, so
 * one store serves signed and unsigned dtypes. */
void sharr__int_store(size_t size, uint64_t v, void *elem);

/* IEEE binary16 bits to float, exactly (NaN payloads kept). */
float sharr__half_to_float(uint16_t h);

/* `count` little-endian halves stored at buf + 2 * count, widened in place
 * to `count` floats at buf (4 * count bytes). */
void sharr__widen_halves(void *buf, size_t count);

/* ---- kernels (ops.c) ---- */

/* Fill `count` elements of dtype dt at dst, the first being C-order element
 * `first` of its array (range and random depend on the index). */
void sharr__fill_elements(sharr_dtype dt, const sharr_fill_spec *spec,
                          void *dst, size_t first, size_t count);

/* ---- publishing a staged array (array.c) ---- */

/* Give the array `a`, created temporary by this handle under a staging
 * name, the name `name` (link(2), or with `replace` rename(2) over an
 * existing array), and drop the staging name; the guardian then watches
 * `name`.  The caller keeps it (sharr_array_keep) if it is to stay.
 * @return 0, SHARR_EEXIST (without replace), SHARR_EPERM (not created
 * temporary by this handle), or -errno. */
int sharr__array_publish(sharr_array *a, const char *name, bool replace);

/* Tell the guardian of `watch` not to remove `name` (with `id`; NULL: the
 * name registered without an id) after all.
 * @return 0 or the failure to reach the guardian. */
int sharr__guardian_forget(pid_t watch, const char *name,
                           const unsigned char id[16]);

/* In a freshly forked helper process (the pool's supervisor): close the
 * connections to the parent's guardians and forget them, so that a
 * temporary array made later starts a guardian of its own (guardian.c). */
void sharr__guardian_drop_inherited(void);

/* ---- random bytes (array.c) ---- */
int sharr__random_bytes(void *buf, size_t n);

/* ---- fast exit for forked children (guardian.c) ---- */
/* Leave a forked child without running the parent's atexit handlers; in
 * coverage builds (SHARR_COVERAGE) exit() so gcov data is flushed. */
__attribute__((noreturn)) void sharr__child_exit(int status);

/* ---- OpenBLAS threads in workers (pool/blas_threads.c) ---- */
/* libsharr does not link OpenBLAS: lib/ops/blas.c loads it on first use.
 * A worker asks for `n` OpenBLAS threads: at once if OpenBLAS is in the
 * process already (the host program links it), else when blas.c loads it. */
void sharr__blas_threads_set(int n);
/* Give OpenBLAS, as found through dlsym handle `lib`, `n` threads (one:
 * without restarting its thread server in a forked child). */
void sharr__blas_threads_apply(void *lib, int n);
/* The count this process's worker asked for; 0 outside workers. */
int sharr__blas_threads_wanted(void);

#include "exports.h"

#endif /* SHARR_INTERNAL_H */
