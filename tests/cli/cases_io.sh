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

# ---- external raw data and virtual sources stay in the file's directory --
mkdir -p "$TMP/ext/in"
$PY -c "
import h5py, numpy as np, os
d = '$TMP/ext'
open(d + '/secret.bin', 'wb').write(b'outside!')
open(d + '/in/data.bin', 'wb').write(b'inside!!')
with h5py.File(d + '/src.h5', 'w') as f:
    f['x'] = np.arange(8, dtype='u1')
with h5py.File(d + '/in/f.h5', 'w') as f:
    f.create_dataset('passwd', shape=(8,), dtype='u1',
                     external=[('/etc/passwd', 0, 8)])
    f.create_dataset('up', shape=(8,), dtype='u1',
                     external=[('../secret.bin', 0, 8)])
    f.create_dataset('ok', shape=(8,), dtype='u1',
                     external=[('data.bin', 0, 8)])
    for name, src in [('vabs', d + '/src.h5'), ('vup', '../src.h5')]:
        lay = h5py.VirtualLayout(shape=(8,), dtype='u1')
        lay[:] = h5py.VirtualSource(src, 'x', shape=(8,))
        f.create_virtual_dataset(name, lay, fillvalue=0)
"
E="$TMP/ext/in/f.h5"
t "external /etc/passwd refused" 1 '' \
    "/passwd: external raw-data file /etc/passwd is outside .*/in \(the directory of the file\): pass --allow-external" \
    -- "$SHARR" load "$E:/passwd" "$P.x"
t "external ../ refused" 1 '' "external raw-data file .*\.\./secret\.bin .*is outside" \
    -- "$SHARR" load "$E:/up" "$P.x" -j 2
t "virtual source by absolute path refused" 1 '' \
    "/vabs: virtual-dataset source .*/ext/src\.h5 is outside" \
    -- "$SHARR" load "$E:/vabs" "$P.x"
t "virtual source ../ refused" 1 '' "virtual-dataset source .*is outside" \
    -- "$SHARR" load "$E:/vup" "$P.x"
ok "nothing loaded from outside" test ! -e "/dev/shm/sharr.$P.x"
t "external inside loads" 0 "^$P.x$" '' -- "$SHARR" load "$E:/ok" "$P.x"
ok "external inside values" $PY -c "import numpy as np; assert np.load('/dev/shm/sharr.$P.x').tobytes() == b'inside!!'"
t "--allow-external reads outside" 0 "^$P.y$" '' \
    -- "$SHARR" load "$E:/up" "$P.y" --allow-external
ok "--allow-external values" $PY -c "import numpy as np; assert np.load('/dev/shm/sharr.$P.y').tobytes() == b'outside!'"
t "--allow-external virtual" 0 "^$P.z$" '' \
    -- "$SHARR" load "$E:/vabs" "$P.z" --allow-external -j 2
t "load --help documents --allow-external" 0 "--allow-external" '' \
    -- "$SHARR" load --help
t "h5ls marks outside data" 0 "^/passwd .*  no  .*is outside" '' \
    -- "$SHARR" h5ls "$E"
t "rm external arrays" 0 '' '' -- "$SHARR" rm "$P.x" "$P.y" "$P.z"

# ---- h5ls of a file with more datasets than one job's result holds ----
$PY -c "
import h5py
with h5py.File('$TMP/many.h5', 'w', libver='latest') as f:
    for i in range(20000):
        f.create_dataset('d%05d' % i, shape=(2,), dtype='i4')
"
"$SHARR" h5ls "$TMP/many.h5" --json >"$TMP/many.json" 2>"$TMP/many.err"
ok "h5ls lists 20000 datasets, each once, in order" $PY -c "
import json
d = json.load(open('$TMP/many.json'))
paths = [e['path'] for e in d]
assert paths == ['/d%05d' % i for i in range(20000)], (len(paths), paths[:3])
assert all(e['loads_as'] == 'i32' for e in d)
"
t "h5ls 20000 datasets -j 1" 0 "^/d19999  integer  i32le  i32  2  " '' \
    -- "$SHARR" h5ls "$TMP/many.h5" -j 1
