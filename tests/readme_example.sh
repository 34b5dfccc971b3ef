#!/bin/sh
# Compile and run the C example of README.md with each in-tree build line
# the README gives, exactly as written (in a directory that has demo.c,
# include/ and lib/ as the source tree has), so that neither the API nor
# the build lines can drift from the documentation.
# Usage: readme_example.sh [CC]  (a CC other than cc replaces the leading cc)
set -eu
CC=${1:-cc}
TOP=$(pwd)
TMP=$(mktemp -d)
NAME="tc.$$.readme"
trap 'rm -rf "$TMP"; rm -f /dev/shm/sharr.$NAME' EXIT
awk '/<!-- readme-example/ {grab=1; next}
     grab && /^```c/ {inside=1; next}
     inside && /^```/ {exit}
     inside {print}' README.md | sed "s/\"signal\"/\"$NAME\"/g" >"$TMP/demo.c"
[ -s "$TMP/demo.c" ] || { echo "readme: no example found" >&2; exit 1; }
awk '/<!-- readme-build/ {grab=1; next}
     grab && /^```sh/ {inside=1; next}
     inside && /^```/ {exit}
     inside {print}' README.md >"$TMP/lines"
[ -s "$TMP/lines" ] || { echo "readme: no build lines found" >&2; exit 1; }
ln -s "$TOP/include" "$TOP/lib" "$TMP/"
n=0
while IFS= read -r line; do
    n=$((n + 1))
    rm -f "$TMP/a.out"
    # The line as written (only the compiler swapped), then once more with
    # the house warnings made fatal, so the example stays clean C11.
    cmd="$CC ${line#cc }"
    [ "$n" -gt 1 ] ||
        cmd="$cmd && $CC -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror ${line#cc }"
    if ! (cd "$TMP" && eval "$cmd"); then
        echo "readme: build line $n fails: $line" >&2
        exit 1
    fi
    out=$(cd "$TMP" && ./a.out)
    if [ "$out" != "element 1 = 1.2+0j" ]; then
        echo "readme: the example of line $n printed '$out'" >&2
        exit 1
    fi
    if [ -e "/dev/shm/sharr.$NAME" ]; then
        echo "readme: the example left its array behind" >&2
        exit 1
    fi
done <"$TMP/lines"
echo "readme: the C example builds with the README's $n in-tree lines, runs and prints '$out'"
