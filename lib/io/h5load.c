/*
 * h5load.c - an HDF5 dataset into a shared array.  A probe job reads the
 * dataset's type, shape and layout; the caller creates the array; a read
 * job fills row blocks (aligned to chunk rows) straight into it, each worker
 * opening the file itself.  Paths are made absolute in the caller first
 * (workers keep the cwd of the pool's birth).  A new array stays temporary
 * until every row is in.
 */
#define _GNU_SOURCE
#include "h5io.h"

#include <stdio.h>
#include <string.h>

/* ---- load ---- */

struct load_arg {
    struct h5_target where;
    uint64_t row_offset;     /* dataset row of the job's row 0 */
    uint64_t at;             /* array row of the job's row 0 (the array is
                                passed whole), or 0 (split: rows are its) */
    int whole;
    uint64_t step;           /* rows per H5Dread; 0: the whole block */
    int half;                /* read binary16 bits, widen them here */
    int as_is;               /* read in the file's own type (bool) */
    int ndim;
    uint64_t dims[SHARR_MAX_NDIM]; /* of the dataset, to catch a changed file */
    int dtype;
    int populate;            /* a new array: reserve each block's rows */
    char re[16], im[16];
};

/* The dataset's own binary16 type in little-endian order: reading into it
 * only swaps bytes, keeping every bit for sharr__widen_halves(). */
static hid_t half_le(hid_t d)
{
    hid_t t = H5Dget_type(d), m = t >= 0 ? H5Tcopy(t) : -1;

    if (t >= 0)
        H5Tclose(t);
    if (m >= 0 && H5Tset_order(m, H5T_ORDER_LE) < 0) {
        H5Tclose(m);
        return -1;
    }
    return m;
}

/* Read dataset rows [row_offset + r0, row_offset + r1) to dst. */
static int read_slab(hid_t d, hid_t fs, hid_t mt, const struct load_arg *a,
                     size_t r0, size_t r1, void *dst)
{
    hsize_t start[SHARR_MAX_NDIM], count[SHARR_MAX_NDIM];
    hid_t ms;
    int err = 0;

    for (int i = 0; i < a->ndim; i++) {
        start[i] = 0;
        count[i] = a->dims[i];
    }
    start[0] = a->row_offset + r0;
    count[0] = r1 - r0;
    if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0
        || (ms = H5Screate_simple(a->ndim, count, NULL)) < 0)
        return sharr__h5_fail(SHARR_EHDF5, "cannot select rows %zu..%zu",
                              r0, r1);
    /* Halves land in the upper half of the f32 rows, then widen. */
    size_t n = (size_t)H5Sget_select_npoints(ms);
    void *at = a->half ? (unsigned char *)dst + 2 * n : dst;
    if (H5Dread(d, mt, ms, fs, H5P_DEFAULT, at) < 0)
        err = sharr__h5_fail(SHARR_EHDF5, "cannot read rows %llu..%llu",
                             (unsigned long long)start[0],
                             (unsigned long long)(start[0] + count[0]));
    else if (a->half)
        sharr__widen_halves(dst, n);
    H5Sclose(ms);
    return err;
}

/* A block in steps of a few thousand chunks: HDF5 1.10 builds a map entry
 * per chunk of a selection, gigabytes for a block of millions of chunks. */
