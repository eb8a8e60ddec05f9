"""Planted-feature recovery, TopK (k = 8), uncorrelated features: see sae_planted.py."""
from mstest import check, finish
import sae_planted

check("topk recovers planted features (uncorrelated)",
      lambda: sae_planted.recover("topk", ["--k", 8], k_bound=8, margin=0.15))
finish()
