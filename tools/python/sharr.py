"""sharr for Python: named shared arrays as NumPy views, their locks, named
locks and queues, over libsharr through ctypes (no compiled extension).

    import sharr
    with sharr.create("frames", (16, 1024), "f32") as a:
        a.array[:] = 1.5                  # the shared memory, zero-copy
        with a.lock(timeout=5):           # the lock C code takes too
            a.array[0] *= 2
    q = sharr.Queue.create("jobs")
    q.put(b"row 3")                       # `sharr queue get jobs` prints it

Everything here is the C library's object under the same name: a C
program, the `sharr` tool, or another Python process attaches by name.

The library is found in this order: $SHARR_LIBRARY (a path; nothing else
is tried if it fails), the path `make install` wrote into this file, the
build tree this file lies in (tools/python/ of a source tree; never for an
installed copy), then ctypes.util.find_library("sharr").

Timeouts are seconds: None or < 0 waits for ever, 0 tries once, > 0 waits
at most that long (sharr's convention; also threading.Lock's).  Long waits
run as 0.1 s slices, so Ctrl-C interrupts them and close() from another
thread ends them; the semantics are those of one wait.

Errors raise sharr.Error (an OSError) with .code (the negative SHARR_E*
value), .codename and .detail (sharr_errmsg(), read in the calling thread
right after the call that failed); subclasses let Python's own except
clauses work: Full/Empty are queue.Full/queue.Empty, Timeout is a
TimeoutError, NotFoundError a FileNotFoundError, InvalidError a ValueError.
Arguments of the wrong type raise TypeError before any C call.

A lock whose previous holder died while holding it is acquired all the
same: acquire() returns True, .owner_died is set (until the next acquire)
and an OwnerDiedWarning is issued, since the data it protected may be
half-updated.  NumPy is imported on first use of an array, so queues and
locks work without it.
"""
import collections
import ctypes
import ctypes.util
import errno as _errno
import math
import numbers
import operator
import os
import queue as _queue
import threading
import time
import warnings

__all__ = ["Array", "Lock", "Queue", "Work", "Error", "Full", "Empty",
           "ShutDown", "Timeout", "NotFoundError", "ExistsError",
           "AccessError", "InvalidError", "KindError", "NotHeldError",
           "OwnerDiedWarning", "unlink", "stat", "dtypes"]
# create() and open() are left out of __all__: `from sharr import *` must
# not shadow the builtin open().

# ---- the library ----

_INSTALLED = "@SHARR_LIBRARY@"          # written by `make install`
_SLICE = 0.1                            # seconds per slice of a long wait

_c = ctypes
_sz, _int, _uint, _dbl, _vp, _cp = (_c.c_size_t, _c.c_int, _c.c_uint,
                                    _c.c_double, _c.c_void_p, _c.c_char_p)
_P = _c.POINTER


class _CreateOpts(_c.Structure):
    _fields_ = [("flags", _uint), ("mode", _uint), ("owner", _int)]


class _ObjState(_c.Structure):
    _fields_ = [("capacity", _sz), ("max_msg", _sz), ("msgs", _sz * 2),
                ("bytes", _sz * 2), ("closed", _int * 2),
                ("unfinished", _sz), ("repairs", _sz), ("holder", _int),
                ("holder_died", _int), ("depth", _uint), ("value", _sz),
                ("bound", _sz), ("is_set", _int), ("parties", _sz),
                ("waiting", _sz), ("broken", _int), ("waiters", _uint),
                ("text", _c.c_char * 160)]


class _Info(_c.Structure):
    _fields_ = [("name", _c.c_char * 201), ("status", _int), ("dtype", _int),
                ("ndim", _sz), ("shape", _sz * 8), ("nbytes", _sz),
                ("data_offset", _sz), ("ctl_offset", _sz),
                ("segment_size", _sz), ("uid", _uint), ("mode", _uint),
                ("flags", _uint), ("creator", _int), ("creator_alive", _int),
                ("created_sec", _c.c_int64), ("attached", _uint),
                ("id", _c.c_ubyte * 16), ("path", _c.c_char * 216),
                ("detail", _c.c_char * 256), ("kind", _int),
                ("obj", _ObjState)]


class _WorkRec(_c.Structure):
    _fields_ = [("array", _c.c_char * 201), ("row_start", _sz),
                ("row_end", _sz), ("tag", _c.c_int64),
                ("i", _c.c_int64 * 4), ("d", _dbl * 4)]


