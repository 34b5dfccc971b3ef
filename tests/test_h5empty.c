/*
 * test_h5empty.c - empty arrays through HDF5 and .npy: saves of every
 * empty shape (chunk and filter options given or not) read back by the
 * HDF5 C API with the same shape, loads of zero-size and null datasets,
 * .npy both ways, and row ranges of an empty array.
 */
#include "suite_pool.h"

#include <hdf5.h>

TestSuite(h5empty, .init = suite_setup, .fini = suite_teardown, .timeout = 120);

static const char *path(const char *base)
{
    return tu_file(dir, base);
}

/* The dataset's rank and dims as HDF5 itself reads them; -1 if it cannot
 * be opened. */
static int h5_dims(const char *file, const char *dset, hsize_t *dims)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT), d, s;
    int rank = -1;

    if (f < 0)
        return -1;
    if ((d = H5Dopen2(f, dset, H5P_DEFAULT)) >= 0) {
        if ((s = H5Dget_space(d)) >= 0) {
            rank = H5Sget_simple_extent_dims(s, dims, NULL);
            H5Sclose(s);
        }
        H5Dclose(d);
    }
    H5Fclose(f);
    return rank;
}

Test(h5empty, empty_arrays_save_with_their_shape_and_load_back)
{
    static const size_t shapes[][3] = {{0, 4, 0}, {5, 0, 0}, {0, 0, 0},
                                       {3, 0, 2}};
    static const size_t ndims[] = {2, 2, 1, 3};
    static const sharr_dtype dts[] = {SHARR_F32, SHARR_C128, SHARR_U16,
                                      SHARR_I64};

    for (int i = 0; i < 4; i++) {
        char label[16], dset[16];
        sharr_array *a, *b;
        snprintf(label, sizeof label, "e%d", i);
        snprintf(dset, sizeof dset, "/g/d%d", i);
        cr_assert_eq(sharr_array_create(tu_name(label), dts[i], ndims[i],
                                        shapes[i], NULL, &a), 0, "%s",
                     sharr_errmsg());
        /* Chunks and filters cannot apply to no elements: ignored. */
        sharr_save_opts o = {0};
        if (i % 2) {
            o.gzip = 4;
            o.shuffle = 1;
            o.chunk_ndim = 1;
            o.chunk[0] = 1;
        }
        cr_assert_eq(sharr_h5_save(i < 2 ? pool2 : NULL, a, path("e.h5"), dset,
                                   &o), 0, "%s", sharr_errmsg());
        hsize_t dims[8];
        cr_assert_eq(h5_dims(path("e.h5"), dset, dims), (int)ndims[i]);
        for (size_t k = 0; k < ndims[i]; k++)
            cr_assert_eq(dims[k], shapes[i][k], "shape %d axis %zu", i, k);
        snprintf(label, sizeof label, "b%d", i);
        cr_assert_eq(sharr_h5_load(i % 2 ? pool2 : NULL, path("e.h5"), dset,
                                   tu_name(label), NULL, &b), 0, "%s",
                     sharr_errmsg());
        cr_assert_eq(sharr_array_dtype(b), dts[i]);
        cr_assert_eq(sharr_array_ndim(b), ndims[i]);
        cr_assert_eq(memcmp(sharr_array_shape(b), shapes[i],
                            ndims[i] * sizeof(size_t)), 0);
        sharr_array_close(b);
        /* .npy both ways */
        snprintf(dset, sizeof dset, "e%d.npy", i);
        cr_assert_eq(sharr_npy_save(a, path(dset), NULL), 0, "%s",
                     sharr_errmsg());
        snprintf(label, sizeof label, "n%d", i);
        cr_assert_eq(sharr_npy_load(path(dset), tu_name(label), NULL, &b), 0,
                     "%s", sharr_errmsg());
        cr_assert_eq(sharr_array_ndim(b), ndims[i]);
        cr_assert_eq(memcmp(sharr_array_shape(b), shapes[i],
                            ndims[i] * sizeof(size_t)), 0);
        sharr_array_close(b);
        sharr_array_close(a);
    }
}

