/*
 * results.c - the caller's bookkeeping of a job's finished blocks: their
 * statuses, the completion ring read in the order blocks finished, the
 * details of failed blocks, the per-block callbacks, and the private copies
 * that let a job handle outlive the pool's shared areas (the next job
 * reuses them; a destroyed pool unmaps them).
 *
 * Runs only in the caller, and never waits.  Its reads of the shared areas
 * pair with the workers' release stores (worker.c, "The end of a block"):
 * a ring entry seen means its block's status and result are seen, and a
 * status seen means the result is.  Each reader gives every block exactly
 * once, so each block gets exactly one callback.
 */
#define _GNU_SOURCE
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sharr__block_status(const sharr_job *job, size_t b)
{
    int32_t w = atomic_load_explicit(&job->bstatus[b], memory_order_acquire);

    if (w == BLOCK_OK)
        return 0;
    if (w < 0)
        return w;
    return job->finished ? SHARR_ECANCELED : SHARR_BLOCK_PENDING;
}

/* The ring names block k: mark it in the sweep's bitmap. */
static void mark_seen(unsigned char *seen, uint32_t v)
{
    seen[(v - 1) / 8] |= (unsigned char)(1u << ((v - 1) % 8));
}

/* Once the job is over: the blocks the ring did not give, in block order. */
static int sweep_next(sharr_job *job, struct reader *r, size_t *b)
{
    size_t n = job->geom.nblocks;

    if (!r->sweeping) {
        r->sweeping = true;
        if (r->given == n)
            return -1;
        /* Out of memory: the blocks the ring did not name are not given
         * (they did not succeed: their status still says so). */
        if (!(r->seen = calloc((n + 7) / 8, 1)))
            return -1;
        for (size_t k = 0; k < job->ring_len; k++) {
            uint32_t v = atomic_load_explicit(&job->ring[k],
                                              memory_order_acquire);
            if (v)
                mark_seen(r->seen, v);
        }
    }
    while (r->seen && r->sweep < n) {
        size_t k = r->sweep++;
        if (!(r->seen[k / 8] & (1u << (k % 8)))) {
            r->given++;
            *b = k;
            return 1;
        }
    }
    return -1;
}

int sharr__reader_next(sharr_job *job, struct reader *r, size_t *b)
{
    size_t n = job->geom.nblocks;

    while (!r->sweeping && r->pos < n) {
        uint32_t v = atomic_load_explicit(&job->ring[r->pos],
                                          memory_order_acquire);
        if (v) {
            r->pos++;
            r->given++;
            *b = v - 1;
            return 1;
        }
        /* While the job runs an empty entry may be written any moment;
         * once it is over, it is a hole (blocks skipped in a batch, or a
         * worker that died after counting its block). */
        if (!job->finished)
            return 0;
        if (r->pos >= job->ring_len)
            break;
        r->pos++;
    }
    if (!job->finished)
        return 0;
    return sweep_next(job, r, b);
}

void sharr__reader_free(struct reader *r)
{
    free(r->seen);
    r->seen = NULL;
}

/* The logged detail of block b, if the log still holds it. */
static bool logged_detail(const sharr_job *job, size_t b, char *buf,
                          size_t size)
{
    for (int i = 0; i < ERRLOG_SIZE && job->errlog; i++) {
        const struct errlog_entry *e = &job->errlog[i];
        uint64_t seq = atomic_load_explicit(&e->seq, memory_order_acquire);
        if (seq == 0 || e->block != b)
            continue;
        char msg[ERRLOG_MSG];
        memcpy(msg, e->msg, sizeof msg);
        msg[sizeof msg - 1] = '\0';
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load(&e->seq) != seq)
            continue; /* rewritten meanwhile */
        snprintf(buf, size, "%s", msg);
        return true;
    }
    return false;
}

