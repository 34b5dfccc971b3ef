/*
 * test_target.c - the file a save writes (lib/io/target.c): the lock and
 * forks, the bounded wait, temporaries and their removal, and what
 * sharr_h5_save() does with them (a filtered append from a process that
 * lives on must not keep the file locked).
 */
#include "testutil.h"

#include "io/target.h"

#include <limits.h>
#include <math.h>

static char dir[64];

static void setup(void)
{
    tu_setup();
    snprintf(dir, sizeof dir, "/tmp/sharr-targettest.%d", (int)getpid());
    mkdir(dir, 0700);
}

static void teardown(void)
{
    tu_rmdir(dir);
    tu_cleanup();
}

TestSuite(target, .init = setup, .fini = teardown, .timeout = 60);

static const char *path(const char *base)
{
    return tu_file(dir, base);
}

static void touch(const char *p)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "data", 4), 4);
    close(fd);
}

/* 1 if someone else holds a flock on p. */
static int locked_elsewhere(const char *p)
{
    int fd = open(p, O_RDONLY), busy;
    cr_assert_geq(fd, 0);
    busy = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    return busy;
}

/* A child that lives on; returns once it runs (its fork is complete). */
static pid_t sleeping_child(void)
{
    int p[2];
    char c;
    pid_t pid;

    cr_assert_eq(pipe(p), 0);
    cr_assert_geq(pid = fork(), 0);
    if (pid == 0) {
        (void)!write(p[1], "x", 1);
        pause();
        _exit(0);
    }
    cr_assert_eq(read(p[0], &c, 1), 1);
    close(p[0]);
    close(p[1]);
    return pid;
}

static void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

Test(target, open_with_lock_holds_the_hdf5_lock_until_close)
{
    static const sharr_save_opts o;
    struct sharr__target t;

    touch(path("f.h5"));
    cr_assert_eq(sharr__target_open(&t, path("f.h5"), &o, SHARR__TARGET_LOCK),
                 0, "%s", sharr_errmsg());
    cr_assert(t.exists);
    cr_assert(locked_elsewhere(path("f.h5")));
    sharr__target_close(&t);
    cr_assert_not(locked_elsewhere(path("f.h5")));
}

Test(target, a_forked_child_does_not_keep_the_lock)
{
    static const sharr_save_opts o;
    struct sharr__target t;
    pid_t child;

    touch(path("f.h5"));
    cr_assert_eq(sharr__target_open(&t, path("f.h5"), &o, SHARR__TARGET_LOCK),
                 0, "%s", sharr_errmsg());
    child = sleeping_child(); /* shares our open files, as a guardian does */
    sharr__target_close(&t);
    int busy = locked_elsewhere(path("f.h5"));
    reap(child);
    cr_assert_not(busy, "the child still held the lock after our close");
}

static int waited;

static void count_wait(const char *file, double wait, void *ctx)
{
    (void)file;
    (void)ctx;
    cr_expect_float_eq(wait, 0.3, 1e-9);
    waited++;
}

