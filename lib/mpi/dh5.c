/*
 * dh5.c - parallel HDF5 load and save of distributed arrays: every rank
 * opens the file through the MPI-IO driver and reads or writes its own
 * row hyperslab straight from or into its node's slab, collectively.
 *
 * A node's rows are cut among its ranks at multiples of the dataset's
 * chunk rows (sharr__dist_io_rows), so a chunk is written by one rank
 * unless it straddles two nodes (HDF5 then gathers it).  Saves with
 * filters use HDF5's collective filtered writes, which 1.10.8 allows with
 * space allocated early and no type conversion: the memory type is the
 * file type (little-endian, complex as h5py's compound {r, i}).  A save
 * writes a new file under a temporary name beside the target and rank 0
 * renames it into place once every rank closed it.  No fork, no pool:
 * HDF5 runs in the ranks themselves, its error printing off.
 */
#define _GNU_SOURCE
#include "dist.h"
#include "io/h5io.h"

#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The MPI-IO file access list of comm. */
static hid_t mpio_fapl(MPI_Comm comm)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);

    if (fapl >= 0 && H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

static hid_t collective_dxpl(void)
{
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);

    if (dxpl >= 0 && H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE) < 0) {
        H5Pclose(dxpl);
        return -1;
    }
    return dxpl;
}

/* Select rows [a, b) of a dataset of ndim dims in fs, and make ms the
 * matching memory space (both "none" when a == b, as a collective call
 * with nothing to move needs). */
static int select_rows(hid_t fs, size_t ndim, const size_t *shape, size_t a,
                       size_t b, hid_t *ms)
{
    hsize_t start[SHARR_MAX_NDIM] = {0}, count[SHARR_MAX_NDIM], one = 1;

    for (size_t i = 0; i < ndim; i++)
        count[i] = shape[i];
    if (ndim == 0) {
        /* A scalar: rank 0 (rows [0, 1)) moves it. */
        *ms = H5Screate(H5S_SCALAR);
        if (*ms < 0)
            return -1;
        if (a == b)
            return H5Sselect_none(fs) < 0 || H5Sselect_none(*ms) < 0 ? -1 : 0;
        return 0;
    }
    if (a == b) {
        *ms = H5Screate_simple(1, &one, NULL);
        return *ms < 0 || H5Sselect_none(fs) < 0 || H5Sselect_none(*ms) < 0
                   ? -1 : 0;
    }
    start[0] = a;
    count[0] = b - a;
    if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0)
        return -1;
    *ms = H5Screate_simple((int)ndim, count, NULL);
    return *ms < 0 ? -1 : 0;
}

/* ---- load ---- */

struct load {
    struct h5_target t;
    struct h5_meta m;
    hid_t fapl, f, d;
};

static void load_close(struct load *l)
{
    sharr__h5_close_id(&l->d, H5Dclose);
    sharr__h5_close_id(&l->f, H5Fclose);
    sharr__h5_close_id(&l->fapl, H5Pclose);
}

/* Every rank: open the file and dataset and read what it holds. */
static int load_open(MPI_Comm comm, const char *file, const char *dset,
                     struct load *l)
{
    int err;

    if ((err = sharr__h5_absolute_existing(file, l->t.file,
                                           sizeof l->t.file)) < 0 ||
        (err = sharr__h5_set_dset(l->t.dset, dset)) < 0)
        return err;
    if ((l->fapl = mpio_fapl(comm)) < 0)
        return sharr__h5_fail(SHARR_EHDF5, "cannot make MPI-IO properties");
    if ((l->f = H5Fopen(l->t.file, H5F_ACC_RDONLY, l->fapl)) < 0)
        return sharr__h5_fail(SHARR_EHDF5, "%s: cannot open as an HDF5 file",
                              file);
    if ((l->d = sharr__h5_open_dataset(l->f, &l->t)) < 0) {
        err = (int)l->d;
        l->d = -1;
        return err;
    }
    if ((err = sharr__h5_check_sources(l->d, l->t.file)) < 0 ||
        (err = sharr__h5_read_meta(l->d, &l->m)) < 0 ||
        (err = sharr__h5_check_meta(&l->m)) < 0)
        return err;
    if (l->m.type.half)
        return sharr__fail(SHARR_EUNSUPPORTED, "%s:%s is float16: sharr-mpi "
                           "does not widen it (load it with sharr, or save "
                           "it as float32)", file, l->t.dset);
    return 0;
}

