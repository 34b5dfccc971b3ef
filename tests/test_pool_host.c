/*
 * test_pool_host.c - the pool inside a hostile host: threads (one inside
 * HDF5), the host's own SIGCHLD reaper and waitpid(-1), signal handlers that
 * exit, fds opened after the pool, the pool handed between threads, forked
 * children that call into the parent's pool, pid reuse; and the pool's own
 * edges: bounded waits, the abort race, jobs outliving their pool, the
 * worker array cache, worker stdout.
 */
#include "testutil.h"

#include <dirent.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <hdf5.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/pidfd.h>

TestSuite(host, .init = tu_setup, .fini = tu_cleanup, .timeout = 60);

static int noop_kernel(const sharr_block *b)
{
    (void)b;
    return 0;
}

static int run_noop(sharr_pool *p, size_t rows, double timeout)
{
    sharr_job_spec spec = {.kernel = noop_kernel, .rows = rows};
    sharr_job *job;
    int err = sharr_pool_submit(p, &spec, &job);
    if (err < 0)
        return err;
    err = sharr_job_wait(job, timeout);
    sharr_job_free(job);
    return err;
}

/* Kill worker i (by the test, as an OOM killer would) and wait until the
 * pool shows its replacement. */
static void kill_and_await_replacement(sharr_pool *p, int i, int sig)
{
    pid_t victim = sharr_pool_worker_pid(p, i);
    cr_assert_gt(victim, 0);
    cr_assert_eq(kill(victim, sig), 0);
    double t0 = tu_now();
    while (sharr_pool_worker_pid(p, i) == victim ||
           sharr_pool_worker_pid(p, i) <= 0) {
        /* Old pools replaced only inside a pool call: give them one. */
        run_noop(p, 2, 2.0);
        cr_assert_lt(tu_now() - t0, 10.0, "worker %d was not replaced", i);
        usleep(1000);
    }
}

/* ---- workers come from the supervisor, not from the caller ---- */

Test(host, workers_are_not_children_of_the_caller)
{
    sharr_pool *p = tu_pool(2);
    for (int i = 0; i < 2; i++) {
        pid_t w = sharr_pool_worker_pid(p, i);
        cr_assert_neq(tu_parent_of(w), getpid(), "worker %d is our child", i);
        errno = 0;
        cr_assert_eq(waitpid(w, NULL, WNOHANG), -1);
        cr_assert_eq(errno, ECHILD);
    }
    kill_and_await_replacement(p, 0, SIGKILL);
    cr_assert_neq(tu_parent_of(sharr_pool_worker_pid(p, 0)), getpid(),
                  "the replacement is our child");
    sharr_pool_destroy(p);
}

/* The hex mask of field `key` ("SigCgt:" ...) in /proc/PID/status. */
static unsigned long long status_mask(pid_t pid, const char *key)
{
    char path[64], line[256];
    unsigned long long v = ~0ull;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0)
            v = strtoull(line + strlen(key), NULL, 16);
    fclose(f);
    return v;
}

static void usr1_handler(int sig)
{
    (void)sig;
}

Test(host, workers_start_with_default_signals_and_only_stdio_open)
{
    struct sigaction sa = {.sa_handler = usr1_handler};
    sigset_t usr2, old;
    sigaction(SIGUSR1, &sa, NULL);
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &usr2, &old);
    signal(SIGPIPE, SIG_IGN);
    int early = open("/proc/self/exe", O_RDONLY); /* no O_CLOEXEC */
    sharr_pool *p = tu_pool(2);
    int late = open("/proc/self/exe", O_RDONLY);
    kill_and_await_replacement(p, 1, SIGKILL);
    for (int i = 0; i < 2; i++) {
        pid_t w = sharr_pool_worker_pid(p, i);
        /* Signals 32 and 33 are glibc's own (thread cancel, setxid). */
        cr_assert_eq(status_mask(w, "SigCgt:") & ~(3ull << 31), 0,
                     "worker %d has handlers", i);
        cr_assert_eq(status_mask(w, "SigBlk:"), 0, "worker %d blocks signals",
                     i);
        /* As at exec: what the host ignores stays ignored (SIGPIPE, and
         * whatever the test was started with), plus SIGINT. */
        unsigned long long want = status_mask(getpid(), "SigIgn:") |
                                  (1ull << (SIGINT - 1));
        cr_assert(want & (1ull << (SIGPIPE - 1)));
        cr_assert_eq(status_mask(w, "SigIgn:"), want, "worker %d ignores "
                     "%llx, the host %llx", i, status_mask(w, "SigIgn:"),
                     want);
        char dir[64], link[384], target[256];
        snprintf(dir, sizeof dir, "/proc/%d/fd", (int)w);
        DIR *d = opendir(dir);
        struct dirent *e;
        int n = 0;
        cr_assert_not_null(d);
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            int fd = atoi(e->d_name);
            snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
            ssize_t len = readlink(link, target, sizeof target - 1);
            target[len > 0 ? len : 0] = '\0';
            cr_assert(fd <= 2 || strstr(target, "eventfd") != NULL,
                      "worker %d has fd %d open: %s", i, fd, target);
            n++;
        }
        closedir(d);
        cr_assert_leq(n, 4);
    }
    /* The supervisor ignores what a terminal or a kill of the process group
     * sends: the caller decides, and keeps its pool while it cleans up. */
    pid_t sup = tu_parent_of(sharr_pool_worker_pid(p, 0));
    int group[] = {SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGTSTP};
    for (size_t k = 0; k < sizeof group / sizeof *group; k++)
        cr_assert_eq(kill(sup, group[k]), 0);
    usleep(20000);
    char state;
    tu_proc_stat(sup, &state, NULL, NULL);
    cr_assert(state != 'T' && state != 'Z' && state != 'X',
              "the supervisor is in state %c", state);
    cr_assert_eq(run_noop(p, 8, 10.0), 0, "%s", sharr_errmsg());
    sharr_pool_destroy(p);
    close(early);
    close(late);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
}

