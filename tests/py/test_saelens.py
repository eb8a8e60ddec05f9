"""SAELens exchange: `monoscope sae import` of directories written here with torch/numpy from the
SAELens layout (tests/py/sae_ref.py), encodings compared with a torch encoder that follows
SAELens' inference code; `sae export` -> `sae import` round trips bit for bit; bad inputs fail
with one error line and leave no output behind.

Tolerance of the encoding comparison: |f_monoscope - f_torch| <= 1e-4 (activations of scale ~1,
float32 GEMM against a float64 reference); entries within 1e-4 of a decision boundary (pre-act
near 0 or near the threshold, top-k rows whose k-th and (k+1)-th pre-activations are that close)
are skipped, and fewer than 2 % of them may be.
"""
import json, os, shutil, struct
import h5py
import numpy as np
import mstest
from mstest import run, check, TMP
import sae_ref as R

TOL = 1e-4
HOOK = "blocks.1.hook_resid_post"


def T(*p):
    return os.path.join(TMP, *p)


def acts_file(name, d_in, n_seq=6, ctx=11, seed=1, dtype=np.float32, hook=HOOK):
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal((n_seq, ctx, d_in)) * 1.5 + 0.2).astype(np.float32)
    R.write_acts(T(name), hook, a, dtype=dtype)
    return a.astype(dtype).astype(np.float32).reshape(-1, d_in)


def read_feats(path, d_sae):
    with h5py.File(path, "r") as f:
        ip, ix, v = f["indptr"][:], f["indices"][:], f["values"][:]
        attrs = dict(f.attrs)
    assert ip[0] == 0 and np.all(np.diff(ip) >= 0) and ip[-1] == len(ix) == len(v), "bad CSR"
    for t in range(len(ip) - 1):
        assert np.all(np.diff(ix[ip[t]:ip[t + 1]]) > 0), "indices not ascending within a token"
    return R.csr_to_dense(ip, ix, v, d_sae), attrs


def compare_codes(f_ms, f_ref, pre, arch, k=None, thr=None):
    """Asserts agreement away from decision boundaries; returns the fraction skipped."""
    ok = np.ones_like(f_ref, dtype=bool)
    ok &= np.abs(pre) > TOL
    if arch == "jumprelu":
        ok &= np.abs(pre - np.maximum(thr, 0)[None, :]) > TOL
    if arch == "topk":
        s = -np.sort(-pre, axis=1)
        gap = (s[:, k - 1] - s[:, k]) > TOL
        ok &= gap[:, None]
    skipped = 1 - ok.mean()
    assert skipped < 0.02, f"too many boundary cases ({skipped:.3f})"
    err = np.abs(f_ms - f_ref)[ok].max()
    assert err <= TOL, f"max |diff| {err:g} > {TOL}"
    return skipped


def import_and_encode(d, x_name, tag, extra_args=()):
    run("sae", "import", d, "--out", T(tag + ".h5"), *extra_args)
    run("sae", "encode", "--sae", T(tag + ".h5"), "--acts", T(x_name), "--out", T(tag + "_f.h5"), "--batch", "17")
    return T(tag + ".h5"), T(tag + "_f.h5")


def variant(style, arch, dtype="F32", apply_b_dec=True, rescale=False, d_in=24, d_sae=72, k=6, seed=3):
    def fn():
        rng = np.random.default_rng(seed)
        p = R.random_params(rng, d_in, d_sae, arch, scale=2.0)
        if rescale:  # decoder rows of uneven norms, so the rescale matters
            p["W_dec"] *= rng.uniform(0.3, 3.0, size=(d_sae, 1)).astype(np.float32)
        tag = f"{style}_{arch}_{dtype}_{int(apply_b_dec)}{int(rescale)}"
        d = T("dir_" + tag)
        cfg = R.saelens_cfg(style, arch, d_in, d_sae, k=k, hook=HOOK, apply_b_dec_to_input=apply_b_dec, rescale=rescale)
        R.write_saelens_dir(d, p, cfg, dtype=dtype)
        x = acts_file("acts_" + tag + ".h5", d_in, seed=seed + 1)
        sae, feats = import_and_encode(d, "acts_" + tag + ".h5", tag)
        q = {n: (R.quantize(v, dtype) if v is not None else None) for n, v in p.items()}  # what the file holds
        f_ref, pre = R.torch_encode(q, x, arch, k=k, apply_b_dec_to_input=apply_b_dec, rescale=rescale)
        f_ms, attrs = read_feats(feats, d_sae)
        assert attrs["n_tokens"] == x.shape[0] and attrs["d_sae"] == d_sae, attrs
        assert attrs["hook"] == HOOK
        compare_codes(f_ms, f_ref, pre, arch, k=k, thr=q.get("threshold"))
        with h5py.File(sae, "r") as f:
            assert f.attrs["hook"] == HOOK, dict(f.attrs)
            assert f.attrs["architecture"] == {"standard": "relu"}.get(arch, arch)
            if arch == "topk":
                assert f.attrs["k"] == k
    return fn


