# CLI cases of the tool's own contract (sourced by tests/cli/run.sh: t, ok,
# $SHARR, $P, $TMP): messages in the CLI's words, "did you mean", globs in
# ls and rm, the ls table, dtype names, $SHARR_SCHEDULE, /dev/shm errors,
# how soon temporary arrays go, and what a command loads at start.

# ---- the command line ----
t "a mistyped command gets 'did you mean'" 2 '' \
    "^sharr: unknown command 'lod'; did you mean 'load'\?$" -- "$SHARR" lod
t "a transposition too" 2 '' "did you mean 'stat'\?" -- "$SHARR" sta
t "a unique prefix too" 2 '' "did you mean 'create'\?" -- "$SHARR" cre
t "a command in capitals too" 2 '' "did you mean 'ls'\?" -- "$SHARR" LS
t "no guess for a word far from every command" 2 '' \
    "^sharr: unknown command 'frobnicate'$" -- "$SHARR" frobnicate
# Output that cannot be written (a full disk, a closed stdout) is an error,
# whichever command wrote it, the tool's own --help and --version too.
"$SHARR" create "$P.out" --shape 2
for args in "--help" "--version" "-V" "create --help" "info $P.out" "ls" \
            "load --help" "h5ls --help"; do
    # shellcheck disable=SC2086 # the words of $args are the arguments
    t "sharr $args into a full disk: status 1, says so" 1 '' \
        "^sharr: (${args%% *}: )?cannot write the output$" \
        -- sh -c '"$0" "$@" >/dev/full' "$SHARR" $args
    # shellcheck disable=SC2086
    t "sharr $args with stdout closed: status 1" 1 '' \
        "cannot write the output$" -- sh -c '"$0" "$@" >&-' "$SHARR" $args
done
"$SHARR" rm "$P.out"
"$SHARR" save x "$TMP/g.h5:/x" --gzip 0 2>"$TMP/gzip.err"
ok "save --gzip 0 prints one error (and the hint)" test "$(wc -l <"$TMP/gzip.err")" = 2
t "save --gzip 0 says the levels" 2 '' "^sharr: save: --gzip needs a level 1\.\.9, not '0'$" \
    -- "$SHARR" save x "$TMP/g.h5:/x" --gzip 0

# ---- messages name the option, not the C field ----
"$SHARR" create "$P.fz" --shape 4 --dtype c128
t "eval into an OUT of another dtype says --force" 1 '' \
    "exists as c128 \(4,\) but the result is f64 \(4,\): remove it, or pass --force to replace it$" \
    -- "$SHARR" eval "'$P.fz' = abs('$P.fz')"
t "reshape under 'sharr lock' of the same array does not wait for its own lock" 0 '' '' \
    -- timeout 20 "$SHARR" lock "$P.fz" -- "$SHARR" reshape "$P.fz" 2x2 --force
t "and the shape is new" 0 "^shape: +2x2$" '' -- "$SHARR" info "$P.fz"
t "reshape with another handle open says --force" 1 '' "or pass --force \(a killed" \
    -- "$SHARR" lock "$P.fz" -- "$SHARR" reshape "$P.fz" 4
"$SHARR" rm "$P.fz"

# ---- shapes and row ranges that are not what they look like ----
for sh in "3,,4" ",3" "3x" "3,x4" "x3" "3xx4"; do
    t "create --shape $sh is malformed" 2 '' "shape '$sh' is malformed" \
        -- "$SHARR" create "$P.shp" --shape "$sh"
done
ok "and nothing was made" test ! -e "/dev/shm/sharr.$P.shp"
"$SHARR" create "$P.rws" --shape 5x2 --fill range
t "dump --rows '' is no row" 2 '' "--rows : not a row of the 5 rows" \
    -- "$SHARR" dump "$P.rws" --rows ''
t "dump --rows 2:-0 is empty, as a[2:-0] is in Python" 2 '' \
    "--rows 2:-0: the range must be non-empty" -- "$SHARR" dump "$P.rws" --rows 2:-0
