"""GGUF checkpoints (written here from the GGUF v3 spec) for gpt2 and llama, F32/F16/BF16/Q8_0:
every hook site matches tests/py/torch_ref.py on the weights as stored (Q8_0: dequantized by the
spec's x = d*q in numpy) within |diff| <= 1e-4 * max|ref| + 1e-5 per site. The same weights as HF
safetensors (q/k permuted), GGUF and llama2.c give the same logits (1e-5 relative); so does the
real stories260K checkpoint converted by this test to HF layout and to GGUF."""
import os
import zlib

import numpy as np
import torch

import mstest
from mstest import check, finish, run
import fx_gguf
import fx_hf
import fx_llama2c
import torch_ref

TMP = mstest.TMP
HAVE_CAPTURE = fx_hf.capture_available()
if not HAVE_CAPTURE:
    print("NOTE: `monoscope capture` not available: comparing greedy generations instead of every site")

rng = np.random.default_rng(7)
V, T = 96, 32
SEQS = [list(rng.integers(0, V, 12)), list(rng.integers(0, V, 12))]


def verify(model, W, cfg, tag):
    if HAVE_CAPTURE:
        assert fx_hf.check_all_sites(model, W, cfg, SEQS, tag=tag) > 20
    else:
        want = torch_ref.greedy(W, cfg, SEQS[0], 6)
        got = fx_hf.greedy(model, SEQS[0], 6)
        assert got == want, f"greedy {got} != reference {want}"


def seed(tag):
    return zlib.crc32(tag.encode()) % 1000


def gpt2_case(tag, dtype, tied, fused):
    def t():
        W, cfg = fx_hf.gpt2_weights(64, 2, 4, 128, V, T, tied=tied, seed=seed(tag))
        p = os.path.join(TMP, tag + ".gguf")
        Ws = fx_gguf.from_weights(p, W, cfg, dtype=dtype, fused_qkv=fused)
        info = run("info", p).stdout
        assert "gpt2" in info and dtype in info and "gguf" in info, info
        verify(p, Ws, cfg, tag)
    return t


def llama_case(tag, dtype, tied, KVH, alignment=None, tokenizer=False):
    def t():
        Vt = 272 if tokenizer else V  # the SPM vocabulary has 264 pieces + fillers
        W, cfg = fx_hf.llama_weights(64, 2, 4, KVH, 96, Vt, T, tied=tied, seed=seed(tag))
        p = os.path.join(TMP, tag + ".gguf")
        tok = None
        if tokenizer:
            tok, n = fx_gguf.spm_tokenizer_kv(Vt - 264)
            assert n == Vt
        Ws = fx_gguf.from_weights(p, W, cfg, dtype=dtype, alignment=alignment, tokenizer=tok)
        info = run("info", p).stdout
        assert "llama" in info and dtype in info and "interleaved" in info, info
        if tokenizer:
            assert "sentencepiece" in info, info
        verify(p, Ws, cfg, tag)
    return t


check("gguf gpt2 F32 tied, fused attn_qkv", gpt2_case("gg_f32", "F32", True, True))
check("gguf gpt2 F16 separate output, split q/k/v", gpt2_case("gg_f16", "F16", False, False))
check("gguf gpt2 BF16", gpt2_case("gg_bf16", "BF16", True, True))
check("gguf gpt2 Q8_0", gpt2_case("gg_q8", "Q8_0", False, True))
check("gguf llama F32 GQA tied, alignment 64", llama_case("gl_f32", "F32", True, 2, alignment=64))
check("gguf llama F16 separate output", llama_case("gl_f16", "F16", False, 4))
check("gguf llama BF16 GQA 4:1", llama_case("gl_bf16", "BF16", True, 1))
check("gguf llama Q8_0 GQA, SPM tokenizer metadata", llama_case("gl_q8", "Q8_0", False, 2, tokenizer=True))


def same_logits(models, seqs, tag):
    """Logits of each model on seqs are equal to the first one's (1e-5 relative)."""
    if HAVE_CAPTURE:
        base = fx_hf.logits(models[0], seqs, tag=tag + "0")
        for i, m in enumerate(models[1:]):
            fx_hf.assert_close(f"logits {m} vs {models[0]}", fx_hf.logits(m, seqs, tag=f"{tag}{i + 1}"), base, rtol=1e-5, atol=1e-6)
        return base
    base = fx_hf.greedy(models[0], seqs[0], 12)
    for m in models[1:]:
        assert fx_hf.greedy(m, seqs[0], 12) == base, m
    return None


