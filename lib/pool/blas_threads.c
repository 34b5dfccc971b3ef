/*
 * blas_threads.c - how many OpenBLAS threads a worker runs.  Each worker
 * asks for blas_threads (default 1) so that N workers never run N x cores
 * BLAS threads.  libsharr does not link OpenBLAS (loading it costs about
 * 2 ms at every start of every program): lib/ops/blas.c loads it when a
 * kernel first needs it and then applies the count asked here.  If the host
 * program links OpenBLAS itself, it is in the process already and the count
 * is applied at once, for the host's own kernels too.
 *
 * One thread needs no thread server.  In a forked child,
 * openblas_set_num_threads() first restarts the whole server the parent had
 * (one thread per extra CPU, each spinning on sched_yield for about 0.1 s
 * before it sleeps), even when asked for one thread, and those threads
 * compete with the workers for the CPUs.  So for one thread the count the
 * pthreads build reads (its exported blas_cpu_number) is set instead; the
 * other builds (OpenMP, serial) get the call.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <dlfcn.h>
#include <string.h>

static int wanted;

void sharr__blas_threads_apply(void *lib, int n)
{
    void *p = dlsym(lib, "openblas_set_num_threads");
    void *q = dlsym(lib, "openblas_get_parallel");
    int *cpus = dlsym(lib, "blas_cpu_number");
    void (*set)(int) = NULL;
    int (*parallel)(void) = NULL;

    /* dlsym's void * into function pointers (POSIX: it converts). */
    memcpy(&set, &p, sizeof p);
    memcpy(&parallel, &q, sizeof q);
    if (n <= 1 && cpus && parallel && parallel() == 1)
        *cpus = 1;
    else if (set)
        set(n > 0 ? n : 1);
}

void sharr__blas_threads_set(int n)
{
    wanted = n;
    /* Found only if OpenBLAS is loaded already (linked by the host, or
     * loaded RTLD_GLOBAL by blas.c before this worker forked). */
    sharr__blas_threads_apply(RTLD_DEFAULT, n);
}

int sharr__blas_threads_wanted(void)
{
    return wanted;
}
