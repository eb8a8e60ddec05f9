"""What a new user hits in the first hour (issue 16): padding is never data, the logit lens follows the
site's path into the residual stream, CE loss recovered is flagged when its denominator is meaningless.

References are computed here with numpy/torch from the files the CLI wrote (weights, tokens, raw
activations), never from the metrics under test:
- padding: every consumer (sae train / eval / encode, viz heatmap / dashboard) sees only rows whose
  token is >= 0; metrics equal numpy on the real rows alone; `capture --pack` writes no padding and
  its rows are the documents' ids joined by EOS, cut into ctx windows.
- logit lens: W_U · LN_f-direction of the decoder row mapped to the residual stream: through W_O for
  attn.hook_z (all heads, summed), through W_out for mlp.hook_post; refused where undefined (hook_q).
- CE loss recovered: flagged (and not plotted) when CE_zero - CE_clean is below 0.01 nats or negative.
"""
import json
import os
import re

import h5py
import numpy as np

import mstest
from mstest import run, TMP
import fx_hf
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
    p = run("capture", "--model", MODEL, "--input", T("docs.jsonl"), "--input-format", "ids", "--ctx", CTX,
            "--hooks", HOOK, "--pack", "--out", T("x.h5"), "--overwrite", ok=False)
    assert len(p.stderr.strip().splitlines()) == 1


# ---- logit lens through the site's path into the residual stream
def lens_model():
    d = T("lens_model")
    C, L, H, F, V, Tn = 32, 2, 4, 64, 300, 32
    W, cfg = fx_hf.gpt2_weights(C, L, H, F, V, Tn, tied=True, seed=7)
    W = fx_hf.write_hf(d, W, cfg)
    ids = os.path.join(d, "ids.txt")
    rng = np.random.default_rng(1)
    with open(ids, "w") as f:
        for _ in range(12):
            f.write(" ".join(str(int(v)) for v in rng.integers(0, V, 16)) + "\n")
    return d, W, ids


def lens_of(W, direction):
    v = direction.astype(np.float64)
    return W["wte.weight"].astype(np.float64) @ ((v - v.mean()) * W["ln_f.weight"].astype(np.float64))


def check_lens(png, want):
    _, tx = vd.read_png(png)
    pos, neg = tx["LogitLens"].split(" ")
    got_pos = [int(x.split(":")[0]) for x in pos[1:].split(",")]
    got_neg = [int(x.split(":")[0]) for x in neg[1:].split(",")]
    order = np.argsort(-want)
    assert got_pos[:5] == [int(i) for i in order[:5]], (got_pos[:5], order[:5])
    assert got_neg[:5] == [int(i) for i in order[::-1][:5]], (got_neg[:5], order[::-1][:5])
    v0 = float(pos[1:].split(",")[0].split(":")[1])
    assert abs(v0 - want[order[0]]) < 1e-4 * max(1, abs(want[order[0]])), (v0, want[order[0]])


def t_lens_hook_z_and_mlp_post():
    d, W, ids = lens_model()
    for hook, d_in, wo in (("blocks.1.attn.hook_z", 32, "h.1.attn.c_proj.weight"),
                           ("blocks.0.mlp.hook_post", 64, "h.0.mlp.c_proj.weight")):
        acts = T("lens_acts.h5")
        run("capture", "--model", d, "--input", ids, "--input-format", "ids", "--ctx", 16, "--hooks", hook,
            "--out", acts, "--overwrite")
        sae = T("lens_sae.h5")
        vd.make_sae(sae, d_in, 24, hook=hook, model="lens_model", bias=0.0)
        out = T("lens_dash")
        run("viz", "dashboard", "--sae", sae, "--acts", acts, "--model", d, "--features", "0-2", "--out", out)
        with h5py.File(sae, "r") as f:
            W_dec = f["W_dec"][:].astype(np.float64)
        for fi in range(3):
            # Conv1D c_proj weight is [in, out]: the residual direction of a code is W_dec[f] @ W
            check_lens(os.path.join(out, f"feature_{fi:05d}.png"), lens_of(W, W_dec[fi] @ W[wo].astype(np.float64)))


def llama_lens_model():
    # GQA (8 query heads, 2 key/value heads), untied unembedding: hook_z is [pos, n_head, d_head] and
    # o_proj (HF layout [d_model, n_head*d_head]) carries it into the residual stream
    d = T("lens_llama")
    C, L, H, KVH, F, V, Tn = 32, 2, 8, 2, 48, 300, 32
    W, cfg = fx_hf.llama_weights(C, L, H, KVH, F, V, Tn, tied=False, seed=11)
    W, cfg = fx_hf.hf_llama(W, cfg)
    return d, fx_hf.write_hf(d, W, cfg), cfg


def t_lens_hook_z_gqa():
    d, W, cfg = llama_lens_model()
    ids = lens_model()[2]
    WU, gam = W["lm_head.weight"].astype(np.float64), W["norm.weight"].astype(np.float64)
    for hook, d_in, wo in (("blocks.1.attn.hook_z", 32, "layers.1.self_attn.o_proj.weight"),
                           ("blocks.0.mlp.hook_post", 48, "layers.0.mlp.down_proj.weight")):
        acts = T("lens_llama_acts.h5")
        run("capture", "--model", d, "--input", ids, "--input-format", "ids", "--ctx", 16, "--hooks", hook,
            "--out", acts, "--overwrite")
        sae = T("lens_llama_sae.h5")
        vd.make_sae(sae, d_in, 24, hook=hook, model="lens_llama", bias=0.0)
        out = T("lens_llama_dash")
        run("viz", "dashboard", "--sae", sae, "--acts", acts, "--model", d, "--features", "0-2", "--out", out)
        with h5py.File(sae, "r") as f:
            W_dec = f["W_dec"][:].astype(np.float64)
        for fi in range(3):
            # nn.Linear weight is [out, in]: the residual direction of a code is W @ W_dec[f]; RMSNorm: no centring
            r = W[wo].astype(np.float64) @ W_dec[fi]
            check_lens(os.path.join(out, f"feature_{fi:05d}.png"), WU @ (r * gam))


