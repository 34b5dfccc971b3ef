/*
 * sharr.h - named shared-memory numeric arrays for many processes.
 *
 * This header is the whole public API and its manual.
 *
 * NAMES.  An array is a POSIX shared-memory object named "/sharr.NAME", so it
 * appears as /dev/shm/sharr.NAME.  NAME is 1..200 characters of
 * [A-Za-z0-9._-] and does not start with '.'.  Queues, pipes, locks,
 * semaphores, events, conditions and barriers share that name space: a
 * name holds one object of one kind (see "Queues and synchronization
 * objects" for their layout).
 *
 * SEGMENT LAYOUT (layout version 1, all integers little-endian):
 *
 *   offset 0        a NumPy .npy v1.0 header: "\x93NUMPY", 1, 0, a uint16
 *                   header length (4086), then the dict
 *                   {'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }
 *                   padded with spaces and ended by '\n' at byte 4095.
 *   4096            the elements, C order (row-major), native little-endian,
 *                   nbytes = itemsize * prod(shape) bytes.
 *   ctl_offset      4096 + nbytes rounded up to a multiple of 4096: the
 *                   4096-byte binary control block (magic, layout version,
 *                   dtype, ndim, shape, nbytes, offsets, creator pid and
 *                   start time, creation time, a random 128-bit id, flags, a
 *                   robust process-shared mutex, an attach count).
 *   end             ctl_offset + 4096 = the size of the segment.
 *
 * The control block, byte offsets from ctl_offset (u32/u64/i64 little-endian;
 * lib/internal.h, struct sharr__ctl, is the reference):
 *     0 magic "SHARRv1\0" ("SHARRnew" while incomplete)   8 u32 version (1)
 *    12 u32 ctl_size (4096)  16 u32 dtype  20 u32 ndim  24 u32 flags
 *    28 reserved  32 u64 shape[8]  96 u64 nbytes  104 u64 data_offset
 *   112 u64 ctl_offset  120 u64 total_size  128 i64 creator pid
 *   136 u64 creator start time (clock ticks since boot; 0: unknown)
 *   144 i64 created sec  152 i64 created nsec  160 id[16]
 *   176 u32 attach count  180 reserved
 *   184 u64 pidns_dev, 192 u64 pidns_ino: the PID namespace the creator pid
 *       is numbered in (st_dev, st_ino of /proc/self/ns/pid)
 *   200 boot_id[16] (/proc/sys/kernel/random/boot_id as bytes)
 *   216 reserved (32)  256 the robust mutex (64)
 * Segments made before the PID namespace and boot were recorded have zeros
 * there: their owner's liveness is "unknown" (see sharr_gc()).
 *
 * So numpy.load("/dev/shm/sharr.NAME", mmap_mode="r+") is a writable,
 * zero-copy view of the same elements.  A segment is built under a hidden
 * name (sharr..new.PID.HEX) and linked to its name only when complete, with
 * the control block's magic written last: a half-made segment never appears
 * under an array name, and `sharr gc` removes a hidden one whose creator
 * was killed.  Opening re-checks every
 * field against the segment's real size and regenerates the .npy header to
 * compare it byte for byte; anything else is SHARR_ECORRUPT.  Nothing under
 * /dev/shm is trusted: entries are opened with O_NONBLOCK|O_NOFOLLOW and
 * anything but a regular file (a FIFO, a symlink, a directory, a device) is
 * SHARR_ECORRUPT, with a detail that says what it is; no call ever blocks
 * on one.
 *
 * DTYPES and element sizes: i8 i16 i32 i64 (1 2 4 8), u8 u16 u32 u64
 * (1 2 4 8), f32 f64 (4 8), c64 c128 (8 16: real part first, like C99
 * `float complex` / `double complex` and NumPy).
 *
 * SHAPES.  ndim is 0..SHARR_MAX_NDIM (8).  ndim 0 is a scalar of one element
 * (multiprocessing's Value).  A dimension may be 0 (an empty array, as in
 * NumPy: shape (0, 4) has 0 rows of 4 elements, (4, 0) has 4 rows of none);
 * its segment has nbytes 0, the control block right at byte 4096 and a
 * .npy header NumPy reads ("'shape': (0,4)").  As in NumPy, the product of
 * the nonzero dimensions times the item size must still fit in 63 bits.
 * "Rows" are the indices of axis 0 (a scalar has one row); a row is the
 * C-contiguous block of prod(shape[1:]) elements.  Every operation accepts
 * empty arrays: a job over 0 rows has 0 blocks and is over at once (its
 * kernel is never called); a job over rows of no elements ((4, 0)) calls
 * its kernel with row_bytes 0, and b->data then points at the end of the
 * (empty) data area: there is nothing to read or write through it.  A fill
 * or apply changes nothing, statistics of no elements are count 0, sum 0,
 * mean, min and max NaN, 2-norm 0.
 *
 * ERRORS.  Every function that can fail returns int: 0 (or a documented
 * non-negative value) on success, else a negative SHARR_E* code.  OS failures
 * are -errno (SHARR_ENOENT == -ENOENT); sharr's own codes are <= -1000.
 * sharr_strerror() names a code; sharr_errmsg() gives the calling thread's
 * detail of its last failure.  The library never prints and never exits.
 *
 * OWNERSHIP.  Handles come from a constructor through an out-parameter (NULL
 * on failure) and are released by the matching release function, which
 * accepts NULL.  Pointers returned by getters are borrowed and valid until the
 * handle is closed.  A segment outlives every handle: it is removed only by
 * sharr_unlink() (or, for a temporary array, when its owner process exits).
 *
 * THREADS AND FORK.  Distinct handles may be used from distinct threads; one
 * handle must not be used by two threads at once (the lock functions are the
 * exception: they are meant for it).  A mapping survives fork(): a child may
 * keep using its parent's handles.  A pool forks its supervisor, which
 * forks the workers: create it before starting threads (see "The worker
 * pool" below).
 *
 * SECTIONS.  Errors; dtypes and values (lib/core); arrays (lib/store, with
 * temporary arrays' guardian); queues, pipes, locks, semaphores, events,
 * conditions and barriers (lib/ipc); the worker pool (lib/pool: supervisor,
 * workers, schedules, jobs, results, processes); built-in operations
 * (lib/ops); HDF5 and .npy files (lib/io).
 *
 * LIBRARIES.  Everything here is in libsharr (pkg-config sharr, CMake
 * sharr::sharr) except the sharr_h5_* functions, which are in libsharr-h5
 * (pkg-config sharr-h5, CMake sharr::h5), so that a program that does not
 * use HDF5 never loads it.  Neither links OpenBLAS: sharr_gemm() and
 * sharr_axpy() of float dtypes load libopenblas.so.0 on their first call
 * (the one the program links, if it does).
 */
#ifndef SHARR_H
#define SHARR_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(SHARR_BUILDING)
#define SHARR_API __attribute__((visibility("default")))
#else
#define SHARR_API
#endif

#define SHARR_VERSION_MAJOR 0
#define SHARR_VERSION_MINOR 1
#define SHARR_VERSION_PATCH 0
#define SHARR_VERSION_STRING "0.1.0"

/* sharr_version_string() : the library's version, e.g. "0.1.0". */
SHARR_API const char *sharr_version_string(void);

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* X(name, value, description): one list makes the enum and the strings. */
#define SHARR_ERRORS(X)                                                      \
    X(OK, 0, "success")                                                      \
    X(EPERM, -EPERM, "operation not permitted")                              \
    X(ENOENT, -ENOENT, "no such array or file")                              \
    X(EIO, -EIO, "input/output error")                                       \
    X(ENOMEM, -ENOMEM, "out of memory")                                      \
    X(EACCES, -EACCES, "permission denied")                                  \
    X(EBUSY, -EBUSY, "busy")                                                 \
    X(EEXIST, -EEXIST, "already exists")                                     \
    X(EINVAL, -EINVAL, "invalid argument")                                   \
    X(ENOSPC, -ENOSPC, "no space left in shared memory")                     \
    X(EDOM, -EDOM, "argument outside the operation's domain")                \
    X(ERANGE, -ERANGE, "value out of range")                                 \
    X(EOVERFLOW, -EOVERFLOW, "size overflows")                               \
    X(ETIMEDOUT, -ETIMEDOUT, "timed out")                                    \
    X(ECANCELED, -ECANCELED, "canceled")                                     \
    X(EOWNERDEAD, -EOWNERDEAD, "previous lock holder died")                  \
    X(ECORRUPT, -1001, "segment is corrupt or not a sharr array")            \
    X(EFOREIGN, -1002, "array is owned by another user")                     \
    X(EWORKER, -1003, "a worker process died")                               \
    X(EDTYPE, -1004, "unsupported or mismatched dtype")                      \
    X(ESHAPE, -1005, "mismatched shape")                                     \
    X(EHDF5, -1006, "HDF5 library error")                                    \
    X(EUNSUPPORTED, -1007, "unsupported data type or layout")              \
    /* Queues and synchronization objects (lib/ipc/): -1020 and on. */       \
    X(EKIND, -1020, "named object is of another kind")                     \
    X(EFULL, -1021, "queue is full")                                         \
    X(EEMPTY, -1022, "queue is empty")                                       \
    X(ECLOSED, -1023, "queue is closed")                                     \
    X(EBROKEN, -1024, "barrier is broken")

#define SHARR_ERR_ENUM_(name, value, text) SHARR_##name = (value),
enum sharr_error { SHARR_ERRORS(SHARR_ERR_ENUM_) };
#undef SHARR_ERR_ENUM_

/* sharr_strerror() : a static one-line name for `code` (any SHARR_E* value
 * or -errno).  Never NULL. */
SHARR_API const char *sharr_strerror(int code);

/* sharr_errmsg() : the detail of the calling thread's last failure, e.g.
 * "ndim = 9: the limit is 8".  Valid until the thread's
 * next sharr call; "" if nothing failed yet. */
SHARR_API const char *sharr_errmsg(void);

/* ------------------------------------------------------------------------ */
/* Dtypes and values (lib/core/dtype.c)                                      */
/* ------------------------------------------------------------------------ */

/* The numbers are stored in segments: never renumber. */
typedef enum sharr_dtype {
    SHARR_DTYPE_INVALID = 0,
    SHARR_I8 = 1, SHARR_I16, SHARR_I32, SHARR_I64,
    SHARR_U8, SHARR_U16, SHARR_U32, SHARR_U64,
    SHARR_F32, SHARR_F64,
    SHARR_C64, SHARR_C128
} sharr_dtype;

#define SHARR_NDTYPES 12
#define SHARR_MAX_ITEMSIZE 16

/* sharr_dtype_size() : bytes per element; 0 for an invalid dtype. */
SHARR_API size_t sharr_dtype_size(sharr_dtype dt);

/* sharr_dtype_name() : "i8" ... "c128"; NULL for an invalid dtype. */
SHARR_API const char *sharr_dtype_name(sharr_dtype dt);

/* sharr_dtype_descr() : the NumPy descr ("|i1", "<f8", "<c16" ...); NULL for
 * an invalid dtype. */
SHARR_API const char *sharr_dtype_descr(sharr_dtype dt);

/* sharr_dtype_kind() : 'i' signed integer, 'u' unsigned, 'f' float, 'c'
 * complex (NumPy's kind letters); 0 for an invalid dtype. */
SHARR_API char sharr_dtype_kind(sharr_dtype dt);

/* sharr_dtype_parse() : parse a dtype name into *out.  Accepted, case
 * sensitive as in NumPy: sharr's names (i8 ... c128, sizes in bits);
 * NumPy's sized names (int8 ... uint64, float32, float64, complex64,
 * complex128); the other names np.dtype() reads on an LP64 host: int,
 * int_, long, longlong, intp (int64), uint, ulong, ulonglong, uintp
 * (uint64), intc (int32), uintc (uint32), short, ushort, byte, ubyte,
 * float, double (float64), single (float32), complex, cdouble
 * (complex128), csingle (complex64); and NumPy typestrs with a byte order,
 * '<', '=' or '|' ("<f8", "|u1", "=c16").  A bare typestr ("f8", "i4") is
 * refused: NumPy's "i8" is int64, sharr's is int8.
 * @return 0 or SHARR_EINVAL (the detail says why, or lists the names). */
SHARR_API int sharr_dtype_parse(const char *text, sharr_dtype *out);

/* sharr_value_parse() : convert `text` to one element of `dt` at `elem`
 * (sharr_dtype_size(dt) bytes).  Integers: decimal or 0x hex, range-checked.
 * Floats: anything strtod accepts, plus inf and nan, rounded once to the
 * dtype (f32 and c64 with strtof: "3.4028235e+38" is FLT_MAX, a text
 * beyond the largest float is SHARR_ERANGE).  Complex: "1.5", "-2j",
 * "0.6+0.8i", "0.6-0.8j", "(1+2j)".  A complex value is refused for a real
 * dtype and a fraction for an integer dtype.
 * @return 0, SHARR_EINVAL (not a number of that kind) or SHARR_ERANGE. */
SHARR_API int sharr_value_parse(sharr_dtype dt, const char *text, void *elem);

/* sharr_value_format() : write the element at `elem` as text into buf
 * (always NUL-terminated).  Floats use the fewest digits that read back
 * exactly, laid out as NumPy's repr without a trailing ".0": positional for
 * 1e-4 <= |x| < 1e16 (1e6 for f32 and c64 parts: "10", "0.0001"), else
 * "1e+16", "2.5e-05"; complex is "re+imj" like NumPy, e.g. "0.6+0.8j".
 * @return the length written, or SHARR_ERANGE if `size` was too small. */
SHARR_API int sharr_value_format(sharr_dtype dt, const void *elem, char *buf,
                                 size_t size);

