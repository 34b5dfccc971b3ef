/*
 * h5sources.c - where a dataset's bytes come from.  External links,
 * external raw-data files (H5Pset_external) and virtual-dataset sources
 * (H5Pset_virtual) name other files, which HDF5 looks for under prefixes, in
 * the environment's search paths and in the current directory; an absolute
 * or ".." name escapes any prefix.  Before a load reads a dataset, every
 * file HDF5 could open for it must resolve (symlinks included, by realpath)
 * inside the directory of the file the user named; virtual sources are
 * followed into their own files.  Runs where the dataset is opened: in a
 * worker with a pool.
 */
#define _GNU_SOURCE
#include "h5io.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOURCE_DEPTH 8       /* virtual datasets of virtual datasets ... */
#define SEEN_MAX 4096        /* datasets checked behind one dataset */

struct confine {
    struct h5_dir *dir;
    size_t nseen, cap;
    struct seen {            /* datasets checked: where, and whether as */
        unsigned long fileno; /* the one named (names resolve otherwise) */
        haddr_t addr;
        bool top;
    } *seen;
};

static int check_dataset(struct confine *c, hid_t d, int depth);

static const char allow_hint[] = "set sharr_load_opts.allow_external to "
                                 "read it";

/* ---- paths ---- */

int sharr__h5_dir_of(const char *file, struct h5_dir *d)
{
    const char *slash = strrchr(file, '/');
    char dir[PATH_MAX];

    memset(d, 0, sizeof *d);
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - file + 1) : 1,
             slash ? file : ".");
    if (!realpath(dir, d->path))
        return sharr__fail_os(-errno, "%s", dir);
    d->len = strlen(d->path);
    return 0;
}

static bool inside(const struct h5_dir *d, const char *real)
{
    if (strcmp(d->path, "/") == 0)
        return true;
    return strncmp(real, d->path, d->len) == 0 && real[d->len] == '/';
}

/* 1 if `path` exists and resolves inside the directory, 0 if it does not
 * exist (HDF5 cannot open it either), else SHARR_EACCES. */
static int check_path(const struct h5_dir *d, const char *path,
                      const char *what)
{
    char real[PATH_MAX];

    if (!realpath(path, real))
        return 0;
    if (!inside(d, real))
        return sharr__fail(SHARR_EACCES, "%s %s%s%s%s is outside %s (the "
                           "directory of the file): %s", what, path,
                           strcmp(path, real) ? " (" : "",
                           strcmp(path, real) ? real : "",
                           strcmp(path, real) ? ")" : "", d->path,
                           allow_hint);
    return 1;
}

/* a/b as HDF5 combines a prefix and a name: b alone if it is absolute or
 * there is no prefix. */
static int join(const char *a, const char *b, char *out, size_t size)
{
    int n;

    if (!a || !*a || b[0] == '/')
        n = snprintf(out, size, "%s", b);
    else
        n = snprintf(out, size, "%s%s%s", a,
                     a[strlen(a) - 1] == '/' ? "" : "/", b);
    if (n < 0 || (size_t)n >= size)
        return sharr__fail(SHARR_EACCES, "the path %s/%s is too long to "
                           "check: %s", a ? a : "", b, allow_hint);
    return 0;
}

/* The directory of `file` as HDF5's "${ORIGIN}" means it ("" for none). */
static void origin_of(const char *file, char *out, size_t size)
{
    const char *slash = strrchr(file, '/');

    snprintf(out, size, "%.*s", slash ? (int)(slash - file + 1) : 0, file);
}

/* A prefix with a leading "${ORIGIN}" replaced by origin; false for a
 * prefix that means "none" (NULL, "" or "."). */
static bool expand_prefix(const char *prefix, const char *origin, char *out,
                          size_t size)
{
    static const char tag[] = "${ORIGIN}";

    if (!prefix || !*prefix || strcmp(prefix, ".") == 0)
        return false;
    if (strncmp(prefix, tag, sizeof tag - 1) == 0)
        snprintf(out, size, "%s%s", origin, prefix + sizeof tag - 1);
    else
        snprintf(out, size, "%s", prefix);
    return true;
}

