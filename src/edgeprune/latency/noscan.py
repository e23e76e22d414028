"""No-scan damage: stand-in sensitivity curves from weight magnitude alone, for planning without a scan.

Without measured curves the planner still needs a price for cutting each group. Here cutting a group to ``keep``
indices costs ``m**2``, where ``m`` is the share of the group's importance mass (L2 magnitude by default) on the
removed indices: the least important indices go first, equal prices mean equal removed mass, and the square
makes the price grow faster than linearly, so the allocator spreads cuts instead of emptying the one group that
saves the most latency. It knows nothing of accuracy: with trained weights and data, a sensitivity scan is the
better price; with random weights (a latency study) it is the only honest one. No blocks are offered (a block's
damage cannot be read from magnitudes).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from edgeprune.graph.depgraph import build_graph, group_of, iter_groups, output_layers, resolve_layers
from edgeprune.importance import Criterion, get_importance
from edgeprune.prune import count_macs_params, keep_count
from edgeprune.sensitivity.result import GroupCurve, Point, Sensitivity

RATIOS = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05 .. 0.95
LABEL = "magnitude (no scan)"


def removed_mass(scores: torch.Tensor, width: int, channel_groups: int, keep: int) -> float:
    """Share of the group's importance mass on the indices a cut to ``keep`` per slice removes."""
    per_slice = scores.detach().float().abs().reshape(channel_groups, width // channel_groups).mean(0)
    total = float(per_slice.sum())
    if total <= 0.0:
        return 1.0 - keep / per_slice.numel()
    kept = float(per_slice.sort(descending=True).values[:keep].sum())
    return max(0.0, 1.0 - kept / total)


def magnitude_sensitivity(
    model: nn.Module,
    example: torch.Tensor,
    importance: str | Criterion = "l2",
    round_to: int = 1,
    ignored_layers: Iterable[str] = (),
    name: str = "",
) -> Sensitivity:
    """Curves for every prunable group with damage in ``estimate`` (plan with ``objective="estimate"``)."""
    model = model.eval()
    criterion = get_importance(importance) if isinstance(importance, str) else importance
    ignored = resolve_layers(model, [*output_layers(model, example), *ignored_layers])
    dg = build_graph(model, example)
    macs, params = count_macs_params(model, example)
    base = Point(ratio=0.0, keep=0, metric=0.0, loss=0.0, macs=macs, params=params)
    curves = []
    for info, _ in iter_groups(dg, model, ignored):
        if not info.prunable or info.kind == "embedding":
            continue
        with torch.no_grad():
            scores = criterion(group_of(dg, model, info.root, list(range(info.width))))
        if scores is None or scores.numel() != info.width:
            continue
        curve = GroupCurve(
            info.root, info.kind, info.width, info.channel_groups, info.members, info.consumers, info.coupling
        )
        for r in RATIOS:
            keep = keep_count(info.width, info.channel_groups, r, round_to)
            m = removed_mass(scores, info.width, info.channel_groups, keep)
            curve.points.append(Point(ratio=r, keep=keep, metric=0.0, loss=0.0, macs=0, params=0, estimate=m * m))
        curves.append(curve)
    return Sensitivity(
        model=name or type(model).__name__,
        data="none",
        samples=0,
        ratios=list(RATIOS),
        importance=getattr(criterion, "name", str(importance)),
        round_to=round_to,
        metric_name=LABEL,
        base=base,
        groups=curves,
        blocks=[],
        input_shape=list(example.shape),
        estimate={"method": LABEL, "measured": False},
    )