static int read_rows(hid_t f, hid_t d, const struct load_arg *a,
                     const sharr_block *b)
{
    size_t rb = sharr_array_row_bytes(b->array[0]);
    /* A whole array (load --at) is passed from its row 0. */
    unsigned char *base = (unsigned char *)b->data[0] +
                          (a->whole ? (a->at + b->r0) * rb : 0);
    struct h5_rows direct = {a->ndim, a->dims, a->row_offset + b->r0,
                             b->r1 - b->r0, (sharr_dtype)a->dtype,
                             a->half || a->as_is,
                             a->re, a->im, base};
    hsize_t now[H5S_MAX_RANK];
    hid_t fs = H5Dget_space(d),
          mt = a->as_is ? H5Dget_type(d) : a->half ? half_le(d)
                       : sharr__h5_mem_type((sharr_dtype)a->dtype, a->re,
                                            a->im);
    int err = 0;

    if (fs < 0 || mt < 0) {
        err = sharr__h5_fail(SHARR_EHDF5, "cannot prepare the read");
    } else if (a->ndim == 0) {
        unsigned char *at = (unsigned char *)b->data[0] + (a->half ? 2 : 0);
        if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, at) < 0)
            err = sharr__h5_fail(SHARR_EHDF5, "cannot read the scalar");
        else if (a->half)
            sharr__widen_halves(b->data[0], 1);
    } else if (H5Sget_simple_extent_ndims(fs) != a->ndim ||
               H5Sget_simple_extent_dims(fs, now, NULL) < 0 ||
               memcmp(now, a->dims, (size_t)a->ndim * sizeof *now) != 0) {
        err = sharr__fail(SHARR_EHDF5, "the dataset changed shape while it "
                          "was being loaded");
    } else if ((err = sharr__h5_read_direct(f, d, &direct)) == 1) {
        size_t step = a->step ? a->step : b->r1 - b->r0;
        err = 0;
        for (size_t r = b->r0; r < b->r1 && err == 0; r += step) {
            size_t end = b->r1 - r < step ? b->r1 : r + step;
            err = read_slab(d, fs, mt, a, r, end, base + (r - b->r0) * rb);
        }
    }
    sharr__h5_close_id(&fs, H5Sclose);
    sharr__h5_close_id(&mt, H5Tclose);
    return err;
}

static int load_kernel(const sharr_block *b)
{
    const struct load_arg *a = b->arg;
    hid_t f, d = -1;
    int err;

    sharr__h5_quiet();
    /* The workers zero the new array's pages in parallel, not the caller. */
    if (a->populate &&
        (err = sharr__array_populate(b->array[0], b->r0, b->r1)) < 0)
        return err;
    if ((f = sharr__h5_open_file(a->where.file, false)) < 0)
        return SHARR_EHDF5;
    if ((d = sharr__h5_open_dataset(f, &a->where)) < 0)
        err = (int)d;
    else
        err = read_rows(f, d, a, b);
    sharr__h5_close_id(&d, H5Dclose);
    sharr__h5_close_id(&f, H5Fclose);
    return err;
}

static int load_rows(sharr_pool *pool, sharr_array *a, struct load_arg *la,
                     size_t nrows, const struct h5_meta *m,
                     const sharr_run_opts *ro)
{
    sharr_job_spec spec = {0};
    size_t n = (size_t)sharr_pool_workers(pool);

    spec.kernel = load_kernel;
    spec.narrays = 1;
    spec.arrays = &a;
    spec.arg = la;
    spec.arg_size = sizeof *la;
    spec.plain_errors = 1;
    if (la->whole) { /* rows [at, at + n) of an array with more rows */
        spec.whole = 1;
        spec.rows = nrows;
    }
    if (ro) {
        spec.progress = ro->progress;
        spec.progress_ctx = ro->progress_ctx;
    }
    if (ro && ro->schedule.kind) {
        spec.schedule = ro->schedule;
    } else if (m->chunk[0]) {
        /* Blocks of whole chunk rows, about four per worker, so that every
         * worker decompresses its own chunks and no chunk is read twice. */
        size_t rows = nrows, c = m->chunk[0], span;
        size_t per = sharr__mul_ok(c, 4 * n, &span) ? rows / span : 0;
        spec.schedule.kind = SHARR_SCHED_DYNAMIC;
        spec.schedule.chunk = c * (per ? per : 1);
        if (la->row_offset % c)
            spec.schedule.chunk = rows / (4 * n) ? rows / (4 * n) : 1;
    } else {
        spec.schedule.kind = SHARR_SCHED_STATIC;
    }
    return sharr_pool_run(pool, &spec);
}

