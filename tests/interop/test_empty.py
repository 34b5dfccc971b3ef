#!/usr/bin/python3
"""Empty arrays, reshape and per-row figures against NumPy and h5py.

- Empty arrays both ways through h5py (zero dimensions, chunked with
  unlimited max shape, h5py.Empty null dataspaces as shape (0,)) and .npy
  (np.save / np.load), every dtype; NumPy attaches to empty segments.
- `sharr reshape` is seen by the next numpy.load, with the same values in
  C order.
- `sharr stat --per-row --into` equals NumPy's per-row sum, mean, min, max
  and 2-norm (over every axis but the first) within the README's stated
  tolerance (1e-12 relative; integer sums and min/max exactly), with NaN
  means for empty rows, and is bit-identical for -j 1 and -j 2.

    /usr/bin/python3 tests/interop/test_empty.py /path/to/sharr
"""
import os
import shutil
import sys
import tempfile

import h5py
import numpy as np

from harness import NP, Sharr, check, namer, path, put_array, read, run_tests

SHARR = sys.argv[1]
PREFIX = "ti.%d." % os.getpid()
TMP = tempfile.mkdtemp(prefix="sharr-empty-")
sharr = Sharr(SHARR)
fresh = namer(PREFIX)
SHAPES = [(0,), (0, 4), (3, 0), (2, 0, 5)]
RTOL = 1e-12


def shape_text(shape):
    return "x".join(map(str, shape)) or "scalar"


def test_numpy_attaches_to_empty_arrays_of_every_dtype():
    for k, dt in enumerate(NP):
        shape = SHAPES[k % len(SHAPES)]
        name = fresh("n")
        sharr("create", name, "--dtype", dt, "--shape", shape_text(shape))
        a = np.load(path(name), mmap_mode="r+")
        check(a.shape == shape and a.dtype == NP[dt],
              "%s %s: numpy sees %s %s" % (dt, shape, a.shape, a.dtype))
        check(a.size == 0 and a.sum() == 0, "%s %s: not empty" % (dt, shape))
        del a


def test_npy_files_go_both_ways():
    for k, dt in enumerate(NP):
        shape = SHAPES[(k + 1) % len(SHAPES)]
        src = os.path.join(TMP, "in%d.npy" % k)
        np.save(src, np.zeros(shape, NP[dt]))
        name = fresh("y")
        sharr("load", src, name)
        got = read(name)
        check(got.shape == shape and got.dtype == NP[dt],
              ".npy load %s %s: %s %s" % (dt, shape, got.shape, got.dtype))
        out = os.path.join(TMP, "out%d.npy" % k)
        sharr("save", name, out)
        back = np.load(out)
        check(back.shape == shape and back.dtype == NP[dt],
              ".npy save %s %s: %s %s" % (dt, shape, back.shape, back.dtype))


def test_h5py_empty_datasets_load_with_their_shape():
    f5 = os.path.join(TMP, "made.h5")
    with h5py.File(f5, "w") as f:
        f.create_dataset("zero", shape=(0, 3), dtype="<i4")
        f.create_dataset("zbe", shape=(4, 0), dtype=">f8")
        f.create_dataset("chunked", shape=(0, 6), dtype="<c8",
                         chunks=(4, 6), maxshape=(None, 6),
                         compression="gzip", shuffle=True)
        f["null"] = h5py.Empty("<u2")
        f["nullf"] = h5py.Empty("<f4")
    want = {"zero": ((0, 3), np.int32), "zbe": ((4, 0), np.float64),
            "chunked": ((0, 6), np.complex64), "null": ((0,), np.uint16),
            "nullf": ((0,), np.float32)}
    for j, (dset, (shape, dt)) in enumerate(sorted(want.items())):
        name = fresh("h")
        r = sharr("load", "%s:/%s" % (f5, dset), name, "-j", 1 + j % 2,
                  ok=False)
        check(r.returncode == 0 and r.stdout.strip() == name,
              "load %s: exit %d: %s" % (dset, r.returncode, r.stderr))
        if r.returncode == 0:
            got = read(name)
            check(got.shape == shape and got.dtype == dt,
                  "load %s: %s %s, want %s %s" % (dset, got.shape, got.dtype,
                                                  shape, dt))


def test_sharr_saves_empty_datasets_h5py_reads():
    f5 = os.path.join(TMP, "saved.h5")
    for k, dt in enumerate(NP):
        shape = SHAPES[(k + 2) % len(SHAPES)]
        name = fresh("s")
        sharr("create", name, "--dtype", dt, "--shape", shape_text(shape))
        opts = ["--gzip", "4", "--shuffle"] if k % 2 else []
        sharr("save", name, "%s:/d%d" % (f5, k), "-j", 1 + k % 2, *opts)
        with h5py.File(f5, "r") as f:
            d = f["d%d" % k]
            check(d.shape == shape and d.dtype == NP[dt],
                  "h5py reads %s %s as %s %s" % (dt, shape, d.shape, d.dtype))
            check(d[()].shape == shape, "h5py reads the data of %s" % dt)


