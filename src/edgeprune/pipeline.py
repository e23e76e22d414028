"""deploy(): train-or-load -> analyze -> prune -> fine-tune -> export -> verify -> benchmark -> report."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeprune.atomic import write_json, write_text
from edgeprune.config import Target
from edgeprune.data import Dataset, load_dataset
from edgeprune.deploy_artifacts import export_verified, protocol_for, time_together
from edgeprune.errors import EdgepruneError
from edgeprune.export.metadata import sha256_file
from edgeprune.finetune import evaluate, fit
from edgeprune.models import ModelSpec, build_model, load_checkpoint
from edgeprune.models.pretrained import train_or_load
from edgeprune.planning.strategies import prune_to_budget
from edgeprune.prune import save_pruned
from edgeprune.report import render_markdown, versions


@dataclass(frozen=True)
class DeployRequest:
    """What the user asked for on top of the target file's defaults."""

    target: Target
    model: str | None = None
    checkpoint: str | None = None
    data: str | None = None
    out: str | None = None


def _log(msg: str) -> None:
    print(f"[edgeprune] {msg}", flush=True)


def _macs_params(model: nn.Module, example: torch.Tensor) -> tuple[int, int]:
    import torch_pruning as tp

    macs, params = tp.utils.count_ops_and_params(model, example)
    return int(macs), int(params)


def check_accepts(model: nn.Module, example: torch.Tensor, spec: ModelSpec, data: Dataset) -> None:
    """Fail early, naming model and data, when the model cannot take the data's samples or classes."""
    try:
        with torch.no_grad():
            out = model.eval()(example)
    except Exception as exc:  # any forward failure here is a model/data mismatch
        raise EdgepruneError(
            f"model '{spec.spec}' cannot run on samples of data '{data.name}' with shape {tuple(example.shape)}:"
            f" {str(exc).splitlines()[0][:300]}"
        ) from None
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[1] != data.num_classes:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise EdgepruneError(
            f"model '{spec.spec}' returns {shape}; data '{data.name}' needs logits of shape (N, {data.num_classes})"
        )


def load_baseline(req: DeployRequest, data: Dataset) -> tuple[ModelSpec, nn.Module, str]:
    """The unpruned model: a user checkpoint if given, else trained once on the data and cached."""
    spec = ModelSpec(req.model or req.target.model.spec, num_classes=data.num_classes, in_channels=data.input_shape[0])
    checkpoint = req.checkpoint or req.target.model.checkpoint
    check_accepts(build_model(spec), data.x_val[:1], spec, data)
    if checkpoint:
        return spec, load_checkpoint(build_model(spec), checkpoint).eval(), str(checkpoint)
    model, path, cached = train_or_load(spec, data, req.target.model.train_epochs)
    _log(f"baseline {'loaded from cache' if cached else 'trained and cached'}: {path}")
    return spec, model, str(path)


def deploy(req: DeployRequest) -> dict[str, Any]:
    """Run the whole chain for one target; writes artifacts, report.json and report.md under the out dir."""
    start = time.perf_counter()
    target = req.target
    out = Path(req.out or f"build/deploy/{target.name}")
    data = load_dataset(req.data or target.model.data)
    spec, baseline, checkpoint = load_baseline(req, data)
    example = data.x_val[:1].clone()
    base_macs, base_params = _macs_params(baseline, example)
    base_acc, _ = evaluate(baseline, data.x_val, data.y_val)
    _log(f"baseline: {base_macs:,} MACs, {base_params:,} params, val top-1 {base_acc:.2f}%")

    cut = prune_to_budget(baseline, example, spec, target.prune, data, base_macs)
    pruned, plan, pruned_macs = cut.model, cut.plan, cut.macs
    _log(f"pruned ({target.prune.method}): {pruned_macs:,} MACs ({pruned_macs / base_macs:.3f}x)")
    fit_result = fit(pruned, data, target.finetune, teacher=copy.deepcopy(baseline), description="fine-tune")
    pruned_acc, _ = evaluate(pruned, data.x_val, data.y_val)
    _, pruned_params = _macs_params(pruned, example)
    _log(f"fine-tuned: val top-1 {pruned_acc:.2f}% ({pruned_acc - base_acc:+.2f} pt)")
    save_pruned(out / "pruned_model", pruned, plan)

    plan_hash = sha256_file(out / "pruned_model" / "plan.json")
    precisions = [target.export.precision] + (["fp32"] if target.export.precision != "fp32" else [])
    pruned_arts = [export_verified("pruned", pruned, example, out, target, p, data, plan_hash) for p in precisions]
    base_art = export_verified("baseline", baseline, example, out, target, "fp32", data)
    for e in pruned_arts:
        _log(
            f"exported {e.artifact.path}: parity rel. err {e.record['parity_rel_err']:.2e},"
            f" val top-1 {e.record['accuracy']:.2f}%"
        )
    protocol = protocol_for(target)
    measured = time_together(base_art, pruned_arts, protocol)
    base_lat = base_art.record
    for e in pruned_arts:
        lat = e.record["latency_ms"]["p50"]
        _log(
            f"{e.artifact.path.name}: p50 {lat:.3f} ms vs baseline {base_lat['latency_ms']['p50']:.3f} ms"
            f" ({e.record['speedup_vs_baseline']:.2f}x)"
        )

    report = {
        "target": target.name,
        "model": spec.spec,
        "checkpoint": checkpoint,
        "data": data.describe(),
        "seed": target.finetune.seed,
        "baseline": {"macs": base_macs, "params": base_params, "accuracy": base_acc},
        "pruned": {"macs": pruned_macs, "params": pruned_params, "accuracy": pruned_acc},
        "prune": {
            "method": target.prune.method,
            "importance": target.prune.importance,
            "model_dir": str(out / "pruned_model"),
            "groups": len(plan.groups),
            "blocks": list(plan.blocks),
            "round_to": target.prune.round_to,
            "macs_budget": target.prune.macs,
            "details": cut.details,
        },
        "finetune": {
            "epochs": target.finetune.epochs,
            "distill": target.finetune.distill,
            "best_epoch": fit_result.best_epoch,
            "history": fit_result.history,
        },
        "artifacts": [e.record for e in pruned_arts],
        "baseline_artifact": base_art.record,
        "baseline_latency": {
            "runtime": protocol.runtime,
            "threads": protocol.threads,
            "precision": "fp32",
            "latency_ms": base_lat["latency_ms"],
            "load_ms": base_lat["load_ms"],
            "first_ms": base_lat["first_ms"],
        },
        "bench": {
            "runtime": protocol.runtime,
            "threads": protocol.threads,
            "warmup": protocol.warmup,
            "runs": protocol.runs,
            "interleaved": True,
            "peak_rss_bytes": measured["peak_rss_bytes"],
            "env": measured["env"],
        },
        "versions": versions(),
        "wall_s": time.perf_counter() - start,
    }
    write_json(out / "report.json", report)
    write_text(out / "report.md", render_markdown(report))
    _log(f"wrote {out / 'report.json'} and {out / 'report.md'} in {report['wall_s']:.0f} s")
    return report


def deploy_target(target: str | Target, **kwargs: str | None) -> dict[str, Any]:
    """Convenience API: ``deploy_target("tflite")`` loads ``targets/tflite.toml`` and runs it."""
    from edgeprune.config import load_target

    resolved = load_target(target) if isinstance(target, str) else target
    return deploy(DeployRequest(target=resolved, **kwargs))
