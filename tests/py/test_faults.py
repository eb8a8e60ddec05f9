"""Faults: a full disk during capture, SAE training, encoding and rendering (every write past a
limit fails with EFBIG, as on a full disk: RLIMIT_FSIZE, no root or tmpfs needed), and capture
killed with SIGKILL at many points. Each run ends in one error line naming the file and no crash;
nothing that looks complete is left behind; and a resumed or repeated run gives exactly the output
of an uninterrupted one (every dataset, every attribute but the command line)."""
import os
import signal
import subprocess
import time

import h5py
import numpy as np

import mstest
import fx_llama2c

T = os.path.join(mstest.TMP, "faults")
os.makedirs(T, exist_ok=True)
W, cfg, MODEL, IDS = fx_llama2c.capture_fixture(T, ids_seed=11)
HOOKS = "blocks.*.hook_resid_post,blocks.1.attn.hook_pattern"


def capture_args(out, *extra):
    return ["capture", "--model", MODEL, "--input", IDS, "--input-format", "ids", "--hooks", HOOKS, "--ctx", 64,
            "--batch", 2, "--out", out, *extra]


def read_all(path):
    with h5py.File(path, "r") as f:
        d = {}
        f.visititems(lambda k, v: d.__setitem__(k, v[:]) if isinstance(v, h5py.Dataset) else None)
        if "training_log" in d:  # wall-clock seconds differ between runs; every other column must not
            cols = [str(c) for c in f["training_log"].attrs["columns"]]
            d["training_log"] = np.delete(d["training_log"], cols.index("seconds"), axis=1)
        a = {k: v for k, v in f.attrs.items() if k not in ("command", "seconds")}
    return d, a


def same_file(a, b):
    a_d, a_a = read_all(a)
    b_d, b_a = read_all(b)
    assert a_a.keys() == b_a.keys() and all(np.array_equal(a_a[k], b_a[k]) for k in a_a), (a_a, b_a)
    assert a_d.keys() == b_d.keys(), (a_d.keys(), b_d.keys())
    for k in a_d:
        assert a_d[k].shape == b_d[k].shape and np.array_equal(a_d[k], b_d[k]), k


def fresh(*paths):
    for p in paths:
        for q in (p, p + ".partial", p + ".ckpt"):
            if os.path.exists(q):
                os.remove(q)


def leftovers(d, before):
    return sorted(set(os.listdir(d)) - before)


FULL = os.path.join(T, "full.h5")
mstest.run(*capture_args(FULL, "--overwrite"))
FULL_SIZE = os.path.getsize(FULL)


def one_error_naming(p, name):
    lines = [x for x in p.stderr.strip().splitlines() if "error" in x]  # sae train's header lines are not errors
    assert len(lines) == 1 and name in lines[0], p.stderr
    return lines[0]


def capture_disk_full():
    out = os.path.join(T, "df.h5")
    for frac in (0.02, 0.3, 0.7):
        fresh(out)
        p = mstest.run(*capture_args(out), ok=False, file_limit=int(FULL_SIZE * frac))
        one_error_naming(p, "df.h5")
        assert not os.path.exists(out), "a file that looks complete was left after a write failure"
        # space freed: --resume either refuses with one error line naming the file or completes the capture
        # exactly; it never gives a complete-looking file with missing rows
        r = mstest.run(*capture_args(out, "--resume"), ok=None)
        if r.returncode == 0:
            same_file(FULL, out)
        else:
            assert 0 < r.returncode < 128, r.stderr
            one_error_naming(r, "df.h5")
            assert not os.path.exists(out)
            mstest.run(*capture_args(out, "--overwrite"))  # starting over works
            same_file(FULL, out)