def cross_llama():
    W, cfg = fx_hf.llama_weights(64, 2, 4, 2, 96, V, T, tied=False, seed=11)
    binp = os.path.join(TMP, "x.bin")
    fx_llama2c.write(binp, W, cfg)
    ggp = os.path.join(TMP, "x.gguf")
    fx_gguf.from_weights(ggp, W, cfg, dtype="F32")
    Whf, cfg_hf = fx_hf.hf_llama(W, cfg)
    hfd = os.path.join(TMP, "x_hf")
    fx_hf.write_hf(hfd, Whf, cfg, dtype="F32")
    lg = same_logits([binp, ggp, hfd], SEQS, "xl")
    if lg is not None:
        ref, _ = torch_ref.forward(W, cfg, np.asarray(SEQS))
        fx_hf.assert_close("llama2c logits vs reference", lg, ref)


def cross_gpt2():
    W, cfg = fx_hf.gpt2_weights(64, 2, 4, 128, V, T, tied=True, seed=12)
    ggp = os.path.join(TMP, "xg.gguf")
    fx_gguf.from_weights(ggp, W, cfg, dtype="F32")
    hfd = os.path.join(TMP, "xg_hf")
    fx_hf.write_hf(hfd, W, cfg, dtype="F32")
    same_logits([hfd, ggp], SEQS, "xg")


# ---- the other architectures llama.cpp writes (its converter's conventions, fx_gguf.from_weights)
LONG = [list(map(int, rng.integers(0, V, 40))), list(map(int, rng.integers(0, V, 40)))]
# original context 16 < 40 positions; wavelengths 2*pi*10000^(i/8) fall in all three llama3 bands
LLAMA3 = {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 0.5, "high_freq_factor": 2.0,
          "original_max_position_embeddings": 16}


