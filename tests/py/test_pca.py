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


def figures():
    """--figures: the scree bars stand at numpy's variance ratios; the scatter holds every real token
    (numpy's projection sets the axes' ranges: each covers its PC's min..max) and colours the
    concept's tokens orange, as many as the labels file marks among real tokens."""
    import vizdata as vd
    acts, R = data()
    with h5py.File(acts) as f:
        tokens = f["tokens"][:]
    concept = (rng.random(tokens.shape) < 0.3).astype(np.uint8)
    labels = T("labels.h5")
    with h5py.File(labels, "w") as f:
        f["tokens"] = tokens
        f["concepts/planted"] = concept
    d = T("figs")
    p = run("pca", "--acts", acts, "--hook", HOOK, "--k", 5, "--out", T("pf.h5"), "--overwrite", "--figures", d,
            "--labels", labels, "--concept", "planted")
    assert "scatter.png" in p.stdout, p.stdout
    C = np.cov(R, rowvar=False)
    ev, V = np.linalg.eigh(C)
    ev, V = ev[::-1], V[:, ::-1]
    px, tx = vd.read_png(os.path.join(d, "scree.png"))
    lay = dict(kv.split("=") for kv in tx["Layout"].split(" "))
    ax, ay, aw, ah = map(int, lay["area"].split(","))
    y0, y1 = map(float, lay["yr"].split(","))
    for c in range(5):
        want = ay + ah - (ev[c] / ev.sum() - y0) / (y1 - y0) * ah
        x, y = map(int, lay[f"bar{c}"].split(","))
        assert abs(y - want) <= 1.5, (c, y, want)
        assert tuple(px[y + 2, x]) != (255, 255, 255) or ev[c] / ev.sum() < 0.01, (c, "bar not drawn")
    px, tx = vd.read_png(os.path.join(d, "scatter.png"))
    lay = dict(kv.split("=") for kv in tx["Layout"].split(" "))
    real = tokens >= 0
    assert int(lay["n"]) == real.sum() and int(lay["concept"]) == concept[real].sum(), (lay, real.sum())
    P = (R - R.mean(0)) @ (V[:, :2] * np.sign(V[np.argmax(np.abs(V[:, :2]), axis=0), [0, 1]]))
    for j, key in ((0, "xr"), (1, "yr")):
        lo, hi = map(float, lay[key].split(","))
        assert lo <= P[:, j].min() and P[:, j].max() <= hi and hi - lo < 2 * np.ptp(P[:, j]), (key, lo, hi)
    orange = np.all(px == np.array([255, 127, 14]), axis=2).sum()  # tab10(1)
    assert orange > 50, orange


def errors():
    acts, _ = data()
    p = run("pca", "--acts", acts, "--out", T("x.h5"), ok=False)  # two hooks: --hook needed
    assert "--hook" in p.stderr, p.stderr
    run("pca", "--acts", acts, "--hook", "nope", "--out", T("x.h5"), ok=False)


check("PCA == numpy eigh of np.cov (values, ratios, components)", pca_matches)
check("--figures: scree bars at numpy's ratios; scatter of every real token, the concept's coloured", figures)
check("errors: several hooks without --hook, unknown hook", errors)
mstest.finish()
