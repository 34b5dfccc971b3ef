/*
 * cmd_compute.c - the compute subcommands, run on a pool of workers:
 * apply, axpy, stat, gemm; and the note that in-place work (apply, fill)
 * was interrupted.  Its signal handler only reads atomics set by the
 * progress callback and calls write(), raise() and sigaction().
 */
#define _GNU_SOURCE
#include "cli.h"
#include "statfmt.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COMMON_LONGOPTS {"help", no_argument, NULL, 'h'}, \
                        {"version", no_argument, NULL, 'V'}

#define JOBS_HELP "  -j, --jobs N        worker processes (default: one per CPU)\n"
#define FOREIGN_HELP                                                          \
    "      --foreign       use arrays of other users too (refused by\n"       \
    "                      default: they could plant a segment under\n"      \
    "                      the name of yours)\n"
#define LOCK_HELP CLI_LOCK_HELP("       ", "                      ")

/* parse() result for --help and --version: they printed, exit 0. */
#define PRINTED_AND_DONE 1000

/* Options shared by the compute commands. */
struct compute_opts {
    int jobs;
    sharr_run_opts ro;
    bool json, per_row;
    const char *alpha, *beta;
    const char *into;        /* stat --into FIG=NAME,... */
};

/* Handle one getopt result common to every compute command.  Returns -1 if
 * `ch` is not a common option, else 0 or an exit status to return. */
static int common_option(int ch, struct compute_opts *o, char **argv,
                         const char *usage)
{
    int rc = cli_lock_option(ch, optarg);

    if (rc >= 0)
        return rc;
    switch (ch) {
    case 'j': return cli_parse_jobs(optarg, &o->jobs);
    case 's': return cli_parse_schedule(optarg, &o->ro.schedule);
    case 'F': cli_open_flags |= SHARR_OPEN_FOREIGN; return 0;
    case 'h': cli_help(usage); return PRINTED_AND_DONE;
    case 'V': cli_version(); return PRINTED_AND_DONE;
    case '?': case ':': return cli_bad_option(ch, argv);
    default: return -1;
    }
}

/* $SHARR_SCHEDULE is the default of --schedule where there is one, as
 * $OMP_SCHEDULE is for schedule(runtime); a value that does not parse is
 * an error, never silently ignored.  @return 0 or EXIT_USAGE. */
static int schedule_from_env(const struct option *lo, struct compute_opts *o)
{
    const char *env = getenv("SHARR_SCHEDULE");

    while (lo->name && strcmp(lo->name, "schedule") != 0)
        lo++;
    if (!lo->name)
        return cli_check_env_schedule();
    if (o->ro.schedule.kind != SHARR_SCHED_DEFAULT || !env || !*env)
        return 0;
    if (sharr_schedule_parse(env, &o->ro.schedule) < 0)
        return cli_usage("$SHARR_SCHEDULE: %s", sharr_errmsg());
    return 0;
}

/* Parse argv with the common options plus --json, --per-row, --alpha and
 * --beta where `lo` has them; positional arguments end up at argv[optind..].
 * @return 0, an exit status, or PRINTED_AND_DONE. */
static int parse(int argc, char **argv, const struct option *lo,
                 const char *shortopts, struct compute_opts *o,
                 const char *usage)
{
    int ch, rc;

    cli_foreign_option = true;
    while ((ch = getopt_long(argc, argv, shortopts, lo, NULL)) != -1) {
        if ((rc = common_option(ch, o, argv, usage)) >= 0) {
            if (rc != 0)
                return rc;
            continue;
        }
        switch (ch) {
        case 'J': o->json = true; break;
        case 'r': o->per_row = true; break;
        case 'a': o->alpha = cli_arg(optarg); break;
        case 'b': o->beta = cli_arg(optarg); break;
        case 'i': o->into = cli_arg(optarg); break;
        default: return cli_bad_option(ch, argv);
        }
    }
    return schedule_from_env(lo, o);
}

static int exit_of(int rc)
{
    return rc == PRINTED_AND_DONE ? EXIT_OK : rc;
}

