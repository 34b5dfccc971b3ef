/*
 * test_process.c - one-off processes (Python's Process), forked by a pool's
 * supervisor: exit status and signals through join, terminate, kill,
 * is_alive, timeouts and errors; and the hostile cases: a function that
 * crashes, a caller killed outright, a host that reaps every child, no
 * pidfds, a reused pid.
 */
#include "testutil.h"

#include <math.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

TestSuite(process, .init = tu_setup, .fini = tu_cleanup, .timeout = 60);

/* Ended, judged by a pidfd taken while it ran when the kernel lets us (a
 * pid alone may be reused at once: another test moves ns_last_pid), else by
 * the pid. */
static int ended_fd(int pidfd, pid_t pid)
{
    struct pollfd fd = {pidfd, POLLIN, 0};
    return pidfd >= 0 ? poll(&fd, 1, 0) == 1 : tu_proc_gone(pid);
}

static void no_children_left(void)
{
    int st;
    errno = 0;
    pid_t rc = waitpid(-1, &st, WNOHANG);
    cr_assert(rc == -1 && errno == ECHILD, "a child process is left "
              "(waitpid gave %d)", (int)rc);
}

/* Exits with the status its argument holds. */
static int exit_with(const void *arg, size_t size)
{
    cr_assert_eq(size, sizeof(int));
    return *(const int *)arg;
}

static int sleep_forever(const void *arg, size_t size)
{
    (void)arg;
    (void)size;
    for (;;)
        pause();
    return 0;
}

static int crash(const void *arg, size_t size)
{
    (void)arg;
    (void)size;
    signal(SIGSEGV, SIG_DFL); /* no sanitizer report, just the signal */
    raise(SIGSEGV);
    return 0;
}

/* Writes its argument (a segment name) into that array's first element. */
static int write_array(const void *arg, size_t size)
{
    sharr_array *a;
    (void)size;
    if (sharr_array_open(arg, 0, &a) < 0)
        return 3;
    *(int64_t *)sharr_array_data(a) = 4242;
    sharr_array_close(a);
    return 0;
}

Test(process, join_gives_the_exit_status_and_the_process_ran_its_function)
{
    sharr_pool *p = tu_pool(1);
    sharr_process *pr;
    int code = -1, seven = 7;
    cr_assert_eq(sharr_process_start(p, exit_with, &seven, sizeof seven, &pr),
                 0, "%s", sharr_errmsg());
    cr_assert_gt(sharr_process_pid(pr), 0);
    cr_assert_eq(sharr_process_join(pr, 10, &code), 0, "%s", sharr_errmsg());
    cr_assert_eq(code, 7);
    cr_assert_eq(sharr_process_is_alive(pr), 0);
    cr_assert_eq(sharr_process_join(pr, 0, &code), 0, "joining again");
    cr_assert_eq(code, 7);
    cr_assert_eq(sharr_process_terminate(pr), 0, "an ended process: nothing");
    sharr_process_free(pr);

    sharr_array *a = tu_rows("proc", SHARR_I64, 1, 0);
    const char *name = tu_name("proc");
    cr_assert_eq(sharr_process_start(p, write_array, name, strlen(name) + 1,
                                     &pr), 0);
    cr_assert_eq(sharr_process_join(pr, 10, &code), 0);
    cr_assert_eq(code, 0);
    cr_assert_eq(*(const int64_t *)sharr_array_data(a), 4242);
    sharr_process_free(pr);
    sharr_array_close(a);
    sharr_pool_destroy(p);
    no_children_left();
}

Test(process, a_crashing_function_gives_its_signal)
{
    sharr_pool *p = tu_pool(1);
    sharr_process *pr;
    int code = 0;
    cr_assert_eq(sharr_process_start(p, crash, NULL, 0, &pr), 0);
    cr_assert_eq(sharr_process_join(pr, 10, &code), 0);
    cr_assert_eq(code, -SIGSEGV);
    sharr_process_free(pr);
    /* The pool does not notice: its jobs go on. */
    cr_assert_eq(sharr_pool_run(p, &(sharr_job_spec){.kernel = NULL}),
                 SHARR_EINVAL);
    sharr_pool_destroy(p);
}

/* Start fn(arg) in a process of pool p, join it, free it: its exit code. */
static int run_process(sharr_pool *p, sharr_process_fn fn, const void *arg,
                       size_t size)
{
    sharr_process *pr;
    int code = 999;
    cr_assert_eq(sharr_process_start(p, fn, arg, size, &pr), 0, "%s",
                 sharr_errmsg());
    cr_assert_eq(sharr_process_join(pr, 10, &code), 0, "%s", sharr_errmsg());
    sharr_process_free(pr);
    return code;
}

