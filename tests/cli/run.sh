#!/bin/bash
# CLI tests: each case runs one command and checks its exit status, stdout
# and stderr.  Usage: tests/cli/run.sh /path/to/sharr
#
#   t "what it checks" STATUS STDOUT STDERR -- command args...
#
# STDOUT/STDERR: '-' ignores the stream, '' requires it to be empty, anything
# else is an extended regular expression that must match some line.
# Segments are named tc.<pid>.* and removed on exit, whatever happened.

SHARR=${1:?usage: run.sh /path/to/sharr}
P="tc.$$"
TMP=$(mktemp -d)
PY=/usr/bin/python3
pass=0
fail=0
# What no message of the tool may contain: the API's flags and fields.
C_NAMES='SHARR_(OPEN|CREATE|SCHED|FILL|OP|E[A-Z]+)\b|sharr_[a-z0-9_]+|\([a-z_]+ = [0-9]+\)'

cleanup() {
    rm -f /dev/shm/sharr."$P".* 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

t() {
    local what=$1 want_rc=$2 want_out=$3 want_err=$4
    shift 5 # the four fields and the "--"
    "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    local rc=$? bad=""
    [ "$rc" = "$want_rc" ] || bad="exit $rc, expected $want_rc"
    check_stream out "$want_out" || bad="$bad; stdout does not match '$want_out'"
    check_stream err "$want_err" || bad="$bad; stderr does not match '$want_err'"
    # The CLI speaks CLI: options, never the C flags or fields of the API.
    ! grep -Eq "$C_NAMES" "$TMP/err" || bad="$bad; stderr names C identifiers"
    if [ -z "$bad" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $what: ${bad#; }"
        echo "  command: $*"
        sed 's/^/  stdout: /' "$TMP/out" | head -5
        sed 's/^/  stderr: /' "$TMP/err" | head -5
    fi
}

check_stream() {
    local f="$TMP/$1" want=$2
    case "$want" in
        -) return 0 ;;
        '') [ ! -s "$f" ] ;;
        *) grep -Eq -- "$want" "$f" ;;
    esac
}

# Assert a shell condition as a test case of its own.
ok() {
    local what=$1
    shift
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $what"; fi
}

A="$P.a"

# ---- the tool ----
t "top help" 0 "^Usage: sharr COMMAND" '' -- "$SHARR" --help
t "top version" 0 "^sharr [0-9]+\.[0-9]+\.[0-9]+$" '' -- "$SHARR" --version
t "no command" 2 '' "missing command" -- "$SHARR"
t "unknown command" 2 '' "unknown command 'bogus'" -- "$SHARR" bogus
for sub in create ls info rm fill dump gc apply axpy stat gemm load save h5ls; do
    t "$sub --help" 0 "^Usage: sharr $sub" '' -- "$SHARR" "$sub" --help
    t "$sub -h" 0 "^Usage: sharr $sub" '' -- "$SHARR" "$sub" -h
    t "$sub --version" 0 "^sharr [0-9]" '' -- "$SHARR" "$sub" --version
    t "$sub unknown option" 2 '' "^sharr: $sub: unknown option '--frobnicate'" \
        -- "$SHARR" "$sub" --frobnicate
    t "$sub unknown option says try" 2 '' "Try 'sharr $sub --help'" \
        -- "$SHARR" "$sub" --frobnicate
done

# ---- create ----
t "create c128" 0 '' '' -- "$SHARR" create "$A" --dtype c128 --shape 4x3 --fill 0.6+0.8i
t "create existing" 1 '' "^sharr: create: .*already exists" \
    -- "$SHARR" create "$A" --shape 2
