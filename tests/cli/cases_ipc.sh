# CLI cases of queues, pipes, locks, semaphores, events, conditions and
# barriers (sourced by tests/cli/run.sh: t, ok, $SHARR, $P, $TMP).  Every
# command that waits runs under `timeout`, so a hang fails the case (exit
# 124) instead of blocking the suite.

# ---- the contract of every group and subcommand ----
for grp in queue pipe lock sem event cond barrier; do
    t "$grp --help" 0 "^Usage: sharr $grp" '' -- "$SHARR" "$grp" --help
    t "$grp --version" 0 "^sharr [0-9]" '' -- "$SHARR" "$grp" --version
    t "$grp unknown option" 2 '' "^sharr: $grp: unknown option '--frobnicate'" \
        -- "$SHARR" "$grp" --frobnicate
    t "$grp unknown option says try" 2 '' "Try 'sharr $grp --help'" \
        -- "$SHARR" "$grp" --frobnicate
done
for cmd in "queue create" "queue put" "queue get" "queue close" \
           "queue task-done" "queue join" "pipe create" "pipe send" \
           "pipe recv" "lock create" "sem create" "sem acquire" \
           "sem release" "event create" "event set" "event clear" \
           "event wait" "cond create" "cond wait" "cond notify" \
           "barrier create" "barrier wait" "barrier abort" "barrier reset"; do
    # shellcheck disable=SC2086 # $cmd is two words on purpose
    t "$cmd --help" 0 "^Usage: sharr $cmd" '' -- "$SHARR" $cmd --help
    # shellcheck disable=SC2086
    t "$cmd unknown option" 2 '' "^sharr: $cmd: unknown option '--frobnicate'" \
        -- "$SHARR" $cmd --frobnicate
    # shellcheck disable=SC2086
    t "$cmd says try" 2 '' "Try 'sharr $cmd --help'" -- "$SHARR" $cmd --frobnicate
done
t "queue without subcommand" 2 '' "missing subcommand" -- "$SHARR" queue
t "queue bad subcommand" 2 '' "unknown subcommand 'pop'" -- "$SHARR" queue pop x
t "top help lists queue" 0 "^  queue " '' -- "$SHARR" --help

# ---- queue ----
Q="$P.q"
t "queue create" 0 '' '' -- "$SHARR" queue create "$Q" --capacity 64K --max-msg 100
t "queue create existing" 1 '' "already exists: it is a queue" -- "$SHARR" queue create "$Q"
t "queue create too small" 1 '' "at least 112" -- "$SHARR" queue create "$P.qs" --capacity 100 --max-msg 100
t "queue create bad size" 2 '' "needs a size in bytes" -- "$SHARR" queue create "$P.qs" --capacity 10X
t "queue create no name" 2 '' "missing NAME" -- "$SHARR" queue create
t "queue create bad name" 2 '' "starts with '.'" -- "$SHARR" queue create .q
t "queue put args" 0 '' '' -- "$SHARR" queue put "$Q" alpha beta -7
t "queue put stdin" 0 '' '' -- sh -c "printf 'gamma\ndelta\nlast-without-newline' | '$SHARR' queue put '$Q'"
t "queue put too long" 1 '' "at most 100" -- "$SHARR" queue put "$Q" "$(printf '%0101d' 0)"
# Standard input is read a message at a time, bounded by max-msg: an
# endless line (/dev/zero) is refused at once, not gathered into memory.
t "queue put of an endless line stops at max-msg" 1 '' \
    "message 1 of standard input is longer than the queue's max-msg \(100 bytes\)" \
    -- timeout 10 sh -c '"$0" queue put "$1" </dev/zero' "$SHARR" "$Q"
# Output that cannot be written stops the taking: one message lost, no more.
"$SHARR" queue create "$P.qf"
"$SHARR" queue put "$P.qf" one two three
t "queue get into a full disk fails at the first message" 1 '' \
    "cannot write the output: .*message 1, taken, is lost; no more were taken" \
    -- sh -c '"$0" queue get "$1" -n 3 -t 0 >/dev/full' "$SHARR" "$P.qf"
ok "and says so once" test "$(grep -c . "$TMP/err")" = 1
t "and the other two are still queued" 0 "^two$" '' \
    -- "$SHARR" queue get "$P.qf" -n 2 -t 0
