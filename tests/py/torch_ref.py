"""torch_ref.py: an independent PyTorch reference of the GPT-2 and Llama forward passes, written
from the architectures' definitions (HF transformers semantics, TransformerLens hook names), not
from monoscope's C code. Tests compare monoscope's activations and logits against it.

API
---
    logits, hooks = torch_ref.forward(weights, cfg, ids, dtype=torch.float64, edits=None)

  weights: dict name -> tensor/ndarray (float), Hugging Face names and layouts, with or without the
           "transformer." / "model." prefix:
     gpt2:  wte.weight (V,C), wpe.weight (n_ctx,C), h.L.ln_1.{weight,bias},
            h.L.attn.c_attn.{weight (C,3C) Conv1D [in,out], bias (3C)}, h.L.attn.c_proj.{weight (C,C), bias},
            h.L.ln_2.{weight,bias}, h.L.mlp.c_fc.{weight (C,F), bias}, h.L.mlp.c_proj.{weight (F,C), bias},
            ln_f.{weight,bias}, optional lm_head.weight (V,C) (absent: tied to wte)
     llama: embed_tokens.weight (V,C), layers.L.input_layernorm.weight,
            layers.L.self_attn.{q,k,v,o}_proj.weight ([out,in] like nn.Linear),
            layers.L.post_attention_layernorm.weight, layers.L.mlp.{gate,up,down}_proj.weight,
            norm.weight, optional lm_head.weight (absent: tied to embed_tokens)
  cfg: dict
     arch: "gpt2" | "llama" | "gpt_neox" (HF names under gpt_neox., embed_out; cfg rotary_pct, parallel)
     n_head: query heads;  n_kv_head (llama; default n_head)
     eps: layer_norm_epsilon / rms_norm_eps (default 1e-5)
     rope_theta (llama, default 10000.0)
     rope_scaling (llama, optional): Hugging Face rope_scaling dict, rope_type "llama3"
     sliding_window (llama, optional): query i attends to keys i-window+1 .. i (Mistral)
     q/k/v_proj.bias (Qwen2) and self_attn.{q,k}_norm.weight (Qwen3, hooks attn.hook_{q,k}_normed)
     are used where the weights hold them.
     rope_style (llama): "half" (HF rotate_half: pairs (i, i+d/2)) or
                         "interleaved" (llama2.c / GGUF / Meta: pairs (2i, 2i+1))
  ids: list/array of token ids, 1-D (one sequence) or 2-D (batch, pos).
  dtype: computation dtype (float64 default, so the reference is more exact than what it checks).
  edits: optional dict hook name -> fn(tensor) -> tensor; the pass continues from fn's result at
         that site (tensors carry the leading batch dim: (B, ...site shape)). The hooks dict then
         holds the edited values.

  Returns logits (pos, vocab) or (batch, pos, vocab) as a numpy array, and hooks: dict of
  TransformerLens hook name -> numpy array with the per-sequence shape of src/model/hooks.h
  (plus a leading batch dim for 2-D ids):
     hook_embed, hook_pos_embed (gpt2)            [pos, d_model]
     blocks.L.hook_resid_pre                      [pos, d_model]
     blocks.L.ln1.hook_scale                      [pos, 1]  sqrt(var + eps) / sqrt(mean x^2 + eps)
     blocks.L.ln1.hook_normalized                 [pos, d_model]  (before gain/bias)
     blocks.L.attn.hook_q / hook_rot_q            [pos, n_head, d_head]   (rot: llama only)
     blocks.L.attn.hook_k / hook_rot_k / hook_v   [pos, n_kv_head, d_head]
     blocks.L.attn.hook_attn_scores               [n_head, q, k] (scaled, causal mask = -inf)
     blocks.L.attn.hook_pattern                   [n_head, q, k]
     blocks.L.attn.hook_z                         [pos, n_head, d_head]
     blocks.L.ln1_post.hook_scale / hook_normalized  (gemma: the attention output's post-norm)
     blocks.L.hook_attn_out, hook_resid_mid       [pos, d_model]
     blocks.L.ln2.hook_scale, ln2.hook_normalized [pos, 1], [pos, d_model]
     blocks.L.mlp.hook_pre (gpt2 fc / llama gate) [pos, d_mlp]
     blocks.L.mlp.hook_pre_linear (llama up)      [pos, d_mlp]
     blocks.L.mlp.hook_post                       [pos, d_mlp]
     blocks.L.ln2_post.hook_scale / hook_normalized  (gemma: the MLP output's post-norm)
     blocks.L.hook_mlp_out, hook_resid_post       [pos, d_model]
     ln_final.hook_scale, ln_final.hook_normalized [pos, 1], [pos, d_model]
     logits                                       [pos, vocab]

    torch_ref.greedy(weights, cfg, prompt_ids, n) -> list of n generated ids (prompt excluded)
"""
import math

