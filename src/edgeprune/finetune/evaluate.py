"""Batched evaluation: top-1 accuracy (percent) and mean cross-entropy."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Logits of ``model`` on ``x`` in eval mode (restores the previous mode)."""
    was_training = model.training
    model.eval()
    outs = [model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(outs)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Return (top-1 accuracy in percent, mean cross-entropy loss)."""
    logits = predict(model, x)
    acc = (logits.argmax(1) == y).float().mean().item() * 100.0
    return acc, F.cross_entropy(logits, y).item()
