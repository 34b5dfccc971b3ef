/*
 * cli.c - the CLI contract (messages, exit codes) and argument parsers that
 * every subcommand shares.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

const char *cli_sub = "sharr";

static void vmessage(const char *fmt, va_list ap)
{
    if (strcmp(cli_sub, "sharr") == 0) /* before any command */
        fputs("sharr: ", stderr);
    else
        fprintf(stderr, "sharr: %s: ", cli_sub);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_check_env(void)
{
    static const char *const switches[] = {"SHARR_EXPR_STREAM",
                                           "SHARR_H5_DIRECT"};
    const char *v = getenv("SHARR_LOCK_WAIT");
    char *end;

    if (v && *v) {
        double w = strtod(v, &end);
        if (*end || end == v || isnan(w) || w < 0)
            return cli_usage("$SHARR_LOCK_WAIT is '%s': give seconds (0: "
                             "do not wait, inf: for ever)", v);
    }
    for (size_t i = 0; i < sizeof switches / sizeof *switches; i++) {
        v = getenv(switches[i]);
        if (v && *v && strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
            return cli_usage("$%s is '%s': give 0 or 1 (or unset it)",
                             switches[i], v);
    }
    return 0;
}

int cli_run(const struct cli_command *c, int argc, char **argv)
{
    cli_sub = c->name;
    int bad = cli_check_env();
    if (bad)
        return bad;
    cli_protect_numbers(argc - 1, argv + 1);
    cli_getopt_reset();
    return cli_flush_output(c->run(argc - 1, argv + 1));
}

int cli_read_record(FILE *f, int delim, size_t max, char **buf, size_t *cap,
                    size_t *len)
{
    bool any = false;
    int c;

    *len = 0;
    errno = 0;
    flockfile(f); /* then getc_unlocked: one lock per record, not per byte */
    for (;;) {
        if (*len + 2 > *cap) {
            size_t want = *cap ? 2 * *cap : 256;
            char *b = realloc(*buf, want);
            if (!b) {
                funlockfile(f);
                errno = ENOMEM;
                return -1;
            }
            *buf = b;
            *cap = want;
        }
        if ((c = getc_unlocked(f)) == EOF)
            break;
        any = true;
        if (c == delim)
            break;
        if (*len == max) {
            ungetc(c, f);
            funlockfile(f);
            (*buf)[*len] = '\0';
            return -2;
        }
        (*buf)[(*len)++] = (char)c;
    }
    funlockfile(f);
    (*buf)[*len] = '\0';
    if (c == EOF && ferror(f)) {
        if (!errno)
            errno = EIO;
        return -1;
    }
    return any ? 1 : 0;
}

int cli_flush_output(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_error("cannot write the output");
    return rc;
}

/* Optimal string alignment distance (Levenshtein plus transpositions) of
 * two short words; larger than 2 as soon as it is known to be. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b), d[3][32];

    if (n >= 31 || m >= 31)
        return 99;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t *cur = d[i % 3], *prev = d[(i + 2) % 3], *pp = d[(i + 1) % 3];
        cur[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] != b[j - 1], v = prev[j - 1] + cost;
            if (prev[j] + 1 < v)
                v = prev[j] + 1;
            if (cur[j - 1] + 1 < v)
                v = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            cur[j] = v;
        }
    }
    return d[n % 3][m];
}

const char *cli_closest(const char *word, const char *const *names, size_t n)
{
    const char *best = NULL, *prefix = NULL;
    size_t best_d = 3, nprefix = 0;

    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, names[i]);
        if (strcasecmp(word, names[i]) == 0)
            return names[i]; /* "LS": the case is all that is wrong */
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
        if (word[0] && strncmp(names[i], word, strlen(word)) == 0) {
            prefix = names[i];
            nprefix++;
        }
    }
    /* A unique prefix ("cre") is meant more surely than a near word; one
     * letter off in a two-letter word is another word, not a typo. */
    if (nprefix == 1 && strlen(word) >= 2)
        return prefix;
    if (best && best_d >= strlen(word))
        best = NULL;
    return best;
}

int cli_check_env_schedule(void)
{
    const char *env = getenv("SHARR_SCHEDULE");
    sharr_schedule s;

    if (env && *env && sharr_schedule_parse(env, &s) < 0)
        return cli_usage("$SHARR_SCHEDULE: %s", sharr_errmsg());
    return 0;
}

