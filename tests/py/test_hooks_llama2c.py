"""Tiny random llama2.c checkpoints (GQA and not, shared and separate classifier): every hook site
captured by `monoscope capture` matches torch_ref (float64) within 1e-4 of each tensor's scale
(max |ours - ref| <= 1e-4 * max |ref|); masked attention scores are -inf on both sides."""
import os

import h5py
import numpy as np

import mstest
import fx_llama2c
import torch_ref

CASES = [  # dim, hidden, layers, heads, kv heads, vocab, seq_len, shared
    ("gqa_shared", (48, 96, 2, 6, 2, 67, 32, True)),
    ("mha_separate", (32, 80, 3, 4, 4, 50, 24, False)),
    ("mqa_separate", (32, 64, 2, 4, 1, 40, 20, False)),
]
CTX = 12


def run_case(name, dims):
    C, F, L, H, KV, V, S, shared = dims
    W, cfg = fx_llama2c.random_weights(C, F, L, H, KV, V, S, shared=shared, seed=len(name))
    path = os.path.join(mstest.TMP, name + ".bin")
    fx_llama2c.write(path, W, cfg)
    rng = np.random.default_rng(1)
    seqs = [list(map(int, rng.integers(0, V, n))) for n in (CTX, 5, CTX - 1, 1)]
    ids = os.path.join(mstest.TMP, name + ".txt")
    with open(ids, "w") as f:
        f.write("\n".join(" ".join(map(str, s)) for s in seqs) + "\n")
    out = os.path.join(mstest.TMP, name + ".h5")
    mstest.run("capture", "--model", path, "--input", ids, "--input-format", "ids", "--hooks", "*", "--ctx", CTX,
               "--out", out, "--batch", 3, "--overwrite")
    with h5py.File(out, "r") as f:
        names = f.attrs["hooks"].split(",")  # a str: UTF-8 variable-length string
        acts = {k: f["acts/" + k][:] for k in names}
    expect_sites = 1 + L * 20 + 3  # embed, 20 block sites for llama, ln_final scale and normalized, logits
    assert len(names) == expect_sites, (len(names), names)
    for i, s in enumerate(seqs):
        _, ref = torch_ref.forward(W, cfg, s)
        assert set(ref) == set(names), set(ref) ^ set(names)
        n = len(s)
        for k in names:
            r = ref[k]
            g = acts[k][i]
            if k.endswith("hook_attn_scores") or k.endswith("hook_pattern"):
                g = g[:, :n, :n]
            else:
                g = g[:n]
            assert g.shape == r.shape, (k, g.shape, r.shape)
            fin = np.isfinite(r)
            assert (np.isfinite(g) == fin).all(), f"{k}: -inf mask differs"
            err = np.abs(g[fin] - r[fin]).max() / max(np.abs(r[fin]).max(), 1e-30)
            assert err < 1e-4, f"{name} seq {i} {k}: error {err:.2e} of scale"


def test_tokenizer_beside():
    """A tokenizer.bin next to the checkpoint is picked up: info names it, generate prints text."""
    d = os.path.join(mstest.TMP, "withtok")
    os.makedirs(d, exist_ok=True)
    V = 40
    W, cfg = fx_llama2c.random_weights(32, 48, 1, 4, 2, V, 16, seed=9)
    fx_llama2c.write(os.path.join(d, "model.bin"), W, cfg)
    pieces = ["<unk>", "\n<s>\n", "\n</s>\n"] + [chr(ord("a") + i) for i in range(26)] + \
             ["\u2581" + chr(ord("a") + i) for i in range(V - 29)]
    fx_llama2c.write_tokenizer(os.path.join(d, "tokenizer.bin"), pieces)
    out = mstest.run("info", os.path.join(d, "model.bin")).stdout
    assert "tokenizer: sentencepiece-bpe" in out, out
    ids = [int(x) for x in mstest.run("generate", "--model", os.path.join(d, "model.bin"), "-n", 6,
                                      "--print-ids").stdout.split()]
    text = mstest.run("generate", "--model", os.path.join(d, "model.bin"), "-n", 6).stdout
    want = "".join(pieces[i].replace("\u2581", " ") for i in ids if i > 2)
    assert text.rstrip("\n") == want, (text, want, ids)
    with open(os.path.join(d, "tokenizer.bin"), "r+b") as fh:  # corrupt it: a clear error, not a crash
        fh.truncate(30)
    p = mstest.run("info", os.path.join(d, "model.bin"), ok=False)
    assert "tokenizer.bin" in p.stderr, p.stderr


mstest.check("tokenizer.bin beside a llama2.c checkpoint", test_tokenizer_beside)
for name, dims in CASES:
    mstest.check(f"every hook site matches torch: {name}", lambda: run_case(name, dims))
mstest.finish()
