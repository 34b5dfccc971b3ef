#!/usr/bin/python3
"""The Python module tools/python/sharr.py against the C side (the sharr
tool, or another Python process): arrays of every dtype both ways as live
NumPy views, read-only views, views that outlive their handle, the array
lock and named locks between processes (and a dead holder), queues both
ways with Empty/Full/ShutDown and bounded timeouts, bad inputs raising
(never crashing), the error codes and ctypes prototypes against sharr.h,
and how the module finds its library.

    /usr/bin/python3 tests/interop/test_pymodule.py /path/to/sharr
"""
import ctypes
import ctypes.util
import errno
import gc
import glob
import json
import math
import os
import pickle
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings

import numpy as np

from harness import (NP, Sharr, check, namer, path, run_tests,
                     sigint_default)

SHARR = sys.argv[1]
TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
MODDIR = os.path.join(TOP, "tools", "python")
PREFIX = "ti.%d." % os.getpid()
TMP = tempfile.mkdtemp(prefix="sharr-pymodule-")
sharr_tool = Sharr(SHARR)
fresh = namer(PREFIX)

sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, MODDIR)
import sharr                        # noqa: E402


def child(code, env=None, timeout=30, **kw):
    """Run `code` in another /usr/bin/python3 that imports the in-tree
    module; its CompletedProcess (text)."""
    e = dict(os.environ, PYTHONPATH=MODDIR, PYTHONDONTWRITEBYTECODE="1")
    e.update(env or {})
    return subprocess.run(sigint_default([sys.executable, "-c", code]),
                          env=e, text=True, capture_output=True,
                          timeout=timeout, **kw)


def raises(exc, fn, *args, **kw):
    """The exception fn(*args) raised if it is an `exc`, else None."""
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    except Exception as e:      # the wrong kind is a failure, shown
        print("  (raised %s: %s)" % (type(e).__name__, e))
    return None


def elapsed(fn, *args, **kw):
    """(seconds fn took, what it returned or raised)."""
    t = time.monotonic()
    try:
        r = fn(*args, **kw)
    except Exception as e:
        r = e
    return time.monotonic() - t, r


def dump_values(name, dt):
    """`sharr dump NAME` read back as a flat NumPy array of dtype dt."""
    words = sharr_tool("dump", name).split()
    conv = complex if np.dtype(NP[dt]).kind == "c" else \
        (int if np.dtype(NP[dt]).kind in "iu" else float)
    return np.array([conv(w) for w in words], dtype=NP[dt])


def gone(p, within=3.0):
    end = time.monotonic() + within
    while os.path.exists(p):
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


# ---- the library and the module's own tables ----

def test_finds_the_tree_library_and_its_version():
    check(sharr.library_path == os.path.join(TOP, "lib", "libsharr.so.0"),
          "in-tree module loads the tree's lib/libsharr.so.0, not %s"
          % sharr.library_path)
    check("sharr " + sharr.__version__ == sharr_tool("--version").strip(),
          "sharr.__version__ is the tool's version")


def test_sharr_library_overrides_and_names_itself_when_it_fails():
    real = os.path.realpath(os.path.join(TOP, "lib", "libsharr.so.0"))
    r = child("import sharr; print(sharr.library_path)",
              {"SHARR_LIBRARY": real})
    check(r.returncode == 0 and r.stdout.strip() == real,
          "SHARR_LIBRARY=%s is the library loaded: %s %s"
          % (real, r.stdout, r.stderr))
    r = child("import sharr", {"SHARR_LIBRARY": TMP + "/nothere.so"})
    check(r.returncode != 0 and "ImportError" in r.stderr and
          "SHARR_LIBRARY=" + TMP + "/nothere.so" in r.stderr,
          "a bad SHARR_LIBRARY is an ImportError naming it: %s" % r.stderr)


def test_a_copy_outside_the_tree_says_how_to_find_the_library():
    d = os.path.join(TMP, "a", "b", "c")
    os.makedirs(d)
    shutil.copy(os.path.join(MODDIR, "sharr.py"), d)
    env = {"PYTHONPATH": d, "LD_LIBRARY_PATH": ""}
    r = child("import sharr; print(sharr.library_path)", env)
    if ctypes.util.find_library("sharr") is None:
        check(r.returncode != 0 and "ImportError" in r.stderr and
              "libsharr.so.0 not found" in r.stderr and
              "SHARR_LIBRARY" in r.stderr,
              "no library anywhere: a clear ImportError: %s" % r.stderr)
    else:   # an installed libsharr the loader knows
        check(r.returncode == 0, "find_library's libsharr loads: %s"
              % r.stderr)


def test_error_codes_are_those_of_sharr_h():
    text = open(os.path.join(TOP, "include", "sharr.h")).read()
    want = {}
    for name, value in re.findall(r"X\((\w+), (-?\w+), \"", text):
        if name != "OK":
            want[name] = -getattr(errno, value[1:]) \
                if value.startswith("-E") else int(value)
    check(len(want) > 20 and want == sharr._CODES,
          "sharr._CODES is sharr.h's SHARR_ERRORS: %s"
          % (set(want.items()) ^ set(sharr._CODES.items())))
    check(sharr.EEMPTY == -1022 and sharr.ENOENT == -errno.ENOENT,
          "the codes are module constants")


