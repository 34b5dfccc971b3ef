#!/bin/sh
# Run every compiled example (tests/examples/*.c, built into the directory
# given): each checks its own answer, prints "...: ok" last and exits 0;
# those whose output tests/test_examples_pool.c checks need only exit 0.
# Usage: tests/examples/run.sh BUILD_DIR
dir=${1:?usage: run.sh BUILD_DIR}
status=0
for src in "$(dirname "$0")"/*.c; do
    name=$(basename "$src" .c)
    out=$(timeout 60 "$dir/$name" 2>&1)
    rc=$?
    checked=no
    grep -q "examples/$name.c" "$(dirname "$0")/../test_examples_pool.c" &&
        checked=yes
    if [ "$rc" -ne 0 ] || { [ "$checked" = no ] &&
        ! printf '%s\n' "$out" | tail -1 | grep -q ': ok$'; }; then
        echo "FAIL: example $name (exit $rc)"
        printf '%s\n' "$out" | tail -5 | sed 's/^/  /'
        status=1
    else
        [ "$checked" = yes ] && echo "example $name: exit 0 (output checked by test_examples_pool)" ||
            echo "example $name: $(printf '%s\n' "$out" | tail -1)"
    fi
done
exit $status
