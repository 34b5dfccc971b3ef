"""Make the inputs of tests/mpi/run.sh: DIR/in.h5 (every dtype, 1-d to 4-d,
row counts that do not divide by the ranks, fewer rows than ranks, arrays
whose statistics blocks straddle nodes, a chunked gzip+shuffle input, gemm
operands) and two command lists doing the same steps: DIR/serial.txt (one
`sharr` command per line) and DIR/mpi.txt (a `sharr-mpi run` script), with
@ for the array-name prefix and OUT for the output directory.

Usage: /usr/bin/python3 gen.py DIR
"""
import sys

import h5py
import numpy as np

DIR = sys.argv[1]
rng = np.random.default_rng(11)

# name: (dtype, shape, apply steps)
INTS = ["scale 3", "add -2"]
UINTS = ["scale 3", "add 7"]
FLOATS = ["abs", "sqrt", "scale 0.5"]
CPLX = ["conj", "square"]
CASES = {
    "i8": ("i1", (1001,), INTS), "i16": ("i2", (300, 7), INTS),
    "i32": ("i4", (45, 6, 5), INTS), "i64": ("i8", (20, 3, 4, 5), INTS),
    "u8": ("u1", (3,), UINTS), "u16": ("u2", (1, 9), UINTS),
    "u32": ("u4", (257, 3), UINTS), "u64": ("u8", (70, 2, 2), UINTS),
    "f32": ("f4", (130, 4, 3, 2), FLOATS), "f64": ("f8", (1001, 37), FLOATS),
    "c64": ("c8", (2, 5), CPLX), "c128": ("c16", (513, 9), CPLX),
    # statistics blocks of 16384 and 65536 rows straddle the nodes' rows
    "tall": ("f8", (20000, 4), FLOATS), "flat": ("f8", (200000,), FLOATS),
}


def data(dt, shape):
    dt = np.dtype(dt)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, dtype=dt,
                            endpoint=True)
    if dt.kind == "c":
        return (rng.standard_normal(shape) +
                1j * rng.standard_normal(shape)).astype(dt)
    return rng.standard_normal(shape).astype(dt)


serial, mpi = [], []


def both(line):
    serial.append(line)
    mpi.append(line)


with h5py.File(f"{DIR}/in.h5", "w") as f:
    for name, (dt, shape, ops) in CASES.items():
        f[name] = data(dt, shape)
        both(f"load IN:/{name} @{name}")
        for op in ops:
            both(f"apply @{name} {op}")
        both(f"axpy 2 @{name} @{name}")
        both(f"stat @{name}")
        both(f"stat @{name} --json")
        both(f"save @{name} OUT/{name}.h5:/x")
        # chunks of a few rows, some straddling nodes (HDF5 1.10's
        # collective filtered writes slow down with the chunk count)
        rows = max(2, shape[0] // 40) if shape[0] > 1 else 1
        both(f"save @{name} OUT/{name}.z.h5:/g/x --chunk {rows} "
             f"--gzip 4 --shuffle")
    f.create_dataset("ck", data=rng.standard_normal((5000, 13)),
                     chunks=(96, 13), compression="gzip", shuffle=True)
    both("load IN:/ck @ck")
    both("stat @ck")
    both("save @ck OUT/ck.z.h5:/x --chunk 96 --gzip 1 --shuffle")
    for dt, (m, k, n) in (("f8", (1001, 37, 20)), ("c16", (300, 16, 8))):
        f[f"A{dt}"] = data(dt, (m, k))
        f[f"B{dt}"] = data(dt, (k, n))
        both(f"load IN:/A{dt} @A{dt}")
        both(f"load IN:/B{dt} @B{dt}")
        both(f"apply @A{dt} scale 3")
        kind = "f64" if dt == "f8" else "c128"
        serial.append(f"create @C{dt} --shape {m}x{n} --dtype {kind}")
        both(f"gemm @A{dt} @B{dt} @C{dt}")  # sharr-mpi creates C
        both(f"stat @C{dt} --json")
        both(f"save @C{dt} OUT/C{dt}.h5:/c")
        both(f"save @C{dt} OUT/C{dt}.z.h5:/c --chunk 64 --gzip 6 --shuffle")

# Arrays made and filled in place: element k of range and random:SEED is
# a function of k only, whatever the split.
for name, dt, kind, shape, spec in (("fr", "c64", "c64", "3000x7", "random:3"),
                                    ("fg", "i16", "i16", "999x5", "range")):
    serial.append(f"create @{name} --shape {shape} --dtype {dt} --fill {spec}")
    mpi.append(f"create @{name} {kind} {shape}")
    mpi.append(f"fill @{name} {spec}")
    both(f"stat @{name} --json")
    both(f"save @{name} OUT/{name}.h5:/x")

names = [f"@{n}" for n in CASES] + ["@ck", "@fr", "@fg"] + [
    f"@{x}{dt}" for dt in ("f8", "c16") for x in "ABC"]
for n in names:
    serial.append(f"rm {n}")
mpi.append("rm " + " ".join(names))
with open(f"{DIR}/serial.txt", "w") as f:
    f.write("\n".join(serial) + "\n")
with open(f"{DIR}/mpi.txt", "w") as f:
    f.write("# made by tests/mpi/gen.py\n" + "\n".join(mpi) + "\n")
