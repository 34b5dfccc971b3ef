/*
 * test_array.c - the store: create, open, validation, locks, temporary
 * arrays, listing and gc.
 */
#include "testutil.h"
#include "internal.h"

#include <pthread.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

TestSuite(array, .init = tu_setup, .fini = tu_cleanup, .timeout = 30);

static sharr_array *make(const char *name, sharr_dtype dt, size_t ndim,
                         const size_t *shape)
{
    sharr_array *a = NULL;
    int err = sharr_array_create(name, dt, ndim, shape, NULL, &a);
    cr_assert_eq(err, 0, "create %s: %s", name, sharr_errmsg());
    return a;
}

/* ---- create and open ---- */

Test(array, create_then_open_gives_same_layout_and_zeroed_data)
{
    size_t shape[] = {5, 3, 2};
    const char *n = tu_name("a");
    sharr_array *a = make(n, SHARR_C128, 3, shape), *b = NULL;

    cr_assert_eq(sharr_array_rows(a), 5);
    cr_assert_eq(sharr_array_row_bytes(a), 3 * 2 * 16);
    cr_assert_eq(sharr_array_nbytes(a), 5 * 3 * 2 * 16);
    cr_assert_eq(sharr_array_size(a), 30);
    cr_assert_eq((uintptr_t)sharr_array_data(a) % 4096, 0);
    for (size_t i = 0; i < sharr_array_nbytes(a); i++)
        cr_assert_eq(((unsigned char *)sharr_array_data(a))[i], 0);
    ((double *)sharr_array_data(a))[7] = 2.5;

    cr_assert_eq(sharr_array_open(n, 0, &b), 0, "%s", sharr_errmsg());
    cr_assert_eq(sharr_array_dtype(b), SHARR_C128);
    cr_assert_eq(sharr_array_ndim(b), 3);
    cr_assert_eq(sharr_array_shape(b)[0], 5);
    cr_assert_eq(sharr_array_shape(b)[1], 3);
    cr_assert_eq(sharr_array_shape(b)[2], 2);
    cr_assert_str_eq(sharr_array_name(b), n);
    cr_assert_eq(((double *)sharr_array_data(b))[7], 2.5);
    unsigned char ida[16], idb[16];
    sharr_array_id(a, ida);
    sharr_array_id(b, idb);
    cr_assert_eq(memcmp(ida, idb, 16), 0);
    sharr_array_close(a);
    sharr_array_close(b);
}

Test(array, every_dtype_creates_with_its_item_size)
{
    for (int dt = SHARR_I8; dt <= SHARR_C128; dt++) {
        char label[32];
        size_t shape[] = {3, 7};
        snprintf(label, sizeof label, "dt%d", dt);
        sharr_array *a = make(tu_name(label), (sharr_dtype)dt, 2, shape);
        cr_assert_eq(sharr_array_nbytes(a),
                     21 * sharr_dtype_size((sharr_dtype)dt));
        sharr_array_close(a);
        cr_assert_eq(sharr_unlink(tu_name(label)), 0);
    }
}

Test(array, scalar_has_one_row_of_one_element)
{
    sharr_array *a = make(tu_name("s"), SHARR_F64, 0, NULL);
    cr_assert_eq(sharr_array_ndim(a), 0);
    cr_assert_eq(sharr_array_rows(a), 1);
    cr_assert_eq(sharr_array_row_bytes(a), 8);
    cr_assert_eq(sharr_array_size(a), 1);
    sharr_array_close(a);
}

Test(array, segment_starts_with_npy_header_and_data_at_4096)
{
    size_t shape[] = {2, 3};
    sharr_array *a = make(tu_name("h"), SHARR_F32, 2, shape);
    char buf[4096];
    int fd = open(tu_path(tu_name("h")), O_RDONLY);
    cr_assert(fd >= 0);
    cr_assert_eq(read(fd, buf, sizeof buf), 4096);
    close(fd);
    cr_assert_eq(memcmp(buf, "\x93NUMPY\x01\x00", 8), 0);
    cr_assert_eq((unsigned char)buf[8] | ((unsigned char)buf[9] << 8), 4086);
    cr_assert(strstr(buf + 10, "'descr': '<f4'") != NULL);
    cr_assert(strstr(buf + 10, "'shape': (2,3)") != NULL);
    cr_assert_eq(buf[4095], '\n');
    sharr_array_close(a);
}

Test(array, default_mode_is_0600_whatever_the_umask)
{
    mode_t old = umask(0);
    sharr_array *a = make(tu_name("m"), SHARR_U8, 0, NULL);
    struct stat st;
    umask(old);
    cr_assert_eq(stat(tu_path(tu_name("m")), &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    sharr_array_close(a);
}

Test(array, explicit_mode_is_applied)
{
    sharr_create_opts o = {.mode = 0640};
    sharr_array *a = NULL;
    struct stat st;
    cr_assert_eq(sharr_array_create(tu_name("m"), SHARR_U8, 0, NULL, &o, &a),
                 0);
    cr_assert_eq(stat(tu_path(tu_name("m")), &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0640);
    sharr_array_close(a);
    o.mode = 04755;
    cr_assert_eq(sharr_array_create(tu_name("m2"), SHARR_U8, 0, NULL, &o, &a),
                 SHARR_EINVAL);
    cr_assert(!tu_exists(tu_name("m2")));
}

/* ---- bad input to create, and nothing left behind ---- */

Test(array, bad_names_fail_with_einval)
{
    char longname[SHARR_NAME_MAX + 2];
    const char *bad[] = {"", ".hidden", "a/b", "a b", "x\ty", "caf\xc3\xa9",
                         longname};
    sharr_array *a = (sharr_array *)1;
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(sharr_array_create(bad[i], SHARR_F64, 0, NULL, NULL, &a),
                     SHARR_EINVAL, "name '%s'", bad[i]);
        cr_assert_null(a);
        cr_assert_eq(sharr_array_open(bad[i], 0, &a), SHARR_EINVAL);
        cr_assert_eq(sharr_unlink(bad[i]), SHARR_EINVAL);
    }
    cr_assert_eq(sharr_array_create(NULL, SHARR_F64, 0, NULL, NULL, &a),
                 SHARR_EINVAL);
    /* 200 characters is the limit, and allowed. */
    longname[SHARR_NAME_MAX] = '\0';
    memcpy(longname, tu_name("L"), strlen(tu_name("L")));
    cr_assert_eq(sharr_array_create(longname, SHARR_U8, 0, NULL, NULL, &a), 0,
                 "%s", sharr_errmsg());
    sharr_array_close(a);
}

Test(array, bad_dtype_ndim_and_shape_fail_with_einval_naming_the_field)
{
    size_t shape[9] = {2, 2, 2, 2, 2, 2, 2, 2, 2};
    sharr_array *a;
    const char *n = tu_name("bad");

    cr_assert_eq(sharr_array_create(n, (sharr_dtype)0, 1, shape, NULL, &a),
                 SHARR_EINVAL);
    cr_assert_eq(sharr_array_create(n, (sharr_dtype)99, 1, shape, NULL, &a),
                 SHARR_EINVAL);
    cr_assert_eq(sharr_array_create(n, SHARR_F64, 9, shape, NULL, &a),
                 SHARR_EINVAL);
    cr_assert(strstr(sharr_errmsg(), "ndim") != NULL);
    cr_assert_eq(sharr_array_create(n, SHARR_F64, 2, NULL, NULL, &a),
                 SHARR_EINVAL);
    sharr_create_opts o = {.flags = 0x80};
    cr_assert_eq(sharr_array_create(n, SHARR_F64, 1, shape, &o, &a),
                 SHARR_EINVAL);
    cr_assert(!tu_exists(n));
}

Test(array, overflowing_shape_fails_with_eoverflow_and_leaves_nothing)
{
    size_t shape[] = {(size_t)1 << 40, (size_t)1 << 40};
    size_t shape2[] = {SIZE_MAX / 8};
    sharr_array *a;
    cr_assert_eq(sharr_array_create(tu_name("o"), SHARR_C128, 2, shape, NULL,
                                    &a), SHARR_EOVERFLOW);
    cr_assert_eq(sharr_array_create(tu_name("o"), SHARR_C128, 1, shape2, NULL,
                                    &a), SHARR_EOVERFLOW);
    cr_assert(!tu_exists(tu_name("o")));
}

Test(array, shape_bigger_than_free_memory_fails_with_enospc_and_advice)
{
    struct statvfs v;
    cr_assert_eq(statvfs("/dev/shm", &v), 0);
    size_t avail = (size_t)v.f_bavail * v.f_frsize;
    size_t shape[] = {avail / 8 + 4096};
    sharr_array *a;

    cr_assert_eq(sharr_array_create(tu_name("big"), SHARR_F64, 1, shape, NULL,
                                    &a), SHARR_ENOSPC);
    cr_assert_null(a);
    cr_assert(strstr(sharr_errmsg(), "bytes") != NULL);
    cr_assert(strstr(sharr_errmsg(), "free") != NULL);
    cr_assert(strstr(sharr_errmsg(), "--shm-size") != NULL, "%s",
              sharr_errmsg());
    cr_assert(!tu_exists(tu_name("big")));
}

Test(array, create_of_existing_name_fails_with_eexist_and_keeps_the_old)
{
    size_t shape[] = {4};
    sharr_array *a = make(tu_name("e"), SHARR_I32, 1, shape), *b;
    ((int32_t *)sharr_array_data(a))[0] = 42;
    cr_assert_eq(sharr_array_create(tu_name("e"), SHARR_F64, 1, shape, NULL,
                                    &b), SHARR_EEXIST);
    cr_assert_null(b);
    cr_assert_eq(sharr_array_open(tu_name("e"), 0, &b), 0);
    cr_assert_eq(sharr_array_dtype(b), SHARR_I32);
    cr_assert_eq(((int32_t *)sharr_array_data(b))[0], 42);
    sharr_array_close(a);
    sharr_array_close(b);
}

Test(array, open_and_unlink_of_missing_name_fail_with_enoent)
{
    sharr_array *a = (sharr_array *)1;
    sharr_info in;
    cr_assert_eq(sharr_array_open(tu_name("none"), 0, &a), SHARR_ENOENT);
    cr_assert_null(a);
    cr_assert(strstr(sharr_errmsg(), tu_name("none")) != NULL);
    cr_assert_eq(sharr_unlink(tu_name("none")), SHARR_ENOENT);
    cr_assert_eq(sharr_stat(tu_name("none"), &in), SHARR_ENOENT);
    cr_assert_eq(sharr_array_open(tu_name("none"), 0x100, &a), SHARR_EINVAL);
}

Test(array, unlink_removes_but_mapping_stays_valid)
{
    size_t shape[] = {8};
    sharr_array *a = make(tu_name("u"), SHARR_F64, 1, shape);
    ((double *)sharr_array_data(a))[3] = 1.5;
    cr_assert_eq(sharr_unlink(tu_name("u")), 0);
    cr_assert(!tu_exists(tu_name("u")));
    cr_assert_eq(((double *)sharr_array_data(a))[3], 1.5);
    sharr_array_close(a);
}

/* ---- read-only ---- */

Test(array, read_only_open_maps_elements_without_write_permission)
{
    size_t shape[] = {16};
    sharr_array *a = make(tu_name("ro"), SHARR_F64, 1, shape), *r;
    cr_assert_eq(sharr_array_open(tu_name("ro"), SHARR_OPEN_RDONLY, &r), 0);
    cr_assert_eq(sharr_array_writable(r), 0);
    cr_assert_eq(sharr_array_writable(a), 1);
    sharr_fill_spec f = {.kind = SHARR_FILL_RANGE};
    cr_assert_eq(sharr_fill(NULL, r, &f, NULL), SHARR_EACCES);

    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        ((volatile double *)sharr_array_data(r))[0] = 1.0;
        _exit(0);
    }
    int st = tu_reap(pid);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV,
              "a write through a read-only mapping must fault (status %d)",
              st);
    cr_assert_eq(((double *)sharr_array_data(a))[0], 0.0);
    /* The lock still works: the control block is writable. */
    cr_assert_eq(sharr_array_lock(r), 0);
    cr_assert_eq(sharr_array_unlock(r), 0);
    sharr_array_close(r);
    sharr_array_close(a);
}