static int load(sharr_pool *pool, const struct h5_target *where,
                const char *name, const sharr_load_opts *o, sharr_array **out)
{
    struct h5_meta m;
    struct load_arg la;
    size_t shape[SHARR_MAX_NDIM], r0 = 0, r1 = 1;
    sharr_array *a = NULL;
    int err;

    memset(&m, 0, sizeof m);
    if ((err = sharr__h5_run_one(pool, sharr__h5_probe_kernel, where,
                                 sizeof *where, 0, NULL, &m, sizeof m,
                                 PROBE_TIMEOUT)) < 0 ||
        (err = sharr__h5_check_meta(&m)) != 0)
        return err;
    if (m.space == 2) { /* a null dataspace: an empty 1-d array */
        m.ndim = 1;
        m.dims[0] = 0;
    }
    if (m.ndim > 0 &&
        (err = sharr__pick_rows(m.dims[0], o->row_start, o->row_end, &r0, &r1)) < 0)
        return err;
    if (m.ndim == 0 && (o->row_start || o->row_end > 1))
        return sharr__fail(SHARR_EINVAL, "the dataset is a scalar: it has no "
                           "rows to choose");
    memset(&la, 0, sizeof la);
    la.where = *where;
    la.row_offset = r0;
    la.step = m.ndim && m.step <= m.dims[0] ? m.step : 0;
    la.half = m.type.half;
    la.as_is = m.type.as_is;
    la.ndim = m.ndim;
    la.dtype = m.type.dtype;
    memcpy(la.re, m.type.re, sizeof la.re);
    memcpy(la.im, m.type.im, sizeof la.im);
    for (int i = 0; i < m.ndim; i++)
        shape[i] = la.dims[i] = m.dims[i];
    if (m.ndim)
        shape[0] = r1 - r0;
    /* A new array stays temporary until it is full: a load killed midway
     * leaves nothing under the name. */
    bool keep = false;
    sharr_create_opts co = sharr__staged_create(&o->create, &keep);
    la.whole = o->into && o->at_set;
    la.at = o->at;
    if (o->into)
        err = sharr__open_into(o->into, m.type.dtype, (size_t)m.ndim, shape,
                               la.whole ? &o->at : NULL, &a);
    else
        err = sharr__array_create_unreserved(name, m.type.dtype,
                                             (size_t)m.ndim, shape, &co, &a);
    if (err < 0)
        return err;
    la.populate = !o->into;
    /* Nothing to read (an empty dataset, or no rows of it): HDF5 would
     * refuse a selection with a zero count. */
    size_t elems = 1;
    for (int i = 0; i < m.ndim; i++)
        elems *= shape[i];
    if ((elems && (err = load_rows(pool, a, &la, m.ndim ? r1 - r0 : 1, &m,
                                   &o->run)) < 0) ||
        (!o->into && keep && (err = sharr_array_keep(a)) < 0)) {
        if (!o->into)
            sharr_unlink(sharr_array_name(a));
        sharr_array_close(a);
        return err;
    }
    *out = a;
    return 0;
}

int sharr_h5_load(sharr_pool *pool, const char *file, const char *dset,
                  const char *name, const sharr_load_opts *opts,
                  sharr_array **out)
{
    static const sharr_load_opts defaults;
    const sharr_load_opts *o = opts ? opts : &defaults;
    struct h5_target where;
    struct h5_host host;
    int err;

    *out = NULL;
    memset(&where, 0, sizeof where);
    if (!file)
        return sharr__fail(SHARR_EINVAL, "no file given");
    if (!o->into && (err = sharr_name_check(name)) < 0)
        return err;
    where.allow_external = o->allow_external != 0;
    if ((err = sharr__h5_absolute_existing(file, where.file,
                                           sizeof where.file)) < 0 ||
        (err = sharr__h5_set_dset(where.dset, dset)) < 0)
        return err;
    sharr__h5_host_save(pool, &host);
    err = load(pool, &where, name, o, out);
    sharr__h5_host_restore(&host);
    /* Every failure names the file and the dataset, once. */
    if (err != 0 && strncmp(sharr_errmsg(), where.file,
                            strlen(where.file)) != 0)
        sharr__errmsg_prefix("%s:%s", file, where.dset);
    return err;
}
