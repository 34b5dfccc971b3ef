/*
 * h5direct.c - a worker's rows of a chunked dataset read without HDF5's
 * filter pipeline: where the pipeline is only shuffle, deflate, fletcher32
 * and LZ4 (32004) and the file type is the array's up to byte order, each
 * chunk's stored bytes come from H5Dread_chunk (which knows the file's
 * user block and chunk index) and are decoded by h5chunk.c (libdeflate)
 * straight into the shared array.  Every other dataset goes through
 * H5Dread as before (the caller's fallback).  Like every HDF5 call of
 * sharr's, this runs in the worker that opened the file: no handle crosses
 * a fork.  Each chunk's own filter mask is honoured, chunks never written
 * take the fill value exactly when HDF5 would write one, and edge chunks
 * (which HDF5 stores whole) are cut to the dataset.
 */
#define _GNU_SOURCE
#include "h5io.h"
#include "h5chunk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct plan {
    struct chunk_pipe pipe;
    int ndim;
    uint64_t dims[SHARR_MAX_NDIM], chunk[SHARR_MAX_NDIM];
    size_t elem, swap;       /* bytes per element, per byte-swapped unit */
    int fill;                /* 1: unwritten chunks take fill[] */
    unsigned char fillv[16];
};

/* The byte-swap unit that makes file type ft the array's dtype (0: none),
 * or -1 if it is another type (a conversion HDF5 must do). */
static int int_or_float_swap(hid_t ft, sharr_dtype dt)
{
    hid_t le = sharr__h5_file_type(dt, 0), be = le >= 0 ? H5Tcopy(le) : -1;
    int swap = -1;

    if (be >= 0 && H5Tset_order(be, H5T_ORDER_BE) >= 0) {
        if (H5Tequal(ft, le) > 0)
            swap = 0;
        else if (H5Tequal(ft, be) > 0)
            swap = (int)sharr_dtype_size(dt);
    }
    sharr__h5_close_id(&le, H5Tclose);
    sharr__h5_close_id(&be, H5Tclose);
    return swap == 1 ? 0 : swap;
}

/* A complex compound qualifies when re is at offset 0 and im right after
 * it, both IEEE floats of one byte order. */
static int complex_swap(hid_t ft, sharr_dtype dt, const char *re,
                        const char *im)
{
    size_t part = dt == SHARR_C64 ? 4 : 8;
    int swap = -1;

    if (H5Tget_class(ft) != H5T_COMPOUND || H5Tget_nmembers(ft) != 2 ||
        H5Tget_size(ft) != 2 * part)
        return -1;
    int ire = H5Tget_member_index(ft, re), iim = H5Tget_member_index(ft, im);
    if (ire < 0 || iim < 0 || H5Tget_member_offset(ft, (unsigned)ire) != 0 ||
        H5Tget_member_offset(ft, (unsigned)iim) != part)
        return -1;
    hid_t a = H5Tget_member_type(ft, (unsigned)ire),
          b = H5Tget_member_type(ft, (unsigned)iim);
    sharr_dtype f = dt == SHARR_C64 ? SHARR_F32 : SHARR_F64;
    if (a >= 0 && b >= 0) {
        int sa = int_or_float_swap(a, f), sb = int_or_float_swap(b, f);
        swap = sa == sb ? sa : -1;
    }
    sharr__h5_close_id(&a, H5Tclose);
    sharr__h5_close_id(&b, H5Tclose);
    return swap;
}

/* The filters, in write order; 0 if one of them is not sharr's. */
static int plan_filters(hid_t dcpl, struct plan *p)
{
    int nf = H5Pget_nfilters(dcpl), coders = 0;

    if (nf < 0 || nf > CHUNK_MAX_FILTERS)
        return 0;
    p->pipe.n = nf;
    for (int i = 0; i < nf; i++) {
        unsigned flags, cd[8] = {0};
        size_t ncd = 8;
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd,
                                         0, NULL, NULL);
        if (id == H5Z_FILTER_SHUFFLE) {
            p->pipe.f[i] = CHUNK_SHUFFLE;
            p->pipe.shuffle_elem[i] = ncd >= 1 && cd[0] ? cd[0] : p->elem;
        } else if (id == H5Z_FILTER_DEFLATE) {
            p->pipe.f[i] = CHUNK_DEFLATE;
        } else if (id == H5Z_FILTER_FLETCHER32) {
            p->pipe.f[i] = CHUNK_FLETCHER32;
        } else if (id == CHUNK_FILTER_LZ4) {
            p->pipe.f[i] = CHUNK_LZ4;
        } else {
            return 0;
        }
        coders += id == H5Z_FILTER_DEFLATE || id == CHUNK_FILTER_LZ4;
    }
    return coders <= 1; /* two: only HDF5 knows the middle size */
}

