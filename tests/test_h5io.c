/*
 * test_h5io.c - HDF5 and .npy load/save through the library, with a pool
 * and in the caller.  Test files of types sharr does not write are made
 * with the HDF5 C API here.
 */
#include "suite_pool.h"

#include <hdf5.h>
#include <pthread.h>
#include <stdatomic.h>

TestSuite(h5io, .init = suite_setup, .fini = suite_teardown, .timeout = 120);

static const char *path(const char *base)
{
    return tu_file(dir, base);
}

static sharr_array *make(const char *label, sharr_dtype dt, size_t ndim,
                         const size_t *shape, const char *fill)
{
    sharr_array *a = NULL;
    sharr_fill_spec f;
    cr_assert_eq(sharr_array_create(tu_name(label), dt, ndim, shape, NULL, &a),
                 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_fill_parse(dt, fill, &f), 0);
    cr_assert_eq(sharr_fill(NULL, a, &f, NULL), 0);
    return a;
}

static void same_bytes(const sharr_array *a, const sharr_array *b)
{
    cr_assert_eq(sharr_array_dtype(a), sharr_array_dtype(b));
    cr_assert_eq(sharr_array_ndim(a), sharr_array_ndim(b));
    cr_assert_eq(sharr_array_nbytes(a), sharr_array_nbytes(b));
    cr_assert_eq(memcmp(sharr_array_data(a), sharr_array_data(b),
                        sharr_array_nbytes(a)), 0);
}

Test(h5io, every_dtype_round_trips_with_a_pool_and_in_the_caller)
{
    size_t shape[] = {9, 5, 3};
    for (int dt = SHARR_I8; dt <= SHARR_C128; dt++) {
        char label[16], back[16];
        snprintf(label, sizeof label, "rt%d", dt);
        sharr_array *a = make(label, (sharr_dtype)dt, 3, shape, "random:7");
        for (int filtered = 0; filtered < 2; filtered++) {
            sharr_pool *p = filtered ? pool2 : NULL;
            sharr_save_opts so = {.gzip = filtered ? 3 : 0,
                                  .shuffle = filtered};
            sharr_array *b;
            char dset[32];
            snprintf(dset, sizeof dset, "/d%d_%d", dt, filtered);
            cr_assert_eq(sharr_h5_save(p, a, path("rt.h5"), dset, &so), 0,
                         "%s", sharr_errmsg());
            snprintf(back, sizeof back, "b%d.%d", dt, filtered);
            cr_assert_eq(sharr_h5_load(filtered ? NULL : pool2, path("rt.h5"),
                                       dset, tu_name(back), NULL, &b), 0,
                         "%s", sharr_errmsg());
            same_bytes(a, b);
            sharr_array_close(b);
        }
        sharr_array_close(a);
    }
}

Test(h5io, missing_files_datasets_and_groups_are_clear_errors)
{
    size_t shape[] = {4};
    sharr_array *a = make("m", SHARR_F64, 1, shape, "range"), *b;
    cr_assert_eq(sharr_h5_load(pool2, path("none.h5"), "/x", tu_name("x"),
                               NULL, &b), SHARR_ENOENT);
    cr_assert(strstr(sharr_errmsg(), "none.h5") != NULL, "%s", sharr_errmsg());
    cr_assert_null(b);
    cr_assert_eq(sharr_h5_save(pool2, a, path("f.h5"), "/g/x", NULL), 0);
    cr_assert_eq(sharr_h5_load(pool2, path("f.h5"), "/g/y", tu_name("x"),
                               NULL, &b), SHARR_ENOENT);
    cr_assert(strstr(sharr_errmsg(), "/g/y: no such dataset") != NULL, "%s",
              sharr_errmsg());
    cr_assert_eq(sharr_h5_load(pool2, path("f.h5"), "/g", tu_name("x"), NULL,
                               &b), SHARR_EINVAL);
    cr_assert(strstr(sharr_errmsg(), "is a group") != NULL);
    FILE *f = fopen(path("text.h5"), "w");
    fputs("not hdf5\n", f);
    fclose(f);
    cr_assert_eq(sharr_h5_load(NULL, path("text.h5"), "/x", tu_name("x"),
                               NULL, &b), SHARR_EHDF5);
    cr_assert(strstr(sharr_errmsg(), "is not an HDF5 file") != NULL);
    cr_assert(!tu_exists(tu_name("x")), "a failed load left an array");
    sharr_array_close(a);
}

/* A file with a string, a null dataspace, a zero-size dataset and a
 * big-endian {im, re} complex compound, made with the HDF5 C API. */
