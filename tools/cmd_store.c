/*
 * cmd_store.c - the store subcommands: create, ls, info, rm, fill, dump,
 * reshape, gc.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Options every subcommand accepts. */
#define COMMON_LONGOPTS {"help", no_argument, NULL, 'h'}, \
                        {"version", no_argument, NULL, 'V'}

/* ---- create ---- */

static const char create_usage[] =
    "Usage: sharr create NAME --shape SHAPE [--dtype DT] [--fill F] [--temp]\n"
    "                    [--mode OCTAL]\n\n"
    "Create the shared array NAME (/dev/shm/sharr.NAME), zero-filled, and\n"
    "reserve its memory now, so a full /dev/shm is an error here rather than\n"
    "a crash later.\n\n"
    "  -s, --shape SHAPE  dimensions, e.g. 16x1000000 or 3,4; '' or 'scalar'\n"
    "                     for a 0-d array (a single value)\n"
    "  -t, --dtype DT     i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 c64 c128\n"
    "                     (default f64; sizes in bits), or NumPy's names:\n"
    "                     int8 ... uint64, float32, float64, complex64,\n"
    "                     complex128, int, float, complex, double, single,\n"
    "                     intc, ...; typestrs need their byte order: '<f8'\n"
    "                     (NumPy's 'i8' is int64, sharr's i8 is int8)\n"
    "  -f, --fill F       zeros | ones | VALUE | range | random[:SEED]\n"
    "                     (VALUE for complex: 1.5, -2j, 0.6+0.8i, 0.6+0.8j)\n"
    "      --temp         remove the array when the process that ran sharr\n"
    "                     (your shell or script) exits, even if killed\n"
    "  -m, --mode OCTAL   permission bits (default 600, whatever the umask)\n"
    "  -h, --help         show this help\n\n"
    "NAME is 1..200 characters of [A-Za-z0-9._-], not starting with '.'.\n"
    "Exit status: 0 created, 1 failure (exists, no space ...), 2 bad usage.\n";

struct create_args {
    const char *name;
    sharr_dtype dtype;
    size_t ndim;
    size_t shape[SHARR_MAX_NDIM];
    const char *fill;
    sharr_create_opts opts;
};

static int run_create(const struct create_args *c)
{
    sharr_fill_spec spec;
    sharr_array *a;
    int err;

    if (c->fill && sharr_fill_parse(c->dtype, c->fill, &spec) < 0)
        return cli_usage("--fill: %s", sharr_errmsg());
    if ((err = sharr_array_create(c->name, c->dtype, c->ndim, c->shape,
                                  &c->opts, &a)) < 0)
        return cli_fail(err);
    if (c->fill && (err = sharr_fill(NULL, a, &spec, NULL)) < 0) {
        sharr_array_close(a);
        sharr_unlink(c->name);
        return cli_fail(err);
    }
    sharr_array_close(a);
    return EXIT_OK;
}

static int parse_mode(const char *text, unsigned *mode)
{
    char *end;
    unsigned long v = strtoul(text, &end, 8);

    if (!*text || *end || v > 0777)
        return cli_usage("--mode needs octal permission bits like 600 or 644,"
                         " not '%s'", text);
    *mode = (unsigned)v;
    return 0;
}

int cmd_create(int argc, char **argv)
{
    static const struct option lo[] = {
        {"shape", required_argument, NULL, 's'},
        {"dtype", required_argument, NULL, 't'},
        {"fill", required_argument, NULL, 'f'},
        {"temp", no_argument, NULL, 'T'},
        {"mode", required_argument, NULL, 'm'}, COMMON_LONGOPTS, {0}};
    struct create_args c = {.dtype = SHARR_F64};
    bool have_shape = false;
    int ch, rc = 0;

    while (rc == 0 && (ch = getopt_long(argc, argv, ":s:t:f:m:hV", lo, NULL))
           != -1) {
        switch (ch) {
        case 's': rc = cli_parse_shape(optarg, &c.ndim, c.shape);
                  have_shape = true; break;
        case 't': if (sharr_dtype_parse(cli_arg(optarg), &c.dtype) < 0)
                      rc = cli_usage("%s", sharr_errmsg());
                  break;
        case 'f': c.fill = cli_arg(optarg); break;
        case 'T': c.opts.flags |= SHARR_CREATE_TEMP;
                  c.opts.owner = getppid(); break;
        case 'm': rc = parse_mode(optarg, &c.opts.mode); break;
        case 'h': return cli_help(create_usage);
        case 'V': return cli_version();
        default: return cli_bad_option(ch, argv);
        }
    }
    if (rc)
        return rc;
    if (optind + 1 != argc)
        return cli_usage(optind >= argc ? "missing NAME" : "too many arguments");
    if (!have_shape)
        return cli_usage("missing --shape (e.g. --shape 16x1000000)");
    if (!(c.name = cli_name(argv[optind])))
        return EXIT_USAGE;
    return run_create(&c);
}

