/*
 * h5common.c - what HDF5 load, save and list share: HDF5 errors as sharr
 * codes, the type mapping, opening files and datasets, the layout
 * description, the probe of a dataset, the one-block job, absolute paths.
 *
 * Every HDF5 call happens inside a pool kernel, so with a pool the caller
 * never initializes HDF5 or holds a handle across a fork, and a corrupt file
 * that crashes the library costs a worker, not the caller.  Kernels open
 * the file themselves and close every handle before they return: no HDF5
 * object lives from one job to the next.
 */
#define _GNU_SOURCE
#include "h5io.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

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
int sharr__h5_fail(int code, const char *fmt, ...)
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
void sharr__h5_quiet(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void sharr__h5_host_save(const sharr_pool *pool, struct h5_host *h)
{
    memset(h, 0, sizeof *h);
    h->stack = -1;
    if (pool)
        return;
    /* The stack first: most HDF5 calls (H5Eget_auto2 too) clear it.  This
     * takes a copy and leaves the current stack empty. */
    h->stack = H5Eget_current_stack();
    h->saved = H5Eget_auto2(H5E_DEFAULT, &h->func, &h->data) >= 0;
}

void sharr__h5_host_restore(struct h5_host *h)
{
    if (h->saved)
        H5Eset_auto2(H5E_DEFAULT, h->func, h->data);
    if (h->stack >= 0) /* last, for the same reason */
        H5Eset_current_stack(h->stack); /* also closes the copy */
    h->saved = false;
    h->stack = -1;
}

void sharr__h5_close_id(hid_t *id, herr_t (*fn)(hid_t))
{
    if (*id >= 0)
        fn(*id);
    *id = -1;
}

int sharr__h5_str_attr(hid_t obj, const char *key, const char *value)
{
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR), a = -1;
    int err = 0;

    if (t < 0 || s < 0 || H5Tset_size(t, H5T_VARIABLE) < 0 ||
        H5Tset_cset(t, H5T_CSET_UTF8) < 0 ||
        (a = H5Acreate2(obj, key, t, s, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Awrite(a, t, &value) < 0)
        err = sharr__h5_fail(SHARR_EHDF5, "cannot write attribute %s", key);
    sharr__h5_close_id(&a, H5Aclose);
    sharr__h5_close_id(&s, H5Sclose);
    sharr__h5_close_id(&t, H5Tclose);
    return err;
}

/* ---- types ---- */

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
static int is_bool(hid_t t);

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
    if (c == H5T_ENUM && is_bool(t)) {
        snprintf(buf, size, "bool(enum)");
        return;
    }
    if (c == H5T_STRING && H5Tis_variable_str(t) > 0)
        snprintf(buf, size, "vlen-string");
    else if (c == H5T_STRING)
        snprintf(buf, size, "string(%zu)", sz);
    else
        snprintf(buf, size, "%s(%zu B)", class_name(c), sz);
}

void sharr__h5_describe_type(hid_t t, char *buf, size_t size)
{
    describe_type(t, buf, size);
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

/* h5py's bool: an enum of a 1-byte integer with exactly FALSE = 0 and
 * TRUE = 1.  Its bytes are 0 and 1, so it loads as u8. */
static int is_bool(hid_t t)
{
    static const char *const names[2] = {"FALSE", "TRUE"};
    hid_t base = H5Tget_super(t);
    int ok = H5Tget_size(t) == 1 && H5Tget_nmembers(t) == 2 && base >= 0 &&
             H5Tget_class(base) == H5T_INTEGER;

    for (unsigned i = 0; ok && i < 2; i++) {
        char *name = H5Tget_member_name(t, i);
        unsigned char v = 0xff;
        ok = name && H5Tget_member_value(t, i, &v) >= 0 && v < 2 &&
             strcmp(name, names[v]) == 0;
        H5free_memory(name);
    }
    if (base >= 0)
        H5Tclose(base);
    H5Eclear2(H5E_DEFAULT);
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
    else if (c == H5T_ENUM && is_bool(t))
        r->loadable = 1, r->dtype = SHARR_U8, r->as_is = 1;
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
hid_t sharr__h5_mem_type(sharr_dtype dt, const char *re, const char *im)
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
hid_t sharr__h5_file_type(sharr_dtype dt, int matlab)
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

int sharr__h5_not_hdf5(const char *path, const char *shown)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return 0; /* H5Fopen says why */
    if (S_ISDIR(st.st_mode))
        return sharr__fail(SHARR_EINVAL, "%s is a directory, not an HDF5 "
                           "file", shown);
    /* A FIFO or a device would block HDF5's open: never opened. */
    if (!S_ISREG(st.st_mode))
        return sharr__fail(SHARR_EINVAL, "%s is not a regular file, not an "
                           "HDF5 file", shown);
    if (H5Fis_hdf5(path) == 0) {
        H5Eclear2(H5E_DEFAULT);
        return sharr__fail(SHARR_EINVAL, "%s is not an HDF5 file (it has no "
                           "HDF5 signature)", shown);
    }
    H5Eclear2(H5E_DEFAULT);
    return 0;
}

hid_t sharr__h5_open_file(const char *path, bool write)
{
    hid_t f;
    int err;

    /* A directory or another kind of file is said so, not with HDF5's
     * raw stack ("bytes actually read = 18446744073709551615"). */
    if ((err = sharr__h5_not_hdf5(path, path)) < 0)
        return err;
    f = H5Fopen(path, write ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        sharr__h5_fail(SHARR_EHDF5, "%s: cannot open as an HDF5 file", path);
    return f;
}

/* ---- near names, for a dataset that does not exist ---- */

struct near {
    const char *want;
    size_t wlen;
    char best[3][DSET_MAX];
    size_t dist[3];
    int n;
    size_t visited;
};

/* Levenshtein distance of a and b, or a big number when the lengths alone
 * differ by more than `cap`. */
static size_t distance(const char *a, size_t na, const char *b, size_t nb,
                       size_t cap)
{
    size_t row[DSET_MAX + 1];

    if ((na > nb ? na - nb : nb - na) > cap || nb > DSET_MAX)
        return SIZE_MAX;
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j], c = diag + (a[i - 1] != b[j - 1]);
            c = c < up + 1 ? c : up + 1;
            c = c < row[j - 1] + 1 ? c : row[j - 1] + 1;
            diag = up;
            row[j] = c;
        }
    }
    return row[nb];
}

