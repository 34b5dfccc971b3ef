/*
 * sharr_mpi.c - the sharr-mpi command: sharr's array tools over MPI ranks
 * (mpirun -np P sharr-mpi SUBCOMMAND ...), on distributed arrays whose
 * slabs persist on their nodes between launches (include/sharr_mpi.h).
 *
 * Every rank runs the same subcommand on the same arguments; every library
 * call is collective and agrees on its result, so all ranks fail together
 * with the failing rank's message, which rank 0 prints ("sharr-mpi: SUB:
 * ..."), and all exit 1 (2 for bad usage).  Rank 0 prints the results.
 * Never forks (Open MPI's advice after MPI_Init).
 */
#define _POSIX_C_SOURCE 200809L
#include "sharr.h"
#include "sharr_mpi.h"
#include "statfmt.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };
#define SCRIPT_MAX (1 << 20)
#define SCRIPT_ARGS 64

static int rank;
static const char *sub = "";
static char where[64] = ""; /* "SCRIPT:LINE: " inside run */

static const char usage[] =
    "Usage: mpirun -np P sharr-mpi SUBCOMMAND ...\n\n"
    "  load FILE:/DSET NAME        load a dataset (parallel HDF5)\n"
    "  create NAME DTYPE SHAPE     a new zero-filled array (SHAPE 100x8)\n"
    "  fill NAME SPEC              zeros, ones, VALUE, range, random[:SEED]\n"
    "  apply NAME OP [VALUE...]    scale, add, conj, abs, square, sqrt, exp,\n"
    "                              log, clip, normalize-rows\n"
    "  axpy ALPHA X Y              Y += ALPHA * X\n"
    "  stat NAME [--json]          count, sum, mean, min, max, 2-norm\n"
    "  gemm A B C [--alpha Z] [--beta Z]\n"
    "                              C = alpha A @ B + beta C (C is created,\n"
    "                              zero, when it does not exist)\n"
    "  eval 'OUT = EXPR' [--dtype DT] [--force]\n"
    "                              sharr eval's expressions, each rank over\n"
    "                              its rows of OUT (sharr-mpi eval --help)\n"
    "  save NAME FILE:/DSET [--chunk R[xC...]] [--gzip L] [--shuffle]\n"
    "       [--complex h5py|matlab] [--force]\n"
    "                              save into a new HDF5 file\n"
    "  rm NAME...                  remove every slab of the arrays\n"
    "  run SCRIPT                  one subcommand per line, one launch\n\n"
    "Arrays are split by rows over the nodes (SHARR_MPI_RANKS_PER_NODE=k\n"
    "makes groups of k ranks separate nodes) and persist between launches;\n"
    "a launch with another layout is refused.  Rank 0 prints.  With\n"
    "SHARR_MPI_TIMES set, rank 0 prints each subcommand's wall time on\n"
    "stderr (\"time SUB SECONDS\").\n";

__attribute__((format(printf, 1, 2)))
static int fail_usage(const char *fmt, ...)
{
    va_list ap;

    if (rank == 0) {
        fprintf(stderr, "sharr-mpi: %s%s: ", where, sub);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry 'sharr-mpi --help'.\n");
    }
    return EXIT_USAGE;
}

/* From tools/cli.c (linked in; its header clashes with this tool's own
 * names): sharr_errmsg() with the library's C hints in the CLI's words. */
const char *cli_errmsg(void);

static int fail(int code)
{
    if (rank == 0)
        fprintf(stderr, "sharr-mpi: %s%s: %s\n", where, sub,
                sharr_errmsg()[0] ? cli_errmsg() : sharr_strerror(code));
    return EXIT_RUNTIME;
}

/* "FILE:/DSET" into file and dset (the first ":/"). */
static int split_target(const char *text, char *file, size_t size,
                        const char **dset)
{
    const char *c = strstr(text, ":/");

    if (!c || c == text || (size_t)(c - text) >= size)
        return fail_usage("'%s': give FILE:/path/to/dataset", text);
    memcpy(file, text, (size_t)(c - text));
    file[c - text] = '\0';
    *dset = c + 1;
    return 0;
}

/* ---- load, create, fill, rm ---- */

static int cmd_load(int argc, char **argv)
{
    char file[4096];
    const char *dset;
    sharr_dist *d;
    int rc, err;

    if (argc != 3)
        return fail_usage("usage: load FILE:/DSET NAME");
    if ((rc = split_target(argv[1], file, sizeof file, &dset)) != 0)
        return rc;
    err = sharr_dist_h5_load(MPI_COMM_WORLD, file, dset, argv[2], &d);
    if (err == SHARR_H5_EMPTY)
        return fail(err);
    if (err < 0)
        return fail(err);
    if (rank == 0)
        printf("%s\n", argv[2]);
    sharr_dist_close(d);
    return EXIT_OK;
}

