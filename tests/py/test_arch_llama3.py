"""Llama-family variants in Hugging Face layout (issue 14 item 1): Llama 3.1/3.2 rope_scaling
"llama3" at positions beyond the original context, Mistral (sliding_window < T, explicit head_dim
!= d_model/n_head), Qwen2 (q/k/v biases), Qwen3 (per-head q/k RMSNorm before RoPE, explicit
head_dim). Random weights written with the real tensor names and config keys, F32 and BF16. Every
hook site and the logits of monoscope match tests/py/torch_ref.py (float64, written from the HF
modeling semantics) within |diff| <= 1e-4 * max|ref| + 1e-5; the worst relative error is printed.
Then capture -> sae train -> sae eval runs on each, `hooks` lists the q/k-norm sites, and unknown
rope types / model types / Qwen sliding windows are refused with a message."""
import os

import numpy as np

import mstest
from mstest import check, finish, run
import fx_hf

TMP = mstest.TMP
V, T = 96, 48
rng = np.random.default_rng(14)
SEQS = [list(map(int, rng.integers(0, V, T))), list(map(int, rng.integers(0, V, T)))]
# original context 16 < T = 48; wavelengths 2*pi*10000^(i/8) fall in all three llama3 bands
# (kept < 16/2 = 8 <= blended <= 16/0.5 = 32 < divided by factor)
LLAMA3 = {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 0.5, "high_freq_factor": 2.0,
          "original_max_position_embeddings": 16}
WORST = {}


def write(tag, model_type, dtype, extra, C=64, H=4, KVH=2, Dh=16, qkv_bias=False, qk_norm=False, tied=False, ref_cfg=None):
    W, cfg = fx_hf.llama_family_weights(C, 2, H, KVH, Dh, 96, V, qkv_bias=qkv_bias, qk_norm=qk_norm, tied=tied,
                                        seed=len(tag) * 7 + len(dtype))
    d = os.path.join(TMP, tag)
    conf = {"model_type": model_type, "architectures": ["X"], "head_dim": Dh}
    conf.update(extra)
    Ws = fx_hf.write_hf(d, W, cfg, dtype=dtype, config_extra=conf)
    cfg.update(ref_cfg or {})
    return d, Ws, cfg


def compare(tag, d, Ws, cfg):
    errs = fx_hf.site_errors(d, Ws, cfg, SEQS, tag)
    assert len(errs) > 20, len(errs)
    worst = max(errs, key=errs.get)
    WORST[tag] = errs[worst]
    print(f"  {tag}: {len(errs)} sites, worst relative error {errs[worst]:.2e} at {worst}")
    return errs


def smoke(tag, d):
    fx_hf.sae_smoke(tag, d, V, T)


def llama3(dtype):
    def t():
        tag = "llama3_" + dtype
        d, Ws, cfg = write(tag, "llama", dtype, {"rope_scaling": LLAMA3, "rope_theta": 10000.0},
                           ref_cfg={"rope_scaling": LLAMA3})
        info = run("info", d).stdout
        assert dtype in info and "rope_scaling: llama3 factor 4 low_freq_factor 0.5" in info, info
        compare(tag, d, Ws, cfg)
        # the scaling matters at these positions: plain RoPE differs from the captured rot_q
        import torch_ref
        _, plain = torch_ref.forward(Ws, dict(cfg, rope_scaling=None), np.asarray(SEQS))
        got = fx_hf.ours(d, SEQS, "blocks.0.attn.hook_rot_q", tag=tag + "_p")["blocks.0.attn.hook_rot_q"]
        assert np.abs(got - plain["blocks.0.attn.hook_rot_q"]).max() > 1e-2
        smoke(tag, d)
    return t


def mistral():
    tag = "mistral_BF16"
    # head_dim 24 != 64 / 4; window 5 < T
    d, Ws, cfg = write(tag, "mistral", "BF16", {"sliding_window": 5}, Dh=24, ref_cfg={"sliding_window": 5})
    info = run("info", d).stdout
    assert "sliding_window: 5 on layers 0 1" in info and "d_head: 24" in info, info
    errs = compare(tag, d, Ws, cfg)
    pat = fx_hf.ours(d, SEQS, "blocks.1.attn.hook_pattern", tag=tag + "_p")["blocks.1.attn.hook_pattern"]
    assert np.all(pat[:, :, 10, :6] == 0) and np.all(pat[:, :, 10, 6:11] > 0), "window of 5 keys"
    assert errs
    smoke(tag, d)


def qwen2(dtype):
    def t():
        tag = "qwen2_" + dtype
        d, Ws, cfg = write(tag, "qwen2", dtype, {"use_sliding_window": False, "sliding_window": 4096},
                           qkv_bias=True, tied=True)
        assert "qkv_bias: yes" in run("info", d).stdout
        compare(tag, d, Ws, cfg)
        smoke(tag, d)
    return t


def qwen3():
    tag = "qwen3_BF16"
    d, Ws, cfg = write(tag, "qwen3", "BF16", {"attention_bias": False, "use_sliding_window": False}, Dh=24,
                       qk_norm=True)
    errs = compare(tag, d, Ws, cfg)
    assert "qk_norm: yes" in run("info", d).stdout
    assert "blocks.1.attn.hook_q_normed" in errs and "blocks.0.attn.hook_k_normed" in errs
    listing = run("hooks", "--model", d).stdout
    assert "blocks.0.attn.hook_q_normed" in listing and "blocks.0.attn.hook_k_normed" in listing, listing
    assert "hook_q_normed" not in run("hooks", "--model", os.path.join(TMP, "qwen2_F32")).stdout
    smoke(tag, d)


def refusals():
    cases = [("r_yarn", "llama", {"rope_scaling": {"rope_type": "yarn", "factor": 4.0,
                                                   "original_max_position_embeddings": 16}}, "yarn"),
             ("r_phi", "phi3", {}, "phi3"),
             ("r_qsw", "qwen2", {"use_sliding_window": True, "sliding_window": 8}, "use_sliding_window")]
    for tag, mt, extra, word in cases:
        d, _, _ = write(tag, mt, "F32", extra)
        r = run("info", d, ok=False)
        assert r.returncode != 0 and word in r.stderr, r.stderr


check("llama 3.1 rope_scaling llama3 F32, T beyond the original context", llama3("F32"))
check("llama 3.1 rope_scaling llama3 BF16", llama3("BF16"))
check("mistral BF16: sliding window 5 < T, head_dim 24 != d_model/n_head", mistral)
check("qwen2 F32: q/k/v biases, tied", qwen2("F32"))
check("qwen2 BF16", qwen2("BF16"))
check("qwen3 BF16: q/k RMSNorm per head, head_dim 24, hooks listed", qwen3)
check("unknown rope type, model type, Qwen sliding window: refused with a message", refusals)
if WORST:
    print(f"worst relative error over all sites and architectures: {max(WORST.values()):.2e}")
finish()
