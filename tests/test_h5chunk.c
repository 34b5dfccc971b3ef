/*
 * test_h5chunk.c - the chunk codecs of lib/io/h5chunk.c on their own, and
 * direct chunk loads (lib/io/h5direct.c) through the library: against
 * HDF5's own read, with a pool and in the caller, and corrupt chunks.
 */
#include "suite_pool.h"
#include "io/h5chunk.h"

#include <hdf5.h>

TestSuite(h5chunk, .init = suite_setup, .fini = suite_teardown, .timeout = 120);

static void pattern(unsigned char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)(i % 13 == 0 ? i * 7 : i / 100);
}

/* shuffle, deflate, fletcher32 as HDF5 writes them. */
static size_t encode_sdf(const unsigned char *raw, size_t n, size_t elem,
                         unsigned char *out, size_t cap)
{
    unsigned char *shuf = malloc(n);
    struct libdeflate_compressor *z = NULL;
    size_t stored = 0;

    sharr__shuffle(raw, shuf, n, elem);
    cr_assert_eq(sharr__deflate(&z, 4, shuf, n, out, cap - 4, &stored), 0);
    sharr__deflate_free(z);
    uint32_t f = sharr__fletcher32(out, stored);
    for (int b = 0; b < 4; b++)
        out[stored + (size_t)b] = (unsigned char)(f >> (8 * b));
    free(shuf);
    return stored + 4;
}

static const struct chunk_pipe sdf = {
    3, {CHUNK_SHUFFLE, CHUNK_DEFLATE, CHUNK_FLETCHER32}, {8, 0, 0}, 8000};

/* The filter's definition, byte by byte: byte j of element i is at
 * j * n + i; bytes past the last whole element stay in place. */
Test(h5chunk, unshuffle_and_shuffle_follow_the_definition_for_every_size)
{
    static const size_t sizes[] = {0, 1, 15, 16, 17, 31, 32, 33, 47, 100,
                                   255, 256, 4096, 4111, 8193};
    for (size_t elem = 1; elem <= 20; elem++)
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
            for (size_t extra = 0; extra < (elem > 1 ? 2 : 1); extra++) {
                size_t n = sizes[k], bytes = n * elem + extra * (elem - 1);
                unsigned char *in = malloc(bytes + 1), *out = malloc(bytes + 1),
                              *back = malloc(bytes + 1);
                for (size_t b = 0; b < bytes; b++)
                    in[b] = (unsigned char)(b * 131 + b / 7 + elem);
                sharr__unshuffle(in, out, bytes, elem);
                for (size_t i = 0; i < n; i++)
                    for (size_t j = 0; j < elem; j++)
                        if (n > 1)
                            cr_assert_eq(out[i * elem + j], in[j * n + i],
                                         "elem %zu, n %zu: element %zu byte "
                                         "%zu", elem, n, i, j);
                cr_assert_eq(memcmp(out + n * elem, in + n * elem,
                                    bytes - n * elem), 0);
                sharr__shuffle(out, back, bytes, elem);
                cr_assert_eq(memcmp(back, in, bytes), 0,
                             "elem %zu, n %zu: no round trip", elem, n);
                free(in);
                free(out);
                free(back);
            }
}

Test(h5chunk, shuffle_deflate_fletcher32_round_trips)
{
    unsigned char raw[8000], enc[9000];
    const unsigned char *out;
    struct chunk_scratch s = {0};

    pattern(raw, sizeof raw);
    size_t len = encode_sdf(raw, sizeof raw, 8, enc, sizeof enc);
    cr_assert_lt(len, sizeof raw, "the pattern compresses");
    cr_assert_eq(sharr__chunk_decode(&sdf, 0, enc, len, &s, NULL, &out), 0, "%s",
                 sharr_errmsg());
    cr_assert_eq(memcmp(out, raw, sizeof raw), 0);
    sharr__chunk_scratch_free(&s);
}

