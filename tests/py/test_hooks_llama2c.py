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
        names = f.attrs["hooks"].decode().split(",")
        acts = {k: f["acts/" + k][:] for k in names}
    expect_sites = 1 + L * 18 + 2  # embed, 18 block sites for llama, ln_final, logits
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


for name, dims in CASES:
    mstest.check(f"every hook site matches torch: {name}", lambda: run_case(name, dims))
mstest.finish()
