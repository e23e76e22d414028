"""Vela's cycles as a cost the planner budgets: per-unit tables from a few compiled probe plans.

A probe plan gives every prunable group one of a few kept widths ({full, half, smallest} at level 0, the widths
``round_to`` allows; :func:`edgeprune.latency.table.level_counts`); the probes are chosen so that every latency unit
(:mod:`edgeprune.latency.units`: a conv/linear with its folded norm and activation, a pooling, ...) is compiled at
every pair of its input and output widths (a greedy covering design over random assignments, seeded). Each
probe is compiled by Vela *as a whole network*, so an operator's cycles include what its neighbours cause
(weights streamed from flash, cascading, SRAM spills); each operator's cycles go to the unit that owns it
(:mod:`edgeprune.embedded.opmap`), and each unit's table interpolates bilinearly between its widths (exact for a cost
``a + b*cin + c*cout + d*cin*cout``). Operators no unit owns (the input transpose) are a fixed cost.

The model is a :class:`edgeprune.planning.costmodel.PlanningCost` of kind ``latency``; after each verification
compile, :meth:`NpuCycleModel.corrected` scales every unit to what Vela reported for that plan, so the next plan is
made with a model exact at the last one.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from edgeprune.errors import EdgepruneError
from edgeprune.graph.depgraph import GroupInfo
from edgeprune.latency.table import UnitTable, level_counts
from edgeprune.latency.units import Axis, Unit, under
from edgeprune.prune import Plan

KIND = "latency"
Counts = dict[str, int]


def group_levels(units: Sequence[Unit], level: int, round_to: int, max_ratio: float) -> dict[str, list[int]]:
    """Group root -> the kept counts probed for it (full width included)."""
    axes: dict[str, Axis] = {}
    for unit in units:
        for axis in unit.axes:
            if axis is not None:
                axes.setdefault(axis.root, axis)
    return {root: [c for c in level_counts(axis, level, round_to, max_ratio) if c is not None]
            for root, axis in axes.items()}  # fmt: skip


def _needed(units: Sequence[Unit], levels: Mapping[str, list[int]]) -> set[tuple[str, int | None, int | None]]:
    """Every (unit, input count, output count) a complete table needs."""
    needed = set()
    for unit in units:
        a, b = unit.axes
        xs = levels[a.root] if a is not None else [None]
        ys = levels[b.root] if b is not None else [None]
        needed |= {(unit.name, x, y) for x, y in itertools.product(xs, ys)}
    return needed


def _covered(units: Sequence[Unit], counts: Mapping[str, int]) -> set[tuple[str, int | None, int | None]]:
    out = set()
    for unit in units:
        a, b = unit.axes
        out.add((unit.name, counts[a.root] if a else None, counts[b.root] if b else None))
    return out


def probe_design(
    units: Sequence[Unit], levels: Mapping[str, list[int]], seed: int = 0, limit: int = 160
) -> list[Counts]:
    """Assignments of a probed count to every group (the unpruned network first) until every unit has met every
    pair of its widths, or ``limit`` probes. Each probe is built group by group (in a seeded random order): a group
    takes the count that completes the most missing (unit, input, output) cells with the groups already set, ties
    going to the count that the most missing cells still wait for."""
    full = {root: max(counts) for root, counts in levels.items()}
    missing = _needed(units, levels) - _covered(units, full)
    design = [full]
    rng = random.Random(seed)
    roots = sorted(levels)
    by_root: dict[str, list[Unit]] = {}
    for unit in units:
        for axis in unit.axes:
            if axis is not None:
                by_root.setdefault(axis.root, []).append(unit)
    while missing and len(design) < limit:
        order = roots[:]
        rng.shuffle(order)
        pick: dict[str, int] = {}
        for root in order:
            scored = []
            for count in levels[root]:
                done = waiting = 0
                for unit in by_root.get(root, []):
                    a, b = unit.axes
                    other = b if a is not None and a.root == root else a
                    if other is None or other.root == root:
                        cell = (unit.name, count if a else None, count if b else None)
                        done += cell in missing
                    elif other.root in pick:
                        x = count if a is not None and a.root == root else pick[other.root]
                        y = pick[other.root] if a is not None and a.root == root else count
                        done += (unit.name, x, y) in missing
                    else:
                        waiting += sum(1 for c in levels[other.root] if _cell(unit, root, count, c) in missing)
                scored.append((done, waiting, rng.random(), count))
            pick[root] = max(scored)[3]
        covered = _covered(units, pick) & missing
        if not covered:
            break
        design.append(pick)
        missing -= covered
    return design


def _cell(unit: Unit, root: str, count: int, other: int) -> tuple[str, int | None, int | None]:
    """The (unit, input, output) cell when the axis of ``root`` keeps ``count`` and the other axis ``other``."""
    a, _ = unit.axes
    return (unit.name, count, other) if a is not None and a.root == root else (unit.name, other, count)


def _fill(points: Mapping[tuple[int | None, int | None], float], xs: list, ys: list) -> dict:
    """Complete a grid: missing cells from the least-squares ``a + b*x + c*y + d*x*y`` through the observed ones."""
    grid = {k: v for k, v in points.items()}
    missing = [(x, y) for x in xs for y in ys if (x, y) not in grid]
    if not missing:
        return grid
    rows = [(float(x or 0), float(y or 0), v) for (x, y), v in points.items()]
    design = np.array([[1.0, x, y, x * y] for x, y, _ in rows])
    coef, *_ = np.linalg.lstsq(design, np.array([v for *_, v in rows]), rcond=None)
    for x, y in missing:
        fx, fy = float(x or 0), float(y or 0)
        grid[(x, y)] = max(float(coef @ np.array([1.0, fx, fy, fx * fy])), 0.0)
    return grid


def _none_first(v: int | None) -> int:
    return -1 if v is None else v


@dataclass
class NpuCycleModel:
    """Predicted NPU cycles of the network for any kept widths and dropped blocks (a ``PlanningCost``)."""

    units: list[Unit]
    tables: dict[str, UnitTable]
    fixed_cycles: float
    clock_hz: float
    widths: dict[str, int]
    scales: dict[str, float] = field(default_factory=dict)  # per-unit corrections from verification compiles
    kinds: tuple[str, ...] = (KIND,)

    def __post_init__(self) -> None:
        self.full_cycles = self.predict({}, ())

    def unit_cycles(self, unit: Unit, counts: Mapping[str, int]) -> float:
        a, b = unit.axes
        kin = counts.get(a.root) if a else None
        kout = counts.get(b.root) if b else None
        return self.tables[unit.name].at(kin, kout) * self.scales.get(unit.name, 1.0)

    def breakdown(self, counts: Mapping[str, int], dropped: Iterable[str] = ()) -> dict[str, float]:
        dropped = tuple(dropped)
        return {
            u.name: self.unit_cycles(u, counts)
            for u in self.units
            if u.name in self.tables and not (dropped and under(u.modules[0], dropped))
        }

    def predict(self, counts: Mapping[str, int], dropped: Iterable[str] = ()) -> float:
        return self.fixed_cycles + sum(self.breakdown(counts, dropped).values())

    def predict_ms(self, counts: Mapping[str, int], dropped: Iterable[str] = ()) -> float:
        return self.predict(counts, dropped) / self.clock_hz * 1e3

    def counts_of(self, kept: Mapping[str, float]) -> Counts:
        return {r: round(f * self.widths[r]) for r, f in kept.items() if r in self.widths}

    def fraction(self, kept: Mapping[str, float], dropped: Iterable[str], kind: str = KIND) -> float:
        """Predicted cycles / unpruned cycles (the ``PlanningCost`` protocol)."""
        if kind != KIND:
            raise EdgepruneError(f"the NPU cycle model predicts '{KIND}', not '{kind}'")
        return self.predict(self.counts_of(kept), dropped) / self.full_cycles

    def plan_counts(self, plan: Plan) -> Counts:
        counts = dict(self.widths)
        for g in plan.groups:
            if g.root in counts:
                counts[g.root] = len(g.keep)
        return counts

    def plan_fraction(self, plan: Plan) -> float:
        return self.predict(self.plan_counts(plan), plan.blocks) / self.full_cycles

    def exact(self, pruned: object, plan: Plan) -> float:
        """``allocate_to_budget``'s exact check: the model at the widths the plan really keeps."""
        return self.plan_fraction(plan)

    def corrected(self, plan: Plan, measured: Mapping[str, float]) -> NpuCycleModel:
        """A copy whose units reproduce ``measured`` (unit name -> Vela's cycles for ``plan``); the reference
        (``full_cycles``) stays the unpruned network's."""
        counts = self.plan_counts(plan)
        scales = dict(self.scales)
        for unit in self.units:
            if unit.name in measured and unit.name in self.tables:
                raw = self.tables[unit.name].at(*_axis_counts(unit, counts))
                if raw > 0 and measured[unit.name] > 0:
                    scales[unit.name] = measured[unit.name] / raw
        model = NpuCycleModel(self.units, self.tables, self.fixed_cycles, self.clock_hz, self.widths, scales)
        model.full_cycles = self.full_cycles
        return model