static atomic_int hdf5_stop;

static void *hdf5_loop(void *path)
{
    while (!atomic_load(&hdf5_stop)) {
        hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        if (f >= 0)
            H5Fclose(f);
    }
    return NULL;
}

Test(host, a_thread_inside_hdf5_while_workers_are_replaced, .timeout = 40)
{
    char dir[] = "/tmp/sharr-h5-XXXXXX", file[64], busy[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/list.h5", dir);
    snprintf(busy, sizeof busy, "%s/busy.h5", dir);
    hid_t f = H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(H5Gcreate2(f, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Fclose(f);

    sharr_pool *p = tu_pool(2);
    pthread_t t;
    atomic_store(&hdf5_stop, 0);
    cr_assert_eq(pthread_create(&t, NULL, hdf5_loop, busy), 0);
    for (int round = 0; round < 6; round++) {
        kill_and_await_replacement(p, round % 2, SIGKILL);
        sharr_h5_entry *list = NULL;
        size_t n = 0;
        /* With HDF5's global mutex inherited locked, this never returns. */
        cr_assert_eq(sharr_h5_list(p, file, &list, &n), 0, "%s",
                     sharr_errmsg());
        sharr_h5_list_free(list);
    }
    atomic_store(&hdf5_stop, 1);
    pthread_join(t, NULL);
    sharr_pool_destroy(p);
    unlink(file);
    unlink(busy);
    rmdir(dir);
}

/* The host reaps every child it can, from a SIGCHLD handler and a thread
 * blocked in waitpid(-1): neither may see a worker. */
static pid_t reaped[64];
static atomic_int nreaped;

static void reap_all(int sig)
{
    (void)sig;
    pid_t pid;
    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
        int k = atomic_fetch_add(&nreaped, 1);
        if (k < 64)
            reaped[k] = pid;
    }
}

static void *waitpid_loop(void *arg)
{
    (void)arg;
    for (;;) {
        pid_t pid = waitpid(-1, NULL, 0);
        if (pid > 0) {
            int k = atomic_fetch_add(&nreaped, 1);
            if (k < 64)
                reaped[k] = pid;
        } else if (errno == ECHILD) {
            usleep(1000);
        }
    }
    return NULL;
}

static int segv_on_0(const sharr_block *b)
{
    if (b->index == 0)
        raise(SIGSEGV);
    return 0;
}

Test(host, a_sigchld_reaper_and_waitpid_loop_never_see_a_worker)
{
    sharr_pool *p = tu_pool(2);
    pid_t workers[8];
    int nw = 0;
    struct sigaction sa = {.sa_handler = reap_all, .sa_flags = SA_RESTART};
    pthread_t t;

    sigaction(SIGCHLD, &sa, NULL);
    cr_assert_eq(pthread_create(&t, NULL, waitpid_loop, NULL), 0);
    for (int round = 0; round < 3; round++) {
        workers[nw++] = sharr_pool_worker_pid(p, 0);
        workers[nw++] = sharr_pool_worker_pid(p, 1);
        sharr_job_spec spec = {.kernel = segv_on_0, .rows = 2};
        cr_assert_eq(sharr_pool_run(p, &spec), SHARR_EWORKER);
        /* The pool, not the host, got the status. */
        cr_assert(strstr(sharr_errmsg(), "signal 11") != NULL, "%s",
                  sharr_errmsg());
        cr_assert_eq(run_noop(p, 8, 10.0), 0, "%s", sharr_errmsg());
    }
    for (int k = 0; k < atomic_load(&nreaped) && k < 64; k++)
        for (int i = 0; i < nw; i++)
            cr_assert_neq(reaped[k], workers[i], "the host reaped worker "
                          "pid %d", (int)workers[i]);
    sharr_pool_destroy(p);
    pthread_cancel(t);
    pthread_join(t, NULL);
    signal(SIGCHLD, SIG_DFL);
}

/* A host whose SIGTERM handler calls exit(), with an atexit cleanup. */
static atomic_int *atexit_in_other;
static pid_t host_pid;

static void host_atexit(void)
{
    if (getpid() != host_pid)
        atomic_fetch_add(atexit_in_other, 1);
}

static void term_exits(int sig)
{
    (void)sig;
    exit(0);
}

Test(host, a_host_sigterm_handler_that_exits_never_runs_in_a_worker)
{
    atexit_in_other = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(atexit_in_other, MAP_FAILED);
    host_pid = getpid();
    atexit(host_atexit);
    signal(SIGTERM, term_exits);
    sharr_pool *p = tu_pool(2);
    kill_and_await_replacement(p, 1, SIGTERM);
    cr_assert_eq(atomic_load(atexit_in_other), 0, "the host's atexit "
                 "handler ran in a worker");
    cr_assert_eq(run_noop(p, 64, 10.0), 0, "%s", sharr_errmsg());
    sharr_pool_destroy(p);
    signal(SIGTERM, SIG_DFL);
}

Test(host, popen_after_the_pool_is_not_inherited_by_a_replacement)
{
    sharr_pool *p = tu_pool(2);
    FILE *f = popen("cat >/dev/null", "w");
    cr_assert_not_null(f);
    kill_and_await_replacement(p, 0, SIGKILL);
    cr_assert_eq(run_noop(p, 4, 10.0), 0, "%s", sharr_errmsg());
    fputs("data\n", f);
    /* cat ends only when every write end is closed: a replacement forked
     * from the caller holds one, and pclose() blocks until the timeout. */
    double t0 = tu_now();
    pclose(f);
    cr_assert_lt(tu_now() - t0, 2.0);
    sharr_pool_destroy(p);
}

static void *create_pool_thread(void *out)
{
    *(sharr_pool **)out = tu_pool(2);
    return NULL;
}

static void *replace_in_thread(void *pool)
{
    kill_and_await_replacement(pool, 1, SIGKILL);
    return NULL;
}

Test(host, a_pool_handed_between_threads_keeps_its_workers)
{
    sharr_pool *p = NULL;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, create_pool_thread, &p), 0);
    pthread_join(t, NULL);       /* the creating thread is gone */
    pid_t w0 = sharr_pool_worker_pid(p, 0);
    usleep(100000);
    cr_assert_eq(run_noop(p, 16, 10.0), 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_pool_worker_pid(p, 0), w0, "worker 0 died with the "
                 "thread that created the pool");
    cr_assert_eq(pthread_create(&t, NULL, replace_in_thread, p), 0);
    pthread_join(t, NULL);       /* the thread that replaced one is gone */
    pid_t w1 = sharr_pool_worker_pid(p, 1);
    usleep(100000);
    cr_assert_eq(run_noop(p, 16, 10.0), 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_pool_worker_pid(p, 1), w1, "the replacement died with "
                 "the thread that caused it");
    sharr_pool_destroy(p);
}

