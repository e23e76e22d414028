"""Whole attention heads: score them (per-index importance summed per head) and remove them physically."""

from __future__ import annotations

import math

import torch

from edgeprune.errors import EdgepruneError
from edgeprune.graph.attention import SplitAttention
from edgeprune.graph.surgery import prune_split_heads
from edgeprune.graph.trace import ignore_advice
from edgeprune.prune.importance import Scorer
from edgeprune.prune.rounding import keep_count


def head_keep_count(num_heads: int, head_dim: int, ratio: float, round_to: int) -> int:
    """Heads kept when pruning ``ratio`` of them; ``round_to`` constrains the inner width (heads x head dim)."""
    return keep_count(num_heads, 1, ratio, round_to // math.gcd(round_to, head_dim))


def head_scores(scorer: Scorer, group: object, num_heads: int, path: str) -> torch.Tensor:
    """One score per head: the scorer's per-index scores of the inner width, summed over each head."""
    with torch.no_grad():
        scores = scorer(group)
    if scores is None or scores.numel() % num_heads:
        raise EdgepruneError(f"importance gave no per-head scores for attention '{path}'; {ignore_advice(path)}")
    return scores.detach().float().reshape(num_heads, -1).sum(1)


def prune_heads(attn: SplitAttention, keep: list[int], path: str = "attention") -> SplitAttention:
    """Keep only heads ``keep`` (original numbering of the current module) of ``attn``, in place."""
    prune_split_heads(attn, keep, path)
    return attn
