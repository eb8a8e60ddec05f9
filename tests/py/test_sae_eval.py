"""`monoscope sae eval` and `sae encode` against numpy/torch computed here on the same data.

Metric definitions checked (N tokens, d = d_in):
  mse = sum|x - x_hat|^2 / (N d); nmse = sum|x - x_hat|^2 / sum|x - mean x|^2; EV = 1 - nmse;
  l0/l1 per token; density = fraction of tokens a latent is non-zero; dead = density 0;
  dense > 1 % / > 10 %; log10 density histogram (50 bins over [-10, 0], live latents);
  shrinkage = mean |x_hat|/|x|.
Relative tolerance 1e-5 on the float metrics (float32 compute, float64 reference); counts may
differ by one latent sitting exactly at a decision boundary.
"""
import json, os
import h5py
import numpy as np
import mstest
from mstest import run, check, TMP
import sae_ref as R

HOOK = "blocks.2.hook_resid_post"


def T(*p):
    return os.path.join(TMP, *p)


def make_sae(tag, p, arch, k=None, d_in=None, d_sae=None, hook=HOOK):
    d_in, d_sae = p["W_enc"].shape
    d = T("dir_" + tag)
    R.write_saelens_dir(d, p, R.saelens_cfg("v6", arch, d_in, d_sae, k=k, hook=hook))
    run("sae", "import", d, "--out", T(tag + ".h5"))
    return T(tag + ".h5")


def numpy_metrics(x, p, arch, k=None):
    x = x.astype(np.float64)
    f, _ = R.torch_encode(p, x, arch, k=k)
    xh = R.torch_decode(p, f)
    N, d = x.shape
    sse = ((x - xh) ** 2).sum()
    var = ((x - x.mean(0)) ** 2).sum()
    dens = (f != 0).mean(0)
    live = dens[dens > 0]
    hist = np.zeros(50, np.int64)
    b = np.clip(np.floor((np.log10(live) + 10) / 10 * 50).astype(int), 0, 49)
    np.add.at(hist, b, 1)
    nx = np.linalg.norm(x, axis=1)
    m = nx > 0
    return {"mse": sse / (N * d), "nmse": sse / var, "explained_variance": 1 - sse / var,
            "l0": (f != 0).sum(1).mean(), "l1": np.abs(f).sum(1).mean(), "dead_frac": (dens == 0).mean(),
            "dense_frac_1pct": (dens > 0.01).mean(), "dense_frac_10pct": (dens > 0.1).mean(),
            "shrinkage": (np.linalg.norm(xh, axis=1)[m] / nx[m]).mean(), "hist": hist, "density": dens, "n": N}


def eval_json(sae, acts, *extra):
    r = run("sae", "eval", "--sae", sae, "--acts", acts, "--json", *extra)
    return json.loads(r.stdout)


def identity_exact():
    """W_enc = [I, -I], W_dec = [I; -I], relu: x_hat = relu(x) - relu(-x) = x exactly."""
    d_in = 12
    I = np.eye(d_in, dtype=np.float32)
    p = {"W_enc": np.concatenate([I, -I], 1), "W_dec": np.concatenate([I, -I], 0),
         "b_enc": np.zeros(2 * d_in, np.float32), "b_dec": np.zeros(d_in, np.float32)}
    sae = make_sae("ident", p, "standard")
    rng = np.random.default_rng(1)
    a = rng.standard_normal((5, 9, d_in)).astype(np.float32) * 3 + 1
    R.write_acts(T("acts_ident.h5"), HOOK, a)
    j = eval_json(sae, T("acts_ident.h5"))
    assert j["mse"] == 0 and j["nmse"] == 0 and j["explained_variance"] == 1, j
    assert j["shrinkage"] == 1 and j["l0"] == d_in and j["n_tokens"] == 45, j
    x = a.reshape(-1, d_in)
    assert j["dead_frac"] == ((x > 0).sum(0).tolist() + (x < 0).sum(0).tolist()).count(0) / (2 * d_in)
    assert abs(j["l1"] - np.abs(x.astype(np.float64)).sum(1).mean()) < 1e-5 * j["l1"]


check("identity-like SAE: MSE 0, EV 1, shrinkage 1 exactly", identity_exact)