Test(h5chunk, corrupt_chunks_are_errors_that_say_what_is_wrong)
{
    unsigned char raw[8000], enc[9000], bad[9000];
    const unsigned char *out;
    struct chunk_scratch s = {0};

    pattern(raw, sizeof raw);
    size_t len = encode_sdf(raw, sizeof raw, 8, enc, sizeof enc);
    memcpy(bad, enc, len);
    bad[len / 2] ^= 0x10;
    cr_assert_eq(sharr__chunk_decode(&sdf, 0, bad, len, &s, NULL, &out),
                 SHARR_EHDF5);
    cr_assert(strstr(sharr_errmsg(), "fletcher32 checksum mismatch"), "%s",
              sharr_errmsg());
    cr_assert_null(out);
    /* Without the checksum (mask bit 2), the flip reaches the inflater. */
    cr_assert_eq(sharr__chunk_decode(&sdf, 4, bad, len - 4, &s, NULL, &out),
                 SHARR_EHDF5);
    cr_assert(strstr(sharr_errmsg(), "deflate"), "%s", sharr_errmsg());
    /* Truncated, then too short for a checksum. */
    cr_assert_eq(sharr__chunk_decode(&sdf, 4, enc, len / 3, &s, NULL, &out),
                 SHARR_EHDF5);
    cr_assert(strstr(sharr_errmsg(), "corrupt or truncated"), "%s",
              sharr_errmsg());
    cr_assert_eq(sharr__chunk_decode(&sdf, 0, enc, 3, &s, NULL, &out), SHARR_EHDF5);
    cr_assert(strstr(sharr_errmsg(), "too short"), "%s", sharr_errmsg());
    /* A valid stream of another size. */
    struct chunk_pipe small = sdf;
    small.chunk_bytes = 4000;
    cr_assert_eq(sharr__chunk_decode(&small, 4, enc, len - 4, &s, NULL, &out),
                 SHARR_EHDF5);
    cr_assert(strstr(sharr_errmsg(), "more than the 4000 bytes"), "%s",
              sharr_errmsg());
    sharr__chunk_scratch_free(&s);
}

Test(h5chunk, lz4_in_the_plugins_framing_round_trips_and_refuses_bad_sizes)
{
    unsigned char raw[70000], enc[80000];
    const struct chunk_pipe p = {1, {CHUNK_LZ4}, {0}, sizeof raw};
    const unsigned char *out;
    struct chunk_scratch s = {0};
    size_t len;

    pattern(raw, sizeof raw);
    cr_assert_leq(sharr__lz4_bound(sizeof raw), sizeof enc);
    cr_assert_eq(sharr__lz4(raw, sizeof raw, enc, sizeof enc, &len), 0);
    /* 8-byte big-endian size, 4-byte big-endian block size */
    cr_assert_eq(enc[5], 0x01);
    cr_assert_eq(enc[6], 0x11);
    cr_assert_eq(enc[7], 0x70);
    cr_assert_eq(sharr__chunk_decode(&p, 0, enc, len, &s, NULL, &out), 0, "%s",
                 sharr_errmsg());
    cr_assert_eq(memcmp(out, raw, sizeof raw), 0);
    enc[7] ^= 1;
    cr_assert_eq(sharr__chunk_decode(&p, 0, enc, len, &s, NULL, &out), SHARR_EHDF5);
    cr_assert(strstr(sharr_errmsg(), "says it holds"), "%s", sharr_errmsg());
    enc[7] ^= 1;
    cr_assert_eq(sharr__chunk_decode(&p, 0, enc, len - 1, &s, NULL, &out),
                 SHARR_EHDF5);
    sharr__chunk_scratch_free(&s);
}

Test(h5chunk, fletcher32_matches_hdf5s_value)
{
    /* HDF5 sums big-endian 16-bit words (0x6162, 0x6364, then 0x6500 for
     * the odd byte), unlike the textbook little-endian Fletcher-32
     * (0xF04FC729): worked out by hand, s1 = 0x29C7, s2 = 0x4FF0.  That it
     * is HDF5's own value shows in test_chunks.py, which loads files HDF5
     * checksummed. */
    cr_assert_eq(sharr__fletcher32((const unsigned char *)"abcde", 5),
                 0x4FF029C7u, "0x%08x",
                 sharr__fletcher32((const unsigned char *)"abcde", 5));
}

/* A 3-d u16 big-endian dataset of 7x5x6 in chunks of 3x2x4 (edge chunks
 * on every side), shuffle + deflate + fletcher32, chunk (3, 2, 4) never
 * written, fill value 9. */
static void write_file(const char *file, uint16_t *want)
{
    hsize_t dims[3] = {7, 5, 6}, chunk[3] = {3, 2, 4};
    uint16_t fill = 9;
    hid_t f = H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
          sp = H5Screate_simple(3, dims, NULL),
          dcpl = H5Pcreate(H5P_DATASET_CREATE);
    cr_assert(f >= 0 && sp >= 0 && dcpl >= 0);
    H5Pset_chunk(dcpl, 3, chunk);
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 6);
    H5Pset_fletcher32(dcpl);
    H5Pset_fill_value(dcpl, H5T_NATIVE_UINT16, &fill);
    hid_t d = H5Dcreate2(f, "/x", H5T_STD_U16BE, sp, H5P_DEFAULT, dcpl,
                         H5P_DEFAULT);
    cr_assert(d >= 0);
    for (size_t i = 0; i < 7 * 5 * 6; i++)
        want[i] = (uint16_t)(i * 31 % 1000);
    /* Write all but the chunk at (3, 2, 4): rows 3..5, cols 2..3, 4..5. */
    hid_t fs = H5Dget_space(d);
    hsize_t start[3] = {0, 0, 0}, count[3] = {7, 5, 6};
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    hsize_t hs[3] = {3, 2, 4}, hc[3] = {3, 2, 2};
    H5Sselect_hyperslab(fs, H5S_SELECT_NOTB, hs, NULL, hc, NULL);
    hid_t ms = H5Scopy(fs);
    cr_assert_geq(H5Dwrite(d, H5T_NATIVE_UINT16, ms, fs, H5P_DEFAULT, want),
                  0);
    for (size_t r = 3; r < 6; r++)
        for (size_t c = 2; c < 4; c++)
            for (size_t k = 4; k < 6; k++)
                want[(r * 5 + c) * 6 + k] = fill;
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(f);
}

