/*
 * npyio.c - NumPy .npy files in and out of shared arrays.
 *
 * A segment already starts with a .npy header, so saving is writing the
 * header (regenerated for the rows saved) and the rows.  Loading parses a
 * header written by any NumPy (format 1.0 to 3.0, the dict in any key
 * order) strictly: anything unexpected is SHARR_ECORRUPT or, for a valid
 * file sharr cannot hold, SHARR_EUNSUPPORTED.  Big-endian data is swapped
 * and float16 widened to f32 on the way in.  Saves go through a temporary
 * file beside the real target, renamed into place (target.c), like HDF5
 * saves.
 */
#define _GNU_SOURCE
#include "internal.h"
#include "target.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NPY_HEADER_MAX (1 << 20)

struct npy_header {
    sharr_dtype dtype;
    bool big_endian;
    bool half;               /* '<f2': stored as float16, loads as f32 */
    size_t file_item;        /* bytes per element in the file */
    size_t ndim;
    size_t shape[SHARR_MAX_NDIM];
    size_t data_offset;
};

/* ---- the header dict, a Python literal ---- */

struct cursor {
    const char *p, *end;
};

static void skip_space(struct cursor *c)
{
    while (c->p < c->end && isspace((unsigned char)*c->p))
        c->p++;
}

static bool take(struct cursor *c, char ch)
{
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* A quoted string ('...' or "...") into buf. */
static bool read_string(struct cursor *c, char *buf, size_t size)
{
    char q;
    size_t n = 0;

    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return false;
    q = *c->p++;
    while (c->p < c->end && *c->p != q) {
        if (n + 1 >= size || *c->p == '\0')
            return false;
        buf[n++] = *c->p++;
    }
    buf[n] = '\0';
    return c->p < c->end && *c->p++ == q;
}

static bool read_word(struct cursor *c, const char *word)
{
    size_t n = strlen(word);
    skip_space(c);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, word, n) == 0) {
        c->p += n;
        return true;
    }
    return false;
}

/* A decimal size (Python 2 wrote longs as "3L"), read digit by digit up
 * to the end of the text, never beyond: the text is not NUL-terminated.
 * @return 1, 0 if there is no number here, -1 if it overflows a size_t. */
static int read_size(struct cursor *c, size_t *out)
{
    const char *start;
    size_t v = 0;

    skip_space(c);
    for (start = c->p; c->p < c->end && *c->p >= '0' && *c->p <= '9';
         c->p++)
        if (!sharr__mul_ok(v, 10, &v) ||
            !sharr__add_ok(v, (size_t)(*c->p - '0'), &v))
            return -1;
    if (c->p == start)
        return 0;
    if (c->p < c->end && *c->p == 'L')
        c->p++;
    *out = v;
    return 1;
}

static int read_shape(struct cursor *c, struct npy_header *h)
{
    if (!take(c, '('))
        return sharr__fail(SHARR_ECORRUPT, "'shape' is not a tuple");
    h->ndim = 0;
    while (!take(c, ')')) {
        size_t v;
        int rc = read_size(c, &v);
        if (rc < 0)
            return sharr__fail(SHARR_ECORRUPT, "'shape' holds a dimension "
                               "beyond 2^64");
        if (rc == 0)
            return sharr__fail(SHARR_ECORRUPT, "'shape' holds something "
                               "that is not a size");
        if (h->ndim == SHARR_MAX_NDIM)
            return sharr__fail(SHARR_EUNSUPPORTED, "the array has more than "
                               "%d dimensions", SHARR_MAX_NDIM);
        h->shape[h->ndim++] = v;
        if (!take(c, ',') && !(skip_space(c), c->p < c->end && *c->p == ')'))
            return sharr__fail(SHARR_ECORRUPT, "'shape' is malformed");
    }
    return 0;
}