def _axis_counts(unit: Unit, counts: Mapping[str, int]) -> tuple[int | None, int | None]:
    a, b = unit.axes
    return (counts.get(a.root) if a else None), (counts.get(b.root) if b else None)


def build_cycle_model(
    units: Sequence[Unit],
    groups: Sequence[GroupInfo],
    observations: Sequence[tuple[Counts, Mapping[str, float]]],
    clock_hz: float,
) -> NpuCycleModel:
    """Tables from compiled probes: ``observations`` pairs each probe's kept counts with its cycles per unit name
    (key ``""``: operators no unit owns)."""
    if not observations:
        raise EdgepruneError("the NPU cycle model needs at least one compiled network")
    points: dict[str, dict[tuple[int | None, int | None], list[float]]] = {}
    fixed: list[float] = []
    for counts, cycles in observations:
        fixed.append(float(cycles.get("", 0.0)))
        for unit in units:
            cell = _axis_counts(unit, counts)
            points.setdefault(unit.name, {}).setdefault(cell, []).append(float(cycles.get(unit.name, 0.0)))
    tables = {}
    for unit in units:
        observed = {k: float(np.mean(v)) for k, v in points[unit.name].items()}
        xs = sorted({k[0] for k in observed}, key=_none_first)
        ys = sorted({k[1] for k in observed}, key=_none_first)
        tables[unit.name] = UnitTable(unit, xs, ys, _fill(observed, xs, ys))
    widths = {g.root: g.width for g in groups}
    return NpuCycleModel(list(units), tables, float(np.median(fixed)), clock_hz, widths)
