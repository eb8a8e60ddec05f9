"""`monoscope probe train` (probes/probe.c) against independent numpy references in float64:
ridge weights equal numpy lstsq on the same standardised design (min-norm when the normal equations
are singular), logistic weights equal a numpy Newton solver written here, a separable toy set reaches
100 % test accuracy, and accuracy / AUC (pairwise definition, ties counted half) / F1 equal numpy on the
same scores. Padding rows (token -1) hold huge values: any use of them would wreck the fits."""
import json, os
import h5py
import numpy as np
import mstest
from mstest import run, check, TMP

HOOK = "blocks.0.hook_resid_post"
N_SEQ, CTX, D = 40, 12, 6
rng = np.random.default_rng(3)


def T(*p):
    return os.path.join(TMP, *p)


def make_data(tag, X, tokens, concepts, dtype=np.float32):
    """acts.h5 and labels.h5 for X (n_seq, ctx, d), tokens (n_seq, ctx), concepts {name: (n_seq, ctx)}."""
    acts, labels = T(tag + "_acts.h5"), T(tag + "_labels.h5")
    with h5py.File(acts, "w") as f:
        f["acts/" + HOOK] = X.astype(dtype)
        f["tokens"] = tokens.astype(np.int32)
        f.attrs["n_seq"] = X.shape[0]
        f.attrs["ctx"] = X.shape[1]
    with h5py.File(labels, "w") as f:
        f["tokens"] = tokens.astype(np.int32)
        for n, y in concepts.items():
            f["concepts/" + n] = y.astype(np.uint8)
    X[...] = X.astype(np.float32)  # the references see the values read (the reader yields float32)
    return acts, labels


