"""Bad checkpoints: truncated/corrupt safetensors and GGUF, bad config.json, unknown model_type,
architecture or dtype, shape mismatches, missing tensors or shards, bad random-model options.
Each must give exactly one error line naming the offending file, a non-zero exit and no crash
(the test build runs under ASan/UBSan)."""
import json
import os
import shutil
import struct

import numpy as np

import mstest
from mstest import check, finish, run
import fx_gguf
import fx_hf
import fx_llama2c

TMP = mstest.TMP


def fails(path, *needles, cmd="info"):
    # `info --check` reads every tensor as capture does (plain `info` reads only the headers)
    p = run(*([cmd, "--check"] if cmd == "info" else [cmd]), path, ok=False)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one error line, got: {p.stderr!r}"
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"
    return lines[0]


def good_gpt2(name, **kw):
    W, cfg = fx_hf.gpt2_weights(32, 1, 2, 64, 64, 16, seed=1)
    d = os.path.join(TMP, name)
    shutil.rmtree(d, ignore_errors=True)
    fx_hf.write_hf(d, W, cfg, **kw)
    return d, W, cfg


def good_llama(name, **kw):
    W, cfg = fx_hf.llama_weights(32, 1, 2, 1, 64, 64, 16, seed=2)
    d = os.path.join(TMP, name)
    shutil.rmtree(d, ignore_errors=True)
    Whf, _ = fx_hf.hf_llama(W, cfg)
    fx_hf.write_hf(d, Whf, cfg, **kw)
    return d, W, cfg


def edit_config(d, **changes):
    p = os.path.join(d, "config.json")
    c = json.load(open(p))
    for k, v in changes.items():
        if v is ...:
            c.pop(k, None)
        else:
            c[k] = v
    json.dump(c, open(p, "w"))


def hf_config_errors():
    d, _, _ = good_gpt2("bad_cfg")
    run("info", d)  # the unmodified fixture loads
    os.remove(os.path.join(d, "config.json"))
    fails(d, "config.json")
    open(os.path.join(d, "config.json"), "w").write('{"model_type": "gpt2", "n_embd": 32,')
    fails(d, "config.json", "JSON")
    open(os.path.join(d, "config.json"), "w").write('[]')
    fails(d, "config.json")
    d, _, _ = good_gpt2("bad_cfg")
    edit_config(d, model_type="bert")
    fails(d, "config.json", "bert")
    d, _, _ = good_gpt2("bad_cfg")
    edit_config(d, model_type=...)
    fails(d, "config.json", "model_type")
    d, _, _ = good_gpt2("bad_cfg")
    edit_config(d, activation_function="relu")
    fails(d, "config.json", "relu")
    d, _, _ = good_gpt2("bad_cfg")
    edit_config(d, n_head="four")
    fails(d, "config.json", "n_head")
    d, _, _ = good_gpt2("bad_cfg")
    edit_config(d, n_layer=...)
    fails(d, "config.json", "n_layer")
    d, _, _ = good_llama("bad_cfg_l")
    edit_config(d, rope_scaling={"rope_type": "llama3", "factor": 8.0})
    fails(d, "config.json", "rope_scaling")
    d, _, _ = good_llama("bad_cfg_l")
    edit_config(d, num_key_value_heads=3)  # 2 heads not a multiple of 3
    fails(d, "bad_cfg_l")


def hf_tensor_errors():
    d, W, cfg = good_gpt2("bad_t")
    edit_config(d, n_embd=16, n_head=2)  # tensors say 32
    fails(d, "model.safetensors", "shape")
    edit_config(d, n_embd=48, n_head=2)  # more weights than the file holds: refused before allocating
    fails(d, "config.json", "parameters")
    d, W, cfg = good_llama("bad_t2")
    edit_config(d, intermediate_size=48)  # tensors say 64
    fails(d, "model.safetensors", "mlp")
    edit_config(d, intermediate_size=10 ** 9)
    fails(d, "config.json", "parameters")
    # missing tensor
    d, W, cfg = good_gpt2("bad_t3")
    W2 = {k: v for k, v in W.items() if k != "h.0.mlp.c_fc.bias"}
    fx_hf.write_hf(d, W2, cfg)
    fails(d, "h.0.mlp.c_fc.bias")
    # integer dtype for a weight
    W3 = dict(W)
    W3["ln_f.bias"] = np.zeros(32, np.int32)
    fx_hf.write_hf(d, W3, cfg)
    fails(d, "ln_f.bias", "I32")
    # no weights file at all
    os.remove(os.path.join(d, "model.safetensors"))
    fails(d, "model.safetensors")


