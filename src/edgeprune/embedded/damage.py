"""No-scan damage for device budgets: the compute a cut removes, read as the share of a group's weight magnitude
it removes times the share of the network's MACs the group's layers carry.

Without a sensitivity scan the latency planner prices a cut by the share of a group's L2 mass it removes, squared
(:mod:`edgeprune.latency.noscan`): a 16-channel stem and a 128-channel layer cost the same to halve. On an NPU that
buys cycles by removing compute wholesale: measured on the default model (Ethos-U55-128, 2x on Vela's estimate,
random weights), that price gave 2.01x speed for 2.45x fewer MACs (0.82 per MAC). Pricing a cut by the capacity it
removes makes the allocator buy cycles where they are cheap in compute: operators the NPU runs at low MAC
utilization (depthwise convs, weight-bound layers streaming from flash), residual adds and pooling that cost cycles
without MACs. The same budget then cost 1.69x fewer MACs (1.19 per MAC). Squaring the magnitude share as well (to
spread cuts) gave the same on the default model and mobilenet_v2-0.35, less on DS-CNN (0.70 against 0.85 per MAC).
It knows nothing of accuracy: with trained weights and data, ``prune.method = "sensitivity"`` prices cuts with the
measured scan instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from edgeprune.latency.noscan import magnitude_sensitivity
from edgeprune.latency.units import Unit
from edgeprune.sensitivity.result import Sensitivity

LABEL = "magnitude x MACs share (no scan)"


def macs_shares(units: Sequence[Unit]) -> dict[str, float]:
    """Group root -> the share of the network's (unit) MACs in layers whose input or output it sets."""
    total = max(sum(u.macs for u in units), 1)
    shares: dict[str, float] = {}
    for unit in units:
        for root in {a.root for a in unit.axes if a is not None}:
            shares[root] = shares.get(root, 0.0) + unit.macs / total
    return shares


def capacity_sensitivity(
    model: nn.Module, example: torch.Tensor, units: Sequence[Unit], round_to: int, ignored_layers: Iterable[str] = ()
) -> Sensitivity:
    """Magnitude curves with ``estimate`` = removed mass share x the group's MACs share; plan with
    ``objective="estimate"``, no blocks."""
    sens = magnitude_sensitivity(model, example, "l2", round_to, ignored_layers)
    shares = macs_shares(units)
    for curve in sens.groups:
        weight = shares.get(curve.root, 0.0)
        for point in curve.points:
            point.estimate = point.estimate**0.5 * weight  # noscan's estimate is the squared mass share
    sens.metric_name = LABEL
    sens.estimate = {"method": LABEL, "measured": False}
    return sens