/* Open the named arrays (argv entries) in order; on failure close them. */
static int open_arrays(char **names, size_t n, const unsigned *flags,
                       sharr_array **out)
{
    for (size_t i = 0; i < n; i++) {
        const char *name = cli_name(names[i]);
        int err;
        if (!name || (err = sharr_array_open(name, flags[i] | cli_open_flags,
                                             &out[i])) < 0) {
            int rc = name ? cli_fail(err) : EXIT_USAGE;
            while (i-- > 0)
                sharr_array_close(out[i]);
            return rc;
        }
    }
    return 0;
}

static void close_arrays(sharr_array **a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sharr_array_close(a[i]);
}

/* A value argument of dtype dt, e.g. for scale or alpha. */
static int parse_value(sharr_dtype dt, const char *text, const char *what,
                       void *elem)
{
    if (sharr_value_parse(dt, cli_arg(text), elem) < 0)
        return cli_usage("%s: %s", what, sharr_errmsg());
    return 0;
}

/* ---- in-place work interrupted ---- */

static struct {
    char sub[64];            /* "sharr: SUB: interrupted by " */
    char what[320];          /* ": array 'NAME' " */
    pid_t pid;               /* the CLI; a forked worker just dies */
    atomic_size_t done, total;
    void (*bar)(size_t, size_t, void *);
    void *bar_ctx;
    struct sigaction old[3];
    bool on[3];
} inplace;

/* The signals that end the tool and so interrupt the work, as cli_lock()
 * and the man page's LOCKS section group them. */
static const int inplace_sigs[3] = {SIGINT, SIGTERM, SIGHUP};

static void note_progress(size_t done, size_t total, void *ctx)
{
    atomic_store(&inplace.done, done);
    atomic_store(&inplace.total, total);
    if (inplace.bar)
        inplace.bar(done, total, ctx);
}

/* n in decimal at buf + *len (async-signal-safe). */
static void put_count(char *buf, size_t *len, size_t size, size_t n)
{
    char digits[24];
    int k = 0;

    do
        digits[k++] = (char)('0' + n % 10);
    while ((n /= 10) > 0);
    while (k > 0 && *len + 1 < size)
        buf[(*len)++] = digits[--k];
}

static void put_text(char *buf, size_t *len, size_t size, const char *s)
{
    while (*s && *len + 1 < size)
        buf[(*len)++] = *s++;
}

static void on_inplace_signal(int sig)
{
    size_t done = atomic_load(&inplace.done);
    size_t total = atomic_load(&inplace.total);
    char buf[1024];
    size_t len = 0;
    int saved = errno;

    if (getpid() == inplace.pid) {
        put_text(buf, &len, sizeof buf, inplace.sub);
        put_text(buf, &len, sizeof buf, sig == SIGINT ? "SIGINT"
                                        : sig == SIGTERM ? "SIGTERM"
                                                         : "SIGHUP");
        put_text(buf, &len, sizeof buf, inplace.what);
        put_text(buf, &len, sizeof buf, done ? "was partly modified: "
                                             : "may be partly modified: ");
        if (total && done >= total) {
            put_text(buf, &len, sizeof buf, "every block had finished");
        } else if (total && done) {
            put_count(buf, &len, sizeof buf, done);
            put_text(buf, &len, sizeof buf, " of ");
            put_count(buf, &len, sizeof buf, total);
            put_text(buf, &len, sizeof buf, " blocks were done; the rows of "
                     "the others may hold old, new or mixed values");
        } else {
            put_text(buf, &len, sizeof buf, "no block had finished; "
                     "any row may hold old, new or mixed values");
        }
        put_text(buf, &len, sizeof buf, "\n");
        (void)!write(STDERR_FILENO, buf, len);
        cli_unlock_readers();
    }
    /* Die of the signal, so the shell sees 128 + sig and a script stops. */
    signal(sig, SIG_DFL);
    errno = saved;
    raise(sig);
}

