"""Build a :class:`Task` from names: ``classification`` (top-1, cross-entropy, KL distillation) or a user's
``module:function`` / ``file.py:function`` loss and metric."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeprune.errors import SpecError
from edgeprune.task.functions import DISTILL, cross_entropy, kl_distill, top1
from edgeprune.task.record import Task
from edgeprune.userload import call_user, resolve_user_object

CLASSIFICATION = Task(
    name="classification",
    loss=cross_entropy,
    metric=top1,
    metric_name="top1",
    higher_is_better=True,
    distill=kl_distill,
    unit="%",
    classification=True,
)


@dataclass(frozen=True)
class TaskSpec:
    """The names a target file or the command line gives (plain strings; resolved by :func:`resolve_task`)."""

    loss: str = ""  # "" = cross-entropy
    metric: str = ""  # "" = top-1 accuracy
    higher_is_better: bool = True
    distill: str = ""  # "kl" | "mse"; "" = kl for classification-shaped outputs, else the task's default
    kind: str = ""  # "" / "classification", or "detection" (mAP, the detector's own loss)

    @property
    def is_default(self) -> bool:
        return not (self.loss or self.metric) and self.distill in ("", "kl") and self.kind in ("", "classification")

    @property
    def key(self) -> str:
        """The name caches know this task by."""
        if self.kind == "detection":
            return "detection"
        return (
            "classification" if self.is_default else f"{self.loss}|{self.metric}|{self.higher_is_better}|{self.distill}"
        )


KINDS = ("classification", "detection")


def detection_task() -> Task:
    """mAP50-95 in points over a whole split, with the detector's own loss and decoding
    (:mod:`edgeprune.task.detection`); bound to the detector the first time the task sees one."""
    from edgeprune.task.detection import DetectorBinding

    binding = DetectorBinding()
    return Task(
        name="detection",
        loss=binding.loss,
        metric=binding.metric,
        metric_name="mAP50-95",
        higher_is_better=True,
        distill=binding.distill,
        accumulate=binding.accumulator,
        prepare=binding.prepare,
        agreement=binding.agreement,
    )


def _user_fn(spec: str, what: str) -> Any:
    fn = resolve_user_object(spec, what)
    if not callable(fn):
        raise SpecError(f"{what} '{spec}' is a {type(fn).__name__}, not a function")
    return fn


def _wrapped(fn: Any, spec: str, what: str) -> Any:
    def call(outputs: Any, targets: Any) -> Any:
        return call_user(fn, spec, what, outputs, targets)

    call.__name__ = getattr(fn, "__name__", spec)
    return call


def resolve_task(spec: TaskSpec | None = None) -> Task:
    """The task ``spec`` names (the classification task when empty)."""
    spec = spec or TaskSpec()
    if spec.kind and spec.kind not in KINDS:
        raise SpecError(f"task kind '{spec.kind}' is unknown (known: {list(KINDS)})")
    if spec.kind == "detection":
        if spec.loss or spec.metric:
            raise SpecError("task kind 'detection' brings its own loss and metric (mAP); leave task loss/metric empty")
        return detection_task()
    if spec.distill and spec.distill not in DISTILL:
        raise SpecError(f"task distill '{spec.distill}' is unknown (known: {sorted(DISTILL)})")
    if spec.is_default:
        return CLASSIFICATION
    loss = _wrapped(_user_fn(spec.loss, "loss"), spec.loss, "loss") if spec.loss else cross_entropy
    if spec.metric:
        metric = _wrapped(_user_fn(spec.metric, "metric"), spec.metric, "metric")
        name = spec.metric.rpartition(":")[2]
    else:
        metric, name = top1, "top1"
    return Task(
        name="custom",
        loss=loss,
        metric=metric,
        metric_name=name,
        higher_is_better=spec.higher_is_better if spec.metric else True,
        distill=DISTILL[spec.distill or "kl"],
        unit="" if spec.metric else "%",
        classification=not spec.loss and not spec.metric,
    )