/* Fill values as HDF5 1.10's chunk read applies them: an unwritten chunk
 * is left as it is with fill time "never", or "if set" without a value the
 * user set; otherwise it takes the value (zero if undefined). */
static int plan_fill(hid_t dcpl, sharr_dtype dt, const char *re,
                     const char *im, struct plan *p)
{
    H5D_fill_value_t st;
    H5D_fill_time_t when;
    hid_t mt;
    int ok = 1;

    if (H5Pfill_value_defined(dcpl, &st) < 0 ||
        H5Pget_fill_time(dcpl, &when) < 0)
        return 0;
    p->fill = !(when == H5D_FILL_TIME_NEVER ||
                (when == H5D_FILL_TIME_IFSET &&
                 st != H5D_FILL_VALUE_USER_DEFINED));
    memset(p->fillv, 0, sizeof p->fillv);
    if (!p->fill || st == H5D_FILL_VALUE_UNDEFINED)
        return 1;
    if ((mt = sharr__h5_mem_type(dt, re, im)) < 0)
        return 0;
    ok = H5Pget_fill_value(dcpl, mt, p->fillv) >= 0;
    H5Tclose(mt);
    return ok;
}

/* 1 and a plan if this dataset's rows can be read directly. */
static int make_plan(hid_t d, const struct h5_rows *r, struct plan *p)
{
    hid_t dcpl = H5Dget_create_plist(d), ft = H5Dget_type(d);
    hsize_t cd[H5S_MAX_RANK];
    unsigned opts = 0;
    size_t bytes;
    int ok = 0, swap;

    memset(p, 0, sizeof *p);
    p->ndim = r->ndim;
    p->elem = sharr_dtype_size(r->dtype);
    if (dcpl < 0 || ft < 0 || r->half || r->ndim < 1 ||
        H5Pget_layout(dcpl) != H5D_CHUNKED ||
        H5Pget_chunk(dcpl, H5S_MAX_RANK, cd) != r->ndim ||
        H5Pget_chunk_opts(dcpl, &opts) < 0 ||
        (opts & H5D_CHUNK_DONT_FILTER_PARTIAL_CHUNKS))
        goto done;
    swap = sharr_dtype_kind(r->dtype) == 'c'
               ? complex_swap(ft, r->dtype, r->re, r->im)
               : int_or_float_swap(ft, r->dtype);
    if (swap < 0)
        goto done;
    p->swap = (size_t)swap;
    bytes = p->elem;
    for (int i = 0; i < r->ndim; i++) {
        p->dims[i] = r->dims[i];
        p->chunk[i] = cd[i];
        if (cd[i] == 0 || !sharr__mul_ok(bytes, cd[i], &bytes))
            goto done;
    }
    if (bytes >= ((size_t)1 << 32))
        goto done;
    p->pipe.chunk_bytes = bytes;
    ok = plan_filters(dcpl, p) && plan_fill(dcpl, r->dtype, r->re, r->im, p);
done:
    H5Eclear2(H5E_DEFAULT);
    sharr__h5_close_id(&ft, H5Tclose);
    sharr__h5_close_id(&dcpl, H5Pclose);
    return ok;
}

/* "(10, 0, 5)": a chunk by its first element, as h5py names it. */
static void format_offset(const struct plan *p, const hsize_t *off,
                          char *buf, size_t size)
{
    int n = snprintf(buf, size, "(");
    for (int i = 0; i < p->ndim && n > 0 && (size_t)n < size; i++)
        n += snprintf(buf + n, size - (size_t)n, "%s%llu", i ? ", " : "",
                      (unsigned long long)off[i]);
    if (n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, ")");
}

/* n elements from src to dst, each unit of `swap` bytes reversed. */
static void copy_swapped(unsigned char *dst, const unsigned char *src,
                         size_t bytes, size_t swap)
{
    if (swap <= 1) {
        memcpy(dst, src, bytes);
        return;
    }
    for (size_t i = 0; i + swap <= bytes; i += swap)
        for (size_t j = 0; j < swap; j++)
            dst[i + j] = src[i + swap - 1 - j];
}

/* Copy (src) or fill (src NULL) the part of the chunk at off that lies in
 * dataset rows [first, first + count), into dst (dataset row first). */
