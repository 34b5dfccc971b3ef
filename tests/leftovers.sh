#!/bin/sh
# Tests name their segments t.<pid>.* (unit) or tc.<pid>.* (CLI) or
# ti.<pid>.* (interop): any that survive a run mean a test leaked.  They
# are removed here, and the run fails.
left=$(ls /dev/shm 2>/dev/null | grep -E '^sharr\.(t|tc|ti|tb)\.[0-9]+\.' || true)
if [ -n "$left" ]; then
    echo "leftovers: tests left these segments behind:" >&2
    echo "$left" | sed 's/^/  /' >&2
    echo "$left" | sed 's|^|/dev/shm/|' | xargs rm -f
    exit 1
fi
echo "leftovers: no test segment left in /dev/shm"