def llama3_divisors(Dh, theta, sc):
    """rope_freqs.weight as llama.cpp's converter computes it from rope_scaling (written out here from its
    definition: a divisor per frequency, 1 for short wavelengths, factor for long ones, the smooth blend's
    reciprocal between)."""
    out = []
    for i in range(Dh // 2):
        freq = theta ** (-2.0 * i / Dh)
        wavelen = 2 * np.pi / freq
        lo_w = sc["original_max_position_embeddings"] / sc["low_freq_factor"]
        hi_w = sc["original_max_position_embeddings"] / sc["high_freq_factor"]
        if wavelen < hi_w:
            out.append(1.0)
        elif wavelen > lo_w:
            out.append(sc["factor"])
        else:
            smooth = (sc["original_max_position_embeddings"] / wavelen - sc["low_freq_factor"]) / \
                     (sc["high_freq_factor"] - sc["low_freq_factor"])
            out.append(1.0 / ((1 - smooth) / sc["factor"] + smooth))
    return np.asarray(out, np.float32)


def llama31():
    W, cfg = fx_hf.llama_weights(64, 2, 4, 2, 96, V, 64, tied=False, seed=31)
    p = os.path.join(TMP, "l31.gguf")
    div = llama3_divisors(16, 10000.0, LLAMA3)
    assert div.min() == 1 and div.max() == 4 and ((div > 1) & (div < 4)).any(), "all three bands"
    Ws = fx_gguf.from_weights(p, W, cfg, dtype="BF16", rope_freqs=div)
    assert "rope_scaling: per-frequency factors (rope_freqs) 1 .. 4" in run("info", p).stdout
    # the reference is Hugging Face's llama3 formula on the rope_scaling parameters, not the table
    assert fx_hf.check_all_sites(p, Ws, dict(cfg, rope_scaling=LLAMA3), LONG, tag="l31") > 20
    _, plain = torch_ref.forward(Ws, cfg, np.asarray(LONG))
    got = fx_hf.ours(p, LONG, "blocks.0.attn.hook_rot_q", tag="l31p")["blocks.0.attn.hook_rot_q"]
    assert np.abs(got - plain["blocks.0.attn.hook_rot_q"]).max() > 1e-2, "the scaling changed nothing"


def qwen(arch, dtype, **kw):
    def t():
        W, cfg = fx_hf.llama_family_weights(64, 2, 4, 2, kw.pop("Dh", 16), 96, V, seed=len(arch) + len(dtype), **kw)
        p = os.path.join(TMP, f"{arch}_{dtype}.gguf")
        Ws = fx_gguf.from_weights(p, W, cfg, dtype=dtype, gguf_arch=arch)
        info = run("info", p).stdout
        assert "rope: half" in info and ("qkv_bias: yes" in info) == (arch == "qwen2"), info
        assert ("qk_norm: yes" in info) == (arch == "qwen3"), info
        assert fx_hf.check_all_sites(p, Ws, cfg, LONG, tag=arch + dtype) > 20
    return t


def gemma2():
    W, cfg = fx_hf.gemma2_weights(48, 3, 4, 2, 16, 96, V, seed=5)
    cfg.update(eps=1e-6, query_pre_attn_scalar=16, attn_softcap=3.0, final_softcap=5.0, sliding_window=6,
               layer_types=None, embed_dtype=torch.float32)
    p = os.path.join(TMP, "g2.gguf")
    Ws = fx_gguf.from_weights(p, W, cfg, dtype="BF16", gguf_arch="gemma2")
    info = run("info", p).stdout
    assert "sliding_window: 6 on layers 0 2" in info and "logit_softcap: 5" in info and "geglu" in info, info
    assert fx_hf.check_all_sites(p, Ws, cfg, LONG, tag="g2") > 20


def gemma3():
    L, DH = 7, 16  # layer 5 global, the others sliding (pattern 6)
    W, cfg = fx_hf.gemma2_weights(48, L, 4, 2, DH, 96, V, seed=6)
    r = np.random.default_rng(8)
    for l in range(L):
        for n in ("q_norm", "k_norm"):
            W[f"layers.{l}.self_attn.{n}.weight"] = (0.3 * r.standard_normal(DH)).astype(np.float32)
    types = ["full_attention" if l % 6 == 5 else "sliding_attention" for l in range(L)]
    cfg.update(arch="gemma3", eps=1e-6, query_pre_attn_scalar=DH, attn_softcap=None, final_softcap=None,
               sliding_window=6, layer_types=types, qk_norm=True, rope_theta=1000000.0, rope_local_theta=10000.0,
               rope_scaling={"rope_type": "linear", "factor": 8.0}, embed_dtype=torch.float32)
    p = os.path.join(TMP, "g3.gguf")
    Ws = fx_gguf.from_weights(p, W, cfg, dtype="F16", gguf_arch="gemma3")
    info = run("info", p).stdout
    assert "sliding_window: 6 on layers 0 1 2 3 4 6\n" in info and "rope_local_theta: 10000" in info, info
    assert "rope_scaling: linear factor 8" in info and "qk_norm: yes" in info and "softcap" not in info, info
    assert fx_hf.check_all_sites(p, Ws, cfg, LONG, tag="g3") > 40


def neox(parallel, pct):
    def t():
        W, cfg = fx_hf.neox_weights(64, 2, 4, 128, V, seed=9 + parallel)
        cfg.update(parallel=parallel, rotary_pct=pct)
        p = os.path.join(TMP, f"nx{int(parallel)}.gguf")
        Ws = fx_gguf.from_weights(p, W, cfg, dtype="F32", gguf_arch="gptneox")
        info = run("info", p).stdout
        assert "gpt_neox" in info and (f"rotary_dims: {int(16 * pct)} of d_head 16" in info) == (pct < 1), info
        assert ("parallel_residual: yes" in info) == parallel, info
        assert fx_hf.check_all_sites(p, Ws, cfg, LONG, tag=f"nx{int(parallel)}") > 20
    return t


check("gguf llama 3.1: rope_freqs.weight, positions beyond the original context", llama31)
check("gguf gemma3 F16: q/k norms, pattern 6, local base 10000, linear scaling on global layers", gemma3)
check("gguf gptneox: [q|k|v] fused rows, partial rotary 0.25, parallel residual", neox(True, 0.25))
check("gguf gptneox: sequential residual, full rotary", neox(False, 1.0))
check("gguf qwen2 F16: q/k/v biases, tied, rotate_half", qwen("qwen2", "F16", qkv_bias=True, tied=True))
check("gguf qwen3 BF16: q/k norms, head_dim 24 != 64/4, untied", qwen("qwen3", "BF16", qk_norm=True, Dh=24))
check("gguf gemma2 BF16: 1 + w norms, post-norms, soft-caps, window 6 < 40", gemma2)
check("same llama weights as llama2.c, GGUF and HF (permuted q/k) give the same logits", cross_llama)
check("same gpt2 weights as HF and GGUF give the same logits", cross_gpt2)


def stories():
    src = os.path.join(mstest.SHARED, "models", "stories260K", "stories260K.bin")
    W, cfg = fx_llama2c.read(src)
    ggp = os.path.join(TMP, "stories.gguf")
    fx_gguf.from_weights(ggp, W, cfg, dtype="F32")
    Whf, _ = fx_hf.hf_llama(W, cfg)
    hfd = os.path.join(TMP, "stories_hf")
    fx_hf.write_hf(hfd, Whf, cfg, dtype="F32")
    seqs = [[1] + list(np.random.default_rng(3).integers(3, cfg["vocab"], 31))]
    lg = same_logits([src, hfd, ggp], seqs, "st")
    if lg is not None:  # and all three equal the independent reference on the .bin's weights
        ref, _ = torch_ref.forward(W, cfg, np.asarray(seqs))
        fx_hf.assert_close("stories260K logits vs reference", lg, ref)
    # greedy from BOS agrees too
    g = fx_hf.greedy(src, [1], 16)
    assert fx_hf.greedy(hfd, [1], 16) == g and fx_hf.greedy(ggp, [1], 16) == g


check("stories260K.bin == its HF conversion == its GGUF conversion", stories)


def random_model_gguf():
    for arch, kv in (("gpt2", 4), ("llama", 2)):
        p = os.path.join(TMP, f"rm_{arch}.gguf")
        run("random-model", "--arch", arch, "--format", "gguf", "--out", p, "--layers", 2, "--d-model", 32,
            "--heads", 4, "--kv-heads", kv, "--vocab", 320, "--ctx", 64, "--dtype", "f16")
        info = run("info", p).stdout
        assert arch in info and "F16" in info and "gpt2-bpe" in info, info
        ids = run("tokenize", "--model", p, "--text", "hello the world").stdout.split()
        hd = os.path.join(TMP, f"rm_{arch}_hf")
        run("random-model", "--arch", arch, "--format", "hf", "--out", hd, "--layers", 2, "--d-model", 32,
            "--heads", 4, "--kv-heads", kv, "--vocab", 320, "--ctx", 64)
        assert run("tokenize", "--model", hd, "--text", "hello the world").stdout.split() == ids
        assert run("tokenize", "--model", p, "--decode", "--ids", " ".join(ids)).stdout.rstrip("\n") == "hello the world"
    # one seed is one model in every format (GGUF/llama2.c get q/k in interleaved order)
    seqs = [list(np.random.default_rng(9).integers(0, 320, 16))]
    for arch, fmts in (("llama", ("hf", "gguf", "llama2c")), ("gpt2", ("hf", "gguf"))):
        paths = []
        for f in fmts:
            p = os.path.join(TMP, f"rm_same_{arch}.{f}")
            run("random-model", "--arch", arch, "--format", f, "--out", p, "--layers", 2, "--d-model", 32,
                "--heads", 4, "--kv-heads", 2 if arch == "llama" else 4, "--vocab", 320, "--ctx", 64, "--seed", 5)
            assert f.replace("hf", "format: hf") in run("info", p).stdout
            paths.append(p)
        same_logits(paths, seqs, "rms" + arch)


def gguf_gpt2_tokenizer():
    """The real GPT-2 vocabulary stored in GGUF metadata tokenizes like vocab.json + merges.txt."""
    import json
    import shutil
    tokdir = os.path.join(mstest.SHARED, "tokenizers", "gpt2")
    vocab = json.load(open(os.path.join(tokdir, "vocab.json"), encoding="utf-8"))
    merges = [l.rstrip("\n") for l in open(os.path.join(tokdir, "merges.txt"), encoding="utf-8")
              if l.strip() and not l.startswith("#version")]
    toks = [None] * len(vocab)
    for t, i in vocab.items():
        toks[i] = t
    W, cfg = fx_hf.gpt2_weights(32, 1, 2, 64, len(toks), 16, seed=4)
    p = os.path.join(TMP, "gpt2tok.gguf")
    kv = [("tokenizer.ggml.model", "str", "gpt2"), ("tokenizer.ggml.pre", "str", "gpt-2"),
          ("tokenizer.ggml.tokens", ("arr", "str"), toks), ("tokenizer.ggml.merges", ("arr", "str"), merges),
          ("tokenizer.ggml.bos_token_id", "u32", 50256), ("tokenizer.ggml.eos_token_id", "u32", 50256)]
    fx_gguf.from_weights(p, W, cfg, dtype="F16", tokenizer=kv)
    hd = os.path.join(TMP, "gpt2tok_hf")
    fx_hf.write_hf(hd, W, cfg, dtype="F16")
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(tokdir, f), hd)
    text = "Hello world! It's 2024: naïve café, 東京, emoji 🙂, code: x += 1;\n\n   spaces   end"
    a = run("tokenize", "--model", p, "--text", text).stdout.split()
    b = run("tokenize", "--model", hd, "--text", text).stdout.split()
    assert a == b and len(a) > 10, (a, b)
    assert "gpt2-bpe" in run("info", p).stdout


check("GGUF gpt2 tokenizer metadata == vocab.json + merges.txt", gguf_gpt2_tokenizer)
check("random-model gguf/llama2c: loads, same tokenizer and same model as the HF directory", random_model_gguf)
finish()
