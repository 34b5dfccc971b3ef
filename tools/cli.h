/*
 * cli.h - what the `sharr` subcommands share: exit codes, error reporting in
 * the CLI contract, and parsers for the argument syntaxes (shapes, row
 * ranges, sizes).  Uses only the public sharr.h.
 */
#ifndef SHARR_CLI_H
#define SHARR_CLI_H

#include "sharr.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

/* Exit statuses (the man page's EXIT STATUS).  EXIT_END: queue get and pipe
 * recv found the end of the stream; EXIT_LOCKED: an array's lock was not
 * taken within --lock-timeout, and nothing was done. */
enum {
    EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_END = 3,
    EXIT_LOCKED = 4
};

/* A subcommand: `run` gets argv with argv[0] = the subcommand's name. */
struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

/* The subcommand running now, for messages ("sharr: <sub>: ..."). */
extern const char *cli_sub;

/* Run subcommand c on the whole argv (argv[1] is its name): sets cli_sub,
 * protects negative numbers, resets getopt, checks that stdout was
 * written.  @return the exit status. */
int cli_run(const struct cli_command *c, int argc, char **argv);

/* Exec sharr-h5, the HDF5 helper, with the whole argv (helper.c).
 * @return EXIT_RUNTIME after printing why, if it cannot be run. */
int cli_exec_h5(char **argv);

/* The one of names[0..n) that `word` most likely misspells (edit distance
 * at most 2, or a unique prefix), else NULL: for "did you mean". */
const char *cli_closest(const char *word, const char *const *names,
                        size_t n);

/* Usage error: "sharr: SUB: MSG" and "Try 'sharr SUB --help'." on stderr.
 * @return EXIT_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runtime failure: "sharr: SUB: MSG" on stderr.  @return EXIT_RUNTIME. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runtime failure of a library call: prints sharr_errmsg() (or the code's
 * name when there is no detail), its hints in the CLI's words (see
 * cli_errmsg).  @return EXIT_RUNTIME. */
int cli_fail(int code);

/* sharr_errmsg() with the library's hints, which name C flags and fields
 * ("set sharr_save_opts.force to replace it"), given as the options that do
 * the same ("pass --force to replace it").  Valid until the next call. */
const char *cli_errmsg(void);

/* --foreign: the subcommand opens arrays of other users too
 * (SHARR_OPEN_FOREIGN).  Subcommands that have the option put
 * CLI_FOREIGN_OPTION in their options, set cli_foreign_option, and OR
 * cli_open_flags into their open flags; the others get no --foreign hint. */
#define CLI_FOREIGN_OPTION {"foreign", no_argument, NULL, 'F'}
extern unsigned cli_open_flags;
extern bool cli_foreign_option;

/* The environment variables sharr reads with a fixed form
 * ($SHARR_LOCK_WAIT, $SHARR_EXPR_STREAM, $SHARR_H5_DIRECT): a value that
 * does not parse is a usage error, never silently the default.
 * @return 0 or EXIT_USAGE. */
int cli_check_env(void);

/* For commands that run pool jobs: a $SHARR_SCHEDULE that does not parse
 * is a usage error (the pool would refuse every job).  @return 0 or
 * EXIT_USAGE. */
int cli_check_env_schedule(void);

/* Report a getopt_long() result that is not an option of ours ('?' or ':').
 * @return EXIT_USAGE. */
int cli_bad_option(int c, char **argv);

/* Parse options that only set flags (struct option entries with a `flag`
 * pointer) plus -h/--help and -V/--version.
 * @return -1 to go on with argv[optind..], else the exit status to return. */
int cli_options(int argc, char **argv, const struct option *lo,
                const char *usage);

/* Print `usage` to stdout (for --help) and return EXIT_OK. */
int cli_help(const char *usage);

/* Print "sharr <version>" and return EXIT_OK. */
int cli_version(void);

/* Read one record of f, ended by `delim` (not kept) or the end of input,
 * into *buf (grown; *cap its size), NUL-terminated, at most `max` bytes.
 * @return 1 (*len bytes read), 0 (end of input), -1 (a read error: errno),
 * -2 (the record is longer than max: the rest of it is left unread). */
int cli_read_record(FILE *f, int delim, size_t max, char **buf, size_t *cap,
                    size_t *len);

/* Flush stdout: rc, or EXIT_RUNTIME with "cannot write the output" when
 * it could not be written (a full disk, a closed stdout). */
int cli_flush_output(int rc);

