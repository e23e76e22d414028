"""How a planner checks its candidates: prune a copy and count it exactly; re-estimate BatchNorm on train
samples (the documented step the scan and `edgeprune prune` take too), then score on select samples."""

from __future__ import annotations

import copy

import torch
from torch import nn

from edgeprune.prune import Plan, apply_plan, count_macs_params
from edgeprune.prune.recalibrate import recalibrate_bn
from edgeprune.task import CLASSIFICATION, Task, evaluate


def pruned_copy(model: nn.Module, plan: Plan, example: torch.Tensor) -> tuple[nn.Module, int, int]:
    """``plan`` applied to a copy of ``model`` (left untouched), with its exact MACs and parameters."""
    pruned = apply_plan(copy.deepcopy(model).eval(), plan, example)
    macs, params = count_macs_params(pruned, example)
    return pruned, macs, params


def settle_and_score(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    recalibrate: int,
    task: Task = CLASSIFICATION,
    calibration: torch.Tensor | None = None,
) -> float:
    """Recalibrate ``model``'s BatchNorm statistics on ``recalibrate`` samples of ``calibration`` (other samples
    than the scored ones, as when the plan is applied and scored on validation; ``x`` when None), then its metric
    on ``x``."""
    if recalibrate:
        recalibrate_bn(model, (calibration if calibration is not None else x)[:recalibrate])
    metric, _ = evaluate(model, x, y, task=task)
    return metric