Test(h5empty, a_null_dataspace_loads_as_shape_0_and_into_checks_it)
{
    hid_t f = H5Fcreate(path("n.h5"), H5F_ACC_TRUNC, H5P_DEFAULT,
                        H5P_DEFAULT);
    hid_t sn = H5Screate(H5S_NULL);
    H5Dclose(H5Dcreate2(f, "null", H5T_STD_U8LE, sn, H5P_DEFAULT, H5P_DEFAULT,
                        H5P_DEFAULT));
    H5Sclose(sn);
    H5Fclose(f);
    sharr_array *b, *into, *wrong;
    size_t zero = 0, one = 1;

    cr_assert_eq(sharr_h5_load(pool2, path("n.h5"), "/null", tu_name("n"),
                               NULL, &b), 0, "%s", sharr_errmsg());
    cr_assert(sharr_array_dtype(b) == SHARR_U8 && sharr_array_ndim(b) == 1 &&
              sharr_array_shape(b)[0] == 0);
    sharr_array_close(b);
    cr_assert_eq(sharr_array_create(tu_name("i"), SHARR_U8, 1, &zero, NULL,
                                    &into), 0);
    cr_assert_eq(sharr_array_create(tu_name("w"), SHARR_U8, 1, &one, NULL,
                                    &wrong), 0);
    sharr_load_opts lo = {.into = tu_name("i")};
    cr_assert_eq(sharr_h5_load(pool2, path("n.h5"), "/null", NULL, &lo, &b), 0,
                 "%s", sharr_errmsg());
    sharr_array_close(b);
    lo.into = tu_name("w");
    cr_assert_eq(sharr_h5_load(pool2, path("n.h5"), "/null", NULL, &lo, &b),
                 SHARR_ESHAPE);
    /* Rows of an empty array: only the whole of it (0..0). */
    sharr_load_opts rows = {.row_start = 0, .row_end = 1};
    cr_assert_eq(sharr_h5_load(pool2, path("n.h5"), "/null", tu_name("r"),
                               &rows, &b), SHARR_EINVAL);
    cr_assert(!tu_exists(tu_name("r")));
    sharr_array_close(into);
    sharr_array_close(wrong);
}

Test(h5empty, a_zero_dimension_after_rows_loads_every_row_of_nothing)
{
    hsize_t dims[2] = {6, 0}, maxd[2] = {H5S_UNLIMITED, H5S_UNLIMITED},
            chunk[2] = {2, 4};
    hid_t f = H5Fcreate(path("z.h5"), H5F_ACC_TRUNC, H5P_DEFAULT,
                        H5P_DEFAULT);
    hid_t s = H5Screate_simple(2, dims, maxd), p = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(p, 2, chunk);
    H5Pset_deflate(p, 3);
    H5Dclose(H5Dcreate2(f, "z", H5T_IEEE_F64BE, s, H5P_DEFAULT, p,
                        H5P_DEFAULT));
    H5Pclose(p);
    H5Sclose(s);
    H5Fclose(f);
    sharr_array *b;

    for (int j = 0; j < 2; j++) {
        sharr_load_opts o = {.row_start = 1, .row_end = 4};
        const char *name = tu_name(j ? "z1" : "z0");
        cr_assert_eq(sharr_h5_load(j ? pool2 : NULL, path("z.h5"), "/z", name,
                                   j ? &o : NULL, &b), 0, "%s",
                     sharr_errmsg());
        cr_assert_eq(sharr_array_rows(b), j ? 3 : 6);
        cr_assert_eq(sharr_array_row_bytes(b), 0);
        cr_assert_eq(sharr_array_shape(b)[1], 0);
        sharr_array_close(b);
    }
}
