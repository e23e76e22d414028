"""How deploy reaches its MACs budget: a registry of pruning strategies keyed by ``prune.method``.

- ``uniform``: one ratio for every coupled group, bisected to the budget (what torch-pruning users do today).
- ``sensitivity``: per-group ratios and blocks from a cached sensitivity scan, allocated greedily at the least
  predicted accuracy loss (measured better than uniform at tight budgets; see benchmarks/compression.py).
Both choose on the select split only, never on validation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from edgeprune.config import PruneConfig
from edgeprune.data import Dataset
from edgeprune.errors import ConfigError
from edgeprune.importance import get_importance
from edgeprune.models import ModelSpec
from edgeprune.planning.uniform import prune_uniform, smallest_ratio_meeting
from edgeprune.prune import Plan


@dataclass
class Pruned:
    """A pruned copy of the baseline, its replayable plan, its exact MACs, and what the strategy decided."""

    model: nn.Module
    plan: Plan
    macs: int
    details: dict[str, Any] = field(default_factory=dict)


Strategy = Callable[[nn.Module, torch.Tensor, ModelSpec, PruneConfig, Dataset, int], Pruned]


def _uniform(
    baseline: nn.Module, example: torch.Tensor, spec: ModelSpec, cfg: PruneConfig, data: Dataset, base_macs: int
) -> Pruned:
    criterion = get_importance(cfg.importance, baseline, data.x_select, data.y_select)

    def prune_at(ratio: float) -> tuple[tuple[nn.Module, Plan], int]:
        model, plan, macs = prune_uniform(baseline, example, ratio, criterion, cfg.round_to, spec, cfg.ignored_layers)
        return (model, plan), macs

    ratio, (model, plan), macs = smallest_ratio_meeting(prune_at, int(cfg.macs * base_macs), cfg.max_ratio)
    return Pruned(model, plan, macs, {"ratio": ratio})


def _sensitivity(
    baseline: nn.Module, example: torch.Tensor, spec: ModelSpec, cfg: PruneConfig, data: Dataset, base_macs: int
) -> Pruned:
    from edgeprune.planning.budget import plan_to_budget
    from edgeprune.sensitivity import sensitivity

    sens = sensitivity(
        baseline,
        data,
        importance=cfg.importance,
        round_to=cfg.round_to,
        ignored_layers=cfg.ignored_layers,
        name=spec.spec,
    )
    criterion = get_importance(cfg.importance, baseline, data.x_select, data.y_select)
    planned = plan_to_budget(
        baseline,
        example,
        sens,
        cfg.macs,
        kind="macs",
        importance=criterion,
        max_ratio=cfg.max_ratio,
        round_to=cfg.round_to,
        ignored_layers=cfg.ignored_layers,
        spec=spec,
    )
    return Pruned(planned.model, planned.plan, planned.macs, planned.summary())


STRATEGIES: dict[str, Strategy] = {"uniform": _uniform, "sensitivity": _sensitivity}


def prune_to_budget(
    baseline: nn.Module, example: torch.Tensor, spec: ModelSpec, cfg: PruneConfig, data: Dataset, base_macs: int
) -> Pruned:
    """Prune a copy of ``baseline`` to at most ``cfg.macs`` of ``base_macs`` with the strategy ``cfg.method``."""
    strategy = STRATEGIES.get(cfg.method)
    if strategy is None:
        raise ConfigError(f"prune.method '{cfg.method}' is unknown (known: {sorted(STRATEGIES)})")
    return strategy(baseline, example, spec, cfg, data, base_macs)