_VPP = _P(_vp)
# Every function used, with its result and argument types: an unset
# restype is int, which would cut 64-bit pointers in half.
_PROTOS = {
    "sharr_version_string": (_cp, []),
    "sharr_strerror": (_cp, [_int]),
    "sharr_errmsg": (_cp, []),
    "sharr_dtype_name": (_cp, [_int]),
    "sharr_dtype_descr": (_cp, [_int]),
    "sharr_dtype_parse": (_int, [_cp, _P(_int)]),
    "sharr_kind_name": (_cp, [_int]),
    "sharr_array_create": (_int, [_cp, _int, _sz, _P(_sz), _P(_CreateOpts),
                                  _VPP]),
    "sharr_array_open": (_int, [_cp, _uint, _VPP]),
    "sharr_array_keep": (_int, [_vp]),
    "sharr_array_close": (None, [_vp]),
    "sharr_array_data": (_vp, [_vp]),
    "sharr_array_dtype": (_int, [_vp]),
    "sharr_array_ndim": (_sz, [_vp]),
    "sharr_array_shape": (_P(_sz), [_vp]),
    "sharr_array_nbytes": (_sz, [_vp]),
    "sharr_array_name": (_cp, [_vp]),
    "sharr_array_writable": (_int, [_vp]),
    "sharr_array_lock_timed": (_int, [_vp, _dbl]),
    "sharr_array_unlock": (_int, [_vp]),
    "sharr_unlink": (_int, [_cp]),
    "sharr_stat": (_int, [_cp, _P(_Info)]),
    "sharr_lock_create": (_int, [_cp, _int, _P(_CreateOpts), _VPP]),
    "sharr_lock_open": (_int, [_cp, _uint, _VPP]),
    "sharr_lock_close": (None, [_vp]),
    "sharr_lock_acquire": (_int, [_vp, _dbl]),
    "sharr_lock_release": (_int, [_vp]),
    "sharr_lock_recursive": (_int, [_vp]),
    "sharr_queue_create": (_int, [_cp, _sz, _sz, _P(_CreateOpts), _VPP]),
    "sharr_queue_open": (_int, [_cp, _uint, _VPP]),
    "sharr_queue_close": (None, [_vp]),
    "sharr_queue_put": (_int, [_vp, _cp, _sz, _dbl]),
    "sharr_queue_put_many": (_int, [_vp, _P(_cp), _P(_sz), _sz, _dbl]),
    "sharr_queue_get": (_int, [_vp, _vp, _sz, _P(_sz), _dbl]),
    "sharr_queue_get_many": (_int, [_vp, _vp, _sz, _P(_sz), _sz, _dbl]),
    "sharr_queue_shutdown": (_int, [_vp]),
    "sharr_queue_task_done": (_int, [_vp, _sz]),
    "sharr_queue_join": (_int, [_vp, _dbl]),
    "sharr_queue_count": (_int, [_vp, _P(_sz), _P(_sz)]),
    "sharr_queue_closed": (_int, [_vp]),
    "sharr_queue_capacity": (_sz, [_vp]),
    "sharr_queue_max_msg": (_sz, [_vp]),
    "sharr_queue_put_work": (_int, [_vp, _P(_WorkRec), _dbl]),
    "sharr_queue_get_work": (_int, [_vp, _P(_WorkRec), _dbl]),
}


def _load():
    """(CDLL, path) of libsharr, in the order the module docstring says."""
    env = os.environ.get("SHARR_LIBRARY")
    if env:
        try:
            return _c.CDLL(env), env
        except OSError as e:
            raise ImportError("sharr: cannot load $SHARR_LIBRARY=%s: %s"
                              % (env, e)) from None
    if _INSTALLED != "@" "SHARR_LIBRARY@":
        paths = [_INSTALLED]
    else:  # in the source tree: tools/python/sharr.py -> lib/libsharr.so.0
        top = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.realpath(__file__))))
        paths = [os.path.join(top, "lib", "libsharr.so.0")]
    tried = []
    for p in paths + [None]:
        p = p or ctypes.util.find_library("sharr")  # slow: only if needed
        if not p:
            tried.append("find_library('sharr'): not found")
            continue
        try:
            return _c.CDLL(p), p
        except OSError as e:
            tried.append(str(e))
    raise ImportError("sharr: libsharr.so.0 not found (%s); build it with "
                      "`make`, install it with `make install` (then "
                      "ldconfig), or set SHARR_LIBRARY=/path/to/libsharr.so.0"
                      % "; ".join(tried))


_lib, library_path = _load()
for _name, (_res, _args) in _PROTOS.items():
    try:
        _f = getattr(_lib, _name)
    except AttributeError:
        raise ImportError("sharr: %s has no %s: it is older than this module"
                          % (library_path, _name)) from None
    _f.restype, _f.argtypes = _res, _args
