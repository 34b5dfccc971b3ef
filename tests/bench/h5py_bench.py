#!/usr/bin/python3
"""h5py's side of bench_h5.c, run with Debian's /usr/bin/python3.

    h5py_bench.py save ARRAY FILE CHUNKS FILTER REPS
    h5py_bench.py load FILE REPS

save: write the sharr array ARRAY (copied into this process's memory
first) as dataset /d of FILE with chunks CHUNKS ("1x65536") and FILTER
(shuffle+gzip1, gzip4, lz4), REPS times, each into a new file.  load:
read /d of FILE into a NumPy array with read_direct, REPS times after one
warm-up.  Prints the times in seconds, one line, space-separated; exit 2
when h5py cannot do it (a filter without its plugin).
"""
import os
import sys
import time

import h5py
import numpy as np


def filters(name):
    if name == "shuffle+gzip1":
        return dict(compression="gzip", compression_opts=1, shuffle=True)
    if name == "gzip4":
        return dict(compression="gzip", compression_opts=4)
    if name == "lz4":
        if not h5py.h5z.filter_avail(32004):
            sys.exit(2)
        return dict(compression=32004)
    raise SystemExit("unknown filter " + name)


def save(array, path, chunks, filt, reps):
    a = np.array(np.load("/dev/shm/sharr." + array, mmap_mode="r"))
    chunks = tuple(int(c) for c in chunks.split("x"))
    kw = filters(filt)
    times = []
    for _ in range(reps):
        if os.path.exists(path):
            os.unlink(path)
        t0 = time.perf_counter()
        with h5py.File(path, "w") as f:
            f.create_dataset("d", data=a, chunks=chunks, **kw)
        times.append(time.perf_counter() - t0)
    os.unlink(path)
    return times


def load(path, reps):
    with h5py.File(path, "r") as f:
        d = f["d"]
        out = np.empty(d.shape, d.dtype)
        d.read_direct(out)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            d.read_direct(out)
            times.append(time.perf_counter() - t0)
    return times


def main():
    if sys.argv[1] == "save":
        t = save(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5],
                 int(sys.argv[6]))
    else:
        t = load(sys.argv[2], int(sys.argv[3]))
    print(" ".join("%.6f" % x for x in t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
