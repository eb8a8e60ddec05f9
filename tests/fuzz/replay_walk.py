#!/usr/bin/env python3
"""replay_walk.py [--all] REPLAY JOBS FILE...: replays a campaign's crash reproducers the way users' commands
read files: through the normal test build's replay harness (build-test/tests/fuzz/fuzz_replay_<reader>,
gcc ASan+UBSan) with ms_h5_open's walk on (MONOSCOPE_H5_WALK=1). The campaign itself runs without the
walk, so each of its reproducers crashed libhdf5 (or hung, or asked for gigabytes) in-process; here
every one must be refused in one line or read, never crash.

Thousands of reproducers crash at a few dozen sites, and a walk costs a fork per file (about 0.3 s in
the ASan build), so the reproducers are grouped by the crash site classify.py recorded in FILE.report
(the kind of finding and the first frame outside the runtimes and libc, as a module offset) and the
two smallest of each group replayed, JOBS at a time, each under a 180 s limit (the walk's own limit is
60 s). With --all every reproducer is replayed: inputs that crashed libhdf5 at one site can still
differ in what the walk lets through to the reader (two of acts_h5's 814 did, on 2026-12-06). Prints one line per failing replay on stderr and "groups N replayed N clean N failed N" on
stdout; exits 1 when any failed.
"""
import concurrent.futures
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from classify import SYSTEM, first_stack  # noqa: E402

KIND = re.compile(r"ERROR: (?:AddressSanitizer|LeakSanitizer|libFuzzer): ([\w-]+)|runtime error|out-of-memory")
BAD = re.compile(r"ERROR: (?:AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: ")


def site(report):
    m = KIND.search(report)
    kind = m.group(1) or m.group(0) if m else "no-report"
    for mod, off in first_stack(report):
        if SYSTEM.search(mod) or "fuzz_" in os.path.basename(mod):
            continue  # runtime (linked into the harness) and libc frames
        if kind == "timeout":  # the PC where the alarm found a loop: group by its 4 KiB page instead
            return "%s %s+0x%xxxx" % (kind, os.path.basename(mod), off >> 12)
        return "%s %s+0x%x" % (kind, os.path.basename(mod), off)
    return kind


def replay(binary, path):
    supp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lsan.supp")  # as ctest runs it
    env = dict(os.environ, MONOSCOPE_H5_WALK="1", MONOSCOPE_NO_PROGRESS="1", OMP_NUM_THREADS="1",
               LSAN_OPTIONS="suppressions=%s:print_suppressions=0" % supp)
    try:
        p = subprocess.run([binary, path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                           errors="replace", timeout=180)
    except subprocess.TimeoutExpired:
        return "hung over 180 s"
    if p.returncode != 0 or BAD.search(p.stdout):
        lines = [l for l in p.stdout.splitlines() if BAD.search(l)] or p.stdout.splitlines()[-1:]
        return "exit %d: %s" % (p.returncode, lines[0] if lines else "")
    return None


def main():
    every = sys.argv[1] == "--all"
    binary, jobs, files = sys.argv[1 + every], int(sys.argv[2 + every]), sys.argv[3 + every:]
    groups = {}
    for f in files:
        try:
            with open(f + ".report", errors="replace") as r:
                key = site(r.read())
        except OSError:
            key = "unclassified"
        groups.setdefault(key, []).append(f)
    picks = files if every else [p for g in groups.values() for p in sorted(g, key=os.path.getsize)[:2]]
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        results = list(pool.map(lambda p: replay(binary, p), picks))
    failed = 0
    for p, r in zip(picks, results):
        if r:
            failed += 1
            print("%s: %s" % (p, r), file=sys.stderr)
    print("groups %d replayed %d clean %d failed %d" % (len(groups), len(picks), len(picks) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
