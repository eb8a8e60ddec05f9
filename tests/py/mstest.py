"""Helpers shared by the script tests: where things are, running the CLI, comparing arrays."""
import os, subprocess, sys

BIN = os.environ.get("MONOSCOPE_BIN", "build/monoscope")
# optimised, unsanitized build for numerically heavy runs (training to convergence); see tests/CMakeLists.txt
FAST_BIN = os.environ.get("MONOSCOPE_FAST_BIN", BIN)
SRC = os.environ.get("MONOSCOPE_SRC", os.getcwd())
SHARED = os.environ.get("MONOSCOPE_SHARED", os.path.join(SRC, "..", "shared"))
TMP = os.environ.get("MONOSCOPE_TMP", "/tmp/monoscope-test")
os.makedirs(TMP, exist_ok=True)
sys.path.insert(0, os.path.join(SRC, "tests", "py"))

_failures = 0
_passed = 0


def run(*args, ok=True, input=None, env=None, fast=False):
    """Runs `monoscope args...`; returns CompletedProcess (text). ok=True asserts exit 0,
    ok=False asserts a non-zero exit with exactly one 'error' line and no crash signal.
    fast=True runs the optimised build (MONOSCOPE_FAST_BIN) for heavy numerical work."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([FAST_BIN if fast else BIN, *map(str, args)], capture_output=True, text=True, input=input, env=e)
    if ok and p.returncode != 0:
        raise AssertionError(f"monoscope {' '.join(map(str, args))} failed ({p.returncode}):\n{p.stderr}")
    if ok is False:
        assert p.returncode > 0, f"expected failure, got rc={p.returncode}: {p.stderr}"
        assert p.returncode < 128, f"crashed (rc={p.returncode}): {p.stderr}"
        assert "error" in p.stderr, f"no error message: {p.stderr!r}"
        assert "AddressSanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr
    return p


def check(name, fn):
    """Runs one named check, reporting PASS/FAIL; the script exits non-zero if any failed."""
    global _failures, _passed
    try:
        fn()
        _passed += 1
        print(f"PASS {name}", flush=True)
    except Exception as ex:  # report and continue with the other checks
        _failures += 1
        import traceback
        traceback.print_exc()
        print(f"FAIL {name}: {ex}", flush=True)


def finish():
    print(f"{_passed} passed, {_failures} failed", flush=True)
    sys.exit(1 if _failures else 0)
