"""Per-unit latency tables measured on the target: each unit at a grid of the widths ``round_to`` allows.

Grids grow by level: level 0 measures every unit at kept fractions {1, 0.5, smallest} of each axis it has (a
two-axis layer: 3 x 3 micro-models), level 1 adds {0.75, 0.25}, level 2 {0.875, 0.625, 0.375}; fractions snap to
the nearest width ``keep_count`` can produce, so table points are widths a plan can have. Between points the
table interpolates (bilinear in the kept counts; exact for a cost ``a + b*cin + c*cout + d*cin*cout``, the shape
of a GEMM). Shapes shared by several units, levels and models are measured once (the cache is keyed by a
signature of the micro-model, per target fingerprint). Level 0 is always measured; when the measuring-time budget
is spent, refining stops and units keep their last complete grid. A unit that cannot be rebuilt or exported is
estimated from MACs and activation size by a fit over the measured ones.
"""

from __future__ import annotations

import itertools
import math
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgeprune.errors import EdgepruneError
from edgeprune.export import export_model
from edgeprune.latency.cache import LatencyCache
from edgeprune.latency.micro import build_micro, export_ready, io_probes, null_micro, signature
from edgeprune.latency.target import LatencyTarget
from edgeprune.latency.units import Axis, Unit
from edgeprune.logs import quiet
from edgeprune.progress import progress_bar
from edgeprune.prune import keep_count

LEVELS: tuple[tuple[float, ...], ...] = ((1.0, 0.5, 0.0), (0.75, 0.25), (0.875, 0.625, 0.375))  # 0.0: smallest


def candidate_counts(axis: Axis, round_to: int, max_ratio: float) -> list[int]:
    """Every kept count a plan can give the axis' group (full width included), ascending."""
    per_slice = axis.width // axis.channel_groups
    step = round_to // math.gcd(round_to, axis.channel_groups)
    smallest = keep_count(axis.width, axis.channel_groups, max_ratio, round_to)
    counts = {per_slice} | {k for k in range(step, per_slice + 1, step) if k >= smallest}
    return sorted(c * axis.channel_groups for c in counts)


def level_counts(axis: Axis | None, level: int, round_to: int, max_ratio: float) -> list[int | None]:
    """Kept counts measured for ``axis`` up to ``level`` (``[None]``: the unit has no such axis)."""
    if axis is None:
        return [None]
    candidates = candidate_counts(axis, round_to, max_ratio)
    picked = set()
    for fractions in LEVELS[: level + 1]:
        for f in fractions:
            target = f * axis.width
            picked.add(min(candidates, key=lambda c: (abs(c - target), -c)))
    return sorted(picked)


def _interp_axis(xs: Sequence[int | None], x: int | None) -> list[tuple[int | None, float]]:
    """(grid point, weight) pairs that interpolate ``x`` linearly on ``xs`` (extrapolating past the ends)."""
    if len(xs) == 1 or x is None:
        return [(xs[-1], 1.0)]
    pts = [float(v) for v in xs]  # type: ignore[arg-type]
    i = int(np.searchsorted(pts, x))
    i = min(max(i, 1), len(pts) - 1)
    x0, x1 = pts[i - 1], pts[i]
    t = (x - x0) / (x1 - x0)
    return [(xs[i - 1], 1.0 - t), (xs[i], t)]


@dataclass
class UnitTable:
    """One unit's measured grid (complete rectilinear) and how it interpolates."""

    unit: Unit
    xs: list[int | None] = field(default_factory=lambda: [None])  # input-axis counts
    ys: list[int | None] = field(default_factory=lambda: [None])  # output-axis counts
    values: dict[tuple[int | None, int | None], float] = field(default_factory=dict)
    estimate: tuple[float, float] | None = None  # (ms per MAC, ms per activation element) when nothing measured

    @property
    def measured(self) -> bool:
        return self.estimate is None

    def at(self, kin: int | None, kout: int | None) -> float:
        """Latency (ms) of the unit with its axes keeping ``kin`` / ``kout`` (None: full width)."""
        if self.estimate is not None:
            per_mac, per_elem = self.estimate
            cin, cout = self.unit.channels(kin, kout)
            return per_mac * self.unit.macs * self.unit.share(cin, cout) + per_elem * _elements(self.unit, cin, cout)
        total = 0.0
        for x, wx in _interp_axis(self.xs, kin):
            for y, wy in _interp_axis(self.ys, kout):
                total += wx * wy * self.values[(x, y)]
        return max(total, 0.0)


def _elements(unit: Unit, cin: int, cout: int) -> float:
    return cin * math.prod(unit.in_shape[2:]) + cout * math.prod(unit.out_shape[2:])


@dataclass
class TableStats:
    """What building the tables cost and reached."""

    micro_models: int = 0  # distinct micro-models the finished grids use
    measured: int = 0  # measured in this call
    cached: int = 0  # found in the cache
    failed: int = 0  # could not be built or exported
    seconds: float = 0.0
    levels_done: int = -1  # deepest level every measurable unit completed
    budget_spent: bool = False
    estimated_units: list[str] = field(default_factory=list)