def random_vs_numpy(arch, k=None, n_seq=7, ctx=13, max_tokens=None, f16=False):
    def fn():
        d_in, d_sae = 20, 64
        rng = np.random.default_rng(5)
        p = R.random_params(rng, d_in, d_sae, arch, scale=2.0)
        p["b_enc"][:6] = -50     # never fire: dead
        if arch != "topk":
            p["b_enc"][6:9] = 50  # always fire: dense
        tag = f"rand_{arch}{'_f16' if f16 else ''}{'_max' if max_tokens else ''}"
        sae = make_sae(tag, p, arch, k=k)
        a = (rng.standard_normal((n_seq, ctx, d_in)) * 2 + 0.5).astype(np.float32)
        R.write_acts(T(tag + "_acts.h5"), HOOK, a, dtype=np.float16 if f16 else np.float32)
        x = a.astype(np.float16).astype(np.float32) if f16 else a
        x = x.reshape(-1, d_in)
        if max_tokens:
            x = x[:max_tokens]
        before = R.read_safetensors  # noqa: keep the SAE bytes to check /eval leaves them alone
        with h5py.File(sae, "r") as f:
            w_before = {n: f[n][()].tobytes() for n in f if isinstance(f[n], h5py.Dataset)}
        extra = ("--max-tokens", str(max_tokens), "--batch", "10") if max_tokens else ("--batch", "16")
        j = eval_json(sae, T(tag + "_acts.h5"), *extra)
        ref = numpy_metrics(x, p, arch, k=k)
        assert j["n_tokens"] == ref["n"], (j["n_tokens"], ref["n"])
        for key in ("mse", "nmse", "explained_variance", "l1", "shrinkage"):
            assert abs(j[key] - ref[key]) <= 1e-5 * max(1, abs(ref[key])), (key, j[key], ref[key])
        assert abs(j["l0"] - ref["l0"]) <= 1.0 / ref["n"] + 1e-9, (j["l0"], ref["l0"])
        for key in ("dead_frac", "dense_frac_1pct", "dense_frac_10pct"):
            assert abs(j[key] - ref[key]) <= 1.0 / d_sae + 1e-12, (key, j[key], ref[key])
        assert j["dead_frac"] >= 6 / d_sae
        assert np.abs(np.array(j["density_hist"]["counts"]) - ref["hist"]).sum() <= 2, (j["density_hist"], ref["hist"])
        # stored in the file, /eval next to untouched weights
        with h5py.File(sae, "r") as f:
            g = f["eval"]
            for key in ("mse", "nmse", "explained_variance", "l0", "l1", "dead_frac", "shrinkage"):
                assert g.attrs[key] == j[key], (key, g.attrs[key], j[key])
            assert g.attrs["n_tokens"] == j["n_tokens"] and g.attrs["hook"] == HOOK
            assert np.abs(g["feature_density"][:] - ref["density"]).max() <= 1.0 / ref["n"] + 1e-12
            assert list(g["density_hist"][:]) == j["density_hist"]["counts"]
            for n, b in w_before.items():
                assert f[n][()].tobytes() == b, f"{n} changed by eval"
    return fn


check("random relu SAE metrics vs numpy", random_vs_numpy("standard"))
check("random topk SAE metrics vs numpy", random_vs_numpy("topk", k=5))
check("random jumprelu SAE metrics vs numpy", random_vs_numpy("jumprelu"))
check("--max-tokens (partial sequence) vs numpy", random_vs_numpy("topk", k=5, max_tokens=29))
check("float16 activations vs numpy", random_vs_numpy("standard", f16=True))


def text_output_and_reeval():
    sae, acts = T("rand_standard.h5"), T("rand_standard_acts.h5")
    r = run("sae", "eval", "--sae", sae, "--acts", acts)
    for word in ("explained variance", "L0", "dead", "shrinkage", "log10 feature density", "stored in"):
        assert word in r.stdout, (word, r.stdout)
    # a second eval replaces /eval (one group, new values), --no-store leaves the file alone
    run("sae", "eval", "--sae", sae, "--acts", acts, "--max-tokens", "5")
    with h5py.File(sae, "r") as f:
        assert f["eval"].attrs["n_tokens"] == 5
    st = os.stat(sae)
    run("sae", "eval", "--sae", sae, "--acts", acts, "--no-store", "--json")
    assert os.stat(sae).st_mtime_ns == st.st_mtime_ns
    # the SAE still loads and exports after /eval was added
    run("sae", "export", "--sae", sae, "--out", T("after_eval_exp"))


