"""plan_to_budget: sensitivity curves -> allocation -> make_plan -> prune a copy and count exactly (tightening the
search target until the exact fraction meets the budget) -> fill back toward the budget -> score the pruned
model on choosing samples. Each damage objective yields one candidate; the best scored one is returned."""

from __future__ import annotations

import copy

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.importance import Criterion
from edgeprune.paths import is_under
from edgeprune.planning.allocate import Allocation, allocate, group_options
from edgeprune.planning.costmodel import CostModel
from edgeprune.planning.fill import fill_plan, group_infos
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
    tables = {c.root: group_options(c, sens.base, objective, opts.max_ratio, opts.round_to) for c in sens.groups}

    def damage(root: str, keep: int) -> float:
        options = tables.get(root) or []
        fitting = [o for o in options if o.keep >= keep]
        return min((o.damage for o in fitting), default=0.0)

    def priority(root: str, new_keep: int, added: float) -> float:
        step = new_keep - max((o.keep for o in tables.get(root, []) if o.keep < new_keep), default=new_keep)
        return (damage(root, new_keep - step) - damage(root, new_keep)) / max(added, 1e-12)

    return priority


def _allocated(
    model: nn.Module,
    example: torch.Tensor,
    sens: Sensitivity,
    opts: PlanOptions,
    objective: str,
    criterion: Criterion | str,
    cost: CostModel,
    skip: tuple[str, ...],
    base: int,
) -> tuple[Plan, Allocation, int]:
    """Allocate, make the plan, and tighten the target until the exact count meets the budget."""
    target = opts.budget
    for attempt in range(1, opts.attempts + 1):
        alloc = allocate(
            sens, cost, target, opts.kind, objective, opts.max_ratio, opts.round_to, opts.use_blocks, skip
        )  # fmt: skip
        plan = make_plan(
            model, example, _ratio_keys(alloc, sens), importance=criterion, blocks=alloc.blocks,
            round_to=opts.round_to, ignored_layers=opts.ignored_layers, max_ratio=opts.max_ratio,
        )  # fmt: skip
        _, macs, params = pruned_copy(model, plan, example)
        reached = (macs if opts.kind == "macs" else params) / base
        if reached <= opts.budget + 1e-9:
            return plan, alloc, attempt
        target = min(target * 0.995, target * opts.budget / reached)  # the cost model was optimistic
    raise EdgepruneError(
        f"could not meet the {opts.kind} budget {opts.budget}: best exact fraction {reached:.4f} after {opts.attempts}"
        " tries"
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
) -> Planned:
    """The best-scoring plan whose exact ``opts.kind`` fraction is at most ``opts.budget`` (``model`` untouched).

    ``samples``: choosing samples (never validation) that recalibrate BatchNorm and score each candidate."""
    if list(example.shape[1:]) != list(sens.input_shape[1:]):
        raise EdgepruneError(f"sensitivity was measured on inputs {sens.input_shape}, not {list(example.shape)}")
    ignored = set(opts.ignored_layers)
    skip = tuple(g.root for g in sens.groups if set(g.members) & ignored)
    cost = CostModel(model, example, [(g.root, g.members, g.consumers) for g in sens.groups if g.root not in skip])
    base_macs, base_params = count_macs_params(model, example)
    base = base_macs if opts.kind == "macs" else base_params
    infos = group_infos(model, example, opts.ignored_layers)
    base_metric = settle_and_score(copy.deepcopy(model), *samples, 0, task) if samples else None
    best: Planned | None = None
    for objective in opts.objectives:
        plan, alloc, attempts = _allocated(model, example, sens, opts, objective, criterion, cost, skip, base)
        plan, pruned, macs, params = fill_plan(
            model, example, plan, infos, opts.budget, opts.kind, criterion, opts.round_to, opts.max_ratio,
            opts.ignored_layers, _damage_priority(sens, objective, opts),
        )  # fmt: skip
        plan.model = spec
        predicted = settle_and_score(pruned, *samples, opts.recalibrate, task) if samples else None
        candidate = Planned(
            plan, pruned, opts.kind, opts.budget, macs, params, base_macs, base_params, "sensitivity",
            predicted, base_metric,
            {
                "objective": objective,
                "ratios": dict(alloc.ratios),
                "blocks": list(plan.blocks),
                "additive_metric_drop": round(alloc.metric_drop, 4),
                "attempts": attempts,
            },
        )  # fmt: skip
        if best is None or (predicted is not None and task.better(predicted, best.predicted)):
            best = candidate
    assert best is not None
    return best
