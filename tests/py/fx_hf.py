"""fx_hf.py: Hugging Face checkpoint directories for tests, written from the published formats
(no safetensors package): safetensors = u64 little-endian header length N, N bytes of JSON
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the data.

    gpt2_weights(C, L, H, F, V, T, tied=True, seed=0) -> (W, cfg)   torch_ref naming (Conv1D [in,out])
    llama_weights(C, L, H, KVH, F, V, T, tied=True, seed=0) -> (W, cfg)   q/k interleaved (llama2.c order)
    permute_to_hf(w, n_heads)     interleaved -> rotate_half row order, exactly as Hugging Face's
                                  convert_llama_weights_to_hf.py `permute` does
    hf_llama(W, cfg)              (W_hf, cfg_hf): q/k permuted, rope_style "half"
    rounded(a, dtype)             the float32 values a tensor has after storing it as dtype
    write_safetensors(path, tensors, dtype="F32", metadata=None)
    read_safetensors(path) -> dict
    write_hf(dir, W, cfg, dtype="F32", prefix=True, shards=1, config_extra=None) -> W as stored (rounded)
"""
import json
import os
import struct

import numpy as np
import torch

import fx_llama2c


def gpt2_weights(C, L, H, F, V, T, tied=True, seed=0):
    rng = np.random.default_rng(seed)
    f = lambda *s, scale=1.0: (rng.standard_normal(s) * scale).astype(np.float32)
    W = {"wte.weight": f(V, C, scale=0.5), "wpe.weight": f(T, C, scale=0.1),
         "ln_f.weight": (1 + 0.1 * rng.standard_normal(C)).astype(np.float32), "ln_f.bias": f(C, scale=0.1)}
    for l in range(L):
        p = f"h.{l}."
        for n in ("ln_1", "ln_2"):
            W[p + n + ".weight"] = (1 + 0.1 * rng.standard_normal(C)).astype(np.float32)
            W[p + n + ".bias"] = f(C, scale=0.1)
        W[p + "attn.c_attn.weight"] = f(C, 3 * C, scale=C ** -0.5)   # Conv1D: [in, out]
        W[p + "attn.c_attn.bias"] = f(3 * C, scale=0.1)
        W[p + "attn.c_proj.weight"] = f(C, C, scale=C ** -0.5)
        W[p + "attn.c_proj.bias"] = f(C, scale=0.1)
        W[p + "mlp.c_fc.weight"] = f(C, F, scale=C ** -0.5)
        W[p + "mlp.c_fc.bias"] = f(F, scale=0.1)
        W[p + "mlp.c_proj.weight"] = f(F, C, scale=F ** -0.5)
        W[p + "mlp.c_proj.bias"] = f(C, scale=0.1)
    if not tied:
        W["lm_head.weight"] = f(V, C, scale=0.5)
    cfg = dict(arch="gpt2", n_head=H, eps=1e-5, dim=C, hidden=F, n_layers=L, vocab=V, seq_len=T)
    return W, cfg


def llama_weights(C, L, H, KVH, F, V, T, tied=True, seed=0):
    W, cfg = fx_llama2c.random_weights(C, F, L, H, KVH, V, T, shared=tied, seed=seed)
    return W, cfg


def permute_to_hf(w, n_heads):
    # convert_llama_weights_to_hf.py: w.view(n_heads, dim1 // n_heads // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2)
    w = torch.as_tensor(np.asarray(w))
    dim1, dim2 = w.shape
    return w.view(n_heads, dim1 // n_heads // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2).numpy().copy()


def hf_llama(W, cfg):
    out = dict(W)
    for k in W:
        if k.endswith("q_proj.weight"):
            out[k] = permute_to_hf(W[k], cfg["n_head"])
        elif k.endswith("k_proj.weight"):
            out[k] = permute_to_hf(W[k], cfg["n_kv_head"])
    c = dict(cfg)
    c["rope_style"] = "half"
    return out, c


def rounded(a, dtype):
    a = np.ascontiguousarray(a, np.float32)
    if dtype == "F32":
        return a
    if dtype == "F16":
        return a.astype(np.float16).astype(np.float32)
    if dtype == "BF16":
        return torch.from_numpy(a).to(torch.bfloat16).to(torch.float32).numpy()
    raise ValueError(dtype)


def _bytes(a, dtype):
    a = np.ascontiguousarray(a, np.float32)
    if dtype == "F32":
        return a.astype("<f4").tobytes()
    if dtype == "F16":
        return a.astype("<f2").tobytes()
    if dtype == "BF16":
        return torch.from_numpy(a).to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors, dtype="F32", metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, a in tensors.items():
        dt = dtype if np.asarray(a).dtype.kind == "f" else {"i": "I32"}[np.asarray(a).dtype.kind]
        b = _bytes(a, dt) if dt != "I32" else np.ascontiguousarray(a, "<i4").tobytes()
        header[name] = {"dtype": dt, "shape": list(np.shape(a)), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(h)))
        fh.write(h)
        for b in blobs:
            fh.write(b)


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, d in header.items():
        if name == "__metadata__":
            continue
        b, e = d["data_offsets"]
        buf = raw[8 + n + b:8 + n + e]
        if d["dtype"] == "BF16":
            a = torch.frombuffer(bytearray(buf), dtype=torch.bfloat16).to(torch.float32).numpy()
        else:
            a = np.frombuffer(buf, dtype={"F32": "<f4", "F16": "<f2", "I32": "<i4"}[d["dtype"]]).astype(np.float32)
        out[name] = a.reshape(d["shape"])
    return out


