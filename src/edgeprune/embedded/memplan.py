"""plan_to_memory: a device-memory budget (TFLM arena, Vela SRAM, flash) met as the tool reports it.

The allocator spends damage per byte saved on a :class:`edgeprune.embedded.memory.MemoryModel` (peak live
activations for the arena and SRAM, weights kept for flash) until it predicts the budget; the plan's network is
sliced from the unpruned int8 file and measured by the tool itself; the model learns that figure and, when the plan
is over the budget (or far under it), the plan is made again at a corrected target. The plan kept is the one with
the most memory still within the budget.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from edgeprune.embedded.damage import LABEL as NOSCAN
from edgeprune.embedded.damage import capacity_sensitivity
from edgeprune.embedded.memory import KIND, MemoryModel
from edgeprune.errors import EdgepruneError
from edgeprune.importance import Criterion, get_importance
from edgeprune.latency.units import Unit
from edgeprune.planning.budget import BudgetPlan, allocate_to_budget
from edgeprune.planning.options import PlanOptions
from edgeprune.prune import Plan, count_macs_params
from edgeprune.sensitivity.result import Sensitivity

SLACK = 0.05  # a plan within 5% under the budget stops the search
STEPS = 6  # plans measured at most


@dataclass(frozen=True)
class MemoryAttempt:
    search_fraction: float
    predicted_bytes: float
    measured_bytes: float
    macs: int


@dataclass
class MemoryPlanResult:
    """The plan kept, what the tool reported for it and for the unpruned network, and the attempts."""

    plan: Plan
    model: nn.Module
    budget: str  # the budget field: sram_kib, flash_kib or arena_kib
    tool: str  # what measured it, e.g. "TFLM arena"
    budget_bytes: float
    base_bytes: float
    measured_bytes: float
    predicted_bytes: float
    macs: int
    base_macs: int
    params: int
    base_params: int
    damage: str
    attempts: list[MemoryAttempt] = field(default_factory=list)

    @property
    def met(self) -> bool:
        return self.measured_bytes <= self.budget_bytes

    @property
    def fraction(self) -> float:
        return self.measured_bytes / self.base_bytes

    def summary(self) -> dict[str, Any]:
        return {
            "budget": {"kind": KIND, "field": self.budget, "kib": round(self.budget_bytes / 1024, 3)},
            "tool": self.tool,
            "base_kib": round(self.base_bytes / 1024, 3),
            "predicted_kib": round(self.predicted_bytes / 1024, 3),
            "measured_kib": round(self.measured_bytes / 1024, 3),
            "fraction": round(self.fraction, 4),
            "met": self.met,
            "macs": self.macs,
            "base_macs": self.base_macs,
            "macs_fraction": round(self.macs / self.base_macs, 4),
            "params": self.params,
            "base_params": self.base_params,
            "damage": self.damage,
            "attempts": [asdict(a) for a in self.attempts],
        }


def _next_search(attempts: list[MemoryAttempt], budget_bytes: float) -> float:
    """Halfway between the largest search target measured within the budget and the smallest measured over it
    once both exist (widths are discrete: a target between two can give either plan); before that, the last
    target scaled by ``budget / measured`` (a little under when it was over)."""
    under = [a.search_fraction for a in attempts if a.measured_bytes <= budget_bytes]
    over = [a.search_fraction for a in attempts if a.measured_bytes > budget_bytes]
    if under and over and min(over) > max(under):
        return (max(under) + min(over)) / 2
    last = attempts[-1]
    step = budget_bytes / last.measured_bytes * (0.995 if last.measured_bytes > budget_bytes else 1.0)
    return min(last.search_fraction * step, 1.0)


def plan_to_memory(
    model: nn.Module,
    example: torch.Tensor,
    sens: Sensitivity | None,
    budget: str,
    budget_bytes: float,
    cost: MemoryModel,
    measure: Callable[[Plan], float],
    tool: str,
    *,
    importance: str | Criterion = "l2",
    objective: str = "metric",
    round_to: int = 8,
    max_ratio: float = 0.9,
    ignored_layers: Iterable[str] = (),
    use_blocks: bool = False,
    spec: Any = None,
    units: Sequence[Unit] = (),
) -> MemoryPlanResult:
    """The least-damage plan whose ``measure`` (the tool's bytes for the plan's network) is within
    ``budget_bytes``; ``cost`` predicts it and is refitted on every measurement (``model`` is untouched).
    Without ``sens`` cuts are priced by weight magnitude weighted by the MACs share of each group (``units``)."""
    ignored_layers = list(ignored_layers)
    base = cost.full
    goal = budget_bytes / base
    if not 0.0 < goal < 1.0:
        raise EdgepruneError(
            f"prune.{budget} = {budget_bytes / 1024:g} KiB: the unpruned network needs {base / 1024:.1f} KiB ({tool});"
            " a budget must be below that"
        )
    damage, curves = "sensitivity scan", sens
    if curves is None:
        curves = capacity_sensitivity(model, example, units, round_to, ignored_layers)
        objective, use_blocks, damage = "estimate", False, NOSCAN
    criterion = get_importance(importance) if isinstance(importance, str) else importance
    search = goal
    attempts: list[MemoryAttempt] = []
    made: list[BudgetPlan] = []
    for _ in range(STEPS):
        opts = PlanOptions(
            budget=min(search, 1.0), kind=KIND, round_to=round_to, max_ratio=max_ratio,
            ignored_layers=tuple(ignored_layers), use_blocks=use_blocks,
        )  # fmt: skip
        planned = allocate_to_budget(
            model, example, curves, opts, objective, criterion, cost=cost, exact=cost.exact, spec=spec
        )
        predicted = cost.predict(cost.plan_counts(planned.plan))
        measured = measure(planned.plan)
        attempts.append(MemoryAttempt(search, predicted, measured, planned.macs))
        made.append(planned)
        if (1.0 - SLACK) * budget_bytes <= measured <= budget_bytes:
            break
        search = _next_search(attempts, budget_bytes)
    within = [i for i, a in enumerate(attempts) if a.measured_bytes <= budget_bytes]
    best = max(within, key=lambda i: attempts[i].measured_bytes) if within else min(
        range(len(attempts)), key=lambda i: attempts[i].measured_bytes
    )  # fmt: skip
    chosen, att = made[best], attempts[best]
    base_macs, base_params = count_macs_params(model, example)
    _, params = count_macs_params(chosen.model, example)
    return MemoryPlanResult(
        plan=chosen.plan,
        model=chosen.model,
        budget=budget,
        tool=tool,
        budget_bytes=budget_bytes,
        base_bytes=base,
        measured_bytes=att.measured_bytes,
        predicted_bytes=att.predicted_bytes,
        macs=chosen.macs,
        base_macs=base_macs,
        params=params,
        base_params=base_params,
        damage=damage,
        attempts=attempts,
    )
