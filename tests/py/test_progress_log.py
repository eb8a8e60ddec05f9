"""Progress for batch jobs (stderr not a terminal: nohup, SLURM, a pipe): plain lines, each complete
(no carriage return or cursor control), every MONOSCOPE_PROGRESS_SECONDS, with percent, rate and
ETA, and a last line at 100 %; none with MONOSCOPE_PROGRESS_SECONDS=0 or MONOSCOPE_NO_PROGRESS."""
import os
import re
import subprocess

import mstest
import fx_llama2c

T = os.path.join(mstest.TMP, "progress")
os.makedirs(T, exist_ok=True)
W, cfg, MODEL, IDS = fx_llama2c.capture_fixture(T, ids_seed=4, fixed_len=64, weights_seed=2, shared=True)

def capture(**env):
    e = {k: v for k, v in os.environ.items() if k != "MONOSCOPE_NO_PROGRESS"}
    e.update(env)
    out = os.path.join(T, "acts.h5")
    p = subprocess.run([mstest.BIN, "capture", "--model", MODEL, "--input", IDS, "--input-format", "ids", "--ctx", "64",
                        "--batch", "2", "--hooks", "blocks.*.hook_resid_post", "--out", out, "--overwrite"],
                       capture_output=True, text=True, env={k: str(v) for k, v in e.items()})
    assert p.returncode == 0, p.stderr
    return [x for x in p.stderr.splitlines() if x.startswith("capture: ")]

def log_lines():
    lines = capture(MONOSCOPE_PROGRESS_SECONDS="0.05")
    assert len(lines) >= 2, lines
    pat = re.compile(r"^capture: (\d+\.\d)% \d+/\d+ tok, [\d.]+ tok/s, elapsed \S+, eta \S+$")
    for x in lines:
        assert "\r" not in x and "\033" not in x, repr(x)
        assert pat.match(x), x
    pct = [float(pat.match(x).group(1)) for x in lines]
    assert pct == sorted(pct) and pct[-1] == 100.0, pct

def switched_off():
    assert capture(MONOSCOPE_PROGRESS_SECONDS="0") == []
    assert capture(MONOSCOPE_PROGRESS_SECONDS="0.05", MONOSCOPE_NO_PROGRESS="1") == []

mstest.check("stderr not a terminal: complete progress lines every N seconds, ending at 100 %", log_lines)
mstest.check("MONOSCOPE_PROGRESS_SECONDS=0 or MONOSCOPE_NO_PROGRESS: no progress lines", switched_off)
mstest.finish()
