#!/usr/bin/python3
"""An interrupted save never leaves a corrupt file under the final name and
never damages an existing file.

The saving `sharr save` is SIGKILLed at random moments, many times, while it
writes (a) a new file and (b) a new dataset into an existing file, both
contiguous and chunked + gzip.  After every kill the target must be either
absent / as before, or complete and correct, as h5py reads it; the staging
segments of killed saves must be gone (their guardian removes them).

Then the temporary files (issue 7): a save interrupted by SIGINT (to its
process group, as Ctrl-C), SIGTERM or SIGHUP leaves none beside its target;
one SIGKILLed leaves one, which `sharr gc DIR` and the next save into the
directory remove, while temporaries of live savers, of other PID
namespaces, of another boot or of another user stay.

Then `--append` (issue 7): appends SIGKILLed at random moments, for about
20 s, never lose a dataset that was in the file (the new one is absent or
complete).  And, with strace, appends killed before each of their writes
in turn, into files of both HDF5 formats: never a damaged file; and appends
whose saver is killed once their last in-place phase began: that phase
completes.

    /usr/bin/python3 tests/interop/test_interrupted_save.py /path/to/sharr [N]
"""
import fcntl
import glob
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

from harness import check, report, sigint_default

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


def temporaries(d):
    return sorted(n for n in os.listdir(d) if ".sharr-" in n)