import numpy as np
import torch


def _strip(weights):
    out = {}
    for k, v in weights.items():
        for p in ("transformer.", "model.", "gpt_neox."):
            if k.startswith(p):
                k = k[len(p):]
                break
        out[k] = v if isinstance(v, torch.Tensor) else torch.from_numpy(np.asarray(v))
    return out


def _layer_norm_core(x, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps)


def _rms_core(x, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)


def _normalized(put, name, x, eps, center):
    """TransformerLens' LayerNorm / RMSNorm hooks without the gain: name.hook_scale (B, T, 1) =
    sqrt(var + eps) (centered first) or sqrt(mean x^2 + eps), then name.hook_normalized = x / scale,
    computed from the scale as put returned it (an edited scale is honoured)."""
    if center:
        x = x - x.mean(-1, keepdim=True)
    scale = put(name + ".hook_scale", torch.sqrt((x * x).mean(-1, keepdim=True) + eps))
    return put(name + ".hook_normalized", x / scale)


def _gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def _rope(x, theta, style, scaling=None):
    # x: (B, T, H, D); rotate each pair of dimensions by angle pos * theta^(-2i/D) (rescaled: _inv_freq)
    B, T, H, D = x.shape
    half = D // 2
    inv = _inv_freq(D, theta, scaling)  # (D/2)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]  # (T, D/2)
    cos = torch.cos(ang).to(x.dtype)[None, :, None, :]
    sin = torch.sin(ang).to(x.dtype)[None, :, None, :]
    if style == "half":
        a, b = x[..., :half], x[..., half:]
        return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)
    if style == "interleaved":
        a, b = x[..., 0::2], x[..., 1::2]
        out = torch.empty_like(x)
        out[..., 0::2] = a * cos - b * sin
        out[..., 1::2] = a * sin + b * cos
        return out
    raise ValueError(f"unknown rope_style {style!r}")


