/*
 * blas_threads.c - how many OpenBLAS threads a worker runs.  Each worker
 * asks for blas_threads (default 1) so that N workers never run N x cores
 * BLAS threads.  libsharr does not link OpenBLAS (loading it costs about
 * 2 ms at every start of every program): lib/ops/blas.c loads it when a
 * kernel first needs it and then applies the count asked here.  If the host
 * program links OpenBLAS itself, it is in the process already and the count
 * is applied at once, for the host's own kernels too.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <dlfcn.h>

static int wanted;

void sharr__blas_threads_set(int n)
{
    void (*set)(int);

    wanted = n;
    /* dlsym returns a void *; POSIX guarantees it converts to a function
     * pointer.  Found only if OpenBLAS is loaded already (linked by the
     * host, or loaded RTLD_GLOBAL by blas.c before this worker forked). */
    *(void **)&set = dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
    if (set)
        set(n);
}

int sharr__blas_threads_wanted(void)
{
    return wanted;
}