/* ------------------------------------------------------------------------ */
/* Arrays (lib/store/)                                                       */
/* ------------------------------------------------------------------------ */

#define SHARR_MAX_NDIM 8
#define SHARR_NAME_MAX 200
#define SHARR_DATA_OFFSET 4096
#define SHARR_LAYOUT_VERSION 1

typedef struct sharr_array sharr_array;

/* Creation flags. */
#define SHARR_CREATE_TEMP 0x1u   /* remove when the owner process exits */

typedef struct sharr_create_opts {
    unsigned flags;   /* SHARR_CREATE_* */
    unsigned mode;    /* permission bits; 0 means 0600.  Set with fchmod, so
                         the umask does not change them. */
    pid_t owner;      /* SHARR_CREATE_TEMP only: the process whose exit
                         removes the array; 0 means the caller.  It must be
                         the caller or its parent (the CLI uses its parent,
                         the shell that ran it). */
} sharr_create_opts;

/* sharr_name_check() : 0 if `name` is a valid array name (1..200 chars of
 * [A-Za-z0-9._-], not starting with '.'), else SHARR_EINVAL saying why. */
SHARR_API int sharr_name_check(const char *name);

/* sharr_array_create() : create, zero-fill and map a new array `name` of
 * `dtype` and shape[0..ndim) (shape may be NULL when ndim is 0).  opts may be
 * NULL for defaults.  The memory is reserved now (posix_fallocate), so later
 * writes never SIGBUS.  A temporary array is removed when its owner exits,
 * even by SIGKILL (a small guardian process per creating process does it).
 * On failure nothing is left behind.  Release with sharr_array_close().
 * @return 0, SHARR_EINVAL (bad name, dtype, ndim, shape, opts), SHARR_EOVERFLOW
 * (byte size overflows), SHARR_EEXIST, SHARR_ENOSPC (detail: bytes needed and
 * free, and what to do), SHARR_EACCES, SHARR_ENOMEM. */
SHARR_API int sharr_array_create(const char *name, sharr_dtype dtype,
                                 size_t ndim, const size_t *shape,
                                 const sharr_create_opts *opts,
                                 sharr_array **out);

/* Open flags. */
#define SHARR_OPEN_RDONLY  0x1u  /* map the elements PROT_READ */
#define SHARR_OPEN_FOREIGN 0x2u  /* accept a segment owned by another user */

/* sharr_array_open() : validate and map the existing array `name`.  With
 * SHARR_OPEN_RDONLY the elements are mapped read-only (a write faults); the
 * lock still works when the caller may write the segment.
 * Release with sharr_array_close().
 * @return 0, SHARR_EINVAL (bad name or flags), SHARR_ENOENT, SHARR_EACCES,
 * SHARR_EFOREIGN (owned by another user and no SHARR_OPEN_FOREIGN),
 * SHARR_ECORRUPT (detail names the field that does not match), SHARR_EKIND
 * (the name holds a queue, a lock ...: the detail says which). */
SHARR_API int sharr_array_open(const char *name, unsigned flags,
                               sharr_array **out);

/* sharr_array_keep() : make a temporary array this handle created
 * permanent: its owner's exit no longer removes it.  With this, a producer
 * can make an array all-or-nothing: create it temporary, fill it, keep it.
 * @return 0, SHARR_EPERM (not created temporary by this handle), or the
 * failure to reach the guardian (the array then stays temporary). */
SHARR_API int sharr_array_keep(sharr_array *a);

/* sharr_array_close() : unmap and free the handle (NULL is fine).  Releases
 * the lock if this handle holds it.  The segment itself stays. */
SHARR_API void sharr_array_close(sharr_array *a);

/* sharr_unlink() : remove the array (or queue, lock ...) `name` (like
 * unlink(2): processes that have it mapped keep their mapping, and a lock
 * or queue they use keeps working for them).  Works on corrupt segments.
 * @return 0, SHARR_EINVAL (bad name), SHARR_ENOENT, SHARR_EACCES/EPERM. */
SHARR_API int sharr_unlink(const char *name);

/* Getters.  All take a valid open handle. */
SHARR_API void *sharr_array_data(const sharr_array *a);   /* first element */
SHARR_API sharr_dtype sharr_array_dtype(const sharr_array *a);
SHARR_API size_t sharr_array_ndim(const sharr_array *a);
SHARR_API const size_t *sharr_array_shape(const sharr_array *a); /* ndim */
SHARR_API size_t sharr_array_rows(const sharr_array *a);  /* shape[0] or 1 */
SHARR_API size_t sharr_array_row_bytes(const sharr_array *a);
SHARR_API size_t sharr_array_nbytes(const sharr_array *a); /* element bytes */
SHARR_API size_t sharr_array_size(const sharr_array *a);  /* element count */
SHARR_API const char *sharr_array_name(const sharr_array *a);
SHARR_API int sharr_array_writable(const sharr_array *a); /* 1 or 0 */

/* sharr_array_id() : copy the array's random 128-bit id (16 bytes) to `id`.
 * A name that is removed and created again gets a new id. */
SHARR_API void sharr_array_id(const sharr_array *a, unsigned char id[16]);

/* sharr_array_lock() : take the array's robust, process-shared mutex.
 * If the previous holder died holding it, the caller gets the lock anyway
 * (it is made consistent) and SHARR_EOWNERDEAD, to decide whether the data
 * is still good.  Never deadlocks on a dead holder.  Not recursive: the
 * lock is held by the calling thread, and taking it again, through this
 * handle or another one of the same array, is SHARR_EBUSY, not a wait.
 * @return 0 or SHARR_EOWNERDEAD (both: lock held), SHARR_EBUSY (the calling
 * thread already holds it), SHARR_EACCES (segment opened without write
 * access). */
SHARR_API int sharr_array_lock(sharr_array *a);

/* sharr_array_unlock() : release the lock taken with sharr_array_lock(),
 * from the thread that took it.
 * @return 0 or SHARR_EPERM (this handle does not hold it, or the calling
 * thread is not the one that took it: another thread, a forked child). */
SHARR_API int sharr_array_unlock(sharr_array *a);

/* Reshape flags. */
#define SHARR_RESHAPE_FORCE 0x1u /* even if other handles are open */
/* the caller has the array's lock held for it (by another handle of its
 * own, or an ancestor process that waits for it): do not take it */
#define SHARR_RESHAPE_LOCK_HELD 0x2u

/* sharr_array_reshape() : give the array of `a` the shape shape[0..ndim)
 * in place: the same element count (an empty array takes any shape of 0
 * elements), the same bytes in the same C order, as NumPy's reshape of a
 * contiguous array.  The control block and the .npy header are rewritten
 * under the array's lock (taken here unless `a` holds it or flags has
 * SHARR_RESHAPE_LOCK_HELD; a dead holder is no obstacle), so numpy.load()
 * sees the new shape from its next call; mappings made earlier (NumPy's too) keep the old one.  Every other open
 * sharr handle (the attach count: other processes, pool workers' cached
 * handles, which last until sharr_pool_destroy()) would keep a stale
 * private copy of the shape, so the reshape is refused while there are any,
 * unless flags has SHARR_RESHAPE_FORCE (for a count left by a killed
 * process): their mappings stay valid (no byte moves), their shape is the
 * old one until reopened, and pool workers reopen an array whose shape
 * changed.  An open (or sharr_stat) that reads the segment while a
 * reshape is writing it sees header and control block disagree for a
 * moment: it reads them again (4 reads, 50 us apart) before it calls the
 * segment corrupt.
 * @return 0, SHARR_EINVAL (bad ndim, NULL shape, unknown flags),
 * SHARR_ESHAPE (another element count: the detail gives both shapes),
 * SHARR_EOVERFLOW, SHARR_EACCES (read-only handle), SHARR_EBUSY (other
 * handles are open: the detail says how many). */
SHARR_API int sharr_array_reshape(sharr_array *a, size_t ndim,
                                  const size_t *shape, unsigned flags);

/* sharr_array_lock_holder() : who holds the array's lock now, read without
 * taking it (a snapshot, stale as soon as it is returned): the thread id
 * of the holder (a single-threaded process's pid), as its own PID
 * namespace numbers it, or 0 if nobody holds it.  *died (died may be
 * NULL) is set to 1 if the last holder died holding it (the kernel then
 * cleared the id, and the next sharr_array_lock() gets SHARR_EOWNERDEAD),
 * else 0.  Any handle will do, read-only ones too. */
SHARR_API pid_t sharr_array_lock_holder(const sharr_array *a, int *died);

/* What a name in /dev/shm holds: one name, one object (see "Queues and
 * synchronization objects" below).  The numbers are stored in segments:
 * never renumber. */
typedef enum sharr_kind {
    SHARR_KIND_ARRAY = 0,
    SHARR_KIND_QUEUE = 1,
    SHARR_KIND_PIPE = 2,
    SHARR_KIND_LOCK = 3,
    SHARR_KIND_RLOCK = 4,
    SHARR_KIND_SEMAPHORE = 5,
    SHARR_KIND_EVENT = 6,
    SHARR_KIND_CONDITION = 7,
    SHARR_KIND_BARRIER = 8
} sharr_kind;

#define SHARR_NKINDS 9

/* sharr_kind_name() : "array", "queue", "pipe", "lock", "rlock",
 * "semaphore", "event", "condition", "barrier"; "unknown" otherwise. */
SHARR_API const char *sharr_kind_name(sharr_kind kind);

/* The state of an object other than an array, as sharr_stat() read it: a
 * snapshot, never locked, that may be stale by the time it is printed.
 * Only the fields of the object's kind are set; the rest are 0. */
typedef struct sharr_obj_state {
    /* queue and pipe; a pipe's [0] is the direction end 0 -> end 1 */
    size_t capacity;      /* bytes of messages each direction holds */
    size_t max_msg;       /* largest message, bytes */
    size_t msgs[2];       /* messages queued now */
    size_t bytes[2];      /* bytes they take (8 + len rounded up to 8 each) */
    int closed[2];        /* 1: closed (no more puts) */
    size_t unfinished;    /* queue: messages put and not yet task_done */
    size_t repairs;       /* puts and gets of killed processes repaired */
    /* lock, rlock, condition (its lock), barrier (its guard) */
    pid_t holder;         /* thread id holding it; 0: free */
    int holder_died;      /* 1: the holder died holding it; the next locker
                             gets SHARR_EOWNERDEAD and repairs it */
    unsigned depth;       /* rlock: how many times the holder took it */
    /* semaphore */
    size_t value;
    size_t bound;         /* 0: unbounded (Semaphore), else the bound
                             (BoundedSemaphore) */
    /* event */
    int is_set;
    /* barrier */
    size_t parties;       /* parties a round needs */
    size_t waiting;       /* parties waiting now */
    int broken;           /* 1: broken until sharr_barrier_reset() */
    unsigned waiters;     /* processes asleep on it (advisory: a waiter
                             killed asleep stays counted until woken) */
    char text[160];       /* the state in words, e.g. "3 messages (192 B of
                             1 MiB)", "value 2 of 5", "held by 4242" */
} sharr_obj_state;

/* What sharr_stat() and sharr_list() report, without mapping the array. */
typedef struct sharr_info {
    char name[SHARR_NAME_MAX + 1];
    int status;           /* sharr_list(): 0, or why the segment cannot be
                             opened (SHARR_ECORRUPT, SHARR_EACCES ...); the
                             fields below are then only name/path/size/uid */
    sharr_dtype dtype;
    size_t ndim;
    size_t shape[SHARR_MAX_NDIM];
    size_t nbytes;        /* element bytes */
    size_t data_offset;   /* 4096 */
    size_t ctl_offset;
    size_t segment_size;  /* bytes of the whole segment */
    uid_t uid;            /* owning user */
    unsigned mode;        /* permission bits */
    unsigned flags;       /* SHARR_CREATE_TEMP if temporary */
    pid_t creator;        /* the owner process: the creator, or for a
                             temporary array the process that bounds it */
    int creator_alive;    /* 1 alive, 0 gone (pid and start time checked),
                             -1 unknown: the owner was numbered in another
                             PID namespace or boot than the caller's (a
                             container sharing /dev/shm), or the segment
                             predates that record (detail says which) */
    int64_t created_sec;  /* creation time, Unix seconds */
    unsigned attached;    /* handles open now; advisory: a process killed
                             with the array open is never subtracted */
    unsigned char id[16];
    char path[SHARR_NAME_MAX + 16]; /* "/dev/shm/sharr.NAME" */
    char detail[256];     /* why status is not 0 ("/dev/shm/sharr.x is a
                             FIFO, not a shared-memory segment"), or why
                             creator_alive is -1; else "" */
    sharr_kind kind;      /* what the name holds; for anything but an array
                             dtype is 0 (invalid), ndim 0, nbytes the bytes
                             of the object's state and `obj` says more */
    sharr_obj_state obj;
} sharr_info;

/* sharr_stat() : fill *info for the array (or other named object) `name`
 * without mapping it (the same checks as sharr_array_open(); needs only
 * read permission).
 * @return 0, SHARR_EINVAL, SHARR_ENOENT, SHARR_EACCES, SHARR_ECORRUPT. */
SHARR_API int sharr_stat(const char *name, sharr_info *info);

/* sharr_list() : every segment named sharr.* in /dev/shm (arrays and named
 * objects of every kind, see sharr_info.kind), sorted by name,
 * as a malloc'ed array in *out (free with sharr_list_free()) of *count
 * entries.  Segments that cannot be opened are listed with a non-zero
 * status (and its detail) instead of being skipped; a FIFO, symlink,
 * directory or device planted under a sharr.* name is listed as invalid
 * (SHARR_ECORRUPT) without being opened.  Never blocks.
 * @return 0, SHARR_ENOMEM, or the error of opening /dev/shm. */