/* Install the handler for sig unless the process inherited it ignored. */
static bool catch_signal(int sig, struct sigaction *old)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_inplace_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < 3; i++)
        sigaddset(&sa.sa_mask, inplace_sigs[i]);
    if (sigaction(sig, NULL, old) < 0 || old->sa_handler == SIG_IGN)
        return false;
    return sigaction(sig, &sa, NULL) == 0;
}

void cli_inplace_begin(const char *sub, const char *name, sharr_run_opts *ro)
{
    snprintf(inplace.sub, sizeof inplace.sub, "sharr: %s: interrupted by ",
             sub);
    snprintf(inplace.what, sizeof inplace.what, ": array '%s' ", name);
    inplace.pid = getpid();
    atomic_store(&inplace.done, 0);
    atomic_store(&inplace.total, 0);
    inplace.bar = ro->progress;
    inplace.bar_ctx = ro->progress_ctx;
    ro->progress = note_progress;
    ro->progress_ctx = inplace.bar_ctx;
    for (size_t i = 0; i < 3; i++)
        inplace.on[i] = catch_signal(inplace_sigs[i], &inplace.old[i]);
}

void cli_inplace_end(void)
{
    for (size_t i = 0; i < 3; i++) {
        if (inplace.on[i])
            sigaction(inplace_sigs[i], &inplace.old[i], NULL);
        inplace.on[i] = false;
    }
}

/* ---- apply ---- */

static const char apply_usage[] =
    "Usage: sharr apply NAME OP [VALUE...] [-j N] [--schedule KIND[,CHUNK]]\n\n"
    "Apply OP to every element of NAME in place, on a pool of workers.\n\n"
    "  scale Z       x *= Z          every dtype (integers wrap)\n"
    "  add Z         x += Z          every dtype (integers wrap)\n"
    "  conj          x = conj(x)     complex only\n"
    "  abs           x = |x|         complex gives |x|+0i\n"
    "  square        x = x*x         every dtype (integers wrap)\n"
    "  sqrt          float, complex  a negative real element is an error\n"
    "  exp           float, complex  overflow gives inf\n"
    "  log           float, complex  a negative real element is an error;\n"
    "                                log(0) = -inf\n"
    "  clip LO HI    x = min(max(x, LO), HI)  integer and float; NaN stays\n"
    "  normalize-rows  divide each row by its 2-norm (a zero row stays 0, a\n"
    "                row with a NaN becomes NaN); the rows of a 1-d array are\n"
    "                its elements, so each x becomes x/|x| (0 stays 0)\n\n"
    "Values have the array's dtype; negative ones are values, not options:\n"
    "'sharr apply x clip -0.5 0.5', 'sharr apply z add -1-2i'.  A domain\n"
    "error is found before anything is written: the array is unchanged.\n"
    "It holds the lock of NAME while it works.  Interrupted (Ctrl-C,\n"
    "SIGTERM), it says on stderr that the array was partly modified and how\n"
    "many blocks were done.\n\n"
    JOBS_HELP
    "  -s, --schedule S    static | dynamic[,CHUNK] | guided[,CHUNK] | auto\n"
    "                      (default: $SHARR_SCHEDULE if set, else static)\n"
    FOREIGN_HELP
    LOCK_HELP
    "  -h, --help          show this help\n";

static int run_apply(sharr_array *a, sharr_op op, char **vals, int nvals,
                     struct compute_opts *o)
{
    unsigned char z[2][SHARR_MAX_ITEMSIZE];
    struct cli_progress bar;
    sharr_pool *pool;
    const bool writes = true;
    int rc, err;

    for (int i = 0; i < nvals; i++)
        if ((rc = parse_value(sharr_array_dtype(a), vals[i],
                              sharr_op_name(op), z[i])) != 0)
            return rc;
    if ((rc = cli_pool(o->jobs, &pool)) != 0)
        return rc;
    if ((rc = cli_lock(&a, &writes, 1)) != 0) {
        sharr_pool_destroy(pool);
        return rc;
    }
    cli_progress_init(&bar, sharr_op_name(op), &o->ro);
    /* After the pool: workers forked now do not inherit the handler. */
    cli_inplace_begin("apply", sharr_array_name(a), &o->ro);
    err = sharr_apply(pool, a, op, nvals > 0 ? z[0] : NULL,
                      nvals > 1 ? z[1] : NULL, &o->ro);
    cli_inplace_end();
    cli_unlock();
    cli_progress_done(&bar);
    sharr_pool_destroy(pool);
    if (err == SHARR_EINVAL)
        return cli_usage("%s", sharr_errmsg());
    return err < 0 ? cli_fail(err) : EXIT_OK;
}