/* ---- ls and info ---- */

static const char ls_usage[] =
    "Usage: sharr ls [PATTERN...] [--json | --names]\n\n"
    "List the shared arrays in /dev/shm, or those whose names match one of\n"
    "the PATTERNs (shell-style: 'run42.*', 'frame-?', '[ab]*'; quote them\n"
    "from the shell), and a total line.  A PATTERN that matches nothing is\n"
    "an error (exit 1) after the rest is listed.\n\n"
    "  NAME DTYPE SHAPE  as created\n"
    "  SIZE       bytes of the elements (B, KiB, MiB ... of 1024)\n"
    "  USER       who owns the segment\n"
    "  TEMPORARY  '-': the array lives until 'sharr rm'.  Otherwise the\n"
    "             process whose exit removes it: 'until pid N exits';\n"
    "             'pid N exited' when it is gone but the array is not (its\n"
    "             guardian was killed: 'sharr gc' removes it); 'until pid N\n"
    "             exits (?)' when N was numbered in another PID namespace or\n"
    "             boot (a container sharing /dev/shm), so it cannot be judged\n"
    "             here.\n"
    "Entries that are not valid arrays (corrupt, or a FIFO, symlink,\n"
    "directory planted under a sharr.* name) are listed with the reason.\n"
    "Queues, pipes, locks, semaphores, events, conditions and barriers are\n"
    "listed with their kind as DTYPE and their state last (queue depth,\n"
    "semaphore value, lock holder ...); in JSON, \"kind\" says which.\n\n"
    "      --json   one JSON array of objects: name, status, dtype, shape,\n"
    "               bytes, owner, pid (the creator; for a temporary array\n"
    "               the process whose exit removes it), temp, alive (that\n"
    "               process is alive: true or false; null when the array is\n"
    "               not temporary or it cannot be judged here), detail\n"
    "      --names  only the names, one per line (for scripts)\n"
    "  -h, --help   show this help\n";

static void json_shape(const sharr_info *in)
{
    printf("[");
    for (size_t d = 0; d < in->ndim; d++)
        printf("%s%zu", d ? ", " : "", in->shape[d]);
    printf("]");
}

static bool is_temp(const sharr_info *in)
{
    return in->status == 0 && (in->flags & SHARR_CREATE_TEMP);
}

static const char *alive_word(const sharr_info *in, const char *yes,
                              const char *no)
{
    return in->creator_alive < 0 ? "unknown" : in->creator_alive ? yes : no;
}

static void json_info(const sharr_info *in, bool full)
{
    char user[64];

    cli_user_name(in->uid, user, sizeof user);
    printf("{\"name\": ");
    cli_json_string(stdout, in->name);
    printf(", \"status\": ");
    cli_json_string(stdout, in->status ? sharr_strerror(in->status) : "ok");
    if (in->status == 0 && in->kind != SHARR_KIND_ARRAY) {
        printf(", \"kind\": \"%s\"", sharr_kind_name(in->kind));
        cli_obj_json(in);
    } else if (in->status == 0) {
        printf(", \"dtype\": \"%s\", \"shape\": ", sharr_dtype_name(in->dtype));
        json_shape(in);
        printf(", \"bytes\": %zu, \"kind\": \"array\"", in->nbytes);
    }
    printf(", \"owner\": ");
    cli_json_string(stdout, user);
    /* alive: only a temporary array's owner process means something. */
    printf(", \"pid\": %d, \"alive\": %s, \"temp\": %s", (int)in->creator,
           !is_temp(in) || in->creator_alive < 0 ? "null"
                                : in->creator_alive ? "true" : "false",
           is_temp(in) ? "true" : "false");
    if (in->detail[0]) {
        printf(", \"detail\": ");
        cli_json_string(stdout, in->detail);
    }
    if (full) {
        printf(", \"descr\": \"%s\", \"ndim\": %zu, \"path\": ",
               in->status || in->kind ? "" : sharr_dtype_descr(in->dtype),
               in->ndim);
        cli_json_string(stdout, in->path);
        printf(", \"segment_bytes\": %zu, \"data_offset\": %zu, "
               "\"ctl_offset\": %zu, \"mode\": \"%04o\", \"created\": %lld, "
               "\"attached\": %u, \"id\": \"", in->segment_size,
               in->data_offset, in->ctl_offset, in->mode,
               (long long)in->created_sec, in->attached);
        for (int i = 0; i < 16; i++)
            printf("%02x", in->id[i]);
        printf("\"");
    }
    printf("}");
}

