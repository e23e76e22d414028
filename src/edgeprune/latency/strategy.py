"""Deploy's entry point: a target's latency budget -> a pruned copy, in the shape deploy's strategies return.

The only module of this package that reads the config and data layers (``Target``'s export/bench sections,
``PruneConfig``, ``Dataset`` via the sensitivity scan), so interface changes there touch this file alone.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from edgeprune.bench.remote import SshRunner
from edgeprune.config import PruneConfig, Target
from edgeprune.data import Dataset
from edgeprune.latency.cache import CACHE_DIR
from edgeprune.latency.planner import LatencyBudget, plan_to_latency
from edgeprune.latency.target import LatencyTarget
from edgeprune.models import ModelSpec
from edgeprune.planning.strategies import Pruned

RUNTIME_OF_FORMAT = {"tflite": "litert", "onnx": "onnxruntime"}


def latency_target_for(target: Target) -> LatencyTarget:
    """Where a deploy target's latency is measured: its export format's runtime, bench threads/cores/remote."""
    bench, export = target.bench, target.export
    runtime = RUNTIME_OF_FORMAT[export.format]
    remote = None
    if bench.remote:
        remote = SshRunner.from_spec(
            bench.remote, key_file=bench.remote_key or None, python=bench.remote_python, workdir=bench.remote_workdir
        )
    return LatencyTarget(
        runtime, bench.threads, tuple(bench.cores), export.precision, bench.xnnpack, remote, warmup=5, runs=40
    )


def prune_to_latency(
    baseline: nn.Module,
    example: torch.Tensor,
    spec: ModelSpec,
    cfg: PruneConfig,
    data: Dataset,
    budget: LatencyBudget,
    target: LatencyTarget,
    cache_dir: str | Path | None = CACHE_DIR,
    time_budget_s: float | None = 900.0,
) -> Pruned:
    """Prune a copy of ``baseline`` to ``budget`` measured on ``target``.

    ``cfg.method == "sensitivity"``: damage from the cached sensitivity scan (select split, then train); any other
    method plans without a scan (magnitude damage). ``cfg.round_to``, ``max_ratio``, ``importance`` and
    ``ignored_layers`` apply as for MACs budgets. ``details`` holds budget, predicted and measured latency."""
    from edgeprune.sensitivity.samples import choosing_samples

    samples = choosing_samples(data, min(1000, len(data.x_select) + len(data.x_train)))
    sens = None
    if cfg.method == "sensitivity":
        from edgeprune.sensitivity import sensitivity

        sens = sensitivity(
            baseline, data, importance=cfg.importance, round_to=cfg.round_to, ignored_layers=cfg.ignored_layers,
            name=spec.spec,
        )  # fmt: skip
    result = plan_to_latency(
        baseline, example, sens, budget, target, importance=cfg.importance, samples=samples, round_to=cfg.round_to,
        max_ratio=cfg.max_ratio, ignored_layers=cfg.ignored_layers, spec=spec, cache_dir=cache_dir,
        time_budget_s=time_budget_s,
    )  # fmt: skip
    return Pruned(result.model, result.plan, result.macs, {"latency": result.summary()})
