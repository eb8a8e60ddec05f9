"""sae match: which features predict which concept, against an independent NumPy implementation of
the same definition (README "sae match"): on the training sequences, every feature's F1 at every
threshold (its distinct non-zero training activations; the highest threshold reaching the best F1),
the top K by that F1 (ties: lower feature index first); on the held-out sequences, F1 / precision /
recall at the chosen threshold and the rank AUC of the raw activation (ties averaged). The codes come
from `sae encode`; padding (token -1) is never data. A planted dictionary (feature f reads word f's
direction) must find word 3 in feature 3 with F1 near 1; a probe's split and F1 are used with --probe;
/match is stored in the SAE file and drawn by `viz match`."""
import json
import os

import h5py
import numpy as np

import mstest
from mstest import run, check, TMP
import vizdata as vd

HOOK = "blocks.0.hook_resid_post"
N_SEQ, CTX, D = 60, 16, 32
ACTS, SAE, LABELS, FEATS = (os.path.join(TMP, n) for n in ("acts.h5", "sae.h5", "labels.h5", "feats.h5"))

vd.make_acts(ACTS, N_SEQ, CTX, D, hook=HOOK, seed=3)
vd.make_sae(SAE, D, 48, hook=HOOK, bias=-0.8)
rng = np.random.default_rng(7)
with h5py.File(ACTS, "a") as f:  # every third sequence ends early: padding
    tok = f["tokens"][:]
    for q in range(0, N_SEQ, 3):
        n = int(rng.integers(4, CTX))
        tok[q, n:] = -1
        f["acts/" + HOOK][q, n:] = 0
    f["tokens"][:] = tok
with h5py.File(LABELS, "w") as f:  # the layout `concepts label` writes (probes/labels.h)
    f["tokens"] = tok
    f.attrs["n_seq"], f.attrs["ctx"] = N_SEQ, CTX
    f["concepts/word3"] = ((tok == 3)).astype(np.uint8)
    f["concepts/even"] = ((tok >= 0) & (tok % 2 == 0)).astype(np.uint8)
    f["concepts/noise"] = ((tok >= 0) & (rng.random(tok.shape) < 0.2)).astype(np.uint8)
run("sae", "encode", "--sae", SAE, "--acts", ACTS, "--out", FEATS)


def codes():
    with h5py.File(FEATS) as f:
        ip, ix, v = f["indptr"][:], f["indices"][:], f["values"][:]
        z = np.zeros((len(ip) - 1, 48))
        for t in range(len(ip) - 1):
            z[t, ix[ip[t]:ip[t + 1]]] = v[ip[t]:ip[t + 1]]
    return z  # (N_SEQ * CTX, d_sae), rows of padding all zero


def avg_ranks(s):
    u, inv, cnt = np.unique(s, return_inverse=True, return_counts=True)
    start = np.concatenate([[0], np.cumsum(cnt)[:-1]])
    return (start + (cnt + 1) / 2.0)[inv]


def reference(z, lab, test_seq, top):
    real = lab["tokens"].ravel() >= 0
    test = np.repeat(test_seq, CTX)[real]
    Z = z[real]
    out = {}
    for name in ("even", "noise", "word3"):
        y = lab[name].ravel()[real].astype(bool)
        Ptr, Pte = int(y[~test].sum()), int(y[test].sum())
        cand = []
        for f in range(Z.shape[1]):
            v, best, thr = Z[~test, f], 0.0, None
            for t in np.unique(v[v > 0])[::-1]:
                fire = v >= t
                tp, fp = int((fire & y[~test]).sum()), int((fire & ~y[~test]).sum())
                f1 = 2 * tp / (Ptr + tp + fp)
                if f1 > best:
                    best, thr = f1, t
            if best > 0:
                cand.append((-best, f, thr))
        cand.sort()
        rows = []
        for nb, f, thr in cand[:top]:
            v, yt = Z[test, f], y[test]
            fire = v >= thr
            tp, fp = int((fire & yt).sum()), int((fire & ~yt).sum())
            r = avg_ranks(v)
            auc = (r[yt].sum() - Pte * (Pte + 1) / 2) / (Pte * (len(yt) - Pte))
            rows.append(dict(feature=f, train_f1=-nb, threshold=thr, f1=2 * tp / (Pte + tp + fp),
                             precision=tp / (tp + fp) if tp + fp else 0.0, recall=tp / Pte, auc=auc))
        out[name] = (Pte, rows)
    return out


def compare(got, want):
    for c in got["concepts"]:
        n_pos, rows = want[c["concept"]]
        assert c["n_pos_test"] == n_pos, (c["concept"], c["n_pos_test"], n_pos)
        assert [b["feature"] for b in c["best"]] == [r["feature"] for r in rows], (c["concept"], c["best"], rows)
        for b, r in zip(c["best"], rows):
            for k in ("train_f1", "f1", "precision", "recall", "auc"):
                assert abs(b[k] - r[k]) <= 1e-9, (c["concept"], b["feature"], k, b[k], r[k])
            assert abs(b["threshold"] - r["threshold"]) <= 1e-6 * max(1.0, r["threshold"]), (b, r)


