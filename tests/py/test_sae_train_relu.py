"""Planted-feature recovery, ReLU + decoder-norm-weighted L1 adapted to --l0-target 8."""
from mstest import check, finish
import sae_planted

check("relu recovers planted features",
      lambda: sae_planted.recover("relu", ["--l0-target", 8], k_bound=None, margin=0.25))
finish()
