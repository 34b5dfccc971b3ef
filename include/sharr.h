/*
 * sharr.h - named shared-memory numeric arrays for many processes.
 *
 * This header is the whole public API and its manual.
 *
 * NAMES.  An array is a POSIX shared-memory object named "/sharr.NAME", so it
 * appears as /dev/shm/sharr.NAME.  NAME is 1..200 characters of
 * [A-Za-z0-9._-] and does not start with '.'.
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
 * So numpy.load("/dev/shm/sharr.NAME", mmap_mode="r+") is a writable,
 * zero-copy view of the same elements.  The control block's magic is written
 * last: a half-made segment is never opened as valid.  Opening re-checks every
 * field against the segment's real size and regenerates the .npy header to
 * compare it byte for byte; anything else is SHARR_ECORRUPT.
 *
 * DTYPES and element sizes: i8 i16 i32 i64 (1 2 4 8), u8 u16 u32 u64
 * (1 2 4 8), f32 f64 (4 8), c64 c128 (8 16: real part first, like C99
 * `float complex` / `double complex` and NumPy).
 *
 * SHAPES.  ndim is 0..SHARR_MAX_NDIM (8).  ndim 0 is a scalar of one element
 * (multiprocessing's Value).  Every dimension is >= 1: zero-length axes are
 * refused with SHARR_EINVAL everywhere in sharr.  "Rows" are the indices of
 * axis 0 (a scalar has one row); a row is the C-contiguous block of
 * prod(shape[1:]) elements.
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
 * keep using its parent's handles.
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
    X(EUNSUPPORTED, -1007, "unsupported data type or layout")

#define SHARR_ERR_ENUM_(name, value, text) SHARR_##name = (value),
enum sharr_error { SHARR_ERRORS(SHARR_ERR_ENUM_) };
#undef SHARR_ERR_ENUM_

/* sharr_strerror() : a static one-line name for `code` (any SHARR_E* value
 * or -errno).  Never NULL. */
SHARR_API const char *sharr_strerror(int code);

/* sharr_errmsg() : the detail of the calling thread's last failure, e.g.
 * "shape[1] = 0: every dimension must be >= 1".  Valid until the thread's
 * next sharr call; "" if nothing failed yet. */
SHARR_API const char *sharr_errmsg(void);

/* ------------------------------------------------------------------------ */
/* Dtypes and values (lib/dtype.c)                                           */
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

/* sharr_dtype_parse() : parse a name ("f64"), a NumPy name ("float64",
 * "complex128", "uint8") or a NumPy descr ("<c16", "|u1") into *out.
 * @return 0 or SHARR_EINVAL (the detail lists the accepted names). */
SHARR_API int sharr_dtype_parse(const char *text, sharr_dtype *out);

/* sharr_value_parse() : convert `text` to one element of `dt` at `elem`
 * (sharr_dtype_size(dt) bytes).  Integers: decimal or 0x hex, range-checked.
 * Floats: anything strtod accepts, plus inf and nan.  Complex: "1.5", "-2j",
 * "0.6+0.8i", "0.6-0.8j", "(1+2j)".  A complex value is refused for a real
 * dtype and a fraction for an integer dtype.
 * @return 0, SHARR_EINVAL (not a number of that kind) or SHARR_ERANGE. */
SHARR_API int sharr_value_parse(sharr_dtype dt, const char *text, void *elem);

/* sharr_value_format() : write the element at `elem` as text into buf
 * (always NUL-terminated).  Floats use the shortest form that reads back
 * exactly; complex is written "re+imj" like NumPy, e.g. "0.6+0.8j".
 * @return the length written, or SHARR_ERANGE if `size` was too small. */
SHARR_API int sharr_value_format(sharr_dtype dt, const void *elem, char *buf,
                                 size_t size);

/* ------------------------------------------------------------------------ */
/* Arrays (lib/array.c)                                                      */
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
 * SHARR_ECORRUPT (detail names the field that does not match). */
SHARR_API int sharr_array_open(const char *name, unsigned flags,
                               sharr_array **out);

/* sharr_array_close() : unmap and free the handle (NULL is fine).  Releases
 * the lock if this handle holds it.  The segment itself stays. */
SHARR_API void sharr_array_close(sharr_array *a);

/* sharr_unlink() : remove the array `name` (like unlink(2): processes that
 * have it mapped keep their mapping).  Works on corrupt segments too.
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
 * is still good.  Never deadlocks on a dead holder.  Not recursive.
 * @return 0 or SHARR_EOWNERDEAD (both: lock held), SHARR_EBUSY (this handle
 * already holds it), SHARR_EACCES (segment opened without write access). */
SHARR_API int sharr_array_lock(sharr_array *a);

/* sharr_array_unlock() : release the lock taken with sharr_array_lock().
 * @return 0 or SHARR_EPERM (this handle does not hold it). */
SHARR_API int sharr_array_unlock(sharr_array *a);

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
    int creator_alive;    /* 1 alive, 0 gone (pid and start time checked) */
    int64_t created_sec;  /* creation time, Unix seconds */
    unsigned attached;    /* handles open now; advisory: a process killed
                             with the array open is never subtracted */
    unsigned char id[16];
    char path[SHARR_NAME_MAX + 16]; /* "/dev/shm/sharr.NAME" */
} sharr_info;

/* sharr_stat() : fill *info for the array `name` without mapping it (the
 * same checks as sharr_array_open(); needs only read permission).
 * @return 0, SHARR_EINVAL, SHARR_ENOENT, SHARR_EACCES, SHARR_ECORRUPT. */
SHARR_API int sharr_stat(const char *name, sharr_info *info);

/* sharr_list() : every segment named sharr.* in /dev/shm, sorted by name,
 * as a malloc'ed array in *out (free with sharr_list_free()) of *count
 * entries.  Segments that cannot be opened are listed with a non-zero
 * status instead of being skipped.
 * @return 0, SHARR_ENOMEM, or the error of opening /dev/shm. */
SHARR_API int sharr_list(sharr_info **out, size_t *count);
SHARR_API void sharr_list_free(sharr_info *list);

/* sharr_gc() : remove temporary arrays whose owner process is gone, and
 * half-made segments (creation killed before it finished) whose creator is
 * gone.  Never touches a segment of another user.  With dry_run nothing is
 * removed.  If `removed` is not NULL, calls removed(name, ctx) for each.
 * @return the number of segments removed (or that would be), or an error of
 * sharr_list(). */
SHARR_API int sharr_gc(int dry_run, void (*removed)(const char *name,
                                                    void *ctx), void *ctx);

/* ------------------------------------------------------------------------ */
/* Fill (lib/ops.c)                                                          */
/* ------------------------------------------------------------------------ */

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

/* sharr_array_fill() : fill the whole array `a` as `spec` says, in the
 * calling process.  @return 0 or SHARR_EACCES (read-only handle). */
SHARR_API int sharr_array_fill(sharr_array *a, const sharr_fill_spec *spec);

#ifdef __cplusplus
}
#endif
#endif /* SHARR_H */