t "dump --rows -0 is row 0, as a[-0] is" 0 "^0 1$" '' -- "$SHARR" dump "$P.rws" --rows -0
t "dump --rows -2: is the last two" 0 "^8 9$" '' -- "$SHARR" dump "$P.rws" --rows -2:
"$SHARR" rm "$P.rws"

# ---- dump into a pipe closed early ----
# Over 64 MiB, dump prints holding the read lock (untouched pages: no
# memory is used).  SIGPIPE releases it first; ignored, the first failed
# write ends the dump.
"$SHARR" create "$P.pipe" --shape 68000000 --dtype u8
t "dump | head -c1 dies of SIGPIPE" 141 '' '' \
    -- bash -c 'env --default-signal=PIPE "$0" dump "$1" | head -c1 >/dev/null; exit ${PIPESTATUS[0]}' "$SHARR" "$P.pipe"
t "and leaves the lock free, with no note of a dead holder" 0 "^count +68000000$" '' \
    -- timeout 10 "$SHARR" stat "$P.pipe"
"$SHARR" rm "$P.pipe"
# 2e6 values take dump ~9 s to format in full; stopping takes milliseconds.
"$SHARR" create "$P.pipe2" --shape 2000000 --fill range
t "dump with SIGPIPE ignored stops at the first failed write" 1 '' "cannot write the output" \
    -- timeout 5 bash -c 'env --ignore-signal=PIPE "$0" dump "$1" | head -c1 >/dev/null; exit ${PIPESTATUS[0]}' "$SHARR" "$P.pipe2"
"$SHARR" rm "$P.pipe2"

# ---- eval -f: what is read is checked ----
printf "'%s' = 3\0 + 100\n" "$P.nul" > "$TMP/nul.txt"
t "eval -f: a NUL byte in a line is refused, not the end of it" 2 '' \
    "nul.txt: line 1 holds a NUL byte" -- "$SHARR" eval -f "$TMP/nul.txt"
ok "and nothing was made" test ! -e "/dev/shm/sharr.$P.nul"
t "eval -f of an endless line stops at the parser's limit" 2 '' \
    "/dev/zero: line 1 is longer than 65536 bytes" \
    -- timeout 10 "$SHARR" eval -f /dev/zero
t "eval -f of a directory says so" 1 '' "$TMP: Is a directory" \
    -- "$SHARR" eval -f "$TMP"
t "eval -f - with stdin closed is a read error" 1 '' "-: Bad file descriptor" \
    -- sh -c '"$0" eval -f - <&-' "$SHARR"

# ---- dtype names as NumPy spells them ----
t "create --dtype int is int64" 0 '' '' -- "$SHARR" create "$P.int" --shape 2 --dtype int
t "info of --dtype int" 0 "^dtype: +i64 \(<i8\)$" '' -- "$SHARR" info "$P.int"
t "create --dtype single" 0 '' '' -- "$SHARR" create "$P.single" --shape 2 --dtype single
t "info of --dtype single" 0 "^dtype: +f32 " '' -- "$SHARR" info "$P.single"
t "create --dtype F32 asks" 2 '' "unknown dtype 'F32': names are lower case, as in NumPy: did you mean 'f32'\?" \
    -- "$SHARR" create "$P.x" --shape 2 --dtype F32
t "create --dtype f8 explains typestrs" 2 '' "write NumPy's typestr with its byte order, '<f8'" \
    -- "$SHARR" create "$P.x" --shape 2 --dtype f8
"$SHARR" rm "$P.int" "$P.single"

# ---- $SHARR_SCHEDULE ----
"$SHARR" create "$P.sch" --shape 64 --fill range
t "SHARR_SCHEDULE=bogus is an error for apply" 2 '' \
    "^sharr: apply: \\\$SHARR_SCHEDULE: unknown schedule 'bogus'" \
    -- env SHARR_SCHEDULE=bogus "$SHARR" apply "$P.sch" abs
t "SHARR_SCHEDULE=bogus is an error for stat" 2 '' "SHARR_SCHEDULE: unknown schedule 'bogus'" \
    -- env SHARR_SCHEDULE=bogus "$SHARR" stat "$P.sch"
