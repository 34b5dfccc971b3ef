/*
 * sched.c - schedules and block geometry: how a job's rows become blocks
 * (OpenMP's static, dynamic, guided and auto), and the job descriptor built
 * from a caller's spec.  Pure computation on private memory: the caller
 * validates a spec into a private descriptor here before any shared state
 * is touched, and a worker maps a block number to its rows.
 */
#define _GNU_SOURCE
#include "pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- schedules and block geometry ---- */

int sharr_schedule_parse(const char *text, sharr_schedule *out)
{
    static const char *names[] = {"", "static", "dynamic", "guided", "auto"};
    const char *comma;
    size_t len;

    memset(out, 0, sizeof *out);
    if (!text)
        return sharr__fail(SHARR_EINVAL, "schedule is NULL");
    comma = strchr(text, ',');
    len = comma ? (size_t)(comma - text) : strlen(text);
    for (int k = SHARR_SCHED_STATIC; k <= SHARR_SCHED_AUTO; k++)
        if (strlen(names[k]) == len && strncmp(text, names[k], len) == 0)
            out->kind = (sharr_sched_kind)k;
    if (out->kind == SHARR_SCHED_DEFAULT)
        return sharr__fail(SHARR_EINVAL, "unknown schedule '%s': use static,"
                           " dynamic, guided or auto, optionally ,CHUNK", text);
    if (comma) {
        char *end;
        unsigned long long c;
        errno = 0;
        c = strtoull(comma + 1, &end, 10);
        if (comma[1] < '0' || comma[1] > '9' || *end || errno || c == 0)
            return sharr__fail(SHARR_EINVAL, "schedule '%s': the chunk must "
                               "be an integer >= 1", text);
        if (out->kind == SHARR_SCHED_AUTO)
            return sharr__fail(SHARR_EINVAL, "schedule 'auto' takes no "
                               "chunk");
        out->chunk = (size_t)c;
    }
    return 0;
}

/* The guided schedule's block boundaries for d's rows, workers and chunk
 * into table (NULL: only count them into d->nblocks).  libgomp's rule: each
 * block is ceil(remaining / workers) rows, but at least the chunk.  The
 * table makes block i the same rows whichever worker claims it. */
int sharr__guided_blocks(struct job_desc *d, uint64_t *table)
{
    size_t b = 0, r = 0, rows = d->rows, n = d->nworkers;

    while (r < rows) {
        size_t rem = rows - r, q = (rem + n - 1) / n;
        if (q < d->chunk)
            q = d->chunk < rem ? d->chunk : rem;
        if (b == GUIDED_MAX)
            return sharr__fail(SHARR_EINVAL, "guided schedule needs more "
                               "than %d blocks; use a larger chunk",
                               GUIDED_MAX);
        if (table)
            table[b] = r;
        b++;
        r += q;
    }
    if (table)
        table[b] = rows;
    d->nblocks = b;
    return 0;
}

/* Fill the geometry fields of d for `rows` rows on `n` workers; `guided`
 * receives a guided schedule's table (NULL: count only). */
static int resolve_schedule(const sharr_schedule *req, size_t rows, size_t n,
                            struct job_desc *d, uint64_t *guided)
{
    sharr_schedule s = *req;

    if (s.kind == SHARR_SCHED_DEFAULT) {
        const char *env = getenv("SHARR_SCHEDULE");
        if (!env || !*env)
            s.kind = SHARR_SCHED_STATIC;
        else if (sharr_schedule_parse(env, &s) < 0)
            return sharr__fail(SHARR_EINVAL, "$SHARR_SCHEDULE: %s",
                               sharr_errmsg());
    }
    d->rows = rows;
    d->nworkers = n;
    d->claim_static = s.kind == SHARR_SCHED_STATIC;
    d->geometry = GEOM_CHUNK;
    d->chunk = s.chunk ? s.chunk : 1;
    if (s.kind == SHARR_SCHED_STATIC && s.chunk == 0) {
        d->geometry = GEOM_EVEN;
        d->nblocks = rows < n ? rows : n;
        return 0;
    }
    if (s.kind == SHARR_SCHED_AUTO)
        d->chunk = rows / (4 * n) ? rows / (4 * n) : 1;
    if (s.kind == SHARR_SCHED_GUIDED) {
        d->geometry = GEOM_GUIDED;
        return sharr__guided_blocks(d, guided);
    }
    d->nblocks = rows / d->chunk + (rows % d->chunk != 0);
    return 0;
}

void sharr__block_rows(const struct job_desc *d, const uint64_t *guided,
                       size_t b, size_t *r0, size_t *r1)
{
    switch (d->geometry) {
    case GEOM_EVEN: {
        size_t q = d->rows / d->nblocks, rem = d->rows % d->nblocks;
        *r0 = b * q + (b < rem ? b : rem);
        *r1 = *r0 + q + (b < rem);
        break;
    }
    case GEOM_GUIDED:
        *r0 = guided[b];
        *r1 = guided[b + 1];
        break;
    default:
        *r0 = b * d->chunk;
        *r1 = d->rows - *r0 < d->chunk ? d->rows : *r0 + d->chunk;
        break;
    }
}

void *sharr__result_slot(const struct job_desc *d, unsigned char *results,
                         size_t b, size_t r0)
{
    if (d->result_size == 0)
        return NULL;
    return results + (d->per_row ? r0 : b) * d->result_size;
}

/* ---- the job descriptor from a spec ---- */

