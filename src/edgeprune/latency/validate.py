"""How well the latency model predicts: random plans it was not fitted on, exported and measured on the target.

Error of one plan = |predicted fraction / measured fraction - 1|: the model's latency for the plan over its latency
for the unpruned network, against the plan's ratio to the unpruned network timed in the same processes. Ratios
cancel slow drift of the machine as every latency ratio this project quotes does; comparing milliseconds would
charge the model for the machine running 20% faster than when it was fitted (measured here: mobilenet_v3_small's
unpruned ONNX Runtime latency 2.02 ms while fitting, 1.64 ms while validating). The headline is the median over
plans.
"""

from __future__ import annotations

import random
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from edgeprune.latency.endtoend import export_for, kept_counts, pruned_copy, random_plan, time_files
from edgeprune.latency.model import LatencyModel
from edgeprune.latency.target import LatencyTarget


@dataclass(frozen=True)
class PlanCheck:
    """One random plan: predicted and measured latency, their ratio to the unpruned network."""

    name: str
    predicted_ms: float
    measured_ms: float
    measured_fraction: float
    predicted_fraction: float

    @property
    def error(self) -> float:
        return abs(self.predicted_fraction / self.measured_fraction - 1.0)


@dataclass
class Validation:
    """Errors of the model on held-out random plans (``p50``: the median, the figure to quote)."""

    base_ms: float
    checks: list[PlanCheck] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return statistics.median(c.error for c in self.checks)

    @property
    def worst(self) -> float:
        return max(c.error for c in self.checks)

    def summary(self) -> dict[str, object]:
        return {
            "plans": len(self.checks),
            "p50_error": round(self.p50, 4),
            "max_error": round(self.worst, 4),
            "base_ms": round(self.base_ms, 4),
            "checks": [{**c.__dict__, "error": round(c.error, 4)} for c in self.checks],
        }


def validate_model(
    lm: LatencyModel,
    model: nn.Module,
    example: torch.Tensor,
    target: LatencyTarget,
    plans: int = 6,
    seed: int = 1,
    round_to: int = 16,
    max_ratio: float = 0.9,
    workdir: str | Path | None = None,
    blocks: Sequence[str] = (),
) -> Validation:
    """Measure ``plans`` random plans (seeded apart from the fit's; some drop one of ``blocks``) and compare with
    the model's predictions."""
    rng = random.Random(seed)
    made = {
        f"check{i}": random_plan(model, example, lm.groups, rng, round_to, max_ratio, blocks=blocks)
        for i in range(plans)
    }
    with tempfile.TemporaryDirectory(prefix="edgeprune-validate-", dir=workdir) as tmp:
        paths = {"unpruned": export_for(target, model, example, Path(tmp) / f"unpruned.{target.fmt}")}
        for name, plan in made.items():
            paths[name] = export_for(
                target, pruned_copy(model, plan, example), example, Path(tmp) / f"{name}.{target.fmt}"
            )
        timed = time_files(target, paths, "unpruned")
    base = timed["unpruned"].ms
    result = Validation(base)
    for name, plan in made.items():
        predicted = lm.predict_ms(kept_counts(plan, lm.groups), plan.blocks)
        result.checks.append(
            PlanCheck(name, predicted, timed[name].ratio * base, timed[name].ratio, predicted / lm.full_ms)
        )  # predicted_ms at the fit's unpruned latency, measured_ms at this run's: the error compares fractions
    return result
