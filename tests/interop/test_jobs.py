#!/usr/bin/python3
"""-j 1 and -j 2 give identical bytes for every operation of the CLI: fill,
every apply op, axpy, stat (text, JSON, per row), gemm (checked against
NumPy's A @ B too), save and load, on every dtype they take, with edge
values (inf, nan, subnormals, huge) among the data.

    /usr/bin/python3 tests/interop/test_jobs.py /path/to/sharr
"""
import os
import shutil
import sys
import tempfile

import h5py
import numpy as np

from harness import (NP, Sharr, check, namer, path, put_array, read,
                     run_tests)

SHARR = sys.argv[1]
PREFIX = "ti.%d." % os.getpid()
TMP = tempfile.mkdtemp(prefix="sharr-jobs-")
SHAPE = (37, 4099)        # three blocks of the fixed reductions
EDGE = [np.inf, -np.inf, np.nan, 0.0, -0.0, 5e-324, 1e-310, 1e308, -1e308,
        3.4e38, 1e-45, 1e-40]
sharr = Sharr(SHARR)
fresh = namer(PREFIX)


def make(label, values):
    name = fresh(label)
    v = np.asarray(values)
    dt = [k for k, t in NP.items() if np.dtype(t) == v.dtype][0]
    return put_array(sharr, name, v, dt)


def data(dt, shape=SHAPE, seed=1, edges=True, positive=False):
    """Random values of dtype dt, with EDGE values sprinkled in floats."""
    rng = np.random.default_rng(seed)
    t = np.dtype(NP[dt])
    if t.kind in "iu":
        info = np.iinfo(t)
        return rng.integers(info.min, info.max, size=shape, endpoint=True,
                            dtype=t)
    flt = np.float32 if t.itemsize in (4, 8) and t != np.float64 else \
        np.float64
    parts = rng.standard_normal(shape + ((2,) if t.kind == "c" else ()))
    parts *= 10.0 ** rng.integers(-3, 4, size=parts.shape)
    if positive:
        parts = np.abs(parts)
    if edges:
        flat = parts.reshape(-1)
        where = rng.choice(flat.size, size=200, replace=False)
        with np.errstate(all="ignore"):
            flat[where] = np.asarray(EDGE)[rng.integers(0, len(EDGE), 200)]
        if positive:
            flat[where] = np.abs(flat[where])
    with np.errstate(all="ignore"):
        parts = parts.astype(flt)
    if t.kind == "c":
        return np.ascontiguousarray(parts).view(t)[..., 0]
    return parts


def twice(what, fn):
    """Run fn(jobs) for -j 1 and -j 2; check the two results are equal."""
    r1, r2 = fn(1), fn(2)
    check(r1 == r2, "-j 1 and -j 2 differ: %s" % what)
    return r1


def on_copy(base, *args):
    """Run `sharr ARGS` (NAME for the array) on a fresh copy of base and
    return a function of jobs giving (exit, stdout, stderr, bytes)."""
    def run(jobs):
        name = make("c", base)
        argv = [name if a == "NAME" else a for a in args]
        r = sharr.run(*argv, "-j", jobs)
        out = (r.returncode, r.stdout, r.stderr, read(name).tobytes())
        os.unlink(path(name))
        return out
    return run


VALUE = {"i": ("-3", "7"), "u": ("3", "250"), "f": ("-1.5", "0.25"),
         "c": ("0.6-0.8j", "-1+2j")}


def test_fill_gives_the_same_bytes_for_any_j():
    for dt, t in NP.items():
        kind = np.dtype(t).kind
        base = data(dt, edges=False)
        for how in ("zeros", "ones", "range", "random", "random:5",
                    VALUE[kind][0]):
            r = twice("fill %s %s" % (dt, how), on_copy(base, "fill",
                                                         "NAME", how))
            check(r[0] == 0, "fill %s %s: %s" % (dt, how, r[2]))


def ops_for(kind):
    z, w = VALUE[kind]
    ops = [("scale", z), ("add", w), ("abs",), ("square",)]
    if kind == "c":
        ops += [("conj",)]
    if kind in "fc":
        ops += [("sqrt",), ("exp",), ("log",), ("normalize-rows",)]
    if kind in "iuf":
        lo, hi = {"i": ("-100", "100"), "u": ("3", "200"),
                  "f": ("-0.5", "0.5")}[kind]
        ops += [("clip", lo, hi)]
    return ops