__version__ = _lib.sharr_version_string().decode()

# ---- errors ----

# SHARR_E* values (include/sharr.h, SHARR_ERRORS; the tests compare them).
(EPERM, ENOENT, EIO, ENOMEM, EACCES, EBUSY, EEXIST, EINVAL, ENOSPC, EDOM,
 ERANGE, EOVERFLOW, ETIMEDOUT, ECANCELED, EOWNERDEAD) = (
    -_errno.EPERM, -_errno.ENOENT, -_errno.EIO, -_errno.ENOMEM,
    -_errno.EACCES, -_errno.EBUSY, -_errno.EEXIST, -_errno.EINVAL,
    -_errno.ENOSPC, -_errno.EDOM, -_errno.ERANGE, -_errno.EOVERFLOW,
    -_errno.ETIMEDOUT, -_errno.ECANCELED, -_errno.EOWNERDEAD)
ECORRUPT, EFOREIGN, EWORKER, EDTYPE = -1001, -1002, -1003, -1004
ESHAPE, EHDF5, EUNSUPPORTED = -1005, -1006, -1007
EKIND, EFULL, EEMPTY, ECLOSED, EBROKEN = -1020, -1021, -1022, -1023, -1024
_CODES = {k: v for k, v in globals().items()
          if k[:1] == "E" and k.isupper() and isinstance(v, int)}
_NAMES = {v: k for k, v in _CODES.items()}


class Error(OSError):
    """A failure of libsharr: .code (negative SHARR_E* value), .codename
    ("SHARR_EEMPTY"), .detail (sharr_errmsg() of the failing call) and
    .errno (the errno for OS failures, else None)."""

    def __init__(self, code, detail=""):
        self.code, self.detail = code, detail
        self.codename = "SHARR_" + _NAMES.get(code, str(code))
        self.strerror = _lib.sharr_strerror(code).decode()
        self.message = "%s (%s)" % (detail or self.strerror, self.codename)
        super().__init__(self.message)
        self.errno = -code if -1000 < code < 0 else None

    def __str__(self):
        return self.message

    def __reduce__(self):       # pickles (multiprocessing, futures)
        return self.__class__, (self.code, self.detail)


class Full(Error, _queue.Full):
    """The queue had no room in time (queue.Full)."""


class Empty(Error, _queue.Empty):
    """The queue had no message in time (queue.Empty)."""


class ShutDown(Error, *([_queue.ShutDown] if hasattr(_queue, "ShutDown")
                         else [])):
    """The queue is shut down: no more puts; gets drained it (Python
    3.13's queue.ShutDown where it exists)."""


class Timeout(Error, TimeoutError):
    """A wait that timed out where no bool can say so (a with block)."""


class NotFoundError(Error, FileNotFoundError):
    """No object of that name."""


class ExistsError(Error, FileExistsError):
    """The name is taken."""


class AccessError(Error, PermissionError):
    """Permission denied, or another user's object (SHARR_EFOREIGN)."""


class InvalidError(Error, ValueError):
    """A value the library refused: name, shape, dtype, size, range."""


class KindError(Error):
    """The name holds an object of another kind (an array, not a queue)."""


class NotHeldError(Error, RuntimeError):
    """release() of a lock the calling thread does not hold."""


class OwnerDiedWarning(RuntimeWarning):
    """A lock was acquired from a holder that died holding it."""


_CLASSES = {ENOENT: NotFoundError, EEXIST: ExistsError, EACCES: AccessError,
            EPERM: AccessError, EFOREIGN: AccessError, EINVAL: InvalidError,
            ERANGE: InvalidError, EDTYPE: InvalidError, ESHAPE: InvalidError,
            EOVERFLOW: InvalidError, EKIND: KindError, EFULL: Full,
            EEMPTY: Empty, ECLOSED: ShutDown, ETIMEDOUT: Timeout}


def _error(code):
    """The exception for `code`; call it right after the failing call:
    sharr_errmsg() is the calling thread's, until its next failure."""
    detail = _lib.sharr_errmsg().decode("utf-8", "replace")
    return _CLASSES.get(code, Error)(code, detail)


def _check(code):
    if code < 0:
        raise _error(code)
    return code


# ---- arguments ----

def _name(name):
    if not isinstance(name, str):
        raise TypeError("a name is a str, not %s" % type(name).__name__)
    if "\0" in name:
        raise ValueError("name %r contains a NUL character" % name)
    return name.encode()


def _size(n, what):
    n = _index(n, what)
    if n < 0 or n >= 1 << 64:
        raise ValueError("%s = %d: must be 0 .. 2**64-1" % (what, n))
    return n