static void odd_file(const char *p)
{
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t s1 = H5Screate(H5S_SCALAR), str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, 8);
    hid_t d = H5Dcreate2(f, "text", str, s1, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT);
    H5Dwrite(d, str, H5S_ALL, H5S_ALL, H5P_DEFAULT, "hello!!");
    H5Dclose(d);
    hid_t sn = H5Screate(H5S_NULL);
    H5Dclose(H5Dcreate2(f, "null", H5T_IEEE_F64LE, sn, H5P_DEFAULT,
                        H5P_DEFAULT, H5P_DEFAULT));
    hsize_t zero[2] = {0, 3}, three[1] = {3};
    hid_t sz = H5Screate_simple(2, zero, NULL);
    H5Dclose(H5Dcreate2(f, "zero", H5T_STD_I32BE, sz, H5P_DEFAULT,
                        H5P_DEFAULT, H5P_DEFAULT));
    hid_t c = H5Tcreate(H5T_COMPOUND, 16), s3 = H5Screate_simple(1, three,
                                                                 NULL);
    H5Tinsert(c, "im", 0, H5T_IEEE_F64BE);
    H5Tinsert(c, "re", 8, H5T_IEEE_F64BE);
    hid_t m = H5Tcreate(H5T_COMPOUND, 16);
    H5Tinsert(m, "re", 0, H5T_NATIVE_DOUBLE);
    H5Tinsert(m, "im", 8, H5T_NATIVE_DOUBLE);
    double z[6] = {1, -1, 2, -2, 3, -3};
    d = H5Dcreate2(f, "cplx", c, s3, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, m, H5S_ALL, H5S_ALL, H5P_DEFAULT, z);
    H5Dclose(d);
    H5Tclose(m);
    H5Tclose(c);
    H5Sclose(s3);
    H5Sclose(sz);
    H5Sclose(sn);
    H5Tclose(str);
    H5Sclose(s1);
    H5Fclose(f);
}

Test(h5io, unsupported_types_are_refused_and_empty_datasets_load_empty)
{
    sharr_array *b;
    odd_file(path("odd.h5"));
    cr_assert_eq(sharr_h5_load(pool2, path("odd.h5"), "/text", tu_name("t"),
                               NULL, &b), SHARR_EUNSUPPORTED);
    cr_assert(strstr(sharr_errmsg(), "/text: cannot load string data") != NULL,
              "%s", sharr_errmsg());
    /* A null dataspace loads as shape (0,); a zero dimension keeps its
     * shape (test_h5empty.c has the rest). */
    cr_assert_eq(sharr_h5_load(pool2, path("odd.h5"), "null", tu_name("n"),
                               NULL, &b), 0, "%s", sharr_errmsg());
    cr_assert(sharr_array_ndim(b) == 1 && sharr_array_shape(b)[0] == 0);
    sharr_array_close(b);
    cr_assert_eq(sharr_h5_load(NULL, path("odd.h5"), "/zero", tu_name("z"),
                               NULL, &b), 0, "%s", sharr_errmsg());
    cr_assert(sharr_array_ndim(b) == 2 && sharr_array_shape(b)[0] == 0 &&
              sharr_array_shape(b)[1] == 3 && sharr_array_dtype(b) == SHARR_I32);
    sharr_array_close(b);
    cr_assert(!tu_exists(tu_name("t")));
    cr_assert_eq(sharr_h5_load(pool2, path("odd.h5"), "/cplx", tu_name("c"),
                               NULL, &b), 0, "%s", sharr_errmsg());
    const double *z = sharr_array_data(b);
    cr_assert(z[0] == 1 && z[1] == -1 && z[4] == 3 && z[5] == -3,
              "member names decide, not their order or byte order");
    sharr_array_close(b);

    sharr_h5_entry *list;
    size_t n, found = 0;
    cr_assert_eq(sharr_h5_list(pool2, path("odd.h5"), &list, &n), 0);
    cr_assert_eq(n, 4);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].path, "/cplx") == 0)
            found += list[i].loadable && list[i].dtype == SHARR_C128;
        if (strcmp(list[i].path, "/text") == 0)
            found += !list[i].loadable && strcmp(list[i].cls, "string") == 0;
        if (strcmp(list[i].path, "/null") == 0)
            found += list[i].space == 2;
    }
    cr_assert_eq(found, 3);
    sharr_h5_list_free(list);
}