int cmd_apply(int argc, char **argv)
{
    static const struct option lo[] = {
        {"jobs", required_argument, NULL, 'j'},
        {"schedule", required_argument, NULL, 's'}, CLI_FOREIGN_OPTION, CLI_LOCK_OPTIONS,
        COMMON_LONGOPTS, {0}};
    struct compute_opts o = {0};
    sharr_array *a;
    sharr_op op;
    int nargs, rc;
    unsigned flags = 0;

    if ((rc = parse(argc, argv, lo, ":j:s:hV", &o, apply_usage)) != 0)
        return exit_of(rc);
    if (argc - optind < 2)
        return cli_usage("missing NAME or OP");
    if (sharr_op_parse(cli_arg(argv[optind + 1]), &op, &nargs) < 0)
        return cli_usage("%s", sharr_errmsg());
    if (argc - optind - 2 != nargs)
        return cli_usage("%s takes %d value%s, not %d", sharr_op_name(op),
                         nargs, nargs == 1 ? "" : "s", argc - optind - 2);
    if ((rc = open_arrays(argv + optind, 1, &flags, &a)) != 0)
        return rc;
    rc = run_apply(a, op, argv + optind + 2, nargs, &o);
    sharr_array_close(a);
    return rc;
}

/* ---- axpy ---- */

static const char axpy_usage[] =
    "Usage: sharr axpy ALPHA X Y [-j N]\n\n"
    "Y += ALPHA * X in place, X and Y of the same dtype and shape (X may be\n"
    "Y).  ALPHA has their dtype.  Floating dtypes use OpenBLAS ?axpy in each\n"
    "worker; integers wrap.  As in BLAS, ALPHA 0 leaves Y untouched, even\n"
    "where X is nan or inf (0 * nan is not added).  It holds the locks of X\n"
    "and Y (one lock if X is Y) while it works.\n\n"
    JOBS_HELP
    FOREIGN_HELP
    LOCK_HELP
    "  -h, --help          show this help\n";

int cmd_axpy(int argc, char **argv)
{
    static const struct option lo[] = {{"jobs", required_argument, NULL, 'j'},
                                       CLI_FOREIGN_OPTION, CLI_LOCK_OPTIONS, COMMON_LONGOPTS,
                                       {0}};
    static const unsigned flags[2] = {SHARR_OPEN_RDONLY, 0};
    static const bool writes[2] = {false, true};
    struct compute_opts o = {0};
    unsigned char alpha[SHARR_MAX_ITEMSIZE];
    sharr_array *xy[2];
    sharr_pool *pool;
    int rc, err;

    if ((rc = parse(argc, argv, lo, ":j:hV", &o, axpy_usage)) != 0)
        return exit_of(rc);
    if (argc - optind != 3)
        return cli_usage(argc - optind < 3 ? "missing ALPHA, X or Y"
                                           : "too many arguments");
    if ((rc = open_arrays(argv + optind + 1, 2, flags, xy)) != 0)
        return rc;
    if ((rc = parse_value(sharr_array_dtype(xy[1]), argv[optind], "ALPHA",
                          alpha)) == 0 &&
        (rc = cli_pool(o.jobs, &pool)) == 0) {
        if ((rc = cli_lock(xy, writes, 2)) == 0) {
            err = sharr_axpy(pool, alpha, xy[0], xy[1], &o.ro);
            cli_unlock();
            rc = err < 0 ? cli_fail(err) : EXIT_OK;
        }
        sharr_pool_destroy(pool);
    }
    close_arrays(xy, 2);
    return rc;
}

/* ---- stat ---- */

