"""plan_to_budget: sensitivity curves -> allocation -> make_plan -> prune a copy and count exactly; tighten the
search target until the exact MACs (or params) fraction meets the budget."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.importance import Criterion, get_importance
from edgeprune.planning.allocate import Allocation, allocate
from edgeprune.planning.costmodel import CostModel
from edgeprune.prune import Plan, apply_plan, count_macs_params, make_plan
from edgeprune.sensitivity.result import Sensitivity

KINDS = ("macs", "params")


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

    @property
    def fraction(self) -> float:
        return (self.macs / self.base_macs) if self.kind == "macs" else (self.params / self.base_params)

    def summary(self) -> dict[str, Any]:
        """Plain-data record stored beside the plan (``planning`` field of plan.json)."""
        return {
            "budget": {"kind": self.kind, "fraction": self.budget},
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
) -> BudgetPlan:
    """The least-damage plan whose exact ``kind`` fraction is at most ``budget`` (``model`` is untouched)."""
    if kind not in KINDS:
        raise EdgepruneError(f"budget kind '{kind}' is unknown (known: {list(KINDS)})")
    if list(example.shape[1:]) != list(sens.input_shape[1:]):
        raise EdgepruneError(f"sensitivity was measured on inputs {sens.input_shape}, not {list(example.shape)}")
    ignored_layers = list(ignored_layers)
    skip = tuple(g.root for g in sens.groups if set(g.members) & set(ignored_layers))
    criterion = importance if importance is not None else sens.importance
    if isinstance(criterion, str):
        x, y = samples if samples is not None else (None, None)
        criterion = get_importance(criterion, model, x, y)
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
        if result.fraction <= budget + 1e-9:
            return result
        # the cost model was optimistic: aim lower by the observed ratio and search again
        target = min(target * 0.995, target * budget / result.fraction)
    raise EdgepruneError(
        f"could not meet the {kind} budget {budget}: best exact fraction {result.fraction:.4f} after {attempts} tries"
    )
