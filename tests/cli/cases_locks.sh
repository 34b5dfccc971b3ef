# CLI cases of the arrays' locks as the tool's own commands take them
# (issue 8; sourced by tests/cli/run.sh: t, ok, $SHARR, $P, $TMP, $PY).
# Every command that could wait runs under `timeout`, so a deadlock fails
# its case (exit 124) instead of hanging the suite, and so does every
# holder started in the background; each one is waited for (or killed)
# before the next case.

# until_file FILE [PATTERN]: wait (at most 5 s) until FILE exists and, with
# PATTERN, has a line that matches it.
until_file() {
    local i
    for i in $(seq 100); do
        if [ -s "$1" ] && { [ -z "$2" ] || grep -Eq -- "$2" "$1"; }; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# is_held NAME: another process holds NAME's lock now (a stat that does not
# wait gives up with status 4).
is_held() {
    "$SHARR" stat "$1" --lock-timeout 0 >/dev/null 2>&1
    [ $? = 4 ]
}

# hold NAME SECONDS [SH]: in the background, `sharr lock NAME` runs a shell
# that sleeps SECONDS and, with SH, then runs SH and writes $TMP/held.done.
# Returns
# once the lock is held; $HOLDER is the pid of that `sharr lock` (the pid
# the messages name), $HOLDER_JOB the job to wait for.
hold() {
    local then="exec sleep $2" # nothing left behind when it is killed
    [ -n "$3" ] && then="sleep $2; $3
        echo done >'$TMP/held.done'"
    rm -f "$TMP/held.pid" "$TMP/held.done"
    timeout 90 "$SHARR" lock "$1" -- sh -c "echo \$PPID >'$TMP/held.pid'
        $then" >"$TMP/held.out" 2>&1 &
    HOLDER_JOB=$!
    until_file "$TMP/held.pid" && HOLDER=$(cat "$TMP/held.pid")
}

# unhold: end the holder that hold started without SH (SIGTERM, which
# sharr lock passes on to its command), and wait for it.
unhold() {
    kill -TERM "$HOLDER"
    { wait "$HOLDER_JOB"; } 2>/dev/null
}

# array_id NAME: the array's id (hex), which orders the locks of a command.
array_id() {
    "$SHARR" info "$1" --json | $PY -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}

K="$P.k"
"$SHARR" create "$K" --shape 1x4 --fill 1

# ---- a command waits for the holder, says so once, and comes after it ----
# The holder fills 2 at the end of its hold (its own fill must not wait for
# the lock it holds); apply adds 1: 3 only if apply came after the fill.
hold "$K" 1 "'$SHARR' fill '$K' 2"
ok "sharr lock holds the lock" is_held "$K"
t "apply waits for the holder, naming it" 0 '' \
    "^sharr: apply: waiting for the lock of '$K' \(held by pid $HOLDER\)\.\.\.$" \
    -- timeout 10 "$SHARR" apply "$K" add 1
ok "it said so once" test "$(grep -c 'waiting for the lock' "$TMP/err")" = 1
ok "apply returned only after the holder's command ended" test -s "$TMP/held.done"
wait "$HOLDER_JOB"
ok "the holder's own fill (sharr lock K -- sharr fill K) did not wait: exit 0" test $? = 0
t "apply's result comes after the holder's fill: 2 + 1" 0 "^3 3 3 3$" '' -- "$SHARR" dump "$K"

# ---- sharr lock NAME -- sharr COMMAND NAME: no deadlock ----
t "sharr lock K -- sharr fill K" 0 '' '' -- timeout 10 "$SHARR" lock "$K" -- "$SHARR" fill "$K" 5
t "the fill inside the lock filled" 0 "^5 5 5 5$" '' -- "$SHARR" dump "$K"
t "commands inside a shell inside the lock" 0 "^6 6 6 6$" '' \
    -- timeout 10 "$SHARR" lock "$K" -- sh -c "'$SHARR' fill '$K' 0 && '$SHARR' apply '$K' add 6 && '$SHARR' dump '$K'"
t "sharr lock K inside sharr lock K runs its command" 0 "^sum +24$" '' \
    -- timeout 10 "$SHARR" lock "$K" -- "$SHARR" lock "$K" -- "$SHARR" stat "$K"
t "sharr lock exports NAME:PID" 0 "^$K:[0-9]+$" '' \
    -- timeout 10 "$SHARR" lock "$K" -- sh -c 'echo "$SHARR_LOCK_HELD"'
"$SHARR" create "$P.k2" --shape 2
t "nested sharr locks export both" 0 "^$K:[0-9]+,$P\.k2:[0-9]+$" '' \
    -- timeout 10 "$SHARR" lock "$K" -- "$SHARR" lock "$P.k2" -- sh -c 'echo "$SHARR_LOCK_HELD"'
"$SHARR" lock create "$P.kl"
t "sharr lock of a named lock inside the same one" 0 "^inner$" '' \
    -- timeout 10 "$SHARR" lock "$P.kl" -- "$SHARR" lock "$P.kl" -- echo inner
t "the HDF5 helper (an exec) inside the lock: save" 0 '' '' \
    -- timeout 20 "$SHARR" lock "$K" -- "$SHARR" save "$K" "$TMP/k.h5:/in"
t "the HDF5 helper inside the lock: load --into" 0 "^$K$" '' \
    -- timeout 20 "$SHARR" lock "$K" -- "$SHARR" load "$TMP/k.h5:/in" --into "$K"
# An exec marks the locks the process held as a dead holder's: sharr-h5
# must take it after its exec, else it gets its own lock back with a note.
t "save to HDF5 says nothing about the lock" 0 '' '' -- timeout 20 "$SHARR" save "$K" "$TMP/k.h5:/plain"
t "load --into says nothing about the lock" 0 "^$K$" '' -- timeout 20 "$SHARR" load "$TMP/k.h5:/plain" --into "$K"
t "and the lock is clean after them" 0 "^sum +24$" '' -- timeout 10 "$SHARR" stat "$K"

# ---- --no-lock and --lock-timeout ----
hold "$K" 60
t "stat --no-lock does not wait, and says nothing" 0 "^sum +24$" '' \
    -- timeout 10 "$SHARR" stat "$K" --no-lock
ok "it returned while the lock was still held" is_held "$K"
t "fill --lock-timeout 0.3 gives up with status 4" 4 '' \
    "^sharr: fill: the lock of '$K' is held by pid $HOLDER: not taken within --lock-timeout 0\.3 s, nothing was done$" \
    -- timeout 10 "$SHARR" fill "$K" 9 --lock-timeout 0.3
ok "it said how long it would wait" grep -q "^sharr: fill: waiting up to 0.3 s for the lock of '$K' (held by pid $HOLDER)\.\.\.$" "$TMP/err"
t "and left the data untouched" 0 "^6 6 6 6$" '' -- "$SHARR" dump "$K" --no-lock
t0=$(date +%s%N)
t "--lock-timeout 0 does not wait" 4 '' "not taken within --lock-timeout 0 s, nothing was done$" \
    -- timeout 10 "$SHARR" dump "$K" --lock-timeout 0
ok "--lock-timeout 0 gave up at once" test $(( ($(date +%s%N) - t0) / 1000000 )) -lt 1000
ok "--lock-timeout 0 printed no line for the wait" sh -c "! grep -q waiting '$TMP/err'"
t "axpy gives up too" 4 '' "lock of '$K' is held by pid $HOLDER" \
    -- timeout 10 "$SHARR" axpy 1 "$K" "$K" --lock-timeout 0
"$SHARR" create "$P.km" --shape 2x2 --fill 1
t "gemm gives up too" 4 '' "lock of '$K' is held" \
    -- timeout 10 "$SHARR" gemm "$P.km" "$P.km" "$K" --lock-timeout 0
t "save .npy gives up too" 4 '' "lock of '$K' is held by pid $HOLDER" \
    -- timeout 10 "$SHARR" save "$K" "$TMP/k.npy" --lock-timeout 0.1
ok "and wrote no file" test ! -e "$TMP/k.npy"
t "save to HDF5 gives up too (sharr-h5 takes the lock)" 4 '' "lock of '$K' is held by pid $HOLDER" \
    -- timeout 10 "$SHARR" save "$K" "$TMP/k2.h5:/x" --lock-timeout 0.1
ok "and wrote no file" test ! -e "$TMP/k2.h5"
t "load --into gives up too" 4 '' "lock of '$K' is held by pid $HOLDER" \
    -- timeout 10 "$SHARR" load "$TMP/k.h5:/in" --into "$K" --lock-timeout 0.1
t "eval reading it gives up too" 4 '' "^sharr: eval: the lock of '$K' is held by pid $HOLDER: not taken" \
    -- timeout 10 "$SHARR" eval "'$P.ke' = '$K' * 2" --lock-timeout 0.1
ok "and made no OUT" sh -c "! '$SHARR' info '$P.ke' >/dev/null 2>&1"
t "eval writing it in place gives up too" 4 '' "lock of '$K' is held by pid $HOLDER" \
    -- timeout 10 "$SHARR" eval "'$K' = 5 + 0 * '$K'" --lock-timeout 0.1
t "and left the data untouched" 0 "^6 6 6 6$" '' -- "$SHARR" dump "$K" --no-lock
t "copy gives up too" 4 '' "^sharr: copy: the lock of '$K' is held by pid $HOLDER: not taken" \
    -- timeout 10 "$SHARR" copy "$K" "$P.kc" --lock-timeout 0.1
ok "and made no DST" sh -c "! '$SHARR' info '$P.kc' >/dev/null 2>&1"
t "eval --no-lock does not wait" 0 '' '' \
    -- timeout 10 "$SHARR" eval "'$P.ke' = '$K' * 2" --no-lock
"$SHARR" rm "$P.ke"
t "--lock-timeout needs seconds" 2 '' "^sharr: stat: --lock-timeout needs seconds >= 0" \
    -- "$SHARR" stat "$K" --lock-timeout soon
unhold

t "sharr lock NAME -- sharr eval over NAME does not deadlock" 0 '' '' \
    -- timeout 20 "$SHARR" lock "$K" -- "$SHARR" eval "'$K' = '$K' + 1"
t "and wrote it" 0 "^7 7 7 7$" '' -- "$SHARR" dump "$K"
t "sharr lock NAME -- sharr copy NAME does not deadlock" 0 '' '' \
    -- timeout 20 "$SHARR" lock "$K" -- "$SHARR" copy "$K" "$P.kc"
t "and copied it" 0 "^7 7 7 7$" '' -- "$SHARR" dump "$P.kc"
"$SHARR" rm "$P.kc"
"$SHARR" fill "$K" 6

# ---- a forged or stale $SHARR_LOCK_HELD never skips a lock ----
hold "$K" 60
t "the real holder named, but not an ancestor: waits" 4 '' "not taken within" \
    -- timeout 10 env SHARR_LOCK_HELD="$K:$HOLDER" "$SHARR" fill "$K" 9 --lock-timeout 0.2
t "an ancestor named, but it does not hold the lock: waits" 4 '' "not taken within" \
    -- timeout 10 env SHARR_LOCK_HELD="$K:$$" "$SHARR" fill "$K" 9 --lock-timeout 0.2
t "entries that do not parse are ignored" 4 '' "not taken within" \
    -- timeout 10 env SHARR_LOCK_HELD=",,:,$K,$K:,$K:x,$K:-$HOLDER,$K:${HOLDER}0,$K:$HOLDER.0,x$K:$HOLDER" \
       "$SHARR" fill "$K" 9 --lock-timeout 0.2
t "sharr lock believes a forged entry no more" 1 '' "is held" \
    -- timeout 10 env SHARR_LOCK_HELD="$K:$HOLDER" "$SHARR" lock "$K" --timeout 0.2 -- true
unhold
t "the data is untouched" 0 "^6 6 6 6$" '' -- "$SHARR" dump "$K"
# A stale entry (a pid that holds nothing) with nobody holding the lock:
# the lock is taken all the same.
env SHARR_LOCK_HELD="$K:$$" timeout 30 "$SHARR" lock "$K" -- sh -c "echo x >'$TMP/stale'; sleep 1" &
stale=$!
until_file "$TMP/stale"
ok "sharr lock with a stale entry took the lock" is_held "$K"
wait "$stale"
# An ancestor that holds the lock is not enough: it must say so.
t "without the variable, a command inside the lock waits for it" 4 '' "not taken within" \
    -- timeout 10 "$SHARR" lock "$K" -- env -u SHARR_LOCK_HELD "$SHARR" stat "$K" --lock-timeout 0.2

# ---- a holder killed outright: the next command goes on, with a note ----
rm -f "$TMP/killed.pid"
timeout 30 "$SHARR" lock "$K" -- sh -c "echo \$PPID \$\$ >'$TMP/killed.pid'; exec sleep 30" &
killed=$!
until_file "$TMP/killed.pid"
read -r lock_pid cmd_pid < "$TMP/killed.pid"
kill -9 "$lock_pid" # sharr lock alone: its command must not go on unlocked
{ wait "$killed"; } 2>/dev/null
# Gone, or a zombie nobody reaps yet (PID 1 of a container may not).
gone() {
    local i st
    for i in $(seq 100); do
        st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)
        [ -z "$st" ] || [ "$st" = Z ] && return 0
        sleep 0.05
    done
    kill -9 "$1" 2>/dev/null
    return 1
}
ok "a SIGKILLed sharr lock takes its command with it (it ran in the lock)" gone "$cmd_pid"
t "fill after a SIGKILLed holder takes the lock, with the note" 0 '' \
    "^sharr: fill: note: the previous holder of the lock of '$K' died while holding it; the data may be half-updated$" \
    -- timeout 10 "$SHARR" fill "$K" 3