def c_prototypes():
    """{function: (return type text, number of parameters)} of sharr.h."""
    text = open(os.path.join(TOP, "include", "sharr.h")).read()
    out = {}
    for ret, fn, params in re.findall(
            r"SHARR_API\s+([\w\s\*]+?)\s*\b(sharr_\w+)\s*\(([^;]*?)\);",
            text, re.S):
        params = params.strip()
        out[fn] = (ret.strip(), 0 if params == "void" else
                   params.count(",") + 1)
    return out


def test_every_function_used_has_the_prototype_of_sharr_h():
    src = open(os.path.join(MODDIR, "sharr.py")).read()
    used = set(re.findall(r"_lib\.(sharr_\w+)", src))
    check(used and used <= set(sharr._PROTOS),
          "every _lib.sharr_* the module calls is in _PROTOS: missing %s"
          % (used - set(sharr._PROTOS)))
    protos = c_prototypes()
    C = ctypes
    for fn, (res, args) in sorted(sharr._PROTOS.items()):
        f = getattr(sharr._lib, fn)
        check(fn in protos, "%s is declared in sharr.h" % fn)
        if fn not in protos:
            continue
        ret, nparams = protos[fn]
        if "*" in ret:
            ok = f.restype in (C.c_char_p, C.c_void_p) or \
                issubclass(f.restype, C._Pointer)
        else:
            ok = f.restype is {"void": None, "int": C.c_int,
                               "size_t": C.c_size_t, "unsigned": C.c_uint,
                               "sharr_dtype": C.c_int}.get(ret, "?")
        check(ok, "%s returns %s: restype %s" % (fn, ret, f.restype))
        check(f.argtypes is not None and len(f.argtypes) == nparams,
              "%s takes %d parameters: argtypes %s" % (fn, nparams,
                                                      f.argtypes))


# ---- arrays ----

def test_every_dtype_made_by_the_tool_reads_in_python():
    for dt, t in NP.items():
        name = fresh("fromc." + dt)
        sharr_tool("create", name, "--dtype", dt, "--shape", "3x4")
        sharr_tool("fill", name, "range")
        with sharr.open(name) as a:
            check(a.dtype == np.dtype(t) and a.dtype_name == dt and
                  a.shape == (3, 4) and a.array.shape == (3, 4),
                  "%s made by the tool opens as %s %s" % (dt, a.dtype,
                                                         a.shape))
            check(np.array_equal(a.array,
                                 np.arange(12).reshape(3, 4).astype(t)),
                  "%s: Python reads the tool's range" % dt)
        sharr.unlink(name)


def test_every_dtype_written_in_python_reads_in_the_tool():
    rng = np.random.default_rng(8)
    for dt, t in NP.items():
        name = fresh("toc." + dt)
        t = np.dtype(t)
        if t.kind in "iu":
            info = np.iinfo(t)
            v = rng.integers(info.min, info.max, size=(2, 3), dtype=t,
                             endpoint=True)
        else:
            flt = np.float32 if t in (np.float32, np.complex64) else \
                np.float64
            parts = (rng.standard_normal((2, 3, 2)) * 1e3).astype(flt)
            v = parts[..., 0] + 1j * parts[..., 1] if t.kind == "c" else \
                parts[..., 0]
            v = v.astype(t)
        a = sharr.create(name, (2, 3), dt)
        a.array[...] = v
        check(a.dtype == t, "create(%s) makes %s, not %s" % (dt, t, a.dtype))
        got = dump_values(name, dt)
        check(np.array_equal(got, v.reshape(-1)),
              "%s written by Python reads back in the tool: %s vs %s"
              % (dt, got, v.reshape(-1)))
        a.close()
        sharr.unlink(name)


def test_dtype_spellings_numpy_and_sharr():
    cases = [(np.int8, "i8"), ("int8", "i8"), ("i8", "i8"),
             (np.dtype("<i8"), "i64"), ("<i8", "i64"), (float, "f64"),
             (complex, "c128"), (np.complex64, "c64"), ("float32", "f32"),
             ("u16", "u16"), (np.uint64, "u64")]
    for spelling, want in cases:
        name = fresh("dt")
        with sharr.create(name, 2, spelling) as a:
            check(a.dtype_name == want, "dtype %r is %s, not %s"
                  % (spelling, want, a.dtype_name))
        sharr.unlink(name)
    check(sharr.dtypes == tuple(NP), "sharr.dtypes lists sharr's names")


def test_writes_are_seen_live_both_ways():
    name = fresh("live")
    a = sharr.create(name, (4, 5), "f64")
    sharr_tool("fill", name, "7")
    check((a.array == 7).all(), "the tool's fill is seen by an open view")
    a.array[1, 2] = -3.25
    check(dump_values(name, "f64")[7] == -3.25,
          "a Python write is seen by the tool")
    n = np.load(path(name), mmap_mode="r")
    check(n[1, 2] == -3.25, "numpy.load sees it too")
    check(np.shares_memory(np.asarray(a), a.array) and
          np.asarray(a, dtype=np.float32)[1, 2] == -3.25,
          "np.asarray(handle) is the view; with a dtype, a copy")
    del n
    a.close()
    sharr.unlink(name)


