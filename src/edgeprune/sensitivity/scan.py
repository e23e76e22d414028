"""Sensitivity scan: prune each coupled group alone at every ratio of a grid, drop each removable block alone,
and measure metric and loss on choosing samples (no fine-tuning). Groups tied by a residual add are pruned
as a whole group, never one conv of it (which would prune nothing)."""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from edgeprune.data import Data, calibration_samples, choosing_samples
from edgeprune.errors import EdgepruneError
from edgeprune.graph.blocks import find_blocks
from edgeprune.graph.depgraph import build_graph, group_of, iter_groups, output_layers, resolve_layers
from edgeprune.graph.trace import TraceError
from edgeprune.importance import Criterion, get_importance
from edgeprune.progress import progress_bar
from edgeprune.prune import GroupKeep, Plan, apply_plan, count_macs_params, drop_blocks, keep_count, keep_indices
from edgeprune.prune.recalibrate import recalibrate_bn
from edgeprune.sensitivity.cache import cache_key, load_cached, store
from edgeprune.sensitivity.estimate import GradientEstimator, spearman
from edgeprune.sensitivity.result import BlockPoint, GroupCurve, Point, Sensitivity
from edgeprune.task import CLASSIFICATION, Task, evaluate

DEFAULT_RATIOS = (0.1, 0.3, 0.5, 0.7, 0.9)


@dataclass(frozen=True)
class ScanOptions:
    """What a scan measures: samples, ratio grid, criterion, rounding, ignored layers, blocks, BN recalibration."""

    samples: int = 1000  # choosing samples (select split, then train)
    ratios: tuple[float, ...] = DEFAULT_RATIOS
    importance: str = "magnitude"
    round_to: int = 1
    ignored_layers: tuple[str, ...] = ()
    blocks: bool = True
    measure: bool = True  # False: the gradient estimate only (no pruned model is evaluated)
    recalibrate: int = 256  # choosing samples re-estimating BatchNorm statistics of each pruned copy (0: off)

    def __post_init__(self) -> None:
        check_ratios(self.ratios)
        if self.samples < 1 or self.round_to < 1 or self.recalibrate < 0:
            raise EdgepruneError(
                f"scan options: samples ({self.samples}) and round_to ({self.round_to}) must be >= 1,"
                f" recalibrate ({self.recalibrate}) >= 0"
            )

    def settings(self) -> dict[str, object]:
        """The plain-data settings a cached scan is keyed by."""
        return {
            "samples": self.samples,
            "ratios": check_ratios(self.ratios),
            "importance": self.importance,
            "round_to": self.round_to,
            "ignored": sorted(self.ignored_layers),
            "blocks": self.blocks,
            "measure": self.measure,
            "recalibrate": self.recalibrate,
            "version": 4,  # 4: BatchNorm re-estimated on train samples, not the scored ones
        }


def check_ratios(ratios: Iterable[float]) -> list[float]:
    """Sorted unique ratios, each in (0, 1)."""
    grid = sorted({round(float(r), 6) for r in ratios})
    if not grid or any(not 0.0 < r < 1.0 for r in grid):
        raise EdgepruneError(f"ratio grid {grid} must be non-empty with every ratio in (0, 1)")
    return grid


def _measure(
    model: nn.Module, example: torch.Tensor, x: torch.Tensor, y: torch.Tensor, ratio: float, keep: int, task: Task
) -> Point:
    metric, loss = evaluate(model, x, y, task=task)
    macs, params = count_macs_params(model, example)
    return Point(ratio=ratio, keep=keep, metric=round(metric, 4), loss=round(loss, 6), macs=macs, params=params)