int cli_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    if (strcmp(cli_sub, "sharr") == 0)
        fprintf(stderr, "Try 'sharr --help'.\n");
    else
        fprintf(stderr, "Try 'sharr %s --help'.\n", cli_sub);
    return EXIT_USAGE;
}

int cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    return EXIT_RUNTIME;
}

unsigned cli_open_flags;
bool cli_foreign_option;

/* The library's hints (in C) and what the CLI says instead.  Longer ones
 * first where one starts another. */
static const struct {
    const char *lib, *cli, *cli_without_option;
} hints[] = {
    {"open it with SHARR_OPEN_FOREIGN to trust it",
     "pass --foreign to use it anyway", "only its owner can use it here"},
    {"set sharr_save_opts.force_hardlinks", "pass --force-hardlinks", NULL},
    {"set sharr_save_opts.force", "pass --force", NULL},
    {"set sharr_eval_opts.force", "pass --force", NULL},
    {"pass SHARR_RESHAPE_FORCE", "pass --force", NULL},
    {"sharr_save_opts.append", "--append", NULL},
    {"set sharr_load_opts.allow_external", "pass --allow-external", NULL},
    {" (sharr_barrier_reset() makes it whole)",
     " (sharr barrier reset makes it whole)", NULL},
    /* stat --per-row of more rows than the pool's result space holds */
    {" (sharr_pool_opts.results_bytes)", ": too many rows for --per-row",
     NULL},
};

const char *cli_errmsg(void)
{
    static char out[2048];
    const char *in = sharr_errmsg();
    size_t n = 0;

    while (*in && n + 1 < sizeof out) {
        size_t k = 0;
        while (k < sizeof hints / sizeof *hints &&
               strncmp(in, hints[k].lib, strlen(hints[k].lib)) != 0)
            k++;
        if (k == sizeof hints / sizeof *hints) {
            out[n++] = *in++;
            continue;
        }
        const char *say = !cli_foreign_option && hints[k].cli_without_option
                              ? hints[k].cli_without_option : hints[k].cli;
        n += (size_t)snprintf(out + n, sizeof out - n, "%s", say);
        if (n >= sizeof out)
            n = sizeof out - 1;
        in += strlen(hints[k].lib);
    }
    out[n] = '\0';
    return out;
}

int cli_fail(int code)
{
    const char *detail = cli_errmsg();
    return cli_error("%s", detail[0] ? detail : sharr_strerror(code));
}

int cli_bad_option(int c, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "?";

    if (c == ':')
        return cli_usage("option '%s' needs a value", arg);
    if (optopt && optopt != '?')
        return cli_usage("unknown option '-%c'", optopt);
    return cli_usage("unknown option '%s'", arg);
}

int cli_options(int argc, char **argv, const struct option *lo,
                const char *usage)
{
    int ch;

    while ((ch = getopt_long(argc, argv, ":hV", lo, NULL)) != -1) {
        if (ch == 0)
            continue; /* a flag option has set its int */
        if (ch == 'h')
            return cli_help(usage);
        if (ch == 'V')
            return cli_version();
        return cli_bad_option(ch, argv);
    }
    return -1;
}

int cli_help(const char *usage)
{
    fputs(usage, stdout);
    return EXIT_OK;
}

int cli_version(void)
{
    printf("sharr %s\n", sharr_version_string());
    return EXIT_OK;
}

const char *cli_name(const char *text)
{
    text = cli_arg(text);
    if (sharr_name_check(text) < 0) {
        cli_usage("%s", sharr_errmsg());
        return NULL;
    }
    return text;
}

void cli_getopt_reset(void)
{
    optind = 0; /* GNU: re-initialize completely */
    opterr = 0;
}

static bool looks_negative_number(const char *s)
{
    if (s[0] != '-')
        return false;
    s++;
    return isdigit((unsigned char)s[0]) ||
           (s[0] == '.' && isdigit((unsigned char)s[1])) ||
           strncasecmp(s, "inf", 3) == 0 || strncasecmp(s, "nan", 3) == 0;
}

