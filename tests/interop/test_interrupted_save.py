#!/usr/bin/python3
"""An interrupted save never leaves a corrupt file under the final name and
never damages an existing file.

The saving `sharr save` is SIGKILLed at random moments, many times, while it
writes (a) a new file and (b) a new dataset into an existing file, both
contiguous and chunked + gzip.  After every kill the target must be either
absent / as before, or complete and correct, as h5py reads it; the staging
segments of killed saves must be gone (their guardian removes them).

    /usr/bin/python3 tests/interop/test_interrupted_save.py /path/to/sharr [N]
"""
import glob
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

from harness import check, report

SHARR = sys.argv[1]
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 30
PREFIX = "ti.%d." % os.getpid()
TMP = tempfile.mkdtemp(prefix="sharr-kill-")

def save_cmd(name, target, filtered):
    cmd = [SHARR, "save", name, target, "-j", "2"]
    return cmd + (["--gzip", "1", "--chunk", "4"] if filtered else [])


def timed_save(name, target, filtered):
    t0 = time.time()
    subprocess.run(save_cmd(name, target, filtered), check=True)
    return time.time() - t0


def killed_save(name, target, filtered, after):
    p = subprocess.Popen(save_cmd(name, target, filtered),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(after)
    p.send_signal(signal.SIGKILL)
    p.wait()
    return p.returncode


def timed_load(src):
    name = PREFIX + "t"
    t0 = time.time()
    subprocess.run([SHARR, "load", src + ":/d", name, "-j", "2"], check=True,
                   stdout=subprocess.DEVNULL)
    took = time.time() - t0
    subprocess.run([SHARR, "rm", name], check=True)
    return took


def loaded_whole(path, want):
    try:
        return np.array_equal(np.load(path, mmap_mode="r"), want)
    except Exception:
        return False


def dataset_state(path, dset, want):
    """'absent', 'complete', or a description of what is wrong."""
    if not os.path.exists(path):
        return "absent"
    try:
        with h5py.File(path, "r") as f:
            if dset not in f:
                return "absent"
            got = f[dset][...]
            return "complete" if np.array_equal(got, want) else "WRONG DATA"
    except Exception as e:  # a corrupt file is exactly what must not be
        return "CORRUPT: %s" % e


def main():
    rng = random.Random(1234)
    name = PREFIX + "a"
    outcomes = {}
    try:
        subprocess.run([SHARR, "create", name, "--shape", "64x40000",
                        "--fill", "random:5"], check=True)
        want = np.array(np.load("/dev/shm/sharr." + name, mmap_mode="r"))
        old = np.arange(100)
        pristine = os.path.join(TMP, "pristine.h5")
        with h5py.File(pristine, "w") as f:
            f["old"] = old
        for filtered in (False, True):
            span = 1.3 * timed_save(name, os.path.join(TMP, "calib%d.h5" % filtered) +
                                    ":/d", filtered)
            for r in range(ROUNDS):
                # (a) a new file
                new = os.path.join(TMP, "new.h5")
                if os.path.exists(new):
                    os.unlink(new)
                killed_save(name, new + ":/d", filtered, rng.uniform(0, span))
                state = dataset_state(new, "/d", want)
                outcomes[state] = outcomes.get(state, 0) + 1
                check(state in ("absent", "complete"),
                      "new file after kill: %s" % state)
                # (b) a dataset added to an existing file
                existing = os.path.join(TMP, "existing.h5")
                shutil.copy(pristine, existing)
                killed_save(name, existing + ":/d", filtered,
                            rng.uniform(0, span))
                state = dataset_state(existing, "/d", want)
                outcomes[state] = outcomes.get(state, 0) + 1
                check(state in ("absent", "complete"),
                      "existing file after kill: %s" % state)
                check(dataset_state(existing, "/old", old) == "complete",
                      "the existing dataset was damaged")
        # A load killed at any moment leaves no array, or the whole one.
        src = os.path.join(TMP, "src.h5")
        subprocess.run([SHARR, "save", name, src + ":/d", "--gzip", "1",
                        "--chunk", "4"], check=True)
        span = 1.3 * timed_load(src)
        for r in range(ROUNDS):
            killed = PREFIX + "k%d" % r
            p = subprocess.Popen([SHARR, "load", src + ":/d", killed, "-j",
                                  "2"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0, span))
            p.send_signal(signal.SIGKILL)
            p.wait()
            path = "/dev/shm/sharr." + killed
            time.sleep(0.05)
            for _ in range(100):  # the guardian removes an unfinished load
                if not os.path.exists(path) or loaded_whole(path, want):
                    break
                time.sleep(0.05)
            state = ("absent" if not os.path.exists(path) else
                     "complete" if loaded_whole(path, want) else "PARTIAL")
            outcomes["load " + state] = outcomes.get("load " + state, 0) + 1
            check(state in ("absent", "complete"),
                  "load after kill: %s" % state)
            if os.path.exists(path):
                os.unlink(path)
        time.sleep(0.5)  # guardians of killed saves remove staging arrays
        staging = glob.glob("/dev/shm/sharr.save-staging.*")
        alive = [p for p in staging
                 if os.path.exists("/proc/" + p.split(".")[-2])]
        check(len(staging) == len(alive),
              "staging arrays of killed saves left: %s" % staging)
        hidden = [p for p in glob.glob("/dev/shm/sharr..new.*")
                  if not os.path.exists("/proc/" + p.split(".")[3])]
        check(not hidden, "hidden builds of killed saves left: %s" % hidden)
    finally:
        subprocess.run([SHARR, "rm", name], stderr=subprocess.DEVNULL)
        shutil.rmtree(TMP, ignore_errors=True)
    print("interrupted save and load: %d kills, outcomes %s"
          % (5 * ROUNDS, outcomes))
    return report("interrupted save")


if __name__ == "__main__":
    sys.exit(main())
