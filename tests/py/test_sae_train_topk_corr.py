"""Planted-feature recovery, TopK (k = 8), correlated features (groups of 8 co-occurring through a
Gaussian copula, within-group correlation 0.6): see sae_planted.py."""
from mstest import check, finish
import sae_planted

check("topk recovers planted features (correlated)",
      lambda: sae_planted.recover("topk", ["--k", 8], k_bound=8, margin=0.15, correlated=True, tag="_corr"))
finish()