/* ---- corrupt, truncated and foreign segments ---- */

static void expect_corrupt(const char *name, const char *field)
{
    sharr_array *a = (sharr_array *)1;
    sharr_info in;
    cr_assert_eq(sharr_array_open(name, 0, &a), SHARR_ECORRUPT,
                 "expected ECORRUPT for %s", field);
    cr_assert_null(a);
    cr_assert(strstr(sharr_errmsg(), field) != NULL, "'%s' not in '%s'", field,
              sharr_errmsg());
    cr_assert_eq(sharr_stat(name, &in), SHARR_ECORRUPT);
}

/* A valid 4x4 f64 array whose control block is then patched at `off`. */
static void corrupt_ctl(const char *label, size_t off, const void *p,
                        size_t n, const char *field)
{
    size_t shape[] = {4, 4};
    const char *name = tu_name(label);
    sharr_array_close(make(name, SHARR_F64, 2, shape));
    tu_patch(name, 8192 + (off_t)off, p, n);
    expect_corrupt(name, field);
}

Test(array, corrupt_control_block_fields_are_refused_by_name)
{
    uint32_t v2 = 2, big = 99, nine = 9, flag = 0x40;
    uint64_t zero = 0, seven = 7, other = 12345;
    corrupt_ctl("c1", 0, "XXXXXXXX", 8, "magic");
    corrupt_ctl("c2", offsetof(struct sharr__ctl, version), &v2, 4,
                "newer");
    corrupt_ctl("c3", offsetof(struct sharr__ctl, dtype), &big, 4, "dtype");
    corrupt_ctl("c4", offsetof(struct sharr__ctl, ndim), &nine, 4, "ndim");
    /* A zero axis is valid (an empty array), but not with 128 bytes. */
    corrupt_ctl("c5", offsetof(struct sharr__ctl, shape), &zero, 8,
                "nbytes = 128, the shape needs 0");
    corrupt_ctl("c5b", offsetof(struct sharr__ctl, shape) + 16, &seven, 8,
                "shape[2]");
    corrupt_ctl("c6", offsetof(struct sharr__ctl, shape) + 8, &seven, 8,
                "nbytes");
    corrupt_ctl("c7", offsetof(struct sharr__ctl, nbytes), &other, 8,
                "nbytes");
    corrupt_ctl("c8", offsetof(struct sharr__ctl, data_offset), &zero, 8,
                "data_offset");
    corrupt_ctl("c9", offsetof(struct sharr__ctl, flags), &flag, 4, "flags");
    corrupt_ctl("c10", offsetof(struct sharr__ctl, ctl_offset), &other, 8,
                "ctl_offset");
    corrupt_ctl("c11", offsetof(struct sharr__ctl, total_size), &other, 8,
                "bytes");
}

Test(array, npy_header_that_does_not_match_is_refused)
{
    size_t shape[] = {4, 4};
    sharr_array_close(make(tu_name("hdr"), SHARR_F64, 2, shape));
    tu_patch(tu_name("hdr"), 30, "9", 1);
    expect_corrupt(tu_name("hdr"), ".npy header");
}

Test(array, shape_patched_consistently_except_header_is_refused)
{
    /* A forger who rewrites shape and nbytes together still fails the
     * regenerated header comparison. */
    size_t shape[] = {4, 4};
    uint64_t s0 = 2, nb = 2 * 4 * 8;
    const char *n = tu_name("forge");
    sharr_array_close(make(n, SHARR_F64, 2, shape));
    tu_patch(n, 8192 + offsetof(struct sharr__ctl, shape), &s0, 8);
    tu_patch(n, 8192 + offsetof(struct sharr__ctl, nbytes), &nb, 8);
    expect_corrupt(n, ".npy header");
}

Test(array, truncated_and_extended_segments_are_refused)
{
    size_t shape[] = {1000};
    const char *n = tu_name("tr");
    sharr_array_close(make(n, SHARR_F64, 1, shape));
    cr_assert_eq(truncate(tu_path(n), 8192), 0);
    expect_corrupt(n, "truncated");
    cr_assert_eq(truncate(tu_path(n), 100), 0);
    expect_corrupt(n, "100 bytes");
    cr_assert_eq(truncate(tu_path(n), 9000), 0);
    expect_corrupt(n, "multiple");
    cr_assert_eq(truncate(tu_path(n), 0), 0);
    expect_corrupt(n, "0 bytes");

    const char *m = tu_name("ext");
    sharr_array_close(make(m, SHARR_F64, 1, shape));
    cr_assert_eq(truncate(tu_path(m), 6 * 4096), 0);
    expect_corrupt(m, "magic");
}

Test(array, random_bytes_and_foreign_programs_segments_are_refused)
{
    const char *n = tu_name("rnd");
    unsigned char buf[3 * 4096];
    int fd = open(tu_path(n), O_CREAT | O_EXCL | O_RDWR, 0600);
    cr_assert(fd >= 0);
    sharr__random_bytes(buf, sizeof buf);
    cr_assert_eq(write(fd, buf, sizeof buf), (ssize_t)sizeof buf);
    close(fd);
    expect_corrupt(n, "magic");

    /* Another program's segment: text, not a multiple of a page. */
    const char *m = tu_name("other");
    fd = open(tu_path(m), O_CREAT | O_EXCL | O_RDWR, 0600);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, "hello from python\n", 18), 18);
    close(fd);
    expect_corrupt(m, "18 bytes");
}

Test(array, newer_layout_version_is_refused_with_upgrade_advice)
{
    uint32_t v = 7;
    corrupt_ctl("v", offsetof(struct sharr__ctl, version), &v, 4, "upgrade");
}