def safetensors_corrupt():
    d, W, cfg = good_gpt2("bad_st")
    p = os.path.join(d, "model.safetensors")
    raw = open(p, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    for cut in (0, 5, 8 + n // 2, 8 + n + 10, len(raw) - 1):  # header, JSON, data
        open(p, "wb").write(raw[:cut])
        fails(d, "model.safetensors")
    open(p, "wb").write(b"\xff" * 64)
    fails(d, "model.safetensors")
    hdr = json.loads(raw[8:8 + n])
    for change, needle in ((lambda h: h["transformer.wte.weight"].update(dtype="F8_E4M3"), "F8_E4M3"),
                           (lambda h: h["transformer.wte.weight"].update(shape=[64, 33]), "bytes"),
                           (lambda h: h["transformer.wte.weight"].update(data_offsets=[0, 10 ** 9]), "truncated")):
        h = json.loads(raw[8:8 + n])
        change(h)
        hb = json.dumps(h).encode()
        hb += b" " * (-len(hb) % 8)
        open(p, "wb").write(struct.pack("<Q", len(hb)) + hb + raw[8 + n:])
        fails(d, "model.safetensors", needle)
    assert hdr  # the original header parsed


def shards():
    d, W, cfg = good_gpt2("bad_sh", shards=2)
    run("info", d)
    os.remove(os.path.join(d, "model-00002-of-00002.safetensors"))
    fails(d, "model-00002-of-00002.safetensors")
    open(os.path.join(d, "model.safetensors.index.json"), "w").write("{")
    fails(d, "model.safetensors.index.json")
    json.dump({"weight_map": {"x": "../../etc/passwd"}}, open(os.path.join(d, "model.safetensors.index.json"), "w"))
    fails(d, "model.safetensors.index.json")


def gguf_llama(name, **kw):
    W, cfg = fx_hf.llama_weights(32, 1, 2, 1, 64, 64, 16, seed=3)
    p = os.path.join(TMP, name)
    fx_gguf.from_weights(p, W, cfg, **kw)
    return p, W, cfg


def gguf_corrupt():
    p, W, cfg = gguf_llama("bad.gguf")
    run("info", p)
    raw = open(p, "rb").read()
    for cut in (6, 20, 60, 300, len(raw) // 2, len(raw) - 3):
        open(p, "wb").write(raw[:cut])
        fails(p, "bad.gguf")
    open(p, "wb").write(raw[:4] + struct.pack("<I", 7) + raw[8:])
    fails(p, "bad.gguf", "version")
    open(p, "wb").write(raw[:8] + struct.pack("<Q", 1 << 62) + raw[16:])
    fails(p, "bad.gguf")


def gguf_semantic():
    p, W, cfg = gguf_llama("bad2.gguf", extra_kv=None)
    # unknown architecture: rewrite with another general.architecture value
    def with_arch(arch):
        raw = open(p, "rb").read()
        old = fx_gguf._str("general.architecture") + struct.pack("<I", 8) + fx_gguf._str("llama")
        new = fx_gguf._str("general.architecture") + struct.pack("<I", 8) + fx_gguf._str(arch)
        assert old in raw
        return raw.replace(old, new, 1)
    q = os.path.join(TMP, "bad3.gguf")
    open(q, "wb").write(with_arch("mamba"))  # same length: offsets unchanged
    fails(q, "bad3.gguf", "mamba")
    # metadata contradicting the tensors
    p2, _, _ = gguf_llama("bad4.gguf", extra_kv=None)
    raw = open(p2, "rb").read()
    key = fx_gguf._str("llama.feed_forward_length") + struct.pack("<II", 4, 64)
    assert key in raw
    open(p2, "wb").write(raw.replace(key, fx_gguf._str("llama.feed_forward_length") + struct.pack("<II", 4, 32), 1))
    fails(p2, "bad4.gguf", "ffn")
    open(p2, "wb").write(raw.replace(key, fx_gguf._str("llama.feed_forward_length") + struct.pack("<II", 4, 2 ** 31 - 1), 1))
    fails(p2, "bad4.gguf", "parameters")
    # a missing tensor (renamed, same length) and an unsupported tensor type
    p2, _, _ = gguf_llama("bad4.gguf")
    raw = open(p2, "rb").read()
    old = fx_gguf._str("blk.0.ffn_up.weight")
    assert old in raw
    open(p2, "wb").write(raw.replace(old, fx_gguf._str("blk.0.ffn_uq.weight"), 1))
    fails(p2, "bad4.gguf", "blk.0.ffn_up.weight")
    # Q4_0 (type 2) token embedding: patch the type field of its tensor info
    info = fx_gguf._str("token_embd.weight") + struct.pack("<IQQ", 2, 32, 64) + struct.pack("<I", 0)
    i = raw.index(info) + len(info) - 4
    open(p2, "wb").write(raw[:i] + struct.pack("<I", 2) + raw[i + 4:])
    fails(p2, "bad4.gguf", "Q4_0")
    kv = [("llama.block_count", "u32", 1), ("llama.embedding_length", "u32", 32)]
    fx_gguf.write_gguf(p2, kv, [("token_embd.weight", W["embed_tokens.weight"], "F32")])
    fails(p2, "bad4.gguf", "general.architecture")
    p3, _, _ = gguf_llama("bad5.gguf", extra_kv=[("llama.rope.scaling.type", "str", "yarn")])
    fails(p3, "bad5.gguf", "RoPE scaling type \"yarn\" is not supported")
    p3, _, _ = gguf_llama("bad5.gguf", extra_kv=[("llama.rope.scaling.type", "str", "linear")])
    fails(p3, "bad5.gguf", "rope.scaling.type linear needs llama.rope.scaling.factor > 0")
    # Llama 3.1's rope_freqs.weight: one positive divisor per rotary pair (d_head 16: 8), nothing else
    for freqs, kv, why in ((np.ones(7, np.float32), [], "rope_freqs.weight has ne = {7, 1}"),
                           (np.ones((2, 8), np.float32), [], "rope_freqs.weight has ne = {8, 2}"),
                           (np.array([1, 2, 0, 4, 4, 4, 4, 4], np.float32), [], "rope frequency factor 2 is 0"),
                           (np.array([1, 2, np.nan, 4, 4, 4, 4, 4], np.float32), [], "rope frequency factor 2 is nan"),
                           (np.ones(8, np.float32), [("llama.rope.scaling.type", "str", "yarn")], "\"yarn\" is not supported")):
        p3, _, _ = gguf_llama("bad6.gguf", extra_kv=kv, rope_freqs=freqs)
        fails(p3, "bad6.gguf", why)


def non_finite_weights():
    # a NaN or inf weight would make every activation downstream NaN: refused at load, naming the tensor
    d, W, cfg = good_gpt2("bad_nan")
    W = dict(W)
    W["h.0.mlp.c_fc.weight"] = W["h.0.mlp.c_fc.weight"].copy()
    W["h.0.mlp.c_fc.weight"][3, 5], W["h.0.mlp.c_fc.weight"][1, 2] = np.nan, np.inf
    fx_hf.write_hf(d, W, cfg)
    fails(d, "model.safetensors", "h.0.mlp.c_fc.weight", "2 non-finite")
    fx_hf.write_hf(d, W, cfg, dtype="BF16")
    fails(d, "model.safetensors", "h.0.mlp.c_fc.weight", "2 non-finite")
    W, cfg = fx_hf.llama_weights(32, 1, 2, 1, 64, 64, 16, seed=3)
    W["layers.0.mlp.down_proj.weight"] = W["layers.0.mlp.down_proj.weight"].copy()
    W["layers.0.mlp.down_proj.weight"][0, 0] = -np.inf
    p = os.path.join(TMP, "bad_nan.gguf")
    fx_gguf.from_weights(p, W, cfg)
    fails(p, "bad_nan.gguf", "blk.0.ffn_down.weight", "1 non-finite")
    W, cfg = fx_llama2c.random_weights(32, 64, 2, 2, 1, 64, 16, seed=4)
    W["layers.1.mlp.down_proj.weight"][2, 2] = np.nan
    p = os.path.join(TMP, "bad_nan.bin")
    fx_llama2c.write(p, W, cfg)
    fails(p, "bad_nan.bin", "layer 1", "1 non-finite")


def directory_as_file():
    # a directory where a file is expected opens fine on Linux and "seeks" to ~2^63: one error line
    for name in ("config.json", "vocab.json", "merges.txt", "tokenizer.json"):
        d, W, cfg = good_gpt2("bad_dir_" + name.replace(".", "_"))
        fx_hf.write_hf(d, W, cfg)
        if name in ("vocab.json", "merges.txt"):  # the pair is read only when both are there
            json.dump({"a": 0, "b": 1}, open(os.path.join(d, "vocab.json"), "w"))
            open(os.path.join(d, "merges.txt"), "w").write("#version: 0.2\na b\n")
        p = os.path.join(d, name)
        if os.path.exists(p):
            os.remove(p)
        os.makedirs(p)
        fails(d, name, "directory")


def random_model_args():
    for args, needle in ((["--arch", "bert", "--out", "x"], "bert"), (["--arch", "gpt2"], "--out"),
                         (["--arch", "gpt2", "--out", "x", "--format", "onnx"], "onnx"),
                         (["--arch", "gpt2", "--out", "x", "--heads", "5"], "divisible"),
                         (["--arch", "gpt2", "--out", "x", "--vocab", "10"], "vocab"),
                         (["--arch", "gpt2", "--out", "x", "--layers", "-1"], "layers"),
                         (["--arch", "gpt2", "--format", "llama2c", "--out", "x"], "llama2c"),
                         (["--arch", "llama", "--out", "/nonexistent/dir/m"], "/nonexistent/dir/m"),
                         (["--arch", "llama", "--format", "gguf", "--out", "/nonexistent/m.gguf"], "m.gguf")):
        p = run("random-model", *args, ok=False)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], (args, p.stderr)
    assert "--kv-heads" in run("random-model", "--help").stdout


check("config.json errors", hf_config_errors)
check("tensor shape/missing/dtype errors (HF)", hf_tensor_errors)
check("truncated and corrupt safetensors", safetensors_corrupt)
check("sharded index errors", shards)
check("truncated and corrupt GGUF", gguf_corrupt)
check("GGUF architecture, metadata/shape mismatch, missing tensor, unsupported type", gguf_semantic)
check("non-finite weights refused at load (HF F32/BF16, GGUF, llama2.c)", non_finite_weights)
check("a directory where a file is expected (config.json, vocab.json, merges.txt, tokenizer.json)", directory_as_file)
check("random-model option errors", random_model_args)
finish()