Test(host, a_forked_child_cannot_touch_its_parents_pool)
{
    sharr_pool *p = tu_pool(2);
    pid_t w[2] = {sharr_pool_worker_pid(p, 0), sharr_pool_worker_pid(p, 1)};
    pid_t child = fork();
    if (child == 0) {
        sharr_job_spec spec = {.kernel = noop_kernel, .rows = 4};
        int bad = sharr_pool_run(p, &spec) != SHARR_EINVAL;
        sharr_pool_destroy(p);   /* frees the child's copy only */
        _exit(bad);
    }
    int st = tu_reap(child);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "submit in the child "
              "was not EINVAL");
    cr_assert_eq(run_noop(p, 16, 10.0), 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_pool_worker_pid(p, 0), w[0]);
    cr_assert_eq(sharr_pool_worker_pid(p, 1), w[1]);
    child = fork();
    if (child == 0) {
        sharr_pool_terminate(p);
        _exit(0);
    }
    tu_reap(child);
    cr_assert_eq(run_noop(p, 16, 10.0), 0, "%s", sharr_errmsg());
    cr_assert_eq(kill(w[0], 0), 0, "the child's terminate killed a worker");
    sharr_pool_destroy(p);
}

/* The pool remembers its owner's pid without a system call per job: a
 * child made without fork()'s handlers (glibc's _Fork, a raw fork system
 * call) must still be told apart from the owner. */
Test(host, a_child_of_a_raw_fork_cannot_touch_its_parents_pool)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = noop_kernel, .rows = 4};

    cr_assert_eq(sharr_pool_run(p, &spec), 0, "%s", sharr_errmsg());
    for (int how = 0; how < 2; how++) {
        pid_t child = how == 0 ? _Fork() : (pid_t)syscall(SYS_fork);
        if (child == 0) {
            int bad = sharr_pool_run(p, &spec) != SHARR_EINVAL;
            _exit(bad);
        }
        cr_assert_gt(child, 0);
        int st = tu_reap(child);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: submit in "
                  "the child was not EINVAL", how == 0 ? "_Fork" : "SYS_fork");
        cr_assert_eq(sharr_pool_run(p, &spec), 0, "%s", sharr_errmsg());
    }
    sharr_pool_destroy(p);
}

/* Root only: make the next fork get pid `want` (ns_last_pid). */
static pid_t fork_with_pid(pid_t want)
{
    int fd = open("/proc/sys/kernel/ns_last_pid", O_RDWR);
    if (fd < 0)
        return -1;
    for (int attempt = 0; attempt < 50; attempt++) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%d", (int)want - 1);
        if (flock(fd, LOCK_EX) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
            close(fd);
            return -1;
        }
        pid_t pid = fork();
        if (pid == 0) {
            pause();
            _exit(0);
        }
        flock(fd, LOCK_UN);
        if (pid == want) {
            close(fd);
            return pid;
        }
        kill(pid, SIGKILL);
        tu_reap(pid);
    }
    close(fd);
    return -1;
}

