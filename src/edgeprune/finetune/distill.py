"""The training loss: the task's loss, mixed with distillation from the unpruned teacher (Hinton et al., 2015)."""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from edgeprune.task import Task


def training_loss(
    task: Task,
    outputs: Any,
    targets: Any,
    teacher_outputs: Any | None,
    alpha: float,
    temperature: float,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """``(1 - alpha) * task loss + alpha * distillation``; the task loss alone without a teacher.

    Label smoothing applies to the classification cross-entropy only."""
    if task.classification and label_smoothing:
        loss = F.cross_entropy(outputs, targets, label_smoothing=label_smoothing)
    else:
        loss = task.loss(outputs, targets)
    if teacher_outputs is None or alpha == 0.0:
        return loss
    return (1.0 - alpha) * loss + alpha * task.distill(outputs, teacher_outputs, temperature)
