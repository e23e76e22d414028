"""Greedy marginal-cost allocation over sensitivity curves: repeatedly take the cheapest predicted damage
per unit of cost saved (MACs, params, or any :class:`~edgeprune.planning.costmodel.PlanningCost` such as measured
latency), across every group's next deeper ratio and every block, until the
predicted cost meets the budget.

Damage is read off the measured curves (each group pruned alone), interpolated on a fine ratio grid,
made monotone, and assumed additive across groups. Ratios respect ``max_ratio`` and ``round_to`` through
the same ``keep_count`` that :func:`edgeprune.prune.make_plan` uses.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from edgeprune.errors import EdgepruneError
from edgeprune.paths import is_under
from edgeprune.planning.costmodel import PlanningCost
from edgeprune.prune import keep_count
from edgeprune.sensitivity.result import GroupCurve, Point, Sensitivity

OBJECTIVES = ("loss", "metric", "estimate")


@dataclass
class Option:
    """One depth a group can be pruned to."""

    ratio: float
    keep: int
    kept_fraction: float
    damage: float


@dataclass
class Allocation:
    """The planner's choice before it is verified."""

    ratios: dict[str, float] = field(default_factory=dict)
    blocks: list[str] = field(default_factory=list)
    damage: float = 0.0
    metric_drop: float = 0.0
    predicted_fraction: float = 1.0


def damage_of(point: Point, base: Point, objective: str, higher_is_better: bool = True) -> float:
    """Predicted harm of one measured point under ``objective`` (never negative); the metric's direction decides
    which way is worse (an error metric such as a regression's MSE gets worse upwards)."""
    if objective == "loss":
        return max(0.0, point.loss - base.loss)
    if objective == "metric":
        return max(0.0, (base.metric - point.metric) if higher_is_better else (point.metric - base.metric))
    return max(0.0, point.estimate)


def _interp(x: float, xs: list[float], ys: list[float]) -> float:
    if x <= xs[0]:
        return ys[0]
    for (x0, y0), (x1, y1) in zip(zip(xs, ys, strict=True), zip(xs[1:], ys[1:], strict=True), strict=False):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / max(x1 - x0, 1e-12)
    return ys[-1]


def group_options(
    curve: GroupCurve,
    base: Point,
    objective: str,
    max_ratio: float,
    round_to: int,
    step: float = 0.025,
    higher_is_better: bool = True,
) -> list[Option]:
    """Distinct depths for one group (first: unpruned), damage interpolated on the pruned fraction."""
    xs = [0.0] + [1.0 - p.keep * curve.channel_groups / curve.width for p in curve.points]
    ys = [0.0] + [damage_of(p, base, objective, higher_is_better) for p in curve.points]
    pairs = sorted(zip(xs, ys, strict=True))
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    for i in range(1, len(ys)):
        ys[i] = max(ys[i], ys[i - 1])
    limit = min(max_ratio, max(p.ratio for p in curve.points))
    options = [Option(0.0, curve.width, 1.0, 0.0)]
    n = int(limit / step + 1e-9)
    for i in range(1, n + 1):
        r = round(i * step, 6)
        keep = keep_count(curve.width, curve.channel_groups, r, round_to) * curve.channel_groups
        if keep >= options[-1].keep:
            continue
        pruned = 1.0 - keep / curve.width
        options.append(Option(r, keep, keep / curve.width, max(_interp(pruned, xs, ys), options[-1].damage)))
    return _convexify(options)


def _convexify(options: list[Option]) -> list[Option]:
    """Make damage convex in the pruned fraction: each step's slope is at least the steepest one before it.

    Without fine-tuning, curves saturate once a group has collapsed (chance accuracy cannot fall further),
    which would make pruning a broken group deeper look free and pile the whole budget onto it. Past the
    collapse the curve carries no information; extending it at its steepest slope keeps the greedy
    allocation spreading the cuts (and makes greedy marginal cost optimal for separable convex damage).
    """
    slope = 0.0
    for prev, cur in itertools.pairwise(options):
        step = max(prev.kept_fraction - cur.kept_fraction, 1e-12)
        slope = max(slope, (cur.damage - prev.damage) / step)
        cur.damage = prev.damage + slope * step
    return options