"$SHARR" rm "$P.qf"
t "queue put with stdin closed is a read error, not an empty input" 1 '' \
    "standard input: Bad file descriptor" \
    -- sh -c '"$0" queue put "$1" <&-' "$SHARR" "$Q"
t "ls shows the queue's depth" 0 "^$Q +queue .* 6 messages \(" '' -- "$SHARR" ls
t "info shows kind and state" 0 "^kind: +queue$" '' -- "$SHARR" info "$Q"
t "info shows the state" 0 "^state: +6 messages \(.* of 64 KiB\), 6 unfinished$" '' -- "$SHARR" info "$Q"
"$SHARR" ls --json >"$TMP/lsq.json"
ok "ls --json gives kind and messages" $PY -c "import json; d=[e for e in json.load(open('$TMP/lsq.json')) if e['name']=='$Q'][0]; assert d['kind']=='queue' and d['messages'][0]==6, d"
"$SHARR" info "$Q" --json >"$TMP/infoq.json"
ok "info --json is valid" $PY -c "import json; d=json.load(open('$TMP/infoq.json')); assert d['kind']=='queue' and d['capacity']==65536, d"
t "queue get one" 0 "^alpha$" '' -- "$SHARR" queue get "$Q"
t "queue get -n 2" 0 "^-7$" '' -- "$SHARR" queue get "$Q" -n 2
t "queue get stdin lines" 0 "^delta$" '' -- "$SHARR" queue get "$Q" -n 2
t "queue get the unterminated line" 0 "^last-without-newline$" '' -- "$SHARR" queue get "$Q"
t "queue get empty, no wait" 1 '' "is empty$" -- "$SHARR" queue get "$Q" --timeout 0
t "queue get empty, timeout" 1 '' "timed out" -- timeout 5 "$SHARR" queue get "$Q" --timeout 0.2
t "queue get bad timeout" 2 '' "--timeout needs seconds" -- "$SHARR" queue get "$Q" --timeout soon
t "queue get -n 0" 2 '' "-n needs an integer >= 1" -- "$SHARR" queue get "$Q" -n 0
t "queue task-done" 0 '' '' -- "$SHARR" queue task-done "$Q" 5
t "queue join waits for the last" 1 '' "1 messages not done" -- timeout 5 "$SHARR" queue join "$Q" --timeout 0.1
t "queue task-done too many" 1 '' "only 1 of the 6" -- "$SHARR" queue task-done "$Q" 2
t "queue task-done last" 0 '' '' -- "$SHARR" queue task-done "$Q"
t "queue join" 0 '' '' -- timeout 5 "$SHARR" queue join "$Q"
t "queue put -z" 0 '' '' -- sh -c "printf 'a b\0c\nd\0' | '$SHARR' queue put -z '$Q'"
"$SHARR" queue get "$Q" -n 2 -z >"$TMP/z.out"
ok "queue get -z keeps spaces and newlines" $PY -c "assert open('$TMP/z.out','rb').read()==b'a b\0c\nd\0'"
t "queue close" 0 '' '' -- "$SHARR" queue close "$Q"
t "queue put on closed" 1 '' "is closed" -- "$SHARR" queue put "$Q" x
t "queue get --all on closed drains and ends" 0 '' '' -- timeout 5 "$SHARR" queue get "$Q" --all
t "queue get on closed and empty is end of stream" 3 '' '' -- timeout 5 "$SHARR" queue get "$Q"
t "queue get of a missing queue" 1 '' "no object named '$P.none'" -- "$SHARR" queue get "$P.none"
"$SHARR" create "$P.arr" --shape 3
t "queue get of an array" 1 '' "'$P.arr' is an array, not a queue" -- "$SHARR" queue get "$P.arr"
t "dump of a queue" 1 '' "'$Q' is a queue, not an array" -- "$SHARR" dump "$Q"
t "create over a queue says it is a queue" 1 '' "'$Q' already exists: it is a queue, not a new one" -- "$SHARR" create "$Q" --shape 2
"$SHARR" save "$P.arr" "$TMP/q.npy"
t "load over a queue says it is a queue" 1 '' "'$Q' already exists: it is a queue, not a new one" \
    -- "$SHARR" load "$TMP/q.npy" "$Q"
t "rm a queue" 0 '' '' -- "$SHARR" rm "$Q"
ok "the queue is gone" test ! -e "/dev/shm/sharr.$Q"