t "create without name" 2 '' "missing NAME" -- "$SHARR" create --shape 2
t "create without shape" 2 '' "missing --shape" -- "$SHARR" create "$P.x"
t "create trailing x" 2 '' "malformed" -- "$SHARR" create "$P.x" --shape 4x
t "create malformed shape" 2 '' "malformed|not a dimension" -- "$SHARR" create "$P.x" --shape 4xx3
t "create negative shape" 2 '' "not a dimension" -- "$SHARR" create "$P.x" --shape -4
t "create nine dims" 2 '' "more than 8" -- "$SHARR" create "$P.x" --shape 1x1x1x1x1x1x1x1x1
t "create bad dtype" 2 '' "unknown dtype 'f16'" -- "$SHARR" create "$P.x" --shape 2 --dtype f16
t "create bad name" 2 '' "starts with '.'" -- "$SHARR" create .hidden --shape 2
t "create bad name char" 2 '' "outside" -- "$SHARR" create "a/b" --shape 2
t "create bad fill" 2 '' "out of range for u8" -- "$SHARR" create "$P.x" --shape 2 --dtype u8 --fill 300
ok "bad fill leaves no segment" test ! -e "/dev/shm/sharr.$P.x"
t "create bad mode" 2 '' "octal" -- "$SHARR" create "$P.x" --shape 2 --mode 999
t "create missing option value" 2 '' "needs a value" -- "$SHARR" create "$P.x" --shape
t "create too many args" 2 '' "too many" -- "$SHARR" create "$P.x" "$P.y" --shape 2
t "create overflow" 1 '' "overflows" -- "$SHARR" create "$P.x" --shape 1099511627776x1099511627776 --dtype c128
t "create no space" 1 '' "shm-size" -- "$SHARR" create "$P.x" --shape 100000000000000 --dtype c128
ok "failed create leaves no segment" test ! -e "/dev/shm/sharr.$P.x"
t "create mode 640" 0 '' '' -- "$SHARR" create "$P.m" --shape 2 --mode 640
ok "mode is 640" test "$(stat -c %a /dev/shm/sharr.$P.m)" = 640
t "create default mode under umask 0" 0 '' '' -- sh -c "umask 0; '$SHARR' create $P.m2 --shape 2"
ok "default mode is 600" test "$(stat -c %a /dev/shm/sharr.$P.m2)" = 600
t "create negative fill" 0 '' '' -- "$SHARR" create "$P.neg" --shape 3 --dtype i32 --fill -5
t "negative fill dumped" 0 "^-5$" '' -- "$SHARR" dump "$P.neg" --rows 0
t "create scalar ''" 0 '' '' -- "$SHARR" create "$P.s" --shape '' --dtype f64 --fill 2.5
t "create scalar word" 0 '' '' -- "$SHARR" create "$P.s2" --shape scalar --dtype c64 --fill -2j
t "dump scalar" 0 "^2\.5$" '' -- "$SHARR" dump "$P.s"
t "dump complex scalar" 0 "^-0-2j$|^0-2j$" '' -- "$SHARR" dump "$P.s2"
t "numpy dtype alias" 0 '' '' -- "$SHARR" create "$P.np" --shape 2x2 --dtype complex128 --fill range

# ---- ls and info ----
t "ls lists it" 0 "^$A +c128 +4x3 +192 B" '' -- "$SHARR" ls
t "ls header" 0 "^NAME +DTYPE +SHAPE +SIZE +USER +TEMPORARY$" '' -- "$SHARR" ls
t "ls says a kept array is not temporary" 0 "^$A +c128 +4x3 +192 B +[a-z0-9]+ +-$" '' -- "$SHARR" ls "$A"
t "ls has a total line" 0 "^total: [0-9]+ arrays?, " '' -- "$SHARR" ls
t "ls json" 0 "\"name\": \"$A\", \"status\": \"ok\", \"dtype\": \"c128\", \"shape\": \[4, 3\]" '' -- "$SHARR" ls --json
"$SHARR" ls --json >"$TMP/ls.json"
ok "ls json is valid JSON" $PY -c "import json,sys; json.load(open('$TMP/ls.json'))"
t "ls of a missing name" 1 '' "^sharr: ls: no array named '$P.none'$" -- "$SHARR" ls "$P.none"
t "info" 0 "^shape: +4x3$" '' -- "$SHARR" info "$A"
t "info path" 0 "^path: +/dev/shm/sharr.$A$" '' -- "$SHARR" info "$A"
t "info offsets" 0 "^data offset: +4096$" '' -- "$SHARR" info "$A"
t "info json" 0 "\"data_offset\": 4096" '' -- "$SHARR" info "$A" --json
"$SHARR" info "$A" --json >"$TMP/info.json"
ok "info json is valid JSON" $PY -c "import json; d=json.load(open('$TMP/info.json')); assert d['shape']==[4,3] and d['descr']=='<c16', d"
t "info missing" 1 '' "^sharr: info: no array named '$P.none'" -- "$SHARR" info "$P.none"
t "info no name" 2 '' "missing NAME" -- "$SHARR" info

