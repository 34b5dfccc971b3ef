/*
 * fuzz_chunk.c - feed arbitrary stored chunks to sharr's chunk decoder
 * (lib/io/h5chunk.c: fletcher32, deflate through libdeflate, LZ4 in the
 * HDF5 plugin's framing, unshuffle); it must never crash, read or write out
 * of bounds, hang, or accept a chunk of the wrong size.
 *
 * Two ways to run it:
 *  - plain driver (default, built with ASan+UBSan by `make fuzz`):
 *      fuzz_chunk SECONDS [SEED]
 *    encodes random, compressible chunks with a random pipeline, checks that
 *    they decode to themselves, then mutates them (bit flips, truncation,
 *    extension, overwritten headers, random filter masks) and decodes
 *    again; also pure random bytes.  Each input runs under a watchdog.
 *  - libFuzzer: clang -fsanitize=fuzzer,address -DSHARR_LIBFUZZER ...
 *    (the first bytes of the input choose the pipeline and chunk size).
 */
#define _GNU_SOURCE
#include "internal.h"
#include "io/h5chunk.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct chunk_scratch scratch;
static size_t decoded;

/* Decode one stored chunk, into the scratch buffers or (every other call)
 * into a buffer of exactly the chunk's size, where the sanitizer sees any
 * write past it; a success must have exactly the chunk's size. */
static void decode(const struct chunk_pipe *p, uint32_t mask,
                   const uint8_t *data, size_t size)
{
    static unsigned calls;
    const unsigned char *out = NULL;
    unsigned char *into =
        calls++ % 2 ? malloc(p->chunk_bytes + !p->chunk_bytes) : NULL;
    if (sharr__chunk_decode(p, mask, data, size, &scratch, into, &out) == 0) {
        if (into && out != into)
            abort();
        volatile unsigned char sink = 0;
        for (size_t i = 0; i < p->chunk_bytes; i += 997)
            sink ^= out[i];
        if (p->chunk_bytes)
            sink ^= out[p->chunk_bytes - 1];
        (void)sink;
        decoded++;
    }
    free(into);
}

/* The pipeline an input's first 4 bytes choose. */
static void pipe_of(const uint8_t *h, struct chunk_pipe *p, uint32_t *mask)
{
    static const int kinds[] = {CHUNK_SHUFFLE, CHUNK_DEFLATE,
                                CHUNK_FLETCHER32, CHUNK_LZ4};
    memset(p, 0, sizeof *p);
    p->n = h[0] % 4;
    for (int i = 0; i < p->n; i++) {
        p->f[i] = kinds[(h[1] >> (2 * i)) & 3];
        p->shuffle_elem[i] = (size_t)1 << (h[2] & 3);
    }
    p->chunk_bytes = (size_t)h[3] * 64 + (h[2] >> 4);
    *mask = h[2] >> 6 == 3 ? h[1] & 7 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct chunk_pipe p;
    uint32_t mask;

    if (size < 4)
        return 0;
    pipe_of(data, &p, &mask);
    decode(&p, mask, data + 4, size - 4);
    return 0;
}

#ifndef SHARR_LIBFUZZER

/* Every input is decoded once, bounded by its output size: one that takes
 * seconds is a hang (the watchdog of fuzzutil.h). */
#include "fuzzutil.h"

/* A random pipeline of up to four filters. */
static void random_pipe(struct chunk_pipe *p)
{
    static const int kinds[] = {CHUNK_SHUFFLE, CHUNK_DEFLATE,
                                CHUNK_FLETCHER32, CHUNK_LZ4};
    static const size_t elems[] = {1, 2, 4, 8, 16, 3};
    memset(p, 0, sizeof *p);
    int coders = 0;
    p->n = (int)(next() % 5);
    for (int i = 0; i < p->n; i++) {
        /* at most one compressor, as sharr__chunk_decode() takes them */
        do
            p->f[i] = kinds[next() % 4];
        while (coders && (p->f[i] == CHUNK_DEFLATE || p->f[i] == CHUNK_LZ4));
        coders += p->f[i] == CHUNK_DEFLATE || p->f[i] == CHUNK_LZ4;
        p->shuffle_elem[i] = elems[next() % 6];
    }
    p->chunk_bytes = next() % 4 ? next() % 4096 : next() % 200000;
}

/* Encode raw with p as HDF5 would store it, skipping the filters whose
 * bit is set in mask (as HDF5 does for an optional filter that fails);
 * the stored size. */
