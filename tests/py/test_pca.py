"""`monoscope pca` (probes/pca.c) against numpy.linalg.eigh of np.cov on the same float32 values in
float64: eigenvalues, explained variance ratios and components (up to sign, then the sign rule),
streamed in blocks of one sequence and in one block; padding rows (token -1, huge values) never used."""
import os
import h5py
import numpy as np
import mstest
from mstest import run, check, TMP

HOOK = "blocks.1.hook_resid_post"
rng = np.random.default_rng(5)


def T(*p):
    return os.path.join(TMP, *p)


def data():
    n_seq, ctx, d = 30, 10, 8
    A = rng.standard_normal((d, d)) * np.linspace(3, 0.1, d)[:, None]  # distinct variances
    X = (rng.standard_normal((n_seq, ctx, d)) @ A + 50.0).astype(np.float32)
    tokens = rng.integers(0, 50, (n_seq, ctx)).astype(np.int32)
    for s in range(n_seq):
        n = rng.integers(3, ctx + 1)
        tokens[s, n:] = -1
        X[s, n:] = 1e6
    p = T("acts.h5")
    with h5py.File(p, "w") as f:
        f["acts/" + HOOK] = X
        f["acts/blocks.0.hook_resid_post"] = X[..., :4]
        f["tokens"] = tokens
        f.attrs["n_seq"] = n_seq
    return p, X[tokens >= 0].astype(np.float64)


def pca_matches():
    acts, R = data()
    C = np.cov(R, rowvar=False)
    ev, V = np.linalg.eigh(C)
    ev, V = ev[::-1], V[:, ::-1]
    for k, block in ((3, 10), (0, 4096)):
        out = T("pca_%d.h5" % k)
        p = run("pca", "--acts", acts, "--hook", HOOK, "--k", k, "--block", block, "--out", out, "--overwrite")
        assert "ratio" in p.stdout
        with h5py.File(out) as f:
            kk = k or R.shape[1]
            comp, var, ratio = f["components"][:], f["explained_variance"][:], f["explained_variance_ratio"][:]
            assert comp.shape == (kk, R.shape[1]) and f.attrs["n_tokens"] == len(R)
            assert np.allclose(f["mean"][:], R.mean(0), rtol=1e-12, atol=1e-9)
            assert np.allclose(var, ev[:kk], rtol=1e-9, atol=1e-12), (var, ev[:kk])
            assert np.allclose(ratio, ev[:kk] / ev.sum(), rtol=1e-9)
            assert abs(f.attrs["total_variance"] - np.trace(C)) < 1e-9 * np.trace(C)
            for c in range(kk):
                v = V[:, c] * np.sign(V[np.argmax(np.abs(V[:, c])), c])  # the sign rule
                assert np.allclose(comp[c], v, atol=1e-7), (c, comp[c], v)


def errors():
    acts, _ = data()
    p = run("pca", "--acts", acts, "--out", T("x.h5"), ok=False)  # two hooks: --hook needed
    assert "--hook" in p.stderr, p.stderr
    run("pca", "--acts", acts, "--hook", "nope", "--out", T("x.h5"), ok=False)


check("PCA == numpy eigh of np.cov (values, ratios, components)", pca_matches)
check("errors: several hooks without --hook, unknown hook", errors)
mstest.finish()