# ---- fill and dump ----
t "dump values" 0 "^0\.6\+0\.8j 0\.6\+0\.8j 0\.6\+0\.8j$" '' -- "$SHARR" dump "$A"
t "fill range" 0 '' '' -- "$SHARR" fill "$A" range
t "dump rows" 0 "^9\+0j 10\+0j 11\+0j$" '' -- "$SHARR" dump "$A" --rows -1:
t "dump one row" 0 "^3\+0j 4\+0j 5\+0j$" '' -- "$SHARR" dump "$A" --rows 1
t "dump limit" 0 "^0\+0j 1\+0j \.\.\.$" '' -- "$SHARR" dump "$A" --limit 2
t "dump bad rows" 2 '' "--rows 3:9" -- "$SHARR" dump "$A" --rows 3:9
t "dump empty rows" 2 '' "non-empty" -- "$SHARR" dump "$A" --rows 2:2
t "dump bad limit" 2 '' "--limit needs an integer" -- "$SHARR" dump "$A" --limit 0
t "dump missing" 1 '' "no array named" -- "$SHARR" dump "$P.none"
t "fill complex forms" 0 '' '' -- "$SHARR" fill "$A" -1-2i
t "complex dumped" 0 "^-1-2j -1-2j -1-2j$" '' -- "$SHARR" dump "$A" --rows 0
t "fill j form" 0 '' '' -- "$SHARR" fill "$A" 0.5-0.25j
t "j form dumped" 0 "^0\.5-0\.25j" '' -- "$SHARR" dump "$A" --rows 0
t "fill bad value" 2 '' "not a complex number" -- "$SHARR" fill "$A" 1+2
t "fill real with complex" 2 '' "not complex" -- "$SHARR" fill "$P.s" 1+2j
t "fill int with fraction" 2 '' "not an integer" -- "$SHARR" fill "$P.neg" 1.5
t "fill missing array" 1 '' "no array named" -- "$SHARR" fill "$P.none" 1
t "fill random" 0 '' '' -- "$SHARR" fill "$A" random:7
"$SHARR" dump "$A" >"$TMP/r1"
"$SHARR" fill "$A" random:7
"$SHARR" dump "$A" >"$TMP/r2"
ok "random:SEED is reproducible" cmp -s "$TMP/r1" "$TMP/r2"
t "fill missing args" 2 '' "missing" -- "$SHARR" fill "$A"
t "fill u8 ones" 0 '' '' -- "$SHARR" create "$P.u8" --shape 2x2 --dtype u8 --fill ones
t "u8 ones dumped" 0 "^1 1$" '' -- "$SHARR" dump "$P.u8"

# ---- corrupt segments ----
head -c 12288 /dev/urandom >"/dev/shm/sharr.$P.bad"
t "info corrupt" 1 '' "^sharr: info: array '$P.bad': .*magic" -- "$SHARR" info "$P.bad"
t "dump corrupt" 1 '' "magic" -- "$SHARR" dump "$P.bad"
t "ls shows corrupt" 0 "^$P.bad .*corrupt" '' -- "$SHARR" ls
t "rm corrupt" 0 '' '' -- "$SHARR" rm "$P.bad"

# ---- temporary arrays ----
t "temp lives while its shell lives" 0 "^temporary: +yes" '' \
    -- sh -c "'$SHARR' create $P.tmp --shape 8 --temp && '$SHARR' info $P.tmp"
gone=no
for _ in $(seq 50); do [ -e "/dev/shm/sharr.$P.tmp" ] || { gone=yes; break; }; sleep 0.1; done
ok "temp removed when its shell exits" test "$gone" = yes
t "gc dry run" 0 - '' -- "$SHARR" gc --dry-run
t "gc" 0 - '' -- "$SHARR" gc
t "gc of a missing directory" 1 '' "now: No such file or directory" -- "$SHARR" gc now

# ---- a full /dev/shm, as in a container started with a small --shm-size ----
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
    full="mount -t tmpfs -o size=1m tmpfs /dev/shm && '$SHARR' create $P.full --shape 200000; rc=\$?; ls /dev/shm | wc -l; exit \$rc"
    t "full /dev/shm is a clean error with advice" 1 - "needs [0-9]+ bytes .* [0-9]+ bytes .* free.*--shm-size" \
        -- unshare -m sh -c "$full"
    t "full /dev/shm leaves no segment" 1 "^0$" - -- unshare -m sh -c "$full"
