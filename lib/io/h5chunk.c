/*
 * h5chunk.c - the chunk codecs sharr runs in its workers instead of HDF5's
 * filter pipeline: fletcher32, shuffle, deflate through libdeflate (the
 * same zlib stream HDF5's deflate filter reads and writes, about twice as
 * fast as zlib) and LZ4 in the framing of the HDF5 LZ4 plugin (32004: an
 * 8-byte big-endian decoded size, a 4-byte big-endian block size, then per
 * block a 4-byte big-endian stored size and the LZ4 block, or the raw block
 * when the stored size equals the block size).  Every input is untrusted:
 * sizes are checked before each copy and every codec is bounded by the
 * output size, so a corrupt chunk is an error, never a crash or a hang.
 */
#define _GNU_SOURCE
#include "h5chunk.h"

#include <libdeflate.h>
#include <lz4.h>
#include <zlib.h>

#include <stdlib.h>
#include <string.h>

/* ---- shuffle ---- */

#ifdef __SSE2__
#include <emmintrin.h>

/* One interleaving stage of unshuffle_simd(): unit width W bytes. */
static inline __m128i unpack_lo(__m128i a, __m128i b, int w)
{
    switch (w) {
    case 1: return _mm_unpacklo_epi8(a, b);
    case 2: return _mm_unpacklo_epi16(a, b);
    case 4: return _mm_unpacklo_epi32(a, b);
    default: return _mm_unpacklo_epi64(a, b);
    }
}

static inline __m128i unpack_hi(__m128i a, __m128i b, int w)
{
    switch (w) {
    case 1: return _mm_unpackhi_epi8(a, b);
    case 2: return _mm_unpackhi_epi16(a, b);
    case 4: return _mm_unpackhi_epi32(a, b);
    default: return _mm_unpackhi_epi64(a, b);
    }
}

/* The perfect-shuffle network of unshuffle_simd() on v[0..E): E vectors,
 * one per byte plane of 16 elements, interleaved in log2(E) stages of
 * unpacks of widening units, become the 16 elements in order.  v[g][r]
 * holds group g of planes (combined so far) for range r of the 16
 * elements; each stage pairs the groups and splits each range in two.
 * For E = 16 this is the transpose of a 16 x 16 byte matrix, its own
 * inverse, so shuffle_simd16() runs it too. */
static inline __attribute__((always_inline)) void interleave(__m128i *v,
                                                             const int E)
{
    __m128i t[16];
    /* groups * ranges == E throughout; index g * ranges + r */
    int groups = E, ranges = 1;
#pragma GCC unroll 4
    for (int w = 1; w < E; w *= 2) {
#pragma GCC unroll 8
        for (int g = 0; g < groups / 2; g++)
#pragma GCC unroll 8
            for (int r = 0; r < ranges; r++) {
                __m128i a = v[(2 * g) * ranges + r],
                        b = v[(2 * g + 1) * ranges + r];
                t[g * 2 * ranges + 2 * r] = unpack_lo(a, b, w);
                t[g * 2 * ranges + 2 * r + 1] = unpack_hi(a, b, w);
            }
        groups /= 2;
        ranges *= 2;
#pragma GCC unroll 16
        for (int j = 0; j < E; j++)
            v[j] = t[j];
    }
}

static inline __m128i load16(const unsigned char *p)
{
    return _mm_loadu_si128((const __m128i *)(const void *)p);
}

static inline void store16(unsigned char *p, __m128i v)
{
    _mm_storeu_si128((__m128i *)(void *)p, v);
}

/* Elements [0, n16) (n16 a multiple of 16) of an unshuffle of E-byte
 * elements (E = 2, 4, 8 or 16), 16 elements at a time. */
static inline __attribute__((always_inline)) void
unshuffle_simd(const unsigned char *in, unsigned char *out, size_t n,
               size_t n16, const int E)
{
    for (size_t i = 0; i < n16; i += 16) {
        __m128i v[16];
#pragma GCC unroll 16
        for (int j = 0; j < E; j++)
            v[j] = load16(in + (size_t)j * n + i);
        interleave(v, E);
#pragma GCC unroll 16
        for (int r = 0; r < E; r++)
            store16(out + i * (size_t)E + 16 * (size_t)r, v[r]);
    }
}

