"""fx_llama2c.py: llama2.c checkpoints (legacy version-0 export) for tests, written and read from
the format's definition:
    int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (< 0: separate classifier), seq_len
    float32 token_embedding (V,C), rms_att (L,C), wq (L,C,C), wk (L,KV,C), wv (L,KV,C), wo (L,C,C),
            rms_ffn (L,C), w1 (L,F,C), w2 (L,C,F), w3 (L,F,C), rms_final (C),
            freq_cis_real (seq_len, Dh/2), freq_cis_imag (seq_len, Dh/2), [wcls (V,C)]

    random_weights(dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len, shared=True, seed=0)
        -> (weights, cfg) in torch_ref's HF-Llama naming (q/k rows in llama2.c's interleaved order,
           so cfg["rope_style"] = "interleaved")
    write(path, weights, cfg)      writes a llama2.c checkpoint
    read(path) -> (weights, cfg)   parses one (torch_ref naming)
    write_tokenizer(path, pieces, scores=None)   llama2.c tokenizer.bin: int32 max_token_length,
                                   then per token float32 score, int32 length, bytes
"""
import struct

import numpy as np

ORDER = ["rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2", "w3"]
HF = {"rms_att": "input_layernorm.weight", "wq": "self_attn.q_proj.weight", "wk": "self_attn.k_proj.weight",
      "wv": "self_attn.v_proj.weight", "wo": "self_attn.o_proj.weight", "rms_ffn": "post_attention_layernorm.weight",
      "w1": "mlp.gate_proj.weight", "w2": "mlp.down_proj.weight", "w3": "mlp.up_proj.weight"}


def random_weights(dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len, shared=True, seed=0):
    rng = np.random.default_rng(seed)
    dh = dim // n_heads
    kv = n_kv_heads * dh
    f = lambda *s, scale=1.0: (rng.standard_normal(s) * scale).astype(np.float32)
    W = {"embed_tokens.weight": f(vocab, dim), "norm.weight": (1 + 0.1 * rng.standard_normal(dim)).astype(np.float32)}
    for L in range(n_layers):
        p = f"layers.{L}."
        W[p + HF["rms_att"]] = (1 + 0.1 * rng.standard_normal(dim)).astype(np.float32)
        W[p + HF["rms_ffn"]] = (1 + 0.1 * rng.standard_normal(dim)).astype(np.float32)
        W[p + HF["wq"]] = f(dim, dim, scale=dim ** -0.5)
        W[p + HF["wk"]] = f(kv, dim, scale=dim ** -0.5)
        W[p + HF["wv"]] = f(kv, dim, scale=dim ** -0.5)
        W[p + HF["wo"]] = f(dim, dim, scale=dim ** -0.5)
        W[p + HF["w1"]] = f(hidden, dim, scale=dim ** -0.5)
        W[p + HF["w3"]] = f(hidden, dim, scale=dim ** -0.5)
        W[p + HF["w2"]] = f(dim, hidden, scale=hidden ** -0.5)
    if not shared:
        W["lm_head.weight"] = f(vocab, dim, scale=0.5)
    cfg = dict(arch="llama", n_head=n_heads, n_kv_head=n_kv_heads, eps=1e-5, rope_theta=10000.0,
               rope_style="interleaved", dim=dim, hidden=hidden, n_layers=n_layers, vocab=vocab, seq_len=seq_len)
    return W, cfg


def write(path, W, cfg):
    C, F, L, H, KVH, V, S = (cfg[k] for k in ("dim", "hidden", "n_layers", "n_head", "n_kv_head", "vocab", "seq_len"))
    shared = "lm_head.weight" not in W
    dh = C // H
    with open(path, "wb") as fh:
        fh.write(struct.pack("<7i", C, F, L, H, KVH, V if shared else -V, S))
        fh.write(np.ascontiguousarray(W["embed_tokens.weight"], np.float32).tobytes())
        for name in ORDER:
            for l in range(L):
                fh.write(np.ascontiguousarray(W[f"layers.{l}.{HF[name]}"], np.float32).tobytes())
        fh.write(np.ascontiguousarray(W["norm.weight"], np.float32).tobytes())
        freqs = 1.0 / (10000.0 ** (np.arange(0, dh, 2)[: dh // 2] / dh))
        ang = np.outer(np.arange(S), freqs)
        fh.write(np.cos(ang).astype(np.float32).tobytes())
        fh.write(np.sin(ang).astype(np.float32).tobytes())
        if not shared:
            fh.write(np.ascontiguousarray(W["lm_head.weight"], np.float32).tobytes())


def read(path):
    raw = open(path, "rb").read()
    C, F, L, H, KVH, Vs, S = struct.unpack("<7i", raw[:28])
    V = abs(Vs)
    dh = C // H
    kv = KVH * dh
    data = np.frombuffer(raw, dtype="<f4", offset=28)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        a = data[pos:pos + n].reshape(shape).copy()
        pos += n
        return a

    W = {"embed_tokens.weight": take(V, C)}
    shapes = {"rms_att": (C,), "wq": (C, C), "wk": (kv, C), "wv": (kv, C), "wo": (C, C), "rms_ffn": (C,),
              "w1": (F, C), "w2": (C, F), "w3": (F, C)}
    for name in ORDER:
        for l in range(L):
            W[f"layers.{l}.{HF[name]}"] = take(*shapes[name])
    W["norm.weight"] = take(C)
    take(S, dh // 2)
    take(S, dh // 2)
    if Vs < 0:
        W["lm_head.weight"] = take(V, C)
    assert pos == data.size, f"{path}: {data.size - pos} trailing floats"
    cfg = dict(arch="llama", n_head=H, n_kv_head=KVH, eps=1e-5, rope_theta=10000.0, rope_style="interleaved",
               dim=C, hidden=F, n_layers=L, vocab=V, seq_len=S)
    return W, cfg


def write_tokenizer(path, pieces, scores=None):
    enc = [p.encode("utf-8") if isinstance(p, str) else p for p in pieces]
    scores = scores if scores is not None else [-float(i) for i in range(len(enc))]
    with open(path, "wb") as fh:
        fh.write(struct.pack("<i", max(len(b) for b in enc)))
        for b, sc in zip(enc, scores):
            fh.write(struct.pack("<fi", sc, len(b)))
            fh.write(b)


def capture_fixture(d, ids_seed, fixed_len=None, n_seq=600, weights_seed=5, shared=False):
    """The capture tests' workload: a random 3-layer model (dim 64, hidden 128, 4 heads, 2 kv heads,
    vocab 96, seq_len 64) at d/m.bin and n_seq rows of random ids at d/ids.txt, each of fixed_len ids
    or of a random length in 1..64. Returns (W, cfg, model path, ids path)."""
    import os
    W, cfg = random_weights(64, 128, 3, 4, 2, 96, 64, shared=shared, seed=weights_seed)
    model, ids = os.path.join(d, "m.bin"), os.path.join(d, "ids.txt")
    write(model, W, cfg)
    rng = np.random.default_rng(ids_seed)
    with open(ids, "w") as f:
        for _ in range(n_seq):
            n = fixed_len if fixed_len else int(rng.integers(1, 65))
            f.write(" ".join(map(str, rng.integers(0, 96, n))) + "\n")
    return W, cfg, model, ids
