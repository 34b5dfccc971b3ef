/*
 * results.c - the caller's bookkeeping of a job's finished blocks: their
 * statuses and the order they finished in, drained from the workers' block
 * logs into caller-private arrays; the details of failed blocks; the
 * per-block callbacks; and the private copies that let a job handle
 * outlive the pool's shared areas (the next job reuses them; a destroyed
 * pool unmaps them).
 *
 * Runs only in the caller, and never waits.  A log entry is published by
 * its slot's log_len (release) before the block is counted done, so once
 * the caller sees the count, or no worker in a block, it can drain every
 * entry.  A block may be logged twice (its worker logged it and died before
 * leaving it; the supervisor logs the death): the first entry wins.  Each
 * reader gives every block exactly once, so each block gets exactly one
 * callback.
 */
#define _GNU_SOURCE
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool sharr__job_private(sharr_job *job)
{
    size_t n = job->geom.nblocks ? job->geom.nblocks : 1;
    size_t w = job->pool && job->pool->nworkers ? job->pool->nworkers : 1;

    if (!job->tracked)
        return false;
    if (job->bstatus)
        return true;
    if (!(job->bstatus = calloc(n, sizeof *job->bstatus)) ||
        !(job->order = calloc(n, sizeof *job->order)) ||
        !(job->consumed = calloc(w, sizeof *job->consumed))) {
        free(job->bstatus);
        free(job->order);
        job->bstatus = NULL;
        job->order = NULL;
        job->tracked = false;
        return false;
    }
    return true;
}

void sharr__note_block(sharr_job *job, size_t b, int32_t st)
{
    if (b >= job->geom.nblocks || job->bstatus[b] != 0)
        return;
    job->bstatus[b] = st;
    job->order[job->order_len++] = (uint32_t)b;
}

void sharr__drain(sharr_job *job)
{
    const sharr_pool *p = job->pool;

    if (!p || !sharr__job_private(job))
        return;
    for (int w = 0; w < p->nworkers; w++) {
        const struct log_entry *log = p->conf.logs + (size_t)w *
                                                      p->conf.log_cap;
        uint64_t len = atomic_load_explicit(&p->sh->slots[w].log_len,
                                            memory_order_acquire);
        if (len > p->conf.log_cap)
            len = p->conf.log_cap;
        for (uint64_t k = job->consumed[w]; k < len; k++)
            sharr__note_block(job, log[k].block, log[k].status);
        job->consumed[w] = len;
    }
}

int sharr__block_status(const sharr_job *job, size_t b)
{
    int32_t w = job->bstatus[b];

    if (w == BLOCK_OK)
        return 0;
    if (w < 0)
        return w;
    return job->finished ? SHARR_ECANCELED : SHARR_BLOCK_PENDING;
}

int sharr__reader_next(sharr_job *job, struct reader *r, size_t *b)
{
    size_t n = job->geom.nblocks;

    /* The logs only when what was drained is used up: reading them costs
     * a cache miss per worker. */
    if (r->pos >= job->order_len)
        sharr__drain(job);
    if (r->pos < job->order_len) {
        *b = job->order[r->pos++];
        return 1;
    }
    if (!job->finished)
        return 0;
    /* Over: every entry was drained; the blocks left never finished. */
    while (r->sweep < n) {
        size_t k = r->sweep++;
        if (job->bstatus[k] == 0) {
            *b = k;
            return 1;
        }
    }
    return -1;
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
    if (code == SHARR_ECANCELED && job->bstatus[b] == 0) {
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

    if ((!job->callback && !job->error_callback) ||
        !sharr__job_private(job) || job->cb_stopped || job->in_callback)
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
    bool guided = job->geom.geometry == GEOM_GUIDED;

    job->results = copy_of(job->results, job->results_len);
    job->results_len = job->results ? job->results_len : 0;
    job->guided = guided ? copy_of(job->guided, (n + 1) * sizeof(uint64_t))
                         : NULL;
    job->errlog = copy_of(job->errlog,
                          ERRLOG_SIZE * sizeof(struct errlog_entry));
    job->own_buffers = true;
    if (guided && !job->guided)
        job->geom.nblocks = 0; /* out of memory: no block rows to give */
}
