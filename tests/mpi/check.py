"""Compare the HDF5 files sharr-mpi saved (OUTDIR) with the ones the
single-process sharr saved from the same steps (REFDIR): same shape, same
dtype (complex as h5py's {r, i}), bit-identical elements, and for *.z.h5
the chunked+gzip+shuffle layout asked for.  h5py reads them: that is the
interop check.  Prints one line per failure; exit 1 if any.

Usage: /usr/bin/python3 check.py REFDIR OUTDIR
"""
import os
import sys

import h5py
import numpy as np

ref_dir, out_dir = sys.argv[1], sys.argv[2]
bad = 0
files = sorted(f for f in os.listdir(ref_dir) if f.endswith(".h5"))
for name in files:
    try:
        with h5py.File(f"{ref_dir}/{name}") as r, \
             h5py.File(f"{out_dir}/{name}") as o:
            path = "c" if "c" in r else ("g/x" if "g" in r else "x")
            a, b = r[path], o[path]
            why = []
            if a.shape != b.shape:
                why.append(f"shape {b.shape} != {a.shape}")
            if a.dtype != b.dtype:
                why.append(f"dtype {b.dtype} != {a.dtype}")
            elif a[()].tobytes() != b[()].tobytes():
                why.append("elements differ")
            if b.dtype.kind == "c" and b.id.get_type().get_member_name(0) \
                    != b"r":
                why.append("complex not as {r, i}")
            if ".z." in name and (b.chunks is None or
                                  b.compression != "gzip" or not b.shuffle):
                why.append(f"layout {b.chunks} {b.compression} {b.shuffle}")
            if ".z." not in name and b.chunks is not None:
                why.append("chunked, asked contiguous")
            if b.attrs.get("sharr_dtype") != a.attrs.get("sharr_dtype"):
                why.append("sharr_dtype attribute")
    except Exception as e:  # a file h5py cannot read is a failure too
        why = [f"{type(e).__name__}: {e}"]
    if why:
        bad += 1
        print(f"{out_dir}/{name}: " + "; ".join(why))
print(f"{len(files) - bad}/{len(files)} files identical")
sys.exit(1 if bad or not files else 0)