/* Runs a shell that exits 3 and returns what system() says of it. */
static int run_system(const void *arg, size_t size)
{
    (void)arg;
    (void)size;
    int st = system("exit 3");
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : 99;
}

Test(process, a_host_that_ignores_sigchld_still_gets_every_exit_status)
{
    /* SIGCHLD ignored makes the kernel reap children itself: if the
     * supervisor (or a process) kept it, no status would be left. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigaction(SIGCHLD, &ign, &old);
    sharr_pool *p = tu_pool(1);
    int five = 5, code;
    cr_assert_eq(run_process(p, exit_with, &five, sizeof five), 5);
    cr_assert_eq(run_process(p, crash, NULL, 0), -SIGSEGV);
    code = run_process(p, run_system, NULL, 0);
    cr_assert_eq(code, 3, "system() inside a process: %d", code);
    sharr_pool_destroy(p);
    sigaction(SIGCHLD, &old, NULL);
}

Test(process, join_times_out_then_terminate_and_kill_end_it)
{
    sharr_pool *p = tu_pool(1);
    sharr_process *pr;
    int code = 0;
    cr_assert_eq(sharr_process_start(p, sleep_forever, NULL, 0, &pr), 0);
    cr_assert_eq(sharr_process_is_alive(pr), 1);
    double t0 = tu_now();
    cr_assert_eq(sharr_process_join(pr, 0.2, &code), SHARR_ETIMEDOUT);
    double took = tu_now() - t0;
    cr_assert(took >= 0.19 && took < 1.0, "join(0.2) took %.3f s", took);
    cr_assert_eq(sharr_process_join(pr, 0, &code), SHARR_ETIMEDOUT);
    cr_assert_eq(sharr_process_join(pr, NAN, &code), SHARR_EINVAL,
                 "a NaN timeout is refused, as by every IPC call");
    cr_assert_eq(sharr_process_is_alive(pr), 1);
    cr_assert_eq(sharr_process_terminate(pr), 0);
    cr_assert_eq(sharr_process_join(pr, 5, &code), 0);
    cr_assert_eq(code, -SIGTERM, "SIGTERM has its default action: %d", code);
    cr_assert_eq(sharr_process_is_alive(pr), 0);
    sharr_process_free(pr);

    cr_assert_eq(sharr_process_start(p, sleep_forever, NULL, 0, &pr), 0);
    cr_assert_eq(sharr_process_kill(pr), 0);
    cr_assert_eq(sharr_process_join(pr, 5, &code), 0);
    cr_assert_eq(code, -SIGKILL);
    sharr_process_free(pr);
    sharr_pool_destroy(p);
}

Test(process, bad_calls_are_einval_and_too_many_is_ebusy)
{
    sharr_pool *p = tu_pool(1);
    sharr_process *pr = (sharr_process *)1, *many[SHARR_PROCESS_MAX];
    static char big[SHARR_PROCESS_ARG_MAX + 1];
    cr_assert_eq(sharr_process_start(NULL, sleep_forever, NULL, 0, &pr),
                 SHARR_EINVAL);
    cr_assert_null(pr);
    cr_assert(strstr(sharr_errmsg(), "never by the caller") != NULL);
    cr_assert_eq(sharr_process_start(p, NULL, NULL, 0, &pr), SHARR_EINVAL);
    cr_assert_eq(sharr_process_start(p, sleep_forever, big, sizeof big, &pr),
                 SHARR_EINVAL);
    for (int i = 0; i < SHARR_PROCESS_MAX; i++)
        cr_assert_eq(sharr_process_start(p, sleep_forever, NULL, 0, &many[i]),
                     0, "%d: %s", i, sharr_errmsg());
    cr_assert_eq(sharr_process_start(p, sleep_forever, NULL, 0, &pr),
                 SHARR_EBUSY);
    /* Freeing a running one kills it; its slot comes back once reaped. */
    /* By pidfd: another test may make the kernel reuse pids at once. */
    int victim = pidfd_open(sharr_process_pid(many[0]), 0);
    cr_assert_geq(victim, 0);
    sharr_process_free(many[0]);
    double t0 = tu_now();
    while (sharr_process_start(p, sleep_forever, NULL, 0, &many[0]) != 0) {
        cr_assert_eq(sharr_errmsg()[0] != 0, 1);
        cr_assert_lt(tu_now() - t0, 5.0, "the slot never came back");
        usleep(1000);
    }
    struct pollfd vp = {victim, POLLIN, 0};
    cr_assert_eq(poll(&vp, 1, 0), 1, "a freed running process is alive");
    close(victim);
    for (int i = 0; i < SHARR_PROCESS_MAX; i++)
        sharr_process_free(many[i]);
    sharr_process_free(NULL);
    sharr_pool_destroy(p);
    no_children_left();
}

