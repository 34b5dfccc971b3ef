#!/bin/sh
# Compile and run the C example of README.md against the built library, so
# the documentation cannot drift from the API.  Usage: readme_example.sh CC
set -eu
CC=${1:-cc}
shift || true
TMP=$(mktemp -d)
NAME="tc.$$.readme"
trap 'rm -rf "$TMP"; rm -f /dev/shm/sharr.$NAME' EXIT
awk '/<!-- readme-example/ {grab=1; next}
     grab && /^```c/ {inside=1; next}
     inside && /^```/ {exit}
     inside {print}' README.md | sed "s/\"signal\"/\"$NAME\"/g" >"$TMP/example.c"
[ -s "$TMP/example.c" ] || { echo "readme: no example found" >&2; exit 1; }
$CC -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Iinclude \
    "$TMP/example.c" -o "$TMP/example" "$@"
out=$("$TMP/example")
if [ "$out" != "element 1 = 1.2+0j" ]; then
    echo "readme: the example printed '$out'" >&2
    exit 1
fi
if [ -e "/dev/shm/sharr.$NAME" ]; then
    echo "readme: the example left its array behind" >&2
    exit 1
fi
echo "readme: the C example compiles, runs and prints '$out'"