else
    echo "cli: skipped the full /dev/shm cases (needs root and unshare)"
fi

# ---- compute: apply, axpy, stat, gemm, fill -j ----
C="$P.c"
t "create for apply" 0 '' '' -- "$SHARR" create "$C" --dtype c128 --shape 3x4 --fill 1+1j
t "apply scale complex" 0 '' '' -- "$SHARR" apply "$C" scale 0.6+0.8i -j 2
t "scaled values" 0 "^-0\.2[0-9]*\+1\.4j" '' -- "$SHARR" dump "$C" --rows 0 --limit 1
t "apply add negative complex" 0 '' '' -- "$SHARR" apply "$C" add -1-2i
t "added values" 0 "^-1\.2[0-9]*-0\.6[0-9]*j" '' -- "$SHARR" dump "$C" --rows 2 --limit 1
t "apply conj" 0 '' '' -- "$SHARR" apply "$C" conj --schedule dynamic,1 -j 2
t "apply abs complex" 0 '' '' -- "$SHARR" apply "$C" abs
t "apply normalize-rows" 0 '' '' -- "$SHARR" apply "$C" normalize-rows
t "normalized row" 0 "^0\.5\+0j 0\.5\+0j 0\.5\+0j 0\.5\+0j$" '' -- "$SHARR" dump "$C" --rows 1
t "create f64 for clip" 0 '' '' -- "$SHARR" create "$P.f" --shape 10 --fill range
t "apply clip negative bounds" 0 '' '' -- "$SHARR" apply "$P.f" clip -0.5 2.5
t "clipped" 0 "^2\.5$" '' -- "$SHARR" dump "$P.f" --rows 9
t "apply scale negative" 0 '' '' -- "$SHARR" apply "$P.f" scale -2
t "scaled negative" 0 "^-5$" '' -- "$SHARR" dump "$P.f" --rows 9
t "apply sqrt of negatives" 1 '' "sqrt of a negative number: element 1 .*unchanged" -- "$SHARR" apply "$P.f" sqrt
t "apply log of negatives" 1 '' "log of a negative" -- "$SHARR" apply "$P.f" log
t "array unchanged after domain error" 0 "^-5$" '' -- "$SHARR" dump "$P.f" --rows 9
t "apply conj on int" 1 '' "conj needs a complex array" -- "$SHARR" apply "$P.neg" conj
t "apply exp on int" 1 '' "needs a float or complex" -- "$SHARR" apply "$P.neg" exp
t "apply clip on complex" 1 '' "not ordered" -- "$SHARR" apply "$C" clip 0 1
t "apply clip lo > hi" 2 '' "LO <= HI" -- "$SHARR" apply "$P.f" clip 3 1
t "apply unknown op" 2 '' "unknown operation 'cube'" -- "$SHARR" apply "$P.f" cube
t "apply missing value" 2 '' "scale takes 1 value, not 0" -- "$SHARR" apply "$P.f" scale
t "apply extra value" 2 '' "abs takes 0 values, not 1" -- "$SHARR" apply "$P.f" abs 3
t "apply bad value" 2 '' "scale: 'x' is not a real number" -- "$SHARR" apply "$P.f" scale x
t "apply complex value on real" 2 '' "not complex" -- "$SHARR" apply "$P.f" scale 1+1j
t "apply int scale on int" 0 '' '' -- "$SHARR" apply "$P.neg" scale -3
t "int scaled" 0 "^15$" '' -- "$SHARR" dump "$P.neg" --rows 0
t "apply fraction on int" 2 '' "not an integer" -- "$SHARR" apply "$P.neg" scale 0.5
t "apply -j 0" 2 '' "-j needs an integer >= 1" -- "$SHARR" apply "$P.f" abs -j 0
t "apply bad schedule" 2 '' "unknown schedule" -- "$SHARR" apply "$P.f" abs --schedule often
t "apply missing array" 1 '' "no array named" -- "$SHARR" apply "$P.none" abs
t "apply missing op" 2 '' "missing NAME or OP" -- "$SHARR" apply "$P.f"
t "create x for axpy" 0 '' '' -- "$SHARR" create "$P.x" --shape 10 --fill range
t "axpy" 0 '' '' -- "$SHARR" axpy -0.5 "$P.x" "$P.f" -j 2
t "axpy result" 0 "^-9\.5$" '' -- "$SHARR" dump "$P.f" --rows 9
t "axpy shape mismatch" 1 '' "different shapes" -- "$SHARR" axpy 1 "$P.x" "$P.s"
t "axpy dtype mismatch" 1 '' "is f64 but" -- "$SHARR" axpy 1 "$P.x" "$C"
t "axpy missing args" 2 '' "missing ALPHA" -- "$SHARR" axpy 1 "$P.x"
t "stat text" 0 "^sum +45$" '' -- "$SHARR" stat "$P.x"
t "stat min max" 0 "^max +9$" '' -- "$SHARR" stat "$P.x" -j 2
t "stat norm2" 0 "^norm2 +16\.88" '' -- "$SHARR" stat "$P.x"
t "stat json" 0 '^\{"count": 10, "sum": 45, "mean": 4\.5, "min": 0, "max": 9' '' -- "$SHARR" stat "$P.x" --json
"$SHARR" stat "$C" --per-row --json >"$TMP/st.json"
ok "stat per-row json is valid, without min and max for complex" $PY -c "import json; d=json.load(open('$TMP/st.json')); assert len(d)==3 and d[1]['row']==1 and 'min' not in d[0] and 'max' not in d[2], d"
t "stat complex has no min" 0 "^mean " '' -- "$SHARR" stat "$C"
"$SHARR" stat "$C" >"$TMP/stc"
ok "stat complex prints no min, max or nan" sh -c "! grep -Eq '^(min|max) |nan' '$TMP/stc'"
t "stat complex per-row header" 0 "^row count sum mean norm2$" '' -- "$SHARR" stat "$C" --per-row
t "stat per-row text" 0 "^2 4 " '' -- "$SHARR" stat "$C" --per-row
"$SHARR" fill "$C" random:4 -j 2
"$SHARR" stat "$C" -j 1 >"$TMP/s1"
"$SHARR" stat "$C" -j 2 >"$TMP/s2"
ok "stat gives the same figures for -j 1 and -j 2" cmp -s "$TMP/s1" "$TMP/s2"
"$SHARR" fill "$C" random:4 -j 1
"$SHARR" dump "$C" >"$TMP/d1"
ok "fill random -j 1 equals -j 2" test "$(md5sum <"$TMP/d1")" = "$("$SHARR" fill "$C" random:4 -j 2 && "$SHARR" dump "$C" | md5sum)"
t "stat missing" 1 '' "no array named" -- "$SHARR" stat "$P.none"
t "gemm A" 0 '' '' -- "$SHARR" create "$P.A" --shape 2x3 --fill ones
t "gemm B" 0 '' '' -- "$SHARR" create "$P.B" --shape 3x2 --fill 2
t "gemm C" 0 '' '' -- "$SHARR" create "$P.Cm" --shape 2x2 --fill 1
t "gemm" 0 '' '' -- "$SHARR" gemm "$P.A" "$P.B" "$P.Cm" --alpha 0.5 --beta -1 -j 2
t "gemm result" 0 "^2 2$" '' -- "$SHARR" dump "$P.Cm" --rows 1
t "gemm shape mismatch" 1 '' "shapes do not match" -- "$SHARR" gemm "$P.A" "$P.A" "$P.Cm"
t "gemm in place" 1 '' "in place" -- "$SHARR" gemm "$P.Cm" "$P.Cm" "$P.Cm"
t "gemm integers" 1 '' "needs f32, f64, c64 or c128" -- "$SHARR" gemm "$P.neg" "$P.neg" "$P.neg"
t "gemm missing" 2 '' "missing A, B or C" -- "$SHARR" gemm "$P.A" "$P.B"
t "fill -j 2" 0 '' '' -- "$SHARR" fill "$P.f" range -j 2
t "fill bad -j" 2 '' "-j needs" -- "$SHARR" fill "$P.f" range -j x
t "rm compute arrays" 0 '' '' -- "$SHARR" rm "$C" "$P.f" "$P.x" "$P.A" "$P.B" "$P.Cm"

