"""What the interop tests share: running the sharr tool and counting checks.

    from harness import check, report, Sharr
"""
import subprocess

import numpy as np

# sharr's dtype names and NumPy's types.
NP = {"i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64,
      "u8": np.uint8, "u16": np.uint16, "u32": np.uint32, "u64": np.uint64,
      "f32": np.float32, "f64": np.float64, "c64": np.complex64,
      "c128": np.complex128}


def path(name):
    """The /dev/shm file of array `name`."""
    return "/dev/shm/sharr." + name


def put_array(sharr, name, v, dt):
    """Create array `name` (sharr dtype dt) holding the NumPy array v."""
    sharr("create", name, "--dtype", dt, "--shape",
          "x".join(map(str, v.shape)) or "scalar")
    a = np.load(path(name), mmap_mode="r+")
    a[...] = v
    del a
    return name


def read(name):
    """A private copy of array `name`."""
    return np.array(np.load(path(name), mmap_mode="r"))


def sigint_default(argv):
    """argv run with SIGINT at its default, as a program started from a
    terminal has it: a shell starts a background job (`make test &`) with
    SIGINT ignored, every child inherits that, and Ctrl-C would not reach a
    test's child at all."""
    return ["env", "--default-signal=INT"] + list(argv)


def namer(prefix):
    """A function giving a new name prefix + label + serial at each call."""
    serial = [0]

    def fresh(label):
        serial[0] += 1
        return "%s%s%d" % (prefix, label, serial[0])
    return fresh

_failures = []
_checks = [0]


def check(cond, what):
    """Count one check; print and remember it when it fails."""
    _checks[0] += 1
    if not cond:
        _failures.append(what)
        print("FAIL:", what)


def report(title):
    """Print the summary line; the exit status for sys.exit()."""
    print("%s: %d checks, %d failed" % (title, _checks[0], len(_failures)))
    return 1 if _failures else 0


class Sharr:
    """The sharr tool: sharr("create", ...) runs it, raising on failure
    unless ok=False; the stdout of a success comes back as text."""

    def __init__(self, binary):
        self.binary = binary

    def run(self, *args):
        return subprocess.run([self.binary] + [str(a) for a in args],
                              capture_output=True, text=True)

    def __call__(self, *args, ok=True):
        r = self.run(*args)
        if ok and r.returncode != 0:
            raise RuntimeError("sharr %s failed (%d): %s"
                               % (" ".join(map(str, args)), r.returncode,
                                  r.stderr))
        return r.stdout if ok else r


def run_tests(namespace, title, prefix, cleanup=None):
    """Run every test_* function of `namespace` in name order, then remove
    the segments named sharr.<prefix>* (and call cleanup) whatever
    happened.  The exit status for sys.exit()."""
    import glob
    import os
    try:
        for name, fn in sorted(namespace.items()):
            if name.startswith("test_") and callable(fn):
                fn()
    finally:
        for p in glob.glob("/dev/shm/sharr." + prefix + "*"):
            os.unlink(p)
        if cleanup:
            cleanup()
    return report(title)
