/*
 * ipcutil.h - what the tests of queues, pipes and synchronization objects
 * share: child processes that report through a pipe, and patching named
 * objects' control blocks.  Builds on testutil.h (names t.<pid>.*, removed
 * in .fini).
 */
#ifndef SHARR_IPCUTIL_H
#define SHARR_IPCUTIL_H

#include "testutil.h"
#include "internal.h"

#include <stddef.h>
#include <sys/mman.h>

/* A pipe a child writes one byte on when it is ready (or done). */
struct tu_signal {
    int fd[2];
};

static inline void tu_signal_init(struct tu_signal *s)
{
    cr_assert_eq(pipe(s->fd), 0);
}

static inline void tu_signal_send(struct tu_signal *s, char c)
{
    (void)!write(s->fd[1], &c, 1);
}

/* The next byte, or 0 if none came within `seconds`. */
static inline char tu_signal_wait(struct tu_signal *s, double seconds)
{
    struct timespec ts = {0, 10000000};
    char c = 0;
    int fl = fcntl(s->fd[0], F_GETFL);

    fcntl(s->fd[0], F_SETFL, fl | O_NONBLOCK);
    for (int i = 0; i < (int)(seconds * 100) + 1; i++) {
        if (read(s->fd[0], &c, 1) == 1)
            break;
        nanosleep(&ts, NULL);
    }
    fcntl(s->fd[0], F_SETFL, fl);
    return c;
}

static inline void tu_signal_close(struct tu_signal *s)
{
    close(s->fd[0]);
    close(s->fd[1]);
}

/* An object's name and a signal pipe, for a child to report on. */
struct tu_named {
    const char *name;
    struct tu_signal sig;
};

/* Children of this test, so that .fini can stop those a failed assertion
 * left running (tu_ipc_fini). */
static pid_t tu_kids[1024];
static int tu_nkids;

/* Run fn(arg) in a forked child whose exit status is fn's result. */
static inline pid_t tu_child(int (*fn)(void *), void *arg)
{
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0)
        _exit(fn(arg));
    if (tu_nkids < (int)(sizeof tu_kids / sizeof *tu_kids))
        tu_kids[tu_nkids++] = pid;
    return pid;
}

/* .fini of the IPC suites: kill and reap every child still running (only
 * unreaped children of ours: waitpid says so, so no other process that
 * took a reaped child's pid is ever signalled), then remove the test's
 * segments. */
static inline void tu_ipc_fini(void)
{
    for (int i = 0; i < tu_nkids; i++) {
        int st;
        if (waitpid(tu_kids[i], &st, WNOHANG) == 0) {
            kill(tu_kids[i], SIGKILL);
            while (waitpid(tu_kids[i], &st, 0) < 0 && errno == EINTR)
                ;
        }
    }
    tu_nkids = 0;
    tu_cleanup();
}

/* The exit code of a child that exited, or 100 + its signal. */
static inline int tu_status(pid_t pid)
{
    int st = tu_reap(pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

/* Offset of the control block of the object `name` (its size - 4096). */
static inline off_t tu_ctl_offset(const char *name)
{
    struct stat st;
    cr_assert_eq(stat(tu_path(name), &st), 0);
    return st.st_size - 4096;
}

/* Memory shared with children forked after this call (MAP_SHARED). */
static inline void *tu_shared(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(p != MAP_FAILED);
    return p;
}

#endif /* SHARR_IPCUTIL_H */