t "--schedule wins over SHARR_SCHEDULE" 0 '' '' \
    -- env SHARR_SCHEDULE=bogus "$SHARR" apply "$P.sch" abs --schedule static
t "SHARR_SCHEDULE=dynamic,4 is used" 0 "^sum +2016$" '' \
    -- env SHARR_SCHEDULE=dynamic,4 "$SHARR" stat "$P.sch" -j 2
t "SHARR_SCHEDULE=bogus is an error for copy" 2 '' "^sharr: copy: \\\$SHARR_SCHEDULE: unknown schedule 'bogus'" \
    -- env SHARR_SCHEDULE=bogus "$SHARR" copy "$P.sch" "$P.sch2"
t "SHARR_SCHEDULE=bogus is an error for eval" 2 '' "^sharr: eval: \\\$SHARR_SCHEDULE: unknown schedule 'bogus'" \
    -- env SHARR_SCHEDULE=bogus "$SHARR" eval "$P.sch2 = $P.sch + 1"
ok "and nothing was made" test ! -e "/dev/shm/sharr.$P.sch2"
# The pool commands whose jobs pick their own blocks check it all the same.
t "SHARR_SCHEDULE=bogus is an error for fill" 2 '' "^sharr: fill: \\\$SHARR_SCHEDULE: unknown schedule 'bogus'" \
    -- env SHARR_SCHEDULE=bogus "$SHARR" fill "$P.sch" 5
t "and fill changed nothing" 0 "^sum +2016$" '' -- "$SHARR" stat "$P.sch"
t "SHARR_SCHEDULE=bogus is an error for an HDF5 save" 2 '' "^sharr: save: \\\$SHARR_SCHEDULE: unknown schedule 'bogus'" \
    -- env SHARR_SCHEDULE=bogus "$SHARR" save "$P.sch" "$TMP/sch.h5:/x"
ok "and no file was written" test ! -e "$TMP/sch.h5"
"$SHARR" save "$P.sch" "$TMP/sch.h5:/x"
t "SHARR_SCHEDULE=bogus is an error for an HDF5 load" 2 '' "^sharr: load: \\\$SHARR_SCHEDULE: unknown schedule 'bogus'" \
    -- env SHARR_SCHEDULE=bogus "$SHARR" load "$TMP/sch.h5:/x" "$P.sch3"
ok "and no array was made" test ! -e "/dev/shm/sharr.$P.sch3"
t "SHARR_LOCK_WAIT=-1 is an error, as --wait -1 is" 2 '' "^sharr: save: \\\$SHARR_LOCK_WAIT is '-1'" \
    -- env SHARR_LOCK_WAIT=-1 "$SHARR" save "$P.sch" "$TMP/lw.h5:/x"
t "SHARR_LOCK_WAIT=bogus is an error" 2 '' "^sharr: save: \\\$SHARR_LOCK_WAIT is 'bogus'" \
    -- env SHARR_LOCK_WAIT=bogus "$SHARR" save "$P.sch" "$TMP/lw.h5:/x"
t "SHARR_EXPR_STREAM=2 is an error" 2 '' "\\\$SHARR_EXPR_STREAM is '2': give 0 or 1" \
    -- env SHARR_EXPR_STREAM=2 "$SHARR" eval "$P.sch = $P.sch + 1"
t "SHARR_H5_DIRECT=yes is an error" 2 '' "\\\$SHARR_H5_DIRECT is 'yes': give 0 or 1" \
    -- env SHARR_H5_DIRECT=yes "$SHARR" h5ls "$TMP/lw.h5"
"$SHARR" rm "$P.sch"

