#!/usr/bin/env python3
"""classify.py FUZZER JOBS OPTS FILE...: replays each reproducer of a libFuzzer campaign once and says
where it crashed: "hdf5" (inside libhdf5, on a corrupt file: contained by ms_h5_open's walk), "ours"
(anywhere else: a finding) or "flaky" (no report on replay). Called by run_fuzzer.sh; OPTS is its
libFuzzer options as one string. Each replay's report is kept beside its input as FILE.report.

Replays run unsymbolized, JOBS at a time; the harness's frames are then symbolized in one
llvm-symbolizer call for all of them (a symbolized replay spent about 1 s per reproducer starting the
symbolizer, and a campaign's thousands of libhdf5 crashes took an hour). The crash site is the first
frame of the first stack that is neither a runtime's (the sanitizers' and libFuzzer's, linked into the
harness without debug information, e.g. ASan's strdup interceptor under libhdf5's H5MM_xstrdup) nor
glibc's or libstdc++'s. Prints one line per "ours" and "flaky" reproducer on stderr, and
"hdf5 N ours N flaky N" on stdout.
"""
import concurrent.futures
import os
import re
import subprocess
import sys

FRAME = re.compile(r"^\s+#(\d+) 0x[0-9a-f]+\s+(?:in .*? )?\((/[^()]+?)\+0x([0-9a-f]+)\)")
SYSTEM = re.compile(r"/(libc|libm|libstdc\+\+|libgcc_s|ld-linux[^/]*|libpthread)\.so")
FOUND = re.compile(r"ERROR|runtime error|refused")


def replay(fuzzer, opts, path):
    # a crash or an allocation under a long timeout (a loaded machine must not turn it into a hang);
    # a hang under its own
    slow = [] if os.path.basename(path).startswith("timeout-") else ["-timeout=120"]
    run = lambda extra: subprocess.run([fuzzer, *opts, *slow, *extra, path], stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, errors="replace").stdout
    report = run([])
    # An RSS-limit report carries the stack of libFuzzer's watchdog thread, not the allocation's: one
    # huge malloc can cross -rss_limit_mb before the -malloc_limit_mb hook sees it. With the RSS limit
    # lifted the hook names the allocating frame.
    # The long timeout holds for a hang's reproducer too: its RSS can take seconds to climb to the
    # allocation (sae_h5's timeout-892502f1 of 2026-12-06: a 24.8 GB vlen buffer inside libhdf5).
    if "out-of-memory (used:" in report:
        big = run(["-rss_limit_mb=16384", "-timeout=120"])
        if "out-of-memory (malloc(" in big:
            report = big
    with open(path + ".report", "w") as f:
        f.write(report)
    return report


def first_stack(report):
    frames = []
    for line in report.splitlines():
        m = FRAME.match(line)
        if not m:
            continue
        if m.group(1) == "0" and frames:
            break
        frames.append((m.group(2), int(m.group(3), 16)))
    return frames


def symbolize(fuzzer, offsets):
    """offset -> (function, file:line), one llvm-symbolizer run for all of them"""
    offsets = sorted(offsets)
    if not offsets:
        return {}
    out = subprocess.run(["llvm-symbolizer", "--obj=" + fuzzer, "--inlining=false"],
                         input="".join("0x%x\n" % o for o in offsets), stdout=subprocess.PIPE,
                         errors="replace", check=True).stdout
    blocks = [b.splitlines() for b in out.strip("\n").split("\n\n")]
    return {o: (b[0], b[1] if len(b) > 1 else "??") for o, b in zip(offsets, blocks)}


def main():
    fuzzer, jobs, opts, files = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4:]
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        reports = list(pool.map(lambda p: replay(fuzzer, opts, p), files))
    stacks = [first_stack(r) for r in reports]
    harness = os.path.realpath(fuzzer)
    names = symbolize(fuzzer, {o for s in stacks for mod, o in s if os.path.realpath(mod) == harness})
    counts = {"hdf5": 0, "ours": 0, "flaky": 0}
    for path, report, stack in zip(files, reports, stacks):
        if not FOUND.search(report):
            counts["flaky"] += 1
            print("%s: does not reproduce on replay" % path, file=sys.stderr)
            continue
        site = None
        for mod, off in stack:
            if os.path.realpath(mod) == harness:
                func, where = names.get(off, ("??", "??"))
                if where.startswith("??"):
                    continue  # a runtime's frame: no debug information
                site = ("ours", "%s %s" % (func, where))
            elif SYSTEM.search(mod):
                continue
            else:
                site = ("hdf5" if "libhdf5" in os.path.basename(mod) else "ours", mod)
            break
        if site is None:  # only runtime and system frames (an RSS report with no single allocation)
            first = FOUND.search(report)
            site = ("ours", report[first.start():].splitlines()[0])
        counts[site[0]] += 1
        if site[0] == "ours":
            print("%s: %s" % (path, site[1]), file=sys.stderr)
    print("hdf5 %d ours %d flaky %d" % (counts["hdf5"], counts["ours"], counts["flaky"]))


if __name__ == "__main__":
    main()
