"""Relative (layer-normalized) variants of every criterion: ``relative-l2``, ``relative-taylor``, ...

A global ranking compares channels of different layers, whose raw scores live on different scales (a
3x3 conv's L2 sums 9x more weights per channel than a 1x1's; gradients shrink with depth). The relative
variant divides each group's scores by their L2 norm over the group, the layer-wise normalization of
Molchanov et al. 2017 ("Pruning Convolutional Neural Networks for Resource Efficient Inference", ICLR,
sec. 2.3): score_j / sqrt(sum_k score_k^2). Every group then holds the same total "importance mass"
(unit L2 norm), so a wide group's channels each score lower than a narrow group's and a global threshold
takes more of them. ``norm="lamp"`` uses LAMP instead (Lee et al. 2021, "Layer-adaptive Sparsity for the
Magnitude-based Pruning", ICLR): score_j^2 / sum of score_k^2 over the group's indices scored >= score_j, so
each group's best index scores 1 and the rest are judged by the mass they would leave behind.

The base criteria are already scaled to mean 1 per group (torch-pruning's default group normalizer), so a
global ranking on them is relative-to-the-mean; these variants change *how* a group is scaled. Within
one group the order is unchanged, so with per-group ratios (``uniform``, ``sensitivity``) a relative
criterion keeps exactly the channels of its base; it only matters for a global ranking
(:mod:`edgeprune.planning.global_rank`), and benchmarks/compression.py measures whether it helps.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.importance.registry import IMPORTANCE, Criterion, register_importance

BASES = ("l1", "l2", "taylor", "activation", "hessian", "bn_scale", "entropy", "random")


def l2_normalized(scores: torch.Tensor) -> torch.Tensor:
    """``scores / ||scores||_2`` (unchanged when all are zero)."""
    norm = scores.double().norm()
    return (scores.double() / norm).float() if norm > 0 else scores


def lamp(scores: torch.Tensor) -> torch.Tensor:
    """LAMP score of each index: its squared score over the sum of squared scores at least as large."""
    sq = scores.double().pow(2)
    order = torch.argsort(sq, stable=True)
    tail = sq[order].flip(0).cumsum(0).flip(0)  # tail[i] = sum of the i-th smallest and everything above it
    out = torch.zeros_like(sq)
    out[order] = torch.where(tail > 0, sq[order] / tail.clamp_min(1e-300), torch.zeros_like(tail))
    return out.float()


NORMALIZERS = {"l2": l2_normalized, "lamp": lamp}


class Relative(Criterion):
    """Wraps a criterion and rescales its scores within each group (``norm``: ``l2`` or ``lamp``)."""

    def __init__(self, base: Criterion, norm: str = "l2") -> None:
        if norm not in NORMALIZERS:
            known = sorted(NORMALIZERS)
            raise EdgepruneError(f"importance 'relative-{base.name}': norm must be one of {known}, got {norm!r}")
        self.base = base
        self.norm = norm
        self.name = f"relative-{base.name}" + ("" if norm == "l2" else f"-{norm}")
        self.needs_data = base.needs_data

    def prepare(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64, loss: Any = None
    ) -> Criterion:
        self.base.prepare(model, x, y, batch_size, loss=loss)
        return self

    def __call__(self, group: Any) -> torch.Tensor | None:
        scores = self.base(group)
        return None if scores is None else NORMALIZERS[self.norm](scores)


def _factory(base: str) -> Any:
    def build(norm: str = "l2", **options: Any) -> Relative:
        return Relative(IMPORTANCE[base](**options), norm)

    return build


for _base in BASES:
    register_importance(f"relative-{_base}")(_factory(_base))
