/*
 * bench_startup.c - how long sharr commands take from spawn to exit,
 * against /bin/true in the same run (interleaved rounds, so both see the
 * same machine).  Commands that do not touch HDF5 must start in <= 3 ms:
 * `sharr` links neither HDF5 nor OpenBLAS, and the HDF5 commands exec
 * the helper sharr-h5 (shown for comparison: `load --version` is the
 * helper's start, HDF5's 41 libraries included).
 * The tool is $SHARR (make bench sets it), else tools/sharr.
 */
#define _GNU_SOURCE
#include "sharr.h"
#include "benchutil.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 300
#define TARGET_MS 3.0

extern char **environ;

struct cmd {
    const char *label;
    const char *argv[6];
    int hdf5;                /* 1: runs the HDF5 helper (no target) */
    double t[ROUNDS];
};

/* Seconds from spawning argv (output to /dev/null) to reaping it. */
static double run_once(const char *const *argv)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status;
    double t0;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    t0 = now();
    if (posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv,
                    environ) != 0) {
        perror(argv[0]);
        exit(1);
    }
    while (waitpid(pid, &status, 0) < 0)
        ;
    posix_spawn_file_actions_destroy(&fa);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench: %s %s failed\n", argv[0], argv[1]);
        exit(1);
    }
    return now() - t0;
}

int main(void)
{
    const char *sharr = getenv("SHARR") ? getenv("SHARR") : "tools/sharr";
    char name[64];
    size_t shape[2] = {16, 1000};
    sharr_array *a;
    int over = 0;

    snprintf(name, sizeof name, "tb.%d.start", (int)getpid());
    if (sharr_array_create(name, SHARR_F64, 2, shape, NULL, &a) < 0) {
        fprintf(stderr, "bench: %s\n", sharr_errmsg());
        return 1;
    }
    sharr_array_close(a);
    struct cmd cmds[] = {
        {"/bin/true", {"/bin/true", NULL}, 0, {0}},
        {"sharr --version", {sharr, "--version", NULL}, 0, {0}},
        {"sharr ls NAME", {sharr, "ls", name, NULL}, 0, {0}},
        {"sharr info NAME", {sharr, "info", name, NULL}, 0, {0}},
        {"sharr dump NAME --rows 0",
         {sharr, "dump", name, "--rows", "0", NULL}, 0, {0}},
        {"sharr load --version (HDF5 helper)", {sharr, "load", "--version",
                                                NULL}, 1, {0}},
    };
    size_t n = sizeof cmds / sizeof cmds[0];

    for (size_t c = 0; c < n; c++) /* warm the page cache */
        run_once(cmds[c].argv);
    for (int r = 0; r < ROUNDS; r++)
        for (size_t c = 0; c < n; c++)
            cmds[c].t[r] = run_once(cmds[c].argv);
    sharr_unlink(name);

    struct fig base = summarize(cmds[0].t, ROUNDS);
    printf("== sharr start-up: spawn to exit, median [min-max] of %d "
           "interleaved rounds\n\n", ROUNDS);
    for (size_t c = 0; c < n; c++) {
        struct fig f = summarize(cmds[c].t, ROUNDS);
        const char *verdict = cmds[c].hdf5 ? ""
                              : f.med * 1e3 <= TARGET_MS ? "  ok (<= 3 ms)"
                                                         : "  OVER 3 ms";
        if (!cmds[c].hdf5 && c > 0 && f.med * 1e3 > TARGET_MS)
            over = 1;
        printf("   %-36s %6.2f ms [%.2f-%.2f]  %5.2fx /bin/true%s\n",
               cmds[c].label, f.med * 1e3, f.min * 1e3, f.max * 1e3,
               f.med / base.med, c ? verdict : "");
    }
    printf("\n   target: commands without HDF5 in <= %.0f ms\n", TARGET_MS);
    return over;
}