Test(h5io, saving_over_a_dataset_needs_force_and_bad_options_are_einval)
{
    size_t shape[] = {6, 4};
    sharr_array *a = make("s", SHARR_I32, 2, shape, "range"), *s0;
    sharr_save_opts o = {0};
    cr_assert_eq(sharr_h5_save(pool2, a, path("s.h5"), "/x", &o), 0);
    cr_assert_eq(sharr_h5_save(pool2, a, path("s.h5"), "/x", &o), SHARR_EEXIST);
    cr_assert(strstr(sharr_errmsg(), path("s.h5")) != NULL, "the message "
              "names the file, not a temporary one: %s", sharr_errmsg());
    o.force = 1;
    o.row_start = 4;
    cr_assert_eq(sharr_h5_save(pool2, a, path("s.h5"), "/x", &o), 0);
    sharr_array *b;
    cr_assert_eq(sharr_h5_load(pool2, path("s.h5"), "/x", tu_name("b"), NULL,
                               &b), 0);
    cr_assert_eq(sharr_array_rows(b), 2);
    cr_assert_eq(((const int32_t *)sharr_array_data(b))[0], 16);
    sharr_array_close(b);
    sharr_save_opts bad = {.chunk_ndim = 3, .chunk = {1, 1, 1}};
    cr_assert_eq(sharr_h5_save(pool2, a, path("s.h5"), "/y", &bad),
                 SHARR_EINVAL);
    bad = (sharr_save_opts){.chunk_ndim = 1, .chunk = {7}};
    cr_assert_eq(sharr_h5_save(pool2, a, path("s.h5"), "/y", &bad),
                 SHARR_EINVAL);
    bad = (sharr_save_opts){.gzip = 10};
    cr_assert_eq(sharr_h5_save(pool2, a, path("s.h5"), "/y", &bad),
                 SHARR_EINVAL);
    bad = (sharr_save_opts){.row_start = 5, .row_end = 5};
    cr_assert_eq(sharr_h5_save(pool2, a, path("s.h5"), "/y", &bad),
                 SHARR_EINVAL);
    s0 = make("s0", SHARR_F64, 0, NULL, "1");
    bad = (sharr_save_opts){.gzip = 1};
    cr_assert_eq(sharr_h5_save(pool2, s0, path("s.h5"), "/y", &bad),
                 SHARR_EINVAL);
    cr_assert(strstr(sharr_errmsg(), "scalar") != NULL);
    cr_assert_eq(sharr_h5_save(pool2, s0, path("s.h5"), "/y", NULL), 0);
    sharr_array_close(s0);
    sharr_array_close(a);
}

Test(h5io, load_into_checks_dtype_and_shape)
{
    size_t shape[] = {5, 2}, other[] = {5, 3};
    sharr_array *a = make("src", SHARR_F32, 2, shape, "random:1");
    sharr_array *same = make("same", SHARR_F32, 2, shape, "zeros");
    sharr_array *wrong = make("wrong", SHARR_F32, 2, other, "zeros");
    sharr_array *wdt = make("wdt", SHARR_F64, 2, shape, "zeros"), *b;
    cr_assert_eq(sharr_h5_save(NULL, a, path("i.h5"), "/a", NULL), 0);
    sharr_load_opts o = {.into = tu_name("wrong")};
    cr_assert_eq(sharr_h5_load(pool2, path("i.h5"), "/a", NULL, &o, &b),
                 SHARR_ESHAPE);
    o.into = tu_name("wdt");
    cr_assert_eq(sharr_h5_load(pool2, path("i.h5"), "/a", NULL, &o, &b),
                 SHARR_EDTYPE);
    cr_assert(tu_exists(tu_name("wdt")), "a refused --into keeps the array");
    o.into = tu_name("same");
    cr_assert_eq(sharr_h5_load(pool2, path("i.h5"), "/a", NULL, &o, &b), 0);
    same_bytes(a, b);
    sharr_array_close(b);
    sharr_array_close(a);
    sharr_array_close(same);
    sharr_array_close(wrong);
    sharr_array_close(wdt);
}

