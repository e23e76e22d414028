"""The samples a scan may look at: the select split first, topped up from train; never validation."""

from __future__ import annotations

import torch

from edgeprune.data import Dataset
from edgeprune.errors import EdgepruneError


def choosing_samples(data: Dataset, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples for choosing (select split, then train); validation stays unseen."""
    if n < 1:
        raise EdgepruneError(f"sample count must be >= 1, got {n}")
    available = len(data.x_select) + len(data.x_train)
    if n > available:
        raise EdgepruneError(f"asked for {n} samples but {data.name} has {available} select+train samples")
    x = torch.cat([data.x_select, data.x_train[: max(0, n - len(data.x_select))]])[:n]
    y = torch.cat([data.y_select, data.y_train[: max(0, n - len(data.y_select))]])[:n]
    return x, y
