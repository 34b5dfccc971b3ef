/*
 * h5io.h - private to lib/io/: what the HDF5 files share.  The target of a
 * kernel, the type and metadata a probe reports, and the helpers of
 * h5common.c (errors, types, files and datasets, probing, paths) used by
 * h5load.c, h5save.c and h5list.c.  Only lib/io/ includes it (and with it
 * hdf5.h).  Every helper runs inside a pool kernel, or in the caller when
 * the pool is NULL; none keeps an HDF5 handle past the call that opened it.
 */
#ifndef SHARR_IO_H5IO_H
#define SHARR_IO_H5IO_H

#include "internal.h"

#include <hdf5.h>
#include <limits.h>

#define FILE_MAX 2048
#define DSET_MAX 1024
#define PROBE_TIMEOUT 120.0      /* seconds; a hung HDF5 call is killed */

/* Where a kernel works: an absolute file path and a dataset path. */
struct h5_target {
    char file[FILE_MAX];
    char dset[DSET_MAX];
    int allow_external;      /* read external data outside file's dir */
};

/* What a file type loads as. */
struct h5type {
    int loadable;
    sharr_dtype dtype;
    int half;                /* IEEE binary16: widened by sharr, exactly */
    int as_is;               /* read in the file's own type (h5py's bool,
                                an enum {FALSE, TRUE} of 1 byte, as u8) */
    char re[16], im[16];     /* complex member names */
    char cls[24];
    char desc[160];
    char why[256];
};

/* What the probe job reports. */
struct h5_meta {
    struct h5type type;
    int space;               /* 0 simple, 1 scalar, 2 null */
    int ndim;
    uint64_t dims[H5S_MAX_RANK];
    uint64_t chunk[H5S_MAX_RANK]; /* chunk shape; chunk[0] 0 if none */
    int chunk_ndim;          /* dimensions of the chunk shape (0: none) */
    uint64_t step;           /* rows per H5Dread (0: a block at once) */
    char layout[160], filters[160];
    char missing[512];       /* the first filter HDF5 cannot load, or "" */
};

/* HDF5 errors (h5common.c) */
__attribute__((format(printf, 2, 3)))
int sharr__h5_fail(int code, const char *fmt, ...);
void sharr__h5_quiet(void);
void sharr__h5_close_id(hid_t *id, herr_t (*fn)(hid_t));

/* Write the scalar variable-length UTF-8 string attribute key = value on
 * obj (h5py reads it as str).  @return 0 or SHARR_EHDF5. */
int sharr__h5_str_attr(hid_t obj, const char *key, const char *value);

/* What a host program set up for HDF5 errors in its own process: its
 * automatic error function and its error stack.  With pool == NULL the
 * kernels run in the host and silence HDF5 and clear its stack, so the
 * public functions save both before and restore them after.  With a pool
 * the host's HDF5 is never touched: both are no-ops. */
struct h5_host {
    bool saved;
    H5E_auto2_t func;
    void *data;
    hid_t stack;
};
void sharr__h5_host_save(const sharr_pool *pool, struct h5_host *h);
void sharr__h5_host_restore(struct h5_host *h);

/* Types */
hid_t sharr__h5_mem_type(sharr_dtype dt, const char *re, const char *im);
hid_t sharr__h5_file_type(sharr_dtype dt, int matlab);

/* "i32be", "compound{r:f64le,i:f64le}", "string(5)" ... */
void sharr__h5_describe_type(hid_t t, char *buf, size_t size);

/* Files and datasets */
hid_t sharr__h5_open_file(const char *path, bool write);
/* SHARR_EINVAL naming `shown` if path is a directory, not a regular file
 * (a FIFO would block the open) or a file without an HDF5 signature. */
int sharr__h5_not_hdf5(const char *path, const char *shown);
int sharr__h5_path_exists(hid_t f, const char *path);
hid_t sharr__h5_open_dataset(hid_t f, const struct h5_target *t);

/* Probing a dataset */
int sharr__h5_read_meta(hid_t d, struct h5_meta *m);
int sharr__h5_probe_kernel(const sharr_block *b);
int sharr__h5_check_meta(const struct h5_meta *m);
int sharr__h5_run_one(sharr_pool *pool, sharr_kernel kernel, const void *arg,
                      size_t arg_size, size_t narrays,
                      sharr_array *const *arrays, void *result,
                      size_t result_size, double timeout);

/* Where the bytes come from (h5sources.c).  A load reads only files that
 * resolve inside the directory of the file the user named. */
struct h5_dir {
    char path[PATH_MAX];     /* that directory, a real path */
    size_t len;
    int err;                 /* why an external link was refused, or 0 */
};
int sharr__h5_dir_of(const char *file, struct h5_dir *dir);
/* 0 if every external raw-data file and virtual-dataset source of dataset
 * d resolves inside the directory of `file`, else SHARR_EACCES. */
int sharr__h5_check_sources(hid_t d, const char *file);
/* Opens through lapl (a dataset access list is one) refuse external links
 * to files outside dir: the open fails and dir->err says why. */
int sharr__h5_guard_elinks(hid_t lapl, struct h5_dir *dir);

/* Rows [first, first + count) of a dataset of the array's shape, read by
 * a worker straight into dst (h5direct.c). */
struct h5_rows {
    int ndim;
    const uint64_t *dims;
    uint64_t first, count;
    sharr_dtype dtype;
    int half;                /* or read as the file's type: not direct */
    const char *re, *im;
    void *dst;
};
/* Read r with sharr's own chunk decoders when the dataset's pipeline and
 * type allow it (and $SHARR_H5_DIRECT is not "0").
 * @return 1 if not (read it through HDF5), else 0 or an error. */
int sharr__h5_read_direct(hid_t f, hid_t d, const struct h5_rows *r);

/* Paths */
int sharr__h5_absolute_existing(const char *path, char *buf, size_t size);
int sharr__h5_set_dset(char *buf, const char *dset);

#endif
