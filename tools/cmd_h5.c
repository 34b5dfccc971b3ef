/*
 * cmd_h5.c - files in and out: load, save (HDF5 datasets and .npy files)
 * and h5ls.  The pool is created before anything touches HDF5.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COMMON_LONGOPTS {"help", no_argument, NULL, 'h'}, \
                        {"version", no_argument, NULL, 'V'}

/* A FILE:/dataset or FILE.npy argument. */
struct source {
    char file[4096];
    const char *dset;        /* NULL for .npy */
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Split at the last ":/" (a file name may hold ':', a dataset path rarely
 * holds ":/"); without one, at the last ':' (FILE:frames, a path relative
 * to the file's root group, as h5py takes it). */
static int parse_source(const char *arg, struct source *s)
{
    const char *sep = NULL;

    for (const char *p = strstr(arg, ":/"); p; p = strstr(p + 1, ":/"))
        sep = p;
    if (!sep && ends_with(arg, ".npy")) {
        snprintf(s->file, sizeof s->file, "%s", arg);
        s->dset = NULL;
        return 0;
    }
    if (!sep && (sep = strrchr(arg, ':')) && !sep[1])
        sep = NULL;
    if (!sep || sep == arg || (size_t)(sep - arg) >= sizeof s->file)
        return cli_usage("'%s': write FILE:/path/to/dataset or FILE.npy", arg);
    snprintf(s->file, sizeof s->file, "%.*s", (int)(sep - arg), arg);
    s->dset = sep + 1;
    return 0;
}

/* rows A:B, A:, :B or A with A, B >= 0 (the dataset's length is not known
 * before it is opened); end 0 means "to the end". */
static int parse_plain_rows(const char *text, size_t *start, size_t *end)
{
    char buf[64];
    char *colon;
    size_t a = 0, b = 0;

    text = cli_arg(text);
    if (!*text)
        return cli_usage("--rows '' is no row (write A:B, A:, :B or A)");
    if (strchr(text, '-'))
        return cli_usage("--rows %s: loading counts rows from 0 (no negative "
                         "rows)", text);
    snprintf(buf, sizeof buf, "%s", text);
    colon = strchr(buf, ':');
    if (colon)
        *colon = '\0';
    if ((buf[0] && cli_parse_count(buf, "--rows", 0, &a)) ||
        (colon && colon[1] && cli_parse_count(colon + 1, "--rows", 1, &b)))
        return EXIT_USAGE;
    if (!colon)
        b = a + 1;
    if (b && b <= a)
        return cli_usage("--rows %s is empty", text);
    *start = a;
    *end = b;
    return 0;
}

/* The default array name: the dataset's (or file's) last component. */
static const char *default_name(const struct source *s, char *buf,
                                size_t size)
{
    const char *whole = s->dset ? s->dset : s->file,
               *base = strrchr(whole, '/');
    base = base ? base + 1 : whole;
    if (strlen(base) >= size)
        return NULL;
    memcpy(buf, base, strlen(base) + 1);
    if (!s->dset && ends_with(buf, ".npy"))
        buf[strlen(buf) - 4] = '\0';
    return sharr_name_check(buf) == 0 ? buf : NULL;
}

/* ---- load ---- */

static const char load_usage[] =
    "Usage: sharr load FILE:/path/to/dataset [NAME] [--rows A:B] [-j N]\n"
    "                  [--temp] [--into NAME [--at ROW]] [--allow-external]\n"
    "       sharr load FILE.npy [NAME] ...\n\n"
    "Load an HDF5 dataset (or a NumPy .npy file) into a new shared array\n"
    "NAME (default: the dataset's last path component) and print its name.\n"
    "Every worker opens the file and reads its own rows straight into the\n"
    "array; chunked, compressed datasets decompress in parallel.\n\n"
    "Loads: integers of 1-8 bytes, floats of 4 and 8 bytes, either byte\n"
    "order; float16 as f32; complex compounds of two floats named r/i,\n"
    "re/im, real/imag or Real/Imaginary as c64/c128.  Other types are\n"
    "refused.  A dataset without elements loads as an empty array: a zero\n"
    "dimension keeps its shape (0x3), a null dataspace is shape 0.\n\n"
    "  -r, --rows A:B   only dataset rows A..B-1 (A: one row; A: to the end)\n"
    "      --into NAME  load into an existing array of the same dtype and\n"
    "                   shape instead of creating one, holding its lock\n"
    "                   while it writes (a failed load may leave the rows\n"
    "                   it was loading partly written)\n"
    "      --at ROW     with --into: fill its rows ROW..ROW+n-1 (n the rows\n"
    "                   loaded; the other dimensions must match), to stack\n"
    "                   many files into one array\n"
    "      --temp       remove the array when the process that ran sharr\n"
    "                   (your shell or script) exits\n"
    "      --allow-external\n"
    "                   follow external links and read external raw data\n"
    "                   and virtual-dataset sources outside the file's\n"
    "                   directory too (refused by default: a file may name\n"
    "                   /etc/passwd or ../secret as its data)\n"
    "  -j, --jobs N     worker processes (default: one per CPU)\n"
    CLI_LOCK_HELP("    ", "                   ")
    "                   (with --into: the lock of that array)\n"
    "  -h, --help       show this help\n";

struct load_args {
    struct source src;
    const char *name;
    char name_buf[SHARR_NAME_MAX + 1];
    sharr_load_opts o;
    int jobs;
};

/* Load into a new array or, holding its lock, into l->o.into, opened as
 * `into` (NULL otherwise). */
static int run_load(struct load_args *l, sharr_array *into)
{
    struct cli_progress bar;
    sharr_pool *pool = NULL;
    sharr_array *a = NULL;
    const bool writes = true;
    int rc, err;

    if (!l->src.dset) {
        if (into && (rc = cli_lock(&into, &writes, 1)) != 0)
            return rc;
        err = sharr_npy_load(l->src.file, l->name, &l->o, &a);
    } else {
        if ((rc = cli_pool_unscheduled(l->jobs, &pool)) != 0)
            return rc;
        if (into && (rc = cli_lock(&into, &writes, 1)) != 0) {
            sharr_pool_destroy(pool);
            return rc;
        }
        cli_progress_init(&bar, "load", &l->o.run);
        err = sharr_h5_load(pool, l->src.file, l->src.dset, l->name, &l->o,
                            &a);
        cli_progress_done(&bar);
    }
    if (into)
        cli_unlock();
    sharr_pool_destroy(pool);
    if (err < 0)
        return cli_fail(err);
    printf("%s\n", sharr_array_name(a));
    sharr_array_close(a);
    return EXIT_OK;
}

/* The --into array, opened for its lock, then the load. */
static int open_and_load(struct load_args *l)
{
    sharr_array *into = NULL;
    int rc, err;

    if (l->o.into && (err = sharr_array_open(l->o.into, 0, &into)) < 0)
        return cli_fail(err);
    rc = run_load(l, into);
    sharr_array_close(into);
    return rc;
}

int cmd_load(int argc, char **argv)
{
    static const struct option lo[] = {
        {"rows", required_argument, NULL, 'r'},
        {"jobs", required_argument, NULL, 'j'},
        {"into", required_argument, NULL, 'i'},
        {"at", required_argument, NULL, 'A'},
        {"temp", no_argument, NULL, 'T'},
        {"allow-external", no_argument, NULL, 'E'}, CLI_LOCK_OPTIONS,
        COMMON_LONGOPTS, {0}};
    struct load_args l;
    int ch, rc = 0;

    memset(&l, 0, sizeof l);
    while (rc == 0 &&
           (ch = getopt_long(argc, argv, ":r:j:hV", lo, NULL)) != -1) {
        switch (ch) {
        case 'r': rc = parse_plain_rows(optarg, &l.o.row_start, &l.o.row_end);
                  break;
        case 'j': rc = cli_parse_jobs(optarg, &l.jobs); break;
        case 'i': if (!(l.o.into = cli_name(optarg))) rc = EXIT_USAGE; break;
        case 'A': rc = cli_parse_count(cli_arg(optarg), "--at", 0, &l.o.at);
                  l.o.at_set = 1; break;
        case 'T': l.o.create.flags |= SHARR_CREATE_TEMP;
                  l.o.create.owner = getppid(); break;
        case 'E': l.o.allow_external = 1; break;
        case 'h': return cli_help(load_usage);
        case 'V': return cli_version();
        default:
            if ((rc = cli_lock_option(ch, optarg)) < 0)
                return cli_bad_option(ch, argv);
        }
    }
    if (rc)
        return rc;
    if (argc - optind < 1 || argc - optind > 2)
        return cli_usage(argc == optind ? "missing FILE:/dataset"
                                        : "too many arguments");
    if ((rc = parse_source(cli_arg(argv[optind]), &l.src)) != 0)
        return rc;
    if (l.o.into && argc - optind == 2)
        return cli_usage("give either NAME or --into, not both");
    if (l.o.at_set && !l.o.into)
        return cli_usage("--at needs --into: the rows of an existing array");
    l.name = argc - optind == 2 ? cli_name(argv[optind + 1])
             : l.o.into ? NULL
             : default_name(&l.src, l.name_buf, sizeof l.name_buf);
    if (!l.name && !l.o.into)
        return argc - optind == 2 ? EXIT_USAGE
               : cli_usage("'%s' is not a valid array name: give NAME",
                           l.name_buf);
    return open_and_load(&l);
}

/* ---- save ---- */

static const char save_usage[] =
    "Usage: sharr save NAME FILE:/path/to/dataset [--rows A:B]\n"
    "                  [--chunk R[xC...]] [--gzip L | --lz4] [--shuffle]\n"
    "                  [--complex h5py|matlab] [--attr KEY=VALUE]...\n"
    "                  [--force] [--sync] [-j N]\n"
    "                  [--append] [--force-hardlinks] [--wait SECONDS]\n"
    "       sharr save NAME FILE.npy [--rows A:B] [--force] [--sync]\n\n"
    "Save the array NAME as an HDF5 dataset (creating the file, or adding to\n"
    "it) or as a .npy file.  The target never holds a partial result: the\n"
    "file is written next to it under a temporary name (a copy, when it\n"
    "exists) and renamed into place.  Complex data is h5py's compound\n"
    "{r, i}, which h5py, HDF5.jl and PyTables read as complex.\n\n"
    "A symbolic link is followed: the file it points to gets the data.  A\n"
    "file with several hard links is refused (a new file would replace\n"
    "this name only).  While the save runs it holds HDF5's own lock on the\n"
    "file: other saves wait for it, and HDF5 programs cannot open the file\n"
    "meanwhile, as with any HDF5 writer; a file that another process holds\n"
    "open is waited for (5 s, --wait), then refused.  An interrupted save\n"
    "(Ctrl-C, SIGTERM, SIGHUP) removes its temporary file; one killed\n"
    "outright leaves it, and the next save into the directory (or\n"
    "'sharr gc DIR') removes it.  The save holds the lock of NAME while it\n"
    "runs, so the data saved is never half-written by a command that holds\n"
    "it.\n\n"
    "  -r, --rows A:B        only array rows A..B-1 (negative from the end)\n"
    "  -c, --chunk R[xC...]  chunk shape (missing trailing dimensions take\n"
    "                        the full extent); default contiguous, or about\n"
    "                        1 MiB chunks with --gzip, --lz4 or --shuffle\n"
    "  -z, --gzip L          deflate level 1..9, chunks compressed by all\n"
    "                        workers in parallel: libdeflate's fastest\n"
    "                        level whose output on a sample of the data is\n"
    "                        no bigger than zlib's at L, else zlib itself\n"
    "                        (also below 4 MiB); either way the zlib stream\n"
    "                        every HDF5 reader opens\n"
    "      --lz4             LZ4 chunks (filter 32004), several times faster\n"
    "                        than --gzip 1 to write and read; readers need\n"
    "                        the HDF5 LZ4 plugin (Debian: hdf5-filter-plugin)\n"
    "      --shuffle         byte shuffle before deflate or LZ4\n"
    "      --complex KIND    h5py: {r, i} (default); matlab: {real, imag}\n"
    "      --attr KEY=VALUE  an attribute of the dataset (repeatable): an\n"
    "                        integer VALUE is stored as i64, another number\n"
    "                        as f64, anything else as a UTF-8 string\n"
    "  -f, --force           replace an existing dataset (or .npy file);\n"
    "                        the old dataset's space stays in the file\n"
    "                        (h5repack reclaims it)\n"
    "      --sync            flush the file to disk before it replaces the\n"
    "                        target, so a power failure cannot lose it\n"
    "  -a, --append          HDF5: add the dataset to the existing file in\n"
    "                        place, without copying the file (the default\n"
    "                        copies it, which costs its whole size).  If an\n"
    "                        append is killed, the new dataset is absent\n"
    "                        or complete; but HDF5 has no journal, so a kill\n"
    "                        while it writes the file's metadata at the end\n"
    "                        (or a power failure) can damage the group that\n"
    "                        gets the dataset: see README, 'Appending'\n"
    "      --force-hardlinks save into a file with several hard links anyway:\n"
    "                        this name gets the new file, the others keep\n"
    "                        the old one (--append writes into the file\n"
    "                        they all share)\n"
    "      --wait SECONDS    wait that long for another process to release\n"
    "                        the file (default 5, or $SHARR_LOCK_WAIT; 0: do\n"
    "                        not wait; inf: for ever)\n"
    "  -j, --jobs N          worker processes (default: one per CPU)\n"
    "      --foreign         save an array of another user too (refused by\n"
    "                        default: they could plant one under your\n"
    "                        array's name)\n"
    CLI_LOCK_HELP("         ", "                        ")
    "  -h, --help            show this help\n";

static int parse_chunk(const char *text, sharr_save_opts *o)
{
    if (cli_parse_shape(text, &o->chunk_ndim, o->chunk) != 0)
        return EXIT_USAGE;
    if (o->chunk_ndim == 0)
        return cli_usage("--chunk needs at least one dimension");
    return 0;
}

/* --wait SECONDS: >= 0 or inf; 0 becomes "no wait" (the library's 0 is
 * "the default"). */
static int parse_wait(const char *text, double *out)
{
    int rc = cli_parse_seconds(text, "--wait", out);

    if (rc == 0 && *out == 0)
        *out = -1;
    return rc;
}

static int parse_save_option(int ch, sharr_save_opts *o, const char **rows,
                             int *jobs)
{
    size_t level;

    switch (ch) {
    case 'r': *rows = optarg; return 0;
    case 'c': return parse_chunk(optarg, o);
    case 'z':
        /* One message for every wrong level (it used to print two). */
        if (optarg[0] < '1' || optarg[0] > '9' || optarg[1])
            return cli_usage("--gzip needs a level 1..9, not '%s'",
                             cli_arg(optarg));
        level = (size_t)(optarg[0] - '0');
        o->gzip = (int)level;
        return 0;
    case 'S': o->shuffle = 1; return 0;
    case 'L': o->lz4 = 1; return 0;
    case 'K': {
        static const char *attrs[64];
        if (o->nattrs == sizeof attrs / sizeof *attrs)
            return cli_usage("at most %zu --attr", o->nattrs);
        if (!strchr(optarg, '='))
            return cli_usage("--attr %s: write KEY=VALUE", optarg);
        attrs[o->nattrs++] = optarg;
        o->attrs = attrs;
        return 0;
    }
    case 'C':
        if (strcmp(optarg, "matlab") == 0)
            o->complex_matlab = 1;
        else if (strcmp(optarg, "h5py") != 0)
            return cli_usage("--complex is h5py or matlab, not '%s'", optarg);
        return 0;
    case 'f': o->force = 1; return 0;
    case 'Y': o->sync = 1; return 0;
    case 'a': o->append = 1; return 0;
    case 'H': o->force_hardlinks = 1; return 0;
    case 'W': return parse_wait(optarg, &o->lock_wait);
    case 'j': return cli_parse_jobs(optarg, jobs);
    case 'F': cli_open_flags |= SHARR_OPEN_FOREIGN; return 0;
    default: return cli_lock_option(ch, optarg);
    }
}

/* A signal that would kill the tool removes the temporary file of the save
 * first, then kills it as it would have (same exit status). */
static void remove_temps_and_die(int sig)
{
    sharr_save_remove_temps();
    cli_unlock_readers();
    raise(sig); /* blocked until we return; SA_RESETHAND: the default */
}

/* Not a signal the tool inherited ignored (`nohup`, a shell's background
 * job): that one must not end it, so it stays ignored.  The handler
 * replaces cli_lock()'s, which does not know of temporaries. */
static void remove_temps_on_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa, old;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = remove_temps_and_die;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < 3; i++)
        sigaddset(&sa.sa_mask, sigs[i]);
    for (size_t i = 0; i < 3; i++)
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[i], &sa, NULL);
}

