/*
 * cmd_ipc.c - the subcommands of queues and synchronization objects:
 * queue, pipe, lock, sem, event, cond, barrier (each a group of its own
 * subcommands), `sharr lock NAME -- COMMAND`, and how ls and info show
 * objects that are not arrays.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define COMMON_LONGOPTS {"help", no_argument, NULL, 'h'}, \
                        {"version", no_argument, NULL, 'V'}

struct sub {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

/* "sharr GROUP SUB ...": run SUB with argv[0] = SUB and cli_sub = "GROUP
 * SUB", so that messages say "sharr: queue put: ...". */
static int dispatch(const char *usage, const struct sub *subs, size_t n,
                    int argc, char **argv)
{
    static char sub_name[64];
    const char *group = cli_sub;

    if (argc < 2)
        return cli_usage("missing subcommand");
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
        return cli_help(usage);
    if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0)
        return cli_version();
    for (size_t i = 0; i < n; i++) {
        if (strcmp(argv[1], subs[i].name) != 0)
            continue;
        snprintf(sub_name, sizeof sub_name, "%s %s", group, subs[i].name);
        cli_sub = sub_name;
        cli_getopt_reset();
        return subs[i].run(argc - 1, argv + 1);
    }
    if (argv[1][0] == '-')
        return cli_usage("unknown option '%s'", argv[1]);
    const char *names[16], *near;
    size_t k = 0;
    for (size_t i = 0; i < n && k < 16; i++)
        names[k++] = subs[i].name;
    if ((near = cli_closest(argv[1], names, k)))
        return cli_usage("unknown subcommand '%s'; did you mean '%s'?",
                         argv[1], near);
    return cli_usage("unknown subcommand '%s'", argv[1]);
}

/* ---- arguments ---- */

static int parse_timeout(const char *text, double *out)
{
    return cli_parse_seconds(text, "--timeout", out);
}

/* BYTES with an optional K, M, G (powers of 1024) suffix. */
static int parse_bytes(const char *text, const char *what, size_t *out)
{
    char *end;
    unsigned long long v;
    unsigned shift = 0;

    text = cli_arg(text);
    errno = 0;
    v = strtoull(text, &end, 10);
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift)
        end++;
    if (*end == 'i' && shift && end[1] == 'B')
        end += 2;
    if (!*text || *text == '-' || *end || errno || (v << shift) >> shift != v)
        return cli_usage("%s needs a size in bytes (e.g. 65536, 64K, 1M), "
                         "not '%s'", what, text);
    *out = (size_t)(v << shift);
    return 0;
}

static int parse_mode(const char *text, unsigned *mode)
{
    char *end;
    unsigned long v = strtoul(text, &end, 8);

    if (!*text || *end || v > 0777)
        return cli_usage("--mode needs octal permission bits like 600, not "
                         "'%s'", text);
    *mode = (unsigned)v;
    return 0;
}

/* The NAME operand at argv[optind] and nothing after it unless `more`. */
static const char *one_name(int argc, char **argv, bool more)
{
    if (optind >= argc) {
        cli_usage("missing NAME");
        return NULL;
    }
    if (!more && optind + 1 < argc) {
        cli_usage("too many arguments");
        return NULL;
    }
    return cli_name(argv[optind]);
}

/* Options of every create: --temp, --mode.  Returns 1 if ch was one. */
static int create_option(int ch, sharr_create_opts *o, int *rc)
{
    if (ch == 'T') {
        o->flags |= SHARR_CREATE_TEMP;
        o->owner = getppid(); /* the shell or script that ran sharr */
        return 1;
    }
    if (ch == 'm') {
        *rc = parse_mode(optarg, &o->mode);
        return 1;
    }
    return 0;
}

#define CREATE_LONGOPTS {"temp", no_argument, NULL, 'T'}, \
                        {"mode", required_argument, NULL, 'm'}