def test_a_scalar_array():
    name = fresh("scalar")
    with sharr.create(name, (), "c128") as a:
        a.array[()] = 0.6 + 0.8j
        check(a.ndim == 0 and a.array.shape == (),
              "shape () is a 0-d array")
        check(sharr_tool("dump", name).strip() == "0.6+0.8j",
              "its value reads in the tool")
    sharr.unlink(name)


def test_read_only_open_gives_a_read_only_view():
    name = fresh("ro")
    sharr_tool("create", name, "--shape", "3", "--fill", "2")
    a = sharr.open(name, readonly=True)
    check(not a.writable and not a.array.flags.writeable,
          "readonly=True: a read-only ndarray")
    check(raises(ValueError, a.array.__setitem__, 0, 5) is not None,
          "assigning to it raises ValueError")

    def make_writable():
        a.array.flags.writeable = True
    check(raises(ValueError, make_writable) is not None,
          "it cannot be made writable (a write would fault)")
    check(raises(ValueError, np.copyto, a.array, 1.0) is not None,
          "np.copyto into it raises")
    check((a.array == 2).all(), "and the data is unchanged")
    w = sharr.open(name)
    check(w.array.flags.writeable, "a plain open is writable")
    a.close()
    w.close()
    sharr.unlink(name)


def attached(name):
    return sharr.stat(name).attached


def test_a_view_outlives_its_handle():
    name = fresh("outlive")
    a = sharr.create(name, (6, 3), "i32")
    before = attached(name)
    v = a.array[2:]
    w = v.T
    del a
    gc.collect()
    v[...] = 5
    check((w == 5).all() and (dump_values(name, "i32")[6:] == 5).all(),
          "after del handle, its views still read and write the segment")
    check(attached(name) == before, "the mapping is still attached")
    del v, w
    gc.collect()
    check(attached(name) == before - 1,
          "the last view gone, the mapping is closed (attached %d -> %d)"
          % (before, attached(name)))
    b = sharr.open(name)
    x = b.array
    b.close()
    check(raises(ValueError, getattr, b, "array") is not None,
          "close(): .array of the handle raises ValueError")
    check((x[2:] == 5).all() and (x[:2] == 0).all(),
          "close(): a view taken before still reads")
    del x
    gc.collect()
    check(attached(name) == before - 1, "and is unmapped once dropped")
    r = child("import sharr, gc\n"
              "def f():\n"
              "    return sharr.open(%r).array[1:]\n"
              "v = f(); gc.collect(); v[...] += 1; print(int(v.sum()))"
              % name)
    check(r.returncode == 0 and r.stdout.strip() == str(3 * 1 + 12 * 6),
          "a view returned from a function whose handle died: %s %s"
          % (r.stdout, r.stderr))
    sharr.unlink(name)


def test_temporary_arrays_go_with_their_python_process():
    name, kept = fresh("temp"), fresh("kept")
    r = child("import sharr\n"
              "sharr.create(%r, 4, temp=True)\n"
              "k = sharr.create(%r, 4, temp=True); k.keep()\n"
              "print(sharr.stat(%r).temp, sharr.stat(%r).temp)"
              % (name, kept, name, kept))
    check(r.returncode == 0 and r.stdout.split() == ["True", "False"],
          "temp=True is temporary, keep() makes it permanent: %s %s"
          % (r.stdout, r.stderr))
    check(gone(path(name)), "the temporary array went with the process")
    check(os.path.exists(path(kept)), "the kept one stayed")
    sharr.unlink(kept)


def test_stat_agrees_with_sharr_info():
    name, qname = fresh("stat"), fresh("statq")
    a = sharr.create(name, (3, 7), "u16", mode=0o640)
    j = json.loads(sharr_tool("info", name, "--json"))
    s = sharr.stat(name)
    check((s.kind, s.dtype, list(s.shape), s.nbytes, s.segment_size,
           "%04o" % s.mode, s.created, s.id, s.path, s.temp) ==
          ("array", j["dtype"], j["shape"], j["bytes"], j["segment_bytes"],
           j["mode"], j["created"], j["id"], j["path"], j["temp"]),
          "stat() is sharr info --json: %s vs %s" % (s, j))
    q = sharr.Queue.create(qname, 4096)
    q.put(b"x" * 10)
    j = json.loads(sharr_tool("info", qname, "--json"))
    s = sharr.stat(qname)
    check((s.kind, s.state, s.id) == ("queue", j["state"], j["id"]),
          "a queue's stat(): kind and state: %s vs %s" % (s, j))
    a.close()
    q.close()
    sharr.unlink(name)
    sharr.unlink(qname)


# ---- bad inputs ----

