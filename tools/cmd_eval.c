/*
 * cmd_eval.c - the expression commands: eval ('OUT = EXPR' over arrays, on
 * a pool of workers) and copy (rows of an array into a new one, in any
 * dtype).  Both leave no half-made array: the library builds a new one
 * under a staging name and names it only when it is complete.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COMMON_LONGOPTS {"help", no_argument, NULL, 'h'}, \
                        {"version", no_argument, NULL, 'V'}

/* ---- eval ---- */

static const char eval_usage[] =
    "Usage: sharr eval 'OUT = EXPR'... [-f FILE] [-j N] [--dtype DT] [--temp]\n"
    "                  [--force] [--schedule S] [--keep-going]\n\n"
    "Evaluate EXPR over shared arrays into the array OUT, on a pool of\n"
    "workers, in one pass over memory (the expression is compiled once and\n"
    "each worker runs it over its rows in cache-sized tiles).  Syntax and\n"
    "precedence are Python's, semantics NumPy's: broadcasting, promotion\n"
    "with Python numbers as weak scalars (NEP 50: f32 * 2.5 stays f32,\n"
    "u8 + 1 stays u8), ufunc result dtypes (sqrt of i32 is f64, abs of c64\n"
    "is f32).  Every error is found before anything is written.\n\n"
    "  operands   NAME, 'any.valid-name' (quoted), 2, -1.5e3, 2j, 0.6+0.8j,\n"
    "             inf, nan\n"
    "  operators  + - * / // % **  < <= > >= == !=  & | ^ ~ (integers,\n"
    "             booleans)  unary -  ( )\n"
    "  functions  abs real imag conj angle sqrt exp expm1 log log1p log10\n"
    "             sin cos tan arcsin arccos arctan arctan2 sinh cosh tanh\n"
    "             floor ceil round minimum maximum clip(x, lo, hi)\n"
    "             where(c, a, b) isnan isinf isfinite\n"
    "  casts      i8(x) ... u64(x) f32(x) f64(x) c64(x) c128(x)\n"
    "  per row    rowsum rowmean rowmin rowmax rownorm: over every axis but\n"
    "             the first, shape (rows,), summed as 'sharr stat' sums\n\n"
    "Comparisons give booleans, stored as u8 0/1.  Integers wrap; // and %\n"
    "by zero give 0 and are counted in a warning.  OUT is created if missing\n"
    "(with the result's shape and dtype), overwritten in place if it has\n"
    "them, and otherwise an error unless --force.  OUT may be an input.\n\n"
    "Several statements (arguments, and lines of FILE) run in order on one\n"
    "pool; an error names the statement by its number and stops the run\n"
    "unless --keep-going.\n\n"
    "  -f, --file FILE     statements, one per line ('-': stdin; blank lines\n"
    "                      and lines starting with # are skipped; lines up\n"
    "                      to 64 KiB, 64 MiB in all, no NUL byte)\n"
    "  -k, --keep-going    run the other statements after a failure (the\n"
    "                      exit status is still that of the first)\n"
    "  -t, --dtype DT      OUT's dtype; the result is cast as NumPy's\n"
    "                      astype (NaN to integers as on x86-64: see man)\n"
    "      --temp          a new OUT is removed when the calling shell exits\n"
    "      --force         replace an OUT of another dtype or shape\n"
    "  -j, --jobs N        worker processes (default: one per CPU)\n"
    "  -s, --schedule S    static | dynamic[,CHUNK] | guided[,CHUNK] | auto\n"
    "      --foreign       read arrays of other users too\n"
    CLI_LOCK_HELP("       ", "                      ")
    "  -h, --help          show this help\n\n"
    "Each statement holds the locks of the arrays it reads and of an OUT it\n"
    "overwrites while it runs (man sharr: LOCKS).\n"
    "Exit status: 0 done, 1 failure (unknown name, shapes, dtypes), 2 bad\n"
    "usage or a syntax error (shown with a caret under the column), 4 a\n"
    "lock not taken within --lock-timeout.\n";

struct eval_args {
    int jobs;
    bool force, temp, keep_going;
    const char *file;
    sharr_dtype dtype;
    sharr_schedule schedule;
};