static size_t encode(const struct chunk_pipe *p, uint32_t mask,
                     const unsigned char *raw, unsigned char **out)
{
    size_t len = p->chunk_bytes, cap = len + 64;
    unsigned char *cur = malloc(cap), *tmp;
    struct libdeflate_compressor *z = NULL;

    memcpy(cur, raw, len);
    for (int i = 0; i < p->n; i++) {
        size_t bound = sharr__deflate_bound(len) + sharr__lz4_bound(len) + 8,
               stored = 0;
        if (mask & (1u << i))
            continue;
        tmp = malloc(bound);
        switch (p->f[i]) {
        case CHUNK_SHUFFLE:
            sharr__shuffle(cur, tmp, len, p->shuffle_elem[i]);
            stored = len;
            break;
        case CHUNK_DEFLATE:
            if (sharr__deflate(&z, 1 + (int)(next() % 9), cur, len, tmp,
                               bound, &stored) < 0)
                abort();
            sharr__deflate_free(z);
            z = NULL;
            break;
        case CHUNK_LZ4:
            if (sharr__lz4(cur, len, tmp, bound, &stored) < 0)
                abort();
            break;
        default: {
            uint32_t f = sharr__fletcher32(cur, len);
            memcpy(tmp, cur, len);
            for (int b = 0; b < 4; b++)
                tmp[len + (size_t)b] = (unsigned char)(f >> (8 * b));
            stored = len + 4;
        }
        }
        free(cur);
        cur = tmp;
        len = stored;
    }
    *out = cur;
    return len;
}

static void mutate(unsigned char *buf, size_t *size, size_t cap)
{
    switch (next() % 5) {
    case 0: if (*size) buf[next() % *size] ^= (unsigned char)(1u << (next() % 8));
            break;
    case 1: *size = *size ? next() % *size : 0; break;
    case 2: { size_t n = next() % 64;
              if (*size + n <= cap) {
                  for (size_t i = 0; i < n; i++)
                      buf[*size + i] = (unsigned char)next();
                  *size += n;
              }
              break; }
    case 3: if (*size >= 12) memset(buf + next() % 12, 0xff, 1 + next() % 4);
            break;
    default: if (*size) buf[next() % *size] = (unsigned char)next(); break;
    }
}

static void run_one(const struct chunk_pipe *p, uint32_t mask,
                    const uint8_t *data, size_t size)
{
    fz_watch(data, size);
    decode(p, mask, data, size);
    fz_unwatch();
}

/* A round trip that must work: encoded chunks (filters in mask skipped)
 * decode to themselves, into scratch and into a buffer of their size. */
static void round_trip(const struct chunk_pipe *p, uint32_t mask,
                       const unsigned char *raw, const unsigned char *enc,
                       size_t len)
{
    const unsigned char *out;
    unsigned char *into = malloc(p->chunk_bytes + !p->chunk_bytes);
    if (sharr__chunk_decode(p, mask, enc, len, &scratch, NULL, &out) != 0 ||
        memcmp(out, raw, p->chunk_bytes) != 0 ||
        sharr__chunk_decode(p, mask, enc, len, &scratch, into, &out) != 0 ||
        out != into || memcmp(into, raw, p->chunk_bytes) != 0) {
        fprintf(stderr, "fuzz_chunk: a valid chunk (mask 0x%x) did not "
                "decode to itself (seed %llu): %s\n", mask,
                (unsigned long long)fz_seed, sharr_errmsg());
        abort();
    }
    free(into);
}

/* fuzz_chunk [SECONDS [SEED]]: SEED repeats a run (it is printed). */
int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    time_t end = time(NULL) + (time_t)seconds;
    size_t runs = 0, valid = 0;

    fz_start("fuzz_chunk", argc, argv, 0x9e3779b97f4a7c15ull, NULL);
    while (time(NULL) < end || runs == 0) {
        struct chunk_pipe p;
        unsigned char *raw, *enc;
        random_pipe(&p);
        raw = malloc(p.chunk_bytes + 1);
        for (size_t i = 0; i < p.chunk_bytes; i++) /* compressible */
            raw[i] = (unsigned char)(i % 7 == 0 ? next() : i / 64);
        /* Mostly every filter applied; else some skipped. */
        uint32_t skip = next() % 4 ? 0 : (uint32_t)next() & ((1u << p.n) - 1);
        size_t len = encode(&p, skip, raw, &enc), cap = len + 64;
        unsigned char *buf = malloc(cap);
        round_trip(&p, skip, raw, enc, len);
        valid++;
        for (int m = 0; m < 20; m++) {
            size_t size = len;
            memcpy(buf, enc, len);
            for (int k = 0; k <= m % 3; k++)
                mutate(buf, &size, cap);
            run_one(&p, next() % 4 ? 0 : (uint32_t)next(), buf, size);
            runs++;
        }
        size_t size = next() % 4096;
        for (size_t i = 0; i < size && i < cap; i++)
            buf[i] = (unsigned char)next();
        run_one(&p, 0, buf, size < cap ? size : cap);
        runs++;
        free(buf);
        free(enc);
        free(raw);
    }
    sharr__chunk_scratch_free(&scratch);
    printf("fuzz_chunk: %zu inputs in %.0f s (seed %llu), %zu valid chunks "
           "round-tripped, %zu mutated ones decoded, no crash\n", runs,
           seconds, (unsigned long long)fz_seed, valid, decoded);
    return 0;
}
#endif