void cli_protect_numbers(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (looks_negative_number(argv[i])) {
            char *p = malloc(strlen(argv[i]) + 2);
            if (!p)
                continue; /* unprotected: getopt reports it as an option */
            p[0] = ' ';
            strcpy(p + 1, argv[i]);
            argv[i] = p; /* lives until exit, like argv itself */
        }
    }
}

const char *cli_arg(const char *s)
{
    return (s[0] == ' ' && s[1] == '-') ? s + 1 : s;
}

/* A decimal size_t with nothing else around it. */
static bool parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v;

    if (!isdigit((unsigned char)s[0]))
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v > SIZE_MAX)
        return false;
    *out = (size_t)v;
    return true;
}

int cli_parse_shape(const char *text, size_t *ndim, size_t *shape)
{
    char buf[512], *tok, *save = NULL;
    size_t n = 0;

    text = cli_arg(text);
    if (text[0] == '\0' || strcmp(text, "scalar") == 0 ||
        strcmp(text, "()") == 0) {
        *ndim = 0;
        return 0;
    }
    if (strlen(text) >= sizeof buf)
        return cli_usage("shape '%.40s...' is too long", text);
    strcpy(buf, text);
    for (tok = strtok_r(buf, "x,", &save); tok;
         tok = strtok_r(NULL, "x,", &save)) {
        if (n == SHARR_MAX_NDIM)
            return cli_usage("shape '%s' has more than %d dimensions", text,
                             SHARR_MAX_NDIM);
        if (!parse_size(tok, &shape[n]))
            return cli_usage("shape '%s': '%s' is not a dimension (write "
                             "e.g. 16x1000000, or '' for a scalar)", text,
                             tok);
        n++;
    }
    /* strtok_r skips empty fields: "3,,4", ",3" and "3x" are refused here. */
    bool empty_field = strchr("x,", text[0]) ||
                       strchr("x,", text[strlen(text) - 1]);
    for (const char *c = text; c[1] && !empty_field; c++)
        empty_field = strchr("x,", c[0]) && strchr("x,", c[1]);
    if (n == 0 || empty_field)
        return cli_usage("shape '%s' is malformed (write e.g. 16x1000000)",
                         text);
    *ndim = n;
    return 0;
}

/* One end of a row range; negative counts from the end. */
static bool parse_row_end(const char *s, size_t len, size_t rows, size_t dflt,
                          size_t *out)
{
    char buf[32];
    bool neg;
    size_t v;

    if (len == 0) {
        *out = dflt;
        return true;
    }
    if (len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    neg = buf[0] == '-';
    if (!parse_size(buf + neg, &v))
        return false;
    if (neg) { /* as in Python, -0 is 0 */
        if (v > rows)
            return false;
        v = v ? rows - v : 0;
    }
    *out = v;
    return true;
}

int cli_parse_rows(const char *text, size_t rows, size_t *r0, size_t *r1)
{
    const char *colon;

    text = cli_arg(text);
    colon = strchr(text, ':');
    if (!colon) {
        if (!*text || !parse_row_end(text, strlen(text), rows, 0, r0) ||
            *r0 >= rows)
            return cli_usage("--rows %s: not a row of the %zu rows", text,
                             rows);
        *r1 = *r0 + 1;
        return 0;
    }
    if (!parse_row_end(text, (size_t)(colon - text), rows, 0, r0) ||
        !parse_row_end(colon + 1, strlen(colon + 1), rows, rows, r1))
        return cli_usage("--rows %s: write A:B with 0 <= A < B <= %zu "
                         "(negative counts from the end)", text, rows);
    if (*r1 > rows || *r0 >= *r1)
        return cli_usage("--rows %s: the range must be non-empty and within "
                         "the %zu rows", text, rows);
    return 0;
}

int cli_parse_seconds(const char *text, const char *what, double *out)
{
    char *end;
    double v;

    text = cli_arg(text);
    errno = 0;
    v = strtod(text, &end);
    if (!*text || *end || isnan(v) || v < 0 || errno)
        return cli_usage("%s needs seconds >= 0 (0: do not wait; inf: for "
                         "ever), not '%s'", what, text);
    *out = v;
    return 0;
}

int cli_parse_count(const char *text, const char *what, size_t min,
                    size_t *out)
{
    text = cli_arg(text);
    if (!parse_size(text, out) || *out < min)
        return cli_usage("%s needs an integer >= %zu, not '%s'", what, min,
                         text);
    return 0;
}

void cli_format_shape(size_t ndim, const size_t *shape, char *buf,
                      size_t size)
{
    size_t len = 0;

    if (ndim == 0) {
        snprintf(buf, size, "scalar");
        return;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < ndim && len < size; i++) {
        int n = snprintf(buf + len, size - len, "%s%zu", i ? "x" : "",
                         shape[i]);
        if (n < 0)
            break;
        len += (size_t)n;
    }
}

/* The length of the well-formed UTF-8 sequence at s (RFC 3629: no
 * overlong form, no surrogate, at most U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2
             : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    unsigned lo = 0x80, hi = 0xbf; /* the second byte's range */

    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
    for (size_t k = 1; k < n; k++)
        if (s[k] < (k == 1 ? lo : 0x80) || s[k] > (k == 1 ? hi : 0xbf))
            return 0;
    return n;
}