def _inv_freq(D, theta, scaling):
    """(D/2) rotary angular frequencies; scaling: None or a Hugging Face rope_scaling dict with
    rope_type "llama3" (Llama 3.1: by wavelength, low frequencies / factor, high ones kept, a linear
    blend in 1/wavelength between)."""
    inv = 1.0 / (theta ** (torch.arange(0, D // 2, dtype=torch.float64) * 2.0 / D))
    if not scaling:
        return inv
    if scaling["rope_type"] == "linear":  # positions / factor, i.e. every frequency / factor
        return inv / scaling["factor"]
    assert scaling["rope_type"] == "llama3", scaling
    f, lo, hi = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old = scaling["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv
    blend = ((old / wavelen - lo) / (hi - lo)).clamp(0.0, 1.0)  # 0 at wavelen >= old/lo, 1 at <= old/hi
    return blend * inv + (1 - blend) * inv / f


def _attention(q, k, v, n_head, n_kv, put, pre, window=0, scale=None, softcap=None):
    # q: (B,T,H,D) k,v: (B,T,Hkv,D) -> z (B,T,H,D); window > 0: query i sees keys j with i - window < j <= i;
    # scale: score multiplier (default 1/sqrt(D)); softcap: scores = softcap * tanh(scores / softcap) before the mask
    B, T, H, D = q.shape
    rep = n_head // n_kv
    kk = k.repeat_interleave(rep, dim=2)  # query head h uses kv head h // rep
    vv = v.repeat_interleave(rep, dim=2)
    scores = torch.einsum("bqhd,bkhd->bhqk", q, kk) * (scale if scale else 1 / math.sqrt(D))
    if softcap:
        scores = softcap * torch.tanh(scores / softcap)
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    if window:
        mask |= torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-window)
    scores = scores.masked_fill(mask, float("-inf"))
    scores = put(pre + "attn.hook_attn_scores", scores)
    pattern = put(pre + "attn.hook_pattern", torch.softmax(scores, dim=-1))
    z = torch.einsum("bhqk,bkhd->bqhd", pattern, vv)
    return put(pre + "attn.hook_z", z)


def _hook_recorder(edits):
    """hooks dict and put(name, t): records t under name, after edits[name](t) when given (the
    forward pass continues from the edited tensor, as a TransformerLens hook that returns a value)."""
    hooks = {}

    def put(name, t):
        if edits and name in edits:
            t = edits[name](t.clone())
        hooks[name] = t
        return t
    return hooks, put


def _gpt2(W, cfg, ids, dt, edits=None):
    H = cfg["n_head"]
    eps = cfg.get("eps", 1e-5)
    g = lambda n: W[n].to(dt)
    n_layer = 1 + max(int(k.split(".")[1]) for k in W if k.startswith("h."))
    B, T = ids.shape
    hooks, put = _hook_recorder(edits)
    emb = put("hook_embed", g("wte.weight")[ids])
    pos = put("hook_pos_embed", g("wpe.weight")[:T][None].expand(B, T, -1))
    x = emb + pos
    C = x.shape[-1]
    D = C // H
    for L in range(n_layer):
        p, pre = f"h.{L}.", f"blocks.{L}."
        x = put(pre + "hook_resid_pre", x)
        n = _normalized(put, pre + "ln1", x, eps, True)
        h = n * g(p + "ln_1.weight") + g(p + "ln_1.bias")
        qkv = h @ g(p + "attn.c_attn.weight") + g(p + "attn.c_attn.bias")  # Conv1D: x @ W[in,out]
        q, k, v = qkv.split(C, dim=-1)
        q, k, v = (t.reshape(B, T, H, D) for t in (q, k, v))
        q, k, v = put(pre + "attn.hook_q", q), put(pre + "attn.hook_k", k), put(pre + "attn.hook_v", v)
        z = _attention(q, k, v, H, H, put, pre)
        a = put(pre + "hook_attn_out", z.reshape(B, T, C) @ g(p + "attn.c_proj.weight") + g(p + "attn.c_proj.bias"))
        x = put(pre + "hook_resid_mid", x + a)
        n = _normalized(put, pre + "ln2", x, eps, True)
        h = n * g(p + "ln_2.weight") + g(p + "ln_2.bias")
        hp = put(pre + "mlp.hook_pre", h @ g(p + "mlp.c_fc.weight") + g(p + "mlp.c_fc.bias"))
        post = put(pre + "mlp.hook_post", _gelu_new(hp))
        m = put(pre + "hook_mlp_out", post @ g(p + "mlp.c_proj.weight") + g(p + "mlp.c_proj.bias"))
        x = put(pre + "hook_resid_post", x + m)
    n = _normalized(put, "ln_final", x, eps, True)
    h = n * g("ln_f.weight") + g("ln_f.bias")
    U = g("lm_head.weight") if "lm_head.weight" in W else g("wte.weight")
    logits = put("logits", h @ U.T)
    return logits, hooks


def _llama(W, cfg, ids, dt, edits=None):
    H = cfg["n_head"]
    Hkv = cfg.get("n_kv_head", H)
    eps = cfg.get("eps", 1e-5)
    theta = cfg.get("rope_theta", 10000.0)
    style = cfg["rope_style"]
    g = lambda n: W[n].to(dt)
    n_layer = 1 + max(int(k.split(".")[1]) for k in W if k.startswith("layers."))
    B, T = ids.shape
    hooks, put = _hook_recorder(edits)
    x = put("hook_embed", g("embed_tokens.weight")[ids])
    for L in range(n_layer):
        p, pre = f"layers.{L}.", f"blocks.{L}."
        x = put(pre + "hook_resid_pre", x)
        n = _normalized(put, pre + "ln1", x, eps, False)
        h = n * g(p + "input_layernorm.weight")
        # Qwen2: q/k/v biases where the checkpoint has them
        proj = lambda n: h @ g(p + n + ".weight").T + (g(p + n + ".bias") if p + n + ".bias" in W else 0)
        q, k, v = proj("self_attn.q_proj"), proj("self_attn.k_proj"), proj("self_attn.v_proj")
        D = q.shape[-1] // H
        q, k, v = q.reshape(B, T, H, D), k.reshape(B, T, Hkv, D), v.reshape(B, T, Hkv, D)
        q, k, v = put(pre + "attn.hook_q", q), put(pre + "attn.hook_k", k), put(pre + "attn.hook_v", v)
        if p + "self_attn.q_norm.weight" in W:  # Qwen3: RMSNorm over each head's D dims, before RoPE
            q = put(pre + "attn.hook_q_normed", _rms_core(q, eps) * g(p + "self_attn.q_norm.weight"))
            k = put(pre + "attn.hook_k_normed", _rms_core(k, eps) * g(p + "self_attn.k_norm.weight"))
        q = put(pre + "attn.hook_rot_q", _rope(q, theta, style, cfg.get("rope_scaling")))
        k = put(pre + "attn.hook_rot_k", _rope(k, theta, style, cfg.get("rope_scaling")))
        z = _attention(q, k, v, H, Hkv, put, pre, cfg.get("sliding_window") or 0)
        a = put(pre + "hook_attn_out", z.reshape(B, T, H * D) @ g(p + "self_attn.o_proj.weight").T)
        x = put(pre + "hook_resid_mid", x + a)
        n = _normalized(put, pre + "ln2", x, eps, False)
        h = n * g(p + "post_attention_layernorm.weight")
        gate = put(pre + "mlp.hook_pre", h @ g(p + "mlp.gate_proj.weight").T)
        up = put(pre + "mlp.hook_pre_linear", h @ g(p + "mlp.up_proj.weight").T)
        post = put(pre + "mlp.hook_post", gate * torch.sigmoid(gate) * up)  # SwiGLU: silu(gate) * up
        m = put(pre + "hook_mlp_out", post @ g(p + "mlp.down_proj.weight").T)
        x = put(pre + "hook_resid_post", x + m)
    n = _normalized(put, "ln_final", x, eps, False)
    h = n * g("norm.weight")
    U = g("lm_head.weight") if "lm_head.weight" in W else g("embed_tokens.weight")
    logits = put("logits", h @ U.T)
    return logits, hooks


def _gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _neox(W, cfg, ids, dt, edits=None):
    """GPT-NeoX / Pythia (HF GPTNeoXForCausalLM): LayerNorm with bias, query_key_value rows grouped
    per head as (q|k|v, d_head), rotate_half RoPE on the first int(d_head * rotary_pct) dims of each
    head, exact gelu, x + attn(ln1(x)) + mlp(ln2(x)) when use_parallel_residual (no hook_resid_mid),
    else sequential; embed_out unembedding."""
    H = cfg["n_head"]
    eps = cfg.get("eps", 1e-5)
    theta = cfg.get("rope_theta", 10000.0)
    g = lambda n: W[n].to(dt)
    n_layer = 1 + max(int(k.split(".")[1]) for k in W if k.startswith("layers."))
    B, T = ids.shape
    hooks, put = _hook_recorder(edits)
    x = put("hook_embed", g("embed_in.weight")[ids])
    C = x.shape[-1]
    D = C // H
    rd = int(D * cfg["rotary_pct"])
    rot = lambda t: torch.cat([_rope(t[..., :rd], theta, "half"), t[..., rd:]], dim=-1)
    lin = lambda h, n: h @ g(n + ".weight").T + g(n + ".bias")
    for L in range(n_layer):
        p, pre = f"layers.{L}.", f"blocks.{L}."
        x = put(pre + "hook_resid_pre", x)
        n = _normalized(put, pre + "ln1", x, eps, True)
        h = n * g(p + "input_layernorm.weight") + g(p + "input_layernorm.bias")
        qkv = lin(h, p + "attention.query_key_value").reshape(B, T, H, 3 * D)
        q, k, v = qkv[..., :D], qkv[..., D:2 * D], qkv[..., 2 * D:]
        q, k, v = put(pre + "attn.hook_q", q), put(pre + "attn.hook_k", k), put(pre + "attn.hook_v", v)
        q = put(pre + "attn.hook_rot_q", rot(q))
        k = put(pre + "attn.hook_rot_k", rot(k))
        z = _attention(q, k, v, H, H, put, pre)
        a = put(pre + "hook_attn_out", lin(z.reshape(B, T, C), p + "attention.dense"))
        if not cfg["parallel"]:
            x = put(pre + "hook_resid_mid", x + a)
        n = _normalized(put, pre + "ln2", x, eps, True)
        h = n * g(p + "post_attention_layernorm.weight") + g(p + "post_attention_layernorm.bias")
        hp = put(pre + "mlp.hook_pre", lin(h, p + "mlp.dense_h_to_4h"))
        post = put(pre + "mlp.hook_post", _gelu_erf(hp))
        m = put(pre + "hook_mlp_out", lin(post, p + "mlp.dense_4h_to_h"))
        x = put(pre + "hook_resid_post", x + a + m if cfg["parallel"] else x + m)
    n = _normalized(put, "ln_final", x, eps, True)
    h = n * g("final_layer_norm.weight") + g("final_layer_norm.bias")
    logits = put("logits", h @ g("embed_out.weight").T)
    return logits, hooks


def _gemma2(W, cfg, ids, dt, edits=None):
    """Gemma 2 (HF Gemma2ForCausalLM): embeddings * sqrt(C) (the constant in cfg["embed_dtype"], as HF
    builds it as a tensor of the model dtype), RMSNorm x * rsqrt(mean x^2 + eps) * (1 + w), norms
    before and after attention and MLP, GeGLU with tanh gelu, scores * query_pre_attn_scalar^-1/2,
    attention-logit and final-logit soft-capping, sliding window on the even layers (or cfg["layer_types"]).
    Hooks: hook_embed is the scaled embedding; hook_attn_out / hook_mlp_out are the post-normed outputs.
    Gemma 3 (cfg["qk_norm"]): q and k RMSNorm-ed per head with (1 + q_norm / k_norm) before RoPE, RoPE base
    cfg["rope_local_theta"] unscaled on sliding layers and cfg["rope_theta"] with cfg["rope_scaling"]
    on full ones; soft-caps None: none."""
    H, Hkv = cfg["n_head"], cfg["n_kv_head"]
    eps = cfg["eps"]
    g = lambda n: W[n].to(dt)
    n_layer = 1 + max(int(k.split(".")[1]) for k in W if k.startswith("layers."))
    B, T = ids.shape
    hooks, put = _hook_recorder(edits)
    E = g("embed_tokens.weight")
    C = E.shape[1]
    # post-norms: ln1_post / ln2_post, hooked as TransformerLens names them
    norm = lambda t, n, site: _normalized(put, site, t, eps, False) * (1.0 + g(n))
    x = put("hook_embed", E[ids] * torch.tensor(C ** 0.5, dtype=cfg["embed_dtype"]).to(dt))
    types = cfg.get("layer_types") or ["sliding_attention" if L % 2 == 0 else "full_attention" for L in range(n_layer)]
    for L in range(n_layer):
        p, pre = f"layers.{L}.", f"blocks.{L}."
        x = put(pre + "hook_resid_pre", x)
        n = _normalized(put, pre + "ln1", x, eps, False)
        h = n * (1.0 + g(p + "input_layernorm.weight"))
        q, k, v = (h @ g(p + f"self_attn.{t}_proj.weight").T for t in "qkv")
        D = q.shape[-1] // H
        q, k, v = q.reshape(B, T, H, D), k.reshape(B, T, Hkv, D), v.reshape(B, T, Hkv, D)
        q, k, v = put(pre + "attn.hook_q", q), put(pre + "attn.hook_k", k), put(pre + "attn.hook_v", v)
        local = types[L] == "sliding_attention"
        theta, scaling = cfg["rope_theta"], None
        if cfg.get("qk_norm"):
            q = put(pre + "attn.hook_q_normed", _rms_core(q, eps) * (1.0 + g(p + "self_attn.q_norm.weight")))
            k = put(pre + "attn.hook_k_normed", _rms_core(k, eps) * (1.0 + g(p + "self_attn.k_norm.weight")))
            theta, scaling = (cfg["rope_local_theta"], None) if local else (cfg["rope_theta"], cfg.get("rope_scaling"))
        q = put(pre + "attn.hook_rot_q", _rope(q, theta, "half", scaling))
        k = put(pre + "attn.hook_rot_k", _rope(k, theta, "half", scaling))
        window = cfg["sliding_window"] if local else 0
        z = _attention(q, k, v, H, Hkv, put, pre, window, cfg["query_pre_attn_scalar"] ** -0.5, cfg["attn_softcap"])
        a = z.reshape(B, T, H * D) @ g(p + "self_attn.o_proj.weight").T
        a = put(pre + "hook_attn_out", norm(a, p + "post_attention_layernorm.weight", pre + "ln1_post"))
        x = put(pre + "hook_resid_mid", x + a)
        n = _normalized(put, pre + "ln2", x, eps, False)
        h = n * (1.0 + g(p + "pre_feedforward_layernorm.weight"))
        gate = put(pre + "mlp.hook_pre", h @ g(p + "mlp.gate_proj.weight").T)
        up = put(pre + "mlp.hook_pre_linear", h @ g(p + "mlp.up_proj.weight").T)
        post = put(pre + "mlp.hook_post", _gelu_new(gate) * up)
        m = post @ g(p + "mlp.down_proj.weight").T
        m = put(pre + "hook_mlp_out", norm(m, p + "post_feedforward_layernorm.weight", pre + "ln2_post"))
        x = put(pre + "hook_resid_post", x + m)
    n = _normalized(put, "ln_final", x, eps, False)
    logits = (n * (1.0 + g("norm.weight"))) @ E.T
    cap = cfg["final_softcap"]
    logits = put("logits", cap * torch.tanh(logits / cap) if cap else logits)
    return logits, hooks


def forward(weights, cfg, ids, dtype=torch.float64, edits=None):
    W = _strip(weights)
    ids_t = torch.as_tensor(np.asarray(ids), dtype=torch.long)
    single = ids_t.dim() == 1
    if single:
        ids_t = ids_t[None]
    with torch.no_grad():
        if cfg["arch"] == "gpt2":
            logits, hooks = _gpt2(W, cfg, ids_t, dtype, edits)
        elif cfg["arch"] == "llama":
            logits, hooks = _llama(W, cfg, ids_t, dtype, edits)
        elif cfg["arch"] in ("gemma2", "gemma3"):
            logits, hooks = _gemma2(W, cfg, ids_t, dtype, edits)
        elif cfg["arch"] == "gpt_neox":
            logits, hooks = _neox(W, cfg, ids_t, dtype, edits)
        else:
            raise ValueError(f"unknown arch {cfg['arch']!r}")
    conv = (lambda t: t[0].numpy()) if single else (lambda t: t.numpy())
    return conv(logits), {k: conv(v) for k, v in hooks.items()}


def greedy(weights, cfg, prompt_ids, n, dtype=torch.float64):
    """Greedy generation by re-running the full prefix each step (simple, independent of any cache)."""
    ids = list(prompt_ids)
    out = []
    for _ in range(n):
        logits, _ = forward(weights, cfg, ids, dtype)
        nxt = int(np.argmax(logits[-1]))
        out.append(nxt)
        ids.append(nxt)
    return out