def base_data(dup_col=False):
    X = rng.standard_normal((N_SEQ, CTX, D)) * np.array([1, 2, 0.5, 3, 1, 1]) + np.array([5, -1, 0, 2, 100, 0])
    if dup_col:
        X[..., 5] = 2 * X[..., 0]  # collinear: singular without a penalty
    tokens = rng.integers(0, 100, (N_SEQ, CTX))
    lens = rng.integers(CTX // 2, CTX + 1, N_SEQ)
    for s in range(N_SEQ):
        tokens[s, lens[s]:] = -1
        X[s, lens[s]:] = 1e6  # padding: never data
    # duplicated rows make tied scores (AUC tie handling)
    X[1, :3] = X[0, :3]
    u = np.array([1.0, -0.5, 2.0, 0.3, 0.0, 0.7])
    lin = (X - X[tokens >= 0].mean(0)) @ u
    a = (lin + 0.8 * rng.standard_normal(lin.shape) > 0.3)
    b = (X[..., 1] > 0) ^ (rng.random(lin.shape) < 0.1)
    return X, tokens, {"alpha": a, "beta": b}


def rows(X, tokens, split, test):
    sel = (tokens >= 0) & (split[:, None] == test)
    return X[sel].astype(np.float64), sel


def auc_pairwise(s, y):
    p, n = s[y == 1], s[y == 0]
    return ((p[:, None] > n[None, :]).sum() + 0.5 * (p[:, None] == n[None, :]).sum()) / (len(p) * len(n))


def metrics_ref(s, y):
    pred = s >= 0.5
    tp, fp, fn = (pred & (y == 1)).sum(), (pred & (y == 0)).sum(), (~pred & (y == 1)).sum()
    return (pred == (y == 1)).mean(), auc_pairwise(s, y), 2 * tp / (2 * tp + fp + fn)


def newton_ref(Z, y, lam):
    A = np.hstack([np.ones((len(Z), 1)), Z])
    th = np.zeros(A.shape[1])
    P = lam * np.eye(A.shape[1]); P[0, 0] = 0
    for _ in range(200):
        p = 1 / (1 + np.exp(-A @ th))
        g = A.T @ (p - y) + P @ th
        H = A.T @ (A * (p * (1 - p))[:, None]) + P
        step = np.linalg.solve(H, g)
        th -= step
        if np.abs(step).max() < 1e-13:
            break
    return th[0], th[1:]


def check_file(out, X, tokens, concepts, lam, logistic):
    with h5py.File(out) as f:
        split = f["split"][:]
        mean, std = f["mean"][:], f["std"][:]
        Xtr, sel = rows(X, tokens, split, 0)
        Xte, selte = rows(X, tokens, split, 1)
        assert 0 < split.sum() < N_SEQ
        assert np.allclose(mean, Xtr.mean(0), rtol=1e-10, atol=1e-9), (mean, Xtr.mean(0))
        assert np.allclose(std, Xtr.std(0), rtol=1e-9), (std, Xtr.std(0))
        assert f.attrs["n_train_tokens"] == len(Xtr) and f.attrs["n_test_tokens"] == len(Xte)
        Z, Zte = (Xtr - mean) / std, (Xte - mean) / std
        for name, lab in concepts.items():
            g = f["probes/" + name]
            y, yte = lab[sel].astype(np.float64), lab[selte].astype(np.int64)
            if logistic:
                b, w = newton_ref(Z, y, lam)
                s_ref = 1 / (1 + np.exp(-(Zte @ w + b)))
            else:
                A = np.vstack([Z, np.sqrt(lam) * np.eye(D)])
                w = np.linalg.lstsq(A, np.concatenate([y - y.mean(), np.zeros(D)]), rcond=None)[0]
                b = y.mean()
                s_ref = Zte @ w + b
            wc = g["weight_std"][:]
            assert np.abs(wc - w).max() <= 1e-4 * max(1, np.abs(w).max()), (name, wc, w)
            assert abs(g.attrs["bias_std"] - b) <= 1e-4 * max(1, abs(b)), (name, g.attrs["bias_std"], b)
            # original units: x·weight + bias == z·weight_std + bias_std
            s_orig = Xte @ g["weight"][:] + g.attrs["bias"]
            s_std = Zte @ wc + g.attrs["bias_std"]
            assert np.allclose(s_orig, s_std, atol=1e-7 * max(1, np.abs(s_std).max())), name
            s_c = 1 / (1 + np.exp(-s_std)) if logistic else s_std
            acc, auc, f1 = metrics_ref(s_c, yte)
            for k, ref in (("accuracy", acc), ("auc", auc), ("f1", f1)):
                assert abs(g.attrs[k] - ref) < 1e-9, (name, k, g.attrs[k], ref)
            assert g.attrs["n_pos_test"] == yte.sum() and g.attrs["n_pos_train"] == y.sum()
            # the reference's own scores give the same metrics (the fit, not only the scoring, agrees)
            assert abs(metrics_ref(s_ref, yte)[1] - auc) < 1e-3
        return f


def ridge_all():
    X, tok, c = base_data()
    acts, labels = make_data("ridge", X, tok, c)
    out = T("ridge_probe.h5")
    p = run("probe", "train", "--acts", acts, "--hook", HOOK, "--labels", labels, "--all", "--ridge", "0.5",
            "--test-frac", "0.25", "--seed", "4", "--block", "20", "--out", out, "--overwrite", "--json")  # one sequence per block
    js = json.loads(p.stdout)
    assert [q["concept"] for q in js["probes"]] == ["alpha", "beta"], js
    check_file(out, X, tok, c, 0.5, False)
    with h5py.File(out) as f:
        assert f.attrs["kind"] == "ridge" and f.attrs["hook"] == HOOK and f["split"][:].sum() == 10
        assert js["probes"][0]["auc"] == f["probes/alpha"].attrs["auc"]


def ridge_singular():
    X, tok, c = base_data(dup_col=True)
    acts, labels = make_data("sing", X, tok, c, dtype=np.float64)
    out = T("sing_probe.h5")
    p = run("probe", "train", "--acts", acts, "--labels", labels, "--concept", "alpha", "--ridge", "0", "--out", out, "--overwrite")
    assert "dgelsd" in p.stderr, p.stderr
    check_file(out, X, tok, {"alpha": c["alpha"]}, 0.0, False)


def logistic():
    X, tok, c = base_data()
    acts, labels = make_data("logit", X, tok, c)
    out = T("logit_probe.h5")
    run("probe", "train", "--acts", acts, "--labels", labels, "--all", "--logistic", "--ridge", "0.1", "--seed", "9", "--block", "30", "--out", out, "--overwrite")
    f = check_file(out, X, tok, c, 0.1, True)
    with h5py.File(out) as f:
        assert f.attrs["kind"] == "logistic"
        assert 1 < f["probes/alpha"].attrs["iterations"] < 50 and f["probes/alpha"].attrs["converged"] == 1


def separable():
    X, tok, _ = base_data()
    u = np.array([1.0, 1.0, -1.0, 0.5, 0.0, 0.0])
    m = (X - X[tok >= 0].mean(0)) @ u
    X = X + 1.0 * np.sign(m)[..., None] * u / np.linalg.norm(u)  # margin >= 1 along u
    X[tok < 0] = 1e6
    y = m > 0
    acts, labels = make_data("sep", X, tok, {"sep": y})
    out = T("sep_probe.h5")
    js = json.loads(run("probe", "train", "--acts", acts, "--labels", labels, "--logistic", "--ridge", "1e-3",
                        "--out", out, "--overwrite", "--json").stdout)
    assert js["probes"][0]["accuracy"] == 1.0 and js["probes"][0]["f1"] == 1.0 and js["probes"][0]["auc"] == 1.0, js
    check_file(out, X, tok, {"sep": y}, 1e-3, True)
    # no penalty on separable data: no optimum; bounded passes, loss kept decreasing, still 100 %, a note
    p = run("probe", "train", "--acts", acts, "--labels", labels, "--logistic", "--ridge", "0", "--max-iter", "30",
            "--out", out, "--overwrite", "--json")
    q = json.loads(p.stdout)["probes"][0]
    assert q["converged"] is False and q["iterations"] == 30 and q["accuracy"] == 1.0, q
    assert "not converged" in p.stderr, p.stderr


def errors():
    X, tok, c = base_data()
    tok2 = tok.copy(); tok2[3, 0] = (tok2[3, 0] + 1) % 100
    acts, _ = make_data("err", X, tok, c)
    _, labels2 = make_data("err2", X, tok2, c)
    p = run("probe", "train", "--acts", acts, "--labels", labels2, "--out", T("x.h5"), "--test-frac", "0.5", ok=False)
    assert "row 3" in p.stderr, p.stderr
    p = run("probe", "train", "--acts", acts, "--labels", T("err_labels.h5"), "--concept", "gamma", "--out", T("x.h5"), ok=False)
    assert "alpha, beta" in p.stderr, p.stderr
    run("probe", "train", "--acts", acts, "--labels", T("err_labels.h5"), "--out", T("x.h5"), "--test-frac", "2", ok=False)


check("ridge, two concepts at once, vs numpy lstsq; metrics vs numpy", ridge_all)
check("ridge with lambda 0 on collinear features: dgelsd = lstsq min-norm", ridge_singular)
check("logistic vs numpy Newton", logistic)
check("logistic on a separable set: 100 % test accuracy", separable)
check("errors: tokens mismatch, unknown concept, bad --test-frac", errors)
mstest.finish()