/* Elements [0, n16) of a shuffle of 2-byte elements: the low bytes of 16
 * elements packed into plane 0, the high bytes into plane 1. */
static void shuffle_simd2(const unsigned char *in, unsigned char *out,
                          size_t n, size_t n16)
{
    const __m128i low = _mm_set1_epi16(0xff);

    for (size_t i = 0; i < n16; i += 16) {
        __m128i a = load16(in + 2 * i), b = load16(in + 2 * i + 16);
        store16(out + i, _mm_packus_epi16(_mm_and_si128(a, low),
                                          _mm_and_si128(b, low)));
        store16(out + n + i, _mm_packus_epi16(_mm_srli_epi16(a, 8),
                                              _mm_srli_epi16(b, 8)));
    }
}

/* Elements [0, n16) of a shuffle of 16-byte elements: 16 elements are a
 * 16 x 16 byte matrix whose transpose is their 16 planes. */
static void shuffle_simd16(const unsigned char *in, unsigned char *out,
                           size_t n, size_t n16)
{
    for (size_t i = 0; i < n16; i += 16) {
        __m128i v[16];
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            v[j] = load16(in + (i + (size_t)j) * 16);
        interleave(v, 16);
#pragma GCC unroll 16
        for (int r = 0; r < 16; r++)
            store16(out + (size_t)r * n + i, v[r]);
    }
}
#endif

/* Elements [done, n) of a shuffle (un: unshuffle) of n elements of `elem`
 * bytes, then the bytes past the last whole element (in place).  In blocks
 * of 4096 elements, so each input byte is read from cache, not once per
 * byte position from memory (which would not scale over workers). */
static void reorder_rest(const unsigned char *in, unsigned char *out,
                         size_t bytes, size_t elem, size_t done, bool un)
{
    enum { BLOCK = 4096 };
    size_t n = elem ? bytes / elem : 0;

    if (elem <= 1 || n <= 1) {
        memcpy(out, in, bytes);
        return;
    }
    for (size_t i0 = done; i0 < n; i0 += BLOCK) {
        size_t i1 = n - i0 < BLOCK ? n : i0 + BLOCK;
        for (size_t j = 0; j < elem; j++) {
            const unsigned char *p = in + (un ? j * n : j);
            unsigned char *o = out + (un ? j : j * n);
            if (un)
                for (size_t i = i0; i < i1; i++)
                    o[i * elem] = p[i];
            else
                for (size_t i = i0; i < i1; i++)
                    o[i] = p[i * elem];
        }
    }
    memcpy(out + n * elem, in + n * elem, bytes - n * elem);
}

void sharr__shuffle(const unsigned char *in, unsigned char *out, size_t bytes,
                    size_t elem)
{
    size_t n = elem ? bytes / elem : 0, done = 0;

#ifdef __SSE2__
    if (n > 1 && (elem == 2 || elem == 16)) {
        done = n & ~(size_t)15;
        (elem == 2 ? shuffle_simd2 : shuffle_simd16)(in, out, n, done);
    }
#endif
    reorder_rest(in, out, bytes, elem, done, false);
}

void sharr__unshuffle(const unsigned char *in, unsigned char *out,
                      size_t bytes, size_t elem)
{
    size_t n = elem ? bytes / elem : 0, done = 0;

#ifdef __SSE2__
    size_t n16 = n & ~(size_t)15;
    if (n > 1) {
        switch (elem) {
        case 2: unshuffle_simd(in, out, n, n16, 2); done = n16; break;
        case 4: unshuffle_simd(in, out, n, n16, 4); done = n16; break;
        case 8: unshuffle_simd(in, out, n, n16, 8); done = n16; break;
        case 16: unshuffle_simd(in, out, n, n16, 16); done = n16; break;
        default: break;
        }
    }
#endif
    reorder_rest(in, out, bytes, elem, done, true);
}

/* ---- fletcher32 ---- */