@dataclass
class LatencyTables:
    """Every unit's table for one model on one target."""

    units: list[Unit]
    tables: dict[str, UnitTable]
    fingerprint: dict[str, object]
    round_to: int
    max_ratio: float
    stats: TableStats
    null_ms: float = 0.0  # the runner's charge for any micro-model (a one-ReLU file)
    io: tuple[float, float] = (0.0, 0.0)  # (ms, ms per activation element): what a conv micro-model adds around it

    def io_ms(self, unit: Unit, cin: int, cout: int) -> float:
        """The runner's and the file's own cost around ``unit`` at these channels (not paid inside a network)."""
        a, b = self.io
        return a + b * 0.5 * _elements(unit, cin, cout)

    def unit_ms(self, unit: Unit, counts: Mapping[str, int]) -> float:
        """Latency of ``unit`` when group roots keep ``counts[root]`` indices (missing: full)."""
        kin_axis, kout_axis = unit.axes
        kin = counts.get(kin_axis.root) if kin_axis else None
        kout = counts.get(kout_axis.root) if kout_axis else None
        return self.tables[unit.name].at(kin, kout)


def _order(units: Iterable[Unit]) -> list[Unit]:
    """Units by rough cost, largest first: when the budget runs out, the expensive ones have been refined."""
    return sorted(units, key=lambda u: -(u.macs + _elements(u, u.in_shape[1], u.out_shape[1])))


class _Measurer:
    """Exports micro-models into a scratch folder and measures them in batches, within a time budget."""

    def __init__(self, target: LatencyTarget, cache: LatencyCache, deadline: float, stats: TableStats) -> None:
        self.target, self.cache, self.deadline, self.stats = target, cache, deadline, stats
        self.failed: set[str] = set()
        self.measured: set[str] = set()

    def run(self, todo: list[tuple[str, nn.Module, torch.Tensor]], description: str, timed: bool) -> None:
        """Export and measure each (signature, micro-model, example) not cached; if ``timed``, stop at the deadline."""
        todo = [t for t in todo if t[0] not in self.cache and t[0] not in self.failed]
        if not todo:
            return
        exported: list[tuple[str, Path]] = []
        with (
            tempfile.TemporaryDirectory(prefix="edgeprune-latency-") as tmp,
            progress_bar(description, total=len(todo)) as bar,
        ):
            for i, (sig, micro, example) in enumerate(todo):
                if timed and time.monotonic() > self.deadline:
                    self.stats.budget_spent = True
                    break
                module, options = export_ready(micro, example, self.target.fmt)
                path = Path(tmp) / f"m{i}.{self.target.fmt}"
                try:
                    with quiet():
                        extra = {**_calibration(self.target, example), **options}
                        export_model(module, example, path, self.target.fmt, self.target.precision, **extra)
                except Exception as exc:  # a converter failure costs this unit its table, not the run
                    self.failed.add(sig)
                    bar.note(f"latency table: micro-model {sig[:100]} failed to export ({str(exc)[:200]})")
                    continue
                exported.append((sig, path))
                bar.advance()
                if len(exported) >= self.target.batch:
                    self._measure(exported)
                    exported = []
            self._measure(exported)

    def _measure(self, exported: list[tuple[str, Path]]) -> None:
        """One batch: similar sizes (units arrive largest first), timed round-robin in fresh processes."""
        if not exported:
            return
        ms = self.target.measure([p for _, p in exported])
        self.cache.update({sig: round(v, 6) for (sig, _), v in zip(exported, ms, strict=True)})
        self.measured.update(sig for sig, _ in exported)
        for _, p in exported:
            p.unlink(missing_ok=True)


def _calibration(target: LatencyTarget, example: torch.Tensor) -> dict[str, object]:
    """int8 micro-models need calibration samples; random ones do (only the latency matters)."""
    if target.precision != "int8":
        return {}
    return {"calibration": torch.randn(8, *example.shape[1:], generator=torch.Generator().manual_seed(0))}