Test(host, a_reused_pid_of_a_dead_worker_is_never_signalled)
{
    if (geteuid() != 0) {
        cr_skip_test("skipped: needs root for ns_last_pid");
    }
    struct sigaction sa = {.sa_handler = reap_all, .sa_flags = SA_RESTART};
    sigaction(SIGCHLD, &sa, NULL);
    sharr_pool *p = tu_pool(2);
    pid_t victim = sharr_pool_worker_pid(p, 1);
    kill(victim, SIGKILL);
    /* Wait until the pid is free (reaped by whoever may reap it). */
    for (int i = 0; i < 500 && kill(victim, 0) == 0; i++)
        usleep(2000);
    signal(SIGCHLD, SIG_DFL);
    pid_t innocent = fork_with_pid(victim);
    if (innocent < 0) {
        sharr_pool_destroy(p);
        cr_skip_test("skipped: could not get pid %d again", (int)victim);
    }
    int pidfd = pidfd_open(innocent, 0);
    sharr_pool_terminate(p);
    usleep(50000);
    struct pollfd fd = {pidfd, POLLIN, 0};
    cr_assert_eq(poll(&fd, 1, 0), 0, "the process that got a dead worker's "
                 "pid was killed");
    kill(innocent, SIGKILL);
    tu_reap(innocent);
    close(pidfd);
}

/* ---- a kernel without pidfds (before 5.3), or valgrind 3.19 ---- */

/* Set (when a test maps it before creating its pool) once block 0 runs. */
static volatile int *block_0_started;

static int block_forever_on_0(const sharr_block *b)
{
    if (b->index == 0) {
        if (block_0_started)
            *block_0_started = 1;
        for (;;)
            pause();
    }
    return 0;
}


/* From now on pidfd_open and pidfd_send_signal fail with ENOSYS in this
 * process and every process it forks. */
static void deny_pidfds(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_send_signal, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
    };
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    cr_assert_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
    cr_assert_lt(pidfd_open(getpid(), 0), 0);
    cr_assert_eq(errno, ENOSYS);
}

Test(host, without_pidfds_the_pool_still_reaps_replaces_and_dies_with_us)
{
    deny_pidfds();
    sharr_pool *p = tu_pool(2);
    sharr_job_spec segv = {.kernel = segv_on_0, .rows = 2};
    cr_assert_eq(sharr_pool_run(p, &segv), SHARR_EWORKER);
    cr_assert(strstr(sharr_errmsg(), "signal 11") != NULL, "%s",
              sharr_errmsg());
    cr_assert_eq(run_noop(p, 8, 10.0), 0, "%s", sharr_errmsg());
    kill_and_await_replacement(p, 1, SIGKILL);
    sharr_job_spec stuck = {.kernel = block_forever_on_0, .rows = 2};
    sharr_job *job;
    cr_assert_eq(sharr_pool_submit(p, &stuck, &job), 0);
    int err = sharr_job_wait(job, 0.2);
    cr_assert_eq(err, SHARR_ETIMEDOUT, "%d: %s", err, sharr_errmsg());
    sharr_job_free(job);
    cr_assert_eq(run_noop(p, 8, 10.0), 0, "%s", sharr_errmsg());
    pid_t w[2] = {sharr_pool_worker_pid(p, 0), sharr_pool_worker_pid(p, 1)};
    sharr_pool_destroy(p);
    errno = 0;
    cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "a child is left");
    cr_assert_eq(errno, ECHILD);
    cr_assert(kill(w[0], 0) < 0 && kill(w[1], 0) < 0, "a worker survived");

    /* A caller killed outright still takes its workers down. */
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t caller = fork();
    if (caller == 0) {
        sharr_pool *q = tu_pool(2);
        pid_t qw[2] = {sharr_pool_worker_pid(q, 0), sharr_pool_worker_pid(q, 1)};
        (void)!write(fds[1], qw, sizeof qw);
        pause();
        _exit(0);
    }
    cr_assert_eq(read(fds[0], w, sizeof w), (ssize_t)sizeof w);
    kill(caller, SIGKILL);
    tu_reap(caller);
    double t0 = tu_now();
    while (kill(w[0], 0) == 0 || kill(w[1], 0) == 0) {
        cr_assert_lt(tu_now() - t0, 3.0, "workers outlived their caller");
        usleep(10000);
    }
    close(fds[0]);
    close(fds[1]);
}

/* ---- bounded waits ---- */

Test(host, poll_zero_notices_a_dead_worker)
{
    block_0_started = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(block_0_started != MAP_FAILED);
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = block_forever_on_0, .rows = 2};
    sharr_job *job;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    /* Killed while it runs block 0, not before it took it (a worker that
     * dies idle is only replaced, and its replacement takes block 0). */
    double t0 = tu_now();
    while (!*block_0_started) {
        cr_assert_lt(tu_now() - t0, 10.0, "block 0 never started");
        usleep(1000);
    }
    pid_t w0 = sharr_pool_worker_pid(p, 0);
    cr_assert_gt(w0, 0);
    kill(w0, SIGKILL);
    t0 = tu_now();
    while (sharr_job_poll(job, 0) == 0)
        cr_assert_lt(tu_now() - t0, 3.0, "poll(job, 0) never saw the death");
    cr_assert_eq(sharr_job_wait(job, 0), SHARR_EWORKER);
    cr_assert(strstr(sharr_errmsg(), "signal 9") != NULL, "%s",
              sharr_errmsg());
    sharr_job_free(job);
    sharr_pool_destroy(p);
    munmap((void *)block_0_started, 4096);
    block_0_started = NULL;
}

static atomic_int *init_calls;

static int slow_replacement_init(int id, void *arg)
{
    (void)id;
    int n = (int)(intptr_t)arg;
    if (atomic_fetch_add(init_calls, 1) >= n)
        sleep(10); /* a replacement: far longer than any bound below */
    return 0;
}

static int segv_on_0_late(const sharr_block *b)
{
    if (b->index == 0) {
        usleep(20000);
        raise(SIGSEGV);
    }
    return 0;
}