Test(array, segment_of_another_user_is_refused_unless_asked)
{
    size_t shape[] = {4};
    const char *n = tu_name("foreign");
    sharr_array *a;
    if (geteuid() != 0)
        cr_skip_test("needs root to chown a segment to another user");
    sharr_array_close(make(n, SHARR_F64, 1, shape));
    cr_assert_eq(chown(tu_path(n), 65534, 65534), 0);
    cr_assert_eq(sharr_array_open(n, 0, &a), SHARR_EFOREIGN);
    cr_assert(strstr(sharr_errmsg(), "65534") != NULL, "%s", sharr_errmsg());
    cr_assert_null(a);
    cr_assert_eq(sharr_array_open(n, SHARR_OPEN_FOREIGN, &a), 0);
    sharr_array_close(a);
}

/* ---- the robust lock ---- */

Test(array, lock_of_a_killed_holder_is_recovered_with_eownerdead)
{
    size_t shape[] = {4};
    const char *n = tu_name("lock");
    sharr_array *a = make(n, SHARR_I64, 1, shape);
    int pipefd[2];
    char c;
    cr_assert_eq(pipe(pipefd), 0);

    pid_t pid = fork();
    if (pid == 0) {
        sharr_array *b;
        if (sharr_array_open(n, 0, &b) < 0 || sharr_array_lock(b) < 0)
            _exit(1);
        (void)!write(pipefd[1], "L", 1);
        pause(); /* holds the lock until SIGKILL */
        _exit(0);
    }
    cr_assert_eq(read(pipefd[0], &c, 1), 1);
    kill(pid, SIGKILL);
    tu_reap(pid);
    cr_assert_eq(sharr_array_lock(a), SHARR_EOWNERDEAD);
    cr_assert(strstr(sharr_errmsg(), "died") != NULL);
    cr_assert_eq(sharr_array_unlock(a), 0);
    cr_assert_eq(sharr_array_lock(a), 0, "the lock is consistent again");
    cr_assert_eq(sharr_array_unlock(a), 0);
    close(pipefd[0]);
    close(pipefd[1]);
    sharr_array_close(a);
}

