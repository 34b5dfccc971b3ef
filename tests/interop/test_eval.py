"""sharr eval against NumPy (1.24 with weak promotion, NEP 50) as the oracle.

    /usr/bin/python3 tests/interop/test_eval.py /path/to/sharr

1. Differential: every binary operator on every pair of the 12 dtypes, with
   Python numbers on either side, every function and cast on every dtype,
   over edge values (0, -0, +-inf, nan, the integer limits ...) broadcast
   against each other so that every pair of edge values meets.  Dtypes must
   equal NumPy's (float16 results, which sharr lacks, are float32 and are
   compared with NumPy computing in float32; booleans are stored as u8);
   values bit for bit (a NaN of any sign or payload matches a NaN), except
   the transcendental functions, within TRANSCENDENTAL_ULPS units in the
   last place (NumPy uses SIMD/SVML versions of them on this CPU).
2. Random: generated expressions of depth 1-5 over arrays of mixed dtypes
   and broadcastable shapes, from the same text, exact operations only.
3. Bad expressions: each documented error, and nothing written.
4. -j 1 and -j 2 give the same bytes (and the per-row reductions too).
Statements run in batches (`sharr eval -f FILE -k`: one process, one pool).
"""
import os
import random
import re
import subprocess
import sys
import tempfile
import warnings

import numpy as np

from harness import NP, check, path, put_array, read, run_tests, Sharr

np._set_promotion_state("weak")
warnings.simplefilter("ignore")

SHARR = Sharr(sys.argv[1])
PFX = "ti.%d." % os.getpid()
DTS = list(NP)
TRANSCENDENTAL_ULPS = 8
TRANSCENDENTAL = {"exp", "expm1", "log", "log1p", "log10", "sin", "cos",
                  "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
                  "arctan2", "angle", "**", "abs_complex", "power"}


def edge_values(dt):
    t = NP[dt]
    if np.issubdtype(t, np.integer):
        i = np.iinfo(t)
        v = [0, 1, 2, 3, 7, 100, i.max, i.max - 1, i.min, i.min + 1]
        if i.min < 0:
            v += [-1, -2, -3, -7, -100]
        return np.array(v, dtype=object).astype(t)
    f = [0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 2.5, -2.5, 3.0, -7.0, 100.0,
         1e-30, 1e30, np.inf, -np.inf, np.nan]
    if np.issubdtype(t, np.complexfloating):
        c = [complex(a, b) for a, b in
             [(0, 0), (1, 0), (0, 1), (-1, 2), (2.5, -0.5), (0.5, 0.5),
              (-3, -4), (1e30, 1), (np.inf, 0), (0, np.inf), (np.nan, 0),
              (1, np.nan), (-0.0, -0.0), (100, -100)]]
        return np.array(c, dtype=t)
    return np.array(f, dtype=t)