def test_every_apply_op_gives_the_same_bytes_for_any_j():
    for dt, t in NP.items():
        kind = np.dtype(t).kind
        signed, positive = data(dt, seed=2), data(dt, seed=3, positive=True)
        for op in ops_for(kind):
            base = positive if op[0] in ("sqrt", "log") and kind == "f" \
                else signed
            r = twice("apply %s %s" % (dt, " ".join(op)),
                      on_copy(base, "apply", "NAME", *op))
            check(r[0] == 0, "apply %s %s: %s" % (dt, op, r[2]))
            before = base.tobytes()
            check(r[3] != before or op[0] in ("abs", "clip"),
                  "apply %s %s changed nothing" % (dt, op[0]))


def test_axpy_gives_the_same_bytes_for_any_j():
    for dt, t in NP.items():
        kind = np.dtype(t).kind
        x = make("x", data(dt, seed=4))
        y = data(dt, seed=5)
        for alpha in VALUE[kind] + ("0",):
            r = twice("axpy %s %s" % (dt, alpha),
                      on_copy(y, "axpy", alpha, x, "NAME"))
            check(r[0] == 0, "axpy %s: %s" % (dt, r[2]))
        os.unlink(path(x))


def test_stat_prints_the_same_for_any_j():
    for dt in NP:
        for edges in (False, True):
            name = make("s", data(dt, seed=6, edges=edges))
            for opts in ((), ("--json",), ("--per-row",),
                         ("--per-row", "--json")):
                r = twice("stat %s %s%s" % (dt, " ".join(opts),
                                            " with edge values" * edges),
                          lambda j: sharr("stat", name, "-j", j, *opts))
                check(r.strip() != "", "stat %s printed nothing" % dt)
            os.unlink(path(name))


GEMM_SHAPES = [(2, 9, 3), (3, 17, 5), (7, 100, 9), (16, 50, 16),
               (33, 20, 11), (70, 30, 25), (300, 40, 20), (1100, 8, 5),
               (1, 64, 2)]


def test_gemm_gives_the_same_bytes_for_any_j_and_numpys_product():
    for dt in ("f32", "f64", "c64", "c128"):
        tol = 1e-4 if dt in ("f32", "c64") else 1e-12
        for m, k, n in GEMM_SHAPES:
            A, B = data(dt, (m, k), 7, False), data(dt, (k, n), 8, False)
            a, b = make("A", A), make("B", B)
            C0 = data(dt, (m, n), 9, False)
            for opts in ((), ("--alpha", "1.5", "--beta", "-2")):
                r = twice("gemm %s %dx%d @ %dx%d %s" % (dt, m, k, k, n,
                                                         " ".join(opts)),
                          on_copy(C0, "gemm", a, b, "NAME", *opts))
                check(r[0] == 0, "gemm %s: %s" % (dt, r[2]))
                got = np.frombuffer(r[3], dtype=NP[dt]).reshape(m, n)
                want = A.astype(np.complex128) @ B.astype(np.complex128)
                if opts:
                    want = 1.5 * want - 2 * C0
                scale = np.abs(A).max() * np.abs(B).max() * k + \
                    2 * np.abs(C0).max()
                err = np.abs(got - want).max() / scale
                check(err < tol, "gemm %s %dx%dx%d %s: off numpy by %g"
                      % (dt, m, k, n, opts, err))
            os.unlink(path(a))
            os.unlink(path(b))


def test_save_and_load_give_the_same_bytes_for_any_j():
    for dt in NP:
        base = data(dt, (100, 37), seed=10)
        name = make("h", base)
        files = []
        for jobs in (1, 2):
            f = os.path.join(TMP, "%s-%d.h5" % (dt, jobs))
            sharr("save", name, f + ":/d", "--chunk", "7", "--gzip", "4",
                  "--shuffle", "-j", jobs)
            with h5py.File(f, "r") as h:
                files.append(np.array(h["/d"]).tobytes())
        check(files[0] == files[1], "-j 1 and -j 2 differ: save %s" % dt)
        check(files[0] == base.tobytes(), "save %s: the values" % dt)
        loaded = []
        for jobs in (1, 2):
            into = fresh("l")
            sharr("load", f + ":/d", into, "-j", jobs)
            loaded.append(read(into).tobytes())
            os.unlink(path(into))
        check(loaded[0] == loaded[1] == base.tobytes(),
              "-j 1 and -j 2 differ: load %s" % dt)
        os.unlink(path(name))


def main():
    return run_tests(globals(), "interop -j", PREFIX,
                     cleanup=lambda: shutil.rmtree(TMP, ignore_errors=True))


if __name__ == "__main__":
    sys.exit(main())
