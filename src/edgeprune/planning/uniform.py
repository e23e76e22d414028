"""Uniform allocation: one channel ratio for every group, bisected to the budget (what torch-pruning users do),
then filled back toward the budget one rounding step at a time where the coarse widths undershoot it."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.importance import Criterion
from edgeprune.planning.fill import fill_plan, finer_levels, group_infos, rounding_details
from edgeprune.planning.measure import pruned_copy, settle_and_score
from edgeprune.planning.options import PlanOptions
from edgeprune.planning.result import Planned
from edgeprune.prune import Plan, count_macs_params, make_plan
from edgeprune.prune.importance import Scorer
from edgeprune.task import CLASSIFICATION, Task

PruneAt = Callable[[float], tuple[Any, int]]


def smallest_ratio_meeting(
    prune_at: PruneAt, budget: int, max_ratio: float = 0.9, tol: float = 0.005, kind: str = "MACs"
) -> tuple[float, Any, int]:
    """Bisect the uniform ratio r in [0, max_ratio] for the least pruning whose cost <= ``budget``.

    ``prune_at(r)`` returns (anything, cost) for ratio r, e.g. a pruned copy; the cost falls monotonically with r.
    """
    model, cost = prune_at(max_ratio)
    if cost > budget:
        raise EdgepruneError(
            f"even pruning {max_ratio:.0%} of every group leaves {cost:,} {kind}, above the budget {budget:,};"
            " raise prune.max_ratio or loosen the budget"
        )
    lo, hi, best = 0.0, max_ratio, (max_ratio, model, cost)
    while hi - lo > tol:
        mid = (lo + hi) / 2
        model, cost = prune_at(mid)
        if cost <= budget:
            hi, best = mid, (mid, model, cost)
        else:
            lo = mid
    return best


def prune_uniform(
    model: nn.Module,
    example: torch.Tensor,
    ratio: float,
    importance: str | Scorer = "magnitude",
    round_to: int = 1,
    spec: Any = None,
    ignored_layers: Iterable[str] = (),
) -> tuple[nn.Module, Plan, int]:
    """A pruned deep copy where every coupled group loses ``ratio`` of its width; returns (model, plan, MACs)."""
    plan = make_plan(
        model, example, ratio, importance=importance, round_to=round_to, ignored_layers=ignored_layers, spec=spec
    )
    pruned, macs, _ = pruned_copy(model, plan, example)
    return pruned, plan, macs


def uniform_to_budget(
    model: nn.Module,
    example: torch.Tensor,
    opts: PlanOptions,
    criterion: Criterion | str,
    samples: tuple[torch.Tensor, torch.Tensor] | None = None,
    task: Task = CLASSIFICATION,
    spec: dict | None = None,
    calibration: torch.Tensor | None = None,
) -> Planned:
    """The least uniform ratio meeting ``opts.budget``, filled back toward it; scored on choosing ``samples``."""
    base_macs, base_params = count_macs_params(model, example)
    base = base_macs if opts.kind == "macs" else base_params
    infos = group_infos(model, example, opts.ignored_layers)
    roots = [r for r, i in infos.items() if i.prunable and i.kind != "head" and not i.extra.get("with_heads")]
    finer: dict[str, int] = {}

    def prune_at(ratio: float) -> tuple[Plan, int]:
        plan = make_plan(
            model, example, ratio, importance=criterion, round_to=opts.round_to,
            ignored_layers=opts.ignored_layers, max_ratio=opts.max_ratio, finer=finer,
        )  # fmt: skip
        _, macs, params = pruned_copy(model, plan, example)
        return plan, macs if opts.kind == "macs" else params

    # round_to may leave narrow groups no width to give (16 wide at round_to 16): then finer steps, as in the fill
    for level in [opts.round_to, *finer_levels(opts.round_to)]:
        finer = {root: level for root in roots} if level < opts.round_to else {}
        try:
            ratio, plan, _ = smallest_ratio_meeting(prune_at, int(opts.budget * base), opts.max_ratio, kind=opts.kind)
            break
        except EdgepruneError:
            if level == 1:
                raise
    plan, pruned, macs, params = fill_plan(
        model, example, plan, infos, opts.budget, opts.kind, criterion, opts.round_to, opts.max_ratio,
        opts.ignored_layers, fill=opts.fill,
    )  # fmt: skip
    plan.model = spec
    base_metric = settle_and_score(copy.deepcopy(model), *samples, 0, task) if samples else None
    predicted = settle_and_score(pruned, *samples, opts.recalibrate, task, calibration) if samples else None
    fraction = (macs / base_macs) if opts.kind == "macs" else (params / base_params)
    return Planned(
        plan, pruned, opts.kind, opts.budget, macs, params, base_macs, base_params, "uniform", predicted, base_metric,
        {"ratio": round(ratio, 4), "groups": len(plan.groups), **rounding_details(plan, infos, fraction, opts)},
    )  # fmt: skip
