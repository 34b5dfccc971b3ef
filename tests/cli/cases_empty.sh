# CLI cases of empty arrays, reshape and stat --per-row --into (sourced by
# tests/cli/run.sh: t, ok, $SHARR, $P, $TMP, $PY).  Names are $P.E*.

E="$P.E0" E1="$P.E1"
# ---- empty arrays through every store and compute command ----
t "create 0x4" 0 '' '' -- "$SHARR" create "$E" --shape 0x4 --dtype i16
t "create 3x0" 0 '' '' -- "$SHARR" create "$E1" --shape 3x0 --fill random
t "create 4x bad" 2 '' "malformed" -- "$SHARR" create "$P.Ex" --shape 4x
t "create x0 bad" 2 '' "malformed" -- "$SHARR" create "$P.Ex" --shape x0
t "create -0 bad" 2 '' "not a dimension" -- "$SHARR" create "$P.Ex" --shape 3x-0
ok "nothing made by bad shapes" test ! -e "/dev/shm/sharr.$P.Ex"
t "info empty" 0 "^shape: +0x4$" '' -- "$SHARR" info "$E"
t "info empty bytes" 0 "^bytes: +0$" '' -- "$SHARR" info "$E"
t "ls empty" 0 "^$E +i16 +0x4 +0 B " '' -- "$SHARR" ls "$E"
t "ls --json empty" 0 '"shape": \[0, 4\]' '' -- "$SHARR" ls "$E" --json
t "dump 0 rows" 0 '' '' -- "$SHARR" dump "$E"
t "dump rows of nothing" 0 '^$' '' -- "$SHARR" dump "$E1"
ok "dump prints one line per empty row" test "$("$SHARR" dump "$E1" | wc -l)" = 3
t "dump --rows of no rows" 2 '' "0 rows" -- "$SHARR" dump "$E" --rows 0
t "fill empty" 0 '' '' -- "$SHARR" fill "$E" range -j 2
t "apply empty" 0 '' '' -- "$SHARR" apply "$E1" sqrt -j 2
t "apply empty clip" 0 '' '' -- "$SHARR" apply "$E" clip -1 1
t "stat empty count" 0 "^count +0$" '' -- "$SHARR" stat "$E"
t "stat empty sum" 0 "^sum +0$" '' -- "$SHARR" stat "$E" -j 2
t "stat empty mean" 0 "^mean +nan$" '' -- "$SHARR" stat "$E"
t "stat empty min" 0 "^min +nan$" '' -- "$SHARR" stat "$E"
t "stat empty json" 0 '^\{"count": 0, "sum": 0, "mean": null, "min": null, "max": null, "norm2": 0\}$' '' \
    -- "$SHARR" stat "$E" --json
t "stat per-row of 0 rows" 0 "^row count sum mean min max norm2$" '' -- "$SHARR" stat "$E" --per-row
t "stat per-row of empty rows" 0 "^2 0 0 nan nan nan 0$" '' -- "$SHARR" stat "$E1" --per-row -j 2
t "numpy attaches to an empty array" 0 "^\(3, 0\) float64$" '' -- $PY -c "
import numpy as np
a = np.load('/dev/shm/sharr.$E1', mmap_mode='r+')
print(a.shape, a.dtype)"
t "save empty h5" 0 '' '' -- "$SHARR" save "$E" "$TMP/empty.h5:/e" --gzip 5 --chunk 1
t "save empty npy" 0 '' '' -- "$SHARR" save "$E1" "$TMP/empty.npy"
t "h5py reads the empty shape" 0 "^\(0, 4\) int16$" '' -- $PY -c "
import h5py
with h5py.File('$TMP/empty.h5') as f: print(f['e'].shape, f['e'].dtype)"
t "load empty h5 back" 0 "^$P.E2$" '' -- "$SHARR" load "$TMP/empty.h5:/e" "$P.E2" -j 2
t "loaded empty shape" 0 "^shape: +0x4$" '' -- "$SHARR" info "$P.E2"
t "load empty npy back" 0 "^$P.E3$" '' -- "$SHARR" load "$TMP/empty.npy" "$P.E3"
t "loaded npy shape" 0 "^shape: +3x0$" '' -- "$SHARR" info "$P.E3"
t "save rows of an empty array" 2 '' "within the 0 rows" -- "$SHARR" save "$E" "$TMP/r.npy" --rows 0:1

# ---- reshape ----
R="$P.ER"
"$SHARR" create "$R" --shape 4x6 --dtype i32 --fill range
t "reshape" 0 '' '' -- "$SHARR" reshape "$R" 2x3x4
t "reshape shows in info" 0 "^shape: +2x3x4$" '' -- "$SHARR" info "$R"
t "reshape keeps the bytes" 0 "^12 13 14 15 \.\.\.$" '' -- "$SHARR" dump "$R" --rows 1 --limit 4
t "numpy.load sees the new shape" 0 "^\(2, 3, 4\) 23$" '' -- $PY -c "
import numpy as np
a = np.load('/dev/shm/sharr.$R', mmap_mode='r')
print(a.shape, a[1, 2, 3])"
t "reshape to another count" 1 '' "cannot reshape array '$R' of 24 elements \(shape 2x3x4\) into shape 5x5 \(25 elements\)" \
    -- "$SHARR" reshape "$R" 5x5
