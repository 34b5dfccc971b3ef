/*
 * target.h - private to lib/io/: the file a save writes (target.c), shared
 * by the HDF5 and the .npy savers.  A target is opened (resolved, checked,
 * optionally locked), given a temporary beside it, committed, closed:
 *
 *   struct sharr__target t;
 *   if ((err = sharr__target_open(&t, file, opts, SHARR__TARGET_LOCK)) < 0 ||
 *       (err = sharr__target_temp(&t, t.exists, NULL)) < 0) goto done;
 *   ... write t.tmp ...
 *   err = sharr__target_commit(&t, opts->sync, t.exists);
 *   done: sharr__target_close(&t);   // removes the temporary, unlocks
 */
#ifndef SHARR_IO_TARGET_H
#define SHARR_IO_TARGET_H

#include "internal.h"

#include <limits.h>
#include <sys/stat.h>

struct sharr__target {
    char path[PATH_MAX];     /* the real file: absolute, symlinks resolved */
    char dir[PATH_MAX];      /* its directory */
    char tmp[PATH_MAX];      /* the temporary beside it; "" if none */
    bool exists;             /* the target exists (and is locked if asked) */
    struct stat st;          /* the target, when it exists */
    int lock_fd;             /* the target, flock(LOCK_EX) held; or -1 */
    dev_t tmp_dev;           /* the temporary's inode, as created */
    ino_t tmp_ino;
    int slot;                /* its entry for sharr_save_remove_temps() */
};

/* Flags of sharr__target_open(). */
#define SHARR__TARGET_LOCK 1u      /* lock an existing target (HDF5's lock) */
#define SHARR__TARGET_LINKS_OK 2u  /* the save writes in place: other hard
                                      links see it, no need to refuse them */

/* What sharr__target_commit() returns when a target that did not exist
 * was created by someone else meanwhile: open it again and start over. */
#define SHARR__TARGET_TAKEN 1

/* Resolve `file` to the real file, remove temporaries of dead savers in
 * its directory, lock it with flock(LOCK_EX) if it exists and flags say
 * so (waiting as opts->lock_wait says, with opts->waiting called once), and
 * refuse a target with several hard links unless opts->force_hardlinks or
 * SHARR__TARGET_LINKS_OK.  Release with sharr__target_close() in any case.
 * @return 0, SHARR_EINVAL (not a file name, not a regular file),
 * SHARR_ENOENT (no directory, or a symlink to nothing), SHARR_EPERM (hard
 * links), SHARR_EBUSY (another process holds the lock), or an OS error. */
int sharr__target_open(struct sharr__target *t, const char *file,
                       const sharr_save_opts *opts, unsigned flags);

/* Create t->tmp beside the target: a random name, O_EXCL|O_NOFOLLOW, the
 * target's mode (and owner, where allowed) or 0666 & ~umask for a new one;
 * with `copy`, the target's bytes.  The open fd goes to *fd (NULL: closed).
 * @return 0 or an OS error (ENOSPC while copying...). */
int sharr__target_temp(struct sharr__target *t, bool copy, int *fd);

/* Rename t->tmp to the target (after fsync with `sync`, and fsync of the
 * directory).  Without `replace` the rename never replaces a file that
 * appeared meanwhile.  @return 0, SHARR__TARGET_TAKEN, or an OS error. */
int sharr__target_commit(struct sharr__target *t, bool sync, bool replace);

/* Unlink the temporary (if not committed), release the lock.  Idempotent. */
void sharr__target_close(struct sharr__target *t);

#endif