Test(process, destroy_kills_running_processes_and_handles_stay_valid)
{
    sharr_pool *p = tu_pool(1);
    sharr_process *pr;
    int code = 0;
    cr_assert_eq(sharr_process_start(p, sleep_forever, NULL, 0, &pr), 0);
    int pidfd = pidfd_open(sharr_process_pid(pr), 0);
    double t0 = tu_now();
    sharr_pool_destroy(p);
    cr_assert_lt(tu_now() - t0, 3.0);
    cr_assert(ended_fd(pidfd, sharr_process_pid(pr)));
    close(pidfd);
    cr_assert_eq(sharr_process_is_alive(pr), 0);
    cr_assert_eq(sharr_process_join(pr, 0, &code), 0, "%s", sharr_errmsg());
    cr_assert_eq(code, -SIGKILL);
    sharr_process_free(pr);
    no_children_left();

    /* Terminate the same way. */
    p = tu_pool(1);
    cr_assert_eq(sharr_process_start(p, sleep_forever, NULL, 0, &pr), 0);
    pidfd = pidfd_open(sharr_process_pid(pr), 0);
    sharr_pool_terminate(p);
    cr_assert(ended_fd(pidfd, sharr_process_pid(pr)));
    close(pidfd);
    cr_assert_eq(sharr_process_join(pr, 0, &code), 0);
    cr_assert_eq(code, -SIGKILL);
    sharr_process_free(pr);
}

static int nap_kernel(const sharr_block *b)
{
    (void)b;
    usleep(5000);
    return 0;
}

Test(process, processes_and_jobs_run_side_by_side_and_a_pool_of_no_workers)
{
    sharr_pool *p = tu_pool(2);
    sharr_process *pr;
    sharr_job *job;
    int code, three = 3;
    sharr_job_spec spec = {.kernel = nap_kernel, .rows = 40,
                           .schedule = {SHARR_SCHED_DYNAMIC, 1}};
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), 0);
    cr_assert_eq(sharr_process_start(p, exit_with, &three, sizeof three, &pr),
                 0);
    cr_assert_eq(sharr_process_join(pr, 10, &code), 0);
    cr_assert_eq(code, 3);
    cr_assert_eq(sharr_job_wait(job, 10), 0, "%s", sharr_errmsg());
    sharr_job_free(job);
    sharr_process_free(pr);
    sharr_pool_destroy(p);

    sharr_pool_opts o = {.workers = SHARR_POOL_NO_WORKERS};
    cr_assert_eq(sharr_pool_create(&o, &p), 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_pool_workers(p), 0);
    cr_assert_eq(sharr_pool_submit(p, &spec, &job), SHARR_EINVAL);
    cr_assert(strstr(sharr_errmsg(), "no workers") != NULL);
    cr_assert_eq(sharr_pool_map(p, &spec, NULL, 0), SHARR_EINVAL);
    cr_assert_eq(sharr_process_start(p, exit_with, &three, sizeof three, &pr),
                 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_process_join(pr, 10, &code), 0);
    cr_assert_eq(code, 3);
    sharr_process_free(pr);
    sharr_pool_destroy(p);
    o.workers = -2;
    cr_assert_eq(sharr_pool_create(&o, &p), SHARR_EINVAL);
    no_children_left();
}

/* ---- hostile hosts ---- */

