/*
 * blas.c - OpenBLAS, loaded when a kernel first needs it (see blas.h for
 * why it is not linked).  Once per process (pthread_once): a pool worker
 * forked before the caller loaded it loads it itself, one forked after
 * inherits the loaded table.  It is loaded RTLD_GLOBAL, as linking would
 * have, so that the pool finds openblas_set_num_threads in workers forked
 * later and the host's own BLAS calls, if any, reach the same library.
 */
#define _GNU_SOURCE
#include "blas.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SHARR_BLAS_SONAME
#define SHARR_BLAS_SONAME "libopenblas.so.0"
#endif

static struct sharr__blas table;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char failure[512];     /* why the load failed; "" if it did not */

/* dlsym's void * into a function pointer (POSIX guarantees it converts). */
static bool resolve(void *lib, const char *name, void *fn)
{
    void *p = dlsym(lib, name);

    memcpy(fn, &p, sizeof p);
    if (!p)
        snprintf(failure, sizeof failure, "%s (OpenBLAS) has no %s",
                 SHARR_BLAS_SONAME, name);
    return p != NULL;
}

static void load_once(void)
{
    int n = sharr__blas_threads_wanted();
    /* A worker that wants one thread: OpenBLAS's constructor reads this to
     * size its thread server, which then has no thread to start (a worker
     * is single-threaded: setenv is safe here). */
    bool one = n == 1 && !getenv("OPENBLAS_NUM_THREADS");
    if (one)
        setenv("OPENBLAS_NUM_THREADS", "1", 0);
    void *lib = dlopen(SHARR_BLAS_SONAME, RTLD_NOW | RTLD_GLOBAL);
    if (one)
        unsetenv("OPENBLAS_NUM_THREADS");

    if (!lib) {
        const char *why = dlerror();
        snprintf(failure, sizeof failure, "cannot load OpenBLAS, which this "
                 "operation needs: %s (Debian: apt-get install "
                 "libopenblas0)", why ? why : SHARR_BLAS_SONAME);
        return;
    }
    if (!resolve(lib, "cblas_saxpy", &table.saxpy) ||
        !resolve(lib, "cblas_daxpy", &table.daxpy) ||
        !resolve(lib, "cblas_caxpy", &table.caxpy) ||
        !resolve(lib, "cblas_zaxpy", &table.zaxpy) ||
        !resolve(lib, "cblas_sgemm", &table.sgemm) ||
        !resolve(lib, "cblas_dgemm", &table.dgemm) ||
        !resolve(lib, "cblas_cgemm", &table.cgemm) ||
        !resolve(lib, "cblas_zgemm", &table.zgemm))
        return;
    /* A worker's count (sharr_pool_opts.blas_threads); the caller keeps
     * OpenBLAS's own default. */
    if (n > 0)
        sharr__blas_threads_apply(lib, n);
}

int sharr__blas_load(void)
{
    pthread_once(&once, load_once);
    if (failure[0])
        return sharr__fail(SHARR_ENOENT, "%s", failure);
    return 0;
}

const struct sharr__blas *sharr__blas(void)
{
    if (sharr__blas_load() < 0)
        abort(); /* see blas.h: the caller's load succeeded */
    return &table;
}
