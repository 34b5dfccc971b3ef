/*
 * sharr.c - the `sharr` command: dispatch to a subcommand.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <string.h>

static const struct cli_command commands[] = {
    {"create", cmd_create, "create a shared array"},
    {"ls", cmd_ls, "list the shared arrays"},
    {"info", cmd_info, "show everything about one array"},
    {"rm", cmd_rm, "remove arrays"},
    {"fill", cmd_fill, "fill an array (zeros, ones, a value, range, random)"},
    {"dump", cmd_dump, "print values as text, one row per line"},
    {"gc", cmd_gc, "remove temporary arrays whose owner process is gone"},
    {"apply", cmd_apply, "apply an operation to every element, in parallel"},
    {"axpy", cmd_axpy, "Y += ALPHA * X, in parallel"},
    {"stat", cmd_stat, "sum, mean, min, max, 2-norm (whole or per row)"},
    {"gemm", cmd_gemm, "C = alpha * A @ B + beta * C with OpenBLAS"},
    {"load", cmd_load, "load an HDF5 dataset or .npy file into an array"},
    {"save", cmd_save, "save an array as an HDF5 dataset or .npy file"},
    {"h5ls", cmd_h5ls, "list the datasets of an HDF5 file"},
    {"queue", cmd_queue, "named message queues: create, put, get, close"},
    {"pipe", cmd_pipe, "named duplex pipes: create, send, recv"},
    {"lock", cmd_lock, "run a command holding a lock (flock for sharr)"},
    {"sem", cmd_sem, "named semaphores: create, acquire, release"},
    {"event", cmd_event, "named events: create, set, clear, wait"},
    {"cond", cmd_cond, "named conditions: create, wait, notify"},
    {"barrier", cmd_barrier, "named barriers: create, wait, abort, reset"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static int usage(FILE *f)
{
    fprintf(f, "Usage: sharr COMMAND [ARGS...]\n"
               "       sharr COMMAND --help\n\n"
               "Named shared-memory arrays (/dev/shm/sharr.NAME) that many "
               "processes use at once;\nNumPy attaches with "
               "numpy.load('/dev/shm/sharr.NAME', mmap_mode='r+').\n\n"
               "Commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nOptions:\n  -h, --help     show this help\n"
               "  -V, --version  show the version\n\n"
               "Exit status: 0 success, 1 runtime failure, 2 bad usage.\n");
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "sharr: missing command\nTry 'sharr --help'.\n");
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
        return usage(stdout);
    if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0)
        return cli_version();
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        cli_sub = commands[i].name;
        cli_protect_numbers(argc - 1, argv + 1);
        cli_getopt_reset();
        int rc = commands[i].run(argc - 1, argv + 1);
        if (fflush(stdout) != 0 || ferror(stdout))
            return cli_error("cannot write the output");
        return rc;
    }
    fprintf(stderr, "sharr: unknown command '%s'\nTry 'sharr --help'.\n",
            argv[1]);
    return EXIT_USAGE;
}