static herr_t near_cb(hid_t g, const char *name, const H5L_info_t *info,
                      void *data)
{
    struct near *nr = data;
    char path[DSET_MAX];
    size_t len, cap, d;
    const char *base;

    (void)g;
    (void)info;
    if (++nr->visited > 100000)
        return 1; /* enough: a huge file is not searched through */
    if ((size_t)snprintf(path, sizeof path, "/%s", name) >= sizeof path)
        return 0;
    len = strlen(path);
    cap = nr->wlen / 4 > 2 ? nr->wlen / 4 : 2;
    d = strcasecmp(path, nr->want) == 0 ? 0
        : distance(nr->want, nr->wlen, path, len, cap);
    base = strrchr(path, '/') + 1;
    if (d > cap && strcmp(base, strrchr(nr->want, '/') + 1) == 0)
        d = cap; /* the same name in another group */
    if (d > cap)
        return 0;
    /* Full: the third is replaced only by a nearer one. */
    bool full = nr->n == 3;
    int at = full ? 2 : nr->n++;
    if (full && nr->dist[2] <= d)
        return 0;
    nr->dist[at] = d;
    snprintf(nr->best[at], sizeof nr->best[at], "%s", path);
    for (int i = at; i > 0 && nr->dist[i] < nr->dist[i - 1]; i--) {
        char tmp[DSET_MAX];
        size_t td = nr->dist[i];
        memcpy(tmp, nr->best[i], sizeof tmp);
        memcpy(nr->best[i], nr->best[i - 1], sizeof tmp);
        memcpy(nr->best[i - 1], tmp, sizeof tmp);
        nr->dist[i] = nr->dist[i - 1];
        nr->dist[i - 1] = td;
    }
    return 0;
}

/* SHARR_ENOENT for t->dset, with the closest names the file has. */
static int no_such_dataset(hid_t f, const struct h5_target *t)
{
    struct near nr;
    char hint[3 * DSET_MAX + 64] = "";
    int n = 0;

    memset(&nr, 0, sizeof nr);
    nr.want = t->dset;
    nr.wlen = strlen(t->dset);
    H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, near_cb, &nr);
    H5Eclear2(H5E_DEFAULT);
    for (int i = 0; i < nr.n && n >= 0 && (size_t)n < sizeof hint; i++)
        n += snprintf(hint + n, sizeof hint - (size_t)n, "%s%s",
                      i == 0 ? "; did you mean " : i == nr.n - 1 ? " or "
                                                                 : ", ",
                      nr.best[i]);
    return sharr__fail(SHARR_ENOENT, "%s:%s: no such dataset%s%s ('sharr "
                       "h5ls %s' lists them)", t->file, t->dset, hint,
                       nr.n ? "?" : "", t->file);
}

