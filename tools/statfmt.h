/*
 * statfmt.h - printing the figures of a sharr_stats (statfmt.c), shared by
 * the tools sharr and sharr-mpi.
 */
#ifndef SHARR_TOOLS_STATFMT_H
#define SHARR_TOOLS_STATFMT_H

#include "sharr.h"

#include <stdbool.h>
#include <stddef.h>

/* Print the figures of s (of an array or, with per_row, of row `row`) on
 * stdout: one "key value" line each in text, or one line of a per-row
 * table ("row count sum ..."); a JSON object without a newline.  Complex
 * dtypes have no min and max; nan and inf are null in JSON. */
void stat_print(sharr_dtype dt, const sharr_stats *s, bool json, size_t row,
                bool per_row);

#endif
