"""Writes a Llama-3.1-8B-shaped Hugging Face checkpoint with random bf16 weights (issue 14: an 8 B
model captured on a 24 GB machine), never committed: config.json with Meta's published shape
(hidden 4096, 32 layers, 32 query / 8 key-value heads, MLP 14336, vocabulary 128256, rope_theta
500000, "llama3" rope_scaling factor 8 over an original 8192-token context, untied lm_head) and
four safetensors shards plus their index, in the real tensor names.

Values: N(0, 0.02) in bf16 (norm gains 1), drawn once into a 32 M-value pool that every tensor reads
at its own offset, so 16 GB are written at disk speed rather than generated one by one; shapes,
names, dtypes and byte layout are the real ones.
usage: write_8b.py OUT_DIR"""
import json
import os
import struct
import sys

import numpy as np

C, L, H, HKV, DH, F, V = 4096, 32, 32, 8, 128, 14336, 128256
CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "torch_dtype": "bfloat16",
    "hidden_size": C, "intermediate_size": F, "num_hidden_layers": L, "num_attention_heads": H,
    "num_key_value_heads": HKV, "head_dim": DH, "vocab_size": V, "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "hidden_act": "silu", "tie_word_embeddings": False,
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192},
    "bos_token_id": 128000, "eos_token_id": 128001, "attention_bias": False, "mlp_bias": False,
}


def tensors():
    """(name, shape) in the order Meta's checkpoint lists them."""
    yield "model.embed_tokens.weight", (V, C)
    for l in range(L):
        p = f"model.layers.{l}."
        yield p + "input_layernorm.weight", (C,)
        yield p + "self_attn.q_proj.weight", (H * DH, C)
        yield p + "self_attn.k_proj.weight", (HKV * DH, C)
        yield p + "self_attn.v_proj.weight", (HKV * DH, C)
        yield p + "self_attn.o_proj.weight", (C, H * DH)
        yield p + "post_attention_layernorm.weight", (C,)
        yield p + "mlp.gate_proj.weight", (F, C)
        yield p + "mlp.up_proj.weight", (F, C)
        yield p + "mlp.down_proj.weight", (C, F)
    yield "model.norm.weight", (C,)
    yield "lm_head.weight", (V, C)


def bf16_pool(n, seed=8):
    x = (np.random.default_rng(seed).standard_normal(n, dtype=np.float32) * 0.02).view(np.uint32)
    return ((x + 0x7FFF + ((x >> 16) & 1)) >> 16).astype(np.uint16)  # round to nearest even


def write_shard(path, items, pool, ones):
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in items:
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    hj = json.dumps(header).encode()
    hj += b" " * (-len(hj) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj)
        for i, (name, shape) in enumerate(items):
            n = int(np.prod(shape))
            if len(shape) == 1:
                f.write(ones[:n].tobytes())
                continue
            at = (i * 7919 * 4096) % (len(pool) // 2)  # each tensor its own window of the pool
            while n > 0:
                k = min(n, len(pool) - at)
                f.write(pool[at:at + k].tobytes())
                n -= k
                at = 0
    os.replace(tmp, path)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    pool = bf16_pool(1 << 25)
    ones = np.full(C, 0x3F80, np.uint16)  # 1.0 in bf16
    items = list(tensors())
    # four shards of about equal bytes, tensors in order
    total = sum(int(np.prod(s)) * 2 for _, s in items)
    shards, cur, acc = [], [], 0
    for it in items:
        cur.append(it)
        acc += int(np.prod(it[1])) * 2
        if acc >= total * (len(shards) + 1) / 4 and len(shards) < 3:
            shards.append(cur)
            cur = []
    shards.append(cur)
    wm = {}
    for s, part in enumerate(shards):
        fn = f"model-{s + 1:05d}-of-{len(shards):05d}.safetensors"
        write_shard(os.path.join(out, fn), part, pool, ones)
        wm.update({name: fn for name, _ in part})
        print(f"write_8b: {fn} ({sum(int(np.prod(sh)) * 2 for _, sh in part) / 2**30:.2f} GiB)", flush=True)
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as fh:
        json.dump({"metadata": {"total_size": total}, "weight_map": wm}, fh)
    with open(os.path.join(out, "config.json"), "w") as fh:
        json.dump(CONFIG, fh, indent=2)
    print(f"write_8b: {out}: {sum(int(np.prod(s)) for _, s in items) / 1e9:.2f} B parameters, {total / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
