#!/bin/sh
# The main job: HDF5 in, parallel in-place computation on shared arrays,
# HDF5 out, verified.  Usage: tools/demo.sh /path/to/sharr [OUTDIR]
#
# 1. load /signal (complex128, chunked + gzip) and /matrix (float64) from
#    data/sample.h5 into shared arrays, every worker decompressing its rows;
# 2. rotate the signal's phase by 0.6+0.8i and normalize each row (pool);
# 3. square the matrix with OpenBLAS gemm split over the workers;
# 4. save both into OUTDIR/results.h5 (the signal chunked + shuffle + gzip,
#    compressed in parallel) and verify it: h5dump -H, then load it back
#    and compare statistics;
# 5. remove every array; nothing may be left in /dev/shm.
set -eu
SHARR=${1:-tools/sharr}
OUT=${2:-build/demo}
IN=data/sample.h5
P="demo.$$"
J=2
mkdir -p "$OUT"
rm -f "$OUT/results.h5"

cleanup() { "$SHARR" rm "$P.signal" "$P.matrix" "$P.square" "$P.check" \
                "$P.check2" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

now() { date +%s.%N; }
ms_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }
T0=$(now)
# step TEXT CMD...: run CMD, print its output indented and how long it took.
step() {
    text=$1
    shift
    t=$(now)
    out=$("$@")
    printf '%-58s %7.1f ms\n' "$text" "$(ms_since "$t")"
    [ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/      /'
}

echo "sharr demo: $IN -> $OUT/results.h5 with $J workers"
echo
step "datasets in $IN" "$SHARR" h5ls "$IN"
step "load /signal (16x4096 c128, 8 gzip chunks) in parallel" \
    "$SHARR" load "$IN:/signal" "$P.signal" -j $J --temp
step "load /matrix (64x64 f64)" "$SHARR" load "$IN:/matrix" "$P.matrix" --temp
step "signal statistics before" "$SHARR" stat "$P.signal" -j $J
step "rotate the signal's phase: scale 0.6+0.8i" \
    "$SHARR" apply "$P.signal" scale 0.6+0.8i -j $J
step "normalize every row of the signal to unit norm" \
    "$SHARR" apply "$P.signal" normalize-rows -j $J
step "row norms after (all 1)" sh -c \
    "'$SHARR' stat '$P.signal' --per-row --json -j $J | /usr/bin/python3 -c \
    'import json,sys; print(\" \".join(\"%.15g\" % r[\"norm2\"] for r in json.load(sys.stdin)))'"
step "create the 64x64 result array" \
    "$SHARR" create "$P.square" --dtype f64 --shape 64x64 --temp
step "gemm: square = matrix @ matrix (OpenBLAS in each worker)" \
    "$SHARR" gemm "$P.matrix" "$P.matrix" "$P.square" -j $J
step "save the signal: chunks of 2 rows, shuffle + gzip 4" \
    "$SHARR" save "$P.signal" "$OUT/results.h5:/signal_normalized" \
    --chunk 2 --shuffle --gzip 4 -j $J
step "save the product" "$SHARR" save "$P.square" "$OUT/results.h5:/matrix_squared"
step "verify the file's structure with h5dump -H" sh -c \
    "h5dump -H '$OUT/results.h5' | grep -E 'DATASET|SIMPLE|H5T_IEEE|\"[ri]\"'"
step "verify: load both back" sh -c \
    "'$SHARR' load '$OUT/results.h5:/signal_normalized' '$P.check' -j $J && \
     '$SHARR' load '$OUT/results.h5:/matrix_squared' '$P.check2'"
"$SHARR" stat "$P.signal" >"$OUT/stat.before"
"$SHARR" stat "$P.check" >"$OUT/stat.after"
"$SHARR" stat "$P.square" >>"$OUT/stat.before"
"$SHARR" stat "$P.check2" >>"$OUT/stat.after"
if cmp -s "$OUT/stat.before" "$OUT/stat.after"; then
    echo "      the reloaded arrays have the same sum, mean, min, max and norm"
else
    echo "demo: the saved file does not match the arrays" >&2
    exit 1
fi
step "remove the arrays" "$SHARR" rm "$P.signal" "$P.matrix" "$P.square" \
    "$P.check" "$P.check2"
trap - EXIT INT TERM
left=$(ls /dev/shm | grep -c "^sharr\.$P\." || true)
if [ "$left" -ne 0 ]; then
    echo "demo: $left arrays left in /dev/shm" >&2
    exit 1
fi
echo
printf 'demo: done in %s ms; %s written (%s bytes); nothing left in /dev/shm\n' \
    "$(ms_since "$T0")" "$OUT/results.h5" \
    "$(stat -c %s "$OUT/results.h5")"