void cli_json_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    fputc('"', f);
    while (*p) {
        size_t n = utf8_len(p);
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else if (n)
            fwrite(p, 1, n, f);
        else /* not UTF-8: the byte as Python's surrogateescape reads it */
            fprintf(f, "\\udc%02x", *p);
        p += n ? n : 1;
    }
    fputc('"', f);
}

void cli_print_name(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f || c == '\\')
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
}

void cli_format_bytes(size_t n, char *buf, size_t size)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB",
                                 "EiB"};
    double v = (double)n;
    int u = 0;

    /* 1023.5 KiB and up would print as "1024 KiB": say "1 MiB". */
    while (v >= 1023.5 && u < 6 && (u > 0 || v >= 1024)) {
        v /= 1024;
        u++;
    }
    /* Three significant digits: "192 B", "1.5 KiB", "7.28 TiB", "1023 KiB". */
    if (u == 0)
        snprintf(buf, size, "%zu B", n);
    else
        snprintf(buf, size, v < 1000 ? "%.3g %s" : "%.0f %s", v, unit[u]);
}

void cli_user_name(unsigned uid, char *buf, size_t size)
{
    struct passwd pw, *res = NULL;
    char tmp[1024];

    if (getpwuid_r((uid_t)uid, &pw, tmp, sizeof tmp, &res) == 0 && res)
        snprintf(buf, size, "%s", res->pw_name);
    else
        snprintf(buf, size, "%u", uid);
}

/* ---- the pool and progress ---- */

int cli_parse_jobs(const char *text, int *jobs)
{
    size_t n;
    int rc = cli_parse_count(text, "-j", 1, &n);

    if (rc == 0 && n > SHARR_POOL_MAX_WORKERS)
        return cli_usage("-j %zu: at most %d workers", n,
                         SHARR_POOL_MAX_WORKERS);
    *jobs = (int)n;
    return rc;
}

int cli_parse_schedule(const char *text, sharr_schedule *out)
{
    if (sharr_schedule_parse(cli_arg(text), out) < 0)
        return cli_usage("--schedule: %s", sharr_errmsg());
    return 0;
}

int cli_pool(int jobs, sharr_pool **out)
{
    sharr_pool_opts o = {0};
    int err;

    o.workers = jobs;
    if ((err = sharr_pool_create(&o, out)) < 0)
        return cli_fail(err);
    return 0;
}

