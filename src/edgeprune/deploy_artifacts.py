"""The deploy chain's last stages: export every artifact a target asks for, verify, and time them together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgeprune.bench.harness import Protocol, measure_local
from edgeprune.config import Target
from edgeprune.data import Dataset
from edgeprune.export import Artifact, export_model
from edgeprune.export.registry import SUFFIXES

PARITY_SAMPLES = 64
RUNTIME_OF_FORMAT = {"tflite": "litert", "onnx": "onnxruntime"}


@dataclass
class Exported:
    """One verified artifact and its report record."""

    name: str
    artifact: Artifact
    record: dict[str, Any]


def _format_options(target: Target, precision: str, data: Dataset) -> dict[str, Any]:
    cfg = target.export
    if cfg.format == "onnx":
        return {"opset": cfg.opset, "dynamic_batch": cfg.dynamic_batch}
    options: dict[str, Any] = {"nhwc": cfg.nhwc}
    if precision == "int8":
        options.update(calibration=data.x_select[: cfg.calibration_samples], io_dtype=cfg.io_dtype)  # never x_val
    return options


def export_verified(
    name: str,
    model: nn.Module,
    example: torch.Tensor,
    out: Path,
    target: Target,
    precision: str,
    data: Dataset,
    plan_hash: str | None = None,
) -> Exported:
    """Export ``model`` at ``precision``; the exporter verifies it (parity, and int8 accuracy on validation)."""
    cfg = target.export
    int8 = precision == "int8"
    artifact = export_model(
        model,
        example,
        out / f"{name}_{precision}{SUFFIXES[cfg.format]}",
        cfg.format,
        precision,
        force=True,  # deploy owns its output folder; a re-run replaces its own artifacts
        samples=data.x_val if int8 else data.x_val[:PARITY_SAMPLES],
        labels=data.y_val if int8 else None,
        plan_hash=plan_hash,
        normalization=data.describe()["normalization"],
        **_format_options(target, precision, data),
    )
    verification = artifact.metadata["verification"]
    preds = artifact.run_batch(data.x_val.numpy()).argmax(1)
    record = {
        "path": str(artifact.path),
        "metadata": f"{artifact.path}.json",
        "runtime": artifact.runtime,
        "precision": artifact.precision,
        "size_bytes": artifact.size_bytes,
        "parity_rel_err": verification["rel_err"],
        "parity_top1_agreement": verification["top1_agreement"],
        "accuracy": float(np.mean(preds == data.y_val.numpy()) * 100.0),
        "verification": verification,
    }
    return Exported(name, artifact, record)


def protocol_for(target: Target) -> Protocol:
    """The latency protocol a target's ``[bench]`` section describes."""
    b = target.bench
    return Protocol(
        RUNTIME_OF_FORMAT[target.export.format], b.threads, b.warmup, b.runs, b.min_seconds, b.cores, b.xnnpack
    )


def time_together(baseline: Exported, others: list[Exported], protocol: Protocol) -> dict[str, Any]:
    """Measure the baseline and every other artifact interleaved in one fresh runner process.

    Adds ``latency_ms``, ``load_ms``, ``first_ms`` and ``speedup_vs_baseline`` (p50 ratio) to each record.
    """
    measured = measure_local([e.artifact.path for e in [baseline, *others]], protocol)
    for exported, result in zip([baseline, *others], measured["results"], strict=True):
        exported.record.update(latency_ms=result["latency_ms"], load_ms=result["load_ms"], first_ms=result["first_ms"])
    base_p50 = baseline.record["latency_ms"]["p50"]
    for exported in others:
        exported.record["speedup_vs_baseline"] = base_p50 / exported.record["latency_ms"]["p50"]
    return measured