def _index(n, what):
    try:
        return operator.index(n)
    except TypeError:
        raise TypeError("%s must be an integer, not %s"
                        % (what, type(n).__name__)) from None


def _seconds(timeout, block=True):
    """sharr's timeout for a Python one: -1 for ever, 0 once, else seconds."""
    if not block:
        return 0.0
    if timeout is None:
        return -1.0
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError("timeout must be seconds or None, not %s"
                        % type(timeout).__name__)
    t = float(timeout)
    if math.isnan(t):
        raise ValueError("timeout is NaN")
    return -1.0 if t < 0 or t == math.inf else t


def _opts(temp, mode):
    mode = _index(mode, "mode")
    if not 0 <= mode <= 0o777:
        raise ValueError("mode %o: only permission bits (0 .. 0o777)" % mode)
    return _CreateOpts(1 if temp else 0, mode, 0)


def _wait(obj, call, t, again):
    """call(seconds) -> code, in slices of at most _SLICE while it returns
    `again` (the code of a wait that ran out) and time is left; the slices
    let signal handlers run (Ctrl-C) and stop when obj is closed."""
    if 0 <= t <= _SLICE:
        return call(t)
    end = math.inf if t < 0 else time.monotonic() + t
    while True:
        left = end - time.monotonic()
        code = call(min(_SLICE, max(left, 0.0)))
        if code != again or left <= _SLICE:
            return code
        if obj._h is None:
            raise ValueError("%r was closed while waiting" % obj)


class _Handle:
    """A C handle, released by `free` when the last reference goes: a call
    in flight holds one, so close() from another thread never frees a
    handle under it."""
    __slots__ = ("p", "free")

    def __init__(self, free):
        self.p, self.free = _vp(), free

    def __del__(self):
        if self.p:
            try:
                self.free(self.p)
            except Exception:   # interpreter shutdown
                pass
            self.p = None


def _new(free, fn, *args, cls=_Handle):
    """Run constructor fn(*args, &out) and wrap its handle in a cls."""
    h = cls(free)
    _check(fn(*args, _c.byref(h.p)))
    return h


def _owner_died(obj, code, stacklevel):
    obj.owner_died = code == EOWNERDEAD
    if obj.owner_died:
        warnings.warn(OwnerDiedWarning(
            _lib.sharr_errmsg().decode("utf-8", "replace")),
            stacklevel=stacklevel + 1)


class _Held:
    """The context manager of Array.lock() and Lock.hold()."""

    def __init__(self, obj, timeout):
        self.obj, self.t = obj, _seconds(timeout)
        self.owner_died = False

    def __enter__(self):
        err = self.obj._acquire(self.t, 2)
        if err is not None:
            raise err
        self.owner_died = self.obj.owner_died
        return self

    def __exit__(self, *exc):
        self.obj.release()


# ---- dtypes and arrays ----

_np_module = None


def _numpy():
    global _np_module
    if _np_module is None:
        try:
            import numpy
        except ImportError as e:
            raise ImportError("sharr: arrays need NumPy (Debian: "
                              "python3-numpy): %s" % e) from None
        _np_module = numpy
    return _np_module


def _dtype_code(dtype):
    """sharr's dtype for a str (sharr's parser: the CLI's names, 'i8' is
    int8) or anything np.dtype() takes (through its typestr, '<i8')."""
    if not isinstance(dtype, str):
        try:
            dtype = _numpy().dtype(dtype).str
        except TypeError as e:
            raise TypeError("not a dtype: %r (%s)" % (dtype, e)) from None
    code = _int()
    _check(_lib.sharr_dtype_parse(_name(dtype), _c.byref(code)))
    return code.value


def _descr(code):
    return _lib.sharr_dtype_descr(code).decode()


def _dtype_names():
    names, code = [], 1
    while _lib.sharr_dtype_name(code):
        names.append(_lib.sharr_dtype_name(code).decode())
        code += 1
    return tuple(names)


dtypes = _dtype_names()   # sharr's names, in the order of their codes


class _Mapping(_Handle):
    """An array's C handle, and the owner (ndarray.base) of its views: it
    is unmapped only when no view of it is left."""
    __slots__ = ("__array_interface__",)


