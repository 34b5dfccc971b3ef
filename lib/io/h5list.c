/*
 * h5list.c - the datasets of an HDF5 file, as sharr_h5_list() reports them.
 * A job visits the links and describes each dataset (type, shape,
 * layout, filters, whether it loads and why not) into the job's result;
 * the caller copies the entries out.  Dangling links are listed too.  A
 * file with more entries than one result holds takes several jobs, each
 * skipping the links the ones before it went through.
 */
#define _GNU_SOURCE
#include "h5io.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_BYTES ((size_t)16 << 20)
#define LIST_HEAD 64         /* struct list_head, then the entries */

/* A round of the listing: go through `skip` links quietly first. */
struct list_arg {
    struct h5_target t;
    uint64_t skip;
};

/* What a round reports at the start of its result. */
struct list_head {
    uint64_t n;              /* entries that follow */
    uint64_t links;          /* links gone through, the skipped ones too */
    uint64_t more;           /* 1: stopped full; another round goes on */
};

_Static_assert(sizeof(struct list_head) <= LIST_HEAD, "list head fits");

/* ---- listing ---- */

struct list_ctx {
    const char *file;
    hid_t f;
    sharr_h5_entry *e;
    size_t n, cap;
    uint64_t skip, links;
    bool more;
};

/* ---- attributes ---- */

struct attr_text {
    char *buf;
    size_t size, n;
    bool cut;
};

/* Append printf text to t, or mark it cut when it does not fit. */
__attribute__((format(printf, 2, 3)))
static void put(struct attr_text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->cut)
        return;
    va_start(ap, fmt);
    n = vsnprintf(t->buf + t->n, t->size - t->n, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->size - t->n - 4) {
        t->buf[t->n] = '\0';
        snprintf(t->buf + t->n, t->size - t->n, "...");
        t->cut = true;
        return;
    }
    t->n += (size_t)n;
}

/* s with control bytes, DEL, quotes and backslashes as \xNN: one line. */
static void put_escaped(struct attr_text *t, const char *s)
{
    for (; *s && !t->cut; s++)
        put(t, (unsigned char)*s < 0x20 || *s == 0x7f || *s == '"' ||
                       *s == '\\'
                   ? "\\x%02x" : "%c", (unsigned char)*s);
}

static void put_string(struct attr_text *t, const char *s)
{
    put(t, "\"");
    put_escaped(t, s);
    put(t, "\"");
}

static void put_value(struct attr_text *t, hid_t a, hid_t ft, hid_t sp)
{
    H5T_class_t c = H5Tget_class(ft);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    bool list = H5Sget_simple_extent_type(sp) == H5S_SIMPLE;

    if ((c == H5T_INTEGER || c == H5T_FLOAT) && n >= 0 && n <= 8) {
        bool sgn = c == H5T_FLOAT || H5Tget_sign(ft) != H5T_SGN_NONE;
        hid_t mt = c == H5T_FLOAT ? H5T_NATIVE_DOUBLE
                   : sgn ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64;
        union { double d[8]; long long i[8]; unsigned long long u[8]; } v;
        if (H5Aread(a, mt, &v) < 0)
            return put(t, "(unreadable)");
        put(t, list ? "[" : "");
        for (hssize_t i = 0; i < n; i++) {
            put(t, "%s", i ? ", " : "");
            if (c == H5T_FLOAT)
                put(t, "%.17g", v.d[i]);
            else if (sgn)
                put(t, "%lld", v.i[i]);
            else
                put(t, "%llu", v.u[i]);
        }
        put(t, list ? "]" : "");
    } else if (c == H5T_STRING && n == 1 && H5Tis_variable_str(ft) > 0) {
        char *s = NULL;
        hid_t mt = H5Tcopy(ft);
        if (mt >= 0 && H5Aread(a, mt, &s) >= 0 && s)
            put_string(t, s);
        else
            put(t, "(unreadable)");
        H5free_memory(s);
        if (mt >= 0)
            H5Tclose(mt);
    } else if (c == H5T_STRING && n == 1 && H5Tget_size(ft) < 4096) {
        char s[4097] = "";
        if (H5Aread(a, ft, s) >= 0)
            put_string(t, s);
        else
            put(t, "(unreadable)");
    } else {
        char desc[160];
        sharr__h5_describe_type(ft, desc, sizeof desc);
        put(t, "(%s, %lld elements)", desc, (long long)n);
    }
}