/* The cells of one table row; `last` is the TEMPORARY column or, for an
 * entry that is not a valid array, why. */
struct ls_row {
    char dtype[12], shape[256], size[32], user[64], last[512];
};

static void ls_cells(const sharr_info *in, struct ls_row *r)
{
    cli_user_name(in->uid, r->user, sizeof r->user);
    if (in->status) {
        snprintf(r->dtype, sizeof r->dtype, "?");
        snprintf(r->shape, sizeof r->shape, "?");
        snprintf(r->size, sizeof r->size, "?");
        snprintf(r->last, sizeof r->last, "invalid: %s%s%s",
                 sharr_strerror(in->status), in->detail[0] ? ": " : "",
                 in->detail);
        return;
    }
    if (in->kind != SHARR_KIND_ARRAY) { /* a queue, a lock ... */
        snprintf(r->dtype, sizeof r->dtype, "%s", sharr_kind_name(in->kind));
        snprintf(r->shape, sizeof r->shape, "-");
        cli_format_bytes(in->segment_size, r->size, sizeof r->size);
    } else {
        snprintf(r->dtype, sizeof r->dtype, "%s",
                 sharr_dtype_name(in->dtype));
        cli_format_shape(in->ndim, in->shape, r->shape, sizeof r->shape);
        cli_format_bytes(in->nbytes, r->size, sizeof r->size);
    }
    if (!is_temp(in))
        snprintf(r->last, sizeof r->last, "-");
    else if (in->creator_alive == 0)
        snprintf(r->last, sizeof r->last, "pid %d exited",
                 (int)in->creator);
    else
        snprintf(r->last, sizeof r->last, "until pid %d exits%s",
                 (int)in->creator, in->creator_alive < 0 ? " (?)" : "");
    if (in->kind != SHARR_KIND_ARRAY) /* its state, last: any width */
        snprintf(r->last + strlen(r->last), sizeof r->last - strlen(r->last),
                 "  %s", in->obj.text);
}

static int widest(int w, const char *s)
{
    int n = (int)strlen(s);
    return n > w ? n : w;
}

/* The table, its columns as wide as their widest cell, and the total. */
static int print_table(const sharr_info *const *list, size_t n)
{
    struct ls_row *rows = calloc(n ? n : 1, sizeof *rows);
    int wn = 4, wd = 5, ws = 5, wz = 4, wu = 4;
    size_t bytes = 0, invalid = 0, objects = 0;
    char total[32];

    if (!rows)
        return cli_error("out of memory for %zu entries", n);
    for (size_t i = 0; i < n; i++) {
        ls_cells(list[i], &rows[i]);
        wn = widest(wn, list[i]->name);
        wd = widest(wd, rows[i].dtype);
        ws = widest(ws, rows[i].shape);
        wz = widest(wz, rows[i].size);
        wu = widest(wu, rows[i].user);
        if (list[i]->status)
            invalid++;
        else if (list[i]->kind != SHARR_KIND_ARRAY)
            objects++;
        else
            bytes += list[i]->nbytes;
    }
    printf("%-*s  %-*s  %-*s  %*s  %-*s  %s\n", wn, "NAME", wd, "DTYPE", ws,
           "SHAPE", wz, "SIZE", wu, "USER", "TEMPORARY");
    for (size_t i = 0; i < n; i++)
        printf("%-*s  %-*s  %-*s  %*s  %-*s  %s\n", wn, list[i]->name, wd,
               rows[i].dtype, ws, rows[i].shape, wz, rows[i].size, wu,
               rows[i].user, rows[i].last);
    cli_format_bytes(bytes, total, sizeof total);
    printf("total: %zu array%s, %s", n - invalid - objects,
           n - invalid - objects == 1 ? "" : "s", total);
    if (objects)
        printf("; %zu other object%s", objects, objects == 1 ? "" : "s");
    if (invalid)
        printf("; %zu invalid entr%s", invalid, invalid == 1 ? "y" : "ies");
    printf("\n");
    free(rows);
    return EXIT_OK;
}