static int eval_options(int argc, char **argv, struct eval_args *a)
{
    static const struct option lo[] = {
        {"jobs", required_argument, NULL, 'j'},
        {"dtype", required_argument, NULL, 't'},
        {"schedule", required_argument, NULL, 's'},
        {"temp", no_argument, NULL, 'T'},
        {"force", no_argument, NULL, 'o'},
        {"file", required_argument, NULL, 'f'},
        {"keep-going", no_argument, NULL, 'k'}, CLI_FOREIGN_OPTION,
        CLI_LOCK_OPTIONS, COMMON_LONGOPTS, {0}};
    int ch, rc;

    cli_foreign_option = true;
    while ((ch = getopt_long(argc, argv, ":j:t:s:f:khV", lo, NULL)) != -1) {
        if ((rc = cli_lock_option(ch, optarg)) >= 0) {
            if (rc)
                return rc;
            continue;
        }
        switch (ch) {
        case 'f': a->file = cli_arg(optarg); break;
        case 'k': a->keep_going = true; break;
        case 'j': if ((rc = cli_parse_jobs(optarg, &a->jobs))) return rc;
                  break;
        case 't': if (sharr_dtype_parse(cli_arg(optarg), &a->dtype) < 0)
                      return cli_usage("%s", sharr_errmsg());
                  break;
        case 's': if ((rc = cli_parse_schedule(optarg, &a->schedule)))
                      return rc;
                  break;
        case 'T': a->temp = true; break;
        case 'o': a->force = true; break;
        case 'F': cli_open_flags |= SHARR_OPEN_FOREIGN; break;
        case 'h': cli_help(eval_usage); return -1;
        case 'V': cli_version(); return -1;
        default: return cli_bad_option(ch, argv);
        }
    }
    if (argc == optind && !a->file)
        return cli_usage("missing 'OUT = EXPR'");
    return a->schedule.kind == SHARR_SCHED_DEFAULT ? cli_check_env_schedule()
                                                   : 0;
}

/* The output name of the statement into name (bare or quoted), and
 * whether that array exists already (then eval writes it in place). */
static bool out_exists(const char *stmt, char *name, size_t size)
{
    size_t n = 0;
    sharr_info info;
    char q = 0;

    while (*stmt == ' ' || *stmt == '\t')
        stmt++;
    if (*stmt == '\'' || *stmt == '"')
        q = *stmt++;
    while (n + 1 < size && stmt[n] && (q ? stmt[n] != q
                                         : stmt[n] != ' ' && stmt[n] != '='))
        n++;
    memcpy(name, stmt, n);
    name[n] = '\0';
    return n > 0 && sharr_stat(name, &info) == 0;
}

/* The arrays of the statement, opened for their locks: those EXPR reads
 * and an OUT that exists (written).  Names that do not open are left to
 * sharr_eval(), which says why; so is an expression that does not parse.
 * @return how many went into a[] and writes[]. */
static size_t open_for_locks(const char *stmt, const char *out, bool inplace,
                             sharr_array **a, bool *writes, size_t max)
{
    const char *eq = strchr(stmt, '=');
    sharr_expr *e = NULL;
    size_t n = 0;

    if (inplace && n < max &&
        sharr_array_open(out, cli_open_flags, &a[n]) == 0)
        writes[n++] = true;
    /* Quoted names cannot hold '=' (it is not a name character), so the
     * first one ends OUT. */
    if (eq && sharr_expr_compile(eq + 1, &e) == 0) {
        for (size_t i = 0; i < sharr_expr_nnames(e) && n < max; i++)
            if (sharr_array_open(sharr_expr_name(e, i),
                                 SHARR_OPEN_RDONLY | cli_open_flags,
                                 &a[n]) == 0)
                writes[n++] = false;
    }
    sharr_expr_free(e);
    return n;
}