def matches_numpy():
    p = run("sae", "match", "--sae", SAE, "--acts", ACTS, "--labels", LABELS, "--top", 4, "--json", "--no-store")
    got = json.loads(p.stdout)
    with h5py.File(LABELS) as f:
        lab = {k: f["concepts/" + k][:] for k in ("even", "noise", "word3")}
        lab["tokens"] = f["tokens"][:]
    want = reference(codes(), lab, np.arange(N_SEQ) % 5 == 4, 4)
    compare(got, want)
    w3 = next(c for c in got["concepts"] if c["concept"] == "word3")
    assert w3["best"][0]["feature"] == 3 and w3["best"][0]["f1"] > 0.95, w3
    assert got["n_train_tokens"] + got["n_test_tokens"] == int((lab["tokens"] >= 0).sum())
    with h5py.File(SAE) as f:
        assert "match" not in f, "--no-store wrote /match"


def with_probe_and_store():
    probe = os.path.join(TMP, "probe.h5")
    run("probe", "train", "--acts", ACTS, "--hook", HOOK, "--labels", LABELS, "--logistic", "--out", probe, "--overwrite")
    p = run("sae", "match", "--sae", SAE, "--acts", ACTS, "--labels", LABELS, "--probe", probe, "--json")
    got = json.loads(p.stdout)
    with h5py.File(probe) as f:
        split = f["split"][:].astype(bool)
        pf1 = {k: f["probes"][k].attrs["f1"] for k in f["probes"]}
    with h5py.File(LABELS) as f:
        lab = {k: f["concepts/" + k][:] for k in ("even", "noise", "word3")}
        lab["tokens"] = f["tokens"][:]
    compare(got, reference(codes(), lab, split, 3))
    for c in got["concepts"]:
        assert abs(c["probe_f1"] - pf1[c["concept"]]) <= 1e-12, (c, pf1)
    with h5py.File(SAE) as f:  # stored: the same numbers
        m = f["match"]
        names = list(m.attrs["concepts"])
        for c in got["concepts"]:
            k = names.index(c["concept"])
            assert [int(x) for x in m["feature"][k] if x >= 0] == [b["feature"] for b in c["best"]]
            assert np.allclose(m["f1"][k][:len(c["best"])], [b["f1"] for b in c["best"]], rtol=0, atol=1e-12)
    table = run("sae", "match", "--sae", SAE, "--acts", ACTS, "--labels", LABELS, "--probe", probe, "--no-store").stdout
    assert "word3" in table and "#3" in table and "probe F1" in table, table
    # the figure: each concept's bar ends at its best feature's F1, the probe's tick at the probe's
    png = os.path.join(TMP, "match.png")
    run("viz", "match", "--sae", SAE, "--out", png)
    img, t = vd.read_png(png)
    L = vd.layout(t)
    assert L["rows"] == len(got["concepts"])
    bar = np.array([59, 117, 175])
    for k, c in enumerate(got["concepts"]):
        y = L["y0"] + k * L["row_h"] + L["row_h"] // 2
        row = img[y, L["x0"]:L["x0"] + L["axis_w"] + 2].astype(int)
        blue = np.where(np.abs(row - bar).max(1) <= 2)[0]
        want = round(c["best"][0]["f1"] * L["axis_w"])
        assert abs((blue.max() + 1 if len(blue) else 0) - want) <= 2, (c["concept"], blue.max() if len(blue) else None, want)
        ticks = np.where(np.abs(row - 20).max(1) <= 2)[0]
        assert len(ticks) and abs(ticks.mean() - c["probe_f1"] * L["axis_w"]) <= 3, (c["concept"], ticks, c["probe_f1"])
    # the dashboard page of feature 3 names its concept (title and the page's "Concepts" text)
    d = os.path.join(TMP, "dash")
    run("viz", "dashboard", "--sae", SAE, "--acts", ACTS, "--features", "3,4", "--out", d)
    _, t3 = vd.read_png(os.path.join(d, "feature_00003.png"))
    w3 = next(c for c in got["concepts"] if c["concept"] == "word3")
    assert t3["Concepts"].startswith("word3:1:%.4f" % w3["best"][0]["f1"]), t3["Concepts"]


def bad_inputs():
    other = os.path.join(TMP, "labels_other.h5")
    with h5py.File(LABELS) as f, h5py.File(other, "w") as g:
        t = f["tokens"][:]
        t[5, 2] = (t[5, 2] + 1) % 20 if t[5, 2] >= 0 else 0
        g["tokens"] = t
        g["concepts/x"] = f["concepts/word3"][:]
        g.attrs["n_seq"], g.attrs["ctx"] = N_SEQ, CTX
    p = run("sae", "match", "--sae", SAE, "--acts", ACTS, "--labels", other, "--no-store", ok=False)
    assert "labels" in p.stderr and "sequence 5" in p.stderr, p.stderr
    p = run("sae", "match", "--sae", SAE, "--acts", ACTS, "--labels", LABELS, "--concept", "nope", ok=False)
    assert "nope" in p.stderr, p.stderr
    p = run("sae", "match", "--sae", SAE, "--acts", ACTS, ok=False)
    assert "--labels" in p.stderr


check("sae match equals a NumPy implementation; the planted feature is found", matches_numpy)
check("--probe: its split and F1; /match stored; the table", with_probe_and_store)
check("labels of another corpus, an unknown concept, a missing option: one error line", bad_inputs)
mstest.finish()