/* 1 if every component of `path` exists as a link, else 0. */
int sharr__h5_path_exists(hid_t f, const char *path)
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

/* The failure of an open through dapl: the guard's refusal of an external
 * link if it made the open fail, else HDF5's. */
static int open_failed(const struct h5_target *t, const struct h5_dir *guard,
                       const char *what)
{
    if (guard->err < 0) {
        H5Eclear2(H5E_DEFAULT);
        return guard->err;
    }
    return sharr__h5_fail(SHARR_EHDF5, "%s:%s: cannot open the %s", t->file,
                          t->dset, what);
}

hid_t sharr__h5_open_dataset(hid_t f, const struct h5_target *t)
{
    struct h5_dir guard = {.err = 0};
    H5O_info_t oi;
    hid_t dapl = -1, d = -1;
    int err;

    if (strcmp(t->dset, "/") != 0 && !sharr__h5_path_exists(f, t->dset))
        return no_such_dataset(f, t);
    if ((dapl = dataset_access()) < 0)
        return sharr__h5_fail(SHARR_EHDF5, "cannot make access properties");
    /* External links are followed only into the file's directory. */
    if (!t->allow_external &&
        ((err = sharr__h5_dir_of(t->file, &guard)) < 0 ||
         (err = sharr__h5_guard_elinks(dapl, &guard)) < 0))
        goto done;
    if (H5Oget_info_by_name2(f, t->dset, &oi, H5O_INFO_BASIC, dapl) < 0)
        err = open_failed(t, &guard, "object");
    else if (oi.type != H5O_TYPE_DATASET)
        err = sharr__fail(SHARR_EINVAL, "%s:%s is a %s, not a dataset",
                          t->file, t->dset, oi.type == H5O_TYPE_GROUP
                              ? "group" : "named datatype");
    else if ((d = H5Dopen2(f, t->dset, dapl)) < 0)
        err = open_failed(t, &guard, "dataset");
done:
    H5Pclose(dapl);
    return d >= 0 ? d : err;
}

/* ---- layout description ---- */

/* The names of the filters HDF5 knows or has registered numbers for
 * (https://github.com/HDFGroup/hdf5_plugins, RegisteredFilterPlugins). */
static const char *filter_name(H5Z_filter_t id)
{
    switch (id) {
    case H5Z_FILTER_DEFLATE: return "deflate";
    case H5Z_FILTER_SHUFFLE: return "shuffle";
    case H5Z_FILTER_FLETCHER32: return "fletcher32";
    case H5Z_FILTER_SZIP: return "szip";
    case H5Z_FILTER_NBIT: return "nbit";
    case H5Z_FILTER_SCALEOFFSET: return "scaleoffset";
    case 305: return "lzo";
    case 307: return "bzip2";
    case 32000: return "lzf";
    case 32001: return "blosc";
    case 32004: return "lz4";
    case 32008: return "bitshuffle";
    case 32013: return "zfp";
    case 32015: return "zstd";
    case 32017: return "sz";
    case 32026: return "blosc2";
    default: return NULL;
    }
}

/* Why a dataset with filter id, which HDF5 cannot load, is refused, and
 * what to install. */
static void describe_missing(H5Z_filter_t id, const char *name, char *buf,
                             size_t size)
{
    char dir[512] = "";
    const char *hint = id == 32004 || id == 307
                           ? "install Debian's hdf5-filter-plugin"
                           : "install one (Python's hdf5plugin has many) "
                             "and set HDF5_PLUGIN_PATH to its directory";

    if (H5PLget(0, dir, sizeof dir) < 0)
        dir[0] = '\0';
    H5Eclear2(H5E_DEFAULT);
    snprintf(buf, size, "filter %d (%s) is not available (no HDF5 plugin "
             "for it in %s or $HDF5_PLUGIN_PATH): %s", (int)id,
             name ? name : "unknown", dir[0] ? dir : "HDF5's plugin path",
             hint);
}

