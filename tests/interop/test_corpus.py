#!/usr/bin/python3
"""Walk ../shared/corpus/hdf5/MANIFEST.tsv with the sharr tool.

Every `load` row must load, and the bytes of the array (converted back to
the file's element size for float16, which loads as f32) must hash to the
manifest's sha256, and its shape must be the manifest's (a null
dataspace loads as shape (0,), a zero-size dataset keeps its shape: an
empty array, whose bytes hash as the empty string).  Every `reject` row must fail with exit 1 and a message
naming the dataset; every `reject-file` row must fail with exit 1.  Nothing
may crash, hang or leave a segment.  Loads alternate between -j 1 and -j 2.

    /usr/bin/python3 tests/interop/test_corpus.py /path/to/sharr [CORPUS]

A `reject` row refused only because a filter plugin was missing when the
manifest was made is checked as a load against h5py's own read when this
machine's HDF5 has every filter of it now (make deps installs Debian's
hdf5-filter-plugin: lz4, bzip2); otherwise the refusal must name the
filter's number.

Without the corpus (a user's clone has none) it says so and passes.
"""
import csv
import glob
import hashlib
import os
import subprocess
import sys
import time

import re

import h5py
import numpy as np

SHARR = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = (sys.argv[2] if len(sys.argv) > 2 else
          os.path.join(HERE, "..", "..", "..", "shared", "corpus", "hdf5"))
PREFIX = "ti.%d." % os.getpid()
TIMEOUT = 300


def run(args):
    t0 = time.time()
    try:
        r = subprocess.run([SHARR] + args, capture_output=True, text=True,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, "", "timed out after %d s" % TIMEOUT, TIMEOUT
    return r.returncode, r.stdout, r.stderr, time.time() - t0


def array_bytes(name, row):
    """The loaded array's bytes as the manifest hashes them."""
    a = np.load("/dev/shm/sharr." + name, mmap_mode="r")
    if row["class"] == "float" and row["elem_size"] == "2":
        a = a.astype("<f2")
    h = hashlib.sha256()
    flat = a.reshape(-1)
    step = 1 << 24
    for i in range(0, flat.size, step):
        h.update(np.ascontiguousarray(flat[i:i + step]).tobytes())
    if flat.size == 0:
        h.update(a.tobytes())
    return h.hexdigest()


def array_shape(name):
    return np.load("/dev/shm/sharr." + name, mmap_mode="r").shape


def manifest_shape(row):
    """The shape a load row must give: a null dataspace loads as (0,)."""
    if row["shape"] == "null":
        return (0,)
    if row["shape"] == "scalar":
        return ()
    return tuple(int(d) for d in row["shape"].split("x"))


def plugin_filters(row):
    """The filter numbers of a row refused for a missing plugin, or None."""
    if row["expect"] != "reject" or "plugins" not in row["reason"]:
        return None
    return [int(n) for n in re.findall(r"\((\d+)\)", row["filters"])]


def h5py_sha(path, dset):
    """The sha256 of h5py's read, as sharr's little-endian array holds it."""
    with h5py.File(path, "r") as f:
        v = f[dset][()]
    v = np.ascontiguousarray(v.astype(v.dtype.newbyteorder("<")))
    return hashlib.sha256(v.tobytes()).hexdigest()


def check_row(k, row, failures):
    ids = plugin_filters(row)
    if ids and all(h5py.h5z.filter_avail(i) for i in ids):
        path = os.path.join(CORPUS, row["file"])
        row = dict(row, expect="load", sha256=h5py_sha(path, row["dataset"]))
    elif ids:
        row = dict(row, filter_ids=ids)
    path = os.path.join(CORPUS, row["file"])
    dset = row["dataset"] if row["dataset"] != "-" else "/"
    name = PREFIX + str(k)
    jobs = "1" if k % 2 else "2"
    rc, out, err, took = run(["load", "%s:%s" % (path, dset), name,
                              "-j", jobs])
    what = "%s:%s (%s)" % (row["file"], row["dataset"], row["expect"])
    try:
        if rc is None or rc < 0 or rc >= 128:
            failures.append("%s: crashed or hung (%r): %s" % (what, rc, err))
        elif row["expect"] == "load":
            if rc != 0:
                failures.append("%s: exit %d: %s" % (what, rc, err.strip()))
            elif not os.path.exists("/dev/shm/sharr." + name):
                # Empty datasets load too: an empty array of their shape.
                failures.append("%s: exit 0 but no array" % what)
            else:
                got = array_bytes(name, row)
                if got != row["sha256"]:
                    failures.append("%s: sha256 %s, manifest %s"
                                    % (what, got, row["sha256"]))
                shape = array_shape(name)
                if shape != manifest_shape(row):
                    failures.append("%s: shape %s, manifest %s"
                                    % (what, shape, row["shape"]))
        elif rc != 1:
            failures.append("%s: exit %d, expected 1: %s" % (what, rc, err))
        elif row["expect"] == "reject" and dset not in err:
            failures.append("%s: the message does not name %s: %s"
                            % (what, dset, err.strip()))
        elif row.get("filter_ids") and not any(
                "filter %d (" % i in err for i in row["filter_ids"]):
            failures.append("%s: the message does not name the missing "
                            "filter %s: %s" % (what, row["filter_ids"],
                                               err.strip()))
        elif os.path.exists("/dev/shm/sharr." + name):
            failures.append("%s: refused but left array %s" % (what, name))
    finally:
        if os.path.exists("/dev/shm/sharr." + name):
            os.unlink("/dev/shm/sharr." + name)
    return took


def check_h5ls(files, rows, failures):
    """h5ls every file: exit 0 or 1, never a crash; 1 for reject-file."""
    bad_files = {r["file"] for r in rows if r["expect"] == "reject-file"}
    for f in sorted(files):
        rc, out, err, _ = run(["h5ls", os.path.join(CORPUS, f)])
        if rc not in (0, 1):
            failures.append("h5ls %s: exit %r: %s" % (f, rc, err))
        elif f in bad_files and rc != 1:
            failures.append("h5ls %s: a file HDF5 cannot open gave exit 0"
                            % f)


def main():
    manifest = os.path.join(CORPUS, "MANIFEST.tsv")
    if not os.path.exists(manifest):
        print("corpus: skipped: corpus not found (%s)" % CORPUS)
        return 0
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    failures, slow = [], []
    counts = {}
    t0 = time.time()
    try:
        for k, row in enumerate(rows):
            took = check_row(k, row, failures)
            counts[row["expect"]] = counts.get(row["expect"], 0) + 1
            if took > 5:
                slow.append("%s:%s %.1fs" % (row["file"], row["dataset"],
                                             took))
        check_h5ls({r["file"] for r in rows}, rows, failures)
    finally:
        for p in glob.glob("/dev/shm/sharr." + PREFIX + "*"):
            failures.append("left behind: " + p)
            os.unlink(p)
    for f in failures:
        print("FAIL:", f)
    print("corpus: %d rows (%s) in %.0f s, %d failures%s"
          % (len(rows), ", ".join("%d %s" % (v, k)
                                  for k, v in sorted(counts.items())),
             time.time() - t0, len(failures),
             "; slow: " + "; ".join(slow) if slow else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
