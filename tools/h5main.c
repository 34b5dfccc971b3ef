/*
 * h5main.c - sharr-h5, the HDF5 helper of `sharr`: the one program of the
 * tool that links HDF5.  `sharr load|save|h5ls ...` execs it with its own
 * argv (same pid, so a --temp array still belongs to the shell that ran
 * sharr), and it runs the subcommand exactly as sharr would have.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <string.h>

static const struct cli_command commands[] = {
    {"load", cmd_load, ""},
    {"save", cmd_save, ""},
    {"h5ls", cmd_h5ls, ""},
};

int main(int argc, char **argv)
{
    for (size_t i = 0; argc >= 2 && i < sizeof commands / sizeof *commands;
         i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return cli_run(&commands[i], argc, argv);
    fprintf(stderr, "sharr-h5: the HDF5 helper of sharr runs 'sharr load', "
            "'sharr save' and 'sharr h5ls'\nTry 'sharr --help'.\n");
    return EXIT_USAGE;
}
