/*
 * h5save.c - a shared array into an HDF5 dataset.  A job creates the
 * dataset (in a temporary file, under a temporary link); unfiltered data is
 * written by the same worker; filtered data is compressed chunk by chunk in
 * all workers into a staging array and stored by one worker with
 * H5Dwrite_chunk; the last job moves the link and the caller renames the
 * file into place, so an interrupted save never destroys the old file.
 * The caller holds the target's lock (HDF5's flock, target.c) from before
 * the copy to after the rename; an append writes the locked target itself.
 * Kernels open the file only after checking that its path names the inode
 * the caller prepared, and then through /proc/self/fd, so a link planted in
 * between is never followed; HDF5's own locking is off in them.
 */
#define _GNU_SOURCE
#include "h5io.h"
#include "h5ordered.h"
#include "target.h"
#include "h5chunk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define STAGING_MAX ((size_t)512 << 20)
/* The final writes of an append travel to the caller through this much
 * of a segment (virtual: tmpfs gives only the pages written). */
#define COMMIT_AREA ((size_t)4 << 20)
#define DEFAULT_CHUNK_BYTES ((size_t)1 << 20)

/* ---- save ---- */

struct save_arg {
    struct h5_target where;    /* the file the kernels write (the temporary,
                                  or the target itself for an append); the
                                  final dataset path */
    uint64_t file_dev;         /* the inode where.file must name */
    int64_t lock_pid;          /* an append: the caller, whose fd lock_fd */
    int lock_fd;               /* holds the target's lock */
    uint64_t file_ino;
    int fresh;                 /* where.file is empty: create an HDF5 file */
    int append;                /* where.file is the target: h5ordered.c */
    int sync;
    char tmp_link[128];        /* dataset name while it is written */
    int ndim;
    uint64_t dims[SHARR_MAX_NDIM];
    uint64_t chunk[SHARR_MAX_NDIM]; /* all 0: contiguous */
    int gzip, shuffle, lz4, matlab, force;
    int dtype;
    uint64_t row_start;        /* array row of dataset row 0 */
    uint64_t row_bytes;
    int write_data;            /* create also writes (no filters) */
    char source[SHARR_NAME_MAX + 1];
};

/* The parent group of the final path and the base name in it. */
static void split_dset(const char *dset, char *parent, size_t psize,
                       const char **base)
{
    const char *slash = strrchr(dset, '/');
    size_t n = (size_t)(slash - dset);

    snprintf(parent, psize, "%.*s", (int)(n ? n : 1), dset);
    *base = slash + 1;
}

/* Filter 32004 as the HDF5 LZ4 plugin reads it (cd_values none: its
 * default block size).  The chunks are sharr's own (h5chunk.c); the filter
 * need not be available to write them, only to read them back, so an
 * uninstalled plugin is not an error here. */
static herr_t set_lz4(hid_t dcpl)
{
    return H5Pset_filter(dcpl, CHUNK_FILTER_LZ4, H5Zfilter_avail(
                             CHUNK_FILTER_LZ4) > 0 ? H5Z_FLAG_MANDATORY
                                                   : H5Z_FLAG_OPTIONAL,
                         0, NULL);
}

static hid_t create_props(const struct save_arg *a)
{
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk[SHARR_MAX_NDIM];

    if (dcpl < 0)
        return -1;
    /* No modification times: the same array saves to the same bytes. */
    H5Pset_obj_track_times(dcpl, 0);
    if (a->chunk[0]) {
        for (int i = 0; i < a->ndim; i++)
            chunk[i] = a->chunk[i];
        if (H5Pset_chunk(dcpl, a->ndim, chunk) < 0 ||
            (a->shuffle && H5Pset_shuffle(dcpl) < 0) ||
            (a->gzip && H5Pset_deflate(dcpl, (unsigned)a->gzip) < 0) ||
            (a->lz4 && set_lz4(dcpl) < 0) ||
            H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0) {
            H5Pclose(dcpl);
            return -1;
        }
    }
    return dcpl;
}

/* Every group on the way to the final path that exists must be a group:
 * HDF5 says "message type not found" when one is a dataset. */