SHARR_API int sharr_list(sharr_info **out, size_t *count);
SHARR_API void sharr_list_free(sharr_info *list);

/* sharr_gc() : remove temporary arrays (and temporary queues, locks ...)
 * whose owner process is gone, and
 * the hidden build names (and, from older versions, half-made segments) of
 * creators killed before they finished.  Never touches a segment of another
 * user.  An owner is judged gone only in the PID namespace and boot that
 * numbered it (recorded in the control block): a segment whose owner
 * cannot be judged here (made in another container sharing /dev/shm, or by
 * an older sharr) is never removed.  A segment is removed only if it is
 * still the one checked (a private rename, then a dev/inode comparison), so
 * an array that takes the name meanwhile survives.  With dry_run nothing is
 * removed.  If `removed` is not NULL, calls removed(name, ctx) for each.
 * @return the number of segments removed (or that would be), or an error of
 * reading /dev/shm. */
SHARR_API int sharr_gc(int dry_run, void (*removed)(const char *name,
                                                    void *ctx), void *ctx);

/* What sharr_gc_report() says about one entry of /dev/shm. */
typedef enum sharr_gc_event {
    SHARR_GC_REMOVED = 0, /* removed (with dry_run: would be) */
    SHARR_GC_UNKNOWN,     /* kept: a temporary or half-made segment whose
                             owner cannot be judged here (another PID
                             namespace or boot, or an older segment) */
    SHARR_GC_INVALID,     /* kept: yours but not a sharr segment (a FIFO, a
                             symlink, a directory, corrupt bytes);
                             sharr_unlink() removes it */
    SHARR_GC_REPLACED     /* kept: another segment took the name between
                             the check and the removal */
} sharr_gc_event;

/* sharr_gc_report() : sharr_gc() that also tells what it kept and why:
 * calls report(name, event, detail, ctx) for each segment removed and each
 * one skipped as unknown, invalid or replaced (`detail` says why; "" for
 * SHARR_GC_REMOVED).  Hidden names are reported without the "sharr."
 * prefix, e.g. ".new.123.ab12cd34ef56ab78".  report may be NULL.
 * @return as sharr_gc(). */
SHARR_API int sharr_gc_report(int dry_run,
                              void (*report)(const char *name,
                                             sharr_gc_event event,
                                             const char *detail, void *ctx),
                              void *ctx);

/* ------------------------------------------------------------------------ */
/* Queues and synchronization objects (lib/ipc/)                             */
/* ------------------------------------------------------------------------ */
/*
 * NAMED OBJECTS.  Queues, pipes, locks, rlocks, semaphores, events,
 * conditions and barriers live beside the arrays, in the same name space:
 * /dev/shm/sharr.NAME holds one object of one kind, and any process of the
 * same user attaches by name (no inheritance needed).  They follow the
 * arrays' rules: built under a hidden name and linked into place when
 * complete (a name never shows a half-made object), mode 0600 unless
 * sharr_create_opts.mode says otherwise (whatever the umask), refused when
 * owned by another user unless SHARR_OPEN_FOREIGN, every field validated
 * against the real size, SHARR_CREATE_TEMP objects removed when their owner
 * exits.  Opening a name that holds another kind fails with SHARR_EKIND
 * naming both ("'jobs' is an array, not a queue"); sharr_array_open() of a
 * queue does the same.  sharr_stat(), sharr_list(), sharr_unlink() and
 * sharr_gc() handle every kind (sharr_info.kind, .obj).
 *
 * Layout: [ state, a multiple of 4096 bytes | control block, 4096 bytes ].
 * The control block is the arrays' (struct sharr__ctl in lib/internal.h)
 * with layout version 2 (older sharr libraries refuse it as newer), the kind
 * at byte 28, dtype/ndim/shape 0, data_offset 0, nbytes = the state's
 * bytes, and the kind's parameters (capacity, bound, parties ...) as eight
 * u64 at byte 512.  Live state (indices, counters, robust mutexes) is read
 * through bounds checks only: a scribbled segment gives SHARR_ECORRUPT,
 * never an access outside it.
 *
 * TIMEOUTS.  Every call that can wait takes `timeout` in seconds: < 0 (or
 * INFINITY) waits for ever, 0 tries once without waiting, > 0 waits at most
 * that long (CLOCK_MONOTONIC).  NaN is SHARR_EINVAL.  Waits spin for a few
 * microseconds, then sleep on a futex in the shared memory (a wake-up,
 * not polling: see KILLED PROCESSES for the one look every 0.1 s);
 * signal handlers run during them and the wait goes on.  Queues, pipes and
 * barriers also have internal locks, held by a call for a few instructions:
 * timeout 0 still waits up to 50 ms for one, and calls without a timeout
 * (shutdown, abort, reset, close) wait at most 1 s, then fail with
 * SHARR_ETIMEDOUT (its holder is stopped inside a call).  A lock whose word
 * names a thread that does not exist and was not marked dead (bytes sharr
 * did not write) is SHARR_ECORRUPT within 0.1 s, even for timeout < 0.
 *
 * KILLED PROCESSES.  A process may be SIGKILLed at any instruction of any
 * call.  Locks are robust process-shared mutexes: the next process to take
 * one that a dead process held gets it, and learns so (SHARR_EOWNERDEAD for
 * Lock, RLock and Condition; queues and barriers repair themselves, see
 * below).  Semaphores and events have no owner: a process that dies after
 * acquiring a semaphore does not give it back (as in Python).  A sleeping
 * waiter looks at what it waits for at least every 0.1 s, so a process
 * killed between its change and its wake-up call (a put, get, release,
 * set, task_done) delays the others by at most that, never until their
 * timeout; a Condition's notify changes and wakes in one system call.
 *
 * THREADS.  Handles of these objects may be used by several threads of a
 * process at once.  Lock, RLock and Condition are held by a thread (as in
 * Python's threading): only the thread that acquired one may release it.
 * A handle is inherited across fork() and stays valid in the child (a lock
 * the parent held is not held by the child).  A pool's workers do not
 * inherit the caller's mappings: open the object by name in the kernel.
 */

/* ---- queues (lib/ipc/queue.c) ---- */
/*
 * A bounded multi-producer, multi-consumer FIFO of messages of 0..max_msg
 * bytes, holding at most `capacity` bytes where a message of len bytes
 * takes 8 + len rounded up to 8.  Messages of one producer arrive in the
 * order it put them; a batch (sharr_queue_put_many) arrives contiguous
 * unless it had to wait for space midway.
 *
 * A put is committed by one store of the queue's tail, a get by one store
 * of its head.  So a producer killed in a put leaves its message(s) either
 * wholly queued or not queued at all, and a consumer killed in a get
 * leaves them either still queued, at the head, for the next get (killed
 * before the commit), or gone (killed after it: the messages were
 * delivered to the killed process, exactly as when it is killed just after
 * the call returned).  No message is ever delivered twice, half-written or
 * corrupted, and a killed process never blocks the others: producers and
 * consumers each take a robust mutex, and the next one to take it after a
 * death completes or undoes the dead one's commit from a small log; until
 * then counts, sharr_stat, task_done and join read that log, so a put
 * killed before its commit is never counted as a message or a task.
 * sharr_info.obj.repairs counts such repairs.
 *
 * JoinableQueue: every message put counts as a task until a consumer calls
 * sharr_queue_task_done(); sharr_queue_join() waits until none is left.
 * A task whose consumer was killed is never done (as in Python).
 */

typedef struct sharr_queue sharr_queue;

#define SHARR_QUEUE_CAPACITY 1048576  /* default capacity: 1 MiB */
#define SHARR_QUEUE_MAX_MSG 65536     /* default largest message: 64 KiB */
#define SHARR_QUEUE_MAX_CAPACITY ((size_t)1 << 40)
#define SHARR_QUEUE_MAX_MSG_LIMIT ((size_t)1 << 30)

/* sharr_queue_create() : create the queue `name` holding `capacity` bytes
 * of messages of at most `max_msg` bytes (0: the defaults above; a message
 * of max_msg bytes must fit: capacity >= 8 + max_msg rounded up to 8).
 * opts may be NULL.  Release with sharr_queue_close().
 * @return 0, SHARR_EINVAL (name, sizes, opts), SHARR_EEXIST, SHARR_ENOSPC,
 * SHARR_EACCES, SHARR_ENOMEM. */
SHARR_API int sharr_queue_create(const char *name, size_t capacity,
                                 size_t max_msg,
                                 const sharr_create_opts *opts,
                                 sharr_queue **out);

/* sharr_queue_open() : attach to the existing queue `name` (flags: 0 or
 * SHARR_OPEN_FOREIGN).  Release with sharr_queue_close().
 * @return 0, SHARR_EINVAL, SHARR_ENOENT, SHARR_EACCES, SHARR_EFOREIGN,
 * SHARR_EKIND (another kind), SHARR_ECORRUPT. */
SHARR_API int sharr_queue_open(const char *name, unsigned flags,
                               sharr_queue **out);

/* sharr_queue_close() : unmap and free the handle (NULL is fine).  The
 * queue and its messages stay until sharr_unlink(). */
SHARR_API void sharr_queue_close(sharr_queue *q);

/* sharr_queue_put() : append the message msg[0..len) (len may be 0; msg may
 * then be NULL), waiting up to `timeout` for space.
 * @return 0, SHARR_EFULL (no space in time: nothing was put), SHARR_ECLOSED
 * (the queue is closed), SHARR_EINVAL (len > max_msg, NaN timeout),
 * SHARR_ECORRUPT. */
SHARR_API int sharr_queue_put(sharr_queue *q, const void *msg, size_t len,
                              double timeout);

/* sharr_queue_put_many() : append msgs[i][0..lens[i]) for i < n, in order,
 * under one lock and one commit when they fit (waiting for space when they
 * do not, up to `timeout` in all).
 * @return how many were put (n, or fewer if the time ran out or the queue
 * was closed midway: the rest were not put), or SHARR_EFULL / SHARR_ECLOSED
 * when none was, SHARR_EINVAL (a message longer than max_msg: none put). */
SHARR_API int sharr_queue_put_many(sharr_queue *q, const void *const *msgs,
                                   const size_t *lens, size_t n,
                                   double timeout);

/* sharr_queue_get() : take the message at the head into buf[0..size) and
 * its length into *len, waiting up to `timeout` for one.
 * @return 0, SHARR_EEMPTY (none in time), SHARR_ECLOSED (closed and
 * drained: end of stream), SHARR_ERANGE (the message is longer than size:
 * it stays queued and *len says how long it is), SHARR_ECORRUPT. */
SHARR_API int sharr_queue_get(sharr_queue *q, void *buf, size_t size,
                              size_t *len, double timeout);

/* sharr_queue_get_many() : wait up to `timeout` for a message, then take as
 * many as are queued, up to n and as long as they fit in buf[0..size)
 * together, packed one after the other; lens[i] is the length of the i-th.
 * One lock and one commit for all.
 * @return how many were taken (>= 1), or as sharr_queue_get(). */
SHARR_API int sharr_queue_get_many(sharr_queue *q, void *buf, size_t size,
                                   size_t *lens, size_t n, double timeout);

/* sharr_queue_shutdown() : close the queue (Python 3.13's Queue.shutdown):
 * puts fail with SHARR_ECLOSED from now on, and consumers get the messages
 * still queued, then SHARR_ECLOSED instead of waiting (an end-of-stream
 * mark every consumer sees).  Waiters wake.  Twice is fine; never undone.
 * @return 0, or SHARR_ETIMEDOUT / SHARR_ECORRUPT (see TIMEOUTS above). */
SHARR_API int sharr_queue_shutdown(sharr_queue *q);

/* sharr_queue_task_done() : mark `n` messages taken earlier as processed
 * (JoinableQueue.task_done, n times); wakes sharr_queue_join() when none
 * is left.  @return 0 or SHARR_ERANGE (more than were put: nothing done). */
SHARR_API int sharr_queue_task_done(sharr_queue *q, size_t n);

/* sharr_queue_join() : wait up to `timeout` until every message put has
 * been marked done.  @return 0 or SHARR_ETIMEDOUT. */
SHARR_API int sharr_queue_join(sharr_queue *q, double timeout);

/* sharr_queue_count() : how many messages are queued now and the bytes
 * they take (a snapshot; either pointer may be NULL).  @return 0. */
SHARR_API int sharr_queue_count(const sharr_queue *q, size_t *msgs,
                                size_t *bytes);

/* sharr_queue_closed() : 1 if the queue has been closed, else 0. */
SHARR_API int sharr_queue_closed(const sharr_queue *q);

/* Getters: the values chosen at creation. */
SHARR_API size_t sharr_queue_capacity(const sharr_queue *q);
SHARR_API size_t sharr_queue_max_msg(const sharr_queue *q);
SHARR_API const char *sharr_queue_name(const sharr_queue *q);

/* A unit of array work to hand to another process: rows [row_start,
 * row_end) of the array `array` ("" for none, e.g. a sentinel), plus user
 * fields.  On the queue it is a fixed little-endian record (magic "SHW1",
 * u32 name length, u64 row_start, u64 row_end, i64 tag, i64 i[4], f64 d[4],
 * the name's bytes): 96 + strlen(array) bytes.  Arrays are never copied. */
typedef struct sharr_work {
    char array[SHARR_NAME_MAX + 1];
    size_t row_start, row_end;
    int64_t tag;
    int64_t i[4];
    double d[4];
} sharr_work;

/* sharr_queue_put_work() : put *w as a work record (see sharr_work).
 * @return as sharr_queue_put(), or SHARR_EINVAL (array is not "" or a valid
 * name, row_start > row_end, or the queue's max_msg is below 296 bytes). */
