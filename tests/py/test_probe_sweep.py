"""probe sweep: probes at every site of a glob equal `probe train` run on each site alone (which
test_probe checks against numpy), sites ordered by layer (blocks.10 after blocks.2), sweep.tsv holds
every (site, concept) pair, and the figure puts each point where its F1 is, in its concept's colour.
The data carry a concept more strongly at later layers, so F1 rises with the layer."""
import csv
import os

import h5py
import numpy as np

import mstest
from mstest import run, check, TMP
import vizdata as vd

N_SEQ, CTX, D = 40, 12, 8
LAYERS = (0, 2, 10)
ACTS, LABELS, OUT = os.path.join(TMP, "acts.h5"), os.path.join(TMP, "labels.h5"), os.path.join(TMP, "sweep")

rng = np.random.default_rng(5)
tok = rng.integers(0, 20, size=(N_SEQ, CTX)).astype(np.int32)
tok[::4, -3:] = -1  # padding
word3 = (tok == 3).astype(np.uint8)
even = ((tok >= 0) & (tok % 2 == 0)).astype(np.uint8)
with h5py.File(ACTS, "w") as f:
    f.attrs["model"] = "synthetic"
    f["tokens"] = tok
    for L in LAYERS:  # the concept's direction grows with the layer against fixed noise
        x = rng.standard_normal((N_SEQ, CTX, D)).astype(np.float32)
        x[..., 0] += (0.3 + 0.4 * L) * word3
        x[..., 1] += (0.2 + 0.2 * L) * even
        x[tok < 0] = 0
        f[f"acts/blocks.{L}.hook_resid_post"] = x
    f["acts/blocks.0.mlp.hook_post"] = np.zeros((N_SEQ, CTX, 4), np.float32)  # not matched by the glob
with h5py.File(LABELS, "w") as f:
    f["tokens"] = tok
    f.attrs["n_seq"], f.attrs["ctx"] = N_SEQ, CTX
    f["concepts/word3"] = word3
    f["concepts/even"] = even


def sweep_equals_train():
    p = run("probe", "sweep", "--acts", ACTS, "--hook", "blocks.*.hook_resid_post", "--labels", LABELS, "--logistic",
            "--out", OUT, "--overwrite")
    rows = list(csv.DictReader(open(os.path.join(OUT, "sweep.tsv")), delimiter="\t"))
    sites = [f"blocks.{L}.hook_resid_post" for L in LAYERS]
    assert [r["site"] for r in rows[::2]] == sites, [r["site"] for r in rows]  # by layer, not by name
    assert len(rows) == 2 * len(sites) and {r["concept"] for r in rows} == {"even", "word3"}
    for site in sites:
        one = os.path.join(TMP, "one.h5")
        run("probe", "train", "--acts", ACTS, "--hook", site, "--labels", LABELS, "--logistic", "--out", one, "--overwrite")
        with h5py.File(one) as a, h5py.File(os.path.join(OUT, f"probe_{site}.h5")) as b:
            for c in ("even", "word3"):
                assert np.array_equal(a["probes"][c]["weight"][:], b["probes"][c]["weight"][:]), (site, c)
                r = next(r for r in rows if r["site"] == site and r["concept"] == c)
                for m in ("accuracy", "auc", "f1"):
                    assert float(r[m]) == a["probes"][c].attrs[m], (site, c, m)
    f1 = {c: [float(r["f1"]) for r in rows if r["concept"] == c] for c in ("even", "word3")}
    assert f1["word3"][-1] > f1["word3"][0] and f1["word3"][-1] > 0.9, f1  # present from a later layer on
    assert "blocks.10.hook_resid_post" in p.stdout and "word3" in p.stdout


def figure():
    img, t = vd.read_png(os.path.join(OUT, "sweep.png"))
    L = vd.layout(t)
    ax, ay, aw, ah = L["area"]
    y0, y1 = L["yr"]
    rows = list(csv.DictReader(open(os.path.join(OUT, "sweep.tsv")), delimiter="\t"))
    concepts = sorted({r["concept"] for r in rows})
    from matplotlib import cm
    for k, c in enumerate(concepts):
        want_col = np.array(cm.get_cmap("tab10")(k)[:3]) * 255
        for i, r in enumerate(x for x in rows if x["concept"] == c):
            x, y = L[f"pt{k}_{i}"]
            want_y = ay + ah - (float(r["f1"]) - y0) / (y1 - y0) * ah
            assert abs(y - want_y) <= 2, (c, i, y, want_y)
            got = img[int(y), int(x)].astype(float)
            assert np.abs(got - want_col).max() <= 40, (c, i, got, want_col)


def errors():
    p = run("probe", "sweep", "--acts", ACTS, "--hook", "nope.*", "--labels", LABELS, "--out", os.path.join(TMP, "x"), ok=False)
    assert "nope.*" in p.stderr and "blocks.0.hook_resid_post" in p.stderr, p.stderr
    p = run("probe", "sweep", "--acts", ACTS, "--hook", "blocks.*", "--labels", LABELS, "--out", OUT, ok=False)
    assert "--overwrite" in p.stderr, p.stderr


check("probe sweep equals probe train at each site; sites by layer; F1 rises with the layer", sweep_equals_train)
check("sweep.png: every point at its F1, in its concept's colour", figure)
check("no matching site, an existing --out: one error line", errors)
mstest.finish()