t "and filled" 0 "^3 3 3 3$" '' -- "$SHARR" dump "$K"
t "the next command finds the lock clean" 0 "^sum +12$" '' -- timeout 10 "$SHARR" stat "$K"

# ---- two arrays: each locked once, in the order of their ids ----
A="$P.ka" B="$P.kb"
"$SHARR" create "$A" --shape 1x3 --fill 1
"$SHARR" create "$B" --shape 1x3 --fill 2
if [[ $(array_id "$A") < $(array_id "$B") ]]; then S=$A L=$B; else S=$B L=$A; fi
# Hold the first array in id order: both axpy wait for it, holding
# nothing; in argument order one of them would hold the other meanwhile.
hold "$S" 60
timeout 20 "$SHARR" axpy 1 "$A" "$B" 2>"$TMP/ab.err" &
ab=$!
timeout 20 "$SHARR" axpy 1 "$B" "$A" 2>"$TMP/ba.err" &
ba=$!
ok "axpy A B waits for the first array in id order" until_file "$TMP/ab.err" "waiting for the lock of '$S'"
ok "axpy B A waits for it too" until_file "$TMP/ba.err" "waiting for the lock of '$S'"
ok "while they wait, neither holds the other array" sh -c "'$SHARR' stat '$L' --lock-timeout 0 >/dev/null"
unhold
wait "$ab"; rc_ab=$?
wait "$ba"; rc_ba=$?
ok "both axpy finished (no deadlock): $rc_ab $rc_ba" test "$rc_ab$rc_ba" = 00
# B += A then A += B gives (4, 3); A += B then B += A gives (3, 5).
ab_values="$("$SHARR" dump "$A" --rows 0 --limit 1) $("$SHARR" dump "$B" --rows 0 --limit 1)"
ok "they ran one after the other: $ab_values" \
    test "$ab_values" = "4 ... 3 ..." -o "$ab_values" = "3 ... 5 ..."