static void say_waiting(const char *file, double wait, void *ctx)
{
    (void)ctx;
    if (isinf(wait))
        fprintf(stderr, "sharr: save: %s is open in another process (HDF5 "
                "file lock); waiting for it\n", file);
    else
        fprintf(stderr, "sharr: save: %s is open in another process (HDF5 "
                "file lock); waiting up to %g s\n", file, wait);
}

static int run_save(sharr_array *a, const struct source *dst,
                    sharr_save_opts *o, const char *rows, int jobs)
{
    struct cli_progress bar;
    sharr_pool *pool = NULL;
    size_t r0 = 0, r1 = sharr_array_rows(a);
    const bool writes = false;
    int rc, err;

    if (rows && (rc = cli_parse_rows(rows, r1, &r0, &r1)) != 0)
        return rc;
    o->row_start = r0;
    o->row_end = r1;
    o->waiting = say_waiting;
    if (!dst->dset) {
        if ((rc = cli_lock(&a, &writes, 1)) != 0)
            return rc;
        remove_temps_on_signals();
        err = sharr_npy_save(a, dst->file, o);
        cli_unlock();
    } else {
        if ((rc = cli_pool_unscheduled(jobs, &pool)) != 0)
            return rc;
        if ((rc = cli_lock(&a, &writes, 1)) != 0) {
            sharr_pool_destroy(pool);
            return rc;
        }
        remove_temps_on_signals(); /* after the fork of the workers */
        cli_progress_init(&bar, "save", &o->run);
        err = sharr_h5_save(pool, a, dst->file, dst->dset, o);
        cli_unlock();
        cli_progress_done(&bar);
        sharr_pool_destroy(pool);
    }
    if (err == SHARR_EINVAL)
        return cli_usage("%s", cli_errmsg());
    return err < 0 ? cli_fail(err) : EXIT_OK;
}