# ---- a shell script hands work to two workers through a queue ----
W="$P.work"
"$SHARR" queue create "$W" --capacity 4K
for i in 1 2; do
    timeout 20 "$SHARR" queue get "$W" --all >"$TMP/worker$i" &
done
seq 1 300 | timeout 20 "$SHARR" queue put "$W"
"$SHARR" queue close "$W"
wait
ok "two shell workers took every message once" \
    test "$(cat "$TMP/worker1" "$TMP/worker2" | sort -n | uniq | wc -l)" = 300 -a \
         "$(cat "$TMP/worker1" "$TMP/worker2" | wc -l)" = 300
"$SHARR" rm "$W"

# ---- temporary queues, modes, gc, corrupt segments ----
t "temp queue lives while its shell lives" 0 "^temporary: +yes" '' \
    -- sh -c "'$SHARR' queue create $P.tq --temp && '$SHARR' info $P.tq"
gone=no
for _ in $(seq 50); do [ -e "/dev/shm/sharr.$P.tq" ] || { gone=yes; break; }; sleep 0.1; done
ok "temp queue removed when its shell exits" test "$gone" = yes
t "queue mode under umask 0" 0 '' '' -- sh -c "umask 0; '$SHARR' queue create $P.qm"
ok "queue mode is 600" test "$(stat -c %a "/dev/shm/sharr.$P.qm")" = 600
t "event mode 640" 0 '' '' -- "$SHARR" event create "$P.em" --mode 640
ok "event mode is 640" test "$(stat -c %a "/dev/shm/sharr.$P.em")" = 640
head -c 16384 /dev/urandom >"/dev/shm/sharr.$P.qbad"
t "info of a corrupt object" 1 '' "'?$P.qbad'?.*magic" -- "$SHARR" info "$P.qbad"
t "queue get of a corrupt object" 1 '' "magic" -- "$SHARR" queue get "$P.qbad" --timeout 0
t "ls lists a corrupt object" 0 "^$P.qbad .*corrupt" '' -- "$SHARR" ls
t "rm of objects and corrupt ones" 0 '' '' -- "$SHARR" rm "$P.qm" "$P.em" "$P.qbad" "$P.arr"

# ---- pipe ----
t "pipe create" 0 '' '' -- "$SHARR" pipe create "$P.p" --capacity 8K
t "pipe send of an endless line stops at max-msg" 1 '' \
    "longer than the pipe's max-msg" \
    -- timeout 10 sh -c '"$0" pipe send "$1" 0 </dev/zero' "$SHARR" "$P.p"
t "pipe send from 0" 0 '' '' -- "$SHARR" pipe send "$P.p" 0 ping pong
t "pipe recv at 1" 0 "^ping$" '' -- "$SHARR" pipe recv "$P.p" 1
t "pipe recv at 0 is empty" 1 '' "is empty" -- "$SHARR" pipe recv "$P.p" 0 --timeout 0
t "pipe send from 1 and close" 0 '' '' -- "$SHARR" pipe send "$P.p" 1 back --close
t "pipe recv at 0 until closed" 0 "^back$" '' -- timeout 5 "$SHARR" pipe recv "$P.p" 0 --all
t "pipe bad end" 2 '' "END is 0 or 1" -- "$SHARR" pipe send "$P.p" 2 x
t "pipe info" 0 "^state: +0->1: 1 message .*1->0: 0 messages .*closed" '' -- "$SHARR" info "$P.p"
"$SHARR" rm "$P.p"

# ---- sem ----
t "sem create" 0 '' '' -- "$SHARR" sem create "$P.s" 1 --bound 2
t "sem create value past bound" 1 '' "may not exceed the bound" -- "$SHARR" sem create "$P.s2" 3 --bound 2
t "sem create no value" 2 '' "missing VALUE" -- "$SHARR" sem create "$P.s2"
t "sem acquire" 0 '' '' -- "$SHARR" sem acquire "$P.s" --timeout 0
t "sem acquire at 0 times out" 1 '' "is 0" -- timeout 5 "$SHARR" sem acquire "$P.s" --timeout 0.1
t "sem release" 0 '' '' -- "$SHARR" sem release "$P.s" -n 2
t "sem release past the bound" 1 '' "would pass its bound 2" -- "$SHARR" sem release "$P.s"
t "sem info" 0 "^state: +value 2 of 2$" '' -- "$SHARR" info "$P.s"
t "sem of a lock name" 1 '' "no object named" -- "$SHARR" sem acquire "$P.nolock"