def test_bad_inputs_raise_clear_errors():
    n = fresh("bad")
    E = sharr.InvalidError
    cases = [
        ("shape -1", ValueError, lambda: sharr.create(n, (-1,))),
        ("shape 2**64", ValueError, lambda: sharr.create(n, 2 ** 64)),
        ("shape huge", E, lambda: sharr.create(n, (2 ** 40, 2 ** 40))),
        ("shape 2.5", TypeError, lambda: sharr.create(n, (2.5,))),
        ("shape '3x4'", TypeError, lambda: sharr.create(n, "3x4")),
        ("shape None", TypeError, lambda: sharr.create(n, None)),
        ("ndim 9", E, lambda: sharr.create(n, [1] * 9)),
        ("dtype 'f8'", E, lambda: sharr.create(n, 2, "f8")),
        ("dtype '>f8'", E, lambda: sharr.create(n, 2, ">f8")),
        ("dtype float16", E, lambda: sharr.create(n, 2, np.float16)),
        ("dtype bool", E, lambda: sharr.create(n, 2, bool)),
        ("dtype object", E, lambda: sharr.create(n, 2, object)),
        ("dtype 'U3'", E, lambda: sharr.create(n, 2, "U3")),
        ("dtype 3.5", TypeError, lambda: sharr.create(n, 2, 3.5)),
        ("name 3", TypeError, lambda: sharr.create(3, 2)),
        ("name None", TypeError, lambda: sharr.open(None)),
        ("name ''", E, lambda: sharr.create("", 2)),
        ("name 'a/b'", E, lambda: sharr.create("a/b", 2)),
        ("name '.x'", E, lambda: sharr.create(".x", 2)),
        ("name 201 chars", E, lambda: sharr.create("x" * 201, 2)),
        ("name with NUL", ValueError, lambda: sharr.create(n + "\0x", 2)),
        ("mode -1", ValueError, lambda: sharr.create(n, 2, mode=-1)),
        ("mode 0o1000", ValueError, lambda: sharr.create(n, 2, mode=0o1000)),
        ("mode '600'", TypeError, lambda: sharr.create(n, 2, mode="600")),
        ("open missing", FileNotFoundError, lambda: sharr.open(n)),
        ("unlink missing", FileNotFoundError, lambda: sharr.unlink(n)),
        ("stat missing", FileNotFoundError, lambda: sharr.stat(n)),
        ("queue capacity -1", ValueError,
         lambda: sharr.Queue.create(n, -1)),
        ("queue max_msg > capacity", E,
         lambda: sharr.Queue.create(n, 64, 4096)),
        ("lock timeout 'x'", TypeError,
         lambda: sharr.Lock.create(n, mode="x")),
    ]
    for what, exc, fn in cases:
        e = raises(exc, fn)
        check(e is not None, "%s raises %s" % (what, exc.__name__))
        if isinstance(e, sharr.Error):
            check(e.detail and e.detail in str(e) and
                  e.codename in str(e) and e.code < 0,
                  "%s: the error carries code and detail: %s" % (what, e))
        check(not glob.glob(path(n) + "*"), "%s leaves nothing" % what)
    e = raises(sharr.InvalidError, sharr.create, n, [1] * 9)
    check(e is not None and e.code == sharr.EINVAL and
          e.codename == "SHARR_EINVAL" and e.errno == errno.EINVAL and
          "ndim = 9" in e.detail and isinstance(e, OSError),
          "Error has code, codename, errno and sharr_errmsg()'s detail")
    # A zero-length axis is an empty array, as in NumPy.
    with sharr.create(n, (3, 0), "c64") as a:
        check(a.array.shape == (3, 0) and a.array.dtype == np.complex64 and
              a.array.size == 0, "shape (3, 0) is an empty array: %s %s" %
              (a.array.shape, a.array.dtype))
    sharr.unlink(n)


def test_kind_mismatch_raises_kind_error():
    a, q, l = fresh("ka"), fresh("kq"), fresh("kl")
    sharr_tool("create", a, "--shape", "2")
    sharr_tool("queue", "create", q)
    sharr_tool("lock", "create", l)
    for what, fn in [("Queue.open(array)", lambda: sharr.Queue.open(a)),
                     ("Lock.open(queue)", lambda: sharr.Lock.open(q)),
                     ("open(lock)", lambda: sharr.open(l))]:
        e = raises(sharr.KindError, fn)
        check(e is not None and e.code == sharr.EKIND and " is a" in str(e),
              "%s raises KindError naming both kinds: %s" % (what, e))
    for x in (a, q, l):
        sharr.unlink(x)


def test_queue_bad_inputs():
    name = fresh("qbad")
    q = sharr.Queue.create(name, 4096, 100)
    E = sharr.InvalidError
    for what, exc, fn in [
            ("put(str)", TypeError, lambda: q.put("text")),
            ("put(None)", TypeError, lambda: q.put(None)),
            ("put(12)", TypeError, lambda: q.put(12)),
            ("put past max_msg", E, lambda: q.put(b"x" * 101)),
            ("put_many past max_msg", E,
             lambda: q.put_many([b"a", b"x" * 101])),
            ("get(timeout='1')", TypeError, lambda: q.get(timeout="1")),
            ("get(timeout=NaN)", ValueError, lambda: q.get(timeout=math.nan)),
            ("get_many(0)", ValueError, lambda: q.get_many(0)),
            ("task_done(-1)", ValueError, lambda: q.task_done(-1)),
            ("task_done past the puts", E, lambda: q.task_done(1)),
            ("put_work(rows 3..1)", E,
             lambda: q.put_work("a", 3, 1, timeout=0))]:
        check(raises(exc, fn) is not None, "%s raises %s"
              % (what, exc.__name__))
    check(q.qsize() == 0, "none of them put anything")
    q.close()
    check(raises(ValueError, q.put, b"x") is not None,
          "a closed handle raises ValueError")
    sharr.unlink(name)


