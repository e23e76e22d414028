"""Run mini-batches forward and backward (eval mode, so BatchNorm statistics never change) and hand each
batch's parameter gradients to a callback; the model's ``.grad`` fields are left as they were found."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from edgeprune.errors import EdgepruneError

OnBatch = Callable[[dict[str, tuple[nn.Module, str, torch.Tensor, torch.Tensor]]], None]
LossFn = Callable[[Any, Any], torch.Tensor]


def param_table(model: nn.Module) -> dict[str, tuple[nn.Module, str, torch.Tensor]]:
    """``"layer.attr"`` -> (layer, attr, parameter) for every parameter held directly by a module."""
    table = {}
    for name, module in model.named_modules():
        for attr, p in module.named_parameters(recurse=False):
            table[f"{name}.{attr}"] = (module, attr, p)
    return table


def for_each_batch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    on_batch: OnBatch,
    max_batches: int = 0,
    loss: LossFn | None = None,
) -> int:
    """Call ``on_batch({key: (layer, attr, weight, grad)})`` after each batch's backward of ``loss`` (the task's;
    cross-entropy by default); returns batches run."""
    loss_fn = loss or F.cross_entropy
    if len(x) == 0 or len(x) != len(y):
        raise EdgepruneError(f"gradient statistics need matching samples and labels, got {len(x)} and {len(y)}")
    table = param_table(model)
    saved = {k: (p.requires_grad, p.grad) for k, (_, _, p) in table.items()}
    was = model.training
    model.eval()
    batches = 0
    try:
        for start in range(0, len(x), batch_size):
            if max_batches and batches >= max_batches:
                break
            for _, _, p in table.values():
                p.requires_grad_(True)
                p.grad = None
            with torch.enable_grad():
                loss_fn(model(x[start : start + batch_size]), y[start : start + batch_size]).backward()
            on_batch({k: (m, a, p.detach(), p.grad.detach()) for k, (m, a, p) in table.items() if p.grad is not None})
            batches += 1
    finally:
        model.train(was)
        for k, (_, _, p) in table.items():
            p.requires_grad_(saved[k][0])
            p.grad = saved[k][1]
    return batches
