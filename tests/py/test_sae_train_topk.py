"""Planted-feature recovery, TopK (k = 8), uncorrelated features: see sae_planted.py.

The same run with the encoder product in bf16 (--encoder-dtype bf16: inputs and W_enc rounded to
bfloat16, fp32 accumulation) must recover the planted features as well: mean max cosine within
0.01 of the fp32 run's and explained variance within 0.01.
"""
import os
from mstest import check, finish, run, TMP
import sae_planted

result = {}


def fp32():
    result["f32"] = sae_planted.recover("topk", ["--k", 8], k_bound=8, margin=0.15)


def bf16():
    # a CPU without AVX-512 (or a build without oneDNN) has no bf16 product: the trainer must say so
    # in one error line; the comparison itself needs the kernel
    probe = run("sae", "train", "--acts", sae_planted.ensure_data(tag="_bf16")[0], "--hook", "blocks.0.hook_resid_post",
                "--out", os.path.join(TMP, "bf16_probe.h5"), "--d-sae", 64, "--tokens", 4096, "--encoder-dtype", "bf16",
                ok=None, fast=True)
    if probe.returncode != 0:
        assert "bf16" in probe.stderr and probe.stderr.count("error") == 1, probe.stderr
        print("SKIP bf16 comparison: %s" % probe.stderr.strip(), flush=True)
        return
    mmc, ev = sae_planted.recover("topk", ["--k", 8, "--encoder-dtype", "bf16"], k_bound=8, margin=0.15, tag="_bf16")
    mmc32, ev32 = result["f32"]
    print("bf16 vs f32: mean max cosine %.4f vs %.4f, EV %.4f vs %.4f" % (mmc, mmc32, ev, ev32), flush=True)
    assert abs(mmc - mmc32) <= 0.01, "bf16 mean max cosine %.4f differs from f32 %.4f by > 0.01" % (mmc, mmc32)
    assert abs(ev - ev32) <= 0.01, "bf16 explained variance %.4f differs from f32 %.4f by > 0.01" % (ev, ev32)


check("topk recovers planted features (uncorrelated)", fp32)
check("topk with a bf16 encoder product recovers them as well as fp32", bf16)
finish()