static int parse_shape(const char *text, size_t *ndim, size_t *shape)
{
    const char *p = text;

    *ndim = 0;
    if (strcmp(text, "scalar") == 0)
        return 0;
    while (*p) {
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || v == 0 || *ndim == SHARR_MAX_NDIM ||
            (*end && *end != 'x' && *end != ','))
            return fail_usage("bad shape '%s': use e.g. 100x8 (at most %d "
                              "dimensions >= 1) or scalar", text,
                              SHARR_MAX_NDIM);
        shape[(*ndim)++] = (size_t)v;
        p = *end ? end + 1 : end;
    }
    return *ndim ? 0 : fail_usage("empty shape");
}

static int cmd_create(int argc, char **argv)
{
    size_t ndim, shape[SHARR_MAX_NDIM];
    sharr_dtype dt;
    sharr_dist *d;
    int rc, err;

    if (argc != 4)
        return fail_usage("usage: create NAME DTYPE SHAPE");
    if (sharr_dtype_parse(argv[2], &dt) < 0)
        return fail_usage("%s", sharr_errmsg());
    if ((rc = parse_shape(argv[3], &ndim, shape)) != 0)
        return rc;
    if ((err = sharr_dist_create(MPI_COMM_WORLD, argv[1], dt, ndim, shape,
                                 &d)) < 0)
        return fail(err);
    sharr_dist_close(d);
    return EXIT_OK;
}

static int cmd_fill(int argc, char **argv)
{
    sharr_fill_spec spec;
    sharr_dist *d;
    int err;

    if (argc != 3)
        return fail_usage("usage: fill NAME SPEC");
    if ((err = sharr_dist_open(MPI_COMM_WORLD, argv[1], &d)) < 0)
        return fail(err);
    if ((err = sharr_fill_parse(sharr_dist_dtype(d), argv[2], &spec)) < 0) {
        sharr_dist_close(d);
        return fail_usage("%s", sharr_errmsg());
    }
    err = sharr_dist_fill(d, &spec);
    sharr_dist_close(d);
    return err < 0 ? fail(err) : EXIT_OK;
}

static int cmd_rm(int argc, char **argv)
{
    int rc = EXIT_OK, err;

    if (argc < 2)
        return fail_usage("usage: rm NAME...");
    for (int i = 1; i < argc; i++)
        if ((err = sharr_dist_unlink(MPI_COMM_WORLD, argv[i])) < 0)
            rc = fail(err);
    return rc;
}

/* ---- apply, axpy ---- */

static int parse_value(sharr_dtype dt, const char *text, void *elem)
{
    if (sharr_value_parse(dt, text, elem) < 0)
        return fail_usage("%s", sharr_errmsg());
    return 0;
}

static int cmd_apply(int argc, char **argv)
{
    unsigned char z[2][SHARR_MAX_ITEMSIZE];
    sharr_dist *d;
    sharr_op op;
    int nargs, rc = 0, err;

    if (argc < 3)
        return fail_usage("usage: apply NAME OP [VALUE...]");
    if (sharr_op_parse(argv[2], &op, &nargs) < 0)
        return fail_usage("%s", sharr_errmsg());
    if (argc - 3 != nargs)
        return fail_usage("%s takes %d value%s, not %d", sharr_op_name(op),
                          nargs, nargs == 1 ? "" : "s", argc - 3);
    if ((err = sharr_dist_open(MPI_COMM_WORLD, argv[1], &d)) < 0)
        return fail(err);
    for (int i = 0; i < nargs && rc == 0; i++)
        rc = parse_value(sharr_dist_dtype(d), argv[3 + i], z[i]);
    if (rc == 0 && (err = sharr_dist_apply(d, op, nargs ? z[0] : NULL,
                                           nargs > 1 ? z[1] : NULL)) < 0)
        rc = fail(err);
    sharr_dist_close(d);
    return rc;
}