def scan(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    options: ScanOptions = ScanOptions(),
    task: Task = CLASSIFICATION,
    name: str = "",
    data_name: str = "",
    criterion: Criterion | None = None,
    calibration: torch.Tensor | None = None,
) -> Sensitivity:
    """Scan ``model`` on choosing samples ``x``/``y`` (uncached; see :func:`sensitivity` for the cached entry).
    BatchNorm is re-estimated on ``calibration`` (train samples; ``x`` when None) before each measured point."""
    start = time.perf_counter()
    grid = check_ratios(options.ratios)
    round_to, recalibrate, measure = options.round_to, options.recalibrate, options.measure
    model = model.eval()
    example = x[:1].clone()
    settle = (calibration if calibration is not None else x)[:recalibrate]
    criterion = criterion or get_importance(options.importance, model, x, y, loss=task.loss)
    ignored = resolve_layers(model, [*output_layers(model, example), *options.ignored_layers])
    dg = build_graph(model, example)
    infos = [(info, g) for info, g in iter_groups(dg, model, ignored) if info.prunable]
    full = {info.root: group_of(dg, model, info.root, list(range(info.width))) for info, _ in infos}
    block_infos = find_blocks(model, example) if options.blocks else []
    base = _measure(model, example, x, y, 0.0, 0, task)
    estimator = GradientEstimator()
    estimator.collect(model, full, [b.path for b in block_infos], x, y, task.loss)
    curves: list[GroupCurve] = []
    total = len(infos) * len(grid) + len(block_infos)
    with progress_bar("sensitivity", total=total) as bar:
        for info, _ in infos:
            with torch.no_grad():
                scores = criterion(full[info.root])
            curve = GroupCurve(
                info.root, info.kind, info.width, info.channel_groups, info.members, info.consumers, info.coupling
            )
            measured: dict[int, Point] = {}
            for r in grid:
                keep = keep_count(info.width, info.channel_groups, r, round_to)
                kept = keep_indices(scores, info.width, info.channel_groups, keep)
                removed = sorted(set(range(info.width)) - set(kept))
                if keep not in measured:
                    if measure and removed:
                        plan = Plan(list(example.shape), [GroupKeep(info.root, info.kind, info.width, kept)])
                        try:
                            pruned = apply_plan(copy.deepcopy(model), plan, example)
                        except TraceError as exc:  # e.g. a hard-coded view: planners leave the group alone too
                            print(f"note: sensitivity: group '{info.root}' left out: {exc.reason}", file=sys.stderr)
                            bar.advance(len(grid) - len(curve.points))
                            curve.points.clear()
                            break
                        if recalibrate:
                            recalibrate_bn(pruned, settle)
                        point = _measure(pruned, example, x, y, r, keep, task)
                    else:
                        point = Point(**{**asdict(base), "ratio": r, "keep": keep})
                    point.estimate = round(estimator.group(info.root, removed), 6)
                    if not measure:
                        point.loss = round(base.loss + point.estimate, 6)
                    measured[keep] = point
                curve.points.append(Point(**{**asdict(measured[keep]), "ratio": r}))
                bar.advance(metric=curve.points[-1].metric)
            if curve.points:
                curves.append(curve)
        block_points = []
        for b in block_infos:
            dropped = drop_blocks(copy.deepcopy(model), [b.path]) if measure else model
            if measure and recalibrate:
                recalibrate_bn(dropped, settle)
            point = _measure(dropped, example, x, y, 1.0, 0, task)
            point.estimate = round(estimator.block(b.path), 6)
            if not measure:
                point.metric, point.loss = base.metric, round(base.loss + point.estimate, 6)
            block_points.append(BlockPoint(b.path, b.type, point))
            bar.advance(metric=point.metric)
    result = Sensitivity(
        model=name or type(model).__name__,
        data=data_name,
        samples=len(x),
        ratios=grid,
        importance=criterion.name,
        round_to=round_to,
        metric_name=task.metric_name,
        higher_is_better=task.higher_is_better,
        base=base,
        groups=curves,
        blocks=block_points,
        input_shape=list(example.shape),
    )
    result.estimate = agreement(result) if measure else {"method": "gradient (Fisher-Taylor)", "measured": False}
    result.seconds = round(time.perf_counter() - start, 2)
    return result


def agreement(result: Sensitivity) -> dict[str, object]:
    """Spearman rank correlation of the gradient estimate with the measured loss increase and metric drop."""
    points = [p for g in result.groups for p in g.points] + [b.point for b in result.blocks]
    est = [p.estimate for p in points]
    loss = [p.loss - result.base.loss for p in points]
    drop = [result.drop(p) for p in points]
    per_ratio = []
    for i, _ in enumerate(result.ratios):
        col = [g.points[i] for g in result.groups]
        rho = spearman([p.estimate for p in col], [p.loss for p in col])
        if rho is not None:
            per_ratio.append(rho)
    return {
        "method": "gradient (Fisher-Taylor)",
        "measured": True,
        "spearman_loss": spearman(est, loss),
        "spearman_metric": spearman(est, drop),
        "spearman_across_groups_mean": round(sum(per_ratio) / len(per_ratio), 4) if per_ratio else None,
        "points": len(points),
    }


def sensitivity(
    model: nn.Module,
    data: Data,
    options: ScanOptions = ScanOptions(),
    task: Task = CLASSIFICATION,
    name: str = "",
    task_key: str = "classification",
) -> Sensitivity:
    """Cached scan of ``model`` on ``options.samples`` choosing samples of ``data`` (select, then train).

    ``task_key`` names the task in the cache key (a custom task's loss and metric specs)."""
    x, y = choosing_samples(data, options.samples)
    key = cache_key(model, {"data": data.fingerprint, "task": task_key}, options.settings())
    cached = load_cached(key)
    if cached is not None:
        return cached
    calibration = calibration_samples(data, options.recalibrate)
    result = scan(model, x, y, options, task, name, data.name, calibration=calibration)
    result.key = key
    store(result)
    return result
