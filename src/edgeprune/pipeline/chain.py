"""deploy(): load -> prune to budget -> fine-tune -> export and verify -> time together -> report.

The top function reads as the named steps; each step is a short function below it.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from edgeprune.atomic import write_json, write_text
from edgeprune.baseline import Baseline, load_baseline
from edgeprune.bench.measurement import Measurement, protocol_for, time_together
from edgeprune.config import FinetuneConfig, Target
from edgeprune.data import Data, Preprocessing, load_data
from edgeprune.data.labels import with_class_count
from edgeprune.data.spec import data_record
from edgeprune.export import VerifiedArtifact, export_verified
from edgeprune.finetune import FitResult, fit
from edgeprune.hashing import sha256_file
from edgeprune.pipeline import outputs
from edgeprune.pipeline.connections import connection_figures, sparsity_callback
from edgeprune.pipeline.device_budget import device_notes, on_device, prune_on_device
from edgeprune.pipeline.embedded import budget_notes, embedded_figures
from edgeprune.pipeline.latency_budget import prune_to_latency
from edgeprune.pipeline.method import Outcome, prune_and_train
from edgeprune.pipeline.preflight import check_before_training
from edgeprune.pipeline.prepruned import from_scratch_recipe, prune_before
from edgeprune.pipeline.strategies import CHOOSING_SAMPLES, Request
from edgeprune.planning import Planned, rounding_notes
from edgeprune.prune import count_macs_params, save_pruned
from edgeprune.prune.io import PLAN_FILE
from edgeprune.report import (
    ConnectionFigures,
    DataSummary,
    DeployReport,
    FinetuneFigures,
    LatencyFigures,
    ModelFigures,
    PruneFigures,
    TaskSummary,
    TimedArtifact,
    render_html,
    render_markdown,
    versions,
)
from edgeprune.sensitivity import ScanOptions, Sensitivity
from edgeprune.sensitivity.cache import cache_key, load_cached
from edgeprune.task import Task, TaskSpec, evaluate, resolve_task

PRUNED_DIR = "pruned_model"


@dataclass(frozen=True)
class DeployRequest:
    """A target (with the user's overrides applied), where to write, and whether to replace old results;
    ``inputs``: paths the run reads beyond the target's fields (the target file itself)."""

    target: Target
    out: str | Path | None = None
    force: bool = False
    inputs: tuple[outputs.Input, ...] = ()


def _log(msg: str) -> None:
    print(f"[edgeprune] {msg}", flush=True)


def preprocessing_of(target: Target) -> Preprocessing | None:
    """The user's preprocessing from ``[data]`` (None when the section states none)."""
    d = target.data
    if not d.user_preprocessing:
        return None
    size = lambda v: (v[0], v[-1]) if v else None  # noqa: E731
    return Preprocessing(
        resize=size(d.resize), crop=size(d.crop), scale=d.scale, mean=d.mean, std=d.std,
        channels=d.channels or None, source="user",
    )  # fmt: skip


def task_of(target: Target, data: Data | None = None) -> tuple[Task, str]:
    """The task and the key that names it in caches; with no kind named, the one ``data`` is for."""
    t = target.task
    kind = t.kind or (data.task if data is not None and data.task != "classification" else "")
    spec = TaskSpec(loss=t.loss, metric=t.metric, higher_is_better=t.higher_is_better, distill=t.distill, kind=kind)
    return resolve_task(spec), spec.key


def figures(model: nn.Module, data: Data, task: Task) -> ModelFigures:
    macs, params = count_macs_params(model, data.example())
    metric, _ = evaluate(model, data.val, task=task)
    return ModelFigures(macs, params, metric)


@dataclass(frozen=True)
class Trained:
    """The training after pruning: its recipe, its result, and the connection pruning it did (if any)."""

    recipe: FinetuneConfig
    result: FitResult
    connections: ConnectionFigures | None


def train_pruned(planned: Planned, baseline: Baseline, data: Data, target: Target, task: Task) -> Trained:
    """Fine-tune the pruned model with the unpruned one as teacher (``prune.when = "after"``), or train it from
    scratch for the same total epochs (``"before"``); connections are pruned on the way when the target asks."""
    before = target.prune.when == "before"
    recipe = from_scratch_recipe(target) if before else target.finetune
    callback = sparsity_callback(planned.model, target.prune, recipe, data)
    teacher = None if before else copy.deepcopy(baseline.model)
    what = "train from scratch" if before else "fine-tune"
    result = fit(planned.model, data, recipe, teacher=teacher, description=what, task=task, callback=callback)
    return Trained(recipe, result, connection_figures(planned.model, callback))


def trained_by(outcome: Outcome, target: Target) -> Trained:
    """The training record of edgeprune's default method (pruned, then fine-tuned with the unpruned teacher)."""
    return Trained(outcome.recipe, outcome.fit, connection_figures(outcome.model, outcome.callback))


@dataclass(frozen=True)
class Exported:
    """What deploy exported: the pruned model's artifacts, the unpruned fp32 reference, and the unpruned model at
    the target's lower precision (so int8 is compared with int8)."""

    pruned: list[VerifiedArtifact]
    reference: VerifiedArtifact
    unpruned: list[VerifiedArtifact]

    @property
    def paths(self) -> list[str]:
        return [r.path for r in (self.reference, *self.unpruned, *self.pruned)]


def _exported(record: VerifiedArtifact, task: Task) -> VerifiedArtifact:
    _log(f"exported {record.name}: parity rel. err {record.parity.rel_err:.2e}, val {task.metric_name}"
         f" {task.format(record.metric)}")  # fmt: skip
    return record


def export_all(
    pruned: nn.Module, baseline: nn.Module, staging: Path, target: Target, data: Data, task: Task
) -> Exported:
    """The pruned model at the target's precision (and fp32 beside a lower one); the unpruned model in fp32 and at
    the target's precision."""
    cfg = target.export
    plan_hash = sha256_file(staging / PRUNED_DIR / PLAN_FILE)
    precisions = [cfg.precision] + (["fp32"] if cfg.precision != "fp32" else [])
    sparse = cfg.sparse or (target.prune.connections and cfg.format == "tflite")  # zeros stored sparsely
    pruned_cfg = dataclasses.replace(cfg, sparse=sparse)
    pruned_records = [
        _exported(export_verified("pruned", pruned, staging, pruned_cfg, p, data, task, plan_hash)[1], task)
        for p in precisions
    ]
    cfg = dataclasses.replace(cfg, sparse=False)
    base = [_exported(export_verified("baseline", baseline, staging, cfg, p, data, task)[1], task) for p in precisions]
    return Exported(pruned_records, base[-1], base[:-1])


def timed(
    exported: Exported, measured: Measurement, out: Path
) -> tuple[TimedArtifact, list[TimedArtifact], list[TimedArtifact]]:
    """The reference, the other unpruned and the pruned records with their latency and speedup over the reference,
    paths moved from the staging folder to ``out``."""

    def row(record: VerifiedArtifact) -> TimedArtifact:
        final = dataclasses.replace(record, path=str(out / Path(record.path).name))
        return TimedArtifact(final, measured.of(record.path), measured.speedup(exported.reference.path, record.path))

    return row(exported.reference), [row(r) for r in exported.unpruned], [row(r) for r in exported.pruned]


def scan_used(request: Request, planned: Planned) -> Sensitivity | None:
    """The sensitivity scan the ``sensitivity`` strategy planned from, read back from the cache (the same options
    as :mod:`edgeprune.pipeline.strategies`); None for other strategies or with the cache off, never a new scan."""
    if planned.method != "sensitivity":
        return None
    cfg, data = request.cfg, request.data
    options = ScanOptions(
        samples=min(CHOOSING_SAMPLES, len(data.select) + len(data.train)),
        importance=cfg.importance,
        round_to=cfg.round_to,
        ignored_layers=tuple(cfg.ignored_layers),
        recalibrate=cfg.recalibrate,
    )
    key = cache_key(request.model, {"data": data.fingerprint, "task": request.task_key}, options.settings())
    return load_cached(key)


def write_reports(report: DeployReport, folder: Path) -> None:
    """report.json (the record), report.md and report.html (rendered from it)."""
    write_json(folder / "report.json", report.to_dict())
    write_text(folder / "report.md", render_markdown(report))
    write_text(folder / "report.html", render_html(report))


def prune_figures(
    planned: Planned, target: Target, out: Path, connections: ConnectionFigures | None = None
) -> PruneFigures:
    widths = {g.root: [g.width, len(g.keep)] for g in planned.plan.groups}
    return PruneFigures(
        method=planned.method,
        importance=target.prune.importance,
        round_to=target.prune.round_to,
        budget_kind=planned.kind,
        budget=planned.budget,
        reached=round(planned.fraction, 6),
        groups_cut=len(planned.plan.groups),
        blocks=list(planned.plan.blocks),
        widths=widths,
        predicted_metric=planned.predicted,
        model_dir=str(out / PRUNED_DIR),
        details=planned.summary(),
        when=target.prune.when,
        connections=connections,
        latency=latency_figures(planned),
        finer=planned.plan.finer,
    )


def latency_figures(planned: Planned) -> LatencyFigures | None:
    """The latency budget's record (None for MACs/params budgets)."""
    if planned.kind != "latency":
        return None
    s = planned.details["latency"]
    return LatencyFigures(
        latency_ms=s["budget"]["latency_ms"],
        speedup=s["budget"]["speedup"],
        tolerance=s["budget"]["tolerance"],
        base_ms=s["base_ms"],
        predicted_ms=s["predicted_ms"],
        measured_ms=s["measured_ms"],
        measured_speedup=s["measured_speedup"],
        within_tolerance=bool(s["within_tolerance"]),
        attempts=len(s["attempts"]),
    )


def deploy(req: DeployRequest) -> DeployReport:
    """Run the whole chain for one target; writes artifacts, report.json, report.md and report.html under ``out``."""
    start = time.perf_counter()
    target = req.target
    out = Path(req.out or Path("build") / "deploy" / target.name)
    folder = outputs.prepare(out, "deploy", req.force, inputs=[*outputs.target_inputs(target), *req.inputs])
    with outputs.writing(folder) as staging:
        report = _run(target, staging, out, start)
    _log(f"wrote {out / 'report.json'}, {out / 'report.md'} and {out / 'report.html'} in {report.wall_s:.0f} s")
    return report


def _run(target: Target, staging: Path, out: Path, start: float) -> DeployReport:
    data = with_class_count(load_data(target.data.spec, preprocessing_of(target)), target.data.num_classes or None)
    task, task_key = task_of(target, data)
    notes = list(data.notes)
    for note in notes:
        _log(f"note: {note}")
    m = target.model
    if not m.checkpoint:  # training is the expensive step: the structure is checked before it
        check_before_training(m.spec, data, task, m.checkpoint, m.estimate_bn_stats, target.prune)
    baseline = load_baseline(
        m.spec, data, task, m.checkpoint, m.train_epochs, task_key,
        estimate_bn_stats=m.estimate_bn_stats, allow_chance=m.allow_chance_baseline,
    )  # fmt: skip
    if m.checkpoint:  # loading is cheap: a chance-level checkpoint stops first, then the structure is checked
        check_before_training(m.spec, data, task, m.checkpoint, m.estimate_bn_stats, target.prune)
    base = figures(baseline.model, data, task)
    _log(f"baseline: {base.macs:,} MACs, {base.params:,} params, val {task.metric_name} {task.format(base.metric)}")

    request = Request(baseline.model, data.example(), baseline.spec.to_dict(), target.prune, data, task, task_key)
    outcome = None
    if target.prune.when == "before":
        planned = prune_before(baseline.spec, data, target, task)
    elif on_device(target):
        planned = prune_on_device(request, target)
        notes += device_notes(planned)
    elif target.prune.latency:
        planned = prune_to_latency(request, target)
    else:
        outcome = prune_and_train(
            request, target.finetune, copy.deepcopy(baseline.model), "fine-tune",
            lambda model: sparsity_callback(model, target.prune, target.finetune, data),
        )  # fmt: skip
        planned = outcome.planned
    _log(f"pruned ({planned.method}): {planned.kind} {planned.fraction:.3f}x of the unpruned model"
         f" (budget {planned.budget:.3f}x); {len(planned.plan.groups)} group(s) cut")  # fmt: skip
    notes += rounding_notes(planned, target.prune.round_to)
    notes += [
        f"prune.method auto kept the {planned.method} plan: the {key.removesuffix(' failed')} plan failed ({why})"
        for key, why in planned.details.get("auto", {}).items()
        if key.endswith(" failed")
    ]
    for note in notes[len(data.notes) :]:
        _log(f"note: {note}")
    lat = latency_figures(planned)
    if lat is not None and not lat.within_tolerance:
        notes.append(
            f"the latency budget was missed: measured {lat.measured_ms:.3f} ms ({lat.measured_speedup:.2f}x) against"
            f" {lat.base_ms * planned.budget:.3f} ms asked, after {lat.attempts} attempt(s); on a model this small"
            " fixed per-inference overhead may bound the speedup"
        )
    trained = train_pruned(planned, baseline, data, target, task) if outcome is None else trained_by(outcome, target)
    pruned = figures(planned.model, data, task)
    _log(f"trained: val {task.metric_name} {task.format(pruned.metric)} ({pruned.metric - base.metric:+.2f})")
    if trained.connections is not None:
        _log(f"connections: {trained.connections.reached:.1%} zeros in the sparsified layers")
    planned.plan.data = data_record(target.data.spec, data.preprocessing)  # `export --pruned` runs on the same data
    checkpoint = str(Path(target.model.checkpoint).resolve()) if target.model.checkpoint else None
    epochs = None if checkpoint else target.model.train_epochs
    planned.plan.baseline = {"checkpoint": checkpoint, "train_epochs": epochs}  # and on the same unpruned weights
    save_pruned(staging / PRUNED_DIR, planned.model, planned.plan)

    exported = export_all(planned.model, baseline.model, staging, target, data, task)
    embedded = None
    if target.embedded:
        int8 = [(r, base.macs) for r in exported.unpruned] + [(r, pruned.macs) for r in exported.pruned]
        embedded = embedded_figures(int8, target, data, task, staging, out)
        notes += budget_notes(target, embedded)
    measured = time_together(exported.paths, protocol_for(target.bench, target.runtime))
    reference_row, unpruned_rows, pruned_rows = timed(exported, measured, out)
    for row in [*unpruned_rows, *pruned_rows]:
        _log(f"{row.artifact.name}: p50 {row.latency.p50:.3f} ms vs unpruned {reference_row.latency.p50:.3f} ms"
             f" ({row.speedup:.2f}x)")  # fmt: skip
    report = DeployReport(
        target=target.name,
        model=baseline.spec.spec,
        checkpoint=baseline.checkpoint,
        data=DataSummary(**data.describe()),
        task=TaskSummary(**task.describe()),
        seed=target.finetune.seed,
        baseline=base,
        pruned=pruned,
        prune=prune_figures(planned, target, out, trained.connections),
        finetune=FinetuneFigures(
            trained.recipe.epochs, trained.recipe.distill, trained.result.best_epoch, trained.result.history
        ),
        artifacts=pruned_rows,
        baseline_artifact=reference_row,
        bench=dataclasses.replace(measured, latency={}),
        versions=versions(),
        wall_s=round(time.perf_counter() - start, 1),
        notes=notes,
        unpruned_artifacts=unpruned_rows,
        sensitivity=scan_used(request, planned),
        embedded=embedded,
    )
    write_reports(report, staging)
    return report


def deploy_target(
    target: str | Target, out: str | Path | None = None, force: bool = False, **changes: object
) -> DeployReport:
    """API: ``deploy_target("tflite", out="build/x", macs=0.3)`` loads ``targets/tflite.toml`` (or takes a
    :class:`Target`), applies ``changes`` (see :func:`edgeprune.pipeline.overrides.apply_overrides`) and deploys."""
    from edgeprune.pipeline.overrides import apply_overrides
    from edgeprune.pipeline.targets import load_target

    resolved = load_target(target) if isinstance(target, str) else target
    return deploy(DeployRequest(apply_overrides(resolved, **changes), out, force))