/* Entries of `list` that match one of patterns[0..np) (all if np is 0),
 * into *out (a malloc'ed array of pointers).  A pattern matching none is
 * reported.  @return EXIT_OK, or EXIT_RUNTIME if one matched none. */
static int select_entries(const sharr_info *list, size_t n, char **patterns,
                          int np, const sharr_info ***out, size_t *count)
{
    const sharr_info **sel = calloc(n ? n : 1, sizeof *sel);
    int rc = EXIT_OK;

    *count = 0;
    *out = sel;
    if (!sel)
        return cli_error("out of memory for %zu entries", n);
    for (size_t i = 0; i < n; i++) {
        bool match = np == 0;
        for (int k = 0; k < np && !match; k++)
            match = fnmatch(cli_arg(patterns[k]), list[i].name, 0) == 0;
        if (match)
            sel[(*count)++] = &list[i];
    }
    for (int k = 0; k < np; k++) {
        size_t i = 0;
        while (i < n && fnmatch(cli_arg(patterns[k]), list[i].name, 0) != 0)
            i++;
        if (i == n)
            rc = cli_error(strpbrk(patterns[k], "*?[") ? "no array matches "
                           "'%s'" : "no array named '%s'",
                           cli_arg(patterns[k]));
    }
    return rc;
}

int cmd_ls(int argc, char **argv)
{
    int json = 0, names = 0;
    const struct option lo[] = {{"json", no_argument, &json, 1},
                                {"names", no_argument, &names, 1},
                                COMMON_LONGOPTS, {0}};
    const sharr_info **sel = NULL;
    sharr_info *list;
    size_t n, k;
    int rc, err;

    if ((rc = cli_options(argc, argv, lo, ls_usage)) >= 0)
        return rc;
    if (json && names)
        return cli_usage("give --json or --names, not both");
    if ((err = sharr_list(&list, &n)) < 0)
        return cli_fail(err);
    rc = select_entries(list, n, argv + optind, argc - optind, &sel, &k);
    if (sel && json) {
        printf("[");
        for (size_t i = 0; i < k; i++) {
            printf(i ? ",\n " : "");
            json_info(sel[i], false);
        }
        printf("]\n");
    } else if (sel && names) {
        for (size_t i = 0; i < k; i++)
            printf("%s\n", sel[i]->name);
    } else if (sel && (k > 0 || optind == argc)) {
        /* No array at all still has its total line ("total: 0 arrays"). */
        int trc = print_table(sel, k);
        rc = rc ? rc : trc;
    }
    free(sel);
    sharr_list_free(list);
    return rc;
}

static const char info_usage[] =
    "Usage: sharr info NAME [--json]\n\n"
    "Show everything about the array NAME without mapping it: dtype, NumPy\n"
    "descr, shape, bytes, file path, data and control-block offsets, owner,\n"
    "mode, the pid that created it (for a temporary array: the process whose\n"
    "exit removes it, and whether it is alive), creation time and id.\n"
    "For a queue, pipe, lock, semaphore, event, condition or barrier: its\n"
    "kind and state (messages queued, holder, value, parties waiting ...).\n\n"
    "      --json   one JSON object\n"
    "  -h, --help   show this help\n";

static void text_info(const sharr_info *in)
{
    char shape[256], user[64], when[64];
    time_t t = (time_t)in->created_sec;
    struct tm tm;

    cli_format_shape(in->ndim, in->shape, shape, sizeof shape);
    cli_user_name(in->uid, user, sizeof user);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %z", localtime_r(&t, &tm));
    printf("name:          %s\npath:          %s\n", in->name, in->path);
    printf("dtype:         %s (%s)\n", sharr_dtype_name(in->dtype),
           sharr_dtype_descr(in->dtype));
    printf("shape:         %s\nndim:          %zu\n", shape, in->ndim);
    printf("bytes:         %zu\nsegment bytes: %zu\n", in->nbytes,
           in->segment_size);
    printf("data offset:   %zu\nctl offset:    %zu\n", in->data_offset,
           in->ctl_offset);
    printf("owner:         %s\nmode:          %04o\n", user, in->mode);
    /* The creator of an array that is not temporary is long gone, as a
     * rule (sharr create exits at once): its pid is history, not state. */
    if (is_temp(in))
        printf("owner process: %d (%s%s%s): its exit removes the array\n",
               (int)in->creator, alive_word(in, "alive", "gone"),
               in->detail[0] ? ": " : "", in->detail);
    else
        printf("created by:    pid %d\n", (int)in->creator);
    printf("attached:      %u (advisory)\n", in->attached);
    printf("temporary:     %s\ncreated:       %s\nid:            ",
           is_temp(in) ? "yes" : "no", when);
    for (int i = 0; i < 16; i++)
        printf("%02x", in->id[i]);
    printf("\n");
}

