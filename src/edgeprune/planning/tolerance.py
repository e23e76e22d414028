"""Tolerance mode: the smallest budget whose briefly fine-tuned select metric stays within ``max_drop`` points
of the unpruned model (bisection on a log scale between ``floor`` and 1; each candidate is fine-tuned)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from edgeprune.config import FinetuneConfig
from edgeprune.data import Dataset
from edgeprune.errors import EdgepruneError
from edgeprune.finetune import evaluate, fit
from edgeprune.planning.budget import BudgetPlan


@dataclass
class ToleranceResult:
    """The chosen candidate (None if even the loosest tried budget broke the tolerance) and every trial."""

    best: BudgetPlan | None
    base_metric: float
    max_drop: float
    trials: list[dict[str, Any]] = field(default_factory=list)
    tuned: nn.Module | None = None  # the fine-tuned pruned model of ``best``


def smallest_within(
    model: nn.Module,
    data: Dataset,
    plan_at: Callable[[float], BudgetPlan],
    max_drop: float,
    finetune: FinetuneConfig,
    floor: float = 0.05,
    steps: int = 5,
) -> ToleranceResult:
    """Bisect budgets in [floor, 1]; ``plan_at(b)`` returns a verified pruned candidate for budget ``b``."""
    if max_drop < 0:
        raise EdgepruneError(f"--max-drop must be >= 0, got {max_drop}")
    if not 0.0 < floor < 1.0:
        raise EdgepruneError(f"lower budget bound {floor} must lie in (0, 1)")
    base_metric, _ = evaluate(model, data.x_select, data.y_select)
    result = ToleranceResult(None, base_metric, max_drop)

    def trial(budget: float) -> bool:
        candidate = plan_at(budget)
        tuned = copy.deepcopy(candidate.model)
        fit(tuned, data, finetune, teacher=copy.deepcopy(model), description=f"tolerance {budget:.3f}")
        metric, _ = evaluate(tuned, data.x_select, data.y_select)
        ok = base_metric - metric <= max_drop
        result.trials.append(
            {
                "budget": round(budget, 4),
                "fraction": round(candidate.fraction, 4),
                "select_metric": round(metric, 3),
                "drop": round(base_metric - metric, 3),
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
