/*
 * cmd_store.c - the store subcommands: create, ls, info, rm, fill, dump, gc.
 */
#define _GNU_SOURCE
#include "cli.h"

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
    "                     (default f64); NumPy names work too: int32, "
    "complex128\n"
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
    "Usage: sharr ls [--json]\n\n"
    "List every shared array in /dev/shm: name, dtype, shape, bytes, owning\n"
    "user, the owner process and whether it is still alive, and whether the\n"
    "array is temporary.  Segments that are not valid arrays (corrupt, or a\n"
    "FIFO, symlink, directory planted under a sharr.* name) are listed with\n"
    "the reason.  ALIVE is 'unknown' when the owner was numbered in another\n"
    "PID namespace or boot (a container sharing /dev/shm) or the segment is\n"
    "too old to say: its pid means nothing here.\n"
    "Queues, pipes, locks, semaphores, events, conditions and barriers are\n"
    "listed with their kind in the DTYPE column and their state last (queue\n"
    "depth, semaphore value, lock holder ...); in JSON, \"kind\" says which.\n\n"
    "      --json   one JSON array of objects instead of a table\n"
    "  -h, --help   show this help\n";

static void json_shape(const sharr_info *in)
{
    printf("[");
    for (size_t d = 0; d < in->ndim; d++)
        printf("%s%zu", d ? ", " : "", in->shape[d]);
    printf("]");
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
    /* alive: true, false, or null when it cannot be judged here. */
    printf(", \"pid\": %d, \"alive\": %s, \"temp\": %s", (int)in->creator,
           in->creator_alive < 0 ? "null"
                                 : in->creator_alive ? "true" : "false",
           (in->flags & SHARR_CREATE_TEMP) ? "true" : "false");
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

static void table_row(const sharr_info *in)
{
    char shape[256], bytes[32], user[64];

    cli_user_name(in->uid, user, sizeof user);
    if (in->status) {
        char pid[16] = "-";
        if (in->creator)
            snprintf(pid, sizeof pid, "%d", (int)in->creator);
        printf("%-24s %-6s %-16s %10s %-8s %7s %-7s %s%s%s\n", in->name, "?",
               "?", "?", user, pid, in->creator ? alive_word(in, "yes", "no")
                                                : "-",
               sharr_strerror(in->status), in->detail[0] ? ": " : "",
               in->detail);
        return;
    }
    if (in->kind != SHARR_KIND_ARRAY) {
        cli_obj_row(in, user);
        return;
    }
    cli_format_shape(in->ndim, in->shape, shape, sizeof shape);
    cli_format_bytes(in->nbytes, bytes, sizeof bytes);
    printf("%-24s %-6s %-16s %10s %-8s %7d %-7s %s\n", in->name,
           sharr_dtype_name(in->dtype), shape, bytes, user, (int)in->creator,
           alive_word(in, "yes", "no"),
           (in->flags & SHARR_CREATE_TEMP) ? "temp" : "");
}

int cmd_ls(int argc, char **argv)
{
    int json = 0;
    const struct option lo[] = {{"json", no_argument, &json, 1},
                                COMMON_LONGOPTS, {0}};
    sharr_info *list;
    size_t n;
    int rc, err;

    if ((rc = cli_options(argc, argv, lo, ls_usage)) >= 0)
        return rc;
    if (optind != argc)
        return cli_usage("unexpected argument '%s'", argv[optind]);
    if ((err = sharr_list(&list, &n)) < 0)
        return cli_fail(err);
    if (json)
        printf("[");
    else if (n > 0)
        printf("%-24s %-6s %-16s %10s %-8s %7s %-7s %s\n", "NAME", "DTYPE",
               "SHAPE", "BYTES", "OWNER", "PID", "ALIVE", "FLAGS");
    for (size_t i = 0; i < n; i++) {
        if (json) {
            printf(i ? ",\n " : "");
            json_info(&list[i], false);
        } else {
            table_row(&list[i]);
        }
    }
    if (json)
        printf("]\n");
    sharr_list_free(list);
    return EXIT_OK;
}

static const char info_usage[] =
    "Usage: sharr info NAME [--json]\n\n"
    "Show everything about the array NAME without mapping it: dtype, NumPy\n"
    "descr, shape, bytes, file path, data and control-block offsets, owner,\n"
    "mode, owner process (alive?), temporary flag, creation time and id.\n"
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
    printf("owner process: %d (%s%s%s)\n", (int)in->creator,
           alive_word(in, "alive", "gone"), in->detail[0] ? ": " : "",
           in->detail);
    printf("attached:      %u (advisory)\n", in->attached);
    printf("temporary:     %s\ncreated:       %s\nid:            ",
           (in->flags & SHARR_CREATE_TEMP) ? "yes" : "no", when);
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
    "Usage: sharr rm NAME...\n\n"
    "Remove the named arrays, queues, locks ... (corrupt segments too).\n"
    "Processes that have one mapped keep it until they close it.  Every\n"
    "NAME is tried; the exit status is 1 if any could not be removed.\n\n"
    "  -h, --help   show this help\n";

int cmd_rm(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_LONGOPTS, {0}};
    int rc = cli_options(argc, argv, lo, rm_usage);

    if (rc >= 0)
        return rc;
    rc = EXIT_OK;
    if (optind >= argc)
        return cli_usage("missing NAME");
    for (int i = optind; i < argc; i++) {
        const char *name = cli_name(argv[i]);
        int err = name ? sharr_unlink(name) : 0;
        if (!name)
            rc = EXIT_USAGE;
        else if (err < 0 && rc == EXIT_OK)
            rc = cli_fail(err);
        else if (err < 0)
            cli_fail(err);
    }
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
    "Interrupted (Ctrl-C, SIGTERM), it says on stderr that NAME was partly\n"
    "filled.\n\n"
    "  -j, --jobs N   worker processes (default: one per CPU)\n"
    "  -h, --help     show this help\n";

static int run_fill(const char *name, const char *how, int jobs)
{
    struct cli_progress bar;
    sharr_run_opts ro = {0};
    sharr_fill_spec spec;
    sharr_pool *pool = NULL;
    sharr_array *a;
    int err, rc;

    if ((err = sharr_array_open(name, 0, &a)) < 0)
        return cli_fail(err);
    if (sharr_fill_parse(sharr_array_dtype(a), how, &spec) < 0) {
        rc = cli_usage("%s", sharr_errmsg());
    } else if ((rc = cli_pool(jobs, &pool)) == 0) {
        cli_progress_init(&bar, "fill", &ro);
        cli_inplace_begin("fill", name, &ro);
        err = sharr_fill(pool, a, &spec, &ro);
        cli_inplace_end();
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
                                       COMMON_LONGOPTS, {0}};
    int ch, rc, jobs = 0;

    while ((ch = getopt_long(argc, argv, ":j:hV", lo, NULL)) != -1) {
        if (ch == 'j') {
            if ((rc = cli_parse_jobs(optarg, &jobs)) != 0)
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
    "print the shortest text that reads back exactly; complex as 1+2j.\n\n"
    "  -r, --rows A:B   only rows A..B-1 (Python slice; negative counts from\n"
    "                   the end; A alone is one row)\n"
    "  -n, --limit N    at most N values per row, then '...'\n"
    "  -h, --help       show this help\n";

static void dump_rows(const sharr_array *a, size_t r0, size_t r1, size_t limit)
{
    sharr_dtype dt = sharr_array_dtype(a);
    size_t item = sharr_dtype_size(dt);
    size_t per_row = sharr_array_row_bytes(a) / item;
    const unsigned char *p = sharr_array_data(a);
    char buf[160];

    for (size_t r = r0; r < r1; r++) {
        const unsigned char *row = p + r * sharr_array_row_bytes(a);
        size_t n = limit && limit < per_row ? limit : per_row;
        for (size_t i = 0; i < n; i++) {
            sharr_value_format(dt, row + i * item, buf, sizeof buf);
            fputs(buf, stdout);
            fputs(i + 1 < n ? " " : (n < per_row ? " ...\n" : "\n"), stdout);
        }
    }
}

int cmd_dump(int argc, char **argv)
{
    static const struct option lo[] = {{"rows", required_argument, NULL, 'r'},
                                       {"limit", required_argument, NULL, 'n'},
                                       COMMON_LONGOPTS, {0}};
    const char *rows = NULL;
    size_t limit = 0, r0, r1;
    sharr_array *a;
    int ch, rc, err;

    while ((ch = getopt_long(argc, argv, ":r:n:hV", lo, NULL)) != -1) {
        if (ch == 'r') rows = optarg;
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
    if ((err = sharr_array_open(name, SHARR_OPEN_RDONLY, &a)) < 0)
        return cli_fail(err);
    r0 = 0;
    r1 = sharr_array_rows(a);
    rc = rows ? cli_parse_rows(rows, r1, &r0, &r1) : 0;
    if (rc == 0)
        dump_rows(a, r0, r1, limit);
    sharr_array_close(a);
    return rc;
}