check("text output, re-eval replaces /eval, --no-store", text_output_and_reeval)


def hook_selection_and_errors():
    rng = np.random.default_rng(9)
    p = R.random_params(rng, 8, 16, "standard")
    sae = make_sae("hooks", p, "standard", hook="blocks.0.hook_resid_pre")
    import h5py as H
    with H.File(T("two_hooks.h5"), "w") as f:
        f["tokens"] = np.zeros((2, 3), np.int32)
        f["acts/blocks.0.hook_resid_pre"] = rng.standard_normal((2, 3, 8)).astype(np.float32)
        f["acts/blocks.1.hook_resid_pre"] = rng.standard_normal((2, 3, 8)).astype(np.float32)
        f["acts/blocks.1.hook_mlp_out"] = rng.standard_normal((2, 3, 5)).astype(np.float32)
    j = eval_json(sae, T("two_hooks.h5"), "--no-store")
    assert j["hook"] == "blocks.0.hook_resid_pre"             # the SAE's own hook
    j = eval_json(sae, T("two_hooks.h5"), "--no-store", "--hook", "blocks.1.hook_resid_pre")
    assert j["hook"] == "blocks.1.hook_resid_pre"
    r = run("sae", "eval", "--sae", sae, "--acts", T("two_hooks.h5"), "--hook", "blocks.1.hook_mlp_out", ok=False)
    assert "d_in" in r.stderr, r.stderr
    r = run("sae", "eval", "--sae", sae, "--acts", T("two_hooks.h5"), "--hook", "blocks.7.hook_resid_pre", ok=False)
    assert "blocks.7.hook_resid_pre" in r.stderr
    r = run("sae", "eval", "--sae", sae, "--acts", T("nope.h5"), ok=False)
    assert "nope.h5" in r.stderr
    open(T("not_h5.h5"), "w").write("hello")
    run("sae", "eval", "--sae", sae, "--acts", T("not_h5.h5"), ok=False)
    run("sae", "eval", "--sae", T("not_h5.h5"), "--acts", T("two_hooks.h5"), ok=False)
    run("sae", "eval", "--sae", sae, ok=False)
    run("sae", "eval", "--sae", sae, "--acts", T("two_hooks.h5"), "--max-tokens", "-3", ok=False)
    run("sae", "eval", "--sae", sae, "--acts", T("two_hooks.h5"), "--bogus", ok=False)
    run("sae", "encode", "--sae", sae, "--acts", T("two_hooks.h5"), ok=False)  # no --out
    r = run("sae", "encode", "--sae", sae, "--acts", T("two_hooks.h5"), "--hook", "blocks.1.hook_mlp_out",
            "--out", T("bad_feats.h5"), ok=False)
    assert not os.path.exists(T("bad_feats.h5"))
    # the SAE's own site is missing: an error, never silently another site
    with H.File(T("other_hook.h5"), "w") as f:
        f["acts/blocks.1.hook_resid_pre"] = rng.standard_normal((2, 3, 8)).astype(np.float32)
    r = run("sae", "eval", "--sae", sae, "--acts", T("other_hook.h5"), ok=False)
    assert "blocks.0.hook_resid_pre" in r.stderr and "--hook" in r.stderr, r.stderr
    run("sae", "eval", "--sae", sae, "--acts", T("other_hook.h5"), "--hook", "blocks.1.hook_resid_pre", "--no-store")
    # empty activations (0 complete sequences)
    with H.File(T("empty.h5"), "w") as f:
        f["tokens"] = np.zeros((0, 3), np.int32)
        f["acts/blocks.0.hook_resid_pre"] = np.zeros((0, 3, 8), np.float32)
    r = run("sae", "eval", "--sae", sae, "--acts", T("empty.h5"), ok=False)
    assert "no tokens" in r.stderr, r.stderr


check("hook selection and bad inputs", hook_selection_and_errors)