static int parse_descr(const char *d, struct npy_header *h)
{
    static const struct { const char *code; sharr_dtype dt; } map[] = {
        {"i1", SHARR_I8}, {"i2", SHARR_I16}, {"i4", SHARR_I32},
        {"i8", SHARR_I64}, {"u1", SHARR_U8}, {"u2", SHARR_U16},
        {"u4", SHARR_U32}, {"u8", SHARR_U64}, {"f2", SHARR_F32},
        {"f4", SHARR_F32}, {"f8", SHARR_F64}, {"c8", SHARR_C64},
        {"c16", SHARR_C128}};
    char order = d[0];

    if (order != '<' && order != '>' && order != '|' && order != '=')
        return sharr__fail(SHARR_EUNSUPPORTED, "dtype '%s' is not a plain "
                           "numeric type", d);
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        if (strcmp(d + 1, map[i].code) == 0) {
            h->dtype = map[i].dt;
            h->half = strcmp(map[i].code, "f2") == 0;
            h->file_item = h->half ? 2 : sharr_dtype_size(map[i].dt);
            h->big_endian = order == '>' && h->file_item > 1;
            return 0;
        }
    }
    return sharr__fail(SHARR_EUNSUPPORTED, "dtype '%s' has no sharr "
                       "equivalent (i1..i8, u1..u8, f2, f4, f8, c8, c16)", d);
}

/* Each key once, entries separated by commas, nothing but white space
 * after the closing brace (NumPy pads with spaces and a newline). */
static int parse_dict(const char *text, size_t len, struct npy_header *h)
{
    struct cursor c = {text, text + len};
    bool seen_descr = false, seen_order = false, seen_shape = false;
    int err;

    if (!take(&c, '{'))
        return sharr__fail(SHARR_ECORRUPT, "the header is not a dict");
    while (!take(&c, '}')) {
        char key[32], descr[64];
        if (!read_string(&c, key, sizeof key) || !take(&c, ':'))
            return sharr__fail(SHARR_ECORRUPT, "the header dict is "
                               "malformed");
        if ((strcmp(key, "descr") == 0 && seen_descr) ||
            (strcmp(key, "fortran_order") == 0 && seen_order) ||
            (strcmp(key, "shape") == 0 && seen_shape))
            return sharr__fail(SHARR_ECORRUPT, "header key '%s' appears "
                               "twice", key);
        if (strcmp(key, "descr") == 0) {
            bool quoted = read_string(&c, descr, sizeof descr);
            if (!quoted && c.p >= c.end)
                return sharr__fail(SHARR_ECORRUPT, "the header ends inside "
                                   "'descr'");
            if (!quoted)
                return sharr__fail(SHARR_EUNSUPPORTED, "structured dtypes "
                                   "are not supported");
            if ((err = parse_descr(descr, h)) < 0)
                return err;
            seen_descr = true;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (read_word(&c, "True"))
                return sharr__fail(SHARR_EUNSUPPORTED, "the array is in "
                                   "Fortran order; save it from "
                                   "numpy.ascontiguousarray(a)");
            if (!read_word(&c, "False"))
                return sharr__fail(SHARR_ECORRUPT, "'fortran_order' is "
                                   "neither True nor False");
            seen_order = true;
        } else if (strcmp(key, "shape") == 0) {
            if ((err = read_shape(&c, h)) < 0)
                return err;
            seen_shape = true;
        } else {
            return sharr__fail(SHARR_ECORRUPT, "unknown header key '%s'",
                               key);
        }
        if (!take(&c, ',') && !(skip_space(&c), c.p < c.end && *c.p == '}'))
            return sharr__fail(SHARR_ECORRUPT, "the header dict is "
                               "malformed after '%s'", key);
    }
    skip_space(&c);
    if (c.p != c.end)
        return sharr__fail(SHARR_ECORRUPT, "the header has bytes after its "
                           "dict");
    if (!seen_descr || !seen_order || !seen_shape)
        return sharr__fail(SHARR_ECORRUPT, "the header lacks descr, "
                           "fortran_order or shape");
    return 0;
}