for i in 1 2 3 4 5 6; do
    timeout 20 "$SHARR" axpy 0 "$A" "$B" -j 1 2>/dev/null &
    timeout 20 "$SHARR" axpy 0 "$B" "$A" -j 1 2>/dev/null &
done
bad=0
for job in $(jobs -p); do wait "$job" || bad=$((bad + 1)); done
ok "six pairs of axpy A B and axpy B A at once: none failed or hung" test "$bad" = 0
t "an array named twice is locked once" 0 '' '' -- timeout 10 "$SHARR" axpy 1 "$A" "$A" --lock-timeout 1
ln "/dev/shm/sharr.$A" "/dev/shm/sharr.$P.kalias"
t "an array and a hard link to it are locked once" 0 '' '' \
    -- timeout 10 "$SHARR" axpy 1 "$A" "$P.kalias" --lock-timeout 1
"$SHARR" create "$P.kc" --shape 2x2
t "gemm with A twice" 0 '' '' -- timeout 10 "$SHARR" gemm "$P.km" "$P.km" "$P.kc" --lock-timeout 1
t "gemm's result" 0 "^2 2$" '' -- "$SHARR" dump "$P.kc" --rows 0

# ---- Ctrl-C and SIGTERM ----
# Waiting for the second lock while holding the first: Ctrl-C releases the
# first, cleanly (a default death would leave it marked as a dead holder's).
hold "$L" 60
env --default-signal=INT timeout 30 "$SHARR" axpy 1 "$S" "$L" 2>"$TMP/int.err" &
ax=$!
ok "axpy waits for the second lock" until_file "$TMP/int.err" "waiting for the lock of '$L'"
ok "holding the first" is_held "$S"
kill -INT "$(pgrep -P "$ax")"
wait "$ax"
ok "Ctrl-C ended the waiting axpy as SIGINT does (130)" test $? = 130
t "the first array's lock is free, and no note about a dead holder" 0 "^sum " '' \
    -- timeout 5 "$SHARR" stat "$S"
