"""The Python half of bench_expr.c: numexpr (2 threads) and NumPy on the
sharr segments the C half made.  Run by it, with the case number, the
name prefix and the repetitions; prints "ne MED MIN MAX np MED MIN MAX"
in seconds, or nothing for numexpr missing (the C half says so)."""
import sys
import time

import numpy as np

try:
    import numexpr as ne
except ImportError:
    sys.exit(0)

k, pfx, reps = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ne.set_num_threads(2)


def arr(name):
    return np.load("/dev/shm/sharr." + pfx + name, mmap_mode="r+")


def fig(fn):
    fn()  # first touch
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    t.sort()
    return t[len(t) // 2], t[0], t[-1]


if k == 0:
    a, b, z = arr("a"), arr("b"), arr("z")
    nef = lambda: ne.evaluate("a*b + a", out=z)
    npf = lambda: a * b + a
elif k == 1:
    x, y = arr("x"), arr("y")
    nef = lambda: ne.evaluate("2*x*y + sqrt(x)", out=y)
    npf = lambda: 2 * x * y + np.sqrt(x)
elif k == 2:
    z, m = arr("z"), arr("m")
    # numexpr's abs of a complex is complex: real() makes it f64.
    nef = lambda: ne.evaluate("real(abs(z))", out=m)
    npf = lambda: np.abs(z)
else:
    frames, dark, f = arr("frames"), arr("dark"), arr("f")
    g = np.float32(1.7)  # numexpr has no casts: an f32 constant keeps f32
    nef = lambda: ne.evaluate("(frames - dark) * g", out=f)
    npf = lambda: (frames - dark) * np.float32(1.7)
n, p = fig(nef), fig(npf)
print("ne %.6f %.6f %.6f np %.6f %.6f %.6f" % (n + p))