Test(array, lock_excludes_other_processes_until_unlock)
{
    size_t shape[] = {1};
    const char *n = tu_name("mutex");
    sharr_array *a = make(n, SHARR_I64, 1, shape);
    volatile int64_t *counter = sharr_array_data(a);
    enum { PROCS = 4, ITERS = 2000 };
    pid_t pids[PROCS];

    for (int p = 0; p < PROCS; p++) {
        if ((pids[p] = fork()) == 0) {
            sharr_array *b;
            if (sharr_array_open(n, 0, &b) < 0)
                _exit(1);
            volatile int64_t *c = sharr_array_data(b);
            for (int i = 0; i < ITERS; i++) {
                if (sharr_array_lock(b) != 0)
                    _exit(2);
                int64_t v = *c; /* a lost update shows without the lock */
                sched_yield();
                *c = v + 1;
                sharr_array_unlock(b);
            }
            _exit(0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int st = tu_reap(pids[p]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    cr_assert_eq(*counter, PROCS * ITERS);
    sharr_array_close(a);
}

Test(array, lock_twice_is_ebusy_and_unlock_without_lock_is_eperm)
{
    sharr_array *a = make(tu_name("l2"), SHARR_U8, 0, NULL);
    cr_assert_eq(sharr_array_unlock(a), SHARR_EPERM);
    cr_assert_eq(sharr_array_lock(a), 0);
    cr_assert_eq(sharr_array_lock(a), SHARR_EBUSY);
    /* close releases a held lock */
    sharr_array_close(a);
    cr_assert_eq(sharr_array_open(tu_name("l2"), 0, &a), 0);
    cr_assert_eq(sharr_array_lock(a), 0);
    sharr_array_close(a);
}

Test(array, lock_through_another_handle_of_the_holding_thread_is_ebusy)
{
    const char *n = tu_name("l3");
    sharr_array *a = make(n, SHARR_U8, 0, NULL), *b;

    cr_assert_eq(sharr_array_open(n, SHARR_OPEN_RDONLY, &b), 0);
    cr_assert_eq(sharr_array_lock(a), 0);
    /* Without the check these wait for ever (the suite's timeout). */
    cr_assert_eq(sharr_array_lock(b), SHARR_EBUSY);
    cr_assert(strstr(sharr_errmsg(), "another handle") != NULL, "%s",
              sharr_errmsg());
    cr_assert_eq(sharr_array_lock_timed(b, 5), SHARR_EBUSY);
    cr_assert_eq(sharr_array_lock_timed(b, 0), SHARR_EBUSY);
    cr_assert_eq(sharr_array_unlock(a), 0);
    cr_assert_eq(sharr_array_lock_timed(b, 0), 0, "free again: b takes it");
    cr_assert_eq(sharr_array_unlock(b), 0);
    sharr_array_close(b);
    sharr_array_close(a);
}

Test(array, lock_holder_is_the_holding_thread_and_0_when_free)
{
    const char *n = tu_name("lh");
    sharr_array *a = make(n, SHARR_U8, 0, NULL), *b;
    int died = -1, pipefd[2];
    char c;

    cr_assert_eq(sharr_array_open(n, SHARR_OPEN_RDONLY, &b), 0);
    cr_assert_eq(sharr_array_lock_holder(b, &died), 0);
    cr_assert_eq(died, 0);
    cr_assert_eq(sharr_array_lock(a), 0);
    cr_assert_eq(sharr_array_lock_holder(b, NULL), getpid());
    cr_assert_eq(sharr_array_unlock(a), 0);
    cr_assert_eq(sharr_array_lock_holder(b, NULL), 0);

    cr_assert_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sharr_array *h;
        if (sharr_array_open(n, 0, &h) < 0 || sharr_array_lock(h) < 0)
            _exit(1);
        (void)!write(pipefd[1], "L", 1);
        pause(); /* holds the lock until SIGKILL */
        _exit(0);
    }
    cr_assert_eq(read(pipefd[0], &c, 1), 1);
    cr_assert_eq(sharr_array_lock_holder(b, &died), pid);
    cr_assert_eq(died, 0);
    kill(pid, SIGKILL);
    tu_reap(pid);
    cr_assert_eq(sharr_array_lock_holder(b, &died), 0, "nobody holds it");
    cr_assert_eq(died, 1, "the kernel marked the dead holder");
    cr_assert_eq(sharr_array_lock(a), SHARR_EOWNERDEAD);
    cr_assert_eq(sharr_array_lock_holder(b, &died), getpid());
    cr_assert_eq(died, 0, "repaired by the next holder");
    cr_assert_eq(sharr_array_unlock(a), 0);
    close(pipefd[0]);
    close(pipefd[1]);
    sharr_array_close(b);
    sharr_array_close(a);
}

/* A handle that says it holds the lock but whose thread does not (a
 * forked child's copy, or the handle used from another thread) cannot
 * release it: SHARR_EPERM, and the holder still holds it. */
static void *unlock_from_here(void *arg)
{
    return (void *)(intptr_t)sharr_array_unlock(arg);
}

Test(array, unlock_by_a_thread_that_does_not_hold_the_lock_is_eperm,
     .timeout = 15)
{
    const char *n = tu_name("ul");
    sharr_array *a = make(n, SHARR_U8, 0, NULL);
    pthread_t t;
    void *rc;
    int st;

    cr_assert_eq(sharr_array_lock(a), 0);
    pid_t pid = fork();
    if (pid == 0)
        _exit(sharr_array_unlock(a) == SHARR_EPERM &&
              sharr_array_lock_holder(a, NULL) == getppid() ? 0 : 1);
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "the child's unlock said it released the parent's lock");
    cr_assert_eq(sharr_array_lock_holder(a, NULL), getpid());

    cr_assert_eq(pthread_create(&t, NULL, unlock_from_here, a), 0);
    cr_assert_eq(pthread_join(t, &rc), 0);
    cr_assert_eq((int)(intptr_t)rc, SHARR_EPERM);
    cr_assert_eq(sharr_array_lock_holder(a, NULL), getpid(),
                 "another thread's unlock released it");
    sharr_array_close(a); /* the holder's close releases it */
    sharr_array *b;
    cr_assert_eq(sharr_array_open(n, 0, &b), 0);
    cr_assert_eq(sharr_array_lock_holder(b, NULL), 0);
    sharr_array_close(b);
}

/* ---- temporary arrays ---- */

/* A child creates a temporary array, reports, waits for the go, then dies
 * as `how` says (0: a normal exit, else that signal). */
static void temp_child_dies(const char *name, int how)
{
    int report[2], go[2];
    char c = 0;
    cr_assert_eq(pipe(report), 0);
    cr_assert_eq(pipe(go), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sharr_create_opts o = {.flags = SHARR_CREATE_TEMP};
        sharr_array *a;
        size_t shape[] = {1024};
        int err = sharr_array_create(name, SHARR_F64, 1, shape, &o, &a);
        (void)!write(report[1], err == 0 ? "y" : "n", 1);
        (void)!read(go[0], &c, 1);
        if (how == 0)
            _exit(0);
        pause();
        _exit(0);
    }
    cr_assert_eq(read(report[0], &c, 1), 1);
    cr_assert_eq(c, 'y');
    cr_assert(tu_exists(name));
    if (how)
        kill(pid, how);
    else
        (void)!write(go[1], "x", 1);
    tu_reap(pid);
    for (int i = 0; i < 2; i++) {
        close(report[i]);
        close(go[i]);
    }
    cr_assert(tu_wait_gone(name, 5.0), "temporary array %s outlived its "
              "creator", name);
}

Test(array, temporary_array_is_removed_when_creator_is_sigkilled)
{
    temp_child_dies(tu_name("tk"), SIGKILL);
}

Test(array, temporary_array_is_removed_when_creator_exits)
{
    temp_child_dies(tu_name("te"), 0);
}

Test(array, temporary_array_is_removed_when_creator_is_sigtermed)
{
    temp_child_dies(tu_name("tt"), SIGTERM);
}

Test(array, guardian_never_removes_an_array_it_did_not_create)
{
    /* The child makes a temporary array, removes it, and the parent makes a
     * permanent one under the same name; the child's exit must spare it. */
    const char *n = tu_name("same");
    int p1[2], p2[2];
    char c;
    cr_assert_eq(pipe(p1), 0);
    cr_assert_eq(pipe(p2), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sharr_create_opts o = {.flags = SHARR_CREATE_TEMP};
        sharr_array *a;
        if (sharr_array_create(n, SHARR_U8, 0, NULL, &o, &a) < 0)
            _exit(1);
        sharr_array_close(a);
        sharr_unlink(n);
        (void)!write(p1[1], "x", 1);
        (void)!read(p2[0], &c, 1);
        _exit(0);
    }
    cr_assert_eq(read(p1[0], &c, 1), 1);
    sharr_array *mine = make(n, SHARR_U8, 0, NULL);
    (void)!write(p2[1], "x", 1);
    tu_reap(pid);
    usleep(300000); /* the guardian has had time to act */
    cr_assert(tu_exists(n), "the guardian removed an array it did not make");
    sharr_array_close(mine);
    for (int i = 0; i < 2; i++) {
        close(p1[i]);
        close(p2[i]);
    }
}

Test(array, temporary_arrays_die_with_their_creator_not_before)
{
    const char *n = tu_name("alive");
    sharr_create_opts o = {.flags = SHARR_CREATE_TEMP};
    sharr_array *a;
    sharr_info in;
    cr_assert_eq(sharr_array_create(n, SHARR_U8, 0, NULL, &o, &a), 0, "%s",
                 sharr_errmsg());
    usleep(200000);
    cr_assert(tu_exists(n));
    cr_assert_eq(sharr_stat(n, &in), 0);
    cr_assert(in.flags & SHARR_CREATE_TEMP);
    cr_assert_eq(in.creator, getpid());
    cr_assert_eq(in.creator_alive, 1);
    sharr_array_close(a);
}

Test(array, a_kept_temporary_array_outlives_its_creator)
{
    const char *n = tu_name("kept"), *m = tu_name("notkept");
    int p[2];
    char c;
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sharr_create_opts o = {.flags = SHARR_CREATE_TEMP};
        sharr_array *a, *b;
        int ok = sharr_array_create(n, SHARR_U8, 0, NULL, &o, &a) == 0 &&
                 sharr_array_create(m, SHARR_U8, 0, NULL, &o, &b) == 0 &&
                 sharr_array_keep(a) == 0 &&
                 sharr_array_keep(a) == SHARR_EPERM;
        (void)!write(p[1], ok ? "y" : "n", 1);
        _exit(0);
    }
    cr_assert_eq(read(p[0], &c, 1), 1);
    cr_assert_eq(c, 'y');
    tu_reap(pid);
    cr_assert(tu_wait_gone(m, 5.0), "the array not kept was removed");
    cr_assert(tu_exists(n), "the kept array survives its creator");
    sharr_info in;
    cr_assert_eq(sharr_stat(n, &in), 0);
    cr_assert_eq(in.flags & SHARR_CREATE_TEMP, 0);
    sharr_array *a;
    cr_assert_eq(sharr_array_create(tu_name("perm"), SHARR_U8, 0, NULL, NULL,
                                    &a), 0);
    cr_assert_eq(sharr_array_keep(a), SHARR_EPERM);
    sharr_array_close(a);
    close(p[0]);
    close(p[1]);
}

Test(array, temporary_owner_must_be_caller_or_parent)
{
    sharr_create_opts o = {.flags = SHARR_CREATE_TEMP, .owner = 1};
    sharr_array *a;
    if (getppid() == 1)
        cr_skip_test("parent is pid 1");
    cr_assert_eq(sharr_array_create(tu_name("own"), SHARR_U8, 0, NULL, &o,
                                    &a), SHARR_EINVAL);
    cr_assert(!tu_exists(tu_name("own")));
    o.flags = 0;
    o.owner = getpid();
    cr_assert_eq(sharr_array_create(tu_name("own"), SHARR_U8, 0, NULL, &o,
                                    &a), SHARR_EINVAL);
}

/* ---- stat, list and gc ---- */

Test(array, stat_reports_layout_owner_and_liveness_without_mapping)
{
    size_t shape[] = {3, 5};
    sharr_array *a = make(tu_name("st"), SHARR_I16, 2, shape);
    sharr_info in;
    cr_assert_eq(sharr_stat(tu_name("st"), &in), 0);
    cr_assert_eq(in.dtype, SHARR_I16);
    cr_assert_eq(in.ndim, 2);
    cr_assert_eq(in.shape[1], 5);
    cr_assert_eq(in.nbytes, 30);
    cr_assert_eq(in.data_offset, 4096);
    cr_assert_eq(in.ctl_offset, 8192);
    cr_assert_eq(in.segment_size, 12288);
    cr_assert_eq(in.uid, geteuid());
    cr_assert_eq(in.creator, getpid());
    cr_assert_eq(in.creator_alive, 1);
    cr_assert_str_eq(in.path, tu_path(tu_name("st")));
    cr_assert_eq(in.attached, 1);
    sharr_array *b;
    cr_assert_eq(sharr_array_open(tu_name("st"), SHARR_OPEN_RDONLY, &b), 0);
    cr_assert_eq(sharr_stat(tu_name("st"), &in), 0);
    cr_assert_eq(in.attached, 2);
    sharr_array_close(b);
    sharr_array_close(a);
    cr_assert_eq(sharr_stat(tu_name("st"), &in), 0);
    cr_assert_eq(in.attached, 0);
}

Test(array, list_shows_valid_and_corrupt_segments)
{
    sharr_array_close(make(tu_name("l1"), SHARR_F64, 0, NULL));
    int fd = open(tu_path(tu_name("l2")), O_CREAT | O_RDWR, 0600);
    cr_assert(fd >= 0);
    close(fd);
    sharr_info *list;
    size_t n, found = 0;
    cr_assert_eq(sharr_list(&list, &n), 0);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i].name, tu_name("l1")) == 0) {
            cr_assert_eq(list[i].status, 0);
            cr_assert_eq(list[i].dtype, SHARR_F64);
            found++;
        }
        if (strcmp(list[i].name, tu_name("l2")) == 0) {
            cr_assert_eq(list[i].status, SHARR_ECORRUPT);
            found++;
        }
        if (i > 0)
            cr_assert(strcmp(list[i - 1].name, list[i].name) < 0);
    }
    cr_assert_eq(found, 2);
    sharr_list_free(list);
}

static pid_t dead_pid(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    tu_reap(pid);
    return pid;
}

struct removed_seen {
    const char *want[2];
    int seen[2];
};

static void note_removed(const char *name, void *ctx)
{
    struct removed_seen *r = ctx;
    for (int i = 0; i < 2; i++)
        r->seen[i] += strcmp(name, r->want[i]) == 0;
}