/* Every rank: its rows of the dataset into the slab. */
static int load_read(sharr_dist *d, struct load *l)
{
    hid_t fs = H5Dget_space(l->d), ms = -1, mt = -1, dxpl = -1;
    size_t chunk = l->m.chunk_ndim ? (size_t)l->m.chunk[0] : 0, a, b;
    int err = 0;

    sharr__dist_io_rows(d, chunk, &a, &b);
    if (d->ndim == 0 && d->nl.rank != 0)
        a = b = 0;
    if (fs < 0 || select_rows(fs, d->ndim, d->shape, a, b, &ms) < 0 ||
        (mt = sharr__h5_mem_type(d->dtype, l->m.type.re, l->m.type.im)) < 0 ||
        (dxpl = collective_dxpl()) < 0)
        err = sharr__h5_fail(SHARR_EHDF5, "cannot set up the read");
    /* Every rank calls H5Dread, even one that failed above (with nothing
     * selected), or the others would wait in it for ever. */
    if (err == 0 &&
        H5Dread(l->d, mt, ms, fs, dxpl,
                a < b && d->base ? d->base + (a - d->lay.node_r0) *
                                                 d->row_bytes
                                 : (void *)&err) < 0)
        err = sharr__h5_fail(SHARR_EHDF5, "%s:%s: cannot read rows %zu..%zu",
                             l->t.file, l->t.dset, a, b);
    sharr__h5_close_id(&dxpl, H5Pclose);
    sharr__h5_close_id(&mt, H5Tclose);
    sharr__h5_close_id(&ms, H5Sclose);
    sharr__h5_close_id(&fs, H5Sclose);
    return err;
}

int sharr_dist_h5_load(MPI_Comm comm, const char *file, const char *dset,
                       const char *name, sharr_dist **out)
{
    struct load l = {.fapl = -1, .f = -1, .d = -1};
    size_t shape[SHARR_MAX_NDIM];
    sharr_dist *d = NULL;
    int err;

    *out = NULL;
    sharr__h5_quiet();
    err = sharr_mpi_agree(comm, load_open(comm, file, dset, &l));
    if (err < 0)
        goto out;
    for (int i = 0; i < l.m.ndim; i++)
        shape[i] = (size_t)l.m.dims[i];
    if ((err = sharr_dist_create(comm, name, l.m.type.dtype,
                                 (size_t)l.m.ndim, shape, &d)) < 0)
        goto out;
    if ((err = sharr_mpi_agree(comm, load_read(d, &l))) < 0) {
        sharr_dist_close(d);
        sharr_dist_unlink(comm, name);
        goto out;
    }
    *out = d;
out:
    load_close(&l);
    return err == SHARR_H5_EMPTY ? SHARR_H5_EMPTY : err;
}

/* ---- save ---- */

/* The chunk shape of a save (0 dims: contiguous): opts' leading dims, the
 * rest full; with filters and no shape, rows of about 1 MiB. */
static int chunk_of(const sharr_dist *d, const sharr_save_opts *o,
                    hsize_t *chunk)
{
    bool filters = o && (o->gzip || o->shuffle);
    size_t n = o ? o->chunk_ndim : 0;

    if (d->ndim == 0)
        return (filters || n) ? sharr__fail(SHARR_EINVAL, "a scalar cannot "
                                            "be chunked or compressed") : 0;
    if (n > d->ndim)
        return sharr__fail(SHARR_EINVAL, "chunk shape has %zu dimensions, "
                           "the array %zu", n, d->ndim);
    if (n == 0 && !filters)
        return 0;
    for (size_t i = 0; i < d->ndim; i++) {
        chunk[i] = i < n ? o->chunk[i] : d->shape[i];
        if (chunk[i] == 0 || chunk[i] > d->shape[i])
            return sharr__fail(SHARR_EINVAL, "chunk dimension %zu is %llu; "
                               "it must be 1..%zu", i,
                               (unsigned long long)chunk[i], d->shape[i]);
    }
    if (n == 0) {
        size_t rows = ((size_t)1 << 20) / d->row_bytes;
        chunk[0] = rows < 1 ? 1 : (rows > d->rows ? d->rows : rows);
    }
    return (int)d->ndim;
}