def build_tables(
    model: nn.Module,
    units: Sequence[Unit],
    target: LatencyTarget,
    round_to: int = 16,
    max_ratio: float = 0.9,
    cache: LatencyCache | None = None,
    time_budget_s: float | None = 900.0,
    levels: int = 1,
) -> LatencyTables:
    """Measure (or read from ``cache``) every unit's grid: level 0 always, deeper levels while ``time_budget_s``
    seconds (from the start of this call) last."""
    if not 0 <= levels < len(LEVELS):
        raise EdgepruneError(f"latency table levels must lie in 0..{len(LEVELS) - 1}, got {levels}")
    start = time.monotonic()
    deadline = start + time_budget_s if time_budget_s is not None else math.inf
    cache = cache if cache is not None else LatencyCache(None, target.fingerprint(), target.fingerprint_key())
    stats = TableStats()
    measurer = _Measurer(target, cache, deadline, stats)
    ordered = _order(units)
    tables = {u.name: UnitTable(u) for u in units}
    unbuildable: set[str] = set()
    used: dict[str, set[str]] = {}  # unit -> signatures its finished grid reads
    null = null_micro()
    null_sig = signature(*null, target.fmt, target.precision)
    probes = [(shape, depth, signature(m, x, target.fmt, target.precision), m, x) for shape, depth, m, x in io_probes()]
    for level in range(levels + 1):
        plans: dict[str, list[tuple[int | None, int | None, str]]] = {}
        todo: dict[str, tuple[str, nn.Module, torch.Tensor]] = {}
        for unit in ordered:
            if unit.name in unbuildable:
                continue
            in_axis, out_axis = unit.axes
            xs = level_counts(in_axis, level, round_to, max_ratio)
            ys = level_counts(out_axis, level, round_to, max_ratio)
            points = []
            for kin, kout in itertools.product(xs, ys):
                built = build_micro(model, unit, kin, kout)
                if built is None:
                    unbuildable.add(unit.name)
                    break
                sig = signature(built[0], built[1], target.fmt, target.precision)
                points.append((kin, kout, sig))
                if sig not in cache and sig not in todo:
                    todo[sig] = (sig, *built)
            else:
                plans[unit.name] = points
        if level == 0:  # last: batched with the smallest units
            for *_, sig, m, x in probes:
                todo.setdefault(sig, (sig, m, x))
            todo.setdefault(null_sig, (null_sig, *null))
        measurer.run(list(todo.values()), f"latency table L{level} ({target.runtime})", timed=level > 0)
        complete = True
        for name, points in plans.items():
            if all(s in cache for *_, s in points):
                t = tables[name]
                t.xs = sorted({p[0] for p in points}, key=_none_first)
                t.ys = sorted({p[1] for p in points}, key=_none_first)
                t.values = {(kin, kout): float(cache.get(s) or 0.0) for kin, kout, s in points}
                used[name] = {s for *_, s in points}
            else:
                complete = False
        if complete:
            stats.levels_done = level
        if stats.budget_spent:
            break
    _estimate_missing(tables, stats)
    overhead = {null_sig, *(p[2] for p in probes)}
    distinct = set().union(*used.values(), {s for s in overhead if s in cache})
    stats.micro_models = len(distinct)
    stats.measured = len(measurer.measured)
    stats.cached = len(distinct - measurer.measured)
    stats.failed = len(measurer.failed)
    stats.seconds = round(time.monotonic() - start, 1)
    null_ms = float(cache.get(null_sig) or 0.0)
    io = _fit_io([(shape, depth, cache.get(sig)) for shape, depth, sig, _, _ in probes])
    return LatencyTables(list(units), tables, target.fingerprint(), round_to, max_ratio, stats, null_ms, io)


def _fit_io(points: list[tuple[tuple[int, ...], int, float | None]]) -> tuple[float, float]:
    """``a + b * elements`` through the probes' overheads ``2 * t(depth 1) - t(depth 2)`` (both >= 0)."""
    by_shape: dict[tuple[int, ...], dict[int, float]] = {}
    for shape, depth, ms in points:
        if ms is not None:
            by_shape.setdefault(shape, {})[depth] = ms
    rows = [(math.prod(s), 2 * d[1] - d[2]) for s, d in by_shape.items() if 1 in d and 2 in d]
    if len(rows) < 2:
        return 0.0, 0.0
    n = np.array([r[0] for r in rows], dtype=float)
    o = np.array([r[1] for r in rows])
    (b, a), *_ = np.linalg.lstsq(np.stack([n, np.ones_like(n)], 1), o, rcond=None)
    if a < 0:  # through the origin instead
        a, b = 0.0, float(n @ o / (n @ n))
    return max(float(a), 0.0), max(float(b), 0.0)


def _none_first(v: int | None) -> int:
    return -1 if v is None else v


def _estimate_missing(tables: dict[str, UnitTable], stats: TableStats) -> None:
    """Units without a measured grid: ms ~ a*MACs + b*activation elements, fitted on the measured units."""
    measured = [t for t in tables.values() if t.values]
    missing = [t for t in tables.values() if not t.values]
    if not missing:
        return
    if measured:
        a = np.array([[t.unit.macs, _elements(t.unit, t.unit.in_shape[1], t.unit.out_shape[1])] for t in measured])
        b = np.array([t.at(None, None) for t in measured])
        coef, *_ = np.linalg.lstsq(a, b, rcond=None)
        per_mac, per_elem = (max(float(c), 0.0) for c in coef)
    else:
        per_mac, per_elem = 0.0, 0.0
    for t in missing:
        t.estimate = (per_mac, per_elem)
        stats.estimated_units.append(t.unit.name)