Test(host, wait_is_bounded_while_a_replacement_initializes_slowly)
{
    init_calls = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sharr_pool_opts o = {.workers = 2, .init = slow_replacement_init,
                         .init_arg = (void *)(intptr_t)2};
    sharr_pool *p;
    cr_assert_eq(sharr_pool_create(&o, &p), 0, "%s", sharr_errmsg());
    sharr_job_spec spec = {.kernel = segv_on_0_late, .rows = 4,
                           .schedule = {SHARR_SCHED_STATIC, 1}};
    sharr_job *job;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    double t0 = tu_now();
    int err = sharr_job_wait(job, 0.5);
    /* Bounds with room for a loaded machine; waiting for the replacement
     * would take 10 s. */
    cr_assert_lt(tu_now() - t0, 3.0, "wait(0.5) took %.2f s", tu_now() - t0);
    cr_assert(err == SHARR_EWORKER || err == SHARR_ETIMEDOUT, "%d", err);
    sharr_job_free(job);
    t0 = tu_now();
    sharr_pool_terminate(p);
    cr_assert_lt(tu_now() - t0, 3.0, "terminate took %.2f s", tu_now() - t0);
    munmap(init_calls, 4096);
}

static int replacement_init_fails(int id, void *arg)
{
    if (atomic_fetch_add(init_calls, 1) >= (int)(intptr_t)arg)
        return sharr_fail(SHARR_EIO, "no device left for worker %d", id);
    return 0;
}

Test(host, a_worker_that_cannot_be_replaced_fails_the_job_instead_of_hanging,
     .timeout = 20)
{
    init_calls = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sharr_pool_opts o = {.workers = 2, .init = replacement_init_fails,
                         .init_arg = (void *)(intptr_t)2};
    sharr_pool *p;
    cr_assert_eq(sharr_pool_create(&o, &p), 0, "%s", sharr_errmsg());
    /* Worker 0 dies while idle; its static share of the next job can only
     * be run by a replacement, whose initializer fails. */
    kill(sharr_pool_worker_pid(p, 0), SIGKILL);
    sharr_job_spec spec = {.kernel = noop_kernel, .rows = 4};
    sharr_job *job;
    int err = sharr_pool_submit(p, &spec, &job);
    if (err == 0) {
        err = sharr_job_wait(job, -1);
        sharr_job_free(job);
    }
    if (err == 0) /* the job ran before the worker was gone: try again */
        err = run_noop(p, 4, -1);
    for (int i = 0; i < 100 && err == 0; i++) {
        usleep(20000);
        err = run_noop(p, 4, -1);
    }
    cr_assert_eq(err, SHARR_EWORKER, "%d: %s", err, sharr_errmsg());
    err = run_noop(p, 4, -1);
    cr_assert_eq(err, SHARR_EWORKER);
    cr_assert(strstr(sharr_errmsg(), "no device left for worker 0") != NULL,
              "%s", sharr_errmsg());
    sharr_pool_destroy(p);
}

/* ---- the abort race ---- */

/* A shared scoreboard: which job the caller considers over, and how many
 * kernels ran for a job after that or are running now. */
struct board {
    atomic_uint over;        /* the last job whose wait returned */
    atomic_uint running;     /* kernels inside the body now */
    atomic_uint late;        /* kernels that started after their job ended */
};

struct race_arg {
    struct board *board;
    unsigned job;
};

static void cpu_relax_hog(void)
{
    __asm__ __volatile__("" ::: "memory");
}

static int racy_kernel(const sharr_block *b)
{
    const struct race_arg *a = b->arg;
    struct board *s = a->board;
    atomic_fetch_add(&s->running, 1);
    if (atomic_load(&s->over) >= a->job)
        atomic_fetch_add(&s->late, 1);
    if ((b->index * 2654435761u + a->job) % 7 == 0)
        sched_yield();           /* a preemption at a random point */
    int rc = b->index == 0 ? SHARR_EINVAL : 0;
    atomic_fetch_sub(&s->running, 1);
    return rc;
}

/* SHARR_RACE_SECONDS (default 8) sets how long it runs; the timeout allows
 * runs of up to about 6 minutes. */
Test(host, no_kernel_of_a_job_starts_or_runs_after_its_wait_returned,
     .timeout = 400)
{
    struct board *s = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    const char *env = getenv("SHARR_RACE_SECONDS");
    double secs = env ? atof(env) : 8.0;
    sharr_pool *p = tu_pool(3); /* more workers than cores: preemption */
    unsigned jobs = 0;
    double t0 = tu_now();
    pid_t hogs[2];

    /* Two processes that wake up every 100 us and spin a little make the
     * scheduler preempt workers anywhere, including between a claim and
     * the kernel. */
    for (int h = 0; h < 2; h++)
        if ((hogs[h] = fork()) == 0)
            for (;;) {
                for (int i = 0; i < 20000; i++)
                    cpu_relax_hog();
                usleep(100);
            }

    while (tu_now() - t0 < secs) {
        for (int k = 0; k < 200; k++) {
            struct race_arg a = {s, ++jobs};
            sharr_job_spec spec = {.kernel = racy_kernel, .rows = 64,
                                   .arg = &a, .arg_size = sizeof a,
                                   .plain_errors = 1,
                                   .schedule = {SHARR_SCHED_DYNAMIC, 1}};
            cr_assert_eq(sharr_pool_run(p, &spec), SHARR_EINVAL);
            atomic_store(&s->over, jobs);
            cr_assert_eq(atomic_load(&s->running), 0, "job %u: a kernel is "
                         "still running after wait returned", jobs);
        }
    }
    for (int h = 0; h < 2; h++) {
        kill(hogs[h], SIGKILL);
        tu_reap(hogs[h]);
    }
    cr_assert_eq(run_noop(p, 3, 10.0), 0);
    cr_assert_eq(atomic_load(&s->late), 0, "%u kernels started after their "
                 "job's wait returned (%u jobs)", atomic_load(&s->late), jobs);
    fprintf(stderr, "abort race: %u failing jobs in %.1f s, none late\n",
            jobs, tu_now() - t0);
    sharr_pool_destroy(p);
}

