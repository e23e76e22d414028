"""Random scores: the baseline every criterion's claim is compared against (seeded, reproducible)."""

from __future__ import annotations

from typing import Any

import torch

from edgeprune.importance.group import layer_name
from edgeprune.importance.registry import Criterion, register_importance


@register_importance("random")
class RandomImportance(Criterion):
    """Uniform random score per index; the same seed and root give the same scores."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def __call__(self, group: Any) -> torch.Tensor:
        root = layer_name(group[0].dep)
        gen = torch.Generator().manual_seed(self.seed + sum(map(ord, root)))
        return torch.rand(len(group[0].idxs), generator=gen)
