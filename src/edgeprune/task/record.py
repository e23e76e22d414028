"""What the model is for: the loss it trains on, the metric reported (and its direction), how a student
distils from its teacher. Classification top-1 is the default; users plug in their own functions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

LossFn = Callable[[Any, Any], torch.Tensor]
MetricFn = Callable[[Any, Any], Any]
DistillFn = Callable[[Any, Any, float], torch.Tensor]


class Accumulator(Protocol):
    """A metric over a whole split: ``update`` with every batch, then ``compute`` once (mAP is no batch mean)."""

    def update(self, outputs: Any, targets: Any) -> None: ...

    def compute(self) -> float: ...


class BatchMean:
    """The default accumulator: the task's per-batch metric averaged over samples (weighted by batch size)."""

    def __init__(self, metric: MetricFn) -> None:
        self.metric, self.total, self.samples = metric, 0.0, 0

    def update(self, outputs: Any, targets: Any) -> None:
        size = len(targets)
        self.total += float(self.metric(outputs, targets)) * size
        self.samples += size

    def compute(self) -> float:
        return self.total / max(self.samples, 1)


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
    accumulate: Callable[[], Accumulator] | None = None  # a whole-split metric (mAP); None: batch means of metric
    prepare: Callable[[Any, torch.Tensor], None] | None = None  # reads what it needs from the model (a detector)
    agreement: Callable[[Any, Any], float] | None = None  # outputs vs reference outputs, in points (int8 check)

    def scorer(self) -> Accumulator:
        """A fresh accumulator of this task's metric over one split."""
        return self.accumulate() if self.accumulate is not None else BatchMean(self.metric)

    def see(self, model: Any, example: torch.Tensor) -> None:
        """Let the task read what it needs from ``model`` (given an example input batch); a no-op for most."""
        if self.prepare is not None:
            self.prepare(model, example)

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
