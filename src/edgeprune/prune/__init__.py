"""Applying a plan; save/load of pruned models as plan + safetensors weights."""

from edgeprune.prune.apply import apply_plan
from edgeprune.prune.blocks import drop_blocks
from edgeprune.prune.cost import count_macs_params
from edgeprune.prune.io import load_pruned, save_pruned
from edgeprune.prune.make import keep_count, make_plan
from edgeprune.prune.plan import GroupKeep, Plan

__all__ = [
    "GroupKeep",
    "Plan",
    "apply_plan",
    "count_macs_params",
    "drop_blocks",
    "keep_count",
    "load_pruned",
    "make_plan",
    "save_pruned",
]
