/*
 * h5io.c - HDF5 datasets in and out of shared arrays.  The only file that
 * includes hdf5.h.
 *
 * Every HDF5 call happens inside a pool kernel, so with a pool the caller
 * never initializes HDF5 or holds a handle across a fork, and a corrupt file
 * that crashes the library costs a worker, not the caller.  Kernels open
 * the file themselves, do their part and close every handle before they
 * return: no HDF5 object lives from one job to the next.  Paths are made
 * absolute in the caller first (workers keep the cwd of the pool's birth).
 *
 * Load: a probe job reads the dataset's type, shape and layout; the caller
 * creates the array; a read job fills row blocks (aligned to chunk rows)
 * straight into it.  Save: a job creates the dataset (in a temporary file,
 * under a temporary link); unfiltered data is written by the same worker;
 * filtered data is compressed chunk by chunk in all workers into a staging
 * array and stored by one worker with H5Dwrite_chunk; the last job moves
 * the link and the caller renames the file into place.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <hdf5.h>
#include <zlib.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAX 2048
#define DSET_MAX 1024
#define PROBE_TIMEOUT 120.0      /* seconds; a hung HDF5 call is killed */
#define LIST_BYTES ((size_t)16 << 20)
#define STAGING_MAX ((size_t)512 << 20)
#define DEFAULT_CHUNK_BYTES ((size_t)1 << 20)

/* Where a kernel works: an absolute file path and a dataset path. */
struct h5_target {
    char file[FILE_MAX];
    char dset[DSET_MAX];
};

/* ---- HDF5 errors ---- */

struct stack_walk {
    char inner[256], outer[256];
    int n;
};

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    struct stack_walk *w = data;
    (void)n;
    if (w->n == 0)
        snprintf(w->inner, sizeof w->inner, "%s", e->desc ? e->desc : "");
    snprintf(w->outer, sizeof w->outer, "%s", e->desc ? e->desc : "");
    w->n++;
    return 0;
}

/* Record `code` with a detail followed by what HDF5's error stack says: the
 * API-level message and, in parentheses, the innermost cause. */
__attribute__((format(printf, 2, 3)))
static int h5_fail(int code, const char *fmt, ...)
{
    char msg[1024];
    struct stack_walk w;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memset(&w, 0, sizeof w);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &w);
    H5Eclear2(H5E_DEFAULT);
    if (w.n == 0)
        return sharr__fail(code, "%s", msg);
    if (w.n == 1 || strcmp(w.inner, w.outer) == 0)
        return sharr__fail(code, "%s: %s", msg, w.inner);
    return sharr__fail(code, "%s: %s (%s)", msg, w.outer, w.inner);
}

/* Every kernel starts here: HDF5 prints nothing, ever. */
static void h5_quiet(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void close_id(hid_t *id, herr_t (*fn)(hid_t))
{
    if (*id >= 0)
        fn(*id);
    *id = -1;
}

/* ---- types ---- */

/* What a file type loads as. */
struct h5type {
    int loadable;
    sharr_dtype dtype;
    int half;                /* IEEE binary16: widened by sharr, exactly */
    char re[16], im[16];     /* complex member names */
    char cls[24];
    char desc[160];
    char why[256];
};

static const char *const complex_names[][2] = {
    {"r", "i"}, {"re", "im"}, {"real", "imag"}, {"Real", "Imaginary"}};

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_TIME: return "time";
    case H5T_STRING: return "string";
    case H5T_BITFIELD: return "bitfield";
    case H5T_OPAQUE: return "opaque";
    case H5T_COMPOUND: return "compound";
    case H5T_REFERENCE: return "reference";
    case H5T_ENUM: return "enum";
    case H5T_VLEN: return "vlen";
    case H5T_ARRAY: return "array";
    default: return "unknown";
    }
}

static const char *order_name(hid_t t)
{
    switch (H5Tget_order(t)) {
    case H5T_ORDER_LE: return "le";
    case H5T_ORDER_BE: return "be";
    case H5T_ORDER_VAX: return "vax";
    default: return "";
    }
}

/* A short description like the corpus manifest's: i32be, f64le,
 * u16le(prec=12), compound{r:f64le,i:f64le}, string(5), vlen ... */
static void describe_type(hid_t t, char *buf, size_t size)
{
    H5T_class_t c = H5Tget_class(t);
    size_t sz = H5Tget_size(t);

    if (c == H5T_INTEGER || c == H5T_FLOAT) {
        size_t prec = H5Tget_precision(t);
        int n = snprintf(buf, size, "%s%zu%s", c == H5T_FLOAT ? "f"
                         : H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "i",
                         8 * sz, sz > 1 ? order_name(t) : "");
        if (prec != 8 * sz && n > 0 && (size_t)n < size)
            snprintf(buf + n, size - (size_t)n, "(prec=%zu)", prec);
        return;
    }
    if (c == H5T_COMPOUND) {
        int nm = H5Tget_nmembers(t), n = snprintf(buf, size, "compound{");
        for (int i = 0; i < nm && n > 0 && (size_t)n < size; i++) {
            char *mname = H5Tget_member_name(t, (unsigned)i);
            hid_t mt = H5Tget_member_type(t, (unsigned)i);
            char md[64] = "?";
            if (mt >= 0) {
                H5T_class_t mc = H5Tget_class(mt);
                if (mc == H5T_INTEGER || mc == H5T_FLOAT)
                    describe_type(mt, md, sizeof md);
                else
                    snprintf(md, sizeof md, "%s", class_name(mc));
                H5Tclose(mt);
            }
            n += snprintf(buf + n, size - (size_t)n, "%s%s:%s", i ? "," : "",
                          mname ? mname : "?", md);
            H5free_memory(mname);
        }
        if (n > 0 && (size_t)n < size)
            snprintf(buf + n, size - (size_t)n, "}");
        return;
    }
    if (c == H5T_STRING && H5Tis_variable_str(t) > 0)
        snprintf(buf, size, "vlen-string");
    else if (c == H5T_STRING)
        snprintf(buf, size, "string(%zu)", sz);
    else
        snprintf(buf, size, "%s(%zu B)", class_name(c), sz);
}

static int classify_int(hid_t t, size_t sz, struct h5type *r)
{
    bool sgn = H5Tget_sign(t) != H5T_SGN_NONE;
    static const sharr_dtype s[] = {SHARR_I8, SHARR_I16, 0, SHARR_I32, 0, 0,
                                    0, SHARR_I64};
    static const sharr_dtype u[] = {SHARR_U8, SHARR_U16, 0, SHARR_U32, 0, 0,
                                    0, SHARR_U64};

    if (sz < 1 || sz > 8 || (sz & (sz - 1)))
        return snprintf(r->why, sizeof r->why, "integers of %zu bytes have no "
                        "sharr dtype (1, 2, 4 or 8 bytes)", sz), 0;
    r->dtype = sgn ? s[sz - 1] : u[sz - 1];
    return 1;
}