Test(array, gc_removes_dead_temporaries_and_half_made_segments_only)
{
    size_t shape[] = {4};
    int64_t dead = dead_pid();
    uint32_t temp = SHARR_CREATE_TEMP;
    const char *keep = tu_name("keep"), *tmp = tu_name("deadtmp"),
               *half = tu_name("half");
    off_t pid_off = 8192 + offsetof(struct sharr__ctl, creator_pid);

    tu_gc_serialize(); /* before making anything another gc could take */
    sharr_array_close(make(keep, SHARR_F64, 1, shape));
    tu_patch(keep, pid_off, &dead, 8); /* permanent: gc must keep it */
    sharr_array_close(make(tmp, SHARR_F64, 1, shape));
    tu_patch(tmp, pid_off, &dead, 8);
    tu_patch(tmp, 8192 + offsetof(struct sharr__ctl, flags), &temp, 4);
    sharr_array_close(make(half, SHARR_F64, 1, shape));
    tu_patch(half, pid_off, &dead, 8);
    tu_patch(half, 8192, "SHARRnew", 8);

    struct removed_seen dry = {{tmp, half}, {0, 0}}, real = dry;
    cr_assert_geq(sharr_gc(1, note_removed, &dry), 2);
    cr_assert(dry.seen[0] == 1 && dry.seen[1] == 1,
              "dry run reported temp %d, half-made %d times", dry.seen[0],
              dry.seen[1]);
    cr_assert(tu_exists(tmp) && tu_exists(half), "dry run removed something");
    cr_assert_geq(sharr_gc(0, note_removed, &real), 2);
    cr_assert(real.seen[0] == 1 && real.seen[1] == 1,
              "gc reported temp %d, half-made %d times", real.seen[0],
              real.seen[1]);
    cr_assert(!tu_exists(tmp));
    cr_assert(!tu_exists(half));
    cr_assert(tu_exists(keep));
}

/* Hidden build names of this test's pid family: ".new.<pid>." */
static int hidden_left(pid_t pid)
{
    char prefix[64];
    DIR *d = opendir("/dev/shm");
    struct dirent *e;
    int n = 0;

    snprintf(prefix, sizeof prefix, "sharr..new.%d.", (int)pid);
    while (d && (e = readdir(d)) != NULL)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

Test(array, a_create_killed_at_any_moment_never_leaves_a_named_half_segment)
{
    /* 24 MiB: posix_fallocate takes long enough to be hit mid-way too. */
    size_t shape[] = {3 << 20};
    unsigned seed = 12345;

    tu_gc_serialize();
    for (int round = 0; round < 30; round++) {
        const char *n = tu_name("kill");
        int temp = round % 2;
        pid_t pid = fork();
        if (pid == 0) {
            sharr_create_opts o = {.flags = temp ? SHARR_CREATE_TEMP : 0};
            sharr_array *a;
            sharr_array_create(n, SHARR_F64, 1, shape, &o, &a);
            pause();
            _exit(0);
        }
        usleep(rand_r(&seed) % 8000);
        kill(pid, SIGKILL);
        tu_reap(pid);
        sharr_array *a;
        int err = sharr_array_open(n, 0, &a);
        cr_assert(err == 0 || err == SHARR_ENOENT, "round %d: %s", round,
                  sharr_errmsg());
        sharr_array_close(a);
        if (temp) {
            cr_assert(tu_wait_gone(n, 5.0), "round %d: temporary array "
                      "outlived its killed creator", round);
            for (int i = 0; i < 500 && hidden_left(pid); i++)
                usleep(10000);
            cr_assert_eq(hidden_left(pid), 0, "round %d: the guardian left "
                         "the hidden build name", round);
        } else {
            sharr_unlink(n);
        }
        sharr_gc(0, NULL, NULL); /* removes a non-temporary hidden build */
        cr_assert_eq(hidden_left(pid), 0, "round %d", round);
    }
}

/* Make a hidden build "sharr..new.<pid>.<tag>" of this process's origin,
 * as a creator killed during the build leaves it: a real array renamed there
 * with the INCOMPLETE magic.  Returns its path (static). */
static const char *fake_build(pid_t pid, const char *tag)
{
    static char path[4][128];
    static int next;
    char *p = path[next++ % 4];
    size_t shape[] = {4};
    const char *n = tu_name(tag);

    sharr_array_close(make(n, SHARR_F64, 1, shape));
    tu_patch(n, 8192, "SHARRnew", 8);
    snprintf(p, 128, "/dev/shm/sharr..new.%d.%s", (int)pid, tag);
    cr_assert_eq(rename(tu_path(n), p), 0);
    return p;
}

struct gc_seen {
    char name[64][128];
    sharr_gc_event ev[64];
    char detail[64][256];
    int n;
};

/* Record the events of the names of this test (t.<pid>.*) and of every
 * hidden build (the fakes are named by the dead pid they stand for). */
static void note_event(const char *name, sharr_gc_event ev, const char *detail,
                       void *ctx)
{
    struct gc_seen *g = ctx;
    char mine[32];
    snprintf(mine, sizeof mine, ".%d.", (int)tu_owner);
    if ((strstr(name, mine) == NULL && strncmp(name, ".new.", 5) != 0) ||
        g->n == 64)
        return;
    snprintf(g->name[g->n], sizeof g->name[0], "%s", name);
    snprintf(g->detail[g->n], sizeof g->detail[0], "%s", detail);
    g->ev[g->n++] = ev;
}

/* The event reported for `name`, or -1. */
static int event_of(const struct gc_seen *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (strcmp(g->name[i], name) == 0)
            return (int)g->ev[i];
    return -1;
}

static const char *detail_of(const struct gc_seen *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (strcmp(g->name[i], name) == 0)
            return g->detail[i];
    return "";
}

Test(array, gc_removes_hidden_builds_of_dead_creators_only)
{
    char empty[128];
    pid_t gone = dead_pid();
    tu_gc_serialize();
    const char *dead = fake_build(gone, "00ff"),
               *alive = fake_build(getpid(), "00fe");
    /* A hidden name without a control block says nothing of its builder's
     * namespace: kept (today's creates never leave one; see create). */
    snprintf(empty, sizeof empty, "/dev/shm/sharr..new.%d.00fd", (int)gone);
    close(open(empty, O_CREAT | O_RDWR, 0600));
    struct gc_seen g = {0};
    char shown[64];
    int n = sharr_gc_report(0, note_event, &g);
    int dead_gone = access(dead, F_OK) == -1;
    int alive_kept = access(alive, F_OK) == 0;
    int empty_kept = access(empty, F_OK) == 0;
    unlink(dead);
    unlink(alive);
    unlink(empty);
    cr_assert_geq(n, 1);
    cr_assert(dead_gone, "the dead builder's file stays");
    cr_assert(alive_kept, "a live builder's file went");
    cr_assert(empty_kept, "a build of unknown origin was removed");
    snprintf(shown, sizeof shown, ".new.%d.00fd", (int)gone);
    cr_assert_eq(event_of(&g, shown), SHARR_GC_UNKNOWN);
}

Test(array, gc_keeps_hidden_builds_of_another_pid_namespace)
{
    pid_t gone = dead_pid();
    uint64_t other = 12345;
    char shown[64];
    tu_gc_serialize();
    const char *p = fake_build(gone, "00fc");
    int fd = open(p, O_RDWR);
    cr_assert(fd >= 0);
    cr_assert_eq(pwrite(fd, &other, 8, 8192 + offsetof(struct sharr__ctl,
                                                        origin.pidns_ino)), 8);
    close(fd);
    struct gc_seen g = {0};
    sharr_gc_report(0, note_event, &g);
    int kept = access(p, F_OK) == 0;
    unlink(p);
    cr_assert(kept, "a build of another PID namespace was removed");
    snprintf(shown, sizeof shown, ".new.%d.00fc", (int)gone);
    cr_assert_eq(event_of(&g, shown), SHARR_GC_UNKNOWN);
    cr_assert(strstr(detail_of(&g, shown), "PID namespace"), "%s",
              detail_of(&g, shown));
}

/* ---- owners in other PID namespaces and boots ---- */

/* A temporary 4-element array whose owner is a dead pid, with the origin
 * bytes of its control block replaced by `origin` (NULL: left as made). */
static void dead_temporary(const char *name, const struct sharr__origin *o)
{
    size_t shape[] = {4};
    int64_t dead = dead_pid();
    uint32_t temp = SHARR_CREATE_TEMP;
    sharr_array_close(make(name, SHARR_F64, 1, shape));
    tu_patch(name, 8192 + offsetof(struct sharr__ctl, creator_pid), &dead, 8);
    tu_patch(name, 8192 + offsetof(struct sharr__ctl, flags), &temp, 4);
    if (o)
        tu_patch(name, 8192 + offsetof(struct sharr__ctl, origin), o,
                 sizeof *o);
}

Test(array, create_records_the_pid_namespace_and_boot)
{
    struct sharr__ctl ctl;
    struct stat st;
    sharr_array_close(make(tu_name("origin"), SHARR_U8, 0, NULL));
    int fd = open(tu_path(tu_name("origin")), O_RDONLY);
    cr_assert(fd >= 0);
    cr_assert_eq(pread(fd, &ctl, sizeof ctl, 8192), (ssize_t)sizeof ctl);
    close(fd);
    cr_assert_eq(stat("/proc/self/ns/pid", &st), 0);
    cr_assert_eq(ctl.origin.pidns_ino, (uint64_t)st.st_ino);
    cr_assert_eq(ctl.origin.pidns_dev, (uint64_t)st.st_dev);
    char text[64], hex[40] = "";
    fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY);
    cr_assert(fd >= 0);
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    cr_assert_gt(n, 32);
    for (ssize_t i = 0, k = 0; i < n && k < 32; i++)
        if (text[i] != '-' && text[i] != '\n')
            hex[k++] = text[i];
    for (int i = 0; i < 16; i++) {
        char b[3];
        snprintf(b, sizeof b, "%02x", ctl.origin.boot_id[i]);
        cr_assert(b[0] == hex[2 * i] && b[1] == hex[2 * i + 1],
                  "boot id byte %d", i);
    }
    cr_assert_eq(memcmp(ctl.reserved2, (unsigned char[32]){0}, 32), 0);
}