/* One statement (number `no` of `total`) on the pool. */
static int eval_one(sharr_pool *pool, const char *stmt, size_t no,
                    size_t total, const struct eval_args *a)
{
    sharr_eval_opts o = {0};
    sharr_eval_result res;
    struct cli_progress bar;
    char out[SHARR_NAME_MAX + 1];
    bool inplace = out_exists(stmt, out, sizeof out), writes[16];
    sharr_array *held[16];
    size_t nheld = open_for_locks(stmt, out, inplace, held, writes, 16);
    int err, rc;

    o.dtype = a->dtype;
    o.force = a->force;
    o.open_flags = cli_open_flags;
    o.run.schedule = a->schedule;
    if (a->temp) {
        o.create.flags = SHARR_CREATE_TEMP;
        o.create.owner = getppid();
    }
    if ((rc = cli_lock(held, writes, nheld)) != 0) {
        for (size_t i = 0; i < nheld; i++)
            sharr_array_close(held[i]);
        return rc;
    }
    cli_progress_init(&bar, "eval", &o.run);
    if (inplace)
        cli_inplace_begin("eval", out, &o.run);
    err = sharr_eval(pool, stmt, &o, &res);
    if (inplace)
        cli_inplace_end();
    cli_progress_done(&bar);
    cli_unlock();
    for (size_t i = 0; i < nheld; i++)
        sharr_array_close(held[i]);
    if (err == SHARR_EINVAL && (strncmp(sharr_errmsg(), "syntax error", 12) == 0
                                || strncmp(sharr_errmsg(), "expected 'OUT",
                                           13) == 0)) {
        if (total > 1)
            return cli_usage("statement %zu: %s", no, sharr_errmsg());
        return cli_usage("%s", sharr_errmsg());
    }
    if (err < 0 && total > 1)
        return cli_error("statement %zu: %s", no, cli_errmsg());
    if (err < 0)
        return cli_fail(err);
    if (res.zero_divisions)
        fprintf(stderr, "sharr: eval: %s%.0zu%swarning: %" PRIu64 " integer "
                "division%s by zero (or 0 to a negative power) gave 0\n",
                total > 1 ? "statement " : "", total > 1 ? no : 0,
                total > 1 ? ": " : "", res.zero_divisions,
                res.zero_divisions == 1 ? "" : "s");
    return EXIT_OK;
}

/* The statements: the arguments, then the lines of the file. */
/* A line longer than the parser takes (its limit on a statement's text),
 * or a file bigger than this, is refused before it is all in memory. */
#define LINE_MAX_BYTES 65536
#define FILE_MAX_BYTES ((size_t)64 << 20)

static int read_statements(char **args, int nargs, const char *file,
                           char ***out, size_t *n)
{
    char **list = NULL, *line = NULL;
    size_t cap = 0, len = 0, lineno = 0, total = 0;
    FILE *f = NULL;
    int rc = 0;

    *n = 0;
    for (int i = 0; i <= nargs; i++) {
        const char *s = NULL;
        size_t got;
        if (i < nargs) {
            s = cli_arg(args[i]);
        } else if (file) {
            if (!f && !(f = strcmp(file, "-") ? fopen(file, "r") : stdin)) {
                rc = cli_error("%s: %s", file, strerror(errno));
                break;
            }
            int r = cli_read_record(f, '\n', LINE_MAX_BYTES, &line, &len,
                                    &got);
            lineno++;
            if (r == 0)
                break;
            if (r == -1) {
                rc = cli_error("%s: %s", file, strerror(errno));
                break;
            }
            if (r == -2) {
                rc = cli_usage("%s: line %zu is longer than %d bytes", file,
                               lineno, LINE_MAX_BYTES);
                break;
            }
            if ((total += got + 1) > FILE_MAX_BYTES) {
                rc = cli_usage("%s: more than 64 MiB of statements (at line "
                               "%zu)", file, lineno);
                break;
            }
            if (memchr(line, '\0', got)) {
                rc = cli_usage("%s: line %zu holds a NUL byte", file, lineno);
                break;
            }
            s = line + strspn(line, " \t");
            if (!*s || *s == '#') {
                i--;
                continue;
            }
            i--; /* stay on the file */
        } else {
            break;
        }
        if (*n == cap) {
            char **l = realloc(list, (cap = cap ? 2 * cap : 16) * sizeof *l);
            if (!l) { rc = cli_error("out of memory"); break; }
            list = l;
        }
        if (!(list[*n] = strdup(s))) { rc = cli_error("out of memory"); break; }
        ++*n;
    }
    if (f && f != stdin)
        fclose(f);
    free(line);
    *out = list;
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    struct eval_args a = {0};
    char **list = NULL;
    size_t n = 0;
    sharr_pool *pool;
    int rc = eval_options(argc, argv, &a), first = 0;

    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    if ((rc = read_statements(argv + optind, argc - optind, a.file, &list,
                              &n)) == 0 && n == 0)
        rc = cli_usage("no statement in %s", a.file);
    if (rc == 0 && (rc = cli_pool(a.jobs, &pool)) == 0) {
        for (size_t i = 0; i < n && (first == 0 || a.keep_going); i++)
            if ((rc = eval_one(pool, list[i], i + 1, n, &a)) && !first)
                first = rc;
        sharr_pool_destroy(pool);
        rc = first;
    }
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
    return rc;
}