Test(h5io, npy_files_round_trip_and_bad_ones_are_refused)
{
    size_t shape[] = {3, 7};
    sharr_array *a = make("np", SHARR_C64, 2, shape, "random:2"), *b;
    sharr_save_opts o = {0};
    cr_assert_eq(sharr_npy_save(a, path("a.npy"), &o), 0);
    cr_assert_eq(sharr_npy_save(a, path("a.npy"), &o), SHARR_EEXIST);
    cr_assert_eq(sharr_npy_load(path("a.npy"), tu_name("back"), NULL, &b), 0);
    same_bytes(a, b);
    sharr_array_close(b);

    /* Truncated data, then a broken header. */
    cr_assert_eq(truncate(path("a.npy"), 4096 + 50), 0);
    cr_assert_eq(sharr_npy_load(path("a.npy"), tu_name("t"), NULL, &b),
                 SHARR_ECORRUPT);
    cr_assert(!tu_exists(tu_name("t")));
    static const char h1[] = "\x93NUMPY\x01\x00\x10\x00{'descr': 1}   \n";
    static const char h2[] =
        "\x93NUMPY\x01\x00\x20\x00{'descr': '<f8', 'shape': (2,)}\n";
    FILE *f = fopen(path("bad.npy"), "w");
    fwrite(h1, 1, sizeof h1 - 1, f); /* fputs would stop at the NUL */
    fclose(f);
    cr_assert_eq(sharr_npy_load(path("bad.npy"), tu_name("t"), NULL, &b),
                 SHARR_EUNSUPPORTED);
    f = fopen(path("bad2.npy"), "w");
    fwrite(h2, 1, sizeof h2 - 1, f);
    fclose(f);
    cr_assert_eq(sharr_npy_load(path("bad2.npy"), tu_name("t"), NULL, &b),
                 SHARR_ECORRUPT);
    cr_assert_eq(sharr_npy_load(path("none.npy"), tu_name("t"), NULL, &b),
                 SHARR_ENOENT);
    cr_assert(!tu_exists(tu_name("t")));
    sharr_array_close(a);
}

/* A FIFO would block the open until some writer came; a directory or a
 * device is no .npy either: each is refused at once, leaving no array. */
Test(h5io, npy_load_of_a_fifo_directory_or_device_is_refused_at_once,
     .timeout = 15)
{
    const char *fifo = path("fifo.npy"), *sub = path("dir.npy");
    const char *const paths[] = {fifo, sub, "/dev/zero"};
    sharr_array *b = (sharr_array *)1;

    cr_assert_eq(mkfifo(fifo, 0600), 0, "mkfifo: %s", strerror(errno));
    cr_assert_eq(mkdir(sub, 0700), 0, "mkdir: %s", strerror(errno));
    for (size_t i = 0; i < 3; i++) {
        int rc = sharr_npy_load(paths[i], tu_name("nr"), NULL, &b);
        cr_expect_eq(rc, SHARR_EINVAL, "%s: %d (%s)", paths[i], rc,
                     sharr_errmsg());
        cr_expect(strstr(sharr_errmsg(), "not a regular file") ||
                  strstr(sharr_errmsg(), "is a directory"), "%s: %s",
                  paths[i], sharr_errmsg());
        cr_expect_null(b);
        cr_expect(!tu_exists(tu_name("nr")));
    }
    unlink(fifo);
    rmdir(sub);
}

/* ---- crafted metadata (issue 7) ---- */

/* Dataset `name` of `ndim` dims and chunks of one element: no chunk is
 * ever written, so any shape costs a few hundred bytes of file. */
