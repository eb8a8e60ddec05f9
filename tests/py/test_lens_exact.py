"""Issue 14 item 2: the full logit lens (ms_resid_logits, src/model/site_resid.c) reads a residual row
exactly as the forward pass reads the last layer's output: final norm (Gemma's (1+w) RMSNorm, Llama's
RMSNorm), unembedding, final logit soft-cap (Gemma 2). lens(blocks.{L-1}.hook_resid_post) of the float64
torch reference (tests/py/torch_ref.py) must equal that reference's logits within 1e-4 * max|logits|,
for Gemma 2 (soft-capped), Gemma 3 and Llama. Called through libmonoscope.so (the Release build beside
MONOSCOPE_FAST_BIN) with ctypes."""
import ctypes
import os

import numpy as np
import torch

import mstest
from mstest import check, finish
import fx_hf
import torch_ref

TMP = mstest.TMP
V, T = 96, 24
rng = np.random.default_rng(21)
SEQS = np.array([list(map(int, rng.integers(0, V, T))) for _ in range(2)])
LIB_PATH = os.path.join(os.path.dirname(os.environ["MONOSCOPE_FAST_BIN"]), "libmonoscope.so")
# a sanitized library cannot be loaded into an uninstrumented python (its runtime must come first):
# scripts/test.sh points MONOSCOPE_FAST_BIN at the Release build, whose library it builds too
if not os.path.exists(LIB_PATH) or b"__asan_init" in open(LIB_PATH, "rb").read():
    print(f"SKIP: no uninstrumented libmonoscope.so beside MONOSCOPE_FAST_BIN ({LIB_PATH})")
    raise SystemExit(0)
LIB = ctypes.CDLL(LIB_PATH)
LIB.ms_model_load.restype = ctypes.c_void_p
LIB.ms_model_load.argtypes = [ctypes.c_char_p]
LIB.ms_model_free.argtypes = [ctypes.c_void_p]
LIB.ms_resid_logits.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
F32P = lambda a: a.ctypes.data_as(ctypes.c_void_p)


def lens_matches(d, Ws, cfg, n_layer):
    logits, hooks = torch_ref.forward(Ws, cfg, SEQS)
    x = np.ascontiguousarray(hooks[f"blocks.{n_layer - 1}.hook_resid_post"].reshape(-1, hooks["blocks.0.hook_resid_post"].shape[-1]), np.float32)
    m = LIB.ms_model_load(d.encode())
    assert m, d
    out = np.zeros((x.shape[0], V), np.float32)
    try:
        assert LIB.ms_resid_logits(m, F32P(x), x.shape[0], F32P(out)) == 0
    finally:
        LIB.ms_model_free(m)
    ref = logits.reshape(-1, V)
    err = float(np.abs(out - ref).max() / np.abs(ref).max())
    print(f"  {os.path.basename(d)}: lens(last resid_post) vs logits, relative error {err:.2e}")
    assert err <= 1e-4, err


def gemma(tag, gemma3):
    W, cfg = fx_hf.gemma2_weights(48, 3, 4, 2, 16, 96, V, seed=5)
    conf = {"model_type": "gemma3_text" if gemma3 else "gemma2", "head_dim": 16, "query_pre_attn_scalar": 24,
            "attn_logit_softcapping": None if gemma3 else 3.0, "final_logit_softcapping": None if gemma3 else 5.0,
            "sliding_window": 6, "hidden_activation": "gelu_pytorch_tanh", "rms_norm_eps": 1e-6, "tie_word_embeddings": True}
    cfg.update(eps=1e-6, query_pre_attn_scalar=24, attn_softcap=None if gemma3 else 3.0,
               final_softcap=None if gemma3 else 5.0, sliding_window=6, embed_dtype=torch.float32)
    if gemma3:
        for l in range(3):
            for n in ("q_norm", "k_norm"):
                W[f"layers.{l}.self_attn.{n}.weight"] = (0.3 * rng.standard_normal(16)).astype(np.float32)
        conf.update(sliding_window_pattern=2, rope_theta=1000000.0, rope_local_base_freq=10000.0)
        cfg.update(arch="gemma3", qk_norm=True, rope_theta=1000000.0, rope_local_theta=10000.0,
                   layer_types=["sliding_attention", "full_attention", "sliding_attention"])
    d = os.path.join(TMP, tag)
    Ws = fx_hf.write_hf(d, W, cfg, config_extra=conf)
    lens_matches(d, Ws, cfg, 3)


def llama():
    W, cfg = fx_hf.llama_family_weights(64, 2, 4, 2, 16, 96, V, seed=3)
    d = os.path.join(TMP, "llama")
    Ws = fx_hf.write_hf(d, W, cfg, config_extra={"model_type": "llama", "head_dim": 16})
    lens_matches(d, Ws, cfg, 2)


check("gemma2: final (1+w) RMSNorm, unembed, final soft-cap", lambda: gemma("gemma2", False))
check("gemma3: final (1+w) RMSNorm, unembed, no soft-cap", lambda: gemma("gemma3", True))
check("llama: final RMSNorm, untied unembed", llama)
finish()