int cmd_info(int argc, char **argv)
{
    int json = 0;
    const struct option lo[] = {{"json", no_argument, &json, 1},
                                COMMON_LONGOPTS, {0}};
    sharr_info in;
    int rc, err;

    if ((rc = cli_options(argc, argv, lo, info_usage)) >= 0)
        return rc;
    if (optind + 1 != argc)
        return cli_usage(optind >= argc ? "missing NAME" : "too many arguments");
    const char *name = cli_name(argv[optind]);
    if (!name)
        return EXIT_USAGE;
    if ((err = sharr_stat(name, &in)) < 0)
        return cli_fail(err);
    if (json) {
        json_info(&in, true);
        printf("\n");
    } else if (in.kind != SHARR_KIND_ARRAY) {
        cli_obj_info(&in);
    } else {
        text_info(&in);
    }
    return EXIT_OK;
}

/* ---- rm and gc ---- */

static const char rm_usage[] =
    "Usage: sharr rm NAME|PATTERN...\n\n"
    "Remove the named arrays, queues, locks ... (corrupt segments too), or\n"
    "every one whose\n"
    "name matches a shell-style PATTERN ('run42.*', 'frame-?'; quote it from\n"
    "the shell).  Processes that have an array mapped keep their mapping\n"
    "until they close it.  Every argument is tried; the exit status is 1 if\n"
    "a NAME could not be removed or a PATTERN matched nothing.\n\n"
    "  -h, --help   show this help\n";

static bool is_pattern(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

/* rm PATTERN: every listed entry whose name matches. */
static int rm_matching(const char *pattern, const sharr_info *list, size_t n)
{
    int rc = EXIT_OK, err, found = 0;

    for (size_t i = 0; i < n; i++) {
        if (fnmatch(pattern, list[i].name, 0) != 0)
            continue;
        found++;
        if ((err = sharr_unlink(list[i].name)) < 0 && err != SHARR_ENOENT)
            rc = cli_fail(err);
    }
    if (!found)
        rc = cli_error("no array matches '%s'", pattern);
    return rc;
}

int cmd_rm(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_LONGOPTS, {0}};
    sharr_info *list = NULL;
    size_t n = 0;
    int rc = cli_options(argc, argv, lo, rm_usage), err;

    if (rc >= 0)
        return rc;
    rc = EXIT_OK;
    if (optind >= argc)
        return cli_usage("missing NAME");
    for (int i = optind; i < argc; i++) {
        const char *arg = cli_arg(argv[i]);
        if (is_pattern(arg)) {
            if (!list && (err = sharr_list(&list, &n)) < 0)
                return cli_fail(err);
            int prc = rm_matching(arg, list, n);
            rc = rc ? rc : prc;
            continue;
        }
        const char *name = cli_name(argv[i]);
        err = name ? sharr_unlink(name) : 0;
        if (!name)
            rc = EXIT_USAGE;
        else if (err < 0 && rc == EXIT_OK)
            rc = cli_fail(err);
        else if (err < 0)
            cli_fail(err);
    }
    sharr_list_free(list);
    return rc;
}

static const char gc_usage[] =
    "Usage: sharr gc [--dry-run]\n"
    "       sharr gc [--dry-run] DIR...\n\n"
    "Remove your temporary arrays (and queues, locks ...) whose owner\n"
    "process is gone, and the hidden remains of creations that were\n"
    "interrupted (their creator died before finishing).\n"
    "Prints each name removed.  Arrays of other users are never touched.\n"
    "An owner is judged only in the PID namespace and boot that numbered it:\n"
    "arrays of another container sharing /dev/shm (or made by an older\n"
    "sharr) are kept and printed as 'skipped NAME: owner unknown: ...'.\n"
    "Entries that are not sharr segments are printed as 'skipped NAME:\n"
    "invalid: ...' (remove them with sharr rm if they are yours).\n"
    "With DIR: instead, remove from each directory DIR the temporary files\n"
    "(.NAME.sharr-...tmp) of saves that were killed: only yours, and only\n"
    "if the saver ran in this PID namespace since this boot and is gone.\n\n"
    "      --dry-run   only print what would be removed\n"
    "  -h, --help      show this help\n";