def t_lens_refused_where_undefined():
    d, W, ids = lens_model()
    hook = "blocks.1.attn.hook_q"
    acts = T("lens_q.h5")
    run("capture", "--model", d, "--input", ids, "--input-format", "ids", "--ctx", 16, "--hooks", hook,
        "--out", acts, "--overwrite")
    sae = T("lens_q_sae.h5")
    vd.make_sae(sae, 32, 24, hook=hook, model="lens_model", bias=0.0)
    p = run("viz", "dashboard", "--sae", sae, "--acts", acts, "--model", d, "--features", "0-2",
            "--out", T("lens_q_dash"), ok=False)
    assert "hook_q" in p.stderr and "logit lens" in p.stderr, p.stderr


# ---- CE loss recovered with a meaningless denominator
def ce_eval(model, hook, tag):
    ids = T(tag + "_ids.txt")
    rng = np.random.default_rng(2)
    with open(ids, "w") as f:
        for _ in range(8):
            f.write(" ".join(str(int(v)) for v in rng.integers(0, 300, 16)) + "\n")
    acts = T(tag + "_acts.h5")
    run("capture", "--model", model, "--input", ids, "--input-format", "ids", "--ctx", 16, "--hooks", hook,
        "--out", acts, "--overwrite")
    sae = T(tag + "_sae.h5")
    if os.path.exists(sae):
        os.remove(sae)
    run("sae", "train", "--acts", acts, "--hook", hook, "--out", sae, "--d-sae", 64, "--k", 4, "--batch", 32,
        "--seed", 1, "--threads", 2)
    r = json.loads(run("sae", "eval", "--sae", sae, "--acts", acts, "--model", model, "--json").stdout)
    txt = run("sae", "eval", "--sae", sae, "--acts", acts, "--model", model, "--no-store").stdout
    return sae, r["downstream"], txt


def t_ce_flagged():
    # (a) a random-init model (weights N(0, 0.02)): zero-ablating an MLP output barely moves the loss
    sae_a, a, txt_a = ce_eval(MODEL, "blocks.0.hook_mlp_out", "ce_small")
    # (b) large random weights: the clean model is confidently wrong, zero-ablating the last residual
    #     stream gives a near-uniform prediction and LOWERS the loss
    d, _, _ = lens_model()
    sae_b, b, txt_b = ce_eval(d, "blocks.1.hook_resid_post", "ce_neg")
    for r, txt, sae in ((a, txt_a, sae_a), (b, txt_b, sae_b)):
        delta = r["ce_zero_ablate"] - r["ce_clean"]
        assert abs(r["ce_delta"] - delta) < 1e-9
        assert delta < 0.01, "fixture: the denominator must be meaningless here (%g)" % delta
        assert r["ce_recovered_valid"] is False, r
        assert r["ce_min_delta"] == 0.01
        assert "unreliable" in txt.lower(), txt
        with h5py.File(sae, "r") as f:
            assert int(f["eval"].attrs["ce_recovered_valid"]) == 0
            assert abs(f["eval"].attrs["ce_delta"] - delta) < 1e-9 and f["eval"].attrs["ce_min_delta"] == 0.01
    assert b["ce_zero_ablate"] < b["ce_clean"], "fixture (b) must lower the loss when ablated"
    # (c) a meaningful denominator: the score stands, unflagged
    sae_c, c, txt_c = ce_eval(d, "blocks.1.hook_mlp_out", "ce_ok")
    assert c["ce_zero_ablate"] - c["ce_clean"] >= 0.01, "fixture (c) must move the loss when ablated"
    assert c["ce_recovered_valid"] is True and "unreliable" not in txt_c.lower().split("ce loss recovered")[1].split("\n")[0]
    # viz summary does not plot them as if meaningful, and says so
    p = run("viz", "summary", "--sae", ",".join((sae_a, sae_b, sae_c)), "--out", T("ce_summary"))
    said = p.stdout + p.stderr
    assert "ce_small_sae.h5" in said and "ce_neg_sae.h5" in said and "not plotted" in said, said
    assert "ce_ok_sae.h5" not in said, said
    L = vd.layout(vd.read_png(T("ce_summary", "l0_ev.png"))[1])
    assert L["n1"] == 1 and L["left1"] == 2 and L["n0"] == 3, L


mstest.check("train_counts_real_tokens", t_train_counts_real_tokens)
mstest.check("eval_real_rows_only", t_eval_real_rows_only)
mstest.check("encode_padding_has_no_codes", t_encode_padding_has_no_codes)
mstest.check("dashboard_density_on_real_tokens", t_dashboard_density_on_real_tokens)
mstest.check("heatmap_shows_real_tokens_only", t_heatmap_shows_real_tokens_only)
mstest.check("pack", t_pack)
mstest.check("lens_hook_z_and_mlp_post", t_lens_hook_z_and_mlp_post)
mstest.check("lens_hook_z_gqa", t_lens_hook_z_gqa)
mstest.check("lens_refused_where_undefined", t_lens_refused_where_undefined)
mstest.check("ce_flagged", t_ce_flagged)
mstest.finish()
