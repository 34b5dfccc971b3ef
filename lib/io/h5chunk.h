/*
 * h5chunk.h - private to lib/io/: the codecs of HDF5 chunks that sharr runs
 * itself (h5chunk.c): fletcher32, shuffle, deflate (libdeflate, the zlib
 * stream HDF5's deflate filter stores) and LZ4 (the framing of the HDF5 LZ4
 * plugin, filter 32004).  No HDF5 call and no HDF5 type here, so that the
 * decoder can be fuzzed on its own (tests/fuzz/fuzz_chunk.c).
 */
#ifndef SHARR_IO_H5CHUNK_H
#define SHARR_IO_H5CHUNK_H

#include "internal.h"

#include <stddef.h>
#include <stdint.h>

struct libdeflate_compressor;
struct libdeflate_decompressor;

#define CHUNK_MAX_FILTERS 8
#define CHUNK_FILTER_LZ4 32004

/* The filters sharr decodes, in the order HDF5 applied them on write. */
enum chunk_filter {
    CHUNK_SHUFFLE = 1,
    CHUNK_DEFLATE = 2,
    CHUNK_FLETCHER32 = 3,
    CHUNK_LZ4 = 4
};

struct chunk_pipe {
    int n;
    int f[CHUNK_MAX_FILTERS];
    size_t shuffle_elem[CHUNK_MAX_FILTERS]; /* shuffle: the element size */
    size_t chunk_bytes;      /* the decoded (unfiltered) chunk */
};

/* Two buffers the decoder alternates between, grown as needed, and its
 * libdeflate decompressor.  Zero it to start; release with
 * sharr__chunk_scratch_free(). */
struct chunk_scratch {
    unsigned char *buf[2];
    size_t cap;
    struct libdeflate_decompressor *dz;
};
void sharr__chunk_scratch_free(struct chunk_scratch *s);

/* Undo pipeline p on the stored chunk in[0..len) (filters whose bit is set
 * in mask were skipped when it was written).  *out points at the decoded
 * chunk of exactly p->chunk_bytes bytes: at `into` if not NULL (room for
 * p->chunk_bytes; the last filter undone writes there, so a failure may
 * leave it partly written), else in s's buffers.  Nothing of the
 * input is trusted: a short, overlong, bit-flipped or truncated chunk is an
 * SHARR_EHDF5 error that says what is wrong, never a crash.  At most one
 * compressor (deflate or LZ4) per pipeline.
 * @return 0, SHARR_EHDF5, SHARR_ENOMEM, SHARR_EUNSUPPORTED (two
 * compressors). */
int sharr__chunk_decode(const struct chunk_pipe *p, uint32_t mask,
                        const unsigned char *in, size_t len,
                        struct chunk_scratch *s, unsigned char *into,
                        const unsigned char **out);

/* The shuffle filter's byte layout: byte j of element i goes to j*n + i
 * (n elements of `elem` bytes; trailing bytes past n*elem stay in place). */
void sharr__shuffle(const unsigned char *in, unsigned char *out, size_t bytes,
                    size_t elem);
void sharr__unshuffle(const unsigned char *in, unsigned char *out,
                      size_t bytes, size_t elem);

/* HDF5's Fletcher-32 of data[0..len) (H5_checksum_fletcher32). */
uint32_t sharr__fletcher32(const unsigned char *data, size_t len);

/* Worst-case stored sizes of a chunk of `bytes` bytes (deflate: of
 * libdeflate's and zlib's, the larger). */
size_t sharr__deflate_bound(size_t bytes);
size_t sharr__lz4_bound(size_t bytes);

/* Compress in[0..len) into out (room for the bound above); *stored is the
 * size written.  deflate: a zlib stream at level 1..9 with libdeflate
 * (compressor *c of that level, allocated on first use; free it with
 * sharr__deflate_free()).  lz4: the HDF5 LZ4 plugin's framing, one block.
 * @return 0, SHARR_ENOMEM, SHARR_EIO. */
int sharr__deflate(struct libdeflate_compressor **c, int level,
                   const unsigned char *in, size_t len, unsigned char *out,
                   size_t cap, size_t *stored);
void sharr__deflate_free(struct libdeflate_compressor *c);
/* The same stream from zlib's compress2 at `level`: byte for byte what
 * HDF5's own deflate filter (and so h5py) stores.  Same returns. */
int sharr__zlib_deflate(int level, const unsigned char *in, size_t len,
                        unsigned char *out, size_t cap, size_t *stored);
int sharr__lz4(const unsigned char *in, size_t len, unsigned char *out,
               size_t cap, size_t *stored);

#endif