int cmd_save(int argc, char **argv)
{
    static const struct option lo[] = {
        {"rows", required_argument, NULL, 'r'},
        {"chunk", required_argument, NULL, 'c'},
        {"gzip", required_argument, NULL, 'z'},
        {"shuffle", no_argument, NULL, 'S'},
        {"lz4", no_argument, NULL, 'L'},
        {"attr", required_argument, NULL, 'K'},
        {"complex", required_argument, NULL, 'C'},
        {"force", no_argument, NULL, 'f'},
        {"sync", no_argument, NULL, 'Y'},
        {"append", no_argument, NULL, 'a'},
        {"force-hardlinks", no_argument, NULL, 'H'},
        {"wait", required_argument, NULL, 'W'},
        {"jobs", required_argument, NULL, 'j'}, CLI_FOREIGN_OPTION,
        CLI_LOCK_OPTIONS, COMMON_LONGOPTS, {0}};
    sharr_save_opts o;
    struct source dst;
    const char *rows = NULL, *name;
    sharr_array *a;
    int ch, rc, jobs = 0, err;

    memset(&o, 0, sizeof o);
    cli_foreign_option = true;
    while ((ch = getopt_long(argc, argv, ":r:c:z:faj:hV", lo, NULL)) != -1) {
        if (ch == 'h') return cli_help(save_usage);
        if (ch == 'V') return cli_version();
        if ((rc = parse_save_option(ch, &o, &rows, &jobs)) < 0)
            return cli_bad_option(ch, argv);
        if (rc)
            return rc;
    }
    if (argc - optind != 2)
        return cli_usage(argc - optind < 2 ? "missing NAME or FILE:/dataset"
                                           : "too many arguments");
    if (!(name = cli_name(argv[optind])) ||
        (rc = parse_source(cli_arg(argv[optind + 1]), &dst)) != 0)
        return name ? rc : EXIT_USAGE;
    if (!dst.dset && (o.gzip || o.shuffle || o.chunk_ndim || o.append ||
                      o.lz4 || o.nattrs))
        return cli_usage("--chunk, --gzip, --lz4, --shuffle, --attr and "
                         "--append apply to HDF5 only");
    if ((err = sharr_array_open(name, SHARR_OPEN_RDONLY | cli_open_flags,
                                &a)) < 0)
        return cli_fail(err);
    rc = run_save(a, &dst, &o, rows, jobs);
    sharr_array_close(a);
    return rc;
}

