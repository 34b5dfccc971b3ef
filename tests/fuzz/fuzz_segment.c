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
 * Half the valid segments are named objects of a random kind (queue, pipe,
 * lock, ...); one that opens is used with calls that do not wait, which
 * must fail cleanly, never crash or hang, whatever its live state says.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static char name[64];
static char path[128];
static size_t opened;

/* Use an object that opened: every call tries once (timeout 0). */
static void use_object(sharr_kind kind)
{
    char buf[256];
    size_t len;
    void *h = NULL;

    switch (kind) {
    case SHARR_KIND_QUEUE:
        if (sharr_queue_open(name, 0, (sharr_queue **)&h) == 0) {
            sharr_queue_put(h, "fuzz", 4, 0);
            sharr_queue_get(h, buf, sizeof buf, &len, 0);
            sharr_queue_task_done(h, 1);
            sharr_queue_join(h, 0);
            sharr_queue_count(h, &len, NULL);
            opened++;
        }
        sharr_queue_close(h);
        break;
    case SHARR_KIND_PIPE:
        if (sharr_pipe_open(name, 1, 0, (sharr_pipe **)&h) == 0) {
            sharr_pipe_send(h, "fuzz", 4, 0);
            sharr_pipe_poll(h, 0);
            sharr_pipe_recv(h, buf, sizeof buf, &len, 0);
            opened++;
        }
        sharr_pipe_close(h);
        break;
    case SHARR_KIND_LOCK: case SHARR_KIND_RLOCK:
        if (sharr_lock_open(name, 0, (sharr_lock **)&h) == 0) {
            sharr_lock_acquire(h, 0);
            sharr_lock_release(h); /* EPERM too, if it was not taken */
            opened++;
        }
        sharr_lock_close(h);
        break;
    case SHARR_KIND_SEMAPHORE:
        if (sharr_sem_open(name, 0, (sharr_sem **)&h) == 0) {
            sharr_sem_acquire(h, 0);
            sharr_sem_release(h, 1);
            opened++;
        }
        sharr_sem_close(h);
        break;
    case SHARR_KIND_EVENT:
        if (sharr_event_open(name, 0, (sharr_event **)&h) == 0) {
            sharr_event_wait(h, 0);
            opened++;
        }
        sharr_event_close(h);
        break;
    case SHARR_KIND_CONDITION:
        if (sharr_cond_open(name, 0, (sharr_cond **)&h) == 0) {
            if (sharr_cond_acquire(h, 0) >= 0) {
                sharr_cond_notify_all(h);
                sharr_cond_wait(h, 0);
                sharr_cond_release(h);
            }
            opened++;
        }
        sharr_cond_close(h);
        break;
    case SHARR_KIND_BARRIER:
        if (sharr_barrier_open(name, 0, (sharr_barrier **)&h) == 0) {
            sharr_barrier_wait(h, 0);
            sharr_barrier_reset(h);
            opened++;
        }
        sharr_barrier_close(h);
        break;
    default:
        break;
    }
}

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
    if (sharr_stat(name, &info) == 0 && info.kind != SHARR_KIND_ARRAY) {
        use_object(info.kind);
        return sharr_array_open(name, 0, &a) == SHARR_EKIND ? 0 : -1;
    }
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
        /* Rows and row size must describe exactly the elements, an empty
         * array's too: rows * row_bytes == nbytes, and a row no larger than
         * 63 bits can count. */
        size_t rb = sharr_array_row_bytes(a), all;
        if (__builtin_mul_overflow(rb, sharr_array_rows(a), &all) ||
            all != sharr_array_nbytes(a) || rb > (size_t)INT64_MAX) {
            fprintf(stderr, "fuzz: accepted rows %zu of %zu bytes for %zu "
                    "bytes of elements\n", sharr_array_rows(a), rb,
                    sharr_array_nbytes(a));
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

#include "fuzzutil.h"

/* The segment file of the input that hung goes too. */
static void remove_segment(void)
{
    unlink(path);
}

/* Room for growth past a valid segment's size: 20 mutations of at most
 * three pages each. */
#define EXTRA (64 * SHARR__PAGE)

/* Create a named object of random kind under `name`.  @return 0 or the
 * error. */
static int make_object(void)
{
    sharr_kind kind = (sharr_kind)(1 + next() % (SHARR_NKINDS - 1));
    size_t cap = 4096 << (next() % 3);
    void *h;
    int err;

    switch (kind) {
    case SHARR_KIND_QUEUE:
        err = sharr_queue_create(name, cap, 0, NULL, (sharr_queue **)&h);
        if (err == 0) {
            for (size_t i = next() % 30; i > 0; i--) /* some queued */
                sharr_queue_put(h, "message", next() % 8, 0);
            sharr_queue_close(h);
        }
        return err;
    case SHARR_KIND_PIPE:
        err = sharr_pipe_create(name, cap, 0, NULL, (sharr_pipe **)&h);
        if (err == 0) {
            sharr_pipe_send(h, "x", 1, 0);
            sharr_pipe_close(h);
        }
        return err;
    case SHARR_KIND_LOCK: case SHARR_KIND_RLOCK:
        err = sharr_lock_create(name, kind == SHARR_KIND_RLOCK, NULL,
                                (sharr_lock **)&h);
        sharr_lock_close(err == 0 ? h : NULL);
        return err;
    case SHARR_KIND_SEMAPHORE:
        err = sharr_sem_create(name, (unsigned)(next() % 3), 3, NULL,
                               (sharr_sem **)&h);
        sharr_sem_close(err == 0 ? h : NULL);
        return err;
    case SHARR_KIND_EVENT:
        err = sharr_event_create(name, NULL, (sharr_event **)&h);
        sharr_event_close(err == 0 ? h : NULL);
        return err;
    case SHARR_KIND_CONDITION:
        err = sharr_cond_create(name, NULL, (sharr_cond **)&h);
        sharr_cond_close(err == 0 ? h : NULL);
        return err;
    default:
        err = sharr_barrier_create(name, 1 + next() % 8, NULL,
                                   (sharr_barrier **)&h);
        sharr_barrier_close(err == 0 ? h : NULL);
        return err;
    }
}

/* The bytes of a valid segment: an array of random dtype and small shape,
 * or a named object of random kind. */
static uint8_t *valid_segment(size_t *size)
{
    size_t shape[SHARR_MAX_NDIM], ndim = next() % 4;
    sharr_dtype dt = (sharr_dtype)(1 + next() % SHARR_NDTYPES);
    sharr_array *a = NULL;
    uint8_t *buf;
    int fd, err;

    for (size_t i = 0; i < ndim; i++) /* a zero axis now and then */
        shape[i] = next() % 8 == 0 ? 0 : 1 + next() % 40;
    unlink(path); /* the previous input's file */
    if (next() % 2)
        err = make_object();
    else
        err = sharr_array_create(name, dt, ndim, shape, NULL, &a);
    if (err < 0) {
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
                                    : ctl + next() % 640; /* params too */
            buf[off] ^= (uint8_t)(1u << (next() % 8));
        }
        break;
    case 1: { /* a boundary value into an 8- or 4-byte control field */
        uint64_t v = boundary[next() % (sizeof boundary / sizeof *boundary)];
        size_t off = ctl + 8 * (next() % 24) +
                     (next() % 4 ? 0 : SHARR__PARAMS_OFFSET - 192);
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

/* Run one input under the watchdog. */
static void run_one(const uint8_t *data, size_t size)
{
    fz_watch(data, size);
    LLVMFuzzerTestOneInput(data, size);
    fz_unwatch();
}

/* fuzz_segment [SECONDS [SEED]]: SEED repeats a run (it is printed). */
int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    time_t end = time(NULL) + (time_t)seconds;
    size_t runs = 0;

    LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
    fz_start("fuzz_segment", argc, argv, 0x853c49e6748fea9bull,
             remove_segment);
    while (time(NULL) < end || runs == 0) {
        size_t size;
        uint8_t *buf;
        fz_watch(NULL, 0);
        buf = valid_segment(&size);
        fz_unwatch();
        size_t cap = size + EXTRA;
        for (int m = 0; m < 20; m++) {
            mutate(buf, &size, cap);
            run_one(buf, size);
            runs++;
            if (size < 2 * SHARR__PAGE)
                break;
        }
        free(buf);
        size = next() % (4 * SHARR__PAGE);
        buf = malloc(size + 1);
        for (size_t i = 0; i < size; i++)
            buf[i] = (uint8_t)next();
        run_one(buf, size);
        runs++;
        free(buf);
    }
    unlink(path);
    printf("fuzz_segment: %zu inputs in %.0f s (seed %llu), %zu accepted, "
           "no crash\n", runs, seconds, (unsigned long long)fz_seed, opened);
    return 0;
}
#endif
