"""plan_to_budget: sensitivity curves -> allocation -> make_plan -> prune a copy and count exactly (tightening the
search target until the exact fraction meets the budget) -> fill back toward the budget -> score the pruned
model on choosing samples. Each damage objective yields one candidate; the best scored one is returned.

Other cost kinds plug in from above (planning never imports them): :func:`allocate_to_budget` takes ``cost`` (a
:class:`~edgeprune.planning.costmodel.PlanningCost` that serves the kind) and ``exact`` (the fraction of the pruned
copy that decides whether the budget is met, e.g. a latency model evaluated on the real kept widths)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.importance import Criterion
from edgeprune.paths import is_under
from edgeprune.planning.allocate import Allocation, allocate, group_options
from edgeprune.planning.costmodel import CostModel, PlanningCost
from edgeprune.planning.fill import fill_plan, group_infos, rounding_details
from edgeprune.planning.measure import pruned_copy, settle_and_score
from edgeprune.planning.options import PlanOptions
from edgeprune.planning.result import Planned
from edgeprune.prune import Plan, count_macs_params, make_plan
from edgeprune.sensitivity.result import Sensitivity
from edgeprune.task import CLASSIFICATION, Task


def _ratio_keys(alloc: Allocation, sens: Sensitivity) -> dict[str, float]:
    """make_plan keys: the root, or the first member left standing when a dropped block held the root."""
    keys: dict[str, float] = {}
    for root, ratio in alloc.ratios.items():
        curve = sens.group(root)
        alive = [m for m in (curve.members if curve else [root]) if not is_under(m, alloc.blocks)]
        if alive:
            keys[alive[0]] = ratio
    return keys


def _damage_priority(sens: Sensitivity, objective: str, opts: PlanOptions):
    """Fill priority: damage removed per fraction of budget given back (groups the scan found cheap go first)."""
    up = sens.higher_is_better
    tables = {
        c.root: group_options(c, sens.base, objective, opts.max_ratio, opts.round_to, higher_is_better=up)
        for c in sens.groups
    }

    def damage(root: str, keep: int) -> float:
        options = tables.get(root) or []
        fitting = [o for o in options if o.keep >= keep]
        return min((o.damage for o in fitting), default=0.0)

    def priority(root: str, new_keep: int, added: float) -> float:
        step = new_keep - max((o.keep for o in tables.get(root, []) if o.keep < new_keep), default=new_keep)
        return (damage(root, new_keep - step) - damage(root, new_keep)) / max(added, 1e-12)

    return priority


ExactFraction = Callable[[nn.Module, Plan], float]  # (pruned copy, its plan) -> fraction of the unpruned cost
COUNTED = ("macs", "params")  # kinds counted here; others need an injected cost and exact check


@dataclass
class BudgetPlan:
    """An allocation made into a plan whose exact fraction meets the budget (no fill, no scoring)."""

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
        return {
            "budget": {"kind": self.kind, "fraction": self.budget},
            "fraction": round(self.fraction, 6),
            "macs_fraction": round(self.macs / self.base_macs, 6),
            "params_fraction": round(self.params / self.base_params, 6),
            "ratios": dict(self.allocation.ratios),
            "blocks": list(self.allocation.blocks),
            "attempts": self.attempts,
        }


def allocate_to_budget(
    model: nn.Module,
    example: torch.Tensor,
    sens: Sensitivity,
    opts: PlanOptions,
    objective: str,
    criterion: Criterion | str,
    cost: PlanningCost | None = None,
    exact: ExactFraction | None = None,
    spec: dict | None = None,
) -> BudgetPlan:
    """Allocate, make the plan, prune a copy, and tighten the search target until the exact fraction meets
    ``opts.budget``. ``cost``/``exact`` serve kinds other than MACs and params (both needed then)."""
    if opts.kind not in COUNTED and (cost is None or exact is None):
        raise EdgepruneError(f"budget kind '{opts.kind}' needs a cost model and an exact check (counted: {COUNTED})")
    skip = tuple(g.root for g in sens.groups if set(g.members) & set(opts.ignored_layers))
    if cost is None:
        cost = CostModel(model, example, [(g.root, g.members, g.consumers) for g in sens.groups if g.root not in skip])
    base_macs, base_params = count_macs_params(model, example)
    target = opts.budget
    result: BudgetPlan | None = None
    for attempt in range(1, opts.attempts + 1):
        alloc = allocate(
            sens, cost, target, opts.kind, objective, opts.max_ratio, opts.round_to, opts.use_blocks, skip
        )  # fmt: skip
        plan = make_plan(
            model, example, _ratio_keys(alloc, sens), importance=criterion, blocks=alloc.blocks,
            round_to=opts.round_to, ignored_layers=opts.ignored_layers, max_ratio=opts.max_ratio, spec=spec,
        )  # fmt: skip
        pruned, macs, params = pruned_copy(model, plan, example)
        result = BudgetPlan(plan, pruned, opts.kind, opts.budget, macs, params, base_macs, base_params, alloc, attempt)
        if exact is not None:
            result.exact_fraction = float(exact(pruned, plan))
        if result.fraction <= opts.budget + 1e-9:
            return result
        target = min(target * 0.995, target * opts.budget / result.fraction)  # the cost model was optimistic
    assert result is not None
    raise EdgepruneError(
        f"could not meet the {opts.kind} budget {opts.budget}: best exact fraction {result.fraction:.4f} after"
        f" {opts.attempts} tries"
    )


def plan_to_budget(
    model: nn.Module,
    example: torch.Tensor,
    sens: Sensitivity,
    opts: PlanOptions,
    criterion: Criterion | str,
    samples: tuple[torch.Tensor, torch.Tensor] | None = None,
    task: Task = CLASSIFICATION,
    spec: dict | None = None,
    calibration: torch.Tensor | None = None,
) -> Planned:
    """The best-scoring plan whose exact ``opts.kind`` fraction is at most ``opts.budget`` (``model`` untouched).

    ``samples``: choosing samples (never validation) that recalibrate BatchNorm and score each candidate."""
    if list(example.shape[1:]) != list(sens.input_shape[1:]):
        raise EdgepruneError(f"sensitivity was measured on inputs {sens.input_shape}, not {list(example.shape)}")
    if opts.kind not in COUNTED:
        raise EdgepruneError(f"plan_to_budget counts {COUNTED}; budget kind '{opts.kind}' plans through its own cost")
    skip = tuple(g.root for g in sens.groups if set(g.members) & set(opts.ignored_layers))
    cost = CostModel(model, example, [(g.root, g.members, g.consumers) for g in sens.groups if g.root not in skip])
    base_macs, base_params = count_macs_params(model, example)
    infos = group_infos(model, example, opts.ignored_layers)
    base_metric = settle_and_score(copy.deepcopy(model), *samples, 0, task) if samples else None
    best: Planned | None = None
    for objective in opts.objectives:
        allocated = allocate_to_budget(model, example, sens, opts, objective, criterion, cost)
        plan, alloc, attempts = allocated.plan, allocated.allocation, allocated.attempts
        plan, pruned, macs, params = fill_plan(
            model, example, plan, infos, opts.budget, opts.kind, criterion, opts.round_to, opts.max_ratio,
            opts.ignored_layers, _damage_priority(sens, objective, opts), opts.fill,
        )  # fmt: skip
        plan.model = spec
        predicted = settle_and_score(pruned, *samples, opts.recalibrate, task, calibration) if samples else None
        base = base_macs if opts.kind == "macs" else base_params
        candidate = Planned(
            plan, pruned, opts.kind, opts.budget, macs, params, base_macs, base_params, "sensitivity",
            predicted, base_metric,
            {
                "objective": objective,
                "ratios": dict(alloc.ratios),
                "blocks": list(plan.blocks),
                "additive_metric_drop": round(alloc.metric_drop, 4),
                "attempts": attempts,
                **rounding_details(plan, infos, (macs if opts.kind == "macs" else params) / base, opts),
            },
        )  # fmt: skip
        if best is None or (predicted is not None and task.better(predicted, best.predicted)):
            best = candidate
    assert best is not None
    return best