/* ---- h5ls ---- */

static const char h5ls_usage[] =
    "Usage: sharr h5ls FILE [--attrs] [--json]\n\n"
    "List every dataset of the HDF5 file FILE (through hard, soft and\n"
    "external links): path, class, the dtype it loads as (or why it cannot\n"
    "be loaded), shape, layout and filters.  A filter HDF5 cannot load (no\n"
    "plugin installed) is marked [missing], and the reason says what to\n"
    "install.\n\n"
    "      --attrs  also each dataset's attributes, one '  @KEY = VALUE'\n"
    "               line each (with --json: an \"attrs\" member)\n"
    "      --json   one JSON array of objects\n"
    "  -j, --jobs N worker processes (one is used)\n"
    "  -h, --help   show this help\n";

static void shape_text(const sharr_h5_entry *e, char *buf, size_t size)
{
    size_t n = 0;

    if (e->space == 1 || e->space == 2) {
        snprintf(buf, size, e->space == 1 ? "scalar" : "null");
        return;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < e->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%zu", i ? "x" : "",
                              e->shape[i]);
}

/* "  @KEY = VALUE" for each line of e->attrs. */
static void print_attrs(const sharr_h5_entry *e)
{
    for (const char *p = e->attrs; *p;) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        printf("  @%.*s\n", len, p);
        p += len + (nl != NULL);
    }
}