class Array:
    """A named shared array (sharr.create(), sharr.open()).

    .array is a NumPy view of the shared elements (C order); writes are
    seen by every process at once.  The mapping lives as long as any view
    of it, whatever happens to this handle.  Use the handle as a context
    manager to close it.  Attributes: name, dtype (NumPy), dtype_name
    (sharr's), shape, ndim, nbytes, writable, owner_died."""

    def __init__(self, h):
        np = _numpy()
        p = h.p
        code = _lib.sharr_array_dtype(p)
        ndim = _lib.sharr_array_ndim(p)
        shp = _lib.sharr_array_shape(p)
        self.shape = tuple(shp[i] for i in range(ndim))
        self.writable = bool(_lib.sharr_array_writable(p))
        h.__array_interface__ = {
            "version": 3, "shape": self.shape, "typestr": _descr(code),
            "data": (_lib.sharr_array_data(p), not self.writable)}
        self._array = np.asarray(h)
        self._h = h
        self.name = _lib.sharr_array_name(p).decode()
        self.dtype, self.dtype_name = self._array.dtype, dtypes[code - 1]
        self.ndim, self.nbytes = ndim, _lib.sharr_array_nbytes(p)
        self.owner_died = False
        self._tlock = threading.Lock()   # one thread at a time per handle
        self._holder = self._held = None

    @property
    def array(self):
        """The NumPy view (read-only for sharr.open(..., readonly=True))."""
        if self._h is None:
            raise ValueError("array handle %r is closed" % self.name)
        return self._array

    def __array__(self, dtype=None, copy=None):
        a = self.array
        if copy or (dtype is not None and a.dtype != dtype):
            return a.astype(a.dtype if dtype is None else dtype)
        return a

    def lock(self, timeout=None):
        """Context manager holding the array's lock (sharr_array_lock):
        raises Timeout if not taken within `timeout`."""
        return _Held(self, timeout)

    def acquire(self, blocking=True, timeout=None):
        """Take the array's lock: True, or False if the time ran out."""
        return self._acquire(_seconds(timeout, blocking), 2) is None

    def _acquire(self, t, stacklevel):
        h = self._h
        if h is None:
            raise ValueError("array handle %r is closed" % self.name)
        if self._holder == threading.get_ident():
            raise Error(EBUSY, "this thread already holds the lock of '%s' "
                        "(it is not recursive)" % self.name)
        start = time.monotonic()
        if not (self._tlock.acquire(False) if t == 0 else
                self._tlock.acquire(True, min(t, threading.TIMEOUT_MAX))):
            return Timeout(ETIMEDOUT, "the lock of '%s' is held by another "
                           "thread of this process" % self.name)
        left = t if t <= 0 else max(0.0, t - (time.monotonic() - start))
        try:
            code = _wait(self, lambda s: _lib.sharr_array_lock_timed(h.p, s),
                         left, ETIMEDOUT)
        except BaseException:
            self._tlock.release()
            raise
        if code < 0 and code != EOWNERDEAD:
            err = _error(code)
            self._tlock.release()
            if code == ETIMEDOUT:
                return err
            raise err
        self._holder, self._held = threading.get_ident(), h
        _owner_died(self, code, stacklevel + 1)
        return None

    def release(self):
        """Release the lock this thread took (NotHeldError otherwise, also
        in a forked child: the lock stays its parent's)."""
        if self._holder != threading.get_ident():
            raise NotHeldError(EPERM, "this thread does not hold the lock "
                               "of '%s'" % self.name)
        h, self._holder, self._held = self._held, None, None
        code = _lib.sharr_array_unlock(h.p)
        self._tlock.release()
        if code == EPERM:   # a forked child's copy of the holder's handle
            raise NotHeldError(EPERM, _lib.sharr_errmsg().decode(
                "utf-8", "replace"))
        _check(code)

    def keep(self):
        """Make a temporary array this handle created permanent."""
        if self._h is None:
            raise ValueError("array handle %r is closed" % self.name)
        _check(_lib.sharr_array_keep(self._h.p))

    def close(self):
        """Let go of the handle (releasing the lock if this thread holds
        it).  Views taken from .array stay valid: the memory is unmapped
        when the last of them is gone.  The segment stays (see unlink)."""
        if self._holder == threading.get_ident():
            self.release()
        self._h = self._array = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<sharr.Array %r %s %s%s%s>" % (
            self.name, self.dtype_name,
            "x".join(map(str, self.shape)) or "scalar",
            "" if self.writable else " read-only",
            " closed" if self._h is None else "")


def create(name, shape, dtype="f64", *, temp=False, mode=0):
    """Create the zero-filled shared array `name` of `shape` (an int, a
    tuple; () for a scalar) and `dtype`: sharr's names as the CLI takes
    them ("f64", "c64", "int16"; sharr's "i8" is int8) or anything
    np.dtype() takes (np.complex128, "<i8").  temp=True removes it when
    this process exits; mode: permission bits (0: 0o600).  -> Array"""
    _numpy()   # before anything is created
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        shape = list(shape)
    except TypeError:
        raise TypeError("shape must be an int or a sequence of ints, not "
                        "%s" % type(shape).__name__) from None
    dims = [_size(d, "shape[%d]" % i) for i, d in enumerate(shape)]
    code = _dtype_code(dtype)
    c_shape = (_sz * max(1, len(dims)))(*dims)
    o = _opts(temp, mode)
    return Array(_new(_lib.sharr_array_close, _lib.sharr_array_create,
                      _name(name), code, len(dims), c_shape, _c.byref(o),
                      cls=_Mapping))