for style in ("v6", "v5"):
    for arch in ("standard", "topk", "jumprelu"):
        check(f"import {style} {arch} F32 encodes like torch", variant(style, arch))
check("import BF16 topk", variant("v6", "topk", "BF16"))
check("import F16 jumprelu", variant("v6", "jumprelu", "F16"))
check("import apply_b_dec_to_input=false (folded into b_enc)", variant("v5", "standard", apply_b_dec=False))
check("import topk rescale_acts_by_decoder_norm (folded)", variant("v6", "topk", rescale=True))


def jbloom_layout():
    # the public GPT-2-small residual SAEs: d_in 768, d_sae 24576, pre-3.0 cfg keys (hook_point),
    # no architecture, "dtype": "torch.float32"; weights F32, plus their sparsity file beside them
    d_in, d_sae = 768, 24576
    rng = np.random.default_rng(7)
    p = {"W_enc": (rng.standard_normal((d_in, d_sae), dtype=np.float32) * 0.05),
         "W_dec": (rng.standard_normal((d_sae, d_in), dtype=np.float32) * 0.05),
         "b_enc": (rng.standard_normal(d_sae, dtype=np.float32) * 0.1 - 0.6),
         "b_dec": (rng.standard_normal(d_in, dtype=np.float32) * 0.1)}
    hook = "blocks.8.hook_resid_pre"
    d = T("dir_jbloom")
    R.write_saelens_dir(d, p, R.saelens_cfg("jbloom", "standard", d_in, d_sae, hook=hook))
    R.write_safetensors(os.path.join(d, "sparsity.safetensors"), {"sparsity": np.full(d_sae, -3.0, np.float32)})
    rng2 = np.random.default_rng(8)
    a = rng2.standard_normal((2, 16, d_in)).astype(np.float32)
    R.write_acts(T("acts_jb.h5"), hook, a)
    sae, feats = import_and_encode(d, "acts_jb.h5", "jb")
    with h5py.File(sae, "r") as f:
        assert f.attrs["hook"] == hook and f.attrs["model"] == "gpt2-small"
        assert f.attrs["architecture"] == "relu" and f["W_enc"].shape == (d_in, d_sae)
    f_ref, pre = R.torch_encode(p, a.reshape(-1, d_in), "standard")
    f_ms, _ = read_feats(feats, d_sae)
    compare_codes(f_ms, f_ref, pre, "standard")


check("import the GPT-2-small residual SAE layout (jbloom, hook_point keys, 768x24576)", jbloom_layout)


def old_jumprelu_log_threshold_and_scaling():
    d_in, d_sae = 20, 40
    rng = np.random.default_rng(11)
    p = R.random_params(rng, d_in, d_sae, "jumprelu", scale=2.0)
    sf = rng.uniform(0.5, 2.0, d_sae).astype(np.float32)
    d = T("dir_logthr")
    cfg = R.saelens_cfg("v5", "jumprelu", d_in, d_sae, hook=HOOK)
    cfg["finetuning_scaling_factor"] = True
    R.write_saelens_dir(d, {**p, "threshold": None}, cfg,
                        extra={"log_threshold": np.log(p["threshold"] + 1e-3).astype(np.float32), "scaling_factor": sf})
    x = acts_file("acts_logthr.h5", d_in, seed=12)
    sae, feats = import_and_encode(d, "acts_logthr.h5", "logthr")
    thr = np.exp(np.log(p["threshold"] + 1e-3).astype(np.float32).astype(np.float64))
    f_ref, pre = R.torch_encode({**p, "threshold": thr}, x, "jumprelu")
    compare_codes(read_feats(feats, d_sae)[0], f_ref, pre, "jumprelu", thr=thr)
    # decoding uses W_dec scaled by the finetuning factor: x_hat = (f * sf) W_dec + b_dec
    with h5py.File(sae, "r") as f:
        np.testing.assert_allclose(f["W_dec"][:], p["W_dec"] * sf[:, None], rtol=1e-6)


check("import log_threshold and finetuning scaling_factor", old_jumprelu_log_threshold_and_scaling)