def allocate(
    sens: Sensitivity,
    cost: PlanningCost,
    budget: float,
    kind: str = "macs",
    objective: str = "metric",
    max_ratio: float = 0.9,
    round_to: int = 1,
    use_blocks: bool = True,
    skip_groups: tuple[str, ...] = (),
) -> Allocation:
    """Per-group ratios and blocks whose predicted ``kind`` fraction is at most ``budget``."""
    if objective not in OBJECTIVES:
        raise EdgepruneError(f"objective '{objective}' is unknown (known: {list(OBJECTIVES)})")
    if not 0.0 < budget <= 1.0:
        raise EdgepruneError(f"{kind} budget {budget} must lie in (0, 1]")
    curves = [c for c in sens.groups if c.root not in skip_groups]
    up = sens.higher_is_better
    options = {c.root: group_options(c, sens.base, objective, max_ratio, round_to, higher_is_better=up) for c in curves}
    block_damage = {b.path: damage_of(b.point, sens.base, objective, up) for b in sens.blocks} if use_blocks else {}
    level = {root: 0 for root in options}
    dropped: list[str] = []

    def kept() -> dict[str, float]:
        return {r: options[r][i].kept_fraction for r, i in level.items()}

    def alive(root: str) -> bool:
        return not is_under(root, dropped)

    def total_damage() -> float:
        return sum(options[r][i].damage for r, i in level.items() if alive(r)) + sum(block_damage[b] for b in dropped)

    current = cost.fraction(kept(), dropped, kind)
    while current > budget + 1e-12:
        moves = _moves(options, level, dropped, block_damage, cost, kind, current, alive, kept)
        if not moves:
            raise EdgepruneError(
                f"{kind} budget {budget:.3f} is out of reach: pruning every group to max_ratio {max_ratio} "
                f"leaves {current:.3f} of the {kind}; raise max_ratio or loosen the budget"
            )
        # best damage per unit saved; but once a move can finish, finish with the least damage (no overshoot)
        best = min(moves, key=lambda m: (m[0] / m[1], -m[1]))
        if current - best[1] <= budget + 1e-12:
            finishing = [m for m in moves if current - m[1] <= budget + 1e-12]
            best = min(finishing, key=lambda m: (m[0], -m[1]))
        _, _, name, move = best
        if move == "block":
            dropped.append(name)
        else:
            level[name] = int(move)
        current = cost.fraction(kept(), dropped, kind)
    current = _refund(options, level, dropped, cost, kind, budget, alive, kept)
    alloc = Allocation(blocks=sorted(dropped), damage=total_damage(), predicted_fraction=current)
    for root, i in level.items():
        if i > 0 and alive(root):
            alloc.ratios[root] = options[root][i].ratio
    alloc.metric_drop = _metric_drop(sens, options, level, dropped, max_ratio, round_to)
    return alloc


def _refund(options, level, dropped, cost, kind, budget, alive, kept) -> float:
    """Undo cuts the budget no longer needs: with coarse steps (``round_to``) the last move can overshoot, so
    while some group can go one depth back up and stay within budget, take back the one that returns the most
    damage (on ties: the one landing nearest the budget). Returns the final predicted fraction."""
    while True:
        now = kept()
        best: tuple[float, float, str, int] | None = None
        for root, i in level.items():
            if i == 0 or not alive(root):
                continue
            fraction = cost.fraction({**now, root: options[root][i - 1].kept_fraction}, dropped, kind)
            if fraction <= budget + 1e-12:
                candidate = (options[root][i].damage - options[root][i - 1].damage, fraction, root, i - 1)
                if best is None or candidate[:2] > best[:2]:
                    best = candidate
        if best is None:
            return cost.fraction(kept(), dropped, kind)
        level[best[2]] = best[3]


def _moves(options, level, dropped, block_damage, cost, kind, current, alive, kept) -> list[tuple]:
    """Candidate moves as (damage added, fraction saved, group root or block path, level index or "block")."""
    moves: list[tuple] = []
    now = kept()
    for root, i in level.items():
        if not alive(root):
            continue
        for j in range(i + 1, len(options[root])):
            saved = current - cost.fraction({**now, root: options[root][j].kept_fraction}, dropped, kind)
            if saved > 1e-12:
                moves.append((options[root][j].damage - options[root][i].damage, saved, root, j))
    for path, harm in block_damage.items():
        if path in dropped or is_under(path, dropped):
            continue
        saved = current - cost.fraction(now, [*dropped, path], kind)
        if saved > 1e-12:
            inside = sum(options[r][i].damage for r, i in level.items() if is_under(r, [path]))
            moves.append((max(harm - inside, 0.0), saved, path, "block"))
    return moves


def _metric_drop(
    sens: Sensitivity, options: dict[str, list[Option]], level: dict[str, int], dropped: list[str], mr: float, rt: int
) -> float:
    """Additive predicted metric drop of the chosen depths (same interpolation, metric objective)."""
    drop = 0.0
    for curve in sens.groups:
        i = level.get(curve.root, 0)
        if i == 0 or is_under(curve.root, dropped):
            continue
        target = options[curve.root][i].keep
        metric_opts = group_options(curve, sens.base, "metric", mr, rt, higher_is_better=sens.higher_is_better)
        drop += next((o.damage for o in metric_opts if o.keep == target), 0.0)
    up = sens.higher_is_better
    drop += sum(damage_of(b.point, sens.base, "metric", up) for b in sens.blocks if b.path in dropped)
    return drop