static const char stat_usage[] =
    "Usage: sharr stat NAME [--per-row] [-j N] [--schedule S] [--json]\n"
    "       sharr stat NAME --per-row --into FIG=OUT[,FIG=OUT...] [-j N]\n\n"
    "Print count, sum, mean, min, max and 2-norm of NAME, or of each row\n"
    "(over every axis but the first) with --per-row.  An array of no\n"
    "elements has count 0, sum 0, mean, min and max nan, 2-norm 0 (NumPy\n"
    "gives nan for the mean and refuses min and max).\n"
    "Sums are pairwise within blocks fixed by the shape and\n"
    "compensated across blocks, so every -j gives the same figures; integer\n"
    "sums are exact in 128 bits and printed exactly (in JSON too).  Min and\n"
    "max are exact values of the dtype; a NaN element makes them and the\n"
    "2-norm nan.  Complex arrays have no min and max (complex numbers are\n"
    "not ordered): they are left out, in text and JSON alike.  In JSON, nan\n"
    "and inf are null.  It holds the lock of NAME while it reads (and\n"
    "those of the OUT arrays of --into), and prints once it has released it.\n\n"
    "      --per-row       one line (or object) per row\n"
    "      --json          JSON instead of text\n"
    "      --into FIG=OUT,...  with --per-row: write figure FIG of row r\n"
    "                      into element r of the 1-d array OUT instead of\n"
    "                      printing (FIG: count, sum, mean, min, max, norm2).\n"
    "                      OUT is made if missing, all-or-nothing; an\n"
    "                      existing one must have one element per row and\n"
    "                      the figure's dtype, and is overwritten.  Dtypes:\n"
    "                      count u64; sum and mean f64 (c128 for complex\n"
    "                      NAME); min, max, norm2 f64 (no min/max for\n"
    "                      complex).  Each row is summed whole, so OUT is\n"
    "                      the same for every -j and --schedule, and equals\n"
    "                      what --per-row prints\n"
    JOBS_HELP
    "  -s, --schedule S    static | dynamic[,CHUNK] | guided[,CHUNK] | auto\n"
    "                      (default: $SHARR_SCHEDULE if set, else blocks\n"
    "                      fixed by the shape); the blocks of the sums then\n"
    "                      follow it, so float sums may change with -j\n"
    FOREIGN_HELP
    LOCK_HELP
    "  -h, --help          show this help\n";

static int run_stat(sharr_array *a, struct compute_opts *o)
{
    size_t n = o->per_row ? sharr_array_rows(a) : 1;
    sharr_stats *st = calloc(n, sizeof *st);
    struct cli_progress bar;
    sharr_pool *pool;
    const bool writes = false;
    int rc, err;

    if (!st)
        return cli_error("out of memory for %zu rows of statistics", n);
    if ((rc = cli_pool(o->jobs, &pool)) != 0) {
        free(st);
        return rc;
    }
    if ((rc = cli_lock(&a, &writes, 1)) != 0) {
        sharr_pool_destroy(pool);
        free(st);
        return rc;
    }
    cli_progress_init(&bar, "stat", &o->ro);
    err = sharr_array_stats(pool, a, o->per_row, st, &o->ro);
    cli_unlock();
    cli_progress_done(&bar);
    sharr_pool_destroy(pool);
    if (err < 0) {
        free(st);
        return cli_fail(err);
    }
    if (o->per_row && !o->json)
        printf(sharr_dtype_kind(sharr_array_dtype(a)) == 'c'
                   ? "row count sum mean norm2\n"
                   : "row count sum mean min max norm2\n");
    if (o->per_row && o->json)
        putchar('[');
    for (size_t r = 0; r < n; r++) {
        if (o->per_row && o->json && r)
            fputs(",\n ", stdout);
        stat_print(sharr_array_dtype(a), &st[r], o->json, r, o->per_row);
    }
    if (o->json)
        printf(o->per_row ? "]\n" : "\n");
    free(st);
    return EXIT_OK;
}

/* ---- stat --per-row --into ---- */

