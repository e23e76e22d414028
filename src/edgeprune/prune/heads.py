"""Whole attention heads: score them (per-index importance summed per head) and remove them physically."""

from __future__ import annotations

import math

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.graph.attention import SplitAttention
from edgeprune.prune.importance import Scorer


def head_keep_count(num_heads: int, head_dim: int, ratio: float, round_to: int) -> int:
    """Heads kept when pruning ``ratio`` of them; ``round_to`` constrains the inner width (heads x head dim)."""
    from edgeprune.prune.make import keep_count

    return keep_count(num_heads, 1, ratio, round_to // math.gcd(round_to, head_dim))


def head_scores(scorer: Scorer, group: object, num_heads: int, path: str) -> torch.Tensor:
    """One score per head: the scorer's per-index scores of the inner width, summed over each head."""
    with torch.no_grad():
        scores = scorer(group)
    if scores is None or scores.numel() % num_heads:
        raise EdgepruneError(f"importance gave no per-head scores for attention '{path}'; add it to ignored_layers")
    return scores.detach().float().reshape(num_heads, -1).sum(1)


def _rows(layer: nn.Linear, rows: torch.Tensor) -> None:
    layer.weight = nn.Parameter(layer.weight.data[rows].clone(), requires_grad=layer.weight.requires_grad)
    if layer.bias is not None:
        layer.bias = nn.Parameter(layer.bias.data[rows].clone(), requires_grad=layer.bias.requires_grad)
    layer.out_features = len(rows)


def prune_heads(attn: SplitAttention, keep: list[int], path: str = "attention") -> SplitAttention:
    """Keep only heads ``keep`` (original numbering of the current module) of ``attn``, in place."""
    if not keep or len(set(keep)) != len(keep) or min(keep) < 0 or max(keep) >= attn.num_heads:
        raise EdgepruneError(f"attention '{path}': heads to keep {keep} must be unique, in 0..{attn.num_heads - 1}")
    d = attn.head_dim
    rows = torch.tensor([h * d + i for h in sorted(keep) for i in range(d)], device=attn.q_proj.weight.device)
    for proj in (attn.q_proj, attn.k_proj, attn.v_proj):
        _rows(proj, rows)
    out = attn.out_proj
    out.weight = nn.Parameter(out.weight.data[:, rows].clone(), requires_grad=out.weight.requires_grad)
    out.in_features = len(rows)
    attn.num_heads = len(keep)
    return attn
