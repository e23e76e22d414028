"""Deploy's latency budget (``prune.latency_ms`` / ``prune.speedup``): plan with latency measured on the target's
runtime (:mod:`edgeprune.latency`), verify by measuring, and hand deploy a :class:`~edgeprune.planning.Planned`."""

from __future__ import annotations

from pathlib import Path

from edgeprune.bench.remote import SshRunner
from edgeprune.config import Target
from edgeprune.errors import ConfigError
from edgeprune.formats import format_named
from edgeprune.latency import LatencyBudget, LatencyTarget, plan_to_latency
from edgeprune.pipeline.strategies import Request
from edgeprune.planning import Planned

TIME_BUDGET_S = 900.0  # seconds of micro-model measuring before the tables stop growing (level 0 always runs)


def check_latency(target: Target) -> None:
    """Refuse combinations a latency budget cannot honour, naming the field."""
    cfg = target.prune
    if not cfg.latency:
        return
    if cfg.max_drop is not None:
        raise ConfigError("prune.latency_ms/speedup and prune.max_drop are two budgets; keep one")
    if cfg.when == "before":
        raise ConfigError("prune.when 'before' budgets MACs only; a latency budget prunes after training")


def latency_target_for(target: Target) -> LatencyTarget:
    """Where a deploy target's latency is measured: its export format's runtime, bench threads/cores/remote."""
    bench, export = target.bench, target.export
    remote = None
    if bench.remote:
        remote = SshRunner.from_spec(
            bench.remote, key_file=bench.remote_key or None, python=bench.remote_python, workdir=bench.remote_workdir
        )
    runtime = format_named(export.format).runtime
    return LatencyTarget(
        runtime, bench.threads, tuple(bench.cores), export.precision, bench.xnnpack, remote, warmup=5, runs=40
    )


def latency_budget(target: Target) -> LatencyBudget:
    return LatencyBudget(latency_ms=target.prune.latency_ms, speedup=target.prune.speedup)


def prune_to_latency(req: Request, target: Target, tables: str | Path | None = None) -> Planned:
    """A pruned copy of ``req.model`` whose latency measured on the target meets the budget (within tolerance).

    ``prune.method = "sensitivity"``: damage per millisecond from the cached sensitivity scan; otherwise from weight
    magnitude (no scan). Tables are cached per target fingerprint under ``$EDGEPRUNE_CACHE/latency``."""
    check_latency(target)
    cfg = req.cfg
    sens = req.scan() if cfg.method == "sensitivity" else None
    result = plan_to_latency(
        req.model, req.example, sens, latency_budget(target), latency_target_for(target),
        importance=req.criterion(), round_to=cfg.round_to, max_ratio=cfg.max_ratio,
        ignored_layers=cfg.ignored_layers, spec=req.spec, cache_dir=tables,
        time_budget_s=TIME_BUDGET_S,
    )  # fmt: skip
    result.plan.model = req.spec
    summary = result.summary()
    return Planned(
        plan=result.plan,
        model=result.model,
        kind="latency",
        budget=result.target_fraction,
        macs=result.macs,
        params=result.params,
        base_macs=result.base_macs,
        base_params=result.base_params,
        method=cfg.method,
        details={"latency": summary},
        measured_fraction=result.measured_fraction,
    )
