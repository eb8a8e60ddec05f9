"""Helpers shared by the script tests: where things are, running the CLI, comparing arrays."""
import os, subprocess, sys

BIN = os.environ.get("MONOSCOPE_BIN", "build/monoscope")
# optimised, unsanitized build for numerically heavy runs (training to convergence); see tests/CMakeLists.txt
FAST_BIN = os.environ.get("MONOSCOPE_FAST_BIN", BIN)
SRC = os.environ.get("MONOSCOPE_SRC", os.getcwd())
SHARED = os.environ.get("MONOSCOPE_SHARED", os.path.join(SRC, "..", "shared"))
TMP = os.environ.get("MONOSCOPE_TMP", "/tmp/monoscope-test")
# Each script starts from an empty TMP: outputs are never replaced without --overwrite, so a file
# left by the previous run of the same test must not be there.
import shutil
shutil.rmtree(TMP, ignore_errors=True)
os.makedirs(TMP, exist_ok=True)
sys.path.insert(0, os.path.join(SRC, "tests", "py"))

_failures = 0
_passed = 0


def _file_size_limit(n_bytes):
    # a full disk, without root or a tmpfs: writes past n_bytes fail with EFBIG (SIGXFSZ ignored)
    def apply():
        import resource
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (n_bytes, n_bytes))
    return apply


def run(*args, ok=True, input=None, env=None, fast=False, file_limit=None):
    """Runs `monoscope args...`; returns CompletedProcess (text). ok=True asserts exit 0,
    ok=False asserts a non-zero exit with exactly one 'error' line and no crash signal.
    fast=True runs the optimised build (MONOSCOPE_FAST_BIN) for heavy numerical work.
    file_limit=N makes every file write past N bytes fail, as on a full disk."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([FAST_BIN if fast else BIN, *map(str, args)], capture_output=True, text=True, input=input, env=e,
                       preexec_fn=_file_size_limit(file_limit) if file_limit else None)
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


def sae_arrays(path):
    """An SAE file's weights and training log as bytes, for bit-identity checks (resume). The log's
    wall-clock 'seconds' column is left out: it is the one column that may differ between runs."""
    import h5py
    with h5py.File(path) as f:
        a = {n: f[n][:].tobytes() for n in ("W_enc", "W_dec", "b_enc", "b_dec")}
        cols = [c.decode() if isinstance(c, bytes) else c for c in f["training_log"].attrs["columns"]]
        assert "seconds" in cols, "training_log has no 'seconds' column: %s" % cols
        keep = [i for i, c in enumerate(cols) if c != "seconds"]
        a["training_log"] = f["training_log"][:][:, keep].tobytes()
        return a


def kill_at(args, ck, t_ref, frac, after_ckpt):
    """Starts `monoscope args...` and SIGKILLs it at frac of t_ref (the uninterrupted run's seconds)
    after its start, or, with after_ckpt, after its first checkpoint file ck appears (anchored on the
    checkpoint, not the clock, so a loaded machine shifts every point alike). Returns "finished" (it
    ended first), "resumed" (killed with a checkpoint on disk) or "rerun" (killed before one)."""
    import signal, time
    proc = subprocess.Popen([BIN, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20 * t_ref + 60
    while after_ckpt and not os.path.exists(ck) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    try:
        proc.wait(timeout=t_ref * frac)
    except subprocess.TimeoutExpired:
        pass
    finished = proc.poll() is not None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return "finished" if finished else "resumed" if os.path.exists(ck) else "rerun"


def kill_after_checkpoint(args, out, ck):
    """Starts `monoscope args...` (the sanitizer binary) writing out, and kills it with SIGKILL once
    its first checkpoint file ck exists (the interrupted half of a resume test); out must not exist."""
    import signal, time
    for p in (out, ck):
        if os.path.exists(p):
            os.remove(p)
    proc = subprocess.Popen([BIN, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not os.path.exists(ck) and proc.poll() is None and time.time() - t0 < 120:
        time.sleep(0.01)
    time.sleep(0.05)
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert killed, "run finished before it could be killed; make it longer"
    assert os.path.exists(ck) and not os.path.exists(out)
