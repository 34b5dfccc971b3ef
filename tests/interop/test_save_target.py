#!/usr/bin/python3
"""What a save does to its target and to files around it (issue 7):

- temporaries never follow a link planted at a name a save could use;
- a save through a symlink writes the file it points to; a file with
  several hard links is refused unless --force-hardlinks;
- saves into one HDF5 file, many at once, keep every dataset;
- a save honours HDF5's own file lock: while h5py holds the file open it
  waits (bounded) and then fails clearly, so nothing h5py writes is lost.

    /usr/bin/python3 tests/interop/test_save_target.py /path/to/sharr
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

from harness import Sharr, check, run_tests

sharr = Sharr(sys.argv[1])
PREFIX = "ti.%d.st." % os.getpid()
TMP = tempfile.mkdtemp(prefix="sharr-target-")
A = PREFIX + "a"
WANT = np.arange(12.0).reshape(3, 4)


def path(*parts):
    return os.path.join(TMP, *parts)


def fresh_dir(name):
    d = path(name)
    shutil.rmtree(d, ignore_errors=True)
    os.mkdir(d)
    return d


def h5_datasets(file):
    with h5py.File(file, "r") as f:
        return sorted(f.keys())


def leftovers(d):
    return [n for n in os.listdir(d) if ".sharr-" in n]


def save(*args):
    """Run `sharr save`; a failure is a failed check, not an exception."""
    r = sharr.run("save", A, *args)
    check(r.returncode == 0, "save %s: %s" % (" ".join(args),
                                              r.stderr.strip()))
    return r


def setup():
    sharr("create", A, "--shape", "3x4", "--fill", "range")


# ---- 1. temporaries at predictable names ----

def next_pids():
    """Make the next pids predictable (root), return the first of them."""
    with open("/proc/sys/kernel/ns_last_pid") as f:
        last = int(f.read())
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    # Near pid_max the pids wrap (a value past it is EINVAL): start low.
    at = last + 100 if last + 400 < pid_max else 300
    with open("/proc/sys/kernel/ns_last_pid", "w") as f:
        f.write(str(at))
    return at + 1


def plant(d, base, victim, first_pid):
    """Symlinks to `victim` at every name the old savers used for the next
    60 pids: .BASE.sharr-PID-N.tmp (HDF5), BASE.sharr-PID.tmp (.npy)."""
    for pid in range(first_pid, first_pid + 60):
        for n in range(3):
            os.symlink(victim, os.path.join(d, ".%s.sharr-%d-%d.tmp"
                                            % (base, pid, n)))
        os.symlink(victim, os.path.join(d, "%s.sharr-%d.tmp" % (base, pid)))


def test_planted_symlinks_never_redirect_a_save():
    d = fresh_dir("plant")
    victim = path("victim.h5")
    for base, existing in (("new.h5", False), ("old.h5", True),
                           ("x.npy", False)):
        # An HDF5 file: a save that follows a link opens it and adds to it.
        with h5py.File(victim, "w") as f:
            f["precious"] = np.arange(5)
        with open(victim, "rb") as f:
            before = f.read()
        if existing:
            with h5py.File(os.path.join(d, base), "w") as f:
                f["keep"] = np.arange(3)
        target = os.path.join(d, base) + ("" if base.endswith(".npy")
                                          else ":/d")
        plant(d, base, victim, next_pids())
        r = sharr.run("save", A, target, "-j", "1")
        check(r.returncode == 0, "save %s beside planted links: %s"
              % (base, r.stderr.strip()))
        with open(victim, "rb") as f:
            check(f.read() == before,
                  "a planted symlink made the save of %s write the victim"
                  % base)
        real = os.path.join(d, base)
        check(os.path.isfile(real) and not os.path.islink(real),
              "%s is not a regular file after the save" % base)
        if base.endswith(".h5") and os.path.isfile(real):
            got = h5_datasets(real)
            check(got == (["d", "keep"] if existing else ["d"]),
                  "%s holds %s" % (base, got))
        for n in os.listdir(d):
            if n.endswith(".tmp") and os.path.islink(os.path.join(d, n)):
                os.unlink(os.path.join(d, n))
        check(not leftovers(d), "temporaries left: %s" % leftovers(d))


# ---- 4. symlinks and hard links ----

def test_save_through_a_symlink_writes_the_file_it_points_to():
    d, real_dir = fresh_dir("links"), fresh_dir("real")
    real = os.path.join(real_dir, "data.h5")
    with h5py.File(real, "w") as f:
        f["old"] = np.arange(3)
    os.symlink(real, os.path.join(d, "data.h5"))
    save(os.path.join(d, "data.h5") + ":/new", "-j", "1")
    check(os.path.islink(os.path.join(d, "data.h5")),
          "the symlink was replaced by a file")
    check(h5_datasets(real) == ["new", "old"],
          "the file the link points to holds %s" % h5_datasets(real))
    # Relative link, .npy, --force.
    np.save(os.path.join(real_dir, "a.npy"), np.zeros(2))
    os.symlink("../real/a.npy", os.path.join(d, "a.npy"))
    save(os.path.join(d, "a.npy"), "--force")
    check(os.path.islink(os.path.join(d, "a.npy")),
          "the .npy symlink was replaced by a file")
    check(np.array_equal(np.load(os.path.join(real_dir, "a.npy")), WANT),
          "the .npy file the link points to was not written")
    check(not leftovers(d) and not leftovers(real_dir),
          "temporaries left: %s %s" % (leftovers(d), leftovers(real_dir)))
    # A link to nothing is refused, not replaced.
    os.symlink("nowhere.h5", os.path.join(d, "dangling.h5"))
    r = sharr.run("save", A, os.path.join(d, "dangling.h5") + ":/x")
    check(r.returncode == 1 and "symbolic link to a missing file" in r.stderr,
          "dangling link: %d %s" % (r.returncode, r.stderr.strip()))
    check(os.path.islink(os.path.join(d, "dangling.h5")),
          "the dangling link was replaced")


def test_hard_linked_target_is_refused_unless_forced():
    d = fresh_dir("hard")
    one, two = os.path.join(d, "one.h5"), os.path.join(d, "two.h5")
    with h5py.File(one, "w") as f:
        f["old"] = np.arange(3)
    os.link(one, two)
    r = sharr.run("save", A, one + ":/new")
    check(r.returncode == 1 and "2 hard links" in r.stderr and
          "--force-hardlinks" in r.stderr,
          "hard-linked target: %d %s" % (r.returncode, r.stderr.strip()))
    check(h5_datasets(two) == ["old"], "the refused save changed the file")
    # --append writes the file both names share.
    save(one + ":/appended", "--append")
    check(h5_datasets(two) == ["appended", "old"],
          "--append through one hard link: the other has %s"
          % h5_datasets(two))
    # Forced: this name gets the new file, the other keeps the old one.
    save(one + ":/new", "--force-hardlinks")
    check(h5_datasets(one) == ["appended", "new", "old"] and
          h5_datasets(two) == ["appended", "old"],
          "--force-hardlinks: %s / %s" % (h5_datasets(one), h5_datasets(two)))
    np.save(os.path.join(d, "a.npy"), np.zeros(2))
    os.link(os.path.join(d, "a.npy"), os.path.join(d, "b.npy"))
    r = sharr.run("save", A, os.path.join(d, "a.npy"), "--force")
    check(r.returncode == 1 and "hard links" in r.stderr,
          ".npy with hard links: %d %s" % (r.returncode, r.stderr.strip()))


# ---- 2. concurrent saves ----

def concurrent(target, n, extra=()):
    procs = [subprocess.Popen([sharr.binary, "save", A, "%s:/d%d" % (target, i),
                               "-j", "1"] + list(extra),
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
             for i in range(n)]
    return [(p.wait(), p.stderr.read()) for p in procs]


def test_concurrent_saves_into_one_file_keep_every_dataset():
    d = fresh_dir("conc")
    target = os.path.join(d, "f.h5")
    for rnd in range(4):
        if os.path.exists(target):
            os.unlink(target)
        if rnd % 2:  # into an existing file; else all race to create it
            with h5py.File(target, "w") as f:
                f["old"] = np.arange(3)
        extra = ["--append"] if rnd == 3 else []
        results = concurrent(target, 8, extra)
        bad = [e for rc, e in results if rc != 0]
        check(not bad, "round %d: failed saves: %s" % (rnd, bad[:2]))
        want = ["d%d" % i for i in range(8)] + (["old"] if rnd % 2 else [])
        got = h5_datasets(target)
        check(got == sorted(want), "round %d: the file holds %s" % (rnd, got))
        with h5py.File(target, "r") as f:
            check(all(np.array_equal(f["d%d" % i][...], WANT)
                      for i in range(8) if "d%d" % i in f),
                  "round %d: wrong data" % rnd)
    check(not leftovers(d), "temporaries left: %s" % leftovers(d))


# ---- item 4 of the issue: HDF5's own lock ----

HOLDER = """
import h5py, sys, time
f = h5py.File(sys.argv[1], sys.argv[2])
print("open", flush=True)
sys.stdin.readline()
if sys.argv[2] != "r":
    f["late"] = [1, 2, 3]
