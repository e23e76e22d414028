"""What a deploy checks before any training: can the budget be reached at all with this model's structure?

The least fraction of a MACs or params budget a plan can reach is known from the structure alone: every group
analysis verified pruned by ``prune.max_ratio`` (rounded to ``round_to``), and for the ``sensitivity`` method
every removable block dropped too. That takes seconds on random weights; training a baseline can take hours. When
the budget lies below it, the run stops here naming the groups left alone and why (a hard-coded ``view`` at the
user's file:line, a width ``round_to`` cannot cut, a layer the user ignored).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from edgeprune.baseline import unpruned_structure
from edgeprune.config import PruneConfig
from edgeprune.data import Data
from edgeprune.errors import EdgepruneError
from edgeprune.graph.blocks import find_blocks
from edgeprune.models import ModelSpec
from edgeprune.models.batchnorm import norms_without_statistics, track_statistics
from edgeprune.planning.measure import pruned_copy
from edgeprune.prune import Plan, count_macs_params, make_plan
from edgeprune.task import Task

SHOWN = 3  # groups left alone that the message names


def least_fraction(model: nn.Module, example: torch.Tensor, cfg: PruneConfig) -> tuple[float, Plan]:
    """The smallest fraction of the budget's kind any plan can reach, and the plan that reaches it (its
    ``blocks`` say whether dropping blocks was part of it)."""
    kind, _ = cfg.budget
    base = count_macs_params(model, example)[0 if kind == "macs" else 1]
    blocks = [b.path for b in find_blocks(model, example)] if cfg.method == "sensitivity" else []
    best: tuple[float, Plan] | None = None
    for dropped in [[], blocks] if blocks else [[]]:
        try:
            plan = make_plan(
                model, example, cfg.max_ratio, blocks=dropped, round_to=cfg.round_to,
                ignored_layers=cfg.ignored_layers, max_ratio=cfg.max_ratio,
            )  # fmt: skip
            _, macs, params = pruned_copy(model, plan, example)
        except EdgepruneError:
            if not dropped:
                raise
            continue  # blocks that cannot all go at once: the planner will not drop them all either
        fraction = (macs if kind == "macs" else params) / max(base, 1)
        if best is None or fraction < best[0]:
            best = (fraction, plan)
    assert best is not None
    return best


def _blockers(plan: Plan, cfg: PruneConfig) -> str:
    """The groups left alone for a reason the user can act on (not the classifier head)."""
    own = [a for a in plan.left_alone if not a.reason.startswith("ignored:") or _user_ignored(a.reason, cfg)]
    if not own:
        return ""
    shown = "; ".join(f"group '{a.root}' {_why(a.reason)}" for a in own[:SHOWN])
    more = f"; and {len(own) - SHOWN} more group(s)" if len(own) > SHOWN else ""
    return f" Left alone: {shown}{more}."


def _user_ignored(reason: str, cfg: PruneConfig) -> bool:
    return any(layer in reason.removeprefix("ignored:").replace(",", " ").split() for layer in cfg.ignored_layers)


def _why(reason: str) -> str:
    if reason.startswith("ignored:"):
        return f"is ignored ({reason.removeprefix('ignored:').strip()}: --ignore / prune.ignored_layers)"
    return f"cannot shrink ({reason})"


def check_budget_reachable(model: nn.Module, example: torch.Tensor, cfg: PruneConfig) -> None:
    """Refuse a MACs or params budget below :func:`least_fraction`, naming what blocks it."""
    if cfg.latency or cfg.when == "before":
        return  # measured on the target, or planned at initialization: their planners say it themselves
    kind, budget = cfg.budget  # with prune.max_drop: the floor the tolerance search goes down to
    reachable, plan = least_fraction(model, example, cfg)
    if reachable <= budget + 1e-9:
        return
    method = " and dropping every removable block" if plan.blocks else ""
    raise EdgepruneError(
        f"the {kind} budget {budget:g}x cannot be reached by this model: pruning {cfg.max_ratio:.0%} of every group"
        f" it can shrink (round_to {cfg.round_to}){method} leaves {reachable:.3f}x.{_blockers(plan, cfg)} Raise the"
        f" budget to at least {reachable:.3f}, or raise prune.max_ratio / lower round_to (refused before any"
        " training)"
    )


def check_before_training(
    spec: str | ModelSpec,
    data: Data,
    task: Task,
    checkpoint: str | Path | None,
    estimate_bn_stats: bool,
    cfg: PruneConfig,
) -> None:
    """Before the baseline is trained or loaded: the model is built and checked against the data (BatchNorm
    statistics, shapes, loss), and its structure must be able to reach the budget."""
    _, model = unpruned_structure(spec, data, task, checkpoint, estimate_bn_stats)
    track_statistics(model, norms_without_statistics(model))  # structure only: any statistics will do
    check_budget_reachable(model.eval(), data.example(), cfg)