# ---- files: load, save, h5ls ----
H="$TMP/f.h5"
t "create for save" 0 '' '' -- "$SHARR" create "$P.h" --dtype c128 --shape 6x4 --fill range
t "save new file" 0 '' '' -- "$SHARR" save "$P.h" "$H:/grp/z"
t "save chunked gzip" 0 '' '' -- "$SHARR" save "$P.h" "$H:/zc" --chunk 2 --gzip 6 --shuffle -j 2
t "save rows" 0 '' '' -- "$SHARR" save "$P.h" "$H:/tail" --rows -2:
t "save existing dataset" 1 '' "already has /grp/z: pass --force" -- "$SHARR" save "$P.h" "$H:/grp/z"
t "save force" 0 '' '' -- "$SHARR" save "$P.h" "$H:/grp/z" --force --complex matlab
t "save bad gzip" 2 '' "level 1..9" -- "$SHARR" save "$P.h" "$H:/x" --gzip 10
t "save bad complex" 2 '' "h5py or matlab" -- "$SHARR" save "$P.h" "$H:/x" --complex octave
t "save zero chunk" 2 '' "dimension 0 is 0" -- "$SHARR" save "$P.h" "$H:/x" --chunk 0
t "save chunk too big" 2 '' "chunk dimension 0 is 7" -- "$SHARR" save "$P.h" "$H:/x" --chunk 7
t "save no dataset" 2 '' "FILE:/path/to/dataset" -- "$SHARR" save "$P.h" "$H"
t "save to group path" 2 '' "does not name a dataset" -- "$SHARR" save "$P.h" "$H:/"
t "save into missing dir" 1 '' "No such file" -- "$SHARR" save "$P.h" "$TMP/no/dir/f.h5:/x"
t "save missing array" 1 '' "no array named" -- "$SHARR" save "$P.none" "$H:/x"
t "save missing args" 2 '' "missing NAME" -- "$SHARR" save "$P.h"
t "save npy" 0 '' '' -- "$SHARR" save "$P.h" "$TMP/z.npy"
t "save npy exists" 1 '' "exists: pass --force" -- "$SHARR" save "$P.h" "$TMP/z.npy"
t "save npy with gzip" 2 '' "HDF5 only" -- "$SHARR" save "$P.h" "$TMP/y.npy" --gzip 1
t "h5ls" 0 "^/zc  compound  compound\{r:f64le,i:f64le\}  c128  6x4  chunked\(2x4\)  shuffle,deflate\[6\]" '' -- "$SHARR" h5ls "$H"
t "h5ls matlab" 0 "^/grp/z  compound  compound\{real:f64le,imag:f64le\}  c128" '' -- "$SHARR" h5ls "$H"
"$SHARR" h5ls "$H" --json >"$TMP/ls5.json"
ok "h5ls json is valid" $PY -c "import json; d=json.load(open('$TMP/ls5.json')); assert {e['path'] for e in d} == {'/grp/z','/zc','/tail'}, d"
t "h5ls missing file" 1 '' "No such file" -- "$SHARR" h5ls "$TMP/none.h5"
t "h5ls not hdf5" 1 '' "z.npy is not an HDF5 file" -- "$SHARR" h5ls "$TMP/z.npy"
t "h5ls no file" 2 '' "missing FILE" -- "$SHARR" h5ls
t "load default name" 0 "^zc$" '' -- "$SHARR" load "$H:/zc" -j 2
t "loaded values" 0 "^4\+0j 5\+0j 6\+0j 7\+0j$" '' -- "$SHARR" dump zc --rows 1
t "rm zc" 0 '' '' -- "$SHARR" rm zc
t "load named" 0 "^$P.l$" '' -- "$SHARR" load "$H:/grp/z" "$P.l"
t "load matlab values" 0 "^20\+0j 21\+0j 22\+0j 23\+0j$" '' -- "$SHARR" dump "$P.l" --rows -1
t "load into" 0 "^$P.l$" '' -- "$SHARR" load "$H:/zc" --into "$P.l"
t "load into wrong shape" 1 '' "has the shape 6x4; the rows loaded have the shape 2x4" -- "$SHARR" load "$H:/tail" --into "$P.l"
t "load rows" 0 "^$P.r$" '' -- "$SHARR" load "$H:/zc" "$P.r" --rows 2:4
t "loaded rows" 0 "^12\+0j" '' -- "$SHARR" dump "$P.r" --rows 1
t "load existing name" 1 '' "already exists" -- "$SHARR" load "$H:/zc" "$P.r"
t "load negative rows" 2 '' "no negative rows" -- "$SHARR" load "$H:/zc" "$P.x" --rows -2:
t "load empty rows" 2 '' "is empty" -- "$SHARR" load "$H:/zc" "$P.x" --rows 3:3
t "load rows past the end" 1 '' "not a non-empty range of the 6 rows" -- "$SHARR" load "$H:/zc" "$P.x" --rows 4:9
t "load missing dataset" 1 '' "/nope: no such dataset" -- "$SHARR" load "$H:/nope" "$P.x"
t "load group" 1 '' "/grp is a group, not a dataset" -- "$SHARR" load "$H:/grp" "$P.x"
t "load missing dataset: near names" 1 '' "/zd: no such dataset; did you mean /zc\? \('sharr h5ls .*f.h5' lists them\)" -- "$SHARR" load "$H:/zd" "$P.x"
t "load missing dataset: the same name elsewhere" 1 '' "did you mean /grp/z\?" -- "$SHARR" load "$H:/other/z" "$P.x"
t "load a directory" 1 '' "$TMP is a directory, not an HDF5 file" -- "$SHARR" load "$TMP:/x" "$P.x"
mkfifo "$TMP/fifo.h5"
t "load a FIFO does not block" 1 '' "fifo.h5 is not a regular file" -- timeout 10 "$SHARR" load "$TMP/fifo.h5:/x" "$P.x"
t "h5ls a FIFO does not block" 1 '' "fifo.h5 is not a regular file" -- timeout 10 "$SHARR" h5ls "$TMP/fifo.h5"
rm -f "$TMP/fifo.h5"
mkfifo "$TMP/fifo.npy"
t "load a .npy FIFO does not block" 1 '' "fifo.npy is not a regular file" -- timeout 10 "$SHARR" load "$TMP/fifo.npy" "$P.x"
rm -f "$TMP/fifo.npy"
t "load FILE:name without a slash" 0 "^$P.ns$" '' -- "$SHARR" load "$H:zc" "$P.ns"
t "load FILE:name default name" 0 "^z$" '' -- "$SHARR" load "$H:grp/z"
t "rm z" 0 '' '' -- "$SHARR" rm z "$P.ns"
t "create a stack" 0 '' '' -- "$SHARR" create "$P.st" --dtype c128 --shape 9x4
t "load --at" 0 "^$P.st$" '' -- "$SHARR" load "$H:/tail" --into "$P.st" --at 7
t "load --at rows" 0 "^20\+0j 21\+0j 22\+0j 23\+0j$" '' -- "$SHARR" dump "$P.st" --rows 8
t "load --at chunked" 0 "^$P.st$" '' -- "$SHARR" load "$H:/zc" --into "$P.st" --at 1 -j 2
t "load --at chunked rows" 0 "^20\+0j 21\+0j 22\+0j 23\+0j$" '' -- "$SHARR" dump "$P.st" --rows 6
t "load --at row 0 untouched" 0 "^0j 0j 0j 0j$|^0\+0j 0\+0j 0\+0j 0\+0j$" '' -- "$SHARR" dump "$P.st" --rows 0
t "load --at past the end" 1 '' "has 9 rows: the 6 rows loaded do not fit at row 4" -- "$SHARR" load "$H:/zc" --into "$P.st" --at 4
t "load --at without --into" 2 '' "--at needs --into" -- "$SHARR" load "$H:/zc" "$P.x" --at 4
t "rm the stack" 0 '' '' -- "$SHARR" rm "$P.st"
t "save --attr" 0 '' '' -- "$SHARR" save "$P.h" "$H:/attrs" --attr units=counts --attr exposure=0.25 --attr n=-7 --attr 'note=a "q"'
ok "save --attr: h5py reads i64, f64 and str" $PY -c "
import h5py, numpy as np
a = h5py.File('$H', 'r')['attrs'].attrs
assert a['units'] == 'counts' and a['note'] == 'a \"q\"', dict(a)
assert a['n'] == -7 and a['n'].dtype == np.int64, a['n']
assert a['exposure'] == 0.25 and a['exposure'].dtype == np.float64
"
t "h5ls --attrs" 0 '^  @exposure = 0.25$' '' -- "$SHARR" h5ls "$H" --attrs
t "h5ls --attrs strings" 0 '^  @units = "counts"$' '' -- "$SHARR" h5ls "$H" --attrs
t "h5ls --attrs json" 0 '"attrs": "exposure = 0.25' '' -- "$SHARR" h5ls "$H" --attrs --json
ok "h5ls without --attrs shows none" sh -c "! '$SHARR' h5ls '$H' | grep -q '@units'"
t "save --attr without =" 2 '' "--attr n: write KEY=VALUE" -- "$SHARR" save "$P.h" "$H:/a2" --attr n
t "save --attr twice" 2 '' "attribute k is given twice" -- "$SHARR" save "$P.h" "$H:/a2" --attr k=1 --attr k=2
t "save --attr to npy" 2 '' "HDF5 only" -- "$SHARR" save "$P.h" "$TMP/a.npy" --attr k=1
t "save under a dataset" 1 '' "cannot create /zc/x: /zc is a dataset, not a group" -- "$SHARR" save "$P.h" "$H:/zc/x"
t "save into a file that is not HDF5" 1 '' "z.npy is not an HDF5 file" -- "$SHARR" save "$P.h" "$TMP/z.npy:/x"
t "load missing file" 1 '' "No such file" -- "$SHARR" load "$TMP/none.h5:/x" "$P.x"
t "load not hdf5" 1 '' "z.npy is not an HDF5 file" -- "$SHARR" load "$TMP/z.npy:/x" "$P.x"
t "load bad source" 2 '' "FILE:/path/to/dataset or FILE.npy" -- "$SHARR" load "$H"
t "load bad name" 2 '' "starts with" -- "$SHARR" load "$H:/zc" .bad
t "load name and into" 2 '' "either NAME or --into" -- "$SHARR" load "$H:/zc" "$P.x" --into "$P.l"
t "load npy" 0 "^$P.n$" '' -- "$SHARR" load "$TMP/z.npy" "$P.n"
t "npy values" 0 "^20\+0j" '' -- "$SHARR" dump "$P.n" --rows 5 --limit 1
$PY -c "
import h5py, numpy as np
with h5py.File('$TMP/odd.h5', 'w') as f:
    f['null'] = h5py.Empty('f8')
    f.create_dataset('zero', shape=(0, 3), dtype='i4')
    f['text'] = 'hello'
    f['ld'] = np.zeros(3, np.longdouble)