Test(target, a_held_lock_is_waited_for_bounded_then_ebusy_naming_the_file)
{
    sharr_save_opts o = {.lock_wait = 0.3, .waiting = count_wait};
    struct sharr__target t;
    struct timespec a, b;
    int fd;

    touch(path("held.h5"));
    fd = open(path("held.h5"), O_RDONLY);
    cr_assert_eq(flock(fd, LOCK_EX), 0); /* as an HDF5 writer holds it */
    clock_gettime(CLOCK_MONOTONIC, &a);
    int err = sharr__target_open(&t, path("held.h5"), &o, SHARR__TARGET_LOCK);
    clock_gettime(CLOCK_MONOTONIC, &b);
    sharr__target_close(&t);
    close(fd);
    double took = (double)(b.tv_sec - a.tv_sec) +
                  (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
    cr_assert_eq(err, SHARR_EBUSY);
    cr_assert(strstr(sharr_errmsg(), "held.h5 open for writing (HDF5 file "
                     "lock)"), "%s", sharr_errmsg());
    cr_assert(took >= 0.29 && took < 1.5, "waited %.3f s", took);
    cr_assert_eq(waited, 1);
}

Test(target, no_wait_fails_at_once)
{
    sharr_save_opts o = {.lock_wait = -1};
    struct sharr__target t;
    int fd;

    touch(path("held.h5"));
    fd = open(path("held.h5"), O_RDONLY);
    cr_assert_eq(flock(fd, LOCK_SH), 0); /* an HDF5 reader */
    cr_assert_eq(sharr__target_open(&t, path("held.h5"), &o,
                                    SHARR__TARGET_LOCK), SHARR_EBUSY);
    sharr__target_close(&t);
    close(fd);
    cr_assert(strstr(sharr_errmsg(), "open for reading"), "%s",
              sharr_errmsg());
}

Test(target, a_temporary_is_random_exclusive_and_has_the_target_mode)
{
    static const sharr_save_opts o;
    struct sharr__target t, u;
    struct stat st;

    touch(path("m.h5"));
    chmod(path("m.h5"), 0640);
    cr_assert_eq(sharr__target_open(&t, path("m.h5"), &o, 0), 0);
    cr_assert_eq(sharr__target_open(&u, path("m.h5"), &o, 0), 0);
    cr_assert_eq(sharr__target_temp(&t, true, NULL), 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr__target_temp(&u, false, NULL), 0);
    cr_assert_str_neq(t.tmp, u.tmp);
    cr_assert(strstr(t.tmp, "/.m.h5.sharr-"), "%s", t.tmp);
    cr_assert_eq(lstat(t.tmp, &st), 0);
    cr_assert(S_ISREG(st.st_mode));
    cr_assert_eq(st.st_mode & 07777, 0640);
    cr_assert_eq(st.st_size, 0, "no copy without the lock's fd");
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", t.tmp);
    sharr__target_close(&t);
    sharr__target_close(&u);
    cr_assert_eq(access(tmp, F_OK), -1, "close removes the temporary");
}

Test(target, a_symlink_resolves_to_the_real_file)
{
    static const sharr_save_opts o;
    struct sharr__target t;
    char real[PATH_MAX];

    mkdir(path("real"), 0700);
    touch(path("real/f.npy"));
    cr_assert_eq(symlink("real/f.npy", path("link.npy")), 0);
    cr_assert_eq(sharr__target_open(&t, path("link.npy"), &o, 0), 0);
    cr_assert(realpath(path("real/f.npy"), real));
    cr_assert_str_eq(t.path, real);
    cr_assert(strstr(t.dir, "/real"));
    sharr__target_close(&t);
}

Test(target, commit_without_replace_reports_a_name_taken_meanwhile)
{
    static const sharr_save_opts o;
    struct sharr__target t;

    cr_assert_eq(sharr__target_open(&t, path("new.h5"), &o, 0), 0);
    cr_assert_not(t.exists);
    cr_assert_eq(sharr__target_temp(&t, false, NULL), 0);
    touch(path("new.h5")); /* another process was faster */
    cr_assert_eq(sharr__target_commit(&t, false, false), SHARR__TARGET_TAKEN);
    sharr__target_close(&t);
    cr_assert_eq(sharr__target_open(&t, path("new.h5"), &o, 0), 0);
    cr_assert(t.exists, "the other file was kept");
    sharr__target_close(&t);
}

Test(target, remove_temps_unlinks_ours_and_never_a_parents)
{
    static const sharr_save_opts o;
    struct sharr__target t;
    pid_t pid;
    int status;

    cr_assert_eq(sharr__target_open(&t, path("s.h5"), &o, 0), 0);
    cr_assert_eq(sharr__target_temp(&t, false, NULL), 0);
    if ((pid = fork()) == 0) {
        sharr_save_remove_temps(); /* a forked child's signal handler */
        _exit(0);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert_eq(access(t.tmp, F_OK), 0, "a child removed its parent's");
    sharr_save_remove_temps();
    cr_assert_eq(access(t.tmp, F_OK), -1);
    sharr__target_close(&t);
}

static int count_removed;

static void removed(const char *p, void *ctx)
{
    (void)p;
    (void)ctx;
    count_removed++;
}

Test(target, gc_removes_only_temporaries_of_savers_it_knows_are_gone)
{
    static const sharr_save_opts o;
    struct sharr__target t;
    char dead[PATH_MAX], name[PATH_MAX];
    pid_t pid;

    cr_assert_eq(sharr__target_open(&t, path("g.h5"), &o, 0), 0);
    cr_assert_eq(sharr__target_temp(&t, false, NULL), 0);
    /* The same name with the pid of a process that is gone. */
    if ((pid = fork()) == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    const char *p = strstr(t.tmp, ".sharr-") + 7;
    snprintf(name, sizeof name, "%.*s%d%s", (int)(p - t.tmp), t.tmp,
             (int)pid, strchr(p, '-'));
    snprintf(dead, sizeof dead, "%s", name);
    touch(dead);
    touch(path(".g.h5.sharr-1-0.tmp")); /* an older format: unsure, kept */
    cr_assert_eq(sharr_save_gc(dir, 1, removed, NULL), 1);
    cr_assert_eq(access(dead, F_OK), 0, "dry run removed it");
    cr_assert_eq(sharr_save_gc(dir, 0, removed, NULL), 1);
    cr_assert_eq(count_removed, 2);
    cr_assert_eq(access(dead, F_OK), -1);
    cr_assert_eq(access(t.tmp, F_OK), 0, "a live saver's temporary went");
    cr_assert_eq(access(path(".g.h5.sharr-1-0.tmp"), F_OK), 0);
    sharr__target_close(&t);
}

Test(target, hard_links_are_refused_unless_forced_or_in_place)
{
    sharr_save_opts o = {0};
    struct sharr__target t;

    touch(path("a.h5"));
    cr_assert_eq(link(path("a.h5"), path("b.h5")), 0);
    cr_assert_eq(sharr__target_open(&t, path("a.h5"), &o, SHARR__TARGET_LOCK),
                 SHARR_EPERM);
    sharr__target_close(&t);
    cr_assert(strstr(sharr_errmsg(), "2 hard links"), "%s", sharr_errmsg());
    cr_assert_eq(sharr__target_open(&t, path("a.h5"), &o, SHARR__TARGET_LOCK |
                                    SHARR__TARGET_LINKS_OK), 0);
    sharr__target_close(&t);
    o.force_hardlinks = 1;
    cr_assert_eq(sharr__target_open(&t, path("a.h5"), &o, SHARR__TARGET_LOCK),
                 0);
    sharr__target_close(&t);
}

/* A library user that lives on after a filtered append (the staging array
 * forks a guardian while the target is locked) must not keep the lock. */
Test(target, a_filtered_append_leaves_the_file_unlocked_in_a_living_process)
{
    sharr_save_opts o = {.gzip = 1, .append = 1};
    sharr_pool_opts po = {.workers = 2};
    size_t shape[2] = {64, 100};
    sharr_pool *pool;
    sharr_array *a;

    cr_assert_eq(sharr_pool_create(&po, &pool), 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_array_create(tu_name("ap"), SHARR_F64, 2, shape, NULL,
                                    &a), 0);
    /* First without filters: no staging array, no guardian yet. */
    cr_assert_eq(sharr_h5_save(pool, a, path("ap.h5"), "/one", NULL), 0,
                 "%s", sharr_errmsg());
    cr_assert_eq(sharr_h5_save(pool, a, path("ap.h5"), "/two", &o), 0,
                 "%s", sharr_errmsg());
    cr_assert_not(locked_elsewhere(path("ap.h5")),
                  "the file stays locked after the save returned");
    sharr_array_close(a);
    sharr_pool_destroy(pool);
}

/* Without a pool the kernels run in the caller, which holds the lock
 * itself: HDF5 must not try to take it a second time. */
Test(target, saves_and_appends_run_in_the_caller_without_a_pool)
{
    sharr_save_opts app = {.append = 1}, gz = {.append = 1, .gzip = 1};
    size_t shape[2] = {16, 50}, n = 0;
    sharr_h5_entry *list = NULL;
    sharr_array *a;

    cr_assert_eq(sharr_array_create(tu_name("nc"), SHARR_F64, 2, shape, NULL,
                                    &a), 0);
    cr_assert_eq(sharr_h5_save(NULL, a, path("nc.h5"), "/one", NULL), 0,
                 "%s", sharr_errmsg());
    cr_assert_eq(sharr_h5_save(NULL, a, path("nc.h5"), "/two", &app), 0,
                 "%s", sharr_errmsg());
    cr_assert_eq(sharr_h5_save(NULL, a, path("nc.h5"), "/g/three", &gz), 0,
                 "%s", sharr_errmsg());
    cr_assert_eq(sharr_h5_save(NULL, a, path("nc.h5"), "/four", NULL), 0,
                 "%s", sharr_errmsg());
    cr_assert_eq(sharr_h5_list(NULL, path("nc.h5"), &list, &n), 0, "%s",
                 sharr_errmsg());
    cr_assert_eq(n, 4);
    sharr_h5_list_free(list);
    cr_assert_not(locked_elsewhere(path("nc.h5")));
    sharr_array_close(a);
}