/* ---- cancel, stale kills, a stopped or dead supervisor ---- */

static int mark_kernel(const sharr_block *b)
{
    *(int *)b->result = 1;
    return 0;
}

Test(host, a_cancelled_job_never_reports_success_with_blocks_not_run)
{
    sharr_pool *p = tu_pool(2);
    for (int trial = 0; trial < 200; trial++) {
        sharr_job_spec spec = {.kernel = mark_kernel, .rows = 100,
                               .result_size = sizeof(int),
                               .schedule = {SHARR_SCHED_DYNAMIC, 1}};
        sharr_job *job;
        size_t done, total, ran = 0;
        cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
        sharr_job_cancel(job);
        int err = sharr_job_wait(job, 10);
        for (size_t i = 0; i < 100; i++)
            ran += *(const int *)sharr_job_result(job, i);
        sharr_job_progress(job, &done, &total);
        cr_assert(err == 0 || err == SHARR_ECANCELED, "%d", err);
        cr_assert(err != 0 || ran == 100, "trial %d: success with %zu of 100 "
                  "blocks run", trial, ran);
        cr_assert(err == 0 || ran < 100, "cancelled, yet every block ran");
        cr_assert_eq(done, ran, "progress says %zu, %zu ran", done, ran);
        sharr_job_free(job);
    }
    sharr_pool_destroy(p);
}

static int nap_on_0(const sharr_block *b)
{
    if (b->index == 0)
        usleep(300000);
    return 0;
}

static int nap_kernel_all(const sharr_block *b)
{
    (void)b;
    usleep(400000);
    return 0;
}

struct later {
    pid_t pid;
    int sig;
    useconds_t after;
};

static void *signal_later(void *arg)
{
    const struct later *l = arg;
    usleep(l->after);
    kill(l->pid, l->sig);
    return NULL;
}

Test(host, a_kill_asked_by_a_timeout_never_lands_in_the_next_job)
{
    sharr_pool *p = tu_pool(2);
    pid_t sup = tu_parent_of(sharr_pool_worker_pid(p, 0));
    sharr_job_spec slow = {.kernel = nap_on_0, .rows = 2};
    sharr_job *job;
    cr_assert_eq(sharr_pool_submit(p, &slow, &job), 0);
    /* The supervisor does not run while the kill is asked for; the block
     * ends by itself, and the wait returns. */
    kill(sup, SIGSTOP);
    cr_assert_eq(sharr_job_wait(job, 0.1), SHARR_ETIMEDOUT);
    sharr_job_free(job);
    struct later cont = {sup, SIGCONT, 200000};
    pthread_t t;
    pthread_create(&t, NULL, signal_later, &cont);
    /* The supervisor wakes up while the next job runs and carries out the
     * old command: it must not kill a worker inside that job. */
    sharr_job_spec next = {.kernel = nap_kernel_all, .rows = 2};
    cr_assert_eq(sharr_pool_run(p, &next), 0, "the next job was hit: %s",
                 sharr_errmsg());
    cr_assert_eq(run_noop(p, 2, 10.0), 0, "%s", sharr_errmsg());
    pthread_join(t, NULL);
    sharr_pool_destroy(p);
}

Test(host, a_stopped_supervisor_bounds_wait_and_terminate)
{
    sharr_pool *p = tu_pool(2);
    pid_t sup = tu_parent_of(sharr_pool_worker_pid(p, 0));
    sharr_job_spec stuck = {.kernel = block_forever_on_0, .rows = 2};
    sharr_job *job;
    cr_assert_eq(sharr_pool_submit(p, &stuck, &job), 0);
    usleep(20000);
    kill(sup, SIGSTOP);
    double t0 = tu_now();
    int err = sharr_job_wait(job, 0.3);
    cr_assert_lt(tu_now() - t0, 2.5, "wait(0.3) took %.2f s", tu_now() - t0);
    cr_assert(err == SHARR_ETIMEDOUT || err == SHARR_EWORKER, "%d", err);
    sharr_job_free(job);
    t0 = tu_now();
    sharr_pool_terminate(p);
    cr_assert_lt(tu_now() - t0, 3.0);
    errno = 0;
    cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1);
}

Test(host, poll_zero_notices_that_the_supervisor_died)
{
    sharr_pool *p = tu_pool(2);
    pid_t sup = tu_parent_of(sharr_pool_worker_pid(p, 0));
    sharr_job_spec stuck = {.kernel = block_forever_on_0, .rows = 2};
    sharr_job *job;
    cr_assert_eq(sharr_pool_submit(p, &stuck, &job), 0);
    kill(sup, SIGKILL);
    double t0 = tu_now();
    while (sharr_job_poll(job, 0) == 0)
        cr_assert_lt(tu_now() - t0, 3.0, "poll(job, 0) never noticed");
    cr_assert_eq(sharr_job_wait(job, 0), SHARR_EWORKER);
    cr_assert(strstr(sharr_errmsg(), "supervisor") != NULL, "%s",
              sharr_errmsg());
    sharr_job_free(job);
    sharr_pool_destroy(p);
}

