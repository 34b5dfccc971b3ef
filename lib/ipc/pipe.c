/*
 * pipe.c - named duplex pipes (Python's Pipe(), by name): two rings
 * (ring.c) in one named object of kind "pipe"; end 0 sends on direction 0
 * and receives on direction 1, end 1 the other way round.  Each direction
 * has a queue's guarantees under kills.  A handle may be shared by threads.
 */
#define _GNU_SOURCE
#include "ipc.h"

#include <stdlib.h>
#include <string.h>

struct sharr_pipe {
    struct sharr__obj obj;
    int end;
    struct sharr__ring out, in;
};

static int init_pipe(unsigned char *state, const struct sharr__params *p)
{
    int err = sharr__ring_init(state, p, 0);
    return err < 0 ? err : sharr__ring_init(state, p, 1);
}

static void attach(sharr_pipe *p, int end)
{
    p->end = end;
    sharr__ring_view(&p->obj, end, &p->out);
    sharr__ring_view(&p->obj, 1 - end, &p->in);
}

int sharr_pipe_create(const char *name, size_t capacity, size_t max_msg,
                      const sharr_create_opts *opts, sharr_pipe **out)
{
    struct sharr__params prm;
    sharr_pipe *p;
    int err;

    *out = NULL;
    if (capacity > SHARR_QUEUE_MAX_CAPACITY ||
        max_msg > SHARR_QUEUE_MAX_MSG_LIMIT)
        return sharr__fail(SHARR_EINVAL, "capacity %zu or max_msg %zu too "
                           "large (limits: %zu and %zu bytes)", capacity,
                           max_msg, SHARR_QUEUE_MAX_CAPACITY,
                           SHARR_QUEUE_MAX_MSG_LIMIT);
    if (!(p = calloc(1, sizeof *p)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    sharr__queue_params(capacity, max_msg, 2, &prm);
    if ((err = sharr__obj_create(name, SHARR_KIND_PIPE, &prm, init_pipe, opts,
                                 &p->obj)) < 0) {
        free(p);
        return err;
    }
    attach(p, 0);
    *out = p;
    return 0;
}

int sharr_pipe_open(const char *name, int end, unsigned flags,
                    sharr_pipe **out)
{
    sharr_pipe *p;
    int err;

    *out = NULL;
    if (end != 0 && end != 1)
        return sharr__fail(SHARR_EINVAL, "pipe end %d: a pipe has ends 0 and "
                           "1", end);
    if (!(p = calloc(1, sizeof *p)))
        return sharr__fail(SHARR_ENOMEM, "out of memory");
    if ((err = sharr__obj_open(name, 1u << SHARR_KIND_PIPE, flags,
                               &p->obj)) < 0 ||
        (err = sharr__ring_check(&p->obj, 0)) < 0 ||
        (err = sharr__ring_check(&p->obj, 1)) < 0) {
        sharr__obj_close(&p->obj);
        free(p);
        return err;
    }
    attach(p, end);
    *out = p;
    return 0;
}

void sharr_pipe_close(sharr_pipe *p)
{
    if (!p)
        return;
    sharr__obj_close(&p->obj);
    free(p);
}

int sharr_pipe_send(sharr_pipe *p, const void *msg, size_t len,
                    double timeout)
{
    int n = sharr__ring_put(&p->out, &msg, &len, 1, timeout);
    return n < 0 ? n : 0;
}

int sharr_pipe_recv(sharr_pipe *p, void *buf, size_t size, size_t *len,
                    double timeout)
{
    int n = sharr__ring_get(&p->in, buf, size, len, 1, timeout, false);
    return n < 0 ? n : 0;
}

int sharr_pipe_poll(sharr_pipe *p, double timeout)
{
    return sharr__ring_poll(&p->in, timeout);
}

int sharr_pipe_shutdown(sharr_pipe *p)
{
    return sharr__ring_shutdown(&p->out);
}

int sharr_pipe_end(const sharr_pipe *p)
{
    return p->end;
}

size_t sharr_pipe_max_msg(const sharr_pipe *p)
{
    return (size_t)p->out.max_msg;
}