Test(array, owners_of_other_namespaces_boots_and_old_segments_are_unknown)
{
    struct sharr__origin me, ns, boot, none = {0};
    const char *a = tu_name("ons"), *b = tu_name("oboot"),
               *c = tu_name("oold"), *d = tu_name("odead");
    sharr_info in;
    sharr__origin_self(&me);
    ns = boot = me;
    ns.pidns_ino ^= 1;
    boot.boot_id[3] ^= 0x40;
    tu_gc_serialize();
    dead_temporary(a, &ns);
    dead_temporary(b, &boot);
    dead_temporary(c, &none);
    dead_temporary(d, NULL);
    cr_assert_eq(sharr_stat(a, &in), 0);
    cr_assert_eq(in.creator_alive, -1);
    cr_assert(strstr(in.detail, "another PID namespace"), "%s", in.detail);
    cr_assert_eq(sharr_stat(b, &in), 0);
    cr_assert_eq(in.creator_alive, -1);
    cr_assert(strstr(in.detail, "another boot"), "%s", in.detail);
    cr_assert_eq(sharr_stat(c, &in), 0);
    cr_assert_eq(in.creator_alive, -1);
    cr_assert(strstr(in.detail, "older sharr"), "%s", in.detail);
    cr_assert_eq(sharr_stat(d, &in), 0);
    cr_assert_eq(in.creator_alive, 0);

    struct gc_seen g = {0};
    cr_assert_geq(sharr_gc_report(0, note_event, &g), 1);
    cr_assert(tu_exists(a) && tu_exists(b) && tu_exists(c),
              "gc removed a temporary array whose owner it cannot judge");
    cr_assert(!tu_exists(d), "gc kept a dead temporary of its own namespace");
    cr_assert_eq(event_of(&g, a), SHARR_GC_UNKNOWN);
    cr_assert_eq(event_of(&g, b), SHARR_GC_UNKNOWN);
    cr_assert_eq(event_of(&g, c), SHARR_GC_UNKNOWN);
    cr_assert_eq(event_of(&g, d), SHARR_GC_REMOVED);
}

/* In a new PID namespace (the child is its pid 1), make the next pid `pid`
 * through ns_last_pid, so that a pid of the namespace is a dead one outside
 * it.  0 on success. */
static int next_pid_in_ns(pid_t pid)
{
    char text[32];
    int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY), len, ok;
    if (fd < 0)
        return -1;
    len = snprintf(text, sizeof text, "%d", (int)pid - 1);
    ok = write(fd, text, (size_t)len) == len;
    close(fd);
    return ok ? 0 : -1;
}

/* The child in the new PID namespace: create the temporary `inner`, run gc
 * there, report whether `outer` (the parent's live temporary) survived and
 * then stay alive until told to go. */
static void ns_child(const char *inner, const char *outer, int report,
                     int go)
{
    sharr_create_opts o = {.flags = SHARR_CREATE_TEMP};
    sharr_array *a;
    char c, r[2];

    r[0] = sharr_array_create(inner, SHARR_F64, 0, NULL, &o, &a) == 0
               ? 'y' : 'n';
    sharr_gc(0, NULL, NULL);
    r[1] = tu_exists(outer) ? 'y' : 'n';
    (void)!write(report, r, 2);
    (void)!read(go, &c, 1);
    _exit(0);
}

Test(array, gc_never_removes_live_temporaries_across_pid_namespaces,
     .timeout = 30)
{
    const char *outer = tu_name("nsouter"), *inner = tu_name("nsinner");
    sharr_create_opts o = {.flags = SHARR_CREATE_TEMP};
    sharr_array *a;
    int report[2], go[2];
    char r[2] = {0, 0};
    pid_t target = dead_pid();

    if (geteuid() != 0)
        cr_skip_test("needs root for unshare(CLONE_NEWPID)");
    tu_gc_serialize();
    cr_assert_eq(sharr_array_create(outer, SHARR_F64, 0, NULL, &o, &a), 0,
                 "%s", sharr_errmsg());
    cr_assert_eq(pipe(report), 0);
    cr_assert_eq(pipe(go), 0);
    pid_t mid = fork();
    if (mid == 0) {
        if (unshare(CLONE_NEWPID) < 0)
            _exit(3);
        pid_t init = fork();
        if (init == 0) { /* pid 1 of the new namespace */
            if (next_pid_in_ns(target) < 0)
                _exit(4);
            pid_t kid = fork();
            if (kid == 0)
                ns_child(inner, outer, report[1], go[0]);
            _exit(tu_reap(kid) == 0 ? 0 : 5);
        }
        _exit(WEXITSTATUS(tu_reap(init)));
    }
    ssize_t got = read(report[0], r, 2);
    struct gc_seen g = {0};
    sharr_info in = {0};
    int removed_inner = -1;
    if (got == 2) {
        sharr_stat(inner, &in);
        sharr_gc_report(0, note_event, &g);
        removed_inner = !tu_exists(inner);
    }
    (void)!write(go[1], "x", 1);
    int st = tu_reap(mid);
    sharr_array_close(a);
    if (got != 2 && WEXITSTATUS(st) == 3)
        cr_skip_test("unshare(CLONE_NEWPID) is not permitted here");
    cr_assert_eq(got, 2, "the child in the new namespace did not report "
                 "(exit %d)", WEXITSTATUS(st));
    cr_assert_eq(r[0], 'y', "create in the new namespace failed");
    /* Its owner's pid is one that is dead here: judged here, it is gone. */
    cr_assert_eq(in.creator, target, "owner pid %d, not %d", (int)in.creator,
                 (int)target);
    cr_assert_eq(in.creator_alive, -1);
    cr_assert_eq(r[1], 'y', "gc in the new namespace removed the parent's "
                 "live temporary array");
    cr_assert_eq(removed_inner, 0, "gc removed the live temporary array of a "
                 "process in another PID namespace");
    cr_assert_eq(event_of(&g, inner), SHARR_GC_UNKNOWN);
    cr_assert(tu_exists(outer));
}

/* ---- things planted in /dev/shm: FIFOs, symlinks, directories ---- */

/* Plant a non-regular file of `kind` ('f' FIFO, 'l' symlink to a valid
 * array's segment, 'd' directory, 'c' character device) as `name`.
 * 0, or -1 when this kind cannot be made here. */
static int plant(const char *name, char kind)
{
    char path[256];
    snprintf(path, sizeof path, "%s", tu_path(name));
    switch (kind) {
    case 'f': return mkfifo(path, 0600);
    case 'd': return mkdir(path, 0700);
    case 'c': return mknod(path, S_IFCHR | 0600, makedev(1, 3));
    default: {
        char target[256];
        snprintf(target, sizeof target, "%s", tu_path(tu_name("target")));
        if (!tu_exists(tu_name("target")))
            sharr_array_close(make(tu_name("target"), SHARR_F64, 0, NULL));
        return symlink(target, path);
    }
    }
}

static const char *const kinds = "fldc";
static const char *const kind_words[] = {"a FIFO", "a symbolic link",
                                         "a directory", "a character device"};

Test(array, fifo_symlink_directory_and_device_are_refused_without_blocking,
     .timeout = 15)
{
    for (int k = 0; kinds[k]; k++) {
        char label[16];
        sharr_array *a = (sharr_array *)1;
        sharr_info in;
        snprintf(label, sizeof label, "plant%c", kinds[k]);
        const char *n = tu_name(label);
        if (plant(n, kinds[k]) < 0) {
            cr_log_warn("cannot make %s here: %s", kind_words[k],
                        strerror(errno));
            continue;
        }
        cr_assert_eq(sharr_stat(n, &in), SHARR_ECORRUPT, "stat of %s",
                     kind_words[k]);
        cr_assert(strstr(sharr_errmsg(), kind_words[k]) &&
                  strstr(sharr_errmsg(), "not a shared-memory segment"),
                  "%s", sharr_errmsg());
        cr_assert(strstr(in.detail, kind_words[k]), "%s", in.detail);
        cr_assert_eq(sharr_array_open(n, 0, &a), SHARR_ECORRUPT, "open of %s",
                     kind_words[k]);
        cr_assert_null(a);
        cr_assert(strstr(sharr_errmsg(), kind_words[k]), "%s",
                  sharr_errmsg());
        cr_assert_eq(sharr_array_open(n, SHARR_OPEN_RDONLY, &a),
                     SHARR_ECORRUPT, "read-only open of %s", kind_words[k]);
        /* create refuses the name, and rm removes the planted entry */
        cr_assert_eq(sharr_array_create(n, SHARR_U8, 0, NULL, NULL, &a),
                     SHARR_EEXIST);
        tu_unplant(tu_path(n));
        if (kinds[k] == 'd')
            rmdir(tu_path(n));
        else
            cr_assert_eq(sharr_unlink(n), 0, "%s", sharr_errmsg());
    }
    cr_assert(tu_exists(tu_name("target")), "the symlink's target went");
}

