"""Connection pruning: unstructured, N:M and block masks reached gradually while fine-tuning, baked before export.

Sits just above ``prune``: it works on any model (pruned or not), so structured pruning goes first
(channels), then connections. Fine-tuning drives it through the ``fit(..., callback=...)`` hook.
"""

from edgeprune.sparsity.gradual import GradualSparsity, choose_layers
from edgeprune.sparsity.masking import LayerSparsity, WeightMask, attach, bake, overall, sparsity_of
from edgeprune.sparsity.options import SparsityOptions, fit_steps
from edgeprune.sparsity.patterns import Pattern, parse_pattern
from edgeprune.sparsity.schedule import CubicSchedule

__all__ = [
    "CubicSchedule",
    "GradualSparsity",
    "LayerSparsity",
    "Pattern",
    "SparsityOptions",
    "WeightMask",
    "attach",
    "bake",
    "choose_layers",
    "fit_steps",
    "overall",
    "parse_pattern",
    "sparsity_of",
]