Test(host, a_stopped_idle_worker_is_killed_and_replaced_at_a_timeout)
{
    sharr_pool *p = tu_pool(2);
    pid_t victim = sharr_pool_worker_pid(p, 1);
    usleep(10000);
    kill(victim, SIGSTOP);
    usleep(10000);
    sharr_job_spec spec = {.kernel = noop_kernel, .rows = 2,
                           .schedule = {SHARR_SCHED_STATIC, 0}};
    sharr_job *job;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    int err = sharr_job_wait(job, 0.3);
    sharr_job_free(job);
    if (err == 0) { /* it had joined before it stopped: nothing to show */
        kill(victim, SIGCONT);
        sharr_pool_destroy(p);
        cr_skip_test("skipped: worker 1 joined before it was stopped");
    }
    cr_assert_eq(err, SHARR_ETIMEDOUT, "%s", sharr_errmsg());
    cr_assert(strstr(sharr_errmsg(), "worker 1") != NULL, "%s",
              sharr_errmsg());
    cr_assert_eq(run_noop(p, 2, 10.0), 0, "%s", sharr_errmsg());
    cr_assert_neq(sharr_pool_worker_pid(p, 1), victim);
    sharr_pool_destroy(p);
}

static void *read_stdin(void *arg)
{
    char line[64];
    (void)arg;
    (void)!fgets(line, sizeof line, stdin);
    return NULL;
}

Test(host, create_while_another_thread_reads_stdin)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t child = fork();
    if (child == 0) {
        dup2(fds[0], 0);
        pthread_t t;
        pthread_create(&t, NULL, read_stdin, NULL);
        usleep(50000); /* the thread now holds stdin's lock in fgets */
        sharr_pool *p;
        sharr_pool_opts o = {.workers = 1};
        int err = sharr_pool_create(&o, &p);
        sharr_pool_destroy(p);
        _exit(err == 0 ? 0 : 1);
    }
    double t0 = tu_now();
    int st = 0;
    while (waitpid(child, &st, WNOHANG) == 0) {
        if (tu_now() - t0 > 5.0) {
            kill(child, SIGKILL);
            tu_reap(child);
            cr_assert_fail("sharr_pool_create blocked on stdin's lock");
        }
        usleep(10000);
    }
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(fds[0]);
    close(fds[1]);
}

/* ---- jobs outliving their pool ---- */

static int result_kernel(const sharr_block *b)
{
    *(size_t *)b->result = b->r0 + 100;
    return 0;
}

Test(host, a_job_outlives_its_pool_as_a_valid_handle)
{
    sharr_pool *p = tu_pool(2);
    sharr_job_spec spec = {.kernel = result_kernel, .rows = 10,
                           .result_size = sizeof(size_t)};
    sharr_job *job;
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    sharr_pool_destroy(p);       /* drains the job, keeps the handle */
    cr_assert_eq(sharr_job_wait(job, 1), 0, "%s", sharr_errmsg());
    cr_assert_eq(*(const size_t *)sharr_job_result(job, 0), 100);
    sharr_job_free(job);         /* once, and only here */

    p = tu_pool(2);
    sharr_job_spec stuck = {.kernel = block_forever_on_0, .rows = 2};
    cr_assert_eq(sharr_pool_submit(p, &stuck, &job), 0);
    sharr_pool_terminate(p);
    cr_assert_eq(sharr_job_wait(job, 1), SHARR_ECANCELED);
    cr_assert(strstr(sharr_errmsg(), "terminated") != NULL, "%s",
              sharr_errmsg());
    sharr_job_free(job);
}

/* ---- the worker array cache ---- */

static int copy_kernel(const sharr_block *b)
{
    const double *x = b->data[0];
    double *y = b->data[1];
    for (size_t i = 0; i < (b->r1 - b->r0) * 1000; i++)
        y[i] += 2 * x[i];
    return 0;
}

Test(host, one_array_passed_twice_with_different_flags)
{
    sharr_pool *p = tu_pool(2);
    sharr_array *rw = tu_rows("twice", SHARR_F64, 4, 1000), *ro = NULL;
    cr_assert_eq(sharr_array_open(tu_name("twice"), SHARR_OPEN_RDONLY, &ro),
                 0);
    double *x = sharr_array_data(rw);
    for (size_t i = 0; i < 4000; i++)
        x[i] = 1;
    sharr_array *arrays[2] = {ro, rw};
    sharr_job_spec spec = {.kernel = copy_kernel, .narrays = 2,
                           .arrays = arrays};
    for (int round = 0; round < 3; round++)
        cr_assert_eq(sharr_pool_run(p, &spec), 0, "%s", sharr_errmsg());
    cr_assert_eq(x[0], 27.0);
    sharr_array_close(ro);
    sharr_array_close(rw);
    sharr_pool_destroy(p);
}

/* 1 if process `pid` maps the file with inode `ino` (names in maps can be
 * the hidden build name of a segment, so compare inodes). */
static int maps_inode(pid_t pid, ino_t ino)
{
    char path[64], line[1024];
    int found = 0;
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long inode = 0;
        if (sscanf(line, "%*s %*s %*s %*s %llu", &inode) == 1 &&
            inode == (unsigned long long)ino)
            found = 1;
    }
    fclose(f);
    return found;
}

