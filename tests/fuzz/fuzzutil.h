/*
 * fuzzutil.h - what the plain fuzz drivers (fuzz_segment.c, fuzz_chunk.c)
 * share: the seeded xorshift generator, and a watchdog that turns an input
 * taking more than 10 s into a report (the input kept in fuzz-hang.<pid>,
 * the seed that repeats the run) and an abort, instead of a hang that only
 * shows as a CI timeout.
 */
#ifndef SHARR_TESTS_FUZZUTIL_H
#define SHARR_TESTS_FUZZUTIL_H

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static uint64_t fz_rng, fz_seed;
static const char *fz_prog;
static const uint8_t *fz_data;
static size_t fz_size;
static void (*fz_cleanup)(void); /* async-signal-safe, or NULL */

static uint64_t next(void)
{
    fz_rng ^= fz_rng << 13;
    fz_rng ^= fz_rng >> 7;
    fz_rng ^= fz_rng << 17;
    return fz_rng;
}

static void fz_on_alarm(int sig)
{
    char file[64], msg[160];
    int fd, n;

    (void)sig;
    snprintf(file, sizeof file, "fuzz-hang.%d", (int)getpid());
    fd = open(file, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    if (fd >= 0) {
        if (write(fd, fz_data, fz_size) < 0) {}
        close(fd);
    }
    n = snprintf(msg, sizeof msg, "%s: one input took more than 10 s (seed "
                 "%llu); it is in %s\n", fz_prog,
                 (unsigned long long)fz_seed, file);
    if (write(2, msg, (size_t)n) < 0) {}
    if (fz_cleanup)
        fz_cleanup();
    abort();
}

/* Seed the generator from argv[2] (default: the pid) mixed into rng0, and
 * arm the watchdog's handler.  `cleanup` runs before the abort. */
static void fz_start(const char *prog, int argc, char **argv, uint64_t rng0,
                     void (*cleanup)(void))
{
    fz_prog = prog;
    fz_cleanup = cleanup;
    signal(SIGALRM, fz_on_alarm);
    fz_seed = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)getpid();
    fz_rng = rng0 ^ (fz_seed << 20);
}

/* Watch what follows (data[0..size) is the input kept on a hang) until
 * fz_unwatch(). */
static void fz_watch(const uint8_t *data, size_t size)
{
    fz_data = data;
    fz_size = size;
    alarm(10);
}

static void fz_unwatch(void)
{
    alarm(0);
}

#endif