/* Protect arguments that are negative numbers ("-2", "-0.5", "-1-2i",
 * "-inf") from getopt by prefixing a space; cli_arg() takes it off again.
 * Call before getopt_long(); the strings are allocated once per process. */
void cli_protect_numbers(int argc, char **argv);
const char *cli_arg(const char *s);

/* The array name argument `text` (protection removed) if valid, else NULL
 * after printing the usage error. */
const char *cli_name(const char *text);

/* Reset getopt for a subcommand's own parsing. */
void cli_getopt_reset(void);

/* "16x1000000", "3,4", "" or "scalar" into ndim/shape.  Prints the usage
 * error itself.  @return 0 or EXIT_USAGE. */
int cli_parse_shape(const char *text, size_t *ndim, size_t *shape);

/* "A:B", ":B", "A:", "A" (one row), with negative values counting from the
 * end as in Python, checked against `rows`.  @return 0 or EXIT_USAGE. */
int cli_parse_rows(const char *text, size_t rows, size_t *r0, size_t *r1);

/* Seconds >= 0 for option `what` ("--timeout"), inf for ever.
 * @return 0 or EXIT_USAGE. */
int cli_parse_seconds(const char *text, const char *what, double *out);

/* A count >= `min` for option `what`.  @return 0 or EXIT_USAGE. */
int cli_parse_count(const char *text, const char *what, size_t min,
                    size_t *out);

/* Shape as "16x1000000" ("scalar" for ndim 0) into buf. */
void cli_format_shape(size_t ndim, const size_t *shape, char *buf,
                      size_t size);

/* A JSON string literal for s on f: valid UTF-8 whatever s holds (a byte
 * that is not UTF-8 is written \udcXX, as Python's surrogateescape). */
void cli_json_string(FILE *f, const char *s);

/* s on f for a line of text: control bytes, DEL and backslash as \xNN, so
 * that a name holding a newline stays on its line. */
void cli_print_name(FILE *f, const char *s);

/* Bytes in binary units, three significant digits: "192 B", "1.5 MiB". */
void cli_format_bytes(size_t n, char *buf, size_t size);

/* The user name for uid (or the number). */
void cli_user_name(unsigned uid, char *buf, size_t size);


/* ---- the pool and progress ---- */

/* -j N: N >= 1 workers.  @return 0 or EXIT_USAGE. */
int cli_parse_jobs(const char *text, int *jobs);

/* --schedule KIND[,CHUNK].  @return 0 or EXIT_USAGE. */
int cli_parse_schedule(const char *text, sharr_schedule *out);

/* A pool of `jobs` workers (0: one per online CPU).
 * @return 0, or EXIT_RUNTIME after printing why. */
int cli_pool(int jobs, sharr_pool **out);

/* cli_pool() for a command without --schedule (fill, load, save, h5ls):
 * its jobs pick their own blocks, but $SHARR_SCHEDULE must still parse,
 * as for every pool command.  @return 0, EXIT_USAGE or EXIT_RUNTIME. */
int cli_pool_unscheduled(int jobs, sharr_pool **out);

/* A progress bar on stderr, shown only when stderr is a terminal and the
 * job has run for half a second; cli_progress_init() points ro at it. */
struct cli_progress {
    const char *label;
    double start, last;
    bool tty, shown;
};
void cli_progress_init(struct cli_progress *p, const char *label,
                       sharr_run_opts *ro);
void cli_progress_done(struct cli_progress *p);

/* ---- the locks of the arrays a command works on ---- */

/* Every subcommand that reads or writes the elements of existing arrays
 * (fill, dump, apply, axpy, stat, gemm, save, load --into; eval when it
 * comes: its operands and its output) holds their locks while it does,
 * the ones sharr_array_lock() and `sharr lock NAME -- COMMAND` take: open
 * the arrays, cli_lock() them just before the work, cli_unlock() right
 * after it (before printing results).  Its pool's workers take no lock:
 * the command holds them for the whole job.  HDF5 commands take them in
 * sharr-h5, after the exec (an exec marks the robust mutexes the process
 * held as if it had died).
 *
 * Options: CLI_LOCK_OPTIONS in the getopt_long table, cli_lock_option()
 * for each result, CLI_LOCK_HELP in --help (PAD after "--no-lock" and IND
 * reach the column of the descriptions). */
enum { CLI_OPT_NO_LOCK = 0x100, CLI_OPT_LOCK_TIMEOUT };
#define CLI_LOCK_OPTIONS                                                     \
    {"no-lock", no_argument, NULL, CLI_OPT_NO_LOCK},                         \
    {"lock-timeout", required_argument, NULL, CLI_OPT_LOCK_TIMEOUT}
