"""A criterion whose per-parameter scores come from statistics gathered on data, looked up by layer name."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.importance.group import local_scores, reduce_group
from edgeprune.importance.registry import Criterion


class ParamStatCriterion(Criterion):
    """Scores = ``self.stats["layer.attr"]`` (shaped like the parameter), aggregated over the group."""

    needs_data = True

    def __init__(self) -> None:
        self.stats: dict[str, torch.Tensor] = {}
        self.batches = 0

    def _score(self, name: str, _layer: nn.Module, attr: str) -> torch.Tensor | None:
        return self.stats.get(f"{name}.{attr}")

    def _check_ready(self) -> None:
        if not self.stats:
            raise EdgepruneError(f"importance '{self.name}' needs data: call .prepare(model, x, y) first")

    def __call__(self, group: Any) -> torch.Tensor:
        self._check_ready()
        return reduce_group(group, lambda dep, idxs: local_scores(dep, idxs, self._score))