# ---- ls and rm with patterns; the table ----
"$SHARR" create "$P.g1" --shape 1000x1000
"$SHARR" create "$P.g2" --shape 3 --dtype u8
"$SHARR" create "$P.h-with-a-name-much-longer-than-the-others" --shape 2
t "ls PATTERN lists the matches" 0 "^$P\.g2 +u8 +3 +3 B +" '' -- "$SHARR" ls "$P.g*"
t "ls PATTERN leaves out the rest" 0 - '' -- sh -c "! '$SHARR' ls '$P.g*' | grep -q '^$P\.h'"
t "ls total line" 0 "^total: 2 arrays, 7\.63 MiB$" '' -- "$SHARR" ls "$P.g*"
t "ls sizes in sensible units" 0 "^$P\.g1 +f64 +1000x1000 +7\.63 MiB " '' -- "$SHARR" ls "$P.g1"
"$SHARR" create "$P.kib" --shape 131008 --dtype f64
t "ls: 1023.5 KiB is 1 MiB, not 1024 KiB" 0 "^$P\.kib +f64 +131008 +1 MiB " '' -- "$SHARR" ls "$P.kib"
"$SHARR" rm "$P.kib"

t "ls several patterns" 0 "^total: 3 arrays, " '' -- "$SHARR" ls "$P.g1" "$P.g2" "$P.h*"
t "ls PATTERN matching nothing is exit 1" 1 - "^sharr: ls: no array matches '$P\.zz\*'$" \
    -- "$SHARR" ls "$P.g*" "$P.zz*"
t "ls --names" 0 "^$P\.g1$" '' -- "$SHARR" ls --names "$P.g*"
"$SHARR" ls "$P.*" >"$TMP/ls.table"
ok "ls aligns the columns of long names" awk '
    NR == 1 { col = index($0, "DTYPE") }
    NR > 1 && !/^total/ { split($0, f, " +"); if (index($0, " " f[2] " ") + 1 != col) exit 1 }
    ' "$TMP/ls.table"
t "ls --json alive is null for an array that is not temporary" 0 \
    "\"name\": \"$P\.g2\".*\"alive\": null, \"temp\": false" '' -- "$SHARR" ls --json "$P.g2"
t "ls shows the process a temporary array is bound to" 0 \
    "^$P\.tp +f64 +8 +64 B +[^ ]+ +until pid [0-9]+ exits$" '' \
    -- sh -c "'$SHARR' create $P.tp --shape 8 --temp && '$SHARR' ls $P.tp"
t "info of a kept array: created by, no liveness" 0 "^created by: +pid [0-9]+$" '' \
    -- "$SHARR" info "$P.g2"
t "rm PATTERN removes every match" 0 '' '' -- "$SHARR" rm "$P.g*"
ok "rm PATTERN removed them" test ! -e "/dev/shm/sharr.$P.g1" -a ! -e "/dev/shm/sharr.$P.g2"
ok "rm PATTERN kept the others" test -e "/dev/shm/sharr.$P.h-with-a-name-much-longer-than-the-others"
t "rm PATTERN matching nothing is exit 1" 1 '' "^sharr: rm: no array matches '$P\.g\*'$" \
    -- "$SHARR" rm "$P.g*"
"$SHARR" rm "$P.h-*"

# ---- temporary arrays go when their owner goes ----
sh -c "'$SHARR' create $P.quick --shape 8 --temp"
gone=no
for _ in 1 2 3 4 5 6 7 8 9 10; do
    [ -e "/dev/shm/sharr.$P.quick" ] || { gone=yes; break; }
    sleep 0.02
done
ok "a temporary array is gone within 0.2 s of its owner's exit" test "$gone" = yes

# ---- messages name options, not C flags ----
if [ "$(id -u)" = 0 ]; then
    "$SHARR" create "$P.theirs" --shape 3 --fill 7
    chown 65534 "/dev/shm/sharr.$P.theirs"
    t "another user's array is refused, with the option that allows it" 1 '' \
        "^sharr: dump: array '$P\.theirs' is owned by uid 65534, not by you \(uid 0\): pass --foreign to use it anyway$" \
        -- "$SHARR" dump "$P.theirs"
    t "dump --foreign" 0 "^7$" '' -- "$SHARR" dump "$P.theirs" --foreign
    t "stat --foreign" 0 "^sum +21$" '' -- "$SHARR" stat "$P.theirs" --foreign
    t "fill --foreign" 0 '' '' -- "$SHARR" fill "$P.theirs" 1 --foreign
    t "save --foreign" 0 '' '' -- "$SHARR" save "$P.theirs" "$TMP/theirs.npy" --foreign
    t "load --into has no --foreign: says so" 1 '' "only its owner can use it here" \
        -- "$SHARR" load "$TMP/theirs.npy" --into "$P.theirs"
    "$SHARR" rm "$P.theirs"