SHARR_API int sharr_queue_put_work(sharr_queue *q, const sharr_work *w,
                                   double timeout);

/* sharr_queue_get_work() : take a work record into *w.
 * @return as sharr_queue_get(), or SHARR_EINVAL (the message taken was not
 * a valid work record: it is consumed all the same). */
SHARR_API int sharr_queue_get_work(sharr_queue *q, sharr_work *w,
                                   double timeout);

/* ---- pipes (lib/ipc/pipe.c) ---- */
/*
 * A duplex channel with two ends, 0 and 1: what end 0 sends, end 1
 * receives, and the other way round; two queues under one name (each of
 * `capacity` bytes, messages up to `max_msg`), with the queues' guarantees.
 * Either end is attached by name from any process; an end is not
 * exclusive (two processes attached to one end share its direction as two
 * producers and two consumers would).  Unlike an OS pipe, a peer that
 * dies is not noticed (no end-of-file as in Python's Connection): recv
 * with a timeout, or have the peer shut its direction down.
 */

typedef struct sharr_pipe sharr_pipe;

/* sharr_pipe_create() : create the pipe `name` (capacity and max_msg as for
 * sharr_queue_create(), per direction) and attach to its end 0.
 * @return as sharr_queue_create(). */
SHARR_API int sharr_pipe_create(const char *name, size_t capacity,
                                size_t max_msg, const sharr_create_opts *opts,
                                sharr_pipe **out);

/* sharr_pipe_open() : attach to end `end` (0 or 1) of the pipe `name`.
 * @return as sharr_queue_open(), SHARR_EINVAL for another end. */
SHARR_API int sharr_pipe_open(const char *name, int end, unsigned flags,
                              sharr_pipe **out);

/* sharr_pipe_close() : detach and free the handle (NULL is fine); the pipe
 * and its messages stay until sharr_unlink(). */
SHARR_API void sharr_pipe_close(sharr_pipe *p);

/* sharr_pipe_send() : send msg[0..len) to the other end.
 * @return as sharr_queue_put(). */
SHARR_API int sharr_pipe_send(sharr_pipe *p, const void *msg, size_t len,
                              double timeout);

/* sharr_pipe_recv() : receive the next message from the other end.
 * @return as sharr_queue_get(). */
SHARR_API int sharr_pipe_recv(sharr_pipe *p, void *buf, size_t size,
                              size_t *len, double timeout);

/* sharr_pipe_poll() : wait up to `timeout` until a message can be received
 * (Connection.poll), without taking it.
 * @return 1 (one is there), 0 (none in time), SHARR_ECLOSED (the other end
 * shut down and everything it sent was received), SHARR_ECORRUPT. */
SHARR_API int sharr_pipe_poll(sharr_pipe *p, double timeout);

/* sharr_pipe_shutdown() : this end sends nothing more: the other end
 * receives what is queued, then SHARR_ECLOSED.  @return 0. */
SHARR_API int sharr_pipe_shutdown(sharr_pipe *p);

/* sharr_pipe_end() : 0 or 1, the end this handle is attached to. */
SHARR_API int sharr_pipe_end(const sharr_pipe *p);

/* sharr_pipe_max_msg() : the largest message this end can send, bytes. */
SHARR_API size_t sharr_pipe_max_msg(const sharr_pipe *p);

/* ---- locks (lib/ipc/sync.c) ---- */
/*
 * Lock and RLock: a robust, process-shared mutex (RLock: recursive, taken
 * n times by its holder and free after n releases).  If a holder dies
 * holding one, the next acquire gets it with SHARR_EOWNERDEAD, to decide
 * whether what the lock protected is still whole; it never deadlocks on a
 * dead holder.  Acquiring a Lock again from the thread that holds it is
 * SHARR_EBUSY, not a deadlock.
 */

typedef struct sharr_lock sharr_lock;

/* sharr_lock_create() : create the Lock `name` (recursive 0) or RLock
 * (recursive 1), free.  @return as sharr_queue_create(). */
SHARR_API int sharr_lock_create(const char *name, int recursive,
                                const sharr_create_opts *opts,
                                sharr_lock **out);

/* sharr_lock_open() : attach to the Lock or RLock `name`.
 * @return as sharr_queue_open(). */
SHARR_API int sharr_lock_open(const char *name, unsigned flags,
                              sharr_lock **out);

/* sharr_lock_close() : free the handle (NULL is fine).  A lock the calling
 * thread holds through it is released first. */
SHARR_API void sharr_lock_close(sharr_lock *l);

/* sharr_lock_acquire() : take the lock, waiting up to `timeout`.
 * @return 0 or SHARR_EOWNERDEAD (held either way), SHARR_ETIMEDOUT,
 * SHARR_EBUSY (a Lock this thread holds already), SHARR_ECORRUPT. */
SHARR_API int sharr_lock_acquire(sharr_lock *l, double timeout);

/* sharr_lock_release() : release the lock (an RLock: once).
 * @return 0 or SHARR_EPERM (the calling thread does not hold it). */
SHARR_API int sharr_lock_release(sharr_lock *l);

/* sharr_lock_recursive() : 1 for an RLock, 0 for a Lock. */
SHARR_API int sharr_lock_recursive(const sharr_lock *l);

/* sharr_array_lock_timed() : sharr_array_lock() waiting at most `timeout`
 * seconds (< 0: for ever, 0: try once).
 * @return as sharr_array_lock(), or SHARR_ETIMEDOUT. */
SHARR_API int sharr_array_lock_timed(sharr_array *a, double timeout);

/* ---- semaphores ---- */
/*
 * A counter that acquire decrements, waiting while it is 0, and release
 * increments.  With a bound (BoundedSemaphore) a release that would take
 * the value past the bound is an error and changes nothing.
 */

typedef struct sharr_sem sharr_sem;

/* sharr_sem_create() : create the semaphore `name` with `value`; bound 0
 * makes a Semaphore, bound >= value a BoundedSemaphore (value <= bound).
 * @return as sharr_queue_create(); SHARR_EINVAL for value > bound > 0 or a
 * value beyond 2^31 - 1. */
SHARR_API int sharr_sem_create(const char *name, unsigned value,
                               unsigned bound, const sharr_create_opts *opts,
                               sharr_sem **out);

/* sharr_sem_open() : attach to the semaphore `name`.
 * @return as sharr_queue_open(). */
SHARR_API int sharr_sem_open(const char *name, unsigned flags,
                             sharr_sem **out);
SHARR_API void sharr_sem_close(sharr_sem *s);

/* sharr_sem_acquire() : decrement, waiting up to `timeout` while 0.
 * @return 0 or SHARR_ETIMEDOUT. */
SHARR_API int sharr_sem_acquire(sharr_sem *s, double timeout);

/* sharr_sem_release() : increment by n (>= 1) and wake that many waiters.
 * @return 0, SHARR_ERANGE (past the bound, or past 2^31 - 1: nothing
 * released), SHARR_EINVAL (n is 0). */
SHARR_API int sharr_sem_release(sharr_sem *s, unsigned n);

/* sharr_sem_value() : the value now (a snapshot).  sharr_sem_bound() : the
 * bound, 0 for a plain Semaphore. */
SHARR_API unsigned sharr_sem_value(const sharr_sem *s);
SHARR_API unsigned sharr_sem_bound(const sharr_sem *s);

/* ---- events ---- */

typedef struct sharr_event sharr_event;

/* sharr_event_create() : create the event `name`, clear.
 * @return as sharr_queue_create(). */
SHARR_API int sharr_event_create(const char *name,
                                 const sharr_create_opts *opts,
                                 sharr_event **out);
SHARR_API int sharr_event_open(const char *name, unsigned flags,
                               sharr_event **out);
SHARR_API void sharr_event_close(sharr_event *e);

/* sharr_event_set() : set the flag and wake every waiter.  _clear() : reset
 * it.  _is_set() : 1 if set, else 0. */
SHARR_API void sharr_event_set(sharr_event *e);
SHARR_API void sharr_event_clear(sharr_event *e);
SHARR_API int sharr_event_is_set(const sharr_event *e);

/* sharr_event_wait() : wait up to `timeout` until the flag is set.
 * @return 0 (set) or SHARR_ETIMEDOUT. */
SHARR_API int sharr_event_wait(sharr_event *e, double timeout);

/* ---- conditions ---- */
/*
 * A condition variable with its own robust lock (Python's Condition over a
 * Lock, in one named object).  wait() releases the lock, sleeps until a
 * notify, and takes the lock again before it returns (also on timeout).
 * A wait may return 0 without a notify of its own (a notify meant for
 * another waiter, as POSIX condition variables allow): check the predicate
 * in a loop, or use sharr_cond_wait_for().  A waiter killed while waiting
 * leaves nothing to repair.
 */

typedef struct sharr_cond sharr_cond;

SHARR_API int sharr_cond_create(const char *name,
                                const sharr_create_opts *opts,
                                sharr_cond **out);
SHARR_API int sharr_cond_open(const char *name, unsigned flags,
                              sharr_cond **out);

/* sharr_cond_close() : free the handle (NULL is fine), releasing the lock
 * first if the calling thread holds it. */
SHARR_API void sharr_cond_close(sharr_cond *c);

/* sharr_cond_acquire() / sharr_cond_release() : take and release the
 * condition's lock, as sharr_lock_acquire() / sharr_lock_release(). */
SHARR_API int sharr_cond_acquire(sharr_cond *c, double timeout);
SHARR_API int sharr_cond_release(sharr_cond *c);

/* sharr_cond_wait() : with the lock held, release it and wait up to
 * `timeout` for a notify; the lock is held again on return.  notify(n)
 * wakes at most n sleepers (and rarely a spurious one: check the predicate).
 * @return 0, SHARR_ETIMEDOUT, SHARR_EOWNERDEAD (notified or not, the lock
 * was retaken from a holder that died), SHARR_EPERM (lock not held). */
SHARR_API int sharr_cond_wait(sharr_cond *c, double timeout);

/* sharr_cond_wait_for() : wait until pred(ctx) is non-zero, evaluated with
 * the lock held (first before any wait), for at most `timeout` in all.
 * @return 0 (pred true), SHARR_ETIMEDOUT (still false), SHARR_EOWNERDEAD,
 * SHARR_EPERM. */
SHARR_API int sharr_cond_wait_for(sharr_cond *c, int (*pred)(void *ctx),
                                  void *ctx, double timeout);

/* sharr_cond_notify() : wake up to n waiters (n >= 1); _notify_all() : all.
 * The lock must be held.  @return 0 or SHARR_EPERM. */
SHARR_API int sharr_cond_notify(sharr_cond *c, unsigned n);
SHARR_API int sharr_cond_notify_all(sharr_cond *c);

/* ---- barriers ---- */
/*
 * A barrier for `parties` parties: sharr_barrier_wait() returns once that
 * many have called it, each with its arrival index 0..parties-1.  The
 * barrier *breaks* when a waiter times out, when sharr_barrier_abort() is
 * called, or when a party dies: every waiter, and every later wait until
 * sharr_barrier_reset(), gets SHARR_EBROKEN (the one that timed out gets
 * SHARR_ETIMEDOUT).  A party is a process that has waited on the barrier
 * through a handle not yet closed; waiters check about ten times a second
 * whether such a party died (pid and start time, in this PID namespace),
 * so a party killed anywhere, waiting or not, breaks the barrier within
 * about 0.1 s instead of leaving the others to their timeout.
 */

typedef struct sharr_barrier sharr_barrier;

#define SHARR_BARRIER_MAX_PARTIES 4096

/* sharr_barrier_create() : create the barrier `name` for `parties` parties
 * (1..SHARR_BARRIER_MAX_PARTIES).  @return as sharr_queue_create(). */
SHARR_API int sharr_barrier_create(const char *name, size_t parties,
                                   const sharr_create_opts *opts,
                                   sharr_barrier **out);
SHARR_API int sharr_barrier_open(const char *name, unsigned flags,
                                 sharr_barrier **out);

/* sharr_barrier_close() : free the handle (NULL is fine); the process stops
 * being a party through it. */
SHARR_API void sharr_barrier_close(sharr_barrier *b);

/* sharr_barrier_wait() : wait up to `timeout` for the round to fill.
 * @return the arrival index (>= 0), SHARR_EBROKEN (broken, by a timeout,
 * an abort, a reset or a death: the detail says which), SHARR_ETIMEDOUT
 * (this wait timed out: the barrier is now broken for the others). */
SHARR_API int sharr_barrier_wait(sharr_barrier *b, double timeout);

/* sharr_barrier_abort() : break the barrier (waiters get SHARR_EBROKEN).
 * sharr_barrier_reset() : break the round in progress, if any, then make
 * the barrier whole and empty again (parties that died are forgotten).
 * @return 0, or SHARR_ETIMEDOUT / SHARR_ECORRUPT (see TIMEOUTS above). */
SHARR_API int sharr_barrier_abort(sharr_barrier *b);
SHARR_API int sharr_barrier_reset(sharr_barrier *b);

/* Getters: the parties a round needs, those waiting now, 1 if broken. */
SHARR_API size_t sharr_barrier_parties(const sharr_barrier *b);
SHARR_API size_t sharr_barrier_waiting(const sharr_barrier *b);
SHARR_API int sharr_barrier_broken(const sharr_barrier *b);

