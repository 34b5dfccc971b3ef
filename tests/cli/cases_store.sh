# CLI cases of the store (sourced by tests/cli/run.sh: t, ok, $SHARR, $P,
# $TMP): things planted in /dev/shm, owners in other PID namespaces, and
# error details.  Every command that could hang runs under `timeout 5`, so
# a hang fails the case (exit 124) instead of blocking the suite.

# ---- a FIFO, a symlink, a directory planted under sharr.* names ----
PF="$P.fifo" PL="$P.link" PD="$P.dir" PR="$P.real"
# Open a planted FIFO for writing without blocking: releases any process
# blocked opening it (an older sharr of another run on this /dev/shm).
unplant() {
    $PY -c 'import os, sys
try: os.close(os.open(sys.argv[1], os.O_WRONLY | os.O_NONBLOCK))
except OSError: pass' "$1"
}
mkfifo "/dev/shm/sharr.$PF"
"$SHARR" create "$PR" --shape 4
ln -s "/dev/shm/sharr.$PR" "/dev/shm/sharr.$PL"
mkdir "/dev/shm/sharr.$PD"
t "ls does not block on a FIFO and lists it as invalid" 0 \
    "^$PF .*segment is corrupt or not a sharr array: .*is a FIFO, not a shared-memory segment" '' \
    -- timeout 5 "$SHARR" ls
t "ls lists a planted symlink as invalid" 0 "^$PL .*is a symbolic link" '' \
    -- timeout 5 "$SHARR" ls
t "ls lists a planted directory as invalid" 0 "^$PD .*is a directory" '' \
    -- timeout 5 "$SHARR" ls
t "ls --json says why" 0 "\"name\": \"$PF\", \"status\": \"segment is corrupt or not a sharr array\".*\"detail\": \".*is a FIFO" '' \
    -- timeout 5 "$SHARR" ls --json
t "info does not block on a FIFO" 1 '' \
    "^sharr: info: array '$PF': /dev/shm/sharr.$PF is a FIFO, not a shared-memory segment$" \
    -- timeout 5 "$SHARR" info "$PF"
t "dump does not block on a FIFO" 1 '' "is a FIFO, not a shared-memory segment" \
    -- timeout 5 "$SHARR" dump "$PF"
t "fill does not block on a FIFO" 1 '' "is a FIFO" \
    -- timeout 5 "$SHARR" fill "$PF" ones -j 1
t "info does not follow a planted symlink" 1 '' "is a symbolic link, not a shared-memory segment" \
    -- timeout 5 "$SHARR" info "$PL"
t "dump does not follow a planted symlink" 1 '' "is a symbolic link" \
    -- timeout 5 "$SHARR" dump "$PL"
t "info of a planted directory" 1 '' "is a directory, not a shared-memory segment" \
    -- timeout 5 "$SHARR" info "$PD"
t "create refuses a name a FIFO holds" 1 '' "already exists" \
    -- timeout 5 "$SHARR" create "$PF" --shape 2
t "gc does not block and reports a FIFO as invalid" 0 \
    "^skipped $PF: invalid: .*is a FIFO" '' -- timeout 5 "$SHARR" gc --dry-run
t "gc reports a symlink as invalid" 0 "^skipped $PL: invalid: .*symbolic link" '' \
    -- timeout 5 "$SHARR" gc --dry-run
unplant "/dev/shm/sharr.$PF"
t "rm removes the FIFO" 0 '' '' -- timeout 5 "$SHARR" rm "$PF"
t "rm removes the symlink" 0 '' '' -- timeout 5 "$SHARR" rm "$PL"
ok "rm of the symlink kept its target" test -e "/dev/shm/sharr.$PR"
ok "gc kept the planted FIFO, symlink and directory" test -d "/dev/shm/sharr.$PD"
rmdir "/dev/shm/sharr.$PD"
"$SHARR" rm "$PR"