def encode_csr():
    d_in, d_sae, k = 10, 40, 4
    rng = np.random.default_rng(17)
    p = R.random_params(rng, d_in, d_sae, "topk", scale=2.0)
    sae = make_sae("enc", p, "topk", k=k)
    a = rng.standard_normal((9, 7, d_in)).astype(np.float32)
    tok = rng.integers(0, 1000, size=(9, 7)).astype(np.int32)
    R.write_acts(T("enc_acts.h5"), HOOK, a, tokens=tok)
    run("sae", "encode", "--sae", sae, "--acts", T("enc_acts.h5"), "--out", T("feats_b5.h5"), "--batch", "5")
    run("sae", "encode", "--sae", sae, "--acts", T("enc_acts.h5"), "--out", T("feats_all.h5"))
    with h5py.File(T("feats_b5.h5"), "r") as f, h5py.File(T("feats_all.h5"), "r") as g:
        for n in ("indptr", "indices", "tokens"):
            assert f[n][()].tobytes() == g[n][()].tobytes(), f"{n} depends on the batch size"
        # values: equal up to the GEMM's rounding, which BLAS may order differently per batch shape
        np.testing.assert_allclose(f["values"][:], g["values"][:], rtol=1e-5, atol=1e-6)
        assert f["indptr"].dtype == np.int64 and f["indices"].dtype == np.int32 and f["values"].dtype == np.float32
        assert f.attrs["n_tokens"] == 63 and f.attrs["ctx"] == 7 and f.attrs["n_seq"] == 9 and f.attrs["d_sae"] == d_sae
        assert f.attrs["nnz"] == len(f["indices"]) and f.attrs["format"] == "csr"
        assert np.array_equal(f["tokens"][:], tok.reshape(-1))
        ip, ix, v = f["indptr"][:], f["indices"][:], f["values"][:]
    assert len(ip) == 64 and np.all(np.diff(ip) <= k)
    dense = R.csr_to_dense(ip, ix, v, d_sae)
    f_ref, pre = R.torch_encode(p, a.reshape(-1, d_in), "topk", k=k)
    s = -np.sort(-pre, axis=1)
    rows = (s[:, k - 1] - s[:, k]) > 1e-4
    assert rows.mean() > 0.95
    assert np.abs(dense - f_ref)[rows].max() < 1e-4
    # --max-tokens cuts mid-sequence
    run("sae", "encode", "--sae", sae, "--acts", T("enc_acts.h5"), "--out", T("feats_10.h5"), "--max-tokens", "10")
    with h5py.File(T("feats_10.h5"), "r") as f:
        assert len(f["indptr"]) == 11 and np.array_equal(f["indptr"][:], ip[:11])
        assert np.array_equal(f["tokens"][:], tok.reshape(-1)[:10])


check("encode: CSR layout, batch-size independent, equals torch", encode_csr)


# ---------------------------------------------------------------- downstream (model) metrics