static int cmd_axpy(int argc, char **argv)
{
    unsigned char alpha[SHARR_MAX_ITEMSIZE];
    sharr_dist *x = NULL, *y = NULL;
    int rc = 0, err;

    if (argc != 4)
        return fail_usage("usage: axpy ALPHA X Y");
    if ((err = sharr_dist_open(MPI_COMM_WORLD, argv[2], &x)) < 0 ||
        (err = sharr_dist_open(MPI_COMM_WORLD, argv[3], &y)) < 0)
        rc = fail(err);
    if (rc == 0)
        rc = parse_value(sharr_dist_dtype(y), argv[1], alpha);
    if (rc == 0 && (err = sharr_dist_axpy(alpha, x, y)) < 0)
        rc = fail(err);
    sharr_dist_close(x);
    sharr_dist_close(y);
    return rc;
}

/* ---- stat: printed as `sharr stat` prints ---- */

static int cmd_stat(int argc, char **argv)
{
    bool json = false;
    const char *name = NULL;
    sharr_stats st;
    sharr_dist *d;
    int err;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (!name && argv[i][0] != '-')
            name = argv[i];
        else
            return fail_usage("usage: stat NAME [--json]");
    }
    if (!name)
        return fail_usage("missing NAME");
    if ((err = sharr_dist_open(MPI_COMM_WORLD, name, &d)) < 0)
        return fail(err);
    err = sharr_dist_stats(d, &st);
    if (err == 0 && rank == 0) {
        stat_print(sharr_dist_dtype(d), &st, json, 0, false);
        if (json)
            putchar('\n');
    }
    sharr_dist_close(d);
    return err < 0 ? fail(err) : EXIT_OK;
}

/* ---- gemm ---- */

/* Open C, or create it zero-filled (m x n of A's dtype) when missing. */
static int open_or_create(const char *name, sharr_dist *a, sharr_dist *b,
                          sharr_dist **c)
{
    size_t shape[2] = {sharr_dist_shape(a)[0], sharr_dist_shape(b)[1]};
    int err = sharr_dist_open(MPI_COMM_WORLD, name, c);

    if (err != SHARR_ENOENT || sharr_dist_ndim(a) != 2 ||
        sharr_dist_ndim(b) != 2)
        return err;
    return sharr_dist_create(MPI_COMM_WORLD, name, sharr_dist_dtype(a), 2,
                             shape, c);
}

static int cmd_gemm(int argc, char **argv)
{
    unsigned char alpha[SHARR_MAX_ITEMSIZE], beta[SHARR_MAX_ITEMSIZE];
    const char *names[3], *za = "1", *zb = "0";
    sharr_dist *m[3] = {NULL, NULL, NULL};
    int n = 0, rc = 0, err = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--alpha") == 0 && i + 1 < argc)
            za = argv[++i];
        else if (strcmp(argv[i], "--beta") == 0 && i + 1 < argc)
            zb = argv[++i];
        else if (n < 3 && argv[i][0] != '-')
            names[n++] = argv[i];
        else
            return fail_usage("usage: gemm A B C [--alpha Z] [--beta Z]");
    }
    if (n != 3)
        return fail_usage("missing A, B or C");
    if ((err = sharr_dist_open(MPI_COMM_WORLD, names[0], &m[0])) < 0 ||
        (err = sharr_dist_open(MPI_COMM_WORLD, names[1], &m[1])) < 0 ||
        (err = open_or_create(names[2], m[0], m[1], &m[2])) < 0)
        rc = fail(err);
    if (rc == 0 && (rc = parse_value(sharr_dist_dtype(m[2]), za, alpha)) == 0
        && (rc = parse_value(sharr_dist_dtype(m[2]), zb, beta)) == 0 &&
        (err = sharr_dist_gemm(alpha, m[0], m[1], beta, m[2])) < 0)
        rc = fail(err);
    for (int i = 0; i < 3; i++)
        sharr_dist_close(m[i]);
    return rc;
}

/* ---- save ---- */

static int parse_chunk(const char *text, sharr_save_opts *o)
{
    size_t shape[SHARR_MAX_NDIM];
    int rc = parse_shape(text, &o->chunk_ndim, shape);

    memcpy(o->chunk, shape, sizeof shape);
    return rc;
}

static int save_option(int argc, char **argv, int *i, sharr_save_opts *o)
{
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;

    if (strcmp(a, "--shuffle") == 0)
        return o->shuffle = 1, 0;
    if (strcmp(a, "--force") == 0)
        return o->force = 1, 0;
    if (!v)
        return fail_usage("%s needs a value", a);
    (*i)++;
    if (strcmp(a, "--chunk") == 0)
        return parse_chunk(v, o);
    if (strcmp(a, "--gzip") == 0) {
        char *end;
        long l = strtol(v, &end, 10);
        if (*end || l < 1 || l > 9)
            return fail_usage("--gzip %s: use a level 1..9", v);
        return o->gzip = (int)l, 0;
    }
    if (strcmp(a, "--complex") == 0 && (!strcmp(v, "h5py") ||
                                        !strcmp(v, "matlab")))
        return o->complex_matlab = strcmp(v, "matlab") == 0, 0;
    return fail_usage("unknown option %s %s", a, v);
}