def config_json(cfg, tied):
    if cfg["arch"] == "gpt2":
        return {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": cfg["dim"],
                "n_layer": cfg["n_layers"], "n_head": cfg["n_head"], "n_inner": cfg["hidden"],
                "n_positions": cfg["seq_len"], "n_ctx": cfg["seq_len"], "vocab_size": cfg["vocab"],
                "layer_norm_epsilon": cfg.get("eps", 1e-5), "activation_function": "gelu_new",
                "tie_word_embeddings": tied, "bos_token_id": cfg["vocab"] - 1, "eos_token_id": cfg["vocab"] - 1}
    return {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": cfg["dim"],
            "intermediate_size": cfg["hidden"], "num_hidden_layers": cfg["n_layers"],
            "num_attention_heads": cfg["n_head"], "num_key_value_heads": cfg["n_kv_head"],
            "max_position_embeddings": cfg["seq_len"], "vocab_size": cfg["vocab"],
            "rms_norm_eps": cfg.get("eps", 1e-5), "rope_theta": cfg.get("rope_theta", 10000.0), "rope_scaling": None,
            "hidden_act": "silu", "tie_word_embeddings": tied, "bos_token_id": 1, "eos_token_id": 2}


def write_hf(d, W, cfg, dtype="F32", prefix=True, shards=1, config_extra=None):
    """W in torch_ref naming (no prefix); llama q/k must already be in HF (rotate_half) order.
    Returns the weights as the checkpoint stores them (rounded to dtype), for the reference."""
    os.makedirs(d, exist_ok=True)
    tied = "lm_head.weight" not in W and "embed_out.weight" not in W
    conf = config_json(cfg, tied)
    if config_extra:
        conf.update(config_extra)
    with open(os.path.join(d, "config.json"), "w") as fh:
        json.dump(conf, fh, indent=2)
    pre = {"gpt2": "transformer.", "gpt_neox": "gpt_neox."}.get(cfg["arch"], "model.") if prefix else ""
    names = {k: (k if k in ("lm_head.weight", "embed_out.weight") else pre + k) for k in W}
    for f in ("model.safetensors", "model.safetensors.index.json"):
        if os.path.exists(os.path.join(d, f)):
            os.remove(os.path.join(d, f))
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), {names[k]: v for k, v in W.items()}, dtype,
                          {"format": "pt"})
    else:
        keys = list(W)
        wm = {}
        for s in range(shards):
            fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = keys[s::shards]
            write_safetensors(os.path.join(d, fn), {names[k]: W[k] for k in part}, dtype, {"format": "pt"})
            wm.update({names[k]: fn for k in part})
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as fh:
            json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, fh)
    return {k: rounded(v, dtype) for k, v in W.items()}


# ---- running monoscope on a fixture and comparing with torch_ref
def capture_available():
    import mstest
    p = mstest.run("capture", "--help", ok=None)
    return p.returncode == 0


def ours(model, seqs, hooks="*", tag="cap", extra=()):
    """Activations of monoscope on seqs (list of equal-length id lists) through `capture --input-format ids`
    (plus the options in extra): dict hook name -> array [n_seq, ...site shape]."""
    import h5py
    import mstest
    T = len(seqs[0])
    ids = os.path.join(mstest.TMP, f"{tag}.ids")
    out = os.path.join(mstest.TMP, f"{tag}.h5")
    with open(ids, "w") as fh:
        fh.write("\n".join(" ".join(map(str, s)) for s in seqs) + "\n")
    if os.path.exists(out):
        os.remove(out)
    mstest.run("capture", "--model", model, "--input", ids, "--input-format", "ids", "--hooks", hooks,
               "--ctx", T, "--out", out, *extra)
    with h5py.File(out, "r") as f:
        acts = {k: np.asarray(v[...], np.float64) for k, v in f["acts"].items()}
        assert np.array_equal(np.asarray(f["tokens"][...]), np.asarray(seqs)), "tokens differ"
    return acts