/* --into FIG=OUT,... into names[fig] (NULL: not asked). */
static int parse_into(char *text, const char **names)
{
    char *save = NULL;

    for (char *tok = strtok_r(text, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        sharr_figure f;
        if (!eq)
            return cli_usage("--into %s: write FIG=OUT, e.g. sum=S,mean=M",
                             tok);
        *eq = '\0';
        if (sharr_figure_parse(tok, &f) < 0)
            return cli_usage("--into: %s", sharr_errmsg());
        if (names[f])
            return cli_usage("--into: %s is given twice", tok);
        if (!(names[f] = cli_name(eq + 1)))
            return EXIT_USAGE;
        for (int g = 0; g < SHARR_NFIGURES; g++)
            if (g != (int)f && names[g] && strcmp(names[g], names[f]) == 0)
                return cli_usage("--into: array '%s' is given for both %s "
                                 "and %s", names[f], sharr_figure_name(f),
                                 sharr_figure_name((sharr_figure)g));
    }
    for (int g = 0; g < SHARR_NFIGURES; g++)
        if (names[g])
            return 0;
    return cli_usage("--into needs at least one FIG=OUT");
}

/* Open OUT, or create it (temporary until the figures are in: kept only
 * when complete) with one element per row of a and the figure's dtype. */
static int open_out(const sharr_array *a, sharr_figure f, const char *name,
                    sharr_array **out, bool *made)
{
    sharr_dtype dt = sharr_figure_dtype(sharr_array_dtype(a), f);
    sharr_create_opts co = {.flags = SHARR_CREATE_TEMP};
    size_t rows = sharr_array_rows(a);
    int err;

    *made = false;
    if (dt == SHARR_DTYPE_INVALID)
        return cli_error("a %s array has no %s per row (complex numbers are "
                         "not ordered)",
                         sharr_dtype_name(sharr_array_dtype(a)),
                         sharr_figure_name(f));
    err = sharr_array_open(name, cli_open_flags, out);
    if (err == SHARR_ENOENT) {
        err = sharr_array_create(name, dt, 1, &rows, &co, out);
        *made = err == 0;
    }
    return err < 0 ? cli_fail(err) : 0;
}

static int run_stat_into(sharr_array *a, struct compute_opts *o)
{
    const char *names[SHARR_NFIGURES] = {0};
    sharr_array *into[SHARR_NFIGURES] = {0}, *held[SHARR_NFIGURES + 1] = {a};
    bool made[SHARR_NFIGURES] = {0}, writes[SHARR_NFIGURES + 1] = {false};
    size_t nheld = 1;
    char buf[1024];
    struct cli_progress bar;
    sharr_pool *pool = NULL;
    int rc, err = 0;

    if (strlen(o->into) >= sizeof buf)
        return cli_usage("--into is too long");
    strcpy(buf, o->into);
    if ((rc = parse_into(buf, names)) != 0)
        return rc;
    for (int f = 0; f < SHARR_NFIGURES && rc == 0; f++)
        if (names[f])
            rc = open_out(a, (sharr_figure)f, names[f], &into[f], &made[f]);
    /* NAME is read, every OUT written: one lock each, as the others. */
    for (int f = 0; f < SHARR_NFIGURES; f++)
        if (into[f]) {
            writes[nheld] = true;
            held[nheld++] = into[f];
        }
    if (rc == 0 && (rc = cli_pool(o->jobs, &pool)) == 0 &&
        (rc = cli_lock(held, writes, nheld)) == 0) {
        cli_progress_init(&bar, "stat", &o->ro);
        err = sharr_array_row_stats_into(pool, a, into, &o->ro);
        cli_progress_done(&bar);
        cli_unlock();
        rc = err < 0 ? cli_fail(err) : EXIT_OK;
    }
    sharr_pool_destroy(pool);
    for (int f = 0; f < SHARR_NFIGURES; f++) {
        if (made[f] && rc == EXIT_OK && (err = sharr_array_keep(into[f])) < 0)
            rc = cli_fail(err);
    }
    for (int f = 0; f < SHARR_NFIGURES; f++) {
        if (made[f] && rc != EXIT_OK) /* all or nothing */
            sharr_unlink(sharr_array_name(into[f]));
        sharr_array_close(into[f]);
    }
    return rc;
}

int cmd_stat(int argc, char **argv)
{
    static const struct option lo[] = {
        {"jobs", required_argument, NULL, 'j'},
        {"schedule", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'J'},
        {"into", required_argument, NULL, 'i'},
        {"per-row", no_argument, NULL, 'r'}, CLI_FOREIGN_OPTION, CLI_LOCK_OPTIONS,
        COMMON_LONGOPTS, {0}};
    static const unsigned flags = SHARR_OPEN_RDONLY;
    struct compute_opts o = {0};
    sharr_array *a;
    int rc;

    if ((rc = parse(argc, argv, lo, ":j:s:hV", &o, stat_usage)) != 0)
        return exit_of(rc);
    if (argc - optind != 1)
        return cli_usage(argc == optind ? "missing NAME" : "too many arguments");
    if (o.into && (!o.per_row || o.json))
        return cli_usage(o.json ? "--into writes arrays: --json has nothing "
                                  "to print"
                                : "--into needs --per-row");
    if ((rc = open_arrays(argv + optind, 1, &flags, &a)) != 0)
        return rc;
    rc = o.into ? run_stat_into(a, &o) : run_stat(a, &o);
    sharr_array_close(a);
    return rc;
}

/* ---- gemm ---- */

static const char gemm_usage[] =
    "Usage: sharr gemm A B C [--alpha Z] [--beta Z] [-j N]\n\n"
    "C = alpha * A @ B + beta * C for 2-d arrays A (m x k), B (k x n) and\n"
    "C (m x n) of one dtype: f32, f64, c64 or c128.  The rows of A and C\n"
    "are cut into blocks fixed by m (32 to 512 rows) that the workers share,\n"
    "one OpenBLAS ?gemm call on one thread per block, so every -j gives the\n"
    "same bytes.  It holds the locks of A, B and C while it works.\n\n"
    "      --alpha Z       default 1\n"
    "      --beta Z        default 0 (C's old values are ignored)\n"
    JOBS_HELP
    FOREIGN_HELP
    LOCK_HELP
    "  -h, --help          show this help\n";

int cmd_gemm(int argc, char **argv)
{
    static const struct option lo[] = {
        {"jobs", required_argument, NULL, 'j'},
        {"alpha", required_argument, NULL, 'a'},
        {"beta", required_argument, NULL, 'b'}, CLI_FOREIGN_OPTION, CLI_LOCK_OPTIONS,
        COMMON_LONGOPTS, {0}};
    static const unsigned flags[3] = {SHARR_OPEN_RDONLY, SHARR_OPEN_RDONLY, 0};
    static const bool writes[3] = {false, false, true};
    struct compute_opts o = {0};
    unsigned char alpha[SHARR_MAX_ITEMSIZE], beta[SHARR_MAX_ITEMSIZE];
    sharr_array *abc[3];
    sharr_pool *pool;
    int rc, err;

    if ((rc = parse(argc, argv, lo, ":j:hV", &o, gemm_usage)) != 0)
        return exit_of(rc);
    if (argc - optind != 3)
        return cli_usage(argc - optind < 3 ? "missing A, B or C"
                                           : "too many arguments");
    if ((rc = open_arrays(argv + optind, 3, flags, abc)) != 0)
        return rc;
    sharr_dtype dt = sharr_array_dtype(abc[2]);
    if ((rc = parse_value(dt, o.alpha ? o.alpha : "1", "--alpha", alpha)) == 0
        && (rc = parse_value(dt, o.beta ? o.beta : "0", "--beta", beta)) == 0
        && (rc = cli_pool(o.jobs, &pool)) == 0) {
        if ((rc = cli_lock(abc, writes, 3)) == 0) {
            err = sharr_gemm(pool, alpha, abc[0], abc[1], beta, abc[2],
                             &o.ro);
            cli_unlock();
            rc = err < 0 ? cli_fail(err) : EXIT_OK;
        }
        sharr_pool_destroy(pool);
    }
    close_arrays(abc, 3);
    return rc;
}