static int cmd_save(int argc, char **argv)
{
    sharr_save_opts o;
    const char *pos[2], *dset;
    char file[4096];
    sharr_dist *d;
    int n = 0, rc, err;

    memset(&o, 0, sizeof o);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0) {
            if ((rc = save_option(argc, argv, &i, &o)) != 0)
                return rc;
        } else if (n < 2) {
            pos[n++] = argv[i];
        } else {
            return fail_usage("too many arguments");
        }
    }
    if (n != 2)
        return fail_usage("usage: save NAME FILE:/DSET [options]");
    if ((rc = split_target(pos[1], file, sizeof file, &dset)) != 0)
        return rc;
    if ((err = sharr_dist_open(MPI_COMM_WORLD, pos[0], &d)) < 0)
        return fail(err);
    err = sharr_dist_h5_save(d, file, dset, &o);
    sharr_dist_close(d);
    return err < 0 ? fail(err) : EXIT_OK;
}

/* ---- eval ---- */

static const char eval_usage[] =
    "Usage: mpirun -np P sharr-mpi eval 'OUT = EXPR' [--dtype DT] [--force]\n\n"
    "Evaluate EXPR over distributed arrays into OUT, as 'sharr eval' does\n"
    "(same language: Python's syntax, NumPy's broadcasting and promotion,\n"
    "rowsum rowmean rowmin rowmax rownorm per row; see 'sharr eval --help'),\n"
    "each rank over its rows of OUT, so OUT's bytes are sharr eval's for\n"
    "any rank or node count.  Operands with OUT's rows are read where they\n"
    "lie; operands broadcast along the rows are copied to every node.\n"
    "OUT is created if missing (laid out as 'create' lays it out, under a\n"
    "staging name, named OUT only once every rank is done), overwritten in\n"
    "place if it has the result's dtype and shape, else an error unless\n"
    "--force.  The words of the statement are joined with spaces, so a\n"
    "script line 'eval z = a * b + a' needs no quotes.\n\n"
    "  -t, --dtype DT   OUT's dtype (the result is cast as NumPy's astype)\n"
    "      --force      replace an OUT of another dtype or shape\n\n"
    "Exit status: 0 done, 1 failure on any rank (its message), 2 bad usage\n"
    "or a syntax error (with a caret under the column).  Integer // and %\n"
    "by zero give 0 and are counted, over all ranks, in a warning.\n";

/* The statement: the words that are not options, joined by spaces. */
static int eval_args(int argc, char **argv, char *stmt, size_t size,
                     sharr_dist_eval_opts *o)
{
    size_t len = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return -1;
        if (!strcmp(a, "--force")) {
            o->force = 1;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--dtype")) {
            if (i + 1 == argc)
                return fail_usage("%s needs a dtype", a);
            if (sharr_dtype_parse(argv[++i], &o->dtype) < 0)
                return fail_usage("%s", sharr_errmsg());
        } else if (len + strlen(a) + 2 > size) {
            return fail_usage("the statement is over %zu bytes", size - 1);
        } else {
            len += (size_t)snprintf(stmt + len, size - len, "%s%s",
                                    len ? " " : "", a);
        }
    }
    return len ? 0 : fail_usage("missing 'OUT = EXPR'");
}

/* A syntax error (bad usage, as for sharr eval), on every rank alike: the
 * ranks that did not fail first see it behind "rank R: ". */
static bool is_syntax(const char *msg)
{
    if (strncmp(msg, "rank ", 5) == 0 && strstr(msg, ": "))
        msg = strstr(msg, ": ") + 2;
    return !strncmp(msg, "syntax error", 12) ||
           !strncmp(msg, "expected 'OUT", 13);
}

static int cmd_eval(int argc, char **argv)
{
    sharr_dist_eval_opts o = {0};
    sharr_eval_result res;
    static char stmt[65536];
    int rc = eval_args(argc, argv, stmt, sizeof stmt, &o), err;

    if (rc < 0 && rank == 0)
        fputs(eval_usage, stdout);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    err = sharr_dist_eval(MPI_COMM_WORLD, stmt, &o, &res);
    if (err == SHARR_EINVAL && is_syntax(sharr_errmsg()))
        return fail_usage("%s", sharr_errmsg());
    if (err < 0)
        return fail(err);
    if (res.zero_divisions && rank == 0)
        fprintf(stderr, "sharr-mpi: %s%s: warning: %llu integer division%s by "
                "zero (or 0 to a negative power) gave 0\n", where, sub,
                (unsigned long long)res.zero_divisions,
                res.zero_divisions == 1 ? "" : "s");
    return EXIT_OK;
}

