#!/bin/sh
# The demo job: create, fill, inspect and remove a complex128 array with the
# sharr tool.  Usage: tools/demo.sh /path/to/sharr
set -eu
SHARR=${1:-tools/sharr}
NAME="demo.$$"
trap '"$SHARR" rm "$NAME" 2>/dev/null || true' EXIT

step() { printf '\n$ sharr %s\n' "$*"; "$SHARR" "$@"; }

echo "sharr demo: a 16 x 1000 complex128 array in /dev/shm/sharr.$NAME"
step create "$NAME" --dtype c128 --shape 16x1000 --fill 0.6+0.8j
step info "$NAME"
step dump "$NAME" --rows 0:2 --limit 4
step fill "$NAME" random:42
step dump "$NAME" --rows -1 --limit 3
step ls
step rm "$NAME"
trap - EXIT
if [ -e "/dev/shm/sharr.$NAME" ]; then
    echo "demo: the array was not removed" >&2
    exit 1
fi
echo
echo "demo: done; nothing left in /dev/shm"
