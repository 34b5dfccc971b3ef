#!/bin/sh
# Tests name their segments t.<pid>.* (unit) or tc.<pid>.* (CLI) or
# ti.<pid>.* (interop) or te.<pid>.* (examples): any that survive the
# test process <pid> mean a test leaked.  They are removed here, and the
# run fails.  Segments of a test process that is still running (another
# run on the same machine) are not ours to judge.
left=""
# sharr eval and copy stage new arrays as sharr-eval.<pid>.* and
# sharr-copy.<pid>.*: temporary, removed when that process dies.
for f in $(ls /dev/shm 2>/dev/null |
           grep -E '^sharr\.(t|tc|ti|tb|te|sharr-eval|sharr-copy)\.[0-9]+\.' ||
           true); do
    pid=$(echo "$f" | cut -d. -f3)
    [ -d "/proc/$pid" ] || left="$left
$f"
done
# Hidden builds ("sharr..new.PID.HEX") whose creator is gone: a create was
# interrupted and nobody cleaned up.
for f in $(ls /dev/shm 2>/dev/null | grep -E '^sharr\.\.new\.[0-9]+\.' || true); do
    pid=$(echo "$f" | cut -d. -f4)
    [ -d "/proc/$pid" ] || left="$left
$f"
done
left=$(echo "$left" | sed '/^$/d')
if [ -n "$left" ]; then
    echo "leftovers: tests left these segments behind:" >&2
    echo "$left" | sed 's/^/  /' >&2
    echo "$left" | sed 's|^|/dev/shm/|' | xargs rm -f
    exit 1
fi
echo "leftovers: no test segment left in /dev/shm"