static int check_parents(hid_t f, const struct save_arg *a)
{
    char buf[DSET_MAX];
    H5O_info_t oi;

    snprintf(buf, sizeof buf, "%s", a->where.dset);
    for (char *p = strchr(buf + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (H5Lexists(f, buf, H5P_DEFAULT) <= 0) {
            H5Eclear2(H5E_DEFAULT);
            return 0; /* created on the way */
        }
        if (H5Oget_info_by_name2(f, buf, &oi, H5O_INFO_BASIC,
                                 H5P_DEFAULT) >= 0 &&
            oi.type != H5O_TYPE_GROUP) {
            return sharr__fail(SHARR_EHDF5, "%s: cannot create %s: %s is "
                               "a %s, not a group", a->where.file,
                               a->where.dset, buf, oi.type == H5O_TYPE_DATASET
                                   ? "dataset" : "named datatype");
        }
        H5Eclear2(H5E_DEFAULT);
        *p = '/';
    }
    return 0;
}

static int create_dataset(hid_t f, const struct save_arg *a, hid_t *out)
{
    char parent[DSET_MAX], tmp[DSET_MAX + 160];
    const char *base;
    hsize_t dims[SHARR_MAX_NDIM];
    hid_t ft = sharr__h5_file_type((sharr_dtype)a->dtype, a->matlab), sp = -1,
          dcpl = create_props(a), lcpl = H5Pcreate(H5P_LINK_CREATE), d = -1;
    int err = 0;

    split_dset(a->where.dset, parent, sizeof parent, &base);
    snprintf(tmp, sizeof tmp, "%s/%s", strcmp(parent, "/") ? parent : "",
             a->tmp_link);
    for (int i = 0; i < a->ndim; i++)
        dims[i] = a->dims[i];
    sp = a->ndim ? H5Screate_simple(a->ndim, dims, NULL)
                 : H5Screate(H5S_SCALAR);
    if (ft < 0 || sp < 0 || dcpl < 0 || lcpl < 0 ||
        H5Pset_create_intermediate_group(lcpl, 1) < 0 ||
        (d = H5Dcreate2(f, tmp, ft, sp, lcpl, dcpl, H5P_DEFAULT)) < 0) {
        err = sharr__h5_fail(SHARR_EHDF5, "%s:%s: cannot create the dataset",
                             a->where.file, a->where.dset);
        goto done;
    }
    if ((err = sharr__h5_str_attr(d, "sharr_array", a->source)) < 0 ||
        (err = sharr__h5_str_attr(d, "sharr_dtype",
                          sharr_dtype_name((sharr_dtype)a->dtype))) < 0)
        goto done;
    *out = d;
    d = -1;
done:
    sharr__h5_close_id(&d, H5Dclose);
    sharr__h5_close_id(&lcpl, H5Pclose);
    sharr__h5_close_id(&dcpl, H5Pclose);
    sharr__h5_close_id(&sp, H5Sclose);
    sharr__h5_close_id(&ft, H5Tclose);
    return err;
}

/* Replace (with force) and move the temporary link to the final name. */
static int finish_link(hid_t f, const struct save_arg *a)
{
    char parent[DSET_MAX];
    const char *base;
    hid_t g;
    int err = 0;

    split_dset(a->where.dset, parent, sizeof parent, &base);
    if ((g = H5Gopen2(f, parent, H5P_DEFAULT)) < 0)
        return sharr__h5_fail(SHARR_EHDF5, "cannot open group %s", parent);
    if (H5Lexists(g, base, H5P_DEFAULT) > 0 && H5Ldelete(g, base,
                                                         H5P_DEFAULT) < 0)
        err = sharr__h5_fail(SHARR_EHDF5, "cannot replace %s", a->where.dset);
    else if (H5Lmove(g, a->tmp_link, g, base, H5P_DEFAULT, H5P_DEFAULT) < 0)
        err = sharr__h5_fail(SHARR_EHDF5, "cannot name the dataset %s",
                             a->where.dset);
    H5Eclear2(H5E_DEFAULT);
    H5Gclose(g);
    return err;
}

/* Remove a dataset under the temporary link: a killed append's, since the
 * caller holds the target's lock and no save of ours is running on it. */
static int drop_partial(hid_t f, const struct save_arg *a)
{
    char parent[DSET_MAX], tmp[DSET_MAX + 160];
    const char *base;
    int err = 0;

    split_dset(a->where.dset, parent, sizeof parent, &base);
    snprintf(tmp, sizeof tmp, "%s/%s", strcmp(parent, "/") ? parent : "",
             a->tmp_link);
    if (sharr__h5_path_exists(f, tmp) && H5Ldelete(f, tmp, H5P_DEFAULT) < 0)
        err = sharr__h5_fail(SHARR_EHDF5, "cannot remove %s, left by an "
                             "interrupted save", tmp);
    H5Eclear2(H5E_DEFAULT);
    return err;
}

/* An append writes through the caller's own open file, the one that holds
 * the target's flock (pidfd_getfd from a worker): the lock then lasts while
 * any process still writes, so a saver killed while its worker is still
 * writing does not let the next writer in before that worker is gone.
 * @return the fd, or -1 where that is refused (no pidfd_getfd, another
 * user's or a non-dumpable caller): the file is then opened by name. */
static int locked_fd(const struct save_arg *a)
{
    int pidfd, fd;

    if (a->lock_pid == (int64_t)getpid())
        return fcntl(a->lock_fd, F_DUPFD_CLOEXEC, 0);
    if ((pidfd = (int)syscall(SYS_pidfd_open, (pid_t)a->lock_pid, 0)) < 0)
        return -1;
    fd = (int)syscall(SYS_pidfd_getfd, pidfd, a->lock_fd, 0);
    close(pidfd);
    return fd; /* the caller checks it is the target's inode */
}

/* Open (or, fresh, create) the file a save writes, in a kernel.  The path
 * must still name the inode the caller made or locked, never something put
 * there since, and HDF5 opens that inode through /proc/self/fd, not the
 * name (an append: through h5ordered.c, on that fd).  HDF5's own file
 * locking is off: the caller holds the target's lock (a second flock here,
 * on another open file, would conflict with it).  Close with
 * close_verified(). */
static hid_t open_verified(const struct save_arg *a, bool fresh, void *area,
                           int *fd)
{
    char proc[64];
    struct stat st;
    hid_t fapl = -1, f = -1;

    *fd = a->append ? locked_fd(a) : -1;
    if (*fd < 0)
        *fd = open(a->where.file, O_RDWR | O_NOFOLLOW | O_NONBLOCK |
                   O_CLOEXEC);
    if (*fd < 0 || fstat(*fd, &st) < 0) {
        sharr__fail_os(-errno, "%s", a->where.file);
        goto fail;
    }
    if ((uint64_t)st.st_dev != a->file_dev ||
        (uint64_t)st.st_ino != a->file_ino || !S_ISREG(st.st_mode)) {
        sharr__fail(SHARR_EBUSY, "%s was replaced while being saved into",
                    a->where.file);
        goto fail;
    }
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", *fd);
    if (a->append)
        f = (fapl = sharr__h5_ordered_fapl(*fd, a->sync != 0, area,
                                           area ? COMMIT_AREA : 0)) < 0
                ? -1 : H5Fopen(a->where.file, H5F_ACC_RDWR, fapl);
    else if ((fapl = H5Pcreate(H5P_FILE_ACCESS)) >= 0 &&
             H5Pset_file_locking(fapl, 0, 1) >= 0)
        f = fresh ? H5Fcreate(proc, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)
                  : H5Fopen(proc, H5F_ACC_RDWR, fapl);
    if (fapl >= 0)
        H5Pclose(fapl);
    if (f >= 0)
        return f;
    if (fresh || sharr__h5_not_hdf5(proc, a->where.file) == 0)
        sharr__h5_fail(SHARR_EHDF5, "%s: cannot %s", a->where.file,
                       fresh ? "create" : "open as an HDF5 file for writing");
fail:
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
    return -1;
}

/* A failed append leaves the target as it was (h5ordered.c). */
static int close_verified(hid_t f, int fd, const struct save_arg *a, int err)
{
    if (f >= 0 && err < 0)
        sharr__h5_ordered_discard(f);
    if (f >= 0 && H5Fclose(f) < 0 && err == 0)
        err = sharr__h5_fail(SHARR_EHDF5, "%s: cannot close", a->where.file);
    int closed = a->append && f >= 0 ? sharr__h5_ordered_closed() : 0;
    if (closed && err == 0)
        err = closed == EINTR ? SHARR_EIO /* the detail says it */
                              : sharr__fail_os(-closed, "%s: writing the "
                                               "appended dataset's metadata",
                                               a->where.file);
    if (fd >= 0)
        close(fd);
    return err;
}

/* Refuse an existing target unless forced, and never replace a group. */
static int check_target(hid_t f, const struct save_arg *a)
{
    H5O_info_t oi;

    if (!sharr__h5_path_exists(f, a->where.dset))
        return 0;
    if (!a->force)
        return sharr__fail(SHARR_EEXIST, "%s already has %s: set "
                           "sharr_save_opts.force to replace it", a->where.file,
                           a->where.dset);
    if (H5Oget_info_by_name2(f, a->where.dset, &oi, H5O_INFO_BASIC,
                             H5P_DEFAULT) >= 0 && oi.type != H5O_TYPE_DATASET)
        return sharr__fail(SHARR_EINVAL, "%s is a group: only a dataset is "
                           "ever replaced", a->where.dset);
    H5Eclear2(H5E_DEFAULT);
    return 0;
}

/* What the creating job takes: the save and the user's attributes,
 * "KEY=VALUE\0" after one another, ended by an empty one. */
#define ATTRS_MAX (SHARR_JOB_ARG_MAX - sizeof(struct save_arg))
struct create_arg {
    struct save_arg save;
    char attrs[ATTRS_MAX];
};

_Static_assert(sizeof(struct create_arg) <= SHARR_JOB_ARG_MAX,
               "the creating job's argument must fit a job");

/* A scalar attribute of a number (an integer as i64, else f64). */
static int write_number_attr(hid_t d, const char *key, const char *value,
                             bool *done)
{
    char *end;
    long long i;
    double x;
    hid_t t, s, a = -1;
    int err = 0;

    errno = 0;
    i = strtoll(value, &end, 10);
    bool integer = *value && !*end && errno == 0;
    x = integer ? 0 : (errno = 0, strtod(value, &end));
    *done = integer || (*value && !*end && errno == 0);
    if (!*done)
        return 0;
    t = integer ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE;
    if ((s = H5Screate(H5S_SCALAR)) < 0 ||
        (a = H5Acreate2(d, key, integer ? H5T_STD_I64LE : H5T_IEEE_F64LE, s,
                        H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Awrite(a, t, integer ? (const void *)&i : (const void *)&x) < 0)
        err = sharr__h5_fail(SHARR_EHDF5, "cannot write attribute %s", key);
    sharr__h5_close_id(&a, H5Aclose);
    sharr__h5_close_id(&s, H5Sclose);
    return err;
}

static int write_user_attrs(hid_t d, const char *attrs)
{
    char key[256];
    int err = 0;

    for (const char *p = attrs; *p && err == 0; p += strlen(p) + 1) {
        const char *eq = strchr(p, '=');
        bool done;
        snprintf(key, sizeof key, "%.*s", (int)(eq - p), p);
        if ((err = write_number_attr(d, key, eq + 1, &done)) == 0 && !done)
            err = sharr__h5_str_attr(d, key, eq + 1);
    }
    return err;
}

/* Create (in a new or copied temporary file) and, without filters, write
 * the whole dataset and name it. */
static int create_kernel(const sharr_block *b)
{
    const struct create_arg *ca = b->arg;
    const struct save_arg *a = &ca->save;
    hid_t f = -1, d = -1, mt = -1;
    int fd, err;

    sharr__h5_quiet();
    if ((f = open_verified(a, a->fresh, a->append ? b->data[1] : NULL,
                           &fd)) < 0)
        return SHARR_EHDF5;
    if ((err = check_parents(f, a)) < 0 || (err = check_target(f, a)) < 0 ||
        (err = drop_partial(f, a)) < 0 || (err = create_dataset(f, a, &d)) < 0 ||
        (err = write_user_attrs(d, ca->attrs)) < 0)
        goto done;
    if (a->write_data) {
        const unsigned char *src = (const unsigned char *)b->data[0] +
                                   a->row_start * a->row_bytes;
        mt = sharr__h5_mem_type((sharr_dtype)a->dtype, a->matlab ? "real" : "r",
                                a->matlab ? "imag" : "i");
        if (mt < 0 || H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, src) < 0) {
            err = sharr__h5_fail(SHARR_EHDF5, "%s: cannot write the data",
                                 a->where.file);
            goto done;
        }
        sharr__h5_close_id(&d, H5Dclose);
        err = finish_link(f, a);
    }
done:
    sharr__h5_close_id(&mt, H5Tclose);
    sharr__h5_close_id(&d, H5Dclose);
    return close_verified(f, fd, a, err);
}

/* ---- filtered saves: chunks compressed in parallel ---- */

struct chunk_geom {
    int ndim;
    uint64_t dims[SHARR_MAX_NDIM], chunk[SHARR_MAX_NDIM],
        grid[SHARR_MAX_NDIM];
    uint64_t row_start, elem, chunk_bytes, slot_bytes, first;
    int gzip, shuffle, lz4;
    int deflater;   /* gzip: the libdeflate level that compresses, or 0 for
                       zlib's own at level gzip (choose_deflater) */
};

/* One step of the save pipeline: the blocks compress window k into one
 * half of the staging array while block row 0 writes window k - 1 from the
 * other half, so the single writer works while the others compress. */
struct step_arg {
    struct save_arg save;
    struct chunk_geom g;
    uint64_t window;         /* chunks per window */
    uint64_t total;          /* chunks in all */
    uint64_t nwindows;
    uint64_t k;              /* this step */
};

/* Coordinates (in chunks) of linear chunk index c. */
static void unravel(const struct chunk_geom *g, uint64_t c, uint64_t *coord)
{
    for (int i = g->ndim - 1; i >= 0; i--) {
        coord[i] = c % g->grid[i];
        c /= g->grid[i];
    }
}

/* Copy the first `limit` bytes of chunk `coord` of the saved region out of
 * the array, zero-padding past the edges, as HDF5 stores an edge chunk. */
static void gather(const struct chunk_geom *g, const unsigned char *array,
                   const uint64_t *coord, unsigned char *out, uint64_t limit)
{
    uint64_t idx[SHARR_MAX_NDIM] = {0}, start[SHARR_MAX_NDIM];
    int last = g->ndim - 1;
    uint64_t run;

    memset(out, 0, limit);
    for (int i = 0; i < g->ndim; i++)
        start[i] = coord[i] * g->chunk[i];
    run = g->dims[last] - start[last] < g->chunk[last]
              ? g->dims[last] - start[last] : g->chunk[last];
    for (;;) {
        uint64_t src = 0, dst = 0;
        bool inside = true;
        for (int i = 0; i < g->ndim; i++) {
            uint64_t at = start[i] + (i == last ? 0 : idx[i]);
            inside = inside && at < g->dims[i];
            src = src * g->dims[i] + at + (i == 0 ? g->row_start : 0);
            dst = dst * g->chunk[i] + (i == last ? 0 : idx[i]);
        }
        if (dst * g->elem >= limit)
            break; /* dst only grows */
        if (inside)
            memcpy(out + dst * g->elem, array + src * g->elem,
                   run * g->elem < limit - dst * g->elem
                       ? run * g->elem : limit - dst * g->elem);
        int d = last - 1;
        for (; d >= 0; d--) {
            if (++idx[d] < g->chunk[d])
                break;
            idx[d] = 0;
        }
        if (d < 0)
            break;
    }
}

/* The first chunk and the chunk count of window w. */
static void window_range(const struct step_arg *s, uint64_t w, uint64_t *first,
                         uint64_t *count)
{
    *first = w * s->window;
    *count = s->total - *first < s->window ? s->total - *first : s->window;
}

/* Slot i of window w: an 8-byte length, then the chunk's stored bytes. */
static unsigned char *slot_of(const struct step_arg *s, unsigned char *staging,
                              uint64_t w, uint64_t i)
{
    return staging + ((w % 2) * s->window + i) * s->g.slot_bytes;
}

/* Chunk c into `slot`, as HDF5's filter pipeline (shuffle, then deflate
 * or LZ4) would have stored it; raw and shuf are chunk-sized scratch
 * buffers, *z the worker's libdeflate compressor (made on first use). */
static int compress_chunk(const struct chunk_geom *g, const unsigned char *array,
                          uint64_t c, unsigned char *slot, unsigned char *raw,
                          unsigned char *shuf, struct libdeflate_compressor **z)
{
    uint64_t coord[SHARR_MAX_NDIM], len = g->chunk_bytes;
    const unsigned char *src = raw;
    size_t stored = 0;
    int err = 0;

    unravel(g, c, coord);
    gather(g, array, coord, raw, g->chunk_bytes);
    if (g->shuffle) {
        sharr__shuffle(raw, shuf, g->chunk_bytes, g->elem);
        src = shuf;
    }
    if (g->gzip && g->deflater)
        err = sharr__deflate(z, g->deflater, src, g->chunk_bytes, slot + 8,
                             g->slot_bytes - 8, &stored);
    else if (g->gzip)
        err = sharr__zlib_deflate(g->gzip, src, g->chunk_bytes, slot + 8,
                                  g->slot_bytes - 8, &stored);
    else if (g->lz4)
        err = sharr__lz4(src, g->chunk_bytes, slot + 8, g->slot_bytes - 8,
                         &stored);
    else
        memcpy(slot + 8, src, stored = g->chunk_bytes);
    if (err < 0) {
        sharr__errmsg_prefix("chunk %llu", (unsigned long long)c);
        return err;
    }
    len = stored;
    memcpy(slot, &len, 8);
    return 0;
}

/* Store window w's chunks with H5Dwrite_chunk; after the last one, name
 * the dataset. */
static int write_window(const struct step_arg *s, unsigned char *staging,
                        void *area, uint64_t w, bool last)
{
    char tmp[DSET_MAX + 160], parent[DSET_MAX];
    const char *base;
    uint64_t first, count;
    hid_t f, d = -1;
    int fd, err = 0;

    sharr__h5_quiet();
    if ((f = open_verified(&s->save, false, area, &fd)) < 0)
        return SHARR_EHDF5;
    split_dset(s->save.where.dset, parent, sizeof parent, &base);
    snprintf(tmp, sizeof tmp, "%s/%s", strcmp(parent, "/") ? parent : "",
             s->save.tmp_link);
    if ((d = H5Dopen2(f, tmp, H5P_DEFAULT)) < 0) {
        err = sharr__h5_fail(SHARR_EHDF5,
                             "cannot reopen the dataset being saved");
        goto done;
    }
    window_range(s, w, &first, &count);
    for (uint64_t i = 0; i < count && err == 0; i++) {
        const unsigned char *slot = slot_of(s, staging, w, i);
        uint64_t coord[SHARR_MAX_NDIM], len;
        hsize_t off[SHARR_MAX_NDIM];
        memcpy(&len, slot, 8);
        unravel(&s->g, first + i, coord);
        for (int j = 0; j < s->g.ndim; j++)
            off[j] = coord[j] * s->g.chunk[j];
        if (H5Dwrite_chunk(d, H5P_DEFAULT, 0, off, (size_t)len, slot + 8) < 0)
            err = sharr__h5_fail(SHARR_EHDF5, "cannot write chunk %llu",
                                 (unsigned long long)(first + i));
    }
    sharr__h5_close_id(&d, H5Dclose);
    if (err == 0 && last)
        err = finish_link(f, &s->save);
done:
    sharr__h5_close_id(&d, H5Dclose);
    return close_verified(f, fd, &s->save, err);
}

/* Row 0 of a step after the first writes the previous window; every other
 * row compresses one chunk of window k. */
static int save_step_kernel(const sharr_block *b)
{
    const struct step_arg *s = b->arg;
    const unsigned char *array = b->data[0];
    unsigned char *staging = b->data[1];
    /* Each worker's two scratch chunks live after the windows, so no block
     * pays for fresh pages from malloc. */
    unsigned char *raw = staging + 2 * s->window * s->g.slot_bytes +
                         (uint64_t)b->worker * 2 * s->g.chunk_bytes;
    unsigned char *shuf = raw + s->g.chunk_bytes;
    bool writes = s->k > 0;
    struct libdeflate_compressor *z = NULL;
    uint64_t first, count;
    int err = 0;

    window_range(s, s->k, &first, &count);
    for (size_t r = b->r0; r < b->r1 && err == 0; r++) {
        if (writes && r == 0) {
            err = write_window(s, staging,
                               s->save.append ? b->data[2] : NULL, s->k - 1,
                               s->k == s->nwindows);
            continue;
        }
        uint64_t i = r - (writes ? 1 : 0);
        err = compress_chunk(&s->g, array, first + i,
                             slot_of(s, staging, s->k, i), raw, shuf, &z);
    }
    sharr__deflate_free(z);
    return err;
}

static void chunk_geometry(const struct save_arg *a, struct chunk_geom *g)
{
    memset(g, 0, sizeof *g);
    g->ndim = a->ndim;
    g->elem = sharr_dtype_size((sharr_dtype)a->dtype);
    g->chunk_bytes = g->elem;
    for (int i = 0; i < a->ndim; i++) {
        g->dims[i] = a->dims[i];
        g->chunk[i] = a->chunk[i];
        g->grid[i] = (a->dims[i] + a->chunk[i] - 1) / a->chunk[i];
        g->chunk_bytes *= a->chunk[i];
    }
    g->row_start = a->row_start;
    g->gzip = a->gzip;
    g->shuffle = a->shuffle;
    g->lz4 = a->lz4;
    g->slot_bytes = 8 + (a->gzip ? sharr__deflate_bound(g->chunk_bytes)
                         : a->lz4 ? sharr__lz4_bound(g->chunk_bytes)
                                  : g->chunk_bytes);
    g->slot_bytes = (g->slot_bytes + 7) & ~(uint64_t)7;
}

/* A staging array for `slots` compressed chunks: temporary, so a crash of
 * the caller removes it. */
static int make_staging(size_t bytes, sharr_array **out)
{
    static unsigned counter;
    sharr_create_opts o = {SHARR_CREATE_TEMP, 0, 0};
    char name[64];

    snprintf(name, sizeof name, "save-staging.%d.%u", (int)getpid(),
             __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    return sharr_array_create(name, SHARR_U8, 1, &bytes, &o, out);
}

/* The final writes a job of an append left in `commit` (NULL: none), made
 * on the caller's locked fd. */
static int replay(sharr_array *commit, int lock_fd, const struct save_arg *a)
{
    if (commit && sharr__h5_ordered_replay(lock_fd, a->sync != 0,
                                           sharr_array_data(commit),
                                           COMMIT_AREA) < 0)
        return errno == EINTR ? SHARR_EIO /* the detail says it */
                              : sharr__fail_os(-errno, "%s: writing the "
                                               "appended dataset's metadata",
                                               a->where.file);
    return 0;
}

/* One progress bar for the whole save: each step's blocks count for its
 * share of the chunks (the writer's row for its window's). */
struct save_progress {
    const sharr_run_opts *ro;
    uint64_t base, share, total;
};

static void step_progress(size_t done, size_t total, void *ctx)
{
    struct save_progress *p = ctx;
    uint64_t at = p->base + (total ? p->share * done / total : p->share);
    p->ro->progress((size_t)at, (size_t)p->total, p->ro->progress_ctx);
}

/* ---- which deflate: libdeflate's fastest level that does as well as zlib ----
 *
 * libdeflate is faster than zlib at every level, but its stream is not
 * always as small: at level 1 it finds no match shorter than 4 bytes, and
 * an int32 ramp (np.arange) comes out 1.9x zlib-1's size; at level 4 noisy
 * small counts come out 4% bigger.  So a gzip save first compresses a
 * sample (CAL_PIECES chunks spread over the data, the first `piece` bytes
 * of each, shuffled as the pipeline does) with zlib at the level asked and
 * with libdeflate's levels 1, 2, ... up to it, and takes the first level
 * whose sample is no bigger than zlib's; when none is, zlib itself
 * compresses, and its chunks are h5py's byte for byte.  The sample is the
 * same for any number of workers, so is the choice, and so is the file.
 * Saves below CAL_MIN_PIECE * CAL_PIECES * CAL_FRACTION bytes (4 MiB) skip
 * the sample and use zlib. */
#define CAL_PIECES 4
#define CAL_FRACTION 16                    /* sample at most 1/16 ... */
#define CAL_SAMPLE ((uint64_t)2 << 20)     /* ... and at most 2 MiB */
#define CAL_MIN_PIECE ((uint64_t)16 << 10)

struct cal_arg {
    struct chunk_geom g;
    uint64_t chunk[CAL_PIECES]; /* the chunks sampled */
    uint64_t piece;             /* bytes of each */
    uint64_t scratch;           /* staging offset of the workers' buffers */
    uint64_t sizes;             /* staging offset of the stored sizes */
    int level;                  /* libdeflate's level; 0: zlib's */
};

/* Row r: piece r into its stored size at sizes[r]. */
static int cal_kernel(const sharr_block *b)
{
    const struct cal_arg *c = b->arg;
    unsigned char *staging = b->data[1];
    unsigned char *raw = staging + c->scratch +
                         (uint64_t)b->worker * 2 * c->g.chunk_bytes;
    unsigned char *shuf = raw + c->g.chunk_bytes, *out;
    uint64_t *sizes = (uint64_t *)(void *)(staging + c->sizes);
    size_t cap = sharr__deflate_bound(c->piece);
    struct libdeflate_compressor *z = NULL;
    int err = 0;

    if (!(out = malloc(cap)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    for (size_t r = b->r0; r < b->r1 && err == 0; r++) {
        uint64_t coord[SHARR_MAX_NDIM];
        const unsigned char *src = raw;
        size_t stored = 0;
        unravel(&c->g, c->chunk[r], coord);
        gather(&c->g, b->data[0], coord, raw, c->piece);
        if (c->g.shuffle) {
            sharr__shuffle(raw, shuf, c->piece, c->g.elem);
            src = shuf;
        }
        err = c->level ? sharr__deflate(&z, c->level, src, c->piece, out, cap,
                                        &stored)
                       : sharr__zlib_deflate(c->g.gzip, src, c->piece, out,
                                             cap, &stored);
        sizes[r] = stored;
    }
    sharr__deflate_free(z);
    free(out);
    return err;
}

/* The sample's stored size at c->level into *sum. */
static int cal_run(sharr_pool *pool, sharr_array *src, sharr_array *staging,
                   const struct cal_arg *c, uint64_t n, uint64_t *sum)
{
    sharr_array *arrays[2] = {src, staging};
    sharr_job_spec spec = {0};
    const uint64_t *sizes;
    int err;

    spec.kernel = cal_kernel;
    spec.narrays = 2;
    spec.arrays = arrays;
    spec.whole = 3;
    spec.rows = n;
    spec.arg = c;
    spec.arg_size = sizeof *c;
    spec.plain_errors = 1;
    spec.schedule.kind = SHARR_SCHED_DYNAMIC;
    spec.schedule.chunk = 1;
    if ((err = sharr_pool_run(pool, &spec)) < 0)
        return err;
    sizes = (const uint64_t *)(const void *)
            ((const unsigned char *)sharr_array_data(staging) + c->sizes);
    *sum = 0;
    for (uint64_t i = 0; i < n; i++)
        *sum += sizes[i];
    return 0;
}

/* Set st->g.deflater (see above); `scratch` and `sizes`: where the
 * workers' chunk buffers and CAL_PIECES sizes lie in the staging array. */
static int choose_deflater(sharr_pool *pool, sharr_array *src,
                           sharr_array *staging, struct step_arg *st,
                           uint64_t scratch, uint64_t sizes)
{
    struct cal_arg c;
    uint64_t n = st->total < CAL_PIECES ? st->total : CAL_PIECES,
             sample = st->total * st->g.chunk_bytes / CAL_FRACTION, zlib, sum;
    int err;

    st->g.deflater = 0;
    if (!st->g.gzip)
        return 0;
    memset(&c, 0, sizeof c);
    c.g = st->g;
    c.scratch = scratch;
    c.sizes = sizes;
    c.piece = (sample < CAL_SAMPLE ? sample : CAL_SAMPLE) / n;
    if (c.piece > c.g.chunk_bytes)
        c.piece = c.g.chunk_bytes;
    c.piece -= c.piece % c.g.elem;
    if (c.piece < CAL_MIN_PIECE)
        return 0;
    for (uint64_t i = 0; i < n; i++)
        c.chunk[i] = (2 * i + 1) * st->total / (2 * n);
    if ((err = cal_run(pool, src, staging, &c, n, &zlib)) < 0)
        return err;
    for (c.level = 1; c.level <= c.g.gzip; c.level++) {
        if ((err = cal_run(pool, src, staging, &c, n, &sum)) < 0)
            return err;
        if (sum <= zlib) {
            st->g.deflater = c.level;
            break;
        }
    }
    return 0;
}

_Static_assert(sizeof(struct cal_arg) <= SHARR_JOB_ARG_MAX,
               "the sample's argument must fit a job");

static int save_filtered(sharr_pool *pool, sharr_array *src,
                         const struct save_arg *a, const sharr_run_opts *ro,
                         sharr_array *commit, int lock_fd)
{
    struct step_arg st;
    struct save_progress bar = {0};
    sharr_array *staging = NULL;
    size_t n = (size_t)sharr_pool_workers(pool);
    uint64_t cap, scratch, sizes;
    int err;

    memset(&st, 0, sizeof st);
    st.save = *a;
    chunk_geometry(a, &st.g);
    st.total = 1;
    for (int i = 0; i < a->ndim; i++)
        st.total *= st.g.grid[i];
    /* About four windows (so writing overlaps compressing), each at most
     * half the staging space. */
    cap = STAGING_MAX / 2 / st.g.slot_bytes;
    st.window = (st.total + 3) / 4;
    st.window = st.window > cap ? cap : st.window;
    st.window = st.window < 1 ? 1 : st.window;
    st.nwindows = (st.total + st.window - 1) / st.window;
    scratch = 2 * st.window * st.g.slot_bytes;
    sizes = (scratch + n * 2 * st.g.chunk_bytes + 7) & ~(uint64_t)7;
    if ((err = make_staging(sizes + CAL_PIECES * sizeof(uint64_t),
                            &staging)) < 0)
        return err;
    err = choose_deflater(pool, src, staging, &st, scratch, sizes);
    for (st.k = 0; st.k <= st.nwindows && err == 0; st.k++) {
        sharr_array *arrays[3] = {src, staging, commit};
        sharr_job_spec spec = {0};
        uint64_t first, count = 0;
        if (st.k < st.nwindows)
            window_range(&st, st.k, &first, &count);
        spec.kernel = save_step_kernel;
        spec.narrays = commit ? 3 : 2;
        spec.arrays = arrays;
        spec.whole = commit ? 7 : 3;
        spec.rows = count + (st.k > 0);
        spec.arg = &st;
        spec.arg_size = sizeof st;
        spec.plain_errors = 1;
        spec.schedule.kind = SHARR_SCHED_DYNAMIC;
        spec.schedule.chunk = 1;
        if (ro && ro->progress) {
            /* Steps compress windows 0..n-1 and write them one step late:
             * step k's share is its window's chunks and the write of the
             * last one's, the total twice the chunks. */
            uint64_t wfirst, wcount = 0;
            if (st.k > 0)
                window_range(&st, st.k - 1, &wfirst, &wcount);
            bar.ro = ro;
            bar.total = 2 * st.total;
            bar.share = count + wcount;
            spec.progress = step_progress;
            spec.progress_ctx = &bar;
        }
        err = sharr_pool_run(pool, &spec);
        bar.base += bar.share;
        if (err == 0)
            err = replay(commit, lock_fd, a);
    }
    sharr_unlink(sharr_array_name(staging));
    sharr_array_close(staging);
    return err;
}

_Static_assert(sizeof(struct step_arg) <= SHARR_JOB_ARG_MAX,
               "a save step's argument must fit a job");

/* ---- save: the caller's side ---- */

/* Default chunks of about 1 MiB: whole trailing dimensions, halved while a
 * single row is too big, then as many rows as fit. */
static void default_chunk(const struct save_arg *a, uint64_t *chunk)
{
    uint64_t elem = sharr_dtype_size((sharr_dtype)a->dtype), bytes = elem;

    chunk[0] = 1;
    for (int i = 1; i < a->ndim; i++)
        chunk[i] = a->dims[i];
    for (;;) {
        int big = 0;
        bytes = elem;
        for (int i = 1; i < a->ndim; i++) {
            bytes *= chunk[i];
            if (chunk[i] > chunk[big] || big == 0)
                big = i;
        }
        if (bytes <= DEFAULT_CHUNK_BYTES || a->ndim == 1 || chunk[big] == 1)
            break;
        chunk[big] = (chunk[big] + 1) / 2;
    }
    chunk[0] = DEFAULT_CHUNK_BYTES / bytes;
    if (chunk[0] < 1)
        chunk[0] = 1;
    if (chunk[0] > a->dims[0])
        chunk[0] = a->dims[0];
}

static int check_chunks(const sharr_save_opts *o, struct save_arg *a)
{
    uint64_t bytes = sharr_dtype_size((sharr_dtype)a->dtype);
    bool filtered = o->gzip || o->shuffle || o->lz4;

    if (o->chunk_ndim == 0 && !filtered)
        return 0;
    if (a->ndim == 0)
        return sharr__fail(SHARR_EINVAL, "a scalar cannot be chunked or "
                           "compressed");
    if (o->chunk_ndim > (size_t)a->ndim)
        return sharr__fail(SHARR_EINVAL, "the chunk shape has %zu dimensions,"
                           " the data %d", o->chunk_ndim, a->ndim);
    if (o->chunk_ndim == 0) {
        default_chunk(a, a->chunk);
        return 0;
    }
    for (int i = 0; i < a->ndim; i++) {
        a->chunk[i] = (size_t)i < o->chunk_ndim ? o->chunk[i] : a->dims[i];
        if (a->chunk[i] == 0 || a->chunk[i] > a->dims[i])
            return sharr__fail(SHARR_EINVAL, "chunk dimension %d is %llu; it "
                               "must be 1..%llu", i,
                               (unsigned long long)a->chunk[i],
                               (unsigned long long)a->dims[i]);
        bytes *= a->chunk[i];
    }
    if (bytes >= ((uint64_t)1 << 32))
        return sharr__fail(SHARR_EINVAL, "a chunk of %llu bytes is over "
                           "HDF5's 4 GiB limit", (unsigned long long)bytes);
    return 0;
}

/* An empty array is saved contiguous, unfiltered, whatever the options:
 * HDF5 refuses a chunk dimension of 0 (or one beyond a fixed dimension of
 * 0), and there is nothing to compress.  h5py writes empty datasets the
 * same way.  @return true if a is empty. */
static bool empty_contiguous(struct save_arg *a)
{
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] == 0) {
            memset(a->chunk, 0, sizeof a->chunk);
            a->gzip = 0;
            a->shuffle = 0;
            a->write_data = 1;
            return true;
        }
    return false;
}

static int save_args(const sharr_array *arr, const char *dset,
                     const sharr_save_opts *o, struct save_arg *a)
{
    size_t rows = sharr_array_rows(arr), r0, r1;
    int err;

    memset(a, 0, sizeof *a);
    if ((err = sharr__h5_set_dset(a->where.dset, dset)) < 0)
        return err;
    if (strcmp(a->where.dset, "/") == 0 ||
        a->where.dset[strlen(a->where.dset) - 1] == '/')
        return sharr__fail(SHARR_EINVAL, "'%s' does not name a dataset", dset);
    if (o->gzip < 0 || o->gzip > 9)
        return sharr__fail(SHARR_EINVAL, "gzip level %d: use 1..9 (0: none)",
                           o->gzip);
    if (o->gzip && o->lz4)
        return sharr__fail(SHARR_EINVAL, "gzip or lz4: a chunk is "
                           "compressed once");
    if ((err = sharr__pick_rows(rows, o->row_start, o->row_end, &r0, &r1)) < 0)
        return err;
    a->dtype = sharr_array_dtype(arr);
    a->ndim = (int)sharr_array_ndim(arr);
    for (int i = 0; i < a->ndim; i++)
        a->dims[i] = sharr_array_shape(arr)[i];
    if (a->ndim)
        a->dims[0] = r1 - r0;
    else if (o->row_start || o->row_end > 1)
        return sharr__fail(SHARR_EINVAL, "a scalar has no rows to choose");
    a->row_start = r0;
    a->row_bytes = sharr_array_row_bytes(arr);
    a->gzip = o->gzip;
    a->shuffle = o->shuffle != 0;
    a->lz4 = o->lz4 != 0;
    a->matlab = o->complex_matlab != 0;
    a->force = o->force != 0;
    a->sync = o->sync != 0;
    a->write_data = !(o->gzip || o->shuffle || o->lz4);
    snprintf(a->source, sizeof a->source, "%s", sharr_array_name(arr));
    /* A fixed name: the save works on its own temporary file, and a name
     * with a pid would leave different bytes in the group's heap. */
    snprintf(a->tmp_link, sizeof a->tmp_link, ".sharr-partial");
    if (empty_contiguous(a))
        return 0;
    return check_chunks(o, a);
}

/* The user's attributes, checked, into buf as create_arg holds them. */
static int pack_attrs(const sharr_save_opts *o, char *buf, size_t size)
{
    size_t at = 0;

    for (size_t i = 0; i < o->nattrs; i++) {
        const char *kv = o->attrs[i], *eq = kv ? strchr(kv, '=') : NULL;
        size_t klen = eq ? (size_t)(eq - kv) : 0, len = kv ? strlen(kv) : 0;
        if (!eq || klen == 0 || klen > 255)
            return sharr__fail(SHARR_EINVAL, "attribute '%s': write KEY=VALUE "
                               "(a key of 1..255 characters)", kv ? kv : "");
        if ((klen == 11 && strncmp(kv, "sharr_array", 11) == 0) ||
            (klen == 11 && strncmp(kv, "sharr_dtype", 11) == 0))
            return sharr__fail(SHARR_EINVAL, "attribute %.*s is sharr's own",
                               (int)klen, kv);
        for (size_t j = 0; j < i; j++)
            if (strncmp(o->attrs[j], kv, klen + 1) == 0)
                return sharr__fail(SHARR_EINVAL, "attribute %.*s is given "
                                   "twice", (int)klen, kv);
        if (len + 2 > size - at)
            return sharr__fail(SHARR_EINVAL, "the attributes take more than "
                               "%zu bytes in all", size - 2);
        memcpy(buf + at, kv, len + 1);
        at += len + 1;
    }
    buf[at] = '\0';
    return 0;
}

/* Point the kernels at the file they write: the target itself for an
 * append, else a temporary beside it (a copy of it, if it exists). */
static int prepare(struct sharr__target *t, bool append, struct save_arg *sa)
{
    const char *file = append ? t->path : t->tmp;
    int err;

    if (!append && (err = sharr__target_temp(t, t->exists, NULL)) < 0)
        return err;
    if (strlen(file) >= sizeof sa->where.file)
        return sharr__fail(SHARR_EINVAL, "%s: path too long", file);
    snprintf(sa->where.file, sizeof sa->where.file, "%s", file);
    sa->file_dev = append ? (uint64_t)t->st.st_dev : (uint64_t)t->tmp_dev;
    sa->file_ino = append ? (uint64_t)t->st.st_ino : (uint64_t)t->tmp_ino;
    sa->fresh = !t->exists;
    sa->append = append;
    sa->lock_pid = getpid();
    sa->lock_fd = t->lock_fd;
    return 0;
}

/* One attempt: lock, prepare, write, commit.  SHARR__TARGET_TAKEN when a
 * new target was created by someone else meanwhile. */
static int save_once(sharr_pool *pool, sharr_array *src, const char *file,
                     const sharr_save_opts *o, struct save_arg *sa,
                     struct create_arg *ca)
{
    struct sharr__target t;
    struct h5_host host;
    sharr_array *commit = NULL;
    unsigned flags = SHARR__TARGET_LOCK |
                     (o->append ? SHARR__TARGET_LINKS_OK : 0);
    bool append;
    int err;

    if ((err = sharr__target_open(&t, file, o, flags)) < 0)
        goto done;
    append = o->append && t.exists;
    if ((err = prepare(&t, append, sa)) < 0)
        goto done;
    /* An append's final writes are made here, on the locked fd, so that
     * the lock outlives them even if this process is killed meanwhile. */
    if (append && (err = make_staging(COMMIT_AREA, &commit)) < 0)
        goto done;
    sharr__h5_host_save(pool, &host);
    sharr_array *arrays[2] = {src, commit};
    ca->save = *sa;
    err = sharr__h5_run_one(pool, create_kernel, ca, sizeof *ca,
                            append ? 2 : 1, arrays, NULL, 0, -1);
    if (err == 0)
        err = replay(commit, t.lock_fd, sa);
    if (err == 0 && !sa->write_data)
        err = save_filtered(pool, src, sa, &o->run, commit, t.lock_fd);
    sharr__h5_host_restore(&host);
    if (err == 0 && append && o->sync && fsync(t.lock_fd) < 0)
        err = sharr__fail_os(-errno, "syncing %s", t.path);
    if (err == 0 && !append)
        err = sharr__target_commit(&t, o->sync, t.exists);
done:
    if (commit) {
        sharr_unlink(sharr_array_name(commit));
        sharr_array_close(commit);
    }
    if (err < 0 && t.tmp[0])
        sharr__errmsg_replace(t.tmp, file);
    sharr__target_close(&t);
    return err;
}

int sharr_h5_save(sharr_pool *pool, const sharr_array *a, const char *file,
                  const char *dset, const sharr_save_opts *opts)
{
    static const sharr_save_opts defaults;
    const sharr_save_opts *o = opts ? opts : &defaults;
    struct save_arg sa;
    struct create_arg ca;
    int err;

    if ((err = save_args(a, dset, o, &sa)) < 0 ||
        (err = pack_attrs(o, ca.attrs, sizeof ca.attrs)) < 0)
        return err;
    /* A new file that another process created meanwhile: add to it. */
    for (int attempt = 0; attempt < 16; attempt++)
        if ((err = save_once(pool, (sharr_array *)a, file, o, &sa, &ca)) !=
            SHARR__TARGET_TAKEN)
            return err;
    return sharr__fail(SHARR_EBUSY, "%s keeps being created by other "
                       "processes while this save writes it", file);
}