/* As HDF5 computes it: 16-bit big-endian words, sums folded every 360. */
uint32_t sharr__fletcher32(const unsigned char *data, size_t len)
{
    size_t words = len / 2;
    uint32_t s1 = 0, s2 = 0;

    while (words) {
        size_t t = words > 360 ? 360 : words;
        words -= t;
        do {
            s1 += (uint32_t)((data[0] << 8) | data[1]);
            data += 2;
            s2 += s1;
        } while (--t);
        s1 = (s1 & 0xffff) + (s1 >> 16);
        s2 = (s2 & 0xffff) + (s2 >> 16);
    }
    if (len % 2) {
        s1 += (uint32_t)(*data << 8);
        s2 += s1;
        s1 = (s1 & 0xffff) + (s1 >> 16);
        s2 = (s2 & 0xffff) + (s2 >> 16);
    }
    s1 = (s1 & 0xffff) + (s1 >> 16);
    s2 = (s2 & 0xffff) + (s2 >> 16);
    return (s2 << 16) | s1;
}

/* The stored checksum is little-endian; HDF5 before 1.6.3 wrote it with
 * the bytes of each half swapped, which HDF5 still accepts, and so do we. */
static int check_fletcher(const unsigned char *in, size_t len)
{
    uint32_t want, got, rev;

    if (len < 4)
        return sharr__fail(SHARR_EHDF5, "the chunk is %zu bytes, too short "
                           "for its fletcher32 checksum", len);
    want = (uint32_t)in[len - 4] | (uint32_t)in[len - 3] << 8 |
           (uint32_t)in[len - 2] << 16 | (uint32_t)in[len - 1] << 24;
    got = sharr__fletcher32(in, len - 4);
    rev = ((got & 0x00ff00ffu) << 8) | ((got >> 8) & 0x00ff00ffu);
    if (want != got && want != rev)
        return sharr__fail(SHARR_EHDF5, "fletcher32 checksum mismatch "
                           "(stored 0x%08x, computed 0x%08x): the chunk is "
                           "corrupt", want, got);
    return 0;
}

/* ---- decoding ---- */

void sharr__chunk_scratch_free(struct chunk_scratch *s)
{
    free(s->buf[0]);
    free(s->buf[1]);
    libdeflate_free_decompressor(s->dz);
    memset(s, 0, sizeof *s);
}

static int scratch_grow(struct chunk_scratch *s, size_t need)
{
    if (need <= s->cap)
        return 0;
    for (int i = 0; i < 2; i++) {
        unsigned char *p = realloc(s->buf[i], need);
        if (!p)
            return sharr__fail(SHARR_ENOMEM, "out of memory for a chunk of "
                               "%zu bytes", need);
        s->buf[i] = p;
    }
    s->cap = need;
    return 0;
}