/* Is t IEEE binary16 (sign 15, exponent 10..14 biased 15, mantissa 0..9)? */
static int is_half(hid_t t)
{
    size_t spos, epos, esize, mpos, msize;

    return H5Tget_size(t) == 2 && H5Tget_precision(t) == 16 &&
           H5Tget_offset(t) == 0 && H5Tget_ebias(t) == 15 &&
           H5Tget_norm(t) == H5T_NORM_IMPLIED &&
           H5Tget_fields(t, &spos, &epos, &esize, &mpos, &msize) >= 0 &&
           spos == 15 && epos == 10 && esize == 5 && mpos == 0 && msize == 10;
}

static int classify_float(hid_t t, size_t sz, struct h5type *r)
{
    if (sz == 2 || sz == 4) {
        /* A 2-byte float widens exactly to f32.  IEEE halves are widened
         * by sharr (HDF5's conversion rewrites NaN payloads); other 2-byte
         * layouts by HDF5. */
        r->dtype = SHARR_F32;
        r->half = sz == 2 && H5Tget_order(t) != H5T_ORDER_VAX && is_half(t);
        return 1;
    }
    if (sz == 8) {
        r->dtype = SHARR_F64;
        return 1;
    }
    snprintf(r->why, sizeof r->why, "floats of %zu bytes (%s) have no sharr "
             "dtype; converting them would lose precision", sz,
             sz > 8 ? "long double or quad" : "an unusual size");
    return 0;
}

/* A compound is complex if it has exactly two float members of equal size
 * 4 or 8 whose names are one of the known pairs, in either order. */
static int classify_compound(hid_t t, struct h5type *r)
{
    char *name[2] = {NULL, NULL};
    hid_t mt[2] = {-1, -1};
    size_t msz[2] = {0, 0};
    int ok = 0, nm = H5Tget_nmembers(t);

    if (nm != 2) {
        snprintf(r->why, sizeof r->why, "a compound of %d members is not a "
                 "complex number (that needs exactly two float members "
                 "named r/i, re/im, real/imag or Real/Imaginary)", nm);
        return 0;
    }
    for (unsigned i = 0; i < 2; i++) {
        name[i] = H5Tget_member_name(t, i);
        mt[i] = H5Tget_member_type(t, i);
        if (mt[i] >= 0 && H5Tget_class(mt[i]) == H5T_FLOAT)
            msz[i] = H5Tget_size(mt[i]);
    }
    for (size_t k = 0; k < 4 && name[0] && name[1]; k++) {
        for (int first = 0; first < 2; first++) {
            if (strcmp(name[first], complex_names[k][0]) == 0 &&
                strcmp(name[1 - first], complex_names[k][1]) == 0) {
                snprintf(r->re, sizeof r->re, "%s", complex_names[k][0]);
                snprintf(r->im, sizeof r->im, "%s", complex_names[k][1]);
                ok = 1;
            }
        }
    }
    if (!ok)
        snprintf(r->why, sizeof r->why, "a compound with members '%s' and "
                 "'%s' is not a complex number (the names must be r/i, re/im,"
                 " real/imag or Real/Imaginary)", name[0] ? name[0] : "?",
                 name[1] ? name[1] : "?");
    else if (!msz[0] || msz[0] != msz[1] || (msz[0] != 4 && msz[0] != 8)) {
        snprintf(r->why, sizeof r->why, "complex members must be two floats "
                 "of 4 or 8 bytes each");
        ok = 0;
    } else {
        r->dtype = msz[0] == 4 ? SHARR_C64 : SHARR_C128;
    }
    for (int i = 0; i < 2; i++) {
        H5free_memory(name[i]);
        if (mt[i] >= 0)
            H5Tclose(mt[i]);
    }
    return ok;
}

static void classify(hid_t t, struct h5type *r)
{
    H5T_class_t c = H5Tget_class(t);
    size_t sz = H5Tget_size(t);

    memset(r, 0, sizeof *r);
    snprintf(r->cls, sizeof r->cls, "%s", class_name(c));
    describe_type(t, r->desc, sizeof r->desc);
    if (c == H5T_INTEGER)
        r->loadable = classify_int(t, sz, r);
    else if (c == H5T_FLOAT)
        r->loadable = classify_float(t, sz, r);
    else if (c == H5T_COMPOUND)
        r->loadable = classify_compound(t, r);
    else
        snprintf(r->why, sizeof r->why, "%s data has no numeric sharr dtype",
                 r->cls);
}

static hid_t native_of(sharr_dtype dt)
{
    switch (dt) {
    case SHARR_I8: return H5T_NATIVE_INT8;
    case SHARR_I16: return H5T_NATIVE_INT16;
    case SHARR_I32: return H5T_NATIVE_INT32;
    case SHARR_I64: return H5T_NATIVE_INT64;
    case SHARR_U8: return H5T_NATIVE_UINT8;
    case SHARR_U16: return H5T_NATIVE_UINT16;
    case SHARR_U32: return H5T_NATIVE_UINT32;
    case SHARR_U64: return H5T_NATIVE_UINT64;
    case SHARR_F32: case SHARR_C64: return H5T_NATIVE_FLOAT;
    default: return H5T_NATIVE_DOUBLE;
    }
}

/* The type of dtype in memory (complex: a compound with the given member
 * names, which is how HDF5 matches members).  The caller closes it. */