void sharr__block_detail(const sharr_job *job, size_t b, int code,
                         char *buf, size_t size)
{
    if (code == SHARR_ECANCELED &&
        atomic_load(&job->bstatus[b]) != SHARR_ECANCELED) {
        snprintf(buf, size, "block %zu did not run: %s", b,
                 job->status ? job->errmsg : "the job was cancelled");
        return;
    }
    if (logged_detail(job, b, buf, size))
        return;
    if (job->status == code && job->error_block == b && job->errmsg[0])
        snprintf(buf, size, "%s", job->errmsg);
    else
        snprintf(buf, size, "block %zu failed: %s", b, sharr_strerror(code));
}

/* A callback of block b returned rc: no more callbacks, and the job fails
 * (cancelling what has not run, through `sh` while it runs). */
static void callback_failed(sharr_job *job, struct pool_shared *sh, size_t b,
                            int rc, bool error_cb)
{
    char msg[ERRMSG_SIZE];
    const char *detail = sharr_errmsg()[0] ? sharr_errmsg()
                                           : sharr_strerror(rc);

    rc = rc < 0 ? rc : SHARR_EINVAL;
    snprintf(msg, sizeof msg, "the %s of block %zu failed: %s",
             error_cb ? "error callback" : "callback", b, detail);
    job->cb_stopped = true;
    if (sh && !job->finished) {
        sharr__record_error(sh, rc, b, msg);
    } else if (job->status == 0) {
        job->status = rc;
        job->error_block = b;
        snprintf(job->errmsg, sizeof job->errmsg, "%s", msg);
    }
}

void sharr__run_callbacks(sharr_job *job, struct pool_shared *sh)
{
    size_t b;

    if ((!job->callback && !job->error_callback) || !job->bstatus ||
        job->cb_stopped || job->in_callback)
        return;
    while (!job->cb_stopped &&
           sharr__reader_next(job, &job->cb_reader, &b) == 1) {
        int st = sharr__block_status(job, b), rc = 0;
        char detail[ERRMSG_SIZE];

        if (st != 0)
            sharr__block_detail(job, b, st, detail, sizeof detail);
        job->in_callback = true;
        if (job->pool)
            job->pool->in_callback = true;
        sharr__errmsg_clear();
        if (st == 0 && job->callback)
            rc = job->callback(b, sharr_job_result(job, b), job->callback_ctx);
        else if (st != 0 && job->error_callback)
            rc = job->error_callback(b, st, detail, job->callback_ctx);
        job->in_callback = false;
        if (job->pool)
            job->pool->in_callback = false;
        if (rc != 0)
            callback_failed(job, sh, b, rc, st != 0);
    }
}

static void *copy_of(const void *src, size_t n)
{
    void *dst = n && src ? malloc(n) : NULL;
    if (dst)
        memcpy(dst, src, n);
    return dst;
}

void sharr__job_copy_out(sharr_job *job)
{
    size_t n = job->geom.nblocks;
    size_t words = (n ? n : 1) * sizeof(uint32_t); /* never a NULL copy */
    bool guided = job->geom.geometry == GEOM_GUIDED;

    job->results = copy_of(job->results, job->results_len);
    job->results_len = job->results ? job->results_len : 0;
    job->guided = guided ? copy_of(job->guided, (n + 1) * sizeof(uint64_t))
                         : NULL;
    if (job->bstatus) {
        job->bstatus = copy_of((const void *)job->bstatus, words);
        job->ring = copy_of((const void *)job->ring, words);
        job->errlog = copy_of(job->errlog,
                              ERRLOG_SIZE * sizeof(struct errlog_entry));
        if (!job->bstatus || !job->ring || !job->errlog) {
            free((void *)job->bstatus);
            free((void *)job->ring);
            free(job->errlog);
            job->bstatus = NULL;
            job->ring = NULL;
            job->errlog = NULL;
        }
    }
    job->own_buffers = true;
    if (guided && !job->guided)
        job->geom.nblocks = 0; /* out of memory: no block rows to give */
}
