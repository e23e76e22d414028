"""plan_to_budget: sensitivity curves -> allocation -> make_plan -> prune a copy and count exactly; tighten the
search target until the exact MACs (or params) fraction meets the budget.

Other cost kinds plug in from above (planning never imports them): pass ``cost`` (a
:class:`~edgeprune.planning.costmodel.PlanningCost` that serves ``kind``) and ``exact`` (the fraction of the pruned
copy that decides whether the budget is met, e.g. a latency model evaluated on the real kept widths)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.importance import Criterion, get_importance
from edgeprune.planning.allocate import Allocation, allocate
from edgeprune.planning.costmodel import CostModel, PlanningCost
from edgeprune.prune import Plan, apply_plan, count_macs_params, make_plan
from edgeprune.sensitivity.result import Sensitivity

KINDS = ("macs", "params")
ExactFraction = Callable[[nn.Module, Plan], float]  # (pruned copy, its plan) -> fraction of the unpruned cost


@dataclass
class BudgetPlan:
    """A verified plan with the numbers that justify it."""

    plan: Plan
    model: nn.Module  # the pruned copy the exact counts come from
    kind: str
    budget: float
    macs: int
    params: int
    base_macs: int
    base_params: int
    allocation: Allocation
    attempts: int = 1
    notes: list[str] = field(default_factory=list)
    exact_fraction: float | None = None  # set for injected kinds (e.g. latency): what ``exact`` returned

    @property
    def fraction(self) -> float:
        if self.exact_fraction is not None:
            return self.exact_fraction
        return (self.macs / self.base_macs) if self.kind == "macs" else (self.params / self.base_params)

    def summary(self) -> dict[str, Any]:
        """Plain-data record stored beside the plan (``planning`` field of plan.json)."""
        return {
            "budget": {"kind": self.kind, "fraction": self.budget},
            "fraction": round(self.fraction, 6),
            "macs": self.macs,
            "params": self.params,
            "base_macs": self.base_macs,
            "base_params": self.base_params,
            "macs_fraction": round(self.macs / self.base_macs, 6),
            "params_fraction": round(self.params / self.base_params, 6),
            "ratios": dict(self.allocation.ratios),
            "blocks": list(self.allocation.blocks),
            "predicted": {
                "metric_drop": round(self.allocation.metric_drop, 4),
                "damage": round(self.allocation.damage, 6),
                "cost_model_fraction": round(self.allocation.predicted_fraction, 6),
            },
            "attempts": self.attempts,
        }


def _ratio_keys(alloc: Allocation, sens: Sensitivity) -> dict[str, float]:
    """make_plan keys: the root, or the first member left standing when a dropped block held the root."""
    keys: dict[str, float] = {}
    for root, ratio in alloc.ratios.items():
        curve = sens.group(root)
        members = curve.members if curve else [root]
        alive = [m for m in members if not any(m == b or m.startswith(b + ".") for b in alloc.blocks)]
        if alive:
            keys[alive[0]] = ratio
    return keys


def plan_to_budget(
    model: nn.Module,
    example: torch.Tensor,
    sens: Sensitivity,
    budget: float,
    kind: str = "macs",
    importance: str | Criterion | None = None,
    samples: tuple[torch.Tensor, torch.Tensor] | None = None,
    objective: str = "metric",
    max_ratio: float = 0.9,
    round_to: int = 1,
    ignored_layers: Iterable[str] = (),
    use_blocks: bool = True,
    spec: Any = None,
    attempts: int = 8,
    cost: PlanningCost | None = None,
    exact: ExactFraction | None = None,
) -> BudgetPlan:
    """The least-damage plan whose exact ``kind`` fraction is at most ``budget`` (``model`` is untouched).

    ``kind`` is ``macs`` or ``params`` (counted here), or any kind an injected ``cost`` serves; then ``exact``
    must say what fraction the pruned copy really has."""
    if kind not in KINDS and (cost is None or exact is None):
        raise EdgepruneError(
            f"budget kind '{kind}' is unknown (known: {list(KINDS)}; other kinds need a cost model and an exact check)"
        )
    if list(example.shape[1:]) != list(sens.input_shape[1:]):
        raise EdgepruneError(f"sensitivity was measured on inputs {sens.input_shape}, not {list(example.shape)}")
    ignored_layers = list(ignored_layers)
    skip = tuple(g.root for g in sens.groups if set(g.members) & set(ignored_layers))
    criterion = importance if importance is not None else sens.importance
    if isinstance(criterion, str):
        x, y = samples if samples is not None else (None, None)
        criterion = get_importance(criterion, model, x, y)
    if cost is None:
        cost = CostModel(model, example, [(g.root, g.members, g.consumers) for g in sens.groups if g.root not in skip])
    base_macs, base_params = count_macs_params(model, example)
    target = budget
    result: BudgetPlan | None = None
    for attempt in range(1, attempts + 1):
        alloc = allocate(sens, cost, target, kind, objective, max_ratio, round_to, use_blocks, skip)
        plan = make_plan(
            model,
            example,
            _ratio_keys(alloc, sens),
            importance=criterion,
            blocks=alloc.blocks,
            round_to=round_to,
            ignored_layers=ignored_layers,
            max_ratio=max_ratio,
            spec=spec,
        )
        pruned = apply_plan(copy.deepcopy(model), plan, example)
        macs, params = count_macs_params(pruned, example)
        result = BudgetPlan(plan, pruned, kind, budget, macs, params, base_macs, base_params, alloc, attempt)
        if exact is not None:
            result.exact_fraction = float(exact(pruned, plan))
        if result.fraction <= budget + 1e-9:
            return result
        # the cost model was optimistic: aim lower by the observed ratio and search again
        target = min(target * 0.995, target * budget / result.fraction)
    raise EdgepruneError(
        f"could not meet the {kind} budget {budget}: best exact fraction {result.fraction:.4f} after {attempts} tries"
    )