t "reshape bad shape" 2 '' "malformed" -- "$SHARR" reshape "$R" 4x
t "reshape missing shape" 2 '' "missing NAME or SHAPE" -- "$SHARR" reshape "$R"
t "reshape missing array" 1 '' "no array named '$P.none'" -- "$SHARR" reshape "$P.none" 4
t "reshape to a scalar needs one element" 1 '' "into shape \(\)" -- "$SHARR" reshape "$R" ''
t "reshape empty to empty" 0 '' '' -- "$SHARR" reshape "$E" 2x0x5
t "reshape empty shows" 0 "^shape: +2x0x5$" '' -- "$SHARR" info "$E"
# A handle held open by another process: refused, then forced.
$PY -c "
import ctypes, sys, time
lib = ctypes.CDLL('$(cd "$(dirname "$0")/../.." && pwd)/lib/libsharr.so.0')
h = ctypes.c_void_p()
assert lib.sharr_array_open(b'$R', 0, ctypes.byref(h)) == 0
open('$TMP/held', 'w').close()
time.sleep(30)" &
holder=$!
for _ in $(seq 100); do [ -e "$TMP/held" ] && break; sleep 0.05; done
t "reshape refused while another handle is open" 1 '' "1 other open handle" -- "$SHARR" reshape "$R" 24
t "info shows the attach count" 0 "^attached: +1 " '' -- "$SHARR" info "$R"
t "reshape --force" 0 '' '' -- "$SHARR" reshape "$R" 24 --force
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
t "forced reshape shows" 0 "^shape: +24$" '' -- "$SHARR" info "$R"

# ---- stat --per-row --into ----
X="$P.EX"
"$SHARR" create "$X" --shape 9x5x7 --dtype f32 --fill random:4
t "stat --into" 0 '' '' -- "$SHARR" stat "$X" --per-row --into "sum=$P.Es1,mean=$P.Em1,count=$P.Ec1,min=$P.El1,max=$P.Eh1,norm2=$P.En1" -j 1
t "stat --into -j 2" 0 '' '' -- "$SHARR" stat "$X" --per-row --into "sum=$P.Es2,norm2=$P.En2" -j 2 --schedule dynamic,2
ok "sums equal for -j 1 and -j 2" cmp -s <("$SHARR" dump "$P.Es1") <("$SHARR" dump "$P.Es2")
ok "norms equal for -j 1 and -j 2" cmp -s <("$SHARR" dump "$P.En1") <("$SHARR" dump "$P.En2")
ok "sums equal the printed per-row sums" cmp -s <("$SHARR" dump "$P.Es1") \
    <("$SHARR" stat "$X" --per-row | awk 'NR > 1 {print $3}')
t "into dtypes" 0 "^$P.Ec1 +u64 +9 " '' -- "$SHARR" ls "$P.Ec1"
t "into count" 0 "^35$" '' -- "$SHARR" dump "$P.Ec1" --rows 0
t "into existing is overwritten" 0 '' '' -- "$SHARR" stat "$X" --per-row --into "mean=$P.Es2"
ok "overwritten with the means" cmp -s <("$SHARR" dump "$P.Em1") <("$SHARR" dump "$P.Es2")
t "into wrong dtype" 1 '' "array '$P.Ec1' for the sum per row is u64; it must be f64" \
    -- "$SHARR" stat "$X" --per-row --into "sum=$P.Ec1"
"$SHARR" create "$P.Ew" --shape 4
t "into wrong length" 1 '' "must have shape \(9,\)" -- "$SHARR" stat "$X" --per-row --into "sum=$P.Ew"
t "into without --per-row" 2 '' "--into needs --per-row" -- "$SHARR" stat "$X" --into "sum=$P.Eq"
t "into with --json" 2 '' "nothing to print" -- "$SHARR" stat "$X" --per-row --json --into "sum=$P.Eq"
t "into unknown figure" 2 '' "unknown figure 'median'" -- "$SHARR" stat "$X" --per-row --into "median=$P.Eq"
t "into twice" 2 '' "given for both" -- "$SHARR" stat "$X" --per-row --into "sum=$P.Eq,mean=$P.Eq"
t "into malformed" 2 '' "write FIG=OUT" -- "$SHARR" stat "$X" --per-row --into "$P.Eq"
"$SHARR" create "$P.Ez" --shape 3 --dtype c64
t "into complex max" 1 '' "no max per row \(complex numbers are not ordered\)" \
    -- "$SHARR" stat "$P.Ez" --per-row --into "sum=$P.Ezs,max=$P.Ezm"
ok "a failed --into leaves no new array" test ! -e "/dev/shm/sharr.$P.Ezs" -a ! -e "/dev/shm/sharr.$P.Eq"
t "into complex sum is c128" 0 '' '' -- "$SHARR" stat "$P.Ez" --per-row --into "sum=$P.Ezs"
t "into complex dtype" 0 "^$P.Ezs +c128 +3 " '' -- "$SHARR" ls "$P.Ezs"
t "into of empty rows" 0 '' '' -- "$SHARR" stat "$E1" --per-row --into "mean=$P.Ee"
t "mean of empty rows is nan" 0 "^nan$" '' -- "$SHARR" dump "$P.Ee" --rows 1
