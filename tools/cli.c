/*
 * cli.c - the CLI contract (messages, exit codes) and argument parsers that
 * every subcommand shares.
 */
#define _GNU_SOURCE
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

const char *cli_sub = "sharr";

static void vmessage(const char *fmt, va_list ap)
{
    fprintf(stderr, "sharr: %s: ", cli_sub);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_run(const struct cli_command *c, int argc, char **argv)
{
    cli_sub = c->name;
    cli_protect_numbers(argc - 1, argv + 1);
    cli_getopt_reset();
    int rc = c->run(argc - 1, argv + 1);
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
    if (n == 0 || text[strlen(text) - 1] == 'x' || text[0] == 'x' ||
        strstr(text, "xx"))
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
    if (neg) {
        if (v > rows)
            return false;
        v = rows - v;
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
        if (!parse_row_end(text, strlen(text), rows, 0, r0) || *r0 >= rows)
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

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void cli_format_bytes(size_t n, char *buf, size_t size)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB",
                                 "EiB"};
    double v = (double)n;
    int u = 0;

    while (v >= 1024 && u < 6) {
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
