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
    f['lup'] = h5py.ExternalLink('../src.h5', '/x')
    f['lok'] = h5py.ExternalLink('f.h5', '/ok')
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
t "external link ../ refused" 1 '' \
    "/lup: external link target .*\.\./src\.h5 .*is outside" \
    -- "$SHARR" load "$E:/lup" "$P.x"
ok "nothing loaded from outside" test ! -e "/dev/shm/sharr.$P.x"
t "external link inside loads" 0 "^$P.w$" '' -- "$SHARR" load "$E:/lok" "$P.w"
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
t "rm external arrays" 0 '' '' -- "$SHARR" rm "$P.x" "$P.y" "$P.z" "$P.w"

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

# ---- a missing dataset: three near names, none of them empty ----
$PY -c "
import h5py
with h5py.File('$TMP/near.h5', 'w') as f:
    for n in ('x1', 'x2', 'x3', 'x4'):
        f[n] = [1.0]
"
t "a missing dataset suggests the three nearest names" 1 '' \
    "/x5: no such dataset; did you mean /x1, /x2 or /x3\? " \
    -- "$SHARR" load "$TMP/near.h5:/x5" "$P.near"

# ---- names and attributes that are not plain text ----
# A newline or a control byte in a name, bytes that are not UTF-8 in an
# attribute: the text listing keeps one dataset per line, and the JSON
# stays JSON (such bytes as \udcXX, Python's surrogateescape).
$PY -c "
import h5py, numpy as np
with h5py.File('$TMP/names.h5', 'w') as f:
    for n in ('new\nline', 'ctrl\x01', 'back\x5cslash', 'uni \u00e9'):
        f[n] = np.arange(2.0)
    f['uni \u00e9'].attrs['b'] = np.void(b'\xff\xfe')
    f['new\nline'].attrs['raw'] = b'\xff\xfeok'
    f['ctrl\x01'].attrs['two\nlines'] = 1
"
t "h5ls keeps a name with a newline on its line" 0 '^/new\\x0aline  float  ' '' \
    -- "$SHARR" h5ls "$TMP/names.h5"
t "h5ls escapes control bytes and backslashes in names" 0 '^/back\\x5cslash  float  ' '' \
    -- "$SHARR" h5ls "$TMP/names.h5"
ok "h5ls prints one line per dataset" test "$("$SHARR" h5ls "$TMP/names.h5" | wc -l)" = 4
t "h5ls --attrs keeps an attribute name with a newline on its line" 0 '^  @two\\x0alines = 1$' '' \
    -- "$SHARR" h5ls "$TMP/names.h5" --attrs
t "load --rows '' is no row" 2 '' "--rows '' is no row" \
    -- "$SHARR" load "$TMP/names.h5:/ctrl\x01" "$P.nr" --rows ''
t "SHARR_SCHEDULE=bogus is an error for h5ls too" 2 '' "SHARR_SCHEDULE: unknown schedule 'bogus'" \
    -- env SHARR_SCHEDULE=bogus "$SHARR" h5ls "$TMP/names.h5"
"$SHARR" h5ls "$TMP/names.h5" --json --attrs >"$TMP/names.json"
ok "h5ls --json --attrs is strict UTF-8 JSON with the names intact" $PY -c "
import json
d = json.loads(open('$TMP/names.json', 'rb').read().decode('utf-8'))
paths = sorted(e['path'] for e in d)
assert paths == sorted(['/new\nline', '/ctrl\x01', '/back\x5cslash', '/uni \u00e9']), paths
raw = [e['attrs'] for e in d if e['path'] == '/new\nline'][0]
assert '\udcff\udcfeok' in raw, repr(raw)
"

# ---- an in-place apply or fill interrupted says so ----
# interrupt.py SHARR NAME apply|fill INT|TERM|HUP: start the work on a 4-filled
# array, send the signal as soon as some element changed, and check that
# sharr died of it (status 128 + N in the shell) saying the array was
# partly modified, and that the next command that takes the array's lock
# hears that its holder died (the data may be half-written).  If the work
# finished first it retries with a bigger array or fewer workers: it never
# passes without an interruption.
cat >"$TMP/interrupt.py" <<'PYEOF'
import os, re, signal, subprocess, sys, time
import numpy as np

sharr, name, cmd, signame = sys.argv[1:5]
sig = getattr(signal, "SIG" + signame)

def attempt(rows, jobs):
    subprocess.run([sharr, "create", name, "--shape", "%dx4096" % rows,
                    "--fill", "4"], check=True)
    try:
        seg = np.load("/dev/shm/sharr." + name, mmap_mode="r").reshape(-1)
        sample = seg[::4099]
        args = [sharr, cmd, name, "sqrt" if cmd == "apply" else "ones",
                "-j", str(jobs)]
        # A signal ignored by whoever started us must not stay ignored.
        p = subprocess.Popen(args, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(
                                 signal.SIGINT, signal.SIG_DFL))
        t0 = time.time()
        while p.poll() is None and not (sample != 4).any():
            if time.time() - t0 > 20:
                break
        p.send_signal(sig)
        err = p.communicate()[1]
        # The writer died holding the array's lock: the next holder hears.
        note = subprocess.run([sharr, "stat", name], capture_output=True,
                              text=True).stderr
        return p.returncode, err, int((seg != 4).sum()), seg.size, note
    finally:
        subprocess.run([sharr, "rm", name])

for rows, jobs in [(2048, 2), (8192, 2), (8192, 1), (32768, 1)]:
    rc, err, changed, total, note = attempt(rows, jobs)
    if rc == 0 and changed == total:
        print("  (%s finished before the signal at %dx4096 -j %d; again)"
              % (cmd, rows, jobs))
        continue
    want = ("^sharr: %s: interrupted by SIG%s: array '%s' (was|may be) "
            "partly modified: (no block had finished|[0-9]+ of [0-9]+ "
            "blocks were done|every block had finished)" % (cmd, signame, name))
    dead = ("^sharr: stat: note: the previous holder of the lock of '%s' "
            "died while holding it; the data may be half-updated$" % name)
    ok = (rc == -sig and 0 < changed and re.search(want, err, re.M) and
          re.search(dead, note, re.M))
    if not ok:
        print("  rc %r (want %d), %d of %d changed, stderr %r, then %r"
              % (rc, -sig, changed, total, err, note))
    sys.exit(0 if ok else 1)
print("  never interrupted: the work always finished first")
sys.exit(1)
PYEOF
ok "apply interrupted by SIGINT: note on stderr, status 130" \
    $PY "$TMP/interrupt.py" "$SHARR" "$P.int" apply INT
ok "apply interrupted by SIGTERM: note on stderr, status 143" \
    $PY "$TMP/interrupt.py" "$SHARR" "$P.int" apply TERM
ok "fill interrupted by SIGINT: note on stderr, status 130" \
    $PY "$TMP/interrupt.py" "$SHARR" "$P.int" fill INT
ok "apply interrupted by SIGHUP: note on stderr, status 129" \
    $PY "$TMP/interrupt.py" "$SHARR" "$P.int" apply HUP