/* ------------------------------------------------------------------------ */
/* The worker pool (lib/pool/)                                               */
/* ------------------------------------------------------------------------ */
/*
 * PROCESSES.  sharr_pool_create() forks one small single-threaded
 * *supervisor* process (Python's `forkserver` start method), and the
 * supervisor forks every worker, the first ones and each replacement.  So
 * every worker starts from the same clean state: the caller's memory as it
 * was when the pool was created, with only stdin, stdout and stderr open
 * (fds the caller opened before or since are not inherited), default
 * signal dispositions (SIGINT ignored), an empty signal mask, no mapping of
 * an array segment, and no lock that another thread of the caller held.
 * Workers are not children of the caller: a host's wait(-1), waitpid(-1)
 * or SIGCHLD reaper never sees them (it sees only the supervisor, when a
 * pool is destroyed).  The supervisor reaps them, signals them only through
 * pidfds (a reused pid is never signalled), and notices the caller's exit
 * per process, not per thread: the pool keeps working when the thread that
 * created it exits, and the workers die with the caller however it dies.
 * Create pools before starting threads (fork copies only the calling
 * thread), as with any fork-based library.
 *
 * A pool belongs to the process that created it: in a forked child,
 * submit, wait and poll fail with SHARR_EINVAL and destroy/terminate free
 * only the child's copy, never touching the parent's workers.
 *
 * JOBS.  A job applies a kernel (a plain C function pointer: workers share
 * the caller's code, so nothing is serialized) to the row blocks of 0..8
 * arrays that share the same number of rows, in place.  Workers attach
 * arrays by name and cache the mapping; a name removed and created again is
 * detected by its id, and a worker lets go of a removed array's mapping
 * when it goes idle (at the latest within a second, or at its next job),
 * so the memory returns to /dev/shm.  What kernels print on stdout/stderr
 * is flushed after each block, before the caller can see the block done.
 *
 * Scheduling follows OpenMP: static (one equal contiguous block per worker,
 * or round-robin blocks of CHUNK rows), dynamic[,CHUNK] (blocks of CHUNK
 * rows, default 1, claimed with an atomic counter), guided[,CHUNK]
 * (decreasing blocks of ceil(remaining/workers) rows, at least CHUNK), auto
 * (dynamic with chunks of about rows/(4*workers)).  A job that asks for
 * SHARR_SCHED_DEFAULT uses $SHARR_SCHEDULE ("dynamic,4" ...) if set, else
 * static, as OpenMP's schedule(runtime) uses $OMP_SCHEDULE.
 *
 * One job runs at a time; a finished job never holds up the next one (its
 * handle keeps its results and block statuses until sharr_job_free()).
 * Waiting spins briefly (a job submitted right after another finds the
 * workers still spinning), then sleeps; every wait is bounded by the
 * timeout the caller gives.  A worker that dies (signal, OOM kill) fails
 * the job with SHARR_EWORKER naming the worker, pid, block and signal, and
 * the supervisor replaces it in the background (a slow initializer never
 * holds up a wait; a replacement that dies while starting is forked again,
 * 3 times in a row at most, then the pool is broken).  Once
 * sharr_job_wait() or sharr_job_poll() has reported a job finished, no
 * kernel of that job starts or still runs.  A pool is used by one thread
 * at a time.
 *
 * RESULTS.  A job may ask for result_size bytes per block, or per row
 * (per_row_results): one area of nblocks (or rows) slots, contiguous, in
 * block (row) order, zeroed at submit.  A kernel's b->result is its block's
 * slot, or with per-row results the slot of row b->r0, followed by those of
 * rows r0+1 .. r1-1 (so row r's slot is result + (r - r0) * result_size).
 * Every block also gets a status (sharr_job_block_status()): a block that
 * was skipped after a failure or a cancel reads as zeros in its slot but
 * says SHARR_ECANCELED.  Results can be taken one block at a time while the
 * job runs, in block order (imap: sharr_job_next()) or as blocks finish
 * (imap_unordered: sharr_job_next_unordered()), or through per-block
 * callbacks that run in the caller (Python's callback and error_callback).
 *
 * TASKS (apply_async, starmap).  A job of ntasks tasks runs task i as block
 * i (one row, rows [i, i+1)) with its own argument record and result slot;
 * its arrays are all passed whole.
 *
 * Every pool function also accepts pool == NULL: the job then runs in the
 * calling process, block by block, with the same blocks a one-worker pool
 * would use (no fault isolation: a crashing kernel crashes the caller).
 */

typedef struct sharr_pool sharr_pool;
typedef struct sharr_job sharr_job;
typedef struct sharr_process sharr_process;

#define SHARR_POOL_MAX_WORKERS 256
#define SHARR_POOL_NO_WORKERS (-1) /* opts.workers: a supervisor only */
#define SHARR_JOB_MAX_ARRAYS 8
#define SHARR_JOB_ARG_MAX 4096
#define SHARR_TASK_ARG_MAX 4096   /* bytes of one task's argument record */
#define SHARR_BLOCK_PENDING 1     /* sharr_job_block_status(): not over */
#define SHARR_PROCESS_MAX 64      /* processes of one pool alive at once */
#define SHARR_PROCESS_ARG_MAX 4096

/* The function a process runs (sharr_process_start()): its return value
 * is the process's exit status (0..255; any other value exits with 1). */
typedef int (*sharr_process_fn)(const void *arg, size_t arg_size);

typedef struct sharr_pool_opts {
    int workers;          /* 0: one per CPU the caller may run on (its
                             affinity mask: taskset, cgroup cpusets);
                             SHARR_POOL_NO_WORKERS: none, the pool only
                             starts processes (sharr_process_start()) */
    int (*init)(int worker_id, void *arg); /* run in each worker before its
                             first job (and in a replacement); non-zero fails
                             sharr_pool_create (in a replacement: the next
                             submit, with SHARR_EWORKER) */
    void *init_arg;
    int blas_threads;     /* OpenBLAS threads per worker; 0 means 1 */
    int pin;              /* 1: pin worker i to the i-th allowed CPU (mod
                             their count); -1: never pin; 0 (default): pin
                             only when there is exactly one worker per
                             allowed CPU, where spinning workers left to
                             the scheduler can end up sharing a core */
    size_t results_bytes; /* per-job result space to reserve (virtual; pages
                             are used only when written); 0 means 1 GiB;
                             more than the address space is SHARR_EINVAL */
    size_t max_blocks_per_worker; /* Python's maxtasksperchild: a worker
                             that ran this many blocks leaves (after the
                             block, even inside a job) and the supervisor
                             forks a clean replacement; 0: never */
    size_t task_bytes;    /* per-job space for task argument records
                             (virtual, as results_bytes); 0 means 64 MiB */
} sharr_pool_opts;

/* sharr_pool_create() : fork the supervisor, which forks the workers (opts
 * may be NULL for defaults), and wait until each has run its initializer.
 * Release with sharr_pool_destroy() or sharr_pool_terminate().
 * @return 0, SHARR_EINVAL (bad options), SHARR_ENOMEM, SHARR_EWORKER (a
 * worker died or its initializer failed: the detail says which and why),
 * or the -errno of a failing fork/mmap. */
SHARR_API int sharr_pool_create(const sharr_pool_opts *opts,
                                sharr_pool **out);

/* sharr_pool_destroy() : wait for the running job (if any) to finish, then
 * stop every worker and the supervisor and reap them; a worker that does not
 * exit within 5 s is killed.  A job handle not yet freed stays valid (its
 * status and results are kept) until sharr_job_free().  In a forked child:
 * frees the child's copy only.  NULL is fine. */
SHARR_API void sharr_pool_destroy(sharr_pool *pool);

/* sharr_pool_terminate() : kill every worker now (SIGKILL) and reap it, then
 * free the pool.  A job handle not yet freed stays valid; if its job had
 * not finished, waiting on it gives SHARR_ECANCELED.  In a forked child:
 * frees the child's copy only.  NULL is fine. */
SHARR_API void sharr_pool_terminate(sharr_pool *pool);

/* sharr_pool_workers() : the number of workers (1 for a NULL pool). */
SHARR_API int sharr_pool_workers(const sharr_pool *pool);

/* sharr_pool_worker_pid() : the pid of worker i now (it changes when the
 * worker is replaced), or -1 (out of range, being replaced, or another
 * process's pool).  For diagnostics: the pool itself never signals a pid. */
SHARR_API pid_t sharr_pool_worker_pid(const sharr_pool *pool, int i);

typedef enum sharr_sched_kind {
    SHARR_SCHED_DEFAULT = 0, SHARR_SCHED_STATIC, SHARR_SCHED_DYNAMIC,
    SHARR_SCHED_GUIDED, SHARR_SCHED_AUTO
} sharr_sched_kind;

typedef struct sharr_schedule {
    sharr_sched_kind kind;
    size_t chunk;         /* rows; 0: the kind's default */
} sharr_schedule;

/* sharr_schedule_parse() : "static", "static,64", "dynamic", "dynamic,4",
 * "guided,8", "auto" into *out.  @return 0 or SHARR_EINVAL. */
SHARR_API int sharr_schedule_parse(const char *text, sharr_schedule *out);

/* What a kernel sees: one block of rows, by value, never freed. */
typedef struct sharr_block {
    size_t r0, r1;        /* rows [r0, r1) */
    size_t index;         /* block number, 0 .. nblocks-1 */
    int worker;           /* 0 .. workers-1 (0 for a NULL pool) */
    size_t narrays;
    void *data[SHARR_JOB_MAX_ARRAYS]; /* each array at row r0 (row 0 for an
                                         array passed whole) */
    const sharr_array *array[SHARR_JOB_MAX_ARRAYS]; /* for dtype, shape ... */
    const void *arg;      /* the job's argument bytes (a worker-local copy) */
    size_t arg_size;
    void *result;         /* this block's zeroed result slot (per-row: row
                             r0's, rows r0..r1-1 contiguous), or NULL */
    const void *task_arg; /* a task job: this task's record, else NULL */
    size_t task_arg_size;
} sharr_block;

/* A kernel returns 0, or an error code (with sharr_fail() for a detail). */
typedef int (*sharr_kernel)(const sharr_block *block);

typedef struct sharr_job_spec {
    sharr_kernel kernel;
    size_t narrays;
    sharr_array *const *arrays; /* the caller's handles */
    unsigned whole;       /* bit i set: array i is not split but passed whole
                             to every block (e.g. B in C = A@B) */
    size_t rows;          /* used when no array is split: blocks of the plain
                             index range [0, rows), like Pool.map(range(n)) */
    const void *arg;      /* copied into the job, at most SHARR_JOB_ARG_MAX */
    size_t arg_size;
    size_t result_size;   /* bytes of result per block (or per row) */
    int per_row_results;  /* 1: result_size bytes per row instead of block */
    sharr_schedule schedule;
    void (*progress)(size_t done, size_t total, void *ctx); /* called in the
                             caller while it waits, as blocks complete */
    void *progress_ctx;
    int plain_errors;     /* 1: a failing kernel's detail is reported as is,
                             without "block B (rows ..) on worker W: " */
    /* Tasks: ntasks > 0 makes a job of ntasks blocks, block i running task
     * i with task_args + i * task_arg_size as b->task_arg (copied into the
     * job at submit; at most SHARR_TASK_ARG_MAX bytes each, and ntasks *
     * task_arg_size at most opts.task_bytes).  rows must be 0, every array
     * is passed whole, and the schedule is dynamic,1 (static,1 if kind is
     * static; a chunk other than 0 or 1 is SHARR_EINVAL). */
    size_t ntasks;
    const void *task_args;
    size_t task_arg_size;
    int keep_going;       /* 1: a kernel's error does not stop the job (the
                             other blocks still run; the job still fails
                             with the first error).  Deaths and timeouts
                             still end it. */
    /* Called in the caller, inside sharr_job_wait/poll/next (and
     * sharr_pool_run/map), once per block in the order blocks finish: the
     * callback for a block that succeeded, the error callback for one that
     * did not (its status; skipped blocks last, with SHARR_ECANCELED).  A
     * non-zero return stops the callbacks and fails the job with that code
     * (cancelling what has not run).  They may cancel the job, must not
     * free it or destroy the pool; waiting on it, taking its blocks or
     * submitting from a callback is SHARR_EBUSY. */
    int (*callback)(size_t block, const void *result, void *ctx);
    int (*error_callback)(size_t block, int code, const char *detail,
                          void *ctx);
    void *callback_ctx;
} sharr_job_spec;

/* sharr_pool_submit() : start a job and return at once with its handle in
 * *out (release with sharr_job_free()).  With pool == NULL the job runs to
 * completion in the caller first.  A previous job that finished but was not
 * freed keeps its results, statuses and callbacks in private copies.
 * @return 0, SHARR_EINVAL (bad spec: no kernel, too many arrays, argument
 * too big, results or task records beyond the reservation; a pool without
 * workers), SHARR_ESHAPE (split arrays with different row counts),
 * SHARR_EBUSY (the previous job is still running, or a callback of it is),
 * SHARR_EWORKER (the pool lost a worker it could not replace, or its
 * supervisor), SHARR_ETIMEDOUT (a worker did not leave the previous job
 * within 10 s: stopped?), SHARR_EINVAL (another process's pool). */
SHARR_API int sharr_pool_submit(sharr_pool *pool, const sharr_job_spec *spec,
                                sharr_job **out);

/* sharr_job_wait() : wait for the job, at most timeout_s seconds (negative:
 * forever), running its callbacks.  On expiry the job is cancelled, the
 * workers still inside one of its blocks are killed (and replaced in the
 * background), and
 * SHARR_ETIMEDOUT is returned shortly after the timeout (once they are
 * dead: no kernel of the job runs after wait returns).
 * @return 0 if every block succeeded; else the job's failure: the first
 * kernel error, SHARR_EWORKER, SHARR_ECANCELED, SHARR_ETIMEDOUT (detail
 * names the block).  Waiting again returns the same value. */
SHARR_API int sharr_job_wait(sharr_job *job, double timeout_s);