f.close()
"""


def hold(file, mode):
    p = subprocess.Popen(["/usr/bin/python3", "-c", HOLDER, file, mode],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    check(p.stdout.readline().strip() == "open", "h5py could not open")
    return p


def release(p):
    p.stdin.write("\n")
    p.stdin.flush()
    p.wait()


def test_save_refuses_a_file_h5py_holds_open_for_writing():
    d = fresh_dir("lock")
    shared = os.path.join(d, "shared.h5")
    with h5py.File(shared, "w") as f:
        f["old"] = np.arange(3)
    for extra in ([], ["--append"]):
        p = hold(shared, "a")
        t0 = time.time()
        r = sharr.run("save", A, shared + ":/x", "--wait", "0.5", *extra)
        took = time.time() - t0
        release(p)
        check(r.returncode == 1 and "open for writing (HDF5 file lock)"
              in r.stderr and "shared.h5" in r.stderr,
              "save %s while h5py writes: %d %s"
              % (extra, r.returncode, r.stderr.strip()))
        check(0.4 < took < 3, "the bounded wait took %.2f s" % took)
        got = h5_datasets(shared)
        check(got == ["late", "old"], "after h5py closed: %s" % got)
        with h5py.File(shared, "a") as f:
            del f["late"]


def test_save_waits_for_h5py_to_close_the_file():
    d = fresh_dir("wait")
    shared = os.path.join(d, "shared.h5")
    with h5py.File(shared, "w") as f:
        f["old"] = np.arange(3)
    p = hold(shared, "a")
    s = subprocess.Popen([sharr.binary, "save", A, shared + ":/x"],
                         stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    release(p)
    err = s.stderr.read()
    check(s.wait() == 0, "the waiting save failed: %s" % err)
    check("waiting up to 5 s" in err, "the wait was not reported: %s" % err)
    check(h5_datasets(shared) == ["late", "old", "x"],
          "after both: %s" % h5_datasets(shared))
    # A reader only: the message says so.
    p = hold(shared, "r")
    r = sharr.run("save", A, shared + ":/y", "--wait", "0")
    release(p)
    check(r.returncode == 1 and "open for reading" in r.stderr,
          "save while h5py reads: %d %s" % (r.returncode, r.stderr.strip()))


def cleanup():
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    setup()
    sys.exit(run_tests(globals(), "save targets", PREFIX, cleanup))