def downstream():
    """CE recovered / KL through the hook API, against a torch splice reference built on
    tests/py/torch_ref.py (the reconstruction replaces the residual stream in place)."""
    import torch
    import fx_llama2c
    import torch_ref
    W, cfg = fx_llama2c.random_weights(32, 64, 3, 4, 4, 97, 32, seed=3)
    mpath = T("model.bin")
    fx_llama2c.write(mpath, W, cfg)
    L = 1
    hook = f"blocks.{L}.hook_resid_post"
    rng = np.random.default_rng(23)
    ids = rng.integers(0, 97, size=(5, 12)).astype(np.int32)
    _, hooks = torch_ref.forward(W, cfg, ids, dtype=torch.float64)
    acts = hooks[hook].astype(np.float32)
    R.write_acts(T("lm_acts.h5"), hook, acts, tokens=ids)
    d_in, d_sae, k = 32, 96, 8
    p = R.random_params(rng, d_in, d_sae, "topk", scale=1.0)
    # a decoder fitted to these activations (least squares on the topk codes), so the splice is
    # a reasonable reconstruction and CE recovered lies well inside (0, 1)
    x = acts.reshape(-1, d_in).astype(np.float64)
    f, _ = R.torch_encode(p, x, "topk", k=k)
    Wd, *_ = np.linalg.lstsq(np.c_[f, np.ones(len(f))], x, rcond=None)
    p["W_dec"], p["b_dec"] = Wd[:-1].astype(np.float32), Wd[-1].astype(np.float32)
    sae = make_sae("lm", p, "topk", k=k, hook=hook)
    j = eval_json(sae, T("lm_acts.h5"), "--model", mpath, "--max-seqs", "5", "--model-batch", "2")["downstream"]

    # reference: count the norm calls; the residual stream after block L is the input of call 2(L+1)
    def run_ref(mode):
        orig = torch_ref._normalized
        n = [0]

        def patched(put, name, xx, eps, center):
            if n[0] == 2 * (L + 1):
                flat = xx.reshape(-1, d_in)
                if mode == "zero":
                    xx.zero_()
                else:
                    ff, _ = R.torch_encode(p, flat.float().numpy(), "topk", k=k)
                    xx.copy_(torch.from_numpy(R.torch_decode(p, ff)).reshape(xx.shape).to(xx.dtype))
            n[0] += 1
            return orig(put, name, xx, eps, center)
        torch_ref._normalized = patched if mode else orig
        try:
            lg, _ = torch_ref.forward(W, cfg, ids, dtype=torch.float64)
        finally:
            torch_ref._normalized = orig
        return torch.log_softmax(torch.from_numpy(lg), -1)[:, :-1]

    tgt = torch.from_numpy(ids[:, 1:].astype(np.int64))
    lp = {m: run_ref(m) for m in (None, "splice", "zero")}
    ce = {m: -lp[m].gather(-1, tgt[..., None]).mean().item() for m in lp}
    kl = {m: (lp[None].exp() * (lp[None] - lp[m])).sum(-1).mean().item() for m in ("splice", "zero")}
    rec = (ce["zero"] - ce["splice"]) / (ce["zero"] - ce[None])
    assert j["tokens"] == 5 * 11
    for got, want, name in ((j["ce_clean"], ce[None], "ce_clean"), (j["ce_splice"], ce["splice"], "ce_splice"),
                            (j["ce_zero_ablate"], ce["zero"], "ce_zero"), (j["ce_recovered"], rec, "ce_recovered"),
                            (j["kl_splice"], kl["splice"], "kl_splice"), (j["kl_zero_ablate"], kl["zero"], "kl_zero")):
        assert abs(got - want) <= 1e-4 * max(1.0, abs(want)), (name, got, want)
    assert 0 < rec < 1, rec
    # the same sequences given as an ids corpus (--input-format ids) give the same numbers
    with open(T("ids.txt"), "w") as fh:
        for row in ids:
            fh.write(" ".join(map(str, row)) + "\n")
    j3 = eval_json(sae, T("lm_acts.h5"), "--model", mpath, "--input", T("ids.txt"), "--input-format", "ids",
                   "--ctx", "12", "--no-store")["downstream"]
    for key in ("ce_clean", "ce_splice", "ce_zero_ablate", "kl_splice", "kl_zero_ablate", "tokens"):
        assert abs(j3[key] - j[key]) <= 1e-6 * max(1.0, abs(j[key])), (key, j3[key], j[key])
    with h5py.File(sae, "r") as f:
        assert abs(f["eval"].attrs["ce_recovered"] - j["ce_recovered"]) < 1e-12
    # an exact reconstruction recovers everything: CE_splice == CE_clean and KL 0
    d2 = 32
    I = np.eye(d2, dtype=np.float32)
    pi = {"W_enc": np.concatenate([I, -I], 1), "W_dec": np.concatenate([I, -I], 0),
          "b_enc": np.zeros(2 * d2, np.float32), "b_dec": np.zeros(d2, np.float32)}
    sae2 = make_sae("lm_ident", pi, "standard", hook=hook)
    j2 = eval_json(sae2, T("lm_acts.h5"), "--model", mpath)["downstream"]
    assert j2["ce_splice"] == j2["ce_clean"] and j2["kl_splice"] == 0 and j2["ce_recovered"] == 1, j2
    # errors: a missing model, a hook the SAE does not fit
    run("sae", "eval", "--sae", sae, "--acts", T("lm_acts.h5"), "--model", T("no_model.bin"), ok=False)
    run("sae", "eval", "--sae", sae, "--acts", T("lm_acts.h5"), "--model", mpath, "--input", T("ids.txt"), ok=False)  # no tokenizer
    r = run("sae", "eval", "--sae", sae, "--acts", T("lm_acts.h5"), "--hook", "blocks.0.hook_resid_post", ok=False)


def _model_available():
    p = run("info", os.path.join(mstest.SHARED, "models", "stories260K", "stories260K.bin"), ok=None)
    return p.returncode == 0


if _model_available():
    check("downstream CE recovered / KL vs a torch splice reference", downstream)
else:
    print("SKIP downstream metrics: model loading not available in this build")
mstest.finish()