static hid_t mem_type(sharr_dtype dt, const char *re, const char *im)
{
    size_t part = dt == SHARR_C64 ? 4 : 8;
    hid_t t;

    if (sharr_dtype_kind(dt) != 'c')
        return H5Tcopy(native_of(dt));
    if ((t = H5Tcreate(H5T_COMPOUND, 2 * part)) < 0)
        return -1;
    if (H5Tinsert(t, re, 0, native_of(dt)) < 0 ||
        H5Tinsert(t, im, part, native_of(dt)) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* The little-endian type a save writes for dtype. */
static hid_t file_type(sharr_dtype dt, int matlab)
{
    switch (dt) {
    case SHARR_I8: return H5Tcopy(H5T_STD_I8LE);
    case SHARR_I16: return H5Tcopy(H5T_STD_I16LE);
    case SHARR_I32: return H5Tcopy(H5T_STD_I32LE);
    case SHARR_I64: return H5Tcopy(H5T_STD_I64LE);
    case SHARR_U8: return H5Tcopy(H5T_STD_U8LE);
    case SHARR_U16: return H5Tcopy(H5T_STD_U16LE);
    case SHARR_U32: return H5Tcopy(H5T_STD_U32LE);
    case SHARR_U64: return H5Tcopy(H5T_STD_U64LE);
    case SHARR_F32: return H5Tcopy(H5T_IEEE_F32LE);
    case SHARR_F64: return H5Tcopy(H5T_IEEE_F64LE);
    default: {
        size_t part = dt == SHARR_C64 ? 4 : 8;
        hid_t base = dt == SHARR_C64 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE;
        hid_t t = H5Tcreate(H5T_COMPOUND, 2 * part);
        if (t < 0)
            return -1;
        if (H5Tinsert(t, matlab ? "real" : "r", 0, base) < 0 ||
            H5Tinsert(t, matlab ? "imag" : "i", part, base) < 0) {
            H5Tclose(t);
            return -1;
        }
        return t;
    }
    }
}

/* ---- files and datasets ---- */

/* Access properties that find external raw data and virtual-dataset
 * sources next to the file, not in the current directory. */
static hid_t dataset_access(void)
{
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl >= 0) {
        H5Pset_efile_prefix(dapl, "${ORIGIN}");
        H5Pset_virtual_prefix(dapl, "${ORIGIN}");
    }
    return dapl;
}

static hid_t open_file(const char *path, bool write)
{
    hid_t f = H5Fopen(path, write ? H5F_ACC_RDWR : H5F_ACC_RDONLY,
                      H5P_DEFAULT);
    if (f < 0)
        h5_fail(SHARR_EHDF5, "%s: cannot open as an HDF5 file", path);
    return f;
}

/* 1 if every component of `path` exists as a link, else 0. */
static int path_exists(hid_t f, const char *path)
{
    char buf[DSET_MAX];
    char *p;

    snprintf(buf, sizeof buf, "%s", path);
    for (p = strchr(buf + 1, '/');; p = strchr(p + 1, '/')) {
        if (p)
            *p = '\0';
        if (H5Lexists(f, buf, H5P_DEFAULT) <= 0) {
            H5Eclear2(H5E_DEFAULT);
            return 0;
        }
        if (!p)
            return 1;
        *p = '/';
    }
}

static hid_t open_dataset(hid_t f, const struct h5_target *t)
{
    H5O_info_t oi;
    hid_t dapl, d;

    if (strcmp(t->dset, "/") != 0 && !path_exists(f, t->dset))
        return sharr__fail(SHARR_ENOENT, "%s:%s: no such dataset", t->file,
                           t->dset);
    if (H5Oget_info_by_name2(f, t->dset, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
        return h5_fail(SHARR_EHDF5, "%s:%s: cannot open the object", t->file,
                       t->dset);
    if (oi.type != H5O_TYPE_DATASET)
        return sharr__fail(SHARR_EINVAL, "%s:%s is a %s, not a dataset",
                           t->file, t->dset, oi.type == H5O_TYPE_GROUP
                               ? "group" : "named datatype");
    dapl = dataset_access();
    d = H5Dopen2(f, t->dset, dapl);
    if (dapl >= 0)
        H5Pclose(dapl);
    if (d < 0)
        return h5_fail(SHARR_EHDF5, "%s:%s: cannot open the dataset", t->file,
                       t->dset);
    return d;
}

/* ---- layout description ---- */

static void describe_layout(hid_t dcpl, char *layout, size_t lsize,
                            char *filters, size_t fsize, uint64_t *chunk)
{
    hsize_t cdims[H5S_MAX_RANK];
    int n = 0, nf;

    chunk[0] = 0;
    snprintf(layout, lsize, "?");
    snprintf(filters, fsize, "none");
    if (dcpl < 0)
        return;
    switch (H5Pget_layout(dcpl)) {
    case H5D_COMPACT: snprintf(layout, lsize, "compact"); break;
    case H5D_VIRTUAL: snprintf(layout, lsize, "virtual"); break;
    case H5D_CONTIGUOUS:
        if (H5Pget_external_count(dcpl) > 0)
            snprintf(layout, lsize, "external(%d files)",
                     H5Pget_external_count(dcpl));
        else
            snprintf(layout, lsize, "contiguous");
        break;
    case H5D_CHUNKED: {
        int r = H5Pget_chunk(dcpl, H5S_MAX_RANK, cdims);
        n = snprintf(layout, lsize, "chunked(");
        for (int i = 0; i < r && n > 0 && (size_t)n < lsize; i++)
            n += snprintf(layout + n, lsize - (size_t)n, "%s%llu",
                          i ? "x" : "", (unsigned long long)cdims[i]);
        if (n > 0 && (size_t)n < lsize)
            snprintf(layout + n, lsize - (size_t)n, ")");
        for (int i = 0; i < r; i++)
            chunk[i] = cdims[i];
        break;
    }
    default: break;
    }
    nf = H5Pget_nfilters(dcpl);
    n = 0;
    for (int i = 0; i < nf && (size_t)n < fsize; i++) {
        unsigned flags, cd[8];
        size_t ncd = 8;
        char name[64] = "";
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd,
                                         sizeof name, name, NULL);
        const char *sep = i ? "," : "";
        if (id == H5Z_FILTER_DEFLATE)
            n += snprintf(filters + n, fsize - (size_t)n, "%sdeflate[%u]",
                          sep, ncd ? cd[0] : 0);
        else if (id == H5Z_FILTER_SHUFFLE)
            n += snprintf(filters + n, fsize - (size_t)n, "%sshuffle", sep);
        else if (id == H5Z_FILTER_FLETCHER32)
            n += snprintf(filters + n, fsize - (size_t)n, "%sfletcher32", sep);
        else if (id == H5Z_FILTER_SZIP)
            n += snprintf(filters + n, fsize - (size_t)n, "%sszip", sep);
        else if (id == H5Z_FILTER_NBIT)
            n += snprintf(filters + n, fsize - (size_t)n, "%snbit", sep);
        else if (id == H5Z_FILTER_SCALEOFFSET)
            n += snprintf(filters + n, fsize - (size_t)n, "%sscaleoffset",
                          sep);
        else
            n += snprintf(filters + n, fsize - (size_t)n, "%s%s(%d)", sep,
                          name[0] ? name : "filter", (int)id);
    }
    H5Eclear2(H5E_DEFAULT);
}

/* ---- probing a dataset ---- */

/* What the probe job reports. */
struct h5_meta {
    struct h5type type;
    int space;               /* 0 simple, 1 scalar, 2 null */
    int ndim;
    uint64_t dims[H5S_MAX_RANK];
    uint64_t chunk[H5S_MAX_RANK]; /* chunk shape; chunk[0] 0 if none */
    char layout[160], filters[160];
};

static int read_meta(hid_t d, struct h5_meta *m)
{
    hid_t t = H5Dget_type(d), s = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
    hsize_t dims[H5S_MAX_RANK];
    int err = 0;

    if (t < 0 || s < 0) {
        err = h5_fail(SHARR_EHDF5, "cannot read the dataset's type or shape");
        goto done;
    }
    classify(t, &m->type);
    switch (H5Sget_simple_extent_type(s)) {
    case H5S_SCALAR: m->space = 1; m->ndim = 0; break;
    case H5S_NULL: m->space = 2; m->ndim = 0; break;
    default:
        m->space = 0;
        m->ndim = H5Sget_simple_extent_dims(s, dims, NULL);
        if (m->ndim < 0) {
            err = h5_fail(SHARR_EHDF5, "cannot read the dataset's shape");
            goto done;
        }
        for (int i = 0; i < m->ndim; i++)
            m->dims[i] = dims[i];
    }
    describe_layout(dcpl, m->layout, sizeof m->layout, m->filters,
                    sizeof m->filters, m->chunk);
done:
    close_id(&dcpl, H5Pclose);
    close_id(&s, H5Sclose);
    close_id(&t, H5Tclose);
    return err;
}

static int probe_kernel(const sharr_block *b)
{
    const struct h5_target *t = b->arg;
    struct h5_meta *m = b->result;
    hid_t f, d = -1;
    int err;

    h5_quiet();
    if ((f = open_file(t->file, false)) < 0)
        return SHARR_EHDF5;
    if ((d = open_dataset(f, t)) < 0) {
        err = (int)d;
        goto done;
    }
    err = read_meta(d, m);
    if (err < 0)
        sharr__errmsg_prefix("%s:%s", t->file, t->dset);
done:
    close_id(&d, H5Dclose);
    close_id(&f, H5Fclose);
    return err;
}

/* Run a one-block job of `kernel` with `arg` and a result of result_size
 * bytes copied to `result`; a timeout (seconds, < 0 none) kills a hung
 * worker.  Errors come back with the kernel's own detail. */
static int run_one(sharr_pool *pool, sharr_kernel kernel, const void *arg,
                   size_t arg_size, size_t narrays, sharr_array *const *arrays,
                   void *result, size_t result_size, double timeout)
{
    sharr_job_spec spec = {0};
    sharr_job *job;
    int err;

    spec.kernel = kernel;
    spec.rows = 1;
    spec.narrays = narrays;
    spec.arrays = arrays;
    spec.whole = (1u << narrays) - 1;
    spec.arg = arg;
    spec.arg_size = arg_size;
    spec.result_size = result_size;
    spec.plain_errors = 1;
    spec.schedule.kind = SHARR_SCHED_DYNAMIC;
    if ((err = sharr_pool_submit(pool, &spec, &job)) < 0)
        return err;
    err = sharr_job_wait(job, timeout);
    if (err == 0 && result)
        memcpy(result, sharr_job_result(job, 0), result_size);
    sharr_job_free(job);
    return err;
}

/* ---- paths ---- */

/* An absolute form of `path` (which must exist) into buf. */
static int absolute_existing(const char *path, char *buf, size_t size)
{
    char tmp[PATH_MAX];

    if (!realpath(path, tmp))
        return sharr__fail(-errno, "%s: %s", path, strerror(errno));
    if (strlen(tmp) >= size)
        return sharr__fail(SHARR_EINVAL, "%s: path too long", path);
    memcpy(buf, tmp, strlen(tmp) + 1);
    return 0;
}

static int set_dset(char *buf, const char *dset)
{
    if (!dset || !*dset)
        return sharr__fail(SHARR_EINVAL, "no dataset path given");
    if (strlen(dset) + 2 > DSET_MAX)
        return sharr__fail(SHARR_EINVAL, "dataset path is too long");
    snprintf(buf, DSET_MAX, "%s%s", dset[0] == '/' ? "" : "/", dset);
    return 0;
}

/* ---- load ---- */

struct load_arg {
    struct h5_target where;
    uint64_t row_offset;     /* dataset row of the array's row 0 */
    uint64_t step;           /* rows per H5Dread; 0: the whole block */
    int half;                /* read binary16 bits, widen them here */
    int ndim;
    uint64_t dims[SHARR_MAX_NDIM]; /* of the dataset, to catch a changed file */
    int dtype;
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
        return h5_fail(SHARR_EHDF5, "cannot select rows %zu..%zu", r0, r1);
    /* Halves land in the upper half of the f32 rows, then widen. */
    size_t n = (size_t)H5Sget_select_npoints(ms);
    void *at = a->half ? (unsigned char *)dst + 2 * n : dst;
    if (H5Dread(d, mt, ms, fs, H5P_DEFAULT, at) < 0)
        err = h5_fail(SHARR_EHDF5, "cannot read rows %llu..%llu",
                      (unsigned long long)start[0],
                      (unsigned long long)(start[0] + count[0]));
    else if (a->half)
        sharr__widen_halves(dst, n);
    H5Sclose(ms);
    return err;
}

/* A block in steps of a few thousand chunks: HDF5 1.10 builds a map entry
 * per chunk of a selection, gigabytes for a block of millions of chunks. */
static int read_rows(hid_t d, const struct load_arg *a, const sharr_block *b)
{
    hsize_t now[H5S_MAX_RANK];
    hid_t fs = H5Dget_space(d), mt = a->half ? half_le(d)
                                             : mem_type((sharr_dtype)a->dtype,
                                                        a->re, a->im);
    size_t rb = sharr_array_row_bytes(b->array[0]);
    int err = 0;

    if (fs < 0 || mt < 0) {
        err = h5_fail(SHARR_EHDF5, "cannot prepare the read");
    } else if (a->ndim == 0) {
        unsigned char *at = (unsigned char *)b->data[0] + (a->half ? 2 : 0);
        if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, at) < 0)
            err = h5_fail(SHARR_EHDF5, "cannot read the scalar");
        else if (a->half)
            sharr__widen_halves(b->data[0], 1);
    } else if (H5Sget_simple_extent_ndims(fs) != a->ndim ||
               H5Sget_simple_extent_dims(fs, now, NULL) < 0 ||
               memcmp(now, a->dims, (size_t)a->ndim * sizeof *now) != 0) {
        err = sharr__fail(SHARR_EHDF5, "the dataset changed shape while it "
                          "was being loaded");
    } else {
        size_t step = a->step ? a->step : b->r1 - b->r0;
        for (size_t r = b->r0; r < b->r1 && err == 0; r += step) {
            size_t end = b->r1 - r < step ? b->r1 : r + step;
            err = read_slab(d, fs, mt, a, r, end,
                            (unsigned char *)b->data[0] + (r - b->r0) * rb);
        }
    }
    close_id(&fs, H5Sclose);
    close_id(&mt, H5Tclose);
    return err;
}