"
t "load null dataspace" 0 "^$P.emp$" '' -- "$SHARR" load "$TMP/odd.h5:/null" "$P.emp"
t "null dataspace is shape 0" 0 "^shape: +0$" '' -- "$SHARR" info "$P.emp"
t "load zero-size" 0 "^$P.emp0$" '' -- "$SHARR" load "$TMP/odd.h5:/zero" "$P.emp0"
t "zero-size keeps its shape" 0 "^shape: +0x3$" '' -- "$SHARR" info "$P.emp0"
t "load string" 1 '' "/text: cannot load string data" -- "$SHARR" load "$TMP/odd.h5:/text" "$P.e"
t "load long double" 1 '' "/ld: cannot load float data \(f128le" -- "$SHARR" load "$TMP/odd.h5:/ld" "$P.e"
t "h5ls says why" 0 "^/text  string .*  no  scalar .*# cannot load string" '' -- "$SHARR" h5ls "$TMP/odd.h5"
t "load temp" 0 '' '' -- sh -c "'$SHARR' load '$H:/zc' $P.t --temp >/dev/null && test -e /dev/shm/sharr.$P.t"
gone=no
for _ in $(seq 50); do [ -e "/dev/shm/sharr.$P.t" ] || { gone=yes; break; }; sleep 0.1; done
ok "load --temp array removed with its shell" test "$gone" = yes
ok "no temporary file next to the target" test -z "$(ls -A "$TMP" | grep '\.sharr-')"
t "rm file arrays" 0 '' '' -- "$SHARR" rm "$P.h" "$P.l" "$P.r" "$P.n"

# ---- rm ----
t "rm several with one missing" 1 '' "no array named '$P.none'" \
    -- "$SHARR" rm "$P.m" "$P.none" "$P.m2"
ok "rm removed the others" test ! -e "/dev/shm/sharr.$P.m" -a ! -e "/dev/shm/sharr.$P.m2"
t "rm bad name" 2 '' "starts with" -- "$SHARR" rm .x
t "rm no name" 2 '' "missing NAME" -- "$SHARR" rm
t "rm rest" 0 '' '' -- "$SHARR" rm "$A" "$P.neg" "$P.s" "$P.s2" "$P.np" "$P.u8"

# More cases, one file per concern (tests/cli/cases_*.sh), sourced here so
# that they share t(), ok(), $P and $TMP.
for cases in "$(dirname "$0")"/cases_*.sh; do
    [ -e "$cases" ] || continue
    . "$cases"
done

echo "cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
