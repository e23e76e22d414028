"""Diagonal-Fisher / Optimal Brain Damage saliency: 0.5 * E[g^2] * w^2 over small mini-batches."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgeprune.importance.gradients import for_each_batch
from edgeprune.importance.registry import Criterion, register_importance
from edgeprune.importance.stats import ParamStatCriterion


@register_importance("hessian")
class Hessian(ParamStatCriterion):
    """OBD with the empirical Fisher as the Hessian diagonal; small batches keep the Fisher estimate sharp."""

    name = "hessian"

    def __init__(self, batches: int = 32, micro_batch: int = 8) -> None:
        super().__init__()
        self.max_batches = batches
        self.micro_batch = micro_batch

    def prepare(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64, loss: Any = None
    ) -> Criterion:
        fisher: dict[str, torch.Tensor] = {}
        weights: dict[str, torch.Tensor] = {}

        def on_batch(params: dict) -> None:
            for key, (_, _, w, g) in params.items():
                fisher[key] = fisher[key] + g * g if key in fisher else (g * g).clone()
                weights[key] = w

        self.batches = for_each_batch(model, x, y, self.micro_batch, on_batch, self.max_batches, loss)
        self.stats = {k: 0.5 * (f / self.batches) * weights[k].pow(2) for k, f in fisher.items()}
        return self