static herr_t attr_cb(hid_t loc, const char *name, const H5A_info_t *info,
                      void *data)
{
    struct attr_text *t = data;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), ft = -1, sp = -1;

    (void)info;
    put(t, "%s", t->n ? "\n" : "");
    put_escaped(t, name); /* a newline in a name would make two lines */
    put(t, " = ");
    if (a < 0 || (ft = H5Aget_type(a)) < 0 || (sp = H5Aget_space(a)) < 0)
        put(t, "(unreadable)");
    else
        put_value(t, a, ft, sp);
    sharr__h5_close_id(&sp, H5Sclose);
    sharr__h5_close_id(&ft, H5Tclose);
    sharr__h5_close_id(&a, H5Aclose);
    H5Eclear2(H5E_DEFAULT);
    return t->cut ? 1 : 0;
}

/* The attributes of dataset d, in name order, into buf. */
static void describe_attrs(hid_t d, char *buf, size_t size)
{
    struct attr_text t = {buf, size, 0, false};
    hsize_t idx = 0;

    buf[0] = '\0';
    H5Aiterate2(d, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_cb, &t);
    H5Eclear2(H5E_DEFAULT);
}

static void describe_entry(struct list_ctx *c, const char *path,
                           const char *via)
{
    struct h5_target t;
    struct h5_meta m;
    sharr_h5_entry *e = &c->e[c->n++];
    hid_t d;

    memset(e, 0, sizeof *e);
    memset(&t, 0, sizeof t);
    snprintf(e->path, sizeof e->path, "%s", path);
    snprintf(e->via, sizeof e->via, "%s", via);
    snprintf(t.file, sizeof t.file, "%s", c->file);
    snprintf(t.dset, sizeof t.dset, "%s", path);
    memset(&m, 0, sizeof m);
    if ((d = sharr__h5_open_dataset(c->f, &t)) < 0 ||
        sharr__h5_read_meta(d, &m) < 0) {
        snprintf(e->cls, sizeof e->cls, "?");
        snprintf(e->why, sizeof e->why, "%s", sharr_errmsg());
        if (d >= 0)
            H5Dclose(d);
        return;
    }
    snprintf(e->cls, sizeof e->cls, "%s", m.type.cls);
    snprintf(e->type, sizeof e->type, "%s", m.type.desc);
    snprintf(e->layout, sizeof e->layout, "%s", m.layout);
    snprintf(e->filters, sizeof e->filters, "%s", m.filters);
    e->space = m.space;
    e->ndim = (size_t)m.ndim;
    for (int i = 0; i < m.ndim; i++)
        e->shape[i] = m.dims[i];
    e->dtype = m.type.dtype;
    describe_attrs(d, e->attrs, sizeof e->attrs);
    int rc = sharr__h5_check_meta(&m);
    if (rc == 0)
        rc = sharr__h5_check_sources(d, c->file);
    H5Dclose(d);
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

    if (c->links < c->skip) {
        c->links++;
        return 0; /* listed by an earlier round */
    }
    if (c->n == c->cap) {
        c->more = true;
        return 1; /* stop: full; the next round starts at this link */
    }
    c->links++;
    if ((size_t)snprintf(path, sizeof path, "/%s", name) >= sizeof path)
        return 0; /* a link path beyond DSET_MAX cannot be loaded anyway */
    if (H5Oget_info_by_name2(g, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
        sharr_h5_entry *e = &c->e[c->n++];
        memset(e, 0, sizeof *e);
        snprintf(e->path, sizeof e->path, "%s", path);
        snprintf(e->via, sizeof e->via, "%s", via);
        snprintf(e->cls, sizeof e->cls, "(dangling link)");
        sharr__h5_fail(SHARR_EHDF5, "the %s leads nowhere",
                       via[0] ? via : "link");
        snprintf(e->why, sizeof e->why, "%s", sharr_errmsg());
        return 0;
    }
    if (oi.type == H5O_TYPE_DATASET)
        describe_entry(c, path, via);
    return 0;
}

static int list_kernel(const sharr_block *b)
{
    const struct list_arg *a = b->arg;
    struct list_head head;
    struct list_ctx c;
    herr_t rc;

    sharr__h5_quiet();
    memset(&c, 0, sizeof c);
    c.file = a->t.file;
    c.e = (sharr_h5_entry *)((unsigned char *)b->result + LIST_HEAD);
    c.cap = (LIST_BYTES - LIST_HEAD) / sizeof *c.e;
    c.skip = a->skip;
    if ((c.f = sharr__h5_open_file(a->t.file, false)) < 0)
        return SHARR_EHDF5;
    rc = H5Lvisit(c.f, H5_INDEX_NAME, H5_ITER_INC, visit_cb, &c);
    H5Fclose(c.f);
    head = (struct list_head){c.n, c.links, c.more};
    memcpy(b->result, &head, sizeof head);
    if (rc < 0)
        return sharr__h5_fail(SHARR_EHDF5, "%s: cannot list the file's links",
                              a->t.file);
    return 0;
}

/* Append a round's entries to *list (of *count, room for *cap). */
static int append(sharr_h5_entry **list, size_t *count, size_t *cap,
                  const unsigned char *buf, size_t n)
{
    if (n == 0) /* *list may still be NULL: no memcpy to it */
        return 0;
    if (*count + n > *cap) {
        size_t want = *cap ? *cap : 64;
        while (want < *count + n)
            want *= 2;
        sharr_h5_entry *grown = realloc(*list, want * sizeof **list);
        if (!grown)
            return sharr__fail(SHARR_ENOMEM, "out of memory for %zu "
                               "entries", *count + n);
        *list = grown;
        *cap = want;
    }
    memcpy(*list + *count, buf + LIST_HEAD, n * sizeof **list);
    *count += n;
    return 0;
}

/* Rounds until one goes through the last link. */
static int list_rounds(sharr_pool *pool, struct list_arg *a,
                       unsigned char *buf, sharr_h5_entry **out,
                       size_t *count)
{
    size_t cap = 0, most = (LIST_BYTES - LIST_HEAD) / sizeof **out;
    struct list_head head;
    int err;

    for (;;) {
        if ((err = sharr__h5_run_one(pool, list_kernel, a, sizeof *a, 0, NULL,
                                     buf, LIST_BYTES, PROBE_TIMEOUT)) < 0)
            return err;
        memcpy(&head, buf, sizeof head);
        if (head.n > most || (head.more && head.links <= a->skip))
            return sharr__fail(SHARR_EHDF5, "%s: the listing went wrong "
                               "(%llu entries, link %llu)", a->t.file,
                               (unsigned long long)head.n,
                               (unsigned long long)head.links);
        if ((err = append(out, count, &cap, buf, (size_t)head.n)) < 0)
            return err;
        if (!head.more)
            return 0;
        a->skip = head.links;
    }
}

int sharr_h5_list(sharr_pool *pool, const char *file, sharr_h5_entry **out,
                  size_t *count)
{
    struct list_arg a;
    struct h5_host host;
    unsigned char *buf;
    int err;

    *out = NULL;
    *count = 0;
    memset(&a, 0, sizeof a);
    if (!file)
        return sharr__fail(SHARR_EINVAL, "no file given");
    if ((err = sharr__h5_absolute_existing(file, a.t.file,
                                           sizeof a.t.file)) < 0)
        return err;
    if (!(buf = malloc(LIST_BYTES)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    sharr__h5_host_save(pool, &host);
    err = list_rounds(pool, &a, buf, out, count);
    sharr__h5_host_restore(&host);
    free(buf);
    if (err < 0) {
        free(*out);
        *out = NULL;
        *count = 0;
    } else if (!*out && !(*out = malloc(sizeof **out))) {
        err = sharr__fail(SHARR_ENOMEM, "out of memory");
    }
    return err;
}

void sharr_h5_list_free(sharr_h5_entry *list)
{
    free(list);
}