def capture_until(out, frac, stderr):
    """Starts the capture into out and returns it (running, or finished if it outpaced the poll) once
    its .partial file holds frac of the uninterrupted file's size."""
    proc = subprocess.Popen([mstest.BIN, *map(str, capture_args(out))], stderr=stderr, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(out + ".partial") and os.path.getsize(out + ".partial") >= FULL_SIZE * frac:
            break
        time.sleep(0.005)
    return proc


def capture_killed_at_many_points():
    out = os.path.join(T, "killed.h5")
    refused = []
    for frac in (0.05, 0.2, 0.4, 0.6, 0.8, 0.95):
        fresh(out)
        proc = capture_until(out, frac, subprocess.DEVNULL)
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if finished:  # the run outpaced the poll: its output must then be complete and right
            same_file(FULL, out)
            continue
        assert not os.path.exists(out), "killed run left a complete-looking file"
        if os.path.exists(out + ".partial"):
            # a kill inside HDF5's flush may leave a partial file HDF5 cannot open: then --resume must
            # refuse in one line naming it; otherwise it must complete the capture exactly
            r = mstest.run(*capture_args(out, "--resume"), ok=None)
            if r.returncode != 0:
                assert 0 < r.returncode < 128, r.stderr
                one_error_naming(r, "killed.h5")
                refused.append(frac)
                mstest.run(*capture_args(out, "--overwrite"))
        else:
            mstest.run(*capture_args(out))
        assert not os.path.exists(out + ".partial")
        same_file(FULL, out)
    print(f"  resume refused (unreadable partial) at {refused or 'no'} kill points", flush=True)
    assert len(refused) <= 2, "most kills left a partial file --resume cannot open"


def resume_after_damage(damaged, resume_args, out, ref, name):
    """damaged (a partial file or checkpoint) truncated to half, then with one byte flipped at 1/4,
    1/2 and 3/4 of it; after each, `resume_args()` must either refuse in one error line naming `name`
    and leave no out, or finish with out equal to ref. Returns the outcomes and the file's size."""
    with open(damaged, "rb") as f:
        good = f.read()
    damages = [good[:len(good) // 2]]
    for i in range(1, 4):
        at = len(good) * i // 4
        damages.append(good[:at] + bytes([good[at] ^ 0xFF]) + good[at + 1:])
    seen = []
    for data in damages:
        fresh(out)
        with open(damaged, "wb") as f:
            f.write(data)
        r = mstest.run(*resume_args(), ok=None)
        if r.returncode == 0:
            same_file(ref, out)
            seen.append("exact")
        else:
            assert 0 < r.returncode < 128, r.stderr
            one_error_naming(r, name)
            assert not os.path.exists(out)
            seen.append("refused")
    return seen, len(good)


def capture_partial_damaged():
    """A .partial truncated or with one byte flipped at three places before --resume: refused in one
    line naming it (the capture file is checksummed: HDF5 1.8-format metadata, Fletcher-32 per chunk, and
    --resume reads back every row it keeps), or, where the damage is in bytes never read or rewritten
    anyway, completed exactly. Never a complete-looking file with different numbers."""
    out = os.path.join(T, "damaged.h5")
    fresh(out)
    proc = capture_until(out, 0.5, subprocess.DEVNULL)
    assert proc.poll() is None, "capture finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    seen, size = resume_after_damage(out + ".partial", lambda: capture_args(out, "--resume"), out, FULL, "damaged.h5")
    print(f"  damaged partial files ({size} B): {' '.join(seen)}", flush=True)


def capture_ctrl_c_prints_resume():
    out = os.path.join(T, "ctrlc.h5")
    fresh(out)
    proc = capture_until(out, 0.3, subprocess.PIPE)
    assert proc.poll() is None, "capture finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    err = proc.communicate()[1]
    assert proc.returncode == 130, (proc.returncode, err)
    lines = err.splitlines()
    i = lines.index("monoscope: interrupted; continue with:")
    cmd = lines[i + 1].strip()
    assert cmd.endswith(" --resume") and "'blocks.*.hook_resid_post,blocks.1.attn.hook_pattern'" in cmd, cmd
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True)  # the printed line, as a user pastes it
    if r.returncode != 0:  # only an interrupt inside HDF5's flush may leave an unreadable partial
        one_error_naming(r, "ctrlc.h5")
        return
    same_file(FULL, out)


SAE = os.path.join(T, "sae.h5")


def sae_args(out, *extra):
    return ["sae", "train", "--acts", FULL, "--hook", "blocks.1.hook_resid_post", "--arch", "topk", "--k", 8,
            "--expansion", 4, "--batch", 256, "--tokens", "20k", "--checkpoint-every", "5k", "--seed", 3, "--out", out,
            *extra]


def sae_train_disk_full():
    fresh(SAE)
    mstest.run(*sae_args(SAE))
    ref_size = os.path.getsize(SAE)
    out = os.path.join(T, "sae_df.h5")
    for limit in (4096, ref_size // 2):
        fresh(out)
        before = set(os.listdir(T))
        p = mstest.run(*sae_args(out), ok=False, file_limit=limit)
        one_error_naming(p, "sae_df.h5")
        left = [x for x in leftovers(T, before) if not x.endswith(".ckpt")]
        assert left == [], f"left behind: {left}"
        ck = out + ".ckpt"
        if os.path.exists(ck):  # a checkpoint that was written completely may stay; resuming from it is exact
            mstest.run(*sae_args(out, "--resume"))
        else:
            mstest.run(*sae_args(out))
        same_file(SAE, out)


def sae_train_killed_at_many_points():
    """SIGKILL at five points of `sae train` (before the first checkpoint, at it, and between later
    checkpoints or inside the final write): no complete-looking output is ever
    left; --resume from the checkpoint (or a rerun when none was written) equals the uninterrupted run.
    Then a checkpoint truncated or with a byte flipped at three places before --resume: one error line naming it, or
    the exact result (a corruption HDF5 does not notice in data it never reads)."""
    def args(o, *extra):  # long enough that training, not start-up, fills most of the run
        return [*sae_args(o, *extra), "--tokens", "80k", "--checkpoint-every", "10k"]
    ref = os.path.join(T, "sae_long.h5")
    fresh(ref)
    t0 = time.time()
    mstest.run(*args(ref))
    t_ref = time.time() - t0
    out = os.path.join(T, "sae_kill.h5")
    ck = out + ".ckpt"
    resumed = 0
    outcome = []
    # kill points: 5 % of the reference run's time (before the first checkpoint), then when the first
    # checkpoint appears plus 0, 10, 30 and 60 % of that time; anchored on the checkpoint, not on the
    # clock, so a loaded machine shifts them all alike
    for when in ((0.05, False), (0.0, True), (0.1, True), (0.3, True), (0.6, True)):
        frac, after_ckpt = when
        fresh(out)
        outcome.append(mstest.kill_at(args(out), ck, t_ref, frac, after_ckpt))
        if outcome[-1] != "finished" and os.path.exists(out):
            # killed after the final rename (the commit point) but before the checkpoint's removal:
            # the output is the finished one; only the stale checkpoint remains
            outcome[-1] = "committed"
        if outcome[-1] in ("finished", "committed"):
            same_file(ref, out)
            continue
        assert not os.path.exists(out), f"kill at {when}: a complete-looking output was left"
        if os.path.exists(ck):
            mstest.run(*args(out, "--resume"))
            resumed += 1
        else:
            mstest.run(*args(out))
        assert not os.path.exists(ck), "the checkpoint outlived a finished run"
        stale = [x for x in os.listdir(T) if ".tmp." in x]
        assert not stale, f"temp files of the killed run left behind: {stale}"
        same_file(ref, out)
    print(f"  uninterrupted run {t_ref:.1f} s; kills at 5 %, first checkpoint + 0/10/30/60 %: {' '.join(outcome)}", flush=True)
    assert resumed >= 1, "no kill landed after a checkpoint"
    # a damaged checkpoint (checksummed: train/ckpt.h): refused in one line naming it, or resumed
    # exactly when the damage is in bytes HDF5 never reads
    fresh(out)
    mstest.kill_after_checkpoint([*args(out)], out, ck)
    seen, size = resume_after_damage(ck, lambda: args(out, "--resume"), out, ref, "sae_kill.h5")
    print(f"  damaged checkpoints ({size} B): {' '.join(seen)}", flush=True)


def encode_and_render_disk_full():
    if not os.path.exists(SAE):
        mstest.run(*sae_args(SAE))
    cases = (("codes.h5", ["sae", "encode", "--sae", SAE, "--acts", FULL]),
             ("heat.png", ["viz", "heatmap", "--sae", SAE, "--acts", FULL, "--seq", 0]),
             ("dash", ["viz", "dashboard", "--sae", SAE, "--acts", FULL, "--features", "0-3"]))
    for name, cmd in cases:
        out = os.path.join(T, name)
        if os.path.isdir(out):
            for x in os.listdir(out):
                os.remove(os.path.join(out, x))
        elif os.path.exists(out):
            os.remove(out)
        before = set(os.listdir(T))
        p = mstest.run(*cmd, "--out", out, ok=False, file_limit=2048)
        one_error_naming(p, name)
        left = leftovers(T, before)
        if name == "dash":  # the folder may exist; no image in it may be partial
            left = [x for x in left if x != "dash"] + [f"dash/{x}" for x in os.listdir(out) if not x.endswith(".png")]
            for x in os.listdir(out):
                assert not x.endswith(".png") or os.path.getsize(os.path.join(out, x)) > 0
        assert left == [], f"{name}: left behind {left}"


mstest.check("capture on a full disk: one error line, nothing complete-looking, --resume exact or refused", capture_disk_full)
mstest.check("capture killed with SIGKILL at six points, --resume equals an uninterrupted run or refuses", capture_killed_at_many_points)
mstest.check("capture's partial file truncated or corrupted before --resume: refused in one line or exact", capture_partial_damaged)
mstest.check("Ctrl-C during capture: exit 130 with the --resume command, which completes it exactly", capture_ctrl_c_prints_resume)
mstest.check("sae train on a full disk: one error line, no temp files, the rerun/resume exact", sae_train_disk_full)
mstest.check("sae train killed with SIGKILL at five points, --resume exact; a damaged checkpoint refused or exact", sae_train_killed_at_many_points)
mstest.check("sae encode, viz heatmap, viz dashboard on a full disk: one error line, no partial outputs", encode_and_render_disk_full)
mstest.finish()
