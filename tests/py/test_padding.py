"""Padding is never data (issue 16). A jsonl capture of documents mostly shorter than one window
pads rows with token -1 and zero activations; every consumer must see only the real tokens.
References are computed here with numpy/torch from the files the CLI wrote (weights, tokens, raw
activations), never from the metrics under test:
- sae train counts and streams real tokens only; sae eval's metrics equal numpy on the real rows;
  sae encode keeps one CSR row per position with empty rows for padding; a dashboard's density and
  token count are over real tokens; a heatmap's columns are the row's real tokens.
- `capture --pack` writes no padding: its rows are the documents' ids joined by EOS, cut into ctx
  windows, the tail dropped; `--pack` with `--input-format ids` is a usage error.
"""
import json
import os
import re

import h5py
import numpy as np

import mstest
from mstest import run, TMP
import sae_ref as R
import vizdata as vd


def T(*p):
    return os.path.join(TMP, *p)


MODEL = T("g2")
if not os.path.exists(os.path.join(MODEL, "config.json")):
    run("random-model", "--arch", "gpt2", "--out", MODEL, "--layers", 2, "--d-model", 32, "--heads", 4,
        "--d-mlp", 64, "--ctx", 64, "--seed", 3)
HOOK = "blocks.0.hook_resid_post"
CTX = 16
WORDS = "alpha beta gamma delta the cat sat on a mat 42 PRINT int main ( ) ; { } x = y + 1".split()


def corpus(path, n_docs=60, seed=0):
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n_docs):
        n = int(rng.integers(1, 12))  # most documents are shorter than one window
        docs.append(" ".join(rng.choice(WORDS, n)))
    with open(path, "w") as f:
        for d in docs:
            f.write(json.dumps({"text": d}) + "\n")
    return docs


def tokenize(text):
    p = T("tok_in.txt")
    with open(p, "w") as f:
        f.write(text)
    return [int(x) for x in run("tokenize", "--model", MODEL, "--file", p).stdout.split()]


def padded_capture():
    out = T("pad.h5")
    if not os.path.exists(out):
        corpus(T("docs.jsonl"))
        run("capture", "--model", MODEL, "--input", T("docs.jsonl"), "--input-format", "jsonl", "--ctx", CTX,
            "--hooks", HOOK, "--out", out)
    with h5py.File(out, "r") as f:
        tok = f["tokens"][:]
        x = f["acts/" + HOOK][:]
    real = tok >= 0
    assert real.mean() < 0.7, "the fixture must contain padding (%.2f real)" % real.mean()
    return out, tok, x, real


def trained_sae():
    acts, tok, x, real = padded_capture()
    sae = T("pad_sae.h5")
    if not os.path.exists(sae):
        p = run("sae", "train", "--acts", acts, "--hook", HOOK, "--out", sae, "--d-sae", 64, "--k", 4,
                "--batch", 64, "--seed", 1, "--threads", 2)
        m = re.search(r"(\d+) tokens per pass", p.stderr)
        assert m and int(m.group(1)) == int(real.sum()), (m and m.group(0), int(real.sum()))
    with h5py.File(sae, "r") as f:
        p = {n: f[n][:] for n in ("W_enc", "W_dec", "b_enc", "b_dec")}
    return sae, p


def t_train_counts_real_tokens():
    _, _, _, real = padded_capture()
    sae, _ = trained_sae()
    with h5py.File(sae, "r") as f:
        assert int(f.attrs["tokens_seen"]) <= int(real.sum()), (int(f.attrs["tokens_seen"]), int(real.sum()))


def t_eval_real_rows_only():
    acts, tok, x, real = padded_capture()
    sae, p = trained_sae()
    r = json.loads(run("sae", "eval", "--sae", sae, "--acts", acts, "--json", "--no-store").stdout)
    xr = x[real].astype(np.float64)
    assert r["n_tokens"] == len(xr), (r["n_tokens"], len(xr))
    f, _ = R.torch_encode(p, xr, "topk", k=4)
    xh = R.torch_decode(p, f)
    ev = 1 - ((xr - xh) ** 2).sum() / ((xr - xr.mean(0)) ** 2).sum()
    l0 = (f != 0).sum(1).mean()
    dead = ((f != 0).mean(0) == 0).mean()
    assert abs(r["explained_variance"] - ev) < 1e-5 * max(1, abs(ev)), (r["explained_variance"], ev)
    assert abs(r["l0"] - l0) < 1e-6, (r["l0"], l0)
    assert abs(r["dead_frac"] - dead) < 1e-9, (r["dead_frac"], dead)


