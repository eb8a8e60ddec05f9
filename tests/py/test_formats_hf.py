"""Hugging Face checkpoints (config.json + safetensors written here from the spec): every hook site
and the logits of monoscope match tests/py/torch_ref.py (float64 PyTorch on the stored weights) within
|diff| <= 1e-4 * max|ref| + 1e-5 per site, for gpt2 and llama; tied and separate unembedding;
F32/F16/BF16; with and without the transformer./model. prefix; single file and sharded index; GQA.
HF llama q/k are written permuted as convert_llama_weights_to_hf.py does, and the result must equal
the interleaved-RoPE reference on the unpermuted weights (rotate_half path == interleaved path)."""
import os
import zlib

import numpy as np

import mstest
from mstest import check, finish, run
import fx_hf
import torch_ref

TMP = mstest.TMP
HAVE_CAPTURE = fx_hf.capture_available()
if not HAVE_CAPTURE:
    print("NOTE: `monoscope capture` not available: comparing greedy generations instead of every site")

rng = np.random.default_rng(5)
V, T = 96, 32
SEQS = [list(rng.integers(0, V, 12)), list(rng.integers(0, V, 12))]


def verify(model, W, cfg, tag):
    if HAVE_CAPTURE:
        n = fx_hf.check_all_sites(model, W, cfg, SEQS, tag=tag)
        assert n > 20
    else:
        want = torch_ref.greedy(W, cfg, SEQS[0], 6)
        got = fx_hf.greedy(model, SEQS[0], 6)
        assert got == want, f"greedy {got} != reference {want}"


def gpt2_case(tag, dtype, tied, prefix, shards):
    def t():
        W, cfg = fx_hf.gpt2_weights(64, 2, 4, 128, V, T, tied=tied, seed=zlib.crc32(tag.encode()) % 1000)
        d = os.path.join(TMP, tag)
        Ws = fx_hf.write_hf(d, W, cfg, dtype=dtype, prefix=prefix, shards=shards)
        info = run("info", d).stdout
        assert "gpt2" in info and dtype in info, info
        verify(d, Ws, cfg, tag)
    return t


def llama_case(tag, dtype, tied, prefix, shards, H=4, KVH=2, head_dim_key=False):
    def t():
        W, cfg = fx_hf.llama_weights(64, 2, H, KVH, 96, V, T, tied=tied, seed=zlib.crc32(tag.encode()) % 1000)
        Whf, cfg_hf = fx_hf.hf_llama(W, cfg)
        d = os.path.join(TMP, tag)
        extra = {"head_dim": 64 // H} if head_dim_key else None
        Ws = fx_hf.write_hf(d, Whf, cfg, dtype=dtype, prefix=prefix, shards=shards, config_extra=extra)
        info = run("info", d).stdout
        assert "llama" in info and dtype in info, info
        verify(d, Ws, cfg_hf, tag)
        # the same stored weights, un-permuted, through interleaved RoPE: identical model
        Wi = dict(Ws)
        for k in Ws:
            if k.endswith("q_proj.weight") or k.endswith("k_proj.weight"):
                Wi[k] = fx_hf.rounded(W[k], dtype)
        li, _ = torch_ref.forward(Wi, cfg, SEQS[0])
        lh, _ = torch_ref.forward(Ws, cfg_hf, SEQS[0])
        fx_hf.assert_close("reference half vs interleaved", lh, li, rtol=1e-9, atol=1e-9)
        if HAVE_CAPTURE:
            fx_hf.assert_close("logits vs interleaved reference", fx_hf.logits(d, SEQS[:1], tag=tag)[0], li)
    return t


check("gpt2 F32 tied, transformer. prefix", gpt2_case("g_f32", "F32", True, True, 1))
check("gpt2 F16 separate lm_head, no prefix, 2 shards", gpt2_case("g_f16", "F16", False, False, 2))
check("gpt2 BF16 tied, no prefix", gpt2_case("g_bf16", "BF16", True, False, 1))
check("llama F32 GQA tied, model. prefix", llama_case("l_f32", "F32", True, True, 1))
check("llama BF16 no GQA separate lm_head, no prefix, 3 shards", llama_case("l_bf16", "BF16", False, False, 3, KVH=4))
check("llama F16 GQA 4:1, head_dim in config", llama_case("l_f16", "F16", True, True, 1, KVH=1, head_dim_key=True))


def random_model():
    for arch in ("gpt2", "llama"):
        d = os.path.join(TMP, f"rm_{arch}")
        run("random-model", "--arch", arch, "--out", d, "--layers", 2, "--d-model", 32, "--heads", 4,
            "--kv-heads", 2 if arch == "llama" else 4, "--vocab", 300, "--ctx", 64, "--dtype", "bf16", "--seed", 3)
        for f in ("config.json", "model.safetensors", "vocab.json", "merges.txt"):
            assert os.path.exists(os.path.join(d, f)), f
        st = fx_hf.read_safetensors(os.path.join(d, "model.safetensors"))
        info = run("info", d).stdout
        assert arch in info and "BF16" in info, info
        ids = run("tokenize", "--model", d, "--text", "hello the world").stdout.split()
        assert ids and all(0 <= int(i) < 300 for i in ids), ids
        # the weights are what the file says: the reference on them generates the same ids
        W = {k.split(".", 1)[1] if k.startswith(("transformer.", "model.")) else k: v for k, v in st.items()}
        cfg = dict(arch=arch, n_head=4, n_kv_head=2 if arch == "llama" else 4, eps=1e-5, rope_theta=10000.0,
                   rope_style="half")
        prompt = [int(i) for i in ids]
        assert fx_hf.greedy(d, prompt, 4) == torch_ref.greedy(W, cfg, prompt, 4)
        # same seed -> identical bytes; different seed -> different weights
        d2 = os.path.join(TMP, f"rm_{arch}_2")
        run("random-model", "--arch", arch, "--out", d2, "--layers", 2, "--d-model", 32, "--heads", 4,
            "--kv-heads", 2 if arch == "llama" else 4, "--vocab", 300, "--ctx", 64, "--dtype", "bf16", "--seed", 3)
        assert open(os.path.join(d, "model.safetensors"), "rb").read() == open(os.path.join(d2, "model.safetensors"), "rb").read()
    w = next(v for k, v in st.items() if k.endswith("q_proj.weight"))
    assert 0.015 < float(np.std(w)) < 0.025, np.std(w)


check("random-model hf: loads, tokenizes, matches the reference, deterministic", random_model)
finish()
