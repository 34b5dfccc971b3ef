/*
 * helper.c - find and exec sharr-h5, the HDF5 helper (h5main.c), for the
 * subcommands that read or write HDF5 files.  HDF5 and what it links (41
 * shared libraries on Debian: libcurl, GnuTLS, Kerberos ...) cost about
 * 5 ms at every start, so only the helper links them and `sharr ls` does
 * not pay for them.  exec keeps the pid, the parent (whose exit removes a
 * --temp array), the fds and the signal dispositions.
 *
 * Where: beside the running sharr (the build tree: tools/sharr and
 * tools/sharr-h5), else where `make install` put it relative to sharr's
 * real path (BINDIR to PKGLIBEXECDIR, "../libexec/sharr" by default:
 * build/dirs.h), so an installed tree works wherever it is, staged under
 * DESTDIR or moved, and through a symbolic link to sharr.
 */
#define _GNU_SOURCE
#include "cli.h"
#include "dirs.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#define HELPER "sharr-h5"

/* dir/rel/HELPER into buf if it is an executable file. */
static bool try_dir(const char *dir, const char *rel, char *buf, size_t size)
{
    int n = rel ? snprintf(buf, size, "%s/%s/" HELPER, dir, rel)
                : snprintf(buf, size, "%s/" HELPER, dir);
    return n > 0 && (size_t)n < size && access(buf, X_OK) == 0;
}

/* The helper's path into buf, and the directory of sharr into dir. */
static bool find_helper(char *buf, size_t size, char *dir, size_t dir_size)
{
    ssize_t n = readlink("/proc/self/exe", dir, dir_size - 1);
    char *slash;

    if (n <= 0 || !(dir[n] = '\0', slash = strrchr(dir, '/'))) {
        snprintf(dir, dir_size, "(/proc/self/exe unreadable)");
        return false;
    }
    *slash = '\0';
    return try_dir(dir, NULL, buf, size) ||
           try_dir(dir, SHARR_HELPER_REL, buf, size);
}

int cli_exec_h5(char **argv)
{
    char path[2 * PATH_MAX], dir[PATH_MAX];

    if (!find_helper(path, sizeof path, dir, sizeof dir))
        return cli_error("cannot find " HELPER ", the program that runs the "
                         "HDF5 commands load, save and h5ls: it belongs in "
                         "%s/" SHARR_HELPER_REL " (installed with sharr) or "
                         "beside sharr in %s", dir, dir);
    fflush(NULL);
    execv(path, argv);
    return cli_error("cannot run %s: %s", path, strerror(errno));
}
