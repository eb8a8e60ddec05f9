"""fx_gguf.py: GGUF v3 files for tests, written from the published specification (no gguf package):
    "GGUF", u32 version=3, u64 n_tensors, u64 n_kv, kv pairs (string key, u32 type, value),
    tensor infos (string name, u32 n_dims, u64 ne[n_dims] fastest-first, u32 ggml type, u64 offset),
    zero padding to general.alignment (default 32), tensor data (each offset a multiple of it).
    Strings: u64 length + UTF-8 bytes. ggml types: F32=0, F16=1, Q8_0=8 (blocks of 32: f16 scale d,
    32 int8 q; x = d*q), BF16=30.

    write_gguf(path, kv, tensors, alignment=None)
        kv: list of (key, type, value), type one of the T_* names below ("u32", "f32", "str",
            ("arr", elemtype), ...); tensors: list of (name, array in torch shape, "F32"|"F16"|"BF16"|"Q8_0")
    q8_0(a) -> (bytes, dequantized float32 array)
    from_weights(path, W, cfg, dtype="F32", fused_qkv=True, tokenizer=None, alignment=None)
        W in torch_ref naming; llama q/k must be in interleaved order (GGUF convention).
        Returns the weights as the file stores them (rounded/dequantized), for the reference.
"""
import struct

import numpy as np

import fx_hf

T = {"u8": 0, "i8": 1, "u16": 2, "i16": 3, "u32": 4, "i32": 5, "f32": 6, "bool": 7, "str": 8, "arr": 9,
     "u64": 10, "i64": 11, "f64": 12}
FMT = {"u8": "<B", "i8": "<b", "u16": "<H", "i16": "<h", "u32": "<I", "i32": "<i", "f32": "<f", "bool": "<?",
       "u64": "<Q", "i64": "<q", "f64": "<d"}
GGML = {"F32": 0, "F16": 1, "Q8_0": 8, "BF16": 30}


def _str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def _value(t, v):
    if isinstance(t, tuple):  # ("arr", elem)
        et = t[1]
        out = struct.pack("<IQ", T[et] if isinstance(et, str) else T["arr"], len(v))
        return out + b"".join(_value(et, x) for x in v)
    if t == "str":
        return _str(v)
    return struct.pack(FMT[t], v)


def q8_0(a):
    a = np.ascontiguousarray(a, np.float32).reshape(-1, 32)
    amax = np.abs(a).max(axis=1)
    d = (amax / 127.0).astype(np.float32)
    inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1), 0).astype(np.float32)
    q = np.clip(np.round(a * inv[:, None]), -127, 127).astype(np.int8)
    d16 = d.astype(np.float16)
    blocks = np.zeros(a.shape[0], dtype=[("d", "<f2"), ("q", "i1", 32)])
    blocks["d"], blocks["q"] = d16, q
    deq = d16.astype(np.float32)[:, None] * q.astype(np.float32)
    return blocks.tobytes(), deq.reshape(-1)


def _tensor_bytes(a, dt):
    if dt == "Q8_0":
        b, deq = q8_0(a)
        return b, deq.reshape(np.shape(a))
    r = fx_hf.rounded(a, dt)
    b = fx_hf._bytes(a, dt)
    return b, r


def write_gguf(path, kv, tensors, alignment=None, version=3):
    align = alignment or 32
    kvs = list(kv)
    if alignment:
        kvs = [("general.alignment", "u32", alignment)] + kvs
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, t, v in kvs:
        head += _str(k) + struct.pack("<I", T["arr"] if isinstance(t, tuple) else T[t]) + _value(t, v)
    infos, blobs, off, stored = b"", [], 0, {}
    for name, a, dt in tensors:
        b, r = _tensor_bytes(a, dt)
        stored[name] = r
        shape = np.shape(a)
        ne = list(reversed(shape))  # fastest first
        infos += _str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        infos += struct.pack("<IQ", GGML[dt], off)
        pad = -len(b) % align
        blobs.append(b + b"\0" * pad)
        off += len(b) + pad
    data = head + infos
    data += b"\0" * (-len(data) % align)
    with open(path, "wb") as fh:
        fh.write(data)
        for b in blobs:
            fh.write(b)
    return stored


