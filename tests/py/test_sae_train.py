"""`monoscope sae train`: output layout and attributes, encoding rule vs numpy, hook globs,
bit-identical resume after kill -9, flat memory when streaming a file much larger than the
shuffle buffer, and one clear error line for bad input."""
import os, re, subprocess
import numpy as np
import h5py
import mstest
from mstest import run, check, finish, TMP, sae_arrays, kill_after_checkpoint
import synth_acts
from sae_planted import encode  # the numpy reference encoder (README formulas)

HOOK = "blocks.0.hook_resid_post"
A = os.path.join(TMP, "a.h5")
synth_acts.make(A, hooks=(HOOK, "blocks.1.hook_resid_post"), d_in=32, n_features=128, n_seq=64, ctx=32,
                active_mean=4, seed=3)


def small(out, *extra):
    return ["sae", "train", "--acts", A, "--hook", HOOK, "--out", out, "--d-sae", 128, "--k", 4,
            "--tokens", "60k", "--batch", 512, "--threads", 2, *extra]


def t_layout():
    out = os.path.join(TMP, "t.h5")
    p = run(*small(out))
    assert "peak RSS" in p.stderr and "lr" in p.stderr and "dead window" in p.stderr, p.stderr  # defaults printed
    with h5py.File(out) as f:
        assert f["W_enc"].shape == (32, 128) and f["W_dec"].shape == (128, 32)
        assert f["b_enc"].shape == (128,) and f["b_dec"].shape == (32,)
        assert all(f[n].dtype == np.float32 for n in ("W_enc", "W_dec", "b_enc", "b_dec"))
        for a in ("architecture", "d_in", "d_sae", "k", "hook", "model", "tokens_seen", "lr", "batch_size", "seed",
                  "norm_scale", "dead_window_tokens", "k_aux", "aux_coefficient", "adam_beta1", "monoscope_version",
                  "command", "lr_warmup_frac", "lr_decay_frac", "sparsity_warmup_frac"):
            assert a in f.attrs, a
        assert f.attrs["architecture"] == "topk" and f.attrs["hook"] == HOOK and f.attrs["d_sae"] == 128
        log = f["training_log"]
        cols = [c.decode() if isinstance(c, bytes) else c for c in log.attrs["columns"]]
        for c in ("step", "loss", "mse", "l0", "dead_frac", "explained_variance"):
            assert c in cols, cols
        L = log[:]
        assert L.shape[1] == len(cols) and L.shape[0] > 10
        assert np.all(np.isfinite(L))
        # the encoding rule of the README applied to the raw activations (normalisation folded in)
        X = h5py.File(A)["acts/" + HOOK][:].reshape(-1, 32)[:2000]
        F = encode(f, X)
        assert np.allclose((F > 0).sum(1).mean(), 4, atol=0.5)
        Xh = F @ f["W_dec"][:] + f["b_dec"][:]
        ev = 1 - ((X - Xh) ** 2).sum() / ((X - X.mean(0)) ** 2).sum()
        final = f.attrs["final_explained_variance"]
        assert abs(ev - final) < 0.1, (ev, final)  # same quality in raw units as logged in normalised units
    assert not os.path.exists(out + ".ckpt"), "checkpoint left behind after a completed run"


def t_glob():
    out = os.path.join(TMP, "g.h5")
    run("sae", "train", "--acts", A, "--hook", "blocks.*.hook_resid_post", "--out", out, "--d-sae", 64, "--k", 4,
        "--tokens", "20k", "--batch", 512)
    for h in (HOOK, "blocks.1.hook_resid_post"):
        p = os.path.join(TMP, "g.%s.h5" % h)
        with h5py.File(p) as f:
            assert f.attrs["hook"] == h and f["W_dec"].shape == (64, 32)


def t_resume():
    for arch in ("topk", "jumprelu"):
        ref = os.path.join(TMP, "ref_%s.h5" % arch)
        out = os.path.join(TMP, "res_%s.h5" % arch)
        # a short dead window so dead latents (and AuxK, and their counters) cross the checkpoint
        extra = ["--arch", arch, "--checkpoint-every", "8k", "--tokens", "80k", "--d-sae", 512, "--k", 2,
                 "--dead-window", 1024]
        run(*small(ref, *extra))
        args = small(out, *extra)
        ck = out + ".ckpt"
        kill_after_checkpoint(args, out, ck)
        p = run(*args, "--resume")
        assert "resuming" in p.stderr, p.stderr
        a, b = sae_arrays(ref), sae_arrays(out)
        for n in a:
            assert a[n] == b[n], "%s: %s differs after resume" % (arch, n)


def rss(p):
    m = re.search(r"peak RSS ([0-9.]+) MiB", p.stderr)
    assert m, p.stderr
    return float(m.group(1))