# ---- event ----
t "event create" 0 '' '' -- "$SHARR" event create "$P.e"
t "event wait times out" 1 '' "not set \(timed out\)" -- timeout 5 "$SHARR" event wait "$P.e" --timeout 0.1
( sleep 0.3; "$SHARR" event set "$P.e" ) &
t "event wait wakes on set" 0 '' '' -- timeout 5 "$SHARR" event wait "$P.e"
wait
t "event info set" 0 "^state: +set$" '' -- "$SHARR" info "$P.e"
t "event clear" 0 '' '' -- "$SHARR" event clear "$P.e"
t "event wait after clear" 1 '' "not set" -- "$SHARR" event wait "$P.e" --timeout 0

# ---- cond ----
t "cond create" 0 '' '' -- "$SHARR" cond create "$P.c"
t "cond wait times out" 1 '' "no notify" -- timeout 5 "$SHARR" cond wait "$P.c" --timeout 0.1
( sleep 0.3; "$SHARR" cond notify "$P.c" --all ) &
t "cond wait wakes on notify" 0 '' '' -- timeout 5 "$SHARR" cond wait "$P.c" --timeout 4
wait
t "cond notify with nobody waiting" 0 '' '' -- "$SHARR" cond notify "$P.c" -n 3
# Under `sharr lock` of the condition, its lock is the ancestor's: refused
# at once rather than waited for for ever.
for sub in "notify" "wait --timeout 5"; do
    # shellcheck disable=SC2086 # $sub is the subcommand and its options
    t "cond ${sub%% *} inside sharr lock of the same condition refuses at once" 1 '' \
        "^sharr: cond ${sub%% *}: the lock of '$P.c' is held for this command by 'sharr lock'" \
        -- timeout 10 "$SHARR" lock "$P.c" -- "$SHARR" cond $sub "$P.c"
done
t "and the lock is free afterwards" 0 '' '' -- timeout 5 "$SHARR" cond notify "$P.c"

# ---- barrier ----
t "barrier create" 0 '' '' -- "$SHARR" barrier create "$P.b" 2
t "barrier create 0 parties" 2 '' "PARTIES needs an integer >= 1" -- "$SHARR" barrier create "$P.b0" 0
timeout 10 "$SHARR" barrier wait "$P.b" --timeout 5 >"$TMP/b1" &
t "barrier wait with a second party" 0 "^[01]$" '' -- timeout 10 "$SHARR" barrier wait "$P.b" --timeout 5
wait
ok "the two parties got indices 0 and 1" test "$(cat "$TMP/b1" "$TMP/out" | sort | tr '\n' ' ')" = "0 1 "
t "barrier wait alone times out and breaks it" 1 '' "only 1 of 2 parties came" \
    -- timeout 10 "$SHARR" barrier wait "$P.b" --timeout 0.2
t "barrier broken until reset" 1 '' "is broken: a wait on it timed out" \
    -- timeout 5 "$SHARR" barrier wait "$P.b" --timeout 1
t "barrier info broken" 0 "^state: .*broken" '' -- "$SHARR" info "$P.b"
t "barrier reset" 0 '' '' -- "$SHARR" barrier reset "$P.b"
t "barrier abort" 0 '' '' -- "$SHARR" barrier abort "$P.b"
t "barrier aborted" 1 '' "it was aborted" -- "$SHARR" barrier wait "$P.b" --timeout 0