def from_weights(path, W, cfg, dtype="F32", fused_qkv=True, tokenizer=None, alignment=None, extra_kv=None,
                 gguf_arch=None, rope_freqs=None):
    """W in torch_ref naming -> a GGUF file as llama.cpp's converter lays it out; returns the weights as
    stored, in torch_ref naming. gguf_arch: "qwen2", "qwen3", "gemma2" or "gemma3" for Hugging Face-layout
    llama family weights (rotate_half rows, written as they are; Gemma's norms stored as 1 + w, as the
    converter does), "gptneox" for fx_hf.neox_weights (q|k|v rows reordered as the converter does);
    default cfg["arch"]. rope_freqs: (Dh/2) divisors written as rope_freqs.weight (Llama 3.1)."""
    arch = gguf_arch or cfg["arch"]
    C, L, H, F = cfg["dim"], cfg["n_layers"], cfg["n_head"], cfg["hidden"]
    kv = [("general.architecture", "str", arch), ("general.name", "str", "test"),
          (f"{arch}.block_count", "u32", L), (f"{arch}.context_length", "u32", cfg["seq_len"]),
          (f"{arch}.embedding_length", "u32", C), (f"{arch}.feed_forward_length", "u32", F),
          (f"{arch}.attention.head_count", "u32", H)]
    mat = lambda a: dtype  # 2-D tensors in the chosen dtype; 1-D (norms, biases) stay F32 as llama.cpp does
    t = []
    back = {}  # GGUF name -> torch_ref name (and transpose flag) to rebuild the reference weights
    if arch == "gpt2":
        kv += [("gpt2.attention.layer_norm_epsilon", "f32", cfg.get("eps", 1e-5))]
        t += [("token_embd.weight", W["wte.weight"], mat(0)), ("position_embd.weight", W["wpe.weight"], mat(0))]
        for l in range(L):
            p, b = f"h.{l}.", f"blk.{l}."
            t += [(b + "attn_norm.weight", W[p + "ln_1.weight"], "F32"), (b + "attn_norm.bias", W[p + "ln_1.bias"], "F32"),
                  (b + "ffn_norm.weight", W[p + "ln_2.weight"], "F32"), (b + "ffn_norm.bias", W[p + "ln_2.bias"], "F32")]
            qkv_w, qkv_b = W[p + "attn.c_attn.weight"].T, W[p + "attn.c_attn.bias"]  # [3C, C]
            if fused_qkv:
                t += [(b + "attn_qkv.weight", qkv_w, mat(0)), (b + "attn_qkv.bias", qkv_b, "F32")]
            else:
                for i, n in enumerate("qkv"):
                    t += [(b + f"attn_{n}.weight", qkv_w[i * C:(i + 1) * C], mat(0)),
                          (b + f"attn_{n}.bias", qkv_b[i * C:(i + 1) * C], "F32")]
            t += [(b + "attn_output.weight", W[p + "attn.c_proj.weight"].T, mat(0)),
                  (b + "attn_output.bias", W[p + "attn.c_proj.bias"], "F32"),
                  (b + "ffn_up.weight", W[p + "mlp.c_fc.weight"].T, mat(0)), (b + "ffn_up.bias", W[p + "mlp.c_fc.bias"], "F32"),
                  (b + "ffn_down.weight", W[p + "mlp.c_proj.weight"].T, mat(0)),
                  (b + "ffn_down.bias", W[p + "mlp.c_proj.bias"], "F32")]
        t += [("output_norm.weight", W["ln_f.weight"], "F32"), ("output_norm.bias", W["ln_f.bias"], "F32")]
    elif arch == "gptneox":
        Dh = C // H
        kv += [("gptneox.attention.layer_norm_epsilon", "f32", cfg.get("eps", 1e-5)),
               ("gptneox.rope.freq_base", "f32", cfg.get("rope_theta", 10000.0)),
               ("gptneox.rope.dimension_count", "u32", int(Dh * cfg.get("rotary_pct", 1.0))),
               ("gptneox.use_parallel_residual", "bool", bool(cfg.get("parallel", True)))]
        t += [("token_embd.weight", W["embed_in.weight"], mat(0))]
        for l in range(L):
            p, b = f"layers.{l}.", f"blk.{l}."
            # the converter's reorder: Hugging Face's rows (head, q|k|v, Dh) -> [q heads | k heads | v heads]
            qkv = W[p + "attention.query_key_value.weight"].reshape(H, 3, Dh, C)
            qkv_b = W[p + "attention.query_key_value.bias"].reshape(H, 3, Dh)
            t += [(b + "attn_norm.weight", W[p + "input_layernorm.weight"], "F32"),
                  (b + "attn_norm.bias", W[p + "input_layernorm.bias"], "F32"),
                  (b + "attn_qkv.weight", np.concatenate([qkv[:, j].reshape(H * Dh, C) for j in range(3)]), mat(0)),
                  (b + "attn_qkv.bias", np.concatenate([qkv_b[:, j].reshape(H * Dh) for j in range(3)]), "F32"),
                  (b + "attn_output.weight", W[p + "attention.dense.weight"], mat(0)),
                  (b + "attn_output.bias", W[p + "attention.dense.bias"], "F32"),
                  (b + "ffn_norm.weight", W[p + "post_attention_layernorm.weight"], "F32"),
                  (b + "ffn_norm.bias", W[p + "post_attention_layernorm.bias"], "F32"),
                  (b + "ffn_up.weight", W[p + "mlp.dense_h_to_4h.weight"], mat(0)),
                  (b + "ffn_up.bias", W[p + "mlp.dense_h_to_4h.bias"], "F32"),
                  (b + "ffn_down.weight", W[p + "mlp.dense_4h_to_h.weight"], mat(0)),
                  (b + "ffn_down.bias", W[p + "mlp.dense_4h_to_h.bias"], "F32")]
        t += [("output_norm.weight", W["final_layer_norm.weight"], "F32"),
              ("output_norm.bias", W["final_layer_norm.bias"], "F32"), ("output.weight", W["embed_out.weight"], mat(0))]
    else:
        Dh = W["layers.0.self_attn.q_proj.weight"].shape[0] // H
        kv += [(f"{arch}.attention.head_count_kv", "u32", cfg["n_kv_head"]),
               (f"{arch}.attention.layer_norm_rms_epsilon", "f32", cfg.get("eps", 1e-5)),
               (f"{arch}.rope.freq_base", "f32", cfg.get("rope_theta", 10000.0)),
               (f"{arch}.rope.dimension_count", "u32", Dh)]
        if Dh != C // H or arch != "llama":
            kv += [(f"{arch}.attention.key_length", "u32", Dh), (f"{arch}.attention.value_length", "u32", Dh)]
        gemma = arch in ("gemma2", "gemma3")
        if gemma:
            kv += [(f"{arch}.attention.sliding_window", "u32", cfg["sliding_window"])]
            kv += [(f"{arch}.{k}_logit_softcapping", "f32", cfg[f"{k}_softcap"])
                   for k in ("attn", "final") if cfg.get(f"{k}_softcap")]
        if (cfg.get("rope_scaling") or {}).get("rope_type") == "linear":
            kv += [(f"{arch}.rope.scaling.type", "str", "linear"),
                   (f"{arch}.rope.scaling.factor", "f32", cfg["rope_scaling"]["factor"])]
        t += [("token_embd.weight", W["embed_tokens.weight"], mat(0))]
        m = {"input_layernorm.weight": "attn_norm.weight", "self_attn.q_proj.weight": "attn_q.weight",
             "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
             "self_attn.o_proj.weight": "attn_output.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
             "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
             "mlp.down_proj.weight": "ffn_down.weight", "self_attn.q_proj.bias": "attn_q.bias",
             "self_attn.k_proj.bias": "attn_k.bias", "self_attn.v_proj.bias": "attn_v.bias",
             "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight"}
        if gemma:
            m.update({"post_attention_layernorm.weight": "post_attention_norm.weight",
                      "pre_feedforward_layernorm.weight": "ffn_norm.weight",
                      "post_feedforward_layernorm.weight": "post_ffw_norm.weight"})
        m = {hn: gn for hn, gn in m.items() if f"layers.0.{hn}" in W}
        plus = lambda hn, a: a + np.float32(1) if gemma and hn.endswith("norm.weight") else a
        for l in range(L):
            for hn, gn in m.items():
                a = plus(hn, W[f"layers.{l}.{hn}"])
                t.append((f"blk.{l}.{gn}", a, "F32" if a.ndim == 1 else mat(0)))
        t += [("output_norm.weight", plus("norm.weight", W["norm.weight"]), "F32")]
        if rope_freqs is not None:
            t += [("rope_freqs.weight", np.asarray(rope_freqs, np.float32), "F32")]
    if "lm_head.weight" in W and arch != "gptneox":
        t.append(("output.weight", W["lm_head.weight"], mat(0)))
    if tokenizer:
        kv += tokenizer
    if extra_kv:
        kv += extra_kv
    stored = write_gguf(path, kv, t, alignment=alignment)
    # map back to torch_ref naming
    R = {}
    if arch == "gpt2":
        R["wte.weight"], R["wpe.weight"] = stored["token_embd.weight"], stored["position_embd.weight"]
        for l in range(L):
            p, b = f"h.{l}.", f"blk.{l}."
            R[p + "ln_1.weight"], R[p + "ln_1.bias"] = stored[b + "attn_norm.weight"], stored[b + "attn_norm.bias"]
            R[p + "ln_2.weight"], R[p + "ln_2.bias"] = stored[b + "ffn_norm.weight"], stored[b + "ffn_norm.bias"]
            if fused_qkv:
                R[p + "attn.c_attn.weight"], R[p + "attn.c_attn.bias"] = stored[b + "attn_qkv.weight"].T, stored[b + "attn_qkv.bias"]
            else:
                R[p + "attn.c_attn.weight"] = np.concatenate([stored[b + f"attn_{n}.weight"] for n in "qkv"]).T
                R[p + "attn.c_attn.bias"] = np.concatenate([stored[b + f"attn_{n}.bias"] for n in "qkv"])
            R[p + "attn.c_proj.weight"], R[p + "attn.c_proj.bias"] = stored[b + "attn_output.weight"].T, stored[b + "attn_output.bias"]
            R[p + "mlp.c_fc.weight"], R[p + "mlp.c_fc.bias"] = stored[b + "ffn_up.weight"].T, stored[b + "ffn_up.bias"]
            R[p + "mlp.c_proj.weight"], R[p + "mlp.c_proj.bias"] = stored[b + "ffn_down.weight"].T, stored[b + "ffn_down.bias"]
        R["ln_f.weight"], R["ln_f.bias"] = stored["output_norm.weight"], stored["output_norm.bias"]
    elif arch == "gptneox":
        R["embed_in.weight"], R["embed_out.weight"] = stored["token_embd.weight"], stored["output.weight"]
        R["final_layer_norm.weight"], R["final_layer_norm.bias"] = stored["output_norm.weight"], stored["output_norm.bias"]
        for l in range(L):
            p, b = f"layers.{l}.", f"blk.{l}."
            w3 = stored[b + "attn_qkv.weight"].reshape(3, H, Dh, C)  # back to (head, q|k|v, Dh) rows
            b3 = stored[b + "attn_qkv.bias"].reshape(3, H, Dh)
            R[p + "attention.query_key_value.weight"] = w3.transpose(1, 0, 2, 3).reshape(3 * C, C)
            R[p + "attention.query_key_value.bias"] = b3.transpose(1, 0, 2).reshape(3 * C)
            for hn, gn in (("input_layernorm", "attn_norm"), ("post_attention_layernorm", "ffn_norm"),
                           ("attention.dense", "attn_output"), ("mlp.dense_h_to_4h", "ffn_up"),
                           ("mlp.dense_4h_to_h", "ffn_down")):
                R[p + hn + ".weight"], R[p + hn + ".bias"] = stored[b + gn + ".weight"], stored[b + gn + ".bias"]
        return {k: np.ascontiguousarray(v, np.float32) for k, v in R.items()}
    else:
        R["embed_tokens.weight"] = stored["token_embd.weight"]
        minus = lambda hn, a: a - np.float32(1) if gemma and hn.endswith("norm.weight") else a
        for l in range(L):
            for hn, gn in m.items():
                R[f"layers.{l}.{hn}"] = minus(hn, stored[f"blk.{l}.{gn}"])
        R["norm.weight"] = minus("norm.weight", stored["output_norm.weight"])
    if "output.weight" in stored:
        R["lm_head.weight"] = stored["output.weight"]
    return {k: np.ascontiguousarray(v, np.float32) for k, v in R.items()}


def spm_tokenizer_kv(n_extra=0):
    """A tiny SentencePiece-style ("llama") vocabulary: <unk>, <s>, </s>, 256 byte pieces, ▁ and
    a few words, with scores; returns kv entries."""
    toks = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + ["▁", "▁a", "▁the", "he", "▁t"]
    toks += [f"x{i}" for i in range(n_extra)]
    scores = [0.0] * 259 + [-1.0, -2.0, -3.0, -4.0, -5.0] + [-10.0] * n_extra
    types = [2, 3, 3] + [6] * 256 + [1] * (5 + n_extra)
    return [("tokenizer.ggml.model", "str", "llama"), ("tokenizer.ggml.tokens", ("arr", "str"), toks),
            ("tokenizer.ggml.scores", ("arr", "f32"), scores), ("tokenizer.ggml.token_type", ("arr", "i32"), types),
            ("tokenizer.ggml.bos_token_id", "u32", 1), ("tokenizer.ggml.eos_token_id", "u32", 2)], len(toks)