else
    echo "cli: skipped the --foreign cases (needs root to give an array away)"
fi

# ---- /dev/shm that cannot be written ----
# in_shm OPTS CMD: the shell command CMD with a fresh tmpfs of mount
# options OPTS on /dev/shm (its own mount namespace); as_nobody: run by
# an unprivileged user.
in_shm() { unshare -m sh -c "mount -t tmpfs -o $1 tmpfs /dev/shm && $2"; }
nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
    t "a read-only /dev/shm names the array and the reason" 1 '' \
        "^sharr: create: cannot create array '$P\.ro' in /dev/shm: Read-only file system$" \
        -- in_shm ro,size=1m "'$SHARR' create $P.ro --shape 2"
    t "an unwritable /dev/shm says so" 1 '' \
        "^sharr: create: cannot create array '$P\.ro': you may not create files in /dev/shm" \
        -- in_shm size=1m,mode=755 "$nobody '$SHARR' create $P.ro --shape 2"
    t "an unwritable /dev/shm names the queue, not its build" 1 '' \
        "^sharr: queue create: cannot create queue '$P\.q': you may not create files in /dev/shm" \
        -- in_shm size=16m,mode=755 "$nobody '$SHARR' queue create $P.q"
    t "a read-only /dev/shm names the barrier" 1 '' \
        "^sharr: barrier create: cannot create barrier '$P\.b' in /dev/shm: Read-only file system$" \
        -- in_shm ro,size=1m "'$SHARR' barrier create $P.b 2"
    t "an unwritable /dev/shm names eval's OUT, not its staging array" 1 '' \
        "^sharr: eval: cannot create array '$P\.e': you may not create files in /dev/shm" \
        -- in_shm size=1m,mode=755 "$nobody '$SHARR' eval '$P.e = 1 + 2'"
    t "ls of no array still has a total line" 0 "^total: 0 arrays, 0 B$" '' \
        -- in_shm size=1m "'$SHARR' ls"
else
    echo "cli: skipped the read-only /dev/shm cases (needs root and unshare)"
fi

# ---- what a command loads when it starts ----
# loaded COMMAND...: the shared objects the dynamic loader opened for it.
loaded() { LD_DEBUG=files "$@" 2>&1 >/dev/null | sed -n 's/.*file=\([^ ]*\).*/\1/p'; }
"$SHARR" create "$P.m" --shape 4x4 --fill 1
"$SHARR" create "$P.m2" --shape 4x4
loaded "$SHARR" ls "$P.m" >"$TMP/ld.ls"
ok "ls loads neither HDF5 nor OpenBLAS" sh -c "! grep -Eq 'hdf5|openblas' '$TMP/ld.ls'"
loaded "$SHARR" stat "$P.m" -j 1 >"$TMP/ld.stat"
ok "stat (no BLAS) loads neither HDF5 nor OpenBLAS" sh -c "! grep -Eq 'hdf5|openblas' '$TMP/ld.stat'"
loaded "$SHARR" gemm "$P.m" "$P.m" "$P.m2" -j 1 >"$TMP/ld.gemm"
ok "gemm loads OpenBLAS, and no HDF5" sh -c "grep -q openblas '$TMP/ld.gemm' && ! grep -q hdf5 '$TMP/ld.gemm'"
loaded "$SHARR" h5ls "$TMP/none.h5" >"$TMP/ld.h5ls"
ok "h5ls runs the helper, which loads HDF5" grep -q hdf5 "$TMP/ld.h5ls"
"$SHARR" rm "$P.m" "$P.m2"
