/*
 * sharr.c - the `sharr` command: dispatch to a subcommand.  load, save and
 * h5ls run in the HDF5 helper (helper.c), so that every other command
 * starts without loading HDF5.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <string.h>

/* A NULL `run` marks the commands of the HDF5 helper. */
static const struct cli_command commands[] = {
    {"create", cmd_create, "create a shared array"},
    {"ls", cmd_ls, "list the shared arrays"},
    {"info", cmd_info, "show everything about one array"},
    {"rm", cmd_rm, "remove arrays"},
    {"fill", cmd_fill, "fill an array (zeros, ones, a value, range, random)"},
    {"dump", cmd_dump, "print values as text, one row per line"},
    {"reshape", cmd_reshape, "change the shape of an array in place"},
    {"gc", cmd_gc, "remove temporary arrays whose owner process is gone"},
    {"apply", cmd_apply, "apply an operation to every element, in parallel"},
    {"axpy", cmd_axpy, "Y += ALPHA * X, in parallel"},
    {"stat", cmd_stat, "sum, mean, min, max, 2-norm (whole or per row)"},
    {"gemm", cmd_gemm, "C = alpha * A @ B + beta * C with OpenBLAS"},
    {"eval", cmd_eval, "OUT = EXPR over arrays (NumPy's rules), fused"},
    {"copy", cmd_copy, "copy rows of an array into a new one, any dtype"},
    {"load", NULL, "load an HDF5 dataset or .npy file into an array"},
    {"save", NULL, "save an array as an HDF5 dataset or .npy file"},
    {"h5ls", NULL, "list the datasets of an HDF5 file"},
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
               "Exit status: 0 success, 1 runtime failure, 2 bad usage.\n"
               "See man sharr for the environment variables, files and "
               "examples.\n");
    return EXIT_OK;
}

/* "sharr lod": the closest command, if it is close enough to be meant. */
static int unknown_command(const char *word)
{
    const char *names[NCOMMANDS];

    for (size_t i = 0; i < NCOMMANDS; i++)
        names[i] = commands[i].name;
    const char *near = cli_closest(word, names, NCOMMANDS);
    if (near)
        fprintf(stderr, "sharr: unknown command '%s'; did you mean '%s'?\n"
                "Try 'sharr --help'.\n", word, near);
    else
        fprintf(stderr, "sharr: unknown command '%s'\nTry 'sharr --help'.\n",
                word);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "sharr: missing command\nTry 'sharr --help'.\n");
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
        return cli_flush_output(usage(stdout));
    if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0)
        return cli_flush_output(cli_version());
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        if (!commands[i].run) {
            cli_sub = commands[i].name;
            int bad = cli_check_env();
            return bad ? bad : cli_exec_h5(argv);
        }
        return cli_run(&commands[i], argc, argv);
    }
    return unknown_command(argv[1]);
}