def open(name, readonly=False, *, foreign=False):
    """Attach to the existing array `name` (readonly: a read-only view;
    foreign: accept another user's segment).  -> Array"""
    _numpy()
    flags = (1 if readonly else 0) | (2 if foreign else 0)
    return Array(_new(_lib.sharr_array_close, _lib.sharr_array_open,
                      _name(name), flags, cls=_Mapping))


def unlink(name):
    """Remove the array (or queue, lock ...) `name`; attached processes
    keep using it."""
    _check(_lib.sharr_unlink(_name(name)))


Info = collections.namedtuple("Info", [
    "name", "kind", "dtype", "shape", "nbytes", "segment_size", "uid",
    "mode", "temp", "creator", "creator_alive", "created", "attached",
    "id", "path", "state"])


def stat(name):
    """What `sharr info NAME` shows, without mapping it: an Info with kind
    ("array", "queue", "lock" ...), dtype (sharr's name, None but for
    arrays), shape, nbytes, segment_size, uid, mode, temp, creator (pid),
    creator_alive (True, False, None: unknown), created (Unix seconds),
    attached, id (hex), path and state (the object's state in words)."""
    i = _Info()
    _check(_lib.sharr_stat(_name(name), _c.byref(i)))
    return Info(i.name.decode(), _lib.sharr_kind_name(i.kind).decode(),
                dtypes[i.dtype - 1] if 1 <= i.dtype <= len(dtypes) else None,
                tuple(i.shape[:i.ndim]), i.nbytes, i.segment_size, i.uid,
                i.mode, bool(i.flags & 1), i.creator,
                None if i.creator_alive < 0 else bool(i.creator_alive),
                i.created_sec, i.attached, bytes(i.id).hex(),
                i.path.decode(), i.obj.text.decode())


# ---- named locks ----

class Lock:
    """A named, robust, process-shared Lock or RLock (Lock.create(),
    Lock.open()), held by a thread as threading.Lock is.  `with lock:`
    holds it (waiting for ever); `with lock.hold(timeout):` raises Timeout
    instead of waiting longer."""

    def __init__(self, h, name):
        self._h, self.name = h, name
        self.recursive = bool(_lib.sharr_lock_recursive(h.p))
        self.owner_died = False
        self._holder, self._depth, self._held = None, 0, None

    @classmethod
    def create(cls, name, recursive=False, *, temp=False, mode=0):
        """Create the free Lock (or RLock, recursive=True) `name`."""
        o = _opts(temp, mode)
        return cls(_new(_lib.sharr_lock_close, _lib.sharr_lock_create,
                        _name(name), 1 if recursive else 0, _c.byref(o)),
                   name)

    @classmethod
    def open(cls, name, *, foreign=False):
        """Attach to the existing Lock or RLock `name`."""
        return cls(_new(_lib.sharr_lock_close, _lib.sharr_lock_open,
                        _name(name), 2 if foreign else 0), name)

    def acquire(self, blocking=True, timeout=None):
        """Take the lock: True, or False if the time ran out.  A Lock (not
        an RLock) this thread holds already raises Error (SHARR_EBUSY)."""
        return self._acquire(_seconds(timeout, blocking), 2) is None

    def _acquire(self, t, stacklevel):
        h = self._h
        if h is None:
            raise ValueError("lock handle %r is closed" % self.name)
        code = _wait(self, lambda s: _lib.sharr_lock_acquire(h.p, s), t,
                     ETIMEDOUT)
        if code < 0 and code != EOWNERDEAD:
            err = _error(code)
            if code == ETIMEDOUT:
                return err
            raise err
        self._holder, self._held = threading.get_ident(), h
        self._depth += 1
        _owner_died(self, code, stacklevel + 1)
        return None

    def release(self):
        """Release the lock (an RLock: once)."""
        h = self._held if self._holder == threading.get_ident() else None
        code = _lib.sharr_lock_release(h.p) if h else EPERM
        if code == EPERM:
            raise NotHeldError(EPERM, "this thread does not hold the lock "
                               "'%s'" % self.name)
        _check(code)
        self._depth -= 1
        if self._depth == 0:
            self._holder = self._held = None

    def hold(self, timeout=None):
        """Context manager holding the lock; raises Timeout in time."""
        return _Held(self, timeout)

    def __enter__(self):
        self._acquire(-1.0, 2)
        return self

    def __exit__(self, *exc):
        self.release()

    def close(self):
        """Let go of the handle, releasing the lock if this thread holds
        it.  The named lock stays until unlink()."""
        while self._holder == threading.get_ident():
            self.release()
        self._h = None

    def __repr__(self):
        return "<sharr.%s %r%s>" % ("RLock" if self.recursive else "Lock",
                                    self.name,
                                    " closed" if self._h is None else "")