Test(array, list_and_gc_show_planted_files_as_invalid_without_blocking,
     .timeout = 15)
{
    tu_gc_serialize();
    for (int k = 0; kinds[k]; k++) {
        char label[16];
        snprintf(label, sizeof label, "lplant%c", kinds[k]);
        plant(tu_name(label), kinds[k]);
    }
    sharr_info *list;
    size_t n, found = 0;
    cr_assert_eq(sharr_list(&list, &n), 0);
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; kinds[k]; k++) {
            char label[16];
            snprintf(label, sizeof label, "lplant%c", kinds[k]);
            if (strcmp(list[i].name, tu_name(label)) != 0)
                continue;
            cr_assert_eq(list[i].status, SHARR_ECORRUPT, "%s: %d",
                         kind_words[k], list[i].status);
            cr_assert(strstr(list[i].detail, kind_words[k]), "%s",
                      list[i].detail);
            found++;
        }
    }
    sharr_list_free(list);
    cr_assert_geq(found, 3);
    struct gc_seen g = {0};
    sharr_gc_report(0, note_event, &g);
    for (int k = 0; kinds[k]; k++) {
        char label[16];
        snprintf(label, sizeof label, "lplant%c", kinds[k]);
        struct stat st;
        if (lstat(tu_path(tu_name(label)), &st) < 0)
            continue;
        cr_assert_eq(event_of(&g, tu_name(label)), SHARR_GC_INVALID, "%s",
                     kind_words[k]);
        cr_assert(strstr(detail_of(&g, tu_name(label)), kind_words[k]));
        tu_unplant(tu_path(tu_name(label)));
        if (kinds[k] == 'd')
            rmdir(tu_path(tu_name(label)));
    }
}

Test(array, gc_and_list_do_not_block_on_a_fifo_under_a_hidden_name,
     .timeout = 15)
{
    char fifo[128], shown[128];
    tu_gc_serialize();
    snprintf(fifo, sizeof fifo, "/dev/shm/sharr..new.%d.fifo", (int)dead_pid());
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    struct gc_seen g = {0};
    sharr_gc_report(0, note_event, &g);
    int kept = access(fifo, F_OK) == 0;
    tu_unplant(fifo);
    unlink(fifo);
    cr_assert(kept);
    snprintf(shown, sizeof shown, "%s", fifo + strlen("/dev/shm/sharr."));
    cr_assert_eq(event_of(&g, shown), SHARR_GC_INVALID);
}

/* ---- removal of exactly the segment checked ---- */

static char swap_entry[256], swap_from[256];
static int swaps;

/* The test hook: when gc or the guardian is about to remove swap_entry,
 * another segment takes the name (rename over it, atomically). */
static void swap_in(const char *entry)
{
    char to[300];
    if (strcmp(entry, swap_entry) != 0)
        return;
    snprintf(to, sizeof to, "/dev/shm/%s", entry);
    if (rename(swap_from, to) == 0)
        swaps++;
}

static void id_of(const char *name, unsigned char id[16])
{
    sharr_array *a;
    cr_assert_eq(sharr_array_open(name, SHARR_OPEN_RDONLY, &a), 0, "%s",
                 sharr_errmsg());
    sharr_array_id(a, id);
    sharr_array_close(a);
}

Test(array, gc_never_removes_a_segment_that_took_the_name_after_the_check)
{
    const char *dead = tu_name("swapgc"), *other = tu_name("swapother");
    unsigned char want[16], got[16];
    tu_gc_serialize();
    dead_temporary(dead, NULL);
    sharr_array_close(make(other, SHARR_U8, 0, NULL));
    id_of(other, want);
    snprintf(swap_entry, sizeof swap_entry, "sharr.%s", dead);
    snprintf(swap_from, sizeof swap_from, "%s", tu_path(other));
    sharr__unlink_test_hook = swap_in;
    struct gc_seen g = {0};
    sharr_gc_report(0, note_event, &g);
    sharr__unlink_test_hook = NULL;
    cr_assert_eq(swaps, 1, "the hook did not run");
    cr_assert(tu_exists(dead), "gc removed the segment that replaced the "
              "one it checked");
    id_of(dead, got);
    cr_assert_eq(memcmp(want, got, 16), 0, "the name holds another segment");
    cr_assert_eq(event_of(&g, dead), SHARR_GC_REPLACED);
    cr_assert(strstr(detail_of(&g, dead), "left in place"), "%s",
              detail_of(&g, dead));
}

Test(array, guardian_never_removes_a_segment_that_took_the_name_after_the_check,
     .timeout = 20)
{
    const char *tmp = tu_name("swapg"), *other = tu_name("swapgother");
    unsigned char want[16], got[16];
    int p[2];
    char c;
    sharr_array_close(make(other, SHARR_U8, 0, NULL));
    id_of(other, want);
    snprintf(swap_entry, sizeof swap_entry, "sharr.%s", tmp);
    snprintf(swap_from, sizeof swap_from, "%s", tu_path(other));
    sharr__unlink_test_hook = swap_in; /* inherited by the child's guardian */
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    if (pid == 0) {
        sharr_create_opts o = {.flags = SHARR_CREATE_TEMP};
        sharr_array *a;
        int err = sharr_array_create(tmp, SHARR_U8, 0, NULL, &o, &a);
        (void)!write(p[1], err == 0 ? "y" : "n", 1);
        _exit(0);
    }
    cr_assert_eq(read(p[0], &c, 1), 1);
    cr_assert_eq(c, 'y');
    tu_reap(pid);
    /* The guardian's hook moves `other` over the name: wait for that. */
    cr_assert(tu_wait_gone(other, 5.0), "the guardian's hook did not run");
    usleep(300000); /* the guardian has had time to remove what it would */
    cr_assert(tu_exists(tmp), "the guardian removed the segment that "
              "replaced the one it checked");
    id_of(tmp, got);
    cr_assert_eq(memcmp(want, got, 16), 0);
    close(p[0]);
    close(p[1]);
}

Test(array, unlink_checked_removes_the_checked_segment_and_nothing_else)
{
    const char *n = tu_name("uc");
    char entry[128];
    struct stat st;
    sharr_array_close(make(n, SHARR_U8, 0, NULL));
    snprintf(entry, sizeof entry, "sharr.%s", n);
    cr_assert_eq(stat(tu_path(n), &st), 0);
    cr_assert_eq(sharr__unlink_checked(entry, &st), 0, "%s", sharr_errmsg());
    cr_assert(!tu_exists(n));
    cr_assert_eq(sharr__unlink_checked(entry, &st), SHARR_ENOENT);
    /* a new segment under the name is not the one checked */
    sharr_array_close(make(n, SHARR_U8, 0, NULL));
    cr_assert_eq(sharr__unlink_checked(entry, &st), SHARR_EBUSY);
    cr_assert(tu_exists(n));
    /* and no hidden ".rm." name is left behind */
    DIR *d = opendir("/dev/shm");
    struct dirent *e;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "sharr..rm.%d.", (int)getpid());
    while ((e = readdir(d)) != NULL)
        cr_assert(strncmp(e->d_name, prefix, strlen(prefix)) != 0,
                  "left %s", e->d_name);
    closedir(d);
}

/* ---- mappings: the guardian holds none, unlinked handles are seen ---- */

/* Count the lines of /proc/PID/maps (pid 0: self) that map a sharr.*
 * segment. */
static int sharr_maps(pid_t pid)
{
    char path[64], line[4096];
    int n = 0;
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    else
        snprintf(path, sizeof path, "/proc/self/maps");
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        n += strstr(line, " /dev/shm/sharr.") != NULL;
    fclose(f);
    return n;
}

Test(array, unmap_segments_unmaps_every_sharr_mapping_and_nothing_else,
     .timeout = 15)
{
    size_t shape[] = {1000};
    sharr_array *a = make(tu_name("um1"), SHARR_F64, 1, shape),
                *b = make(tu_name("um2"), SHARR_U8, 0, NULL);
    sharr_unlink(tu_name("um2")); /* a mapping of a deleted segment too */
    FILE *f = tmpfile();
    cr_assert(f);
    cr_assert_eq(ftruncate(fileno(f), 4096), 0);
    volatile char *keep = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
                               fileno(f), 0);
    cr_assert(keep != MAP_FAILED);
    cr_assert_geq(sharr_maps(0), 2);
    pid_t pid = fork();
    if (pid == 0) {
        int n = sharr__unmap_segments();
        keep[0] = 1; /* the other mapping is still there */
        _exit(n >= 2 && sharr_maps(0) == 0 ? 0 : 1);
    }
    cr_assert_eq(tu_reap(pid), 0, "the child kept a sharr mapping");
    cr_assert_geq(sharr_maps(0), 2, "the parent lost its mappings");
    ((double *)sharr_array_data(a))[999] = 1.0;
    sharr_array_close(a);
    sharr_array_close(b);
    fclose(f);
}

