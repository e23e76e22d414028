"""Post-export checks: parity bounds for fp32/fp16, accuracy and agreement for int8."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from edgeprune.errors import ParityError
from edgeprune.export.artifact import Artifact
from edgeprune.export.parity import check_parity, torch_outputs

INT8_MAX_ACCURACY_DROP = 1.0  # points of top-1 on validation
INT8_MIN_AGREEMENT = 97.0  # percent of samples whose top-1 matches the fp32 model
INT8_MAX_MAP_DROP = 2.0  # detectors: points of the task's mAP50-95 on validation


@dataclass(frozen=True)
class Int8Report:
    """int8 artifact vs its fp32 reference on (optionally labelled) samples; accuracies in percent."""

    top1_agreement: float
    samples: int
    reference_accuracy: float | None = None
    accuracy: float | None = None
    max_drop: float = INT8_MAX_ACCURACY_DROP
    min_agreement: float = INT8_MIN_AGREEMENT

    @property
    def accuracy_drop(self) -> float | None:
        if self.accuracy is None or self.reference_accuracy is None:
            return None
        return self.reference_accuracy - self.accuracy

    @property
    def passed(self) -> bool:
        drop = self.accuracy_drop
        return self.top1_agreement >= self.min_agreement and (drop is None or drop <= self.max_drop)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "accuracy_drop": self.accuracy_drop, "passed": self.passed}


def _logits(reference: nn.Module | Artifact, x: torch.Tensor) -> np.ndarray:
    if isinstance(reference, Artifact):
        return reference.run_batch(x.numpy())
    with torch.no_grad():
        return reference.eval()(x).numpy()


def check_int8_accuracy(
    artifact: Artifact,
    reference: nn.Module | Artifact,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    max_drop: float = INT8_MAX_ACCURACY_DROP,
    min_agreement: float = INT8_MIN_AGREEMENT,
    strict: bool = True,
) -> Int8Report:
    """Compare an int8 ``artifact`` with its fp32 ``reference`` (torch model or fp32 artifact) on ``x``.

    With labels ``y`` (the validation split) the top-1 accuracy may drop at most ``max_drop`` points;
    top-1 agreement with the reference must be at least ``min_agreement`` percent. Raises
    :class:`ParityError` with the numbers when ``strict`` and a check fails.
    """
    ref = _logits(reference, x).argmax(1)
    out = artifact.run_batch(x.numpy()).argmax(1)
    labels = None if y is None else y.numpy()
    report = Int8Report(
        top1_agreement=float(np.mean(out == ref) * 100.0),
        samples=len(x),
        reference_accuracy=None if labels is None else float(np.mean(ref == labels) * 100.0),
        accuracy=None if labels is None else float(np.mean(out == labels) * 100.0),
        max_drop=max_drop,
        min_agreement=min_agreement,
    )
    if strict and not report.passed:
        acc = (
            f"top-1 {report.accuracy:.2f}% vs fp32 {report.reference_accuracy:.2f}%"
            f" (drop {report.accuracy_drop:.2f} pt, limit {max_drop} pt), "
            if labels is not None
            else ""
        )
        raise ParityError(
            f"{artifact.path} (int8) fails the accuracy check on {report.samples} samples: {acc}"
            f"top-1 agreement with fp32 {report.top1_agreement:.1f}% (limit >= {min_agreement}%)"
        )
    return report


@dataclass(frozen=True)
class BoxAgreementReport:
    """A detector's int8 artifact against the torch model on labelled samples: the task's metric (mAP50-95) of
    both, which may drop at most ``max_drop`` points, and the box-level agreement after the same decoding and NMS
    (the task's ``agreement``: mAP50 of the artifact's boxes against the model's confident boxes), reported."""

    box_agreement: float
    samples: int
    reference_metric: float | None = None
    metric: float | None = None
    max_drop: float = INT8_MAX_MAP_DROP

    @property
    def metric_drop(self) -> float | None:
        if self.metric is None or self.reference_metric is None:
            return None
        return self.reference_metric - self.metric

    @property
    def passed(self) -> bool:
        drop = self.metric_drop
        return drop is None or drop <= self.max_drop

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "metric_drop": self.metric_drop, "passed": self.passed}


def _scored(task: Any, outputs: Any, labels: torch.Tensor | None) -> float | None:
    if labels is None:
        return None
    scorer = task.scorer()
    scorer.update(outputs, labels)
    return float(scorer.compute())


def check_box_agreement(
    artifact: Artifact,
    model: nn.Module,
    x: torch.Tensor,
    task: Any,
    labels: torch.Tensor | None = None,
    max_drop: float = INT8_MAX_MAP_DROP,
    strict: bool = True,
) -> BoxAgreementReport:
    """Compare a detector's int8 ``artifact`` with ``model`` on ``x``: box agreement (``task.agreement``) and,
    with ``labels``, the task's metric of both (``max_drop`` points at most)."""
    refs = tuple(torch.from_numpy(r) for r in torch_outputs(model, x))
    outs = tuple(torch.from_numpy(o) for o in artifact.run_batch_outputs(x.numpy()))
    report = BoxAgreementReport(
        box_agreement=float(task.agreement(refs, outs)),
        samples=len(x),
        reference_metric=_scored(task, refs, labels),
        metric=_scored(task, outs, labels),
        max_drop=max_drop,
    )
    if strict and not report.passed:
        raise ParityError(
            f"{artifact.path} (int8) fails the detection check on {report.samples} samples: {task.metric_name}"
            f" {report.metric:.2f} vs the torch model's {report.reference_metric:.2f} (drop {report.metric_drop:.2f}"
            f" pt, limit {max_drop} pt); box agreement {report.box_agreement:.1f}"
        )
    return report


def verify_artifact(
    artifact: Artifact,
    model: nn.Module,
    samples: torch.Tensor,
    labels: torch.Tensor | None = None,
    task: Any = None,
) -> dict[str, Any]:
    """Run the checks ``artifact.precision`` calls for against the torch ``model``; returns the numbers. An int8
    detector (a ``task`` with a box-level ``agreement``) is judged on its mAP and boxes, not on arg-maxes."""
    int8 = artifact.precision == "int8"
    parity = check_parity(artifact, model, samples, strict=not int8)
    record: dict[str, Any] = {
        "samples": parity.samples,
        "rel_err": parity.rel_err,
        "rel_err_bound": parity.bound,
        "max_abs_err": parity.max_abs_err,
        "top1_agreement": parity.top1_agreement,
    }
    if int8 and getattr(task, "agreement", None) is not None:
        record["int8"] = check_box_agreement(artifact, model, samples, task, labels).to_dict()
    elif int8:
        record["int8"] = check_int8_accuracy(artifact, model, samples, labels).to_dict()
    return record
