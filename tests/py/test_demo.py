"""The main job, scripts/demo.sh, end to end and small (DEMO_SAMPLE_EVERY=64, 60 and 80 training steps for the
two models, the optimised binary): the corpus, a tokenizer and two language models trained and cached, the
captures, dictionaries, evaluations, figures and REPORT.md. Checks what a reader of the report relies
on: every figure and file it links exists and every PNG decodes; the numbers it states equal the run's
files (the dictionary's explained variance recomputed here with NumPy from the captured activations
and the SAE's weights; the models' losses from their training logs); both models learned something
(validation loss below the unigram baseline); a second run takes every model from the cache and
reproduces the dictionary bit for bit (same seed and thread count); the concepts section (labels,
probes per layer, sae match) states what the files hold."""
import os
import re
import subprocess

import h5py
import numpy as np

import mstest

T = mstest.TMP
OUT, CACHE = os.path.join(T, "out"), os.path.join(T, "cache")
ENV = dict(os.environ, MONOSCOPE=mstest.FAST_BIN, DEMO_OUT=OUT, MONOSCOPE_CACHE=CACHE, LM_STEPS="60",
           LM4_STEPS="80", DEMO_SAMPLE_EVERY="64", MONOSCOPE_THREADS="2")


def demo():
    p = subprocess.run(["bash", os.path.join(mstest.SRC, "scripts", "demo.sh")], cwd=mstest.SRC, env=ENV,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p.stdout


FIRST = {}


def first_run_trains_and_reports():
    out = demo()
    assert out.count("trained and cached:") == 3, out  # tokenizer, 1-layer, 4-layer
    report = open(os.path.join(OUT, "REPORT.md")).read()
    FIRST["report"] = report
    links = re.findall(r"\]\(([^)]+)\)", report)
    assert len(links) > 20, links
    from PIL import Image
    for rel in links:
        path = os.path.join(OUT, rel)
        assert os.path.isfile(path), f"REPORT.md links a missing file: {rel}"
        if rel.endswith(".png"):
            with Image.open(path) as im:
                im.load()  # decodes every row: a truncated or corrupt PNG raises
                assert im.size[0] >= 100 and im.size[1] >= 50, (rel, im.size)
                lo, hi = im.convert("L").getextrema()
                assert hi - lo > 50, f"{rel}: a blank image"
    print(f"  {len(links)} links in REPORT.md, every one present, every PNG decoded", flush=True)


def losses_match_logs():
    report = FIRST["report"]
    for name, layers in (("lm", 1), ("lm4", 4)):
        with h5py.File(os.path.join(OUT, name, "training_log.h5")) as f:
            cols = [str(c) for c in f.attrs["columns"]]
            log = f["training_log"][:]
            val = log[:, cols.index("val_loss")]
            val = val[~np.isnan(val)][-1]
            uni, bi = float(f.attrs["val_loss_unigram"]), float(f.attrs["val_loss_bigram"])
        row = next(x for x in report.splitlines() if x.startswith(f"| {layers} layer"))
        assert f"**{val:.3f}**" in row and f"{uni:.3f}" in row and f"{bi:.3f}" in row, (row, val, uni, bi)
        assert val < uni, f"{name}: validation loss {val:.3f} not below the unigram baseline {uni:.3f}"
        print(f"  {name}: val loss {val:.3f} < unigram {uni:.3f} (bigram {bi:.3f}) after {60 if layers == 1 else 80} steps", flush=True)


def explained_variance_recomputed():
    with h5py.File(os.path.join(OUT, "sae.h5")) as f:
        W_enc, b_enc, W_dec, b_dec = (f[n][:].astype(np.float64) for n in ("W_enc", "b_enc", "W_dec", "b_dec"))
        k = int(f.attrs["k"])
    with h5py.File(os.path.join(OUT, "acts.h5")) as f:
        n_seq = int(f.attrs["n_seq"])
        x = f["acts/blocks.0.mlp.hook_post"][:n_seq].reshape(-1, W_enc.shape[0])[:131072].astype(np.float64)
    pre = (x - b_dec) @ W_enc + b_enc
    keep = np.argpartition(-pre, k - 1, axis=1)[:, :k]
    z = np.zeros_like(pre)
    rows = np.arange(len(x))[:, None]
    z[rows, keep] = np.maximum(pre[rows, keep], 0)
    err = ((x - (z @ W_dec + b_dec)) ** 2).sum()
    ev = 1 - err / ((x - x.mean(0)) ** 2).sum()
    stated = float(re.search(r"Explained variance \*\*([0-9.]+)\*\*", FIRST["report"]).group(1))
    assert abs(stated - ev) < 2e-3, (stated, ev)
    print(f"  explained variance: REPORT.md {stated:.3f}, NumPy {ev:.4f} over {len(x)} tokens", flush=True)


def concepts_match_files():
    """The concepts section states /match's best feature and F1 per concept and the probe sweep's F1
    per layer, as the files hold them."""
    report = FIRST["report"]
    with h5py.File(os.path.join(OUT, "sae.h5")) as s:
        names = [str(c) for c in s["match"].attrs["concepts"]]
        feat, f1 = s["match/feature"][:, 0], s["match/f1"][:, 0]
    for c, ft, a in zip(names, feat, f1):
        assert f"| {c} | {ft} | **{a:.3f}** |" in report, (c, ft, a)
    rows = [l.split("\t") for l in open(os.path.join(OUT, "probes4", "sweep.tsv")).read().splitlines()[1:]]
    for c in names:
        line = next(x for x in report.splitlines() if x.startswith(f"| {c} | ") and "%" in x)
        want = [f"{float(r[5]):.3f}" for r in sorted(rows, key=lambda r: int(r[1])) if r[2] == c]
        assert line.split(" | ")[2:] and all(v in line for v in want), (line, want)
    print(f"  {len(names)} concepts: /match and sweep.tsv as REPORT.md states them", flush=True)


def second_run_cached_and_identical():
    with h5py.File(os.path.join(OUT, "sae.h5")) as f:
        before = f["W_dec"][:].tobytes()
    out = demo()
    assert out.count("cached: ") == 3 and "trained and cached" not in out, out
    with open(os.path.join(OUT, "timings.tsv")) as f:
        t = {a: float(b) for a, b in (line.rstrip("\n").split("\t") for line in f)}
    assert t["1-layer model"] < 10 and t["4-layer model"] < 10, t
    with h5py.File(os.path.join(OUT, "sae.h5")) as f:
        assert f["W_dec"][:].tobytes() == before, "the second run's dictionary differs"
    print(f"  second run: {t['total']:.0f} s, models from the cache, the same dictionary", flush=True)


mstest.check("the main job runs end to end; REPORT.md's links and figures exist and decode", first_run_trains_and_reports)
mstest.check("REPORT.md's losses equal the training logs; both models beat the unigram baseline", losses_match_logs)
mstest.check("REPORT.md's explained variance equals NumPy's recomputation from acts and weights", explained_variance_recomputed)
mstest.check("REPORT.md's concept tables equal /match and the probe sweep", concepts_match_files)
mstest.check("a second run takes the models from the cache and reproduces the dictionary", second_run_cached_and_identical)
mstest.finish()
