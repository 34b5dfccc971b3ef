/*
 * error.c - error codes, their names, and the per-thread failure detail.
 *
 * Every failing library call records a one-line detail in a thread-local
 * buffer (sharr__fail) and returns a negative code.  The buffer is never
 * shared between threads, so no lock is needed; a forked child starts with a
 * copy of its parent thread's buffer, which is harmless.  Any argument may
 * point into the buffer itself (`sharr__fail(c, "ctx: %s", sharr_errmsg())`
 * is the usual way to add context): every function formats into a local
 * buffer first and copies the result in, never formatting the buffer into
 * itself.
 */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SHARR__ERRMSG_SIZE 1024

static _Thread_local char errmsg_buf[SHARR__ERRMSG_SIZE];

const char *sharr_version_string(void)
{
    return SHARR_VERSION_STRING;
}

const char *sharr_strerror(int code)
{
    switch (code) {
#define SHARR_ERR_CASE_(name, value, text) case (value): return text;
        SHARR_ERRORS(SHARR_ERR_CASE_)
#undef SHARR_ERR_CASE_
    default:
        break;
    }
    /* Any other -errno: strerror's table is static and, for valid errno
     * values on glibc, never rewritten, so the pointer is safe to return. */
    if (code < 0 && code > -4096)
        return strerror(-code);
    return "unknown error";
}

const char *sharr_errmsg(void)
{
    return errmsg_buf;
}

/* Format into a local buffer, then copy: the arguments may point into
 * errmsg_buf (vsnprintf into an overlapping argument is undefined). */
static void vrecord(const char *fmt, va_list ap)
{
    char tmp[SHARR__ERRMSG_SIZE];

    vsnprintf(tmp, sizeof tmp, fmt, ap);
    memcpy(errmsg_buf, tmp, sizeof tmp);
}

int sharr__fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vrecord(fmt, ap);
    va_end(ap);
    return code;
}

int sharr__fail_os(int code, const char *fmt, ...)
{
    va_list ap;
    size_t len;

    va_start(ap, fmt);
    vrecord(fmt, ap);
    va_end(ap);
    /* sharr_strerror() returns static text, never errmsg_buf. */
    len = strlen(errmsg_buf);
    snprintf(errmsg_buf + len, sizeof errmsg_buf - len, ": %s",
             sharr_strerror(code));
    return code;
}

void sharr__errmsg_clear(void)
{
    errmsg_buf[0] = '\0';
}

void sharr__errmsg_replace(const char *from, const char *to)
{
    char out[SHARR__ERRMSG_SIZE];
    const char *p = errmsg_buf, *hit;
    size_t n = 0, flen = strlen(from), tlen = strlen(to);

    if (flen == 0)
        return;
    while ((hit = strstr(p, from)) != NULL && n < sizeof out - 1) {
        size_t keep = (size_t)(hit - p);
        if (n + keep + tlen >= sizeof out)
            break;
        memcpy(out + n, p, keep);
        memcpy(out + n + keep, to, tlen);
        n += keep + tlen;
        p = hit + flen;
    }
    snprintf(out + n, sizeof out - n, "%s", p);
    memcpy(errmsg_buf, out, sizeof out);
}

/* Copy `text` to buf[n..], truncated to the buffer; the new length. */
static size_t append(char *buf, size_t n, const char *text)
{
    size_t len = strlen(text), room = SHARR__ERRMSG_SIZE - 1 - n;

    if (len > room)
        len = room;
    memcpy(buf + n, text, len);
    buf[n + len] = '\0';
    return n + len;
}

void sharr__errmsg_prefix(const char *fmt, ...)
{
    char old[SHARR__ERRMSG_SIZE], head[SHARR__ERRMSG_SIZE];
    va_list ap;

    /* Both parts into locals first: the prefix's arguments may point into
     * errmsg_buf, and so may the old detail's copy. */
    memcpy(old, errmsg_buf, sizeof old);
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    /* Truncation is fine: the detail is one line for a human. */
    size_t n = append(errmsg_buf, 0, head);
    n = append(errmsg_buf, n, ": ");
    append(errmsg_buf, n, old);
}
