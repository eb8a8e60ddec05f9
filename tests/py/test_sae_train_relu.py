"""Planted-feature recovery, ReLU + decoder-norm-weighted L1 adapted to --l0-target 16
(ReLU codes keep small interference activations that TopK cuts, so its L0 budget is larger; the
L1 penalty also shrinks every code, hence the wider margin: EV >= 0.8)."""
from mstest import check, finish
import sae_planted

check("relu recovers planted features",
      lambda: sae_planted.recover("relu", ["--l0-target", 16], k_bound=None, margin=0.2))
finish()