/* ---- external raw data ---- */

/* The prefix HDF5 puts before a relative external or source name of a
 * dataset: $HDF5_EXTFILE_PREFIX (or $HDF5_VDS_PREFIX), else the access
 * property of the call that opened the dataset: our "${ORIGIN}" for the
 * dataset the user named (depth 0), none for the datasets behind a
 * virtual one (HDF5 opens those inside H5Dread, with default properties),
 * whose names therefore resolve against the current directory.  (Those it
 * opens inside H5Dopen2, to size an unlimited mapping, get our prefix: so
 * a name behind a virtual dataset is checked both ways.) */
static bool prefix_of(const char *env_name, const char *file, int depth,
                      char *out, size_t size)
{
    const char *env = getenv(env_name);
    char origin[PATH_MAX];

    origin_of(file, origin, sizeof origin);
    return expand_prefix(env && *env ? env : depth == 0 ? "${ORIGIN}" : NULL,
                         origin, out, size);
}

/* HDF5 opens prefix/name, or an absolute name as it is. */
static int check_external(const struct h5_dir *d, hid_t dcpl,
                          const char *file, int depth)
{
    char prefix[PATH_MAX], origin[PATH_MAX], name[PATH_MAX], full[PATH_MAX];
    bool has = prefix_of("HDF5_EXTFILE_PREFIX", file, depth, prefix,
                         sizeof prefix);
    bool both = depth > 0 && !has; /* see prefix_of */
    int n = H5Pget_external_count(dcpl), err;

    origin_of(file, origin, sizeof origin);

    for (int i = 0; i < n; i++) {
        off_t off;
        hsize_t size;
        memset(name, 0, sizeof name);
        if (H5Pget_external(dcpl, (unsigned)i, sizeof name, name, &off,
                            &size) < 0)
            return sharr__h5_fail(SHARR_EHDF5, "cannot read external file "
                                  "%d of the dataset", i);
        if (name[sizeof name - 1])
            return sharr__fail(SHARR_EACCES, "the name of external file %d "
                               "is too long to check: %s", i, allow_hint);
        if ((err = join(has ? prefix : NULL, name, full, sizeof full)) < 0 ||
            (err = check_path(d, full, "external raw-data file")) < 0)
            return err;
        if (both && ((err = join(origin, name, full, sizeof full)) < 0 ||
                     (err = check_path(d, full, "external raw-data file")) <
                         0))
            return err;
    }
    return 0;
}

/* ---- virtual-dataset sources ---- */

/* A source name may be printf-like: "%b" is a block number, "%%" a '%'. */
static bool has_block(const char *s)
{
    for (; *s; s++) {
        if (s[0] != '%')
            continue;
        if (s[1] == 'b')
            return true;
        if (s[1] == '%')
            s++;
    }
    return false;
}

static void unescape(const char *s, char *out, size_t size)
{
    size_t n = 0;

    for (; *s && n + 1 < size; s++) {
        if (s[0] == '%' && s[1] == '%')
            s++;
        out[n++] = *s;
    }
    out[n] = '\0';
}

/* Does `name` match pattern `p` ("%b": one or more digits)? */
static bool matches(const char *p, const char *name)
{
    for (; *p; p++, name++) {
        if (p[0] == '%' && p[1] == 'b') {
            if (*name < '0' || *name > '9')
                return false;
            for (; *name >= '0' && *name <= '9'; name++)
                if (matches(p + 2, name + 1))
                    return true;
            return false;
        }
        if (p[0] == '%' && p[1] == '%')
            p++;
        if (*p != *name)
            return false;
    }
    return *name == '\0';
}

/* A malloc'ed copy of a virtual mapping's file or dataset name. */
static char *mapping_name(hid_t dcpl, size_t i, bool dset)
{
    ssize_t n = dset ? H5Pget_virtual_dsetname(dcpl, i, NULL, 0)
                     : H5Pget_virtual_filename(dcpl, i, NULL, 0);
    char *s = n >= 0 ? calloc((size_t)n + 1, 1) : NULL;

    if (s && (dset ? H5Pget_virtual_dsetname(dcpl, i, s, (size_t)n + 1)
                   : H5Pget_virtual_filename(dcpl, i, s, (size_t)n + 1)) < 0) {
        free(s);
        s = NULL;
    }
    return s;
}