static void huge_dataset(hid_t f, const char *name, hid_t type, int ndim,
                         const hsize_t *dims)
{
    hsize_t ones[H5S_MAX_RANK];
    for (int i = 0; i < ndim; i++)
        ones[i] = 1;
    hid_t s = H5Screate_simple(ndim, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    cr_assert(s >= 0 && H5Pset_chunk(dcpl, ndim, ones) >= 0);
    hid_t d = H5Dcreate2(f, name, type, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    cr_assert(d >= 0, "HDF5 refused the shape of %s", name);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(s);
}

Test(h5io, crafted_huge_shapes_are_refused_and_the_caller_lives)
{
    static const struct { const char *name; int ndim; hsize_t dims[5]; } c[] = {
        {"wrap3", 3, {1, (hsize_t)1 << 32, (hsize_t)1 << 32}}, /* the issue's */
        {"wrap5", 5, {1, 1 << 16, 1 << 16, 1 << 16, 1 << 16}},
        {"elems", 2, {(hsize_t)1 << 40, (hsize_t)1 << 40}},
        {"bytes", 1, {(hsize_t)1 << 62}},
    };
    hid_t f = H5Fcreate(path("huge.h5"), H5F_ACC_TRUNC, H5P_DEFAULT,
                        H5P_DEFAULT);
    for (size_t i = 0; i < sizeof c / sizeof *c; i++)
        huge_dataset(f, c[i].name, i == 3 ? H5T_IEEE_F64LE : H5T_STD_U8LE,
                     c[i].ndim, c[i].dims);
    H5Fclose(f);
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        for (int inline_ = 0; inline_ < 2; inline_++) {
            sharr_array *b;
            int rc = sharr_h5_load(inline_ ? NULL : pool2, path("huge.h5"),
                                   c[i].name, tu_name("huge"), NULL, &b);
            cr_assert_eq(rc, SHARR_EOVERFLOW, "%s: %s", c[i].name,
                         sharr_errmsg());
            cr_assert(strstr(sharr_errmsg(), "overflows a 64-bit size"),
                      "%s", sharr_errmsg());
            cr_assert_null(b);
            cr_assert(!tu_exists(tu_name("huge")));
        }
    }
    sharr_h5_entry *list;
    size_t n;
    cr_assert_eq(sharr_h5_list(NULL, path("huge.h5"), &list, &n), 0);
    cr_assert_eq(n, 4);
    for (size_t i = 0; i < n; i++)
        cr_assert(!list[i].loadable && strstr(list[i].why, "overflows"),
                  "%s: %s", list[i].path, list[i].why);
    sharr_h5_list_free(list);
}

/* A 1-d u8 dataset of n bytes kept in external file `ext`. */
static void external_dataset(hid_t f, const char *name, const char *ext,
                             hsize_t n)
{
    hid_t s = H5Screate_simple(1, &n, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    cr_assert(H5Pset_external(dcpl, ext, 0, n) >= 0);
    hid_t d = H5Dcreate2(f, name, H5T_STD_U8LE, s, H5P_DEFAULT, dcpl,
                         H5P_DEFAULT);
    cr_assert(d >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(s);
}

/* A virtual dataset of n u8 mapping all of src:/dset. */
static void virtual_dataset(hid_t f, const char *name, const char *src,
                            const char *dset, hsize_t n)
{
    hid_t s = H5Screate_simple(1, &n, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    cr_assert(H5Pset_virtual(dcpl, s, src, dset, s) >= 0);
    hid_t d = H5Dcreate2(f, name, H5T_STD_U8LE, s, H5P_DEFAULT, dcpl,
                         H5P_DEFAULT);
    cr_assert(d >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(s);
}

static void write_file(const char *p, const char *text)
{
    FILE *fp = fopen(p, "w");
    cr_assert_not_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* dir/in/x.h5 with external data and virtual sources in and out of dir/in */
static void sources_files(void)
{
    char in[128], p[160];
    snprintf(in, sizeof in, "%s/in", dir);
    mkdir(in, 0700);
    write_file(path("secret.bin"), "the secret, outside");
    snprintf(p, sizeof p, "%s/inside.bin", in);
    write_file(p, "0123456789");
    snprintf(p, sizeof p, "%s/link.bin", in);
    cr_assert_eq(symlink("../secret.bin", p), 0);
    hid_t s = H5Fcreate(path("src.h5"), H5F_ACC_TRUNC, H5P_DEFAULT,
                        H5P_DEFAULT);
    external_dataset(s, "data", "secret.bin", 10); /* fine where it is */
    H5Fclose(s);
    snprintf(p, sizeof p, "%s/nest.h5", in);
    s = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    external_dataset(s, "data", "/etc/passwd", 10);
    H5Fclose(s);
    snprintf(p, sizeof p, "%s/x.h5", in);
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    external_dataset(f, "passwd", "/etc/passwd", 10);
    external_dataset(f, "dotdot", "../secret.bin", 10);
    external_dataset(f, "link", "link.bin", 10);
    external_dataset(f, "ok", "inside.bin", 10);
    virtual_dataset(f, "vabs", path("src.h5"), "/data", 10);
    virtual_dataset(f, "vdotdot", "../src.h5", "/data", 10);
    virtual_dataset(f, "vnest", "nest.h5", "/data", 10);
    virtual_dataset(f, "vself", ".", "/ok", 10);
    external_dataset(f, "rel", "secret.bin", 10); /* not in in/ */
    virtual_dataset(f, "vrel", ".", "/rel", 10);
    H5Lcreate_external(path("src.h5"), "/data", f, "labs", H5P_DEFAULT,
                       H5P_DEFAULT);
    H5Lcreate_external("../src.h5", "/", f, "gdotdot", H5P_DEFAULT,
                       H5P_DEFAULT);
    H5Lcreate_external("nest.h5", "/data", f, "lnest", H5P_DEFAULT,
                       H5P_DEFAULT);
    H5Lcreate_external("x.h5", "/ok", f, "lok", H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
}

Test(h5io, external_data_and_virtual_sources_stay_in_the_files_directory)
{
    static const char *refused[] = {"passwd", "dotdot", "link", "vabs",
                                    "vdotdot", "vnest", "labs",
                                    "gdotdot/data", "lnest"};
    char x[160];
    sharr_array *b;
    sources_files();
    snprintf(x, sizeof x, "%s/in/x.h5", dir);
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        int rc = sharr_h5_load(i % 2 ? NULL : pool2, x, refused[i],
                               tu_name("e"), NULL, &b);
        cr_assert_eq(rc, SHARR_EACCES, "%s: %d %s", refused[i], rc,
                     sharr_errmsg());
        cr_assert(strstr(sharr_errmsg(), "is outside") &&
                  strstr(sharr_errmsg(), "allow_external"), "%s",
                  sharr_errmsg());
        cr_assert(!tu_exists(tu_name("e")));
    }
    for (int via_link = 0; via_link < 2; via_link++) {
        cr_assert_eq(sharr_h5_load(pool2, x, via_link ? "lok" : "ok",
                                   tu_name("o"), NULL, &b), 0, "%s",
                     sharr_errmsg());
        cr_assert_eq(memcmp(sharr_array_data(b), "0123456789", 10), 0);
        sharr_array_close(b);
        sharr_unlink(tu_name("o"));
    }
    /* Behind a virtual dataset, HDF5 resolves external names against the
     * current directory (of the caller here: pool NULL). */
    char in[128];
    snprintf(in, sizeof in, "%s/in", dir);
    cr_assert_eq(chdir(in), 0);
    cr_assert_eq(sharr_h5_load(NULL, x, "vself", tu_name("s"), NULL, &b), 0,
                 "%s", sharr_errmsg());
    cr_assert_eq(memcmp(sharr_array_data(b), "0123456789", 10), 0);
    sharr_array_close(b);
    cr_assert_eq(chdir(dir), 0);
    cr_assert_eq(sharr_h5_load(NULL, x, "vrel", tu_name("r"), NULL, &b),
                 SHARR_EACCES, "%s", sharr_errmsg());
    cr_assert(strstr(sharr_errmsg(), "secret.bin"), "%s", sharr_errmsg());
    sharr_load_opts o = {.allow_external = 1};
    cr_assert_eq(sharr_h5_load(pool2, x, "dotdot", tu_name("d"), &o, &b), 0,
                 "%s", sharr_errmsg());
    cr_assert_eq(memcmp(sharr_array_data(b), "the secret", 10), 0);
    sharr_array_close(b);
    cr_assert_eq(sharr_h5_load(pool2, x, "gdotdot/data", tu_name("g"), &o,
                               &b), 0, "%s", sharr_errmsg());
    cr_assert_eq(memcmp(sharr_array_data(b), "the secret", 10), 0);
    sharr_array_close(b);
    sharr_h5_entry *list;
    size_t n, refused_n = 0;
    cr_assert_eq(sharr_h5_list(NULL, x, &list, &n), 0);
    for (size_t i = 0; i < n; i++)
        refused_n += !list[i].loadable && strstr(list[i].why, "outside");
    cr_assert_eq(refused_n, 9, "the eight listed, and vrel seen from %s",
                 dir);
    sharr_h5_list_free(list);
}

/* ---- crafted .npy headers (issue 7) ---- */

/* A .npy 1.0 file whose header is exactly `text` (no padding, no newline:
 * the parser's copy ends where the text does) and `data` bytes of zeros. */
static void npy_file(const char *p, const char *text, size_t data)
{
    size_t n = strlen(text);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                             (unsigned char)n, (unsigned char)(n >> 8)};
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fwrite(pre, 1, sizeof pre, f);
    fwrite(text, 1, n, f);
    for (size_t i = 0; i < data; i++)
        fputc(0, f);
    fclose(f);
}

#define NPY_HEAD "{'descr': '<f8', 'fortran_order': False, "

/* No pool here, so that the suite runs under valgrind (which knows no
 * pidfd_open): the parser's overreads showed only there, not under ASan. */
Test(npy, crafted_headers_are_refused_without_reading_past_them,
     .init = suite_dir_setup, .fini = suite_dir_teardown, .timeout = 60)
{
    static const struct { const char *text; size_t data; int rc; } c[] = {
        {NPY_HEAD "'shape': (12345", 0, SHARR_ECORRUPT}, /* ends in digits */
        {NPY_HEAD "'shape': (", 0, SHARR_ECORRUPT},
        {NPY_HEAD "'shape': (3, ", 0, SHARR_ECORRUPT},
        {NPY_HEAD "'shape': (3,) ", 24, SHARR_ECORRUPT}, /* no '}' */
        {"{'descr': '<f8", 0, SHARR_ECORRUPT},
        {"{'descr': '<f8', 'fortran_order': Fals", 0, SHARR_ECORRUPT},
        {NPY_HEAD "'shape': (99999999999999999999999,)}", 8, SHARR_ECORRUPT},
        {NPY_HEAD "'shape': (-1,)}", 8, SHARR_ECORRUPT},
        {NPY_HEAD "'shape': (+3,)}", 24, SHARR_ECORRUPT},
        {NPY_HEAD "'shape': (1, 4, 4611686018427387904)}", 32,
         SHARR_ECORRUPT}, /* elements x 8 bytes overflow */
        {NPY_HEAD "'shape': (4294967296, 4294967296, 8)}", 8, SHARR_ECORRUPT},
        {NPY_HEAD "'shape': (1099511627776, 1048576)}", 8, SHARR_ECORRUPT},
        {NPY_HEAD "'shape': (1,1,1,1,1,1,1,1,1)}", 8, SHARR_EUNSUPPORTED},
        {"{'descr': '<f8', 'shape': (2,)}", 16, SHARR_ECORRUPT}, /* no order */
        {"{'fortran_order': False, 'shape': (2,)}", 16, SHARR_ECORRUPT},
        {"{}", 0, SHARR_ECORRUPT},
        {"", 0, SHARR_ECORRUPT},
        {NPY_HEAD "'descr': '<i4', 'shape': (2,)}", 16, SHARR_ECORRUPT},
        {"{'descr': '<f8' 'fortran_order': False 'shape': (2,)}", 16,
         SHARR_ECORRUPT}, /* no commas */
        {NPY_HEAD "'shape': (2,)}garbage", 16, SHARR_ECORRUPT},
        {"{'descr': '<f8', 'fortran_order': Falsely, 'shape': (2,)}", 16,
         SHARR_ECORRUPT},
    };
    sharr_array *b;
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        npy_file(path("c.npy"), c[i].text, c[i].data);
        int rc = sharr_npy_load(path("c.npy"), tu_name("c"), NULL, &b);
        cr_assert_eq(rc, c[i].rc, "header %zu \"%s\": %d %s", i, c[i].text,
                     rc, sharr_errmsg());
        cr_assert_null(b);
        cr_assert(!tu_exists(tu_name("c")));
    }
    /* What NumPy writes (and Python 2's "L" longs) still loads. */
    npy_file(path("ok.npy"), NPY_HEAD "'shape': (2L, 1), }  \n", 16);
    cr_assert_eq(sharr_npy_load(path("ok.npy"), tu_name("ok"), NULL, &b), 0,
                 "%s", sharr_errmsg());
    cr_assert_eq(sharr_array_rows(b), 2);
    sharr_array_close(b);
}

/* ---- a host's own HDF5 error handling (issue 7) ---- */

static herr_t host_auto(hid_t stack, void *data)
{
    (void)stack;
    ++*(int *)data;
    return 0;
}

Test(h5io, a_null_pool_leaves_the_hosts_hdf5_error_handler_and_stack)
{
    size_t shape[] = {3};
    sharr_array *a = make("hst", SHARR_F64, 1, shape, "range"), *b;
    H5E_auto2_t func;
    void *data;
    int calls = 0;
    cr_assert_eq(sharr_h5_save(pool2, a, path("host.h5"), "/x", NULL), 0);
    write_file(path("nothdf5.h5"), "not an HDF5 file\n");

    /* The host prints its own way, and one of its calls failed. */
    H5Eset_auto2(H5E_DEFAULT, host_auto, &calls);
    cr_assert(H5Fopen(path("none.h5"), H5F_ACC_RDONLY, H5P_DEFAULT) < 0);
    cr_assert_eq(calls, 1);
    ssize_t pending = H5Eget_num(H5E_DEFAULT);
    cr_assert(pending > 0);

    sharr_h5_entry *list;
    size_t n;
    cr_assert_eq(sharr_h5_list(NULL, path("nothdf5.h5"), &list, &n),
                 SHARR_EHDF5);
    cr_assert_eq(sharr_h5_list(NULL, path("host.h5"), &list, &n), 0);
    sharr_h5_list_free(list);
    cr_assert_eq(sharr_h5_load(NULL, path("host.h5"), "/nope", tu_name("h"),
                               NULL, &b), SHARR_ENOENT);
    cr_assert_eq(sharr_h5_load(NULL, path("nothdf5.h5"), "/x", tu_name("h"),
                               NULL, &b), SHARR_EHDF5);
    cr_assert_eq(sharr_h5_load(NULL, path("host.h5"), "/x", tu_name("h"),
                               NULL, &b), 0);
    sharr_array_close(b);
    cr_assert_eq(sharr_h5_save(NULL, a, path("host.h5"), "/x", NULL),
                 SHARR_EEXIST);
    sharr_save_opts gz = {.gzip = 1};
    cr_assert_eq(sharr_h5_save(NULL, a, path("host.h5"), "/y", &gz), 0);

    cr_assert_eq(calls, 1, "sharr's own failures never reach the host");
    /* The stack first: H5Eget_auto2 clears it. */
    cr_assert_eq(H5Eget_num(H5E_DEFAULT), pending, "the stack is back");
    cr_assert_eq(H5Eget_auto2(H5E_DEFAULT, &func, &data), 0);
    cr_assert(func == host_auto && data == &calls, "the handler is back");
    cr_assert(H5Fopen(path("none.h5"), H5F_ACC_RDONLY, H5P_DEFAULT) < 0);
    cr_assert_eq(calls, 2, "and it still works");

    /* HDF5's default printing stays on too. */
    H5Eset_auto2(H5E_DEFAULT, (H5E_auto2_t)H5Eprint2, stderr);
    cr_assert_eq(sharr_h5_list(NULL, path("nothdf5.h5"), &list, &n),
                 SHARR_EHDF5);
    H5Eget_auto2(H5E_DEFAULT, &func, &data);
    cr_assert(func == (H5E_auto2_t)H5Eprint2 && data == stderr);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    sharr_array_close(a);
}

Test(h5io, a_file_without_datasets_lists_nothing)
{
    hid_t f = H5Fcreate(path("none.h5"), H5F_ACC_TRUNC, H5P_DEFAULT,
                        H5P_DEFAULT);
    H5Gclose(H5Gcreate2(f, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Fclose(f);
    for (int with_pool = 0; with_pool < 2; with_pool++) {
        sharr_h5_entry *list = (sharr_h5_entry *)1;
        size_t n = 99;
        cr_assert_eq(sharr_h5_list(with_pool ? pool2 : NULL, path("none.h5"),
                                   &list, &n), 0, "%s", sharr_errmsg());
        cr_assert_eq(n, 0);
        sharr_h5_list_free(list);
    }
}

/* A host that reaps every child it can and counts SIGCHLD. */
static atomic_int reaped, sigchlds;
static atomic_bool stop_reaping;

static void count_sigchld(int sig)
{
    (void)sig;
    atomic_fetch_add(&sigchlds, 1);
}

static void *reap_everything(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_reaping)) {
        if (waitpid(-1, NULL, WNOHANG) > 0)
            atomic_fetch_add(&reaped, 1);
        usleep(50);
    }
    return NULL;
}

Test(h5io, an_append_in_the_caller_is_invisible_to_a_reaping_host)
{
    size_t shape[] = {40, 30};
    sharr_array *a = make("ap", SHARR_F64, 2, shape, "random:3"), *b;
    sharr_save_opts so = {.append = 1};
    struct sigaction sa = {.sa_handler = count_sigchld}, old;
    pthread_t t;

    cr_assert_eq(sharr_h5_save(NULL, a, path("ap.h5"), "/first", NULL), 0,
                 "%s", sharr_errmsg());
    /* The guardian of the appends' staging arrays is forked once, by the
     * first (known: its short-lived intermediate is the caller's child). */
    for (int i = 0; i < 2; i++) {
        char dset[32];
        snprintf(dset, sizeof dset, "/w%d", i);
        so.gzip = i;
        cr_assert_eq(sharr_h5_save(NULL, a, path("ap.h5"), dset, &so), 0,
                     "%s", sharr_errmsg());
    }
    sigaction(SIGCHLD, &sa, &old);
    cr_assert_eq(pthread_create(&t, NULL, reap_everything, NULL), 0);
    for (int i = 0; i < 20; i++) {
        char dset[32];
        snprintf(dset, sizeof dset, "/g/a%d", i);
        so.gzip = i % 2;
        cr_assert_eq(sharr_h5_save(NULL, a, path("ap.h5"), dset, &so), 0,
                     "%s", sharr_errmsg());
    }
    atomic_store(&stop_reaping, true);
    pthread_join(t, NULL);
    sigaction(SIGCHLD, &old, NULL);
    /* The append's last writes run in a process of their own (h5ordered.c):
     * it has exit signal 0, so a host's reaper never sees it. */
    cr_assert_eq(atomic_load(&reaped), 0, "the host reaped %d children",
                 atomic_load(&reaped));
    cr_assert_eq(atomic_load(&sigchlds), 0, "the host got %d SIGCHLD",
                 atomic_load(&sigchlds));
    cr_assert_eq(sharr_h5_load(pool2, path("ap.h5"), "/g/a19", tu_name("apb"),
                               NULL, &b), 0, "%s", sharr_errmsg());
    same_bytes(a, b);
    sharr_array_close(b);
    sharr_array_close(a);
}