/* sharr_job_poll() : like sharr_job_wait() but never cancels: returns 1 once
 * the job has finished (then wait returns its status at once), 0 if it is
 * still running after timeout_s seconds (0: just look). */
SHARR_API int sharr_job_poll(sharr_job *job, double timeout_s);

/* sharr_job_progress() : blocks finished so far and in total. */
SHARR_API void sharr_job_progress(const sharr_job *job, size_t *done,
                                  size_t *total);

/* sharr_job_cancel() : skip the blocks not yet started; blocks running now
 * finish.  The job then ends with SHARR_ECANCELED (unless it had already
 * finished). */
SHARR_API void sharr_job_cancel(sharr_job *job);

/* sharr_job_error() : the job's first error code (0 if none yet) and, if
 * `block` is not NULL, the block it happened in. */
SHARR_API int sharr_job_error(const sharr_job *job, size_t *block);

/* sharr_job_blocks() : the number of blocks of the job. */
SHARR_API size_t sharr_job_blocks(const sharr_job *job);

/* sharr_job_block_rows() : rows [*r0, *r1) of block i.
 * @return 0 or SHARR_EINVAL (i out of range). */
SHARR_API int sharr_job_block_rows(const sharr_job *job, size_t i, size_t *r0,
                                   size_t *r1);

/* sharr_job_result() : the result slot of block i (of row i when per-row),
 * valid until sharr_job_free() (later jobs and the pool's end do not touch
 * it); NULL if out of range or no results.  Read it once the block is over
 * (sharr_job_next*, its callback, or the job's end); a block that did not
 * run reads as zeros: see sharr_job_block_status(). */
SHARR_API const void *sharr_job_result(const sharr_job *job, size_t i);

/* sharr_job_block_status() : block i's status into *status: 0 (its kernel
 * returned 0: its result is real), SHARR_BLOCK_PENDING (not over yet), the
 * kernel's error code, SHARR_EWORKER (its worker died in it),
 * SHARR_ETIMEDOUT (killed by the job's timeout), or SHARR_ECANCELED (it did
 * not run: skipped after a failure or a cancel, or lost with the pool).
 * @return 0, or SHARR_EINVAL (i out of range; statuses are kept for jobs of
 * at most 2^24 blocks, 2^25 / workers past 2 workers). */
SHARR_API int sharr_job_block_status(sharr_job *job, size_t i, int *status);

/* sharr_job_next() : imap: the next block, in block order, once it is over
 * (wait at most timeout_s; < 0: forever, 0: just look; never cancels).
 * @return 1 (*block succeeded, its result is ready), 0 (all were taken), the
 * status of a block that did not succeed (*block; the next call goes on),
 * or with *block = SIZE_MAX: SHARR_ETIMEDOUT, SHARR_EINVAL (taken in the
 * other order, statuses not kept, another process's job), SHARR_EBUSY. */
SHARR_API int sharr_job_next(sharr_job *job, size_t *block, double timeout_s);

/* sharr_job_next_unordered() : imap_unordered: as sharr_job_next(), in the
 * order blocks finish; those that never ran come last, in block order, with
 * SHARR_ECANCELED. */
SHARR_API int sharr_job_next_unordered(sharr_job *job, size_t *block,
                                       double timeout_s);

/* sharr_job_free() : release the handle; a job still running is cancelled
 * and waited for first.  NULL is fine. */
SHARR_API void sharr_job_free(sharr_job *job);

/* sharr_pool_run() : submit, wait forever, free.  @return as
 * sharr_job_wait() or sharr_pool_submit(). */
SHARR_API int sharr_pool_run(sharr_pool *pool, const sharr_job_spec *spec);

/* sharr_pool_map() : Pool.map: run the job as sharr_pool_run() and copy its
 * results (the whole result area: nblocks or rows slots) into out, which
 * the caller owns.  Slots of blocks that did not run are zero.
 * @return as sharr_pool_run(), or SHARR_EINVAL (out_size smaller than the
 * results, checked before anything runs). */
SHARR_API int sharr_pool_map(sharr_pool *pool, const sharr_job_spec *spec,
                             void *out, size_t out_size);

/* ---- processes (Python's Process) ---- */
/*
 * A process runs one function in a new process forked by the pool's
 * supervisor, never by the caller: it starts from the caller's memory as it
 * was when the pool was created, with only stdin, stdout and stderr open and
 * default signal dispositions (SIGINT and what the caller ignores stay
 * ignored, as in workers); the caller's wait(-1) never sees it; it is
 * signalled only through the supervisor (pidfd, or the pid of a child not
 * yet reaped); it dies with the supervisor, so with the caller however it
 * dies.  sharr_pool_destroy() and sharr_pool_terminate() kill the processes
 * still running (join them first); their handles stay valid.
 */

/* sharr_process_start() : run fn(arg copy, arg_size) in a new process of
 * the pool's; the handle in *out (release with sharr_process_free()).
 * @return 0, SHARR_EINVAL (pool NULL, fn NULL, arg_size beyond
 * SHARR_PROCESS_ARG_MAX, another process's pool), SHARR_EBUSY
 * (SHARR_PROCESS_MAX alive), SHARR_EWORKER (the supervisor is gone),
 * SHARR_ETIMEDOUT (the supervisor did not fork within 5 s: stopped?), or
 * the -errno of its failing fork. */
SHARR_API int sharr_process_start(sharr_pool *pool, sharr_process_fn fn,
                                  const void *arg, size_t arg_size,
                                  sharr_process **out);

/* sharr_process_join() : wait at most timeout_s (negative: forever) for the
 * process to end; then *exitcode (may be NULL) is its exit status (>= 0) or
 * -N when signal N killed it, as Python's exitcode.
 * @return 0, SHARR_ETIMEDOUT (still running), SHARR_EWORKER (the supervisor
 * died: the process died with it, its status unknown), SHARR_EINVAL
 * (timeout_s is NaN). */
SHARR_API int sharr_process_join(sharr_process *proc, double timeout_s,
                                 int *exitcode);

/* sharr_process_is_alive() : 1 while the process runs (until the
 * supervisor reaped it, microseconds after it ended), else 0. */
SHARR_API int sharr_process_is_alive(sharr_process *proc);

/* sharr_process_terminate() / _kill() : send SIGTERM / SIGKILL (nothing if
 * it has ended).  @return 0, SHARR_EBUSY (the supervisor does not take
 * commands: stopped?), SHARR_EINVAL (another process's pool). */
SHARR_API int sharr_process_terminate(sharr_process *proc);
SHARR_API int sharr_process_kill(sharr_process *proc);

/* sharr_process_pid() : its pid (for display: signal it with the calls
 * above, which never reach a reused pid). */
SHARR_API pid_t sharr_process_pid(const sharr_process *proc);

/* sharr_process_free() : release the handle; a process still running is
 * killed (SIGKILL) and reaped by the supervisor.  NULL is fine. */
SHARR_API void sharr_process_free(sharr_process *proc);

/* sharr_fail() : for kernels and callers: record a printf-style detail for
 * sharr_errmsg() and return `code`. */
SHARR_API int sharr_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------ */
/* Built-in operations (lib/ops/ops.c)                                       */
/* ------------------------------------------------------------------------ */
/*
 * Every operation takes a pool (NULL: run in the caller) and works in place
 * on row blocks.  Results never depend on the number of workers: element
 * kernels touch each element once, random fills are counter-based, and the
 * reductions sum each block pairwise (in double; integers exactly in 128
 * bits) and then combine the blocks in block order with Neumaier's
 * compensated sum.  Their blocks are fixed by the array's shape (about 64 Ki
 * elements, whole rows) unless a schedule is given, so -j 1 and -j 2 give
 * bit-identical statistics; the BLAS calls of axpy and gemm get blocks
 * fixed by the shape too.
 * Special values follow NumPy: an infinite sum stays inf, a NaN makes the
 * 2-norm NaN, and a 2-norm whose squares underflow is still right.  Complex
 * arithmetic is written out on (re, im) pairs (and ops.c is compiled with
 * -fcx-limited-range), so it runs at memory speed, with NumPy's formulas
 * (square: re*re - im*im, re*im + im*re); csqrt/cexp/clog keep C99's
 * special-value rules.
 */

/* What every operation accepts besides its operands; NULL for defaults. */
typedef struct sharr_run_opts {
    sharr_schedule schedule;   /* {0}: the operation's default */
    void (*progress)(size_t done, size_t total, void *ctx);
    void *progress_ctx;
} sharr_run_opts;

typedef enum sharr_fill_kind {
    SHARR_FILL_VALUE,    /* every element = value */
    SHARR_FILL_RANGE,    /* element k (C order) = k converted to the dtype:
                            complex k+0i, integers wrap as C conversion does */
    SHARR_FILL_RANDOM    /* reproducible from seed, whatever the split:
                            floats uniform in [0,1), complex both parts,
                            integers uniformly random over the whole type */
} sharr_fill_kind;

typedef struct sharr_fill_spec {
    sharr_fill_kind kind;
    unsigned char value[SHARR_MAX_ITEMSIZE]; /* SHARR_FILL_VALUE: one element */
    uint64_t seed;                           /* SHARR_FILL_RANDOM */
} sharr_fill_spec;

/* sharr_fill_parse() : parse "zeros", "ones", a VALUE (see
 * sharr_value_parse), "range", "random" or "random:SEED" for dtype `dt`.
 * "random" alone uses seed 0.
 * @return 0, SHARR_EINVAL or SHARR_ERANGE. */
SHARR_API int sharr_fill_parse(sharr_dtype dt, const char *text,
                               sharr_fill_spec *out);

/* sharr_fill() : fill all of `a` as `spec` says.  Element k of random:SEED is
 * a function of (SEED, k) only, so any split gives the same values.
 * @return 0, SHARR_EACCES (read-only handle), or a pool failure. */
SHARR_API int sharr_fill(sharr_pool *pool, sharr_array *a,
                         const sharr_fill_spec *spec, const sharr_run_opts *ro);

typedef enum sharr_op {
    SHARR_OP_SCALE = 1,      /* x *= z      every dtype; integers wrap */
    SHARR_OP_ADD,            /* x += z      every dtype; integers wrap */
    SHARR_OP_CONJ,           /* x = conj(x) complex only */
    SHARR_OP_ABS,            /* x = |x|     complex: |x|+0i; signed integers:
                                            the most negative value stays */
    SHARR_OP_SQUARE,         /* x = x*x     every dtype; integers wrap */
    SHARR_OP_SQRT,           /* float and complex; a negative real element
                                            is SHARR_EDOM, array unchanged */
    SHARR_OP_EXP,            /* float and complex; overflow gives inf */
    SHARR_OP_LOG,            /* float and complex; negative real is EDOM,
                                            log(0) = -inf */
    SHARR_OP_CLIP,           /* x = min(max(x, lo), hi)  integer and float;
                                            NaN stays NaN */
    SHARR_OP_NORMALIZE_ROWS  /* each row /= its L2 norm  float and complex;
                                a zero row stays zero, a row with a NaN
                                becomes NaN; a 1-d array's rows are its
                                elements (each becomes its sign) */
} sharr_op;

/* sharr_op_parse() : "scale", "add", "conj", "abs", "square", "sqrt", "exp",
 * "log", "clip", "normalize-rows" into *op, and the number of value
 * arguments it takes (0, 1 or 2) into *nargs.  @return 0 or SHARR_EINVAL. */
SHARR_API int sharr_op_parse(const char *name, sharr_op *op, int *nargs);

/* sharr_op_name() : the name sharr_op_parse() accepts; NULL if invalid. */
SHARR_API const char *sharr_op_name(sharr_op op);

/* sharr_apply() : apply `op` to every element of `a` in place.  z1 (scale,
 * add, clip's lo) and z2 (clip's hi) are one element each of a's dtype
 * (parse them with sharr_value_parse), NULL for other ops.
 * @return 0, SHARR_EDTYPE (op meaningless for the dtype), SHARR_EINVAL
 * (missing value, clip lo > hi or NaN), SHARR_EDOM (sqrt/log of a negative
 * real element; nothing was changed), SHARR_EACCES, or a pool failure. */
SHARR_API int sharr_apply(sharr_pool *pool, sharr_array *a, sharr_op op,
                          const void *z1, const void *z2,
                          const sharr_run_opts *ro);

/* sharr_axpy() : y += alpha * x (alpha one element of the common dtype);
 * x and y have the same dtype and shape; x may be y.  Floating dtypes use
 * OpenBLAS ?axpy on blocks fixed by the shape (it rounds differently in the
 * tail of a call), integers wrap.  As in BLAS, alpha = 0 leaves y
 * untouched, even where x is NaN or inf.
 * @return 0, SHARR_EDTYPE, SHARR_ESHAPE, SHARR_EACCES, SHARR_ENOENT
 * (OpenBLAS cannot be loaded), or a pool failure. */
SHARR_API int sharr_axpy(sharr_pool *pool, const void *alpha,
                         const sharr_array *x, sharr_array *y,
                         const sharr_run_opts *ro);

/* Statistics of an array or of one row. */
typedef struct sharr_stats {
    size_t count;           /* elements */
    double sum[2];          /* real and imaginary parts (imag 0 for real) */
    double mean[2];
    double norm2;           /* sqrt(sum |x|^2), safe from overflow and
                               underflow (as math.hypot); NaN if any
                               element is NaN (as NumPy), else inf if any
                               is infinite */
    int has_nan;            /* a NaN element was seen (float/complex) */
    double min, max;        /* real dtypes (NaN if has_nan); NaN for complex */
    unsigned char min_value[SHARR_MAX_ITEMSIZE]; /* exact, as elements of */
    unsigned char max_value[SHARR_MAX_ITEMSIZE]; /* the dtype (real only) */
    char sum_exact[48];     /* integer dtypes: the exact 128-bit sum in
                               decimal ("55340232221128654845"), which sum[0]
                               rounds to a double; "" for float and complex */
} sharr_stats;