static void print_entry(const sharr_h5_entry *e, bool json, bool first,
                        bool attrs)
{
    char shape[512];
    const char *loads = e->loadable ? sharr_dtype_name(e->dtype) : "no";

    shape_text(e, shape, sizeof shape);
    if (!json) {
        cli_print_name(stdout, e->path);
        printf("  %s  %s  %s  %s  %s%s%s%s", e->cls,
               e->type[0] ? e->type : "-", loads, shape[0] ? shape : "-",
               e->layout[0] ? e->layout : "-",
               e->filters[0] ? "  " : "", e->filters,
               e->why[0] ? "  # " : "");
        cli_print_name(stdout, e->why); /* it may quote the path */
        putchar('\n');
        if (attrs)
            print_attrs(e);
        return;
    }
    const char *keys[] = {"path", "class", "type", "loads_as", "shape",
                          "layout", "filters", "via", "why"};
    const char *vals[] = {e->path, e->cls, e->type,
                          e->loadable ? loads : NULL, shape, e->layout,
                          e->filters, e->via, e->why};
    printf("%s{", first ? "" : ",\n ");
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        printf("%s\"%s\": ", k ? ", " : "", keys[k]);
        if (vals[k])
            cli_json_string(stdout, vals[k]);
        else
            printf("null");
    }
    if (attrs) {
        printf(", \"attrs\": ");
        cli_json_string(stdout, e->attrs);
    }
    printf("}");
}