struct visit {
    struct confine *c;
    int depth, err;
};

static herr_t visit_dataset(hid_t g, const char *name, const H5O_info_t *oi,
                            void *data)
{
    struct visit *v = data;
    hid_t d;

    if (oi->type != H5O_TYPE_DATASET)
        return 0;
    if ((d = H5Dopen2(g, name, H5P_DEFAULT)) < 0) {
        H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    v->err = check_dataset(v->c, d, v->depth);
    H5Dclose(d);
    return v->err < 0 ? 1 : 0;
}

/* The source dataset `dset` of open file f: every dataset of the file when
 * the name is a pattern (which datasets it means depends on the extent). */
static int check_in_file(struct confine *c, hid_t f, const char *dset,
                         int depth)
{
    struct visit v = {c, depth, 0};
    char name[DSET_MAX];
    hid_t d;

    if (has_block(dset)) {
        if (H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, visit_dataset, &v,
                      H5O_INFO_BASIC) < 0 && v.err == 0)
            H5Eclear2(H5E_DEFAULT);
        return v.err;
    }
    unescape(dset, name, sizeof name);
    if (!name[0] || !sharr__h5_path_exists(f, name))
        return 0; /* HDF5 fills a missing source */
    if ((d = H5Dopen2(f, name, H5P_DEFAULT)) < 0) {
        H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    v.err = check_dataset(c, d, depth);
    H5Dclose(d);
    return v.err;
}

/* The existing file `path` (inside): open it and check the source. */
static int check_file(struct confine *c, const char *path, const char *dset,
                      int depth)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    int err;

    if (f < 0) { /* not HDF5: HDF5 cannot use it either */
        H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    err = check_in_file(c, f, dset, depth);
    H5Fclose(f);
    if (err < 0)
        sharr__errmsg_prefix("in virtual-dataset source %s:%s", path, dset);
    return err;
}

/* What names a file, and how: a virtual mapping (a printf-like name whose
 * source dataset is checked in turn) or an external link (a plain name;
 * HDF5 checks the object it leads to when it is opened). */
struct naming {
    struct confine *c;       /* virtual: datasets seen; NULL for a link */
    struct h5_dir *dir;
    const char *what;
    const char *dset;        /* virtual: the source dataset */
    int depth;
};

/* Candidate prefix/temp: `prefix` is a plain path (NULL: none), `temp` the
 * name as stored, for a virtual source a pattern in its last component at
 * most.  Each file it names that exists must be inside. */
static int check_candidate(const struct naming *w, const char *prefix,
                           const char *temp)
{
    const char *slash = strrchr(temp, '/'), *base = slash ? slash + 1 : temp;
    char part[PATH_MAX], dir[PATH_MAX], one[PATH_MAX];
    bool vds = w->c != NULL;
    struct dirent *e;
    DIR *dp;
    int err;

    snprintf(one, sizeof one, "%.*s", slash ? (int)(base - temp) : 0, temp);
    vds ? unescape(one, part, sizeof part)
        : (void)snprintf(part, sizeof part, "%s", one);
    if ((err = join(prefix, part, dir, sizeof dir)) < 0)
        return err;
    if (!vds || !has_block(base)) {
        vds ? unescape(base, part, sizeof part)
            : (void)snprintf(part, sizeof part, "%s", base);
        if ((err = join(dir, part, one, sizeof one)) < 0 ||
            (err = check_path(w->dir, one, w->what)) <= 0 || !vds)
            return err < 0 ? err : 0;
        return check_file(w->c, one, w->dset, w->depth);
    }
    if (!(dp = opendir(dir[0] ? dir : ".")))
        return 0;
    while (err == 0 && (e = readdir(dp)) != NULL) {
        if (!matches(base, e->d_name) ||
            join(dir, e->d_name, one, sizeof one) < 0)
            continue;
        if ((err = check_path(w->dir, one, w->what)) > 0)
            err = check_file(w->c, one, w->dset, w->depth);
    }
    closedir(dp);
    return err;
}

/* Every place H5F_prefix_open_file() (HDF5 1.10) tries for a file `name`
 * given in `file`: the name itself if absolute (then its last component),
 * under each path of $`env` (HDF5_VDS_PREFIX, HDF5_EXT_PREFIX), under
 * `prefix` (NULL: none), beside the file, as given (relative to the current
 * directory), and beside the file's real path.  All that exist must be
 * inside: which one HDF5 takes depends on which it can open. */
static int check_named(const struct naming *w, const char *file,
                       const char *name, const char *env_name,
                       const char *prefix)
{
    const char *env = getenv(env_name), *temp = name;
    char origin[PATH_MAX], real[PATH_MAX];
    char *paths = NULL, *save = NULL;
    int err = 0;

    origin_of(file, origin, sizeof origin);
    if (name[0] == '/') {
        if ((err = check_candidate(w, NULL, name)) < 0)
            return err;
        temp = strrchr(name, '/') + 1;
    }
    if (env && *env && !(paths = strdup(env)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    for (char *p = paths ? strtok_r(paths, ":", &save) : NULL; p && !err;
         p = strtok_r(NULL, ":", &save))
        err = check_candidate(w, p, temp);
    free(paths);
    if (err == 0 && prefix)
        err = check_candidate(w, prefix, temp);
    if (err == 0 && origin[0])
        err = check_candidate(w, origin, temp);
    if (err == 0)
        err = check_candidate(w, NULL, temp);
    if (err == 0 && realpath(file, real)) {
        origin_of(real, origin, sizeof origin);
        err = check_candidate(w, origin, temp);
    }
    return err;
}

/* Source `src`:`dset` of a virtual dataset in file f (named `file`). */
static int check_source(struct confine *c, const char *file, hid_t f,
                        const char *src, const char *dset, int depth)
{
    const char *slash = strrchr(src, '/');
    struct naming w = {c, c->dir, "virtual-dataset source", dset, depth};
    char prefix[PATH_MAX];

    if (strcmp(src, ".") == 0)
        return check_in_file(c, f, dset, depth);
    if (slash && has_block(src) && !has_block(slash + 1))
        return sharr__fail(SHARR_EACCES, "virtual-dataset source '%s' has "
                           "a block number in a directory: it cannot be "
                           "checked: %s", src, allow_hint);
    return check_named(&w, file, src, "HDF5_VDS_PREFIX",
                       prefix_of("HDF5_VDS_PREFIX", file, depth - 1, prefix,
                                 sizeof prefix) ? prefix : NULL);
}

static int check_virtual(struct confine *c, hid_t dcpl, const char *file,
                         hid_t f, int depth)
{
    size_t n;
    int err = 0;

    if (depth >= SOURCE_DEPTH)
        return sharr__fail(SHARR_EACCES, "virtual datasets nest more than %d"
                           " deep: their sources cannot be checked: %s",
                           SOURCE_DEPTH, allow_hint);
    if (H5Pget_virtual_count(dcpl, &n) < 0)
        return sharr__h5_fail(SHARR_EHDF5, "cannot read the virtual "
                              "dataset's mappings");
    for (size_t i = 0; i < n && err == 0; i++) {
        char *src = mapping_name(dcpl, i, false);
        char *dset = mapping_name(dcpl, i, true);
        if (!src || !dset)
            err = sharr__h5_fail(SHARR_EHDF5, "cannot read the source of "
                                 "virtual mapping %zu", i);
        else
            err = check_source(c, file, f, src, dset, depth + 1);
        free(src);
        free(dset);
    }
    return err;
}

/* Remember dataset oi: 1, or 0 if it was checked already (or an error). */
static int first_time(struct confine *c, const H5O_info_t *oi, bool top)
{
    for (size_t i = 0; i < c->nseen; i++)
        if (c->seen[i].fileno == oi->fileno && c->seen[i].addr == oi->addr &&
            c->seen[i].top == top)
            return 0;
    if (c->nseen == SEEN_MAX)
        return sharr__fail(SHARR_EACCES, "more than %d datasets lie behind "
                           "this virtual dataset: they cannot all be "
                           "checked: %s", SEEN_MAX, allow_hint);
    if (c->nseen == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        struct seen *s = realloc(c->seen, cap * sizeof *s);
        if (!s)
            return sharr__fail(SHARR_ENOMEM, "out of memory");
        c->seen = s;
        c->cap = cap;
    }
    c->seen[c->nseen++] = (struct seen){oi->fileno, oi->addr, top};
    return 1;
}

/* Each dataset once (a virtual dataset may map itself, or two mappings
 * one source), or twice when it is also the one the user named.  Names
 * resolve from the file the dataset is in (an external link may have led
 * to another). */
static int check_dataset(struct confine *c, hid_t d, int depth)
{
    char file[PATH_MAX];
    H5O_info_t oi;
    hid_t dcpl = -1, f = -1;
    int err;

    if (H5Oget_info2(d, &oi, H5O_INFO_BASIC) < 0)
        return sharr__h5_fail(SHARR_EHDF5, "cannot identify a dataset");
    if ((err = first_time(c, &oi, depth == 0)) <= 0)
        return err;
    ssize_t n = H5Fget_name(d, file, sizeof file);
    if (n < 0 || (size_t)n >= sizeof file ||
        (dcpl = H5Dget_create_plist(d)) < 0 || (f = H5Iget_file_id(d)) < 0)
        err = sharr__h5_fail(SHARR_EHDF5, "cannot read a dataset's layout");
    else if (H5Pget_external_count(dcpl) > 0)
        err = check_external(c->dir, dcpl, file, depth);
    else if (H5Pget_layout(dcpl) == H5D_VIRTUAL)
        err = check_virtual(c, dcpl, file, f, depth);
    else
        err = 0;
    sharr__h5_close_id(&dcpl, H5Pclose);
    sharr__h5_close_id(&f, H5Fclose);
    return err;
}

/* Most datasets keep their bytes in the file: that is told cheaply. */
static bool self_contained(hid_t d)
{
    hid_t dcpl = H5Dget_create_plist(d);
    bool plain = dcpl >= 0 && H5Pget_external_count(dcpl) == 0 &&
                 H5Pget_layout(dcpl) != H5D_VIRTUAL;

    if (dcpl >= 0)
        H5Pclose(dcpl);
    return plain;
}

int sharr__h5_check_sources(hid_t d, const char *file)
{
    struct confine c = {0};
    struct h5_dir dir;
    int err;

    if (self_contained(d))
        return 0;
    if ((err = sharr__h5_dir_of(file, &dir)) < 0)
        return err;
    c.dir = &dir;
    err = check_dataset(&c, d, 0);
    free(c.seen);
    return err;
}

/* ---- external links ---- */

/* Before HDF5 opens the target file of an external link (H5Pset_elink_cb):
 * refuse one outside the directory, and say why in dir->err. */
static herr_t elink_cb(const char *parent_file, const char *parent_group,
                       const char *child_file, const char *child_object,
                       unsigned *acc_flags, hid_t fapl, void *data)
{
    struct h5_dir *dir = data;
    struct naming w = {NULL, dir, "external link target", NULL, 0};

    (void)parent_group;
    (void)child_object;
    (void)acc_flags;
    (void)fapl;
    dir->err = check_named(&w, parent_file, child_file, "HDF5_EXT_PREFIX",
                           NULL);
    return dir->err < 0 ? -1 : 0;
}

int sharr__h5_guard_elinks(hid_t lapl, struct h5_dir *dir)
{
    dir->err = 0;
    if (H5Pset_elink_cb(lapl, elink_cb, dir) < 0)
        return sharr__h5_fail(SHARR_EHDF5, "cannot guard external links");
    return 0;
}
