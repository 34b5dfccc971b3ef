"""Make the inputs of the eval tests of tests/mpi/run.sh: DIR/ev.h5 and the
same statements for both tools: DIR/eval_serial.sh (a bash script of
`$S eval` calls, $S the serial sharr) and DIR/eval_mpi.txt (a `sharr-mpi
run` script), with @ for the array-name prefix, IN: for ev.h5 and OUT/ for
the output directory.  Every result is saved as OUT/NAME.h5:/x; rows that
do not divide by the ranks, fewer rows than ranks, broadcast operands
(an f32 vector along the rows of u16 frames, leading dim 1, 0-d, reductions
of another row count), per-row and nested reductions (of booleans too),
integer division by zero, --dtype, --force and in-place OUT are all in.

Usage: /usr/bin/python3 gen_eval.py DIR
"""
import re
import sys

import h5py
import numpy as np

DIR = sys.argv[1]
rng = np.random.default_rng(12)


def normal(shape, dt="f8"):
    return rng.standard_normal(shape).astype(dt)


INPUTS = {
    "za": (normal((301, 7)) + 1j * normal((301, 7))).astype("c16"),
    "zb": (normal((301, 7)) + 1j * normal((301, 7))).astype("c16"),
    "x": normal((1001, 5)), "y": normal((1001, 5)),
    "frames": rng.integers(0, 4096, (130, 8, 6), dtype="u2"),
    "dark": rng.uniform(0, 100, (6,)).astype("f4"),
    "dark1": rng.uniform(0, 100, (1, 8, 6)).astype("f4"),
    "a16": rng.integers(-30000, 30000, (257, 3), dtype="i2"),
    "b32": normal((257, 3), "f4"),
    "c8": rng.integers(0, 256, (257, 3), dtype="u1"),
    "num": rng.integers(-1000, 1000, (1000,), dtype="i4"),
    "den": rng.integers(-3, 4, (1000,), dtype="i4"),
    "small": normal((2, 5)),
    "t": normal((3, 1001)),
    "sq": normal((64, 64)),
}

# (OUT, EXPR, options)
STATEMENTS = [
    ("z", "@za * @zb + @za", ""),
    ("w", "2 * @x * @y + sqrt(@x)", ""),
    ("az", "abs(@z)", ""),
    ("corr", "(@frames - @dark) * 1.7", ""),
    ("corr1", "@frames - @dark1", ""),
    ("mix", "@a16 * @b32 + @c8 // 3 - 2", ""),
    ("sel", "where(@a16 > 0, @a16, -@a16) + (@b32 < 0)", ""),
    ("q", "@num // @den + @num % @den", ""),
    ("tiny", "@small * 3 + 1", ""),
    ("sc", "2 + 3", ""),
    ("sc2", "@sc * @x + @sc", ""),
    ("rs", "rowsum(@x) * 2 + rownorm(@y)", ""),
    ("isum", "rowsum(@a16) + rowmin(@c8)", ""),
    ("bc", "@t + rowmax(@x)", ""),
    ("nest", "rowsum(@sq - rowmean(@sq))", ""),
    ("bmm", "rowmin(@a16 > 0) + 2 * rowmax(@b32 < 0)", ""),
    ("pc", "@ck * @cr + @ck", ""),
    ("dd", "@x * 300", "--dtype i32"),
    ("x2", "@x + 1", ""),
    ("x2", "@x2 * 2 - @x", ""),
    ("z", "abs(@za)", "--force"),
]

with h5py.File(f"{DIR}/ev.h5", "w") as f:
    for name, v in INPUTS.items():
        f[name] = v
    # Loaded from 96-row chunks, `cr` made by create and fill: one row
    # count, so one partition, whatever the chunk rows.
    f.create_dataset("ck", data=normal((5000, 13)), chunks=(96, 13),
                     compression="gzip")


def quoted(expr):
    """Every @name of expr as '@name': the prefix has dots."""
    return re.sub(r"@(\w+)", r"'@\1'", expr)


serial, mpi = [], []
for name in list(INPUTS) + ["ck"]:
    serial.append(f'"$S" load IN:/{name} @{name}')
    mpi.append(f"load IN:/{name} @{name}")
serial.append('"$S" create @cr --shape 5000x13 --dtype f64 --fill random:5')
mpi += ["create @cr f64 5000x13", "fill @cr random:5"]
outs = []
for out, expr, opts in STATEMENTS:
    stmt = f"'@{out}' = {quoted(expr)}"
    serial.append(" ".join(filter(None, ['"$S" eval', opts, f'"{stmt}"'])))
    mpi.append(" ".join(filter(None, ["eval", stmt, opts])))
    if out not in outs:
        outs.append(out)
for out in outs:
    serial.append(f'"$S" save @{out} OUT/{out}.h5:/x')
    mpi.append(f"save @{out} OUT/{out}.h5:/x")
names = " ".join(f"@{n}" for n in list(INPUTS) + ["ck", "cr"] + outs)
serial.append(f'"$S" rm {names}')
mpi.append(f"rm {names}")
with open(f"{DIR}/eval_serial.sh", "w") as f:
    f.write("# made by tests/mpi/gen_eval.py\n" + "\n".join(serial) + "\n")
with open(f"{DIR}/eval_mpi.txt", "w") as f:
    f.write("# made by tests/mpi/gen_eval.py\n" + "\n".join(mpi) + "\n")