def stmt_file(lines):
    fd, name = tempfile.mkstemp(prefix="sharr-eval-test.", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    return name


def run_batch(lines, jobs=2, extra=()):
    """Run the statements; the set of statement numbers that failed."""
    name = stmt_file(lines)
    try:
        r = SHARR.run("eval", "-f", name, "-k", "-j", jobs, *extra)
    finally:
        os.unlink(name)
    check(r.returncode in (0, 1, 2), "eval -f exits 0, 1 or 2, not %d: %s"
          % (r.returncode, r.stderr[-2000:]))
    failed = {}
    for line in r.stderr.splitlines():
        if line.startswith("sharr: eval: statement ") and \
                "warning:" not in line:
            no = int(line.split()[3].rstrip(":"))
            failed[no] = line
    return failed, r


def same(got, want, tol_ulps=0):
    """Bit-exact (NaNs of any kind alike), or within tol_ulps."""
    if got.dtype != want.dtype or got.shape != want.shape:
        return False
    if np.issubdtype(want.dtype, np.complexfloating):
        return (same(got.real.copy(), want.real.copy(), tol_ulps) and
                same(got.imag.copy(), want.imag.copy(), tol_ulps))
    if not np.issubdtype(want.dtype, np.floating):
        return np.array_equal(got, want)
    gn, wn = np.isnan(got), np.isnan(want)
    if not np.array_equal(gn, wn):
        return False
    g, w = got[~gn], want[~wn]
    if tol_ulps == 0:
        return np.array_equal(g.view(np.uint8), w.view(np.uint8))
    eps = np.finfo(want.dtype).eps
    exact = (g == w)
    big = np.maximum(np.abs(w), np.finfo(want.dtype).tiny)
    close = np.abs(g.astype(np.float64) - w) <= tol_ulps * eps * big
    return bool(np.all(exact | (close & np.isfinite(w))))


def expected(fn, args):
    """NumPy's result, or None if NumPy refuses; float16 results are
    recomputed in float32 (sharr's stand-in for float16)."""
    try:
        with np.errstate(all="ignore"):
            r = fn(*args)
            if np.asarray(r).dtype == np.float16:
                args = [a.astype(np.float32) if isinstance(a, np.ndarray) and
                        a.dtype.itemsize <= 1 or (isinstance(a, np.ndarray)
                        and a.dtype == np.bool_) else a for a in args]
                r = fn(*args)
    except (TypeError, ValueError, OverflowError, np.core._exceptions._UFuncNoLoopError):
        return None
    r = np.asarray(r)
    if r.dtype == np.float16:
        r = r.astype(np.float32)
    if r.dtype == np.bool_:
        r = r.astype(np.uint8)
    return r


class Batch:
    """Statements and what NumPy says each gives."""

    def __init__(self, tag):
        self.tag = tag
        self.lines, self.want, self.what, self.tol = [], [], [], []

    def add(self, expr, want, what, tol=0):
        out = "%s%s%d" % (PFX, self.tag, len(self.lines))
        self.lines.append("'%s' = %s" % (out, expr))
        self.want.append(want)
        self.what.append(what)
        self.tol.append(tol)

    def run(self, jobs=2):
        failed, r = run_batch(self.lines, jobs)
        for i, (want, what, tol) in enumerate(zip(self.want, self.what,
                                                  self.tol)):
            out = "%s%s%d" % (PFX, self.tag, i)
            if want is None:
                check(i + 1 in failed and not os.path.exists(path(out)),
                      "%s: NumPy refuses it, sharr must too (%s)"
                      % (what, r.stderr[-300:] if i + 1 not in failed else ""))
                continue
            if i + 1 in failed:
                check(False, "%s: sharr failed: %s" % (what, failed[i + 1]))
                continue
            got = read(out)
            os.unlink(path(out))
            ok = same(got, want, tol)
            check(ok, "%s: dtype %s/%s, got %r, want %r"
                  % (what, got.dtype, want.dtype, got.ravel()[:12],
                     want.ravel()[:12]) if not ok else what)


def inputs():
    """Arrays A_dt (n, 1) and B_dt (m,) of edge values, created once."""
    arrs = {}
    for dt in DTS:
        v = edge_values(dt)
        arrs["A" + dt] = put_array(SHARR, PFX + "A" + dt, v.reshape(-1, 1), dt)
        arrs["B" + dt] = put_array(SHARR, PFX + "B" + dt, v, dt)
    return arrs


def q(name):
    return "'%s%s'" % (PFX, name)


BINARY = {"+": np.add, "-": np.subtract, "*": np.multiply,
          "/": np.true_divide, "//": np.floor_divide, "%": np.remainder,
          "**": np.power, "<": np.less, "<=": np.less_equal,
          ">": np.greater, ">=": np.greater_equal, "==": np.equal,
          "!=": np.not_equal, "&": np.bitwise_and, "|": np.bitwise_or,
          "^": np.bitwise_xor}
FUNC2 = {"minimum": np.minimum, "maximum": np.maximum,
         "arctan2": np.arctan2}
FUNC1 = ["abs", "real", "imag", "conj", "angle", "sqrt", "exp", "expm1",
         "log", "log1p", "log10", "sin", "cos", "tan", "arcsin", "arccos",
         "arctan", "sinh", "cosh", "tanh", "floor", "ceil", "round",
         "isnan", "isinf", "isfinite"]
NPF = {"abs": np.abs, "real": np.real, "imag": np.imag, "conj": np.conj,
       "angle": np.angle, "round": np.round}


def ref_binary(op, a, b):
    f = BINARY[op]
    isint = lambda x: (np.issubdtype(x.dtype, np.integer)
                       if isinstance(x, np.ndarray) else isinstance(x, int))
    if op == "**" and isint(a) and isint(b):
        # NumPy raises on negative integer powers; sharr defines them:
        # compare where the exponent is >= 0 (see the unit tests).
        if isinstance(b, np.ndarray) and np.issubdtype(b.dtype, np.signedinteger):
            b = np.where(b < 0, 0, b).astype(b.dtype)
        elif not isinstance(b, np.ndarray) and b < 0:
            return None
    return expected(f, [a, b])


def test_1_binary_pairs():
    arrs = inputs()
    vals = {k: read(v) for k, v in arrs.items()}
    b = Batch("p")
    for op in BINARY:
        for x in DTS:
            for y in DTS:
                a, bb = vals["A" + x], vals["B" + y]
                if op == "**" and np.issubdtype(bb.dtype, np.signedinteger) \
                        and np.issubdtype(a.dtype, np.integer):
                    continue  # negative integer powers: tested below
                want = ref_binary(op, a, bb)
                tol = TRANSCENDENTAL_ULPS if op == "**" and want is not None \
                    and want.dtype.kind in "fc" else 0
                b.add("%s %s %s" % (q("A" + x), op, q("B" + y)), want,
                      "%s %s %s" % (x, op, y), tol)
        for x in DTS:
            for num in ["3", "2.5", "(0.5+1j)"]:
                a = vals["A" + x]
                pyv = eval(num)
                if op == "**" and num == "3" and a.dtype.kind == "i":
                    continue  # negative integer powers: unit tests
                for expr, fn in [("%s %s %s" % (q("A" + x), op, num),
                                  lambda: ref_binary(op, a, pyv)),
                                 ("%s %s %s" % (num, op, q("A" + x)),
                                  lambda: ref_binary(op, pyv, a))]:
                    want = fn()
                    tol = TRANSCENDENTAL_ULPS if op == "**" and \
                        want is not None and want.dtype.kind in "fc" else 0
                    b.add(expr, want, "%s (%s)" % (expr, x), tol)
    for fname, f in FUNC2.items():
        for x in DTS:
            for y in DTS:
                want = expected(f, [vals["A" + x], vals["B" + y]])
                tol = TRANSCENDENTAL_ULPS if fname in TRANSCENDENTAL else 0
                b.add("%s(%s, %s)" % (fname, q("A" + x), q("B" + y)), want,
                      "%s(%s, %s)" % (fname, x, y), tol)
    b.run()


def test_2_functions_and_casts():
    vals = {dt: read(PFX + "A" + dt) for dt in DTS}
    b = Batch("f")
    for fname in FUNC1:
        f = NPF.get(fname) or getattr(np, fname)
        for x in DTS:
            a = vals[x]
            if fname in ("real", "imag", "conj", "round", "angle") and \
                    a.dtype.kind in "iu" and fname == "angle":
                want = expected(lambda z: np.arctan2(0, z), [a])
            else:
                want = expected(f, [a])
            if fname in ("floor", "ceil") and a.dtype.kind == "c":
                want = None
            tol = TRANSCENDENTAL_ULPS if fname in TRANSCENDENTAL or (
                fname == "abs" and a.dtype.kind == "c") else 0
            b.add("%s(%s)" % (fname, q("A" + x)), want,
                  "%s(%s)" % (fname, x), tol)
    for x in DTS:
        for y in DTS:
            with np.errstate(all="ignore"):
                want = vals[x].astype(NP[y])
            b.add("%s(%s)" % (y, q("A" + x)), want, "%s(%s)" % (y, x))
        # where and clip, with Python numbers for the other operands.
        a = vals[x]
        b.add("where(%s > 1, %s, 7)" % (q("A" + x), q("A" + x)),
              expected(lambda z: np.where(z > 1, z, 7), [a]),
              "where(%s)" % x)
        b.add("clip(%s, 2, 100)" % q("A" + x),
              expected(lambda z: np.clip(z, 2, 100), [a]), "clip(%s)" % x)
    b.run()


def test_2b_powers_of_python_numbers_take_numpys_fast_paths():
    """array ** 0.5, 1, -1, 2 and 0 are sqrt, the array, 1 / x, square and
    ones in NumPy (fast_scalar_power), not pow: (-inf) ** 0.5 is nan,
    (-0.0) ** 0.5 is -0.0, complex ** 0.5 is csqrt's, (-0-0j) ** 1 keeps
    its signs.  Other exponents go through pow (a few ulps: NumPy's own
    float32 pow may be a SIMD one).  Complex ** -1 is left out: NumPy's
    reciprocal, whose results at infinities sharr does not copy."""
    vals = {dt: read(PFX + "A" + dt) for dt in DTS}
    # Random values too: pow(x, 2) is not always rounded as x * x is.
    rng = np.random.default_rng(7)
    for dt in ("f32", "f64"):
        r = (rng.standard_normal(4000) * 10.0 ** rng.integers(-3, 4, 4000))
        name = put_array(SHARR, PFX + "R" + dt, r.astype(NP[dt]).reshape(-1, 1),
                         dt)
        vals["R" + dt] = read(name)
    b = Batch("p")
    for x in sorted(vals):
        a = vals[x]
        if a.dtype.kind not in "fc":
            continue
        for e in ("0.5", "1", "-1", "2", "0", "1.0", "3", "-2", "2.5"):
            if e == "-1" and a.dtype.kind == "c":
                continue
            fast = e in ("0.5", "1", "-1", "2", "0", "1.0")
            b.add("%s ** %s" % (q(x if x[0] == "R" else "A" + x), e),
                  expected(lambda z: z ** float(e), [a]),
                  "%s ** %s" % (x, e), 0 if fast else TRANSCENDENTAL_ULPS)
    b.run()


# ---- random expressions ----

# 0-d arrays are in the differential test: NumPy turns operations on them
# into NumPy scalars, and 1.24 promotes complex128 scalars as weak.
RSHAPES = [(4, 5), (5,), (4, 1), (1,), (1, 5)]


def gen(rng, depth, names):
    """A random expression of exact operations: (text, reads an array).
    Functions get arguments that read an array (a function of a Python
    number alone is a NumPy scalar, whose promotion NumPy 1.24 handles
    inconsistently); comparisons too (a comparison of two numbers is a
    Python bool)."""
    if depth == 0 or rng.random() < 0.15:
        if rng.random() < 0.2:
            return rng.choice(["2", "3", "0.5", "1.5", "(0.5+2j)", "7"]), False
        return rng.choice(names), True

    def sub(named=False):
        for _ in range(20):
            t, n = gen(rng, depth - 1, names)
            if n or not named:
                return t, n
        return rng.choice(names), True
    k = rng.random()
    if k < 0.45:
        (a, na), (b, nb) = sub(), sub()
        op = rng.choice(["+", "-", "*", "/", "//", "%", "+", "*"])
        return "(%s %s %s)" % (a, op, b), na or nb
    if k < 0.55:
        a, na = sub()
        return "(%s ** 2)" % a, na
    if k < 0.65:
        a, _ = sub(True)
        return "%s(%s)" % (rng.choice(["abs", "sqrt", "floor", "ceil", "round",
                                       "conj", "real", "imag", "-"]), a), True
    if k < 0.72:
        (a, _), (b, _) = sub(True), sub()
        return "%s(%s, %s)" % (rng.choice(["minimum", "maximum"]), a, b), True
    if k < 0.82:
        (a, _), (b, _), (c, _), (d, _) = sub(True), sub(), sub(True), sub()
        return "where(%s %s %s, %s, %s)" % (a, rng.choice(["<", ">", "==",
                                                          "!=", ">="]),
                                            b, c, d), True
    if k < 0.9:
        a, _ = sub(True)
        return "%s(%s)" % (rng.choice(DTS), a), True
    (a, na), (b, nb) = sub(), sub()
    return "(%s %s %s)" % (a, rng.choice(["&", "|", "^"]), b), na or nb


def np_namespace(env):
    def nof16(x):
        x = np.asarray(x) if not np.isscalar(x) else x
        if getattr(x, "dtype", None) in (np.float16,):
            raise ValueError("float16")
        return x
    ns = dict(env)
    for f in ["sqrt", "floor", "ceil", "conj", "real", "imag", "minimum",
              "maximum", "where", "abs"]:
        ns[f] = (lambda g: lambda *a: nof16(g(*a)))(NPF.get(f) or getattr(np, f))
    ns["round"] = lambda x: nof16(np.round(x))

    def real_abs(x):
        # NumPy's complex abs is a SIMD hypot of its own on this CPU (a
        # few ulps from libm's): the differential test covers it.
        if np.iscomplexobj(x):
            raise ValueError("complex abs")
        return nof16(np.abs(x))
    ns["abs"] = real_abs
    for dt, t in NP.items():
        ns[dt] = (lambda tt: lambda x: np.asarray(x).astype(tt)
                  if isinstance(x, np.ndarray) else tt(x))(t)
    return ns


def test_3_random_expressions():
    rng = random.Random(int(os.environ.get("SHARR_EVAL_SEED", "9")))
    np_rng = np.random.default_rng(9)
    env, names = {}, []
    order = ["i8", "i32", "u8", "u64", "f64", "u16", "f32", "c64", "c128",
             "i16", "i64", "u32"]
    for k, dt in enumerate(order):
        shape = RSHAPES[k % len(RSHAPES)]
        v = np_rng.integers(-20, 20, size=shape)
        if NP[dt](0).dtype.kind == "u":
            v = np.abs(v)
        v = v.astype(NP[dt])
        if v.dtype.kind in "fc":
            v = v + np.asarray(np_rng.random(shape) * 3).astype(NP[dt])
        if v.dtype.kind == "c":
            v = v + 1j * np.asarray(np_rng.integers(-5, 5, shape)).astype(NP[dt])
        nm = "x%d" % k
        put_array(SHARR, PFX + nm, v, dt)
        env[nm] = read(PFX + nm)
        names.append(nm)
    ns = np_namespace(env)
    b = Batch("r")
    n_cases, tries = int(os.environ.get("SHARR_EVAL_CASES", "3000")), 0
    while len(b.lines) < n_cases and tries < 20 * n_cases:
        tries += 1
        text, named = gen(rng, rng.randint(1, 5), names)
        if not named or len(set(re.findall(r"\bx\d+\b", text))) > 7:
            continue  # sharr reads at most 7 arrays in one expression
        try:
            with np.errstate(all="ignore"):
                want = eval(text, {"__builtins__": {}}, ns)
        except Exception:
            continue
        want = np.asarray(want)
        if want.dtype == np.bool_:
            want = want.astype(np.uint8)
        if want.dtype == np.float16 or want.dtype.kind not in "iufc":
            continue
        sh_text = re.sub(r"\bx(\d+)\b", lambda m: "'%sx%s'" % (PFX, m.group(1)),
                         text)
        b.add(sh_text, want, text)
    check(len(b.lines) >= n_cases, "random: %d cases generated" % len(b.lines))
    b.run()
    print("random: %d expressions of depth 1-5 over %s" %
          (len(b.lines), ", ".join("%s %s%s" % (nm, env[nm].dtype,
                                               env[nm].shape) for nm in names)))


# ---- errors ----

def test_4_errors_write_nothing():
    put_array(SHARR, PFX + "ef", np.arange(12.0).reshape(3, 4), "f64")
    put_array(SHARR, PFX + "ei", np.arange(5, dtype=np.int32), "i32")
    put_array(SHARR, PFX + "eu", np.arange(4, dtype=np.uint8), "u8")
    out = PFX + "eout"
    cases = [
        ("%s = 'ti' +" % out, 2, "syntax error at column"),
        ("%s = (%s + 1" % (out, q("ef")), 2, "missing ')'"),
        ("%s = %s + * 2" % (out, q("ef")), 2, "^"),
        ("%s = %s < %s < 2" % (out, q("ef"), q("ef")), 2, "chained"),
        ("%s = nosuch_%d + 1" % (out, os.getpid()), 1, "unknown name"),
        ("%s = %s + %s" % (out, q("ef"), q("ei")), 1, "(3, 4) and (5,)"),
        ("%s = %s & 1" % (out, q("ef")), 1, "'&' is not defined for f64"),
        ("%s = %s + 300" % (out, q("eu")), 1, "out of the range of u8"),
        ("%s = floor(c64(%s))" % (out, q("ef")), 1, "floor is not defined"),
        ("%s = frobnicate(%s)" % (out, q("ef")), 2, "unknown function"),
        ("%s = 1 / 0" % out, 1, "division by zero"),
        ("%s %s" % (out, q("ef")), 2, "expected 'OUT = EXPR'"),
    ]
    for stmt, code, text in cases:
        r = SHARR.run("eval", stmt)
        check(r.returncode == code and text in r.stderr and
              not os.path.exists(path(out)),
              "eval %r: exit %d and %r, nothing written (got %d: %s)"
              % (stmt, code, text, r.returncode, r.stderr.strip()))
    # The caret sits under the column named.
    r = SHARR.run("eval", "%s = %s + * 2" % (out, q("ef")))
    lines = r.stderr.splitlines()
    caret = [l for l in lines if l.strip() == "^"]
    col = int(lines[0].split("column ")[1].split(":")[0]) if "column" in \
        lines[0] else -1
    check(caret and caret[0].index("^") - 2 == col - 1,
          "caret under column %d: %s" % (col, r.stderr))
    # An existing OUT of another dtype is an error naming both, unless
    # --force; one of the same dtype and shape is written in place.
    put_array(SHARR, out, np.zeros(3, np.float32), "f32")
    r = SHARR.run("eval", "%s = %s * 2" % (out, q("ef")))
    check(r.returncode == 1 and "f32 (3,)" in r.stderr and "f64 (3, 4)" in
          r.stderr and np.array_equal(read(out), np.zeros(3, np.float32)),
          "mismatched OUT refused naming both: %s" % r.stderr)
    r = SHARR.run("eval", "--force", "%s = %s * 2" % (out, q("ef")))
    check(r.returncode == 0 and np.array_equal(read(out),
                                               np.arange(12.0).reshape(3, 4) * 2),
          "--force replaces OUT: %s" % r.stderr)
    SHARR("eval", "%s = %s + 1" % (q("ef")[1:-1], q("ef")))
    check(np.array_equal(read(PFX + "ef"), np.arange(12.0).reshape(3, 4) + 1),
          "OUT as its own input, in place")
    # Integer division by zero: 0 and a warning with the count.
    r = SHARR.run("eval", "%s = %s // (%s - %s)" % (PFX + "ez", q("ei"),
                                                    q("ei"), q("ei")))
    check(r.returncode == 0 and "warning: 5 integer divisions by zero" in
          r.stderr and np.array_equal(read(PFX + "ez"), np.zeros(5, np.int32)),
          "// by zero gives 0 with a counted warning: %s" % r.stderr)
    # --dtype casts unsafely; copy --dtype too.
    SHARR("eval", "--dtype", "u8", "%s = %s * 30" % (PFX + "ed", q("ef")))
    check(np.array_equal(read(PFX + "ed"),
                         ((np.arange(12.0).reshape(3, 4) + 1) * 30)
                         .astype(np.uint8)), "--dtype u8 wraps as astype")
    SHARR("copy", PFX + "ef", PFX + "ec", "--rows", "1:3", "--dtype", "i16")
    check(np.array_equal(read(PFX + "ec"),
                         (np.arange(12.0).reshape(3, 4) + 1)[1:3]
                         .astype(np.int16)), "copy --rows --dtype")
    r = SHARR.run("copy", PFX + "ef", PFX + "ec")
    check(r.returncode == 1 and "exists" in r.stderr, "copy onto DST refused")
    # 0-d arrays are strong (NEP 50): f32 * 0-d f64 is f64, u8 + 0-d i64
    # is i64; they broadcast against anything.
    put_array(SHARR, PFX + "z0", np.array(2.5), "f64")
    put_array(SHARR, PFX + "z1", np.array(-3, np.int64), "i64")
    put_array(SHARR, PFX + "zf", np.arange(6, dtype=np.float32).reshape(2, 3),
              "f32")
    SHARR("eval", "%s = %s * %s + %s" % (PFX + "zo", q("zf"), q("z0"),
                                         q("eu")[:-1] + "'"
                                         if False else q("z1")))
    zf, z0, z1 = read(PFX + "zf"), read(PFX + "z0"), read(PFX + "z1")
    want = zf * z0 + z1
    got = read(PFX + "zo")
    check(got.dtype == np.float64 and np.array_equal(got, want),
          "0-d arrays are strong and broadcast: %s %s" % (got.dtype, got))
    SHARR("eval", "%s = %s + %s" % (PFX + "zu", q("eu"), q("z1")))
    got = read(PFX + "zu")
    check(got.dtype == np.int64 and np.array_equal(
        got, read(PFX + "eu").astype(np.int64) - 3), "u8 + 0-d i64 is i64")
    left = [f for f in os.listdir("/dev/shm") if f.startswith("sharr.sharr-")
            and (".%d." % os.getpid()) in f]
    check(not left, "no staging array left: %s" % left)


def test_4b_killed_eval_leaves_no_half_array():
    import signal
    import time
    rng = np.random.default_rng(1)
    put_array(SHARR, PFX + "K", rng.random((64, 65536)), "f64")
    out = PFX + "Kout"
    expr = "%s = sin(%s) * cos(%s) + exp(-%s) ** 1.3 / (1 + %s)" % (
        out, q("K"), q("K"), q("K"), q("K"))
    for delay in (0.05, 0.15):
        p = subprocess.Popen([SHARR.binary, "eval", "-j", "1", expr],
                             stderr=subprocess.PIPE)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        p.stderr.close()
        staged = lambda: [f for f in os.listdir("/dev/shm") if
                          f.startswith("sharr.sharr-eval.%d." % p.pid)]
        for _ in range(100):  # the guardian removes the staging array
            if not staged():
                break
            time.sleep(0.05)
        check(not os.path.exists(path(out)) and not staged(),
              "killed after %.2f s: no OUT, no staging array (%s)"
              % (delay, staged()))
        if os.path.exists(path(out)):
            os.unlink(path(out))


# ---- -j 1 and -j 2 ----

def test_5_jobs_identical():
    rng = np.random.default_rng(5)
    put_array(SHARR, PFX + "J", rng.standard_normal((300, 700)), "f64")
    put_array(SHARR, PFX + "Jc", (rng.standard_normal((300, 700)) + 1j *
                                  rng.standard_normal((300, 700)))
              .astype(np.complex64), "c64")
    put_array(SHARR, PFX + "Jv", rng.standard_normal(700).astype(np.float32),
              "f32")
    exprs = ["sin(%s) * %s + sqrt(abs(%s))" % (q("J"), q("Jv"), q("J")),
             "rowsum(%s * %s)" % (q("J"), q("Jv")),
             "rowmean(%s) + rownorm(%s)" % (q("Jc"), q("J")),
             "rowmin(%s) - rowmax(%s - %s)" % (q("J"), q("J"), q("Jv")),
             "rowsum(%s) - rowmean(%s)" % (q("Jc"), q("Jc")),
             "exp(%s * 1j) / (1 + %s)" % (q("Jv"), q("Jc"))]
    outs = {}
    for jobs in (1, 2):
        for sched in ([], ["--schedule", "dynamic,7"]):
            lines = ["'%s%s%d' = %s" % (PFX, "jo", i, e)
                     for i, e in enumerate(exprs)]
            failed, r = run_batch(lines, jobs, sched)
            check(not failed, "-j %d %s: %s" % (jobs, sched, r.stderr))
            for i in range(len(exprs)):
                nm = "%sjo%d" % (PFX, i)
                if not failed:
                    outs.setdefault(i, []).append(read(nm).tobytes())
                    os.unlink(path(nm))
    for i, e in enumerate(exprs):
        check(len(set(outs.get(i, [b"x", b"y"]))) == 1,
              "-j 1, -j 2 and schedules give the same bytes: %s" % e)
    # The reductions against NumPy (sums in double: close, not equal).
    J, Jv = read(PFX + "J"), read(PFX + "Jv")
    SHARR("eval", "%s = rowsum(%s * %s)" % (PFX + "rs", q("J"), q("Jv")))
    check(np.allclose(read(PFX + "rs"), (J * Jv).sum(axis=1), rtol=1e-12),
          "rowsum against NumPy")
    SHARR("eval", "%s = rownorm(%s)" % (PFX + "rn", q("J")))
    check(np.allclose(read(PFX + "rn"), np.linalg.norm(J, axis=1),
                      rtol=1e-13), "rownorm against NumPy")
    SHARR("eval", "%s = rowmax(%s)" % (PFX + "rm", q("J")))
    check(np.array_equal(read(PFX + "rm"), J.max(axis=1)),
          "rowmax against NumPy")


if __name__ == "__main__":
    sys.exit(run_tests(globals(), "eval", PFX))
