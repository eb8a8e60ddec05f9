"""Dead-latent resampling for `sae train --arch relu` (sae/resample.h): a fixed, too-large L1
coefficient kills many latents of a ReLU SAE on planted-feature data; resampling them (Anthropic
2023) must leave clearly fewer dead latents and recover the planted dictionary at least as well;
the rows written at a resample point have the prescribed form (read from the checkpoint, in
training layout); and a run killed after a resample point and resumed is bit-identical."""
import os
import numpy as np
import h5py
from mstest import run, check, finish, TMP, sae_arrays, kill_after_checkpoint
import synth_acts
from sae_planted import encode  # the numpy reference encoder (README formulas)

HOOK = "blocks.0.hook_resid_post"
A = os.path.join(TMP, "rs_acts.h5")
# 96 random unit features in 32 dimensions (3x superposition), ~3 active per token; 16k tokens
D, _ = synth_acts.make(A, hooks=(HOOK,), d_in=32, n_features=96, n_seq=256, ctx=64, active_mean=3, seed=7)
# held-out tokens from the same dictionary
_rng = np.random.default_rng(99)
X_TEST = (synth_acts.codes(16384, 96, 3 / 96, _rng) @ D).astype(np.float32)
B, WINDOW = 512, 4096


def relu_args(out, tokens, *extra):
    # --l1 6 (fixed, decoder-norm weighted) is far above what these features carry: without
    # resampling many latents die and stay dead
    return ["sae", "train", "--acts", A, "--hook", HOOK, "--out", out, "--arch", "relu", "--d-sae", 256,
            "--l1", 6, "--tokens", tokens, "--batch", B, "--dead-window", WINDOW, "--threads", 2, "--seed", 1, *extra]


def log_col(f, name):
    cols = [c.decode() if isinstance(c, bytes) else c for c in f["training_log"].attrs["columns"]]
    return f["training_log"][:, cols.index(name)]


def t_revives():
    res = {}
    for tag, extra in (("off", ["--resample-every", 0]), ("on", [])):  # on: the default (the dead window)
        out = os.path.join(TMP, "rs_%s.h5" % tag)
        p = run(*relu_args(out, "200k", *extra), fast=True)
        with h5py.File(out) as f:
            F = encode(f, X_TEST)
            dead = float((F.max(0) <= 0).mean())  # latents that never fire on 16k held-out tokens
            mmc = synth_acts.mean_max_cos(D, f["W_dec"][:])
            Xh = F @ f["W_dec"][:] + f["b_dec"][:]
            ev = 1 - ((X_TEST - Xh) ** 2).sum() / ((X_TEST - X_TEST.mean(0)) ** 2).sum()
            every, n_rs = int(f.attrs["resample_every_tokens"]), int(f.attrs["resampled_latents"])
            cum = log_col(f, "resampled")
        res[tag] = (dead, mmc, ev)
        print("resampling %s: dead %.3f, mean max cosine %.4f, explained variance %.4f, resampled %d"
              % (tag, dead, mmc, ev, n_rs), flush=True)
        assert np.all(np.diff(cum) >= 0) and cum[-1] == n_rs, "training_log 'resampled' is not the running total"
        if tag == "off":
            assert every == 0 and n_rs == 0 and "resampling off" in p.stderr, p.stderr
        else:
            assert every == WINDOW and n_rs > 0, (every, n_rs)
            assert "resampling every %d tokens" % WINDOW in p.stderr, p.stderr
            assert "resampled %d dead latents in total" % n_rs in p.stderr, p.stderr
    (d0, m0, e0), (d1, m1, e1) = res["off"], res["on"]
    assert d0 > 0.3, "the setup should kill many latents without resampling (dead %.3f)" % d0
    assert d1 < 0.5 * d0, "resampling left dead fraction %.3f (without: %.3f)" % (d1, d0)
    assert m1 >= m0, "planted-feature recovery worse with resampling: %.4f < %.4f" % (m1, m0)
    assert e1 >= e0 - 0.01, "explained variance worse with resampling: %.4f < %.4f" % (e1, e0)


