#!/usr/bin/python3
"""Interop with h5py (Debian's /usr/bin/python3 with python3-h5py).

- Files written by h5py load with the right values: complex64/128 in both
  byte orders, big-endian integers and floats, 1-d to 4-d, chunked and
  compressed, float16, MATLAB {real, imag} and the other complex namings.
- Files saved by sharr read back in h5py with the right dtype (complex as
  complex) and values, contiguous and chunked + gzip + shuffle.
- Round trips of every dtype and several shapes give identical bytes for
  -j 1 and -j 2 (the loaded arrays and the saved files).
- .npy files go both ways with NumPy.

    /usr/bin/python3 tests/interop/test_h5py.py /path/to/sharr
"""
import os
import shutil
import sys
import tempfile

import h5py
import numpy as np

from harness import Sharr, check, run_tests

SHARR = sys.argv[1]
PREFIX = "ti.%d." % os.getpid()
TMP = tempfile.mkdtemp(prefix="sharr-h5py-")
DTYPES = {"i8": "|i1", "i16": "<i2", "i32": "<i4", "i64": "<i8",
          "u8": "|u1", "u16": "<u2", "u32": "<u4", "u64": "<u8",
          "f32": "<f4", "f64": "<f8", "c64": "<c8", "c128": "<c16"}
sharr = Sharr(SHARR)


def shm(name):
    return np.load("/dev/shm/sharr." + name, mmap_mode="r")


def sample(dtype, shape, seed=1):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "c":
        v = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    elif dt.kind == "f":
        v = rng.standard_normal(shape) * 1000
    else:
        info = np.iinfo(dt)
        v = rng.integers(info.min, info.max, size=shape, endpoint=True,
                         dtype=dt.newbyteorder("="))
    return np.asarray(v).astype(dt)


def load_equals(path, dset, want, what, jobs=2):
    name = PREFIX + "l"
    sharr("load", "%s:%s" % (path, dset), name, "-j", jobs)
    got = shm(name)
    check(got.dtype == want.dtype.newbyteorder("<") or
          (want.dtype.kind == "f" and want.dtype.itemsize == 2 and
           got.dtype == np.float32),
          "%s: dtype %s for %s" % (what, got.dtype, want.dtype))
    check(got.shape == want.shape, "%s: shape %s, want %s"
          % (what, got.shape, want.shape))
    check(np.array_equal(got, want.astype(got.dtype), equal_nan=True)
          if got.dtype.kind in "fc" else np.array_equal(got, want),
          "%s: values" % what)
    del got
    sharr("rm", name)


def test_h5py_files_load_with_the_right_values():
    path = os.path.join(TMP, "from_h5py.h5")
    cases = {}
    with h5py.File(path, "w") as f:
        for order in "<>":
            for kind in ("c8", "c16", "f4", "f8", "i2", "u4", "i8", "u8"):
                dt = order + kind
                for nd, shape in enumerate([(7,), (3, 5), (2, 3, 4),
                                            (2, 2, 3, 5)], 1):
                    name = "%s_%s_%dd" % ("le" if order == "<" else "be",
                                          kind, nd)
                    data = sample(dt, shape, seed=nd)
                    f.create_dataset(name, data=data)
                    cases[name] = data
                    cname = name + "_gz"
                    f.create_dataset(cname, data=data, chunks=(1,) + shape[1:],
                                     compression="gzip", shuffle=True)
                    cases[cname] = data
        cases["f16"] = sample("<f2", (4, 6))
        f["f16"] = cases["f16"]
        cases["f16be"] = sample(">f2", (5,))
        f["f16be"] = cases["f16be"]
        cases["scalar"] = np.array(2.5 - 1j)
        f["scalar"] = cases["scalar"]
    for name, data in sorted(cases.items()):
        load_equals(path, "/" + name, data, "h5py " + name,
                    jobs=1 + len(name) % 2)


def test_other_complex_namings_load_in_any_order_and_byte_order():
    path = os.path.join(TMP, "namings.h5")
    z = sample("<c16", (3, 4), seed=4)
    with h5py.File(path, "w") as f:
        for re, im in (("real", "imag"), ("re", "im"), ("Real", "Imaginary"),
                       ("r", "i")):
            for order in "<>":
                for swap in (False, True):
                    names = (im, re) if swap else (re, im)
                    dt = np.dtype([(names[0], order + "f8"),
                                   (names[1], order + "f8")])
                    rec = np.empty(z.shape, dt)
                    rec[re] = z.real
                    rec[im] = z.imag
                    f["%s_%s_%s_%d" % (re, im, "be" if order == ">" else "le",
                                       swap)] = rec
        bad = np.dtype([("real", "<f8"), ("imag", "<f8"), ("x", "<f8")])
        f["three"] = np.zeros(3, bad)
        f["wrong_names"] = np.zeros(3, np.dtype([("a", "<f8"), ("b", "<f8")]))
        f["mixed_sizes"] = np.zeros(3, np.dtype([("r", "<f4"),
                                                 ("i", "<f8")]))
        f["complex_named"] = np.zeros(3, np.dtype([("real", "<f8"),
                                                   ("imag", "<i4")]))
    with h5py.File(path, "r") as f:
        names = [n for n in f if f[n].dtype.fields and len(f[n].dtype.fields)
                 == 2 and "_" in n and n.count("_") == 3]
    for n in names:
        load_equals(path, "/" + n, z, "complex naming " + n)
    for n in ("three", "wrong_names", "mixed_sizes", "complex_named"):
        r = sharr("load", "%s:/%s" % (path, n), PREFIX + "x", ok=False)
        check(r.returncode == 1 and "/" + n in r.stderr and
              "compound" in r.stderr, "%s refused by name: %s"
              % (n, r.stderr.strip()))
        check(not os.path.exists("/dev/shm/sharr." + PREFIX + "x"),
              "%s left an array" % n)


