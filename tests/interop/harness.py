"""What the interop tests share: running the sharr tool and counting checks.

    from harness import check, report, Sharr
"""
import subprocess

_failures = []
_checks = [0]


def check(cond, what):
    """Count one check; print and remember it when it fails."""
    _checks[0] += 1
    if not cond:
        _failures.append(what)
        print("FAIL:", what)


def report(title):
    """Print the summary line; the exit status for sys.exit()."""
    print("%s: %d checks, %d failed" % (title, _checks[0], len(_failures)))
    return 1 if _failures else 0


class Sharr:
    """The sharr tool: sharr("create", ...) runs it, raising on failure
    unless ok=False; the stdout of a success comes back as text."""

    def __init__(self, binary):
        self.binary = binary

    def run(self, *args):
        return subprocess.run([self.binary] + [str(a) for a in args],
                              capture_output=True, text=True)

    def __call__(self, *args, ok=True):
        r = self.run(*args)
        if ok and r.returncode != 0:
            raise RuntimeError("sharr %s failed (%d): %s"
                               % (" ".join(map(str, args)), r.returncode,
                                  r.stderr))
        return r.stdout if ok else r


def run_tests(namespace, title, prefix, cleanup=None):
    """Run every test_* function of `namespace` in name order, then remove
    the segments named sharr.<prefix>* (and call cleanup) whatever
    happened.  The exit status for sys.exit()."""
    import glob
    import os
    try:
        for name, fn in sorted(namespace.items()):
            if name.startswith("test_") and callable(fn):
                fn()
    finally:
        for p in glob.glob("/dev/shm/sharr." + prefix + "*"):
            os.unlink(p)
        if cleanup:
            cleanup()
    return report(title)
