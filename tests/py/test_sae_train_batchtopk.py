"""Planted-feature recovery, BatchTopK (k = 8 on average; inference by the learned threshold)."""
from mstest import check, finish
import sae_planted

check("batchtopk recovers planted features",
      lambda: sae_planted.recover("batchtopk", ["--k", 8], k_bound=8, margin=0.15))
finish()