def signalled_save(name, target, sig, after, group):
    """A save into `target` that gets `sig` after `after` seconds (sent to
    its process group, as a terminal's Ctrl-C does, or to it alone)."""
    p = subprocess.Popen(sigint_default([SHARR, "save", name, target, "-j",
                                         "2"]),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    time.sleep(after)
    if group:
        os.killpg(p.pid, sig)
    else:
        p.send_signal(sig)
    return p.wait()


def signals_remove_the_temporary(name, rng, rounds):
    d = os.path.join(TMP, "signals")
    os.mkdir(d)
    big = os.path.join(d, "big.h5")
    subprocess.run([SHARR, "save", name, big + ":/d0"], check=True)
    span = 1.3 * timed_save(name, big + ":/calib", False)
    interrupted = 0
    by_signal = {}
    for r in range(rounds):
        for sig, group in ((signal.SIGINT, True), (signal.SIGTERM, False),
                           (signal.SIGHUP, False)):
            rc = signalled_save(name, big + ":/s%d_%d" % (r, sig), sig,
                                rng.uniform(0.05, span), group)
            interrupted += rc == -sig
            by_signal[sig.name] = by_signal.get(sig.name, 0) + (rc == -sig)
            check(rc in (0, -sig), "save got %s: exit %d" % (sig.name, rc))
            left = temporaries(d)
            check(not left, "%s left %s" % (sig.name, left))
            for n in left:
                os.unlink(os.path.join(d, n))
    check(interrupted >= rounds, "only %d saves were interrupted"
          % interrupted)
    # Each signal ends some save: one ignored (SIGINT, in a background job
    # that did not restore it) would only let its saves complete.
    check(min(by_signal.values()) > 0, "saves interrupted, by signal: %s"
          % by_signal)
    return interrupted


def ignored_signals_stay_ignored(name, want):
    """A save started with SIGINT, SIGTERM or SIGHUP ignored (a background
    job, nohup) is not ended by that signal: it completes."""
    d = os.path.join(TMP, "ignored")
    os.mkdir(d)
    out = os.path.join(d, "out.h5")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        target = "/%s" % sig.name
        p = subprocess.Popen(["env", "--ignore-signal=" + sig.name[3:],
                              SHARR, "save", name, out + ":" + target, "-j",
                              "2"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        seen = False
        for _ in range(5000):  # the save is under way: its handlers are set
            seen = bool(temporaries(d)) or p.poll() is not None
            if seen:
                break
            time.sleep(0.001)
        p.send_signal(sig)
        rc = p.wait()
        check(rc == 0, "a save that ignores %s got it: exit %d" % (sig.name,
                                                                  rc))
        check(dataset_state(out, target, want) == "complete",
              "after %s ignored: %s" % (sig.name,
                                        dataset_state(out, target, want)))
        check(not temporaries(d), "%s ignored left %s" % (sig.name,
                                                          temporaries(d)))


def killed_leaving_a_temporary(name, target, d):
    """SIGKILL a save once its temporary exists; the temporary's name."""
    before = set(temporaries(d))
    p = subprocess.Popen([SHARR, "save", name, target, "-j", "2"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(2000):
        if set(temporaries(d)) - before:
            break
        time.sleep(0.001)
    p.send_signal(signal.SIGKILL)
    p.wait()
    left = sorted(set(temporaries(d)) - before)
    check(len(left) == 1, "a SIGKILLed save left %s" % left)
    return left[0] if left else None


def own_start_time():
    with open("/proc/self/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


def fake_temporaries(d):
    """Temporaries of savers that cannot be judged gone: {name: why}."""
    ns = int(os.readlink("/proc/self/ns/pid")[5:-1])
    with open("/proc/sys/kernel/random/boot_id") as f:
        boot = f.read()[:8]
    dead = subprocess.Popen(["true"])
    dead.wait()
    fmt = ".x.h5.sharr-%d-%d-%d-%s-%016x.tmp"
    keep = {fmt % (os.getpid(), own_start_time(), ns, boot, 1): "alive",
            fmt % (dead.pid, 1, ns + 1, boot, 2): "other PID namespace",
            fmt % (dead.pid, 1, ns, "%08x" % (int(boot, 16) ^ 1), 3):
                "other boot",
            fmt % (dead.pid, 1, ns, boot, 4): "another user's",
            ".x.h5.sharr-%d-0.tmp" % dead.pid: "old format"}
    gone = fmt % (dead.pid, 1, ns, boot, 5)
    for n in list(keep) + [gone]:
        with open(os.path.join(d, n), "w") as f:
            f.write("x")
    os.chown(os.path.join(d, fmt % (dead.pid, 1, ns, boot, 4)), 65534, 65534)
    return keep, gone


def killed_temporaries_are_removed_later(name):
    d = os.path.join(TMP, "killed")
    os.mkdir(d)
    big = os.path.join(d, "big.h5")
    subprocess.run([SHARR, "save", name, big + ":/d0"], check=True)
    left = killed_leaving_a_temporary(name, big + ":/k1", d)
    r = subprocess.run([SHARR, "gc", "--dry-run", d], capture_output=True,
                       text=True)
    check(r.returncode == 0 and "would remove %s/%s" % (d, left) in r.stdout,
          "gc --dry-run DIR: %d %s %s" % (r.returncode, r.stdout, r.stderr))
    check(temporaries(d) == [left], "gc --dry-run removed something")
    keep, gone = fake_temporaries(d)
    r = subprocess.run([SHARR, "gc", d], capture_output=True, text=True)
    check(r.returncode == 0 and "removed %s/%s" % (d, left) in r.stdout and
          "removed %s/%s" % (d, gone) in r.stdout,
          "gc DIR: %d %s %s" % (r.returncode, r.stdout, r.stderr))
    check(temporaries(d) == sorted(keep),
          "gc DIR kept %s, not just %s" % (temporaries(d), sorted(keep)))
    # The next save into the directory removes a killed save's temporary.
    left = killed_leaving_a_temporary(name, big + ":/k2", d)
    subprocess.run([SHARR, "save", name, os.path.join(d, "other.npy")],
                   check=True)
    check(temporaries(d) == sorted(keep),
          "the next save left %s" % [n for n in temporaries(d)
                                     if n not in keep])
    for n in keep:
        os.unlink(os.path.join(d, n))


OLD = {"/old%d" % i: np.arange(50 + i) * i for i in range(10)}
OLD["/g/inner"] = np.arange(7.0)


def old_datasets_file(path):
    """An h5py file (its default, pre-1.8 format) with datasets to keep."""
    with h5py.File(path, "w") as f:
        for k, v in OLD.items():
            f[k] = v
        f["/old0"].attrs["note"] = "keep me"


def wait_unlocked(path, limit=10.0):
    """Wait (bounded) until nothing holds path's HDF5 lock: a killed
    append's last writes may still be going on, under its lock."""
    t0 = time.time()
    with open(path, "rb") as f:
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
                fcntl.flock(f, fcntl.LOCK_UN)
                return
            except BlockingIOError:
                check(time.time() - t0 < limit, "%s stays locked" % path)
                if time.time() - t0 >= limit:
                    return
                time.sleep(0.005)


def append_state(path, expect, dset, want):
    """None if every dataset of `expect` is intact, else what is wrong;
    and whether `dset` is there, complete."""
    try:
        with h5py.File(path, "r") as f:
            for k, v in expect.items():
                if not np.array_equal(f[k][...], v):
                    return "%s changed" % k, False
            if dset not in f:
                return None, False
            try:
                return (None, True) if np.array_equal(f[dset][...], want) \
                    else ("%s is named but wrong" % dset, False)
            except Exception as e:
                return "%s is named but unreadable: %s" % (dset, e), False
    except Exception as e:
        return "the file does not open: %s" % e, False


def killed_appends(name, want, rng, budget):
    d = os.path.join(TMP, "append")
    os.mkdir(d)
    target = os.path.join(d, "run.h5")
    old_datasets_file(target)
    expect = dict(OLD)
    span = 1.3 * timed_save(name, target + ":/calib", False)
    expect["/calib"] = want
    kills, complete, t0, r, torn = 0, 0, time.time(), 0, []
    while time.time() - t0 < budget:
        r += 1
        dset = "/a%d" % r if r % 2 else "/g/a%d" % r
        filtered = r % 3 == 0
        cmd = save_cmd(name, target + ":" + dset, filtered) + ["--append"]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, span))
        p.send_signal(signal.SIGKILL)
        p.wait()
        kills += 1
        wait_unlocked(target)
        wrong, there = append_state(target, expect, dset, want)
        if wrong:
            # The last in-place phase of an append is made by a process of
            # its own that a kill of the saver does not stop
            # (h5ordered.c): no kill of the saver may tear the file.
            torn.append("round %d: %s" % (r, wrong))
            old_datasets_file(target)
            expect = dict(OLD)
            expect["/calib"] = want
            subprocess.run(save_cmd(name, target + ":/calib", False) +
                           ["--append"], check=True,
                           stdout=subprocess.DEVNULL)
            continue
        if there:
            expect[dset] = want
            complete += 1
        if os.path.getsize(target) > 400e6:  # keep /tmp small
            old_datasets_file(target)
            expect = dict(OLD)
    check(not torn, "%d of %d killed appends tore the file: %s" %
          (len(torn), kills, "; ".join(torn)))
    # A killed append leaves a hidden partial dataset at most; the next
    # append removes it and works.
    subprocess.run(save_cmd(name, target + ":/last", True) + ["--append"],
                   check=True)
    wrong, there = append_state(target, expect, "/last", want)
    check(wrong is None and there, "append after the kills: %s" % wrong)
    return kills, complete


def append_kill_points(name, want):
    """Kill an append before each of its writes in turn (strace injects the
    SIGKILL), into files of h5py's default format and of libver='latest',
    into the root group and a subgroup, with and without gzip: no kill may
    damage the file, nor name a dataset that is not complete."""
    if not shutil.which("strace"):
        print("SKIP: append kill points: strace is not installed")
        return 0
    d = os.path.join(TMP, "points")
    os.mkdir(d)
    target, runs = os.path.join(d, "t.h5"), 0
    for libver in ("earliest", "latest"):
        pristine = os.path.join(d, "p-%s.h5" % libver)
        with h5py.File(pristine, "w", libver=libver) as f:
            for k, v in OLD.items():
                f[k] = v
        for dset, filtered in (("/new", False), ("/g/new", False),
                               ("/new", True), ("/g/new", True)):
            cmd = save_cmd(name, target + ":" + dset, filtered) + [
                "-j", "1", "--append"]
            shutil.copy(pristine, target)
            trace = os.path.join(d, "trace")
            subprocess.run(["strace", "-f", "-qq", "-o", trace, "-e",
                            "trace=pwrite64"] + cmd, check=True)
            with open(trace) as f:
                writes = sum("pwrite64(" in line for line in f)
            for k in range(1, writes + 1):
                shutil.copy(pristine, target)
                subprocess.run(["strace", "-f", "-qq", "-o", os.devnull, "-e",
                                "trace=pwrite64", "-e",
                                "inject=pwrite64:signal=KILL:when=%d" % k]
                               + cmd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                runs += 1
                wrong, _ = append_state(target, OLD, dset, want)
                check(wrong is None, "%s append to %s (%s) killed before "
                      "write %d of %d: %s" % ("gzip" if filtered else "plain",
                                              dset, libver, k, writes, wrong))
    return runs


def proc_state(pid):
    """The state letter of /proc/PID/stat, '?' once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid) as f:
            return f.read()
    except OSError:
        return ""


def children_of(pid):
    kids = []
    for task in glob.glob("/proc/%d/task/*/children" % pid):
        try:
            with open(task) as f:
                kids += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return kids


def pwrite_offset(line):
    """The offset of a pwrite64 line of strace, or None."""
    if "pwrite64(" not in line:
        return None
    found = re.findall(r", (\d+), (\d+)\) += ", line)
    return int(found[-1][1]) if found else None


def append_killed_in_final_phase(name, want):
    """Kill the saving `sharr` (SIGKILL, as a user's `kill -9`) right after
    the first write of an append's last in-place phase: that phase still
    completes, so the dataset is there and whole.  strace delays every
    write by DELAY after it was made, which gives the kill its moment:
    writes below the file's old size are the final phase's, and each phase
    begins with the superblock (offset 0), so a dry run counts the phases
    and the kill comes at the last one's first write."""
    if not shutil.which("strace"):
        print("SKIP: append killed in its final phase: strace is not "
              "installed")
        return 0
    d = os.path.join(TMP, "final")
    os.mkdir(d)
    target, runs = os.path.join(d, "t.h5"), 0
    pristine = os.path.join(d, "p.h5")
    with h5py.File(pristine, "w") as f:
        for k, v in OLD.items():
            f[k] = v
    old_size = os.path.getsize(pristine)
    delay = 0.2
    for dset, filtered in (("/new", False), ("/g/new", False),
                           ("/g/new", True)):
        cmd = save_cmd(name, target + ":" + dset, filtered) + ["--append"]
        shutil.copy(pristine, target)
        trace = os.path.join(d, "trace")
        subprocess.run(["strace", "-f", "-qq", "-o", trace, "-P", target,
                        "-e", "trace=pwrite64"] + cmd, check=True)
        with open(trace) as f:
            phases = sum(pwrite_offset(line) == 0 for line in f)
        check(phases >= 1, "no final phase seen in %s" % trace)
        shutil.copy(pristine, target)
        st = subprocess.Popen(["strace", "-f", "-qq", "-o", "/dev/stdout",
                               "-P", target, "-e", "trace=pwrite64", "-e",
                               "inject=pwrite64:delay_exit=%d" %
                               int(delay * 1e6)] + cmd,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
        saver = None
        for _ in range(500):  # strace's child once it runs sharr
            saver = next((k for k in children_of(st.pid)
                          if cmdline(k).startswith(SHARR + "\0")), None)
            if saver:
                break
            time.sleep(0.01)
        seen, killed = 0, False
        for line in st.stdout:
            offset = pwrite_offset(line)
            if offset is None:
                continue
            if offset == 0:
                seen += 1
            if seen == phases and offset < old_size and not killed:
                try:
                    os.kill(saver, signal.SIGKILL)
                    killed = True
                except ProcessLookupError:
                    killed = None
                    continue
                # Dead (its files closed), while the final phase goes on
                # (each write delayed): the target must stay locked, or a
                # reader sees half of it and a writer corrupts it.
                for _ in range(400):
                    if proc_state(saver) in ("Z", "?"):
                        break
                    time.sleep(0.005)
                try:
                    with h5py.File(target, "r"):
                        locked = False
                except OSError:
                    locked = True
                check(locked, "%s: the target was not locked while its "
                      "append's final phase went on after the saver died"
                      % dset)
        st.wait()
        runs += 1
        check(killed, "%s: %s" % (dset, "the saver had exited before its "
                                  "final phase was seen" if killed is None
                                  else "the final phase was never seen"))
        time.sleep(0.1)
        wrong, there = append_state(target, OLD, dset, want)
        check(wrong is None and there, "%s%s append killed in its final "
              "phase: %s" % ("gzip " if filtered else "", dset,
                             wrong or "the dataset is not there"))
    return runs


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def locked(path):
    with open(path, "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(f, fcntl.LOCK_UN)
            return False
        except BlockingIOError:
            return True


def orphaned_worker_keeps_the_lock(name, want):
    """An append whose saver is killed while its worker still writes (the
    supervisor, stopped here, cannot kill the worker yet): the target stays
    locked until that worker is gone, so no other writer gets in while it
    writes, and no dataset is lost."""
    if not shutil.which("strace"):
        print("SKIP: orphaned worker: strace is not installed")
        return 0
    d = os.path.join(TMP, "orphan")
    os.mkdir(d)
    target = os.path.join(d, "t.h5")
    old_datasets_file(target)
    old_size = os.path.getsize(target)
    cmd = save_cmd(name, target + ":/new", False) + ["--append"]
    st = subprocess.Popen(["strace", "-f", "-qq", "-o", "/dev/stdout", "-P",
                           target, "-e", "trace=pwrite64", "-e",
                           "inject=pwrite64:delay_exit=300000"] + cmd,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True)
    saver = sup = None
    for _ in range(500):
        saver = next((k for k in children_of(st.pid)
                      if cmdline(k).startswith(SHARR + "\0")), None)
        if saver:
            break
        time.sleep(0.01)
    held = None
    for line in st.stdout:
        offset = pwrite_offset(line)
        if offset is None or offset < old_size or held is not None:
            continue
        # The worker writes the new dataset: stop its supervisor, kill the
        # saver, and look at the lock while the worker lives on.
        sup = next((k for k in children_of(saver)
                    if comm(k) == "sharr-pool"), None)
        if not sup:
            break
        os.kill(sup, signal.SIGSTOP)
        os.kill(saver, signal.SIGKILL)
        for _ in range(400):
            if proc_state(saver) in ("Z", "?"):
                break
            time.sleep(0.005)
        held = locked(target)
        os.kill(sup, signal.SIGCONT)  # it sees the saver gone: kills all
    st.wait()
    check(sup is not None, "orphaned worker: no supervisor found")
    check(held is True, "the target was unlocked while the killed saver's "
          "worker still wrote into it")
    wait_unlocked(target)
    wrong, _ = append_state(target, OLD, "/new", want)
    check(wrong is None, "orphaned worker: %s" % wrong)
    return 1


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
                # The killed saver's worker may still hold the file's lock
                # for the moment its supervisor takes to kill it.
                wait_unlocked(existing)
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
        signalled = signals_remove_the_temporary(name, rng, max(2, ROUNDS // 5))
        killed_temporaries_are_removed_later(name)
        ignored_signals_stay_ignored(name, want)
        appended = killed_appends(name, want, rng, 20)
        subprocess.run([SHARR, "create", PREFIX + "small", "--shape",
                        "30x400", "--fill", "range"], check=True)
        points = append_kill_points(PREFIX + "small",
                                    np.arange(12000.0).reshape(30, 400))
        orphan = orphaned_worker_keeps_the_lock(name, want)
        final = append_killed_in_final_phase(PREFIX + "small",
                                             np.arange(12000.0).reshape(30,
                                                                        400))
    finally:
        subprocess.run([SHARR, "rm", PREFIX + "small"],
                       stderr=subprocess.DEVNULL)
        subprocess.run([SHARR, "rm", name], stderr=subprocess.DEVNULL)
        shutil.rmtree(TMP, ignore_errors=True)
    print("interrupted save and load: %d kills, outcomes %s; %d saves "
          "interrupted by SIGINT/SIGTERM/SIGHUP; %d appends killed at random "
          "(%d complete), %d before each write in turn, %d in their final "
          "phase" % (5 * ROUNDS, outcomes, signalled, appended[0],
                     appended[1], points, final))
    return report("interrupted save")


if __name__ == "__main__":
    sys.exit(main())