static int load_kernel(const sharr_block *b)
{
    const struct load_arg *a = b->arg;
    hid_t f, d = -1;
    int err;

    h5_quiet();
    if ((f = open_file(a->where.file, false)) < 0)
        return SHARR_EHDF5;
    if ((d = open_dataset(f, &a->where)) < 0)
        err = (int)d;
    else
        err = read_rows(d, a, b);
    close_id(&d, H5Dclose);
    close_id(&f, H5Fclose);
    return err;
}

/* The empty-result and unsupported cases of a probed dataset. */
static int check_meta(const struct h5_meta *m)
{
    if (!m->type.loadable)
        return sharr__fail(SHARR_EUNSUPPORTED, "cannot load %s data (%s): "
                           "%s", m->type.cls, m->type.desc, m->type.why);
    if (m->space == 2)
        return sharr__fail(SHARR_H5_EMPTY, "the dataset has a null dataspace "
                           "(no elements): nothing to load");
    for (int i = 0; i < m->ndim; i++)
        if (m->dims[i] == 0)
            return sharr__fail(SHARR_H5_EMPTY, "dimension %d of the dataset "
                               "is 0 (no elements): nothing to load", i);
    if (m->ndim > SHARR_MAX_NDIM)
        return sharr__fail(SHARR_EUNSUPPORTED, "the dataset has %d "
                           "dimensions; sharr arrays have at most %d",
                           m->ndim, SHARR_MAX_NDIM);
    return 0;
}

