"""A verified artifact as the chain reports it, and the step that makes one: export, verify, score on validation.

:class:`VerifiedArtifact` is a frozen, versioned record (``to_dict``/``from_dict``); renderers read its attributes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgeprune.config import ExportConfig
from edgeprune.data import Data, batches, take
from edgeprune.errors import EdgepruneError
from edgeprune.export.artifact import Artifact
from edgeprune.export.metadata import metadata_path
from edgeprune.export.registry import export_model
from edgeprune.formats import artifact_name
from edgeprune.task import CLASSIFICATION, Task

RECORD_VERSION = 1
INT8_VERIFY_SAMPLES = 2000  # validation samples the int8 accuracy/agreement check runs (all of a smaller split)


@dataclass(frozen=True)
class Parity:
    """The artifact against the torch model on validation samples."""

    rel_err: float
    bound: float | None  # None: no relative-error bound (int8 is judged on accuracy and agreement)
    max_abs_err: float
    top1_agreement: float  # percent of samples (or positions) whose arg-max over dim 1 agrees
    samples: int


@dataclass(frozen=True)
class VerifiedArtifact:
    """One exported file that passed its checks, with what it scored on validation."""

    role: str  # "pruned" or "baseline"
    path: str
    format: str
    runtime: str
    precision: str
    size_bytes: int
    gzip_size_bytes: int
    parity: Parity
    metric: float  # the task's metric on the validation split, computed from the artifact's own outputs
    int8: dict[str, Any] | None = None  # the int8 accuracy/agreement check (edgeprune.export.verify.Int8Report)
    version: int = RECORD_VERSION

    @property
    def metadata_path(self) -> str:
        return str(metadata_path(self.path))

    @property
    def name(self) -> str:
        return Path(self.path).name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VerifiedArtifact:
        if data.get("version") != RECORD_VERSION:
            raise EdgepruneError(f"artifact record: field 'version' is {data.get('version')!r}, not {RECORD_VERSION}")
        return cls(**{**data, "parity": Parity(**data["parity"])})


def _format_options(cfg: ExportConfig, precision: str, data: Data) -> dict[str, Any]:
    if cfg.format == "onnx":
        return {"opset": cfg.opset, "dynamic_batch": cfg.dynamic_batch}
    options: dict[str, Any] = {"nhwc": cfg.nhwc, "sparse": cfg.sparse}
    if precision == "int8":
        calibration, _ = take(data.select, cfg.calibration_samples)  # never validation
        options.update(calibration=calibration, io_dtype=cfg.io_dtype)
    return options


def artifact_metric(artifact: Artifact, data: Data, task: Task) -> float:
    """The task's metric of the artifact's outputs over the whole validation split (streamed)."""
    from edgeprune.progress import progress_bar

    scorer = task.scorer()
    with progress_bar(f"scoring {artifact.path.name} on validation", total=len(data.val)) as bar:
        for x, y in batches(data.val, 256):
            found = artifact.run_batch_outputs(np.ascontiguousarray(x.numpy(), dtype=np.float32))
            outs = [torch.from_numpy(o) for o in found]
            scorer.update(outs[0] if len(outs) == 1 else tuple(outs), y)
            bar.advance(len(x))
    return scorer.compute()


def export_verified(
    role: str,
    model: nn.Module,
    out_dir: Path,
    cfg: ExportConfig,
    precision: str,
    data: Data,
    task: Task = CLASSIFICATION,
    plan_hash: str | None = None,
    force: bool = False,
) -> tuple[Artifact, VerifiedArtifact]:
    """Export ``model`` as ``<role>_<precision>.<suffix>`` in ``out_dir``; the exporter verifies parity (and int8
    accuracy on validation) before the file appears; then the artifact is scored on validation."""
    int8 = precision == "int8"
    task.see(model, data.example())  # a task that reads the model (a detector's head) binds here at the latest
    n = INT8_VERIFY_SAMPLES if int8 else cfg.parity_samples
    samples, labels = take(data.val, n)
    artifact = export_model(
        model,
        data.example(),
        out_dir / artifact_name(role, precision, cfg.format),
        cfg.format,
        precision,
        force=force,
        samples=samples,
        labels=labels if (int8 and (task.classification or task.agreement is not None)) else None,
        task=task if int8 else None,
        plan_hash=plan_hash,
        preprocessing=data.preprocessing.to_dict(),
        **_format_options(cfg, precision, data),
    )
    v = artifact.metadata["verification"]
    record = VerifiedArtifact(
        role=role,
        path=str(artifact.path),
        format=cfg.format,
        runtime=artifact.runtime,
        precision=artifact.precision,
        size_bytes=artifact.size_bytes,
        gzip_size_bytes=int(artifact.metadata["gzip_size_bytes"]),
        parity=Parity(v["rel_err"], v["rel_err_bound"], v["max_abs_err"], v["top1_agreement"], v["samples"]),
        metric=artifact_metric(artifact, data, task),
        int8=v.get("int8"),
    )
    return artifact, record