def test_errmsg_is_read_in_the_failing_thread():
    wrong = []

    def fail(k):
        for _ in range(200):
            try:
                if k:
                    sharr.open(PREFIX + "none%d" % k)
                else:
                    sharr.create(PREFIX + "nine", [1] * 9)
            except sharr.Error as e:
                want = ("none%d'" % k) if k else "ndim = 9"
                if want not in e.detail:
                    wrong.append(e.detail)
    ts = [threading.Thread(target=fail, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(not wrong, "4 threads failing at once each get their own detail: "
          "%s" % wrong[:3])


# ---- locks ----

def cli_lock_ok(name, timeout="0"):
    return sharr_tool.run("lock", name, "--timeout", timeout, "--",
                          "true").returncode == 0


def holder(name, seconds=1.0):
    """`sharr lock NAME -- ...` holding the lock for `seconds`, returned
    once it holds it."""
    p = subprocess.Popen([SHARR, "lock", name, "--", "sh", "-c",
                          "echo held; sleep %s" % seconds],
                         stdout=subprocess.PIPE, text=True)
    p.stdout.readline()
    return p


def check_held_elsewhere(obj, what):
    """obj's lock is held by another process now: acquire fails in time."""
    t, r = elapsed(obj.acquire, timeout=0)
    check(r is False and t < 0.5, "%s: acquire(timeout=0) is False at once "
          "(%.2f s)" % (what, t))
    t, r = elapsed(obj.acquire, False)
    check(r is False, "%s: acquire(False) is False" % what)
    t, r = elapsed(obj.acquire, timeout=0.3)
    check(r is False and 0.25 <= t < 1.5,
          "%s: acquire(timeout=0.3) is False after 0.3 s (%.2f)" % (what, t))
    hold = obj.lock if isinstance(obj, sharr.Array) else obj.hold
    t, r = elapsed(hold(timeout=0.2).__enter__)
    check(isinstance(r, sharr.Timeout) and isinstance(r, TimeoutError) and
          0.15 <= t < 1.5, "%s: a with block raises Timeout in time (%r)"
          % (what, r))


def test_array_lock_against_the_tool():
    name = fresh("alock")
    a = sharr.create(name, 4)
    with a.lock(timeout=1) as held:
        check(not held.owner_died, "a fresh lock: owner_died is False")
        check(not cli_lock_ok(name), "sharr lock fails while Python holds it")
    check(cli_lock_ok(name), "sharr lock succeeds once Python released it")
    p = holder(name)
    check_held_elsewhere(a, "array lock held by sharr lock")
    t, r = elapsed(a.acquire, timeout=10)
    check(r is True and t < 5, "acquire waits for sharr lock to finish "
          "(%.2f s)" % t)
    a.release()
    p.wait()
    p.stdout.close()
    ro = sharr.open(name, readonly=True)
    with ro.lock(timeout=1):
        check(not cli_lock_ok(name), "a read-only handle takes the lock too")
    ro.close()
    a.acquire()
    a.close()
    check(cli_lock_ok(name), "close() releases the lock this thread holds")
    sharr.unlink(name)


def test_array_lock_between_threads_of_one_handle():
    name = fresh("tlock")
    a = sharr.create(name, 1)
    a.acquire()
    e = raises(sharr.Error, a.acquire, timeout=0)
    check(e is not None and e.code == sharr.EBUSY,
          "the holding thread locking again: Error EBUSY, no deadlock")
    out = {}

    def other():
        out["try"] = elapsed(a.acquire, timeout=0.3)
        out["release"] = raises(sharr.NotHeldError, a.release)
        out["wait"] = elapsed(a.acquire, timeout=5)
        a.release()
    t = threading.Thread(target=other, daemon=True)
    t.start()
    time.sleep(0.6)
    a.release()
    t.join()
    check(out["try"][1] is False and 0.25 <= out["try"][0] < 1.5,
          "another thread times out on the held lock: %s" % (out["try"],))
    check(isinstance(out["release"], RuntimeError),
          "another thread's release raises NotHeldError (RuntimeError)")
    check(out["wait"][1] is True, "it gets the lock once released")
    a.close()
    sharr.unlink(name)


def test_a_forked_child_cannot_release_its_parents_array_lock():
    name = fresh("fk")
    a = sharr.create(name, (2,))
    a.acquire()
    pid = os.fork()
    if pid == 0:    # the child's copy of the handle says it holds the lock
        try:
            a.release()
            code = 1
        except sharr.NotHeldError:
            code = 0
        except BaseException:
            code = 2
        os._exit(code)
    _, st = os.waitpid(pid, 0)
    check(os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0,
          "release() in a forked child raises NotHeldError: status %r" % st)
    r = sharr_tool.run("fill", name, "1", "--lock-timeout", "0")
    check(r.returncode == 4, "and the parent still holds the lock: fill "
          "exited %d" % r.returncode)
    a.release()
    a.close()
    sharr.unlink(name)


def test_array_lock_excludes_another_python_process():
    name = fresh("count")
    a = sharr.create(name, (), "i64")
    code = ("import sharr\n"
            "a = sharr.open(%r)\n"
            "for _ in range(3000):\n"
            "    with a.lock():\n"
            "        x = int(a.array[()]); a.array[()] = x + 1\n" % name)
    p = subprocess.Popen([sys.executable, "-c", code],
                         env=dict(os.environ, PYTHONPATH=MODDIR))
    for _ in range(3000):
        with a.lock():
            x = int(a.array[()])
            a.array[()] = x + 1
    p.wait()
    check(p.returncode == 0 and int(a.array[()]) == 6000,
          "two processes' read-modify-writes under the lock: %d of 6000"
          % int(a.array[()]))
    a.close()
    sharr.unlink(name)


def killed_holder(name, kind):
    opener = "sharr.open(%r)" % name if kind == "array" else \
        "sharr.Lock.open(%r)" % name
    r = child("import os, sharr\nl = %s\nl.acquire()\nos.kill(os.getpid(), "
              "9)" % opener)
    return r.returncode == -9


def check_owner_died(obj, what):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        got = obj.acquire(timeout=5)
    check(got is True and obj.owner_died,
          "%s: the lock of a killed holder is acquired, owner_died set"
          % what)
    check(len(w) == 1 and issubclass(w[0].category, sharr.OwnerDiedWarning)
          and "died" in str(w[0].message) and w[0].filename == __file__,
          "%s: an OwnerDiedWarning, pointing at the caller: %s"
          % (what, [(str(x.message), x.filename) for x in w]))
    obj.release()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with (obj.lock() if isinstance(obj, sharr.Array) else
              obj.hold()) as held:
            pass
    check(not held.owner_died and not w,
          "%s: the next holder sees a healthy lock" % what)


def test_a_killed_holder_of_the_array_lock():
    name = fresh("dead")
    a = sharr.create(name, 2)
    check(killed_holder(name, "array"), "the holder was killed")
    check_owner_died(a, "array lock")
    a.close()
    sharr.unlink(name)


def test_a_killed_holder_of_a_named_lock():
    name = fresh("deadl")
    lk = sharr.Lock.create(name)
    check(killed_holder(name, "lock"), "the holder was killed")
    check_owner_died(lk, "named lock")
    lk.close()
    sharr.unlink(name)


def test_named_lock_against_the_tool():
    name = fresh("lock")
    lk = sharr.Lock.create(name)
    check(raises(ValueError, lk.acquire, timeout=math.nan) is not None,
          "acquire(timeout=NaN) raises ValueError")
    check(repr(lk).startswith("<sharr.Lock") and not lk.recursive,
          "Lock.create makes a Lock")
    with lk:
        check(not cli_lock_ok(name), "sharr lock fails while Python holds "
              "the named lock")
        e = raises(sharr.Error, lk.acquire, timeout=0)
        check(e is not None and e.code == sharr.EBUSY,
              "a Lock taken again by its holder: Error EBUSY")
    check(cli_lock_ok(name), "sharr lock succeeds after the with block")
    p = holder(name)
    check_held_elsewhere(lk, "named lock held by sharr lock")
    t, r = elapsed(lk.acquire, timeout=10)
    check(r is True and t < 5, "acquire waits for sharr lock (%.2f s)" % t)
    lk.release()
    p.wait()
    p.stdout.close()
    check(isinstance(raises(sharr.NotHeldError, lk.release), RuntimeError),
          "releasing a free lock raises NotHeldError")
    other = sharr.Lock.open(name)
    lk.acquire()
    out = {}
    t = threading.Thread(target=lambda: out.update(
        r=elapsed(other.acquire, timeout=0.3)))
    t.start()
    t.join()
    check(out["r"][1] is False, "another thread (another handle) waits")
    lk.close()          # releases what this thread holds
    check(cli_lock_ok(name), "close() released the lock")
    other.close()
    sharr.unlink(name)


def test_rlock():
    name = fresh("rlock")
    r = sharr.Lock.create(name, recursive=True)
    check(r.recursive and repr(r).startswith("<sharr.RLock"),
          "recursive=True makes an RLock")
    check(r.acquire() and r.acquire(timeout=0), "its holder takes it twice")
    r.release()
    check(not cli_lock_ok(name), "still held after one release")
    r.release()
    check(cli_lock_ok(name), "free after the second")
    check(raises(sharr.NotHeldError, r.release) is not None,
          "a third release raises")
    r.close()
    sharr.unlink(name)


# ---- queues ----

def test_queue_python_to_the_tool_and_back():
    name = fresh("q")
    q = sharr.Queue.create(name)
    for m in (b"alpha", bytearray(b"beta gamma"), memoryview(b""), b"\xff"):
        q.put(m)
    out = subprocess.run([SHARR, "queue", "get", name, "-n", "4"],
                         capture_output=True).stdout
    check(out == b"alpha\nbeta gamma\n\n\xff\n",
          "sharr queue get prints what Python put: %r" % out)
    sharr_tool("queue", "put", name, "one", "two words")
    subprocess.run([SHARR, "queue", "put", name], input=b"three\nfour\n")
    got = [q.get(timeout=5) for _ in range(4)]
    check(got == [b"one", b"two words", b"three", b"four"],
          "Python gets what sharr queue put put: %s" % got)
    check(q.qsize() == 0 and q.empty(), "and the queue is empty")
    q.close()
    sharr.unlink(name)


def test_queue_between_python_processes_binary():
    name = fresh("qb")
    q = sharr.Queue.create(name, 1 << 16, 4096)
    msgs = [bytes(range(256)), b"\n\0\n", b"", b"x" * 4096,
            np.arange(10, dtype=np.float64).tobytes()]
    r = child("import sharr\nq = sharr.Queue.open(%r)\n"
              "for m in %r: q.put(m)\n"
              "print(q.put_many([b'm%%d' %% i for i in range(50)]))"
              % (name, msgs))
    check(r.returncode == 0 and r.stdout.strip() == "50",
          "another process put them: %s %s" % (r.stdout, r.stderr))
    got = [q.get(timeout=5) for _ in msgs]
    check(got == msgs, "binary messages, empty and max_msg ones arrive "
          "intact")
    many = q.get_many(1000, timeout=5)
    check(many == [b"m%d" % i for i in range(50)],
          "get_many takes the batch in order: %d" % len(many))
    check(q.put_many([b"a", b"b", b"c", b"d"]) == 4, "put_many puts 4")
    check(q.get_many(3, timeout=0) == [b"a", b"b", b"c"],
          "get_many(3) takes 3")
    check(q.get_many(3, timeout=0) == [b"d"], "and then the last one")
    q.close()
    sharr.unlink(name)


def test_queue_empty_full_shutdown():
    name = fresh("qe")
    q = sharr.Queue.create(name, 256, 32)
    t, e = elapsed(q.get, timeout=0.3)
    check(isinstance(e, sharr.Empty) and isinstance(e, queue.Empty) and
          e.code == sharr.EEMPTY and 0.25 <= t < 1.5,
          "get(timeout=0.3) on an empty queue: Empty after %.2f s" % t)
    t, e = elapsed(q.get_nowait)
    check(isinstance(e, queue.Empty) and t < 0.5, "get_nowait: Empty at "
          "once")
    check(isinstance(raises(queue.Empty, q.get, False), sharr.Error),
          "get(False): Empty")
    n = 0
    while raises(queue.Full, q.put, b"y" * 24, timeout=0) is None and n < 99:
        n += 1
    check(n == 256 // 32, "a 256-byte queue holds 8 messages of 24 bytes "
          "(%d)" % n)
    t, e = elapsed(q.put, b"z", timeout=0.3)
    check(isinstance(e, sharr.Full) and isinstance(e, queue.Full) and
          0.25 <= t < 1.5, "put(timeout=0.3) on a full queue: Full after "
          "%.2f s" % t)
    check(isinstance(raises(queue.Full, q.put_nowait, b"z"), sharr.Full),
          "put_nowait: Full")
    check(isinstance(raises(sharr.Full, q.put_many, [b"z"], timeout=0),
                     queue.Full), "put_many with no room: Full")
    check(q.get() == b"y" * 24 and
          q.put_many([b"a" * 24, b"b" * 24], timeout=0) == 1,
          "put_many with room for one puts one")
    sharr_tool("queue", "close", name)
    check(q.is_shutdown, "sharr queue close: is_shutdown")
    e = raises(sharr.ShutDown, q.put, b"late")
    check(e is not None and e.code == sharr.ECLOSED and
          (not hasattr(queue, "ShutDown") or isinstance(e, queue.ShutDown)),
          "put after close: ShutDown")
    got = q.get_many(100)
    while len(got) < 8 and len(got[-1]) == 24:   # a batch may stop short
        got += q.get_many(100, timeout=1)
    check(len(got) == 8 and got[-1] == b"a" * 24, "the queue drains: %d" %
          len(got))
    t, e = elapsed(q.get)
    check(isinstance(e, sharr.ShutDown) and t < 1,
          "then get raises ShutDown at once, not Empty (%r)" % e)
    q.close()
    q2 = sharr.Queue.create(name + "b")
    q2.put(b"x")
    q2.shutdown()
    r = sharr_tool("queue", "get", name + "b", "-n", "2", ok=False)
    check(r.returncode == 3 and r.stdout == "x\n",
          "Python's shutdown(): sharr queue get drains and exits 3")
    q2.close()
    sharr.unlink(name)
    sharr.unlink(name + "b")


def test_a_blocked_get_is_woken_by_the_tool():
    name = fresh("qw")
    q = sharr.Queue.create(name)
    p = subprocess.Popen(["sh", "-c", "sleep 0.4; '%s' queue put %s late"
                          % (SHARR, name)])
    t, r = elapsed(q.get)
    p.wait()
    check(r == b"late" and 0.3 <= t < 5,
          "get() waits for the tool's put (%.2f s, %r)" % (t, r))
    q.close()
    sharr.unlink(name)


def test_task_done_and_join():
    name = fresh("qj")
    q = sharr.Queue.create(name)
    q.put_many([b"1", b"2", b"3"])
    check(q.join(timeout=0) is False, "join(0) with 3 unfinished: False")
    t, r = elapsed(q.join, timeout=0.3)
    check(r is False and 0.25 <= t < 1.5, "join(0.3): False after %.2f s"
          % t)
    q.get_many(3)
    q.task_done(2)
    sharr_tool("queue", "task-done", name)
    check(q.join(timeout=1) is True, "after task_done(2) and the tool's "
          "task-done: join is True")
    check(raises(sharr.InvalidError, q.task_done) is not None,
          "one task_done too many raises")
    q.close()
    sharr.unlink(name)


def test_work_records():
    name = fresh("qw")
    q = sharr.Queue.create(name)
    q.put_work("frames", 16, 32, tag=7, i=(1, -2), d=(0.5,))
    raw = q.get()
    check(len(raw) == 96 + len("frames") and raw[:4] == b"SHW1",
          "a work record is sharr_work's 96 + name bytes, magic SHW1")
    q.put(raw)
    w = q.get_work(timeout=1)
    check(w == sharr.Work("frames", 16, 32, 7, (1, -2, 0, 0),
                          (0.5, 0.0, 0.0, 0.0)), "get_work reads it: %s"
          % (w,))
    q.put(b"not a record")
    check(raises(sharr.InvalidError, q.get_work) is not None and
          q.qsize() == 0, "a message that is not a record: InvalidError, "
          "consumed")
    q.close()
    sharr.unlink(name)


# ---- waits, threads, NumPy ----

def test_ctrl_c_interrupts_a_wait_for_ever():
    # Also when whoever started the tests ignores SIGINT, as a shell does
    # for a background job (`make test &`): the child must not inherit it.
    for ignored in (False, True):
        name = fresh("qc")
        sharr.Queue.create(name).close()
        old = signal.signal(signal.SIGINT, signal.SIG_IGN) if ignored \
            else None
        try:
            r = child("import os, signal, threading, time, sharr\n"
                      "q = sharr.Queue.open(%r)\n"
                      "threading.Timer(0.3, os.kill, (os.getpid(), "
                      "signal.SIGINT)).start()\n"
                      "t = time.monotonic()\n"
                      "try:\n"
                      "    q.get()\n"
                      "except KeyboardInterrupt:\n"
                      "    print('interrupted %%.2f' %% (time.monotonic() - t))\n"
                      % name, timeout=10)
            out, err = r.stdout, r.stderr
        except subprocess.TimeoutExpired:
            out, err = "", "still waiting after 10 s"
        finally:
            if ignored:
                signal.signal(signal.SIGINT, old)
        words = out.split()
        check(len(words) == 2 and words[0] == "interrupted" and
              float(words[1]) < 1.5,
              "Ctrl-C ends get() with KeyboardInterrupt%s: %s %s"
              % (" (SIGINT ignored by the parent)" if ignored else "", out,
                 err))
        sharr.unlink(name)


def test_close_from_another_thread_ends_its_waits():
    name = fresh("qt")
    q = sharr.Queue.create(name)
    out = []

    def waiter():
        try:
            q.get()
        except Exception as e:
            out.append(e)
    t = threading.Thread(target=waiter, daemon=True)  # a hang fails, only
    t.start()
    time.sleep(0.3)
    q.close()
    t.join(3)
    check(not t.is_alive() and len(out) == 1 and
          isinstance(out[0], ValueError),
          "a get() waiting in another thread ends with ValueError: %s" % out)
    sharr.unlink(name)


def test_queues_and_locks_work_without_numpy():
    name, arr = fresh("nonp"), fresh("nonpa")
    r = child("import sys\nsys.modules['numpy'] = None\nimport sharr\n"
              "q = sharr.Queue.create(%r); q.put(b'ok'); print(q.get())\n"
              "try:\n"
              "    sharr.create(%r, 3)\n"
              "except ImportError as e:\n"
              "    print('ImportError', e)\n" % (name, arr))
    check(r.returncode == 0 and r.stdout.startswith("b'ok'\nImportError") and
          "NumPy" in r.stdout, "without NumPy: queues work, arrays raise "
          "ImportError: %s %s" % (r.stdout, r.stderr))
    check(not os.path.exists(path(arr)), "and no array was made")
    sharr.unlink(name)


def test_the_readme_example_runs():
    text = open(os.path.join(TOP, "README.md")).read()
    m = re.search(r"<!-- readme-python[^\n]*\n```python\n(.*?)```", text,
                  re.S)
    check(m is not None, "README.md has the marked Python example")
    if m is None:
        return
    code = m.group(1)
    for name in ("frames", "jobs"):
        code = code.replace('"%s"' % name, '"%s"' % (PREFIX + name))
    r = child(code)
    check(r.returncode == 0 and r.stdout == "b'frames 0 2' 2.0\n",
          "the README's Python example prints what it says: %s %s"
          % (r.stdout, r.stderr))
    check(not any(os.path.exists(path(PREFIX + n))
                  for n in ("frames", "jobs")), "and removes its objects")


def test_errors_pickle():
    e = raises(sharr.NotFoundError, sharr.open, PREFIX + "absent")
    f = pickle.loads(pickle.dumps(e))
    check(type(f) is sharr.NotFoundError and f.code == e.code and
          str(f) == str(e), "an Error pickles (multiprocessing, futures)")


def cleanup():
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run_tests(globals(), "pymodule", PREFIX, cleanup))
