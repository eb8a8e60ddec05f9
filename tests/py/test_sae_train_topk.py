"""Planted-feature recovery, TopK (k = 8), uncorrelated features: see sae_planted.py.

The same run with the encoder product in bf16 (--encoder-dtype bf16: inputs and W_enc rounded to
bfloat16, fp32 accumulation) must recover the planted features as well: mean max cosine within
0.01 of the fp32 run's and explained variance within 0.01.
"""
from mstest import check, finish, run
import sae_planted

result = {}


def fp32():
    result["f32"] = sae_planted.recover("topk", ["--k", 8], k_bound=8, margin=0.15)


def bf16():
    probe = run("sae", "train", "--help", fast=True)
    assert "--encoder-dtype" in probe.stdout + probe.stderr
    mmc, ev = sae_planted.recover("topk", ["--k", 8, "--encoder-dtype", "bf16"], k_bound=8, margin=0.15, tag="_bf16")
    mmc32, ev32 = result["f32"]
    print("bf16 vs f32: mean max cosine %.4f vs %.4f, EV %.4f vs %.4f" % (mmc, mmc32, ev, ev32), flush=True)
    assert abs(mmc - mmc32) <= 0.01, "bf16 mean max cosine %.4f differs from f32 %.4f by > 0.01" % (mmc, mmc32)
    assert abs(ev - ev32) <= 0.01, "bf16 explained variance %.4f differs from f32 %.4f by > 0.01" % (ev, ev32)


check("topk recovers planted features (uncorrelated)", fp32)
check("topk with a bf16 encoder product recovers them as well as fp32", bf16)
finish()
