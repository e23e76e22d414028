"""Built-in losses, metrics and distillation terms (classification, and generic ones for other tasks)."""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F


def cross_entropy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over dim 1 (works for (N, C) logits and (N, C, H, W) dense logits)."""
    return F.cross_entropy(outputs, targets)


def top1(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Percent of samples (or pixels) whose arg-max over dim 1 equals the target."""
    return float((outputs.argmax(1) == targets).float().mean()) * 100.0


def kl_distill(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 * KL(teacher_T || student_T)`` over dim 1, averaged over every other position (Hinton et al., 2015)."""
    t = temperature
    log_s = F.log_softmax(student / t, dim=1)
    log_t = F.log_softmax(teacher / t, dim=1)
    return (log_t.exp() * (log_t - log_s)).sum(1).mean() * (t * t)


def mse_distill(student: Any, teacher: Any, temperature: float) -> torch.Tensor:
    """Mean squared error between student and teacher outputs (any shape; tuples summed)."""
    if isinstance(student, (tuple, list)):
        return sum(mse_distill(s, t, temperature) for s, t in zip(student, teacher, strict=True))
    return F.mse_loss(student, teacher)


DISTILL = {"kl": kl_distill, "mse": mse_distill}