def t_other_arch_off():
    out = os.path.join(TMP, "rs_topk.h5")
    p = run("sae", "train", "--acts", A, "--hook", HOOK, "--out", out, "--d-sae", 64, "--k", 4, "--tokens", "8k",
            "--batch", B, "--resample-every", WINDOW, fast=True)
    assert "resampling off (relu only" in p.stderr, p.stderr
    with h5py.File(out) as f:
        assert f.attrs["resample_every_tokens"] == 0 and f.attrs["resampled_latents"] == 0
    assert "--resample-every" in run("sae", "train", "--help").stdout


def check_resampled_rows(ck):
    """The checkpoint is written right after a resample point: the latents resampled there are the
    ones whose Adam moments are all exactly 0 (every other latent has had a gradient by then)."""
    with h5py.File(ck) as f:
        step = int(f.attrs["step"])
        g = f["site0"]
        Wt, Wd, be, bd = g["Wt"][:], g["Wd"][:], g["be"][:], g["bd"][:]
        zero = ((g["mWt"][:] == 0).all(1) & (g["vWt"][:] == 0).all(1) & (g["mWd"][:] == 0).all(1)
                & (g["vWd"][:] == 0).all(1) & (g["mbe"][:] == 0) & (g["vbe"][:] == 0))
        since, scale = g["since_fired"][:], float(g.attrs["scale"])
    assert step * B % WINDOW == 0, "checkpoint at step %d is not a resample point" % step
    Z = np.nonzero(zero)[0]
    print("checkpoint at step %d: %d latents just resampled" % (step, len(Z)), flush=True)
    assert len(Z) > 0, "no latent resampled at step %d" % step
    assert np.all(since[Z] == 0) and np.all(be[Z] == 0)
    nd = np.linalg.norm(Wd[Z], axis=1)
    assert np.allclose(nd, 1, atol=1e-5), nd  # decoder rows of unit norm
    # encoder row = decoder direction x 0.2 x mean encoder norm of the latents alive at that point
    target = 0.2 * np.linalg.norm(Wt[~zero], axis=1).mean()
    ne = np.linalg.norm(Wt[Z], axis=1)
    assert np.allclose(ne, target, rtol=1e-4), (ne[:5], target)
    cos = (Wt[Z] * Wd[Z]).sum(1) / ne
    assert np.all(cos > 1 - 1e-5), cos.min()
    # each direction is (x - b_dec) for a training token x (normalised as the trainer does)
    X = h5py.File(A)["acts/" + HOOK][:].reshape(-1, 32).astype(np.float32) * np.float32(scale)
    V = X - bd
    V /= np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)
    best = (Wd[Z] @ V.T).max(1)
    assert np.all(best > 1 - 1e-4), best.min()
    # drawn without replacement: distinct tokens while the batch lasts
    if len(Z) <= B:
        assert len(np.unique(np.round(Wd[Z], 5), axis=0)) == len(Z), "two latents resampled to the same input"


def t_resume():
    ref = os.path.join(TMP, "rs_ref.h5")
    out = os.path.join(TMP, "rs_res.h5")
    # 196 steps; resample points every 8 steps up to step 98 (latents die from step ~64 on);
    # checkpoints at steps 72 and 144: the kill lands after the first, with resample points on both sides
    extra = ["--checkpoint-every", 72 * B]
    run(*relu_args(ref, "100k", *extra))
    args = relu_args(out, "100k", *extra)
    ck = out + ".ckpt"
    kill_after_checkpoint(args, out, ck)
    check_resampled_rows(ck)
    p = run(*args, "--resume")
    assert "resuming" in p.stderr, p.stderr
    a, b = sae_arrays(ref), sae_arrays(out)
    for n in a:
        assert a[n] == b[n], "%s differs after resume" % n
    with h5py.File(ref) as f, h5py.File(out) as g:
        assert f.attrs["resampled_latents"] == g.attrs["resampled_latents"] > 0
    # a checkpoint written with another resampling interval is refused
    kill_after_checkpoint(args, out, ck)
    p = run(*relu_args(out, "100k", *extra, "--resample-every", 2 * WINDOW, "--resume"), ok=False)
    assert "different settings" in p.stderr, p.stderr
    os.remove(ck)


check("resampling revives dead latents, recovery not worse", t_revives)
check("other architectures: resampling off", t_other_arch_off)
check("resample rows; resume after kill -9 is bit-identical", t_resume)
finish()