# ---- owners in another PID namespace (a container sharing /dev/shm) ----
if [ "$(id -u)" = 0 ] && unshare -p -f -m --mount-proc true 2>/dev/null; then
    # A pid that is dead here becomes the owner's pid inside the namespace
    # (ns_last_pid), as a container's pids mean nothing on the host.  The
    # namespace's pid 1 waits for the guardian to finish: its exit kills
    # every process of the namespace, a guardian half-way through a removal
    # too (that left a hidden ".rm." segment no gc outside could judge).
    sh -c 'exit 0' &
    dead=$!
    wait "$dead"
    inner="echo $((dead - 1)) > /proc/sys/kernel/ns_last_pid && sh -c '\"$SHARR\" create $P.nsin --shape 4 --temp && touch $TMP/ns.ready && while [ ! -e $TMP/ns.go ]; do sleep 0.1; done'; n=0; while grep -qx sharr-guardian /proc/[0-9]*/comm 2>/dev/null && [ \$n -lt 100 ]; do n=\$((n + 1)); sleep 0.05; done"
    timeout 60 unshare -p -f -m --mount-proc sh -c "$inner" &
    nsjob=$!
    for _ in $(seq 50); do [ -e "$TMP/ns.ready" ] && break; sleep 0.1; done
    t "ls says the owner in another PID namespace is unknown" 0 \
        "^$P.nsin +f64 .* until pid [0-9]+ exits \(\?\)$" '' -- timeout 5 "$SHARR" ls
    t "info says why the owner is unknown" 0 \
        "^owner process: [0-9]+ \(unknown: created in another PID namespace" '' \
        -- timeout 5 "$SHARR" info "$P.nsin"
    t "ls --json gives alive null" 0 "\"name\": \"$P.nsin\".*\"alive\": null" '' \
        -- timeout 5 "$SHARR" ls --json
    t "gc keeps a live temporary of another PID namespace" 0 \
        "^skipped $P.nsin: owner unknown: created in another PID namespace" '' \
        -- timeout 5 "$SHARR" gc
    ok "the other namespace's temporary array is still there" \
        test -e "/dev/shm/sharr.$P.nsin"
    "$SHARR" create "$P.nsout" --shape 4 --temp
    t "gc inside another PID namespace keeps our live temporary" 0 \
        "^skipped $P.nsout: owner unknown: created in another PID namespace" '' \
        -- timeout 10 unshare -p -f -m --mount-proc "$SHARR" gc
    ok "our temporary array is still there" test -e "/dev/shm/sharr.$P.nsout"
    touch "$TMP/ns.go"
    wait "$nsjob"
    gone=no
    for _ in $(seq 50); do
        [ -e "/dev/shm/sharr.$P.nsin" ] || { gone=yes; break; }
        sleep 0.1
    done
    ok "the namespace's own guardian removed its temporary array" test "$gone" = yes
    "$SHARR" rm "$P.nsout"
else
    echo "cli: skipped the PID namespace cases (needs root and unshare -p)"
fi

# ---- error details are never formatted into themselves ----
# No CLI command consults $SHARR_SCHEDULE today (the built-in operations pass
# their own schedule); if one does, its message must be the clean one.
"$SHARR" create "$P.sched" --shape 4x3
sched_message_is_clean() {
    SHARR_SCHEDULE=fastest "$SHARR" apply "$P.sched" scale 2 -j 2 \
        >/dev/null 2>"$TMP/sched.err"
    ! grep -q 'SCHEDULE: \$SHARR_SCHEDULE' "$TMP/sched.err" &&
        { [ ! -s "$TMP/sched.err" ] ||
          grep -qx "sharr: apply: \$SHARR_SCHEDULE: unknown schedule 'fastest': use static, dynamic, guided or auto, optionally ,CHUNK" "$TMP/sched.err"; }
}
ok "a bad \$SHARR_SCHEDULE gives a clean message (or none)" sched_message_is_clean
"$SHARR" rm "$P.sched"
