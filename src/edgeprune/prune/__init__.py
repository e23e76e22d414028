"""Applying a plan (channels, neurons, whole attention heads, blocks, branches); save/load as plan + safetensors."""

from edgeprune.prune.apply import apply_plan
from edgeprune.prune.blocks import drop_blocks
from edgeprune.prune.cost import count_macs_params
from edgeprune.prune.heads import prune_heads
from edgeprune.prune.io import load_pruned, save_pruned
from edgeprune.prune.make import keep_indices, make_plan
from edgeprune.prune.plan import GroupKeep, Plan
from edgeprune.prune.rounding import keep_count, keep_step

__all__ = [
    "GroupKeep",
    "Plan",
    "apply_plan",
    "count_macs_params",
    "drop_blocks",
    "keep_count",
    "keep_indices",
    "keep_step",
    "load_pruned",
    "make_plan",
    "prune_heads",
    "save_pruned",
]
