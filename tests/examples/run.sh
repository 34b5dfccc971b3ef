#!/bin/sh
# Run every compiled example (tests/examples/*.c, built into the directory
# given): each checks its own answer, prints "...: ok" last and exits 0.
# Usage: tests/examples/run.sh BUILD_DIR
dir=${1:?usage: run.sh BUILD_DIR}
status=0
for src in "$(dirname "$0")"/*.c; do
    name=$(basename "$src" .c)
    out=$(timeout 60 "$dir/$name" 2>&1)
    rc=$?
    if [ "$rc" -ne 0 ] || ! printf '%s\n' "$out" | tail -1 | grep -q ': ok$'; then
        echo "FAIL: example $name (exit $rc)"
        printf '%s\n' "$out" | tail -5 | sed 's/^/  /'
        status=1
    else
        echo "example $name: $(printf '%s\n' "$out" | tail -1)"
    fi
done
exit $status