static int read_header(int fd, struct npy_header *h)
{
    unsigned char pre[12];
    size_t hlen, start;
    char *text;
    int err;

    memset(h, 0, sizeof *h);
    if (pread(fd, pre, sizeof pre, 0) != (ssize_t)sizeof pre ||
        memcmp(pre, "\x93NUMPY", 6) != 0)
        return sharr__fail(SHARR_ECORRUPT, "not a .npy file (no \\x93NUMPY "
                           "magic)");
    if (pre[6] == 1) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
        start = 10;
    } else if (pre[6] == 2 || pre[6] == 3) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 |
               (size_t)pre[11] << 24;
        start = 12;
    } else {
        return sharr__fail(SHARR_EUNSUPPORTED, ".npy format version %d.%d is "
                           "not known", pre[6], pre[7]);
    }
    if (hlen == 0 || hlen > NPY_HEADER_MAX)
        return sharr__fail(SHARR_ECORRUPT, "header length %zu", hlen);
    if (!(text = malloc(hlen)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    if (pread(fd, text, hlen, (off_t)start) != (ssize_t)hlen)
        err = sharr__fail(SHARR_ECORRUPT, "the header is truncated");
    else
        err = parse_dict(text, hlen, h);
    free(text);
    h->data_offset = start + hlen;
    return err;
}

/* Elements times their size in the file and in memory fit a size_t. */
static bool shape_fits(const struct npy_header *h)
{
    size_t n = sharr_dtype_size(h->dtype);

    /* As NumPy: the nonzero axes must fit even when another axis is 0. */
    for (size_t i = 0; i < h->ndim; i++)
        if (h->shape[i] && !sharr__mul_ok(n, h->shape[i], &n))
            return false;
    return true;
}

/* ---- the data ---- */

static void swap_items(unsigned char *p, size_t n, size_t part)
{
    for (size_t i = 0; i < n; i++, p += part)
        for (size_t a = 0, b = part - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* Read `count` elements from `off` into dst (of the array's dtype). */
static int read_elements(int fd, const struct npy_header *h,
                         unsigned char *dst, size_t count, off_t off)
{
    size_t part = sharr_dtype_kind(h->dtype) == 'c' ? h->file_item / 2
                                                    : h->file_item;
    int err;

    if (!h->half) {
        if ((err = sharr__pread_all(fd, dst, count * h->file_item, off)) < 0)
            return err;
        if (h->big_endian)
            swap_items(dst, count * h->file_item / part, part);
        return 0;
    }
    /* float16: read into the upper half of the f32 space, widen there. */
    if ((err = sharr__pread_all(fd, dst + 2 * count, 2 * count, off)) < 0)
        return err;
    if (h->big_endian)
        swap_items(dst + 2 * count, count, 2);
    sharr__widen_halves(dst, count);
    return 0;
}

int sharr_npy_load(const char *path, const char *name,
                   const sharr_load_opts *opts, sharr_array **out)
{
    static const sharr_load_opts defaults;
    const sharr_load_opts *o = opts ? opts : &defaults;
    struct npy_header h;
    struct stat st;
    size_t shape[SHARR_MAX_NDIM], rows, r0 = 0, r1 = 1, per_row, need;
    sharr_array *a = NULL;
    int fd, err;

    *out = NULL;
    if (!o->into && (err = sharr_name_check(name)) < 0)
        return err;
    /* O_NONBLOCK: a FIFO's open would wait for a writer; refused below. */
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
        return sharr__fail_os(-errno, "%s", path);
    if (fstat(fd, &st) < 0) {
        err = sharr__fail_os(-errno, "fstat");
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        err = sharr__fail(SHARR_EINVAL, S_ISDIR(st.st_mode)
                          ? "%s is a directory, not a .npy file"
                          : "%s is not a regular file, not a .npy file", path);
        goto fail;
    }
    if ((err = read_header(fd, &h)) < 0)
        goto fail;
    rows = h.ndim ? h.shape[0] : 1;
    if ((err = sharr__pick_rows(rows, o->row_start, o->row_end, &r0, &r1)) < 0)
        goto fail;
    per_row = 1;
    for (size_t i = 1; i < h.ndim; i++)
        if (!sharr__mul_ok(per_row, h.shape[i], &per_row))
            break;
    memcpy(shape, h.shape, sizeof shape);
    if (h.ndim)
        shape[0] = r1 - r0;
    if (!shape_fits(&h)) {
        err = sharr__fail(SHARR_ECORRUPT, "the header's shape overflows a "
                          "64-bit byte size");
        goto fail;
    }
    if (!sharr__mul_ok(rows, per_row, &need) ||
        !sharr__mul_ok(need, h.file_item, &need) ||
        (size_t)st.st_size < h.data_offset ||
        (size_t)st.st_size - h.data_offset < need) {
        err = sharr__fail(SHARR_ECORRUPT, "the file is %lld bytes; its header"
                          " promises more data", (long long)st.st_size);
        goto fail;
    }
    /* A new array stays temporary until it is full (see h5io.c). */
    bool keep = false;
    sharr_create_opts co = sharr__staged_create(&o->create, &keep);
    err = o->into ? sharr__open_into(o->into, h.dtype, h.ndim, shape,
                                    o->at_set ? &o->at : NULL, &a)
                  : sharr_array_create(name, h.dtype, h.ndim, shape, &co, &a);
    if (err < 0)
        goto fail;
    size_t at = o->into && o->at_set ? o->at * sharr_array_row_bytes(a) : 0;
    err = read_elements(fd, &h, (unsigned char *)sharr_array_data(a) + at,
                        (r1 - r0) * per_row,
                        (off_t)(h.data_offset + r0 * per_row * h.file_item));
    if (err < 0 || (!o->into && keep && (err = sharr_array_keep(a)) < 0))
        goto fail;
    close(fd);
    *out = a;
    return 0;
fail:
    if (a && !o->into)
        sharr_unlink(sharr_array_name(a));
    sharr_array_close(a);
    close(fd);
    if (strncmp(sharr_errmsg(), path, strlen(path)) != 0)
        sharr__errmsg_prefix("%s", path);
    return err;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return sharr__fail_os(-errno, "writing");
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Header and rows into fd. */
static int write_npy(int fd, const sharr_array *a, size_t r0, size_t r1)
{
    unsigned char header[SHARR_DATA_OFFSET];
    size_t shape[SHARR_MAX_NDIM];
    const unsigned char *data = (const unsigned char *)sharr_array_data(a) +
                                r0 * sharr_array_row_bytes(a);
    int err;

    memcpy(shape, sharr_array_shape(a), sizeof shape);
    if (sharr_array_ndim(a))
        shape[0] = r1 - r0;
    sharr__npy_header(sharr_array_dtype(a), sharr_array_ndim(a), shape,
                      header);
    if ((err = write_all(fd, header, sizeof header)) == 0)
        err = write_all(fd, data, (r1 - r0) * sharr_array_row_bytes(a));
    return err;
}

/* Through a temporary beside the real file (target.c): the target is
 * replaced whole or not at all, and without force a file that appears
 * meanwhile is not replaced either. */
int sharr_npy_save(const sharr_array *a, const char *path,
                   const sharr_save_opts *opts)
{
    static const sharr_save_opts defaults;
    const sharr_save_opts *o = opts ? opts : &defaults;
    size_t rows = sharr_array_rows(a), r0, r1;
    struct sharr__target t;
    int fd = -1, err;

    if ((err = sharr__pick_rows(rows, o->row_start, o->row_end, &r0, &r1)) < 0)
        return err;
    if ((err = sharr__target_open(&t, path, o, 0)) < 0)
        goto done;
    if (t.exists && !o->force) {
        err = sharr__fail(SHARR_EEXIST, "%s exists: set sharr_save_opts.force"
                          " to replace it", path);
        goto done;
    }
    if ((err = sharr__target_temp(&t, false, &fd)) < 0)
        goto done;
    err = write_npy(fd, a, r0, r1);
    if (close(fd) < 0 && err == 0)
        err = sharr__fail_os(-errno, "%s", t.tmp);
    if (err == 0 &&
        (err = sharr__target_commit(&t, o->sync, o->force)) ==
            SHARR__TARGET_TAKEN)
        err = sharr__fail(SHARR_EEXIST, "%s was created meanwhile: set "
                          "sharr_save_opts.force to replace it", path);
done:
    if (err < 0 && t.tmp[0])
        sharr__errmsg_replace(t.tmp, path);
    sharr__target_close(&t);
    return err;
}