def t_stream_flat_rss():
    # d_in 128, 2048-token buffer (1 MiB): files of 25x and 50x the buffer (26 and 52 MiB float32).
    # The files are generated in a child process: Linux carries a parent's peak RSS across exec.
    small_f, big_f = os.path.join(TMP, "s1.h5"), os.path.join(TMP, "s2.h5")
    gen = os.path.join(mstest.SRC, "tests", "py", "synth_acts.py")
    for path, n_seq in ((small_f, 200), (big_f, 400)):
        subprocess.run(["/usr/bin/python3", gen, "--out", path, "--hook", HOOK, "--d-in", "128", "--n-features", "256",
                        "--n-seq", str(n_seq), "--ctx", "256", "--seed", "5"], check=True)
    common = ["--hook", HOOK, "--d-sae", 128, "--k", 8, "--batch", 256, "--buffer-tokens", 2048, "--checkpoint-every", 0]
    r1 = rss(run("sae", "train", "--acts", small_f, "--out", os.path.join(TMP, "r1.h5"), "--tokens", "103k", *common))
    r2 = rss(run("sae", "train", "--acts", big_f, "--out", os.path.join(TMP, "r2.h5"), "--tokens", "103k", *common))
    print("peak RSS: %.1f MiB (file 25x buffer, two passes), %.1f MiB (file 50x buffer, one pass)" % (r1, r2))
    assert r2 - r1 < 8, (r1, r2)  # doubling the file (+26 MiB) must not raise memory


def t_bad_input():
    out = os.path.join(TMP, "bad.h5")
    p = run("sae", "train", "--acts", A, "--hook", "blocks.9.hook_resid_post", "--out", out, ok=False)
    assert "blocks.9.hook_resid_post" in p.stderr and p.stderr.count("error") == 1, p.stderr
    p = run("sae", "train", "--acts", A, "--hook", "blocks.*.hook_nothing", "--out", out, ok=False)
    assert "no hook matches" in p.stderr, p.stderr
    p = run("sae", "train", "--acts", os.path.join(TMP, "missing.h5"), "--hook", HOOK, "--out", out, ok=False)
    assert "missing.h5" in p.stderr
    # files whose site shapes differ
    other = os.path.join(TMP, "other.h5")
    synth_acts.make(other, hooks=(HOOK,), d_in=16, n_features=64, n_seq=8, ctx=32, seed=1)
    p = run("sae", "train", "--acts", A + "," + other, "--hook", HOOK, "--out", out, ok=False)
    assert "shape" in p.stderr or "match" in p.stderr, p.stderr
    # NaN in the activations
    nan = os.path.join(TMP, "nan.h5")
    synth_acts.make(nan, hooks=(HOOK,), d_in=16, n_features=64, n_seq=8, ctx=32, seed=1)
    with h5py.File(nan, "a") as f:
        d = f["acts/" + HOOK]
        v = d[3]
        v[5, 2] = np.nan
        d[3] = v
    p = run("sae", "train", "--acts", nan, "--hook", HOOK, "--out", out, "--d-sae", 32, "--k", 2, "--batch", 64, ok=False)
    assert "non-finite" in p.stderr and "sequence 3" in p.stderr, p.stderr
    # not an activations file; bad options
    junk = os.path.join(TMP, "junk.h5")
    open(junk, "w").write("not hdf5")
    run("sae", "train", "--acts", junk, "--hook", HOOK, "--out", out, ok=False)
    run("sae", "train", "--acts", A, "--hook", HOOK, "--out", out, "--arch", "bogus", ok=False)
    run("sae", "train", "--acts", A, "--hook", HOOK, "--out", out, "--k", "-3", ok=False)
    run("sae", "train", "--acts", A, "--hook", HOOK, ok=False)
    assert not os.path.exists(out)
    # a resume with different settings is refused, not silently mixed
    ck_out = os.path.join(TMP, "mix.h5")
    with open(ck_out + ".ckpt", "wb") as f:
        f.write(b"")
    run(*small(ck_out, "--resume"), ok=False)
    os.remove(ck_out + ".ckpt")


def t_init_from():
    """--init-from starts from a saved SAE: with a negligible learning rate the result is that SAE
    (weights converted to the run's own normalisation and back), and it encodes the same; a file
    of another shape is refused."""
    src = os.path.join(TMP, "init_src.h5")
    run(*small(src))
    for arch in ("topk", "relu"):
        out = os.path.join(TMP, "init_%s.h5" % arch)
        extra = ["--arch", arch] + (["--l1", "1e-9"] if arch == "relu" else [])
        # topk: also the architecture of the source; relu: the same weights read as a ReLU SAE
        run("sae", "train", "--acts", A, "--hook", HOOK, "--out", out, "--d-sae", 128, "--k", 4, "--tokens", 1024,
            "--batch", 512, "--lr", "1e-20", "--init-from", src, *extra)
        with h5py.File(src) as a, h5py.File(out) as b:
            assert b.attrs["init_from"] == src
            for n in ("W_enc", "W_dec", "b_enc", "b_dec"):
                assert np.allclose(a[n][:], b[n][:], rtol=1e-5, atol=1e-6), (arch, n, np.abs(a[n][:] - b[n][:]).max())
            if arch == "topk":
                X = h5py.File(A)["acts/" + HOOK][:].reshape(-1, 32)[:2000]
                assert np.allclose(encode(a, X), encode(b, X), rtol=1e-4, atol=1e-5)
    p = run("sae", "train", "--acts", A, "--hook", HOOK, "--out", os.path.join(TMP, "init_bad.h5"), "--d-sae", 256,
            "--init-from", src, ok=False)
    assert "d_sae 128" in p.stderr and p.stderr.count("error") == 1, p.stderr


check("layout, attributes, encoding rule", t_layout)
check("--init-from continues from a saved SAE", t_init_from)
check("glob: one dictionary per site", t_glob)
check("resume after kill -9 is bit-identical", t_resume)
check("streaming: flat RSS for a file 10x+ the buffer", t_stream_flat_rss)
check("bad input: one error line", t_bad_input)
finish()