def test_saved_files_read_back_in_h5py_for_every_dtype():
    for dt, descr in DTYPES.items():
        for shape in ((9,), (5, 7), (3, 4, 6)):
            name = PREFIX + "s"
            shape_text = "x".join(map(str, shape))
            sharr("create", name, "--dtype", dt, "--shape", shape_text,
                  "--fill", "random:3")
            want = np.array(shm(name))
            files = []
            for j in (1, 2):
                for opts in ([], ["--gzip", "4", "--shuffle", "--chunk",
                                  "2"]):
                    path = os.path.join(TMP, "s_%s_%s_%d_%d.h5"
                                        % (dt, shape_text, j, len(opts)))
                    sharr("save", name, path + ":/grp/data", "-j", j, *opts)
                    files.append((j, opts, path))
                    with h5py.File(path, "r") as f:
                        d = f["/grp/data"]
                        check(d.dtype == np.dtype(descr),
                              "saved %s dtype %s" % (dt, d.dtype))
                        check(np.array_equal(d[...], want),
                              "saved %s %s %s values" % (dt, shape_text, opts))
                        check(d.attrs["sharr_dtype"] == dt,
                              "attribute sharr_dtype %r" % d.attrs["sharr_dtype"])
                        if opts:
                            check(d.compression == "gzip" and d.shuffle and
                                  d.chunks[0] == 2, "saved %s filters" % dt)
                    back = PREFIX + "b%d%d" % (j, len(opts))
                    sharr("load", path + ":/grp/data", back, "-j", 3 - j)
                    check(np.array_equal(shm(back), want),
                          "round trip %s %s -j %d %s" % (dt, shape_text, j,
                                                         opts))
                    sharr("rm", back)
            # -j 1 and -j 2 write the same bytes.
            for opts_len in (0, 5):
                same = [p for j, o, p in files if len(o) == opts_len]
                check(open(same[0], "rb").read() == open(same[1], "rb").read(),
                      "%s %s: -j 1 and -j 2 files differ" % (dt, shape_text))
            sharr("rm", name)


def test_matlab_layout_and_row_ranges():
    name = PREFIX + "m"
    sharr("create", name, "--dtype", "c64", "--shape", "10x3", "--fill",
          "range")
    path = os.path.join(TMP, "matlab.h5")
    sharr("save", name, path + ":/z", "--complex", "matlab", "--rows", "2:-3")
    with h5py.File(path, "r") as f:
        d = f["z"]
        check(d.dtype.names == ("real", "imag"), "matlab names %s"
              % (d.dtype.names,))
        check(np.array_equal(d["real"], np.arange(6, 21).reshape(5, 3)),
              "matlab rows 2..6 values")
    load_equals(path, "/z", (np.arange(6, 21) + 0j).astype("<c8")
                .reshape(5, 3), "matlab load back")
    sharr("load", path + ":/z", PREFIX + "r", "--rows", "1:3")
    check(np.array_equal(shm(PREFIX + "r")[:, 0], [9, 12]), "load --rows")
    sharr("rm", PREFIX + "r", name)


def test_existing_files_and_datasets():
    name = PREFIX + "e"
    sharr("create", name, "--shape", "4", "--fill", "1")
    path = os.path.join(TMP, "existing.h5")
    with h5py.File(path, "w") as f:
        f["keep"] = np.arange(3)
    sharr("save", name, path + ":/new")
    r = sharr("save", name, path + ":/keep", ok=False)
    check(r.returncode == 1 and "--force" in r.stderr, "refuses to replace "
          "a dataset: %s" % r.stderr.strip())
    with h5py.File(path, "r") as f:
        check(list(f["keep"][...]) == [0, 1, 2], "the old dataset is intact")
        check(list(f["new"][...]) == [1, 1, 1, 1], "the new dataset is there")
    sharr("save", name, path + ":/keep", "--force")
    with h5py.File(path, "r") as f:
        check(list(f["keep"][...]) == [1, 1, 1, 1], "--force replaced it")
    r = sharr("save", name, path + ":/", ok=False)
    check(r.returncode == 2, "saving to / is a usage error")
    leftovers = [p for p in os.listdir(TMP) if ".sharr-" in p]
    check(not leftovers, "temporary files left: %s" % leftovers)
    sharr("rm", name)


def test_npy_files_both_ways():
    a = sample("<c16", (4, 5))
    b = sample(">i4", (6,))
    h = sample("<f2", (3, 3))
    f = np.asfortranarray(sample("<f8", (3, 4)))
    for arr, tag in ((a, "a"), (b, "b"), (h, "h")):
        p = os.path.join(TMP, tag + ".npy")
        np.save(p, arr)
        sharr("load", p, PREFIX + tag)
        got = shm(PREFIX + tag)
        check(np.array_equal(got, arr.astype(got.dtype)), ".npy %s" % tag)
        out = os.path.join(TMP, tag + "_out.npy")
        sharr("save", PREFIX + tag, out)
        check(np.array_equal(np.load(out), got), ".npy save %s" % tag)
        r = sharr("save", PREFIX + tag, out, ok=False)
        check(r.returncode == 1 and "exists" in r.stderr, ".npy no overwrite")
        sharr("rm", PREFIX + tag)
    pf = os.path.join(TMP, "fortran.npy")
    np.save(pf, f)
    r = sharr("load", pf, PREFIX + "f", ok=False)
    check(r.returncode == 1 and "Fortran" in r.stderr, "fortran .npy refused")


def main():
    return run_tests(globals(), "interop h5py", PREFIX,
                     lambda: shutil.rmtree(TMP, ignore_errors=True))


if __name__ == "__main__":
    sys.exit(main())
