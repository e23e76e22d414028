"""End-to-end measurements: whole (pruned) networks exported as deployed and timed interleaved on the target.

Also the random plans the latency model is fitted and validated on: every group pruned at its own ratio around a
plan-wide level, rounded by ``round_to`` exactly as a planned cut would be.
"""

from __future__ import annotations

import copy
import random
import statistics
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from edgeprune.export import export_model
from edgeprune.graph.depgraph import GroupInfo
from edgeprune.latency.target import LatencyTarget
from edgeprune.latency.units import under
from edgeprune.logs import quiet
from edgeprune.progress import progress_bar
from edgeprune.prune import Plan, apply_plan, make_plan


@dataclass(frozen=True)
class Timed:
    """One network's latency on the target over fresh processes and its ratio to the reference.

    ``across="median"``: median latency, median of the per-process ratios; ``"min"``: the minima and their ratio."""

    name: str
    ms: float
    ratio: float  # median over processes of (this p50 / reference p50 in the same process)
    runs: tuple[float, ...]


def kept_counts(plan: Plan, groups: Sequence[GroupInfo]) -> dict[str, int]:
    """Group root -> kept index count under ``plan`` (full width where the plan leaves a group alone)."""
    counts = {g.root: g.width for g in groups}
    for g in plan.groups:
        if g.root in counts:
            counts[g.root] = len(g.keep)
    return counts


def random_plan(
    model: nn.Module,
    example: torch.Tensor,
    groups: Sequence[GroupInfo],
    rng: random.Random,
    round_to: int,
    max_ratio: float,
    level: tuple[float, float] = (0.15, 0.65),
    blocks: Sequence[str] = (),
    block_chance: float = 0.3,
) -> Plan:
    """A plan pruning each group at ``level`` +- a per-group spread (magnitude importance picks the indices);
    with ``blocks``, one of them is also dropped with probability ``block_chance``."""
    center = rng.uniform(*level)
    ratios = {g.root: min(max(rng.gauss(center, 0.15), 0.0), max_ratio) for g in groups}
    dropped = [rng.choice(list(blocks))] if blocks and rng.random() < block_chance else []
    ratios = {r: v for r, v in ratios.items() if not under(r, dropped)}
    return make_plan(model, example, ratios, importance="l2", blocks=dropped, round_to=round_to, max_ratio=max_ratio)


def export_for(target: LatencyTarget, model: nn.Module, example: torch.Tensor, path: Path) -> Path:
    """Export ``model`` as the target deploys it (verified by the exporter); returns the file."""
    extra: dict[str, object] = {}
    if target.precision == "int8":
        extra["calibration"] = torch.randn(8, *example.shape[1:], generator=torch.Generator().manual_seed(0))
    with quiet():
        return export_model(model.eval(), example, path, target.fmt, target.precision, force=True, **extra).path


def time_files(target: LatencyTarget, paths: Mapping[str, Path], reference: str) -> dict[str, Timed]:
    """Time each file in its own runner processes, round-robin next to ``reference`` (``target.repeats`` each).

    Pairs, not one process for all: interleaving many large networks evicts each one's weights from the cache
    and slows every one of them (DESIGN.md, known traps)."""
    names = list(paths)
    own: dict[str, list[float]] = {n: [] for n in names}
    ratios: dict[str, list[float]] = {n: [] for n in names}
    others = [n for n in names if n != reference] or [reference]
    with progress_bar(f"time {len(others)} network(s) on {target.runtime}", total=len(others)) as bar:
        for name in others:
            pair = [paths[reference]] if name == reference else [paths[reference], paths[name]]
            for run in target.measure_runs(pair):
                own[reference].append(run[0])
                own[name].append(run[-1])
                ratios[name].append(run[-1] / run[0])
            bar.advance()
    ratios[reference] = [1.0]
    if target.across == "min":  # the least disturbed process of each: ratio of the minima
        base = min(own[reference])
        return {n: Timed(n, min(own[n]), min(own[n]) / base, tuple(own[n])) for n in names}
    return {n: Timed(n, statistics.median(own[n]), statistics.median(ratios[n]), tuple(own[n])) for n in names}


def time_models(
    target: LatencyTarget,
    models: Mapping[str, nn.Module],
    example: torch.Tensor,
    reference: str,
    workdir: str | Path | None = None,
) -> dict[str, Timed]:
    """Export every model (as deployed, verified) and time each next to ``reference``: see :func:`time_files`."""
    with tempfile.TemporaryDirectory(prefix="edgeprune-e2e-", dir=workdir) as tmp:
        paths = {}
        with progress_bar(f"export {len(models)} network(s) to {target.fmt}", total=len(models)) as bar:
            for i, (name, m) in enumerate(models.items()):
                paths[name] = export_for(target, m, example, Path(tmp) / f"net{i}.{target.fmt}")
                bar.advance()
        return time_files(target, paths, reference)


def pruned_copy(model: nn.Module, plan: Plan, example: torch.Tensor) -> nn.Module:
    return apply_plan(copy.deepcopy(model).eval(), plan, example)
