"""capture --resume: a run killed with SIGKILL mid-way leaves <out>.partial with complete rows only;
resuming it gives exactly the file an uninterrupted run writes (every dataset, every attribute but
the command line). Also checks f16 storage, padding and the h5py-readable layout."""
import os
import signal
import subprocess
import time

import h5py
import numpy as np

import mstest
import fx_llama2c
import torch_ref

T = mstest.TMP
N_SEQ = 600
W, cfg, MODEL, IDS = fx_llama2c.capture_fixture(T, ids_seed=7, n_seq=N_SEQ)
HOOKS = "blocks.*.hook_resid_post,blocks.1.attn.hook_pattern,logits"


def args(out, *extra):
    return ["capture", "--model", MODEL, "--input", IDS, "--input-format", "ids", "--hooks", HOOKS, "--ctx", 64,
            "--batch", 2, "--out", out, *extra]


def read_all(path):
    with h5py.File(path, "r") as f:
        d = {}
        f.visititems(lambda k, v: d.__setitem__(k, v[:]) if isinstance(v, h5py.Dataset) else None)
        a = {k: v for k, v in f.attrs.items() if k != "command"}
    return d, a


def test_kill_and_resume():
    full = os.path.join(T, "full.h5")
    mstest.run(*args(full, "--overwrite"))
    out = os.path.join(T, "killed.h5")
    for p in (out, out + ".partial"):
        if os.path.exists(p):
            os.remove(p)
    # A kill inside HDF5's flush can leave the chunk being rewritten damaged: --resume then refuses in
    # one line naming the file (checksummed rows; never resumed into wrong data) and the attempt is
    # repeated; at least one of three kills must resume.
    for attempt in range(3):
        proc = subprocess.Popen([mstest.BIN, *map(str, args(out))], stderr=subprocess.PIPE)
        # wait until some batches are on disk, then kill without warning
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if os.path.exists(out + ".partial") and os.path.getsize(out + ".partial") > 3_000_000:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "capture finished before it could be killed; make the workload larger"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        assert not os.path.exists(out) and os.path.exists(out + ".partial")
        with h5py.File(out + ".partial", "r") as f:
            n = int(f.attrs["n_seq"])
        assert 0 < n < N_SEQ, n
        p = mstest.run(*args(out, "--resume"), ok=None)
        if p.returncode == 0:
            break
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and "killed.h5.partial" in lines[0] and "damaged" in lines[0], p.stderr
        os.remove(out + ".partial")
    assert p.returncode == 0, "three kills in a row left a partial file --resume refused"
    assert "resuming" in p.stderr, p.stderr
    assert not os.path.exists(out + ".partial")
    a_d, a_a = read_all(full)
    b_d, b_a = read_all(out)
    assert a_a == b_a, {k: (a_a.get(k), b_a.get(k)) for k in set(a_a) | set(b_a) if a_a.get(k) != b_a.get(k)}
    assert a_d.keys() == b_d.keys()
    for k in a_d:
        assert a_d[k].shape == b_d[k].shape and np.array_equal(a_d[k], b_d[k]), k


def test_resume_mismatch():
    out = os.path.join(T, "mm.h5")
    part = out + ".partial"
    for p in (out, part):
        if os.path.exists(p):
            os.remove(p)
    mstest.run(*args(out, "--max-tokens", 300))
    os.rename(out, part)  # pretend it was interrupted
    p = mstest.run(*args(out, "--resume", "--dtype", "f16"), ok=False)
    assert "dtype" in p.stderr, p.stderr


def test_extend_budget():
    # a finished capture continued to larger --max-tokens (twice) is byte for byte one run with the
    # largest budget, although the budgets cut rows mid-sequence; settings that differ are refused
    # and leave the finished file as it was
    one, two = os.path.join(T, "ext_one.h5"), os.path.join(T, "ext_two.h5")
    mstest.run(*args(one, "--max-tokens", 2001, "--overwrite"))
    mstest.run(*args(two, "--max-tokens", 777, "--overwrite"))
    p = mstest.run(*args(two, "--max-tokens", 1500, "--resume"))
    assert "extending" in p.stderr, p.stderr
    mstest.run(*args(two, "--max-tokens", 2001, "--resume"))
    a_d, a_a = read_all(one)
    b_d, b_a = read_all(two)
    assert a_a == b_a, {k: (a_a.get(k), b_a.get(k)) for k in set(a_a) | set(b_a) if a_a.get(k) != b_a.get(k)}
    assert a_a["n_tokens"] == 2001 and a_a["max_tokens"] == 2001
    for k in a_d:
        assert a_d[k].shape == b_d[k].shape and np.array_equal(a_d[k], b_d[k]), k
    p = mstest.run(*args(two, "--max-tokens", 2001, "--resume"))
    assert "nothing to resume" in p.stderr, p.stderr
    before = open(two, "rb").read()
    p = mstest.run(*args(two, "--max-tokens", 3000, "--resume", "--dtype", "f16"), ok=False)
    assert "dtype" in p.stderr, p.stderr
    assert open(two, "rb").read() == before and not os.path.exists(two + ".partial")


def test_layout_f16_and_values():
    out = os.path.join(T, "f16.h5")
    mstest.run(*args(out, "--overwrite", "--dtype", "f16", "--max-tokens", 200, "--compress", 1))
    with h5py.File(out, "r") as f:
        tok = f["tokens"][:]
        assert f["tokens"].dtype == np.int32 and tok.shape[1] == 64
        assert int(f.attrs["n_seq"]) == tok.shape[0] and (tok >= 0).sum() == 200 == int(f.attrs["n_tokens"])
        rp = f["acts/blocks.2.hook_resid_post"]
        assert rp.dtype == np.float16 and rp.shape == (tok.shape[0], 64, 64) and rp.chunks[1:] == (64, 64)
        for k in ("architecture", "n_layer", "d_model", "hooks", "ctx", "dtype", "monoscope_version", "command", "model"):
            assert k in f.attrs, k
        for i in range(tok.shape[0]):
            s = [int(x) for x in tok[i] if x >= 0]
            _, ref = torch_ref.forward(W, cfg, s)
            r = ref["blocks.2.hook_resid_post"]
            g = rp[i, :len(s)].astype(np.float64)
            assert np.abs(g - r).max() <= 2e-3 * np.abs(r).max(), i  # float16 storage
            assert (rp[i, len(s):] == 0).all()


mstest.check("SIGKILL mid-run, --resume equals an uninterrupted run", test_kill_and_resume)
mstest.check("--resume refuses different settings", test_resume_mismatch)
mstest.check("--resume continues a finished capture to a larger --max-tokens, as one run", test_extend_budget)
mstest.check("f16 layout, padding, values", test_layout_f16_and_values)
mstest.finish()
