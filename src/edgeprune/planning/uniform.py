"""Uniform allocation: the single channel ratio, applied to every group, that meets a MACs budget."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.models import ModelSpec
from edgeprune.prune import Plan, apply_plan, count_macs_params, make_plan
from edgeprune.prune.importance import Scorer

PruneAt = Callable[[float], tuple[Any, int]]


def smallest_ratio_meeting(
    prune_at: PruneAt, budget_macs: int, max_ratio: float = 0.9, tol: float = 0.005
) -> tuple[float, Any, int]:
    """Bisect the uniform ratio r in [0, max_ratio] for the least pruning whose MACs <= ``budget_macs``.

    ``prune_at(r)`` returns (anything, MACs) for ratio r, e.g. a pruned copy; MACs fall monotonically with r.
    """
    model, macs = prune_at(max_ratio)
    if macs > budget_macs:
        raise EdgepruneError(
            f"even pruning {max_ratio:.0%} of every group leaves {macs:,} MACs, above the budget {budget_macs:,};"
            " raise prune.max_ratio or loosen the budget"
        )
    lo, hi, best = 0.0, max_ratio, (max_ratio, model, macs)
    while hi - lo > tol:
        mid = (lo + hi) / 2
        model, macs = prune_at(mid)
        if macs <= budget_macs:
            hi, best = mid, (mid, model, macs)
        else:
            lo = mid
    return best


def prune_uniform(
    model: nn.Module,
    example: torch.Tensor,
    ratio: float,
    importance: str | Scorer = "magnitude",
    round_to: int = 1,
    spec: ModelSpec | None = None,
    ignored_layers: Iterable[str] = (),
) -> tuple[nn.Module, Plan, int]:
    """A pruned deep copy where every coupled group loses ``ratio`` of its width; returns (model, plan, MACs)."""
    plan = make_plan(
        model, example, ratio, importance=importance, round_to=round_to, ignored_layers=ignored_layers, spec=spec
    )
    pruned = apply_plan(copy.deepcopy(model).eval(), plan, example)
    macs, _ = count_macs_params(pruned, example)
    return pruned, plan, int(macs)
