"""Tolerance mode: the smallest budget whose briefly fine-tuned select metric stays within ``max_drop`` points
of the unpruned model (bisection on a log scale between ``floor`` and 1; each candidate is fine-tuned on the
train split and judged on the select split, never on validation)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from edgeprune.config import FinetuneConfig
from edgeprune.data import Data
from edgeprune.errors import EdgepruneError
from edgeprune.finetune import fit
from edgeprune.planning.result import Planned
from edgeprune.task import CLASSIFICATION, Task, evaluate


@dataclass
class ToleranceResult:
    """The chosen candidate (None if even the loosest tried budget broke the tolerance) and every trial."""

    best: Planned | None
    base_metric: float
    max_drop: float
    trials: list[dict[str, Any]] = field(default_factory=list)
    tuned: nn.Module | None = None  # the fine-tuned pruned model of ``best``

    def summary(self, epochs: int) -> dict[str, Any]:
        return {
            "max_drop": self.max_drop,
            "base_select_metric": round(self.base_metric, 4),
            "finetune_epochs": epochs,
            "trials": self.trials,
        }


def smallest_within(
    model: nn.Module,
    data: Data,
    plan_at: Callable[[float], Planned],
    max_drop: float,
    finetune: FinetuneConfig,
    floor: float = 0.05,
    steps: int = 5,
    task: Task = CLASSIFICATION,
) -> ToleranceResult:
    """Bisect budgets in [floor, 1]; ``plan_at(b)`` returns a verified pruned candidate for budget ``b``."""
    if max_drop < 0:
        raise EdgepruneError(f"max_drop must be >= 0, got {max_drop}")
    if not 0.0 < floor < 1.0:
        raise EdgepruneError(f"lower budget bound {floor} must lie in (0, 1)")
    base_metric, _ = evaluate(model, data.select, task=task)
    result = ToleranceResult(None, base_metric, max_drop)

    def trial(budget: float) -> bool:
        candidate = plan_at(budget)
        tuned = copy.deepcopy(candidate.model)
        fit(tuned, data, finetune, teacher=copy.deepcopy(model), description=f"tolerance {budget:.3f}", task=task)
        metric, _ = evaluate(tuned, data.select, task=task)
        drop = task.drop(base_metric, metric)
        ok = drop <= max_drop
        result.trials.append(
            {
                "budget": round(budget, 4),
                "fraction": round(candidate.fraction, 4),
                "select_metric": round(metric, 4),
                "drop": round(drop, 4),
                "within": ok,
            }
        )
        if ok and (result.best is None or candidate.fraction < result.best.fraction):
            result.best, result.tuned = candidate, tuned
        return ok

    if trial(floor):
        return result
    lo, hi = floor, 1.0
    for _ in range(steps):
        mid = math.sqrt(lo * hi)
        if trial(mid):
            hi = mid
        else:
            lo = mid
    return result