/* Option tables: a create's, a wait's, and none but --help. */
static const struct option create_lo[] = {
    {"temp", no_argument, NULL, 'T'}, {"mode", required_argument, NULL, 'm'},
    {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'},
    {0}};
static const struct option timeout_lo[] = {
    {"timeout", required_argument, NULL, 't'},
    {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'},
    {0}};
static const struct option plain_lo[] = {
    {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'},
    {0}};

#define CREATE_HELP \
    "      --temp        remove it when the process that ran sharr (your\n" \
    "                    shell or script) exits, even if killed\n" \
    "  -m, --mode OCTAL  permission bits (default 600, whatever the umask)\n"

/* Parse the options of a subcommand: `opts` (getopt string without the
 * ':' and h/V), `handle` deals with the others.  @return -1 to go on, or
 * an exit status. */
static int options(int argc, char **argv, const char *shortopts,
                   const struct option *lo, const char *usage,
                   int (*handle)(int ch, void *ctx), void *ctx)
{
    char spec[64];
    int ch, rc;

    snprintf(spec, sizeof spec, ":%shV", shortopts);
    while ((ch = getopt_long(argc, argv, spec, lo, NULL)) != -1) {
        if (ch == 'h')
            return cli_help(usage);
        if (ch == 'V')
            return cli_version();
        if (ch == '?' || ch == ':')
            return cli_bad_option(ch, argv);
        if ((rc = handle(ch, ctx)) != 0)
            return rc;
    }
    return -1;
}

/* ---- queue ---- */

struct qargs {
    size_t capacity, max_msg, n;
    double timeout;
    sharr_create_opts create;
    bool zero, all;
    int rc;
};

static int q_option(int ch, void *ctx)
{
    struct qargs *a = ctx;
    int rc = 0;

    if (create_option(ch, &a->create, &rc))
        return rc;
    switch (ch) {
    case 'c': return parse_bytes(optarg, "--capacity", &a->capacity);
    case 'M': return parse_bytes(optarg, "--max-msg", &a->max_msg);
    case 't': return parse_timeout(optarg, &a->timeout);
    case 'n': return cli_parse_count(optarg, "-n", 1, &a->n);
    case 'z': a->zero = true; return 0;
    case 'a': a->all = true; return 0;
    default: return cli_usage("unexpected option");
    }
}

static const char qcreate_usage[] =
    "Usage: sharr queue create NAME [--capacity BYTES] [--max-msg BYTES]\n"
    "                          [--temp] [--mode OCTAL]\n\n"
    "Create the queue NAME (/dev/shm/sharr.NAME): a FIFO of messages that\n"
    "any process can put to and get from by name (sharr queue put/get, or\n"
    "sharr_queue_put/get in C).  A message of N bytes takes 8 + N rounded up\n"
    "to 8 of the capacity.\n\n"
    "  -c, --capacity BYTES  bytes of messages it holds (default 1M); K, M,\n"
    "                        G suffixes (1024s)\n"
    "  -M, --max-msg BYTES   largest message (default 64K, or half a smaller\n"
    "                        capacity)\n"
    CREATE_HELP
    "  -h, --help            show this help\n";

static int q_create(int argc, char **argv)
{
    static const struct option lo[] = {
        {"capacity", required_argument, NULL, 'c'},
        {"max-msg", required_argument, NULL, 'M'}, CREATE_LONGOPTS,
        COMMON_LONGOPTS, {0}};
    struct qargs a = {0};
    sharr_queue *q;
    const char *name;
    int rc, err;

    if ((rc = options(argc, argv, "c:M:m:", lo, qcreate_usage, q_option,
                      &a)) >= 0)
        return rc;
    if (!(name = one_name(argc, argv, false)))
        return EXIT_USAGE;
    if ((err = sharr_queue_create(name, a.capacity, a.max_msg, &a.create,
                                  &q)) < 0)
        return cli_fail(err);
    sharr_queue_close(q);
    return EXIT_OK;
}

static const char qput_usage[] =
    "Usage: sharr queue put NAME [MSG...] [--timeout S] [-z]\n\n"
    "Put each MSG on the queue NAME, in order; with no MSG, each line of\n"
    "standard input is a message (without its newline).  Waits while the\n"
    "queue is full.\n\n"
    "  -t, --timeout S  wait at most S seconds for room for each message\n"
    "                   (default: for ever; 0: do not wait)\n"
    "  -z, --zero       standard input holds messages ended by NUL bytes\n"
    "                   instead of lines\n"
    "  -h, --help       show this help\n\n"
    "Exit status: 0 all put, 1 failure (full until the timeout, closed,\n"
    "a message longer than the queue's max-msg), 2 bad usage.\n";

static int put_one(sharr_queue *q, const char *msg, size_t len, double t)
{
    int err = sharr_queue_put(q, msg, len, t);
    return err < 0 ? cli_fail(err) : 0;
}

/* Send each record of standard input (lines, or NUL-ended with zero) to
 * the queue q or the pipe end p; one longer than their max-msg, or a read
 * error, stops there (what came before it was sent). */
static int send_stdin(sharr_queue *q, sharr_pipe *p, bool zero,
                      double timeout)
{
    size_t cap = 0, n, count = 0,
           max = q ? sharr_queue_max_msg(q) : sharr_pipe_max_msg(p);
    char *line = NULL;
    int rc = 0, got;

    while ((got = cli_read_record(stdin, zero ? '\0' : '\n', max, &line,
                                  &cap, &n)) > 0) {
        int err = q ? sharr_queue_put(q, line, n, timeout)
                    : sharr_pipe_send(p, line, n, timeout);
        if (err < 0) {
            rc = cli_fail(err);
            break;
        }
        count++;
    }
    if (got == -2)
        rc = cli_error("message %zu of standard input is longer than the "
                       "%s's max-msg (%zu bytes): neither it nor any after "
                       "it was sent", count + 1, q ? "queue" : "pipe", max);
    else if (got == -1)
        rc = cli_error("standard input: %s", strerror(errno));
    free(line);
    return rc;
}

static int q_put(int argc, char **argv)
{
    static const struct option lo[] = {
        {"timeout", required_argument, NULL, 't'},
        {"zero", no_argument, NULL, 'z'}, COMMON_LONGOPTS, {0}};
    struct qargs a = {.timeout = INFINITY};
    sharr_queue *q;
    const char *name;
    int rc, err;

    if ((rc = options(argc, argv, "t:z", lo, qput_usage, q_option, &a)) >= 0)
        return rc;
    if (!(name = one_name(argc, argv, true)))
        return EXIT_USAGE;
    if ((err = sharr_queue_open(name, 0, &q)) < 0)
        return cli_fail(err);
    rc = 0;
    if (optind + 1 == argc)
        rc = send_stdin(q, NULL, a.zero, a.timeout);
    for (int i = optind + 1; rc == 0 && i < argc; i++) {
        const char *m = cli_arg(argv[i]);
        rc = put_one(q, m, strlen(m), a.timeout);
    }
    sharr_queue_close(q);
    return rc;
}

static const char qget_usage[] =
    "Usage: sharr queue get NAME [-n N | --all] [--timeout S] [-z]\n\n"
    "Take messages from the queue NAME and print each on its own line (its\n"
    "bytes, then a newline).  Waits while the queue is empty.\n\n"
    "  -n N             take N messages (default 1)\n"
    "  -a, --all        take messages until the queue is closed (sharr\n"
    "                   queue close) and empty: a worker loop for scripts\n"
    "  -t, --timeout S  wait at most S seconds for each message (default:\n"
    "                   for ever; 0: do not wait)\n"
    "  -z, --zero       end each message with a NUL byte, not a newline\n"
    "                   (for xargs -0)\n"
    "  -h, --help       show this help\n\n"
    "Exit status: 0 got them (--all: the queue was closed and drained),\n"
    "1 failure (empty until the timeout ...), 2 bad usage, 3 the queue was\n"
    "closed and drained before N messages came (those that came are\n"
    "printed).\n";

/* Print messages from q (or the pipe end p) as `a` says. */
static int get_loop(sharr_queue *q, sharr_pipe *p, const struct qargs *a)
{
    size_t max = q ? sharr_queue_max_msg(q) : 0, len;
    char *buf = malloc(max ? max : 1);
    int err = 0;

    if (!buf)
        return cli_error("out of memory");
    for (size_t i = 0; a->all || i < a->n; i++) {
        for (;;) {
            err = q ? sharr_queue_get(q, buf, max, &len, a->timeout)
                    : sharr_pipe_recv(p, buf, max, &len, a->timeout);
            if (err != SHARR_ERANGE)
                break;
            char *bigger = realloc(buf, len); /* a pipe's first message */
            if (!bigger)
                break;
            buf = bigger;
            max = len;
        }
        if (err < 0)
            break;
        fwrite(buf, 1, len, stdout);
        putchar(a->zero ? '\0' : '\n');
        /* Flushed: a script reading the pipe acts on each one, and one
         * that could not be written is the last taken. */
        if (fflush(stdout) != 0 || ferror(stdout)) {
            int rc = cli_error("cannot write the output: %s (message %zu, "
                               "taken, is lost; no more were taken)",
                               strerror(errno), i + 1);
            clearerr(stdout); /* said once: not again by cli_run() */
            free(buf);
            return rc;
        }
    }
    free(buf);
    if (err == SHARR_ECLOSED)
        return a->all ? EXIT_OK : EXIT_END;
    return err < 0 ? cli_fail(err) : EXIT_OK;
}

static int q_get(int argc, char **argv)
{
    static const struct option lo[] = {
        {"timeout", required_argument, NULL, 't'},
        {"zero", no_argument, NULL, 'z'}, {"all", no_argument, NULL, 'a'},
        COMMON_LONGOPTS, {0}};
    struct qargs a = {.timeout = INFINITY, .n = 1};
    sharr_queue *q;
    const char *name;
    int rc, err;

    if ((rc = options(argc, argv, "t:zan:", lo, qget_usage, q_option,
                      &a)) >= 0)
        return rc;
    if (!(name = one_name(argc, argv, false)))
        return EXIT_USAGE;
    if ((err = sharr_queue_open(name, 0, &q)) < 0)
        return cli_fail(err);
    rc = get_loop(q, NULL, &a);
    sharr_queue_close(q);
    return rc;
}

static const char qclose_usage[] =
    "Usage: sharr queue close NAME\n\n"
    "Close the queue NAME: puts fail from now on, and consumers get what is\n"
    "still queued, then the end of the stream (sharr queue get exits 3,\n"
    "--all exits 0).  It cannot be reopened; remove it with sharr rm.\n\n"
    "  -h, --help   show this help\n";

/* Open `name` as a queue and run fn on it (close, join ...). */
static int with_queue(int argc, char **argv, const char *usage,
                      const char *shortopts, const struct option *lo,
                      struct qargs *a, int (*fn)(sharr_queue *, struct qargs *),
                      bool more)
{
    sharr_queue *q;
    const char *name;
    int rc, err;

    if ((rc = options(argc, argv, shortopts, lo, usage, q_option, a)) >= 0)
        return rc;
    if (!(name = one_name(argc, argv, more)))
        return EXIT_USAGE;
    if ((err = sharr_queue_open(name, 0, &q)) < 0)
        return cli_fail(err);
    err = fn(q, a);
    sharr_queue_close(q);
    return err < 0 ? cli_fail(err) : err;
}

static int do_close(sharr_queue *q, struct qargs *a)
{
    (void)a;
    return sharr_queue_shutdown(q);
}

static int q_close(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_LONGOPTS, {0}};
    struct qargs a = {0};
    return with_queue(argc, argv, qclose_usage, "", lo, &a, do_close, false);
}

static const char qdone_usage[] =
    "Usage: sharr queue task-done NAME [N]\n\n"
    "Mark N (default 1) messages taken from the queue NAME as processed, so\n"
    "that sharr queue join returns once every message put is (Python's\n"
    "JoinableQueue.task_done).\n\n"
    "  -h, --help   show this help\n";

static int q_done(int argc, char **argv)
{
    static const struct option lo[] = {COMMON_LONGOPTS, {0}};
    struct qargs a = {.n = 1};
    const char *name;
    sharr_queue *q;
    int rc, err;

    if ((rc = options(argc, argv, "", lo, qdone_usage, q_option, &a)) >= 0)
        return rc;
    if (!(name = one_name(argc, argv, true)))
        return EXIT_USAGE;
    if (optind + 2 < argc)
        return cli_usage("too many arguments");
    if (optind + 1 < argc &&
        (rc = cli_parse_count(argv[optind + 1], "N", 1, &a.n)) != 0)
        return rc;
    if ((err = sharr_queue_open(name, 0, &q)) < 0)
        return cli_fail(err);
    err = sharr_queue_task_done(q, a.n);
    sharr_queue_close(q);
    return err < 0 ? cli_fail(err) : EXIT_OK;
}

static const char qjoin_usage[] =
    "Usage: sharr queue join NAME [--timeout S]\n\n"
    "Wait until every message put on the queue NAME has been marked done\n"
    "(sharr queue task-done; Python's JoinableQueue.join).\n\n"
    "  -t, --timeout S  wait at most S seconds (default: for ever)\n"
    "  -h, --help       show this help\n\n"
    "Exit status: 0 all done, 1 failure or timeout, 2 bad usage.\n";

static int do_join(sharr_queue *q, struct qargs *a)
{
    return sharr_queue_join(q, a->timeout);
}

static int q_join(int argc, char **argv)
{
    static const struct option lo[] = {
        {"timeout", required_argument, NULL, 't'}, COMMON_LONGOPTS, {0}};
    struct qargs a = {.timeout = INFINITY};
    return with_queue(argc, argv, qjoin_usage, "t:", lo, &a, do_join, false);
}

static const char queue_usage[] =
    "Usage: sharr queue SUBCOMMAND NAME [ARGS...]\n"
    "       sharr queue SUBCOMMAND --help\n\n"
    "Named message queues that any process attaches to by name: a shell\n"
    "script hands work to many workers through one.\n\n"
    "Subcommands:\n"
    "  create     create a queue (--capacity, --max-msg, --temp)\n"
    "  put        put messages (arguments, or stdin lines)\n"
    "  get        take and print messages (-n N, --all, --timeout)\n"
    "  close      close it: consumers drain it, then see the end\n"
    "  task-done  mark messages processed (JoinableQueue)\n"
    "  join       wait until every message is marked done\n\n"
    "Options (sharr queue SUBCOMMAND --help says which each takes):\n"
    "  -c, --capacity BYTES  create: bytes of messages it holds (default 1M)\n"
    "  -M, --max-msg BYTES   create: the largest message (default 64K)\n"
    "      --temp            create: remove it when your shell exits\n"
    "  -m, --mode OCTAL      create: permission bits (default 600)\n"
    "  -t, --timeout S       put, get, join: wait at most S seconds\n"
    "  -a, --all             get: until the queue is closed and empty\n"
    "  -z, --zero            put, get: messages end with NUL, not newline\n\n"
    "Exit status of get: 3 when the queue was closed and drained first.\n"
    "sharr ls and sharr info show a queue's depth; sharr rm removes it.\n";

int cmd_queue(int argc, char **argv)
{
    static const struct sub subs[] = {
        {"create", q_create, NULL}, {"put", q_put, NULL},
        {"get", q_get, NULL}, {"close", q_close, NULL},
        {"task-done", q_done, NULL}, {"join", q_join, NULL}};
    return dispatch(queue_usage, subs, sizeof subs / sizeof *subs, argc,
                    argv);
}

/* ---- pipe ---- */

static const char pcreate_usage[] =
    "Usage: sharr pipe create NAME [--capacity BYTES] [--max-msg BYTES]\n"
    "                         [--temp] [--mode OCTAL]\n\n"
    "Create the duplex pipe NAME: what end 0 sends, end 1 receives, and the\n"
    "other way round (two queues under one name, each of --capacity).\n\n"
    "  -c, --capacity BYTES  per direction (default 1M)\n"
    "  -M, --max-msg BYTES   largest message (default 64K)\n"
    CREATE_HELP
    "  -h, --help            show this help\n";

static int p_create(int argc, char **argv)
{
    static const struct option lo[] = {
        {"capacity", required_argument, NULL, 'c'},
        {"max-msg", required_argument, NULL, 'M'}, CREATE_LONGOPTS,
        COMMON_LONGOPTS, {0}};
    struct qargs a = {0};
    sharr_pipe *p;
    const char *name;
    int rc, err;

    if ((rc = options(argc, argv, "c:M:m:", lo, pcreate_usage, q_option,
                      &a)) >= 0)
        return rc;
    if (!(name = one_name(argc, argv, false)))
        return EXIT_USAGE;
    if ((err = sharr_pipe_create(name, a.capacity, a.max_msg, &a.create,
                                 &p)) < 0)
        return cli_fail(err);
    sharr_pipe_close(p);
    return EXIT_OK;
}

/* NAME END from the operands; opens the pipe end. */
static int open_end(int argc, char **argv, sharr_pipe **p)
{
    const char *name;
    int err;

    if (optind + 2 > argc)
        return cli_usage("missing NAME or END (0 or 1)");
    if (!(name = cli_name(argv[optind])))
        return EXIT_USAGE;
    const char *end = cli_arg(argv[optind + 1]);
    if (strcmp(end, "0") != 0 && strcmp(end, "1") != 0)
        return cli_usage("END is 0 or 1, not '%s'", end);
    if ((err = sharr_pipe_open(name, end[0] - '0', 0, p)) < 0)
        return cli_fail(err);
    return 0;
}

static const char psend_usage[] =
    "Usage: sharr pipe send NAME END [MSG...] [--timeout S] [--close]\n\n"
    "Send each MSG (or each line of standard input) from end END (0 or 1)\n"
    "of the pipe NAME to the other end.\n\n"
    "  -t, --timeout S  wait at most S seconds for room (default: for ever)\n"
    "      --close      then close this end's sending side: the other end\n"
    "                   receives what is queued, then the end of the stream\n"
    "  -h, --help       show this help\n";

static int p_send(int argc, char **argv)
{
    static const struct option lo[] = {
        {"timeout", required_argument, NULL, 't'},
        {"close", no_argument, NULL, 'a'}, COMMON_LONGOPTS, {0}};
    struct qargs a = {.timeout = INFINITY};
    sharr_pipe *p;
    int rc, err = 0;

    if ((rc = options(argc, argv, "t:", lo, psend_usage, q_option, &a)) >= 0)
        return rc;
    if ((rc = open_end(argc, argv, &p)) != 0)
        return rc;
    rc = optind + 2 == argc ? send_stdin(NULL, p, false, a.timeout) : 0;
    for (int i = optind + 2; rc == 0 && err == 0 && i < argc; i++) {
        const char *m = cli_arg(argv[i]);
        err = sharr_pipe_send(p, m, strlen(m), a.timeout);
    }
    if (rc == 0 && err == 0 && a.all)
        err = sharr_pipe_shutdown(p);
    if (rc == 0)
        rc = err < 0 ? cli_fail(err) : EXIT_OK;
    sharr_pipe_close(p);
    return rc;
}

static const char precv_usage[] =
    "Usage: sharr pipe recv NAME END [-n N | --all] [--timeout S]\n\n"
    "Receive messages at end END (0 or 1) of the pipe NAME, one per line.\n\n"
    "  -n N             receive N messages (default 1)\n"
    "  -a, --all        until the other end closes and everything is read\n"
    "  -t, --timeout S  wait at most S seconds for each (default: for ever)\n"
    "  -z, --zero       end each message with a NUL byte\n"
    "  -h, --help       show this help\n\n"
    "Exit status as for sharr queue get (3: the other end closed first).\n";

static int p_recv(int argc, char **argv)
{
    static const struct option lo[] = {
        {"timeout", required_argument, NULL, 't'},
        {"zero", no_argument, NULL, 'z'}, {"all", no_argument, NULL, 'a'},
        COMMON_LONGOPTS, {0}};
    struct qargs a = {.timeout = INFINITY, .n = 1};
    sharr_pipe *p;
    int rc;

    if ((rc = options(argc, argv, "t:zan:", lo, precv_usage, q_option,
                      &a)) >= 0)
        return rc;
    if ((rc = open_end(argc, argv, &p)) != 0)
        return rc;
    rc = get_loop(NULL, p, &a);
    sharr_pipe_close(p);
    return rc;
}

static const char pipe_usage[] =
    "Usage: sharr pipe SUBCOMMAND NAME [ARGS...]\n\n"
    "Named duplex pipes between two processes (Python's Pipe, by name).\n\n"
    "Subcommands:\n"
    "  create   create a pipe\n"
    "  send     send messages from one end (NAME END MSG...)\n"
    "  recv     receive and print messages at one end (NAME END)\n\n"
    "Options (sharr pipe SUBCOMMAND --help says which each takes):\n"
    "  -c, --capacity BYTES  create: bytes per direction (default 1M)\n"
    "  -M, --max-msg BYTES   create: the largest message (default 64K)\n"
    "      --temp            create: remove it when your shell exits\n"
    "  -m, --mode OCTAL      create: permission bits (default 600)\n"
    "  -t, --timeout S       send, recv: wait at most S seconds\n"
    "      --close           send: then close this end's sending side\n"
    "  -a, --all             recv: until the other end closes\n"
    "  -z, --zero            recv: messages end with NUL, not newline\n";

int cmd_pipe(int argc, char **argv)
{
    static const struct sub subs[] = {
        {"create", p_create, NULL}, {"send", p_send, NULL},
        {"recv", p_recv, NULL}};
    return dispatch(pipe_usage, subs, sizeof subs / sizeof *subs, argc, argv);
}

/* ---- lock: create, and run a command holding it ---- */

struct largs {
    double timeout;
    bool recursive;
    sharr_create_opts create;
};

static int l_option(int ch, void *ctx)
{
    struct largs *a = ctx;
    int rc = 0;

    if (create_option(ch, &a->create, &rc))
        return rc;
    if (ch == 't')
        return parse_timeout(optarg, &a->timeout);
    if (ch == 'r') {
        a->recursive = true;
        return 0;
    }
    return cli_usage("unexpected option");
}

static const char lock_usage[] =
    "Usage: sharr lock NAME [--timeout S] -- COMMAND [ARGS...]\n"
    "       sharr lock create NAME [--recursive] [--temp] [--mode OCTAL]\n\n"
    "Run COMMAND while holding the lock of the array NAME, or the named lock\n"
    "NAME (a lock, rlock or condition), as flock(1) does for files: shell\n"
    "scripts and Python programs take the same lock that C code takes with\n"
    "sharr_array_lock() or sharr_lock_acquire().  The `--` is required.\n"
    "If the previous holder died holding the lock, a note says so and\n"
    "COMMAND runs all the same.  While COMMAND runs, sharr ignores Ctrl-C\n"
    "and Ctrl-\\ (COMMAND gets them) and passes SIGTERM and SIGHUP on; if\n"
    "sharr itself is killed (SIGKILL), COMMAND is killed with it, a moment\n"
    "after the lock is freed (not COMMAND's own children, nor a set-user-ID\n"
    "COMMAND).\n\n"
    "  -t, --timeout S  wait at most S seconds for the lock (default: for\n"
    "                   ever; 0: do not wait)\n\n"
    "sharr lock create NAME makes a named lock:\n"
    "  -r, --recursive  an rlock, which its holder may take again\n"
    CREATE_HELP
    "  -h, --help       show this help\n\n"
    "Exit status: COMMAND's (128 + N if a signal N killed it), 1 the lock\n"
    "was not taken (timeout, no such lock or array), 2 bad usage, 126/127\n"
    "COMMAND could not be run.\n";

static const char lcreate_usage[] =
    "Usage: sharr lock create NAME [--recursive] [--temp] [--mode OCTAL]\n\n"
    "Create the named lock NAME, free (Python's Lock, by name; with\n"
    "--recursive an RLock, which its holder may take again).  Run a command\n"
    "holding it with sharr lock NAME -- COMMAND.\n\n"
    "  -r, --recursive   an rlock\n"
    CREATE_HELP
    "  -h, --help        show this help\n";

static int l_create(int argc, char **argv)
{
    static const struct option lo[] = {
        {"recursive", no_argument, NULL, 'r'}, CREATE_LONGOPTS,
        COMMON_LONGOPTS, {0}};
    struct largs a = {0};
    sharr_lock *l;
    const char *name;
    int rc, err;

    if ((rc = options(argc, argv, "rm:", lo, lcreate_usage, l_option,
                      &a)) >= 0)
        return rc;
    if (!(name = one_name(argc, argv, false)))
        return EXIT_USAGE;
    if ((err = sharr_lock_create(name, a.recursive, &a.create, &l)) < 0)
        return cli_fail(err);
    sharr_lock_close(l);
    return EXIT_OK;
}

/* What `sharr lock` holds: an array's lock, a lock, or a condition's; or
 * nothing when an ancestor holds it for us (inherited). */
struct held {
    sharr_array *array;
    sharr_lock *lock;
    sharr_cond *cond;
    bool inherited;
};

/* `in`: what sharr_stat() said of `name`. */
static int take_lock(const char *name, const sharr_info *in, double timeout,
                     struct held *h)
{
    int err;

    memset(h, 0, sizeof *h);
    if (in->kind == SHARR_KIND_ARRAY) {
        if ((err = sharr_array_open(name, 0, &h->array)) < 0)
            return err;
        /* `sharr lock x -- sharr lock x -- ...`: the outer one holds it. */
        if ((h->inherited = cli_lock_inherited(
                 name, sharr_array_lock_holder(h->array, NULL))))
            return 0;
        return sharr_array_lock_timed(h->array, timeout);
    }
    if ((h->inherited = cli_lock_inherited(name, in->obj.holder)))
        return 0;
    if (in->kind == SHARR_KIND_CONDITION) {
        if ((err = sharr_cond_open(name, 0, &h->cond)) < 0)
            return err;
        return sharr_cond_acquire(h->cond, timeout);
    }
    if ((err = sharr_lock_open(name, 0, &h->lock)) < 0)
        return err;
    return sharr_lock_acquire(h->lock, timeout);
}

static void drop_lock(struct held *h)
{
    sharr_array_close(h->array); /* each releases what it holds */
    sharr_lock_close(h->lock);
    sharr_cond_close(h->cond);
}

static volatile sig_atomic_t child_pid;

static void pass_on(int sig)
{
    if (child_pid > 0)
        kill((pid_t)child_pid, sig);
}

/* Run argv[0..] and wait for it; its exit status the shell's way. */
static int run_command(char **cmd)
{
    struct sigaction ign = {.sa_handler = SIG_IGN}, fwd = {.sa_handler =
                                                           pass_on}, old[4];
    int st, sigs[4] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP};
    pid_t pid, self = getpid();

    fflush(NULL);
    if ((pid = fork()) < 0)
        return cli_error("fork: %s", strerror(errno));
    if (pid == 0) {
        /* The lock is ours only while we live: killed (SIGKILL), we take
         * the command with us rather than leave it running unlocked. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != self)
            _exit(128 + SIGKILL);
        execvp(cmd[0], cmd);
        int e = errno;
        fprintf(stderr, "sharr: lock: cannot run '%s': %s\n", cmd[0],
                strerror(e));
        _exit(e == ENOENT ? 127 : 126);
    }
    child_pid = pid;
    for (int i = 0; i < 4; i++)
        sigaction(sigs[i], i < 2 ? &ign : &fwd, &old[i]);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    for (int i = 0; i < 4; i++)
        sigaction(sigs[i], &old[i], NULL);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The index of the first "--" in argv, or -1. */
static int dashdash(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0)
            return i;
    return -1;
}

static int l_run(int argc, char **argv)
{
    static const struct option lo[] = {
        {"timeout", required_argument, NULL, 't'}, COMMON_LONGOPTS, {0}};
    struct largs a = {.timeout = INFINITY};
    int dd = dashdash(argc, argv), rc, err;
    const char *name;
    struct held h;

    /* Options only before the "--": what follows is COMMAND's. */
    if ((rc = options(dd < 0 ? argc : dd, argv, "t:", lo, lock_usage,
                      l_option, &a)) >= 0)
        return rc;
    if (optind >= (dd < 0 ? argc : dd))
        return cli_usage("missing NAME");
    if (!(name = cli_name(argv[optind])))
        return EXIT_USAGE;
    if (dd < 0)
        return cli_usage("missing -- COMMAND (sharr lock NAME -- "
                         "COMMAND...)");
    if (optind + 1 < dd)
        return cli_usage("too many arguments before --");
    if (dd + 1 >= argc)
        return cli_usage("missing COMMAND after --");
    sharr_info in;
    if ((err = sharr_stat(name, &in)) < 0)
        return cli_fail(err);
    if (in.kind != SHARR_KIND_ARRAY && in.kind != SHARR_KIND_LOCK &&
        in.kind != SHARR_KIND_RLOCK && in.kind != SHARR_KIND_CONDITION)
        return cli_error("'%s' is %s %s: sharr lock takes the lock of an "
                         "array, a lock, an rlock or a condition", name,
                         strchr("aeiou", sharr_kind_name(in.kind)[0])
                             ? "an" : "a", sharr_kind_name(in.kind));
    err = take_lock(name, &in, a.timeout, &h);
    if (err == SHARR_EOWNERDEAD) {
        fprintf(stderr, "sharr: lock: note: %s\n", sharr_errmsg());
    } else if (err < 0) {
        rc = cli_fail(err);
        drop_lock(&h);
        return rc;
    }
    /* The sharr commands COMMAND runs must not wait for the lock we hold
     * (cli_lock_inherited). */
    if (!h.inherited && (rc = cli_lock_export(name)) != 0) {
        drop_lock(&h);
        return rc;
    }
    rc = run_command(argv + dd + 1);
    drop_lock(&h);
    return rc;
}

int cmd_lock(int argc, char **argv)
{
    /* "create" is a subcommand unless it is the NAME of `lock NAME --`. */
    if (argc >= 2 && strcmp(argv[1], "create") == 0 &&
        dashdash(argc, argv) < 0) {
        cli_sub = "lock create";
        cli_getopt_reset();
        return l_create(argc - 1, argv + 1);
    }
    return l_run(argc, argv);
}

/* ---- sem, event, cond, barrier ---- */

struct sargs {
    double timeout;
    size_t bound, n;
    bool all;
    sharr_create_opts create;
};

static int s_option(int ch, void *ctx)
{
    struct sargs *a = ctx;
    int rc = 0;

    if (create_option(ch, &a->create, &rc))
        return rc;
    switch (ch) {
    case 't': return parse_timeout(optarg, &a->timeout);
    case 'b': return cli_parse_count(optarg, "--bound", 1, &a->bound);
    case 'n': return cli_parse_count(optarg, "-n", 1, &a->n);
    case 'a': a->all = true; return 0;
    default: return cli_usage("unexpected option");
    }
}

/* Parse the options, then NAME and `extra` more operands (into ops). */
static int operands(int argc, char **argv, const char *shortopts,
                    const struct option *lo, const char *usage,
                    struct sargs *a, int extra, const char **name,
                    const char **ops)
{
    int rc = options(argc, argv, shortopts, lo, usage, s_option, a);

    if (rc >= 0)
        return rc;
    if (optind >= argc)
        return cli_usage("missing NAME");
    if (argc - optind - 1 < extra)
        return cli_usage("missing %s", ops[0]);
    if (argc - optind - 1 > extra)
        return cli_usage("too many arguments");
    if (!(*name = cli_name(argv[optind])))
        return EXIT_USAGE;
    for (int i = 0; i < extra; i++)
        ops[i] = cli_arg(argv[optind + 1 + i]);
    return -1;
}

static const char screate_usage[] =
    "Usage: sharr sem create NAME VALUE [--bound N] [--temp] [--mode OCTAL]\n"
    "\nCreate the semaphore NAME with VALUE (0 .. 2^31-1).  With --bound it\n"
    "is a BoundedSemaphore: a release past N is an error.\n\n"
    "  -b, --bound N  the largest value (>= VALUE)\n"
    CREATE_HELP
    "  -h, --help     show this help\n";

static int s_create(int argc, char **argv)
{
    static const struct option lo[] = {
        {"bound", required_argument, NULL, 'b'}, CREATE_LONGOPTS,
        COMMON_LONGOPTS, {0}};
    struct sargs a = {0};
    const char *name, *ops[1] = {"VALUE"};
    size_t value;
    sharr_sem *s;
    int rc, err;

    if ((rc = operands(argc, argv, "b:m:", lo, screate_usage, &a, 1, &name,
                       ops)) >= 0)
        return rc;
    if ((rc = cli_parse_count(ops[0], "VALUE", 0, &value)) != 0)
        return rc;
    if (value > INT32_MAX || a.bound > INT32_MAX)
        return cli_usage("VALUE and --bound are at most 2147483647");
    if ((err = sharr_sem_create(name, (unsigned)value, (unsigned)a.bound,
                                &a.create, &s)) < 0)
        return cli_fail(err);
    sharr_sem_close(s);
    return EXIT_OK;
}

static const char sacquire_usage[] =
    "Usage: sharr sem acquire NAME [--timeout S]\n\n"
    "Decrement the semaphore NAME, waiting while it is 0.\n\n"
    "  -t, --timeout S  wait at most S seconds (default: for ever)\n"
    "  -h, --help       show this help\n\n"
    "Exit status: 0 acquired, 1 failure or timeout, 2 bad usage.\n";

static const char srelease_usage[] =
    "Usage: sharr sem release NAME [-n N]\n\n"
    "Increment the semaphore NAME by N (default 1), waking waiters.  Past a\n"
    "BoundedSemaphore's bound it fails and changes nothing.\n\n"
    "  -n N         how much (default 1)\n"
    "  -h, --help   show this help\n";

static int s_acquire_release(int argc, char **argv, bool acquire)
{
    const struct option *lo = acquire ? timeout_lo : plain_lo;
    struct sargs a = {.timeout = INFINITY, .n = 1};
    const char *name;
    sharr_sem *s;
    int rc, err;

    if ((rc = operands(argc, argv, acquire ? "t:" : "n:", lo,
                       acquire ? sacquire_usage : srelease_usage, &a, 0,
                       &name, NULL)) >= 0)
        return rc;
    if ((err = sharr_sem_open(name, 0, &s)) < 0)
        return cli_fail(err);
    if (a.n > INT32_MAX)
        err = sharr_sem_release(s, 0);
    else
        err = acquire ? sharr_sem_acquire(s, a.timeout)
                      : sharr_sem_release(s, (unsigned)a.n);
    sharr_sem_close(s);
    return err < 0 ? cli_fail(err) : EXIT_OK;
}

static int s_acquire(int argc, char **argv)
{
    return s_acquire_release(argc, argv, true);
}

static int s_release(int argc, char **argv)
{
    return s_acquire_release(argc, argv, false);
}

static const char sem_usage[] =
    "Usage: sharr sem SUBCOMMAND NAME [ARGS...]\n\n"
    "Named semaphores (Python's Semaphore and BoundedSemaphore, by name).\n\n"
    "Subcommands:\n"
    "  create    create one: NAME VALUE [--bound N]\n"
    "  acquire   decrement, waiting while 0 [--timeout S]\n"
    "  release   increment [-n N]\n\n"
    "Options (sharr sem SUBCOMMAND --help says which each takes):\n"
    "  -b, --bound N     create: a BoundedSemaphore of at most N\n"
    "      --temp        create: remove it when your shell exits\n"
    "  -m, --mode OCTAL  create: permission bits (default 600)\n"
    "  -t, --timeout S   acquire: wait at most S seconds\n";

int cmd_sem(int argc, char **argv)
{
    static const struct sub subs[] = {
        {"create", s_create, NULL}, {"acquire", s_acquire, NULL},
        {"release", s_release, NULL}};
    return dispatch(sem_usage, subs, sizeof subs / sizeof *subs, argc, argv);
}

/* event */

static const char ecreate_usage[] =
    "Usage: sharr event create NAME [--temp] [--mode OCTAL]\n\n"
    "Create the event NAME, clear (Python's Event, by name).\n\n"
    CREATE_HELP
    "  -h, --help        show this help\n";

static const char eset_usage[] =
    "Usage: sharr event set NAME\n\n"
    "Set the event NAME, waking every waiter (sharr event wait).\n\n"
    "  -h, --help   show this help\n";

static const char eclear_usage[] =
    "Usage: sharr event clear NAME\n\n"
    "Clear the event NAME: waits wait again until it is set.\n\n"
    "  -h, --help   show this help\n";

static const char ewait_usage[] =
    "Usage: sharr event wait NAME [--timeout S]\n\n"
    "Wait until the event NAME is set.\n\n"
    "  -t, --timeout S  wait at most S seconds (default: for ever)\n"
    "  -h, --help       show this help\n\n"
    "Exit status: 0 set, 1 failure or timeout, 2 bad usage.\n";

static int e_do(int argc, char **argv, int what)
{
    static const struct option *const los[] = {create_lo, plain_lo, plain_lo,
                                               timeout_lo};
    static const char *const usages[] = {ecreate_usage, eset_usage,
                                         eclear_usage, ewait_usage};
    static const char *const shorts[] = {"m:", "", "", "t:"};
    struct sargs a = {.timeout = INFINITY};
    const char *name;
    sharr_event *e;
    int rc, err;

    if ((rc = operands(argc, argv, shorts[what], los[what], usages[what], &a,
                       0, &name, NULL)) >= 0)
        return rc;
    err = what == 0 ? sharr_event_create(name, &a.create, &e)
                    : sharr_event_open(name, 0, &e);
    if (err < 0)
        return cli_fail(err);
    if (what == 1)
        sharr_event_set(e);
    else if (what == 2)
        sharr_event_clear(e);
    else if (what == 3)
        err = sharr_event_wait(e, a.timeout);
    sharr_event_close(e);
    return err < 0 ? cli_fail(err) : EXIT_OK;
}

static int e_create(int argc, char **argv) { return e_do(argc, argv, 0); }
static int e_set(int argc, char **argv) { return e_do(argc, argv, 1); }
static int e_clear(int argc, char **argv) { return e_do(argc, argv, 2); }
static int e_wait(int argc, char **argv) { return e_do(argc, argv, 3); }

static const char event_usage[] =
    "Usage: sharr event SUBCOMMAND NAME [ARGS...]\n\n"
    "Named events (Python's Event, by name).\n\n"
    "Subcommands:\n"
    "  create   create one, clear\n"
    "  set      set it and wake every waiter\n"
    "  clear    clear it\n"
    "  wait     wait until it is set [--timeout S]\n\n"
    "Options (sharr event SUBCOMMAND --help says which each takes):\n"
    "      --temp        create: remove it when your shell exits\n"
    "  -m, --mode OCTAL  create: permission bits (default 600)\n"
    "  -t, --timeout S   wait: wait at most S seconds\n";

int cmd_event(int argc, char **argv)
{
    static const struct sub subs[] = {
        {"create", e_create, NULL}, {"set", e_set, NULL},
        {"clear", e_clear, NULL}, {"wait", e_wait, NULL}};
    return dispatch(event_usage, subs, sizeof subs / sizeof *subs, argc,
                    argv);
}

/* cond */

static const char ccreate_usage[] =
    "Usage: sharr cond create NAME [--temp] [--mode OCTAL]\n\n"
    "Create the condition NAME (Python's Condition over its own Lock, by\n"
    "name).  sharr lock NAME -- COMMAND runs a command holding its lock.\n\n"
    CREATE_HELP
    "  -h, --help        show this help\n";

static const char cwait_usage[] =
    "Usage: sharr cond wait NAME [--timeout S]\n\n"
    "Take the condition's lock, wait for a notify (the lock is released\n"
    "meanwhile), and release it.  Refused inside 'sharr lock NAME', whose\n"
    "process holds the lock (this one could not release it).\n\n"
    "  -t, --timeout S  wait at most S seconds (default: for ever)\n"
    "  -h, --help       show this help\n\n"
    "Exit status: 0 notified, 1 failure or timeout, 2 bad usage.\n";

static const char cnotify_usage[] =
    "Usage: sharr cond notify NAME [-n N | --all]\n\n"
    "Take the condition's lock, wake N waiters (default 1) or all, and\n"
    "release it.  Refused inside 'sharr lock NAME', whose process holds\n"
    "the lock.\n\n"
    "  -n N        how many to wake\n"
    "  -a, --all   wake every waiter\n"
    "  -h, --help  show this help\n";

static int c_do(int argc, char **argv, int what)
{
    static const struct option notify_lo[] = {
        {"all", no_argument, NULL, 'a'}, COMMON_LONGOPTS, {0}};
    static const struct option *const los[] = {create_lo, timeout_lo,
                                               notify_lo};
    static const char *const usages[] = {ccreate_usage, cwait_usage,
                                         cnotify_usage};
    static const char *const shorts[] = {"m:", "t:", "n:a"};
    struct sargs a = {.timeout = INFINITY, .n = 1};
    const char *name;
    sharr_cond *c;
    int rc, err;

    if ((rc = operands(argc, argv, shorts[what], los[what], usages[what], &a,
                       0, &name, NULL)) >= 0)
        return rc;
    err = what == 0 ? sharr_cond_create(name, &a.create, &c)
                    : sharr_cond_open(name, 0, &c);
    if (err < 0)
        return cli_fail(err);
    /* Inside `sharr lock NAME`, the lock is held for us by an ancestor:
     * wait and notify need it held by this process (wait releases it),
     * and taking it would wait for ever. */
    sharr_info in;
    if (what > 0 && sharr_stat(name, &in) == 0 &&
        cli_lock_inherited(name, in.obj.holder)) {
        sharr_cond_close(c);
        return cli_error("the lock of '%s' is held for this command by "
                         "'sharr lock' (thread %d): cond %s takes the lock "
                         "itself; run it outside that 'sharr lock'", name,
                         (int)in.obj.holder, what == 1 ? "wait" : "notify");
    }
    if (what > 0 && (err = sharr_cond_acquire(c, a.timeout)) == 0) {
        if (what == 1)
            err = sharr_cond_wait(c, a.timeout);
        else
            err = a.all ? sharr_cond_notify_all(c)
                        : sharr_cond_notify(c, (unsigned)a.n);
        sharr_cond_release(c);
    }
    rc = err < 0 && err != SHARR_EOWNERDEAD ? cli_fail(err) : EXIT_OK;
    sharr_cond_close(c);
    return rc;
}

static int c_create(int argc, char **argv) { return c_do(argc, argv, 0); }
static int c_wait(int argc, char **argv) { return c_do(argc, argv, 1); }
static int c_notify(int argc, char **argv) { return c_do(argc, argv, 2); }

static const char cond_usage[] =
    "Usage: sharr cond SUBCOMMAND NAME [ARGS...]\n\n"
    "Named conditions (Python's Condition, by name).\n\n"
    "Subcommands:\n"
    "  create   create one\n"
    "  wait     wait for a notify [--timeout S]\n"
    "  notify   wake waiters [-n N | --all]\n\n"
    "Options (sharr cond SUBCOMMAND --help says which each takes):\n"
    "      --temp        create: remove it when your shell exits\n"
    "  -m, --mode OCTAL  create: permission bits (default 600)\n"
    "  -t, --timeout S   wait: wait at most S seconds\n"
    "  -a, --all         notify: wake every waiter\n"
    "sharr lock NAME -- COMMAND runs a command holding its lock.\n";

int cmd_cond(int argc, char **argv)
{
    static const struct sub subs[] = {
        {"create", c_create, NULL}, {"wait", c_wait, NULL},
        {"notify", c_notify, NULL}};
    return dispatch(cond_usage, subs, sizeof subs / sizeof *subs, argc, argv);
}

/* barrier */

static const char bcreate_usage[] =
    "Usage: sharr barrier create NAME PARTIES [--temp] [--mode OCTAL]\n\n"
    "Create the barrier NAME for PARTIES parties (1..4096): each round\n"
    "passes when that many have called sharr barrier wait.\n\n"
    CREATE_HELP
    "  -h, --help        show this help\n";

static const char bwait_usage[] =
    "Usage: sharr barrier wait NAME [--timeout S]\n\n"
    "Wait until the round of the barrier NAME fills, and print this party's\n"
    "arrival index (0 .. PARTIES-1).  A wait that times out breaks the\n"
    "barrier for every waiter, as does the death of a party.\n\n"
    "  -t, --timeout S  wait at most S seconds (default: for ever)\n"
    "  -h, --help       show this help\n\n"
    "Exit status: 0 passed, 1 broken, timed out or another failure, 2 bad\n"
    "usage.\n";

static const char babort_usage[] =
    "Usage: sharr barrier abort NAME\n\n"
    "Break the barrier NAME: its waiters, and every wait until sharr\n"
    "barrier reset, fail.\n\n"
    "  -h, --help   show this help\n";

static const char breset_usage[] =
    "Usage: sharr barrier reset NAME\n\n"
    "Make the barrier NAME whole and empty again (a round in progress\n"
    "breaks: its waiters fail; parties that died are forgotten).\n\n"
    "  -h, --help   show this help\n";

static int b_do(int argc, char **argv, int what)
{
    static const struct option *const los[] = {create_lo, timeout_lo,
                                               plain_lo, plain_lo};
    static const char *const usages[] = {bcreate_usage, bwait_usage,
                                         babort_usage, breset_usage};
    static const char *const shorts[] = {"m:", "t:", "", ""};
    struct sargs a = {.timeout = INFINITY};
    const char *name, *ops[1] = {"PARTIES"};
    size_t parties = 0;
    sharr_barrier *b;
    int rc, err;

    if ((rc = operands(argc, argv, shorts[what], los[what], usages[what], &a,
                       what == 0, &name, ops)) >= 0)
        return rc;
    if (what == 0 && (rc = cli_parse_count(ops[0], "PARTIES", 1, &parties)))
        return rc;
    err = what == 0 ? sharr_barrier_create(name, parties, &a.create, &b)
                    : sharr_barrier_open(name, 0, &b);
    if (err < 0)
        return cli_fail(err);
    if (what == 1 && (err = sharr_barrier_wait(b, a.timeout)) >= 0)
        printf("%d\n", err);
    else if (what == 2)
        err = sharr_barrier_abort(b);
    else if (what == 3)
        err = sharr_barrier_reset(b);
    rc = err < 0 ? cli_fail(err) : EXIT_OK;
    sharr_barrier_close(b);
    return rc;
}

static int b_create(int argc, char **argv) { return b_do(argc, argv, 0); }
static int b_wait(int argc, char **argv) { return b_do(argc, argv, 1); }
static int b_abort(int argc, char **argv) { return b_do(argc, argv, 2); }
static int b_reset(int argc, char **argv) { return b_do(argc, argv, 3); }

static const char barrier_usage[] =
    "Usage: sharr barrier SUBCOMMAND NAME [ARGS...]\n\n"
    "Named barriers (Python's Barrier, by name) that break instead of\n"
    "hanging when a party dies or a wait times out.\n\n"
    "Subcommands:\n"
    "  create   create one: NAME PARTIES\n"
    "  wait     wait for the round, print the arrival index [--timeout S]\n"
    "  abort    break it\n"
    "  reset    make it whole and empty again\n\n"
    "Options (sharr barrier SUBCOMMAND --help says which each takes):\n"
    "      --temp        create: remove it when your shell exits\n"
    "  -m, --mode OCTAL  create: permission bits (default 600)\n"
    "  -t, --timeout S   wait: wait at most S seconds (a timeout breaks it)\n";

int cmd_barrier(int argc, char **argv)
{
    static const struct sub subs[] = {
        {"create", b_create, NULL}, {"wait", b_wait, NULL},
        {"abort", b_abort, NULL}, {"reset", b_reset, NULL}};
    return dispatch(barrier_usage, subs, sizeof subs / sizeof *subs, argc,
                    argv);
}

/* ---- ls and info of objects that are not arrays ---- */

void cli_obj_json(const sharr_info *in)
{
    const sharr_obj_state *s = &in->obj;

    printf(", \"state\": ");
    cli_json_string(stdout, s->text);
    switch (in->kind) {
    case SHARR_KIND_QUEUE: case SHARR_KIND_PIPE:
        printf(", \"capacity\": %zu, \"max_msg\": %zu, \"messages\": [%zu, "
               "%zu], \"bytes\": [%zu, %zu], \"closed\": [%s, %s], "
               "\"unfinished\": %zu, \"repairs\": %zu", s->capacity,
               s->max_msg, s->msgs[0], s->msgs[1], s->bytes[0], s->bytes[1],
               s->closed[0] ? "true" : "false",
               s->closed[1] ? "true" : "false", s->unfinished, s->repairs);
        break;
    case SHARR_KIND_LOCK: case SHARR_KIND_RLOCK: case SHARR_KIND_CONDITION:
        printf(", \"holder\": %d, \"holder_died\": %s, \"depth\": %u",
               (int)s->holder, s->holder_died ? "true" : "false", s->depth);
        break;
    case SHARR_KIND_SEMAPHORE:
        printf(", \"value\": %zu, \"bound\": %zu", s->value, s->bound);
        break;
    case SHARR_KIND_EVENT:
        printf(", \"set\": %s", s->is_set ? "true" : "false");
        break;
    case SHARR_KIND_BARRIER:
        printf(", \"parties\": %zu, \"waiting\": %zu, \"broken\": %s",
               s->parties, s->waiting, s->broken ? "true" : "false");
        break;
    default:
        break;
    }
    printf(", \"waiters\": %u", s->waiters);
}

void cli_obj_info(const sharr_info *in)
{
    char user[64], when[64];
    time_t t = (time_t)in->created_sec;
    struct tm tm;

    cli_user_name(in->uid, user, sizeof user);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %z", localtime_r(&t, &tm));
    printf("name:          %s\npath:          %s\nkind:          %s\n",
           in->name, in->path, sharr_kind_name(in->kind));
    printf("state:         %s\n", in->obj.text);
    if (in->kind == SHARR_KIND_QUEUE || in->kind == SHARR_KIND_PIPE)
        printf("capacity:      %zu bytes\nmax message:   %zu bytes\n",
               in->obj.capacity, in->obj.max_msg);
    if (in->obj.repairs)
        printf("repairs:       %zu (puts and gets of killed processes)\n",
               in->obj.repairs);
    printf("segment bytes: %zu\nowner:         %s\nmode:          %04o\n",
           in->segment_size, user, in->mode);
    /* As for arrays: only a temporary object's owner is state. */
    if (in->flags & SHARR_CREATE_TEMP)
        printf("owner process: %d (%s%s%s): its exit removes it\n",
               (int)in->creator, in->creator_alive < 0 ? "unknown"
                                 : in->creator_alive ? "alive" : "gone",
               in->detail[0] ? ": " : "", in->detail);
    else
        printf("created by:    pid %d\n", (int)in->creator);
    printf("attached:      %u (advisory)\ntemporary:     %s\ncreated:       "
           "%s\nid:            ", in->attached,
           (in->flags & SHARR_CREATE_TEMP) ? "yes" : "no", when);
    for (int i = 0; i < 16; i++)
        printf("%02x", in->id[i]);
    printf("\n");
}