/* sharr_array_stats() : sum, mean, min, max and 2-norm of `a` into out[0],
 * or with per_row of each row r into out[r] (out has sharr_array_rows(a)
 * entries).  Integer sums are exact in 128 bits (sum_exact), then rounded
 * once into sum[0].
 * @return 0, SHARR_EINVAL (per-row results beyond the pool's reservation),
 * or a pool failure. */
SHARR_API int sharr_array_stats(sharr_pool *pool, const sharr_array *a,
                                int per_row, sharr_stats *out,
                                const sharr_run_opts *ro);

/* The figures of a statistic, as sharr_array_row_stats_into() writes them
 * per row.  The numbers are part of the API: never renumber. */
typedef enum sharr_figure {
    SHARR_FIG_COUNT = 0,  /* u64: elements per row, prod(shape[1:]) */
    SHARR_FIG_SUM,        /* f64 (c128 for a complex array) */
    SHARR_FIG_MEAN,       /* f64 (c128); NaN for a row of no elements */
    SHARR_FIG_MIN,        /* f64, exact but for 64-bit integers beyond 2^53;
                             NaN for a row with a NaN or no elements; none
                             for complex arrays */
    SHARR_FIG_MAX,        /* as min */
    SHARR_FIG_NORM2       /* f64 */
} sharr_figure;

#define SHARR_NFIGURES 6

/* sharr_figure_name() : "count", "sum", "mean", "min", "max", "norm2";
 * NULL if invalid.  sharr_figure_parse() reads those names.
 * @return 0 or SHARR_EINVAL. */
SHARR_API const char *sharr_figure_name(sharr_figure f);
SHARR_API int sharr_figure_parse(const char *name, sharr_figure *out);

/* sharr_figure_dtype() : the dtype of figure f for an array of dtype dt
 * (above); SHARR_DTYPE_INVALID for min/max of complex or a bad argument. */
SHARR_API sharr_dtype sharr_figure_dtype(sharr_dtype dt, sharr_figure f);

/* sharr_array_row_stats_into() : for each row r of `a` (over every axis but
 * the first; a scalar is one row) write figure f into element r of
 * into[f], an existing 1-d array of sharr_array_rows(a) elements of dtype
 * sharr_figure_dtype(); NULL entries are not computed (at least one must
 * be given).  Each row is one run of the summation of sharr_array_stats()
 * (pairwise in double, integers exact in 128 bits, then rounded once), so
 * the figures equal sharr_array_stats(per_row)'s bit for bit and never
 * depend on the pool, its workers or the schedule in ro.  No per-row
 * reservation of the pool is used: any number of rows works.
 * @return 0, SHARR_EDTYPE (wrong dtype of an output, min/max of complex),
 * SHARR_ESHAPE (an output of another shape), SHARR_EINVAL (no output, one
 * array given twice, or `a` itself), SHARR_EACCES (read-only output), or a
 * pool failure. */
SHARR_API int sharr_array_row_stats_into(sharr_pool *pool,
                                         const sharr_array *a,
                                         sharr_array *const into[SHARR_NFIGURES],
                                         const sharr_run_opts *ro);

/* sharr_gemm() : C = alpha * A @ B + beta * C for 2-d f32, f64, c64 or c128
 * arrays A (m x k), B (k x n), C (m x n) of one dtype; alpha and beta are
 * elements of it.  The rows of A and C are cut into blocks fixed by m (32
 * to 512 rows), one OpenBLAS ?gemm call each, so C's bytes do not depend on
 * the number of workers.  They may depend on a schedule given in ro (it cuts
 * other blocks) and on the BLAS threads of a call (blas_threads of the pool;
 * the caller's own with a NULL pool).  C may not be A or B.
 * @return 0, SHARR_EDTYPE, SHARR_ESHAPE, SHARR_EINVAL (C aliases A or B, a
 * dimension beyond 2^31-1), SHARR_EACCES, SHARR_ENOENT (OpenBLAS cannot be
 * loaded), or a pool failure. */
SHARR_API int sharr_gemm(sharr_pool *pool, const void *alpha,
                         const sharr_array *a, const sharr_array *b,
                         const void *beta, sharr_array *c,
                         const sharr_run_opts *ro);

/* ------------------------------------------------------------------------ */
/* Expressions (lib/ops/expr_*.c)                                            */
/* ------------------------------------------------------------------------ */
/*
 * An expression over arrays, e.g. "(frames - dark) * 1.7", is compiled once
 * (parsed: syntax errors come with the column) and evaluated any number of
 * times over arrays bound to its names, on a pool or in the caller.  Each
 * evaluation types it (NumPy's rules, below), compiles it to a small
 * program, and every worker runs that program over its row blocks of the
 * output in tiles of 512 elements, so the whole expression costs one
 * pass over memory.  Results never depend on the number of workers.
 *
 * LANGUAGE (Python's syntax and precedence, NumPy's semantics):
 *   operands   array names (bare: [A-Za-z_][A-Za-z0-9_]*; any valid name
 *              quoted: 'raw.frames-1' or "raw.frames-1"), numbers as Python
 *              writes them (2, -1.5e3, .5, 2j, 0.6+0.8j), inf, nan
 *   operators  + - * / // % ** (lowest to highest: one comparison
 *              < <= > >= == != (no chains), |, ^, &, + -, * / // %,
 *              unary - + ~, **); & | ^ ~ on integers and booleans only
 *   functions  abs real imag conj angle sqrt exp expm1 log log1p log10 sin
 *              cos tan arcsin arccos arctan arctan2(y, x) sinh cosh tanh
 *              floor ceil round (half to even) minimum(a, b) maximum(a, b)
 *              clip(x, lo, hi) where(c, a, b) isnan isinf isfinite, casts
 *              by dtype name (f32(x), c128(x), u8(x), also int8 ... complex128:
 *              casting='unsafe'), and the per-row reductions rowsum rowmean
 *              rowmin rowmax rownorm (over every axis but the first: shape
 *              (rows,), summed as sharr_array_stats() sums a row)
 * Broadcasting is NumPy's (from the trailing axis; 0-d arrays too).  Dtypes
 * follow NumPy's promotion with Python numbers "weak" (NEP 50, NumPy 1.24
 * with np._set_promotion_state('weak')): f32 * 2.5 is f32, u8 + 1 is u8, a
 * number outside the array's range (u8 + 300, u8 + -1) is SHARR_ERANGE;
 * two numbers combine as Python computes them (2 / 4 is 0.5).  Ufunc
 * results are NumPy's: / of integers is f64, abs of c64 is f32, sqrt and
 * the other float functions of i32/u32/i64/u64 are f64 and of i16/u16 f32;
 * where NumPy would give float16 (i8, u8, bool), sharr gives f32 (it has no
 * float16).  A function of a number alone is a 0-d value of NumPy's
 * default dtype (sqrt(2) is f64).  Comparisons, isnan, isinf, isfinite
 * give booleans: a boolean dtype inside expressions (as NumPy's), stored
 * as u8 0/1 in an output; arithmetic (+ - * **) on two booleans is
 * refused (cast first).  Integers wrap; // and % by zero give 0 and are
 * counted (as NumPy warns), as is 0 ** negative; other integers to a
 * negative power give 0 (1 and -1 their exact powers) where NumPy raises.
 * Float division by zero gives inf or nan (IEEE).  Float to integer casts
 * (a cast, an integer OUT dtype, sharr_copy) truncate toward zero, and NaN,
 * inf and values out of range give what NumPy gives on x86-64 (the
 * "integer indefinite" 0x80..0 through 32 bits for i8..i32, u8, u16;
 * through 64 bits for i64, u32, u64 after subtracting 2^31 or 2^63 above
 * it): e.g. NaN is 0 as u8, -2^31 as i32, 2^63 as u64; -1.0 as u8 is 255.
 * Complex to real takes the real part.  Limits: 7 input arrays, 200
 * operations, 40 constants, 6 reductions per expression.
 */

typedef struct sharr_expr sharr_expr;

/* sharr_expr_compile() : parse `text` into *out (free with
 * sharr_expr_free()).  @return 0, SHARR_EINVAL (syntax: the detail has the
 * expression with a caret under the column; an invalid quoted name),
 * SHARR_ENOMEM. */
SHARR_API int sharr_expr_compile(const char *text, sharr_expr **out);

/* sharr_expr_free() : release (NULL is fine). */
SHARR_API void sharr_expr_free(sharr_expr *e);

/* The array names the expression reads, in order of first use: arrays are
 * bound to them by position.  sharr_expr_name() is NULL past the end. */
SHARR_API size_t sharr_expr_nnames(const sharr_expr *e);
SHARR_API const char *sharr_expr_name(const sharr_expr *e, size_t i);

/* sharr_expr_type() : the dtype (u8 for a boolean result) and shape (up to
 * SHARR_MAX_NDIM entries) of the result over arrays[0..nnames).
 * @return 0, SHARR_ESHAPE (shapes that do not broadcast: both in the
 * detail), SHARR_EDTYPE (an operator or function the dtype lacks, e.g. &
 * on floats), SHARR_ERANGE (a number outside an array's dtype),
 * SHARR_EINVAL (limits, division of two numbers by zero). */
SHARR_API int sharr_expr_type(const sharr_expr *e, sharr_array *const *arrays,
                              sharr_dtype *dtype, size_t *ndim, size_t *shape);

/* sharr_expr_eval() : evaluate over arrays[0..nnames) into `out`, which has
 * the result's shape and any dtype (converted as casting='unsafe').  out
 * may be one of the arrays if that one is not broadcast.  Everything is
 * checked before anything is written.  *zero_div (may be NULL) receives
 * the count of integer divisions by zero (and 0 ** negative).
 * @return 0, as sharr_expr_type(), SHARR_ESHAPE (out's shape), SHARR_EACCES
 * (out read-only), SHARR_EINVAL (out is a broadcast input), or a pool or
 * create failure (of the reductions' temporary arrays). */
SHARR_API int sharr_expr_eval(sharr_pool *pool, const sharr_expr *e,
                              sharr_array *const *arrays, sharr_array *out,
                              const sharr_run_opts *ro, uint64_t *zero_div);

typedef struct sharr_eval_opts {
    sharr_dtype dtype;        /* 0: the result's; else OUT's (unsafe cast) */
    int force;                /* 1: replace an OUT of another dtype/shape */
    sharr_create_opts create; /* for a new OUT (temp, mode, owner) */
    sharr_run_opts run;
    unsigned open_flags;      /* e.g. SHARR_OPEN_FOREIGN for the inputs */
} sharr_eval_opts;

typedef struct sharr_eval_result {
    char out[SHARR_NAME_MAX + 1];
    int created;              /* 1: OUT is new (or replaced) */
    sharr_dtype dtype;
    size_t ndim, shape[SHARR_MAX_NDIM];
    uint64_t zero_divisions;  /* as sharr_expr_eval()'s *zero_div */
} sharr_eval_result;

/* sharr_eval() : run the statement "OUT = EXPR" over arrays by name (OUT
 * bare or quoted).  An existing OUT of the result's shape and dtype (or
 * opts->dtype) is overwritten in place; one that differs is an error
 * naming both unless opts->force.  A new OUT is built as a temporary array
 * under a staging name ("sharr-eval.PID...") and linked to OUT only once
 * complete (with force, renamed over the old one): a failure or a kill
 * never leaves a half-written OUT.  opts and res may be NULL.
 * @return 0, as sharr_expr_compile() and sharr_expr_eval(), SHARR_ENOENT
 * ("unknown name"), SHARR_EDTYPE / SHARR_ESHAPE (OUT exists otherwise),
 * SHARR_EEXIST (OUT appeared meanwhile), or a create error. */
SHARR_API int sharr_eval(sharr_pool *pool, const char *statement,
                         const sharr_eval_opts *opts, sharr_eval_result *res);

/* sharr_copy() : a new array `dst` holding rows [row_start, row_end) (end
 * 0: to the end) of `src` as `dtype` (0: src's), converted as NumPy's
 * astype (see the casts above for NaN and inf to integers), on the pool.
 * Built and published as sharr_eval() builds OUT.  opts may be NULL.
 * @return 0, SHARR_EINVAL (name, rows, dtype), SHARR_EEXIST, or a create
 * or pool failure. */
SHARR_API int sharr_copy(sharr_pool *pool, const sharr_array *src,
                         size_t row_start, size_t row_end, const char *dst,
                         sharr_dtype dtype, const sharr_create_opts *opts,
                         const sharr_run_opts *ro);