int cli_pool_unscheduled(int jobs, sharr_pool **out)
{
    int rc = cli_check_env_schedule();
    return rc ? rc : cli_pool(jobs, out);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void progress_cb(size_t done, size_t total, void *ctx)
{
    struct cli_progress *p = ctx;
    double t = mono();
    int width = 30, fill;

    if (!p->tty || t - p->start < 0.5 || (t - p->last < 0.1 && done < total))
        return;
    p->last = t;
    p->shown = true;
    fill = total ? (int)((double)width * (double)done / (double)total) : width;
    fprintf(stderr, "\r%s [%.*s%*s] %3d%% %zu/%zu blocks %.1fs", p->label,
            fill, "==============================", width - fill, "",
            total ? (int)(100.0 * (double)done / (double)total) : 100, done,
            total, t - p->start);
    fflush(stderr);
}

void cli_progress_init(struct cli_progress *p, const char *label,
                       sharr_run_opts *ro)
{
    memset(p, 0, sizeof *p);
    p->label = label;
    p->start = mono();
    p->tty = isatty(STDERR_FILENO);
    if (p->tty) {
        ro->progress = progress_cb;
        ro->progress_ctx = p;
    }
}

void cli_progress_done(struct cli_progress *p)
{
    if (p->shown)
        fputc('\n', stderr);
}

/* ---- the locks of the arrays a command works on ---- */

static bool no_lock;
static double lock_timeout = INFINITY;

int cli_lock_option(int ch, const char *arg)
{
    if (ch == CLI_OPT_NO_LOCK) {
        no_lock = true;
        return 0;
    }
    if (ch == CLI_OPT_LOCK_TIMEOUT)
        return cli_parse_seconds(arg, "--lock-timeout", &lock_timeout);
    return -1;
}

/* Field `key` ("Tgid:", "PPid:") of /proc/PID/status, or -1. */
static pid_t proc_status_field(pid_t pid, const char *key)
{
    char path[64], buf[4096];
    size_t n;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (!(f = fopen(path, "re")))
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (char *line = buf; line && *line; line = strchr(line, '\n')) {
        line += *line == '\n';
        if (strncmp(line, key, strlen(key)) == 0) {
            long v = strtol(line + strlen(key), NULL, 10);
            return v > 0 && v <= INT32_MAX ? (pid_t)v : -1;
        }
    }
    return -1;
}

/* Is process `pid` this process's parent, or its parent's ... ? */
static bool is_ancestor(pid_t pid)
{
    pid_t p = getppid();

    for (int depth = 0; p > 0 && depth < 4096; depth++) {
        if (p == pid)
            return true;
        p = proc_status_field(p, "PPid:");
    }
    return false;
}

bool cli_lock_inherited(const char *name, pid_t holder)
{
    const char *env = getenv("SHARR_LOCK_HELD"), *p = env;
    size_t len = strlen(name);

    if (!env || holder <= 0)
        return false;
    /* Untrusted text: entries are checked one by one, and one that does
     * not parse is skipped. */
    while (p && *p) {
        const char *end = strchr(p, ','), *colon = strchr(p, ':');
        if (!end)
            end = p + strlen(p);
        if (colon && colon < end && (size_t)(colon - p) == len &&
            strncmp(p, name, len) == 0 && isdigit((unsigned char)colon[1])) {
            char *num_end;
            long id = strtol(colon + 1, &num_end, 10);
            if (num_end == end && id == (long)holder) {
                pid_t proc = proc_status_field(holder, "Tgid:");
                return proc > 0 && is_ancestor(proc);
            }
        }
        p = *end ? end + 1 : end;
    }
    return false;
}

int cli_lock_export(const char *name)
{
    const char *old = getenv("SHARR_LOCK_HELD");
    size_t n = (old ? strlen(old) + 1 : 0) + strlen(name) + 24;
    char *value = malloc(n);
    int rc;

    if (!value)
        return cli_error("out of memory for $SHARR_LOCK_HELD");
    snprintf(value, n, "%s%s%s:%d", old ? old : "", old && *old ? "," : "",
             name, (int)getpid());
    rc = setenv("SHARR_LOCK_HELD", value, 1);
    free(value);
    return rc == 0 ? 0 : cli_error("cannot set $SHARR_LOCK_HELD: %s",
                                   strerror(errno));
}

/* SIGPIPE too: `sharr dump x | head` ends the reader at a write, and a
 * reader that died holding the lock would tell the next holder that the
 * data may be half-written.  It comes only from our own writes, so it is
 * never blocked nor waited for (the first NASYNC_SIGS are): a "waiting"
 * note to a closed stderr must not count as an interruption. */
#define NLOCK_SIGS 4
#define NASYNC_SIGS 3
static const int lock_sigs[NLOCK_SIGS] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};

/* What cli_lock() holds.  The handlers of SIGINT, SIGTERM, SIGHUP and
 * SIGPIPE read it once cli_lock() has installed them (it installs its own,
 * and the command's come after), so from then on it changes only while
 * the first three are blocked (SIGPIPE comes from no write meanwhile). */