def norm_scale():
    d_in, d_sae, s = 16, 32, 3.7
    rng = np.random.default_rng(13)
    p = R.random_params(rng, d_in, d_sae, "standard")
    d = T("dir_norm")
    R.write_saelens_dir(d, p, R.saelens_cfg("v6", "standard", d_in, d_sae, hook=HOOK, normalize="expected_average_only_in"))
    x = acts_file("acts_norm.h5", d_in, seed=14)
    p1 = run("sae", "import", d, "--out", T("norm_fail.h5"), ok=False)
    assert "--norm-scale" in p1.stderr and not os.path.exists(T("norm_fail.h5"))
    sae, feats = import_and_encode(d, "acts_norm.h5", "norm", ("--norm-scale", str(s)))
    f_ref, pre = R.torch_encode(p, x * s, "standard")  # SAELens: the SAE sees x * s
    compare_codes(read_feats(feats, d_sae)[0], f_ref, pre, "standard")
    with h5py.File(sae, "r") as f:  # and its output is divided by s: W_dec/s, b_dec/s
        np.testing.assert_allclose(f["W_dec"][:], p["W_dec"] / np.float32(s), rtol=1e-6)
        np.testing.assert_allclose(f["b_dec"][:], p["b_dec"] / np.float32(s), rtol=1e-6)


check("import normalize_activations=expected_average_only_in with --norm-scale", norm_scale)


# ---------------------------------------------------------------- round trips