static void describe_layout(hid_t dcpl, char *layout, size_t lsize,
                            char *filters, size_t fsize, char *missing,
                            size_t msize, uint64_t *chunk, int *chunk_ndim)
{
    hsize_t cdims[H5S_MAX_RANK];
    int n = 0, nf;

    chunk[0] = 0;
    missing[0] = '\0';
    *chunk_ndim = 0;
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
        *chunk_ndim = r > 0 ? r : 0;
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
        const char *sep = i ? "," : "", *known = filter_name(id);
        /* H5Zfilter_avail() loads a plugin filter if one is installed. */
        bool avail = id >= 0 && H5Zfilter_avail(id) > 0;
        if (id == H5Z_FILTER_DEFLATE)
            n += snprintf(filters + n, fsize - (size_t)n, "%sdeflate[%u]",
                          sep, ncd ? cd[0] : 0);
        else if (id >= 0 && id < H5Z_FILTER_RESERVED && known)
            n += snprintf(filters + n, fsize - (size_t)n, "%s%s", sep, known);
        else
            n += snprintf(filters + n, fsize - (size_t)n, "%s%s(%d)", sep,
                          known ? known : name[0] ? name : "filter", (int)id);
        if (!avail && (size_t)n < fsize)
            n += snprintf(filters + n, fsize - (size_t)n, "[missing]");
        if (!avail && !missing[0])
            describe_missing(id, known ? known : name[0] ? name : NULL,
                             missing, msize);
    }
    H5Eclear2(H5E_DEFAULT);
}

/* ---- probing a dataset ---- */

int sharr__h5_read_meta(hid_t d, struct h5_meta *m)
{
    hid_t t = H5Dget_type(d), s = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
    hsize_t dims[H5S_MAX_RANK];
    int err = 0;

    if (t < 0 || s < 0) {
        err = sharr__h5_fail(SHARR_EHDF5,
                             "cannot read the dataset's type or shape");
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
            err = sharr__h5_fail(SHARR_EHDF5,
                                 "cannot read the dataset's shape");
            goto done;
        }
        for (int i = 0; i < m->ndim; i++)
            m->dims[i] = dims[i];
    }
    describe_layout(dcpl, m->layout, sizeof m->layout, m->filters,
                    sizeof m->filters, m->missing, sizeof m->missing,
                    m->chunk, &m->chunk_ndim);
done:
    sharr__h5_close_id(&dcpl, H5Pclose);
    sharr__h5_close_id(&s, H5Sclose);
    sharr__h5_close_id(&t, H5Tclose);
    return err;
}

/* Rows per H5Dread for a chunked dataset: whole chunk rows, at most about
 * 4096 chunks at a time (0: unchunked, read a block at once).  Every
 * operand comes from the file, so nothing may overflow or divide by zero:
 * counts saturate, and the step is at most the rows there are. */
static uint64_t read_step(const struct h5_meta *m)
{
    uint64_t per_chunk_row = 1, step;

    if (m->ndim < 1 || m->ndim > H5S_MAX_RANK || !m->chunk[0] ||
        m->chunk_ndim != m->ndim)
        return 0;
    for (int i = 1; i < m->ndim; i++) {
        uint64_t c = m->chunk[i], n;
        if (c == 0)
            return 0;
        n = m->dims[i] / c + (m->dims[i] % c != 0);
        if (__builtin_mul_overflow(per_chunk_row, n, &per_chunk_row))
            per_chunk_row = UINT64_MAX;
    }
    if (per_chunk_row == 0) /* a dimension is 0: there is nothing to read */
        per_chunk_row = 1;
    if (__builtin_mul_overflow(m->chunk[0], per_chunk_row < 4096
                                                ? 4096 / per_chunk_row : 1,
                               &step) || step > m->dims[0])
        step = m->dims[0];
    return step;
}

int sharr__h5_probe_kernel(const sharr_block *b)
{
    const struct h5_target *t = b->arg;
    struct h5_meta *m = b->result;
    hid_t f, d = -1;
    int err;

    sharr__h5_quiet();
    if ((f = sharr__h5_open_file(t->file, false)) < 0)
        return SHARR_EHDF5;
    if ((d = sharr__h5_open_dataset(f, t)) < 0) {
        err = (int)d;
        goto done;
    }
    if (!t->allow_external && (err = sharr__h5_check_sources(d, t->file)))
        goto done;
    err = sharr__h5_read_meta(d, m);
    if (err < 0)
        sharr__errmsg_prefix("%s:%s", t->file, t->dset);
    else
        m->step = read_step(m);
done:
    sharr__h5_close_id(&d, H5Dclose);
    sharr__h5_close_id(&f, H5Fclose);
    return err;
}