/* The signal state and fds of the process, as the process sees them. */
static int check_clean(const void *arg, size_t size)
{
    (void)arg;
    (void)size;
    struct sigaction sa;
    sigaction(SIGUSR1, NULL, &sa);
    if (sa.sa_handler != SIG_DFL)
        return 10;
    sigaction(SIGTERM, NULL, &sa);
    if (sa.sa_handler != SIG_DFL)
        return 11;
    sigset_t mask;
    sigprocmask(SIG_SETMASK, NULL, &mask);
    for (int s = 1; s < 32; s++)
        if (sigismember(&mask, s))
            return 12;
    for (int fd = 3; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            return 13;
    return 0;
}

static void usr1(int sig)
{
    (void)sig;
}

Test(process, a_process_is_not_the_callers_child_and_starts_clean)
{
    struct sigaction sa = {.sa_handler = usr1};
    sigaction(SIGUSR1, &sa, NULL);
    sharr_pool *p = tu_pool(1);
    int late = open("/proc/self/exe", O_RDONLY); /* no O_CLOEXEC */
    sigset_t usr2, old;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &usr2, &old);
    sharr_process *pr;
    int code = -1;
    cr_assert_eq(sharr_process_start(p, sleep_forever, NULL, 0, &pr), 0);
    pid_t pid = sharr_process_pid(pr);
    pid_t sup = tu_parent_of(pid);
    cr_assert_neq(sup, getpid(), "the process is the caller's child");
    cr_assert_eq(tu_parent_of(sup), getpid(), "its parent is the supervisor");
    errno = 0;
    cr_assert_eq(waitpid(pid, NULL, WNOHANG), -1);
    cr_assert_eq(errno, ECHILD);
    sharr_process_kill(pr);
    sharr_process_join(pr, 5, &code);
    sharr_process_free(pr);
    cr_assert_eq(sharr_process_start(p, check_clean, NULL, 0, &pr), 0);
    cr_assert_eq(sharr_process_join(pr, 10, &code), 0);
    cr_assert_eq(code, 0, "the process saw state of the caller's (%d)", code);
    sharr_process_free(pr);
    sharr_pool_destroy(p);
    close(late);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    signal(SIGUSR1, SIG_DFL);
}

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

Test(process, a_host_reaper_never_sees_a_process_and_join_still_works)
{
    sharr_pool *p = tu_pool(1);
    struct sigaction sa = {.sa_handler = reap_all, .sa_flags = SA_RESTART};
    pthread_t t;
    pid_t pids[6];
    sigaction(SIGCHLD, &sa, NULL);
    cr_assert_eq(pthread_create(&t, NULL, waitpid_loop, NULL), 0);
    for (int i = 0; i < 6; i++) {
        sharr_process *pr;
        int code = -1;
        cr_assert_eq(sharr_process_start(p, i % 2 ? crash : exit_with, &i,
                                         sizeof i, &pr), 0);
        pids[i] = sharr_process_pid(pr);
        cr_assert_eq(sharr_process_join(pr, 10, &code), 0, "%s",
                     sharr_errmsg());
        cr_assert_eq(code, i % 2 ? -SIGSEGV : i, "the status reached us");
        sharr_process_free(pr);
    }
    for (int k = 0; k < atomic_load(&nreaped) && k < 64; k++)
        for (int i = 0; i < 6; i++)
            cr_assert_neq(reaped[k], pids[i], "the host reaped process %d",
                          (int)pids[i]);
    sharr_pool_destroy(p);
    pthread_cancel(t);
    pthread_join(t, NULL);
    signal(SIGCHLD, SIG_DFL);
}

/* A caller that starts a process and is then SIGKILLed: the process dies
 * too, within a bounded time.  `deny` runs first in the caller. */
static void process_dies_with_its_caller(void (*deny)(void))
{
    int fds[2];
    pid_t pid;
    cr_assert_eq(pipe(fds), 0);
    pid_t caller = fork();
    if (caller == 0) {
        if (deny)
            deny();
        sharr_pool *q;
        sharr_process *pr;
        sharr_pool_opts o = {.workers = 1};
        if (sharr_pool_create(&o, &q) < 0 ||
            sharr_process_start(q, sleep_forever, NULL, 0, &pr) < 0)
            _exit(1);
        pid_t x = sharr_process_pid(pr);
        (void)!write(fds[1], &x, sizeof x);
        pause();
        _exit(0);
    }
    cr_assert_eq(read(fds[0], &pid, sizeof pid), (ssize_t)sizeof pid);
    int pidfd = pidfd_open(pid, 0);
    cr_assert(!ended_fd(pidfd, pid));
    kill(caller, SIGKILL);
    tu_reap(caller);
    double t0 = tu_now();
    while (!ended_fd(pidfd, pid)) {
        cr_assert_lt(tu_now() - t0, 3.0, "process %d outlived its caller",
                     (int)pid);
        usleep(10000);
    }
    if (pidfd >= 0)
        close(pidfd);
    close(fds[0]);
    close(fds[1]);
}

Test(process, a_process_outliving_its_caller_dies)
{
    process_dies_with_its_caller(NULL);
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
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        _exit(2);
}