Test(h5chunk, direct_loads_equal_hdf5s_read_with_a_pool_and_in_the_caller)
{
    char file[128];
    uint16_t want[7 * 5 * 6];
    sharr_array *a = NULL;

    snprintf(file, sizeof file, "%s/d.h5", dir);
    write_file(file, want);
    cr_assert_eq(sharr_h5_load(pool2, file, "x", tu_name("p"), NULL, &a), 0,
                 "%s", sharr_errmsg());
    cr_assert_eq(memcmp(sharr_array_data(a), want, sizeof want), 0);
    sharr_unlink(sharr_array_name(a));
    sharr_array_close(a);
    /* In the caller, once directly and once through H5Dread. */
    for (int direct = 1; direct >= 0; direct--) {
        if (!direct)
            setenv("SHARR_H5_DIRECT", "0", 1);
        cr_assert_eq(sharr_h5_load(NULL, file, "/x", tu_name("c"), NULL, &a),
                     0, "%s", sharr_errmsg());
        cr_assert_eq(memcmp(sharr_array_data(a), want, sizeof want), 0,
                     "direct %d", direct);
        sharr_unlink(sharr_array_name(a));
        sharr_array_close(a);
    }
    unsetenv("SHARR_H5_DIRECT");
}

Test(h5chunk, a_corrupt_chunk_fails_naming_it_and_leaves_no_array)
{
    char file[128];
    uint16_t want[7 * 5 * 6];
    sharr_array *a = NULL;
    unsigned char junk[100];

    snprintf(file, sizeof file, "%s/bad.h5", dir);
    write_file(file, want);
    hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT),
          d = H5Dopen2(f, "/x", H5P_DEFAULT);
    hsize_t off[3] = {3, 2, 0};
    memset(junk, 0x5a, sizeof junk);
    /* fletcher32 skipped (mask bit 2): the junk reaches the inflater. */
    cr_assert_geq(H5Dwrite_chunk(d, H5P_DEFAULT, 4, off, sizeof junk, junk),
                  0);
    H5Dclose(d);
    H5Fclose(f);
    cr_assert_eq(sharr_h5_load(pool2, file, "/x", tu_name("bad"), NULL, &a),
                 SHARR_EHDF5);
    cr_assert(strstr(sharr_errmsg(), "chunk at (3, 2, 0)") &&
              strstr(sharr_errmsg(), "deflate"), "%s", sharr_errmsg());
    cr_assert_null(a);
    cr_assert_eq(sharr_array_open(tu_name("bad"), 0, &a), SHARR_ENOENT);
}

struct calls {
    size_t n, last_done, total, backwards, totals;
};

static void record(size_t done, size_t total, void *ctx)
{
    struct calls *c = ctx;
    if (c->n && done < c->last_done)
        c->backwards++;
    if (c->n && total != c->total)
        c->totals++;
    c->n++;
    c->last_done = done;
    c->total = total;
}

Test(h5chunk, a_compressed_save_reports_one_progress_from_0_to_its_total)
{
    size_t shape[2] = {64, 1000};
    sharr_array *a = NULL;
    sharr_save_opts o = {0};
    struct calls c = {0};
    char file[128];

    cr_assert_eq(sharr_array_create(tu_name("prog"), SHARR_F64, 2, shape,
                                    NULL, &a), 0);
    snprintf(file, sizeof file, "%s/prog.h5", dir);
    o.gzip = 1;
    o.chunk_ndim = 1;
    o.chunk[0] = 2; /* 32 chunks in about four windows: five jobs */
    o.run.progress = record;
    o.run.progress_ctx = &c;
    cr_assert_eq(sharr_h5_save(pool2, a, file, "/x", &o), 0, "%s",
                 sharr_errmsg());
    cr_assert_gt(c.n, 4, "%zu calls", c.n);
    cr_assert_eq(c.backwards, 0, "the bar went back %zu times", c.backwards);
    cr_assert_eq(c.totals, 0, "the total changed %zu times", c.totals);
    cr_assert_eq(c.last_done, c.total, "%zu of %zu at the end", c.last_done,
                 c.total);
    sharr_unlink(sharr_array_name(a));
    sharr_array_close(a);
}