static void print_removed(const char *name, void *ctx)
{
    printf("%s %s\n", *(const int *)ctx ? "would remove" : "removed", name);
}

static void print_gc(const char *name, sharr_gc_event ev, const char *detail,
                     void *ctx)
{
    switch (ev) {
    case SHARR_GC_REMOVED:
        print_removed(name, ctx);
        break;
    case SHARR_GC_UNKNOWN:
        printf("skipped %s: owner unknown: %s\n", name, detail);
        break;
    case SHARR_GC_INVALID:
        printf("skipped %s: invalid: %s\n", name, detail);
        break;
    case SHARR_GC_REPLACED:
        printf("skipped %s: %s\n", name, detail);
        break;
    }
}

int cmd_gc(int argc, char **argv)
{
    int dry = 0;
    const struct option lo[] = {{"dry-run", no_argument, &dry, 1},
                                COMMON_LONGOPTS, {0}};
    int n;

    if ((n = cli_options(argc, argv, lo, gc_usage)) >= 0)
        return n;
    for (int i = optind; i < argc; i++)
        if ((n = sharr_save_gc(argv[i], dry, print_removed, &dry)) < 0)
            return cli_fail(n);
    if (optind == argc && (n = sharr_gc_report(dry, print_gc, &dry)) < 0)
        return cli_fail(n);
    return EXIT_OK;
}

/* ---- fill and dump ---- */

static const char fill_usage[] =
    "Usage: sharr fill NAME F [-j N]\n\n"
    "Fill the whole array NAME in place, on a pool of worker processes.\n"
    "F is one of:\n"
    "  zeros, ones      0 or 1 everywhere\n"
    "  VALUE            one value everywhere: 3, -2.5, 1e-3, inf, nan;\n"
    "                   complex: 1.5, -2j, 0.6+0.8i, 0.6+0.8j\n"
    "  range            element k (C order) = k in the dtype (complex k+0i;\n"
    "                   integers wrap as C conversion does)\n"
    "  random[:SEED]    reproducible values (seed 0 by default), the same\n"
    "                   for any -j: floats in [0,1), complex both parts,\n"
    "                   integers all bits random\n"
    "It holds the lock of NAME while it writes (a command that holds it,\n"
    "e.g. 'sharr lock NAME -- ...', is waited for).  Interrupted (Ctrl-C,\n"
    "SIGTERM), it says on stderr that NAME was partly filled.\n\n"
    "  -j, --jobs N   worker processes (default: one per CPU)\n"
    "      --foreign  fill an array of another user too (refused by\n"
    "                 default: they could plant one under your array's name)\n"
    CLI_LOCK_HELP("  ", "                 ")
    "  -h, --help     show this help\n";

static int run_fill(const char *name, const char *how, int jobs)
{
    struct cli_progress bar;
    sharr_run_opts ro = {0};
    sharr_fill_spec spec;
    sharr_pool *pool = NULL;
    sharr_array *a;
    const bool writes = true;
    int err, rc;

    if ((err = sharr_array_open(name, cli_open_flags, &a)) < 0)
        return cli_fail(err);
    if (sharr_fill_parse(sharr_array_dtype(a), how, &spec) < 0) {
        rc = cli_usage("%s", sharr_errmsg());
    } else if ((rc = cli_pool_unscheduled(jobs, &pool)) == 0 &&
               (rc = cli_lock(&a, &writes, 1)) == 0) {
        cli_progress_init(&bar, "fill", &ro);
        cli_inplace_begin("fill", name, &ro);
        err = sharr_fill(pool, a, &spec, &ro);
        cli_inplace_end();
        cli_unlock();
        cli_progress_done(&bar);
        rc = err < 0 ? cli_fail(err) : EXIT_OK;
    }
    sharr_pool_destroy(pool);
    sharr_array_close(a);
    return rc;
}