static hid_t make_dcpl(const sharr_dist *d, const sharr_save_opts *o,
                       int *nchunk)
{
    hsize_t chunk[SHARR_MAX_NDIM];
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    int n;

    if (dcpl < 0)
        return sharr__h5_fail(SHARR_EHDF5, "cannot make creation properties");
    if ((n = chunk_of(d, o, chunk)) < 0) {
        H5Pclose(dcpl);
        return n;
    }
    *nchunk = n ? (int)chunk[0] : 0;
    H5Pset_obj_track_times(dcpl, 0);
    /* Parallel HDF5 writes filtered data only into space allocated at
     * creation; unfilled, as every element is written. */
    if (H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) < 0 ||
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0 ||
        (n && H5Pset_chunk(dcpl, n, chunk) < 0) ||
        (n && o->shuffle && H5Pset_shuffle(dcpl) < 0) ||
        (n && o->gzip && H5Pset_deflate(dcpl, (unsigned)o->gzip) < 0)) {
        H5Pclose(dcpl);
        return sharr__h5_fail(SHARR_EHDF5, "cannot set the chunk shape or "
                              "filters");
    }
    return dcpl;
}


/* Rows per collective write: all of them, or for a chunked dataset whole
 * chunk rows of at most WRITE_CHUNKS chunks. */
#define WRITE_CHUNKS 8192
static size_t write_step(const sharr_dist *d, int nchunk, hid_t dcpl)
{
    hsize_t chunk[SHARR_MAX_NDIM];
    size_t per = 1;

    if (nchunk == 0 || H5Pget_chunk(dcpl, (int)d->ndim, chunk) < 0)
        return d->rows;
    for (size_t i = 1; i < d->ndim; i++)
        per *= (d->shape[i] + chunk[i] - 1) / chunk[i];
    per = WRITE_CHUNKS / per ? WRITE_CHUNKS / per : 1;
    return per * (size_t)nchunk;
}

/* Every rank: write rows [a, b) of d (none when a == b) collectively. */
static int write_rows(const sharr_dist *d, hid_t ds, hid_t ft, hid_t fs,
                      hid_t dxpl, size_t a, size_t b, const char *dset)
{
    hid_t ms = -1;
    int err = 0;

    /* The memory type is the file type: no conversion (collective
     * filtered writes need that; on this little-endian host the bytes are
     * the same). */
    if (select_rows(fs, d->ndim, d->shape, a, b, &ms) < 0 ||
        H5Dwrite(ds, ft, ms, fs, dxpl,
                 a < b ? d->base + (a - d->lay.node_r0) * d->row_bytes
                       : (void *)&err) < 0)
        err = sharr__h5_fail(SHARR_EHDF5, "cannot write rows %zu..%zu of "
                             "%s", a, b, dset);
    sharr__h5_close_id(&ms, H5Sclose);
    return err;
}

/* Every rank: create the dataset in the open file f and write its rows. */
static int save_write(sharr_dist *d, hid_t f, const char *dset,
                      const sharr_save_opts *o)
{
    hsize_t dims[SHARR_MAX_NDIM];
    hid_t dcpl = -1, ft = -1, fs = -1, ds = -1, dxpl = -1, lcpl = -1;
    int nchunk = 0, err = 0;
    size_t a, b, step;

    for (size_t i = 0; i < d->ndim; i++)
        dims[i] = d->shape[i];
    if ((dcpl = make_dcpl(d, o, &nchunk)) < 0) {
        err = (int)dcpl;
        dcpl = -1;
        goto out;
    }
    sharr__dist_io_rows(d, (size_t)nchunk, &a, &b);
    if (d->ndim == 0 && d->nl.rank != 0)
        a = b = 0;
    fs = d->ndim ? H5Screate_simple((int)d->ndim, dims, NULL)
                 : H5Screate(H5S_SCALAR);
    lcpl = H5Pcreate(H5P_LINK_CREATE);
    if ((ft = sharr__h5_file_type(d->dtype, o && o->complex_matlab)) < 0 ||
        fs < 0 || lcpl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0 ||
        (ds = H5Dcreate2(f, dset, ft, fs, lcpl, dcpl, H5P_DEFAULT)) < 0) {
        err = sharr__h5_fail(SHARR_EHDF5, "cannot create dataset %s", dset);
        goto out;
    }
    if ((dxpl = collective_dxpl()) < 0) {
        err = sharr__h5_fail(SHARR_EHDF5, "cannot set up the write");
        goto out;
    }
    /* Filtered writes go in rounds of at most WRITE_CHUNKS chunks (every
     * rank takes part in every round): Open MPI 4.1's MPI-IO fails one
     * collective write of some 100000 chunks. */
    step = write_step(d, nchunk, dcpl);
    for (size_t w = 0; w < d->rows; w += step) {
        size_t lo = a > w ? a : w, hi = b < w + step ? b : w + step;
        int e = write_rows(d, ds, ft, fs, dxpl, lo < hi ? lo : 0,
                           lo < hi ? hi : 0, dset);
        err = err ? err : e; /* a failed rank still joins every round */
    }
    if (err < 0)
        goto out;
    if ((err = sharr__h5_str_attr(ds, "sharr_array", d->name)) == 0)
        err = sharr__h5_str_attr(ds, "sharr_dtype",
                                 sharr_dtype_name(d->dtype));
out:
    sharr__h5_close_id(&dxpl, H5Pclose);
    sharr__h5_close_id(&ds, H5Dclose);
    sharr__h5_close_id(&lcpl, H5Pclose);
    sharr__h5_close_id(&fs, H5Sclose);
    sharr__h5_close_id(&ft, H5Tclose);
    sharr__h5_close_id(&dcpl, H5Pclose);
    return err;
}

