# CLI cases for hostile input files and interrupted in-place work (issue
# 7), sourced by tests/cli/run.sh: uses t(), ok(), $SHARR, $P, $TMP, $PY.

# ---- crafted shapes: a clear error, exit 1, never a crash ----
$PY -c "
import h5py
with h5py.File('$TMP/crafted.h5', 'w') as f:
    f.create_dataset('wrap', shape=(1, 2**32, 2**32), chunks=(1, 1, 1),
                     dtype='u1')
    f.create_dataset('bytes', shape=(2**62,), chunks=(1,), dtype='f8')
    f.create_dataset('rank', shape=(4,) * 32, chunks=(1,) * 32, dtype='u1')
"
ok "crafted file is small" test "$(stat -c %s "$TMP/crafted.h5")" -lt 8192
for j in 1 2; do
    t "load 1x2^32x2^32 chunked 1x1x1 -j $j" 1 '' \
        "/wrap: the dataset's shape 1x4294967296x4294967296 of 1-byte elements overflows a 64-bit size" \
        -- "$SHARR" load "$TMP/crafted.h5:/wrap" "$P.cr" -j $j
    t "load 2^62 f8 -j $j" 1 '' "/bytes: .*overflows a 64-bit size" \
        -- "$SHARR" load "$TMP/crafted.h5:/bytes" "$P.cr" -j $j
done
t "load rank 32" 1 '' "/rank: the dataset has 32 dimensions" \
    -- "$SHARR" load "$TMP/crafted.h5:/rank" "$P.cr"
t "h5ls crafted says why" 0 "^/wrap .*  no  .*# the dataset's shape .* overflows" \
    '' -- "$SHARR" h5ls "$TMP/crafted.h5"
ok "no array from crafted shapes" test ! -e "/dev/shm/sharr.$P.cr"