/* Rows per H5Dread for a chunked dataset: whole chunk rows, at most about
 * 4096 chunks at a time (0: unchunked, read a block at once). */
static uint64_t read_step(const struct h5_meta *m)
{
    uint64_t per_chunk_row = 1;

    if (!m->chunk[0])
        return 0;
    for (int i = 1; i < m->ndim; i++)
        per_chunk_row *= (m->dims[i] + m->chunk[i] - 1) / m->chunk[i];
    return m->chunk[0] * (per_chunk_row < 4096 ? 4096 / per_chunk_row : 1);
}

static int load_rows(sharr_pool *pool, sharr_array *a, struct load_arg *la,
                     const struct h5_meta *m, const sharr_run_opts *ro)
{
    sharr_job_spec spec = {0};
    size_t n = (size_t)sharr_pool_workers(pool);

    spec.kernel = load_kernel;
    spec.narrays = 1;
    spec.arrays = &a;
    spec.arg = la;
    spec.arg_size = sizeof *la;
    spec.plain_errors = 1;
    if (ro) {
        spec.progress = ro->progress;
        spec.progress_ctx = ro->progress_ctx;
    }
    if (ro && ro->schedule.kind) {
        spec.schedule = ro->schedule;
    } else if (m->chunk[0]) {
        /* Blocks of whole chunk rows, about four per worker, so that every
         * worker decompresses its own chunks and no chunk is read twice. */
        size_t rows = sharr_array_rows(a), c = m->chunk[0];
        size_t per = rows / (c * 4 * n);
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
    if ((err = run_one(pool, probe_kernel, where, sizeof *where, 0, NULL, &m,
                       sizeof m, PROBE_TIMEOUT)) < 0 ||
        (err = check_meta(&m)) != 0)
        return err;
    if (m.ndim > 0 &&
        (err = sharr__pick_rows(m.dims[0], o->row_start, o->row_end, &r0, &r1)) < 0)
        return err;
    if (m.ndim == 0 && (o->row_start || o->row_end > 1))
        return sharr__fail(SHARR_EINVAL, "the dataset is a scalar: it has no "
                           "rows to choose");
    memset(&la, 0, sizeof la);
    la.where = *where;
    la.row_offset = r0;
    la.step = read_step(&m);
    la.half = m.type.half;
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
    if (o->into)
        err = sharr__open_into(o->into, m.type.dtype, (size_t)m.ndim, shape, &a);
    else
        err = sharr_array_create(name, m.type.dtype, (size_t)m.ndim, shape,
                                 &co, &a);
    if (err < 0)
        return err;
    if ((err = load_rows(pool, a, &la, &m, &o->run)) < 0 ||
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
    int err;

    *out = NULL;
    memset(&where, 0, sizeof where);
    if (!file)
        return sharr__fail(SHARR_EINVAL, "no file given");
    if (!o->into && (err = sharr_name_check(name)) < 0)
        return err;
    if ((err = absolute_existing(file, where.file, sizeof where.file)) < 0 ||
        (err = set_dset(where.dset, dset)) < 0)
        return err;
    err = load(pool, &where, name, o, out);
    /* Every failure names the file and the dataset, once. */
    if (err != 0 && strncmp(sharr_errmsg(), where.file,
                            strlen(where.file)) != 0)
        sharr__errmsg_prefix("%s:%s", file, where.dset);
    return err;
}

/* ---- save ---- */

struct save_arg {
    struct h5_target where;    /* the temporary file; the final dset path */
    char tmp_link[128];        /* dataset name while it is written */
    int ndim;
    uint64_t dims[SHARR_MAX_NDIM];
    uint64_t chunk[SHARR_MAX_NDIM]; /* all 0: contiguous */
    int gzip, shuffle, matlab, force;
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

/* A scalar variable-length UTF-8 string attribute (h5py reads it as str). */
static int write_attr(hid_t d, const char *key, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR), a = -1;
    int err = 0;

    if (t < 0 || s < 0 || H5Tset_size(t, H5T_VARIABLE) < 0 ||
        H5Tset_cset(t, H5T_CSET_UTF8) < 0 ||
        (a = H5Acreate2(d, key, t, s, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Awrite(a, t, &value) < 0)
        err = h5_fail(SHARR_EHDF5, "cannot write attribute %s", key);
    close_id(&a, H5Aclose);
    close_id(&s, H5Sclose);
    close_id(&t, H5Tclose);
    return err;
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
            H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0) {
            H5Pclose(dcpl);
            return -1;
        }
    }
    return dcpl;
}

static int create_dataset(hid_t f, const struct save_arg *a, hid_t *out)
{
    char parent[DSET_MAX], tmp[DSET_MAX + 160];
    const char *base;
    hsize_t dims[SHARR_MAX_NDIM];
    hid_t ft = file_type((sharr_dtype)a->dtype, a->matlab), sp = -1,
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
        err = h5_fail(SHARR_EHDF5, "%s:%s: cannot create the dataset",
                      a->where.file, a->where.dset);
        goto done;
    }
    if ((err = write_attr(d, "sharr_array", a->source)) < 0 ||
        (err = write_attr(d, "sharr_dtype",
                          sharr_dtype_name((sharr_dtype)a->dtype))) < 0)
        goto done;
    *out = d;
    d = -1;
done:
    close_id(&d, H5Dclose);
    close_id(&lcpl, H5Pclose);
    close_id(&dcpl, H5Pclose);
    close_id(&sp, H5Sclose);
    close_id(&ft, H5Tclose);
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
        return h5_fail(SHARR_EHDF5, "cannot open group %s", parent);
    if (H5Lexists(g, base, H5P_DEFAULT) > 0 && H5Ldelete(g, base,
                                                         H5P_DEFAULT) < 0)
        err = h5_fail(SHARR_EHDF5, "cannot replace %s", a->where.dset);
    else if (H5Lmove(g, a->tmp_link, g, base, H5P_DEFAULT, H5P_DEFAULT) < 0)
        err = h5_fail(SHARR_EHDF5, "cannot name the dataset %s",
                      a->where.dset);
    H5Eclear2(H5E_DEFAULT);
    H5Gclose(g);
    return err;
}

/* Refuse an existing target unless forced, and never replace a group. */
static int check_target(hid_t f, const struct save_arg *a)
{
    H5O_info_t oi;

    if (!path_exists(f, a->where.dset))
        return 0;
    if (!a->force)
        return sharr__fail(SHARR_EEXIST, "%s already has %s: pass --force "
                           "(force = 1) to replace it", a->where.file,
                           a->where.dset);
    if (H5Oget_info_by_name2(f, a->where.dset, &oi, H5O_INFO_BASIC,
                             H5P_DEFAULT) >= 0 && oi.type != H5O_TYPE_DATASET)
        return sharr__fail(SHARR_EINVAL, "%s is a group: only a dataset is "
                           "ever replaced", a->where.dset);
    H5Eclear2(H5E_DEFAULT);
    return 0;
}

/* Create (in a new or copied temporary file) and, without filters, write
 * the whole dataset and name it. */
static int create_kernel(const sharr_block *b)
{
    const struct save_arg *a = b->arg;
    struct stat st;
    hid_t f = -1, d = -1, mt = -1;
    int err;

    h5_quiet();
    f = stat(a->where.file, &st) == 0 && st.st_size > 0
            ? open_file(a->where.file, true)
            : H5Fcreate(a->where.file, H5F_ACC_TRUNC, H5P_DEFAULT,
                        H5P_DEFAULT);
    if (f < 0)
        return h5_fail(SHARR_EHDF5, "%s: cannot create or open for writing",
                       a->where.file);
    if ((err = check_target(f, a)) < 0 || (err = create_dataset(f, a, &d)) < 0)
        goto done;
    if (a->write_data) {
        const unsigned char *src = (const unsigned char *)b->data[0] +
                                   a->row_start * a->row_bytes;
        mt = mem_type((sharr_dtype)a->dtype, a->matlab ? "real" : "r",
                      a->matlab ? "imag" : "i");
        if (mt < 0 || H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, src) < 0) {
            err = h5_fail(SHARR_EHDF5, "%s: cannot write the data",
                          a->where.file);
            goto done;
        }
        close_id(&d, H5Dclose);
        err = finish_link(f, a);
    }
done:
    close_id(&mt, H5Tclose);
    close_id(&d, H5Dclose);
    if (f >= 0 && H5Fclose(f) < 0 && err == 0)
        err = h5_fail(SHARR_EHDF5, "%s: cannot close", a->where.file);
    return err;
}

