#!/bin/sh
# Run Criterion test binaries one after the other; fail if any fails.
# Criterion prints its own "Synthesis" summary line for each binary.
status=0
for t in "$@"; do
    echo "== $t"
    "$t" --jobs 2 || status=1
done
exit $status
