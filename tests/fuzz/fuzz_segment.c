/*
 * fuzz_segment.c - feed arbitrary bytes to segment validation; it must never
 * crash, read out of bounds or accept a segment whose layout is not exact.
 *
 * Two ways to run it:
 *  - plain driver (default, built with ASan+UBSan by `make fuzz`):
 *      fuzz_segment SECONDS
 *    mutates valid segments of random dtype and shape (byte flips, field
 *    overwrites with boundary values, truncation and extension) and also
 *    tries pure random bytes, until SECONDS have passed.
 *  - libFuzzer: clang -fsanitize=fuzzer,address -DSHARR_LIBFUZZER ...
 * Each input goes through sharr__validate() in memory and through the real
 * path (a /dev/shm file, sharr_stat, sharr_array_open, reading every element).
 */
#define _GNU_SOURCE
#include "internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static char name[64];
static char path[128];
static size_t opened;

static void try_in_memory(const uint8_t *data, size_t size)
{
    struct sharr__ctl ctl;
    sharr_info info;

    if (size < 2 * SHARR__PAGE)
        return;
    memcpy(&ctl, data + size - SHARR__CTL_SIZE, sizeof ctl);
    memset(&info, 0, sizeof info);
    sharr__validate(&ctl, data, size, &info);
}

static int try_real_path(const uint8_t *data, size_t size)
{
    sharr_array *a;
    sharr_info info;
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    int err;

    if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
        perror("fuzz: writing the segment");
        exit(2);
    }
    close(fd);
    sharr_stat(name, &info);
    if ((err = sharr_array_open(name, SHARR_OPEN_RDONLY, &a)) == 0) {
        /* Accepted: every element must be readable (no SIGBUS). */
        const volatile unsigned char *p = sharr_array_data(a);
        unsigned sum = 0;
        for (size_t i = 0; i < sharr_array_nbytes(a); i += 512)
            sum += p[i];
        (void)sum;
        if (sharr_array_nbytes(a) + 2 * SHARR__PAGE > size) {
            fprintf(stderr, "fuzz: accepted a segment smaller than its "
                    "layout\n");
            abort();
        }
        sharr_array_close(a);
        opened++;
    }
    return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (name[0] == '\0') {
        snprintf(name, sizeof name, "t.%d.fuzz", (int)getpid());
        snprintf(path, sizeof path, "/dev/shm/sharr.%s", name);
    }
    try_in_memory(data, size);
    try_real_path(data, size);
    return 0;
}

#ifndef SHARR_LIBFUZZER

static uint64_t rng = 0x853c49e6748fea9bull;

/* Room for growth past a valid segment's size: 20 mutations of at most
 * three pages each. */
#define EXTRA (64 * SHARR__PAGE)

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* The bytes of a valid segment of random dtype and small shape. */
static uint8_t *valid_segment(size_t *size)
{
    size_t shape[SHARR_MAX_NDIM], ndim = next() % 4;
    sharr_dtype dt = (sharr_dtype)(1 + next() % SHARR_NDTYPES);
    sharr_array *a;
    uint8_t *buf;
    int fd;

    for (size_t i = 0; i < ndim; i++)
        shape[i] = 1 + next() % 40;
    unlink(path); /* the previous input's file */
    if (sharr_array_create(name, dt, ndim, shape, NULL, &a) < 0) {
        fprintf(stderr, "fuzz: create: %s\n", sharr_errmsg());
        exit(2);
    }
    sharr_array_close(a);
    fd = open(path, O_RDONLY);
    *size = (size_t)lseek(fd, 0, SEEK_END);
    buf = malloc(*size + EXTRA);
    if (!buf || pread(fd, buf, *size, 0) != (ssize_t)*size)
        exit(2);
    close(fd);
    unlink(path);
    if (try_real_path(buf, *size) != 0) {
        fprintf(stderr, "fuzz: an untouched segment was refused: %s\n",
                sharr_errmsg());
        exit(1);
    }
    return buf;
}

static void mutate(uint8_t *buf, size_t *size, size_t cap)
{
    static const uint64_t boundary[] = {0, 1, 2, 7, 8, 4095, 4096, 4097,
                                        0xffffffffull, 0x100000000ull,
                                        UINT64_MAX, UINT64_MAX / 2,
                                        (uint64_t)1 << 62};
    size_t ctl = *size - SHARR__CTL_SIZE;
    switch (next() % 5) {
    case 0: /* flip bytes anywhere in the header or control block */
        for (int i = 0, n = 1 + (int)(next() % 4); i < n; i++) {
            size_t off = next() % 2 ? next() % SHARR__PAGE
                                    : ctl + next() % 256;
            buf[off] ^= (uint8_t)(1u << (next() % 8));
        }
        break;
    case 1: { /* a boundary value into an 8- or 4-byte control field */
        uint64_t v = boundary[next() % (sizeof boundary / sizeof *boundary)];
        size_t off = ctl + 8 * (next() % 24);
        memcpy(buf + off, &v, next() % 2 ? 8 : 4);
        break;
    }
    case 2: /* truncate */
        *size = next() % *size;
        break;
    case 3: /* extend by up to three pages of garbage */
        for (size_t n = 1 + next() % (3 * SHARR__PAGE); n > 0 && *size < cap;
             n--)
            buf[(*size)++] = (uint8_t)next();
        break;
    default: /* rewrite one header character */
        buf[10 + next() % 80] = (uint8_t)(' ' + next() % 95);
        break;
    }
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    time_t end = time(NULL) + (time_t)seconds;
    size_t runs = 0;

    LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
    rng ^= (uint64_t)getpid() << 20;
    while (time(NULL) < end || runs == 0) {
        size_t size;
        uint8_t *buf = valid_segment(&size);
        size_t cap = size + EXTRA;
        for (int m = 0; m < 20; m++) {
            mutate(buf, &size, cap);
            LLVMFuzzerTestOneInput(buf, size);
            runs++;
            if (size < 2 * SHARR__PAGE)
                break;
        }
        free(buf);
        size = next() % (4 * SHARR__PAGE);
        buf = malloc(size + 1);
        for (size_t i = 0; i < size; i++)
            buf[i] = (uint8_t)next();
        LLVMFuzzerTestOneInput(buf, size);
        runs++;
        free(buf);
    }
    unlink(path);
    printf("fuzz_segment: %zu inputs in %.0f s, %zu accepted, no crash\n",
           runs, seconds, opened);
    return 0;
}
#endif
