"""The samples a choosing step may look at: the select split first, topped up from train; never validation. And
the samples that re-estimate BatchNorm after pruning: train only, so no score is taken on its own calibration."""

from __future__ import annotations

import torch

from edgeprune.data.record import Data, take
from edgeprune.errors import EdgepruneError


def choosing_samples(data: Data, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples for choosing (select split, then train); validation stays unseen."""
    if n < 1:
        raise EdgepruneError(f"sample count must be >= 1, got {n}")
    available = len(data.select) + len(data.train)
    if n > available:
        raise EdgepruneError(f"asked for {n} samples but {data.name} has {available} select+train samples")
    xs, ys = take(data.select, n)
    if len(xs) >= n:
        return xs, ys
    xt, yt = take(data.train, n - len(xs))
    return torch.cat([xs, xt]), torch.cat([ys, yt])


def calibration_samples(data: Data, n: int) -> torch.Tensor:
    """The first ``n`` train samples: the one BatchNorm re-estimation set of the scan, the planner's prediction,
    ``edgeprune prune`` and the benchmarks (none of them scores on the samples it calibrated on)."""
    return take(data.train, max(n, 1))[0]
