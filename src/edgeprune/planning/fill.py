"""Honour a budget from below: after a planner lands under its budget, give groups back whole ``round_to``
steps, best first, while the cost stays within the budget, then verify by pruning for real and counting.

Rounding widths to multiples of 16 makes every group move in coarse steps, so a single uniform ratio (or an
allocation made on a coarse grid) can land far under the budget (0.273x for a 0.5x request was measured
here); filling brings it to within a few percent where the widths allow it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

import torch
from torch import nn

from edgeprune.graph.depgraph import GroupInfo, build_graph, iter_groups, output_layers, resolve_layers
from edgeprune.paths import is_under
from edgeprune.planning.costmodel import CostModel
from edgeprune.planning.measure import pruned_copy
from edgeprune.planning.options import PlanOptions
from edgeprune.prune import Plan, count_macs_params, keep_step, make_plan
from edgeprune.prune.importance import Scorer

Priority = Callable[[str, int, float], float]  # (root, new keep, fraction added) -> higher goes first


def group_infos(model: nn.Module, example: torch.Tensor, ignored_layers: tuple[str, ...] = ()) -> dict[str, GroupInfo]:
    """Root -> coupled group of ``model`` (the classifier head and ``ignored_layers`` marked unprunable)."""
    ignored = resolve_layers(model, [*output_layers(model, example), *ignored_layers])
    dg = build_graph(model, example)
    return {info.root: info for info, _ in iter_groups(dg, model, ignored)}


def step_of(info: GroupInfo, round_to: int) -> int:
    """Indices one rounding step adds to a group (over all its channel slices)."""
    return keep_step(info.channel_groups, round_to) * info.channel_groups


def _ratios(keeps: Mapping[str, int], widths: Mapping[str, int]) -> dict[str, float]:
    return {root: 1.0 - keep / widths[root] for root, keep in keeps.items() if keep < widths[root]}


def grow(
    keeps: dict[str, int],
    infos: Mapping[str, GroupInfo],
    cost: CostModel,
    blocks: list[str],
    budget: float,
    kind: str,
    round_to: int,
    priority: Priority | None = None,
    max_rounds: int = 200,
    finer: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Give back whole steps while the cost stays within ``budget``: single steps by ``priority`` (default: the
    largest that fits); when none fits, the swap (one group up a step, another down a step) that gains the most.
    Greedy single steps alone stall far under the budget with coarse widths (0.455x for a 0.5x request on the
    default model at round_to 16, where 0.499x exists); the swaps get out of that. ``finer`` gives some groups a
    smaller step than ``round_to``."""
    keeps = dict(keeps)
    widths = {root: info.width for root, info in infos.items()}
    finer = finer or {}
    steps = {root: step_of(infos[root], finer.get(root, round_to)) for root in keeps}
    floor = {root: min(steps[root], widths[root]) for root in keeps}

    def fraction(k: Mapping[str, int]) -> float:
        return cost.fraction({r: v / widths[r] for r, v in k.items()}, blocks, kind)

    rank = priority or (lambda r, k, d: d)
    current = fraction(keeps)
    for _ in range(max_rounds):
        ups = {r: k + steps[r] for r, k in keeps.items() if k + steps[r] <= widths[r]}
        singles = []
        for root, new in ups.items():
            f = fraction({**keeps, root: new})
            if current < f <= budget + 1e-12:
                singles.append((rank(root, new, f - current), f, root, new))
        if singles:
            _, current, root, new = max(singles)
            keeps[root] = new
            continue
        swaps = []
        for root, new in ups.items():
            for other, keep in keeps.items():
                down = keep - steps[other]
                if other == root or down < floor[other]:
                    continue
                f = fraction({**keeps, root: new, other: down})
                if current + 1e-9 < f <= budget + 1e-12:
                    swaps.append((f, {root: new, other: down}))
        if not swaps:
            swaps = _wide_swaps(keeps, ups, steps, floor, fraction, current, budget)
        if not swaps:
            break
        current, moves = max(swaps, key=lambda move: move[0])  # ties keep the first found
        keeps.update(moves)
    return keeps


def _wide_swaps(
    keeps: dict[str, int],
    ups: Mapping[str, int],
    steps: Mapping[str, int],
    floor: Mapping[str, int],
    fraction: Callable[[Mapping[str, int]], float],
    current: float,
    budget: float,
) -> list[tuple[float, dict[str, int]]]:
    """One group up a step, two others down a step each: the move out of a corner where every single swap
    overshoots (a wide group's step costs more than any one narrow group's)."""
    found = []
    downs = {r: k - steps[r] for r, k in keeps.items() if k - steps[r] >= floor[r]}
    for root, new in ups.items():
        for a, b in itertools.combinations([r for r in downs if r != root], 2):
            moves = {root: new, a: downs[a], b: downs[b]}
            f = fraction({**keeps, **moves})
            if current + 1e-9 < f <= budget + 1e-12:
                found.append((f, moves))
    return found


def finer_levels(round_to: int) -> list[int]:
    """The steps a narrow group falls back to, coarsest first: halvings of ``round_to`` (16: 8, 4, 2, 1), since
    runtimes still prefer multiples of 8 or 4 to odd widths (docs/latency.md)."""
    levels = []
    while round_to > 1:
        round_to = round_to // 2 if round_to % 2 == 0 else 1
        levels.append(round_to)
    return levels