static int describe_arrays(const sharr_job_spec *spec, struct job_desc *d,
                           size_t *rows)
{
    bool have_rows = false;

    if (spec->narrays > SHARR_JOB_MAX_ARRAYS)
        return sharr__fail(SHARR_EINVAL, "%zu arrays: a job takes at most %d",
                           spec->narrays, SHARR_JOB_MAX_ARRAYS);
    if (spec->narrays && !spec->arrays)
        return sharr__fail(SHARR_EINVAL, "%zu arrays but `arrays` is NULL",
                           spec->narrays);
    *rows = spec->rows;
    d->narrays = (uint32_t)spec->narrays;
    for (size_t i = 0; i < spec->narrays; i++) {
        const sharr_array *a = spec->arrays[i];
        struct job_array *ja = &d->arrays[i];
        if (!a)
            return sharr__fail(SHARR_EINVAL, "array %zu is NULL", i);
        snprintf(ja->name, sizeof ja->name, "%s", sharr_array_name(a));
        sharr_array_id(a, ja->id);
        ja->dtype = sharr_array_dtype(a);
        ja->open_flags = sharr__array_open_flags(a);
        ja->rows = sharr_array_rows(a);
        ja->row_bytes = sharr_array_row_bytes(a);
        ja->whole = (spec->whole >> i) & 1u;
        if (ja->whole)
            continue;
        if (have_rows && ja->rows != *rows)
            return sharr__fail(SHARR_ESHAPE, "array '%s' has %zu rows, the "
                               "job's other arrays %zu", ja->name,
                               (size_t)ja->rows, *rows);
        *rows = ja->rows;
        have_rows = true;
    }
    return 0;
}

/* A task job: one task per block, its arrays whole, dynamic,1 (or
 * static,1).  *spec is a private copy the caller may change. */
static int describe_tasks(sharr_job_spec *spec, size_t task_max)
{
    size_t need;

    if (spec->rows)
        return sharr__fail(SHARR_EINVAL, "a job of %zu tasks has rows = %zu:"
                           " its blocks are its tasks (rows must be 0)",
                           spec->ntasks, spec->rows);
    if (spec->task_arg_size > SHARR_TASK_ARG_MAX ||
        (spec->task_arg_size && !spec->task_args))
        return sharr__fail(SHARR_EINVAL, "task records of %zu bytes: the "
                           "limit is %d, and task_args must not be NULL",
                           spec->task_arg_size, SHARR_TASK_ARG_MAX);
    if (!sharr__mul_ok(spec->ntasks, spec->task_arg_size, &need) ||
        need > task_max)
        return sharr__fail(SHARR_EINVAL, "%zu task records of %zu bytes need "
                           "%zu bytes; the pool reserved %zu "
                           "(sharr_pool_opts.task_bytes)", spec->ntasks,
                           spec->task_arg_size, need, task_max);
    if (spec->schedule.chunk > 1)
        return sharr__fail(SHARR_EINVAL, "schedule chunk %zu: a task job "
                           "runs one task per block", spec->schedule.chunk);
    spec->schedule.kind = spec->schedule.kind == SHARR_SCHED_STATIC
                              ? SHARR_SCHED_STATIC : SHARR_SCHED_DYNAMIC;
    spec->schedule.chunk = 1;
    spec->whole = ~0u;
    spec->rows = spec->ntasks;
    return 0;
}

int sharr__describe(const sharr_job_spec *user, size_t nworkers,
                    struct job_desc *d, uint64_t *guided, size_t results_max,
                    size_t task_max, size_t track_max)
{
    sharr_job_spec spec_copy, *spec = &spec_copy;
    size_t rows = 0, need;
    int err;

    if (!user || !user->kernel)
        return sharr__fail(SHARR_EINVAL, "the job has no kernel");
    if (user->arg_size > SHARR_JOB_ARG_MAX || (user->arg_size && !user->arg))
        return sharr__fail(SHARR_EINVAL, "argument of %zu bytes: the limit "
                           "is %d; put big inputs in a shared array",
                           user->arg_size, SHARR_JOB_ARG_MAX);
    spec_copy = *user;
    if (spec->ntasks && (err = describe_tasks(spec, task_max)) < 0)
        return err;
    memset(d, 0, offsetof(struct job_desc, arrays));
    memset(&d->rows, 0,
           offsetof(struct job_desc, arg) - offsetof(struct job_desc, rows));
    if ((err = describe_arrays(spec, d, &rows)) < 0 ||
        (err = resolve_schedule(&spec->schedule, rows, nworkers, d,
                                guided)) < 0)
        return err;
    d->kernel = spec->kernel;
    d->result_size = spec->result_size;
    d->per_row = spec->per_row_results != 0;
    d->notify_each = spec->progress || spec->callback ||
                     spec->error_callback;
    d->plain_errors = spec->plain_errors != 0;
    d->track = d->nblocks <= track_max;
    d->keep_going = spec->keep_going != 0;
    d->task_arg_size = spec->ntasks ? spec->task_arg_size : 0;
    d->arg_size = spec->arg_size;
    if (!d->track && (spec->callback || spec->error_callback))
        return sharr__fail(SHARR_EINVAL, "%zu blocks: callbacks need block "
                           "statuses, kept for jobs of at most %zu blocks "
                           "on this pool", (size_t)d->nblocks, track_max);
    if (!sharr__mul_ok(d->per_row ? rows : d->nblocks, d->result_size, &need)
        || need > results_max)
        return sharr__fail(SHARR_EINVAL, "results need %zu bytes; the pool "
                           "reserved %zu (sharr_pool_opts.results_bytes)",
                           need, results_max);
    return 0;
}
