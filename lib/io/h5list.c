/*
 * h5list.c - the datasets of an HDF5 file, as sharr_h5_list() reports them.
 * One job visits every link and describes each dataset (type, shape,
 * layout, filters, whether it loads and why not) into the job's result;
 * the caller copies the entries out.  Dangling links are listed too.
 */
#define _GNU_SOURCE
#include "h5io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_BYTES ((size_t)16 << 20)

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
    int rc = sharr__h5_check_meta(&m);
    if (rc == 0)
        rc = sharr__h5_check_sources(c->f, d, c->file);
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
    const struct h5_target *t = b->arg;
    struct list_ctx c;
    herr_t rc;

    sharr__h5_quiet();
    memset(&c, 0, sizeof c);
    c.file = t->file;
    c.e = (sharr_h5_entry *)((unsigned char *)b->result + 64);
    c.cap = (LIST_BYTES - 64) / sizeof *c.e;
    if ((c.f = sharr__h5_open_file(t->file, false)) < 0)
        return SHARR_EHDF5;
    rc = H5Lvisit(c.f, H5_INDEX_NAME, H5_ITER_INC, visit_cb, &c);
    H5Fclose(c.f);
    memcpy(b->result, &c.n, sizeof c.n);
    if (rc < 0)
        return sharr__h5_fail(SHARR_EHDF5, "%s: cannot list the file's links",
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
    if ((err = sharr__h5_absolute_existing(file, t.file, sizeof t.file)) < 0)
        return err;
    if (!(buf = malloc(LIST_BYTES)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    err = sharr__h5_run_one(pool, list_kernel, &t, sizeof t, 0, NULL, buf,
                            LIST_BYTES, PROBE_TIMEOUT);
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