/* ---- copy ---- */

static const char copy_usage[] =
    "Usage: sharr copy SRC DST [--rows A:B] [--dtype DT] [--temp] [-j N]\n\n"
    "Copy SRC (or its rows A:B) into the new array DST, converted to DT as\n"
    "NumPy's astype does (casting='unsafe'), on a pool of workers.  DST\n"
    "appears only once complete.  Floats to integers truncate toward zero;\n"
    "NaN, inf and values out of range give what NumPy gives on x86-64\n"
    "(e.g. NaN is 0 as u8, -2147483648 as i32, 2^63 as u64); complex to\n"
    "real keeps the real part.\n\n"
    "  -r, --rows A:B      rows A..B-1 (Python slice bounds, negative from\n"
    "                      the end; A alone is one row)\n"
    "  -t, --dtype DT      DST's dtype (default: SRC's)\n"
    "      --temp          remove DST when the calling shell exits\n"
    "  -j, --jobs N        worker processes (default: one per CPU)\n"
    "      --foreign       read a SRC of another user too\n"
    CLI_LOCK_HELP("       ", "                      ")
    "  -h, --help          show this help\n\n"
    "It holds the lock of SRC while it reads.\n";

int cmd_copy(int argc, char **argv)
{
    static const struct option lo[] = {
        {"rows", required_argument, NULL, 'r'},
        {"dtype", required_argument, NULL, 't'},
        {"jobs", required_argument, NULL, 'j'},
        {"temp", no_argument, NULL, 'T'}, CLI_FOREIGN_OPTION,
        CLI_LOCK_OPTIONS, COMMON_LONGOPTS, {0}};
    static const bool reads = false;
    sharr_create_opts co = {0, 0, 0};
    sharr_dtype dt = SHARR_DTYPE_INVALID;
    const char *rows = NULL, *src, *dst;
    size_t r0 = 0, r1 = 0;
    sharr_array *a;
    sharr_pool *pool;
    int ch, rc, jobs = 0, err;

    cli_foreign_option = true;
    while ((ch = getopt_long(argc, argv, ":r:t:j:hV", lo, NULL)) != -1) {
        if ((rc = cli_lock_option(ch, optarg)) >= 0) {
            if (rc)
                return rc;
            continue;
        }
        switch (ch) {
        case 'r': rows = cli_arg(optarg); break;
        case 't': if (sharr_dtype_parse(cli_arg(optarg), &dt) < 0)
                      return cli_usage("%s", sharr_errmsg());
                  break;
        case 'j': if ((rc = cli_parse_jobs(optarg, &jobs))) return rc;
                  break;
        case 'T': co.flags = SHARR_CREATE_TEMP; co.owner = getppid(); break;
        case 'F': cli_open_flags |= SHARR_OPEN_FOREIGN; break;
        case 'h': return cli_help(copy_usage);
        case 'V': return cli_version();
        default: return cli_bad_option(ch, argv);
        }
    }
    if (argc - optind != 2)
        return cli_usage(argc - optind < 2 ? "missing SRC or DST"
                                           : "too many arguments");
    if ((rc = cli_check_env_schedule()) != 0)
        return rc;
    if (!(src = cli_name(argv[optind])) || !(dst = cli_name(argv[optind + 1])))
        return EXIT_USAGE;
    if ((err = sharr_array_open(src, SHARR_OPEN_RDONLY | cli_open_flags,
                                &a)) < 0)
        return cli_fail(err);
    if (rows && (rc = cli_parse_rows(rows, sharr_array_rows(a), &r0, &r1))) {
        sharr_array_close(a);
        return rc;
    }
    if ((rc = cli_pool(jobs, &pool)) == 0) {
        if ((rc = cli_lock(&a, &reads, 1)) == 0) {
            err = sharr_copy(pool, a, r0, r1, dst, dt, &co, NULL);
            cli_unlock();
            rc = err < 0 ? cli_fail(err) : EXIT_OK;
        }
        sharr_pool_destroy(pool);
    }
    sharr_array_close(a);
    return rc;
}
