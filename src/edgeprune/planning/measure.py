"""How a planner checks its candidates: recalibrate BatchNorm on choosing samples (the documented step the scan
uses too), then score on choosing samples."""

from __future__ import annotations

import torch
from torch import nn

from edgeprune.prune.recalibrate import recalibrate_bn
from edgeprune.task import CLASSIFICATION, Task, evaluate


def settle_and_score(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, recalibrate: int, task: Task = CLASSIFICATION
) -> float:
    """Recalibrate ``model``'s BatchNorm statistics on the first ``recalibrate`` samples, then its metric on all."""
    if recalibrate:
        recalibrate_bn(model, x[:recalibrate])
    metric, _ = evaluate(model, x, y, task=task)
    return metric