def t_encode_padding_has_no_codes():
    acts, tok, x, real = padded_capture()
    sae, p = trained_sae()
    out = T("pad_feats.h5")
    run("sae", "encode", "--sae", sae, "--acts", acts, "--out", out)
    with h5py.File(out, "r") as f:
        indptr, tokens = f["indptr"][:], f["tokens"][:]
    nnz = np.diff(indptr)
    flat = tok.reshape(-1)[:len(nnz)]
    assert (tokens == flat).all()
    assert (nnz[flat < 0] == 0).all(), "padding positions carry latents"
    assert (nnz[flat >= 0] == 4).all()


def t_dashboard_density_on_real_tokens():
    acts, tok, x, real = padded_capture()
    sae, p = trained_sae()
    d = T("pad_dash")
    run("viz", "dashboard", "--sae", sae, "--acts", acts, "--features", "0-7", "--out", d)
    f, _ = R.torch_encode(p, x[real].astype(np.float64), "topk", k=4)
    for fi in range(8):
        _, tx = vd.read_png(os.path.join(d, f"feature_{fi:05d}.png"))
        st = dict(kv.split("=") for kv in tx["Stats"].split())
        assert int(st["tokens"]) == int(real.sum()), (st, int(real.sum()))
        dens = float((f[:, fi] != 0).mean())
        assert abs(float(st["density"]) - dens) < 1e-6, (fi, st, dens)


def t_heatmap_shows_real_tokens_only():
    acts, tok, x, real = padded_capture()
    sae, _ = trained_sae()
    seq = int(np.argmin(real.sum(1)))  # the shortest row
    out = T("pad_heat.png")
    run("viz", "heatmap", "--sae", sae, "--acts", acts, "--seq", seq, "--top", 3, "--out", out)
    _, t = vd.read_png(out)
    assert vd.layout(t)["cols"] == int(real[seq].sum()), (vd.layout(t)["cols"], int(real[seq].sum()))


def t_pack():
    docs = corpus(T("docs.jsonl"))
    out = T("packed.h5")
    run("capture", "--model", MODEL, "--input", T("docs.jsonl"), "--input-format", "jsonl", "--ctx", CTX,
        "--hooks", HOOK, "--pack", "--out", out, "--overwrite")
    info = dict(l.split(": ", 1) for l in run("info", MODEL).stdout.strip().splitlines())
    eos = int(info["eos_id"])
    stream = []
    for d in docs:
        stream += tokenize(d) + [eos]
    want = [stream[i:i + CTX] for i in range(0, len(stream) - CTX + 1, CTX)]
    with h5py.File(out, "r") as f:
        tok = f["tokens"][:]
        assert (tok >= 0).all(), "a packed capture holds padding"
        assert tok.tolist() == want, (tok.tolist()[:2], want[:2])
        assert "eos" in str(f.attrs["packing"]).lower(), f.attrs["packing"]
    # a token budget ends at a whole window: packed rows never hold padding
    budget = T("packed_budget.h5")
    run("capture", "--model", MODEL, "--input", T("docs.jsonl"), "--input-format", "jsonl", "--ctx", CTX,
        "--hooks", HOOK, "--pack", "--max-tokens", 3 * CTX + 5, "--out", budget, "--overwrite")
    with h5py.File(budget, "r") as f:
        assert f["tokens"][:].tolist() == want[:3], f["tokens"][:].tolist()
    p = run("capture", "--model", MODEL, "--input", T("docs.jsonl"), "--input-format", "ids", "--ctx", CTX,
            "--hooks", HOOK, "--pack", "--out", T("x.h5"), "--overwrite", ok=False)
    assert len(p.stderr.strip().splitlines()) == 1


mstest.check("train_counts_real_tokens", t_train_counts_real_tokens)
mstest.check("eval_real_rows_only", t_eval_real_rows_only)
mstest.check("encode_padding_has_no_codes", t_encode_padding_has_no_codes)
mstest.check("dashboard_density_on_real_tokens", t_dashboard_density_on_real_tokens)
mstest.check("heatmap_shows_real_tokens_only", t_heatmap_shows_real_tokens_only)
mstest.check("pack", t_pack)
mstest.finish()
