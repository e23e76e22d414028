"""Tiny model factories for the planning tests (spec ``planning_models:<name>``)."""

from __future__ import annotations

from torch import nn

from edgeprune.models.edgenet import EdgeNet


def edgenet4(num_classes: int = 10, in_channels: int = 1) -> nn.Module:
    """EdgeNet at width 4: every pruning kind, cheap on 8x8 digits."""
    return EdgeNet(num_classes=num_classes, in_channels=in_channels, width=4)
