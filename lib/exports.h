/*
 * exports.h - the private interface between the two libraries.  libsharr
 * (core, store, pool, ops, .npy) is built with -fvisibility=hidden; the
 * HDF5 part, libsharr-h5 (lib/io/h5*.c), is a library of its own so that a
 * program that does not use HDF5 never loads it (41 shared libraries and
 * about 5 ms at every start).  What libsharr-h5 calls of libsharr's
 * internals is redeclared here with default visibility, so libsharr.so
 * exports exactly these, in the symbol version SHARR_PRIVATE_<version>
 * (lib/libsharr.map.in): like glibc's GLIBC_PRIVATE, a libsharr-h5 of
 * another version refuses to load instead of calling an internal whose
 * meaning changed.  They are not API; never call them from outside lib/.
 * Included at the end of internal.h, so every definition sees it.
 */
#ifndef SHARR_EXPORTS_H
#define SHARR_EXPORTS_H

#define SHARR_PRIVATE __attribute__((visibility("default")))

struct sharr__target;

/* errors (core/error.c) */
SHARR_PRIVATE int sharr__fail(int code, const char *fmt, ...);
SHARR_PRIVATE int sharr__fail_os(int code, const char *fmt, ...);
SHARR_PRIVATE void sharr__errmsg_replace(const char *from, const char *to);
SHARR_PRIVATE void sharr__errmsg_prefix(const char *fmt, ...);

/* conversions (core/dtype.c) */
SHARR_PRIVATE void sharr__widen_halves(void *buf, size_t count);

/* loads into arrays (store/array.c) */
SHARR_PRIVATE int sharr__pick_rows(size_t rows, size_t start, size_t end,
                                   size_t *r0, size_t *r1);
SHARR_PRIVATE int sharr__open_into(const char *into, sharr_dtype dt,
                                   size_t ndim, const size_t *shape,
                                   const size_t *at, sharr_array **out);
SHARR_PRIVATE sharr_create_opts
sharr__staged_create(const sharr_create_opts *asked, bool *keep);
SHARR_PRIVATE int sharr__array_create_unreserved(const char *name,
                                                 sharr_dtype dtype,
                                                 size_t ndim,
                                                 const size_t *shape,
                                                 const sharr_create_opts *o,
                                                 sharr_array **out);
SHARR_PRIVATE int sharr__array_populate(const sharr_array *a, size_t r0,
                                        size_t r1);

/* save targets (io/target.c) */
SHARR_PRIVATE int sharr__target_open(struct sharr__target *t,
                                     const char *file,
                                     const sharr_save_opts *opts,
                                     unsigned flags);
SHARR_PRIVATE int sharr__target_temp(struct sharr__target *t, bool copy,
                                     int *fd);
SHARR_PRIVATE int sharr__target_commit(struct sharr__target *t, bool sync,
                                       bool replace);
SHARR_PRIVATE void sharr__target_close(struct sharr__target *t);

/* renaming a staged object (store/array.c): give the object `from`, which
 * the caller made under a staging name, the name `to` instead (link(2),
 * never over an existing one, then unlink(2) of `from`); lib/mpi publishes
 * the slabs of a new distributed array so.
 * @return 0, SHARR_EINVAL (a name), SHARR_EEXIST, or -errno. */
SHARR_PRIVATE int sharr__rename(const char *from, const char *to);

#endif /* SHARR_EXPORTS_H */
