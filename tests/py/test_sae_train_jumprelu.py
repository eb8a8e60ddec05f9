"""Planted-feature recovery, JumpReLU with the L0 coefficient adapted to --l0-target 8."""
from mstest import check, finish
import sae_planted

check("jumprelu recovers planted features",
      lambda: sae_planted.recover("jumprelu", ["--l0-target", 8], k_bound=None, margin=0.15))
finish()