unhold
# A reader killed while it holds the lock releases it: dump prints more
# than it copies (64 MiB) under the lock, into a FIFO nobody reads.
"$SHARR" create "$P.kbig" --shape 9000000 --dtype f64
mkfifo "$TMP/kfifo"
exec 3<>"$TMP/kfifo"
timeout 30 "$SHARR" dump "$P.kbig" >"$TMP/kfifo" 2>"$TMP/dump.err" &
dumper=$!
for _ in $(seq 100); do is_held "$P.kbig" && break; sleep 0.05; done
ok "the dump holds the lock while it prints" is_held "$P.kbig"
kill -TERM "$(pgrep -P "$dumper")"
wait "$dumper"
ok "SIGTERM ended the dump (143)" test $? = 143
exec 3<&-
t "the reader's lock is free and clean" 0 "^count +9000000$" '' -- timeout 10 "$SHARR" stat "$P.kbig"
ok "the dump printed no note" sh -c "! grep -q note '$TMP/dump.err'"

# ---- a segment you may only read ----
if [ "$(id -u)" = 0 ]; then
    "$SHARR" create "$P.kro" --shape 3 --fill 2 --mode 644
    t "another user reads it without the lock, with a note" 0 "^sum +6$" \
        "^sharr: stat: note: you may not write the segment of '$P\.kro', so it cannot be locked: reading it without its lock$" \
        -- setpriv --reuid=65534 --regid=65534 --clear-groups "$SHARR" stat "$P.kro" --foreign
    t "--no-lock: no note" 0 "^sum +6$" '' \
        -- setpriv --reuid=65534 --regid=65534 --clear-groups "$SHARR" stat "$P.kro" --foreign --no-lock
    "$SHARR" rm "$P.kro"