static struct {
    sharr_array *a[CLI_MAX_LOCKS];
    bool writes[CLI_MAX_LOCKS];
    volatile sig_atomic_t held[CLI_MAX_LOCKS];
    size_t n;
    struct sigaction old[NLOCK_SIGS];
    bool caught[NLOCK_SIGS];
} locks;

void cli_unlock_readers(void)
{
    for (size_t i = 0; i < locks.n; i++)
        if (locks.held[i] && !locks.writes[i]) {
            locks.held[i] = 0;
            sharr_array_unlock(locks.a[i]);
        }
}

static void release_held(void)
{
    for (size_t i = locks.n; i-- > 0;)
        if (locks.held[i]) {
            locks.held[i] = 0;
            sharr_array_unlock(locks.a[i]);
        }
}

static void on_locked_signal(int sig)
{
    int saved = errno;

    cli_unlock_readers();
    /* Die of the signal (blocked until we return), as without us. */
    signal(sig, SIG_DFL);
    errno = saved;
    raise(sig);
}

static void block_lock_signals(sigset_t *old)
{
    sigset_t set;

    sigemptyset(&set);
    for (size_t i = 0; i < NASYNC_SIGS; i++)
        sigaddset(&set, lock_sigs[i]);
    sigprocmask(SIG_BLOCK, &set, old);
}

/* Catch the signals that would end the process while the locks are
 * held, unless it ignores them or handles them itself. */
static void catch_lock_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_locked_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NLOCK_SIGS; i++)
        sigaddset(&sa.sa_mask, lock_sigs[i]);
    for (size_t i = 0; i < NLOCK_SIGS; i++)
        locks.caught[i] = sigaction(lock_sigs[i], NULL, &locks.old[i]) == 0 &&
                          locks.old[i].sa_handler == SIG_DFL &&
                          sigaction(lock_sigs[i], &sa, NULL) == 0;
}

/* A signal that came while we waited with them blocked: release what is
 * held (nothing was done yet) and end as the signal would have.
 * @return the exit status if the process survives it (it is handled). */
static int interrupted(int sig, const sigset_t *mask, const char *name)
{
    struct sigaction now;

    release_held();
    locks.n = 0;
    if (sigaction(sig, NULL, &now) == 0 && now.sa_handler == SIG_DFL) {
        sigprocmask(SIG_SETMASK, mask, NULL);
        raise(sig);
    }
    sigprocmask(SIG_SETMASK, mask, NULL);
    return cli_error("interrupted by %s while waiting for the lock of '%s'",
                     strsignal(sig), name);
}

/* Who holds a's lock, in words: "pid 42", "thread 43 of pid 42", or
 * "another process" when the lock does not say. */