/* ---- dispatch, run ---- */

static int dispatch(int argc, char **argv);

/* Rank 0 reads the script; every rank gets its bytes. */
static int read_script(const char *path, char **out)
{
    long len = -1;
    char *buf = NULL;

    if (rank == 0) {
        FILE *f = fopen(path, "r");
        buf = malloc(SCRIPT_MAX + 1);
        if (f && buf) {
            len = (long)fread(buf, 1, SCRIPT_MAX + 1, f);
            if (ferror(f) || len > SCRIPT_MAX)
                len = -1;
        }
        if (f)
            fclose(f);
    }
    MPI_Bcast(&len, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    if (len < 0) {
        free(buf);
        if (rank == 0)
            fprintf(stderr, "sharr-mpi: run: cannot read %s (or it is over "
                    "%d bytes)\n", path, SCRIPT_MAX);
        return EXIT_RUNTIME;
    }
    if (rank != 0 && !(buf = malloc((size_t)len + 1)))
        MPI_Abort(MPI_COMM_WORLD, EXIT_RUNTIME); /* no way to agree */
    MPI_Bcast(buf, (int)len, MPI_CHAR, 0, MPI_COMM_WORLD);
    buf[len] = '\0';
    *out = buf;
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    char *text, *line, *save = NULL, *args[SCRIPT_ARGS];
    int rc, no = 0;

    if (argc != 2)
        return fail_usage("usage: run SCRIPT");
    if ((rc = read_script(argv[1], &text)) != 0)
        return rc;
    for (line = strtok_r(text, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        char *tok, *ts = NULL;
        int n = 0;
        no++;
        for (tok = strtok_r(line, " \t\r", &ts); tok && n < SCRIPT_ARGS;
             tok = strtok_r(NULL, " \t\r", &ts))
            args[n++] = tok;
        if (n == 0 || args[0][0] == '#')
            continue;
        snprintf(where, sizeof where, "%.40s:%d: ", argv[1], no);
        if (strcmp(args[0], "run") == 0)
            rc = fail_usage("a script cannot run a script");
        else
            rc = dispatch(n, args);
        where[0] = '\0';
    }
    free(text);
    return rc;
}

static int dispatch(int argc, char **argv)
{
    static const struct { const char *name; int (*fn)(int, char **); } cmds[] = {
        {"load", cmd_load}, {"create", cmd_create}, {"fill", cmd_fill},
        {"apply", cmd_apply}, {"axpy", cmd_axpy}, {"stat", cmd_stat},
        {"gemm", cmd_gemm}, {"eval", cmd_eval}, {"save", cmd_save},
        {"rm", cmd_rm}, {"run", cmd_run}};

    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(argv[0], cmds[i].name) == 0) {
            const char *outer = sub;
            int rc;
            double t0 = MPI_Wtime();
            sub = cmds[i].name;
            rc = cmds[i].fn(argc, argv);
            fflush(stdout);
            if (getenv("SHARR_MPI_TIMES")) {
                /* For make bench-mpi: the subcommand's wall time, all
                 * ranks done, from rank 0 on stderr. */
                MPI_Barrier(MPI_COMM_WORLD);
                if (rank == 0)
                    fprintf(stderr, "time %s %.6f\n", sub, MPI_Wtime() - t0);
            }
            sub = outer;
            return rc;
        }
    }
    sub = "";
    return fail_usage("unknown subcommand '%s'", argv[0]);
}

int main(int argc, char **argv)
{
    int rc;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (argc < 2) {
        rc = fail_usage("missing SUBCOMMAND");
    } else if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        if (rank == 0)
            fputs(usage, stdout);
        rc = EXIT_OK;
    } else if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
        if (rank == 0)
            printf("sharr-mpi %s\n", sharr_version_string());
        rc = EXIT_OK;
    } else {
        rc = dispatch(argc - 1, argv + 1);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) { /* a full disk, say */
        fprintf(stderr, "sharr-mpi: rank %d: cannot write the output\n",
                rank);
        rc = EXIT_RUNTIME;
    }
    MPI_Finalize();
    return rc;
}