int cmd_fill(int argc, char **argv)
{
    static const struct option lo[] = {{"jobs", required_argument, NULL, 'j'},
                                       CLI_FOREIGN_OPTION, CLI_LOCK_OPTIONS,
                                       COMMON_LONGOPTS, {0}};
    int ch, rc, jobs = 0;

    cli_foreign_option = true;
    while ((ch = getopt_long(argc, argv, ":j:hV", lo, NULL)) != -1) {
        if (ch == 'j') {
            if ((rc = cli_parse_jobs(optarg, &jobs)) != 0)
                return rc;
        } else if (ch == 'F') cli_open_flags |= SHARR_OPEN_FOREIGN;
        else if ((rc = cli_lock_option(ch, optarg)) >= 0) {
            if (rc)
                return rc;
        } else if (ch == 'h') return cli_help(fill_usage);
        else if (ch == 'V') return cli_version();
        else return cli_bad_option(ch, argv);
    }
    if (optind + 2 != argc)
        return cli_usage(optind + 2 > argc ? "missing NAME or F"
                                            : "too many arguments");
    const char *name = cli_name(argv[optind]);
    if (!name)
        return EXIT_USAGE;
    return run_fill(name, cli_arg(argv[optind + 1]), jobs);
}

static const char dump_usage[] =
    "Usage: sharr dump NAME [--rows A:B] [--limit N]\n\n"
    "Print the values of NAME as text, one row (index of the first axis) per\n"
    "line, values separated by spaces; a scalar prints one line.  Floats\n"
    "print the shortest text that reads back exactly; complex as 1+2j.\n"
    "The values are copied out under the lock of NAME (up to 64 MiB of\n"
    "them; beyond, it holds the lock while it prints), so they are never\n"
    "half-written by a command that holds it.\n\n"
    "  -r, --rows A:B   only rows A..B-1 (Python slice; negative counts from\n"
    "                   the end; A alone is one row)\n"
    "  -n, --limit N    at most N values per row, then '...'\n"
    "      --foreign    print an array of another user too (refused by\n"
    "                   default: they could plant one under your array's\n"
    "                   name)\n"
    CLI_LOCK_HELP("    ", "                   ")
    "  -h, --help       show this help\n";

/* rows[0..nrows) of n values each (then "..." if `more`), `stride` bytes
 * apart from p; stops at the first row whose output could not be written
 * (SIGPIPE ignored and the reader gone, a full disk: cli_run says so). */
static void print_rows(sharr_dtype dt, const unsigned char *p, size_t nrows,
                       size_t n, size_t stride, bool more)
{
    size_t item = sharr_dtype_size(dt);
    char buf[160];

    for (size_t r = 0; r < nrows && !ferror(stdout); r++) {
        if (n == 0)
            putchar('\n'); /* a row of no elements (shape (R, 0)) */
        for (size_t i = 0; i < n && !ferror(stdout); i++) {
            sharr_value_format(dt, p + r * stride + i * item, buf,
                               sizeof buf);
            fputs(buf, stdout);
            fputs(i + 1 < n ? " " : (more ? " ...\n" : "\n"), stdout);
        }
    }
}

/* Copies of at most this many bytes are printed after the lock is
 * released, so that a slow reader (a pager) does not hold it. */
#define DUMP_COPY_MAX ((size_t)64 << 20)

static int dump_rows(sharr_array *a, size_t r0, size_t r1, size_t limit)
{
    sharr_dtype dt = sharr_array_dtype(a);
    size_t item = sharr_dtype_size(dt), row = sharr_array_row_bytes(a);
    size_t per_row = row / item;
    size_t n = limit && limit < per_row ? limit : per_row;
    /* <= the array's bytes: no overflow */
    size_t bytes = (r1 - r0) * n * item;
    const unsigned char *p = (const unsigned char *)sharr_array_data(a) +
                             r0 * row;
    unsigned char *copy = bytes <= DUMP_COPY_MAX ? malloc(bytes) : NULL;
    const bool writes = false;
    int rc;

    if ((rc = cli_lock(&a, &writes, 1)) != 0) {
        free(copy);
        return rc;
    }
    if (copy) {
        for (size_t r = 0; r < r1 - r0; r++)
            memcpy(copy + r * n * item, p + r * row, n * item);
        cli_unlock();
        print_rows(dt, copy, r1 - r0, n, n * item, n < per_row);
    } else {
        print_rows(dt, p, r1 - r0, n, row, n < per_row);
        cli_unlock();
    }
    free(copy);
    return EXIT_OK;
}