/* ------------------------------------------------------------------------ */
/* HDF5 and .npy files (lib/io/)                                             */
/* ------------------------------------------------------------------------ */
/*
 * The sharr_h5_* functions are in libsharr-h5 (link -lsharr-h5 -lsharr);
 * .npy files and save targets are in libsharr.
 *
 * Types a dataset loads as: integers of 1, 2, 4 or 8 bytes (signed or not,
 * either byte order, packed n-bit too) as i8..u64; floats of 4 and 8 bytes
 * (either order, VAX, n-bit) as f32/f64; float16 and other 2-byte floats as
 * f32 (sharr has no 2-byte float; HDF5 converts exactly); a compound of
 * exactly two floats of equal size (4 or 8) named r/i (h5py, HDF5.jl,
 * PyTables), re/im, real/imag (MATLAB, Octave) or Real/Imaginary (R's
 * hdf5r), in any member order and byte order, as c64/c128.  Everything else
 * is refused with SHARR_EUNSUPPORTED and a detail naming the file, the
 * dataset, its class and why.  A dataset with no elements loads as an
 * empty array: a zero-length dimension keeps its shape ((0, 3) loads as
 * (0, 3)), a null dataspace (h5py.Empty) loads as shape (0,).  A save of
 * an empty array writes a contiguous, unfiltered dataset of its shape
 * (chunk, gzip and shuffle options are ignored: HDF5 has no chunk of a
 * zero dimension, and there is nothing to compress), as h5py writes one;
 * .npy files of empty arrays load and save both ways.  External raw data and
 * virtual-dataset sources resolve relative to the file's own directory,
 * and a load refuses (SHARR_EACCES) a dataset reached through an external
 * link, or whose external files or virtual sources (followed into their
 * own files), lie anywhere else once symlinks and ".." are resolved, e.g.
 * a file naming /etc/passwd as its raw data, unless
 * sharr_load_opts.allow_external is set.
 *
 * With a pool, every HDF5 call runs in a worker: the caller never opens an
 * HDF5 handle (so nothing HDF5 holds is ever duplicated by fork), and a file
 * that crashes the HDF5 library costs a worker (replaced) instead of the
 * caller.  Loads read each block's row hyperslab straight into the shared
 * array, blocks aligned to the dataset's chunk rows, every worker opening
 * the file itself; chunks filtered only by shuffle, deflate, fletcher32 and
 * LZ4 are decoded by the workers (libdeflate), other filters by HDF5 and
 * its plugins ($SHARR_H5_DIRECT=0: HDF5 for all).  Saves with shuffle, gzip
 * or lz4 compress whole chunks in all workers and one worker stores them
 * with H5Dwrite_chunk; other saves are written by one worker.  A save never leaves a partial result under
 * the final name: it writes a temporary file next to the target (a copy of
 * it, when the target exists) with the dataset under a temporary link, moves
 * the link, and renames the file over the target.  HDF5's error printing is
 * off; its error stack ends up in sharr_errmsg().  With pool == NULL the
 * same runs in the caller.
 *
 * Targets (HDF5 and .npy): a symbolic link is followed (the file it points
 * to is written, beside it); a file with several hard links is refused
 * unless force_hardlinks.  The temporary has a random name, is created
 * O_EXCL|O_NOFOLLOW with the target's mode, and is opened by the workers
 * only after checking it is the inode the caller made.  An HDF5 save holds
 * flock(LOCK_EX) on an existing target (the lock HDF5 takes on a file open
 * for writing; LOCK_SH for reading) from before the copy to after the
 * rename, so saves into one file take turns and never lose a dataset, and
 * a file another process (h5py ...) holds open is waited for (lock_wait)
 * and then refused with SHARR_EBUSY.  Other HDF5 programs cannot open the
 * file while a save runs, as with any HDF5 writer.  A new target is
 * created without replacing one that appeared meanwhile (the save then
 * adds to it).  Temporaries of saves killed outright are removed by the
 * next save into the directory, or sharr_save_gc().
 *
 * Appending (opts->append): the dataset is added to the existing file in
 * place, under the same lock, without copying the file, through a file
 * driver of sharr's (lib/io/h5ordered.c) that writes everything new after
 * the file's old end first and changes its old bytes only when HDF5 closes
 * the file: the superblock first, then the rest in one write when it lies
 * within 64 KiB, else in an order where what is named is written before
 * what names it.  A kill or failure before that last phase leaves every
 * old byte as it was (failures also restore the old size; a kill may leave
 * a hidden ".sharr-partial" dataset, removed by the next save into that
 * group).  Workers write through the caller's own open file (the one that
 * holds the lock, taken with pidfd_getfd), so a killed saver's lock lasts
 * until its last worker is gone.  The last phase is made by the caller
 * (the workers hand it over), in a short-lived process of its own that
 * shares its memory,
 * blocks every signal, has its own process group and a copy of the locked
 * fd: a kill of the saver (kill -9, Ctrl-C) once it began neither cuts it
 * short nor lets another program open the file before it completes.  HDF5
 * has no journal, so what can still tear the group that
 * receives the dataset (its other datasets' bytes remain, but HDF5 may no
 * longer find them) is a SIGKILL of that process too during those writes
 * (microseconds; e.g. a whole cgroup killed), or a power failure without
 * sync.  Filtered appends (gzip, shuffle) have one such phase per batch of
 * chunks written.  The copy save has no such window.
 */

#define SHARR_H5_EMPTY 1    /* no longer returned: an empty dataset loads
                               as an empty array (kept for old callers) */
#define SHARR_H5_MAX_RANK 32

typedef struct sharr_load_opts {
    size_t row_start;         /* load dataset rows [row_start, row_end) */
    size_t row_end;           /* 0: to the end */
    const char *into;         /* load into this existing array (same dtype
                                 and shape) instead of creating one */
    sharr_create_opts create; /* for the new array (temp, mode, owner) */
    sharr_run_opts run;       /* schedule and progress of the read */
    int allow_external;       /* 1: follow external links and read external
                                 raw data and virtual-dataset sources
                                 wherever they are (by default only inside
                                 the file's directory) */
    int at_set;               /* 1: with into, fill only rows [at, at + n)
                                 of it (n the rows loaded), so that many
                                 files stack into one array; its other
                                 dimensions must match */
    size_t at;
} sharr_load_opts;

/* sharr_h5_load() : load dataset `dset` (an HDF5 path, "/a/b") of HDF5 file
 * `file` into a new array `name` (or opts->into), returned open in *out.
 * opts may be NULL.  On failure no new array is left behind; in
 * opts->into, rows outside those loaded keep their values, and rows being
 * loaded may be partly written.
 * @return 0, SHARR_ENOENT (no file, no dataset),
 * SHARR_EUNSUPPORTED (type or layout sharr cannot hold), SHARR_EHDF5 (the
 * file or dataset cannot be read: HDF5's message in the detail), SHARR_EINVAL
 * (bad rows or name), SHARR_EDTYPE/SHARR_ESHAPE (into an array that does not
 * match, or whose rows [at, at + n) do not exist), SHARR_EOVERFLOW (a shape whose byte size overflows), SHARR_EACCES
 * (external data outside the file's directory), SHARR_EWORKER (HDF5 crashed
 * the worker), or a create error (SHARR_ENOSPC also from a worker: each
 * reserves the pages of its rows of a new array before writing them). */
SHARR_API int sharr_h5_load(sharr_pool *pool, const char *file,
                            const char *dset, const char *name,
                            const sharr_load_opts *opts, sharr_array **out);

typedef struct sharr_save_opts {
    size_t row_start;         /* save array rows [row_start, row_end) */
    size_t row_end;           /* 0: to the end */
    size_t chunk_ndim;        /* chunk shape (leading dims; the rest take */
    size_t chunk[SHARR_MAX_NDIM]; /* the full extent); 0 dims: contiguous,
                                 or about 1 MiB chunks if filters are asked */
    int gzip;                 /* deflate level 1..9; 0: none.  Chunks are
                                 no bigger than zlib's at this level on a
                                 sample of the data: libdeflate's fastest
                                 level that does as well there, else zlib
                                 (always zlib below 4 MiB) */
    int shuffle;              /* 1: byte shuffle before deflate */
    int complex_matlab;       /* 1: complex as {real, imag} (MATLAB), else
                                 h5py's {r, i} */
    int force;                /* 1: replace an existing dataset or file */
    int sync;                 /* 1: fsync the file before renaming it into
                                 place, so it survives a power failure too
                                 (a crash of the saver never hurts the
                                 target either way) */
    sharr_run_opts run;
    int append;               /* 1: HDF5 only: add the dataset to the
                                 existing file in place, without copying it
                                 (see "Appending" below) */
    int force_hardlinks;      /* 1: save even if the target has several hard
                                 links; the other names keep the old file */
    double lock_wait;         /* seconds to wait while another process
                                 holds the target's HDF5 lock; 0: the value
                                 of $SHARR_LOCK_WAIT, else 5; < 0: no wait;
                                 INFINITY: for ever */
    void (*waiting)(const char *file, double lock_wait, void *ctx);
    void *waiting_ctx;        /* waiting(), if set, is called once when a
                                 save starts to wait for the lock */
    int lz4;                  /* 1: LZ4 chunks (filter 32004, the HDF5 LZ4
                                 plugin's framing; readers need the plugin,
                                 e.g. Debian's hdf5-filter-plugin); not with
                                 gzip */
    const char *const *attrs; /* nattrs "KEY=VALUE" attributes of the new
                                 dataset: an integer VALUE as i64, another
                                 number as f64, else a UTF-8 string; about
                                 400 bytes in all */
    size_t nattrs;
} sharr_save_opts;

/* sharr_h5_save() : save `a` (or its rows [row_start, row_end)) as dataset
 * `dset` of `file`, creating the file or adding to it, with attributes
 * sharr_array (the array's name), sharr_dtype and opts->attrs.  opts may be
 * NULL.
 * @return 0, SHARR_EEXIST (the dataset exists and no force), SHARR_EINVAL
 * (bad rows, chunk shape, level; not a regular file), SHARR_EBUSY (another
 * process holds the file open: the detail names it and how long the save
 * waited), SHARR_EPERM (several hard links), SHARR_ENOENT (no directory; a
 * symlink to nothing), SHARR_EHDF5, SHARR_ENOSPC, an OS error of the file
 * system, or a pool failure.  On failure the target is as it was. */
SHARR_API int sharr_h5_save(sharr_pool *pool, const sharr_array *a,
                            const char *file, const char *dset,
                            const sharr_save_opts *opts);

/* One dataset of a file, as sharr_h5_list() describes it. */
typedef struct sharr_h5_entry {
    char path[1024];          /* link path; soft and external links too */
    char cls[24];             /* integer, float, compound, string, ... */
    char type[160];           /* e.g. "f64le", "compound{r:f64be,i:f64be}" */
    int loadable;             /* 1 if sharr_h5_load() would load it */
    sharr_dtype dtype;        /* what it loads as, if loadable */
    char why[256];            /* why not, if not loadable */
    int space;                /* 0 simple, 1 scalar, 2 null */
    size_t ndim;
    size_t shape[SHARR_H5_MAX_RANK];
    char layout[160];         /* contiguous, compact, chunked(4x3),
                                 external(...), virtual */
    char filters[160];        /* deflate[4],shuffle,... or none */
    char via[32];             /* "", "soft link", "external link" */
    char attrs[1024];         /* the dataset's attributes, one "KEY = VALUE"
                                 a line (strings in double quotes, arrays of
                                 up to 8 numbers in brackets, others by
                                 class); "..." ends a list cut short */
} sharr_h5_entry;

/* sharr_h5_list() : every dataset reachable by a link in `file`, in link
 * order, as a malloc'ed array (free with sharr_h5_list_free()), however
 * many there are (a big file takes several jobs; a file changed meanwhile
 * may list an entry twice or miss one).  Links that lead nowhere are listed
 * with loadable 0 and the reason.
 * @return 0, SHARR_ENOENT, SHARR_EHDF5 (not an HDF5 file, or corrupt),
 * SHARR_EWORKER, SHARR_ENOMEM. */
SHARR_API int sharr_h5_list(sharr_pool *pool, const char *file,
                            sharr_h5_entry **out, size_t *count);
SHARR_API void sharr_h5_list_free(sharr_h5_entry *list);

/* sharr_npy_load() : load the NumPy .npy file `path` (format 1.0 to 3.0,
 * C order, little- or big-endian i1..u8, f2 (as f32), f4, f8, c8, c16) into
 * a new array `name` (or opts->into; opts may be NULL).
 * @return as sharr_h5_load(), SHARR_ECORRUPT for a malformed header,
 * SHARR_EUNSUPPORTED for other dtypes or Fortran order, and SHARR_EINVAL
 * at once for a path that is not a regular file (a FIFO is never waited on). */
SHARR_API int sharr_npy_load(const char *path, const char *name,
                             const sharr_load_opts *opts, sharr_array **out);

/* sharr_npy_save() : write `a` (or rows of it) as a .npy file, through a
 * temporary file beside the real target renamed into place (see "Targets"
 * above; no lock: NumPy takes none).  Only row_start, row_end, force,
 * force_hardlinks and sync of opts are used.  @return 0, SHARR_EEXIST (no
 * force, or the file appeared meanwhile), SHARR_EPERM (hard links), or an
 * OS error. */
SHARR_API int sharr_npy_save(const sharr_array *a, const char *path,
                             const sharr_save_opts *opts);

/* sharr_save_remove_temps() : unlink the temporary files of the saves that
 * threads of this process are running (never those of a parent it was
 * forked from).  Async-signal-safe: call it from a SIGINT/SIGTERM/SIGHUP
 * handler before the process dies, so that an interrupted save leaves
 * nothing beside its target (the save itself then fails).  The sharr tool
 * does this; a program that links sharr and handles signals should too. */
SHARR_API void sharr_save_remove_temps(void);

/* sharr_save_gc() : remove from directory `dir` the temporary files that
 * saves killed before their end left beside their targets
 * (".NAME.sharr-PID-START-PIDNS-BOOT-RANDOM.tmp").  Only regular files of
 * the calling user, whose saver ran in this boot and PID namespace and is
 * gone (pid and start time); any other is kept.  Every save does this in
 * its target's directory.  With dry_run nothing is removed.  If `removed`
 * is not NULL, calls removed(path, ctx) for each.
 * @return the number of files removed (or that would be), or the error of
 * opening `dir`. */
SHARR_API int sharr_save_gc(const char *dir, int dry_run,
                            void (*removed)(const char *path, void *ctx),
                            void *ctx);

#ifdef __cplusplus
}
#endif
#endif /* SHARR_H */