static void holder_text(const sharr_array *a, char *buf, size_t size)
{
    pid_t tid = sharr_array_lock_holder(a, NULL), proc;

    proc = tid > 0 ? proc_status_field(tid, "Tgid:") : -1;
    if (tid <= 0)
        snprintf(buf, size, "another process");
    else if (proc > 0 && proc != tid)
        snprintf(buf, size, "thread %d of pid %d", (int)tid, (int)proc);
    else
        snprintf(buf, size, "pid %d", (int)tid);
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Wait for a's lock, busy at the first try, in slices of 0.1 s with the
 * signals blocked, looking for one between slices.  @return the lock
 * call's result, or 1 and the signal in *sig. */
static int wait_for_lock(sharr_array *a, int *sig)
{
    double deadline = now_mono() + lock_timeout;
    char who[96];
    sigset_t set;
    struct timespec zero = {0, 0};
    int rc;

    holder_text(a, who, sizeof who);
    if (isinf(lock_timeout))
        fprintf(stderr, "sharr: %s: waiting for the lock of '%s' (held by "
                "%s)...\n", cli_sub, sharr_array_name(a), who);
    else
        fprintf(stderr, "sharr: %s: waiting up to %g s for the lock of '%s' "
                "(held by %s)...\n", cli_sub, lock_timeout,
                sharr_array_name(a), who);
    sigemptyset(&set);
    for (size_t i = 0; i < NASYNC_SIGS; i++)
        sigaddset(&set, lock_sigs[i]);
    for (;;) {
        double left = deadline - now_mono();
        rc = sharr_array_lock_timed(a, left < 0.1 ? (left > 0 ? left : 0)
                                                  : 0.1);
        if (rc != SHARR_ETIMEDOUT)
            return rc;
        if ((*sig = sigtimedwait(&set, NULL, &zero)) > 0)
            return 1;
        if (left <= 0.1)
            return SHARR_ETIMEDOUT;
    }
}

/* Take one lock, a[i] of the set.  @return 0 or the exit status. */
static int take_one(size_t i, const sigset_t *mask)
{
    sharr_array *a = locks.a[i];
    int died, sig = 0, rc;
    pid_t holder = sharr_array_lock_holder(a, &died);
    char who[96];

    if (!died && cli_lock_inherited(sharr_array_name(a), holder))
        return 0; /* an ancestor holds it for us: `sharr lock NAME --` */
    rc = sharr_array_lock_timed(a, 0);
    if (rc == SHARR_ETIMEDOUT && lock_timeout > 0)
        rc = wait_for_lock(a, &sig);
    if (rc == 1)
        return interrupted(sig, mask, sharr_array_name(a));
    if (rc == 0 || rc == SHARR_EOWNERDEAD) {
        locks.held[i] = 1;
        if (rc == SHARR_EOWNERDEAD)
            fprintf(stderr, "sharr: %s: note: %s\n", cli_sub, sharr_errmsg());
        return 0;
    }
    if (rc == SHARR_EACCES && !locks.writes[i]) {
        fprintf(stderr, "sharr: %s: note: you may not write the segment of "
                "'%s', so it cannot be locked: reading it without its lock\n",
                cli_sub, sharr_array_name(a));
        return 0;
    }
    if (rc != SHARR_ETIMEDOUT)
        return cli_fail(rc);
    holder_text(a, who, sizeof who);
    cli_error("the lock of '%s' is held by %s: not taken within "
              "--lock-timeout %g s, nothing was done", sharr_array_name(a),
              who, lock_timeout);
    return EXIT_LOCKED;
}

/* Sort by id, keeping each array once (ORing what is done to it). */
static void add_lock(sharr_array *a, bool writes)
{
    unsigned char id[16], other[16];
    size_t i = 0;
    int c = 1;

    sharr_array_id(a, id);
    for (; i < locks.n; i++) {
        sharr_array_id(locks.a[i], other);
        if ((c = memcmp(id, other, 16)) <= 0)
            break;
    }
    if (i < locks.n && c == 0) {
        locks.writes[i] |= writes;
        return;
    }
    memmove(&locks.a[i + 1], &locks.a[i], (locks.n - i) * sizeof *locks.a);
    memmove(&locks.writes[i + 1], &locks.writes[i],
            (locks.n - i) * sizeof *locks.writes);
    locks.a[i] = a;
    locks.writes[i] = writes;
    locks.n++;
}

int cli_lock(sharr_array *const *a, const bool *writes, size_t n)
{
    sigset_t mask;
    int rc = 0;

    locks.n = 0;
    if (no_lock)
        return 0;
    if (n > CLI_MAX_LOCKS)
        return cli_error("%zu arrays: at most %d can be locked", n,
                         CLI_MAX_LOCKS);
    for (size_t i = 0; i < n; i++)
        add_lock(a[i], writes[i]);
    for (size_t i = 0; i < locks.n; i++)
        locks.held[i] = 0;
    block_lock_signals(&mask);
    for (size_t i = 0; i < locks.n && rc == 0; i++)
        if ((rc = take_one(i, &mask)) != 0 && locks.n) {
            release_held();
            locks.n = 0;
        }
    if (rc == 0)
        catch_lock_signals(); /* before a signal blocked meanwhile comes */
    sigprocmask(SIG_SETMASK, &mask, NULL);
    return rc;
}

void cli_unlock(void)
{
    sigset_t mask;

    block_lock_signals(&mask);
    release_held();
    for (size_t i = 0; i < NLOCK_SIGS; i++)
        if (locks.caught[i])
            sigaction(lock_sigs[i], &locks.old[i], NULL);
    memset(locks.caught, 0, sizeof locks.caught);
    locks.n = 0;
    sigprocmask(SIG_SETMASK, &mask, NULL);
}