int cmd_dump(int argc, char **argv)
{
    static const struct option lo[] = {{"rows", required_argument, NULL, 'r'},
                                       {"limit", required_argument, NULL, 'n'},
                                       CLI_FOREIGN_OPTION, CLI_LOCK_OPTIONS,
                                       COMMON_LONGOPTS, {0}};
    const char *rows = NULL;
    size_t limit = 0, r0, r1;
    sharr_array *a;
    int ch, rc, err;

    cli_foreign_option = true;
    while ((ch = getopt_long(argc, argv, ":r:n:hV", lo, NULL)) != -1) {
        if (ch == 'r') rows = optarg;
        else if (ch == 'F') cli_open_flags |= SHARR_OPEN_FOREIGN;
        else if ((rc = cli_lock_option(ch, optarg)) >= 0) {
            if (rc)
                return rc;
        }
        else if (ch == 'n') {
            if ((rc = cli_parse_count(optarg, "--limit", 1, &limit)) != 0)
                return rc;
        } else if (ch == 'h') return cli_help(dump_usage);
        else if (ch == 'V') return cli_version();
        else return cli_bad_option(ch, argv);
    }
    if (optind + 1 != argc)
        return cli_usage(optind >= argc ? "missing NAME" : "too many arguments");
    const char *name = cli_name(argv[optind]);
    if (!name)
        return EXIT_USAGE;
    if ((err = sharr_array_open(name, SHARR_OPEN_RDONLY | cli_open_flags,
                                &a)) < 0)
        return cli_fail(err);
    r0 = 0;
    r1 = sharr_array_rows(a);
    rc = rows ? cli_parse_rows(rows, r1, &r0, &r1) : 0;
    if (rc == 0)
        rc = dump_rows(a, r0, r1, limit);
    sharr_array_close(a);
    return rc;
}

/* ---- reshape ---- */

static const char reshape_usage[] =
    "Usage: sharr reshape NAME SHAPE [--force]\n\n"
    "Give the array NAME the shape SHAPE (e.g. 4x6, 24, 0x3, '' for a\n"
    "scalar) in place: the same number of elements, the same bytes in the\n"
    "same C order (NumPy's reshape).  Its control block and .npy header are\n"
    "rewritten under its lock; numpy.load sees the new shape from its next\n"
    "call (arrays NumPy mapped before keep the old one).  Refused while other\n"
    "sharr handles are open on NAME (the 'attached' count of sharr info):\n"
    "they would keep the old shape.\n\n"
    "      --force    reshape anyway (for a count left by a killed process;\n"
    "                 open handles keep the old shape until reopened)\n"
    "      --foreign  reshape an array of another user too (refused by\n"
    "                 default: they could plant one under your array's name)\n"
    "  -h, --help     show this help\n\n"
    "Exit status: 0 reshaped, 1 failure (another element count, busy ...),\n"
    "2 bad usage.\n";

int cmd_reshape(int argc, char **argv)
{
    static const struct option lo[] = {{"force", no_argument, NULL, 'f'},
                                       CLI_FOREIGN_OPTION, COMMON_LONGOPTS,
                                       {0}};
    size_t ndim, shape[SHARR_MAX_NDIM];
    unsigned flags = 0;
    sharr_array *a;
    int ch, rc, err;

    cli_foreign_option = true;
    while ((ch = getopt_long(argc, argv, ":fhV", lo, NULL)) != -1) {
        if (ch == 'f') flags |= SHARR_RESHAPE_FORCE;
        else if (ch == 'F') cli_open_flags |= SHARR_OPEN_FOREIGN;
        else if (ch == 'h') return cli_help(reshape_usage);
        else if (ch == 'V') return cli_version();
        else return cli_bad_option(ch, argv);
    }
    if (optind + 2 != argc)
        return cli_usage(optind + 2 > argc ? "missing NAME or SHAPE"
                                            : "too many arguments");
    const char *name = cli_name(argv[optind]);
    if (!name)
        return EXIT_USAGE;
    if ((rc = cli_parse_shape(argv[optind + 1], &ndim, shape)) != 0)
        return rc;
    if ((err = sharr_array_open(name, cli_open_flags, &a)) < 0)
        return cli_fail(err);
    /* Under `sharr lock NAME --`: the lock is held for us; taking it
     * would wait for ever on our own ancestor. */
    pid_t holder = sharr_array_lock_holder(a, NULL);
    if (holder && cli_lock_inherited(name, holder))
        flags |= SHARR_RESHAPE_LOCK_HELD;
    err = sharr_array_reshape(a, ndim, shape, flags);
    sharr_array_close(a);
    return err < 0 ? cli_fail(err) : EXIT_OK;
}