# ---- queues ----

Work = collections.namedtuple("Work", "array row_start row_end tag i d")
Work.__doc__ = """A work record (sharr_work): rows [row_start, row_end) of
the array named `array` ("" for none), an int `tag`, 4 ints `i` and 4
floats `d`."""


def _bytes(msg):
    if isinstance(msg, bytes):
        return msg
    if isinstance(msg, str):
        raise TypeError("messages are bytes: encode the str (msg.encode())")
    try:
        return memoryview(msg).tobytes()
    except TypeError:
        raise TypeError("a message is bytes-like, not %s"
                        % type(msg).__name__) from None


class Queue:
    """A named, bounded, multi-producer multi-consumer FIFO of byte
    messages (Queue.create(), Queue.open()), with JoinableQueue's
    task_done() and join() and Python 3.13's shutdown().  A handle may be
    used by several threads at once; use it as a context manager to close
    it.  put() raises Full, get() Empty (queue.Full, queue.Empty), both
    ShutDown once the queue is shut down (get: once it is drained too)."""

    def __init__(self, h, name):
        self._h, self.name = h, name
        self.capacity = _lib.sharr_queue_capacity(h.p)
        self.max_msg = _lib.sharr_queue_max_msg(h.p)
        self._tls = threading.local()   # each thread's receive buffer

    @classmethod
    def create(cls, name, capacity=0, max_msg=0, *, temp=False, mode=0):
        """Create the queue `name` holding `capacity` bytes of messages of
        at most `max_msg` bytes (0: 1 MiB and 64 KiB; a message of n bytes
        takes 8 + n rounded up to 8)."""
        o = _opts(temp, mode)
        return cls(_new(_lib.sharr_queue_close, _lib.sharr_queue_create,
                        _name(name), _size(capacity, "capacity"),
                        _size(max_msg, "max_msg"), _c.byref(o)), name)

    @classmethod
    def open(cls, name, *, foreign=False):
        """Attach to the existing queue `name`."""
        return cls(_new(_lib.sharr_queue_close, _lib.sharr_queue_open,
                        _name(name), 2 if foreign else 0), name)

    def _live(self):
        h = self._h
        if h is None:
            raise ValueError("queue handle %r is closed" % self.name)
        return h

    def _buffer(self, need=0):
        buf = getattr(self._tls, "buf", None)
        if buf is None or len(buf) < need:
            buf = _c.create_string_buffer(max(need, min(self.max_msg, 65536),
                                              1))
            self._tls.buf = buf
        return buf

    def put(self, msg, block=True, timeout=None):
        """Append the bytes-like `msg`; raises Full when no room came in
        time, ShutDown once shut down, InvalidError past max_msg."""
        data, t, h = _bytes(msg), _seconds(timeout, block), self._live()
        _check(_wait(self, lambda s: _lib.sharr_queue_put(h.p, data,
                                                          len(data), s),
                     t, EFULL))

    def put_nowait(self, msg):
        self.put(msg, False)

    def get(self, block=True, timeout=None):
        """Take the message at the head -> bytes; raises Empty when none
        came in time, ShutDown once shut down and drained."""
        t, h, n = _seconds(timeout, block), self._live(), _sz()

        def call(s):
            while True:
                buf = self._buffer()
                code = _lib.sharr_queue_get(h.p, buf, len(buf), _c.byref(n),
                                            s)
                if code != ERANGE or n.value <= len(buf):
                    return code
                self._buffer(n.value)   # longer than the buffer: it stayed
                s = 0.0                 # queued; take it now if still there
        _check(_wait(self, call, t, EEMPTY))
        return _c.string_at(self._buffer(), n.value)

    def get_nowait(self):
        return self.get(False)

    def put_many(self, msgs, timeout=None):
        """Append the messages in order, under one commit when they fit ->
        how many were put (fewer if the time ran out or the queue was shut
        down midway); raises Full / ShutDown when none was."""
        data = [_bytes(m) for m in msgs]
        t, h, done = _seconds(timeout), self._live(), 0
        end = math.inf if t < 0 else time.monotonic() + t
        while done < len(data):
            rest = data[done:]
            ptrs = (_cp * len(rest))(*rest)
            lens = (_sz * len(rest))(*map(len, rest))
            left = max(0.0, end - time.monotonic())
            code = _lib.sharr_queue_put_many(h.p, ptrs, lens, len(rest),
                                             min(left, _SLICE))
            if code >= 0:
                done += code
            elif code == EFULL and left > _SLICE:
                if self._h is None:
                    raise ValueError("%r was closed while waiting" % self)
            elif done and code in (EFULL, ECLOSED):
                break               # some were put: say how many
            else:
                raise _error(code)
            if left <= _SLICE and done < len(data) and code >= 0:
                break               # the time ran out midway
        return done

    def get_many(self, n, timeout=None):
        """Wait for a message, then take as many as are queued, up to n ->
        list of bytes (at least one); raises Empty / ShutDown as get()."""
        n = _index(n, "n")
        if n < 1:
            raise ValueError("n = %d: must be >= 1" % n)
        n = min(n, max(1, self.capacity // 8))  # a message takes >= 8 bytes
        t, h, lens = _seconds(timeout), self._live(), (_sz * n)()
        size = max(min(self.max_msg, 65536),
                   min(n * self.max_msg, self.capacity, 1 << 20), 1)

        def call(s):
            while True:
                buf = self._buffer(size)
                code = _lib.sharr_queue_get_many(h.p, buf, len(buf), lens, n,
                                                 s)
                if code != ERANGE or lens[0] <= len(buf):
                    return code
                self._buffer(lens[0])
                s = 0.0
        count = _check(_wait(self, call, t, EEMPTY))
        at, out = _c.addressof(self._buffer()), []
        for k in range(count):
            out.append(_c.string_at(at, lens[k]))
            at += lens[k]
        return out

    def put_work(self, array="", row_start=0, row_end=0, tag=0, i=(),
                 d=(), timeout=None):
        """Put a work record (sharr_queue_put_work) that a C consumer
        takes with sharr_queue_get_work(): rows [row_start, row_end) of
        `array`, plus up to 4 ints `i` and 4 floats `d`."""
        if len(i) > 4 or len(d) > 4:
            raise ValueError("a work record has at most 4 i and 4 d")
        w = _WorkRec(_name(array), _size(row_start, "row_start"),
                     _size(row_end, "row_end"), _index(tag, "tag"),
                     (_c.c_int64 * 4)(*i), (_dbl * 4)(*d))
        t, h = _seconds(timeout), self._live()
        _check(_wait(self, lambda s: _lib.sharr_queue_put_work(
            h.p, _c.byref(w), s), t, EFULL))

    def get_work(self, timeout=None):
        """Take a work record -> Work; InvalidError if the message taken
        was not one (it is consumed all the same)."""
        w, t, h = _WorkRec(), _seconds(timeout), self._live()
        _check(_wait(self, lambda s: _lib.sharr_queue_get_work(
            h.p, _c.byref(w), s), t, EEMPTY))
        return Work(w.array.decode(), w.row_start, w.row_end, w.tag,
                    tuple(w.i), tuple(w.d))

    def task_done(self, n=1):
        """Mark n messages taken earlier as processed (JoinableQueue)."""
        _check(_lib.sharr_queue_task_done(self._live().p, _size(n, "n")))

    def join(self, timeout=None):
        """Wait until every message put is marked done: True, or False if
        the time ran out."""
        t, h = _seconds(timeout), self._live()
        code = _wait(self, lambda s: _lib.sharr_queue_join(h.p, s), t,
                     ETIMEDOUT)
        if code == ETIMEDOUT:
            return False
        _check(code)
        return True

    def shutdown(self):
        """Shut the queue down for every process (Python 3.13's
        Queue.shutdown): puts raise ShutDown from now on, gets take what
        is queued, then raise ShutDown instead of waiting."""
        _check(_lib.sharr_queue_shutdown(self._live().p))

    @property
    def is_shutdown(self):
        return bool(_lib.sharr_queue_closed(self._live().p))

    def qsize(self):
        """Messages queued now (a snapshot)."""
        n = _sz()
        _lib.sharr_queue_count(self._live().p, _c.byref(n), None)
        return n.value

    def empty(self):
        return self.qsize() == 0

    def close(self):
        """Let go of this handle (unlike multiprocessing's Queue.close(),
        this is not end of stream: see shutdown()).  Waits of other
        threads on it end with ValueError within 0.1 s."""
        self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<sharr.Queue %r%s>" % (self.name,
                                       " closed" if self._h is None else "")
