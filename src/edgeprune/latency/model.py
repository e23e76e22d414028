"""Whole-network latency from the unit tables: ``scale * sum(units present) + overhead``, fitted end to end.

Each unit contributes its table latency at the plan's kept widths, less what the runner and a one-layer file add
around any layer (calls, input/output copies and layout changes; fitted on probe micro-models, see
:func:`edgeprune.latency.micro.io_probes`), and nothing when a dropped block holds it. The sum misses what
no unit carries (residual adds, SE multiplies, the network's input/output layout changes, per-op dispatch) and
sees each layer as a separate program (cold caches, separate buffers), so ``scale`` and ``overhead`` are fitted
by least squares on a few end-to-end measurements (the unpruned network and random plans). A micro-model runs
its layer over and over with the weights hot in cache; inside a network each layer's weights come back from
memory once per inference, which weight-heavy layers (a classifier's Linear: mobilenet_v3_small's costs 2x its
micro-model inside the network) pay most. With enough points the fit may add ``per_param_ms`` x the weights
the plan keeps; leave-one-out error decides whether it does. The model is a
:class:`edgeprune.planning.costmodel.PlanningCost` of kind ``latency``: the allocator budgets it like MACs.
"""

from __future__ import annotations

import math
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
    loo_p50: float | None = None  # median leave-one-out error (what chose ``subtract_io`` and the weights term)
    ms_per_mparam: float = 0.0  # the weights term: ms per million weights kept (0: not used)


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
        per_param_ms: float = 0.0,
    ) -> None:
        self.tables, self.groups = tables, list(groups)
        self.scale, self.overhead_ms, self.subtract_io = scale, overhead_ms, subtract_io
        self.per_param_ms = per_param_ms
        self.widths = {g.root: g.width for g in self.groups}
        self.units = list(tables.units)
        self._by_root: dict[str, list[int]] = {}
        for i, u in enumerate(self.units):
            for axis in u.axes:
                if axis is not None:
                    self._by_root.setdefault(axis.root, []).append(i)
        self._memo: dict[tuple[int, int | None, int | None], tuple[float, float]] = {}
        self._last: tuple[dict[str, int], tuple[str, ...], list[tuple[float, float]]] | None = None
        self.fit_info: Fit | None = None
        self.full_ms = self.predict_ms({}, ())

    # -- per unit -------------------------------------------------------------------------------------------------
    def _unit(self, i: int, counts: Mapping[str, int]) -> tuple[float, float]:
        """(table ms, weights kept) of unit ``i`` under these widths."""
        unit = self.units[i]
        kin_axis, kout_axis = unit.axes
        kin = counts.get(kin_axis.root) if kin_axis else None
        kout = counts.get(kout_axis.root) if kout_axis else None
        key = (i, kin, kout)
        if key not in self._memo:
            ms = self.tables.tables[unit.name].at(kin, kout)
            if self.subtract_io:
                ms -= self.tables.io_ms(unit, *unit.channels(kin, kout))
            self._memo[key] = (max(ms, 0.0), unit.params_at(kin, kout))
        return self._memo[key]

    def unit_breakdown(self, counts: Mapping[str, int], dropped: Iterable[str] = ()) -> dict[str, float]:
        """Unit name -> its share (ms, before ``scale``) under these widths; dropped units are absent."""
        dropped = tuple(dropped)
        return {
            u.name: self._unit(i, counts)[0]
            for i, u in enumerate(self.units)
            if not (dropped and under(u.modules[0], dropped))
        }

    # -- whole network --------------------------------------------------------------------------------------------
    def _totals(self, counts: Mapping[str, int], dropped: Iterable[str]) -> tuple[float, float]:
        """(table ms, weights) summed over the units present; incremental against the previous call."""
        dropped = tuple(sorted(dropped))
        counts = {r: c for r, c in counts.items() if c != self.widths.get(r)}
        absent = (-1.0, 0.0)  # a unit under a dropped block
        if self._last is not None and self._last[1] == dropped:
            last_counts, _, values = self._last
            changed = {r for r in set(counts) | set(last_counts) if counts.get(r) != last_counts.get(r)}
            values = list(values)
            for i in {i for r in changed for i in self._by_root.get(r, ())}:
                if values[i][0] >= 0.0:
                    values[i] = self._unit(i, counts)
        else:
            values = [
                absent if dropped and under(u.modules[0], dropped) else self._unit(i, counts)
                for i, u in enumerate(self.units)
            ]
        self._last = (counts, dropped, values)
        return sum(v[0] for v in values if v[0] > 0.0), sum(v[1] for v in values if v[0] >= 0.0)

    def raw_ms(self, counts: Mapping[str, int], dropped: Iterable[str] = ()) -> float:
        """Sum of the units' table latencies (before the fitted terms)."""
        return self._totals(counts, dropped)[0]

    def raw_params(self, counts: Mapping[str, int], dropped: Iterable[str] = ()) -> float:
        """Weights of the conv/linear layers present under these widths."""
        return self._totals(counts, dropped)[1]

    def predict_ms(self, counts: Mapping[str, int], dropped: Iterable[str] = ()) -> float:
        ms, params = self._totals(counts, dropped)
        return self.scale * ms + self.per_param_ms * params + self.overhead_ms

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
        the micro-model overhead (tiny layers can be mostly overhead, large ones hardly), and with at least
        ``WEIGHTS_TERM_POINTS`` samples each also with the weights term; the one with the smallest leave-one-out
        error is kept."""
        if not samples:
            raise EdgepruneError("fitting the latency model needs at least one end-to-end measurement")
        ms = np.array([s.ms for s in samples])
        options = (True, False) if choose_io and len(samples) >= 3 else (self.subtract_io,)
        weights = (False, True) if choose_io and len(samples) >= WEIGHTS_TERM_POINTS else (False,)
        best: tuple[float, LatencyModel] | None = None
        for subtract in options:
            base = (
                self if subtract == self.subtract_io else LatencyModel(self.tables, self.groups, subtract_io=subtract)
            )
            totals = [base._totals(s.counts, s.dropped) for s in samples]
            for with_weights in weights:
                columns = [np.array([t[0] for t in totals])]
                if with_weights:
                    columns.append(np.array([t[1] for t in totals]))
                terms = _least_squares(columns, ms)
                if terms is None:
                    continue
                *coef, overhead = terms
                per_param = coef[1] if with_weights else 0.0
                loo = _leave_one_out(columns, ms) if len(samples) >= 3 else None
                model = LatencyModel(self.tables, self.groups, coef[0], overhead, subtract, per_param)
                predicted = sum(c * col for c, col in zip(coef, columns, strict=True)) + overhead
                residual = float(statistics.median(np.abs(predicted / ms - 1.0)))
                model.fit_info = Fit(coef[0], overhead, len(samples), residual, subtract, loo, per_param * 1e6)
                score = loo if loo is not None else residual
                if best is None or score < best[0]:
                    best = (score, model)
        assert best is not None  # the proportional fit of the first option always exists
        return best[1]


WEIGHTS_TERM_POINTS = 5  # a third fitted term needs a few more points than the two a line has


def _least_squares(columns: Sequence[np.ndarray], ms: np.ndarray) -> list[float] | None:
    """``ms ~ sum(coef * column) + overhead`` with every coefficient > 0 (weights term >= 0); a single column
    falls back to proportional through the first point when that fails; None when a multi-column fit fails."""
    raw = columns[0]
    if len(raw) >= len(columns) + 1 and np.ptp(raw) > 1e-9:
        design = np.stack([*columns, np.ones_like(raw)], 1)
        solution, *_ = np.linalg.lstsq(design, ms, rcond=None)
        if solution[0] > 0 and all(c >= 0 for c in solution[1:-1]):
            return [float(v) for v in solution]
    if len(columns) > 1:
        return None
    return [float(ms[0] / raw[0]) if raw[0] > 0 else 1.0, 0.0]


def _leave_one_out(columns: Sequence[np.ndarray], ms: np.ndarray) -> float:
    """Median relative error predicting each point from a fit on the others (inf where a fit fails)."""
    errors = []
    for i in range(len(ms)):
        keep = np.arange(len(ms)) != i
        terms = _least_squares([c[keep] for c in columns], ms[keep])
        if terms is None:
            errors.append(math.inf)
            continue
        *coef, overhead = terms
        predicted = sum(c * col[i] for c, col in zip(coef, columns, strict=True)) + overhead
        errors.append(abs(predicted / ms[i] - 1.0))
    return float(statistics.median(errors))