/* Rank 0: check the target and name a temporary beside it. */
static int save_plan(const char *file, const sharr_save_opts *o, char *tmp,
                     size_t size)
{
    char copy[FILE_MAX], base[FILE_MAX];
    struct stat st;
    struct timespec ts;

    if (strlen(file) + 64 >= size || strlen(file) >= sizeof copy)
        return sharr__fail(SHARR_EINVAL, "%s: path too long", file);
    if (lstat(file, &st) == 0 && !(o && o->force))
        return sharr__fail(SHARR_EEXIST, "%s exists: sharr-mpi saves a new "
                           "file (--force replaces it)", file);
    if (lstat(file, &st) == 0 && !S_ISREG(st.st_mode))
        return sharr__fail(SHARR_EINVAL, "%s is not a regular file", file);
    snprintf(copy, sizeof copy, "%s", file);
    snprintf(base, sizeof base, "%s", file);
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(tmp, size, "%s/.%s.sharr-mpi-%ld-%lx.tmp", dirname(copy),
             basename(base), (long)getpid(),
             (unsigned long)ts.tv_nsec ^ (unsigned long)ts.tv_sec);
    return 0;
}

int sharr_dist_h5_save(sharr_dist *d, const char *file, const char *dset,
                       const sharr_save_opts *opts)
{
    char tmp[FILE_MAX + 128] = "", path[DSET_MAX];
    hid_t fapl = -1, f = -1;
    int err = 0;

    sharr__h5_quiet();
    if (opts && (opts->append || opts->row_start || opts->row_end))
        err = sharr__fail(SHARR_EINVAL, "sharr-mpi saves whole arrays into "
                          "new files (no --append, no --rows)");
    if (err == 0 && opts && (opts->gzip < 0 || opts->gzip > 9))
        err = sharr__fail(SHARR_EINVAL, "gzip level %d: use 1..9",
                          opts->gzip);
    if (err == 0)
        err = sharr__h5_set_dset(path, dset);
    if (err == 0 && d->nl.rank == 0)
        err = save_plan(file, opts, tmp, sizeof tmp);
    if ((err = sharr_mpi_agree(d->nl.comm, err)) < 0)
        return err;
    MPI_Bcast(tmp, (int)sizeof tmp, MPI_CHAR, 0, d->nl.comm);
    if ((fapl = mpio_fapl(d->nl.comm)) < 0)
        err = sharr__h5_fail(SHARR_EHDF5, "cannot make MPI-IO properties");
    /* H5Fcreate is collective: a rank that failed above still joins it
     * with the others (through an invalid fapl it fails at once). */
    else if ((f = H5Fcreate(tmp, H5F_ACC_EXCL, H5P_DEFAULT, fapl)) < 0)
        err = sharr__h5_fail(SHARR_EHDF5, "%s: cannot create the temporary "
                             "file", tmp);
    if ((err = sharr_mpi_agree(d->nl.comm, err)) == 0)
        err = sharr_mpi_agree(d->nl.comm, save_write(d, f, path, opts));
    if (f >= 0 && H5Fclose(f) < 0 && err == 0)
        err = sharr__h5_fail(SHARR_EHDF5, "%s: cannot close", tmp);
    sharr__h5_close_id(&fapl, H5Pclose);
    err = sharr_mpi_agree(d->nl.comm, err);
    if (d->nl.rank == 0) {
        if (err == 0 && rename(tmp, file) < 0)
            err = sharr__fail(-errno, "cannot rename %s to %s: %s", tmp, file,
                              strerror(errno));
        if (err < 0)
            unlink(tmp);
    }
    return sharr_mpi_agree(d->nl.comm, err);
}