def refine(
    keeps: dict[str, int],
    infos: Mapping[str, GroupInfo],
    cost: CostModel,
    blocks: list[str],
    budget: float,
    kind: str,
    round_to: int,
    goal: float,
    priority: Priority | None = None,
    finer: Mapping[str, int] | None = None,
) -> tuple[dict[str, int], dict[str, int]]:
    """Where ``round_to``'s widths leave the cost under ``goal`` (a fraction of the unpruned cost), give groups a
    finer step one at a time, narrowest first and coarsest level first, growing again after each, until ``goal`` is
    reached; returns (keeps, finer steps by root, ``finer`` included). Groups whose attention heads fix the step
    are never refined."""
    finer = dict(finer or {})
    order = sorted((r for r in keeps if not infos[r].extra.get("with_heads")), key=lambda r: (infos[r].width, r))

    def fraction(k: Mapping[str, int]) -> float:
        return cost.fraction({r: v / infos[r].width for r, v in k.items()}, blocks, kind)

    for level in finer_levels(round_to):
        for root in order:
            if step_of(infos[root], level) >= step_of(infos[root], finer.get(root, round_to)):
                continue  # its channel slices already force this step
            finer[root] = level
            keeps = grow(keeps, infos, cost, blocks, budget, kind, round_to, priority, finer=finer)
            if fraction(keeps) >= goal:
                return keeps, finer
    return keeps, finer


def blocking_groups(infos: Mapping[str, GroupInfo], round_to: int) -> list[str]:
    """Groups whose finest step is still more than one index (channel slices, cells or heads fix it), widest
    step first: what stands between a plan and its budget when even the finest steps fall short."""
    steps = {root: step_of(info, 1) for root, info in infos.items()}
    return [f"{root} (steps of {step})" for root, step in sorted(steps.items(), key=lambda kv: -kv[1]) if step > 1]


def fill_plan(
    model: nn.Module,
    example: torch.Tensor,
    plan: Plan,
    infos: Mapping[str, GroupInfo],
    budget: float,
    kind: str,
    importance: str | Scorer,
    round_to: int,
    max_ratio: float,
    ignored_layers: tuple[str, ...] = (),
    priority: Priority | None = None,
    fill: float = 0.95,
) -> tuple[Plan, nn.Module, int, int]:
    """``plan`` grown toward ``budget``; returns (plan, pruned copy, MACs, params), never above the budget.

    When ``round_to``'s widths cannot reach ``fill`` x ``budget``, narrow groups fall back to finer steps
    (:func:`refine`); each such group records its step in the plan (``GroupKeep.round_to``)."""
    base_macs, base_params = count_macs_params(model, example)
    base = base_macs if kind == "macs" else base_params
    live = {
        root: info
        for root, info in infos.items()
        if info.prunable and info.kind != "head" and not any(is_under(m, plan.blocks) for m in [root, *info.members])
    }
    cost = CostModel(model, example, [(i.root, i.members, i.consumers) for i in live.values()])
    start = {root: len(g.keep) if (g := plan.group(root)) else info.width for root, info in live.items()}
    finer = plan.finer
    target = budget
    for _ in range(4):
        keeps = grow(start, live, cost, list(plan.blocks), target, kind, round_to, priority, finer=finer)
        kept = {r: v / live[r].width for r, v in keeps.items()}
        if kind in cost.kinds and cost.fraction(kept, plan.blocks, kind) < fill * budget and round_to > 1:
            keeps, finer = refine(
                keeps, live, cost, list(plan.blocks), target, kind, round_to, fill * budget, priority, finer
            )
        ratios = _ratios(keeps, {r: i.width for r, i in live.items()})
        ratios.update({g.root: 1.0 - len(g.keep) / g.width for g in plan.groups if g.kind == "head"})
        grown = make_plan(
            model, example, ratios, importance=importance, blocks=plan.blocks, round_to=round_to,
            ignored_layers=ignored_layers, max_ratio=max_ratio, finer=finer,
        )  # fmt: skip
        grown.model = plan.model
        pruned, macs, params = pruned_copy(model, grown, example)
        if (macs if kind == "macs" else params) <= budget * base:
            return grown, pruned, macs, params
        target = target - 0.01 * budget  # the cost model was optimistic: aim a little lower
    pruned, macs, params = pruned_copy(model, plan, example)
    return plan, pruned, macs, params


def rounding_details(plan: Plan, infos: Mapping[str, GroupInfo], fraction: float, opts: PlanOptions) -> dict:
    """The ``planning`` fields about rounding: groups on finer steps (``finer``) and, when the budget was reached
    below ``opts.fill`` of the request, the groups whose steps block it (``blocked_by``)."""
    details: dict = {"finer": plan.finer} if plan.finer else {}
    if fraction < opts.fill * opts.budget:
        live = {r: i for r, i in infos.items() if i.prunable and i.kind != "head"}
        details["blocked_by"] = blocking_groups(live, opts.round_to)
    return details
