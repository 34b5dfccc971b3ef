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
 * after everything else (fsync'ed first with `sync`).  HDF5's own file
 * locking is off (the caller holds the lock).  Close with H5Pclose().
 * @return the list, or -1. */
hid_t sharr__h5_ordered_fapl(int fd, bool sync);

/* For a file opened with that list: at H5Fclose, forget the writes below
 * the old end and give the file its old size back, so a failed append
 * leaves it as it was.  Does nothing for a file of another driver. */
void sharr__h5_ordered_discard(hid_t file);

#endif
