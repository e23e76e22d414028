"""What the model is for: the loss it trains on, the metric reported (and its direction), how a student
distils from its teacher. Classification top-1 is the default; users plug in their own functions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

LossFn = Callable[[Any, Any], torch.Tensor]
MetricFn = Callable[[Any, Any], Any]
DistillFn = Callable[[Any, Any, float], torch.Tensor]


@dataclass(frozen=True)
class Task:
    """Loss, metric and distillation of one task. ``metric`` returns the batch mean; ``higher_is_better``
    says which way the metric improves (accuracy: up; error or distance: down)."""

    name: str
    loss: LossFn
    metric: MetricFn
    metric_name: str
    higher_is_better: bool
    distill: DistillFn
    unit: str = ""  # "%" for accuracies
    classification: bool = False

    def drop(self, base: float, value: float) -> float:
        """How much worse ``value`` is than ``base`` (positive = worse), whichever way the metric points."""
        return base - value if self.higher_is_better else value - base

    def better(self, value: float, than: float) -> bool:
        """True if ``value`` beats ``than`` (NaN ``than`` is always beaten)."""
        if than != than:
            return True
        return value > than if self.higher_is_better else value < than

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "metric": self.metric_name,
            "higher_is_better": self.higher_is_better,
            "unit": self.unit,
            "classification": self.classification,
        }

    def format(self, value: float) -> str:
        return f"{value:.2f}{self.unit}" if self.unit else f"{value:.4g}"