static void place(const struct plan *p, const hsize_t *off,
                  const unsigned char *src, const struct h5_rows *r)
{
    uint64_t ext[SHARR_MAX_NDIM], idx[SHARR_MAX_NDIM] = {0};
    int last = p->ndim - 1;
    uint64_t lo = off[0] > r->first ? off[0] : r->first, hi;

    for (int i = 0; i < p->ndim; i++)
        ext[i] = p->dims[i] - off[i] < p->chunk[i] ? p->dims[i] - off[i]
                                                   : p->chunk[i];
    hi = off[0] + ext[0] < r->first + r->count ? off[0] + ext[0]
                                               : r->first + r->count;
    if (lo >= hi)
        return;
    if (last == 0) { /* one dimension: the run is the rows */
        ext[0] = hi - lo;
        idx[0] = lo - off[0];
    } else {
        idx[0] = lo - off[0];
    }
    for (;;) {
        uint64_t s = 0, t = 0;
        for (int i = 0; i <= last; i++) {
            uint64_t at = i == last && last ? 0 : idx[i];
            s = s * p->chunk[i] + at;
            t = t * p->dims[i] + off[i] + at - (i == 0 ? r->first : 0);
        }
        unsigned char *out = (unsigned char *)r->dst + t * p->elem;
        size_t run = (size_t)ext[last] * p->elem;
        if (src)
            copy_swapped(out, src + s * p->elem, run, p->swap);
        else
            for (size_t k = 0; k < run; k += p->elem)
                memcpy(out + k, p->fillv, p->elem);
        if (last == 0)
            return;
        int dd = last - 1;
        for (; dd >= 0; dd--) {
            uint64_t end = dd == 0 ? hi - off[0] : ext[dd];
            if (++idx[dd] < end)
                break;
            idx[dd] = dd == 0 ? lo - off[0] : 0;
        }
        if (dd < 0)
            return;
    }
}

/* Where the chunk at off lies in r->dst when its bytes are a run there as
 * they are (no byte swap, the chunk whole inside r's rows and the dataset,
 * every dimension after its first longer than 1 spanning the dataset), so
 * it is decoded in place; else NULL. */
static unsigned char *run_in_dst(const struct plan *p, const hsize_t *off,
                                 const struct h5_rows *r)
{
    uint64_t t = 0;
    int k = 0;

    if (p->swap > 1 || off[0] < r->first ||
        off[0] + p->chunk[0] > r->first + r->count)
        return NULL;
    while (k < p->ndim - 1 && p->chunk[k] == 1)
        k++;
    if (off[k] + p->chunk[k] > p->dims[k])
        return NULL;
    for (int i = k + 1; i < p->ndim; i++)
        if (p->chunk[i] != p->dims[i])
            return NULL;
    for (int i = 0; i < p->ndim; i++)
        t = t * p->dims[i] + off[i] - (i == 0 ? r->first : 0);
    return (unsigned char *)r->dst + t * p->elem;
}

struct reader {
    const struct plan *p;
    hid_t d;
    hsize_t file_size;
    unsigned char *raw;
    size_t raw_cap;
    struct chunk_scratch s;
};

/* The part of the chunk at off in r's rows, read with H5Dread. */
static int through_hdf5(struct reader *rd, const hsize_t *off,
                        const struct h5_rows *r)
{
    const struct plan *p = rd->p;
    hsize_t fstart[SHARR_MAX_NDIM], mstart[SHARR_MAX_NDIM],
        count[SHARR_MAX_NDIM], mdims[SHARR_MAX_NDIM];
    hid_t fs = H5Dget_space(rd->d), ms = -1,
          mt = sharr__h5_mem_type(r->dtype, r->re, r->im);
    uint64_t lo = off[0] > r->first ? off[0] : r->first,
             end = off[0] + p->chunk[0] < p->dims[0] ? off[0] + p->chunk[0]
                                                      : p->dims[0],
             hi = end < r->first + r->count ? end : r->first + r->count;
    int err = 0;

    for (int i = 0; i < p->ndim; i++) {
        fstart[i] = mstart[i] = off[i];
        count[i] = p->dims[i] - off[i] < p->chunk[i] ? p->dims[i] - off[i]
                                                     : p->chunk[i];
        mdims[i] = p->dims[i];
    }
    fstart[0] = lo;
    mstart[0] = lo - r->first;
    count[0] = hi - lo;
    mdims[0] = r->count;
    if (hi <= lo)
        goto done;
    if (fs < 0 || mt < 0 || (ms = H5Screate_simple(p->ndim, mdims, NULL)) < 0 ||
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, fstart, NULL, count, NULL) < 0 ||
        H5Sselect_hyperslab(ms, H5S_SELECT_SET, mstart, NULL, count, NULL) < 0 ||
        H5Dread(rd->d, mt, ms, fs, H5P_DEFAULT, r->dst) < 0)
        err = sharr__h5_fail(SHARR_EHDF5, "cannot read it");
done:
    sharr__h5_close_id(&ms, H5Sclose);
    sharr__h5_close_id(&fs, H5Sclose);
    sharr__h5_close_id(&mt, H5Tclose);
    return err;
}