def h5_snapshot(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out["ds:" + name] = (obj.dtype.str, obj.shape, obj[()].tobytes())
                for k, v in obj.attrs.items():
                    out[f"attr:{name}:{k}"] = repr(v)
            elif isinstance(obj, h5py.Group):  # /eval's metrics are group attributes
                for k, v in obj.attrs.items():
                    out[f"attr:{name}:{k}"] = repr(v)
        f.visititems(visit)
        for k, v in f.attrs.items():
            out["attr:/:" + k] = repr(v)
    return out


def roundtrip(arch, k=None):
    def fn():
        d_in, d_sae = 12, 30
        rng = np.random.default_rng(21)
        p = R.random_params(rng, d_in, d_sae, arch)
        d = T("rt_src_" + arch)
        R.write_saelens_dir(d, p, R.saelens_cfg("v6", arch, d_in, d_sae, k=k, hook=HOOK))
        run("sae", "import", d, "--out", T(f"rt_{arch}_a.h5"))
        run("sae", "export", "--sae", T(f"rt_{arch}_a.h5"), "--format", "saelens", "--out", T(f"rt_{arch}_exp"))
        # exported tensors: byte for byte the source's (F32 in, F32 out)
        src, _ = R.read_safetensors(os.path.join(d, "sae_weights.safetensors"), raw=True)
        exp, _ = R.read_safetensors(os.path.join(T(f"rt_{arch}_exp"), "sae_weights.safetensors"), raw=True)
        assert set(src) == set(exp), (set(src), set(exp))
        for n in src:
            assert src[n] == exp[n], f"tensor {n} differs after import -> export"
        cfg = json.load(open(os.path.join(T(f"rt_{arch}_exp"), "cfg.json")))
        assert cfg["architecture"] == arch and cfg["d_in"] == d_in and cfg["d_sae"] == d_sae
        assert cfg["metadata"]["hook_name"] == HOOK and cfg["apply_b_dec_to_input"] is True
        assert cfg["normalize_activations"] == "none"
        if arch == "topk":
            assert cfg["k"] == k and cfg["activation_fn_kwargs"]["k"] == k
        run("sae", "import", T(f"rt_{arch}_exp"), "--out", T(f"rt_{arch}_b.h5"))
        a, b = h5_snapshot(T(f"rt_{arch}_a.h5")), h5_snapshot(T(f"rt_{arch}_b.h5"))
        assert a.keys() == b.keys(), set(a) ^ set(b)
        for key in a:
            assert a[key] == b[key], f"{key} differs after export -> import"
    return fn


check("round trip standard: export -> import exact", roundtrip("standard"))
check("round trip topk: export -> import exact", roundtrip("topk", k=4))
check("round trip jumprelu: export -> import exact", roundtrip("jumprelu"))


def trained_roundtrip():
    """SAEs from `monoscope sae train` (every architecture): export -> import keeps every dataset,
    attribute and the training log; the exported directory encodes (by SAELens' rules, in torch)
    like monoscope encodes the original file, batchtopk included (exported as jumprelu)."""
    import synth_acts
    acts = T("train_acts.h5")
    synth_acts.make(acts, hooks=(HOOK,), d_in=16, n_features=32, n_seq=16, ctx=16, seed=5)
    x = acts_x = None
    with h5py.File(acts, "a") as f:
        acts_x = f["acts/" + HOOK][:].reshape(-1, 16).astype(np.float32)
        # as capture records them: the model's path, rows without BOS (ctx 16)
        f.attrs["model"] = "/data/models/tiny-gpt2/"
        f.attrs["prepend_bos"] = np.int64(0)
    for arch in ("relu", "topk", "batchtopk", "jumprelu"):
        out = T(f"tr_{arch}.h5")
        args = ["sae", "train", "--acts", acts, "--hook", HOOK, "--out", out, "--arch", arch, "--d-sae", "32",
                "--tokens", "2048", "--batch", "256", "--seed", "1"]
        if arch in ("topk", "batchtopk"):
            args += ["--k", "3"]
        p = run(*args, ok=None)
        if p.returncode != 0:
            raise AssertionError(f"sae train --arch {arch} failed: {p.stderr.strip()[-300:]}")
        run("sae", "eval", "--sae", out, "--acts", acts)  # /eval must survive the round trip too
        run("sae", "export", "--sae", out, "--out", T(f"tr_{arch}_exp"))
        run("sae", "import", T(f"tr_{arch}_exp"), "--out", T(f"tr_{arch}_b.h5"))
        a, b = h5_snapshot(out), h5_snapshot(T(f"tr_{arch}_b.h5"))
        assert "attr:eval:explained_variance" in a and "ds:eval/feature_density" in a, sorted(a)[:8]
        assert a.keys() == b.keys(), (arch, set(a) ^ set(b))
        for key in a:
            assert a[key] == b[key], f"{arch}: {key} differs after export -> import"
        cfg = json.load(open(os.path.join(T(f"tr_{arch}_exp"), "cfg.json")))
        want = {"relu": "standard", "topk": "topk", "batchtopk": "jumprelu", "jumprelu": "jumprelu"}[arch]
        assert cfg["architecture"] == want, cfg["architecture"]
        # what SAELens reads about the data: the capture's own windowing, the model's name (not a path)
        for c in (cfg, cfg["metadata"]):
            assert c["prepend_bos"] is False and c["context_size"] == 16 and c["model_name"] == "tiny-gpt2", c
        assert cfg["reshape_activations"] == "none"
        w, _ = R.read_safetensors(os.path.join(T(f"tr_{arch}_exp"), "sae_weights.safetensors"))
        f_ref, pre = R.torch_encode(w, acts_x, want, k=cfg.get("k"))
        run("sae", "encode", "--sae", out, "--acts", acts, "--out", T(f"tr_{arch}_f.h5"))
        compare_codes(read_feats(T(f"tr_{arch}_f.h5"), 32)[0], f_ref, pre, want, k=cfg.get("k"), thr=w.get("threshold"))


def hook_z_export():
    """An attention-output dictionary: SAELens flattens hook_z's (heads, d_head) when reshape_activations
    is "hook_z" (its layout for attention SAEs), with d_in = heads * d_head."""
    import synth_acts
    acts, hz = T("z_acts.h5"), "blocks.0.attn.hook_z"
    synth_acts.make(acts, hooks=(hz,), d_in=16, n_features=32, n_seq=8, ctx=16, seed=6, extra_dims=(2, 8))
    out = T("z_sae.h5")
    run("sae", "train", "--acts", acts, "--hook", hz, "--out", out, "--d-sae", "32", "--k", "3",
        "--tokens", "1024", "--batch", "128")
    run("sae", "export", "--sae", out, "--out", T("z_exp"))
    cfg = json.load(open(T("z_exp", "cfg.json")))
    assert cfg["reshape_activations"] == "hook_z" and cfg["d_in"] == 16 and cfg["hook_name"] == hz, cfg
    assert "prepend_bos" not in cfg and "prepend_bos" not in cfg["metadata"], "the file did not say: SAELens' default"
    run("sae", "import", T("z_exp"), "--out", T("z_b.h5"))
    a, b = h5_snapshot(out), h5_snapshot(T("z_b.h5"))
    assert a == b, set(k for k in a if a.get(k) != b.get(k))


def _train_available():
    p = run("sae", "train", "--help", ok=None)
    return p.returncode == 0


if _train_available():
    check("trained SAEs (4 architectures): export -> import exact with /eval; export encodes like the original", trained_roundtrip)
    check("hook_z dictionary exports with reshape_activations hook_z", hook_z_export)
else:
    print("SKIP trained round trip: `monoscope sae train` not available in this build")


# ---------------------------------------------------------------- bad inputs

def bad_inputs():
    d_in, d_sae = 8, 16
    rng = np.random.default_rng(31)
    p = R.random_params(rng, d_in, d_sae, "standard")
    good = R.saelens_cfg("v6", "standard", d_in, d_sae, hook=HOOK)
    out = T("bad_out.h5")

    def expect(d, needle):
        if os.path.exists(out):
            os.remove(out)
        r = run("sae", "import", d, "--out", out, ok=False)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        assert len(lines) == 1, r.stderr
        assert needle in r.stderr, (needle, r.stderr)
        assert not os.path.exists(out), "output written despite the error"
        assert not [n for n in os.listdir(TMP) if n.startswith("bad_out.h5.tmp")], "temp file left behind"

    def mk(name, cfg=good, params=p, **kw):
        d = T("bad_" + name)
        shutil.rmtree(d, ignore_errors=True)
        R.write_saelens_dir(d, params, cfg, **kw)
        return d

    expect(T("no_such_dir"), "no such directory")
    open(T("a_file"), "w").write("x")
    expect(T("a_file"), "not a directory")
    d = mk("nocfg"); os.remove(os.path.join(d, "cfg.json")); expect(d, "cfg.json")
    d = mk("badjson"); open(os.path.join(d, "cfg.json"), "w").write('{"d_in": 8, '); expect(d, "invalid JSON")
    expect(mk("nodin", {k: v for k, v in good.items() if k != "d_in"}), "d_in")
    expect(mk("strdin", {**good, "d_in": "8"}), "d_in")
    expect(mk("gated", {**good, "architecture": "gated"}), "gated")
    expect(mk("topk_nok", R.saelens_cfg("v6", "topk", d_in, d_sae, k=None, hook=HOOK) | {"k": None}), "k")
    expect(mk("ln", {**good, "normalize_activations": "layer_norm"}), "layer_norm")
    expect(mk("jr_nothr", R.saelens_cfg("v6", "jumprelu", d_in, d_sae, hook=HOOK)), "threshold")
    expect(mk("noenc", params={**p, "W_enc": None}), "W_enc")
    expect(mk("shape", params={**p, "W_enc": p["W_enc"][:, :-1]}), "shape")
    expect(mk("dimmismatch", {**good, "d_sae": 17}), "shape")
    d = mk("i32"); R.write_safetensors(os.path.join(d, "sae_weights.safetensors"),
                                      {n: p[n] for n in ("W_enc", "W_dec", "b_enc", "b_dec")}, dtypes={"b_dec": "I32"})
    expect(d, "dtype")
    nan = {**p, "b_enc": p["b_enc"].copy()}; nan["b_enc"][3] = np.nan
    expect(mk("nan", params=nan), "NaN")
    d = mk("trunc"); w = os.path.join(d, "sae_weights.safetensors")
    data = open(w, "rb").read(); open(w, "wb").write(data[:-10]); expect(d, "sae_weights.safetensors")
    d = mk("garbage"); open(os.path.join(d, "sae_weights.safetensors"), "wb").write(struct.pack("<Q", 1 << 40) + b"{}")
    expect(d, "sae_weights.safetensors")
    d = mk("noweights"); os.remove(os.path.join(d, "sae_weights.safetensors")); expect(d, "sae_weights.safetensors")
    # CLI usage errors
    run("sae", "import", mk("ok"), ok=False)                       # no --out
    run("sae", "import", "--out", out, ok=False)                   # no DIR
    run("sae", "import", mk("ok2"), "--out", out, "--norm-scale", "-1", ok=False)
    run("sae", "export", "--sae", T("nope.h5"), "--out", T("nope_dir"), ok=False)
    run("sae", "export", "--sae", T("rt_standard_a.h5"), "--out", T("x"), "--format", "onnx", ok=False)
    open(T("plain_file"), "w").write("x")
    r = run("sae", "export", "--sae", T("rt_standard_a.h5"), "--out", T("plain_file"), ok=False)
    assert "output exists" in r.stderr and "--overwrite" in r.stderr, r.stderr
    r = run("sae", "export", "--sae", T("rt_standard_a.h5"), "--out", T("plain_file"), "--overwrite", ok=False)
    assert "not a directory" in r.stderr or "cannot create" in r.stderr, r.stderr


check("bad inputs: one error line, nothing written", bad_inputs)


def helps():
    for sub in ("import", "export", "encode", "eval"):
        r = run("sae", sub, "--help")
        assert "usage: monoscope sae " + sub in r.stdout


check("--help of import/export/encode/eval", helps)
mstest.finish()