def test_reshape_is_seen_by_the_next_numpy_load():
    name = fresh("r")
    v = np.arange(60, dtype=np.float32).reshape(6, 10) * 0.5 - 3
    put_array(sharr, name, v, "f32")
    for shape in [(3, 4, 5), (60,), (2, 30), (1, 60, 1)]:
        sharr("reshape", name, shape_text(shape))
        a = read(name)
        check(a.shape == shape, "reshape %s: numpy sees %s" % (shape, a.shape))
        check(np.array_equal(a, v.reshape(shape)),
              "reshape %s: values moved" % (shape,))
    r = sharr("reshape", name, "7x9", ok=False)
    check(r.returncode == 1 and "60 elements" in r.stderr,
          "reshape to 63 elements: %d %s" % (r.returncode, r.stderr))
    check(read(name).shape == (1, 60, 1), "a refused reshape changed it")


FIGS = ["count", "sum", "mean", "min", "max", "norm2"]


def per_row_into(name, jobs, cx):
    figs = [f for f in FIGS if not (cx and f in ("min", "max"))]
    outs = {f: fresh("o" + f) for f in figs}
    sharr("stat", name, "--per-row", "-j", jobs, "--into",
          ",".join("%s=%s" % (f, outs[f]) for f in figs))
    return {f: read(o) for f, o in outs.items()}


def numpy_figures(x):
    rows = x.reshape(x.shape[0], -1) if x.ndim else x.reshape(1, -1)
    wide = rows.astype(np.complex128 if x.dtype.kind == "c" else np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        fig = {"count": np.full(rows.shape[0], rows.shape[1], np.uint64),
               "sum": wide.sum(axis=1),
               "mean": wide.sum(axis=1) / rows.shape[1],
               "norm2": np.linalg.norm(wide, axis=1)}
    if x.dtype.kind != "c" and rows.shape[1]:
        fig["min"] = rows.min(axis=1).astype(np.float64)
        fig["max"] = rows.max(axis=1).astype(np.float64)
    if x.dtype.kind in "iu":
        fig["sum"] = np.array([float(sum(int(e) for e in r)) for r in rows])
        fig["mean"] = np.array([float(sum(int(e) for e in r)) / rows.shape[1]
                                for r in rows])
    return fig


def test_per_row_figures_equal_numpys_and_do_not_depend_on_j():
    rng = np.random.default_rng(7)
    cases = [("f64", (40, 3, 50)), ("f32", (17, 257)), ("i32", (9, 4, 4)),
             ("u64", (5, 300)), ("c128", (12, 2, 33)), ("i16", (6,))]
    for dt, shape in cases:
        t = np.dtype(NP[dt])
        if t.kind == "c":
            v = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
        elif t.kind == "f":
            v = rng.standard_normal(shape) * 1e3
        else:
            info = np.iinfo(t)
            v = rng.integers(info.min, info.max, size=shape, dtype=t)
        v = v.astype(t)
        if t.kind == "f":
            v.reshape(shape[0], -1)[3, 5] = np.nan
        name = put_array(sharr, fresh("p"), v, dt)
        one = per_row_into(name, 1, t.kind == "c")
        two = per_row_into(name, 2, t.kind == "c")
        want = numpy_figures(v)
        for f, got in one.items():
            check(got.tobytes() == two[f].tobytes(),
                  "%s %s: -j 1 and -j 2 differ" % (dt, f))
            exact = f in ("count", "min", "max") or (t.kind in "iu" and
                                                     f == "sum")
            if f in ("min", "max") and t.kind == "f":
                w = want[f].copy()
                w[3] = np.nan  # a NaN row has min and max nan
            else:
                w = want[f]
            ok = (np.array_equal(got, w, equal_nan=True) if exact else
                  np.allclose(got, w, rtol=RTOL, atol=0, equal_nan=True))
            check(ok, "%s %s: sharr %s, numpy %s" % (dt, f, got[:4], w[:4]))
    # Rows of no elements: mean nan, sum 0, count 0.
    name = fresh("e")
    sharr("create", name, "--shape", "4x0x3")
    got = per_row_into(name, 2, False)
    check(np.all(got["count"] == 0) and np.all(got["sum"] == 0) and
          np.all(np.isnan(got["mean"])) and np.all(np.isnan(got["min"])) and
          np.all(got["norm2"] == 0), "empty rows: %s" % got)


if __name__ == "__main__":
    sys.exit(run_tests(globals(), "empty", PREFIX,
                       cleanup=lambda: shutil.rmtree(TMP, True)))
