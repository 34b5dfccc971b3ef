#!/usr/bin/python3
"""Interop with NumPy: arrays made by the `sharr` tool are zero-copy NumPy
views via numpy.load(path, mmap_mode='r+'), and each side sees the other's
writes.  Run with Debian's /usr/bin/python3 (python3-numpy):

    /usr/bin/python3 tests/interop/test_numpy.py /path/to/sharr
"""
import os
import sys

import numpy as np

from harness import Sharr, check, run_tests

SHARR = sys.argv[1]
PREFIX = "ti.%d." % os.getpid()
DTYPES = {"i8": "|i1", "i16": "<i2", "i32": "<i4", "i64": "<i8",
          "u8": "|u1", "u16": "<u2", "u32": "<u4", "u64": "<u8",
          "f32": "<f4", "f64": "<f8", "c64": "<c8", "c128": "<c16"}
sharr = Sharr(SHARR)


def path(name):
    return "/dev/shm/sharr." + name


def dumped(name, dtype):
    """The values `sharr dump` prints, as a flat NumPy array."""
    conv = complex if np.dtype(dtype).kind == "c" else (
        float if np.dtype(dtype).kind == "f" else int)
    vals = [conv(v) for line in sharr("dump", name).split() for v in [line]]
    return np.array(vals, dtype=dtype)


def test_every_dtype_is_a_numpy_view_with_identical_values():
    for dt, descr in DTYPES.items():
        for fill in ("range", "random:11"):
            name = PREFIX + dt
            sharr("create", name, "--dtype", dt, "--shape", "3x4x5",
                  "--fill", fill)
            a = np.load(path(name), mmap_mode="r+")
            check(isinstance(a, np.memmap), "%s is a memmap" % dt)
            check(a.dtype == np.dtype(descr), "%s dtype %s" % (dt, a.dtype))
            check(a.shape == (3, 4, 5), "%s shape %s" % (dt, a.shape))
            if fill == "range":
                want = np.arange(60, dtype=np.uint64).astype(descr)
                check(np.array_equal(a.ravel(), want.reshape(-1)),
                      "%s range values" % dt)
            got = dumped(name, descr)
            check(np.array_equal(a.ravel(), got, equal_nan=True)
                  if a.dtype.kind in "fc" else np.array_equal(a.ravel(), got),
                  "%s %s: numpy and sharr dump agree" % (dt, fill))
            del a
            sharr("rm", name)


def test_numpy_writes_are_seen_by_sharr_without_copy():
    name = PREFIX + "w"
    sharr("create", name, "--dtype", "c128", "--shape", "2x3")
    a = np.load(path(name), mmap_mode="r+")
    a[1, 2] = 0.6 - 0.8j
    a[0, 0] = np.inf + 1j
    check(sharr("dump", name, "--rows", "1").split()[2] == "0.6-0.8j",
          "numpy write seen by sharr dump")
    check(sharr("dump", name, "--rows", "0").split()[0] == "inf+1j",
          "numpy inf seen by sharr dump")
    # And the other way: the tool fills, the live numpy view changes.
    sharr("fill", name, "2+3j")
    check(a[1, 1] == 2 + 3j, "sharr fill seen by the live numpy view")
    del a
    sharr("rm", name)


def test_scalar_is_a_0d_array():
    name = PREFIX + "s"
    sharr("create", name, "--dtype", "f64", "--shape", "", "--fill", "-2.5")
    a = np.load(path(name), mmap_mode="r+")
    check(a.shape == () and float(a) == -2.5, "scalar %r" % (a,))
    a[()] = 7.25
    check(sharr("dump", name).strip() == "7.25", "scalar write seen")
    del a
    sharr("rm", name)


def test_header_is_what_numpy_itself_would_read():
    name = PREFIX + "h"
    sharr("create", name, "--dtype", "i16", "--shape", "7x1x9")
    with open(path(name), "rb") as f:
        version = np.lib.format.read_magic(f)
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        check(f.tell() == 4096, "data offset %d" % f.tell())
    check(version == (1, 0) and shape == (7, 1, 9) and not fortran
          and dtype == np.dtype("<i2"), "header %r" % ((shape, fortran,
                                                       dtype),))
    sharr("rm", name)


def main():
    return run_tests(globals(), "interop numpy", PREFIX)


if __name__ == "__main__":
    sys.exit(main())