# ---- lock: run a command holding it ----
L="$P.l"
t "lock create" 0 '' '' -- "$SHARR" lock create "$L"
t "lock create recursive" 0 '' '' -- "$SHARR" lock create "$P.rl" --recursive
t "lock runs the command" 0 "^inside$" '' -- "$SHARR" lock "$L" -- echo inside
t "lock passes the exit status on" 7 '' '' -- "$SHARR" lock "$L" -- sh -c 'exit 7'
t "lock passes a signal on as 128+N" 137 '' '' -- "$SHARR" lock "$L" -- sh -c 'kill -9 $$'
t "lock without --" 2 '' "missing -- COMMAND" -- "$SHARR" lock "$L" echo x
t "lock without command" 2 '' "missing COMMAND" -- "$SHARR" lock "$L" --
t "lock without name" 2 '' "missing NAME" -- "$SHARR" lock -- echo x
t "lock of a missing name" 1 '' "no array named|no object named" -- "$SHARR" lock "$P.none" -- true
t "lock of a missing command" 127 '' "cannot run 'no-such-command-here'" -- "$SHARR" lock "$L" -- no-such-command-here
t "lock options after the command are the command's" 0 "^--timeout$" '' -- "$SHARR" lock "$L" -- echo --timeout
"$SHARR" lock "$L" -- sleep 1 &
sleep 0.3
t "lock held by another times out" 1 '' "is held by [0-9]+ \(timed out\)" -- timeout 5 "$SHARR" lock "$L" --timeout 0.1 -- true
t "lock info shows the holder" 0 "^state: +held by [0-9]+$" '' -- "$SHARR" info "$L"
t "lock waits for the holder" 0 "^after$" '' -- timeout 5 "$SHARR" lock "$L" -- echo after
wait
"$SHARR" lock "$L" -- sleep 30 &
holder=$!
sleep 0.3
kill -9 "$holder"
wait "$holder" 2>/dev/null
t "lock after a killed holder notes it and runs" 0 "^recovered$" "note: the previous holder of lock '$L' died holding it" \
    -- timeout 5 "$SHARR" lock "$L" -- echo recovered
t "lock again is clean" 0 "^clean$" '' -- timeout 5 "$SHARR" lock "$L" -- echo clean
"$SHARR" create "$P.la" --shape 4
t "lock of an array" 0 "^array$" '' -- timeout 5 "$SHARR" lock "$P.la" -- echo array
"$SHARR" lock "$P.la" -- sleep 1 &
sleep 0.3
t "lock of an array held by another" 1 '' "lock of '$P.la' is held" -- timeout 5 "$SHARR" lock "$P.la" --timeout 0 -- true
wait
t "lock of a condition" 0 "^cond$" '' -- timeout 5 "$SHARR" lock "$P.c" -- echo cond
t "lock of a queue names what it takes" 1 '' "'$P.lq' is a queue: sharr lock takes the lock of an array, a lock, an rlock or a condition$" -- sh -c "'$SHARR' queue create $P.lq && '$SHARR' lock $P.lq -- true"
t "lock of an event too" 1 '' "'$P.le' is an event: sharr lock takes" -- sh -c "'$SHARR' event create $P.le && '$SHARR' lock $P.le -- true"
t "lock of an rlock" 0 "^r$" '' -- "$SHARR" lock "$P.rl" -- echo r
t "lock create -- COMMAND locks a NAME 'create'" 1 '' "no (array|object) named 'create'" -- "$SHARR" lock create -- true
t "rm the sync objects" 0 '' '' -- "$SHARR" rm "$P.s" "$P.e" "$P.c" "$P.b" "$L" "$P.rl" "$P.la" "$P.lq"

# ---- bash completion of the groups' subcommands ----
ipc_complete() {
    bash --norc --noprofile -c 'source "$1" || exit 1
        COMP_LINE=$2; COMP_POINT=${#COMP_LINE}; _sharr
        printf "%s\n" "${COMPREPLY[@]}"' _ \
        "$(dirname "$0")/../../tools/sharr.bash" "$1" | tr '\n' ' '
}
ok "completion offers the queue subcommands" \
    test "$(ipc_complete "$SHARR queue ")" = "create put get close task-done join "
ok "completion offers the barrier subcommands by prefix" \
    test "$(ipc_complete "$SHARR barrier a")" = "abort "
"$SHARR" queue create "$P.cq"
ok "completion offers names after an option that takes a value" \
    test "$(ipc_complete "$SHARR queue get --timeout 5 $P.c")" = "$P.cq "
ok "completion after --capacity and --max-msg too" \
    test "$(ipc_complete "$SHARR queue create --capacity 4096 --max-msg 64 $P.c")" = "$P.cq "
ok "completion of a lock with a timeout" \
    test "$(ipc_complete "$SHARR lock --timeout 5 $P.c")" = "$P.cq "
t "a mistyped subcommand gets 'did you mean'" 2 '' \
    "^sharr: queue: unknown subcommand 'pt'; did you mean 'put'\?$" -- "$SHARR" queue pt
"$SHARR" rm "$P.cq"
