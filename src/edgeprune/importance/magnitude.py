"""Weight magnitude: sum of |w|^p over every slice a group index owns (L1 with p=1, squared L2 with p=2);
``bn_scale`` keeps only the norm layers' |gamma| (network slimming)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgeprune.importance.group import NORMS, local_scores, reduce_group
from edgeprune.importance.registry import Criterion, register_importance


class Magnitude(Criterion):
    """Group Lp magnitude of the weights (no data needed)."""

    def __init__(self, p: int = 2) -> None:
        if p not in (1, 2):
            raise ValueError(f"p must be 1 or 2, got {p}")
        self.p = p
        self.name = f"l{p}"

    def _score(self, _name: str, layer: nn.Module, attr: str) -> torch.Tensor | None:
        return getattr(layer, attr).detach().abs().pow(self.p)

    def __call__(self, group: Any) -> torch.Tensor:
        return reduce_group(group, lambda dep, idxs: local_scores(dep, idxs, self._score))


class BNScale(Criterion):
    """|gamma| of the group's BatchNorm/LayerNorm layers; groups without a norm fall back to L1 magnitude."""

    name = "bn_scale"

    def _score(self, _name: str, layer: nn.Module, attr: str) -> torch.Tensor | None:
        return getattr(layer, attr).detach().abs() if isinstance(layer, NORMS) and attr == "weight" else None

    def __call__(self, group: Any) -> torch.Tensor:
        has_norm = any(isinstance(dep.target.module, NORMS) for dep, _ in group)
        if not has_norm:
            return Magnitude(p=1)(group)
        return reduce_group(group, lambda dep, idxs: local_scores(dep, idxs, self._score, bias=False))


register_importance("magnitude")(lambda p=2: Magnitude(p))
register_importance("l1")(lambda: Magnitude(1))
register_importance("l2")(lambda: Magnitude(2))
register_importance("bn_scale")(BNScale)