/* ---- filtered saves: chunks compressed in parallel ---- */

struct chunk_geom {
    int ndim;
    uint64_t dims[SHARR_MAX_NDIM], chunk[SHARR_MAX_NDIM],
        grid[SHARR_MAX_NDIM];
    uint64_t row_start, elem, chunk_bytes, slot_bytes, first;
    int gzip, shuffle;
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

/* Copy chunk `coord` of the saved region out of the array, zero-padding
 * past the edges, as HDF5 stores an edge chunk. */
static void gather(const struct chunk_geom *g, const unsigned char *array,
                   const uint64_t *coord, unsigned char *out)
{
    uint64_t idx[SHARR_MAX_NDIM] = {0}, start[SHARR_MAX_NDIM];
    int last = g->ndim - 1;
    uint64_t run;

    memset(out, 0, g->chunk_bytes);
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
        if (inside)
            memcpy(out + dst * g->elem, array + src * g->elem, run * g->elem);
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

/* HDF5's shuffle filter: byte j of element i goes to j * n + i.  Done in
 * blocks of 4096 elements so each input byte is read from cache, not once
 * per byte position from memory (which would not scale over workers). */
static void shuffle(const unsigned char *in, unsigned char *out, size_t n,
                    size_t elem)
{
    enum { BLOCK = 4096 };

    for (size_t i0 = 0; i0 < n; i0 += BLOCK) {
        size_t i1 = n - i0 < BLOCK ? n : i0 + BLOCK;
        for (size_t j = 0; j < elem; j++) {
            unsigned char *o = out + j * n;
            const unsigned char *p = in + j;
            for (size_t i = i0; i < i1; i++)
                o[i] = p[i * elem];
        }
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

/* Chunk c into `slot`, as HDF5's filter pipeline (shuffle, deflate) would
 * have stored it; raw and shuf are chunk-sized scratch buffers. */
static int compress_chunk(const struct chunk_geom *g, const unsigned char *array,
                          uint64_t c, unsigned char *slot, unsigned char *raw,
                          unsigned char *shuf)
{
    uint64_t coord[SHARR_MAX_NDIM], len = g->chunk_bytes;
    const unsigned char *src = raw;

    unravel(g, c, coord);
    gather(g, array, coord, raw);
    if (g->shuffle) {
        shuffle(raw, shuf, g->chunk_bytes / g->elem, g->elem);
        src = shuf;
    }
    if (g->gzip) {
        uLongf out = (uLongf)(g->slot_bytes - 8);
        if (compress2(slot + 8, &out, src, (uLong)g->chunk_bytes, g->gzip) !=
            Z_OK)
            return sharr__fail(SHARR_EIO, "zlib failed on chunk %llu",
                               (unsigned long long)c);
        len = out;
    } else {
        memcpy(slot + 8, src, g->chunk_bytes);
    }
    memcpy(slot, &len, 8);
    return 0;
}

/* Store window w's chunks with H5Dwrite_chunk; after the last one, name
 * the dataset. */
static int write_window(const struct step_arg *s, unsigned char *staging,
                        uint64_t w, bool last)
{
    char tmp[DSET_MAX + 160], parent[DSET_MAX];
    const char *base;
    uint64_t first, count;
    hid_t f, d = -1;
    int err = 0;

    h5_quiet();
    if ((f = open_file(s->save.where.file, true)) < 0)
        return SHARR_EHDF5;
    split_dset(s->save.where.dset, parent, sizeof parent, &base);
    snprintf(tmp, sizeof tmp, "%s/%s", strcmp(parent, "/") ? parent : "",
             s->save.tmp_link);
    if ((d = H5Dopen2(f, tmp, H5P_DEFAULT)) < 0) {
        err = h5_fail(SHARR_EHDF5, "cannot reopen the dataset being saved");
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
            err = h5_fail(SHARR_EHDF5, "cannot write chunk %llu",
                          (unsigned long long)(first + i));
    }
    close_id(&d, H5Dclose);
    if (err == 0 && last)
        err = finish_link(f, &s->save);
done:
    close_id(&d, H5Dclose);
    if (H5Fclose(f) < 0 && err == 0)
        err = h5_fail(SHARR_EHDF5, "%s: cannot close", s->save.where.file);
    return err;
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
    uint64_t first, count;
    int err = 0;

    window_range(s, s->k, &first, &count);
    for (size_t r = b->r0; r < b->r1 && err == 0; r++) {
        if (writes && r == 0) {
            err = write_window(s, staging, s->k - 1, s->k == s->nwindows);
            continue;
        }
        uint64_t i = r - (writes ? 1 : 0);
        err = compress_chunk(&s->g, array, first + i,
                             slot_of(s, staging, s->k, i), raw, shuf);
    }
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
    g->slot_bytes = 8 + (a->gzip ? compressBound((uLong)g->chunk_bytes)
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

static int save_filtered(sharr_pool *pool, sharr_array *src,
                         const struct save_arg *a, const sharr_run_opts *ro)
{
    struct step_arg st;
    sharr_array *staging = NULL;
    size_t n = (size_t)sharr_pool_workers(pool);
    uint64_t cap;
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
    if ((err = make_staging(2 * st.window * st.g.slot_bytes +
                            n * 2 * st.g.chunk_bytes, &staging)) < 0)
        return err;
    for (st.k = 0; st.k <= st.nwindows && err == 0; st.k++) {
        sharr_array *arrays[2] = {src, staging};
        sharr_job_spec spec = {0};
        uint64_t first, count = 0;
        if (st.k < st.nwindows)
            window_range(&st, st.k, &first, &count);
        spec.kernel = save_step_kernel;
        spec.narrays = 2;
        spec.arrays = arrays;
        spec.whole = 3;
        spec.rows = count + (st.k > 0);
        spec.arg = &st;
        spec.arg_size = sizeof st;
        spec.plain_errors = 1;
        spec.schedule.kind = SHARR_SCHED_DYNAMIC;
        spec.schedule.chunk = count / (2 * n) ? count / (2 * n) : 1;
        if (ro) {
            spec.progress = ro->progress;
            spec.progress_ctx = ro->progress_ctx;
        }
        err = sharr_pool_run(pool, &spec);
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
    bool filtered = o->gzip || o->shuffle;

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

static int save_args(const sharr_array *arr, const char *dset,
                     const sharr_save_opts *o, struct save_arg *a)
{
    size_t rows = sharr_array_rows(arr), r0, r1;
    int err;

    memset(a, 0, sizeof *a);
    if ((err = set_dset(a->where.dset, dset)) < 0)
        return err;
    if (strcmp(a->where.dset, "/") == 0 ||
        a->where.dset[strlen(a->where.dset) - 1] == '/')
        return sharr__fail(SHARR_EINVAL, "'%s' does not name a dataset", dset);
    if (o->gzip < 0 || o->gzip > 9)
        return sharr__fail(SHARR_EINVAL, "gzip level %d: use 1..9 (0: none)",
                           o->gzip);
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
    a->matlab = o->complex_matlab != 0;
    a->force = o->force != 0;
    a->write_data = !(o->gzip || o->shuffle);
    snprintf(a->source, sizeof a->source, "%s", sharr_array_name(arr));
    /* A fixed name: the save works on its own temporary file, and a name
     * with a pid would leave different bytes in the group's heap. */
    snprintf(a->tmp_link, sizeof a->tmp_link, ".sharr-partial");
    return check_chunks(o, a);
}

/* "<dir>/.<base>.sharr-<pid>-<n>.tmp": hidden, next to the target, so the
 * final rename stays on one file system. */
static int temp_name(const char *dir, const char *base, char *out,
                     size_t size)
{
    static unsigned counter;
    int n = snprintf(out, size, "%s/.%s.sharr-%d-%u.tmp", dir, base,
                     (int)getpid(),
                     __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
    if (n < 0 || (size_t)n >= size)
        return sharr__fail(SHARR_EINVAL, "%s/%s: path too long", dir, base);
    return 0;
}

/* Copy `from` to the new file `to` with `mode`, in the kernel. */
static int copy_file(const char *from, const char *to, mode_t mode)
{
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, err = 0;
    struct stat st;

    if (in < 0)
        return sharr__fail_os(-errno, "%s", from);
    if (fstat(in, &st) < 0 ||
        (out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0) {
        err = sharr__fail_os(-errno, "%s", to);
        goto done;
    }
    fchmod(out, mode);
    for (off_t left = st.st_size; left > 0;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
        if (n <= 0) {
            err = sharr__fail_os(n < 0 ? -errno : SHARR_EIO, "copying %s",
                                 from);
            goto done;
        }
        left -= n;
    }
done:
    if (out >= 0 && close(out) < 0 && err == 0)
        err = sharr__fail_os(-errno, "%s", to);
    close(in);
    return err;
}

/* Where the file goes: its directory made absolute, and its base name. */
static int resolve_target(const char *file, char *dir, size_t dsize,
                          char *base, size_t bsize)
{
    char tmp[PATH_MAX];
    const char *slash = strrchr(file, '/');

    if (!file || !*file || (slash && !slash[1]))
        return sharr__fail(SHARR_EINVAL, "'%s' is not a file name",
                           file ? file : "");
    snprintf(tmp, sizeof tmp, "%.*s", slash ? (int)(slash - file + 1) : 1,
             slash ? file : ".");
    snprintf(base, bsize, "%s", slash ? slash + 1 : file);
    return absolute_existing(tmp, dir, dsize);
}

/* Make the complete temporary file the target (durably with sync). */
static int commit(const char *tmp, const char *final, bool sync)
{
    int fd = sync ? open(tmp, O_RDONLY | O_CLOEXEC) : -1;

    if (sync && (fd < 0 || fsync(fd) < 0)) {
        int err = sharr__fail_os(-errno, "%s", tmp);
        if (fd >= 0)
            close(fd);
        return err;
    }
    if (fd >= 0)
        close(fd);
    if (rename(tmp, final) < 0)
        return sharr__fail_os(-errno, "renaming %s to %s", tmp, final);
    return 0;
}

int sharr_h5_save(sharr_pool *pool, const sharr_array *a, const char *file,
                  const char *dset, const sharr_save_opts *opts)
{
    static const sharr_save_opts defaults;
    const sharr_save_opts *o = opts ? opts : &defaults;
    char dir[FILE_MAX], base[256], final[FILE_MAX + 256];
    struct save_arg sa;
    struct stat st;
    sharr_array *src = (sharr_array *)a;
    int err;

    if ((err = save_args(a, dset, o, &sa)) < 0 ||
        (err = resolve_target(file, dir, sizeof dir, base, sizeof base)) < 0 ||
        (err = temp_name(dir, base, sa.where.file, sizeof sa.where.file)) < 0)
        return err;
    snprintf(final, sizeof final, "%s/%s", dir, base);
    if (stat(final, &st) == 0) {
        if (!S_ISREG(st.st_mode))
            return sharr__fail(SHARR_EINVAL, "%s is not a regular file",
                               final);
        /* Work on a copy: the original is untouched until the rename. */
        if ((err = copy_file(final, sa.where.file, st.st_mode & 07777)) < 0)
            return err;
    }
    err = run_one(pool, create_kernel, &sa, sizeof sa, 1, &src, NULL, 0, -1);
    if (err == 0 && !sa.write_data)
        err = save_filtered(pool, src, &sa, &o->run);
    if (err == 0)
        err = commit(sa.where.file, final, o->sync != 0);
    if (err < 0) {
        unlink(sa.where.file);
        sharr__errmsg_replace(sa.where.file, file);
    }
    return err;
}

/* ---- listing ---- */

struct list_ctx {
    const char *file;
    hid_t f;
    sharr_h5_entry *e;
    size_t n, cap;
};

static void describe_entry(struct list_ctx *c, const char *path,
                           const char *via)
{
    struct h5_target t;
    struct h5_meta m;
    sharr_h5_entry *e = &c->e[c->n++];
    hid_t d;

    memset(e, 0, sizeof *e);
    snprintf(e->path, sizeof e->path, "%s", path);
    snprintf(e->via, sizeof e->via, "%s", via);
    snprintf(t.file, sizeof t.file, "%s", c->file);
    snprintf(t.dset, sizeof t.dset, "%s", path);
    memset(&m, 0, sizeof m);
    if ((d = open_dataset(c->f, &t)) < 0 || read_meta(d, &m) < 0) {
        snprintf(e->cls, sizeof e->cls, "?");
        snprintf(e->why, sizeof e->why, "%s", sharr_errmsg());
        if (d >= 0)
            H5Dclose(d);
        return;
    }
    H5Dclose(d);
    snprintf(e->cls, sizeof e->cls, "%s", m.type.cls);
    snprintf(e->type, sizeof e->type, "%s", m.type.desc);
    snprintf(e->layout, sizeof e->layout, "%s", m.layout);
    snprintf(e->filters, sizeof e->filters, "%s", m.filters);
    e->space = m.space;
    e->ndim = (size_t)m.ndim;
    for (int i = 0; i < m.ndim; i++)
        e->shape[i] = m.dims[i];
    e->dtype = m.type.dtype;
    int rc = check_meta(&m);
    e->loadable = rc >= 0;
    if (rc != 0)
        snprintf(e->why, sizeof e->why, "%s", sharr_errmsg());
}

static herr_t visit_cb(hid_t g, const char *name, const H5L_info_t *info,
                       void *data)
{
    struct list_ctx *c = data;
    H5O_info_t oi;
    char path[DSET_MAX];
    const char *via = info->type == H5L_TYPE_SOFT ? "soft link"
                      : info->type == H5L_TYPE_EXTERNAL ? "external link"
                      : info->type == H5L_TYPE_HARD ? "" : "user-defined link";

    if (c->n == c->cap)
        return 1; /* stop: full */
    if ((size_t)snprintf(path, sizeof path, "/%s", name) >= sizeof path)
        return 0; /* a link path beyond DSET_MAX cannot be loaded anyway */
    if (H5Oget_info_by_name2(g, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
        sharr_h5_entry *e = &c->e[c->n++];
        memset(e, 0, sizeof *e);
        snprintf(e->path, sizeof e->path, "%s", path);
        snprintf(e->via, sizeof e->via, "%s", via);
        snprintf(e->cls, sizeof e->cls, "(dangling link)");
        h5_fail(SHARR_EHDF5, "the %s leads nowhere", via[0] ? via : "link");
        snprintf(e->why, sizeof e->why, "%s", sharr_errmsg());
        return 0;
    }
    if (oi.type == H5O_TYPE_DATASET)
        describe_entry(c, path, via);
    return 0;
}

static int list_kernel(const sharr_block *b)
{
    const struct h5_target *t = b->arg;
    struct list_ctx c;
    herr_t rc;

    h5_quiet();
    memset(&c, 0, sizeof c);
    c.file = t->file;
    c.e = (sharr_h5_entry *)((unsigned char *)b->result + 64);
    c.cap = (LIST_BYTES - 64) / sizeof *c.e;
    if ((c.f = open_file(t->file, false)) < 0)
        return SHARR_EHDF5;
    rc = H5Lvisit(c.f, H5_INDEX_NAME, H5_ITER_INC, visit_cb, &c);
    H5Fclose(c.f);
    memcpy(b->result, &c.n, sizeof c.n);
    if (rc < 0)
        return h5_fail(SHARR_EHDF5, "%s: cannot list the file's links",
                       t->file);
    if (c.n == c.cap)
        return sharr__fail(SHARR_ENOMEM, "%s has more than %zu datasets",
                           t->file, c.cap);
    return 0;
}

int sharr_h5_list(sharr_pool *pool, const char *file, sharr_h5_entry **out,
                  size_t *count)
{
    struct h5_target t;
    unsigned char *buf;
    size_t n;
    int err;

    *out = NULL;
    *count = 0;
    memset(&t, 0, sizeof t);
    if (!file)
        return sharr__fail(SHARR_EINVAL, "no file given");
    if ((err = absolute_existing(file, t.file, sizeof t.file)) < 0)
        return err;
    if (!(buf = malloc(LIST_BYTES)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    err = run_one(pool, list_kernel, &t, sizeof t, 0, NULL, buf, LIST_BYTES,
                  PROBE_TIMEOUT);
    if (err == 0) {
        memcpy(&n, buf, sizeof n);
        memmove(buf, buf + 64, n * sizeof **out);
        *out = (sharr_h5_entry *)(void *)buf;
        *count = n;
        return 0;
    }
    free(buf);
    return err;
}

void sharr_h5_list_free(sharr_h5_entry *list)
{
    free(list);
}