Test(process, without_pidfds_processes_still_work_and_die_with_us)
{
    deny_pidfds();
    cr_assert_lt(pidfd_open(getpid(), 0), 0);
    sharr_pool *p = tu_pool(1);
    sharr_process *pr;
    int code = 0, five = 5;
    cr_assert_eq(sharr_process_start(p, exit_with, &five, sizeof five, &pr),
                 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_process_join(pr, 10, &code), 0);
    cr_assert_eq(code, 5);
    sharr_process_free(pr);
    cr_assert_eq(sharr_process_start(p, sleep_forever, NULL, 0, &pr), 0);
    cr_assert_eq(sharr_process_terminate(pr), 0);
    cr_assert_eq(sharr_process_join(pr, 5, &code), 0);
    cr_assert_eq(code, -SIGTERM);
    sharr_process_free(pr);
    sharr_pool_destroy(p);
    no_children_left();
    process_dies_with_its_caller(deny_pidfds);
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

Test(process, a_signal_after_the_end_never_reaches_a_reused_pid)
{
    if (geteuid() != 0)
        cr_skip_test("skipped: needs root for ns_last_pid");
    sharr_pool *p = tu_pool(1);
    sharr_process *pr;
    int zero = 0;
    cr_assert_eq(sharr_process_start(p, exit_with, &zero, sizeof zero, &pr),
                 0);
    pid_t old = sharr_process_pid(pr);
    for (int i = 0; i < 500 && !tu_proc_gone(old); i++)
        usleep(2000);
    usleep(20000); /* reaped by the supervisor */
    pid_t innocent = fork_with_pid(old);
    if (innocent < 0) {
        sharr_process_free(pr);
        sharr_pool_destroy(p);
        cr_skip_test("skipped: could not get pid %d again", (int)old);
    }
    int pidfd = pidfd_open(innocent, 0);
    cr_assert_eq(sharr_process_kill(pr), 0);
    cr_assert_eq(sharr_process_terminate(pr), 0);
    sharr_process_free(pr);
    usleep(50000);
    struct pollfd fd = {pidfd, POLLIN, 0};
    cr_assert_eq(poll(&fd, 1, 0), 0, "the process that got the pid was "
                 "signalled");
    kill(innocent, SIGKILL);
    tu_reap(innocent);
    close(pidfd);
    sharr_pool_destroy(p);
}

Test(process, a_forked_child_cannot_use_its_parents_processes)
{
    sharr_pool *p = tu_pool(1);
    sharr_process *pr;
    int code;
    cr_assert_eq(sharr_process_start(p, sleep_forever, NULL, 0, &pr), 0);
    pid_t child = fork();
    if (child == 0) {
        sharr_process *other;
        int bad = sharr_process_kill(pr) != SHARR_EINVAL ||
                  sharr_process_start(p, sleep_forever, NULL, 0, &other) !=
                      SHARR_EINVAL ||
                  sharr_process_join(pr, 0, &code) != SHARR_EINVAL;
        sharr_process_free(pr); /* the child's copy only */
        sharr_pool_destroy(p);
        _exit(bad);
    }
    int st = tu_reap(child);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_eq(sharr_process_is_alive(pr), 1, "the child's calls touched "
                 "the parent's process");
    sharr_process_free(pr);
    sharr_pool_destroy(p);
}

Test(process, a_stopped_supervisor_bounds_start_and_the_late_fork_is_undone,
     .timeout = 30)
{
    sharr_pool *p = tu_pool(1);
    sharr_process *pr = (sharr_process *)1, *ok;
    pid_t sup = tu_parent_of(sharr_pool_worker_pid(p, 0));
    int code;
    kill(sup, SIGSTOP);
    double t0 = tu_now();
    cr_assert_eq(sharr_process_start(p, sleep_forever, NULL, 0, &pr),
                 SHARR_ETIMEDOUT);
    double took = tu_now() - t0;
    cr_assert(took > 4.5 && took < 7.0, "start took %.2f s", took);
    cr_assert_null(pr);
    cr_assert(strstr(sharr_errmsg(), "stopped?") != NULL, "%s",
              sharr_errmsg());
    kill(sup, SIGCONT);
    /* The supervisor forks the late one, then kills it at once (the
     * command queued after the spawn): a new start works, and nothing of
     * the late one is left once the pool is gone. */
    cr_assert_eq(sharr_process_start(p, exit_with, &(int){0}, sizeof(int),
                                     &ok), 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_process_join(ok, 10, &code), 0);
    sharr_process_free(ok);
    sharr_pool_destroy(p);
    no_children_left();
}
