"""First-order Taylor importance (Molchanov et al., 2019): |g * w| accumulated over mini-batches."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgeprune.importance.gradients import for_each_batch
from edgeprune.importance.registry import Criterion, register_importance
from edgeprune.importance.stats import ParamStatCriterion


@register_importance("taylor")
class Taylor(ParamStatCriterion):
    """Mean over batches of the elementwise |gradient x weight|: the first-order loss change of zeroing it."""

    name = "taylor"

    def __init__(self, batches: int = 16) -> None:
        super().__init__()
        self.max_batches = batches

    def prepare(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64, loss: Any = None
    ) -> Criterion:
        acc: dict[str, torch.Tensor] = {}

        def on_batch(params: dict) -> None:
            for key, (_, _, w, g) in params.items():
                term = (g * w).abs()
                acc[key] = acc[key] + term if key in acc else term.clone()

        self.batches = for_each_batch(model, x, y, batch_size, on_batch, self.max_batches, loss)
        self.stats = {k: v / self.batches for k, v in acc.items()}
        return self