int cmd_h5ls(int argc, char **argv)
{
    int json = 0, attrs = 0, jobs = 1;
    const struct option lo[] = {{"json", no_argument, &json, 1},
                                {"attrs", no_argument, &attrs, 1},
                                {"jobs", required_argument, NULL, 'j'},
                                COMMON_LONGOPTS, {0}};
    sharr_h5_entry *list;
    sharr_pool *pool;
    size_t n;
    int ch, rc, err;

    while ((ch = getopt_long(argc, argv, ":j:hV", lo, NULL)) != -1) {
        if (ch == 0) continue;
        if (ch == 'j') { if ((rc = cli_parse_jobs(optarg, &jobs))) return rc; }
        else if (ch == 'h') return cli_help(h5ls_usage);
        else if (ch == 'V') return cli_version();
        else return cli_bad_option(ch, argv);
    }
    if (argc - optind != 1)
        return cli_usage(argc == optind ? "missing FILE" : "too many arguments");
    if ((rc = cli_pool_unscheduled(1, &pool)) != 0)
        return rc;
    err = sharr_h5_list(pool, cli_arg(argv[optind]), &list, &n);
    sharr_pool_destroy(pool);
    if (err < 0)
        return cli_fail(err);
    if (json)
        printf("[");
    for (size_t i = 0; i < n; i++)
        print_entry(&list[i], json, i == 0, attrs);
    if (json)
        printf("]\n");
    sharr_h5_list_free(list);
    return EXIT_OK;
}
