"""BatchNorm recalibration: re-estimate running statistics of a pruned model on choosing samples.

Pruning shifts the inputs of the layers after a pruned group; stale statistics then make a pruned model look
far worse than its capacity (measured here: a plan predicting 98.4% scored 10.4% applied without it, 92.3%
with it). The sensitivity scan and every applied plan run the same step on the same select samples.
"""

from __future__ import annotations

import torch
from torch import nn


def recalibrate_bn(model: nn.Module, x: torch.Tensor, batch_size: int = 128) -> nn.Module:
    """Reset and re-estimate every BatchNorm's running mean/var on ``x`` (cumulative average; no weight changes)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms or len(x) == 0:
        return model
    was = model.training
    saved = [m.momentum for m in norms]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
        m.train()
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                model(x[start : start + batch_size])
    finally:
        for m, momentum in zip(norms, saved, strict=True):
            m.momentum = momentum
        model.train(was)
    return model