/* Run a one-block job of `kernel` with `arg` and a result of result_size
 * bytes copied to `result`; a timeout (seconds, < 0 none) kills a hung
 * worker.  Errors come back with the kernel's own detail. */
int sharr__h5_run_one(sharr_pool *pool, sharr_kernel kernel, const void *arg,
                      size_t arg_size, size_t narrays,
                      sharr_array *const *arrays, void *result,
                      size_t result_size, double timeout)
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

/* The empty-result and unsupported cases of a probed dataset. */
/* "1x4294967296x4294967296" */
static void format_dims(const uint64_t *dims, int ndim, char *buf,
                        size_t size)
{
    int n = 0;

    buf[0] = '\0';
    for (int i = 0; i < ndim && n >= 0 && (size_t)n < size; i++)
        n += snprintf(buf + n, size - (size_t)n, "%s%llu", i ? "x" : "",
                      (unsigned long long)dims[i]);
}

/* The products of the shape a file declares: the element count and byte
 * size must fit a size_t, and a chunk shape must match the dataset's and
 * have no zero dimension (the load divides by it). */
static int check_sizes(const struct h5_meta *m)
{
    size_t bytes = sharr_dtype_size(m->type.dtype);
    char shape[H5S_MAX_RANK * 21 + 1];

    for (int i = 0; i < m->ndim; i++) {
        if (!sharr__mul_ok(bytes, m->dims[i], &bytes)) {
            format_dims(m->dims, m->ndim, shape, sizeof shape);
            return sharr__fail(SHARR_EOVERFLOW, "the dataset's shape %s of "
                               "%zu-byte elements overflows a 64-bit size",
                               shape, sharr_dtype_size(m->type.dtype));
        }
    }
    if (!m->chunk_ndim)
        return 0;
    if (m->chunk_ndim != m->ndim)
        return sharr__fail(SHARR_EHDF5, "the chunk shape has %d dimensions, "
                           "the dataset %d: the file is corrupt",
                           m->chunk_ndim, m->ndim);
    for (int i = 0; i < m->ndim; i++)
        if (m->chunk[i] == 0)
            return sharr__fail(SHARR_EHDF5, "chunk dimension %d is 0: the "
                               "file is corrupt", i);
    return 0;
}

int sharr__h5_check_meta(const struct h5_meta *m)
{
    if (m->ndim < 0 || m->ndim > H5S_MAX_RANK)
        return sharr__fail(SHARR_EHDF5, "the dataset has %d dimensions: the "
                           "file is corrupt", m->ndim);
    if (!m->type.loadable)
        return sharr__fail(SHARR_EUNSUPPORTED, "cannot load %s data (%s): "
                           "%s", m->type.cls, m->type.desc, m->type.why);
    if (m->missing[0])
        return sharr__fail(SHARR_EUNSUPPORTED, "cannot load: %s", m->missing);
    /* A null dataspace or a zero dimension is an empty array: loadable
     * (the load makes a null dataspace shape (0,)). */
    if (m->ndim > SHARR_MAX_NDIM)
        return sharr__fail(SHARR_EUNSUPPORTED, "the dataset has %d "
                           "dimensions; sharr arrays have at most %d",
                           m->ndim, SHARR_MAX_NDIM);
    return check_sizes(m);
}

/* ---- paths ---- */

/* An absolute form of `path` (which must exist) into buf. */
int sharr__h5_absolute_existing(const char *path, char *buf, size_t size)
{
    char tmp[PATH_MAX];

    if (!realpath(path, tmp))
        return sharr__fail(-errno, "%s: %s", path, strerror(errno));
    if (strlen(tmp) >= size)
        return sharr__fail(SHARR_EINVAL, "%s: path too long", path);
    memcpy(buf, tmp, strlen(tmp) + 1);
    return 0;
}

int sharr__h5_set_dset(char *buf, const char *dset)
{
    if (!dset || !*dset)
        return sharr__fail(SHARR_EINVAL, "no dataset path given");
    if (strlen(dset) + 2 > DSET_MAX)
        return sharr__fail(SHARR_EINVAL, "dataset path is too long");
    snprintf(buf, DSET_MAX, "%s%s", dset[0] == '/' ? "" : "/", dset);
    return 0;
}