/* In a private mount namespace with an 8 MiB /dev/shm: map a 5 MiB array,
 * start a guardian (a temporary array), remove the big one and create it
 * again: only possible if the guardian did not keep the memory mapped.
 * Exit 0 on success, 1 on ENOSPC, 2 on another failure, 3 if no setup. */
static int guardian_pins_memory_child(void)
{
    size_t big[] = {5 << 17}; /* 5 MiB of f64 */
    sharr_create_opts o = {.flags = SHARR_CREATE_TEMP};
    sharr_array *a, *t, *again;
    if (unshare(CLONE_NEWNS) < 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=8m,mode=1777") < 0)
        return 3;
    const char *n = tu_name("big");
    if (sharr_array_create(n, SHARR_F64, 1, big, NULL, &a) < 0 ||
        sharr_array_create(tu_name("tmp"), SHARR_U8, 0, NULL, &o, &t) < 0)
        return 2;
    sharr_array_close(a);
    sharr_unlink(n);
    int err = sharr_array_create(n, SHARR_F64, 1, big, NULL, &again);
    if (err == SHARR_ENOSPC)
        return 1;
    if (err < 0)
        return 2;
    sharr_array_close(again);
    return 0;
}

Test(array, removed_memory_comes_back_while_a_guardian_lives, .timeout = 30)
{
    if (geteuid() != 0)
        cr_skip_test("needs root for a private tmpfs on /dev/shm");
    pid_t pid = fork();
    if (pid == 0)
        _exit(guardian_pins_memory_child());
    int st = tu_reap(pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
        cr_skip_test("cannot mount a private tmpfs on /dev/shm here");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 1, "ENOSPC: the guardian "
              "kept the removed array's memory mapped");
    cr_assert_eq(WEXITSTATUS(st), 0, "the test setup failed");
}

/* In a private 8 MiB /dev/shm: an unreserved 5 MiB array, then a reserved
 * 5 MiB one, leave too little for the first one's pages: populating its
 * rows must be SHARR_ENOSPC (never a SIGBUS at the first write), a part
 * that fits must populate, and once the other is gone all of it.
 * Exit 0 on success, 1 no ENOSPC, 2 another failure, 3 if no setup. */
static int populate_full_child(void)
{
    size_t big[] = {5 << 17, 1}; /* 5 MiB of f64, one per row */
    sharr_array *a, *b;
    if (unshare(CLONE_NEWNS) < 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=8m,mode=1777") < 0)
        return 3;
    if (sharr__array_create_unreserved(tu_name("lazy"), SHARR_F64, 2, big,
                                       NULL, &a) < 0 ||
        sharr_array_create(tu_name("held"), SHARR_F64, 2, big, NULL, &b) < 0)
        return 2;
    if (sharr__array_populate(a, 0, big[0]) != SHARR_ENOSPC ||
        !strstr(sharr_errmsg(), "is full"))
        return 1;
    if (sharr__array_populate(a, 0, big[0] / 8) != 0)
        return 2;
    ((double *)sharr_array_data(a))[big[0] / 8 - 1] = 1; /* populated */
    sharr_array_close(b);
    sharr_unlink(tu_name("held"));
    if (sharr__array_populate(a, 0, big[0]) != 0)
        return 2;
    ((double *)sharr_array_data(a))[big[0] - 1] = 2;
    sharr_array_close(a);
    sharr_unlink(tu_name("lazy"));
    return 0;
}

Test(array, populating_rows_of_a_full_shm_is_enospc_not_sigbus,
     .timeout = 30)
{
    if (geteuid() != 0)
        cr_skip_test("needs root for a private tmpfs on /dev/shm");
    static _Alignas(4096) char page[4096];
    if (madvise(page, 0, 23 /* MADV_POPULATE_WRITE */) != 0)
        cr_skip_test("the kernel has no MADV_POPULATE_WRITE (before 5.14)");
    pid_t pid = fork();
    if (pid == 0)
        _exit(populate_full_child());
    int st = tu_reap(pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 3)
        cr_skip_test("cannot mount a private tmpfs on /dev/shm here");
    cr_assert(!WIFSIGNALED(st), "killed by signal %d", WTERMSIG(st));
    cr_assert(WEXITSTATUS(st) != 1, "populating a full /dev/shm did not "
              "give SHARR_ENOSPC");
    cr_assert_eq(WEXITSTATUS(st), 0, "the test setup failed");
}

Test(array, guardian_maps_no_segment, .timeout = 20)
{
    /* The child becomes a subreaper, so that the guardian (its grandchild)
     * is re-parented to it and can be found among its children. */
    int p[2], go[2];
    char c, line[64];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(pipe(go), 0);
    pid_t pid = fork();
    if (pid == 0) {
        size_t shape[] = {1000};
        sharr_create_opts o = {.flags = SHARR_CREATE_TEMP};
        sharr_array *a, *t;
        char path[64];
        int n = -3;
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        if (sharr_array_create(tu_name("gm"), SHARR_F64, 1, shape, NULL,
                               &a) == 0 &&
            sharr_array_create(tu_name("gmt"), SHARR_U8, 0, NULL, &o,
                               &t) == 0) {
            snprintf(path, sizeof path, "/proc/%d/task/%d/children",
                     (int)getpid(), (int)getpid());
            FILE *f = fopen(path, "r");
            int guardian = f && fgets(line, sizeof line, f) ? atoi(line) : 0;
            if (f)
                fclose(f);
            usleep(200000); /* the guardian has unmapped by now */
            n = guardian > 0 ? sharr_maps(guardian) : -1;
        }
        (void)!write(p[1], &n, sizeof n);
        (void)!read(go[0], &c, 1);
        _exit(0);
    }
    int n = -2;
    cr_assert_eq(read(p[0], &n, sizeof n), (ssize_t)sizeof n);
    kill(pid, SIGKILL);
    tu_reap(pid);
    cr_assert_geq(n, 0, "could not create, find or read the guardian (%d)",
                  n);
    cr_assert_eq(n, 0, "the guardian maps %d sharr segments", n);
    for (int i = 0; i < 2; i++) {
        close(p[i]);
        close(go[i]);
    }
}

Test(array, array_unlinked_says_whether_the_name_still_holds_the_segment)
{
    const char *n = tu_name("ul"), *m = tu_name("ulother");
    sharr_array *a = make(n, SHARR_U8, 0, NULL), *b, *c;
    cr_assert_eq(sharr_array_open(n, 0, &b), 0);
    cr_assert(!sharr__array_unlinked(a));
    cr_assert(!sharr__array_unlinked(b));
    cr_assert_eq(sharr_unlink(n), 0);
    cr_assert(sharr__array_unlinked(a), "name gone");
    cr_assert(sharr__array_unlinked(b), "name gone");
    c = make(n, SHARR_U8, 0, NULL);
    cr_assert(sharr__array_unlinked(a), "name holds a new segment");
    cr_assert(!sharr__array_unlinked(c));
    /* another segment renamed over it */
    sharr_array_close(make(m, SHARR_U8, 0, NULL));
    char from[256];
    snprintf(from, sizeof from, "%s", tu_path(m));
    cr_assert_eq(rename(from, tu_path(n)), 0);
    cr_assert(sharr__array_unlinked(c));
    /* a symlink to the segment under the name is not the segment */
    sharr_array *d;
    cr_assert_eq(sharr_array_open(n, 0, &d), 0);
    char moved[256];
    snprintf(moved, sizeof moved, "%s.moved", tu_path(n));
    cr_assert_eq(rename(tu_path(n), moved), 0);
    cr_assert_eq(symlink(moved, tu_path(n)), 0);
    cr_assert(sharr__array_unlinked(d), "a symlink is not the segment");
    unlink(moved);
    sharr_array_close(a);
    sharr_array_close(b);
    sharr_array_close(c);
    sharr_array_close(d);
}

Test(array, strerror_names_every_code_and_errno)
{
    cr_assert_str_eq(sharr_strerror(SHARR_ECORRUPT),
                     "segment is corrupt or not a sharr array");
    cr_assert_str_eq(sharr_strerror(0), "success");
    cr_assert_str_eq(sharr_strerror(-EMFILE), strerror(EMFILE));
    cr_assert_str_eq(sharr_strerror(-99999), "unknown error");
    cr_assert_str_eq(sharr_version_string(), SHARR_VERSION_STRING);
}