def logits(model, seqs, tag="lg"):
    return ours(model, seqs, hooks="logits", tag=tag)["logits"]


def greedy(model, prompt, n):
    import mstest
    p = mstest.run("generate", "--model", model, "--ids", " ".join(map(str, prompt)), "-n", n, "--print-ids")
    return [int(x) for x in p.stdout.split()]


def assert_close(name, got, want, rtol=1e-4, atol=1e-5):
    """|got - want| <= rtol * max|want| + atol elementwise; -inf (masked scores) must match exactly."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
    inf = np.isinf(want)
    assert np.array_equal(np.isinf(got), inf), f"{name}: -inf mask differs"
    g, w = got[~inf], want[~inf]
    if w.size == 0:
        return
    bound = rtol * np.abs(w).max() + atol
    err = np.abs(g - w).max()
    assert err <= bound, f"{name}: max |diff| {err:.3g} > {bound:.3g}"


def check_all_sites(model, W, cfg, seqs, rtol=1e-4, tag="all"):
    """Every hook site of monoscope vs torch_ref (float64 reference on the stored weights)."""
    import torch_ref
    ref_logits, ref = torch_ref.forward(W, cfg, np.asarray(seqs))
    got = ours(model, seqs, "*", tag=tag)
    missing = sorted(set(ref) - set(got))
    assert not missing, f"sites missing from capture: {missing[:5]}"
    for name in ref:
        assert_close(name, got[name], ref[name], rtol=rtol)
    return len(ref)


# ---- Llama-family variants (Llama 3.1 rope scaling, Mistral, Qwen2, Qwen3) in Hugging Face layout
def llama_family_weights(C, L, H, KVH, Dh, F, V, qkv_bias=False, qk_norm=False, tied=False, seed=0):
    """Random weights in HF naming (no prefix), q/k rows already in rotate_half order (random weights
    need no permutation): embed_tokens, layers.L.self_attn.{q,k,v,o}_proj.weight ([out, in]),
    q/k/v_proj.bias with qkv_bias, self_attn.{q,k}_norm.weight (Dh) with qk_norm, norms, mlp."""
    rng = np.random.default_rng(seed)
    f = lambda *s, scale=1.0: (rng.standard_normal(s) * scale).astype(np.float32)
    gain = lambda n: (1 + 0.2 * rng.standard_normal(n)).astype(np.float32)
    W = {"embed_tokens.weight": f(V, C, scale=0.5), "norm.weight": gain(C)}
    for l in range(L):
        p = f"layers.{l}."
        W[p + "input_layernorm.weight"] = gain(C)
        W[p + "post_attention_layernorm.weight"] = gain(C)
        W[p + "self_attn.q_proj.weight"] = f(H * Dh, C, scale=C ** -0.5)
        W[p + "self_attn.k_proj.weight"] = f(KVH * Dh, C, scale=C ** -0.5)
        W[p + "self_attn.v_proj.weight"] = f(KVH * Dh, C, scale=C ** -0.5)
        W[p + "self_attn.o_proj.weight"] = f(C, H * Dh, scale=(H * Dh) ** -0.5)
        if qkv_bias:
            W[p + "self_attn.q_proj.bias"] = f(H * Dh, scale=0.3)
            W[p + "self_attn.k_proj.bias"] = f(KVH * Dh, scale=0.3)
            W[p + "self_attn.v_proj.bias"] = f(KVH * Dh, scale=0.3)
        if qk_norm:
            W[p + "self_attn.q_norm.weight"] = gain(Dh)
            W[p + "self_attn.k_norm.weight"] = gain(Dh)
        W[p + "mlp.gate_proj.weight"] = f(F, C, scale=C ** -0.5)
        W[p + "mlp.up_proj.weight"] = f(F, C, scale=C ** -0.5)
        W[p + "mlp.down_proj.weight"] = f(C, F, scale=F ** -0.5)
    if not tied:
        W["lm_head.weight"] = f(V, C, scale=0.5)
    cfg = dict(arch="llama", n_head=H, n_kv_head=KVH, eps=1e-5, rope_theta=10000.0, rope_style="half", dim=C,
               hidden=F, n_layers=L, vocab=V, seq_len=64)
    return W, cfg


def site_errors(model, W, cfg, seqs, tag):
    """Every hook site of monoscope vs torch_ref: dict name -> max|diff| / max|ref| (masked -inf
    scores must match exactly), after assert_close on each."""
    import torch_ref
    _, ref = torch_ref.forward(W, cfg, np.asarray(seqs))
    got = ours(model, seqs, "*", tag=tag)
    missing = sorted(set(ref) - set(got))
    assert not missing, f"sites missing from capture: {missing[:5]}"
    errs = {}
    for name in ref:
        assert_close(name, got[name], ref[name])
        fin = ~np.isinf(ref[name])
        errs[name] = float(np.abs(got[name][fin] - ref[name][fin]).max() / max(np.abs(ref[name][fin]).max(), 1e-30))
    return errs


def neox_weights(C, L, H, F, V, seed=0):
    """GPT-NeoX / Pythia weights in HF naming (no prefix): embed_in, layers.L.{input,post_attention}_layernorm
    .{weight,bias}, attention.query_key_value (3C, C) rows (head, q|k|v, d_head) + bias, attention.dense,
    mlp.dense_h_to_4h, mlp.dense_4h_to_h (weights [out, in] + biases), final_layer_norm, embed_out."""
    rng = np.random.default_rng(seed)
    f = lambda *s, scale=1.0: (rng.standard_normal(s) * scale).astype(np.float32)
    gain = lambda n: (1 + 0.2 * rng.standard_normal(n)).astype(np.float32)
    W = {"embed_in.weight": f(V, C, scale=0.5), "final_layer_norm.weight": gain(C),
         "final_layer_norm.bias": f(C, scale=0.1), "embed_out.weight": f(V, C, scale=0.5)}
    for l in range(L):
        p = f"layers.{l}."
        for n in ("input_layernorm", "post_attention_layernorm"):
            W[p + n + ".weight"], W[p + n + ".bias"] = gain(C), f(C, scale=0.1)
        for n, o, i in (("attention.query_key_value", 3 * C, C), ("attention.dense", C, C),
                        ("mlp.dense_h_to_4h", F, C), ("mlp.dense_4h_to_h", C, F)):
            W[p + n + ".weight"], W[p + n + ".bias"] = f(o, i, scale=i ** -0.5), f(o, scale=0.2)
    cfg = dict(arch="gpt_neox", n_head=H, eps=1e-5, rope_theta=10000.0, dim=C, hidden=F, n_layers=L, vocab=V,
               seq_len=64, n_kv_head=H)
    return W, cfg


def sae_smoke(tag, model, V, T, seed=0):
    """capture -> sae train -> sae eval on a model, with no architecture-specific option anywhere."""
    import json
    import mstest
    rng = np.random.default_rng(seed)
    ids = os.path.join(mstest.TMP, tag + "_smoke.ids")
    with open(ids, "w") as fh:
        fh.write("\n".join(" ".join(map(str, rng.integers(0, V, T))) for _ in range(8)) + "\n")
    acts, sae = os.path.join(mstest.TMP, tag + "_acts.h5"), os.path.join(mstest.TMP, tag + "_sae.h5")
    hk = "blocks.1.hook_resid_post"
    mstest.run("capture", "--model", model, "--input", ids, "--input-format", "ids", "--ctx", T, "--hooks", hk,
               "--out", acts, "--overwrite")
    mstest.run("sae", "train", "--acts", acts, "--hook", hk, "--arch", "topk", "--k", 4, "--expansion", 2,
               "--batch", 32, "--tokens", 300, "--out", sae, "--overwrite")
    ev = mstest.run("sae", "eval", "--sae", sae, "--acts", acts, "--json").stdout
    assert "explained_variance" in json.dumps(json.loads(ev)), ev


def gemma2_weights(C, L, H, KVH, Dh, F, V, seed=0):
    """Gemma 2 weights in HF naming (no prefix, tied embeddings): embed_tokens, layers.L.{input_layernorm,
    post_attention_layernorm, pre_feedforward_layernorm, post_feedforward_layernorm}.weight (stored as
    w, applied as 1 + w), self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj, norm."""
    W, cfg = llama_family_weights(C, L, H, KVH, Dh, F, V, tied=True, seed=seed)
    rng = np.random.default_rng(seed + 1)
    for k in list(W):
        if k.endswith("norm.weight"):
            W[k] = (0.3 * rng.standard_normal(W[k].shape)).astype(np.float32)
    for l in range(L):
        for n in ("pre_feedforward_layernorm", "post_feedforward_layernorm"):
            W[f"layers.{l}.{n}.weight"] = (0.3 * rng.standard_normal(C)).astype(np.float32)
    cfg["arch"] = "gemma2"
    return W, cfg