else
    echo "cli: skipped the read-only segment cases (needs root to be another user)"
fi

# ---- save and load wait for the lock too ----
"$SHARR" fill "$K" 5
hold "$K" 1 "'$SHARR' fill '$K' 7"
t "save .npy waits for the holder" 0 '' "waiting for the lock of '$K'" \
    -- timeout 10 "$SHARR" save "$K" "$TMP/k.npy"
wait "$HOLDER_JOB"
ok "and saved the holder's 7, not the 5 before it" $PY -c "import numpy as np; a = np.load('$TMP/k.npy'); assert (a == 7).all(), a"
"$SHARR" fill "$K" 5
hold "$K" 1 "'$SHARR' fill '$K' 7"
t "save to HDF5 waits for the holder" 0 '' "^sharr: save: waiting for the lock of '$K' \(held by pid $HOLDER\)" \
    -- timeout 20 "$SHARR" save "$K" "$TMP/k.h5:/after"
wait "$HOLDER_JOB"
ok "and saved the holder's 7" $PY -c "import h5py; a = h5py.File('$TMP/k.h5')['after'][:]; assert (a == 7).all(), a"
hold "$K" 1 "'$SHARR' fill '$K' 8"
t "load --into waits for the holder" 0 "^$K$" "waiting for the lock of '$K'" \
    -- timeout 20 "$SHARR" load "$TMP/k.h5:/after" --into "$K"
wait "$HOLDER_JOB"
t "and wrote after the holder's 8" 0 "^7 7 7 7$" '' -- "$SHARR" dump "$K"
t "load of a new array takes no lock" 0 "^$P\.knew$" '' \
    -- timeout 20 "$SHARR" load "$TMP/k.h5:/after" "$P.knew" --lock-timeout 0

"$SHARR" rm "$K" "$P.k2" "$P.kl" "$A" "$B" "$P.kalias" "$P.km" "$P.kc" "$P.kbig" "$P.knew"