/* The chunk at off: looked up, read, checked and decoded, then placed.
 * H5Dread finds chunks with the lookup H5Dget_chunk_storage_size and
 * H5Dread_chunk use; H5Dget_chunk_info_by_coord walks the index another
 * way, and in some files (an extensible-array index written by Fortran)
 * the two disagree.  So the first decides, and the second gives the
 * address checked against the file's size; where they disagree, the
 * chunk is read the way H5Dread reads it. */
static int one_chunk(struct reader *rd, const hsize_t *off,
                     const struct h5_rows *r)
{
    char where[H5S_MAX_RANK * 22 + 4];
    unsigned mask = 0;
    uint32_t mask2 = 0;
    haddr_t addr = HADDR_UNDEF;
    hsize_t size = 0, stored = 0;
    const unsigned char *out;
    int err;

    format_offset(rd->p, off, where, sizeof where);
    if (H5Dget_chunk_info_by_coord(rd->d, off, &mask, &addr, &size) < 0)
        return sharr__h5_fail(SHARR_EHDF5, "chunk at %s: cannot find it in "
                              "the chunk index", where);
    if (addr != HADDR_UNDEF &&
        (addr > rd->file_size || size > rd->file_size - addr))
        return sharr__fail(SHARR_EHDF5, "chunk at %s: %llu bytes at address "
                           "%llu lie beyond the end of the file (%llu bytes): "
                           "the file is truncated or corrupt", where,
                           (unsigned long long)size, (unsigned long long)addr,
                           (unsigned long long)rd->file_size);
    if (H5Dget_chunk_storage_size(rd->d, off, &stored) < 0 || stored == 0) {
        H5Eclear2(H5E_DEFAULT);
        if (addr != HADDR_UNDEF)
            goto hdf5;
        if (rd->p->fill)
            place(rd->p, off, NULL, r);
        return 0;
    }
    if (stored > rd->file_size)
        goto hdf5;
    if (stored > rd->raw_cap) {
        unsigned char *grown = realloc(rd->raw, (size_t)stored);
        if (!grown)
            return sharr__fail(SHARR_ENOMEM, "chunk at %s: out of memory for "
                               "%llu bytes", where, (unsigned long long)stored);
        rd->raw = grown;
        rd->raw_cap = (size_t)stored;
    }
    if (H5Dread_chunk(rd->d, H5P_DEFAULT, off, &mask2, rd->raw) < 0) {
        H5Eclear2(H5E_DEFAULT);
        goto hdf5;
    }
    unsigned char *into = run_in_dst(rd->p, off, r);
    if ((err = sharr__chunk_decode(&rd->p->pipe, mask2, rd->raw,
                                   (size_t)stored, &rd->s, into, &out)) < 0) {
        sharr__errmsg_prefix("chunk at %s", where);
        return err;
    }
    if (!into)
        place(rd->p, off, out, r);
    return 0;
hdf5:
    if ((err = through_hdf5(rd, off, r)) < 0)
        sharr__errmsg_prefix("chunk at %s", where);
    return err;
}

/* Every chunk that holds rows [first, first + count), in file order. */
static int read_chunks(struct reader *rd, const struct h5_rows *r)
{
    const struct plan *p = rd->p;
    uint64_t grid[SHARR_MAX_NDIM], c[SHARR_MAX_NDIM] = {0};
    hsize_t off[SHARR_MAX_NDIM];
    uint64_t c0_end = (r->first + r->count - 1) / p->chunk[0] + 1;
    int err = 0;

    for (int i = 0; i < p->ndim; i++)
        grid[i] = p->dims[i] / p->chunk[i] + (p->dims[i] % p->chunk[i] != 0);
    c[0] = r->first / p->chunk[0];
    while (err == 0) {
        for (int i = 0; i < p->ndim; i++)
            off[i] = c[i] * p->chunk[i];
        err = one_chunk(rd, off, r);
        int dd = p->ndim - 1;
        for (; dd >= 0; dd--) {
            if (++c[dd] < (dd == 0 ? c0_end : grid[dd]))
                break;
            c[dd] = 0;
        }
        if (dd < 0)
            break;
    }
    return err;
}

int sharr__h5_read_direct(hid_t f, hid_t d, const struct h5_rows *r)
{
    const char *env = getenv("SHARR_H5_DIRECT");
    struct plan p;
    struct reader rd;
    int err;

    if ((env && strcmp(env, "0") == 0) || r->count == 0 ||
        !make_plan(d, r, &p))
        return 1;
    memset(&rd, 0, sizeof rd);
    rd.p = &p;
    rd.d = d;
    if (H5Fget_filesize(f, &rd.file_size) < 0)
        return sharr__h5_fail(SHARR_EHDF5, "cannot read the file's size");
    err = read_chunks(&rd, r);
    free(rd.raw);
    sharr__chunk_scratch_free(&rd.s);
    return err;
}