static ino_t inode_of(const char *name)
{
    struct stat st;
    cr_assert_eq(stat(tu_path(name), &st), 0);
    return st.st_ino;
}

static int touch_kernel(const sharr_block *b)
{
    ((unsigned char *)b->data[0])[0] = 1;
    return 0;
}

Test(host, workers_and_the_supervisor_let_go_of_a_removed_array)
{
    /* Open before the pool: the supervisor starts with this mapping. */
    sharr_array *early = tu_rows("early", SHARR_U8, 1 << 20, 0);
    sharr_pool *p = tu_pool(2);
    sharr_array *a = tu_rows("gone", SHARR_U8, 1 << 20, 0);
    sharr_job_spec spec = {.kernel = touch_kernel, .narrays = 1,
                           .arrays = &a};
    cr_assert_eq(sharr_pool_run(p, &spec), 0);
    pid_t w0 = sharr_pool_worker_pid(p, 0), sup = tu_parent_of(w0);
    ino_t gone = inode_of(tu_name("gone"));
    cr_assert(maps_inode(w0, gone), "the worker never mapped it");
    /* The supervisor lets go of it once it forked the first workers. */
    ino_t early_ino = inode_of(tu_name("early"));
    for (double t = tu_now(); maps_inode(sup, early_ino);
         usleep(10000))
        cr_assert_lt(tu_now() - t, 3.0, "the supervisor pins an array the "
                     "caller had open at pool creation");
    for (int i = 0; i < 2; i++)
        cr_assert(!maps_inode(sharr_pool_worker_pid(p, i), early_ino),
                  "worker %d pins an array the caller had open at pool "
                  "creation", i);
    sharr_array_close(a);
    cr_assert_eq(sharr_unlink(tu_name("gone")), 0);
    double t0 = tu_now();
    for (;;) {
        int held = 0;
        for (int i = 0; i < 2; i++)
            held += maps_inode(sharr_pool_worker_pid(p, i), gone);
        if (!held)
            break;
        /* Idle workers sweep before each 1 s sleep and at each wake-up;
         * the margin is for a CI machine busy with the other tests. */
        cr_assert_lt(tu_now() - t0, 5.0, "a worker still maps the removed "
                     "array after %.2f s", tu_now() - t0);
        usleep(20000);
    }
    sharr_array_close(early);
    sharr_pool_destroy(p);
}

Test(host, a_removed_array_is_let_go_of_during_back_to_back_jobs)
{
    setenv("SHARR_SPIN_US", "5000000", 1); /* workers never go to sleep */
    sharr_pool *p = tu_pool(2);
    unsetenv("SHARR_SPIN_US");
    sharr_array *a = tu_rows("b2b", SHARR_U8, 1 << 20, 0);
    sharr_job_spec spec = {.kernel = touch_kernel, .narrays = 1,
                           .arrays = &a, .schedule = {SHARR_SCHED_STATIC, 0}};
    cr_assert_eq(sharr_pool_run(p, &spec), 0);
    ino_t gone = inode_of(tu_name("b2b"));
    sharr_array_close(a);
    cr_assert_eq(sharr_unlink(tu_name("b2b")), 0);
    double t0 = tu_now();
    for (;;) {
        cr_assert_eq(run_noop(p, 2, 10.0), 0);
        int held = maps_inode(sharr_pool_worker_pid(p, 0), gone) +
                   maps_inode(sharr_pool_worker_pid(p, 1), gone);
        if (!held)
            break;
        /* Workers spin 5 s between jobs here: only the sweep at a job's
         * start can let go of it before then. */
        cr_assert_lt(tu_now() - t0, 2.0, "still mapped after %.2f s of "
                     "back-to-back jobs", tu_now() - t0);
    }
    sharr_pool_destroy(p);
}

/* ---- what kernels print ---- */

static int print_kernel(const sharr_block *b)
{
    printf("block %zu says hello\n", b->index);
    return 0;
}

Test(host, what_a_kernel_prints_reaches_a_redirected_stdout_in_order)
{
    char path[] = "/tmp/sharr-out-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    pid_t child = fork();
    if (child == 0) {
        dup2(fd, 1);
        setvbuf(stdout, NULL, _IOFBF, 1 << 16); /* as for a batch log */
        sharr_pool *p = NULL;
        sharr_pool_opts o = {.workers = 2};
        if (sharr_pool_create(&o, &p) < 0)
            _exit(3);
        sharr_job_spec spec = {.kernel = print_kernel, .rows = 4,
                               .schedule = {SHARR_SCHED_DYNAMIC, 1}};
        if (sharr_pool_run(p, &spec) < 0)
            _exit(4);
        /* Before destroy: the lines are in the file already. */
        char buf[4096] = {0};
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        int lines = 0;
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
        sharr_pool_destroy(p);
        _exit(lines == 4 ? 0 : 10 + lines);
    }
    int st = tu_reap(child);
    close(fd);
    unlink(path);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d: %d lines "
              "reached the file", WEXITSTATUS(st), WEXITSTATUS(st) - 10);
}

/* ---- options ---- */

Test(host, huge_results_bytes_fails_create_cleanly)
{
    sharr_pool_opts o = {.workers = 1, .results_bytes = SIZE_MAX};
    sharr_pool *p = (sharr_pool *)&o;
    cr_assert_lt(sharr_pool_create(&o, &p), 0);
    cr_assert_null(p);
    o.results_bytes = SIZE_MAX - 8192;
    cr_assert_lt(sharr_pool_create(&o, &p), 0);
    cr_assert_null(p);
}