static int inflate_into(struct chunk_scratch *s, const unsigned char *in,
                        size_t len, unsigned char *out, size_t want)
{
    size_t got = 0;
    enum libdeflate_result r;

    if (!s->dz && !(s->dz = libdeflate_alloc_decompressor()))
        return sharr__fail(SHARR_ENOMEM, "out of memory for a decompressor");
    r = libdeflate_zlib_decompress(s->dz, in, len, out, want, &got);
    if (r == LIBDEFLATE_INSUFFICIENT_SPACE)
        return sharr__fail(SHARR_EHDF5, "the deflate stream inflates to more "
                           "than the %zu bytes of a chunk: the chunk is "
                           "corrupt", want);
    if (r != LIBDEFLATE_SUCCESS)
        return sharr__fail(SHARR_EHDF5, "the deflate stream of %zu bytes is "
                           "corrupt or truncated", len);
    if (got != want)
        return sharr__fail(SHARR_EHDF5, "the deflate stream inflates to %zu "
                           "bytes, not the %zu of a chunk: the chunk is "
                           "corrupt", got, want);
    return 0;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static int lz4_into(const unsigned char *in, size_t len, unsigned char *out,
                    size_t want)
{
    uint64_t orig;
    uint32_t block;
    size_t at = 12, done = 0;

    if (len < 12)
        return sharr__fail(SHARR_EHDF5, "the LZ4 chunk is %zu bytes, shorter "
                           "than its header", len);
    orig = (uint64_t)be32(in) << 32 | be32(in + 4);
    block = be32(in + 8);
    if (orig != want)
        return sharr__fail(SHARR_EHDF5, "the LZ4 chunk says it holds %llu "
                           "bytes, not the %zu of a chunk: it is corrupt",
                           (unsigned long long)orig, want);
    if (block == 0 && want > 0)
        return sharr__fail(SHARR_EHDF5, "the LZ4 chunk has a block size of "
                           "0: it is corrupt");
    while (done < want) {
        size_t b = want - done < block ? want - done : block;
        uint32_t stored;
        if (len - at < 4)
            return sharr__fail(SHARR_EHDF5, "the LZ4 chunk is truncated");
        stored = be32(in + at);
        at += 4;
        if (stored > len - at)
            return sharr__fail(SHARR_EHDF5, "an LZ4 block of %u bytes runs "
                               "past the end of the chunk", stored);
        if (stored == b) {
            memcpy(out + done, in + at, b);
        } else if (stored > (uint32_t)INT32_MAX || b > (size_t)INT32_MAX ||
                   LZ4_decompress_safe((const char *)in + at,
                                       (char *)out + done, (int)stored,
                                       (int)b) != (int)b) {
            return sharr__fail(SHARR_EHDF5, "an LZ4 block is corrupt");
        }
        at += stored;
        done += b;
    }
    return 0;
}

/* The decoded size after undoing filters n-1 down to i: the chunk plus four
 * bytes for each checksum still on it. */
static size_t size_before(const struct chunk_pipe *p, uint32_t mask, int i)
{
    size_t bytes = p->chunk_bytes;

    for (int k = 0; k < i; k++)
        if (p->f[k] == CHUNK_FLETCHER32 && !(mask & (1u << k)))
            bytes += 4;
    return bytes;
}

int sharr__chunk_decode(const struct chunk_pipe *p, uint32_t mask,
                        const unsigned char *in, size_t len,
                        struct chunk_scratch *s, unsigned char *into,
                        const unsigned char **out)
{
    const unsigned char *cur = in;
    int next = 0, err, last = -1;

    *out = NULL;
    if (p->n < 0 || p->n > CHUNK_MAX_FILTERS)
        return sharr__fail(SHARR_EHDF5, "a pipeline of %d filters", p->n);
    /* The size a decompressor must produce is known only below the first
     * compressor: a second one would have to trust the stream. */
    int coders = 0;
    for (int i = 0; i < p->n; i++)
        coders += p->f[i] == CHUNK_DEFLATE || p->f[i] == CHUNK_LZ4;
    if (coders > 1)
        return sharr__fail(SHARR_EUNSUPPORTED, "a pipeline with %d "
                           "compressors is left to HDF5", coders);
    /* Above the compressor (in write order) the sizes are the stream's. */
    int coder = -1;
    for (int i = 0; i < p->n; i++)
        if ((p->f[i] == CHUNK_DEFLATE || p->f[i] == CHUNK_LZ4) &&
            !(mask & (1u << i)))
            coder = i;
    if ((err = scratch_grow(s, (coder >= 0 ? len : 0) +
                                   size_before(p, 0, p->n) + 1)) < 0)
        return err;
    /* The last filter undone writes into `into` when what it gives is the
     * chunk itself (no checksum undone after it). */
    for (int i = p->n - 1; i >= 0; i--)
        if (!(mask & (1u << i)) && p->f[i] != CHUNK_FLETCHER32)
            last = i;
    if (last >= 0 && size_before(p, mask, last) != p->chunk_bytes)
        last = -1;
    for (int i = p->n - 1; i >= 0; i--) {
        size_t want = size_before(p, mask, i);
        unsigned char *dst = into && i == last ? into : s->buf[next];
        if (mask & (1u << i))
            continue;
        switch (p->f[i]) {
        case CHUNK_FLETCHER32:
            if ((err = check_fletcher(cur, len)) < 0)
                return err;
            len -= 4;
            continue; /* the data stays where it is */
        case CHUNK_DEFLATE:
            err = inflate_into(s, cur, len, dst, want);
            break;
        case CHUNK_LZ4:
            err = lz4_into(cur, len, dst, want);
            break;
        case CHUNK_SHUFFLE:
            if (i > coder && coder >= 0)
                want = len;
            else if (len != want)
                return sharr__fail(SHARR_EHDF5, "the chunk is %zu bytes "
                                   "before unshuffling, not %zu: it is "
                                   "corrupt", len, want);
            sharr__unshuffle(cur, dst, len, p->shuffle_elem[i]);
            err = 0;
            break;
        default:
            return sharr__fail(SHARR_EHDF5, "filter %d is not decoded here",
                               p->f[i]);
        }
        if (err < 0)
            return err;
        cur = dst;
        len = want;
        next = 1 - next;
    }
    if (len != p->chunk_bytes)
        return sharr__fail(SHARR_EHDF5, "the chunk holds %zu bytes, not the "
                           "%zu of a chunk: it is corrupt", len,
                           p->chunk_bytes);
    if (into && cur != into)
        memcpy(into, cur, len);
    *out = into ? into : cur;
    return 0;
}

/* ---- encoding ---- */

size_t sharr__deflate_bound(size_t bytes)
{
    size_t ld = libdeflate_zlib_compress_bound(NULL, bytes),
           z = (size_t)compressBound((uLong)bytes);
    return ld > z ? ld : z;
}

size_t sharr__lz4_bound(size_t bytes)
{
    /* Blocks of 1 GiB at most (sharr__lz4); chunks are below 4 GiB. */
    const size_t block = (size_t)1 << 30;
    size_t blocks = bytes / block + 1, b = bytes < block ? bytes : block;

    return 12 + blocks * (4 + (size_t)LZ4_COMPRESSBOUND(b));
}

int sharr__deflate(struct libdeflate_compressor **c, int level,
                   const unsigned char *in, size_t len, unsigned char *out,
                   size_t cap, size_t *stored)
{
    size_t n;

    if (!*c && !(*c = libdeflate_alloc_compressor(level)))
        return sharr__fail(SHARR_ENOMEM, "out of memory for a compressor");
    if ((n = libdeflate_zlib_compress(*c, in, len, out, cap)) == 0)
        return sharr__fail(SHARR_EIO, "libdeflate: the compressed chunk does "
                           "not fit %zu bytes", cap);
    *stored = n;
    return 0;
}

int sharr__zlib_deflate(int level, const unsigned char *in, size_t len,
                        unsigned char *out, size_t cap, size_t *stored)
{
    uLongf n = (uLongf)cap;
    int rc = compress2(out, &n, in, (uLong)len, level);

    if (rc == Z_MEM_ERROR)
        return sharr__fail(SHARR_ENOMEM, "out of memory for zlib");
    if (rc != Z_OK)
        return sharr__fail(SHARR_EIO, "zlib: the compressed chunk does not "
                           "fit %zu bytes (%s)", cap, zError(rc));
    *stored = n;
    return 0;
}

void sharr__deflate_free(struct libdeflate_compressor *c)
{
    libdeflate_free_compressor(c);
}

/* Blocks of at most 1 GiB, as the plugin's default; a block that does not
 * shrink is stored as it is, as the plugin does. */
int sharr__lz4(const unsigned char *in, size_t len, unsigned char *out,
               size_t cap, size_t *stored)
{
    const size_t block = (size_t)1 << 30;
    size_t bsize = len < block ? len : block, at = 12;

    if (cap < 12)
        return sharr__fail(SHARR_EIO, "no room for an LZ4 chunk");
    put_be32(out, (uint32_t)((uint64_t)len >> 32));
    put_be32(out + 4, (uint32_t)len);
    put_be32(out + 8, (uint32_t)bsize);
    for (size_t done = 0; done < len; done += bsize) {
        size_t b = len - done < bsize ? len - done : bsize;
        int n;
        if (cap - at < 4 + (size_t)LZ4_COMPRESSBOUND(b))
            return sharr__fail(SHARR_EIO, "no room for an LZ4 block");
        n = LZ4_compress_default((const char *)in + done,
                                 (char *)out + at + 4, (int)b,
                                 LZ4_COMPRESSBOUND(b));
        if (n <= 0)
            return sharr__fail(SHARR_EIO, "LZ4 failed on a block of %zu "
                               "bytes", b);
        if ((size_t)n >= b) {
            n = (int)b;
            memcpy(out + at + 4, in + done, b);
        }
        put_be32(out + at, (uint32_t)n);
        at += 4 + (size_t)n;
    }
    *stored = at;
    return 0;
}