#define CLI_LOCK_HELP(PAD, IND)                                              \
    "      --no-lock" PAD "do not take the lock (man sharr: LOCKS)\n"        \
    "      --lock-timeout S\n"                                               \
    IND "wait at most S seconds for a lock that another\n"                   \
    IND "process holds (default: for ever; 0: do not wait),\n"               \
    IND "then exit with status 4, having done nothing\n"

/* @return -1 if ch is not an option of CLI_LOCK_OPTIONS, else 0 or
 * EXIT_USAGE. */
int cli_lock_option(int ch, const char *arg);

/* At most this many distinct arrays per command. */
#define CLI_MAX_LOCKS 16

/* Take the locks of a[0..n) (writes[i]: the command writes a[i]'s
 * elements), unless --no-lock: each array once (by its id, so a name
 * given twice or a hard link is one lock) and in the order of their ids,
 * so that commands on the same arrays never deadlock.  A lock that an
 * ancestor process holds and names in $SHARR_LOCK_HELD (see
 * cli_lock_inherited) is not taken again.  A lock held by another process
 * is waited for, saying so once on stderr, for --lock-timeout at most.  A
 * lock whose holder died is taken with a note on stderr (the data may be
 * half-written) and the command goes on, as `sharr lock` does.  An array
 * read through a segment the user may not write cannot be locked: it is
 * read without its lock, with a note.  Ctrl-C, SIGTERM and SIGHUP while
 * waiting release the locks taken so far and end the process as the
 * signal would; once every lock is held they (and SIGPIPE) release the
 * ones held for reading before it ends (a reader's death would tell the
 * next holder the data may be half-written), and leave the written ones
 * to be marked by
 * the kernel at its death, since the data may be.  One set per process.
 * @return 0, EXIT_LOCKED (timed out: nothing is held) or EXIT_RUNTIME
 * after printing why. */
int cli_lock(sharr_array *const *a, const bool *writes, size_t n);

/* Release what cli_lock() took (nothing after --no-lock), restoring the
 * signal dispositions it found. */
void cli_unlock(void);

/* Release the locks cli_lock() holds for reading only: what a handler of
 * SIGINT, SIGTERM or SIGHUP that ends the process calls first (the one of
 * cli_lock() does).  Async-signal-safe here: the tool's main thread takes
 * no other robust mutex, so none is half-taken when the signal comes. */
void cli_unlock_readers(void);

/* $SHARR_LOCK_HELD: "NAME:ID[,NAME:ID...]", the locks that `sharr lock`
 * holds for the commands it runs (ID: the holding thread, its pid).  True
 * if NAME:holder is listed there and the process of thread `holder` (the
 * lock's holder now, read from the lock) is an ancestor of this one: then
 * the lock is held for us and taking it would deadlock.  A forged or stale
 * entry is never believed: nobody holds the lock, or someone who is not
 * an ancestor. */
bool cli_lock_inherited(const char *name, pid_t holder);

/* Add NAME:pid of this process to $SHARR_LOCK_HELD, for the commands it
 * runs next.  @return 0 or EXIT_RUNTIME after printing why. */
int cli_lock_export(const char *name);

/* ---- in-place work interrupted (tools/cmd_compute.c) ---- */

/* Between begin and end, SIGINT, SIGTERM or SIGHUP prints on stderr that
 * array `name` was partly modified by `sub`, with the blocks done so far
 * (ro's progress callback counts them and still feeds the bar), then kills
 * the process with that signal (status 130, 143 or 129).  A signal the
 * process inherited as ignored stays ignored.  One at a time per process. */
void cli_inplace_begin(const char *sub, const char *name, sharr_run_opts *ro);
void cli_inplace_end(void);

/* ---- the subcommands (tools/cmd_*.c) ---- */
int cmd_create(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_fill(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_reshape(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_axpy(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_gemm(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_copy(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_save(int argc, char **argv);
int cmd_h5ls(int argc, char **argv);

/* ---- queues and synchronization objects (tools/cmd_ipc.c) ---- */
int cmd_queue(int argc, char **argv);
int cmd_pipe(int argc, char **argv);
int cmd_lock(int argc, char **argv);
int cmd_sem(int argc, char **argv);
int cmd_event(int argc, char **argv);
int cmd_cond(int argc, char **argv);
int cmd_barrier(int argc, char **argv);

/* How ls --json (an object's fields) and info show an object that is not
 * an array. */
void cli_obj_json(const sharr_info *in);
void cli_obj_info(const sharr_info *in);

#endif /* SHARR_CLI_H */
