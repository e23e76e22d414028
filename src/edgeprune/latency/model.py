"""Whole-network latency from the unit tables: ``scale * sum(units present) + overhead``, fitted end to end.

Each unit contributes its table latency at the plan's kept widths, less what the runner and a one-layer file add
around any layer (calls, input/output copies and layout changes; fitted on probe micro-models, see
:func:`edgeprune.latency.micro.io_probes`), and nothing when a dropped block holds it. The sum misses what
no unit carries (residual adds, SE multiplies, the network's input/output layout changes, per-op dispatch) and
sees each layer as a separate program (cold caches, separate buffers), so ``scale`` and ``overhead`` are fitted
by least squares on a few end-to-end measurements (the unpruned network and random plans). The model is a
:class:`edgeprune.planning.costmodel.PlanningCost` of kind ``latency``: the allocator budgets it like MACs.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.graph.depgraph import GroupInfo
from edgeprune.latency.table import LatencyTables
from edgeprune.latency.units import under
from edgeprune.prune import Plan

KIND = "latency"


@dataclass(frozen=True)
class Sample:
    """One end-to-end measurement: kept counts per group root, dropped blocks, measured latency (ms)."""

    counts: Mapping[str, int]
    dropped: tuple[str, ...]
    ms: float


@dataclass(frozen=True)
class Fit:
    """The fitted terms and how well they reproduce the points they were fitted on."""

    scale: float
    overhead_ms: float
    points: int
    residual_p50: float  # median |predicted / measured - 1| on the fitted points
    subtract_io: bool = True  # whether units were charged net of the micro-model overhead (chosen by the fit)
    loo_p50: float | None = None  # median leave-one-out error (what chose ``subtract_io``)


class LatencyModel:
    """Predicted latency (ms) of the network for any kept widths and dropped blocks (a ``PlanningCost``)."""

    kinds = (KIND,)

    def __init__(
        self,
        tables: LatencyTables,
        groups: Sequence[GroupInfo],
        scale: float = 1.0,
        overhead_ms: float = 0.0,
        subtract_io: bool = True,
    ) -> None:
        self.tables, self.groups = tables, list(groups)
        self.scale, self.overhead_ms, self.subtract_io = scale, overhead_ms, subtract_io
        self.widths = {g.root: g.width for g in self.groups}
        self.units = list(tables.units)
        self._by_root: dict[str, list[int]] = {}
        for i, u in enumerate(self.units):
            for axis in u.axes:
                if axis is not None:
                    self._by_root.setdefault(axis.root, []).append(i)
        self._memo: dict[tuple[int, int | None, int | None], float] = {}
        self._last: tuple[dict[str, int], tuple[str, ...], list[float]] | None = None
        self.fit_info: Fit | None = None
        self.full_ms = self.predict_ms({}, ())

    # -- per unit -------------------------------------------------------------------------------------------------
    def _unit(self, i: int, counts: Mapping[str, int]) -> float:
        unit = self.units[i]
        kin_axis, kout_axis = unit.axes
        kin = counts.get(kin_axis.root) if kin_axis else None
        kout = counts.get(kout_axis.root) if kout_axis else None
        key = (i, kin, kout)
        if key not in self._memo:
            ms = self.tables.tables[unit.name].at(kin, kout)
            if self.subtract_io:
                ms -= self.tables.io_ms(unit, *unit.channels(kin, kout))
            self._memo[key] = max(ms, 0.0)
        return self._memo[key]

    def unit_breakdown(self, counts: Mapping[str, int], dropped: Iterable[str] = ()) -> dict[str, float]:
        """Unit name -> its share (ms, before ``scale``) under these widths; dropped units are absent."""
        dropped = tuple(dropped)
        return {
            u.name: self._unit(i, counts)
            for i, u in enumerate(self.units)
            if not (dropped and under(u.modules[0], dropped))
        }

    # -- whole network --------------------------------------------------------------------------------------------
    def raw_ms(self, counts: Mapping[str, int], dropped: Iterable[str] = ()) -> float:
        """Sum over the units present (before the fitted terms); incremental against the previous call."""
        dropped = tuple(sorted(dropped))
        counts = {r: c for r, c in counts.items() if c != self.widths.get(r)}
        if self._last is not None and self._last[1] == dropped:
            last_counts, _, values = self._last
            changed = {r for r in set(counts) | set(last_counts) if counts.get(r) != last_counts.get(r)}
            values = list(values)
            for i in {i for r in changed for i in self._by_root.get(r, ())}:
                if values[i] >= 0.0:  # -1 marks a unit under a dropped block
                    values[i] = self._unit(i, counts)
        else:
            values = [
                -1.0 if dropped and under(u.modules[0], dropped) else self._unit(i, counts)
                for i, u in enumerate(self.units)
            ]
        self._last = (counts, dropped, values)
        return sum(v for v in values if v > 0.0)

    def predict_ms(self, counts: Mapping[str, int], dropped: Iterable[str] = ()) -> float:
        return self.scale * self.raw_ms(counts, dropped) + self.overhead_ms

    def counts_of(self, kept: Mapping[str, float]) -> dict[str, int]:
        """Kept fractions (the allocator's currency) -> kept counts."""
        return {r: round(f * self.widths[r]) for r, f in kept.items() if r in self.widths}

    def fraction(self, kept: Mapping[str, float], dropped: Iterable[str], kind: str = KIND) -> float:
        """Predicted latency / predicted unpruned latency (the ``PlanningCost`` protocol)."""
        if kind != KIND:
            raise EdgepruneError(f"the latency model predicts '{KIND}', not '{kind}'")
        return self.predict_ms(self.counts_of(kept), dropped) / self.full_ms

    def plan_ms(self, plan: Plan) -> float:
        """Predicted latency of the network ``plan`` prunes."""
        return self.predict_ms(self.plan_counts(plan), plan.blocks)

    def plan_counts(self, plan: Plan) -> dict[str, int]:
        counts = dict(self.widths)
        for g in plan.groups:
            if g.root in counts:
                counts[g.root] = len(g.keep)
        return counts

    def exact(self, pruned: nn.Module, plan: Plan) -> float:
        """``plan_to_budget``'s exact check: the model evaluated at the widths the plan really keeps."""
        return self.plan_ms(plan) / self.full_ms

    # -- fitting --------------------------------------------------------------------------------------------------
    def fitted(self, samples: Sequence[Sample], choose_io: bool = True) -> LatencyModel:
        """A copy whose ``scale`` and ``overhead`` fit ``samples`` by least squares (one sample: proportional).

        With ``choose_io`` (and at least 3 samples) both unit accountings are fitted, with and without subtracting
        the micro-model overhead (tiny layers can be mostly overhead, large ones hardly), and the one with the
        smaller leave-one-out error is kept."""
        if not samples:
            raise EdgepruneError("fitting the latency model needs at least one end-to-end measurement")
        ms = np.array([s.ms for s in samples])
        options = (True, False) if choose_io and len(samples) >= 3 else (self.subtract_io,)
        best: tuple[float, LatencyModel] | None = None
        for subtract in options:
            base = (
                self if subtract == self.subtract_io else LatencyModel(self.tables, self.groups, subtract_io=subtract)
            )
            raw = np.array([base.raw_ms(s.counts, s.dropped) for s in samples])
            scale, overhead = _least_squares(raw, ms)
            loo = _leave_one_out(raw, ms) if len(samples) >= 3 else None
            model = LatencyModel(self.tables, self.groups, scale, overhead, subtract)
            residual = float(statistics.median(np.abs((scale * raw + overhead) / ms - 1.0)))
            model.fit_info = Fit(scale, overhead, len(samples), residual, subtract, loo)
            score = loo if loo is not None else residual
            if best is None or score < best[0]:
                best = (score, model)
        assert best is not None
        return best[1]


def _least_squares(raw: np.ndarray, ms: np.ndarray) -> tuple[float, float]:
    """``ms ~ scale * raw + overhead`` (scale > 0); proportional through the first point when that fails."""
    if len(raw) >= 2 and np.ptp(raw) > 1e-9:
        (a, b), *_ = np.linalg.lstsq(np.stack([raw, np.ones_like(raw)], 1), ms, rcond=None)
        if a > 0:
            return float(a), float(b)
    return float(ms[0] / raw[0]) if raw[0] > 0 else 1.0, 0.0


def _leave_one_out(raw: np.ndarray, ms: np.ndarray) -> float:
    """Median relative error predicting each point from a fit on the others."""
    errors = []
    for i in range(len(raw)):
        keep = np.arange(len(raw)) != i
        scale, overhead = _least_squares(raw[keep], ms[keep])
        errors.append(abs((scale * raw[i] + overhead) / ms[i] - 1.0))
    return float(statistics.median(errors))
