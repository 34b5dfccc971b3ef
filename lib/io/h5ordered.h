/*
 * h5ordered.h - private to lib/io/: the file driver of appends
 * (h5ordered.c).  Only h5save.c uses it, inside a kernel.
 */
#ifndef SHARR_IO_H5ORDERED_H
#define SHARR_IO_H5ORDERED_H

#include "h5io.h"

/* A file access property list for H5Fopen(path, H5F_ACC_RDWR, fapl) of an
 * existing file through the already open, checked `fd` (not closed by
 * HDF5): writes below the file's old end wait for H5Fclose, and then come
 * after everything else (fsync'ed first with `sync`).  With `area` (`cap`
 * bytes, in a segment the caller maps too), those final writes are laid out
 * there instead, for the caller to make with sharr__h5_ordered_replay() on
 * the fd that holds the target's lock (when they do not fit, the driver
 * makes them itself).  HDF5's own file locking is off (the caller holds the
 * lock).  Close with H5Pclose().
 * @return the list, or -1. */
hid_t sharr__h5_ordered_fapl(int fd, bool sync, void *area, size_t cap);

/* Make the final writes an append left in `area`, if any, on `fd` (the
 * caller's, holding the target's lock), then fdatasync with `sync`; empty
 * the area.  They are made by a short-lived process sharing our memory and
 * fds, so a kill of the caller neither cuts them short nor drops the lock
 * before they end.
 * @return 0, or -1 with errno. */
int sharr__h5_ordered_replay(int fd, bool sync, void *area, size_t cap);

/* The errno of the last close of a file of this driver in this thread (0:
 * it went well), and forget it.  HDF5 is always told the close went well:
 * a failed one would leave it a half-destroyed file. */
int sharr__h5_ordered_closed(void);

/* For a file opened with that list: at H5Fclose, forget the writes below
 * the old end and give the file its old size back, so a failed append
 * leaves it as it was.  Does nothing for a file of another driver. */
void sharr__h5_ordered_discard(hid_t file);

#endif
