"""Loading only the layers a capture needs (issue 14, models too large for RAM): a capture whose
hooks stop at block 1 of a 4-layer Hugging Face Llama loads layers 0..1 only. Two checks of two
independent paths: (1) its activations equal, bit for bit, those of the same hook captured together
with ln_final (which forces the full load); (2) a copy of the checkpoint whose layers 2 and 3 are
NaN captures block 1 identically, while a full load of that copy is refused (non-finite weights):
the later tensors are never read; nor is the untied unembedding (lm_head NaN too), which a full
load refuses and a logits capture needs."""
import os

import numpy as np

import mstest
from mstest import check, finish, run
import fx_hf

TMP = mstest.TMP
V, T, L = 64, 16, 4
rng = np.random.default_rng(5)
SEQS = [list(map(int, rng.integers(0, V, T))) for _ in range(3)]
HOOK = "blocks.1.hook_resid_post"


def fixture(tag, poison):
    W, cfg = fx_hf.llama_weights(32, L, 4, 2, 64, V, T, tied=False, seed=3)
    W, cfg = fx_hf.hf_llama(W, cfg)
    if poison:
        for k in W:
            if k.startswith("layers.2.") or k.startswith("layers.3.") or k == "lm_head.weight":
                W[k] = np.full_like(W[k], np.nan)
    d = os.path.join(TMP, tag)
    fx_hf.write_hf(d, W, cfg, shards=2)
    return d


def t_equal():
    d = fixture("clean", False)
    early = fx_hf.ours(d, SEQS, hooks=HOOK, tag="early")[HOOK]
    full = fx_hf.ours(d, SEQS, hooks=HOOK + ",ln_final.hook_normalized", tag="full")[HOOK]
    assert early.shape == (3, T, 32), early.shape
    assert np.array_equal(early, full), np.abs(early - full).max()


def t_later_layers_unread():
    clean = fx_hf.ours(os.path.join(TMP, "clean"), SEQS, hooks=HOOK, tag="c2")[HOOK]
    d = fixture("poison", True)
    early = fx_hf.ours(d, SEQS, hooks=HOOK, tag="p1")[HOOK]
    assert np.array_equal(early, clean)
    ids = os.path.join(TMP, "p1.ids")
    p = run("capture", "--model", d, "--input", ids, "--input-format", "ids", "--hooks", "blocks.3.hook_resid_post",
            "--ctx", T, "--out", os.path.join(TMP, "p3.h5"), ok=False)
    assert "non-finite" in p.stderr, p.stderr
    assert "lm_head" in p.stderr or "layers." in p.stderr, p.stderr


def t_info_reads_headers_only():
    # `info` describes from the configuration and tensor index alone (an 8B checkpoint in milliseconds):
    # the poisoned copy describes like the clean one; `info --check` reads every tensor and refuses it
    desc = lambda d: [l for l in run("info", d).stdout.splitlines() if not l.startswith("path:")]
    assert desc(os.path.join(TMP, "clean")) == desc(os.path.join(TMP, "poison"))
    assert "parameters: " in "\n".join(desc(os.path.join(TMP, "poison")))
    p = run("info", "--check", os.path.join(TMP, "poison"), ok=False)
    assert "non-finite" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


check("early capture equals full-load capture", t_equal)
check("layers after the last hook are never read", t_later_layers_unread)
check("info reads headers only; info --check reads every tensor", t_info_reads_headers_only)
finish()
