"""Global ranking: one score threshold across every coupled group, bisected to a MACs budget.

Every channel/neuron of every prunable group is scored by the criterion; channels below a single global
threshold are removed, so layers lose different fractions (``uniform`` removes the same fraction
everywhere). Whether that is fair depends on the scores being comparable across layers: that is what
the ``relative-*`` criteria (:mod:`edgeprune.importance.relative`) are for. Attention heads are not
ranked here (channel and neuron groups only).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.graph.depgraph import build_graph, group_of, iter_groups, output_layers, resolve_layers
from edgeprune.graph.trace import ignore_advice
from edgeprune.models import ModelSpec
from edgeprune.prune import Plan, apply_plan, count_macs_params, make_plan
from edgeprune.prune.importance import Scorer, resolve_importance


@dataclass
class GlobalPruned:
    """A globally ranked, pruned copy: model, replayable plan, MACs, and the ratio each group got."""

    model: nn.Module
    plan: Plan
    macs: int
    threshold: float
    ratios: dict[str, float] = field(default_factory=dict)


def group_scores(
    model: nn.Module, example: torch.Tensor, importance: str | Scorer, ignored_layers: Iterable[str] = ()
) -> dict[str, torch.Tensor]:
    """Root -> per-index scores of every prunable channel/neuron group (the classifier head is never one)."""
    scorer = resolve_importance(importance)
    ignored = resolve_layers(model, [*output_layers(model, example), *ignored_layers])
    dg = build_graph(model, example)
    scores: dict[str, torch.Tensor] = {}
    for info, _ in iter_groups(dg, model, ignored):
        if not info.prunable or info.kind == "embedding":
            continue
        with torch.no_grad():
            s = scorer(group_of(dg, model, info.root, list(range(info.width))))
        if s is None or s.numel() != info.width:
            raise EdgepruneError(f"importance gave no scores for group '{info.root}'; {ignore_advice(info.root)}")
        scores[info.root] = s.detach().float().cpu()
    return scores


def ratios_at(scores: dict[str, torch.Tensor], threshold: float, max_ratio: float) -> dict[str, float]:
    """Per-group ratio removing the indices scored below ``threshold`` (at most ``max_ratio`` of any group)."""
    ratios = {}
    for root, s in scores.items():
        dropped = int((s < threshold).sum())
        ratios[root] = min(dropped / s.numel(), max_ratio)
    return ratios


def prune_global(
    model: nn.Module,
    example: torch.Tensor,
    budget_macs: int,
    importance: str | Scorer = "relative-l2",
    round_to: int = 1,
    max_ratio: float = 0.9,
    spec: ModelSpec | None = None,
    ignored_layers: Iterable[str] = (),
) -> GlobalPruned:
    """The least-pruned copy of ``model`` whose MACs <= ``budget_macs`` under one global score threshold."""
    ignored_layers = list(ignored_layers)
    scores = group_scores(model, example, importance, ignored_layers)
    if not scores:
        raise EdgepruneError("global ranking: the model has no prunable channel or neuron group")
    candidates = torch.cat(list(scores.values())).unique().sort().values.tolist()

    def prune_at(index: int) -> GlobalPruned:
        threshold = candidates[index]
        ratios = ratios_at(scores, threshold, max_ratio)
        plan = make_plan(
            model,
            example,
            ratios,
            importance=importance,
            round_to=round_to,
            max_ratio=max_ratio,
            spec=spec,
            ignored_layers=ignored_layers,
        )
        pruned = apply_plan(copy.deepcopy(model).eval(), plan, example)
        return GlobalPruned(pruned, plan, count_macs_params(pruned, example)[0], threshold, ratios)

    lo, hi = 0, len(candidates) - 1
    best = prune_at(hi)
    if best.macs > budget_macs:
        raise EdgepruneError(
            f"global ranking: even removing up to {max_ratio:.0%} of every group leaves {best.macs:,} MACs,"
            f" above the budget {budget_macs:,}; raise max_ratio or loosen the budget"
        )
    while hi - lo > 1:  # invariant: candidates[hi] meets the budget; candidates[lo] (lo > 0) does not
        mid = (lo + hi) // 2
        trial = prune_at(mid)
        if trial.macs <= budget_macs:
            hi, best = mid, trial
        else:
            lo = mid
    if lo == 0 and hi == 1:
        first = prune_at(0)
        if first.macs <= budget_macs:
            best = first
    return best
